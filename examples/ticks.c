/*
 * examples/ticks.c — the headline demo: market ticks between actors over
 * shared memory, with live rates and latency percentiles, then a clean
 * cancel of the whole tree.
 *
 *   build/examples/ticks [--seconds N] [--subs N] [--rate TICKS_PER_S] [--no-slow]
 *
 * The tree (one process per actor, supervised by root's actor nursery):
 *
 *   root ── feed ──SPSC fixed ring (lossless, back-pressure)──> proc
 *            └────broadcast ring (never waits)──────────> sub-0 .. sub-N-1
 *
 * - feed creates both rings (/dev/shm/axle.<feed-pid>.ticks.*; the SPSC
 *   one a fixed ring of struct tick records, axle_ring_create_fixed) and hands
 *   their keys and its pid to root as its context's started value; root
 *   passes them to proc and every sub as their context arguments, and
 *   each attaches by key.
 * - Ticks carry a CLOCK_MONOTONIC send stamp; proc and the subs put
 *   now - stamp (one-way latency across processes) into log-bucket
 *   histograms. The clock is system-wide, so the stamps compare.
 * - Windows are aligned: root sends every actor the same start time t0 on
 *   its context stream ("go"); each reports window k = [t0 + k s,
 *   t0 + (k+1) s) on that stream, and root prints the row block for k
 *   shortly after it closes. Every figure is counted, none is assumed.
 * - The last sub is slow on purpose (it stalls 40 ms every 100 ms, unless
 *   --no-slow): the writer laps it and it reports what it missed
 *   (-AXLE_ELAGGED's count).
 * - The end: the run phase (collectors and the table) sits in a scope
 *   whose deadline root sets once t0 is known. When it fires, root stops
 *   the source first: it cancels the feed's context, and the feed, on its
 *   way out, writes an end record (its count) into both rings, shielded
 *   and bounded, then unlinks them. proc and the subs get DRAIN_NS
 *   (shielded) to read up to it and return, so each proves got + missed
 *   == sent with every seq in order; whoever is late is cancelled. Then
 *   the actor nursery is cancelled and reaps every actor. The contexts
 *   and the actor nursery sit outside the deadline scope on purpose: a
 *   cancelled scope reaches everything inside it at once, actors included
 *   (trio's rule). That is what Ctrl-C does: SIGINT cancels root's main
 *   task, every actor is cancelled at once and reports what it had.
 * - Root then proves that no actor's process is alive and that no segment
 *   of any of their pids is left in /dev/shm (exit status 1 otherwise).
 *
 * Every waiting call in the actors is a checkpoint that parks the task
 * (ring and broadcast reads park on the io_uring futex wait). A busy loop
 * that always finds data never parks, so the loops also yield with
 * axle_checkpoint every CHECKPOINT_EVERY records: that is what lets the
 * actor's runtime read a cancel request off its socket.
 */
#include <axle/actor.h>
#include <axle/context.h>
#include <axle/shm.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEC 1000000000LL
#define MAX_SUBS 16
#define RING_KEY "ticks.spsc"
#define BCAST_KEY "ticks.bcast"
#define CHECKPOINT_EVERY 1024          /* records between yields in a loop that never parks */
#define REPORT_GRACE (150 * 1000000LL) /* root prints window k this long after it ends */
#define DRAIN_NS (2 * SEC)             /* bounds the readers finishing once the feed stopped */

/* ---------------------------------------------------------------- wire types */

/* One tick, as the feed writes it into both rings (32 bytes). */
struct tick {
    uint64_t seq;    /* 0, 1, 2, ... in feed order */
    int64_t sent_ns; /* CLOCK_MONOTONIC (axle_now) just before the ring send */
    int64_t price;   /* in 1/10000 of a unit */
    uint32_t qty;    /* 1 .. 100 */
    uint32_t flags;  /* TICK_END on the feed's last record */
};

/* The feed's last record in both rings: seq is the number of ticks it sent. */
#define TICK_END 1u

/* Root -> feed: the context's arguments. */
struct feed_args {
    uint64_t rate;      /* ticks per second; 0: as fast as the SPSC ring takes them */
    uint32_t ring_cap;  /* SPSC data area, bytes */
    uint32_t bcast_cap; /* broadcast data area, bytes */
};

/* Feed -> root: the started value; root -> proc and subs: their arguments. */
struct feed_info {
    int32_t owner;      /* the feed's pid: the rings' creator */
    int32_t slow;       /* subs only: stall on purpose (1) or not (0) */
    char ring_key[32];  /* the SPSC ring's key (NUL-terminated) */
    char bcast_key[32]; /* the broadcast ring's key (NUL-terminated) */
};

