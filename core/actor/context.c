/*
 * core/actor/context.c — contexts (tractor §4): the parent side
 * (axle_ctx_open ... axle_ctx_close) and the child side (a context
 * function run by the runtime's RPC task).
 *
 * Parent side. A context is a call (portal.c) with a context attached:
 * the peer's loop hands every message for its cid to axle__ctx_on_msg
 * before queueing it, so an Error is recorded the moment it arrives, even
 * when nobody reads (§4.5): the remote error and canceller are set and the
 * body's scope is cancelled, except when this side asked for the cancel
 * (its acknowledgement is the expected outcome) or the owner is blocked
 * reading the context (the read itself returns the error). Recording
 * never blocks and never fails the loop. The outcome, once known, is kept:
 * axle_ctx_result returns the same thing every time.
 *
 * axle_ctx_close applies §4.6 in three cases on the body's rc (see
 * <axle/context.h>) and tears down shielded. A local error is kept
 * intact across the cancel request it triggers: the task's rich error is
 * taken before the request and put back after it.
 *
 * Messages for a context queue in the context (both sides), in order; a
 * full buffer (cap Yields) means an overrun: reported back to the sender
 * as a StreamOverrun (the first drop only: the sender fails on it, and a
 * report per message would cost a rich error each), or with
 * allow_overruns kept in an overflow queue of
 * at most OVERFLOW_MAX Yields. Departure from tractor: no drainer task;
 * the reader moves messages up from the overflow as it takes them, which
 * is the same order and bound without a task to cancel at the end.
 * Control messages (Stop, Return, Error) are never dropped, and once
 * anything overflowed they queue behind it, so a Stop never overtakes data.
 *
 * Child side. axle__ctx_serve acknowledges the Start as a context, runs
 * the function with a context on its stack and turns its end into one
 * message (§4.4): Return, a ContextCancelled naming who asked (the child
 * itself, the requester of a cancel_task, or whoever cancelled the
 * actor), or the boxed error.
 */
#include "ctx_int.h"

#include <axle/context.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void stream_stop(axle_stream *s);

static bool uid_eq(const axle_uid *a, const axle_uid *b)
{
    return memcmp(a->uuid, b->uuid, sizeof a->uuid) == 0;
}

static void set_canceller(axle_ctx *c, const axle_uid *who)
{
    c->canceller = *who;
    c->has_canceller = true;
}

/* The peer's ContextCancelled names this actor as its canceller. */
static bool names_us(const axle_ctx *c)
{
    const axle_uid *who = c->remote_err ? axle_error_canceller(c->remote_err) : NULL;
    return c->remote_rc == -AXLE_ECTXCANCELLED && who && uid_eq(who, &A.uid);
}

/* §4.2: we asked for the cancel and the peer's ContextCancelled names us. */
static bool self_cancel_acked(const axle_ctx *c) { return c->cancel_called && names_us(c); }

/* ---- the queue ------------------------------------------------------------------------- */

static bool is_yield(const axle_msg *m) { return m->env->msg_case == AXLE__ENVELOPE__MSG_YIELD; }

static void wake_owner(axle_ctx *c)
{
    if (c->waiter) {
        axle_task *t = c->waiter;
        c->waiter = NULL;
        axle__wake(t, 0);
    }
    axle__shm_stream_nudge(c);
}

void axle__ctx_wake(axle_ctx *c)
{
    wake_owner(c);
    axle_event_set(&c->ended);
}

/* ---- the peer's loop: delivery (§4.5, §5 overruns) ---------------------------------------- */

/* Record an Error the moment it arrives, and cancel the body's scope when it should. */
static void record_error(axle_ctx *c, const axle_msg *m)
{
    if (c->remote_err)
        return; /* the first error is the one that counts */
    c->remote_rc = axle__rerr_raise(m->env->error);
    c->remote_err = axle__error_take(axle__current());
    const axle_uid *src = c->remote_err ? axle_error_src_uid(c->remote_err) : NULL;
    if (names_us(c))
        set_canceller(c, &A.uid);
    else
        set_canceller(c, src ? src : &c->peer_uid); /* for a ContextCancelled: the peer */
    axle_scope *scope = c->parent ? (c->scope_open ? &c->scope : NULL) : c->rpc->scope;
    if (scope && !c->reading && !self_cancel_acked(c) && !axle_scope_cancel_called(scope))
        axle_scope_cancel(scope);
}

/*
 * The buffer is full: tell the sender its message was dropped (a
 * StreamOverrun naming it as sender, for its context), from this loop.
 */
static void overrun_report(axle_ctx *c)
{
    char who[96];
    axle_uid_format(&c->peer_uid, who, sizeof who);
    AXLE_SET_ERR(-AXLE_EOVERRUN,
                 "stream overrun: %s's receive buffer for this context (%zu messages) is full; "
                 "the message from %s was dropped (allow_overruns lets the receiver keep up to "
                 "%d more)",
                 A.uid.name, c->cap, who, OVERFLOW_MAX);
    axle__error_set_sender(&c->peer_uid);
    axle_log_warning("context cid %llu: overrun by %s, message dropped", (unsigned long long)c->cid,
                     who);
    axle__send_error(c->peer, c->cid, -AXLE_EOVERRUN);
    axle_error_clear();
}

