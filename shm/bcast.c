/*
 * shm/bcast.c — the broadcast ring (SPMC): one writer that never waits for
 * its readers, any number of readers in any processes, each with its own
 * cursor in its own memory.
 *
 * Layout (frozen, little-endian, version 1):
 *   0   u64 magic "AXLEBCST" (written last by create, release)
 *   8   u32 version   12 u32 header bytes (256)   16 u64 capacity
 *   24  i32 writer pid
 *   64  u64 tail_intent: where the record being written ends
 *   128 u64 tail: where the last published record ends
 *   136 u64 oldest: where the oldest record still intact begins
 *   144 u32 version of (tail, next_seq), odd while they change
 *   152 u64 next_seq: the number the next record will carry
 *   192 u32 waiters (a reader is parked)   196 u32 notify (the futex word)
 *   256 data: capacity bytes, a power of two
 * Positions are byte counts since creation (they never wrap); a record at
 * position p lives at p mod capacity. A record is a 16-byte header (u32
 * length, u32 kind: data or padding, u64 sequence number) and its
 * payload, padded to 16 bytes; it never wraps (a padding record fills the
 * end of the area), and a padding record carries the sequence number of
 * the data record after it.
 *
 * Writing (the Aeron broadcast scheme): advance oldest past the records
 * the new one will overwrite, store tail_intent = the new end, release
 * fence, copy, store tail (release). A reader copies a record out, then
 * (acquire fence) re-reads tail_intent: if the writer may have reached the
 * record's bytes since (tail_intent - position > capacity) the copy is
 * torn and is thrown away; the reader was lapped. It jumps to oldest and
 * reports -AXLE_ELAGGED with the exact count it missed (from the sequence
 * number of the first record it can read there), then reads on from it.
 *
 * Waiting: a reader that finds nothing sets waiters, re-checks and parks
 * on notify; the writer, after publishing, bumps notify and wakes all
 * when waiters is set (seq_cst fences on both sides, Dekker style).
 *
 * The segment is untrusted by readers: every header is bounds-checked and
 * a record that is not torn but disagrees with the reader's sequence is
 * -AXLE_ESHMCORRUPT.
 */
#define _GNU_SOURCE
#include <axle/shm.h>
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"
#include "wait.h"

#define BCAST_MAGIC 0x54534342454c5841ull /* "AXLEBCST" */
#define BCAST_VERSION 1u
#define DATA_AT 256u
#define REC_HDR 16u
#define KIND_DATA 0u
#define KIND_PAD 1u
#define DEATH_CHECK_NS (100 * 1000 * 1000LL)

struct bcast_hdr {
    uint64_t magic;
    uint32_t version;
    uint32_t header_bytes;
    uint64_t capacity;
    int32_t writer;
    uint8_t pad0[36];
    uint64_t tail_intent;
    uint8_t pad1[56];
    uint64_t tail;
    uint64_t oldest;
    uint32_t tail_ver;
    uint32_t zero;
    uint64_t next_seq;
    uint8_t pad2[32];
    uint32_t waiters;
    uint32_t notify;
    uint8_t pad3[56];
};
_Static_assert(sizeof(struct bcast_hdr) == DATA_AT, "bcast layout: data offset");
_Static_assert(__builtin_offsetof(struct bcast_hdr, tail_intent) == 64, "bcast layout");
_Static_assert(__builtin_offsetof(struct bcast_hdr, tail) == 128, "bcast layout");
_Static_assert(__builtin_offsetof(struct bcast_hdr, oldest) == 136, "bcast layout");
_Static_assert(__builtin_offsetof(struct bcast_hdr, next_seq) == 152, "bcast layout");
_Static_assert(__builtin_offsetof(struct bcast_hdr, waiters) == 192, "bcast layout");
_Static_assert(__builtin_offsetof(struct bcast_hdr, notify) == 196, "bcast layout");

struct rec_hdr {
    uint32_t len;
    uint32_t kind;
    uint64_t seq;
};

struct axle_bcast {
    axle_shm *shm;
    struct bcast_hdr *hdr;
    unsigned char *data;
    uint64_t cap, mask;
    bool writer;
    uint64_t pos;    /* writer: tail; reader: its cursor */
    uint64_t oldest; /* writer: its copy of oldest */
    uint64_t seq;    /* writer: the next record's number; reader: the one it expects */
    int pidfd;       /* reader: the writer's pidfd (readable once it exits), or -1 */
    bool lagged;     /* reader: lapped, the count not yet reported */
    unsigned spin;
};

