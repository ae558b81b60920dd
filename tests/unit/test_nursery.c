/*
 * tests/unit/test_nursery.c — nurseries: waiting for every child, the first
 * error cancelling the rest, error groups, start/started, many tasks.
 */
#include "task_helpers.h"

/* ============================================================ nursery === */

typedef struct failing {
    sleeper s[2];  /* siblings that sleep until cancelled */
    int fail_code; /* what the failing task returns */
    const char *fail_msg;
} failing;

static int failing_task(void *arg)
{
    failing *c = arg;
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(axle_event_wait(&c->s[i].ready), 0);
    return AXLE_SET_ERR(c->fail_code, "%s %d", c->fail_msg, 7);
}

static int error_cancels_main(void *arg)
{
    (void)arg;
    failing c = {.fail_code = -EIO, .fail_msg = "disk"};
    axle_nursery *n = nursery();
    for (int i = 0; i < 2; i++) {
        sleeper_init(&c.s[i]);
        start(n, sleeper_task, &c.s[i]);
    }
    start(n, failing_task, &c);
    ck_assert_int_eq(axle_nursery_close(n, 0), -EIO);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(c.s[i].rc, -ECANCELED);
    const axle_error *e = last_error(-EIO);
    ck_assert_str_eq(axle_error_message(e), "disk 7");
    ck_assert_uint_ge(axle_error_nframes(e), 1);
    ck_assert_str_eq(frame_func(e, 0), "failing_task");
    ck_assert_uint_eq(axle_error_nmembers(e), 0);
    return 0;
}

START_TEST(nursery_error_cancels_siblings_and_is_returned) { RUN(error_cancels_main); }
END_TEST

static int error_cancels_body_main(void *arg)
{
    (void)arg;
    failing c = {.fail_code = -ENOSPC, .fail_msg = "full"};
    axle_nursery *n = nursery();
    for (int i = 0; i < 2; i++) {
        sleeper_init(&c.s[i]);
        start(n, sleeper_task, &c.s[i]);
    }
    start(n, failing_task, &c);
    int rc = axle_sleep(FOREVER); /* the body is cancelled too */
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_nursery_close(n, rc), -ENOSPC);
    ck_assert_str_eq(axle_error_message(last_error(-ENOSPC)), "full 7");
    return 0;
}

START_TEST(nursery_error_cancels_the_body) { RUN(error_cancels_body_main); }
END_TEST

static int group_main(void *arg)
{
    (void)arg;
    sleeper s;
    sleeper_init(&s);
    axle_nursery *n = nursery();
    start(n, sleeper_task, &s);
    start(n, fail_first, NULL);
    start(n, fail_second, NULL);
    ck_assert_int_eq(axle_nursery_close(n, 0), -AXLE_EGROUP);
    ck_assert_int_eq(s.rc, -ECANCELED);
    const axle_error *g = last_error(-AXLE_EGROUP);
    ck_assert_uint_eq(axle_error_nmembers(g), 2);
    ck_assert_ptr_null(axle_error_member(g, 2));
    const axle_error *m1 = member_with(g, -EIO), *m2 = member_with(g, -ENOSPC);
    ck_assert_str_eq(axle_error_message(m1), "first");
    ck_assert_str_eq(axle_error_message(m2), "second");
    ck_assert_str_eq(frame_func(m1, 0), "fail_first");
    ck_assert_str_eq(frame_func(m2, 0), "fail_second");
    return 0;
}

START_TEST(nursery_two_errors_make_a_group) { RUN(group_main); }
END_TEST

static int body_error_main(void *arg)
{
    (void)arg;
    sleeper s[2];
    axle_nursery *n = nursery();
    for (int i = 0; i < 2; i++) {
        sleeper_init(&s[i]);
        start(n, sleeper_task, &s[i]);
    }
    settle();
    int rc = axle_nursery_close(n, AXLE_SET_ERR(-EIO, "body failed"));
    ck_assert_int_eq(rc, -EIO);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(s[i].rc, -ECANCELED);
    ck_assert_str_eq(axle_error_message(last_error(-EIO)), "body failed");
    return 0;
}

