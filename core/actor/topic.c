/*
 * core/actor/topic.c — a broadcast stream across processes
 * (<axle/topic.h>), on the shm broadcast ring (shm/bcast.c).
 *
 * Finding the publisher. The ring's segment is axle.<pid>.topic.<key>; a
 * subscriber scans /dev/shm for that suffix and takes the one whose pid is
 * alive, per a pidfd, so an unreaped zombie is dead (a dead publisher's
 * name may linger until it is reaped). The publisher refuses a key a live
 * process publishes already; two that start at once may both get it (the
 * check and the create are not one step). A subscriber keeps a pidfd of
 * its publisher: the ring's blocking recv notices a dead writer itself,
 * recv_nowait looks at the pidfd when it finds nothing.
 *
 * Framing. Every record ends with one tag byte: DATA, or END, which the
 * publisher's close writes last (and its actor's exit, for a publisher
 * still open then). A subscriber that reads END reports -AXLE_EEOC from
 * then on; one whose publisher died without it gets the ring's
 * -EOWNERDEAD after the last record, reported as -AXLE_ETRANSPORT. The tag
 * costs the publisher one copy into its scratch record (the ring copies
 * from one buffer); the subscriber drops the last byte, no copy.
 *
 * Fork story: publishers are listed per process for the actor-exit end;
 * a handle records its creating pid, and a forked child (a fork-spawned
 * actor) never ends or uses its parent's.
 */
#include "actor_int.h"

#include <axle/shm.h>
#include <axle/topic.h>

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TOPIC_KEY_MAX 64
#define CAPACITY_DEFAULT ((size_t)1 << 20)
#define FIND_POLL_NS (5 * 1000 * 1000LL)    /* how often subscribe looks for a publisher */
#define DEATH_CHECK_NS (10 * 1000 * 1000LL) /* how often an empty recv_nowait looks for it */

enum { TAG_DATA = 0, TAG_END = 1 };

struct axle_topic {
    axle_bcast *b;
    bool publisher;
    pid_t pub_pid;
    bool ended;                  /* the publisher wrote END */
    int end;                     /* a subscriber: 0, or what every later recv returns */
    unsigned run;                /* records since the last yield */
    uint8_t *scratch;            /* the publisher's record: payload + tag */
    axle_buf discard;            /* a subscriber's record when the caller wants none */
    int pub_fd;                  /* a subscriber: a pidfd of the publisher, or -1 */
    int64_t death_checked;       /* a subscriber: when recv_nowait last looked at pub_fd */
    struct axle_topic *next_pub; /* open publishers of this process */
};

/* Open publishers (their creator is this process): ended at the actor's exit. */
static struct axle_topic *publishers;

static int check_key(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > TOPIC_KEY_MAX)
        return AXLE_SET_ERR(-EINVAL, "topic key must be 1 to %d bytes", TOPIC_KEY_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = key[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return AXLE_SET_ERR(-EINVAL, "topic key \"%s\": byte %zu is not one of [A-Za-z0-9._-]",
                                key, i);
    }
    return 0;
}

/* Whether the process behind pidfd fd has exited (a zombie has). */
static bool exited(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

/* Whether pid runs: a zombie (exited, not reaped yet) does not. */
static bool alive(pid_t pid)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return errno != ESRCH && (kill(pid, 0) == 0 || errno == EPERM);
    bool ok = !exited(fd);
    close(fd);
    return ok;
}

/* A live process publishing key on this host, or 0. */
static pid_t find_publisher(const char *key)
{
    char suffix[TOPIC_KEY_MAX + 8];
    snprintf(suffix, sizeof suffix, ".topic.%s", key);
    size_t sl = strlen(suffix);
    DIR *d = opendir("/dev/shm");
    pid_t found = 0;
    struct dirent *e;
    while (d && !found && (e = readdir(d))) {
        const char *n = e->d_name;
        if (strncmp(n, "axle.", 5) != 0)
            continue;
        char *end;
        long pid = strtol(n + 5, &end, 10);
        if (end == n + 5 || pid <= 0 || strcmp(end, suffix) != 0 || strlen(end) != sl)
            continue;
        if (alive((pid_t)pid))
            found = (pid_t)pid;
    }
    if (d)
        closedir(d);
    return found;
}

