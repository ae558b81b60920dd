/*
 * spawn/spawn_int.h — what the files of spawn/ share among themselves:
 * the backend table's entry type, the crash-report wire format, the
 * fork stories that axle__child_prepare runs. Private to spawn/ (and to
 * tests/unit/test_proc.c, which reaches the zygote's pid through it).
 */
#ifndef AXLE_SPAWN_INT_H
#define AXLE_SPAWN_INT_H

#include "proc.h"

/*
 * A backend: start a process that runs axle__child_prepare(args) then
 * _exit(axle__child_main(args)).
 *   args: borrowed; args->crash_fd is the write end of the crash channel
 *     (the caller keeps its copy and closes it after the call).
 *   crash_rfd: the parent's read end; a forked child closes it.
 *   pid, pidfd: receive the child and an owned pidfd (CLOEXEC).
 * Returns: 0. Errors: -errno with a rich error. Leaves no process behind
 *   on failure.
 */
typedef int (*axle__spawn_fn)(const axle__spawn_req *req, const axle__child_args *args,
                              int crash_rfd, pid_t *pid, int *pidfd);

int axle__spawn_fork(const axle__spawn_req *req, const axle__child_args *args, int crash_rfd,
                     pid_t *pid, int *pidfd);
int axle__spawn_exec(const axle__spawn_req *req, const axle__child_args *args, int crash_rfd,
                     pid_t *pid, int *pidfd);
int axle__spawn_forkserver(const axle__spawn_req *req, const axle__child_args *args, int crash_rfd,
                           pid_t *pid, int *pidfd);

/* pidfd_open(2) (glibc 2.36 has no wrapper in every distribution). Returns fd or -errno. */
int axle__pidfd_open(pid_t pid);

/*
 * Flush every stdio output stream before a fork, so that the child's
 * copies of the buffers are empty: what it flushes on its way out
 * (fflush(NULL) before _exit) is only what it wrote itself.
 */
void axle__stdio_flush(void);

/*
 * The exec backend's "exec failed" record, written by the forked child to
 * the crash channel just before _exit(127), with nothing but
 * async-signal-safe calls: AXLE__EXEC_FAIL_TAG "<errno>" ":" "<path>" "\n".
 * axle__proc_describe turns it into "exec <path> failed: <strerror>".
 */
#define AXLE__EXEC_FAIL_TAG "\001axle-exec-failed:"

/* The exit status when an exec fails in the child (the shell's convention). */
#define AXLE__EXEC_FAIL_STATUS 127

/*
 * axle__child_forget — the fork stories of everything under spawn/ and of
 * the scheduler, run first in every new process (by axle__child_prepare,
 * and by the zygote): drop the inherited scheduler and its fault handler,
 * forget the parent's zygote, close the parent's crash channel, reset
 * signal handlers to the default and empty the signal mask (ignored
 * signals stay ignored, as across execve).
 */
void axle__child_forget(void);

/*
 * Fork stories, run by axle__child_forget in every new child:
 * a child neither uses nor keeps its parent's zygote (the zygote makes
 * children for the process that started it: CLONE_PARENT), so it closes
 * the inherited socket and pidfd and forgets the zygote's pid.
 */
void axle__forkserver_forget(void);

/* The zygote's pid, or 0 when none runs (tests). */
pid_t axle__forkserver_pid(void);

/* Declared here because core/sched.h does not: drops an inherited ring. */
void axle__sched_forget(void);

#endif
