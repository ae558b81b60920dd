/*
 * tests/unit/test_conn.c — framed connections and servers over real sockets.
 *
 * A test server echoes every frame back. Good clients use axle_conn; bad
 * clients are raw sockets driven with the task layer's I/O, sending exactly
 * the bytes each case needs. The server's verdict on a bad peer is read
 * from its log line ("rejected peer ... (CODE)"), captured through a pipe.
 */
#define _GNU_SOURCE
#include "../harness.h"

#include <axle/ipc.h>
#include <axle/log.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MS (1000 * 1000LL)

static axle_uid server_uid, client_uid;

/* ---- the echo server ------------------------------------------------------ */

struct echo {
    int last_rc;     /* the handler's last receive result */
    size_t frames;   /* frames echoed */
    axle_event done; /* set each time a handler ends */
};

static int echo_handler(axle_conn *c, void *arg)
{
    struct echo *e = arg;
    axle_msg *m;
    int rc;
    while ((rc = axle_conn_recv(c, &m)) == 0) {
        e->frames++;
        rc = axle_conn_send(c, m->env);
        axle_msg_free(m);
        if (rc < 0)
            break;
    }
    e->last_rc = rc;
    axle_event_set(&e->done);
    axle_event_init(&e->done);
    return rc == -AXLE_ETRANSPORT ? 0 : rc;
}

struct srv {
    axle_server *s;
    struct echo echo;
    int log_pipe[2];
};

static int serve_task(void *arg)
{
    struct srv *sv = arg;
    return axle_server_serve(sv->s, echo_handler, &sv->echo);
}

/* Open a server on the given multiaddrs and start serving it in n. */
static void srv_start(struct srv *sv, axle_nursery *n, const char *const *maddrs, size_t count,
                      const axle_server_opts *extra)
{
    axle_addr addrs[4];
    for (size_t i = 0; i < count; i++)
        ck_assert_int_eq(axle_addr_parse(&addrs[i], maddrs[i]), 0);
    axle_server_opts o = {0};
    if (extra)
        o = *extra;
    o.conn.uid = &server_uid;
    ck_assert_int_eq(axle_server_open(&sv->s, addrs, count, &o), 0);
    ck_assert_int_eq(axle_nursery_start_soon(n, serve_task, sv, NULL), 0);
}

static void srv_capture_log(struct srv *sv)
{
    ck_assert_int_eq(pipe2(sv->log_pipe, O_NONBLOCK | O_CLOEXEC), 0);
    axle_log_set_fd(sv->log_pipe[1]);
    axle_log_set_level("warning");
}

/* Wait (bounded) for a log line containing want; returns 1 when seen. */
static int log_wait_for(struct srv *sv, const char *want)
{
    static char buf[16384];
    static size_t have;
    for (int i = 0; i < 500; i++) {
        ssize_t n = read(sv->log_pipe[0], buf + have, sizeof buf - 1 - have);
        if (n > 0)
            have += (size_t)n;
        buf[have] = 0;
        char *hit = strstr(buf, want);
        if (hit) {
            /* consume up to the end of that line */
            char *eol = strchr(hit, '\n');
            size_t used = eol ? (size_t)(eol + 1 - buf) : have;
            memmove(buf, buf + used, have - used);
            have -= used;
            return 1;
        }
        axle_sleep(10 * MS);
    }
    fprintf(stderr, "log so far:\n%s\n", buf);
    return 0;
}

static void srv_stop(struct srv *sv) { axle_server_shutdown(sv->s); }

static void srv_close(struct srv *sv)
{
    axle_server_close(sv->s);
    if (sv->log_pipe[0] > 0) {
        axle_log_set_fd(2);
        close(sv->log_pipe[0]);
        close(sv->log_pipe[1]);
    }
}

/* The end of a test's main: stop the server, close the nursery it ran in, free it. */
static int srv_finish(struct srv *sv, axle_nursery *n)
{
    srv_stop(sv);
    int rc = axle_nursery_close(n, 0);
    srv_close(sv);
    return rc;
}

static axle_conn_opts client_opts(void)
{
    axle_conn_opts o = {.uid = &client_uid};
    return o;
}

/* ---- envelopes of every kind ------------------------------------------------ */

static Axle__Uid mk_uid(const char *name)
{
    static uint8_t uuid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    Axle__Uid u = AXLE__UID__INIT;
    u.name = (char *)name;
    u.uuid.data = uuid;
    u.uuid.len = 16;
    u.pid = 4242;
    return u;
}

/* Fill env with kind k (1..16 in the oneof order); storage in *st. */
struct kinds {
    Axle__Uid u1, u2;
    Axle__Hello hello;
    Axle__Proof proof;
    Axle__SpawnSpec spec;
    Axle__Start start;
    Axle__StartAck ack;
    Axle__Started started;
    Axle__Yield yield;
    Axle__Stop stop;
    Axle__Return ret;
    Axle__CancelAck cack;
    Axle__Error err;
    Axle__Frame frame;
    Axle__Frame *frames[1];
    Axle__Uid *relay[2];
    Axle__RegistrarRequest rreq;
    Axle__RegistryEntry entry;
    Axle__RegistryEntry *entries[1];
    Axle__RegistrarReply rrep;
    Axle__LockRequest lreq;
    Axle__LockStatus lst;
    Axle__LockRelease lrel;
    char *mods[2];
    char *addrs[1];
};

static const uint8_t payload[] = {0, 1, 2, 0, 255, 'p', 'l', 'd'};

