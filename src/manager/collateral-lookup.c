/* What a verification needs, read from the store (collateral.h, "collateral-lookup.c"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "collateral.h"
#include "crypto-util.h"
#include "json-member.h"
#include "store-collateral.h"

#define FMSPC_SIZE 6
#define CHIP_ID_SIZE 64
#define TURIN_HWID_SIZE 8

static int
missing(char err[COLLATERAL_ERROR_MAX], const char *kind, const char *key)
{
    snprintf(err, COLLATERAL_ERROR_MAX, "collateral missing: %s %s", kind, key);
    return -ENOENT;
}

/* Keeps p in the first free slot of owned (n slots). */
static int
keep(uint8_t **owned, size_t n, void *p)
{
    for (size_t i = 0; i < n; i++)
        if (!owned[i]) {
            owned[i] = p;
            return 0;
        }
    free(p);
    return -ENOBUFS;
}

/* The stored item's bytes and (ret_chain not NULL) its issuer chain, kept in owned. */
static int
part(struct store *store, const char *kind, const char *key, uint8_t **owned, size_t n,
     struct attest_bytes *ret_data, struct attest_bytes *ret_chain, char err[COLLATERAL_ERROR_MAX])
{
    _cleanup_(json_decrefp) json_t *row = NULL;
    const char *chain;
    uint8_t *data;
    size_t size;
    int r = store_collateral_get(store, kind, key, false, &row);

    if (r == -ENOENT)
        return missing(err, kind, key);
    if (r >= 0)
        r = collateral_row_data(row, &data, &size);
    if (r >= 0)
        r = keep(owned, n, data);
    if (r < 0)
        return r;
    *ret_data = (struct attest_bytes){ data, size };
    chain = member_text(row, "issuer_chain");
    if (!ret_chain || !chain)
        return 0;
    data = (uint8_t *)strdup(chain);
    r = data ? keep(owned, n, data) : -ENOMEM;
    if (r < 0)
        return r;
    *ret_chain = (struct attest_bytes){ data, strlen(chain) };
    return 0;
}

void
collateral_intel_set_release(struct collateral_intel_set *set)
{
    for (size_t i = 0; i < COLLATERAL_INTEL_PARTS; i++)
        free(set->owned[i]);
    *set = (struct collateral_intel_set){ 0 };
}

int
collateral_intel_get(struct store *store, const struct attest_intel_quote_needs *needs,
                     bool with_crls, struct collateral_intel_set *ret,
                     char err[COLLATERAL_ERROR_MAX])
{
    struct collateral_intel_set set = { 0 };
    struct attest_intel_collateral_files *f = &set.files;
    char fmspc[2 * FMSPC_SIZE + 1], key[32];
    int r;

    err[0] = '\0';
    hex_encode(needs->fmspc, FMSPC_SIZE, fmspc);
    snprintf(key, sizeof(key), "%s/%s", needs->tdx ? "tdx" : "sgx", fmspc);
    r = part(store, "intel_tcb_info", key, set.owned, COLLATERAL_INTEL_PARTS, &f->tcb_info,
             &f->tcb_info_issuer_chain, err);
    if (r >= 0)
        r = part(store, "intel_qe_identity", needs->tdx ? "td_qe" : "qe", set.owned,
                 COLLATERAL_INTEL_PARTS, &f->qe_identity, &f->qe_identity_issuer_chain, err);
    if (r >= 0 && with_crls)
        r = part(store, "intel_pck_crl", needs->processor_ca ? "processor" : "platform", set.owned,
                 COLLATERAL_INTEL_PARTS, &f->pck_crl, &f->pck_crl_issuer_chain, err);
    if (r >= 0 && with_crls)
        r = part(store, "intel_root_ca_crl", "root", set.owned, COLLATERAL_INTEL_PARTS,
                 &f->root_ca_crl, NULL, err);
    if (r < 0) {
        collateral_intel_set_release(&set);
        return r;
    }
    *ret = set;
    return 0;
}

void
collateral_snp_set_release(struct collateral_snp_set *set)
{
    for (size_t i = 0; i < ELEMENTSOF(set->owned); i++)
        free(set->owned[i]);
    *set = (struct collateral_snp_set){ 0 };
}

/* "<product>/<hwid>/<tcb>": the hwID is the CHIP_ID (its first 8 bytes on Turin), the TCB the
 * report's REPORTED_TCB bytes in order (collateral-facts.h). */
static void
vcek_key(const char *product, const struct attest_snp_claims *claims, char *out, size_t size)
{
    size_t hwid_size = strcmp(product, "Turin") == 0 ? TURIN_HWID_SIZE : CHIP_ID_SIZE;
    char hwid[2 * CHIP_ID_SIZE + 1], tcb[17];
    uint8_t tcb_bytes[8];

    hex_encode(claims->chip_id, hwid_size, hwid);
    for (size_t i = 0; i < sizeof(tcb_bytes); i++)
        tcb_bytes[i] = (uint8_t)(claims->reported_tcb >> (8 * i));
    hex_encode(tcb_bytes, sizeof(tcb_bytes), tcb);
    snprintf(out, size, "%s/%s/%s", product, hwid, tcb);
}

int
collateral_snp_get(struct store *store, const struct attest_snp_claims *claims,
                   struct collateral_snp_set *ret, char err[COLLATERAL_ERROR_MAX])
{
    static const char *const products[] = { "Milan", "Genoa", "Turin" };
    struct collateral_snp_set set = { 0 };
    char key[COLLATERAL_KEY_MAX] = "";
    int r = -ENOENT;

    err[0] = '\0';
    for (size_t i = 0; i < ELEMENTSOF(products) && r == -ENOENT; i++) {
        if (claims->product[0] && strcmp(claims->product, products[i]) != 0)
            continue;
        vcek_key(products[i], claims, key, sizeof(key));
        r = part(store, "amd_vcek", key, set.owned, ELEMENTSOF(set.owned), &set.files.vcek, NULL,
                 err);
        if (r >= 0)
            snprintf(set.product, sizeof(set.product), "%s", products[i]);
    }
    if (r == -ENOENT && !claims->product[0])
        snprintf(err, COLLATERAL_ERROR_MAX,
                 "collateral missing: amd_vcek of this chip and TCB (no product holds one)");
    if (r >= 0)
        r = part(store, "amd_ask", set.product, set.owned, ELEMENTSOF(set.owned), &set.files.ask,
                 NULL, err);
    if (r >= 0)
        r = part(store, "amd_ark", set.product, set.owned, ELEMENTSOF(set.owned), &set.files.ark,
                 NULL, err);
    if (r < 0) {
        collateral_snp_set_release(&set);
        return r;
    }
    *ret = set;
    return 0;
}
