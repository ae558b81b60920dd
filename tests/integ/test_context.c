/*
 * tests/integ/test_context.c — contexts and streams across real
 * processes: the reference's context scenarios (tractor-test-catalogue §4,
 * the inter-peer file of §3, the two-way stream of §5, the broadcast file
 * of §6, the resource cache of §11) with their exact outcomes, for the
 * parts of the contexts issue built so far.
 *
 * CTest runs it once per spawn backend, like test_actor. Every test proves
 * a clean end through the harness: no descendant, no socket file, no fd.
 */
#define _GNU_SOURCE
#include "../harness.h"

#include <axle/actor.h>
#include <axle/context.h>
#include <axle/shm.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MS (1000 * 1000LL)

static const char *const C_MODS[] = {"c"};

/* ---- the child side ----------------------------------------------------------- */

/* What a child saw, for the parent to ask afterwards (per process). */
static int32_t cancelled_seen;

static int c_state(const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len;
    return axle_buf_set(ret, &cancelled_seen, sizeof cancelled_seen);
}
AXLE_EXPORT("c.state", c_state)

enum { RETURN_YO, BLOCK, FAIL_AFTER_STARTED };

/*
 * Which data plane the suite's streams use: shared memory unless
 * AXLE_STREAM_TRANSPORT=channel (CTest runs the suite both ways). In shm
 * mode, stream opens assert they really got a ring.
 */
static bool shm_mode(void)
{
    const char *v = getenv("AXLE_STREAM_TRANSPORT");
    return !(v && strcmp(v, "channel") == 0);
}

static axle_stream_transport want_transport(void)
{
    return shm_mode() ? AXLE_STREAM_SHM : AXLE_STREAM_CHANNEL;
}

struct simple_args {
    int32_t data;
    int32_t mode;
};

/* started(data + 1), then return "yo", block until cancelled, or fail. */
static int c_simple(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    struct simple_args a = {0, RETURN_YO};
    if (len == sizeof a)
        memcpy(&a, args, sizeof a);
    int32_t first = a.data + 1;
    int rc = axle_ctx_started(ctx, &first, sizeof first);
    if (rc < 0)
        return rc;
    if (a.mode == FAIL_AFTER_STARTED) {
        axle_sleep(20 * MS);
        return AXLE_SET_ERR(-EDOM, "the child fails after started");
    }
    if (a.mode == BLOCK) {
        rc = axle_sleep(AXLE_NO_DEADLINE);
        if (rc == -ECANCELED)
            cancelled_seen++;
        return rc;
    }
    return axle_buf_set(ret, "yo", 2);
}
AXLE_EXPORT_CTX("c.simple", c_simple)

static int c_started_twice(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    int rc = axle_ctx_started(ctx, NULL, 0);
    if (rc == 0)
        rc = axle_ctx_started(ctx, NULL, 0);
    return rc;
}
AXLE_EXPORT_CTX("c.started_twice", c_started_twice)

static int c_cancel_self_before_started(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    axle_ctx_cancel(ctx);
    return axle_sleep(AXLE_NO_DEADLINE);
}
AXLE_EXPORT_CTX("c.cancel_self", c_cancel_self_before_started)

static int c_plain(const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    return 0;
}
AXLE_EXPORT("c.plain", c_plain)

/*
 * In "canceller": open a context into "sleeper", then cancel the whole
 * sleeper with its portal (not the context). Returns 0 when what it saw is
 * right: its own context raises the ContextCancelled it asked for, naming
 * itself (-AXLE_ECTXCANCELLED, not absorbed: it did not call ctx cancel).
 */
static int c_cancel_peer(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    axle_portal *sleeper;
    int rc = axle_find_actor("sleeper", &sleeper);
    if (rc < 0)
        return rc;
    axle_ctx *sc;
    struct simple_args a = {0, BLOCK};
    rc = axle_ctx_open(sleeper, "c.simple", &a, sizeof a, &sc, NULL);
    if (rc == 0) {
        rc = axle_ctx_started(ctx, NULL, 0); /* the root may now watch its own context */
        if (rc == 0 && axle_portal_cancel_actor(sleeper, 0) != 1)
            rc = AXLE_SET_ERR(-EPROTO, "sleeper did not ack its cancel");
        if (rc == 0) {
            int r = axle_ctx_result(sc, NULL);
            const axle_uid *who = axle_error_canceller(axle_error_last());
            if (r != -AXLE_ECTXCANCELLED || !who || strcmp(who->name, "canceller") != 0)
                rc = AXLE_SET_ERR(-EPROTO, "canceller's own context: result %d (%s)", r,
                                  axle_errname(r));
            else if (!axle_ctx_canceller(sc) || strcmp(axle_ctx_canceller(sc)->name, "canceller"))
                rc = AXLE_SET_ERR(-EPROTO, "canceller's context names the wrong canceller");
            else
                rc = r;
        }
        rc = axle_ctx_close(sc, rc);
        if (rc == -AXLE_ECTXCANCELLED)
            rc = 0; /* what we expected: our own portal cancel, raised */
    }
    axle_portal_close(sleeper);
    return rc;
}
AXLE_EXPORT_CTX("c.cancel_peer", c_cancel_peer)

/* In "a": open a context into "b", cancel it, then fail before started. */
static int c_err_before_started(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)ctx, (void)args, (void)len, (void)ret;
    axle_portal *b;
    int rc = axle_find_actor("b", &b);
    if (rc < 0)
        return rc;
    axle_ctx *bc;
    struct simple_args a = {0, BLOCK};
    rc = axle_ctx_open(b, "c.simple", &a, sizeof a, &bc, NULL);
    if (rc == 0) {
        axle_ctx_cancel(bc);
        axle_sleep(50 * MS); /* the ContextCancelled from b arrives meanwhile */
        rc = axle_ctx_close(bc, AXLE_SET_ERR(-EDOM, "TypeError before started"));
    }
    axle_portal_close(b);
    return rc;
}
AXLE_EXPORT_CTX("c.err_before_started", c_err_before_started)

/* started(11); answer every "ping" with "pong" until the parent closes its side. */
static int c_pingpong(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    int32_t first = 11;
    axle_stream *st;
    int rc = axle_ctx_started(ctx, &first, sizeof first);
    if (rc == 0)
        rc = axle_ctx_open_stream(ctx, NULL, &st);
    axle_buf b = {0};
    while (rc == 0 && (rc = axle_stream_recv(st, &b)) == 0)
        if (b.len == 4 && memcmp(b.data, "ping", 4) == 0)
            rc = axle_stream_send(st, "pong", 4);
    axle_buf_free(&b);
    return rc == -AXLE_EEOC ? 0 : rc;
}
AXLE_EXPORT_CTX("c.pingpong", c_pingpong)

/* Open the stream, close it at once, return "yo". */
static int c_stream_and_leave(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len;
    axle_stream *st;
    int rc = axle_ctx_started(ctx, NULL, 0);
    if (rc == 0)
        rc = axle_ctx_open_stream(ctx, NULL, &st);
    if (rc == 0)
        rc = axle_stream_close(st);
    return rc < 0 ? rc : axle_buf_set(ret, "yo", 2);
}
AXLE_EXPORT_CTX("c.stream_and_leave", c_stream_and_leave)

struct echo_args {
    int32_t buffer;   /* msg_buffer_size, 0: default */
    int32_t allow;    /* allow_overruns */
    int32_t delay_ms; /* before each echo */
};

/* Echo every message back, slowly, until the parent closes its side. */
static int c_echo(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)ret;
    struct echo_args a = {0, 0, 0};
    if (len == sizeof a)
        memcpy(&a, args, sizeof a);
    axle_stream_opts o = {.msg_buffer_size = (size_t)a.buffer, .allow_overruns = a.allow};
    axle_stream *st;
    int rc = axle_ctx_started(ctx, NULL, 0);
    if (rc == 0)
        rc = axle_ctx_open_stream(ctx, &o, &st);
    if (rc == 0 && axle_stream_transport_of(st) != want_transport())
        rc = AXLE_SET_ERR(-EPROTO, "c.echo: the stream's data plane is not the one asked for");
    axle_buf b = {0};
    while (rc == 0 && (rc = axle_stream_recv(st, &b)) == 0) {
        if (a.delay_ms)
            axle_sleep(a.delay_ms * MS);
        rc = axle_stream_send(st, b.data, b.len);
    }
    axle_buf_free(&b);
    return rc == -AXLE_EEOC ? axle_buf_set(ret, "yo", 2) : rc;
}
AXLE_EXPORT_CTX("c.echo", c_echo)

/* Count what arrives, slowly, through a 1-message buffer with an overflow. */
static int c_count(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len;
    axle_stream_opts o = {.msg_buffer_size = 1, .allow_overruns = true};
    axle_stream *st;
    int rc = axle_ctx_started(ctx, NULL, 0);
    if (rc == 0)
        rc = axle_ctx_open_stream(ctx, &o, &st);
    int32_t n = 0;
    axle_buf b = {0};
    while (rc == 0 && (rc = axle_stream_recv(st, &b)) == 0) {
        if (b.len != sizeof n || *(int32_t *)b.data != n)
            rc = AXLE_SET_ERR(-EPROTO, "message %d out of order", (int)n);
        n++;
        axle_sleep(2 * MS);
    }
    axle_buf_free(&b);
    return rc == -AXLE_EEOC ? axle_buf_set(ret, &n, sizeof n) : rc;
}
AXLE_EXPORT_CTX("c.count", c_count)

/* Send 0..n-1 on the stream as fast as it goes, then return (Stop, then Return). */
static int c_emit(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)ret;
    int32_t n = 0;
    if (len == sizeof n)
        memcpy(&n, args, sizeof n);
    axle_stream *st;
    int rc = axle_ctx_started(ctx, NULL, 0);
    if (rc == 0)
        rc = axle_ctx_open_stream(ctx, NULL, &st);
    for (int32_t i = 0; rc == 0 && i < n; i++)
        rc = axle_stream_send(st, &i, sizeof i);
    return rc;
}
AXLE_EXPORT_CTX("c.emit", c_emit)

/* Open the stream, maybe send "yo", then block (not reading) until cancelled. */
static int c_stream_block(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)ret;
    int32_t send_first = 0;
    if (len == sizeof send_first)
        memcpy(&send_first, args, sizeof send_first);
    axle_stream *st;
    int rc = axle_ctx_started(ctx, NULL, 0);
    if (rc == 0)
        rc = axle_ctx_open_stream(ctx, NULL, &st);
    if (rc == 0 && send_first)
        rc = axle_stream_send(st, "yo", 2);
    return rc < 0 ? rc : axle_sleep(AXLE_NO_DEADLINE);
}
AXLE_EXPORT_CTX("c.stream_block", c_stream_block)

/* Send three values, then die at once (SIGKILL): a peer gone mid-stream. */
/* A segment the dying child never closes: the parent's reaping unlinks it. */
static axle_shm *doomed;

static int c_die_mid_stream(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    axle_stream *st;
    int rc = axle_shm_create(&doomed, "doomed", 4096);
    if (rc == 0)
        rc = axle_ctx_started(ctx, NULL, 0);
    if (rc == 0)
        rc = axle_ctx_open_stream(ctx, NULL, &st);
    for (int32_t i = 0; rc == 0 && i < 3; i++)
        rc = axle_stream_send(st, &i, sizeof i);
    if (rc == 0)
        rc = axle_stream_recv(st, NULL); /* the parent's word to die */
    raise(SIGKILL);
    return rc;
}
AXLE_EXPORT_CTX("c.die_mid_stream", c_die_mid_stream)

/*
 * In "client": spawn a service actor of its own, open a context into it
 * (args: its c.simple mode) and wait for its outcome, which it returns.
 */
static int c_spawn_service(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)ret;
    struct simple_args a = {1, BLOCK};
    if (len == sizeof a.mode)
        memcpy(&a.mode, args, sizeof a.mode);
    axle_actor_nursery *an;
    int rc = axle_actor_nursery_open(&an);
    if (rc < 0)
        return rc;
    axle_spawn_opts o = {.name = "service", .enable_modules = C_MODS, .n_enable_modules = 1};
    axle_portal *sp;
    axle_ctx *sc = NULL;
    rc = axle_start_actor(an, &o, &sp);
    if (rc == 0)
        rc = axle_ctx_open(sp, "c.simple", &a, sizeof a, &sc, NULL);
    if (rc == 0)
        rc = axle_ctx_started(ctx, NULL, 0);
    if (sc) {
        if (rc == 0)
            rc = axle_ctx_result(sc, NULL);
        rc = axle_ctx_close(sc, rc);
    }
    axle_actor_nursery_cancel(an);
    return axle_actor_nursery_close(an, rc);
}
AXLE_EXPORT_CTX("c.spawn_service", c_spawn_service)

struct break_args {
    int32_t after; /* break the transport after this many messages (0: never) */
};

/* Receive until the stream ends; break the transport after `after` messages. */
static int c_break_sink(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    struct break_args a = {0};
    if (len == sizeof a)
        memcpy(&a, args, sizeof a);
    axle_stream_opts o = {.allow_overruns = true};
    axle_stream *st;
    int rc = axle_ctx_started(ctx, NULL, 0);
    if (rc == 0)
        rc = axle_ctx_open_stream(ctx, &o, &st);
    int32_t n = 0;
    while (rc == 0 && (rc = axle_stream_recv(st, NULL)) == 0)
        if (++n == a.after)
            axle__ctx_break_transport(ctx);
    return rc == -AXLE_EEOC ? axle_buf_set(ret, &n, sizeof n) : rc;
}
AXLE_EXPORT_CTX("c.break_sink", c_break_sink)

/* Opens its stream without axle_ctx_started: a misuse the parent hears of. */
static int c_stream_before_started(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    axle_stream *st;
    return axle_ctx_open_stream(ctx, NULL, &st);
}
AXLE_EXPORT_CTX("c.stream_before_started", c_stream_before_started)

/* Fails after 100 ms; its cleanup then sleeps, shielded, and checkpoints. */
static int c_unmasked(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    int rc = axle_ctx_started(ctx, NULL, 0);
    if (rc == 0 && (rc = axle_sleep(100 * MS)) == 0)
        rc = AXLE_SET_ERR(-EDOM, "RuntimeError in the child");
    axle_scope sc; /* the cleanup, like a finally block */
    axle_scope_open(&sc, AXLE_NO_DEADLINE, AXLE_SCOPE_SHIELD);
    axle_scope_close(&sc, axle_sleep(200 * MS));
    (void)axle_checkpoint(); /* a cancel here must not replace the real error */
    return rc;
}
AXLE_EXPORT_CTX("c.unmasked", c_unmasked)