static void mk_kind(Axle__Envelope *env, int k, struct kinds *st)
{
    axle__envelope__init(env);
    env->version = AXLE_PROTO_VERSION;
    st->u1 = mk_uid("alpha");
    st->u2 = mk_uid("beta");
    ProtobufCBinaryData pld = {sizeof payload, (uint8_t *)payload};
    switch (k) {
    case 1:
        axle__hello__init(&st->hello);
        st->hello.uid = &st->u1;
        st->hello.nonce = pld;
        st->hello.is_registrar = 1;
        env->msg_case = AXLE__ENVELOPE__MSG_HELLO, env->hello = &st->hello;
        break;
    case 2:
        axle__proof__init(&st->proof);
        st->proof.mac = pld;
        env->msg_case = AXLE__ENVELOPE__MSG_PROOF, env->proof = &st->proof;
        break;
    case 3:
        axle__spawn_spec__init(&st->spec);
        st->spec.child = &st->u1;
        st->mods[0] = "echo", st->mods[1] = "math";
        st->spec.n_enable_modules = 2, st->spec.enable_modules = st->mods;
        st->addrs[0] = "/ip4/127.0.0.1/tcp/1616";
        st->spec.n_reg_addrs = 1, st->spec.reg_addrs = st->addrs;
        st->spec.loglevel = 22;
        env->msg_case = AXLE__ENVELOPE__MSG_SPAWN_SPEC, env->spawn_spec = &st->spec;
        break;
    case 4:
        axle__start__init(&st->start);
        st->start.cid = 7, st->start.ns = "echo", st->start.func = "ping";
        st->start.kwargs = pld, st->start.uid = &st->u2;
        env->msg_case = AXLE__ENVELOPE__MSG_START, env->start = &st->start;
        break;
    case 5:
        axle__start_ack__init(&st->ack);
        st->ack.cid = 7, st->ack.functype = AXLE__FUNC_TYPE__FUNC_CONTEXT;
        env->msg_case = AXLE__ENVELOPE__MSG_START_ACK, env->start_ack = &st->ack;
        break;
    case 6:
        axle__started__init(&st->started);
        st->started.cid = 7, st->started.pld = pld;
        env->msg_case = AXLE__ENVELOPE__MSG_STARTED, env->started = &st->started;
        break;
    case 7:
        axle__yield__init(&st->yield);
        st->yield.cid = 7, st->yield.pld = pld;
        env->msg_case = AXLE__ENVELOPE__MSG_YIELD, env->yield = &st->yield;
        break;
    case 8:
        axle__stop__init(&st->stop);
        st->stop.cid = 7;
        env->msg_case = AXLE__ENVELOPE__MSG_STOP, env->stop = &st->stop;
        break;
    case 9:
        axle__return__init(&st->ret);
        st->ret.cid = 7, st->ret.pld = pld;
        env->msg_case = AXLE__ENVELOPE__MSG_RETURN, env->return_ = &st->ret;
        break;
    case 10:
        axle__cancel_ack__init(&st->cack);
        st->cack.cid = 7, st->cack.pld = 1;
        env->msg_case = AXLE__ENVELOPE__MSG_CANCEL_ACK, env->cancel_ack = &st->cack;
        break;
    case 11:
        axle__error__init(&st->err);
        axle__frame__init(&st->frame);
        st->frame.func = "f", st->frame.file = "f.c", st->frame.line = 12;
        st->frames[0] = &st->frame;
        st->relay[0] = &st->u1, st->relay[1] = &st->u2;
        st->err.src_uid = &st->u1, st->err.src_type = "EIO", st->err.message = "boom";
        st->err.n_relay_path = 2, st->err.relay_path = st->relay;
        st->err.n_frames = 1, st->err.frames = st->frames;
        st->err.cid = 0, st->err.has_cid = 1, st->err.code = -5;
        env->msg_case = AXLE__ENVELOPE__MSG_ERROR, env->error = &st->err;
        break;
    case 12:
        axle__registrar_request__init(&st->rreq);
        st->rreq.cid = 3;
        st->rreq.req_case = AXLE__REGISTRAR_REQUEST__REQ_FIND, st->rreq.find = "alpha";
        env->msg_case = AXLE__ENVELOPE__MSG_REGISTRAR_REQUEST, env->registrar_request = &st->rreq;
        break;
    case 13:
        axle__registry_entry__init(&st->entry);
        st->entry.uid = &st->u1;
        st->addrs[0] = "/unix/tmp/a.sock";
        st->entry.n_addrs = 1, st->entry.addrs = st->addrs;
        st->entries[0] = &st->entry;
        axle__registrar_reply__init(&st->rrep);
        st->rrep.cid = 3, st->rrep.n_entries = 1, st->rrep.entries = st->entries;
        env->msg_case = AXLE__ENVELOPE__MSG_REGISTRAR_REPLY, env->registrar_reply = &st->rrep;
        break;
    case 14:
        axle__lock_request__init(&st->lreq);
        st->lreq.subactor_uid = &st->u2, st->lreq.cid = 9;
        env->msg_case = AXLE__ENVELOPE__MSG_LOCK_REQUEST, env->lock_request = &st->lreq;
        break;
    case 15:
        axle__lock_status__init(&st->lst);
        st->lst.subactor_uid = &st->u2, st->lst.cid = 9, st->lst.locked = 1;
        env->msg_case = AXLE__ENVELOPE__MSG_LOCK_STATUS, env->lock_status = &st->lst;
        break;
    case 16:
        axle__lock_release__init(&st->lrel);
        st->lrel.subactor_uid = &st->u2, st->lrel.cid = 9;
        env->msg_case = AXLE__ENVELOPE__MSG_LOCK_RELEASE, env->lock_release = &st->lrel;
        break;
    }
}
#define NKINDS 16

