/*
 * core/actor/shmstream.c — a stream's data over shared memory.
 *
 * Each side of a context chooses, when it opens its stream, how its own
 * sends travel (<axle/context.h>, "Data plane"). For shared memory it
 * creates an SPSC ring as the producer and offers it to the peer in a
 * StreamShm frame on the channel; the peer's loop attaches the ring as its
 * consumer the moment the offer arrives (whether or not its owner has
 * opened its stream yet: data may come first, as Yields may), unlinks the
 * segment's name and answers. Opening waits for that answer, so no data is
 * written into a ring nobody can find, and once both ends are mapped no
 * name is left to leak whatever happens to either process.
 *
 * Order. Control messages (Stop, Return, Error) stay on the channel. The
 * writer commits each record before it sends anything after it, and the
 * channel's frame arrives after that commit, so a receiver that looks at
 * the ring before every control message it takes from the context's
 * queue sees the data that preceded it: context.c's stream_take empties
 * the ring first.
 *
 * Waiting. A receiver with an empty ring and an empty queue parks in the
 * ring's blocking peek (the io_uring futex wait) under a private scope;
 * anything queued for the context (wake_owner in context.c) cancels that
 * scope, so the receiver re-checks both. A writer blocked for room (BLOCK,
 * or draining at close) parks the same way and is nudged when the peer's
 * Stop, Return or Error arrives: data for a peer that stopped listening is
 * dropped, as the channel's receiver drops it.
 *
 * Fairness. A ring that always has data (or room) would let one task run
 * forever without reaching the scheduler, and the actor's message loop,
 * which carries cancels, would never run: every AXLE__RUN_MAX ring operations a
 * task yields.
 */
#include "ctx_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define SHM_BYTES_DEFAULT ((size_t)64 << 10)
#define CLOSE_DRAIN_NS (1000 * 1000 * 1000LL) /* what closing waits to push DRAIN's queue */

/* ---- which host ------------------------------------------------------------------------- */

/*
 * This host and pid namespace: the kernel's boot id and the pid
 * namespace's inode. Two actors share a ring only when both agree: the
 * ring's dead-peer checks use the other side's pid. Fork story: a child
 * is on the same host, so the cached value stays right.
 */
static char host_override[96]; /* axle__stream_set_host_id: tests only */

void axle__stream_set_host_id(const char *id)
{
    snprintf(host_override, sizeof host_override, "%s", id ? id : "");
}

static const char *host_id(void)
{
    static char id[96];
    if (host_override[0])
        return host_override;
    if (id[0])
        return id;
    char boot[40] = "?", ns[40] = "?";
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (f) {
        if (!fgets(boot, sizeof boot, f))
            snprintf(boot, sizeof boot, "?");
        fclose(f);
    }
    boot[strcspn(boot, "\n")] = 0;
    ssize_t n = readlink("/proc/self/ns/pid", ns, sizeof ns - 1);
    ns[n > 0 ? n : 0] = 0;
    snprintf(id, sizeof id, "%s/%s", boot, ns);
    return id;
}

/* Whether the peer's channel stays on this host: a Unix socket, or TCP
 * between two addresses of this host (loopback, or the same address). */
static bool channel_local(const struct peer *p)
{
    int fd = p->conn ? axle_conn_fd(p->conn) : -1;
    struct sockaddr_storage me, them;
    socklen_t ml = sizeof me, tl = sizeof them;
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&me, &ml) < 0)
        return false;
    if (me.ss_family == AF_UNIX)
        return true;
    if (getpeername(fd, (struct sockaddr *)&them, &tl) < 0 || me.ss_family != them.ss_family)
        return false;
    if (me.ss_family == AF_INET) {
        const struct in_addr *a = &((struct sockaddr_in *)&me)->sin_addr;
        const struct in_addr *b = &((struct sockaddr_in *)&them)->sin_addr;
        return (ntohl(b->s_addr) >> 24) == 127 || a->s_addr == b->s_addr;
    }
    if (me.ss_family == AF_INET6) {
        const struct in6_addr *a = &((struct sockaddr_in6 *)&me)->sin6_addr;
        const struct in6_addr *b = &((struct sockaddr_in6 *)&them)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(b) || memcmp(a, b, sizeof *a) == 0;
    }
    return false;
}

/* ---- the offer and its answer -------------------------------------------------------------- */

