/*
 * core/sync/sync.h — what the synchronisation primitives share. Private.
 *
 * The public structs of task.h carry their wait queue as `void *waiters_[2]`
 * so that core/sched.h stays private; this header is the one place that
 * turns that field back into an axle__waitq.
 */
#ifndef AXLE_CORE_SYNC_SYNC_H
#define AXLE_CORE_SYNC_SYNC_H

#include <errno.h>
#include <stdalign.h>
#include <stddef.h>

#include "../sched.h"

_Static_assert(sizeof(((axle_event *)0)->waiters_) == sizeof(axle__waitq),
               "waiters_ must have the size of axle__waitq");
_Static_assert(alignof(void *) >= alignof(axle__waitq), "waiters_ must be aligned for axle__waitq");
_Static_assert(offsetof(axle__waitq, head) == 0 && offsetof(axle__waitq, tail) == sizeof(void *),
               "axle__waitq must be two pointers, head then tail");

/* The wait queue stored in a public struct's waiters_ field. */
#define AXLE__SYNC_Q(obj) ((axle__waitq *)(void *)(obj)->waiters_)

/*
 * The struct that contains member `m` at address p. (Unformatted: clang-format
 * 14 reads `(char *)(p) - x` as a cast of -x and glues the minus on.)
 */
/* clang-format off */
#define AXLE__CONTAINER_OF(p, type, m) ((type *)(void *)((char *)(p) - offsetof(type, m)))
/* clang-format on */

#endif