struct grid_args {
    int32_t blocks;      /* block until cancelled instead of returning "yo" */
    int32_t open_stream; /* open the stream (both sides) */
};

/* test_simple_context's child: started(11), maybe a stream, then "yo" or block. */
static int c_grid(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    struct grid_args a = {0, 0};
    if (len == sizeof a)
        memcpy(&a, args, sizeof a);
    int32_t first = 11;
    axle_stream *st;
    int rc = axle_ctx_started(ctx, &first, sizeof first);
    if (rc == 0 && a.open_stream)
        rc = axle_ctx_open_stream(ctx, NULL, &st);
    if (rc == 0 && a.blocks) {
        rc = axle_sleep(AXLE_NO_DEADLINE);
        if (rc == -ECANCELED)
            cancelled_seen++; /* its cleanup ran */
        return rc;
    }
    return rc < 0 ? rc : axle_buf_set(ret, "yo", 2);
}
AXLE_EXPORT_CTX("c.grid", c_grid)

/* test_reqresp_ontopof_streaming's child: one task streams "yo", another answers pings. */
struct rr {
    axle_stream *st;
};

static int rr_streamer(void *arg)
{
    struct rr *r = arg;
    int rc = 0;
    while (rc == 0 && (rc = axle_stream_send(r->st, "yo", 2)) == 0)
        rc = axle_sleep(5 * MS);
    return rc == -ECANCELED ? 0 : rc;
}

static int c_reqresp(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    struct rr r;
    int rc = axle_ctx_started(ctx, NULL, 0); /* first is None */
    if (rc == 0)
        rc = axle_ctx_open_stream(ctx, NULL, &r.st);
    axle_nursery *n;
    if (rc < 0 || (rc = axle_nursery_open(&n)) < 0)
        return rc;
    rc = axle_nursery_start_soon(n, rr_streamer, &r, NULL);
    axle_buf b = {0};
    while (rc == 0 && (rc = axle_stream_recv(r.st, &b)) == 0)
        if (b.len == 4 && memcmp(b.data, "ping", 4) == 0)
            rc = axle_stream_send(r.st, "pong", 4);
    axle_buf_free(&b);
    axle_nursery_cancel(n);
    return axle_nursery_close(n, rc == -AXLE_EEOC ? 0 : rc);
}
AXLE_EXPORT_CTX("c.reqresp", c_reqresp)

/* A resource whose exit leaves a mark: the file named by arg (a path). */
static int mark_enter(void *arg, void **value)
{
    *value = arg;
    return 0;
}

static int mark_exit(void *arg, void *value)
{
    (void)value;
    axle_sleep(50 * MS); /* an exit that takes a while, shielded */
    FILE *f = fopen(arg, "w");
    if (f)
        fclose(f);
    return 0;
}

static const axle_resource_ops MARK_OPS = {mark_enter, mark_exit};

/* Hold a shared resource until cancelled (args: the mark file's path). */
static int c_hold_resource(const void *args, size_t len, axle_buf *ret)
{
    (void)ret;
    static char path[512];
    snprintf(path, sizeof path, "%.*s", (int)len, (const char *)args);
    axle_resource *h;
    void *v;
    int rc = axle_resource_open("held", &MARK_OPS, path, &h, &v, NULL);
    if (rc < 0)
        return rc;
    rc = axle_sleep(AXLE_NO_DEADLINE);
    int crc = axle_resource_close(h); /* the final user: waits for the exit */
    return crc < 0 ? crc : rc;
}
AXLE_EXPORT("c.hold_resource", c_hold_resource)

/* ---- helpers ---------------------------------------------------------------- */

static int root_run(axle_fn fn, void *arg)
{
    axle_actor_opts o = {.name = "root"};
    return axle_root(&o, fn, arg);
}

static axle_spawn_opts child_opts(const char *name)
{
    axle_spawn_opts o = {.name = name, .enable_modules = C_MODS, .n_enable_modules = 1};
    return o;
}

static void end_children(axle_actor_nursery *an)
{
    axle_actor_nursery_cancel(an);
    ck_assert_int_eq(axle_actor_nursery_close(an, 0), 0);
}

/* A test whose whole body is a root running fn(arg), which must return 0. */
#define ROOT_TEST(name, fn, arg)                                     \
    START_TEST(name) { ck_assert_int_eq(root_run((fn), (arg)), 0); } \
    END_TEST

/* A test whose root has one daemon named "child" and runs body(portal, arg). */
#define CHILD_TEST(name, body, arg)                                      \
    START_TEST(name) { ck_assert_int_eq(with_child((body), (arg)), 0); } \
    END_TEST

/* A root with one daemon named "child"; body(portal, arg) runs in the root. */
struct with {
    int (*body)(axle_portal *p, void *arg);
    void *arg;
};

static int with_child_main(void *arg)
{
    struct with *w = arg;
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o = child_opts("child");
    axle_portal *p;
    ck_assert_int_eq(axle_start_actor(an, &o, &p), 0);
    pid_t child = axle_portal_uid(p)->pid;
    int rc = w->body(p, w->arg);
    end_children(an);
    ck_assert_int_eq(axle_test_shm_count(child), 0); /* its stream rings were unlinked */
    return rc;
}

static int with_child(int (*body)(axle_portal *p, void *arg), void *arg)
{
    struct with w = {body, arg};
    return root_run(with_child_main, &w);
}

static int32_t child_cancelled(axle_portal *p)
{
    axle_buf b = {0};
    ck_assert_int_eq(axle_portal_run(p, "c.state", NULL, 0, &b), 0);
    int32_t v;
    ck_assert_uint_eq(b.len, sizeof v);
    memcpy(&v, b.data, sizeof v);
    axle_buf_free(&b);
    return v;
}

/* Until name is registered with the root (registration follows the start). */
static void wait_registered(const char *name)
{
    axle_portal *p = NULL;
    for (int i = 0; i < 400 && axle_find_actor(name, &p) == -ENOENT; i++)
        axle_sleep(5 * MS);
    ck_assert_ptr_nonnull(p);
    axle_portal_close(p);
}

static bool is_me(const axle_uid *u)
{
    return u && memcmp(u->uuid, axle_actor_uid()->uuid, 16) == 0;
}

/* A context on c.echo with a (and allow_overruns on our side when allow), and its stream. */
static void open_echo(axle_portal *p, struct echo_args a, bool allow, axle_ctx **ctx,
                      axle_stream **st)
{
    ck_assert_int_eq(axle_ctx_open(p, "c.echo", &a, sizeof a, ctx, NULL), 0);
    axle_stream_opts so = {.allow_overruns = allow};
    ck_assert_int_eq(axle_ctx_open_stream(*ctx, &so, st), 0);
    ck_assert_int_eq(axle_stream_transport_of(*st), want_transport());
}

/* ---- test_simple_context ---------------------------------------------------------- */

static int simple_returns_body(axle_portal *p, void *arg)
{
    (void)arg;
    struct simple_args a = {10, RETURN_YO};
    axle_ctx *ctx;
    axle_buf first = {0}, res = {0};
    ck_assert_int_eq(axle_ctx_open(p, "c.simple", &a, sizeof a, &ctx, &first), 0);
    ck_assert_uint_eq(first.len, 4);
    ck_assert_int_eq(*(int32_t *)first.data, 11);
    ck_assert(axle_ctx_is_parent(ctx));
    ck_assert_str_eq(axle_ctx_peer(ctx)->name, "child");
    ck_assert_int_eq(axle_ctx_result(ctx, &res), 0);
    ck_assert_uint_eq(res.len, 2);
    ck_assert_int_eq(memcmp(res.data, "yo", 2), 0);
    ck_assert_int_eq(axle_ctx_outcome(ctx), 0);
    ck_assert_int_eq(axle_ctx_result(ctx, &res), 0); /* the same outcome again */
    ck_assert_int_eq(memcmp(res.data, "yo", 2), 0);
    ck_assert(!axle_ctx_cancel_called(ctx));
    ck_assert_ptr_null(axle_ctx_remote_error(ctx));
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    axle_buf_free(&first);
    axle_buf_free(&res);
    return 0;
}

CHILD_TEST(simple_context_child_returns, simple_returns_body, NULL)

/* The close waits for the result the body never asked for. */
static int simple_close_waits_body(axle_portal *p, void *arg)
{
    (void)arg;
    struct simple_args a = {1, RETURN_YO};
    axle_ctx *ctx;
    ck_assert_int_eq(axle_ctx_open(p, "c.simple", &a, sizeof a, &ctx, NULL), 0);
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    return 0;
}

CHILD_TEST(simple_context_close_waits_for_the_result, simple_close_waits_body, NULL)

/* error_parent: the body's own error comes back, the child is cancelled. */
static int parent_error_body(axle_portal *p, void *arg)
{
    (void)arg;
    struct simple_args a = {1, BLOCK};
    axle_ctx *ctx;
    ck_assert_int_eq(axle_ctx_open(p, "c.simple", &a, sizeof a, &ctx, NULL), 0);
    int rc = axle_ctx_close(ctx, AXLE_SET_ERR(-EDOM, "ValueError in the parent"));
    ck_assert_int_eq(rc, -EDOM);
    ck_assert_str_eq(axle_error_message(axle_error_last()), "ValueError in the parent");
    /* The child's task was cancelled (its cancel arrives before this call). */
    for (int i = 0; i < 100 && child_cancelled(p) == 0; i++)
        axle_sleep(5 * MS);
    ck_assert_int_eq(child_cancelled(p), 1);
    return 0;
}

CHILD_TEST(simple_context_parent_error_is_not_masked_and_cancels_the_child, parent_error_body, NULL)

/* ---- test_parent_cancels ------------------------------------------------------------ */

/*
 * All 8 cases: cancel with ctx cancel or with the portal's cancel_actor;
 * check the result before the exit or not; the child blocks or has
 * returned "yo" already.
 *  - ctx cancel, child blocking: no error anywhere; the result is our own
 *    acknowledged cancel (AXLE_CTX_CANCEL_ACKED, canceller us, outcome the
 *    remote ContextCancelled, scope not cancelled);
 *  - portal cancel, child blocking: result and close raise the
 *    ContextCancelled, canceller us, not acked;
 *  - child returned early: the result is "yo", whatever the method.
 */
static int parent_cancels_body(axle_portal *p, void *arg)
{
    int i = (int)(intptr_t)arg;
    bool by_portal = i & 1, check = i & 2, early = i & 4;
    struct simple_args a = {1, early ? RETURN_YO : BLOCK};
    axle_ctx *ctx;
    axle_buf res = {0};
    ck_assert_int_eq(axle_ctx_open(p, "c.simple", &a, sizeof a, &ctx, NULL), 0);
    if (early)
        axle_sleep(50 * MS); /* its Return is here before our cancel goes out */
    if (by_portal)
        ck_assert_int_eq(axle_portal_cancel_actor(p, 0), 1);
    else
        ck_assert_int_eq(axle_ctx_cancel(ctx), 0);
    int want = early ? 0 : by_portal ? -AXLE_ECTXCANCELLED : AXLE_CTX_CANCEL_ACKED;
    int rc = 0;
    if (check) {
        rc = axle_ctx_result(ctx, &res);
        ck_assert_int_eq(rc, want);
        if (early) {
            ck_assert_int_eq(memcmp(res.data, "yo", 2), 0);
            ck_assert_int_eq(axle_ctx_outcome(ctx), 0);
            ck_assert_ptr_null(axle_ctx_remote_error(ctx));
        } else {
            ck_assert(is_me(axle_ctx_canceller(ctx)));
            ck_assert_int_eq(axle_ctx_outcome(ctx), -AXLE_ECTXCANCELLED);
            ck_assert(is_me(axle_error_canceller(axle_ctx_remote_error(ctx))));
            ck_assert(axle_ctx_cancel_acked(ctx) == !by_portal);
            /* ctx cancel: the ack is expected, no scope cancel; the portal's: it came OOB */
            ck_assert(axle_ctx_cancelled_caught(ctx) == by_portal);
        }
        if (rc > 0)
            rc = 0; /* the acknowledged cancel is not an error for the body */
    }
    rc = axle_ctx_close(ctx, rc);
    ck_assert_int_eq(rc, early || !by_portal ? 0 : -AXLE_ECTXCANCELLED);
    if (rc < 0)
        ck_assert(is_me(axle_error_canceller(axle_error_last())));
    if (!by_portal && !early)
        ck_assert_int_eq(child_cancelled(p), 1); /* its task saw the cancel */
    axle_buf_free(&res);
    return 0;
}

START_TEST(parent_cancels)
{
    ck_assert_int_eq(with_child(parent_cancels_body, (void *)(intptr_t)_i), 0);
}
END_TEST

/*
 * test_parent_exits_ctx_after_child_enters_stream: the child opens its
 * stream and blocks (maybe sending "yo" first); the parent opens its
 * stream and leaves without sending, cancelling at one of four points:
 * never (then the result blocks until a 0.5 s bound, and it cancels),
 * before opening its stream (which then raises the ContextCancelled),
 * after opening it, after closing it. In the end the cancel is ours and
 * acknowledged, and the connection is still up.
 */
enum { CANCEL_NONE, CANCEL_PRE_STREAM, CANCEL_POST_OPEN, CANCEL_POST_CLOSE };

