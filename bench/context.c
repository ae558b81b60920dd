/*
 * bench/context.c — contexts and streams between two actors.
 *
 *   ctx.cycle
 *       One op: axle_ctx_open of a context function that calls
 *       axle_ctx_started and returns, then axle_ctx_result and
 *       axle_ctx_close (Start, StartAck, Started, Return: two round trips'
 *       worth of frames). Baseline `rpc` in the same run and to the same
 *       child: axle_portal_run of an empty function (Start, StartAck,
 *       Return). ratio = ctx ÷ rpc (BENCH.md: ≤ 2).
 *   stream.thr.uds / stream.thr.tcp (size = 64, 1024)
 *       One op: one message of size bytes through a context's stream to a
 *       child that counts them; a round is N messages, then the close and
 *       the child's Return (its count, checked). The receiver's buffer is
 *       N messages, so nothing is ever dropped (streams have no
 *       back-pressure: BENCH.md measures the rate, not the overrun path).
 *       UDS: the child's link to its parent (a socketpair). TCP: a portal
 *       from axle_find_actor to a child listening on loopback TCP.
 *       Baseline `zmq_ipc` / `zmq_tcp`: a ZeroMQ PAIR socket between two
 *       processes, N messages of size bytes and one reply once all arrived.
 *       speedup = axle msgs/s ÷ ZeroMQ's (BENCH.md: ≥ 1).
 *       Both force the channel (axle_stream_opts.transport): on one host
 *       a stream's data would otherwise go through shared memory.
 *   stream.thr.shm (size = 8, 64, 1024)
 *       The same round through a stream whose data plane is an shm ring
 *       (1 MiB, BLOCK: the writer waits for room instead of overrunning),
 *       the runtime's stream API on both ends (axle_stream_send, and
 *       axle_stream_recv into an axle_buf). Baselines in the same run: the
 *       same stream forced onto the channel (`axle_uds`) and ZeroMQ ipc
 *       PAIR. speedup = shm msgs/s ÷ each.
 *   stream.open (size = 64)
 *       One op: a whole short stream: axle_ctx_open of an echo, open the
 *       stream, one 64-byte message there and back, close the stream, the
 *       result, close the context; with both sides' data on shm (a ring
 *       created, offered and unlinked per direction) and on the channel in
 *       the same run. ratio = shm ÷ channel: what AUTO costs a short stream.
 *   stream.rtt.shm (size = 64)
 *       One op: a 64-byte message to an echo child through a context's
 *       stream and its echo back (p50/p99/p999 of each round trip). The
 *       same over the channel (`axle_uds`) in the same run; ratio = shm
 *       p50 ÷ channel p50. The library's own round trip is shm.rtt.
 * The root is on CPU 0, the child on CPU 1 (it pins itself on request),
 * so is ZeroMQ's receiver.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <axle/actor.h>
#include <axle/context.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef AXLE_BENCH_ZMQ
#include <zmq.h>
#endif

static int bc_nothing(const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    return 0;
}
AXLE_EXPORT("benchctx.nothing", bc_nothing)

static int bc_cycle(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    return axle_ctx_started(ctx, NULL, 0);
}
AXLE_EXPORT_CTX("benchctx.cycle", bc_cycle)

/* Count messages until the parent closes its side; the count is the result. */
static int bc_sink(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    uint64_t cap = 1024;
    if (len == sizeof cap)
        memcpy(&cap, args, sizeof cap);
    axle_stream_opts o = {.msg_buffer_size = (size_t)cap};
    axle_stream *st;
    int rc = axle_ctx_started(ctx, NULL, 0);
    if (rc == 0)
        rc = axle_ctx_open_stream(ctx, &o, &st);
    uint64_t n = 0;
    axle_buf b = {0};
    while (rc == 0 && (rc = axle_stream_recv(st, &b)) == 0)
        n++;
    axle_buf_free(&b);
    return rc == -AXLE_EEOC ? axle_buf_set(ret, &n, sizeof n) : rc;
}
AXLE_EXPORT_CTX("benchctx.sink", bc_sink)

