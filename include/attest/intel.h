/* libattest: Intel SGX (DCAP quote v3) and TDX (quote v4 and v5) verification against Intel's
 * collateral, as Intel's Quote Verification Library defines it (SPEC 6.1).
 *
 * Trust: the Intel SGX Root CA is pinned by the SHA-256 of its public key (SubjectPublicKeyInfo),
 * never by name: the PCK chain in the quote and every issuer chain of the collateral must end in
 * a certificate with that key, self-signed. Collateral is parsed and its signatures checked once
 * (attest_intel_collateral_new); each quote is then checked against it at a given time. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include <attest/claims.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATTEST_INTEL_QUOTE_MAX (64u << 10)     /* bytes of a quote, trailing bytes included */
#define ATTEST_INTEL_COLLATERAL_MAX (1u << 20) /* bytes of any one collateral item */

/* SHA-256 of the DER SubjectPublicKeyInfo of the Intel SGX Root CA's key. */
ATTEST_EXPORT extern const uint8_t attest_intel_root_key_sha256[32];

/* A span of caller bytes. data NULL (size 0) means "not given". */
struct attest_bytes {
    const void *data;
    size_t size;
};

/* The collateral one quote is verified against, as Intel's PCS/PCCS serves it. */
struct attest_intel_collateral_files {
    struct attest_bytes tcb_info;                 /* {"tcbInfo":{…},"signature":"<hex r‖s>"} */
    struct attest_bytes tcb_info_issuer_chain;    /* PEM: TCB Signing cert, then root */
    struct attest_bytes qe_identity;              /* {"enclaveIdentity":{…},"signature":"…"} */
    struct attest_bytes qe_identity_issuer_chain; /* PEM: TCB Signing cert, then root */
    struct attest_bytes root_ca_crl;              /* DER or PEM; optional */
    struct attest_bytes pck_crl;                  /* DER or PEM; optional */
    struct attest_bytes pck_crl_issuer_chain;     /* PEM: PCK CA, then root; with pck_crl */
    /* SHA-256 of the root's SPKI to pin; NULL: attest_intel_root_key_sha256. Tests pin another
     * root to check that a chain to Intel's root is then refused. */
    const uint8_t *root_key_sha256;
};

/* Parsed, signature-checked collateral. Immutable once made, except for an internal cache of
 * verified PCK certificates that a mutex guards: one object may be shared by many threads. */
struct attest_intel_collateral;

/* Parses files and checks every signature in them: issuer chains to the pinned root, the TCB
 * info and QE identity signatures by the TCB Signing key, the CRLs by their issuers. Validity
 * windows are not checked here but at each verification time. Failures: ATTEST_STEP_COLLATERAL
 * (-ENOENT "collateral missing: tcb_info", -EBADMSG malformed, -EKEYREJECTED signature),
 * ATTEST_STEP_CERT_CHAIN (an issuer chain does not end in the pinned root), -ENOMEM. */
ATTEST_EXPORT int attest_intel_collateral_new(const struct attest_intel_collateral_files *files,
                                              struct attest_intel_collateral **ret,
                                              struct attest_failure *failure);

/* Frees collateral (NULL is fine); returns NULL. */
ATTEST_EXPORT struct attest_intel_collateral *
attest_intel_collateral_free(struct attest_intel_collateral *collateral);

/* Facts about the collateral, for status pages and caches. */
struct attest_intel_collateral_info {
    bool tdx; /* the TCB info is "TDX" (else "SGX") */
    uint8_t fmspc[6];
    uint8_t pce_id[2];
    unsigned tcb_evaluation_data_number;
    int64_t tcb_info_issued, tcb_info_next_update;       /* unix seconds */
    int64_t qe_identity_issued, qe_identity_next_update; /* unix seconds */
    int64_t not_after; /* the earliest end of validity of anything in the collateral */
    bool has_crls;     /* both CRLs were given */
};
ATTEST_EXPORT void
attest_intel_collateral_get_info(const struct attest_intel_collateral *collateral,
                                 struct attest_intel_collateral_info *ret);

