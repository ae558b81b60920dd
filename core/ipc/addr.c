/*
 * core/ipc/addr.c — multiaddr strings, the runtime directory and default
 * Unix addresses. Plain calls: no scheduler, no globals (nothing to do at
 * fork).
 *
 * Grammar accepted by axle_addr_parse (the only forms axle_addr_format
 * writes, so parse(format(a)) == a):
 *     /ip4/<dotted quad>/tcp/<port>     inet_pton(AF_INET): exactly a.b.c.d
 *     /ip6/<address>/tcp/<port>         inet_pton(AF_INET6): no brackets, no
 *                                       zone; v4-mapped (::ffff:1.2.3.4) ok
 *     /unix/<absolute path>             everything after "/unix" is the path
 * <port> is decimal, 0 to 65535: no sign, no spaces, no leading zero.
 *
 * Which code for which failure (one rule, so callers can tell a typo from
 * a feature we lack):
 *   -EINVAL           the string is malformed: NULL or empty, no leading
 *                     '/', an empty component ("//", a trailing '/'), a
 *                     part missing ("/ip4/1.2.3.4", "/ip4/1.2.3.4/tcp"), a
 *                     bad host or port, an empty unix path ("/unix",
 *                     "/unix/").
 *   -EPROTONOSUPPORT  well-formed so far, but a protocol component names
 *                     something other than ip4/ip6 + tcp or unix:
 *                     "/dns/x/tcp/1", "/ip4/1.2.3.4/udp/5", and anything
 *                     encapsulated after the port ("/ip4/x/tcp/1/ws").
 *   -ENAMETOOLONG     a unix path that does not fit sun_path with its NUL.
 * A relative unix path cannot be written in this grammar (the path always
 * starts with the '/' that ends "/unix"), so ipc.h's "relative unix path"
 * case is the empty path.
 *
 * axle_addr_format writes the canonical form (inet_ntop: "2001:db8::1",
 * "::ffff:1.2.3.4"); format(parse(s)) == s for canonical strings. An
 * unnamed Unix socket (an accepted peer) formats as "/unix", which does
 * not parse; an address of unknown kind formats as "" and returns -EINVAL.
 *
 * Unix paths are compared byte for byte, within the address's len:
 * "/tmp//a" and "/tmp/a" differ. Abstract-namespace sockets are not
 * supported.
 */
#define _GNU_SOURCE
#include <axle/ipc.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Longest host component we pass to inet_pton (INET6_ADDRSTRLEN is 46). */
#define HOST_MAX 64

/*
 * The next component of s (which points at a '/'): its start and length.
 * Returns false at the end of the string.
 */
static bool next_part(const char **s, const char **part, size_t *n)
{
    if (**s != '/')
        return false;
    *part = *s + 1;
    const char *end = strchrnul(*part, '/');
    *n = (size_t)(end - *part);
    *s = end;
    return true;
}

static bool part_is(const char *part, size_t n, const char *name)
{
    return n == strlen(name) && memcmp(part, name, n) == 0;
}

static int parse_port(const char *maddr, const char *p, size_t n, uint16_t *port)
{
    /* Canonical decimal: one string per port, so strings compare as addresses do. */
    if (n == 0 || n > 5 || (n > 1 && p[0] == '0'))
        return AXLE_SET_ERR(-EINVAL, "%s: bad port \"%.*s\"", maddr, (int)n, p);
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return AXLE_SET_ERR(-EINVAL, "%s: bad port \"%.*s\"", maddr, (int)n, p);
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    if (v > 65535)
        return AXLE_SET_ERR(-EINVAL, "%s: port %u out of range", maddr, v);
    *port = (uint16_t)v;
    return 0;
}

