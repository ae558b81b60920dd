/*
 * tests/unit/test_fiber.c — fibers and the scheduler's failure reports:
 * a stack overflow names the task, io_uring being unavailable names the
 * cause and the fix, a deadlock is reported instead of hanging, misuse is
 * reported; and many fibers with deep stacks coexist.
 *
 * Death tests fork a child with stderr on a pipe, then assert on how it
 * died and on what it wrote.
 */
#define _GNU_SOURCE
#include "../harness.h"

#include <axle/log.h>
#include <errno.h>
#include <pthread.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct death {
    int status;     /* from waitpid */
    char out[4096]; /* what the child wrote to stderr */
};

/* Run fn in a forked child with stderr captured. */
static void run_dying(void (*fn)(void), struct death *d)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        /* No core files from deliberate deaths. */
        prctl(PR_SET_DUMPABLE, 0);
        fn();
        _exit(0);
    }
    close(p[1]);
    size_t off = 0;
    ssize_t n;
    while ((n = read(p[0], d->out + off, sizeof d->out - 1 - off)) > 0)
        off += (size_t)n;
    d->out[off] = 0;
    close(p[0]);
    ck_assert_int_eq(waitpid(pid, &d->status, 0), pid);
}

/* ---- stack overflow --------------------------------------------------- */

#pragma GCC diagnostic ignored "-Winfinite-recursion"
static int recurse(int depth)
{
    volatile char pad[1024];
    pad[0] = (char)depth;
    return recurse(depth + 1) + pad[0];
}

static int overflow_task(void *arg)
{
    (void)arg;
    return recurse(0);
}

static int overflow_main(void *arg)
{
    (void)arg;
    axle_nursery *n;
    axle_nursery_open(&n);
    axle_task_opts o = {.name = "deep-recursion", .stack_size = 64 * 1024};
    axle_nursery_start_soon(n, overflow_task, NULL, &o);
    return axle_nursery_close(n, 0);
}

static void overflow_child(void) { axle_run(overflow_main, NULL, NULL); }

START_TEST(stack_overflow_is_a_clean_crash_naming_the_task)
{
    struct death d;
    run_dying(overflow_child, &d);
    ck_assert_msg(WIFSIGNALED(d.status) && WTERMSIG(d.status) == SIGSEGV,
                  "expected death by SIGSEGV, status 0x%x, stderr: %s", d.status, d.out);
    ck_assert_msg(strstr(d.out, "stack overflow in task 'deep-recursion'"), "stderr: %s", d.out);
}
END_TEST

/* ---- io_uring unavailable --------------------------------------------- */

static int errno_for_setup;

/* A seccomp filter that fails io_uring_setup with errno_for_setup. */
static void deny_io_uring(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)errno_for_setup),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
        _exit(99);
}

static int never_runs(void *arg)
{
    (void)arg;
    return -1;
}

static void uring_denied_child(void)
{
    deny_io_uring();
    int rc = axle_run(never_runs, NULL, NULL);
    const axle_error *e = axle_error_last();
    fprintf(stderr, "rc=%d\nlast=%s\n", rc, e ? axle_error_message(e) : "(none)");
    _exit(rc == -AXLE_ENOURING ? 0 : 1);
}

START_TEST(io_uring_blocked_by_seccomp_names_cause_and_fix)
{
    struct death d;
    errno_for_setup = EPERM;
    run_dying(uring_denied_child, &d);
    ck_assert_msg(WIFEXITED(d.status) && WEXITSTATUS(d.status) == 0, "status 0x%x: %s", d.status,
                  d.out);
    ck_assert_msg(strstr(d.out, "last=io_uring_setup: EPERM"), "%s", d.out);
    ck_assert_msg(strstr(d.out, "seccomp"), "%s", d.out);
    /* the log line as well as the rich error */
    ck_assert_msg(strstr(d.out, "ERROR"), "%s", d.out);
}
END_TEST

START_TEST(io_uring_missing_names_cause_and_fix)
{
    struct death d;
    errno_for_setup = ENOSYS;
    run_dying(uring_denied_child, &d);
    ck_assert_msg(WIFEXITED(d.status) && WEXITSTATUS(d.status) == 0, "status 0x%x: %s", d.status,
                  d.out);
    ck_assert_msg(strstr(d.out, "last=io_uring_setup: ENOSYS"), "%s", d.out);
    ck_assert_msg(strstr(d.out, "Linux >= 6.1"), "%s", d.out);
}
END_TEST

/* ---- deadlock and misuse reports ---------------------------------------- */

static int wait_forever(void *arg)
{
    (void)arg;
    axle_event ev;
    axle_event_init(&ev);
    return axle_event_wait(&ev); /* nobody can set it */
}

static void deadlock_child(void) { axle_run(wait_forever, NULL, NULL); }

START_TEST(deadlock_is_reported_not_hung)
{
    struct death d;
    run_dying(deadlock_child, &d);
    ck_assert_msg(WIFSIGNALED(d.status) && WTERMSIG(d.status) == SIGABRT, "status 0x%x: %s",
                  d.status, d.out);
    ck_assert_msg(strstr(d.out, "deadlock"), "%s", d.out);
}
END_TEST

static int leave_scope_open(void *arg)
{
    (void)arg;
    static axle_scope sc;
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    return 0;
}

static void open_scope_child(void) { axle_run(leave_scope_open, NULL, NULL); }

