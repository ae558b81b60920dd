/*
 * axle/actor.h — actors: one process each, supervised like a nursery.
 *
 * A program becomes the root actor with axle_root (or axle_main, which also
 * lets the exec spawn backend re-enter the program as a child). Inside any
 * actor, an actor nursery starts children: daemons (axle_start_actor) that
 * serve RPC until cancelled, and one-shot actors (axle_run_in_actor) that
 * run one function whose result the nursery collects. Actors call each
 * other's exported functions through portals; an error in a remote
 * function comes back as -AXLE_EREMOTE with the source actor, types,
 * traceback and relay path readable from axle_error_last().
 *
 * The exit rules of an actor nursery (tractor §1.4):
 *   - closing waits for every child: daemons keep it open until cancelled;
 *     one-shot actors are awaited for their result, then cancelled;
 *   - an error in the body, or a child dying unexpectedly, cancels every
 *     child; so do errors collected from one-shot results, once every
 *     one-shot child has finished;
 *   - one error comes back as itself, several as -AXLE_EGROUP;
 *   - cancelling a child: a cancel request, no ack within cancel_ack_ns ->
 *     SIGTERM, still alive after hard_kill_ns -> SIGKILL; the whole phase
 *     bounded by cancel_phase_ns. After close no child is left.
 *
 * Processes: every child actor is titled axle[<name>@<pid>] (comm and the
 * argv area, so ps shows the tree; the root sets comm only: its argv is the
 * program's), dies with its parent (PR_SET_PDEATHSIG, and it cancels
 * itself when its parent's connection ends), ignores SIGINT (the root
 * decides), and on SIGTERM passes it on to its own children and removes its
 * socket file before dying. A child inherits no fd but stdio.
 *
 * All calls must be made from a task inside axle_root / axle_main.
 */
#ifndef AXLE_ACTOR_H
#define AXLE_ACTOR_H

#include <axle/ipc.h>
#include <axle/task.h>
#include <axle/uid.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------------------------- */
/* Buffers and exported functions                                           */
/* ----------------------------------------------------------------------- */

/* A growable byte buffer (arguments and results). Zero-initialise it. */
typedef struct axle_buf {
    uint8_t *data; /* owned */
    size_t len;    /* bytes in use */
    size_t cap;    /* bytes allocated */
} axle_buf;

/* Replace b's contents with len bytes. Returns 0 or -ENOMEM. */
AXLE_API int axle_buf_set(axle_buf *b, const void *data, size_t len);
/* Free b's memory and zero it. */
AXLE_API void axle_buf_free(axle_buf *b);

/*
 * An exported function: args (len bytes) are borrowed for the call; write
 * the result into ret (axle_buf_set). Return 0, or a negative code: its
 * rich error (AXLE_SET_ERR) travels to the caller as a remote error.
 * It runs as a task of the callee actor: it may block, and it is cancelled
 * when the caller cancels or the actor is cancelled.
 */
typedef int (*axle_rpc_fn)(const void *args, size_t len, axle_buf *ret);

/*
 * axle_rpc_register — export fn as name ("ns.func": the namespace is
 * everything before the last dot). Usually through AXLE_EXPORT, which
 * registers at program load, before main.
 * Returns: 0.  Errors: -EINVAL (no namespace, or the name is taken);
 *   -ENOMEM.  Callable anywhere.
 */
AXLE_API int axle_rpc_register(const char *name, axle_rpc_fn fn);

#define AXLE__CAT2(a, b) a##b
#define AXLE__CAT(a, b) AXLE__CAT2(a, b)
/* Export fn as name at program load: AXLE_EXPORT("math.add", add); */
#define AXLE_EXPORT(name, fn)                                                         \
    __attribute__((constructor)) static void AXLE__CAT(axle__export_, __LINE__)(void) \
    {                                                                                 \
        axle_rpc_register((name), (fn));                                              \
    }

typedef struct axle_actor_nursery axle_actor_nursery;
typedef struct axle_portal axle_portal;

/* ----------------------------------------------------------------------- */
/* The root actor                                                           */
/* ----------------------------------------------------------------------- */

