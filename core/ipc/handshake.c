/*
 * core/ipc/handshake.c — the handshake state machine (see handshake.h).
 *
 * Everything the peer sent is untrusted: lengths of the uuid and nonce are
 * checked before copying, the name is bounded, and every failure moves the
 * machine to FAILED so no later frame can revive it. Proofs are compared
 * in constant time by libsodium's verify.
 */
#include "handshake.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

static const char ROLE_CLIENT[] = "axle-client";
static const char ROLE_SERVER[] = "axle-server";

void axle__hs_init(axle__hs *hs, bool client, const uint8_t *cookie, size_t cookie_len)
{
    memset(hs, 0, sizeof *hs);
    hs->state = AXLE__HS_HELLO;
    hs->client = client;
    hs->cookie = cookie_len ? cookie : NULL;
    hs->cookie_len = cookie ? cookie_len : 0;
    randombytes_buf(hs->nonce, sizeof hs->nonce);
}

const Axle__Envelope *axle__hs_hello(axle__hs *hs, const axle_uid *self, uint32_t flags)
{
    axle__uid__init(&hs->out_uid);
    hs->out_uid.name = (char *)self->name;
    hs->out_uid.uuid.data = (uint8_t *)self->uuid;
    hs->out_uid.uuid.len = sizeof self->uuid;
    hs->out_uid.pid = self->pid;
    axle__hello__init(&hs->out_hello);
    hs->out_hello.uid = &hs->out_uid;
    hs->out_hello.is_registrar = (flags & AXLE_HELLO_REGISTRAR) != 0;
    hs->out_hello.is_probe = (flags & AXLE_HELLO_PROBE) != 0;
    hs->out_hello.nonce.data = hs->nonce;
    hs->out_hello.nonce.len = sizeof hs->nonce;
    hs->out_hello.auth = hs->cookie != NULL;
    axle__envelope__init(&hs->out_env);
    hs->out_env.version = AXLE_PROTO_VERSION;
    hs->out_env.msg_case = AXLE__ENVELOPE__MSG_HELLO;
    hs->out_env.hello = &hs->out_hello;
    return &hs->out_env;
}

/* mac = HMAC-SHA256(cookie, role || first || second). */
static void mac_of(const axle__hs *hs, const char *role, const uint8_t *first,
                   const uint8_t *second, uint8_t out[AXLE__MAC_LEN])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, hs->cookie, hs->cookie_len);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)role, strlen(role));
    crypto_auth_hmacsha256_update(&st, first, AXLE__NONCE_LEN);
    crypto_auth_hmacsha256_update(&st, second, AXLE__NONCE_LEN);
    crypto_auth_hmacsha256_final(&st, out);
}

const Axle__Envelope *axle__hs_proof(axle__hs *hs)
{
    /* Ours: our role, then the peer's nonce (the challenge), then ours. */
    mac_of(hs, hs->client ? ROLE_CLIENT : ROLE_SERVER, hs->peer_nonce, hs->nonce, hs->out_mac);
    axle__proof__init(&hs->out_proof);
    hs->out_proof.mac.data = hs->out_mac;
    hs->out_proof.mac.len = sizeof hs->out_mac;
    axle__envelope__init(&hs->out_env);
    hs->out_env.version = AXLE_PROTO_VERSION;
    hs->out_env.msg_case = AXLE__ENVELOPE__MSG_PROOF;
    hs->out_env.proof = &hs->out_proof;
    return &hs->out_env;
}

static int fail(axle__hs *hs, int code) /* the rich error is already set */
{
    hs->state = AXLE__HS_FAILED;
    return code;
}

static int take_hello(axle__hs *hs, const Axle__Hello *h)
{
    const Axle__Uid *u = h->uid;
    if (!u || !u->name || !u->name[0] || strlen(u->name) >= sizeof hs->peer.name)
        return fail(hs, AXLE_SET_ERR(-EPROTO, "hello: missing or oversized actor name"));
    if (u->uuid.len != sizeof hs->peer.uuid)
        return fail(hs, AXLE_SET_ERR(-EPROTO, "hello: uuid of %zu bytes, want 16", u->uuid.len));
    if (h->nonce.len != AXLE__NONCE_LEN)
        return fail(hs, AXLE_SET_ERR(-EPROTO, "hello: nonce of %zu bytes, want %d", h->nonce.len,
                                     AXLE__NONCE_LEN));
    strcpy(hs->peer.name, u->name);
    memcpy(hs->peer.uuid, u->uuid.data, sizeof hs->peer.uuid);
    hs->peer.pid = u->pid;
    hs->peer_flags =
        (h->is_registrar ? AXLE_HELLO_REGISTRAR : 0) | (h->is_probe ? AXLE_HELLO_PROBE : 0);
    memcpy(hs->peer_nonce, h->nonce.data, AXLE__NONCE_LEN);
    if (hs->cookie && !h->auth)
        return fail(hs, AXLE_SET_ERR(-AXLE_EAUTH, "peer %s holds no secret; this tree requires one",
                                     hs->peer.name));
    if (!hs->cookie && h->auth)
        return fail(hs, AXLE_SET_ERR(-AXLE_EAUTH,
                                     "peer %s requires a secret; none is set here (AXLE_COOKIE)",
                                     hs->peer.name));
    if (!hs->cookie) {
        hs->state = AXLE__HS_DONE;
        return 1;
    }
    hs->state = AXLE__HS_PROOF;
    return 2;
}

static int take_proof(axle__hs *hs, const Axle__Proof *p)
{
    if (p->mac.len != AXLE__MAC_LEN)
        return fail(
            hs, AXLE_SET_ERR(-AXLE_EAUTH, "proof of %zu bytes from %s", p->mac.len, hs->peer.name));
    uint8_t want[AXLE__MAC_LEN];
    /* Theirs: their role, then our nonce (their challenge), then theirs. */
    mac_of(hs, hs->client ? ROLE_SERVER : ROLE_CLIENT, hs->nonce, hs->peer_nonce, want);
    if (sodium_memcmp(want, p->mac.data, AXLE__MAC_LEN) != 0)
        return fail(hs, AXLE_SET_ERR(-AXLE_EAUTH, "wrong proof from %s: the secrets differ",
                                     hs->peer.name));
    hs->state = AXLE__HS_DONE;
    return 1;
}

int axle__hs_feed(axle__hs *hs, const Axle__Envelope *env)
{
    if (hs->state == AXLE__HS_FAILED || hs->state == AXLE__HS_DONE)
        return fail(hs, AXLE_SET_ERR(-EPROTO, "handshake frame after the handshake ended"));
    if (env->version != AXLE_PROTO_VERSION)
        return fail(hs, AXLE_SET_ERR(-AXLE_EVERSION, "peer speaks protocol version %u, we speak %u",
                                     env->version, AXLE_PROTO_VERSION));
    if (hs->state == AXLE__HS_HELLO) {
        if (env->msg_case != AXLE__ENVELOPE__MSG_HELLO || !env->hello)
            return fail(hs,
                        AXLE_SET_ERR(-EPROTO, "expected hello, got %s", axle_msg_kind_name(env)));
        return take_hello(hs, env->hello);
    }
    if (env->msg_case != AXLE__ENVELOPE__MSG_PROOF || !env->proof)
        return fail(hs, AXLE_SET_ERR(-AXLE_EAUTH, "expected proof from %s, got %s", hs->peer.name,
                                     axle_msg_kind_name(env)));
    return take_proof(hs, env->proof);
}
