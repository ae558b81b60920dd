/*
 * tests/integ/test_topic.c — the cross-process broadcast stream
 * (<axle/topic.h>) between real actors: one publisher, subscriber actors
 * that attach by key, lagging, the end of the stream (close, the
 * publisher actor's end, its death) and the API's errors. Every test ends
 * with no descendant, no socket, no fd and no /dev/shm/axle* of any actor
 * of the tree (the harness and shm_left below).
 */
#define _GNU_SOURCE
#include "../harness.h"

#include <axle/actor.h>
#include <axle/context.h>
#include <axle/shm.h>
#include <axle/topic.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MS (1000 * 1000LL)

static const char *const T_MODS[] = {"t"};

/* ---- the child side ----------------------------------------------------------- */

struct sub_args {
    char key[32];
    int32_t delay_ms; /* before reading anything */
};

struct sub_result {
    int64_t got, missed, lag_errors;
    int32_t end; /* the code that ended the stream */
    int32_t order_ok;
};

/*
 * Subscribe to a.key, say started, then read until the stream ends:
 * every record is its sequence number; check they only ever go up, and
 * that got + missed accounts for every number up to the last one.
 */
static int t_subscribe(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    struct sub_args a;
    if (len != sizeof a)
        return AXLE_SET_ERR(-EINVAL, "t.subscribe: bad args");
    memcpy(&a, args, sizeof a);
    axle_topic *t;
    int rc = axle_topic_subscribe(a.key, 5000 * MS, &t);
    if (rc < 0)
        return rc;
    rc = axle_ctx_started(ctx, NULL, 0);
    if (rc == 0 && a.delay_ms)
        rc = axle_sleep(a.delay_ms * MS);
    struct sub_result r = {.order_ok = 1};
    axle_buf b = {0};
    int64_t next = 0;
    while (rc == 0) {
        uint64_t missed = 0;
        int got = axle_topic_recv(t, &b, &missed);
        if (got == -AXLE_ELAGGED) {
            r.missed += (int64_t)missed;
            r.lag_errors++;
            next += (int64_t)missed;
            continue;
        }
        if (got < 0) {
            r.end = got;
            break;
        }
        int64_t seq;
        if (b.len != sizeof seq) {
            rc = AXLE_SET_ERR(-EPROTO, "record of %zu bytes", b.len);
            break;
        }
        memcpy(&seq, b.data, sizeof seq);
        if (seq != next)
            r.order_ok = 0;
        next = seq + 1;
        r.got++;
    }
    axle_buf_free(&b);
    axle_topic_close(t);
    return rc < 0 ? rc : axle_buf_set(ret, &r, sizeof r);
}
AXLE_EXPORT_CTX("t.subscribe", t_subscribe)

/*
 * Publish a.key, say started, publish 5 records once the parent's stream
 * says "go", then: mode 0 close it; mode 1 leave it open (the actor's end
 * closes it); modes 2 and 3 die by SIGKILL.
 */
struct pub_args {
    char key[32];
    int32_t mode;
};

static axle_topic *left_open; /* mode 1: never closed by us */

static int t_publish(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)ret;
    struct pub_args a;
    if (len != sizeof a)
        return AXLE_SET_ERR(-EINVAL, "t.publish: bad args");
    memcpy(&a, args, sizeof a);
    axle_topic *t;
    int rc = axle_topic_publish(a.key, 0, &t);
    if (rc < 0)
        return rc;
    axle_stream *st;
    rc = axle_ctx_started(ctx, NULL, 0);
    if (rc == 0)
        rc = axle_ctx_open_stream(ctx, NULL, &st);
    if (rc == 0)
        rc = axle_stream_recv(st, NULL); /* go */
    for (int64_t i = 0; rc == 0 && i < 5; i++)
        rc = axle_topic_send(t, &i, sizeof i);
    if (a.mode >= 2)
        raise(SIGKILL);
    if (a.mode == 1)
        left_open = t;
    else
        axle_topic_close(t);
    return rc;
}
AXLE_EXPORT_CTX("t.publish", t_publish)

/* ---- the parent side ---------------------------------------------------------- */

static int root_run(axle_fn fn, void *arg)
{
    axle_actor_opts o = {.name = "root"};
    return axle_root(&o, fn, arg);
}

