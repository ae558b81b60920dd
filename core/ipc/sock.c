/*
 * core/ipc/sock.c — listening sockets (with stale Unix socket recovery),
 * plain sockets and TCP tuning. Plain blocking syscalls, all of them
 * instant (socket, bind, listen, setsockopt, and a non-blocking AF_UNIX
 * connect, which is refused or queued at once), so no scheduler is needed.
 *
 * Stale Unix socket files. A process that dies without closing its server
 * leaves its socket file behind and bind fails with EADDRINUSE. When that
 * happens axle__listen decides, in this order:
 *   1. the path is not a socket (a file, a directory, a symlink): never
 *      touched, -EADDRINUSE;
 *   2. the name is <name>@<pid>.sock, pid is not us and kill(pid, 0) says
 *      ESRCH: stale — the owner named in the file is gone, even if an
 *      inherited copy of its listening fd (a forked child that never
 *      accepts) still keeps the socket open;
 *   3. a non-blocking connect: ECONNREFUSED (nobody listens on the inode)
 *      is stale; success or EAGAIN (a full backlog) is a live listener,
 *      -EADDRINUSE; anything else (EACCES, EPROTOTYPE: a live socket of
 *      another type) is -EADDRINUSE too, with the errno in the message.
 * A stale file is unlinked and bind is retried (twice at most).
 *
 * Races not ruled out: (a) two processes recovering the same stale path at
 * once may each unlink and bind, and the first one's listener is then
 * unreachable; (b) a prober that looks between another process's bind and
 * listen sees ECONNREFUSED and removes a file that is about to be live.
 * Both need two processes to claim the same explicit path at the same
 * moment; default names carry the pid, so they never collide. (A lock on
 * the directory would close both, but a lock fd inherited by a forked
 * child would block every later listen there; not worth it yet.) Rule 2
 * trusts the pid in the name, so a directory shared across pid namespaces
 * must not use default names.
 *
 * The probe's connect reaches a live server as a peer that closes at once;
 * the server sees it as a handshake that ended early.
 */
#define _GNU_SOURCE
#include "sock.h"

#include <axle/log.h>
#include <errno.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define BACKLOG_DEFAULT 128
/* Stale files removed in one listen before giving up (someone keeps racing). */
#define STALE_RETRIES 2

static int family_of(const axle_addr *a)
{
    switch (a->kind) {
    case AXLE_ADDR_TCP4:
        return AF_INET;
    case AXLE_ADDR_TCP6:
        return AF_INET6;
    case AXLE_ADDR_UNIX:
        return AF_UNIX;
    }
    return -1;
}

/* The multiaddr of a, for messages. */
static const char *name_of(const axle_addr *a, char *buf, size_t len)
{
    if (axle_addr_format(a, buf, len) < 0)
        snprintf(buf, len, "<address of kind %d>", (int)a->kind);
    return buf;
}

int axle__socket(const axle_addr *addr)
{
    char name[AXLE_ADDR_STRLEN];
    int family = family_of(addr);
    if (family < 0)
        return AXLE_SET_ERR(-EAFNOSUPPORT, "socket for an address of unknown kind %d",
                            (int)addr->kind);
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return AXLE_SET_ERR(-errno, "socket for %s: %s", name_of(addr, name, sizeof name),
                            strerror(errno));
    return fd;
}

/*
 * The pid in a default socket name, <name>@<pid>.sock (basename, name not
 * empty, pid decimal without sign or leading zero); 0 for other names.
 */
static pid_t pid_in_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    static const char suffix[] = ".sock";
    if (n < sizeof suffix || strcmp(base + n - (sizeof suffix - 1), suffix) != 0)
        return 0;
    const char *end = base + n - (sizeof suffix - 1);
    const char *at = end;
    while (at > base && at[-1] != '@')
        at--;
    if (at <= base + 1 || at == end || *at == '0') /* no '@', empty name or pid, leading 0 */
        return 0;
    long pid = 0;
    for (const char *p = at; p < end; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        pid = pid * 10 + (*p - '0');
        if (pid > INT_MAX)
            return 0;
    }
    return (pid_t)pid;
}

