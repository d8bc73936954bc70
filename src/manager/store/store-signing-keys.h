/* Each account's image signing key in the store (table signing_keys; docs/convert.md "Signing
 * in the manager"). One row per account, never changed once written; the private key is sealed
 * by the caller (seal_secret() with aad "signing-key:<acct_id>"). */
#pragma once

#include <stdbool.h>

#include <jansson.h>

#include "store.h"

/* -EEXIST when the account has one already. */
int store_signing_key_insert(struct store *store, const char *acct_id, const char *signer,
                             const char *public_key_pem, const char *key_sealed, const char *now);

/* {signer, public_key_pem, created_at}, plus key_sealed when with_secret; -ENOENT when the
 * account has none yet. */
int store_signing_key_get(struct store *store, const char *acct_id, bool with_secret,
                          json_t **ret_key);
