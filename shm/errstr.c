/*
 * shm/errstr.c — axle_strerror and axle_errname, built from the one code
 * list in <axle/error.h>.
 *
 * They live here, with the shared-memory objects, because those objects go
 * into both libraries: libaxle-shm's users need to print the codes its
 * calls return (-AXLE_ESHMCORRUPT, -AXLE_ELAGGED, ...) without linking
 * libaxle, and libaxle gets the same two functions from the same object.
 */
#define _GNU_SOURCE
#include <axle/error.h>

#include <string.h>

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
    if (code == 0)
        return "OK";
    if (code < 0)
        code = -code;
    for (size_t i = 0; i < sizeof axle_codes / sizeof axle_codes[0]; i++)
        if (axle_codes[i].code == code)
            return axle_codes[i].name;
    const char *n = code > 0 && code < 4096 ? strerrorname_np(code) : NULL;
    return n ? n : "E?";
}
