/*
 * core/ipc/msg.c — envelopes and payloads: the frame codec (axle/msg.h).
 *
 * Decoding is where untrusted bytes meet memory, so it runs in two steps:
 *
 *  1. A structural pre-scan walks the wire format once, iteratively, with
 *     the descriptor in hand: every tag, varint and length must be well
 *     formed and inside its enclosing message, and sub-messages may nest at
 *     most MAX_DEPTH deep. protobuf-c's unpack recurses once per nesting
 *     level with about 1 KiB of stack per level (more under ASan) and has no
 *     depth limit of its own; a frame of nested Error.members would
 *     otherwise overflow a fiber's stack long before any byte budget ran out.
 *  2. protobuf_c_message_unpack through an allocator backed by a budgeted
 *     arena: memory comes in chunks from malloc, every byte protobuf-c asks
 *     for is counted, and a request past the budget fails, which fails the
 *     unpack. Tiny frames can expand a lot (two bytes of an empty repeated
 *     sub-message become a whole C struct), hence a budget proportional to
 *     the frame (default 16 × len + 16 KiB) rather than a fixed one.
 *     Frees from protobuf-c are no-ops; axle_msg_free drops every chunk at
 *     once. The axle_msg handle itself lives in the first chunk, so a small
 *     frame costs one malloc and one free.
 *
 * An envelope that decodes but has no kind this build knows (the oneof is
 * unset: empty, or only a field number from a newer protocol) is -EPROTO,
 * distinct from -EBADMSG (bytes that are not an envelope at all), so the
 * connection layer can say which it was.
 *
 * Payloads (axle_pld_*) are decoded with the same pre-scan and a byte
 * budget, but on malloc (the caller frees them with protobuf-c's default
 * allocator), and strictly: besides decoding and passing
 * protobuf_c_message_check, no message at any depth may carry a field its
 * descriptor does not know. protobuf-c keeps such fields as "unknown" and
 * would otherwise accept, say, a Frame as a Proof. Every failure is
 * -AXLE_EMSGTYPE with a rich error naming the expected type and the reason.
 *
 * No globals; everything here is reentrant and fork-safe.
 */
#include <axle/msg.h>

#include <errno.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Deepest sub-message nesting accepted (the top-level message is depth 1). */
#define MAX_DEPTH AXLE_MSG_MAX_DEPTH

/* Default budget: 16 bytes of decoded memory per frame byte, plus 16 KiB. */
#define BUDGET_PER_BYTE 16
#define BUDGET_BASE (16 * 1024)

/* Arena chunks: the first is sized from the frame, later ones double up to
 * CHUNK_MAX; a request larger than a quarter of that gets its own chunk. */
#define CHUNK_MIN 512
#define CHUNK_MAX (64 * 1024)

#define ALIGN alignof(max_align_t)

static size_t align_up(size_t n) { return (n + ALIGN - 1) & ~(ALIGN - 1); }

static size_t default_budget(size_t len)
{
    if (len > (SIZE_MAX - BUDGET_BASE) / BUDGET_PER_BYTE)
        return SIZE_MAX;
    return BUDGET_PER_BYTE * len + BUDGET_BASE;
}

/* ---- structural pre-scan ------------------------------------------------ */

/* Reads a varint of at most max bytes at *pos (< end). Returns false when it
 * is truncated or longer than max. */
