/*
 * spawn/forkserver.c — the forkserver backend: a zygote process, forked
 * early from the root, that makes actors on request.
 *
 * Why: forking a small, quiet process is cheaper than forking a big busy
 * one (fewer page tables to copy, no threads or rings to drop), and every
 * actor starts from the same clean state: the zygote keeps only stdio and
 * its socket (close_range at start), so its actors inherit no fd of the
 * root's at all.
 *
 * Protocol: a SOCK_SEQPACKET socketpair; one request record (struct
 * fs_req: the axle__child_args as bytes, the same binary on both sides)
 * carrying the crash channel's write end as SCM_RIGHTS; one reply record
 * (struct fs_rep: errno, pid). The round trip is a short blocking
 * exchange on the calling thread (no checkpoint, nothing else of the
 * scheduler runs meanwhile: requests never interleave); the zygote's side
 * is one clone3, so it takes well under a millisecond. It is bounded all the same: a reply must
 * come within FS_REPLY_MS, and EOF, EPIPE or the timeout mean the zygote is gone: it is killed if
 * need be, reaped, and the spawn fails with -ECHILD and a message saying how the zygote ended; the
 * next spawn starts a new one.
 *
 * The actors are the root's own children, not the zygote's: the zygote
 * creates them with clone3(CLONE_PARENT), so the root reaps them by pidfd
 * like any other child, SIGCHLD goes to the root, and PR_SET_PDEATHSIG
 * ties them to the root. The root opens the pidfd itself (pidfd_open of
 * the pid in the reply): the actor is its child, so nobody else can reap
 * it first, zombie or not. Checked on Linux 6.18: clone3 refuses
 * CLONE_PARENT with a non-zero exit_signal (EINVAL, clone3_args_valid in
 * kernel/fork.c); with exit_signal 0 the child inherits the zygote's own,
 * SIGCHLD. CLONE_PIDFD works together with CLONE_PARENT, and such a pidfd
 * passed to the root serves waitid P_PIDFD there; it is not used because
 * the zygote could only close its copy after sending it, so for a moment
 * after every reply it would hold an fd that is not its own. As it is,
 * once the root has a reply the zygote holds stdio and its socket,
 * nothing else (the crash fd it received is closed before it replies).
 *
 * clone3 is a raw syscall, so glibc does not see this fork: the child's
 * cached thread id (which glibc keeps in its thread descriptor) would
 * still be the zygote's. CLONE_CHILD_SETTID on the address glibc
 * registered with set_tid_address (read back with PR_GET_TID_ADDRESS) puts
 * the right one there, as glibc's own fork does. The zygote is single
 * threaded, so no lock can be held across the clone.
 *
 * The zygote dies with the root (PR_SET_PDEATHSIG(SIGKILL), set before
 * checking that the root is still its parent) and exits when its socket
 * reaches EOF (axle__forkserver_stop closes the root's end).
 *
 * Fork story of Z: it belongs to the process that started the zygote.
 * A child of any backend forgets it (axle__forkserver_forget, from
 * axle__child_prepare): it closes the inherited socket and pidfd, so the
 * zygote still sees EOF when the root stops it, and a child that wants a
 * forkserver starts its own (the zygote makes siblings of its starter, so
 * it cannot serve anyone else). The zygote runs the same fork stories
 * (axle__child_forget) before close_range closes everything else.
 */
#define _GNU_SOURCE
#include "spawn_int.h"

#include "../shm/fdpass.h"

#include <axle/error.h>
#include <axle/log.h>
#include <axle/task.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define FS_MAGIC 0x61786673u /* "axfs" */
#define FS_REPLY_MS 5000     /* a reply later than this means the zygote is stuck */
#define FS_STOP_MS 2000      /* stop: how long the zygote gets to exit on EOF */

/* One request: the child's arguments; the crash fd travels as SCM_RIGHTS. */
struct fs_req {
    uint32_t magic;        /* FS_MAGIC */
    uint32_t size;         /* sizeof(struct fs_req): both sides are one binary */
    axle__child_args args; /* args.crash_fd is ignored: see the SCM_RIGHTS fd */
};

/* One reply, no fd. */
struct fs_rep {
    int32_t err; /* 0, or the errno of the failed clone3 / a bad request */
    int32_t pid; /* the new actor (the root's child), or 0 */
};

/* The zygote, as its starter sees it. Fork story: in the design note. */
static struct {
    pid_t pid; /* the zygote, or 0 when none runs */
    int pidfd; /* its pidfd (owned), or -1 */
    int sock;  /* our end of the request socket (owned), or -1 */
} Z = {0, -1, -1};

/* ---- the zygote ------------------------------------------------------- */

