/*
 * bench/iox.c — iceoryx, a baseline of shm.rtt and shm.thr: the C binding's
 * publisher/subscriber (iox_pub / iox_sub) between two processes, with the
 * RouDi daemon (iox-roudi) the bench starts and stops itself.
 *
 * Compiled in only when CMake found the binding (AXLE_BENCH_IOX; sh
 * scripts/deps.sh bench installs it); else every entry point reports why
 * it cannot run and shm.c skips the iceoryx rows.
 *
 * The library is dlopen()ed in the two measuring children only, never in
 * axle-bench itself: linking iceoryx's C++ libraries into the program
 * costs about 2.5 ms of static initialisation at every exec (spawn.exec
 * re-executes this binary), and an iceoryx runtime (a keep-alive thread,
 * a registration with RouDi) must not outlive its RouDi in the driver.
 *
 * RouDi: bench_iox_start fork+execs `iox-roudi -c CONFIG -m off -l
 * warning` (its own small mempool config; monitoring off since the
 * children _exit), waits until its log says it is ready, and
 * bench_iox_stop ends it by pid: SIGTERM, then SIGKILL after 5 s (and
 * SIGTERM if the bench dies first). RouDi owns fixed names:
 * /dev/shm/iceoryx_mgmt, /dev/shm/<user>, /tmp/roudi, /tmp/roudi.lock and
 * /tmp/iox-unique-roudi.lock; a SIGTERMed RouDi removes them itself, a
 * killed or aborted one does not, so then the bench removes them (they
 * are ours: a second RouDi cannot come up while another holds the lock).
 * Each client runtime also binds /tmp/<runtime name> (and a .lock), which
 * it removes as it closes; the bench removes what a killed one left.
 *
 * Measurements (each in two children forked for it: the driver side on
 * CPU 0 writing its samples to a shared page, the peer on CPU 1):
 *   rtt: the driver loans a chunk, copies the payload in, publishes on
 *     "ping"; the peer busy-polls iox_sub_take_chunk, loans, copies,
 *     publishes on "pong", releases; the driver busy-polls for the pong,
 *     copies it out, releases. Busy-poll on both sides (no waitset), as
 *     axle's shm.rtt does.
 *   rate: the peer streams n records (loan, copy in, publish) to the
 *     driver (take, copy out, release, busy-polling); the subscriber queue
 *     holds 256 chunks with BLOCK_PRODUCER and the publisher
 *     WAIT_FOR_CONSUMER, so nothing is dropped (the back-pressure axle's
 *     ring has).
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef AXLE_BENCH_IOX

int bench_iox_start(void) { return -ENOSYS; }

const char *bench_iox_why(void)
{
    return "built without iceoryx (sh scripts/deps.sh bench, then re-run cmake)";
}

void bench_iox_stop(void) {}

int bench_iox_rtt(size_t size, double *p50, double *p99, double *p999)
{
    (void)size, (void)p50, (void)p99, (void)p999;
    return -ENOSYS;
}

int bench_iox_rate(size_t size, uint64_t n, double *rate)
{
    (void)size, (void)n, (void)rate;
    return -ENOSYS;
}

#else

#include <dlfcn.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <sys/prctl.h>

#include "iceoryx_binding_c/log.h"
#include "iceoryx_binding_c/publisher.h"
#include "iceoryx_binding_c/runtime.h"
#include "iceoryx_binding_c/subscriber.h"

#ifndef AXLE_BENCH_IOX_LIB
#define AXLE_BENCH_IOX_LIB "libiceoryx_binding_c.so.2"
#endif

enum { RTT_ROUNDS = 20000, QUEUE = 256 };
#define READY_TIMEOUT_NS ((int64_t)10 * 1000000000)

/* ---- RouDi ---------------------------------------------------------------------- */

static pid_t roudi = -1;
static char roudi_cfg[64], roudi_log[64];
static char reason[600] = "iox-roudi was not started";

const char *bench_iox_why(void) { return reason; }

