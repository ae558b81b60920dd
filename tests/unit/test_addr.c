/*
 * tests/unit/test_addr.c — multiaddr parsing and formatting, the runtime
 * directory, default Unix addresses, actor uids, cookies, and the socket
 * helpers (listening with stale Unix socket recovery, TCP tuning).
 *
 * No scheduler: every call here is a plain one. The socket helpers
 * (core/ipc/sock.c) are private to libaxle and hidden from libaxle.so, so
 * this file compiles sock.c in; it calls only exported functions
 * (axle_addr_*, axle_runtime_dir, the error and log calls), which resolve
 * to the library as for any user.
 *
 * The harness gives each test its own XDG_RUNTIME_DIR; every socket file
 * and fd a test creates is removed or closed before it ends (the harness
 * checks both).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <axle/error.h>
#include <axle/ipc.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../harness.h"

#include "../../core/ipc/sock.c"

/* ---------------------------------------------------------------- helpers */

/* The last rich error's message contains needle. */
static void assert_msg_has(const char *needle)
{
    const axle_error *e = axle_error_last();
    ck_assert_ptr_nonnull(e);
    const char *m = axle_error_message(e);
    ck_assert_msg(strstr(m, needle), "error message \"%s\" does not name \"%s\"", m, needle);
}

static axle_addr parse_ok(const char *s)
{
    axle_addr a;
    int rc = axle_addr_parse(&a, s);
    ck_assert_msg(rc == 0, "parse %s: %d (%s)", s, rc, axle_errname(rc));
    return a;
}

/* format(parse(s)) == want, and parse(want) is the same address. */
static axle_addr round_trip(const char *s, const char *want)
{
    axle_addr a = parse_ok(s);
    char buf[AXLE_ADDR_STRLEN];
    int n = axle_addr_format(&a, buf, sizeof buf);
    ck_assert_int_eq(n, (int)strlen(want));
    ck_assert_str_eq(buf, want);
    axle_addr b = parse_ok(buf);
    ck_assert(axle_addr_equal(&a, &b));
    return a;
}

static char *runtime_dir(void)
{
    static char buf[PATH_MAX];
    int n = axle_runtime_dir(buf, sizeof buf);
    ck_assert_int_eq(n, (int)strlen(buf));
    return buf;
}

/* A Unix address for <runtime dir>/<base>. */
static axle_addr unix_addr(const char *base)
{
    char s[PATH_MAX];
    snprintf(s, sizeof s, "/unix%s/%s", runtime_dir(), base);
    return parse_ok(s);
}

static bool path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Connect a blocking stream socket to a; returns the fd or -errno. */
static int connect_to(const axle_addr *a)
{
    int s = axle__socket(a);
    ck_assert_int_ge(s, 0);
    if (connect(s, &a->u.sa, a->len) < 0) {
        int e = errno;
        close(s);
        return -e;
    }
    return s;
}

/* A pid that was alive a moment ago and is now dead and reaped. */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(0);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return pid;
}

static void write_file(const char *path, const char *data, size_t n, mode_t mode)
{
    unlink(path); /* a 0400 or foreign file from before could not be opened */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fchmod(fd, mode), 0);
    ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
    close(fd);
}

/* ------------------------------------------------------ parse and format */

START_TEST(addr_ip4_round_trips)
{
    axle_addr a = round_trip("/ip4/127.0.0.1/tcp/1616", "/ip4/127.0.0.1/tcp/1616");
    ck_assert_int_eq(a.kind, AXLE_ADDR_TCP4);
    ck_assert_int_eq(a.len, sizeof(struct sockaddr_in));
    ck_assert_int_eq(a.u.in4.sin_family, AF_INET);
    ck_assert_uint_eq(ntohs(a.u.in4.sin_port), 1616);
    ck_assert_uint_eq(ntohl(a.u.in4.sin_addr.s_addr), 0x7f000001u);
    round_trip("/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/tcp/0");
    round_trip("/ip4/255.255.255.255/tcp/65535", "/ip4/255.255.255.255/tcp/65535");
}
END_TEST

START_TEST(addr_ip6_round_trips)
{
    axle_addr a = round_trip("/ip6/::1/tcp/0", "/ip6/::1/tcp/0");
    ck_assert_int_eq(a.kind, AXLE_ADDR_TCP6);
    ck_assert_int_eq(a.len, sizeof(struct sockaddr_in6));
    ck_assert_int_eq(a.u.in6.sin6_family, AF_INET6);
    ck_assert(IN6_IS_ADDR_LOOPBACK(&a.u.in6.sin6_addr));
    /* The full form formats compressed, and that parses to the same. */
    round_trip("/ip6/2001:0db8:0000:0000:0000:0000:0000:0001/tcp/80", "/ip6/2001:db8::1/tcp/80");
    round_trip("/ip6/::ffff:1.2.3.4/tcp/5", "/ip6/::ffff:1.2.3.4/tcp/5");
    round_trip("/ip6/fe80::1:2/tcp/65535", "/ip6/fe80::1:2/tcp/65535");
    round_trip("/ip6/::/tcp/1", "/ip6/::/tcp/1");
}
END_TEST