/* Echo every message back until the parent closes its side. */
static int bc_echo(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)ret;
    axle_stream_opts o = {.shm_overrun = AXLE_STREAM_OVERRUN_BLOCK};
    if (len == sizeof o.transport)
        memcpy(&o.transport, args, sizeof o.transport);
    axle_stream *st;
    int rc = axle_ctx_started(ctx, NULL, 0);
    if (rc == 0)
        rc = axle_ctx_open_stream(ctx, &o, &st);
    axle_buf b = {0};
    while (rc == 0 && (rc = axle_stream_recv(st, &b)) == 0)
        rc = axle_stream_send(st, b.data, b.len);
    axle_buf_free(&b);
    return rc == -AXLE_EEOC ? 0 : rc;
}
AXLE_EXPORT_CTX("benchctx.echo", bc_echo)

/* ---- ctx.cycle ---------------------------------------------------------------- */

/*
 * Two implementations measured against the same child in one root, one
 * series each: what ctx.cycle and stream.open share. Each round takes a
 * `struct on_child` (its portal, and a transport where it needs one).
 */
struct on_child {
    axle_portal *p;
    axle_stream_transport transport;
};

struct pair_run {
    int (*round[2])(void *arg, uint64_t n);
    struct on_child arg[2];
    uint64_t n;
    double s[2][BENCH_MAX_REPS];
};

static int pair_main(void *arg)
{
    struct pair_run *r = arg;
    struct bench_child c;
    int rc = bench_child_open(&c, "bench-peer", false);
    for (int k = 0; k < 2 && rc == 0; k++) {
        r->arg[k].p = c.link;
        rc = bench_series(r->round[k], &r->arg[k], r->n, 1, r->s[k]);
    }
    return bench_child_close(&c, rc);
}

/* Run the pair and report both, with ratio = the first's cost ÷ the second's. */
static int run_pair(const char *sc, int size, const char *impl0, const char *impl1,
                    struct pair_run *r)
{
    axle_actor_opts o = {.name = "bench-root"};
    int rc = axle_root(&o, pair_main, r);
    if (rc < 0)
        return rc;
    double a = bench_measure(sc, size, impl0, "ns_per_op", r->s[0], bench_reps());
    double b = bench_measure(sc, size, impl1, "ns_per_op", r->s[1], bench_reps());
    bench_compare(sc, size, impl0, impl1, "ratio", a / b);
    return 0;
}

static int cycle_round(void *arg, uint64_t n)
{
    struct on_child *r = arg;
    for (uint64_t i = 0; i < n; i++) {
        axle_ctx *ctx;
        int rc = axle_ctx_open(r->p, "benchctx.cycle", NULL, 0, &ctx, NULL);
        if (rc < 0)
            return rc;
        rc = axle_ctx_result(ctx, NULL);
        if ((rc = axle_ctx_close(ctx, rc)) < 0)
            return rc;
    }
    return 0;
}