/* Child -> root on the context stream, once per window. */
struct report {
    uint64_t window;              /* k: the window [t0 + k s, t0 + (k+1) s) */
    int64_t window_ns;            /* how long it really lasted (the rate's divisor) */
    uint64_t n;                   /* ticks sent (feed) or received (others) in it */
    uint64_t missed;              /* ticks lost in it (-AXLE_ELAGGED's counts) */
    uint64_t p50, p99, p999, max; /* one-way latency in it, ns (0 for feed) */
};

/* ------------------------------------------------------ latency histogram */

/*
 * HdrHistogram's layout, by hand: values below 16 ns have a bucket each;
 * above, every power of two is cut into 16 sub-buckets, so a bucket's
 * width is at most 1/16 of its value (the reported value is its top).
 */
#define SUB_BITS 4
#define SUBS (1u << SUB_BITS)
#define BUCKETS ((64 - SUB_BITS + 1) * SUBS)

struct hist {
    uint64_t n;              /* values recorded */
    uint64_t max;            /* the largest, exact */
    uint64_t count[BUCKETS]; /* Invariant: they sum to n */
};

static unsigned bucket_of(uint64_t v)
{
    if (v < SUBS)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS */
    return (e - SUB_BITS + 1) * SUBS + (unsigned)((v >> (e - SUB_BITS)) & (SUBS - 1));
}

/* The largest value that lands in bucket b. */
static uint64_t bucket_top(unsigned b)
{
    if (b < SUBS)
        return b;
    unsigned e = b / SUBS + SUB_BITS - 1, sub = b % SUBS;
    return ((uint64_t)(SUBS + sub + 1) << (e - SUB_BITS)) - 1;
}

static void hist_add(struct hist *h, int64_t v)
{
    uint64_t u = v > 0 ? (uint64_t)v : 0;
    h->count[bucket_of(u)]++;
    h->n++;
    if (u > h->max)
        h->max = u;
}

/* The value at quantile q (0..1]: no more than 1/16 above the true one, never above max. */
static uint64_t hist_at(const struct hist *h, double q)
{
    if (h->n == 0)
        return 0;
    uint64_t want = (uint64_t)(q * (double)h->n + 0.999999), seen = 0;
    if (want == 0)
        want = 1;
    for (unsigned b = 0; b < BUCKETS; b++)
        if ((seen += h->count[b]) >= want)
            return bucket_top(b) < h->max ? bucket_top(b) : h->max;
    return h->max;
}

static void hist_reset(struct hist *h) { memset(h, 0, sizeof *h); }

/* ------------------------------------------------------------- formatting */

static const char *fmt_ns(char *buf, size_t len, uint64_t ns)
{
    if (ns < 1000)
        snprintf(buf, len, "%" PRIu64 " ns", ns);
    else if (ns < 1000000)
        snprintf(buf, len, "%.1f us", (double)ns / 1e3);
    else if (ns < 1000000000)
        snprintf(buf, len, "%.1f ms", (double)ns / 1e6);
    else
        snprintf(buf, len, "%.2f s", (double)ns / 1e9);
    return buf;
}

static const char *fmt_rate(char *buf, size_t len, double per_s)
{
    if (per_s >= 999950) /* not "1000.0 k/s" */
        snprintf(buf, len, "%.2f M/s", per_s / 1e6);
    else if (per_s >= 999.5)
        snprintf(buf, len, "%.1f k/s", per_s / 1e3);
    else
        snprintf(buf, len, "%.0f /s", per_s);
    return buf;
}

