/*
 * spawn/child.c — the first thing every new actor process runs, whatever
 * the backend (fork, exec'd image, zygote clone), and its crash handler.
 *
 * axle__child_prepare, in this order:
 * 1. the fork stories (axle__child_forget): drop the inherited scheduler
 *    (axle__sched_forget: unmaps the parent's ring, leaves it working) and
 *    its stack-overflow handler, forget the parent's zygote, close the
 *    parent's own crash channel, put signal handlers back to the default
 *    and empty the signal mask, so a forked child starts like an exec'd
 *    one (ignored signals stay ignored, as across execve);
 * 2. PR_SET_PDEATHSIG(SIGKILL), then getppid() == a->parent_pid, in that
 *    order: if the parent died before the prctl the check sees it, if it
 *    dies after, the kernel kills us. A child that finds its parent gone
 *    kills itself with SIGKILL, exactly what the death signal would have
 *    done;
 * 3. the crash handler, on its own alternate signal stack;
 * 4. the process title axle[<name>@<pid>], the log name and level.
 *
 * The crash handler catches SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT,
 * writes "killed by SIGSEGV at 0x10 (address not mapped)", "program:
 * <path>", "backtrace:" and the raw frames (axle__backtrace_fd) to the
 * crash channel, then puts
 * the default action back and re-raises, so the exit status still says
 * which signal killed the process (and dumps core if that is enabled). It
 * must be installed before axle_run, whose stack-overflow reporter
 * (core/fiber.c) saves the handler it finds and hands every fault that is
 * not a guard-page hit back to it: overflows get fiber.c's report, every
 * other fault gets this one.
 */
#define _GNU_SOURCE
#include "spawn_int.h"

#include "../core/backtrace.h"
#include "../core/fiber.h"

#include <axle/log.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define ALT_STACK_SIZE (64 * 1024)

/*
 * Where this process's crash report goes: the write end of its crash
 * channel, or -1 (a root). Fork story: a child closes its parent's
 * (axle__child_forget) and sets its own.
 */
static int crash_fd = -1;

/*
 * The crash handler's signal stack, mapped once per process image. Fork
 * story: a forked child's copy of the mapping is its own, so it reuses it.
 */
static void *alt_stack;

/*
 * This program's path, read before the title is set: glibc names the main
 * program in backtraces by argv[0] (dladdr falls back to _dl_argv[0]),
 * which the title overwrites, so the report says which file the
 * "(+0x...)" offsets belong to. Fork story: same image, same path; an
 * exec'd image reads its own.
 */
static char exe_path[256];

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

/* ---- the crash handler (async-signal-safe only) ------------------------ */

static size_t put_str(char *buf, size_t off, size_t cap, const char *s)
{
    while (*s && off < cap)
        buf[off++] = *s++;
    return off;
}

static size_t put_num(char *buf, size_t off, size_t cap, uintptr_t v, unsigned base)
{
    char tmp[24];
    int i = 0;
    do
        tmp[i++] = "0123456789abcdef"[v % base];
    while ((v /= base));
    while (i && off < cap)
        buf[off++] = tmp[--i];
    return off;
}

static const char *fault_kind(int sig, int code)
{
    if (sig == SIGSEGV && code == SEGV_MAPERR)
        return " (address not mapped)";
    if (sig == SIGSEGV && code == SEGV_ACCERR)
        return " (invalid permissions)";
    if (sig == SIGBUS && code == BUS_ADRERR)
        return " (no such physical address: a truncated file mapping?)";
    if (sig == SIGBUS && code == BUS_ADRALN)
        return " (misaligned address)";
    if (sig == SIGFPE && code == FPE_INTDIV)
        return " (integer divide by zero)";
    if (sig == SIGILL && code == ILL_ILLOPC)
        return " (illegal opcode)";
    return "";
}