START_TEST(nursery_body_error_cancels_children_and_is_returned) { RUN(body_error_main); }
END_TEST

/* Sleeps until cancelled, then fails while cleaning up. */
static int cleanup_fails(void *arg)
{
    sleeper *s = arg;
    axle_event_set(&s->ready);
    s->rc = axle_sleep(FOREVER);
    return AXLE_SET_ERR(-ENOSPC, "cleanup failed");
}

static int body_and_child_main(void *arg)
{
    (void)arg;
    sleeper s;
    sleeper_init(&s);
    axle_nursery *n = nursery();
    start(n, cleanup_fails, &s);
    ck_assert_int_eq(axle_event_wait(&s.ready), 0);
    int rc = axle_nursery_close(n, AXLE_SET_ERR(-EIO, "body failed"));
    ck_assert_int_eq(rc, -AXLE_EGROUP);
    ck_assert_int_eq(s.rc, -ECANCELED);
    const axle_error *g = last_error(-AXLE_EGROUP);
    ck_assert_uint_eq(axle_error_nmembers(g), 2);
    ck_assert_str_eq(axle_error_message(member_with(g, -EIO)), "body failed");
    ck_assert_str_eq(axle_error_message(member_with(g, -ENOSPC)), "cleanup failed");
    return 0;
}

START_TEST(nursery_body_error_and_child_error_make_a_group) { RUN(body_and_child_main); }
END_TEST

static int not_masked_main(void *arg)
{
    (void)arg;
    sleeper s;
    sleeper_init(&s);
    axle_scope sc;
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    axle_nursery *n = nursery();
    start(n, cleanup_fails, &s);
    ck_assert_int_eq(axle_event_wait(&s.ready), 0);
    axle_scope_cancel(&sc);
    int rc = axle_checkpoint();
    ck_assert_int_eq(rc, -ECANCELED);
    /* The child's cleanup error rises through both closes, not -ECANCELED. */
    rc = axle_nursery_close(n, rc);
    ck_assert_int_eq(rc, -ENOSPC);
    ck_assert_int_eq(axle_scope_close(&sc, rc), -ENOSPC);
    ck_assert(!axle_scope_cancelled_caught(&sc));
    ck_assert_str_eq(axle_error_message(last_error(-ENOSPC)), "cleanup failed");
    return 0;
}

START_TEST(nursery_error_is_not_masked_by_an_outer_cancel) { RUN(not_masked_main); }
END_TEST

typedef struct flagged {
    int64_t ns; /* how long to sleep */
    int rc;     /* the sleep's result */
    bool done;  /* set when the task finished */
} flagged;

static int sleep_then_flag(void *arg)
{
    flagged *f = arg;
    f->rc = axle_sleep(f->ns);
    f->done = true;
    return f->rc;
}

static int waits_main(void *arg)
{
    (void)arg;
    flagged f[3] = {{.ns = 30 * MS, .rc = 1}, {.ns = 0, .rc = 1}, {.ns = 10 * MS, .rc = 1}};
    int64_t t0 = axle_now();
    axle_nursery *n = nursery();
    for (int i = 0; i < 3; i++)
        start(n, sleep_then_flag, &f[i]);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert(f[i].done);
        ck_assert_int_eq(f[i].rc, 0);
    }
    ck_assert_elapsed(t0, 30 * MS);
    /* An empty nursery closes at once. */
    n = nursery();
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    return 0;
}

START_TEST(nursery_close_waits_for_every_child) { RUN(waits_main); }
END_TEST

typedef struct closer_ctx {
    axle_scope sc;    /* around the inner nursery; cancelled by a sibling */
    axle_event ready; /* the child is parked */
    int child_rc;     /* the child's first sleep */
    int cleanup_rc;   /* its shielded cleanup sleep */
    bool child_done;  /* set as the child ends */
    bool closing;     /* main is about to park in close */
} closer_ctx;

