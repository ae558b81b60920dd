/*
 * axle/shm.h — shared-memory segments and single-producer/single-consumer
 * rings. Needs nothing but libc and the kernel: it is part of libaxle and
 * also builds alone as libaxle-shm for programs that embed only the channel.
 *
 * Segments. A segment is the POSIX shm object /dev/shm/axle.<owner-pid>.<key>.
 * The creating process owns it and unlinks it on close; the owner pid in the
 * name lets axle_shm_reap() remove segments whose owner has died and that
 * nobody maps. Space is
 * reserved at creation, so a full /dev/shm fails there with -ENOSPC instead
 * of a SIGBUS on first touch.
 *
 * Keys: 1 to AXLE_SHM_KEY_MAX bytes of [A-Za-z0-9._-], not starting with '.'.
 *
 * Rings. An SPSC ring lives in its own segment (named by the ring's key):
 * a frozen header, the producer's and the consumer's cursors on their own
 * cache lines, then a power-of-two data area. Records are length-prefixed
 * and 8-byte aligned and never wrap (a padding record fills the end of the
 * area when a record would cross it); one record carries at most
 * axle_ring_max_record() bytes. A fixed ring (axle_ring_create_fixed)
 * carries records of one size without the prefix. Everything the peer wrote is untrusted:
 * attach validates the header and every index read from the segment is
 * bounds-checked; a corrupt or hostile segment gives -AXLE_ESHMCORRUPT.
 *
 * Waiting. A blocking call spins a configurable number of iterations, then
 * parks on a shared futex word until the peer wakes it or its timeout
 * passes. Timeouts are relative, in nanoseconds; a negative timeout waits
 * forever, zero tries once. Where it parks:
 *   - in a program using libaxle-shm alone, or on a thread that is not an
 *     axle task: FUTEX_WAIT, blocking the thread;
 *   - in a task of libaxle's scheduler: the io_uring futex wait, so other
 *     tasks run meanwhile, and the wait is a cancellation point: it fails
 *     with -ECANCELED when the task is cancelled (nothing is taken or sent).
 *     A call that finds a record (or room) at once does not wait, so it
 *     neither checks for cancellation nor yields: a task that always finds
 *     data must call axle_checkpoint() now and then itself, or its actor's
 *     other tasks (the message loop that carries cancels) never run. The
 *     runtime's shm streams and topics (<axle/context.h>, <axle/topic.h>)
 *     do that for their users.
 *
 * Fork story: a handle is per process. A forked child must not use or close
 * its parent's handles (close in a child never unlinks: only the creating
 * pid unlinks); it creates or attaches its own.
 *
 * Errors are negative errno values or AXLE_E* codes; axle_strerror and
 * axle_errname (<axle/error.h>) describe them, and libaxle-shm carries both
 * (examples/shm_pair.c is a program linking it alone).
 */
#ifndef AXLE_SHM_H
#define AXLE_SHM_H

#include <axle/api.h>
#include <axle/error.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest key, in bytes (without the terminating NUL). */
#define AXLE_SHM_KEY_MAX 200

/* ---------------------------------------------------------------- segments */

typedef struct axle_shm axle_shm;

/*
 * axle_shm_create — create and map a new segment /dev/shm/axle.<pid>.<key>,
 * owned by the calling process (mode 0600, O_EXCL, zero-filled).
 *   out:  receives the handle (returns owned; release with axle_shm_close).
 *   key:  borrows; validated as above.
 *   size: bytes, > 0.
 * Returns: 0.
 * Errors: -EINVAL bad key or size 0; -EEXIST this process already has a
 *   segment with that key; -ENOSPC /dev/shm has no room for size bytes;
 *   -ENOMEM; other negated errnos of shm_open, fallocate or mmap.
 *   On error nothing is left under /dev/shm.
 * Checkpoint: no.
 */
AXLE_API int axle_shm_create(axle_shm **out, const char *key, size_t size);

/*
 * axle_shm_attach — map the existing segment that process owner created
 * with key. The size is the segment's current size.
 *   out: receives the handle (returns owned; release with axle_shm_close).
 *   key: borrows.  owner: the creator's pid.
 * Returns: 0.
 * Errors: -EINVAL bad key or owner <= 0; -ENOENT no such segment;
 *   -EACCES not ours to open; -AXLE_ESHMCORRUPT the object is empty;
 *   -ENOMEM; other negated errnos of shm_open or mmap.
 * Checkpoint: no.
 */
AXLE_API int axle_shm_attach(axle_shm **out, const char *key, pid_t owner);

/*
 * axle_shm_close — unmap and free. When called by the creating process it
 * also unlinks the name (peers that have it mapped keep their mapping).
 * Never fails, never blocks. NULL is a no-op.
 *   s: invalidates.
 */
