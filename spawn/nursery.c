/*
 * spawn/nursery.c — actor nurseries: supervising child processes.
 *
 * Each child has a supervisor task. Daemons' supervisors live in the outer
 * task nursery `dn`, one-shot (run_in_actor) children's in the inner `rn`,
 * and the nursery's body runs inside `rn` — tractor's two nested task
 * groups, which give its exit rules almost for free:
 *
 *   - a body error closes rn with that error: rn's scope is cancelled, and
 *     the error, recorded, cancels dn too;
 *   - one-shot results are collected into the nursery's error list without
 *     cancelling anyone; once every one-shot child has finished, collected
 *     errors cancel the daemons;
 *   - a daemon that dies on its own (crash, non-zero exit) records its
 *     death and cancels dn, reaching every child (rn is inside dn);
 *   - a supervisor that is cancelled escalates: a cancel request, no ack
 *     within cancel_ack_ns -> SIGTERM, alive after hard_kill_ns -> SIGKILL,
 *     the whole phase bounded by cancel_phase_ns; it always reaps.
 *
 * Start: axle_start_actor is axle_nursery_start on a supervisor, which
 * reports "started" with the portal once the child connected and got its
 * SpawnSpec. Until then a watcher waits on the child's pidfd, so a child
 * that dies during start is reported at once with its exit status or
 * signal, never waited on forever.
 */
#include "../core/actor/actor_int.h"
#include "../core/ipc/conn_int.h"
#include "proc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

struct child {
    axle_actor_nursery *an; /* owner */
    axle_portal portal;     /* valid once started */
    bool started;           /* portal valid, child connected */
    axle__proc proc;        /* the process */
    bool spawned;           /* proc valid */
    axle_uid uid;           /* its identity */
    bool ria;               /* a run_in_actor child */
    char *func;             /* ria: the main function (owned) */
    uint8_t *args;          /* ria: its arguments (owned) */
    size_t len;
    char **mods; /* namespaces it exposes (owned) */
    size_t nmods;
    char **binds; /* where it listens (owned; NULL: its default Unix socket) */
    size_t nbinds;
    char loglevel[16];  /* its level */
    char method[16];    /* its spawn backend */
    char *exe;          /* exec: program (owned) or NULL */
    struct child *next; /* an->children */
};

struct axle_actor_nursery {
    axle_nursery *dn, *rn;    /* daemon and one-shot supervisors */
    struct child *children;   /* every child ever started here */
    struct axle_error **errs; /* collected errors (owned) */
    size_t nerrs, cap;
};

/* Keep the calling task's error for code (or a bare one). */
static void collect(axle_actor_nursery *an, int code)
{
    struct axle_error *e = axle__error_take(axle__current());
    if (e && axle_error_code(e) != code) {
        axle__error_free(e);
        e = NULL;
    }
    if (!e)
        e = axle__error_new(code, NULL);
    if (an->nerrs == an->cap) {
        size_t cap = an->cap ? 2 * an->cap : 4;
        struct axle_error **v = realloc(an->errs, cap * sizeof *v);
        if (!v) {
            axle__error_free(e);
            return;
        }
        an->errs = v;
        an->cap = cap;
    }
    an->errs[an->nerrs++] = e;
}

/* Record the death of c as a remote error from c (signal, status, crash report). */
static int death_error(struct child *c, const char *when)
{
    char how[4096];
    axle__proc_describe(&c->proc, how, sizeof how);
    char *report = strchr(how, '\n');
    if (report)
        *report++ = 0;
    char type[40];
    if (c->proc.signal)
        snprintf(type, sizeof type, "SIG%s",
                 sigabbrev_np(c->proc.signal) ? sigabbrev_np(c->proc.signal) : "UNKNOWN");
    else
        snprintf(type, sizeof type, "EXIT%d", c->proc.exit_code);
    char msg[512];
    snprintf(msg, sizeof msg, "actor %s %s (%.300s)", c->uid.name, when, how);
    Axle__Uid src = axle__uid_msg(&c->uid);
    Axle__Error e = AXLE__ERROR__INIT;
    e.src_uid = &src;
    e.src_type = type;
    e.boxed_type = type;
    e.message = msg;
    e.traceback = report && *report ? report : NULL;
    e.code = -AXLE_ETRANSPORT;
    return axle__rerr_raise(&e);
}