START_TEST(addr_unix_round_trips)
{
    const char *path = "/run/user/0/axle/a@1.sock";
    axle_addr a = round_trip("/unix/run/user/0/axle/a@1.sock", "/unix/run/user/0/axle/a@1.sock");
    ck_assert_int_eq(a.kind, AXLE_ADDR_UNIX);
    ck_assert_int_eq(a.u.un.sun_family, AF_UNIX);
    ck_assert_str_eq(a.u.un.sun_path, path);
    ck_assert_int_eq(a.len, offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
    round_trip("/unix/x", "/unix/x");

    /* Only len counts: an unnamed socket (an accepted peer) is "/unix". */
    axle_addr u;
    memset(&u, 'g', sizeof u);
    u.kind = AXLE_ADDR_UNIX;
    u.u.un.sun_family = AF_UNIX;
    u.len = sizeof(sa_family_t);
    char buf[AXLE_ADDR_STRLEN];
    ck_assert_int_eq(axle_addr_format(&u, buf, sizeof buf), 5);
    ck_assert_str_eq(buf, "/unix");
    axle_addr v = u;
    v.u.un.sun_path[0] = 'h';
    ck_assert(axle_addr_equal(&u, &v));
    ck_assert(!axle_addr_equal(&u, &a));
}
END_TEST

START_TEST(addr_format_reports_the_full_length_when_truncated)
{
    axle_addr a = parse_ok("/ip4/10.1.2.3/tcp/8080");
    char buf[8];
    ck_assert_int_eq(axle_addr_format(&a, buf, sizeof buf), (int)strlen("/ip4/10.1.2.3/tcp/8080"));
    ck_assert_str_eq(buf, "/ip4/10");
    ck_assert_int_eq(axle_addr_format(&a, NULL, 0), (int)strlen("/ip4/10.1.2.3/tcp/8080"));
}
END_TEST

START_TEST(addr_equal_compares_kind_host_port_and_path)
{
    axle_addr a = parse_ok("/ip4/127.0.0.1/tcp/1");
    axle_addr b = parse_ok("/ip4/127.0.0.1/tcp/1");
    ck_assert(axle_addr_equal(&a, &b));
    b = parse_ok("/ip4/127.0.0.1/tcp/2");
    ck_assert(!axle_addr_equal(&a, &b));
    b = parse_ok("/ip4/127.0.0.2/tcp/1");
    ck_assert(!axle_addr_equal(&a, &b));
    b = parse_ok("/ip6/::ffff:127.0.0.1/tcp/1"); /* same host, another kind */
    ck_assert(!axle_addr_equal(&a, &b));

    a = parse_ok("/ip6/::1/tcp/7");
    b = parse_ok("/ip6/0:0:0:0:0:0:0:1/tcp/7");
    ck_assert(axle_addr_equal(&a, &b));
    b = parse_ok("/ip6/::2/tcp/7");
    ck_assert(!axle_addr_equal(&a, &b));

    a = parse_ok("/unix/tmp/a.sock");
    b = parse_ok("/unix/tmp/a.sock");
    ck_assert(axle_addr_equal(&a, &b));
    b = parse_ok("/unix/tmp/b.sock");
    ck_assert(!axle_addr_equal(&a, &b));
    b = parse_ok("/ip4/127.0.0.1/tcp/1");
    ck_assert(!axle_addr_equal(&a, &b));
}
END_TEST

START_TEST(addr_is_local_means_loopback_or_unix)
{
    static const struct {
        const char *maddr;
        bool local;
    } cases[] = {
        {"/ip4/127.0.0.1/tcp/1", true},
        {"/ip4/127.255.1.2/tcp/1", true},
        {"/ip4/10.0.0.1/tcp/1", false},
        {"/ip4/0.0.0.0/tcp/1", false},
        {"/ip4/128.0.0.1/tcp/1", false},
        {"/ip6/::1/tcp/1", true},
        {"/ip6/::2/tcp/1", false},
        {"/ip6/::/tcp/1", false},
        {"/ip6/::ffff:127.0.0.1/tcp/1", true},
        {"/ip6/::ffff:10.0.0.1/tcp/1", false},
        {"/ip6/fe80::1/tcp/1", false},
        {"/unix/tmp/x.sock", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        axle_addr a = parse_ok(cases[i].maddr);
        ck_assert_msg(axle_addr_is_local(&a) == cases[i].local, "%s", cases[i].maddr);
    }
}
END_TEST

START_TEST(addr_malformed_is_einval)
{
    static const char *const bad[] = {
        "ip4/1.2.3.4/tcp/1",    /* no leading '/' */
        " /ip4/1.2.3.4/tcp/1",  /* leading junk */
        "/",                    /* empty protocol */
        "//ip4/1.2.3.4/tcp/1",  /* empty protocol */
        "/ip4",                 /* no host */
        "/ip4/",                /* empty host */
        "/ip4//tcp/1",          /* empty host */
        "/ip4/1.2.3.4",         /* no transport */
        "/ip4/1.2.3.4/",        /* empty transport */
        "/ip4/1.2.3.4/tcp",     /* no port */
        "/ip4/1.2.3.4/tcp/",    /* empty port */
        "/ip4/1.2.3/tcp/1",     /* short dotted quad */
        "/ip4/1.2.3.256/tcp/1", /* octet out of range */
        "/ip4/01.2.3.4/tcp/1",  /* octet with a leading zero */
        "/ip4/localhost/tcp/1", /* a name, not an address */
        "/ip4/::1/tcp/1",       /* ip6 host under ip4 */
        "/ip6/1.2.3.4/tcp/1",   /* ip4 host under ip6 */
        "/ip6/[::1]/tcp/1",     /* brackets */
        "/ip6/::1%lo/tcp/1",    /* zone */
        "/ip6/1:2:3:4:5:6:7:8:9/tcp/1",
        "/ip4/1.2.3.4/tcp/65536",  /* port out of range */
        "/ip4/1.2.3.4/tcp/123456", /* too many digits */
        "/ip4/1.2.3.4/tcp/-1",     /* sign */
        "/ip4/1.2.3.4/tcp/+1",     /* sign */
        "/ip4/1.2.3.4/tcp/ 1",     /* space */
        "/ip4/1.2.3.4/tcp/1x",     /* trailing junk */
        "/ip4/1.2.3.4/tcp/0x10",   /* hex */
        "/ip4/1.2.3.4/tcp/080",    /* leading zero */
        "/ip4/1.2.3.4/tcp/1/",     /* empty component after the port */
        "/ip6/::1/tcp/1//",        /* empty component after the port */
        "/unix",                   /* no path */
        "/unix/",                  /* empty path */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        axle_addr a;
        axle_error_clear();
        int rc = axle_addr_parse(&a, bad[i]);
        ck_assert_msg(rc == -EINVAL, "\"%s\": %d (%s), not -EINVAL", bad[i], rc, axle_errname(rc));
        assert_msg_has(bad[i]);
    }
    axle_addr a;
    ck_assert_int_eq(axle_addr_parse(&a, NULL), -EINVAL);
    ck_assert_int_eq(axle_addr_parse(&a, ""), -EINVAL);
}
END_TEST

START_TEST(addr_unsupported_protocol_is_eprotonosupport)
{
    static const char *const unsupported[] = {
        "/dns/localhost/tcp/1",  "/dns4/example.com/tcp/80", "/ip4/1.2.3.4/udp/5",
        "/ip6/::1/udp/5",        "/ip4/1.2.3.4/quic/5",      "/ip4/1.2.3.4/tcp/1/extra",
        "/ip4/1.2.3.4/tcp/1/ws", "/ip6/::1/tcp/1/tls/ws",    "/tcp/1",
        "/unixx/tmp/a.sock",     "/IP4/1.2.3.4/tcp/1",       "/ip4/1.2.3.4/TCP/1",
    };
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        axle_addr a;
        axle_error_clear();
        int rc = axle_addr_parse(&a, unsupported[i]);
        ck_assert_msg(rc == -EPROTONOSUPPORT, "\"%s\": %d (%s), not -EPROTONOSUPPORT",
                      unsupported[i], rc, axle_errname(rc));
        assert_msg_has(unsupported[i]);
    }
}
END_TEST

START_TEST(addr_unix_path_too_long_is_enametoolong)
{
    axle_addr a;
    size_t max = sizeof a.u.un.sun_path - 1; /* 107 bytes and the NUL */
    char s[256] = "/unix/";
    memset(s + 6, 'x', max - 1); /* path: '/' and max - 1 bytes */
    s[6 + max - 1] = 0;
    ck_assert_int_eq(axle_addr_parse(&a, s), 0);
    ck_assert_uint_eq(strlen(a.u.un.sun_path), max);
    ck_assert_int_eq(a.len, sizeof(struct sockaddr_un));
    char back[AXLE_ADDR_STRLEN];
    ck_assert_int_eq(axle_addr_format(&a, back, sizeof back), (int)strlen(s));
    ck_assert_str_eq(back, s);

    strcat(s, "y");
    ck_assert_int_eq(axle_addr_parse(&a, s), -ENAMETOOLONG);
    assert_msg_has(s);
}
END_TEST

/* ----------------------------------------------------- runtime directory */

START_TEST(runtime_dir_is_created_0700_under_xdg)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    ck_assert_ptr_nonnull(xdg);
    char want[PATH_MAX], buf[PATH_MAX];
    snprintf(want, sizeof want, "%s/axle", xdg);
    ck_assert(!path_exists(want));

    umask(022);
    ck_assert_int_eq(axle_runtime_dir(buf, sizeof buf), (int)strlen(want));
    ck_assert_str_eq(buf, want);
    struct stat st;
    ck_assert_int_eq(lstat(want, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 07777, 0700);
    ck_assert_uint_eq(st.st_uid, geteuid());

    /* Existing and ours: accepted as it is. */
    ck_assert_int_eq(axle_runtime_dir(buf, sizeof buf), (int)strlen(want));
}
END_TEST

START_TEST(runtime_dir_with_group_or_world_bits_is_eperm)
{
    const char *dir = runtime_dir();
    ck_assert_int_eq(chmod(dir, 0755), 0);
    char buf[PATH_MAX];
    ck_assert_int_eq(axle_runtime_dir(buf, sizeof buf), -EPERM);
    assert_msg_has(dir);
    ck_assert_int_eq(chmod(dir, 0710), 0);
    ck_assert_int_eq(axle_runtime_dir(buf, sizeof buf), -EPERM);
    ck_assert_int_eq(chmod(dir, 0700), 0);
    ck_assert_int_eq(axle_runtime_dir(buf, sizeof buf), (int)strlen(dir));
}
END_TEST

START_TEST(runtime_dir_that_is_not_a_directory_is_eperm)
{
    char path[PATH_MAX], buf[PATH_MAX];
    snprintf(path, sizeof path, "%s/axle", getenv("XDG_RUNTIME_DIR"));
    ck_assert_int_eq(symlink("/tmp", path), 0); /* a planted symlink */
    ck_assert_int_eq(axle_runtime_dir(buf, sizeof buf), -EPERM);
    assert_msg_has(path);
    ck_assert_int_eq(unlink(path), 0);
}
END_TEST

START_TEST(runtime_dir_too_long_for_the_buffer_is_enametoolong)
{
    char buf[8];
    ck_assert_int_eq(axle_runtime_dir(buf, sizeof buf), -ENAMETOOLONG);
}
END_TEST

START_TEST(runtime_dir_falls_back_to_tmp_without_xdg)
{
    char want[64], buf[PATH_MAX];
    snprintf(want, sizeof want, "/tmp/axle-%u", (unsigned)geteuid());
    bool existed = path_exists(want);

    /* Unset, and relative (which the XDG spec says to ignore). */
    const char *xdg_values[] = {NULL, "relative/dir"};
    for (size_t i = 0; i < 2; i++) {
        if (xdg_values[i])
            setenv("XDG_RUNTIME_DIR", xdg_values[i], 1);
        else
            unsetenv("XDG_RUNTIME_DIR");
        int rc = axle_runtime_dir(buf, sizeof buf);
        if (existed) /* the real one, which this test does not own */
            ck_assert_msg(rc == (int)strlen(want) || rc == -EPERM, "rc %d", rc);
        else
            ck_assert_int_eq(rc, (int)strlen(want));
        ck_assert_str_eq(buf, want);
    }
    if (!existed)
        rmdir(want); /* fails only if something else started using it meanwhile */
}
END_TEST

START_TEST(unix_default_is_name_at_pid_dot_sock)
{
    axle_addr a;
    ck_assert_int_eq(axle_addr_unix_default(&a, "worker"), 0);
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/worker@%d.sock", runtime_dir(), (int)getpid());
    ck_assert_int_eq(a.kind, AXLE_ADDR_UNIX);
    ck_assert_str_eq(a.u.un.sun_path, want);
    ck_assert_int_eq(a.len, offsetof(struct sockaddr_un, sun_path) + strlen(want) + 1);

    ck_assert_int_eq(axle_addr_unix_default(&a, "a/b"), -EINVAL);
    assert_msg_has("a/b");
    ck_assert_int_eq(axle_addr_unix_default(&a, ""), -EINVAL);
    ck_assert_int_eq(axle_addr_unix_default(&a, NULL), -EINVAL);

    char name[128];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = 0;
    ck_assert_int_eq(axle_addr_unix_default(&a, name), -ENAMETOOLONG);
}
END_TEST

START_TEST(unix_default_fails_as_the_runtime_dir_does)
{
    const char *dir = runtime_dir();
    ck_assert_int_eq(chmod(dir, 0777), 0);
    axle_addr a;
    ck_assert_int_eq(axle_addr_unix_default(&a, "worker"), -EPERM);
    assert_msg_has(dir);
    ck_assert_int_eq(chmod(dir, 0700), 0);
}
END_TEST

/* -------------------------------------------------------------- identity */

START_TEST(uid_init_names_a_fresh_v4_uuid_and_this_pid)
{
    axle_uid a, b;
    ck_assert_int_eq(axle_uid_init(&a, "root"), 0);
    ck_assert_int_eq(axle_uid_init(&b, "root"), 0);
    ck_assert_str_eq(a.name, "root");
    ck_assert_int_eq(a.pid, getpid());
    ck_assert_int_eq(a.uuid[6] >> 4, 4);      /* version 4 */
    ck_assert_int_eq(a.uuid[8] & 0xc0, 0x80); /* RFC 4122 variant */
    ck_assert(memcmp(a.uuid, b.uuid, sizeof a.uuid) != 0);

    char buf[80], want[80];
    snprintf(want, sizeof want, "root@%02x%02x%02x%02x", a.uuid[0], a.uuid[1], a.uuid[2],
             a.uuid[3]);
    ck_assert_int_eq(axle_uid_format(&a, buf, sizeof buf), 13);
    ck_assert_str_eq(buf, want);
    char small[6];
    ck_assert_int_eq(axle_uid_format(&a, small, sizeof small), 13);
    ck_assert_str_eq(small, "root@");
}
END_TEST

START_TEST(uid_init_truncates_long_names_and_refuses_empty_ones)
{
    axle_uid u;
    char name[100];
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = 0;
    ck_assert_int_eq(axle_uid_init(&u, name), 0);
    ck_assert_uint_eq(strlen(u.name), 63);
    char buf[80];
    ck_assert_int_eq(axle_uid_format(&u, buf, sizeof buf), 63 + 9);

    /* Not in the middle of a UTF-8 sequence: 62 'x' then "é" (2 bytes). */
    memset(name, 'x', 62);
    strcpy(name + 62, "\xc3\xa9");
    ck_assert_int_eq(axle_uid_init(&u, name), 0);
    ck_assert_uint_eq(strlen(u.name), 62);

    ck_assert_int_eq(axle_uid_init(&u, ""), -EINVAL);
    ck_assert_int_eq(axle_uid_init(&u, NULL), -EINVAL);
}
END_TEST

/* ---------------------------------------------------------------- cookie */

/* A path for a cookie file in the test's runtime dir. */
static const char *cookie_path(void)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/cookie", runtime_dir());
    return path;
}

