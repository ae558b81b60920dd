/*
 * tests/unit/test_shm_bcast.c — the broadcast ring (SPMC): every reader
 * gets every record in order, a lapped reader gets -AXLE_ELAGGED with the
 * exact count and resumes at the oldest intact record, padding at the end
 * of the area, exact errors, a damaged header, and a writer in another
 * process racing a reader that must never see a torn record.
 */
#define _GNU_SOURCE
#include "../harness.h"

#include <axle/shm.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define SECOND (1000LL * 1000 * 1000)

static void fill(uint8_t *buf, size_t len, uint64_t seq)
{
    memcpy(buf, &seq, 8);
    for (size_t j = 8; j < len; j++)
        buf[j] = (uint8_t)(seq * 7 + j);
}

static bool intact(const uint8_t *buf, size_t len, uint64_t *seq)
{
    if (len < 8)
        return false;
    memcpy(seq, buf, 8);
    for (size_t j = 8; j < len; j++)
        if (buf[j] != (uint8_t)(*seq * 7 + j))
            return false;
    return true;
}

START_TEST(bcast_every_reader_gets_every_record_in_order)
{
    axle_bcast *w, *r1, *r2, *late;
    ck_assert_int_eq(axle_bcast_create(&w, "bc", 4096), 0);
    ck_assert_int_eq(axle_bcast_attach(&r1, "bc", getpid()), 0);
    ck_assert_int_eq(axle_bcast_attach(&r2, "bc", getpid()), 0);
    uint8_t buf[256];
    size_t len;
    uint64_t seq, missed = 99;
    ck_assert_int_eq(axle_bcast_recv_nowait(r1, buf, sizeof buf, &len, &missed), -EAGAIN);
    for (uint64_t i = 0; i < 5; i++) {
        fill(buf, 8 + i * 10, i);
        ck_assert_int_eq(axle_bcast_publish(w, buf, 8 + i * 10), 0);
    }
    ck_assert_int_eq(axle_bcast_attach(&late, "bc", getpid()), 0); /* starts after record 4 */
    fill(buf, 64, 5);
    ck_assert_int_eq(axle_bcast_publish(w, buf, 64), 0);
    axle_bcast *rs[] = {r1, r2};
    for (int k = 0; k < 2; k++) {
        for (uint64_t i = 0; i < 6; i++) {
            ck_assert_int_eq(axle_bcast_recv(rs[k], buf, sizeof buf, &len, &missed, SECOND), 0);
            ck_assert(intact(buf, len, &seq));
            ck_assert_uint_eq(seq, i);
            ck_assert_uint_eq(len, i < 5 ? 8 + i * 10 : 64);
        }
        ck_assert_int_eq(axle_bcast_recv_nowait(rs[k], buf, sizeof buf, &len, &missed), -EAGAIN);
    }
    ck_assert_int_eq(axle_bcast_recv_nowait(late, buf, sizeof buf, &len, &missed), 0);
    ck_assert(intact(buf, len, &seq));
    ck_assert_uint_eq(seq, 5);
    ck_assert_uint_eq(missed, 99); /* untouched: nothing was missed */
    ck_assert_int_eq(axle_bcast_recv(late, buf, sizeof buf, &len, &missed, 0), -ETIMEDOUT);
    axle_bcast_close(late);
    axle_bcast_close(r2);
    axle_bcast_close(r1);
    axle_bcast_close(w);
}
END_TEST

