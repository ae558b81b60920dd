/*
 * tests/unit/test_sync.c — events, locks, semaphores and conditions.
 *
 * Each test runs a scheduler whose main task opens a nursery and starts the
 * tasks it needs. Tasks are made to park before the main task acts by
 * yielding with axle_checkpoint() (which runs every other runnable task
 * once, and a started task runs until it parks) or by waiting on an event
 * the other task sets just before it parks; never by sleeping.
 */
#include <axle/task.h>
#include <errno.h>
#include <stdint.h>

#include "../harness.h"

#define RUN(fn) ck_assert_int_eq(axle_test_run((fn), NULL), 0)

/* Let every started task run until it parks. */
static void settle(void)
{
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(axle_checkpoint(), 0);
}

/* ------------------------------------------------------------------ event */

typedef struct event_ctx {
    axle_event ev;    /* what the waiters wait on */
    axle_event ready; /* set by a waiter just before it parks */
    axle_scope sc;    /* a waiter's scope, cancelled by another task */
    int woken;        /* waiters that returned 0 */
    int rc;           /* the waiter's result, or its scope's close */
    bool caught;      /* the waiter's scope caught the cancellation */
} event_ctx;

static int event_waiter(void *arg)
{
    event_ctx *c = arg;
    ck_assert_int_eq(axle_event_wait(&c->ev), 0);
    c->woken++;
    return 0;
}

static int event_wakes_all_main(void *arg)
{
    (void)arg;
    event_ctx c = {0};
    axle_event_init(&c.ev);
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(axle_nursery_start_soon(n, event_waiter, &c, NULL), 0);
    settle();
    ck_assert_int_eq(c.woken, 0);
    ck_assert(!axle_event_is_set(&c.ev));
    axle_event_set(&c.ev);
    axle_event_set(&c.ev); /* idempotent */
    ck_assert(axle_event_is_set(&c.ev));
    int rc = axle_nursery_close(n, 0);
    ck_assert_int_eq(c.woken, 3);
    /* Set stays set: a later wait returns at once. */
    ck_assert_int_eq(axle_event_wait(&c.ev), 0);
    return rc;
}

START_TEST(event_set_wakes_every_waiter) { RUN(event_wakes_all_main); }
END_TEST

typedef struct yield_ctx {
    axle_event ev;  /* set before the looping task starts */
    bool other_ran; /* set by the other task */
} yield_ctx;

static int wait_loop(void *arg)
{
    yield_ctx *c = arg;
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(axle_event_wait(&c->ev), 0);
    ck_assert_msg(c->other_ran, "waits on a set event never yielded");
    return 0;
}

static int mark_ran(void *arg)
{
    ((yield_ctx *)arg)->other_ran = true;
    return 0;
}

static int event_yields_main(void *arg)
{
    (void)arg;
    yield_ctx c = {0};
    axle_event_init(&c.ev);
    axle_event_set(&c.ev);
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    ck_assert_int_eq(axle_nursery_start_soon(n, wait_loop, &c, NULL), 0);
    ck_assert_int_eq(axle_nursery_start_soon(n, mark_ran, &c, NULL), 0);
    return axle_nursery_close(n, 0);
}

START_TEST(event_wait_on_set_event_yields) { RUN(event_yields_main); }
END_TEST

static int cancellable_waiter(void *arg)
{
    event_ctx *c = arg;
    axle_scope_open(&c->sc, AXLE_NO_DEADLINE, 0);
    axle_event_set(&c->ready);
    int rc = axle_event_wait(&c->ev);
    ck_assert_int_eq(rc, -ECANCELED);
    c->rc = axle_scope_close(&c->sc, rc);
    c->caught = axle_scope_cancelled_caught(&c->sc);
    return 0;
}

static int event_cancel_main(void *arg)
{
    (void)arg;
    event_ctx c = {0};
    axle_event_init(&c.ev);
    axle_event_init(&c.ready);
    c.rc = 1;
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    ck_assert_int_eq(axle_nursery_start_soon(n, cancellable_waiter, &c, NULL), 0);
    ck_assert_int_eq(axle_event_wait(&c.ready), 0);
    axle_scope_cancel(&c.sc);
    int rc = axle_nursery_close(n, 0);
    ck_assert_int_eq(c.rc, 0);
    ck_assert(c.caught);
    /* The cancelled waiter left the queue: a set now finds nobody. */
    axle_event_set(&c.ev);
    return rc;
}

