/*
 * tests/unit/test_scope.c — cancel scopes: level-triggered cancellation,
 * absorption at close, shields, deadlines.
 */
#include "task_helpers.h"

/* ============================================================= scopes === */

static int cancel_from_sibling_main(void *arg)
{
    (void)arg;
    scoped c;
    scoped_init(&c);
    axle_nursery *n = nursery();
    start(n, scope_canceller, &c);
    start(n, scoped_sleeper, &c);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(c.rc, -ECANCELED);
    ck_assert_int_eq(c.close_rc, 0);
    ck_assert(c.caught);
    ck_assert(c.called);
    ck_assert_msg(c.elapsed < BOUND, "the cancel took %lld ns", (long long)c.elapsed);
    return 0;
}

START_TEST(scope_cancel_from_sibling_wakes_sleeping_task) { RUN(cancel_from_sibling_main); }
END_TEST

static int nursery_cancel_main(void *arg)
{
    (void)arg;
    sleeper s[3];
    axle_nursery *n = nursery();
    for (int i = 0; i < 3; i++) {
        sleeper_init(&s[i]);
        start(n, sleeper_task, &s[i]);
    }
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(axle_event_wait(&s[i].ready), 0);
    ck_assert(!axle_scope_cancel_called(axle_nursery_scope(n)));
    axle_nursery_cancel(n);
    ck_assert(axle_scope_cancel_called(axle_nursery_scope(n)));
    /* The body is inside the nursery's scope too. */
    int rc = axle_checkpoint_if_cancelled();
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_nursery_close(n, rc), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(s[i].rc, -ECANCELED);
    return 0;
}

START_TEST(nursery_cancel_wakes_every_sleeping_task) { RUN(nursery_cancel_main); }
END_TEST

/* Every kind of checkpoint fails, again and again, while sc is cancelled. */
static void assert_checkpoints_fail(void)
{
    axle_event ev;
    axle_event_init(&ev);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(axle_checkpoint(), -ECANCELED);
        ck_assert_int_eq(axle_checkpoint_if_cancelled(), -ECANCELED);
        ck_assert_int_eq(axle_sleep(MS), -ECANCELED);
        ck_assert_int_eq(axle_sleep(0), -ECANCELED);
        ck_assert_int_eq(axle_sleep_until(axle_now() - MS), -ECANCELED);
        ck_assert_int_eq(axle_event_wait(&ev), -ECANCELED);
    }
}

static void assert_checkpoints_pass(void)
{
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(axle_checkpoint(), 0);
        ck_assert_int_eq(axle_checkpoint_if_cancelled(), 0);
        ck_assert_int_eq(axle_sleep(0), 0);
        ck_assert_int_eq(axle_sleep(MS), 0);
    }
}

static int level_triggered_main(void *arg)
{
    (void)arg;
    axle_scope sc;
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    assert_checkpoints_pass();
    axle_scope_cancel(&sc);
    assert_checkpoints_fail();
    axle_scope_cancel(&sc); /* idempotent */
    assert_checkpoints_fail();
    ck_assert_int_eq(axle_scope_close(&sc, -ECANCELED), 0);
    assert_checkpoints_pass();
    return 0;
}

START_TEST(scope_cancel_is_level_triggered_until_close) { RUN(level_triggered_main); }
END_TEST

/* Cancelled while parked: the wake-up is not the end of it. */
static int keeps_failing_sleeper(void *arg)
{
    scoped *c = arg;
    axle_scope_open(&c->sc, AXLE_NO_DEADLINE, 0);
    axle_event_set(&c->ready);
    c->rc = axle_sleep(FOREVER);
    ck_assert_int_eq(c->rc, -ECANCELED);
    assert_checkpoints_fail();
    c->close_rc = axle_scope_close(&c->sc, c->rc);
    assert_checkpoints_pass();
    return 0;
}

static int level_after_wakeup_main(void *arg)
{
    (void)arg;
    scoped c;
    scoped_init(&c);
    axle_nursery *n = nursery();
    start(n, scope_canceller, &c);
    start(n, keeps_failing_sleeper, &c);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(c.close_rc, 0);
    return 0;
}

START_TEST(scope_cancelled_while_parked_keeps_failing_checkpoints) { RUN(level_after_wakeup_main); }
END_TEST

