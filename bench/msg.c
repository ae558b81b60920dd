/*
 * bench/msg.c — the wire codec: encode and decode time of each control
 * message (scenario msg.codec).
 *
 * For each kind below, two measurements, named after the kind:
 *   msg.encode.KIND   what a sender does per frame: axle_msg_encoded_size,
 *                     then axle_msg_encode_frame (pack and length prefix)
 *                     into a reused buffer.
 *   msg.decode.KIND   what a receiver does per frame: axle_msg_decode of
 *                     the envelope with the default budget (the structural
 *                     pre-scan, protobuf-c's unpack into a fresh arena)
 *                     and axle_msg_free.
 * ns_per_op = per frame; `size` = the encoded envelope's bytes (without the
 * 4-byte prefix); impl "axle"; no baseline (the codec is protobuf-c's; this
 * is the price of the envelope on the control plane, next to ipc.rtt).
 *
 * Kinds, filled in as the runtime fills them: hello (uid, 32-byte nonce,
 * auth), start (uid, ns, func, 64-byte kwargs), start_ack, started,
 * yield, return (each a 64-byte payload), stop, cancel_ack, and error: a
 * boxed remote error with its source uid, a relay path of 2 uids,
 * 3 traceback frames, types, message and cid.
 * No scheduler is involved; everything runs on the pinned main thread.
 */
#include "bench.h"

#include <axle/msg.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum { ITERS = 200000, PLD = 64, MAX_FRAME = 1024 };

/* One kind under test. */
struct kind {
    const char *name;         /* the scenario suffix ("start") */
    Axle__Envelope env;       /* the message */
    uint8_t frame[MAX_FRAME]; /* env encoded, prefix included */
    size_t len;               /* bytes of env without the prefix */
};

/* Everything the envelopes point at; static so the kinds can borrow it. */
static struct {
    uint8_t uuid[3][16];
    uint8_t nonce[32];
    uint8_t pld[PLD];
    Axle__Uid uid[3];
    Axle__Uid *path[2];
    Axle__Frame frame[3];
    Axle__Frame *frames[3];
    Axle__Hello hello;
    Axle__Start start;
    Axle__StartAck start_ack;
    Axle__Started started;
    Axle__Yield yield;
    Axle__Stop stop;
    Axle__Return ret;
    Axle__CancelAck cancel_ack;
    Axle__Error error;
} fx;

static struct kind kinds[9];

static void kind_set(struct kind *k, const char *name, Axle__Envelope__MsgCase c, void *m)
{
    k->name = name;
    k->env = (Axle__Envelope)AXLE__ENVELOPE__INIT;
    k->env.version = AXLE_PROTO_VERSION;
    k->env.msg_case = c;
    k->env.hello = m; /* every arm is a pointer in one union */
}

