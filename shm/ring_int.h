/*
 * shm/ring_int.h — the SPSC ring's handle and the inline steps shared by
 * ring.c (ends, waits, a record a call) and ring_batch.c (batches and
 * bursts). Private to shm/: the handle is not ABI. The protocol, the
 * barrier table and the light-wake argument are in ring.c's design note.
 */
#ifndef AXLE_SHM_RING_INT_H
#define AXLE_SHM_RING_INT_H

#include <axle/shm.h>
#include <linux/futex.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fault.h"
#include "ring_layout.h"

/* A record the drain policy keeps locally until the ring has room. */
struct queued {
    struct queued *next;
    size_t len;
    unsigned char data[]; /* len bytes */
};

struct axle_ring {
    axle_shm *shm;       /* the segment (owned) */
    axle__ring_hdr *hdr; /* its first byte */
    unsigned char *data; /* hdr + layout_size */
    uint64_t cap;        /* data bytes, copied at attach; Invariant: power of two */
    uint64_t mask;       /* cap - 1 */
    uint32_t fixed;      /* a fixed ring's record size (header version 2), 0: any length */
    uint64_t slot;       /* a fixed ring's slot: fixed rounded up to 8 */
    axle_ring_role role; /* the end this handle holds */
    pid_t pid;           /* the pid written into that end's slot */
    unsigned spin;       /* busy-wait iterations before parking */
    int peer_fd;         /* a pidfd of peer_fd_pid (the other end's holder), or -1 */
    pid_t peer_fd_pid;   /* whose: reopened when the other end changes hands */
    bool light;          /* this process takes membarrier IPIs: it may wake a light peer unfenced */
    bool light_park;     /* this end parks with membarrier (its light flag in the header is 1) */
    bool never_light;    /* an event fd helper parks for this end: never light again */
    uint32_t since_park; /* records this end committed or released since it last parked */
    uint32_t *own_light; /* this end's light flag in the header */
    const uint32_t *peer_light; /* the other end's */
    /* Producer side. */
    uint64_t head;                  /* own cursor, authoritative; Invariant: multiple of 8 */
    uint64_t cached_tail;           /* last validated tail; Invariant: head - cached_tail <= cap */
    uint64_t reserved;              /* bytes of the open reservation (header included), 0: none */
    uint32_t reserved_len;          /* its payload length */
    uint64_t pub_head;              /* head as last published; < head while commits are deferred */
    axle_overrun overrun;           /* what send does when the ring is full */
    struct queued *q_head, *q_tail; /* drain: records waiting for room, FIFO (owned) */
    size_t q_bytes;                 /* their payload bytes; Invariant: <= q_max */
    size_t q_count;                 /* how many */
    size_t q_max;                   /* drain bound in payload bytes */
    /* Consumer side. */
    uint64_t tail;        /* own cursor, authoritative; Invariant: multiple of 8 */
    uint64_t cached_head; /* last validated head; Invariant: cached_head - tail <= cap */
    uint64_t peeked;      /* bytes of the peeked records (headers, pads included), 0: none */
    uint32_t peek_count;  /* how many records that is (peek: 1; peek_batch: 1..max) */
    const void *peek_buf; /* the first one's payload */
    size_t peek_len;      /* its payload length */
    uint64_t pub_tail;    /* tail as last published; < tail while releases are deferred */
    struct axle__ring_evfd *evfd; /* the consumer's event fd and its helper, or NULL */
};

static inline uint64_t align8(uint64_t n) { return (n + 7) & ~(uint64_t)7; }

