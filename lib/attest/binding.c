/* libattest: report_data binding of a CSR key, a nonce and a manifest (SPEC 6.2). */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include <attest/attest.h>

#include "attest-util.h"

/* report_data from the SHA-256 of the CSR key's DER SubjectPublicKeyInfo. */
static int
report_data_from_key_digest(const uint8_t *nonce, size_t nonce_size,
                            const uint8_t key_digest[SHA256_SIZE], const uint8_t *manifest_digest,
                            uint8_t ret_report_data[ATTEST_REPORT_DATA_SIZE])
{
    uint8_t report_data[ATTEST_REPORT_DATA_SIZE] = { 0 };
    int r;

    r = attest_sha256(nonce, nonce_size, key_digest, SHA256_SIZE, report_data);
    if (r < 0)
        return r;
    if (manifest_digest)
        memcpy(report_data + SHA256_SIZE, manifest_digest, ATTEST_MANIFEST_DIGEST_SIZE);
    memcpy(ret_report_data, report_data, ATTEST_REPORT_DATA_SIZE);
    return 0;
}

int
attest_report_data_compute(const uint8_t *nonce, size_t nonce_size, EVP_PKEY *csr_key,
                           const uint8_t *manifest_digest,
                           uint8_t ret_report_data[ATTEST_REPORT_DATA_SIZE])
{
    uint8_t key_digest[SHA256_SIZE];
    int r;

    if (!nonce || nonce_size == 0 || nonce_size > ATTEST_NONCE_MAX || !csr_key || !ret_report_data)
        return -EINVAL;
    r = attest_spki_sha256(csr_key, key_digest);
    if (r < 0)
        return r;
    return report_data_from_key_digest(nonce, nonce_size, key_digest, manifest_digest,
                                       ret_report_data);
}

/* The CSR's SubjectPublicKeyInfo as the request holds it (the same DER i2d_PUBKEY of its key
 * gives), without OpenSSL 3's key encoder, which costs more than a signature check. */
static int
csr_spki_sha256(X509_REQ *csr, uint8_t ret_digest[SHA256_SIZE])
{
    unsigned char *der = NULL;
    int n, r;

    n = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(csr), &der);
    if (n <= 0)
        return -EINVAL;
    r = attest_sha256(der, (size_t)n, NULL, 0, ret_digest);
    OPENSSL_free(der);
    return r;
}

static int
report_data_compute_csr(const uint8_t *nonce, size_t nonce_size, X509_REQ *csr,
                        const uint8_t *manifest_digest,
                        uint8_t ret_report_data[ATTEST_REPORT_DATA_SIZE])
{
    uint8_t key_digest[SHA256_SIZE];
    int r;

    if (!nonce || nonce_size == 0 || nonce_size > ATTEST_NONCE_MAX || !csr || !ret_report_data)
        return -EINVAL;
    r = csr_spki_sha256(csr, key_digest);
    if (r < 0)
        return r;
    return report_data_from_key_digest(nonce, nonce_size, key_digest, manifest_digest,
                                       ret_report_data);
}

int
attest_report_data_compute_csr(const uint8_t *nonce, size_t nonce_size, X509_REQ *csr,
                               const uint8_t *manifest_digest,
                               uint8_t ret_report_data[ATTEST_REPORT_DATA_SIZE])
{
    return report_data_compute_csr(nonce, nonce_size, csr, manifest_digest, ret_report_data);
}

/* Checks claims against what nonce, the CSR key's digest (or key_error, when the key could not
 * be read) and manifest_digest give. */
static int
check_binding(const struct attest_claims *claims, const uint8_t *nonce, size_t nonce_size,
              const uint8_t key_digest[SHA256_SIZE], int key_error, const uint8_t *manifest_digest,
              enum attest_step *failed_step)
{
    uint8_t expected[ATTEST_REPORT_DATA_SIZE];
    int r;

    attest_fail(failed_step, ATTEST_STEP_REPORT_DATA);
    if (!claims || !attest_platform_name(claims->platform))
        return -EINVAL;
    /* The digest is given exactly where the platform binds it, so that nobody believes a digest
     * was compared when it was not. */
    if (attest_platform_binds_manifest(claims->platform) != (manifest_digest != NULL))
        return -EINVAL;
    if (!nonce || nonce_size == 0 || nonce_size > ATTEST_NONCE_MAX)
        return -EINVAL;
    if (key_error < 0)
        return key_error;
    r = report_data_from_key_digest(nonce, nonce_size, key_digest, manifest_digest, expected);
    if (r < 0)
        return r;
    if (CRYPTO_memcmp(expected, claims->report_data, ATTEST_REPORT_DATA_SIZE) != 0)
        return -EBADMSG;
    attest_fail(failed_step, ATTEST_STEP_NONE);
    return 0;
}

int
attest_claims_check_binding(const struct attest_claims *claims, const uint8_t *nonce,
                            size_t nonce_size, EVP_PKEY *csr_key, const uint8_t *manifest_digest,
                            enum attest_step *failed_step)
{
    uint8_t key_digest[SHA256_SIZE];
    int r = csr_key ? attest_spki_sha256(csr_key, key_digest) : -EINVAL;

    return check_binding(claims, nonce, nonce_size, key_digest, r, manifest_digest, failed_step);
}

int
attest_claims_check_binding_csr(const struct attest_claims *claims, const uint8_t *nonce,
                                size_t nonce_size, X509_REQ *csr, const uint8_t *manifest_digest,
                                enum attest_step *failed_step)
{
    uint8_t key_digest[SHA256_SIZE];
    int r = csr ? csr_spki_sha256(csr, key_digest) : -EINVAL;

    return check_binding(claims, nonce, nonce_size, key_digest, r, manifest_digest, failed_step);
}

int
attest_claims_check_binding_spki(const struct attest_claims *claims, const uint8_t *nonce,
                                 size_t nonce_size, const uint8_t *spki, size_t spki_size,
                                 const uint8_t *manifest_digest, enum attest_step *failed_step)
{
    uint8_t key_digest[SHA256_SIZE];
    int r = spki && spki_size > 0 ? attest_sha256(spki, spki_size, NULL, 0, key_digest) : -EINVAL;

    return check_binding(claims, nonce, nonce_size, key_digest, r, manifest_digest, failed_step);
}