static int absorbs_main(void *arg)
{
    (void)arg;
    axle_scope sc;
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    ck_assert(!axle_scope_cancel_called(&sc));
    axle_scope_cancel(&sc);
    ck_assert(axle_scope_cancel_called(&sc));
    int rc = axle_checkpoint();
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&sc, rc), 0);
    ck_assert(axle_scope_cancelled_caught(&sc));
    ck_assert(axle_scope_cancel_called(&sc));
    return 0;
}

START_TEST(scope_close_absorbs_its_own_cancel) { RUN(absorbs_main); }
END_TEST

static int not_caught_main(void *arg)
{
    (void)arg;
    axle_scope sc;
    /* Cancelled, but no checkpoint failed inside: nothing was caught. */
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    axle_scope_cancel(&sc);
    ck_assert_int_eq(axle_scope_close(&sc, 0), 0);
    ck_assert(axle_scope_cancel_called(&sc));
    ck_assert(!axle_scope_cancelled_caught(&sc));
    /* Never cancelled: neither flag. */
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    ck_assert_int_eq(axle_checkpoint(), 0);
    ck_assert_int_eq(axle_scope_close(&sc, 0), 0);
    ck_assert(!axle_scope_cancel_called(&sc));
    ck_assert(!axle_scope_cancelled_caught(&sc));
    return 0;
}

START_TEST(scope_cancel_without_failed_checkpoint_is_not_caught) { RUN(not_caught_main); }
END_TEST

static int error_not_masked_main(void *arg)
{
    (void)arg;
    axle_scope sc;
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    axle_scope_cancel(&sc);
    ck_assert_int_eq(axle_checkpoint(), -ECANCELED);
    /* The body failed with something else while cleaning up: it is kept. */
    ck_assert_int_eq(axle_scope_close(&sc, -EIO), -EIO);
    ck_assert(!axle_scope_cancelled_caught(&sc));
    /* An uncancelled scope passes its body's result through. */
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    ck_assert_int_eq(axle_scope_close(&sc, -ENOENT), -ENOENT);
    return 0;
}

START_TEST(scope_close_passes_other_errors_through) { RUN(error_not_masked_main); }
END_TEST

static int outer_passes_main(void *arg)
{
    (void)arg;
    axle_scope outer, inner;
    axle_scope_open(&outer, AXLE_NO_DEADLINE, 0);
    axle_scope_open(&inner, AXLE_NO_DEADLINE, 0);
    axle_scope_cancel(&outer);
    int rc = axle_sleep(FOREVER);
    ck_assert_int_eq(rc, -ECANCELED);
    rc = axle_scope_close(&inner, rc);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert(!axle_scope_cancelled_caught(&inner));
    ck_assert(!axle_scope_cancel_called(&inner));
    ck_assert_int_eq(axle_checkpoint(), -ECANCELED); /* still in outer */
    ck_assert_int_eq(axle_scope_close(&outer, rc), 0);
    ck_assert(axle_scope_cancelled_caught(&outer));

    /* Both cancelled: the outer one owns the cancellation (trio's rule). */
    axle_scope_open(&outer, AXLE_NO_DEADLINE, 0);
    axle_scope_open(&inner, AXLE_NO_DEADLINE, 0);
    axle_scope_cancel(&inner);
    axle_scope_cancel(&outer);
    rc = axle_checkpoint();
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&inner, rc), -ECANCELED);
    ck_assert(!axle_scope_cancelled_caught(&inner));
    ck_assert_int_eq(axle_scope_close(&outer, -ECANCELED), 0);
    ck_assert(axle_scope_cancelled_caught(&outer));
    return 0;
}

START_TEST(scope_outer_cancel_passes_through_inner_close) { RUN(outer_passes_main); }
END_TEST

static int inner_stays_main(void *arg)
{
    (void)arg;
    axle_scope outer, inner;
    axle_scope_open(&outer, AXLE_NO_DEADLINE, 0);
    axle_scope_open(&inner, AXLE_NO_DEADLINE, 0);
    axle_scope_cancel(&inner);
    int rc = axle_sleep(FOREVER);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&inner, rc), 0);
    ck_assert(axle_scope_cancelled_caught(&inner));
    assert_checkpoints_pass();
    ck_assert(!axle_scope_cancel_called(&outer));
    ck_assert_int_eq(axle_scope_close(&outer, 0), 0);
    ck_assert(!axle_scope_cancelled_caught(&outer));
    return 0;
}

