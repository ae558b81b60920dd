/*
 * bench/shm.c — the shared-memory SPSC ring (axle/shm.h) between two
 * processes: one fork per measurement, parent pinned to CPU 0, child to
 * CPU 1. Every segment key carries the parent's pid; the parent creates
 * (and at the end closes, which unlinks) every segment; children attach,
 * never close the parent's handles, and end with _exit().
 *
 *   shm.rtt     (8, 64, 1024 B) Ping-pong: the parent sends a record on one
 *       ring, the child copies it back on a second ring. Both sides
 *       busy-poll with the _nowait forms in a tight loop (no pause, never
 *       parks). p50/p99/p999 of 20,000 round trips per repetition (each
 *       timed alone), medians over the repetitions. Ring capacity 1 MiB.
 *       Baselines, same pins, same tight polling:
 *         cacheline: the floor — a counter in one shared cache line
 *           (MAP_SHARED anonymous, mapped before the fork) bumped by each
 *           side in turn; carries no payload, measured at each size so
 *           that it interleaves with the others.
 *         raw_ring: a minimal SPSC ring in this file: fixed-size slots
 *           (size rounded up to 8), two cursors on their own cache lines,
 *           acquire/release, each side caching the peer's cursor (as axle
 *           does); no record header, no bounds checks, no futex words.
 *       Then the other programs' IPC (shm_peers.c): pipe, socketpair,
 *       zmq_ipc and iceoryx (busy-polling pub/sub, iox.c; its RouDi is
 *       started for each iceoryx measurement and stopped after it, so it
 *       never runs beside the other rows).
 *       ratio = axle p50 ÷ baseline p50.
 *   shm.rtt.parked (64 B) The same ping-pong with both sides parked on
 *       every wait: axle's blocking axle_ring_send / axle_ring_recv with a
 *       spin of 0 (a waiting side goes straight to its futex word, the
 *       peer's commit wakes it). Baselines: futex, two shared words with a
 *       raw FUTEX_WAIT / FUTEX_WAKE ping-pong (the floor for a parked
 *       wake-up); eventfd, a blocking read / write pair. ratio = axle p50 ÷
 *       baseline p50.
 *   shm.thr     (8, 64, 1024, 65536 B) One-way stream: the child produces
 *       with the copying axle_ring_send, the parent consumes with
 *       axle_ring_recv into its own buffer; blocking calls with a spin of
 *       2^24 pause iterations (neither side parks while the stream runs).
 *       A repetition is the time to receive n records of a continuous
 *       stream; msgs_per_s and bytes_per_s. Capacity 1 MiB (8 MiB at
 *       64 KiB). Baselines: raw_ring (same sizes and capacity, pause in its
 *       wait loops); memcpy (≥ 64 KiB): memcpy of the same size between two
 *       buffers in one process; at ≤ 1 KiB pipe, socketpair, zmq_ipc and
 *       iceoryx (shm_peers.c). speedup = axle msgs/s ÷ baseline's.
 *   shm.thr.zc  (64 KiB, 1 MiB; capacity 8 MiB) The same stream, zero-copy:
 *       the producer reserves, fills the payload in place (memset) and
 *       commits; the consumer peeks, reads the payload in place (one
 *       8-byte load per cache line) and releases. Baseline axle_copy: the
 *       same application work over the copying path (memset a local
 *       buffer, send; recv into a local buffer, read it), measured in the
 *       same run. speedup = zero-copy rate ÷ copying rate.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <axle/shm.h>
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

enum { RTT_ROUNDS = 20000 };

#define SMALL_CAP ((size_t)1 << 20)
#define BIG_CAP ((size_t)8 << 20)
#define SPIN_NEVER_PARK (1u << 24)
#define CHILD_TIMEOUT_NS ((int64_t)20 * 1000000000)

static size_t cap_for(size_t size) { return size >= 65536 ? BIG_CAP : SMALL_CAP; }

static inline void relax(void) { __builtin_ia32_pause(); }

static void key_of(char *buf, size_t len, const char *what)
{
    snprintf(buf, len, "bench-shm-%ld-%s", (long)getpid(), what);
}

static void *shared_map(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void bench_shm_child(int cpu)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    bench_pin(cpu);
}

int bench_reap(pid_t pid, int rc)
{
    int status;
    if (pid <= 0) /* no child (a failed fork): never kill(-1) or kill(0) */
        return rc < 0 ? rc : -ECHILD;
    if (rc < 0)
        kill(pid, SIGKILL);
    if (waitpid(pid, &status, 0) < 0)
        return rc < 0 ? rc : -errno;
    if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        return -EIO;
    return rc;
}

/* ---- the raw SPSC ring baseline ---------------------------------------------- */

struct raw_hdr {
    _Alignas(64) uint64_t head; /* producer's cursor: slots published */
    _Alignas(64) uint64_t tail; /* consumer's cursor: slots consumed */
    _Alignas(64) unsigned char data[];
};

struct raw {
    struct raw_hdr *h;
    size_t map_len;
    uint64_t mask, slot; /* slot count - 1, slot bytes */
    uint64_t pos;        /* own cursor */
    uint64_t peer;       /* cached peer cursor */
};

static int raw_open(struct raw *r, size_t cap, size_t size)
{
    uint64_t slot = (size + 7) & ~(size_t)7, n = 1;
    while (n * 2 * slot <= cap)
        n *= 2;
    r->map_len = sizeof(struct raw_hdr) + n * slot;
    r->h = shared_map(r->map_len);
    if (!r->h)
        return -ENOMEM;
    r->mask = n - 1, r->slot = slot, r->pos = r->peer = 0;
    return 0;
}

static void raw_close(struct raw *r) { munmap(r->h, r->map_len); }

/* Send one record of len bytes; pause in the wait loop or not. */
static inline void raw_send(struct raw *r, const void *src, size_t len, bool pause)
{
    while (r->pos - r->peer > r->mask) {
        r->peer = __atomic_load_n(&r->h->tail, __ATOMIC_ACQUIRE);
        if (pause && r->pos - r->peer > r->mask)
            relax();
    }
    memcpy(r->h->data + (r->pos & r->mask) * r->slot, src, len);
    __atomic_store_n(&r->h->head, ++r->pos, __ATOMIC_RELEASE);
}

static inline void raw_recv(struct raw *r, void *dst, size_t len, bool pause)
{
    while (r->pos == r->peer) {
        r->peer = __atomic_load_n(&r->h->head, __ATOMIC_ACQUIRE);
        if (pause && r->pos == r->peer)
            relax();
    }
    memcpy(dst, r->h->data + (r->pos & r->mask) * r->slot, len);
    __atomic_store_n(&r->h->tail, ++r->pos, __ATOMIC_RELEASE);
}

