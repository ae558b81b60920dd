/*
 * shm/list.c — the shm list (tractor's ShareableList): a fixed number of
 * typed slots in a segment, created by key and attached by key.
 *
 * Layout (frozen, little-endian, version 1):
 *   0   u64 magic "AXLELIST"        (written last by create, release)
 *   8   u32 version                 16  u64 nslots
 *   12  u32 table offset (32)       24  u64 data bytes
 *   32  slot table: per slot { u32 type, u32 size, u64 offset } (16 B)
 *   ... data: per slot { u64 seq, then the value: i64 / f64 (8 B), or
 *       u32 length + size bytes for str / bytes }, 8-aligned.
 *
 * Concurrency: each slot is a seqlock. A writer makes seq odd, writes the
 * value, makes seq even (release); a reader copies the value between two
 * reads of an even, equal seq, so it never returns a torn string. Writers
 * of one slot must not race each other (one writer per slot, as in the
 * reference); readers may be any number of processes.
 *
 * The segment is untrusted: attach checks magic, version, the table's and
 * every slot's bounds against the segment size (-AXLE_ESHMCORRUPT), and
 * copies the table into the handle so later reads never re-trust it; a
 * length read from a slot is clamped to the slot's size.
 *
 * Fork story: as for segments (a child must not use its parent's handles).
 */
#define _GNU_SOURCE
#include <axle/shm.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LIST_MAGIC 0x5453494c454c5841ull /* "AXLELIST" */
#define LIST_VERSION 1u
#define TABLE_AT 32u
#define SLOT_MAX_SIZE (1u << 20)
#define SLOTS_MAX 65536u

struct list_hdr {
    uint64_t magic;
    uint32_t version;
    uint32_t table_at;
    uint64_t nslots;
    uint64_t data_bytes;
};
_Static_assert(sizeof(struct list_hdr) == 32, "list layout: header");

struct list_ent {
    uint32_t type;
    uint32_t size;
    uint64_t offset;
};
_Static_assert(sizeof(struct list_ent) == 16, "list layout: table entry");

struct axle_shm_list {
    axle_shm *shm;        /* the segment (owned) */
    unsigned char *base;  /* its first byte */
    size_t n;             /* slots */
    struct list_ent *ent; /* validated copy of the table (owned) */
    bool readonly;        /* writes fail with -EROFS */
};

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

/* Bytes a slot's value takes after its seq word. */
static size_t value_bytes(uint32_t type, uint32_t size)
{
    return type == AXLE_SLOT_STR || type == AXLE_SLOT_BYTES ? align8(4 + (size_t)size) : 8;
}

static bool type_ok(uint32_t t)
{
    return t == AXLE_SLOT_I64 || t == AXLE_SLOT_F64 || t == AXLE_SLOT_STR || t == AXLE_SLOT_BYTES;
}

int axle_shm_list_create(axle_shm_list **out, const char *key, const axle_slot_spec *slots,
                         size_t n)
{
    *out = NULL;
    if (n == 0 || n > SLOTS_MAX)
        return -EINVAL;
    size_t data = 0;
    for (size_t i = 0; i < n; i++) {
        if (!type_ok(slots[i].type) || slots[i].size > SLOT_MAX_SIZE)
            return -EINVAL;
        data += 8 + value_bytes(slots[i].type, slots[i].size);
    }
    size_t table = n * sizeof(struct list_ent);
    size_t total = TABLE_AT + align8(table) + data;
    axle_shm_list *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->ent = calloc(n, sizeof *l->ent);
    if (!l->ent) {
        free(l);
        return -ENOMEM;
    }
    int rc = axle_shm_create(&l->shm, key, total);
    if (rc < 0) {
        free(l->ent);
        free(l);
        return rc;
    }
    l->base = axle_shm_base(l->shm);
    l->n = n;
    struct list_ent *t = (struct list_ent *)(l->base + TABLE_AT);
    size_t off = TABLE_AT + align8(table);
    for (size_t i = 0; i < n; i++) {
        l->ent[i] = (struct list_ent){(uint32_t)slots[i].type, slots[i].size, off};
        t[i] = l->ent[i];
        off += 8 + value_bytes(slots[i].type, slots[i].size);
    }
    struct list_hdr *h = (struct list_hdr *)l->base;
    h->version = LIST_VERSION;
    h->table_at = TABLE_AT;
    h->nslots = n;
    h->data_bytes = data;
    /* release; pairs with the acquire load of magic in attach. */
    __atomic_store_n(&h->magic, LIST_MAGIC, __ATOMIC_RELEASE);
    *out = l;
    return 0;
}