START_TEST(scope_inner_cancel_does_not_leak_out) { RUN(inner_stays_main); }
END_TEST

static int reopen_main(void *arg)
{
    (void)arg;
    axle_scope sc;
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    axle_scope_cancel(&sc);
    ck_assert_int_eq(axle_scope_close(&sc, axle_checkpoint()), 0);
    /* Cancelling a closed scope does nothing. */
    axle_scope_cancel(&sc);
    assert_checkpoints_pass();
    /* Reopened, it starts afresh. */
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    ck_assert(!axle_scope_cancel_called(&sc));
    ck_assert(!axle_scope_cancelled_caught(&sc));
    assert_checkpoints_pass();
    ck_assert_int_eq(axle_scope_close(&sc, 0), 0);
    return 0;
}

START_TEST(scope_closed_ignores_cancel_and_reopens_fresh) { RUN(reopen_main); }
END_TEST

/* ============================================================= shield === */

typedef struct shielded {
    axle_scope outer; /* cancelled from outside */
    axle_scope inner; /* shielded */
    axle_event ready; /* set just before the task parks */
    int sleep_rc;     /* the shielded sleep's result; 1 until it returns */
    int inner_rc;     /* inner close */
    int after_rc;     /* first checkpoint after inner close */
    int outer_rc;     /* outer close */
    bool inner_caught, outer_caught;
    bool woke;       /* the parked task returned from its sleep */
    int64_t elapsed; /* the shielded sleep's duration */
} shielded;

static void shielded_init(shielded *c)
{
    memset(c, 0, sizeof *c);
    c->sleep_rc = 1;
    axle_event_init(&c->ready);
}

static int shielded_sleeper(void *arg)
{
    shielded *c = arg;
    axle_scope_open(&c->outer, AXLE_NO_DEADLINE, 0);
    axle_scope_open(&c->inner, AXLE_NO_DEADLINE, AXLE_SCOPE_SHIELD);
    axle_event_set(&c->ready);
    int64_t t0 = axle_now();
    c->sleep_rc = axle_sleep(50 * MS);
    c->elapsed = axle_now() - t0;
    ck_assert_int_eq(axle_checkpoint(), 0); /* still shielded */
    c->inner_rc = axle_scope_close(&c->inner, c->sleep_rc);
    c->inner_caught = axle_scope_cancelled_caught(&c->inner);
    c->after_rc = axle_checkpoint_if_cancelled();
    c->outer_rc = axle_scope_close(&c->outer, c->after_rc);
    c->outer_caught = axle_scope_cancelled_caught(&c->outer);
    return 0;
}

static int outer_canceller(void *arg)
{
    shielded *c = arg;
    ck_assert_int_eq(axle_event_wait(&c->ready), 0);
    axle_scope_cancel(&c->outer);
    return 0;
}

static int shield_defers_main(void *arg)
{
    (void)arg;
    shielded c;
    shielded_init(&c);
    axle_nursery *n = nursery();
    start(n, outer_canceller, &c);
    start(n, shielded_sleeper, &c);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(c.sleep_rc, 0);
    ck_assert_msg(c.elapsed >= 50 * MS, "shielded sleep cut short: %lld ns", (long long)c.elapsed);
    ck_assert_int_eq(c.inner_rc, 0);
    ck_assert(!c.inner_caught);
    ck_assert_int_eq(c.after_rc, -ECANCELED);
    ck_assert_int_eq(c.outer_rc, 0);
    ck_assert(c.outer_caught);
    return 0;
}

START_TEST(shield_ignores_outer_cancel_until_closed) { RUN(shield_defers_main); }
END_TEST

static int unshield_sleeper(void *arg)
{
    shielded *c = arg;
    axle_scope_open(&c->outer, AXLE_NO_DEADLINE, 0);
    axle_scope_open(&c->inner, AXLE_NO_DEADLINE, AXLE_SCOPE_SHIELD);
    axle_event_set(&c->ready);
    c->sleep_rc = axle_sleep(FOREVER);
    c->woke = true;
    c->inner_rc = axle_scope_close(&c->inner, c->sleep_rc);
    c->inner_caught = axle_scope_cancelled_caught(&c->inner);
    c->outer_rc = axle_scope_close(&c->outer, c->inner_rc);
    c->outer_caught = axle_scope_cancelled_caught(&c->outer);
    return 0;
}

