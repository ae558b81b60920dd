/*
 * core/ipc/conn.c — framed connections on io_uring.
 *
 * What it guarantees:
 * - Frames never interleave: senders take the send lock for a whole frame.
 *   A cancel is honoured only before the first byte goes out; after that
 *   the rest is written in a shielded scope bounded by the peer timeout, so
 *   the wire never carries half a frame (a peer that stops reading for that
 *   long breaks the connection instead).
 * - A frame's length is checked against the limit in force (pre-auth or
 *   not) before anything is allocated for it.
 * - A cancelled receive loses nothing: bytes read so far stay in the
 *   connection's buffer and the next receive continues from them.
 * - Transport failures (EOF, reset, EOF inside a frame) and an oversized
 *   length are sticky: every later call fails with the same code.
 * - Close never blocks: it shuts the socket down, which completes any
 *   parked receive (EOF) at once; tasks inside send or recv notice the
 *   closed flag and return -AXLE_ECLOSED, and the last one out frees the
 *   connection.
 */
#include "conn_int.h"

#include "handshake.h"
#include "sock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RBUF_MIN (64 * 1024)
#define OBUF_FLUSH (64 * 1024) /* buffered sends write once this much waits */

static void conn_free(axle_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->rbuf);
    free(c->sbuf);
    free(c);
}

/* Leave a send or recv: the last one out of a closed connection frees it. */
static int leave(axle_conn *c, int rc)
{
    if (--c->users == 0 && c->closed) {
        conn_free(c);
        return rc == 0 ? 0 : -AXLE_ECLOSED;
    }
    return rc;
}

static int sticky(axle_conn *c)
{
    if (c->closed)
        return AXLE_SET_ERR(-AXLE_ECLOSED, "connection to %s was closed", c->peer.name);
    if (c->broken)
        return AXLE_SET_ERR(c->broken, "connection to %s is broken: %s", c->peer.name,
                            c->broken_why);
    return 0;
}

/*
 * Start a send or recv: checkpoint, fail fast on a closed or broken
 * connection, then count ourselves in and take the side's lock. On success
 * the caller holds lock and must end with leave().
 */
static int enter(axle_conn *c, axle_lock *lock)
{
    int rc = axle_checkpoint_if_cancelled();
    if (rc < 0)
        return rc;
    if ((rc = sticky(c)) < 0)
        return rc;
    c->users++;
    rc = axle_lock_acquire(lock);
    return rc < 0 ? leave(c, rc) : 0;
}

static int breaks(axle_conn *c, int code, const char *why, int err)
{
    c->broken = code;
    if (err)
        snprintf(c->broken_why, sizeof c->broken_why, "%s (%s)", why, axle_errname(-err));
    else
        snprintf(c->broken_why, sizeof c->broken_why, "%s", why);
    return AXLE_SET_ERR(code, "connection to %s: %s", c->peer.name[0] ? c->peer.name : "peer",
                        c->broken_why);
}

axle_conn *axle__conn_new(int fd, const axle_addr *peer_addr, const axle_conn_opts *opts)
{
    axle_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->fd = fd;
    if (peer_addr)
        c->peer_addr = *peer_addr;
    c->opts = *opts;
    if (opts->cookie && opts->cookie_len) {
        c->cookie_len = opts->cookie_len > AXLE_COOKIE_MAX ? AXLE_COOKIE_MAX : opts->cookie_len;
        memcpy(c->cookie, opts->cookie, c->cookie_len);
    }
    c->opts.cookie = c->cookie_len ? c->cookie : NULL;
    c->opts.cookie_len = c->cookie_len;
    if (opts->uid)
        c->self = *opts->uid;
    c->opts.uid = &c->self;
    if (!c->opts.max_frame)
        c->opts.max_frame = AXLE_MAX_FRAME_DEFAULT;
    if (!c->opts.max_frame_preauth)
        c->opts.max_frame_preauth = AXLE_MAX_FRAME_PREAUTH_DEFAULT;
    if (!c->opts.handshake_ns)
        c->opts.handshake_ns = AXLE_HANDSHAKE_NS_DEFAULT;
    if (!c->opts.peer_timeout_ns)
        c->opts.peer_timeout_ns = AXLE_PEER_TIMEOUT_NS_DEFAULT;
    axle_lock_init(&c->send_lock);
    axle_lock_init(&c->recv_lock);
    return c;
}