static int exits_after_child_streams_body(axle_portal *p, void *arg)
{
    int i = (int)(intptr_t)arg;
    int when = i % 4;
    int32_t send_first = (i / 4) % 2;
    bool wait_for_msg = i / 8; /* read the child's "yo" before going on */
    axle_ctx *ctx;
    axle_stream *st;
    axle_buf b = {0};
    ck_assert_int_eq(axle_ctx_open(p, "c.stream_block", &send_first, sizeof send_first, &ctx, NULL),
                     0);
    if (when == CANCEL_PRE_STREAM) {
        ck_assert_int_eq(axle_ctx_cancel(ctx), 0);
        ck_assert_int_eq(axle_ctx_open_stream(ctx, NULL, &st), -AXLE_ECTXCANCELLED);
        ck_assert(is_me(axle_error_canceller(axle_error_last())));
    } else {
        ck_assert_int_eq(axle_ctx_open_stream(ctx, NULL, &st), 0);
        if (send_first && wait_for_msg) {
            ck_assert_int_eq(axle_stream_recv(st, &b), 0);
            ck_assert_int_eq(memcmp(b.data, "yo", 2), 0);
        }
        if (when == CANCEL_POST_OPEN)
            ck_assert_int_eq(axle_ctx_cancel(ctx), 0);
        ck_assert_int_eq(axle_stream_close(st), 0);
        if (when == CANCEL_POST_CLOSE)
            ck_assert_int_eq(axle_ctx_cancel(ctx), 0);
    }
    if (when == CANCEL_NONE) {
        int64_t t0 = axle_now();
        axle_scope sc;
        axle_scope_open(&sc, axle__deadline_after(500 * MS), 0);
        ck_assert_int_eq(axle_scope_close(&sc, axle_ctx_result(ctx, NULL)), 0); /* it blocks */
        ck_assert_int_ge(axle_now() - t0, 500 * MS);
        ck_assert_int_eq(axle_ctx_cancel(ctx), 0);
    }
    ck_assert_int_eq(axle_ctx_result(ctx, NULL), AXLE_CTX_CANCEL_ACKED);
    ck_assert(axle_ctx_cancel_acked(ctx));
    ck_assert_ptr_nonnull(axle_ctx_local_error(ctx));
    ck_assert_int_eq(axle_error_code(axle_ctx_local_error(ctx)), -AXLE_ECTXCANCELLED);
    ck_assert_int_eq(axle_error_code(axle_ctx_remote_error(ctx)), -AXLE_ECTXCANCELLED);
    ck_assert_int_eq(axle_ctx_outcome(ctx), -AXLE_ECTXCANCELLED);
    ck_assert_int_eq(axle_ctx_open_stream(ctx, NULL, &st), -AXLE_ECTXCANCELLED); /* again */
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    ck_assert_int_eq(child_cancelled(p), 0); /* its portal still works: connected */
    axle_buf_free(&b);
    return 0;
}

START_TEST(parent_exits_ctx_after_child_enters_stream)
{
    ck_assert_int_eq(with_child(exits_after_child_streams_body, (void *)(intptr_t)_i), 0);
}
END_TEST

/*
 * test_simple_context, the whole grid: the parent's body succeeds, fails
 * with its own error (ValueError), or is interrupted (SIGINT, the C
 * KeyboardInterrupt); the child returns "yo" or blocks forever; with or
 * without a stream. The parent's error always wins and cancels the child;
 * a SIGINT makes the root return -EINTR; otherwise the result is "yo", or
 * the parent's own acknowledged cancel for a blocking child.
 */
enum { PARENT_OK, PARENT_ERROR, PARENT_SIGINT };

static int grid_main(void *arg)
{
    int i = (int)(intptr_t)arg;
    int perr = i % 3;
    struct grid_args ga = {(i / 3) % 2, i / 6};
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o = child_opts("child");
    axle_portal *p;
    ck_assert_int_eq(axle_start_actor(an, &o, &p), 0);
    axle_ctx *ctx;
    axle_buf first = {0}, res = {0};
    ck_assert_int_eq(axle_ctx_open(p, "c.grid", &ga, sizeof ga, &ctx, &first), 0);
    ck_assert_int_eq(*(int32_t *)first.data, 11);
    axle_stream *st = NULL;
    if (ga.open_stream)
        ck_assert_int_eq(axle_ctx_open_stream(ctx, NULL, &st), 0);
    int rc = 0;
    if (perr == PARENT_ERROR) {
        rc = AXLE_SET_ERR(-EDOM, "ValueError in the parent");
    } else if (perr == PARENT_SIGINT) {
        raise(SIGINT);
        rc = axle_sleep(AXLE_NO_DEADLINE); /* the root's SIGINT cancels the body */
        ck_assert_int_eq(rc, -ECANCELED);
    } else if (ga.blocks) {
        ck_assert_int_eq(axle_ctx_cancel(ctx), 0);
    } else {
        if (st)
            ck_assert_int_eq(axle_stream_close(st), 0);
        ck_assert_int_eq(axle_ctx_result(ctx, &res), 0);
        ck_assert_int_eq(memcmp(res.data, "yo", 2), 0);
    }
    int crc = axle_ctx_close(ctx, rc);
    if (perr == PARENT_OK)
        ck_assert_int_eq(crc, 0);
    else
        ck_assert_int_eq(crc, rc);           /* never masked by the child's ContextCancelled */
    if (perr == PARENT_ERROR && ga.blocks) { /* the child was cancelled: its cleanup ran */
        for (int k = 0; k < 100 && child_cancelled(p) == 0; k++)
            axle_sleep(5 * MS);
        ck_assert_int_eq(child_cancelled(p), 1);
    }
    axle_buf_free(&first);
    axle_buf_free(&res);
    axle_actor_nursery_cancel(an);
    ck_assert_int_eq(axle_actor_nursery_close(an, 0), 0);
    return crc;
}

START_TEST(simple_context)
{
    int want[] = {0, -EDOM, -EINTR};
    ck_assert_int_eq(root_run(grid_main, (void *)(intptr_t)_i), want[_i % 3]);
}
END_TEST

static int reqresp_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    axle_stream *st;
    axle_buf first = {0}, b = {0};
    ck_assert_int_eq(axle_ctx_open(p, "c.reqresp", NULL, 0, &ctx, &first), 0);
    ck_assert_uint_eq(first.len, 0); /* first is None */
    ck_assert_int_eq(axle_ctx_open_stream(ctx, NULL, &st), 0);
    int pongs = 0;
    for (int k = 0; k < 10; k++) {
        ck_assert_int_eq(axle_stream_send(st, "ping", 4), 0);
        ck_assert_int_eq(axle_stream_recv(st, &b), 0);
        bool pong = b.len == 4 && memcmp(b.data, "pong", 4) == 0;
        bool yo = b.len == 2 && memcmp(b.data, "yo", 2) == 0;
        ck_assert_msg(pong || yo, "an unexpected message of %zu bytes", b.len);
        pongs += pong;
    }
    ck_assert_int_gt(pongs, 0);
    ck_assert_int_eq(axle_stream_close(st), 0);
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    axle_buf_free(&first);
    axle_buf_free(&b);
    return 0;
}

START_TEST(reqresp_ontopof_streaming) { ck_assert_int_eq(with_child(reqresp_body, NULL), 0); }
END_TEST

/* ---- errors on the way in and misuse ------------------------------------------------ */

static int child_cancels_before_started_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    ck_assert_int_eq(axle_ctx_open(p, "c.cancel_self", NULL, 0, &ctx, NULL), -AXLE_ECTXCANCELLED);
    ck_assert_ptr_null(ctx);
    const axle_error *e = axle_error_last();
    ck_assert_msg(strstr(axle_error_message(e), "itself"), "message: %s", axle_error_message(e));
    ck_assert_str_eq(axle_error_canceller(e)->name, "child");
    ck_assert_str_eq(axle_error_src_uid(e)->name, "child");
    return 0;
}

CHILD_TEST(child_cancels_before_started, child_cancels_before_started_body, NULL)

static int started_twice_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    ck_assert_int_eq(axle_ctx_open(p, "c.started_twice", NULL, 0, &ctx, NULL), 0);
    ck_assert_int_eq(axle_ctx_close(ctx, 0), -AXLE_EREMOTE);
    const axle_error *e = axle_error_last();
    ck_assert_str_eq(axle_error_src_type(e), "EINVAL");
    ck_assert_msg(strstr(axle_error_message(e), "called twice"), "message: %s",
                  axle_error_message(e));
    return 0;
}

CHILD_TEST(started_misuse_too_many_starteds, started_twice_body, NULL)

static int child_fails_body(axle_portal *p, void *arg)
{
    (void)arg;
    struct simple_args a = {1, FAIL_AFTER_STARTED};
    axle_ctx *ctx;
    ck_assert_int_eq(axle_ctx_open(p, "c.simple", &a, sizeof a, &ctx, NULL), 0);
    /* The body blocks; the child's error cancels its scope and comes back from close. */
    int rc = axle_sleep(AXLE_NO_DEADLINE);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_ctx_close(ctx, rc), -AXLE_EREMOTE);
    const axle_error *e = axle_error_last();
    ck_assert_str_eq(axle_error_src_type(e), "EDOM");
    ck_assert_str_eq(axle_error_src_uid(e)->name, "child");
    return 0;
}

static int stream_before_started_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    ck_assert_int_eq(axle_ctx_open(p, "c.stream_before_started", NULL, 0, &ctx, NULL),
                     -AXLE_EREMOTE);
    ck_assert_str_eq(axle_error_src_type(axle_error_last()), "EINVAL");
    ck_assert_msg(strstr(axle_error_message(axle_error_last()), "before axle_ctx_started"),
                  "message: %s", axle_error_message(axle_error_last()));
    return 0;
}

CHILD_TEST(started_misuse_stream_opened_before_started, stream_before_started_body, NULL)

/* test_unmasked_remote_exc: the child's real error, not a cancel from its cleanup. */
static int unmasked_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    ck_assert_int_eq(axle_ctx_open(p, "c.unmasked", NULL, 0, &ctx, NULL), 0);
    ck_assert_int_eq(axle_ctx_result(ctx, NULL), -AXLE_EREMOTE);
    ck_assert_str_eq(axle_error_src_type(axle_error_last()), "EDOM");
    ck_assert_int_eq(axle_ctx_close(ctx, 0), -AXLE_EREMOTE);
    return 0;
}

START_TEST(unmasked_remote_exc) { ck_assert_int_eq(with_child(unmasked_body, NULL), 0); }
END_TEST

/* (b) the child sends while the parent never opens its stream: the child fails on it. */
static int child_overruns_parent_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    int32_t n = 100000;
    ck_assert_int_eq(axle_ctx_open(p, "c.emit", &n, sizeof n, &ctx, NULL), 0);
    /* The body does not read: the 65th message overruns our buffer, we report it,
     * the child's send fails on it, its error comes back and cancels the body.
     * Over shm the child's full ring refuses the send itself, with the same end. */
    int rc = axle_sleep(AXLE_NO_DEADLINE);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert(axle_ctx_cancelled_caught(ctx));
    ck_assert_int_eq(axle_ctx_close(ctx, rc), -AXLE_EOVERRUN);
    const axle_error *e = axle_error_last();
    ck_assert_str_eq(axle_error_sender(e)->name, "child"); /* it overran us */
    if (shm_mode()) { /* the child's own ring refused its send: the error is the child's */
        ck_assert_str_eq(axle_error_src_uid(e)->name, "child");
        return 0;
    }
    ck_assert_uint_ge(axle_error_relay_len(e), 1); /* we said so; the child relayed it */
    ck_assert_str_eq(axle_error_relay(e, axle_error_relay_len(e) - 1)->name, "child");
    return 0;
}

CHILD_TEST(one_end_stream_not_opened_child_overruns_parent, child_overruns_parent_body, NULL)

CHILD_TEST(child_error_cancels_the_parents_body_and_is_returned, child_fails_body, NULL)

static int open_errors_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    ck_assert_int_eq(axle_ctx_open(p, "c.nope", NULL, 0, &ctx, NULL), -AXLE_EREMOTE);
    ck_assert_str_eq(axle_error_src_type(axle_error_last()), "ENOSYS");
    ck_assert_int_eq(axle_ctx_open(p, "hidden.fn", NULL, 0, &ctx, NULL), -AXLE_EREMOTE);
    ck_assert_str_eq(axle_error_src_type(axle_error_last()), "AXLE_ENOTEXPOSED");
    ck_assert_int_eq(axle_ctx_open(p, "c.plain", NULL, 0, &ctx, NULL), -EPROTO);
    ck_assert_msg(strstr(axle_error_message(axle_error_last()), "not a context function"),
                  "message: %s", axle_error_message(axle_error_last()));
    ck_assert_int_eq(axle_ctx_open(p, "nodot", NULL, 0, &ctx, NULL), -EINVAL);
    ck_assert_ptr_null(ctx);
    /* A context into one's own actor. */
    axle_portal *self;
    ck_assert_int_eq(axle_find_actor("root", &self), 0);
    ck_assert_int_eq(axle_ctx_open(self, "c.simple", NULL, 0, &ctx, NULL), -EINVAL);
    ck_assert_msg(strstr(axle_error_message(axle_error_last()), "invalid operation"), "message: %s",
                  axle_error_message(axle_error_last()));
    axle_portal_close(self);
    return 0;
}

START_TEST(open_errors_are_clear) { ck_assert_int_eq(with_child(open_errors_body, NULL), 0); }
END_TEST

static int started_on_parent_side_body(axle_portal *p, void *arg)
{
    (void)arg;
    struct simple_args a = {1, RETURN_YO};
    axle_ctx *ctx;
    ck_assert_int_eq(axle_ctx_open(p, "c.simple", &a, sizeof a, &ctx, NULL), 0);
    ck_assert_int_eq(axle_ctx_started(ctx, NULL, 0), -EINVAL);
    ck_assert_msg(strstr(axle_error_message(axle_error_last()), "parent side"), "message: %s",
                  axle_error_message(axle_error_last()));
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    return 0;
}

CHILD_TEST(started_on_the_parent_side_is_an_error, started_on_parent_side_body, NULL)

/* ---- inter-peer cancellation --------------------------------------------------------- */

static int peer_canceller_main(void *arg)
{
    (void)arg;
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_portal *sleeper, *canceller;
    axle_spawn_opts o = child_opts("sleeper");
    ck_assert_int_eq(axle_start_actor(an, &o, &sleeper), 0);
    o = child_opts("canceller");
    ck_assert_int_eq(axle_start_actor(an, &o, &canceller), 0);
    wait_registered("sleeper");

    axle_ctx *sc, *cc;
    struct simple_args a = {1, BLOCK};
    ck_assert_int_eq(axle_ctx_open(sleeper, "c.simple", &a, sizeof a, &sc, NULL), 0);
    ck_assert_int_eq(axle_ctx_open(canceller, "c.cancel_peer", NULL, 0, &cc, NULL), 0);

    /* Our context into sleeper: cancelled by "canceller", not by us. */
    int rc = axle_ctx_result(sc, NULL);
    ck_assert_int_eq(rc, -AXLE_ECTXCANCELLED);
    ck_assert_str_eq(axle_error_canceller(axle_error_last())->name, "canceller");
    ck_assert_str_eq(axle_ctx_canceller(sc)->name, "sleeper");
    ck_assert(!axle_ctx_cancel_acked(sc));

    ck_assert(!axle_ctx_cancelled_caught(sc)); /* the read returned it */

    /* The canceller saw its own cancel come back to it and says so. */
    ck_assert_int_eq(axle_ctx_close(cc, 0), 0); /* opened last, closed first */
    if (arg) { /* rte_during_ctxerr: an error raised while handling the ctxc wins */
        ck_assert_int_eq(axle_ctx_close(sc, AXLE_SET_ERR(-EDOM, "while handling it")), -EDOM);
        ck_assert_str_eq(axle_error_message(axle_error_last()), "while handling it");
    } else {
        ck_assert_int_eq(axle_ctx_close(sc, rc), -AXLE_ECTXCANCELLED);
        ck_assert_str_eq(axle_error_canceller(axle_error_last())->name, "canceller");
    }
    end_children(an);
    return 0;
}

