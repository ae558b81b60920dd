/*
 * core/actor/cache.c — shared resources by key (tractor §9
 * maybe_open_context): the first user of a key enters the resource in a
 * service task of the actor's runtime nursery; later users get the same
 * value and a cache hit; the last user out wakes the service task, waits
 * (shielded) for the resource's exit and gets any error it returns.
 *
 * One entry per live key. Its lock serialises opens of that key (FIFO), so
 * one resource is entered at a time and later users queue behind the
 * entering one. States:
 *   ENTERING: a service task runs ops->enter; the opener holding the lock
 *     waits for it (cancellably: a cancelled first user leaves the entry
 *     consistent: the lock is released and the service task, finding no
 *     user once entered, goes straight on to exit);
 *   READY: value valid, users > 0;
 *   CLOSING: the last user left (set by its close, at once); the service
 *     task runs ops->exit. An open meanwhile waits for it to finish, then
 *     enters a fresh instance.
 * The entry is freed by whoever sees it with no user, no waiter and its
 * service task done.
 */
#include "actor_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum state { ENTERING, READY, CLOSING, DONE };

struct entry {
    char *key; /* owned */
    const axle_resource_ops *ops;
    void *arg;
    enum state state;
    bool started; /* its service task was started */
    void *value;
    int users;          /* holders of an axle_resource */
    int waiters;        /* tasks inside axle_resource_open for this key */
    int closers;        /* last users waiting in axle_resource_close */
    axle_lock lock;     /* one opener at a time */
    axle_event entered; /* enter finished (state READY, or DONE with enter_rc) */
    int enter_rc;
    struct axle_error *enter_err;
    axle_event poke;   /* users or waiters changed (set, then re-armed) */
    axle_event exited; /* the service task is done (state DONE) */
    int exit_rc;
    struct axle_error *exit_err;
    struct entry *next;
};

struct axle_resource {
    struct entry *e;
};

/*
 * Per process. Fork story: a forked child's copy names its parent's tasks
 * and resources; axle__resources_forget drops it (not freed: the memory is
 * a copy of the parent's, nothing to release but the list itself).
 */
static struct entry *entries;

void axle__resources_forget(void) { entries = NULL; }

static struct entry *find(const char *key)
{
    for (struct entry *e = entries; e; e = e->next)
        if (strcmp(e->key, key) == 0 && e->state != DONE)
            return e;
    return NULL;
}

/* Free e once nothing refers to it any more. */
static void entry_maybe_free(struct entry *e)
{
    if (e->state != DONE || e->users || e->waiters || e->closers)
        return;
    for (struct entry **p = &entries; *p; p = &(*p)->next)
        if (*p == e) {
            *p = e->next;
            break;
        }
    axle__error_free(e->enter_err);
    axle__error_free(e->exit_err);
    free(e->key);
    free(e);
}

static void poke(struct entry *e)
{
    axle_event_set(&e->poke);
    axle_event_init(&e->poke);
}

/*
 * The service task: enter, wait until nobody uses or wants it, exit. A
 * cancel of the runtime (the actor ending) stops the wait, not the exit:
 * the exit is shielded, so whoever waits in close gets its outcome.
 */
static int service(void *arg)
{
    struct entry *e = arg;
    /*
     * Opened around enter too (not shielded yet), so that scopes enter
     * leaves open (a context's body scope, say) nest inside it and exit
     * can close them.
     */
    axle_scope sc;
    axle_scope_open(&sc, AXLE_NO_DEADLINE, 0);
    e->enter_rc = e->ops->enter(e->arg, &e->value);
    e->enter_err = (e->enter_rc < 0 ? axle__error_clone_last(e->enter_rc) : NULL);
    if (e->enter_rc == 0) {
        e->state = READY;
        axle_event_set(&e->entered);
        int rc = 0;
        while (rc == 0 && e->state == READY && (e->users > 0 || e->waiters > 0))
            rc = axle_event_wait(&e->poke);
        e->state = CLOSING;
        axle_scope_set_shield(&sc, true);
        e->exit_rc = e->ops->exit ? e->ops->exit(e->arg, e->value) : 0;
        e->exit_err = (e->exit_rc < 0 ? axle__error_clone_last(e->exit_rc) : NULL);
    }
    axle_scope_close(&sc, 0);
    e->state = DONE;
    axle_event_set(&e->entered);
    axle_event_set(&e->exited);
    entry_maybe_free(e);
    return 0;
}

