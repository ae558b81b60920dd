/*
 * core/error.c — error codes and the rich error.
 *
 * A rich error is a heap object owned by exactly one slot at a time: a
 * task's (task->err), the thread's (outside tasks), a nursery's list, or a
 * group's member array. Recording a new error on a slot frees the old one.
 * Allocation failure never loses the code: the functions return it either
 * way, the rich part is simply missing.
 *
 * AXLE_SET_ERR also keeps the raw return addresses of the recording stack
 * (core/backtrace.h, ~1 µs); they are symbolized only when read (format,
 * traceback, packing for another actor) and the text is then kept on the
 * error. Cancellation (-ECANCELED) is not an error and gets no backtrace.
 *
 * A remote error (core/actor/rerr.c builds it from an Error message) adds
 * the source actor, the type names, the relay path and the source's
 * traceback text; its first frames are the source's, with owned strings.
 */
#define _GNU_SOURCE
#include "backtrace.h"
#include "sched.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAMES 32
#define TYPE_LEN 64 /* type names: at most 63 bytes */

struct axle_frame {
    const char *func, *file; /* static (__func__, __FILE__), or owned: see nsrc */
    int line;
};

struct axle_error {
    int code;                             /* negative */
    char *msg;                            /* owned; may be NULL */
    struct axle_frame frames[MAX_FRAMES]; /* innermost first */
    size_t nframes;
    /* frames[0, nsrc) came from the source actor and own their strings.
     * Invariant: nsrc <= nframes; nsrc == 0 unless remote. */
    size_t nsrc;
    struct axle_error **members; /* owned, for -AXLE_EGROUP */
    size_t nmembers;
    void *bt[AXLE__BT_MAX]; /* return addresses where it was recorded */
    int nbt;                /* how many; 0: none captured */
    char *bt_text;          /* owned: bt symbolized, built on first read */

    /* The remote part. Invariant: all zero unless remote. */
    bool remote;
    int src_code;              /* the code at the source */
    axle_uid src;              /* the actor that raised it */
    char src_type[TYPE_LEN];   /* the code's name at the source */
    char boxed_type[TYPE_LEN]; /* the type the last hop boxed it as */
    axle_uid *relay;           /* owned: the actors it passed through, in order */
    size_t nrelay;
    char *tb; /* owned: the source's traceback text; may be NULL */

    /* Who cancelled (-AXLE_ECTXCANCELLED) / who overran (-AXLE_EOVERRUN). */
    bool has_canceller, has_sender;
    axle_uid canceller, sender;
};

/* sched.c: the calling task's (or thread's) slot, and a given task's. */
struct axle_error **axle__error_slot(void);
struct axle_error **axle__task_error_slot(axle_task *t);

/* axle_strerror and axle_errname live in shm/errstr.c, which libaxle-shm carries too. */

/* ------------------------------------------------------------ lifetime --- */

struct axle_error *axle__error_new(int code, const char *msg)
{
    struct axle_error *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->code = code;
    if (msg)
        e->msg = strdup(msg);
    return e;
}

void axle__error_free(struct axle_error *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nmembers; i++)
        axle__error_free(e->members[i]);
    for (size_t i = 0; i < e->nsrc; i++) {
        free((char *)e->frames[i].func);
        free((char *)e->frames[i].file);
    }
    free(e->members);
    free(e->msg);
    free(e->bt_text);
    free(e->relay);
    free(e->tb);
    free(e);
}

static char *dup_or_null(const char *s, bool *fail)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *fail = true;
    return d;
}

