/*
 * core/sched.c — the scheduler: one per process, single-threaded, on
 * io_uring.
 *
 * What it guarantees:
 * - Tasks run one at a time, in FIFO order of becoming runnable. A batch is
 *   the tasks runnable when it starts; within a batch a task that parks or
 *   yields switches straight to the next one, without passing through the
 *   scheduler's own context. Between batches the scheduler fires expired
 *   deadlines and reaps io_uring completions, blocking in the kernel only
 *   when nothing is runnable.
 * - A parked task is woken exactly once, by axle__wake (the owner of its
 *   wait) or by its abort succeeding. An io_uring request's memory (the
 *   ioreq and any buffer) lives on the waiting task's stack, and the task
 *   never returns from axle__io before the request's completion arrives,
 *   even when cancelled: cancellation sends IORING_OP_ASYNC_CANCEL and keeps
 *   waiting.
 * - A finished task's stack is freed by whichever context runs next (a task
 *   cannot unmap the stack it runs on).
 * - When nothing is runnable, no request is in flight and no deadline is
 *   set, no task can ever wake again: that is a deadlock, reported with the
 *   parked tasks' names, and the process aborts rather than hang silently.
 *
 * Fork story: the scheduler state `S` and its ring belong to the process
 * that ran axle_run. A forked child must not use them: it calls
 * axle__sched_forget() (later layers do) to drop the inherited ring without
 * touching the parent's, and then may call axle_run afresh.
 */
#define _GNU_SOURCE
#include "task_int.h"

#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef IORING_OP_FUTEX_WAIT
#define IORING_OP_FUTEX_WAIT 51
#endif
#define AXLE_FUTEX2_SIZE_U32 0x02u
#define AXLE_FUTEX_BITSET_ANY 0xffffffffu

#define DEFAULT_STACK (256 * 1024)
#define DEFAULT_RING 256

/* One in-flight io_uring request; lives on the waiting task's stack. */
struct ioreq {
    axle_task *task; /* woken with res */
};

static struct sched {
    struct io_uring ring;       /* this process's ring */
    bool running;               /* inside axle_run */
    bool have_futex;            /* the kernel has IORING_OP_FUTEX_WAIT */
    axle_task *main;            /* axle_run's task */
    void *sched_sp;             /* the scheduler context's saved stack pointer */
    const void *sched_stack_lo; /* its stack, as ASan reported it */
    size_t sched_stack_size;
    void *sched_fake;               /* its ASan fake-stack slot */
    axle_task *run_head, *run_tail; /* runnable tasks, FIFO */
    size_t run_len;                 /* Invariant: the length of that queue */
    unsigned long batch_left;       /* switches left in this batch */
    axle_task *zombie;              /* finished task whose stack awaits freeing */
    size_t ntasks;                  /* live tasks */
    unsigned long next_id;          /* task id counter */
    size_t inflight;                /* io_uring requests awaiting completion */
    axle_scope **heap;              /* timer min-heap on deadline_ */
    size_t heap_len, heap_cap;
    size_t default_stack; /* axle_run_opts.stack_size */
    int main_rc;          /* main's result */
} S;

unsigned long axle__ncancelled;

/*
 * The running task: NULL in the scheduler context and on every thread but
 * the scheduler's, so a task-layer call from a foreign thread is caught.
 */
static __thread axle_task *current __attribute__((tls_model("initial-exec")));

/* Errors recorded outside any task (axle_run's own, and main's at the end). */
static __thread struct axle_error *thread_err __attribute__((tls_model("initial-exec")));

/* ---- small helpers ---------------------------------------------------- */

int64_t axle_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

axle_task *axle__current(void)
{
    if (__builtin_expect(current == NULL, 0)) {
        fprintf(stderr, "axle: a task-layer call was made outside a task (inside axle_run)\n");
        abort();
    }
    return current;
}