static struct entry *entry_new(const char *key, const axle_resource_ops *ops, void *arg)
{
    struct entry *e = calloc(1, sizeof *e);
    if (!e || !(e->key = strdup(key))) {
        free(e);
        return NULL;
    }
    e->ops = ops;
    e->arg = arg;
    axle_lock_init(&e->lock);
    axle_event_init(&e->entered);
    axle_event_init(&e->poke);
    axle_event_init(&e->exited);
    e->next = entries;
    entries = e;
    return e;
}

/* Under e's lock: enter it if need be. Returns 0 (READY) or the error. */
static int enter_locked(struct entry *e)
{
    if (!e->started) {
        axle_task_opts o = {.name = "resource"};
        int rc = axle_nursery_start_soon(A.rt, service, e, &o);
        if (rc < 0) {
            e->state = DONE; /* nothing started: the next open tries afresh */
            return rc;
        }
        e->started = true;
    }
    int rc = axle_event_wait(&e->entered); /* cancellable: the service task sees us go */
    if (rc < 0)
        return rc;
    if (e->state == READY)
        return 0;
    if (e->enter_rc < 0)
        return axle__error_put_copy(e->enter_err, e->enter_rc);
    return -EAGAIN; /* it closed before we got in: afresh */
}

int axle_resource_open(const char *key, const axle_resource_ops *ops, void *arg,
                       axle_resource **out, void **value, bool *cache_hit)
{
    *out = NULL;
    if (!A.running || !A.rt)
        return AXLE_SET_ERR(-ENOTCONN, "axle_resource_open: not inside an actor");
    if (!key || !ops || !ops->enter)
        return AXLE_SET_ERR(-EINVAL, "axle_resource_open: a key and ops->enter are required");
    axle_resource *h = malloc(sizeof *h);
    if (!h)
        return AXLE_SET_ERR(-ENOMEM, "axle_resource_open: out of memory");
    for (;;) {
        struct entry *e = find(key);
        if (!e && !(e = entry_new(key, ops, arg))) {
            free(h);
            return AXLE_SET_ERR(-ENOMEM, "axle_resource_open: out of memory");
        }
        e->waiters++;
        int rc;
        bool hit = false;
        if (e->state == CLOSING) { /* re-entry during teardown: after it, afresh */
            rc = axle_event_wait(&e->exited);
            rc = rc < 0 ? rc : -EAGAIN;
        } else if ((rc = axle_lock_acquire(&e->lock)) == 0) {
            hit = e->started && e->state == READY;
            rc = hit ? 0 : enter_locked(e);
            axle_lock_release(&e->lock);
        }
        if (rc == 0)
            e->users++;
        e->waiters--;
        poke(e);
        entry_maybe_free(e);
        if (rc == -EAGAIN)
            continue;
        if (rc < 0) {
            free(h);
            return rc;
        }
        h->e = e;
        *out = h;
        *value = e->value;
        if (cache_hit)
            *cache_hit = hit;
        return 0;
    }
}

int axle_resource_close(axle_resource *h)
{
    struct entry *e = h->e;
    free(h);
    e->users--;
    if (e->users > 0 || e->waiters > 0) { /* somebody still uses it, or is about to */
        poke(e);
        return 0;
    }
    /*
     * The last user: the service task exits the resource; wait for it,
     * shielded. CLOSING from now on, not once the service task runs: an
     * open meanwhile must wait for the exit and enter afresh, not take a
     * cache hit that keeps this close waiting for its user.
     */
    if (e->state == READY)
        e->state = CLOSING;
    e->closers++;
    poke(e);
    axle_scope sc;
    axle_scope_open(&sc, AXLE_NO_DEADLINE, AXLE_SCOPE_SHIELD);
    axle_scope_close(&sc, axle_event_wait(&e->exited));
    e->closers--;
    int rc = axle__error_put_copy(e->exit_err, e->exit_rc);
    entry_maybe_free(e);
    return rc;
}
