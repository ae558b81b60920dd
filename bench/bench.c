/*
 * bench/bench.c — axle-bench's driver: command line, scenario selection,
 * and the two reports.
 *
 *   axle-bench [--quick] [--list] [--json FILE] [SCENARIO...]
 *
 * A SCENARIO argument selects the scenario of that name, or every scenario
 * under it ("task" selects task.switch, task.spawn, ...). Nothing selected
 * means everything.
 *
 * Reports. For people, a table on stdout: one row per (scenario, size,
 * impl) holding the median with min..max, the p99 when the scenario
 * measures latency percentiles, and each comparison with a baseline. Rows
 * are assembled as measurements arrive and printed when the next row
 * starts, so a scenario reports in any order that keeps a row's lines
 * together. For tools, JSON lines (BENCH.md's shape) to --json FILE or, by
 * default, <repo>/bench/results/latest.jsonl, truncated at each run. The
 * repo root is AXLE_SOURCE_DIR when the build defines it, else the first
 * directory holding include/axle/task.h above the working directory or
 * the executable. The file's first line describes the run (machine, date,
 * quick); it has no "scenario" key, so `select(.scenario == ...)` skips it.
 *
 * Fork story: the globals (settings, the row being assembled, the JSON
 * stream) belong to this process; see bench.h for what a forking scenario
 * does about its children.
 *
 * Exit status: 0; 1 when a scenario failed (an axle call returned an
 * error); 2 on a usage error. Nothing here judges performance.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <axle/actor.h>

#include <axle/error.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

static const bench_scenario *const areas[] = {
    bench_task_scenarios,  bench_uring_scenarios,   bench_msg_scenarios, bench_ipc_scenarios,
    bench_actor_scenarios, bench_context_scenarios, bench_shm_scenarios};
#define NAREAS (sizeof areas / sizeof areas[0])

static bool quick; /* --quick */
static FILE *json; /* JSON-lines output, or NULL when none could be opened */

int bench_reps(void) { return quick ? 5 : BENCH_MAX_REPS; }

uint64_t bench_iters(uint64_t full) { return !quick ? full : full / 20 ? full / 20 : 1; }

void bench_pin(int cpu)
{
    static bool warned;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((size_t)(n > 0 ? cpu % n : 0), &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0 && !warned) {
        warned = true;
        fprintf(stderr, "axle-bench: cannot pin to CPU %d (%s); running unpinned\n", cpu,
                strerror(errno));
    }
}

int bench_series(int (*round)(void *arg, uint64_t n), void *arg, uint64_t n, double ops_per_n,
                 double *samples)
{
    int rc = round(arg, n);
    for (int r = 0; rc == 0 && r < bench_reps(); r++) {
        int64_t t0 = bench_now();
        rc = round(arg, n);
        samples[r] = (double)(bench_now() - t0) / ((double)n * ops_per_n);
    }
    return rc < 0 ? rc : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of v[0..n), already sorted, nearest rank. */
static double sorted_quantile(const double *v, int n, double q)
{
    int rank = (int)ceil(q * n);
    return v[rank < 1 ? 0 : rank > n ? n - 1 : rank - 1];
}

double bench_quantile(double *v, int n, double q)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return sorted_quantile(v, n, q);
}

void bench_tails(double *v, int n, double *p50, double *p99, double *p999)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    *p50 = sorted_quantile(v, n, 0.50);
    *p99 = sorted_quantile(v, n, 0.99);
    if (p999)
        *p999 = sorted_quantile(v, n, 0.999);
}

/* ---- the table -------------------------------------------------------- */

/* The row being assembled. Invariant: open is false or every key is set. */
static struct {
    bool open;
    char scenario[40]; /* key */
    int size;          /* key */
    char impl[24];     /* key */
    char median[24];   /* the main metric's median, with its unit */
    char range[40];    /* "min .. max" of the main metric */
    char p99[24];      /* the p99_ns median, or empty */
    char vs[160];      /* comparisons, "; "-separated */
} row;

static const char table_fmt[] = "%-22s %7s  %-12s %12s  %-24s %10s  %s\n";