struct axle_error *axle__error_clone(const struct axle_error *e)
{
    if (!e)
        return NULL;
    struct axle_error *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    *c = *e;
    /* Nothing owned is shared: reset every owned pointer before copying. */
    c->msg = c->bt_text = c->tb = NULL;
    c->relay = NULL;
    c->members = NULL;
    c->nmembers = 0;
    c->nsrc = 0;
    bool fail = false;
    c->msg = dup_or_null(e->msg, &fail);
    c->bt_text = dup_or_null(e->bt_text, &fail);
    c->tb = dup_or_null(e->tb, &fail);
    for (size_t i = 0; i < e->nsrc; i++) {
        c->frames[i].func = dup_or_null(e->frames[i].func, &fail);
        c->frames[i].file = dup_or_null(e->frames[i].file, &fail);
        c->nsrc = i + 1;
    }
    if (e->nrelay && !fail) {
        c->relay = malloc(e->nrelay * sizeof *c->relay);
        if (c->relay)
            memcpy(c->relay, e->relay, e->nrelay * sizeof *c->relay);
        else
            fail = true;
    }
    if (!c->relay)
        c->nrelay = 0;
    if (e->nmembers && !fail) {
        c->members = calloc(e->nmembers, sizeof *c->members);
        if (!c->members)
            fail = true;
        for (size_t i = 0; c->members && i < e->nmembers && !fail; i++) {
            c->members[i] = axle__error_clone(e->members[i]);
            c->nmembers = i + 1;
            if (!c->members[i])
                fail = true;
        }
    }
    if (fail) {
        axle__error_free(c);
        return NULL;
    }
    return c;
}

struct axle_error *axle__error_group(struct axle_error **members, size_t n)
{
    struct axle_error *e = axle__error_new(-AXLE_EGROUP, NULL);
    if (!e) {
        for (size_t i = 0; i < n; i++)
            axle__error_free(members[i]);
        free(members);
        return NULL;
    }
    char buf[64];
    snprintf(buf, sizeof buf, "%zu errors", n);
    e->msg = strdup(buf);
    e->members = members;
    e->nmembers = n;
    return e;
}

struct axle_error *axle__error_take(axle_task *t)
{
    struct axle_error **slot = axle__task_error_slot(t);
    struct axle_error *e = *slot;
    *slot = NULL;
    return e;
}

void axle__error_put(axle_task *t, struct axle_error *e)
{
    struct axle_error **slot = axle__task_error_slot(t);
    axle__error_free(*slot);
    *slot = e;
}

/* ------------------------------------------------- the remote part (rerr) --- */

/*
 * These build a remote error for core/actor/rerr.c (which declares them).
 * Strings are copied as given: the caller has bounded them.
 */

/* Copy s into a TYPE_LEN array, cut to fit. */
static void set_type(char *dst, const char *s) { snprintf(dst, TYPE_LEN, "%s", s ? s : ""); }

/* Mark e remote. Returns 0, or -ENOMEM (then the traceback is missing). */
int axle__error_set_remote(struct axle_error *e, const axle_uid *src, const char *src_type,
                           const char *boxed_type, int src_code, const char *tb)
{
    e->remote = true;
    e->src = *src;
    e->src_code = src_code;
    set_type(e->src_type, src_type);
    set_type(e->boxed_type, boxed_type);
    free(e->tb);
    e->tb = NULL;
    if (tb && !(e->tb = strdup(tb)))
        return -ENOMEM;
    return 0;
}

/* Takes hops (malloc'd, n entries) as e's relay path. */
void axle__error_set_relay(struct axle_error *e, axle_uid *hops, size_t n)
{
    free(e->relay);
    e->relay = hops;
    e->nrelay = hops ? n : 0;
}

/* Append a source frame (strings copied). Only before any local frame. */
int axle__error_add_src_frame(struct axle_error *e, const char *func, const char *file, int line)
{
    if (e->nframes != e->nsrc || e->nframes >= MAX_FRAMES)
        return -ENOSPC;
    char *fn = strdup(func ? func : "");
    char *fl = strdup(file ? file : "");
    if (!fn || !fl) {
        free(fn);
        free(fl);
        return -ENOMEM;
    }
    e->frames[e->nframes++] = (struct axle_frame){fn, fl, line};
    e->nsrc = e->nframes;
    return 0;
}