/* The encoded bytes of an envelope, for exact comparison. */
static size_t encode(const Axle__Envelope *env, uint8_t *buf)
{
    return axle_msg_encode_frame(env, buf);
}

/* ---- round trips ------------------------------------------------------------ */

static void round_trip_all(axle_conn *c)
{
    static uint8_t want[4096], got[4096];
    for (int k = 1; k <= NKINDS; k++) {
        Axle__Envelope env;
        struct kinds st;
        mk_kind(&env, k, &st);
        ck_assert_int_eq(axle_conn_send(c, &env), 0);
        axle_msg *m;
        ck_assert_int_eq(axle_conn_recv(c, &m), 0);
        ck_assert_int_eq(m->env->msg_case, env.msg_case);
        size_t a = encode(&env, want), b = encode(m->env, got);
        ck_assert_uint_eq(a, b);
        ck_assert_mem_eq(want, got, a);
        axle_msg_free(m);
    }
}

struct rt {
    const char *maddrs[3];
    size_t n;
};

static int round_trip_main(void *arg)
{
    struct rt *rt = arg;
    axle_nursery *n;
    axle_nursery_open(&n);
    struct srv sv = {0};
    srv_start(&sv, n, rt->maddrs, rt->n, NULL);
    size_t nb;
    const axle_addr *bound = axle_server_addrs(sv.s, &nb);
    ck_assert_uint_eq(nb, rt->n);
    axle_conn_opts co = client_opts();
    for (size_t i = 0; i < nb; i++) {
        axle_conn *c;
        ck_assert_int_eq(axle_conn_connect(&c, &bound[i], &co), 0);
        ck_assert_str_eq(axle_conn_peer(c)->name, "server");
        ck_assert_int_eq(axle_conn_peer(c)->pid, getpid());
        round_trip_all(c);
        axle_conn_close(c);
    }
    return srv_finish(&sv, n);
}

START_TEST(every_kind_round_trips_over_tcp)
{
    struct rt rt = {{"/ip4/127.0.0.1/tcp/0"}, 1};
    ck_assert_int_eq(axle_test_run(round_trip_main, &rt), 0);
}
END_TEST

START_TEST(every_kind_round_trips_over_unix)
{
    axle_addr a;
    ck_assert_int_eq(axle_addr_unix_default(&a, "rt"), 0);
    char m[AXLE_ADDR_STRLEN];
    axle_addr_format(&a, m, sizeof m);
    struct rt rt = {{m}, 1};
    ck_assert_int_eq(axle_test_run(round_trip_main, &rt), 0);
}
END_TEST

START_TEST(multi_homed_server_answers_on_each_address)
{
    axle_addr a;
    ck_assert_int_eq(axle_addr_unix_default(&a, "multi"), 0);
    char m[AXLE_ADDR_STRLEN];
    axle_addr_format(&a, m, sizeof m);
    struct rt rt = {{"/ip4/127.0.0.1/tcp/0", "/ip6/::1/tcp/0", m}, 3};
    ck_assert_int_eq(axle_test_run(round_trip_main, &rt), 0);
}
END_TEST

/* ---- bad peers -------------------------------------------------------------- */

/* A raw TCP client: connect to the server's first address. */
static int raw_connect(axle_server *s)
{
    size_t nb;
    const axle_addr *a = axle_server_addrs(s, &nb);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(axle_connect(fd, &a[0].u.sa, a[0].len), 0);
    return fd;
}

/* Send bytes, then read until the server closes (discarding its hello). */
static void raw_send_until_closed(int fd, const void *bytes, size_t len, bool half_close)
{
    if (len)
        ck_assert_int_eq(axle_send(fd, bytes, len, MSG_NOSIGNAL), (ssize_t)len);
    if (half_close)
        shutdown(fd, SHUT_WR);
    char buf[4096];
    ssize_t n;
    while ((n = axle_recv(fd, buf, sizeof buf, 0)) > 0)
        ;
    ck_assert_msg(n == 0 || n == -ECONNRESET, "recv ended with %zd", n);
    close(fd);
}

/* A good client proving the server still serves. */
static void good_client_works(axle_server *s)
{
    size_t nb;
    const axle_addr *a = axle_server_addrs(s, &nb);
    axle_conn_opts co = client_opts();
    axle_conn *c;
    ck_assert_int_eq(axle_conn_connect(&c, &a[0], &co), 0);
    Axle__Envelope env;
    struct kinds st;
    mk_kind(&env, 7, &st);
    ck_assert_int_eq(axle_conn_send(c, &env), 0);
    axle_msg *m;
    ck_assert_int_eq(axle_conn_recv(c, &m), 0);
    ck_assert_int_eq(m->env->msg_case, AXLE__ENVELOPE__MSG_YIELD);
    axle_msg_free(m);
    axle_conn_close(c);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
    p[3] = (uint8_t)(v >> 24);
}