static inline void futex_wake(uint32_t *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Records an end moves between parks before it asks its waker to stop fencing. */
#define LIGHT_AFTER 1024u

/*
 * Count n records this end moved; once LIGHT_AFTER have gone by without a
 * park, become light again. Setting the flag needs no barrier: until the
 * waker sees it, it keeps fencing, and our parks from now on are heavy.
 */
static inline void count_records(axle_ring *r, uint32_t n)
{
    if (r->since_park >= LIGHT_AFTER)
        return;
    r->since_park = n >= LIGHT_AFTER - r->since_park ? LIGHT_AFTER : r->since_park + n;
    if (r->since_park == LIGHT_AFTER && !r->light_park && r->light && !r->never_light) {
        __atomic_store_n(r->own_light, 1, __ATOMIC_RELAXED);
        r->light_park = true;
    }
}

/*
 * Called after storing a cursor: wake the peer if it parked on word. The
 * store must be ordered before the load of word (StoreLoad): by a full
 * fence, or, when both sides are light, by the parked peer's membarrier
 * (ring.c, "Light wakes"), which spares the fence on every message.
 */
static inline void wake_peer(const axle_ring *r, uint32_t *word)
{
    /* The flag is read after the cursor store in program order, which the
     * light-wake argument needs (a relaxed load may otherwise move up). */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (r->light && __atomic_load_n(r->peer_light, __ATOMIC_RELAXED))
        __atomic_signal_fence(__ATOMIC_SEQ_CST); /* compiler only; the peer's membarrier */
    else
        __atomic_thread_fence(__ATOMIC_SEQ_CST); /* pairs with park_barrier's fence */
    if (__atomic_load_n(word, __ATOMIC_RELAXED) != 0 &&
        __atomic_exchange_n(word, 0, __ATOMIC_RELAXED) != 0)
        futex_wake(word);
}

typedef int (*try_fn)(axle_ring *r, void *arg);

/*
 * Run try until it stops returning -EAGAIN: spin, then park on word (the
 * waiting side's futex), bounded by timeout_ns (< 0: forever). ring.c.
 */
int axle__ring_wait(axle_ring *r, uint32_t *word, const int32_t *peer, try_fn try, void *arg,
                    int64_t timeout_ns);

/* The drain policy's send: keep order, queue what does not fit, bounded. ring.c. */
int axle__ring_send_drain(axle_ring *r, const void *data, size_t len);
/* Append one record to the drain queue (-EMSGSIZE if no record could carry it; bounded). */
int axle__ring_queue(axle_ring *r, const void *data, size_t len);

/* --------------------------------------------------------------- producer */

/* Room for n more bytes at head? 1 yes, 0 no, or -AXLE_ESHMCORRUPT. */
static inline int room(axle_ring *r, uint64_t n)
{
    if (r->cap - (r->head - r->cached_tail) >= n)
        return 1;
    /* acquire; pairs with the release store of tail in release/skip_pad. */
    uint64_t t = __atomic_load_n(&r->hdr->tail, __ATOMIC_ACQUIRE);
    if (r->head - t > r->cap || (t & 7))
        return -AXLE_ESHMCORRUPT;
    r->cached_tail = t;
    __atomic_store_n(&r->hdr->cached_tail, t, __ATOMIC_RELAXED);
    return r->cap - (r->head - t) >= n;
}

static inline void rec_write(axle_ring *r, uint64_t pos, uint32_t len, uint32_t type)
{
    axle__ring_rec *rec = (axle__ring_rec *)(r->data + pos);
    __atomic_store_n(&rec->len, len, __ATOMIC_RELAXED);
    __atomic_store_n(&rec->type, type, __ATOMIC_RELAXED);
}

static inline void publish_head(axle_ring *r)
{
    r->pub_head = r->head;
    /* release; pairs with the acquire load of head in fetch_head. */
    __atomic_store_n(&r->hdr->head, r->head, __ATOMIC_RELEASE);
    wake_peer(r, &r->hdr->reader_parked);
}

/* Can one record carry len bytes? (A fixed ring's records carry exactly its size.) */
static inline bool len_fits(const axle_ring *r, size_t len)
{
    return r->fixed ? len == r->fixed : len <= r->cap - sizeof(axle__ring_rec);
}

/* A fixed ring: the bytes skipped before a record at pos (the rest of the area if a slot does not
 * fit there). */
static inline uint64_t skip_at(const axle_ring *r, uint64_t pos)
{
    uint64_t to_end = r->cap - pos;
    return to_end < r->slot ? to_end : 0;
}

/*
 * memcpy for small records without the call: up to 16 bytes as two
 * (possibly overlapping) loads and stores of the widest fitting size.
 */
static inline void copy_small(void *dst, const void *src, size_t len)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (len >= 8) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + len - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + len - 8, &b, 8);
    } else if (len >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + len - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + len - 4, &b, 4);
    } else if (len) {
        d[0] = s[0];
        d[len / 2] = s[len / 2];
        d[len - 1] = s[len - 1];
    }
}