bool axle__ctx_full;

bool axle__ctx_on_msg(axle_ctx *c, axle_msg *m)
{
    int kind = m->env->msg_case;
    if (kind == AXLE__ENVELOPE__MSG_STREAM_SHM) { /* the data plane's, never queued */
        axle__shm_stream_on_msg(c, m);
        axle_msg_free(m);
        return true;
    }
    if (kind == AXLE__ENVELOPE__MSG_STOP || kind == AXLE__ENVELOPE__MSG_RETURN ||
        kind == AXLE__ENVELOPE__MSG_ERROR)
        c->shm.peer_stopped = true;
    if (kind == AXLE__ENVELOPE__MSG_ERROR)
        record_error(c, m);
    if (kind == AXLE__ENVELOPE__MSG_ERROR || kind == AXLE__ENVELOPE__MSG_RETURN)
        axle_event_set(&c->ended);
    if (c->parent && !c->acked)
        return false; /* the call's until its StartAck is read; moved over after */
    struct reply *q = malloc(sizeof *q);
    if (!q) { /* a lost message may be its end: fail the reader rather than let it wait */
        axle_log_error("context cid %llu: no memory to queue %s: the context fails",
                       (unsigned long long)c->cid, axle_msg_kind_name(m->env));
        axle_msg_free(m);
        c->failed = -ENOMEM;
        wake_owner(c);
        return true;
    }
    q->msg = m;
    if (c->ohead && !is_yield(m)) { /* behind what overflowed: order is kept */
        reply_append(&c->ohead, &c->otail, q);
        return true;
    }
    if (is_yield(m) && (c->nyields >= c->cap || c->ohead)) {
        if (!c->allow_overruns) {
            free(q);
            axle_msg_free(m);
            if (c->dropped++ == 0) /* the first tells the sender; it fails on it */
                overrun_report(c);
            return true;
        }
        if (c->noverflow >= OVERFLOW_MAX) {
            axle_log_warning("context cid %llu: overflow of %d messages is full: message from "
                             "%s dropped",
                             (unsigned long long)c->cid, OVERFLOW_MAX, c->peer_uid.name);
            free(q);
            axle_msg_free(m);
            return true;
        }
        reply_append(&c->ohead, &c->otail, q);
        c->noverflow++;
        return true;
    }
    if (is_yield(m) && ++c->nyields >= c->cap)
        axle__ctx_full = true; /* the loop lets the reader catch up before the next frame */
    reply_append(&c->head, &c->tail, q);
    wake_owner(c);
    return true;
}

/* ---- reading ------------------------------------------------------------------------------ */

/* The peer is gone: the code to return (the call's on the parent side), else 0. */
static int ctx_gone(const axle_ctx *c)
{
    if (c->failed)
        return c->failed;
    if (c->parent)
        return c->k.gone;
    return c->peer->gone ? -AXLE_ETRANSPORT : 0;
}

static int ctx_abort(axle_task *t, void *data)
{
    (void)t;
    axle_ctx *c = data;
    c->waiter = NULL;
    return AXLE__ABORT_SUCCEEDED;
}

/*
 * The next message for c, the owner marked as reading it (so an Error
 * arriving meanwhile is returned by the read, not by a scope cancel).
 * nowait: -EAGAIN instead of waiting, and no checkpoint. watch_ring: also
 * -EAGAIN once the peer's shm ring is attached (a stream reader must
 * read it first: shmstream.c).
 */
static int ctx_next_w(axle_ctx *c, axle_msg **m, bool nowait, bool watch_ring)
{
    *m = NULL;
    int rc = nowait ? 0 : axle__checkpoint();
    c->reading = true;
    while (rc == 0 && !c->head) {
        if (watch_ring && c->shm.in && !c->shm.in_dead) {
            rc = -EAGAIN;
            break;
        }
        if ((rc = ctx_gone(c)) < 0) {
            char who[96];
            axle_uid_format(&c->peer_uid, who, sizeof who);
            if (c->failed)
                rc = AXLE_SET_ERR(rc, "context with %s: a message was lost (out of memory)", who);
            else
                rc = AXLE_SET_ERR(rc, "actor %s went away", who);
            break;
        }
        if (nowait) {
            rc = -EAGAIN;
            break;
        }
        c->waiter = axle__current();
        rc = axle__park(ctx_abort, c);
        c->waiter = NULL;
    }
    c->reading = false;
    if (rc < 0)
        return rc;
    struct reply *q = reply_shift(&c->head, &c->tail);
    *m = q->msg;
    free(q);
    if (is_yield(*m))
        c->nyields--;
    /* The overflow moves up, in order, as far as the buffer has room for its Yields. */
    while (c->ohead && (c->nyields < c->cap || !is_yield(c->ohead->msg))) {
        struct reply *o = reply_shift(&c->ohead, &c->otail);
        if (is_yield(o->msg)) {
            c->noverflow--;
            c->nyields++;
        }
        reply_append(&c->head, &c->tail, o);
    }
    return 0;
}

static int ctx_next(axle_ctx *c, axle_msg **m, bool nowait)
{
    return ctx_next_w(c, m, nowait, false);
}