/* Takes members (malloc'd array of n owned errors) as e's members. */
void axle__error_set_members(struct axle_error *e, struct axle_error **members, size_t n)
{
    for (size_t i = 0; i < e->nmembers; i++)
        axle__error_free(e->members[i]);
    free(e->members);
    e->members = members;
    e->nmembers = members ? n : 0;
}

/* Frames that came from the source actor (for a local error: all of them). */
size_t axle__error_nsrc_frames(const struct axle_error *e)
{
    return e->remote ? e->nsrc : e->nframes;
}

void axle__error_put_canceller(struct axle_error *e, const axle_uid *who)
{
    e->has_canceller = who != NULL;
    if (who)
        e->canceller = *who;
}

void axle__error_put_sender(struct axle_error *e, const axle_uid *who)
{
    e->has_sender = who != NULL;
    if (who)
        e->sender = *who;
}

/* Record e (owned, may be NULL) on the calling task, replacing its error. */
void axle__error_record(struct axle_error *e)
{
    struct axle_error **slot = axle__error_slot();
    axle__error_free(*slot);
    *slot = e;
}

/* ----------------------------------------------------------- recording --- */

int axle__error_set(int code, const char *func, const char *file, int line, const char *fmt, ...)
{
    struct axle_error **slot = axle__error_slot();
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    struct axle_error *e = calloc(1, sizeof *e);
    if (!e) {
        free(msg);
        return code;
    }
    e->code = code;
    e->msg = msg;
    e->frames[0] = (struct axle_frame){func, file, line};
    e->nframes = 1;
    if (code != -ECANCELED)
        e->nbt = axle__bt_capture(e->bt, AXLE__BT_MAX, __builtin_return_address(0));
    axle__error_free(*slot);
    *slot = e;
    return code;
}

int axle__error_frame(int code, const char *func, const char *file, int line)
{
    struct axle_error *e = *axle__error_slot();
    if (e && e->code == code && e->nframes < MAX_FRAMES)
        e->frames[e->nframes++] = (struct axle_frame){func, file, line};
    return code;
}

const axle_error *axle_error_last(void) { return *axle__error_slot(); }

void axle_error_clear(void)
{
    struct axle_error **slot = axle__error_slot();
    axle__error_free(*slot);
    *slot = NULL;
}

/* ----------------------------------------------------------- accessors --- */

int axle_error_code(const axle_error *e) { return e->code; }
const char *axle_error_message(const axle_error *e)
{
    return e->msg ? e->msg : axle_strerror(e->code);
}
size_t axle_error_nframes(const axle_error *e) { return e->nframes; }

int axle_error_frame(const axle_error *e, size_t i, const char **func, const char **file, int *line)
{
    if (i >= e->nframes)
        return -EINVAL;
    if (func)
        *func = e->frames[i].func;
    if (file)
        *file = e->frames[i].file;
    if (line)
        *line = e->frames[i].line;
    return 0;
}

size_t axle_error_nmembers(const axle_error *e) { return e->nmembers; }

const axle_error *axle_error_member(const axle_error *e, size_t i)
{
    return i < e->nmembers ? e->members[i] : NULL;
}

bool axle_error_is_remote(const axle_error *e) { return e->remote; }
const axle_uid *axle_error_src_uid(const axle_error *e) { return e->remote ? &e->src : NULL; }
const char *axle_error_src_type(const axle_error *e)
{
    return e->remote ? e->src_type : axle_errname(e->code);
}
const char *axle_error_boxed_type(const axle_error *e)
{
    return e->remote ? e->boxed_type : axle_errname(e->code);
}
int axle_error_src_code(const axle_error *e) { return e->remote ? e->src_code : e->code; }
size_t axle_error_relay_len(const axle_error *e) { return e->nrelay; }
const axle_uid *axle_error_relay(const axle_error *e, size_t i)
{
    return i < e->nrelay ? &e->relay[i] : NULL;
}
const axle_uid *axle_error_canceller(const axle_error *e)
{
    return e->has_canceller ? &e->canceller : NULL;
}
const axle_uid *axle_error_sender(const axle_error *e) { return e->has_sender ? &e->sender : NULL; }