static axle_topic *topic_new(pid_t pid, bool publisher)
{
    axle_topic *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->publisher = publisher;
    t->pub_pid = pid;
    t->pub_fd = publisher ? -1 : (int)syscall(SYS_pidfd_open, pid, 0);
    return t;
}

int axle_topic_publish(const char *key, size_t capacity, axle_topic **out)
{
    *out = NULL;
    int rc = check_key(key);
    if (rc < 0)
        return rc;
    pid_t other = find_publisher(key);
    if (other)
        return AXLE_SET_ERR(-EEXIST, "topic %s is published by pid %d already", key, (int)other);
    axle_topic *t = topic_new(getpid(), true);
    if (!t)
        return AXLE_SET_ERR(-ENOMEM, "axle_topic_publish: out of memory");
    char seg[TOPIC_KEY_MAX + 8];
    snprintf(seg, sizeof seg, "topic.%s", key);
    rc = axle_bcast_create(&t->b, seg, capacity ? capacity : CAPACITY_DEFAULT);
    if (rc == 0 && !(t->scratch = malloc(axle_bcast_max_record(t->b))))
        rc = -ENOMEM;
    if (rc < 0) {
        axle_bcast_close(t->b);
        free(t);
        return AXLE_SET_ERR(rc, "topic %s: cannot create its ring: %s", key, axle_strerror(rc));
    }
    t->next_pub = publishers;
    publishers = t;
    *out = t;
    return 0;
}

int axle_topic_subscribe(const char *key, int64_t timeout_ns, axle_topic **out)
{
    *out = NULL;
    int rc = check_key(key);
    if (rc < 0)
        return rc;
    int64_t until = timeout_ns < 0 ? AXLE_NO_DEADLINE : axle_now() + timeout_ns;
    for (;;) {
        pid_t pid = find_publisher(key);
        if (pid) {
            char seg[TOPIC_KEY_MAX + 8];
            snprintf(seg, sizeof seg, "topic.%s", key);
            axle_bcast *b;
            rc = axle_bcast_attach(&b, seg, pid);
            if (rc == 0) {
                axle_topic *t = topic_new(pid, false);
                if (!t) {
                    axle_bcast_close(b);
                    return AXLE_SET_ERR(-ENOMEM, "axle_topic_subscribe: out of memory");
                }
                t->b = b;
                *out = t;
                return 0;
            }
            if (rc != -ENOENT && rc != -EAGAIN) /* gone or half made: look again */
                return AXLE_SET_ERR(rc, "topic %s: cannot attach pid %d's ring: %s", key, (int)pid,
                                    axle_strerror(rc));
        }
        if (timeout_ns == 0)
            return AXLE_SET_ERR(-ENOENT, "topic %s: nobody publishes it on this host", key);
        int64_t now = axle_now();
        if (now >= until)
            return AXLE_SET_ERR(-ETIMEDOUT, "topic %s: no publisher appeared in time", key);
        rc = axle_sleep(until - now < FIND_POLL_NS ? until - now : FIND_POLL_NS);
        if (rc < 0)
            return rc;
    }
}

static int publish(axle_topic *t, const void *data, size_t len, uint8_t tag)
{
    if (len > axle_topic_max_record(t))
        return AXLE_SET_ERR(-EMSGSIZE, "axle_topic_send: %zu bytes; a record carries at most %zu",
                            len, axle_topic_max_record(t));
    if (len)
        memcpy(t->scratch, data, len);
    t->scratch[len] = tag;
    return axle_bcast_publish(t->b, t->scratch, len + 1);
}

int axle_topic_send(axle_topic *t, const void *data, size_t len)
{
    if (!t->publisher)
        return AXLE_SET_ERR(-EPERM, "axle_topic_send: a subscriber's handle");
    if (t->ended)
        return AXLE_SET_ERR(-AXLE_ECLOSED, "axle_topic_send: the topic was ended");
    return publish(t, data, len, TAG_DATA);
}

