/*
 * tests/unit/test_shm.c — shared-memory segments and the SPSC ring.
 *
 * Public API only, except where a test must look at or damage the frozen
 * ring layout (DESIGN.md "Shared-memory ring"): it maps the ring's segment
 * with axle_shm_attach and uses the offsets the layout freezes. Cross-
 * process tests fork; a child reports through its exit status, never
 * through check assertions. The harness proves no /dev/shm/axle.<pid>.* is
 * left and the fd count is back.
 */
#define _GNU_SOURCE
#include <axle/shm.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../harness.h"

/* The frozen layout's offsets (shm/ring_layout.h). */
enum {
    OFF_MAGIC = 0,
    OFF_VERSION = 8,
    OFF_LAYOUT = 12,
    OFF_CAP = 16,
    OFF_PRODUCER = 24,
    OFF_CONSUMER = 28,
    OFF_HEAD = 64,
    OFF_WRITER_PARKED = 192,
    OFF_TAIL = 128,
    OFF_READER_PARKED = 196,
    OFF_DATA = 256,
};

static uint8_t pattern(uint64_t seq, size_t j) { return (uint8_t)(seq * 31 + j * 7 + 1); }

static void fill(void *buf, size_t len, uint64_t seq)
{
    for (size_t j = 0; j < len; j++)
        ((uint8_t *)buf)[j] = pattern(seq, j);
}

static bool check_bytes(const void *buf, size_t len, uint64_t seq)
{
    for (size_t j = 0; j < len; j++)
        if (((const uint8_t *)buf)[j] != pattern(seq, j))
            return false;
    return true;
}

static int wait_child(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* --------------------------------------------------------------- segments */

START_TEST(shm_create_attach_close_unlinks)
{
    axle_shm *a, *b;
    ck_assert_int_eq(axle_shm_create(&a, "seg", 4096), 0);
    char name[64];
    snprintf(name, sizeof name, "/axle.%d.seg", (int)getpid());
    ck_assert_str_eq(axle_shm_name(a), name);
    ck_assert_uint_eq(axle_shm_size(a), 4096);
    ck_assert_int_eq(axle_shm_owner(a), getpid());
    ck_assert(axle_test_shm_exists(getpid(), "seg"));
    ck_assert_int_eq(axle_shm_attach(&b, "seg", getpid()), 0);
    ck_assert_uint_eq(axle_shm_size(b), 4096);
    memcpy(axle_shm_base(a), "hello", 6);
    ck_assert_str_eq(axle_shm_base(b), "hello");
    axle_shm_close(b);
    ck_assert(axle_test_shm_exists(getpid(), "seg")); /* an attacher never unlinks */
    axle_shm_close(a);
    ck_assert(!axle_test_shm_exists(getpid(), "seg"));
    ck_assert_int_eq(axle_shm_attach(&b, "seg", getpid()), -ENOENT);
    ck_assert_ptr_null(b);
    axle_shm_close(NULL);
}
END_TEST

START_TEST(shm_create_duplicate_is_eexist)
{
    axle_shm *a, *b;
    ck_assert_int_eq(axle_shm_create(&a, "dup", 128), 0);
    ck_assert_int_eq(axle_shm_create(&b, "dup", 128), -EEXIST);
    ck_assert_ptr_null(b);
    axle_shm_close(a);
    ck_assert_int_eq(axle_shm_create(&b, "dup", 128), 0); /* free again */
    axle_shm_close(b);
}
END_TEST

START_TEST(shm_bad_key_is_einval)
{
    axle_shm *s;
    char longkey[AXLE_SHM_KEY_MAX + 2];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = 0; /* AXLE_SHM_KEY_MAX + 1 bytes */
    const char *bad[] = {"", "a/b", "/abs", ".hidden", "..", "sp ace", "new\nline", longkey};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(axle_shm_create(&s, bad[i], 64), -EINVAL);
        ck_assert_int_eq(axle_shm_attach(&s, bad[i], getpid()), -EINVAL);
    }
    ck_assert_int_eq(axle_shm_create(&s, NULL, 64), -EINVAL);
    ck_assert_int_eq(axle_shm_create(&s, "ok", 0), -EINVAL);
    ck_assert_int_eq(axle_shm_attach(&s, "ok", 0), -EINVAL);
    longkey[AXLE_SHM_KEY_MAX] = 0; /* exactly the maximum is fine */
    ck_assert_int_eq(axle_shm_create(&s, longkey, 64), 0);
    axle_shm_close(s);
}
END_TEST

/* axle_shm_reap is tested in test_shm_full, on a /dev/shm of its own: any
 * root actor starting elsewhere on the machine reaps too, which would make
 * its counts race here. */

/* ------------------------------------------------------------------ rings */

/* A ring with both ends in this process: the creator produces. */
static void pair_open(const char *key, size_t cap, axle_ring **p, axle_ring **c)
{
    ck_assert_int_eq(axle_ring_create(p, key, cap, AXLE_RING_PRODUCER), 0);
    ck_assert_int_eq(axle_ring_attach(c, key, getpid(), AXLE_RING_CONSUMER), 0);
}

/* A fixed ring with both ends in this process: the creator produces. */
static void fixed_pair_open(const char *key, size_t cap, size_t size, axle_ring **p, axle_ring **c)
{
    ck_assert_int_eq(axle_ring_create_fixed(p, key, cap, size, AXLE_RING_PRODUCER), 0);
    ck_assert_int_eq(axle_ring_attach(c, key, getpid(), AXLE_RING_CONSUMER), 0);
}

START_TEST(ring_layout_is_frozen)
{
    axle_ring *r;
    ck_assert_int_eq(axle_ring_create(&r, "layout", 1000, AXLE_RING_PRODUCER), 0);
    ck_assert_uint_eq(axle_ring_capacity(r), 1024); /* rounded to a power of two */
    ck_assert_uint_eq(axle_ring_max_record(r), 1016);
    axle_shm *s;
    ck_assert_int_eq(axle_shm_attach(&s, "layout", getpid()), 0);
    ck_assert_uint_eq(axle_shm_size(s), OFF_DATA + 1024);
    const uint8_t *b = axle_shm_base(s);
    ck_assert_mem_eq(b + OFF_MAGIC, "AXLERING", 8);
    ck_assert_uint_eq(*(const uint32_t *)(b + OFF_VERSION), 1);
    ck_assert_uint_eq(*(const uint32_t *)(b + OFF_LAYOUT), OFF_DATA);
    ck_assert_uint_eq(*(const uint64_t *)(b + OFF_CAP), 1024);
    ck_assert_int_eq(*(const int32_t *)(b + OFF_PRODUCER), getpid());
    ck_assert_int_eq(*(const int32_t *)(b + OFF_CONSUMER), 0);
    ck_assert_int_eq(axle_ring_send_nowait(r, "abc", 3), 0);
    ck_assert_uint_eq(*(const uint64_t *)(b + OFF_HEAD), 16);
    ck_assert_uint_eq(*(const uint32_t *)(b + OFF_DATA), 3); /* len */
    ck_assert_mem_eq(b + OFF_DATA + 8, "abc", 3);
    axle_shm_close(s);
    axle_ring_close(r);
    ck_assert_int_eq(axle_ring_create(&r, "x", 0, AXLE_RING_PRODUCER), -EINVAL);
    ck_assert_int_eq(axle_ring_create(&r, "x", (size_t)1 << 31, AXLE_RING_PRODUCER), -EINVAL);
    ck_assert_int_eq(axle_ring_create(&r, "x", 64, 0), -EINVAL);
    ck_assert_int_eq(axle_ring_create(&r, "a/b", 64, AXLE_RING_PRODUCER), -EINVAL);
}
END_TEST

START_TEST(ring_round_trip_varied_sizes)
{
    axle_ring *p, *c;
    pair_open("rt", 4096, &p, &c);
    const size_t max = axle_ring_max_record(p);
    const size_t sizes[] = {0, 1, 7, 8, 9, 15, 16, 63, 100, 1000, 2047, max, 3, max - 1, 0, 2500};
    const size_t nsizes = sizeof sizes / sizeof sizes[0];
    static uint8_t in[8192], out[8192];
    uint64_t sent = 0, got = 0;
    const uint64_t total = 5000;
    while (got < total) {
        while (sent < total) {
            size_t len = sizes[sent % nsizes];
            fill(in, len, sent);
            int rc = axle_ring_send_nowait(p, in, len);
            if (rc == -EAGAIN)
                break;
            ck_assert_int_eq(rc, 0);
            sent++;
        }
        for (;;) {
            size_t len;
            int rc = axle_ring_recv_nowait(c, out, sizeof out, &len);
            if (rc == -EAGAIN)
                break;
            ck_assert_int_eq(rc, 0);
            ck_assert_uint_eq(len, sizes[got % nsizes]);
            ck_assert(check_bytes(out, len, got));
            got++;
        }
    }
    ck_assert_uint_eq(sent, total);
    axle_ring_close(c);
    axle_ring_close(p);
}
END_TEST

START_TEST(ring_wraps_at_every_alignment)
{
    axle_ring *p, *c;
    pair_open("wrap", 256, &p, &c);
    const uint64_t cap = 256;
    const size_t lens[] = {0, 1, 7, 8, 9, 100, 200, 240, 247, 248};
    uint64_t pos = 0, seq = 0; /* the model of head & (cap - 1) */
    uint8_t buf[256];
    for (uint64_t o = 0; o < cap; o += 8) {
        for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
            size_t len;
            while (pos != o) { /* step by empty records (8 bytes each) */
                ck_assert_int_eq(axle_ring_send_nowait(p, NULL, 0), 0);
                ck_assert_int_eq(axle_ring_recv_nowait(c, buf, sizeof buf, &len), 0);
                ck_assert_uint_eq(len, 0);
                pos = (pos + 8) % cap;
            }
            size_t n = lens[k];
            uint64_t t = (8 + n + 7) & ~(uint64_t)7;
            fill(buf, n, seq);
            if (pos + t > cap && t > pos) {
                /* The padding to the end is published, but the record fits
                 * only once the consumer has skipped it. */
                ck_assert_int_eq(axle_ring_send_nowait(p, buf, n), -EAGAIN);
                const void *none;
                ck_assert_int_eq(axle_ring_peek_nowait(c, &none, &len), -EAGAIN);
            }
            ck_assert_int_eq(axle_ring_send_nowait(p, buf, n), 0);
            memset(buf, 0, sizeof buf);
            const void *view;
            ck_assert_int_eq(axle_ring_peek_nowait(c, &view, &len), 0);
            ck_assert_uint_eq(len, n);
            ck_assert_uint_eq((uintptr_t)view % 8, 0);
            ck_assert(check_bytes(view, n, seq));
            ck_assert_int_eq(axle_ring_release(c), 0);
            seq++;
            pos = (pos + t > cap ? t : pos + t) % cap;
        }
    }
    ck_assert_int_eq(axle_ring_recv_nowait(c, buf, sizeof buf, &(size_t){0}), -EAGAIN);
    axle_ring_close(c);
    axle_ring_close(p);
}
END_TEST

