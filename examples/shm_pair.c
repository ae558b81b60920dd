/*
 * examples/shm_pair.c — a plain C program that uses only libaxle-shm (no
 * actors, no io_uring, nothing but libc underneath): one process writes a
 * million sequence-numbered 64-byte ticks into a shared-memory ring, a
 * forked process reads them, checks that none is missing or out of order,
 * and both print what they saw.
 *
 * Every record is one struct tick, so the ring is a fixed ring
 * (axle_ring_create_fixed): no length prefix, a tick fills exactly one
 * cache line. The writer sends a tick a call, as a feed handler does when
 * each one arrives; the reader takes whatever is waiting, up to 64 ticks,
 * with one axle_ring_recv_burst into an array.
 *
 *   build/examples/shm_pair [count]
 *
 * The ring lives in /dev/shm/axle.<pid>.ticks while both run; the creator
 * unlinks it when it closes it, so nothing is left behind.
 */
#include <axle/shm.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct tick {
    uint64_t seq;
    uint64_t t_ns; /* when it was written, CLOCK_MONOTONIC */
    char symbol[16];
    double price;
    uint8_t pad[24]; /* 64 bytes in all */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The reader: attach the consumer end, check every tick, report. */
static int reader(pid_t owner, uint64_t count)
{
    axle_ring *r;
    int rc = axle_ring_attach(&r, "ticks", owner, AXLE_RING_CONSUMER);
    if (rc < 0) {
        fprintf(stderr, "reader: attach: %s\n", axle_strerror(rc));
        return 1;
    }
    uint64_t lat_sum = 0, t0 = now_ns(), bursts = 0;
    static struct tick t[64];
    for (uint64_t i = 0; i < count; bursts++) {
        int want = count - i < 64 ? (int)(count - i) : 64;
        rc = axle_ring_recv_burst(r, t, want, 5 * 1000000000LL); /* waits for the first */
        for (int k = 0; k < rc; k++, i++) {
            if (t[k].seq != i) {
                fprintf(stderr, "reader: tick %" PRIu64 ": out of order\n", i);
                axle_ring_close(r);
                return 1;
            }
            lat_sum += now_ns() - t[k].t_ns;
        }
        if (rc < 0) {
            fprintf(stderr, "reader: tick %" PRIu64 ": %s\n", i, axle_strerror(rc));
            axle_ring_close(r);
            return 1;
        }
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    printf("reader: %" PRIu64 " ticks in order in %" PRIu64
           " bursts, %.1f M ticks/s, mean latency %.0f ns\n",
           count, bursts, (double)count / secs / 1e6, (double)lat_sum / (double)count);
    axle_ring_close(r);
    fflush(stdout); /* the child ends with _exit */
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t count = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    axle_ring *w;
    int rc = axle_ring_create_fixed(&w, "ticks", 1 << 20, sizeof(struct tick), AXLE_RING_PRODUCER);
    if (rc < 0) {
        fprintf(stderr, "writer: create: %s\n", axle_strerror(rc));
        return 1;
    }
    fflush(NULL);
    pid_t owner = getpid(), child = fork();
    if (child == 0)
        _exit(reader(owner, count));
    if (child < 0) {
        axle_ring_close(w);
        return 1;
    }
    struct tick t = {.symbol = "AXLE", .price = 100.0};
    for (uint64_t i = 0; rc == 0 && i < count; i++) {
        t.seq = i;
        t.price += 0.01;
        t.t_ns = now_ns();
        rc = axle_ring_send(w, &t, sizeof t, 5 * 1000000000LL); /* waits while full */
    }
    if (rc < 0)
        fprintf(stderr, "writer: send: %s\n", axle_strerror(rc));
    else
        printf("writer: %" PRIu64 " ticks sent through %s\n", count,
               "a 1 MiB fixed ring of 64-byte records in /dev/shm");
    int st = 0;
    waitpid(child, &st, 0);
    axle_ring_close(w); /* the creator unlinks the segment */
    return rc == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
