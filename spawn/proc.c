/*
 * spawn/proc.c — a child process as its parent sees it: the backend table,
 * the crash channel, reaping by pidfd on the io_uring loop, signals, and
 * the one-line account of how a child ended.
 *
 * What it guarantees:
 * - One table names every backend; an unknown name fails with -EINVAL and
 *   a rich error that lists the known ones, built from the same table.
 * - Every child gets a crash channel: a Unix stream socketpair whose read
 *   end the parent keeps in axle__proc.crash_fd and whose write end the
 *   child's crash handler writes its report to. A socket, not a pipe, for
 *   two reasons: describe reads it with MSG_PEEK, so describing a child
 *   twice says the same thing twice; and both ends are non-blocking, so a
 *   crashing child never waits for its parent to read.
 * - A child is reaped only through its pidfd (waitid P_PIDFD), never with
 *   waitpid(-1), so reaping one child never steals another's status.
 *   axle__proc_wait parks on axle_poll(pidfd, POLLIN), which the kernel
 *   completes when the child exits; a cancelled wait leaves the child
 *   unreaped and waitable again.
 */
#define _GNU_SOURCE
#include "spawn_int.h"

#include <axle/error.h>
#include <axle/shm.h>
#include <axle/task.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
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

/* The backends, in the order the "known methods" message lists them. */
static const struct backend {
    const char *name;     /* what req->method and $AXLE_SPAWN_METHOD say */
    axle__spawn_fn spawn; /* how it starts a child */
} backends[] = {
    {"fork", axle__spawn_fork},
    {"exec", axle__spawn_exec},
    {"forkserver", axle__spawn_forkserver},
};
#define NBACKENDS (sizeof backends / sizeof backends[0])

int axle__pidfd_open(pid_t pid)
{
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd;
}

void axle__stdio_flush(void) { fflush(NULL); }

const char *axle__spawn_method(const char *method)
{
    if (method && method[0])
        return method;
    const char *env = getenv("AXLE_SPAWN_METHOD");
    return env && env[0] ? env : "fork";
}

static int unknown_method(const char *m, bool from_env)
{
    char known[64] = "";
    size_t off = 0;
    for (size_t i = 0; i < NBACKENDS; i++)
        off += (size_t)snprintf(known + off, sizeof known - off, "%s%s", i ? ", " : "",
                                backends[i].name);
    return AXLE_SET_ERR(-EINVAL, "unknown spawn method \"%s\"%s; known methods: %s", m,
                        from_env ? " (from $AXLE_SPAWN_METHOD)" : "", known);
}

int axle__proc_spawn(const axle__spawn_req *req, axle__proc *out)
{
    *out = (axle__proc){.pid = 0, .pidfd = -1, .crash_fd = -1, .exit_code = -1};
    const char *m = axle__spawn_method(req->method);
    const struct backend *b = NULL;
    for (size_t i = 0; i < NBACKENDS && !b; i++)
        if (strcmp(backends[i].name, m) == 0)
            b = &backends[i];
    if (!b)
        return unknown_method(m, !(req->method && req->method[0]));

    int cv[2]; /* cv[0]: ours, to read; cv[1]: the child's, to write */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, cv) < 0) {
        int e = errno;
        return AXLE_SET_ERR(-e, "spawn: crash channel: socketpair: %s", strerror(e));
    }
    axle__child_args args = req->args;
    args.crash_fd = cv[1];
    args.parent_pid = getpid();
    pid_t pid = 0;
    int pidfd = -1;
    int rc = b->spawn(req, &args, cv[0], &pid, &pidfd);
    close(cv[1]); /* the child has its own copy (or the zygote passed it on) */
    if (rc < 0) {
        close(cv[0]);
        return AXLE_ERR_FRAME(rc);
    }
    out->pid = pid;
    out->pidfd = pidfd;
    out->crash_fd = cv[0];
    return 0;
}

/* ---- reaping ---------------------------------------------------------- */

/* waitid on the pidfd with extra flags; 1 reaped, 0 not yet, or -errno. */
static int reap(axle__proc *p, int flags)
{
    if (p->exited)
        return 1;
    if (p->pidfd < 0)
        return AXLE_SET_ERR(-EBADF, "child %d: already released", (int)p->pid);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r;
    do
        r = waitid((idtype_t)P_PIDFD, (id_t)p->pidfd, &si, WEXITED | flags);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        int e = errno;
        if (e == ECHILD)
            return AXLE_SET_ERR(-ECHILD,
                                "child %d was reaped by someone else (waitpid(-1)? SIGCHLD "
                                "ignored?): its exit status is lost",
                                (int)p->pid);
        return AXLE_SET_ERR(-e, "waitid(child %d): %s", (int)p->pid, strerror(e));
    }
    if (si.si_pid == 0)
        return 0; /* WNOHANG and still running */
    p->exited = true;
    axle_shm_unlink_owned(p->pid); /* what it created dies with it, even under SIGKILL */
    if (si.si_code == CLD_EXITED) {
        p->exit_code = si.si_status;
        p->signal = 0;
        p->core_dumped = false;
    } else {
        p->exit_code = -1;
        p->signal = si.si_status;
        p->core_dumped = si.si_code == CLD_DUMPED;
    }
    return 1;
}