static int bad_peers_main(void *arg)
{
    (void)arg;
    axle_nursery *n;
    axle_nursery_open(&n);
    struct srv sv = {0};
    srv_capture_log(&sv);
    axle_server_opts so = {.conn = {.handshake_ns = 300 * MS}};
    const char *m[] = {"/ip4/127.0.0.1/tcp/0"};
    srv_start(&sv, n, m, 1, &so);

    /* A good client connected throughout. */
    size_t nb;
    const axle_addr *a = axle_server_addrs(sv.s, &nb);
    axle_conn_opts co = client_opts();
    axle_conn *steady;
    ck_assert_int_eq(axle_conn_connect(&steady, &a[0], &co), 0);

    uint8_t buf[8192];

    /* An HTTP request: "GET " read as a length is far over 4 KiB. */
    const char http[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    raw_send_until_closed(raw_connect(sv.s), http, sizeof http - 1, false);
    ck_assert(log_wait_for(&sv, "(EMSGSIZE)"));

    /* A length of 0xFFFFFFFF. */
    put_le32(buf, 0xFFFFFFFFu);
    raw_send_until_closed(raw_connect(sv.s), buf, 4, false);
    ck_assert(log_wait_for(&sv, "(EMSGSIZE)"));

    /* Random bytes behind a plausible length: they do not decode. */
    srand(12345);
    put_le32(buf, 64);
    for (int i = 4; i < 68; i++)
        buf[i] = (uint8_t)(rand() >> 7);
    buf[4] = 0xff; /* field 31, wire type 7: no such wire type */
    raw_send_until_closed(raw_connect(sv.s), buf, 68, false);
    ck_assert(log_wait_for(&sv, "(EBADMSG)"));

    /* A frame over the pre-authentication limit. */
    put_le32(buf, 5000);
    memset(buf + 4, 0, 5000);
    raw_send_until_closed(raw_connect(sv.s), buf, 5004, false);
    ck_assert(log_wait_for(&sv, "(EMSGSIZE)"));

    /* A truncated frame, then EOF. */
    put_le32(buf, 100);
    memset(buf + 4, 0x0a, 50);
    raw_send_until_closed(raw_connect(sv.s), buf, 54, true);
    ck_assert(log_wait_for(&sv, "(AXLE_ETRANSPORT)"));

    /* A valid frame of a kind nobody knows: version 1, field 99. */
    const uint8_t unknown[] = {0x08, 0x01, 0x9a, 0x06, 0x02, 'h', 'i'};
    put_le32(buf, sizeof unknown);
    memcpy(buf + 4, unknown, sizeof unknown);
    raw_send_until_closed(raw_connect(sv.s), buf, 4 + sizeof unknown, false);
    ck_assert(log_wait_for(&sv, "(EPROTO)"));

    /* A hello of another protocol version. */
    {
        Axle__Envelope env;
        struct kinds st;
        mk_kind(&env, 1, &st);
        env.version = AXLE_PROTO_VERSION + 1;
        uint8_t nonce[32] = {0};
        st.hello.nonce.data = nonce, st.hello.nonce.len = 32;
        size_t len = axle_msg_encode_frame(&env, buf);
        raw_send_until_closed(raw_connect(sv.s), buf, len, false);
        ck_assert(log_wait_for(&sv, "(AXLE_EVERSION)"));
    }

    /* Connect, then silence past the handshake deadline. */
    raw_send_until_closed(raw_connect(sv.s), NULL, 0, false);
    ck_assert(log_wait_for(&sv, "(ETIMEDOUT)"));

    /* The steady client and a new one still work. */
    Axle__Envelope env;
    struct kinds st;
    mk_kind(&env, 4, &st);
    ck_assert_int_eq(axle_conn_send(steady, &env), 0);
    axle_msg *msg;
    ck_assert_int_eq(axle_conn_recv(steady, &msg), 0);
    ck_assert_int_eq(msg->env->msg_case, AXLE__ENVELOPE__MSG_START);
    axle_msg_free(msg);
    axle_conn_close(steady);
    good_client_works(sv.s);

    return srv_finish(&sv, n);
}

START_TEST(bad_peers_are_rejected_with_exact_codes_while_others_are_served)
{
    int fds = axle_test_fd_count();
    ck_assert_int_eq(axle_test_run(bad_peers_main, NULL), 0);
    ck_assert_int_eq(axle_test_fd_count(), fds);
}
END_TEST

/* ---- secrets ---------------------------------------------------------------- */

struct cookies {
    const char *server, *client;
    int want_client_rc;
    const char *want_log;
};

static int cookie_main(void *arg)
{
    struct cookies *ck = arg;
    axle_nursery *n;
    axle_nursery_open(&n);
    struct srv sv = {0};
    srv_capture_log(&sv);
    axle_server_opts so = {0};
    if (ck->server)
        so.conn.cookie = (const uint8_t *)ck->server, so.conn.cookie_len = strlen(ck->server);
    const char *m[] = {"/ip4/127.0.0.1/tcp/0"};
    srv_start(&sv, n, m, 1, &so);
    size_t nb;
    const axle_addr *a = axle_server_addrs(sv.s, &nb);
    axle_conn_opts co = client_opts();
    if (ck->client)
        co.cookie = (const uint8_t *)ck->client, co.cookie_len = strlen(ck->client);
    axle_conn *c = NULL;
    int rc = axle_conn_connect(&c, &a[0], &co);
    ck_assert_int_eq(rc, ck->want_client_rc);
    if (rc == 0) {
        round_trip_all(c);
        axle_conn_close(c);
    } else {
        ck_assert_ptr_null(c);
        ck_assert(log_wait_for(&sv, ck->want_log));
    }
    srv_stop(&sv);
    rc = axle_nursery_close(n, 0);
    srv_close(&sv);
    return rc;
}

START_TEST(matching_secrets_authenticate)
{
    struct cookies ck = {"s3cret", "s3cret", 0, NULL};
    ck_assert_int_eq(axle_test_run(cookie_main, &ck), 0);
}
END_TEST

START_TEST(wrong_secret_is_refused_both_ways)
{
    struct cookies ck = {"s3cret", "guess", -AXLE_EAUTH, "(AXLE_EAUTH)"};
    ck_assert_int_eq(axle_test_run(cookie_main, &ck), 0);
}
END_TEST

START_TEST(missing_secret_is_refused)
{
    struct cookies ck = {"s3cret", NULL, -AXLE_EAUTH, "(AXLE_EAUTH)"};
    ck_assert_int_eq(axle_test_run(cookie_main, &ck), 0);
}
END_TEST

/* ---- limits after authentication, peer death ---------------------------------- */

static int limits_main(void *arg)
{
    (void)arg;
    axle_nursery *n;
    axle_nursery_open(&n);
    struct srv sv = {0};
    axle_server_opts so = {.conn = {.max_frame = 64 * 1024}};
    const char *m[] = {"/ip4/127.0.0.1/tcp/0"};
    srv_start(&sv, n, m, 1, &so);
    size_t nb;
    const axle_addr *a = axle_server_addrs(sv.s, &nb);
    axle_conn_opts co = client_opts();

    /* A 1 MiB payload is fine where the limit allows it... */
    axle_conn *c;
    ck_assert_int_eq(axle_conn_connect(&c, &a[0], &co), 0);
    static uint8_t big[1 << 20];
    Axle__Envelope env;
    struct kinds st;
    mk_kind(&env, 7, &st);
    st.yield.pld.data = big, st.yield.pld.len = sizeof big;
    /* ...but over the server's 64 KiB limit: it breaks that connection. */
    ck_assert_int_eq(axle_conn_send(c, &env), 0);
    axle_msg *msg;
    ck_assert_int_eq(axle_conn_recv(c, &msg), -AXLE_ETRANSPORT);
    ck_assert_int_eq(sv.echo.last_rc, -EMSGSIZE);
    /* Sticky: every later call fails the same way. */
    ck_assert_int_eq(axle_conn_recv(c, &msg), -AXLE_ETRANSPORT);
    axle_conn_close(c);

    /* Our own limit: nothing is sent. */
    co.max_frame = 1024;
    ck_assert_int_eq(axle_conn_connect(&c, &a[0], &co), 0);
    ck_assert_int_eq(axle_conn_send(c, &env), -EMSGSIZE);
    st.yield.pld.len = 100;
    ck_assert_int_eq(axle_conn_send(c, &env), 0);
    ck_assert_int_eq(axle_conn_recv(c, &msg), 0);
    ck_assert_uint_eq(msg->env->yield->pld.len, 100);
    axle_msg_free(msg);
    axle_conn_close(c);

    return srv_finish(&sv, n);
}

START_TEST(frame_limits_hold_after_authentication)
{
    ck_assert_int_eq(axle_test_run(limits_main, NULL), 0);
}
END_TEST

/*
 * The child: a plain blocking client (a forked child must not touch its
 * parent's scheduler) that says hello, reads the server's hello, writes
 * half a frame and dies by SIGKILL.
 */
static void half_frame_child(const axle_addr *a)
{
    axle_uid u;
    axle_uid_init(&u, "doomed");
    int fd = socket(a->u.sa.sa_family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, &a->u.sa, a->len) < 0)
        _exit(3);
    Axle__Envelope env;
    struct kinds st;
    mk_kind(&env, 1, &st);
    uint8_t nonce[32] = {0};
    st.u1.name = u.name, st.u1.pid = u.pid;
    st.hello.nonce.data = nonce, st.hello.nonce.len = 32, st.hello.is_registrar = 0;
    uint8_t buf[512];
    size_t len = axle_msg_encode_frame(&env, buf);
    if (write(fd, buf, len) != (ssize_t)len)
        _exit(4);
    uint8_t hdr[4];
    if (read(fd, hdr, 4) != 4) /* the server's hello: its length, then the rest */
        _exit(5);
    size_t want = (size_t)hdr[0] | (size_t)hdr[1] << 8;
    while (want > 0) {
        ssize_t n = read(fd, buf, want < sizeof buf ? want : sizeof buf);
        if (n <= 0)
            _exit(6);
        want -= (size_t)n;
    }
    uint8_t half[4 + 10] = {0};
    put_le32(half, 1000);
    if (write(fd, half, sizeof half) != (ssize_t)sizeof half)
        _exit(7);
    raise(SIGKILL);
}

