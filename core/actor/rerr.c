/*
 * core/actor/rerr.c — remote errors: a rich error packed into an Error
 * message, and an Error message raised as a rich error (rules in rerr.h).
 *
 * Packing trusts its input (our own rich error) and builds a message whose
 * every pointer is malloc'd or protobuf_c_empty_string, so axle__rerr_free
 * can free it whole. Raising trusts nothing: the message came off the wire
 * from a peer that may be buggy or hostile, so every string is cut to a
 * bound, every count is capped, nesting is limited and a malformed uid is
 * recorded as unknown. What a raise allocates is therefore bounded by the
 * size of the decoded message, which the frame decoder has already bounded.
 */
#include "rerr.h"

#include "../sched.h"

#include <axle/error.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds on what a raise copies out of a received message. */
#define TEXT_MAX (64 * 1024) /* message, traceback: bytes */
#define NAME_LEN 63          /* uid names and type names: bytes */
#define FUNC_MAX 255         /* a frame's function: bytes */
#define FILE_MAX 1023        /* a frame's file: bytes */
#define RELAY_MAX 64         /* relay hops kept: the last ones */
#define MEMBERS_MAX 1024     /* members of one group */
#define DEPTH_MAX 8          /* groups nested below the top error */

/* core/error.c: building a remote error (strings copied as given). */
int axle__error_set_remote(struct axle_error *e, const axle_uid *src, const char *src_type,
                           const char *boxed_type, int src_code, const char *tb);
void axle__error_set_relay(struct axle_error *e, axle_uid *hops, size_t n); /* takes hops */
int axle__error_add_src_frame(struct axle_error *e, const char *func, const char *file, int line);
void axle__error_set_members(struct axle_error *e, struct axle_error **members,
                             size_t n); /* takes members */
size_t axle__error_nsrc_frames(const struct axle_error *e);
void axle__error_put_canceller(struct axle_error *e, const axle_uid *who);
void axle__error_put_sender(struct axle_error *e, const axle_uid *who);
void axle__error_record(struct axle_error *e); /* takes e */
/* core/sched.c: the calling task's (or thread's) error slot. */
struct axle_error **axle__error_slot(void);

/* ------------------------------------------------------------- freeing --- */

static void free_str(char *s)
{
    if (s && s != protobuf_c_empty_string)
        free(s);
}

static void uid_free(Axle__Uid *u)
{
    if (!u)
        return;
    free_str(u->name);
    free(u->uuid.data);
    free(u);
}

void axle__rerr_free(Axle__Error *m)
{
    if (!m)
        return;
    uid_free(m->src_uid);
    free_str(m->src_type);
    free_str(m->boxed_type);
    for (size_t i = 0; i < m->n_relay_path; i++)
        uid_free(m->relay_path[i]);
    free(m->relay_path);
    free_str(m->message);
    free_str(m->traceback);
    uid_free(m->canceller);
    uid_free(m->sender);
    for (size_t i = 0; i < m->n_frames; i++) {
        if (!m->frames[i])
            continue;
        free_str(m->frames[i]->func);
        free_str(m->frames[i]->file);
        free(m->frames[i]);
    }
    free(m->frames);
    for (size_t i = 0; i < m->n_members; i++)
        axle__rerr_free(m->members[i]);
    free(m->members);
    free(m->bad_msg.data);
    free(m);
}

/* ------------------------------------------------------------- packing --- */

/* A malloc'd copy of s (NULL: ""); on failure the empty string and *fail. */
static char *str(const char *s, bool *fail)
{
    char *d = strdup(s ? s : "");
    if (!d) {
        *fail = true;
        return (char *)protobuf_c_empty_string;
    }
    return d;
}

static Axle__Uid *uid_pack(const axle_uid *u, bool *fail)
{
    Axle__Uid *m = malloc(sizeof *m);
    uint8_t *uuid = malloc(sizeof u->uuid);
    if (!m || !uuid) {
        free(m);
        free(uuid);
        *fail = true;
        return NULL;
    }
    axle__uid__init(m);
    m->name = strndup(u->name, NAME_LEN);
    if (!m->name) {
        m->name = (char *)protobuf_c_empty_string;
        *fail = true;
    }
    memcpy(uuid, u->uuid, sizeof u->uuid);
    m->uuid = (ProtobufCBinaryData){.len = sizeof u->uuid, .data = uuid};
    m->pid = u->pid;
    return m;
}

/*
 * A local error's traceback: its frames, then its symbolized backtrace.
 * (A remote error's is the source's text, kept as it came.)
 */
static char *local_traceback(const axle_error *e, bool *fail)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f) {
        *fail = true;
        return (char *)protobuf_c_empty_string;
    }
    for (size_t i = 0; i < axle_error_nframes(e); i++) {
        const char *func, *file;
        int line;
        axle_error_frame(e, i, &func, &file, &line);
        fprintf(f, "at %s (%s:%d)\n", func, file, line);
    }
    const char *bt = axle_error_traceback(e);
    if (bt) {
        fputs("backtrace:\n", f);
        for (const char *p = bt; *p;) {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            fprintf(f, "  %.*s\n", (int)n, p);
            p += n + (nl != NULL);
        }
    }
    if (fclose(f) != 0) {
        free(text);
        *fail = true;
        return (char *)protobuf_c_empty_string;
    }
    return text;
}

