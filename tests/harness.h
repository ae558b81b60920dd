/*
 * tests/harness.h — the sandbox every axle test runs in.
 *
 * Each check test runs in its own forked process (CK_FORK). The checked
 * fixture below turns that process into a sandbox: its own session, a child
 * subreaper (so orphaned grandchildren come back to it), its own runtime dir
 * and shm prefix. After the body it proves a clean end: no descendant alive
 * or unreaped, the fd count back to where it started, nothing left under
 * /dev/shm with its prefix, no Unix socket file left in its runtime dir.
 *
 * Use:
 *     TCase *tc = axle_test_tcase("name", 10);   // 10 s, times CK_TIMEOUT_MULTIPLIER
 *     tcase_add_test(tc, test_fn);
 * Inside a test, run a scheduler with axle_test_run(main_fn, arg); it
 * asserts that axle_run returns and that no task is left.
 */
#ifndef AXLE_TESTS_HARNESS_H
#define AXLE_TESTS_HARNESS_H

#include <axle/task.h>
#include <check.h>

void axle_test_setup(void);
void axle_test_teardown(void);

/* A TCase with the sandbox fixture and a timeout of seconds. */
TCase *axle_test_tcase(const char *name, double seconds);

/* Add a TCase named name (sandboxed, timeout seconds) holding tests. */
void axle_test_add_case(Suite *s, const char *name, double seconds, const TTest *const *tests,
                        size_t n);
#define ADD_CASE(s, name, seconds, ...)                                           \
    do {                                                                          \
        const TTest *const t_[] = {__VA_ARGS__};                                  \
        axle_test_add_case((s), (name), (seconds), t_, sizeof t_ / sizeof t_[0]); \
    } while (0)

/* Run one suite, print check's summary; returns the process exit status. */
int axle_test_main(Suite *s);

/* axle_run(fn, arg, NULL) and return its result. */
int axle_test_run(axle_fn fn, void *arg);

/* Open fds in this process right now. */
int axle_test_fd_count(void);

/* How many /dev/shm/axle.<pid>.* names exist: what process pid created and
 * has not unlinked (the teardown checks only the test process's own). */
#include <stdbool.h>
#include <sys/types.h>
int axle_test_shm_count(pid_t pid);

/* Whether /dev/shm/axle.<owner>.<key> exists. */
bool axle_test_shm_exists(pid_t owner, const char *key);

/* Every entry of /dev/shm, axle's or not (a private /dev/shm, or "nothing named"). */
int axle_test_dev_shm_entries(void);

#endif
