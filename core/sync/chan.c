/*
 * core/sync/chan.c — memory channels: trio's MemoryChannelState in C.
 *
 * One `chan` holds everything the clones of both ends share: a ring buffer
 * of up to `capacity` items, the queue of parked senders and the queue of
 * parked receivers, and how many send and receive handles are open. Items
 * are copied, item_size bytes each.
 *
 * How an item moves:
 *   send: a receiver is parked -> copy straight into its buffer, wake it;
 *         else room in the ring -> append;
 *         else park: the item stays on the sender's stack (waiter data)
 *         until a receiver takes it.
 *   recv: the ring has items -> pop the oldest; if a sender is parked, move
 *         its item to the ring's tail and wake it;
 *         else a sender is parked (capacity 0) -> copy from it, wake it;
 *         else no send handle is open -> -AXLE_EEOC;
 *         else park with the destination as waiter data.
 * So items leave in the order they were sent (the ring first, then parked
 * senders in the order they parked), and a sender returns 0 exactly when
 * its item is in the ring or in a receiver's hands.
 *
 * Invariants: receivers are parked only while the ring is empty; senders
 * are parked only while the ring is full (for capacity 0: always "full").
 *
 * Closing:
 *   - tasks parked on the handle being closed are woken with -AXLE_ECLOSED
 *     (each waiter remembers the handle it parked through);
 *   - the last send handle closing wakes every parked receiver with
 *     -AXLE_EEOC (the ring is empty when one is parked, so EOF is due);
 *   - the last receive handle closing wakes every parked sender with
 *     -AXLE_EBROKEN, drops the buffered items, and later sends fail so.
 *
 * Cancellation: a parked task's abort only unhooks its waiter, so a
 * cancelled send has sent nothing and a cancelled recv has taken nothing.
 * A task whose item was already moved and woken before the cancel arrives
 * returns 0: the wake came first, the abort is not called. A woken task
 * never touches the channel again, so waking is safe even when the wake
 * is the last thing that happens before the state is freed.
 *
 * Handle lifetime (the choice made here): handles are small heap objects
 * linked from the state. Closing marks a handle closed but keeps it as a
 * tombstone until the state itself is freed, which happens when the last
 * handle of both kinds has closed. Until then, using a closed handle
 * reliably fails with -AXLE_ECLOSED; once every handle is closed the
 * tombstones go with the state, and using one is a use-after-free, as
 * "Invalidates" in task.h says. The cost is one small allocation per clone
 * for the life of the channel.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sync.h"

typedef struct chan chan;

/* What a send or receive handle is. Invariant: listed in ch->handles. */
typedef struct chan_end {
    chan *ch;              /* the state shared by every handle of the channel */
    struct chan_end *next; /* the next handle of ch (both kinds, open or closed) */
    bool closed;           /* closed: a tombstone until ch is freed */
} chan_end;

struct axle_chan_tx {
    chan_end end; /* first: the handle list frees through it */
};

struct axle_chan_rx {
    chan_end end; /* first: the handle list frees through it */
};

struct chan {
    size_t item_size;      /* bytes per item, > 0 */
    size_t capacity;       /* items the ring holds; 0 = rendezvous */
    unsigned char *ring;   /* capacity * item_size bytes (NULL when capacity is 0) */
    size_t head;           /* slot of the oldest buffered item */
    size_t len;            /* items buffered. Invariant: len <= capacity */
    axle__waitq senders;   /* parked senders (chan_waiter); data: their item */
    axle__waitq receivers; /* parked receivers (chan_waiter); data: their destination */
    size_t open_tx;        /* send handles not closed */
    size_t open_rx;        /* receive handles not closed */
    chan_end *handles;     /* every handle ever made, freed with the state */
};

/* A task parked in send or recv. Lives on that task's stack. */
typedef struct chan_waiter {
    axle__waiter w; /* the queue link; w.data: the item or the destination */
    chan_end *via;  /* the handle it parked through, for ECLOSED on close */
} chan_waiter;

static void *slot(chan *ch, size_t i)
{
    size_t at = ch->head + i;
    if (at >= ch->capacity)
        at -= ch->capacity;
    return ch->ring + at * ch->item_size;
}

