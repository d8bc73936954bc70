/* libattest: loading verification collateral from the shapes it is distributed in, into the
 * byte spans the verifiers take (struct attest_intel_collateral_files in intel.h, struct
 * attest_snp_cert_files in snp.h). docs/collateral-formats.md lists every accepted shape.
 *
 * Loading checks form, not trust: JSON must parse, hex must be hex, a CRL must be a CRL, a
 * certificate a certificate; signatures, chains and validity are the verifiers' job. An item
 * that is absent is not an error here: the verifier then reports "collateral missing: <item>".
 * Anything malformed, of an unknown shape or contradictory (two files for one item with
 * different contents) is refused with ATTEST_STEP_COLLATERAL and a reason that names the file
 * or JSON field. No global state; a loaded object is immutable and may be shared by threads. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <attest/claims.h>
#include <attest/intel.h>
#include <attest/snp.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATTEST_COLLATERAL_DOCUMENT_MAX (16u << 20) /* bytes of one file or JSON document */
#define ATTEST_COLLATERAL_TCB_INFOS_MAX 256u       /* TCB infos in one document (bundles) */

/* Loaded collateral: owns copies of every item (Intel items up to ATTEST_INTEL_COLLATERAL_MAX
 * bytes each, AMD certificates up to ATTEST_SNP_CERT_MAX). */
struct attest_collateral;

/* Loads path: a directory laid out like a test-vector case, Intel's QVL sample app or AMD KDS
 * downloads, or one file (any shape attest_collateral_load_data takes; messages name it by its
 * base name). Failures (failure set, step ATTEST_STEP_COLLATERAL): -ENOENT path missing,
 * -E2BIG a file over its limit, -EBADMSG malformed or unknown shape, -ENOTUNIQ contradictory
 * files, -EIO a read error, -EINVAL a NULL path, -ENOMEM. *ret is the caller's
 * (attest_collateral_free). */
ATTEST_EXPORT int attest_collateral_load(const char *path, struct attest_collateral **ret,
                                         struct attest_failure *failure);

/* Loads one JSON document (not NUL-terminated; size bytes): dcap-qvl's QuoteCollateralV3, an
 * sgx_ql_qve_collateral_t-style object (snake_case or camelCase names), PCCS's
 * platform_collaterals.json, or a bare PCS TCB info / QE identity body. Failures as above;
 * messages name JSON fields. */
ATTEST_EXPORT int attest_collateral_load_json(const char *text, size_t size,
                                              struct attest_collateral **ret,
                                              struct attest_failure *failure);

/* Loads the contents of one file: JSON as attest_collateral_load_json, or AMD certificates
 * (a PEM bundle, or one DER certificate) told apart by subject and issuer. name (may be NULL)
 * is used in messages. Failures as above. */
ATTEST_EXPORT int attest_collateral_load_data(const void *data, size_t size, const char *name,
                                              struct attest_collateral **ret,
                                              struct attest_failure *failure);

/* The shape that was loaded: "directory", "dcap-qvl", "qve-collateral",
 * "pccs-platform-collaterals", "pcs-tcb-info", "pcs-qe-identity" or "amd-certificates". */
ATTEST_EXPORT const char *attest_collateral_shape(const struct attest_collateral *collateral);

/* The Intel collateral, pointing into collateral (valid until it is freed; root_key_sha256
 * NULL). NULL when there is no Intel item, or when the document holds several candidates for
 * one item (a PCCS bundle with several FMSPCs, SGX and TDX TCB infos, or both PCK CRLs): then
 * use attest_collateral_intel_select. */
ATTEST_EXPORT const struct attest_intel_collateral_files *
attest_collateral_intel(const struct attest_collateral *collateral);

/* Which PCK CA issued the quote's PCK certificate, to pick the PCK CRL. */
enum attest_pck_ca {
    ATTEST_PCK_CA_ANY = 0,   /* unknown: the only PCK CRL there is */
    ATTEST_PCK_CA_PROCESSOR, /* "Intel SGX PCK Processor CA" */
    ATTEST_PCK_CA_PLATFORM,  /* "Intel SGX PCK Platform CA" */
};

/* What a quote needs from a bundle. */
struct attest_collateral_key {
    bool tdx;             /* a TDX quote: the "TDX" TCB info and the "TD_QE" identity */
    const uint8_t *fmspc; /* 6 bytes; NULL: the only TCB info of that kind */
    enum attest_pck_ca pck_ca;
};

/* Fills *ret with the items that match key, pointing into collateral; an item with no match
 * is left {NULL, 0}, for the verifier to report missing. Failures (failure set, step
 * ATTEST_STEP_COLLATERAL): -ENOENT no Intel item at all, -ENOTUNIQ several items match (the
 * reason names the item). */
ATTEST_EXPORT int attest_collateral_intel_select(const struct attest_collateral *collateral,
                                                 const struct attest_collateral_key *key,
                                                 struct attest_intel_collateral_files *ret,
                                                 struct attest_failure *failure);

/* How many TCB infos collateral holds, and the kind and FMSPC of the i-th (0 ≤ i < count), to
 * pick each one's items with attest_collateral_intel_select (e.g. when storing a PCCS bundle).
 * -ENOENT for i out of range, -EBADMSG when that TCB info's id or fmspc cannot be read. */
ATTEST_EXPORT size_t attest_collateral_tcb_info_count(const struct attest_collateral *collateral);
ATTEST_EXPORT int attest_collateral_tcb_info_key(const struct attest_collateral *collateral,
                                                 size_t i, bool *ret_tdx, uint8_t ret_fmspc[6]);

/* The AMD certificates (DER), pointing into collateral; ark_key_sha256 NULL. NULL when there is
 * no AMD certificate. */
ATTEST_EXPORT const struct attest_snp_cert_files *
attest_collateral_snp(const struct attest_collateral *collateral);

/* Frees collateral (NULL is fine); returns NULL. */
ATTEST_EXPORT struct attest_collateral *
attest_collateral_free(struct attest_collateral *collateral);

#ifdef __cplusplus
}
#endif