/* ---- escalation ------------------------------------------------------------- */

/* Wait up to ns for c to exit; true when reaped. */
static bool wait_exit(struct child *c, int64_t ns)
{
    axle_scope sc;
    axle_scope_open(&sc, axle__deadline_after(ns), 0);
    int rc = axle__proc_wait(&c->proc);
    axle_scope_close(&sc, rc);
    return c->proc.exited;
}

/*
 * End c for good: a cancel request, then SIGTERM, then SIGKILL, within the
 * cancel phase; always reaps. Shielded: it runs when we are cancelled.
 */
static void escalate(struct child *c)
{
    if (!c->spawned || c->proc.exited)
        return;
    const struct actor *a = &A;
    axle_scope phase;
    axle_scope_open(&phase, axle__deadline_after(a->opts.cancel_phase_ns), AXLE_SCOPE_SHIELD);
    bool acked = c->started && axle__request_cancel(c->portal.peer, a->opts.cancel_ack_ns) == 1;
    if (!(acked && wait_exit(c, a->opts.hard_kill_ns))) {
        if (!c->proc.exited) {
            axle_log_cancel("actor %s %s: SIGTERM", c->uid.name,
                            acked ? "acked but did not exit" : "did not ack the cancel");
            axle__proc_signal(&c->proc, SIGTERM);
            wait_exit(c, a->opts.hard_kill_ns);
        }
    }
    axle_scope_close(&phase, 0);
    if (!c->proc.exited) {
        axle_log_cancel("actor %s still alive: SIGKILL", c->uid.name);
        axle__proc_signal(&c->proc, SIGKILL);
        axle_scope sc;
        axle_scope_open(&sc, AXLE_NO_DEADLINE, AXLE_SCOPE_SHIELD);
        axle_scope_close(&sc, axle__proc_wait(&c->proc));
    }
}

/* ---- start ---------------------------------------------------------------------- */

struct start_watch {
    struct child *c;
    struct spawning *s;
    int fd; /* fork: our end of the socketpair (taken by paired_hello), or -1 */
};

/*
 * fork: the handshake on our end of the child's socketpair, then the
 * connection's loop in the runtime nursery, as the server would do for a
 * child that connected. Unix peer credentials are not checked: a
 * socketpair's SO_PEERCRED names its creator (us), and we made both ends.
 */
static int paired_hello(void *arg)
{
    struct start_watch *w = arg;
    axle_conn_opts co = axle__actor_conn_opts();
    axle_conn *conn = axle__conn_new(w->fd, NULL, &co);
    if (!conn) {
        close(w->fd);
        return 0;
    }
    int rc = axle__conn_handshake(conn, false);
    struct peer *p = rc == 0 ? axle__peer_new(conn) : NULL;
    if (!p || axle__peer_start_loop(p) < 0) {
        if (p)
            axle__peer_unref(p);
        axle_conn_close(conn);
        return 0; /* the child's death (or our cancel) ends the start */
    }
    p->refs++; /* the spawner's, as on_peer takes it */
    w->s->peer = p;
    axle_event_set(&w->s->connected);
    return 0;
}

/* During start: reap the child if it dies, and wake the starter. */
static int watch_start(void *arg)
{
    struct start_watch *w = arg;
    int rc = axle__proc_wait(&w->c->proc);
    if (rc == 0)
        axle_event_set(&w->s->connected);
    return 0;
}

