/*
 * tests/integ/test_shm_fault.c — the shm rings when a peer dies, stops or
 * is cancelled at the worst moment.
 *
 * A writer is killed (SIGKILL) at a deterministic fault point compiled into
 * test builds (shm/fault.h: after a reservation, half-way through a send's
 * copy, just before commit's head store); the reader checks every record
 * it gets with a sequence checker: each is whole (length and every byte
 * follow from its sequence number), numbers run 0, 1, 2, ... without a
 * gap or a repeat, and after the last one the reader gets exactly
 * -EOWNERDEAD. A page shared with the writer says how many records it had
 * committed: the reader got exactly that many (nothing committed lost,
 * nothing uncommitted seen). Then a reader stopped under BLOCK with its
 * writer cancelled, a dead reader under a blocked writer, the wake
 * protocol (light and fenced parks, see shm/ring.c), a hang the random
 * schedule found, and that seeded random schedule of writes, pauses,
 * cancels and kills with the checker as the oracle (AXLE_FAULT_SEED=<n>
 * replays one, AXLE_FAULT_VERBOSE=1 prints each round's plan).
 *
 * The fault points' arm hook is internal, exported from libaxle.so only
 * by builds with AXLE_FAULT_POINTS (tests/CMakeLists.txt); without them
 * the fault-point cases are left out. Children report through their exit
 * status; each is reaped by pid, and every test proves that no
 * /dev/shm/axle.<pid>.* is left for itself or any child.
 */
#define _GNU_SOURCE
#include "../harness.h"

#include <axle/shm.h>
#include <axle/task.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../shm/fault.h"

#ifndef AXLE_FAULT_POINTS /* a build without them: only the tests that need none */
static void axle__shm_fault_arm(axle__shm_fp point, unsigned long nth, int sig)
{
    (void)point, (void)nth, (void)sig;
}
#endif

#define MS (1000 * 1000LL)

/* ------------------------------------------------------- the sequence checker */

/* Every record starts with this; its length and bytes follow from seq. */
typedef struct rec_head {
    uint64_t seq;   /* 0, 1, 2, ... in the order the writer committed them */
    uint32_t len;   /* the whole record's length, this header included */
    uint32_t last;  /* 1: the writer's last record (it ends cleanly) */
    uint64_t check; /* a hash of seq, len, last and the body */
} rec_head;

/* What the writer shares with the reader: how far it got. */
typedef struct progress {
    uint64_t attempted; /* records it started to write (an upper bound on what is visible) */
    uint64_t published; /* records it knows are published (a lower bound) */
} progress;

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint8_t body_byte(uint64_t seq, size_t j) { return (uint8_t)mix(seq * 1000003 + j); }

/* The record length for seq, in [sizeof(rec_head), maxlen]. */
static uint32_t rec_len(uint64_t salt, uint64_t seq, uint32_t maxlen)
{
    uint32_t span = maxlen - (uint32_t)sizeof(rec_head) + 1;
    return (uint32_t)sizeof(rec_head) + (uint32_t)(mix(salt ^ mix(seq)) % span);
}

static uint64_t rec_check(const rec_head *h, const uint8_t *body, size_t n)
{
    uint64_t x = mix(h->seq ^ ((uint64_t)h->len << 32) ^ h->last);
    for (size_t j = 0; j < n; j++)
        x = mix(x ^ body[j]);
    return x;
}

/* Build record seq into buf (maxlen bytes); returns its length. */
static uint32_t rec_build(uint8_t *buf, uint64_t salt, uint64_t seq, uint32_t maxlen, bool last)
{
    uint32_t len = rec_len(salt, seq, maxlen);
    rec_head h = {.seq = seq, .len = len, .last = last};
    for (size_t j = sizeof h; j < len; j++)
        buf[j] = body_byte(seq, j);
    h.check = rec_check(&h, buf + sizeof h, len - sizeof h);
    memcpy(buf, &h, sizeof h);
    return len;
}

/*
 * The oracle for one record: it is record number want, whole. Returns NULL
 * or what is wrong with it; *last says whether it was the writer's last.
 */
static const char *rec_verify(const void *rec, size_t n, uint64_t salt, uint64_t want,
                              uint32_t maxlen, bool *last)
{
    rec_head h;
    if (n < sizeof h)
        return "shorter than a header";
    memcpy(&h, rec, sizeof h);
    if (h.seq != want)
        return "out of sequence (a gap, a repeat or a stale record)";
    if (h.len != n || n != rec_len(salt, want, maxlen))
        return "wrong length (partial or torn)";
    const uint8_t *body = (const uint8_t *)rec + sizeof h;
    for (size_t j = sizeof h; j < n; j++)
        if (body[j - sizeof h] != body_byte(want, j))
            return "wrong bytes (partial or torn)";
    if (h.check != rec_check(&h, body, n - sizeof h))
        return "bad check";
    *last = h.last != 0;
    return NULL;
}

/* ------------------------------------------------------------------ helpers */

static progress *progress_map(void)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(p, MAP_FAILED);
    return p;
}

static void progress_unmap(progress *p) { ck_assert_int_eq(munmap(p, 4096), 0); }

/* Reap child pid; its raw wait status. */
static int reap(pid_t pid)
{
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return st;
}