static int rpc_round(void *arg, uint64_t n)
{
    struct on_child *r = arg;
    for (uint64_t i = 0; i < n; i++) {
        int rc = axle_portal_run(r->p, "benchctx.nothing", NULL, 0, NULL);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int run_cycle(void)
{
    struct pair_run r = {.round = {cycle_round, rpc_round}, .n = bench_iters(5000)};
    return run_pair("ctx.cycle", 0, "axle", "rpc", &r);
}

/* ---- stream.thr ---------------------------------------------------------------- */

struct thr_run {
    bool tcp;
    axle_stream_transport transport;
    axle_portal *p;
    size_t size;
    double rate[BENCH_MAX_REPS];
    int rep;
};

/* One round: n messages through a fresh context's stream; records msgs/s. */
static int thr_round(struct thr_run *r, uint64_t n)
{
    static uint8_t msg[1024];
    axle_ctx *ctx;
    axle_stream *st;
    uint64_t cap = n + 1;
    int rc = axle_ctx_open(r->p, "benchctx.sink", &cap, sizeof cap, &ctx, NULL);
    if (rc < 0)
        return rc;
    axle_stream_opts o = {
        .transport = r->transport, .shm_bytes = 1 << 20, .shm_overrun = AXLE_STREAM_OVERRUN_BLOCK};
    rc = axle_ctx_open_stream(ctx, &o, &st);
    if (rc == 0 && axle_stream_transport_of(st) != r->transport)
        rc = AXLE_SET_ERR(-EPROTO, "the stream's data plane is not the one measured");
    int64_t t0 = bench_now();
    for (uint64_t i = 0; rc == 0 && i < n; i++)
        rc = axle_stream_send(st, msg, r->size);
    if (rc == 0)
        rc = axle_stream_close(st);
    axle_buf got = {0};
    if (rc == 0)
        rc = axle_ctx_result(ctx, &got);
    double secs = (double)(bench_now() - t0) / 1e9;
    if (rc == 0 && (got.len != sizeof n || memcmp(got.data, &n, sizeof n) != 0))
        rc = AXLE_SET_ERR(-EPROTO, "the sink counted other than the %llu sent",
                          (unsigned long long)n);
    axle_buf_free(&got);
    rc = axle_ctx_close(ctx, rc);
    if (rc == 0 && r->rep >= 0)
        r->rate[r->rep] = (double)n / secs;
    return rc;
}

static int thr_main(void *arg)
{
    struct thr_run *r = arg;
    struct bench_child c;
    int rc = bench_child_open(&c, "bench-peer", r->tcp);
    r->p = r->tcp ? c.tcp : c.link;
    uint64_t n = bench_iters(200000);
    for (r->rep = -1; rc == 0 && r->rep < bench_reps(); r->rep++) /* -1: warm-up */
        rc = thr_round(r, r->rep < 0 ? n / 4 + 1 : n);
    return bench_child_close(&c, rc);
}

#ifdef AXLE_BENCH_ZMQ
/* ZeroMQ PAIR: a forked receiver on CPU 1 counts n messages, then replies once. */
static int zmq_rate(bool tcp, size_t size, uint64_t n, double *rate)
{
    char ep[128];
    if (tcp)
        snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", 20000 + (int)(getpid() % 20000));
    else
        snprintf(ep, sizeof ep, "ipc:///tmp/axle-bench-zmq-%d", (int)getpid());
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    /* Neither side may wait for ever on the other (a failed bind, a dead peer). */
    int timeout_ms = 20000;
    if (pid == 0) {
        bench_shm_child(1); /* dies with us, pinned to CPU 1 */
        void *zc = zmq_ctx_new();
        void *s = zmq_socket(zc, ZMQ_PAIR);
        int hwm = 0; /* no limit: like the axle sink, never drop, never block the sender */
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
        zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
        if (zmq_bind(s, ep) != 0)
            _exit(2);
        char buf[1024];
        if (zmq_recv(s, buf, sizeof buf, 0) < 0) /* hello */
            _exit(3);
        zmq_send(s, "k", 1, 0);
        for (uint64_t i = 0; i < n; i++)
            if (zmq_recv(s, buf, sizeof buf, 0) < 0)
                _exit(3);
        zmq_send(s, "done", 4, 0);
        zmq_close(s);
        zmq_ctx_term(zc);
        _exit(0);
    }
    void *zc = zmq_ctx_new();
    void *s = zmq_socket(zc, ZMQ_PAIR);
    int hwm = 0;
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    int rc = zmq_connect(s, ep);
    static uint8_t msg[1024];
    char ack[8];
    if (rc == 0 && (zmq_send(s, "hi", 2, 0) < 0 || zmq_recv(s, ack, sizeof ack, 0) < 0))
        rc = -1;
    int64_t t0 = bench_now();
    for (uint64_t i = 0; rc == 0 && i < n; i++)
        if (zmq_send(s, msg, size, 0) < 0)
            rc = -1;
    if (rc == 0 && zmq_recv(s, ack, sizeof ack, 0) < 0)
        rc = -1;
    *rate = (double)n / ((double)(bench_now() - t0) / 1e9);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(s);
    zmq_ctx_term(zc);
    rc = bench_reap(pid, rc < 0 ? -EIO : 0); /* killed first when we failed */
    if (!tcp)
        unlink(ep + strlen("ipc://"));
    return rc;
}
#endif

/* ZeroMQ PAIR at size in the same run, and axle's rate a (impl) against it. */
static void vs_zmq(const char *scenario, bool tcp, size_t size, const char *impl, double a)
{
    const char *vs = tcp ? "zmq_tcp" : "zmq_ipc";
#ifdef AXLE_BENCH_ZMQ
    double z[BENCH_MAX_REPS];
    uint64_t n = bench_iters(200000);
    int rc = 0;
    for (int i = 0; rc == 0 && i < bench_reps(); i++)
        rc = zmq_rate(tcp, size, n, &z[i]);
    if (rc < 0) {
        bench_skip(scenario, vs, "the ZeroMQ baseline failed to run");
        return;
    }
    double b = bench_measure(scenario, (int)size, vs, "msgs_per_s", z, bench_reps());
    bench_compare(scenario, (int)size, impl, vs, "speedup", a / b);
#else
    (void)size, (void)impl, (void)a;
    bench_skip(scenario, vs, "built without libzmq (sh scripts/deps.sh bench installs it)");
#endif
}

/* A root measuring the stream rate at size over transport: msgs/s per repetition. */
static int thr_rates(bool tcp, axle_stream_transport transport, size_t size, double *rate)
{
    struct thr_run r = {.tcp = tcp, .transport = transport, .size = size};
    axle_actor_opts o = {.name = "bench-root"};
    int rc = axle_root(&o, thr_main, &r);
    memcpy(rate, r.rate, sizeof r.rate);
    return rc;
}

static int run_thr(const char *scenario, bool tcp)
{
    static const size_t sizes[] = {64, 1024};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        double rate[BENCH_MAX_REPS];
        int rc = thr_rates(tcp, AXLE_STREAM_CHANNEL, sizes[k], rate);
        if (rc < 0)
            return rc;
        double a = bench_measure(scenario, (int)sizes[k], "axle", "msgs_per_s", rate, bench_reps());
        vs_zmq(scenario, tcp, sizes[k], "axle", a);
    }
    return 0;
}

static int run_thr_shm(void)
{
    static const char *sc = "stream.thr.shm";
    static const size_t sizes[] = {8, 64, 1024};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int sz = (int)sizes[k];
        double shm[BENCH_MAX_REPS], uds[BENCH_MAX_REPS];
        int rc = thr_rates(false, AXLE_STREAM_SHM, sizes[k], shm);
        if (rc == 0)
            rc = thr_rates(false, AXLE_STREAM_CHANNEL, sizes[k], uds);
        if (rc < 0)
            return rc;
        double a = bench_measure(sc, sz, "axle_shm", "msgs_per_s", shm, bench_reps());
        double b = bench_measure(sc, sz, "axle_uds", "msgs_per_s", uds, bench_reps());
        bench_compare(sc, sz, "axle_shm", "axle_uds", "speedup", a / b);
        vs_zmq(sc, false, sizes[k], "axle_shm", a);
    }
    return 0;
}

