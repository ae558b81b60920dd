/*
 * tests/unit/test_io.c — I/O on io_uring: round trips on socketpairs, pipes,
 * files and loopback TCP; errors; cancellation of every kind of parked
 * request (and proof that the fd still works afterwards, nothing lost or
 * half-done); futexes, also across processes; deadlines; peers closing;
 * many requests at once.
 *
 * Only socketpairs, pipes, memfds and TCP on 127.0.0.1 port 0 are used.
 * One helper task (op_task) performs one I/O call inside its own scope and
 * records the outcome; it sets an event just before it calls, and the main
 * task then runs settle() (which yields through the scheduler, so the
 * request is submitted to the kernel) before it acts. Nothing sleeps to let
 * things settle.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, memfd_create */
#endif
#include <arpa/inet.h>
#include <axle/error.h>
#include <axle/task.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../harness.h"

#define MS (1000 * 1000LL)
#define BOUND (5 * 1000 * MS) /* generous upper bound on anything timed */

/* ---------------------------------------------------------------- helpers */

typedef struct checked_main {
    axle_fn fn; /* the test's main */
    void *arg;  /* its argument */
} checked_main;

/* Runs the test's main and proves it leaves no task behind. */
static int checked_main_fn(void *arg)
{
    checked_main *m = arg;
    ck_assert_uint_eq(axle_task_count(), 1);
    int rc = m->fn(m->arg);
    ck_assert_uint_eq(axle_task_count(), 1);
    return rc;
}

static int run_main(axle_fn fn, void *arg)
{
    checked_main m = {fn, arg};
    return axle_test_run(checked_main_fn, &m);
}

#define RUN(fn) ck_assert_int_eq(run_main((fn), NULL), 0)

/* Let every started task run until it parks, and submit what they queued. */
static void settle(void)
{
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(axle_checkpoint(), 0);
}

static axle_nursery *nursery(void)
{
    axle_nursery *n = NULL;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    return n;
}

static void sockpair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void pipepair(int p[2]) { ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0); }

/* A TCP listener on 127.0.0.1, port chosen by the kernel; addr receives it. */
static int tcp_listener(struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr->sin_port = 0;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)addr, sizeof *addr), 0);
    ck_assert_int_eq(listen(fd, 16), 0);
    socklen_t len = sizeof *addr;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)addr, &len), 0);
    ck_assert_int_ne(addr->sin_port, 0);
    return fd;
}

static int tcp_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    return fd;
}

/* Bytes waiting on fd right now (non-blocking plain recv). */
static ssize_t pending(int fd, char *buf, size_t len)
{
    ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
    if (n < 0) {
        ck_assert_int_eq(errno, EAGAIN);
        return 0;
    }
    return n;
}

/* Whether fd has something to read right now (plain poll, no wait). */
static bool readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, 0);
    ck_assert_int_ge(n, 0);
    return n == 1 && (p.revents & POLLIN);
}

/* --------------------------------------------------- the one-call task --- */

enum op_kind { OP_RECV, OP_SEND, OP_READ, OP_ACCEPT, OP_CONNECT, OP_POLL, OP_FUTEX };

/* One I/O call made by op_task, inside its own scope. */
typedef struct io_op {
    enum op_kind kind;
    int fd;                         /* the fd it works on */
    const uint32_t *word;           /* OP_FUTEX: the word */
    uint32_t expected;              /* OP_FUTEX: the value it waits on */
    const struct sockaddr_in *addr; /* OP_CONNECT: where to */
    int64_t fail_after;             /* > 0: the scope is a fail_after of this many ns */
    axle_scope sc;                  /* its scope, cancelled from outside */
    axle_event ready;               /* set just before the call */
    char buf[64];                   /* what a recv/read got */
    struct sockaddr_in peer;        /* what an accept got */
    socklen_t peerlen;
    ssize_t rc;      /* the call's result */
    int close_rc;    /* the scope's close */
    bool caught;     /* the scope caught a cancellation */
    int after_rc;    /* a checkpoint after the call, inside the scope */
    bool done;       /* the call returned */
    int64_t elapsed; /* how long the call took */
} io_op;

static void op_init(io_op *o, enum op_kind kind, int fd)
{
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->fd = fd;
    o->rc = 1000;
    axle_event_init(&o->ready);
}

static ssize_t op_call(io_op *o)
{
    switch (o->kind) {
    case OP_RECV:
        return axle_recv(o->fd, o->buf, sizeof o->buf, 0);
    case OP_SEND:
        return axle_send(o->fd, "s", 1, 0);
    case OP_CONNECT:
        return axle_connect(o->fd, (const struct sockaddr *)o->addr, sizeof *o->addr);
    case OP_READ:
        return axle_read(o->fd, o->buf, sizeof o->buf, -1);
    case OP_ACCEPT:
        o->peerlen = sizeof o->peer;
        return axle_accept(o->fd, (struct sockaddr *)&o->peer, &o->peerlen, SOCK_CLOEXEC);
    case OP_POLL:
        return axle_poll(o->fd, POLLIN);
    case OP_FUTEX:
        return axle_futex_wait(o->word, o->expected);
    }
    return -EINVAL;
}

