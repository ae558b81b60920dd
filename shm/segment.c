/*
 * shm/segment.c — named shared-memory segments.
 *
 * A segment is the POSIX shm object "/axle.<owner-pid>.<key>". The creator
 * opens it O_CREAT|O_EXCL, mode 0600, reserves its space with fallocate (so
 * a full /dev/shm fails here with -ENOSPC, never later with a SIGBUS on
 * first touch), maps it and closes the fd: the mapping is all a handle
 * keeps. Only the creating pid unlinks, so a forked child that closes an
 * inherited handle never removes its parent's segment. The owner pid in
 * the name is what lets axle_shm_reap() remove the segments of dead owners
 * (those that no process maps any more: it reads /proc/<pid>/maps).
 *
 * The alternative, a sealed memfd (axle_shm_create_memfd): anonymous, so
 * nothing to unlink or reap; its size sealed (F_SEAL_SHRINK, F_SEAL_GROW,
 * then F_SEAL_SEAL) so a peer it is passed to can never make the mapping
 * shorter under us (a SIGBUS) nor grow it; it reaches another process as
 * an fd over a Unix socket (SCM_RIGHTS: axle_shm_send_fd / recv_fd), and
 * attach refuses an fd without those seals. Its handle keeps the fd.
 *
 * Nothing here trusts the contents of a segment; interpreting them (and
 * validating them) is the job of the structures built on top (ring.c).
 * Allocation happens only at create/attach, never on a data path, and an
 * allocation failure is returned as -ENOMEM.
 */
#define _GNU_SOURCE
#include <axle/shm.h>

#include "fdpass.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* "/axle." + pid (at most 10 digits) + "." + key + NUL. */
#define SHM_NAME_MAX (6 + 10 + 1 + AXLE_SHM_KEY_MAX + 1)

struct axle_shm {
    void *base;              /* the mapping; Invariant: never NULL */
    size_t size;             /* bytes mapped */
    int fd;                  /* a memfd segment's fd (owned), or -1 for a named one */
    pid_t owner;             /* the creator's pid, as in the name */
    pid_t creator;           /* getpid() of the creating handle, or 0 for an attach */
    char name[SHM_NAME_MAX]; /* "/axle.<owner>.<key>", for shm_open/shm_unlink */
};

/* 0 if key is 1..AXLE_SHM_KEY_MAX bytes of [A-Za-z0-9._-] not starting with '.'. */
static int key_check(const char *key)
{
    if (!key || !key[0] || key[0] == '.')
        return -EINVAL;
    size_t n = 0;
    for (const char *p = key; *p; p++, n++) {
        char c = *p;
        if (n >= AXLE_SHM_KEY_MAX)
            return -EINVAL;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return -EINVAL;
    }
    return 0;
}

static int name_make(char *name, const char *key, pid_t owner)
{
    int rc = key_check(key);
    if (rc < 0)
        return rc;
    if (owner <= 0)
        return -EINVAL;
    snprintf(name, SHM_NAME_MAX, "/axle.%d.%s", (int)owner, key);
    return 0;
}

int axle_shm_create(axle_shm **out, const char *key, size_t size)
{
    *out = NULL;
    if (size == 0 || size > (size_t)PTRDIFF_MAX)
        return -EINVAL;
    axle_shm *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->fd = -1;
    s->owner = s->creator = getpid();
    int rc = name_make(s->name, key, s->owner);
    if (rc < 0)
        goto out_free;
    int fd = shm_open(s->name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        goto out_free;
    }
    /* fallocate reserves the tmpfs pages now; posix_fallocate as the
     * fallback only for filesystems without it (it may emulate by writing). */
    if (fallocate(fd, 0, 0, (off_t)size) < 0) {
        rc = -errno;
        if (rc == -EOPNOTSUPP) {
            int e = posix_fallocate(fd, 0, (off_t)size);
            rc = -e;
        }
        if (rc < 0)
            goto out_unlink;
    }
    s->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (s->base == MAP_FAILED) {
        rc = -errno;
        goto out_unlink;
    }
    close(fd);
    s->size = size;
    *out = s;
    return 0;

out_unlink:
    close(fd);
    shm_unlink(s->name);
out_free:
    free(s);
    return rc;
}

