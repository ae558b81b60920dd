/*
 * axle/task.h — the task layer: trio's structured concurrency in C.
 *
 * One scheduler per process, single-threaded, on io_uring. Tasks are
 * stackful fibers. Every task lives in a nursery; a nursery's close waits
 * for all of its tasks, and the first error cancels the rest. Cancel scopes
 * are level-triggered: once a scope is cancelled, every checkpoint inside it
 * (and not inside a nested shielded scope) fails with -ECANCELED, now and at
 * every later checkpoint, until the scope closes.
 *
 * Conventions used below:
 *   Checkpoint: yes — the call may park the task and is a cancellation
 *     point: it fails with -ECANCELED when the task's cancel context is (or
 *     becomes) cancelled, before or while it waits.
 *   All calls except axle_run, axle_now, axle_strerror and logging must be
 *   made from a task running on the scheduler (inside axle_run); that is a
 *   programming error otherwise and aborts with a message.
 */
#ifndef AXLE_TASK_H
#define AXLE_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <axle/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------------------------- */
/* Entry                                                                    */
/* ----------------------------------------------------------------------- */

/* A task body. Returns 0 or a negative code, which becomes the task's result. */
typedef int (*axle_fn)(void *arg);

typedef struct axle_run_opts {
    size_t stack_size;     /* default task stack, bytes (0: 256 KiB) */
    unsigned ring_entries; /* io_uring submission queue size (0: 256) */
} axle_run_opts;

/*
 * axle_run — start a scheduler, run main(arg) as its first task, and return
 * when main and every task it started have finished.
 *   opts: borrowed; may be NULL for defaults.
 * Returns: main's result.
 * Errors: besides main's own codes,
 *   -AXLE_ENOURING  io_uring could not be set up; the rich error (and one
 *                   log line) names the cause (seccomp EPERM, ENOSYS,
 *                   kernel.io_uring_disabled, memlock) and the fix.
 *   -EBUSY          a scheduler is already running in this process.
 *   -ENOMEM         no memory for the first stack.
 * Checkpoint: no (it is the outermost call).
 */
AXLE_API int axle_run(axle_fn main, void *arg, const axle_run_opts *opts);

/* ----------------------------------------------------------------------- */
/* Tasks and time                                                           */
/* ----------------------------------------------------------------------- */

typedef struct axle_task axle_task;

typedef struct axle_task_opts {
    const char *name;  /* shown in logs and crash reports; copied (<= 31 B) */
    size_t stack_size; /* 0: the scheduler's default */
} axle_task_opts;

/* The calling task. Borrowed; valid while the task lives. */
AXLE_API axle_task *axle_task_self(void);
/* A task's name ("main" for axle_run's task, "task-<n>" by default). */
AXLE_API const char *axle_task_name(const axle_task *t);
/* Tasks alive in this scheduler, the calling one included. */
AXLE_API size_t axle_task_count(void);

/* Nanoseconds on CLOCK_MONOTONIC. Callable anywhere. */
AXLE_API int64_t axle_now(void);

/*
 * axle_sleep / axle_sleep_until — park for ns nanoseconds / until the
 * monotonic time deadline. A zero or past time still checkpoints.
 * Returns: 0.
 * Errors: -ECANCELED.
 * Checkpoint: yes.
 */
AXLE_API int axle_sleep(int64_t ns);
AXLE_API int axle_sleep_until(int64_t deadline);

/*
 * axle_checkpoint — yield to every other runnable task once, then check for
 * cancellation.
 * Returns: 0.  Errors: -ECANCELED.  Checkpoint: yes.
 */
AXLE_API int axle_checkpoint(void);

/*
 * axle_checkpoint_if_cancelled — the cancellation half alone: does not yield.
 * Returns: 0.  Errors: -ECANCELED.
 */
AXLE_API int axle_checkpoint_if_cancelled(void);

