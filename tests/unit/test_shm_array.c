/*
 * tests/unit/test_shm_array.c — the shm array (tractor's ShmArray): push,
 * prepend, last(n) and row bounds through a token-attached handle, exact
 * errors, hostile segments, and a reader in another process that only
 * ever sees whole rows.
 */
#define _GNU_SOURCE
#include "../harness.h"

#include <axle/shm.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A row of 3 u64 columns: (i, 2i, 3i). */
static void fill(uint64_t *row, uint64_t i)
{
    row[0] = i;
    row[1] = 2 * i;
    row[2] = 3 * i;
}

START_TEST(array_push_prepend_and_last_through_a_token)
{
    axle_shm_array *w, *r;
    ck_assert_int_eq(axle_shm_array_create(&w, "arr", 8, 3, 16, 4), 0);
    axle_shm_array_token tok;
    axle_shm_array_get_token(w, &tok);
    ck_assert_str_eq(tok.key, "arr");
    ck_assert_int_eq(tok.owner, getpid());
    ck_assert_uint_eq(tok.elem_size, 8);
    ck_assert_uint_eq(tok.cols, 3);
    ck_assert_uint_eq(tok.capacity, 16);
    ck_assert_int_eq(axle_shm_array_attach(&r, &tok, true), 0);
    ck_assert_uint_eq(axle_shm_array_len(r), 0);
    ck_assert_uint_eq(axle_shm_array_first(r), 4);
    ck_assert_uint_eq(axle_shm_array_last_index(r), 4);
    ck_assert_ptr_null(axle_shm_array_row(r, 4));

    uint64_t rows[5][3];
    for (int i = 0; i < 5; i++)
        fill(rows[i], 10 + (uint64_t)i);
    ck_assert_int_eq(axle_shm_array_push(w, rows, 5), 0);
    for (int i = 0; i < 2; i++)
        fill(rows[i], 8 + (uint64_t)i);
    ck_assert_int_eq(axle_shm_array_prepend(w, rows, 2), 0);
    ck_assert_uint_eq(axle_shm_array_first(r), 2);
    ck_assert_uint_eq(axle_shm_array_last_index(r), 9);
    ck_assert_uint_eq(axle_shm_array_len(r), 7);
    for (size_t i = 2; i < 9; i++) {
        const uint64_t *row = axle_shm_array_row(r, i);
        ck_assert_ptr_nonnull(row);
        ck_assert_uint_eq(row[0], 6 + i);
        ck_assert_uint_eq(row[2], 3 * (6 + i));
    }
    ck_assert_ptr_null(axle_shm_array_row(r, 1));
    ck_assert_ptr_null(axle_shm_array_row(r, 9));

    const uint64_t *last;
    size_t got;
    ck_assert_int_eq(axle_shm_array_last(r, 3, (const void **)&last, &got), 0);
    ck_assert_uint_eq(got, 3);
    ck_assert_uint_eq(last[0], 12);
    ck_assert_uint_eq(last[2 * 3], 14);
    ck_assert_int_eq(axle_shm_array_last(r, 100, (const void **)&last, &got), 0);
    ck_assert_uint_eq(got, 7);
    ck_assert_uint_eq(last[0], 8);
    axle_shm_array_close(r);
    axle_shm_array_close(w);
}
END_TEST

START_TEST(array_errors_are_exact)
{
    axle_shm_array *w, *r;
    ck_assert_int_eq(axle_shm_array_create(&w, "arre", 0, 1, 4, 0), -EINVAL);
    ck_assert_int_eq(axle_shm_array_create(&w, "arre", 8, 0, 4, 0), -EINVAL);
    ck_assert_int_eq(axle_shm_array_create(&w, "arre", 8, 1, 0, 0), -EINVAL);
    ck_assert_int_eq(axle_shm_array_create(&w, "arre", 8, 1, 4, 5), -EINVAL);
    ck_assert_int_eq(axle_shm_array_create(&w, "arre", 8, 1, (size_t)1 << 50, 0), -EINVAL);
    ck_assert_ptr_null(w);
    ck_assert_int_eq(axle_shm_array_create(&w, "arre", 8, 1, 4, 1), 0);
    uint64_t v[4] = {1, 2, 3, 4};
    ck_assert_int_eq(axle_shm_array_prepend(w, v, 2), -ENOSPC); /* one row of room before */
    ck_assert_int_eq(axle_shm_array_push(w, v, 4), -ENOSPC);    /* three rows of room after */
    ck_assert_uint_eq(axle_shm_array_len(w), 0);                /* nothing written */
    ck_assert_int_eq(axle_shm_array_push(w, v, 3), 0);
    ck_assert_int_eq(axle_shm_array_prepend(w, v + 3, 1), 0);
    ck_assert_int_eq(axle_shm_array_push(w, v, 1), -ENOSPC);
    ck_assert_uint_eq(axle_shm_array_len(w), 4);

    axle_shm_array_token tok;
    axle_shm_array_get_token(w, &tok);
    ck_assert_int_eq(axle_shm_array_attach(&r, &tok, true), 0);
    ck_assert_int_eq(axle_shm_array_push(r, v, 0), -EROFS);
    ck_assert_int_eq(axle_shm_array_prepend(r, v, 0), -EROFS);
    axle_shm_array_close(r);

    axle_shm_array_token bad = tok;
    bad.cols = 0;
    ck_assert_int_eq(axle_shm_array_attach(&r, &bad, true), -EINVAL);
    bad = tok;
    memset(bad.key, 'k', sizeof bad.key); /* no NUL */
    ck_assert_int_eq(axle_shm_array_attach(&r, &bad, true), -EINVAL);
    bad = tok;
    strcpy(bad.key, "nothere");
    ck_assert_int_eq(axle_shm_array_attach(&r, &bad, true), -ENOENT);
    ck_assert_ptr_null(r);
    axle_shm_array_close(w);
}
END_TEST

