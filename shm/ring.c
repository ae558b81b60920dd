/*
 * shm/ring.c — single-producer/single-consumer ring in a shared segment.
 *
 * Design. The layout (ring_layout.h) is a frozen header, a producer cache
 * line (head, cached_tail), a consumer cache line (tail, cached_head), a
 * park line (writer_parked, reader_parked: written only to park or wake,
 * so reading it on every commit and release stays a cache hit) and a
 * power-of-two data area. head and tail
 * are monotonically increasing byte counts; a position is cursor & mask.
 * Each side keeps its own cursor and its cached copy of the other's in its
 * private handle: the copies in the segment are only written (for
 * inspection), never trusted back, so a hostile peer can corrupt nothing
 * but the values this side reads — and each of those is bounds-checked
 * (head - tail <= capacity, 8-byte alignment, record length within both
 * the published bytes and the end of the area, record type known) before
 * it is used as an index; failure is -AXLE_ESHMCORRUPT. Header fields are
 * read once at attach and copied into the handle (no re-read, no TOCTOU).
 *
 * A record never wraps: when one would cross the end of the area, the
 * producer first publishes a PAD record filling the rest of the area
 * (a separate step, so a record up to capacity - 8 bytes always fits once
 * the consumer drains), and the consumer skips PAD records by itself.
 *
 * Fixed rings (header version 2, axle_ring_create_fixed) carry records of
 * one size with no header: a slot of the size rounded up to 8. Where a
 * slot does not fit before the end, both sides skip the rest of the area
 * by rule (no PAD to write or read); the skip goes in with the next
 * record (reserved = skip + slot), so head is only ever published at the
 * end of a record, and a consumer finding less than a slot past its tail
 * reports a corrupt head. Records at most capacity / 2, so a skip and a
 * slot always fit in an empty ring. Bursts copy runs of slots to and from
 * a packed array, one memcpy per run when the size fills its slot.
 *
 * Waiting: spin a per-handle number of iterations, then park on the shared
 * futex word of the waiting side (FUTEX_WAIT without FUTEX_PRIVATE_FLAG:
 * the peer is another process). Lost wake-ups are ruled out by the Dekker
 * pattern below: the waiter sets its parked word, full fence, re-checks the
 * cursor; the waker stores the cursor, full fence, reads the parked word.
 * At least one of the two sees the other's store. The waker clears the word
 * (exchange to 0) before FUTEX_WAKE, so the common case (nobody parked)
 * costs no syscall and a stale FUTEX_WAIT on a cleared word returns EAGAIN.
 *
 * Light wakes. That waker's fence drains the store buffer behind a store to
 * a line the peer is reading: on every record it was most of the cost of a
 * small send or recv (shm.thr at 8 B ran at 0.1x a raw ring). An end whose
 * process can use membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) (registered
 * once per process) is light: it sets its flag in the header
 * (producer_light / consumer_light) and, when it parks, replaces its fence
 * by membarrier, which runs a full barrier in the running threads of every
 * registered process, the waker's included. A waker that is registered
 * itself and sees the peer's flag set then needs only a compiler barrier
 * between its cursor store and its parked-word load: the peer's barrier
 * falls in its instruction stream either before the store (the parked
 * peer's re-check sees the cursor) or after the load (the load sees
 * parked = 1). membarrier costs IPIs (about 15 us a park on a VM), so it
 * pays only with many records per park: an end that moved fewer than
 * LIGHT_AFTER records since its last park turns fenced (flag cleared, then
 * one membarrier, after which every waker fences), and light again once
 * it has moved LIGHT_AFTER without parking. The event fd's helper thread
 * (ring_evfd.c) parks with a plain fence, so a consumer with an event fd
 * turns fenced for good. Rings of peers that predate the flags read them
 * as 0: fenced, the old protocol. One case is not covered: an end taken
 * over from a dead light holder by a process of such an older library
 * inherits the stale flag.
 *
 * Ends are claimed with a CAS of the pid slot from 0; a second claimant
 * gets -EBUSY while the holder lives; close stores 0 back, and the end of a
 * holder that died without closing is taken over (a CAS from its pid).
 *
 * A dead peer. A blocked call checks at each park (so within
 * PEER_CHECK_NS) whether the peer's process has exited, through a pidfd so
 * that an unreaped zombie counts; it then tries once more, so a record the
 * peer committed just before it died is still delivered, and only then
 * returns -EOWNERDEAD. A record reserved but never committed is never
 * seen: head moves only in commit, after the payload and the record
 * header are written. The fault points (fault.h, compiled into test builds
 * only) are where the fault tests kill a writer: after reserve, half-way
 * through a send's copy, and before commit's head store.
 *
 * Barrier table (every atomic and its partner):
 *   what                              order     pairs with
 *   hdr.magic store (create)          release   hdr.magic load, acquire (attach)
 *   hdr.head store (commit, pad)      release   hdr.head load, acquire (fetch_head):
 *                                               record bytes visible before head
 *   hdr.tail store (release, pad)     release   hdr.tail load, acquire (fetch_tail):
 *                                               the consumer's reads of a record
 *                                               finish before the producer reuses it
 *   fence after head/tail store       seq_cst   fence after parked := 1 (park);
 *     (light peer: compiler only)               or the parked peer's membarrier
 *   hdr.reader/writer_parked := 1     relaxed   + seq_cst fence (or membarrier), then
 *                                               the cursor re-check
 *   hdr.producer/consumer_light       relaxed   read by the waker before its parked-
 *                                               word load; cleared, then membarrier
 *                                               (go_fenced); set freely (the setter's
 *                                               parks are heavy from then on)
 *   hdr.reader/writer_parked xchg 0   relaxed   after the waker's seq_cst fence;
 *                                               FUTEX_WAIT compares the word in-kernel
 *   hdr.producer/consumer_pid CAS     acq_rel   release store of 0 in close
 *   record header loads/stores        relaxed   ordered by the head release/acquire;
 *                                               relaxed atomics so a racing hostile
 *                                               writer cannot make us re-read a field
 *
 * Files: this one has the ends, the waits and the calls that move a
 * record at a time; ring_batch.c the batches and bursts; ring_int.h the
 * handle and the inline steps both use (cursor publication, wake-ups,
 * room checks, copies).
 *
 * No allocation after create/attach; nothing here aborts.
 */