axle_task *axle_task_self(void) { return axle__current(); }
bool axle__in_task(void) { return current != NULL; }
const char *axle_task_name(const axle_task *t)
{
    axle_task *m = (axle_task *)t; /* the default name is made on first use */
    if (!m->name[0])
        snprintf(m->name, sizeof m->name, "task-%lu", m->id);
    return m->name;
}
size_t axle_task_count(void) { return S.ntasks; }
bool axle__task_abort_requested(const axle_task *t) { return t->abort_requested; }

/* The error slot of the calling task, or of the thread outside tasks. */
struct axle_error **axle__error_slot(void) { return current ? &current->err : &thread_err; }

struct axle_error **axle__task_error_slot(axle_task *t) { return &t->err; }

const char *axle__current_task_name(void) { return current ? axle_task_name(current) : NULL; }

/* ---- run queue and switching ------------------------------------------ */

void axle__task_ready(axle_task *t)
{
    t->state = TASK_READY;
    t->next_run = NULL;
    if (S.run_tail)
        S.run_tail->next_run = t;
    else
        S.run_head = t;
    S.run_tail = t;
    S.run_len++;
}

static axle_task *run_pop(void)
{
    axle_task *t = S.run_head;
    if (t) {
        S.run_head = t->next_run;
        if (!S.run_head)
            S.run_tail = NULL;
        S.run_len--;
    }
    return t;
}

static void free_zombie(void)
{
    axle_task *z = S.zombie;
    S.zombie = NULL;
    axle__stack st = z->stack; /* z lives on the stack being freed */
    axle__stack_free(&st);
}

/* Runs in the arriving context after every switch. */
static void arrived(axle_task *self, void *fake)
{
    const void *from_lo = NULL;
    size_t from_size = 0;
    axle__fiber_switch_end(fake, &from_lo, &from_size);
    if (S.zombie)
        free_zombie();
    current = self;
    if (self) {
        self->state = TASK_RUNNING;
        errno = self->saved_errno;
    }
}

/*
 * Switch from the running context (task `from`, or the scheduler when NULL)
 * to task `to` (or the scheduler when NULL). `dying`: from never resumes.
 */
static void switch_to(axle_task *from, axle_task *to, bool dying)
{
    void **save_sp = from ? &from->sp : &S.sched_sp;
    void **fake = from ? &from->asan_fake : &S.sched_fake;
    if (from)
        from->saved_errno = errno;
    const void *lo = to ? to->stack.lo : S.sched_stack_lo;
    size_t size = to ? (size_t)((char *)to->stack.hi - (char *)to->stack.lo) : S.sched_stack_size;
    axle__fiber_switch_begin(dying ? NULL : fake, lo, size);
    axle__ctx_switch(save_sp, to ? to->sp : S.sched_sp);
    arrived(from, *fake);
}

/* Nothing for the scheduler context to do between batches: no I/O, no timer. */
static inline bool loop_idle(void)
{
    return S.inflight == 0 && S.heap_len == 0 && io_uring_sq_ready(&S.ring) == 0;
}

/*
 * Leave the running task (already queued, parked or dead): go straight to
 * the next runnable task while the batch lasts (or, when there is no I/O
 * and no timer to look at, start the next batch at once), else to the
 * scheduler.
 */
static void leave(axle_task *from, bool dying)
{
    if (S.batch_left == 0 && S.run_head && loop_idle())
        S.batch_left = S.run_len;
    if (S.batch_left > 0 && S.run_head) {
        S.batch_left--;
        axle_task *next = run_pop();
        if (next == from) {
            from->state = TASK_RUNNING;
            return; /* yielded to nobody: carry on */
        }
        switch_to(from, next, dying);
        return;
    }
    switch_to(from, NULL, dying);
}

/* ---- park / wake ------------------------------------------------------ */

int axle__park(axle__abort_fn abort, void *data)
{
    axle_task *t = axle__current();
    t->abort = abort;
    t->abort_data = data;
    t->abort_requested = false;
    t->state = TASK_PARKED;
    if (axle__ncancelled && axle__cancel_source(t)) {
        t->abort_requested = true;
        if (abort && abort(t, data) == AXLE__ABORT_SUCCEEDED) {
            t->state = TASK_RUNNING;
            return axle__cancelled(t);
        }
    }
    leave(t, false);
    int v = t->wake_value;
    if (v == -ECANCELED && t->abort_requested)
        return axle__cancelled(t);
    return v;
}

