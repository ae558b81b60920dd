/*
 * tests/unit/test_shm_list.c — the shm list (tractor's ShareableList):
 * typed slots by key, attach by key, read-only attach, bounds, hostile
 * segments, and a reader in another process never seeing a torn string.
 */
#define _GNU_SOURCE
#include "../harness.h"

#include <axle/shm.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const axle_slot_spec SPEC[] = {
    {AXLE_SLOT_I64, 0}, {AXLE_SLOT_F64, 0}, {AXLE_SLOT_STR, 16}, {AXLE_SLOT_BYTES, 8}};
#define NSPEC (sizeof SPEC / sizeof SPEC[0])

START_TEST(list_slots_round_trip_through_another_handle)
{
    axle_shm_list *w, *r;
    ck_assert_int_eq(axle_shm_list_create(&w, "list", SPEC, NSPEC), 0);
    ck_assert_int_eq(axle_shm_list_attach(&r, "list", getpid(), true), 0);
    ck_assert_uint_eq(axle_shm_list_len(r), NSPEC);
    ck_assert_int_eq(axle_shm_list_type(r, 2), AXLE_SLOT_STR);
    ck_assert_int_eq(axle_shm_list_type(r, 9), -ERANGE);
    int64_t i;
    double d;
    char s[32];
    unsigned char b[8];
    ck_assert_int_eq(axle_shm_list_get_i64(r, 0, &i), 0);
    ck_assert_int_eq(i, 0);
    ck_assert_int_eq(axle_shm_list_get_str(r, 2, s, sizeof s), 0);
    ck_assert_str_eq(s, "");
    ck_assert_int_eq(axle_shm_list_set_i64(w, 0, -42), 0);
    ck_assert_int_eq(axle_shm_list_set_f64(w, 1, 2.5), 0);
    ck_assert_int_eq(axle_shm_list_set_str(w, 2, "cellar door"), 0);
    ck_assert_int_eq(axle_shm_list_set_bytes(w, 3, "\0\1\2", 3), 0);
    ck_assert_int_eq(axle_shm_list_get_i64(r, 0, &i), 0);
    ck_assert_int_eq(i, -42);
    ck_assert_int_eq(axle_shm_list_get_f64(r, 1, &d), 0);
    ck_assert(d == 2.5);
    ck_assert_int_eq(axle_shm_list_get_str(r, 2, s, sizeof s), 11);
    ck_assert_str_eq(s, "cellar door");
    ck_assert_int_eq(axle_shm_list_get_bytes(r, 3, b, sizeof b), 3);
    ck_assert_mem_eq(b, "\0\1\2", 3);
    axle_shm_list_close(r);
    axle_shm_list_close(w);
}
END_TEST

START_TEST(list_errors_are_exact)
{
    axle_shm_list *w, *r;
    ck_assert_int_eq(axle_shm_list_create(&w, "liste", SPEC, 0), -EINVAL);
    axle_slot_spec bad = {(axle_slot_type)9, 0};
    ck_assert_int_eq(axle_shm_list_create(&w, "liste", &bad, 1), -EINVAL);
    ck_assert_int_eq(axle_shm_list_create(&w, "liste", SPEC, NSPEC), 0);
    ck_assert_int_eq(axle_shm_list_attach(&r, "liste", getpid(), true), 0);
    ck_assert_int_eq(axle_shm_list_set_i64(r, 0, 1), -EROFS);
    ck_assert_int_eq(axle_shm_list_set_i64(w, 7, 1), -ERANGE);
    ck_assert_int_eq(axle_shm_list_set_f64(w, 0, 1.0), -EINVAL);
    ck_assert_int_eq(axle_shm_list_set_str(w, 2, "seventeen bytes!!"), -E2BIG);
    ck_assert_int_eq(axle_shm_list_set_str(w, 2, "sixteen bytes!!!"), 0);
    char s[16];
    ck_assert_int_eq(axle_shm_list_get_str(r, 2, s, sizeof s), -EMSGSIZE); /* no room for NUL */
    axle_shm_list *none;
    ck_assert_int_eq(axle_shm_list_attach(&none, "nothere", getpid(), false), -ENOENT);
    ck_assert_ptr_null(none);
    axle_shm_list_close(r);
    axle_shm_list_close(w);
}
END_TEST

