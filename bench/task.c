/*
 * bench/task.c — the task layer: fiber switch, task spawn, channel hand-off.
 *
 * Each axle measurement runs in one scheduler (one axle_run): a warm-up
 * round, then the timed rounds, on CPU 0 where the framework pinned the
 * process. A round is timed whole, so what it sets up (a nursery, the
 * receiver task or thread) is in the figure; the iteration counts keep
 * that below 0.1 % of a full run.
 *
 *   task.switch    Two tasks call axle_checkpoint() in a loop, n times each:
 *                  each call queues the caller on the run queue and resumes
 *                  the other. ns_per_op = round / 2n: one yield through the
 *                  scheduler (two cancellation checks, run-queue push and
 *                  pop, the context switch), not a bare register swap. With
 *                  no I/O in flight and no deadline set, the scheduler
 *                  chains its batches task to task without passing through
 *                  its own loop: this is that fast path.
 *   task.switch.loop  The same while a third task sleeps on a deadline, so
 *                  every batch (here: every second switch) returns to the
 *                  scheduler's loop, which checks the timers and the
 *                  completion queue: the cost a program with pending I/O or
 *                  timers sees.
 *   task.spawn     A nursery is opened, 100 empty tasks started with
 *                  start_soon, and the nursery closed (which runs and reaps
 *                  them); ns_per_op = per task, nursery cost amortised over
 *                  the batch. Baseline pthread: create 100 empty threads,
 *                  then join them all (threads inherit the pinning to CPU 0).
 *   task.spawn.one The same with one task per nursery (open, start one,
 *                  close): the cost of a lone `start + join`, nursery
 *                  included. Baseline pthread: create + join one thread.
 *   task.handoff   One-way hand-off of 8-byte items from one task to another
 *                  through a capacity-0 (rendezvous) memory channel: each
 *                  send returns only once the receiver has taken the item.
 *                  ns_per_op = per item. Baseline pthread_cond: the same
 *                  rendezvous between two threads pinned to CPUs 0 and 1,
 *                  with a mutex and two condition variables.
 * Comparisons are ratios of the medians: axle's ns per op ÷ the baseline's.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <axle/task.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

enum { SPAWN_BATCH = 100 };

/* A series run inside a fresh scheduler: bench_series as axle_run's main. */
struct axle_series {
    int (*round)(void *arg, uint64_t n); /* one round, run on the scheduler */
    void *arg;                           /* round's argument (borrowed) */
    uint64_t n;                          /* iterations per round */
    double ops_per_n;                    /* operations per iteration */
    double *samples;                     /* bench_reps() results */
};

static int axle_series_main(void *arg)
{
    struct axle_series *s = arg;
    return bench_series(s->round, s->arg, s->n, s->ops_per_n, s->samples);
}

static int axle_series(int (*round)(void *arg, uint64_t n), void *arg, uint64_t n, double ops_per_n,
                       double *samples)
{
    struct axle_series s = {round, arg, n, ops_per_n, samples};
    return axle_run(axle_series_main, &s, NULL);
}

/* ---- task.switch ------------------------------------------------------ */