static void assert_killed(int st)
{
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child: %s %d, want SIGKILL",
                  WIFSIGNALED(st) ? "signal" : "exit",
                  WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

static void assert_exited_0(int st)
{
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s %d, want exit 0",
                  WIFSIGNALED(st) ? "signal" : "exit",
                  WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

static void assert_clean(pid_t child)
{
    ck_assert_int_eq(axle_test_shm_count(getpid()), 0);
    ck_assert_int_eq(axle_test_shm_count(child), 0);
}

static uint64_t load(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static void store(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

#ifdef AXLE_FAULT_POINTS /* the tests that arm a fault point */

/* ------------------------------------------------- a writer killed at a fault point */

#define FP_SALT 0x5eed
#define FP_MAXLEN 200u

enum write_api { API_SEND, API_RESERVE_COMMIT };

/*
 * The child: attach the producer end, arm point to fire at hit nth, write
 * records 0, 1, 2, ... until the fault kills it. It must never get to exit.
 */
static void fault_writer(pid_t owner, const char *key, axle__shm_fp point, unsigned long nth,
                         enum write_api api, progress *pg)
{
    axle_ring *p;
    if (axle_ring_attach(&p, key, owner, AXLE_RING_PRODUCER) < 0)
        _exit(1);
    axle_ring_set_spin(p, (unsigned)(nth % 2) * AXLE_RING_SPIN_DEFAULT); /* park, or spin first */
    uint8_t buf[FP_MAXLEN];
    axle__shm_fault_arm(point, nth, SIGKILL);
    for (uint64_t seq = 0;; seq++) {
        uint32_t len = rec_build(buf, FP_SALT, seq, FP_MAXLEN, false);
        store(&pg->attempted, seq + 1);
        if (api == API_SEND) {
            if (axle_ring_send(p, buf, len, -1) != 0)
                _exit(2);
        } else {
            void *at;
            if (axle_ring_reserve(p, len, &at, -1) != 0)
                _exit(3);
            memcpy(at, buf, len);
            if (axle_ring_commit(p) != 0)
                _exit(4);
        }
        store(&pg->published, seq + 1);
        if (seq > nth + 10)
            _exit(5); /* the fault never fired */
    }
}

/*
 * The reader's side of one run: every record whole and in sequence, then
 * exactly -EOWNERDEAD, and exactly the writer's committed count.
 */
static void run_fault_point(axle__shm_fp point, unsigned long committed, enum write_api api)
{
    const char *key = "fp";
    axle_ring *c;
    ck_assert_int_eq(axle_ring_create(&c, key, 1024, AXLE_RING_CONSUMER), 0);
    progress *pg = progress_map();
    pid_t me = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        fault_writer(me, key, point, committed + 1, api, pg);

    uint8_t buf[FP_MAXLEN];
    size_t n;
    uint64_t got = 0;
    int rc;
    while ((rc = axle_ring_recv(c, buf, sizeof buf, &n, -1)) == 0) {
        bool last = true;
        const char *bad = rec_verify(buf, n, FP_SALT, got, FP_MAXLEN, &last);
        ck_assert_msg(!bad, "point %d, record %" PRIu64 ": %s", (int)point, got, bad);
        ck_assert(!last);
        got++;
    }
    /* Woken on a dead writer (unreaped still: a zombie is dead), after its last commit. */
    ck_assert_int_eq(rc, -EOWNERDEAD);
    assert_killed(reap(pid));
    ck_assert_uint_eq(got, committed);
    ck_assert_uint_eq(load(&pg->published), committed);
    ck_assert_uint_eq(load(&pg->attempted), committed + 1); /* it died inside the next one */
    /* Nothing more ever appears: the record it died in is not published. */
    const void *rb;
    ck_assert_int_eq(axle_ring_peek_nowait(c, &rb, &n), -EAGAIN);
    ck_assert_int_eq(axle_ring_recv(c, buf, sizeof buf, &n, 0), -ETIMEDOUT);
    axle_ring_close(c);
    progress_unmap(pg);
    assert_clean(pid);
}

/* The committed counts each point is tried at: the first record, the
 * second, and deep in (the 1 KiB ring has wrapped dozens of times). */
static const unsigned long fp_counts[] = {0, 1, 57, 400};

/* point at every count, through send and (when it lies on that path too) reserve/commit. */
static void run_fault_point_everywhere(axle__shm_fp point, bool zero_copy_too)
{
    for (size_t i = 0; i < sizeof fp_counts / sizeof fp_counts[0]; i++) {
        run_fault_point(point, fp_counts[i], API_SEND);
        if (zero_copy_too)
            run_fault_point(point, fp_counts[i], API_RESERVE_COMMIT);
    }
}

START_TEST(writer_killed_after_reserve_leaves_no_partial_record)
{
    run_fault_point_everywhere(AXLE__FP_AFTER_RESERVE, true);
}
END_TEST

START_TEST(writer_killed_mid_copy_leaves_no_partial_record)
{
    run_fault_point_everywhere(AXLE__FP_MID_COPY, false); /* reserve/commit copies itself */
}
END_TEST

START_TEST(writer_killed_before_commit_leaves_no_partial_record)
{
    run_fault_point_everywhere(AXLE__FP_BEFORE_COMMIT, true);
}
END_TEST

/* The broadcast ring: a writer killed half-way through publishing a record. */
START_TEST(bcast_writer_killed_mid_copy_leaves_no_partial_record)
{
    const unsigned long committed = 150; /* 150 records of <= 200 B never lap 64 KiB */
    int ready[2], go[2];
    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(go), 0);
    progress *pg = progress_map();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(ready[0]);
        close(go[1]);
        axle_bcast *w;
        char byte = 0;
        if (axle_bcast_create(&w, "bfp", 64 * 1024) < 0 || write(ready[1], &byte, 1) != 1 ||
            read(go[0], &byte, 1) != 1)
            _exit(1);
        uint8_t buf[FP_MAXLEN];
        axle__shm_fault_arm(AXLE__FP_BCAST_MID_COPY, committed + 1, SIGKILL);
        for (uint64_t seq = 0; seq < committed + 10; seq++) {
            uint32_t len = rec_build(buf, FP_SALT, seq, FP_MAXLEN, false);
            store(&pg->attempted, seq + 1);
            if (axle_bcast_publish(w, buf, len) != 0)
                _exit(2);
            store(&pg->published, seq + 1);
        }
        _exit(3); /* the fault never fired */
    }
    close(ready[1]);
    close(go[0]);
    char byte;
    ck_assert_int_eq(read(ready[0], &byte, 1), 1);
    axle_bcast *r;
    ck_assert_int_eq(axle_bcast_attach(&r, "bfp", pid), 0);
    ck_assert_int_eq(write(go[1], &byte, 1), 1);
    uint8_t buf[FP_MAXLEN];
    size_t n;
    uint64_t got = 0, missed = 0;
    int rc;
    while ((rc = axle_bcast_recv(r, buf, sizeof buf, &n, &missed, -1)) == 0) {
        bool last = true;
        const char *bad = rec_verify(buf, n, FP_SALT, got, FP_MAXLEN, &last);
        ck_assert_msg(!bad, "record %" PRIu64 ": %s", got, bad);
        got++;
    }
    ck_assert_int_eq(rc, -EOWNERDEAD);
    assert_killed(reap(pid));
    ck_assert_uint_eq(got, committed);
    ck_assert_uint_eq(load(&pg->published), committed);
    ck_assert_uint_eq(load(&pg->attempted), committed + 1);
    ck_assert_int_eq(axle_bcast_recv_nowait(r, buf, sizeof buf, &n, &missed), -EAGAIN);
    axle_bcast_close(r);
    /* The dead writer owned the segment and could not unlink it: we do, by its exact name. */
    ck_assert_int_eq(axle_test_shm_count(pid), 1);
    char name[64];
    snprintf(name, sizeof name, "/axle.%d.bfp", (int)pid);
    ck_assert_int_eq(shm_unlink(name), 0);
    close(ready[0]);
    close(go[1]);
    progress_unmap(pg);
    assert_clean(pid);
}
END_TEST

#endif /* AXLE_FAULT_POINTS */

/* ------------------------------------- a stopped reader, a cancelled writer */

#define STOP_SALT 0x5709u
#define STOP_MAXLEN 64u

struct blocked {
    axle_ring *p;
    uint64_t seq;      /* the record it tries to send */
    int rc;            /* axle_ring_send's result; 1 until it returns */
    axle_scope *sc;    /* its scope, for the canceller */
    axle_event parked; /* set just before it blocks */
    pid_t reader;      /* kill this reader instead of cancelling (0: cancel) */
};

static int blocked_writer(void *arg)
{
    struct blocked *t = arg;
    axle_scope sc;
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    t->sc = &sc;
    uint8_t buf[STOP_MAXLEN];
    uint32_t len = rec_build(buf, STOP_SALT, t->seq, STOP_MAXLEN, false);
    axle_ring_set_spin(t->p, 0);
    axle_event_set(&t->parked);
    t->rc = axle_ring_send(t->p, buf, len, -1); /* full, the reader stopped: parks */
    t->sc = NULL;
    axle_scope_close(&sc, t->rc);
    return 0;
}

static int cancel_or_kill(void *arg)
{
    struct blocked *t = arg;
    axle_event_init(&t->parked);
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    ck_assert_int_eq(axle_nursery_start_soon(n, blocked_writer, t, NULL), 0);
    ck_assert_int_eq(axle_event_wait(&t->parked), 0);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(axle_checkpoint(), 0);
    ck_assert_int_eq(t->rc, 1); /* still parked: the reader is stopped, not dead */
    if (t->reader)
        ck_assert_int_eq(kill(t->reader, SIGKILL), 0);
    else
        axle_scope_cancel(t->sc);
    return axle_nursery_close(n, 0);
}

/* The reader child: stop until resumed, then check every record up to the last. */
static void stopped_reader(pid_t owner, const char *key)
{
    axle_ring *c;
    if (axle_ring_attach(&c, key, owner, AXLE_RING_CONSUMER) < 0)
        _exit(1);
    raise(SIGSTOP);
    uint8_t buf[STOP_MAXLEN];
    size_t n;
    for (uint64_t seq = 0;; seq++) {
        bool last = false;
        if (axle_ring_recv(c, buf, sizeof buf, &n, -1) != 0)
            _exit(2);
        if (rec_verify(buf, n, STOP_SALT, seq, STOP_MAXLEN, &last))
            _exit(3);
        if (last)
            _exit(axle_ring_recv_nowait(c, buf, sizeof buf, &n) == -EAGAIN ? 0 : 4);
    }
}

/* Fill the ring with records 0, 1, ... while they fit; returns the count. */
static uint64_t fill_ring(axle_ring *p, uint64_t salt, uint32_t maxlen)
{
    uint8_t buf[256];
    uint64_t seq = 0;
    for (;; seq++) {
        uint32_t len = rec_build(buf, salt, seq, maxlen, false);
        int rc = axle_ring_send_nowait(p, buf, len);
        if (rc == -EAGAIN)
            return seq;
        ck_assert_int_eq(rc, 0);
    }
}

static pid_t start_stopped_reader(const char *key, axle_ring **p)
{
    ck_assert_int_eq(axle_ring_create(p, key, 1024, AXLE_RING_PRODUCER), 0);
    ck_assert_int_eq(axle_ring_set_overrun(*p, AXLE_OVERRUN_BLOCK, 0), 0);
    pid_t me = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        stopped_reader(me, key);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, WUNTRACED), pid);
    ck_assert(WIFSTOPPED(st));
    return pid;
}

