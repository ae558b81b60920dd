/*
 * shm/ring_batch.c — many records a call: batches on any ring
 * (axle_ring_send_batch / axle_ring_peek_batch) and bursts on a fixed one
 * (axle_ring_send_burst / axle_ring_recv_burst).
 *
 * Design. A batch does what reserve/commit or peek/release would do for
 * each record, but stores the cursor and checks the peer's parked word
 * once for all of them: per record what is left is the room check against
 * the cached cursor, the header and the copy. The loops keep the handle's
 * fields in locals, because a copy into the ring may alias the handle as
 * far as the compiler knows. A burst moves a fixed ring's slots to and
 * from a packed array; slots between two ends of the area are contiguous,
 * so a run is one memcpy when the record size fills its slot. Every index
 * read from the segment is checked as in ring.c; the waits are ring.c's.
 */
#define _GNU_SOURCE
#include <axle/shm.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/uio.h>

#include "ring_int.h"

/*
 * Batches. The records of a batch are written one after the other, as
 * reserve and commit would, but head is stored and the consumer's parked
 * word checked once for all of them: per record what is left is the room
 * check against the cached tail, the header and the copy.
 */
typedef struct many_arg {
    const struct iovec *iov; /* a batch's records, or NULL for a burst */
    unsigned char *recs;     /* a burst's packed array (read-only when sending) */
    int n;                   /* how many records */
    int done;                /* how many moved */
} many_arg;

/*
 * Write as many of a->iov as fit now, in order, and publish them. A record
 * that would cross the end publishes a PAD first (as reserve_try); one
 * that does not fit, or is too long, ends the batch. 0 once one went in,
 * -EAGAIN if none fits, -EMSGSIZE if the first is too long, or -AXLE_ESHMCORRUPT.
 */
static int batch_send_try(axle_ring *r, void *arg)
{
    many_arg *a = arg;
    /* Locals, not r->: the copies into the ring may alias the handle as far
     * as the compiler knows, and would reload every field per record. */
    unsigned char *const data = r->data;
    const uint64_t cap = r->cap, mask = r->mask, max = cap - sizeof(axle__ring_rec);
    uint64_t head = r->head, tail = r->cached_tail;
    int k = 0, ok = 1;
    if (r->fixed) { /* no header, no PAD: a skip where a slot does not fit, then the slot */
        const size_t fixed = r->fixed;
        const uint64_t slot = r->slot;
        for (; k < a->n; k++) {
            if (a->iov[k].iov_len != fixed) {
                if (k == 0)
                    ok = -EMSGSIZE;
                break;
            }
            uint64_t pos = head & mask, to_end = cap - pos;
            uint64_t skip = to_end < slot ? to_end : 0, need = skip + slot;
            if (cap - (head - tail) < need) {
                r->head = head;
                if ((ok = room(r, need)) <= 0)
                    break;
                tail = r->cached_tail;
            }
            copy_in(data + ((pos + skip) & mask), a->iov[k].iov_base, fixed);
            head += need;
        }
    } else {
        for (; k < a->n; k++) {
            size_t len = a->iov[k].iov_len;
            if (len > max) {
                if (k == 0)
                    ok = -EMSGSIZE;
                break;
            }
            uint64_t total = align8(sizeof(axle__ring_rec) + len);
            uint64_t pos = head & mask, to_end = cap - pos;
            uint64_t need = total > to_end ? to_end : total; /* the PAD first, if one is due */
            if (cap - (head - tail) < need) {
                r->head = head;
                if ((ok = room(r, need)) <= 0)
                    break;
                tail = r->cached_tail;
            }
            if (total > to_end) {
                rec_write(r, pos, (uint32_t)(to_end - sizeof(axle__ring_rec)), AXLE__REC_PAD);
                head += to_end;
                pos = 0;
                if (cap - (head - tail) < total) {
                    r->head = head;
                    if ((ok = room(r, total)) <= 0)
                        break;
                    tail = r->cached_tail;
                }
            }
            copy_in(data + pos + sizeof(axle__ring_rec), a->iov[k].iov_base, len);
            rec_write(r, pos, (uint32_t)len, AXLE__REC_DATA);
            head += total;
        }
    }
    r->head = head;
    if (k > 0) {
        AXLE__SHM_FAULT(AXLE__FP_BEFORE_COMMIT);
        count_records(r, (uint32_t)k);
    }
    if (r->pub_head != head)
        publish_head(r); /* this batch, a PAD, and commits deferred before it */
    a->done = k;
    if (k > 0)
        return 0;
    return ok < 0 ? ok : -EAGAIN;
}

/*
 * Send a's records with try (batch_send_try or burst_send_try) under the
 * producer's overrun policy, as axle_ring_send does for one record: BLOCK
 * waits for the first to fit, ERROR fails when none fits, DRAIN sends
 * behind what is queued and queues the rest. How many were taken, or an
 * error when none was.
 */
