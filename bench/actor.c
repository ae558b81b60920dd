/*
 * bench/actor.c — the actor runtime: spawning, RPC, cancelling trees.
 *
 *   spawn.fork / spawn.exec / spawn.forkserver
 *       One op: axle_start_actor (process created, connected back,
 *       handshaked, SpawnSpec sent) and the first axle_portal_run answered.
 *       The child's cancel and reaping afterwards are not timed.
 *       Baselines: `fork_raw` = fork + _exit(0) + waitpid; `posix_spawn` =
 *       posix_spawn("/bin/true") + waitpid. ratio = axle ÷ baseline.
 *   rpc.rtt.uds / rpc.rtt.tcp
 *       One op: axle_portal_run of an echo with a 64 B argument, to a daemon
 *       child pinned to CPU 1 (the root is on 0): over its link to the root
 *       (a Unix socketpair), or over loopback TCP through a portal from
 *       axle_find_actor to the child listening there; p50/p99/p999 of
 *       20,000 calls per repetition. Baseline: the
 *       same bytes as one frame through a blocking socketpair / TCP echo
 *       (ipc.c's), ratio = axle p50 ÷ baseline p50.
 *   cancel.tree (size = N = 1, 16, 128)
 *       One op: cancelling a nursery of N idle daemons until every one is
 *       reaped (axle_actor_nursery_cancel + close), per tree. Baseline
 *       `fork_raw`: N × (fork + _exit + waitpid), sequentially.
 * Children are not pinned; the root is on CPU 0.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <axle/actor.h>
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int b_echo(const void *args, size_t len, axle_buf *ret)
{
    return axle_buf_set(ret, args, len);
}
AXLE_EXPORT("bench.echo", b_echo)

/* Exported: pin the callee to the CPU given (BENCH.md: the sides on 0 and 1). */
static int b_pin(const void *args, size_t len, axle_buf *ret)
{
    (void)ret;
    int32_t cpu = 1;
    if (len == sizeof cpu)
        memcpy(&cpu, args, sizeof cpu);
    bench_pin(cpu);
    return 0;
}
AXLE_EXPORT("bench.pin", b_pin)

/* What a bench child runs: this file's functions and bench/context.c's. */
static const char *const MODS[] = {"bench", "benchctx"};

int bench_child_open(struct bench_child *c, const char *name, bool tcp)
{
    const char *addr[] = {"/ip4/127.0.0.1/tcp/0"};
    *c = (struct bench_child){0};
    int rc = axle_actor_nursery_open(&c->an);
    if (rc < 0)
        return rc;
    axle_spawn_opts o = {.name = name, .enable_modules = MODS, .n_enable_modules = 2};
    if (tcp)
        o.bind_addrs = addr, o.n_bind_addrs = 1;
    rc = axle_start_actor(c->an, &o, &c->link);
    int32_t cpu = 1;
    if (rc == 0)
        rc = axle_portal_run(c->link, "bench.pin", &cpu, sizeof cpu, NULL);
    for (int i = 0; rc == 0 && tcp && i < 500; i++) { /* it registers as it starts */
        if ((rc = axle_find_actor(name, &c->tcp)) != -ENOENT)
            break;
        rc = axle_sleep(2 * 1000000);
    }
    if (rc == 0 && tcp && !c->tcp)
        rc = -ENOENT; /* never found: rc is 0 after the last sleep */
    return rc;
}

int bench_child_close(struct bench_child *c, int rc)
{
    if (c->tcp)
        axle_portal_close(c->tcp);
    if (!c->an)
        return rc; /* the nursery never opened */
    axle_actor_nursery_cancel(c->an);
    int crc = axle_actor_nursery_close(c->an, rc);
    return rc < 0 ? rc : crc;
}

/* ---- baselines ------------------------------------------------------------- */

static double fork_raw_ns(int n)
{
    int64_t t0 = bench_now();
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0)
            _exit(0);
        waitpid(p, NULL, 0);
    }
    return (double)(bench_now() - t0) / n;
}

static double posix_spawn_ns(int n)
{
    char *argv[] = {"/bin/true", NULL};
    int64_t t0 = bench_now();
    for (int i = 0; i < n; i++) {
        pid_t p;
        if (posix_spawn(&p, "/bin/true", NULL, NULL, argv, environ) != 0)
            return -1;
        waitpid(p, NULL, 0);
    }
    return (double)(bench_now() - t0) / n;
}