static int peer_killed_main(void *arg)
{
    (void)arg;
    axle_nursery *n;
    axle_nursery_open(&n);
    struct srv sv = {0};
    const char *m[] = {"/ip4/127.0.0.1/tcp/0"};
    srv_start(&sv, n, m, 1, NULL);
    size_t nb;
    const axle_addr *a = axle_server_addrs(sv.s, &nb);
    axle_addr target = a[0];
    axle_event_init(&sv.echo.done);
    axle_event *done = &sv.echo.done;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        half_frame_child(&target);
    ck_assert_int_eq(axle_event_wait(done), 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    ck_assert_int_eq(sv.echo.last_rc, -AXLE_ETRANSPORT);
    return srv_finish(&sv, n);
}

START_TEST(peer_killed_mid_frame_is_a_transport_error)
{
    ck_assert_int_eq(axle_test_run(peer_killed_main, NULL), 0);
}
END_TEST

/*
 * A silent peer: after the handshake the client's socket drops every
 * incoming segment (a socket filter that accepts nothing), as if the
 * network had partitioned without a reset. Keepalive probes then go
 * unanswered and the receive fails within about the peer timeout.
 */
static int silent_main(void *arg)
{
    (void)arg;
    axle_nursery *n;
    axle_nursery_open(&n);
    struct srv sv = {0};
    const char *m[] = {"/ip4/127.0.0.1/tcp/0"};
    srv_start(&sv, n, m, 1, NULL);
    size_t nb;
    const axle_addr *a = axle_server_addrs(sv.s, &nb);
    axle_conn_opts co = client_opts();
    co.peer_timeout_ns = 2000 * MS;
    axle_conn *c;
    ck_assert_int_eq(axle_conn_connect(&c, &a[0], &co), 0);
    struct sock_filter drop = BPF_STMT(BPF_RET | BPF_K, 0);
    struct sock_fprog prog = {.len = 1, .filter = &drop};
    ck_assert_int_eq(setsockopt(axle_conn_fd(c), SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog),
                     0);
    int64_t t0 = axle_now();
    axle_msg *msg;
    ck_assert_int_eq(axle_conn_recv(c, &msg), -AXLE_ETRANSPORT);
    int64_t took = axle_now() - t0;
    ck_assert_msg(took >= 1000 * MS && took < 20000 * MS, "declared dead after %lld ms",
                  (long long)(took / MS));
    ck_assert_ptr_nonnull(strstr(axle_error_message(axle_error_last()), "ETIMEDOUT"));
    axle_conn_close(c);
    return srv_finish(&sv, n);
}

START_TEST(silent_peer_is_declared_dead_within_the_peer_timeout)
{
    ck_assert_int_eq(axle_test_run(silent_main, NULL), 0);
}
END_TEST

/* A server that hangs up on every peer right after the handshake. */
static int hang_up(axle_conn *c, void *arg)
{
    (void)c;
    axle_event_set(arg);
    return 0;
}

struct hung {
    axle_server *s;
    axle_event done;
};

static int serve_hang_up(void *arg)
{
    struct hung *h = arg;
    return axle_server_serve(h->s, hang_up, &h->done);
}

struct waiter {
    axle_conn *c;
    int rc;
    bool says_eof; /* the rich error names the cause */
};

static int wait_recv(void *arg)
{
    struct waiter *w = arg;
    axle_msg *m = NULL;
    w->rc = axle_conn_recv(w->c, &m);
    const axle_error *e = axle_error_last();
    w->says_eof = e && strstr(axle_error_message(e), "EOF");
    axle_msg_free(m);
    return 0;
}

/* Sockets of ours in CLOSE_WAIT on a local TCP port (from /proc/net/tcp). */
static int close_wait_count(int port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned lport, st;
        if (sscanf(line, " %*d: %*x:%x %*x:%*x %x", &lport, &st) == 2 && (int)lport == port &&
            st == 0x08)
            n++;
    }
    fclose(f);
    return n;
}

