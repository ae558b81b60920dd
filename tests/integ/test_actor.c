/*
 * tests/integ/test_actor.c — real process trees: the reference's
 * supervision, spawning and RPC scenarios (tractor-test-catalogue §1-§3),
 * ported with their exact expected outcomes.
 *
 * CTest runs this suite once per spawn backend (AXLE_SPAWN_METHOD=fork,
 * exec, forkserver). For exec, children re-run this binary, so main()
 * first lets axle_main take over when argv carries the child arguments.
 *
 * Every test proves a clean end through the harness: no descendant alive,
 * no socket file, fds back where they were.
 */
#define _GNU_SOURCE
#include "../harness.h"

#include <axle/actor.h>
#include <axle/log.h>
#include <axle/shm.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MS (1000 * 1000LL)
#define SEC (1000 * MS)

/* ---- functions the actors export ------------------------------------------- */

static int t_echo(const void *args, size_t len, axle_buf *ret)
{
    return axle_buf_set(ret, args, len);
}
AXLE_EXPORT("t.echo", t_echo)

static int t_nothing(const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    return 0;
}
AXLE_EXPORT("t.nothing", t_nothing)

static int t_fail(const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    return AXLE_SET_ERR(-EDOM, "assert 0");
}
AXLE_EXPORT("t.fail", t_fail)

static int32_t int_arg(const void *args, size_t len)
{
    int32_t v = 0;
    if (len == sizeof v)
        memcpy(&v, args, sizeof v);
    return v;
}

/* Sleep the given ms, then fail like t.fail. */
static int t_fail_after(const void *args, size_t len, axle_buf *ret)
{
    int rc = axle_sleep(int_arg(args, len) * MS);
    if (rc < 0)
        return rc;
    return t_fail(args, len, ret);
}
AXLE_EXPORT("t.fail_after", t_fail_after)

static int t_sleep(const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    return axle_sleep(AXLE_NO_DEADLINE);
}
AXLE_EXPORT("t.sleep", t_sleep)

static int t_int4(const void *args, size_t len, axle_buf *ret)
{
    if (len != 4)
        return AXLE_SET_ERR(-EINVAL, "t.int4 takes 4 bytes of arguments, got %zu", len);
    return axle_buf_set(ret, args, len);
}
AXLE_EXPORT("t.int4", t_int4)

static int t_segv(const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    raise(SIGSEGV);
    return 0;
}
AXLE_EXPORT("t.segv", t_segv)

static int t_loglevel(const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len;
    int32_t lvl = axle__log_level;
    return axle_buf_set(ret, &lvl, sizeof lvl);
}
AXLE_EXPORT("t.loglevel", t_loglevel)

static int noop_main(void *arg)
{
    (void)arg;
    return 0;
}

static int t_second_root(const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    return axle_root(NULL, noop_main, NULL);
}
AXLE_EXPORT("t.second_root", t_second_root)

/*
 * A blocking sleep: the whole actor stops answering (only signals work).
 * When the test names one in AXLE_TEST_SLEEPER_KEY, it holds that segment
 * first: the escalation that kills it must not leave it behind.
 */
static axle_shm *sleeper_seg;

static int t_sync_sleep(const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    const char *key = getenv("AXLE_TEST_SLEEPER_KEY");
    int rc = key ? axle_shm_create(&sleeper_seg, key, 4096) : 0;
    if (rc < 0)
        return rc;
    sleep(100);
    return 0;
}
AXLE_EXPORT("t.sync_sleep", t_sync_sleep)

/* Two one-shot errorers, or two spawners one level down. */
static int t_spawn_errorers(const void *args, size_t len, axle_buf *ret)
{
    (void)ret;
    int32_t depth = int_arg(args, len);
    axle_actor_nursery *an;
    int rc = axle_actor_nursery_open(&an);
    if (rc < 0)
        return rc;
    for (int i = 0; i < 2 && rc == 0; i++) {
        char name[32];
        snprintf(name, sizeof name, "d%d-%d", depth, i);
        axle_spawn_opts o = {.name = name};
        axle_portal *p;
        int32_t below = depth - 1;
        rc = depth <= 1 ? axle_run_in_actor(an, &o, "t.fail", NULL, 0, &p)
                        : axle_run_in_actor(an, &o, "t.spawn_errorers", &below, 4, &p);
    }
    return axle_actor_nursery_close(an, rc);
}
AXLE_EXPORT("t.spawn_errorers", t_spawn_errorers)

/* A child whose own one-shot child blocks in a sync sleep. */
static int t_spawn_sync_sleeper(const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    axle_actor_nursery *an;
    int rc = axle_actor_nursery_open(&an);
    if (rc < 0)
        return rc;
    axle_spawn_opts o = {.name = "sync-sleeper"};
    axle_portal *p;
    rc = axle_run_in_actor(an, &o, "t.sync_sleep", NULL, 0, &p);
    return axle_actor_nursery_close(an, rc);
}
AXLE_EXPORT("t.spawn_sync_sleeper", t_spawn_sync_sleeper)

/* Call back into the parent: args = the function's name. */
static int t_call_parent(const void *args, size_t len, axle_buf *ret)
{
    char func[128];
    snprintf(func, sizeof func, "%.*s", (int)len, (const char *)args);
    axle_portal *parent = axle_actor_parent();
    if (!parent)
        return AXLE_SET_ERR(-ENOTCONN, "no parent");
    return axle_portal_run(parent, func, "10", 2, ret);
}
AXLE_EXPORT("t.call_parent", t_call_parent)

