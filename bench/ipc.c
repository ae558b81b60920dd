/*
 * bench/ipc.c — the control plane: one frame each way over an axle_conn.
 *
 *   ipc.rtt.uds / ipc.rtt.tcp   A client sends a Yield frame carrying a
 *       payload of `size` bytes (64 B, 1 KiB); an echo server in a forked
 *       process (pinned to CPU 1; the client is on CPU 0) receives it,
 *       decodes it, and sends it back; the client receives and decodes the
 *       echo. Each round trip is timed alone: p50/p99/p999 of >= 20,000
 *       round trips per repetition, medians over the repetitions.
 *       Baseline `socketpair` (uds) / `tcp_pingpong` (tcp): the same number
 *       of bytes as the axle frame, written and read back with blocking
 *       write(2)/read(2) on the same kind of socket, echo process and pins.
 *       ratio = axle p50 ÷ baseline p50.
 * Both sides of axle run on io_uring with a parked fiber per wait; the
 * baseline blocks in the kernel: this is the price of a cancellable,
 * framed, decoded message over a raw byte echo.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <axle/ipc.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

enum { RTT_ROUNDS = 20000 };

static const int sizes[] = {64, 1024};

/* ---- the axle echo server (child process) --------------------------------- */

struct echo_child {
    axle_server *s;
    int ready_fd; /* write the bound multiaddr here once listening */
};

static int echo_handler(axle_conn *c, void *arg)
{
    struct echo_child *e = arg;
    axle_msg *m;
    int rc;
    while ((rc = axle_conn_recv(c, &m)) == 0) {
        rc = axle_conn_send(c, m->env);
        axle_msg_free(m);
        if (rc < 0)
            break;
    }
    axle_server_shutdown(e->s); /* one client per run */
    return 0;
}

static int echo_main(void *arg)
{
    struct echo_child *e = arg;
    size_t n;
    const axle_addr *a = axle_server_addrs(e->s, &n);
    char name[AXLE_ADDR_STRLEN];
    int len = axle_addr_format(&a[0], name, sizeof name);
    if (write(e->ready_fd, name, (size_t)len + 1) != len + 1)
        return -EIO;
    close(e->ready_fd);
    return axle_server_serve(e->s, echo_handler, e);
}

/* Fork an echo server listening on maddr; *addr receives where it listens. */
static pid_t start_echo(const char *maddr, axle_addr *addr)
{
    int p[2];
    if (pipe(p) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        close(p[0]);
        bench_pin(1);
        axle_uid uid;
        axle_uid_init(&uid, "echo");
        axle_addr a;
        axle_server_opts o = {.conn = {.uid = &uid}};
        struct echo_child e = {.ready_fd = p[1]};
        if (axle_addr_parse(&a, maddr) < 0 || axle_server_open(&e.s, &a, 1, &o) < 0)
            _exit(2);
        int rc = axle_run(echo_main, &e, NULL);
        axle_server_close(e.s);
        _exit(rc == 0 ? 0 : 3);
    }
    close(p[1]);
    char name[AXLE_ADDR_STRLEN] = {0};
    ssize_t got = read(p[0], name, sizeof name - 1);
    close(p[0]);
    if (got <= 0 || axle_addr_parse(addr, name) < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -EIO;
    }
    return pid;
}

/* ---- the axle client --------------------------------------------------------- */

struct rtt_client {
    const axle_addr *addr;
    int size;
    double p50[BENCH_MAX_REPS], p99[BENCH_MAX_REPS], p999[BENCH_MAX_REPS];
    size_t frame_len; /* bytes of one axle frame, for the baseline */
};

static double lat[RTT_ROUNDS];

static int rtt_rounds(axle_conn *c, const Axle__Envelope *env, int rounds, bool record)
{
    for (int i = 0; i < rounds; i++) {
        int64_t t0 = bench_now();
        int rc = axle_conn_send(c, env);
        if (rc < 0)
            return rc;
        axle_msg *m;
        if ((rc = axle_conn_recv(c, &m)) < 0)
            return rc;
        axle_msg_free(m);
        if (record)
            lat[i] = (double)(bench_now() - t0);
    }
    return 0;
}

static int rtt_client_main(void *arg)
{
    struct rtt_client *r = arg;
    axle_uid uid;
    axle_uid_init(&uid, "bench");
    axle_conn_opts o = {.uid = &uid};
    axle_conn *c;
    int rc = axle_conn_connect(&c, r->addr, &o);
    if (rc < 0)
        return rc;
    static uint8_t pld[1024];
    Axle__Yield y = AXLE__YIELD__INIT;
    y.cid = 1;
    y.pld.data = pld;
    y.pld.len = (size_t)r->size;
    Axle__Envelope env = AXLE__ENVELOPE__INIT;
    env.version = AXLE_PROTO_VERSION;
    env.msg_case = AXLE__ENVELOPE__MSG_YIELD;
    env.yield = &y;
    r->frame_len = 4 + axle_msg_encoded_size(&env);
    int rounds = (int)bench_iters(RTT_ROUNDS);
    if (rounds < 1000)
        rounds = 1000;
    rc = rtt_rounds(c, &env, rounds / 4, false); /* warm-up */
    for (int rep = 0; rc == 0 && rep < bench_reps(); rep++) {
        rc = rtt_rounds(c, &env, rounds, true);
        bench_tails(lat, rounds, &r->p50[rep], &r->p99[rep], &r->p999[rep]);
    }
    axle_conn_close(c);
    return rc;
}

