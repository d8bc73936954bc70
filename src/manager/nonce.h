/* Stateless attestation nonces (SPEC 2.1, 6.2): any worker of any replica issues one without
 * writing anything and any other checks it, because a nonce carries its own issue time and
 * randomness under a MAC keyed from the master key (manager_keys.nonce_key).
 *
 *   nonce = base64url(version ‖ issued_at_ms (8, big-endian) ‖ random (16) ‖ MAC (16))
 *   MAC   = HMAC-SHA256(nonce_key, version ‖ issued_at_ms ‖ random), first 16 bytes
 *
 * That a nonce is used only once is the store's job: the issuance that consumes it records
 * nonce_id() under a uniqueness constraint in its own transaction, until the nonce expires. */
#pragma once

#include <stdint.h>

#include "manager.h"

#define NONCE_TEXT_MAX 64
#define NONCE_ID_LEN 32 /* hex of the random part */
#define NONCE_TTL_DEFAULT_SEC 300
/* Most nonces one POST /v1/node/nonce mints ({"count": N}): an agent's pool (docs/agent.md). */
#define NONCE_BATCH_MAX 128
/* Replicas' clocks may differ by this much: a nonce "from the future" within it is accepted. */
#define NONCE_CLOCK_SKEW_MS 60000

/* Writes a new nonce issued at now_ms. */
int nonce_issue(const uint8_t key[NONCE_KEY_LEN], int64_t now_ms, char out[NONCE_TEXT_MAX]);

/* Checks a nonce from outside: 0 when it was issued under key and is at most ttl_sec old at
 * now_ms; -EBADMSG malformed, -EKEYREJECTED not ours (forged or another deployment's), -ETIME
 * expired (or issued too far in the future). On success, id (optional) gets nonce_id. */
int nonce_check(const uint8_t key[NONCE_KEY_LEN], const char *nonce, int64_t now_ms,
                int64_t ttl_sec, char id[NONCE_ID_LEN + 1]);
