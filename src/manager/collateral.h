/* Hardware verification collateral in the manager (docs/hardware-evidence.md, "Collateral in
 * the manager"): from collateral loaded by libattest (collateral.h) to the items of the store's
 * collateral table, each checked by building libattest's verifier objects before it is kept.
 *
 * Items and their keys (the store's kind and key):
 *   intel_tcb_info     "sgx/<fmspc>" or "tdx/<fmspc>" (lower-case hex)
 *   intel_qe_identity  "qe" or "td_qe"
 *   intel_pck_crl      "processor" or "platform" (the PCK CA that issued it)
 *   intel_root_ca_crl  "root"
 *   amd_ark, amd_ask, amd_asvk  "<product>" (Milan, Genoa, Turin)
 *   amd_vcek           "<product>/<hwid hex>/<TCB: REPORTED_TCB's 8 bytes in order, hex>"
 *   amd_vlek           "<product>/<SHA-256 of its SubjectPublicKeyInfo, hex>"
 * Intel items keep the PEM chain that signs them (TCB Signing or PCK CA chain) beside them.
 *
 * An item that cannot be checked alone (a QE identity without a TCB info, a CRL, an AMD
 * certificate without the rest of its chain) is checked together with what the upload holds,
 * else with what the store already holds; only the upload's items are stored. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <attest/collateral.h>
#include <attest/intel.h>
#include <attest/snp.h>
#include <jansson.h>

#include "store.h"

#define COLLATERAL_KIND_MAX 24
#define COLLATERAL_KEY_MAX 200
#define COLLATERAL_ERROR_MAX 512
/* Items one upload or refresh may hold: the TCB infos of a bundle and the rest. */
#define COLLATERAL_ITEMS_MAX (2 * ATTEST_COLLATERAL_TCB_INFOS_MAX + 16)

enum collateral_outcome {
    COLLATERAL_STORED = 0, /* new, or replacing an older item */
    COLLATERAL_UNCHANGED,  /* the store held the same bytes */
    COLLATERAL_KEPT_NEWER, /* the store held an item issued later: kept */
};

struct collateral_item {
    char kind[COLLATERAL_KIND_MAX];
    char key[COLLATERAL_KEY_MAX];
    uint8_t *data; /* the exact bytes, owned */
    size_t size;
    char *issuer_chain;  /* PEM that signs it (Intel items), owned; NULL for none */
    int64_t issued;      /* issueDate, thisUpdate or notBefore: Unix seconds */
    int64_t next_update; /* nextUpdate; 0 for certificates */
    int64_t not_after;   /* end of validity of the item and its chain */
    enum collateral_outcome outcome;
};

struct collateral_batch {
    struct collateral_item *items;
    size_t n;
};

void collateral_batch_release(struct collateral_batch *batch);

/* Collects the items of collateral and checks each with libattest (signatures and chains, not
 * validity windows: expired collateral is stored and shown as expired). On a bad item returns
 * -EBADMSG with err saying which and why; -ENODATA when collateral holds no item; store errors
 * as the store's. */
int collateral_collect(struct store *store, const struct attest_collateral *collateral,
                       struct collateral_batch *ret, char err[COLLATERAL_ERROR_MAX]);

/* Writes the batch inside the caller's write transaction, setting each item's outcome: an item
 * replaces the stored one of the same kind and key unless that one was issued later. */
int collateral_save(struct store *store, struct collateral_batch *batch, const char *source,
                    const char *now);

/* [{kind, key, issued, next_update, not_after, result: stored|unchanged|kept_newer}], or NULL
 * when out of memory. */
json_t *collateral_batch_json(const struct collateral_batch *batch);

/* "3 stored, 1 unchanged: intel_tcb_info sgx/00a067110000, ..." for audit events and logs. */
void collateral_batch_summary(const struct collateral_batch *batch, char *out, size_t size);

/* The stored item's bytes (decoded from the row of store-collateral.h), owned by the caller. */
int collateral_row_data(const json_t *row, uint8_t **ret_data, size_t *ret_size);

/* ---- What a verification needs, from the store (collateral-lookup.c) ----
 * Never a network call: what the store does not hold is missing, with err saying
 * "collateral missing: <kind> <key>" and -ENOENT. */

#define COLLATERAL_INTEL_PARTS 7

/* Stored Intel collateral for one quote: files points into owned. */
struct collateral_intel_set {
    struct attest_intel_collateral_files files;
    uint8_t *owned[COLLATERAL_INTEL_PARTS];
};

void collateral_intel_set_release(struct collateral_intel_set *set);

/* The TCB info and QE identity for needs (attest_intel_quote_needs), each with its issuer chain,
 * and with with_crls the PCK CRL of the quote's PCK CA with its chain and the root CA CRL. */
int collateral_intel_get(struct store *store, const struct attest_intel_quote_needs *needs,
                         bool with_crls, struct collateral_intel_set *ret,
                         char err[COLLATERAL_ERROR_MAX]);

/* Stored AMD certificates for one report: files points into owned (DER). */
struct collateral_snp_set {
    struct attest_snp_cert_files files;
    uint8_t *owned[3];
    char product[16]; /* the product they are for */
};

void collateral_snp_set_release(struct collateral_snp_set *set);

/* The VCEK of the report's chip (claims->chip_id: 64 bytes, the first 8 on Turin) at its
 * REPORTED_TCB, then the ASK and ARK of its product. claims->product (may be "": each product is
 * tried) as attest_snp_report_read gives it. A VLEK is not looked up: it comes with the report
 * (the GHCB certificate table). */
int collateral_snp_get(struct store *store, const struct attest_snp_claims *claims,
                       struct collateral_snp_set *ret, char err[COLLATERAL_ERROR_MAX]);