START_TEST(ring_second_producer_or_consumer_is_ebusy)
{
    axle_ring *p, *c, *x;
    pair_open("busy", 256, &p, &c);
    ck_assert_int_eq(axle_ring_attach(&x, "busy", getpid(), AXLE_RING_PRODUCER), -EBUSY);
    ck_assert_ptr_null(x);
    ck_assert_int_eq(axle_ring_attach(&x, "busy", getpid(), AXLE_RING_CONSUMER), -EBUSY);
    ck_assert_int_eq(axle_ring_attach(&x, "busy", getpid(), 3), -EINVAL);
    ck_assert_int_eq(axle_ring_attach(&x, "nope", getpid(), AXLE_RING_CONSUMER), -ENOENT);
    /* Each end is used only as its role allows. */
    size_t len;
    void *w;
    const void *v;
    ck_assert_int_eq(axle_ring_send_nowait(c, "x", 1), -EPERM);
    ck_assert_int_eq(axle_ring_recv_nowait(p, &len, sizeof len, &len), -EPERM);
    ck_assert_int_eq(axle_ring_peek_nowait(p, &v, &len), -EPERM);
    ck_assert_int_eq(axle_ring_commit(p), -EINVAL);
    ck_assert_int_eq(axle_ring_release(c), -EINVAL);
    ck_assert_int_eq(axle_ring_reserve_nowait(p, 8, &w), 0);
    ck_assert_int_eq(axle_ring_reserve_nowait(p, 8, &w), -EINVAL);
    ck_assert_int_eq(axle_ring_commit(p), 0);
    /* A closed end can be claimed again. */
    axle_ring_close(c);
    ck_assert_int_eq(axle_ring_attach(&c, "busy", getpid(), AXLE_RING_CONSUMER), 0);
    ck_assert_int_eq(axle_ring_peek_nowait(c, &v, &len), 0);
    ck_assert_uint_eq(len, 8);
    axle_ring_close(c);
    axle_ring_close(p);
}
END_TEST

/* Poke a value of n bytes at off in the ring's segment. */
static void poke(axle_shm *s, size_t off, uint64_t v, size_t n)
{
    memcpy((uint8_t *)axle_shm_base(s) + off, &v, n);
}

START_TEST(ring_corrupt_header_is_eshmcorrupt)
{
    axle_ring *p, *x;
    ck_assert_int_eq(axle_ring_create(&p, "bad", 256, AXLE_RING_PRODUCER), 0);
    axle_shm *s;
    ck_assert_int_eq(axle_shm_attach(&s, "bad", getpid()), 0);
    uint8_t saved[OFF_DATA];
    memcpy(saved, axle_shm_base(s), OFF_DATA);
    struct {
        size_t off;
        uint64_t v;
        size_t n;
    } damage[] = {
        {OFF_MAGIC, 0x474e4952454c5842ull, 8}, /* one bit of the magic */
        {OFF_VERSION, 2, 4},
        {OFF_LAYOUT, 128, 4},
        {OFF_CAP, 100, 8},      /* not a power of two */
        {OFF_CAP, 512, 8},      /* larger than the segment */
        {OFF_CAP, 128, 8},      /* smaller than the segment */
        {OFF_HEAD, 256 + 8, 8}, /* head - tail > capacity */
        {OFF_HEAD, 12, 8},      /* misaligned */
        {OFF_TAIL, 8, 8},       /* tail past head */
    };
    for (size_t i = 0; i < sizeof damage / sizeof damage[0]; i++) {
        poke(s, damage[i].off, damage[i].v, damage[i].n);
        ck_assert_msg(axle_ring_attach(&x, "bad", getpid(), AXLE_RING_CONSUMER) ==
                          -AXLE_ESHMCORRUPT,
                      "damage %zu accepted", i);
        memcpy(axle_shm_base(s), saved, OFF_DATA);
    }
    axle_ring *c;
    ck_assert_int_eq(axle_ring_attach(&c, "bad", getpid(), AXLE_RING_CONSUMER), 0);

    /* An index out of range, read while running. */
    const void *v;
    size_t len;
    poke(s, OFF_HEAD, 1024, 8);
    ck_assert_int_eq(axle_ring_peek_nowait(c, &v, &len), -AXLE_ESHMCORRUPT);
    poke(s, OFF_HEAD, 0, 8);
    ck_assert_int_eq(axle_ring_peek_nowait(c, &v, &len), -EAGAIN);

    /* A record header out of range: length past the published bytes, then
     * past the end of the area, then an unknown type. */
    ck_assert_int_eq(axle_ring_send_nowait(p, "abcd", 4), 0);
    poke(s, OFF_DATA, 9, 4);
    ck_assert_int_eq(axle_ring_peek_nowait(c, &v, &len), -AXLE_ESHMCORRUPT);
    poke(s, OFF_DATA, 0xffffffffu, 4);
    ck_assert_int_eq(axle_ring_peek_nowait(c, &v, &len), -AXLE_ESHMCORRUPT);
    poke(s, OFF_DATA, 4, 4);
    poke(s, OFF_DATA + 4, 7, 4);
    ck_assert_int_eq(axle_ring_peek_nowait(c, &v, &len), -AXLE_ESHMCORRUPT);
    poke(s, OFF_DATA + 4, 2, 4); /* a PAD of the wrong length */
    ck_assert_int_eq(axle_ring_peek_nowait(c, &v, &len), -AXLE_ESHMCORRUPT);
    poke(s, OFF_DATA + 4, 1, 4);
    ck_assert_int_eq(axle_ring_peek_nowait(c, &v, &len), 0);
    ck_assert_uint_eq(len, 4);
    ck_assert_mem_eq(v, "abcd", 4);
    ck_assert_int_eq(axle_ring_release(c), 0);

    /* The consumer's cursor out of range, seen by a producer needing room. */
    while (axle_ring_send_nowait(p, "12345678", 8) == 0)
        ;
    poke(s, OFF_TAIL, 1u << 20, 8);
    ck_assert_int_eq(axle_ring_send_nowait(p, "x", 1), -AXLE_ESHMCORRUPT);
    ck_assert_int_eq(axle_ring_send(p, "x", 1, 1000000), -AXLE_ESHMCORRUPT);
    axle_ring_close(c);

    /* A segment too small for a header, and one not yet initialised. */
    axle_shm *t;
    ck_assert_int_eq(axle_shm_create(&t, "tiny", 100), 0);
    ck_assert_int_eq(axle_ring_attach(&x, "tiny", getpid(), AXLE_RING_CONSUMER), -AXLE_ESHMCORRUPT);
    axle_shm_close(t);
    ck_assert_int_eq(axle_shm_create(&t, "fresh", OFF_DATA + 256), 0);
    ck_assert_int_eq(axle_ring_attach(&x, "fresh", getpid(), AXLE_RING_CONSUMER), -EAGAIN);
    axle_shm_close(t);

    axle_shm_close(s);
    axle_ring_close(p);
}
END_TEST

START_TEST(ring_nowait_on_empty_or_full_is_eagain)
{
    axle_ring *p, *c;
    pair_open("full", 256, &p, &c);
    uint8_t buf[300];
    size_t len;
    const void *v;
    void *w;
    ck_assert_int_eq(axle_ring_recv_nowait(c, buf, sizeof buf, &len), -EAGAIN);
    ck_assert_int_eq(axle_ring_peek_nowait(c, &v, &len), -EAGAIN);
    ck_assert_int_eq(axle_ring_recv(c, buf, sizeof buf, &len, 0), -ETIMEDOUT);
    int n = 0;
    while (axle_ring_send_nowait(p, "0123456789abcdef", 16) == 0)
        n++;
    ck_assert_int_eq(n, 256 / 24);
    ck_assert_int_eq(axle_ring_send_nowait(p, "x", 1), -EAGAIN);
    ck_assert_int_eq(axle_ring_reserve_nowait(p, 0, &w), -EAGAIN);
    ck_assert_int_eq(axle_ring_send(p, "x", 1, 0), -ETIMEDOUT);
    ck_assert_int_eq(axle_ring_send_nowait(p, buf, 249), -EMSGSIZE);
    /* A record longer than the buffer stays in the ring. */
    ck_assert_int_eq(axle_ring_recv_nowait(c, buf, 4, &len), -EMSGSIZE);
    ck_assert_uint_eq(len, 16);
    ck_assert_int_eq(axle_ring_recv_nowait(c, buf, 16, &len), 0);
    ck_assert_mem_eq(buf, "0123456789abcdef", 16);
    ck_assert_int_eq(axle_ring_send_nowait(p, "x", 1), 0);
    axle_ring_close(c);
    axle_ring_close(p);
}
END_TEST

START_TEST(ring_timeout_is_etimedout)
{
    axle_ring *p, *c;
    pair_open("tmo", 64, &p, &c);
    axle_ring_set_spin(c, 10);
    uint8_t buf[64];
    size_t len;
    ck_assert_int_eq(axle_ring_recv(c, buf, sizeof buf, &len, 20 * 1000000), -ETIMEDOUT);
    while (axle_ring_send_nowait(p, "x", 1) == 0)
        ;
    ck_assert_int_eq(axle_ring_send(p, "x", 1, 20 * 1000000), -ETIMEDOUT);
    ck_assert_int_eq(axle_ring_recv(c, buf, sizeof buf, &len, -1), 0);
    ck_assert_int_eq(axle_ring_send(p, "y", 1, -1), 0);
    axle_ring_close(c);
    axle_ring_close(p);
}
END_TEST

#define XPROC_RECORDS 100000

/* Child: attach as producer and send XPROC_RECORDS sequence-numbered
 * records of varied length; returns an exit status. */
static int xproc_producer(pid_t owner, const char *key)
{
    axle_ring *p;
    if (axle_ring_attach(&p, key, owner, AXLE_RING_PRODUCER) != 0)
        return 2;
    uint8_t buf[600];
    for (uint64_t seq = 0; seq < XPROC_RECORDS; seq++) {
        size_t len = 8 + (size_t)(seq * 37 % 500);
        memcpy(buf, &seq, 8);
        fill(buf + 8, len - 8, seq);
        if (axle_ring_send(p, buf, len, 10LL * 1000000000) != 0)
            return 3;
    }
    axle_ring_close(p);
    return 0;
}