/* ---- the parent side ------------------------------------------------------------------ */

/* Record the outcome from the remote error; returns what axle_ctx_result returns. */
static int outcome_from_remote(axle_ctx *c)
{
    c->done = true;
    if (self_cancel_acked(c)) {
        c->cancel_acked = true;
        if (!c->local_err) {
            c->local_err = axle__error_clone(c->remote_err);
            c->local_rc = c->remote_rc;
        }
        c->done_rc = AXLE_CTX_CANCEL_ACKED;
    } else {
        c->done_rc = c->remote_rc;
    }
    return c->done_rc;
}

/* The stored outcome again, the error's rich form on the calling task. */
static int outcome_again(axle_ctx *c, axle_buf *ret)
{
    if (c->done_rc == 0)
        return ret ? axle_buf_set(ret, c->result.data, c->result.len) : 0;
    if (c->done_rc == AXLE_CTX_CANCEL_ACKED)
        return AXLE_CTX_CANCEL_ACKED;
    return axle__error_put_copy(c->done_err ? c->done_err : c->remote_err, c->done_rc);
}

/* A Return: the context's outcome (parent side). */
static void take_return(axle_ctx *c, const axle_msg *m)
{
    if (c->done)
        return;
    int rc = axle_buf_set(&c->result, m->env->return_->pld.data, m->env->return_->pld.len);
    c->done = true;
    c->done_rc = rc;
    c->done_err = rc < 0 ? axle__error_clone_last(rc) : NULL;
}

int axle_ctx_result(axle_ctx *c, axle_buf *ret)
{
    if (!c->parent)
        return AXLE_SET_ERR(-EINVAL, "axle_ctx_result: called on the child side of the context; "
                                     "only the parent side waits for the result");
    while (!c->done) {
        if (c->remote_err) {
            outcome_from_remote(c);
            break;
        }
        axle_msg *m;
        int rc = ctx_next(c, &m, false);
        if (rc == -ECANCELED && c->remote_err)
            continue; /* the error cancelled the body's scope: it is the outcome */
        if (rc == -ECANCELED)
            return rc; /* not consumed: a later call tries again */
        if (rc < 0) {  /* the peer is gone */
            c->done = true;
            c->done_rc = rc;
            c->done_err = axle__error_clone_last(rc);
            break;
        }
        switch (m->env->msg_case) {
        case AXLE__ENVELOPE__MSG_RETURN:
            take_return(c, m);
            break;
        case AXLE__ENVELOPE__MSG_ERROR: /* recorded on arrival: handled above */
        case AXLE__ENVELOPE__MSG_YIELD: /* a stream's leftovers: discarded */
        case AXLE__ENVELOPE__MSG_STOP:
        default:
            break;
        }
        axle_msg_free(m);
    }
    return outcome_again(c, ret);
}

/* Fire the cancel request for c's task (shielded, bounded); keeps the task's error. */
static void request_cancel(axle_ctx *c)
{
    if (c->done || c->peer->gone)
        return; /* it has ended already, or cannot hear us */
    struct axle_error *keep = axle__error_take(axle__current());
    axle__cancel_remote_task(c->peer, c->cid, A.opts.ctx_cancel_ns);
    axle__error_free(axle__error_take(axle__current()));
    axle__error_put(axle__current(), keep);
}

int axle_ctx_cancel(axle_ctx *c)
{
    if (c->cancel_called)
        return 0;
    c->cancel_called = true;
    if (c->parent) {
        request_cancel(c);
        /* Like tractor's: give the child ctx_cancel_ns to end, shielded; not read here. */
        axle_scope sc;
        axle_scope_open(&sc, axle__deadline_after(A.opts.ctx_cancel_ns), AXLE_SCOPE_SHIELD);
        axle_scope_close(&sc, axle_event_wait(&c->ended));
        return 0;
    }
    set_canceller(c, &A.uid);
    if (c->rpc->scope)
        axle_scope_cancel(c->rpc->scope);
    return 0;
}

/* Empty what the peer sent and nobody read; says so when the overflow had some. */
static void ctx_drop_queued(axle_ctx *c)
{
    if (c->dropped > 1)
        axle_log_warning("context cid %llu with %s ends: %zu messages were dropped by overruns",
                         (unsigned long long)c->cid, c->peer_uid.name, c->dropped);
    if (c->noverflow)
        axle_log_warning("context cid %llu with %s ends: %zu overflowed messages discarded",
                         (unsigned long long)c->cid, c->peer_uid.name, c->noverflow);
    reply_drop_all(&c->head, &c->tail);
    reply_drop_all(&c->ohead, &c->otail);
    c->nyields = c->noverflow = 0;
}

static void bcast_free(struct bcast *bc);

static void ctx_free(axle_ctx *c)
{
    bcast_free(c->stream.bc);
    axle__shm_stream_free(c);
    ctx_drop_queued(c);
    axle__call_close(&c->k);
    axle__peer_unref(c->peer);
    axle_buf_free(&c->result);
    axle__error_free(c->done_err);
    axle__error_free(c->remote_err);
    axle__error_free(c->local_err);
    free(c);
}

