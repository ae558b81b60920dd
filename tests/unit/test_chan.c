/*
 * tests/unit/test_chan.c — memory channels: order, close and EOF, broken
 * and closed handles, nowait, rendezvous, cancellation, many-to-many.
 *
 * Items are uint64_t unless a test says otherwise. Tasks are made to park
 * before the main task acts by yielding with axle_checkpoint() (a started
 * task runs until it parks) or by waiting on an event; never by sleeping.
 */
#include <axle/task.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include "../harness.h"

#define RUN(fn) ck_assert_int_eq(axle_test_run((fn), NULL), 0)

/* Let every started task run until it parks. */
static void settle(void)
{
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(axle_checkpoint(), 0);
}

/* What a helper task does and what it got. */
typedef struct peer {
    axle_chan_tx *tx; /* the handle a sender uses */
    axle_chan_rx *rx; /* the handle a receiver uses */
    uint64_t item;    /* the item sent, or received */
    int rc;           /* its call's result; 1 until it returns */
    bool done;        /* the call returned */
    axle_scope sc;    /* its scope, for cancelling it from outside */
    int close_rc;     /* what its scope's close returned */
    bool caught;      /* whether its scope caught a cancellation */
    int64_t timeout;  /* > 0: run the call under move_on_after(timeout) */
} peer;

static void peer_init(peer *p, axle_chan_tx *tx, axle_chan_rx *rx, uint64_t item)
{
    *p = (peer){.tx = tx, .rx = rx, .item = item, .rc = 1};
}

static void peer_open_scope(peer *p)
{
    if (p->timeout > 0)
        axle_move_on_after(&p->sc, p->timeout);
    else
        axle_scope_open(&p->sc, AXLE_NO_DEADLINE, 0);
}

static void peer_close_scope(peer *p)
{
    p->close_rc = axle_scope_close(&p->sc, p->rc);
    p->caught = axle_scope_cancelled_caught(&p->sc);
    p->done = true;
}

static int sender(void *arg)
{
    peer *p = arg;
    peer_open_scope(p);
    p->rc = axle_chan_send(p->tx, &p->item);
    peer_close_scope(p);
    return 0;
}

static int receiver(void *arg)
{
    peer *p = arg;
    peer_open_scope(p);
    p->rc = axle_chan_recv(p->rx, &p->item);
    peer_close_scope(p);
    return 0;
}

static axle_nursery *nursery(void)
{
    axle_nursery *n;
    ck_assert_int_eq(axle_nursery_open(&n), 0);
    return n;
}

static void start(axle_nursery *n, axle_fn fn, void *arg)
{
    ck_assert_int_eq(axle_nursery_start_soon(n, fn, arg, NULL), 0);
}

static void send_ok(axle_chan_tx *tx, uint64_t v) { ck_assert_int_eq(axle_chan_send(tx, &v), 0); }

static uint64_t recv_ok(axle_chan_rx *rx)
{
    uint64_t v = UINT64_MAX;
    ck_assert_int_eq(axle_chan_recv(rx, &v), 0);
    return v;
}

/* ------------------------------------------------------------------ order */

typedef struct stream {
    axle_chan_tx *tx; /* the sending task's handle */
    int count;        /* items it sends: 0, 1, ..., count - 1 */
} stream;

static int send_stream(void *arg)
{
    stream *s = arg;
    for (int i = 0; i < s->count; i++)
        send_ok(s->tx, (uint64_t)i);
    axle_chan_tx_close(s->tx);
    return 0;
}

static int fifo_main(void *arg)
{
    (void)arg;
    axle_chan_tx *tx;
    axle_chan_rx *rx;
    ck_assert_int_eq(axle_chan_open(&tx, &rx, sizeof(uint64_t), 3), 0);
    /* Buffered only. */
    for (uint64_t i = 0; i < 3; i++)
        send_ok(tx, i);
    ck_assert_uint_eq(axle_chan_rx_len(rx), 3);
    for (uint64_t i = 0; i < 3; i++)
        ck_assert_uint_eq(recv_ok(rx), i);
    ck_assert_uint_eq(axle_chan_rx_len(rx), 0);
    /* Through the ring and parked senders, wrapping the ring many times. */
    stream s = {tx, 100};
    axle_nursery *n = nursery();
    start(n, send_stream, &s);
    settle(); /* the sender fills the ring and parks */
    ck_assert_uint_eq(axle_chan_rx_len(rx), 3);
    for (uint64_t i = 0; i < 100; i++)
        ck_assert_uint_eq(recv_ok(rx), i);
    uint64_t v;
    ck_assert_int_eq(axle_chan_recv(rx, &v), -AXLE_EEOC);
    axle_chan_rx_close(rx);
    return axle_nursery_close(n, 0);
}