#define _GNU_SOURCE
#include <axle/shm.h>
#include <errno.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"
#include "ring_evfd.h"
#include "ring_int.h"
#include "ring_layout.h"
#include "wait.h"

axle__ring_hdr *axle__ring_hdr_of(axle_ring *r) { return r->hdr; }
axle_ring_role axle__ring_role_of(const axle_ring *r) { return r->role; }
static void go_fenced(axle_ring *r);

/* ring_evfd.c's way to the handle's event fd (no side effect). */
struct axle__ring_evfd **axle__ring_evfd_slot(axle_ring *r) { return &r->evfd; }

/*
 * Before ring_evfd.c starts its helper thread: that helper parks on
 * reader_parked with a plain full fence, not the heavy barrier, so from
 * then on the producer must fence its wakes: the consumer end stops being
 * light for good (the flag cleared, then a heavy barrier, so that no wake
 * in flight misses it).
 */
void axle__ring_fence_for_good(axle_ring *r)
{
    r->never_light = true;
    if (r->light_park)
        go_fenced(r);
}

/* ------------------------------------------------------------ open/close */

static int claim(axle_ring *r, axle_ring_role role)
{
    int32_t *slot = role == AXLE_RING_PRODUCER ? &r->hdr->producer_pid : &r->hdr->consumer_pid;
    int32_t expect = 0;
    /* acq_rel; pairs with the release store of 0 in axle_ring_close. */
    if (!__atomic_compare_exchange_n(slot, &expect, (int32_t)r->pid, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        /*
         * Held. By a process that died without closing it? Then the end is
         * free to take over (the CAS from that very pid rules out a race
         * with another taker). A live holder keeps it: -EBUSY.
         */
        if (expect <= 0 || expect == (int32_t)r->pid || kill(expect, 0) == 0 || errno != ESRCH ||
            !__atomic_compare_exchange_n(slot, &expect, (int32_t)r->pid, false, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE))
            return -EBUSY;
    }
    r->role = role;
    axle__ring_hdr *h = r->hdr;
    r->own_light = role == AXLE_RING_PRODUCER ? &h->producer_light : &h->consumer_light;
    r->peer_light = role == AXLE_RING_PRODUCER ? &h->consumer_light : &h->producer_light;
    r->light_park = r->light;
    __atomic_store_n(r->own_light, r->light ? 1u : 0u, __ATOMIC_RELEASE);
    return 0;
}

/*
 * Light wakes need every process holding an end to be a target of
 * membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED): register once per process.
 * Fork story: the registering pid is remembered, so a forked child (whose
 * registration the kernel may not carry over) registers again.
 */
static pid_t membarrier_pid;

static bool membarrier_ready(void)
{
    pid_t me = getpid();
    if (__atomic_load_n(&membarrier_pid, __ATOMIC_RELAXED) == me)
        return true;
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) != 0)
        return false; /* no membarrier (Linux < 4.16, seccomp): the fenced protocol */
    __atomic_store_n(&membarrier_pid, me, __ATOMIC_RELAXED);
    return true;
}

