/*
 * tests/unit/test_proc.c — spawn/: the three backends, reaping by pidfd,
 * signals, crash reports, orphan prevention, process titles, the zygote.
 *
 * These functions are private to libaxle, so this suite links the static
 * library. It defines axle__child_main itself: what a child does is chosen
 * by the child's name (see child_main below). The same binary is the exec
 * backend's program: main hands its argv to axle__child_args_parse first.
 * Children report readiness through their crash channel (one line), which
 * works for every backend, fds and all.
 */
#define _GNU_SOURCE
#include "harness.h"

#include "../../spawn/spawn_int.h"

#include <axle/error.h>
#include <axle/log.h>
#include <axle/task.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static const char *const methods[] = {"fork", "exec", "forkserver"};

static double timeout_mult(void)
{
    const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
    double x = m ? atof(m) : 1.0;
    return x < 1.0 ? 1.0 : x;
}

/* fds of pid numbered 3 and above; their targets listed into what. */
static int high_fds(pid_t pid, char *what, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    size_t off = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && atoi(e->d_name) >= 3 &&
            !(pid == getpid() && atoi(e->d_name) == dirfd(d))) {
            n++;
            char link[128] = "";
            if (what && off < len) {
                (void)!readlinkat(dirfd(d), e->d_name, link, sizeof link - 1);
                off += (size_t)snprintf(what + off, len - off, " %s->%s", e->d_name, link);
            }
        }
    closedir(d);
    return n;
}

/* ---- the children --------------------------------------------------- */

static void child_say(const axle__child_args *a, const char *line)
{
    (void)!write(a->crash_fd, line, strlen(line));
}

static int fault_task(void *arg)
{
    (void)arg;
    volatile uintptr_t addr = 0x10;
    *(volatile int *)addr = 1; /* a real fault, inside a fiber */
    return 0;
}

static int deep(int n)
{
    volatile char frame[512];
    frame[0] = (char)n;
    return n > 0 ? deep(n - 1) + frame[0] : 0;
}

static int overflow_task(void *arg)
{
    (void)arg;
    return deep(1 << 20);
}

static int tiny_task(void *arg)
{
    int *ran = arg;
    int rc = axle_sleep(1000000);
    *ran = 1;
    return rc;
}

/* The child's side of every test, chosen by name. */
int axle__child_main(const axle__child_args *a)
{
    const char *n = a->uid.name;
    if (strcmp(n, "exit3") == 0)
        return 3;
    if (strcmp(n, "segv") == 0) /* under axle_run: fiber.c's handler passes it on */
        return axle_run(fault_task, NULL, NULL) == 0 ? 10 : 11;
    if (strcmp(n, "overflow") == 0) { /* fiber.c's reporter, not ours, owns this one */
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        dup2(null, 2); /* its report goes to stderr: keep the test log clean */
        axle_run_opts o = {.stack_size = 64 * 1024};
        return axle_run(overflow_task, NULL, &o) == 0 ? 10 : 11;
    }
    if (strcmp(n, "abort") == 0)
        abort();
    if (strcmp(n, "sleep") == 0 || strcmp(n, "title") == 0) {
        child_say(a, "ready\n");
        for (;;)
            pause();
    }
    if (strcmp(n, "ignterm") == 0) {
        signal(SIGTERM, SIG_IGN);
        child_say(a, "ready\n");
        for (;;)
            pause();
    }
    if (strncmp(n, "mid:", 4) == 0) { /* a grandchild by method n + 4, then wait */
        axle__spawn_req r = {.method = n + 4};
        snprintf(r.args.uid.name, sizeof r.args.uid.name, "sleep");
        axle__proc gc;
        if (axle__proc_spawn(&r, &gc) < 0)
            return 2;
        char line[32];
        snprintf(line, sizeof line, "%d\n", (int)gc.pid);
        child_say(a, line);
        for (;;)
            pause();
    }
    if (strcmp(n, "sched") == 0) { /* a fresh scheduler in the child */
        int ran = 0;
        int rc = axle_run(tiny_task, &ran, NULL);
        return rc == 0 && ran ? 5 : 1;
    }
    if (strcmp(n, "fds") == 0) /* how many fds above stdio it started with */
        return high_fds(getpid(), NULL, 0);
    if (strcmp(n, "ident") == 0) { /* everything the parent sent arrived */
        for (int i = 0; i < 16; i++)
            if (a->uid.uuid[i] != (uint8_t)(0xa0 + i))
                return 20;
        if (strcmp(a->parent_addr, "/unix/tmp/parent.sock") != 0)
            return 21;
        if (a->uid.pid != getpid() || a->parent_pid != getppid())
            return 22;
        if (axle__log_level != AXLE_LOG_WARNING)
            return 23;
        return 0;
    }
    return 99;
}

