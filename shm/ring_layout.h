/*
 * shm/ring_layout.h — the frozen shared-memory layout of an SPSC ring.
 *
 * Fixed-width types only, no pointers, magic and version first, each
 * cursor on its own 64-byte cache line; every offset is asserted below.
 * Changing any of it is a new AXLE__RING_VERSION. Little-endian hosts only
 * (x86-64, aarch64): peers share one machine, so no byte swapping.
 *
 *   offset  size  field
 *        0     8  magic            AXLE__RING_MAGIC, written last by create
 *        8     4  version          AXLE__RING_VERSION
 *       12     4  layout_size      offset of the data area (256)
 *       16     8  capacity         data-area bytes, a power of two
 *       24     4  producer_pid     0 = end free; claimed with a CAS
 *       28     4  consumer_pid     0 = end free; claimed with a CAS
 *       32     4  producer_light   1: the producer parks with a heavy barrier
 *       36     4  consumer_light   1: the consumer parks with a heavy barrier
 *       40     4  record_size      version 2 only: every record's size (see below)
 *       44    20  reserved         zero
 *       64     8  head             producer cursor: bytes ever published
 *       72     8  cached_tail      producer's last seen consumer cursor
 *       80    48  (pad)
 *      128     8  tail             consumer cursor: bytes ever consumed
 *      136     8  cached_head      consumer's last seen producer cursor
 *      144    48  (pad)
 *      192     4  writer_parked    futex word: 1 while the producer parks
 *      196     4  reader_parked    futex word: 1 while the consumer parks
 *      200    56  (pad)
 *      256     -  data[capacity]
 *
 * Version 1, records of any length: a record at data[cursor % capacity]:
 * u32 len, u32 type, then len bytes, padded to a multiple of 8. type DATA
 * is a record; type PAD fills the rest of the area (len = bytes to the end
 * minus the 8-byte header) so that no record wraps.
 *
 * Version 2, fixed-size records: the same header with record_size set, 1
 * to capacity / 2 bytes. A record is record_size bytes at the start of a
 * slot of record_size rounded up to 8 bytes, with nothing before it.
 * When fewer than a slot's bytes are left before the end of the area, both
 * sides skip them: the record starts at 0 and the cursors count the skipped
 * bytes. A producer publishes head only at the end of a record, so a
 * consumer that finds between 1 and slot - 1 bytes past a (skipped) tail
 * is looking at a corrupt head. A version 1 library refuses these rings
 * (its version check), which is the point: it would read the records as
 * length-prefixed.
 *
 * producer_light / consumer_light (zero in rings made before they had a
 * meaning, which is what they are compatible with: 0 asks for the old
 * protocol) tell the other side's waker that this end, when it parks,
 * issues membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) after setting its
 * parked word, so the waker may skip its full fence (ring.c, "Light
 * wakes"). Each holder writes its own at claim and clears it at close.
 */
#ifndef AXLE_SHM_RING_LAYOUT_H
#define AXLE_SHM_RING_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define AXLE__RING_MAGIC 0x474e4952454c5841ull /* "AXLERING", little-endian */
#define AXLE__RING_VERSION 1u                  /* records of any length, length-prefixed */
#define AXLE__RING_VERSION_FIXED 2u            /* fixed-size records (record_size) */
#define AXLE__RING_CAP_MIN 64ull
#define AXLE__RING_CAP_MAX (1ull << 30)

enum { AXLE__REC_DATA = 1, AXLE__REC_PAD = 2 };

typedef struct axle__ring_rec {
    uint32_t len;  /* payload bytes after this header */
    uint32_t type; /* AXLE__REC_DATA or AXLE__REC_PAD */
} axle__ring_rec;