/* Wait for Started; its payload into first. */
static int wait_started(axle_ctx *c, const char *func, axle_buf *first)
{
    for (;;) {
        axle_msg *m;
        int rc = ctx_next(c, &m, false);
        if (rc < 0)
            return rc;
        int kind = m->env->msg_case;
        const char *what = axle_msg_kind_name(m->env);
        if (kind == AXLE__ENVELOPE__MSG_STARTED) {
            const Axle__Started *st = m->env->started;
            rc = first ? axle_buf_set(first, st->pld.data, st->pld.len) : 0;
            axle_msg_free(m);
            return rc;
        }
        axle_msg_free(m);
        if (kind == AXLE__ENVELOPE__MSG_ERROR) {
            c->done = true;
            c->done_rc = c->remote_rc;
            return axle__error_put_copy(c->remote_err, c->remote_rc);
        }
        if (kind == AXLE__ENVELOPE__MSG_RETURN || kind == AXLE__ENVELOPE__MSG_STOP ||
            kind == AXLE__ENVELOPE__MSG_YIELD) {
            c->done = kind == AXLE__ENVELOPE__MSG_RETURN;
            return AXLE_SET_ERR(-EPROTO,
                                "context %s in %s sent %s before axle_ctx_started: a context "
                                "function must call axle_ctx_started first",
                                func, c->peer_uid.name, what);
        }
    }
}

/* axle_ctx_open up to Started, without the body's scope (the caller opens it). */
static int open_unscoped(axle_portal *pt, const char *func, const void *args, size_t len,
                         axle_ctx **out, axle_buf *first)
{
    *out = NULL;
    if (!A.running)
        return AXLE_SET_ERR(-ENOTCONN, "axle_ctx_open: not inside an actor");
    const axle_uid *peer = axle_portal_uid(pt);
    if (uid_eq(peer, &A.uid))
        return AXLE_SET_ERR(-EINVAL,
                            "axle_ctx_open(%s): invalid operation: a context into "
                            "one's own actor",
                            func);
    axle_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return AXLE_SET_ERR(-ENOMEM, "axle_ctx_open: out of memory");
    c->parent = true;
    axle_event_init(&c->ended);
    c->cap = BUFFER_DEFAULT;
    c->stream.ctx = c;
    c->peer = pt->peer;
    c->peer->refs++;
    c->peer_uid = *peer;
    axle__call_open(&c->k, c->peer);
    c->k.ctx = c;
    c->cid = c->k.cid;

    int functype = 0;
    int rc = axle__call_start_kind(&c->k, func, args, len, &functype);
    c->acked = true;
    /* What came right behind the StartAck is the context's now: the same links. */
    for (struct reply *r = c->k.head; r; r = r->next)
        c->nyields += is_yield(r->msg);
    c->head = c->k.head, c->tail = c->k.tail;
    c->k.head = c->k.tail = NULL;
    if (rc == 0 && functype != AXLE__FUNC_TYPE__FUNC_CONTEXT) {
        /* it is running the plain function for us: the failure below stops it */
        rc = AXLE_SET_ERR(-EPROTO,
                          "%s in %s is a plain function, not a context function: "
                          "call it with axle_portal_run",
                          func, c->peer_uid.name);
    }
    if (rc == 0)
        rc = wait_started(c, func, first);
    if (rc < 0) {
        if (!c->done && !c->remote_err) /* a local failure (cancel, memory): end the child */
            request_cancel(c);
        ctx_free(c);
        return AXLE_ERR_FRAME(rc);
    }
    *out = c;
    return 0;
}

static void scope_in(axle_ctx *c)
{
    axle_scope_open(&c->scope, AXLE_NO_DEADLINE, 0);
    c->scope_open = true;
}

int axle_ctx_open(axle_portal *pt, const char *func, const void *args, size_t len, axle_ctx **out,
                  axle_buf *first)
{
    int rc = open_unscoped(pt, func, args, len, out, first);
    if (rc == 0)
        scope_in(*out);
    return rc;
}

/* ---- several at once (tractor §9 gather_contexts) --------------------------------------- */

struct gather_one {
    const axle_ctx_spec *spec;
    axle_ctx *ctx;
    axle_buf *first;
    int rc;
    struct axle_error *err;
};

static int gather_task(void *arg)
{
    struct gather_one *g = arg;
    g->rc = open_unscoped(g->spec->portal, g->spec->func, g->spec->args, g->spec->len, &g->ctx,
                          g->first);
    g->err = g->rc < 0 ? axle__error_clone_last(g->rc) : NULL;
    return 0;
}