void axle__wake(axle_task *t, int value)
{
    if (t->state != TASK_PARKED) {
        fprintf(stderr, "axle: internal error: waking task '%s' that is not parked\n",
                axle_task_name(t));
        abort();
    }
    t->wake_value = value;
    axle__task_ready(t);
}

void axle__task_abort(axle_task *t)
{
    if (t->state != TASK_PARKED || t->abort_requested)
        return;
    t->abort_requested = true;
    if (t->abort && t->abort(t, t->abort_data) == AXLE__ABORT_SUCCEEDED)
        axle__wake(t, -ECANCELED);
}

int axle__checkpoint(void)
{
    axle_task *t = axle__current();
    if (axle__ncancelled && axle__cancel_source(t))
        return axle__cancelled(t);
    return 0;
}

int axle_checkpoint_if_cancelled(void) { return axle__checkpoint(); }

int axle_checkpoint(void)
{
    axle_task *t = axle__current();
    int rc = axle__checkpoint();
    if (rc < 0)
        return rc;
    axle__task_ready(t);
    leave(t, false);
    return axle__checkpoint();
}

/* ---- wait queues ------------------------------------------------------ */

void axle__waitq_push(axle__waitq *q, axle__waiter *w)
{
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
}

void axle__waitq_remove(axle__waitq *q, axle__waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        q->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->next = w->prev = NULL;
}

axle__waiter *axle__waitq_pop(axle__waitq *q)
{
    axle__waiter *w = q->head;
    if (w)
        axle__waitq_remove(q, w);
    return w;
}

struct waitq_abort {
    axle__waitq *q;
    axle__waiter *w;
};

static int waitq_abort(axle_task *t, void *data)
{
    (void)t;
    struct waitq_abort *a = data;
    axle__waitq_remove(a->q, a->w);
    return AXLE__ABORT_SUCCEEDED;
}

int axle__waitq_park(axle__waitq *q, axle__waiter *w)
{
    w->task = axle__current();
    axle__waitq_push(q, w);
    struct waitq_abort a = {q, w};
    return axle__park(waitq_abort, &a);
}

/* ---- timers: a binary min-heap of scopes on deadline_ ------------------ */

static void heap_set(size_t i, axle_scope *sc)
{
    S.heap[i] = sc;
    sc->heap_index_ = i;
}

static void heap_up(size_t i)
{
    axle_scope *sc = S.heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (S.heap[p]->deadline_ <= sc->deadline_)
            break;
        heap_set(i, S.heap[p]);
        i = p;
    }
    heap_set(i, sc);
}

static void heap_down(size_t i)
{
    axle_scope *sc = S.heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= S.heap_len)
            break;
        if (c + 1 < S.heap_len && S.heap[c + 1]->deadline_ < S.heap[c]->deadline_)
            c++;
        if (S.heap[c]->deadline_ >= sc->deadline_)
            break;
        heap_set(i, S.heap[c]);
        i = c;
    }
    heap_set(i, sc);
}

void axle__timer_add(axle_scope *sc)
{
    if (S.heap_len == S.heap_cap) {
        size_t cap = S.heap_cap ? S.heap_cap * 2 : 64;
        axle_scope **h = realloc(S.heap, cap * sizeof *h);
        if (!h) {
            fprintf(stderr, "axle: out of memory for the timer heap\n");
            abort();
        }
        S.heap = h;
        S.heap_cap = cap;
    }
    heap_set(S.heap_len++, sc);
    heap_up(sc->heap_index_);
}