START_TEST(chan_items_arrive_in_fifo_order) { RUN(fifo_main); }
END_TEST

/* -------------------------------------------------------------- close/EOF */

static int eof_main(void *arg)
{
    (void)arg;
    axle_chan_tx *tx;
    axle_chan_rx *rx;
    ck_assert_int_eq(axle_chan_open(&tx, &rx, sizeof(uint64_t), 4), 0);
    send_ok(tx, 7);
    send_ok(tx, 8);
    axle_chan_tx_close(tx);
    /* EOF only once the buffer is drained. */
    ck_assert_uint_eq(recv_ok(rx), 7);
    ck_assert_uint_eq(recv_ok(rx), 8);
    uint64_t v = 0;
    ck_assert_int_eq(axle_chan_recv(rx, &v), -AXLE_EEOC);
    ck_assert_int_eq(axle_chan_recv_nowait(rx, &v), -AXLE_EEOC);
    ck_assert_int_eq(axle_chan_recv(rx, &v), -AXLE_EEOC); /* stays EOF */
    ck_assert_uint_eq(v, 0);
    axle_chan_rx_close(rx);
    return 0;
}

START_TEST(chan_eof_only_after_buffer_drained) { RUN(eof_main); }
END_TEST

static int clones_main(void *arg)
{
    (void)arg;
    axle_chan_tx *tx, *tx2, *tx3;
    axle_chan_rx *rx;
    ck_assert_int_eq(axle_chan_open(&tx, &rx, sizeof(uint64_t), 4), 0);
    ck_assert_int_eq(axle_chan_tx_clone(tx, &tx2), 0);
    ck_assert_int_eq(axle_chan_tx_clone(tx2, &tx3), 0);
    uint64_t v;
    axle_chan_tx_close(tx);
    ck_assert_int_eq(axle_chan_recv_nowait(rx, &v), -EAGAIN);
    send_ok(tx2, 1);
    axle_chan_tx_close(tx2);
    ck_assert_uint_eq(recv_ok(rx), 1);
    ck_assert_int_eq(axle_chan_recv_nowait(rx, &v), -EAGAIN);

    /* A receiver parked when the last sender closes gets EOF. */
    peer p;
    peer_init(&p, NULL, rx, 0);
    axle_nursery *n = nursery();
    start(n, receiver, &p);
    settle();
    ck_assert(!p.done);
    axle_chan_tx_close(tx3);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(p.rc, -AXLE_EEOC);
    ck_assert_int_eq(axle_chan_recv(rx, &v), -AXLE_EEOC);
    axle_chan_rx_close(rx);
    return 0;
}

START_TEST(chan_clones_keep_it_open_until_the_last_closes) { RUN(clones_main); }
END_TEST

static int broken_main(void *arg)
{
    (void)arg;
    axle_chan_tx *tx;
    axle_chan_rx *rx, *rx2;
    ck_assert_int_eq(axle_chan_open(&tx, &rx, sizeof(uint64_t), 0), 0);
    ck_assert_int_eq(axle_chan_rx_clone(rx, &rx2), 0);

    /* A sender parked when the last receiver closes gets EBROKEN. */
    peer p;
    peer_init(&p, tx, NULL, 5);
    axle_nursery *n = nursery();
    start(n, sender, &p);
    settle();
    ck_assert(!p.done);
    axle_chan_rx_close(rx);
    settle();
    ck_assert(!p.done); /* rx2 still open */
    axle_chan_rx_close(rx2);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(p.rc, -AXLE_EBROKEN);

    uint64_t v = 1;
    ck_assert_int_eq(axle_chan_send(tx, &v), -AXLE_EBROKEN);
    ck_assert_int_eq(axle_chan_send_nowait(tx, &v), -AXLE_EBROKEN);
    ck_assert_ptr_nonnull(axle_error_last());
    ck_assert_int_eq(axle_error_code(axle_error_last()), -AXLE_EBROKEN);
    axle_chan_tx_close(tx);
    return 0;
}

START_TEST(chan_send_is_ebroken_once_receivers_close) { RUN(broken_main); }
END_TEST