static int unshield_main(void *arg)
{
    (void)arg;
    shielded c;
    shielded_init(&c);
    axle_nursery *n = nursery();
    start(n, unshield_sleeper, &c);
    ck_assert_int_eq(axle_event_wait(&c.ready), 0);
    axle_scope_cancel(&c.outer);
    settle();
    ck_assert_msg(!c.woke, "an outer cancel reached a shielded sleep");
    axle_scope_set_shield(&c.inner, false);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert(c.woke);
    ck_assert_int_eq(c.sleep_rc, -ECANCELED);
    ck_assert_int_eq(c.inner_rc, -ECANCELED);
    ck_assert(!c.inner_caught);
    ck_assert_int_eq(c.outer_rc, 0);
    ck_assert(c.outer_caught);
    return 0;
}

START_TEST(shield_removed_while_parked_wakes_with_ecanceled) { RUN(unshield_main); }
END_TEST

static int shield_own_sleeper(void *arg)
{
    scoped *c = arg;
    axle_scope_open(&c->sc, AXLE_NO_DEADLINE, AXLE_SCOPE_SHIELD);
    axle_event_set(&c->ready);
    c->rc = axle_sleep(FOREVER);
    c->close_rc = axle_scope_close(&c->sc, c->rc);
    c->caught = axle_scope_cancelled_caught(&c->sc);
    return 0;
}

static int shield_own_main(void *arg)
{
    (void)arg;
    scoped c;
    scoped_init(&c);
    axle_nursery *n = nursery();
    start(n, scope_canceller, &c);
    start(n, shield_own_sleeper, &c);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(c.rc, -ECANCELED);
    ck_assert_int_eq(c.close_rc, 0);
    ck_assert(c.caught);
    return 0;
}

START_TEST(shield_scope_own_cancel_still_works) { RUN(shield_own_main); }
END_TEST

static int set_shield_main(void *arg)
{
    (void)arg;
    axle_scope outer, inner;
    axle_scope_open(&outer, AXLE_NO_DEADLINE, 0);
    axle_scope_open(&inner, AXLE_NO_DEADLINE, 0);
    axle_scope_set_shield(&inner, true);
    axle_scope_cancel(&outer);
    assert_checkpoints_pass(); /* inside the shield */
    ck_assert_int_eq(axle_scope_close(&inner, 0), 0);
    int rc = axle_checkpoint();
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&outer, rc), 0);
    /* A shield opened inside an already cancelled scope. */
    axle_scope_open(&outer, AXLE_NO_DEADLINE, 0);
    axle_scope_cancel(&outer);
    axle_scope_open(&inner, AXLE_NO_DEADLINE, AXLE_SCOPE_SHIELD);
    ck_assert_int_eq(axle_sleep(MS), 0);
    ck_assert_int_eq(axle_scope_close(&inner, 0), 0);
    ck_assert_int_eq(axle_scope_close(&outer, axle_checkpoint()), 0);
    ck_assert(axle_scope_cancelled_caught(&outer));
    return 0;
}

START_TEST(shield_set_on_open_scope_blocks_outer_cancel) { RUN(set_shield_main); }
END_TEST

/* =========================================================== deadline === */

static int move_on_main(void *arg)
{
    (void)arg;
    axle_scope sc;
    int64_t t0 = axle_now();
    axle_move_on_after(&sc, 50 * MS);
    ck_assert(axle_scope_deadline(&sc) >= t0 + 50 * MS);
    int rc = axle_sleep(FOREVER);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&sc, rc), 0);
    ck_assert_elapsed(t0, 50 * MS);
    ck_assert(axle_scope_cancelled_caught(&sc));
    ck_assert(axle_scope_cancel_called(&sc));
    /* A body that finishes in time: nothing happens. */
    axle_move_on_after(&sc, FOREVER);
    ck_assert_int_eq(axle_sleep(MS), 0);
    ck_assert_int_eq(axle_scope_close(&sc, 0), 0);
    ck_assert(!axle_scope_cancel_called(&sc));
    return 0;
}