START_TEST(ring_cross_process_sequence_has_no_gap_or_duplicate)
{
    axle_ring *c;
    ck_assert_int_eq(axle_ring_create(&c, "xproc", 4096, AXLE_RING_CONSUMER), 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(xproc_producer(parent, "xproc"));
    uint8_t buf[600];
    for (uint64_t want = 0; want < XPROC_RECORDS; want++) {
        size_t len;
        ck_assert_int_eq(axle_ring_recv(c, buf, sizeof buf, &len, 10LL * 1000000000), 0);
        uint64_t seq;
        memcpy(&seq, buf, 8);
        ck_assert_uint_eq(seq, want);
        ck_assert_uint_eq(len, 8 + want * 37 % 500);
        ck_assert(check_bytes(buf + 8, len - 8, seq));
    }
    ck_assert_int_eq(wait_child(pid), 0);
    size_t len;
    ck_assert_int_eq(axle_ring_recv_nowait(c, buf, sizeof buf, &len), -EAGAIN);
    axle_ring_close(c);
}
END_TEST

START_TEST(ring_parked_recv_wakes_when_other_process_sends)
{
    axle_ring *c;
    ck_assert_int_eq(axle_ring_create(&c, "park", 256, AXLE_RING_CONSUMER), 0);
    axle_ring_set_spin(c, 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        axle_ring *p;
        axle_shm *s;
        if (axle_ring_attach(&p, "park", parent, AXLE_RING_PRODUCER) != 0 ||
            axle_shm_attach(&s, "park", parent) != 0)
            _exit(2);
        /* Send only once the consumer is parked on its futex word. */
        volatile uint32_t *parked =
            (volatile uint32_t *)((uint8_t *)axle_shm_base(s) + OFF_READER_PARKED);
        while (*parked == 0)
            usleep(100);
        int rc = axle_ring_send(p, "wake", 4, -1);
        axle_shm_close(s);
        axle_ring_close(p);
        _exit(rc == 0 ? 0 : 3);
    }
    uint8_t buf[16];
    size_t len;
    ck_assert_int_eq(axle_ring_recv(c, buf, sizeof buf, &len, 10LL * 1000000000), 0);
    ck_assert_uint_eq(len, 4);
    ck_assert_mem_eq(buf, "wake", 4);
    ck_assert_int_eq(wait_child(pid), 0);
    axle_ring_close(c);
}
END_TEST

START_TEST(ring_parked_send_wakes_when_other_process_receives)
{
    axle_ring *p;
    ck_assert_int_eq(axle_ring_create(&p, "wpark", 64, AXLE_RING_PRODUCER), 0);
    axle_ring_set_spin(p, 0);
    while (axle_ring_send_nowait(p, "full", 4) == 0)
        ;
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        axle_ring *c;
        axle_shm *s;
        if (axle_ring_attach(&c, "wpark", parent, AXLE_RING_CONSUMER) != 0 ||
            axle_shm_attach(&s, "wpark", parent) != 0)
            _exit(2);
        volatile uint32_t *parked =
            (volatile uint32_t *)((uint8_t *)axle_shm_base(s) + OFF_WRITER_PARKED);
        while (*parked == 0)
            usleep(100);
        uint8_t buf[8];
        size_t len;
        int rc = axle_ring_recv(c, buf, sizeof buf, &len, -1);
        axle_shm_close(s);
        axle_ring_close(c);
        _exit(rc == 0 ? 0 : 3);
    }
    ck_assert_int_eq(axle_ring_send(p, "more", 4, 10LL * 1000000000), 0);
    ck_assert_int_eq(wait_child(pid), 0);
    axle_ring_close(p);
}
END_TEST

/* An end whose holder died without closing it can be taken over. */
START_TEST(ring_end_of_a_dead_holder_is_reclaimed)
{
    axle_ring *p;
    ck_assert_int_eq(axle_ring_create(&p, "deadend", 1024, AXLE_RING_PRODUCER), 0);
    pid_t me = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        axle_ring *c;
        _exit(axle_ring_attach(&c, "deadend", me, AXLE_RING_CONSUMER) == 0 ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    axle_ring *c, *c2;
    ck_assert_int_eq(axle_ring_attach(&c, "deadend", me, AXLE_RING_CONSUMER), 0);
    /* while we hold it, it is ours: -EBUSY for anyone else */
    ck_assert_int_eq(axle_ring_attach(&c2, "deadend", me, AXLE_RING_CONSUMER), -EBUSY);
    axle_ring_close(c);
    axle_ring_close(p);
}
END_TEST

/* ------------------------------------------------------- overrun policy */

/* Fill the ring with 8-byte records numbered from 0; returns how many fit. */
static int fill_numbered(axle_ring *p)
{
    int i = 0;
    while (axle_ring_send_nowait(p, &i, sizeof i) == 0)
        i++;
    return i;
}

START_TEST(ring_overrun_error_fails_at_once_and_loses_nothing_sent)
{
    axle_ring *p, *c;
    pair_open("ovr-err", 256, &p, &c);
    ck_assert_int_eq(axle_ring_set_overrun(p, AXLE_OVERRUN_ERROR, 0), 0);
    int sent = 0;
    int rc;
    while ((rc = axle_ring_send(p, &sent, sizeof sent, -1)) == 0)
        sent++;
    ck_assert_int_eq(rc, -AXLE_EOVERRUN); /* instead of blocking forever */
    int v;
    size_t n;
    for (int i = 0; i < sent; i++) {
        ck_assert_int_eq(axle_ring_recv_nowait(c, &v, sizeof v, &n), 0);
        ck_assert_int_eq(v, i);
    }
    ck_assert_int_eq(axle_ring_recv_nowait(c, &v, sizeof v, &n), -EAGAIN);
    axle_ring_close(c);
    axle_ring_close(p);
}
END_TEST

START_TEST(ring_overrun_drain_queues_in_order_and_is_bounded)
{
    axle_ring *p, *c;
    pair_open("ovr-drain", 256, &p, &c);
    int fit = fill_numbered(p); /* BLOCK's nowait: stops when full */
    ck_assert_int_gt(fit, 0);
    ck_assert_int_eq(axle_ring_set_overrun(p, AXLE_OVERRUN_DRAIN, 10 * sizeof(int)), 0);
    for (int i = fit; i < fit + 10; i++)
        ck_assert_int_eq(axle_ring_send(p, &i, sizeof i, -1), 0);
    ck_assert_uint_eq(axle_ring_queued(p), 10);
    int over = fit + 10;
    ck_assert_int_eq(axle_ring_send(p, &over, sizeof over, -1), -AXLE_EOVERRUN); /* the bound */
    ck_assert_int_eq(axle_ring_set_overrun(p, AXLE_OVERRUN_BLOCK, 0), -EBUSY);
    /* The consumer takes everything, the producer drains as room appears: all in order. */
    int v, want = 0;
    size_t n;
    while (want < fit + 10) {
        int rc = axle_ring_recv_nowait(c, &v, sizeof v, &n);
        if (rc == -EAGAIN) {
            ck_assert_int_ge(axle_ring_drain(p), 0);
            continue;
        }
        ck_assert_int_eq(rc, 0);
        ck_assert_int_eq(v, want);
        want++;
    }
    ck_assert_int_eq(axle_ring_drain(p), 0);
    ck_assert_uint_eq(axle_ring_queued(p), 0);
    ck_assert_int_eq(axle_ring_set_overrun(p, AXLE_OVERRUN_BLOCK, 0), 0);
    ck_assert_int_eq(axle_ring_set_overrun(c, AXLE_OVERRUN_ERROR, 0), -EPERM);
    axle_ring_close(c);
    axle_ring_close(p);
}
END_TEST

/* A drainer task: axle_ring_drain_wait parks it until the consumer makes room. */
struct drainer {
    axle_ring *p, *c;
    int total;
    int drain_rc;
    int got;
};

static int drainer_task(void *arg)
{
    struct drainer *d = arg;
    d->drain_rc = axle_ring_drain_wait(d->p, 5000000000LL);
    return 0;
}

static int slow_consumer_task(void *arg)
{
    struct drainer *d = arg;
    while (d->got < d->total) {
        int v;
        size_t n;
        int rc = axle_ring_recv_nowait(d->c, &v, sizeof v, &n);
        if (rc == -EAGAIN) {
            axle_sleep(1000000);
            continue;
        }
        ck_assert_int_eq(rc, 0);
        ck_assert_int_eq(v, d->got); /* every record, in order */
        d->got++;
    }
    return 0;
}

static int drain_wait_main(void *arg)
{
    struct drainer *d = arg;
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    ck_assert_int_eq(axle_nursery_start_soon(n, drainer_task, d, NULL), 0);
    ck_assert_int_eq(axle_nursery_start_soon(n, slow_consumer_task, d, NULL), 0);
    return axle_nursery_close(n, 0);
}

START_TEST(ring_drain_wait_in_a_task_pushes_everything_as_room_appears)
{
    axle_ring *p, *c;
    pair_open("drainw", 256, &p, &c);
    int fit = fill_numbered(p);
    ck_assert_int_eq(axle_ring_set_overrun(p, AXLE_OVERRUN_DRAIN, 64 * sizeof(int)), 0);
    for (int i = fit; i < fit + 40; i++)
        ck_assert_int_eq(axle_ring_send(p, &i, sizeof i, -1), 0);
    ck_assert_uint_eq(axle_ring_queued(p), 40);
    ck_assert_int_eq(axle_ring_drain_wait(p, 0), -ETIMEDOUT); /* no room yet, no wait */
    struct drainer d = {p, c, fit + 40, 1, 0};
    ck_assert_int_eq(axle_test_run(drain_wait_main, &d), 0);
    ck_assert_int_eq(d.drain_rc, 0);
    ck_assert_uint_eq(axle_ring_queued(p), 0);
    ck_assert_int_eq(d.got, fit + 40);
    ck_assert_int_eq(axle_ring_drain_wait(c, 0), -EPERM);
    axle_ring_close(c);
    axle_ring_close(p);
}
END_TEST

/* ---------------------------------------------------------- dead peers */

START_TEST(ring_reader_gets_every_commit_then_owner_dead_when_the_writer_dies)
{
    axle_ring *c;
    ck_assert_int_eq(axle_ring_create(&c, "deadw", 4096, AXLE_RING_CONSUMER), 0);
    pid_t me = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        axle_ring *p;
        if (axle_ring_attach(&p, "deadw", me, AXLE_RING_PRODUCER) < 0)
            _exit(1);
        for (int i = 0; i < 100; i++)
            if (axle_ring_send(p, &i, sizeof i, -1) < 0)
                _exit(2);
        void *buf; /* reserved, written, never committed: must never be seen */
        if (axle_ring_reserve(p, 64, &buf, -1) == 0)
            memset(buf, 0xee, 64);
        _exit(0); /* dies holding the producer end */
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    int v;
    size_t n;
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(axle_ring_recv(c, &v, sizeof v, &n, -1), 0);
        ck_assert_int_eq(v, i);
    }
    ck_assert_int_eq(axle_ring_recv(c, &v, sizeof v, &n, -1), -EOWNERDEAD);
    axle_ring_close(c);
}
END_TEST