/* /ip4/<host>/tcp/<port> or /ip6/..., s just past "/ip4" or "/ip6". */
static int parse_ip(axle_addr *out, const char *maddr, const char *s, int family)
{
    const char *proto = family == AF_INET ? "ip4" : "ip6";
    const char *p;
    size_t n;
    char host[HOST_MAX];

    if (!next_part(&s, &p, &n) || n == 0)
        return AXLE_SET_ERR(-EINVAL, "%s: missing %s host", maddr, proto);
    if (n >= sizeof host)
        return AXLE_SET_ERR(-EINVAL, "%s: bad %s host \"%.*s\"", maddr, proto, (int)n, p);
    memcpy(host, p, n);
    host[n] = 0;
    void *dst = family == AF_INET ? (void *)&out->u.in4.sin_addr : (void *)&out->u.in6.sin6_addr;
    if (inet_pton(family, host, dst) != 1)
        return AXLE_SET_ERR(-EINVAL, "%s: bad %s host \"%s\"", maddr, proto, host);

    if (!next_part(&s, &p, &n) || n == 0)
        return AXLE_SET_ERR(-EINVAL, "%s: missing transport after the host", maddr);
    if (!part_is(p, n, "tcp"))
        return AXLE_SET_ERR(-EPROTONOSUPPORT, "%s: transport \"%.*s\" not supported (tcp only)",
                            maddr, (int)n, p);

    uint16_t port;
    if (!next_part(&s, &p, &n))
        return AXLE_SET_ERR(-EINVAL, "%s: missing port", maddr);
    int rc = parse_port(maddr, p, n, &port);
    if (rc < 0)
        return rc;

    if (next_part(&s, &p, &n)) {
        if (n == 0)
            return AXLE_SET_ERR(-EINVAL, "%s: empty component after the port", maddr);
        return AXLE_SET_ERR(-EPROTONOSUPPORT, "%s: \"%.*s\" after the port not supported", maddr,
                            (int)n, p);
    }

    if (family == AF_INET) {
        out->kind = AXLE_ADDR_TCP4;
        out->u.in4.sin_family = AF_INET;
        out->u.in4.sin_port = htons(port);
        out->len = sizeof out->u.in4;
    } else {
        out->kind = AXLE_ADDR_TCP6;
        out->u.in6.sin6_family = AF_INET6;
        out->u.in6.sin6_port = htons(port);
        out->len = sizeof out->u.in6;
    }
    return 0;
}

/* Fill a Unix address from an absolute path of n bytes. */
static int set_unix(axle_addr *out, const char *maddr, const char *path, size_t n)
{
    if (n + 1 > sizeof out->u.un.sun_path)
        return AXLE_SET_ERR(-ENAMETOOLONG, "%s: unix path of %zu bytes (at most %zu)", maddr, n,
                            sizeof out->u.un.sun_path - 1);
    out->kind = AXLE_ADDR_UNIX;
    out->u.un.sun_family = AF_UNIX;
    memcpy(out->u.un.sun_path, path, n);
    out->u.un.sun_path[n] = 0;
    out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

int axle_addr_parse(axle_addr *out, const char *maddr)
{
    memset(out, 0, sizeof *out);
    if (!maddr || !*maddr)
        return AXLE_SET_ERR(-EINVAL, "empty address");
    if (maddr[0] != '/')
        return AXLE_SET_ERR(-EINVAL, "%s: a multiaddr starts with '/'", maddr);

    const char *s = maddr, *p = maddr + 1;
    size_t n = 0;
    next_part(&s, &p, &n); /* always true: maddr starts with '/' */
    int rc;
    if (n == 0)
        rc = AXLE_SET_ERR(-EINVAL, "%s: empty protocol", maddr);
    else if (part_is(p, n, "ip4"))
        rc = parse_ip(out, maddr, s, AF_INET);
    else if (part_is(p, n, "ip6"))
        rc = parse_ip(out, maddr, s, AF_INET6);
    else if (part_is(p, n, "unix")) {
        /* s is at the '/' that starts the path, or at the end. */
        if (!s[0] || !s[1])
            rc = AXLE_SET_ERR(-EINVAL, "%s: empty unix path", maddr);
        else
            rc = set_unix(out, maddr, s, strlen(s));
    } else
        rc =
            AXLE_SET_ERR(-EPROTONOSUPPORT, "%s: protocol \"%.*s\" not supported", maddr, (int)n, p);
    if (rc < 0)
        memset(out, 0, sizeof *out);
    return rc;
}

/*
 * The length of a Unix address's path: what len covers, up to the first NUL
 * (sun_path need not be NUL-terminated when full). An unnamed socket, such
 * as an accepted peer, has an empty path and formats as "/unix".
 */
static size_t unix_path_len(const axle_addr *a)
{
    size_t off = offsetof(struct sockaddr_un, sun_path);
    size_t max = a->len > off ? a->len - off : 0;
    if (max > sizeof a->u.un.sun_path)
        max = sizeof a->u.un.sun_path;
    return strnlen(a->u.un.sun_path, max);
}

int axle_addr_format(const axle_addr *a, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN];
    switch (a->kind) {
    case AXLE_ADDR_TCP4:
        inet_ntop(AF_INET, &a->u.in4.sin_addr, host, sizeof host);
        return snprintf(buf, len, "/ip4/%s/tcp/%u", host, (unsigned)ntohs(a->u.in4.sin_port));
    case AXLE_ADDR_TCP6:
        inet_ntop(AF_INET6, &a->u.in6.sin6_addr, host, sizeof host);
        return snprintf(buf, len, "/ip6/%s/tcp/%u", host, (unsigned)ntohs(a->u.in6.sin6_port));
    case AXLE_ADDR_UNIX:
        return snprintf(buf, len, "/unix%.*s", (int)unix_path_len(a), a->u.un.sun_path);
    }
    if (len)
        buf[0] = 0;
    return AXLE_SET_ERR(-EINVAL, "address of unknown kind %d", (int)a->kind);
}