/* ---- stream.open ---------------------------------------------------------------- */

static int open_round(void *arg, uint64_t n)
{
    struct on_child *r = arg;
    static uint8_t msg[64];
    axle_buf b = {0};
    int rc = 0;
    for (uint64_t i = 0; rc == 0 && i < n; i++) {
        axle_ctx *ctx;
        rc = axle_ctx_open(r->p, "benchctx.echo", &r->transport, sizeof r->transport, &ctx, NULL);
        if (rc < 0)
            break;
        axle_stream_opts o = {.transport = r->transport};
        axle_stream *st;
        rc = axle_ctx_open_stream(ctx, &o, &st);
        if (rc == 0 && axle_stream_transport_of(st) != r->transport)
            rc = AXLE_SET_ERR(-EPROTO, "the stream's data plane is not the one measured");
        if (rc == 0)
            rc = axle_stream_send(st, msg, sizeof msg);
        if (rc == 0)
            rc = axle_stream_recv(st, &b);
        if (rc == 0)
            rc = axle_stream_close(st);
        if (rc == 0)
            rc = axle_ctx_result(ctx, NULL);
        rc = axle_ctx_close(ctx, rc);
    }
    axle_buf_free(&b);
    return rc;
}

static int run_open(void)
{
    struct pair_run r = {
        .round = {open_round, open_round},
        .arg = {{.transport = AXLE_STREAM_SHM}, {.transport = AXLE_STREAM_CHANNEL}},
        .n = bench_iters(2000)};
    return run_pair("stream.open", 64, "axle_shm", "axle_uds", &r);
}

