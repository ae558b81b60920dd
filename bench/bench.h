/*
 * bench/bench.h — the axle-bench framework: the scenario registry, run-wide
 * settings, timing and pinning helpers, and reporting (a table for people,
 * JSON lines for tools, in the shape BENCH.md fixes).
 *
 * A scenario measures each implementation with bench_reps() timed
 * repetitions (usually through bench_series), hands the samples to
 * bench_measure (which prints and records the median, min and max), then
 * states how axle compares with each baseline through bench_compare.
 *
 * Adding a scenario: write its run function in the area's file and add a
 * row to that file's table. Adding an area: a new file, its table declared
 * below and listed in bench.c's `areas`.
 *
 * A scenario that forks must end its children with _exit(): they inherit
 * the driver's stdout and JSON buffers (flushed before each scenario) and
 * must not write them out a second time.
 */
#ifndef AXLE_BENCH_H
#define AXLE_BENCH_H

#include <stdint.h>
#include <time.h>

typedef struct bench_scenario {
    const char *name; /* as in BENCH.md ("task.switch"); selects it on the command line */
    const char *what; /* one line for --list */
    /* Runs every measurement of the scenario. Returns 0, or a negative axle
     * code when a call failed (-AXLE_ENOURING reports the scenario skipped). */
    int (*run)(void);
} bench_scenario;

/* The scenario tables, one per area file; each ends with a zeroed row. */
extern const bench_scenario bench_task_scenarios[];
extern const bench_scenario bench_uring_scenarios[];
extern const bench_scenario bench_msg_scenarios[];
extern const bench_scenario bench_ipc_scenarios[];
extern const bench_scenario bench_actor_scenarios[];
extern const bench_scenario bench_shm_scenarios[];
extern const bench_scenario bench_context_scenarios[];

/* The most repetitions any run makes; sizes sample arrays. */
enum { BENCH_MAX_REPS = 9 };

/* Timed repetitions per measurement: 9, or 5 under --quick (always >= 5). */
int bench_reps(void);
/* An iteration count: full, or full / 20 (at least 1) under --quick. */
uint64_t bench_iters(uint64_t full);

/* Nanoseconds on CLOCK_MONOTONIC (the clock axle_now reads). */
static inline int64_t bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * bench_pin — pin the calling thread to cpu (modulo the CPUs online). The
 * framework pins the main thread to CPU 0 before each scenario; threads
 * inherit their creator's pinning. A failure is warned about once and the
 * run goes on unpinned.
 */
void bench_pin(int cpu);

/*
 * bench_series — one untimed warm-up round, then bench_reps() timed rounds
 * of round(arg, n); samples[r] = round r's elapsed ns / (n * ops_per_n).
 * Returns: 0, or the first negative code a round returned.
 */
int bench_series(int (*round)(void *arg, uint64_t n), void *arg, uint64_t n, double ops_per_n,
                 double *samples);

/*
 * bench_quantile — the q-quantile (0..1) of v[0..n), nearest rank.
 * Sorts v in place. n must be > 0.
 */
double bench_quantile(double *v, int n, double q);

/* bench_tails — p50, p99 and (p999 not NULL) p999 of v[0..n), sorting it once. */
void bench_tails(double *v, int n, double *p50, double *p99, double *p999);

/*
 * bench_measure — report one measurement: median, min and max of the n
 * samples (one per repetition), in the unit the metric names (ns_per_op,
 * p50_ns, p99_ns, p999_ns, msgs_per_s, bytes_per_s).
 *   samples: borrowed; reordered.
 *   size: payload bytes, or 0 where nothing varies.
 * Returns: the median.
 */
double bench_measure(const char *scenario, int size, const char *impl, const char *metric,
                     double *samples, int n);

/*
 * bench_compare — report how impl compares with the baseline vs:
 *   metric "ratio": impl's cost ÷ the baseline's (lower is better);
 *   metric "speedup": impl's rate ÷ the baseline's (higher is better).
 */
void bench_compare(const char *scenario, int size, const char *impl, const char *vs,
                   const char *metric, double value);

/*
 * bench_raw_rtt — the baseline echo (ipc.c): len bytes written and read
 * back over a socketpair (tcp false) or loopback TCP, echoed by a forked
 * process on CPU 1; per repetition p50/p99/p999 in ns.
 * Returns: 0 or a negative errno.
 */
#include <stdbool.h>
#include <stddef.h>
int bench_raw_rtt(bool tcp, size_t len, double *p50, double *p99, double *p999);

/* bench_skip — report that impl could not run in scenario, and why. */
void bench_skip(const char *scenario, const char *impl, const char *why);

/*
 * bench_child_open — inside a root: a daemon child actor named name, in its
 * own actor nursery, running bench.* and benchctx.*, pinned to CPU 1; with
 * tcp it listens on loopback TCP too and c->tcp is a portal found there by
 * name (else NULL). c->link is the nursery's portal. bench_child_close
 * cancels and reaps it (c as left by open, also after its failure) and
 * returns rc, or the nursery's error when rc is 0. (actor.c)
 * Returns: 0 or a negative errno.
 */
typedef struct axle_actor_nursery axle_actor_nursery;
typedef struct axle_portal axle_portal;
struct bench_child {
    axle_actor_nursery *an;
    axle_portal *link;
    axle_portal *tcp;
};
int bench_child_open(struct bench_child *c, const char *name, bool tcp);
int bench_child_close(struct bench_child *c, int rc);

/* ---- shared by the shm area's files (shm.c, shm_peers.c, iox.c) ---- */

#include <sys/types.h>

/* In a forked child: die with the parent (SIGKILL), pin to cpu. */
void bench_shm_child(int cpu);
/* Wait for child pid (killing it first when rc < 0); rc, or -EIO when it
 * did not exit 0, or -errno. */
int bench_reap(pid_t pid, int rc);
/* Report rate[0..bench_reps()) as msgs_per_s and bytes_per_s; returns the msgs/s median. */
double bench_report_rate(const char *scenario, int size, const char *impl, const double *rate);

/* shm_peers.c: pipe, socketpair, ZeroMQ ipc and iceoryx at size, reported
 * with their ratio to axle's p50 (rtt) or speedup of axle's rate (thr, n
 * records a repetition, at most 200 k). Returns 0 or a negative errno. */
int bench_shm_rtt_peers(const char *scenario, int size, double axle_p50);
int bench_shm_thr_peers(const char *scenario, int size, double axle_rate, uint64_t n);

/* iox.c: iox-roudi started (0) or not (negative; bench_iox_why says why),
 * stopped; a ping-pong (per repetition p50/p99/p999 in ns) and a one-way
 * rate of n records (per repetition msgs/s) over iceoryx's C binding.
 * -ENOSYS when iceoryx cannot run (not built in, RouDi not up). */
int bench_iox_start(void);
void bench_iox_stop(void);
const char *bench_iox_why(void);
int bench_iox_rtt(size_t size, double *p50, double *p99, double *p999);
int bench_iox_rate(size_t size, uint64_t n, double *rate);

#endif