START_TEST(cookie_comes_from_the_environment_first)
{
    const char *path = cookie_path();
    write_file(path, "from-file", 9, 0600);
    setenv("AXLE_COOKIE", "s3cret\n", 1);
    uint8_t buf[AXLE_COOKIE_MAX];
    ck_assert_int_eq(axle_cookie_load(path, buf, sizeof buf), 6);
    ck_assert_mem_eq(buf, "s3cret", 6);
    ck_assert_int_eq(axle_cookie_load(NULL, buf, sizeof buf), 6);

    setenv("AXLE_COOKIE", "", 1);
    ck_assert_int_eq(axle_cookie_load(path, buf, sizeof buf), -EINVAL);
    assert_msg_has("AXLE_COOKIE");
    ck_assert_int_eq(unlink(path), 0);
}
END_TEST

START_TEST(cookie_from_a_0600_file_loses_trailing_newlines)
{
    unsetenv("AXLE_COOKIE");
    const char *path = cookie_path();
    write_file(path, "abc\n", 4, 0600);
    uint8_t buf[AXLE_COOKIE_MAX];
    ck_assert_int_eq(axle_cookie_load(path, buf, sizeof buf), 3);
    ck_assert_mem_eq(buf, "abc", 3);

    write_file(path, "a\nb\r\n\n", 6, 0400); /* inner newlines are kept */
    ck_assert_int_eq(axle_cookie_load(path, buf, sizeof buf), 3);
    ck_assert_mem_eq(buf, "a\nb", 3);

    /* Binary, and exactly the maximum. */
    uint8_t big[AXLE_COOKIE_MAX + 1];
    for (size_t i = 0; i < AXLE_COOKIE_MAX; i++)
        big[i] = (uint8_t)(i + 1);
    big[AXLE_COOKIE_MAX] = '\n';
    write_file(path, (const char *)big, sizeof big, 0600);
    ck_assert_int_eq(axle_cookie_load(path, buf, sizeof buf), AXLE_COOKIE_MAX);
    ck_assert_mem_eq(buf, big, AXLE_COOKIE_MAX);
    ck_assert_int_eq(unlink(path), 0);
}
END_TEST