/* A run of m records (m <= slots) from src, packed; waits for room for all of them. */
static inline void raw_send_run(struct raw *r, const unsigned char *src, uint64_t m)
{
    while (r->pos + m - r->peer > r->mask + 1) {
        r->peer = __atomic_load_n(&r->h->tail, __ATOMIC_ACQUIRE);
        if (r->pos + m - r->peer > r->mask + 1)
            relax();
    }
    uint64_t i = r->pos & r->mask, first = r->mask + 1 - i < m ? r->mask + 1 - i : m;
    memcpy(r->h->data + i * r->slot, src, first * r->slot);
    memcpy(r->h->data, src + first * r->slot, (m - first) * r->slot);
    __atomic_store_n(&r->h->head, r->pos += m, __ATOMIC_RELEASE);
}

/* Up to max records into dst, packed, once there is one: how many. */
static inline uint64_t raw_recv_run(struct raw *r, unsigned char *dst, uint64_t max)
{
    while (r->pos == r->peer) {
        r->peer = __atomic_load_n(&r->h->head, __ATOMIC_ACQUIRE);
        if (r->pos == r->peer)
            relax();
    }
    uint64_t m = r->peer - r->pos < max ? r->peer - r->pos : max;
    uint64_t i = r->pos & r->mask, first = r->mask + 1 - i < m ? r->mask + 1 - i : m;
    memcpy(dst, r->h->data + i * r->slot, first * r->slot);
    memcpy(dst + first * r->slot, r->h->data, (m - first) * r->slot);
    __atomic_store_n(&r->h->tail, r->pos += m, __ATOMIC_RELEASE);
    return m;
}

/* ---- shm.rtt -------------------------------------------------------------------- */

enum impl { IMPL_AXLE, IMPL_RAW, IMPL_CACHELINE };

static double lat[RTT_ROUNDS];
static unsigned char ping_buf[65536], pong_buf[65536];

static inline int axle_send_spin(axle_ring *r, const void *p, size_t len)
{
    int rc;
    while ((rc = axle_ring_send_nowait(r, p, len)) == -EAGAIN)
        ;
    return rc;
}

static inline int axle_recv_spin(axle_ring *r, void *p, size_t cap)
{
    int rc;
    size_t len;
    while ((rc = axle_ring_recv_nowait(r, p, cap, &len)) == -EAGAIN)
        ;
    return rc;
}

/* One ping-pong measurement of impl at size: reps × p50/p99/p999. */
static int rtt_measure(enum impl impl, size_t size, double *p50, double *p99, double *p999)
{
    int rounds = (int)bench_iters(RTT_ROUNDS);
    if (rounds < 1000)
        rounds = 1000;
    long total = (long)(rounds / 4 + rounds * bench_reps()); /* warm-up + reps */
    pid_t me = getpid();
    char kping[64], kpong[64];
    key_of(kping, sizeof kping, "ping");
    key_of(kpong, sizeof kpong, "pong");

    axle_ring *aping = NULL, *apong = NULL; /* parent: producer of ping, consumer of pong */
    struct raw rping, rpong;
    uint64_t *line = NULL;
    int rc = 0;
    if (impl == IMPL_AXLE) {
        if ((rc = axle_ring_create(&aping, kping, SMALL_CAP, AXLE_RING_PRODUCER)) < 0)
            return rc;
        if ((rc = axle_ring_create(&apong, kpong, SMALL_CAP, AXLE_RING_CONSUMER)) < 0) {
            axle_ring_close(aping);
            return rc;
        }
    } else if (impl == IMPL_RAW) {
        if ((rc = raw_open(&rping, SMALL_CAP, size)) < 0)
            return rc;
        if ((rc = raw_open(&rpong, SMALL_CAP, size)) < 0) {
            raw_close(&rping);
            return rc;
        }
    } else if (!(line = shared_map(4096))) {
        return -ENOMEM;
    }

    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
        goto out;
    }
    if (pid == 0) {
        bench_shm_child(1);
        if (impl == IMPL_AXLE) {
            axle_ring *in, *out;
            if (axle_ring_attach(&in, kping, me, AXLE_RING_CONSUMER) < 0 ||
                axle_ring_attach(&out, kpong, me, AXLE_RING_PRODUCER) < 0)
                _exit(2);
            for (long i = 0; i < total; i++) {
                size_t len;
                int e;
                while ((e = axle_ring_recv_nowait(in, pong_buf, sizeof pong_buf, &len)) == -EAGAIN)
                    ;
                if (e < 0 || axle_send_spin(out, pong_buf, len) < 0)
                    _exit(3);
            }
            _exit(0); /* the parent owns (and unlinks) both segments */
        } else if (impl == IMPL_RAW) {
            /* The child is the consumer of ping and the producer of pong. */
            rping.pos = rping.peer = 0, rpong.pos = rpong.peer = 0;
            for (long i = 0; i < total; i++) {
                raw_recv(&rping, pong_buf, size, false);
                raw_send(&rpong, pong_buf, size, false);
            }
            _exit(0);
        } else {
            for (uint64_t i = 0; i < (uint64_t)total; i++) {
                while (__atomic_load_n(line, __ATOMIC_ACQUIRE) != 2 * i + 1)
                    ;
                __atomic_store_n(line, 2 * i + 2, __ATOMIC_RELEASE);
            }
            _exit(0);
        }
    }

    uint64_t seq = 0;
    for (int rep = -1; rc == 0 && rep < bench_reps(); rep++) { /* rep -1: warm-up */
        int n = rep < 0 ? rounds / 4 : rounds;
        for (int i = 0; i < n; i++) {
            int64_t t0 = bench_now();
            if (impl == IMPL_AXLE) {
                if ((rc = axle_send_spin(aping, ping_buf, size)) < 0 ||
                    (rc = axle_recv_spin(apong, ping_buf, sizeof ping_buf)) < 0)
                    break;
            } else if (impl == IMPL_RAW) {
                raw_send(&rping, ping_buf, size, false);
                raw_recv(&rpong, ping_buf, size, false);
            } else {
                __atomic_store_n(line, ++seq, __ATOMIC_RELEASE);
                ++seq;
                while (__atomic_load_n(line, __ATOMIC_ACQUIRE) != seq)
                    ;
            }
            lat[i] = (double)(bench_now() - t0);
        }
        if (rc == 0 && rep >= 0) {
            bench_tails(lat, n, &p50[rep], &p99[rep], &p999[rep]);
        }
    }
    rc = bench_reap(pid, rc);