static axle_spawn_opts child_opts(const char *name)
{
    axle_spawn_opts o = {.name = name, .enable_modules = T_MODS, .n_enable_modules = 1};
    return o;
}

/*
 * Topic keys are host-wide, and CTest runs this suite on three backends at
 * once: every key carries the test process's pid.
 */
static const char *K(const char *base)
{
    static char keys[4][32];
    static int next;
    char *k = keys[next++ % 4];
    snprintf(k, sizeof keys[0], "%s-%d", base, (int)getpid());
    return k;
}

static struct sub_args sub_args(const char *key, int delay_ms)
{
    struct sub_args a = {.delay_ms = delay_ms};
    snprintf(a.key, sizeof a.key, "%s", key);
    return a;
}

static struct sub_result take_result(axle_ctx *ctx)
{
    axle_buf res = {0};
    ck_assert_int_eq(axle_ctx_result(ctx, &res), 0);
    ck_assert_uint_eq(res.len, sizeof(struct sub_result));
    struct sub_result r;
    memcpy(&r, res.data, sizeof r);
    axle_buf_free(&res);
    ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
    return r;
}

/* ---- fan-out -------------------------------------------------------------------- */

#define NSUBS 3
#define NRECS 20000

/* The root publishes; three subscriber actors each read all 20000, in order, then the end. */
static int fan_out_main(void *arg)
{
    (void)arg;
    axle_topic *t;
    ck_assert_int_eq(axle_topic_publish(K("fan"), 0, &t), 0);
    ck_assert_int_eq(axle_topic_publisher(t), getpid());
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_ctx *ctx[NSUBS];
    pid_t pids[NSUBS];
    for (int i = 0; i < NSUBS; i++) {
        char name[16];
        snprintf(name, sizeof name, "sub-%d", i);
        axle_spawn_opts o = child_opts(name);
        axle_portal *p;
        ck_assert_int_eq(axle_start_actor(an, &o, &p), 0);
        pids[i] = axle_portal_uid(p)->pid;
        struct sub_args a = sub_args(K("fan"), 0);
        ck_assert_int_eq(axle_ctx_open(p, "t.subscribe", &a, sizeof a, &ctx[i], NULL), 0);
    }
    for (int64_t i = 0; i < NRECS; i++) {
        ck_assert_int_eq(axle_topic_send(t, &i, sizeof i), 0);
        if (i % 256 == 255)
            ck_assert_int_eq(axle_checkpoint(), 0); /* let the actor's loop run */
    }
    axle_topic_close(t); /* the end: each subscriber reads the rest, then -AXLE_EEOC */
    for (int i = NSUBS - 1; i >= 0; i--) { /* contexts close innermost first */
        struct sub_result r = take_result(ctx[i]);
        ck_assert_int_eq(r.end, -AXLE_EEOC);
        ck_assert_int_eq(r.order_ok, 1);
        ck_assert_int_eq(r.got + r.missed, NRECS); /* every record read or counted as missed */
    }
    ck_assert_int_eq(axle_test_shm_count(getpid()), 0); /* the close removed the name */
    axle_actor_nursery_cancel(an);
    ck_assert_int_eq(axle_actor_nursery_close(an, 0), 0);
    for (int i = 0; i < NSUBS; i++)
        ck_assert_int_eq(axle_test_shm_count(pids[i]), 0);
    return 0;
}

START_TEST(topic_fans_out_to_subscriber_actors)
{
    ck_assert_int_eq(root_run(fan_out_main, NULL), 0);
}
END_TEST

