/*
 * core/actor/actor_int.h — the actor runtime's structures, shared by
 * runtime.c, portal.c and spawn/nursery.c. Private to libaxle.
 *
 * One actor per process (the global A). Every connection to another actor
 * is a peer with one message loop; a peer carries both directions of RPC:
 * the calls we made (struct call, by cid) and the tasks we run for it
 * (struct rpc, by cid).
 */
#ifndef AXLE_CORE_ACTOR_INT_H
#define AXLE_CORE_ACTOR_INT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "../sched.h"
#include "rerr.h"

#include <axle/actor.h>
#include <axle/context.h>
#include <axle/log.h>
#include <stdlib.h>

struct peer;

/* A message received for a call or a context, queued until its reader takes it. */
struct reply {
    struct reply *next;
    axle_msg *msg; /* owned */
};

static inline void reply_append(struct reply **head, struct reply **tail, struct reply *r)
{
    r->next = NULL;
    if (*tail)
        (*tail)->next = r;
    else
        *head = r;
    *tail = r;
}

static inline struct reply *reply_shift(struct reply **head, struct reply **tail)
{
    struct reply *r = *head;
    if (r && !(*head = r->next))
        *tail = NULL;
    return r;
}

/* A copy of the calling task's last error when it is code's, else NULL (owned). */
static inline struct axle_error *axle__error_clone_last(int code)
{
    const axle_error *e = axle_error_last();
    return e && axle_error_code(e) == code ? axle__error_clone(e) : NULL;
}

/* Put a copy of e (when there is one) on the calling task; returns code. */
static inline int axle__error_put_copy(const struct axle_error *e, int code)
{
    if (e)
        axle__error_put(axle__current(), axle__error_clone(e));
    return code;
}

/* Records between yields of a task that always finds data (a stream, a topic). */
#define AXLE__RUN_MAX 64

/*
 * Count one operation of such a task: a cancel is seen every time, a
 * yield comes every AXLE__RUN_MAX, so the actor's message loop (which
 * carries cancels) runs even when the ring never empties or fills.
 */
static inline int axle__fair(unsigned *run)
{
    if (++*run < AXLE__RUN_MAX)
        return axle__checkpoint();
    *run = 0;
    return axle_checkpoint();
}

/* Free every queued message and its link. */
static inline void reply_drop_all(struct reply **head, struct reply **tail)
{
    struct reply *r;
    while ((r = reply_shift(head, tail))) {
        axle_msg_free(r->msg);
        free(r);
    }
}

/* An outgoing request waiting for its replies. Lives on the caller's stack. */
struct call {
    uint64_t cid;
    struct peer *peer;
    struct reply *head, *tail; /* replies not yet taken */
    int gone;                  /* the peer went away: the error to return */
    axle_task *waiter;         /* parked in call_next, or NULL */
    struct axle_ctx *ctx;      /* the context this call carries, or NULL */
    struct call *prev, *next;  /* the peer's list */
};

/* A task we run for a peer's Start. */
struct rpc {
    uint64_t cid;
    struct peer *peer;
    axle_scope *scope;       /* the task's scope while it runs */
    bool has_requester;      /* a cancel_task named who asked: */
    axle_uid requester;      /*   that actor */
    struct axle_ctx *ctx;    /* the context it serves, or NULL */
    struct rpc *prev, *next; /* the peer's list */
};

/* A connection to another actor and its message loop. */
struct peer {
    axle_conn *conn;    /* owned by whoever runs the loop */
    axle_uid uid;       /* who it is */
    struct call *calls; /* our requests awaiting replies */
    struct rpc *rpcs;   /* tasks we run for it */
    size_t nrpcs;
    bool gone;                /* its loop has ended */
    bool dirty;               /* frames queued on conn for the flusher (holds a ref) */
    struct peer *dirty_next;  /* A.dirty */
    int refs;                 /* portals + the loop; freed at 0 */
    axle_event loop_done;     /* set when the loop ends */
    axle_event rpcs_done;     /* set whenever nrpcs drops to 0 */
    struct peer *prev, *next; /* A.peers */
};