static int broken_drops_main(void *arg)
{
    (void)arg;
    axle_chan_tx *tx;
    axle_chan_rx *rx;
    ck_assert_int_eq(axle_chan_open(&tx, &rx, sizeof(uint64_t), 4), 0);
    send_ok(tx, 1);
    send_ok(tx, 2);
    axle_chan_rx_close(rx); /* the buffered items are dropped */
    uint64_t v = 3;
    ck_assert_int_eq(axle_chan_send_nowait(tx, &v), -AXLE_EBROKEN);
    axle_chan_tx_close(tx);
    return 0;
}

START_TEST(chan_receivers_closing_drops_buffered_items) { RUN(broken_drops_main); }
END_TEST

static int closed_handle_main(void *arg)
{
    (void)arg;
    axle_chan_tx *tx, *tx2;
    axle_chan_rx *rx, *rx2;
    ck_assert_int_eq(axle_chan_open(&tx, &rx, sizeof(uint64_t), 0), 0);
    ck_assert_int_eq(axle_chan_tx_clone(tx, &tx2), 0);
    ck_assert_int_eq(axle_chan_rx_clone(rx, &rx2), 0);

    /* A receiver parked on rx2 and a sender parked on tx2... */
    peer r, s;
    peer_init(&r, NULL, rx2, 0);
    axle_nursery *n = nursery();
    start(n, receiver, &r);
    settle();
    axle_chan_rx_close(rx2);
    settle();
    ck_assert(r.done);
    ck_assert_int_eq(r.rc, -AXLE_ECLOSED);

    peer_init(&s, tx2, NULL, 9);
    start(n, sender, &s);
    settle();
    ck_assert(!s.done);
    axle_chan_tx_close(tx2);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(s.rc, -AXLE_ECLOSED);

    /* ...got ECLOSED, and the channel still works through the other handles. */
    uint64_t v = 4;
    ck_assert_int_eq(axle_chan_recv_nowait(rx, &v), -EAGAIN); /* 9 was not sent */
    peer r2;
    peer_init(&r2, NULL, rx, 0);
    n = nursery();
    start(n, receiver, &r2);
    settle();
    send_ok(tx, 10);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(r2.rc, 0);
    ck_assert_uint_eq(r2.item, 10);

    /* Using a closed handle (while the channel lives) is ECLOSED. */
    ck_assert_int_eq(axle_chan_recv(rx2, &v), -AXLE_ECLOSED);
    ck_assert_int_eq(axle_chan_recv_nowait(rx2, &v), -AXLE_ECLOSED);
    ck_assert_int_eq(axle_chan_send(tx2, &v), -AXLE_ECLOSED);
    ck_assert_int_eq(axle_chan_send_nowait(tx2, &v), -AXLE_ECLOSED);
    ck_assert_ptr_nonnull(axle_error_last());
    ck_assert_int_eq(axle_error_code(axle_error_last()), -AXLE_ECLOSED);
    axle_chan_tx *t3;
    axle_chan_rx *r3;
    ck_assert_int_eq(axle_chan_tx_clone(tx2, &t3), -AXLE_ECLOSED);
    ck_assert_int_eq(axle_chan_rx_clone(rx2, &r3), -AXLE_ECLOSED);

    axle_chan_tx_close(tx);
    axle_chan_rx_close(rx);
    return 0;
}

START_TEST(chan_closing_a_handle_wakes_its_parked_tasks_with_eclosed) { RUN(closed_handle_main); }
END_TEST

/* ----------------------------------------------------------------- nowait */

static int nowait_main(void *arg)
{
    (void)arg;
    axle_chan_tx *tx;
    axle_chan_rx *rx;
    ck_assert_int_eq(axle_chan_open(&tx, &rx, sizeof(uint64_t), 1), 0);
    uint64_t v = 0;
    ck_assert_int_eq(axle_chan_recv_nowait(rx, &v), -EAGAIN); /* empty */
    v = 11;
    ck_assert_int_eq(axle_chan_send_nowait(tx, &v), 0);
    v = 12;
    ck_assert_int_eq(axle_chan_send_nowait(tx, &v), -EAGAIN); /* full */
    ck_assert_uint_eq(axle_chan_rx_len(rx), 1);
    ck_assert_int_eq(axle_chan_recv_nowait(rx, &v), 0);
    ck_assert_uint_eq(v, 11);
    ck_assert_int_eq(axle_chan_recv_nowait(rx, &v), -EAGAIN);
    axle_chan_tx_close(tx);
    axle_chan_rx_close(rx);
    return 0;
}