static void fixtures(void)
{
    static const char *names[3] = {"root", "worker.1", "worker.1.3"};
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 16; j++)
            fx.uuid[i][j] = (uint8_t)(i * 16 + j * 7 + 1);
        fx.uid[i] = (Axle__Uid)AXLE__UID__INIT;
        fx.uid[i].name = (char *)names[i];
        fx.uid[i].uuid = (ProtobufCBinaryData){16, fx.uuid[i]};
        fx.uid[i].pid = 41000 + i;
    }
    for (int i = 0; i < 32; i++)
        fx.nonce[i] = (uint8_t)(i * 37 + 11);
    for (int i = 0; i < PLD; i++)
        fx.pld[i] = (uint8_t)(i * 13);
    ProtobufCBinaryData pld = {PLD, fx.pld};

    fx.hello = (Axle__Hello)AXLE__HELLO__INIT;
    fx.hello.uid = &fx.uid[1];
    fx.hello.nonce = (ProtobufCBinaryData){32, fx.nonce};
    fx.hello.auth = 1;

    fx.start = (Axle__Start)AXLE__START__INIT;
    fx.start.cid = 1001;
    fx.start.ns = "pipeline";
    fx.start.func = "stage";
    fx.start.kwargs = pld;
    fx.start.uid = &fx.uid[0];

    fx.start_ack = (Axle__StartAck)AXLE__START_ACK__INIT;
    fx.start_ack.cid = 1001;
    fx.start_ack.functype = AXLE__FUNC_TYPE__FUNC_CONTEXT;

    fx.started = (Axle__Started)AXLE__STARTED__INIT;
    fx.started.cid = 1001;
    fx.started.pld = pld;

    fx.yield = (Axle__Yield)AXLE__YIELD__INIT;
    fx.yield.cid = 1001;
    fx.yield.pld = pld;

    fx.stop = (Axle__Stop)AXLE__STOP__INIT;
    fx.stop.cid = 1001;

    fx.ret = (Axle__Return)AXLE__RETURN__INIT;
    fx.ret.cid = 1001;
    fx.ret.pld = pld;

    fx.cancel_ack = (Axle__CancelAck)AXLE__CANCEL_ACK__INIT;
    fx.cancel_ack.cid = 1001;
    fx.cancel_ack.pld = 1;

    static const char *funcs[3] = {"conn_recv", "ctx_result", "portal_run"};
    static const char *files[3] = {"core/ipc/conn.c", "core/ctx.c", "core/portal.c"};
    for (int i = 0; i < 3; i++) {
        fx.frame[i] = (Axle__Frame)AXLE__FRAME__INIT;
        fx.frame[i].func = (char *)funcs[i];
        fx.frame[i].file = (char *)files[i];
        fx.frame[i].line = 100 + 17 * i;
        fx.frames[i] = &fx.frame[i];
    }
    fx.path[0] = &fx.uid[2];
    fx.path[1] = &fx.uid[1];
    fx.error = (Axle__Error)AXLE__ERROR__INIT;
    fx.error.src_uid = &fx.uid[2];
    fx.error.src_type = "ECONNRESET";
    fx.error.boxed_type = "RemoteActorError";
    fx.error.n_relay_path = 2;
    fx.error.relay_path = fx.path;
    fx.error.message = "peer worker.1.3 closed the connection";
    fx.error.cid = 1001;
    fx.error.has_cid = 1;
    fx.error.code = -ECONNRESET;
    fx.error.n_frames = 3;
    fx.error.frames = fx.frames;

    struct kind *k = kinds;
    kind_set(k++, "hello", AXLE__ENVELOPE__MSG_HELLO, &fx.hello);
    kind_set(k++, "start", AXLE__ENVELOPE__MSG_START, &fx.start);
    kind_set(k++, "start_ack", AXLE__ENVELOPE__MSG_START_ACK, &fx.start_ack);
    kind_set(k++, "started", AXLE__ENVELOPE__MSG_STARTED, &fx.started);
    kind_set(k++, "yield", AXLE__ENVELOPE__MSG_YIELD, &fx.yield);
    kind_set(k++, "stop", AXLE__ENVELOPE__MSG_STOP, &fx.stop);
    kind_set(k++, "return", AXLE__ENVELOPE__MSG_RETURN, &fx.ret);
    kind_set(k++, "cancel_ack", AXLE__ENVELOPE__MSG_CANCEL_ACK, &fx.cancel_ack);
    kind_set(k++, "error", AXLE__ENVELOPE__MSG_ERROR, &fx.error);
}

static int encode_round(void *arg, uint64_t n)
{
    struct kind *k = arg;
    for (uint64_t i = 0; i < n; i++) {
        size_t len = axle_msg_encoded_size(&k->env);
        if (len > MAX_FRAME - 4)
            return -EMSGSIZE;
        axle_msg_encode_frame(&k->env, k->frame);
        __asm__ volatile("" ::"r"(k->frame) : "memory"); /* the bytes are used */
    }
    return 0;
}

static int decode_round(void *arg, uint64_t n)
{
    struct kind *k = arg;
    for (uint64_t i = 0; i < n; i++) {
        axle_msg *m;
        int rc = axle_msg_decode(k->frame + 4, k->len, 0, &m);
        if (rc < 0)
            return rc;
        __asm__ volatile("" ::"r"(m->env) : "memory");
        axle_msg_free(m);
    }
    return 0;
}

static int msg_codec(void)
{
    fixtures();
    double samples[BENCH_MAX_REPS];
    char name[40];
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        struct kind *k = &kinds[i];
        k->len = axle_msg_encoded_size(&k->env);
        if (k->len > MAX_FRAME - 4)
            return -EMSGSIZE;

        int rc = bench_series(encode_round, k, bench_iters(ITERS), 1, samples);
        if (rc < 0)
            return rc;
        snprintf(name, sizeof name, "msg.encode.%s", k->name);
        bench_measure(name, (int)k->len, "axle", "ns_per_op", samples, bench_reps());

        /* encode_round left the frame in k->frame. */
        rc = bench_series(decode_round, k, bench_iters(ITERS), 1, samples);
        if (rc < 0)
            return rc;
        snprintf(name, sizeof name, "msg.decode.%s", k->name);
        bench_measure(name, (int)k->len, "axle", "ns_per_op", samples, bench_reps());
    }
    return 0;
}

const bench_scenario bench_msg_scenarios[] = {
    {"msg.codec", "encode and decode time of each control message kind", msg_codec},
    {0},
};
