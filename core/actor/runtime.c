/*
 * core/actor/runtime.c — the actor runtime of one process.
 *
 * Shape of an actor (root or child), all inside one scheduler:
 *
 *   main task ── runtime nursery A.rt
 *                 ├─ server: a handler task per peer, running its loop
 *                 ├─ the parent's loop (in a child)
 *                 ├─ the SIGINT watcher (in the root)
 *                 ├─ RPC tasks started by peers' Start messages (a plain
 *                 │  function, or a context function: context.c)
 *                 ├─ the flusher: writes the stream messages queued on
 *                 │  connections (axle__peer_send_buffered) once their
 *                 │  senders yield
 *                 └─ body: the root's main(arg), or a child's wait
 *
 * What it guarantees:
 * - A message loop never blocks on delivery: replies go to their call's
 *   queue, a context's messages to the context (context.c), Starts become
 *   tasks; a frame for an unknown cid is dropped with a log line. It
 *   dispatches a whole socket read before yielding, unless a context's
 *   buffer fills (then its reader runs first). Nothing a peer sends can crash the actor: bad frames
 * are logged and skipped, errors in RPC tasks go back to the caller.
 * - When a peer's loop ends (EOF, reset), its pending calls fail with
 *   -AXLE_ETRANSPORT and the tasks it started are cancelled.
 * - self.cancel_task(cid) cancels one RPC task and records who asked (a
 *   context's canceller).
 * - self.cancel (a cancel request) cancels every RPC task and waits for
 *   them, acks with CancelAck, then cancels the whole actor; a child also
 *   cancels itself when its parent's connection ends, so no orphan
 *   outlives a dead parent (PR_SET_PDEATHSIG covers a SIGKILLed one).
 * - Teardown, after the body: peers get peer_drain_ns to disconnect, the
 *   runtime nursery is cancelled, then the lifetime stack runs (LIFO) on
 *   every path: normal exit, error, cancel.
 *
 * Fork story: the actor state A is per process. A child made by fork
 * starts in axle__child_main, which closes every fd it inherited but stdio,
 * its crash channel and its link to the parent (close only: shutdown would
 * reach the parent's sockets), and resets A before running its own actor.
 */
#include "actor_int.h"

#include "../../spawn/proc.h"
#include "../ipc/conn_int.h"

#include <axle/shm.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct actor A;

/* The lifetime stack: cleanups run when the actor ends. */
struct atexit_fn {
    void (*fn)(void *arg);
    void *arg;
    struct atexit_fn *next;
};
static struct atexit_fn *lifetime;

static int sigint_fd = -1; /* the root's signalfd for SIGINT, or -1 */

/*
 * For the SIGTERM handler of a child actor (async-signal-safe state): its
 * own socket file, and the pids of its live children.
 */
#define MAX_TRACKED 4096
static char term_unlink[sizeof(((struct sockaddr_un *)0)->sun_path)];
static volatile pid_t tracked[MAX_TRACKED];
static axle_event peers_changed; /* set whenever a peer leaves A.peers */

Axle__Uid axle__uid_msg(const axle_uid *u)
{
    Axle__Uid m = AXLE__UID__INIT;
    m.name = (char *)u->name;
    m.uuid.data = (uint8_t *)u->uuid;
    m.uuid.len = sizeof u->uuid;
    m.pid = u->pid;
    return m;
}

const axle_uid *axle_actor_uid(void) { return A.running ? &A.uid : NULL; }
axle_portal *axle_actor_parent(void) { return A.parent_portal; }

axle_conn_opts axle__actor_conn_opts(void)
{
    axle_conn_opts o = {.uid = &A.uid};
    if (A.cookie_len)
        o.cookie = A.cookie, o.cookie_len = A.cookie_len;
    return o;
}

int axle_actor_atexit(void (*fn)(void *arg), void *arg)
{
    struct atexit_fn *f = malloc(sizeof *f);
    if (!f)
        return AXLE_SET_ERR(-ENOMEM, "axle_actor_atexit: out of memory");
    *f = (struct atexit_fn){fn, arg, lifetime};
    lifetime = f;
    return 0;
}

static void run_lifetime(void)
{
    while (lifetime) {
        struct atexit_fn *f = lifetime;
        lifetime = f->next;
        f->fn(f->arg);
        free(f);
    }
}

int axle__actor_set_mods(const char *const *mods, size_t n)
{
    char **v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (!(v[i] = strdup(mods[i]))) {
            while (i--)
                free(v[i]);
            free(v);
            return -ENOMEM;
        }
    for (size_t i = 0; i < A.nmods; i++)
        free(A.mods[i]);
    free(A.mods);
    A.mods = v;
    A.nmods = n;
    return 0;
}

/* ---- children and SIGTERM ------------------------------------------------- */

void axle__track_child(pid_t pid)
{
    for (size_t i = 0; i < MAX_TRACKED; i++)
        if (tracked[i] == 0) {
            tracked[i] = pid;
            return;
        }
}