void axle__timer_del(axle_scope *sc)
{
    size_t i = sc->heap_index_;
    if (i == SIZE_MAX)
        return;
    sc->heap_index_ = SIZE_MAX;
    axle_scope *last = S.heap[--S.heap_len];
    if (i == S.heap_len)
        return;
    heap_set(i, last);
    heap_up(i);
    heap_down(last->heap_index_);
}

static void fire_timers(void)
{
    if (S.heap_len == 0)
        return;
    int64_t now = axle_now();
    while (S.heap_len > 0 && S.heap[0]->deadline_ <= now) {
        axle_scope *sc = S.heap[0];
        axle__timer_del(sc);
        sc->flags_ |= SCOPE_FIRED;
        axle_scope_cancel(sc);
    }
}

/* ---- tasks ------------------------------------------------------------ */

static void task_exit(axle_task *t);

static void task_entry(void *arg)
{
    axle_task *t = arg;
    const void *from_lo = NULL;
    size_t from_size = 0;
    axle__fiber_switch_end(NULL, &from_lo, &from_size);
    if (!S.sched_stack_lo) {
        /* The first switch into a task always comes from the scheduler. */
        S.sched_stack_lo = from_lo;
        S.sched_stack_size = from_size;
    }
    if (S.zombie)
        free_zombie();
    current = t;
    t->state = TASK_RUNNING;
    errno = 0;
    t->rc = t->sfn ? t->sfn(t->arg, t->start) : t->fn(t->arg);
    task_exit(t);
}

axle_task *axle__task_new(axle_fn fn, axle_start_fn sfn, void *arg, const axle_task_opts *opts,
                          int *rc)
{
    size_t size = opts && opts->stack_size ? opts->stack_size : S.default_stack;
    size += sizeof(axle_task) + 64;
    axle__stack st;
    *rc = axle__stack_alloc(&st, size);
    if (*rc < 0)
        return NULL;
    uintptr_t top = ((uintptr_t)st.hi - sizeof(axle_task)) & ~(uintptr_t)63;
    axle_task *t = (axle_task *)top;
    memset(t, 0, sizeof *t);
    t->stack = st;
    t->fn = fn;
    t->sfn = sfn;
    t->arg = arg;
    t->id = ++S.next_id;
    if (opts && opts->name) /* else axle_task_name makes "task-<id>" when asked */
        strncpy(t->name, opts->name, sizeof t->name - 1);
    t->root.flags_ = SCOPE_ROOT | SCOPE_OPEN;
    t->root.task_ = t;
    t->root.heap_index_ = SIZE_MAX;
    t->root.deadline_ = AXLE_NO_DEADLINE;
    t->cur = &t->root;
    t->sp = axle__ctx_init(st.lo, (void *)top, task_entry, t);
    S.ntasks++;
    return t;
}

static void task_exit(axle_task *t)
{
    if (t->cur != &t->root) {
        fprintf(stderr,
                "axle: task '%s' returned with a cancel scope or nursery still open: "
                "every open needs its close before the task returns\n",
                axle_task_name(t));
        abort();
    }
    t->state = TASK_DONE;
    if (t->start)
        axle__start_child_done(t); /* ended before axle_started */
    else if (t->nursery)
        axle__nursery_child_done(t);
    else { /* main */
        S.main_rc = t->rc;
        axle__error_free(thread_err);
        thread_err = t->err;
        t->err = NULL;
    }
    axle__scope_unlink(&t->root);
    axle__error_free(t->err);
    t->err = NULL;
    S.ntasks--;
    S.zombie = t;
    leave(t, true);
    abort(); /* unreachable: nobody switches back to a dead task */
}

/* ---- io_uring --------------------------------------------------------- */

struct io_uring_sqe *axle__sqe(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&S.ring);
    if (!sqe) {
        io_uring_submit(&S.ring);
        sqe = io_uring_get_sqe(&S.ring);
        if (!sqe) {
            fprintf(stderr, "axle: io_uring submission queue stuck full\n");
            abort();
        }
    }
    return sqe;
}