/*
 * The reader is SIGSTOPped with the ring full; the writer, a task blocked
 * in axle_ring_send under BLOCK, is cancelled: exactly -ECANCELED, and
 * nothing was sent: resumed, the reader gets every record before it, then
 * the one sent after the cancel with the very same sequence number, once.
 */
START_TEST(writer_blocked_on_a_stopped_reader_is_cancelled_and_sends_nothing)
{
    axle_ring *p;
    pid_t pid = start_stopped_reader("stopc", &p);
    uint64_t sent = fill_ring(p, STOP_SALT, STOP_MAXLEN);
    ck_assert_uint_gt(sent, 0);
    struct blocked t = {.p = p, .seq = sent, .rc = 1};
    ck_assert_int_eq(axle_test_run(cancel_or_kill, &t), 0);
    ck_assert_int_eq(t.rc, -ECANCELED);
    ck_assert_int_eq(kill(pid, SIGCONT), 0);
    uint8_t buf[STOP_MAXLEN];
    uint32_t len = rec_build(buf, STOP_SALT, sent, STOP_MAXLEN, true);
    ck_assert_int_eq(axle_ring_send(p, buf, len, -1), 0);
    assert_exited_0(reap(pid));
    axle_ring_close(p);
    assert_clean(pid);
}
END_TEST