START_TEST(list_hostile_segment_is_eshmcorrupt)
{
    axle_shm_list *w, *r;
    ck_assert_int_eq(axle_shm_list_create(&w, "listc", SPEC, NSPEC), 0);
    axle_shm *raw;
    ck_assert_int_eq(axle_shm_attach(&raw, "listc", getpid()), 0);
    unsigned char *b = axle_shm_base(raw);
    uint64_t saved;
    /* a slot offset pointing past the segment */
    memcpy(&saved, b + 32 + 16 * 3 + 8, 8);
    uint64_t far = 1u << 30;
    memcpy(b + 32 + 16 * 3 + 8, &far, 8);
    ck_assert_int_eq(axle_shm_list_attach(&r, "listc", getpid(), true), -AXLE_ESHMCORRUPT);
    memcpy(b + 32 + 16 * 3 + 8, &saved, 8);
    /* a slot count beyond the table */
    uint64_t many = 1000;
    memcpy(b + 16, &many, 8);
    ck_assert_int_eq(axle_shm_list_attach(&r, "listc", getpid(), true), -AXLE_ESHMCORRUPT);
    uint64_t four = NSPEC;
    memcpy(b + 16, &four, 8);
    /* a bad magic */
    b[0] ^= 0xff;
    ck_assert_int_eq(axle_shm_list_attach(&r, "listc", getpid(), true), -AXLE_ESHMCORRUPT);
    b[0] ^= 0xff;
    /* a string length beyond the slot is clamped, never over-read */
    ck_assert_int_eq(axle_shm_list_attach(&r, "listc", getpid(), true), 0);
    uint64_t off;
    memcpy(&off, b + 32 + 16 * 2 + 8, 8);
    uint32_t huge = 1u << 30;
    memcpy(b + off + 8, &huge, 4);
    char s[64];
    ck_assert_int_eq(axle_shm_list_get_str(r, 2, s, sizeof s), 16);
    axle_shm_list_close(r);
    axle_shm_close(raw);
    axle_shm_list_close(w);
}
END_TEST

/* Another process reads while we write two alternating strings: only whole ones. */
START_TEST(list_reader_in_another_process_never_sees_a_torn_string)
{
    axle_shm_list *w;
    ck_assert_int_eq(axle_shm_list_create(&w, "listt", SPEC, NSPEC), 0);
    ck_assert_int_eq(axle_shm_list_set_str(w, 2, "AAAAAAAAAAAAAAAA"), 0);
    pid_t me = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        axle_shm_list *r;
        if (axle_shm_list_attach(&r, "listt", me, true) < 0)
            _exit(1);
        char s[32];
        int bad = 0;
        for (int i = 0; i < 200000; i++) {
            int n = axle_shm_list_get_str(r, 2, s, sizeof s);
            if (n == -EAGAIN)
                continue;
            if (n != 16 || (strcmp(s, "AAAAAAAAAAAAAAAA") && strcmp(s, "BBBBBBBBBBBBBBBB")))
                bad++;
        }
        axle_shm_list_close(r);
        _exit(bad ? 2 : 0);
    }
    for (int i = 0; i < 200000; i++)
        axle_shm_list_set_str(w, 2, i & 1 ? "AAAAAAAAAAAAAAAA" : "BBBBBBBBBBBBBBBB");
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x", status);
    axle_shm_list_close(w);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shm_list");
    ADD_CASE(s, "list", 20, list_slots_round_trip_through_another_handle, list_errors_are_exact,
             list_hostile_segment_is_eshmcorrupt,
             list_reader_in_another_process_never_sees_a_torn_string);
    return axle_test_main(s);
}