/* Find an actor by name and call its echo: args = the name. */
static int t_find_call(const void *args, size_t len, axle_buf *ret)
{
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)len, (const char *)args);
    axle_portal *p;
    int rc = axle_find_actor(name, &p);
    if (rc < 0)
        return rc;
    rc = axle_portal_run(p, "t.echo", name, strlen(name), ret);
    axle_portal_close(p);
    return rc;
}
AXLE_EXPORT("t.find_call", t_find_call)

/* How many of our fds are the parent's marker memfd (inherited by mistake). */
static int t_count_marker(const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len;
    int32_t n = 0;
    for (int fd = 0; fd < 1024; fd++) {
        char path[64], target[256];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t k = readlink(path, target, sizeof target - 1);
        if (k <= 0)
            continue;
        target[k] = 0;
        if (strstr(target, "axle-marker"))
            n++;
    }
    return axle_buf_set(ret, &n, sizeof n);
}
AXLE_EXPORT("t.count_marker", t_count_marker)

static void unlink_path(void *arg)
{
    unlink(arg);
    free(arg);
}

/* Create a file whose removal is on the lifetime stack; then fail or sleep. */
static int t_tmpfile(const void *args, size_t len, axle_buf *ret)
{
    (void)ret;
    char *path = strndup((const char *)args + 1, len - 1);
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0)
        return AXLE_SET_ERR(-errno, "open %s", path);
    close(fd);
    axle_actor_atexit(unlink_path, path);
    if (((const char *)args)[0] == 'E')
        return AXLE_SET_ERR(-EDOM, "failing with the file in place");
    return axle_sleep(AXLE_NO_DEADLINE);
}
AXLE_EXPORT("t.tmpfile", t_tmpfile)

/* ---- helpers ------------------------------------------------------------------- */

static const char *const T_MODS[] = {"t"};

static axle_spawn_opts daemon_opts(const char *name)
{
    axle_spawn_opts o = {.name = name, .enable_modules = T_MODS, .n_enable_modules = 1};
    return o;
}

static int root_run(axle_fn fn, void *arg)
{
    axle_actor_opts o = {.name = "root"};
    return axle_root(&o, fn, arg);
}

static void assert_remote(const axle_error *e, const char *src_type, const char *src_prefix)
{
    ck_assert_int_eq(axle_error_code(e), -AXLE_EREMOTE);
    ck_assert_str_eq(axle_error_src_type(e), src_type);
    const axle_uid *src = axle_error_src_uid(e);
    ck_assert_ptr_nonnull(src);
    ck_assert_msg(strncmp(src->name, src_prefix, strlen(src_prefix)) == 0, "src %s, want %s*",
                  src->name, src_prefix);
}

/* ---- spawning and RPC -------------------------------------------------------------- */

static int movie_main(void *arg)
{
    (void)arg;
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o = daemon_opts("frank");
    axle_portal *p;
    ck_assert_int_eq(axle_start_actor(an, &o, &p), 0);
    ck_assert_str_eq(axle_portal_uid(p)->name, "frank");
    axle_buf b = {0};
    const char q[] = "in which movie do you meet a theatre?";
    ck_assert_int_eq(axle_portal_run(p, "t.echo", q, sizeof q, &b), 0);
    ck_assert_uint_eq(b.len, sizeof q);
    ck_assert_str_eq((char *)b.data, q);
    axle_buf_free(&b);
    ck_assert_int_eq(axle_portal_cancel_actor(p, 0), 1);
    return axle_actor_nursery_close(an, 0);
}

START_TEST(movie_theatre_convo_then_cancel_actor)
{
    ck_assert_int_eq(root_run(movie_main, NULL), 0);
}
END_TEST

static int word_main(void *arg)
{
    const char *word = arg;
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o = {.name = "cellar"};
    axle_portal *p;
    ck_assert_int_eq(axle_run_in_actor(an, &o, "t.echo", word, strlen(word), &p), 0);
    axle_buf b = {0};
    ck_assert_int_eq(axle_portal_result(p, &b), 0);
    ck_assert_uint_eq(b.len, strlen(word));
    ck_assert(b.len == 0 || memcmp(b.data, word, b.len) == 0);
    /* a second read gives the same outcome */
    ck_assert_int_eq(axle_portal_result(p, &b), 0);
    ck_assert_uint_eq(b.len, strlen(word));
    axle_buf_free(&b);
    return axle_actor_nursery_close(an, 0);
}

START_TEST(most_beautiful_word_is_the_result)
{
    ck_assert_int_eq(root_run(word_main, "cellar door"), 0);
}
END_TEST

START_TEST(empty_result_is_a_result) { ck_assert_int_eq(root_run(word_main, ""), 0); }
END_TEST

/* ---- remote errors ---------------------------------------------------------------- */

struct ria {
    const char *func;
    const void *args;
    size_t len;
    const char *src_type;
};

static int remote_error_main(void *arg)
{
    struct ria *r = arg;
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o = {.name = "errorer"};
    axle_portal *p;
    ck_assert_int_eq(axle_run_in_actor(an, &o, r->func, r->args, r->len, &p), 0);
    ck_assert_int_eq(axle_portal_result(p, NULL), -AXLE_EREMOTE);
    assert_remote(axle_error_last(), r->src_type, "errorer");
    int rc = axle_actor_nursery_close(an, 0);
    ck_assert_int_eq(rc, -AXLE_EREMOTE);
    const axle_error *e = axle_error_last();
    assert_remote(e, r->src_type, "errorer");
    ck_assert_int_eq(axle_error_relay_len(e), 0);
    return 0;
}