START_TEST(array_hostile_segment_is_eshmcorrupt)
{
    axle_shm_array *w, *r;
    ck_assert_int_eq(axle_shm_array_create(&w, "arrc", 8, 2, 8, 0), 0);
    axle_shm_array_token tok;
    axle_shm_array_get_token(w, &tok);
    axle_shm *raw;
    ck_assert_int_eq(axle_shm_attach(&raw, "arrc", getpid()), 0);
    unsigned char *b = axle_shm_base(raw);

    /* a token that disagrees with the segment */
    axle_shm_array_token wrong = tok;
    wrong.cols = 3;
    ck_assert_int_eq(axle_shm_array_attach(&r, &wrong, true), -AXLE_ESHMCORRUPT);
    wrong = tok;
    wrong.capacity = 1u << 20; /* more rows than the segment holds */
    ck_assert_int_eq(axle_shm_array_attach(&r, &wrong, true), -AXLE_ESHMCORRUPT);
    /* a bad magic, a bad version */
    b[0] ^= 0xff;
    ck_assert_int_eq(axle_shm_array_attach(&r, &tok, true), -AXLE_ESHMCORRUPT);
    b[0] ^= 0xff;
    b[8] ^= 0xff;
    ck_assert_int_eq(axle_shm_array_attach(&r, &tok, true), -AXLE_ESHMCORRUPT);
    b[8] ^= 0xff;

    /* indices past the capacity are clamped, never followed */
    ck_assert_int_eq(axle_shm_array_attach(&r, &tok, false), 0);
    uint64_t huge = UINT64_MAX / 2, five = 5, three = 3;
    memcpy(b + 72, &huge, 8);
    ck_assert_uint_eq(axle_shm_array_last_index(r), 8);
    ck_assert_ptr_null(axle_shm_array_row(r, 8));
    uint64_t v[2] = {7, 7};
    ck_assert_int_eq(axle_shm_array_push(r, v, 1), -ENOSPC);
    memcpy(b + 64, &huge, 8); /* first > last: an empty array */
    memcpy(b + 72, &five, 8);
    ck_assert_uint_eq(axle_shm_array_len(r), 0);
    ck_assert_int_eq(axle_shm_array_prepend(r, v, 1), -ENOSPC);
    memcpy(b + 64, &three, 8);
    ck_assert_uint_eq(axle_shm_array_len(r), 2);
    ck_assert_int_eq(axle_shm_array_prepend(r, v, 1), 0);
    ck_assert_uint_eq(axle_shm_array_first(w), 2);
    axle_shm_array_close(r);
    axle_shm_close(raw);
    axle_shm_array_close(w);
}
END_TEST

/* Another process polls last(1) while we push: every row it sees is whole. */
START_TEST(array_reader_in_another_process_sees_only_whole_rows)
{
    enum { N = 20000 };
    axle_shm_array *w;
    ck_assert_int_eq(axle_shm_array_create(&w, "arrt", 8, 3, N, 0), 0);
    axle_shm_array_token tok;
    axle_shm_array_get_token(w, &tok);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        axle_shm_array *r;
        if (axle_shm_array_attach(&r, &tok, true) < 0)
            _exit(1);
        int bad = 0;
        size_t seen = 0;
        while (seen < N) {
            const uint64_t *row;
            size_t got;
            axle_shm_array_last(r, 1, (const void **)&row, &got);
            size_t len = axle_shm_array_len(r);
            if (got == 1 && (row[1] != 2 * row[0] || row[2] != 3 * row[0] || row[0] >= len))
                bad++;
            seen = len;
        }
        axle_shm_array_close(r);
        _exit(bad ? 2 : 0);
    }
    for (uint64_t i = 0; i < N; i++) {
        uint64_t row[3];
        fill(row, i);
        ck_assert_int_eq(axle_shm_array_push(w, row, 1), 0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x", status);
    axle_shm_array_close(w);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shm_array");
    ADD_CASE(s, "array", 20, array_push_prepend_and_last_through_a_token, array_errors_are_exact,
             array_hostile_segment_is_eshmcorrupt,
             array_reader_in_another_process_sees_only_whole_rows);
    return axle_test_main(s);
}