START_TEST(returning_with_an_open_scope_is_reported)
{
    struct death d;
    run_dying(open_scope_child, &d);
    ck_assert_msg(WIFSIGNALED(d.status) && WTERMSIG(d.status) == SIGABRT, "status 0x%x", d.status);
    ck_assert_msg(strstr(d.out, "task 'main' returned with a cancel scope or nursery still open"),
                  "%s", d.out);
}
END_TEST

static void outside_child(void) { axle_sleep(1); }

START_TEST(task_call_outside_a_scheduler_is_reported)
{
    struct death d;
    run_dying(outside_child, &d);
    ck_assert_msg(WIFSIGNALED(d.status) && WTERMSIG(d.status) == SIGABRT, "status 0x%x", d.status);
    ck_assert_msg(strstr(d.out, "outside a task"), "%s", d.out);
}
END_TEST

static void *sleep_from_thread(void *arg)
{
    (void)arg;
    axle_sleep(1); /* not a scheduler thread: must abort with a message */
    return NULL;
}

static int foreign_thread_main(void *arg)
{
    (void)arg;
    pthread_t t;
    pthread_create(&t, NULL, sleep_from_thread, NULL);
    pthread_join(t, NULL);
    return 0;
}

static void foreign_thread_child(void) { axle_run(foreign_thread_main, NULL, NULL); }

START_TEST(task_call_from_a_foreign_thread_is_reported)
{
    struct death d;
    run_dying(foreign_thread_child, &d);
    ck_assert_msg(WIFSIGNALED(d.status) && WTERMSIG(d.status) == SIGABRT, "status 0x%x", d.status);
    ck_assert_msg(strstr(d.out, "outside a task"), "%s", d.out);
}
END_TEST

static void *error_from_thread(void *arg)
{
    (void)arg;
    AXLE_SET_ERR(-EIO, "from another thread");
    ck_assert_str_eq(axle_error_message(axle_error_last()), "from another thread");
    axle_error_clear();
    return NULL;
}

static int own_error_main(void *arg)
{
    (void)arg;
    AXLE_SET_ERR(-ENOENT, "the task's own");
    pthread_t t;
    pthread_create(&t, NULL, error_from_thread, NULL);
    pthread_join(t, NULL);
    ck_assert_str_eq(axle_error_message(axle_error_last()), "the task's own");
    return 0;
}

START_TEST(error_last_is_per_thread_and_per_task)
{
    AXLE_SET_ERR(-ENOENT, "the main thread's own");
    pthread_t t;
    pthread_create(&t, NULL, error_from_thread, NULL);
    pthread_join(t, NULL);
    ck_assert_str_eq(axle_error_message(axle_error_last()), "the main thread's own");
    ck_assert_int_eq(axle_test_run(own_error_main, NULL), 0);
    axle_error_clear();
}
END_TEST

/* ---- fibers keep their own stacks --------------------------------------- */

struct deep {
    int depth;
    long sum;
};

/* Recurse, yielding at every level, so all fibers' frames interleave. */
static long deep_sum(int n)
{
    volatile long local = n;
    if (n == 0)
        return 0;
    ck_assert_int_eq(axle_checkpoint(), 0);
    return local + deep_sum(n - 1);
}

static int deep_task(void *arg)
{
    struct deep *d = arg;
    d->sum = deep_sum(d->depth);
    return 0;
}

static int many_deep_main(void *arg)
{
    (void)arg;
    enum { N = 64 };
    struct deep ds[N];
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    for (int i = 0; i < N; i++) {
        ds[i] = (struct deep){.depth = 100 + i};
        ck_assert_int_eq(axle_nursery_start_soon(n, deep_task, &ds[i], NULL), 0);
    }
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(ds[i].sum, (long)ds[i].depth * (ds[i].depth + 1) / 2);
    return 0;
}

START_TEST(fibers_keep_their_own_stacks_across_switches)
{
    ck_assert_int_eq(axle_test_run(many_deep_main, NULL), 0);
}
END_TEST

static int errno_task(void *arg)
{
    int v = (int)(intptr_t)arg;
    errno = v;
    ck_assert_int_eq(axle_checkpoint(), 0);
    ck_assert_int_eq(errno, v);
    return 0;
}

static int errno_main(void *arg)
{
    (void)arg;
    axle_nursery *n;
    axle_nursery_open(&n);
    for (int i = 1; i <= 8; i++)
        axle_nursery_start_soon(n, errno_task, (void *)(intptr_t)i, NULL);
    return axle_nursery_close(n, 0);
}

START_TEST(errno_is_per_task) { ck_assert_int_eq(axle_test_run(errno_main, NULL), 0); }
END_TEST

int main(void)
{
    Suite *s = suite_create("fiber");
    TCase *tc = axle_test_tcase("death", 20);
    tcase_add_test(tc, stack_overflow_is_a_clean_crash_naming_the_task);
    tcase_add_test(tc, io_uring_blocked_by_seccomp_names_cause_and_fix);
    tcase_add_test(tc, io_uring_missing_names_cause_and_fix);
    tcase_add_test(tc, deadlock_is_reported_not_hung);
    tcase_add_test(tc, returning_with_an_open_scope_is_reported);
    tcase_add_test(tc, task_call_outside_a_scheduler_is_reported);
    tcase_add_test(tc, task_call_from_a_foreign_thread_is_reported);
    suite_add_tcase(s, tc);
    tc = axle_test_tcase("stacks", 20);
    tcase_add_test(tc, fibers_keep_their_own_stacks_across_switches);
    tcase_add_test(tc, errno_is_per_task);
    tcase_add_test(tc, error_last_is_per_thread_and_per_task);
    suite_add_tcase(s, tc);
    return axle_test_main(s);
}