START_TEST(remote_error_no_args)
{
    struct ria r = {"t.fail", NULL, 0, "EDOM"};
    ck_assert_int_eq(root_run(remote_error_main, &r), 0);
}
END_TEST

START_TEST(remote_error_unexpected_args)
{
    struct ria r = {"t.int4", "123456789", 9, "EINVAL"};
    ck_assert_int_eq(root_run(remote_error_main, &r), 0);
}
END_TEST

struct multi {
    int n;
    int32_t delay_ms;
};

static int multierror_main(void *arg)
{
    struct multi *m = arg;
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_portal *first = NULL;
    for (int i = 0; i < m->n; i++) {
        char name[32];
        snprintf(name, sizeof name, "errorer-%d", i);
        axle_spawn_opts o = {.name = name};
        axle_portal *p;
        ck_assert_int_eq(axle_run_in_actor(an, &o, "t.fail_after", &m->delay_ms, 4, &p), 0);
        if (!first)
            first = p;
    }
    if (m->n == 2) {
        ck_assert_int_eq(axle_portal_result(first, NULL), -AXLE_EREMOTE);
        assert_remote(axle_error_last(), "EDOM", "errorer-0");
    }
    int rc = axle_actor_nursery_close(an, 0);
    ck_assert_int_eq(rc, -AXLE_EGROUP);
    const axle_error *g = axle_error_last();
    ck_assert_uint_eq(axle_error_nmembers(g), (size_t)m->n);
    for (size_t i = 0; i < axle_error_nmembers(g); i++)
        assert_remote(axle_error_member(g, i), "EDOM", "errorer-");
    return 0;
}

START_TEST(multierror_two_children_make_a_group)
{
    struct multi m = {2, 0};
    ck_assert_int_eq(root_run(multierror_main, &m), 0);
}
END_TEST

START_TEST(multierror_fast_nursery_25_failing_during_spawn)
{
    struct multi m = {25, 0};
    ck_assert_int_eq(root_run(multierror_main, &m), 0);
}
END_TEST

START_TEST(multierror_fast_nursery_25_failing_after_spawn)
{
    struct multi m = {25, 500};
    ck_assert_int_eq(root_run(multierror_main, &m), 0);
}
END_TEST

/* ---- cancellation ------------------------------------------------------------------- */

static int cancel_single_main(void *arg)
{
    bool body_error = arg != NULL;
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o = daemon_opts("single");
    axle_portal *p;
    ck_assert_int_eq(axle_start_actor(an, &o, &p), 0);
    ck_assert_int_eq(axle_portal_run(p, "t.nothing", NULL, 0, NULL), 0);
    int rc = 0;
    if (body_error)
        rc = AXLE_SET_ERR(-EINTR, "keyboard interrupt");
    else
        axle_actor_nursery_cancel(an);
    int64_t t0 = axle_now();
    rc = axle_actor_nursery_close(an, rc);
    ck_assert_int_lt(axle_now() - t0, 3 * SEC);
    ck_assert_int_eq(rc, body_error ? -EINTR : 0);
    return 0;
}

START_TEST(cancel_single_subactor_by_nursery_cancel)
{
    ck_assert_int_eq(root_run(cancel_single_main, NULL), 0);
}
END_TEST

START_TEST(cancel_single_subactor_by_body_error)
{
    ck_assert_int_eq(root_run(cancel_single_main, (void *)1), 0);
}
END_TEST

enum sca_case {
    ONE_RIA_FAILS,
    TWO_RIA_FAIL,
    THREE_RIA_FAIL,
    ONE_DAEMON_FAILS,
    ONE_DAEMON_FAILS_RIA_DUN_QUICK,
    RIA_SLEEP_THEN_FAIL,
};

static int some_cancels_all_main(void *arg)
{
    enum sca_case c = (enum sca_case)(intptr_t)arg;
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_portal *daemons[2];
    for (int i = 0; i < 2; i++) {
        char name[16];
        snprintf(name, sizeof name, "daemon-%d", i);
        axle_spawn_opts o = daemon_opts(name);
        ck_assert_int_eq(axle_start_actor(an, &o, &daemons[i]), 0);
    }
    int nria = c == TWO_RIA_FAIL ? 2 : c == THREE_RIA_FAIL ? 3 : 2;
    int32_t delay = 300;
    for (int i = 0; i < nria; i++) {
        char name[16];
        snprintf(name, sizeof name, "ria-%d", i);
        axle_spawn_opts o = {.name = name};
        axle_portal *p;
        const char *func = "t.fail";
        if (c == ONE_RIA_FAILS && i > 0)
            func = "t.nothing";
        if (c == ONE_DAEMON_FAILS)
            func = "t.sleep";
        if (c == ONE_DAEMON_FAILS_RIA_DUN_QUICK)
            func = "t.nothing";
        if (c == RIA_SLEEP_THEN_FAIL)
            func = "t.fail_after";
        ck_assert_int_eq(axle_run_in_actor(an, &o, func, &delay, 4, &p), 0);
    }
    int rc = 0;
    if (c == ONE_DAEMON_FAILS || c == ONE_DAEMON_FAILS_RIA_DUN_QUICK) {
        rc = axle_portal_run(daemons[0], "t.fail", NULL, 0, NULL);
        ck_assert_int_eq(rc, -AXLE_EREMOTE);
    }
    rc = axle_actor_nursery_close(an, rc);
    const axle_error *e = axle_error_last();
    switch (c) {
    case ONE_RIA_FAILS:
    case ONE_DAEMON_FAILS:
    case ONE_DAEMON_FAILS_RIA_DUN_QUICK:
        ck_assert_int_eq(rc, -AXLE_EREMOTE);
        assert_remote(e, "EDOM", c == ONE_RIA_FAILS ? "ria-" : "daemon-0");
        break;
    default:
        ck_assert_int_eq(rc, -AXLE_EGROUP);
        ck_assert_uint_eq(axle_error_nmembers(e), (size_t)nria);
        for (size_t i = 0; i < axle_error_nmembers(e); i++)
            assert_remote(axle_error_member(e, i), "EDOM", "ria-");
    }
    return 0;
}