static int op_task(void *arg)
{
    io_op *o = arg;
    if (o->fail_after > 0)
        axle_fail_after(&o->sc, o->fail_after);
    else
        axle_scope_open(&o->sc, AXLE_NO_DEADLINE, 0);
    axle_event_set(&o->ready);
    int64_t t0 = axle_now();
    o->rc = op_call(o);
    o->elapsed = axle_now() - t0;
    o->done = true;
    o->after_rc = axle_checkpoint_if_cancelled();
    int body = o->rc < 0 ? (int)o->rc : o->after_rc;
    o->close_rc = axle_scope_close(&o->sc, body);
    o->caught = axle_scope_cancelled_caught(&o->sc);
    return 0;
}

/* Start op_task in n and return once its request is in the kernel. */
static void op_start_parked(axle_nursery *n, io_op *o)
{
    ck_assert_int_eq(axle_nursery_start_soon(n, op_task, o, NULL), 0);
    ck_assert_int_eq(axle_event_wait(&o->ready), 0);
    settle();
    ck_assert_msg(!o->done, "the call returned (%zd) before anything happened", o->rc);
}

/* Park o in its call, cancel its scope, and check the outcome. */
static void op_cancel(io_op *o)
{
    axle_nursery *n = nursery();
    op_start_parked(n, o);
    axle_scope_cancel(&o->sc);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert(o->done);
    ck_assert_int_eq(o->rc, -ECANCELED);
    ck_assert_int_eq(o->close_rc, 0);
    ck_assert(o->caught);
    ck_assert_msg(o->elapsed < BOUND, "the cancel took %lld ns", (long long)o->elapsed);
}

/* Park o in its call, run trigger(arg), and return the call's result. */
static ssize_t op_then(io_op *o, void (*trigger)(void *), void *arg)
{
    axle_nursery *n = nursery();
    op_start_parked(n, o);
    trigger(arg);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert(o->done);
    ck_assert_int_eq(o->close_rc, o->rc < 0 ? o->rc : 0);
    return o->rc;
}

/* Triggers. */
static void send_x(void *arg) { ck_assert_int_eq(axle_send(*(int *)arg, "x", 1, 0), 1); }

static void write_x(void *arg) { ck_assert_int_eq(axle_write(*(int *)arg, "x", 1, -1), 1); }

static void close_fd(void *arg)
{
    int *fd = arg;
    ck_assert_int_eq(close(*fd), 0);
    *fd = -1;
}

/* ========================================================= round trip === */

