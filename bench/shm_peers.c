/*
 * bench/shm_peers.c — the baselines of shm.rtt and shm.thr that are other
 * programs' IPC rather than a ring: pipe, Unix socketpair, ZeroMQ ipc PAIR
 * and iceoryx (iox.c). Each runs between the parent (CPU 0) and a forked
 * child (CPU 1), as plain programs would use them: one write / zmq_send /
 * published chunk per record.
 *
 *   shm.rtt (bench_shm_rtt_peers): one record each way, each round trip
 *     timed alone, p50/p99/p999 of 20,000 per repetition, like axle's:
 *       pipe: two pipes, blocking write(2) / read(2), an echo child;
 *       socketpair: ipc.c's bench_raw_rtt, the same over one socketpair;
 *       zmq_ipc: a PAIR socket over ipc://, blocking zmq_send / zmq_recv;
 *       iceoryx: iox.c's pub/sub ping-pong, busy-polling.
 *     ratio = axle p50 ÷ the peer's p50.
 *   shm.thr (bench_shm_thr_peers): a writer child sends n records, the
 *     parent takes them all (pipe and socketpair reading whatever bytes are
 *     there, ZeroMQ and iceoryx one message at a time); msgs/s from the
 *     first arrival. speedup = axle msgs/s ÷ the peer's.
 * A peer that cannot run (built without libzmq or iceoryx, RouDi not up)
 * is reported skipped with the reason.
 */
#define _GNU_SOURCE
#include "bench.h"

#ifdef AXLE_BENCH_ZMQ
#include <zmq.h>
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { RTT_ROUNDS = 20000 };

enum peer_kind { PEER_PIPE, PEER_SOCKETPAIR, PEER_ZMQ, PEER_IOX };

static const char *const peer_names[] = {"pipe", "socketpair", "zmq_ipc", "iceoryx"};

static const char no_zmq[] = "built without libzmq (sh scripts/deps.sh bench)";

static unsigned char buf[65536];

static void zmq_endpoint(char *ep, size_t len)
{
    snprintf(ep, len, "ipc:///tmp/axle-bench-shm-zmq-%d", (int)getpid());
}

/* ---- a blocking channel: a pipe pair or a ZeroMQ PAIR socket ------------------- */

struct chan {
    enum peer_kind kind;
    int rfd, wfd;    /* PEER_PIPE */
    void *zctx, *zs; /* PEER_ZMQ */
};

/* write(2) (out) or read(2) all len bytes. */
static int fd_all(int fd, unsigned char *p, size_t len, bool out)
{
    for (size_t off = 0; off < len;) {
        ssize_t n = out ? write(fd, p + off, len - off) : read(fd, p + off, len - off);
        if (n <= 0)
            return -EIO;
        off += (size_t)n;
    }
    return 0;
}

static int chan_send(struct chan *c, size_t len)
{
#ifdef AXLE_BENCH_ZMQ
    if (c->kind == PEER_ZMQ)
        return zmq_send(c->zs, buf, len, 0) == (int)len ? 0 : -EIO;
#endif
    return fd_all(c->wfd, buf, len, true);
}

static int chan_recv(struct chan *c, size_t len)
{
#ifdef AXLE_BENCH_ZMQ
    if (c->kind == PEER_ZMQ)
        return zmq_recv(c->zs, buf, sizeof buf, 0) == (int)len ? 0 : -EIO;
#endif
    return fd_all(c->rfd, buf, len, false);
}

/* Open a ZeroMQ PAIR socket on ep, no high-water mark (a stream never drops):
 * bound (the parent) or connected (the child). */
static int chan_zmq(struct chan *c, const char *ep, bool bind)
{
#ifdef AXLE_BENCH_ZMQ
    int hwm = 0;
    c->zctx = zmq_ctx_new();
    c->zs = c->zctx ? zmq_socket(c->zctx, ZMQ_PAIR) : NULL;
    if (!c->zs || zmq_setsockopt(c->zs, ZMQ_SNDHWM, &hwm, sizeof hwm) < 0 ||
        zmq_setsockopt(c->zs, ZMQ_RCVHWM, &hwm, sizeof hwm) < 0)
        return -EIO;
    return (bind ? zmq_bind(c->zs, ep) : zmq_connect(c->zs, ep)) == 0 ? 0 : -EIO;
#else
    (void)c, (void)ep, (void)bind;
    return -ENOSYS;
#endif
}

/* Close c; ZeroMQ: linger until sent (the child's last messages) or not (the
 * parent, which also removes the ipc socket file ep). */