static Axle__Error *pack_at(int code, const axle_error *e, const axle_uid *self, int depth)
{
    if (e && axle_error_code(e) != code)
        e = NULL; /* a stale error from some other failure: pack the code alone */
    Axle__Error *m = malloc(sizeof *m);
    if (!m)
        return NULL;
    axle__error__init(m);
    bool fail = false;
    bool remote = e && axle_error_is_remote(e);

    /* The boxed type is always ours: the code as this actor raises it. */
    m->boxed_type = str(axle_errname(code), &fail);
    if (remote) {
        m->src_uid = uid_pack(axle_error_src_uid(e), &fail);
        m->src_type = str(axle_error_src_type(e), &fail);
        m->code = axle_error_src_code(e);
        const char *tb = axle_error_traceback(e);
        m->traceback = tb ? str(tb, &fail) : (char *)protobuf_c_empty_string;
    } else {
        m->src_uid = uid_pack(self, &fail);
        m->src_type = str(axle_errname(code), &fail);
        m->code = code;
        m->traceback = e ? local_traceback(e, &fail) : (char *)protobuf_c_empty_string;
    }
    m->message = str(e ? axle_error_message(e) : axle_strerror(code), &fail);
    if (!e)
        goto out;

    /* Relay: the hops so far, then us. */
    if (remote) {
        size_t n = axle_error_relay_len(e);
        m->relay_path = calloc(n + 1, sizeof *m->relay_path);
        if (!m->relay_path) {
            fail = true;
        } else {
            for (size_t i = 0; i < n; i++)
                m->relay_path[m->n_relay_path++] = uid_pack(axle_error_relay(e, i), &fail);
            m->relay_path[m->n_relay_path++] = uid_pack(self, &fail);
        }
    }

    /* The source's frames (a remote error's local ones stay here). */
    size_t nf = axle__error_nsrc_frames(e);
    if (nf) {
        m->frames = calloc(nf, sizeof *m->frames);
        if (!m->frames)
            fail = true;
        for (size_t i = 0; m->frames && i < nf; i++) {
            Axle__Frame *f = malloc(sizeof *f);
            if (!f) {
                fail = true;
                break;
            }
            axle__frame__init(f);
            const char *func, *file;
            axle_error_frame(e, i, &func, &file, &f->line);
            f->func = str(func, &fail);
            f->file = str(file, &fail);
            m->frames[m->n_frames++] = f;
        }
    }

    if (axle_error_canceller(e))
        m->canceller = uid_pack(axle_error_canceller(e), &fail);
    if (axle_error_sender(e))
        m->sender = uid_pack(axle_error_sender(e), &fail);

    size_t nm = depth < DEPTH_MAX ? axle_error_nmembers(e) : 0;
    if (nm > MEMBERS_MAX)
        nm = MEMBERS_MAX;
    if (nm) {
        m->members = calloc(nm, sizeof *m->members);
        if (!m->members)
            fail = true;
        for (size_t i = 0; m->members && i < nm && !fail; i++) {
            const axle_error *x = axle_error_member(e, i);
            m->members[i] = pack_at(axle_error_code(x), x, self, depth + 1);
            if (!m->members[i])
                fail = true;
            else
                m->n_members++;
        }
    }
out:
    if (fail) {
        axle__rerr_free(m);
        return NULL;
    }
    return m;
}

Axle__Error *axle__rerr_pack(int code, const struct axle_error *e, const axle_uid *self)
{
    return pack_at(code, e, self, 0);
}

/* ------------------------------------------------------------- raising --- */

/* Bytes of s to keep for a bound of max: cut at a UTF-8 character boundary. */
static size_t cut(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    if (n <= max)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--; /* s[n] continues a character: cut before that character */
    return n;
}

/* s bounded to max bytes, malloc'd; a cut text says so. NULL on OOM. */
static char *bounded(const char *s, size_t max)
{
    static const char mark[] = " [truncated]";
    if (!s)
        s = "";
    size_t n = cut(s, max);
    bool cut_short = s[n] != '\0';
    char *d = malloc(n + (cut_short ? sizeof mark : 1));
    if (!d)
        return NULL;
    memcpy(d, s, n);
    if (cut_short)
        memcpy(d + n, mark, sizeof mark);
    else
        d[n] = '\0';
    return d;
}

/* A name (uid or type) into dst[NAME_LEN + 1]. */
static void name_copy(char *dst, const char *s)
{
    size_t n = s ? cut(s, NAME_LEN) : 0;
    memcpy(dst, s ? s : "", n);
    dst[n] = '\0';
}