static int send_many(axle_ring *r, try_fn try, many_arg *a, int64_t timeout_ns)
{
    int rc;
    if (r->overrun == AXLE_OVERRUN_DRAIN) {
        if ((rc = axle_ring_drain(r)) < 0)
            return rc;
        if (!r->q_head && (rc = try(r, a)) < 0 && rc != -EAGAIN)
            return rc;
        for (int k = a->done; k < a->n; k++) { /* behind the first that did not fit */
            const void *p = a->iov ? a->iov[k].iov_base : a->recs + (size_t)k * r->fixed;
            size_t len = a->iov ? a->iov[k].iov_len : r->fixed;
            if ((rc = axle__ring_queue(r, p, len)) < 0)
                return k > 0 ? k : rc;
        }
        return a->n;
    }
    rc = try(r, a);
    if (rc == -EAGAIN) {
        if (r->overrun == AXLE_OVERRUN_ERROR)
            return -AXLE_EOVERRUN;
        rc = axle__ring_wait(r, &r->hdr->writer_parked, &r->hdr->consumer_pid, try, a, timeout_ns);
    }
    return rc < 0 ? rc : a->done;
}

int axle_ring_send_batch(axle_ring *r, const struct iovec *iov, int n, int64_t timeout_ns)
{
    if (r->role != AXLE_RING_PRODUCER)
        return -EPERM;
    if (r->reserved || n < 0 || (n > 0 && !iov))
        return -EINVAL;
    many_arg a = {iov, NULL, n, 0};
    return n == 0 ? 0 : send_many(r, batch_send_try, &a, timeout_ns);
}

/*
 * Bursts: a fixed ring's records to and from a packed array (record_size
 * bytes apart). Slots between two ends of the area are contiguous, so
 * when record_size fills its slot a run of records is one memcpy.
 */
/* Copy m records between the ring at pos and the array at recs; in: into the ring. */
static inline void burst_copy(const axle_ring *r, uint64_t pos, unsigned char *recs, uint64_t m,
                              bool in)
{
    unsigned char *ring = r->data + pos;
    if (r->fixed == r->slot) {
        if (in)
            memcpy(ring, recs, m * r->slot);
        else
            memcpy(recs, ring, m * r->slot);
        return;
    }
    for (uint64_t i = 0; i < m; i++, ring += r->slot, recs += r->fixed) {
        if (in)
            memcpy(ring, recs, r->fixed);
        else
            memcpy(recs, ring, r->fixed);
    }
}

/* Records that fit from pos with room bytes free: whole slots, after the skip if one is due. */
static inline uint64_t burst_span(const axle_ring *r, uint64_t pos, uint64_t room_bytes,
                                  uint64_t *skip)
{
    *skip = skip_at(r, pos);
    if (room_bytes < *skip + r->slot)
        return 0;
    uint64_t start = (pos + *skip) & r->mask;
    uint64_t to_end = (r->cap - start) / r->slot, fit = (room_bytes - *skip) / r->slot;
    return to_end < fit ? to_end : fit;
}

static int burst_send_try(axle_ring *r, void *arg)
{
    many_arg *a = arg;
    int ok = 1;
    while (a->done < a->n) {
        uint64_t skip,
            m = burst_span(r, r->head & r->mask, r->cap - (r->head - r->cached_tail), &skip);
        if (m == 0) {
            if ((ok = room(r, skip_at(r, r->head & r->mask) + r->slot)) <= 0)
                break;
            continue; /* the refreshed tail made room */
        }
        if (m > (uint64_t)(a->n - a->done))
            m = (uint64_t)(a->n - a->done);
        burst_copy(r, (r->head + skip) & r->mask, a->recs + (size_t)a->done * r->fixed, m, true);
        r->head += skip + m * r->slot;
        a->done += (int)m;
        count_records(r, (uint32_t)m);
    }
    if (r->pub_head != r->head)
        publish_head(r);
    if (a->done > 0)
        return 0;
    return ok < 0 ? ok : -EAGAIN;
}

int axle_ring_send_burst(axle_ring *r, const void *recs, int n, int64_t timeout_ns)
{
    if (r->role != AXLE_RING_PRODUCER)
        return -EPERM;
    if (!r->fixed || r->reserved || n < 0 || (n > 0 && !recs))
        return -EINVAL;
    many_arg a = {NULL, (unsigned char *)recs, n, 0};
    return n == 0 ? 0 : send_many(r, burst_send_try, &a, timeout_ns);
}

typedef struct peek_batch_arg {
    struct iovec *out; /* where the records go */
    int max;           /* room in out */
} peek_batch_arg;

/*
 * Up to a->max records from tail, in place: their count (> 0), -EAGAIN
 * when there are none, or -AXLE_ESHMCORRUPT. head is read again once when
 * the cached copy runs out. PAD records inside the batch are stepped over
 * and released with it; a PAD before the first record is consumed at
 * once (as peek_try). A bad record after the first ends the batch: the
 * next call starts with it and reports it.
 */
