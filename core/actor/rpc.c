/*
 * core/actor/rpc.c — exported functions and byte buffers.
 *
 * The registry is filled at program load (AXLE_EXPORT runs a constructor
 * per function) and only read afterwards, so lookups need no locking.
 * Names are "ns.func"; the namespace is what an actor's enable_modules
 * allow-list matches. Plain and context functions share one table, so a
 * name means one function.
 *
 * Fork story: the registry is inherited as is; every actor of one binary
 * exports the same functions and exposes the namespaces it was told to.
 */
#include "actor_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct export
{
    char *name;         /* "ns.func" (owned) */
    size_t ns_len;      /* length of the "ns" part */
    axle_rpc_fn fn;     /* a plain function, or NULL */
    axle_ctx_fn ctx_fn; /* a context function, or NULL */
};

static struct export *exports; /* Invariant: names unique */
static size_t nexports, cap_exports;

int axle_buf_set(axle_buf *b, const void *data, size_t len)
{
    if (len > b->cap) {
        uint8_t *d = realloc(b->data, len);
        if (!d)
            return AXLE_SET_ERR(-ENOMEM, "no memory for a %zu-byte buffer", len);
        b->data = d;
        b->cap = len;
    }
    if (len)
        memcpy(b->data, data, len);
    b->len = len;
    return 0;
}

void axle_buf_free(axle_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static const struct export *lookup(const char *name)
{
    for (size_t i = 0; i < nexports; i++)
        if (strcmp(exports[i].name, name) == 0)
            return &exports[i];
    return NULL;
}

/* Export one of fn / ctx_fn under name; who: the API's name, for messages. */
static int export(const char *who, const char *name, axle_rpc_fn fn, axle_ctx_fn ctx_fn)
{
    const char *dot = name ? strrchr(name, '.') : NULL;
    if (!dot || dot == name || !dot[1] || (!fn && !ctx_fn))
        return AXLE_SET_ERR(-EINVAL, "%s: '%s' is not \"ns.func\"", who, name ? name : "(null)");
    if (lookup(name))
        return AXLE_SET_ERR(-EINVAL, "%s: '%s' is already exported", who, name);
    if (nexports == cap_exports) {
        size_t cap = cap_exports ? 2 * cap_exports : 32;
        struct export *e = realloc(exports, cap * sizeof *e);
        if (!e)
            return AXLE_SET_ERR(-ENOMEM, "%s: out of memory", who);
        exports = e;
        cap_exports = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return AXLE_SET_ERR(-ENOMEM, "%s: out of memory", who);
    exports[nexports++] = (struct export){copy, (size_t)(dot - name), fn, ctx_fn};
    return 0;
}

int axle_rpc_register(const char *name, axle_rpc_fn fn)
{
    return export("axle_rpc_register", name, fn, NULL);
}

int axle_ctx_register(const char *name, axle_ctx_fn fn)
{
    return export("axle_ctx_register", name, NULL, fn);
}

axle_rpc_fn axle__rpc_lookup(const char *name)
{
    const struct export *e = lookup(name);
    return e ? e->fn : NULL;
}

axle_ctx_fn axle__ctx_lookup(const char *name)
{
    const struct export *e = lookup(name);
    return e ? e->ctx_fn : NULL;
}

bool axle__ns_exposed(const char *ns, size_t ns_len, char *const *mods, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(mods[i]) == ns_len && memcmp(mods[i], ns, ns_len) == 0)
            return true;
    return false;
}