static int peer_gone_main(void *arg)
{
    (void)arg;
    axle_nursery *n;
    axle_nursery_open(&n);
    struct hung h;
    axle_event_init(&h.done);
    axle_addr a;
    ck_assert_int_eq(axle_addr_parse(&a, "/ip4/127.0.0.1/tcp/0"), 0);
    axle_server_opts so = {.conn = {.uid = &server_uid}};
    ck_assert_int_eq(axle_server_open(&h.s, &a, 1, &so), 0);
    axle_nursery_start_soon(n, serve_hang_up, &h, NULL);
    size_t nb;
    const axle_addr *b = axle_server_addrs(h.s, &nb);
    axle_conn_opts co = client_opts();
    axle_conn *c;
    ck_assert_int_eq(axle_conn_connect(&c, &b[0], &co), 0);

    /* Two receivers wait on one connection; the peer hangs up: both learn it. */
    struct waiter w1 = {c, 1, false}, w2 = {c, 1, false};
    axle_nursery *inner;
    axle_nursery_open(&inner);
    axle_nursery_start_soon(inner, wait_recv, &w1, NULL);
    axle_nursery_start_soon(inner, wait_recv, &w2, NULL);
    ck_assert_int_eq(axle_nursery_close(inner, 0), 0);
    ck_assert_int_eq(w1.rc, -AXLE_ETRANSPORT);
    ck_assert_int_eq(w2.rc, -AXLE_ETRANSPORT);
    ck_assert(w1.says_eof && w2.says_eof);
    /* A send now fails the same way, and nothing sits in CLOSE_WAIT. */
    Axle__Envelope env;
    struct kinds st;
    mk_kind(&env, 8, &st);
    ck_assert_int_eq(axle_conn_send(c, &env), -AXLE_ETRANSPORT);
    axle_conn_close(c);
    int port = ntohs(b[0].u.in4.sin_port);
    ck_assert_int_eq(close_wait_count(port), 0);

    /* The server's side, after a client leaves: closed, not CLOSE_WAIT. */
    axle_event_init(&h.done);
    ck_assert_int_eq(axle_conn_connect(&c, &b[0], &co), 0);
    ck_assert_int_eq(axle_event_wait(&h.done), 0);
    /* Buffered sends to the peer that left: the send whose 64 KiB flush
     * fails reports it (it had frames queued), not only a later call. */
    int brc = 0;
    size_t queued = 0;
    for (int i = 0; i < 100000 && brc == 0; i++) {
        queued = axle_conn_pending(c);
        brc = axle_conn_send_buffered(c, &env);
    }
    ck_assert_int_eq(brc, -AXLE_ETRANSPORT);
    ck_assert_uint_gt(queued, 0);
    axle_conn_close(c);
    ck_assert_int_eq(axle_checkpoint(), 0);
    ck_assert_int_eq(close_wait_count(port), 0);

    axle_server_shutdown(h.s);
    int rc = axle_nursery_close(n, 0);
    axle_server_close(h.s);
    return rc;
}