/* ---- helpers -------------------------------------------------------- */

static int spawn(const char *method, const char *name, const char *exe, axle__proc *p)
{
    axle__spawn_req r = {.method = method, .exe = exe};
    snprintf(r.args.uid.name, sizeof r.args.uid.name, "%s", name);
    return axle__proc_spawn(&r, p);
}

/* Wait for the child's first line on its crash channel. */
static void wait_line(axle__proc *p, char *buf, size_t len)
{
    int rc = axle_poll(p->crash_fd, POLLIN);
    ck_assert_int_ge(rc, 0);
    ck_assert(rc & POLLIN);
    ssize_t n = recv(p->crash_fd, buf, len - 1, MSG_DONTWAIT);
    ck_assert_int_gt(n, 0);
    buf[n] = 0;
}

static void kill_and_reap(axle__proc *p)
{
    ck_assert_int_eq(axle__proc_signal(p, SIGKILL), 0);
    ck_assert_int_eq(axle__proc_wait(p), 0);
    ck_assert_int_eq(p->signal, SIGKILL);
    axle__proc_release(p);
}

static size_t count(const char *hay, const char *needle)
{
    size_t k = 0;
    for (const char *s = hay; (s = strstr(s, needle)); s++)
        k++;
    return k;
}

static int run_test(axle_fn fn, void *arg)
{
    int rc = axle_test_run(fn, arg);
    axle__forkserver_stop();
    return rc;
}

/* ---- exit status, per backend --------------------------------------- */

static int exit_status_main(void *arg)
{
    const char *method = arg;
    axle__proc p;
    ck_assert_int_eq(spawn(method, "exit3", NULL, &p), 0);
    ck_assert_int_gt(p.pid, 0);
    ck_assert_int_ge(p.pidfd, 0);
    ck_assert_int_eq(axle__proc_wait(&p), 0);
    ck_assert(p.exited);
    ck_assert_int_eq(p.exit_code, 3);
    ck_assert_int_eq(p.signal, 0);
    ck_assert(!p.core_dumped);
    char d[256];
    ck_assert_int_eq(axle__proc_describe(&p, d, sizeof d), 13);
    ck_assert_str_eq(d, "exit status 3");
    ck_assert_int_eq(axle__proc_describe(&p, d, 5), 13); /* snprintf-like */
    ck_assert_str_eq(d, "exit");
    ck_assert_int_eq(axle__proc_try_wait(&p), 1);
    ck_assert_int_eq(axle__proc_signal(&p, SIGTERM), -ESRCH);
    axle__proc_release(&p);
    return 0;
}

START_TEST(test_child_exit_status_is_reaped)
{
    ck_assert_int_eq(run_test(exit_status_main, (void *)methods[_i]), 0);
}
END_TEST

/* ---- crash reports -------------------------------------------------- */

static int segv_main(void *arg)
{
    axle__proc p;
    ck_assert_int_eq(spawn(arg, "segv", NULL, &p), 0);
    ck_assert_int_eq(axle__proc_wait(&p), 0);
    ck_assert_int_eq(p.signal, SIGSEGV);
    ck_assert_int_eq(p.exit_code, -1);
    char d[8192], d2[8192];
    int n = axle__proc_describe(&p, d, sizeof d);
    ck_assert_int_gt(n, 0);
    ck_assert_msg(strncmp(d, "killed by SIGSEGV at 0x10 (address not mapped)", 46) == 0,
                  "describe: %s", d);
    ck_assert_msg(strstr(d, "\nbacktrace:\n"), "describe: %s", d);
    ck_assert_msg(count(d, "[0x") >= 3, "too few frames: %s", d);
    /* Peeked, not consumed: the same account twice. */
    axle__proc_describe(&p, d2, sizeof d2);
    ck_assert_str_eq(d, d2);
    axle__proc_release(&p);
    return 0;
}