START_TEST(cookie_file_readable_by_others_is_eperm)
{
    unsetenv("AXLE_COOKIE");
    const char *path = cookie_path();
    uint8_t buf[AXLE_COOKIE_MAX];
    static const mode_t modes[] = {0644, 0640, 0604, 0620};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        write_file(path, "abc\n", 4, modes[i]);
        ck_assert_int_eq(axle_cookie_load(path, buf, sizeof buf), -EPERM);
        assert_msg_has(path);
    }
    if (geteuid() == 0) { /* owned by someone else */
        write_file(path, "abc\n", 4, 0600);
        ck_assert_int_eq(chown(path, 65534, 65534), 0);
        ck_assert_int_eq(axle_cookie_load(path, buf, sizeof buf), -EPERM);
        assert_msg_has("owned");
    }
    ck_assert_int_eq(unlink(path), 0);

    /* Not a regular file. */
    ck_assert_int_eq(axle_cookie_load(runtime_dir(), buf, sizeof buf), -EPERM);
}
END_TEST

START_TEST(cookie_empty_or_too_long_is_einval)
{
    unsetenv("AXLE_COOKIE");
    const char *path = cookie_path();
    uint8_t buf[AXLE_COOKIE_MAX];
    write_file(path, "", 0, 0600);
    ck_assert_int_eq(axle_cookie_load(path, buf, sizeof buf), -EINVAL);
    write_file(path, "\n\r\n", 3, 0600);
    ck_assert_int_eq(axle_cookie_load(path, buf, sizeof buf), -EINVAL);
    assert_msg_has(path);

    char big[4096];
    memset(big, 'k', sizeof big);
    write_file(path, big, AXLE_COOKIE_MAX + 1, 0600);
    ck_assert_int_eq(axle_cookie_load(path, buf, sizeof buf), -EINVAL);
    write_file(path, big, sizeof big, 0600);
    ck_assert_int_eq(axle_cookie_load(path, buf, sizeof buf), -EINVAL);
    /* Fits AXLE_COOKIE_MAX but not the caller's buffer. */
    write_file(path, big, 10, 0600);
    ck_assert_int_eq(axle_cookie_load(path, buf, 9), -EINVAL);
    ck_assert_int_eq(unlink(path), 0);

    big[AXLE_COOKIE_MAX + 1] = 0;
    setenv("AXLE_COOKIE", big, 1);
    ck_assert_int_eq(axle_cookie_load(NULL, buf, sizeof buf), -EINVAL);
}
END_TEST