START_TEST(deadline_move_on_after_absorbs_silently) { RUN(move_on_main); }
END_TEST

static int fail_after_main(void *arg)
{
    (void)arg;
    axle_scope sc;
    int64_t t0 = axle_now();
    axle_fail_after(&sc, 50 * MS);
    int rc = axle_sleep(FOREVER);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&sc, rc), -ETIMEDOUT);
    ck_assert_elapsed(t0, 50 * MS);
    ck_assert(axle_scope_cancelled_caught(&sc));
    last_error(-ETIMEDOUT);
    /* In time: 0. */
    axle_fail_after(&sc, FOREVER);
    ck_assert_int_eq(axle_sleep(MS), 0);
    ck_assert_int_eq(axle_scope_close(&sc, 0), 0);
    return 0;
}

START_TEST(deadline_fail_after_gives_etimedout) { RUN(fail_after_main); }
END_TEST

static int fail_after_cancel_main(void *arg)
{
    (void)arg;
    /* -ETIMEDOUT is for a fired deadline; an explicit cancel is absorbed. */
    axle_scope sc;
    axle_fail_after(&sc, FOREVER);
    axle_scope_cancel(&sc);
    int rc = axle_checkpoint();
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&sc, rc), 0);
    ck_assert(axle_scope_cancelled_caught(&sc));
    return 0;
}

START_TEST(deadline_fail_after_explicit_cancel_is_absorbed) { RUN(fail_after_cancel_main); }
END_TEST

static int past_main(void *arg)
{
    (void)arg;
    axle_scope sc;
    axle_scope_open(&sc, axle_now() - MS, 0);
    ck_assert(axle_scope_cancel_called(&sc));
    int rc = axle_checkpoint_if_cancelled();
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&sc, rc), 0);
    ck_assert(axle_scope_cancelled_caught(&sc));

    axle_fail_after(&sc, 0);
    rc = axle_checkpoint_if_cancelled();
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&sc, rc), -ETIMEDOUT);

    axle_fail_after(&sc, -5 * MS);
    rc = axle_sleep(FOREVER);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&sc, rc), -ETIMEDOUT);

    /* Moved into the past on an open scope. */
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    ck_assert_int_eq(axle_checkpoint_if_cancelled(), 0);
    axle_scope_set_deadline(&sc, axle_now() - MS);
    ck_assert(axle_scope_cancel_called(&sc));
    rc = axle_checkpoint_if_cancelled();
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&sc, rc), 0);
    return 0;
}

START_TEST(deadline_in_the_past_cancels_at_once) { RUN(past_main); }
END_TEST

static int earlier_main(void *arg)
{
    (void)arg;
    axle_scope sc;
    int64_t t0 = axle_now();
    axle_move_on_after(&sc, FOREVER);
    int64_t d = axle_now() + 30 * MS;
    axle_scope_set_deadline(&sc, d);
    ck_assert_int_eq(axle_scope_deadline(&sc), d);
    int rc = axle_sleep(FOREVER);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&sc, rc), 0);
    ck_assert(axle_now() >= d);
    ck_assert_elapsed(t0, 30 * MS);
    return 0;
}

START_TEST(deadline_moved_earlier_fires_earlier) { RUN(earlier_main); }
END_TEST

/* A task parked in a scope whose deadline another task moves. */
static int earlier_from_sibling_main(void *arg)
{
    (void)arg;
    scoped c;
    scoped_init(&c);
    axle_nursery *n = nursery();
    start(n, scoped_sleeper, &c);
    ck_assert_int_eq(axle_event_wait(&c.ready), 0);
    int64_t t0 = axle_now();
    axle_scope_set_deadline(&c.sc, t0 + 30 * MS);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_elapsed(t0, 30 * MS);
    ck_assert_int_eq(c.rc, -ECANCELED);
    ck_assert_int_eq(c.close_rc, 0);
    ck_assert(c.caught);
    return 0;
}

START_TEST(deadline_set_by_another_task_wakes_parked_task) { RUN(earlier_from_sibling_main); }
END_TEST