START_TEST(test_segv_child_reports_signal_and_backtrace)
{
    ck_assert_int_eq(run_test(segv_main, (void *)methods[_i]), 0);
}
END_TEST

static int abort_main(void *arg)
{
    (void)arg;
    axle__proc p;
    ck_assert_int_eq(spawn("fork", "abort", NULL, &p), 0);
    ck_assert_int_eq(axle__proc_wait(&p), 0);
    ck_assert_int_eq(p.signal, SIGABRT);
    char d[8192];
    axle__proc_describe(&p, d, sizeof d);
    ck_assert_msg(strncmp(d, "killed by SIGABRT", 17) == 0, "describe: %s", d);
    ck_assert_msg(strstr(d, "\nbacktrace:\n"), "describe: %s", d);
    axle__proc_release(&p);
    return 0;
}

START_TEST(test_abort_child_reports_sigabrt) { ck_assert_int_eq(run_test(abort_main, NULL), 0); }
END_TEST

static int overflow_main(void *arg)
{
    (void)arg;
    axle__proc p;
    ck_assert_int_eq(spawn("fork", "overflow", NULL, &p), 0);
    ck_assert_int_eq(axle__proc_wait(&p), 0);
    ck_assert_int_eq(p.signal, SIGSEGV);
    char d[256];
    axle__proc_describe(&p, d, sizeof d);
    ck_assert_str_eq(d, "killed by SIGSEGV"); /* reported by fiber.c, to stderr */
    axle__proc_release(&p);
    return 0;
}

START_TEST(test_stack_overflow_still_reported_by_fiber_layer)
{
    ck_assert_int_eq(run_test(overflow_main, NULL), 0);
}
END_TEST

/* ---- methods -------------------------------------------------------- */

START_TEST(test_unknown_method_lists_known_ones)
{
    axle__proc p;
    ck_assert_int_eq(spawn("vfork", "exit3", NULL, &p), -EINVAL);
    const axle_error *e = axle_error_last();
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(axle_error_code(e), -EINVAL);
    const char *m = axle_error_message(e);
    ck_assert_msg(strstr(m, "\"vfork\""), "message: %s", m);
    ck_assert_msg(strstr(m, "fork, exec, forkserver"), "message: %s", m);
    ck_assert_int_eq(p.pidfd, -1);
    ck_assert_int_eq(p.crash_fd, -1);

    setenv("AXLE_SPAWN_METHOD", "threads", 1);
    ck_assert_int_eq(spawn(NULL, "exit3", NULL, &p), -EINVAL);
    m = axle_error_message(axle_error_last());
    ck_assert_msg(strstr(m, "$AXLE_SPAWN_METHOD"), "message: %s", m);
    unsetenv("AXLE_SPAWN_METHOD");
}
END_TEST

START_TEST(test_spawn_method_resolution)
{
    unsetenv("AXLE_SPAWN_METHOD");
    ck_assert_str_eq(axle__spawn_method(NULL), "fork");
    ck_assert_str_eq(axle__spawn_method(""), "fork");
    setenv("AXLE_SPAWN_METHOD", "exec", 1);
    ck_assert_str_eq(axle__spawn_method(NULL), "exec");
    ck_assert_str_eq(axle__spawn_method("forkserver"), "forkserver");
    unsetenv("AXLE_SPAWN_METHOD");
}
END_TEST

static int exec_missing_main(void *arg)
{
    (void)arg;
    axle__proc p;
    ck_assert_int_eq(spawn("exec", "exit3", "/nonexistent/axle-prog", &p), 0);
    ck_assert_int_eq(axle__proc_wait(&p), 0);
    ck_assert_int_eq(p.exit_code, 127);
    char d[512];
    axle__proc_describe(&p, d, sizeof d);
    ck_assert_str_eq(d, "exec /nonexistent/axle-prog failed: No such file or directory "
                        "(exit status 127)");
    axle__proc_release(&p);
    return 0;
}