/* Mempools: 128 B chunks hold a 64 B payload and the chunk header; 2 KiB ones 1 KiB. */
static const char roudi_toml[] = "[general]\nversion = 1\n\n[[segment]]\n\n"
                                 "[[segment.mempool]]\nsize = 128\ncount = 4096\n\n"
                                 "[[segment.mempool]]\nsize = 2048\ncount = 1024\n";

/* line without its colour escapes and, for a logger line, its time stamp and level. */
static void plain(char *line)
{
    char *w = line;
    for (const char *r = line; *r; r++) {
        if (*r == '\033') {
            while (*r && *r != 'm')
                r++;
            if (!*r)
                break;
        } else if (*r != '\n') {
            *w++ = *r;
        }
    }
    *w = '\0';
    char *level = strstr(line, "]: ");
    if (level)
        memmove(line, level + 3, strlen(level + 3) + 1);
}

/* Whether RouDi's log says it is ready; else why holds its first error line, or its last. */
static bool roudi_ready(char *why, size_t len)
{
    char line[512];
    bool ready = false, error = false;
    FILE *f = fopen(roudi_log, "r");
    while (f && fgets(line, sizeof line, f)) {
        ready |= strstr(line, "RouDi is ready for clients") != NULL;
        bool is_error = strstr(line, "Fatal") || strstr(line, "Error");
        plain(line);
        if (line[0] && !error)
            snprintf(why, len, "%s", line);
        error |= is_error;
    }
    if (f)
        fclose(f);
    return ready;
}

/* What RouDi leaves behind when it cannot clean up (SIGKILLed). */
static void roudi_leftovers(void)
{
    struct passwd *pw = getpwuid(getuid());
    char user[300];
    unlink("/dev/shm/iceoryx_mgmt");
    if (pw) {
        snprintf(user, sizeof user, "/dev/shm/%s", pw->pw_name);
        unlink(user);
    }
    unlink("/tmp/roudi");
    unlink("/tmp/roudi.lock");
    unlink("/tmp/iox-unique-roudi.lock");
}

void bench_iox_stop(void)
{
    if (roudi > 0) {
        int status;
        kill(roudi, SIGTERM);
        int64_t end = bench_now() + (int64_t)5 * 1000000000;
        pid_t w;
        while ((w = waitpid(roudi, &status, WNOHANG)) == 0 && bench_now() < end)
            usleep(10000);
        if (w == 0) {
            kill(roudi, SIGKILL);
            waitpid(roudi, &status, 0);
        }
        if (w <= 0 || !WIFEXITED(status)) /* killed, or aborted: it cleaned up nothing */
            roudi_leftovers();
        roudi = -1;
    }
    if (roudi_cfg[0])
        unlink(roudi_cfg);
    if (roudi_log[0])
        unlink(roudi_log);
    roudi_cfg[0] = roudi_log[0] = '\0';
}