/* A received uid; NULL, a nameless one or a bad uuid reads as unknown. */
static void uid_raise(const Axle__Uid *m, axle_uid *u)
{
    memset(u, 0, sizeof *u);
    if (!m) {
        strcpy(u->name, "?");
        return;
    }
    name_copy(u->name, m->name);
    if (!u->name[0])
        strcpy(u->name, "?");
    if (m->uuid.len == sizeof u->uuid && m->uuid.data)
        memcpy(u->uuid, m->uuid.data, sizeof u->uuid);
    u->pid = m->pid;
}

/* The local code for a boxed type name. */
static int local_code(const char *boxed)
{
    static const int kinds[] = {AXLE_ECTXCANCELLED, AXLE_EMSGTYPE, AXLE_EOVERRUN, AXLE_EGROUP};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(boxed, axle_errname(kinds[i])) == 0)
            return -kinds[i];
    return -AXLE_EREMOTE;
}

/* A rich error for m (and its members, down to DEPTH_MAX), or NULL on OOM. */
static struct axle_error *raise_at(const Axle__Error *m, int depth)
{
    char boxed[NAME_LEN + 1], src_type[NAME_LEN + 1];
    name_copy(boxed, m->boxed_type);
    name_copy(src_type, m->src_type);
    int code = local_code(boxed);

    char *msg = bounded(m->message, TEXT_MAX);
    char *tb = m->traceback && m->traceback[0] ? bounded(m->traceback, TEXT_MAX) : NULL;
    struct axle_error *e = msg ? axle__error_new(code, msg) : NULL;
    free(msg);
    if (!e || (m->traceback && m->traceback[0] && !tb))
        goto out_free;

    axle_uid src;
    uid_raise(m->src_uid, &src);
    if (axle__error_set_remote(e, &src, src_type, boxed, m->code, tb) < 0)
        goto out_free;
    free(tb);
    tb = NULL;

    if (m->n_relay_path && m->relay_path) {
        /* The last RELAY_MAX hops: the one that sent it here matters most. */
        size_t n = m->n_relay_path < RELAY_MAX ? m->n_relay_path : RELAY_MAX;
        const size_t from = m->n_relay_path - n;
        axle_uid *hops = malloc(n * sizeof *hops);
        if (!hops)
            goto out_free;
        for (size_t i = 0; i < n; i++)
            uid_raise(m->relay_path[from + i], &hops[i]);
        axle__error_set_relay(e, hops, n);
    }

    for (size_t i = 0; m->frames && i < m->n_frames; i++) {
        const Axle__Frame *f = m->frames[i];
        if (!f)
            continue;
        char func[FUNC_MAX + 1], file[FILE_MAX + 1];
        size_t nfunc = f->func ? cut(f->func, FUNC_MAX) : 0;
        size_t nfile = f->file ? cut(f->file, FILE_MAX) : 0;
        memcpy(func, f->func ? f->func : "", nfunc);
        func[nfunc] = '\0';
        memcpy(file, f->file ? f->file : "", nfile);
        file[nfile] = '\0';
        int rc = axle__error_add_src_frame(e, func, file, f->line);
        if (rc == -ENOSPC)
            break; /* frames beyond the rich error's room are dropped */
        if (rc < 0)
            goto out_free;
    }

    if (m->canceller) {
        axle_uid who;
        uid_raise(m->canceller, &who);
        axle__error_put_canceller(e, &who);
    }
    if (m->sender) {
        axle_uid who;
        uid_raise(m->sender, &who);
        axle__error_put_sender(e, &who);
    }

    /* Members make sense only for a group, and only so deep. */
    if (code == -AXLE_EGROUP && depth < DEPTH_MAX && m->members && m->n_members) {
        size_t n = m->n_members < MEMBERS_MAX ? m->n_members : MEMBERS_MAX;
        struct axle_error **members = calloc(n, sizeof *members);
        if (!members)
            goto out_free;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (!m->members[i])
                continue;
            members[k] = raise_at(m->members[i], depth + 1);
            if (!members[k]) {
                axle__error_set_members(e, members, k); /* frees what was made */
                goto out_free;
            }
            k++;
        }
        axle__error_set_members(e, members, k);
    }
    return e;

out_free:
    free(tb);
    axle__error_free(e);
    return NULL;
}

int axle__rerr_raise(const Axle__Error *m)
{
    if (!m) {
        axle__error_record(NULL);
        return -AXLE_EREMOTE;
    }
    char boxed[NAME_LEN + 1];
    name_copy(boxed, m->boxed_type);
    int code = local_code(boxed);
    /* Out of memory: the code still comes back, without its rich error. */
    axle__error_record(raise_at(m, 0));
    return code;
}

void axle__error_set_canceller(const axle_uid *who)
{
    struct axle_error *e = *axle__error_slot();
    if (e)
        axle__error_put_canceller(e, who);
}

void axle__error_set_sender(const axle_uid *who)
{
    struct axle_error *e = *axle__error_slot();
    if (e)
        axle__error_put_sender(e, who);
}