static int yielder(void *arg)
{
    uint64_t n = *(const uint64_t *)arg;
    for (uint64_t i = 0; i < n; i++) {
        int rc = axle_checkpoint();
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int switch_round(void *arg, uint64_t n)
{
    (void)arg;
    axle_nursery *nursery;
    int rc = axle_nursery_open(&nursery);
    if (rc < 0)
        return rc;
    for (int i = 0; i < 2 && rc == 0; i++)
        rc = axle_nursery_start_soon(nursery, yielder, &n, NULL);
    return axle_nursery_close(nursery, rc);
}

static int sleeper(void *arg)
{
    (void)arg;
    return axle_sleep(3600 * INT64_C(1000000000)); /* until the round cancels it */
}

/* switch_round with a pending deadline: no batch may skip the scheduler loop. */
static int switch_loop_round(void *arg, uint64_t n)
{
    axle_nursery *outer;
    int rc = axle_nursery_open(&outer);
    if (rc < 0)
        return rc;
    rc = axle_nursery_start_soon(outer, sleeper, NULL, NULL);
    if (rc == 0)
        rc = switch_round(arg, n);
    axle_nursery_cancel(outer);
    return axle_nursery_close(outer, rc);
}

static int run_switch(void)
{
    double ns[BENCH_MAX_REPS], loop[BENCH_MAX_REPS];
    int rc = axle_series(switch_round, NULL, bench_iters(1000000), 2, ns);
    if (rc < 0)
        return rc;
    rc = axle_series(switch_loop_round, NULL, bench_iters(1000000), 2, loop);
    if (rc < 0)
        return rc;
    bench_measure("task.switch", 0, "axle", "ns_per_op", ns, bench_reps());
    bench_measure("task.switch.loop", 0, "axle", "ns_per_op", loop, bench_reps());
    return 0;
}

/* ---- task.spawn ------------------------------------------------------- */

static int empty_task(void *arg)
{
    (void)arg;
    return 0;
}

static void *empty_thread(void *arg) { return arg; }

/* n rounds of: open a nursery, start *k empty tasks, close it. */
static int spawn_round(void *k, uint64_t n)
{
    for (uint64_t r = 0; r < n; r++) {
        axle_nursery *nursery;
        int rc = axle_nursery_open(&nursery);
        if (rc < 0)
            return rc;
        for (int i = 0; i < *(const int *)k && rc == 0; i++)
            rc = axle_nursery_start_soon(nursery, empty_task, NULL, NULL);
        rc = axle_nursery_close(nursery, rc);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* n rounds of: create *k empty threads, join them all. */
static int pthread_spawn_round(void *k, uint64_t n)
{
    pthread_t threads[SPAWN_BATCH];
    for (uint64_t r = 0; r < n; r++) {
        int started = 0, err = 0;
        while (started < *(const int *)k && err == 0) {
            err = pthread_create(&threads[started], NULL, empty_thread, NULL);
            started += err == 0;
        }
        for (int i = 0; i < started; i++)
            pthread_join(threads[i], NULL);
        if (err)
            return -err;
    }
    return 0;
}

/* One form of task.spawn: k tasks per nursery against k threads per join. */
static int spawn_compare(const char *scenario, int k, uint64_t axle_rounds, uint64_t pthread_rounds)
{
    double axle[BENCH_MAX_REPS], threads[BENCH_MAX_REPS];
    int rc = axle_series(spawn_round, &k, axle_rounds, k, axle);
    if (rc < 0)
        return rc;
    rc = bench_series(pthread_spawn_round, &k, pthread_rounds, k, threads);
    if (rc < 0)
        return rc;
    double base = bench_measure(scenario, 0, "pthread", "ns_per_op", threads, bench_reps());
    double ours = bench_measure(scenario, 0, "axle", "ns_per_op", axle, bench_reps());
    bench_compare(scenario, 0, "axle", "pthread", "ratio", ours / base);
    return 0;
}

static int run_spawn(void)
{
    int rc = spawn_compare("task.spawn", SPAWN_BATCH, bench_iters(1000), bench_iters(10));
    if (rc < 0)
        return rc;
    return spawn_compare("task.spawn.one", 1, bench_iters(50000), bench_iters(1000));
}

/* ---- task.handoff ----------------------------------------------------- */

static int chan_receiver(void *arg)
{
    axle_chan_rx *rx = arg;
    uint64_t item, expect = 0;
    int rc;
    while ((rc = axle_chan_recv(rx, &item)) == 0) {
        if (item != expect++)
            return AXLE_SET_ERR(-EBADMSG, "expected item %llu, got %llu",
                                (unsigned long long)expect - 1, (unsigned long long)item);
    }
    return rc == -AXLE_EEOC ? 0 : rc;
}

/* Sends n items 0..n-1 to a receiver task over a rendezvous channel. */
static int handoff_round(void *arg, uint64_t n)
{
    (void)arg;
    axle_chan_tx *tx;
    axle_chan_rx *rx;
    axle_nursery *nursery;
    int rc = axle_chan_open(&tx, &rx, sizeof(uint64_t), 0);
    if (rc < 0)
        return rc;
    rc = axle_nursery_open(&nursery);
    if (rc < 0)
        goto out_close_chan;
    rc = axle_nursery_start_soon(nursery, chan_receiver, rx, NULL);
    for (uint64_t i = 0; i < n && rc == 0; i++)
        rc = axle_chan_send(tx, &i);
    axle_chan_tx_close(tx); /* the receiver sees -AXLE_EEOC and returns */
    rc = axle_nursery_close(nursery, rc);
    axle_chan_rx_close(rx);
    return rc;

out_close_chan:
    axle_chan_tx_close(tx);
    axle_chan_rx_close(rx);
    return rc;
}

/* The pthread baseline's one-item slot. Invariant: full and item change only under mu. */
struct slot {
    pthread_mutex_t mu;
    pthread_cond_t filled; /* signalled when full becomes true */
    pthread_cond_t taken;  /* signalled when full becomes false */
    bool full;             /* item is waiting for the receiver */
    uint64_t item;         /* the item on offer while full */
    uint64_t n;            /* items in the round */
    bool bad;              /* an item arrived out of order */
};

static void *cond_receiver(void *arg)
{
    struct slot *s = arg;
    bench_pin(1);
    for (uint64_t i = 0; i < s->n; i++) {
        pthread_mutex_lock(&s->mu);
        while (!s->full)
            pthread_cond_wait(&s->filled, &s->mu);
        s->bad |= s->item != i;
        s->full = false;
        pthread_cond_signal(&s->taken);
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

/* Sends n items from this thread (CPU 0) to a receiver thread on CPU 1. */
static int cond_handoff_round(void *arg, uint64_t n)
{
    (void)arg;
    struct slot s = {.mu = PTHREAD_MUTEX_INITIALIZER,
                     .filled = PTHREAD_COND_INITIALIZER,
                     .taken = PTHREAD_COND_INITIALIZER,
                     .n = n};
    pthread_t receiver;
    int err = pthread_create(&receiver, NULL, cond_receiver, &s);
    if (err)
        return -err;
    for (uint64_t i = 0; i < n; i++) {
        pthread_mutex_lock(&s.mu);
        s.item = i;
        s.full = true;
        pthread_cond_signal(&s.filled);
        while (s.full)
            pthread_cond_wait(&s.taken, &s.mu);
        pthread_mutex_unlock(&s.mu);
    }
    pthread_join(receiver, NULL);
    return s.bad ? -EBADMSG : 0;
}

static int run_handoff(void)
{
    double axle[BENCH_MAX_REPS], cond[BENCH_MAX_REPS];
    int rc = axle_series(handoff_round, NULL, bench_iters(500000), 1, axle);
    if (rc < 0)
        return rc;
    rc = bench_series(cond_handoff_round, NULL, bench_iters(2000), 1, cond);
    if (rc < 0)
        return rc;
    double base = bench_measure("task.handoff", 8, "pthread_cond", "ns_per_op", cond, bench_reps());
    double ours = bench_measure("task.handoff", 8, "axle", "ns_per_op", axle, bench_reps());
    bench_compare("task.handoff", 8, "axle", "pthread_cond", "ratio", ours / base);
    return 0;
}

const bench_scenario bench_task_scenarios[] = {
    {"task.switch", "yield between two tasks (axle_checkpoint), idle loop and with a timer",
     run_switch},
    {"task.spawn", "start + join an empty task, batches of 100 and one at a time, vs pthread",
     run_spawn},
    {"task.handoff", "8-byte item through a rendezvous channel, vs pthread mutex+condvar",
     run_handoff},
    {0},
};