out:
    if (impl == IMPL_AXLE) {
        axle_ring_close(aping);
        axle_ring_close(apong);
    } else if (impl == IMPL_RAW) {
        raw_close(&rping);
        raw_close(&rpong);
    } else {
        munmap(line, 4096);
    }
    return rc;
}

static const char *const impl_names[] = {"axle", "raw_ring", "cacheline"};

static int rtt_sizes(void)
{
    static const int sizes[] = {8, 64, 1024};
    const char *sc = "shm.rtt";
    int n = bench_reps();
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int size = sizes[k];
        double med[3];
        /* The floor first, axle, the raw ring, then the floor again to see drift. */
        static const enum impl order[] = {IMPL_CACHELINE, IMPL_AXLE, IMPL_RAW};
        for (size_t j = 0; j < 3; j++) {
            enum impl im = order[j];
            double a[BENCH_MAX_REPS], b[BENCH_MAX_REPS], c[BENCH_MAX_REPS];
            int rc = rtt_measure(im, (size_t)size, a, b, c);
            if (rc < 0)
                return rc;
            double first = a[0], last = a[n - 1];
            med[im] = bench_measure(sc, size, impl_names[im], "p50_ns", a, n);
            bench_measure(sc, size, impl_names[im], "p99_ns", b, n);
            bench_measure(sc, size, impl_names[im], "p999_ns", c, n);
            if (im == IMPL_CACHELINE && (last > first * 1.1 || last < first / 1.1))
                fprintf(stderr, "axle-bench: shm.rtt %d: noisy (cacheline p50 %.0f -> %.0f ns)\n",
                        size, first, last);
        }
        bench_compare(sc, size, "axle", "cacheline", "ratio", med[IMPL_AXLE] / med[IMPL_CACHELINE]);
        bench_compare(sc, size, "axle", "raw_ring", "ratio", med[IMPL_AXLE] / med[IMPL_RAW]);
        int rc = bench_shm_rtt_peers(sc, size, med[IMPL_AXLE]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- shm.rtt.parked ------------------------------------------------------------- */

enum parked_impl { PARKED_AXLE, PARKED_FUTEX, PARKED_EVENTFD };

static void futex_word_wait(uint32_t *w, uint32_t old)
{
    while (__atomic_load_n(w, __ATOMIC_ACQUIRE) == old)
        syscall(SYS_futex, w, FUTEX_WAIT, old, NULL, NULL, 0);
}

static void futex_word_post(uint32_t *w, uint32_t v)
{
    __atomic_store_n(w, v, __ATOMIC_RELEASE);
    syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* One side's turn: pass the ball and wait for it back (parent), or the mirror (child). */
struct parked {
    enum parked_impl impl;
    axle_ring *out, *in; /* PARKED_AXLE */
    uint32_t *words;     /* PARKED_FUTEX: [0] ping, [1] pong */
    int efd[2];          /* PARKED_EVENTFD: ping, pong */
};

static int parked_pong(struct parked *p, uint32_t i) /* child: wait for ping i, answer */
{
    size_t len;
    uint64_t one = 1, got;
    switch (p->impl) {
    case PARKED_AXLE:
        if (axle_ring_recv(p->in, pong_buf, sizeof pong_buf, &len, CHILD_TIMEOUT_NS) < 0)
            return -1;
        return axle_ring_send(p->out, pong_buf, len, CHILD_TIMEOUT_NS);
    case PARKED_FUTEX:
        futex_word_wait(&p->words[0], i);
        futex_word_post(&p->words[1], i + 1);
        return 0;
    default:
        if (read(p->efd[0], &got, 8) != 8 || write(p->efd[1], &one, 8) != 8)
            return -1;
        return 0;
    }
}

static int parked_ping(struct parked *p, uint32_t i) /* parent: ping i, wait for the answer */
{
    size_t len;
    uint64_t one = 1, got;
    switch (p->impl) {
    case PARKED_AXLE:
        if (axle_ring_send(p->out, ping_buf, 64, CHILD_TIMEOUT_NS) < 0)
            return -1;
        return axle_ring_recv(p->in, ping_buf, sizeof ping_buf, &len, CHILD_TIMEOUT_NS);
    case PARKED_FUTEX:
        futex_word_post(&p->words[0], i + 1);
        futex_word_wait(&p->words[1], i);
        return 0;
    default:
        if (write(p->efd[0], &one, 8) != 8 || read(p->efd[1], &got, 8) != 8)
            return -1;
        return 0;
    }
}

static int parked_measure(enum parked_impl impl, double *p50, double *p99)
{
    int rounds = (int)bench_iters(RTT_ROUNDS / 4);
    if (rounds < 500)
        rounds = 500;
    long total = (long)(rounds / 4 + rounds * bench_reps());
    pid_t me = getpid();
    char kping[64], kpong[64];
    key_of(kping, sizeof kping, "pping");
    key_of(kpong, sizeof kpong, "ppong");
    struct parked p = {.impl = impl, .efd = {-1, -1}};
    int rc = 0;
    if (impl == PARKED_AXLE) {
        if ((rc = axle_ring_create(&p.out, kping, SMALL_CAP, AXLE_RING_PRODUCER)) < 0)
            return rc;
        if ((rc = axle_ring_create(&p.in, kpong, SMALL_CAP, AXLE_RING_CONSUMER)) < 0)
            goto out;
        axle_ring_set_spin(p.out, 0);
        axle_ring_set_spin(p.in, 0);
    } else if (impl == PARKED_FUTEX) {
        if (!(p.words = shared_map(4096)))
            return -ENOMEM;
    } else if ((p.efd[0] = eventfd(0, EFD_CLOEXEC)) < 0 ||
               (p.efd[1] = eventfd(0, EFD_CLOEXEC)) < 0) {
        rc = -errno;
        goto out;
    }

    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
        goto out;
    }
    if (pid == 0) {
        bench_shm_child(1);
        struct parked c = p;
        if (impl == PARKED_AXLE) {
            if (axle_ring_attach(&c.in, kping, me, AXLE_RING_CONSUMER) < 0 ||
                axle_ring_attach(&c.out, kpong, me, AXLE_RING_PRODUCER) < 0)
                _exit(2);
            axle_ring_set_spin(c.in, 0);
            axle_ring_set_spin(c.out, 0);
        }
        for (long i = 0; i < total; i++)
            if (parked_pong(&c, (uint32_t)i) < 0)
                _exit(3);
        _exit(0); /* the parent owns (and unlinks) both segments */
    }
    uint32_t i = 0;
    for (int rep = -1; rc == 0 && rep < bench_reps(); rep++) { /* rep -1: warm-up */
        int n = rep < 0 ? rounds / 4 : rounds;
        for (int k = 0; k < n; k++, i++) {
            int64_t t0 = bench_now();
            if ((rc = parked_ping(&p, i)) < 0)
                break;
            lat[k] = (double)(bench_now() - t0);
        }
        if (rc == 0 && rep >= 0) {
            bench_tails(lat, n, &p50[rep], &p99[rep], NULL);
        }
    }
    rc = bench_reap(pid, rc < 0 ? -EIO : 0);
out:
    axle_ring_close(p.out);
    axle_ring_close(p.in);
    if (p.words)
        munmap(p.words, 4096);
    for (int k = 0; k < 2; k++)
        if (p.efd[k] >= 0)
            close(p.efd[k]);
    return rc;
}

static int run_rtt(void) { return rtt_sizes(); }

static int run_rtt_parked(void)
{
    static const char *const names[] = {"axle", "futex", "eventfd"};
    const char *sc = "shm.rtt.parked";
    int n = bench_reps();
    double med[3];
    for (int im = 0; im < 3; im++) {
        double a[BENCH_MAX_REPS], b[BENCH_MAX_REPS];
        int rc = parked_measure((enum parked_impl)im, a, b);
        if (rc < 0)
            return rc;
        med[im] = bench_measure(sc, 64, names[im], "p50_ns", a, n);
        bench_measure(sc, 64, names[im], "p99_ns", b, n);
    }
    bench_compare(sc, 64, "axle", "futex", "ratio", med[PARKED_AXLE] / med[PARKED_FUTEX]);
    bench_compare(sc, 64, "axle", "eventfd", "ratio", med[PARKED_AXLE] / med[PARKED_EVENTFD]);
    return 0;
}

/* ---- shm.thr / shm.thr.zc ------------------------------------------------------- */

enum thr_mode {
    THR_AXLE,
    THR_RAW,
    THR_ZC,
    THR_COPY_WORK,
    THR_DEFERRED,
    THR_BATCH,
    THR_FIXED,    /* a fixed ring (axle_ring_create_fixed), send/recv a record a call */
    THR_BURST,    /* a fixed ring, send_burst/recv_burst BATCH records a call */
    THR_RAW_BURST /* the raw ring moving runs of BATCH records, one memcpy and one store each */
};
enum { BATCH = 32 }; /* records per call in shm.thr.batch and shm.thr.burst */

static uint64_t thr_count(size_t size)
{
    uint64_t n = ((uint64_t)256 << 20) / size;
    if (n > 2000000)
        n = 2000000;
    n = bench_iters(n);
    return n < 64 ? 64 : n;
}

static volatile uint64_t sink;

/* Read the payload: one 8-byte load per cache line. */
static inline uint64_t touch(const void *p, size_t len)
{
    const unsigned char *b = p;
    uint64_t s = 0;
    for (size_t o = 0; o + 8 <= len; o += 64) {
        uint64_t v;
        memcpy(&v, b + o, 8);
        s += v;
    }
    return s;
}

/* Stream n records per repetition of size bytes, child → parent; samples[r]
 * = records per second of repetition r. */
static int thr_measure(enum thr_mode mode, size_t size, double *rate)
{
    uint64_t n = thr_count(size);
    uint64_t total = n / 4 + n * (uint64_t)bench_reps();
    size_t cap = cap_for(size);
    pid_t me = getpid();
    char key[64];
    key_of(key, sizeof key, "thr");
    /* BATCH records: the bursts' arrays; the other modes use the first. */
    unsigned char *src = malloc(size * BATCH), *dst = malloc(size * BATCH);
    if (!src || !dst) {
        free(src), free(dst);
        return -ENOMEM;
    }
    memset(src, 0x5a, size * BATCH);
    memset(dst, 0, size * BATCH);

    axle_ring *cons = NULL;
    struct raw raw;
    bool is_raw = mode == THR_RAW || mode == THR_RAW_BURST;
    int rc;
    if (is_raw)
        rc = raw_open(&raw, cap, size);
    else if (mode == THR_FIXED || mode == THR_BURST)
        rc = axle_ring_create_fixed(&cons, key, cap, size, AXLE_RING_CONSUMER);
    else
        rc = axle_ring_create(&cons, key, cap, AXLE_RING_CONSUMER);
    if (rc < 0) {
        free(src), free(dst);
        return rc;
    }
    if (cons)
        axle_ring_set_spin(cons, SPIN_NEVER_PARK);

    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
        goto out;
    }
    if (pid == 0) {
        bench_shm_child(1);
        if (mode == THR_RAW) {
            for (uint64_t i = 0; i < total; i++)
                raw_send(&raw, src, size, true);
            _exit(0);
        }
        if (mode == THR_RAW_BURST) {
            for (uint64_t i = 0; i < total; i += BATCH)
                raw_send_run(&raw, src, total - i < BATCH ? total - i : BATCH);
            _exit(0);
        }
        axle_ring *prod;
        if (axle_ring_attach(&prod, key, me, AXLE_RING_PRODUCER) < 0)
            _exit(2);
        axle_ring_set_spin(prod, SPIN_NEVER_PARK);
        struct iovec v[BATCH]; /* THR_BATCH: every record is src */
        for (int j = 0; j < BATCH; j++)
            v[j] = (struct iovec){src, size};
        for (uint64_t i = 0; i < total; i++) {
            int e;
            if (mode == THR_ZC) {
                void *buf;
                if ((e = axle_ring_reserve(prod, size, &buf, CHILD_TIMEOUT_NS)) == 0) {
                    memset(buf, (int)i, size);
                    e = axle_ring_commit(prod);
                }
            } else if (mode == THR_BATCH) {
                /* BATCH records a call (fewer at the end); what did not fit goes next. */
                uint64_t left = total - i;
                int want = left < BATCH ? (int)left : BATCH;
                if ((e = axle_ring_send_batch(prod, v, want, CHILD_TIMEOUT_NS)) > 0) {
                    i += (uint64_t)e - 1;
                    e = 0;
                }
            } else if (mode == THR_BURST) {
                uint64_t left = total - i;
                int want = left < BATCH ? (int)left : BATCH;
                if ((e = axle_ring_send_burst(prod, src, want, CHILD_TIMEOUT_NS)) > 0) {
                    i += (uint64_t)e - 1;
                    e = 0;
                }
            } else if (mode == THR_DEFERRED) {
                void *buf;
                if ((e = axle_ring_reserve(prod, size, &buf, CHILD_TIMEOUT_NS)) == 0) {
                    memcpy(buf, src, size);
                    e = axle_ring_commit_deferred(prod);
                    if (i % BATCH == BATCH - 1)
                        axle_ring_flush(prod);
                }
            } else {
                if (mode == THR_COPY_WORK)
                    memset(src, (int)i, size);
                e = axle_ring_send(prod, src, size, CHILD_TIMEOUT_NS);
            }
            if (e < 0)
                _exit(3);
        }
        axle_ring_flush(prod);
        _exit(0);
    }

    int64_t t0 = 0;
    uint64_t s = 0;
    for (int rep = -1; rc == 0 && rep < bench_reps(); rep++) { /* rep -1: warm-up */
        uint64_t cnt = rep < 0 ? n / 4 : n;
        for (uint64_t i = 0; i < cnt; i++) {
            size_t len;
            if (mode == THR_RAW) {
                raw_recv(&raw, dst, size, true);
            } else if (mode == THR_RAW_BURST) {
                i += raw_recv_run(&raw, dst, cnt - i < BATCH ? cnt - i : BATCH) - 1;
            } else if (mode == THR_BURST) {
                int want = cnt - i < BATCH ? (int)(cnt - i) : BATCH;
                if ((rc = axle_ring_recv_burst(cons, dst, want, CHILD_TIMEOUT_NS)) < 0)
                    break;
                i += (uint64_t)rc - 1;
                rc = 0;
            } else if (mode == THR_ZC) {
                const void *p;
                if ((rc = axle_ring_peek(cons, &p, &len, CHILD_TIMEOUT_NS)) < 0)
                    break;
                s += touch(p, len);
                if ((rc = axle_ring_release(cons)) < 0)
                    break;
            } else if (mode == THR_BATCH) {
                struct iovec v[BATCH];
                int want = cnt - i < BATCH ? (int)(cnt - i) : BATCH;
                if ((rc = axle_ring_peek_batch(cons, v, want, CHILD_TIMEOUT_NS)) < 0)
                    break;
                for (int j = 0; j < rc; j++)
                    memcpy(dst, v[j].iov_base, v[j].iov_len);
                i += (uint64_t)rc - 1;
                if ((rc = axle_ring_release(cons)) < 0)
                    break;
            } else if (mode == THR_DEFERRED) {
                const void *p;
                if ((rc = axle_ring_peek(cons, &p, &len, CHILD_TIMEOUT_NS)) < 0)
                    break;
                memcpy(dst, p, len);
                if ((rc = axle_ring_release_deferred(cons)) < 0)
                    break;
                if (i % BATCH == BATCH - 1)
                    axle_ring_flush(cons);
            } else {
                if ((rc = axle_ring_recv(cons, dst, size, &len, CHILD_TIMEOUT_NS)) < 0)
                    break;
                if (mode == THR_COPY_WORK)
                    s += touch(dst, len);
            }
        }
        int64_t t1 = bench_now();
        if (rc == 0 && rep >= 0)
            rate[rep] = (double)cnt * 1e9 / (double)(t1 - t0);
        t0 = t1;
    }
    sink = s;
    rc = bench_reap(pid, rc);
out:
    if (is_raw)
        raw_close(&raw);
    else
        axle_ring_close(cons);
    free(src), free(dst);
    return rc;
}

struct memcpy_arg {
    unsigned char *src, *dst;
    size_t size;
};

static int memcpy_round(void *arg, uint64_t n)
{
    struct memcpy_arg *m = arg;
    for (uint64_t i = 0; i < n; i++) {
        memcpy(m->dst, m->src, m->size);
        __asm__ volatile("" ::"r"(m->dst) : "memory");
    }
    return 0;
}

double bench_report_rate(const char *sc, int size, const char *impl, const double *rate)
{
    int n = bench_reps();
    double m[BENCH_MAX_REPS], b[BENCH_MAX_REPS];
    for (int i = 0; i < n; i++)
        m[i] = rate[i], b[i] = rate[i] * size;
    double med = bench_measure(sc, size, impl, "msgs_per_s", m, n);
    bench_measure(sc, size, impl, "bytes_per_s", b, n);
    return med;
}

/* Measure axle in mode, then the raw ring, at size; report both and the speedup. */
/* Measure mode at size and report it as impl; *med: its median rate. */
static int thr_report(const char *sc, enum thr_mode mode, int size, const char *impl, double *med)
{
    double r[BENCH_MAX_REPS];
    int rc = thr_measure(mode, (size_t)size, r);
    if (rc == 0)
        *med = bench_report_rate(sc, size, impl, r);
    return rc;
}

/* Measure axle in mode, then the raw ring, at size; report both and the speedup.
 */
static int vs_raw_ring(const char *sc, enum thr_mode mode, int size, double *axle_rate)
{
    double raw = 0;
    int rc = thr_report(sc, mode, size, "axle", axle_rate);
    if (rc == 0 && (rc = thr_report(sc, THR_RAW, size, "raw_ring", &raw)) == 0)
        bench_compare(sc, size, "axle", "raw_ring", "speedup", *axle_rate / raw);
    return rc;
}

static int thr_sizes(void)
{
    static const int sizes[] = {8, 64, 1024, 65536};
    const char *sc = "shm.thr";
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int size = sizes[k];
        double r[BENCH_MAX_REPS], ax = 0;
        int rc = vs_raw_ring(sc, THR_AXLE, size, &ax);
        if (rc == 0 && size <= 1024)
            rc = bench_shm_thr_peers(sc, size, ax, thr_count((size_t)size));
        if (rc < 0)
            return rc;
        if (size >= 65536) {
            struct memcpy_arg m = {malloc((size_t)size), malloc((size_t)size), (size_t)size};
            if (!m.src || !m.dst) {
                free(m.src), free(m.dst);
                return -ENOMEM;
            }
            memset(m.src, 1, (size_t)size);
            memset(m.dst, 0, (size_t)size);
            double ns[BENCH_MAX_REPS];
            bench_series(memcpy_round, &m, thr_count((size_t)size), 1, ns);
            free(m.src), free(m.dst);
            for (int i = 0; i < bench_reps(); i++)
                r[i] = 1e9 / ns[i];
            double mc = bench_report_rate(sc, size, "memcpy", r);
            bench_compare(sc, size, "axle", "memcpy", "speedup", ax / mc);
        }
    }
    return 0;
}