AXLE_API void axle_shm_close(axle_shm *s);

/* The mapping's first byte, its size, its name ("/axle.<pid>.<key>"), and
 * the owner's pid. s: borrows; the results live until axle_shm_close. */
AXLE_API void *axle_shm_base(const axle_shm *s);
AXLE_API size_t axle_shm_size(const axle_shm *s);
AXLE_API const char *axle_shm_name(const axle_shm *s);
AXLE_API pid_t axle_shm_owner(const axle_shm *s);

/*
 * axle_shm_create_memfd — the alternative to a named segment: an anonymous
 * memfd of size bytes (space reserved like a named one: -ENOSPC up
 * front), sealed against shrinking and growing, that reaches another
 * process as an fd over a Unix socket (axle_shm_send_fd). Nothing is
 * created under /dev/shm, so there is nothing to unlink or reap: the
 * memory goes when the last process holding the fd or a mapping lets go.
 *   key: names it in /proc/<pid>/fd listings only; validated as above.
 * Returns: 0.  Errors: -EINVAL; -ENOSPC; -ENOMEM; other negated errnos of
 *   memfd_create, fallocate, fcntl or mmap.
 * Checkpoint: no.
 */
AXLE_API int axle_shm_create_memfd(axle_shm **out, const char *key, size_t size);

/* A memfd segment's fd (borrowed, valid until axle_shm_close), or -1 for a named one. */
AXLE_API int axle_shm_fd(const axle_shm *s);

/*
 * axle_shm_attach_fd — map a memfd segment received from another process.
 *   fd: borrowed (the handle keeps its own duplicate).
 * Returns: 0.
 * Errors: -AXLE_ESHMCORRUPT the fd is not a memfd sealed against resizing
 *   (its size could change under the mapping) or is empty; other negated
 *   errnos of fcntl, fstat or mmap.
 * Checkpoint: no.
 */
AXLE_API int axle_shm_attach_fd(axle_shm **out, int fd);

/*
 * axle_shm_send_fd / axle_shm_recv_fd — pass a memfd segment over a
 * connected Unix socket (one byte and the fd as SCM_RIGHTS), and map one
 * received (as axle_shm_attach_fd). Blocking; no checkpoint.
 * Returns: 0.  Errors: send: -EINVAL for a named segment (it travels by
 *   key), -errno of sendmsg; recv: -EPIPE the sender is gone, -EPROTO no
 *   fd came, -errno of recvmsg, and attach's errors.
 */
AXLE_API int axle_shm_send_fd(int sock, const axle_shm *s);
AXLE_API int axle_shm_recv_fd(int sock, axle_shm **out);

/*
 * axle_shm_reap — unlink every /dev/shm/axle.<pid>.* whose owner pid no
 * longer exists (kill(pid, 0) fails with ESRCH) and that no process maps
 * (per the /proc/<pid>/maps this process can read: a segment mapped only
 * by another user's process is not seen as mapped). A root actor runs it
 * at startup, so segments of a tree killed outright (grandchildren of a
 * SIGKILLed child) go with the next run.
 * Returns: the number of segments removed.
 * Errors: negated errno of opendir("/dev/shm"); -ENOMEM.
 * Checkpoint: no.
 */
AXLE_API int axle_shm_reap(void);

/*
 * axle_shm_unlink_owned — unlink every /dev/shm/axle.<owner>.*, alive or
 * not: what an actor's runtime does at its own exit (normal, error or
 * cancel) and, for a child it reaped, with the child's pid, so segments
 * never outlive their actor. Mappings stay valid; a later close by the
 * owner finds the name gone and carries on.
 * Returns: the number of names removed.
 * Errors: -EINVAL owner <= 0; negated errno of opendir("/dev/shm"); -ENOMEM.
 * Checkpoint: no.
 */
AXLE_API int axle_shm_unlink_owned(pid_t owner);

/* ------------------------------------------------------------------- rings */

typedef struct axle_ring axle_ring;

/* Which end of a ring a handle is. Each end has at most one holder. */
typedef enum axle_ring_role {
    AXLE_RING_PRODUCER = 1,
    AXLE_RING_CONSUMER = 2,
} axle_ring_role;

/* Default busy-wait iterations before a blocking call parks. */
#define AXLE_RING_SPIN_DEFAULT 2000u

/*
 * axle_ring_create — create a ring in a new segment named by key, owned by
 * the calling process, and take one end of it.
 *   out:      receives the handle (returns owned; axle_ring_close).
 *   key:      borrows; a segment key (see above).
 *   capacity: data-area bytes, rounded up to a power of two, at least 64,
 *             at most 1 GiB.
 *   role:     the end the creator takes.
 * Returns: 0.
 * Errors: -EINVAL bad key, capacity or role; -EEXIST, -ENOSPC, -ENOMEM and
 *   the other errors of axle_shm_create.
 * Checkpoint: no.
 */