/* A subscriber asleep while 1000 records go through a 128-record ring: told what it missed. */
static int lag_main(void *arg)
{
    (void)arg;
    axle_topic *t;
    ck_assert_int_eq(axle_topic_publish(K("lag"), 4096, &t), 0);
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o = child_opts("slow");
    axle_portal *p;
    ck_assert_int_eq(axle_start_actor(an, &o, &p), 0);
    struct sub_args a = sub_args(K("lag"), 200);
    axle_ctx *ctx;
    ck_assert_int_eq(axle_ctx_open(p, "t.subscribe", &a, sizeof a, &ctx, NULL), 0);
    for (int64_t i = 0; i < 1000; i++)
        ck_assert_int_eq(axle_topic_send(t, &i, sizeof i), 0);
    axle_topic_close(t);
    struct sub_result r = take_result(ctx);
    ck_assert_int_eq(r.end, -AXLE_EEOC);
    ck_assert_int_ge(r.lag_errors, 1);
    ck_assert_int_gt(r.missed, 0);
    ck_assert_int_eq(r.got + r.missed, 1000);
    ck_assert_int_eq(r.order_ok, 1); /* after each lag it resumed at the oldest intact one */
    axle_actor_nursery_cancel(an);
    ck_assert_int_eq(axle_actor_nursery_close(an, 0), 0);
    return 0;
}

START_TEST(lagging_subscriber_is_told_what_it_missed)
{
    ck_assert_int_eq(root_run(lag_main, NULL), 0);
}
END_TEST

/* ---- the publisher's end ------------------------------------------------------------ */

/*
 * A child publishes 5 records (mode: 0 closes, 1 leaves it open and is
 * then cancelled, 2 and 3 die by SIGKILL); the root subscribes and reads
 * them, then the end: -AXLE_EEOC for 0 and 1, -AXLE_ETRANSPORT for 2 (a
 * blocking recv) and 3 (recv_nowait polling).
 */
static int publisher_end_main(void *arg)
{
    int mode = (int)(intptr_t)arg;
    axle_actor_nursery *an;
    ck_assert_int_eq(axle_actor_nursery_open(&an), 0);
    axle_spawn_opts o = child_opts("pub");
    axle_portal *p;
    ck_assert_int_eq(axle_start_actor(an, &o, &p), 0);
    pid_t child = axle_portal_uid(p)->pid;
    struct pub_args a = {.mode = mode};
    snprintf(a.key, sizeof a.key, "end%d-%d", mode, (int)getpid());
    axle_ctx *ctx;
    ck_assert_int_eq(axle_ctx_open(p, "t.publish", &a, sizeof a, &ctx, NULL), 0);
    axle_topic *t;
    ck_assert_int_eq(axle_topic_subscribe(a.key, 0, &t), 0); /* it publishes: no wait */
    ck_assert_int_eq(axle_topic_publisher(t), child);
    axle_stream *st;
    ck_assert_int_eq(axle_ctx_open_stream(ctx, NULL, &st), 0);
    ck_assert_int_eq(axle_stream_send(st, "go", 2), 0);
    axle_buf b = {0};
    for (int64_t i = 0; i < 5; i++) {
        ck_assert_int_eq(axle_topic_recv(t, &b, NULL), 0);
        ck_assert_int_eq(*(int64_t *)b.data, i);
    }
    int rc;
    if (mode >= 2) {
        /* Shielded: the nursery notices the death too and cancels this body. */
        axle_scope sh;
        axle_scope_open(&sh, axle_now() + 5000 * MS, AXLE_SCOPE_SHIELD);
        if (mode == 2) {
            ck_assert_int_eq(axle_topic_recv(t, &b, NULL), -AXLE_ETRANSPORT);
        } else {
            while ((rc = axle_topic_recv_nowait(t, &b, NULL)) == -EAGAIN)
                ck_assert_int_eq(axle_sleep(1 * MS), 0);
            ck_assert_int_eq(rc, -AXLE_ETRANSPORT);
        }
        ck_assert_int_eq(axle_scope_close(&sh, 0), 0);
        rc = axle_ctx_close(ctx, 0);
        ck_assert_msg(rc == -AXLE_ETRANSPORT || rc == -ECANCELED, "close: %s", axle_errname(rc));
        ck_assert_int_eq(axle_actor_nursery_close(an, 0), -AXLE_EREMOTE); /* it died */
    } else {
        ck_assert_int_eq(axle_ctx_result(ctx, NULL), 0);
        ck_assert_int_eq(axle_ctx_close(ctx, 0), 0);
        if (mode == 1) /* still open: the actor's end closes it */
            ck_assert_int_eq(axle_portal_cancel_actor(p, 2000 * MS), 1);
        ck_assert_int_eq(axle_topic_recv(t, &b, NULL), -AXLE_EEOC);
        axle_actor_nursery_cancel(an);
        ck_assert_int_eq(axle_actor_nursery_close(an, 0), 0);
    }
    ck_assert_int_eq(axle_topic_recv(t, &b, NULL), mode >= 2 ? -AXLE_ETRANSPORT : -AXLE_EEOC);
    axle_topic_close(t);
    axle_buf_free(&b);
    ck_assert_int_eq(axle_test_shm_count(child), 0);
    return 0;
}