static int io_abort(axle_task *t, void *data)
{
    (void)t;
    struct io_uring_sqe *sqe = axle__sqe();
    io_uring_prep_cancel(sqe, data, 0);
    io_uring_sqe_set_data(sqe, NULL);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    return AXLE__ABORT_FAILED; /* the original completion will wake the task */
}

int axle__io(struct io_uring_sqe *sqe)
{
    axle_task *t = axle__current();
    struct ioreq r = {t};
    io_uring_sqe_set_data(sqe, &r);
    S.inflight++;
    int res = axle__park(io_abort, &r);
    if (t->abort_requested && (res == -ECANCELED || res == -EINTR))
        return axle__cancelled(t);
    return res;
}

static void reap(void)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&S.ring, head, cqe)
    {
        n++;
        struct ioreq *r = io_uring_cqe_get_data(cqe);
        if (!r)
            continue; /* a cancel request's own failure: the original still completes */
        S.inflight--;
        axle__wake(r->task, cqe->res);
    }
    io_uring_cq_advance(&S.ring, n);
}

static void deadlock(void)
{
    fprintf(stderr,
            "axle: deadlock: %zu task(s) parked with no I/O in flight, no deadline set and "
            "nothing runnable; nothing can wake them\n",
            S.ntasks);
    abort();
}

/* Wait for I/O (blocking only when nothing is runnable) and fire timers. */
static void poll_io(void)
{
    if (S.run_head) {
        if (io_uring_sq_ready(&S.ring) || S.inflight)
            io_uring_submit_and_get_events(&S.ring);
    } else {
        struct __kernel_timespec ts, *tsp = NULL;
        if (S.heap_len) {
            int64_t d = S.heap[0]->deadline_ - axle_now();
            if (d < 0)
                d = 0;
            ts.tv_sec = d / 1000000000;
            ts.tv_nsec = d % 1000000000;
            tsp = &ts;
        } else if (!S.inflight) {
            deadlock();
        }
        struct io_uring_cqe *cqe;
        int rc = io_uring_submit_and_wait_timeout(&S.ring, &cqe, 1, tsp, NULL);
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
            fprintf(stderr, "axle: io_uring wait failed: %s\n", strerror(-rc));
            abort();
        }
    }
    reap();
    fire_timers();
}

static void loop(void)
{
    while (S.ntasks > 0) {
        poll_io();
        if (!S.run_head)
            continue;
        S.batch_left = S.run_len - 1;
        axle_task *t = run_pop();
        switch_to(NULL, t, false);
    }
}

static const char *uring_cause(int err, char *buf, size_t len)
{
    int disabled = 0;
    FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
    if (f) {
        if (fscanf(f, "%d", &disabled) != 1)
            disabled = 0;
        fclose(f);
    }
    if (err == ENOSYS)
        snprintf(buf, len,
                 "io_uring_setup: ENOSYS: the kernel has no io_uring (CONFIG_IO_URING) or a "
                 "seccomp filter hides it; axle needs Linux >= 6.1 with io_uring enabled");
    else if (err == EPERM && disabled == 2)
        snprintf(buf, len,
                 "io_uring_setup: EPERM: io_uring is disabled by sysctl "
                 "kernel.io_uring_disabled=2; set it to 0 (sysctl -w kernel.io_uring_disabled=0)");
    else if (err == EPERM && disabled == 1)
        snprintf(buf, len,
                 "io_uring_setup: EPERM: kernel.io_uring_disabled=1 allows only members of "
                 "kernel.io_uring_group; add this user to that group or set the sysctl to 0");
    else if (err == EPERM)
        snprintf(buf, len,
                 "io_uring_setup: EPERM: blocked by a seccomp filter (container runtimes' default "
                 "profiles do this); allow io_uring_setup, io_uring_enter and io_uring_register, "
                 "e.g. docker run --security-opt seccomp=<profile allowing them>");
    else if (err == ENOMEM)
        snprintf(buf, len,
                 "io_uring_setup: ENOMEM: not enough locked memory for the ring; raise "
                 "RLIMIT_MEMLOCK (ulimit -l) or use a smaller axle_run_opts.ring_entries");
    else
        snprintf(buf, len, "io_uring_setup: %s", strerror(err));
    return buf;
}