AXLE_API int axle_ring_create(axle_ring **out, const char *key, size_t capacity,
                              axle_ring_role role);

/*
 * axle_ring_create_fixed — a ring whose records all have record_size bytes,
 * for programs that pass one fixed struct (a tick, an order): no length
 * prefix, so each record takes record_size rounded up to 8 bytes instead
 * of that plus 8, which halves the memory an 8-byte record moves. Every
 * call works on it as on any ring, with these differences: a record sent
 * or reserved must be exactly record_size bytes (-EMSGSIZE otherwise:
 * pad shorter messages yourself), and every record received or peeked is
 * record_size bytes. Its header is version 2, which attach of this library
 * accepts and libraries older than it refuse.
 *   record_size: 1 to half the capacity (after rounding), in bytes.
 * Returns: 0.
 * Errors: -EINVAL record_size 0 or more than half the capacity; those of
 *   axle_ring_create.
 * Checkpoint: no.
 */
AXLE_API int axle_ring_create_fixed(axle_ring **out, const char *key, size_t capacity,
                                    size_t record_size, axle_ring_role role);

/*
 * axle_ring_attach — attach the ring that process owner created with key,
 * validate its header and claim one end.
 *   out: receives the handle (returns owned; axle_ring_close).
 *   key: borrows.  owner: the creator's pid.  role: the end to claim.
 * Returns: 0.
 * Errors: -EINVAL bad key, owner or role; -ENOENT no such ring;
 *   -EAGAIN the creator has not finished initialising it;
 *   -AXLE_ESHMCORRUPT bad magic, version, layout size, capacity, record
 *   size (fixed rings), sizes that disagree with the segment's, or cursors
 *   out of range;
 *   -EBUSY that end is held by a live process (the end of a holder that died
 *   without closing it is taken over); -ENOMEM; errors of axle_shm_attach.
 * Checkpoint: no.
 */
AXLE_API int axle_ring_attach(axle_ring **out, const char *key, pid_t owner, axle_ring_role role);

/*
 * Rings in a segment of your own: a sealed memfd (axle_shm_create_memfd),
 * so that nothing is named under /dev/shm and the ring reaches its peer
 * as an fd over a Unix socket, or any segment made for the purpose.
 * axle_ring_segment_size gives the segment size a capacity needs (0 for a
 * capacity axle_ring_create would refuse). axle_ring_create_on writes a
 * new ring over seg (all of it: its size must be exactly
 * axle_ring_segment_size of a capacity; nobody may be using it) and takes
 * an end; record_size 0 makes an ordinary ring, more a fixed ring as
 * axle_ring_create_fixed. axle_ring_attach_on validates the ring in seg
 * (for instance one from axle_shm_recv_fd) and claims an end, as
 * axle_ring_attach. axle_ring_segment is the segment under any ring, to
 * pass with axle_shm_send_fd.
 *   seg: on success the ring owns it (axle_ring_close closes it); on
 *        failure it stays the caller's.
 * Returns: 0.
 * Errors: create_on: -EINVAL seg NULL, a size that is not a ring's, a bad
 *   record_size or role; -ENOMEM. attach_on: -EINVAL seg NULL or a bad
 *   role; -EAGAIN the segment holds no ring yet (all zero); then as
 *   axle_ring_attach.
 * Checkpoint: no.
 */
AXLE_API size_t axle_ring_segment_size(size_t capacity);
AXLE_API int axle_ring_create_on(axle_ring **out, axle_shm *seg, size_t record_size,
                                 axle_ring_role role);
AXLE_API int axle_ring_attach_on(axle_ring **out, axle_shm *seg, axle_ring_role role);
/* r: borrows; the segment lives until axle_ring_close. */
AXLE_API const axle_shm *axle_ring_segment(const axle_ring *r);

/*
 * axle_ring_close — give up this end (the peer may claim it again), drop an
 * uncommitted reservation or an unreleased peek, unmap, free; the creator
 * also unlinks the segment's name. Never fails, never blocks. NULL: no-op.
 *   r: invalidates.
 */
AXLE_API void axle_ring_close(axle_ring *r);

/* Data-area bytes; largest payload one record can carry (capacity - 8, or
 * a fixed ring's record size); a fixed ring's record size (0: any length). */
AXLE_API size_t axle_ring_capacity(const axle_ring *r);
AXLE_API size_t axle_ring_max_record(const axle_ring *r);
AXLE_API size_t axle_ring_record_size(const axle_ring *r);

/* Busy-wait iterations before a blocking call parks on the futex (0: park
 * at once). Per handle. */