static uint64_t rec_size(uint32_t len) { return ((uint64_t)len + REC_HDR + 15) & ~(uint64_t)15; }

int axle_bcast_create(axle_bcast **out, const char *key, size_t capacity)
{
    *out = NULL;
    if (capacity < 64 || capacity > ((size_t)1 << 30))
        return -EINVAL;
    uint64_t cap = 64;
    while (cap < capacity)
        cap <<= 1;
    axle_bcast *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    int rc = axle_shm_create(&b->shm, key, DATA_AT + cap);
    if (rc < 0) {
        free(b);
        return rc;
    }
    b->hdr = axle_shm_base(b->shm);
    b->data = (unsigned char *)b->hdr + DATA_AT;
    b->cap = cap;
    b->mask = cap - 1;
    b->writer = true;
    b->pidfd = -1;
    b->hdr->version = BCAST_VERSION;
    b->hdr->header_bytes = DATA_AT;
    b->hdr->capacity = cap;
    b->hdr->writer = (int32_t)getpid();
    /* release; pairs with the acquire load of magic in attach. */
    __atomic_store_n(&b->hdr->magic, BCAST_MAGIC, __ATOMIC_RELEASE);
    *out = b;
    return 0;
}

int axle_bcast_attach(axle_bcast **out, const char *key, pid_t owner)
{
    *out = NULL;
    axle_bcast *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    int rc = axle_shm_attach(&b->shm, key, owner);
    if (rc < 0) {
        free(b);
        return rc;
    }
    b->hdr = axle_shm_base(b->shm);
    b->data = (unsigned char *)b->hdr + DATA_AT;
    b->spin = AXLE_RING_SPIN_DEFAULT;
    b->pidfd = -1;
    size_t size = axle_shm_size(b->shm);
    rc = -AXLE_ESHMCORRUPT;
    if (size < DATA_AT)
        goto fail;
    uint64_t magic = __atomic_load_n(&b->hdr->magic, __ATOMIC_ACQUIRE);
    if (magic != BCAST_MAGIC) {
        rc = magic == 0 ? -EAGAIN : -AXLE_ESHMCORRUPT;
        goto fail;
    }
    uint64_t cap = b->hdr->capacity;
    if (b->hdr->version != BCAST_VERSION || b->hdr->header_bytes != DATA_AT || cap < 64 ||
        (cap & (cap - 1)) || cap > size - DATA_AT)
        goto fail;
    b->cap = cap;
    b->mask = cap - 1;
    /* Close-on-exec already. ESRCH: gone, and writer_died's kill() says so. */
    b->pidfd = (int)syscall(SYS_pidfd_open, (pid_t)b->hdr->writer, 0);
    /* A new reader starts at the next record published: read (tail,
     * next_seq) as one, retrying while the writer changes them. */
    for (unsigned tries = 0;; tries++) {
        if (tries > (1u << 20)) { /* a writer stopped mid-update, died, or damage */
            rc = -EAGAIN;
            goto fail;
        }
        uint32_t v1 = __atomic_load_n(&b->hdr->tail_ver, __ATOMIC_ACQUIRE);
        b->pos = __atomic_load_n(&b->hdr->tail, __ATOMIC_RELAXED);
        b->seq = __atomic_load_n(&b->hdr->next_seq, __ATOMIC_RELAXED);
        /* acquire; pairs with the release fence in publish. */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (!(v1 & 1) && __atomic_load_n(&b->hdr->tail_ver, __ATOMIC_RELAXED) == v1)
            break;
        axle__shm_relax();
    }
    *out = b;
    return 0;
fail:
    axle_bcast_close(b);
    return rc;
}

void axle_bcast_close(axle_bcast *b)
{
    if (!b)
        return;
    if (b->pidfd >= 0)
        close(b->pidfd);
    axle_shm_close(b->shm);
    free(b);
}

size_t axle_bcast_max_record(const axle_bcast *b) { return (size_t)(b->cap - REC_HDR); }
void axle_bcast_set_spin(axle_bcast *b, unsigned iterations) { b->spin = iterations; }

/* ------------------------------------------------------------------ writer */