START_TEST(test_exec_of_missing_program_names_errno)
{
    ck_assert_int_eq(run_test(exec_missing_main, NULL), 0);
}
END_TEST

/* ---- the arguments cross every backend ------------------------------ */

static int ident_main(void *arg)
{
    axle__spawn_req r = {.method = arg};
    snprintf(r.args.uid.name, sizeof r.args.uid.name, "ident");
    for (int i = 0; i < 16; i++)
        r.args.uid.uuid[i] = (uint8_t)(0xa0 + i);
    snprintf(r.args.parent_addr, sizeof r.args.parent_addr, "/unix/tmp/parent.sock");
    snprintf(r.args.loglevel, sizeof r.args.loglevel, "warning");
    axle__proc p;
    ck_assert_int_eq(axle__proc_spawn(&r, &p), 0);
    ck_assert_int_eq(axle__proc_wait(&p), 0);
    ck_assert_int_eq(p.exit_code, 0);
    axle__proc_release(&p);
    return 0;
}

START_TEST(test_child_receives_its_arguments)
{
    ck_assert_int_eq(run_test(ident_main, (void *)methods[_i]), 0);
}
END_TEST

START_TEST(test_child_args_parse)
{
    axle__child_args a;
    char *plain[] = {"prog", "--verbose", NULL};
    ck_assert_int_eq(axle__child_args_parse(2, plain, &a), 0);
    ck_assert_int_eq(axle__child_args_parse(1, plain, &a), 0);

    char *good[] = {"prog",
                    "--axle-child",
                    "name=w 1",
                    "uuid=00112233445566778899aabbccddeeff",
                    "parent=/ip4/127.0.0.1/tcp/1616",
                    "loglevel=cancel",
                    "ppid=42",
                    "crashfd=7",
                    NULL};
    ck_assert_int_eq(axle__child_args_parse(8, good, &a), 1);
    ck_assert_str_eq(a.uid.name, "w 1");
    ck_assert_int_eq(a.uid.uuid[0], 0x00);
    ck_assert_int_eq(a.uid.uuid[15], 0xff);
    ck_assert_str_eq(a.parent_addr, "/ip4/127.0.0.1/tcp/1616");
    ck_assert_str_eq(a.loglevel, "cancel");
    ck_assert_int_eq(a.parent_pid, 42);
    ck_assert_int_eq(a.crash_fd, 7);

    char *bad_uuid[] = {"prog", "--axle-child", "name=x", "uuid=0011", "ppid=42", NULL};
    ck_assert_int_eq(axle__child_args_parse(5, bad_uuid, &a), -EINVAL);
    char *unknown[] = {"prog", "--axle-child", "name=x", "color=red", NULL};
    ck_assert_int_eq(axle__child_args_parse(4, unknown, &a), -EINVAL);
    ck_assert_ptr_nonnull(strstr(axle_error_message(axle_error_last()), "color"));
    char *no_ppid[] = {"prog", "--axle-child", "name=x", "uuid=00112233445566778899aabbccddeeff",
                       NULL};
    ck_assert_int_eq(axle__child_args_parse(4, no_ppid, &a), -EINVAL);
}
END_TEST

/* ---- waiting and signals -------------------------------------------- */

static int cancel_main(void *arg)
{
    (void)arg;
    axle__proc p;
    char line[64];
    ck_assert_int_eq(spawn("fork", "sleep", NULL, &p), 0);
    wait_line(&p, line, sizeof line);
    axle_scope sc;
    axle_move_on_after(&sc, 20 * 1000000);
    int rc = axle__proc_wait(&p);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&sc, rc), 0);
    ck_assert(!p.exited);
    ck_assert_int_eq(axle__proc_try_wait(&p), 0);
    kill_and_reap(&p); /* still reapable after the cancelled wait */
    return 0;
}

START_TEST(test_wait_is_cancellable) { ck_assert_int_eq(run_test(cancel_main, NULL), 0); }
END_TEST