static int ring_open(unsigned entries)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    int rc = io_uring_queue_init_params(entries, &S.ring, &p);
    if (rc == -EINVAL) { /* older kernel: no SINGLE_ISSUER / DEFER_TASKRUN */
        memset(&p, 0, sizeof p);
        rc = io_uring_queue_init_params(entries, &S.ring, &p);
    }
    if (rc < 0) {
        char msg[400];
        uring_cause(-rc, msg, sizeof msg);
        axle_log_error("%s", msg);
        return AXLE_SET_ERR(-AXLE_ENOURING, "%s", msg);
    }
    struct io_uring_probe *probe = io_uring_get_probe_ring(&S.ring);
    S.have_futex = probe && probe->last_op >= IORING_OP_FUTEX_WAIT &&
                   (probe->ops[IORING_OP_FUTEX_WAIT].flags & IO_URING_OP_SUPPORTED);
    if (probe)
        io_uring_free_probe(probe);
    return 0;
}

/*
 * fork() from a task: fiber stacks are not inherited (MADV_DONTFORK, see
 * fiber.c) except the forking task's own, which the child runs on. These
 * pthread_atfork handlers lend it for the fork and take it back after.
 */
static void atfork_prepare(void)
{
    if (current)
        axle__stack_fork_share(&current->stack, true);
}

static void atfork_parent(void)
{
    if (current)
        axle__stack_fork_share(&current->stack, false);
}

int axle_run(axle_fn main, void *arg, const axle_run_opts *opts)
{
    if (S.running)
        return AXLE_SET_ERR(-EBUSY, "axle_run: a scheduler is already running in this process");
    axle_error_clear();
    axle_log_init_env();
    memset(&S, 0, sizeof S);
    S.default_stack = opts && opts->stack_size ? opts->stack_size : DEFAULT_STACK;
    int rc = ring_open(opts && opts->ring_entries ? opts->ring_entries : DEFAULT_RING);
    if (rc < 0)
        return rc;
    axle__overflow_handler_install();
    axle__shm_park_install();
    static bool atfork_set; /* fork story: inherited, and so are the handlers */
    if (!atfork_set && pthread_atfork(atfork_prepare, atfork_parent, NULL) == 0)
        atfork_set = true;
    S.running = true;
    axle_task_opts mo = {.name = "main"};
    S.main = axle__task_new(main, NULL, arg, &mo, &rc);
    if (!S.main) {
        rc = AXLE_SET_ERR(rc, "axle_run: no memory for the main task's stack");
        goto out_ring;
    }
    axle__task_ready(S.main);
    loop();
    rc = S.main_rc;
out_ring:
    io_uring_queue_exit(&S.ring);
    free(S.heap);
    axle__overflow_handler_remove();
    axle__stack_cache_drain();
    S.running = false;
    current = NULL;
    return rc;
}

void axle__sched_forget(void)
{
    if (!S.running)
        return;
    io_uring_queue_exit(&S.ring); /* checked: leaves the parent's ring working */
    axle__overflow_handler_remove();
    axle__stack_cache_forget();
    memset(&S, 0, sizeof S);
    current = NULL;
}

/* ---- the overflow reporter's lookup (called from a signal handler) ---- */

int axle__overflow_lookup(void *addr, const char **name, size_t *stack_size)
{
    axle_task *t = current;
    if (!t)
        return 0;
    char *a = addr, *guard_lo = t->stack.map, *lo = t->stack.lo;
    /* The guard page, or just below the mapping (a huge frame skipping it). */
    if (a >= guard_lo - 65536 && a < lo) {
        *name = axle_task_name(t);
        *stack_size = (size_t)((char *)t->stack.hi - lo);
        return 1;
    }
    return 0;
}

/* ---- I/O -------------------------------------------------------------- */