/* Write one record of size bytes at the tail, overwriting what it must. */
static void emit(axle_bcast *b, uint64_t size, uint32_t kind, const void *data, uint32_t len)
{
    uint64_t end = b->pos + size;
    while (end - b->oldest > b->cap) {
        /* Our own records, but in shared memory: clamp what we read back. */
        const struct rec_hdr *h = (const void *)(b->data + (b->oldest & b->mask));
        uint64_t sz = rec_size(__atomic_load_n(&h->len, __ATOMIC_RELAXED));
        if (sz > b->cap - (b->oldest & b->mask))
            sz = b->cap - (b->oldest & b->mask);
        b->oldest += sz;
    }
    /* release; pairs with the acquire load of oldest in a lapped reader. */
    __atomic_store_n(&b->hdr->oldest, b->oldest, __ATOMIC_RELEASE);
    __atomic_store_n(&b->hdr->tail_intent, end, __ATOMIC_RELAXED);
    /* release fence: the intent is visible before any byte we overwrite;
     * pairs with the acquire fence in a reader's validation. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    struct rec_hdr h = {len, kind, b->seq};
    memcpy(b->data + (b->pos & b->mask), &h, sizeof h);
    if (data && len) {
        unsigned char *to = b->data + (b->pos & b->mask) + REC_HDR;
#ifdef AXLE_FAULT_POINTS
        uint32_t half = len / 2; /* the mid-copy fault point sits between the halves */
        memcpy(to, data, half);
        AXLE__SHM_FAULT(AXLE__FP_BCAST_MID_COPY);
        memcpy(to + half, (const unsigned char *)data + half, len - half);
#else
        memcpy(to, data, len);
#endif
    }
    b->pos = end;
}