/*
 * Write all of buf; the first send may be cancelled, the rest is shielded.
 * Fast path: a non-blocking send(2) first, which the socket buffer usually
 * takes whole: one syscall instead of an io_uring round trip through the
 * scheduler. Its callers yield once the send lock is released (after_write),
 * as the io_uring path would have, so a sender in a loop does not starve
 * the others (its peer's loop among them), nor make them wait on the lock.
 */
static int write_frame(axle_conn *c, const uint8_t *buf, size_t len)
{
    ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n == (ssize_t)len)
        return 0;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        return breaks(c, -AXLE_ETRANSPORT, "send failed", -errno);
    if (n <= 0) { /* nothing went out: the cancellable io_uring path */
        n = axle_send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n == -ECANCELED)
            return -ECANCELED;
        if (n < 0)
            return breaks(c, -AXLE_ETRANSPORT, "send failed", (int)n);
    }
    size_t off = (size_t)n;
    if (off == len)
        return 0;
    axle_scope sc;
    axle_scope_open(&sc, axle__deadline_after(c->opts.peer_timeout_ns), AXLE_SCOPE_SHIELD);
    int rc = 0;
    while (off < len && rc == 0) {
        n = axle_send(c->fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n < 0)
            rc = (int)n;
        else
            off += (size_t)n;
    }
    rc = axle_scope_close(&sc, rc);
    if (rc == 0 && axle_scope_cancelled_caught(&sc))
        return breaks(c, -AXLE_ETRANSPORT, "peer stopped reading mid-frame", ETIMEDOUT);
    if (rc < 0)
        return breaks(c, -AXLE_ETRANSPORT, "send failed mid-frame", rc);
    return 0;
}

/* Append env's frame to the pending bytes (sbuf[0, slen)). Returns 0 or -errno. */
static int append_frame(axle_conn *c, const Axle__Envelope *env)
{
    size_t size = axle_msg_encoded_size(env);
    uint32_t limit = c->authed ? c->opts.max_frame : c->opts.max_frame_preauth;
    if (size > limit)
        return AXLE_SET_ERR(-EMSGSIZE, "frame of %zu bytes over the limit of %u", size, limit);
    if (c->slen + 4 + size > c->scap) {
        size_t cap = c->slen + 4 + size;
        if (cap < 2 * c->scap)
            cap = 2 * c->scap;
        uint8_t *b = realloc(c->sbuf, cap);
        if (!b)
            return AXLE_SET_ERR(-ENOMEM, "no memory for a %zu-byte frame", size);
        c->sbuf = b;
        c->scap = cap;
    }
    c->slen += axle_msg_encode_frame(env, c->sbuf + c->slen);
    return 0;
}

/* Write every pending byte; on -ECANCELED nothing went out and they stay pending. */
static int flush_pending(axle_conn *c)
{
    if (c->slen == 0)
        return 0;
    int rc = write_frame(c, c->sbuf, c->slen);
    if (rc != -ECANCELED)
        c->slen = 0; /* written, or the connection is broken for good */
    return rc;
}

int axle__conn_send_raw(axle_conn *c, const Axle__Envelope *env)
{
    size_t before = c->slen;
    int rc = append_frame(c, env);
    if (rc == 0 && (rc = flush_pending(c)) == -ECANCELED)
        c->slen = before; /* this frame was not sent: only what was pending before stays */
    return rc;
}

/* After a write, with the send lock released: yield once (see write_frame). */
static int after_write(axle_conn *c, int rc)
{
    rc = leave(c, c->closed && rc == 0 ? 0 : rc);
    if (rc == 0)
        (void)axle_checkpoint(); /* a yield; a cancel is seen by the next call */
    return rc;
}