int axle_ctx_gather(const axle_ctx_spec *specs, size_t n, axle_ctx **ctxs, axle_buf *firsts)
{
    if (n == 0)
        return AXLE_SET_ERR(-EINVAL, "axle_ctx_gather: no contexts to open");
    struct gather_one *g = calloc(n, sizeof *g);
    if (!g)
        return AXLE_SET_ERR(-ENOMEM, "axle_ctx_gather: out of memory");
    axle_nursery *nu = NULL;
    int rc = axle_nursery_open(&nu);
    if (rc == 0) {
        for (size_t i = 0; rc == 0 && i < n; i++) {
            g[i] = (struct gather_one){.spec = &specs[i], .first = firsts ? &firsts[i] : NULL};
            axle_task_opts o = {.name = "gather"};
            rc = axle_nursery_start_soon(nu, gather_task, &g[i], &o);
        }
        rc = axle_nursery_close(nu, rc);
    }
    int first_bad = -1;
    for (size_t i = 0; i < n; i++)
        if (g[i].rc < 0 && first_bad < 0)
            first_bad = (int)i;
    if (rc == 0 && first_bad >= 0)
        rc = axle__error_put_copy(g[first_bad].err, g[first_bad].rc);
    for (size_t i = 0; i < n; i++) {
        if (rc < 0 && g[i].ctx) { /* all or none: end the ones that did open */
            struct axle_error *keep = axle__error_take(axle__current());
            g[i].ctx->cancel_called = true;
            request_cancel(g[i].ctx);
            ctx_free(g[i].ctx);
            axle__error_put(axle__current(), keep);
            g[i].ctx = NULL;
        }
        ctxs[i] = g[i].ctx;
        axle__error_free(g[i].err);
    }
    free(g);
    for (size_t i = 0; rc == 0 && i < n; i++)
        scope_in(ctxs[i]); /* in input order: close in reverse (axle_ctx_close_all) */
    return rc;
}

int axle_ctx_close_all(axle_ctx **ctxs, size_t n, int rc)
{
    int out = rc;
    struct axle_error *err = rc < 0 ? axle__error_clone_last(rc) : NULL;
    for (size_t i = n; i-- > 0;) {
        axle__error_put_copy(err, 0); /* each close sees the body's error, as if alone */
        int r = axle_ctx_close(ctxs[i], rc);
        ctxs[i] = NULL;
        if (out == 0 && r < 0) {
            out = r;
            err = axle__error_clone_last(r);
        } else if (r < 0 && r != out) {
            axle_log_warning("axle_ctx_close_all: context %zu also ended with %s", i,
                             axle_errname(r));
        }
    }
    axle__error_put(axle__current(), err);
    return out;
}

int axle_ctx_close(axle_ctx *c, int rc)
{
    if (!c->parent)
        return AXLE_SET_ERR(-EINVAL, "axle_ctx_close: called on the child side of the context");
    if (c->stream.opened && !c->stream.closed)
        axle_stream_close(&c->stream); /* the stream ends before its context */
    struct axle_error *body_err = rc < 0 ? axle__error_clone_last(rc) : NULL;
    if (!body_err && rc < 0 && rc == c->remote_rc && c->remote_err)
        body_err = axle__error_clone(c->remote_err); /* the body returned what a read gave it */
    rc = axle_scope_close(&c->scope, rc);
    c->scope_open = false;
    c->cancelled_caught = axle_scope_cancelled_caught(&c->scope);

    int out;
    if (rc == 0) { /* finished (or our scope's cancel absorbed): the child's outcome */
        out = axle_ctx_result(c, NULL);
        if (out == AXLE_CTX_CANCEL_ACKED)
            out = 0;
        else if (out == -ECANCELED) /* an enclosing scope, while waiting: end the child */
            request_cancel(c);
    } else if (rc == -AXLE_ECTXCANCELLED && c->remote_err && self_cancel_acked(c)) {
        c->cancel_acked = true;
        out = 0;
    } else { /* the body's own error: it wins; the child is cancelled */
        if (!c->local_err) {
            c->local_err = body_err ? axle__error_clone(body_err) : NULL;
            c->local_rc = rc;
        }
        c->cancel_called = true;
        request_cancel(c);
        axle__error_put(axle__current(), body_err ? axle__error_clone(body_err) : NULL);
        out = rc;
    }
    axle__error_free(body_err);
    struct axle_error *keep = out < 0 ? axle__error_take(axle__current()) : NULL;
    ctx_free(c);
    axle__error_put(axle__current(), keep);
    return out;
}

/* ---- the child side ------------------------------------------------------------------- */

int axle_ctx_started(axle_ctx *c, const void *val, size_t len)
{
    if (c->parent)
        return AXLE_SET_ERR(-EINVAL, "axle_ctx_started: called on the parent side of the "
                                     "context; only the child side hands over a first value");
    if (c->started)
        return AXLE_SET_ERR(-EINVAL, "axle_ctx_started: called twice; a context starts once");
    Axle__Started st = AXLE__STARTED__INIT;
    st.cid = c->cid;
    st.pld.data = (uint8_t *)val;
    st.pld.len = len;
    Axle__Envelope env = AXLE__ENVELOPE__INIT;
    env.msg_case = AXLE__ENVELOPE__MSG_STARTED;
    env.started = &st;
    int rc = axle__peer_send(c->peer, &env);
    if (rc == 0)
        c->started = true;
    return rc;
}

/* Who asked the function's task to cancel: itself, a cancel_task's sender, the actor's canceller.
 */
static const axle_uid *child_canceller(const axle_ctx *c)
{
    if (c->cancel_called)
        return &A.uid;
    if (c->rpc->has_requester)
        return &c->rpc->requester;
    if (A.cancel_called)
        return &A.cancel_by;
    return &c->peer_uid; /* the parent went away */
}