bool axle_addr_equal(const axle_addr *a, const axle_addr *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case AXLE_ADDR_TCP4:
        return a->u.in4.sin_port == b->u.in4.sin_port &&
               a->u.in4.sin_addr.s_addr == b->u.in4.sin_addr.s_addr;
    case AXLE_ADDR_TCP6:
        return a->u.in6.sin6_port == b->u.in6.sin6_port &&
               a->u.in6.sin6_scope_id == b->u.in6.sin6_scope_id &&
               memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr, sizeof a->u.in6.sin6_addr) == 0;
    case AXLE_ADDR_UNIX: {
        size_t n = unix_path_len(a);
        return n == unix_path_len(b) && memcmp(a->u.un.sun_path, b->u.un.sun_path, n) == 0;
    }
    }
    return false;
}

bool axle_addr_is_local(const axle_addr *a)
{
    switch (a->kind) {
    case AXLE_ADDR_TCP4:
        return (ntohl(a->u.in4.sin_addr.s_addr) >> 24) == 127;
    case AXLE_ADDR_TCP6: {
        const struct in6_addr *in6 = &a->u.in6.sin6_addr;
        /* ::ffff:127.x.y.z reaches the IPv4 loopback too. */
        return IN6_IS_ADDR_LOOPBACK(in6) || (IN6_IS_ADDR_V4MAPPED(in6) && in6->s6_addr[12] == 127);
    }
    case AXLE_ADDR_UNIX:
        return true;
    }
    return false;
}

/*
 * The runtime directory. XDG_RUNTIME_DIR is used only when it is absolute
 * (the XDG spec says to ignore a relative one). The fallback /tmp/axle-<uid>
 * sits in a world-writable directory, so an existing entry is trusted only
 * if lstat (not stat: a planted symlink is refused) shows a directory of
 * ours with no group or world bits.
 */
int axle_runtime_dir(char *buf, size_t len)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (xdg && xdg[0] == '/')
        n = snprintf(buf, len, "%s/axle", xdg);
    else
        n = snprintf(buf, len, "/tmp/axle-%u", (unsigned)geteuid());
    if (n < 0 || (size_t)n >= len)
        return AXLE_SET_ERR(-ENAMETOOLONG, "runtime dir path longer than %zu bytes", len);

    if (mkdir(buf, 0700) == 0) {
        /* mkdir's mode went through the umask; make it exactly 0700. */
        if (chmod(buf, 0700) < 0)
            return AXLE_SET_ERR(-errno, "chmod %s: %s", buf, strerror(errno));
        return n;
    }
    if (errno != EEXIST)
        return AXLE_SET_ERR(-errno, "mkdir %s: %s", buf, strerror(errno));

    struct stat st;
    if (lstat(buf, &st) < 0)
        return AXLE_SET_ERR(-errno, "stat %s: %s", buf, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return AXLE_SET_ERR(-EPERM, "runtime dir %s exists and is not a directory", buf);
    if (st.st_uid != geteuid())
        return AXLE_SET_ERR(-EPERM, "runtime dir %s is owned by uid %u, not by us (%u)", buf,
                            (unsigned)st.st_uid, (unsigned)geteuid());
    if (st.st_mode & 077)
        return AXLE_SET_ERR(-EPERM, "runtime dir %s has mode %03o (group/world access)", buf,
                            (unsigned)(st.st_mode & 0777));
    return n;
}

int axle_addr_unix_default(axle_addr *out, const char *name)
{
    memset(out, 0, sizeof *out);
    if (!name || !*name)
        return AXLE_SET_ERR(-EINVAL, "empty actor name");
    if (strchr(name, '/'))
        return AXLE_SET_ERR(-EINVAL, "actor name \"%s\" contains '/'", name);

    char dir[sizeof out->u.un.sun_path];
    int rc = axle_runtime_dir(dir, sizeof dir);
    if (rc < 0)
        return AXLE_ERR_FRAME(rc);

    char path[sizeof out->u.un.sun_path + 1];
    int n = snprintf(path, sizeof path, "%s/%s@%d.sock", dir, name, (int)getpid());
    if (n < 0 || (size_t)n >= sizeof out->u.un.sun_path)
        return AXLE_SET_ERR(-ENAMETOOLONG, "unix path %s/%s@%d.sock is too long for sun_path", dir,
                            name, (int)getpid());
    return set_unix(out, path, path, (size_t)n);
}
