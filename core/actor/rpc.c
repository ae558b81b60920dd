/*
 * core/actor/rpc.c — exported functions and byte buffers.
 *
 * The registry is filled at program load (AXLE_EXPORT runs a constructor
 * per function) and only read afterwards, so lookups need no locking.
 * Names are "ns.func"; the namespace is what an actor's enable_modules
 * allow-list matches.
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
    char *name;    /* "ns.func" (owned) */
    size_t ns_len; /* length of the "ns" part */
    axle_rpc_fn fn;
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

int axle_rpc_register(const char *name, axle_rpc_fn fn)
{
    const char *dot = name ? strrchr(name, '.') : NULL;
    if (!dot || dot == name || !dot[1] || !fn)
        return AXLE_SET_ERR(-EINVAL, "axle_rpc_register: '%s' is not \"ns.func\"",
                            name ? name : "(null)");
    if (axle__rpc_lookup(name))
        return AXLE_SET_ERR(-EINVAL, "axle_rpc_register: '%s' is already exported", name);
    if (nexports == cap_exports) {
        size_t cap = cap_exports ? 2 * cap_exports : 32;
        struct export *e = realloc(exports, cap * sizeof *e);
        if (!e)
            return AXLE_SET_ERR(-ENOMEM, "axle_rpc_register: out of memory");
        exports = e;
        cap_exports = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return AXLE_SET_ERR(-ENOMEM, "axle_rpc_register: out of memory");
    exports[nexports++] = (struct export){copy, (size_t)(dot - name), fn};
    return 0;
}

axle_rpc_fn axle__rpc_lookup(const char *name)
{
    for (size_t i = 0; i < nexports; i++)
        if (strcmp(exports[i].name, name) == 0)
            return exports[i].fn;
    return NULL;
}

bool axle__ns_exposed(const char *ns, size_t ns_len, char *const *mods, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(mods[i]) == ns_len && memcmp(mods[i], ns, ns_len) == 0)
            return true;
    return false;
}