/* clone3 for a sibling of the zygote (a child of the root); as fork. */
static pid_t clone_sibling(int *tid_addr)
{
    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.flags = CLONE_PARENT;
    if (tid_addr)
        ca.flags |= CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID;
    ca.child_tid = (uint64_t)(uintptr_t)tid_addr;
    ca.exit_signal = 0; /* required with CLONE_PARENT; the zygote's SIGCHLD applies */
    return (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
}

/* The highest fd open in this process right now, or -1. */
static int highest_fd(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int hi = -1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && atoi(e->d_name) > hi && atoi(e->d_name) != dirfd(d))
            hi = atoi(e->d_name);
    closedir(d);
    return hi;
}

__attribute__((noreturn)) static void zygote_main(int sock, pid_t root)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != root)
        _exit(0); /* the root died before the line above */
    /* The root's fork stories, then nothing but stdio and the socket. */
    axle__child_forget();
    /*
     * ^C reaches the whole foreground process group; the root decides what
     * it means, and its children already ignore it (the actor runtime
     * sets that), so the zygote, whose actors inherit this, does too.
     */
    signal(SIGINT, SIG_IGN);
    /*
     * The zygote's memory is a snapshot of the starter's, fd numbers
     * included: a layer above may close the numbers it remembers when its
     * actor starts (the actor runtime's forget-parent does). Whatever the
     * zygote hands an actor is therefore numbered above every fd the
     * starter had, so no stale number can name it.
     */
    int fd_floor = highest_fd();
    if (sock > 3)
        syscall(SYS_close_range, 3u, (unsigned)sock - 1, 0u);
    syscall(SYS_close_range, (unsigned)sock + 1, ~0u, 0u);
    char title[48];
    snprintf(title, sizeof title, "axle[forkserver@%d]", (int)getpid());
    axle__proc_set_title(title);
    axle_log_set_name("forkserver");

    int *tid_addr = NULL;
    if (prctl(PR_GET_TID_ADDRESS, &tid_addr) < 0)
        tid_addr = NULL; /* no CONFIG_CHECKPOINT_RESTORE: the child's glibc keeps our tid
                          * (raise and abort ask the kernel; only PI mutexes would care) */

    for (;;) {
        struct fs_req r;
        int crash = -1;
        ssize_t n = axle__fd_recv(sock, &r, sizeof r, &crash);
        if (n == 0)
            _exit(0); /* the root stopped us (or died) */
        if (n < 0 && n != -EPROTO)
            _exit(1);
        if (crash >= 0 && crash <= fd_floor) {
            int moved = fcntl(crash, F_DUPFD_CLOEXEC, fd_floor + 1);
            if (moved >= 0) {
                close(crash);
                crash = moved;
            }
        }
        struct fs_rep rep = {0, 0};
        if (n < 0 || r.magic != FS_MAGIC || r.size != sizeof r) {
            rep.err = EPROTO;
        } else {
            pid_t c = clone_sibling(tid_addr);
            if (c == 0) {
                close(sock);
                r.args.crash_fd = crash;
                axle__child_prepare(&r.args);
                int status = axle__child_main(&r.args);
                fflush(NULL);
                _exit(status);
            }
            if (c < 0)
                rep.err = errno;
            else
                rep.pid = c;
        }
        if (crash >= 0)
            close(crash);
        if (axle__fd_send(sock, &rep, sizeof rep, -1) < 0)
            _exit(0); /* the root is gone; its children die with it (PDEATHSIG) */
    }
}

/* ---- the root's side -------------------------------------------------- */

/* Reap the zygote (after SIGKILL when kill is set) and forget it. */
static void zygote_reap(bool kill, char *how, size_t len)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (kill)
        syscall(SYS_pidfd_send_signal, Z.pidfd, SIGKILL, NULL, 0);
    int r;
    do
        r = waitid((idtype_t)P_PIDFD, (id_t)Z.pidfd, &si, WEXITED);
    while (r < 0 && errno == EINTR);
    if (how) {
        axle__proc p = {.pid = Z.pid, .pidfd = -1, .crash_fd = -1, .exited = r == 0};
        p.exit_code = si.si_code == CLD_EXITED ? si.si_status : -1;
        p.signal = si.si_code == CLD_EXITED ? 0 : si.si_status;
        p.core_dumped = si.si_code == CLD_DUMPED;
        axle__proc_describe(&p, how, len);
    }
    close(Z.pidfd);
    if (Z.sock >= 0)
        close(Z.sock);
    Z.pid = 0, Z.pidfd = -1, Z.sock = -1;
}