static void ring_push(chan *ch, const void *item)
{
    memcpy(slot(ch, ch->len), item, ch->item_size);
    ch->len++;
}

static void ring_pop(chan *ch, void *item)
{
    memcpy(item, slot(ch, 0), ch->item_size);
    if (++ch->head == ch->capacity)
        ch->head = 0;
    ch->len--;
}

/* Add a handle of ch to its list. Returns it, or NULL without memory. */
static chan_end *end_new(chan *ch, size_t size)
{
    chan_end *e = calloc(1, size);
    if (!e)
        return NULL;
    e->ch = ch;
    e->next = ch->handles;
    ch->handles = e;
    return e;
}

static void chan_free(chan *ch)
{
    chan_end *e = ch->handles;
    while (e) {
        chan_end *next = e->next;
        free(e);
        e = next;
    }
    free(ch->ring);
    free(ch);
}

/* Wake, with code, every task parked in q through `via` (every one if NULL). */
static void wake_all(axle__waitq *q, const chan_end *via, int code)
{
    axle__waiter *w = q->head;
    while (w) {
        axle__waiter *next = w->next;
        if (!via || AXLE__CONTAINER_OF(w, chan_waiter, w)->via == via) {
            axle__waitq_remove(q, w);
            axle__wake(w->task, code);
        }
        w = next;
    }
}

/* Park on q through handle via, offering or wanting data. */
static int park(axle__waitq *q, chan_end *via, void *data)
{
    chan_waiter cw = {.w = {.data = data}, .via = via};
    return axle__waitq_park(q, &cw.w);
}

int axle_chan_open(axle_chan_tx **tx, axle_chan_rx **rx, size_t item_size, size_t capacity)
{
    if (item_size == 0)
        return AXLE_SET_ERR(-EINVAL, "axle_chan_open: item_size is 0");
    if (capacity > SIZE_MAX / item_size)
        return AXLE_SET_ERR(-ENOMEM, "axle_chan_open: %zu items of %zu bytes overflow", capacity,
                            item_size);
    chan *ch = calloc(1, sizeof *ch);
    if (!ch)
        goto out_nomem;
    ch->item_size = item_size;
    ch->capacity = capacity;
    axle__waitq_init(&ch->senders);
    axle__waitq_init(&ch->receivers);
    if (capacity) {
        ch->ring = malloc(capacity * item_size);
        if (!ch->ring)
            goto out_free_chan;
    }
    chan_end *t = end_new(ch, sizeof(axle_chan_tx));
    chan_end *r = t ? end_new(ch, sizeof(axle_chan_rx)) : NULL;
    if (!r)
        goto out_free_chan; /* chan_free takes t with it */
    ch->open_tx = 1;
    ch->open_rx = 1;
    *tx = AXLE__CONTAINER_OF(t, axle_chan_tx, end);
    *rx = AXLE__CONTAINER_OF(r, axle_chan_rx, end);
    return 0;

out_free_chan:
    chan_free(ch);
out_nomem:
    return AXLE_SET_ERR(-ENOMEM, "axle_chan_open: no memory for %zu items of %zu bytes", capacity,
                        item_size);
}

int axle_chan_tx_clone(axle_chan_tx *tx, axle_chan_tx **out)
{
    chan *ch = tx->end.ch;
    if (tx->end.closed)
        return AXLE_SET_ERR(-AXLE_ECLOSED, "clone of a closed send handle");
    chan_end *e = end_new(ch, sizeof(axle_chan_tx));
    if (!e)
        return AXLE_SET_ERR(-ENOMEM, "no memory for a send handle");
    ch->open_tx++;
    *out = AXLE__CONTAINER_OF(e, axle_chan_tx, end);
    return 0;
}

int axle_chan_rx_clone(axle_chan_rx *rx, axle_chan_rx **out)
{
    chan *ch = rx->end.ch;
    if (rx->end.closed)
        return AXLE_SET_ERR(-AXLE_ECLOSED, "clone of a closed receive handle");
    chan_end *e = end_new(ch, sizeof(axle_chan_rx));
    if (!e)
        return AXLE_SET_ERR(-ENOMEM, "no memory for a receive handle");
    ch->open_rx++;
    *out = AXLE__CONTAINER_OF(e, axle_chan_rx, end);
    return 0;
}