static int slow_cleanup_child(void *arg)
{
    closer_ctx *c = arg;
    axle_event_set(&c->ready);
    c->child_rc = axle_sleep(FOREVER);
    /* Cleanup that must block: shielded, with its own deadline. */
    axle_scope sh;
    axle_scope_open(&sh, axle_now() + 20 * MS * 100, AXLE_SCOPE_SHIELD);
    c->cleanup_rc = axle_sleep(20 * MS);
    ck_assert_int_eq(axle_scope_close(&sh, c->cleanup_rc), 0);
    c->child_done = true;
    return c->child_rc;
}

static int closer_canceller(void *arg)
{
    closer_ctx *c = arg;
    ck_assert_int_eq(axle_event_wait(&c->ready), 0);
    ck_assert(c->closing);
    axle_scope_cancel(&c->sc);
    return 0;
}

static int cancelled_closer_main(void *arg)
{
    (void)arg;
    closer_ctx c = {.child_rc = 1, .cleanup_rc = 1};
    axle_event_init(&c.ready);
    axle_nursery *outer = nursery();
    start(outer, closer_canceller, &c);
    axle_scope_open(&c.sc, AXLE_NO_DEADLINE, 0);
    axle_nursery *inner = nursery();
    start(inner, slow_cleanup_child, &c);
    c.closing = true;
    int rc = axle_nursery_close(inner, 0);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_msg(c.child_done, "close returned before its child finished");
    ck_assert_int_eq(c.child_rc, -ECANCELED);
    ck_assert_int_eq(c.cleanup_rc, 0);
    ck_assert_int_eq(axle_scope_close(&c.sc, rc), 0);
    ck_assert(axle_scope_cancelled_caught(&c.sc));
    return axle_nursery_close(outer, 0);
}

START_TEST(nursery_cancelled_closer_cancels_children_and_waits) { RUN(cancelled_closer_main); }
END_TEST

typedef struct nested_ctx {
    sleeper outer_sib; /* in the outer nursery */
    sleeper inner_sib; /* in the inner nursery */
    int inner_rc;      /* the inner nursery's close */
    bool fail;         /* the inner failer fails (else the main cancels) */
} nested_ctx;

static int inner_fail(void *arg)
{
    (void)arg;
    return AXLE_SET_ERR(-EIO, "inner failed");
}

static int middle_task(void *arg)
{
    nested_ctx *c = arg;
    axle_nursery *n = nursery();
    start(n, sleeper_task, &c->inner_sib);
    if (c->fail)
        start(n, inner_fail, NULL);
    c->inner_rc = axle_nursery_close(n, 0);
    return AXLE_ERR_FRAME(c->inner_rc);
}

static int nested_error_main(void *arg)
{
    (void)arg;
    nested_ctx c = {.inner_rc = 1, .fail = true};
    sleeper_init(&c.outer_sib);
    sleeper_init(&c.inner_sib);
    axle_nursery *n = nursery();
    start(n, sleeper_task, &c.outer_sib);
    start(n, middle_task, &c);
    ck_assert_int_eq(axle_nursery_close(n, 0), -EIO);
    ck_assert_int_eq(c.inner_rc, -EIO);
    ck_assert_int_eq(c.inner_sib.rc, -ECANCELED);
    ck_assert_int_eq(c.outer_sib.rc, -ECANCELED);
    const axle_error *e = last_error(-EIO);
    ck_assert_str_eq(axle_error_message(e), "inner failed");
    ck_assert_uint_eq(axle_error_nframes(e), 2);
    ck_assert_str_eq(frame_func(e, 0), "inner_fail");
    ck_assert_str_eq(frame_func(e, 1), "middle_task");
    return 0;
}

START_TEST(nursery_nested_error_rises_through_both) { RUN(nested_error_main); }
END_TEST

static int nested_cancel_main(void *arg)
{
    (void)arg;
    nested_ctx c = {.inner_rc = 1, .fail = false};
    sleeper_init(&c.outer_sib);
    sleeper_init(&c.inner_sib);
    axle_nursery *n = nursery();
    start(n, sleeper_task, &c.outer_sib);
    start(n, middle_task, &c);
    ck_assert_int_eq(axle_event_wait(&c.inner_sib.ready), 0);
    axle_nursery_cancel(n);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(c.inner_sib.rc, -ECANCELED);
    ck_assert_int_eq(c.outer_sib.rc, -ECANCELED);
    ck_assert_int_eq(c.inner_rc, -ECANCELED); /* the outer cancel passes through */
    return 0;
}

