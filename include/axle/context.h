/*
 * axle/context.h — contexts: a task in another actor paired with a task
 * here, with a started handshake, a final result, cancellation from
 * either side and exact rules for what each side sees (tractor §4).
 *
 * The child side is a function exported by name:
 *
 *     static int feed(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret)
 *     {
 *         int rc = axle_ctx_started(ctx, "ready", 5);  // the parent's `first`
 *         ...
 *         return rc < 0 ? rc : axle_buf_set(ret, "done", 4);  // the result
 *     }
 *     AXLE_EXPORT_CTX("feeds.feed", feed)
 *
 * The parent side brackets a body, like a scope:
 *
 *     axle_ctx *ctx;
 *     axle_buf first = {0}, res = {0};
 *     int rc = axle_ctx_open(portal, "feeds.feed", NULL, 0, &ctx, &first);
 *     if (rc < 0)
 *         return rc;                 // nothing to close
 *     rc = body(ctx);                // may call axle_ctx_result / _cancel
 *     rc = axle_ctx_close(ctx, rc);  // the exit rules below; frees ctx
 *
 * How the child's function ends decides what the parent gets:
 * - it returns 0: a Return with *ret's bytes (the context's result);
 * - its task was cancelled (axle_ctx_cancel on either side, the parent's
 *   cancel of the whole actor) and it returned -ECANCELED: a
 *   -AXLE_ECTXCANCELLED whose canceller is the actor that asked (the child
 *   itself when it called axle_ctx_cancel; its message then says "itself");
 * - any other error: that error, boxed as a remote error.
 *
 * The exit rules of axle_ctx_close(ctx, rc) (tractor §4.6), rc being the
 * body's outcome:
 * - rc == 0: wait for the outcome. A Return gives 0. A cancel this side
 *   asked for (axle_ctx_cancel) and the child acknowledged is absorbed:
 *   0, cancel_acked is true, and the ContextCancelled is readable with
 *   axle_ctx_local_error. A ContextCancelled asked for by anyone else
 *   (another actor, or this actor's own axle_portal_cancel_actor without
 *   axle_ctx_cancel) is returned as -AXLE_ECTXCANCELLED with its canceller;
 *   any other remote error as itself.
 * - rc == -AXLE_ECTXCANCELLED: 0 when it is this side's own acknowledged
 *   cancel, else rc.
 * - any other rc (a local error, or -ECANCELED from an enclosing scope):
 *   the child is cancelled (axle_ctx_cancel, tolerant of a dead peer) and
 *   rc comes back with its own rich error, never replaced by the
 *   ContextCancelled that follows nor by teardown's -ECANCELED.
 *
 * A remote error is recorded the moment it arrives, before anything reads
 * it: the body's scope (opened by axle_ctx_open, closed by
 * axle_ctx_close) is cancelled at once, so a body blocked anywhere
 * returns, unless this side asked for the cancel itself or the body is
 * blocked reading this context (then the read returns the error).
 *
 * Threading: one actor, one thread; a context belongs to the task that
 * opened it (parent) or runs it (child). Its body's scope nests like any
 * scope: contexts one task opens close in the reverse order.
 */
#ifndef AXLE_CONTEXT_H
#define AXLE_CONTEXT_H

#include <axle/actor.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct axle_ctx axle_ctx;

/*
 * A context function, the child side. Runs in an RPC task of the child's
 * runtime; ctx is valid until it returns.
 *   args, len: the parent's arguments (borrowed).
 *   ret: the result's bytes on success (starts empty; the runtime frees it).
 * Returns: 0, or a negative code for the parent (see above).
 */
typedef int (*axle_ctx_fn)(axle_ctx *ctx, const void *args, size_t len, axle_buf *ret);

/*
 * axle_ctx_register — export fn as the context function name ("ns.func";
 * one table with axle_rpc_register, so names are unique across both).
 * Returns: 0.  Errors: -EINVAL (no namespace, or the name is taken);
 *   -ENOMEM.  Callable anywhere.
 */
