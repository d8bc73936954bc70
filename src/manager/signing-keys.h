/* Each account's image signing key (docs/convert.md, "Signing in the manager"): an Ed25519 key
 * (its signatures are deterministic, so a conversion stays reproducible to the image digest)
 * made with the account's first conversion, sealed under the master key in the store, and
 * used by the conversion runners to sign every manifest the account's conversions make. The
 * builds' mrsigner is its signer (SHA-256 of the DER SubjectPublicKeyInfo). */
#pragma once

#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "api.h"
#include "crypto-util.h"
#include "store.h"

/* Inside a write request (holding the account's lock): the account's key, made, stored and
 * audited first when it has none. *ret_key as store_signing_key_get() without the secret. */
int signing_key_ensure(struct api_request *r, json_t **ret_key);

/* The account's private key, unsealed; -ENOENT when it has none. */
int signing_key_open(const uint8_t seal_key[SEAL_KEY_LEN], struct store *store, const char *acct_id,
                     EVP_PKEY **ret_key);