typedef struct axle__ring_hdr {
    uint64_t magic;          /* AXLE__RING_MAGIC once initialised */
    uint32_t version;        /* AXLE__RING_VERSION */
    uint32_t layout_size;    /* sizeof(axle__ring_hdr): where data starts */
    uint64_t capacity;       /* data bytes; power of two in [CAP_MIN, CAP_MAX] */
    int32_t producer_pid;    /* holder of the producer end, 0 if free */
    int32_t consumer_pid;    /* holder of the consumer end, 0 if free */
    uint32_t producer_light; /* 1: the producer end's holder parks with a heavy barrier */
    uint32_t consumer_light; /* 1: the consumer end's holder parks with a heavy barrier */
    uint32_t record_size;    /* version 2: every record's bytes; version 1: zero, not read */
    uint8_t reserved[20];    /* zero */
    /* Producer line: written by the producer only. */
    uint64_t head;        /* bytes ever published; Invariant: head - tail <= capacity */
    uint64_t cached_tail; /* producer's last-read copy of tail (informational) */
    uint8_t pad_p[48];    /* rest of the cache line */
    /* Consumer line: written by the consumer only. */
    uint64_t tail;        /* bytes ever consumed, a multiple of 8 */
    uint64_t cached_head; /* consumer's last-read copy of head (informational) */
    uint8_t pad_c[48];    /* rest of the cache line */
    /*
     * Park line: written only when a side parks or wakes the other, read
     * after every commit and release. Kept off both cursor lines so that
     * read stays a cache hit while nobody parks (on a cursor line it was a
     * cross-core miss per message: shm.thr at 64 B ran at 0.25x a raw ring).
     */
    uint32_t writer_parked; /* futex word, 1 while the producer is parked */
    uint32_t reader_parked; /* futex word, 1 while the consumer is parked */
    uint8_t pad_w[56];      /* rest of the cache line */
} axle__ring_hdr;

_Static_assert(offsetof(axle__ring_hdr, magic) == 0, "ring layout: magic");
_Static_assert(offsetof(axle__ring_hdr, version) == 8, "ring layout: version");
_Static_assert(offsetof(axle__ring_hdr, layout_size) == 12, "ring layout: layout_size");
_Static_assert(offsetof(axle__ring_hdr, capacity) == 16, "ring layout: capacity");
_Static_assert(offsetof(axle__ring_hdr, producer_pid) == 24, "ring layout: producer_pid");
_Static_assert(offsetof(axle__ring_hdr, consumer_pid) == 28, "ring layout: consumer_pid");
_Static_assert(offsetof(axle__ring_hdr, producer_light) == 32, "ring layout: producer_light");
_Static_assert(offsetof(axle__ring_hdr, consumer_light) == 36, "ring layout: consumer_light");
_Static_assert(offsetof(axle__ring_hdr, record_size) == 40, "ring layout: record_size");
_Static_assert(offsetof(axle__ring_hdr, reserved) == 44, "ring layout: reserved");
_Static_assert(offsetof(axle__ring_hdr, head) == 64, "ring layout: head");
_Static_assert(offsetof(axle__ring_hdr, cached_tail) == 72, "ring layout: cached_tail");
_Static_assert(offsetof(axle__ring_hdr, pad_p) == 80, "ring layout: pad_p");
_Static_assert(offsetof(axle__ring_hdr, tail) == 128, "ring layout: tail");
_Static_assert(offsetof(axle__ring_hdr, cached_head) == 136, "ring layout: cached_head");
_Static_assert(offsetof(axle__ring_hdr, pad_c) == 144, "ring layout: pad_c");
_Static_assert(offsetof(axle__ring_hdr, writer_parked) == 192, "ring layout: writer_parked");
_Static_assert(offsetof(axle__ring_hdr, reader_parked) == 196, "ring layout: reader_parked");
_Static_assert(offsetof(axle__ring_hdr, pad_w) == 200, "ring layout: pad_w");
_Static_assert(sizeof(axle__ring_hdr) == 256, "ring layout: data offset");
_Static_assert(sizeof(axle__ring_rec) == 8, "ring layout: record header");
_Static_assert(offsetof(axle__ring_rec, len) == 0 && offsetof(axle__ring_rec, type) == 4,
               "ring layout: record header fields");

#endif
