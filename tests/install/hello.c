/*
 * tests/install/hello.c — the smallest axle program, built against an
 * installed axle by run.sh: run a scheduler, sleep in its main task, print.
 * Exits 77 (skipped) when io_uring is unavailable.
 */
#include <axle/task.h>
#include <stdio.h>

static int hello_main(void *arg)
{
    (void)arg;
    int64_t t0 = axle_now();
    int rc = axle_sleep(1000000); /* 1 ms */
    if (rc < 0)
        return rc;
    printf("hello from axle: slept %.1f ms\n", (axle_now() - t0) / 1e6);
    return 0;
}

int main(void)
{
    int rc = axle_run(hello_main, NULL, NULL);
    if (rc == -AXLE_ENOURING) {
        fprintf(stderr, "hello: %s: skipped\n", axle_strerror(rc));
        return 77;
    }
    if (rc < 0) {
        fprintf(stderr, "hello: %s\n", axle_strerror(rc));
        return 1;
    }
    return 0;
}