START_TEST(ring_blocked_writer_gets_owner_dead_when_the_reader_dies)
{
    axle_ring *p;
    ck_assert_int_eq(axle_ring_create(&p, "deadr", 256, AXLE_RING_PRODUCER), 0);
    int fit = fill_numbered(p);
    ck_assert_int_gt(fit, 0);
    pid_t me = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        axle_ring *c;
        _exit(axle_ring_attach(&c, "deadr", me, AXLE_RING_CONSUMER) == 0 ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    int x = 42;
    ck_assert_int_eq(axle_ring_send(p, &x, sizeof x, -1), -EOWNERDEAD);
    axle_ring_close(p);
}
END_TEST

/* ------------------------------------------------------------ batching */

START_TEST(ring_deferred_commits_are_invisible_until_flushed)
{
    axle_ring *p, *c;
    pair_open("batch", 4096, &p, &c);
    void *buf;
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(axle_ring_reserve_nowait(p, 4, &buf), 0);
        memcpy(buf, &i, 4);
        ck_assert_int_eq(axle_ring_commit_deferred(p), 0);
    }
    const void *rb;
    size_t n;
    ck_assert_int_eq(axle_ring_peek_nowait(c, &rb, &n), -EAGAIN);
    axle_ring_flush(p);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(axle_ring_peek_nowait(c, &rb, &n), 0);
        ck_assert_uint_eq(n, 4);
        ck_assert_mem_eq(rb, &i, 4);
        ck_assert_int_eq(axle_ring_release_deferred(c), 0);
    }
    ck_assert_int_eq(axle_ring_peek_nowait(c, &rb, &n), -EAGAIN);
    axle_ring_close(c);
    axle_ring_close(p);
}
END_TEST

/* A full ring publishes deferred commits; an empty one deferred releases. */
START_TEST(ring_deferred_work_is_published_when_it_would_block)
{
    axle_ring *p, *c;
    pair_open("batchfull", 256, &p, &c);
    void *buf;
    int sent = 0;
    while (axle_ring_reserve_nowait(p, 8, &buf) == 0) {
        memcpy(buf, &sent, sizeof sent);
        ck_assert_int_eq(axle_ring_commit_deferred(p), 0);
        sent++;
    }
    ck_assert_int_eq(sent, 256 / 16); /* 8-byte header + 8 bytes each */
    /* The failed reserve published them all. */
    const void *rb;
    size_t n;
    int got = 0;
    while (axle_ring_peek_nowait(c, &rb, &n) == 0) {
        ck_assert_mem_eq(rb, &got, sizeof got);
        ck_assert_int_eq(axle_ring_release_deferred(c), 0);
        got++;
    }
    ck_assert_int_eq(got, sent);
    /* The peek that found the ring empty published the releases: room again. */
    ck_assert_int_eq(axle_ring_reserve_nowait(p, 8, &buf), 0);
    ck_assert_int_eq(axle_ring_commit(p), 0);
    axle_ring_close(c);
    axle_ring_close(p);
}
END_TEST

/* send_batch and peek_batch across many wraps, mixed sizes, one record a time or many. */
START_TEST(ring_batches_move_every_record_in_order_across_wraps)
{
    axle_ring *p, *c;
    pair_open("vec", 256, &p, &c);
    enum { N = 3000 };
    uint8_t src[16][40], dst[40];
    uint64_t sent = 0, got = 0;
    while (got < N) {
        /* Offer up to 16 records; lengths 0..39, cycling through every alignment. */
        struct iovec v[16];
        int n = (int)(1 + sent % 16);
        if (sent + (uint64_t)n > N)
            n = (int)(N - sent);
        for (int i = 0; i < n; i++) {
            uint64_t seq = sent + (uint64_t)i;
            v[i].iov_base = src[i];
            v[i].iov_len = seq % 40;
            fill(src[i], v[i].iov_len, seq);
        }
        int k = n ? axle_ring_send_batch(p, v, n, 0) : 0;
        ck_assert(k == -ETIMEDOUT || (k >= 1 && k <= n));
        if (k > 0)
            sent += (uint64_t)k;
        /* Take up to 5 at once, or one with recv. */
        if (got % 7 == 3) {
            size_t len;
            int rc = axle_ring_recv_nowait(c, dst, sizeof dst, &len);
            ck_assert(rc == 0 || rc == -EAGAIN);
            if (rc == 0) {
                ck_assert_uint_eq(len, got % 40);
                ck_assert(check_bytes(dst, len, got));
                got++;
            }
            continue;
        }
        struct iovec out[5];
        int m = axle_ring_peek_batch(c, out, 5, 0);
        ck_assert(m == -ETIMEDOUT || (m >= 1 && m <= 5));
        for (int i = 0; i < m; i++, got++) {
            ck_assert_uint_eq(out[i].iov_len, got % 40);
            ck_assert(check_bytes(out[i].iov_base, out[i].iov_len, got));
        }
        if (m > 0)
            ck_assert_int_eq(axle_ring_release(c), 0);
    }
    ck_assert_uint_eq(sent, N);
    struct iovec out[1];
    ck_assert_int_eq(axle_ring_peek_batch(c, out, 1, 0), -ETIMEDOUT);
    axle_ring_close(c);
    axle_ring_close(p);
}
END_TEST

START_TEST(ring_send_batch_takes_what_fits_and_reports_errors_exactly)
{
    axle_ring *p, *c;
    pair_open("vecerr", 256, &p, &c);
    uint8_t big[300] = {0};
    uint64_t x = 7;
    struct iovec v[40];
    for (int i = 0; i < 40; i++)
        v[i] = (struct iovec){&x, sizeof x};
    ck_assert_int_eq(axle_ring_send_batch(p, v, 0, 0), 0);
    ck_assert_int_eq(axle_ring_send_batch(p, v, -1, 0), -EINVAL);
    ck_assert_int_eq(axle_ring_send_batch(p, NULL, 1, 0), -EINVAL);
    ck_assert_int_eq(axle_ring_send_batch(c, v, 1, 0), -EPERM);
    /* 16 bytes a record: 16 fit in 256, the rest waits for the next call. */
    ck_assert_int_eq(axle_ring_send_batch(p, v, 40, 0), 16);
    ck_assert_int_eq(axle_ring_send_batch(p, v, 1, 0), -ETIMEDOUT);
    ck_assert_int_eq(axle_ring_set_overrun(p, AXLE_OVERRUN_ERROR, 0), 0);
    ck_assert_int_eq(axle_ring_send_batch(p, v, 1, 0), -AXLE_EOVERRUN);
    ck_assert_int_eq(axle_ring_set_overrun(p, AXLE_OVERRUN_BLOCK, 0), 0);
    struct iovec out[32];
    ck_assert_int_eq(axle_ring_peek_batch(c, out, 32, 0), 16);
    ck_assert_int_eq(axle_ring_release(c), 0);
    /* A record too long: first in the batch, an error; later, the batch ends before it. */
    struct iovec mixed[3] = {{&x, sizeof x}, {big, sizeof big}, {&x, sizeof x}};
    ck_assert_int_eq(axle_ring_send_batch(p, mixed + 1, 2, 0), -EMSGSIZE);
    ck_assert_int_eq(axle_ring_send_batch(p, mixed, 3, 0), 1);
    ck_assert_int_eq(axle_ring_send_batch(p, mixed + 1, 2, 0), -EMSGSIZE);
    /* An open reservation is a misuse. */
    void *buf;
    ck_assert_int_eq(axle_ring_reserve_nowait(p, 8, &buf), 0);
    ck_assert_int_eq(axle_ring_send_batch(p, v, 1, 0), -EINVAL);
    ck_assert_int_eq(axle_ring_commit(p), 0);
    ck_assert_int_eq(axle_ring_peek_batch(c, out, 32, 0), 2);
    ck_assert_int_eq(axle_ring_release(c), 0);
    /* At offset 32 a 224-byte record does not fit before the end: the
     * producer publishes a PAD and finds no room behind it; the consumer's
     * empty peek_batch consumes the PAD, and then it fits. */
    struct iovec wide = {big, 224};
    fill(big, 224, 5);
    ck_assert_int_eq(axle_ring_send_batch(p, &wide, 1, 0), -ETIMEDOUT);
    ck_assert_int_eq(axle_ring_peek_batch(c, out, 32, 0), -ETIMEDOUT);
    ck_assert_int_eq(axle_ring_send_batch(p, &wide, 1, 0), 1);
    ck_assert_int_eq(axle_ring_peek_batch(c, out, 32, 0), 1);
    ck_assert_uint_eq(out[0].iov_len, 224);
    ck_assert(check_bytes(out[0].iov_base, 224, 5));
    axle_shm *seg; /* the record starts the data area, right after its header */
    ck_assert_int_eq(axle_shm_attach(&seg, "vecerr", getpid()), 0);
    ck_assert(check_bytes((uint8_t *)axle_shm_base(seg) + OFF_DATA + 8, 224, 5));
    axle_shm_close(seg);
    ck_assert_int_eq(axle_ring_release(c), 0);
    axle_ring_close(c);
    axle_ring_close(p);
}
END_TEST

/* DRAIN: a batch goes behind records already queued, and queues what does not fit. */
START_TEST(ring_send_batch_under_drain_keeps_order)
{
    axle_ring *p, *c;
    pair_open("vecdrain", 256, &p, &c);
    ck_assert_int_eq(axle_ring_set_overrun(p, AXLE_OVERRUN_DRAIN, 1 << 20), 0);
    uint64_t seq[50];
    struct iovec v[50];
    for (int i = 0; i < 50; i++) {
        seq[i] = (uint64_t)i;
        v[i] = (struct iovec){&seq[i], 8};
    }
    ck_assert_int_eq(axle_ring_send_batch(p, v, 20, 0), 20); /* 16 in the ring, 4 queued */
    ck_assert_uint_eq(axle_ring_queued(p), 4);
    ck_assert_int_eq(axle_ring_send_batch(p, v + 20, 30, 0), 30); /* all behind the queue */
    ck_assert_uint_eq(axle_ring_queued(p), 34);
    uint64_t want = 0;
    while (want < 50) {
        struct iovec out[8];
        int m = axle_ring_peek_batch(c, out, 8, 0);
        ck_assert_int_ge(m, 1);
        for (int i = 0; i < m; i++, want++) {
            ck_assert_uint_eq(out[i].iov_len, 8);
            ck_assert_mem_eq(out[i].iov_base, &want, 8);
        }
        ck_assert_int_eq(axle_ring_release(c), 0);
        ck_assert_int_ge(axle_ring_drain(p), 0);
    }
    ck_assert_uint_eq(axle_ring_queued(p), 0);
    axle_ring_close(c);
    axle_ring_close(p);
}
END_TEST

