/*
 * core/sync/lock.c — axle_lock, trio's Lock: fair, not reentrant, owned.
 *
 * Fairness is by hand-off: axle_lock_release does not merely mark the lock
 * free, it makes the first parked waiter the owner before waking it. A task
 * that releases and at once acquires again therefore queues behind the
 * waiters instead of barging past them, and a woken waiter never finds the
 * lock taken.
 *
 * Invariant: waiters are parked only while the lock has an owner (a release
 * with waiters hands the lock on, it never leaves it free).
 *
 * The wait queue may also hold condition waiters that axle_cond_notify moved
 * here (see cond.c); they carry their own abort and are woken exactly like
 * lock waiters, owning the lock.
 *
 * An uncontended acquire does not yield: only a wait parks.
 */
#include "sync.h"

void axle_lock_init(axle_lock *l)
{
    axle__waitq_init(AXLE__SYNC_Q(l));
    l->owner_ = NULL;
}

int axle_lock_acquire(axle_lock *l)
{
    int rc = axle__checkpoint();
    if (rc < 0)
        return rc;
    axle_task *self = axle__current();
    if (l->owner_ == self)
        return AXLE_SET_ERR(-EDEADLK, "lock already held by task %s", axle_task_name(self));
    if (!l->owner_) {
        l->owner_ = self;
        return 0;
    }
    /* On 0 the releaser has already made us the owner. */
    axle__waiter w = {0};
    return axle__waitq_park(AXLE__SYNC_Q(l), &w);
}

int axle_lock_try_acquire(axle_lock *l)
{
    axle_task *self = axle__current();
    if (l->owner_ == self)
        return AXLE_SET_ERR(-EDEADLK, "lock already held by task %s", axle_task_name(self));
    if (l->owner_)
        return -EAGAIN;
    l->owner_ = self;
    return 0;
}

int axle_lock_release(axle_lock *l)
{
    axle_task *self = axle__current();
    if (l->owner_ != self)
        return AXLE_SET_ERR(-EPERM, "task %s releases a lock it does not hold",
                            axle_task_name(self));
    axle__waiter *w = axle__waitq_pop(AXLE__SYNC_Q(l));
    l->owner_ = w ? w->task : NULL;
    if (w)
        axle__wake(w->task, 0);
    return 0;
}

bool axle_lock_locked(const axle_lock *l) { return l->owner_ != NULL; }