static int socketpair_main(void *arg)
{
    (void)arg;
    int sv[2];
    sockpair(sv);
    /* The receiver is parked before the data exists. */
    io_op o;
    op_init(&o, OP_RECV, sv[0]);
    ck_assert_int_eq(op_then(&o, send_x, &sv[1]), 1);
    ck_assert_int_eq(o.buf[0], 'x');
    /* Data already there: both directions, all bytes. */
    const char msg[] = "hello, axle";
    ck_assert_int_eq(axle_send(sv[1], msg, sizeof msg, 0), (ssize_t)sizeof msg);
    char buf[64] = {0};
    ck_assert_int_eq(axle_recv(sv[0], buf, sizeof buf, 0), (ssize_t)sizeof msg);
    ck_assert_str_eq(buf, msg);
    ck_assert_int_eq(axle_send(sv[0], "back", 4, 0), 4);
    ck_assert_int_eq(axle_recv(sv[1], buf, 4, 0), 4);
    ck_assert_int_eq(memcmp(buf, "back", 4), 0);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

START_TEST(io_recv_send_round_trip_on_a_socketpair) { RUN(socketpair_main); }
END_TEST

static int pipe_main(void *arg)
{
    (void)arg;
    int p[2];
    pipepair(p);
    io_op o;
    op_init(&o, OP_READ, p[0]);
    ck_assert_int_eq(op_then(&o, write_x, &p[1]), 1);
    ck_assert_int_eq(o.buf[0], 'x');
    ck_assert_int_eq(axle_write(p[1], "pipe data", 9, -1), 9);
    char buf[16] = {0};
    ck_assert_int_eq(axle_read(p[0], buf, sizeof buf, -1), 9);
    ck_assert_int_eq(memcmp(buf, "pipe data", 9), 0);
    close(p[0]);
    close(p[1]);
    return 0;
}

START_TEST(io_read_write_on_a_pipe) { RUN(pipe_main); }
END_TEST

static int file_main(void *arg)
{
    (void)arg;
    int fd = memfd_create("axle-test-io", MFD_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(axle_write(fd, "hello", 5, 100), 5);
    ck_assert_int_eq(axle_write(fd, "HE", 2, 100), 2);
    char buf[8] = {0};
    ck_assert_int_eq(axle_read(fd, buf, 5, 100), 5);
    ck_assert_int_eq(memcmp(buf, "HEllo", 5), 0);
    ck_assert_int_eq(axle_read(fd, buf, 4, 0), 4); /* the hole reads as zeros */
    ck_assert_int_eq(memcmp(buf, "\0\0\0\0", 4), 0);
    ck_assert_int_eq(axle_read(fd, buf, sizeof buf, 105), 0); /* end of file */
    close(fd);
    return 0;
}

START_TEST(io_read_write_at_offsets_on_a_file) { RUN(file_main); }
END_TEST

typedef struct tcp_ctx {
    int lfd;                 /* listener */
    int afd;                 /* accepted */
    struct sockaddr_in peer; /* what accept reported */
    socklen_t peerlen;
} tcp_ctx;

static int tcp_server(void *arg)
{
    tcp_ctx *c = arg;
    c->peerlen = sizeof c->peer;
    c->afd = axle_accept(c->lfd, (struct sockaddr *)&c->peer, &c->peerlen, SOCK_CLOEXEC);
    ck_assert_int_ge(c->afd, 0);
    char buf[8];
    ck_assert_int_eq(axle_recv(c->afd, buf, sizeof buf, 0), 4);
    ck_assert_int_eq(memcmp(buf, "ping", 4), 0);
    ck_assert_int_eq(axle_send(c->afd, "pong", 4, 0), 4);
    return 0;
}

static int tcp_main(void *arg)
{
    (void)arg;
    struct sockaddr_in addr;
    tcp_ctx c = {.afd = -1};
    c.lfd = tcp_listener(&addr);
    axle_nursery *n = nursery();
    ck_assert_int_eq(axle_nursery_start_soon(n, tcp_server, &c, NULL), 0);
    settle(); /* the server is parked in accept */
    int cfd = tcp_socket();
    ck_assert_int_eq(axle_connect(cfd, (struct sockaddr *)&addr, sizeof addr), 0);
    ck_assert_int_eq(axle_send(cfd, "ping", 4, 0), 4);
    char buf[8];
    ck_assert_int_eq(axle_recv(cfd, buf, sizeof buf, 0), 4);
    ck_assert_int_eq(memcmp(buf, "pong", 4), 0);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_uint_eq(c.peerlen, sizeof(struct sockaddr_in));
    ck_assert_int_eq(c.peer.sin_family, AF_INET);
    ck_assert_uint_eq(ntohl(c.peer.sin_addr.s_addr), INADDR_LOOPBACK);
    struct sockaddr_in local;
    socklen_t len = sizeof local;
    ck_assert_int_eq(getsockname(cfd, (struct sockaddr *)&local, &len), 0);
    ck_assert_int_eq(c.peer.sin_port, local.sin_port);
    close(c.afd);
    close(cfd);
    close(c.lfd);
    return 0;
}

START_TEST(io_accept_connect_over_loopback_tcp) { RUN(tcp_main); }
END_TEST

static int poll_main(void *arg)
{
    (void)arg;
    int sv[2];
    sockpair(sv);
    /* Data already there. */
    ck_assert_int_eq(axle_send(sv[1], "a", 1, 0), 1);
    ck_assert_int_eq(axle_poll(sv[0], POLLIN), POLLIN);
    char c;
    ck_assert_int_eq(axle_recv(sv[0], &c, 1, 0), 1);
    /* Parked until data arrives. */
    io_op o;
    op_init(&o, OP_POLL, sv[0]);
    ck_assert_int_eq(op_then(&o, send_x, &sv[1]), POLLIN);
    ck_assert_int_eq(axle_recv(sv[0], &c, 1, 0), 1);
    ck_assert_int_eq(c, 'x');
    /* A writable socket. */
    ck_assert_int_eq(axle_poll(sv[0], POLLOUT), POLLOUT);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

START_TEST(io_poll_returns_pollin_when_data_is_there) { RUN(poll_main); }
END_TEST

static int errors_main(void *arg)
{
    (void)arg;
    int p[2];
    pipepair(p);
    char buf[4];
    ck_assert_int_eq(axle_recv(p[0], buf, sizeof buf, 0), -ENOTSOCK);
    ck_assert_int_eq(axle_read(-1, buf, sizeof buf, -1), -EBADF);
    ck_assert_int_eq(axle_write(p[0], "x", 1, -1), -EBADF); /* read end */
    /* accept on a socket that does not listen. */
    int s = tcp_socket();
    ck_assert_int_eq(axle_accept(s, NULL, NULL, 0), -EINVAL);
    /* connect to a loopback port nobody listens on (bound, so it is ours). */
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(s, (struct sockaddr *)&addr, sizeof addr), 0);
    socklen_t len = sizeof addr;
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&addr, &len), 0);
    int c = tcp_socket();
    ck_assert_int_eq(axle_connect(c, (struct sockaddr *)&addr, sizeof addr), -ECONNREFUSED);
    close(c);
    close(s);
    close(p[0]);
    close(p[1]);
    return 0;
}

START_TEST(io_errors_are_negative_errno) { RUN(errors_main); }
END_TEST

/* ============================================================= cancel === */

static int cancel_recv_main(void *arg)
{
    (void)arg;
    int sv[2];
    sockpair(sv);
    io_op o;
    op_init(&o, OP_RECV, sv[0]);
    op_cancel(&o);
    /* The socket works and the cancelled recv took nothing. */
    ck_assert_int_eq(axle_send(sv[1], "ab", 2, 0), 2);
    op_init(&o, OP_RECV, sv[0]);
    axle_nursery *n = nursery();
    ck_assert_int_eq(axle_nursery_start_soon(n, op_task, &o, NULL), 0);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(o.rc, 2);
    ck_assert_int_eq(memcmp(o.buf, "ab", 2), 0);
    /* And a new parked recv gets later data. */
    op_init(&o, OP_RECV, sv[0]);
    ck_assert_int_eq(op_then(&o, send_x, &sv[1]), 1);
    ck_assert_int_eq(o.buf[0], 'x');
    close(sv[0]);
    close(sv[1]);
    return 0;
}