START_TEST(ring_peek_batch_stops_before_a_corrupt_record_and_reports_it_next)
{
    axle_ring *p, *c;
    pair_open("veccor", 256, &p, &c);
    struct iovec out[4];
    ck_assert_int_eq(axle_ring_peek_batch(c, out, 0, 0), -EINVAL);
    ck_assert_int_eq(axle_ring_peek_batch(c, NULL, 1, 0), -EINVAL);
    ck_assert_int_eq(axle_ring_peek_batch(p, out, 1, 0), -EPERM);
    ck_assert_int_eq(axle_ring_peek_batch(c, out, 4, 0), -ETIMEDOUT);
    uint64_t a = 1, b = 2, d = 3;
    struct iovec v[3] = {{&a, 8}, {&b, 8}, {&d, 8}};
    ck_assert_int_eq(axle_ring_send_batch(p, v, 3, 0), 3);
    /* Peek one, then a batch: it starts over from the oldest. */
    const void *rb;
    size_t n;
    ck_assert_int_eq(axle_ring_peek_nowait(c, &rb, &n), 0);
    ck_assert_int_eq(axle_ring_peek_batch(c, out, 4, 0), 3);
    ck_assert_ptr_eq(out[0].iov_base, rb);
    /* Damage the second record's type (records of 16 bytes from the data area). */
    axle_shm *s;
    ck_assert_int_eq(axle_shm_attach(&s, "veccor", getpid()), 0);
    uint32_t bad = 77;
    memcpy((uint8_t *)axle_shm_base(s) + OFF_DATA + 16 + 4, &bad, 4);
    ck_assert_int_eq(axle_ring_peek_batch(c, out, 4, 0), 1);
    ck_assert_mem_eq(out[0].iov_base, &a, 8);
    ck_assert_int_eq(axle_ring_release(c), 0);
    ck_assert_int_eq(axle_ring_peek_batch(c, out, 4, 0), -AXLE_ESHMCORRUPT);
    axle_shm_close(s);
    axle_ring_close(c);
    axle_ring_close(p);
}
END_TEST

/* Fork a child that attaches key's producer end (spin 50, so both sides
 * park often), runs body on it and exits with body's status. */
static pid_t fork_producer(const char *key, int (*body)(axle_ring *p))
{
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        axle_ring *p;
        if (axle_ring_attach(&p, key, parent, AXLE_RING_PRODUCER) != 0)
            _exit(2);
        axle_ring_set_spin(p, 50);
        int rc = body(p);
        axle_ring_close(p);
        _exit(rc);
    }
    return pid;
}

/* XPROC_RECORDS records of 8, 16 or 24 bytes, each word its sequence number, in batches of 1 to 33.
 */
static int send_batches(axle_ring *p)
{
    uint64_t recs[33][3]; /* the sequence number, then up to 16 bytes more */
    struct iovec v[33];
    for (uint64_t seq = 0; seq < XPROC_RECORDS;) {
        int n = (int)(1 + seq % 33);
        if ((uint64_t)n > XPROC_RECORDS - seq)
            n = (int)(XPROC_RECORDS - seq);
        for (int i = 0; i < n; i++) {
            recs[i][0] = recs[i][1] = recs[i][2] = seq + (uint64_t)i;
            v[i] = (struct iovec){recs[i], 8 + (recs[i][0] % 3) * 8};
        }
        struct iovec *at = v;
        while (n > 0) {
            int k = axle_ring_send_batch(p, at, n, 10LL * 1000000000);
            if (k < 1)
                return 3;
            at += k, n -= k, seq += (uint64_t)k;
        }
    }
    return 0;
}

/* A record too long for any ring, behind queued ones, is refused, not queued to jam the drain. */
START_TEST(ring_drain_queue_never_takes_a_record_no_ring_can_carry)
{
    axle_ring *p, *c;
    pair_open("vecjam", 256, &p, &c);
    ck_assert_int_eq(axle_ring_set_overrun(p, AXLE_OVERRUN_DRAIN, 1 << 20), 0);
    uint64_t x = 1;
    uint8_t big[300] = {0};
    struct iovec v[20];
    for (int i = 0; i < 20; i++)
        v[i] = (struct iovec){&x, 8};
    ck_assert_int_eq(axle_ring_send_batch(p, v, 20, 0), 20); /* 16 in, 4 queued */
    struct iovec mixed[3] = {{&x, 8}, {big, sizeof big}, {&x, 8}};
    ck_assert_int_eq(axle_ring_send_batch(p, mixed, 3, 0), 1); /* ends before the long one */
    ck_assert_uint_eq(axle_ring_queued(p), 5);
    int got = 0;
    while (axle_ring_queued(p) || got < 21) {
        struct iovec out[8];
        int m = axle_ring_peek_batch(c, out, 8, 0);
        ck_assert_int_ge(m, 1);
        got += m;
        ck_assert_int_eq(axle_ring_release(c), 0);
        ck_assert_int_ge(axle_ring_drain(p), 0); /* never -EMSGSIZE */
    }
    ck_assert_int_eq(got, 21);
    axle_ring_close(c);
    axle_ring_close(p);
}
END_TEST

/* A recv after peek_batch takes the first record only; the rest stay. */
START_TEST(ring_recv_after_peek_batch_takes_one_record)
{
    axle_ring *p, *c;
    pair_open("vecrecv", 256, &p, &c);
    uint64_t a = 1, b = 2, d = 3;
    struct iovec v[3] = {{&a, 8}, {&b, 8}, {&d, 8}};
    ck_assert_int_eq(axle_ring_send_batch(p, v, 3, 0), 3);
    struct iovec out[3];
    ck_assert_int_eq(axle_ring_peek_batch(c, out, 3, 0), 3);
    uint64_t got;
    size_t len;
    ck_assert_int_eq(axle_ring_recv_nowait(c, &got, sizeof got, &len), 0);
    ck_assert_uint_eq(got, 1);
    ck_assert_int_eq(axle_ring_recv_nowait(c, &got, sizeof got, &len), 0);
    ck_assert_uint_eq(got, 2);
    ck_assert_int_eq(axle_ring_peek_batch(c, out, 3, 0), 1);
    ck_assert_mem_eq(out[0].iov_base, &d, 8);
    ck_assert_int_eq(axle_ring_release(c), 0);
    axle_ring_close(c);
    axle_ring_close(p);
}
END_TEST

/* Another process sends in batches through a small ring: both sides wait and park. */
START_TEST(ring_batches_cross_process_have_no_gap_or_duplicate)
{
    axle_ring *c;
    ck_assert_int_eq(axle_ring_create(&c, "vecx", 512, AXLE_RING_CONSUMER), 0);
    axle_ring_set_spin(c, 50);
    pid_t pid = fork_producer("vecx", send_batches);
    for (uint64_t want = 0; want < XPROC_RECORDS;) {
        struct iovec out[17];
        int m = axle_ring_peek_batch(c, out, 17, 10LL * 1000000000);
        ck_assert_int_ge(m, 1);
        for (int i = 0; i < m; i++, want++) {
            ck_assert_uint_eq(out[i].iov_len, 8 + (want % 3) * 8);
            for (size_t w = 0; w < out[i].iov_len / 8; w++)
                ck_assert_mem_eq((const uint64_t *)out[i].iov_base + w, &want, 8);
        }
        ck_assert_int_eq(axle_ring_release(c), 0);
    }
    ck_assert_int_eq(wait_child(pid), 0);
    struct iovec out[1];
    ck_assert_int_eq(axle_ring_peek_batch(c, out, 1, 0), -ETIMEDOUT);
    axle_ring_close(c);
}
END_TEST

/* ------------------------------------------------------------ fixed rings */

enum { OFF_RECORD_SIZE = 40 };

START_TEST(ring_fixed_create_validates_and_attach_reads_the_size)
{
    axle_ring *p, *c;
    ck_assert_int_eq(axle_ring_create_fixed(&p, "fx", 256, 0, AXLE_RING_PRODUCER), -EINVAL);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(axle_ring_create_fixed(&p, "fx", 256, 129, AXLE_RING_PRODUCER), -EINVAL);
    ck_assert(!axle_test_shm_exists(getpid(), "fx"));
    fixed_pair_open("fx", 256, 24, &p, &c);
    ck_assert_uint_eq(axle_ring_record_size(p), 24);
    ck_assert_uint_eq(axle_ring_record_size(c), 24);
    ck_assert_uint_eq(axle_ring_max_record(c), 24);
    axle_shm *s;
    ck_assert_int_eq(axle_shm_attach(&s, "fx", getpid()), 0);
    uint8_t *h = axle_shm_base(s);
    uint32_t v;
    memcpy(&v, h + OFF_VERSION, 4);
    ck_assert_uint_eq(v, 2);
    memcpy(&v, h + OFF_RECORD_SIZE, 4);
    ck_assert_uint_eq(v, 24);
    /* A record is its 24 bytes at the slot's start, no length before it. */
    uint8_t rec[24];
    fill(rec, sizeof rec, 9);
    ck_assert_int_eq(axle_ring_send_nowait(p, rec, sizeof rec), 0);
    uint64_t head;
    memcpy(&head, h + OFF_HEAD, 8);
    ck_assert_uint_eq(head, 24);
    ck_assert(check_bytes(h + OFF_DATA, 24, 9));
    ck_assert_int_eq(axle_ring_recv_nowait(c, rec, sizeof rec, &(size_t){0}), 0);
    axle_ring_close(c);
    /* A record size that is 0 or more than half the capacity is a corrupt header. */
    uint32_t bad[] = {0, 129, 1u << 31};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(h + OFF_RECORD_SIZE, &bad[i], 4);
        ck_assert_int_eq(axle_ring_attach(&c, "fx", getpid(), AXLE_RING_CONSUMER),
                         -AXLE_ESHMCORRUPT);
    }
    /* The same bytes read as version 1 are a ring of any length (the field is not read). */
    v = 1;
    memcpy(h + OFF_VERSION, &v, 4);
    ck_assert_int_eq(axle_ring_attach(&c, "fx", getpid(), AXLE_RING_CONSUMER), 0);
    ck_assert_uint_eq(axle_ring_record_size(c), 0);
    axle_ring_close(c);
    axle_shm_close(s);
    axle_ring_close(p);
    /* A ring of any length has no record size. */
    pair_open("fxv", 256, &p, &c);
    ck_assert_uint_eq(axle_ring_record_size(p), 0);
    ck_assert_uint_eq(axle_ring_max_record(p), 248);
    axle_ring_close(c);
    axle_ring_close(p);
}
END_TEST