/* ----------------------------------------------------------------------- */
/* Cancel scopes                                                            */
/* ----------------------------------------------------------------------- */

#define AXLE_NO_DEADLINE INT64_MAX

enum {
    AXLE_SCOPE_SHIELD = 1u << 0,    /* outer cancellation does not reach inside */
    AXLE_SCOPE_FAIL_AFTER = 1u << 1 /* a fired deadline closes as -ETIMEDOUT */
};

/*
 * A cancel scope lives in the caller's storage (usually its stack) between
 * axle_scope_open and axle_scope_close, which must nest properly within one
 * task. Its fields are private.
 */
typedef struct axle_scope axle_scope;
struct axle_scope {
    axle_scope *parent_;       /* enclosing scope (or a task's root link) */
    axle_scope *first_child_;  /* scopes and task roots directly inside */
    axle_scope *prev_, *next_; /* siblings under parent_ */
    axle_task *task_;          /* the task that opened it */
    int64_t deadline_;         /* absolute, or AXLE_NO_DEADLINE */
    size_t heap_index_;        /* slot in the scheduler's timer heap, or SIZE_MAX */
    unsigned flags_;           /* AXLE_SCOPE_* and private state bits */
};

/*
 * axle_scope_open — enter a cancel scope; the calling task's checkpoints
 * are inside it until axle_scope_close.
 *   sc: caller's storage; must stay valid until close.
 *   deadline: absolute monotonic ns when the scope cancels itself, or
 *     AXLE_NO_DEADLINE.
 *   flags: AXLE_SCOPE_SHIELD and/or AXLE_SCOPE_FAIL_AFTER.
 * Checkpoint: no.
 */
AXLE_API void axle_scope_open(axle_scope *sc, int64_t deadline, unsigned flags);

/* trio's move_on_after: the deadline cancels silently. */
static inline int64_t axle__deadline_after(int64_t ns)
{
    int64_t now = axle_now();
    return ns >= AXLE_NO_DEADLINE - now ? AXLE_NO_DEADLINE : now + ns;
}
static inline void axle_move_on_after(axle_scope *sc, int64_t ns)
{
    axle_scope_open(sc, axle__deadline_after(ns), 0);
}
/* trio's fail_after: the deadline closes the scope as -ETIMEDOUT. */
static inline void axle_fail_after(axle_scope *sc, int64_t ns)
{
    axle_scope_open(sc, axle__deadline_after(ns), AXLE_SCOPE_FAIL_AFTER);
}

/*
 * axle_scope_close — leave the scope and turn the body's result into the
 * block's outcome.
 *   rc: what the body ended with (0, or the code it is returning).
 * Returns:
 *   0            rc was -ECANCELED caused by this scope (its own cancel or a
 *                move-on deadline): the cancellation is absorbed here;
 *   -ETIMEDOUT   the same, for a fail-after scope whose deadline fired;
 *   rc           otherwise (an outer scope's cancellation, visible from this
 *                scope, passes through as -ECANCELED).
 * Invalidates: sc (it may be reopened).
 * Checkpoint: no.
 */
AXLE_API int axle_scope_close(axle_scope *sc, int rc);

/*
 * axle_scope_cancel — cancel the scope: every checkpoint inside it now fails
 * with -ECANCELED, and tasks parked inside it are woken. Idempotent. May be
 * called from any task of the scheduler, on an open scope; on a closed scope
 * it does nothing.
 */
AXLE_API void axle_scope_cancel(axle_scope *sc);
AXLE_API void axle_scope_set_deadline(axle_scope *sc, int64_t deadline);
AXLE_API int64_t axle_scope_deadline(const axle_scope *sc);
AXLE_API void axle_scope_set_shield(axle_scope *sc, bool shield);
/* Whether cancel was requested (by call or deadline). */
AXLE_API bool axle_scope_cancel_called(const axle_scope *sc);
/*
 * Whether axle_scope_close absorbed a cancellation caused by this scope
 * (trio's cancelled_caught). False until the scope closes.
 */