START_TEST(nursery_outer_cancel_reaches_inner_nursery) { RUN(nested_cancel_main); }
END_TEST

typedef struct late_ctx {
    axle_nursery *n; /* the nursery being closed */
    bool closing;    /* main is parked in close */
    flagged late;    /* the task started during close */
    int start_rc;    /* start_soon's result */
} late_ctx;

static int starts_sibling(void *arg)
{
    late_ctx *c = arg;
    ck_assert(c->closing);
    c->start_rc = axle_nursery_start_soon(c->n, sleep_then_flag, &c->late, NULL);
    return 0;
}

static int late_start_main(void *arg)
{
    (void)arg;
    late_ctx c = {.start_rc = 1, .late = {.ns = 20 * MS, .rc = 1}};
    c.n = nursery();
    start(c.n, starts_sibling, &c);
    c.closing = true; /* start_soon does not run the task: close parks first */
    ck_assert_int_eq(axle_nursery_close(c.n, 0), 0);
    ck_assert_int_eq(c.start_rc, 0);
    ck_assert(c.late.done);
    ck_assert_int_eq(c.late.rc, 0);
    return 0;
}

START_TEST(nursery_task_starts_sibling_while_close_waits) { RUN(late_start_main); }
END_TEST

static int start_via_start(void *arg, axle_task_status *st)
{
    flagged *f = arg;
    axle_started(st, NULL);
    return sleep_then_flag(f);
}

typedef struct late_start_ctx {
    axle_nursery *n; /* the nursery being closed */
    bool closing;    /* main is parked in close */
    flagged late;    /* the task started during close */
    int start_rc;    /* axle_nursery_start's result */
} late_start_ctx;

static int starts_with_start(void *arg)
{
    late_start_ctx *c = arg;
    ck_assert(c->closing);
    c->start_rc = axle_nursery_start(c->n, start_via_start, &c->late, NULL, NULL);
    return 0;
}

static int late_start_start_main(void *arg)
{
    (void)arg;
    late_start_ctx c = {.start_rc = 1, .late = {.ns = 20 * MS, .rc = 1}};
    c.n = nursery();
    start(c.n, starts_with_start, &c);
    c.closing = true;
    ck_assert_int_eq(axle_nursery_close(c.n, 0), 0);
    ck_assert_int_eq(c.start_rc, 0);
    ck_assert(c.late.done);
    ck_assert_int_eq(c.late.rc, 0);
    return 0;
}

START_TEST(nursery_task_uses_start_while_close_waits) { RUN(late_start_start_main); }
END_TEST

static int deadline_nursery_main(void *arg)
{
    (void)arg;
    sleeper s[2];
    axle_scope sc;
    int64_t t0 = axle_now();
    axle_fail_after(&sc, 30 * MS);
    axle_nursery *n = nursery();
    for (int i = 0; i < 2; i++) {
        sleeper_init(&s[i]);
        start(n, sleeper_task, &s[i]);
    }
    int rc = axle_nursery_close(n, 0);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&sc, rc), -ETIMEDOUT);
    ck_assert_elapsed(t0, 30 * MS);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(s[i].rc, -ECANCELED);
    return 0;
}

START_TEST(nursery_inside_fail_after_is_cancelled_by_the_deadline) { RUN(deadline_nursery_main); }
END_TEST

static int after_cancel_main(void *arg)
{
    (void)arg;
    sleeper s;
    sleeper_init(&s);
    axle_nursery *n = nursery();
    axle_nursery_cancel(n);
    start(n, sleeper_task, &s); /* joins a cancelled nursery */
    ck_assert_int_eq(axle_nursery_close(n, -ECANCELED), 0);
    ck_assert_int_eq(s.rc, -ECANCELED);
    return 0;
}

START_TEST(nursery_task_started_after_cancel_is_cancelled) { RUN(after_cancel_main); }
END_TEST