START_TEST(event_wait_cancelled_by_scope_cancel) { RUN(event_cancel_main); }
END_TEST

static int event_deadline_main(void *arg)
{
    (void)arg;
    axle_event ev;
    axle_event_init(&ev);
    axle_scope sc;
    axle_move_on_after(&sc, 1000 * 1000);
    int rc = axle_event_wait(&ev);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&sc, rc), 0);
    ck_assert(axle_scope_cancelled_caught(&sc));
    ck_assert(!axle_event_is_set(&ev));
    return 0;
}

START_TEST(event_wait_cancelled_by_deadline) { RUN(event_deadline_main); }
END_TEST

static int event_cancelled_before_main(void *arg)
{
    (void)arg;
    axle_event ev;
    axle_event_init(&ev);
    axle_event_set(&ev);
    axle_scope sc;
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    axle_scope_cancel(&sc);
    /* Set or not, a cancelled wait fails. */
    int rc = axle_event_wait(&ev);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&sc, rc), 0);
    return 0;
}

START_TEST(event_wait_in_cancelled_scope_fails) { RUN(event_cancelled_before_main); }
END_TEST

/* ------------------------------------------------------------------- lock */

typedef struct lock_ctx {
    axle_lock lock; /* the lock under test */
    int inside;     /* tasks inside the critical section */
    int entries;    /* critical sections completed */
    int order[8];   /* ids in the order they took the lock */
    int norder;     /* entries in order */
} lock_ctx;

typedef struct lock_arg {
    lock_ctx *c; /* shared state */
    int id;      /* this task's id */
} lock_arg;

static int exclusive_worker(void *arg)
{
    lock_ctx *c = arg;
    for (int i = 0; i < 50; i++) {
        ck_assert_int_eq(axle_lock_acquire(&c->lock), 0);
        ck_assert_int_eq(++c->inside, 1);
        ck_assert_int_eq(axle_checkpoint(), 0); /* others run while we hold it */
        ck_assert_int_eq(c->inside, 1);
        c->inside--;
        c->entries++;
        ck_assert_int_eq(axle_lock_release(&c->lock), 0);
    }
    return 0;
}

static int lock_exclusion_main(void *arg)
{
    (void)arg;
    lock_ctx c = {0};
    axle_lock_init(&c.lock);
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(axle_nursery_start_soon(n, exclusive_worker, &c, NULL), 0);
    int rc = axle_nursery_close(n, 0);
    ck_assert_int_eq(c.entries, 200);
    ck_assert(!axle_lock_locked(&c.lock));
    return rc;
}

START_TEST(lock_mutual_exclusion_across_yields) { RUN(lock_exclusion_main); }
END_TEST

static int ordered_locker(void *arg)
{
    lock_arg *a = arg;
    ck_assert_int_eq(axle_lock_acquire(&a->c->lock), 0);
    a->c->order[a->c->norder++] = a->id;
    ck_assert_int_eq(axle_lock_release(&a->c->lock), 0);
    return 0;
}

static int lock_fifo_main(void *arg)
{
    (void)arg;
    lock_ctx c = {0};
    lock_arg args[4];
    axle_lock_init(&c.lock);
    ck_assert_int_eq(axle_lock_acquire(&c.lock), 0);
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    for (int i = 0; i < 4; i++) {
        args[i] = (lock_arg){&c, i};
        ck_assert_int_eq(axle_nursery_start_soon(n, ordered_locker, &args[i], NULL), 0);
    }
    settle();
    ck_assert_int_eq(c.norder, 0);
    ck_assert_int_eq(axle_lock_release(&c.lock), 0);
    /* Handed to the first waiter: the releaser cannot barge back in. */
    ck_assert(axle_lock_locked(&c.lock));
    ck_assert_int_eq(axle_lock_try_acquire(&c.lock), -EAGAIN);
    ck_assert_int_eq(axle_lock_acquire(&c.lock), 0);
    ck_assert_int_eq(c.norder, 4); /* we queued behind all four */
    c.order[c.norder++] = 99;
    ck_assert_int_eq(axle_lock_release(&c.lock), 0);
    int rc = axle_nursery_close(n, 0);
    int want[] = {0, 1, 2, 3, 99};
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(c.order[i], want[i]);
    return rc;
}

