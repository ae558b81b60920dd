/*
 * core/sched.h — the scheduler's internal interface: tasks, the park/abort
 * protocol, wait queues and io_uring submission. Private to libaxle.
 */
#ifndef AXLE_CORE_SCHED_H
#define AXLE_CORE_SCHED_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* liburing.h needs cpu_set_t */
#endif

#include <axle/log.h>
#include <axle/task.h>
#include <liburing.h>

/*
 * The park/abort protocol (trio's wait_task_rescheduled).
 *
 * A task that must wait registers itself somewhere (a wait queue, a timer,
 * an io_uring request), then calls axle__park(abort, data). It sleeps until
 * somebody calls axle__wake(task, value); park then returns value.
 *
 * When the task's cancel context is cancelled (at the call or while it
 * sleeps) the scheduler calls abort(task, data) exactly once:
 *   - AXLE__ABORT_SUCCEEDED: abort unhooked the task from whatever it waited
 *     on; park returns -ECANCELED.
 *   - AXLE__ABORT_FAILED: the wait cannot be undone at once (an io_uring
 *     request is in flight: abort sent IORING_OP_ASYNC_CANCEL). The task
 *     keeps sleeping until the owner of the wait calls axle__wake.
 * A NULL abort means the wait cannot be cancelled at all (as FAILED).
 */
enum { AXLE__ABORT_SUCCEEDED = 0, AXLE__ABORT_FAILED = 1 };
typedef int (*axle__abort_fn)(axle_task *t, void *data);

int axle__park(axle__abort_fn abort, void *data);
/* Make a parked task runnable; its park returns value. Must be called once. */
void axle__wake(axle_task *t, int value);
/* Abort request seen by the task (e.g. to map -EINTR to -ECANCELED). */
bool axle__task_abort_requested(const axle_task *t);

/* Fails with -ECANCELED when the calling task is cancelled; else 0. */
int axle__checkpoint(void);
/* Aborts with a message when not called on a scheduler task. */
axle_task *axle__current(void);

/*
 * Wait queues: an intrusive FIFO of waiters that live on the parked tasks'
 * stacks. Layout-compatible with the public `void *waiters_[2]` fields.
 */
typedef struct axle__waiter {
    struct axle__waiter *next, *prev;
    axle_task *task;
    void *data; /* what the waiter offers or wants (an item pointer, ...) */
    int result; /* spare for the primitive's own use */
} axle__waiter;

typedef struct axle__waitq {
    axle__waiter *head, *tail;
} axle__waitq;

static inline void axle__waitq_init(axle__waitq *q) { q->head = q->tail = NULL; }
static inline bool axle__waitq_empty(const axle__waitq *q) { return q->head == NULL; }
void axle__waitq_push(axle__waitq *q, axle__waiter *w);
void axle__waitq_remove(axle__waitq *q, axle__waiter *w);
axle__waiter *axle__waitq_pop(axle__waitq *q);
/*
 * Park the calling task on q until woken; the abort unhooks it (SUCCEEDED).
 * w->task is set here. Returns the value passed to axle__wake, or
 * -ECANCELED.
 */
int axle__waitq_park(axle__waitq *q, axle__waiter *w);

/* io_uring: an SQE for the calling task's next request (submits when full). */
struct io_uring_sqe *axle__sqe(void);
/*
 * Submit sqe (already prepared, user_data untouched) and park until its
 * completion. Returns cqe->res, or -ECANCELED when cancelled and the kernel
 * reported -ECANCELED/-EINTR for it.
 */
int axle__io(struct io_uring_sqe *sqe);

/* Record a rich error on an explicit task (for the nursery's bookkeeping). */
struct axle_error;
struct axle_error *axle__error_take(axle_task *t);             /* returns owned or NULL */
void axle__error_put(axle_task *t, struct axle_error *e);      /* takes e */
struct axle_error *axle__error_new(int code, const char *msg); /* returns owned or NULL */
struct axle_error *axle__error_group(struct axle_error **members, size_t n); /* takes */
void axle__error_free(struct axle_error *e);
struct axle_error *axle__error_clone(const struct axle_error *e); /* returns owned or NULL */

/* shm_park.c: make the shm rings' blocking calls park tasks, not threads. */
void axle__shm_park_install(void);

#endif