START_TEST(bcast_lapped_reader_gets_elagged_with_the_exact_count)
{
    axle_bcast *w, *r;
    ck_assert_int_eq(axle_bcast_create(&w, "bcl", 256), 0); /* 8 records of 32 B */
    ck_assert_int_eq(axle_bcast_attach(&r, "bcl", getpid()), 0);
    uint8_t buf[64];
    size_t len;
    uint64_t seq, missed = 0;
    fill(buf, 16, 0);
    ck_assert_int_eq(axle_bcast_publish(w, buf, 16), 0);
    ck_assert_int_eq(axle_bcast_recv_nowait(r, buf, sizeof buf, &len, &missed), 0);
    for (uint64_t i = 1; i <= 20; i++) {
        fill(buf, 16, i);
        ck_assert_int_eq(axle_bcast_publish(w, buf, 16), 0); /* never waits */
    }
    /* Records 13..20 are intact; 1..12 are gone. */
    ck_assert_int_eq(axle_bcast_recv_nowait(r, buf, sizeof buf, &len, &missed), -AXLE_ELAGGED);
    ck_assert_uint_eq(missed, 12);
    for (uint64_t i = 13; i <= 20; i++) {
        ck_assert_int_eq(axle_bcast_recv_nowait(r, buf, sizeof buf, &len, &missed), 0);
        ck_assert(intact(buf, len, &seq));
        ck_assert_uint_eq(seq, i);
    }
    ck_assert_int_eq(axle_bcast_recv_nowait(r, buf, sizeof buf, &len, &missed), -EAGAIN);
    axle_bcast_close(r);
    axle_bcast_close(w);
}
END_TEST

START_TEST(bcast_pads_the_end_and_reads_every_size)
{
    axle_bcast *w, *r;
    ck_assert_int_eq(axle_bcast_create(&w, "bcp", 1024), 0);
    ck_assert_int_eq(axle_bcast_attach(&r, "bcp", getpid()), 0);
    ck_assert_uint_eq(axle_bcast_max_record(w), 1024 - 16);
    static uint8_t buf[1024];
    for (uint64_t i = 0; i < 3000; i++) {
        size_t n = 8 + (i * 37) % (1024 - 16 - 8 + 1);
        fill(buf, n, i);
        ck_assert_int_eq(axle_bcast_publish(w, buf, n), 0);
        size_t len;
        uint64_t seq;
        ck_assert_int_eq(axle_bcast_recv_nowait(r, buf, sizeof buf, &len, NULL), 0);
        ck_assert_uint_eq(len, n);
        ck_assert(intact(buf, len, &seq));
        ck_assert_uint_eq(seq, i);
    }
    axle_bcast_close(r);
    axle_bcast_close(w);
}
END_TEST

START_TEST(bcast_errors_are_exact)
{
    axle_bcast *w, *r;
    ck_assert_int_eq(axle_bcast_create(&w, "bce", 16), -EINVAL);
    ck_assert_ptr_null(w);
    ck_assert_int_eq(axle_bcast_attach(&r, "bce", getpid()), -ENOENT);
    ck_assert_int_eq(axle_bcast_create(&w, "bce", 100), 0); /* 128 */
    ck_assert_uint_eq(axle_bcast_max_record(w), 112);
    ck_assert_int_eq(axle_bcast_attach(&r, "bce", getpid()), 0);
    uint8_t buf[200] = {0};
    size_t len = 0;
    ck_assert_int_eq(axle_bcast_publish(w, buf, 113), -EMSGSIZE);
    ck_assert_int_eq(axle_bcast_publish(r, buf, 8), -EPERM);
    ck_assert_int_eq(axle_bcast_recv_nowait(w, buf, sizeof buf, &len, NULL), -EPERM);
    ck_assert_int_eq(axle_bcast_publish(w, buf, 112), 0);
    ck_assert_int_eq(axle_bcast_recv_nowait(r, buf, 100, &len, NULL), -EMSGSIZE);
    ck_assert_uint_eq(len, 112);
    ck_assert_int_eq(axle_bcast_recv_nowait(r, buf, 112, &len, NULL), 0); /* still there */
    ck_assert_int_eq(axle_bcast_publish(w, buf, 0), 0);
    ck_assert_int_eq(axle_bcast_recv_nowait(r, buf, 0, &len, NULL), 0);
    ck_assert_uint_eq(len, 0);
    axle_bcast_close(r);

    /* a damaged header is refused; a damaged record is -AXLE_ESHMCORRUPT */
    axle_shm *raw;
    ck_assert_int_eq(axle_shm_attach(&raw, "bce", getpid()), 0);
    unsigned char *b = axle_shm_base(raw);
    b[16] ^= 0x10; /* capacity no longer a power of two */
    ck_assert_int_eq(axle_bcast_attach(&r, "bce", getpid()), -AXLE_ESHMCORRUPT);
    b[16] ^= 0x10;
    b[0] ^= 0xff;
    ck_assert_int_eq(axle_bcast_attach(&r, "bce", getpid()), -AXLE_ESHMCORRUPT);
    b[0] ^= 0xff;
    ck_assert_int_eq(axle_bcast_attach(&r, "bce", getpid()), 0);
    ck_assert_int_eq(axle_bcast_publish(w, buf, 8), 0);
    uint64_t tail;
    memcpy(&tail, b + 128, 8);
    uint32_t huge = 1u << 20;
    memcpy(b + 256 + ((tail - 32) & 127), &huge, 4); /* its length */
    ck_assert_int_eq(axle_bcast_recv_nowait(r, buf, sizeof buf, &len, NULL), -AXLE_ESHMCORRUPT);
    axle_bcast_close(r);
    axle_shm_close(raw);
    axle_bcast_close(w);
}
END_TEST

