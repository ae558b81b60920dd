/*
 * shm/ring_evfd.c — an fd that becomes readable when a ring has records,
 * for programs that wait in their own epoll/poll loop.
 *
 * A futex word cannot be polled, so a helper thread waits for the ring on
 * the consumer's behalf and signals an eventfd. It parks exactly as a
 * blocking consumer would (reader_parked := 1, full fence, re-check the
 * cursors, FUTEX_WAIT), so the producer's ordinary wake-up reaches it;
 * the consumer itself must then read with the _nowait calls only (a
 * blocking one would park on the same word).
 *
 * Arming: the helper signals once, then waits until the consumer re-arms
 * (axle_ring_event_rearm, after draining to -EAGAIN). Re-arming with
 * records already waiting signals again at once, so none is ever left
 * unsignalled: the fd behaves level-triggered across a drain and re-arm.
 *
 * The helper wakes at least every 100 ms to notice a stop; close stops and
 * joins it (the thread is the handle's; a forked child does not have it).
 */
#define _GNU_SOURCE
#include "ring_evfd.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct axle__ring_evfd {
    axle__ring_hdr *hdr;
    int fd;         /* the eventfd (owned) */
    uint32_t armed; /* futex word: 1 while the consumer waits for a signal */
    uint32_t stop;  /* set by close */
    pthread_t thread;
};

static void futex_wait_ms(uint32_t *word, uint32_t expected, long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, NULL, 0);
}

static void futex_wake_all(uint32_t *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

/* Records are waiting: the producer's cursor is ahead of the consumer's. */
static bool has_records(const axle__ring_hdr *h)
{
    return __atomic_load_n(&h->head, __ATOMIC_ACQUIRE) !=
           __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE);
}

static void *helper(void *arg)
{
    struct axle__ring_evfd *e = arg;
    while (!__atomic_load_n(&e->stop, __ATOMIC_ACQUIRE)) {
        if (!__atomic_load_n(&e->armed, __ATOMIC_ACQUIRE)) {
            futex_wait_ms(&e->armed, 0, 100);
            continue;
        }
        /* Park as a consumer would; the producer's wake_peer pairs with the fence. */
        __atomic_store_n(&e->hdr->reader_parked, 1, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (!has_records(e->hdr)) {
            futex_wait_ms(&e->hdr->reader_parked, 1, 100);
            continue; /* woken, timed out or spurious: look again */
        }
        __atomic_store_n(&e->hdr->reader_parked, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&e->armed, 0, __ATOMIC_RELEASE);
        uint64_t one = 1;
        (void)!write(e->fd, &one, sizeof one);
    }
    return NULL;
}

int axle_ring_event_fd(axle_ring *r)
{
    if (axle__ring_role_of(r) != AXLE_RING_CONSUMER)
        return -EPERM;
    struct axle__ring_evfd **slot = axle__ring_evfd_slot(r);
    if (*slot)
        return (*slot)->fd;
    struct axle__ring_evfd *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    e->hdr = axle__ring_hdr_of(r);
    e->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (e->fd < 0) {
        int rc = -errno;
        free(e);
        return rc;
    }
    e->armed = 1;
    axle__ring_fence_for_good(r);
    int rc = -pthread_create(&e->thread, NULL, helper, e);
    if (rc < 0) {
        close(e->fd);
        free(e);
        return rc;
    }
    *slot = e;
    return e->fd;
}

int axle_ring_event_rearm(axle_ring *r)
{
    struct axle__ring_evfd *e = *axle__ring_evfd_slot(r);
    if (!e)
        return -EINVAL;
    uint64_t v;
    (void)!read(e->fd, &v, sizeof v); /* clear it (EAGAIN when it was not set) */
    __atomic_store_n(&e->armed, 1, __ATOMIC_RELEASE);
    futex_wake_all(&e->armed);
    return 0;
}

void axle__ring_evfd_stop(axle_ring *r)
{
    struct axle__ring_evfd **slot = axle__ring_evfd_slot(r);
    struct axle__ring_evfd *e = *slot;
    if (!e)
        return;
    __atomic_store_n(&e->stop, 1, __ATOMIC_RELEASE);
    futex_wake_all(&e->armed);
    futex_wake_all(&e->hdr->reader_parked); /* spurious for anyone else: harmless */
    pthread_join(e->thread, NULL);
    close(e->fd);
    free(e);
    *slot = NULL;
}