static int wrong_rich_error(void *arg)
{
    (void)arg;
    AXLE_SET_ERR(-EIO, "about something else");
    return -ENOSPC; /* no rich error for this code */
}

static int bare_error_main(void *arg)
{
    (void)arg;
    axle_nursery *n = nursery();
    start(n, wrong_rich_error, NULL);
    ck_assert_int_eq(axle_nursery_close(n, 0), -ENOSPC);
    const axle_error *e = last_error(-ENOSPC);
    ck_assert_str_eq(axle_error_message(e), axle_strerror(-ENOSPC));
    return 0;
}

START_TEST(nursery_error_without_its_rich_error_gets_a_bare_one) { RUN(bare_error_main); }
END_TEST

/* ============================================================== start === */

typedef struct start_ctx {
    int token;        /* its address is the started value */
    int phase;        /* how far the task got */
    axle_event go;    /* lets the task finish */
    axle_event ready; /* set before a pre-start park */
    axle_scope sc;    /* the caller's scope, cancelled from outside */
    int rc;           /* the task's sleep result; 1 until it returns */
    bool ran;         /* the task body ran at all */
    int fail_code;    /* for failing starters */
} start_ctx;

static void start_ctx_init(start_ctx *c)
{
    memset(c, 0, sizeof *c);
    c->rc = 1;
    axle_event_init(&c->go);
    axle_event_init(&c->ready);
}

static int server_task(void *arg, axle_task_status *st)
{
    start_ctx *c = arg;
    c->phase = 1;
    axle_started(st, &c->token);
    c->phase = 2;
    ck_assert_int_eq(axle_event_wait(&c->go), 0);
    c->phase = 3;
    return 0;
}

static int start_value_main(void *arg)
{
    (void)arg;
    start_ctx c;
    start_ctx_init(&c);
    axle_nursery *n = nursery();
    void *v = NULL;
    ck_assert_int_eq(axle_nursery_start(n, server_task, &c, NULL, &v), 0);
    ck_assert_ptr_eq(v, &c.token);
    ck_assert_int_eq(c.phase, 2); /* still running, parked in the nursery */
    ck_assert_uint_eq(axle_task_count(), 2);
    axle_event_set(&c.go);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(c.phase, 3);
    /* value may be NULL. */
    start_ctx_init(&c);
    n = nursery();
    ck_assert_int_eq(axle_nursery_start(n, server_task, &c, NULL, NULL), 0);
    axle_event_set(&c.go);
    return axle_nursery_close(n, 0);
}

START_TEST(start_returns_the_started_value_and_task_keeps_running) { RUN(start_value_main); }
END_TEST

static int started_then_waits(void *arg, axle_task_status *st)
{
    start_ctx *c = arg;
    c->ran = true;
    axle_started(st, NULL);
    c->rc = axle_event_wait(&c->go);
    return c->rc == -ECANCELED ? c->rc : 0;
}

static int started_then_sleeps_forever(void *arg, axle_task_status *st)
{
    start_ctx *c = arg;
    axle_started(st, NULL);
    c->rc = axle_sleep(FOREVER);
    return c->rc;
}

static int belongs_main(void *arg)
{
    (void)arg;
    start_ctx a, b;
    start_ctx_init(&a);
    start_ctx_init(&b);
    axle_nursery *n = nursery();
    /* Once started, the caller's scope no longer covers the task... */
    axle_scope_open(&a.sc, AXLE_NO_DEADLINE, 0);
    ck_assert_int_eq(axle_nursery_start(n, started_then_waits, &a, NULL, NULL), 0);
    axle_scope_cancel(&a.sc); /* a is parked in its event wait */
    int rc = axle_checkpoint();
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&a.sc, rc), 0);
    settle();
    ck_assert_int_eq(a.rc, 1);
    axle_event_set(&a.go);
    settle();
    ck_assert_int_eq(a.rc, 0);
    /* ...but the nursery's does. */
    ck_assert_int_eq(axle_nursery_start(n, started_then_sleeps_forever, &b, NULL, NULL), 0);
    settle();
    ck_assert_int_eq(b.rc, 1);
    axle_nursery_cancel(n);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(b.rc, -ECANCELED);
    return 0;
}