static int escalate_main(void *arg)
{
    (void)arg;
    axle__proc p;
    char line[64];
    ck_assert_int_eq(spawn("fork", "ignterm", NULL, &p), 0);
    wait_line(&p, line, sizeof line); /* SIGTERM is ignored from here on */
    ck_assert_int_eq(axle__proc_signal(&p, SIGTERM), 0);
    axle_scope sc;
    axle_move_on_after(&sc, 100 * 1000000);
    int rc = axle__proc_wait(&p);
    ck_assert_int_eq(rc, -ECANCELED); /* survived SIGTERM */
    axle_scope_close(&sc, rc);
    ck_assert_int_eq(axle__proc_signal(&p, SIGKILL), 0);
    ck_assert_int_eq(axle__proc_wait(&p), 0);
    ck_assert_int_eq(p.signal, SIGKILL);
    char d[256];
    axle__proc_describe(&p, d, sizeof d);
    ck_assert_str_eq(d, "killed by SIGKILL"); /* "ready" was read by wait_line */
    axle__proc_release(&p);
    return 0;
}

START_TEST(test_sigterm_ignored_then_sigkill)
{
    ck_assert_int_eq(run_test(escalate_main, NULL), 0);
}
END_TEST

/* ---- orphans -------------------------------------------------------- */

static int pdeath_main(void *arg)
{
    axle__proc mid;
    char line[64], name[32];
    snprintf(name, sizeof name, "mid:%s", (const char *)arg);
    ck_assert_int_eq(spawn("fork", name, NULL, &mid), 0);
    wait_line(&mid, line, sizeof line);
    pid_t gc = (pid_t)atoi(line);
    ck_assert_int_gt(gc, 0);
    int gcfd = axle__pidfd_open(gc);
    ck_assert_int_ge(gcfd, 0);

    kill_and_reap(&mid); /* gc (and mid's zygote) come back to us: we are a subreaper */

    axle_scope sc;
    axle_fail_after(&sc, (int64_t)(1e9 * timeout_mult()));
    int rc = axle_poll(gcfd, POLLIN);
    ck_assert_int_eq(axle_scope_close(&sc, rc < 0 ? rc : 0), 0); /* died within 1 s */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    ck_assert_int_eq(waitid((idtype_t)P_PIDFD, (id_t)gcfd, &si, WEXITED), 0);
    ck_assert_int_eq(si.si_code, CLD_KILLED);
    ck_assert_int_eq(si.si_status, SIGKILL);
    close(gcfd);
    return 0;
}

START_TEST(test_grandchild_dies_with_its_parent)
{
    ck_assert_int_eq(run_test(pdeath_main, (void *)methods[_i]), 0);
}
END_TEST

START_TEST(test_child_of_a_dead_parent_exits_at_once)
{
    pid_t c = fork();
    ck_assert_int_ge(c, 0);
    if (c == 0) {
        axle__child_args a = {.crash_fd = -1, .parent_pid = -1}; /* not our parent */
        snprintf(a.uid.name, sizeof a.uid.name, "late");
        axle__child_prepare(&a);
        _exit(0); /* not reached */
    }
    siginfo_t si;
    memset(&si, 0, sizeof si);
    ck_assert_int_eq(waitid(P_PID, (id_t)c, &si, WEXITED), 0);
    ck_assert_int_eq(si.si_code, CLD_KILLED);
    ck_assert_int_eq(si.si_status, SIGKILL);
}
END_TEST

/* ---- titles --------------------------------------------------------- */

static ssize_t slurp(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n >= 0)
        buf[n] = 0;
    return n;
}

static int title_main(void *arg)
{
    axle__proc p;
    char line[64], path[64], buf[4096], want[64];
    ck_assert_int_eq(spawn(arg, "title", NULL, &p), 0);
    wait_line(&p, line, sizeof line);
    snprintf(path, sizeof path, "/proc/%d/comm", (int)p.pid);
    ck_assert_int_gt(slurp(path, buf, sizeof buf), 0);
    ck_assert_msg(strncmp(buf, "axle[title@", 11) == 0, "comm: %s", buf);
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)p.pid);
    ssize_t n = slurp(path, buf, sizeof buf);
    ck_assert_int_gt(n, 0);
    snprintf(want, sizeof want, "axle[title@%d]", (int)p.pid);
    ck_assert_msg(memmem(buf, (size_t)n, want, strlen(want)) == buf, "cmdline: %s", buf);
    kill_and_reap(&p);
    return 0;
}