AXLE_API int axle_ctx_register(const char *name, axle_ctx_fn fn);

/* Export a context function at program load: AXLE_EXPORT_CTX("feeds.feed", feed); */
#define AXLE_EXPORT_CTX(name, fn)                                                         \
    __attribute__((constructor)) static void AXLE__CAT(axle__export_ctx_, __LINE__)(void) \
    {                                                                                     \
        axle_ctx_register((name), (fn));                                                  \
    }

/*
 * axle_ctx_open — start func as a context in the actor behind pt and wait
 * until it calls axle_ctx_started; then open the body's cancel scope on
 * the calling task.
 *   args, len: the arguments (copied out before returning).
 *   out: the context, owned by the caller until axle_ctx_close.
 *   first: if not NULL, receives the started value.
 * Returns: 0.
 * Errors: -EINVAL (func not "ns.func"; pt is this actor: a context into
 *   one's own actor); -AXLE_EREMOTE boxing -AXLE_ENOTEXPOSED, -ENOSYS or
 *   the function's own error when it fails before started;
 *   -AXLE_ECTXCANCELLED when it is cancelled before started; -EPROTO when
 *   func is not a context function, or it returns without started;
 *   -AXLE_ETRANSPORT when the actor goes away; -ECANCELED (the child is
 *   cancelled). On error nothing is left to close.
 * Checkpoint: yes.
 */
AXLE_API int axle_ctx_open(axle_portal *pt, const char *func, const void *args, size_t len,
                           axle_ctx **out, axle_buf *first);

/*
 * axle_ctx_close — apply the exit rules (above) to the body's outcome rc,
 * close the body's scope and free ctx.
 * Returns: the context's outcome (see above).
 * Checkpoint: yes when rc == 0 (it waits for the child's outcome);
 *   teardown itself is shielded.
 */
AXLE_API int axle_ctx_close(axle_ctx *ctx, int rc);

/*
 * axle_ctx_started — child side: hand the parent its first value (once,
 * before anything else the parent waits for).
 * Returns: 0.  Errors: -EINVAL when called twice or on the parent side
 *   (the message says which); -AXLE_ETRANSPORT; -ECANCELED.
 * Checkpoint: yes (the send; a cancel before it leaves Started unsent).
 */
AXLE_API int axle_ctx_started(axle_ctx *ctx, const void *val, size_t len);

/*
 * axle_ctx_result — parent side: wait for the child's outcome.
 *   ret: receives the returned bytes (may be NULL).
 * Returns: 0 (a Return); AXLE_CTX_CANCEL_ACKED (1) when the outcome is
 *   this side's own cancel, acknowledged: not an error (the
 *   ContextCancelled is axle_ctx_local_error's).
 * Errors: the child's error (-AXLE_EREMOTE, -AXLE_ECTXCANCELLED with its
 *   canceller, ...), the same on every call; -EINVAL on the child side;
 *   -AXLE_ETRANSPORT; -ECANCELED (the outcome is not consumed).
 * Checkpoint: yes.
 */
#define AXLE_CTX_CANCEL_ACKED 1
AXLE_API int axle_ctx_result(axle_ctx *ctx, axle_buf *ret);

/*
 * axle_ctx_cancel — parent side: ask the child to cancel its task and
 * wait, shielded and at most ctx_cancel_ns, until its end (the
 * ContextCancelled, or a result that crossed the request) has arrived,
 * without consuming it; the body's own scope is not cancelled: the child's
 * ContextCancelled comes back as the outcome.
 * Child side: cancel the function's own task now; the parent gets a
 * ContextCancelled whose canceller is the child.
 * Returns: 0 (also when the request could not be sent or the wait ran
 *   out: the outcome says what happened).  Idempotent.
 * Checkpoint: no (the request and the wait are shielded and bounded).
 */
AXLE_API int axle_ctx_cancel(axle_ctx *ctx);

/* ---- several at once (tractor §9 gather_contexts) ----------------------------- */