/*
 * A writer in another process publishes as fast as it can into a small
 * ring while we read: every record we get is whole and in order, and what
 * we got plus what we were told we missed is everything, then -EOWNERDEAD.
 */
START_TEST(bcast_reader_racing_a_writer_process_never_sees_a_torn_record)
{
    enum { N = 200000 };
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid_t mid = fork(); /* the writer is a grandchild, so it is never our zombie */
    ck_assert_int_ge(mid, 0);
    if (mid == 0) {
        close(sv[0]);
        pid_t pid = fork();
        if (pid != 0)
            _exit(pid < 0);
        axle_bcast *w;
        char c = 0;
        if (axle_bcast_create(&w, "bcx", 2048) < 0)
            _exit(1);
        pid_t me = getpid();
        if (write(sv[1], &me, sizeof me) != sizeof me || read(sv[1], &c, 1) != 1)
            _exit(2);
        uint8_t buf[300];
        for (uint64_t i = 0; i < N; i++) {
            size_t n = 8 + (i * 13) % 280;
            fill(buf, n, i);
            axle_bcast_publish(w, buf, n);
        }
        axle_bcast_close(w);
        _exit(0);
    }
    close(sv[1]);
    int st;
    ck_assert_int_eq(waitpid(mid, &st, 0), mid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    pid_t writer;
    ck_assert_int_eq(read(sv[0], &writer, sizeof writer), sizeof writer);
    axle_bcast *r;
    ck_assert_int_eq(axle_bcast_attach(&r, "bcx", writer), 0);
    ck_assert_int_eq(write(sv[0], "g", 1), 1);
    uint8_t buf[300];
    uint64_t got = 0, missed_total = 0, next = 0;
    int rc;
    for (;;) {
        size_t len;
        uint64_t missed, seq;
        rc = axle_bcast_recv(r, buf, sizeof buf, &len, &missed, 10 * SECOND);
        if (rc == -AXLE_ELAGGED) {
            missed_total += missed;
            next += missed;
            continue;
        }
        if (rc != 0)
            break;
        ck_assert_msg(intact(buf, len, &seq), "record %llu torn", (unsigned long long)next);
        ck_assert_uint_eq(seq, next);
        ck_assert_uint_eq(len, 8 + (seq * 13) % 280);
        next++;
        got++;
    }
    /* The writer closed (unlinked) and exited: we are told once all is read. */
    ck_assert_int_eq(rc, -EOWNERDEAD);
    ck_assert_uint_eq(got + missed_total, N);
    ck_assert_uint_gt(got, 0);
    axle_bcast_close(r);
    close(sv[0]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shm_bcast");
    ADD_CASE(s, "bcast", 30, bcast_every_reader_gets_every_record_in_order,
             bcast_lapped_reader_gets_elagged_with_the_exact_count,
             bcast_pads_the_end_and_reads_every_size, bcast_errors_are_exact,
             bcast_reader_racing_a_writer_process_never_sees_a_torn_record);
    return axle_test_main(s);
}