static int send_spec(struct child *c)
{
    Axle__Uid u = axle__uid_msg(&c->uid);
    Axle__SpawnSpec spec = AXLE__SPAWN_SPEC__INIT;
    spec.child = &u;
    spec.enable_modules = c->mods;
    spec.n_enable_modules = c->nmods;
    spec.bind_addrs = c->binds;
    spec.n_bind_addrs = c->nbinds;
    spec.loglevel = axle_log_level_parse(c->loglevel);
    char *reg[1] = {A.reg_addr};
    if (A.reg_addr[0])
        spec.reg_addrs = reg, spec.n_reg_addrs = 1;
    Axle__Envelope env = AXLE__ENVELOPE__INIT;
    env.msg_case = AXLE__ENVELOPE__MSG_SPAWN_SPEC;
    env.spawn_spec = &spec;
    return axle__peer_send(c->portal.peer, &env);
}

/* Spawn c and wait until it connects (0) or dies (its death error). */
static int spawn_and_connect(struct child *c)
{
    struct spawning s = {0};
    memcpy(s.uuid, c->uid.uuid, 16);
    axle_event_init(&s.connected);
    axle__spawn_req req = {.method = c->method, .exe = c->exe};
    req.args.uid = c->uid;
    snprintf(req.args.parent_addr, sizeof req.args.parent_addr, "%s", A.addr);
    snprintf(req.args.loglevel, sizeof req.args.loglevel, "%s", c->loglevel);
    req.args.parent_pid = getpid();
    req.args.crash_fd = -1;
    req.args.conn_fd = -1;
    /*
     * fork: hand the child one end of a socketpair made now, instead of
     * having it connect to our server (no accept, no listener involved).
     */
    int sv[2] = {-1, -1};
    bool paired = strcmp(axle__spawn_method(c->method), "fork") == 0 &&
                  socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0;
    if (paired)
        req.args.conn_fd = sv[1];
    int rc = axle__proc_spawn(&req, &c->proc);
    if (paired)
        close(sv[1]);
    if (rc < 0) {
        if (paired)
            close(sv[0]);
        return rc;
    }
    c->spawned = true;
    axle__track_child(c->proc.pid);
    s.next = A.spawning;
    A.spawning = &s;

    axle_nursery *w;
    struct start_watch sw = {c, &s, paired ? sv[0] : -1};
    rc = axle_nursery_open(&w);
    if (rc == 0) {
        axle_task_opts o = {.name = "start-watch"}, ho = {.name = "start-hello"};
        rc = axle_nursery_start_soon(w, watch_start, &sw, &o);
        if (rc == 0 && paired)
            rc = axle_nursery_start_soon(w, paired_hello, &sw, &ho);
        if (rc == 0)
            rc = axle_event_wait(&s.connected);
        axle_nursery_cancel(w);
        rc = axle_nursery_close(w, rc);
    }
    for (struct spawning **p = &A.spawning; *p; p = &(*p)->next)
        if (*p == &s) {
            *p = s.next;
            break;
        }
    if (s.peer) {
        axle__portal_init(&c->portal, s.peer);
        axle__peer_unref(s.peer); /* the portal holds it now */
        c->started = true;
    }
    if (rc == 0 && !c->started)
        return death_error(c, "died during start");
    if (rc == 0)
        rc = send_spec(c);
    return rc;
}

/* ---- supervisors -------------------------------------------------------------- */