typedef struct axle_ctx_spec {
    axle_portal *portal;
    const char *func;
    const void *args;
    size_t len;
} axle_ctx_spec;

/*
 * axle_ctx_gather — open n contexts concurrently (each as axle_ctx_open),
 * all or none.
 *   ctxs: receives the n contexts, in input order.
 *   firsts: if not NULL, n buffers for the started values, in input order.
 * Returns: 0; the bodies' scopes are opened in input order, so close them
 *   in reverse (axle_ctx_close_all does).
 * Errors: -EINVAL when n is 0; otherwise the error of the first context
 *   (in input order) that failed to open, the others being cancelled and
 *   freed (ctxs[i] all NULL).
 * Checkpoint: yes.
 */
AXLE_API int axle_ctx_gather(const axle_ctx_spec *specs, size_t n, axle_ctx **ctxs,
                             axle_buf *firsts);

/*
 * axle_ctx_close_all — axle_ctx_close each of ctxs (n, in reverse order)
 * with the body's rc; sets every ctxs[i] to NULL.
 * Returns: rc when it is an error, else the first error a close returned
 *   (the others are logged), else 0.
 */
AXLE_API int axle_ctx_close_all(axle_ctx **ctxs, size_t n, int rc);

/* ---- streams (tractor §5) ------------------------------------------------------ */

/*
 * A context's two-way stream: one per context, opened on each side that
 * uses it, one-shot. Messages are opaque bytes, in order.
 *
 * Receive buffer and overruns: each side keeps what its peer sent for the
 * context in a buffer of msg_buffer_size messages (default 64), counted
 * from the context's start (a peer may send before this side opens its
 * stream). When it is full:
 * - by default the message is dropped and the sender gets a StreamOverrun
 *   for its context (once: later drops are counted and logged at the
 *   context's end): -AXLE_EOVERRUN, whose sender names it, recorded like
 *   any remote error (its scope is cancelled, its next send returns it);
 * - with allow_overruns, up to 616 more wait in an overflow queue and move
 *   into the buffer as this side reads (nothing lost); past that, messages
 *   are dropped with a log line; at the context's end the overflow is
 *   discarded with a warning.
 * Either side may allow overruns for what it receives.
 *
 * Data plane. Each side chooses how its own sends travel, when it opens
 * its stream (axle_stream_opts.transport):
 * - the channel: one Yield frame per message, as above;
 * - shared memory: a single-producer ring (<axle/shm.h>) this side
 *   creates and the peer's runtime attaches as soon as the offer arrives
 *   (opening waits that one round trip; the segment's name is unlinked once
 *   both have it mapped, so nothing stays in /dev/shm even after SIGKILL).
 *   Only the data moves there: Stop, Return, Error and cancels stay on the
 *   channel, and a receiver empties the ring before it acts on any of them,
 *   so no Stop overtakes data. Every other rule of this header holds.
 *   Overruns are the ring's and the writer's (shm_overrun): ERROR (the
 *   default, the reference's: the send fails with -AXLE_EOVERRUN and
 *   nothing is sent), DRAIN (allow_overruns' counterpart: the record waits
 *   in a local queue, bounded at 16 MiB, then -AXLE_EOVERRUN; closing
 *   pushes what is queued, waiting up to a second), or BLOCK (the send
 *   waits for room, cancellably). A message longer than the ring's largest
 *   record (shm_bytes - 8) fails with -EMSGSIZE. msg_buffer_size and
 *   allow_overruns then only govern what still comes over the channel.
 *   Cost: a ring per direction (64 KiB of /dev/shm each by default) and
 *   the offer's round trip at open: a one-message stream cost about
 *   1.6x the same on the channel in stream.open; a stream that carries
 *   more than a few messages gains it back (stream.thr.shm).
 * AUTO uses shared memory when the peer's channel is a Unix socket or a
 * TCP connection to this host and the peer agrees it runs on the same host
 * (boot id); otherwise the channel. The environment variable
 * AXLE_STREAM_TRANSPORT (auto, shm or channel) replaces AUTO for a whole
 * process. axle_stream_transport_of says what a side got.
 */