int bench_iox_start(void)
{
    void *lib = dlopen(AXLE_BENCH_IOX_LIB, RTLD_LAZY | RTLD_LOCAL);
    if (!lib) {
        snprintf(reason, sizeof reason, "cannot load iceoryx: %s", dlerror());
        return -ENOSYS;
    }
    dlclose(lib);

    snprintf(roudi_cfg, sizeof roudi_cfg, "/tmp/axle-bench-roudi-%d.toml", (int)getpid());
    snprintf(roudi_log, sizeof roudi_log, "/tmp/axle-bench-roudi-%d.log", (int)getpid());
    FILE *f = fopen(roudi_cfg, "w");
    if (!f || fputs(roudi_toml, f) < 0 || fclose(f) != 0) {
        snprintf(reason, sizeof reason, "cannot write %s: %s", roudi_cfg, strerror(errno));
        bench_iox_stop();
        return -EIO;
    }
    int log = open(roudi_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log < 0) {
        snprintf(reason, sizeof reason, "cannot create %s: %s", roudi_log, strerror(errno));
        bench_iox_stop();
        return -EIO;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* a bench that dies takes RouDi along, cleanly */
        cpu_set_t all;
        CPU_ZERO(&all);
        for (int c = 0; c < CPU_SETSIZE; c++)
            CPU_SET(c, &all);
        sched_setaffinity(0, sizeof all, &all); /* not on the driver's pinned CPU only */
        dup2(log, 1);
        dup2(log, 2);
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, 0);
        execlp("iox-roudi", "iox-roudi", "-c", roudi_cfg, "-m", "off", "-l", "warning",
               (char *)NULL);
        _exit(127);
    }
    close(log);
    if (pid < 0) {
        snprintf(reason, sizeof reason, "fork: %s", strerror(errno));
        bench_iox_stop();
        return -errno;
    }
    roudi = pid;

    char last[512] = "";
    int64_t end = bench_now() + READY_TIMEOUT_NS;
    for (;;) {
        int status;
        if (roudi_ready(last, sizeof last)) {
            unlink(roudi_cfg); /* read; and the log is only for this wait */
            unlink(roudi_log);
            roudi_cfg[0] = roudi_log[0] = '\0';
            return 0;
        }
        if (waitpid(pid, &status, WNOHANG) == pid) {
            roudi = -1;
            if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                snprintf(reason, sizeof reason, "iox-roudi not found (sh scripts/deps.sh bench)");
            else
                snprintf(reason, sizeof reason, "iox-roudi exited before it was ready: %.400s",
                         last[0] ? last : "(no output)");
            bench_iox_stop();
            return -EIO;
        }
        if (bench_now() > end) {
            snprintf(reason, sizeof reason, "iox-roudi not ready after 10 s: %.400s",
                     last[0] ? last : "(no output)");
            bench_iox_stop();
            return -ETIMEDOUT;
        }
        usleep(10000);
    }
}

/* ---- the binding, loaded in a child ----------------------------------------------- */

#define IOX_FUNCS(X)                  \
    X(iox_set_loglevel)               \
    X(iox_runtime_init)               \
    X(iox_pub_options_init)           \
    X(iox_pub_init)                   \
    X(iox_pub_deinit)                 \
    X(iox_pub_loan_chunk)             \
    X(iox_pub_publish_chunk)          \
    X(iox_pub_has_subscribers)        \
    X(iox_sub_options_init)           \
    X(iox_sub_init)                   \
    X(iox_sub_deinit)                 \
    X(iox_sub_get_subscription_state) \
    X(iox_sub_take_chunk)             \
    X(iox_sub_release_chunk)

static struct {
#define X(f) __typeof__(&f) f;
    IOX_FUNCS(X)
#undef X
} iox;

/* One side's endpoints: publisher on `out`, subscriber on `in`. */
struct side {
    void *lib;
    iox_pub_storage_t pub_store;
    iox_sub_storage_t sub_store;
    iox_pub_t pub;
    iox_sub_t sub;
    char runtime[64];
};

/* The results the driver child leaves for the bench. */
struct shared {
    int rc;
    double a[BENCH_MAX_REPS], b[BENCH_MAX_REPS], c[BENCH_MAX_REPS];
};