void axle__untrack_child(pid_t pid)
{
    for (size_t i = 0; i < MAX_TRACKED; i++)
        if (tracked[i] == pid)
            tracked[i] = 0;
}

/* "axle.<pid>." into buf (async-signal-safe); its length. */
static size_t shm_prefix(char *buf, pid_t pid)
{
    char digits[12];
    size_t n = 0, len = 0;
    do
        digits[n++] = (char)('0' + pid % 10);
    while ((pid /= 10) > 0);
    memcpy(buf, "axle.", 5);
    len = 5;
    while (n)
        buf[len++] = digits[--n];
    buf[len++] = '.';
    return len;
}

/*
 * Unlink /dev/shm/axle.<pid>.* with raw syscalls only (getdents64,
 * unlinkat): what axle_shm_unlink_owned does at a normal exit, from the
 * SIGTERM handler, for this actor and each child it reaped there.
 */
static void shm_unlink_owned_raw(pid_t pid)
{
    char prefix[24];
    size_t plen = shm_prefix(prefix, pid);
    int dir = open("/dev/shm", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return;
    char buf[4096] __attribute__((aligned(8)));
    long n;
    while ((n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            if (strncmp(d->d_name, prefix, plen) == 0)
                unlinkat(dir, d->d_name, 0);
            off += d->d_reclen;
        }
    }
    close(dir);
}

/*
 * A child actor told to terminate (its parent's escalation): pass SIGTERM
 * on to its own children and give them up to 200 ms to clean up and exit
 * (else PR_SET_PDEATHSIG would SIGKILL them the moment we die, before they
 * remove their socket files), remove our socket file, then die of SIGTERM
 * as the default action would. Only async-signal-safe calls.
 */
static void on_sigterm(int sig)
{
    int live = 0;
    for (size_t i = 0; i < MAX_TRACKED; i++)
        if (tracked[i] > 0 && kill(tracked[i], SIGTERM) == 0)
            live++;
    for (int tick = 0; live > 0 && tick < 40; tick++) {
        live = 0;
        for (size_t i = 0; i < MAX_TRACKED; i++) {
            pid_t c = tracked[i];
            if (c <= 0)
                continue;
            pid_t w = waitpid(c, NULL, WNOHANG);
            if (w == 0)
                live++;
            else if (w == c) { /* reaped here, not by the spawn layer: its segments too */
                shm_unlink_owned_raw(c);
                tracked[i] = 0;
            }
        }
        struct timespec ts = {0, 5 * 1000 * 1000};
        if (live > 0)
            nanosleep(&ts, NULL);
    }
    if (term_unlink[0])
        unlink(term_unlink);
    shm_unlink_owned_raw(getpid()); /* segments never outlive their actor */
    signal(sig, SIG_DFL);
    raise(sig);
}

static void handle_sigterm(void)
{
    const char *prefix = "/unix";
    if (strncmp(A.addr, prefix, strlen(prefix)) == 0)
        snprintf(term_unlink, sizeof term_unlink, "%.107s", A.addr + strlen(prefix));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigterm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
}

/* ---- peers ---------------------------------------------------------------- */

struct peer *axle__peer_new(axle_conn *c)
{
    struct peer *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->conn = c;
    p->uid = *axle_conn_peer(c);
    p->refs = 1;
    axle_event_init(&p->loop_done);
    axle_event_init(&p->rpcs_done);
    p->next = A.peers;
    if (A.peers)
        A.peers->prev = p;
    A.peers = p;
    return p;
}

void axle__peer_unref(struct peer *p)
{
    if (--p->refs > 0)
        return;
    if (p->prev)
        p->prev->next = p->next;
    else
        A.peers = p->next;
    if (p->next)
        p->next->prev = p->prev;
    free(p);
    axle_event_set(&peers_changed);
}

int axle__peer_send(struct peer *p, const Axle__Envelope *env)
{
    if (p->gone) {
        char who[96];
        axle_uid_format(&p->uid, who, sizeof who);
        return AXLE_SET_ERR(-AXLE_ETRANSPORT, "actor %s is gone", who);
    }
    return axle_conn_send(p->conn, env);
}

int axle__peer_send_buffered(struct peer *p, const Axle__Envelope *env)
{
    if (p->gone)
        return axle__peer_send(p, env); /* its error */
    int rc = axle_conn_send_buffered(p->conn, env);
    if (rc == 0 && !p->dirty && axle_conn_pending(p->conn) > 0) {
        p->dirty = true;
        p->refs++;
        p->dirty_next = A.dirty;
        A.dirty = p;
        axle_event_set(&A.flush_ev);
    }
    return rc;
}

/* The flusher: writes what buffered sends queued, once their senders yield. */
static int flush_task(void *arg)
{
    (void)arg;
    for (;;) {
        int rc = axle_event_wait(&A.flush_ev);
        axle_event_init(&A.flush_ev);
        while (A.dirty) {
            struct peer *p = A.dirty;
            A.dirty = p->dirty_next;
            p->dirty = false;
            if (!p->gone && rc == 0)
                axle_conn_flush(p->conn); /* a failure is the connection's, sticky */
            axle__peer_unref(p);
        }
        if (rc < 0)
            return 0;
    }
}

int axle__send_shielded(struct peer *p, const Axle__Envelope *env)
{
    axle_scope sc;
    axle_scope_open(&sc, axle__deadline_after(A.opts.cancel_ack_ns), AXLE_SCOPE_SHIELD);
    return axle_scope_close(&sc, axle__peer_send(p, env));
}

int axle__send_start_ack(struct peer *p, uint64_t cid, int functype)
{
    Axle__StartAck ack = AXLE__START_ACK__INIT;
    ack.cid = cid;
    ack.functype = functype;
    Axle__Envelope env = AXLE__ENVELOPE__INIT;
    env.msg_case = AXLE__ENVELOPE__MSG_START_ACK;
    env.start_ack = &ack;
    return axle__peer_send(p, &env);
}

void axle__send_return(struct peer *p, uint64_t cid, const axle_buf *ret)
{
    Axle__Return rv = AXLE__RETURN__INIT;
    rv.cid = cid;
    rv.pld.data = ret->data;
    rv.pld.len = ret->len;
    Axle__Envelope env = AXLE__ENVELOPE__INIT;
    env.msg_case = AXLE__ENVELOPE__MSG_RETURN;
    env.return_ = &rv;
    if (axle__send_shielded(p, &env) < 0)
        axle_log_runtime("result for cid %llu not delivered: %s is gone", (unsigned long long)cid,
                         p->uid.name);
}

void axle__send_error(struct peer *p, uint64_t cid, int code)
{
    const axle_error *e = axle_error_last();
    Axle__Error *m = axle__rerr_pack(code, e && axle_error_code(e) == code ? e : NULL, &A.uid);
    if (!m)
        return;
    m->cid = cid;
    m->has_cid = 1;
    Axle__Envelope env = AXLE__ENVELOPE__INIT;
    env.msg_case = AXLE__ENVELOPE__MSG_ERROR;
    env.error = m;
    if (axle__send_shielded(p, &env) < 0)
        axle_log_runtime("could not send an error for cid %llu to %s", (unsigned long long)cid,
                         p->uid.name);
    axle__rerr_free(m);
}

/* ---- RPC tasks -------------------------------------------------------------- */

struct job {
    struct peer *peer; /* referenced */
    uint64_t cid;
    char *ns, *func; /* owned */
    uint8_t *args;   /* owned */
    size_t len;
};

static void job_free(struct job *j)
{
    axle__peer_unref(j->peer);
    free(j->ns);
    free(j->func);
    free(j->args);
    free(j);
}

static void rpc_unlink(struct rpc *r)
{
    struct peer *p = r->peer;
    if (r->prev)
        r->prev->next = r->next;
    else
        p->rpcs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    if (--p->nrpcs == 0) {
        axle_event_set(&p->rpcs_done);
        axle_event_init(&p->rpcs_done);
    }
}

/* Find the function for a Start (plain or context), or the error that replaces its StartAck. */
static int resolve(const struct job *j, axle_rpc_fn *fn, axle_ctx_fn *cfn)
{
    char who[96], name[512];
    axle_uid_format(&A.uid, who, sizeof who);
    snprintf(name, sizeof name, "%s.%s", j->ns, j->func);
    if (!axle__ns_exposed(j->ns, strlen(j->ns), A.mods, A.nmods))
        return AXLE_SET_ERR(-AXLE_ENOTEXPOSED,
                            "namespace '%s' is not exposed by actor %s: add \"%s\" to its "
                            "enable_modules (axle_actor_opts or axle_spawn_opts) to call %s",
                            j->ns, who, j->ns, name);
    *fn = axle__rpc_lookup(name);
    *cfn = axle__ctx_lookup(name);
    if (!*fn && !*cfn)
        return AXLE_SET_ERR(-ENOSYS, "actor %s exposes namespace '%s' but has no function '%s'",
                            who, j->ns, name);
    return 0;
}

static int rpc_task(void *arg)
{
    struct job *j = arg;
    struct peer *p = j->peer;
    struct rpc r = {.cid = j->cid, .peer = p, .next = p->rpcs};
    if (p->rpcs)
        p->rpcs->prev = &r;
    p->rpcs = &r;
    p->nrpcs++;
    axle_scope sc;
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    r.scope = &sc;

    axle_rpc_fn fn = NULL;
    axle_ctx_fn cfn = NULL;
    int rc = resolve(j, &fn, &cfn);
    if (rc == 0 && cfn) {
        axle__ctx_serve(&r, cfn, j->args, j->len); /* it sends the context's end itself */
    } else if (rc == 0) {
        rc = axle__send_start_ack(p, j->cid, AXLE__FUNC_TYPE__FUNC_ASYNCFUNC);
        axle_buf ret = {0};
        if (rc == 0)
            rc = fn(j->args, j->len, &ret);
        if (rc == 0)
            axle__send_return(p, j->cid, &ret);
        axle_buf_free(&ret);
    }
    r.scope = NULL;
    axle_scope_close(&sc, rc); /* our own cancel (cancel_task) is absorbed here */
    if (rc < 0)
        axle__send_error(p, j->cid, rc);
    rpc_unlink(&r);
    job_free(j);
    return 0; /* an RPC's failure belongs to its caller, not to this actor */
}

/* ---- self.* : the runtime's own functions ------------------------------------- */

static void cancel_rpcs(struct peer *p)
{
    for (struct rpc *r = p->rpcs; r; r = r->next)
        if (r->scope)
            axle_scope_cancel(r->scope);
}

struct cancel_req {
    struct peer *peer; /* referenced */
    uint64_t cid;
};

/* self.cancel: stop every RPC task, ack, then end the actor. */
static int self_cancel_task(void *arg)
{
    struct cancel_req *q = arg;
    axle_scope sc;
    axle_scope_open(&sc, axle__deadline_after(A.opts.cancel_phase_ns), AXLE_SCOPE_SHIELD);
    A.cancel_called = true;
    A.cancel_by = q->peer->uid;
    for (struct peer *p = A.peers; p; p = p->next)
        cancel_rpcs(p);
    for (struct peer *p = A.peers; p; p = p->next)
        while (p->nrpcs > 0 && axle_event_wait(&p->rpcs_done) == 0)
            ;
    Axle__CancelAck ack = AXLE__CANCEL_ACK__INIT;
    ack.cid = q->cid;
    ack.pld = 1;
    Axle__Envelope env = AXLE__ENVELOPE__INIT;
    env.msg_case = AXLE__ENVELOPE__MSG_CANCEL_ACK;
    env.cancel_ack = &ack;
    axle__peer_send(q->peer, &env);
    axle_scope_close(&sc, 0);
    char who[96];
    axle_uid_format(&q->peer->uid, who, sizeof who);
    axle_log_cancel("cancel requested by %s", who);
    axle__peer_unref(q->peer);
    free(q);
    if (A.main_scope)
        axle_scope_cancel(A.main_scope);
    axle_nursery_cancel(A.rt);
    return 0;
}

static void handle_self(struct peer *p, const Axle__Start *st)
{
    if (strcmp(st->func, "cancel") == 0) {
        struct cancel_req *q = malloc(sizeof *q);
        if (!q)
            return;
        *q = (struct cancel_req){p, st->cid};
        p->refs++;
        axle_task_opts o = {.name = "self.cancel"};
        if (axle_nursery_start_soon(A.rt, self_cancel_task, q, &o) < 0) {
            axle__peer_unref(p);
            free(q);
        }
        return;
    }
    if (strcmp(st->func, "cancel_task") == 0 && st->kwargs.len == 8) {
        uint64_t cid = 0;
        for (int i = 0; i < 8; i++)
            cid |= (uint64_t)st->kwargs.data[i] << (8 * i);
        for (struct rpc *r = p->rpcs; r; r = r->next)
            if (r->cid == cid && r->scope) {
                if (!r->has_requester) { /* who asked: a context's canceller */
                    r->requester = p->uid;
                    r->has_requester = true;
                }
                axle_scope_cancel(r->scope);
            }
        return;
    }
    AXLE_SET_ERR(-ENOSYS, "the runtime has no function self.%s", st->func);
    axle__send_error(p, st->cid, -ENOSYS);
}

static void start_rpc(struct peer *p, axle_msg *m)
{
    const Axle__Start *st = m->env->start;
    if (!st->ns || !st->func) {
        AXLE_SET_ERR(-EPROTO, "a Start without a namespace or function");
        axle__send_error(p, st->cid, -EPROTO);
        return;
    }
    if (strcmp(st->ns, "self") == 0) {
        handle_self(p, st);
        return;
    }
    struct job *j = calloc(1, sizeof *j);
    if (j) {
        j->ns = strdup(st->ns);
        j->func = strdup(st->func);
        j->args = malloc(st->kwargs.len ? st->kwargs.len : 1);
    }
    if (!j || !j->ns || !j->func || !j->args) {
        if (j)
            free(j->ns), free(j->func), free(j->args), free(j);
        AXLE_SET_ERR(-ENOMEM, "no memory to start %s.%s", st->ns, st->func);
        axle__send_error(p, st->cid, -ENOMEM);
        return;
    }
    if (st->kwargs.len)
        memcpy(j->args, st->kwargs.data, st->kwargs.len);
    j->len = st->kwargs.len;
    j->cid = st->cid;
    j->peer = p;
    p->refs++;
    axle_task_opts o = {.name = j->func};
    if (axle_nursery_start_soon(A.rt, rpc_task, j, &o) < 0) {
        axle__send_error(p, st->cid, -ENOMEM);
        job_free(j);
    }
}

/* ---- the message loop --------------------------------------------------------- */

static uint64_t reply_cid(const Axle__Envelope *e, bool *has)
{
    *has = true;
    switch (e->msg_case) {
    case AXLE__ENVELOPE__MSG_START_ACK:
        return e->start_ack->cid;
    case AXLE__ENVELOPE__MSG_STARTED:
        return e->started->cid;
    case AXLE__ENVELOPE__MSG_YIELD:
        return e->yield->cid;
    case AXLE__ENVELOPE__MSG_STOP:
        return e->stop->cid;
    case AXLE__ENVELOPE__MSG_RETURN:
        return e->return_->cid;
    case AXLE__ENVELOPE__MSG_CANCEL_ACK:
        return e->cancel_ack->cid;
    case AXLE__ENVELOPE__MSG_REGISTRAR_REPLY:
        return e->registrar_reply->cid;
    case AXLE__ENVELOPE__MSG_STREAM_SHM:
        return e->stream_shm->cid;
    case AXLE__ENVELOPE__MSG_ERROR:
        *has = e->error->has_cid;
        return e->error->cid;
    default:
        *has = false;
        return 0;
    }
}

static void dispatch(struct peer *p, axle_msg *m)
{
    const Axle__Envelope *e = m->env;
    if (e->msg_case == AXLE__ENVELOPE__MSG_START) {
        start_rpc(p, m);
        axle_msg_free(m);
        return;
    }
    if (e->msg_case == AXLE__ENVELOPE__MSG_REGISTRAR_REQUEST) {
        if (A.is_root)
            axle__registry_handle(p, e->registrar_request);
        else
            axle_log_warning("%s sent a registrar request to a non-registrar", p->uid.name);
        axle_msg_free(m);
        return;
    }
    bool has;
    uint64_t cid = reply_cid(e, &has);
    if (has && axle__call_deliver(p, cid, m))
        return; /* the call owns m now */
    if (has)
        for (struct rpc *r = p->rpcs; r; r = r->next)
            if (r->cid == cid && r->ctx && axle__ctx_on_msg(r->ctx, m))
                return; /* a context we run: its queue owns m */
    if (e->msg_case == AXLE__ENVELOPE__MSG_STREAM_SHM)
        axle__shm_stream_unrouted(p, m); /* an offer is refused, not left unanswered */
    if (e->msg_case == AXLE__ENVELOPE__MSG_ERROR && !has)
        axle_log_error("actor %s reports an error outside any call: %s", p->uid.name,
                       e->error->message ? e->error->message : "(no message)");
    else
        axle_log_runtime("dropping %s for cid %llu from %s: nobody waits for it",
                         axle_msg_kind_name(e), (unsigned long long)cid, p->uid.name);
    axle_msg_free(m);
}

int axle__peer_loop(struct peer *p)
{
    axle_msg *m;
    int rc;
    for (;;) {
        rc = axle_conn_recv(p->conn, &m);
        if (rc == 0) {
            dispatch(p, m);
            /*
             * A context's buffer just filled up: let its reader run before
             * the next frame of the batch is dispatched, as a reader of a
             * channel would, instead of seeing a whole socket read's worth
             * of frames overrun it. (Otherwise no yield: the next blocking
             * receive yields anyway.)
             */
            if (axle__ctx_full) {
                axle__ctx_full = false;
                if ((rc = axle_checkpoint()) < 0)
                    break;
            }
            continue;
        }
        if (rc == -EBADMSG || rc == -EPROTO) { /* one bad frame; the stream is intact */
            axle_log_warning("bad frame from %s skipped: %s", p->uid.name, axle_strerror(rc));
            continue;
        }
        break;
    }
    p->gone = true;
    p->conn = NULL; /* the loop's owner closes it; nobody may touch it now */
    axle__calls_fail(p, -AXLE_ETRANSPORT);
    cancel_rpcs(p); /* what it asked for, nobody waits for now */
    if (A.is_root)
        axle__registry_drop_peer(p); /* its registrations go with it */
    axle_event_set(&p->loop_done);
    if (p == A.parent) {
        axle_log_cancel("parent connection ended (%s): cancelling this actor", axle_errname(rc));
        axle_nursery_cancel(A.rt);
    }
    return rc;
}

/* ---- the server side ---------------------------------------------------------- */

static int on_peer(axle_conn *c, void *arg)
{
    (void)arg;
    struct peer *p = axle__peer_new(c);
    if (!p)
        return AXLE_SET_ERR(-ENOMEM, "no memory for a peer");
    for (struct spawning **s = &A.spawning; *s; s = &(*s)->next)
        if (memcmp((*s)->uuid, p->uid.uuid, 16) == 0) {
            struct spawning *hit = *s;
            *s = hit->next;
            hit->peer = p;
            p->refs++; /* the spawner's */
            axle_event_set(&hit->connected);
            break;
        }
    axle__peer_loop(p);
    axle__peer_unref(p);
    return 0;
}

static int serve_task(void *arg)
{
    (void)arg;
    return axle_server_serve(A.server, on_peer, NULL);
}

static int parent_loop_task(void *arg)
{
    (void)arg;
    axle__peer_loop(A.parent);
    return 0;
}

static int sigint_task(void *arg)
{
    (void)arg;
    struct signalfd_siginfo si;
    for (;;) {
        ssize_t n = axle_read(sigint_fd, &si, sizeof si, -1);
        if (n == -ECANCELED)
            return 0;
        if (n != (ssize_t)sizeof si)
            continue;
        if (!A.interrupted) {
            A.interrupted = true;
            axle_log_cancel("SIGINT: cancelling the actor tree");
            if (A.main_scope)
                axle_scope_cancel(A.main_scope);
        } else {
            axle_log_warning("second SIGINT: killing the process group");
            kill(0, SIGKILL);
        }
    }
}

/* ---- setup and teardown ------------------------------------------------------- */

static void fill_opts(const axle_actor_opts *o)
{
    A.opts = o ? *o : (axle_actor_opts){0};
    if (!A.opts.cancel_ack_ns)
        A.opts.cancel_ack_ns = AXLE_CANCEL_ACK_NS_DEFAULT;
    if (!A.opts.hard_kill_ns)
        A.opts.hard_kill_ns = AXLE_HARD_KILL_NS_DEFAULT;
    if (!A.opts.cancel_phase_ns)
        A.opts.cancel_phase_ns = AXLE_CANCEL_PHASE_NS_DEFAULT;
    if (!A.opts.peer_drain_ns)
        A.opts.peer_drain_ns = AXLE_PEER_DRAIN_NS_DEFAULT;
    if (!A.opts.ctx_cancel_ns)
        A.opts.ctx_cancel_ns = AXLE_CTX_CANCEL_NS_DEFAULT;
    A.opts.name = NULL, A.opts.enable_modules = NULL, A.opts.bind_addrs = NULL;
    A.opts.loglevel = NULL, A.opts.spawn_method = NULL;
}

/* Open the server on the bind addresses (default: our Unix socket). */
static int open_server(const char *const *binds, size_t n)
{
    axle_addr addrs[8];
    if (n > 8)
        return AXLE_SET_ERR(-EINVAL, "at most 8 bind addresses");
    for (size_t i = 0; i < n; i++) {
        int rc = axle_addr_parse(&addrs[i], binds[i]);
        if (rc < 0)
            return rc;
    }
    if (n == 0) {
        int rc = axle_addr_unix_default(&addrs[0], A.uid.name);
        if (rc < 0)
            return rc;
        n = 1;
    }
    axle_server_opts so = {.conn = axle__actor_conn_opts()};
    int rc = axle_server_open(&A.server, addrs, n, &so);
    if (rc < 0)
        return rc;
    size_t nb;
    const axle_addr *bound = axle_server_addrs(A.server, &nb);
    axle_addr_format(&bound[0], A.addr, sizeof A.addr);
    return 0;
}

/* Peers other than the parent (whose connection ends with us). */
static bool others_connected(void)
{
    for (struct peer *p = A.peers; p; p = p->next)
        if (p != A.parent)
            return true;
    return false;
}

/* Wait (bounded by peer_drain_ns) for every other peer to disconnect. */
static void drain_peers(void)
{
    if (!others_connected())
        return;
    axle_scope sc;
    axle_scope_open(&sc, axle__deadline_after(A.opts.peer_drain_ns), AXLE_SCOPE_SHIELD);
    int rc = 0;
    while (others_connected() && rc == 0) {
        axle_event_init(&peers_changed);
        rc = axle_event_wait(&peers_changed);
    }
    axle_scope_close(&sc, rc);
}

/* A child's body: register with the registrar, then serve until cancelled. */
static int child_body(void)
{
    int rc = axle__registry_register();
    if (rc < 0 && rc != -ECANCELED)
        axle_log_warning("could not register with the registrar at %s: %s (find by name "
                         "will not see this actor)",
                         A.reg_addr, axle_strerror(rc));
    return axle_sleep(AXLE_NO_DEADLINE);
}

/*
 * The actor's life inside its scheduler: runtime nursery, then body
 * (main(arg), or waiting to be cancelled when main is NULL), then teardown.
 */
static int live(axle_fn main, void *arg)
{
    int rc = axle_nursery_open(&A.rt);
    if (rc < 0)
        return rc;
    axle_task_opts so = {.name = "server"}, po = {.name = "parent"}, io = {.name = "sigint"};
    axle_task_opts fo = {.name = "flusher"};
    axle_event_init(&A.flush_ev);
    rc = axle_nursery_start_soon(A.rt, flush_task, NULL, &fo);
    if (rc == 0)
        rc = axle_nursery_start_soon(A.rt, serve_task, NULL, &so);
    if (rc == 0 && A.parent)
        rc = axle_nursery_start_soon(A.rt, parent_loop_task, NULL, &po);
    if (rc == 0 && sigint_fd >= 0)
        rc = axle_nursery_start_soon(A.rt, sigint_task, NULL, &io);
    if (rc == 0) {
        axle_scope ms;
        axle_scope_open(&ms, AXLE_NO_DEADLINE, 0);
        A.main_scope = &ms;
        rc = main ? main(arg) : child_body();
        A.main_scope = NULL;
        rc = axle_scope_close(&ms, rc);
        if (A.interrupted && (rc == 0 || rc == -ECANCELED))
            rc = AXLE_SET_ERR(-EINTR, "interrupted by SIGINT");
        if (!main && rc == -ECANCELED)
            rc = 0; /* a child's normal end: it was cancelled */
        if (rc == 0)
            drain_peers();
    }
    axle_nursery_cancel(A.rt);
    int out = axle_nursery_close(A.rt, rc);
    A.rt = NULL;
    while (A.dirty) { /* queued after the flusher ended: nobody will write them now */
        struct peer *p = A.dirty;
        A.dirty = p->dirty_next;
        p->dirty = false;
        axle__peer_unref(p);
    }
    run_lifetime();
    axle__topics_end();                         /* subscribers of a publisher still open read END */
    int left = axle_shm_unlink_owned(getpid()); /* segments never outlive their actor */
    if (left > 0)
        axle_log_runtime("%d shared-memory segment(s) of this actor unlinked at its exit", left);
    return out == -ECANCELED && rc == 0 ? 0 : out;
}

static void actor_reset(void)
{
    for (size_t i = 0; i < A.nmods; i++)
        free(A.mods[i]);
    free(A.mods);
    memset(&A, 0, sizeof A);
}

struct root_args {
    const axle_actor_opts *opts;
    axle_fn main;
    void *arg;
};

static int root_main(void *arg)
{
    struct root_args *ra = arg;
    const axle_actor_opts *o = ra->opts;
    int rc = open_server(o ? o->bind_addrs : NULL, o ? o->n_bind_addrs : 0);
    if (rc < 0)
        return rc;
    snprintf(A.reg_addr, sizeof A.reg_addr, "%s", A.addr); /* the root is the registrar */
    axle__registry_add_self();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sigint_fd = signalfd(-1, &set, SFD_CLOEXEC);
    rc = live(ra->main, ra->arg);
    if (sigint_fd >= 0)
        close(sigint_fd);
    sigint_fd = -1;
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    axle_server_close(A.server);
    A.server = NULL;
    axle__registry_clear();
    return rc;
}

int axle_root(const axle_actor_opts *o, axle_fn main, void *arg)
{
    if (A.running)
        return AXLE_SET_ERR(-EBUSY,
                            "an actor (%s) already runs in this process: only one root "
                            "actor per process",
                            A.uid.name);
    fill_opts(o);
    const char *name = o && o->name ? o->name : "root";
    int rc = axle_uid_init(&A.uid, name);
    if (rc < 0)
        return rc;
    A.running = true;
    A.is_root = true;
    const char *lvl = o && o->loglevel ? o->loglevel : NULL;
    if (lvl)
        axle_log_set_level(lvl);
    axle_log_init_env(); /* $AXLE_LOGLEVEL wins */
    axle_log_set_name(name);
    /* Segments of trees killed outright (a SIGKILLed child's own children
     * never ran their exit): their owners are dead and nobody maps them. */
    int reaped = axle_shm_reap();
    if (reaped > 0)
        axle_log_runtime("removed %d shared-memory segment(s) of dead actors", reaped);
    snprintf(A.spawn_method, sizeof A.spawn_method, "%s",
             axle__spawn_method(o ? o->spawn_method : NULL));
    int clen = axle_cookie_load(NULL, A.cookie, sizeof A.cookie);
    A.cookie_len = clen > 0 ? (size_t)clen : 0;
    if ((rc = axle__actor_set_mods(o ? o->enable_modules : NULL, o ? o->n_enable_modules : 0)) < 0)
        goto out;
    char title[96];
    snprintf(title, sizeof title, "axle[%s@%d]", name, (int)getpid());
    /*
     * comm only: the root's argv belongs to the user's program, which may
     * still read it (children, running only axle's code, retitle argv too).
     */
    prctl(PR_SET_NAME, title);
    axle__spawn_warm();
    if (strcmp(A.spawn_method, "forkserver") == 0)
        axle__forkserver_start();
    struct root_args ra = {o, main, arg};
    rc = axle_run(root_main, &ra, NULL);
    axle__forkserver_stop();
out:
    actor_reset();
    return rc;
}

int axle_main(int argc, char **argv, const axle_actor_opts *o, axle_fn main, void *arg)
{
    axle__child_args a;
    int rc = axle__child_args_parse(argc, argv, &a);
    if (rc < 0) { /* --axle-child, but malformed: never start as a root */
        const axle_error *e = axle_error_last();
        fprintf(stderr, "axle: bad child arguments: %s\n",
                e ? axle_error_message(e) : axle_strerror(rc));
        _exit(2);
    }
    if (rc == 1) {
        axle__child_prepare(&a);
        _exit(axle__child_main(&a));
    }
    return axle_root(o, main, arg);
}

/* ---- a child actor ------------------------------------------------------------- */

/* Close what a forked child inherited from its parent's actor (fork story). */
static void forget_parent(void)
{
    if (A.server)
        axle__server_forget(A.server);
    for (struct peer *p = A.peers; p; p = p->next)
        if (p->conn)
            close(axle_conn_fd(p->conn));
    if (sigint_fd >= 0)
        close(sigint_fd);
    sigint_fd = -1;
    lifetime = NULL; /* the parent's cleanups are the parent's */
    axle__resources_forget();
    for (size_t i = 0; i < MAX_TRACKED; i++)
        tracked[i] = 0; /* the parent's children are not ours */
    memset(&A, 0, sizeof A);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    signal(SIGINT, SIG_IGN); /* the parent decides when its children end */
}

static int child_task(void *arg)
{
    const axle__child_args *a = arg;
    axle_addr pa;
    int rc = axle_addr_parse(&pa, a->parent_addr);
    if (rc < 0)
        return rc;
    axle_conn_opts co = axle__actor_conn_opts();
    axle_conn *c;
    if (a->conn_fd >= 0) { /* fork: a socketpair end from the parent */
        if (!(c = axle__conn_new(a->conn_fd, NULL, &co))) {
            close(a->conn_fd);
            return AXLE_SET_ERR(-ENOMEM, "no memory for the parent connection");
        }
        if ((rc = axle__conn_handshake(c, true)) < 0) {
            axle_conn_close(c);
            return rc;
        }
    } else if ((rc = axle_conn_connect(&c, &pa, &co)) < 0) {
        axle_log_error("cannot reach the parent at %s: %s", a->parent_addr, axle_strerror(rc));
        return rc;
    }
    axle_msg *m = NULL;
    axle_scope sc;
    axle_fail_after(&sc, A.opts.cancel_phase_ns);
    rc = axle_conn_recv(c, &m);
    rc = axle_scope_close(&sc, rc);
    if (rc == 0 && m->env->msg_case != AXLE__ENVELOPE__MSG_SPAWN_SPEC)
        rc = AXLE_SET_ERR(-EPROTO, "expected a spawn_spec from the parent, got %s",
                          axle_msg_kind_name(m->env));
    if (rc < 0) {
        axle_msg_free(m);
        axle_conn_close(c);
        return rc;
    }
    const Axle__SpawnSpec *spec = m->env->spawn_spec;
    rc = axle__actor_set_mods((const char *const *)spec->enable_modules, spec->n_enable_modules);
    if (spec->loglevel > 0) {
        char lvl[16];
        snprintf(lvl, sizeof lvl, "%d", spec->loglevel);
        axle_log_set_level(lvl);
    }
    if (rc == 0)
        rc = open_server((const char *const *)spec->bind_addrs, spec->n_bind_addrs);
    if (rc == 0)
        handle_sigterm();
    snprintf(A.parent_addr, sizeof A.parent_addr, "%s", a->parent_addr);
    if (spec->n_reg_addrs > 0 && spec->reg_addrs[0])
        snprintf(A.reg_addr, sizeof A.reg_addr, "%s", spec->reg_addrs[0]);
    axle_msg_free(m);
    if (rc == 0 && !(A.parent = axle__peer_new(c)))
        rc = -ENOMEM;
    if (rc == 0 && !(A.parent_portal = malloc(sizeof *A.parent_portal)))
        rc = -ENOMEM;
    if (rc == 0) {
        axle__portal_init(A.parent_portal, A.parent);
        rc = live(NULL, NULL);
    }
    axle__registry_leave();
    if (A.parent_portal) {
        axle__portal_fini(A.parent_portal);
        free(A.parent_portal);
        A.parent_portal = NULL;
    }
    if (A.parent)
        axle__peer_unref(A.parent);
    A.parent = NULL;
    axle_conn_close(c);
    if (A.server)
        axle_server_close(A.server);
    A.server = NULL;
    return rc;
}

/* Close every inherited fd but stdio, the crash channel and the parent link. */
static void close_inherited(const axle__child_args *a)
{
    int keep[2] = {a->crash_fd, a->conn_fd};
    if (keep[0] > keep[1]) {
        int t = keep[0];
        keep[0] = keep[1];
        keep[1] = t;
    }
    unsigned lo = 3;
    for (int i = 0; i < 2; i++) {
        if (keep[i] < (int)lo)
            continue;
        if ((unsigned)keep[i] > lo)
            close_range(lo, (unsigned)keep[i] - 1, 0);
        lo = (unsigned)keep[i] + 1;
    }
    close_range(lo, ~0u, 0);
}

int axle__child_main(const axle__child_args *a)
{
    forget_parent();
    close_inherited(a);
    fill_opts(NULL);
    A.uid = a->uid;
    A.uid.pid = getpid();
    A.running = true;
    int clen = axle_cookie_load(NULL, A.cookie, sizeof A.cookie);
    A.cookie_len = clen > 0 ? (size_t)clen : 0;
    snprintf(A.spawn_method, sizeof A.spawn_method, "%s", axle__spawn_method(NULL));
    int rc = axle_run(child_task, (void *)a, NULL);
    if (rc < 0) {
        const axle_error *e = axle_error_last();
        axle_log_error("actor %s ends: %s", A.uid.name,
                       e && axle_error_code(e) == rc ? axle_error_message(e) : axle_strerror(rc));
    }
    actor_reset();
    return rc < 0 ? 1 : 0;
}
