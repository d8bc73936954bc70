/* Account image signing keys (signing-keys.h). */
#include "signing-keys.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "cleanup.h"
#include "manifest-signature.h"
#include "manifest.h"
#include "store-signing-keys.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free);

/* The sealed key is bound to its account: it cannot be moved to another account's row. */
static void
key_aad(const char *acct_id, char out[80])
{
    snprintf(out, 80, "signing-key:%s", acct_id);
}

static int
seal_key(const uint8_t seal_key[SEAL_KEY_LEN], const char *acct_id, EVP_PKEY *key,
         char **ret_sealed)
{
    unsigned char *der = NULL;
    char aad[80];
    int len, r;

    len = i2d_PrivateKey(key, &der);
    if (len <= 0)
        return -EIO;
    key_aad(acct_id, aad);
    r = seal_secret(seal_key, aad, der, (size_t)len, ret_sealed);
    OPENSSL_clear_free(der, (size_t)len);
    return r;
}

/* A new key for the account, stored. */
static int
make_key(struct api_request *r, char signer_hex[65])
{
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    _cleanup_free_ char *pem = NULL, *sealed = NULL;
    uint8_t signer[32];
    int err;

    if (!key)
        return -ENOMEM;
    err = manifest_key_signer(key, signer);
    if (err >= 0)
        err = manifest_key_pem(key, &pem);
    if (err >= 0)
        err = seal_key(r->ctx->keys->seal_key, r->acct_id, key, &sealed);
    if (err < 0)
        return err;
    manifest_hex(signer, sizeof(signer), signer_hex);
    return store_signing_key_insert(r->store, r->acct_id, signer_hex, pem, sealed, api_now(r));
}

int
signing_key_ensure(struct api_request *r, json_t **ret_key)
{
    char signer[65];
    int err;

    err = store_signing_key_get(r->store, r->acct_id, false, ret_key);
    if (err != -ENOENT)
        return err;
    err = make_key(r, signer);
    if (err >= 0)
        err = api_audit(r, "IMAGE_CONVERSION", "INFO", "account", r->acct_id,
                        "Made the account's image signing key: signer %s", signer);
    if (err >= 0)
        err = store_signing_key_get(r->store, r->acct_id, false, ret_key);
    return err;
}

int
signing_key_open(const uint8_t seal_key[SEAL_KEY_LEN], struct store *store, const char *acct_id,
                 EVP_PKEY **ret_key)
{
    json_auto_t *row = NULL;
    char *der = NULL;
    const unsigned char *p;
    size_t len = 0;
    char aad[80];
    int err;

    err = store_signing_key_get(store, acct_id, true, &row);
    if (err < 0)
        return err;
    key_aad(acct_id, aad);
    err = open_secret(seal_key, aad, json_string_value(json_object_get(row, "key_sealed")), &der,
                      &len);
    if (err < 0)
        return err;
    p = (const unsigned char *)der;
    *ret_key = d2i_AutoPrivateKey(NULL, &p, (long)len);
    OPENSSL_clear_free(der, len);
    return *ret_key ? 0 : -EBADMSG;
}