START_TEST(chan_nowait_is_eagain_where_it_would_park) { RUN(nowait_main); }
END_TEST

/* ------------------------------------------------------------- rendezvous */

static int rendezvous_main(void *arg)
{
    (void)arg;
    axle_chan_tx *tx;
    axle_chan_rx *rx;
    ck_assert_int_eq(axle_chan_open(&tx, &rx, sizeof(uint64_t), 0), 0);
    uint64_t v = 1;
    ck_assert_int_eq(axle_chan_send_nowait(tx, &v), -EAGAIN); /* nobody receives */
    ck_assert_int_eq(axle_chan_recv_nowait(rx, &v), -EAGAIN); /* nobody sends */

    /* send returns only once the item was received. */
    peer s;
    peer_init(&s, tx, NULL, 21);
    axle_nursery *n = nursery();
    start(n, sender, &s);
    settle();
    ck_assert(!s.done);
    ck_assert_uint_eq(axle_chan_rx_len(rx), 0);
    ck_assert_uint_eq(recv_ok(rx), 21);
    settle();
    ck_assert(s.done);
    ck_assert_int_eq(s.rc, 0);

    /* send_nowait succeeds into a parked receiver. */
    peer r;
    peer_init(&r, NULL, rx, 0);
    start(n, receiver, &r);
    settle();
    v = 22;
    ck_assert_int_eq(axle_chan_send_nowait(tx, &v), 0);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_uint_eq(r.item, 22);
    axle_chan_tx_close(tx);
    axle_chan_rx_close(rx);
    return 0;
}

START_TEST(chan_zero_capacity_is_a_rendezvous) { RUN(rendezvous_main); }
END_TEST

/* ----------------------------------------------------------- cancellation */

static int recv_cancel_main(void *arg)
{
    (void)arg;
    axle_chan_tx *tx;
    axle_chan_rx *rx;
    ck_assert_int_eq(axle_chan_open(&tx, &rx, sizeof(uint64_t), 1), 0);
    peer a, b;
    peer_init(&a, NULL, rx, 0);
    peer_init(&b, NULL, rx, 0);
    b.timeout = 1000 * 1000; /* b: cancelled by its deadline */
    axle_nursery *n = nursery();
    start(n, receiver, &a); /* a: cancelled by axle_scope_cancel */
    start(n, receiver, &b);
    settle();
    ck_assert(!a.done);
    axle_scope_cancel(&a.sc);
    settle();
    ck_assert(a.done);
    ck_assert_int_eq(a.rc, -ECANCELED);
    ck_assert_int_eq(a.close_rc, 0);
    ck_assert(a.caught);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0); /* waits out b's deadline */
    ck_assert_int_eq(b.rc, -ECANCELED);
    ck_assert_int_eq(b.close_rc, 0);
    ck_assert(b.caught);

    /* Neither took anything, nor is still queued: the next item is ours. */
    send_ok(tx, 31);
    ck_assert_uint_eq(axle_chan_rx_len(rx), 1);
    ck_assert_uint_eq(recv_ok(rx), 31);
    uint64_t v;
    ck_assert_int_eq(axle_chan_recv_nowait(rx, &v), -EAGAIN);
    axle_chan_tx_close(tx);
    axle_chan_rx_close(rx);
    return 0;
}

START_TEST(chan_cancelled_recv_takes_nothing) { RUN(recv_cancel_main); }
END_TEST

static int send_cancel_main(void *arg)
{
    (void)arg;
    axle_chan_tx *tx;
    axle_chan_rx *rx;
    ck_assert_int_eq(axle_chan_open(&tx, &rx, sizeof(uint64_t), 1), 0);
    send_ok(tx, 40); /* full now */
    peer a, b;
    peer_init(&a, tx, NULL, 41);
    peer_init(&b, tx, NULL, 42);
    b.timeout = 1000 * 1000;
    axle_nursery *n = nursery();
    start(n, sender, &a);
    start(n, sender, &b);
    settle();
    ck_assert(!a.done && !b.done);
    axle_scope_cancel(&a.sc);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(a.rc, -ECANCELED);
    ck_assert_int_eq(a.close_rc, 0);
    ck_assert_int_eq(b.rc, -ECANCELED);
    ck_assert_int_eq(b.close_rc, 0);

    /* Only the item sent before is there: nothing lost, nothing extra. */
    ck_assert_uint_eq(recv_ok(rx), 40);
    uint64_t v;
    ck_assert_int_eq(axle_chan_recv_nowait(rx, &v), -EAGAIN);
    axle_chan_tx_close(tx);
    ck_assert_int_eq(axle_chan_recv(rx, &v), -AXLE_EEOC);
    axle_chan_rx_close(rx);
    return 0;
}