/*
 * Whether the existing socket file at addr's path is stale (the order and
 * the reasons are in the note at the top).
 * Returns: 1 stale (why says so), 0 in use (why says so).
 */
static int unix_stale(const axle_addr *addr, char *why, size_t len)
{
    const char *path = addr->u.un.sun_path;
    struct stat st;
    if (lstat(path, &st) < 0) {
        int e = errno;
        snprintf(why, len, "cannot stat it: %s", strerrorname_np(e));
        return e == ENOENT; /* gone since bind: bind again */
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(why, len, "the path exists and is not a socket");
        return 0;
    }

    pid_t pid = pid_in_name(path);
    if (pid > 0 && pid != getpid() && kill(pid, 0) < 0 && errno == ESRCH) {
        snprintf(why, len, "its owner, pid %d, is dead", (int)pid);
        return 1;
    }

    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0) {
        snprintf(why, len, "cannot probe it: socket: %s", strerrorname_np(errno));
        return 0;
    }
    int rc = connect(s, &addr->u.sa, addr->len);
    int e = errno;
    close(s);
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS) {
        snprintf(why, len, "a live listener accepts on it");
        return 0;
    }
    if (e == ECONNREFUSED) {
        snprintf(why, len, "nobody listens on it");
        return 1;
    }
    if (e == ENOENT) {
        snprintf(why, len, "vanished");
        return 1;
    }
    snprintf(why, len, "probing it failed with %s", strerrorname_np(e));
    return 0;
}

/*
 * Create the directories between axle_runtime_dir and the socket file
 * (0700), when the path is under the runtime dir. Returns 0 when it made
 * (or found) them all, -1 when the path is elsewhere or mkdir failed.
 */
static int make_parent(const axle_addr *addr)
{
    char path[sizeof addr->u.un.sun_path];
    int n = axle_runtime_dir(path, sizeof path);
    if (n < 0)
        return -1;
    const char *want = addr->u.un.sun_path;
    if (strncmp(want, path, (size_t)n) != 0 || want[n] != '/')
        return -1;
    snprintf(path, sizeof path, "%s", want);
    for (char *p = path + n + 1; (p = strchr(p, '/')); p++) {
        *p = 0;
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return 0;
}

/* Bind a Unix socket, recovering a stale file; returns 0 or the error. */
static int bind_unix(int fd, const axle_addr *addr, const char *name)
{
    bool made_parent = false;
    int removed = 0;
    for (;;) {
        if (bind(fd, &addr->u.sa, addr->len) == 0)
            return 0;
        int e = errno;
        if (e == ENOENT && !made_parent) {
            made_parent = true;
            if (make_parent(addr) == 0)
                continue;
        }
        if (e != EADDRINUSE)
            return AXLE_SET_ERR(-e, "bind %s: %s", name, strerror(e));

        char why[96];
        if (removed == STALE_RETRIES || !unix_stale(addr, why, sizeof why)) {
            if (removed == STALE_RETRIES)
                snprintf(why, sizeof why, "still in use after removing %d stale files", removed);
            return AXLE_SET_ERR(-EADDRINUSE, "%s: address in use (%s)", name, why);
        }
        if (unlink(addr->u.un.sun_path) < 0 && errno != ENOENT)
            return AXLE_SET_ERR(-errno, "%s: removing the stale socket file (%s): %s", name, why,
                                strerror(errno));
        axle_log_runtime("removed stale socket file %s: %s", name, why);
        removed++;
    }
}

int axle__listen(const axle_addr *addr, int backlog, axle_addr *bound)
{
    char name[AXLE_ADDR_STRLEN];
    name_of(addr, name, sizeof name);
    int fd = axle__socket(addr);
    if (fd < 0)
        return AXLE_ERR_FRAME(fd);

    int rc, one = 1;
    if (addr->kind == AXLE_ADDR_UNIX) {
        rc = bind_unix(fd, addr, name);
        if (rc < 0)
            goto out_close_fd;
    } else {
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
            rc = AXLE_SET_ERR(-errno, "%s: SO_REUSEADDR: %s", name, strerror(errno));
            goto out_close_fd;
        }
        if (addr->kind == AXLE_ADDR_TCP6 &&
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) {
            rc = AXLE_SET_ERR(-errno, "%s: IPV6_V6ONLY: %s", name, strerror(errno));
            goto out_close_fd;
        }
        if (bind(fd, &addr->u.sa, addr->len) < 0) {
            if (errno == EADDRINUSE)
                rc = AXLE_SET_ERR(-EADDRINUSE, "%s: address in use", name);
            else
                rc = AXLE_SET_ERR(-errno, "bind %s: %s", name, strerror(errno));
            goto out_close_fd;
        }
    }

    if (listen(fd, backlog > 0 ? backlog : BACKLOG_DEFAULT) < 0) {
        rc = AXLE_SET_ERR(-errno, "listen %s: %s", name, strerror(errno));
        goto out_unlink;
    }

    if (bound) {
        if (addr->kind == AXLE_ADDR_UNIX) {
            *bound = *addr;
        } else {
            memset(bound, 0, sizeof *bound);
            bound->kind = addr->kind;
            socklen_t len = sizeof bound->u;
            if (getsockname(fd, &bound->u.sa, &len) < 0) {
                rc = AXLE_SET_ERR(-errno, "getsockname %s: %s", name, strerror(errno));
                goto out_close_fd;
            }
            bound->len = len;
        }
    }
    return fd;

out_unlink:
    axle__unix_unlink(addr);
out_close_fd:
    close(fd);
    return rc;
}