int axle__ctx_serve(struct rpc *r, axle_ctx_fn fn, const void *args, size_t len)
{
    axle_ctx c = {.parent = false, .peer = r->peer, .peer_uid = r->peer->uid, .cid = r->cid};
    c.rpc = r;
    axle_event_init(&c.ended);
    c.cap = BUFFER_DEFAULT;
    c.stream.ctx = &c;
    int rc = axle__send_start_ack(r->peer, r->cid, AXLE__FUNC_TYPE__FUNC_CONTEXT);
    if (rc < 0)
        return rc; /* nobody to tell */
    axle_buf ret = {0};
    r->ctx = &c;
    rc = fn(&c, args, len, &ret);
    if (rc == 0 && c.stream.opened && !c.stream.closed)
        stream_stop(&c.stream); /* a return leaves the stream: Stop before the result */
    r->ctx = NULL;
    bcast_free(c.stream.bc);
    axle__shm_stream_free(&c);
    ctx_drop_queued(&c);
    if (rc == 0) {
        axle__send_return(r->peer, r->cid, &ret);
    } else if (rc == -ECANCELED && r->scope && axle_scope_cancel_called(r->scope)) {
        const axle_uid *who = child_canceller(&c);
        char by[96];
        axle_uid_format(who, by, sizeof by);
        if (uid_eq(who, &A.uid))
            AXLE_SET_ERR(-AXLE_ECTXCANCELLED, "context cancelled itself (axle_ctx_cancel in %s)",
                         A.uid.name);
        else
            AXLE_SET_ERR(-AXLE_ECTXCANCELLED, "context in %s cancelled by %s", A.uid.name, by);
        axle__error_set_canceller(who);
        axle__send_error(r->peer, r->cid, -AXLE_ECTXCANCELLED);
    } else {
        axle__send_error(r->peer, r->cid, rc);
    }
    axle_buf_free(&ret);
    return 0;
}

/* ---- streams (§5) ------------------------------------------------------------------------- */

/* Close this side: Stop to the peer (shielded, a dead transport tolerated). */
static void stream_stop(axle_stream *s)
{
    axle_ctx *c = s->ctx;
    s->closed = true;
    if (c->peer->gone)
        return;
    axle__shm_stream_flush(c); /* the data goes before its Stop */
    Axle__Stop st = AXLE__STOP__INIT;
    st.cid = c->cid;
    Axle__Envelope env = AXLE__ENVELOPE__INIT;
    env.msg_case = AXLE__ENVELOPE__MSG_STOP;
    env.stop = &st;
    struct axle_error *keep = axle__error_take(axle__current());
    if (axle__send_shielded(c->peer, &env) < 0)
        axle_log_runtime("context cid %llu: Stop not delivered: %s is gone",
                         (unsigned long long)c->cid, c->peer_uid.name);
    axle__error_put(axle__current(), keep);
}

int axle_ctx_open_stream(axle_ctx *c, const axle_stream_opts *o, axle_stream **out)
{
    *out = NULL;
    if (c->cancel_called && c->remote_err) /* the cancel that arrived, before any misuse */
        return axle__error_put_copy(c->remote_err, c->remote_rc);
    if (c->stream.opened)
        return AXLE_SET_ERR(-EINVAL, "axle_ctx_open_stream: this context's stream was opened "
                                     "already; a stream is one-shot: open a new context");
    if (!c->parent && !c->started)
        return AXLE_SET_ERR(-EINVAL, "axle_ctx_open_stream: called before axle_ctx_started; "
                                     "the child starts the context first");
    if (c->cancel_called)
        return AXLE_SET_ERR(-EINVAL, "axle_ctx_open_stream: stream opened after axle_ctx_cancel");
    /* The buffer first: the peer's messages keep coming while an shm offer waits. */
    if (o && o->msg_buffer_size)
        c->cap = o->msg_buffer_size;
    if (o && o->allow_overruns)
        c->allow_overruns = true;
    int rc = axle__shm_stream_open(c, o);
    if (rc < 0)
        return rc;
    c->stream.opened = true;
    *out = &c->stream;
    return 0;
}

int axle_stream_send(axle_stream *s, const void *data, size_t len)
{
    axle_ctx *c = s->ctx;
    if (s->closed)
        return AXLE_SET_ERR(-AXLE_ECLOSED, "axle_stream_send: this side closed the stream");
    if (c->remote_err)
        return axle__error_put_copy(c->remote_err, c->remote_rc);
    if (c->shm.out)
        return axle__shm_stream_send(c, data, len);
    Axle__Yield y = AXLE__YIELD__INIT;
    y.cid = c->cid;
    y.pld.data = (uint8_t *)data;
    y.pld.len = len;
    Axle__Envelope env = AXLE__ENVELOPE__INIT;
    env.msg_case = AXLE__ENVELOPE__MSG_YIELD;
    env.yield = &y;
    return axle__peer_send_buffered(c->peer, &env);
}