/* Build record seq of a fixed ring: the sequence number, then the pattern. */
static void fixed_rec(uint8_t *rec, size_t size, uint64_t seq)
{
    fill(rec, size, seq);
    memcpy(rec, &seq, size < 8 ? size : 8);
}

static bool fixed_rec_ok(const uint8_t *rec, size_t size, uint64_t seq)
{
    uint8_t want[64];
    fixed_rec(want, size, seq);
    return memcmp(rec, want, size) == 0;
}

/* 24-byte records in 256 bytes (slots end 16 bytes short of the end: a
 * skip every lap), through every call that sends or receives. */
START_TEST(ring_fixed_records_round_trip_through_every_call_across_wraps)
{
    enum { SZ = 24, N = 4000 };
    axle_ring *p, *c;
    fixed_pair_open("fxrt", 256, SZ, &p, &c);
    uint8_t rec[8][SZ], got[8][SZ];
    ck_assert_int_eq(axle_ring_send_nowait(p, rec[0], SZ - 1), -EMSGSIZE);
    ck_assert_int_eq(axle_ring_send_nowait(p, rec[0], SZ + 1), -EMSGSIZE);
    void *buf;
    ck_assert_int_eq(axle_ring_reserve_nowait(p, 8, &buf), -EMSGSIZE);
    struct iovec wrong = {rec[0], 8};
    ck_assert_int_eq(axle_ring_send_batch(p, &wrong, 1, 0), -EMSGSIZE);
    uint64_t sent = 0, recvd = 0;
    while (recvd < N) {
        int how = (int)(sent % 4), rc;
        if (sent < N) { /* send one by each call in turn */
            fixed_rec(rec[0], SZ, sent);
            if (how == 0) {
                rc = axle_ring_send_nowait(p, rec[0], SZ);
                sent += rc == 0;
            } else if (how == 1) {
                if ((rc = axle_ring_reserve_nowait(p, SZ, &buf)) == 0) {
                    memcpy(buf, rec[0], SZ);
                    ck_assert_int_eq(axle_ring_commit(p), 0);
                    sent++;
                }
            } else if (how == 2) {
                struct iovec v = {rec[0], SZ};
                rc = axle_ring_send_batch(p, &v, 1, 0);
                sent += rc == 1;
            } else {
                int n = (int)(N - sent < 5 ? N - sent : 5);
                for (int i = 0; i < n; i++)
                    fixed_rec(rec[i], SZ, sent + (uint64_t)i);
                rc = axle_ring_send_burst(p, rec, n, 0);
                if (rc > 0)
                    sent += (uint64_t)rc;
            }
            ck_assert(rc >= 0 || rc == -EAGAIN || rc == -ETIMEDOUT);
        }
        how = (int)(recvd % 5);
        size_t len;
        const void *pb;
        if (how == 0 && (rc = axle_ring_recv_nowait(c, got[0], SZ, &len)) == 0) {
            ck_assert_uint_eq(len, SZ);
            ck_assert(fixed_rec_ok(got[0], SZ, recvd++));
        } else if (how == 1 && (rc = axle_ring_peek_nowait(c, &pb, &len)) == 0) {
            ck_assert_uint_eq(len, SZ);
            ck_assert(fixed_rec_ok(pb, SZ, recvd++));
            ck_assert_int_eq(axle_ring_release(c), 0);
        } else if (how == 2) {
            struct iovec out[3];
            int m = axle_ring_peek_batch(c, out, 3, 0);
            for (int i = 0; i < m; i++) {
                ck_assert_uint_eq(out[i].iov_len, SZ);
                ck_assert(fixed_rec_ok(out[i].iov_base, SZ, recvd++));
            }
            if (m > 0)
                ck_assert_int_eq(axle_ring_release(c), 0);
        } else if (how >= 3) {
            int m = axle_ring_recv_burst(c, got, 8, 0);
            for (int i = 0; i < m; i++)
                ck_assert(fixed_rec_ok(got[i], SZ, recvd++));
        }
    }
    ck_assert_uint_eq(sent, N);
    ck_assert_int_eq(axle_ring_recv_burst(c, got, 8, 0), -ETIMEDOUT);
    axle_ring_close(c);
    axle_ring_close(p);
}
END_TEST

START_TEST(ring_fixed_bursts_take_what_fits_and_report_errors_exactly)
{
    axle_ring *p, *c, *vp, *vc;
    fixed_pair_open("fxb", 64, 8, &p, &c);
    uint64_t in[20], out[20];
    for (int i = 0; i < 20; i++)
        in[i] = 100 + (uint64_t)i;
    ck_assert_int_eq(axle_ring_send_burst(c, in, 1, 0), -EPERM);
    ck_assert_int_eq(axle_ring_recv_burst(p, out, 1, 0), -EPERM);
    ck_assert_int_eq(axle_ring_send_burst(p, in, -1, 0), -EINVAL);
    ck_assert_int_eq(axle_ring_send_burst(p, NULL, 1, 0), -EINVAL);
    ck_assert_int_eq(axle_ring_recv_burst(c, out, 0, 0), -EINVAL);
    ck_assert_int_eq(axle_ring_send_burst(p, in, 0, 0), 0);
    ck_assert_int_eq(axle_ring_recv_burst(c, out, 4, 0), -ETIMEDOUT);
    /* 8 slots of 8 bytes. */
    ck_assert_int_eq(axle_ring_send_burst(p, in, 20, 0), 8);
    ck_assert_int_eq(axle_ring_send_burst(p, in + 8, 12, 0), -ETIMEDOUT);
    ck_assert_int_eq(axle_ring_set_overrun(p, AXLE_OVERRUN_ERROR, 0), 0);
    ck_assert_int_eq(axle_ring_send_burst(p, in + 8, 12, 0), -AXLE_EOVERRUN);
    ck_assert_int_eq(axle_ring_recv_burst(c, out, 3, 0), 3);
    ck_assert_int_eq(axle_ring_send_burst(p, in + 8, 12, 0), 3); /* what fits, across the end */
    ck_assert_int_eq(axle_ring_recv_burst(c, out + 3, 20, 0), 8);
    for (int i = 0; i < 11; i++)
        ck_assert_uint_eq(out[i], 100 + (uint64_t)i);
    /* DRAIN: what does not fit queues behind, in order. */
    ck_assert_int_eq(axle_ring_set_overrun(p, AXLE_OVERRUN_DRAIN, 1 << 20), 0);
    ck_assert_int_eq(axle_ring_send_burst(p, in + 11, 9, 0), 9);
    ck_assert_uint_eq(axle_ring_queued(p), 1);
    ck_assert_int_eq(axle_ring_recv_burst(c, out + 11, 20, 0), 8);
    ck_assert_int_eq(axle_ring_drain(p), 0);
    ck_assert_int_eq(axle_ring_recv_burst(c, out + 19, 20, 0), 1);
    for (int i = 11; i < 20; i++)
        ck_assert_uint_eq(out[i], 100 + (uint64_t)i);
    /* A record peeked and not released, or a reservation open: misuse. */
    ck_assert_int_eq(axle_ring_set_overrun(p, AXLE_OVERRUN_BLOCK, 0), 0);
    ck_assert_int_eq(axle_ring_send_burst(p, in, 2, 0), 2);
    const void *pb;
    size_t len;
    ck_assert_int_eq(axle_ring_peek_nowait(c, &pb, &len), 0);
    ck_assert_int_eq(axle_ring_recv_burst(c, out, 2, 0), -EINVAL);
    ck_assert_int_eq(axle_ring_release(c), 0);
    void *buf;
    ck_assert_int_eq(axle_ring_reserve_nowait(p, 8, &buf), 0);
    ck_assert_int_eq(axle_ring_send_burst(p, in, 1, 0), -EINVAL);
    memcpy(buf, &(uint64_t){7}, 8);
    ck_assert_int_eq(axle_ring_commit(p), 0);
    ck_assert_int_eq(axle_ring_recv_burst(c, out, 4, 0), 2);
    ck_assert_uint_eq(out[0], 101);
    ck_assert_uint_eq(out[1], 7);
    axle_ring_close(c);
    axle_ring_close(p);
    /* Not a fixed ring. */
    pair_open("fxbv", 256, &vp, &vc);
    ck_assert_int_eq(axle_ring_send_burst(vp, in, 1, 0), -EINVAL);
    ck_assert_int_eq(axle_ring_recv_burst(vc, out, 1, 0), -EINVAL);
    axle_ring_close(vc);
    axle_ring_close(vp);
}
END_TEST

/* 12-byte records in 16-byte slots: packed 12 apart in the array. */
START_TEST(ring_fixed_burst_packs_records_smaller_than_their_slot)
{
    axle_ring *p, *c;
    fixed_pair_open("fx12", 128, 12, &p, &c);
    uint8_t in[30 * 12], out[30 * 12];
    uint64_t seq = 0, got = 0;
    while (got < 300) {
        for (int i = 0; i < 30; i++)
            fixed_rec(in + i * 12, 12, seq + (uint64_t)i);
        int k = axle_ring_send_burst(p, in, 7, 0);
        ck_assert(k == -ETIMEDOUT || (k >= 1 && k <= 7));
        if (k > 0)
            seq += (uint64_t)k;
        int m = axle_ring_recv_burst(c, out, 5, 0);
        ck_assert(m == -ETIMEDOUT || (m >= 1 && m <= 5));
        for (int i = 0; i < m; i++)
            ck_assert(fixed_rec_ok(out + i * 12, 12, got++));
    }
    axle_ring_close(c);
    axle_ring_close(p);
}
END_TEST

/* A producer's head inside a slot is corrupt, for every way of reading. */
START_TEST(ring_fixed_head_inside_a_slot_is_eshmcorrupt)
{
    axle_ring *p, *c;
    fixed_pair_open("fxbad", 256, 16, &p, &c);
    axle_shm *s;
    ck_assert_int_eq(axle_shm_attach(&s, "fxbad", getpid()), 0);
    uint64_t head = 8;
    memcpy((uint8_t *)axle_shm_base(s) + OFF_HEAD, &head, 8);
    const void *pb;
    size_t len;
    uint8_t out[64];
    struct iovec v[2];
    ck_assert_int_eq(axle_ring_peek_nowait(c, &pb, &len), -AXLE_ESHMCORRUPT);
    ck_assert_int_eq(axle_ring_peek_batch(c, v, 2, 0), -AXLE_ESHMCORRUPT);
    ck_assert_int_eq(axle_ring_recv_burst(c, out, 2, 0), -AXLE_ESHMCORRUPT);
    ck_assert_int_eq(axle_ring_recv_nowait(c, out, sizeof out, &len), -AXLE_ESHMCORRUPT);
    axle_shm_close(s);
    axle_ring_close(c);
    axle_ring_close(p);
}
END_TEST

