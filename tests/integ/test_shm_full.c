/*
 * tests/integ/test_shm_full.c — a /dev/shm of the test's own: a full one
 * fails at creation with -ENOSPC (fallocate reserves the pages), never
 * later with a SIGBUS on first touch, and leaves nothing behind; and
 * axle_shm_reap, whose counts only a private /dev/shm makes exact (every
 * root actor on the machine reaps at its startup), removes the segments
 * of dead owners that nobody maps, also when a root starts.
 *
 * Each test runs in its own user and mount namespace (check forks one
 * process per test) with a private 256 KiB tmpfs mounted on /dev/shm, so
 * the machine's /dev/shm is never filled. Where unprivileged user
 * namespaces are off (or the kernel refuses the mount), the suite exits
 * 77 and CTest reports it skipped, with the reason on stderr.
 */
#define _GNU_SOURCE
#include "../harness.h"

#include <axle/actor.h>
#include <axle/shm.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#define TMPFS_SIZE "256k"

/* Write s to path (for uid_map and friends); 0 or -errno. */
static int write_file(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, s, strlen(s));
    int e = n < 0 ? -errno : 0;
    close(fd);
    return e;
}

/*
 * Enter a user and mount namespace (as root in it, if not root already)
 * and mount a small tmpfs on /dev/shm. Returns 0, or -errno with why set.
 */
static int private_dev_shm(const char **why)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    int flags = CLONE_NEWNS | (uid != 0 ? CLONE_NEWUSER : 0);
    if (unshare(flags) < 0) {
        *why = "unshare(CLONE_NEWNS|CLONE_NEWUSER)";
        return -errno;
    }
    if (uid != 0) {
        char map[64];
        write_file("/proc/self/setgroups", "deny");
        snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
        if (write_file("/proc/self/uid_map", map) < 0) {
            *why = "writing uid_map";
            return -EPERM;
        }
        snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
        write_file("/proc/self/gid_map", map);
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        *why = "making mounts private";
        return -errno;
    }
    if (mount("axle-test-shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=" TMPFS_SIZE) < 0) {
        *why = "mounting a tmpfs on /dev/shm";
        return -errno;
    }
    return 0;
}

START_TEST(full_dev_shm_fails_at_creation_with_enospc)
{
    const char *why = "";
    ck_assert_msg(private_dev_shm(&why) == 0, "%s: %s", why, strerror(errno));
    ck_assert_int_eq(axle_test_dev_shm_entries(), 0);

    /* Bigger than the whole tmpfs: refused at creation, nothing left. */
    axle_shm *s = NULL;
    ck_assert_int_eq(axle_shm_create(&s, "big", 1 << 20), -ENOSPC);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(axle_test_dev_shm_entries(), 0);

    /* Room for one, then not for a second: the second fails, the first stays whole. */
    axle_shm *a = NULL, *b = NULL;
    ck_assert_int_eq(axle_shm_create(&a, "a", 160 * 1024), 0);
    memset(axle_shm_base(a), 0xa5, axle_shm_size(a)); /* every page is really there */
    ck_assert_int_eq(axle_shm_create(&b, "b", 160 * 1024), -ENOSPC);
    ck_assert_int_eq(axle_test_dev_shm_entries(), 1);
    axle_shm_close(a);
    ck_assert_int_eq(axle_test_dev_shm_entries(), 0);

    /* A ring too: its creation is a segment's. */
    axle_ring *r = NULL;
    ck_assert_int_eq(axle_ring_create(&r, "ring", 1 << 20, AXLE_RING_PRODUCER), -ENOSPC);
    ck_assert_int_eq(axle_test_dev_shm_entries(), 0);
}
END_TEST

/* A child that creates each of keys and exits without closing them: a dead owner. */
static pid_t orphan_maker(const char *const *keys, int n)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        for (int i = 0; i < n; i++) {
            axle_shm *s;
            if (axle_shm_create(&s, keys[i], 4096) != 0)
                _exit(1);
        }
        _exit(0); /* no close: the names stay */
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    return pid;
}

START_TEST(reap_removes_dead_owners_segments_that_nobody_maps)
{
    const char *why = "";
    ck_assert_msg(private_dev_shm(&why) == 0, "%s: %s", why, strerror(errno));
    const char *keys[] = {"orphan", "held"};
    pid_t dead = orphan_maker(keys, 2);
    axle_shm *held, *live;
    ck_assert_int_eq(axle_shm_attach(&held, "held", dead), 0); /* mapped by us */
    ck_assert_int_eq(axle_shm_create(&live, "live", 64), 0);
    ck_assert_int_eq(axle_shm_reap(), 1);
    ck_assert(!axle_test_shm_exists(dead, "orphan"));
    ck_assert(axle_test_shm_exists(dead, "held"));     /* a live process maps it */
    ck_assert(axle_test_shm_exists(getpid(), "live")); /* a live owner's stays */
    axle_shm_close(held);                              /* not the owner: no unlink */
    ck_assert_int_eq(axle_shm_reap(), 1);
    ck_assert(!axle_test_shm_exists(dead, "held"));
    ck_assert_int_eq(axle_shm_reap(), 0);
    axle_shm_close(live);
    ck_assert_int_eq(axle_test_dev_shm_entries(), 0);
}
END_TEST

static int root_main(void *arg)
{
    (void)arg;
    return 0;
}

/* A tree killed outright left segments behind: the next root removes them as it starts. */
START_TEST(a_root_reaps_dead_trees_segments_at_startup)
{
    const char *why = "";
    ck_assert_msg(private_dev_shm(&why) == 0, "%s: %s", why, strerror(errno));
    const char *keys[] = {"st.1.p", "st.1.c", "topic"};
    pid_t dead = orphan_maker(keys, 3);
    ck_assert_int_eq(axle_test_dev_shm_entries(), 3);
    ck_assert_int_eq(axle_root(&(axle_actor_opts){.name = "reaper"}, root_main, NULL), 0);
    ck_assert(!axle_test_shm_exists(dead, "st.1.p"));
    ck_assert_int_eq(axle_test_dev_shm_entries(), 0);
}
END_TEST

/* Run in a child first: can this machine give us the namespace at all? */
static int probe(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        const char *why = "";
        int rc = private_dev_shm(&why);
        if (rc < 0)
            fprintf(stderr, "test_shm_full: skipped: %s: %s\n", why, strerror(-rc));
        _exit(rc < 0 ? 1 : 0);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int main(void)
{
    if (probe() < 0)
        return 77;
    Suite *s = suite_create("shm_full");
    ADD_CASE(s, "full", 10, full_dev_shm_fails_at_creation_with_enospc);
    ADD_CASE(s, "reap", 10, reap_removes_dead_owners_segments_that_nobody_maps,
             a_root_reaps_dead_trees_segments_at_startup);
    return axle_test_main(s);
}