static int stream_take(axle_stream *s, axle_buf *out, bool nowait)
{
    axle_ctx *c = s->ctx;
    if (s->closed)
        return AXLE_SET_ERR(-AXLE_ECLOSED, "receive on a stream this side closed");
    for (;;) {
        if (s->failed)
            return axle__error_put_copy(c->remote_err, c->remote_rc);
        if (s->eoc)
            return AXLE_SET_ERR(-AXLE_EEOC, "end of stream: %s closed its side", c->peer_uid.name);
        /* The ring first: its data precedes whatever is queued (shmstream.c). */
        bool ring = c->shm.in && !c->shm.in_dead;
        int rc = ring ? axle__shm_stream_take(c, out, nowait) : -EAGAIN;
        if (rc != -EAGAIN) {
            if (rc == -ECANCELED && c->remote_err) {
                s->failed = true;
                continue;
            }
            return rc;
        }
        axle_msg *m;
        rc = ctx_next_w(c, &m, nowait || ring, !nowait);
        if (rc == -EAGAIN && !nowait && (!ring || (rc = axle__shm_stream_wait(c)) == 0))
            continue; /* a ring appeared; or a record, a message or a nudge: look again */
        if (rc == -ECANCELED && c->remote_err && !nowait) {
            s->failed = true; /* the error cancelled us before we read it */
            continue;
        }
        if (rc < 0)
            return rc;
        switch (m->env->msg_case) {
        case AXLE__ENVELOPE__MSG_YIELD:
            rc = out ? axle_buf_set(out, m->env->yield->pld.data, m->env->yield->pld.len) : 0;
            axle_msg_free(m);
            return rc;
        case AXLE__ENVELOPE__MSG_STOP:
            s->eoc = true;
            break;
        case AXLE__ENVELOPE__MSG_RETURN: /* end of stream, and the outcome */
            if (c->parent)
                take_return(c, m);
            s->eoc = true;
            break;
        case AXLE__ENVELOPE__MSG_ERROR:
            s->failed = c->remote_err != NULL;
            break;
        default:
            break;
        }
        axle_msg_free(m);
    }
}

int axle_stream_recv(axle_stream *s, axle_buf *out)
{
    if (s->bc) /* subscribed: the stream's own receive is one more subscriber */
        return axle_sub_recv(&s->bc->own, out, NULL);
    return stream_take(s, out, false);
}
int axle_stream_recv_nowait(axle_stream *s, axle_buf *out) { return stream_take(s, out, true); }

axle_stream_transport axle_stream_transport_of(const axle_stream *s)
{
    return s->opened ? s->ctx->shm.used : AXLE_STREAM_AUTO;
}

int axle_stream_close(axle_stream *s)
{
    if (s->closed)
        return 0;
    axle_ctx *c = s->ctx;
    struct axle_error *keep = axle__error_take(axle__current());
    axle_msg *m;
    while (ctx_next(c, &m, true) == 0) { /* what is queued, without raising */
        if (m->env->msg_case == AXLE__ENVELOPE__MSG_RETURN && c->parent)
            take_return(c, m);
        if (m->env->msg_case == AXLE__ENVELOPE__MSG_STOP ||
            m->env->msg_case == AXLE__ENVELOPE__MSG_RETURN)
            s->eoc = true;
        axle_msg_free(m);
    }
    axle__error_put(axle__current(), keep);
    stream_stop(s);
    return 0;
}

/* ---- broadcast (tractor §9) ------------------------------------------------------------- */

#define SUB_BUFFER_DEFAULT 64

static void bcast_signal(struct bcast *bc)
{
    axle_event_set(&bc->changed);
    axle_event_init(&bc->changed);
}

static void sub_link(struct bcast *bc, struct axle_sub *sub, const axle_sub_opts *o)
{
    *sub = (struct axle_sub){
        .bc = bc, .pos = bc->next_seq, .raise_on_lag = !(o && o->no_raise_on_lag)};
    sub->next = bc->subs;
    bc->subs = sub;
}

static void sub_unlink(struct axle_sub *sub)
{
    for (struct axle_sub **p = &sub->bc->subs; *p; p = &(*p)->next)
        if (*p == sub) {
            *p = sub->next;
            break;
        }
    sub->closed = true;
}

static void bcast_free(struct bcast *bc)
{
    if (!bc)
        return;
    for (size_t i = 0; i < bc->cap; i++)
        axle_buf_free(&bc->ring[i]);
    free(bc->ring);
    axle__error_free(bc->end_err);
    for (struct axle_sub *s = bc->subs; s; s = s->next)
        s->bc = NULL, s->closed = true;
    /* Subscribers parked for a value wake to -AXLE_ECLOSED; woken waiters
     * never touch the event again, so it may go with bc. */
    axle_event_set(&bc->changed);
    free(bc);
}