/* buffered: answers go out from the peer's message loop, which must not
 * wait on the socket; the runtime's flusher writes them when it yields. */
static int send_shm(struct peer *p, const Axle__StreamShm *m, bool buffered)
{
    Axle__Envelope env = AXLE__ENVELOPE__INIT;
    env.msg_case = AXLE__ENVELOPE__MSG_STREAM_SHM;
    env.stream_shm = (Axle__StreamShm *)m;
    return buffered ? axle__peer_send_buffered(p, &env) : axle__peer_send(p, &env);
}

/* Wake the context's owner (parked reading, or waiting for our offer's answer). */
static void wake_waiter(axle_ctx *c)
{
    if (c->waiter) {
        axle_task *t = c->waiter;
        c->waiter = NULL;
        axle__wake(t, 0);
    }
}

static void answer(struct peer *p, uint64_t cid, int code, const char *why)
{
    Axle__StreamShm a = AXLE__STREAM_SHM__INIT;
    a.cid = cid;
    a.ack = true;
    a.code = code;
    a.message = (char *)why;
    if (send_shm(p, &a, true) < 0)
        axle_error_clear(); /* the peer is gone: its open fails on that */
}

/* The peer offers its ring: attach it as our inbound data, then answer. */
static void on_offer(axle_ctx *c, const Axle__StreamShm *o)
{
    char why[200] = "";
    int rc = 0;
    const char *here = host_id();
    if (o->boot_id.len != strlen(here) || memcmp(o->boot_id.data, here, o->boot_id.len) != 0) {
        rc = -EXDEV;
        snprintf(why, sizeof why, "%s runs on another host (or pid namespace)", A.uid.name);
    } else if (o->owner != c->peer_uid.pid) {
        rc = -EPERM;
        snprintf(why, sizeof why, "the ring's owner pid %d is not the peer's (%d)", o->owner,
                 c->peer_uid.pid);
    } else if (c->shm.in) {
        rc = -EALREADY;
        snprintf(why, sizeof why, "a ring was offered for this context already");
    } else if ((rc = axle_ring_attach(&c->shm.in, o->key, o->owner, AXLE_RING_CONSUMER)) < 0) {
        snprintf(why, sizeof why, "%s cannot attach ring %s of pid %d: %s", A.uid.name, o->key,
                 o->owner, axle_strerror(rc));
        axle_error_clear();
    } else {
        wake_waiter(c); /* a reader parked on the channel alone reads the ring now */
    }
    if (rc < 0)
        axle_log_runtime("context cid %llu: shm offer refused: %s", (unsigned long long)c->cid,
                         why);
    answer(c->peer, c->cid, rc, why);
}

bool axle__shm_stream_on_msg(axle_ctx *c, const axle_msg *m)
{
    const Axle__StreamShm *s = m->env->stream_shm;
    if (!s->ack) {
        on_offer(c, s);
        return true;
    }
    if (c->shm.offering && !c->shm.answered) {
        c->shm.answered = true;
        c->shm.answer = s->code < 0 ? s->code : 0;
        snprintf(c->shm.why, sizeof c->shm.why, "%s", s->message ? s->message : "");
        wake_waiter(c);
    }
    return true;
}

void axle__shm_stream_unrouted(struct peer *p, const axle_msg *m)
{
    const Axle__StreamShm *s = m->env->stream_shm;
    if (!s->ack)
        answer(p, s->cid, -ESRCH, "no context with that cid here (it ended)");
}

static int offer_abort(axle_task *t, void *data)
{
    (void)t;
    ((axle_ctx *)data)->waiter = NULL;
    return AXLE__ABORT_SUCCEEDED;
}

/* Offer r to the peer and wait for the answer. Returns 0, or why not. */
/* How long an offer waits for its answer: a round trip, unless the peer
 * drops StreamShm frames (a build without them) and never answers. */
#define OFFER_WAIT_NS (5 * 1000 * 1000 * 1000LL)

