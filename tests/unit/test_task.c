/*
 * tests/unit/test_task.c — time, rich errors, logging and axle_run itself.
 */
#include "task_helpers.h"

/* =============================================================== time === */

static int now_main(void *arg)
{
    (void)arg;
    int64_t prev = axle_now();
    ck_assert(prev > 0);
    for (int i = 0; i < 10000; i++) {
        int64_t t = axle_now();
        ck_assert(t >= prev);
        prev = t;
        if (i % 1000 == 0)
            ck_assert_int_eq(axle_checkpoint(), 0);
    }
    return 0;
}

START_TEST(time_now_is_monotonic)
{
    /* Callable outside a scheduler too. */
    int64_t a = axle_now(), b = axle_now();
    ck_assert(b >= a);
    RUN(now_main);
    ck_assert(axle_now() >= b);
}
END_TEST

static int yield_mark(void *arg)
{
    *(bool *)arg = true;
    return 0;
}

static int sleep_zero_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(axle_sleep(0), 0);
    ck_assert_int_eq(axle_sleep(-MS), 0);
    ck_assert_int_eq(axle_sleep_until(0), 0);
    ck_assert_int_eq(axle_sleep_until(axle_now()), 0);
    /* It still yields: a runnable sibling gets its turn. */
    bool ran = false;
    axle_nursery *n = nursery();
    start(n, yield_mark, &ran);
    ck_assert_int_eq(axle_sleep(0), 0);
    ck_assert(ran);
    return axle_nursery_close(n, 0);
}

START_TEST(time_sleep_zero_returns_zero) { RUN(sleep_zero_main); }
END_TEST

static int sleep_duration_main(void *arg)
{
    (void)arg;
    int64_t t0 = axle_now();
    ck_assert_int_eq(axle_sleep(20 * MS), 0);
    ck_assert_elapsed(t0, 20 * MS);
    int64_t d = axle_now() + 20 * MS;
    ck_assert_int_eq(axle_sleep_until(d), 0);
    ck_assert(axle_now() >= d);
    return 0;
}

START_TEST(time_sleep_lasts_at_least_its_duration) { RUN(sleep_duration_main); }
END_TEST

static int forever_sleeper(void *arg)
{
    scoped *c = arg;
    axle_scope_open(&c->sc, AXLE_NO_DEADLINE, 0);
    axle_event_set(&c->ready);
    c->rc = axle_sleep(AXLE_NO_DEADLINE);
    c->close_rc = axle_scope_close(&c->sc, c->rc);
    return 0;
}

static int forever_main(void *arg)
{
    (void)arg;
    scoped c;
    scoped_init(&c);
    axle_nursery *n = nursery();
    start(n, scope_canceller, &c);
    start(n, forever_sleeper, &c);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(c.rc, -ECANCELED);
    ck_assert_int_eq(c.close_rc, 0);
    return 0;
}

START_TEST(time_sleep_without_deadline_ends_only_by_cancel) { RUN(forever_main); }
END_TEST

/* ============================================================= errors === */