struct attest_intel_options {
    int64_t at;           /* verification time, unix seconds; 0: now */
    bool crls_missing_ok; /* no CRLs in the collateral: report crls_checked = false instead of
                           * failing at ATTEST_STEP_REVOCATION ("collateral missing: pck_crl") */
};

/* What a verified quote says, beyond its claims. */
struct attest_intel_result {
    /* platform sgx-dcap or tdx; tcb_status is the combined status (Intel QVL's convergence of
     * the platform, QE and TDX module statuses); advisory_ids is the union of all three. For
     * sgx-dcap: mrenclave, mrsigner, isvprodid, isvsvn, attributes (first 8 bytes, LE), debug.
     * For tdx: claims.tdx, debug = TDATTRIBUTES bit 0. report_data for both. */
    struct attest_claims claims;
    enum attest_tcb_status platform_status;   /* the TCB info level that matched */
    enum attest_tcb_status qe_status;         /* the QE identity level that matched */
    enum attest_tcb_status tdx_module_status; /* tdx with tdxModuleIdentities; else 0 */
    int64_t tcb_date;                         /* of the matched platform level, unix seconds */
    /* TD 1.5: Intel QVL would say TDRelaunchAdvised(ConfigurationNeeded) in place of an
     * OutOfDate status: relaunching the TD picks up the TDX module already loaded. The status
     * stays OutOfDate(ConfigurationNeeded) (SPEC 6.1 has no such status); these say the rest. */
    bool td_relaunch_advised;
    bool td_relaunch_configuration_needed;
    bool crls_checked; /* false only with crls_missing_ok and no CRLs in the collateral */
    uint16_t version;  /* quote version: 3, 4 or 5 */
    uint8_t fmspc[6];  /* from the PCK certificate */
    uint8_t pce_id[2];
    uint16_t pce_svn;      /* from the PCK certificate */
    uint8_t cpusvn[16];    /* from the PCK certificate */
    size_t trailing_bytes; /* bytes after the declared signature data, ignored */
    int64_t valid_until;   /* the earliest end of validity of the collateral and chain used */
};

/* What a quote needs from a collateral store, read from the quote without verifying anything:
 * its kind, and the FMSPC, PCE ID and issuing CA of its PCK certificate. For picking collateral
 * before attest_intel_verify, which checks everything. */
struct attest_intel_quote_needs {
    bool tdx; /* a TDX quote: the "TDX" TCB info and the "TD_QE" identity */
    uint8_t fmspc[6];
    uint8_t pce_id[2];
    bool processor_ca; /* the PCK certificate is issued by the PCK Processor CA (else Platform) */
};

/* Fills *ret from the quote. Failures as attest_intel_verify's parse step, ATTEST_STEP_CERT_CHAIN
 * when the PCK certificate or its SGX extensions do not parse. */
ATTEST_EXPORT int attest_intel_quote_needs(const uint8_t *quote, size_t size,
                                           struct attest_intel_quote_needs *ret,
                                           struct attest_failure *failure);

/* Verifies a quote against collateral at options->at, in Intel QVL's order: parse (strict by
 * the declared lengths, trailing bytes tolerated), PCK chain to the pinned root and validity,
 * CRLs (root CA CRL, PCK CA CRL), collateral validity windows (issueDate ≤ at ≤ nextUpdate; a
 * window missed is ATTEST_STEP_EXPIRED), QE report signature by the PCK key, attestation key
 * binding, quote signature by the attestation key, QE identity, TCB level. TCB statuses are
 * results, not failures: the caller's policy (policy.h) decides which it accepts. Only "TCB
 * level not supported" and status Revoked fail (ATTEST_STEP_TCB). Debug is a claim, refused by
 * policy. Returns 0 and fills *ret, or a negative errno with failure set. */
ATTEST_EXPORT int attest_intel_verify(const uint8_t *quote, size_t size,
                                      const struct attest_intel_collateral *collateral,
                                      const struct attest_intel_options *options,
                                      struct attest_intel_result *ret,
                                      struct attest_failure *failure);

#ifdef __cplusplus
}
#endif