#define SCA_TEST(name, which)                                                            \
    START_TEST(name)                                                                     \
    {                                                                                    \
        ck_assert_int_eq(root_run(some_cancels_all_main, (void *)(intptr_t)(which)), 0); \
    }                                                                                    \
    END_TEST

SCA_TEST(some_cancels_all_1_run_in_actor_fails, ONE_RIA_FAILS)
SCA_TEST(some_cancels_all_2_run_in_actors_fail, TWO_RIA_FAIL)
SCA_TEST(some_cancels_all_3_run_in_actors_fail, THREE_RIA_FAIL)
SCA_TEST(some_cancels_all_1_daemon_actor_fails, ONE_DAEMON_FAILS)
SCA_TEST(some_cancels_all_1_daemon_fails_all_run_in_actors_dun_quick,
         ONE_DAEMON_FAILS_RIA_DUN_QUICK)
SCA_TEST(some_cancels_all_no_daemon_fails_run_in_actors_sleep_then_fail, RIA_SLEEP_THEN_FAIL)

static int nested_main(void *arg)
{
    int32_t depth = (int32_t)(intptr_t)arg;
    int64_t t0 = axle_now();
    axle_buf b = {0};
    int rc = t_spawn_errorers(&depth, 4, &b);
    ck_assert_int_lt(axle_now() - t0, 12 * SEC);
    ck_assert_int_eq(rc, -AXLE_EGROUP);
    const axle_error *g = axle_error_last();
    ck_assert_uint_eq(axle_error_nmembers(g), 2);
    for (size_t i = 0; i < 2; i++) {
        const axle_error *m = axle_error_member(g, i);
        ck_assert_ptr_nonnull(axle_error_src_uid(m));
        if (depth <= 1) {
            assert_remote(m, "EDOM", "d1-");
        } else {
            /* a group from one level down, itself of remote errors */
            ck_assert_int_eq(axle_error_code(m), -AXLE_EGROUP);
            ck_assert_uint_eq(axle_error_nmembers(m), 2);
        }
    }
    return 0;
}

START_TEST(nested_multierrors_depth_1) { ck_assert_int_eq(root_run(nested_main, (void *)1), 0); }
END_TEST

START_TEST(nested_multierrors_depth_3) { ck_assert_int_eq(root_run(nested_main, (void *)3), 0); }
END_TEST

static int sigint_main(void *arg)
{
    (void)arg;
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o = daemon_opts("sigint-child");
    axle_portal *p;
    ck_assert_int_eq(axle_start_actor(an, &o, &p), 0);
    kill(getpid(), SIGINT);
    int rc = axle_sleep(5 * SEC); /* SIGINT cancels this */
    ck_assert_int_eq(rc, -ECANCELED);
    return axle_actor_nursery_close(an, rc);
}

START_TEST(cancel_via_sigint_reaps_the_tree)
{
    int64_t t0 = axle_now();
    ck_assert_int_eq(root_run(sigint_main, NULL), -EINTR);
    ck_assert_int_lt(axle_now() - t0, 4 * SEC);
}
END_TEST

static int sync_sleep_main(void *arg)
{
    (void)arg;
    axle_scope sc;
    axle_fail_after(&sc, 1 * SEC);
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o = {.name = "spawner"};
    axle_portal *p;
    int rc = axle_run_in_actor(an, &o, "t.spawn_sync_sleeper", NULL, 0, &p);
    if (rc == 0)
        rc = axle_sleep(AXLE_NO_DEADLINE);
    rc = axle_actor_nursery_close(an, rc);
    return axle_scope_close(&sc, rc);
}

/* /dev/shm entries whose name ends with suffix. */
static int shm_named(const char *suffix)
{
    DIR *d = opendir("/dev/shm");
    int n = 0;
    struct dirent *e;
    size_t sl = strlen(suffix);
    while (d && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        n += l >= sl && strcmp(e->d_name + l - sl, suffix) == 0;
    }
    if (d)
        closedir(d);
    return n;
}

START_TEST(cancel_while_childs_child_in_sync_sleep)
{
    char key[32], suffix[40];
    snprintf(key, sizeof key, "sleeper.%d", (int)getpid());
    snprintf(suffix, sizeof suffix, ".%s", key);
    setenv("AXLE_TEST_SLEEPER_KEY", key, 1); /* the grandchild inherits it */
    int64_t t0 = axle_now();
    ck_assert_int_eq(root_run(sync_sleep_main, NULL), -ETIMEDOUT);
    ck_assert_int_lt(axle_now() - t0, 8 * SEC);
    unsetenv("AXLE_TEST_SLEEPER_KEY");
    ck_assert_int_eq(shm_named(suffix), 0); /* the hard-killed grandchild's segment went too */
}
END_TEST