/* A line from this actor: "[name@pid] ...", one write (stdout is line-buffered). */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char line[512];
    const axle_uid *me = axle_actor_uid();
    int n = snprintf(line, sizeof line, "[%s@%d] ", me ? me->name : "?", (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    printf("%s\n", line);
    fflush(stdout);
}

/* ------------------------------------------------- the measuring side */

/* A window's worth of counting, shared by proc and the subs. */
struct meter {
    int64_t t0;         /* window 0's start (root's go) */
    uint64_t window;    /* the window being counted */
    int64_t win_start;  /* when it started */
    uint64_t n, missed; /* this window */
    uint64_t total, missed_total;
    struct hist win; /* this window's latencies */
    struct hist all; /* the whole run's */
};

/* Nanoseconds until `until`, never negative (a negative ring timeout waits forever). */
static int64_t left_until(int64_t until)
{
    int64_t ns = until - axle_now();
    return ns > 0 ? ns : 0;
}

static int64_t meter_window_end(const struct meter *m)
{
    return m->t0 + (int64_t)(m->window + 1) * SEC;
}

static void meter_record(struct meter *m, const struct tick *t)
{
    int64_t lat = axle_now() - t->sent_ns;
    hist_add(&m->win, lat);
    hist_add(&m->all, lat);
    m->n++;
    m->total++;
}

/* Close the window (if its end has passed): report it on st, open the next. */
static int meter_tick(struct meter *m, axle_stream *st)
{
    int64_t now = axle_now();
    if (now < meter_window_end(m))
        return 0;
    struct report r = {
        .window = m->window,
        .window_ns = now - m->win_start,
        .n = m->n,
        .missed = m->missed,
        .p50 = hist_at(&m->win, 0.50),
        .p99 = hist_at(&m->win, 0.99),
        .p999 = hist_at(&m->win, 0.999),
        .max = m->win.max,
    };
    m->window = (uint64_t)((now - m->t0) / SEC);
    m->win_start = now;
    m->n = m->missed = 0;
    hist_reset(&m->win);
    return axle_stream_send(st, &r, sizeof r);
}

/* The actor's final line: totals, how they reconcile with the feed's, latency. */
static void meter_final(const struct meter *m, const char *reconcile, const char *extra)
{
    char a[24], b[24], c[24], d[24], e[24];
    double secs = (double)(axle_now() - m->t0) / 1e9;
    say("final: got %" PRIu64 " in %.2f s (%s), missed %" PRIu64 "%s; latency p50 %s p99 %s "
        "p99.9 %s max %s%s",
        m->total, secs, fmt_rate(a, sizeof a, (double)m->total / secs), m->missed_total, reconcile,
        fmt_ns(b, sizeof b, hist_at(&m->all, 0.50)), fmt_ns(c, sizeof c, hist_at(&m->all, 0.99)),
        fmt_ns(d, sizeof d, hist_at(&m->all, 0.999)), fmt_ns(e, sizeof e, m->all.max), extra);
}

/*
 * How the counts compare with the feed's end record: got + missed must be
 * exactly what it sent, and every seq must have come in order or been
 * counted missed (out_of_place 0).
 */
static void reconcile(char *buf, size_t len, const struct meter *m, const struct tick *end,
                      uint64_t out_of_place, int rc)
{
    if (!end)
        snprintf(buf, len, " (%s before the feed's end record)", axle_errname(rc));
    else if (m->total + m->missed_total == end->seq && out_of_place == 0)
        snprintf(buf, len, " = all %" PRIu64 " the feed sent, in order", end->seq);
    else
        snprintf(buf, len, " of %" PRIu64 " the feed sent, %" PRIu64 " out of place: BROKEN",
                 end->seq, out_of_place);
}

/* Started, stream, then wait for root's go: the shared t0. */
static int await_go(axle_ctx *ctx, const void *first, size_t len, axle_stream **st, int64_t *t0)
{
    int rc = axle_ctx_started(ctx, first, len);
    if (rc == 0)
        rc = axle_ctx_open_stream(ctx, NULL, st);
    axle_buf go = {0};
    if (rc == 0)
        rc = axle_stream_recv(*st, &go);
    if (rc == 0 && go.len != sizeof *t0)
        rc = AXLE_SET_ERR(-EPROTO, "go: %zu bytes, expected %zu", go.len, sizeof *t0);
    if (rc == 0)
        memcpy(t0, go.data, sizeof *t0);
    axle_buf_free(&go);
    if (rc == 0)
        rc = axle_sleep_until(*t0);
    return rc;
}

static int parse_info(const void *args, size_t len, struct feed_info *fi)
{
    if (len != sizeof *fi)
        return AXLE_SET_ERR(-EINVAL, "expected a feed_info (%zu bytes), got %zu", sizeof *fi, len);
    memcpy(fi, args, sizeof *fi);
    fi->ring_key[sizeof fi->ring_key - 1] = fi->bcast_key[sizeof fi->bcast_key - 1] = '\0';
    return 0;
}

/* ------------------------------------------------------------------ proc */

/*
 * Context "ticks.proc": the SPSC ring's consumer. Reads every tick in place
 * (peek / release), checks that none is missing or out of order, keeps a
 * VWAP, and reports each window.
 */
static int proc(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)ret;
    struct feed_info fi;
    int rc = parse_info(args, len, &fi);
    if (rc < 0)
        return rc;
    axle_ring *ring;
    if ((rc = axle_ring_attach(&ring, fi.ring_key, fi.owner, AXLE_RING_CONSUMER)) < 0)
        return AXLE_SET_ERR(rc, "attach %s of pid %d", fi.ring_key, (int)fi.owner);
    struct meter m = {0}; /* 16 KiB: task stacks are 256 KiB */
    axle_stream *st;
    uint64_t expect = 0, gaps = 0;
    double notional = 0, volume = 0;
    struct tick end; /* the feed's end record, once it came */
    bool ended = false;
    if ((rc = await_go(ctx, NULL, 0, &st, &m.t0)) == 0)
        m.win_start = axle_now();
    while (rc == 0 && (rc = meter_tick(&m, st)) == 0) {
        const void *p;
        size_t n;
        rc = axle_ring_peek(ring, &p, &n, left_until(meter_window_end(&m)));
        if (rc == -ETIMEDOUT) {
            rc = 0;
            continue;
        }
        if (rc < 0)
            break;
        const struct tick *t = p;
        if (n != sizeof *t) {
            rc = AXLE_SET_ERR(-EPROTO, "a %zu-byte record in the tick ring", n);
            break;
        }
        if (t->flags & TICK_END) {
            end = *t, ended = true;
            axle_ring_release(ring);
            break; /* everything is in: return 0 */
        }
        meter_record(&m, t);
        gaps += t->seq != expect;
        expect = t->seq + 1;
        notional += (double)t->price * t->qty;
        volume += t->qty;
        axle_ring_release(ring);
        if (m.total % CHECKPOINT_EVERY == 0)
            rc = axle_checkpoint();
    }
    char rec[96], extra[48];
    reconcile(rec, sizeof rec, &m, ended ? &end : NULL, gaps, rc);
    snprintf(extra, sizeof extra, "; VWAP %.4f", volume > 0 ? notional / volume / 1e4 : 0.0);
    meter_final(&m, rec, extra);
    axle_ring_close(ring);
    return rc;
}
AXLE_EXPORT_CTX("ticks.proc", proc)