static int ring_new(axle_ring **out, axle_shm *shm)
{
    axle_ring *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->shm = shm;
    r->hdr = axle_shm_base(shm);
    r->data = (unsigned char *)r->hdr + sizeof(axle__ring_hdr);
    r->pid = getpid();
    r->spin = AXLE_RING_SPIN_DEFAULT;
    r->peer_fd = -1;
    r->light = membarrier_ready();
    *out = r;
    return 0;
}

/* A fixed ring's slot for record_size bytes, or 0 if that size is not allowed in cap bytes. */
static uint64_t slot_of(uint64_t record_size, uint64_t cap)
{
    return record_size >= 1 && record_size <= cap / 2 ? align8(record_size) : 0;
}

/* The data-area bytes for a requested capacity: a power of two in [CAP_MIN, CAP_MAX], or 0. */
static uint64_t cap_for(size_t capacity)
{
    if (capacity == 0 || capacity > AXLE__RING_CAP_MAX)
        return 0;
    uint64_t cap = AXLE__RING_CAP_MIN;
    while (cap < capacity)
        cap <<= 1;
    return cap;
}

/*
 * Write a new ring's header into shm (sizeof header + cap bytes, not in
 * use by anyone) and claim role. The handle takes shm only on success.
 */
static int ring_format(axle_ring **out, axle_shm *shm, uint64_t cap, size_t record_size,
                       axle_ring_role role)
{
    axle_ring *r;
    int rc = ring_new(&r, shm);
    if (rc < 0)
        return rc;
    axle__ring_hdr *h = r->hdr;
    memset(h, 0, sizeof *h); /* a fresh segment is zero already; a reused one is not */
    h->version = record_size ? AXLE__RING_VERSION_FIXED : AXLE__RING_VERSION;
    h->layout_size = sizeof(axle__ring_hdr);
    h->capacity = cap;
    h->record_size = (uint32_t)record_size;
    r->cap = cap;
    r->mask = cap - 1;
    r->fixed = (uint32_t)record_size;
    r->slot = record_size ? slot_of(record_size, cap) : 0;
    if ((rc = claim(r, role)) < 0) {
        free(r);
        return rc;
    }
    /* release; pairs with the acquire load of magic in ring_open. */
    __atomic_store_n(&h->magic, AXLE__RING_MAGIC, __ATOMIC_RELEASE);
    *out = r;
    return 0;
}

static int ring_create(axle_ring **out, const char *key, size_t capacity, size_t record_size,
                       axle_ring_role role)
{
    *out = NULL;
    uint64_t cap = cap_for(capacity);
    if ((role != AXLE_RING_PRODUCER && role != AXLE_RING_CONSUMER) || !cap ||
        (record_size && !slot_of(record_size, cap)))
        return -EINVAL;
    axle_shm *shm;
    int rc = axle_shm_create(&shm, key, sizeof(axle__ring_hdr) + cap);
    if (rc < 0)
        return rc;
    if ((rc = ring_format(out, shm, cap, record_size, role)) < 0)
        axle_shm_close(shm);
    return rc;
}

int axle_ring_create(axle_ring **out, const char *key, size_t capacity, axle_ring_role role)
{
    return ring_create(out, key, capacity, 0, role);
}

int axle_ring_create_fixed(axle_ring **out, const char *key, size_t capacity, size_t record_size,
                           axle_ring_role role)
{
    if (record_size == 0) {
        *out = NULL;
        return -EINVAL;
    }
    return ring_create(out, key, capacity, record_size, role);
}

size_t axle_ring_segment_size(size_t capacity)
{
    uint64_t cap = cap_for(capacity);
    return cap ? (size_t)(sizeof(axle__ring_hdr) + cap) : 0;
}

int axle_ring_create_on(axle_ring **out, axle_shm *seg, size_t record_size, axle_ring_role role)
{
    *out = NULL;
    size_t size = seg ? axle_shm_size(seg) : 0;
    uint64_t cap = size > sizeof(axle__ring_hdr) ? size - sizeof(axle__ring_hdr) : 0;
    if ((role != AXLE_RING_PRODUCER && role != AXLE_RING_CONSUMER) || !cap || cap_for(cap) != cap ||
        (record_size && !slot_of(record_size, cap)))
        return -EINVAL;
    return ring_format(out, seg, cap, record_size, role);
}