static bool read_varint(const uint8_t *p, size_t *pos, size_t end, unsigned max, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < max && *pos < end; i++) {
        uint8_t b = p[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/*
 * Walks len bytes as a d without recursion. Limits follow protobuf-c's own
 * parser (tags and lengths of at most 5 bytes, no field number 0, no
 * groups), so this rejects nothing protobuf-c would accept, except nesting
 * deeper than MAX_DEPTH.
 * Returns: NULL when the structure is sound, else the reason (static).
 */
static const char *prescan(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
                           size_t *at)
{
    struct {
        const ProtobufCMessageDescriptor *d; /* the message being walked */
        size_t end;                          /* offset just past it */
    } stack[MAX_DEPTH];
    int top = 0;
    size_t pos = 0;
    stack[0].d = d;
    stack[0].end = len;

    for (;;) {
        *at = pos;
        if (pos == stack[top].end) {
            if (top == 0)
                return NULL;
            top--;
            continue;
        }
        size_t end = stack[top].end;
        uint64_t tag, v;
        if (!read_varint(p, &pos, end, 5, &tag) || tag > UINT32_MAX)
            return "bad field tag";
        if (tag >> 3 == 0)
            return "field number 0";
        switch (tag & 7) {
        case PROTOBUF_C_WIRE_TYPE_VARINT:
            if (!read_varint(p, &pos, end, 10, &v))
                return "bad varint";
            break;
        case PROTOBUF_C_WIRE_TYPE_64BIT:
            if (end - pos < 8)
                return "truncated 64-bit field";
            pos += 8;
            break;
        case PROTOBUF_C_WIRE_TYPE_32BIT:
            if (end - pos < 4)
                return "truncated 32-bit field";
            pos += 4;
            break;
        case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED: {
            if (!read_varint(p, &pos, end, 5, &v) || v > UINT32_MAX)
                return "bad length";
            if (v > end - pos)
                return "length past the end of its message";
            const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field(stack[top].d, (unsigned)(tag >> 3));
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                if (top + 1 >= MAX_DEPTH)
                    return "sub-messages nest too deep";
                top++;
                stack[top].d = f->descriptor;
                stack[top].end = pos + v;
            } else {
                pos += v;
            }
            break;
        }
        default:
            return "unsupported wire type";
        }
    }
}

/* ---- the budgeted arena -------------------------------------------------- */

struct chunk {
    struct chunk *next; /* the next chunk of the arena's list, or NULL */
    uint8_t *cur;       /* first free byte; Invariant: aligned to ALIGN */
    uint8_t *end;       /* one past the chunk's last byte */
};

#define CHUNK_HDR align_up(sizeof(struct chunk))

/* Lives at the start of the first chunk's data. */
struct arena {
    axle_msg msg;       /* the handle decode returns; msg.arena_ points here */
    struct chunk *head; /* the chunk allocations are carved from; others follow */
    size_t next_size;   /* the data size of the next general-purpose chunk */
    size_t budget;      /* bytes protobuf-c may be given in total */
    size_t spent;       /* bytes given so far; Invariant: spent <= budget */
    bool over_budget;   /* an allocation failed because of the budget */
    bool out_of_memory; /* an allocation failed because malloc did */
};

static struct chunk *chunk_new(size_t data)
{
    if (data > SIZE_MAX - CHUNK_HDR)
        return NULL;
    struct chunk *c = malloc(CHUNK_HDR + data);
    if (!c)
        return NULL;
    c->next = NULL;
    c->cur = (uint8_t *)c + CHUNK_HDR;
    c->end = c->cur + data;
    return c;
}

static void *arena_alloc(void *data, size_t size)
{
    struct arena *a = data;
    size_t n = align_up(size ? size : 1);
    if (n < size || n > a->budget - a->spent) {
        a->over_budget = true;
        return NULL;
    }
    struct chunk *c = a->head;
    if ((size_t)(c->end - c->cur) < n) {
        if (n > CHUNK_MAX / 4) {
            /* A big block gets a chunk of its own, linked behind the head
             * so the head's free space stays in use. */
            struct chunk *big = chunk_new(n);
            if (!big) {
                a->out_of_memory = true;
                return NULL;
            }
            big->next = c->next;
            c->next = big;
            c = big;
        } else {
            size_t sz = a->next_size;
            while (sz < n)
                sz *= 2;
            struct chunk *fresh = chunk_new(sz);
            if (!fresh) {
                a->out_of_memory = true;
                return NULL;
            }
            if (a->next_size < CHUNK_MAX)
                a->next_size *= 2;
            fresh->next = c;
            a->head = c = fresh;
        }
    }
    void *p = c->cur;
    c->cur += n;
    a->spent += n;
    return p;
}

/* Memory is released all at once by axle_msg_free. */
static void arena_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

static void arena_destroy(struct arena *a)
{
    /* The arena lives in one of its chunks: read each link before freeing. */
    struct chunk *c = a->head;
    while (c) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
}

/* ---- envelopes ------------------------------------------------------------- */

/*
 * The Yield fast path. A stream's messages are most of the traffic, and an
 * Envelope{version, yield{cid, pld}} is simple enough to encode and decode
 * by hand, byte for byte what protobuf-c does (fields at their default are
 * left out), without the descriptor walks: about a tenth of the cost for a
 * 64-byte payload. Anything else, or a Yield with unknown fields, goes the
 * general way; so does any frame the strict parser below does not take.
 */
#define TAG_VERSION 0x08u /* field 1, varint */
#define TAG_YIELD 0x42u   /* field 8, length-delimited */
#define TAG_CID 0x08u     /* Yield field 1, varint */
#define TAG_PLD 0x12u     /* Yield field 2, length-delimited */

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *varint_put(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static bool yield_plain(const Axle__Envelope *env)
{
    return env->msg_case == AXLE__ENVELOPE__MSG_YIELD && env->yield &&
           !env->base.n_unknown_fields && !env->yield->base.n_unknown_fields;
}

/* Bytes of the Yield message itself (inside the envelope). */
static size_t yield_body_len(const Axle__Yield *y)
{
    size_t n = 0;
    if (y->cid)
        n += 1 + varint_len(y->cid);
    if (y->pld.len)
        n += 1 + varint_len(y->pld.len) + y->pld.len;
    return n;
}

static size_t yield_env_len(const Axle__Envelope *env)
{
    size_t body = yield_body_len(env->yield);
    return (env->version ? 1 + varint_len(env->version) : 0) + 1 + varint_len(body) + body;
}

static size_t yield_encode(const Axle__Envelope *env, uint8_t *out)
{
    const Axle__Yield *y = env->yield;
    uint8_t *p = out;
    if (env->version) {
        *p++ = TAG_VERSION;
        p = varint_put(p, env->version);
    }
    *p++ = TAG_YIELD;
    p = varint_put(p, yield_body_len(y));
    if (y->cid) {
        *p++ = TAG_CID;
        p = varint_put(p, y->cid);
    }
    if (y->pld.len) {
        *p++ = TAG_PLD;
        p = varint_put(p, y->pld.len);
        memcpy(p, y->pld.data, y->pld.len);
        p += y->pld.len;
    }
    return (size_t)(p - out);
}

/* A varint at *p (at most 10 bytes, before end); false when malformed. */
static bool varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

/*
 * Parse data as exactly [version] yield{[cid] [pld]}, each field once and
 * in that order. Returns true with the fields, or false for anything else.
 */
static bool yield_parse(const uint8_t *data, size_t len, uint64_t *version, uint64_t *cid,
                        const uint8_t **pld, size_t *pld_len)
{
    const uint8_t *p = data, *end = data + len;
    uint64_t v = 0, n;
    *version = *cid = 0;
    *pld = NULL;
    *pld_len = 0;
    if (p < end && *p == TAG_VERSION) {
        p++;
        if (!varint_get(&p, end, &v) || v > UINT32_MAX)
            return false;
        *version = v;
    }
    if (p >= end || *p++ != TAG_YIELD || !varint_get(&p, end, &n) || n != (uint64_t)(end - p))
        return false;
    if (p < end && *p == TAG_CID) {
        p++;
        if (!varint_get(&p, end, cid))
            return false;
    }
    if (p < end && *p == TAG_PLD) {
        p++;
        if (!varint_get(&p, end, &n) || n != (uint64_t)(end - p))
            return false;
        *pld = p;
        *pld_len = (size_t)n;
        p = end;
    }
    return p == end;
}

size_t axle_msg_encoded_size(const Axle__Envelope *env)
{
    if (yield_plain(env))
        return yield_env_len(env);
    return protobuf_c_message_get_packed_size(&env->base);
}

size_t axle_msg_encode_frame(const Axle__Envelope *env, uint8_t *buf)
{
    /* The caller bounds the size by its maximum frame, far below 4 GiB. */
    size_t n = yield_plain(env) ? yield_encode(env, buf + 4)
                                : protobuf_c_message_pack(&env->base, buf + 4);
    buf[0] = (uint8_t)n;
    buf[1] = (uint8_t)(n >> 8);
    buf[2] = (uint8_t)(n >> 16);
    buf[3] = (uint8_t)(n >> 24);
    return 4 + n;
}

/* The Yield fast path's decode: one chunk holds the arena, both messages and the payload. */
static int yield_decode(const uint8_t *data, size_t len, size_t budget, axle_msg **out)
{
    uint64_t version, cid;
    const uint8_t *pld;
    size_t pld_len;
    if (!yield_parse(data, len, &version, &cid, &pld, &pld_len))
        return 1; /* not that shape: the general way */
    size_t hdr = align_up(sizeof(struct arena));
    size_t need = hdr + align_up(sizeof(Axle__Envelope)) + align_up(sizeof(Axle__Yield)) +
                  align_up(pld_len ? pld_len : 1);
    if (budget && need > budget)
        return 1; /* let the general path say so */
    struct chunk *c = chunk_new(need);
    if (!c)
        return AXLE_SET_ERR(-ENOMEM, "no memory to decode a frame of %zu bytes", len);
    struct arena *a = (struct arena *)c->cur;
    c->cur += hdr;
    *a = (struct arena){.msg = {.arena_ = a}, .head = c};
    Axle__Envelope *env = (Axle__Envelope *)c->cur;
    c->cur += align_up(sizeof *env);
    Axle__Yield *y = (Axle__Yield *)c->cur;
    c->cur += align_up(sizeof *y);
    *env = (Axle__Envelope)AXLE__ENVELOPE__INIT;
    *y = (Axle__Yield)AXLE__YIELD__INIT;
    env->version = (uint32_t)version;
    env->msg_case = AXLE__ENVELOPE__MSG_YIELD;
    env->yield = y;
    y->cid = cid;
    if (pld_len) {
        memcpy(c->cur, pld, pld_len);
        y->pld.data = c->cur;
        y->pld.len = pld_len;
    }
    a->msg.env = env;
    *out = &a->msg;
    return 0;
}

int axle_msg_decode(const uint8_t *data, size_t len, size_t budget, axle_msg **out)
{
    int fast = yield_decode(data, len, budget, out);
    if (fast <= 0)
        return fast;
    size_t at;
    const char *why = prescan(&axle__envelope__descriptor, data, len, &at);
    if (why)
        return AXLE_SET_ERR(-EBADMSG, "frame of %zu bytes is not an envelope: %s at offset %zu",
                            len, why, at);
    if (!budget)
        budget = default_budget(len);

    /* First chunk: the arena, then room for a typical decode of this frame. */
    size_t hdr = align_up(sizeof(struct arena));
    size_t room = len < CHUNK_MAX ? align_up(2 * len + CHUNK_MIN) : CHUNK_MAX;
    struct chunk *first = chunk_new(hdr + room);
    if (!first)
        return AXLE_SET_ERR(-ENOMEM, "no memory to decode a frame of %zu bytes", len);
    struct arena *a = (struct arena *)first->cur;
    first->cur += hdr;
    *a = (struct arena){
        .msg = {.arena_ = a},
        .head = first,
        .next_size = room < CHUNK_MIN ? CHUNK_MIN : room,
        .budget = budget,
    };

    ProtobufCAllocator alloc = {arena_alloc, arena_free, a};
    ProtobufCMessage *m = protobuf_c_message_unpack(&axle__envelope__descriptor, &alloc, len, data);
    int rc;
    if (!m) {
        if (a->out_of_memory)
            rc = AXLE_SET_ERR(-ENOMEM, "no memory to decode a frame of %zu bytes", len);
        else if (a->over_budget)
            rc = AXLE_SET_ERR(-EBADMSG,
                              "frame of %zu bytes needs more than its budget of %zu bytes"
                              " to decode",
                              len, budget);
        else
            rc = AXLE_SET_ERR(-EBADMSG, "frame of %zu bytes does not decode as an axle.Envelope",
                              len);
        goto out_destroy;
    }
    Axle__Envelope *env = (Axle__Envelope *)m;
    if (env->msg_case == AXLE__ENVELOPE__MSG__NOT_SET) {
        if (env->base.n_unknown_fields)
            rc = AXLE_SET_ERR(-EPROTO,
                              "envelope (version %u) has no kind known to protocol version %u "
                              "(unknown field %u)",
                              env->version, AXLE_PROTO_VERSION, env->base.unknown_fields[0].tag);
        else
            rc = AXLE_SET_ERR(-EPROTO, "envelope (version %u) has no kind", env->version);
        goto out_destroy;
    }
    a->msg.env = env;
    *out = &a->msg;
    return 0;

out_destroy:
    arena_destroy(a);
    return rc;
}

void axle_msg_free(axle_msg *m)
{
    if (m)
        arena_destroy(m->arena_);
}

const char *axle_msg_kind_name(const Axle__Envelope *env)
{
    if (!env || env->msg_case == AXLE__ENVELOPE__MSG__NOT_SET)
        return "none";
    /* The oneof's case value is its field number; the field's name is the kind. */
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&axle__envelope__descriptor, env->msg_case);
    return f && (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ? f->name : "unknown";
}

/* ---- payloads --------------------------------------------------------------- */

int axle_pld_pack(const ProtobufCMessage *m, uint8_t **out, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return AXLE_SET_ERR(-ENOMEM, "no memory for a %zu-byte %s payload", n, m->descriptor->name);
    *len = protobuf_c_message_pack(m, buf);
    *out = buf;
    return 0;
}

/* malloc with a running total, so the result frees with the default
 * allocator while a payload still cannot make us allocate without bound. */
struct counted {
    size_t budget;      /* bytes that may be allocated in total */
    size_t spent;       /* bytes allocated so far */
    bool over_budget;   /* a request failed because of the budget */
    bool out_of_memory; /* a request failed because malloc did */
};

static void *counted_alloc(void *data, size_t size)
{
    struct counted *c = data;
    if (size > c->budget - c->spent) {
        c->over_budget = true;
        return NULL;
    }
    void *p = malloc(size ? size : 1);
    if (!p) {
        c->out_of_memory = true;
        return NULL;
    }
    c->spent += size;
    return p;
}

static void counted_free(void *data, void *p)
{
    (void)data;
    free(p);
}

/* The first message at or under m carrying a field its descriptor lacks. */
static const ProtobufCMessage *find_unknown(const ProtobufCMessage *m, int depth)
{
    if (m->n_unknown_fields)
        return m;
    if (depth >= MAX_DEPTH) /* unreachable after the pre-scan; bounds recursion */
        return NULL;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const uint8_t *base = (const uint8_t *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        /* A oneof's union holds another arm unless the case names this one. */
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)(base + f->offset);
            for (size_t j = 0; j < n; j++) {
                const ProtobufCMessage *u = v[j] ? find_unknown(v[j], depth + 1) : NULL;
                if (u)
                    return u;
            }
        } else {
            const ProtobufCMessage *sub = *(ProtobufCMessage *const *)(base + f->offset);
            const ProtobufCMessage *u = sub ? find_unknown(sub, depth + 1) : NULL;
            if (u)
                return u;
        }
    }
    return NULL;
}