/* The same stopped reader is SIGKILLed instead: the parked writer gets -EOWNERDEAD. */
START_TEST(writer_blocked_on_a_stopped_reader_gets_owner_dead_when_it_is_killed)
{
    axle_ring *p;
    pid_t pid = start_stopped_reader("stopk", &p);
    uint64_t sent = fill_ring(p, STOP_SALT, STOP_MAXLEN);
    struct blocked t = {.p = p, .seq = sent, .rc = 1, .reader = pid};
    ck_assert_int_eq(axle_test_run(cancel_or_kill, &t), 0);
    ck_assert_int_eq(t.rc, -EOWNERDEAD);
    assert_killed(reap(pid));
    axle_ring_close(p);
    assert_clean(pid);
}
END_TEST

/*
 * A reader that dies mid-stream (not a task here: the writer blocks its
 * thread): the writer, blocked on the full ring, gets exactly -EOWNERDEAD.
 */
START_TEST(writer_blocked_on_a_reader_that_dies_gets_owner_dead)
{
    axle_ring *p;
    ck_assert_int_eq(axle_ring_create(&p, "deadr", 1024, AXLE_RING_PRODUCER), 0);
    pid_t me = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        axle_ring *c;
        if (axle_ring_attach(&c, "deadr", me, AXLE_RING_CONSUMER) < 0)
            _exit(1);
        uint8_t buf[STOP_MAXLEN];
        size_t n;
        for (uint64_t seq = 0; seq < 300; seq++) {
            bool last;
            if (axle_ring_recv(c, buf, sizeof buf, &n, -1) != 0 ||
                rec_verify(buf, n, STOP_SALT, seq, STOP_MAXLEN, &last))
                _exit(2);
        }
        raise(SIGKILL); /* dies holding the consumer end, the ring about to fill */
        _exit(3);
    }
    uint8_t buf[STOP_MAXLEN];
    uint64_t seq = 0;
    int rc;
    for (;; seq++) {
        uint32_t len = rec_build(buf, STOP_SALT, seq, STOP_MAXLEN, false);
        if ((rc = axle_ring_send(p, buf, len, -1)) != 0)
            break;
    }
    ck_assert_int_eq(rc, -EOWNERDEAD);
    ck_assert_uint_gt(seq, 300);
    assert_killed(reap(pid));
    axle_ring_close(p);
    assert_clean(pid);
}
END_TEST

/*
 * Found by the random schedule: commits deferred until the ring is full
 * must be published even when what does not fit is the PAD before a
 * record at the end of the area, or the consumer waits for records it
 * cannot see and the producer for room only the consumer can make.
 */
START_TEST(deferred_commits_are_published_when_not_even_a_pad_fits)
{
    axle_ring *p, *c;
    ck_assert_int_eq(axle_ring_create(&p, "padfull", 256, AXLE_RING_PRODUCER), 0);
    ck_assert_int_eq(axle_ring_attach(&c, "padfull", getpid(), AXLE_RING_CONSUMER), 0);
    uint8_t buf[256];
    size_t n;
    /* head = tail = 128: the next lap ends half-way through the area. */
    ck_assert_int_eq(axle_ring_send_nowait(p, buf, 120), 0);
    ck_assert_int_eq(axle_ring_recv_nowait(c, buf, sizeof buf, &n), 0);
    /* 15 deferred 16-byte records: head = 368 (position 112), 16 bytes free. */
    void *at;
    for (uint64_t i = 0; i < 15; i++) {
        ck_assert_int_eq(axle_ring_reserve_nowait(p, 8, &at), 0);
        memcpy(at, &i, 8);
        ck_assert_int_eq(axle_ring_commit_deferred(p), 0);
    }
    /* 160 bytes do not fit before the end (144), and a PAD of 144 not in 16. */
    ck_assert_int_eq(axle_ring_reserve_nowait(p, 152, &at), -EAGAIN);
    for (uint64_t i = 0; i < 15; i++) {
        uint64_t v;
        ck_assert_int_eq(axle_ring_recv_nowait(c, &v, sizeof v, &n), 0);
        ck_assert_uint_eq(v, i);
    }
    ck_assert_int_eq(axle_ring_recv_nowait(c, buf, sizeof buf, &n), -EAGAIN);
    /* Now the PAD fits and goes out; the record fits once the consumer skips it. */
    ck_assert_int_eq(axle_ring_reserve_nowait(p, 152, &at), -EAGAIN);
    ck_assert_int_eq(axle_ring_recv_nowait(c, buf, sizeof buf, &n), -EAGAIN);
    ck_assert_int_eq(axle_ring_reserve_nowait(p, 152, &at), 0);
    ck_assert_int_eq(axle_ring_commit(p), 0);
    ck_assert_int_eq(axle_ring_recv_nowait(c, buf, sizeof buf, &n), 0);
    ck_assert_uint_eq(n, 152);
    axle_ring_close(c);
    axle_ring_close(p);
    ck_assert_int_eq(axle_test_shm_count(getpid()), 0);
}
END_TEST