/* send, or with buffered only queue (flushing when OBUF_FLUSH bytes wait). */
static int conn_send(axle_conn *c, const Axle__Envelope *env, bool buffered)
{
    int rc = enter(c, &c->send_lock);
    if (rc < 0)
        return rc;
    bool wrote = false;
    if ((rc = sticky(c)) == 0) {
        Axle__Envelope copy = *env;
        copy.version = AXLE_PROTO_VERSION;
        if (!buffered) {
            rc = axle__conn_send_raw(c, &copy);
            wrote = true;
        } else if ((rc = append_frame(c, &copy)) == 0 && c->slen >= OBUF_FLUSH) {
            wrote = true;
            int f = flush_pending(c);
            if (f != -ECANCELED) /* cancelled: queued, a later send or flush writes it */
                rc = f;
        }
    }
    axle_lock_release(&c->send_lock);
    if (wrote)
        return after_write(c, rc);
    return leave(c, c->closed && rc == 0 ? 0 : rc);
}

int axle_conn_send(axle_conn *c, const Axle__Envelope *env) { return conn_send(c, env, false); }

int axle_conn_send_buffered(axle_conn *c, const Axle__Envelope *env)
{
    return conn_send(c, env, true);
}

int axle_conn_flush(axle_conn *c)
{
    if (c->slen == 0)
        return 0;
    int rc = enter(c, &c->send_lock);
    if (rc < 0)
        return rc;
    if ((rc = sticky(c)) == 0)
        rc = flush_pending(c);
    axle_lock_release(&c->send_lock);
    return after_write(c, rc);
}

size_t axle_conn_pending(const axle_conn *c) { return c->slen; }

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Make room for need bytes from rhead on: compact, then grow. */
static int rbuf_room(axle_conn *c, size_t need)
{
    if (c->rhead && c->rhead + need > c->rcap) {
        memmove(c->rbuf, c->rbuf + c->rhead, c->rlen);
        c->rhead = 0;
    }
    if (need <= c->rcap)
        return 0;
    size_t cap = need < RBUF_MIN ? RBUF_MIN : need;
    uint8_t *b = realloc(c->rbuf, cap);
    if (!b)
        return AXLE_SET_ERR(-ENOMEM, "no memory for a %zu-byte frame", need);
    c->rbuf = b;
    c->rcap = cap;
    return 0;
}

int axle__conn_recv_raw(axle_conn *c, axle_msg **out)
{
    for (;;) {
        if (c->rlen >= 4) {
            uint32_t len = le32(c->rbuf + c->rhead);
            uint32_t limit = c->authed ? c->opts.max_frame : c->opts.max_frame_preauth;
            if (len > limit) {
                char why[96];
                snprintf(why, sizeof why, "frame length %u over the limit of %u%s", len, limit,
                         c->authed ? "" : " before authentication");
                return breaks(c, -EMSGSIZE, why, 0);
            }
            if (c->rlen >= 4 + (size_t)len) {
                int rc = axle_msg_decode(c->rbuf + c->rhead + 4, len, 0, out);
                c->rhead += 4 + (size_t)len;
                c->rlen -= 4 + (size_t)len;
                if (c->rlen == 0)
                    c->rhead = 0;
                return rc;
            }
            int rc = rbuf_room(c, 4 + (size_t)len);
            if (rc < 0)
                return rc;
        } else if (c->rcap - c->rhead - c->rlen < 4) {
            int rc = rbuf_room(c, RBUF_MIN);
            if (rc < 0)
                return rc;
        }
        size_t at = c->rhead + c->rlen;
        ssize_t n = axle_recv(c->fd, c->rbuf + at, c->rcap - at, 0);
        if (c->closed)
            return -AXLE_ECLOSED;
        if (n == -ECANCELED)
            return -ECANCELED;
        if (n < 0)
            return breaks(c, -AXLE_ETRANSPORT, "receive failed", (int)n);
        if (n == 0) {
            if (c->rlen == 0)
                return breaks(c, -AXLE_ETRANSPORT, "peer closed the connection (EOF)", 0);
            char why[96];
            snprintf(why, sizeof why, "EOF inside a frame (%zu bytes of it received)", c->rlen);
            return breaks(c, -AXLE_ETRANSPORT, why, 0);
        }
        c->rlen += (size_t)n;
        c->rx_bytes += (uint64_t)n;
    }
}

int axle_conn_recv(axle_conn *c, axle_msg **out)
{
    *out = NULL;
    int rc = enter(c, &c->recv_lock);
    if (rc < 0)
        return rc;
    if ((rc = sticky(c)) == 0)
        rc = axle__conn_recv_raw(c, out);
    axle_lock_release(&c->recv_lock);
    if (c->closed && *out) {
        axle_msg_free(*out);
        *out = NULL;
        rc = -AXLE_ECLOSED;
    }
    return leave(c, rc);
}

