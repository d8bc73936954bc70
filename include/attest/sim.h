/* libattest: the simulated ("sim") evidence format, version 1 (docs/sim-evidence.md).
 *
 * A fixed-layout little-endian structure mirroring an SGX report body, signed ECDSA P-256 (DER
 * signature, SHA-256) by the node attestation key made when the node enrolled. It proves nothing
 * about hardware: whoever holds the node key can sign any measurement. Accept it only where the
 * account allows simulation, and label it INSECURE (tcb_status "SimulatedInsecure"). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include <attest/claims.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATTEST_SIM_MAGIC "CLSIM" /* 5 bytes, no terminating NUL on the wire */
#define ATTEST_SIM_VERSION 1u
#define ATTEST_SIM_BODY_SIZE 192u /* the signed part: bytes [0, 192) */
#define ATTEST_SIM_SIG_MIN 8u     /* DER ECDSA-Sig-Value bounds for P-256 */
#define ATTEST_SIM_SIG_MAX 72u
#define ATTEST_SIM_SIZE_MAX (ATTEST_SIM_BODY_SIZE + 2u + ATTEST_SIM_SIG_MAX)

/* Attribute flags, as in SGX's ATTRIBUTES.FLAGS. */
#define ATTEST_SIM_ATTR_INIT UINT64_C(0x1)
#define ATTEST_SIM_ATTR_DEBUG UINT64_C(0x2)
#define ATTEST_SIM_ATTR_MODE64BIT UINT64_C(0x4)

/* The body of a sim report. */
struct attest_sim_report {
    uint16_t version; /* ATTEST_SIM_VERSION */
    uint32_t flags;   /* format flags; none defined in version 1, must be 0 */
    uint8_t mrenclave[ATTEST_MEASUREMENT_SIZE];
    uint8_t mrsigner[ATTEST_MEASUREMENT_SIZE];
    uint16_t isvprodid;
    uint16_t isvsvn;
    uint64_t attributes;
    uint8_t report_data[ATTEST_REPORT_DATA_SIZE];
    uint8_t key_id[ATTEST_KEY_ID_SIZE];
};

/* SHA-256 of the DER SubjectPublicKeyInfo of key's public part: the attestation key id.
 * -EINVAL if key cannot be encoded, -ENOMEM. */
ATTEST_EXPORT int attest_key_id(EVP_PKEY *key, uint8_t ret_key_id[ATTEST_KEY_ID_SIZE]);

/* Serialises and signs report with key (an EC P-256 private key): what the agent's
 * /v1/sim/quote does. report->version must be ATTEST_SIM_VERSION and report->flags 0; the key id
 * written is computed from key (report->key_id is not read). On success *ret_data (malloc'd,
 * caller frees) holds *ret_size bytes (at most ATTEST_SIM_SIZE_MAX).
 * -EINVAL (bad version or flags, key not P-256), -ENOMEM, -EIO (OpenSSL could not sign, e.g.
 * key has no private part). */
ATTEST_EXPORT int attest_sim_report_sign(const struct attest_sim_report *report, EVP_PKEY *key,
                                         uint8_t **ret_data, size_t *ret_size);

/* Parses the structure of a sim report without checking its signature; such a report proves
 * nothing. -EBADMSG (ATTEST_STEP_PARSE: short, bad magic, reserved bytes or flags not zero,
 * signature length out of bounds, trailing bytes) or -EPROTONOSUPPORT (ATTEST_STEP_VERSION). */
ATTEST_EXPORT int attest_sim_report_parse(const uint8_t *data, size_t size,
                                          struct attest_sim_report *ret_report,
                                          enum attest_step *failed_step);

/* Verifies a sim report against the node attestation public key (EC P-256) and returns its
 * claims (platform sim, tcb_status ATTEST_TCB_SIMULATED_INSECURE). Steps, in order: PARSE and
 * VERSION (as attest_sim_report_parse), TRUST (-EINVAL: node_key is NULL or not P-256), KEY_ID
 * (-EKEYREJECTED: the report names another key), SIGNATURE (-EBADMSG). -ENOMEM and -EIO (OpenSSL
 * failure) name the step they happened in. report_data is NOT checked here: see binding.h. */
ATTEST_EXPORT int attest_sim_verify(const uint8_t *data, size_t size, EVP_PKEY *node_key,
                                    struct attest_claims *ret_claims,
                                    enum attest_step *failed_step);

/* As attest_sim_verify, with the node key given as DER SubjectPublicKeyInfo (as enrolled); a key
 * that does not decode fails ATTEST_STEP_TRUST with -EINVAL. */
ATTEST_EXPORT int attest_sim_verify_spki(const uint8_t *data, size_t size, const uint8_t *node_spki,
                                         size_t node_spki_size, struct attest_claims *ret_claims,
                                         enum attest_step *failed_step);

#ifdef __cplusplus
}
#endif