START_TEST(lock_hands_off_in_fifo_order) { RUN(lock_fifo_main); }
END_TEST

static int lock_deadlk_main(void *arg)
{
    (void)arg;
    axle_lock l;
    axle_lock_init(&l);
    ck_assert(!axle_lock_locked(&l));
    ck_assert_int_eq(axle_lock_acquire(&l), 0);
    ck_assert_int_eq(axle_lock_acquire(&l), -EDEADLK);
    ck_assert_int_eq(axle_lock_try_acquire(&l), -EDEADLK);
    ck_assert_ptr_nonnull(axle_error_last());
    ck_assert_int_eq(axle_error_code(axle_error_last()), -EDEADLK);
    ck_assert_int_eq(axle_lock_release(&l), 0);
    ck_assert_int_eq(axle_lock_try_acquire(&l), 0);
    ck_assert_int_eq(axle_lock_release(&l), 0);
    return 0;
}

START_TEST(lock_reacquire_by_owner_is_edeadlk) { RUN(lock_deadlk_main); }
END_TEST

typedef struct holder_ctx {
    axle_lock lock;    /* held by the holder task */
    axle_event held;   /* set once it holds the lock */
    axle_event finish; /* set by main to let it release */
} holder_ctx;

static int holder(void *arg)
{
    holder_ctx *h = arg;
    ck_assert_int_eq(axle_lock_acquire(&h->lock), 0);
    axle_event_set(&h->held);
    ck_assert_int_eq(axle_event_wait(&h->finish), 0);
    ck_assert_int_eq(axle_lock_release(&h->lock), 0);
    return 0;
}

static int lock_eperm_main(void *arg)
{
    (void)arg;
    holder_ctx h;
    axle_lock_init(&h.lock);
    axle_event_init(&h.held);
    axle_event_init(&h.finish);
    ck_assert_int_eq(axle_lock_release(&h.lock), -EPERM); /* not held at all */
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    ck_assert_int_eq(axle_nursery_start_soon(n, holder, &h, NULL), 0);
    ck_assert_int_eq(axle_event_wait(&h.held), 0);
    ck_assert_int_eq(axle_lock_release(&h.lock), -EPERM); /* held by another task */
    ck_assert(axle_lock_locked(&h.lock));
    axle_event_set(&h.finish);
    return axle_nursery_close(n, 0);
}

START_TEST(lock_release_by_non_owner_is_eperm) { RUN(lock_eperm_main); }
END_TEST

static int lock_cancel_main(void *arg)
{
    (void)arg;
    holder_ctx h;
    axle_lock_init(&h.lock);
    axle_event_init(&h.held);
    axle_event_init(&h.finish);
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    ck_assert_int_eq(axle_nursery_start_soon(n, holder, &h, NULL), 0);
    ck_assert_int_eq(axle_event_wait(&h.held), 0);
    axle_scope sc;
    axle_move_on_after(&sc, 1000 * 1000);
    int rc = axle_lock_acquire(&h.lock);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&sc, rc), 0);
    /* The cancelled waiter left the queue: the release frees the lock. */
    axle_event_set(&h.finish);
    rc = axle_nursery_close(n, 0);
    ck_assert(!axle_lock_locked(&h.lock));
    ck_assert_int_eq(axle_lock_try_acquire(&h.lock), 0);
    ck_assert_int_eq(axle_lock_release(&h.lock), 0);
    return rc;
}

START_TEST(lock_acquire_cancelled_leaves_the_queue) { RUN(lock_cancel_main); }
END_TEST

/* -------------------------------------------------------------- semaphore */

