/*
 * core/ipc/handshake.h — the connection handshake as a pure state machine
 * (no I/O), so it can be tested and fuzzed frame by frame. Private.
 *
 * Both sides send Hello (version, uid, flags, a fresh nonce, whether they
 * hold a secret). With a secret on both sides each then sends Proof:
 *     mac = HMAC-SHA256(cookie, role || peer nonce || own nonce)
 * where role is "axle-client" or "axle-server" for the sender, so neither a
 * replayed nor a reflected proof verifies. Without a secret on either side
 * the handshake ends after the hellos. A secret on one side only fails
 * (-AXLE_EAUTH) on both.
 */
#ifndef AXLE_CORE_IPC_HANDSHAKE_H
#define AXLE_CORE_IPC_HANDSHAKE_H

#include <axle/ipc.h>

#define AXLE__NONCE_LEN 32
#define AXLE__MAC_LEN 32

enum axle__hs_state {
    AXLE__HS_HELLO, /* waiting for the peer's hello */
    AXLE__HS_PROOF, /* hello seen; waiting for the peer's proof */
    AXLE__HS_DONE,  /* authenticated (or no secrets at all) */
    AXLE__HS_FAILED /* a feed failed; the connection must close */
};

typedef struct axle__hs {
    enum axle__hs_state state;
    bool client;           /* our role: connect side */
    const uint8_t *cookie; /* borrowed secret, or NULL */
    size_t cookie_len;
    uint8_t nonce[AXLE__NONCE_LEN];      /* ours */
    uint8_t peer_nonce[AXLE__NONCE_LEN]; /* theirs, from their hello */
    axle_uid peer;                       /* from their hello */
    uint32_t peer_flags;                 /* AXLE_HELLO_* from their hello */
    /* Storage for the outgoing frames built by hs_hello / hs_proof. */
    Axle__Envelope out_env;
    Axle__Hello out_hello;
    Axle__Proof out_proof;
    Axle__Uid out_uid;
    uint8_t out_mac[AXLE__MAC_LEN];
} axle__hs;

/* Start a handshake: our role and secret (borrowed for its life), a fresh nonce. */
void axle__hs_init(axle__hs *hs, bool client, const uint8_t *cookie, size_t cookie_len);

/* Our hello (points into hs; valid until the next hs_* call). */
const Axle__Envelope *axle__hs_hello(axle__hs *hs, const axle_uid *self, uint32_t flags);

/*
 * axle__hs_feed — process one frame from the peer.
 * Returns: 0 when more is needed; 1 when the handshake is done; 2 when a
 *   proof must be sent now (axle__hs_proof), after which more is needed.
 * Errors: -AXLE_EVERSION, -EPROTO (not the expected kind, or malformed),
 *   -AXLE_EAUTH; each with a rich error saying why. State is FAILED after.
 */
int axle__hs_feed(axle__hs *hs, const Axle__Envelope *env);

/* Our proof (points into hs; valid until the next hs_* call). */
const Axle__Envelope *axle__hs_proof(axle__hs *hs);

#endif