ROOT_TEST(peer_canceller_every_context_names_the_canceller, peer_canceller_main, NULL)

ROOT_TEST(peer_canceller_error_during_ctxc_handling_propagates, peer_canceller_main, (void *)1)

/*
 * test_peer_spawns_and_cancels_service_subactor: the service's error
 * reaches the root relayed through client (source service, client on the
 * relay path); without it, the root cancels the client's context and gets
 * its own cancel back, acknowledged.
 */
static int service_body(axle_portal *p, void *arg)
{
    bool fails = arg != NULL;
    int32_t mode = fails ? FAIL_AFTER_STARTED : BLOCK;
    axle_ctx *ctx;
    ck_assert_int_eq(axle_ctx_open(p, "c.spawn_service", &mode, sizeof mode, &ctx, NULL), 0);
    if (fails) {
        ck_assert_int_eq(axle_ctx_close(ctx, 0), -AXLE_EREMOTE);
        const axle_error *e = axle_error_last();
        ck_assert_str_eq(axle_error_src_type(e), "EDOM");
        ck_assert_str_eq(axle_error_src_uid(e)->name, "service");
        bool via_client = false;
        for (size_t i = 0; i < axle_error_relay_len(e); i++)
            via_client |= strcmp(axle_error_relay(e, i)->name, "child") == 0;
        ck_assert_msg(via_client, "relay path of %zu hops lacks the client",
                      axle_error_relay_len(e));
        return 0;
    }
    axle_sleep(50 * MS);
    ck_assert_int_eq(axle_ctx_cancel(ctx), 0);
    ck_assert_int_eq(axle_ctx_result(ctx, NULL), AXLE_CTX_CANCEL_ACKED);
    ck_assert(axle_ctx_cancel_acked(ctx));
    ck_assert(is_me(axle_ctx_canceller(ctx)));
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    return 0;
}

/* The same with a KeyboardInterrupt (SIGINT at the root) while the client's context is open. */
static int service_sigint_main(void *arg)
{
    int32_t mode = arg ? FAIL_AFTER_STARTED : BLOCK;
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o = child_opts("child");
    axle_portal *p;
    ck_assert_int_eq(axle_start_actor(an, &o, &p), 0);
    axle_ctx *ctx;
    ck_assert_int_eq(axle_ctx_open(p, "c.spawn_service", &mode, sizeof mode, &ctx, NULL), 0);
    raise(SIGINT);
    int rc = axle_sleep(AXLE_NO_DEADLINE); /* the SIGINT cancels the root's body */
    ck_assert_int_eq(rc, -ECANCELED);
    rc = axle_ctx_close(ctx, rc); /* ours wins over whatever the service did */
    ck_assert_int_eq(rc, -ECANCELED);
    return axle_actor_nursery_close(an, rc);
}

START_TEST(peer_spawns_service_subactor_then_sigint)
{
    /* -EINTR: the tree is cancelled and reaped, the service (a grandchild) included. */
    ck_assert_int_eq(root_run(service_sigint_main, (void *)(intptr_t)_i), -EINTR);
}
END_TEST

CHILD_TEST(peer_spawns_and_cancels_service_subactor, service_body, NULL)

CHILD_TEST(peer_spawns_service_subactor_that_errors, service_body, (void *)1)

/* test_cancel_ctx_with_parent_side_entered_in_bg_task: cancelled out of band. */
struct bg {
    axle_portal *p;
    axle_ctx *ctx;
    axle_event opened;
    int result, close_rc;
};

static int bg_task(void *arg)
{
    struct bg *g = arg;
    struct simple_args a = {1, BLOCK};
    if (axle_ctx_open(g->p, "c.simple", &a, sizeof a, &g->ctx, NULL) < 0)
        return -1;
    axle_event_set(&g->opened);
    g->result = axle_ctx_result(g->ctx, NULL);
    g->close_rc = axle_ctx_close(g->ctx, g->result > 0 ? 0 : g->result);
    return 0;
}

static int bg_body(axle_portal *p, void *arg)
{
    bool by_ctx = arg != NULL;
    struct bg g = {.p = p};
    axle_event_init(&g.opened);
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    ck_assert_int_eq(axle_nursery_start_soon(n, bg_task, &g, NULL), 0);
    ck_assert_int_eq(axle_event_wait(&g.opened), 0);
    if (by_ctx)
        ck_assert_int_eq(axle_ctx_cancel(g.ctx), 0); /* from another task */
    else
        ck_assert_int_eq(axle_portal_cancel_actor(p, 0), 1);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    if (by_ctx) { /* ours: absorbed */
        ck_assert_int_eq(g.result, AXLE_CTX_CANCEL_ACKED);
        ck_assert_int_eq(g.close_rc, 0);
    } else { /* the actor's cancel, not the context's: raised, canceller us */
        ck_assert_int_eq(g.result, -AXLE_ECTXCANCELLED);
        ck_assert_int_eq(g.close_rc, -AXLE_ECTXCANCELLED);
    }
    return 0;
}

START_TEST(cancel_ctx_with_parent_side_entered_in_bg_task)
{
    ck_assert_int_eq(with_child(bg_body, (void *)(intptr_t)_i), 0);
}
END_TEST

static int not_swallowed_main(void *arg)
{
    (void)arg;
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_portal *pa, *pb;
    axle_spawn_opts o = child_opts("a");
    ck_assert_int_eq(axle_start_actor(an, &o, &pa), 0);
    o = child_opts("b");
    ck_assert_int_eq(axle_start_actor(an, &o, &pb), 0);
    wait_registered("b");
    axle_ctx *ctx;
    ck_assert_int_eq(axle_ctx_open(pa, "c.err_before_started", NULL, 0, &ctx, NULL), -AXLE_EREMOTE);
    const axle_error *e = axle_error_last();
    ck_assert_str_eq(axle_error_src_type(e), "EDOM");
    ck_assert_str_eq(axle_error_src_uid(e)->name, "a");
    end_children(an);
    return 0;
}

ROOT_TEST(error_before_started_not_swallowed_by_remote_ctxc, not_swallowed_main, NULL)

/* ---- streams ------------------------------------------------------------------------- */

static int pingpong_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    axle_buf first = {0}, b = {0};
    ck_assert_int_eq(axle_ctx_open(p, "c.pingpong", NULL, 0, &ctx, &first), 0);
    ck_assert_int_eq(*(int32_t *)first.data, 11);
    axle_stream *st;
    ck_assert_int_eq(axle_ctx_open_stream(ctx, NULL, &st), 0);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(axle_stream_send(st, "ping", 4), 0);
        ck_assert_int_eq(axle_stream_recv(st, &b), 0);
        ck_assert_uint_eq(b.len, 4);
        ck_assert_int_eq(memcmp(b.data, "pong", 4), 0);
    }
    ck_assert_int_eq(axle_stream_recv_nowait(st, &b), -EAGAIN);
    ck_assert_int_eq(axle_stream_close(st), 0);
    ck_assert_int_eq(axle_stream_close(st), 0); /* idempotent */
    ck_assert_int_eq(axle_stream_send(st, "ping", 4), -AXLE_ECLOSED);
    ck_assert_int_eq(axle_stream_recv(st, &b), -AXLE_ECLOSED);
    ck_assert_int_eq(axle_ctx_result(ctx, NULL), 0); /* our Stop ended it: it returned */
    axle_stream *again;
    ck_assert_int_eq(axle_ctx_open_stream(ctx, NULL, &again), -EINVAL); /* one-shot */
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    axle_buf_free(&first);
    axle_buf_free(&b);
    return 0;
}

CHILD_TEST(simple_rpc_ping_pong_over_a_stream, pingpong_body, NULL)

static int child_leaves_body(axle_portal *p, void *arg)
{
    bool send_first = arg != NULL;
    axle_ctx *ctx;
    axle_stream *st;
    axle_buf res = {0};
    ck_assert_int_eq(axle_ctx_open(p, "c.stream_and_leave", NULL, 0, &ctx, NULL), 0);
    ck_assert_int_eq(axle_ctx_open_stream(ctx, NULL, &st), 0);
    if (send_first)
        ck_assert_int_eq(axle_stream_send(st, "late", 4), 0); /* allowed, dropped over there */
    int64_t t0 = axle_now();
    ck_assert_int_eq(axle_stream_recv(st, NULL), -AXLE_EEOC);
    ck_assert_int_lt(axle_now() - t0, 2000 * MS); /* generous: a hang would be seconds */
    ck_assert_int_eq(axle_stream_recv(st, NULL), -AXLE_EEOC); /* and every later one */
    ck_assert_int_eq(axle_ctx_result(ctx, &res), 0);
    ck_assert_int_eq(memcmp(res.data, "yo", 2), 0);
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    axle_buf_free(&res);
    return 0;
}

CHILD_TEST(child_exits_ctx_after_stream_open, child_leaves_body, NULL)

CHILD_TEST(child_exits_ctx_after_stream_open_parent_sends_first, child_leaves_body, (void *)1)

/* Opening a stream after axle_ctx_cancel: a misuse error, or the ContextCancelled. */
static int stream_after_cancel_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    axle_stream *st;
    struct simple_args a = {1, BLOCK};
    ck_assert_int_eq(axle_ctx_open(p, "c.simple", &a, sizeof a, &ctx, NULL), 0);
    ck_assert_int_eq(axle_ctx_cancel(ctx), 0);
    int rc = axle_ctx_open_stream(ctx, NULL, &st);
    if (rc == -EINVAL) { /* its ContextCancelled has not arrived yet */
        ck_assert_msg(strstr(axle_error_message(axle_error_last()), "after axle_ctx_cancel"),
                      "message: %s", axle_error_message(axle_error_last()));
        ck_assert_int_eq(axle_ctx_result(ctx, NULL), AXLE_CTX_CANCEL_ACKED);
        rc = axle_ctx_open_stream(ctx, NULL, &st);
    }
    ck_assert_int_eq(rc, -AXLE_ECTXCANCELLED);
    ck_assert(is_me(axle_error_canceller(axle_error_last())));
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    return 0;
}

CHILD_TEST(stream_opened_after_cancel_raises_the_ctxc, stream_after_cancel_body, NULL)

/* (a) the parent sends while the child never opens its stream: StreamOverrun. */
static int one_end_not_opened_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    axle_stream *st;
    struct simple_args a = {1, BLOCK};
    ck_assert_int_eq(axle_ctx_open(p, "c.simple", &a, sizeof a, &ctx, NULL), 0);
    ck_assert_int_eq(axle_ctx_open_stream(ctx, NULL, &st), 0);
    int rc = 0, sent = 0;
    for (; rc == 0 && sent < 2000; sent++) {
        rc = axle_stream_send(st, "x", 1);
        if (sent >= 64 && rc == 0)
            axle_sleep(1 * MS); /* the overrun report is on its way */
    }
    ck_assert_int_eq(rc, -AXLE_EOVERRUN);
    ck_assert_int_ge(sent, 65);
    const axle_error *e = axle_error_last();
    ck_assert(is_me(axle_error_sender(e)));
    ck_assert_str_eq(axle_error_src_uid(e)->name, "child");
    ck_assert_int_eq(axle_ctx_close(ctx, rc), -AXLE_EOVERRUN);
    return 0;
}

CHILD_TEST(one_end_stream_not_opened_parent_overruns, one_end_not_opened_body, NULL)

/*
 * batches of n messages to c.echo, each read back in order before the
 * next; then close the stream, take the "yo" result and close the context.
 */
static void echo_batches(axle_ctx *ctx, axle_stream *st, int batches, int32_t n)
{
    axle_buf b = {0}, res = {0};
    for (int batch = 0; batch < batches; batch++) {
        for (int32_t i = 0; i < n; i++)
            ck_assert_int_eq(axle_stream_send(st, &i, sizeof i), 0); /* never refused */
        for (int32_t i = 0; i < n; i++) {
            ck_assert_int_eq(axle_stream_recv(st, &b), 0);
            ck_assert_int_eq(*(int32_t *)b.data, i);
        }
    }
    ck_assert_int_eq(axle_stream_close(st), 0);
    ck_assert_int_eq(axle_ctx_result(ctx, &res), 0);
    ck_assert_int_eq(memcmp(res.data, "yo", 2), 0);
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    axle_buf_free(&b);
    axle_buf_free(&res);
}

/* A slow echo with a 1-message buffer: with allow_overruns nothing is lost. */
static int overruns_allowed_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    axle_stream *st;
    struct echo_args a = {1, 1, 5};
    ck_assert_int_eq(axle_ctx_open(p, "c.echo", &a, sizeof a, &ctx, NULL), 0);
    axle_stream_opts o = {.msg_buffer_size = 1, .allow_overruns = true};
    ck_assert_int_eq(axle_ctx_open_stream(ctx, &o, &st), 0);
    echo_batches(ctx, st, 2, 10);
    return 0;
}

CHILD_TEST(allow_overruns_on_both_sides_loses_nothing, overruns_allowed_body, NULL)

/* The same slow child without allow_overruns: the parent gets the StreamOverrun. */
static int overruns_not_allowed_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    axle_stream *st;
    open_echo(p, (struct echo_args){1, 0, 20}, false, &ctx, &st);
    int rc = 0;
    for (int32_t i = 0; rc == 0 && i < 500; i++) {
        rc = axle_stream_send(st, &i, sizeof i);
        if (rc == 0 && i >= 2)
            axle_sleep(1 * MS);
    }
    ck_assert_int_eq(rc, -AXLE_EOVERRUN);
    ck_assert(is_me(axle_error_sender(axle_error_last())));
    ck_assert_int_eq(axle_ctx_close(ctx, rc), -AXLE_EOVERRUN);
    return 0;
}

CHILD_TEST(slow_child_without_allow_overruns_reports_the_overrun, overruns_not_allowed_body, NULL)

/*
 * test_maybe_allow_overruns_stream, all 16 cases: overruns allowed on no
 * side, the parent's, the child's or both; the slow side (10 ms per
 * message) is the parent or the child; the parent cancels at the end or
 * closes. Both sides have a 1-message buffer and the parent sends each
 * batch of 10 before reading. As in the reference: when the slow side
 * allows overruns nothing is lost (the fast side keeps up with its buffer:
 * its runtime hands it one frame at a time); otherwise the parent sees
 * -AXLE_EOVERRUN: its own (a slow child's runtime reports it) or the one
 * it reported, relayed back by the child whose send failed on it (a slow
 * parent).
 */