typedef struct axle_actor_opts {
    const char *name;                  /* default "root" */
    const char *const *enable_modules; /* namespaces others may call here */
    size_t n_enable_modules;
    const char *const *bind_addrs; /* multiaddrs to listen on; default: */
    size_t n_bind_addrs;           /*   a Unix socket <name>@<pid>.sock */
    const char *loglevel;          /* overridden by $AXLE_LOGLEVEL */
    const char *spawn_method;      /* "fork" (default), "exec", "forkserver";
                                      overridden by $AXLE_SPAWN_METHOD */
    bool debug_mode;               /* recorded and passed to children */
    int64_t cancel_ack_ns;         /* wait for a cancel ack: default 0.5 s */
    int64_t hard_kill_ns;          /* SIGTERM to SIGKILL: default 1.6 s */
    int64_t cancel_phase_ns;       /* whole cancel phase: default 3 s */
    int64_t peer_drain_ns;         /* teardown waits for peers: default 3 s */
    int64_t ctx_cancel_ns;         /* axle_ctx_cancel's request: default 0.616 s */
} axle_actor_opts;

#define AXLE_CANCEL_ACK_NS_DEFAULT (500 * 1000000LL)
#define AXLE_HARD_KILL_NS_DEFAULT (1600 * 1000000LL)
#define AXLE_CANCEL_PHASE_NS_DEFAULT (3000 * 1000000LL)
#define AXLE_PEER_DRAIN_NS_DEFAULT (3000 * 1000000LL)
#define AXLE_CTX_CANCEL_NS_DEFAULT (616 * 1000000LL)

/*
 * axle_root — make this process the root actor and run main(arg) as its
 * main task; return once main and everything it started have ended. A
 * SIGINT to the root cancels main (and so the whole tree) and axle_root
 * then returns -EINTR.
 *   opts: borrowed for the call; may be NULL.
 * Returns: main's result.
 * Errors: -EBUSY (an actor already runs in this process: a second root is
 *   refused); -EINTR (SIGINT); the server's bind errors; -AXLE_ENOURING.
 */
AXLE_API int axle_root(const axle_actor_opts *opts, axle_fn main, void *arg);

/*
 * axle_main — axle_root for programs that may also be started as a child
 * by the exec backend: call it from main() with argc/argv. When argv holds
 * the hidden child arguments, this process runs as that child actor and
 * axle_main exits the process (it does not return); otherwise it is
 * axle_root.
 */
AXLE_API int axle_main(int argc, char **argv, const axle_actor_opts *opts, axle_fn main, void *arg);

/* The calling actor's identity (borrowed). NULL outside an actor. */
AXLE_API const axle_uid *axle_actor_uid(void);

/*
 * axle_actor_parent — a portal to the actor that spawned this one (for
 * calling back into it), borrowed for the actor's life; NULL in the root.
 */
AXLE_API axle_portal *axle_actor_parent(void);

/*
 * axle_actor_atexit — push fn(arg) on the actor's lifetime stack: run, last
 * pushed first, when the actor ends (normally, by error or by cancel),
 * before its process exits. For cleanups such as unlinking shm segments.
 * Returns: 0 or -ENOMEM.
 */
AXLE_API int axle_actor_atexit(void (*fn)(void *arg), void *arg);

/* ----------------------------------------------------------------------- */
/* Actor nurseries and portals                                              */
/* ----------------------------------------------------------------------- */

typedef struct axle_spawn_opts {
    const char *name;                  /* required */
    const char *const *enable_modules; /* namespaces the child exposes */
    size_t n_enable_modules;
    const char *loglevel;          /* NULL: the parent's level */
    const char *spawn_method;      /* NULL: the root's method */
    const char *exe;               /* exec: another program built with axle_main */
    bool debug_mode;               /* NULL-like false: the parent's */
    const char *const *bind_addrs; /* multiaddrs the child listens on (up to 8); */
    size_t n_bind_addrs;           /*   default: its Unix socket <name>@<pid>.sock.
                                      Others reach it there (axle_find_actor); its
                                      link to the parent is not affected */
} axle_spawn_opts;

/*
 * axle_actor_nursery_open — open an actor nursery in the calling task.
 * Returns: 0.  Errors: -ENOMEM; -ENOTCONN outside an actor.
 * Checkpoint: no.
 */
AXLE_API int axle_actor_nursery_open(axle_actor_nursery **out);