/* XPROC_RECORDS 24-byte records (fixed_rec) in bursts of 1 to 40. */
static int send_bursts(axle_ring *p)
{
    uint8_t recs[40][24];
    for (uint64_t seq = 0; seq < XPROC_RECORDS;) {
        int n = (int)(1 + seq % 40);
        if ((uint64_t)n > XPROC_RECORDS - seq)
            n = (int)(XPROC_RECORDS - seq);
        for (int i = 0; i < n; i++)
            fixed_rec(recs[i], 24, seq + (uint64_t)i);
        int k = axle_ring_send_burst(p, recs, n, 10LL * 1000000000);
        if (k < 1)
            return 3;
        seq += (uint64_t)k;
    }
    return 0;
}

/* Another process sends bursts of 24-byte records through a small ring: both sides park. */
START_TEST(ring_fixed_bursts_cross_process_have_no_gap_or_duplicate)
{
    enum { SZ = 24 };
    axle_ring *c;
    ck_assert_int_eq(axle_ring_create_fixed(&c, "fxx", 512, SZ, AXLE_RING_CONSUMER), 0);
    axle_ring_set_spin(c, 50);
    pid_t pid = fork_producer("fxx", send_bursts);
    uint8_t got[13][SZ];
    for (uint64_t want = 0; want < XPROC_RECORDS;) {
        int m = axle_ring_recv_burst(c, got, 13, 10LL * 1000000000);
        ck_assert_int_ge(m, 1);
        for (int i = 0; i < m; i++)
            ck_assert(fixed_rec_ok(got[i], SZ, want++));
    }
    ck_assert_int_eq(wait_child(pid), 0);
    ck_assert_int_eq(axle_ring_recv_burst(c, got, 1, 0), -ETIMEDOUT);
    axle_ring_close(c);
}
END_TEST

/* ------------------------------------------------------- inside a task */

struct in_task {
    axle_ring *p, *c;
    int recv_rc;       /* the consumer's result */
    char got[8];       /* what it received */
    int ticks;         /* how often a third task ran while it was parked */
    axle_event parked; /* set just before the consumer blocks */
    axle_scope *sc;    /* the consumer's scope, for the cancel case */
};

static int consumer_task(void *arg)
{
    struct in_task *t = arg;
    axle_scope sc;
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    t->sc = &sc;
    axle_event_set(&t->parked);
    size_t len = 0;
    axle_ring_set_spin(t->c, 0);
    t->recv_rc = axle_ring_recv(t->c, t->got, sizeof t->got, &len, -1);
    t->sc = NULL;
    axle_scope_close(&sc, t->recv_rc);
    return 0;
}

static int ticker_task(void *arg)
{
    struct in_task *t = arg;
    for (int i = 0; i < 5; i++) {
        t->ticks++;
        if (axle_checkpoint() < 0)
            break;
    }
    return 0;
}

static int in_task_main(void *arg)
{
    struct in_task *t = arg;
    axle_event_init(&t->parked);
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    axle_nursery_start_soon(n, consumer_task, t, NULL);
    axle_nursery_start_soon(n, ticker_task, t, NULL);
    ck_assert_int_eq(axle_event_wait(&t->parked), 0);
    for (int i = 0; i < 10; i++) /* the consumer parks; the ticker runs */
        ck_assert_int_eq(axle_checkpoint(), 0);
    ck_assert_int_eq(t->recv_rc, 1); /* still waiting, without blocking us */
    ck_assert_int_eq(t->ticks, 5);
    if (t->p)
        ck_assert_int_eq(axle_ring_send(t->p, "ping", 5, -1), 0);
    else
        axle_scope_cancel(t->sc);
    return axle_nursery_close(n, 0);
}

START_TEST(ring_recv_in_a_task_parks_only_the_task)
{
    axle_ring *p, *c;
    pair_open("intask", 4096, &p, &c);
    struct in_task t = {.p = p, .c = c, .recv_rc = 1};
    ck_assert_int_eq(axle_test_run(in_task_main, &t), 0);
    ck_assert_int_eq(t.recv_rc, 0);
    ck_assert_str_eq(t.got, "ping");
    axle_ring_close(c);
    axle_ring_close(p);
}
END_TEST

START_TEST(ring_recv_in_a_task_is_cancellable)
{
    axle_ring *p, *c;
    pair_open("intaskc", 4096, &p, &c);
    struct in_task t = {.p = NULL, .c = c, .recv_rc = 1};
    ck_assert_int_eq(axle_test_run(in_task_main, &t), 0);
    ck_assert_int_eq(t.recv_rc, -ECANCELED);
    /* nothing was taken: a record sent now is the next one received */
    ck_assert_int_eq(axle_ring_send(p, "late", 5, 0), 0);
    char buf[8];
    size_t len;
    ck_assert_int_eq(axle_ring_recv_nowait(c, buf, sizeof buf, &len), 0);
    ck_assert_str_eq(buf, "late");
    axle_ring_close(c);
    axle_ring_close(p);
}
END_TEST

/* ------------------------------------------ a stopped reader, a cancelled writer */

struct stopped {
    axle_ring *p;
    int send_rc;
    axle_scope *sc;
    axle_event parked;
};

static int blocked_sender(void *arg)
{
    struct stopped *t = arg;
    axle_scope sc;
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    t->sc = &sc;
    axle_event_set(&t->parked);
    uint64_t extra = UINT64_MAX;
    axle_ring_set_spin(t->p, 0);
    t->send_rc = axle_ring_send(t->p, &extra, sizeof extra, -1); /* full: parks */
    t->sc = NULL;
    axle_scope_close(&sc, t->send_rc);
    return 0;
}

static int cancel_blocked_sender(void *arg)
{
    struct stopped *t = arg;
    axle_event_init(&t->parked);
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    axle_nursery_start_soon(n, blocked_sender, t, NULL);
    ck_assert_int_eq(axle_event_wait(&t->parked), 0);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(axle_checkpoint(), 0);
    ck_assert_int_eq(t->send_rc, 1); /* still parked: the reader is stopped, not dead */
    axle_scope_cancel(t->sc);
    return axle_nursery_close(n, 0);
}

/*
 * The reader is SIGSTOPped (alive, so no -EOWNERDEAD) with the ring full;
 * a writer blocked under BLOCK is cancelled and gets -ECANCELED having sent
 * nothing: once resumed, the reader gets exactly the records sent before.
 */
START_TEST(ring_writer_blocked_on_a_stopped_reader_is_cancellable)
{
    axle_ring *p;
    ck_assert_int_eq(axle_ring_create(&p, "stopped", 4096, AXLE_RING_PRODUCER), 0);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[1]);
        axle_ring *c;
        if (axle_ring_attach(&c, "stopped", parent, AXLE_RING_CONSUMER) < 0)
            _exit(1);
        raise(SIGSTOP);
        uint64_t n, seq;
        size_t len;
        if (read(fds[0], &n, sizeof n) != sizeof n)
            _exit(2);
        for (uint64_t i = 0; i < n; i++)
            if (axle_ring_recv(c, &seq, sizeof seq, &len, 10LL * 1000000000) != 0 || seq != i)
                _exit(3);
        _exit(axle_ring_recv_nowait(c, &seq, sizeof seq, &len) == -EAGAIN ? 0 : 4);
    }
    close(fds[0]);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, WUNTRACED), pid);
    ck_assert(WIFSTOPPED(st));
    uint64_t n = 0;
    while (axle_ring_send_nowait(p, &n, sizeof n) == 0)
        n++;
    ck_assert_uint_gt(n, 0);
    struct stopped t = {.p = p, .send_rc = 1};
    ck_assert_int_eq(axle_test_run(cancel_blocked_sender, &t), 0);
    ck_assert_int_eq(t.send_rc, -ECANCELED);
    ck_assert_int_eq(write(fds[1], &n, sizeof n), (ssize_t)sizeof n);
    ck_assert_int_eq(kill(pid, SIGCONT), 0);
    ck_assert_int_eq(wait_child(pid), 0);
    close(fds[1]);
    axle_ring_close(p);
}
END_TEST

/* ---- the event fd for poll loops ----------------------------------------- */

static int poll_fd(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms);
}

START_TEST(ring_event_fd_signals_records_and_rearms)
{
    axle_ring *c;
    ck_assert_int_eq(axle_ring_create(&c, "evfd", 4096, AXLE_RING_CONSUMER), 0);
    ck_assert_int_eq(axle_ring_event_rearm(c), -EINVAL); /* no fd yet */
    int fd = axle_ring_event_fd(c);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(axle_ring_event_fd(c), fd);
    ck_assert_int_eq(poll_fd(fd, 50), 0); /* empty: not readable */
    pid_t me = getpid(), pid = fork();
    if (pid == 0) { /* three bursts, 50 ms apart */
        axle_ring *p;
        if (axle_ring_attach(&p, "evfd", me, AXLE_RING_PRODUCER) < 0)
            _exit(2);
        for (int32_t i = 0; i < 9; i++) {
            if (i % 3 == 0)
                usleep(50 * 1000);
            if (axle_ring_send(p, &i, sizeof i, 1000000000) < 0)
                _exit(3);
        }
        axle_ring_close(p);
        _exit(0);
    }
    int32_t want = 0;
    int wakeups = 0;
    while (want < 9) {
        ck_assert_int_eq(poll_fd(fd, 5000), 1); /* never a hang: every record is signalled */
        wakeups++;
        int32_t v;
        size_t len;
        int rc;
        while ((rc = axle_ring_recv_nowait(c, &v, sizeof v, &len)) == 0)
            ck_assert_int_eq(v, want++);
        ck_assert_int_eq(rc, -EAGAIN);
        ck_assert_int_eq(axle_ring_event_rearm(c), 0);
    }
    ck_assert_int_ge(wakeups, 2); /* it slept between bursts */
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_int_eq(poll_fd(fd, 50), 0); /* drained and re-armed: quiet again */
    axle_ring_close(c);                   /* stops the helper, closes the fd */
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
    /* The producer's end has no event fd. */
    axle_ring *p2;
    ck_assert_int_eq(axle_ring_create(&p2, "evfd2", 4096, AXLE_RING_PRODUCER), 0);
    ck_assert_int_eq(axle_ring_event_fd(p2), -EPERM);
    axle_ring_close(p2);
}
END_TEST

/* ---- sealed memfd segments ----------------------------------------------- */