enum { ALLOW_NONE, ALLOW_PARENT, ALLOW_CHILD, ALLOW_BOTH };

static int overruns_body(axle_portal *p, void *arg)
{
    int i = (int)(intptr_t)arg;
    int allow = i % 4;
    bool slow_parent = (i / 4) % 2, cancel = i / 8;
    bool child_allows = allow == ALLOW_CHILD || allow == ALLOW_BOTH;
    bool parent_allows = allow == ALLOW_PARENT || allow == ALLOW_BOTH;
    bool lossless = slow_parent ? parent_allows : child_allows;
    axle_ctx *ctx;
    axle_stream *st;
    struct echo_args a = {1, child_allows, slow_parent ? 0 : 10};
    ck_assert_int_eq(axle_ctx_open(p, "c.echo", &a, sizeof a, &ctx, NULL), 0);
    axle_stream_opts so = {.msg_buffer_size = 1, .allow_overruns = parent_allows};
    ck_assert_int_eq(axle_ctx_open_stream(ctx, &so, &st), 0);
    axle_buf b = {0};
    int rc = 0;
    for (int batch = 0; rc == 0 && batch < 2; batch++) {
        for (int32_t k = 0; rc == 0 && k < 10; k++)
            rc = axle_stream_send(st, &k, sizeof k);
        for (int32_t k = 0; rc == 0 && k < 10; k++) {
            if (slow_parent)
                axle_sleep(10 * MS);
            rc = axle_stream_recv(st, &b);
            if (rc == 0 && lossless)
                ck_assert_int_eq(*(int32_t *)b.data, k); /* in order, nothing lost */
            else if (rc == 0)
                k = *(int32_t *)b.data; /* a gap: what was dropped before the error came */
        }
    }
    while (!lossless && rc == 0) /* the overrun's error is on its way */
        rc = axle_stream_recv(st, &b);
    axle_buf_free(&b);
    if (!lossless) {
        ck_assert_msg(rc == -AXLE_EOVERRUN, "case %d: %s", i, axle_errname(rc));
        ck_assert_int_eq(axle_ctx_close(ctx, rc), -AXLE_EOVERRUN);
        return 0;
    }
    ck_assert_msg(rc == 0, "case %d: %s: %s", i, axle_errname(rc),
                  rc ? axle_error_message(axle_error_last()) : "");
    if (cancel) {
        ck_assert_int_eq(axle_ctx_cancel(ctx), 0);
        ck_assert_int_eq(axle_ctx_result(ctx, NULL), AXLE_CTX_CANCEL_ACKED);
        ck_assert(is_me(axle_ctx_canceller(ctx)));
    } else {
        axle_buf res = {0};
        ck_assert_int_eq(axle_stream_close(st), 0);
        ck_assert_int_eq(axle_ctx_result(ctx, &res), 0);
        ck_assert_int_eq(memcmp(res.data, "yo", 2), 0);
        axle_buf_free(&res);
    }
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    return 0;
}

START_TEST(maybe_allow_overruns_stream)
{
    ck_assert_int_eq(with_child(overruns_body, (void *)(intptr_t)_i), 0);
}
END_TEST

/* ---- overruns on the shared-memory data plane (the writer's policy) ------------------- */

/* A 4 KiB ring holds 256 records of a 4-byte message (8-byte header, 8-byte aligned). */
#define SMALL_RING 4096
#define SMALL_RING_RECORDS (SMALL_RING / 16)

/* ERROR: the child never reads; the send after the ring's last record fails, nothing sent. */
static int shm_error_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    axle_stream *st;
    struct simple_args a = {1, BLOCK};
    ck_assert_int_eq(axle_ctx_open(p, "c.simple", &a, sizeof a, &ctx, NULL), 0);
    axle_stream_opts o = {.transport = AXLE_STREAM_SHM, .shm_bytes = SMALL_RING};
    ck_assert_int_eq(axle_ctx_open_stream(ctx, &o, &st), 0);
    ck_assert_int_eq(axle_stream_transport_of(st), AXLE_STREAM_SHM);
    int rc = 0, sent = 0;
    for (int32_t i = 0; rc == 0 && i < 10 * SMALL_RING_RECORDS; i++)
        if ((rc = axle_stream_send(st, &i, sizeof i)) == 0)
            sent++;
    ck_assert_int_eq(rc, -AXLE_EOVERRUN);
    ck_assert_int_eq(sent, SMALL_RING_RECORDS);
    const axle_error *e = axle_error_last();
    ck_assert(is_me(axle_error_sender(e)));
    ck_assert_ptr_nonnull(strstr(axle_error_message(e), "shm ring"));
    ck_assert_int_eq(axle_ctx_close(ctx, rc), -AXLE_EOVERRUN); /* a local error, not masked */
    return 0;
}

CHILD_TEST(shm_error_overrun_fails_the_send_at_once, shm_error_body, NULL)

/* DRAIN (allow_overruns): 2000 messages into a 256-record ring of a slow echo, none lost. */
static int shm_drain_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    axle_stream *st;
    struct echo_args a = {0, 0, 0};
    ck_assert_int_eq(axle_ctx_open(p, "c.echo", &a, sizeof a, &ctx, NULL), 0);
    axle_stream_opts o = {.allow_overruns = true, .shm_bytes = SMALL_RING};
    ck_assert_int_eq(axle_ctx_open_stream(ctx, &o, &st), 0);
    ck_assert_int_eq(axle_stream_transport_of(st), AXLE_STREAM_SHM);
    echo_batches(ctx, st, 1, 2000); /* the drainer pushes what waits as the child reads */
    return 0;
}

CHILD_TEST(shm_drain_overrun_loses_nothing, shm_drain_body, NULL)

/*
 * 300 messages into a 256-record ring of a slow counter (c.count), then
 * close at once: under DRAIN closing pushes the queue before Stop; under
 * BLOCK the sends wait for room. Either way the counter sees all, in order.
 */
static int shm_count_body(axle_portal *p, void *arg)
{
    axle_ctx *ctx;
    axle_stream *st;
    axle_buf res = {0};
    ck_assert_int_eq(axle_ctx_open(p, "c.count", NULL, 0, &ctx, NULL), 0);
    axle_stream_opts o = {.shm_overrun = (axle_stream_overrun)(intptr_t)arg,
                          .shm_bytes = SMALL_RING};
    ck_assert_int_eq(axle_ctx_open_stream(ctx, &o, &st), 0);
    for (int32_t i = 0; i < 300; i++)
        ck_assert_int_eq(axle_stream_send(st, &i, sizeof i), 0);
    ck_assert_int_eq(axle_stream_close(st), 0);
    ck_assert_int_eq(axle_ctx_result(ctx, &res), 0);
    ck_assert_int_eq(*(int32_t *)res.data, 300);
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    axle_buf_free(&res);
    return 0;
}

CHILD_TEST(shm_drain_close_pushes_the_queue_before_stop, shm_count_body,
           (void *)(intptr_t)AXLE_STREAM_OVERRUN_DRAIN)
CHILD_TEST(shm_block_back_pressure_loses_nothing, shm_count_body,
           (void *)(intptr_t)AXLE_STREAM_OVERRUN_BLOCK)

/* BLOCK: back-pressure; a send waiting for room is cancellable and sends nothing. */
static int shm_block_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    axle_stream *st;
    struct simple_args a = {1, BLOCK};
    ck_assert_int_eq(axle_ctx_open(p, "c.simple", &a, sizeof a, &ctx, NULL), 0);
    axle_stream_opts o = {.shm_overrun = AXLE_STREAM_OVERRUN_BLOCK, .shm_bytes = SMALL_RING};
    ck_assert_int_eq(axle_ctx_open_stream(ctx, &o, &st), 0);
    int sent = 0, rc = 0;
    axle_scope sc;
    axle_move_on_after(&sc, 100 * MS);
    for (int32_t i = 0; rc == 0 && i < 10 * SMALL_RING_RECORDS; i++)
        if ((rc = axle_stream_send(st, &i, sizeof i)) == 0)
            sent++;
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&sc, rc), 0);
    ck_assert(axle_scope_cancelled_caught(&sc));
    ck_assert_int_eq(sent, SMALL_RING_RECORDS);
    ck_assert_int_eq(axle_ctx_cancel(ctx), 0);
    ck_assert_int_eq(axle_ctx_result(ctx, NULL), AXLE_CTX_CANCEL_ACKED);
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    return 0;
}

CHILD_TEST(shm_block_send_waits_and_is_cancellable, shm_block_body, NULL)

/* A message longer than the ring's largest record: -EMSGSIZE, the stream goes on. */
static int shm_msgsize_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    axle_stream *st;
    axle_buf b = {0};
    ck_assert_int_eq(axle_ctx_open(p, "c.echo", &(struct echo_args){0, 0, 0},
                                   sizeof(struct echo_args), &ctx, NULL),
                     0);
    axle_stream_opts o = {.transport = AXLE_STREAM_SHM, .shm_bytes = SMALL_RING};
    ck_assert_int_eq(axle_ctx_open_stream(ctx, &o, &st), 0);
    static char big[SMALL_RING];
    ck_assert_int_eq(axle_stream_send(st, big, sizeof big), -EMSGSIZE);
    ck_assert_int_eq(axle_stream_send(st, big, SMALL_RING - 8), 0); /* the largest fits */
    ck_assert_int_eq(axle_stream_recv(st, &b), 0);
    ck_assert_uint_eq(b.len, SMALL_RING - 8);
    ck_assert_int_eq(axle_stream_close(st), 0);
    ck_assert_int_eq(axle_ctx_result(ctx, NULL), 0);
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    axle_buf_free(&b);
    return 0;
}

CHILD_TEST(shm_message_longer_than_the_ring_is_refused, shm_msgsize_body, NULL)

/* A child that leaves a segment open: its runtime unlinks it when the actor ends. */
static axle_shm *kept;

static int c_keep_segment(const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    return kept ? 0 : axle_shm_create(&kept, "kept", 4096);
}
AXLE_EXPORT("c.keep_segment", c_keep_segment)

static int keep_segment_body(axle_portal *p, void *arg)
{
    (void)arg;
    ck_assert_int_eq(axle_portal_run(p, "c.keep_segment", NULL, 0, NULL), 0);
    ck_assert_int_eq(axle_test_shm_count(axle_portal_uid(p)->pid), 1);
    return 0; /* with_child ends the child and checks nothing is left */
}

CHILD_TEST(segments_do_not_outlive_their_actor, keep_segment_body, NULL)

/* The forced channel really is the channel, and shm forced reports it got shm. */
static int transport_choice_body(axle_portal *p, void *arg)
{
    (void)arg;
    for (int k = 0; k < 2; k++) {
        axle_ctx *ctx;
        axle_stream *st;
        axle_buf b = {0};
        ck_assert_int_eq(axle_ctx_open(p, "c.echo", &(struct echo_args){0, 0, 0},
                                       sizeof(struct echo_args), &ctx, NULL),
                         0);
        axle_stream_opts o = {.transport = k ? AXLE_STREAM_SHM : AXLE_STREAM_CHANNEL};
        ck_assert_int_eq(axle_ctx_open_stream(ctx, &o, &st), 0);
        ck_assert_int_eq(axle_stream_transport_of(st), o.transport);
        ck_assert_int_eq(axle_stream_send(st, "hey", 3), 0);
        ck_assert_int_eq(axle_stream_recv(st, &b), 0);
        ck_assert_int_eq(memcmp(b.data, "hey", 3), 0);
        /* Both rings are mapped on both sides, and no name is left to leak. */
        ck_assert_int_eq(axle_test_shm_count(getpid()), 0);
        ck_assert_int_eq(axle_test_shm_count(axle_portal_uid(p)->pid), 0);
        ck_assert_int_eq(axle_stream_close(st), 0);
        ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
        axle_buf_free(&b);
    }
    return 0;
}

CHILD_TEST(stream_transport_can_be_forced_either_way, transport_choice_body, NULL)

/* A child that claims another host: its actor's streams never take shm. */
static int c_move_away(const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len, (void)ret;
    axle__stream_set_host_id("another-host/pid:[0]");
    return 0;
}
AXLE_EXPORT("c.move_away", c_move_away)

/* Echo one message on a stream of the default transport; the result is that transport. */
static int c_echo_once(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)args, (void)len;
    axle_stream *st;
    axle_buf b = {0};
    int rc = axle_ctx_started(ctx, NULL, 0);
    if (rc == 0)
        rc = axle_ctx_open_stream(ctx, NULL, &st);
    if (rc == 0 && (rc = axle_stream_recv(st, &b)) == 0)
        rc = axle_stream_send(st, b.data, b.len);
    axle_buf_free(&b);
    if (rc < 0)
        return rc;
    int32_t t = (int32_t)axle_stream_transport_of(st);
    return axle_buf_set(ret, &t, sizeof t);
}
AXLE_EXPORT_CTX("c.echo_once", c_echo_once)

static int other_host_body(axle_portal *p, void *arg)
{
    (void)arg;
    ck_assert_int_eq(axle_portal_run(p, "c.move_away", NULL, 0, NULL), 0);
    /* Chosen automatically: the channel, both ways, and the stream works. */
    axle_ctx *ctx;
    axle_stream *st;
    axle_buf b = {0}, res = {0};
    ck_assert_int_eq(axle_ctx_open(p, "c.echo_once", NULL, 0, &ctx, NULL), 0);
    axle_stream_opts o = {.transport = AXLE_STREAM_AUTO};
    ck_assert_int_eq(axle_ctx_open_stream(ctx, &o, &st), 0);
    ck_assert_int_eq(axle_stream_transport_of(st), AXLE_STREAM_CHANNEL);
    ck_assert_int_eq(axle_stream_send(st, "far", 3), 0);
    ck_assert_int_eq(axle_stream_recv(st, &b), 0);
    ck_assert_int_eq(memcmp(b.data, "far", 3), 0);
    ck_assert_int_eq(axle_ctx_result(ctx, &res), 0);
    ck_assert_int_eq(*(int32_t *)res.data, AXLE_STREAM_CHANNEL);
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    /* Forced: the open fails with the peer's reason, and the context ends cleanly. */
    ck_assert_int_eq(axle_ctx_open(p, "c.echo_once", NULL, 0, &ctx, NULL), 0);
    o.transport = AXLE_STREAM_SHM;
    int rc = axle_ctx_open_stream(ctx, &o, &st);
    ck_assert_int_eq(rc, -EXDEV);
    const char *why = axle_error_message(axle_error_last());
    ck_assert_msg(strstr(why, "another host"), "message: %s", why);
    ck_assert_int_eq(axle_ctx_close(ctx, rc), -EXDEV);
    ck_assert_int_eq(axle_test_shm_count(getpid()), 0); /* the refused ring is gone */
    axle_buf_free(&b);
    axle_buf_free(&res);
    return 0;
}