/* Validate the ring in shm and claim role. The handle takes shm only on success. */
static int ring_open(axle_ring **out, axle_shm *shm, axle_ring_role role)
{
    size_t size = axle_shm_size(shm);
    if (size < sizeof(axle__ring_hdr))
        return -AXLE_ESHMCORRUPT;
    axle_ring *r;
    int rc = ring_new(&r, shm);
    if (rc < 0)
        return rc;
    axle__ring_hdr *h = r->hdr;
    /* acquire; pairs with the release store of magic in ring_format. */
    uint64_t magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);
    uint32_t version = __atomic_load_n(&h->version, __ATOMIC_RELAXED);
    uint32_t layout = __atomic_load_n(&h->layout_size, __ATOMIC_RELAXED);
    uint64_t cap = __atomic_load_n(&h->capacity, __ATOMIC_RELAXED);
    rc = -AXLE_ESHMCORRUPT;
    if (magic == 0 && version == 0) {
        rc = -EAGAIN; /* the creator is still initialising it */
        goto out_free;
    }
    if (magic != AXLE__RING_MAGIC ||
        (version != AXLE__RING_VERSION && version != AXLE__RING_VERSION_FIXED) ||
        layout != sizeof(axle__ring_hdr))
        goto out_free;
    if (cap < AXLE__RING_CAP_MIN || cap > AXLE__RING_CAP_MAX || (cap & (cap - 1)) != 0 ||
        size != sizeof(axle__ring_hdr) + cap)
        goto out_free;
    if (version == AXLE__RING_VERSION_FIXED) {
        uint32_t rs = __atomic_load_n(&h->record_size, __ATOMIC_RELAXED);
        if (!slot_of(rs, cap))
            goto out_free;
        r->fixed = rs;
        r->slot = slot_of(rs, cap);
    }
    r->cap = cap;
    r->mask = cap - 1;
    uint64_t head = __atomic_load_n(&h->head, __ATOMIC_ACQUIRE);
    uint64_t tail = __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE);
    if ((head & 7) || (tail & 7) || head - tail > cap)
        goto out_free;
    r->head = r->cached_head = r->pub_head = head;
    r->tail = r->cached_tail = r->pub_tail = tail;
    if ((rc = claim(r, role)) < 0)
        goto out_free;
    *out = r;
    return 0;

out_free:
    free(r);
    return rc;
}

int axle_ring_attach(axle_ring **out, const char *key, pid_t owner, axle_ring_role role)
{
    *out = NULL;
    if (role != AXLE_RING_PRODUCER && role != AXLE_RING_CONSUMER)
        return -EINVAL;
    axle_shm *shm;
    int rc = axle_shm_attach(&shm, key, owner);
    if (rc < 0)
        return rc;
    if ((rc = ring_open(out, shm, role)) < 0)
        axle_shm_close(shm);
    return rc;
}

int axle_ring_attach_on(axle_ring **out, axle_shm *seg, axle_ring_role role)
{
    *out = NULL;
    if (!seg || (role != AXLE_RING_PRODUCER && role != AXLE_RING_CONSUMER))
        return -EINVAL;
    return ring_open(out, seg, role);
}

const axle_shm *axle_ring_segment(const axle_ring *r) { return r->shm; }

void axle_ring_close(axle_ring *r)
{
    if (!r)
        return;
    axle__ring_evfd_stop(r);
    if (r->role == AXLE_RING_PRODUCER)
        axle_ring_drain(r); /* what still does not fit is dropped: see the header */
    while (r->q_head) {
        struct queued *q = r->q_head;
        r->q_head = q->next;
        free(q);
    }
    axle_ring_flush(r); /* nothing committed or released is left unpublished */
    int32_t *slot = r->role == AXLE_RING_PRODUCER ? &r->hdr->producer_pid : &r->hdr->consumer_pid;
    int32_t expect = (int32_t)r->pid;
    if (r->role && __atomic_load_n(slot, __ATOMIC_RELAXED) == expect)
        __atomic_store_n(r->own_light, 0, __ATOMIC_RELAXED); /* the next holder sets its own */
    /* release; pairs with the acq_rel CAS in claim. Only if still ours. */
    __atomic_compare_exchange_n(slot, &expect, 0, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
    if (r->peer_fd >= 0)
        close(r->peer_fd);
    axle_shm_close(r->shm);
    free(r);
}

size_t axle_ring_capacity(const axle_ring *r) { return (size_t)r->cap; }
size_t axle_ring_max_record(const axle_ring *r)
{
    return r->fixed ? r->fixed : (size_t)(r->cap - sizeof(axle__ring_rec));
}
size_t axle_ring_record_size(const axle_ring *r) { return r->fixed; }
void axle_ring_set_spin(axle_ring *r, unsigned iterations) { r->spin = iterations; }

/* ------------------------------------------------------------ wake / park */

/* A full barrier in the running threads of every registered process (the peer's among them). */
static bool heavy_barrier(void)
{
    return syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) == 0;
}