/* Check a Unix peer's credentials against its hello. */
static int check_peercred(axle_conn *c)
{
    if (c->peer_addr.kind != AXLE_ADDR_UNIX)
        return 0;
    struct ucred cr;
    socklen_t len = sizeof cr;
    if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
        return AXLE_SET_ERR(-errno, "SO_PEERCRED: %s", axle_strerror(-errno));
    if (cr.uid != geteuid())
        return AXLE_SET_ERR(-EPERM, "Unix peer %s runs as uid %u, not ours (%u)", c->peer.name,
                            (unsigned)cr.uid, (unsigned)geteuid());
    if (cr.pid != c->peer.pid)
        return AXLE_SET_ERR(-EPERM, "Unix peer %s claims pid %d, the kernel says %d", c->peer.name,
                            (int)c->peer.pid, (int)cr.pid);
    return 0;
}

static int handshake_body(axle_conn *c, bool client)
{
    axle__hs hs;
    axle__hs_init(&hs, client, c->opts.cookie, c->opts.cookie_len);
    int rc = axle__conn_send_raw(c, axle__hs_hello(&hs, &c->self, c->opts.flags));
    while (rc == 0 || rc == 2) {
        if (rc == 2 && (rc = axle__conn_send_raw(c, axle__hs_proof(&hs))) < 0)
            break;
        axle_msg *m;
        if ((rc = axle__conn_recv_raw(c, &m)) < 0)
            break;
        rc = axle__hs_feed(&hs, m->env);
        axle_msg_free(m);
        if (hs.state == AXLE__HS_PROOF || hs.state == AXLE__HS_DONE)
            c->peer = hs.peer, c->peer_flags = hs.peer_flags;
    }
    if (rc == 1)
        rc = check_peercred(c);
    if (rc == 0)
        c->authed = true;
    return rc;
}

int axle__conn_handshake(axle_conn *c, bool client)
{
    axle_scope sc;
    axle_fail_after(&sc, c->opts.handshake_ns);
    int rc = handshake_body(c, client);
    rc = axle_scope_close(&sc, rc);
    if (rc == -ETIMEDOUT)
        AXLE_SET_ERR(rc, "no handshake within %.1f s", (double)c->opts.handshake_ns / 1e9);
    return rc;
}

int axle_conn_connect(axle_conn **out, const axle_addr *addr, const axle_conn_opts *opts)
{
    *out = NULL;
    if (!opts || !opts->uid)
        return AXLE_SET_ERR(-EINVAL, "axle_conn_connect: opts->uid is required");
    int rc = axle_checkpoint_if_cancelled();
    if (rc < 0)
        return rc;
    int fd = axle__socket(addr);
    if (fd < 0)
        return fd;
    char name[AXLE_ADDR_STRLEN];
    axle_addr_format(addr, name, sizeof name);
    axle_conn *c = axle__conn_new(fd, addr, opts);
    if (!c) {
        close(fd);
        return AXLE_SET_ERR(-ENOMEM, "axle_conn_connect: out of memory");
    }
    rc = axle_connect(fd, &addr->u.sa, addr->len);
    if (rc < 0) {
        conn_free(c);
        return rc == -ECANCELED ? rc
                                : AXLE_SET_ERR(rc, "connect to %s: %s", name, axle_strerror(rc));
    }
    axle__tcp_tune(fd, addr, c->opts.peer_timeout_ns);
    rc = axle__conn_handshake(c, true);
    if (rc < 0) {
        AXLE_ERR_FRAME(rc);
        conn_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

const axle_uid *axle_conn_peer(const axle_conn *c) { return &c->peer; }
uint32_t axle_conn_peer_flags(const axle_conn *c) { return c->peer_flags; }
const axle_addr *axle_conn_peer_addr(const axle_conn *c) { return &c->peer_addr; }
int axle_conn_fd(const axle_conn *c) { return c->fd; }

void axle_conn_close(axle_conn *c)
{
    if (!c || c->closed)
        return;
    c->closed = true;
    if (c->users == 0) {
        conn_free(c);
        return;
    }
    shutdown(c->fd, SHUT_RDWR); /* parked receives see EOF now; the last user frees */
}
