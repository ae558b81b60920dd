/*
 * axle/msg.h — the wire protocol's messages (proto/axle.proto) and payloads.
 *
 * Every frame carries one axle.Envelope: a protocol version and a oneof of
 * the message kinds (hello, proof, spawn_spec, start, start_ack, started,
 * yield, stop, return, cancel_ack, error, registrar request and reply, the
 * debugger lock dialog). The C types come from protoc-c: Axle__Envelope,
 * Axle__Start, ... in <axle/axle.pb-c.h>.
 *
 * Payloads (of start, started, yield, return) are opaque bytes to the
 * runtime. The helpers below pack a protobuf-c message as a payload and
 * check a payload against the descriptor a context declares.
 *
 * Callable anywhere (no scheduler needed).
 */
#ifndef AXLE_MSG_H
#define AXLE_MSG_H

#include <axle/axle.pb-c.h>
#include <axle/error.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * How deep messages may nest inside a frame or payload. Checked on the wire
 * bytes before decoding, since protobuf-c's decoder recurses without a
 * limit and a small hostile frame could otherwise overflow a fiber stack.
 */
#define AXLE_MSG_MAX_DEPTH 32

/* The protocol version this build speaks; the handshake refuses others. */
#define AXLE_PROTO_VERSION 1u

/* A decoded envelope and the memory it lives in. */
typedef struct axle_msg {
    Axle__Envelope *env; /* the message; valid until axle_msg_free */
    void *arena_;        /* private: the allocation arena env lives in */
} axle_msg;

/*
 * axle_msg_encoded_size — bytes env encodes to (without the 4-byte length).
 */
AXLE_API size_t axle_msg_encoded_size(const Axle__Envelope *env);

/*
 * axle_msg_encode_frame — the whole frame: 4-byte little-endian length,
 * then env encoded, into buf (which must hold 4 + axle_msg_encoded_size).
 * Returns: the frame length.
 */
AXLE_API size_t axle_msg_encode_frame(const Axle__Envelope *env, uint8_t *buf);

/*
 * axle_msg_decode — decode one envelope (the bytes after the length).
 * Allocation is bounded by budget bytes (0: a default of 16 × len + 16 KiB),
 * so a small frame cannot make the decoder allocate without bound.
 *   out: receives the message, owned (axle_msg_free).
 * Returns: 0.
 * Errors: -EBADMSG (does not decode, nests messages deeper than
 *   AXLE_MSG_MAX_DEPTH, or needs more than the budget);
 *   -EPROTO (decodes, but its kind is unknown to this version, or it has no
 *   kind); -ENOMEM.
 */
AXLE_API int axle_msg_decode(const uint8_t *data, size_t len, size_t budget, axle_msg **out);

/* axle_msg_free — free a decoded message. NULL is allowed. Invalidates m. */
AXLE_API void axle_msg_free(axle_msg *m);

/* The name of an envelope's kind ("start", "error", ...; "none" when unset). */
AXLE_API const char *axle_msg_kind_name(const Axle__Envelope *env);

/*
 * axle_pld_pack — encode a protobuf-c message as a payload.
 *   out: receives malloc'd bytes, owned by the caller (free()); *len their count.
 * Returns: 0.  Errors: -ENOMEM.
 */
AXLE_API int axle_pld_pack(const ProtobufCMessage *m, uint8_t **out, size_t *len);

/*
 * axle_pld_unpack — decode a payload as the message type d, strictly: it
 * must decode, pass protobuf_c_message_check, and carry no field unknown to
 * d (at any depth).
 *   out: receives the message, owned: free it with
 *        protobuf_c_message_free_unpacked(*out, NULL).
 * Returns: 0.
 * Errors: -AXLE_EMSGTYPE (the payload is not a d, nests deeper than
 *   AXLE_MSG_MAX_DEPTH, or needs more than the decode budget; the rich
 *   error says why);
 *   -ENOMEM.
 */
AXLE_API int axle_pld_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
                             ProtobufCMessage **out);

/* axle_pld_check — axle_pld_unpack without keeping the result. */
AXLE_API int axle_pld_check(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
