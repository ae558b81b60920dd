/*
 * examples/tree.c — a small actor tree: supervision at work.
 *
 * The root starts three daemon workers (one process each) and calls their
 * exported function through portals. Then it runs a one-shot actor that
 * fails on purpose: the nursery collects the remote error (source actor,
 * type, message, traceback), cancels the workers, reaps every process and
 * reports. A second nursery shows a crash (SIGSEGV) in a child turning
 * into an error in the parent while the tree carries on. A third part is a
 * streaming pipeline: feed -> mid (doubles each tick) -> root, where three
 * local tasks subscribe to the one stream; then a third actor, stopper,
 * cancels mid, and every context with mid says who cancelled whom.
 *
 * Run it as `make demo`, or build/examples/tree. Children are separate
 * processes: `ps` during a run shows them as axle[worker-0@<pid>] ...
 */
#include <axle/actor.h>
#include <axle/context.h>
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

/* Context: a tick every millisecond on the stream, until cancelled. */
static int feed(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    axle_stream *st;
    int rc = axle_ctx_started(ctx, NULL, 0);
    if (rc == 0)
        rc = axle_ctx_open_stream(ctx, NULL, &st);
    for (int64_t tick = 1; rc == 0; tick++)
        if ((rc = axle_stream_send(st, &tick, sizeof tick)) == 0)
            rc = axle_sleep(1000 * 1000);
    return rc;
}
AXLE_EXPORT_CTX("demo.feed", feed)

/* A portal to the actor called name, once it has registered (it does as it starts). */
static int find(const char *name, axle_portal **p)
{
    int rc;
    for (int i = 0; (rc = axle_find_actor(name, p)) == -ENOENT && i < 500; i++)
        axle_sleep(2 * 1000 * 1000);
    return rc;
}

/* Context, in mid: read feed's ticks, send each one doubled to the parent. */
static int doubler(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    axle_portal *fp;
    int rc = find("feed", &fp);
    if (rc < 0)
        return rc;
    axle_ctx *in;
    axle_stream *from, *to;
    if ((rc = axle_ctx_open(fp, "demo.feed", NULL, 0, &in, NULL)) == 0) {
        rc = axle_ctx_open_stream(in, NULL, &from);
        if (rc == 0 && (rc = axle_ctx_started(ctx, NULL, 0)) == 0)
            rc = axle_ctx_open_stream(ctx, NULL, &to);
        axle_buf b = {0};
        while (rc == 0 && (rc = axle_stream_recv(from, &b)) == 0) {
            int64_t v;
            memcpy(&v, b.data, sizeof v);
            v *= 2;
            rc = axle_stream_send(to, &v, sizeof v);
        }
        axle_buf_free(&b);
        rc = axle_ctx_close(in, rc);
    }
    axle_portal_close(fp);
    return rc;
}
AXLE_EXPORT_CTX("demo.double", doubler)

/* Exported, in stopper: cancel the whole actor called mid. */
static int stop_mid(const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    axle_portal *mp;
    int rc = find("mid", &mp);
    if (rc < 0)
        return rc;
    int acked = axle_portal_cancel_actor(mp, 0);
    axle_portal_close(mp);
    return acked ? 0 : AXLE_SET_ERR(-ETIMEDOUT, "mid did not acknowledge its cancel");
}
AXLE_EXPORT("demo.stop", stop_mid)

static const char *const MODS[] = {"demo"};

static double ms_since(int64_t t0) { return (double)(axle_now() - t0) / 1e6; }

static void show_error(const char *what)
{
    char buf[4096];
    axle_error_format(axle_error_last(), buf, sizeof buf);
    printf("%s\n%s", what, buf);
}

/* A local subscriber: count the doubled ticks until the stream ends. */
struct listener {
    axle_sub *sub;
    int n;
    int rc;
    int64_t last;
};

static int listener_task(void *arg)
{
    struct listener *l = arg;
    axle_buf b = {0};
    while ((l->rc = axle_sub_recv(l->sub, &b, NULL)) == 0) {
        memcpy(&l->last, b.data, sizeof l->last);
        l->n++;
    }
    axle_buf_free(&b);
    return 0;
}

/* The pipeline: feed -> mid -> root's three subscribers; stopper cancels mid. */
static int pipeline(void)
{
    axle_actor_nursery *an;
    int rc = axle_actor_nursery_open(&an);
    if (rc < 0)
        return rc;
    const char *names[] = {"feed", "mid", "stopper"};
    axle_portal *p[3];
    for (int i = 0; i < 3 && rc == 0; i++) {
        axle_spawn_opts o = {.name = names[i], .enable_modules = MODS, .n_enable_modules = 1};
        rc = axle_start_actor(an, &o, &p[i]);
    }
    axle_ctx *ctx = NULL;
    axle_stream *st;
    if (rc == 0 && (rc = axle_ctx_open(p[1], "demo.double", NULL, 0, &ctx, NULL)) == 0)
        rc = axle_ctx_open_stream(ctx, NULL, &st);
    struct listener l[3] = {{0}};
    axle_nursery *n = NULL;
    if (rc == 0)
        rc = axle_nursery_open(&n);
    for (int i = 0; rc == 0 && i < 3; i++)
        if ((rc = axle_stream_subscribe(st, NULL, &l[i].sub)) == 0)
            rc = axle_nursery_start_soon(n, listener_task, &l[i], NULL);
    if (rc == 0) {
        printf("\npipeline: feed -> mid (doubles) -> root, 3 local subscribers; "
               "stopper will cancel mid after 100 ms\n");
        axle_sleep(100 * 1000 * 1000);
        rc = axle_portal_run(p[2], "demo.stop", NULL, 0, NULL);
    }
    int setup = rc; /* a failure up to here is the demo's; what follows is expected */
    if (n)
        rc = axle_nursery_close(n, rc); /* the subscribers end with the stream */
    for (int i = 0; i < 3; i++) {
        printf("  subscriber %d: %d ticks, last %" PRId64 ", then %s\n", i, l[i].n, l[i].last,
               axle_errname(l[i].rc));
        if (l[i].sub)
            axle_sub_close(l[i].sub);
    }
    if (ctx) {
        const axle_uid *who = axle_ctx_canceller(ctx);
        const axle_error *e = axle_ctx_remote_error(ctx);
        const axle_uid *asker = e ? axle_error_canceller(e) : NULL;
        printf("  our context with mid: cancelled (canceller %s), at the request of %s\n",
               who ? who->name : "-", asker ? asker->name : "-");
        int crc = axle_ctx_close(ctx, rc);
        printf("  closing it: %s (not ours to absorb: we did not ask)\n", axle_errname(crc));
    }
    axle_actor_nursery_cancel(an);
    int arc = axle_actor_nursery_close(an, 0);
    return setup < 0 ? setup : arc;
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
    if (rc != -AXLE_EREMOTE)
        return -EPROTO;
    if ((rc = pipeline()) < 0)
        return rc;
    printf("\nthe tree ended cleanly: no child process left\n");
    return 0;
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