static int offer(axle_ctx *c, axle_ring *r, const char *key)
{
    Axle__StreamShm o = AXLE__STREAM_SHM__INIT;
    o.cid = c->cid;
    o.key = (char *)key;
    o.owner = (int32_t)getpid();
    o.boot_id.data = (uint8_t *)host_id();
    o.boot_id.len = strlen(host_id());
    c->shm.offering = true;
    c->shm.answered = false;
    int rc = send_shm(c->peer, &o, false);
    axle_scope sc;
    axle_fail_after(&sc, OFFER_WAIT_NS);
    while (rc == 0 && !c->shm.answered) {
        if (c->peer->gone) {
            char who[96];
            axle_uid_format(&c->peer_uid, who, sizeof who);
            rc = AXLE_SET_ERR(-AXLE_ETRANSPORT, "actor %s went away", who);
            break;
        }
        c->waiter = axle__current();
        rc = axle__park(offer_abort, c);
        c->waiter = NULL;
    }
    if ((rc = axle_scope_close(&sc, rc)) == -ETIMEDOUT)
        rc = AXLE_SET_ERR(-ETIMEDOUT, "%s did not answer the shm offer within %lld ms",
                          c->peer_uid.name, OFFER_WAIT_NS / 1000000);
    c->shm.offering = false;
    if (rc == 0 && c->shm.answer < 0)
        rc = AXLE_SET_ERR(c->shm.answer, "shm stream refused by %s: %s", c->peer_uid.name,
                          c->shm.why);
    if (rc == 0) /* both ends are mapped: the name has no more use (ours to unlink) */
        shm_unlink(axle_shm_name(axle_ring_segment(r)));
    return rc;
}

/* ---- opening -------------------------------------------------------------------------------- */

static axle_stream_transport env_transport(void)
{
    const char *v = getenv("AXLE_STREAM_TRANSPORT");
    if (!v || !*v || strcmp(v, "auto") == 0)
        return AXLE_STREAM_AUTO;
    if (strcmp(v, "shm") == 0)
        return AXLE_STREAM_SHM;
    if (strcmp(v, "channel") == 0)
        return AXLE_STREAM_CHANNEL;
    axle_log_warning("AXLE_STREAM_TRANSPORT=%s is not auto, shm or channel: using auto", v);
    return AXLE_STREAM_AUTO;
}

static int ring_policy(const axle_stream_opts *o, axle_overrun *p)
{
    switch (o ? o->shm_overrun : AXLE_STREAM_OVERRUN_DEFAULT) {
    case AXLE_STREAM_OVERRUN_DEFAULT:
        *p = o && o->allow_overruns ? AXLE_OVERRUN_DRAIN : AXLE_OVERRUN_ERROR;
        return 0;
    case AXLE_STREAM_OVERRUN_ERROR:
        *p = AXLE_OVERRUN_ERROR;
        return 0;
    case AXLE_STREAM_OVERRUN_DRAIN:
        *p = AXLE_OVERRUN_DRAIN;
        return 0;
    case AXLE_STREAM_OVERRUN_BLOCK:
        *p = AXLE_OVERRUN_BLOCK;
        return 0;
    }
    return AXLE_SET_ERR(-EINVAL, "axle_ctx_open_stream: unknown shm_overrun %d",
                        (int)o->shm_overrun);
}

int axle__shm_stream_open(axle_ctx *c, const axle_stream_opts *o)
{
    axle_stream_transport want = o ? o->transport : AXLE_STREAM_AUTO;
    if (want > AXLE_STREAM_SHM)
        return AXLE_SET_ERR(-EINVAL, "axle_ctx_open_stream: unknown transport %d", (int)want);
    axle_overrun policy = AXLE_OVERRUN_ERROR;
    int rc = ring_policy(o, &policy);
    if (rc < 0)
        return rc;
    if (want == AXLE_STREAM_AUTO)
        want = env_transport();
    c->shm.used = AXLE_STREAM_CHANNEL;
    if (want == AXLE_STREAM_CHANNEL)
        return 0;
    if (!channel_local(c->peer)) {
        if (want == AXLE_STREAM_AUTO)
            return 0;
        return AXLE_SET_ERR(-EXDEV,
                            "axle_ctx_open_stream: shm forced, but %s is reached over "
                            "a network connection",
                            c->peer_uid.name);
    }
    char key[48];
    snprintf(key, sizeof key, "st.%016llx.%c", (unsigned long long)c->cid, c->parent ? 'p' : 'c');
    axle_ring *r = NULL;
    size_t bytes = o && o->shm_bytes ? o->shm_bytes : SHM_BYTES_DEFAULT;
    rc = axle_ring_create(&r, key, bytes, AXLE_RING_PRODUCER);
    if (rc == 0)
        rc = axle_ring_set_overrun(r, policy, 0);
    if (rc == 0)
        rc = offer(c, r, key);
    if (rc < 0) {
        axle_ring_close(r); /* unlinks: the peer never attached, or has it mapped */
        if (want == AXLE_STREAM_SHM || rc == -ECANCELED)
            return rc;
        axle_log_runtime("context cid %llu: stream data over the channel: %s",
                         (unsigned long long)c->cid, axle_strerror(rc));
        axle_error_clear();
        return 0;
    }
    c->shm.out = r;
    c->shm.used = AXLE_STREAM_SHM;
    return 0;
}