START_TEST(error_strerror_and_errname_for_every_axle_code)
{
    int n = 0;
#define CHECK_CODE(name, val, msg)                                   \
    do {                                                             \
        ck_assert_int_eq(AXLE_##name, val);                          \
        ck_assert_int_gt(AXLE_##name, 4095);                         \
        ck_assert_int_lt(AXLE_##name, AXLE_ERR_MAX);                 \
        ck_assert_str_eq(axle_strerror(-AXLE_##name), msg);          \
        ck_assert_str_eq(axle_strerror(AXLE_##name), msg);           \
        ck_assert_str_eq(axle_errname(-AXLE_##name), "AXLE_" #name); \
        ck_assert_str_eq(axle_errname(AXLE_##name), "AXLE_" #name);  \
        n++;                                                         \
    } while (0);
    AXLE_ERRNO_MAP(CHECK_CODE)
#undef CHECK_CODE
    ck_assert_int_eq(n, AXLE_ERR_MAX - AXLE_EREMOTE);
}
END_TEST

START_TEST(error_strerror_and_errname_for_errno)
{
    ck_assert_str_eq(axle_strerror(-ECANCELED), strerror(ECANCELED));
    ck_assert_str_eq(axle_strerror(ETIMEDOUT), strerror(ETIMEDOUT));
    ck_assert_str_eq(axle_errname(-ECANCELED), "ECANCELED");
    ck_assert_str_eq(axle_errname(-ETIMEDOUT), "ETIMEDOUT");
    ck_assert_str_eq(axle_errname(EPIPE), "EPIPE");
    ck_assert_str_eq(axle_strerror(-99999), "unknown error");
    ck_assert_str_eq(axle_errname(-99999), "E?");
    ck_assert_str_eq(axle_errname(0), "OK");
    char buf[32];
    ck_assert_uint_eq(axle_error_format(NULL, buf, sizeof buf), strlen("no error"));
    ck_assert_str_eq(buf, "no error");
}
END_TEST

static int raise_inner(void) { return AXLE_SET_ERR(-ECONNRESET, "peer %s closed", "bob"); }

static int raise_middle(void)
{
    int rc = raise_inner();
    if (rc < 0)
        return AXLE_ERR_FRAME(rc);
    return 0;
}

static int raise_outer(void)
{
    int rc = raise_middle();
    /* A frame for another code is not added. */
    AXLE_ERR_FRAME(-EIO);
    return AXLE_ERR_FRAME(rc);
}

static void check_frames(void)
{
    ck_assert_int_eq(raise_outer(), -ECONNRESET);
    const axle_error *e = last_error(-ECONNRESET);
    ck_assert_str_eq(axle_error_message(e), "peer bob closed");
    ck_assert_uint_eq(axle_error_nframes(e), 3);
    ck_assert_str_eq(frame_func(e, 0), "raise_inner");
    ck_assert_str_eq(frame_func(e, 1), "raise_middle");
    ck_assert_str_eq(frame_func(e, 2), "raise_outer");
    const char *f = NULL;
    ck_assert_int_eq(axle_error_frame(e, 3, &f, NULL, NULL), -EINVAL);
    ck_assert_uint_eq(axle_error_nmembers(e), 0);
    ck_assert_ptr_null(axle_error_member(e, 0));

    /* Room for a symbolized backtrace whose file paths are as long as the
     * checkout's (a 1 KiB buffer cut it in a deep clone directory). */
    static char buf[16384];
    size_t len = axle_error_format(e, buf, sizeof buf);
    ck_assert_uint_lt(len, sizeof buf);
    ck_assert_uint_eq(len, strlen(buf));
    ck_assert_ptr_nonnull(strstr(buf, "ECONNRESET"));
    ck_assert_ptr_nonnull(strstr(buf, "peer bob closed"));
    ck_assert_ptr_nonnull(strstr(buf, "raise_inner"));
    ck_assert_ptr_nonnull(strstr(buf, "raise_middle"));
    ck_assert_ptr_nonnull(strstr(buf, "raise_outer"));
    /* snprintf-like: a short buffer is cut, the full length is returned. */
    char small[8];
    ck_assert_uint_eq(axle_error_format(e, small, sizeof small), len);
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
    ck_assert_uint_eq(axle_error_format(e, NULL, 0), len);

    axle_error_clear();
    ck_assert_ptr_null(axle_error_last());
}

static int frames_main(void *arg)
{
    (void)arg;
    check_frames();
    return 0;
}

START_TEST(error_frames_record_the_path_and_format_shows_it)
{
    RUN(frames_main);
    /* The same on the thread, outside any task. */
    check_frames();
}
END_TEST

static int group_format_main(void *arg)
{
    (void)arg;
    axle_nursery *n = nursery();
    start(n, fail_first, NULL);
    start(n, fail_second, NULL);
    ck_assert_int_eq(axle_nursery_close(n, 0), -AXLE_EGROUP);
    const axle_error *g = last_error(-AXLE_EGROUP);
    char buf[4096];
    size_t len = axle_error_format(g, buf, sizeof buf);
    ck_assert_uint_eq(len, strlen(buf));
    ck_assert_ptr_nonnull(strstr(buf, "AXLE_EGROUP"));
    const char *p1 = strstr(buf, "first"), *p2 = strstr(buf, "second");
    ck_assert_ptr_nonnull(p1);
    ck_assert_ptr_nonnull(p2);
    ck_assert_ptr_nonnull(strstr(buf, "EIO"));
    ck_assert_ptr_nonnull(strstr(buf, "ENOSPC"));
    ck_assert_ptr_nonnull(strstr(buf, "fail_first"));
    ck_assert_ptr_nonnull(strstr(buf, "fail_second"));
    return 0;
}

START_TEST(error_group_format_lists_members) { RUN(group_format_main); }
END_TEST

/* =============================================================== logs === */

/* A pipe the log writes to; read_log returns what arrived (NUL-ended). */
typedef struct logpipe {
    int r, w;
    char buf[4096];
} logpipe;

static void logpipe_open(logpipe *lp)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    lp->r = p[0];
    lp->w = p[1];
    axle_log_set_fd(lp->w);
}

static const char *logpipe_read(logpipe *lp)
{
    ssize_t n = read(lp->r, lp->buf, sizeof lp->buf - 1);
    if (n < 0) {
        ck_assert_int_eq(errno, EAGAIN);
        n = 0;
    }
    lp->buf[n] = 0;
    return lp->buf;
}

static void logpipe_close(logpipe *lp)
{
    axle_log_set_fd(2);
    close(lp->r);
    close(lp->w);
}

START_TEST(log_set_level_by_name_or_number)
{
    ck_assert_int_eq(axle__log_level, AXLE_LOG_ERROR); /* the default */
    ck_assert_int_eq(axle_log_set_level("cancel"), 0);
    ck_assert_int_eq(axle__log_level, 22);
    ck_assert_int_eq(axle_log_set_level("WARNING"), 0);
    ck_assert_int_eq(axle__log_level, AXLE_LOG_WARNING);
    ck_assert_int_eq(axle_log_set_level("Transport"), 0);
    ck_assert_int_eq(axle__log_level, AXLE_LOG_TRANSPORT);
    ck_assert_int_eq(axle_log_set_level("17"), 0);
    ck_assert_int_eq(axle__log_level, AXLE_LOG_DEVX);
    ck_assert_int_eq(axle_log_level_parse("pdb"), AXLE_LOG_PDB);
    ck_assert_int_eq(axle_log_level_parse("runtime"), AXLE_LOG_RUNTIME);
    ck_assert_int_eq(axle_log_level_parse("io"), AXLE_LOG_IO);
    ck_assert_str_eq(axle_log_level_name(AXLE_LOG_CANCEL), "CANCEL");
    ck_assert_str_eq(axle_log_level_name(AXLE_LOG_CRITICAL), "CRITICAL");
    ck_assert_ptr_nonnull(strstr(axle_log_level_name(7), "7"));
}
END_TEST

START_TEST(log_bad_level_names_are_einval)
{
    ck_assert_int_eq(axle_log_set_level("cancel"), 0);
    const char *bad[] = {"nope", "", "12abc", "cancelx", "-"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(axle_log_set_level(bad[i]), -EINVAL);
        ck_assert_int_eq(axle_log_level_parse(bad[i]), -EINVAL);
        ck_assert_int_eq(axle__log_level, AXLE_LOG_CANCEL); /* unchanged */
    }
}
END_TEST

static int env_level_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(axle__log_level, AXLE_LOG_INFO);
    return 0;
}

START_TEST(log_level_read_from_env)
{
    logpipe lp;
    logpipe_open(&lp);
    ck_assert_int_eq(setenv("AXLE_LOGLEVEL", "devx", 1), 0);
    ck_assert_int_eq(axle_log_init_env(), 0);
    ck_assert_int_eq(axle__log_level, AXLE_LOG_DEVX);
    /* A bad value: -EINVAL, a warning, the level kept. */
    ck_assert_int_eq(setenv("AXLE_LOGLEVEL", "loud", 1), 0);
    ck_assert_int_eq(axle_log_init_env(), -EINVAL);
    ck_assert_int_eq(axle__log_level, AXLE_LOG_DEVX);
    ck_assert_ptr_nonnull(strstr(logpipe_read(&lp), "loud"));
    /* Unset: nothing changes. */
    ck_assert_int_eq(unsetenv("AXLE_LOGLEVEL"), 0);
    ck_assert_int_eq(axle_log_init_env(), 0);
    ck_assert_int_eq(axle__log_level, AXLE_LOG_DEVX);
    /* axle_run reads it. */
    ck_assert_int_eq(setenv("AXLE_LOGLEVEL", "info", 1), 0);
    RUN(env_level_main);
    logpipe_close(&lp);
}
END_TEST

static void check_line(const char *line, const char *level, const char *msg)
{
    char who[128];
    snprintf(who, sizeof who, "[logtest-proc@%d]", (int)getpid());
    ck_assert_msg(strstr(line, level), "no level %s in: %s", level, line);
    ck_assert_msg(strstr(line, who), "no %s in: %s", who, line);
    ck_assert_msg(strstr(line, msg), "no message in: %s", line);
    size_t len = strlen(line);
    ck_assert_int_gt(len, 0);
    ck_assert_int_eq(line[len - 1], '\n');
    ck_assert_ptr_eq(strchr(line, '\n'), line + len - 1); /* one line */
}

static int log_task_main(void *arg)
{
    logpipe *lp = arg;
    axle_log_warning("from a task %s", "here");
    const char *line = logpipe_read(lp);
    check_line(line, "WARNING", "from a task here");
    ck_assert_ptr_nonnull(strstr(line, "main"));
    return 0;
}

START_TEST(log_lines_go_to_the_set_fd_with_level_name_and_pid)
{
    logpipe lp;
    logpipe_open(&lp);
    axle_log_set_name("logtest-proc");
    ck_assert_int_eq(axle_log_set_level("info"), 0);
    axle_log_info("hello %d", 42);
    check_line(logpipe_read(&lp), "INFO", "hello 42");
    axle_log_cancel("scope %s", "cancelled");
    check_line(logpipe_read(&lp), "CANCEL", "scope cancelled");
    axle_log_error("bad %s", "thing");
    check_line(logpipe_read(&lp), "ERROR", "bad thing");
    /* Below the level: nothing. */
    axle_log_debug("quiet");
    ck_assert_str_eq(logpipe_read(&lp), "");
    ck_assert_int_eq(run_main(log_task_main, &lp), 0);
    logpipe_close(&lp);
}
END_TEST

static int side_effects;

static int side_effect(void) { return ++side_effects; }

START_TEST(log_disabled_level_does_not_evaluate_arguments)
{
    logpipe lp;
    logpipe_open(&lp);
    ck_assert_int_eq(axle_log_set_level("error"), 0);
    axle_log_info("%d", side_effect());
    axle_log_debug("%d", side_effect());
    axle_log_warning("%d", side_effect());
    ck_assert_int_eq(side_effects, 0);
    ck_assert_str_eq(logpipe_read(&lp), "");
    axle_log_error("value %d", side_effect());
    ck_assert_int_eq(side_effects, 1);
    ck_assert_ptr_nonnull(strstr(logpipe_read(&lp), "value 1"));
    logpipe_close(&lp);
}
END_TEST

/* ================================================================ run === */

static int nothing(void *arg)
{
    (void)arg;
    return 0;
}

static int nested_run_main(void *arg)
{
    (void)arg;
    int rc = axle_run(nothing, NULL, NULL);
    ck_assert_int_eq(rc, -EBUSY);
    last_error(-EBUSY);
    /* The running scheduler is unharmed. */
    ck_assert_int_eq(axle_sleep(MS), 0);
    return 0;
}

START_TEST(run_inside_a_task_is_ebusy) { RUN(nested_run_main); }
END_TEST

static int fail_main(void *arg)
{
    (void)arg;
    return AXLE_SET_ERR(-EPROTO, "main gave up");
}

START_TEST(run_returns_main_result_and_can_run_again)
{
    ck_assert_int_eq(run_main(fail_main, NULL), -EPROTO);
    const axle_error *e = axle_error_last(); /* on the thread now */
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(axle_error_code(e), -EPROTO);
    ck_assert_str_eq(axle_error_message(e), "main gave up");
    RUN(nothing);
    axle_run_opts o = {.stack_size = 64 * 1024, .ring_entries = 8};
    ck_assert_int_eq(axle_run(nothing, NULL, &o), 0);
}
END_TEST

static int names_main(void *arg)
{
    (void)arg;
    ck_assert_str_eq(axle_task_name(axle_task_self()), "main");
    axle_nursery *n = nursery();
    axle_task_opts o = {.name = "worker-with-a-name-that-is-far-too-long-to-keep"};
    ck_assert_int_eq(axle_nursery_start_soon(n, nothing, NULL, &o), 0);
    ck_assert_int_eq(axle_nursery_start_soon(n, nothing, NULL, NULL), 0);
    ck_assert_uint_eq(axle_task_count(), 3);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_uint_eq(axle_task_count(), 1);
    return 0;
}

static int name_check(void *arg)
{
    const char *want = arg;
    const char *name = axle_task_name(axle_task_self());
    if (want)
        ck_assert_str_eq(name, want);
    else
        ck_assert_msg(strncmp(name, "task-", 5) == 0, "default name %s", name);
    return 0;
}

static int names_check_main(void *arg)
{
    (void)arg;
    axle_nursery *n = nursery();
    axle_task_opts o = {.name = "worker-with-a-name-that-is-far-too-long-to-keep"};
    /* Copied, at most 31 bytes kept. */
    ck_assert_int_eq(axle_nursery_start_soon(n, name_check, "worker-with-a-name-that-is-far-", &o),
                     0);
    ck_assert_int_eq(axle_nursery_start_soon(n, name_check, NULL, NULL), 0);
    o.name = "short";
    ck_assert_int_eq(axle_nursery_start_soon(n, name_check, "short", &o), 0);
    return axle_nursery_close(n, 0);
}

START_TEST(run_task_names_and_count)
{
    RUN(names_main);
    RUN(names_check_main);
}
END_TEST

typedef struct rr_ctx {
    char trace[32]; /* task letters in the order they ran */
    int len;
} rr_ctx;

typedef struct rr_arg {
    rr_ctx *c;
    char letter;
} rr_arg;

static int rr_task(void *arg)
{
    rr_arg *a = arg;
    for (int i = 0; i < 3; i++) {
        a->c->trace[a->c->len++] = a->letter;
        ck_assert_int_eq(axle_checkpoint(), 0);
    }
    return 0;
}

static int rr_main(void *arg)
{
    (void)arg;
    rr_ctx c = {0};
    rr_arg a[3] = {{&c, 'a'}, {&c, 'b'}, {&c, 'c'}};
    axle_nursery *n = nursery();
    for (int i = 0; i < 3; i++)
        start(n, rr_task, &a[i]);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_str_eq(c.trace, "abcabcabc");
    return 0;
}

START_TEST(run_checkpoint_yields_to_every_runnable_task_once) { RUN(rr_main); }
END_TEST

/* ============================================================== suite === */

int main(void)
{
    Suite *s = suite_create("task");
    ADD_CASE(s, "time", 10, time_now_is_monotonic, time_sleep_zero_returns_zero,
             time_sleep_lasts_at_least_its_duration,
             time_sleep_without_deadline_ends_only_by_cancel);
    ADD_CASE(s, "error", 10, error_strerror_and_errname_for_every_axle_code,
             error_strerror_and_errname_for_errno, error_frames_record_the_path_and_format_shows_it,
             error_group_format_lists_members);
    ADD_CASE(s, "log", 10, log_set_level_by_name_or_number, log_bad_level_names_are_einval,
             log_level_read_from_env, log_lines_go_to_the_set_fd_with_level_name_and_pid,
             log_disabled_level_does_not_evaluate_arguments);
    ADD_CASE(s, "run", 10, run_inside_a_task_is_ebusy, run_returns_main_result_and_can_run_again,
             run_task_names_and_count, run_checkpoint_yields_to_every_runnable_task_once);
    return task_suite_main("test_task", s);
}