/* A child being spawned, waiting for its connection. */
struct spawning {
    uint8_t uuid[16];      /* the child's uuid, matched against its hello */
    struct peer *peer;     /* set by the server handler */
    axle_event connected;  /* set with peer */
    struct spawning *next; /* A.spawning */
};

/* A registered actor (the root's registry). */
struct reg_entry {
    axle_uid uid;                /* who */
    char addr[AXLE_ADDR_STRLEN]; /* where it listens */
    struct peer *via;            /* the connection it registered on (NULL: the root) */
    struct reg_entry *next;
};

/* The actor of this process. */
struct actor {
    bool running; /* inside axle_root / a child's main */
    bool is_root;
    axle_uid uid;
    axle_actor_opts opts;  /* timing constants (defaults filled in) */
    char spawn_method[16]; /* default backend for children */
    char **mods;           /* exposed namespaces (owned) */
    size_t nmods;
    uint8_t cookie[AXLE_COOKIE_MAX]; /* the tree's secret */
    size_t cookie_len;
    axle_server *server;                /* listening for peers */
    char addr[AXLE_ADDR_STRLEN];        /* where children connect (first bound address) */
    axle_nursery *rt;                   /* runtime nursery: server, loops, RPC tasks */
    axle_scope *main_scope;             /* the root's main task scope (SIGINT, cancel) */
    struct peer *peers;                 /* every live peer */
    struct peer *parent;                /* the parent's peer, in a child */
    struct axle_portal *parent_portal;  /* a portal on it (owned), in a child */
    struct spawning *spawning;          /* children we wait to connect */
    uint64_t next_cid;                  /* the last cid (axle__cid_new), 0 before the first */
    bool cancel_called;                 /* a cancel request was accepted */
    axle_uid cancel_by;                 /* who asked */
    bool interrupted;                   /* SIGINT reached the root */
    char reg_addr[AXLE_ADDR_STRLEN];    /* the registrar's address (the root's) */
    char parent_addr[AXLE_ADDR_STRLEN]; /* the parent's address, in a child */
    struct peer *reg_peer;              /* our connection to the registrar, in a child */
    struct reg_entry *registry;         /* in the root: every registered actor */
    struct peer *dirty;                 /* peers with queued frames to flush */
    axle_event flush_ev;                /* set when a peer becomes dirty */
};

extern struct actor A;

/* rpc.c */
axle_rpc_fn axle__rpc_lookup(const char *name);
axle_ctx_fn axle__ctx_lookup(const char *name);
bool axle__ns_exposed(const char *ns, size_t ns_len, char *const *mods, size_t n);

/* runtime.c */
axle_conn_opts axle__actor_conn_opts(void);
struct peer *axle__peer_new(axle_conn *c);
void axle__peer_unref(struct peer *p);
/* Run p's message loop until the connection ends; then fail its calls. */
int axle__peer_loop(struct peer *p);
/* Send env to p (fails fast once the peer is gone). */
int axle__peer_send(struct peer *p, const Axle__Envelope *env);
/*
 * Queue env for p without writing it (a stream's Yield): the runtime's
 * flusher writes what is queued once the sender yields, so a burst of
 * small messages leaves in few writes; any later axle__peer_send on p
 * writes it first, in order.
 */
int axle__peer_send_buffered(struct peer *p, const Axle__Envelope *env);
/* The same from a cancelled task: shielded, bounded by cancel_ack_ns. */
int axle__send_shielded(struct peer *p, const Axle__Envelope *env);
/* Acknowledge a Start: its function's kind (AXLE__FUNC_TYPE__*). Returns 0 or -errno. */
int axle__send_start_ack(struct peer *p, uint64_t cid, int functype);
/* The Return for cid (shielded; a gone peer is logged). */
void axle__send_return(struct peer *p, uint64_t cid, const axle_buf *ret);
/* Reply to cid with code's error (the calling task's rich error when it is code's). */
void axle__send_error(struct peer *p, uint64_t cid, int code);
/* Apply a SpawnSpec-style allow-list (copies). */
int axle__actor_set_mods(const char *const *mods, size_t n);
Axle__Uid axle__uid_msg(const axle_uid *u);

