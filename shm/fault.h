/*
 * shm/fault.h — deterministic fault points for the shm rings (internal).
 *
 * A fault point marks a place where a writer dying is interesting: after
 * a reservation, half-way through copying a record in, just before a
 * record is published. A test arms one point in the process that will
 * die (a forked writer): at the point's nth hit the process raises a
 * signal on itself (SIGKILL: nothing of ours runs after it). The fault
 * tests (tests/integ/test_shm_fault.c) then prove what a peer sees.
 *
 * Compiled in only with the CMake option AXLE_FAULT_POINTS (the test
 * builds); otherwise AXLE__SHM_FAULT expands to nothing and the arm hook
 * does not exist, so the Release and bench builds pay nothing. The hook is
 * exported (AXLE_API) from such builds' libaxle.so and libaxle-shm.so, so
 * the tests link the shared library as users do: a test linking libaxle.a
 * would lose core/shm_park.c, which nothing references (it installs the
 * task park hook from a constructor), and park whole threads.
 *
 * Fork story: the armed point and its hit count are per process; a child
 * forked after arming inherits them (arm in the child that should die).
 */
#ifndef AXLE_SHM_FAULT_H
#define AXLE_SHM_FAULT_H

#include <axle/api.h>

/* Where a fault can be injected. */
typedef enum axle__shm_fp {
    AXLE__FP_AFTER_RESERVE = 1,  /* SPSC: a reservation succeeded, nothing written yet */
    AXLE__FP_MID_COPY = 2,       /* SPSC send: half the payload copied into the ring */
    AXLE__FP_BEFORE_COMMIT = 3,  /* SPSC commit: record header written, head not yet stored */
    AXLE__FP_BCAST_MID_COPY = 4, /* broadcast publish: intent stored, half the payload copied */
    AXLE__FP_COUNT
} axle__shm_fp;

#ifdef AXLE_FAULT_POINTS

/*
 * axle__shm_fault_arm — at the nth hit (1 = the next one) of point from
 * now on, raise(sig) on the calling process. Arming again replaces the
 * armed point and restarts its count; nth 0 disarms.
 */
AXLE_API void axle__shm_fault_arm(axle__shm_fp point, unsigned long nth, int sig);

/* The armed point, or 0; read inline so an unarmed hit costs one load. */
extern int axle__shm_fault_armed;
void axle__shm_fault_hit(axle__shm_fp point);

#define AXLE__SHM_FAULT(point)                                          \
    do {                                                                \
        if (__builtin_expect(axle__shm_fault_armed == (int)(point), 0)) \
            axle__shm_fault_hit(point);                                 \
    } while (0)

#else

#define AXLE__SHM_FAULT(point) ((void)0)

#endif

#endif