/* ------------------------------------------------------ the wake protocol */

/* The frozen layout's light flags (shm/ring_layout.h). */
enum { OFF_PRODUCER_LIGHT = 32, OFF_CONSUMER_LIGHT = 36 };

static uint32_t flag_at(const axle_shm *s, size_t off)
{
    return __atomic_load_n((const uint32_t *)((const uint8_t *)axle_shm_base(s) + off),
                           __ATOMIC_ACQUIRE);
}

/*
 * Each end says whether it parks with the heavy barrier (so the other
 * side's wakes may skip their fence): set at claim where membarrier works,
 * cleared for good on the consumer once an event fd helper (which parks
 * with a plain fence) waits for it, cleared at close.
 */
START_TEST(light_flags_follow_who_parks_how)
{
    long q = syscall(SYS_membarrier, 0 /* MEMBARRIER_CMD_QUERY */, 0, 0);
    bool can = q > 0 && (q & (1 << 1)) && (q & (1 << 2)); /* GLOBAL_EXPEDITED and its register */
    axle_ring *p, *c;
    ck_assert_int_eq(axle_ring_create(&p, "light", 4096, AXLE_RING_PRODUCER), 0);
    ck_assert_int_eq(axle_ring_attach(&c, "light", getpid(), AXLE_RING_CONSUMER), 0);
    axle_shm *s;
    ck_assert_int_eq(axle_shm_attach(&s, "light", getpid()), 0);
    ck_assert_uint_eq(flag_at(s, OFF_PRODUCER_LIGHT), can);
    ck_assert_uint_eq(flag_at(s, OFF_CONSUMER_LIGHT), can);
    int fd = axle_ring_event_fd(c);
    ck_assert_int_ge(fd, 0);
    ck_assert_uint_eq(flag_at(s, OFF_CONSUMER_LIGHT), 0);
    /* Woken through the helper, fenced: a record makes the fd readable. */
    ck_assert_int_eq(axle_ring_send(p, "x", 1, -1), 0);
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    ck_assert_int_eq(poll(&pf, 1, -1), 1);
    char buf[8];
    size_t n;
    ck_assert_int_eq(axle_ring_recv_nowait(c, buf, sizeof buf, &n), 0);
    /* Many records later the consumer is still fenced: the helper may park again. */
    for (int i = 0; i < 3000; i++) {
        ck_assert_int_eq(axle_ring_send(p, "y", 1, -1), 0);
        ck_assert_int_eq(axle_ring_recv_nowait(c, buf, sizeof buf, &n), 0);
    }
    ck_assert_uint_eq(flag_at(s, OFF_CONSUMER_LIGHT), 0);
    axle_ring_close(c);
    axle_ring_close(p);
    ck_assert_uint_eq(flag_at(s, OFF_PRODUCER_LIGHT), 0);
    axle_shm_close(s);
    ck_assert_int_eq(axle_test_shm_count(getpid()), 0);
}
END_TEST

/*
 * Parked peers wake whichever way they parked: a consumer child echoes
 * records back; bursts of thousands (it turns light between parks) and
 * single ping-pongs (it parks after every record, fenced) alternate, both
 * sides parking at once (spin 0). A lost wake-up would cost 100 ms each
 * (the dead-peer check); the bound here is a generous hang bound only.
 */
