/*
 * core/actor/portal.c — calls to other actors: RPC over a peer's channel.
 *
 * A call is one cid on one peer. The peer's message loop delivers every
 * frame carrying that cid into the call's queue without ever blocking (the
 * queue is unbounded, but an RPC gets at most two replies); the caller
 * takes them in order. When the peer goes away every open call is failed
 * with the transport's code, so no caller waits on a dead actor.
 *
 * Cancelling a caller cancels the remote task: a best-effort
 * self.cancel_task request with the call's cid is sent (shielded) before
 * the caller's -ECANCELED returns.
 */
#include "actor_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

uint64_t axle__cid_new(void)
{
    if (!A.next_cid) /* start at a random point: bytes 8-15 of our v4 uuid (62 random bits) */
        memcpy(&A.next_cid, A.uid.uuid + 8, sizeof A.next_cid);
    if (!++A.next_cid)
        ++A.next_cid; /* 0 means "not started" */
    return A.next_cid;
}

void axle__call_open(struct call *k, struct peer *p)
{
    memset(k, 0, sizeof *k);
    k->cid = axle__cid_new();
    k->peer = p;
    k->gone = p->gone ? -AXLE_ETRANSPORT : 0;
    k->next = p->calls;
    if (p->calls)
        p->calls->prev = k;
    p->calls = k;
}

void axle__call_close(struct call *k)
{
    struct peer *p = k->peer;
    if (k->prev)
        k->prev->next = k->next;
    else if (p->calls == k)
        p->calls = k->next;
    if (k->next)
        k->next->prev = k->prev;
    k->prev = k->next = NULL;
    reply_drop_all(&k->head, &k->tail);
}

static int call_abort(axle_task *t, void *data)
{
    (void)t;
    struct call *k = data;
    k->waiter = NULL;
    return AXLE__ABORT_SUCCEEDED;
}

int axle__call_next(struct call *k, axle_msg **out)
{
    *out = NULL;
    int rc = axle__checkpoint();
    if (rc < 0)
        return rc;
    while (!k->head && !k->gone) {
        k->waiter = axle__current();
        rc = axle__park(call_abort, k);
        k->waiter = NULL;
        if (rc < 0)
            return rc;
    }
    if (!k->head) {
        char who[96];
        axle_uid_format(&k->peer->uid, who, sizeof who);
        return AXLE_SET_ERR(k->gone, "actor %s went away before replying", who);
    }
    struct reply *r = reply_shift(&k->head, &k->tail);
    *out = r->msg;
    free(r);
    return 0;
}

static void wake(struct call *k)
{
    if (k->waiter) {
        axle_task *t = k->waiter;
        k->waiter = NULL;
        axle__wake(t, 0);
    }
}

bool axle__call_deliver(struct peer *p, uint64_t cid, axle_msg *m)
{
    for (struct call *k = p->calls; k; k = k->next) {
        if (k->cid != cid)
            continue;
        if (k->ctx && axle__ctx_on_msg(k->ctx, m))
            return true; /* the context's queue has it */
        struct reply *r = malloc(sizeof *r);
        if (!r) { /* the caller would wait forever: fail it instead */
            axle_msg_free(m);
            k->gone = -ENOMEM;
            wake(k);
            return true;
        }
        r->msg = m;
        reply_append(&k->head, &k->tail, r);
        wake(k);
        return true;
    }
    return false;
}

void axle__calls_fail(struct peer *p, int code)
{
    for (struct call *k = p->calls; k; k = k->next) {
        k->gone = code;
        wake(k);
        if (k->ctx)
            axle__ctx_wake(k->ctx);
    }
}

/* An Error reply as the caller's error; any other unexpected kind as -EPROTO. */
static int unexpected(axle_msg *m, const char *want)
{
    int rc;
    if (m->env->msg_case == AXLE__ENVELOPE__MSG_ERROR)
        rc = axle__rerr_raise(m->env->error);
    else
        rc = AXLE_SET_ERR(-EPROTO, "expected %s, got %s", want, axle_msg_kind_name(m->env));
    axle_msg_free(m);
    return rc;
}

int axle__call_start(struct call *k, const char *func, const void *args, size_t len)
{
    int functype;
    return axle__call_start_kind(k, func, args, len, &functype);
}

int axle__call_start_kind(struct call *k, const char *func, const void *args, size_t len,
                          int *functype)
{
    *functype = 0;
    const char *dot = strrchr(func, '.');
    if (!dot || dot == func)
        return AXLE_SET_ERR(-EINVAL, "'%s' is not \"ns.func\"", func);
    char ns[256];
    size_t nl = (size_t)(dot - func);
    if (nl >= sizeof ns)
        return AXLE_SET_ERR(-EINVAL, "namespace of '%s' is too long", func);
    memcpy(ns, func, nl);
    ns[nl] = 0;
    Axle__Uid me = axle__uid_msg(&A.uid);
    Axle__Start st = AXLE__START__INIT;
    st.cid = k->cid;
    st.ns = ns;
    st.func = (char *)dot + 1;
    st.kwargs.data = (uint8_t *)args;
    st.kwargs.len = len;
    st.uid = &me;
    Axle__Envelope env = AXLE__ENVELOPE__INIT;
    env.msg_case = AXLE__ENVELOPE__MSG_START;
    env.start = &st;
    int rc = axle__peer_send(k->peer, &env);
    if (rc < 0)
        return rc;
    axle_msg *m;
    if ((rc = axle__call_next(k, &m)) < 0)
        return rc;
    if (m->env->msg_case != AXLE__ENVELOPE__MSG_START_ACK)
        return unexpected(m, "start_ack");
    *functype = m->env->start_ack->functype;
    axle_msg_free(m);
    return 0;
}

