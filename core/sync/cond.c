/*
 * core/sync/cond.c — axle_cond, trio's Condition: wait for a notify while
 * holding a lock.
 *
 * axle_cond_wait releases the lock and parks on the condition's queue.
 * axle_cond_notify (which needs the lock) does not wake the waiters it
 * picks: it moves them, in FIFO order, to the tail of the lock's queue,
 * where they stay parked. Each is then woken by a lock release that hands
 * it the lock (see lock.c), so a notified task returns owning the lock and
 * a notify_all does not stampede: the waiters take the lock one by one.
 *
 * A waiter therefore sits in one of two queues over its life; its abort
 * unhooks it from whichever one it is in now (cond_waiter.q). A cancelled
 * wait re-acquires the lock inside a shielded scope before it returns
 * -ECANCELED, so the caller holds the lock on every return.
 *
 * Races ruled out: a waiter that was handed the lock and then cancelled
 * before it ran returns 0 owning the lock (the wake came first, the abort
 * is not called); a cancelled waiter is never handed the lock, because it
 * left the lock's queue in its abort.
 */
#include <stdlib.h>

#include "sync.h"

/* A task parked in axle_cond_wait. Lives on that task's stack. */
typedef struct cond_waiter {
    axle__waiter w; /* the queue link; w.task is the waiting task */
    axle__waitq *q; /* the queue w is in now: the condition's, then its lock's after notify */
} cond_waiter;

static int cond_abort(axle_task *t, void *data)
{
    (void)t;
    cond_waiter *cw = data;
    axle__waitq_remove(cw->q, &cw->w);
    return AXLE__ABORT_SUCCEEDED;
}

void axle_cond_init(axle_cond *c, axle_lock *lock)
{
    axle__waitq_init(AXLE__SYNC_Q(c));
    c->lock_ = lock;
}

int axle_cond_wait(axle_cond *c)
{
    int rc = axle__checkpoint();
    if (rc < 0)
        return rc;
    axle_task *self = axle__current();
    if (c->lock_->owner_ != self)
        return AXLE_SET_ERR(-EPERM, "axle_cond_wait without holding the lock");

    cond_waiter cw = {.w = {.task = self}, .q = AXLE__SYNC_Q(c)};
    axle__waitq_push(cw.q, &cw.w);
    axle_lock_release(c->lock_);
    rc = axle__park(cond_abort, &cw);
    if (rc == 0)
        return 0; /* a release handed us the lock */

    /* Cancelled: we hold nothing. Take the lock back whatever happens. */
    axle_scope sc;
    axle_scope_open(&sc, AXLE_NO_DEADLINE, AXLE_SCOPE_SHIELD);
    int arc = axle_lock_acquire(c->lock_);
    arc = axle_scope_close(&sc, arc);
    if (arc < 0) {
        axle_log_critical("axle_cond_wait: shielded re-acquire failed: %s", axle_strerror(arc));
        abort();
    }
    return rc;
}

int axle_cond_notify(axle_cond *c, size_t n)
{
    axle_task *self = axle__current();
    if (c->lock_->owner_ != self)
        return AXLE_SET_ERR(-EPERM, "axle_cond_notify without holding the lock");
    axle__waitq *lq = AXLE__SYNC_Q(c->lock_);
    axle__waiter *w;
    while (n > 0 && (w = axle__waitq_pop(AXLE__SYNC_Q(c)))) {
        cond_waiter *cw = AXLE__CONTAINER_OF(w, cond_waiter, w);
        axle__waitq_push(lq, w);
        cw->q = lq;
        n--;
    }
    return 0;
}

int axle_cond_notify_all(axle_cond *c) { return axle_cond_notify(c, SIZE_MAX); }