static int later_main(void *arg)
{
    (void)arg;
    axle_scope sc;
    int64_t t0 = axle_now();
    axle_move_on_after(&sc, 30 * MS);
    axle_scope_set_deadline(&sc, t0 + 100 * MS);
    ck_assert_int_eq(axle_sleep(60 * MS), 0); /* past the old deadline */
    ck_assert(!axle_scope_cancel_called(&sc));
    int rc = axle_sleep(FOREVER);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&sc, rc), 0);
    ck_assert_elapsed(t0, 100 * MS);

    /* Removed altogether. */
    axle_move_on_after(&sc, 20 * MS);
    axle_scope_set_deadline(&sc, AXLE_NO_DEADLINE);
    ck_assert_int_eq(axle_scope_deadline(&sc), AXLE_NO_DEADLINE);
    ck_assert_int_eq(axle_sleep(40 * MS), 0);
    ck_assert(!axle_scope_cancel_called(&sc));
    ck_assert_int_eq(axle_scope_close(&sc, 0), 0);
    return 0;
}

START_TEST(deadline_moved_later_or_removed_does_not_fire_early) { RUN(later_main); }
END_TEST

static int nested_inner_shorter_main(void *arg)
{
    (void)arg;
    axle_scope outer, inner;
    int64_t t0 = axle_now();
    axle_move_on_after(&outer, FOREVER);
    axle_move_on_after(&inner, 30 * MS);
    int rc = axle_sleep(FOREVER);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&inner, rc), 0);
    ck_assert(axle_scope_cancelled_caught(&inner));
    ck_assert_elapsed(t0, 30 * MS);
    ck_assert_int_eq(axle_checkpoint(), 0);
    ck_assert_int_eq(axle_scope_close(&outer, 0), 0);
    ck_assert(!axle_scope_cancel_called(&outer));
    ck_assert(!axle_scope_cancelled_caught(&outer));

    /* fail_after inside fail_after: the inner's -ETIMEDOUT rises untouched. */
    axle_fail_after(&outer, FOREVER);
    axle_fail_after(&inner, 20 * MS);
    rc = axle_sleep(FOREVER);
    ck_assert_int_eq(rc, -ECANCELED);
    rc = axle_scope_close(&inner, rc);
    ck_assert_int_eq(rc, -ETIMEDOUT);
    ck_assert_int_eq(axle_scope_close(&outer, rc), -ETIMEDOUT);
    ck_assert(!axle_scope_cancelled_caught(&outer));
    return 0;
}

START_TEST(deadline_nested_inner_shorter_inner_catches) { RUN(nested_inner_shorter_main); }
END_TEST

static int nested_outer_shorter_main(void *arg)
{
    (void)arg;
    axle_scope outer, inner;
    int64_t t0 = axle_now();
    axle_move_on_after(&outer, 30 * MS);
    axle_move_on_after(&inner, FOREVER);
    int rc = axle_sleep(FOREVER);
    ck_assert_int_eq(rc, -ECANCELED);
    rc = axle_scope_close(&inner, rc);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert(!axle_scope_cancelled_caught(&inner));
    ck_assert(!axle_scope_cancel_called(&inner));
    ck_assert_int_eq(axle_scope_close(&outer, rc), 0);
    ck_assert(axle_scope_cancelled_caught(&outer));
    ck_assert_elapsed(t0, 30 * MS);

    /* The same with fail_after: only the outer times out. */
    axle_fail_after(&outer, 20 * MS);
    axle_fail_after(&inner, FOREVER);
    rc = axle_sleep(FOREVER);
    rc = axle_scope_close(&inner, rc);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&outer, rc), -ETIMEDOUT);
    return 0;
}

START_TEST(deadline_nested_outer_shorter_outer_catches) { RUN(nested_outer_shorter_main); }
END_TEST

#define NTIMERS 300

/* NTIMERS tasks, each parked in a move-on scope with its own deadline. */
typedef struct timers_ctx {
    axle_scope sc[NTIMERS];    /* each task's scope */
    int64_t deadline[NTIMERS]; /* its deadline (kept up to date by main) */
    int64_t woke_at[NTIMERS];  /* when it woke */
    int rc[NTIMERS];           /* its sleep's result */
    int close_rc[NTIMERS];     /* its scope's close */
    int order[NTIMERS];        /* task ids in the order they woke */
    int norder;
} timers_ctx;