/* ---- nudging a parked ring wait
 * ------------------------------------------------------------------ */

void axle__shm_stream_nudge(axle_ctx *c)
{
    if (c->shm.nudge_rx && !axle_scope_cancel_called(c->shm.nudge_rx))
        axle_scope_cancel(c->shm.nudge_rx);
    if (c->shm.nudge_tx && !axle_scope_cancel_called(c->shm.nudge_tx))
        axle_scope_cancel(c->shm.nudge_tx);
}

static int peer_went_away(axle_ctx *c)
{
    char who[96];
    axle_uid_format(&c->peer_uid, who, sizeof who);
    return AXLE_SET_ERR(-AXLE_ETRANSPORT, "actor %s went away (its stream ring says so)", who);
}

/* ---- the drainer (DRAIN) ----------------------------------------------------------------- */

/*
 * DRAIN keeps what finds no room in a local queue; something must push it
 * when the reader makes room even if the writer stops sending (it may be
 * waiting for replies). One task per context does, started by the first
 * queued record, like the reference's drainer; it ends when the queue is
 * empty and is cancelled (and waited for) before Stop and at the end.
 */
static int drainer(void *arg)
{
    axle_ctx *c = arg;
    axle_scope sc;
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    c->shm.drainer = &sc;
    int rc = c->shm.drain_stop ? 0 : axle_ring_drain_wait(c->shm.out, -1);
    c->shm.drainer = NULL;
    rc = axle_scope_close(&sc, rc);
    if (rc < 0 && rc != -ECANCELED)
        axle_log_runtime("context cid %llu: drainer ends: %s", (unsigned long long)c->cid,
                         axle_strerror(rc));
    axle_error_clear();
    c->shm.draining = false;
    axle_event_set(&c->shm.drained);
    return 0;
}

static void drainer_start(axle_ctx *c)
{
    if (c->shm.draining || !axle_ring_queued(c->shm.out))
        return;
    axle_event_init(&c->shm.drained);
    c->shm.drain_stop = false;
    axle_task_opts o = {.name = "stream-drainer"};
    if (axle_nursery_start_soon(A.rt, drainer, c, &o) == 0)
        c->shm.draining = true;
    else /* later sends push the queue, and closing does */
        axle_error_clear();
}

/* Cancel the drainer and wait for it (shielded: it ends at once). */
static void drainer_stop(axle_ctx *c)
{
    if (!c->shm.draining)
        return;
    c->shm.drain_stop = true; /* it may not have run yet: then it must not start */
    if (c->shm.drainer)
        axle_scope_cancel(c->shm.drainer);
    axle_scope sh;
    axle_scope_open(&sh, AXLE_NO_DEADLINE, AXLE_SCOPE_SHIELD);
    axle_event_wait(&c->shm.drained);
    axle_scope_close(&sh, 0);
}

/* ---- sending
 * ------------------------------------------------------------------------------------- */