static int graceful_main(void *arg)
{
    (void)arg;
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o = daemon_opts("daemon");
    axle_portal *p;
    ck_assert_int_eq(axle_start_actor(an, &o, &p), 0);
    axle_sleep(100 * MS);
    return axle_actor_nursery_close(an, AXLE_SET_ERR(-EINTR, "keyboard interrupt"));
}

START_TEST(fast_graceful_cancel_of_a_daemon)
{
    int64_t t0 = axle_now();
    ck_assert_int_eq(root_run(graceful_main, NULL), -EINTR);
    ck_assert_int_lt(axle_now() - t0, 2900 * MS);
}
END_TEST

/* ---- RPC errors and exposure ------------------------------------------------------------ */

static int not_exposed_main(void *arg)
{
    (void)arg;
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o = {.name = "closed"}; /* exposes nothing */
    axle_portal *p;
    ck_assert_int_eq(axle_start_actor(an, &o, &p), 0);
    ck_assert_int_eq(axle_portal_run(p, "t.echo", "x", 1, NULL), -AXLE_EREMOTE);
    const axle_error *e = axle_error_last();
    ck_assert_int_eq(axle_error_src_code(e), -AXLE_ENOTEXPOSED);
    ck_assert_ptr_nonnull(strstr(axle_error_message(e), "enable_modules"));
    axle_actor_nursery_cancel(an);
    ck_assert_int_eq(axle_actor_nursery_close(an, 0), 0);

    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o2 = daemon_opts("open");
    ck_assert_int_eq(axle_start_actor(an, &o2, &p), 0);
    ck_assert_int_eq(axle_portal_run(p, "t.nope", NULL, 0, NULL), -AXLE_EREMOTE);
    e = axle_error_last();
    ck_assert_int_eq(axle_error_src_code(e), -ENOSYS);
    ck_assert_ptr_nonnull(strstr(axle_error_message(e), "t.nope"));
    /* the actor still serves after errors */
    ck_assert_int_eq(axle_portal_run(p, "t.nothing", NULL, 0, NULL), 0);
    axle_actor_nursery_cancel(an);
    return axle_actor_nursery_close(an, 0);
}

START_TEST(rpc_not_exposed_and_unknown_function_are_clear_remote_errors)
{
    ck_assert_int_eq(root_run(not_exposed_main, NULL), 0);
}
END_TEST

struct callback {
    bool root_exposes;
    const char *func;
    int want;
    int want_src;
};

static int callback_main(void *arg)
{
    struct callback *cb = arg;
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o = {.name = "caller"};
    axle_portal *p;
    ck_assert_int_eq(axle_run_in_actor(an, &o, "t.call_parent", cb->func, strlen(cb->func), &p), 0);
    axle_buf b = {0};
    int rc = axle_portal_result(p, &b);
    ck_assert_int_eq(rc, cb->want);
    if (rc == 0) {
        ck_assert_uint_eq(b.len, 2);
        ck_assert_mem_eq(b.data, "10", 2);
    } else {
        const axle_error *e = axle_error_last();
        ck_assert_int_eq(axle_error_src_code(e), cb->want_src);
        /* raised here in the root, relayed back by the caller */
        ck_assert_str_eq(axle_error_src_uid(e)->name, "root");
        ck_assert_uint_eq(axle_error_relay_len(e), 1);
        ck_assert_str_eq(axle_error_relay(e, 0)->name, "caller");
    }
    axle_buf_free(&b);
    rc = axle_actor_nursery_close(an, 0);
    ck_assert_int_eq(rc, cb->want);
    return 0;
}

static int root_with_mods(void *arg)
{
    struct callback *cb = arg;
    axle_actor_opts o = {.name = "root"};
    if (cb->root_exposes)
        o.enable_modules = T_MODS, o.n_enable_modules = 1;
    return axle_root(&o, callback_main, cb);
}

START_TEST(rpc_errors_no_mods)
{
    struct callback cb = {false, "t.echo", -AXLE_EREMOTE, -AXLE_ENOTEXPOSED};
    ck_assert_int_eq(root_with_mods(&cb), 0);
}
END_TEST

START_TEST(rpc_errors_this_mod)
{
    struct callback cb = {true, "t.echo", 0, 0};
    ck_assert_int_eq(root_with_mods(&cb), 0);
}
END_TEST

START_TEST(rpc_errors_this_mod_bad_func)
{
    struct callback cb = {true, "t.nope", -AXLE_EREMOTE, -ENOSYS};
    ck_assert_int_eq(root_with_mods(&cb), 0);
}
END_TEST

/* ---- the root runtime -------------------------------------------------------------------- */

static int second_root_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(axle_root(NULL, noop_main, NULL), -EBUSY);
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o = daemon_opts("sub");
    axle_portal *p;
    ck_assert_int_eq(axle_start_actor(an, &o, &p), 0);
    ck_assert_int_eq(axle_portal_run(p, "t.second_root", NULL, 0, NULL), -AXLE_EREMOTE);
    ck_assert_int_eq(axle_error_src_code(axle_error_last()), -EBUSY);
    axle_actor_nursery_cancel(an);
    return axle_actor_nursery_close(an, 0);
}

