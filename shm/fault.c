/*
 * shm/fault.c — the fault points' state (see fault.h). Empty unless the
 * build defines AXLE_FAULT_POINTS.
 *
 * One point is armed at a time, in one process; hits are counted only for
 * that point. Not thread-safe by design: the writer under test is one
 * thread, and a count that raced would only move the fault by one hit.
 */
#include "fault.h"

#ifdef AXLE_FAULT_POINTS
#include <signal.h>

int axle__shm_fault_armed; /* the armed axle__shm_fp, 0: none */
static unsigned long left; /* hits to go before the fault, counting this one */
static int fault_sig;      /* what to raise */

void axle__shm_fault_arm(axle__shm_fp point, unsigned long nth, int sig)
{
    axle__shm_fault_armed = nth ? (int)point : 0;
    left = nth;
    fault_sig = sig;
}

void axle__shm_fault_hit(axle__shm_fp point)
{
    if (axle__shm_fault_armed != (int)point || --left > 0)
        return;
    axle__shm_fault_armed = 0;
    raise(fault_sig);
}
#else
typedef int axle__shm_fault_unused; /* ISO C wants a declaration in every unit */
#endif