CHILD_TEST(stream_to_another_host_stays_on_the_channel, other_host_body, NULL)

/* A send in a cancelled scope fails -ECANCELED and sends nothing, on either transport. */
static int send_cancelled_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    axle_stream *st;
    open_echo(p, (struct echo_args){0, 0, 0}, false, &ctx, &st);
    axle_scope sc;
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    axle_scope_cancel(&sc);
    ck_assert_int_eq(axle_stream_send(st, "no", 2), -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&sc, -ECANCELED), 0);
    axle_buf b = {0};
    ck_assert_int_eq(axle_stream_send(st, "yes", 3), 0);
    ck_assert_int_eq(axle_stream_recv(st, &b), 0); /* the echo of "yes": "no" never went */
    ck_assert_int_eq(b.len, 3);
    ck_assert_int_eq(memcmp(b.data, "yes", 3), 0);
    axle_buf_free(&b);
    ck_assert_int_eq(axle_stream_close(st), 0);
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    return 0;
}

CHILD_TEST(stream_send_is_a_checkpoint, send_cancelled_body, NULL)

/* The parent's Stop queues behind what overflowed: the child sees all 20 first. */
static int stop_behind_overflow_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    axle_stream *st;
    axle_buf res = {0};
    ck_assert_int_eq(axle_ctx_open(p, "c.count", NULL, 0, &ctx, NULL), 0);
    ck_assert_int_eq(axle_ctx_open_stream(ctx, NULL, &st), 0);
    for (int32_t i = 0; i < 20; i++)
        ck_assert_int_eq(axle_stream_send(st, &i, sizeof i), 0);
    ck_assert_int_eq(axle_stream_close(st), 0);
    ck_assert_int_eq(axle_ctx_result(ctx, &res), 0);
    ck_assert_int_eq(*(int32_t *)res.data, 20);
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    axle_buf_free(&res);
    return 0;
}

CHILD_TEST(stop_never_overtakes_overflowed_data, stop_behind_overflow_body, NULL)

/* Another task cancels the context while the first one receives. */
struct mt {
    axle_ctx *ctx;
};

static int canceller_task(void *arg)
{
    struct mt *m = arg;
    axle_sleep(50 * MS);
    return axle_ctx_cancel(m->ctx);
}

static int multitask_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    axle_stream *st;
    open_echo(p, (struct echo_args){0, 0, 0}, false, &ctx, &st);
    struct mt m = {ctx};
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    ck_assert_int_eq(axle_nursery_start_soon(n, canceller_task, &m, NULL), 0);
    int rc = axle_stream_recv(st, NULL);
    ck_assert_int_eq(rc, -AXLE_ECTXCANCELLED); /* our own cancel: raised by the read */
    ck_assert(is_me(axle_error_canceller(axle_error_last())));
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(axle_ctx_close(ctx, rc), 0); /* and absorbed at the exit */
    return 0;
}

CHILD_TEST(multitask_parent_cancels_from_nonroot_task, multitask_body, NULL)

/* The child dies mid-stream: what it sent arrives, then an error, never a hang. */
static int dies_mid_stream_main(void *arg)
{
    (void)arg;
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o = child_opts("child");
    axle_portal *p;
    ck_assert_int_eq(axle_start_actor(an, &o, &p), 0);
    axle_ctx *ctx;
    axle_stream *st;
    axle_buf b = {0};
    ck_assert_int_eq(axle_ctx_open(p, "c.die_mid_stream", NULL, 0, &ctx, NULL), 0);
    ck_assert_int_eq(axle_ctx_open_stream(ctx, NULL, &st), 0);
    for (int32_t i = 0; i < 3; i++) {
        ck_assert_int_eq(axle_stream_recv(st, &b), 0);
        ck_assert_int_eq(*(int32_t *)b.data, i);
    }
    pid_t child = axle_portal_uid(p)->pid;
    ck_assert_int_eq(axle_test_shm_count(child), 1); /* "doomed"; the stream's ring has no name */
    ck_assert_int_eq(axle_stream_send(st, "die", 3), 0);
    /*
     * Whichever the runtime sees first: the connection's end (a transport
     * error), or the nursery's supervisor reaping the dead child, which
     * cancels the nursery's body (one cancels all).
     */
    int rc = axle_stream_recv(st, &b);
    ck_assert_msg(rc == -AXLE_ETRANSPORT || rc == -ECANCELED, "recv: %s", axle_errname(rc));
    ck_assert_int_eq(axle_ctx_close(ctx, rc), rc);
    /* The nursery reports the death itself. */
    rc = axle_actor_nursery_close(an, 0);
    ck_assert_int_eq(rc, -AXLE_EREMOTE);
    ck_assert_str_eq(axle_error_src_type(axle_error_last()), "SIGKILL");
    ck_assert_int_eq(axle_test_shm_count(child), 0); /* reaping it unlinked what it left */
    axle_buf_free(&b);
    return 0;
}

ROOT_TEST(child_dies_mid_stream, dies_mid_stream_main, NULL)

/*
 * test_ipc_channel_break_during_stream: the parent streams to the child and
 * the transport is shut down after some messages on the parent's side, the
 * child's, both (either first) or neither, with or without closing the
 * stream first. Every case ends with an exact error and never hangs: the
 * parent's stream and context give -AXLE_ETRANSPORT once the connection is
 * gone (whoever broke it), or, with no break, the child's count; then a
 * SIGINT, and the root ends with -AXLE_ETRANSPORT when the parent broke the
 * transport (alone or first), else -EINTR, as in the reference.
 */
enum { BRK_NONE, BRK_PARENT, BRK_CHILD, BRK_BOTH_PARENT_FIRST, BRK_BOTH_CHILD_FIRST };

static int ipc_break_main(void *arg)
{
    int i = (int)(intptr_t)arg;
    int kind = i % 5;
    bool pre_close = i / 5;
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o = child_opts("child");
    axle_portal *p;
    ck_assert_int_eq(axle_start_actor(an, &o, &p), 0);
    int32_t parent_at = kind == BRK_PARENT || kind == BRK_BOTH_PARENT_FIRST ? 500
                        : kind == BRK_BOTH_CHILD_FIRST                      ? 800
                                                                            : 0;
    struct break_args ba = {kind == BRK_CHILD || kind == BRK_BOTH_CHILD_FIRST ? 500
                            : kind == BRK_BOTH_PARENT_FIRST                   ? 800
                                                                              : 0};
    axle_ctx *ctx;
    axle_stream *st;
    ck_assert_int_eq(axle_ctx_open(p, "c.break_sink", &ba, sizeof ba, &ctx, NULL), 0);
    ck_assert_int_eq(axle_ctx_open_stream(ctx, NULL, &st), 0);
    int rc = 0;
    int32_t sent = 0;
    for (; rc == 0 && sent < 2000; sent++) {
        if (sent == parent_at && parent_at)
            axle__ctx_break_transport(ctx);
        rc = axle_stream_send(st, &sent, sizeof sent);
        if (sent % 100 == 99)
            axle_sleep(1 * MS); /* let the child read (and break) as it goes */
    }
    axle_buf res = {0};
    if (pre_close && rc == 0) /* else the context's close closes the stream itself */
        rc = axle_stream_close(st);
    if (pre_close && rc == 0)
        rc = axle_ctx_result(ctx, &res);
    if (kind == BRK_NONE) {
        ck_assert_int_eq(rc, 0);
        if (pre_close)
            ck_assert_int_eq(*(int32_t *)res.data, 2000);
        ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    } else {
        if (!pre_close && rc == 0) /* a break late in the run: the close meets it */
            rc = axle_ctx_close(ctx, 0), ctx = NULL;
        ck_assert_msg(rc == -AXLE_ETRANSPORT, "case %d: %s", i, axle_errname(rc));
        if (ctx)
            ck_assert_int_eq(axle_ctx_close(ctx, rc), -AXLE_ETRANSPORT);
    }
    axle_buf_free(&res);
    /*
     * Then, as the reference's test does, the user hits ^C: a break on our
     * side is our error and goes up first (tractor: TransportClosed); with
     * no break, or the child's, the stream just ended for us and the
     * interrupt is what ends the tree (KeyboardInterrupt: -EINTR).
     */
    bool ours = kind == BRK_PARENT || kind == BRK_BOTH_PARENT_FIRST;
    if (!ours) {
        raise(SIGINT);
        ck_assert_int_eq(axle_sleep(AXLE_NO_DEADLINE), -ECANCELED);
        rc = -ECANCELED;
    }
    axle_actor_nursery_cancel(an);
    /* The child ends when its link to us does: cancelled, exit status 0. */
    int nrc = axle_actor_nursery_close(an, ours ? 0 : rc);
    ck_assert_int_eq(nrc, ours ? 0 : -ECANCELED);
    return ours ? -AXLE_ETRANSPORT : nrc;
}

START_TEST(ipc_channel_break_during_stream)
{
    int kind = _i % 5;
    bool ours = kind == BRK_PARENT || kind == BRK_BOTH_PARENT_FIRST;
    ck_assert_int_eq(root_run(ipc_break_main, (void *)(intptr_t)_i),
                     ours ? -AXLE_ETRANSPORT : -EINTR);
}
END_TEST

/* ---- broadcast -------------------------------------------------------------------------- */

#define FAN 4
#define FAN_N 100

struct fan_task {
    axle_sub *sub;
    int got; /* values received in order */
};

static int fan_reader(void *arg)
{
    struct fan_task *t = arg;
    axle_buf b = {0};
    for (int32_t i = 0; i < FAN_N; i++) {
        int rc = axle_sub_recv(t->sub, &b, NULL);
        if (rc < 0)
            return rc;
        if (b.len != sizeof i || *(int32_t *)b.data != i)
            return AXLE_SET_ERR(-EPROTO, "value %d out of order", (int)i);
        t->got++;
    }
    axle_buf_free(&b);
    return 0;
}

/* Every local subscriber receives the whole sequence, in order. */
static int fan_out_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    axle_stream *st;
    open_echo(p, (struct echo_args){0, 1, 0}, true, &ctx, &st);
    struct fan_task t[FAN];
    for (int i = 0; i < FAN; i++) {
        t[i].got = 0;
        ck_assert_int_eq(axle_stream_subscribe(st, NULL, &t[i].sub), 0);
    }
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    for (int i = 0; i < FAN; i++)
        ck_assert_int_eq(axle_nursery_start_soon(n, fan_reader, &t[i], NULL), 0);
    for (int32_t i = 0; i < FAN_N; i++) /* a subscriber sends through the stream */
        ck_assert_int_eq(axle_sub_send(t[i % FAN].sub, &i, sizeof i), 0);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    for (int i = 0; i < FAN; i++) {
        ck_assert_int_eq(t[i].got, FAN_N);
        ck_assert_int_eq(axle_sub_close(t[i].sub), 0);
    }
    ck_assert_int_eq(axle_stream_close(st), 0);
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    return 0;
}

CHILD_TEST(stream_fan_out_to_local_subscriptions, fan_out_body, NULL)

#define LAG_N 40

struct lag_task {
    axle_sub *sub;
    bool raise;
    int got, lagged;
    uint64_t missed;
};

/* A slow subscriber: 10 ms per value, until the stream ends. */
static int slow_reader(void *arg)
{
    struct lag_task *t = arg;
    int32_t last = -1;
    uint64_t skipped = 0; /* reported missed since the last value */
    for (;;) {
        int32_t v;
        axle_buf b = {0};
        uint64_t missed;
        int rc = axle_sub_recv(t->sub, &b, &missed);
        if (rc == 0) {
            memcpy(&v, b.data, sizeof v);
            axle_buf_free(&b);
            if (v <= last) /* in order; what it did not see, it was told of */
                return AXLE_SET_ERR(-EPROTO, "value %d after %d", (int)v, (int)last);
            if (t->raise && v != last + 1 + (int32_t)skipped) /* resumed at the oldest kept */
                return AXLE_SET_ERR(-EPROTO, "value %d after %d and %llu missed", (int)v, (int)last,
                                    (unsigned long long)skipped);
            last = v;
            skipped = 0;
            t->got++;
            axle_sleep(10 * MS);
        } else if (rc == -AXLE_ELAGGED) {
            if (missed == 0)
                return AXLE_SET_ERR(-EPROTO, "lagged without a count");
            t->lagged++;
            t->missed += missed;
            skipped += missed;
        } else {
            return rc == -AXLE_EEOC ? 0 : rc;
        }
    }
}

/* The slower consumer lags, re-syncs, and in the end has seen or counted every value. */
static int lag_body(axle_portal *p, void *arg)
{
    bool raise = arg == NULL;
    axle_ctx *ctx;
    axle_stream *st;
    int32_t n = LAG_N;
    ck_assert_int_eq(axle_ctx_open(p, "c.emit", &n, sizeof n, &ctx, NULL), 0);
    axle_stream_opts so = {.allow_overruns = true};
    ck_assert_int_eq(axle_ctx_open_stream(ctx, &so, &st), 0);
    struct lag_task t = {.raise = raise};
    axle_sub_opts o = {.max_buffer = 4, .no_raise_on_lag = !raise};
    ck_assert_int_eq(axle_stream_subscribe(st, &o, &t.sub), 0);
    axle_nursery *nn;
    ck_assert_int_eq(axle_nursery_open(&nn), 0);
    ck_assert_int_eq(axle_nursery_start_soon(nn, slow_reader, &t, NULL), 0);
    axle_buf b = {0};
    for (int32_t i = 0; i < LAG_N; i++) { /* the fast consumer: the stream's own receive */
        ck_assert_int_eq(axle_stream_recv(st, &b), 0);
        ck_assert_int_eq(*(int32_t *)b.data, i);
    }
    ck_assert_int_eq(axle_stream_recv(st, &b), -AXLE_EEOC);
    ck_assert_int_eq(axle_nursery_close(nn, 0), 0);
    if (raise) {
        ck_assert_int_ge(t.lagged, 1);
        ck_assert_int_eq((uint64_t)t.got + t.missed, LAG_N); /* seen or counted: all */
    } else {
        ck_assert_int_eq(t.lagged, 0);
        ck_assert_int_lt(t.got, LAG_N);
    }
    ck_assert_int_eq(axle_sub_close(t.sub), 0);
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    axle_buf_free(&b);
    return 0;
}