/* The local backtrace as text, symbolized on first use and kept. */
static const char *bt_text(const axle_error *e)
{
    if (!e->bt_text && e->nbt > 0)
        ((struct axle_error *)e)->bt_text = axle__bt_symbolize(e->bt, e->nbt, "");
    return e->bt_text;
}

const char *axle_error_traceback(const axle_error *e) { return e->remote ? e->tb : bt_text(e); }

/* -------------------------------------------------------------- format --- */

/* Append to buf at *off (snprintf-style: *off counts what would be written). */
static void put(char *buf, size_t len, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(*off < len ? buf + *off : NULL, *off < len ? len - *off : 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        *off += (size_t)n;
}

/* Each line of text, indented by pad columns. */
static void put_lines(char *buf, size_t len, size_t *off, int pad, const char *text)
{
    while (*text) {
        const char *nl = strchr(text, '\n');
        int n = nl ? (int)(nl - text) : (int)strlen(text);
        put(buf, len, off, "%*s%.*s\n", pad, "", n, text);
        text += n + (nl != NULL);
    }
}

static void put_frames(const axle_error *e, size_t from, int pad, char *buf, size_t len,
                       size_t *off)
{
    for (size_t i = from; i < e->nframes; i++)
        put(buf, len, off, "%*sat %s (%s:%d)\n", pad, "", e->frames[i].func, e->frames[i].file,
            e->frames[i].line);
}

static void format_at(const axle_error *e, int depth, char *buf, size_t len, size_t *off)
{
    int pad = depth * 2 + 2; /* the error's own details */
    char uid[96];
    put(buf, len, off, "%*s%s: %s\n", depth * 2, "", axle_errname(e->code), axle_error_message(e));
    if (e->remote) {
        axle_uid_format(&e->src, uid, sizeof uid);
        put(buf, len, off, "%*sfrom %s: %s (code %d), boxed as %s\n", pad, "", uid, e->src_type,
            e->src_code, e->boxed_type);
        if (e->nrelay) {
            put(buf, len, off, "%*srelayed by", pad, "");
            for (size_t i = 0; i < e->nrelay; i++) {
                axle_uid_format(&e->relay[i], uid, sizeof uid);
                put(buf, len, off, "%s %s", i ? "," : "", uid);
            }
            put(buf, len, off, "\n");
        }
    }
    if (e->has_canceller) {
        axle_uid_format(&e->canceller, uid, sizeof uid);
        put(buf, len, off, "%*scanceller %s\n", pad, "", uid);
    }
    if (e->has_sender) {
        axle_uid_format(&e->sender, uid, sizeof uid);
        put(buf, len, off, "%*ssender %s\n", pad, "", uid);
    }
    if (e->remote && e->tb && e->tb[0]) {
        /* The source's traceback holds its frames; then ours as it rose here. */
        axle_uid_format(&e->src, uid, sizeof uid);
        put(buf, len, off, "%*straceback from %s:\n", pad, "", uid);
        put_lines(buf, len, off, pad + 2, e->tb);
        put_frames(e, e->nsrc, pad, buf, len, off);
    } else {
        put_frames(e, 0, pad, buf, len, off);
    }
    const char *bt = e->remote ? NULL : bt_text(e);
    if (bt) {
        put(buf, len, off, "%*sbacktrace:\n", pad, "");
        put_lines(buf, len, off, pad + 2, bt);
    }
    for (size_t i = 0; i < e->nmembers; i++) {
        put(buf, len, off, "%*s[%zu/%zu]\n", pad, "", i + 1, e->nmembers);
        format_at(e->members[i], depth + 2, buf, len, off);
    }
}

size_t axle_error_format(const axle_error *e, char *buf, size_t len)
{
    size_t off = 0;
    if (len)
        buf[0] = 0;
    if (!e) /* axle_error_last() when nothing failed */
        return (size_t)snprintf(buf, len, "no error");
    format_at(e, 0, buf, len, &off);
    return off;
}
