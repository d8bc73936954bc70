/* The tamper-evident audit log: one hash chain per account, plus the system chain.
 *
 * Each event's hash is SHA-256 over a canonical, length-prefixed encoding of its fields and the
 * previous event's hash; seq numbers are contiguous per chain. Periodic checkpoints sign
 * (chain, seq, hash) with the manager's Ed25519 audit key (derived from the master key), so an
 * edit, deletion or reordering is detected even by someone who recomputes the hashes.
 * Format and verification rules: docs/audit.md. */
#pragma once

#include <jansson.h>

#include "manager.h"
#include "store.h"

#define AUDIT_SYSTEM_CHAIN "system"

struct audit_event {
    const char *chain;      /* acct_id or AUDIT_SYSTEM_CHAIN */
    const char *time;       /* RFC 3339 */
    const char *actor_type; /* USER, APP, NODE, SYSTEM */
    const char *actor_id;
    const char *actor_name;
    const char *action_type; /* USER_AUTH, ADMIN, USER_APPROVAL, ... */
    const char *severity;    /* INFO, WARNING, ERROR */
    const char *message;
    const char *entity_type; /* may be NULL */
    const char *entity_id;   /* may be NULL */
};

/* Appends an event; must run inside the caller's write transaction (it locks the chain head). */
int audit_append(struct store *store, const struct audit_event *event);

/* Walks a chain and checks hashes, links, contiguity and checkpoint signatures. Returns 0 and
 * a report {valid, events_checked, checkpoints_checked, last_seq, audit_public_key, error?}
 * whatever the verdict; < 0 only when the store fails. */
int audit_verify(struct store *store, const struct manager_keys *keys, const char *chain,
                 json_t **ret_report);

/* Signs a checkpoint at the chain's head if it moved since the last one (own transaction). */
int audit_checkpoint(struct store *store, const struct manager_keys *keys, const char *chain);
/* Checkpoints every chain whose head moved (the jobs process calls this periodically). */
int audit_checkpoint_all(struct store *store, const struct manager_keys *keys);

/* Removes a chain with its head and checkpoints (account deletion; caller's transaction). */
int audit_delete_chain(struct store *store, const char *chain);

/* The audit public key as PEM (newly allocated). */
int audit_public_key_pem(const struct manager_keys *keys, char **ret_pem);