/* Keepalive probes: at most this many unanswered before the peer is dead. */
#define KEEPCNT_MAX 3
/* The kernel's caps (MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL). */
#define KEEP_SECONDS_MAX 32767

int axle__tcp_tune(int fd, const axle_addr *addr, int64_t peer_timeout_ns)
{
    if (addr->kind != AXLE_ADDR_TCP4 && addr->kind != AXLE_ADDR_TCP6)
        return 0;
    if (peer_timeout_ns <= 0)
        peer_timeout_ns = AXLE_PEER_TIMEOUT_NS_DEFAULT;

    /*
     * Idle for half the timeout, then up to KEEPCNT_MAX probes spread over
     * the other half: about the timeout in all, never under 2 s (the
     * kernel counts whole seconds). TCP_USER_TIMEOUT bounds unacknowledged
     * data and, with keepalive on, also overrides the probe count (tcp(7)),
     * so the peer is declared dead after peer_timeout_ns either way.
     */
    int64_t ms = (peer_timeout_ns + 999999) / 1000000;
    int64_t secs = (ms + 999) / 1000;
    if (secs > 2 * KEEP_SECONDS_MAX)
        secs = 2 * KEEP_SECONDS_MAX;
    int idle = secs / 2 > 1 ? (int)(secs / 2) : 1;
    int rest = (int)secs - idle;
    int cnt = rest < 1 ? 1 : rest > KEEPCNT_MAX ? KEEPCNT_MAX : rest;
    int intvl = rest / cnt > 1 ? rest / cnt : 1;
    int user_ms = ms > INT_MAX ? INT_MAX : (int)ms;

    const struct {
        int level, opt, val;
        const char *what;
    } opts[] = {
        {IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY"},
        {SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE"},
        {IPPROTO_TCP, TCP_KEEPIDLE, idle, "TCP_KEEPIDLE"},
        {IPPROTO_TCP, TCP_KEEPINTVL, intvl, "TCP_KEEPINTVL"},
        {IPPROTO_TCP, TCP_KEEPCNT, cnt, "TCP_KEEPCNT"},
        {IPPROTO_TCP, TCP_USER_TIMEOUT, user_ms, "TCP_USER_TIMEOUT"},
    };
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (setsockopt(fd, opts[i].level, opts[i].opt, &opts[i].val, sizeof opts[i].val) < 0) {
            char name[AXLE_ADDR_STRLEN];
            return AXLE_SET_ERR(-errno, "%s on %s: %s", opts[i].what,
                                name_of(addr, name, sizeof name), strerror(errno));
        }
    return 0;
}

void axle__unix_unlink(const axle_addr *addr)
{
    if (addr->kind == AXLE_ADDR_UNIX && addr->u.un.sun_path[0])
        unlink(addr->u.un.sun_path);
}