/*
 * axle_start_actor — start a daemon child and return a portal to it once
 * it has connected, handshaked and received its SpawnSpec.
 *   out: the portal, owned by the nursery (valid until close).
 * Returns: 0.
 * Errors: -EINVAL (no name, unknown spawn method); -AXLE_EREMOTE with
 *   "died during start" when the child ended before connecting (its source
 *   type says how: "EXIT<status>" or "SIG<name>", e.g. "SIGSEGV", and its
 *   traceback holds the crash report); -EAGAIN/-ENOMEM from the process
 *   layer; -ECANCELED.
 * Checkpoint: yes.
 */
AXLE_API int axle_start_actor(axle_actor_nursery *an, const axle_spawn_opts *o, axle_portal **out);

/*
 * axle_run_in_actor — start a child that runs func(args) as its main task;
 * the nursery collects the result (read it with axle_portal_result), then
 * cancels the child. func's namespace is exposed in the child.
 * Errors: as axle_start_actor.  Checkpoint: yes.
 */
AXLE_API int axle_run_in_actor(axle_actor_nursery *an, const axle_spawn_opts *o, const char *func,
                               const void *args, size_t len, axle_portal **out);

/* Cancel every child of the nursery (and its body). */
AXLE_API void axle_actor_nursery_cancel(axle_actor_nursery *an);

/*
 * axle_actor_nursery_close — apply the exit rules (top of this file),
 * free the nursery and its portals.
 *   rc: what the body ended with.
 * Returns: 0, the one error, -AXLE_EGROUP (each member readable), or
 *   -ECANCELED passing through.
 * Invalidates: an and its portals.
 * Checkpoint: waits; a cancel reaches the children (it never returns
 *   before they are reaped).
 */
AXLE_API int axle_actor_nursery_close(axle_actor_nursery *an, int rc);

/* The peer's identity (borrowed, valid while the portal lives). */
AXLE_API const axle_uid *axle_portal_uid(const axle_portal *p);

/*
 * axle_portal_run — call func ("ns.func") in the portal's actor with args
 * and wait for its result.
 *   ret: receives the result (replaced); may be NULL to discard it.
 * Returns: 0.
 * Errors: -AXLE_EREMOTE (the function failed there, or is not exposed:
 *   axle_error_src_code gives -AXLE_ENOTEXPOSED, or -ENOSYS for an unknown
 *   function in an exposed namespace); -AXLE_ETRANSPORT (the actor went
 *   away); -ECANCELED (the remote task is cancelled too).
 * Checkpoint: yes.
 */
AXLE_API int axle_portal_run(axle_portal *p, const char *func, const void *args, size_t len,
                             axle_buf *ret);

/*
 * axle_portal_result — wait for the result of a run_in_actor child's main
 * function (any number of calls give the same outcome).
 * Errors: as axle_portal_run; -EINVAL for a daemon's portal.
 * Checkpoint: yes.
 */
AXLE_API int axle_portal_result(axle_portal *p, axle_buf *ret);

/*
 * axle_find_actor — a portal to the actor registered under name in this
 * tree. Every actor registers with the root when it starts; an entry lives
 * as long as the actor's connection to the root (a dead actor's entry goes
 * with its connection). Until the discovery layer exists, the root is the
 * registrar.
 *   out: a new portal, owned: close it with axle_portal_close.
 * Returns: 0.
 * Errors: -ENOENT (no such actor); -AXLE_ETRANSPORT or -ECONNREFUSED (the
 *   root or the actor is unreachable: an actor that is exiting can still be
 *   found until its connection to the root ends); -ECANCELED.
 * Checkpoint: yes.
 */
AXLE_API int axle_find_actor(const char *name, axle_portal **out);

/*
 * axle_portal_close — close a portal from axle_find_actor (its connection
 * ends). Never blocks. Portals from a nursery are the nursery's: do not
 * close them.  Invalidates: p.
 */
AXLE_API void axle_portal_close(axle_portal *p);

/*
 * axle_portal_cancel_actor — cancel the whole remote actor (not only a
 * task) and wait up to timeout_ns (0: cancel_ack_ns) for its ack.
 * Returns: 1 when it acked, 0 when it did not in time or is already gone.
 * Checkpoint: no (the wait is shielded and bounded).
 */
AXLE_API int axle_portal_cancel_actor(axle_portal *p, int64_t timeout_ns);

#ifdef __cplusplus
}
#endif
#endif