/* Write END once, from the creating process only. */
static void end_stream(axle_topic *t)
{
    if (t->ended || t->pub_pid != getpid())
        return;
    t->ended = true;
    if (publish(t, NULL, 0, TAG_END) < 0)
        axle_error_clear();
}

void axle__topics_end(void)
{
    for (axle_topic *t = publishers; t; t = t->next_pub)
        end_stream(t);
}

static int again(axle_topic *t)
{
    if (t->end == -AXLE_EEOC)
        return AXLE_SET_ERR(t->end, "end of topic stream: publisher pid %d closed it",
                            (int)t->pub_pid);
    return AXLE_SET_ERR(t->end, "topic stream: publisher pid %d died", (int)t->pub_pid);
}

/* One try (timeout 0) or one wait (< 0: forever) for the next record, tag and all. */
static int take(axle_topic *t, axle_buf *out, uint64_t *missed, bool nowait)
{
    size_t len = 0;
    int rc;
    for (;;) {
        rc = nowait ? axle_bcast_recv_nowait(t->b, out->data, out->cap, &len, missed)
                    : axle_bcast_recv(t->b, out->data, out->cap, &len, missed, -1);
        if (rc != -EMSGSIZE)
            break;
        /* Longer than out holds: it stays unread; make room, take it. */
        uint8_t *d = realloc(out->data, len);
        if (!d)
            return AXLE_SET_ERR(-ENOMEM, "axle_topic_recv: no memory for a %zu-byte record", len);
        out->data = d;
        out->cap = len;
        nowait = true; /* it is there */
    }
    if (rc == 0 && len == 0)
        return AXLE_SET_ERR(-AXLE_ESHMCORRUPT, "topic ring of pid %d: a record without its tag",
                            (int)t->pub_pid);
    if (rc == 0) {
        out->len = len - 1;
        if (out->data[len - 1] == TAG_END)
            t->end = -AXLE_EEOC;
    }
    return rc;
}

static int recv_impl(axle_topic *t, axle_buf *out, uint64_t *missed, bool nowait)
{
    if (t->publisher)
        return AXLE_SET_ERR(-EPERM, "axle_topic_recv: the publisher's handle");
    if (t->end)
        return again(t);
    if (!nowait) {
        int rc = axle__fair(&t->run);
        if (rc < 0)
            return rc;
    }
    int rc = take(t, out ? out : &t->discard, missed, nowait);
    if (rc == -EOWNERDEAD)
        t->end = -AXLE_ETRANSPORT;
    if (rc == -EAGAIN && t->pub_fd >= 0 && axle_now() - t->death_checked >= DEATH_CHECK_NS) {
        /* The ring's blocking recv notices a dead writer; a poll must look itself. */
        t->death_checked = axle_now();
        if (exited(t->pub_fd) && (rc = take(t, out ? out : &t->discard, missed, true)) == -EAGAIN)
            t->end = -AXLE_ETRANSPORT; /* everything it wrote has been taken */
    }
    if (t->end)
        return again(t);
    return rc;
}

int axle_topic_recv(axle_topic *t, axle_buf *out, uint64_t *missed)
{
    return recv_impl(t, out, missed, false);
}

int axle_topic_recv_nowait(axle_topic *t, axle_buf *out, uint64_t *missed)
{
    return recv_impl(t, out, missed, true);
}

size_t axle_topic_max_record(const axle_topic *t) { return axle_bcast_max_record(t->b) - 1; }
pid_t axle_topic_publisher(const axle_topic *t) { return t->pub_pid; }

void axle_topic_close(axle_topic *t)
{
    if (!t)
        return;
    if (t->publisher) {
        end_stream(t);
        for (axle_topic **p = &publishers; *p; p = &(*p)->next_pub)
            if (*p == t) {
                *p = t->next_pub;
                break;
            }
    }
    axle_bcast_close(t->b); /* the publisher's also unlinks the name */
    if (t->pub_fd >= 0)
        close(t->pub_fd);
    axle_buf_free(&t->discard);
    free(t->scratch);
    free(t);
}
