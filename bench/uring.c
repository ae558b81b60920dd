/*
 * bench/uring.c — io_uring floors, measured with liburing directly.
 *
 *   uring.nop   One IORING_OP_NOP round trip: get an SQE, prep_nop,
 *               io_uring_submit_and_wait(1), read the CQE and mark it seen.
 *               A NOP completes inline, so this is one io_uring_enter(2)
 *               plus the ring bookkeeping: the floor under any axle I/O
 *               checkpoint, which adds the park, the wake and a switch.
 *               impl "liburing": the public API has no NOP, so no axle
 *               figure is paired with it.
 *
 * The ring is private to the scenario (8 entries, no flags) on CPU 0; a
 * kernel without io_uring reports the scenario skipped.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <axle/error.h>

#include <errno.h>
#include <liburing.h>

static int nop_round(void *arg, uint64_t n)
{
    struct io_uring *ring = arg;
    for (uint64_t i = 0; i < n; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
        struct io_uring_cqe *cqe;
        io_uring_prep_nop(sqe);
        int rc = io_uring_submit_and_wait(ring, 1);
        if (rc < 0)
            return rc;
        rc = io_uring_peek_cqe(ring, &cqe);
        if (rc < 0)
            return rc;
        rc = cqe->res;
        io_uring_cqe_seen(ring, cqe);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int run_nop(void)
{
    struct io_uring ring;
    double ns[BENCH_MAX_REPS];
    int rc = io_uring_queue_init(8, &ring, 0);
    if (rc < 0)
        return rc == -ENOSYS || rc == -EPERM ? -AXLE_ENOURING : rc;
    rc = bench_series(nop_round, &ring, bench_iters(100000), 1, ns);
    io_uring_queue_exit(&ring);
    if (rc < 0)
        return rc;
    bench_measure("uring.nop", 0, "liburing", "ns_per_op", ns, bench_reps());
    return 0;
}

const bench_scenario bench_uring_scenarios[] = {
    {"uring.nop", "io_uring NOP round trip (submit_and_wait + CQE), liburing directly", run_nop},
    {0},
};