START_TEST(only_one_root_actor_in_root_and_in_sub)
{
    ck_assert_int_eq(root_run(second_root_main, NULL), 0);
}
END_TEST

static int loglevel_main(void *arg)
{
    (void)arg;
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o = daemon_opts("inherits");
    axle_spawn_opts o2 = daemon_opts("overrides");
    o2.loglevel = "critical";
    axle_portal *p, *p2;
    ck_assert_int_eq(axle_start_actor(an, &o, &p), 0);
    ck_assert_int_eq(axle_start_actor(an, &o2, &p2), 0);
    axle_buf b = {0};
    ck_assert_int_eq(axle_portal_run(p, "t.loglevel", NULL, 0, &b), 0);
    ck_assert_int_eq(int_arg(b.data, b.len), AXLE_LOG_CANCEL);
    ck_assert_int_eq(axle_portal_run(p2, "t.loglevel", NULL, 0, &b), 0);
    ck_assert_int_eq(int_arg(b.data, b.len), AXLE_LOG_CRITICAL);
    axle_buf_free(&b);
    axle_actor_nursery_cancel(an);
    return axle_actor_nursery_close(an, 0);
}

START_TEST(loglevel_propagates_and_is_overridable)
{
    unsetenv("AXLE_LOGLEVEL");
    axle_actor_opts o = {.name = "root", .loglevel = "cancel"};
    ck_assert_int_eq(axle_root(&o, loglevel_main, NULL), 0);
}
END_TEST

static int fds_main(void *arg)
{
    (void)arg;
    int marker = memfd_create("axle-marker", 0); /* no CLOEXEC: fork would keep it */
    ck_assert_int_ge(marker, 0);
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o = daemon_opts("fdcheck");
    axle_portal *p;
    ck_assert_int_eq(axle_start_actor(an, &o, &p), 0);
    axle_buf b = {0};
    ck_assert_int_eq(axle_portal_run(p, "t.count_marker", NULL, 0, &b), 0);
    ck_assert_int_eq(int_arg(b.data, b.len), 0);
    axle_buf_free(&b);
    axle_actor_nursery_cancel(an);
    int rc = axle_actor_nursery_close(an, 0);
    close(marker);
    return rc;
}

START_TEST(children_inherit_none_of_the_parents_fds)
{
    ck_assert_int_eq(root_run(fds_main, NULL), 0);
}
END_TEST

/* ---- find by name ------------------------------------------------------------------ */