static void row_flush(void)
{
    if (!row.open)
        return;
    char size[16];
    snprintf(size, sizeof size, "%d", row.size);
    printf(table_fmt, row.scenario, size, row.impl, row.median, row.range,
           row.p99[0] ? row.p99 : "-", row.vs);
    row.open = false;
}

/* Make (scenario, size, impl) the open row, printing the previous one. */
static void row_select(const char *scenario, int size, const char *impl)
{
    if (row.open && row.size == size && !strcmp(row.scenario, scenario) && !strcmp(row.impl, impl))
        return;
    row_flush();
    memset(&row, 0, sizeof row);
    row.open = true;
    snprintf(row.scenario, sizeof row.scenario, "%s", scenario);
    row.size = size;
    snprintf(row.impl, sizeof row.impl, "%s", impl);
}

static bool is_rate(const char *metric)
{
    size_t n = strlen(metric);
    return n > 6 && !strcmp(metric + n - 6, "_per_s");
}

/* v in metric's unit, scaled for reading: "18.2 ns", "3.40 us", "12.1 M msg/s". */
static void fmt_value(char *buf, size_t len, const char *metric, double v)
{
    if (is_rate(metric)) {
        const char *unit = !strcmp(metric, "bytes_per_s") ? "B/s" : "msg/s";
        const char *scale = v >= 1e9 ? "G" : v >= 1e6 ? "M" : v >= 1e3 ? "k" : "";
        double div = v >= 1e9 ? 1e9 : v >= 1e6 ? 1e6 : v >= 1e3 ? 1e3 : 1;
        snprintf(buf, len, "%.3g %s%s", v / div, scale, unit);
    } else if (v < 1e3) {
        snprintf(buf, len, "%.1f ns", v);
    } else if (v < 1e6) {
        snprintf(buf, len, "%.2f us", v / 1e3);
    } else if (v < 1e9) {
        snprintf(buf, len, "%.2f ms", v / 1e6);
    } else {
        snprintf(buf, len, "%.2f s", v / 1e9);
    }
}

/* ---- JSON lines ------------------------------------------------------- */

/* A number as JSON: no exponent for the usual magnitudes, null if not finite. */
static void json_number(double v)
{
    if (!isfinite(v))
        fputs("null", json);
    else
        fprintf(json, fabs(v) >= 100 ? "%.1f" : "%.4g", v);
}

/* A string as JSON; control characters become spaces. */
static void json_string(const char *s)
{
    fputc('"', json);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', json);
        fputc((unsigned char)*s < 0x20 ? ' ' : *s, json);
    }
    fputc('"', json);
}

static void json_key(const char *key, const char *sep) { fprintf(json, "%s\"%s\":", sep, key); }

static void json_head(const char *scenario, int size, const char *impl)
{
    fputs("{\"scenario\":", json);
    json_string(scenario);
    fprintf(json, ",\"size\":%d,\"impl\":", size);
    json_string(impl);
}

/* ---- reporting ------------------------------------------------------- */

double bench_measure(const char *scenario, int size, const char *impl, const char *metric,
                     double *samples, int n)
{
    double median = bench_quantile(samples, n, 0.5);
    double min = samples[0], max = samples[n - 1];

    row_select(scenario, size, impl);
    if (!strcmp(metric, "p99_ns")) {
        fmt_value(row.p99, sizeof row.p99, metric, median);
    } else if (strcmp(metric, "p999_ns")) { /* p99.9 goes to the JSON only */
        char lo[16], hi[16];
        fmt_value(row.median, sizeof row.median, metric, median);
        fmt_value(lo, sizeof lo, metric, min);
        fmt_value(hi, sizeof hi, metric, max);
        snprintf(row.range, sizeof row.range, "%s .. %s", lo, hi);
    }

    if (json) {
        json_head(scenario, size, impl);
        json_key("metric", ",");
        json_string(metric);
        json_key("value", ",");
        json_number(median);
        fprintf(json, ",\"runs\":%d", n);
        json_key("min", ",");
        json_number(min);
        json_key("max", ",");
        json_number(max);
        fputs("}\n", json);
    }
    return median;
}