/* Children's pids, for passing SIGTERM on (async-signal-safe table). */
void axle__track_child(pid_t pid);
void axle__untrack_child(pid_t pid);

/* registry.c */
/* Run p's loop in a task of the runtime nursery; the task closes p->conn. */
int axle__peer_start_loop(struct peer *p);
void axle__registry_add_self(void);
void axle__registry_handle(struct peer *p, const Axle__RegistrarRequest *q);
void axle__registry_drop_peer(struct peer *p);
void axle__registry_clear(void);
int axle__registry_register(void);
void axle__registry_leave(void);

/* portal.c */
/*
 * A new cid. A peer's loop tells replies to our calls from messages for
 * the contexts we serve for that peer by cid alone, so cids must not
 * collide across the two actors: each actor counts from a random point
 * (62 random bits of its uuid), as tractor uses uuids.
 */
uint64_t axle__cid_new(void);
void axle__call_open(struct call *k, struct peer *p);
void axle__call_close(struct call *k);
/* The next reply for k: 0 and *out (owned), or the peer's failure code. */
int axle__call_next(struct call *k, axle_msg **out);
/* Deliver a reply to the call with its cid on p; false when none waits. */
bool axle__call_deliver(struct peer *p, uint64_t cid, axle_msg *m);
/* Fail every call of p with code (the peer is gone). */
void axle__calls_fail(struct peer *p, int code);
/* Send Start and wait for its StartAck (or the Error that replaces it). */
int axle__call_start(struct call *k, const char *func, const void *args, size_t len);
/* The same, and the function's kind (AXLE__FUNC_TYPE__*) into *functype. */
int axle__call_start_kind(struct call *k, const char *func, const void *args, size_t len,
                          int *functype);
/* Ask p to cancel the task it runs for cid (shielded, bounded by timeout_ns). */
void axle__cancel_remote_task(struct peer *p, uint64_t cid, int64_t timeout_ns);
/* Wait for the Return (or Error) of a started call. */
int axle__call_result(struct call *k, axle_buf *ret);
/* Ask the actor at p to cancel itself; 1 when it acked within timeout. */
int axle__request_cancel(struct peer *p, int64_t timeout_ns);

/* A portal: a peer plus, for run_in_actor, the main call and its result. */
struct axle_portal {
    struct peer *peer;             /* referenced */
    axle_uid uid;                  /* the peer's identity */
    bool has_main;                 /* a run_in_actor portal */
    struct call main;              /* the main function's call, while pending */
    bool main_open;                /* main is open (not yet resolved) */
    bool result_done;              /* the result below is final */
    int result_rc;                 /* 0 or the error */
    axle_buf result;               /* the returned bytes */
    struct axle_error *result_err; /* the error's rich form (owned) */
    axle_event result_ready;       /* set once result_done */
    bool resolving;                /* a task is waiting on main now */
};

void axle__portal_init(axle_portal *pt, struct peer *p);
void axle__portal_fini(axle_portal *pt);
/* Resolve the main call's result (one task at a time; others wait). */
int axle__portal_resolve(axle_portal *pt);

/* cache.c */
/* A forked child forgets its parent's shared resources (fork story). */
void axle__resources_forget(void);

/* context.c */
/*
 * From the peer's loop, for every message of a context (either side):
 * record an Error at once, queue the message or apply the overrun rules.
 * Returns true when it took m (everything but a StartAck, which stays the
 * call's). Never blocks but to report an overrun to the sender.
 */
bool axle__ctx_on_msg(struct axle_ctx *c, axle_msg *m);
/* Set when a delivery filled a context's buffer (the peer's loop then yields). */
extern bool axle__ctx_full;
/* The peer is gone: wake the context's reader. */
void axle__ctx_wake(struct axle_ctx *c);
/* Child side: acknowledge r's Start as a context, run fn, send its end. Returns 0 or -errno. */
int axle__ctx_serve(struct rpc *r, axle_ctx_fn fn, const void *args, size_t len);

/* topic.c: write END to every topic this process still publishes. */
void axle__topics_end(void);

/* shmstream.c */
/* From the peer's loop: a StreamShm for no context: refuse an offer. */
void axle__shm_stream_unrouted(struct peer *p, const axle_msg *m);

#endif