START_TEST(consumer_and_parent_maybe_lag) { ck_assert_int_eq(with_child(lag_body, NULL), 0); }
END_TEST

struct counter {
    axle_sub *sub;
    int got;
    int rc;
};

static int counter_task(void *arg)
{
    struct counter *c = arg;
    axle_buf b = {0};
    int32_t want = 0;
    while ((c->rc = axle_sub_recv(c->sub, &b, NULL)) == 0) {
        if (*(int32_t *)b.data != want++) {
            c->rc = -EPROTO;
            break;
        }
        c->got++;
    }
    if (c->rc == -AXLE_EEOC)
        c->rc = 0;
    axle_buf_free(&b);
    return 0;
}

/* The other way round: the parent (the stream's own receive) is the slow one and lags. */
static int parent_lags_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    axle_stream *st;
    int32_t n = LAG_N;
    ck_assert_int_eq(axle_ctx_open(p, "c.emit", &n, sizeof n, &ctx, NULL), 0);
    axle_stream_opts so = {.allow_overruns = true};
    ck_assert_int_eq(axle_ctx_open_stream(ctx, &so, &st), 0);
    struct counter fast = {0};
    axle_sub_opts o = {.max_buffer = 4};
    ck_assert_int_eq(axle_stream_subscribe(st, &o, &fast.sub), 0);
    axle_nursery *nn;
    ck_assert_int_eq(axle_nursery_open(&nn), 0);
    ck_assert_int_eq(axle_nursery_start_soon(nn, counter_task, &fast, NULL), 0);
    axle_buf b = {0};
    int lagged = 0, rc;
    int32_t last = -1;
    while ((rc = axle_stream_recv(st, &b)) != -AXLE_EEOC) {
        if (rc == -AXLE_ELAGGED) {
            lagged++;
            continue;
        }
        ck_assert_int_eq(rc, 0);
        ck_assert_int_gt(*(int32_t *)b.data, last);
        last = *(int32_t *)b.data;
        axle_sleep(10 * MS);
    }
    ck_assert_int_eq(axle_nursery_close(nn, 0), 0);
    ck_assert_int_ge(lagged, 1); /* the slower one lags... */
    ck_assert_int_eq(fast.rc, 0);
    ck_assert_int_eq(fast.got, LAG_N); /* ...the faster one never does */
    ck_assert_int_eq(axle_sub_close(fast.sub), 0);
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    axle_buf_free(&b);
    return 0;
}

CHILD_TEST(consumer_and_parent_maybe_lag_parent_slower, parent_lags_body, NULL)

START_TEST(no_raise_on_lag) { ck_assert_int_eq(with_child(lag_body, (void *)1), 0); }
END_TEST

struct first {
    axle_sub *sub;
    int rc;
};

static int blocked_reader(void *arg)
{
    struct first *f = arg;
    f->rc = axle_sub_recv(f->sub, NULL, NULL);
    return 0;
}

/* The subscriber reading the stream is cancelled; another one gets the next value. */
static int first_cancelled_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    axle_stream *st;
    open_echo(p, (struct echo_args){0, 0, 0}, false, &ctx, &st);
    struct first f = {NULL, 1};
    axle_sub *other;
    ck_assert_int_eq(axle_stream_subscribe(st, NULL, &f.sub), 0);
    ck_assert_int_eq(axle_stream_subscribe(st, NULL, &other), 0);
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    ck_assert_int_eq(axle_nursery_start_soon(n, blocked_reader, &f, NULL), 0);
    axle_sleep(50 * MS); /* it is the reader now, blocked on the stream */
    axle_nursery_cancel(n);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(f.rc, -ECANCELED);
    int32_t one = 1;
    ck_assert_int_eq(axle_sub_send(other, &one, sizeof one), 0);
    axle_buf b = {0};
    ck_assert_int_eq(axle_sub_recv(other, &b, NULL), 0);
    ck_assert_int_eq(*(int32_t *)b.data, 1);
    ck_assert_int_eq(axle_sub_recv(f.sub, &b, NULL), 0); /* the cancelled one still gets it */
    ck_assert_int_eq(*(int32_t *)b.data, 1);
    axle_buf_free(&b);
    ck_assert_int_eq(axle_sub_close(f.sub), 0);
    ck_assert_int_eq(axle_stream_close(st), 0);
    /* After the stream's close: no new subscription; the old one sees the close. */
    axle_sub *late;
    ck_assert_int_eq(axle_stream_subscribe(st, NULL, &late), -AXLE_ECLOSED);
    ck_assert_int_eq(axle_sub_recv(other, NULL, NULL), -AXLE_ECLOSED);
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    ck_assert_int_eq(axle_sub_recv(other, NULL, NULL), -AXLE_ECLOSED); /* its context ended */
    ck_assert_int_eq(axle_sub_close(other), 0);
    return 0;
}

CHILD_TEST(first_recver_is_cancelled_and_subscribe_errors_after_close, first_cancelled_body, NULL)

/* ---- shared resources by key (maybe_open_context) -------------------------------------- */

struct res {
    int entered, exited; /* calls of enter and exit */
    int64_t enter_ms;    /* how long enter takes */
    int64_t exit_ms;     /* how long exit takes */
    int exit_rc;         /* what exit returns */
    int value;           /* the shared value */
    bool exit_done;      /* exit has finished */
};

static int res_enter(void *arg, void **value)
{
    struct res *r = arg;
    r->entered++;
    r->exit_done = false;
    if (r->enter_ms) {
        int rc = axle_sleep(r->enter_ms * MS);
        if (rc < 0)
            return rc;
    }
    r->value = r->entered;
    *value = &r->value;
    return 0;
}

static int res_exit(void *arg, void *value)
{
    struct res *r = arg;
    (void)value;
    if (r->exit_ms)
        axle_sleep(r->exit_ms * MS);
    r->exited++;
    r->exit_done = true;
    if (r->exit_rc)
        return AXLE_SET_ERR(r->exit_rc, "the resource's exit failed");
    return 0;
}

static const axle_resource_ops RES_OPS = {res_enter, res_exit};

struct user {
    struct res *r;
    const char *key;
    int64_t hold_ms;
    int hit, rc, close_rc;
    int *value;
};

static int user_task(void *arg)
{
    struct user *u = arg;
    axle_resource *h;
    bool hit = false;
    void *v = NULL;
    u->rc = axle_resource_open(u->key, &RES_OPS, u->r, &h, &v, &hit);
    if (u->rc < 0)
        return 0;
    u->hit = hit;
    u->value = v;
    axle_sleep(u->hold_ms * MS);
    u->close_rc = axle_resource_close(h);
    return 0;
}

enum { USERS = 10 };

static int entered_once_main(void *arg)
{
    (void)arg;
    struct res r = {.enter_ms = 20};
    struct user u[USERS];
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    for (int i = 0; i < USERS; i++) {
        u[i] = (struct user){.r = &r, .key = "k", .hold_ms = 10 + i};
        ck_assert_int_eq(axle_nursery_start_soon(n, user_task, &u[i], NULL), 0);
    }
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    int misses = 0;
    for (int i = 0; i < USERS; i++) {
        ck_assert_int_eq(u[i].rc, 0);
        ck_assert_int_eq(u[i].close_rc, 0);
        ck_assert_ptr_eq(u[i].value, &r.value);
        misses += !u[i].hit;
    }
    ck_assert_int_eq(misses, 1); /* the first user's */
    ck_assert_int_eq(r.value, 1);
    ck_assert_int_eq(r.entered, 1);
    ck_assert_int_eq(r.exited, 1);
    return 0;
}

ROOT_TEST(resource_only_entered_once, entered_once_main, NULL)

/* The last user waits for the exit, and gets its error; the others do not. */
static int last_user_main(void *arg)
{
    int exit_rc = (int)(intptr_t)arg;
    struct res r = {.exit_ms = 50, .exit_rc = exit_rc};
    axle_resource *h1, *h2;
    void *v;
    bool hit;
    ck_assert_int_eq(axle_resource_open("k", &RES_OPS, &r, &h1, &v, &hit), 0);
    ck_assert(!hit);
    ck_assert_int_eq(axle_resource_open("k", &RES_OPS, &r, &h2, &v, &hit), 0);
    ck_assert(hit);
    ck_assert_int_eq(axle_resource_close(h1), 0); /* not the last: no wait, no error */
    ck_assert(!r.exit_done);
    int rc = axle_resource_close(h2);
    ck_assert(r.exit_done); /* it returned only after the exit */
    ck_assert_int_eq(rc, exit_rc);
    if (exit_rc)
        ck_assert_str_eq(axle_error_message(axle_error_last()), "the resource's exit failed");
    return 0;
}

START_TEST(last_user_waits_for_resource_exit)
{
    ck_assert_int_eq(root_run(last_user_main, (void *)0), 0);
}
END_TEST

START_TEST(resource_exit_error_reaches_the_final_user)
{
    ck_assert_int_eq(root_run(last_user_main, (void *)(intptr_t)-EDOM), 0);
}
END_TEST

/* A final user inside a cancelled scope still waits for the exit; its error wins. */
static int cancelled_final_user_main(void *arg)
{
    (void)arg;
    struct res r = {.exit_ms = 50, .exit_rc = -EDOM};
    axle_resource *h;
    void *v;
    ck_assert_int_eq(axle_resource_open("k", &RES_OPS, &r, &h, &v, NULL), 0);
    axle_scope sc;
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    axle_scope_cancel(&sc);
    int rc = axle_resource_close(h);
    ck_assert(r.exit_done);
    ck_assert_int_eq(rc, -EDOM);
    ck_assert_int_eq(axle_scope_close(&sc, rc), -EDOM);
    return 0;
}

ROOT_TEST(final_user_cancelled_still_waits_and_exit_error_wins, cancelled_final_user_main, NULL)

/* An open that runs between the last close and the exit's start waits for
 * the exit and enters afresh; the close does not wait for that new user. */
struct late {
    struct res *r;
    axle_event go;
    struct user u;
};

static int late_opener(void *arg)
{
    struct late *l = arg;
    axle_event_wait(&l->go);
    return user_task(&l->u);
}

static int open_after_last_close_main(void *arg)
{
    (void)arg;
    struct res r = {0};
    struct late l = {.r = &r, .u = {.r = &r, .key = "k", .hold_ms = 200}};
    axle_event_init(&l.go);
    axle_resource *h;
    void *v;
    ck_assert_int_eq(axle_resource_open("k", &RES_OPS, &r, &h, &v, NULL), 0);
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    ck_assert_int_eq(axle_nursery_start_soon(n, late_opener, &l, NULL), 0);
    ck_assert_int_eq(axle_sleep(10 * MS), 0); /* the opener waits for go */
    axle_event_set(&l.go);                    /* it runs before the service task the close wakes */
    int64_t t0 = axle_now();
    ck_assert_int_eq(axle_resource_close(h), 0);
    ck_assert_int_lt(axle_now() - t0, 150 * MS); /* not the new user's 200 ms hold */
    ck_assert_int_eq(r.exited, 1);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(l.u.rc, 0);
    ck_assert_int_eq(l.u.hit, 0); /* a fresh instance, not the one being closed */
    ck_assert_int_eq(r.entered, 2);
    ck_assert_int_eq(r.exited, 2);
    return 0;
}

ROOT_TEST(open_between_last_close_and_exit_enters_afresh, open_after_last_close_main, NULL)

/* The first (entering) user is cancelled mid-enter; the next one never hangs. */
static int fast_cancel_main(void *arg)
{
    (void)arg;
    struct res r = {.enter_ms = 200};
    struct user first = {.r = &r, .key = "k", .hold_ms = 0};
    axle_scope sc;
    axle_scope_open(&sc, axle__deadline_after(50 * MS), 0);
    user_task(&first);
    axle_scope_close(&sc, 0);
    ck_assert_int_eq(first.rc, -ECANCELED);
    struct user second = {.r = &r, .key = "k", .hold_ms = 0};
    user_task(&second);
    ck_assert_int_eq(second.rc, 0);
    ck_assert_int_eq(second.close_rc, 0);
    ck_assert_int_eq(r.entered, 1); /* the first enter went on and served the second user */
    ck_assert_int_eq(r.exited, 1);
    return 0;
}

ROOT_TEST(lock_not_corrupted_on_fast_cancel, fast_cancel_main, NULL)

/* An open during the teardown gets a fresh instance once the old exit finished. */
static int reentry_main(void *arg)
{
    (void)arg;
    struct res r = {.exit_ms = 100};
    struct user a = {.r = &r, .key = "k", .hold_ms = 10};
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    ck_assert_int_eq(axle_nursery_start_soon(n, user_task, &a, NULL), 0);
    ck_assert_int_eq(axle_sleep(50 * MS), 0); /* a has closed; its exit runs for 100 ms */
    ck_assert_int_eq(r.entered, 1);
    ck_assert(!r.exit_done);
    axle_resource *h;
    void *v;
    bool hit = true;
    ck_assert_int_eq(axle_resource_open("k", &RES_OPS, &r, &h, &v, &hit), 0);
    ck_assert(!hit);
    ck_assert_int_eq(r.exited, 1); /* the old one was gone before the new one came */
    ck_assert_int_eq(r.entered, 2);
    ck_assert_int_eq(*(int *)v, 2);
    ck_assert_int_eq(axle_resource_close(h), 0);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(r.exited, 2);
    return 0;
}

ROOT_TEST(resource_reentry_during_teardown, reentry_main, NULL)

/*
 * test_moc_service_nursery_cancellation_completes_exit: the actor holding a
 * resource is cancelled (its runtime, where the service task lives, with
 * it); the final user's close does not deadlock and the exit runs.
 */
struct hold {
    axle_portal *p;
    const char *mark;
    int rc;
};

static int hold_task(void *arg)
{
    struct hold *h = arg;
    h->rc = axle_portal_run(h->p, "c.hold_resource", h->mark, strlen(h->mark), NULL);
    return 0;
}

