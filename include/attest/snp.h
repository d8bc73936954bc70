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
#define ATTEST_SNP_CERT_MAX (16u << 10)       /* bytes of one certificate, DER or PEM */
#define ATTEST_SNP_CERT_TABLE_MAX (64u << 10) /* bytes of a GHCB certificate table */
#define ATTEST_SNP_CERT_TABLE_ENTRIES_MAX 64u /* its entries, the terminator included */

/* The certificates a report is verified against; each DER or PEM. */
struct attest_snp_cert_files {
    struct attest_bytes vcek; /* the VCEK or the VLEK (told apart by its issuer) */
    struct attest_bytes ask;  /* the ASK (VCEK) or ASVK (VLEK) */
    struct attest_bytes ark;  /* the ARK; must have a pinned key */
    /* SHA-256 of an ARK's SPKI to pin instead of AMD's; NULL: the built-in Milan, Genoa and
     * Turin ARK keys. Tests use it to check that AMD's chain is then refused. */
    const uint8_t *ark_key_sha256;
};

/* Reads a GHCB extended-report certificate table: what the host hands the guest with the report
 * (SNP_GET_EXT_REPORT) and configfs-tsm's "auxblob". The table is a run of 24-byte entries
 * {GUID (16 bytes, RFC 4122 string order), u32 offset, u32 length} (little-endian) ended by an
 * all-zero entry; offsets count from the table's start and point past its entries. Entries:
 * VCEK 63da758d-e664-4564-adc5-f4b93be8accd, VLEK a8074bc2-a25a-483e-aae6-39c045a0b8a1,
 * ASK (or ASVK) 4ab7b379-bbac-4fe4-a02f-05aef327c782, ARK c0b406a4-a803-4952-9743-3fb6014cd0ae;
 * other GUIDs are skipped. ret->vcek is the VLEK when the table has one (the firmware signs with
 * the VLEK whenever one is installed and the guest did not ask for the VCEK), else the VCEK.
 * The members of *ret point into blob (which must outlive them); an absent certificate is left
 * {NULL, 0} for attest_snp_certs_new to name; ark_key_sha256 is NULL. Failures:
 * ATTEST_STEP_COLLATERAL with -E2BIG (more than ATTEST_SNP_CERT_TABLE_MAX bytes or
 * ATTEST_SNP_CERT_TABLE_ENTRIES_MAX entries) or -EBADMSG (no terminator, an entry outside the
 * blob or over the table, an empty entry, a GUID twice). */
ATTEST_EXPORT int attest_snp_cert_table_parse(const uint8_t *blob, size_t size,
                                              struct attest_snp_cert_files *ret,
                                              struct attest_failure *failure);

/* Loaded, chain-checked certificates. Immutable: may be shared by threads. */
struct attest_snp_certs;

/* Parses the certificates (each DER, or the first PEM CERTIFICATE block, at most
 * ATTEST_SNP_CERT_MAX bytes), checks ARK (self-signed, CA, pinned key), ASK/ASVK by ARK and
 * VCEK/VLEK by ASK/ASVK (issuer names, RSA-PSS SHA-384) and reads the VCEK/VLEK (EC P-384 key;
 * extensions: product name, hwID, TCB SPLs). VCEK or VLEK is told by its issuer ("SEV-Milan" or
 * "SEV-VLEK-Milan"); the product (Milan, Genoa, Turin) is the pinned ARK's and must be the
 * issuer's and the productName's. Validity windows are checked at each verification time.
 * Failures: ATTEST_STEP_COLLATERAL (-ENOENT "collateral missing: vcek", -EBADMSG or -E2BIG
 * malformed), ATTEST_STEP_CERT_CHAIN (-EKEYREJECTED: a signature, a name, the pin, products that
 * disagree), -ENOMEM. */
ATTEST_EXPORT int attest_snp_certs_new(const struct attest_snp_cert_files *files,
                                       struct attest_snp_certs **ret,
                                       struct attest_failure *failure);
ATTEST_EXPORT struct attest_snp_certs *attest_snp_certs_free(struct attest_snp_certs *certs);

struct attest_snp_options {
    int64_t at; /* verification time, unix seconds; 0: now */
};

struct attest_snp_result {
    /* platform snp; claims.snp (product, vlek included); debug = policy bit 19; report_data;
     * key_id = SHA-256 of the VCEK's/VLEK's SubjectPublicKeyInfo; tcb_status UpToDate (SNP has
     * no TCB info: the VCEK/VLEK certifies the reported TCB). */
    struct attest_claims claims;
    int64_t valid_until; /* the earliest notAfter of the chain */
};

/* What a report needs from a certificate store, read without verifying anything: its claims
 * (chip_id, reported_tcb, version, vmpl, ...; vlek and product unset) and the product when the
 * report says it (version 3 reports carry the CPUID family and model; "" otherwise). Failures as
 * attest_snp_verify's parse and version steps. */
ATTEST_EXPORT int attest_snp_report_read(const uint8_t *report, size_t size,
                                         struct attest_snp_claims *ret,
                                         struct attest_failure *failure);

/* Verifies a report at options->at (options may be NULL: now), in this order: parse (size
 * exactly ATTEST_SNP_REPORT_SIZE, version 2 or 3 else ATTEST_STEP_VERSION, signature algorithm
 * 1, reserved fields zero; ATTEST_STEP_PARSE); SIGNER_INFO's SIGNING_KEY names the kind of key
 * certs holds (ATTEST_STEP_KEY_ID, -EKEYREJECTED); every certificate's validity window contains
 * the time (ATTEST_STEP_EXPIRED, -EKEYEXPIRED); then ATTEST_STEP_TCB (-EKEYREJECTED): a version 3
 * report's CPUID family/model is the certificates' product, the VCEK's hwID equals CHIP_ID
 * (VCEK only, all 64 bytes, the first 8 on Turin; not compared when MASK_CHIP_ID is set and
 * CHIP_ID is zero), the certificate's TCB SPLs equal REPORTED_TCB (not CURRENT_TCB); last the
 * signature (ECDSA P-384 SHA-384 over bytes 0x000–0x29F, R and S little-endian;
 * ATTEST_STEP_SIGNATURE, -EBADMSG). The TCB checks come before the signature so that a VCEK of
 * another chip or TCB is named as such rather than as a bad signature. Debug, migration agent,
 * SMT and VMPL are claims for the policy (policy.h). */
ATTEST_EXPORT int attest_snp_verify(const uint8_t *report, size_t size,
                                    const struct attest_snp_certs *certs,
                                    const struct attest_snp_options *options,
                                    struct attest_snp_result *ret, struct attest_failure *failure);

#ifdef __cplusplus
}
#endif