START_TEST(chan_cancelled_send_sends_nothing) { RUN(send_cancel_main); }
END_TEST

static int send_won_main(void *arg)
{
    (void)arg;
    axle_chan_tx *tx;
    axle_chan_rx *rx;
    ck_assert_int_eq(axle_chan_open(&tx, &rx, sizeof(uint64_t), 0), 0);
    peer s;
    peer_init(&s, tx, NULL, 50);
    axle_nursery *n = nursery();
    start(n, sender, &s);
    settle();
    /* Take its item, then cancel it before it runs: its send did happen. */
    uint64_t v;
    ck_assert_int_eq(axle_chan_recv_nowait(rx, &v), 0);
    ck_assert_uint_eq(v, 50);
    axle_scope_cancel(&s.sc);
    ck_assert_int_eq(axle_nursery_close(n, 0), 0);
    ck_assert_int_eq(s.rc, 0);
    ck_assert_int_eq(s.close_rc, 0);
    ck_assert_int_eq(axle_chan_recv_nowait(rx, &v), -EAGAIN);
    axle_chan_tx_close(tx);
    axle_chan_rx_close(rx);
    return 0;
}

START_TEST(chan_send_completed_before_cancel_reports_sent) { RUN(send_won_main); }
END_TEST

/* ---------------------------------------------------------- many-to-many */

enum { NSEND = 4, NRECV = 4, PER_SENDER = 2500 };

typedef struct mm_ctx {
    axle_chan_tx *tx[NSEND]; /* one clone per sender */
    axle_chan_rx *rx[NRECV]; /* one clone per receiver */
    uint64_t sum;            /* of every item received */
    uint64_t count;          /* items received */
    uint64_t seen[NSEND];    /* per sender: items received */
} mm_ctx;

typedef struct mm_arg {
    mm_ctx *c; /* shared state */
    int id;    /* sender or receiver index */
} mm_arg;

static int mm_sender(void *arg)
{
    mm_arg *a = arg;
    for (uint64_t i = 0; i < PER_SENDER; i++)
        send_ok(a->c->tx[a->id], (uint64_t)a->id << 32 | i);
    axle_chan_tx_close(a->c->tx[a->id]);
    return 0;
}

static int mm_receiver(void *arg)
{
    mm_arg *a = arg;
    mm_ctx *c = a->c;
    int64_t last[NSEND]; /* per sender: the last sequence number this receiver saw */
    for (int i = 0; i < NSEND; i++)
        last[i] = -1;
    for (;;) {
        uint64_t v;
        int rc = axle_chan_recv(c->rx[a->id], &v);
        if (rc == -AXLE_EEOC)
            break;
        ck_assert_int_eq(rc, 0);
        unsigned from = (unsigned)(v >> 32);
        int64_t seq = (int64_t)(v & 0xffffffffu);
        ck_assert_uint_lt(from, NSEND);
        ck_assert_int_gt(seq, last[from]); /* each sender's items stay in order */
        last[from] = seq;
        c->seen[from]++;
        c->sum += v;
        c->count++;
    }
    axle_chan_rx_close(c->rx[a->id]);
    return 0;
}

static int many_main(void *arg)
{
    (void)arg;
    mm_ctx c = {0};
    mm_arg sa[NSEND], ra[NRECV];
    ck_assert_int_eq(axle_chan_open(&c.tx[0], &c.rx[0], sizeof(uint64_t), 8), 0);
    for (int i = 1; i < NSEND; i++)
        ck_assert_int_eq(axle_chan_tx_clone(c.tx[0], &c.tx[i]), 0);
    for (int i = 1; i < NRECV; i++)
        ck_assert_int_eq(axle_chan_rx_clone(c.rx[0], &c.rx[i]), 0);
    axle_nursery *n = nursery();
    for (int i = 0; i < NRECV; i++) {
        ra[i] = (mm_arg){&c, i};
        start(n, mm_receiver, &ra[i]);
    }
    for (int i = 0; i < NSEND; i++) {
        sa[i] = (mm_arg){&c, i};
        start(n, mm_sender, &sa[i]);
    }
    int rc = axle_nursery_close(n, 0);
    uint64_t want = 0;
    for (uint64_t s = 0; s < NSEND; s++)
        for (uint64_t i = 0; i < PER_SENDER; i++)
            want += s << 32 | i;
    ck_assert_uint_eq(c.count, (uint64_t)NSEND * PER_SENDER);
    ck_assert_uint_eq(c.sum, want);
    for (int i = 0; i < NSEND; i++)
        ck_assert_uint_eq(c.seen[i], PER_SENDER);
    return rc;
}