START_TEST(parked_peers_wake_in_both_wake_modes)
{
    axle_ring *to, *from;
    ck_assert_int_eq(axle_ring_create(&to, "wto", 1 << 16, AXLE_RING_PRODUCER), 0);
    ck_assert_int_eq(axle_ring_create(&from, "wfrom", 1 << 16, AXLE_RING_CONSUMER), 0);
    axle_ring_set_spin(to, 0);
    axle_ring_set_spin(from, 0);
    pid_t me = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        axle_ring *in, *out;
        if (axle_ring_attach(&in, "wto", me, AXLE_RING_CONSUMER) < 0 ||
            axle_ring_attach(&out, "wfrom", me, AXLE_RING_PRODUCER) < 0)
            _exit(1);
        axle_ring_set_spin(in, 0);
        axle_ring_set_spin(out, 0);
        for (;;) {
            uint64_t v;
            size_t n;
            int rc = axle_ring_recv(in, &v, sizeof v, &n, -1);
            if (rc == -EOWNERDEAD || (rc == 0 && v == UINT64_MAX))
                _exit(0);
            if (rc != 0 || axle_ring_send(out, &v, sizeof v, -1) != 0)
                _exit(2);
        }
    }
    uint64_t seq = 0, want = 0;
    for (int round = 0; round < 40; round++) {
        int burst = round % 2 ? 1 : 3000;
        for (int i = 0; i < burst; i++, seq++) {
            ck_assert_int_eq(axle_ring_send(to, &seq, sizeof seq, -1), 0);
            uint64_t v;
            size_t n;
            while (axle_ring_recv_nowait(from, &v, sizeof v, &n) == 0)
                ck_assert_uint_eq(v, want++);
        }
        while (want < seq) { /* the rest, parked */
            uint64_t v;
            size_t n;
            ck_assert_int_eq(axle_ring_recv(from, &v, sizeof v, &n, -1), 0);
            ck_assert_uint_eq(v, want++);
        }
    }
    uint64_t end = UINT64_MAX;
    ck_assert_int_eq(axle_ring_send(to, &end, sizeof end, -1), 0);
    assert_exited_0(reap(pid));
    axle_ring_close(to);
    axle_ring_close(from);
    assert_clean(pid);
}
END_TEST

/* ------------------------------------------------------ the property test */

/* A small, seedable generator (splitmix64). */
typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rnd(rng *g) { return mix(g->s += 0x9e3779b97f4a7c15ull); }
static uint64_t below(rng *g, uint64_t n) { return n ? rnd(g) % n : 0; }

/* How a round's writer ends. */
enum end_kind { END_CLEAN, END_FAULT, END_KILL, END_KINDS };

/* One round's schedule, drawn from the seed and the round number. */
typedef struct round_plan {
    uint64_t seed;        /* the generator's seed for both sides */
    uint64_t first;       /* the writer's first sequence number */
    uint64_t records;     /* how many it writes before its last */
    uint32_t maxlen;      /* record length bound */
    int end;              /* enum end_kind */
    axle__shm_fp point;   /* END_FAULT: where */
    unsigned long nth;    /* END_FAULT: at which hit */
    uint64_t kill_at;     /* END_KILL: the reader kills it once it holds this many */
    bool writer_spins;    /* spin before parking (or park at once) */
    bool reader_blocking; /* the reader only uses the blocking calls */
} round_plan;

typedef struct writer_ctx {
    const round_plan *pl;
    axle_ring *p;
    progress *pg;
} writer_ctx;

/*
 * The writer's schedule: each record through a randomly chosen call (send,
 * send with a short timeout, send_nowait, reserve/commit, a deferred
 * commit, a send under a cancelled scope or a short deadline), sometimes
 * after a pause; a failed attempt (-ETIMEDOUT, -EAGAIN, -ECANCELED) is
 * retried with the same number. Anything else exits non-zero.
 */
static int writer_main(void *arg)
{
    writer_ctx *w = arg;
    const round_plan *pl = w->pl;
    rng g = {pl->seed ^ 0x77};
    uint8_t buf[4096];
    uint64_t seq = pl->first, end = pl->first + pl->records;
    while (seq <= end) {
        bool last = seq == end;
        uint32_t len = rec_build(buf, pl->seed, seq, pl->maxlen, last);
        store(&w->pg->attempted, seq + 1);
        if (below(&g, 8) == 0 && axle_sleep((int64_t)below(&g, 300) * 1000) != 0)
            return 10;
        unsigned op = last ? 0 : (unsigned)below(&g, 7);
        int rc;
        void *at;
        axle_scope sc;
        switch (op) {
        case 0: /* blocking send */
            rc = axle_ring_send(w->p, buf, len, -1);
            break;
        case 1: /* a short timeout */
            rc = axle_ring_send(w->p, buf, len, (int64_t)below(&g, 200) * 1000);
            if (rc == -ETIMEDOUT)
                continue;
            break;
        case 2:
            rc = axle_ring_send_nowait(w->p, buf, len);
            if (rc == -EAGAIN)
                continue;
            break;
        case 3:
        case 4: /* zero-copy; 4 defers the publication */
            rc = axle_ring_reserve(w->p, len, &at, -1);
            if (rc == 0) {
                memcpy(at, buf, len);
                rc = op == 3 ? axle_ring_commit(w->p) : axle_ring_commit_deferred(w->p);
            }
            if (rc == 0 && op == 4) {
                seq++;
                if (below(&g, 4) == 0) {
                    axle_ring_flush(w->p);
                    store(&w->pg->published, seq);
                }
                continue; /* published only once known to be */
            }
            break;
        case 5: /* under a scope cancelled before the call: sent or -ECANCELED */
            axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
            axle_scope_cancel(&sc);
            rc = axle_ring_send(w->p, buf, len, -1);
            axle_scope_close(&sc, rc);
            if (rc == -ECANCELED)
                continue;
            break;
        default: /* under a short deadline: sent, or cancelled and not sent */
            axle_move_on_after(&sc, (int64_t)below(&g, 300) * 1000);
            rc = axle_ring_send(w->p, buf, len, -1);
            axle_scope_close(&sc, rc);
            if (rc == -ECANCELED)
                continue;
            break;
        }
        if (rc != 0)
            return 20 + (int)op;
        seq++;
        store(&w->pg->published, seq); /* a commit publishes every deferred one too */
    }
    return 0;
}

