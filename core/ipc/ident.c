/*
 * core/ipc/ident.c — an actor's identity (name, uuid, pid) and the tree's
 * shared secret (the cookie). Plain calls: no scheduler, no globals.
 *
 * The uuid is an RFC 4122 version-4 uuid from getrandom(2) (blocking only
 * until the kernel's pool is first initialised, i.e. never after early
 * boot). Its first four bytes are fully random, so the printed short form
 * name@<8 hex> is 32 random bits.
 *
 * Fork story: an axle_uid is caller storage; a forked child that keeps its
 * parent's uid claims its parent's identity (and pid) until it calls
 * axle_uid_init again, which the spawn layer does.
 *
 * The cookie is a secret: a cookie file is refused unless it is a regular
 * file of ours with no group or world bits (checked with fstat on the
 * opened fd, so the file checked is the file read, symlink or not), and the
 * stack copy is wiped before returning. A FIFO or device at the path is
 * refused without blocking (O_NONBLOCK until it is known to be a regular
 * file).
 */
#define _GNU_SOURCE
#include <axle/ipc.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int axle_uid_init(axle_uid *uid, const char *name)
{
    memset(uid, 0, sizeof *uid);
    if (!name || !*name)
        return AXLE_SET_ERR(-EINVAL, "empty actor name");

    size_t n = strnlen(name, sizeof uid->name);
    if (n == sizeof uid->name) {
        /* Truncate to 63 bytes without splitting a UTF-8 sequence. */
        n = sizeof uid->name - 1;
        while (n > 0 && ((unsigned char)name[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(uid->name, name, n);

    for (size_t got = 0; got < sizeof uid->uuid;) {
        ssize_t r = getrandom(uid->uuid + got, sizeof uid->uuid - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            memset(uid, 0, sizeof *uid);
            return AXLE_SET_ERR(-e, "getrandom for the uuid of %s: %s", name, strerror(e));
        }
        got += (size_t)r;
    }
    uid->uuid[6] = (uint8_t)((uid->uuid[6] & 0x0f) | 0x40); /* version 4 */
    uid->uuid[8] = (uint8_t)((uid->uuid[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    uid->pid = (int32_t)getpid();
    return 0;
}

int axle_uid_format(const axle_uid *uid, char *buf, size_t len)
{
    return snprintf(buf, len, "%.*s@%02x%02x%02x%02x", (int)sizeof uid->name, uid->name,
                    uid->uuid[0], uid->uuid[1], uid->uuid[2], uid->uuid[3]);
}

/* Strip trailing "\n" (and "\r\n") and copy into buf; returns the length. */
static int take_cookie(const char *src, size_t n, uint8_t *buf, size_t len, const char *from)
{
    while (n > 0 && (src[n - 1] == '\n' || src[n - 1] == '\r'))
        n--;
    if (n == 0)
        return AXLE_SET_ERR(-EINVAL, "cookie from %s is empty", from);
    if (n > AXLE_COOKIE_MAX)
        return AXLE_SET_ERR(-EINVAL, "cookie from %s is %zu bytes (at most %d)", from, n,
                            AXLE_COOKIE_MAX);
    if (n > len)
        return AXLE_SET_ERR(-EINVAL, "cookie from %s is %zu bytes, the buffer holds %zu", from, n,
                            len);
    memcpy(buf, src, n);
    return (int)n;
}

int axle_cookie_load(const char *path, uint8_t *buf, size_t len)
{
    const char *env = getenv("AXLE_COOKIE");
    if (env)
        return take_cookie(env, strlen(env), buf, len, "$AXLE_COOKIE");
    if (!path)
        return 0;

    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return AXLE_SET_ERR(-errno, "open cookie file %s: %s", path, strerror(errno));
    }

    /* Room for a maximal cookie and a few newlines; more is too long. */
    char tmp[AXLE_COOKIE_MAX + 16];
    size_t n = 0;
    int rc;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        rc = AXLE_SET_ERR(-errno, "stat cookie file %s: %s", path, strerror(errno));
        goto out_close_fd;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = AXLE_SET_ERR(-EPERM, "cookie file %s is not a regular file", path);
        goto out_close_fd;
    }
    if (st.st_uid != geteuid()) {
        rc = AXLE_SET_ERR(-EPERM, "cookie file %s is owned by uid %u, not by us (%u)", path,
                          (unsigned)st.st_uid, (unsigned)geteuid());
        goto out_close_fd;
    }
    if (st.st_mode & 077) {
        rc = AXLE_SET_ERR(-EPERM, "cookie file %s has mode %03o (must be 0600 or stricter)", path,
                          (unsigned)(st.st_mode & 0777));
        goto out_close_fd;
    }

    for (;;) {
        ssize_t r = read(fd, tmp + n, sizeof tmp - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = AXLE_SET_ERR(-errno, "read cookie file %s: %s", path, strerror(errno));
            goto out_wipe;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == sizeof tmp) {
            rc = AXLE_SET_ERR(-EINVAL, "cookie file %s is longer than %d bytes", path,
                              AXLE_COOKIE_MAX);
            goto out_wipe;
        }
    }
    rc = take_cookie(tmp, n, buf, len, path);
out_wipe:
    explicit_bzero(tmp, sizeof tmp);
out_close_fd:
    close(fd);
    return rc;
}