static int supervise(void *arg, axle_task_status *st)
{
    struct child *c = arg;
    axle_actor_nursery *an = c->an;
    int rc = spawn_and_connect(c);
    if (rc == 0 && c->ria) {
        axle__call_open(&c->portal.main, c->portal.peer);
        c->portal.main_open = true;
        c->portal.has_main = true;
        rc = axle__call_start(&c->portal.main, c->func, c->args, c->len);
    }
    if (rc < 0) { /* start failed: the starter gets the error; end the child */
        escalate(c);
        return rc;
    }
    axle_started(st, &c->portal);

    if (c->ria) {
        rc = axle__portal_resolve(&c->portal);
        if (rc != -ECANCELED && rc < 0) {
            if (rc == -AXLE_ETRANSPORT && wait_exit(c, A.opts.hard_kill_ns) &&
                (c->proc.signal || c->proc.exit_code))
                collect(an, death_error(c, "died before returning"));
            else {
                axle__error_put(axle__current(), axle__error_clone(c->portal.result_err));
                collect(an, rc);
            }
        }
        escalate(c);
        return 0;
    }
    rc = axle__proc_wait(&c->proc);
    if (rc == 0 && (c->proc.signal || c->proc.exit_code)) {
        collect(an, death_error(c, "died"));
        axle_nursery_cancel(an->dn); /* one cancels all */
    }
    escalate(c);
    return 0;
}

/* ---- the public API --------------------------------------------------------------- */

int axle_actor_nursery_open(axle_actor_nursery **out)
{
    *out = NULL;
    if (!A.running)
        return AXLE_SET_ERR(-ENOTCONN, "axle_actor_nursery_open: not inside an actor");
    axle_actor_nursery *an = calloc(1, sizeof *an);
    if (!an)
        return AXLE_SET_ERR(-ENOMEM, "axle_actor_nursery_open: out of memory");
    int rc = axle_nursery_open(&an->dn);
    if (rc == 0 && (rc = axle_nursery_open(&an->rn)) < 0)
        axle_nursery_close(an->dn, rc);
    if (rc < 0) {
        free(an);
        return rc;
    }
    *out = an;
    return 0;
}

/*
 * After reaping: remove the socket file a child killed by a signal could
 * not remove itself (its default one: <runtime dir>/<name>@<pid>.sock).
 */
static void forget_child(struct child *c)
{
    axle__untrack_child(c->proc.pid);
    char dir[256], path[512];
    if (axle_runtime_dir(dir, sizeof dir) < 0)
        return;
    snprintf(path, sizeof path, "%s/%s@%d.sock", dir, c->uid.name, (int)c->proc.pid);
    struct stat sb;
    if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode))
        unlink(path);
}

static void child_free(struct child *c)
{
    if (c->started)
        axle__portal_fini(&c->portal);
    if (c->spawned) {
        forget_child(c);
        axle__proc_release(&c->proc);
    }
    for (size_t i = 0; i < c->nmods; i++)
        free(c->mods[i]);
    free(c->mods);
    for (size_t i = 0; i < c->nbinds; i++)
        free(c->binds[i]);
    free(c->binds);
    free(c->func);
    free(c->args);
    free(c->exe);
    free(c);
}