/* ---- stream.rtt.shm ---------------------------------------------------------------- */

struct rtt_run {
    axle_stream_transport transport;
    double p50[BENCH_MAX_REPS], p99[BENCH_MAX_REPS], p999[BENCH_MAX_REPS];
};

static int rtt_main(void *arg)
{
    struct rtt_run *r = arg;
    struct bench_child c;
    int rc = bench_child_open(&c, "bench-peer", false);
    axle_ctx *ctx = NULL;
    axle_stream *st = NULL;
    if (rc == 0)
        rc = axle_ctx_open(c.link, "benchctx.echo", &r->transport, sizeof r->transport, &ctx, NULL);
    axle_stream_opts o = {.transport = r->transport, .shm_overrun = AXLE_STREAM_OVERRUN_BLOCK};
    if (rc == 0)
        rc = axle_ctx_open_stream(ctx, &o, &st);
    if (rc == 0 && axle_stream_transport_of(st) != r->transport)
        rc = AXLE_SET_ERR(-EPROTO, "the stream's data plane is not the one measured");
    enum { N_MAX = 20000 };
    static double lat[N_MAX];
    int n = (int)bench_iters(N_MAX);
    static uint8_t msg[64];
    axle_buf b = {0};
    for (int rep = -1; rc == 0 && rep < bench_reps(); rep++) { /* -1: warm-up */
        for (int i = 0; rc == 0 && i < n; i++) {
            int64_t t0 = bench_now();
            rc = axle_stream_send(st, msg, sizeof msg);
            if (rc == 0)
                rc = axle_stream_recv(st, &b);
            lat[i] = (double)(bench_now() - t0);
        }
        if (rc == 0 && rep >= 0) {
            bench_tails(lat, n, &r->p50[rep], &r->p99[rep], &r->p999[rep]);
        }
    }
    axle_buf_free(&b);
    if (st && rc == 0)
        rc = axle_stream_close(st);
    if (ctx) {
        if (rc == 0)
            rc = axle_ctx_result(ctx, NULL);
        rc = axle_ctx_close(ctx, rc);
    }
    return bench_child_close(&c, rc);
}

static int run_rtt_shm(void)
{
    static const char *sc = "stream.rtt.shm";
    struct rtt_run shm = {.transport = AXLE_STREAM_SHM}, uds = {.transport = AXLE_STREAM_CHANNEL};
    axle_actor_opts o = {.name = "bench-root"};
    int rc = axle_root(&o, rtt_main, &shm);
    if (rc == 0)
        rc = axle_root(&o, rtt_main, &uds);
    if (rc < 0)
        return rc;
    int n = bench_reps();
    double a = bench_measure(sc, 64, "axle_shm", "p50_ns", shm.p50, n);
    bench_measure(sc, 64, "axle_shm", "p99_ns", shm.p99, n);
    bench_measure(sc, 64, "axle_shm", "p999_ns", shm.p999, n);
    double b = bench_measure(sc, 64, "axle_uds", "p50_ns", uds.p50, n);
    bench_measure(sc, 64, "axle_uds", "p99_ns", uds.p99, n);
    bench_compare(sc, 64, "axle_shm", "axle_uds", "ratio", a / b);
    return 0;
}

static int run_thr_uds(void) { return run_thr("stream.thr.uds", false); }
static int run_thr_tcp(void) { return run_thr("stream.thr.tcp", true); }

const bench_scenario bench_context_scenarios[] = {
    {"ctx.cycle", "open a context, started, result, close", run_cycle},
    {"stream.thr.uds", "messages/s through a context's stream over a Unix socket", run_thr_uds},
    {"stream.thr.tcp", "messages/s through a context's stream over loopback TCP", run_thr_tcp},
    {"stream.thr.shm", "messages/s through a context's stream over shared memory", run_thr_shm},
    {"stream.open", "a short stream (one message each way), shm vs the channel", run_open},
    {"stream.rtt.shm", "64 B round trip through a context's stream, shm vs the channel",
     run_rtt_shm},
    {0},
};