void axle_chan_tx_close(axle_chan_tx *tx)
{
    chan *ch = tx->end.ch;
    if (tx->end.closed)
        return;
    tx->end.closed = true;
    wake_all(&ch->senders, &tx->end, -AXLE_ECLOSED);
    if (--ch->open_tx == 0)
        wake_all(&ch->receivers, NULL, -AXLE_EEOC);
    if (ch->open_tx == 0 && ch->open_rx == 0)
        chan_free(ch);
}

void axle_chan_rx_close(axle_chan_rx *rx)
{
    chan *ch = rx->end.ch;
    if (rx->end.closed)
        return;
    rx->end.closed = true;
    wake_all(&ch->receivers, &rx->end, -AXLE_ECLOSED);
    if (--ch->open_rx == 0) {
        wake_all(&ch->senders, NULL, -AXLE_EBROKEN);
        ch->head = ch->len = 0; /* nobody can receive them: drop */
    }
    if (ch->open_tx == 0 && ch->open_rx == 0)
        chan_free(ch);
}

/* send_nowait's body: 0, -EAGAIN when it would park, or an error. */
static int try_send(axle_chan_tx *tx, const void *item)
{
    chan *ch = tx->end.ch;
    if (tx->end.closed)
        return AXLE_SET_ERR(-AXLE_ECLOSED, "send on a closed handle");
    if (ch->open_rx == 0)
        return AXLE_SET_ERR(-AXLE_EBROKEN, "send: every receive handle is closed");
    axle__waiter *w = axle__waitq_pop(&ch->receivers);
    if (w) {
        memcpy(w->data, item, ch->item_size);
        axle__wake(w->task, 0);
        return 0;
    }
    if (ch->len < ch->capacity) {
        ring_push(ch, item);
        return 0;
    }
    return -EAGAIN;
}

int axle_chan_send_nowait(axle_chan_tx *tx, const void *item) { return try_send(tx, item); }

int axle_chan_send(axle_chan_tx *tx, const void *item)
{
    int rc = axle__checkpoint();
    if (rc < 0)
        return rc;
    rc = try_send(tx, item);
    if (rc != -EAGAIN)
        return rc;
    rc = park(&tx->end.ch->senders, &tx->end, (void *)item);
    if (rc == -AXLE_ECLOSED)
        return AXLE_SET_ERR(rc, "send: its handle was closed while it waited");
    if (rc == -AXLE_EBROKEN)
        return AXLE_SET_ERR(rc, "send: the last receive handle closed while it waited");
    return rc;
}

/* recv_nowait's body: 0, -EAGAIN when it would park, or an error. */
static int try_recv(axle_chan_rx *rx, void *item)
{
    chan *ch = rx->end.ch;
    if (rx->end.closed)
        return AXLE_SET_ERR(-AXLE_ECLOSED, "recv on a closed handle");
    if (ch->len > 0) {
        ring_pop(ch, item);
        axle__waiter *w = axle__waitq_pop(&ch->senders);
        if (w) {
            ring_push(ch, w->data);
            axle__wake(w->task, 0);
        }
        return 0;
    }
    axle__waiter *w = axle__waitq_pop(&ch->senders);
    if (w) {
        memcpy(item, w->data, ch->item_size);
        axle__wake(w->task, 0);
        return 0;
    }
    if (ch->open_tx == 0)
        return -AXLE_EEOC;
    return -EAGAIN;
}

int axle_chan_recv_nowait(axle_chan_rx *rx, void *item) { return try_recv(rx, item); }

int axle_chan_recv(axle_chan_rx *rx, void *item)
{
    int rc = axle__checkpoint();
    if (rc < 0)
        return rc;
    rc = try_recv(rx, item);
    if (rc != -EAGAIN)
        return rc;
    rc = park(&rx->end.ch->receivers, &rx->end, item);
    if (rc == -AXLE_ECLOSED)
        return AXLE_SET_ERR(rc, "recv: its handle was closed while it waited");
    return rc;
}

size_t axle_chan_rx_len(const axle_chan_rx *rx) { return rx->end.ch->len; }