/* Load the binding, register with RouDi, open pub(out) and sub(in), wait until both connect. */
static int side_open(struct side *s, pid_t run, const char *out, const char *in)
{
    void *lib = s->lib = dlopen(AXLE_BENCH_IOX_LIB, RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return -ENOSYS;
#define X(f)                                       \
    if (!(iox.f = (__typeof__(&f))dlsym(lib, #f))) \
        return -ENOSYS;
    IOX_FUNCS(X)
#undef X
    iox.iox_set_loglevel(Iceoryx_LogLevel_Warn);
    char instance[32];
    snprintf(instance, sizeof instance, "run%d", (int)run);
    snprintf(s->runtime, sizeof s->runtime, "axle-bench-%d", (int)getpid());
    iox.iox_runtime_init(s->runtime);

    iox_pub_options_t po;
    iox.iox_pub_options_init(&po);
    po.historyCapacity = 0;
    po.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
    iox_sub_options_t so;
    iox.iox_sub_options_init(&so);
    so.queueCapacity = QUEUE;
    so.historyRequest = 0;
    so.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
    s->pub = out ? iox.iox_pub_init(&s->pub_store, "axle-bench", instance, out, &po) : NULL;
    s->sub = in ? iox.iox_sub_init(&s->sub_store, "axle-bench", instance, in, &so) : NULL;
    if ((out && !s->pub) || (in && !s->sub))
        return -EIO;
    int64_t end = bench_now() + READY_TIMEOUT_NS;
    while ((s->sub && iox.iox_sub_get_subscription_state(s->sub) != SubscribeState_SUBSCRIBED) ||
           (s->pub && !iox.iox_pub_has_subscribers(s->pub))) {
        if (bench_now() > end)
            return -ETIMEDOUT;
        usleep(1000);
    }
    return 0;
}

/*
 * Close the endpoints and unload the library: its static destructors (run
 * by dlclose, which _exit would skip) deregister the runtime from RouDi
 * and remove its socket. A client left registered makes RouDi 2.0.3 abort
 * at SIGTERM (it signals the dead pid, gets ESRCH) without cleaning up.
 */
static void side_close(struct side *s)
{
    if (!s->lib)
        return;
    if (s->sub)
        iox.iox_sub_deinit(s->sub);
    if (s->pub)
        iox.iox_pub_deinit(s->pub);
    dlclose(s->lib);
}

/* Loan a chunk of len bytes (waiting while all are in flight), copy src in, publish. */
static inline int pub_copy(iox_pub_t pub, const void *src, size_t len)
{
    void *chunk;
    enum iox_AllocationResult r;
    while ((r = iox.iox_pub_loan_chunk(pub, &chunk, (uint32_t)len)) != AllocationResult_SUCCESS)
        if (r != AllocationResult_RUNNING_OUT_OF_CHUNKS &&
            r != AllocationResult_TOO_MANY_CHUNKS_ALLOCATED_IN_PARALLEL)
            return -EIO;
    memcpy(chunk, src, len);
    iox.iox_pub_publish_chunk(pub, chunk);
    return 0;
}

/* Busy-poll for a chunk (20 s at most), copy len bytes of it out, release it. */
static inline int sub_copy(iox_sub_t sub, void *dst, size_t len)
{
    const void *chunk;
    enum iox_ChunkReceiveResult r;
    uint32_t spins = 0;
    int64_t since = 0;
    while ((r = iox.iox_sub_take_chunk(sub, &chunk)) != ChunkReceiveResult_SUCCESS) {
        if (r != ChunkReceiveResult_NO_CHUNK_AVAILABLE)
            return -EIO;
        if (++spins % (1u << 20) == 0) { /* the clock only when it has been long */
            int64_t now = bench_now();
            if (!since)
                since = now;
            else if (now - since > (int64_t)20 * 1000000000)
                return -ETIMEDOUT;
        }
    }
    memcpy(dst, chunk, len);
    iox.iox_sub_release_chunk(sub, chunk);
    return 0;
}

static double lat[RTT_ROUNDS];
static unsigned char buf[65536];

/*
 * Fork the peer (CPU 1) and the driver (CPU 0); both open their side, run
 * body(role, ...) and _exit. The driver's samples arrive through a shared
 * page. Returns 0 or a negative errno (the first failing child's).
 */
typedef int (*body_fn)(bool driver, struct side *s, size_t size, uint64_t n, struct shared *out);

static int run_pair(body_fn body, const char *driver_out, const char *driver_in, size_t size,
                    uint64_t n, struct shared *res)
{
    struct shared *sh =
        mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return -ENOMEM;
    sh->rc = -EIO;
    pid_t run = getpid(), pids[2];
    fflush(NULL);
    for (int k = 0; k < 2; k++) { /* k 0: the peer, k 1: the driver */
        pids[k] = fork();
        if (pids[k] == 0) {
            bench_shm_child(k == 0 ? 1 : 0);
            struct side s = {0};
            bool driver = k == 1;
            int rc = driver ? side_open(&s, run, driver_out, driver_in)
                            : side_open(&s, run, driver_in, driver_out);
            if (rc == 0)
                rc = body(driver, &s, size, n, sh);
            if (driver)
                sh->rc = rc;
            side_close(&s);
            _exit(rc == 0 ? 0 : 3);
        }
        if (pids[k] < 0) {
            if (k == 1)
                bench_reap(pids[0], -errno);
            munmap(sh, sizeof *sh);
            return -errno;
        }
    }
    int rc = bench_reap(pids[1], 0); /* the driver first: the peer may wait on it */
    rc = bench_reap(pids[0], rc);
    for (int k = 0; k < 2; k++) { /* what a client killed before it closed leaves */
        char path[64];
        snprintf(path, sizeof path, "/tmp/axle-bench-%d", (int)pids[k]);
        unlink(path);
        strcat(path, ".lock");
        unlink(path);
    }
    if (rc == 0)
        rc = sh->rc;
    if (rc == 0)
        *res = *sh;
    munmap(sh, sizeof *sh);
    return rc;
}

static int rtt_body(bool driver, struct side *s, size_t size, uint64_t rounds, struct shared *out)
{
    uint64_t total = rounds / 4 + rounds * (uint64_t)bench_reps();
    if (!driver) {
        for (uint64_t i = 0; i < total; i++)
            if (sub_copy(s->sub, buf, size) < 0 || pub_copy(s->pub, buf, size) < 0)
                return -EIO;
        return 0;
    }
    for (int rep = -1; rep < bench_reps(); rep++) { /* rep -1: warm-up */
        int cnt = rep < 0 ? (int)rounds / 4 : (int)rounds;
        for (int i = 0; i < cnt; i++) {
            int64_t t0 = bench_now();
            if (pub_copy(s->pub, buf, size) < 0 || sub_copy(s->sub, buf, size) < 0)
                return -EIO;
            lat[i] = (double)(bench_now() - t0);
        }
        if (rep >= 0) {
            bench_tails(lat, cnt, &out->a[rep], &out->b[rep], &out->c[rep]);
        }
    }
    return 0;
}

int bench_iox_rtt(size_t size, double *p50, double *p99, double *p999)
{
    if (roudi <= 0)
        return -ENOSYS;
    int rounds = (int)bench_iters(RTT_ROUNDS);
    if (rounds < 1000)
        rounds = 1000;
    struct shared res;
    int rc = run_pair(rtt_body, "ping", "pong", size, (uint64_t)rounds, &res);
    if (rc < 0)
        return rc;
    for (int i = 0; i < bench_reps(); i++)
        p50[i] = res.a[i], p99[i] = res.b[i], p999[i] = res.c[i];
    return 0;
}

/* The peer streams to the driver, which times each repetition of n records. */
static int rate_body(bool driver, struct side *s, size_t size, uint64_t n, struct shared *out)
{
    uint64_t total = n / 4 + n * (uint64_t)bench_reps();
    if (!driver) {
        memset(buf, 0x5a, size);
        for (uint64_t i = 0; i < total; i++)
            if (pub_copy(s->pub, buf, size) < 0)
                return -EIO;
        return 0;
    }
    static unsigned char dst[65536];
    int64_t t0 = 0;
    for (int rep = -1; rep < bench_reps(); rep++) { /* rep -1: warm-up */
        uint64_t cnt = rep < 0 ? n / 4 : n;
        for (uint64_t i = 0; i < cnt; i++)
            if (sub_copy(s->sub, dst, size) < 0)
                return -EIO;
        int64_t t1 = bench_now();
        if (rep >= 0)
            out->a[rep] = (double)cnt * 1e9 / (double)(t1 - t0);
        t0 = t1;
    }
    return 0;
}

int bench_iox_rate(size_t size, uint64_t n, double *rate)
{
    if (roudi <= 0)
        return -ENOSYS;
    struct shared res;
    int rc = run_pair(rate_body, NULL, "stream", size, n, &res);
    if (rc < 0)
        return rc;
    for (int i = 0; i < bench_reps(); i++)
        rate[i] = res.a[i];
    return 0;
}

#endif