AXLE_API void axle_ring_set_spin(axle_ring *r, unsigned iterations);

/* What axle_ring_send does when the ring has no room (the writer's overrun policy). */
typedef enum axle_overrun {
    AXLE_OVERRUN_BLOCK = 0, /* wait for room (back-pressure), up to the timeout: the default */
    AXLE_OVERRUN_ERROR = 1, /* fail at once with -AXLE_EOVERRUN; nothing is sent */
    AXLE_OVERRUN_DRAIN = 2  /* keep the record in a local queue, in order, until room
                               appears; axle_ring_drain (or any later send) pushes it */
} axle_overrun;

/* Default bound on the drain queue, in payload bytes. */
#define AXLE_RING_DRAIN_MAX_DEFAULT ((size_t)16 << 20)

/*
 * axle_ring_set_overrun — the producer's overrun policy for axle_ring_send
 * and axle_ring_send_nowait (reserve/commit always behave as BLOCK).
 *   drain_max: DRAIN's bound on queued payload bytes (0: the default);
 *     past it a send fails with -AXLE_EOVERRUN: nothing is lost silently.
 * Returns: 0.  Errors: -EPERM not the producer; -EINVAL unknown policy;
 *   -EBUSY leaving DRAIN while records are still queued.
 */
AXLE_API int axle_ring_set_overrun(axle_ring *r, axle_overrun policy, size_t drain_max);

/*
 * axle_ring_drain — push queued records (DRAIN) into the ring while they
 * fit, oldest first; never blocks. Call it when the consumer may have made
 * room (a drainer task or the producer's own loop). Records still queued at
 * axle_ring_close are dropped: drain to 0 before closing.
 * Returns: the number of records still queued.
 * Errors: -EPERM not the producer; -AXLE_ESHMCORRUPT.
 */
AXLE_API int axle_ring_drain(axle_ring *r);
/*
 * axle_ring_drain_wait — push every queued record (DRAIN), waiting for the
 * consumer to make room as needed: what a drainer task runs, and what to
 * call before axle_ring_close so nothing queued is dropped. Waits as the
 * blocking calls do (on a libaxle task: parks only the task, and is a
 * cancellation point; records pushed stay pushed).
 * Returns: 0, the queue is empty.
 * Errors: -ETIMEDOUT (timeout_ns as for axle_ring_send); -EOWNERDEAD the
 *   consumer died; -ECANCELED; -EPERM not the producer; -AXLE_ESHMCORRUPT.
 */
AXLE_API int axle_ring_drain_wait(axle_ring *r, int64_t timeout_ns);
/* Records waiting in the drain queue. */
AXLE_API size_t axle_ring_queued(const axle_ring *r);

/*
 * axle_ring_reserve — producer: reserve room for a len-byte record and
 * return where to write it; nothing is visible to the consumer until
 * axle_ring_commit. One reservation at a time.
 *   buf: receives a pointer into the ring, 8-byte aligned, valid for len
 *        bytes until commit or close (borrows the ring's memory).
 *   timeout_ns: < 0 wait forever; 0 try once; > 0 relative bound.
 * When the record would cross the end of the data area, a padding record
 * to the end is published first and the record starts at the beginning;
 * it fits only once the consumer has moved past the padding, so the
 * _nowait form can return -EAGAIN even though the consumer has taken every
 * record (a consumer's peek or recv skips the padding by itself).
 * Returns: 0.
 * Errors: -EPERM not the producer; -EINVAL a reservation is already open;
 *   -EMSGSIZE len > axle_ring_max_record() (a fixed ring: len is not its
 *   record size); -ETIMEDOUT no room in time
 *   (the _nowait form: -EAGAIN); -AXLE_ESHMCORRUPT the consumer's cursor is
 *   out of range; -EOWNERDEAD the consumer's process died while we waited
 *   for room (noticed within 100 ms; the blocking form only).
 * Checkpoint: when it has to wait, inside an axle task (then also
 *   -ECANCELED); otherwise it blocks the thread (see "Waiting" above).
 */
AXLE_API int axle_ring_reserve(axle_ring *r, size_t len, void **buf, int64_t timeout_ns);
AXLE_API int axle_ring_reserve_nowait(axle_ring *r, size_t len, void **buf);

/*
 * axle_ring_commit — producer: publish the reserved record and wake a
 * parked consumer.
 * Returns: 0.  Errors: -EPERM not the producer; -EINVAL nothing reserved.
 */
AXLE_API int axle_ring_commit(axle_ring *r);

