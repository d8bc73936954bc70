/* libattest: binding evidence to a CSR key, a nonce and a manifest (SPEC 6.2).
 *
 *   report_data[0..32)  = SHA-256(nonce || SHA-256(DER SubjectPublicKeyInfo of the CSR key))
 *   report_data[32..64) = the manifest digest where the platform binds it
 *                         (attest_platform_binds_manifest: tdx, snp), else 32 zero bytes
 *
 * The nonce is hashed as the raw bytes given (1..ATTEST_NONCE_MAX of them): callers agree on one
 * encoding of the manager's nonce, and pass the same bytes on both sides. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <attest/claims.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATTEST_NONCE_MAX 256u
#define ATTEST_MANIFEST_DIGEST_SIZE 32u

/* Computes report_data for nonce, the public part of csr_key and manifest_digest (32 bytes, or
 * NULL for a zero second half; the caller decides: see attest_platform_binds_manifest). This is
 * what the party making evidence puts in it. -EINVAL (nonce empty or longer than
 * ATTEST_NONCE_MAX, key not encodable), -ENOMEM. */
ATTEST_EXPORT int attest_report_data_compute(const uint8_t *nonce, size_t nonce_size,
                                             EVP_PKEY *csr_key, const uint8_t *manifest_digest,
                                             uint8_t ret_report_data[ATTEST_REPORT_DATA_SIZE]);

/* As attest_report_data_compute with the key of a CSR (its signature is not checked here). */
ATTEST_EXPORT int attest_report_data_compute_csr(const uint8_t *nonce, size_t nonce_size,
                                                 X509_REQ *csr, const uint8_t *manifest_digest,
                                                 uint8_t ret_report_data[ATTEST_REPORT_DATA_SIZE]);

/* Checks, in constant time, that verified claims bind nonce and csr_key. manifest_digest must be
 * given (32 bytes) exactly when attest_platform_binds_manifest(claims->platform); for "sim" it
 * must be NULL and the second half must be zero (the measurement covers the manifest, as on SGX).
 * -EBADMSG (ATTEST_STEP_REPORT_DATA) on mismatch; -EINVAL for bad arguments (also
 * ATTEST_STEP_REPORT_DATA); -ENOMEM. */
ATTEST_EXPORT int attest_claims_check_binding(const struct attest_claims *claims,
                                              const uint8_t *nonce, size_t nonce_size,
                                              EVP_PKEY *csr_key, const uint8_t *manifest_digest,
                                              enum attest_step *failed_step);

/* As attest_claims_check_binding with the key of a CSR (its signature is not checked here). */
ATTEST_EXPORT int attest_claims_check_binding_csr(const struct attest_claims *claims,
                                                  const uint8_t *nonce, size_t nonce_size,
                                                  X509_REQ *csr, const uint8_t *manifest_digest,
                                                  enum attest_step *failed_step);

/* As attest_claims_check_binding with the CSR key's DER SubjectPublicKeyInfo, for a caller that
 * holds it already (the manager, which read it from the CSR it verified): the bytes are hashed as
 * given, so they must be the DER encoding, as a CSR carries it. */
ATTEST_EXPORT int attest_claims_check_binding_spki(const struct attest_claims *claims,
                                                   const uint8_t *nonce, size_t nonce_size,
                                                   const uint8_t *spki, size_t spki_size,
                                                   const uint8_t *manifest_digest,
                                                   enum attest_step *failed_step);

#ifdef __cplusplus
}
#endif