static int peek_batch_try(axle_ring *r, void *arg)
{
    peek_batch_arg *a = arg;
    const struct ring_view v = ring_view_of(r); /* locals: see ring_view */
    const uint64_t tail = r->tail;
    uint64_t at = tail, end = r->cached_head;
    struct iovec *const out = a->out;
    const int max = a->max;
    bool fresh = false;
    int k = 0, bad = 0;
    while (k < max) {
        if (at == end) {
            if (fresh)
                break;
            fresh = true;
            /* acquire; pairs with the release store of head in publish_head. */
            uint64_t h = __atomic_load_n(&r->hdr->head, __ATOMIC_ACQUIRE);
            if (h - tail > v.cap || (h & 7) || h - tail < at - tail) {
                bad = -AXLE_ESHMCORRUPT;
                break;
            }
            r->cached_head = end = h;
            __atomic_store_n(&r->hdr->cached_head, h, __ATOMIC_RELAXED);
            if (at == end)
                break;
        }
        const void *buf;
        uint32_t len;
        uint64_t step;
        int kind = rec_step(&v, at, end - at, &buf, &len, &step);
        if (kind < 0) {
            bad = kind;
            break;
        }
        at += step;
        if (kind == REC_SKIP) {
            if (k == 0) { /* nothing peeked yet: its room goes back at once (as peek_try) */
                r->tail = at;
                publish_tail(r);
            }
            continue;
        }
        out[k].iov_base = (void *)buf;
        out[k].iov_len = len;
        k++;
    }
    if (k == 0) {
        if (bad)
            return bad;
        if (r->pub_tail != r->tail)
            publish_tail(r); /* empty: deferred releases go out now (as peek_try) */
        return -EAGAIN;
    }
    r->peeked = at - r->tail;
    r->peek_count = (uint32_t)k;
    r->peek_buf = out[0].iov_base;
    r->peek_len = out[0].iov_len;
    return k;
}

/* ring_wait's try: 0 once records are there (ring_wait ends on anything but -EAGAIN). */
static int peek_batch_wait_try(axle_ring *r, void *arg)
{
    int k = peek_batch_try(r, arg);
    return k > 0 ? 0 : k;
}

int axle_ring_peek_batch(axle_ring *r, struct iovec *out, int max, int64_t timeout_ns)
{
    if (r->role != AXLE_RING_CONSUMER)
        return -EPERM;
    if (max < 1 || !out)
        return -EINVAL;
    peek_batch_arg a = {out, max};
    int rc = peek_batch_try(r, &a);
    if (rc == -EAGAIN) {
        rc = axle__ring_wait(r, &r->hdr->reader_parked, &r->hdr->producer_pid, peek_batch_wait_try,
                             &a, timeout_ns);
        if (rc == 0)
            rc = (int)r->peek_count;
    }
    return rc;
}

static int burst_recv_try(axle_ring *r, void *arg)
{
    many_arg *a = arg;
    int bad = 0;
    while (a->done < a->n) {
        int64_t avail = fetch_head(r);
        if (avail <= 0) {
            bad = (int)avail; /* 0: empty */
            break;
        }
        uint64_t pos = r->tail & r->mask, skip = skip_at(r, pos);
        if ((uint64_t)avail < skip + r->slot) {
            if ((uint64_t)avail == skip) { /* only a skip: step over it */
                r->tail += skip;
                continue;
            }
            bad = -AXLE_ESHMCORRUPT; /* head inside a slot */
            break;
        }
        uint64_t m = burst_span(r, pos, (uint64_t)avail, &skip);
        if (m > (uint64_t)(a->n - a->done))
            m = (uint64_t)(a->n - a->done);
        burst_copy(r, (pos + skip) & r->mask, a->recs + (size_t)a->done * r->fixed, m, false);
        r->tail += skip + m * r->slot;
        a->done += (int)m;
        count_records(r, (uint32_t)m);
    }
    if (r->pub_tail != r->tail)
        publish_tail(r); /* what was taken, also when a bad head ends the burst */
    return a->done > 0 ? 0 : bad < 0 ? bad : -EAGAIN;
}

int axle_ring_recv_burst(axle_ring *r, void *recs, int max, int64_t timeout_ns)
{
    if (r->role != AXLE_RING_CONSUMER)
        return -EPERM;
    if (!r->fixed || r->peeked || max < 1 || !recs)
        return -EINVAL;
    many_arg a = {NULL, recs, max, 0};
    int rc = burst_recv_try(r, &a);
    if (rc == -EAGAIN)
        rc = axle__ring_wait(r, &r->hdr->reader_parked, &r->hdr->producer_pid, burst_recv_try, &a,
                             timeout_ns);
    return rc < 0 ? rc : a.done;
}
