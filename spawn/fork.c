/*
 * spawn/fork.c — the fork backend (the default and the fastest): the child
 * is a copy of the parent that goes straight into axle__child_prepare and
 * axle__child_main, and never returns into the parent's code.
 *
 * glibc's fork() rather than a raw clone3(CLONE_PIDFD): glibc (and ASan,
 * which intercepts fork to keep its allocator consistent) must see the
 * fork. The pidfd comes from pidfd_open right after it; the child cannot
 * have been reaped in between because only its parent can reap it, and
 * this layer reaps only through pidfds (a SIGCHLD set to SIG_IGN would
 * auto-reap it: then pidfd_open fails and the spawn reports it).
 *
 * What a forked child inherits, and what happens to it (its fork story):
 * - the scheduler and its ring: dropped by axle__sched_forget;
 * - its own crash channel's read end: closed here, before prepare;
 * - the zygote's socket and pidfd: closed by axle__forkserver_forget;
 * - the write end of its parent's crash channel (a grandchild of the
 *   root): closed by axle__child_prepare;
 * - every other fd, CLOEXEC or not: kept. In particular the parent's
 *   listening sockets, peer sockets and the read ends of its other
 *   children's crash channels stay open in the child until whoever owns
 *   them closes them (the actor runtime does, in axle__child_main). Only
 *   the exec backend starts from a clean fd table.
 * - signal handlers and mask: reset to the defaults by prepare (ignored
 *   signals stay ignored, as across exec).
 * - stdio buffers: flushed before the fork, so the child flushes only
 *   what it wrote itself when it exits.
 */
#define _GNU_SOURCE
#include "spawn_int.h"

#include <axle/error.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int axle__spawn_fork(const axle__spawn_req *req, const axle__child_args *args, int crash_rfd,
                     pid_t *pid, int *pidfd)
{
    (void)req;
    axle__stdio_flush();
    pid_t c = fork();
    if (c < 0) {
        int e = errno;
        return AXLE_SET_ERR(-e, "fork: %s%s", strerror(e),
                            e == EAGAIN ? " (process limit reached: RLIMIT_NPROC or pid_max)" : "");
    }
    if (c == 0) {
        close(crash_rfd);
        axle__child_args a = *args;
        axle__child_prepare(&a);
        int status = axle__child_main(&a);
        fflush(NULL);
        _exit(status);
    }
    int fd = axle__pidfd_open(c);
    if (fd < 0) {
        /* Leave nothing behind: the child has no supervisor without its pidfd. */
        kill(c, SIGKILL);
        while (waitpid(c, NULL, 0) < 0 && errno == EINTR)
            ;
        return AXLE_SET_ERR(fd, "pidfd_open(child %d): %s", (int)c, strerror(-fd));
    }
    *pid = c;
    *pidfd = fd;
    return 0;
}
