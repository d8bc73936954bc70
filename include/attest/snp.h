/* libattest: AMD SEV-SNP attestation report verification (report versions 2 and 3; Milan,
 * Genoa and Turin) against a VCEK or VLEK and its AMD chain (SPEC 6.1).
 *
 * Trust: each product's ARK is pinned by the SHA-256 of its public key (SubjectPublicKeyInfo).
 * The chain ARK → ASK (VCEK) or ARK → ASVK (VLEK) → VCEK/VLEK is checked once when the
 * certificates are loaded (attest_snp_certs_new); each report then costs one P-384 verify. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <attest/claims.h>
#include <attest/intel.h> /* struct attest_bytes */

#ifdef __cplusplus
extern "C" {
#endif

#define ATTEST_SNP_REPORT_SIZE 1184u

/* The certificates a report is verified against; each DER or PEM. */
struct attest_snp_cert_files {
    struct attest_bytes vcek; /* the VCEK or the VLEK (told apart by its issuer) */
    struct attest_bytes ask;  /* the ASK (VCEK) or ASVK (VLEK) */
    struct attest_bytes ark;  /* the ARK; must have a pinned key */
    /* SHA-256 of an ARK's SPKI to pin instead of AMD's; NULL: the built-in Milan, Genoa and
     * Turin ARK keys. Tests use it to check that AMD's chain is then refused. */
    const uint8_t *ark_key_sha256;
};

/* Loaded, chain-checked certificates. Immutable: may be shared by threads. */
struct attest_snp_certs;

/* Parses the certificates, checks ARK (self-signed, pinned key), ASK/ASVK by ARK and VCEK/VLEK
 * by ASK/ASVK (RSA-PSS SHA-384) and reads the VCEK/VLEK extensions (product name, hwID, TCB
 * SPLs). Validity windows are checked at each verification time. Failures: ATTEST_STEP_COLLATERAL
 * (missing or malformed, "collateral missing: vcek"), ATTEST_STEP_CERT_CHAIN (signature or
 * pinning), -ENOMEM. */
ATTEST_EXPORT int attest_snp_certs_new(const struct attest_snp_cert_files *files,
                                       struct attest_snp_certs **ret,
                                       struct attest_failure *failure);
ATTEST_EXPORT struct attest_snp_certs *attest_snp_certs_free(struct attest_snp_certs *certs);

struct attest_snp_options {
    int64_t at; /* verification time, unix seconds; 0: now */
};

struct attest_snp_result {
    /* platform snp; claims.snp; debug = policy bit 19; report_data; tcb_status UpToDate (SNP
     * has no TCB info: the VCEK/VLEK certifies the reported TCB). */
    struct attest_claims claims;
    int64_t valid_until; /* the earliest notAfter of the chain */
};

/* Verifies a report at options->at: parse (size exactly ATTEST_SNP_REPORT_SIZE, version 2 or 3,
 * signature algorithm 1), certificate validity windows (ATTEST_STEP_EXPIRED), the VCEK's hwID
 * equals CHIP_ID (VCEK only; VLEKs carry no hwID), the certificate's TCB SPLs equal
 * REPORTED_TCB (ATTEST_STEP_TCB), the signature (ECDSA P-384 SHA-384 over bytes 0x000–0x29F,
 * R and S little-endian, ATTEST_STEP_SIGNATURE). Debug, migration agent, SMT and VMPL are
 * claims for the policy (policy.h). */
ATTEST_EXPORT int attest_snp_verify(const uint8_t *report, size_t size,
                                    const struct attest_snp_certs *certs,
                                    const struct attest_snp_options *options,
                                    struct attest_snp_result *ret,
                                    struct attest_failure *failure);

#ifdef __cplusplus
}
#endif