/* Checkpoint, then prepare an SQE; NULL and *rc set when cancelled. */
static struct io_uring_sqe *io_begin(int *rc)
{
    *rc = axle__checkpoint();
    return *rc < 0 ? NULL : axle__sqe();
}

int axle_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
    int rc;
    struct io_uring_sqe *sqe = io_begin(&rc);
    if (!sqe)
        return rc;
    io_uring_prep_accept(sqe, fd, addr, addrlen, flags);
    return axle__io(sqe);
}

int axle_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    int rc;
    struct io_uring_sqe *sqe = io_begin(&rc);
    if (!sqe)
        return rc;
    io_uring_prep_connect(sqe, fd, addr, addrlen);
    return axle__io(sqe);
}

ssize_t axle_recv(int fd, void *buf, size_t len, int flags)
{
    int rc;
    struct io_uring_sqe *sqe = io_begin(&rc);
    if (!sqe)
        return rc;
    io_uring_prep_recv(sqe, fd, buf, len, flags);
    return axle__io(sqe);
}

ssize_t axle_send(int fd, const void *buf, size_t len, int flags)
{
    int rc;
    struct io_uring_sqe *sqe = io_begin(&rc);
    if (!sqe)
        return rc;
    io_uring_prep_send(sqe, fd, buf, len, flags);
    return axle__io(sqe);
}

ssize_t axle_read(int fd, void *buf, size_t len, int64_t offset)
{
    int rc;
    struct io_uring_sqe *sqe = io_begin(&rc);
    if (!sqe)
        return rc;
    io_uring_prep_read(sqe, fd, buf, (unsigned)len, (uint64_t)offset);
    return axle__io(sqe);
}

ssize_t axle_write(int fd, const void *buf, size_t len, int64_t offset)
{
    int rc;
    struct io_uring_sqe *sqe = io_begin(&rc);
    if (!sqe)
        return rc;
    io_uring_prep_write(sqe, fd, buf, (unsigned)len, (uint64_t)offset);
    return axle__io(sqe);
}

int axle_poll(int fd, unsigned events)
{
    int rc;
    struct io_uring_sqe *sqe = io_begin(&rc);
    if (!sqe)
        return rc;
    io_uring_prep_poll_add(sqe, fd, events);
    return axle__io(sqe);
}

int axle_futex_wait(const uint32_t *word, uint32_t expected)
{
    if (!S.have_futex)
        return AXLE_SET_ERR(-ENOSYS, "axle_futex_wait: this kernel's io_uring has no "
                                     "FUTEX_WAIT (Linux >= 6.7 has it)");
    int rc;
    struct io_uring_sqe *sqe = io_begin(&rc);
    if (!sqe)
        return rc;
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_FUTEX_WAIT;
    sqe->fd = (int)AXLE_FUTEX2_SIZE_U32; /* futex2 flags; shared, so it works across processes */
    sqe->addr = (uint64_t)(uintptr_t)word;
    sqe->off = expected; /* addr2: the expected value */
    sqe->addr3 = AXLE_FUTEX_BITSET_ANY;
    return axle__io(sqe);
}

int axle_futex_wake(uint32_t *word, int n)
{
    long rc = syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
    return rc < 0 ? -errno : (int)rc;
}

/* ---- sleeping: a deadline scope around a park nobody ends -------------- */

static int sleep_abort(axle_task *t, void *data)
{
    (void)t, (void)data;
    return AXLE__ABORT_SUCCEEDED;
}

int axle_sleep_until(int64_t deadline)
{
    if (deadline <= axle_now())
        return axle_checkpoint();
    int rc = axle__checkpoint();
    if (rc < 0)
        return rc;
    axle_scope sc;
    axle_scope_open(&sc, deadline, 0);
    rc = axle__park(sleep_abort, NULL);
    return axle_scope_close(&sc, rc);
}

int axle_sleep(int64_t ns)
{
    int64_t now = axle_now();
    return axle_sleep_until(ns >= AXLE_NO_DEADLINE - now ? AXLE_NO_DEADLINE : now + ns);
}