static int run_thr(void) { return thr_sizes(); }

static int run_thr_zc(void)
{
    static const int sizes[] = {65536, 1 << 20};
    const char *sc = "shm.thr.zc";
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int size = sizes[k];
        if ((size_t)size > BIG_CAP - 8) {
            bench_skip(sc, "axle", "record larger than the ring's largest record");
            continue;
        }
        double r[BENCH_MAX_REPS];
        int rc = thr_measure(THR_ZC, (size_t)size, r);
        if (rc < 0)
            return rc;
        double zc = bench_report_rate(sc, size, "axle", r);
        if ((rc = thr_measure(THR_COPY_WORK, (size_t)size, r)) < 0)
            return rc;
        double cp = bench_report_rate(sc, size, "axle_copy", r);
        bench_compare(sc, size, "axle", "axle_copy", "speedup", zc / cp);
    }
    return 0;
}

/*
 * The same stream, batched: axle_ring_send_batch / axle_ring_peek_batch,
 * BATCH records a call (the consumer still copies each record out); then
 * axle_deferred, a call per record with commits and releases deferred and
 * published every BATCH records. Both against the raw ring's per-record
 * loop, which is inlined into the bench and has no call to amortise.
 */
static int run_thr_batch(void)
{
    static const int sizes[] = {8, 64};
    const char *sc = "shm.thr.batch";
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int size = sizes[k];
        double ax = 0, r[BENCH_MAX_REPS];
        int rc = vs_raw_ring(sc, THR_BATCH, size, &ax);
        if (rc < 0 || (rc = thr_measure(THR_DEFERRED, (size_t)size, r)) < 0)
            return rc;
        double def = bench_report_rate(sc, size, "axle_deferred", r);
        bench_compare(sc, size, "axle_deferred", "axle", "speedup", def / ax);
    }
    return 0;
}