int axle__shm_stream_send(axle_ctx *c, const void *data, size_t len)
{
    axle_ring *r = c->shm.out;
    if (len > axle_ring_max_record(r))
        return AXLE_SET_ERR(-EMSGSIZE,
                            "axle_stream_send: %zu bytes is more than the stream's shm ring "
                            "carries in one message (%zu; raise axle_stream_opts.shm_bytes)",
                            len, axle_ring_max_record(r));
    int rc = axle__fair(&c->shm.tx_run);
    if (rc < 0)
        return rc;
    for (;;) {
        if (c->shm.peer_stopped)
            return 0; /* it stopped listening: dropped, as its runtime would */
        if (c->peer->gone)
            return peer_went_away(c);
        rc = axle_ring_send_nowait(r, data, len);
        if (rc != -EAGAIN)
            break;
        /* BLOCK and no room: wait for it, or for a reason to stop. */
        axle_scope sc;
        axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
        c->shm.nudge_tx = &sc;
        int sent = axle_ring_send(r, data, len, -1);
        c->shm.nudge_tx = NULL;
        rc = axle_scope_close(&sc, sent);
        if (sent == 0 || rc < 0)
            break; /* sent, or failed; else nudged (absorbed by sc): check again */
    }
    if (rc == 0 && axle_ring_queued(r))
        drainer_start(c);
    if (rc == -EOWNERDEAD)
        return peer_went_away(c);
    if (rc == -AXLE_EOVERRUN) {
        AXLE_SET_ERR(rc,
                     "stream overrun: the shm ring to %s (%zu bytes) is full%s; the message "
                     "was not sent",
                     c->peer_uid.name, axle_ring_capacity(r),
                     axle_ring_queued(r) ? " and so is the drain queue" : "");
        axle__error_set_sender(&A.uid); /* whose message it was, as a StreamOverrun says */
    }
    return rc;
}

/* Before Stop: push what DRAIN queued, waiting a bounded time. */
void axle__shm_stream_flush(axle_ctx *c)
{
    axle_ring *r = c->shm.out;
    if (!r)
        return;
    drainer_stop(c);
    if (!axle_ring_queued(r))
        return;
    int64_t until = axle_now() + CLOSE_DRAIN_NS;
    int rc = 0;
    while (axle_ring_queued(r) && !c->shm.peer_stopped && !c->peer->gone) {
        int64_t left = until - axle_now();
        if (left <= 0) {
            rc = -ETIMEDOUT;
            break;
        }
        axle_scope sc;
        axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
        c->shm.nudge_tx = &sc;
        int pushed = axle_ring_drain_wait(r, left);
        c->shm.nudge_tx = NULL;
        rc = axle_scope_close(&sc, pushed);
        if (pushed != -ECANCELED || rc < 0)
            break; /* done, or failed; else nudged: check again */
    }
    if (axle_ring_queued(r)) {
        axle_log_warning("context cid %llu: %zu queued messages to %s discarded at close (%s)",
                         (unsigned long long)c->cid, axle_ring_queued(r), c->peer_uid.name,
                         rc < 0 ? axle_strerror(rc) : "it stopped listening");
        axle_error_clear();
    }
}

/* ---- receiving
 * ----------------------------------------------------------------------------------- */

int axle__shm_stream_take(axle_ctx *c, axle_buf *out, bool nowait)
{
    if (!nowait) {
        int rc = axle__fair(&c->shm.rx_run);
        if (rc < 0)
            return rc;
    }
    const void *p;
    size_t n;
    int rc = axle_ring_peek_nowait(c->shm.in, &p, &n);
    if (rc == 0) {
        rc = out ? axle_buf_set(out, p, n) : 0;
        if (rc == 0) /* else it stays for the next try */
            axle_ring_release(c->shm.in);
        return rc;
    }
    if (rc == -AXLE_ESHMCORRUPT) {
        c->shm.in_dead = true;
        return AXLE_SET_ERR(rc, "the shm ring from %s is corrupt: stream data lost",
                            c->peer_uid.name);
    }
    return rc; /* -EAGAIN */
}

int axle__shm_stream_wait(axle_ctx *c)
{
    axle_scope sc;
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    c->shm.nudge_rx = &sc;
    c->reading = true;
    const void *p;
    size_t n;
    int rc = axle_ring_peek(c->shm.in, &p, &n, -1); /* a record stays peeked for the next take */
    c->reading = false;
    c->shm.nudge_rx = NULL;
    rc = axle_scope_close(&sc, rc);
    if (rc == -EOWNERDEAD) { /* the writer died: what it committed has been taken */
        c->shm.in_dead = true;
        rc = 0;
    }
    if (rc == -AXLE_ESHMCORRUPT)
        c->shm.in_dead = true;
    return rc;
}

void axle__shm_stream_free(axle_ctx *c)
{
    drainer_stop(c);
    axle_ring_close(c->shm.out);
    axle_ring_close(c->shm.in);
    c->shm.out = c->shm.in = NULL;
}