/* A child told to listen on TCP is found there (and has no Unix socket). */
static int bind_tcp_main(void *arg)
{
    (void)arg;
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    const char *tcp[] = {"/ip4/127.0.0.1/tcp/0"};
    axle_spawn_opts o = daemon_opts("gamma");
    o.bind_addrs = tcp;
    o.n_bind_addrs = 1;
    axle_portal *pg, *p = NULL;
    ck_assert_int_eq(axle_start_actor(an, &o, &pg), 0);
    for (int i = 0; i < 200 && axle_find_actor("gamma", &p) == -ENOENT; i++)
        axle_sleep(10 * MS);
    ck_assert_ptr_nonnull(p);
    axle_buf b = {0};
    ck_assert_int_eq(axle_portal_run(p, "t.echo", "hi", 2, &b), 0);
    ck_assert_mem_eq(b.data, "hi", 2);
    axle_buf_free(&b);
    axle_portal_close(p);
    char dir[256], path[512];
    ck_assert_int_gt(axle_runtime_dir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/gamma@%d.sock", dir, (int)axle_portal_uid(pg)->pid);
    struct stat sb;
    ck_assert_int_eq(lstat(path, &sb), -1);
    axle_actor_nursery_cancel(an);
    ck_assert_int_eq(axle_actor_nursery_close(an, 0), 0);
    return 0;
}

START_TEST(child_bound_on_tcp_is_found_there)
{
    ck_assert_int_eq(root_run(bind_tcp_main, NULL), 0);
}
END_TEST

static int find_main(void *arg)
{
    (void)arg;
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts oa = daemon_opts("alpha"), ob = daemon_opts("beta");
    axle_portal *pa, *pb;
    ck_assert_int_eq(axle_start_actor(an, &oa, &pa), 0);
    ck_assert_int_eq(axle_start_actor(an, &ob, &pb), 0);
    /* alpha finds beta by name (through the root) and calls it */
    axle_buf b = {0};
    int rc = -1;
    for (int i = 0; i < 100 && rc != 0; i++) { /* beta registers as it starts */
        rc = axle_portal_run(pa, "t.find_call", "beta", 4, &b);
        if (rc != 0)
            axle_sleep(10 * MS);
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(b.len, 4);
    ck_assert_mem_eq(b.data, "beta", 4);
    /* the root finds too, itself included */
    axle_portal *p;
    ck_assert_int_eq(axle_find_actor("alpha", &p), 0);
    ck_assert_str_eq(axle_portal_uid(p)->name, "alpha");
    ck_assert_int_eq(axle_portal_run(p, "t.echo", "hi", 2, &b), 0);
    axle_portal_close(p);
    ck_assert_int_eq(axle_find_actor("root", &p), 0);
    ck_assert_str_eq(axle_portal_uid(p)->name, "root");
    axle_portal_close(p);
    ck_assert_int_eq(axle_find_actor("nobody", &p), -ENOENT);
    /* a cancelled actor's entry goes with its connection */
    ck_assert_int_eq(axle_portal_cancel_actor(pb, 0), 1);
    /* until its connection to the root ends, a look-up may still find it and
     * then fail to connect (-ECONNREFUSED, -AXLE_ETRANSPORT): retry */
    for (int i = 0; i < 200 && (rc = axle_find_actor("beta", &p)) != -ENOENT; i++) {
        if (rc == 0)
            axle_portal_close(p);
        axle_sleep(10 * MS);
    }
    ck_assert_int_eq(rc, -ENOENT);
    ck_assert_int_eq(axle_portal_run(pa, "t.find_call", "beta", 4, &b), -AXLE_EREMOTE);
    ck_assert_int_eq(axle_error_src_code(axle_error_last()), -ENOENT);
    axle_buf_free(&b);
    axle_actor_nursery_cancel(an);
    return axle_actor_nursery_close(an, 0);
}

START_TEST(find_actor_by_name_in_the_tree) { ck_assert_int_eq(root_run(find_main, NULL), 0); }
END_TEST

/* ---- deaths ------------------------------------------------------------------------------ */

static int segv_main(void *arg)
{
    (void)arg;
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o = {.name = "crasher"};
    axle_portal *p;
    ck_assert_int_eq(axle_run_in_actor(an, &o, "t.segv", NULL, 0, &p), 0);
    int rc = axle_actor_nursery_close(an, 0);
    ck_assert_int_eq(rc, -AXLE_EREMOTE);
    const axle_error *e = axle_error_last();
    assert_remote(e, "SIGSEGV", "crasher");
    ck_assert_ptr_nonnull(strstr(axle_error_message(e), "SIGSEGV"));
    /* the tree survives: a new child works */
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o2 = {.name = "after"};
    ck_assert_int_eq(axle_run_in_actor(an, &o2, "t.nothing", NULL, 0, &p), 0);
    ck_assert_int_eq(axle_portal_result(p, NULL), 0);
    return axle_actor_nursery_close(an, 0);
}

START_TEST(child_sigsegv_is_a_remote_error_and_the_tree_survives)
{
    ck_assert_int_eq(root_run(segv_main, NULL), 0);
}
END_TEST

static int died_at_start_main(void *arg)
{
    const char *exe = arg;
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o = {.name = "stillborn", .spawn_method = "exec", .exe = exe};
    axle_portal *p;
    int64_t t0 = axle_now();
    int rc = axle_start_actor(an, &o, &p);
    ck_assert_int_lt(axle_now() - t0, 2 * SEC);
    ck_assert_int_eq(rc, -AXLE_EREMOTE);
    ck_assert_ptr_nonnull(strstr(axle_error_message(axle_error_last()), "died during start"));
    return axle_actor_nursery_close(an, 0);
}

START_TEST(child_exiting_during_start_is_reported_at_once)
{
    ck_assert_int_eq(root_run(died_at_start_main, "/bin/false"), 0);
    ck_assert_int_eq(root_run(died_at_start_main, "/nonexistent/axle-child"), 0);
}
END_TEST

static int lifetime_main(void *arg)
{
    const char *mode = arg;
    char path[256];
    snprintf(path, sizeof path, "%s/lifetime.%d", getenv("XDG_RUNTIME_DIR"), (int)getpid());
    char args[300];
    int n = snprintf(args, sizeof args, "%s%s", mode, path);
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o = {.name = "tmpfile"};
    axle_portal *p;
    ck_assert_int_eq(axle_run_in_actor(an, &o, "t.tmpfile", args, (size_t)n, &p), 0);
    int rc = 0;
    if (mode[0] == 'S') { /* cancelled while it sleeps, once the file exists */
        struct stat sb;
        for (int i = 0; i < 200 && stat(path, &sb) < 0; i++)
            axle_sleep(10 * MS);
        axle_actor_nursery_cancel(an);
    }
    rc = axle_actor_nursery_close(an, rc);
    ck_assert_int_eq(rc, mode[0] == 'E' ? -AXLE_EREMOTE : 0);
    ck_assert_int_eq(access(path, F_OK), -1);
    return 0;
}

START_TEST(lifetime_stack_wipes_tmpfile_on_error)
{
    ck_assert_int_eq(root_run(lifetime_main, "E"), 0);
}
END_TEST

START_TEST(lifetime_stack_wipes_tmpfile_on_cancel)
{
    ck_assert_int_eq(root_run(lifetime_main, "S"), 0);
}
END_TEST

static int title_main(void *arg)
{
    (void)arg;
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o = daemon_opts("proctitle");
    axle_portal *p;
    ck_assert_int_eq(axle_start_actor(an, &o, &p), 0);
    int pid = axle_portal_uid(p)->pid;
    char path[64], buf[256] = {0};
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(buf, sizeof buf, f));
    fclose(f);
    ck_assert_msg(strncmp(buf, "axle[", 5) == 0, "comm is %s", buf);
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char want[64];
    snprintf(want, sizeof want, "axle[proctitle@%d]", pid);
    ck_assert_msg(strstr(buf, want), "cmdline is %s", buf);
    axle_actor_nursery_cancel(an);
    return axle_actor_nursery_close(an, 0);
}

START_TEST(process_title_names_the_actor) { ck_assert_int_eq(root_run(title_main, NULL), 0); }
END_TEST

/* The root gets SIGKILLed: no descendant survives it for long. */
static int orphan_root_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    axle_actor_nursery *an;
    axle_actor_nursery_open(&an);
    axle_spawn_opts o = daemon_opts("orphan");
    axle_portal *p;
    if (axle_start_actor(an, &o, &p) == 0) {
        int32_t pid = axle_portal_uid(p)->pid;
        (void)!write(fd, &pid, sizeof pid);
    }
    axle_sleep(AXLE_NO_DEADLINE);
    return axle_actor_nursery_close(an, 0);
}

