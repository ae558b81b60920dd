/*
 * core/error.c — error codes and the rich error.
 *
 * A rich error is a heap object owned by exactly one slot at a time: a
 * task's (task->err), the thread's (outside tasks), a nursery's list, or a
 * group's member array. Recording a new error on a slot frees the old one.
 * Allocation failure never loses the code: the functions return it either
 * way, the rich part is simply missing.
 */
#define _GNU_SOURCE
#include "sched.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAMES 32

struct axle_frame {
    const char *func, *file; /* static strings (__func__, __FILE__) */
    int line;
};

struct axle_error {
    int code;                             /* negative */
    char *msg;                            /* owned; may be NULL */
    struct axle_frame frames[MAX_FRAMES]; /* innermost first */
    size_t nframes;
    struct axle_error **members; /* owned, for -AXLE_EGROUP */
    size_t nmembers;
};

/* sched.c: the calling task's (or thread's) slot, and a given task's. */
struct axle_error **axle__error_slot(void);
struct axle_error **axle__task_error_slot(axle_task *t);

static const struct {
    int code;
    const char *name, *msg;
} axle_codes[] = {
#define AXLE__ERR_ROW(name, val, msg) {val, "AXLE_" #name, msg},
    AXLE_ERRNO_MAP(AXLE__ERR_ROW)
#undef AXLE__ERR_ROW
};

const char *axle_strerror(int code)
{
    if (code < 0)
        code = -code;
    for (size_t i = 0; i < sizeof axle_codes / sizeof axle_codes[0]; i++)
        if (axle_codes[i].code == code)
            return axle_codes[i].msg;
    if (code > 0 && code < 4096)
        return strerror(code);
    return "unknown error";
}

const char *axle_errname(int code)
{
    if (code < 0)
        code = -code;
    for (size_t i = 0; i < sizeof axle_codes / sizeof axle_codes[0]; i++)
        if (axle_codes[i].code == code)
            return axle_codes[i].name;
    const char *n = code > 0 && code < 4096 ? strerrorname_np(code) : NULL;
    return n ? n : "E?";
}

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
    free(e->members);
    free(e->msg);
    free(e);
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

static void format_at(const axle_error *e, int depth, char *buf, size_t len, size_t *off)
{
    put(buf, len, off, "%*s%s: %s\n", depth * 2, "", axle_errname(e->code), axle_error_message(e));
    for (size_t i = 0; i < e->nframes; i++)
        put(buf, len, off, "%*s  at %s (%s:%d)\n", depth * 2, "", e->frames[i].func,
            e->frames[i].file, e->frames[i].line);
    for (size_t i = 0; i < e->nmembers; i++) {
        put(buf, len, off, "%*s  [%zu/%zu]\n", depth * 2, "", i + 1, e->nmembers);
        format_at(e->members[i], depth + 2, buf, len, off);
    }
}

size_t axle_error_format(const axle_error *e, char *buf, size_t len)
{
    size_t off = 0;
    if (len)
        buf[0] = 0;
    format_at(e, 0, buf, len, &off);
    return off;
}
