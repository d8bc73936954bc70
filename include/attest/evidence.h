/* libattest: the evidence envelope {"type": "sim", "data": "<base64>"} (SPEC 5, 6.1) and
 * verification of any envelope. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include <attest/claims.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATTEST_EVIDENCE_DATA_MAX (64u << 10)  /* decoded evidence bytes */
#define ATTEST_EVIDENCE_JSON_MAX (128u << 10) /* envelope text */
#define ATTEST_EVIDENCE_TYPE_MAX 32u          /* bytes of the type name */

/* A piece of evidence: its type and its raw (decoded) bytes. */
struct attest_evidence {
    enum attest_platform type;
    uint8_t *data;
    size_t size;
};

/* A new envelope holding a copy of size bytes of data (1 ≤ size ≤ ATTEST_EVIDENCE_DATA_MAX).
 * -EINVAL (unknown type, bad size), -ENOMEM. */
ATTEST_EXPORT int attest_evidence_new(enum attest_platform type, const uint8_t *data, size_t size,
                                      struct attest_evidence **ret);

/* Frees evidence (NULL is fine); returns NULL. */
ATTEST_EXPORT struct attest_evidence *attest_evidence_free(struct attest_evidence *evidence);

/* Reads an envelope from a JSON object: exactly the members "type" (a known platform name) and
 * "data" (standard base64 with padding, canonical, decoding to 1..ATTEST_EVIDENCE_DATA_MAX
 * bytes). Failures: ATTEST_STEP_ENVELOPE with -EINVAL (not an object, member missing, of the
 * wrong JSON type or unknown, bad base64) or -E2BIG (too large); ATTEST_STEP_TYPE with
 * -EPROTONOSUPPORT (unknown type name); -ENOMEM. *ret is the caller's (attest_evidence_free). */
ATTEST_EXPORT int attest_evidence_from_json(const json_t *object, struct attest_evidence **ret,
                                            enum attest_step *failed_step);

/* As attest_evidence_from_json, from size bytes of JSON text (at most ATTEST_EVIDENCE_JSON_MAX,
 * else -E2BIG; text that is not JSON: -EINVAL, ATTEST_STEP_ENVELOPE). */
ATTEST_EXPORT int attest_evidence_parse(const char *text, size_t size, struct attest_evidence **ret,
                                        enum attest_step *failed_step);

/* The envelope as a new JSON object {"type", "data"}; the caller owns *ret (json_decref).
 * -EINVAL, -ENOMEM. */
ATTEST_EXPORT int attest_evidence_to_json(const struct attest_evidence *evidence, json_t **ret);

/* The envelope as compact JSON text (malloc'd, NUL-terminated; the caller frees). */
ATTEST_EXPORT int attest_evidence_format(const struct attest_evidence *evidence, char **ret_text);

/* What evidence is verified against. Zero-initialise, then set what applies; later versions add
 * members for hardware collateral. */
struct attest_trust {
    EVP_PKEY *sim_key; /* the node attestation public key (EC P-256), for "sim" evidence */
};

/* Verifies evidence of any supported type and returns its claims. ATTEST_STEP_TYPE with
 * -EOPNOTSUPP for a type this version cannot verify (sgx-dcap, tdx, snp); otherwise as the
 * type's verifier (sim.h: attest_sim_verify; a missing sim_key fails ATTEST_STEP_TRUST). */
ATTEST_EXPORT int attest_evidence_verify(const struct attest_evidence *evidence,
                                         const struct attest_trust *trust,
                                         struct attest_claims *ret_claims,
                                         enum attest_step *failed_step);

#ifdef __cplusplus
}
#endif