void bench_compare(const char *scenario, int size, const char *impl, const char *vs,
                   const char *metric, double value)
{
    char text[64];
    if (!strcmp(metric, "speedup"))
        snprintf(text, sizeof text, "%.3gx the rate of %s", value, vs);
    else if (value > 0 && value < 1)
        snprintf(text, sizeof text, "%.3g of %s (%.*fx faster)", value, vs, value < 0.01 ? 0 : 1,
                 1 / value);
    else
        snprintf(text, sizeof text, "%.3g of %s", value, vs);

    row_select(scenario, size, impl);
    size_t used = strlen(row.vs);
    snprintf(row.vs + used, sizeof row.vs - used, "%s%s", used ? "; " : "", text);

    if (json) {
        json_head(scenario, size, impl);
        json_key("vs", ",");
        json_string(vs);
        json_key("metric", ",");
        json_string(metric);
        json_key("value", ",");
        json_number(value);
        fputs("}\n", json);
    }
}

void bench_skip(const char *scenario, const char *impl, const char *why)
{
    row_flush();
    printf("%-22s %7s  %-12s skipped: %s\n", scenario, "-", impl, why);
    if (json) {
        fputs("{\"scenario\":", json);
        json_string(scenario);
        json_key("impl", ",");
        json_string(impl);
        json_key("skipped", ",");
        json_string(why);
        fputs("}\n", json);
    }
}

/* ---- the run ---------------------------------------------------------- */

static void cpu_model(char *buf, size_t len)
{
    char line[256];
    FILE *f = fopen("/proc/cpuinfo", "r");
    snprintf(buf, len, "unknown CPU");
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!strncmp(line, "model name", 10) && colon) {
            snprintf(buf, len, "%s", colon + 2);
            buf[strcspn(buf, "\n")] = '\0';
            break;
        }
    }
    if (f)
        fclose(f);
}

/* The machine line, on stdout and as the JSON file's first line. */
static void report_machine(void)
{
    char cpu[128], date[32];
    struct utsname u;
    time_t now = time(NULL);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    cpu_model(cpu, sizeof cpu);
    if (uname(&u) < 0)
        snprintf(u.release, sizeof u.release, "unknown");
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));

    printf("axle-bench %s | %s, %ld CPUs | Linux %s%s\n", date, cpu, ncpu, u.release,
           quick ? " | --quick" : "");
    printf("median of %d repetitions; ratio = axle's cost / the baseline's (lower is better)\n\n",
           bench_reps());
    printf(table_fmt, "scenario", "size", "impl", "median", "min .. max", "p99", "vs baseline");

    if (json) {
        fputs("{\"machine\":", json);
        json_string(cpu);
        fprintf(json, ",\"cpus\":%ld,\"kernel\":", ncpu);
        json_string(u.release);
        json_key("date", ",");
        json_string(date);
        fprintf(json, ",\"quick\":%s}\n", quick ? "true" : "false");
    }
}

static bool is_root(const char *dir)
{
    char path[PATH_MAX + 32];
    struct stat st;
    snprintf(path, sizeof path, "%s/include/axle/task.h", dir);
    if (stat(path, &st) < 0)
        return false;
    snprintf(path, sizeof path, "%s/bench", dir);
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Walk up from dir (modified in place) to the repo root. */
static bool walk_up_to_root(char *dir)
{
    for (;;) {
        if (is_root(dir))
            return true;
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir)
            return false;
        *slash = '\0';
    }
}

static bool find_root(char root[PATH_MAX])
{
#ifdef AXLE_SOURCE_DIR
    snprintf(root, PATH_MAX, "%s", AXLE_SOURCE_DIR);
    if (is_root(root))
        return true;
#endif
    if (getcwd(root, PATH_MAX) && walk_up_to_root(root))
        return true;
    ssize_t n = readlink("/proc/self/exe", root, PATH_MAX - 1);
    if (n <= 0)
        return false;
    root[n] = '\0';
    return walk_up_to_root(root);
}