typedef struct axle_stream axle_stream;

typedef enum axle_stream_transport {
    AXLE_STREAM_AUTO = 0,    /* shared memory on this host, else the channel */
    AXLE_STREAM_CHANNEL = 1, /* always the channel */
    AXLE_STREAM_SHM = 2,     /* shared memory, or fail (-EXDEV: another host) */
} axle_stream_transport;

/* The writer's overrun policy on a shared-memory data plane. */
typedef enum axle_stream_overrun {
    AXLE_STREAM_OVERRUN_DEFAULT = 0, /* ERROR; DRAIN when allow_overruns is set */
    AXLE_STREAM_OVERRUN_ERROR = 1,
    AXLE_STREAM_OVERRUN_DRAIN = 2,
    AXLE_STREAM_OVERRUN_BLOCK = 3,
} axle_stream_overrun;

typedef struct axle_stream_opts {
    size_t msg_buffer_size;          /* 0: keep the context's (64 by default) */
    bool allow_overruns;             /* keep an overflow instead of reporting an overrun */
    axle_stream_transport transport; /* how this side's sends travel */
    size_t shm_bytes;                /* the ring's data bytes (0: 64 KiB; a power of two) */
    axle_stream_overrun shm_overrun; /* see "Data plane" */
} axle_stream_opts;

/*
 * axle_ctx_open_stream — this side's end of the context's stream.
 *   o: NULL for the defaults.
 *   out: the stream, owned by ctx (valid until axle_stream_close and the
 *     context's end).
 * Returns: 0.
 * Errors: -EINVAL: opened twice (a stream is one-shot), before
 *   axle_ctx_started on the child side, or after axle_ctx_cancel when no
 *   ContextCancelled has arrived yet; after axle_ctx_cancel, the
 *   ContextCancelled that did arrive (-AXLE_ECTXCANCELLED). With
 *   AXLE_STREAM_SHM: -EXDEV the peer is on another host; the errors of
 *   axle_ring_create (-ENOSPC ...); the peer's refusal; -ECANCELED.
 *   AUTO falls back to the channel instead (logged at runtime level).
 * Checkpoint: only while a shared-memory offer waits for its answer.
 */
AXLE_API int axle_ctx_open_stream(axle_ctx *ctx, const axle_stream_opts *o, axle_stream **out);

/*
 * axle_stream_send — send one message (a Yield) to the peer.
 * Returns: 0.
 * Errors: the context's recorded remote error, if any (a StreamOverrun
 *   the peer reported, its ContextCancelled, ...); -AXLE_ECLOSED after
 *   this side's axle_stream_close; -AXLE_ETRANSPORT; -ECANCELED. Sending
 *   after the peer closed its side is allowed (the peer drops it). Over
 *   shared memory also: -AXLE_EOVERRUN from the ring (ERROR, or DRAIN past
 *   its bound; the error's sender is this actor); -EMSGSIZE longer than
 *   the ring's largest record.
 * Checkpoint: yes (and every 64 messages over shared memory it yields, so
 *   the actor's message loop runs even when the ring always has room).
 */
AXLE_API int axle_stream_send(axle_stream *s, const void *data, size_t len);

/*
 * axle_stream_recv — the next message into out (may be NULL to skip it).
 * Returns: 0.
 * Errors: -AXLE_EEOC once the peer closed its side (a Stop, or the child's
 *   Return, which is then the context's result), and on every later call;
 *   the peer's error, including a ContextCancelled this side asked for
 *   (not absorbed here), on this and every later call; -AXLE_ECLOSED after
 *   axle_stream_close; -AXLE_ETRANSPORT; -ECANCELED.
 * Checkpoint: yes (over shared memory it also yields every 64 messages).
 */
AXLE_API int axle_stream_recv(axle_stream *s, axle_buf *out);