int axle__proc_wait(axle__proc *p)
{
    int rc = axle_checkpoint_if_cancelled();
    if (rc < 0)
        return rc;
    for (;;) {
        rc = reap(p, WNOHANG);
        if (rc != 0)
            return rc < 0 ? AXLE_ERR_FRAME(rc) : 0;
        /* Readable once the child has exited; a cancel leaves it unreaped. */
        rc = axle_poll(p->pidfd, POLLIN);
        if (rc < 0)
            return rc;
    }
}

int axle__proc_try_wait(axle__proc *p)
{
    int rc = reap(p, WNOHANG);
    return rc < 0 ? AXLE_ERR_FRAME(rc) : rc;
}

int axle__proc_signal(axle__proc *p, int sig)
{
    if (p->exited || p->pidfd < 0)
        return -ESRCH; /* reaped: the pid may already be someone else's */
    if (syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) < 0)
        return -errno;
    return 0;
}

/* ---- describe --------------------------------------------------------- */

static void status_text(const axle__proc *p, char *buf, size_t len)
{
    if (!p->exited) {
        snprintf(buf, len, "still running");
    } else if (p->signal == 0) {
        snprintf(buf, len, "exit status %d", p->exit_code);
    } else {
        const char *abbrev = sigabbrev_np(p->signal);
        if (abbrev)
            snprintf(buf, len, "killed by SIG%s", abbrev);
        else
            snprintf(buf, len, "killed by signal %d", p->signal);
    }
}

/*
 * The crash report, peeked (not consumed) from the crash channel: at most
 * cap bytes, trailing newlines dropped. Returns owned text, or NULL when
 * the child wrote nothing.
 */
static char *peek_report(const axle__proc *p, size_t cap)
{
    if (p->crash_fd < 0 || cap == 0)
        return NULL;
    if (cap > 64 * 1024)
        cap = 64 * 1024;
    char *buf = malloc(cap + 1);
    if (!buf)
        return NULL;
    ssize_t n;
    do
        n = recv(p->crash_fd, buf, cap, MSG_PEEK | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    while (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n <= 0) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    /* The exec backend's record: AXLE__EXEC_FAIL_TAG "<errno>:<path>". */
    size_t tl = strlen(AXLE__EXEC_FAIL_TAG);
    if ((size_t)n > tl && memcmp(buf, AXLE__EXEC_FAIL_TAG, tl) == 0) {
        char *end;
        long e = strtol(buf + tl, &end, 10);
        if (*end == ':') {
            char *text = NULL;
            if (asprintf(&text, "exec %s failed: %s", end + 1, strerror((int)e)) < 0)
                text = NULL;
            free(buf);
            return text;
        }
    }
    return buf;
}

int axle__proc_describe(axle__proc *p, char *buf, size_t len)
{
    char status[64];
    status_text(p, status, sizeof status);
    const char *core = p->exited && p->core_dumped ? " (core dumped)" : "";
    char *report = peek_report(p, len);
    int n;
    if (!report) {
        n = snprintf(buf, len, "%s%s", status, core);
    } else {
        size_t sl = strlen(status);
        char *nl = strchr(report, '\n');
        if (p->exited && p->signal && strncmp(report, status, sl) == 0 &&
            (report[sl] == ' ' || report[sl] == '\n' || report[sl] == 0)) {
            /* The child's own first line says more ("... at 0x10"): use it. */
            int first = nl ? (int)(nl - report) : (int)strlen(report);
            n = snprintf(buf, len, "%.*s%s%s", first, report, core, nl ? nl : "");
        } else if (!nl) {
            n = snprintf(buf, len, "%s (%s%s)", report, status, core);
        } else {
            n = snprintf(buf, len, "%s%s\n%s", status, core, report);
        }
        free(report);
    }
    return n;
}

void axle__proc_release(axle__proc *p)
{
    if (p->pidfd >= 0)
        close(p->pidfd);
    if (p->crash_fd >= 0)
        close(p->crash_fd);
    p->pidfd = -1;
    p->crash_fd = -1;
}
