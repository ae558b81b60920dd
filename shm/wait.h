/*
 * shm/wait.h — what the shm waits share (internal): the clock, the
 * busy-wait hint, and the park step that goes through libaxle's io_uring
 * hook on a task or FUTEX_WAIT elsewhere (defined in ring.c).
 */
#ifndef AXLE_SHM_WAIT_H
#define AXLE_SHM_WAIT_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. */
static inline int64_t axle__shm_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One busy-wait step. */
static inline void axle__shm_relax(void)
{
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/*
 * axle__shm_park — park on the shared futex word while it holds expected,
 * until the absolute CLOCK_MONOTONIC deadline until (now: the time the
 * caller already read); on a task through the hook libaxle installs, so
 * only the task waits.
 * Returns: 0 after a wake-up, a changed word, a signal or the deadline
 *   (the caller re-checks).  Errors: -ECANCELED (on a task).
 * Checkpoint: yes, on a task.
 */
int axle__shm_park(uint32_t *word, uint32_t expected, int64_t until, int64_t now);

#endif
