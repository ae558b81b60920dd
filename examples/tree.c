/*
 * examples/tree.c — a small actor tree: supervision at work.
 *
 * The root starts three daemon workers (one process each) and calls their
 * exported function through portals. Then it runs a one-shot actor that
 * fails on purpose: the nursery collects the remote error (source actor,
 * type, message, traceback), cancels the workers, reaps every process and
 * reports. A second nursery shows a crash (SIGSEGV) in a child turning
 * into an error in the parent while the tree carries on.
 *
 * Run it as `make demo`, or build/examples/tree. Children are separate
 * processes: `ps` during a run shows them as axle[worker-0@<pid>] ...
 */
#include <axle/actor.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Exported: the square of a 64-bit integer, computed in the callee's process. */
static int square(const void *args, size_t len, axle_buf *ret)
{
    if (len != sizeof(int64_t))
        return AXLE_SET_ERR(-EINVAL, "demo.square takes one int64, got %zu bytes", len);
    int64_t v;
    memcpy(&v, args, sizeof v);
    v *= v;
    return axle_buf_set(ret, &v, sizeof v);
}
AXLE_EXPORT("demo.square", square)

/* Exported: fails on purpose, like a bug deep in a worker. */
static int check_invariant(const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    return AXLE_SET_ERR(-EDOM, "invariant violated: the books do not balance");
}
AXLE_EXPORT("demo.check", check_invariant)

/* Exported: a native crash. */
static int crash(const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    raise(SIGSEGV);
    return 0;
}
AXLE_EXPORT("demo.crash", crash)

static const char *const MODS[] = {"demo"};

static double ms_since(int64_t t0) { return (double)(axle_now() - t0) / 1e6; }

static void show_error(const char *what)
{
    char buf[4096];
    axle_error_format(axle_error_last(), buf, sizeof buf);
    printf("%s\n%s", what, buf);
}

static int tree(void *arg)
{
    (void)arg;
    char me[96];
    axle_uid_format(axle_actor_uid(), me, sizeof me);
    printf("root %s (pid %d)\n", me, (int)getpid());

    axle_actor_nursery *an;
    int rc = axle_actor_nursery_open(&an);
    if (rc < 0)
        return rc;
    axle_portal *workers[3];
    for (int i = 0; i < 3 && rc == 0; i++) {
        char name[16];
        snprintf(name, sizeof name, "worker-%d", i);
        axle_spawn_opts o = {.name = name, .enable_modules = MODS, .n_enable_modules = 1};
        rc = axle_start_actor(an, &o, &workers[i]);
        if (rc == 0)
            printf("  started %s as pid %d\n", name, (int)axle_portal_uid(workers[i])->pid);
    }
    axle_buf b = {0};
    for (int i = 0; i < 3 && rc == 0; i++) {
        int64_t v = 7 + i;
        int64_t t0 = axle_now();
        rc = axle_portal_run(workers[i], "demo.square", &v, sizeof v, &b);
        if (rc == 0) {
            int64_t r;
            memcpy(&r, b.data, sizeof r);
            printf("  %s: square(%" PRId64 ") = %" PRId64 " (%.0f us round trip)\n",
                   axle_portal_uid(workers[i])->name, v, r, ms_since(t0) * 1e3);
        }
    }
    axle_buf_free(&b);

    axle_portal *checker;
    axle_spawn_opts co = {.name = "checker"};
    if (rc == 0)
        rc = axle_run_in_actor(an, &co, "demo.check", NULL, 0, &checker);
    if (rc == 0)
        printf("  started checker (one-shot), which will fail on purpose\n");
    int64_t t0 = axle_now();
    rc = axle_actor_nursery_close(an, rc);
    printf("\nnursery closed after %.1f ms: %s; every worker was cancelled and reaped\n",
           ms_since(t0), axle_errname(rc));
    if (rc == -AXLE_EREMOTE)
        show_error("the error, as it came back from the checker's process:");
    else if (rc < 0)
        return rc;

    /* A native crash in a child is an error in its parent; the tree lives on. */
    if ((rc = axle_actor_nursery_open(&an)) < 0)
        return rc;
    axle_spawn_opts xo = {.name = "crasher"};
    axle_portal *p;
    if ((rc = axle_run_in_actor(an, &xo, "demo.crash", NULL, 0, &p)) == 0)
        printf("\nstarted crasher, which will die of SIGSEGV\n");
    rc = axle_actor_nursery_close(an, rc);
    const axle_error *e = axle_error_last();
    printf("nursery closed: %s, source type %s\n", axle_errname(rc),
           e ? axle_error_src_type(e) : "-");
    printf("\nthe tree ended cleanly: no child process left\n");
    return rc == -AXLE_EREMOTE ? 0 : -EPROTO;
}

int main(int argc, char **argv)
{
    axle_actor_opts o = {.name = "root"};
    int rc = axle_main(argc, argv, &o, tree, NULL);
    if (rc < 0) {
        fprintf(stderr, "demo failed: %s\n", axle_strerror(rc));
        return 1;
    }
    return 0;
}
