/*
 * tests/fuzz/fuzz_shm_ring.c — a ring segment written by a hostile peer.
 *
 * Everything in a shared segment is untrusted input: a consumer attaching
 * a ring, and every peek afterwards, must turn any bytes into 0, -EAGAIN,
 * -EBUSY or -AXLE_ESHMCORRUPT, never an out-of-bounds access. The input is
 * the segment's bytes: the first input byte picks a mode (bit 0: restore a
 * valid header first, so the fuzzer explores cursors and records rather
 * than only the header checks; bit 1: free the consumer end; bits 2-3: how
 * to drain: peek, peek_batch, recv_burst, recv; bit 4: then make it a
 * version 2 (fixed-size) ring, its record size from the input), the rest
 * is copied over the segment. Then a consumer attaches and drains it, at
 * most a bounded number of records.
 *
 * The producer end owns the segment for the whole run and is closed (the
 * segment unlinked) at exit, so a corpus replay leaves /dev/shm clean.
 */
#include "fuzz.h"

#include <axle/shm.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { CAP = 1024, HDR_KEEP = 32, PIDS_AT = 24, VERSION_AT = 8 };

static axle_ring *producer;
static unsigned char copy[3 * CAP / 2]; /* recv_burst: 3 records of at most CAP / 2 */
static axle_shm *raw;                   /* the same segment, to write the input over */
static unsigned char valid_header[HDR_KEEP];
static char key[64];

static void teardown(void)
{
    axle_shm_close(raw);
    axle_ring_close(producer);
}

static void setup(void)
{
    snprintf(key, sizeof key, "fuzz-ring-%d", (int)getpid());
    if (axle_ring_create(&producer, key, CAP, AXLE_RING_PRODUCER) < 0 ||
        axle_shm_attach(&raw, key, getpid()) < 0)
        abort();
    memcpy(valid_header, axle_shm_base(raw), HDR_KEEP);
    atexit(teardown);
}

/* Read every byte of a record the ring handed out. */
static void touch(axle_ring *c, const struct iovec *v)
{
    if (v->iov_len > axle_ring_max_record(c))
        abort(); /* a record longer than the ring can hold */
    volatile unsigned char sink = 0;
    for (size_t k = 0; k < v->iov_len; k++)
        sink ^= ((const unsigned char *)v->iov_base)[k];
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!producer)
        setup();
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    data++, size--;
    unsigned char *seg = axle_shm_base(raw);
    size_t len = axle_shm_size(raw);
    memset(seg + HDR_KEEP, 0, len - HDR_KEEP);
    memcpy(seg, data, size < len ? size : len);
    if (mode & 1)
        memcpy(seg, valid_header, HDR_KEEP);
    if (mode & 2)
        memset(seg + PIDS_AT + 4, 0, 4); /* the consumer end is free */
    if (mode & 16)
        memcpy(seg + VERSION_AT, &(uint32_t){2}, 4);
    axle_ring *c;
    int rc = axle_ring_attach(&c, key, getpid(), AXLE_RING_CONSUMER);
    if (rc == 0) {
        for (int i = 0; i < 4 * CAP; i++) {
            struct iovec v[7];
            int m = 1;
            unsigned how = (mode >> 2) & 3;
            if (how == 1) {
                rc = axle_ring_peek_batch(c, v, 7, 0);
                m = rc;
            } else if (how == 2) { /* copies out: nothing to touch, nothing to release */
                if ((rc = axle_ring_recv_burst(c, copy, 3, 0)) < 0)
                    break;
                rc = 0;
                if (axle_ring_record_size(c) * 3 > sizeof copy)
                    abort(); /* the burst wrote past the array: caught by ASan first */
                continue;
            } else if (how == 3) {
                size_t n;
                if ((rc = axle_ring_recv_nowait(c, copy, sizeof copy, &n)) < 0 && rc != -EMSGSIZE)
                    break;
                if (rc == -EMSGSIZE && n <= sizeof copy)
                    abort(); /* too long, yet it fitted */
                if (rc == -EMSGSIZE)
                    break;
                rc = 0;
                continue;
            } else {
                rc = axle_ring_peek_nowait(c, (const void **)&v[0].iov_base, &v[0].iov_len);
            }
            if (rc < 0)
                break;
            for (int j = 0; j < m; j++)
                touch(c, &v[j]);
            if (axle_ring_release(c) < 0)
                break;
        }
        axle_ring_close(c);
    }
    if (rc != 0 && rc != -EAGAIN && rc != -EBUSY && rc != -AXLE_ESHMCORRUPT && rc != -EINVAL &&
        rc != -EPERM && rc != -ETIMEDOUT && rc != -EMSGSIZE)
        abort(); /* an error nobody documented */
    return 0;
}