int axle_shm_list_attach(axle_shm_list **out, const char *key, pid_t owner, bool readonly)
{
    *out = NULL;
    axle_shm_list *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    int rc = axle_shm_attach(&l->shm, key, owner);
    if (rc < 0) {
        free(l);
        return rc;
    }
    l->base = axle_shm_base(l->shm);
    l->readonly = readonly;
    size_t size = axle_shm_size(l->shm);
    const struct list_hdr *h = (const struct list_hdr *)l->base;
    rc = -AXLE_ESHMCORRUPT;
    if (size < TABLE_AT)
        goto out_close;
    if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != LIST_MAGIC) {
        rc = h->magic == 0 ? -EAGAIN : -AXLE_ESHMCORRUPT; /* 0: not ready yet */
        goto out_close;
    }
    uint64_t n = h->nslots;
    if (h->version != LIST_VERSION || h->table_at != TABLE_AT || n == 0 || n > SLOTS_MAX ||
        TABLE_AT + n * sizeof(struct list_ent) > size)
        goto out_close;
    l->ent = calloc(n, sizeof *l->ent);
    if (!l->ent) {
        rc = -ENOMEM;
        goto out_close;
    }
    memcpy(l->ent, l->base + TABLE_AT, n * sizeof *l->ent);
    for (uint64_t i = 0; i < n; i++) {
        struct list_ent *e = &l->ent[i];
        if (!type_ok(e->type) || e->size > SLOT_MAX_SIZE || (e->offset & 7) ||
            e->offset < TABLE_AT + n * sizeof(struct list_ent) ||
            e->offset + 8 + value_bytes(e->type, e->size) > size)
            goto out_free;
    }
    l->n = (size_t)n;
    *out = l;
    return 0;
out_free:
    free(l->ent);
out_close:
    axle_shm_close(l->shm);
    free(l);
    return rc;
}

void axle_shm_list_close(axle_shm_list *l)
{
    if (!l)
        return;
    axle_shm_close(l->shm);
    free(l->ent);
    free(l);
}

size_t axle_shm_list_len(const axle_shm_list *l) { return l->n; }

int axle_shm_list_type(const axle_shm_list *l, size_t i)
{
    return i < l->n ? (int)l->ent[i].type : -ERANGE;
}

/* The slot for an access, or the error. */
static int slot(const axle_shm_list *l, size_t i, uint32_t type, bool write, uint64_t **seq)
{
    if (i >= l->n)
        return -ERANGE;
    if (l->ent[i].type != type)
        return -EINVAL;
    if (write && l->readonly)
        return -EROFS;
    *seq = (uint64_t *)(l->base + l->ent[i].offset);
    return 0;
}