AXLE_API bool axle_scope_cancelled_caught(const axle_scope *sc);

/* ----------------------------------------------------------------------- */
/* Nurseries                                                                */
/* ----------------------------------------------------------------------- */

typedef struct axle_nursery axle_nursery;
typedef struct axle_task_status axle_task_status;

/*
 * axle_nursery_open — open a nursery in the calling task. The code between
 * open and close (the body) runs inside the nursery's cancel scope.
 *   out: receives the nursery, owned until axle_nursery_close.
 * Returns: 0.  Errors: -ENOMEM.  Checkpoint: no.
 */
AXLE_API int axle_nursery_open(axle_nursery **out);

/*
 * axle_nursery_start_soon — start fn(arg) as a new task in the nursery; it
 * first runs at the scheduler's next turn.
 *   opts: borrowed, may be NULL. arg: borrowed for the task's life.
 * Returns: 0.
 * Errors: -ENOMEM (no stack).
 * Checkpoint: no.
 * A nursery accepts new tasks until axle_nursery_close returns (tasks may
 * start siblings while close waits); after that n is gone.
 */
AXLE_API int axle_nursery_start_soon(axle_nursery *n, axle_fn fn, void *arg,
                                     const axle_task_opts *opts);

/* A task started with axle_nursery_start. It reports readiness through st. */
typedef int (*axle_start_fn)(void *arg, axle_task_status *st);

/*
 * axle_nursery_start — trio's nursery.start: run fn(arg, st) as a new task
 * and wait until it calls axle_started(st, value). Until then the task runs
 * inside the caller's cancel context; afterwards it belongs to n.
 *   value: if not NULL, receives what the task passed to axle_started.
 * Returns: 0.
 * Errors: the task's own code if it fails before reporting started (its rich
 *   error is moved to the caller); -AXLE_ENOTSTARTED if it returns 0
 *   without reporting; -ECANCELED; -ENOMEM.
 * Checkpoint: yes.
 */
AXLE_API int axle_nursery_start(axle_nursery *n, axle_start_fn fn, void *arg,
                                const axle_task_opts *opts, void **value);

/*
 * axle_started — report that the task started by axle_nursery_start is
 * ready; wakes the caller with value. A second call is ignored with a
 * warning logged.
 */
AXLE_API void axle_started(axle_task_status *st, void *value);

/* axle_nursery_cancel — cancel the nursery's scope: body and tasks. */
AXLE_API void axle_nursery_cancel(axle_nursery *n);

/* axle_nursery_scope — the nursery's cancel scope (borrowed). */
AXLE_API axle_scope *axle_nursery_scope(axle_nursery *n);

/*
 * axle_nursery_close — end the body, wait for every task, free the nursery.
 *   rc: what the body ended with. An error other than the nursery's own
 *     cancellation cancels the tasks and is reported with theirs.
 * Returns:
 *   0               everything succeeded (or only the nursery's own
 *                   cancellation happened, which is absorbed);
 *   the error       exactly one error (body or task): its code, and its rich
 *                   error moved onto the calling task;
 *   -AXLE_EGROUP    several errors: the rich error lists each member;
 *   -ECANCELED      an outer scope's cancellation passing through.
 * If the caller is cancelled while waiting, the tasks are cancelled and
 * close keeps waiting for them: it never returns before they finish.
 * Invalidates: n.
 * Checkpoint: waits, but a cancellation only reaches the tasks.
 */
AXLE_API int axle_nursery_close(axle_nursery *n, int rc);

/* ----------------------------------------------------------------------- */
/* Synchronisation (one scheduler; not for use between threads)            */
/* ----------------------------------------------------------------------- */

/* Event: one-shot flag. Fields private; init before use. */
typedef struct axle_event {
    void *waiters_[2]; /* private wait queue */
    bool set_;
} axle_event;