static struct child *child_new(axle_actor_nursery *an, const axle_spawn_opts *o, const char *func,
                               int *rc)
{
    *rc = -EINVAL;
    if (!o || !o->name || !o->name[0]) {
        AXLE_SET_ERR(-EINVAL, "an actor needs a name (axle_spawn_opts.name)");
        return NULL;
    }
    struct child *c = calloc(1, sizeof *c);
    if (!c)
        goto oom;
    c->an = an;
    if ((*rc = axle_uid_init(&c->uid, o->name)) < 0) {
        free(c);
        return NULL;
    }
    size_t extra = func ? 1 : 0;
    c->mods = calloc(o->n_enable_modules + extra + 1, sizeof *c->mods);
    if (!c->mods)
        goto oom_child;
    for (size_t i = 0; i < o->n_enable_modules; i++)
        if (!(c->mods[c->nmods++] = strdup(o->enable_modules[i])))
            goto oom_child;
    if (func) { /* a one-shot child exposes its function's namespace */
        const char *dot = strrchr(func, '.');
        if (!dot || dot == func) {
            child_free(c);
            *rc = AXLE_SET_ERR(-EINVAL, "'%s' is not \"ns.func\"", func);
            return NULL;
        }
        if (!(c->mods[c->nmods++] = strndup(func, (size_t)(dot - func))))
            goto oom_child;
    }
    snprintf(c->loglevel, sizeof c->loglevel, "%s",
             o->loglevel ? o->loglevel : axle_log_level_name(axle__log_level));
    const char *method = axle__spawn_method(o->spawn_method ? o->spawn_method : A.spawn_method);
    snprintf(c->method, sizeof c->method, "%s", method);
    if (o->exe && !(c->exe = strdup(o->exe)))
        goto oom_child;
    if (o->n_bind_addrs && !(c->binds = calloc(o->n_bind_addrs, sizeof *c->binds)))
        goto oom_child;
    for (size_t i = 0; i < o->n_bind_addrs; i++)
        if (!(c->binds[c->nbinds++] = strdup(o->bind_addrs[i])))
            goto oom_child;
    c->next = an->children;
    an->children = c;
    *rc = 0;
    return c;
oom_child:
    child_free(c);
oom:
    *rc = AXLE_SET_ERR(-ENOMEM, "no memory for actor %s", o->name);
    return NULL;
}

static int start(axle_actor_nursery *an, struct child *c, axle_nursery *into, axle_portal **out)
{
    axle_task_opts o = {.name = c->uid.name};
    void *portal;
    int rc = axle_nursery_start(into, supervise, c, &o, &portal);
    if (rc < 0)
        return rc;
    (void)an;
    *out = portal;
    return 0;
}

int axle_start_actor(axle_actor_nursery *an, const axle_spawn_opts *o, axle_portal **out)
{
    *out = NULL;
    int rc;
    struct child *c = child_new(an, o, NULL, &rc);
    if (!c)
        return rc;
    return start(an, c, an->dn, out);
}

int axle_run_in_actor(axle_actor_nursery *an, const axle_spawn_opts *o, const char *func,
                      const void *args, size_t len, axle_portal **out)
{
    *out = NULL;
    int rc;
    struct child *c = child_new(an, o, func, &rc);
    if (!c)
        return rc;
    c->ria = true;
    c->func = strdup(func);
    c->args = malloc(len ? len : 1);
    if (!c->func || !c->args)
        return AXLE_SET_ERR(-ENOMEM, "no memory for actor %s", o->name);
    if (len)
        memcpy(c->args, args, len);
    c->len = len;
    return start(an, c, an->rn, out);
}

void axle_actor_nursery_cancel(axle_actor_nursery *an) { axle_nursery_cancel(an->dn); }

int axle_actor_nursery_close(axle_actor_nursery *an, int rc)
{
    axle_task *me = axle__current();
    if (rc < 0 && rc != -ECANCELED)
        collect(an, rc); /* the body's error, recorded under this actor */
    if (rc < 0) {        /* the body failed or was cancelled: every child goes */
        axle_nursery_cancel(an->rn);
        axle_nursery_cancel(an->dn);
    }
    /* One-shot children first: their results are collected, not raised. */
    axle_nursery_close(an->rn, 0);
    if (an->nerrs > 0) /* then collected errors cancel the daemons */
        axle_nursery_cancel(an->dn);
    int drc = axle_nursery_close(an->dn, 0);
    int out;
    if (an->nerrs == 1) {
        out = axle_error_code(an->errs[0]);
        axle__error_put(me, an->errs[0]);
        free(an->errs);
    } else if (an->nerrs > 1) {
        out = -AXLE_EGROUP;
        axle__error_put(me, axle__error_group(an->errs, an->nerrs));
    } else {
        free(an->errs);
        out = rc == -ECANCELED || drc == -ECANCELED ? -ECANCELED : 0;
    }
    while (an->children) {
        struct child *c = an->children;
        an->children = c->next;
        child_free(c);
    }
    free(an);
    return out;
}