START_TEST(chan_many_senders_many_receivers_lose_nothing) { RUN(many_main); }
END_TEST

/* ------------------------------------------------------------------- misc */

static int bad_open_main(void *arg)
{
    (void)arg;
    axle_chan_tx *tx = NULL;
    axle_chan_rx *rx = NULL;
    ck_assert_int_eq(axle_chan_open(&tx, &rx, 0, 4), -EINVAL);
    ck_assert_int_eq(axle_chan_open(&tx, &rx, SIZE_MAX / 2, 4), -ENOMEM);
    ck_assert_ptr_null(tx);
    ck_assert_ptr_null(rx);
    return 0;
}

START_TEST(chan_open_rejects_bad_sizes) { RUN(bad_open_main); }
END_TEST

typedef struct big {
    char text[40]; /* an item that is not a word */
    uint32_t n;    /* and a counter */
} big;

static int item_size_main(void *arg)
{
    (void)arg;
    axle_chan_tx *tx;
    axle_chan_rx *rx;
    ck_assert_int_eq(axle_chan_open(&tx, &rx, sizeof(big), 2), 0);
    for (uint32_t i = 0; i < 5; i++) {
        big b = {.n = i};
        snprintf(b.text, sizeof b.text, "item %u", i);
        ck_assert_int_eq(axle_chan_send_nowait(tx, &b), i < 2 ? 0 : -EAGAIN);
    }
    for (uint32_t i = 0; i < 2; i++) {
        big b;
        ck_assert_int_eq(axle_chan_recv_nowait(rx, &b), 0);
        ck_assert_uint_eq(b.n, i);
        char want[40];
        snprintf(want, sizeof want, "item %u", i);
        ck_assert_str_eq(b.text, want);
    }
    axle_chan_rx_close(rx);
    axle_chan_tx_close(tx);
    return 0;
}

START_TEST(chan_copies_whole_items) { RUN(item_size_main); }
END_TEST

/* ------------------------------------------------------------------ suite */

static Suite *chan_suite(void)
{
    Suite *s = suite_create("chan");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"chan_items_arrive_in_fifo_order", chan_items_arrive_in_fifo_order},
        {"chan_eof_only_after_buffer_drained", chan_eof_only_after_buffer_drained},
        {"chan_clones_keep_it_open_until_the_last_closes",
         chan_clones_keep_it_open_until_the_last_closes},
        {"chan_send_is_ebroken_once_receivers_close", chan_send_is_ebroken_once_receivers_close},
        {"chan_receivers_closing_drops_buffered_items",
         chan_receivers_closing_drops_buffered_items},
        {"chan_closing_a_handle_wakes_its_parked_tasks_with_eclosed",
         chan_closing_a_handle_wakes_its_parked_tasks_with_eclosed},
        {"chan_nowait_is_eagain_where_it_would_park", chan_nowait_is_eagain_where_it_would_park},
        {"chan_zero_capacity_is_a_rendezvous", chan_zero_capacity_is_a_rendezvous},
        {"chan_cancelled_recv_takes_nothing", chan_cancelled_recv_takes_nothing},
        {"chan_cancelled_send_sends_nothing", chan_cancelled_send_sends_nothing},
        {"chan_send_completed_before_cancel_reports_sent",
         chan_send_completed_before_cancel_reports_sent},
        {"chan_many_senders_many_receivers_lose_nothing",
         chan_many_senders_many_receivers_lose_nothing},
        {"chan_open_rejects_bad_sizes", chan_open_rejects_bad_sizes},
        {"chan_copies_whole_items", chan_copies_whole_items},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = axle_test_tcase(cases[i].name, 10);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void) { return axle_test_main(chan_suite()); }