START_TEST(cancel_reaches_a_task_parked_in_recv) { RUN(cancel_recv_main); }
END_TEST

static void connect_to(void *arg)
{
    struct {
        struct sockaddr_in *addr;
        int *fd;
    } *a = arg;
    *a->fd = tcp_socket();
    ck_assert_int_eq(axle_connect(*a->fd, (struct sockaddr *)a->addr, sizeof *a->addr), 0);
}

static int cancel_accept_main(void *arg)
{
    (void)arg;
    struct sockaddr_in addr;
    int lfd = tcp_listener(&addr);
    io_op o;
    op_init(&o, OP_ACCEPT, lfd);
    op_cancel(&o);
    ck_assert(!readable(lfd));
    /* A new accept gets the next connection; none was swallowed or left over. */
    int cfd = -1;
    struct {
        struct sockaddr_in *addr;
        int *fd;
    } a = {&addr, &cfd};
    op_init(&o, OP_ACCEPT, lfd);
    ssize_t afd = op_then(&o, connect_to, &a);
    ck_assert_int_ge(afd, 0);
    ck_assert(!readable(lfd));
    ck_assert_int_eq(axle_send(cfd, "k", 1, 0), 1);
    char c;
    ck_assert_int_eq(axle_recv((int)afd, &c, 1, 0), 1);
    ck_assert_int_eq(c, 'k');
    close((int)afd);
    close(cfd);
    close(lfd);
    return 0;
}

START_TEST(cancel_reaches_a_task_parked_in_accept) { RUN(cancel_accept_main); }
END_TEST

static int cancel_poll_main(void *arg)
{
    (void)arg;
    int sv[2];
    sockpair(sv);
    io_op o;
    op_init(&o, OP_POLL, sv[0]);
    op_cancel(&o);
    op_init(&o, OP_POLL, sv[0]);
    ck_assert_int_eq(op_then(&o, send_x, &sv[1]), POLLIN);
    char c;
    ck_assert_int_eq(axle_recv(sv[0], &c, 1, 0), 1);
    ck_assert_int_eq(c, 'x');
    close(sv[0]);
    close(sv[1]);
    return 0;
}

START_TEST(cancel_reaches_a_task_parked_in_poll) { RUN(cancel_poll_main); }
END_TEST

static int cancel_read_main(void *arg)
{
    (void)arg;
    int p[2];
    pipepair(p);
    io_op o;
    op_init(&o, OP_READ, p[0]);
    op_cancel(&o);
    op_init(&o, OP_READ, p[0]);
    ck_assert_int_eq(op_then(&o, write_x, &p[1]), 1);
    ck_assert_int_eq(o.buf[0], 'x');
    /* Nothing else was read or is left. */
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    ck_assert_int_eq(poll(&pf, 1, 0), 0);
    close(p[0]);
    close(p[1]);
    return 0;
}

START_TEST(cancel_reaches_a_task_parked_in_pipe_read) { RUN(cancel_read_main); }
END_TEST

typedef struct futex_ctx {
    uint32_t *word; /* the futex word */
    int woke;       /* axle_futex_wake's result */
} futex_ctx;

static void set_and_wake(void *arg)
{
    futex_ctx *f = arg;
    __atomic_store_n(f->word, 1, __ATOMIC_SEQ_CST);
    f->woke = axle_futex_wake(f->word, 1);
}

static int cancel_futex_main(void *arg)
{
    (void)arg;
    uint32_t word = 0;
    io_op o;
    op_init(&o, OP_FUTEX, -1);
    o.word = &word;
    o.expected = 0;
    op_cancel(&o);
    /* The cancelled wait is gone: a wake finds nobody. */
    ck_assert_int_eq(axle_futex_wake(&word, 10), 0);
    op_init(&o, OP_FUTEX, -1);
    o.word = &word;
    futex_ctx f = {&word, -1};
    ck_assert_int_eq(op_then(&o, set_and_wake, &f), 0);
    ck_assert_int_eq(f.woke, 1);
    return 0;
}

START_TEST(cancel_reaches_a_task_parked_in_futex_wait) { RUN(cancel_futex_main); }
END_TEST

/* Fill fd's send path until a send would block; returns the bytes sent. */
static size_t fill(int fd)
{
    static const char block[4096];
    size_t total = 0;
    for (;;) {
        ssize_t n = send(fd, block, sizeof block, MSG_DONTWAIT);
        if (n < 0) {
            ck_assert_int_eq(errno, EAGAIN);
            break;
        }
        total += (size_t)n;
    }
    /* Small sends may still fit in a nearly full buffer. */
    for (;;) {
        ssize_t n = send(fd, block, 1, MSG_DONTWAIT);
        if (n < 0) {
            ck_assert_int_eq(errno, EAGAIN);
            return total;
        }
        total += (size_t)n;
    }
}