static void write_begin(uint64_t *seq)
{
    uint64_t s = __atomic_load_n(seq, __ATOMIC_RELAXED);
    /* relaxed store + release fence: readers that see the odd value retry. */
    __atomic_store_n(seq, s | 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

static void write_end(uint64_t *seq)
{
    uint64_t s = __atomic_load_n(seq, __ATOMIC_RELAXED);
    /* release; pairs with the acquire loads of seq in read_value. */
    __atomic_store_n(seq, (s | 1) + 1, __ATOMIC_RELEASE);
}

/*
 * Copy n bytes of a slot's value out under the seqlock: 0, or -EAGAIN when
 * a write stays in progress for too long (a writer that died mid-write
 * leaves the slot odd for good: readers get -EAGAIN, never a torn value).
 */
static int read_value(const uint64_t *seq, void *dst, size_t n)
{
    for (unsigned tries = 0; tries < (1u << 20); tries++) {
        uint64_t a = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
        if (a & 1)
            continue;
        memcpy(dst, seq + 1, n);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(seq, __ATOMIC_RELAXED) == a)
            return 0;
    }
    return -EAGAIN;
}

static int set8(axle_shm_list *l, size_t i, uint32_t type, const void *v)
{
    uint64_t *seq;
    int rc = slot(l, i, type, true, &seq);
    if (rc < 0)
        return rc;
    write_begin(seq);
    memcpy(seq + 1, v, 8);
    write_end(seq);
    return 0;
}

static int get8(const axle_shm_list *l, size_t i, uint32_t type, void *v)
{
    uint64_t *seq;
    int rc = slot(l, i, type, false, &seq);
    if (rc < 0)
        return rc;
    return read_value(seq, v, 8);
}

int axle_shm_list_set_i64(axle_shm_list *l, size_t i, int64_t v)
{
    return set8(l, i, AXLE_SLOT_I64, &v);
}
int axle_shm_list_get_i64(const axle_shm_list *l, size_t i, int64_t *v)
{
    return get8(l, i, AXLE_SLOT_I64, v);
}
int axle_shm_list_set_f64(axle_shm_list *l, size_t i, double v)
{
    return set8(l, i, AXLE_SLOT_F64, &v);
}
int axle_shm_list_get_f64(const axle_shm_list *l, size_t i, double *v)
{
    return get8(l, i, AXLE_SLOT_F64, v);
}

static int set_var(axle_shm_list *l, size_t i, uint32_t type, const void *data, size_t len)
{
    uint64_t *seq;
    int rc = slot(l, i, type, true, &seq);
    if (rc < 0)
        return rc;
    if (len > l->ent[i].size)
        return -E2BIG;
    unsigned char *v = (unsigned char *)(seq + 1);
    write_begin(seq);
    uint32_t n = (uint32_t)len;
    memcpy(v, &n, 4);
    if (len)
        memcpy(v + 4, data, len);
    write_end(seq);
    return 0;
}

/* Read a str/bytes slot into buf (cap bytes); returns its length or an error. */
static int get_var(const axle_shm_list *l, size_t i, uint32_t type, void *buf, size_t cap)
{
    uint64_t *seq;
    int rc = slot(l, i, type, false, &seq);
    if (rc < 0)
        return rc;
    size_t size = l->ent[i].size;
    unsigned char *tmp = malloc(4 + size);
    if (!tmp)
        return -ENOMEM;
    if ((rc = read_value(seq, tmp, 4 + size)) < 0) {
        free(tmp);
        return rc;
    }
    uint32_t n;
    memcpy(&n, tmp, 4);
    if (n > size)
        n = (uint32_t)size; /* a hostile length is clamped to the slot */
    if (n > cap) {
        free(tmp);
        return -EMSGSIZE;
    }
    memcpy(buf, tmp + 4, n);
    free(tmp);
    return (int)n;
}

int axle_shm_list_set_str(axle_shm_list *l, size_t i, const char *s)
{
    return set_var(l, i, AXLE_SLOT_STR, s, strlen(s));
}

int axle_shm_list_get_str(const axle_shm_list *l, size_t i, char *buf, size_t cap)
{
    if (cap == 0)
        return -EMSGSIZE;
    int n = get_var(l, i, AXLE_SLOT_STR, buf, cap - 1);
    if (n >= 0)
        buf[n] = 0;
    return n;
}

int axle_shm_list_set_bytes(axle_shm_list *l, size_t i, const void *data, size_t len)
{
    return set_var(l, i, AXLE_SLOT_BYTES, data, len);
}

int axle_shm_list_get_bytes(const axle_shm_list *l, size_t i, void *buf, size_t cap)
{
    return get_var(l, i, AXLE_SLOT_BYTES, buf, cap);
}