START_TEST(the_publishers_end_reaches_subscribers)
{
    ck_assert_int_eq(root_run(publisher_end_main, (void *)(intptr_t)_i), 0);
}
END_TEST

/* ---- errors -------------------------------------------------------------------------- */

static int errors_main(void *arg)
{
    (void)arg;
    axle_topic *t, *u, *s;
    ck_assert_int_eq(axle_topic_publish("", 0, &t), -EINVAL);
    ck_assert_int_eq(axle_topic_publish("a/b", 0, &t), -EINVAL);
    const char *nobody = K("nobody"), *one = K("one"), *quiet = K("quiet");
    ck_assert_int_eq(axle_topic_subscribe(nobody, 0, &s), -ENOENT);
    ck_assert_int_eq(axle_topic_subscribe(nobody, 20 * MS, &s), -ETIMEDOUT);
    ck_assert_int_eq(axle_topic_publish(one, 1024, &t), 0);
    ck_assert_int_eq(axle_topic_publish(one, 1024, &u), -EEXIST);
    ck_assert_ptr_nonnull(strstr(axle_error_message(axle_error_last()), "published by pid"));
    ck_assert_int_eq(axle_topic_subscribe(one, 0, &s), 0);
    axle_buf b = {0};
    ck_assert_int_eq(axle_topic_send(s, "x", 1), -EPERM);
    ck_assert_int_eq(axle_topic_recv(t, &b, NULL), -EPERM);
    ck_assert_int_eq(axle_topic_recv_nowait(s, &b, NULL), -EAGAIN);
    size_t max = axle_topic_max_record(t);
    char *big = calloc(1, max + 1);
    ck_assert_int_eq(axle_topic_send(t, big, max + 1), -EMSGSIZE);
    ck_assert_int_eq(axle_topic_send(t, big, max), 0); /* the largest fits */
    ck_assert_int_eq(axle_topic_recv_nowait(s, &b, NULL), 0);
    ck_assert_uint_eq(b.len, max);
    ck_assert_int_eq(axle_topic_send(t, NULL, 0), 0); /* and an empty one */
    ck_assert_int_eq(axle_topic_recv(s, &b, NULL), 0);
    ck_assert_uint_eq(b.len, 0);
    free(big);
    axle_topic_close(t);
    ck_assert_int_eq(axle_topic_recv(s, &b, NULL), -AXLE_EEOC);
    ck_assert_int_eq(axle_topic_recv_nowait(s, &b, NULL), -AXLE_EEOC);
    axle_topic_close(s);
    axle_buf_free(&b);
    /* A subscriber cancelled while it waits: -ECANCELED, nothing taken. */
    ck_assert_int_eq(axle_topic_publish(quiet, 0, &t), 0);
    ck_assert_int_eq(axle_topic_subscribe(quiet, 0, &s), 0);
    axle_scope sc;
    axle_move_on_after(&sc, 20 * MS);
    int rc = axle_topic_recv(s, &b, NULL);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&sc, rc), 0);
    axle_topic_close(s);
    axle_topic_close(t);
    axle_buf_free(&b);
    return 0;
}

START_TEST(topic_errors_are_clear) { ck_assert_int_eq(root_run(errors_main, NULL), 0); }
END_TEST

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--axle-child") == 0)
        return axle_main(argc, argv, NULL, NULL, NULL); /* exec backend: does not return */
    Suite *s = suite_create("topic");
    TCase *tc = axle_test_tcase("topic", 30);
    tcase_add_test(tc, topic_fans_out_to_subscriber_actors);
    tcase_add_test(tc, lagging_subscriber_is_told_what_it_missed);
    tcase_add_loop_test(tc, the_publishers_end_reaches_subscribers, 0, 4);
    tcase_add_test(tc, topic_errors_are_clear);
    suite_add_tcase(s, tc);
    return axle_test_main(s);
}