START_TEST(peer_hang_up_reaches_every_waiter_and_leaves_no_close_wait)
{
    ck_assert_int_eq(axle_test_run(peer_gone_main, NULL), 0);
}
END_TEST

struct exposure {
    const char *maddr;
    const char *cookie;
    bool want_warning;
};

static int exposure_main(void *arg)
{
    struct exposure *x = arg;
    struct srv sv = {0};
    srv_capture_log(&sv);
    axle_addr a;
    ck_assert_int_eq(axle_addr_parse(&a, x->maddr), 0);
    axle_server_opts so = {.conn = {.uid = &server_uid}};
    if (x->cookie)
        so.conn.cookie = (const uint8_t *)x->cookie, so.conn.cookie_len = strlen(x->cookie);
    ck_assert_int_eq(axle_server_open(&sv.s, &a, 1, &so), 0);
    char buf[4096] = {0};
    ssize_t got = read(sv.log_pipe[0], buf, sizeof buf - 1);
    bool warned = got > 0 && strstr(buf, "with no secret");
    ck_assert_msg(warned == x->want_warning, "log: %s", got > 0 ? buf : "(nothing)");
    srv_close(&sv);
    return 0;
}

START_TEST(non_loopback_without_secret_warns)
{
    struct exposure x = {"/ip4/0.0.0.0/tcp/0", NULL, true};
    ck_assert_int_eq(axle_test_run(exposure_main, &x), 0);
}
END_TEST

START_TEST(non_loopback_with_secret_or_loopback_does_not_warn)
{
    struct exposure x = {"/ip4/0.0.0.0/tcp/0", "s3cret", false};
    ck_assert_int_eq(axle_test_run(exposure_main, &x), 0);
    struct exposure y = {"/ip4/127.0.0.1/tcp/0", NULL, false};
    ck_assert_int_eq(axle_test_run(exposure_main, &y), 0);
}
END_TEST

/* ---- cancellation and concurrency ------------------------------------------------ */

struct blocked {
    axle_conn *c;
    axle_scope *sc;
    int rc;
    axle_event parked;
};

static int blocked_recv(void *arg)
{
    struct blocked *b = arg;
    axle_scope sc;
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    b->sc = &sc;
    axle_event_set(&b->parked);
    axle_msg *m = NULL;
    b->rc = axle_conn_recv(b->c, &m);
    axle_msg_free(m);
    b->sc = NULL;
    axle_scope_close(&sc, b->rc);
    return 0;
}

static int cancel_recv_main(void *arg)
{
    (void)arg;
    axle_nursery *n;
    axle_nursery_open(&n);
    struct srv sv = {0};
    const char *m[] = {"/ip4/127.0.0.1/tcp/0"};
    srv_start(&sv, n, m, 1, NULL);
    size_t nb;
    const axle_addr *a = axle_server_addrs(sv.s, &nb);
    axle_conn_opts co = client_opts();
    axle_conn *c;
    ck_assert_int_eq(axle_conn_connect(&c, &a[0], &co), 0);

    /* Cancel a receive parked with nothing to read. */
    struct blocked b = {.c = c};
    axle_event_init(&b.parked);
    axle_nursery *inner;
    axle_nursery_open(&inner);
    axle_nursery_start_soon(inner, blocked_recv, &b, NULL);
    ck_assert_int_eq(axle_event_wait(&b.parked), 0);
    ck_assert_int_eq(axle_checkpoint(), 0); /* let it park in the kernel */
    axle_scope_cancel(b.sc);
    ck_assert_int_eq(axle_nursery_close(inner, 0), 0);
    ck_assert_int_eq(b.rc, -ECANCELED);

    /* The connection still works afterwards. */
    round_trip_all(c);

    /* Close while another task is parked in receive: it gets -AXLE_ECLOSED. */
    axle_event_init(&b.parked);
    axle_nursery_open(&inner);
    axle_nursery_start_soon(inner, blocked_recv, &b, NULL);
    ck_assert_int_eq(axle_event_wait(&b.parked), 0);
    ck_assert_int_eq(axle_checkpoint(), 0);
    axle_conn_close(c);
    ck_assert_int_eq(axle_nursery_close(inner, 0), 0);
    ck_assert_int_eq(b.rc, -AXLE_ECLOSED);

    return srv_finish(&sv, n);
}

START_TEST(cancelled_receive_loses_nothing_and_close_wakes_receivers)
{
    ck_assert_int_eq(axle_test_run(cancel_recv_main, NULL), 0);
}
END_TEST

struct sender {
    axle_conn *c;
    int id;
};