START_TEST(test_child_title_names_actor_and_pid)
{
    ck_assert_int_eq(run_test(title_main, (void *)methods[_i]), 0);
}
END_TEST

START_TEST(test_title_longer_than_argv_uses_environment_block)
{
    /* A forked copy of this process, so the runner's argv stays intact. */
    pid_t c = fork();
    ck_assert_int_ge(c, 0);
    if (c == 0) {
        char title[300];
        memset(title, 'x', sizeof title - 1);
        memcpy(title, "axle[", 5);
        title[sizeof title - 1] = 0;
        axle__proc_set_title(title);
        char buf[4096];
        ssize_t n = slurp("/proc/self/cmdline", buf, sizeof buf);
        const char *home = getenv("PATH"); /* the environment still reads */
        _exit(n >= (ssize_t)strlen(title) && strncmp(buf, title, strlen(title)) == 0 && home ? 0
                                                                                             : 1);
    }
    int st;
    ck_assert_int_eq(waitpid(c, &st, 0), c);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 0);
}
END_TEST

/* ---- a scheduler in the child --------------------------------------- */

static int sched_main(void *arg)
{
    axle__proc p;
    ck_assert_int_eq(spawn(arg, "sched", NULL, &p), 0);
    ck_assert_int_eq(axle__proc_wait(&p), 0);
    ck_assert_int_eq(p.exit_code, 5);
    axle__proc_release(&p);
    return 0;
}

START_TEST(test_child_runs_its_own_scheduler)
{
    ck_assert_int_eq(run_test(sched_main, (void *)methods[_i]), 0);
}
END_TEST

/* ---- the zygote ----------------------------------------------------- */

static int many_main(void *arg)
{
    (void)arg;
    enum { N = 20 };
    axle__proc p[N];
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(spawn("forkserver", "exit3", NULL, &p[i]), 0);
    pid_t z = axle__forkserver_pid();
    ck_assert_int_gt(z, 0);
    char what[512] = "";
    ck_assert_msg(high_fds(z, what, sizeof what) == 1, "zygote fds:%s", what); /* its socket */
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(axle__proc_wait(&p[i]), 0);
        ck_assert_int_eq(p[i].exit_code, 3);
        axle__proc_release(&p[i]);
    }
    ck_assert_int_eq(axle__forkserver_pid(), z); /* one zygote served them all */
    axle__forkserver_stop();
    ck_assert_int_eq(axle__forkserver_pid(), 0);
    ck_assert_int_eq(kill(z, 0), -1); /* reaped: the pid is gone */
    axle__forkserver_stop();          /* idempotent */
    return 0;
}

START_TEST(test_forkserver_serves_many_and_stops_cleanly)
{
    ck_assert_int_eq(run_test(many_main, NULL), 0);
}
END_TEST

static int zygote_dies_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(axle__forkserver_start(), 0);
    ck_assert_int_eq(axle__forkserver_start(), 0); /* idempotent */
    pid_t z = axle__forkserver_pid();
    int zfd = axle__pidfd_open(z);
    ck_assert_int_ge(zfd, 0);
    ck_assert_int_eq(kill(z, SIGKILL), 0);
    ck_assert_int_eq(axle_poll(zfd, POLLIN) & POLLIN, POLLIN);
    close(zfd);

    axle__proc p;
    ck_assert_int_eq(spawn("forkserver", "exit3", NULL, &p), -ECHILD);
    const char *m = axle_error_message(axle_error_last());
    ck_assert_msg(strstr(m, "is gone") && strstr(m, "killed by SIGKILL"), "message: %s", m);
    ck_assert_int_eq(axle__forkserver_pid(), 0);

    /* The next spawn starts a new zygote. */
    ck_assert_int_eq(spawn("forkserver", "exit3", NULL, &p), 0);
    ck_assert_int_ne(axle__forkserver_pid(), z);
    ck_assert_int_eq(axle__proc_wait(&p), 0);
    ck_assert_int_eq(p.exit_code, 3);
    axle__proc_release(&p);
    return 0;
}

START_TEST(test_forkserver_death_is_reported_not_waited_on)
{
    ck_assert_int_eq(run_test(zygote_dies_main, NULL), 0);
}
END_TEST