START_TEST(sigkill_of_the_root_leaves_no_orphan)
{
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t root = fork();
    ck_assert_int_ge(root, 0);
    if (root == 0) {
        close(pfd[0]);
        axle_actor_opts o = {.name = "doomed-root"};
        _exit(axle_root(&o, orphan_root_main, (void *)(intptr_t)pfd[1]) == 0 ? 0 : 1);
    }
    close(pfd[1]);
    int32_t child = 0;
    ck_assert_int_eq(read(pfd[0], &child, sizeof child), (ssize_t)sizeof child);
    close(pfd[0]);
    kill(root, SIGKILL);
    ck_assert_int_eq(waitpid(root, NULL, 0), root);
    /* We are a subreaper: the orphan comes to us; it must be gone within 1 s. */
    int64_t t0 = axle_now();
    int status;
    pid_t got;
    while ((got = waitpid(child, &status, WNOHANG)) == 0 && axle_now() - t0 < 1 * SEC) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ck_assert_msg(got == child, "the orphan %d was still alive after 1 s", child);
    /* its socket file is its own to remove; a SIGKILLed tree cannot */
    char path[256];
    snprintf(path, sizeof path, "%s/axle/orphan@%d.sock", getenv("XDG_RUNTIME_DIR"), child);
    unlink(path);
    snprintf(path, sizeof path, "%s/axle/doomed-root@%d.sock", getenv("XDG_RUNTIME_DIR"), root);
    unlink(path);
}
END_TEST

/* ---- the suite ------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--axle-child") == 0)
        return axle_main(argc, argv, NULL, NULL, NULL); /* exec backend: does not return */
    Suite *s = suite_create("actor");
    TCase *tc = axle_test_tcase("spawning", 30);
    tcase_add_test(tc, movie_theatre_convo_then_cancel_actor);
    tcase_add_test(tc, most_beautiful_word_is_the_result);
    tcase_add_test(tc, empty_result_is_a_result);
    tcase_add_test(tc, only_one_root_actor_in_root_and_in_sub);
    tcase_add_test(tc, loglevel_propagates_and_is_overridable);
    tcase_add_test(tc, process_title_names_the_actor);
    tcase_add_test(tc, lifetime_stack_wipes_tmpfile_on_error);
    tcase_add_test(tc, lifetime_stack_wipes_tmpfile_on_cancel);
    tcase_add_test(tc, find_actor_by_name_in_the_tree);
    tcase_add_test(tc, child_bound_on_tcp_is_found_there);
    tcase_add_test(tc, children_inherit_none_of_the_parents_fds);
    suite_add_tcase(s, tc);
    tc = axle_test_tcase("errors", 60);
    tcase_add_test(tc, remote_error_no_args);
    tcase_add_test(tc, remote_error_unexpected_args);
    tcase_add_test(tc, multierror_two_children_make_a_group);
    tcase_add_test(tc, multierror_fast_nursery_25_failing_during_spawn);
    tcase_add_test(tc, multierror_fast_nursery_25_failing_after_spawn);
    tcase_add_test(tc, nested_multierrors_depth_1);
    tcase_add_test(tc, nested_multierrors_depth_3);
    tcase_add_test(tc, rpc_not_exposed_and_unknown_function_are_clear_remote_errors);
    tcase_add_test(tc, rpc_errors_no_mods);
    tcase_add_test(tc, rpc_errors_this_mod);
    tcase_add_test(tc, rpc_errors_this_mod_bad_func);
    suite_add_tcase(s, tc);
    tc = axle_test_tcase("cancel", 30);
    tcase_add_test(tc, cancel_single_subactor_by_nursery_cancel);
    tcase_add_test(tc, cancel_single_subactor_by_body_error);
    tcase_add_test(tc, some_cancels_all_1_run_in_actor_fails);
    tcase_add_test(tc, some_cancels_all_2_run_in_actors_fail);
    tcase_add_test(tc, some_cancels_all_3_run_in_actors_fail);
    tcase_add_test(tc, some_cancels_all_1_daemon_actor_fails);
    tcase_add_test(tc, some_cancels_all_1_daemon_fails_all_run_in_actors_dun_quick);
    tcase_add_test(tc, some_cancels_all_no_daemon_fails_run_in_actors_sleep_then_fail);
    tcase_add_test(tc, cancel_via_sigint_reaps_the_tree);
    tcase_add_test(tc, cancel_while_childs_child_in_sync_sleep);
    tcase_add_test(tc, fast_graceful_cancel_of_a_daemon);
    suite_add_tcase(s, tc);
    tc = axle_test_tcase("deaths", 30);
    tcase_add_test(tc, child_sigsegv_is_a_remote_error_and_the_tree_survives);
    tcase_add_test(tc, child_exiting_during_start_is_reported_at_once);
    tcase_add_test(tc, sigkill_of_the_root_leaves_no_orphan);
    suite_add_tcase(s, tc);
    return axle_test_main(s);
}
