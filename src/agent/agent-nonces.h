/* The agent's pool of prefetched attestation nonces (docs/agent.md, "Nonce pool"): GET
 * /v1/challenge answers from it without a call to the manager. Nonces stay the manager's: each is
 * used once at issuance and expires NONCE_TTL_DEFAULT_SEC (300 s) after the manager minted it;
 * the pool only hands each one out once, while it still has at least 4 minutes to live.
 *
 * These are the pure parts (a fixed array, times passed in, the parser of the manager's answer),
 * so that the unit tests and the fuzz target call them directly; the refill through
 * agent-upstream is agent_nonces_refill() in agent.h. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGENT_NONCES_MAX 128u /* the pool's size, and the most the manager mints at once */
#define AGENT_NONCES_LOW 64u  /* a refill starts when fewer are left */
/* A pooled nonce is handed out only this long after its refill was sent (which is no later than
 * the manager minted it): an app gets at least 240 of its 300 s. */
#define AGENT_NONCE_MAX_AGE_MS 60000
#define AGENT_NONCE_RETRY_MS 1000 /* after a failed refill, none starts for this long */
#define AGENT_NONCE_TEXT_MAX 64u  /* bytes of a nonce with its NUL (the manager's NONCE_TEXT_MAX) */
#define AGENT_NONCE_TIME_MAX 40u  /* bytes of an expires_at with its NUL */
/* {"nonce":"...","expires_at":"..."} */
#define AGENT_CHALLENGE_JSON_MAX (32u + AGENT_NONCE_TEXT_MAX + AGENT_NONCE_TIME_MAX)

struct agent_nonce {
    char nonce[AGENT_NONCE_TEXT_MAX];
    char expires_at[AGENT_NONCE_TIME_MAX];
    int64_t fetched_ms; /* monotonic: when the refill that brought it was sent */
};

struct agent_nonces {
    struct agent_nonce items[AGENT_NONCES_MAX]; /* a ring, oldest first */
    unsigned head, count;
    bool refilling;         /* one refill at a time */
    int64_t refill_sent_ms; /* of the refill in flight */
    int64_t retry_after_ms; /* no refill before this (after a failure) */
};

/* Times are time_monotonic_ms() (crypto-util.h). */

/* Removes the oldest nonce still young enough at now_ms into *ret, dropping older ones for good.
 * -ENOENT when none is left. A nonce taken is gone: it is never returned again. */
int agent_nonces_take(struct agent_nonces *p, int64_t now_ms, struct agent_nonce *ret);

/* How many more the pool holds (what a refill asks for). */
unsigned agent_nonces_room(const struct agent_nonces *p);

/* Whether a refill should start now: fewer than AGENT_NONCES_LOW left, none in flight, and not
 * right after a failure. */
bool agent_nonces_want_refill(const struct agent_nonces *p, int64_t now_ms);

/* Adds the nonces of the manager's answer to POST /v1/node/nonce, fetched at fetched_ms:
 * {"nonces": [1 to AGENT_NONCES_MAX strings], "expires_at"} or, from a manager without batches,
 * {"nonce", "expires_at"}. Each nonce is 1 to AGENT_NONCE_TEXT_MAX - 1 base64url characters and
 * expires_at 1 to AGENT_NONCE_TIME_MAX - 1 characters of an RFC 3339 time, so that both go into
 * JSON text as they are. Takes at most agent_nonces_room(); the rest are dropped (never handed
 * out). Returns how many were added; -EBADMSG (nothing added) when anything is malformed. */
int agent_nonces_add_answer(struct agent_nonces *p, const char *body, size_t size,
                            int64_t fetched_ms);

/* The answer to GET /v1/challenge for n, NUL-terminated; returns its length. */
size_t agent_nonce_format(const struct agent_nonce *n, char out[AGENT_CHALLENGE_JSON_MAX]);
