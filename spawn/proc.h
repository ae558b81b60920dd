/*
 * spawn/proc.h — starting and reaping actor processes: the spawn backends
 * (fork, exec, forkserver) in one table, pidfd reaping on the io_uring
 * loop, signals for escalation, crash reports. Private to libaxle.
 *
 * The actor runtime decides *what* a child runs (axle__child_main); this
 * layer decides *how* the process comes to exist and how it ends.
 */
#ifndef AXLE_SPAWN_PROC_H
#define AXLE_SPAWN_PROC_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <axle/ipc.h>
#include <stdbool.h>
#include <sys/types.h>

/* What a new actor process needs to connect back to its parent. */
typedef struct axle__child_args {
    axle_uid uid;                       /* name and uuid (pid is set in the child) */
    char parent_addr[AXLE_ADDR_STRLEN]; /* multiaddr of the parent's server */
    char loglevel[16];                  /* level for the child ("" = inherit) */
    pid_t parent_pid;                   /* for the orphan check after fork */
    int crash_fd;                       /* write end of the crash pipe, or -1 */
    int conn_fd;                        /* fork only: a connected socket to the
                                           parent (socketpair made before the
                                           fork), or -1 to connect to parent_addr */
} axle__child_args;

/*
 * axle__child_main — the actor runtime's side of a new child (implemented
 * in core/actor): connect to the parent, receive the SpawnSpec, serve until
 * cancelled. Runs after axle__child_prepare. Returns the exit status.
 */
int axle__child_main(const axle__child_args *a);

/*
 * axle__child_prepare — first thing in every new child, whatever the
 * backend: drop the inherited scheduler (axle__sched_forget), set
 * PR_SET_PDEATHSIG(SIGKILL) and exit at once if the parent already died
 * (getppid() != a->parent_pid), set the process title axle[<name>@<pid>],
 * name the log prefix <name>, apply a->loglevel, install the crash handler
 * that writes a report (signal, fault address, backtrace) to a->crash_fd.
 */
void axle__child_prepare(axle__child_args *a);

/* A child process as its parent sees it. */
typedef struct axle__proc {
    pid_t pid;        /* the child */
    int pidfd;        /* pidfd_open/CLONE_PIDFD (owned), or -1 after release */
    int crash_fd;     /* our end of the crash channel, a socketpair (owned), or -1 */
    bool exited;      /* reaped: code/signal below are valid */
    int exit_code;    /* exit status when it exited normally, else -1 */
    int signal;       /* the signal that killed it, else 0 */
    bool core_dumped; /* the kernel says it dumped core */
} axle__proc;

typedef struct axle__spawn_req {
    const char *method;    /* "fork", "exec", "forkserver"; NULL: $AXLE_SPAWN_METHOD or "fork" */
    const char *exe;       /* exec: the program to run; NULL: /proc/self/exe */
    axle__child_args args; /* passed to the child (crash_fd is filled in here) */
} axle__spawn_req;

/*
 * axle__proc_spawn — start a child with the chosen backend.
 * Sets req->args.parent_pid to getpid() for the child.
 * Returns: 0, *out filled (pidfd and crash channel owned by *out).
 * Errors: -EINVAL for an unknown method (the rich error lists the known
 *   ones); -EAGAIN / -ENOMEM from fork or clone (the rich error says so);
 *   -errno from exec setup; -ECHILD when the forkserver's zygote is gone
 *   (the message says how it ended; the next spawn starts a new one).
 *   Never leaves a process behind on failure.
 * Checkpoint: no (fork and clone are immediate; the forkserver request is
 *   a short local round trip).
 */
int axle__proc_spawn(const axle__spawn_req *req, axle__proc *out);

/* The method a request resolves to ("fork" when neither it nor the env says). */
const char *axle__spawn_method(const char *method);

/*
 * axle__proc_wait — park until the child exits (pidfd readable on the
 * io_uring loop), then reap it and fill exited/exit_code/signal.
 * Returns: 0.
 * Errors: -ECANCELED (the child is not reaped); -ECHILD (something else
 *   reaped it: waitpid(-1), SIGCHLD ignored); -EBADF (already released).
 * Checkpoint: yes.
 */
int axle__proc_wait(axle__proc *p);

/* Reap if it has exited, without waiting. Returns 1 reaped, 0 still running. */
int axle__proc_try_wait(axle__proc *p);

/* Send sig through the pidfd. Returns 0, or -errno (-ESRCH once reaped). */
int axle__proc_signal(axle__proc *p, int sig);

/*
 * axle__proc_describe — how it ended, for error messages: "exit status 2",
 * "killed by SIGSEGV at 0x10 (address not mapped) (core dumped)", then the
 * rest of the crash report the child wrote (program, backtrace), if any,
 * at most len bytes in all. Reading does not consume: calling it twice
 * gives the same text.
 * Returns: the length, like snprintf.
 */
int axle__proc_describe(axle__proc *p, char *buf, size_t len);

/* Close the pidfd and the crash pipe. The child must have been reaped. */
void axle__proc_release(axle__proc *p);

/*
 * The exec backend's child side: when argv carries the hidden child
 * arguments, fill *a and return 1; else 0; -EINVAL (with a message) when
 * --axle-child is there but the rest is malformed. Used by axle_main.
 */
int axle__child_args_parse(int argc, char **argv, axle__child_args *a);

/* Set comm (truncated to 15 bytes) and the argv area to title. */
void axle__proc_set_title(const char *title);
/* Find the argv area now (no write), so forked children inherit the answer. */
void axle__proc_title_probe(void);

/*
 * axle__spawn_warm — in the root (and any actor that spawns), look up once
 * what every forked child's preparation needs (the crash handler's
 * alternate stack and program path, the title area, the unwinder), so each
 * child inherits it instead of repeating it.
 */
void axle__spawn_warm(void);

/*
 * axle__forkserver_start — fork the zygote now (the root calls this at
 * start when its method is forkserver; otherwise it starts on first use).
 * Returns: 0 or -errno. Idempotent.
 */
int axle__forkserver_start(void);

/* Stop the zygote (root teardown). Idempotent. */
void axle__forkserver_stop(void);

#endif
