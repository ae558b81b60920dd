/*
 * shm/array.c — the shm array (tractor's ShmArray): rows of a fixed size in
 * a segment, with shared first / last indices, filled by one writer and
 * read by any number of processes; a token (plain bytes) names it so
 * another actor can attach it.
 *
 * Layout (frozen, little-endian, version 1):
 *   0   u64 magic "AXLEARRY" (written last by create, release)
 *   8   u32 version       12  u32 elem_size      16  u32 cols   20  u32 (zero)
 *   24  u64 capacity (rows)
 *   64  u64 first          72  u64 last   (their own cache line)
 *   128 rows: capacity × elem_size × cols bytes
 * Valid rows are [first, last). push writes rows at last, then publishes
 * last (release); prepend writes rows before first, then publishes first
 * (release); readers load first / last with acquire, so a row they are
 * shown has been written in full. Rows are never moved: a reader's
 * pointer to row i stays valid while the array is mapped (a later push or
 * prepend only adds rows).
 *
 * The segment is untrusted: attach checks magic, version and the sizes
 * against the token and the segment (-AXLE_ESHMCORRUPT), and every index
 * read back from it is clamped to the capacity before use.
 */
#define _GNU_SOURCE
#include <axle/shm.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARRAY_MAGIC 0x59525241454c5841ull /* "AXLEARRY" */
#define ARRAY_VERSION 1u
#define ROWS_AT 128u

struct array_hdr {
    uint64_t magic;
    uint32_t version;
    uint32_t elem_size;
    uint32_t cols;
    uint32_t zero;
    uint64_t capacity;
    uint8_t pad0[32];
    uint64_t first; /* index of the first valid row */
    uint64_t last;  /* one past the last valid row; Invariant: first <= last <= capacity */
    uint8_t pad1[48];
};
_Static_assert(sizeof(struct array_hdr) == ROWS_AT, "array layout: rows offset");
_Static_assert(__builtin_offsetof(struct array_hdr, first) == 64, "array layout: first");
_Static_assert(__builtin_offsetof(struct array_hdr, last) == 72, "array layout: last");

struct axle_shm_array {
    axle_shm *shm;              /* the segment (owned) */
    struct array_hdr *hdr;      /* its first byte */
    unsigned char *rows;        /* hdr + ROWS_AT */
    size_t row_bytes;           /* elem_size × cols */
    uint64_t capacity;          /* rows, validated copy */
    bool readonly;              /* push / prepend fail with -EROFS */
    axle_shm_array_token token; /* how to attach it */
};

int axle_shm_array_create(axle_shm_array **out, const char *key, size_t elem_size, size_t cols,
                          size_t capacity, size_t start)
{
    *out = NULL;
    if (elem_size == 0 || elem_size > UINT32_MAX || cols == 0 || cols > UINT32_MAX ||
        capacity == 0 || start > capacity || elem_size * cols > (1u << 30) ||
        capacity > ((size_t)1 << 40) / (elem_size * cols))
        return -EINVAL;
    if (strlen(key) >= sizeof((axle_shm_array_token *)0)->key)
        return -EINVAL;
    axle_shm_array *a = calloc(1, sizeof *a);
    if (!a)
        return -ENOMEM;
    a->row_bytes = elem_size * cols;
    int rc = axle_shm_create(&a->shm, key, ROWS_AT + capacity * a->row_bytes);
    if (rc < 0) {
        free(a);
        return rc;
    }
    a->hdr = axle_shm_base(a->shm);
    a->rows = (unsigned char *)a->hdr + ROWS_AT;
    a->capacity = capacity;
    a->hdr->version = ARRAY_VERSION;
    a->hdr->elem_size = (uint32_t)elem_size;
    a->hdr->cols = (uint32_t)cols;
    a->hdr->capacity = capacity;
    a->hdr->first = a->hdr->last = start;
    /* release; pairs with the acquire load of magic in attach. */
    __atomic_store_n(&a->hdr->magic, ARRAY_MAGIC, __ATOMIC_RELEASE);
    snprintf(a->token.key, sizeof a->token.key, "%s", key);
    a->token.owner = (int32_t)getpid();
    a->token.elem_size = (uint32_t)elem_size;
    a->token.cols = (uint32_t)cols;
    a->token.capacity = capacity;
    *out = a;
    return 0;
}