/*
 * Fixed-size records (axle_ring_create_fixed: no length prefix, 8 B
 * records take 8 B). axle: send_burst / recv_burst, BATCH records a call
 * from and into packed arrays. Baselines: raw_ring, the plain ring a
 * record at a time (the baseline); raw_ring_burst, the same plain
 * ring moving the same runs with one memcpy and one cursor store each, to
 * show what axle adds to the same work. Then axle_fixed: the fixed ring a
 * record a call (send / recv), against raw_ring.
 */
static int run_thr_burst(void)
{
    static const int sizes[] = {8, 64};
    const char *sc = "shm.thr.burst";
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int size = sizes[k];
        double ax = 0, raw = 0, run = 0, fixed = 0; /* every row first, then the ratios */
        int rc = thr_report(sc, THR_BURST, size, "axle", &ax);
        if (rc == 0)
            rc = thr_report(sc, THR_RAW, size, "raw_ring", &raw);
        if (rc == 0)
            rc = thr_report(sc, THR_RAW_BURST, size, "raw_ring_burst", &run);
        if (rc == 0)
            rc = thr_report(sc, THR_FIXED, size, "axle_fixed", &fixed);
        if (rc < 0)
            return rc;
        bench_compare(sc, size, "axle", "raw_ring", "speedup", ax / raw);
        bench_compare(sc, size, "axle", "raw_ring_burst", "speedup", ax / run);
        bench_compare(sc, size, "axle_fixed", "raw_ring", "speedup", fixed / raw);
    }
    return 0;
}