/* ---- spawn.* ------------------------------------------------------------------ */

struct spawn_run {
    const char *method;
    int n; /* spawns per repetition */
    double *samples;
};

/* Times only start + first RPC: the cancel and reap are subtracted out. */
static int spawn_timed(void *arg, uint64_t n)
{
    struct spawn_run *r = arg;
    double total = 0;
    for (uint64_t i = 0; i < n; i++) {
        axle_actor_nursery *an;
        int rc = axle_actor_nursery_open(&an);
        if (rc < 0)
            return rc;
        axle_spawn_opts o = {.name = "bench-child",
                             .enable_modules = MODS,
                             .n_enable_modules = 1,
                             .spawn_method = r->method};
        axle_portal *p;
        int64_t t0 = bench_now();
        rc = axle_start_actor(an, &o, &p);
        if (rc == 0)
            rc = axle_portal_run(p, "bench.echo", "x", 1, NULL);
        total += (double)(bench_now() - t0);
        axle_actor_nursery_cancel(an);
        int crc = axle_actor_nursery_close(an, rc);
        if (rc < 0 || crc < 0)
            return rc < 0 ? rc : crc;
    }
    if (r->n >= 0)
        r->samples[r->n] = total / (double)n;
    r->n++;
    return 0;
}

static int spawn_main(void *arg)
{
    struct spawn_run *r = arg;
    uint64_t n = bench_iters(100);
    if (n < 5)
        n = 5;
    r->n = -1; /* the warm-up round records nothing */
    int rc = spawn_timed(r, 2);
    for (int rep = 0; rc == 0 && rep < bench_reps(); rep++)
        rc = spawn_timed(r, n);
    return rc;
}

static int run_spawn(const char *method, const char *scenario)
{
    double s[BENCH_MAX_REPS];
    struct spawn_run r = {method, 0, s};
    axle_actor_opts o = {.name = "bench-root"};
    int rc = axle_root(&o, spawn_main, &r);
    if (rc < 0)
        return rc;
    double a = bench_measure(scenario, 0, "axle", "ns_per_op", s, bench_reps());
    int n = (int)bench_iters(200);
    if (n < 20)
        n = 20;
    double f[BENCH_MAX_REPS], ps[BENCH_MAX_REPS];
    for (int i = 0; i < bench_reps(); i++) {
        f[i] = fork_raw_ns(n);
        ps[i] = posix_spawn_ns(n);
    }
    double fb = bench_measure(scenario, 0, "fork_raw", "ns_per_op", f, bench_reps());
    double pb = bench_measure(scenario, 0, "posix_spawn", "ns_per_op", ps, bench_reps());
    bench_compare(scenario, 0, "axle", "fork_raw", "ratio", a / fb);
    bench_compare(scenario, 0, "axle", "posix_spawn", "ratio", a / pb);
    return 0;
}

static int run_spawn_fork(void) { return run_spawn("fork", "spawn.fork"); }
static int run_spawn_exec(void) { return run_spawn("exec", "spawn.exec"); }
static int run_spawn_forkserver(void) { return run_spawn("forkserver", "spawn.forkserver"); }

/* ---- rpc.rtt.* ------------------------------------------------------------------ */

enum { RPC_ROUNDS = 20000 };
static double lat[RPC_ROUNDS];

struct rpc_run {
    bool tcp;
    double p50[BENCH_MAX_REPS], p99[BENCH_MAX_REPS], p999[BENCH_MAX_REPS];
};

static int rpc_main(void *arg)
{
    struct rpc_run *r = arg;
    struct bench_child c;
    int rc = bench_child_open(&c, "echo", r->tcp);
    axle_portal *p = r->tcp ? c.tcp : c.link; /* over TCP, the portal found where it listens */
    static uint8_t arg64[64];
    axle_buf b = {0};
    int rounds = (int)bench_iters(RPC_ROUNDS);
    if (rounds < 1000)
        rounds = 1000;
    for (int i = 0; rc == 0 && i < rounds / 4; i++) /* warm-up */
        rc = axle_portal_run(p, "bench.echo", arg64, sizeof arg64, &b);
    for (int rep = 0; rc == 0 && rep < bench_reps(); rep++) {
        for (int i = 0; rc == 0 && i < rounds; i++) {
            int64_t t0 = bench_now();
            rc = axle_portal_run(p, "bench.echo", arg64, sizeof arg64, &b);
            lat[i] = (double)(bench_now() - t0);
        }
        bench_tails(lat, rounds, &r->p50[rep], &r->p99[rep], &r->p999[rep]);
    }
    axle_buf_free(&b);
    return bench_child_close(&c, rc);
}