/*
 * axle_ring_peek — consumer: the oldest record, in place, without consuming
 * it. Peeking again before axle_ring_release returns the same record.
 *   buf: receives a pointer into the ring, valid until release or close;
 *        the peer cannot overwrite it before release.
 *   len: receives the record's length (0 for an empty record).
 *   timeout_ns: as for axle_ring_reserve.
 * Returns: 0.
 * Errors: -EPERM not the consumer; -ETIMEDOUT nothing arrived in time (the
 *   _nowait form: -EAGAIN); -AXLE_ESHMCORRUPT the producer's cursor or a
 *   record header is out of range; -EOWNERDEAD the producer's process died
 *   and every record it committed has been taken (a record it reserved but
 *   never committed is never seen; noticed within 100 ms; blocking form).
 * Checkpoint: as axle_ring_reserve (the blocking form inside an axle task).
 */
AXLE_API int axle_ring_peek(axle_ring *r, const void **buf, size_t *len, int64_t timeout_ns);
AXLE_API int axle_ring_peek_nowait(axle_ring *r, const void **buf, size_t *len);

/*
 * axle_ring_release — consumer: consume the peeked record (every record of
 * the last axle_ring_peek_batch), freeing its room, and wake a parked
 * producer.
 * Returns: 0.  Errors: -EPERM not the consumer; -EINVAL nothing peeked.
 */
AXLE_API int axle_ring_release(axle_ring *r);

/*
 * Batching. axle_ring_commit_deferred is axle_ring_commit without making
 * the record visible: it is published by the next axle_ring_commit or
 * axle_ring_flush, by axle_ring_close, or as soon as the ring is full (a
 * reserve that finds no room publishes first, so a waiting consumer never
 * misses them). axle_ring_release_deferred and axle_ring_flush do the same
 * for the consumer's releases (published at the latest when the ring is
 * empty). A batch of records thus costs one cursor store and one wake-up
 * check instead of one per record. Errors as axle_ring_commit /
 * axle_ring_release. axle_ring_flush never blocks and never fails.
 */
AXLE_API int axle_ring_commit_deferred(axle_ring *r);
AXLE_API int axle_ring_release_deferred(axle_ring *r);
AXLE_API void axle_ring_flush(axle_ring *r);

/*
 * axle_ring_send_batch — producer: copy n records, iov[i].iov_len bytes
 * from iov[i].iov_base each, in order, as far as they fit, and publish
 * them with one cursor store and one wake-up check: the way to move many
 * small records (a call per record costs more than the copy of 8 bytes).
 * It waits only until the first record fits (timeout_ns as for
 * axle_ring_send), then writes every following record that fits at once
 * and stops at the first that does not; call again with the rest.
 *   iov: borrows; n >= 0 entries.
 * The overrun policy applies as for axle_ring_send: BLOCK waits for the
 * first record; ERROR gives -AXLE_EOVERRUN when not even the first fits;
 * DRAIN sends what fits behind records already queued and queues the rest
 * (all n are then taken, unless the drain bound is reached).
 * Returns: the number of records taken, 1..n (0 when n is 0). A record
 *   after the first that is too long ends the batch before it: the next
 *   call, starting there, reports -EMSGSIZE.
 * Errors (nothing was taken): -EPERM not the producer; -EINVAL a
 *   reservation is open, n < 0, or iov NULL with n > 0; -EMSGSIZE iov[0]
 *   is longer than axle_ring_max_record(); -ETIMEDOUT; -AXLE_EOVERRUN;
 *   -ENOMEM (DRAIN); -EOWNERDEAD; -ECANCELED; -AXLE_ESHMCORRUPT.
 * Checkpoint: as axle_ring_reserve (when it waits, inside an axle task).
 */
AXLE_API int axle_ring_send_batch(axle_ring *r, const struct iovec *iov, int n, int64_t timeout_ns);

/*
 * axle_ring_peek_batch — consumer: up to max of the oldest records, in
 * place, without consuming them: out[i] is the i-th record's payload and
 * length. It waits (timeout_ns as for axle_ring_peek) only until there is
 * one, then returns every record already published, up to max.
 * axle_ring_release (or _deferred) then consumes all of them at once, with
 * one cursor store; until then the producer cannot overwrite them.
 * axle_ring_peek or axle_ring_recv before that release narrows the peek to
 * the first record (a release then consumes that one only, and a recv
 * copies and consumes it). Calling it again before the release starts
 * over from the oldest record.
 *   out: borrows; max >= 1 entries; each iov_base points into the ring,
 *        valid until release or close.
 * Returns: the number of records, 1..max.
 * Errors: -EPERM not the consumer; -EINVAL max < 1 or out NULL; the other
 *   errors of axle_ring_peek. A corrupt record after the first ends the
 *   batch before it; the next call reports -AXLE_ESHMCORRUPT.
 * Checkpoint: as axle_ring_peek.
 */
AXLE_API int axle_ring_peek_batch(axle_ring *r, struct iovec *out, int max, int64_t timeout_ns);