int axle_stream_subscribe(axle_stream *s, const axle_sub_opts *o, axle_sub **out)
{
    *out = NULL;
    if (s->closed)
        return AXLE_SET_ERR(-AXLE_ECLOSED, "axle_stream_subscribe: the stream is closed");
    if (!s->bc) {
        struct bcast *bc = calloc(1, sizeof *bc);
        size_t cap = o && o->max_buffer ? o->max_buffer : SUB_BUFFER_DEFAULT;
        if (bc && !(bc->ring = calloc(cap, sizeof *bc->ring))) {
            free(bc);
            bc = NULL;
        }
        if (!bc)
            return AXLE_SET_ERR(-ENOMEM, "axle_stream_subscribe: out of memory");
        bc->stream = s;
        bc->cap = cap;
        axle_event_init(&bc->changed);
        sub_link(bc, &bc->own, NULL);
        s->bc = bc;
    }
    struct axle_sub *sub = malloc(sizeof *sub);
    if (!sub)
        return AXLE_SET_ERR(-ENOMEM, "axle_stream_subscribe: out of memory");
    sub_link(s->bc, sub, o);
    *out = sub;
    return 0;
}

int axle_sub_recv(axle_sub *sub, axle_buf *out, uint64_t *missed)
{
    if (missed)
        *missed = 0;
    if (sub->closed || !sub->bc)
        return AXLE_SET_ERR(-AXLE_ECLOSED, "receive on a closed subscription");
    struct bcast *bc = sub->bc;
    for (;;) {
        uint64_t oldest = bc->next_seq > bc->cap ? bc->next_seq - bc->cap : 0;
        if (sub->pos < oldest) { /* overtaken: resume at the oldest value kept */
            uint64_t lost = oldest - sub->pos;
            sub->pos = oldest;
            if (sub->raise_on_lag) {
                if (missed)
                    *missed = lost;
                return AXLE_SET_ERR(-AXLE_ELAGGED,
                                    "subscriber fell %llu values behind (the buffer keeps %zu); "
                                    "it resumes at the oldest one kept",
                                    (unsigned long long)lost, bc->cap);
            }
            axle_log_warning("subscriber lagged: %llu values skipped", (unsigned long long)lost);
        }
        if (sub->pos < bc->next_seq) {
            const axle_buf *v = &bc->ring[sub->pos % bc->cap];
            int rc = out ? axle_buf_set(out, v->data, v->len) : 0;
            if (rc == 0)
                sub->pos++;
            return rc;
        }
        if (bc->end_rc) /* the stream ended: every caught-up subscriber sees it */
            return axle__error_put_copy(bc->end_err, bc->end_rc);
        int rc;
        if (!bc->reading) { /* nobody reads the stream: this task does */
            bc->reading = true;
            rc = stream_take(bc->stream, &bc->ring[bc->next_seq % bc->cap], false);
            bc->reading = false;
            if (rc == 0) {
                bc->next_seq++;
            } else if (rc != -ECANCELED) {
                bc->end_rc = rc;
                bc->end_err = axle__error_clone_last(rc);
            }
            bcast_signal(bc); /* a value, an end, or a reader gone: the others look again */
            if (rc == -ECANCELED)
                return rc; /* another subscriber takes over */
            if (rc == 0 && bc->subs->next && (rc = axle_checkpoint()) < 0)
                return rc; /* let the others copy it before this task reads on */
            continue;
        }
        if ((rc = axle_event_wait(&bc->changed)) < 0)
            return rc;
        if (sub->closed || !sub->bc)
            return AXLE_SET_ERR(-AXLE_ECLOSED, "the subscription was closed while waiting");
    }
}

int axle_sub_send(axle_sub *sub, const void *data, size_t len)
{
    if (sub->closed || !sub->bc)
        return AXLE_SET_ERR(-AXLE_ECLOSED, "send on a closed subscription");
    return axle_stream_send(sub->bc->stream, data, len);
}

int axle_sub_close(axle_sub *sub)
{
    if (sub->bc)
        sub_unlink(sub);
    free(sub);
    return 0;
}

void axle__ctx_break_transport(axle_ctx *c)
{
    if (!c->peer->gone && c->peer->conn)
        shutdown(axle_conn_fd(c->peer->conn), SHUT_RDWR);
}

/* ---- state ------------------------------------------------------------------------------ */

bool axle_ctx_is_parent(const axle_ctx *c) { return c->parent; }
const axle_uid *axle_ctx_peer(const axle_ctx *c) { return &c->peer_uid; }
bool axle_ctx_cancel_called(const axle_ctx *c) { return c->cancel_called; }
bool axle_ctx_cancel_acked(const axle_ctx *c) { return c->cancel_acked; }
bool axle_ctx_cancelled_caught(const axle_ctx *c)
{
    return c->scope_open ? axle_scope_cancel_called(&c->scope) : c->cancelled_caught;
}

const axle_uid *axle_ctx_canceller(const axle_ctx *c)
{
    if (!c->parent && !c->has_canceller && c->rpc && c->rpc->scope &&
        axle_scope_cancel_called(c->rpc->scope))
        return child_canceller(c);
    return c->has_canceller ? &c->canceller : NULL;
}

const axle_error *axle_ctx_remote_error(const axle_ctx *c) { return c->remote_err; }
const axle_error *axle_ctx_local_error(const axle_ctx *c) { return c->local_err; }

int axle_ctx_outcome(const axle_ctx *c)
{
    if (c->done)
        return c->done_rc == AXLE_CTX_CANCEL_ACKED ? c->local_rc : c->done_rc;
    if (c->remote_err)
        return c->remote_rc;
    if (c->local_err)
        return c->local_rc;
    return 1;
}
