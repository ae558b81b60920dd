/*
 * examples/pipeline.c — a three-stage pipeline of tasks: source -> square -> sink.
 *
 * Shows the task layer: one scheduler (axle_run), tasks in a nursery,
 * bounded memory channels with end-of-channel, a deadline scope that cancels
 * the whole pipeline, and an error in one stage cancelling its siblings and
 * reaching the parent with its message and origin.
 *
 *   run 1: a finite source; end-of-channel ripples through and close returns 0
 *   run 2: an endless source under move_on_after(50 ms): the deadline
 *          cancels every stage and the scope absorbs it
 *   run 3: a stage fails on a poisoned item: siblings are cancelled and
 *          close returns the stage's error with its frames
 */
#include <axle/task.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

struct stage {
    axle_chan_tx *out; /* owned: closed when the stage ends */
    axle_chan_rx *in;  /* owned: closed when the stage ends */
    uint64_t limit;    /* source: items to send (0: endless) */
    uint64_t poison;   /* square: fail on this item (0: never) */
    uint64_t count;    /* sink: items seen */
    uint64_t sum;      /* sink: their sum */
};

static int source(void *arg)
{
    struct stage *s = arg;
    int rc = 0;
    for (uint64_t i = 1; s->limit == 0 || i <= s->limit; i++)
        if ((rc = axle_chan_send(s->out, &i)) < 0)
            break;
    axle_chan_tx_close(s->out); /* the next stage sees end-of-channel */
    return rc;
}

static int square(void *arg)
{
    struct stage *s = arg;
    uint64_t v;
    int rc;
    while ((rc = axle_chan_recv(s->in, &v)) == 0) {
        if (v == s->poison) {
            rc = AXLE_SET_ERR(-EIO, "square: poisoned item %" PRIu64, v);
            break;
        }
        v *= v;
        if ((rc = axle_chan_send(s->out, &v)) < 0)
            break;
    }
    axle_chan_rx_close(s->in);
    axle_chan_tx_close(s->out);
    return rc == -AXLE_EEOC ? 0 : rc;
}

static int sink(void *arg)
{
    struct stage *s = arg;
    uint64_t v;
    int rc;
    while ((rc = axle_chan_recv(s->in, &v)) == 0) {
        s->count++;
        s->sum += v;
    }
    axle_chan_rx_close(s->in);
    return rc == -AXLE_EEOC ? 0 : rc;
}

/* Run the three stages in one nursery; returns what the nursery's close says. */
static int run_pipeline(uint64_t limit, uint64_t poison, struct stage *out)
{
    struct stage src = {.limit = limit}, sq = {.poison = poison}, snk = {0};
    axle_chan_tx *a_tx, *b_tx;
    axle_chan_rx *a_rx, *b_rx;
    int rc;
    if ((rc = axle_chan_open(&a_tx, &a_rx, sizeof(uint64_t), 64)) < 0)
        return rc;
    if ((rc = axle_chan_open(&b_tx, &b_rx, sizeof(uint64_t), 64)) < 0) {
        axle_chan_tx_close(a_tx);
        axle_chan_rx_close(a_rx);
        return rc;
    }
    src.out = a_tx;
    sq.in = a_rx;
    sq.out = b_tx;
    snk.in = b_rx;

    axle_nursery *n;
    if ((rc = axle_nursery_open(&n)) < 0)
        return rc;
    axle_task_opts o1 = {.name = "source"}, o2 = {.name = "square"}, o3 = {.name = "sink"};
    if ((rc = axle_nursery_start_soon(n, source, &src, &o1)) == 0 &&
        (rc = axle_nursery_start_soon(n, square, &sq, &o2)) == 0)
        rc = axle_nursery_start_soon(n, sink, &snk, &o3);
    rc = axle_nursery_close(n, rc);
    *out = snk;
    return rc;
}

static double ms_since(int64_t t0) { return (double)(axle_now() - t0) / 1e6; }

static int demo(void *arg)
{
    (void)arg;
    struct stage res;
    printf("axle demo: source -> square -> sink, three tasks on one io_uring scheduler\n\n");

    int64_t t0 = axle_now();
    int rc = run_pipeline(1000000, 0, &res);
    double ms = ms_since(t0);
    printf("run 1: 1,000,000 items, no deadline\n"
           "       close -> %d; sink saw %" PRIu64 " items, sum of squares %" PRIu64 "\n"
           "       %.1f ms, %.2f M items/s through two hand-offs each\n\n",
           rc, res.count, res.sum, ms, (double)res.count / ms / 1e3);
    if (rc < 0)
        return rc;

    axle_scope sc;
    t0 = axle_now();
    axle_move_on_after(&sc, 50 * 1000 * 1000);
    rc = run_pipeline(0, 0, &res);
    rc = axle_scope_close(&sc, rc);
    printf("run 2: endless source under move_on_after(50 ms)\n"
           "       moved on after %.1f ms: close -> %d, cancelled_caught=%d, %" PRIu64
           " items reached the sink\n\n",
           ms_since(t0), rc, axle_scope_cancelled_caught(&sc), res.count);
    if (rc < 0)
        return rc;

    t0 = axle_now();
    rc = run_pipeline(0, 1000, &res);
    char buf[1024];
    axle_error_format(axle_error_last(), buf, sizeof buf);
    printf("run 3: square fails on item 1000\n"
           "       close -> %d (%s) after %.1f ms; siblings cancelled; the error:\n%s",
           rc, axle_errname(rc), ms_since(t0), buf);
    axle_error_clear();
    return rc == -EIO ? 0 : -EPROTO;
}

int main(void)
{
    int rc = axle_run(demo, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "demo failed: %s\n", axle_strerror(rc));
        return 1;
    }
    return 0;
}