START_TEST(start_task_belongs_to_the_nursery_after_started) { RUN(belongs_main); }
END_TEST

static int fails_before_started(void *arg, axle_task_status *st)
{
    (void)st;
    start_ctx *c = arg;
    c->ran = true;
    return AXLE_SET_ERR(c->fail_code, "port %d busy", 8080);
}

static int start_fail_main(void *arg)
{
    (void)arg;
    start_ctx c;
    start_ctx_init(&c);
    c.fail_code = -EADDRINUSE;
    flagged sib = {.ns = 20 * MS, .rc = 1};
    axle_nursery *n = nursery();
    start(n, sleep_then_flag, &sib);
    int rc = axle_nursery_start(n, fails_before_started, &c, NULL, NULL);
    ck_assert_int_eq(rc, -EADDRINUSE);
    ck_assert(c.ran);
    ck_assert_str_eq(axle_error_message(last_error(-EADDRINUSE)), "port 8080 busy");
    /* The nursery is unaffected: not cancelled, the sibling runs on. */
    ck_assert(!axle_scope_cancel_called(axle_nursery_scope(n)));
    ck_assert_int_eq(axle_checkpoint(), 0);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert(sib.done);
    ck_assert_int_eq(sib.rc, 0);
    return 0;
}

START_TEST(start_failure_before_started_returns_its_code) { RUN(start_fail_main); }
END_TEST

static int returns_without_started(void *arg, axle_task_status *st)
{
    (void)st;
    start_ctx *c = arg;
    c->ran = true;
    return 0;
}

static int not_started_main(void *arg)
{
    (void)arg;
    start_ctx c;
    start_ctx_init(&c);
    axle_nursery *n = nursery();
    int rc = axle_nursery_start(n, returns_without_started, &c, NULL, NULL);
    ck_assert_int_eq(rc, -AXLE_ENOTSTARTED);
    ck_assert(c.ran);
    last_error(-AXLE_ENOTSTARTED);
    ck_assert(!axle_scope_cancel_called(axle_nursery_scope(n)));
    return axle_nursery_close(n, 0);
}

START_TEST(start_task_returning_without_started_is_enotstarted) { RUN(not_started_main); }
END_TEST

static int sleeps_before_started(void *arg, axle_task_status *st)
{
    start_ctx *c = arg;
    c->ran = true;
    axle_event_set(&c->ready);
    c->rc = axle_sleep(FOREVER);
    if (c->rc < 0)
        return c->rc;
    axle_started(st, NULL);
    return 0;
}

static int start_caller_canceller(void *arg)
{
    start_ctx *c = arg;
    ck_assert_int_eq(axle_event_wait(&c->ready), 0);
    axle_scope_cancel(&c->sc);
    return 0;
}

static int start_cancel_main(void *arg)
{
    (void)arg;
    start_ctx c;
    start_ctx_init(&c);
    axle_nursery *n = nursery();
    start(n, start_caller_canceller, &c);
    axle_scope_open(&c.sc, AXLE_NO_DEADLINE, 0);
    int rc = axle_nursery_start(n, sleeps_before_started, &c, NULL, NULL);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(c.rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&c.sc, rc), 0);
    ck_assert(axle_scope_cancelled_caught(&c.sc));
    ck_assert(!axle_scope_cancel_called(axle_nursery_scope(n)));

    /* The same through a deadline on the caller. */
    start_ctx_init(&c);
    axle_scope sc;
    int64_t t0 = axle_now();
    axle_move_on_after(&sc, 30 * MS);
    rc = axle_nursery_start(n, sleeps_before_started, &c, NULL, NULL);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(c.rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&sc, rc), 0);
    ck_assert_elapsed(t0, 30 * MS);

    /* Already cancelled: the task never runs. */
    start_ctx_init(&c);
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    axle_scope_cancel(&sc);
    rc = axle_nursery_start(n, sleeps_before_started, &c, NULL, NULL);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&sc, rc), 0);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert(!c.ran);
    return 0;
}