typedef struct timer_arg {
    timers_ctx *c;
    int id;
} timer_arg;

static int timer_task(void *arg)
{
    timer_arg *a = arg;
    timers_ctx *c = a->c;
    axle_scope_open(&c->sc[a->id], c->deadline[a->id], 0);
    c->rc[a->id] = axle_sleep(FOREVER);
    c->woke_at[a->id] = axle_now();
    c->order[c->norder++] = a->id;
    c->close_rc[a->id] = axle_scope_close(&c->sc[a->id], c->rc[a->id]);
    return 0;
}

static int many_timers_main(void *arg)
{
    (void)arg;
    timers_ctx *c = calloc(1, sizeof *c);
    timer_arg *args = calloc(NTIMERS, sizeof *args);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(args);
    /* Deadlines from one base, far enough ahead that none is past at open. */
    int64_t base = axle_now() + 100 * MS;
    for (int i = 0; i < NTIMERS; i++)
        c->deadline[i] = base + (int64_t)((i * 7919) % 97) * MS / 2;
    axle_nursery *n = nursery();
    for (int i = 0; i < NTIMERS; i++) {
        args[i] = (timer_arg){c, i};
        start(n, timer_task, &args[i]);
    }
    settle();
    /* A third cancelled (out of the middle of the heap), a third moved. */
    for (int i = 0; i < NTIMERS; i++) {
        if (i % 3 == 1) {
            axle_scope_cancel(&c->sc[i]);
        } else if (i % 3 == 2) {
            c->deadline[i] += 10 * MS;
            axle_scope_set_deadline(&c->sc[i], c->deadline[i]);
        }
    }
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(c->norder, NTIMERS);
    int64_t prev = 0;
    for (int k = 0; k < NTIMERS; k++) {
        int i = c->order[k];
        ck_assert_int_eq(c->rc[i], -ECANCELED);
        ck_assert_int_eq(c->close_rc[i], 0);
        if (i % 3 == 1)
            continue; /* woken by its cancel, at once */
        ck_assert_msg(c->woke_at[i] >= c->deadline[i], "task %d woke %lld ns early", i,
                      (long long)(c->deadline[i] - c->woke_at[i]));
        ck_assert_msg(c->deadline[i] >= prev, "task %d (deadline %lld) woke after one due at %lld",
                      i, (long long)c->deadline[i], (long long)prev);
        prev = c->deadline[i];
    }
    free(args);
    free(c);
    return 0;
}

START_TEST(deadline_many_timers_fire_in_deadline_order) { RUN(many_timers_main); }
END_TEST

/* ============================================================== suite === */

int main(void)
{
    Suite *s = suite_create("scope");
    ADD_CASE(s, "scope", 10, scope_cancel_from_sibling_wakes_sleeping_task,
             nursery_cancel_wakes_every_sleeping_task, scope_cancel_is_level_triggered_until_close,
             scope_cancelled_while_parked_keeps_failing_checkpoints,
             scope_close_absorbs_its_own_cancel,
             scope_cancel_without_failed_checkpoint_is_not_caught,
             scope_close_passes_other_errors_through, scope_outer_cancel_passes_through_inner_close,
             scope_inner_cancel_does_not_leak_out, scope_closed_ignores_cancel_and_reopens_fresh);
    ADD_CASE(s, "shield", 10, shield_ignores_outer_cancel_until_closed,
             shield_removed_while_parked_wakes_with_ecanceled, shield_scope_own_cancel_still_works,
             shield_set_on_open_scope_blocks_outer_cancel);
    ADD_CASE(s, "deadline", 10, deadline_move_on_after_absorbs_silently,
             deadline_fail_after_gives_etimedout, deadline_fail_after_explicit_cancel_is_absorbed,
             deadline_in_the_past_cancels_at_once, deadline_moved_earlier_fires_earlier,
             deadline_set_by_another_task_wakes_parked_task,
             deadline_moved_later_or_removed_does_not_fire_early,
             deadline_nested_inner_shorter_inner_catches,
             deadline_nested_outer_shorter_outer_catches,
             deadline_many_timers_fire_in_deadline_order);
    return task_suite_main("test_scope", s);
}