int axle_shm_attach(axle_shm **out, const char *key, pid_t owner)
{
    *out = NULL;
    axle_shm *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->fd = -1;
    s->owner = owner;
    int rc = name_make(s->name, key, owner);
    if (rc < 0)
        goto out_free;
    int fd = shm_open(s->name, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        goto out_free;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto out_close_fd;
    }
    if (st.st_size <= 0 || (uintmax_t)st.st_size > (uintmax_t)PTRDIFF_MAX) {
        rc = -AXLE_ESHMCORRUPT;
        goto out_close_fd;
    }
    s->size = (size_t)st.st_size;
    s->base = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (s->base == MAP_FAILED) {
        rc = -errno;
        goto out_close_fd;
    }
    close(fd);
    *out = s;
    return 0;

out_close_fd:
    close(fd);
out_free:
    free(s);
    return rc;
}

void axle_shm_close(axle_shm *s)
{
    if (!s)
        return;
    munmap(s->base, s->size);
    if (s->fd >= 0)
        close(s->fd);
    else if (s->creator && s->creator == getpid())
        shm_unlink(s->name);
    free(s);
}

/* ---- sealed memfds ---------------------------------------------------------- */

#define MEMFD_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/* Map fd (size bytes) into a new handle that keeps fd. */
static int memfd_handle(axle_shm **out, int fd, size_t size, pid_t creator)
{
    axle_shm *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (s->base == MAP_FAILED) {
        int rc = -errno;
        free(s);
        return rc;
    }
    s->size = size;
    s->fd = fd;
    s->owner = creator ? creator : 0;
    s->creator = creator;
    snprintf(s->name, sizeof s->name, "memfd:%d", fd);
    *out = s;
    return 0;
}

int axle_shm_create_memfd(axle_shm **out, const char *key, size_t size)
{
    *out = NULL;
    if (size == 0 || size > (size_t)PTRDIFF_MAX)
        return -EINVAL;
    int rc = key_check(key);
    if (rc < 0)
        return rc;
    char name[SHM_NAME_MAX];
    snprintf(name, sizeof name, "axle.%s", key); /* only for /proc/<pid>/fd listings */
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -errno;
    if (fallocate(fd, 0, 0, (off_t)size) < 0) {
        rc = -errno;
        if (rc == -EOPNOTSUPP)
            rc = -posix_fallocate(fd, 0, (off_t)size);
        if (rc < 0)
            goto out_close;
    }
    if (fcntl(fd, F_ADD_SEALS, MEMFD_SEALS) < 0) {
        rc = -errno;
        goto out_close;
    }
    if ((rc = memfd_handle(out, fd, size, getpid())) == 0)
        return 0;
out_close:
    close(fd);
    return rc;
}

int axle_shm_fd(const axle_shm *s) { return s->fd; }

int axle_shm_attach_fd(axle_shm **out, int fd)
{
    *out = NULL;
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0)
        return errno == EINVAL ? -AXLE_ESHMCORRUPT : -errno; /* not a sealable memfd */
    if ((seals & MEMFD_SEALS) != MEMFD_SEALS)
        return -AXLE_ESHMCORRUPT; /* its size could still change under us */
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (st.st_size <= 0 || (uintmax_t)st.st_size > (uintmax_t)PTRDIFF_MAX)
        return -AXLE_ESHMCORRUPT;
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0)
        return -errno;
    int rc = memfd_handle(out, own, (size_t)st.st_size, 0);
    if (rc < 0)
        close(own);
    return rc;
}

int axle_shm_send_fd(int sock, const axle_shm *s)
{
    if (s->fd < 0)
        return -EINVAL; /* a named segment travels by its key */
    return axle__fd_send(sock, "m", 1, s->fd);
}

int axle_shm_recv_fd(int sock, axle_shm **out)
{
    *out = NULL;
    char byte;
    int fd;
    ssize_t n = axle__fd_recv(sock, &byte, 1, &fd);
    if (n == 0) {
        if (fd >= 0)
            close(fd);
        return -EPIPE; /* the sender is gone */
    }
    if (n < 0)
        return (int)n;
    if (fd < 0)
        return -EPROTO;
    int rc = axle_shm_attach_fd(out, fd);
    close(fd); /* attach keeps its own copy */
    return rc;
}

void *axle_shm_base(const axle_shm *s) { return s->base; }
size_t axle_shm_size(const axle_shm *s) { return s->size; }
const char *axle_shm_name(const axle_shm *s) { return s->name; }
pid_t axle_shm_owner(const axle_shm *s) { return s->owner; }