static void chan_close(struct chan *c, const char *ep, bool linger)
{
#ifdef AXLE_BENCH_ZMQ
    if (c->kind == PEER_ZMQ) {
        int ms = linger ? -1 : 0;
        if (c->zs) {
            zmq_setsockopt(c->zs, ZMQ_LINGER, &ms, sizeof ms);
            zmq_close(c->zs);
        }
        if (c->zctx)
            zmq_ctx_term(c->zctx);
        if (!linger)
            unlink(ep + strlen("ipc://"));
        return;
    }
#endif
    (void)ep, (void)linger;
    if (c->rfd >= 0)
        close(c->rfd);
    if (c->wfd >= 0)
        close(c->wfd);
}

/* ---- shm.rtt ------------------------------------------------------------------- */

static double lat[RTT_ROUNDS];

/* Ping-pong of size bytes over a pipe pair or ZeroMQ: reps × p50/p99/p999. */
static int chan_rtt(enum peer_kind kind, size_t size, double *p50, double *p99, double *p999)
{
#ifndef AXLE_BENCH_ZMQ
    if (kind == PEER_ZMQ)
        return -ENOSYS;
#endif
    int rounds = (int)bench_iters(RTT_ROUNDS);
    if (rounds < 1000)
        rounds = 1000;
    long total = (long)(rounds / 4 + rounds * bench_reps()); /* warm-up + reps */
    char ep[96];
    zmq_endpoint(ep, sizeof ep);
    int ping[2] = {-1, -1}, pong[2] = {-1, -1};
    if (kind == PEER_PIPE && (pipe(ping) < 0 || pipe(pong) < 0)) {
        int rc = -errno;
        for (int k = 0; k < 2; k++) {
            if (ping[k] >= 0)
                close(ping[k]);
            if (pong[k] >= 0)
                close(pong[k]);
        }
        return rc;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        bench_shm_child(1);
        struct chan c = {kind, ping[0], pong[1], NULL, NULL};
        if (kind == PEER_PIPE)
            close(ping[1]), close(pong[0]);
        else if (chan_zmq(&c, ep, false) < 0)
            _exit(2);
        for (long i = 0; i < total; i++)
            if (chan_recv(&c, size) < 0 || chan_send(&c, size) < 0)
                _exit(3);
        chan_close(&c, ep, true); /* the last pong leaves before the socket goes */
        _exit(0);
    }
    int rc = pid < 0 ? -errno : 0;
    struct chan c = {kind, pong[0], ping[1], NULL, NULL};
    if (kind == PEER_PIPE)
        close(ping[0]), close(pong[1]);
    if (rc == 0 && kind == PEER_ZMQ)
        rc = chan_zmq(&c, ep, true);
    for (int rep = -1; rc == 0 && rep < bench_reps(); rep++) { /* rep -1: warm-up */
        int n = rep < 0 ? rounds / 4 : rounds;
        for (int i = 0; i < n && rc == 0; i++) {
            int64_t t0 = bench_now();
            if ((rc = chan_send(&c, size)) == 0)
                rc = chan_recv(&c, size);
            lat[i] = (double)(bench_now() - t0);
        }
        if (rc == 0 && rep >= 0) {
            bench_tails(lat, n, &p50[rep], &p99[rep], &p999[rep]);
        }
    }
    if (pid > 0)
        rc = bench_reap(pid, rc);
    chan_close(&c, ep, false);
    return rc;
}

/* axle's figure ÷ each peer's median (a ratio of costs or a speedup of rates),
 * after every peer's rows so that the table shows them on one axle row. */
static void compare_all(const char *sc, int size, const char *metric, double ax, const double *med)
{
    for (int k = PEER_PIPE; k <= PEER_IOX; k++)
        if (med[k] > 0)
            bench_compare(sc, size, "axle", peer_names[k], metric, ax / med[k]);
}

/* Whether peer k could not run (rc -ENOSYS). ZeroMQ's skip is reported here,
 * iceoryx's once per scenario, when its RouDi did not start. */
static bool cannot_run(const char *sc, int k, int rc)
{
    if (rc != -ENOSYS)
        return false;
    if (k != PEER_IOX)
        bench_skip(sc, peer_names[k], no_zmq);
    return true;
}

/*
 * iceoryx's RouDi runs only around iceoryx's own measurement, so its
 * threads never share the CPUs with axle's or the other baselines' rows.
 * rtt: round trips into a, b, c; else the rate of n records into a.
 * -ENOSYS when it cannot run (said once per scenario).
 */
static int iox_with_roudi(const char *sc, bool rtt, size_t size, uint64_t n, double *a, double *b,
                          double *c)
{
    static const char *said; /* the scenario whose skip line is out */
    if (bench_iox_start() < 0) {
        if (said != sc)
            bench_skip(sc, "iceoryx", bench_iox_why());
        said = sc;
        bench_iox_stop();
        return -ENOSYS;
    }
    int rc = rtt ? bench_iox_rtt(size, a, b, c) : bench_iox_rate(size, n, a);
    bench_iox_stop();
    return rc;
}