/*
 * axle_ring_send_burst / axle_ring_recv_burst — a fixed ring's records to
 * and from a packed array (record i at recs + i * record_size), as many as
 * fit or are there, with one cursor store a call. Slots are contiguous
 * between the ends of the area, so when record_size is a multiple of 8 a
 * run of records is one memcpy: the fastest way through a ring.
 * send_burst waits (timeout_ns as for axle_ring_send) only until the first
 * record fits, then takes every following one that fits; the overrun
 * policy applies as for axle_ring_send_batch. recv_burst waits (as
 * axle_ring_recv) only until there is one, then takes up to max.
 *   recs: borrows; n (max) records of record_size bytes.
 * Returns: the number of records moved, 1..n (send: 0 when n is 0).
 * Errors: -EPERM the wrong end; -EINVAL not a fixed ring, n < 0 or max < 1,
 *   recs NULL, a reservation open (send) or a record peeked and not
 *   released (recv); then as axle_ring_send_batch (send) or axle_ring_peek
 *   (recv).
 * Checkpoint: as axle_ring_reserve (when it waits, inside an axle task).
 */
AXLE_API int axle_ring_send_burst(axle_ring *r, const void *recs, int n, int64_t timeout_ns);
AXLE_API int axle_ring_recv_burst(axle_ring *r, void *recs, int max, int64_t timeout_ns);

/*
 * axle_ring_send — producer: copy len bytes from data into one record.
 *   data: borrows (may be NULL when len is 0).
 * Returns: 0.  Errors: those of axle_ring_reserve (_nowait: -EAGAIN), and
 *   under the overrun policy (axle_ring_set_overrun): ERROR gives
 *   -AXLE_EOVERRUN at once when there is no room; DRAIN queues the record
 *   (0) and gives -AXLE_EOVERRUN only past its bound.
 * Checkpoint: as axle_ring_reserve (the blocking form inside an axle task).
 */
AXLE_API int axle_ring_send(axle_ring *r, const void *data, size_t len, int64_t timeout_ns);
AXLE_API int axle_ring_send_nowait(axle_ring *r, const void *data, size_t len);

/*
 * axle_ring_recv — consumer: copy the oldest record into buf and consume it.
 *   buf: borrows; cap bytes.  len: receives the record's length.
 * Returns: 0.
 * Errors: those of axle_ring_peek (_nowait: -EAGAIN); -EMSGSIZE the record
 *   is longer than cap: it stays in the ring and *len says its length.
 * Checkpoint: as axle_ring_reserve (the blocking form inside an axle task).
 */
AXLE_API int axle_ring_recv(axle_ring *r, void *buf, size_t cap, size_t *len, int64_t timeout_ns);

/*
 * axle_ring_event_fd — for programs with their own epoll/poll loop: an fd
 * (the consumer end only) that becomes readable when records are waiting.
 * A helper thread of this handle waits on the ring for it. Use: poll it;
 * when readable, read with the _nowait calls until -EAGAIN, then call
 * axle_ring_event_rearm; with records already waiting, the fd is readable
 * again at once, so none is missed. While it is in use, do not call the
 * blocking receive calls on this handle (they park on the same word).
 * Returns: the fd (owned by the handle: axle_ring_close closes it and
 *   stops the thread); the same fd on later calls.
 * Errors: -EPERM the producer's end; -ENOMEM; -errno of eventfd or
 *   pthread_create.
 */
AXLE_API int axle_ring_event_fd(axle_ring *r);

/* Clear the event fd and arm it again (see above). Returns 0; -EINVAL without an event fd. */
AXLE_API int axle_ring_event_rearm(axle_ring *r);
AXLE_API int axle_ring_recv_nowait(axle_ring *r, void *buf, size_t cap, size_t *len);

/* ----------------------------------------------------------------------- */
/* The shm list (tractor's ShareableList)                                   */
/* ----------------------------------------------------------------------- */

/*
 * A fixed number of typed slots in a segment: 64-bit integers, doubles,
 * strings and byte strings of a fixed maximum size. Each slot is a seqlock:
 * one writer per slot at a time, any number of reader processes, and a
 * reader never sees a torn value.
 */
typedef struct axle_shm_list axle_shm_list;

typedef enum axle_slot_type {
    AXLE_SLOT_I64 = 1,
    AXLE_SLOT_F64 = 2,
    AXLE_SLOT_STR = 3,  /* up to size bytes, no NUL stored */
    AXLE_SLOT_BYTES = 4 /* up to size bytes */
} axle_slot_type;

typedef struct axle_slot_spec {
    axle_slot_type type;
    uint32_t size; /* STR / BYTES: the most bytes the slot holds (<= 1 MiB) */
} axle_slot_spec;