/* Opens the JSON output; returns its path, or NULL (warned) when none. */
static const char *open_json(const char *path)
{
    static char buf[PATH_MAX + 64];
    if (!path) {
        char root[PATH_MAX];
        if (!find_root(root)) {
            fprintf(stderr, "axle-bench: repo root not found; no JSON written (use --json FILE)\n");
            return NULL;
        }
        snprintf(buf, sizeof buf, "%s/bench/results", root);
        if (mkdir(buf, 0777) < 0 && errno != EEXIST) {
            fprintf(stderr, "axle-bench: mkdir %s: %s\n", buf, strerror(errno));
            return NULL;
        }
        strcat(buf, "/latest.jsonl");
        path = buf;
    }
    json = fopen(path, "w");
    if (!json) {
        fprintf(stderr, "axle-bench: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    return path;
}

/* Whether the command-line name sel selects the scenario named name. */
static bool selects(const char *sel, const char *name)
{
    size_t n = strlen(sel);
    return !strncmp(sel, name, n) && (name[n] == '\0' || name[n] == '.');
}

static bool selected(const char *name, char **sels, int nsels)
{
    for (int i = 0; i < nsels; i++)
        if (selects(sels[i], name))
            return true;
    return nsels == 0;
}

static void usage(FILE *f)
{
    fputs("usage: axle-bench [--quick] [--list] [--json FILE] [SCENARIO...]\n"
          "  SCENARIO   a scenario name, or a prefix such as \"task\" (default: all)\n"
          "  --list     list the scenarios and exit\n"
          "  --quick    fewer repetitions and iterations (a CI smoke run)\n"
          "  --json F   write JSON lines to F (default: bench/results/latest.jsonl)\n",
          f);
}

static void report_failure(const char *name, int rc)
{
    const axle_error *e = axle_error_last();
    fprintf(stderr, "axle-bench: %s failed: %s (%s)\n", name, axle_errname(rc), axle_strerror(rc));
    if (e && axle_error_code(e) == rc) {
        char msg[1024];
        axle_error_format(e, msg, sizeof msg);
        fprintf(stderr, "%s\n", msg);
    }
}

int main(int argc, char **argv)
{
    /* The exec spawn backend re-runs this binary as a child actor. */
    if (argc > 1 && strcmp(argv[1], "--axle-child") == 0)
        return axle_main(argc, argv, NULL, NULL, NULL);
    const char *json_path = NULL;
    bool list = false;
    char **sels = argv; /* selections, compacted over the arguments already read */
    int nsels = 0;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            quick = true;
        } else if (!strcmp(argv[i], "--list")) {
            list = true;
        } else if (!strcmp(argv[i], "--json") && i + 1 < argc) {
            json_path = argv[++i];
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            usage(stderr);
            return 2;
        } else {
            sels[nsels++] = argv[i];
        }
    }

    for (int i = 0; i < nsels; i++) {
        bool known = false;
        for (size_t a = 0; a < NAREAS; a++)
            for (const bench_scenario *s = areas[a]; s->name; s++)
                known |= selects(sels[i], s->name);
        if (!known) {
            fprintf(stderr, "axle-bench: no scenario '%s' (see --list)\n", sels[i]);
            return 2;
        }
    }

    if (list) {
        for (size_t a = 0; a < NAREAS; a++)
            for (const bench_scenario *s = areas[a]; s->name; s++)
                if (selected(s->name, sels, nsels))
                    printf("%-22s %s\n", s->name, s->what);
        return 0;
    }

    json_path = open_json(json_path);
    report_machine();

    int status = 0;
    for (size_t a = 0; a < NAREAS; a++) {
        for (const bench_scenario *s = areas[a]; s->name; s++) {
            if (!selected(s->name, sels, nsels))
                continue;
            bench_pin(0);
            fflush(NULL); /* nothing buffered for a forked child to repeat */
            int rc = s->run();
            if (rc == -AXLE_ENOURING) {
                const axle_error *e = axle_error_last();
                bench_skip(s->name, "axle",
                           e && axle_error_code(e) == rc ? axle_error_message(e)
                                                         : axle_strerror(rc));
            } else if (rc < 0) {
                row_flush();
                report_failure(s->name, rc);
                status = 1;
            }
        }
    }
    row_flush();

    if (json) {
        fclose(json);
        printf("\nJSON lines: %s\n", json_path);
    }
    return status;
}