/*
 * Stop being light: clear the flag, then a heavy barrier, after which
 * every waker sees the flag clear (and fences); a wake that read it set
 * before then stored its cursor before the barrier, so the re-check after
 * it sees the cursor. Should membarrier fail after registering worked, a
 * wake already in flight may be missed: the park is bounded by PEER_CHECK_NS.
 */
static void go_fenced(axle_ring *r)
{
    __atomic_store_n(r->own_light, 0, __ATOMIC_RELAXED);
    r->light_park = false;
    if (!heavy_barrier())
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/*
 * The waiter's half, after parked := 1 and before re-checking the cursor.
 * Light: membarrier(GLOBAL_EXPEDITED), a full barrier in the waker's
 * thread wherever it stands, so the waker needs none of its own on each
 * record. It costs IPIs (about 15 us a park on a VM), worth it only with
 * many records per park: an end that moved fewer than LIGHT_AFTER records
 * since it last parked goes fenced here (a fence in this park and in each
 * of the waker's wakes), and light again (count_records) once it has moved
 * that many without parking.
 */
static void park_barrier(axle_ring *r)
{
    bool busy = r->since_park >= LIGHT_AFTER;
    r->since_park = 0;
    if (r->light_park) {
        if (!busy || !heavy_barrier())
            go_fenced(r); /* its heavy barrier serves this park too */
        return;
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* pairs with wake_peer's fence */
}

/*
 * How a blocking call parks, when something better than FUTEX_WAIT is at
 * hand: libaxle installs one that parks the calling task on the io_uring
 * futex wait, so other tasks run and the wait is a cancellation point. It
 * returns 1 when it cannot help (not on a task: FUTEX_WAIT is used), 0
 * after a wake-up or the deadline (the caller re-checks), or -ECANCELED.
 * libaxle-shm alone has none. Fork story: inherited, as code.
 */
typedef int (*axle__shm_park_fn)(uint32_t *word, uint32_t expected, int64_t deadline_ns);
static axle__shm_park_fn park_hook;

void axle__shm_set_park(axle__shm_park_fn fn) { park_hook = fn; }

/* See wait.h; also used by the broadcast ring (bcast.c). */
int axle__shm_park(uint32_t *word, uint32_t expected, int64_t until, int64_t now)
{
    int prc = park_hook ? park_hook(word, expected, until) : 1;
    if (prc == -ECANCELED)
        return prc;
    /* Shared futex: the peer is another process. EAGAIN (the word changed),
     * EINTR and ETIMEDOUT all return to re-check. */
    if (prc == 1) {
        int64_t left = until - now;
        struct timespec ts = {left / 1000000000, left % 1000000000};
        syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, NULL, 0);
    }
    return 0;
}

/*
 * Whether the process holding the other end has died (not merely closed
 * it). A dead process that is not reaped yet is dead too: kill(pid, 0)
 * still finds a zombie, so a reader parked on a writer it forked itself
 * (and cannot reap while it waits) would never wake. A pidfd is readable
 * once its process exited, zombie or not (Linux 5.3; without pidfd_open,
 * kill() alone). Called at most once per park (every PEER_CHECK_NS).
 */
static bool peer_died(axle_ring *r, const int32_t *slot)
{
    int32_t pid = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (pid <= 0)
        return false;
    /* One pidfd per holder, kept: a park must not cost three syscalls more. */
    if (r->peer_fd >= 0 && r->peer_fd_pid != pid) {
        close(r->peer_fd);
        r->peer_fd = -1;
    }
    if (r->peer_fd < 0) {
        r->peer_fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
        if (r->peer_fd < 0)
            return errno == ESRCH || (kill(pid, 0) < 0 && errno == ESRCH);
        r->peer_fd_pid = pid;
    }
    struct pollfd p = {.fd = r->peer_fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

/* How long one park lasts at most: a peer's death is noticed within it. */
#define PEER_CHECK_NS (100 * 1000 * 1000LL)

/*
 * Run try until it stops returning -EAGAIN: spin, then park on word (the
 * waiting side's futex), bounded by timeout_ns (< 0: forever).
 */
int axle__ring_wait(axle_ring *r, uint32_t *word, const int32_t *peer, try_fn try, void *arg,
                    int64_t timeout_ns)
{
    int rc = try(r, arg);
    if (rc != -EAGAIN)
        return rc;
    if (timeout_ns == 0)
        return -ETIMEDOUT;
    int64_t deadline = timeout_ns > 0 ? axle__shm_now_ns() + timeout_ns : -1;
    for (unsigned i = 0; i < r->spin; i++) {
        axle__shm_relax();
        rc = try(r, arg);
        if (rc != -EAGAIN)
            return rc;
    }
    /* The peer's death is looked for before the first park and after a
     * park that ran to its end, never after a wake-up: a busy parked
     * exchange pays no syscall for it. */
    bool check = true;
    for (;;) {
        __atomic_store_n(word, 1, __ATOMIC_RELAXED);
        park_barrier(r); /* pairs with wake_peer after the cursor store */
        rc = try(r, arg);
        /* Dead: one more try, for what it published between our try and
         * its death; only when that finds nothing too is it the end. */
        if (rc == -EAGAIN && check && peer_died(r, peer) && (rc = try(r, arg)) == -EAGAIN)
            rc = -EOWNERDEAD; /* everything it committed has been taken */
        if (rc != -EAGAIN) {
            __atomic_store_n(word, 0, __ATOMIC_RELAXED);
            return rc;
        }
        int64_t now = axle__shm_now_ns();
        if (deadline >= 0 && deadline <= now) {
            __atomic_store_n(word, 0, __ATOMIC_RELAXED);
            return -ETIMEDOUT;
        }
        /* Park at most PEER_CHECK_NS, so a dead peer is noticed in bounded time. */
        int64_t until = now + PEER_CHECK_NS;
        if (deadline >= 0 && deadline < until)
            until = deadline;
        if (axle__shm_park(word, 1, until, now) == -ECANCELED) {
            __atomic_store_n(word, 0, __ATOMIC_RELAXED);
            return -ECANCELED;
        }
        check = axle__shm_now_ns() >= until;
    }
}

/* --------------------------------------------------------------- producer */

typedef struct reserve_arg {
    size_t len; /* payload bytes */
    void **buf; /* where the payload goes */
} reserve_arg;

static inline __attribute__((always_inline)) int reserve_try(axle_ring *r, void *arg)
{
    reserve_arg *a = arg;
    uint64_t total = align8(sizeof(axle__ring_rec) + a->len);
    uint64_t pos = r->head & r->mask;
    uint64_t to_end = r->cap - pos;
    int ok;
    if (r->fixed) {
        /* No header, no PAD: the skip (if any) and the slot go in at commit. */
        uint64_t skip = skip_at(r, pos);
        if ((ok = room(r, skip + r->slot)) <= 0)
            goto full;
        r->reserved = skip + r->slot;
        r->reserved_len = r->fixed;
        *a->buf = r->data + ((pos + skip) & r->mask);
        AXLE__SHM_FAULT(AXLE__FP_AFTER_RESERVE);
        return 0;
    }
    if (total > to_end) {
        /* Publish a PAD to the end first; the record then starts at 0. */
        ok = room(r, to_end);
        if (ok <= 0)
            goto full;
        rec_write(r, pos, (uint32_t)(to_end - sizeof(axle__ring_rec)), AXLE__REC_PAD);
        r->head += to_end;
        publish_head(r);
        pos = 0;
    }
    ok = room(r, total);
    if (ok <= 0)
        goto full;
    r->reserved = total;
    r->reserved_len = (uint32_t)a->len;
    *a->buf = r->data + pos + sizeof(axle__ring_rec);
    AXLE__SHM_FAULT(AXLE__FP_AFTER_RESERVE);
    return 0;

full:
    if (ok < 0)
        return ok;
    /* No room, not even for the PAD: deferred commits go out now, or a
     * waiting consumer never sees them and never makes room (found by
     * test_shm_fault's random schedule: a full ring whose next record
     * needed a PAD hung both sides). */
    if (r->pub_head != r->head)
        publish_head(r);
    return -EAGAIN;
}

static int reserve_check(axle_ring *r, size_t len)
{
    if (r->role != AXLE_RING_PRODUCER)
        return -EPERM;
    if (r->reserved)
        return -EINVAL;
    if (!len_fits(r, len))
        return -EMSGSIZE;
    return 0;
}

int axle_ring_reserve(axle_ring *r, size_t len, void **buf, int64_t timeout_ns)
{
    int rc = reserve_check(r, len);
    if (rc < 0)
        return rc;
    reserve_arg a = {len, buf};
    return axle__ring_wait(r, &r->hdr->writer_parked, &r->hdr->consumer_pid, reserve_try, &a,
                           timeout_ns);
}

int axle_ring_reserve_nowait(axle_ring *r, size_t len, void **buf)
{
    int rc = reserve_check(r, len);
    if (rc < 0)
        return rc;
    reserve_arg a = {len, buf};
    return reserve_try(r, &a);
}

static inline int commit(axle_ring *r, bool publish)
{
    if (r->role != AXLE_RING_PRODUCER)
        return -EPERM;
    if (!r->reserved)
        return -EINVAL;
    if (!r->fixed)
        rec_write(r, r->head & r->mask, r->reserved_len, AXLE__REC_DATA);
    AXLE__SHM_FAULT(AXLE__FP_BEFORE_COMMIT);
    r->head += r->reserved;
    r->reserved = 0;
    count_records(r, 1);
    if (publish)
        publish_head(r);
    return 0;
}

int axle_ring_commit(axle_ring *r) { return commit(r, true); }
int axle_ring_commit_deferred(axle_ring *r) { return commit(r, false); }

void axle_ring_flush(axle_ring *r)
{
    if (r->role == AXLE_RING_PRODUCER && r->pub_head != r->head)
        publish_head(r);
    else if (r->role == AXLE_RING_CONSUMER && r->pub_tail != r->tail)
        publish_tail(r);
}

/* Copy one record in if it fits now; -EAGAIN if not. */
static int send_now(axle_ring *r, const void *data, size_t len)
{
    void *buf;
    int rc = axle_ring_reserve_nowait(r, len, &buf);
    if (rc < 0)
        return rc;
    copy_in(buf, data, len);
    return axle_ring_commit(r);
}

int axle_ring_drain(axle_ring *r)
{
    if (r->role != AXLE_RING_PRODUCER)
        return -EPERM;
    while (r->q_head) {
        struct queued *q = r->q_head;
        int rc = send_now(r, q->data, q->len);
        if (rc == -EAGAIN)
            break;
        if (rc < 0)
            return rc;
        r->q_head = q->next;
        if (!r->q_head)
            r->q_tail = NULL;
        r->q_bytes -= q->len;
        r->q_count--;
        free(q);
    }
    return (int)(r->q_count > INT32_MAX ? INT32_MAX : r->q_count);
}

/* ring_wait's try for axle_ring_drain_wait: 0 once the queue is empty. */
static int drain_try(axle_ring *r, void *arg)
{
    (void)arg;
    int n = axle_ring_drain(r);
    return n < 0 ? n : n == 0 ? 0 : -EAGAIN;
}

int axle_ring_drain_wait(axle_ring *r, int64_t timeout_ns)
{
    if (r->role != AXLE_RING_PRODUCER)
        return -EPERM;
    return axle__ring_wait(r, &r->hdr->writer_parked, &r->hdr->consumer_pid, drain_try, NULL,
                           timeout_ns);
}

size_t axle_ring_queued(const axle_ring *r) { return r->q_count; }

int axle_ring_set_overrun(axle_ring *r, axle_overrun policy, size_t drain_max)
{
    if (r->role != AXLE_RING_PRODUCER)
        return -EPERM;
    if (policy != AXLE_OVERRUN_BLOCK && policy != AXLE_OVERRUN_ERROR &&
        policy != AXLE_OVERRUN_DRAIN)
        return -EINVAL;
    if (policy != AXLE_OVERRUN_DRAIN && r->q_head)
        return -EBUSY; /* records are still queued: drain them first */
    r->overrun = policy;
    r->q_max = drain_max ? drain_max : AXLE_RING_DRAIN_MAX_DEFAULT;
    return 0;
}

/* The drain policy: keep order, queue what does not fit, bounded. */
int axle__ring_send_drain(axle_ring *r, const void *data, size_t len)
{
    int rc = axle_ring_drain(r);
    if (rc < 0)
        return rc;
    if (!r->q_head) {
        rc = send_now(r, data, len);
        if (rc != -EAGAIN)
            return rc;
    }
    return axle__ring_queue(r, data, len);
}

int axle__ring_queue(axle_ring *r, const void *data, size_t len)
{
    if (!len_fits(r, len))
        return -EMSGSIZE; /* queued, it would fail every later drain */
    if (r->q_bytes + len > r->q_max)
        return -AXLE_EOVERRUN; /* the bound: nothing lost silently */
    struct queued *q = malloc(sizeof *q + len);
    if (!q)
        return -ENOMEM;
    q->next = NULL;
    q->len = len;
    if (len)
        memcpy(q->data, data, len);
    if (r->q_tail)
        r->q_tail->next = q;
    else
        r->q_head = q;
    r->q_tail = q;
    r->q_bytes += len;
    r->q_count++;
    return 0;
}

int axle_ring_send(axle_ring *r, const void *data, size_t len, int64_t timeout_ns)
{
    int rc = reserve_check(r, len);
    if (rc < 0)
        return rc;
    if (r->overrun == AXLE_OVERRUN_ERROR) {
        rc = send_now(r, data, len);
        return rc == -EAGAIN ? -AXLE_EOVERRUN : rc;
    }
    if (r->overrun == AXLE_OVERRUN_DRAIN)
        return axle__ring_send_drain(r, data, len);
    void *buf;
    reserve_arg a = {len, &buf};
    rc = reserve_try(r, &a); /* the common case, without ring_wait's indirect call */
    if (rc == -EAGAIN)
        rc = axle__ring_wait(r, &r->hdr->writer_parked, &r->hdr->consumer_pid, reserve_try, &a,
                             timeout_ns);
    if (rc < 0)
        return rc;
    copy_in(buf, data, len);
    return commit(r, true);
}

int axle_ring_send_nowait(axle_ring *r, const void *data, size_t len)
{
    int rc = reserve_check(r, len);
    if (rc < 0)
        return rc;
    if (r->overrun == AXLE_OVERRUN_DRAIN)
        return axle__ring_send_drain(r, data, len);
    rc = send_now(r, data, len);
    return rc == -EAGAIN && r->overrun == AXLE_OVERRUN_ERROR ? -AXLE_EOVERRUN : rc;
}

/* --------------------------------------------------------------- consumer */

static inline __attribute__((always_inline)) int peek_try(axle_ring *r, void *arg)
{
    (void)arg;
    if (r->peeked) {
        if (r->peek_count > 1) { /* after peek_batch: just the first record from now on */
            r->peeked = r->fixed ? r->slot : align8(sizeof(axle__ring_rec) + r->peek_len);
            r->peek_count = 1;
        }
        return 0;
    }
    for (;;) {
        int64_t avail = fetch_head(r);
        if (avail < 0)
            return (int)avail;
        if (avail == 0) {
            /* Empty: deferred releases go out now, or a full producer never sees them. */
            if (r->pub_tail != r->tail)
                publish_tail(r);
            return -EAGAIN;
        }
        struct ring_view v = ring_view_of(r);
        const void *buf;
        uint32_t len;
        uint64_t step;
        int k = rec_step(&v, r->tail, (uint64_t)avail, &buf, &len, &step);
        if (k < 0)
            return k;
        if (k == REC_SKIP) { /* a PAD or a skip: its room goes back at once */
            r->tail += step;
            publish_tail(r);
            continue;
        }
        r->peeked = step;
        r->peek_count = 1;
        r->peek_buf = buf;
        r->peek_len = len;
        return 0;
    }
}

int axle_ring_peek(axle_ring *r, const void **buf, size_t *len, int64_t timeout_ns)
{
    if (r->role != AXLE_RING_CONSUMER)
        return -EPERM;
    int rc = peek_try(r, NULL); /* the common case, without ring_wait's indirect call */
    if (rc == -EAGAIN)
        rc = axle__ring_wait(r, &r->hdr->reader_parked, &r->hdr->producer_pid, peek_try, NULL,
                             timeout_ns);
    if (rc < 0)
        return rc;
    *buf = r->peek_buf;
    *len = r->peek_len;
    return 0;
}

int axle_ring_peek_nowait(axle_ring *r, const void **buf, size_t *len)
{
    if (r->role != AXLE_RING_CONSUMER)
        return -EPERM;
    int rc = peek_try(r, NULL);
    if (rc < 0)
        return rc;
    *buf = r->peek_buf;
    *len = r->peek_len;
    return 0;
}

static inline int release(axle_ring *r, bool publish)
{
    if (r->role != AXLE_RING_CONSUMER)
        return -EPERM;
    if (!r->peeked)
        return -EINVAL;
    r->tail += r->peeked;
    r->peeked = 0;
    count_records(r, r->peek_count);
    if (publish)
        publish_tail(r);
    return 0;
}

int axle_ring_release(axle_ring *r) { return release(r, true); }
int axle_ring_release_deferred(axle_ring *r) { return release(r, false); }

static inline int copy_out(axle_ring *r, const void *src, size_t n, void *buf, size_t cap,
                           size_t *len)
{
    *len = n;
    if (n > cap)
        return -EMSGSIZE;
    copy_bytes(buf, src, n);
    return release(r, true);
}

int axle_ring_recv(axle_ring *r, void *buf, size_t cap, size_t *len, int64_t timeout_ns)
{
    const void *src;
    size_t n;
    int rc = axle_ring_peek(r, &src, &n, timeout_ns);
    if (rc < 0)
        return rc;
    return copy_out(r, src, n, buf, cap, len);
}

int axle_ring_recv_nowait(axle_ring *r, void *buf, size_t cap, size_t *len)
{
    const void *src;
    size_t n;
    int rc = axle_ring_peek_nowait(r, &src, &n);
    if (rc < 0)
        return rc;
    return copy_out(r, src, n, buf, cap, len);
}
