/*
 * core/ipc/server.c — multi-homed servers.
 *
 * axle_server_open binds every address at once (so an address in use is
 * reported before anything runs). axle_server_serve runs, in one nursery,
 * an accept loop per listener and a task per accepted peer: handshake
 * under its deadline, then the user's handler, then close.
 *
 * What it guarantees:
 * - One bad peer never disturbs the others: a failed handshake closes that
 *   connection with one warning line (peer address, reason, code); a
 *   handler's error is logged; neither reaches the accept loops.
 * - The accept loop never spins: on EMFILE/ENFILE/ENOMEM it backs off for a
 *   moment; past max_conns a new peer is closed at once with a warning.
 * - serve returns only after every handler has returned and every
 *   connection it accepted is closed (the nursery waits for them).
 */
#include "conn_int.h"
#include "sock.h"

#include <axle/log.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct listener {
    axle_server *s; /* owner */
    int fd;         /* listening socket (owned by the server) */
    axle_addr addr; /* bound address */
};

struct axle_server {
    axle_server_opts opts;           /* copied; conn.cookie/uid point into this struct */
    uint8_t cookie[AXLE_COOKIE_MAX]; /* our copy of the secret */
    axle_uid uid;                    /* our identity (copy) */
    struct listener *ls;             /* n listeners */
    axle_addr *addrs;                /* n bound addresses, for axle_server_addrs */
    size_t n;
    axle_scope *serve_scope;   /* serve's scope while serving, else NULL */
    axle_nursery *nursery;     /* serve's nursery while serving */
    bool shutdown;             /* shutdown requested */
    size_t nconns;             /* peers being served now */
    axle_conn_handler handler; /* serve's handler and its argument */
    void *handler_arg;
};

struct peer {
    axle_server *s; /* owner */
    int fd;         /* accepted socket, until the connection takes it */
    axle_addr addr; /* who connected */
};