/* The zygote stopped answering: make sure it is gone, reap it, say how. */
static int zygote_lost(const char *why, int err)
{
    pid_t pid = Z.pid;
    char how[96];
    zygote_reap(true, how, sizeof how);
    return AXLE_SET_ERR(-ECHILD,
                        "forkserver zygote (pid %d) is gone: %s%s%s; it ended with %s; "
                        "the next spawn starts a new one",
                        (int)pid, why, err ? ": " : "", err ? strerror(err) : "", how);
}

int axle__forkserver_start(void)
{
    if (Z.pid)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        int e = errno;
        return AXLE_SET_ERR(-e, "forkserver: socketpair: %s", strerror(e));
    }
    pid_t root = getpid();
    axle__stdio_flush();
    pid_t z = fork();
    if (z < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return AXLE_SET_ERR(-e, "forkserver: fork: %s", strerror(e));
    }
    if (z == 0)
        zygote_main(sv[1], root);
    close(sv[1]);
    int fd = axle__pidfd_open(z);
    if (fd < 0) {
        close(sv[0]);
        kill(z, SIGKILL);
        while (waitpid(z, NULL, 0) < 0 && errno == EINTR)
            ;
        return AXLE_SET_ERR(fd, "forkserver: pidfd_open(%d): %s", (int)z, strerror(-fd));
    }
    Z.pid = z, Z.pidfd = fd, Z.sock = sv[0];
    axle_log_runtime("forkserver zygote started: pid %d", (int)z);
    return 0;
}

void axle__forkserver_stop(void)
{
    if (!Z.pid)
        return;
    close(Z.sock); /* EOF: the zygote exits */
    Z.sock = -1;
    struct pollfd pf = {.fd = Z.pidfd, .events = POLLIN};
    int r;
    do
        r = poll(&pf, 1, FS_STOP_MS);
    while (r < 0 && errno == EINTR);
    zygote_reap(r <= 0, NULL, 0);
}

void axle__forkserver_forget(void)
{
    if (Z.sock >= 0)
        close(Z.sock);
    if (Z.pidfd >= 0)
        close(Z.pidfd);
    Z.pid = 0, Z.pidfd = -1, Z.sock = -1;
}

pid_t axle__forkserver_pid(void) { return Z.pid; }

int axle__spawn_forkserver(const axle__spawn_req *req, const axle__child_args *args, int crash_rfd,
                           pid_t *pid, int *pidfd)
{
    (void)req, (void)crash_rfd; /* the zygote was forked before that fd existed */
    int rc = axle__forkserver_start();
    if (rc < 0)
        return AXLE_ERR_FRAME(rc);
    struct fs_req r;
    memset(&r, 0, sizeof r);
    r.magic = FS_MAGIC;
    r.size = sizeof r;
    r.args = *args;
    r.args.crash_fd = -1;
    r.args.conn_fd = -1; /* an fd number of ours means nothing in the zygote */
    rc = axle__fd_send(Z.sock, &r, sizeof r, args->crash_fd);
    if (rc < 0)
        return zygote_lost("sending the request failed", -rc);

    struct pollfd pf = {.fd = Z.sock, .events = POLLIN};
    int64_t deadline = axle_now() + (int64_t)FS_REPLY_MS * 1000000;
    int pr;
    for (;;) {
        int64_t left = deadline - axle_now();
        pr = poll(&pf, 1, left > 0 ? (int)(left / 1000000) + 1 : 0);
        if (pr >= 0 || errno != EINTR)
            break;
    }
    if (pr == 0)
        return zygote_lost("no reply within 5 s", 0);
    if (pr < 0)
        return zygote_lost("poll", errno);
    struct fs_rep rep;
    int fd = -1;
    ssize_t n = axle__fd_recv(Z.sock, &rep, sizeof rep, &fd);
    if (n == 0)
        return zygote_lost("it closed the connection", 0);
    if (n < 0)
        return zygote_lost("bad reply", (int)-n);
    if (fd >= 0)
        close(fd); /* none is sent */
    if (rep.err)
        return AXLE_SET_ERR(-rep.err, "forkserver: clone3 in the zygote: %s%s", strerror(rep.err),
                            rep.err == EAGAIN ? " (process limit reached: RLIMIT_NPROC or pid_max)"
                                              : "");
    /* Our child (CLONE_PARENT): nobody else can reap it before this. */
    fd = axle__pidfd_open(rep.pid);
    if (fd < 0) {
        kill(rep.pid, SIGKILL);
        while (waitpid(rep.pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return AXLE_SET_ERR(fd, "forkserver: pidfd_open(child %d): %s", (int)rep.pid,
                            strerror(-fd));
    }
    *pid = rep.pid;
    *pidfd = fd;
    return 0;
}
