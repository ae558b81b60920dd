/*
 * tests/unit/task_helpers.h — what the task-layer suites (test_scope.c,
 * test_nursery.c, test_task.c) share: a checked main that proves no task is
 * left, nursery and sleeper helpers, error assertions, suite building.
 *
 * Tasks are made to park before another acts by waiting on an event the
 * parking task sets just before it parks (a task runs until it parks), by
 * axle_checkpoint() (which runs every other runnable task once) or by
 * nursery structure; never by sleeping. "Forever" is a 60 s sleep: longer
 * than any test's timeout, so a cancellation that never arrives fails the
 * test instead of passing it. Time is only bounded generously.
 */
#ifndef AXLE_TESTS_TASK_HELPERS_H
#define AXLE_TESTS_TASK_HELPERS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, memfd_create */
#endif
#include <axle/error.h>
#include <axle/log.h>
#include <axle/task.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../harness.h"

#define MS (1000 * 1000LL)
#define FOREVER (60 * 1000 * MS)
#define BOUND (5 * 1000 * MS) /* generous upper bound on anything timed */

/* ---------------------------------------------------------------- helpers */

typedef struct checked_main {
    axle_fn fn; /* the test's main */
    void *arg;  /* its argument */
} checked_main;

/* Runs the test's main and proves it leaves no task behind. */
static inline int checked_main_fn(void *arg)
{
    checked_main *m = arg;
    ck_assert_uint_eq(axle_task_count(), 1);
    int rc = m->fn(m->arg);
    ck_assert_uint_eq(axle_task_count(), 1);
    return rc;
}

static inline int run_main(axle_fn fn, void *arg)
{
    checked_main m = {fn, arg};
    return axle_test_run(checked_main_fn, &m);
}

#define RUN(fn) ck_assert_int_eq(run_main((fn), NULL), 0)

/* Let every started task run until it parks. */
static inline void settle(void)
{
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(axle_checkpoint(), 0);
}

static axle_nursery *nursery(void)
{
    axle_nursery *n = NULL;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    ck_assert_ptr_nonnull(n);
    return n;
}

static inline void start(axle_nursery *n, axle_fn fn, void *arg)
{
    ck_assert_int_eq(axle_nursery_start_soon(n, fn, arg, NULL), 0);
}

/* Elapsed time since t0 lies in [min, BOUND). */
#define ck_assert_elapsed(t0, min)                                                       \
    do {                                                                                 \
        int64_t el_ = axle_now() - (t0);                                                 \
        ck_assert_msg(el_ >= (min) && el_ < BOUND, "elapsed %lld ns, want [%lld, %lld)", \
                      (long long)el_, (long long)(min), (long long)BOUND);               \
    } while (0)

/* The calling task's recorded error, asserted to exist and have code. */
static inline const axle_error *last_error(int code)
{
    const axle_error *e = axle_error_last();
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(axle_error_code(e), code);
    return e;
}

/* Member of group g with code, asserted to exist exactly once. */
static inline const axle_error *member_with(const axle_error *g, int code)
{
    const axle_error *found = NULL;
    for (size_t i = 0; i < axle_error_nmembers(g); i++) {
        const axle_error *m = axle_error_member(g, i);
        ck_assert_ptr_nonnull(m);
        if (axle_error_code(m) == code) {
            ck_assert_msg(found == NULL, "two members with code %d", code);
            found = m;
        }
    }
    ck_assert_msg(found != NULL, "no member with code %d (%s)", code, axle_errname(code));
    return found;
}

/* Frame i's function name. */
static inline const char *frame_func(const axle_error *e, size_t i)
{
    const char *func = NULL, *file = NULL;
    int line = 0;
    ck_assert_int_eq(axle_error_frame(e, i, &func, &file, &line), 0);
    ck_assert_ptr_nonnull(func);
    ck_assert_ptr_nonnull(strstr(file, "tests/unit/"));
    ck_assert_int_gt(line, 0);
    return func;
}

/* A task that sleeps "forever" and records how it ended. */
typedef struct sleeper {
    int rc;           /* axle_sleep's result; 1 until it returns */
    axle_event ready; /* set just before it parks */
} sleeper;

static inline void sleeper_init(sleeper *s)
{
    s->rc = 1;
    axle_event_init(&s->ready);
}

static inline int sleeper_task(void *arg)
{
    sleeper *s = arg;
    axle_event_set(&s->ready);
    s->rc = axle_sleep(FOREVER);
    return s->rc;
}

/* A task parked in a scope that some other task cancels. */
typedef struct scoped {
    axle_scope sc;    /* the scope, cancelled from outside */
    axle_scope inner; /* a nested scope, for tests that need two */
    axle_event ready; /* set just before the task parks */
    int rc;           /* the parking call's result; 1 until it returns */
    int close_rc;     /* axle_scope_close's result */
    bool caught;      /* cancelled_caught after close */
    bool called;      /* cancel_called after close */
    int64_t elapsed;  /* how long the parking call took */
} scoped;

static inline void scoped_init(scoped *c)
{
    memset(c, 0, sizeof *c);
    c->rc = 1;
    axle_event_init(&c->ready);
}

static inline int scoped_sleeper(void *arg)
{
    scoped *c = arg;
    axle_scope_open(&c->sc, AXLE_NO_DEADLINE, 0);
    axle_event_set(&c->ready);
    int64_t t0 = axle_now();
    c->rc = axle_sleep(FOREVER);
    c->elapsed = axle_now() - t0;
    c->close_rc = axle_scope_close(&c->sc, c->rc);
    c->caught = axle_scope_cancelled_caught(&c->sc);
    c->called = axle_scope_cancel_called(&c->sc);
    return c->close_rc;
}

static inline int scope_canceller(void *arg)
{
    scoped *c = arg;
    ck_assert_int_eq(axle_event_wait(&c->ready), 0);
    axle_scope_cancel(&c->sc);
    return 0;
}

static inline int fail_first(void *arg)
{
    (void)arg;
    return AXLE_SET_ERR(-EIO, "first");
}

static inline int fail_second(void *arg)
{
    (void)arg;
    return AXLE_SET_ERR(-ENOSPC, "second");
}

/* ------------------------------------------------------------ suites */

static inline int nothing_main(void *arg)
{
    (void)arg;
    return 0;
}

/* Run suite s, or skip (exit 77) when io_uring is unavailable (seccomp, sysctl). */
static inline int task_suite_main(const char *name, Suite *s)
{
    if (axle_run(nothing_main, NULL, NULL) == -AXLE_ENOURING) {
        fprintf(stderr, "%s: skipped: io_uring is unavailable\n", name);
        return 77;
    }
    return axle_test_main(s);
}

#endif