int axle_bcast_publish(axle_bcast *b, const void *data, size_t len)
{
    if (!b->writer)
        return -EPERM;
    if (len > axle_bcast_max_record(b))
        return -EMSGSIZE;
    uint64_t size = rec_size((uint32_t)len);
    uint64_t room = b->cap - (b->pos & b->mask);
    if (room < size)
        emit(b, room, KIND_PAD, NULL, (uint32_t)(room - REC_HDR));
    emit(b, size, KIND_DATA, data, (uint32_t)len);
    b->seq++;
    /* (tail, next_seq) change together for attach, under tail_ver. */
    uint32_t ver = b->hdr->tail_ver;
    __atomic_store_n(&b->hdr->tail_ver, ver + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&b->hdr->next_seq, b->seq, __ATOMIC_RELAXED);
    /* release; pairs with the acquire load of tail in a reader. */
    __atomic_store_n(&b->hdr->tail, b->pos, __ATOMIC_RELEASE);
    __atomic_store_n(&b->hdr->tail_ver, ver + 2, __ATOMIC_RELEASE);
    /* seq_cst; pairs with the fence in a reader after it sets waiters. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(&b->hdr->waiters, __ATOMIC_RELAXED)) {
        __atomic_store_n(&b->hdr->waiters, 0, __ATOMIC_RELAXED);
        __atomic_fetch_add(&b->hdr->notify, 1, __ATOMIC_RELEASE);
        syscall(SYS_futex, &b->hdr->notify, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
    }
    return 0;
}

/* ------------------------------------------------------------------ reader */

/* Whether the bytes at position p may have been overwritten since they were read. */
static bool overwritten(const axle_bcast *b, uint64_t p)
{
    /* acquire; pairs with the release fence in emit. */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(&b->hdr->tail_intent, __ATOMIC_RELAXED) - p > b->cap;
}

/* Lapped: resume at the oldest intact record; its number will say how many were missed. */
static void jump_to_oldest(axle_bcast *b)
{
    b->pos = __atomic_load_n(&b->hdr->oldest, __ATOMIC_ACQUIRE);
    b->lagged = true;
}

static int try_recv(axle_bcast *b, void *buf, size_t cap, size_t *len, uint64_t *missed)
{
    /* A writer laps a reader at most a few times in a row; a segment that
     * keeps it jumping is damaged. */
    for (unsigned jumps = 0;;) {
        uint64_t tail = __atomic_load_n(&b->hdr->tail, __ATOMIC_ACQUIRE);
        if (b->pos == tail)
            return -EAGAIN;
        if (b->pos > tail) /* oldest never passes tail (see emit): damaged */
            return -AXLE_ESHMCORRUPT;
        if (tail - b->pos > b->cap) { /* lapped */
            if (++jumps > 1000)
                return -AXLE_ESHMCORRUPT;
            jump_to_oldest(b);
            continue;
        }
        uint64_t at = b->pos & b->mask;
        struct rec_hdr h;
        memcpy(&h, b->data + at, sizeof h);
        uint64_t size = rec_size(h.len);
        bool sane = (h.kind == KIND_DATA || h.kind == KIND_PAD) && size <= b->cap - at &&
                    size <= tail - b->pos;
        bool fits = h.kind != KIND_DATA || h.len <= cap;
        if (sane && h.kind == KIND_DATA && fits && h.len)
            memcpy(buf, b->data + at + REC_HDR, h.len);
        if (overwritten(b, b->pos)) { /* torn: throw it away */
            if (++jumps > 1000)
                return -AXLE_ESHMCORRUPT;
            jump_to_oldest(b);
            continue;
        }
        if (!sane)
            return -AXLE_ESHMCORRUPT;
        if (b->lagged) { /* report the gap before the record after it */
            b->lagged = false;
            if (h.seq < b->seq)
                return -AXLE_ESHMCORRUPT;
            uint64_t gap = h.seq - b->seq;
            b->seq = h.seq;
            if (gap) {
                if (missed)
                    *missed = gap;
                return -AXLE_ELAGGED;
            }
        }
        if (h.seq != b->seq)
            return -AXLE_ESHMCORRUPT;
        if (h.kind == KIND_PAD) {
            b->pos += size;
            continue;
        }
        *len = h.len;
        if (!fits)
            return -EMSGSIZE;
        b->pos += size;
        b->seq++;
        return 0;
    }
}

int axle_bcast_recv_nowait(axle_bcast *b, void *buf, size_t cap, size_t *len, uint64_t *missed)
{
    if (b->writer)
        return -EPERM;
    return try_recv(b, buf, cap, len, missed);
}

/* The writer has exited (a pidfd sees a zombie as exited, kill() would not). */
static bool writer_died(const axle_bcast *b)
{
    if (b->pidfd >= 0) {
        struct pollfd p = {.fd = b->pidfd, .events = POLLIN};
        return poll(&p, 1, 0) == 1;
    }
    int32_t pid = __atomic_load_n(&b->hdr->writer, __ATOMIC_RELAXED);
    return pid > 0 && kill(pid, 0) < 0 && errno == ESRCH;
}

int axle_bcast_recv(axle_bcast *b, void *buf, size_t cap, size_t *len, uint64_t *missed,
                    int64_t timeout_ns)
{
    if (b->writer)
        return -EPERM;
    int rc = try_recv(b, buf, cap, len, missed);
    if (rc != -EAGAIN)
        return rc;
    if (timeout_ns == 0)
        return -ETIMEDOUT;
    int64_t deadline = timeout_ns > 0 ? axle__shm_now_ns() + timeout_ns : -1;
    for (unsigned i = 0; i < b->spin; i++) {
        axle__shm_relax();
        if ((rc = try_recv(b, buf, cap, len, missed)) != -EAGAIN)
            return rc;
    }
    for (;;) {
        uint32_t seen = __atomic_load_n(&b->hdr->notify, __ATOMIC_ACQUIRE);
        __atomic_store_n(&b->hdr->waiters, 1, __ATOMIC_RELAXED);
        /* seq_cst; pairs with the fence in publish after the tail store. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        rc = try_recv(b, buf, cap, len, missed);
        /* Dead: one more try, for what it published between our try and
         * its death; only when that finds nothing too is it the end. */
        if (rc == -EAGAIN && writer_died(b) && (rc = try_recv(b, buf, cap, len, missed)) == -EAGAIN)
            rc = -EOWNERDEAD; /* everything it published has been read */
        if (rc != -EAGAIN)
            return rc;
        int64_t now = axle__shm_now_ns();
        if (deadline >= 0 && deadline <= now)
            return -ETIMEDOUT;
        int64_t until = now + DEATH_CHECK_NS;
        if (deadline >= 0 && deadline < until)
            until = deadline;
        if (axle__shm_park(&b->hdr->notify, seen, until, now) == -ECANCELED)
            return -ECANCELED;
    }
}
