/*
 * core/actor/ctx_int.h — a context's and its stream's structures, shared
 * by context.c (the semantics) and shmstream.c (the shared-memory data
 * plane of a stream). Private to libaxle.
 */
#ifndef AXLE_CORE_CTX_INT_H
#define AXLE_CORE_CTX_INT_H

#include "actor_int.h"

#include <axle/shm.h>

#define BUFFER_DEFAULT 64 /* a context's receive buffer, in messages (tractor's 2^6) */
#define OVERFLOW_MAX 616  /* allow_overruns: messages kept beyond the buffer (tractor's) */

/* A context's stream (one per context, one-shot). */
struct axle_stream {
    struct axle_ctx *ctx;
    bool opened;      /* axle_ctx_open_stream ran */
    bool closed;      /* this side closed it: Stop sent */
    bool eoc;         /* the peer's Stop (or Return) arrived and was read */
    bool failed;      /* an Error was read: every receive returns it */
    struct bcast *bc; /* its subscriptions, once axle_stream_subscribe ran */
};

/* A subscription: a position in the shared buffer. */
struct axle_sub {
    struct bcast *bc;
    uint64_t pos;      /* the sequence number it reads next */
    bool raise_on_lag; /* else lagging is logged and skipped */
    bool closed;
    struct axle_sub *next; /* bc->subs */
};

/*
 * A stream shared by local tasks (tractor §9 broadcast receiver): the last
 * cap values in a ring, by sequence number; whichever subscriber is caught
 * up and finds nobody reading becomes the one reader of the stream.
 */
struct bcast {
    axle_stream *stream;
    axle_buf *ring; /* cap slots; value seq lives in ring[seq % cap] */
    size_t cap;
    uint64_t next_seq;  /* the sequence number of the next value */
    bool reading;       /* a subscriber is reading the stream now */
    axle_event changed; /* set (then re-armed) whenever the above changes */
    int end_rc;         /* the stream's end (-AXLE_EEOC, an error), or 0 */
    struct axle_error *end_err;
    struct axle_sub *subs; /* open subscriptions */
    struct axle_sub own;   /* axle_stream_recv's, once subscribed */
};

/* A context's shared-memory data plane (shmstream.c); all zero when unused. */
struct shm_plane {
    axle_stream_transport used; /* how this side's sends travel, once opened */
    axle_ring *out;             /* our sends: the ring we created (producer) */
    axle_ring *in;              /* the peer's sends: its ring (consumer) */
    bool in_dead;               /* the writer died (or its ring is corrupt): no more data */
    bool peer_stopped;          /* its Stop, Return or Error came: our sends are dropped */
    bool offering, answered;    /* our offer waits / was answered: */
    int answer;                 /*   0 or the refusal's code */
    char why[200];              /*   and its reason */
    axle_scope *nudge_rx;       /* a parked receive, cancelled to make it look again */
    axle_scope *nudge_tx;       /* a parked send or flush, likewise */
    unsigned rx_run, tx_run;    /* ring operations since the last yield */
    bool draining;              /* a drainer task pushes DRAIN's queue: */
    axle_scope *drainer;        /*   its scope, to cancel it */
    bool drain_stop;            /*   stopped before it ran: it must not start waiting */
    axle_event drained;         /*   set when it has ended */
};

struct axle_ctx {
    bool parent;       /* which side this is */
    struct peer *peer; /* referenced on the parent side */
    axle_uid peer_uid;
    uint64_t cid;

    /* parent side */
    struct call k;    /* the call: cid, reply queue */
    axle_scope scope; /* the body's, between open and close */
    bool scope_open;
    bool acked;                  /* the StartAck was read: messages queue here */
    bool reading;                /* the owner is blocked reading this context */
    bool done;                   /* the outcome below is final */
    int done_rc;                 /* 0 (result), AXLE_CTX_CANCEL_ACKED, or the error */
    struct axle_error *done_err; /* the error's rich form for a non-remote failure */
    axle_buf result;             /* the returned bytes */

    /* child side */
    struct rpc *rpc; /* the RPC task running the function */
    bool started;

    /* both: what the peer sent for this context, in order (§5 buffer) */
    struct reply *head, *tail;   /* queued */
    size_t nyields;              /* Yields among them: at most cap */
    struct reply *ohead, *otail; /* allow_overruns: the overflow, FIFO */
    size_t noverflow;            /* at most OVERFLOW_MAX */
    size_t cap;                  /* the receive buffer: msg_buffer_size */
    size_t dropped;              /* Yields dropped by overruns (the first was reported) */
    int failed;                  /* -ENOMEM: a message could not be queued; every read fails */
    bool allow_overruns;
    axle_task *waiter;         /* the owner, parked in ctx_next */
    axle_event ended;          /* a Return or Error arrived, or the peer is gone */
    struct axle_stream stream; /* the context's one stream */
    struct shm_plane shm;      /* its data over shared memory, when chosen */

    /* both */
    bool cancel_called, cancel_acked, cancelled_caught;
    bool has_canceller;
    axle_uid canceller;
    struct axle_error *remote_err; /* owned */
    int remote_rc;
    struct axle_error *local_err; /* owned */
    int local_rc;
};

/* ---- shmstream.c ---- */

/* This side opens its stream: choose how its sends travel; for shared
 * memory create and offer the ring and wait for the answer. 0 or -errno. */
int axle__shm_stream_open(struct axle_ctx *c, const axle_stream_opts *o);
/* From the peer's loop: a StreamShm (an offer, or the answer to ours). Takes nothing. */
bool axle__shm_stream_on_msg(struct axle_ctx *c, const axle_msg *m);
/* Something arrived for c: a parked ring wait looks again. */
void axle__shm_stream_nudge(struct axle_ctx *c);
/* One message into the ring (c->shm.out). 0 or -errno. Checkpoint. */
int axle__shm_stream_send(struct axle_ctx *c, const void *data, size_t len);
/* Push DRAIN's queue before Stop (bounded; what is left is logged). */
void axle__shm_stream_flush(struct axle_ctx *c);
/* The next record of c->shm.in into out: 0, -EAGAIN (none), or an error. */
int axle__shm_stream_take(struct axle_ctx *c, axle_buf *out, bool nowait);
/* Park until the ring has a record or something is queued for c:
 * 0 (look again), -ECANCELED or an error. */
int axle__shm_stream_wait(struct axle_ctx *c);
/* Close both rings (the context ends). */
void axle__shm_stream_free(struct axle_ctx *c);

#endif