START_TEST(cookie_absent_is_zero)
{
    unsetenv("AXLE_COOKIE");
    uint8_t buf[AXLE_COOKIE_MAX];
    ck_assert_int_eq(axle_cookie_load(NULL, buf, sizeof buf), 0);
    ck_assert_int_eq(axle_cookie_load(cookie_path(), buf, sizeof buf), 0);
}
END_TEST

/* --------------------------------------------------------------- sockets */

START_TEST(socket_has_the_address_family)
{
    static const char *const maddrs[] = {"/ip4/127.0.0.1/tcp/0", "/ip6/::1/tcp/0", "/unix/x"};
    static const int families[] = {AF_INET, AF_INET6, AF_UNIX};
    for (size_t i = 0; i < 3; i++) {
        axle_addr a = parse_ok(maddrs[i]);
        int fd = axle__socket(&a);
        ck_assert_int_ge(fd, 0);
        int dom = -1, type = -1;
        socklen_t len = sizeof dom;
        ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &len), 0);
        len = sizeof type;
        ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len), 0);
        ck_assert_int_eq(dom, families[i]);
        ck_assert_int_eq(type, SOCK_STREAM);
        ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        close(fd);
    }
    axle_addr bad = {0};
    ck_assert_int_eq(axle__socket(&bad), -EAFNOSUPPORT);
}
END_TEST