static int service_cancel_body(axle_portal *p, void *arg)
{
    (void)arg;
    char dir[256], mark[512];
    ck_assert_int_gt(axle_runtime_dir(dir, sizeof dir), 0);
    snprintf(mark, sizeof mark, "%s/res-exited-%d", dir, (int)getpid());
    unlink(mark);
    /* A task's call blocks in the child, holding the resource; cancel the whole child. */
    struct hold h = {p, mark, 1};
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    ck_assert_int_eq(axle_nursery_start_soon(n, hold_task, &h, NULL), 0);
    axle_sleep(100 * MS);
    ck_assert_int_eq(axle_portal_cancel_actor(p, 0), 1); /* acked: nothing deadlocked */
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_ne(h.rc, 0); /* the call ended with its actor, not normally */
    struct stat sb;
    for (int k = 0; k < 100 && stat(mark, &sb) < 0; k++)
        axle_sleep(5 * MS);
    ck_assert_int_eq(stat(mark, &sb), 0); /* the exit ran */
    unlink(mark);
    return 0;
}

CHILD_TEST(service_cancellation_completes_resource_exit, service_cancel_body, NULL)

/* Different keys: independent resources and teardowns. */
static int per_key_main(void *arg)
{
    (void)arg;
    struct res r1 = {0}, r2 = {0};
    axle_resource *h1, *h2;
    void *v1, *v2;
    bool hit1 = true, hit2 = true;
    ck_assert_int_eq(axle_resource_open("a", &RES_OPS, &r1, &h1, &v1, &hit1), 0);
    ck_assert_int_eq(axle_resource_open("b", &RES_OPS, &r2, &h2, &v2, &hit2), 0);
    ck_assert(!hit1 && !hit2);
    ck_assert_ptr_ne(v1, v2);
    ck_assert_int_eq(axle_resource_close(h1), 0);
    ck_assert_int_eq(r1.exited, 1);
    ck_assert_int_eq(r2.exited, 0);
    ck_assert_int_eq(axle_resource_close(h2), 0);
    ck_assert_int_eq(r2.exited, 1);
    return 0;
}

ROOT_TEST(per_key_resource_lifecycle, per_key_main, NULL)

/* One stream from a child, fanned out to local tasks through a shared resource. */
struct shared_stream {
    axle_portal *p;
    axle_ctx *ctx;
    axle_stream *st;
};

static int stream_enter(void *arg, void **value)
{
    struct shared_stream *ss = arg;
    int32_t n = 200;
    int rc = axle_ctx_open(ss->p, "c.emit", &n, sizeof n, &ss->ctx, NULL);
    if (rc < 0)
        return rc;
    axle_stream_opts so = {.allow_overruns = true};
    if ((rc = axle_ctx_open_stream(ss->ctx, &so, &ss->st)) < 0)
        return axle_ctx_close(ss->ctx, rc);
    *value = ss->st;
    return 0;
}

static int stream_exit(void *arg, void *value)
{
    (void)value;
    struct shared_stream *ss = arg;
    return axle_ctx_close(ss->ctx, 0);
}

static const axle_resource_ops STREAM_OPS = {stream_enter, stream_exit};

struct sub_user {
    struct shared_stream *ss;
    int got;
    int rc;
};

static int sub_user_task(void *arg)
{
    struct sub_user *u = arg;
    axle_resource *h;
    void *v;
    u->rc = axle_resource_open("stream", &STREAM_OPS, u->ss, &h, &v, NULL);
    if (u->rc < 0)
        return 0;
    axle_sub *sub;
    axle_sub_opts o = {.max_buffer = 256};
    if ((u->rc = axle_stream_subscribe(v, &o, &sub)) == 0) {
        axle_buf b = {0};
        int32_t last = -1;
        while ((u->rc = axle_sub_recv(sub, &b, NULL)) == 0) {
            int32_t x = *(int32_t *)b.data;
            if (x <= last || x >= 200) {
                u->rc = -EPROTO;
                break;
            }
            last = x;
            u->got++;
        }
        if (u->rc == -AXLE_EEOC)
            u->rc = 0;
        axle_buf_free(&b);
        axle_sub_close(sub);
    }
    int crc = axle_resource_close(h);
    if (u->rc == 0)
        u->rc = crc;
    return 0;
}

static int local_sub_body(axle_portal *p, void *arg)
{
    (void)arg;
    struct shared_stream ss = {.p = p};
    struct sub_user u[4];
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    for (int i = 0; i < 4; i++) {
        u[i] = (struct sub_user){.ss = &ss};
        ck_assert_int_eq(axle_nursery_start_soon(n, sub_user_task, &u[i], NULL), 0);
    }
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(u[i].rc, 0);
        ck_assert_int_gt(u[i].got, 0);
    }
    return 0;
}

START_TEST(open_local_sub_to_stream) { ck_assert_int_eq(with_child(local_sub_body, NULL), 0); }
END_TEST

/* ---- gather_contexts ---------------------------------------------------------------------- */

static int gather_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctxs[3];
    axle_buf firsts[3] = {{0}};
    struct simple_args a[3] = {{10, RETURN_YO}, {0, RETURN_YO}, {-1, RETURN_YO}};
    axle_ctx_spec specs[3];
    for (int i = 0; i < 3; i++)
        specs[i] = (axle_ctx_spec){p, "c.simple", &a[i], sizeof a[i]};
    ck_assert_int_eq(axle_ctx_gather(specs, 0, ctxs, firsts), -EINVAL);
    ck_assert_int_eq(axle_ctx_gather(specs, 3, ctxs, firsts), 0);
    for (int i = 0; i < 3; i++) /* in input order, falsy values included */
        ck_assert_int_eq(*(int32_t *)firsts[i].data, a[i].data + 1);
    ck_assert_int_eq(axle_ctx_close_all(ctxs, 3, 0), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_null(ctxs[i]);
        axle_buf_free(&firsts[i]);
    }
    /* All or none: one fails to open, the others are cancelled and freed. */
    specs[1].func = "c.nope";
    ck_assert_int_eq(axle_ctx_gather(specs, 3, ctxs, NULL), -AXLE_EREMOTE);
    ck_assert_str_eq(axle_error_src_type(axle_error_last()), "ENOSYS");
    for (int i = 0; i < 3; i++)
        ck_assert_ptr_null(ctxs[i]);
    return 0;
}

CHILD_TEST(gather_contexts_in_input_order_all_or_none, gather_body, NULL)

/* test_local_task_fanout_from_stream: the child's values, every one to every consumer. */
#define FANOUT_N 300

static int local_fanout_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    axle_stream *st;
    int32_t n = FANOUT_N;
    ck_assert_int_eq(axle_ctx_open(p, "c.emit", &n, sizeof n, &ctx, NULL), 0);
    axle_stream_opts so = {.allow_overruns = true};
    ck_assert_int_eq(axle_ctx_open_stream(ctx, &so, &st), 0);
    struct counter c[3];
    axle_sub_opts o = {.max_buffer = FANOUT_N}; /* non-lossy for every consumer */
    axle_nursery *nu;
    ck_assert_int_eq(axle_nursery_open(&nu), 0);
    for (int i = 0; i < 3; i++) {
        c[i] = (struct counter){0};
        ck_assert_int_eq(axle_stream_subscribe(st, &o, &c[i].sub), 0);
        ck_assert_int_eq(axle_nursery_start_soon(nu, counter_task, &c[i], NULL), 0);
    }
    ck_assert_int_eq(axle_nursery_close(nu, 0), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(c[i].rc, 0);
        ck_assert_int_eq(c[i].got, FANOUT_N); /* counts == max */
        ck_assert_int_eq(axle_sub_close(c[i].sub), 0);
    }
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    return 0;
}

CHILD_TEST(local_task_fanout_from_stream, local_fanout_body, NULL)

/*
 * test_faster_task_to_recv_is_cancelled_by_slower: the fast consumer is
 * cancelled while it is the one reading the stream; the slow one goes on
 * and receives every value.
 */
static int slow_counter(void *arg)
{
    struct counter *c = arg;
    axle_buf b = {0};
    while (c->got < 20 && (c->rc = axle_sub_recv(c->sub, &b, NULL)) == 0) {
        if (*(int32_t *)b.data != c->got)
            c->rc = -EPROTO;
        c->got++;
        axle_sleep(2 * MS);
    }
    axle_buf_free(&b);
    return 0;
}

static int fast_reader(void *arg)
{
    axle_sub *sub = arg;
    while (axle_sub_recv(sub, NULL, NULL) == 0)
        ;
    return 0;
}

static int faster_cancelled_body(axle_portal *p, void *arg)
{
    (void)arg;
    axle_ctx *ctx;
    axle_stream *st;
    open_echo(p, (struct echo_args){0, 1, 0}, true, &ctx, &st);
    axle_sub *fast, *slow_sub;
    ck_assert_int_eq(axle_stream_subscribe(st, NULL, &fast), 0);
    ck_assert_int_eq(axle_stream_subscribe(st, NULL, &slow_sub), 0);
    struct counter sc = {slow_sub, 0, 0};
    axle_nursery *outer, *fastn;
    ck_assert_int_eq(axle_nursery_open(&outer), 0);
    ck_assert_int_eq(axle_nursery_start_soon(outer, slow_counter, &sc, NULL), 0);
    ck_assert_int_eq(axle_nursery_open(&fastn), 0);
    ck_assert_int_eq(axle_nursery_start_soon(fastn, fast_reader, fast, NULL), 0);
    for (int32_t i = 0; i < 20; i++) {
        ck_assert_int_eq(axle_stream_send(st, &i, sizeof i), 0);
        axle_sleep(1 * MS);
        if (i == 5) { /* the fast one is reading the stream now: cancel it */
            axle_nursery_cancel(fastn);
            ck_assert_int_eq(axle_nursery_close(fastn, 0), 0);
        }
    }
    ck_assert_int_eq(axle_nursery_close(outer, 0), 0);
    ck_assert_int_eq(sc.rc, 0);
    ck_assert_int_eq(sc.got, 20); /* every value reached the slower one */
    ck_assert_int_eq(axle_sub_close(fast), 0);
    ck_assert_int_eq(axle_sub_close(slow_sub), 0);
    ck_assert_int_eq(axle_stream_close(st), 0);
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    return 0;
}

CHILD_TEST(faster_task_to_recv_is_cancelled_by_slower, faster_cancelled_body, NULL)

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--axle-child") == 0)
        return axle_main(argc, argv, NULL, NULL, NULL); /* exec backend: does not return */
    Suite *s = suite_create("context");
    TCase *tc = axle_test_tcase("simple_grid", 30);
    tcase_add_loop_test(tc, simple_context, 0, 12);
    suite_add_tcase(s, tc);
    ADD_CASE(s, "reqresp", 30, reqresp_ontopof_streaming);
    ADD_CASE(s, "simple", 30, simple_context_child_returns,
             simple_context_close_waits_for_the_result,
             simple_context_parent_error_is_not_masked_and_cancels_the_child);
    tc = axle_test_tcase("parent_cancels", 30);
    tcase_add_loop_test(tc, parent_cancels, 0, 8);
    tcase_add_loop_test(tc, parent_exits_ctx_after_child_enters_stream, 0, 16);
    suite_add_tcase(s, tc);
    tc = axle_test_tcase("ipc_break", 30);
    tcase_add_loop_test(tc, ipc_channel_break_during_stream, 0, 10);
    suite_add_tcase(s, tc);
    if (!shm_mode()) { /* the channel's message buffer (the reference's rules) */
        tc = axle_test_tcase("overruns", 30);
        tcase_add_loop_test(tc, maybe_allow_overruns_stream, 0, 16);
        suite_add_tcase(s, tc);
        ADD_CASE(s, "channel_overruns", 30, one_end_stream_not_opened_parent_overruns,
                 slow_child_without_allow_overruns_reports_the_overrun);
    } else { /* the ring's, the writer's policy */
        ADD_CASE(s, "shm_overruns", 30, shm_error_overrun_fails_the_send_at_once,
                 shm_drain_overrun_loses_nothing, shm_drain_close_pushes_the_queue_before_stop,
                 shm_block_send_waits_and_is_cancellable, shm_block_back_pressure_loses_nothing,
                 shm_message_longer_than_the_ring_is_refused);
    }
    ADD_CASE(s, "transport", 30, stream_send_is_a_checkpoint,
             stream_transport_can_be_forced_either_way, segments_do_not_outlive_their_actor,
             stream_to_another_host_stays_on_the_channel);
    ADD_CASE(s, "errors", 30, child_cancels_before_started, started_misuse_too_many_starteds,
             started_misuse_stream_opened_before_started, unmasked_remote_exc,
             one_end_stream_not_opened_child_overruns_parent,
             child_error_cancels_the_parents_body_and_is_returned, open_errors_are_clear,
             started_on_the_parent_side_is_an_error);
    tc = axle_test_tcase("inter_peer_more", 30);
    tcase_add_test(tc, peer_spawns_and_cancels_service_subactor);
    tcase_add_test(tc, peer_spawns_service_subactor_that_errors);
    tcase_add_loop_test(tc, peer_spawns_service_subactor_then_sigint, 0, 2);
    tcase_add_loop_test(tc, cancel_ctx_with_parent_side_entered_in_bg_task, 0, 2);
    suite_add_tcase(s, tc);
    ADD_CASE(s, "inter_peer", 30, peer_canceller_every_context_names_the_canceller,
             peer_canceller_error_during_ctxc_handling_propagates,
             error_before_started_not_swallowed_by_remote_ctxc);
    ADD_CASE(s, "streams", 30, simple_rpc_ping_pong_over_a_stream,
             child_exits_ctx_after_stream_open,
             child_exits_ctx_after_stream_open_parent_sends_first,
             stream_opened_after_cancel_raises_the_ctxc, allow_overruns_on_both_sides_loses_nothing,
             stop_never_overtakes_overflowed_data, multitask_parent_cancels_from_nonroot_task,
             child_dies_mid_stream);
    ADD_CASE(s, "broadcast_more", 30, local_task_fanout_from_stream,
             faster_task_to_recv_is_cancelled_by_slower);
    ADD_CASE(s, "broadcast", 30, stream_fan_out_to_local_subscriptions,
             consumer_and_parent_maybe_lag, consumer_and_parent_maybe_lag_parent_slower,
             no_raise_on_lag, first_recver_is_cancelled_and_subscribe_errors_after_close);
    ADD_CASE(
        s, "resources", 30, resource_only_entered_once, last_user_waits_for_resource_exit,
        open_between_last_close_and_exit_enters_afresh, resource_exit_error_reaches_the_final_user,
        final_user_cancelled_still_waits_and_exit_error_wins, lock_not_corrupted_on_fast_cancel,
        resource_reentry_during_teardown, per_key_resource_lifecycle);
    ADD_CASE(s, "shared_stream", 30, open_local_sub_to_stream,
             service_cancellation_completes_resource_exit,
             gather_contexts_in_input_order_all_or_none);
    return axle_test_main(s);
}