int bench_shm_rtt_peers(const char *sc, int size, double axle_p50)
{
    int n = bench_reps();
    double med[PEER_IOX + 1] = {0};
    for (int k = PEER_PIPE; k <= PEER_IOX; k++) {
        double a[BENCH_MAX_REPS], b[BENCH_MAX_REPS], c[BENCH_MAX_REPS];
        int rc = k == PEER_SOCKETPAIR ? bench_raw_rtt(false, (size_t)size, a, b, c)
                 : k == PEER_IOX      ? iox_with_roudi(sc, true, (size_t)size, 0, a, b, c)
                                      : chan_rtt((enum peer_kind)k, (size_t)size, a, b, c);
        if (cannot_run(sc, k, rc))
            continue;
        if (rc < 0)
            return rc;
        med[k] = bench_measure(sc, size, peer_names[k], "p50_ns", a, n);
        bench_measure(sc, size, peer_names[k], "p99_ns", b, n);
        bench_measure(sc, size, peer_names[k], "p999_ns", c, n);
    }
    compare_all(sc, size, "ratio", axle_p50, med);
    return 0;
}

/* ---- shm.thr ------------------------------------------------------------------- */

/*
 * One repetition: a writer process (CPU 1) sends n records of size bytes,
 * one write (or zmq_send) each, as a plain program would; the reader (CPU
 * 0) takes them all. Returns records per second, or a negative errno.
 */
static double peer_rate(enum peer_kind kind, size_t size, uint64_t n)
{
    memset(buf, 0x5a, size);
#ifndef AXLE_BENCH_ZMQ
    if (kind == PEER_ZMQ)
        return -ENOSYS;
#endif
    char ep[96];
    zmq_endpoint(ep, sizeof ep);
    struct chan c = {kind, -1, -1, NULL, NULL};
    int fds[2];
    if (kind == PEER_PIPE && pipe(fds) < 0)
        return -errno;
    if (kind == PEER_SOCKETPAIR && socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0)
        return -errno;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        bench_shm_child(1);
        if (kind == PEER_ZMQ) {
            if (chan_zmq(&c, ep, false) < 0)
                _exit(2);
            for (uint64_t i = 0; i < n; i++)
                if (chan_send(&c, size) < 0)
                    _exit(3);
            chan_close(&c, ep, true);
            _exit(0);
        }
        close(fds[0]);
        for (uint64_t i = 0; i < n; i++)
            if (fd_all(fds[1], buf, size, true) < 0)
                _exit(3);
        _exit(0);
    }
    if (pid < 0)
        return -errno;
    uint64_t want = n * size, got = 0;
    int64_t t0 = 0;
    int rc = 0;
    if (kind == PEER_ZMQ) {
        rc = chan_zmq(&c, ep, true);
        for (uint64_t i = 0; rc == 0 && i < n; i++) {
            rc = chan_recv(&c, size);
            if (i == 0)
                t0 = bench_now();
        }
        chan_close(&c, ep, false);
    } else {
        close(fds[1]);
        while (got < want) {
            ssize_t r = read(fds[0], buf, sizeof buf);
            if (r <= 0) {
                rc = -EIO;
                break;
            }
            if (!got)
                t0 = bench_now();
            got += (uint64_t)r;
        }
        close(fds[0]);
    }
    double secs = (double)(bench_now() - t0) / 1e9;
    rc = bench_reap(pid, rc);
    return rc < 0 ? rc : (double)n / secs;
}

int bench_shm_thr_peers(const char *sc, int size, double ax, uint64_t n)
{
    if (n > 200000)
        n = 200000;
    double med[PEER_IOX + 1] = {0};
    for (int k = PEER_PIPE; k <= PEER_IOX; k++) {
        double r[BENCH_MAX_REPS];
        int rc = 0;
        if (k == PEER_IOX) {
            rc = iox_with_roudi(sc, false, (size_t)size, n, r, NULL, NULL);
        } else {
            for (int i = 0; i < bench_reps() && rc == 0; i++) {
                r[i] = peer_rate((enum peer_kind)k, (size_t)size, n);
                rc = r[i] < 0 ? (int)r[i] : 0;
            }
        }
        if (cannot_run(sc, k, rc))
            continue;
        if (rc < 0)
            return rc;
        med[k] = bench_report_rate(sc, size, peer_names[k], r);
    }
    compare_all(sc, size, "speedup", ax, med);
    return 0;
}
