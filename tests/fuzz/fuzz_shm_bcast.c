/*
 * tests/fuzz/fuzz_shm_bcast.c — a broadcast ring segment written by a
 * hostile process.
 *
 * Readers trust nothing in the segment: attaching, and every read after,
 * must turn any bytes into a documented result, never an out-of-bounds
 * access or a hang. The writer reads back its own record headers when it
 * overwrites them, so it must survive damage too. The input's first byte
 * picks a mode (bit 0: restore the valid header first, so the fuzzer
 * explores cursors and records; bit 1: the writer publishes once more
 * after the damage); the rest is copied over the segment. Then a reader
 * attaches and drains, at most a bounded number of records.
 *
 * The writer owns the segment for the whole run and closes (unlinks) it at
 * exit, so a corpus replay leaves /dev/shm clean.
 */
#include "fuzz.h"

#include <axle/shm.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { CAP = 1024, HDR_KEEP = 32 };

static axle_bcast *writer;
static axle_shm *raw; /* the same segment, to write the input over */
static unsigned char valid_header[HDR_KEEP];
static char key[64];

static void teardown(void)
{
    axle_shm_close(raw);
    axle_bcast_close(writer);
}

static void setup(void)
{
    snprintf(key, sizeof key, "fuzz-bcast-%d", (int)getpid());
    if (axle_bcast_create(&writer, key, CAP) < 0 || axle_shm_attach(&raw, key, getpid()) < 0)
        abort();
    memcpy(valid_header, axle_shm_base(raw), HDR_KEEP);
    atexit(teardown);
}

static bool documented(int rc)
{
    return rc == 0 || rc == -EAGAIN || rc == -AXLE_ESHMCORRUPT || rc == -AXLE_ELAGGED ||
           rc == -EMSGSIZE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!writer)
        setup();
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    data++, size--;
    unsigned char *seg = axle_shm_base(raw);
    size_t len = axle_shm_size(raw);
    memcpy(seg, data, size < len ? size : len);
    if (mode & 1)
        memcpy(seg, valid_header, HDR_KEEP);
    if (mode & 2) {
        static const char rec[40] = "one more record, after the damage";
        if (axle_bcast_publish(writer, rec, (size_t)(mode >> 2) % sizeof rec) != 0)
            abort();
    }
    axle_bcast *r;
    int rc = axle_bcast_attach(&r, key, getpid());
    if (rc == 0) {
        static unsigned char buf[CAP];
        for (int i = 0; i < 4 * CAP; i++) {
            size_t n;
            uint64_t missed;
            rc = axle_bcast_recv_nowait(r, buf, sizeof buf, &n, &missed);
            if (rc == -AXLE_ELAGGED)
                continue;
            if (rc < 0)
                break;
            if (n > axle_bcast_max_record(r))
                abort(); /* a record longer than the ring can hold */
        }
        axle_bcast_close(r);
    }
    if (!documented(rc) && rc != -EINVAL)
        abort(); /* an error nobody documented */
    return 0;
}
