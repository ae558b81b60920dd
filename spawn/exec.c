/*
 * spawn/exec.c — the exec backend: fork, then execve this program
 * (/proc/self/exe) or another one built with axle, with hidden child
 * arguments. A clean address space and a clean fd table, and the way a
 * different binary joins a tree.
 *
 * The hidden arguments, each one argv element (values may hold anything
 * but NUL, so no quoting is needed):
 *     argv0 --axle-child name=<name> uuid=<32 hex> parent=<multiaddr>
 *           loglevel=<level> ppid=<parent pid> crashfd=<fd>
 * The exec'd program's main (axle_main) hands argv to
 * axle__child_args_parse, then runs axle__child_prepare and
 * axle__child_main.
 *
 * Between fork and execve the child runs only async-signal-safe calls
 * (the parent may have threads): everything it needs, argv included, is
 * built before the fork. It keeps exactly stdin, stdout, stderr and the
 * crash channel's write end across the exec (every other fd is marked
 * CLOEXEC with close_range), with an empty signal mask. When execve fails
 * it writes an AXLE__EXEC_FAIL_TAG record (errno and path) to the crash
 * channel and exits with status 127, so the parent's describe reads
 * "exec <path> failed: <reason> (exit status 127)".
 *
 * Fork story: as the fork backend's, until execve replaces everything.
 */
#define _GNU_SOURCE
#include "spawn_int.h"

#include <axle/error.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define CHILD_FLAG "--axle-child"

/* The hidden argv, built in the parent before the fork. */
struct exec_argv {
    char argv0[PATH_MAX]; /* what ps shows until the title is set */
    char name[8 + sizeof(((axle_uid *)0)->name)];
    char uuid[8 + 33];
    char parent[8 + AXLE_ADDR_STRLEN];
    char loglevel[16 + sizeof(((axle__child_args *)0)->loglevel)];
    char ppid[32];
    char crashfd[32];
    char *argv[10]; /* pointers into the strings above, NULL-terminated */
};

static void build_argv(struct exec_argv *x, const char *exe, const axle__child_args *a)
{
    if (exe) {
        snprintf(x->argv0, sizeof x->argv0, "%s", exe);
    } else {
        /* The real path, not "/proc/self/exe", and not our argv[0]: a title may cover it. */
        ssize_t n = readlink("/proc/self/exe", x->argv0, sizeof x->argv0 - 1);
        if (n > 0)
            x->argv0[n] = 0;
        else
            snprintf(x->argv0, sizeof x->argv0, "axle-child");
    }
    snprintf(x->name, sizeof x->name, "name=%s", a->uid.name);
    char hex[33];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", a->uid.uuid[i]);
    snprintf(x->uuid, sizeof x->uuid, "uuid=%s", hex);
    snprintf(x->parent, sizeof x->parent, "parent=%s", a->parent_addr);
    snprintf(x->loglevel, sizeof x->loglevel, "loglevel=%s", a->loglevel);
    snprintf(x->ppid, sizeof x->ppid, "ppid=%d", (int)a->parent_pid);
    snprintf(x->crashfd, sizeof x->crashfd, "crashfd=%d", a->crash_fd);
    char **v = x->argv;
    *v++ = x->argv0;
    *v++ = (char *)CHILD_FLAG;
    *v++ = x->name;
    *v++ = x->uuid;
    *v++ = x->parent;
    *v++ = x->loglevel;
    *v++ = x->ppid;
    *v++ = x->crashfd;
    *v = NULL;
}

/* Decimal, async-signal-safe. Returns the length written (no NUL). */
static size_t put_int(char *buf, int v)
{
    char tmp[16];
    size_t i = 0, n = 0;
    unsigned u = v < 0 ? 0u - (unsigned)v : (unsigned)v;
    do
        tmp[i++] = (char)('0' + u % 10);
    while ((u /= 10));
    if (v < 0)
        buf[n++] = '-';
    while (i)
        buf[n++] = tmp[--i];
    return n;
}