int axle_server_open(axle_server **out, const axle_addr *addrs, size_t n,
                     const axle_server_opts *opts)
{
    *out = NULL;
    if (n == 0 || !opts || !opts->conn.uid)
        return AXLE_SET_ERR(-EINVAL, "axle_server_open: need addresses and opts->conn.uid");
    axle_server *s = calloc(1, sizeof *s);
    if (!s)
        return AXLE_SET_ERR(-ENOMEM, "axle_server_open: out of memory");
    s->opts = *opts;
    s->uid = *opts->conn.uid;
    s->opts.conn.uid = &s->uid;
    size_t clen = opts->conn.cookie ? opts->conn.cookie_len : 0;
    if (clen > AXLE_COOKIE_MAX)
        clen = AXLE_COOKIE_MAX;
    if (clen)
        memcpy(s->cookie, opts->conn.cookie, clen);
    s->opts.conn.cookie = clen ? s->cookie : NULL;
    s->opts.conn.cookie_len = clen;
    if (s->opts.backlog <= 0)
        s->opts.backlog = 128;
    if (s->opts.max_conns == 0)
        s->opts.max_conns = 1024;
    s->ls = calloc(n, sizeof *s->ls);
    s->addrs = calloc(n, sizeof *s->addrs);
    if (!s->ls || !s->addrs) {
        axle_server_close(s);
        return AXLE_SET_ERR(-ENOMEM, "axle_server_open: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        int fd = axle__listen(&addrs[i], s->opts.backlog, &s->addrs[i]);
        if (fd < 0) {
            axle_server_close(s);
            return AXLE_ERR_FRAME(fd);
        }
        s->ls[i] = (struct listener){s, fd, s->addrs[i]};
        s->n = i + 1;
        if (!clen && !axle_addr_is_local(&s->addrs[i])) {
            char name[AXLE_ADDR_STRLEN];
            axle_addr_format(&s->addrs[i], name, sizeof name);
            axle_log_warning("listening on %s, reachable from other hosts, with no secret: set "
                             "AXLE_COOKIE (or a cookie file) so peers must authenticate",
                             name);
        }
    }
    *out = s;
    return 0;
}

const axle_addr *axle_server_addrs(const axle_server *s, size_t *n)
{
    *n = s->n;
    return s->addrs;
}

static int serve_peer(void *arg)
{
    struct peer *p = arg;
    axle_server *s = p->s;
    char name[AXLE_ADDR_STRLEN];
    axle_addr_format(&p->addr, name, sizeof name);
    axle_conn *c = axle__conn_new(p->fd, &p->addr, &s->opts.conn);
    if (!c) {
        close(p->fd);
        axle_log_warning("peer %s: out of memory for its connection", name);
        goto out;
    }
    axle__tcp_tune(c->fd, &c->peer_addr, c->opts.peer_timeout_ns);
    int rc = axle__conn_handshake(c, false);
    if (rc == -ECANCELED) {
        axle_conn_close(c);
        goto out;
    }
    if (rc == -AXLE_ETRANSPORT && c->rx_bytes == 0) {
        /* Connected and left without a byte: a probe or a port scan. */
        axle_log_debug("peer %s closed before its hello", name);
        axle_conn_close(c);
        goto out;
    }
    if (rc < 0) {
        const axle_error *e = axle_error_last();
        axle_log_warning("rejected peer %s: %s (%s)", name,
                         e && axle_error_code(e) == rc ? axle_error_message(e) : axle_strerror(rc),
                         axle_errname(rc));
        axle_conn_close(c);
        goto out;
    }
    rc = s->handler(c, s->handler_arg);
    if (rc < 0 && rc != -ECANCELED) {
        const axle_error *e = axle_error_last();
        axle_log_warning("handler for %s (%s) failed: %s (%s)", name, c->peer.name,
                         e && axle_error_code(e) == rc ? axle_error_message(e) : axle_strerror(rc),
                         axle_errname(rc));
    }
    axle_conn_close(c);
out:
    s->nconns--;
    free(p);
    return 0; /* a peer's failure is not the server's */
}

static int accept_loop(void *arg)
{
    struct listener *l = arg;
    axle_server *s = l->s;
    for (;;) {
        struct peer *p = calloc(1, sizeof *p);
        if (!p) {
            int rc = axle_sleep(100 * 1000 * 1000);
            if (rc < 0)
                return rc;
            continue;
        }
        p->s = s;
        socklen_t len = sizeof p->addr.u;
        int fd = axle_accept(l->fd, &p->addr.u.sa, &len, SOCK_CLOEXEC);
        if (fd < 0) {
            free(p);
            if (fd == -ECANCELED)
                return fd;
            if (fd == -EMFILE || fd == -ENFILE || fd == -ENOMEM || fd == -ENOBUFS) {
                axle_log_warning("accept: %s; backing off", axle_strerror(fd));
                int rc = axle_sleep(100 * 1000 * 1000);
                if (rc < 0)
                    return rc;
                continue;
            }
            if (fd == -ECONNABORTED || fd == -EPROTO || fd == -EPERM || fd == -EINTR ||
                fd == -EAGAIN)
                continue; /* that peer is gone: take the next one */
            char name[AXLE_ADDR_STRLEN];
            axle_addr_format(&l->addr, name, sizeof name);
            return AXLE_SET_ERR(fd, "accept on %s: %s", name, axle_strerror(fd));
        }
        p->fd = fd;
        p->addr.len = len;
        p->addr.kind = l->addr.kind;
        if (p->addr.kind == AXLE_ADDR_UNIX)
            p->addr = l->addr; /* the peer's own Unix address is unnamed */
        if (s->nconns >= s->opts.max_conns) {
            axle_log_warning("refusing a peer: %zu connections already served (max_conns)",
                             s->nconns);
            close(fd);
            free(p);
            continue;
        }
        axle_task_opts o = {.name = "peer"};
        int rc = axle_nursery_start_soon(s->nursery, serve_peer, p, &o);
        if (rc < 0) {
            close(fd);
            free(p);
            continue;
        }
        s->nconns++;
    }
}

int axle_server_serve(axle_server *s, axle_conn_handler handler, void *arg)
{
    if (s->serve_scope)
        return AXLE_SET_ERR(-EBUSY, "axle_server_serve: already serving");
    int rc = axle_checkpoint_if_cancelled();
    if (rc < 0)
        return rc;
    s->handler = handler;
    s->handler_arg = arg;
    axle_scope sc;
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    s->serve_scope = &sc;
    if (s->shutdown)
        axle_scope_cancel(&sc);
    rc = axle_nursery_open(&s->nursery);
    for (size_t i = 0; rc == 0 && i < s->n; i++) {
        axle_task_opts o = {.name = "accept"};
        rc = axle_nursery_start_soon(s->nursery, accept_loop, &s->ls[i], &o);
    }
    if (s->nursery)
        rc = axle_nursery_close(s->nursery, rc);
    s->nursery = NULL;
    s->serve_scope = NULL;
    return axle_scope_close(&sc, rc);
}

void axle_server_shutdown(axle_server *s)
{
    s->shutdown = true;
    if (s->serve_scope)
        axle_scope_cancel(s->serve_scope);
}

void axle_server_close(axle_server *s)
{
    if (!s)
        return;
    if (s->serve_scope) {
        fprintf(stderr, "axle: axle_server_close while axle_server_serve is running: shut it "
                        "down or cancel it first\n");
        abort();
    }
    for (size_t i = 0; i < s->n; i++) {
        close(s->ls[i].fd);
        axle__unix_unlink(&s->ls[i].addr);
    }
    free(s->ls);
    free(s->addrs);
    free(s);
}

void axle__server_forget(axle_server *s)
{
    for (size_t i = 0; i < s->n; i++)
        close(s->ls[i].fd);
    free(s->ls);
    free(s->addrs);
    free(s);
}