int axle__call_result(struct call *k, axle_buf *ret)
{
    axle_msg *m;
    int rc = axle__call_next(k, &m);
    if (rc < 0)
        return rc;
    if (m->env->msg_case != AXLE__ENVELOPE__MSG_RETURN)
        return unexpected(m, "return");
    rc = ret ? axle_buf_set(ret, m->env->return_->pld.data, m->env->return_->pld.len) : 0;
    axle_msg_free(m);
    return rc;
}

void axle__cancel_remote_task(struct peer *p, uint64_t cid, int64_t timeout_ns)
{
    axle_scope sc;
    axle_scope_open(&sc, axle__deadline_after(timeout_ns), AXLE_SCOPE_SHIELD);
    Axle__Uid me = axle__uid_msg(&A.uid);
    uint8_t arg[8];
    for (int i = 0; i < 8; i++)
        arg[i] = (uint8_t)(cid >> (8 * i));
    Axle__Start st = AXLE__START__INIT;
    st.cid = axle__cid_new();
    st.ns = "self";
    st.func = "cancel_task";
    st.kwargs.data = arg;
    st.kwargs.len = sizeof arg;
    st.uid = &me;
    Axle__Envelope env = AXLE__ENVELOPE__INIT;
    env.msg_case = AXLE__ENVELOPE__MSG_START;
    env.start = &st;
    axle_scope_close(&sc, axle__peer_send(p, &env));
}

int axle_portal_run(axle_portal *pt, const char *func, const void *args, size_t len, axle_buf *ret)
{
    struct call k;
    axle__call_open(&k, pt->peer);
    int rc = axle__call_start(&k, func, args, len);
    if (rc == 0)
        rc = axle__call_result(&k, ret);
    if (rc == -ECANCELED && !pt->peer->gone)
        axle__cancel_remote_task(pt->peer, k.cid, A.opts.cancel_ack_ns);
    axle__call_close(&k);
    return rc;
}

int axle__request_cancel(struct peer *p, int64_t timeout_ns)
{
    if (p->gone)
        return 0;
    axle_scope sc;
    axle_scope_open(&sc, axle__deadline_after(timeout_ns), AXLE_SCOPE_SHIELD);
    struct call k;
    axle__call_open(&k, p);
    Axle__Uid me = axle__uid_msg(&A.uid);
    Axle__Start st = AXLE__START__INIT;
    st.cid = k.cid;
    st.ns = "self";
    st.func = "cancel";
    st.uid = &me;
    Axle__Envelope env = AXLE__ENVELOPE__INIT;
    env.msg_case = AXLE__ENVELOPE__MSG_START;
    env.start = &st;
    int acked = 0;
    int rc = axle__peer_send(p, &env);
    while (rc == 0) {
        axle_msg *m;
        if ((rc = axle__call_next(&k, &m)) < 0)
            break;
        bool ack = m->env->msg_case == AXLE__ENVELOPE__MSG_CANCEL_ACK;
        axle_msg_free(m);
        if (ack) {
            acked = 1;
            break;
        }
    }
    axle__call_close(&k);
    axle_scope_close(&sc, rc);
    return acked;
}

int axle_portal_cancel_actor(axle_portal *pt, int64_t timeout_ns)
{
    return axle__request_cancel(pt->peer, timeout_ns > 0 ? timeout_ns : A.opts.cancel_ack_ns);
}

const axle_uid *axle_portal_uid(const axle_portal *pt) { return &pt->uid; }

void axle__portal_init(axle_portal *pt, struct peer *p)
{
    memset(pt, 0, sizeof *pt);
    pt->peer = p;
    p->refs++;
    pt->uid = p->uid;
    axle_event_init(&pt->result_ready);
}

void axle__portal_fini(axle_portal *pt)
{
    if (pt->main_open)
        axle__call_close(&pt->main);
    axle_buf_free(&pt->result);
    axle__error_free(pt->result_err);
    axle__peer_unref(pt->peer);
}

int axle__portal_resolve(axle_portal *pt)
{
    if (pt->result_done)
        return pt->result_rc;
    if (pt->resolving) { /* another task is on it: wait for its outcome */
        int rc = axle_event_wait(&pt->result_ready);
        return rc < 0 ? rc : pt->result_rc;
    }
    pt->resolving = true;
    int rc = axle__call_result(&pt->main, &pt->result);
    pt->resolving = false;
    if (rc == -ECANCELED)
        return rc; /* not resolved: a later call tries again */
    pt->result_rc = rc;
    if (rc < 0)
        pt->result_err = axle__error_take(axle__current());
    pt->result_done = true;
    axle__call_close(&pt->main);
    pt->main_open = false;
    axle_event_set(&pt->result_ready);
    return rc;
}

int axle_portal_result(axle_portal *pt, axle_buf *ret)
{
    if (!pt->has_main)
        return AXLE_SET_ERR(-EINVAL, "axle_portal_result: not a run_in_actor portal");
    int rc = axle__portal_resolve(pt);
    if (rc == -ECANCELED)
        return rc;
    if (rc < 0) {
        if (pt->result_err) /* a copy for the caller; the portal keeps its own */
            axle__error_put(axle__current(), axle__error_clone(pt->result_err));
        return rc;
    }
    return ret ? axle_buf_set(ret, pt->result.data, pt->result.len) : 0;
}
