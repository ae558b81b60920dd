/*
 * axle/uid.h — an actor's identity. Callable anywhere.
 */
#ifndef AXLE_UID_H
#define AXLE_UID_H

#include <axle/api.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An actor's identity: name, 16-byte uuid, pid. Printed name@<8 hex>. */
typedef struct axle_uid {
    char name[64];
    uint8_t uuid[16];
    int32_t pid;
} axle_uid;

/*
 * axle_uid_init — name (copied, at most 63 bytes, cut at a UTF-8 character
 * boundary), a fresh random (version 4) uuid, this process's pid.
 * Returns: 0.  Errors: -EINVAL for an empty name; -errno from getrandom.
 */
AXLE_API int axle_uid_init(axle_uid *uid, const char *name);
/* "name@1a2b3c4d" into buf. Returns the length, like snprintf. */
AXLE_API int axle_uid_format(const axle_uid *uid, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