typedef struct sem_ctx {
    axle_sem sem;   /* the semaphore under test */
    int inside;     /* tasks holding a unit */
    int max_inside; /* the most seen at once */
    int order[8];   /* ids in the order they got a unit */
    int norder;     /* entries in order */
} sem_ctx;

static int sem_worker(void *arg)
{
    sem_ctx *c = arg;
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(axle_sem_acquire(&c->sem), 0);
        c->inside++;
        if (c->inside > c->max_inside)
            c->max_inside = c->inside;
        ck_assert_int_le(c->inside, 2);
        ck_assert_int_eq(axle_checkpoint(), 0);
        c->inside--;
        ck_assert_int_eq(axle_sem_release(&c->sem), 0);
    }
    return 0;
}

static int sem_bound_main(void *arg)
{
    (void)arg;
    sem_ctx c = {0};
    axle_sem_init(&c.sem, 2, 2);
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(axle_nursery_start_soon(n, sem_worker, &c, NULL), 0);
    int rc = axle_nursery_close(n, 0);
    ck_assert_int_eq(c.max_inside, 2);
    ck_assert_uint_eq(axle_sem_value(&c.sem), 2);
    return rc;
}

START_TEST(sem_bounds_concurrency) { RUN(sem_bound_main); }
END_TEST

static int sem_overflow_main(void *arg)
{
    (void)arg;
    axle_sem s;
    axle_sem_init(&s, 1, 1);
    ck_assert_int_eq(axle_sem_release(&s), -EOVERFLOW);
    ck_assert_uint_eq(axle_sem_value(&s), 1);
    ck_assert_int_eq(axle_sem_try_acquire(&s), 0);
    ck_assert_int_eq(axle_sem_try_acquire(&s), -EAGAIN);
    ck_assert_uint_eq(axle_sem_value(&s), 0);
    ck_assert_int_eq(axle_sem_release(&s), 0);
    ck_assert_uint_eq(axle_sem_value(&s), 1);

    axle_sem u; /* max 0: unbounded */
    axle_sem_init(&u, 0, 0);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(axle_sem_release(&u), 0);
    ck_assert_uint_eq(axle_sem_value(&u), 1000);
    return 0;
}

START_TEST(sem_release_past_max_is_eoverflow) { RUN(sem_overflow_main); }
END_TEST

typedef struct sem_arg {
    sem_ctx *c; /* shared state */
    int id;     /* this task's id */
} sem_arg;

static int sem_ordered(void *arg)
{
    sem_arg *a = arg;
    ck_assert_int_eq(axle_sem_acquire(&a->c->sem), 0);
    a->c->order[a->c->norder++] = a->id;
    return 0;
}

static int sem_fifo_main(void *arg)
{
    (void)arg;
    sem_ctx c = {0};
    sem_arg args[3];
    axle_sem_init(&c.sem, 0, 3);
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    for (int i = 0; i < 3; i++) {
        args[i] = (sem_arg){&c, i};
        ck_assert_int_eq(axle_nursery_start_soon(n, sem_ordered, &args[i], NULL), 0);
    }
    settle();
    ck_assert_int_eq(c.norder, 0);
    ck_assert_int_eq(axle_sem_release(&c.sem), 0);
    /* Handed to the first waiter: the value stays 0, nobody else can take it. */
    ck_assert_uint_eq(axle_sem_value(&c.sem), 0);
    ck_assert_int_eq(axle_sem_try_acquire(&c.sem), -EAGAIN);
    ck_assert_int_eq(axle_sem_release(&c.sem), 0);
    ck_assert_int_eq(axle_sem_release(&c.sem), 0);
    int rc = axle_nursery_close(n, 0);
    ck_assert_int_eq(c.norder, 3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(c.order[i], i);
    ck_assert_uint_eq(axle_sem_value(&c.sem), 0);
    return rc;
}

START_TEST(sem_hands_off_in_fifo_order) { RUN(sem_fifo_main); }
END_TEST

static int sem_cancel_main(void *arg)
{
    (void)arg;
    axle_sem s;
    axle_sem_init(&s, 0, 0);
    axle_scope sc;
    axle_move_on_after(&sc, 1000 * 1000);
    int rc = axle_sem_acquire(&s);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&sc, rc), 0);
    /* The cancelled waiter took nothing and is gone: the unit stays. */
    ck_assert_int_eq(axle_sem_release(&s), 0);
    ck_assert_uint_eq(axle_sem_value(&s), 1);
    return 0;
}