/* The same without waiting: -EAGAIN when nothing is queued. Checkpoint: no. */
AXLE_API int axle_stream_recv_nowait(axle_stream *s, axle_buf *out);

/*
 * axle_stream_close — close this side: drop what is queued (a Return
 * among it is kept as the result) without returning any error, then send
 * Stop (shielded; a dead peer is tolerated). The context goes on: the
 * child may still return. Idempotent; axle_ctx_close and a context
 * function's return close an open stream themselves.
 * Returns: 0.  Checkpoint: no (the Stop is shielded and bounded).
 */
AXLE_API int axle_stream_close(axle_stream *s);

/* How this side's sends travel: AXLE_STREAM_SHM or AXLE_STREAM_CHANNEL
 * (AXLE_STREAM_AUTO before the stream is opened). */
AXLE_API axle_stream_transport axle_stream_transport_of(const axle_stream *s);

/* ---- broadcast: one stream, many local tasks (tractor §9) ---------------------- */

/*
 * Subscriptions share one stream among the tasks of this actor: every
 * subscriber gets the whole sequence from the moment it subscribed. The
 * last max_buffer values are kept in one buffer with a position per
 * subscriber; whichever subscriber is caught up and finds nobody reading
 * the stream reads it for everyone (if that task is cancelled, the next
 * one takes over). A subscriber that falls more than max_buffer behind
 * gets -AXLE_ELAGGED once with the count it missed and resumes at the
 * oldest value kept (or skips silently with no_raise_on_lag). After the
 * first subscription, axle_stream_recv is one more subscriber (from that
 * moment on). The stream's end (-AXLE_EEOC, an error) reaches every
 * subscriber once it has read everything before it.
 *
 * Lifetime: a subscription is the caller's until axle_sub_close; it stops
 * working (-AXLE_ECLOSED) when its context ends, and a subscriber waiting
 * for a value then wakes with -AXLE_ECLOSED. The task reading the stream
 * for the others must end before the context does (as any task reading
 * the stream): run subscribers inside the context's body.
 */
typedef struct axle_sub axle_sub;

typedef struct axle_sub_opts {
    size_t max_buffer;    /* values kept for slower subscribers; 0: 64. Set by the first
                             subscription of a stream */
    bool no_raise_on_lag; /* skip (with a log line) instead of -AXLE_ELAGGED */
} axle_sub_opts;

/*
 * axle_stream_subscribe — a new subscriber of s, reading from now on.
 * Returns: 0.  Errors: -AXLE_ECLOSED (s is closed); -ENOMEM.
 * Checkpoint: no.
 */
AXLE_API int axle_stream_subscribe(axle_stream *s, const axle_sub_opts *o, axle_sub **out);

/*
 * axle_sub_recv — the subscriber's next value into out (may be NULL).
 *   missed: if not NULL, receives the count lost on -AXLE_ELAGGED (else 0).
 * Returns: 0.
 * Errors: -AXLE_ELAGGED (once per overtaking; the next call returns the
 *   oldest value kept); the stream's end or error; -AXLE_ECLOSED (the
 *   subscription or its context is closed); -ECANCELED.
 * Checkpoint: yes.
 */
AXLE_API int axle_sub_recv(axle_sub *sub, axle_buf *out, uint64_t *missed);

/* Send through the subscription's stream (axle_stream_send's rules). */
AXLE_API int axle_sub_send(axle_sub *sub, const void *data, size_t len);

/* Close one subscription (the others and the stream go on); frees sub. Returns 0. */
AXLE_API int axle_sub_close(axle_sub *sub);

/* ---- shared resources by key (tractor §9 maybe_open_context) ------------------ */

/*
 * A resource shared by the tasks of one actor under a key: the first user
 * enters it (ops->enter, run in a service task of the actor's runtime, so
 * its life is not tied to that user's task), later users get the same
 * value with a cache hit, and the last user out has ops->exit run and
 * waits for it (shielded), getting its error if it fails. Opens of one key
 * queue in order, so a resource is entered once; an open while the last
 * user's close is tearing it down waits, then enters a fresh one. A user
 * cancelled while the resource is being entered leaves nothing behind: with
 * no user left once it is entered, it is exited at once. enter and exit run
 * in the same task, so scopes enter leaves open (a context's, say) are
 * exit's to close; exit is shielded from cancellation. When the actor ends,
 * resources still held are exited (their users' closes then return at once
 * with exit's outcome).
 */
