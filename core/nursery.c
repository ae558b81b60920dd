/*
 * core/nursery.c — nurseries: every task has a parent that outlives it.
 *
 * What it guarantees:
 * - axle_nursery_close returns only after every task of the nursery has
 *   finished, whatever happens: a cancel of the closing task only cancels
 *   the nursery's scope (and so its tasks) and the wait goes on.
 * - The first error (a task's, or the body's passed to close) cancels the
 *   nursery's scope, hence every sibling and the body. Every error is kept,
 *   each with its rich error; close reports one as itself and several as an
 *   -AXLE_EGROUP listing each in the order they happened. -ECANCELED from
 *   tasks is not an error: it is the nursery's own cancellation (absorbed
 *   by its scope) or an outer one (passed through).
 * - axle_nursery_start runs the new task under a temporary scope opened in
 *   the caller, so until it reports started it is cancelled with the caller;
 *   axle_started moves its root link under the nursery's scope, and from
 *   then on it is the nursery's like any other task.
 */
#include "task_int.h"

#include <errno.h>
#include <stdlib.h>

struct axle_nursery {
    axle_scope scope;         /* the body and every task run inside it */
    axle_task *owner;         /* the task that opened it (and must close it) */
    axle_task *first_child;   /* live tasks, linked by sib_prev/sib_next */
    size_t nchildren;         /* Invariant: the length of that list */
    size_t npending;          /* axle_nursery_start calls not yet resolved */
    axle_task *closer;        /* owner parked in close, or NULL */
    struct axle_error **errs; /* errors in order (owned) */
    size_t nerrs, errs_cap;
    bool saw_cancel; /* some task (or the body) ended with -ECANCELED */
};

/* Keep an error: takes e (may be NULL, then a bare one is made for code). */
static void add_error(axle_nursery *n, int code, struct axle_error *e)
{
    if (!e)
        e = axle__error_new(code, NULL);
    if (n->nerrs == n->errs_cap) {
        size_t cap = n->errs_cap ? n->errs_cap * 2 : 4;
        struct axle_error **v = realloc(n->errs, cap * sizeof *v);
        if (!v) { /* keep the first errors; the count still says there were more */
            axle__error_free(e);
            return;
        }
        n->errs = v;
        n->errs_cap = cap;
    }
    n->errs[n->nerrs++] = e;
}

/* The task's rich error if it describes rc, else NULL (freed). */
static struct axle_error *error_for(axle_task *t, int rc)
{
    struct axle_error *e = axle__error_take(t);
    if (e && axle_error_code(e) != rc) {
        axle__error_free(e);
        e = NULL;
    }
    return e;
}

static void child_link(axle_nursery *n, axle_task *t)
{
    t->nursery = n;
    t->sib_prev = NULL;
    t->sib_next = n->first_child;
    if (n->first_child)
        n->first_child->sib_prev = t;
    n->first_child = t;
    n->nchildren++;
}

int axle_nursery_open(axle_nursery **out)
{
    axle_task *t = axle__current();
    axle_nursery *n = calloc(1, sizeof *n);
    if (!n)
        return AXLE_SET_ERR(-ENOMEM, "axle_nursery_open: out of memory");
    n->owner = t;
    axle_scope_open(&n->scope, AXLE_NO_DEADLINE, 0);
    *out = n;
    return 0;
}

int axle_nursery_start_soon(axle_nursery *n, axle_fn fn, void *arg, const axle_task_opts *opts)
{
    int rc;
    axle_task *t = axle__task_new(fn, NULL, arg, opts, &rc);
    if (!t)
        return AXLE_SET_ERR(rc, "axle_nursery_start_soon: no memory for a task stack");
    axle__scope_link(&t->root, &n->scope);
    child_link(n, t);
    axle__task_ready(t);
    return 0;
}

static void wake_closer(axle_nursery *n);

void axle__nursery_child_done(axle_task *t)
{
    axle_nursery *n = t->nursery;
    if (t->sib_prev)
        t->sib_prev->sib_next = t->sib_next;
    else
        n->first_child = t->sib_next;
    if (t->sib_next)
        t->sib_next->sib_prev = t->sib_prev;
    n->nchildren--;
    if (t->rc == -ECANCELED) {
        n->saw_cancel = true;
    } else if (t->rc < 0) {
        add_error(n, t->rc, error_for(t, t->rc));
        axle_scope_cancel(&n->scope);
    }
    wake_closer(n);
}