START_TEST(sem_acquire_cancelled_takes_nothing) { RUN(sem_cancel_main); }
END_TEST

/* -------------------------------------------------------------- condition */

typedef struct cond_ctx {
    axle_lock lock;      /* the condition's lock */
    axle_cond cond;      /* the condition under test */
    int go;              /* waiters proceed while go > 0, taking one each */
    int order[8];        /* ids in the order they woke */
    int norder;          /* entries in order */
    axle_scope sc;       /* the cancel test's waiter scope */
    int rc;              /* the cancel test's waiter result */
    int close_rc;        /* ... and its scope's close */
    bool held_on_return; /* it held the lock when wait returned */
} cond_ctx;

typedef struct cond_arg {
    cond_ctx *c; /* shared state */
    int id;      /* this task's id */
} cond_arg;

static int cond_waiter(void *arg)
{
    cond_arg *a = arg;
    cond_ctx *c = a->c;
    ck_assert_int_eq(axle_lock_acquire(&c->lock), 0);
    while (c->go == 0) {
        ck_assert_int_eq(axle_cond_wait(&c->cond), 0);
        /* We hold the lock again. */
        ck_assert_int_eq(axle_lock_try_acquire(&c->lock), -EDEADLK);
    }
    c->go--;
    c->order[c->norder++] = a->id;
    ck_assert_int_eq(axle_lock_release(&c->lock), 0);
    return 0;
}

static void cond_ctx_init(cond_ctx *c)
{
    *c = (cond_ctx){0};
    axle_lock_init(&c->lock);
    axle_cond_init(&c->cond, &c->lock);
}

static int cond_notify_main(void *arg)
{
    (void)arg;
    cond_ctx c;
    cond_arg args[3];
    cond_ctx_init(&c);
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    for (int i = 0; i < 3; i++) {
        args[i] = (cond_arg){&c, i};
        ck_assert_int_eq(axle_nursery_start_soon(n, cond_waiter, &args[i], NULL), 0);
    }
    settle();
    ck_assert(!axle_lock_locked(&c.lock)); /* every waiter released it */

    ck_assert_int_eq(axle_lock_acquire(&c.lock), 0);
    c.go = 2;
    ck_assert_int_eq(axle_cond_notify(&c.cond, 2), 0);
    ck_assert_int_eq(axle_lock_release(&c.lock), 0);
    settle();
    ck_assert_int_eq(c.norder, 2);
    ck_assert_int_eq(c.order[0], 0);
    ck_assert_int_eq(c.order[1], 1);

    ck_assert_int_eq(axle_lock_acquire(&c.lock), 0);
    c.go = 1;
    ck_assert_int_eq(axle_cond_notify_all(&c.cond), 0);
    ck_assert_int_eq(axle_lock_release(&c.lock), 0);
    int rc = axle_nursery_close(n, 0);
    ck_assert_int_eq(c.norder, 3);
    ck_assert_int_eq(c.order[2], 2);
    return rc;
}

START_TEST(cond_notify_wakes_waiters_in_fifo_order_holding_the_lock) { RUN(cond_notify_main); }
END_TEST

static int cond_eperm_main(void *arg)
{
    (void)arg;
    cond_ctx c;
    cond_ctx_init(&c);
    ck_assert_int_eq(axle_cond_wait(&c.cond), -EPERM);
    ck_assert_int_eq(axle_cond_notify(&c.cond, 1), -EPERM);
    ck_assert_int_eq(axle_cond_notify_all(&c.cond), -EPERM);
    return 0;
}

START_TEST(cond_without_the_lock_is_eperm) { RUN(cond_eperm_main); }
END_TEST