static int clean_fds_main(void *arg)
{
    axle__proc p;
    ck_assert_int_eq(spawn(arg, "fds", NULL, &p), 0);
    ck_assert_int_eq(axle__proc_wait(&p), 0);
    ck_assert_int_eq(p.exit_code, 1); /* the crash channel, nothing else */
    axle__proc_release(&p);
    return 0;
}

START_TEST(test_exec_and_zygote_children_start_with_clean_fds)
{
    ck_assert_int_eq(run_test(clean_fds_main, (void *)methods[1 + _i]), 0);
}
END_TEST

static int stop_with_children_main(void *arg)
{
    (void)arg;
    axle__proc f, z;
    char line[64];
    ck_assert_int_eq(spawn("forkserver", "sleep", NULL, &z), 0);
    ck_assert_int_eq(spawn("fork", "sleep", NULL, &f), 0); /* holds a copy of our socket... */
    wait_line(&f, line, sizeof line);                      /* ...until its prepare closed it */
    wait_line(&z, line, sizeof line);
    int64_t t0 = axle_now();
    axle__forkserver_stop(); /* the zygote sees EOF at once: no 2 s timeout, no SIGKILL */
    ck_assert_int_lt(axle_now() - t0, 1000000000LL);
    ck_assert_int_eq(axle__forkserver_pid(), 0);
    kill_and_reap(&f);
    kill_and_reap(&z); /* the zygote's actor outlives the zygote: it is ours */
    return 0;
}

START_TEST(test_forkserver_stops_while_children_live)
{
    ck_assert_int_eq(run_test(stop_with_children_main, NULL), 0);
}
END_TEST

/* ---- main ----------------------------------------------------------- */

int main(int argc, char **argv)
{
    /* The exec backend runs this binary with the hidden child arguments. */
    axle__child_args a;
    int rc = axle__child_args_parse(argc, argv, &a);
    if (rc == 1) {
        axle__child_prepare(&a);
        int status = axle__child_main(&a);
        fflush(NULL);
        _exit(status);
    }
    if (rc < 0)
        return 2;

    Suite *s = suite_create("proc");
    TCase *tc = axle_test_tcase("backends", 10);
    tcase_add_loop_test(tc, test_child_exit_status_is_reaped, 0, 3);
    tcase_add_loop_test(tc, test_segv_child_reports_signal_and_backtrace, 0, 3);
    tcase_add_test(tc, test_abort_child_reports_sigabrt);
    tcase_add_test(tc, test_stack_overflow_still_reported_by_fiber_layer);
    tcase_add_test(tc, test_unknown_method_lists_known_ones);
    tcase_add_test(tc, test_spawn_method_resolution);
    tcase_add_test(tc, test_exec_of_missing_program_names_errno);
    tcase_add_loop_test(tc, test_child_receives_its_arguments, 0, 3);
    tcase_add_test(tc, test_child_args_parse);
    tcase_add_loop_test(tc, test_child_runs_its_own_scheduler, 0, 3);
    suite_add_tcase(s, tc);

    tc = axle_test_tcase("lifecycle", 10);
    tcase_add_test(tc, test_wait_is_cancellable);
    tcase_add_test(tc, test_sigterm_ignored_then_sigkill);
    tcase_add_loop_test(tc, test_grandchild_dies_with_its_parent, 0, 3);
    tcase_add_test(tc, test_child_of_a_dead_parent_exits_at_once);
    tcase_add_loop_test(tc, test_child_title_names_actor_and_pid, 0, 3);
    tcase_add_test(tc, test_title_longer_than_argv_uses_environment_block);
    suite_add_tcase(s, tc);

    tc = axle_test_tcase("forkserver", 20);
    tcase_add_test(tc, test_forkserver_serves_many_and_stops_cleanly);
    tcase_add_test(tc, test_forkserver_death_is_reported_not_waited_on);
    tcase_add_test(tc, test_forkserver_stops_while_children_live);
    tcase_add_loop_test(tc, test_exec_and_zygote_children_start_with_clean_fds, 0, 2);
    suite_add_tcase(s, tc);
    return axle_test_main(s);
}