static void writer_child(pid_t owner, const char *key, const round_plan *pl, progress *pg,
                         int attached)
{
    axle_ring *p;
    char byte = 1;
    if (axle_ring_attach(&p, key, owner, AXLE_RING_PRODUCER) < 0 || write(attached, &byte, 1) != 1)
        _exit(1);
    close(attached);
    axle_ring_set_spin(p, pl->writer_spins ? AXLE_RING_SPIN_DEFAULT : 0);
    if (pl->end == END_FAULT)
        axle__shm_fault_arm(pl->point, pl->nth, SIGKILL);
    writer_ctx w = {pl, p, pg};
    int rc = axle_run(writer_main, &w, NULL);
    if (rc != 0)
        _exit(rc > 0 ? rc : 2); /* holding the end: the reader sees a dead writer */
    axle_ring_close(p);
    _exit(0);
}

static void pause_us(uint64_t us)
{
    struct timespec ts = {0, (long)us * 1000};
    nanosleep(&ts, NULL);
}

/*
 * The reader's side of one round: receive with a random mix of calls and
 * pauses, SIGSTOP/SIGCONT the writer now and then, kill it when planned;
 * check every record. Returns the next expected sequence number.
 */
static uint64_t read_round(axle_ring *c, const round_plan *pl, pid_t pid, progress *pg,
                           unsigned round, bool *died)
{
    rng g = {pl->seed ^ 0x99};
    uint8_t buf[4096];
    uint64_t want = pl->first;
    bool clean_end = false, killed = false, must_block = false, dead = false;
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    ck_assert_int_ge(pfd, 0);
    for (;;) {
        if (pl->end == END_KILL && !killed && want - pl->first >= pl->kill_at) {
            ck_assert_int_eq(kill(pid, SIGKILL), 0);
            killed = true;
        }
        unsigned op = pl->reader_blocking || must_block ? 0 : (unsigned)below(&g, 6);
        must_block = false;
        const void *rec = buf;
        size_t n = 0;
        int rc;
        if (op == 4) { /* a pause: the ring fills, the writer parks */
            pause_us(below(&g, 200));
            continue;
        }
        if (op == 5) { /* stop the writer, take what is published, resume it */
            ck_assert_int_eq(kill(pid, SIGSTOP), 0);
            op = 1;
        }
        /* Wait forever only when that must end: a blocking-only round (its
         * writer's death wakes us), or once the writer is seen dead. */
        int64_t wait = pl->reader_blocking || dead ? -1 : (int64_t)below(&g, 2000) * 1000;
        if (op == 0) {
            rc = axle_ring_recv(c, buf, sizeof buf, &n, wait);
        } else if (op == 1 || op == 2) {
            rc = axle_ring_recv_nowait(c, buf, sizeof buf, &n);
        } else {
            rc = axle_ring_peek(c, &rec, &n, wait);
        }
        if (rc == -EAGAIN || rc == -ETIMEDOUT) {
            kill(pid, SIGCONT);
            /* Wait a little for the writer or its death, then block: a
             * dead writer is then seen at once, a live one wakes us. */
            struct pollfd pf = {.fd = pfd, .events = POLLIN};
            poll(&pf, 1, (int)below(&g, 2));
            dead = pf.revents != 0;
            must_block = dead || below(&g, 4) == 0;
            continue;
        }
        if (rc == -EOWNERDEAD)
            break;
        ck_assert_msg(rc == 0, "seed %" PRIu64 " round %u: reader got %d (%s)", pl->seed, round, rc,
                      axle_errname(rc));
        bool last = false;
        const char *bad = rec_verify(rec, n, pl->seed, want, pl->maxlen, &last);
        ck_assert_msg(!bad, "seed %" PRIu64 " round %u, record %" PRIu64 ": %s", pl->seed, round,
                      want, bad);
        if (op == 3)
            ck_assert_int_eq(axle_ring_release(c), 0);
        if (op == 1 || op == 2)
            kill(pid, SIGCONT);
        want++;
        if (last) {
            clean_end = true;
            break;
        }
    }
    kill(pid, SIGCONT);
    close(pfd);
    int st = reap(pid);
    uint64_t got = want - pl->first;
    uint64_t lo = load(&pg->published) - pl->first, hi = load(&pg->attempted) - pl->first;
    *died = !clean_end;
    if (clean_end) {
        /* It ended cleanly (or we killed it after its last record). */
        ck_assert_msg((WIFEXITED(st) && WEXITSTATUS(st) == 0) ||
                          (pl->end == END_KILL && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL),
                      "seed %" PRIu64 " round %u: writer status %#x", pl->seed, round, st);
        ck_assert_uint_eq(got, pl->records + 1);
    } else {
        /* Died: killed, by a fault point or by us; nothing it had
         * published lost, nothing it had not attempted seen. */
        ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
                      "seed %" PRIu64 " round %u: writer status %#x", pl->seed, round, st);
        ck_assert_msg(lo <= got && got <= hi,
                      "seed %" PRIu64 " round %u: got %" PRIu64 ", writer published %" PRIu64
                      " attempted %" PRIu64,
                      pl->seed, round, got, lo, hi);
        if (pl->end == END_FAULT && lo == hi - 1) /* nothing deferred: exact */
            ck_assert_uint_eq(got, lo);
    }
    return want;
}