/* ------------------------------------------------------------------- sub */

/*
 * Context "ticks.sub": a reader of the broadcast ring. A slow one stalls
 * 40 ms every 100 ms, longer than the ring holds at the default rate, so the
 * writer laps it and it counts what it missed.
 */
#define SLOW_EVERY (100 * 1000000LL)
#define SLOW_STALL (40 * 1000000LL)

static int sub(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)ret;
    struct feed_info fi;
    int rc = parse_info(args, len, &fi);
    if (rc < 0)
        return rc;
    axle_bcast *bc;
    if ((rc = axle_bcast_attach(&bc, fi.bcast_key, fi.owner)) < 0)
        return AXLE_SET_ERR(rc, "attach %s of pid %d", fi.bcast_key, (int)fi.owner);
    struct meter m = {0}; /* 16 KiB: task stacks are 256 KiB */
    axle_stream *st;
    uint64_t next = 0, mismatches = 0; /* the seq expected next: read or counted missed */
    struct tick end;                   /* the feed's end record, once it came */
    bool ended = false;
    if ((rc = await_go(ctx, NULL, 0, &st, &m.t0)) == 0)
        m.win_start = axle_now();
    int64_t next_stall = m.t0 + SLOW_EVERY;
    while (rc == 0 && (rc = meter_tick(&m, st)) == 0) {
        if (fi.slow && axle_now() >= next_stall) {
            rc = axle_sleep(SLOW_STALL);
            next_stall += SLOW_EVERY;
            continue;
        }
        struct tick t;
        size_t n;
        uint64_t missed;
        int64_t until = meter_window_end(&m);
        if (fi.slow && next_stall < until)
            until = next_stall;
        rc = axle_bcast_recv(bc, &t, sizeof t, &n, &missed, left_until(until));
        if (rc == -ETIMEDOUT || rc == -AXLE_ELAGGED) {
            if (rc == -AXLE_ELAGGED)
                m.missed += missed, m.missed_total += missed, next += missed;
            rc = 0;
            continue;
        }
        if (rc < 0)
            break;
        if (n != sizeof t) {
            rc = AXLE_SET_ERR(-EPROTO, "a %zu-byte record in the broadcast ring", n);
            break;
        }
        if (t.flags & TICK_END) {
            end = t, ended = true;
            mismatches += t.seq != next;
            break; /* everything is in: return 0 */
        }
        meter_record(&m, &t);
        mismatches += t.seq != next;
        next = t.seq + 1;
        if (m.total % CHECKPOINT_EVERY == 0)
            rc = axle_checkpoint();
    }
    /* The reader attached before the feed's first tick: every seq from 0 on
     * was either read or counted missed, in order. */
    char rec[96];
    reconcile(rec, sizeof rec, &m, ended ? &end : NULL, mismatches, rc);
    meter_final(&m, rec, fi.slow ? " (stalls on purpose)" : "");
    axle_bcast_close(bc);
    return rc;
}
AXLE_EXPORT_CTX("ticks.sub", sub)

/* ------------------------------------------------------------------ feed */

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/*
 * Context "ticks.feed": creates both rings (it owns and unlinks them),
 * hands root their keys as its started value, then from t0 writes ticks at
 * the asked rate: each tick into the SPSC ring (waiting while it is full:
 * proc's back-pressure) and into the broadcast ring (never waiting). Ticks
 * go out in bursts of at least 200 us worth, so the readers park between
 * bursts instead of spinning.
 */
