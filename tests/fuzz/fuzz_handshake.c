/*
 * tests/fuzz/fuzz_handshake.c — the handshake state machine fed arbitrary
 * frames.
 *
 * The input is split into frames the way a connection would (4-byte
 * little-endian length, then that many bytes; a length past the input
 * ends it). The first input byte picks the role and whether a secret is
 * held. Each frame that decodes is fed to the machine until it finishes or
 * fails. Invariants checked:
 *   - a failed machine stays failed: every later feed fails;
 *   - with a secret, DONE is reached only through a proof that matches the
 *     HMAC of the nonces (checked independently here);
 *   - without a secret, DONE is reached right after one hello.
 * Nonces are fixed after init so runs are reproducible.
 */
#include "../../core/ipc/handshake.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t secret[] = "fuzz-secret";

static void expected_mac(const axle__hs *hs, uint8_t out[AXLE__MAC_LEN])
{
    const char *role = hs->client ? "axle-server" : "axle-client";
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, secret, sizeof secret - 1);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)role, strlen(role));
    crypto_auth_hmacsha256_update(&st, hs->nonce, AXLE__NONCE_LEN);
    crypto_auth_hmacsha256_update(&st, hs->peer_nonce, AXLE__NONCE_LEN);
    crypto_auth_hmacsha256_final(&st, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (sodium_init() < 0)
        abort();
    bool client = data[0] & 1, with_secret = data[0] & 2;
    data++, size--;
    axle__hs hs;
    axle__hs_init(&hs, client, with_secret ? secret : NULL, with_secret ? sizeof secret - 1 : 0);
    memset(hs.nonce, 0x5a, sizeof hs.nonce);
    axle_uid self = {.name = "fuzz", .pid = 1};
    (void)axle__hs_hello(&hs, &self, 0);
    int hellos = 0;
    bool failed = false;
    while (size >= 4) {
        uint32_t len = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                       (uint32_t)data[3] << 24;
        data += 4, size -= 4;
        if (len > size)
            break;
        axle_msg *m;
        if (axle_msg_decode(data, len, 0, &m) == 0) {
            enum axle__hs_state before = hs.state;
            bool proof_ok = false;
            if (before == AXLE__HS_PROOF && m->env->msg_case == AXLE__ENVELOPE__MSG_PROOF &&
                m->env->proof->mac.len == AXLE__MAC_LEN) {
                uint8_t want[AXLE__MAC_LEN];
                expected_mac(&hs, want);
                proof_ok = memcmp(want, m->env->proof->mac.data, AXLE__MAC_LEN) == 0;
            }
            int rc = axle__hs_feed(&hs, m->env);
            if (m->env->msg_case == AXLE__ENVELOPE__MSG_HELLO)
                hellos++;
            axle_msg_free(m);
            if (failed && rc >= 0)
                abort(); /* a failed machine came back to life */
            if (rc < 0)
                failed = true;
            if (rc == 2)
                (void)axle__hs_proof(&hs);
            if (hs.state == AXLE__HS_DONE && before != AXLE__HS_DONE) {
                if (with_secret && !proof_ok)
                    abort(); /* authenticated without the right proof */
                if (!with_secret && (before != AXLE__HS_HELLO || hellos == 0))
                    abort();
            }
        }
        data += len, size -= len;
    }
    axle_error_clear();
    return 0;
}