static int cond_cancelled_waiter(void *arg)
{
    cond_ctx *c = arg;
    ck_assert_int_eq(axle_lock_acquire(&c->lock), 0);
    axle_scope_open(&c->sc, AXLE_NO_DEADLINE, 0);
    c->rc = axle_cond_wait(&c->cond);
    c->held_on_return = axle_lock_try_acquire(&c->lock) == -EDEADLK;
    c->close_rc = axle_scope_close(&c->sc, c->rc);
    ck_assert_int_eq(axle_lock_release(&c->lock), 0);
    return 0;
}

/*
 * notify_first: whether the waiter is notified (moved to the lock's queue)
 * before it is cancelled, so its abort must find it there.
 */
static void cond_cancel_case(bool notify_first)
{
    cond_ctx c;
    cond_ctx_init(&c);
    c.rc = 1;
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    ck_assert_int_eq(axle_nursery_start_soon(n, cond_cancelled_waiter, &c, NULL), 0);
    settle(); /* it waits, having released the lock */
    ck_assert_int_eq(axle_lock_acquire(&c.lock), 0);
    if (notify_first)
        ck_assert_int_eq(axle_cond_notify(&c.cond, 1), 0);
    axle_scope_cancel(&c.sc);
    settle();
    /* Cancelled, but it must get the lock back first: we hold it. */
    ck_assert_int_eq(c.rc, 1);
    ck_assert_int_eq(axle_lock_release(&c.lock), 0);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(c.rc, -ECANCELED);
    ck_assert(c.held_on_return);
    ck_assert_int_eq(c.close_rc, 0);
    ck_assert(!axle_lock_locked(&c.lock));
}

static int cond_cancel_main(void *arg)
{
    (void)arg;
    cond_cancel_case(false);
    return 0;
}

static int cond_cancel_after_notify_main(void *arg)
{
    (void)arg;
    cond_cancel_case(true);
    return 0;
}

START_TEST(cond_wait_cancelled_reacquires_the_lock) { RUN(cond_cancel_main); }
END_TEST

START_TEST(cond_wait_cancelled_after_notify_reacquires_the_lock)
{
    RUN(cond_cancel_after_notify_main);
}
END_TEST

/* ------------------------------------------------------------------ suite */

static Suite *sync_suite(void)
{
    Suite *s = suite_create("sync");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"event_set_wakes_every_waiter", event_set_wakes_every_waiter},
        {"event_wait_on_set_event_yields", event_wait_on_set_event_yields},
        {"event_wait_cancelled_by_scope_cancel", event_wait_cancelled_by_scope_cancel},
        {"event_wait_cancelled_by_deadline", event_wait_cancelled_by_deadline},
        {"event_wait_in_cancelled_scope_fails", event_wait_in_cancelled_scope_fails},
        {"lock_mutual_exclusion_across_yields", lock_mutual_exclusion_across_yields},
        {"lock_hands_off_in_fifo_order", lock_hands_off_in_fifo_order},
        {"lock_reacquire_by_owner_is_edeadlk", lock_reacquire_by_owner_is_edeadlk},
        {"lock_release_by_non_owner_is_eperm", lock_release_by_non_owner_is_eperm},
        {"lock_acquire_cancelled_leaves_the_queue", lock_acquire_cancelled_leaves_the_queue},
        {"sem_bounds_concurrency", sem_bounds_concurrency},
        {"sem_release_past_max_is_eoverflow", sem_release_past_max_is_eoverflow},
        {"sem_hands_off_in_fifo_order", sem_hands_off_in_fifo_order},
        {"sem_acquire_cancelled_takes_nothing", sem_acquire_cancelled_takes_nothing},
        {"cond_notify_wakes_waiters_in_fifo_order_holding_the_lock",
         cond_notify_wakes_waiters_in_fifo_order_holding_the_lock},
        {"cond_without_the_lock_is_eperm", cond_without_the_lock_is_eperm},
        {"cond_wait_cancelled_reacquires_the_lock", cond_wait_cancelled_reacquires_the_lock},
        {"cond_wait_cancelled_after_notify_reacquires_the_lock",
         cond_wait_cancelled_after_notify_reacquires_the_lock},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = axle_test_tcase(cases[i].name, 10);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void) { return axle_test_main(sync_suite()); }