enum { SENDERS = 4, PER_SENDER = 500 };

static int send_many(void *arg)
{
    struct sender *s = arg;
    static uint8_t pld[3000];
    for (int i = 0; i < PER_SENDER; i++) {
        Axle__Envelope env;
        struct kinds st;
        mk_kind(&env, 7, &st);
        st.yield.cid = (uint64_t)s->id * 100000 + (uint64_t)i;
        st.yield.pld.data = pld, st.yield.pld.len = sizeof pld;
        int rc = axle_conn_send(s->c, &env);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int concurrent_main(void *arg)
{
    (void)arg;
    axle_nursery *n;
    axle_nursery_open(&n);
    struct srv sv = {0};
    const char *m[] = {"/ip4/127.0.0.1/tcp/0"};
    srv_start(&sv, n, m, 1, NULL);
    size_t nb;
    const axle_addr *a = axle_server_addrs(sv.s, &nb);
    axle_conn_opts co = client_opts();
    axle_conn *c;
    ck_assert_int_eq(axle_conn_connect(&c, &a[0], &co), 0);
    struct sender s[SENDERS];
    axle_nursery *senders;
    axle_nursery_open(&senders);
    for (int i = 0; i < SENDERS; i++) {
        s[i] = (struct sender){c, i};
        axle_nursery_start_soon(senders, send_many, &s[i], NULL);
    }
    /* Receive the echoes concurrently; each sender's frames stay in order. */
    int next[SENDERS] = {0};
    for (int got = 0; got < SENDERS * PER_SENDER; got++) {
        axle_msg *msg;
        ck_assert_int_eq(axle_conn_recv(c, &msg), 0);
        ck_assert_int_eq(msg->env->msg_case, AXLE__ENVELOPE__MSG_YIELD);
        uint64_t cid = msg->env->yield->cid;
        int id = (int)(cid / 100000);
        ck_assert_int_lt(id, SENDERS);
        ck_assert_int_eq((int)(cid % 100000), next[id]++);
        ck_assert_uint_eq(msg->env->yield->pld.len, 3000);
        axle_msg_free(msg);
    }
    ck_assert_int_eq(axle_nursery_close(senders, 0), 0);
    axle_conn_close(c);
    return srv_finish(&sv, n);
}

START_TEST(concurrent_senders_never_interleave_frames)
{
    ck_assert_int_eq(axle_test_run(concurrent_main, NULL), 0);
}
END_TEST

static int in_use_main(void *arg)
{
    (void)arg;
    axle_addr a;
    ck_assert_int_eq(axle_addr_parse(&a, "/ip4/127.0.0.1/tcp/0"), 0);
    axle_server_opts o = {.conn = {.uid = &server_uid}};
    axle_server *s1, *s2;
    ck_assert_int_eq(axle_server_open(&s1, &a, 1, &o), 0);
    size_t nb;
    const axle_addr *b = axle_server_addrs(s1, &nb);
    axle_addr again = b[0];
    ck_assert_int_eq(axle_server_open(&s2, &again, 1, &o), -EADDRINUSE);
    char name[AXLE_ADDR_STRLEN];
    axle_addr_format(&again, name, sizeof name);
    ck_assert_ptr_nonnull(strstr(axle_error_message(axle_error_last()), name));
    axle_server_close(s1);
    return 0;
}

START_TEST(address_in_use_names_the_address)
{
    ck_assert_int_eq(axle_test_run(in_use_main, NULL), 0);
}
END_TEST

static void uids(void)
{
    axle_uid_init(&server_uid, "server");
    axle_uid_init(&client_uid, "client");
}

int main(void)
{
    Suite *s = suite_create("conn");
    TCase *tc = axle_test_tcase("round_trip", 20);
    tcase_add_checked_fixture(tc, uids, NULL);
    tcase_add_test(tc, every_kind_round_trips_over_tcp);
    tcase_add_test(tc, every_kind_round_trips_over_unix);
    tcase_add_test(tc, multi_homed_server_answers_on_each_address);
    suite_add_tcase(s, tc);
    tc = axle_test_tcase("bad_input", 30);
    tcase_add_checked_fixture(tc, uids, NULL);
    tcase_add_test(tc, bad_peers_are_rejected_with_exact_codes_while_others_are_served);
    tcase_add_test(tc, matching_secrets_authenticate);
    tcase_add_test(tc, wrong_secret_is_refused_both_ways);
    tcase_add_test(tc, missing_secret_is_refused);
    tcase_add_test(tc, frame_limits_hold_after_authentication);
    tcase_add_test(tc, peer_killed_mid_frame_is_a_transport_error);
    tcase_add_test(tc, address_in_use_names_the_address);
    tcase_add_test(tc, silent_peer_is_declared_dead_within_the_peer_timeout);
    tcase_add_test(tc, peer_hang_up_reaches_every_waiter_and_leaves_no_close_wait);
    tcase_add_test(tc, non_loopback_without_secret_warns);
    tcase_add_test(tc, non_loopback_with_secret_or_loopback_does_not_warn);
    suite_add_tcase(s, tc);
    tc = axle_test_tcase("concurrency", 30);
    tcase_add_checked_fixture(tc, uids, NULL);
    tcase_add_test(tc, cancelled_receive_loses_nothing_and_close_wakes_receivers);
    tcase_add_test(tc, concurrent_senders_never_interleave_frames);
    suite_add_tcase(s, tc);
    return axle_test_main(s);
}