static inline void copy_bytes(void *dst, const void *src, size_t len)
{
    if (len <= 16)
        copy_small(dst, src, len);
    else
        memcpy(dst, src, len);
}

/* Copy a record's payload into its reservation. */
static inline void copy_in(void *buf, const void *data, size_t len)
{
#ifdef AXLE_FAULT_POINTS
    size_t half = len / 2; /* the mid-copy fault point sits between the halves */
    if (half)
        memcpy(buf, data, half);
    AXLE__SHM_FAULT(AXLE__FP_MID_COPY);
    if (len - half)
        memcpy((unsigned char *)buf + half, (const unsigned char *)data + half, len - half);
#else
    copy_bytes(buf, data, len);
#endif
}

/* --------------------------------------------------------------- consumer */

/* What reading records needs of the handle, in locals: a loop that stores
 * through pointers would otherwise reload every field per record. */
struct ring_view {
    const unsigned char *data;
    uint64_t cap, mask, slot; /* slot: a fixed ring's, else 0 */
    uint32_t fixed;           /* a fixed ring's record size, else 0 */
};

static inline struct ring_view ring_view_of(const axle_ring *r)
{
    return (struct ring_view){r->data, r->cap, r->mask, r->slot, r->fixed};
}

enum { REC_TAKE = 1, REC_SKIP = 2 };

/*
 * The record at cursor at, with avail bytes published past it, checked
 * against everything a hostile producer could have written there:
 * REC_TAKE (*buf and *len its payload, *step its bytes), REC_SKIP (*step
 * the rest of the area: a PAD, or a fixed ring's skip where a slot does
 * not fit), or -AXLE_ESHMCORRUPT. The one reading rule of peek, peek_batch.
 */
static inline __attribute__((always_inline)) int rec_step(const struct ring_view *v, uint64_t at,
                                                          uint64_t avail, const void **buf,
                                                          uint32_t *len, uint64_t *step)
{
    uint64_t pos = at & v->mask, to_end = v->cap - pos;
    if (v->slot) {
        if (to_end < v->slot) {
            *step = to_end;
            return to_end <= avail ? REC_SKIP : -AXLE_ESHMCORRUPT;
        }
        if (avail < v->slot)
            return -AXLE_ESHMCORRUPT; /* head inside a slot */
        *buf = v->data + pos, *len = v->fixed, *step = v->slot;
        return REC_TAKE;
    }
    const axle__ring_rec *rec = (const axle__ring_rec *)(v->data + pos);
    uint32_t n = __atomic_load_n(&rec->len, __ATOMIC_RELAXED);
    uint32_t type = __atomic_load_n(&rec->type, __ATOMIC_RELAXED);
    uint64_t total = align8(sizeof(axle__ring_rec) + (uint64_t)n);
    if (__builtin_expect(type == AXLE__REC_DATA && total <= to_end && total <= avail, 1)) {
        *buf = rec + 1, *len = n, *step = total;
        return REC_TAKE;
    }
    if (type != AXLE__REC_PAD || (uint64_t)n != to_end - sizeof(axle__ring_rec) || to_end > avail)
        return -AXLE_ESHMCORRUPT;
    *step = to_end;
    return REC_SKIP;
}

/* Bytes published past tail, refreshing the cached head when none are
 * known; or -AXLE_ESHMCORRUPT. */
static inline int64_t fetch_head(axle_ring *r)
{
    if (r->cached_head != r->tail)
        return (int64_t)(r->cached_head - r->tail);
    /* acquire; pairs with the release store of head in publish_head. */
    uint64_t h = __atomic_load_n(&r->hdr->head, __ATOMIC_ACQUIRE);
    if (h - r->tail > r->cap || (h & 7))
        return -AXLE_ESHMCORRUPT;
    r->cached_head = h;
    __atomic_store_n(&r->hdr->cached_head, h, __ATOMIC_RELAXED);
    return (int64_t)(h - r->tail);
}

static inline void publish_tail(axle_ring *r)
{
    r->pub_tail = r->tail;
    /* release; pairs with the acquire load of tail in room. */
    __atomic_store_n(&r->hdr->tail, r->tail, __ATOMIC_RELEASE);
    wake_peer(r, &r->hdr->writer_parked);
}

#endif