/* Read everything waiting on fd; returns the byte count. */
static size_t drain(int fd)
{
    char buf[4096];
    size_t total = 0;
    ssize_t n;
    while ((n = pending(fd, buf, sizeof buf)) > 0)
        total += (size_t)n;
    return total;
}

static int cancel_send_main(void *arg)
{
    (void)arg;
    int sv[2];
    sockpair(sv);
    size_t filled = fill(sv[0]);
    ck_assert_uint_gt(filled, 0);
    io_op o;
    op_init(&o, OP_SEND, sv[0]);
    op_cancel(&o);
    /* The cancelled send sent nothing: exactly what was filled arrives. */
    ck_assert_uint_eq(drain(sv[1]), filled);
    ck_assert_int_eq(axle_send(sv[0], "t", 1, 0), 1);
    char c;
    ck_assert_int_eq(axle_recv(sv[1], &c, 1, 0), 1);
    ck_assert_int_eq(c, 't');
    ck_assert_uint_eq(drain(sv[1]), 0);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

START_TEST(cancel_reaches_a_task_parked_in_send) { RUN(cancel_send_main); }
END_TEST

static int cancel_connect_main(void *arg)
{
    (void)arg;
    struct sockaddr_in addr;
    int lfd = tcp_listener(&addr);
    /* A backlog of 0 holds one connection; the next connect hangs in SYN_SENT. */
    ck_assert_int_eq(listen(lfd, 0), 0);
    int first = tcp_socket();
    ck_assert_int_eq(axle_connect(first, (struct sockaddr *)&addr, sizeof addr), 0);
    int second = tcp_socket();
    io_op o;
    op_init(&o, OP_CONNECT, second);
    o.addr = &addr;
    op_cancel(&o);
    close(second);
    /* The listener and the first connection are unharmed. */
    int afd = axle_accept(lfd, NULL, NULL, SOCK_CLOEXEC);
    ck_assert_int_ge(afd, 0);
    ck_assert_int_eq(axle_send(first, "c", 1, 0), 1);
    char c;
    ck_assert_int_eq(axle_recv(afd, &c, 1, 0), 1);
    ck_assert_int_eq(c, 'c');
    close(afd);
    close(first);
    close(lfd);
    return 0;
}

START_TEST(cancel_reaches_a_task_parked_in_connect) { RUN(cancel_connect_main); }
END_TEST

/* A recv parked inside a shield in a cancelled scope. */
typedef struct shielded_recv {
    int fd;
    axle_scope outer, inner; /* inner is the shield */
    axle_event ready;
    ssize_t rc;
    int inner_rc, outer_rc;
    bool done;
} shielded_recv;

static int shielded_recv_task(void *arg)
{
    shielded_recv *c = arg;
    char b;
    axle_scope_open(&c->outer, AXLE_NO_DEADLINE, 0);
    axle_scope_open(&c->inner, AXLE_NO_DEADLINE, AXLE_SCOPE_SHIELD);
    axle_event_set(&c->ready);
    c->rc = axle_recv(c->fd, &b, 1, 0);
    c->done = true;
    c->inner_rc = axle_scope_close(&c->inner, c->rc < 0 ? (int)c->rc : 0);
    c->outer_rc = axle_scope_close(&c->outer, c->inner_rc);
    return 0;
}

static int unshield_recv_main(void *arg)
{
    (void)arg;
    int sv[2];
    sockpair(sv);
    shielded_recv c = {.fd = sv[0], .rc = 1000};
    axle_event_init(&c.ready);
    axle_nursery *n = nursery();
    ck_assert_int_eq(axle_nursery_start_soon(n, shielded_recv_task, &c, NULL), 0);
    ck_assert_int_eq(axle_event_wait(&c.ready), 0);
    settle();
    axle_scope_cancel(&c.outer);
    settle();
    ck_assert_msg(!c.done, "an outer cancel reached a shielded recv");
    axle_scope_set_shield(&c.inner, false);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(c.rc, -ECANCELED);
    ck_assert_int_eq(c.inner_rc, -ECANCELED);
    ck_assert_int_eq(c.outer_rc, 0);
    ck_assert_int_eq(axle_send(sv[1], "u", 1, 0), 1);
    char b;
    ck_assert_int_eq(axle_recv(sv[0], &b, 1, 0), 1);
    ck_assert_int_eq(b, 'u');
    close(sv[0]);
    close(sv[1]);
    return 0;
}

START_TEST(cancel_by_removing_a_shield_reaches_a_parked_recv) { RUN(unshield_recv_main); }
END_TEST

/* Two scopes around one parked recv cancelled in the same turn: one abort. */
typedef struct twice_ctx {
    io_op op;         /* the recv, in op.sc (the inner scope) */
    axle_scope outer; /* around it */
    int outer_rc;
} twice_ctx;

static int twice_task(void *arg)
{
    twice_ctx *c = arg;
    axle_scope_open(&c->outer, AXLE_NO_DEADLINE, 0);
    op_task(&c->op);
    c->outer_rc = axle_scope_close(&c->outer, c->op.close_rc);
    return 0;
}

static int cancel_twice_main(void *arg)
{
    (void)arg;
    int sv[2];
    sockpair(sv);
    twice_ctx c;
    op_init(&c.op, OP_RECV, sv[0]);
    axle_nursery *n = nursery();
    ck_assert_int_eq(axle_nursery_start_soon(n, twice_task, &c, NULL), 0);
    ck_assert_int_eq(axle_event_wait(&c.op.ready), 0);
    settle();
    axle_scope_cancel(&c.op.sc);
    axle_scope_cancel(&c.outer);
    axle_nursery_cancel(n);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(c.op.rc, -ECANCELED);
    ck_assert_int_eq(c.op.close_rc, -ECANCELED); /* outer cancels pass through */
    ck_assert_int_eq(c.outer_rc, -ECANCELED);    /* the nursery's, absorbed by its close */
    ck_assert_int_eq(axle_send(sv[1], "w", 1, 0), 1);
    char b;
    ck_assert_int_eq(axle_recv(sv[0], &b, 1, 0), 1);
    ck_assert_int_eq(b, 'w');
    close(sv[0]);
    close(sv[1]);
    return 0;
}

START_TEST(cancel_from_several_scopes_at_once_is_one_cancel) { RUN(cancel_twice_main); }
END_TEST

static int cancelled_before_main(void *arg)
{
    (void)arg;
    int sv[2];
    sockpair(sv);
    ck_assert_int_eq(axle_send(sv[1], "y", 1, 0), 1);
    axle_scope sc;
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    axle_scope_cancel(&sc);
    char buf[4];
    ck_assert_int_eq(axle_recv(sv[0], buf, sizeof buf, 0), -ECANCELED);
    ck_assert_int_eq(axle_send(sv[0], "z", 1, 0), -ECANCELED);
    ck_assert_int_eq(axle_poll(sv[0], POLLIN), -ECANCELED);
    ck_assert_int_eq(axle_scope_close(&sc, -ECANCELED), 0);
    /* Data ready, and still nothing was taken or sent. */
    ck_assert(!readable(sv[1]));
    ck_assert_int_eq(axle_recv(sv[0], buf, sizeof buf, 0), 1);
    ck_assert_int_eq(buf[0], 'y');
    close(sv[0]);
    close(sv[1]);
    return 0;
}

START_TEST(cancel_before_the_call_takes_nothing) { RUN(cancelled_before_main); }
END_TEST

/*
 * Data arrives and the cancel comes right after: in the same turn (the
 * cancel request meets the completing recv in the kernel), or one yield
 * later (the completion is likely reaped and the task made runnable before
 * the cancel). Either the recv got the byte, and the next checkpoint
 * fails, or the byte is still in the socket: never lost, never twice.
 */
static int race_main(void *arg)
{
    (void)arg;
    int sv[2];
    sockpair(sv);
    int got_by_recv = 0, left_in_socket = 0;
    for (int i = 0; i < 50; i++) {
        io_op o;
        op_init(&o, OP_RECV, sv[0]);
        axle_nursery *n = nursery();
        op_start_parked(n, &o);
        ck_assert_int_eq(send(sv[1], "r", 1, 0), 1);
        if (i % 2)
            ck_assert_int_eq(axle_checkpoint(), 0);
        axle_scope_cancel(&o.sc);
        ck_assert_int_eq(axle_nursery_close(n, 0), 0);
        ck_assert_int_eq(o.close_rc, 0);
        char buf[4];
        ssize_t left = pending(sv[0], buf, sizeof buf);
        if (o.rc == 1) {
            ck_assert_int_eq(o.buf[0], 'r');
            ck_assert_int_eq(o.after_rc, -ECANCELED); /* the next checkpoint fails */
            ck_assert_int_eq(left, 0);
            got_by_recv++;
        } else {
            ck_assert_int_eq(o.rc, -ECANCELED);
            ck_assert_int_eq(left, 1);
            ck_assert_int_eq(buf[0], 'r');
            left_in_socket++;
        }
    }
    ck_assert_int_eq(got_by_recv + left_in_socket, 50);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

START_TEST(cancel_racing_a_completion_loses_nothing) { RUN(race_main); }
END_TEST

/* ============================================================== futex === */

static int futex_eagain_main(void *arg)
{
    (void)arg;
    uint32_t word = 5;
    ck_assert_int_eq(axle_futex_wait(&word, 4), -EAGAIN);
    ck_assert_int_eq(axle_futex_wake(&word, 1), 0);
    return 0;
}

START_TEST(futex_wait_with_wrong_value_is_eagain) { RUN(futex_eagain_main); }
END_TEST

static int futex_sibling_main(void *arg)
{
    (void)arg;
    uint32_t word = 0;
    io_op o;
    op_init(&o, OP_FUTEX, -1);
    o.word = &word;
    futex_ctx f = {&word, -1};
    ck_assert_int_eq(op_then(&o, set_and_wake, &f), 0);
    ck_assert_int_eq(f.woke, 1);
    ck_assert_int_eq(word, 1);
    return 0;
}

START_TEST(futex_wake_from_a_sibling_task) { RUN(futex_sibling_main); }
END_TEST

typedef struct fork_ctx {
    uint32_t *word; /* in a MAP_SHARED mapping */
    pid_t pid;      /* the child */
} fork_ctx;

static void fork_waker(void *arg)
{
    fork_ctx *f = arg;
    f->pid = fork();
    ck_assert_int_ge(f->pid, 0);
    if (f->pid == 0) {
        /* The child touches nothing of the runtime but the word. */
        __atomic_store_n(f->word, 1, __ATOMIC_SEQ_CST);
        int n = axle_futex_wake(f->word, 1);
        _exit(n == 1 ? 0 : 10 + n);
    }
}

static int futex_fork_main(void *arg)
{
    (void)arg;
    uint32_t *word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(word, MAP_FAILED);
    *word = 0;
    io_op o;
    op_init(&o, OP_FUTEX, -1);
    o.word = word;
    fork_ctx f = {word, -1};
    ck_assert_int_eq(op_then(&o, fork_waker, &f), 0);
    ck_assert_int_eq(__atomic_load_n(word, __ATOMIC_SEQ_CST), 1);
    int status = 0;
    ck_assert_int_eq(waitpid(f.pid, &status, 0), f.pid);
    ck_assert(WIFEXITED(status));
    ck_assert_msg(WEXITSTATUS(status) == 0, "the child's wake woke %d waiters",
                  WEXITSTATUS(status) - 10);
    ck_assert_int_eq(munmap(word, 4096), 0);
    return 0;
}

START_TEST(futex_shared_word_woken_from_another_process) { RUN(futex_fork_main); }
END_TEST

/* =========================================================== deadline === */

static int recv_deadline_main(void *arg)
{
    (void)arg;
    int sv[2];
    sockpair(sv);
    io_op o;
    op_init(&o, OP_RECV, sv[0]);
    o.fail_after = 50 * MS;
    axle_nursery *n = nursery();
    ck_assert_int_eq(axle_nursery_start_soon(n, op_task, &o, NULL), 0);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(o.rc, -ECANCELED);
    ck_assert_int_eq(o.close_rc, -ETIMEDOUT);
    ck_assert(o.caught);
    ck_assert_msg(o.elapsed >= 50 * MS && o.elapsed < BOUND, "recv timed out after %lld ns",
                  (long long)o.elapsed);
    /* The socket still works. */
    ck_assert_int_eq(axle_send(sv[1], "d", 1, 0), 1);
    char c;
    ck_assert_int_eq(axle_recv(sv[0], &c, 1, 0), 1);
    ck_assert_int_eq(c, 'd');
    close(sv[0]);
    close(sv[1]);
    return 0;
}

START_TEST(deadline_on_a_recv_without_data_is_etimedout) { RUN(recv_deadline_main); }
END_TEST

/* =============================================================== peer === */

static int peer_close_main(void *arg)
{
    (void)arg;
    int sv[2];
    sockpair(sv);
    io_op o;
    op_init(&o, OP_RECV, sv[0]);
    ck_assert_int_eq(op_then(&o, close_fd, &sv[1]), 0);
    char c;
    ck_assert_int_eq(axle_recv(sv[0], &c, 1, 0), 0); /* and stays at EOF */
    close(sv[0]);
    /* Data then close: the data first, then 0. */
    sockpair(sv);
    ck_assert_int_eq(axle_send(sv[1], "q", 1, 0), 1);
    close(sv[1]);
    ck_assert_int_eq(axle_recv(sv[0], &c, 1, 0), 1);
    ck_assert_int_eq(c, 'q');
    ck_assert_int_eq(axle_recv(sv[0], &c, 1, 0), 0);
    close(sv[0]);
    return 0;
}

START_TEST(peer_close_makes_recv_return_zero) { RUN(peer_close_main); }
END_TEST

static int epipe_main(void *arg)
{
    (void)arg;
    int sv[2];
    sockpair(sv);
    close(sv[1]);
    ck_assert_int_eq(axle_send(sv[0], "x", 1, MSG_NOSIGNAL), -EPIPE);
    close(sv[0]);
    /* A pipe has no MSG_NOSIGNAL: with SIGPIPE ignored, write gives -EPIPE. */
    ck_assert_ptr_ne(signal(SIGPIPE, SIG_IGN), SIG_ERR);
    int p[2];
    pipepair(p);
    close(p[0]);
    ck_assert_int_eq(axle_write(p[1], "x", 1, -1), -EPIPE);
    close(p[1]);
    return 0;
}

START_TEST(peer_closed_send_is_epipe) { RUN(epipe_main); }
END_TEST

/* =============================================================== many === */

typedef struct many_ctx {
    int npairs;   /* how many socketpairs and tasks */
    int (*sv)[2]; /* the pairs */
    io_op *ops;   /* one recv each */
} many_ctx;

static void many_open(many_ctx *m, int npairs)
{
    m->npairs = npairs;
    m->sv = calloc((size_t)npairs, sizeof *m->sv);
    m->ops = calloc((size_t)npairs, sizeof *m->ops);
    ck_assert_ptr_nonnull(m->sv);
    ck_assert_ptr_nonnull(m->ops);
    for (int i = 0; i < npairs; i++) {
        sockpair(m->sv[i]);
        op_init(&m->ops[i], OP_RECV, m->sv[i][0]);
    }
}

static void many_close(many_ctx *m)
{
    for (int i = 0; i < m->npairs; i++) {
        close(m->sv[i][0]);
        close(m->sv[i][1]);
    }
    free(m->sv);
    free(m->ops);
}

static axle_nursery *many_park(many_ctx *m)
{
    axle_nursery *n = nursery();
    for (int i = 0; i < m->npairs; i++)
        ck_assert_int_eq(axle_nursery_start_soon(n, op_task, &m->ops[i], NULL), 0);
    settle();
    for (int i = 0; i < m->npairs; i++)
        ck_assert(!m->ops[i].done);
    return n;
}

static int many_recvs(int npairs)
{
    many_ctx m;
    many_open(&m, npairs);
    axle_nursery *n = many_park(&m);
    for (int i = npairs - 1; i >= 0; i--) { /* the other way round */
        unsigned char b = (unsigned char)i;
        ck_assert_int_eq(axle_send(m.sv[i][1], &b, 1, 0), 1);
    }
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    for (int i = 0; i < npairs; i++) {
        ck_assert_int_eq(m.ops[i].rc, 1);
        ck_assert_int_eq((unsigned char)m.ops[i].buf[0], (unsigned char)i);
        ck_assert_int_eq(m.ops[i].close_rc, 0);
    }
    many_close(&m);
    return 0;
}

static int many_100_main(void *arg)
{
    (void)arg;
    return many_recvs(100);
}

START_TEST(many_concurrent_recvs_all_complete) { RUN(many_100_main); }
END_TEST

/* More requests in flight than the ring has submission entries (256). */
static int many_300_main(void *arg)
{
    (void)arg;
    return many_recvs(300);
}

START_TEST(many_more_recvs_than_ring_entries_all_complete) { RUN(many_300_main); }
END_TEST

static int many_cancel_main(void *arg)
{
    (void)arg;
    many_ctx m;
    many_open(&m, 300);
    axle_nursery *n = many_park(&m);
    axle_nursery_cancel(n);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    for (int i = 0; i < m.npairs; i++) {
        ck_assert_int_eq(m.ops[i].rc, -ECANCELED);
        ck_assert_int_eq(m.ops[i].close_rc, -ECANCELED); /* the nursery's, passing through */
    }
    /* Every socket still works. */
    for (int i = 0; i < m.npairs; i++) {
        char c;
        ck_assert_int_eq(axle_send(m.sv[i][1], "m", 1, 0), 1);
        ck_assert_int_eq(axle_recv(m.sv[i][0], &c, 1, 0), 1);
        ck_assert_int_eq(c, 'm');
    }
    many_close(&m);
    return 0;
}

START_TEST(many_parked_recvs_all_cancelled_by_one_nursery_cancel) { RUN(many_cancel_main); }
END_TEST

/* ============================================================== suite === */

static Suite *io_suite(bool have_futex)
{
    Suite *s = suite_create("io");
    ADD_CASE(s, "roundtrip", 10, io_recv_send_round_trip_on_a_socketpair, io_read_write_on_a_pipe,
             io_read_write_at_offsets_on_a_file, io_accept_connect_over_loopback_tcp,
             io_poll_returns_pollin_when_data_is_there, io_errors_are_negative_errno);
    ADD_CASE(s, "cancel", 10, cancel_reaches_a_task_parked_in_recv,
             cancel_reaches_a_task_parked_in_accept, cancel_reaches_a_task_parked_in_poll,
             cancel_reaches_a_task_parked_in_pipe_read, cancel_reaches_a_task_parked_in_send,
             cancel_reaches_a_task_parked_in_connect,
             cancel_by_removing_a_shield_reaches_a_parked_recv,
             cancel_from_several_scopes_at_once_is_one_cancel, cancel_before_the_call_takes_nothing,
             cancel_racing_a_completion_loses_nothing);
    if (have_futex)
        ADD_CASE(s, "futex", 10, futex_wait_with_wrong_value_is_eagain,
                 futex_wake_from_a_sibling_task, futex_shared_word_woken_from_another_process,
                 cancel_reaches_a_task_parked_in_futex_wait);
    ADD_CASE(s, "deadline", 10, deadline_on_a_recv_without_data_is_etimedout);
    ADD_CASE(s, "peer", 10, peer_close_makes_recv_return_zero, peer_closed_send_is_epipe);
    ADD_CASE(s, "many", 20, many_concurrent_recvs_all_complete,
             many_more_recvs_than_ring_entries_all_complete,
             many_parked_recvs_all_cancelled_by_one_nursery_cancel);
    return s;
}

/* Whether io_uring can wait on a futex (Linux >= 6.7): -ENOSYS if not. */
static int probe_futex(void *arg)
{
    uint32_t word = 1;
    *(bool *)arg = axle_futex_wait(&word, 0) != -ENOSYS;
    return 0;
}

int main(void)
{
    /* A missing kernel feature skips (exit 77) instead of failing. */
    bool have_futex = false;
    int rc = axle_run(probe_futex, &have_futex, NULL);
    if (rc == -AXLE_ENOURING) {
        fprintf(stderr, "test_io: skipped: io_uring is unavailable\n");
        return 77;
    }
    if (!have_futex)
        fprintf(stderr, "test_io: futex tests skipped: io_uring has no FUTEX_WAIT\n");
    return axle_test_main(io_suite(have_futex));
}