typedef struct axle_resource axle_resource;

typedef struct axle_resource_ops {
    /* Enter: 0 and *value, or a negative code (every user waiting gets it). */
    int (*enter)(void *arg, void **value);
    /* Exit (may be NULL): 0 or a negative code for the last user. */
    int (*exit)(void *arg, void *value);
} axle_resource_ops;

/*
 * axle_resource_open — the resource under key: *value, and *cache_hit
 * (may be NULL) true when it was already entered by another user.
 *   ops, arg: used when this open enters it (borrowed until its exit).
 *   out: this user's handle, for axle_resource_close.
 * Returns: 0.
 * Errors: ops->enter's error; -EINVAL (no key or enter); -ENOTCONN outside
 *   an actor; -ENOMEM; -ECANCELED.
 * Checkpoint: yes.
 */
AXLE_API int axle_resource_open(const char *key, const axle_resource_ops *ops, void *arg,
                                axle_resource **out, void **value, bool *cache_hit);

/*
 * axle_resource_close — this user is done (frees h). The last user waits,
 * shielded, for ops->exit.
 * Returns: 0, or for the last user ops->exit's error.
 * Checkpoint: the last user waits; others return at once.
 */
AXLE_API int axle_resource_close(axle_resource *h);

/*
 * axle__ctx_break_transport — fault injection for tests: shut down the
 * connection ctx runs over (both directions), as a dead transport would;
 * both actors' loops see it end. Not for production code.
 */
AXLE_API void axle__ctx_break_transport(axle_ctx *ctx);

/*
 * axle__stream_set_host_id — for tests: make this actor claim to run on
 * another host (id: any string; NULL or "" goes back to the real one), so
 * that the peers' shm offers are refused as from another host (-EXDEV)
 * and its own are refused by them. Not for production code.
 */
AXLE_API void axle__stream_set_host_id(const char *id);

/* ---- state (tractor §4.2), readable on either side at any time ---------------- */
AXLE_API bool axle_ctx_is_parent(const axle_ctx *ctx);
AXLE_API const axle_uid *axle_ctx_peer(const axle_ctx *ctx);
/* This side called axle_ctx_cancel (or the parent's body failed, which does). */
AXLE_API bool axle_ctx_cancel_called(const axle_ctx *ctx);
/* This side asked for the cancel and the peer's ContextCancelled names us. */
AXLE_API bool axle_ctx_cancel_acked(const axle_ctx *ctx);
/*
 * The body's scope was cancelled by what the peer sent (a remote error
 * arriving while the body was not reading this context), so the body's
 * -ECANCELED is absorbed at close and the remote error returned instead.
 * Parent side; false when the error reached the body through a read.
 */
AXLE_API bool axle_ctx_cancelled_caught(const axle_ctx *ctx);
/*
 * Who is responsible for the cancellation, or NULL: this actor for its own
 * acknowledged cancel; for a ContextCancelled asked for by someone else,
 * the peer (the actor that was cancelled; the error's own canceller names
 * the asker); for any other remote error, its source. Child side: the
 * actor that asked the function to cancel.
 */
AXLE_API const axle_uid *axle_ctx_canceller(const axle_ctx *ctx);
/* The error received from the peer, or NULL. */
AXLE_API const axle_error *axle_ctx_remote_error(const axle_ctx *ctx);
/* The error of this side: the body's, or the absorbed self-cancel; or NULL. */
AXLE_API const axle_error *axle_ctx_local_error(const axle_ctx *ctx);
/* The outcome so far: 0 once a Return arrived, an error code once one is known, else 1. */
AXLE_API int axle_ctx_outcome(const axle_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif
