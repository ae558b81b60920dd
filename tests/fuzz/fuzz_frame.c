/*
 * tests/fuzz/fuzz_frame.c — libFuzzer target: the frame decoder.
 *
 * Input: the bytes after a frame's length prefix, as the connection layer
 * hands them to axle_msg_decode. The decoder must return 0, -EBADMSG,
 * -EPROTO or -ENOMEM and nothing else; ASan and UBSan watch the rest.
 *
 * A decoded envelope is encoded again (a whole frame, its prefix checked),
 * that frame decoded with the same budget, and encoded once more: the two
 * encodings must be byte-identical. protobuf-c's encoding of a decoded
 * message is canonical (fields in number order, defaults omitted, unknown
 * fields kept in arrival order), so any difference means the decoder lost
 * or invented something. The input itself need not re-encode identically
 * (duplicate fields merge, varints may be padded), hence two rounds.
 */
#include <axle/msg.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* Encodes env as a frame into malloc'd memory, checking the prefix; *len
 * the envelope's size (without the prefix). */
static uint8_t *encode(const Axle__Envelope *env, size_t *len)
{
    size_t n = axle_msg_encoded_size(env);
    uint8_t *frame = malloc(4 + n);
    if (!frame)
        abort();
    if (axle_msg_encode_frame(env, frame) != 4 + n)
        abort();
    uint32_t prefix = (uint32_t)frame[0] | (uint32_t)frame[1] << 8 | (uint32_t)frame[2] << 16 |
                      (uint32_t)frame[3] << 24;
    if (prefix != n)
        abort();
    *len = n;
    return frame;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The default budget, made explicit so the second decode gets the
     * same one even though the re-encoding may be shorter. */
    size_t budget = 16 * size + 16 * 1024;
    axle_msg *m = NULL;
    int rc = axle_msg_decode(data, size, budget, &m);
    if (rc < 0) {
        if (rc != -EBADMSG && rc != -EPROTO && rc != -ENOMEM)
            abort();
        if (m)
            abort(); /* *out untouched on failure */
        axle_error_clear();
        return 0;
    }
    if (!m || !m->env || m->env->msg_case == AXLE__ENVELOPE__MSG__NOT_SET)
        abort();
    if (!strcmp(axle_msg_kind_name(m->env), "unknown"))
        abort();

    size_t n1, n2;
    uint8_t *f1 = encode(m->env, &n1);
    axle_msg *m2 = NULL;
    if (axle_msg_decode(f1 + 4, n1, budget, &m2) != 0)
        abort();
    if (m2->env->msg_case != m->env->msg_case || m2->env->version != m->env->version)
        abort();
    uint8_t *f2 = encode(m2->env, &n2);
    if (n1 != n2 || memcmp(f1, f2, 4 + n1))
        abort();

    free(f2);
    free(f1);
    axle_msg_free(m2);
    axle_msg_free(m);
    return 0;
}