static void on_crash(int sig, siginfo_t *si, void *uctx)
{
    (void)uctx;
    int saved_errno = errno;
    char buf[sizeof exe_path + 64];
    size_t n = 0, cap = sizeof buf;
    const char *abbrev = sigabbrev_np(sig);
    n = put_str(buf, n, cap, "killed by SIG");
    n = put_str(buf, n, cap, abbrev ? abbrev : "?");
    if (si->si_code > 0) { /* raised by the kernel: a fault */
        n = put_str(buf, n, cap, " at 0x");
        n = put_num(buf, n, cap, (uintptr_t)si->si_addr, 16);
        n = put_str(buf, n, cap, fault_kind(sig, si->si_code));
    } else if (si->si_pid != getpid()) {
        n = put_str(buf, n, cap, " (sent by pid ");
        n = put_num(buf, n, cap, (uintptr_t)si->si_pid, 10);
        n = put_str(buf, n, cap, ")");
    }
    n = put_str(buf, n, cap, "\n");
    int fd = crash_fd >= 0 ? crash_fd : 2;
    (void)!write(fd, buf, n); /* SIGPIPE is blocked while we run */
    if (exe_path[0]) {
        n = put_str(buf, 0, cap, "program: ");
        n = put_str(buf, n, cap, exe_path);
        n = put_str(buf, n, cap, "\n");
        (void)!write(fd, buf, n);
    }
    (void)!write(fd, "backtrace:\n", 11);
    axle__backtrace_fd(fd);

    /* Die by the same signal: it is blocked until we return, then delivered. */
    signal(sig, SIG_DFL);
    raise(sig);
    errno = saved_errno;
}

/* What every child's preparation needs from the system, looked up once. */
static void crash_handler_lookups(void)
{
    if (!alt_stack) {
        void *m = mmap(NULL, ALT_STACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (m != MAP_FAILED)
            alt_stack = m;
    }
    if (!exe_path[0]) {
        ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
        exe_path[n > 0 ? n : 0] = 0;
    }
}

void axle__spawn_warm(void)
{
    crash_handler_lookups();
    axle__proc_title_probe();
    axle__backtrace_init();
}

static void crash_handler_install(void)
{
    crash_handler_lookups();
    if (alt_stack) {
        stack_t ss = {.ss_sp = alt_stack, .ss_size = ALT_STACK_SIZE, .ss_flags = 0};
        sigaltstack(&ss, NULL);
    }
    axle__backtrace_init(); /* so the handler neither allocates nor dlopens */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_crash;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGPIPE); /* a closed crash channel must not kill us first */
    for (size_t i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++)
        sigaddset(&sa.sa_mask, crash_signals[i]); /* a fault in here: default action */
    for (size_t i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++)
        sigaction(crash_signals[i], &sa, NULL);
}

/* ---- preparing a child ------------------------------------------------ */

static void signals_reset(void)
{
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction old;
        if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &old) < 0)
            continue;
        if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)
            signal(sig, SIG_DFL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

void axle__child_forget(void)
{
    axle__sched_forget();
    axle__overflow_handler_remove();
    axle__forkserver_forget();
    if (crash_fd >= 0)
        close(crash_fd);
    crash_fd = -1;
    signals_reset();
}

void axle__child_prepare(axle__child_args *a)
{
    axle__child_forget();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != a->parent_pid) {
        /* Orphaned before the line above: do what the death signal would. */
        kill(getpid(), SIGKILL);
        _exit(1);
    }
    a->uid.pid = getpid();
    if (a->crash_fd >= 0 && fcntl(a->crash_fd, F_SETFD, FD_CLOEXEC) < 0)
        a->crash_fd = -1; /* a bad crashfd= from an exec'd command line */
    crash_fd = a->crash_fd;
    crash_handler_install();

    char title[96];
    snprintf(title, sizeof title, "axle[%s@%d]", a->uid.name, (int)a->uid.pid);
    axle__proc_set_title(title);
    if (a->uid.name[0])
        axle_log_set_name(a->uid.name);
    if (a->loglevel[0] && axle_log_set_level(a->loglevel) < 0)
        axle_log_warning("ignoring the log level \"%s\" from the parent: not a level", a->loglevel);
}
