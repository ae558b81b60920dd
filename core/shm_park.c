/*
 * core/shm_park.c — the shm ring's blocking calls, parked the task way.
 *
 * shm/ring.c parks with FUTEX_WAIT when used alone (libaxle-shm). Inside
 * libaxle it gets this hook: on a task it parks with the io_uring futex
 * wait under a scope holding the call's deadline, so the scheduler keeps
 * running other tasks and a cancel reaches the waiter. Off a task (a plain
 * thread, or before axle_run) it declines and the ring blocks the thread.
 */
#include "sched.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

typedef int (*axle__shm_park_fn)(uint32_t *word, uint32_t expected, int64_t deadline_ns);
void axle__shm_set_park(axle__shm_park_fn fn); /* shm/ring.c */
bool axle__in_task(void);                      /* sched.c */

static int park(uint32_t *word, uint32_t expected, int64_t deadline_ns)
{
    if (!axle__in_task())
        return 1;
    axle_scope sc;
    axle_scope_open(&sc, deadline_ns < 0 ? AXLE_NO_DEADLINE : deadline_ns, 0);
    int rc = axle_futex_wait(word, expected);
    rc = axle_scope_close(&sc, rc); /* our deadline: 0, the caller re-checks */
    if (rc == -ENOSYS)              /* no io_uring futex here: block the thread instead */
        return 1;
    return rc == -ECANCELED ? rc : 0;
}

/* Called by axle_run (not a constructor: a static link would leave this
 * file out, and ring waits on tasks would block the whole thread). */
void axle__shm_park_install(void) { axle__shm_set_park(park); }
