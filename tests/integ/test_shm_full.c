/*
 * tests/integ/test_shm_full.c — a full /dev/shm fails at creation with
 * -ENOSPC (fallocate reserves the pages), never later with a SIGBUS on
 * first touch, and leaves nothing behind.
 *
 * Each test runs in its own user and mount namespace (check forks one
 * process per test) with a private 256 KiB tmpfs mounted on /dev/shm, so
 * the machine's /dev/shm is never filled. Where unprivileged user
 * namespaces are off (or the kernel refuses the mount), the suite exits
 * 77 and CTest reports it skipped, with the reason on stderr.
 */
#define _GNU_SOURCE
#include "../harness.h"

#include <axle/shm.h>

#include <dirent.h>
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

static int entries_in_dev_shm(void)
{
    DIR *d = opendir("/dev/shm");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

START_TEST(full_dev_shm_fails_at_creation_with_enospc)
{
    const char *why = "";
    ck_assert_msg(private_dev_shm(&why) == 0, "%s: %s", why, strerror(errno));
    ck_assert_int_eq(entries_in_dev_shm(), 0);

    /* Bigger than the whole tmpfs: refused at creation, nothing left. */
    axle_shm *s = NULL;
    ck_assert_int_eq(axle_shm_create(&s, "big", 1 << 20), -ENOSPC);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(entries_in_dev_shm(), 0);

    /* Room for one, then not for a second: the second fails, the first stays whole. */
    axle_shm *a = NULL, *b = NULL;
    ck_assert_int_eq(axle_shm_create(&a, "a", 160 * 1024), 0);
    memset(axle_shm_base(a), 0xa5, axle_shm_size(a)); /* every page is really there */
    ck_assert_int_eq(axle_shm_create(&b, "b", 160 * 1024), -ENOSPC);
    ck_assert_int_eq(entries_in_dev_shm(), 1);
    axle_shm_close(a);
    ck_assert_int_eq(entries_in_dev_shm(), 0);

    /* A ring too: its creation is a segment's. */
    axle_ring *r = NULL;
    ck_assert_int_eq(axle_ring_create(&r, "ring", 1 << 20, AXLE_RING_PRODUCER), -ENOSPC);
    ck_assert_int_eq(entries_in_dev_shm(), 0);
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
    return axle_test_main(s);
}