/* ---- shm.overrun ------------------------------------------------------------------- */

/*
 * A producer (CPU 1) twice as fast as its consumer (CPU 0): it offers one
 * 64 B record every PACE_NS, the consumer takes one every 2 * PACE_NS,
 * through a 16 KiB ring, under each overrun policy:
 *   block: the producer is held back; delivered msgs/s, nothing lost;
 *   error: -AXLE_EOVERRUN for what does not fit; drops/s, and the time
 *     from the start to the first overrun (detection);
 *   drain: the overflow waits in the producer's queue (bounded so that it
 *     holds everything here); nothing lost; the drain time, from the
 *     producer's last send to its queue being empty (axle_ring_drain_wait).
 * The consumer checks that what it gets is in order, and for block and
 * drain that it gets everything.
 */
#define OVR_PACE_NS 200

struct ovr_report {
    uint64_t sent, dropped;
    int64_t t_start, t_first_drop, t_last_send, t_drained;
};

static void pace_until(int64_t t)
{
    while (bench_now() < t)
        relax();
}

static int overrun_measure(axle_overrun policy, uint64_t n, struct ovr_report *out,
                           double *delivered)
{
    char key[64];
    key_of(key, sizeof key, "ovr");
    axle_ring *cons;
    int rc = axle_ring_create(&cons, key, 16 * 1024, AXLE_RING_CONSUMER);
    if (rc < 0)
        return rc;
    axle_ring_set_spin(cons, SPIN_NEVER_PARK);
    struct ovr_report *rep = shared_map(sizeof *rep);
    if (!rep) {
        axle_ring_close(cons);
        return -ENOMEM;
    }
    memset(rep, 0, sizeof *rep);
    pid_t me = getpid(), pid = fork();
    if (pid < 0) {
        rc = -errno;
        munmap(rep, sizeof *rep);
        axle_ring_close(cons);
        return rc;
    }
    if (pid == 0) {
        bench_shm_child(1);
        axle_ring *p;
        if (axle_ring_attach(&p, key, me, AXLE_RING_PRODUCER) < 0)
            _exit(2);
        axle_ring_set_spin(p, SPIN_NEVER_PARK);
        if (axle_ring_set_overrun(p, policy, n * 64) < 0)
            _exit(3);
        unsigned char rec[64] = {0};
        int64_t t = bench_now();
        rep->t_start = t;
        for (uint64_t i = 0; i < n; i++) {
            pace_until(t += OVR_PACE_NS);
            memcpy(rec, &i, sizeof i);
            int e = axle_ring_send(p, rec, sizeof rec, CHILD_TIMEOUT_NS);
            if (e == -AXLE_EOVERRUN) {
                if (!rep->dropped++)
                    rep->t_first_drop = bench_now();
            } else if (e < 0) {
                _exit(4);
            } else {
                rep->sent++;
            }
        }
        rep->t_last_send = bench_now();
        if (axle_ring_drain_wait(p, CHILD_TIMEOUT_NS) < 0)
            _exit(5);
        rep->t_drained = bench_now();
        /* The end: one record past the sequence tells the consumer to stop. */
        uint64_t end = UINT64_MAX;
        memcpy(rec, &end, sizeof end);
        axle_ring_set_overrun(p, AXLE_OVERRUN_BLOCK, 0);
        if (axle_ring_send(p, rec, sizeof rec, CHILD_TIMEOUT_NS) < 0)
            _exit(6);
        axle_ring_close(p);
        _exit(0);
    }
    unsigned char rec[64];
    uint64_t got = 0, last = 0;
    int64_t t0 = 0, t = 0;
    for (;;) {
        size_t len;
        if ((rc = axle_ring_recv(cons, rec, sizeof rec, &len, CHILD_TIMEOUT_NS)) < 0)
            break;
        uint64_t seq;
        memcpy(&seq, rec, sizeof seq);
        if (seq == UINT64_MAX)
            break;
        if (got && seq <= last) {
            rc = -EPROTO;
            break;
        }
        if (!got)
            t0 = t = bench_now();
        last = seq, got++;
        pace_until(t += 2 * OVR_PACE_NS);
    }
    double secs = (double)(bench_now() - t0) / 1e9;
    rc = bench_reap(pid, rc);
    if (rc == 0 && policy != AXLE_OVERRUN_ERROR && got != n)
        rc = -EPROTO; /* block and drain lose nothing */
    if (rc == 0 && got != rep->sent)
        rc = -EPROTO;
    if (rc == 0) {
        *out = *rep;
        *delivered = (double)got / secs;
    }
    munmap(rep, sizeof *rep);
    axle_ring_close(cons);
    return rc;
}