static void wake_closer(axle_nursery *n)
{
    if (n->nchildren == 0 && n->npending == 0 && n->closer) {
        axle_task *c = n->closer;
        n->closer = NULL;
        axle__wake(c, 0);
    }
}

void axle_nursery_cancel(axle_nursery *n) { axle_scope_cancel(&n->scope); }
axle_scope *axle_nursery_scope(axle_nursery *n) { return &n->scope; }

static int close_abort(axle_task *t, void *data)
{
    (void)t;
    axle_nursery *n = data;
    axle_scope_cancel(&n->scope);
    return AXLE__ABORT_FAILED; /* keep waiting: the tasks must finish first */
}

int axle_nursery_close(axle_nursery *n, int rc)
{
    axle_task *t = axle__current();
    if (rc == -ECANCELED) {
        n->saw_cancel = true;
    } else if (rc < 0) {
        add_error(n, rc, error_for(t, rc));
        axle_scope_cancel(&n->scope);
    }
    while (n->nchildren > 0 || n->npending > 0) {
        n->closer = t;
        axle__park(close_abort, n);
    }
    int out;
    if (n->nerrs == 0) {
        out = axle_scope_close(&n->scope, n->saw_cancel ? -ECANCELED : 0);
    } else if (n->nerrs == 1) {
        out = axle_scope_close(&n->scope, axle_error_code(n->errs[0]));
        axle__error_put(t, n->errs[0]);
    } else {
        out = axle_scope_close(&n->scope, -AXLE_EGROUP);
        axle__error_put(t, axle__error_group(n->errs, n->nerrs));
        n->errs = NULL; /* the group took the array */
    }
    free(n->errs);
    free(n);
    return out;
}

/* ---- start: trio's nursery.start ------------------------------------- */

static int start_abort(axle_task *t, void *data)
{
    (void)t;
    struct axle_task_status *st = data;
    axle_scope_cancel(st->tmp);
    return AXLE__ABORT_FAILED; /* wait until the task starts or ends */
}

int axle_nursery_start(axle_nursery *n, axle_start_fn fn, void *arg, const axle_task_opts *opts,
                       void **value)
{
    int rc = axle__checkpoint();
    if (rc < 0)
        return rc;
    axle_task *caller = axle__current();
    struct axle_task_status st = {.caller = caller, .nursery = n};
    axle_scope tmp;
    axle_scope_open(&tmp, AXLE_NO_DEADLINE, 0);
    st.tmp = &tmp;
    axle_task *t = axle__task_new(NULL, fn, arg, opts, &rc);
    if (!t) {
        axle_scope_close(&tmp, 0);
        return AXLE_SET_ERR(rc, "axle_nursery_start: no memory for a task stack");
    }
    st.task = t;
    t->start = &st;
    n->npending++;
    axle__scope_link(&t->root, &tmp);
    axle__task_ready(t);
    while (!st.started && !st.exited)
        axle__park(start_abort, &st);
    n->npending--;
    wake_closer(n);
    if (st.started) {
        rc = 0;
        if (value)
            *value = st.value;
    } else {
        rc = st.rc < 0 ? st.rc : -AXLE_ENOTSTARTED;
        if (st.err)
            axle__error_put(caller, st.err);
        else if (rc == -AXLE_ENOTSTARTED)
            AXLE_SET_ERR(rc, "task '%s' returned %d without calling axle_started",
                         axle_task_name(t), st.rc);
    }
    return axle_scope_close(&tmp, rc);
}

void axle_started(axle_task_status *st, void *value)
{
    if (st->started) {
        axle_log_warning("axle_started called twice by task '%s'; ignored",
                         axle_task_name(st->task));
        return;
    }
    axle_task *t = st->task;
    st->started = true;
    st->value = value;
    t->start = NULL;
    axle__scope_unlink(&t->root);
    axle__scope_link(&t->root, &st->nursery->scope);
    child_link(st->nursery, t);
    if (st->caller->state == TASK_PARKED)
        axle__wake(st->caller, 0);
}

void axle__start_child_done(axle_task *t)
{
    struct axle_task_status *st = t->start;
    st->exited = true;
    st->rc = t->rc;
    st->err = t->rc < 0 ? error_for(t, t->rc) : NULL;
    if (st->caller->state == TASK_PARKED)
        axle__wake(st->caller, 0);
}