/* The owner pid of a /dev/shm entry named "axle.<pid>.<key>", or 0. */
static pid_t entry_owner(const char *d_name)
{
    if (strncmp(d_name, "axle.", 5) != 0)
        return 0;
    const char *p = d_name + 5;
    long pid = 0;
    const char *start = p;
    while (*p >= '0' && *p <= '9' && p - start < 10)
        pid = pid * 10 + (*p++ - '0');
    if (p == start || *p != '.' || pid <= 0 || pid > INT_MAX)
        return 0;
    return (pid_t)pid;
}

/*
 * The /dev/shm/axle.<pid>.* names a cleanup looks at, each with a mark
 * for "keep it" (reap: some process still maps it). Collected first,
 * unlinked after, so nothing is removed under the directory scan.
 */
struct names {
    char (*name)[NAME_MAX + 1]; /* "axle.<pid>.<key>" (owned) */
    bool *keep;                 /* (owned) */
    size_t n, cap;
};

static int names_add(struct names *l, const char *name)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char(*nn)[NAME_MAX + 1] = realloc(l->name, cap * sizeof *nn);
        if (!nn)
            return -ENOMEM;
        l->name = nn;
        bool *nk = realloc(l->keep, cap * sizeof *nk);
        if (!nk)
            return -ENOMEM;
        l->keep = nk;
        l->cap = cap;
    }
    snprintf(l->name[l->n], sizeof l->name[l->n], "%s", name);
    l->keep[l->n++] = false;
    return 0;
}

/* Every axle segment whose owner pid pick(pid, arg) chooses. 0 or -errno. */
static int names_of(struct names *l, bool (*pick)(pid_t pid, pid_t arg), pid_t arg)
{
    DIR *d = opendir("/dev/shm");
    if (!d)
        return -errno;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        pid_t pid = entry_owner(e->d_name);
        if (pid != 0 && pick(pid, arg))
            rc = names_add(l, e->d_name);
    }
    closedir(d);
    return rc;
}

/* Unlink the names not kept (unless rc < 0) and free l: how many went, or rc. */
static int names_unlink(struct names *l, int rc)
{
    int removed = 0;
    for (size_t i = 0; rc == 0 && i < l->n; i++) {
        char name[NAME_MAX + 2];
        snprintf(name, sizeof name, "/%s", l->name[i]);
        removed += !l->keep[i] && shm_unlink(name) == 0;
    }
    free(l->name);
    free(l->keep);
    return rc < 0 ? rc : removed;
}

/* Keep the names some process maps: "/dev/shm/<name>" in any /proc/<pid>/maps we can read. */
static void names_keep_mapped(struct names *l)
{
    DIR *d = opendir("/proc");
    if (!d)
        return;
    struct dirent *e;
    char path[64], line[PATH_MAX + 256];
    while ((e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%.20s/maps", e->d_name);
        FILE *f = fopen(path, "re");
        if (!f)
            continue; /* gone, or not ours to read (it cannot map our 0600 segments either) */
        while (fgets(line, sizeof line, f)) {
            char *at = strstr(line, "/dev/shm/axle.");
            if (!at)
                continue;
            at += strlen("/dev/shm/");
            at[strcspn(at, " \n")] = 0; /* also drops a " (deleted)" suffix */
            for (size_t i = 0; i < l->n; i++)
                if (!l->keep[i] && strcmp(l->name[i], at) == 0)
                    l->keep[i] = true;
        }
        fclose(f);
    }
    closedir(d);
}

/* Dead for sure (not alive, and not merely not ours to signal). */
static bool owner_dead(pid_t pid, pid_t unused)
{
    (void)unused;
    return kill(pid, 0) < 0 && errno == ESRCH;
}

static bool is_owner(pid_t pid, pid_t owner) { return pid == owner; }

int axle_shm_reap(void)
{
    struct names l = {0};
    int rc = names_of(&l, owner_dead, 0);
    if (rc == 0 && l.n)
        names_keep_mapped(&l);
    return names_unlink(&l, rc);
}

int axle_shm_unlink_owned(pid_t owner)
{
    if (owner <= 0)
        return -EINVAL;
    struct names l = {0};
    return names_unlink(&l, names_of(&l, is_owner, owner));
}