static int run_overrun(void)
{
    static const struct {
        axle_overrun policy;
        const char *name;
    } pol[] = {{AXLE_OVERRUN_BLOCK, "block"},
               {AXLE_OVERRUN_ERROR, "error"},
               {AXLE_OVERRUN_DRAIN, "drain"}};
    uint64_t n = bench_iters(200000);
    for (size_t k = 0; k < 3; k++) {
        double dl[BENCH_MAX_REPS], drops[BENCH_MAX_REPS], detect[BENCH_MAX_REPS],
            drain[BENCH_MAX_REPS];
        for (int i = 0; i < bench_reps(); i++) {
            struct ovr_report r = {0};
            int rc = overrun_measure(pol[k].policy, n, &r, &dl[i]);
            if (rc < 0)
                return rc;
            double run_s = (double)(r.t_last_send - r.t_start) / 1e9;
            drops[i] = (double)r.dropped / run_s;
            detect[i] = r.dropped ? (double)(r.t_first_drop - r.t_start) : 0;
            drain[i] = (double)(r.t_drained - r.t_last_send);
        }
        char impl[32];
        snprintf(impl, sizeof impl, "%s_delivered", pol[k].name);
        bench_measure("shm.overrun", 64, impl, "msgs_per_s", dl, bench_reps());
        if (pol[k].policy == AXLE_OVERRUN_ERROR) {
            bench_measure("shm.overrun", 64, "error_drops", "msgs_per_s", drops, bench_reps());
            bench_measure("shm.overrun", 64, "error_detect", "ns_per_op", detect, bench_reps());
        }
        if (pol[k].policy == AXLE_OVERRUN_DRAIN)
            bench_measure("shm.overrun", 64, "drain_time", "ns_per_op", drain, bench_reps());
    }
    return 0;
}

/* ---- ring.tractor ---------------------------------------------------------------- */

/*
 * The reference's three ring cases as throughput (size = the case number):
 *   1: 100 k fixed 64 B payloads through a 10 KiB ring;
 *   2: messages of 10 KiB up to the ring's largest record (16 KiB - 8)
 *      through a 10 KiB ring (16 KiB once rounded), wrapping on every write;
 *   3: 10 k messages of 256-512 KiB through a 10 MiB ring.
 * A producer process (CPU 1) sends, the consumer (CPU 0) receives and
 * checks each message's sequence number. Baseline `raw_ring`: the bench's
 * plain SPSC ring, its slot the case's largest message, its capacity the
 * case's (case 2: one slot, as axle's ring holds one such message).
 */
struct tcase {
    size_t cap;
    uint64_t count;
    size_t min_len, max_len;
};

static size_t tcase_len(const struct tcase *c, uint64_t seq)
{
    uint64_t x = (seq + 1) * 0x9E3779B97F4A7C15ull;
    x ^= x >> 29;
    return c->min_len + (size_t)(x % (c->max_len - c->min_len + 1));
}

static int tractor_measure(const struct tcase *c, bool raw_impl, double *msgs, double *bytes)
{
    char key[64];
    key_of(key, sizeof key, "tractor");
    unsigned char *buf = malloc(c->max_len);
    if (!buf)
        return -ENOMEM;
    memset(buf, 0x5a, c->max_len);
    struct raw raw;
    axle_ring *cons = NULL;
    int rc = raw_impl ? raw_open(&raw, c->cap, c->max_len)
                      : axle_ring_create(&cons, key, c->cap, AXLE_RING_CONSUMER);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    if (cons)
        axle_ring_set_spin(cons, SPIN_NEVER_PARK);
    pid_t me = getpid(), pid = fork();
    if (pid < 0) {
        rc = -errno;
        if (raw_impl)
            raw_close(&raw);
        axle_ring_close(cons);
        free(buf);
        return rc;
    }
    if (pid == 0) {
        bench_shm_child(1);
        axle_ring *prod = NULL;
        if (!raw_impl) {
            if (axle_ring_attach(&prod, key, me, AXLE_RING_PRODUCER) < 0)
                _exit(2);
            axle_ring_set_spin(prod, SPIN_NEVER_PARK);
        }
        for (uint64_t i = 0; i < c->count; i++) {
            memcpy(buf, &i, sizeof i);
            size_t len = tcase_len(c, i);
            if (raw_impl)
                raw_send(&raw, buf, len, true);
            else if (axle_ring_send(prod, buf, len, CHILD_TIMEOUT_NS) < 0)
                _exit(3);
        }
        _exit(0);
    }
    uint64_t total = 0;
    int64_t t0 = 0;
    for (uint64_t i = 0; rc == 0 && i < c->count; i++) {
        size_t len = tcase_len(c, i);
        if (raw_impl)
            raw_recv(&raw, buf, len, true);
        else if ((rc = axle_ring_recv(cons, buf, c->max_len, &len, CHILD_TIMEOUT_NS)) < 0)
            break;
        uint64_t seq;
        memcpy(&seq, buf, sizeof seq);
        if (seq != i || len != tcase_len(c, i))
            rc = -EPROTO;
        if (i == 0)
            t0 = bench_now(); /* from the first arrival: the fork is not timed */
        total += len;
    }
    double secs = (double)(bench_now() - t0) / 1e9;
    rc = bench_reap(pid, rc);
    if (rc == 0) {
        *msgs = (double)(c->count - 1) / secs;
        *bytes = (double)total / secs;
    }
    if (raw_impl)
        raw_close(&raw);
    else
        axle_ring_close(cons);
    free(buf);
    return rc;
}