static round_plan plan_round(uint64_t seed, unsigned round, uint64_t first, size_t max_record)
{
    rng g = {seed ^ mix(round)};
    round_plan pl = {.seed = rnd(&g), .first = first};
    pl.records = below(&g, 300);
    uint32_t bound = max_record < 4096 ? (uint32_t)max_record : 4096;
    static const uint32_t lens[] = {24, 40, 64, 200, 1000, 4096};
    pl.maxlen = lens[below(&g, 6)];
    if (pl.maxlen > bound)
        pl.maxlen = bound;
    pl.end = (int)below(&g, END_KINDS);
#ifndef AXLE_FAULT_POINTS
    if (pl.end == END_FAULT)
        pl.end = END_KILL;
#endif
    pl.point = (axle__shm_fp)(1 + below(&g, 3));
    pl.nth = 1 + below(&g, pl.records + 1);
    pl.kill_at = below(&g, pl.records + 1);
    pl.writer_spins = below(&g, 2);
    pl.reader_blocking = below(&g, 16) == 0; /* a kill then costs up to 100 ms */
    return pl;
}

START_TEST(random_schedule_of_writes_pauses_cancels_and_kills_keeps_the_sequence)
{
    const char *env = getenv("AXLE_FAULT_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0) : mix((uint64_t)time(NULL) ^ (uint64_t)getpid());
    fprintf(stderr,
            "test_shm_fault: property seed %" PRIu64 " (replay: AXLE_FAULT_SEED=%" PRIu64 ")\n",
            seed, seed);
    bool verbose = getenv("AXLE_FAULT_VERBOSE") != NULL; /* a line per round */
    const unsigned max_rounds = 400;
    const int64_t budget_ns = 4000 * MS; /* a bound on the run, not an assertion */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    progress *pg = progress_map();
    pid_t me = getpid();
    axle_ring *c = NULL;
    char key[32];
    uint64_t next = 0;
    unsigned round = 0, kills = 0;
    for (; round < max_rounds; round++) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000000000LL + (t.tv_nsec - t0.tv_nsec) > budget_ns)
            break;
        rng g = {seed ^ mix(round) ^ 0x1234};
        /* A fresh ring of a random size, or the same one: the next writer
         * claims the end its predecessor closed, or takes over the end of
         * one that was killed (possibly mid-record). */
        if (!c || below(&g, 2)) {
            axle_ring_close(c);
            snprintf(key, sizeof key, "prop%u", round);
            ck_assert_int_eq(
                axle_ring_create(&c, key, (size_t)64 << below(&g, 11), AXLE_RING_CONSUMER), 0);
            axle_ring_set_spin(c, below(&g, 2) ? AXLE_RING_SPIN_DEFAULT : 0);
            next = 0;
        }
        round_plan pl = plan_round(seed, round, next, axle_ring_max_record(c));
        if (verbose)
            fprintf(stderr,
                    "round %u: cap %zu first %" PRIu64 " records %" PRIu64
                    " maxlen %u end %d point %d nth %lu kill_at %" PRIu64 " spins %d blocking %d\n",
                    round, axle_ring_capacity(c), pl.first, pl.records, pl.maxlen, pl.end,
                    (int)pl.point, pl.nth, pl.kill_at, pl.writer_spins, pl.reader_blocking);
        store(&pg->attempted, next);
        store(&pg->published, next);
        int attached[2];
        ck_assert_int_eq(pipe(attached), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(attached[0]);
            writer_child(me, key, &pl, pg, attached[1]);
        }
        /* Read only once it holds the end: until then the end still names
         * the last writer, and a killed one is dead (-EOWNERDEAD). */
        close(attached[1]);
        char byte;
        ck_assert_int_eq(read(attached[0], &byte, 1), 1);
        close(attached[0]);
        bool died = false;
        next = read_round(c, &pl, pid, pg, round, &died);
        ck_assert_int_eq(axle_test_shm_count(pid), 0);
        kills += died;
    }
    axle_ring_close(c);
    progress_unmap(pg);
    fprintf(stderr, "test_shm_fault: property seed %" PRIu64 ": %u rounds, %u ending in a kill\n",
            seed, round, kills);
    ck_assert_uint_gt(round, 0);
    ck_assert_int_eq(axle_test_shm_count(getpid()), 0);
}
END_TEST

/* ------------------------------------------------------------------ suite */

static int nothing(void *arg)
{
    (void)arg;
    return 0;
}

int main(void)
{
    if (axle_run(nothing, NULL, NULL) == -AXLE_ENOURING) {
        fprintf(stderr, "test_shm_fault: skipped: io_uring is unavailable\n");
        return 77;
    }
    Suite *s = suite_create("shm_fault");
#ifdef AXLE_FAULT_POINTS
    ADD_CASE(s, "fault_points", 30, writer_killed_after_reserve_leaves_no_partial_record,
             writer_killed_mid_copy_leaves_no_partial_record,
             writer_killed_before_commit_leaves_no_partial_record,
             bcast_writer_killed_mid_copy_leaves_no_partial_record);
#else
    fprintf(stderr,
            "test_shm_fault: built without AXLE_FAULT_POINTS: fault-point tests left out\n");
#endif
    ADD_CASE(s, "stopped_and_dead_readers", 30,
             writer_blocked_on_a_stopped_reader_is_cancelled_and_sends_nothing,
             writer_blocked_on_a_stopped_reader_gets_owner_dead_when_it_is_killed,
             writer_blocked_on_a_reader_that_dies_gets_owner_dead);
    ADD_CASE(s, "found", 10, deferred_commits_are_published_when_not_even_a_pad_fits);
    ADD_CASE(s, "wake_protocol", 30, light_flags_follow_who_parks_how,
             parked_peers_wake_in_both_wake_modes);
    ADD_CASE(s, "property", 60,
             random_schedule_of_writes_pauses_cancels_and_kills_keeps_the_sequence);
    return axle_test_main(s);
}
