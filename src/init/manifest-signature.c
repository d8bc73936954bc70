/* Signing a manifest and checking its signature (manifest-signature.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cleanup.h"
#include "manifest-signature.h"

int
manifest_key_signer(EVP_PKEY *key, uint8_t ret_signer[32])
{
    unsigned char *spki = NULL;
    int n = i2d_PUBKEY(key, &spki), r;

    if (n <= 0)
        return -EINVAL;
    r = manifest_sha256(spki, (size_t)n, ret_signer);
    OPENSSL_free(spki);
    return r;
}

int
manifest_key_pem(EVP_PKEY *key, char **ret_pem)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;
    int r = -ENOMEM;

    if (bio && PEM_write_bio_PUBKEY(bio, key) == 1) {
        len = BIO_get_mem_data(bio, &data);
        *ret_pem = len > 0 && data ? strndup(data, (size_t)len) : NULL;
        r = *ret_pem ? 0 : -ENOMEM;
    } else if (bio)
        r = -EINVAL;
    BIO_free(bio);
    return r;
}

/* Ed25519 signs the message itself (no separate digest); ECDSA and RSA sign its SHA-256. */
static const EVP_MD *
signing_digest(EVP_PKEY *key)
{
    return EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
}

int
manifest_sign(const struct manifest *m, EVP_PKEY *key, unsigned char **ret_signature,
              size_t *ret_size)
{
    _cleanup_free_ char *canonical = NULL;
    unsigned char *signature = NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t size = 0, sig_size = 0;
    int r;

    r = ctx ? manifest_canonical(m, &canonical, &size) : -ENOMEM;
    if (r == 0 &&
        (EVP_DigestSignInit(ctx, NULL, signing_digest(key), NULL, key) != 1 ||
         EVP_DigestSign(ctx, NULL, &sig_size, (unsigned char *)canonical, size) != 1 ||
         !(signature = OPENSSL_malloc(sig_size)) ||
         EVP_DigestSign(ctx, signature, &sig_size, (unsigned char *)canonical, size) != 1))
        r = -EINVAL;
    EVP_MD_CTX_free(ctx);
    if (r < 0) {
        OPENSSL_free(signature);
        return r;
    }
    *ret_signature = signature;
    *ret_size = sig_size;
    return 0;
}

static bool
is_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;

    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

static bool
signature_verifies(const struct manifest *m, EVP_PKEY *key, const void *signature, size_t sig_size)
{
    _cleanup_free_ char *canonical = NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t size = 0;
    bool ok;

    ok = ctx && manifest_canonical(m, &canonical, &size) == 0 &&
         EVP_DigestVerifyInit(ctx, NULL, signing_digest(key), NULL, key) == 1 &&
         EVP_DigestVerify(ctx, signature, sig_size, (unsigned char *)canonical, size) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

static EVP_PKEY *
read_public_key(const char *pem, size_t size)
{
    BIO *bio;
    EVP_PKEY *key;

    if (size == 0 || size > MANIFEST_SIGNER_PEM_MAX)
        return NULL;
    bio = BIO_new_mem_buf(pem, (int)size);
    key = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return key;
}

enum manifest_signature_state
manifest_signature_check(const struct manifest *m, const char *signer_pem, size_t pem_size,
                         const void *signature, size_t sig_size, const char **ret_problem)
{
    uint8_t signer[32];
    EVP_PKEY *key;
    const char *problem = NULL;

    if (is_zero(m->signer, sizeof(m->signer))) {
        if (!signer_pem && !signature)
            return MANIFEST_UNSIGNED;
        problem = "the manifest's signer is all zeros (unsigned) but the image has a signature";
    } else if (!signer_pem || !signature) {
        problem = !signature ? "the manifest names a signer but manifest.sig is missing"
                             : "the manifest names a signer but signer.pem is missing";
    } else if (sig_size == 0 || sig_size > MANIFEST_SIGNATURE_MAX) {
        problem = "manifest.sig is empty or too large";
    } else if (!(key = read_public_key(signer_pem, pem_size))) {
        problem = "signer.pem is not a PEM public key";
    } else {
        if (manifest_key_signer(key, signer) < 0 || memcmp(signer, m->signer, 32) != 0)
            problem = "signer.pem is not the key the manifest's signer names";
        else if (!signature_verifies(m, key, signature, sig_size))
            problem = "manifest.sig does not verify with signer.pem";
        EVP_PKEY_free(key);
    }
    if (ret_problem)
        *ret_problem = problem;
    return problem ? MANIFEST_BAD_SIGNATURE : MANIFEST_SIGNED;
}
