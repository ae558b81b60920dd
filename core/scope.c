/*
 * core/scope.c — cancel scopes: trio's cancellation, level-triggered.
 *
 * Scopes form one tree per scheduler. A task's scopes nest from its root
 * link (task->root), which hangs under the scope of the nursery the task
 * belongs to; so cancelling a nursery's scope reaches every scope of every
 * task inside it. A shielded scope cuts the tree: cancellation from above
 * does not pass it, its own does.
 *
 * What it guarantees:
 * - A task is cancelled when some scope on its chain (innermost outwards,
 *   stopping after the first shielded one) is cancelled. Every checkpoint
 *   then fails with -ECANCELED until the task leaves those scopes.
 * - Cancelling a scope aborts, once, the park of every task whose innermost
 *   scope lies in the newly cancelled, unshielded part of the subtree.
 *   Removing a shield does the same for the part it was shielding.
 * - axle_scope_close absorbs -ECANCELED only when this scope is cancelled
 *   and no outer cancellation is visible from it (trio's rule), so an outer
 *   cancel always passes through to the scope that owns it.
 * - Deadlines are timers in the scheduler's heap; a deadline already past
 *   at open or set_deadline cancels at once.
 *
 * Fast path: axle__ncancelled counts open cancelled scopes; while it is 0
 * (the usual case) a checkpoint does not walk the chain at all.
 */
#include "task_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

void axle__scope_link(axle_scope *node, axle_scope *parent)
{
    node->parent_ = parent;
    node->prev_ = NULL;
    node->next_ = parent ? parent->first_child_ : NULL;
    if (node->next_)
        node->next_->prev_ = node;
    if (parent)
        parent->first_child_ = node;
}

void axle__scope_unlink(axle_scope *node)
{
    axle_scope *p = node->parent_;
    if (node->prev_)
        node->prev_->next_ = node->next_;
    else if (p)
        p->first_child_ = node->next_;
    if (node->next_)
        node->next_->prev_ = node->prev_;
    node->parent_ = node->prev_ = node->next_ = NULL;
}

axle_scope *axle__cancel_source(const axle_task *t)
{
    for (axle_scope *s = t->cur; s; s = s->parent_) {
        if (s->flags_ & SCOPE_CANCELLED)
            return s;
        if (s->flags_ & AXLE_SCOPE_SHIELD)
            return NULL;
    }
    return NULL;
}

int axle__cancelled(axle_task *t)
{
    (void)t;
    return -ECANCELED;
}

/* Is a cancellation from outside sc visible inside it? */
static bool outer_visible(const axle_scope *sc)
{
    if (sc->flags_ & AXLE_SCOPE_SHIELD)
        return false;
    for (const axle_scope *p = sc->parent_; p; p = p->parent_) {
        if (p->flags_ & SCOPE_CANCELLED)
            return true;
        if (p->flags_ & AXLE_SCOPE_SHIELD)
            return false;
    }
    return false;
}

static axle_scope *unshielded(axle_scope *s)
{
    while (s && (s->flags_ & AXLE_SCOPE_SHIELD))
        s = s->next_;
    return s;
}

/* Abort the parks of tasks whose innermost scope is in top's unshielded subtree. */
static void abort_tree(axle_scope *top)
{
    axle_scope *node = top;
    for (;;) {
        if (node->task_ && node->task_->cur == node)
            axle__task_abort(node->task_);
        axle_scope *child = unshielded(node->first_child_);
        if (child) {
            node = child;
            continue;
        }
        while (node != top) {
            axle_scope *sib = unshielded(node->next_);
            if (sib) {
                node = sib;
                break;
            }
            node = node->parent_;
        }
        if (node == top)
            return;
    }
}

void axle_scope_open(axle_scope *sc, int64_t deadline, unsigned flags)
{
    axle_task *t = axle__current();
    sc->first_child_ = NULL;
    sc->task_ = t;
    sc->deadline_ = AXLE_NO_DEADLINE;
    sc->heap_index_ = SIZE_MAX;
    sc->flags_ = (flags & 0xffu) | SCOPE_OPEN;
    axle__scope_link(sc, t->cur);
    t->cur = sc;
    axle_scope_set_deadline(sc, deadline);
}

int axle_scope_close(axle_scope *sc, int rc)
{
    axle_task *t = axle__current();
    if (t->cur != sc || !(sc->flags_ & SCOPE_OPEN)) {
        fprintf(stderr,
                "axle: task '%s' closed a cancel scope that is not its innermost open one\n",
                axle_task_name(t));
        abort();
    }
    axle__timer_del(sc);
    if (sc->flags_ & SCOPE_CANCELLED) {
        axle__ncancelled--;
        if (rc == -ECANCELED && !outer_visible(sc)) {
            sc->flags_ |= SCOPE_CAUGHT;
            rc = (sc->flags_ & AXLE_SCOPE_FAIL_AFTER) && (sc->flags_ & SCOPE_FIRED)
                     ? AXLE_SET_ERR(-ETIMEDOUT, "deadline exceeded")
                     : 0;
        }
    }
    t->cur = sc->parent_;
    axle__scope_unlink(sc);
    sc->flags_ &= ~SCOPE_OPEN;
    return rc;
}

void axle_scope_cancel(axle_scope *sc)
{
    if (!(sc->flags_ & SCOPE_OPEN) || (sc->flags_ & SCOPE_CANCELLED))
        return;
    sc->flags_ |= SCOPE_CANCELLED;
    axle__ncancelled++;
    axle__timer_del(sc);
    abort_tree(sc);
}

void axle_scope_set_deadline(axle_scope *sc, int64_t deadline)
{
    axle__timer_del(sc);
    sc->deadline_ = deadline;
    if (deadline == AXLE_NO_DEADLINE || (sc->flags_ & SCOPE_CANCELLED) ||
        !(sc->flags_ & SCOPE_OPEN))
        return;
    if (deadline <= axle_now()) {
        sc->flags_ |= SCOPE_FIRED;
        axle_scope_cancel(sc);
    } else {
        axle__timer_add(sc);
    }
}

int64_t axle_scope_deadline(const axle_scope *sc) { return sc->deadline_; }

void axle_scope_set_shield(axle_scope *sc, bool shield)
{
    if (shield) {
        sc->flags_ |= AXLE_SCOPE_SHIELD;
        return;
    }
    sc->flags_ &= ~(unsigned)AXLE_SCOPE_SHIELD;
    if ((sc->flags_ & SCOPE_OPEN) && outer_visible(sc))
        abort_tree(sc);
}

bool axle_scope_cancel_called(const axle_scope *sc) { return sc->flags_ & SCOPE_CANCELLED; }
bool axle_scope_cancelled_caught(const axle_scope *sc) { return sc->flags_ & SCOPE_CAUGHT; }
