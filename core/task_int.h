/*
 * core/task_int.h — the task and scheduler structures, shared by sched.c,
 * scope.c and nursery.c. Private to libaxle.
 */
#ifndef AXLE_CORE_TASK_INT_H
#define AXLE_CORE_TASK_INT_H

#include "fiber.h"
#include "sched.h"

/* Private bits of axle_scope.flags_ (the low byte holds AXLE_SCOPE_*). */
enum {
    SCOPE_CANCELLED = 1u << 8, /* cancel requested (call or deadline) */
    SCOPE_CAUGHT = 1u << 9,    /* close absorbed its cancellation */
    SCOPE_FIRED = 1u << 10,    /* its deadline fired */
    SCOPE_OPEN = 1u << 11,     /* between open and close */
    SCOPE_ROOT = 1u << 12,     /* a task's root link, not a user scope */
};

enum task_state { TASK_READY, TASK_RUNNING, TASK_PARKED, TASK_DONE };

struct axle_task_status;

struct axle_task {
    void *sp;                       /* saved stack pointer while switched out */
    axle__stack stack;              /* this task's stack (the struct lives at its top) */
    axle_fn fn;                     /* body, for start_soon tasks */
    axle_start_fn sfn;              /* body, for axle_nursery_start tasks */
    void *arg;                      /* the body's argument (borrowed) */
    int rc;                         /* the body's result, once TASK_DONE */
    enum task_state state;          /* Invariant: PARKED iff waiting for axle__wake */
    axle_task *next_run;            /* run queue link */
    axle_scope root;                /* link node under the nursery's scope */
    axle_scope *cur;                /* innermost open scope (root when none) */
    axle_nursery *nursery;          /* owner once started; NULL for main / before started */
    struct axle_task_status *start; /* set while an axle_nursery_start is pending */
    axle_task *sib_prev, *sib_next; /* the nursery's children list */
    axle__abort_fn abort;           /* how to unhook the current park */
    void *abort_data;               /* abort's argument */
    int wake_value;                 /* what axle__park returns */
    bool abort_requested;           /* abort was called for the current park */
    struct axle_error *err;         /* rich error (owned), or NULL */
    int saved_errno;                /* errno across switches */
    void *asan_fake;                /* ASan fake-stack slot */
    unsigned long id;               /* sequence number, for the default name */
    char name[32];                  /* for logs and crash reports */
};

/* What axle_nursery_start and the task it starts share. */
struct axle_task_status {
    axle_task *caller;      /* parked in axle_nursery_start */
    axle_task *task;        /* the starting task */
    axle_nursery *nursery;  /* where the task goes once started */
    axle_scope *tmp;        /* the caller's scope the task runs in until then */
    void *value;            /* passed to axle_started */
    int rc;                 /* the task's result if it ended before started */
    struct axle_error *err; /* its rich error then (owned) */
    bool started, exited;   /* what happened first */
};

/* The scheduler's view used by scopes and nurseries. */
extern unsigned long axle__ncancelled; /* open scopes with SCOPE_CANCELLED */

axle_task *axle__task_new(axle_fn fn, axle_start_fn sfn, void *arg, const axle_task_opts *opts,
                          int *rc);
void axle__task_ready(axle_task *t);

/* Scope tree helpers (scope.c). */
void axle__scope_link(axle_scope *node, axle_scope *parent);
void axle__scope_unlink(axle_scope *node);
/* The scope whose cancellation reaches t now, or NULL. */
axle_scope *axle__cancel_source(const axle_task *t);
/* The code a checkpoint returns when t is cancelled (-ECANCELED). */
int axle__cancelled(axle_task *t);
/* Abort t's park if it is parked and not yet aborted. */
void axle__task_abort(axle_task *t);

/* Timer heap (sched.c). */
void axle__timer_add(axle_scope *sc);
void axle__timer_del(axle_scope *sc);

/* Nursery side of a task ending (nursery.c). */
void axle__nursery_child_done(axle_task *t);
void axle__start_child_done(axle_task *t);

#endif