int axle_shm_array_attach(axle_shm_array **out, const axle_shm_array_token *tok, bool readonly)
{
    *out = NULL;
    if (!memchr(tok->key, 0, sizeof tok->key) || tok->elem_size == 0 || tok->cols == 0 ||
        tok->capacity == 0)
        return -EINVAL;
    axle_shm_array *a = calloc(1, sizeof *a);
    if (!a)
        return -ENOMEM;
    int rc = axle_shm_attach(&a->shm, tok->key, tok->owner);
    if (rc < 0) {
        free(a);
        return rc;
    }
    a->hdr = axle_shm_base(a->shm);
    a->rows = (unsigned char *)a->hdr + ROWS_AT;
    a->row_bytes = (size_t)tok->elem_size * tok->cols;
    a->capacity = tok->capacity;
    a->readonly = readonly;
    a->token = *tok;
    size_t size = axle_shm_size(a->shm);
    rc = -AXLE_ESHMCORRUPT;
    if (size < ROWS_AT)
        goto out_close;
    if (__atomic_load_n(&a->hdr->magic, __ATOMIC_ACQUIRE) != ARRAY_MAGIC) {
        rc = a->hdr->magic == 0 ? -EAGAIN : -AXLE_ESHMCORRUPT; /* 0: not ready yet */
        goto out_close;
    }
    if (a->hdr->version != ARRAY_VERSION || a->hdr->elem_size != tok->elem_size ||
        a->hdr->cols != tok->cols || a->hdr->capacity != tok->capacity ||
        a->capacity > (size - ROWS_AT) / a->row_bytes)
        goto out_close;
    *out = a;
    return 0;
out_close:
    axle_shm_close(a->shm);
    free(a);
    return rc;
}

void axle_shm_array_close(axle_shm_array *a)
{
    if (!a)
        return;
    axle_shm_close(a->shm);
    free(a);
}

void axle_shm_array_get_token(const axle_shm_array *a, axle_shm_array_token *tok)
{
    *tok = a->token;
}

/* The shared indices, loaded with acquire and clamped to what the rows allow. */
static void bounds(const axle_shm_array *a, uint64_t *first, uint64_t *last)
{
    /* acquire; pair with the release stores in push / prepend. */
    uint64_t f = __atomic_load_n(&a->hdr->first, __ATOMIC_ACQUIRE);
    uint64_t l = __atomic_load_n(&a->hdr->last, __ATOMIC_ACQUIRE);
    if (l > a->capacity)
        l = a->capacity;
    if (f > l)
        f = l;
    *first = f;
    *last = l;
}

size_t axle_shm_array_first(const axle_shm_array *a)
{
    uint64_t f, l;
    bounds(a, &f, &l);
    return (size_t)f;
}

size_t axle_shm_array_last_index(const axle_shm_array *a)
{
    uint64_t f, l;
    bounds(a, &f, &l);
    return (size_t)l;
}

size_t axle_shm_array_len(const axle_shm_array *a)
{
    uint64_t f, l;
    bounds(a, &f, &l);
    return (size_t)(l - f);
}

const void *axle_shm_array_row(const axle_shm_array *a, size_t i)
{
    uint64_t f, l;
    bounds(a, &f, &l);
    return i >= f && i < l ? a->rows + i * a->row_bytes : NULL;
}

int axle_shm_array_last(const axle_shm_array *a, size_t n, const void **rows, size_t *got)
{
    uint64_t f, l;
    bounds(a, &f, &l);
    size_t have = (size_t)(l - f);
    *got = n < have ? n : have;
    *rows = a->rows + (l - *got) * a->row_bytes;
    return 0;
}

int axle_shm_array_push(axle_shm_array *a, const void *rows, size_t n)
{
    if (a->readonly)
        return -EROFS;
    uint64_t l = __atomic_load_n(&a->hdr->last, __ATOMIC_RELAXED); /* ours: one writer */
    if (l > a->capacity || n > a->capacity - l)
        return -ENOSPC;
    memcpy(a->rows + l * a->row_bytes, rows, n * a->row_bytes);
    /* release; pairs with the acquire load of last in bounds. */
    __atomic_store_n(&a->hdr->last, l + n, __ATOMIC_RELEASE);
    return 0;
}

int axle_shm_array_prepend(axle_shm_array *a, const void *rows, size_t n)
{
    if (a->readonly)
        return -EROFS;
    uint64_t f = __atomic_load_n(&a->hdr->first, __ATOMIC_RELAXED); /* ours: one writer */
    if (f > a->capacity || n > f)
        return -ENOSPC;
    memcpy(a->rows + (f - n) * a->row_bytes, rows, n * a->row_bytes);
    /* release; pairs with the acquire load of first in bounds. */
    __atomic_store_n(&a->hdr->first, f - n, __ATOMIC_RELEASE);
    return 0;
}