/* In the forked child: never returns. */
__attribute__((noreturn)) static void exec_child(const char *path, struct exec_argv *x,
                                                 int crash_fd, int crash_rfd)
{
    close(crash_rfd);
    fcntl(crash_fd, F_SETFD, 0); /* the one fd besides stdio that crosses the exec */
    if (crash_fd > 3)
        syscall(SYS_close_range, 3u, (unsigned)crash_fd - 1, CLOSE_RANGE_CLOEXEC);
    syscall(SYS_close_range, crash_fd >= 3 ? (unsigned)crash_fd + 1 : 3u, ~0u, CLOSE_RANGE_CLOEXEC);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    execve(path, x->argv, environ);

    int e = errno;
    char rec[sizeof AXLE__EXEC_FAIL_TAG + 16 + PATH_MAX + 2];
    size_t n = sizeof AXLE__EXEC_FAIL_TAG - 1;
    memcpy(rec, AXLE__EXEC_FAIL_TAG, n);
    n += put_int(rec + n, e);
    rec[n++] = ':';
    size_t pl = strnlen(path, PATH_MAX);
    memcpy(rec + n, path, pl);
    n += pl;
    rec[n++] = '\n';
    (void)!send(crash_fd, rec, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    _exit(AXLE__EXEC_FAIL_STATUS);
}

int axle__spawn_exec(const axle__spawn_req *req, const axle__child_args *args, int crash_rfd,
                     pid_t *pid, int *pidfd)
{
    const char *path = req->exe ? req->exe : "/proc/self/exe";
    if (strlen(path) >= PATH_MAX)
        return AXLE_SET_ERR(-ENAMETOOLONG, "exec: program path longer than PATH_MAX: %.64s...",
                            path);
    struct exec_argv *x = malloc(sizeof *x); /* off the (fiber) stack: it is large */
    if (!x)
        return AXLE_SET_ERR(-ENOMEM, "exec: no memory for the child's argv");
    build_argv(x, req->exe, args);
    axle__stdio_flush();
    pid_t c = fork();
    if (c < 0) {
        int e = errno;
        free(x);
        return AXLE_SET_ERR(-e, "fork (for exec %s): %s%s", path, strerror(e),
                            e == EAGAIN ? " (process limit reached: RLIMIT_NPROC or pid_max)" : "");
    }
    if (c == 0)
        exec_child(path, x, args->crash_fd, crash_rfd);
    free(x);
    int fd = axle__pidfd_open(c);
    if (fd < 0) {
        kill(c, SIGKILL);
        siginfo_t si;
        while (waitid(P_PID, (id_t)c, &si, WEXITED) < 0 && errno == EINTR)
            ;
        return AXLE_SET_ERR(fd, "pidfd_open(child %d): %s", (int)c, strerror(-fd));
    }
    *pid = c;
    *pidfd = fd;
    return 0;
}

/* ---- the child's side ------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A decimal int in [lo, hi]; 0 or -EINVAL. */
static int parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return -EINVAL;
    *out = (int)v;
    return 0;
}

/* Copy v into dst[len]; -EINVAL when it does not fit. */
static int copy_str(char *dst, size_t len, const char *v)
{
    size_t n = strlen(v);
    if (n >= len)
        return -EINVAL;
    memcpy(dst, v, n + 1);
    return 0;
}

int axle__child_args_parse(int argc, char **argv, axle__child_args *a)
{
    if (argc < 2 || !argv[1] || strcmp(argv[1], CHILD_FLAG) != 0)
        return 0;
    memset(a, 0, sizeof *a);
    a->crash_fd = -1;
    a->conn_fd = -1; /* an exec'd child connects to parent_addr */
    bool have_name = false, have_uuid = false, have_ppid = false;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i], *eq = strchr(arg, '=');
        if (!eq)
            return AXLE_SET_ERR(-EINVAL, "%s: argument %d \"%s\" is not key=value", CHILD_FLAG, i,
                                arg);
        size_t kl = (size_t)(eq - arg);
        const char *v = eq + 1;
        int rc = 0;
        if (kl == 4 && memcmp(arg, "name", 4) == 0) {
            rc = copy_str(a->uid.name, sizeof a->uid.name, v);
            have_name = true;
        } else if (kl == 4 && memcmp(arg, "uuid", 4) == 0) {
            rc = strlen(v) == 32 ? 0 : -EINVAL;
            for (int j = 0; j < 16 && rc == 0; j++) {
                int hi = hexval(v[2 * j]), lo = hexval(v[2 * j + 1]);
                if (hi < 0 || lo < 0)
                    rc = -EINVAL;
                else
                    a->uid.uuid[j] = (uint8_t)(hi << 4 | lo);
            }
            have_uuid = true;
        } else if (kl == 6 && memcmp(arg, "parent", 6) == 0) {
            rc = copy_str(a->parent_addr, sizeof a->parent_addr, v);
        } else if (kl == 8 && memcmp(arg, "loglevel", 8) == 0) {
            rc = copy_str(a->loglevel, sizeof a->loglevel, v);
        } else if (kl == 4 && memcmp(arg, "ppid", 4) == 0) {
            int pp;
            rc = parse_int(v, 1, INT_MAX, &pp);
            a->parent_pid = pp;
            have_ppid = true;
        } else if (kl == 7 && memcmp(arg, "crashfd", 7) == 0) {
            rc = parse_int(v, -1, INT_MAX, &a->crash_fd);
        } else {
            return AXLE_SET_ERR(-EINVAL,
                                "%s: unknown key \"%.*s\" (a parent built from another "
                                "version of axle?)",
                                CHILD_FLAG, (int)kl, arg);
        }
        if (rc < 0)
            return AXLE_SET_ERR(-EINVAL, "%s: bad value in \"%s\"", CHILD_FLAG, arg);
    }
    if (!have_name || !have_uuid || !have_ppid)
        return AXLE_SET_ERR(-EINVAL, "%s: missing %s", CHILD_FLAG,
                            !have_name   ? "name="
                            : !have_uuid ? "uuid="
                                         : "ppid=");
    return 1;
}