START_TEST(listen_on_tcp_port_0_resolves_the_port)
{
    static const char *const maddrs[] = {"/ip4/127.0.0.1/tcp/0", "/ip6/::1/tcp/0"};
    for (size_t i = 0; i < 2; i++) {
        axle_addr a = parse_ok(maddrs[i]), bound;
        int fd = axle__listen(&a, 0, &bound);
        if (fd == -EADDRNOTAVAIL || fd == -EAFNOSUPPORT)
            continue; /* no IPv6 here */
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bound.kind, a.kind);
        uint16_t port = a.kind == AXLE_ADDR_TCP4 ? bound.u.in4.sin_port : bound.u.in6.sin6_port;
        ck_assert_uint_ne(ntohs(port), 0);
        ck_assert(!axle_addr_equal(&a, &bound));
        ck_assert(axle_addr_is_local(&bound));

        /* It listens: a connect is accepted. */
        int c = connect_to(&bound);
        ck_assert_int_ge(c, 0);
        int s = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(s, 0);
        close(s);
        close(c);
        close(fd);
    }
}
END_TEST

START_TEST(listen_twice_on_a_tcp_port_is_eaddrinuse)
{
    axle_addr a = parse_ok("/ip4/127.0.0.1/tcp/0"), bound;
    int fd = axle__listen(&a, 16, &bound);
    ck_assert_int_ge(fd, 0);
    char name[AXLE_ADDR_STRLEN];
    axle_addr_format(&bound, name, sizeof name);
    axle_error_clear();
    ck_assert_int_eq(axle__listen(&bound, 16, NULL), -EADDRINUSE);
    assert_msg_has(name);
    close(fd);
}
END_TEST

START_TEST(listen_on_a_live_unix_socket_is_eaddrinuse)
{
    /* A default name (our pid: alive) and a plain name. */
    axle_addr addrs[2];
    ck_assert_int_eq(axle_addr_unix_default(&addrs[0], "srv"), 0);
    addrs[1] = unix_addr("plain.sock");
    for (size_t i = 0; i < 2; i++) {
        axle_addr *a = &addrs[i], bound;
        int fd = axle__listen(a, 0, &bound);
        ck_assert_int_ge(fd, 0);
        ck_assert(axle_addr_equal(a, &bound));
        struct stat st;
        ck_assert_int_eq(lstat(a->u.un.sun_path, &st), 0);
        ck_assert(S_ISSOCK(st.st_mode));

        axle_error_clear();
        ck_assert_int_eq(axle__listen(a, 0, NULL), -EADDRINUSE);
        assert_msg_has(a->u.un.sun_path);
        assert_msg_has("live");

        /* The first listener still owns the path. */
        int c = connect_to(a);
        ck_assert_int_ge(c, 0);
        int s = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(s, 0);
        close(s);
        close(c);
        close(fd);
        axle__unix_unlink(a);
        ck_assert(!path_exists(a->u.un.sun_path));
    }
}
END_TEST

