/*
 * core/sync/sem.c — axle_sem, trio's Semaphore: a counter with an optional
 * upper bound.
 *
 * Fairness is by hand-off: a release with tasks parked gives the unit
 * straight to the first of them (the value stays 0) instead of raising the
 * value for whoever runs next, so waiters are served in FIFO order and a
 * releasing task cannot take the unit back before them.
 *
 * Invariant: tasks are parked only while the value is 0.
 *
 * The bound is checked before the hand-off, as trio does: with waiters the
 * value is 0, which is below any bound, so a hand-off never overflows.
 */
#include <stdint.h>
#include <stdlib.h>

#include "sync.h"

void axle_sem_init(axle_sem *s, size_t initial, size_t max)
{
    if (max && initial > max) {
        axle_log_critical("axle_sem_init: initial value %zu is above max %zu", initial, max);
        abort();
    }
    axle__waitq_init(AXLE__SYNC_Q(s));
    s->value_ = initial;
    s->max_ = max;
}

int axle_sem_acquire(axle_sem *s)
{
    int rc = axle__checkpoint();
    if (rc < 0)
        return rc;
    if (s->value_ > 0) {
        s->value_--;
        return 0;
    }
    /* On 0 a release handed us its unit; the value stayed 0. */
    axle__waiter w = {0};
    return axle__waitq_park(AXLE__SYNC_Q(s), &w);
}

int axle_sem_try_acquire(axle_sem *s)
{
    if (s->value_ == 0)
        return -EAGAIN;
    s->value_--;
    return 0;
}

int axle_sem_release(axle_sem *s)
{
    size_t limit = s->max_ ? s->max_ : SIZE_MAX; /* unbounded still cannot wrap */
    if (s->value_ >= limit)
        return AXLE_SET_ERR(-EOVERFLOW, "semaphore released past its max %zu", limit);
    axle__waiter *w = axle__waitq_pop(AXLE__SYNC_Q(s));
    if (w)
        axle__wake(w->task, 0);
    else
        s->value_++;
    return 0;
}

size_t axle_sem_value(const axle_sem *s) { return s->value_; }