START_TEST(start_caller_cancelled_cancels_the_starting_task) { RUN(start_cancel_main); }
END_TEST

static int started_twice(void *arg, axle_task_status *st)
{
    start_ctx *c = arg;
    axle_started(st, &c->token);
    axle_started(st, &c->phase); /* ignored, with a warning */
    return 0;
}

static int started_twice_main(void *arg)
{
    (void)arg;
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    axle_log_set_fd(p[1]);
    ck_assert_int_eq(axle_log_set_level("warning"), 0);
    start_ctx c;
    start_ctx_init(&c);
    axle_nursery *n = nursery();
    void *v = NULL;
    ck_assert_int_eq(axle_nursery_start(n, started_twice, &c, NULL, &v), 0);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_ptr_eq(v, &c.token);
    char buf[1024];
    ssize_t got = read(p[0], buf, sizeof buf - 1);
    ck_assert_int_gt(got, 0);
    buf[got] = 0;
    ck_assert_ptr_nonnull(strstr(buf, "WARNING"));
    ck_assert_ptr_nonnull(strstr(buf, "axle_started"));
    axle_log_set_fd(2);
    close(p[0]);
    close(p[1]);
    return 0;
}

START_TEST(start_second_started_is_ignored_with_a_warning) { RUN(started_twice_main); }
END_TEST

typedef struct into_ctx {
    axle_nursery *target; /* cancelled before the start */
    start_ctx task;       /* the started task's record */
    int start_rc;
} into_ctx;

static int starter_outside(void *arg)
{
    into_ctx *c = arg;
    c->start_rc = axle_nursery_start(c->target, started_then_sleeps_forever, &c->task, NULL, NULL);
    return 0;
}

static int start_into_cancelled_main(void *arg)
{
    (void)arg;
    into_ctx c;
    start_ctx_init(&c.task);
    c.start_rc = 1;
    axle_nursery *outer = nursery();
    c.target = nursery();
    axle_nursery_cancel(c.target);
    /* A task of the outer nursery (not inside target's scope) starts into it. */
    start(outer, starter_outside, &c);
    /* Let the start happen (close would not wait for a start not yet made);
     * main is in target's cancelled scope, so it waits shielded. */
    axle_scope sh;
    axle_scope_open(&sh, AXLE_NO_DEADLINE, AXLE_SCOPE_SHIELD);
    settle();
    ck_assert_int_eq(axle_scope_close(&sh, 0), 0);
    int rc = axle_nursery_close(c.target, -ECANCELED);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(c.start_rc, 0);
    ck_assert_int_eq(c.task.rc, -ECANCELED); /* cancelled once it joined */
    return axle_nursery_close(outer, 0);
}

START_TEST(start_into_a_cancelled_nursery_cancels_the_task_once_started)
{
    RUN(start_into_cancelled_main);
}
END_TEST

static int fails_after_started(void *arg, axle_task_status *st)
{
    (void)arg;
    axle_started(st, NULL);
    ck_assert_int_eq(axle_checkpoint(), 0);
    return AXLE_SET_ERR(-EPROTO, "broke after starting");
}

static int fail_after_started_main(void *arg)
{
    (void)arg;
    sleeper s;
    sleeper_init(&s);
    axle_nursery *n = nursery();
    start(n, sleeper_task, &s);
    ck_assert_int_eq(axle_nursery_start(n, fails_after_started, NULL, NULL, NULL), 0);
    ck_assert_int_eq(axle_nursery_close(n, 0), -EPROTO);
    ck_assert_int_eq(s.rc, -ECANCELED);
    ck_assert_str_eq(axle_error_message(last_error(-EPROTO)), "broke after starting");
    return 0;
}

START_TEST(start_task_failing_after_started_fails_the_nursery) { RUN(fail_after_started_main); }
END_TEST

/* =============================================================== many === */

#define MANY 10000

typedef struct many_ctx {
    int ran;      /* tasks that reached their checkpoint */
    int finished; /* tasks that finished */
    size_t peak;  /* the most live tasks seen */
} many_ctx;