AXLE_API void axle_event_init(axle_event *ev);
/* Set the event and wake every waiter. Idempotent. */
AXLE_API void axle_event_set(axle_event *ev);
AXLE_API bool axle_event_is_set(const axle_event *ev);
/*
 * axle_event_wait — park until the event is set (checkpoints even when set).
 * Returns: 0.  Errors: -ECANCELED.  Checkpoint: yes.
 */
AXLE_API int axle_event_wait(axle_event *ev);

/* Lock: fair (FIFO), not reentrant, owned by the task that acquired it. */
typedef struct axle_lock {
    void *waiters_[2];
    axle_task *owner_;
} axle_lock;

AXLE_API void axle_lock_init(axle_lock *l);
/* Returns: 0.  Errors: -ECANCELED; -EDEADLK if the caller holds it.  Checkpoint: yes. */
AXLE_API int axle_lock_acquire(axle_lock *l);
/* Returns: 0.  Errors: -EAGAIN when held; -EDEADLK if the caller holds it. */
AXLE_API int axle_lock_try_acquire(axle_lock *l);
/* Returns: 0.  Errors: -EPERM when the caller does not hold it. */
AXLE_API int axle_lock_release(axle_lock *l);
AXLE_API bool axle_lock_locked(const axle_lock *l);

/* Semaphore: a counter with an optional upper bound. */
typedef struct axle_sem {
    void *waiters_[2];
    size_t value_;
    size_t max_; /* 0: unbounded */
} axle_sem;

AXLE_API void axle_sem_init(axle_sem *s, size_t initial, size_t max);
/* Returns: 0.  Errors: -ECANCELED.  Checkpoint: yes. */
AXLE_API int axle_sem_acquire(axle_sem *s);
/* Returns: 0.  Errors: -EAGAIN when the value is 0. */
AXLE_API int axle_sem_try_acquire(axle_sem *s);
/* Returns: 0.  Errors: -EOVERFLOW past max (value unchanged). */
AXLE_API int axle_sem_release(axle_sem *s);
AXLE_API size_t axle_sem_value(const axle_sem *s);

/* Condition: waits are made holding its lock. */
typedef struct axle_cond {
    void *waiters_[2];
    axle_lock *lock_;
} axle_cond;

/* lock: borrowed; the condition's lock for its whole life. */
AXLE_API void axle_cond_init(axle_cond *c, axle_lock *lock);
/*
 * axle_cond_wait — release the lock, park until notified, re-acquire the
 * lock (even when cancelled: the caller always holds it on return).
 * Returns: 0.  Errors: -ECANCELED; -EPERM when the caller does not hold the
 *   lock.  Checkpoint: yes.
 */
AXLE_API int axle_cond_wait(axle_cond *c);
/* Wake up to n waiters / all waiters. Returns: 0, or -EPERM without the lock. */
AXLE_API int axle_cond_notify(axle_cond *c, size_t n);
AXLE_API int axle_cond_notify_all(axle_cond *c);

/*
 * Memory channel: a bounded queue of fixed-size items between tasks of one
 * scheduler, with trio's semantics. The send and receive ends are separate
 * handles; each can be cloned, and each handle is closed on its own. When
 * the last send handle closes, receivers get -AXLE_EEOC once the buffer is
 * drained; when the last receive handle closes, senders get -AXLE_EBROKEN.
 * Using a handle after closing it gives -AXLE_ECLOSED. A capacity of 0 is a
 * rendezvous: send returns once a receiver has taken the item.
 */
typedef struct axle_chan_tx axle_chan_tx;
typedef struct axle_chan_rx axle_chan_rx;

/*
 * axle_chan_open — a channel of items of item_size bytes, buffering up to
 * capacity items.
 *   tx, rx: receive one handle each, owned (close each).
 * Returns: 0.  Errors: -EINVAL (item_size 0), -ENOMEM.  Checkpoint: no.
 */