/*
 * axle_shm_list_create — a list of n slots (<= 65536) in a new segment
 * named by key, owned by the caller (it unlinks on close). Slots start as
 * 0, 0.0 and empty.
 *   out: receives the handle (owned: axle_shm_list_close). slots: borrowed.
 * Returns: 0.  Errors: -EINVAL (n, a type or a size); those of
 *   axle_shm_create.
 */
AXLE_API int axle_shm_list_create(axle_shm_list **out, const char *key, const axle_slot_spec *slots,
                                  size_t n);
/*
 * axle_shm_list_attach — attach the list that process owner created with
 * key. readonly: every set fails with -EROFS.
 * Returns: 0.  Errors: -AXLE_ESHMCORRUPT (bad magic, version, table or slot
 *   bounds); -EAGAIN (the creator has not finished); those of axle_shm_attach.
 */
AXLE_API int axle_shm_list_attach(axle_shm_list **out, const char *key, pid_t owner, bool readonly);
/* axle_shm_list_close — unmap (and unlink, for the creator). Invalidates l. */
AXLE_API void axle_shm_list_close(axle_shm_list *l);
AXLE_API size_t axle_shm_list_len(const axle_shm_list *l);
/* Slot i's axle_slot_type, or -ERANGE. */
AXLE_API int axle_shm_list_type(const axle_shm_list *l, size_t i);

/*
 * Set / get slot i. Returns: 0 (get_str / get_bytes: the length).
 * Errors: -ERANGE no slot i; -EINVAL the slot has another type; -EROFS a
 *   set on a read-only attach; -E2BIG a set longer than the slot's size;
 *   -EMSGSIZE a get into a buffer too small (get_str needs room for the
 *   NUL it adds); -EAGAIN a write in progress did not finish (or its
 *   writer died mid-write).
 */
AXLE_API int axle_shm_list_set_i64(axle_shm_list *l, size_t i, int64_t v);
AXLE_API int axle_shm_list_get_i64(const axle_shm_list *l, size_t i, int64_t *v);
AXLE_API int axle_shm_list_set_f64(axle_shm_list *l, size_t i, double v);
AXLE_API int axle_shm_list_get_f64(const axle_shm_list *l, size_t i, double *v);
AXLE_API int axle_shm_list_set_str(axle_shm_list *l, size_t i, const char *s);
AXLE_API int axle_shm_list_get_str(const axle_shm_list *l, size_t i, char *buf, size_t cap);
AXLE_API int axle_shm_list_set_bytes(axle_shm_list *l, size_t i, const void *data, size_t len);
AXLE_API int axle_shm_list_get_bytes(const axle_shm_list *l, size_t i, void *buf, size_t cap);

/* ----------------------------------------------------------------------- */
/* The shm array (tractor's ShmArray)                                       */
/* ----------------------------------------------------------------------- */

/*
 * Rows of elem_size × cols bytes (cols 1: a 1-D array) in a segment, with
 * shared first / last indices: valid rows are [first, last). One writer
 * pushes rows at last or prepends them before first; any number of
 * processes read. Rows never move, so a pointer to a row a reader was
 * shown stays valid while the array is mapped. The token is plain bytes:
 * send it over IPC and the other actor attaches with it.
 */
typedef struct axle_shm_array axle_shm_array;

typedef struct axle_shm_array_token {
    char key[200];      /* the segment's key */
    int32_t owner;      /* the creating process */
    uint32_t elem_size; /* bytes per element */
    uint32_t cols;      /* elements per row */
    uint32_t zero;      /* reserved */
    uint64_t capacity;  /* rows */
} axle_shm_array_token;

/*
 * axle_shm_array_create — an array of capacity rows in a new segment named
 * by key, owned by the caller. first = last = start: rows before start are
 * room to prepend into, rows after it room to push into.
 * Returns: 0.  Errors: -EINVAL (a size, start > capacity, key too long);
 *   those of axle_shm_create.
 */
AXLE_API int axle_shm_array_create(axle_shm_array **out, const char *key, size_t elem_size,
                                   size_t cols, size_t capacity, size_t start);
/*
 * axle_shm_array_attach — attach the array a token names (from
 * axle_shm_array_get_token, possibly in another process). readonly: push
 * and prepend fail with -EROFS.
 * Returns: 0.  Errors: -EINVAL malformed token; -AXLE_ESHMCORRUPT the
 *   segment disagrees with the token or is damaged; -EAGAIN not ready yet;
 *   those of axle_shm_attach.
 */
AXLE_API int axle_shm_array_attach(axle_shm_array **out, const axle_shm_array_token *tok,
                                   bool readonly);