static int feed(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
{
    (void)ret;
    struct feed_args a;
    if (len != sizeof a)
        return AXLE_SET_ERR(-EINVAL, "expected feed_args, got %zu bytes", len);
    memcpy(&a, args, sizeof a);
    axle_ring *ring;
    axle_bcast *bc;
    /* Every record is one struct tick: a fixed ring, no length prefix (32 bytes, not 40). */
    int rc = axle_ring_create_fixed(&ring, RING_KEY, a.ring_cap, sizeof(struct tick),
                                    AXLE_RING_PRODUCER);
    if (rc < 0)
        return AXLE_SET_ERR(rc, "create the SPSC ring");
    if ((rc = axle_bcast_create(&bc, BCAST_KEY, a.bcast_cap)) < 0) {
        axle_ring_close(ring);
        return AXLE_SET_ERR(rc, "create the broadcast ring");
    }
    struct feed_info fi = {.owner = (int32_t)getpid()};
    snprintf(fi.ring_key, sizeof fi.ring_key, "%s", RING_KEY);
    snprintf(fi.bcast_key, sizeof fi.bcast_key, "%s", BCAST_KEY);

    axle_stream *st;
    int64_t t0 = 0;
    rc = await_go(ctx, &fi, sizeof fi, &st, &t0);
    uint64_t burst = a.rate ? (a.rate / 5000 ? a.rate / 5000 : 1) : 256; /* >= 200 us */
    uint64_t seq = 0, win_n = 0, waits = 0, rng = 0x9e3779b97f4a7c15u;
    uint64_t window = 0;
    int64_t win_start = t0;
    struct tick t = {.price = 100 * 10000};
    while (rc == 0) {
        int64_t now = axle_now();
        if (now >= t0 + (int64_t)(window + 1) * SEC) {
            struct report r = {.window = window, .window_ns = now - win_start, .n = win_n};
            window = (uint64_t)((now - t0) / SEC);
            win_start = now;
            win_n = 0;
            if ((rc = axle_stream_send(st, &r, sizeof r)) < 0)
                break;
        }
        uint64_t due = seq + burst;
        if (a.rate) {
            due = (uint64_t)((double)(now - t0) * (double)a.rate / 1e9);
            if (due < seq + burst) { /* not a burst's worth yet: sleep until it is */
                int64_t at = t0 + (int64_t)((double)(seq + burst) * 1e9 / (double)a.rate);
                int64_t wend = t0 + (int64_t)(window + 1) * SEC;
                rc = axle_sleep_until(at < wend ? at : wend);
                continue;
            }
            if (due > seq + burst) /* behind: catch up a burst per turn, still yielding */
                due = seq + burst;
        }
        while (rc == 0 && seq < due) {
            uint64_t r = xorshift(&rng);
            t.seq = seq;
            t.price += (int64_t)(r % 21) - 10;
            t.qty = (uint32_t)(r >> 32) % 100 + 1;
            t.sent_ns = axle_now();
            rc = axle_ring_send_nowait(ring, &t, sizeof t);
            if (rc == -EAGAIN) { /* proc is behind: wait for room (a checkpoint) */
                waits++;
                rc = axle_ring_send(ring, &t, sizeof t, -1);
            }
            if (rc == 0 && (rc = axle_bcast_publish(bc, &t, sizeof t)) == 0)
                seq++, win_n++; /* counted once in both rings: the end record's count */
        }
        if (rc == 0)
            rc = axle_checkpoint(); /* a burst is done: let the runtime run */
    }
    /*
     * The end record, so the readers can finish on exactly what was sent.
     * This task is cancelled (level-triggered), so the one wait it may
     * need, for room in the SPSC ring, runs shielded and bounded.
     */
    struct tick end = {.seq = seq, .sent_ns = axle_now(), .flags = TICK_END};
    axle_bcast_publish(bc, &end, sizeof end);
    axle_scope shield;
    axle_scope_open(&shield, axle_now() + 200 * 1000000LL, AXLE_SCOPE_SHIELD);
    int erc = axle_ring_send(ring, &end, sizeof end, -1);
    erc = axle_scope_close(&shield, erc);
    char rate[24];
    double secs = (double)(end.sent_ns - t0) / 1e9;
    say("final: %" PRIu64 " ticks sent in %.2f s (%s); waited for proc's room %" PRIu64
        " times; end record %s; unlinking /dev/shm/axle.%d.ticks.*",
        seq, secs, fmt_rate(rate, sizeof rate, (double)seq / secs), waits,
        erc == 0 ? "sent" : axle_errname(erc), (int)getpid());
    axle_bcast_close(bc);
    axle_ring_close(ring);
    return rc;
}
AXLE_EXPORT_CTX("ticks.feed", feed)

/* ------------------------------------------------------------------ root */

struct opts {
    int64_t seconds; /* run this long after t0; 0: until Ctrl-C */
    int subs;        /* broadcast readers, 1 .. MAX_SUBS */
    uint64_t rate;   /* ticks per second; 0: flat out */
    bool slow;       /* the last of several subs stalls on purpose */
};

/* What root knows of one child actor. */
struct child {
    char name[16];       /* feed, proc, sub-<i> */
    int pid;             /* its process */
    axle_portal *portal; /* owned by the actor nursery */
    axle_ctx *ctx;       /* its context, open while the tree runs */
    axle_stream *st;     /* the context's stream (owned by ctx) */
    struct report last;  /* the latest window it reported */
    bool have;           /* last holds a report */
};

struct tree {
    struct opts o;
    int n;                        /* children: feed, proc, then the subs */
    struct child c[2 + MAX_SUBS]; /* c[0] feed, c[1] proc, c[2..] subs */
    int64_t t0;                   /* window 0's start, sent to every child */
    int64_t end;                  /* the run scope's deadline (or AXLE_NO_DEADLINE) */
    axle_scope *run;              /* the run scope, while it is open */
    bool timed_out;               /* the run ended at its deadline */
    int64_t stop_at;              /* when the run ended: shutdown starts */
};

/* A task per child: keep its latest report. */
static int collect(void *arg)
{
    struct child *c = arg;
    axle_buf b = {0};
    int rc;
    while ((rc = axle_stream_recv(c->st, &b)) == 0)
        if (b.len == sizeof c->last) {
            memcpy(&c->last, b.data, sizeof c->last);
            c->have = true;
        }
    axle_buf_free(&b);
    return rc;
}

/* Print window k's rows a little after it closed, for as long as the tree runs. */
static int table(void *arg)
{
    struct tree *t = arg;
    printf("%4s  %-6s %11s %9s %9s %9s %9s %9s\n", "t", "actor", "rate", "p50", "p99", "p99.9",
           "max", "missed");
    for (uint64_t k = 0;; k++) {
        int rc = axle_sleep_until(t->t0 + (int64_t)(k + 1) * SEC + REPORT_GRACE);
        if (rc < 0)
            return rc;
        char line[(2 + MAX_SUBS) * 96]; /* a row per actor, up to about 80 bytes each */
        size_t at = 0;
        for (int i = 0; i < t->n && at < sizeof line; i++) {
            const struct child *c = &t->c[i];
            const struct report *r = &c->last;
            char rate[24], p50[24], p99[24], p999[24], max[24];
            if (!c->have || r->window != k) {
                at += (size_t)snprintf(line + at, sizeof line - at, "%3" PRIu64 "s  %-6s %11s\n",
                                       k + 1, c->name, "(late)");
                continue;
            }
            bool lat = i > 0; /* the feed measures no latency */
            fmt_rate(rate, sizeof rate, (double)r->n * 1e9 / (double)r->window_ns);
            at += (size_t)snprintf(line + at, sizeof line - at,
                                   "%3" PRIu64 "s  %-6s %11s %9s %9s %9s %9s %9" PRIu64 "\n", k + 1,
                                   c->name, rate, lat ? fmt_ns(p50, sizeof p50, r->p50) : "-",
                                   lat ? fmt_ns(p99, sizeof p99, r->p99) : "-",
                                   lat ? fmt_ns(p999, sizeof p999, r->p999) : "-",
                                   lat ? fmt_ns(max, sizeof max, r->max) : "-", r->missed);
        }
        fputs(line, stdout); /* one block per window */
        fflush(stdout);
    }
}

/* With every context open: collectors and the table, go, then wait for the end. */
static int run_contexts(struct tree *t)
{
    int rc = 0;
    for (int i = 0; i < t->n && rc == 0; i++)
        rc = axle_ctx_open_stream(t->c[i].ctx, NULL, &t->c[i].st);
    axle_nursery *n;
    if (rc < 0 || (rc = axle_nursery_open(&n)) < 0)
        return rc;
    for (int i = 0; i < t->n && rc == 0; i++)
        rc = axle_nursery_start_soon(n, collect, &t->c[i], NULL);
    if (rc == 0)
        rc = axle_nursery_start_soon(n, table, t, NULL);
    /* One t0 for all, a little ahead so every child has it in time. */
    t->t0 = axle_now() + 20 * 1000000LL;
    for (int i = 0; i < t->n && rc == 0; i++)
        rc = axle_stream_send(t->c[i].st, &t->t0, sizeof t->t0);
    if (rc == 0 && t->o.seconds > 0) {
        /* Just past the last window's row block: the run ends, shutdown starts. */
        t->end = t->t0 + t->o.seconds * SEC + REPORT_GRACE + 20 * 1000000LL;
        axle_scope_set_deadline(t->run, t->end);
    }
    return axle_nursery_close(n, rc); /* the collectors run until the tree is cancelled */
}

/* Feed's context is open: proc's and the subs' open with its rings' keys. */
static int with_feed(struct tree *t, const axle_buf *first)
{
    struct feed_info fi;
    if (first->len != sizeof fi)
        return AXLE_SET_ERR(-EPROTO, "feed started with %zu bytes", first->len);
    memcpy(&fi, first->data, sizeof fi);
    say("feed %d created /dev/shm/axle.%d.%s (SPSC ring -> proc) and .%s (broadcast -> %d "
        "sub%s)",
        (int)fi.owner, (int)fi.owner, fi.ring_key, fi.bcast_key, t->o.subs,
        t->o.subs > 1 ? "s" : "");
    struct feed_info args[1 + MAX_SUBS];
    axle_ctx_spec specs[1 + MAX_SUBS];
    axle_ctx *ctxs[1 + MAX_SUBS];
    int m = t->n - 1;
    for (int i = 0; i < m; i++) {
        args[i] = fi;
        args[i].slow = t->o.slow && t->o.subs >= 2 && i == m - 1;
        specs[i] = (axle_ctx_spec){t->c[i + 1].portal, i == 0 ? "ticks.proc" : "ticks.sub",
                                   &args[i], sizeof args[i]};
    }
    if (t->o.slow && t->o.subs >= 2)
        say("%s stalls 40 ms every 100 ms on purpose: the broadcast ring laps it", t->c[m].name);
    int rc = axle_ctx_gather(specs, (size_t)m, ctxs, NULL);
    if (rc < 0)
        return rc;
    for (int i = 0; i < m; i++)
        t->c[i + 1].ctx = ctxs[i];
    /*
     * The run, in its own scope: its deadline (or an error) ends only the
     * collectors and the table. The contexts and the actor nursery are
     * outside it, so the tree is still whole when it ends: a scope that
     * held the actor nursery would cancel every actor the moment it fired
     * (trio's rule: a cancel reaches everything inside), with no chance to
     * drain. Ctrl-C cancels root's main task, outside all of this: then
     * everything is cancelled at once, as it should be.
     */
    axle_scope run;
    axle_scope_open(&run, AXLE_NO_DEADLINE, 0);
    t->run = &run;
    rc = run_contexts(t);
    t->timed_out = axle_scope_cancel_called(&run);
    rc = axle_scope_close(&run, rc); /* its own deadline's cancel is absorbed: 0 */
    t->stop_at = axle_now();
    /*
     * Stop the source first: the feed, cancelled, ends both rings with its
     * end record. Then proc and the subs get a bounded, shielded moment to
     * read up to it and return, so their totals add up to exactly what was
     * sent; whoever is not done by then is cancelled.
     */
    axle_ctx_cancel(t->c[0].ctx);
    axle_scope drain;
    axle_scope_open(&drain, axle_now() + DRAIN_NS, AXLE_SCOPE_SHIELD);
    for (int i = 0; i < m; i++)
        if (axle_ctx_result(ctxs[i], NULL) == -ECANCELED)
            break; /* out of time */
    axle_scope_close(&drain, 0);
    for (int i = 0; i < m; i++)
        if (axle_ctx_outcome(ctxs[i]) == 1) /* still running: our cancel, absorbed at close */
            axle_ctx_cancel(ctxs[i]);
    return axle_ctx_close_all(ctxs, (size_t)m, rc);
}

static int run_tree(struct tree *t)
{
    static const char *const mods[] = {"ticks"};
    axle_actor_nursery *an;
    int rc = axle_actor_nursery_open(&an);
    if (rc < 0)
        return rc;
    for (int i = 0; i < t->n && rc == 0; i++) {
        axle_spawn_opts so = {.name = t->c[i].name, .enable_modules = mods, .n_enable_modules = 1};
        if ((rc = axle_start_actor(an, &so, &t->c[i].portal)) == 0)
            t->c[i].pid = axle_portal_uid(t->c[i].portal)->pid;
    }
    if (rc == 0) {
        char pids[256];
        size_t at = 0;
        for (int i = 0; i < t->n; i++)
            at += (size_t)snprintf(pids + at, sizeof pids - at, " %d", t->c[i].pid);
        say("pids:%s (feed, proc, subs: one process each)", pids);
    }
    struct feed_args fa = {.rate = t->o.rate, .ring_cap = 1u << 20, .bcast_cap = 1u << 20};
    axle_buf first = {0};
    if (rc == 0 && (rc = axle_ctx_open(t->c[0].portal, "ticks.feed", &fa, sizeof fa, &t->c[0].ctx,
                                       &first)) == 0) {
        rc = with_feed(t, &first);
        rc = axle_ctx_close(t->c[0].ctx, rc);
    }
    axle_buf_free(&first);
    axle_actor_nursery_cancel(an);           /* daemons serve until cancelled */
    return axle_actor_nursery_close(an, rc); /* every child reaped */
}

/* Is anything of the tree left: a live process, a segment of one of its pids? */
static void leftovers(const struct tree *t, int *procs, int *segs)
{
    *procs = *segs = 0;
    for (int i = 0; i < t->n; i++)
        if (t->c[i].pid > 0 && (kill(t->c[i].pid, 0) == 0 || errno != ESRCH))
            ++*procs;
    DIR *d = opendir("/dev/shm");
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));)
        for (int i = -1; i < t->n; i++) {
            char prefix[32];
            snprintf(prefix, sizeof prefix, "axle.%d.", i < 0 ? (int)getpid() : t->c[i].pid);
            if ((i < 0 || t->c[i].pid > 0) && strncmp(e->d_name, prefix, strlen(prefix)) == 0)
                ++*segs;
        }
    closedir(d);
}