/* ---- the baseline: a blocking byte echo ---------------------------------------- */

static int read_full(int fd, uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = read(fd, buf, len);
        if (n <= 0)
            return -1;
        buf += n, len -= (size_t)n;
    }
    return 0;
}

static int write_full(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n <= 0)
            return -1;
        buf += n, len -= (size_t)n;
    }
    return 0;
}

/* Connected pair: a socketpair, or a loopback TCP connection. */
static int pair(bool tcp, int fds[2])
{
    if (!tcp)
        return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0 ? -errno : 0;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (l < 0 || bind(l, (struct sockaddr *)&sa, len) < 0 || listen(l, 1) < 0 ||
        getsockname(l, (struct sockaddr *)&sa, &len) < 0)
        return -errno;
    fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fds[0], (struct sockaddr *)&sa, len) < 0)
        return -errno;
    fds[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    close(l);
    int one = 1;
    setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fds[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fds[1] < 0 ? -errno : 0;
}

int bench_raw_rtt(bool tcp, size_t len, double *p50, double *p99, double *p999)
{
    int fds[2];
    int rc = pair(tcp, fds);
    if (rc < 0)
        return rc;
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    static uint8_t buf[4096];
    if (pid == 0) {
        close(fds[0]);
        bench_pin(1);
        while (read_full(fds[1], buf, len) == 0 && write_full(fds[1], buf, len) == 0)
            ;
        _exit(0);
    }
    close(fds[1]);
    int rounds = (int)bench_iters(RTT_ROUNDS);
    if (rounds < 1000)
        rounds = 1000;
    for (int rep = -1; rep < bench_reps(); rep++) { /* rep -1: warm-up */
        for (int i = 0; i < rounds; i++) {
            int64_t t0 = bench_now();
            if (write_full(fds[0], buf, len) < 0 || read_full(fds[0], buf, len) < 0) {
                rc = -EIO;
                goto out;
            }
            lat[i] = (double)(bench_now() - t0);
        }
        if (rep >= 0) {
            bench_tails(lat, rounds, &p50[rep], &p99[rep], &p999[rep]);
        }
    }
out:
    close(fds[0]);
    waitpid(pid, NULL, 0);
    return rc;
}

/* ---- scenarios ------------------------------------------------------------------- */

static int run_rtt(const char *scenario, bool tcp)
{
    const char *vs = tcp ? "tcp_pingpong" : "socketpair";
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int size = sizes[k];
        char maddr[AXLE_ADDR_STRLEN];
        if (tcp) {
            snprintf(maddr, sizeof maddr, "/ip4/127.0.0.1/tcp/0");
        } else {
            axle_addr u;
            int rc = axle_addr_unix_default(&u, "bench-echo");
            if (rc < 0)
                return rc;
            axle_addr_format(&u, maddr, sizeof maddr);
        }
        axle_addr addr;
        pid_t pid = start_echo(maddr, &addr);
        if (pid < 0)
            return pid;
        struct rtt_client r = {.addr = &addr, .size = size};
        int rc = axle_run(rtt_client_main, &r, NULL);
        int status;
        waitpid(pid, &status, 0);
        if (rc < 0)
            return rc;
        int n = bench_reps();
        double a50 = bench_measure(scenario, size, "axle", "p50_ns", r.p50, n);
        bench_measure(scenario, size, "axle", "p99_ns", r.p99, n);
        bench_measure(scenario, size, "axle", "p999_ns", r.p999, n);
        double b50v[BENCH_MAX_REPS], b99[BENCH_MAX_REPS], b999[BENCH_MAX_REPS];
        if ((rc = bench_raw_rtt(tcp, r.frame_len, b50v, b99, b999)) < 0) {
            bench_skip(scenario, vs, "could not set up the baseline's sockets");
            continue;
        }
        double b50 = bench_measure(scenario, size, vs, "p50_ns", b50v, n);
        bench_measure(scenario, size, vs, "p99_ns", b99, n);
        bench_measure(scenario, size, vs, "p999_ns", b999, n);
        bench_compare(scenario, size, "axle", vs, "ratio", a50 / b50);
    }
    return 0;
}

static int run_rtt_uds(void) { return run_rtt("ipc.rtt.uds", false); }
static int run_rtt_tcp(void) { return run_rtt("ipc.rtt.tcp", true); }

const bench_scenario bench_ipc_scenarios[] = {
    {"ipc.rtt.uds", "one frame each way over a Unix-socket axle_conn, vs a socketpair echo",
     run_rtt_uds},
    {"ipc.rtt.tcp", "one frame each way over a loopback TCP axle_conn, vs a TCP echo", run_rtt_tcp},
    {0},
};