AXLE_API void axle_shm_array_get_token(const axle_shm_array *a, axle_shm_array_token *tok);
/* Unmap (and unlink, for the creator). Invalidates a. */
AXLE_API void axle_shm_array_close(axle_shm_array *a);
/* The shared indices and the number of valid rows (last - first). */
AXLE_API size_t axle_shm_array_first(const axle_shm_array *a);
AXLE_API size_t axle_shm_array_last_index(const axle_shm_array *a);
AXLE_API size_t axle_shm_array_len(const axle_shm_array *a);
/* Row i (an absolute index in [first, last)), or NULL outside. Borrowed. */
AXLE_API const void *axle_shm_array_row(const axle_shm_array *a, size_t i);
/*
 * axle_shm_array_last — the last n rows (fewer when fewer are valid): *rows
 * points at the first of them, contiguous, *got says how many. Borrowed.
 * Returns: 0.
 */
AXLE_API int axle_shm_array_last(const axle_shm_array *a, size_t n, const void **rows, size_t *got);
/*
 * axle_shm_array_push / _prepend — copy n rows in after last / before
 * first and publish them (readers see whole rows only).
 * Returns: 0.  Errors: -ENOSPC no room on that side (nothing written);
 *   -EROFS a read-only attach.
 */
AXLE_API int axle_shm_array_push(axle_shm_array *a, const void *rows, size_t n);
AXLE_API int axle_shm_array_prepend(axle_shm_array *a, const void *rows, size_t n);

/* ----------------------------------------------------------------------- */
/* The broadcast ring (SPMC)                                                */
/* ----------------------------------------------------------------------- */

/*
 * One writer publishes records that any number of readers, in any
 * processes, each read in order with their own cursor. The writer never
 * waits: a reader it overtakes gets -AXLE_ELAGGED once, with the exact
 * number of records it missed, and reads on from the oldest record still
 * intact; a record overwritten while it was being copied is detected and
 * never returned. A reader starts at the next record published after it
 * attaches. Records are at most axle_bcast_max_record() bytes.
 */
typedef struct axle_bcast axle_bcast;

/*
 * axle_bcast_create — the writer: a broadcast ring of capacity bytes
 * (rounded up to a power of two, 64 B to 1 GiB) in a new segment named by
 * key, owned (and unlinked on close) by the caller.
 * Returns: 0.  Errors: -EINVAL capacity or key; those of axle_shm_create.
 */
AXLE_API int axle_bcast_create(axle_bcast **out, const char *key, size_t capacity);
/*
 * axle_bcast_attach — a reader of the ring process owner created with key.
 * Returns: 0.  Errors: -ENOENT no such ring; -EAGAIN not initialised yet,
 *   or the writer was stopped in mid-publish (try again);
 *   -AXLE_ESHMCORRUPT a bad header; those of axle_shm_attach.
 */
AXLE_API int axle_bcast_attach(axle_bcast **out, const char *key, pid_t owner);
/* Unmap and free (the writer also unlinks). NULL: no-op. Invalidates b. */
AXLE_API void axle_bcast_close(axle_bcast *b);
AXLE_API size_t axle_bcast_max_record(const axle_bcast *b);
/* Busy-wait iterations before a blocking recv parks (AXLE_RING_SPIN_DEFAULT). */
AXLE_API void axle_bcast_set_spin(axle_bcast *b, unsigned iterations);
/*
 * axle_bcast_publish — the writer: copy len bytes into one record and
 * publish it, overwriting the oldest records if it must. Never blocks.
 * Returns: 0.  Errors: -EPERM a reader's handle; -EMSGSIZE len > max.
 */
AXLE_API int axle_bcast_publish(axle_bcast *b, const void *data, size_t len);
/*
 * axle_bcast_recv — a reader: copy the next record into buf (cap bytes),
 * its length to *len. timeout_ns as for axle_ring_recv; inside libaxle a
 * wait parks only the calling task and is a cancellation point.
 * Returns: 0.
 * Errors: -AXLE_ELAGGED the writer overtook this reader: *missed records
 *   (missed may be NULL) are gone, the next call returns the oldest one still intact;
 *   -EMSGSIZE the record is longer than cap (*len says how long; it stays
 *   unread); -ETIMEDOUT; -EOWNERDEAD the writer died and every record it
 *   published has been read; -ECANCELED (on a task); -EPERM the writer's
 *   handle; -AXLE_ESHMCORRUPT a damaged segment.
 * _nowait: one try; -EAGAIN when there is nothing to read.
 */
AXLE_API int axle_bcast_recv(axle_bcast *b, void *buf, size_t cap, size_t *len, uint64_t *missed,
                             int64_t timeout_ns);
AXLE_API int axle_bcast_recv_nowait(axle_bcast *b, void *buf, size_t cap, size_t *len,
                                    uint64_t *missed);

#ifdef __cplusplus
}
#endif

#endif