static bool dirty;    /* root found something of the tree left over */
static bool reported; /* root printed its error */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ticks [--seconds N] [--subs N] [--rate TICKS_PER_S] [--no-slow]\n"
            "  --seconds N  run N seconds, then cancel the tree (default 3; 0: until Ctrl-C)\n"
            "  --subs N     broadcast subscribers, 1..%d (default 3)\n"
            "  --rate R     ticks per second (default 1000000; 0: as fast as proc takes them)\n"
            "  --no-slow    no deliberately slow subscriber\n",
            MAX_SUBS);
}

/* 0 and *o, 1 for --help, or -EINVAL (usage printed). */
static int parse(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.seconds = 3, .subs = 3, .rate = 1000000, .slow = true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        long long x = v ? strtoll(v, &end, 10) : -1;
        bool num = v && *v && end && *end == '\0' && x >= 0;
        if (strcmp(a, "--seconds") == 0 && num && x <= 86400)
            o->seconds = x, i++;
        else if (strcmp(a, "--subs") == 0 && num && x >= 1 && x <= MAX_SUBS)
            o->subs = (int)x, i++;
        else if (strcmp(a, "--rate") == 0 && num && x <= 100000000)
            o->rate = (uint64_t)x, i++;
        else if (strcmp(a, "--no-slow") == 0)
            o->slow = false;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        } else {
            fprintf(stderr, "ticks: bad argument '%s'%s%s\n", a, v ? " " : "", v ? v : "");
            usage(stderr);
            return -EINVAL;
        }
    }
    return 0;
}