AXLE_API int axle_chan_open(axle_chan_tx **tx, axle_chan_rx **rx, size_t item_size,
                            size_t capacity);
/* Clone a handle: another owned handle on the same end. Errors: -AXLE_ECLOSED, -ENOMEM. */
AXLE_API int axle_chan_tx_clone(axle_chan_tx *tx, axle_chan_tx **out);
AXLE_API int axle_chan_rx_clone(axle_chan_rx *rx, axle_chan_rx **out);
/*
 * Close a handle: tasks parked on this handle get -AXLE_ECLOSED; the memory
 * is freed once nothing uses it. Never blocks, never fails.
 * Invalidates: the handle (its pointer must not be used again).
 */
AXLE_API void axle_chan_tx_close(axle_chan_tx *tx);
AXLE_API void axle_chan_rx_close(axle_chan_rx *rx);
/*
 * axle_chan_send — copy item_size bytes from item into the channel; park
 * while it is full.
 * Returns: 0.
 * Errors: -ECANCELED (nothing was sent); -AXLE_EBROKEN (no receivers left);
 *   -AXLE_ECLOSED (this handle was closed).
 * Checkpoint: yes.
 */
AXLE_API int axle_chan_send(axle_chan_tx *tx, const void *item);
/* Errors as axle_chan_send, plus -EAGAIN when it would park. Not a checkpoint. */
AXLE_API int axle_chan_send_nowait(axle_chan_tx *tx, const void *item);
/*
 * axle_chan_recv — copy the next item into item (item_size bytes); park
 * while the channel is empty.
 * Returns: 0.
 * Errors: -ECANCELED (nothing was taken); -AXLE_EEOC (every sender closed
 *   and the buffer is empty); -AXLE_ECLOSED (this handle was closed).
 * Checkpoint: yes.
 */
AXLE_API int axle_chan_recv(axle_chan_rx *rx, void *item);
AXLE_API int axle_chan_recv_nowait(axle_chan_rx *rx, void *item);
/* Items buffered now. */
AXLE_API size_t axle_chan_rx_len(const axle_chan_rx *rx);

/* ----------------------------------------------------------------------- */
/* I/O: each a cancellable checkpoint on io_uring                           */
/* ----------------------------------------------------------------------- */
/*
 * Each call submits one io_uring request and parks until it completes.
 * Returns: the operation's non-negative result (bytes, a new fd, poll mask).
 * Errors: the operation's -errno, or -ECANCELED when the task was cancelled
 *   before the request completed. If the request completes despite the
 *   cancel (a race), its result is returned and the next checkpoint fails.
 * Ownership: buffers are borrowed until the call returns; the call never
 *   returns while the kernel still owns them.
 * Checkpoint: yes.
 */
AXLE_API int axle_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);
AXLE_API int axle_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);
AXLE_API ssize_t axle_recv(int fd, void *buf, size_t len, int flags);
AXLE_API ssize_t axle_send(int fd, const void *buf, size_t len, int flags);
AXLE_API ssize_t axle_read(int fd, void *buf, size_t len, int64_t offset);
AXLE_API ssize_t axle_write(int fd, const void *buf, size_t len, int64_t offset);
/* events: POLLIN etc. Returns: the ready mask. */
AXLE_API int axle_poll(int fd, unsigned events);
/*
 * axle_futex_wait — park while *word == expected (a 32-bit futex, shared or
 * private, e.g. in a shm segment); woken by FUTEX_WAKE on the same word.
 * Returns: 0 when woken.  Errors: -EAGAIN when *word != expected at the
 *   call; -ECANCELED.  Checkpoint: yes.
 */
AXLE_API int axle_futex_wait(const uint32_t *word, uint32_t expected);
/* axle_futex_wake — wake up to n waiters on word. Returns: how many woke. */
AXLE_API int axle_futex_wake(uint32_t *word, int n);

#ifdef __cplusplus
}
#endif
#endif