int axle_pld_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
                    ProtobufCMessage **out)
{
    size_t at;
    const char *why = prescan(d, data, len, &at);
    if (why)
        return AXLE_SET_ERR(-AXLE_EMSGTYPE,
                            "payload of %zu bytes is not of type %s: %s at offset %zu", len,
                            d->name, why, at);

    struct counted c = {.budget = default_budget(len)};
    ProtobufCAllocator alloc = {counted_alloc, counted_free, &c};
    ProtobufCMessage *m = protobuf_c_message_unpack(d, &alloc, len, data);
    if (!m) {
        if (c.out_of_memory)
            return AXLE_SET_ERR(-ENOMEM, "no memory to decode a %zu-byte %s payload", len, d->name);
        if (c.over_budget)
            return AXLE_SET_ERR(-AXLE_EMSGTYPE,
                                "payload of %zu bytes is not of type %s: needs more than %zu bytes "
                                "to decode",
                                len, d->name, c.budget);
        return AXLE_SET_ERR(-AXLE_EMSGTYPE,
                            "payload of %zu bytes is not of type %s: does not decode", len,
                            d->name);
    }

    int rc;
    const ProtobufCMessage *u;
    if (!protobuf_c_message_check(m)) {
        rc = AXLE_SET_ERR(-AXLE_EMSGTYPE,
                          "payload is not of type %s: fails protobuf_c_message_check (a required "
                          "field is missing)",
                          d->name);
        goto out_free;
    }
    if ((u = find_unknown(m, 1))) {
        rc = AXLE_SET_ERR(-AXLE_EMSGTYPE, "payload is not of type %s: field %u unknown to %s",
                          d->name, u->unknown_fields[0].tag, u->descriptor->name);
        goto out_free;
    }
    *out = m;
    return 0;

out_free:
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

int axle_pld_check(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len)
{
    ProtobufCMessage *m;
    int rc = axle_pld_unpack(d, data, len, &m);
    if (rc < 0)
        return AXLE_ERR_FRAME(rc);
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}