struct main_args {
    int argc;
    char **argv;
};

static int root_main(void *arg)
{
    const struct main_args *ma = arg;
    struct tree t = {0};
    int rc = parse(ma->argc, ma->argv, &t.o);
    if (rc != 0) {
        reported = true; /* the usage said it */
        return rc < 0 ? rc : 0;
    }
    t.n = 2 + t.o.subs;
    snprintf(t.c[0].name, sizeof t.c[0].name, "feed");
    snprintf(t.c[1].name, sizeof t.c[1].name, "proc");
    for (int i = 0; i < t.o.subs; i++)
        snprintf(t.c[2 + i].name, sizeof t.c[2 + i].name, "sub-%d", i);
    char rate[24], secs[24];
    if (t.o.rate)
        fmt_rate(rate, sizeof rate, (double)t.o.rate);
    snprintf(secs, sizeof secs, "%" PRId64 " s", t.o.seconds);
    say("ticks: feed -> proc over an SPSC shm ring, feed -> %d sub%s over a broadcast shm ring; "
        "%s for %s",
        t.o.subs, t.o.subs > 1 ? "s" : "", t.o.rate ? rate : "flat out",
        t.o.seconds ? secs : "ever (Ctrl-C ends it)");

    t.end = AXLE_NO_DEADLINE;
    rc = run_tree(&t);
    int64_t stop_ns = t.stop_at ? axle_now() - t.stop_at : -1;

    int procs, segs;
    leftovers(&t, &procs, &segs);
    dirty = procs || segs;
    char took[24];
    say("final: %s; %d actors reaped%s%s; %d process%s and %d /dev/shm segment%s of the tree "
        "left",
        t.timed_out        ? "deadline reached: feed stopped, readers drained, tree cancelled"
        : rc == -ECANCELED ? "interrupted: tree cancelled"
                           : "tree ended",
        t.n, stop_ns >= 0 ? ", shutdown took " : "",
        stop_ns >= 0 ? fmt_ns(took, sizeof took, (uint64_t)stop_ns) : "", procs,
        procs == 1 ? "" : "es", segs, segs == 1 ? "" : "s");
    if (rc < 0 && rc != -ECANCELED) {
        char buf[4096];
        const axle_error *e = axle_error_last();
        if (e)
            axle_error_format(e, buf, sizeof buf);
        fprintf(stderr, "ticks: %s\n%s", axle_strerror(rc), e ? buf : "");
        reported = true;
    }
    if (rc == 0 && dirty)
        rc = AXLE_SET_ERR(-EBUSY, "the tree left something behind");
    return rc;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* children share the terminal: whole lines */
    struct main_args ma = {argc, argv};
    axle_actor_opts o = {.name = "root"};
    int rc = axle_main(argc, argv, &o, root_main, &ma);
    if (rc == -EINTR && !dirty) /* Ctrl-C: the tree was cancelled and cleaned up */
        return 0;
    if (rc < 0 && !reported) /* axle_root itself failed (no io_uring, say) */
        fprintf(stderr, "ticks: %s\n", axle_strerror(rc));
    return rc < 0 ? 1 : 0;
}