static int many_task(void *arg)
{
    many_ctx *c = arg;
    c->ran++;
    ck_assert_int_eq(axle_checkpoint(), 0); /* all alive at once */
    size_t live = axle_task_count();
    if (live > c->peak)
        c->peak = live;
    c->finished++;
    return 0;
}

static int many_main(void *arg)
{
    (void)arg;
    many_ctx c = {0};
    axle_nursery *n = nursery();
    for (int i = 0; i < MANY; i++)
        start(n, many_task, &c);
    ck_assert_uint_eq(axle_task_count(), MANY + 1);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(c.ran, MANY);
    ck_assert_int_eq(c.finished, MANY);
    ck_assert_uint_eq(c.peak, MANY + 1);
    ck_assert_uint_eq(axle_task_count(), 1);
    return 0;
}

START_TEST(many_ten_thousand_tasks_run_and_finish) { RUN(many_main); }
END_TEST

static int many_started(void *arg, axle_task_status *st)
{
    many_ctx *c = arg;
    c->ran++;
    axle_started(st, NULL);
    ck_assert_int_eq(axle_checkpoint(), 0);
    c->finished++;
    return 0;
}

static int many_start_main(void *arg)
{
    (void)arg;
    many_ctx c = {0};
    axle_nursery *n = nursery();
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(axle_nursery_start(n, many_started, &c, NULL, NULL), 0);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(c.ran, 1000);
    ck_assert_int_eq(c.finished, 1000);
    return 0;
}

START_TEST(many_thousand_starts_in_a_row) { RUN(many_start_main); }
END_TEST

typedef struct sleepers_ctx {
    int woke; /* sleepers that returned 0 at or after their deadline */
} sleepers_ctx;

static int many_sleeper(void *arg)
{
    sleepers_ctx *c = arg;
    int64_t d = axle_now() + (int64_t)(axle_task_count() % 20 + 1) * MS;
    ck_assert_int_eq(axle_sleep_until(d), 0);
    ck_assert(axle_now() >= d);
    c->woke++;
    return 0;
}

static int many_sleepers_main(void *arg)
{
    (void)arg;
    sleepers_ctx c = {0};
    axle_nursery *n = nursery();
    for (int i = 0; i < MANY; i++)
        start(n, many_sleeper, &c);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(c.woke, MANY);
    return 0;
}

START_TEST(many_ten_thousand_sleepers_all_wake) { RUN(many_sleepers_main); }
END_TEST

/* ============================================================== suite === */

int main(void)
{
    Suite *s = suite_create("nursery");
    ADD_CASE(s, "nursery", 10, nursery_error_cancels_siblings_and_is_returned,
             nursery_error_cancels_the_body, nursery_two_errors_make_a_group,
             nursery_body_error_cancels_children_and_is_returned,
             nursery_body_error_and_child_error_make_a_group,
             nursery_error_is_not_masked_by_an_outer_cancel, nursery_close_waits_for_every_child,
             nursery_cancelled_closer_cancels_children_and_waits,
             nursery_nested_error_rises_through_both, nursery_outer_cancel_reaches_inner_nursery,
             nursery_task_starts_sibling_while_close_waits,
             nursery_task_uses_start_while_close_waits,
             nursery_inside_fail_after_is_cancelled_by_the_deadline,
             nursery_task_started_after_cancel_is_cancelled,
             nursery_error_without_its_rich_error_gets_a_bare_one);
    ADD_CASE(s, "start", 10, start_returns_the_started_value_and_task_keeps_running,
             start_task_belongs_to_the_nursery_after_started,
             start_failure_before_started_returns_its_code,
             start_task_returning_without_started_is_enotstarted,
             start_caller_cancelled_cancels_the_starting_task,
             start_second_started_is_ignored_with_a_warning,
             start_into_a_cancelled_nursery_cancels_the_task_once_started,
             start_task_failing_after_started_fails_the_nursery);
    ADD_CASE(s, "many", 30, many_ten_thousand_tasks_run_and_finish, many_thousand_starts_in_a_row,
             many_ten_thousand_sleepers_all_wake);
    return task_suite_main("test_nursery", s);
}