START_TEST(memfd_segment_travels_over_a_unix_socket)
{
    int before = axle_test_dev_shm_entries();
    axle_shm *s;
    ck_assert_int_eq(axle_shm_create_memfd(&s, "feed", 64 * 1024), 0);
    ck_assert_int_ge(axle_shm_fd(s), 0);
    ck_assert_int_eq(axle_test_dev_shm_entries(), before); /* nothing named, nothing to unlink */
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid_t pid = fork();
    if (pid == 0) { /* the peer: map what it receives, write a pattern, report */
        close(sv[0]);
        axle_shm *r;
        int rc = axle_shm_recv_fd(sv[1], &r);
        if (rc == 0) {
            memset(axle_shm_base(r), 0x5a, axle_shm_size(r));
            rc = (int)axle_shm_size(r) == 64 * 1024 ? 0 : -1;
            /* The seals hold on its side too: it cannot shrink what we map. */
            if (rc == 0 && ftruncate(axle_shm_fd(r), 4096) == 0)
                rc = -2;
            axle_shm_close(r);
        }
        _exit(rc == 0 ? 0 : 1);
    }
    close(sv[1]);
    ck_assert_int_eq(axle_shm_send_fd(sv[0], s), 0);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    const uint8_t *b = axle_shm_base(s);
    for (size_t i = 0; i < axle_shm_size(s); i += 4096)
        ck_assert_uint_eq(b[i], 0x5a);
    close(sv[0]);
    axle_shm_close(s);
    ck_assert_int_eq(axle_test_dev_shm_entries(), before);
}
END_TEST

/* A fixed ring on a memfd: no name under /dev/shm, the consumer end travels as an fd. */
START_TEST(ring_on_a_memfd_travels_over_a_unix_socket)
{
    int before = axle_test_dev_shm_entries();
    ck_assert_uint_eq(axle_ring_segment_size(4000), 256 + 4096);
    ck_assert_uint_eq(axle_ring_segment_size(0), 0);
    axle_shm *seg, *odd;
    axle_ring *p;
    ck_assert_int_eq(axle_shm_create_memfd(&odd, "odd", 256 + 1000), 0);
    ck_assert_int_eq(axle_ring_create_on(&p, odd, 0, AXLE_RING_PRODUCER), -EINVAL);
    ck_assert_ptr_null(p);
    axle_shm_close(odd); /* still ours after the failure */
    ck_assert_int_eq(axle_ring_create_on(&p, NULL, 0, AXLE_RING_PRODUCER), -EINVAL);
    ck_assert_int_eq(axle_shm_create_memfd(&seg, "ticks", axle_ring_segment_size(4096)), 0);
    ck_assert_int_eq(axle_ring_create_on(&p, seg, 4096, AXLE_RING_PRODUCER), -EINVAL);
    ck_assert_int_eq(axle_ring_create_on(&p, seg, 24, AXLE_RING_PRODUCER), 0);
    ck_assert_ptr_eq(axle_ring_segment(p), seg);
    ck_assert_uint_eq(axle_ring_record_size(p), 24);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) { /* the consumer: attach what it receives, check 10000 records */
        close(sv[0]);
        axle_shm *r;
        axle_ring *c;
        if (axle_shm_recv_fd(sv[1], &r) != 0)
            _exit(2);
        if (axle_ring_attach_on(&c, r, AXLE_RING_PRODUCER) != -EBUSY ||
            axle_ring_attach_on(&c, r, AXLE_RING_CONSUMER) != 0)
            _exit(3);
        uint8_t got[7][24];
        for (uint64_t want = 0; want < 10000;) {
            int m = axle_ring_recv_burst(c, got, 7, 10LL * 1000000000);
            if (m < 1)
                _exit(4);
            for (int i = 0; i < m; i++)
                if (!fixed_rec_ok(got[i], 24, want++))
                    _exit(5);
        }
        axle_ring_close(c); /* closes r too */
        _exit(0);
    }
    close(sv[1]);
    ck_assert_int_eq(axle_shm_send_fd(sv[0], axle_ring_segment(p)), 0);
    close(sv[0]);
    uint8_t rec[24];
    for (uint64_t seq = 0; seq < 10000; seq++) {
        fixed_rec(rec, 24, seq);
        ck_assert_int_eq(axle_ring_send(p, rec, 24, 10LL * 1000000000), 0);
    }
    ck_assert_int_eq(wait_child(pid), 0);
    ck_assert_int_eq(axle_test_dev_shm_entries(), before); /* nothing named */
    axle_ring_close(p);
    /* A segment with no ring in it: not yet a ring; one with garbage: corrupt. */
    axle_ring *c;
    ck_assert_int_eq(axle_shm_create_memfd(&seg, "blank", axle_ring_segment_size(64)), 0);
    ck_assert_int_eq(axle_ring_attach_on(&c, seg, AXLE_RING_CONSUMER), -EAGAIN);
    memset(axle_shm_base(seg), 0x77, 64);
    ck_assert_int_eq(axle_ring_attach_on(&c, seg, AXLE_RING_CONSUMER), -AXLE_ESHMCORRUPT);
    ck_assert_int_eq(axle_ring_attach_on(&c, seg, 0), -EINVAL);
    /* A reused segment is formatted afresh: the garbage is gone. */
    ck_assert_int_eq(axle_ring_create_on(&p, seg, 0, AXLE_RING_PRODUCER), 0);
    ck_assert_int_eq(axle_ring_send_nowait(p, "x", 1), 0);
    axle_ring_close(p);
}
END_TEST

/* Two fds in one message: refused, and neither is left open here. */
START_TEST(memfd_recv_closes_every_fd_of_a_message_with_two)
{
    int sv[2], p1[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(pipe(p1), 0);
    int fds[2] = {p1[0], p1[1]};
    char byte = 'm';
    struct iovec iov = {&byte, 1};
    union {
        char buf[CMSG_SPACE(sizeof fds)];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(cm), fds, sizeof fds);
    ck_assert_int_eq(sendmsg(sv[0], &mh, 0), 1);
    close(p1[0]);
    close(p1[1]);
    int before = axle_test_fd_count();
    axle_shm *s = NULL;
    ck_assert_int_eq(axle_shm_recv_fd(sv[1], &s), -EPROTO);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(axle_test_fd_count(), before);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(memfd_attach_refuses_what_could_change_size)
{
    /* An unsealed memfd, and a memfd of size 0: refused. */
    int fd = memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 4096), 0);
    axle_shm *s;
    ck_assert_int_eq(axle_shm_attach_fd(&s, fd), -AXLE_ESHMCORRUPT);
    ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
    ck_assert_int_eq(axle_shm_attach_fd(&s, fd), -AXLE_ESHMCORRUPT); /* seals not sealed */
    ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL), 0);
    ck_assert_int_eq(axle_shm_attach_fd(&s, fd), 0); /* now it is */
    ck_assert_uint_eq(axle_shm_size(s), 4096);
    axle_shm_close(s);
    close(fd);
    /* Not a memfd at all. */
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    ck_assert_int_eq(axle_shm_attach_fd(&s, pfd[0]), -AXLE_ESHMCORRUPT);
    close(pfd[0]);
    close(pfd[1]);
    /* A named segment travels by its key, not as an fd. */
    axle_shm *named;
    ck_assert_int_eq(axle_shm_create(&named, "named", 4096), 0);
    ck_assert_int_eq(axle_shm_fd(named), -1);
    ck_assert_int_eq(axle_shm_send_fd(0, named), -EINVAL);
    axle_shm_close(named);
}
END_TEST

static Suite *shm_suite(void)
{
    Suite *s = suite_create("shm");
    ADD_CASE(s, "segments", 10, shm_create_attach_close_unlinks, shm_create_duplicate_is_eexist,
             shm_bad_key_is_einval);
    ADD_CASE(s, "ring_event_fd", 10, ring_event_fd_signals_records_and_rearms);
    ADD_CASE(s, "memfd", 10, memfd_segment_travels_over_a_unix_socket,
             memfd_recv_closes_every_fd_of_a_message_with_two,
             ring_on_a_memfd_travels_over_a_unix_socket,
             memfd_attach_refuses_what_could_change_size);
    ADD_CASE(s, "ring", 10, ring_layout_is_frozen, ring_round_trip_varied_sizes,
             ring_wraps_at_every_alignment, ring_second_producer_or_consumer_is_ebusy,
             ring_corrupt_header_is_eshmcorrupt, ring_nowait_on_empty_or_full_is_eagain,
             ring_timeout_is_etimedout);
    ADD_CASE(s, "ring_overrun", 10, ring_overrun_error_fails_at_once_and_loses_nothing_sent,
             ring_overrun_drain_queues_in_order_and_is_bounded,
             ring_drain_wait_in_a_task_pushes_everything_as_room_appears);
    ADD_CASE(s, "ring_dead_end", 10, ring_end_of_a_dead_holder_is_reclaimed,
             ring_reader_gets_every_commit_then_owner_dead_when_the_writer_dies,
             ring_blocked_writer_gets_owner_dead_when_the_reader_dies);
    ADD_CASE(s, "ring_batch", 10, ring_deferred_commits_are_invisible_until_flushed,
             ring_deferred_work_is_published_when_it_would_block,
             ring_batches_move_every_record_in_order_across_wraps,
             ring_send_batch_takes_what_fits_and_reports_errors_exactly,
             ring_send_batch_under_drain_keeps_order,
             ring_peek_batch_stops_before_a_corrupt_record_and_reports_it_next,
             ring_drain_queue_never_takes_a_record_no_ring_can_carry,
             ring_recv_after_peek_batch_takes_one_record);
    ADD_CASE(s, "ring_fixed", 10, ring_fixed_create_validates_and_attach_reads_the_size,
             ring_fixed_records_round_trip_through_every_call_across_wraps,
             ring_fixed_bursts_take_what_fits_and_report_errors_exactly,
             ring_fixed_burst_packs_records_smaller_than_their_slot,
             ring_fixed_head_inside_a_slot_is_eshmcorrupt);
    ADD_CASE(s, "ring_in_task", 10, ring_recv_in_a_task_parks_only_the_task,
             ring_recv_in_a_task_is_cancellable,
             ring_writer_blocked_on_a_stopped_reader_is_cancellable);
    ADD_CASE(s, "ring_cross_process", 30, ring_cross_process_sequence_has_no_gap_or_duplicate,
             ring_parked_recv_wakes_when_other_process_sends,
             ring_parked_send_wakes_when_other_process_receives,
             ring_batches_cross_process_have_no_gap_or_duplicate,
             ring_fixed_bursts_cross_process_have_no_gap_or_duplicate);
    return s;
}

int main(void) { return axle_test_main(shm_suite()); }