static int run_tractor(void)
{
    struct tcase cases[3] = {
        {10 * 1024, 100000, 64, 64},
        {10 * 1024, 2000, 10 * 1024, 16 * 1024 - 8},
        {10 * 1024 * 1024, 10000, 256 * 1024, 512 * 1024},
    };
    for (int k = 0; k < 3; k++) {
        struct tcase c = cases[k];
        c.count = bench_iters(c.count);
        if (c.count < 20)
            c.count = 20;
        double am[BENCH_MAX_REPS], ab[BENCH_MAX_REPS], rm[BENCH_MAX_REPS], rb[BENCH_MAX_REPS];
        for (int i = 0; i < bench_reps(); i++) {
            int rc = tractor_measure(&c, false, &am[i], &ab[i]);
            if (rc == 0)
                rc = tractor_measure(&c, true, &rm[i], &rb[i]);
            if (rc < 0)
                return rc;
        }
        double a = bench_measure("ring.tractor", k + 1, "axle", "msgs_per_s", am, bench_reps());
        bench_measure("ring.tractor", k + 1, "axle", "bytes_per_s", ab, bench_reps());
        double b = bench_measure("ring.tractor", k + 1, "raw_ring", "msgs_per_s", rm, bench_reps());
        bench_measure("ring.tractor", k + 1, "raw_ring", "bytes_per_s", rb, bench_reps());
        bench_compare("ring.tractor", k + 1, "axle", "raw_ring", "speedup", a / b);
    }
    return 0;
}

/* ---- shm.bcast ------------------------------------------------------------------ */

/*
 * One writer (the parent, CPU 0) publishes n 64-byte records into a 1 MiB
 * broadcast ring as fast as it can; one reader (a child, CPU 1) reads
 * until it has seen the last one, counting what it got and what it was
 * told it missed (-AXLE_ELAGGED). The writer never waits for the reader:
 * that is the point of the broadcast ring. Reported: the writer's publish
 * rate, the reader's delivered rate over the same time, and the check that
 * got + missed == n (nothing lost silently). No baseline: nothing else in
 * the run has the same semantics (lossy for the slow, torn reads caught).
 */
struct bcast_report {
    uint64_t got, missed;
    int64_t t_end;
};

static int bcast_measure(double *pub_rate, double *recv_rate)
{
    enum { SIZE = 64 };
    uint64_t n = bench_iters(2000000);
    char key[64];
    key_of(key, sizeof key, "bcast");
    axle_bcast *w;
    int rc = axle_bcast_create(&w, key, 1 << 20);
    if (rc < 0)
        return rc;
    struct bcast_report *rep = shared_map(sizeof *rep);
    if (!rep) {
        axle_bcast_close(w);
        return -ENOMEM;
    }
    pid_t me = getpid();
    int ready[2];
    if (pipe(ready) < 0) {
        rc = -errno;
        munmap(rep, sizeof *rep);
        axle_bcast_close(w);
        return rc;
    }
    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
        close(ready[0]), close(ready[1]);
        munmap(rep, sizeof *rep);
        axle_bcast_close(w);
        return rc;
    }
    if (pid == 0) {
        bench_shm_child(1);
        axle_bcast *r;
        if (axle_bcast_attach(&r, key, me) < 0)
            _exit(2);
        axle_bcast_set_spin(r, SPIN_NEVER_PARK);
        (void)!write(ready[1], "r", 1);
        unsigned char buf[SIZE];
        uint64_t last = 0, got = 0, missed = 0;
        while (last + 1 < n) {
            size_t len;
            uint64_t m = 0;
            int e = axle_bcast_recv(r, buf, sizeof buf, &len, &m, CHILD_TIMEOUT_NS);
            if (e == -AXLE_ELAGGED) {
                missed += m;
                continue;
            }
            if (e < 0)
                _exit(3);
            memcpy(&last, buf, sizeof last);
            got++;
        }
        rep->got = got, rep->missed = missed, rep->t_end = bench_now();
        axle_bcast_close(r);
        _exit(0);
    }
    char c;
    close(ready[1]); /* a child that fails before it is ready closes the other end: EOF */
    if (read(ready[0], &c, 1) != 1)
        rc = -EIO;
    close(ready[0]);
    unsigned char rec[SIZE];
    memset(rec, 0x5a, sizeof rec);
    int64_t t0 = bench_now();
    for (uint64_t i = 0; i < n && rc == 0; i++) {
        memcpy(rec, &i, sizeof i);
        rc = axle_bcast_publish(w, rec, sizeof rec);
    }
    int64_t t1 = bench_now();
    rc = bench_reap(pid, rc);
    if (rc == 0 && rep->got + rep->missed != n)
        rc = -EPROTO; /* something lost without being reported */
    if (rc == 0) {
        *pub_rate = (double)n * 1e9 / (double)(t1 - t0);
        *recv_rate = (double)rep->got * 1e9 / (double)(rep->t_end - t0);
    }
    munmap(rep, sizeof *rep);
    axle_bcast_close(w);
    return rc;
}

static int run_bcast(void)
{
    double pub[BENCH_MAX_REPS], got[BENCH_MAX_REPS];
    for (int i = 0; i < bench_reps(); i++) {
        int rc = bcast_measure(&pub[i], &got[i]);
        if (rc < 0)
            return rc;
    }
    bench_measure("shm.bcast", 64, "axle_publish", "msgs_per_s", pub, bench_reps());
    bench_measure("shm.bcast", 64, "axle_reader", "msgs_per_s", got, bench_reps());
    return 0;
}

const bench_scenario bench_shm_scenarios[] = {
    {"shm.rtt", "ping-pong over two axle shm rings, busy-poll, vs cache line, raw ring, IPC peers",
     run_rtt},
    {"shm.rtt.parked", "64 B ping-pong with both sides parked on every wait, vs futex and eventfd",
     run_rtt_parked},
    {"shm.thr", "one-way stream over an axle shm ring (send/recv), vs raw ring, memcpy, IPC peers",
     run_thr},
    {"shm.thr.zc", "the same stream zero-copy (reserve/commit, peek/release), vs copying",
     run_thr_zc},
    {"shm.thr.batch", "the stream 32 records a call (send_batch/peek_batch), and deferred",
     run_thr_batch},
    {"shm.thr.burst", "a fixed-size-record ring, 32 records a call (send/recv_burst), vs raw ring",
     run_thr_burst},
    {"shm.bcast", "one writer never waiting, one reader in another process: 64 B records",
     run_bcast},
    {"ring.tractor", "the reference's three ring cases (size = case number), vs raw ring",
     run_tractor},
    {"shm.overrun", "a producer twice as fast as its consumer, under block, error and drain",
     run_overrun},
    {0},
};
