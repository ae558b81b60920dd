/*
 * axle/topic.h — a broadcast stream across processes: one actor publishes
 * into a shared-memory broadcast ring under a key, and any number of
 * actors on the same host subscribe by that key, each reading the whole
 * sequence at its own pace (tractor §10's shm broadcast, as a stream).
 *
 * The publisher never waits for subscribers: a subscriber that falls more
 * than the ring's capacity behind is told how many records it missed
 * (-AXLE_ELAGGED) and goes on from the oldest record still intact. The
 * end of the stream is the publisher's close (or its actor's end): every
 * subscriber reads what was published, then gets -AXLE_EEOC. A publisher
 * that dies instead (SIGKILL, a crash) gives -AXLE_ETRANSPORT after its
 * last record.
 *
 * The ring is the segment /dev/shm/axle.<publisher pid>.topic.<key>; its
 * name goes at close, and at the publisher actor's exit whatever happens.
 * One live publisher per key and host.
 *
 * Every call runs on an axle task (inside axle_run or an actor); the
 * waits park only the task and are cancellation points.
 */
#ifndef AXLE_TOPIC_H
#define AXLE_TOPIC_H

#include <axle/actor.h>
#include <axle/api.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct axle_topic axle_topic;

/*
 * axle_topic_publish — become the publisher of key on this host.
 *   key: borrows; 1 to 64 bytes of [A-Za-z0-9._-].
 *   capacity: the ring's data bytes (a power of two from 64 B to 1 GiB;
 *     0: 1 MiB). A record carries at most axle_topic_max_record() bytes.
 *   out: the publisher (returns owned; axle_topic_close).
 * Returns: 0.
 * Errors: -EINVAL bad key or capacity; -EEXIST a live process publishes
 *   key already (the message names it); the errors of axle_bcast_create
 *   (-ENOSPC, -ENOMEM, ...).
 * Checkpoint: no.
 */
AXLE_API int axle_topic_publish(const char *key, size_t capacity, axle_topic **out);

/*
 * axle_topic_subscribe — read key's stream from the next record published.
 *   timeout_ns: how long to wait for a publisher to appear (0: not at all;
 *     < 0: forever).
 *   out: the subscriber (returns owned; axle_topic_close).
 * Returns: 0.
 * Errors: -EINVAL bad key; -ENOENT no publisher of key (timeout 0);
 *   -ETIMEDOUT none appeared in time; -ECANCELED; the errors of
 *   axle_bcast_attach (-AXLE_ESHMCORRUPT, ...).
 * Checkpoint: yes.
 */
AXLE_API int axle_topic_subscribe(const char *key, int64_t timeout_ns, axle_topic **out);

/*
 * axle_topic_send — the publisher: publish len bytes as one record. Never
 * waits (the oldest records are overwritten when the ring is full).
 * Returns: 0.
 * Errors: -EPERM a subscriber's handle; -EMSGSIZE len > axle_topic_max_record().
 * Checkpoint: no (and it never yields: a publisher in a loop must yield
 *   itself now and then for its actor's other tasks to run).
 */
AXLE_API int axle_topic_send(axle_topic *t, const void *data, size_t len);

/*
 * axle_topic_recv — a subscriber: the next record into out.
 *   missed: with -AXLE_ELAGGED, how many records were overwritten before
 *     this subscriber read them (may be NULL).
 * Returns: 0.
 * Errors: -AXLE_ELAGGED (the next call returns the oldest intact record);
 *   -AXLE_EEOC the publisher closed and every record has been read (and on
 *   every later call); -AXLE_ETRANSPORT the publisher died, likewise;
 *   -EPERM the publisher's handle; -ENOMEM; -ECANCELED;
 *   -AXLE_ESHMCORRUPT a damaged ring.
 * Checkpoint: yes; every 64 records it also yields to the actor's other tasks.
 */
AXLE_API int axle_topic_recv(axle_topic *t, axle_buf *out, uint64_t *missed);

/* The same without waiting: -EAGAIN when nothing new is there (a dead
 * publisher is noticed within 10 ms of polling, after its last record, as
 * -AXLE_ETRANSPORT). Checkpoint: no. */
AXLE_API int axle_topic_recv_nowait(axle_topic *t, axle_buf *out, uint64_t *missed);

/* The largest record, in bytes. */
AXLE_API size_t axle_topic_max_record(const axle_topic *t);
/* The publisher's pid. */
AXLE_API pid_t axle_topic_publisher(const axle_topic *t);

/*
 * axle_topic_close — end the handle. The publisher's close ends the stream
 * for its subscribers (they read what is left, then -AXLE_EEOC) and
 * removes the ring's name. NULL: no-op. Invalidates t.
 */
AXLE_API void axle_topic_close(axle_topic *t);

#ifdef __cplusplus
}
#endif

#endif
