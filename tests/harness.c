/*
 * tests/harness.c — the per-test sandbox (see harness.h).
 *
 * The fixture is "checked", so it runs inside the forked test process:
 * whatever it sets up dies with that process, and its assertions count as
 * the test's. Teardown reaps descendants for a bounded time before it
 * declares a leak, and kills what is left so nothing outlives the test.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int start_fds;
static char root_dir[96];     /* the suite's dir, made and removed by axle_test_main */
static char runtime_dir[128]; /* this test's, inside root_dir */
static char shm_prefix[64];

/* Entries of dir whose name starts with prefix ("": all but . and ..). */
static int count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.' && strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return n;
}

int axle_test_fd_count(void)
{
    return count_entries("/proc/self/fd", "") - 1; /* the DIR's own fd (-1: none could be read) */
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int nsockets;

static int count_socket(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)path, (void)flag, (void)ftw;
    if (S_ISSOCK(sb->st_mode))
        nsockets++;
    return 0;
}

/* Unix socket files left under the test's runtime dir. */
static int socket_leftovers(void)
{
    nsockets = 0;
    nftw(runtime_dir, count_socket, 16, FTW_PHYS);
    return nsockets;
}

void axle_test_setup(void)
{
    setsid();
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    const char *root = getenv("AXLE_TEST_ROOT");
    snprintf(runtime_dir, sizeof runtime_dir, "%s/%d", root ? root : "/tmp", (int)getpid());
    mkdir(runtime_dir, 0700);
    setenv("XDG_RUNTIME_DIR", runtime_dir, 1);
    snprintf(shm_prefix, sizeof shm_prefix, "axle.%d.", (int)getpid());
    start_fds = axle_test_fd_count();
}

/* SIGKILL every live child (orphans come back to us: we are a subreaper). */
static void kill_children(void)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    for (char *p = strtok(buf, " \n"); p; p = strtok(NULL, " \n"))
        kill((pid_t)atoi(p), SIGKILL);
}

/*
 * Reap every descendant, giving them about 2 s to finish on their own;
 * returns how many had to be killed.
 */
static int reap_descendants(void)
{
    for (int tries = 0; tries < 200; tries++) {
        pid_t p = waitpid(-1, NULL, WNOHANG);
        if (p > 0)
            continue;
        if (p < 0 && errno == ECHILD)
            return 0;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    int left = 0;
    for (;;) {
        kill_children();
        pid_t p = waitpid(-1, NULL, 0);
        if (p < 0)
            break;
        left++;
    }
    return left;
}

/* Unlink every /dev/shm entry whose name starts with prefix; returns how many. */
static int shm_unlink_prefix(const char *prefix)
{
    DIR *d = opendir("/dev/shm");
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    size_t plen = strlen(prefix);
    while ((e = readdir(d)))
        if (strncmp(e->d_name, prefix, plen) == 0) {
            char path[512];
            snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
            unlink(path);
            n++;
        }
    closedir(d);
    return n;
}

static int shm_leftovers(void) { return shm_unlink_prefix(shm_prefix); }

int axle_test_shm_count(pid_t pid)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "axle.%d.", (int)pid);
    return count_entries("/dev/shm", prefix);
}

int axle_test_dev_shm_entries(void) { return count_entries("/dev/shm", ""); }

bool axle_test_shm_exists(pid_t owner, const char *key)
{
    char path[300];
    snprintf(path, sizeof path, "/dev/shm/axle.%d.%s", (int)owner, key);
    return access(path, F_OK) == 0;
}

/*
 * After the run: a test that died (failed assertion, timeout) skipped its
 * teardown, so unlink the segments of every test process of this run (each
 * left its pid as a runtime dir under root_dir).
 */
static void shm_unlink_dead_tests(void)
{
    DIR *d = opendir(root_dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        char prefix[300];
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(prefix, sizeof prefix, "axle.%s.", e->d_name);
        shm_unlink_prefix(prefix);
    }
    closedir(d);
}

void axle_test_teardown(void)
{
    int left = reap_descendants();
    int shm = shm_leftovers();
    int fds = axle_test_fd_count();
    int socks = socket_leftovers();
    ck_assert_msg(left == 0, "%d descendant process(es) outlived the test", left);
    ck_assert_msg(shm == 0, "%d /dev/shm/%s* segment(s) left behind", shm, shm_prefix);
    ck_assert_msg(socks == 0, "%d Unix socket file(s) left under %s", socks, runtime_dir);
    ck_assert_msg(fds == start_fds, "fd count %d at the end, %d at the start", fds, start_fds);
}

TCase *axle_test_tcase(const char *name, double seconds)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, axle_test_setup, axle_test_teardown);
    const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
    double mult = m ? atof(m) : 1.0;
    if (mult < 1.0)
        mult = 1.0;
    tcase_set_timeout(tc, seconds * mult);
    return tc;
}

void axle_test_add_case(Suite *s, const char *name, double seconds, const TTest *const *tests,
                        size_t n)
{
    TCase *tc = axle_test_tcase(name, seconds);
    for (size_t i = 0; i < n; i++)
        tcase_add_test(tc, tests[i]);
    suite_add_tcase(s, tc);
}

int axle_test_main(Suite *s)
{
    /*
     * Every test's runtime dir lives under one dir per suite run, removed
     * here after all tests: a test that dies (failed assertion, timeout)
     * skips its teardown, and this still cleans up after it (its runtime
     * dir and its /dev/shm segments).
     */
    snprintf(root_dir, sizeof root_dir, "/tmp/axle-test.%d", (int)getpid());
    mkdir(root_dir, 0700);
    setenv("AXLE_TEST_ROOT", root_dir, 1);
    SRunner *sr = srunner_create(s);
    if (!getenv("CK_FORK")) /* CK_FORK=no (for a debugger) still works */
        srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    shm_unlink_dead_tests();
    nftw(root_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int axle_test_run(axle_fn fn, void *arg)
{
    int rc = axle_run(fn, arg, NULL);
    return rc;
}
