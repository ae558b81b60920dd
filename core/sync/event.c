/*
 * core/sync/event.c — axle_event, trio's Event: a one-shot flag.
 *
 * Guarantees: axle_event_set wakes every task parked in axle_event_wait at
 * that moment, in the order they parked, and every later wait returns at
 * once; the flag never goes back. A wait on a set event still yields once
 * (axle_checkpoint), so a loop that waits on a set event cannot starve the
 * other tasks.
 *
 * Races ruled out: a waiter that is cancelled after set has popped it is
 * not aborted any more (axle__wake made it runnable), so it returns 0, the
 * event being set; a waiter cancelled before set is unhooked by the wait
 * queue's abort and set never sees it.
 */
#include "sync.h"

void axle_event_init(axle_event *ev)
{
    axle__waitq_init(AXLE__SYNC_Q(ev));
    ev->set_ = false;
}

void axle_event_set(axle_event *ev)
{
    if (ev->set_)
        return;
    ev->set_ = true;
    axle__waiter *w;
    while ((w = axle__waitq_pop(AXLE__SYNC_Q(ev))))
        axle__wake(w->task, 0);
}

bool axle_event_is_set(const axle_event *ev) { return ev->set_; }

int axle_event_wait(axle_event *ev)
{
    int rc = axle__checkpoint();
    if (rc < 0)
        return rc;
    if (ev->set_)
        return axle_checkpoint();
    axle__waiter w = {0};
    return axle__waitq_park(AXLE__SYNC_Q(ev), &w);
}