START_TEST(listen_recovers_a_unix_socket_nobody_listens_on)
{
    axle_addr a;
    ck_assert_int_eq(axle_addr_unix_default(&a, "stale"), 0);
    int fd = axle__listen(&a, 0, NULL);
    ck_assert_int_ge(fd, 0);
    close(fd); /* the file stays behind, as after a crash */
    ck_assert(path_exists(a.u.un.sun_path));
    ck_assert_int_eq(connect_to(&a), -ECONNREFUSED);

    fd = axle__listen(&a, 0, NULL);
    ck_assert_int_ge(fd, 0);
    int c = connect_to(&a);
    ck_assert_int_ge(c, 0);
    close(c);
    close(fd);
    axle__unix_unlink(&a);
}
END_TEST

START_TEST(listen_recovers_a_unix_socket_whose_owner_pid_is_dead)
{
    pid_t pid = dead_pid();
    char base[64];
    snprintf(base, sizeof base, "gone@%d.sock", (int)pid);
    axle_addr a = unix_addr(base);

    /* A file left by a closed socket. */
    int fd = axle__listen(&a, 0, NULL);
    ck_assert_int_ge(fd, 0);
    close(fd);
    fd = axle__listen(&a, 0, NULL);
    ck_assert_int_ge(fd, 0);

    /*
     * Even while a socket still listens there (an inherited copy of the
     * dead owner's fd): the pid in the name decides, not the probe.
     */
    int fd2 = axle__listen(&a, 0, NULL);
    ck_assert_int_ge(fd2, 0);
    int c = connect_to(&a);
    ck_assert_int_ge(c, 0);
    int s = accept4(fd2, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    ck_assert_int_ge(s, 0); /* the new listener got it */
    close(s);
    close(c);
    close(fd2);
    close(fd);
    axle__unix_unlink(&a);
}
END_TEST

START_TEST(listen_never_removes_a_path_that_is_not_a_socket)
{
    axle_addr a = unix_addr("file.sock");
    write_file(a.u.un.sun_path, "data", 4, 0600);
    ck_assert_int_eq(axle__listen(&a, 0, NULL), -EADDRINUSE);
    assert_msg_has(a.u.un.sun_path);
    assert_msg_has("not a socket");
    struct stat st;
    ck_assert_int_eq(lstat(a.u.un.sun_path, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_int_eq(unlink(a.u.un.sun_path), 0);
}
END_TEST

START_TEST(listen_creates_missing_dirs_under_the_runtime_dir_only)
{
    char s[PATH_MAX], dir[256];
    /* The runtime dir itself is missing too: listen creates it. */
    snprintf(dir, sizeof dir, "%s/axle/sub", getenv("XDG_RUNTIME_DIR"));
    snprintf(s, sizeof s, "/unix%s/x.sock", dir);
    axle_addr a = parse_ok(s);
    int fd = axle__listen(&a, 0, NULL);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(lstat(dir, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0700);
    close(fd);
    axle__unix_unlink(&a);
    ck_assert_int_eq(rmdir(dir), 0);

    snprintf(s, sizeof s, "/unix%s/elsewhere/x.sock", getenv("XDG_RUNTIME_DIR"));
    a = parse_ok(s);
    ck_assert_int_eq(axle__listen(&a, 0, NULL), -ENOENT);
    assert_msg_has(s);
}
END_TEST

START_TEST(tcp_tune_sets_nodelay_keepalive_and_user_timeout)
{
    axle_addr a = parse_ok("/ip4/127.0.0.1/tcp/0"), bound;
    int fd = axle__listen(&a, 0, &bound);
    ck_assert_int_ge(fd, 0);
    int c = connect_to(&bound);
    ck_assert_int_ge(c, 0);

    static const struct {
        int64_t ns;
        int user_ms, idle, intvl, cnt;
    } cases[] = {
        {5000000000LL, 5000, 2, 1, 3}, /* 2 + 3 x 1 = 5 s */
        {0, 5000, 2, 1, 3},            /* the default */
        {60000000000LL, 60000, 30, 10, 3},
        {1500000LL, 2, 1, 1, 1}, /* 1.5 ms: rounded up */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_int_eq(axle__tcp_tune(c, &bound, cases[i].ns), 0);
        const struct {
            int level, opt, want;
        } opts[] = {
            {IPPROTO_TCP, TCP_USER_TIMEOUT, cases[i].user_ms},
            {IPPROTO_TCP, TCP_NODELAY, 1},
            {SOL_SOCKET, SO_KEEPALIVE, 1},
            {IPPROTO_TCP, TCP_KEEPIDLE, cases[i].idle},
            {IPPROTO_TCP, TCP_KEEPINTVL, cases[i].intvl},
            {IPPROTO_TCP, TCP_KEEPCNT, cases[i].cnt},
        };
        for (size_t j = 0; j < sizeof opts / sizeof opts[0]; j++) {
            int v = -1;
            socklen_t len = sizeof v;
            ck_assert_int_eq(getsockopt(c, opts[j].level, opts[j].opt, &v, &len), 0);
            ck_assert_msg(v == opts[j].want, "case %zu, option %zu: %d, not %d", i, j, v,
                          opts[j].want);
        }
    }

    /* A no-op for Unix sockets. */
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    axle_addr u = parse_ok("/unix/x");
    ck_assert_int_eq(axle__tcp_tune(sv[0], &u, 0), 0);
    close(sv[0]);
    close(sv[1]);

    int s = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    ck_assert_int_ge(s, 0);
    close(s);
    close(c);
    close(fd);
}
END_TEST

START_TEST(unix_unlink_removes_the_file_and_ignores_tcp)
{
    axle_addr a = unix_addr("u.sock");
    int fd = axle__listen(&a, 0, NULL);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert(path_exists(a.u.un.sun_path));
    axle__unix_unlink(&a);
    ck_assert(!path_exists(a.u.un.sun_path));
    axle__unix_unlink(&a); /* already gone: quiet */
    axle_addr t = parse_ok("/ip4/127.0.0.1/tcp/1");
    axle__unix_unlink(&t);
}
END_TEST

/* ------------------------------------------------------------------ suite */

static Suite *addr_suite(void)
{
    Suite *s = suite_create("addr");
    const struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"addr_ip4_round_trips", addr_ip4_round_trips},
        {"addr_ip6_round_trips", addr_ip6_round_trips},
        {"addr_unix_round_trips", addr_unix_round_trips},
        {"addr_format_reports_the_full_length_when_truncated",
         addr_format_reports_the_full_length_when_truncated},
        {"addr_equal_compares_kind_host_port_and_path",
         addr_equal_compares_kind_host_port_and_path},
        {"addr_is_local_means_loopback_or_unix", addr_is_local_means_loopback_or_unix},
        {"addr_malformed_is_einval", addr_malformed_is_einval},
        {"addr_unsupported_protocol_is_eprotonosupport",
         addr_unsupported_protocol_is_eprotonosupport},
        {"addr_unix_path_too_long_is_enametoolong", addr_unix_path_too_long_is_enametoolong},
        {"runtime_dir_is_created_0700_under_xdg", runtime_dir_is_created_0700_under_xdg},
        {"runtime_dir_with_group_or_world_bits_is_eperm",
         runtime_dir_with_group_or_world_bits_is_eperm},
        {"runtime_dir_that_is_not_a_directory_is_eperm",
         runtime_dir_that_is_not_a_directory_is_eperm},
        {"runtime_dir_too_long_for_the_buffer_is_enametoolong",
         runtime_dir_too_long_for_the_buffer_is_enametoolong},
        {"runtime_dir_falls_back_to_tmp_without_xdg", runtime_dir_falls_back_to_tmp_without_xdg},
        {"unix_default_is_name_at_pid_dot_sock", unix_default_is_name_at_pid_dot_sock},
        {"unix_default_fails_as_the_runtime_dir_does", unix_default_fails_as_the_runtime_dir_does},
        {"uid_init_names_a_fresh_v4_uuid_and_this_pid",
         uid_init_names_a_fresh_v4_uuid_and_this_pid},
        {"uid_init_truncates_long_names_and_refuses_empty_ones",
         uid_init_truncates_long_names_and_refuses_empty_ones},
        {"cookie_comes_from_the_environment_first", cookie_comes_from_the_environment_first},
        {"cookie_from_a_0600_file_loses_trailing_newlines",
         cookie_from_a_0600_file_loses_trailing_newlines},
        {"cookie_file_readable_by_others_is_eperm", cookie_file_readable_by_others_is_eperm},
        {"cookie_empty_or_too_long_is_einval", cookie_empty_or_too_long_is_einval},
        {"cookie_absent_is_zero", cookie_absent_is_zero},
        {"socket_has_the_address_family", socket_has_the_address_family},
        {"listen_on_tcp_port_0_resolves_the_port", listen_on_tcp_port_0_resolves_the_port},
        {"listen_twice_on_a_tcp_port_is_eaddrinuse", listen_twice_on_a_tcp_port_is_eaddrinuse},
        {"listen_on_a_live_unix_socket_is_eaddrinuse", listen_on_a_live_unix_socket_is_eaddrinuse},
        {"listen_recovers_a_unix_socket_nobody_listens_on",
         listen_recovers_a_unix_socket_nobody_listens_on},
        {"listen_recovers_a_unix_socket_whose_owner_pid_is_dead",
         listen_recovers_a_unix_socket_whose_owner_pid_is_dead},
        {"listen_never_removes_a_path_that_is_not_a_socket",
         listen_never_removes_a_path_that_is_not_a_socket},
        {"listen_creates_missing_dirs_under_the_runtime_dir_only",
         listen_creates_missing_dirs_under_the_runtime_dir_only},
        {"tcp_tune_sets_nodelay_keepalive_and_user_timeout",
         tcp_tune_sets_nodelay_keepalive_and_user_timeout},
        {"unix_unlink_removes_the_file_and_ignores_tcp",
         unix_unlink_removes_the_file_and_ignores_tcp},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = axle_test_tcase(cases[i].name, 10);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void) { return axle_test_main(addr_suite()); }