static int run_rpc(const char *scenario, bool tcp)
{
    struct rpc_run r = {.tcp = tcp};
    axle_actor_opts o = {.name = "bench-root"};
    int rc = axle_root(&o, rpc_main, &r);
    if (rc < 0)
        return rc;
    int n = bench_reps();
    double a = bench_measure(scenario, 64, "axle", "p50_ns", r.p50, n);
    bench_measure(scenario, 64, "axle", "p99_ns", r.p99, n);
    bench_measure(scenario, 64, "axle", "p999_ns", r.p999, n);
    double b50[BENCH_MAX_REPS], b99[BENCH_MAX_REPS], b999[BENCH_MAX_REPS];
    const char *vs = tcp ? "tcp_pingpong" : "socketpair";
    /* The baseline moves the bytes of one axle Start frame each way. */
    if (bench_raw_rtt(tcp, 4 + 100, b50, b99, b999) < 0) {
        bench_skip(scenario, vs, "could not set up the baseline's sockets");
        return 0;
    }
    double b = bench_measure(scenario, 64, vs, "p50_ns", b50, n);
    bench_measure(scenario, 64, vs, "p99_ns", b99, n);
    bench_measure(scenario, 64, vs, "p999_ns", b999, n);
    bench_compare(scenario, 64, "axle", vs, "ratio", a / b);
    return 0;
}

static int run_rpc_uds(void) { return run_rpc("rpc.rtt.uds", false); }
static int run_rpc_tcp(void) { return run_rpc("rpc.rtt.tcp", true); }

/* ---- cancel.tree --------------------------------------------------------------- */

struct tree_run {
    int n;
    double samples[BENCH_MAX_REPS];
};

static int tree_main(void *arg)
{
    struct tree_run *r = arg;
    int rc = 0;
    for (int rep = -1; rc == 0 && rep < bench_reps(); rep++) { /* rep -1: warm-up */
        axle_actor_nursery *an;
        if ((rc = axle_actor_nursery_open(&an)) < 0)
            return rc;
        for (int i = 0; rc == 0 && i < r->n; i++) {
            char name[16];
            snprintf(name, sizeof name, "leaf-%d", i);
            axle_spawn_opts o = {.name = name};
            axle_portal *p;
            rc = axle_start_actor(an, &o, &p);
        }
        int64_t t0 = bench_now();
        axle_actor_nursery_cancel(an);
        int crc = axle_actor_nursery_close(an, rc);
        if (rep >= 0)
            r->samples[rep] = (double)(bench_now() - t0);
        if (rc == 0)
            rc = crc;
    }
    return rc;
}

static int run_tree(void)
{
    static const int sizes[] = {1, 16, 128};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        struct tree_run r = {.n = sizes[k]};
        axle_actor_opts o = {.name = "bench-root"};
        int rc = axle_root(&o, tree_main, &r);
        if (rc < 0)
            return rc;
        double a = bench_measure("cancel.tree", r.n, "axle", "ns_per_op", r.samples, bench_reps());
        double f[BENCH_MAX_REPS];
        for (int i = 0; i < bench_reps(); i++)
            f[i] = fork_raw_ns(r.n) * r.n;
        double b = bench_measure("cancel.tree", r.n, "fork_raw", "ns_per_op", f, bench_reps());
        bench_compare("cancel.tree", r.n, "axle", "fork_raw", "ratio", a / b);
    }
    return 0;
}

const bench_scenario bench_actor_scenarios[] = {
    {"spawn.fork", "start_actor + first RPC answered, fork backend", run_spawn_fork},
    {"spawn.exec", "start_actor + first RPC answered, exec backend", run_spawn_exec},
    {"spawn.forkserver", "start_actor + first RPC answered, forkserver backend",
     run_spawn_forkserver},
    {"rpc.rtt.uds", "portal_run of a 64 B echo over a Unix socket", run_rpc_uds},
    {"rpc.rtt.tcp", "portal_run of a 64 B echo over loopback TCP", run_rpc_tcp},
    {"cancel.tree", "cancel a nursery of N daemons until all are reaped", run_tree},
    {0},
};
