/* Hardware evidence in the manager (hw-verify.h). */
#include "hw-verify.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cleanup.h"
#include "collateral.h"
#include "crypto-util.h"

#define DIGEST_SIZE 32

struct hw_cache_entry {
    uint8_t digest[DIGEST_SIZE]; /* of the stored bytes it was made from */
    uint64_t used;               /* the cache's clock at its last use: the oldest goes first */
    struct attest_intel_collateral *intel;
    struct attest_snp_certs *snp;
};

struct hw_cache {
    struct hw_cache_entry entries[HW_CACHE_ENTRIES];
    uint64_t clock;
};

static void
entry_clear(struct hw_cache_entry *e)
{
    attest_intel_collateral_free(e->intel);
    attest_snp_certs_free(e->snp);
    *e = (struct hw_cache_entry){ 0 };
}

struct hw_cache *
hw_cache_new(void)
{
    return calloc(1, sizeof(struct hw_cache));
}

struct hw_cache *
hw_cache_free(struct hw_cache *cache)
{
    if (!cache)
        return NULL;
    for (size_t i = 0; i < HW_CACHE_ENTRIES; i++)
        entry_clear(&cache->entries[i]);
    free(cache);
    return NULL;
}

unsigned
hw_cache_size(const struct hw_cache *cache)
{
    unsigned n = 0;

    for (size_t i = 0; cache && i < HW_CACHE_ENTRIES; i++)
        n += cache->entries[i].intel || cache->entries[i].snp;
    return n;
}

/* The entry made from digest, or NULL. */
static struct hw_cache_entry *
cache_find(struct hw_cache *cache, const uint8_t digest[DIGEST_SIZE])
{
    for (size_t i = 0; i < HW_CACHE_ENTRIES; i++) {
        struct hw_cache_entry *e = &cache->entries[i];
        if ((e->intel || e->snp) && memcmp(e->digest, digest, DIGEST_SIZE) == 0) {
            e->used = ++cache->clock;
            return e;
        }
    }
    return NULL;
}

/* A free entry, or the least recently used one emptied. */
static struct hw_cache_entry *
cache_slot(struct hw_cache *cache, const uint8_t digest[DIGEST_SIZE])
{
    struct hw_cache_entry *slot = &cache->entries[0];

    for (size_t i = 0; i < HW_CACHE_ENTRIES; i++) {
        struct hw_cache_entry *e = &cache->entries[i];
        if (!e->intel && !e->snp) {
            slot = e;
            break;
        }
        if (e->used < slot->used)
            slot = e;
    }
    entry_clear(slot);
    memcpy(slot->digest, digest, DIGEST_SIZE);
    slot->used = ++cache->clock;
    return slot;
}

/* SHA-256 over the parts, each preceded by its size so that no two sets hash alike. */
static int
digest_parts(const struct attest_bytes *parts, size_t n, uint8_t out[DIGEST_SIZE])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL);

    for (size_t i = 0; ok && i < n; i++) {
        uint64_t size = parts[i].data ? parts[i].size : UINT64_MAX;
        ok = EVP_DigestUpdate(md, &size, sizeof(size)) &&
             (!parts[i].data || EVP_DigestUpdate(md, parts[i].data, parts[i].size));
    }
    ok = ok && EVP_DigestFinal_ex(md, out, NULL);
    EVP_MD_CTX_free(md);
    return ok ? 0 : -ENOMEM;
}

static int
missing(struct attest_failure *failure, int err, const char *reason)
{
    return attest_failure_set(failure, ATTEST_STEP_COLLATERAL, err, "%s", reason);
}

/* The stored collateral for the quote, CRLs when the store has them. */
static int
intel_files(struct store *store, const struct attest_evidence *evidence,
            struct collateral_intel_set *set, struct attest_failure *failure)
{
    struct attest_intel_quote_needs needs;
    char err_text[COLLATERAL_ERROR_MAX] = "";
    int r;

    r = attest_intel_quote_needs(evidence->data, evidence->size, &needs, failure);
    if (r < 0)
        return r;
    if ((evidence->type == ATTEST_PLATFORM_TDX) != needs.tdx)
        return attest_failure_set(failure, ATTEST_STEP_TYPE, -EPROTO,
                                  "the quote is not %s evidence",
                                  attest_platform_name(evidence->type));
    r = collateral_intel_get(store, &needs, true, set, err_text);
    if (r == -ENOENT)
        r = collateral_intel_get(store, &needs, false, set, err_text);
    return r == -ENOENT ? missing(failure, r, err_text) : r;
}

static int
intel_verify(struct store *store, struct hw_cache *cache, const struct attest_evidence *evidence,
             int64_t at, struct hw_verified *ret, struct attest_failure *failure)
{
    struct collateral_intel_set set = { 0 };
    struct attest_intel_result result;
    struct hw_cache_entry *e;
    uint8_t digest[DIGEST_SIZE];
    int r;

    r = intel_files(store, evidence, &set, failure);
    if (r >= 0) {
        const struct attest_intel_collateral_files *f = &set.files;
        const struct attest_bytes parts[] = {
            f->tcb_info,
            f->tcb_info_issuer_chain,
            f->qe_identity,
            f->qe_identity_issuer_chain,
            f->root_ca_crl,
            f->pck_crl,
            f->pck_crl_issuer_chain,
        };
        r = digest_parts(parts, ELEMENTSOF(parts), digest);
    }
    e = r >= 0 ? cache_find(cache, digest) : NULL;
    if (r >= 0 && !e) {
        e = cache_slot(cache, digest);
        r = attest_intel_collateral_new(&set.files, &e->intel, failure);
    }
    collateral_intel_set_release(&set);
    if (r < 0)
        return r;
    r = attest_intel_verify(evidence->data, evidence->size, e->intel,
                            &(struct attest_intel_options){ .at = at, .crls_missing_ok = true },
                            &result, failure);
    if (r < 0)
        return r;
    *ret = (struct hw_verified){ .claims = result.claims, .crls_checked = result.crls_checked };
    return 0;
}

static int
snp_verify(struct store *store, struct hw_cache *cache, const struct attest_evidence *evidence,
           int64_t at, struct hw_verified *ret, struct attest_failure *failure)
{
    struct collateral_snp_set set = { 0 };
    struct attest_snp_claims report;
    struct attest_snp_result result;
    char err_text[COLLATERAL_ERROR_MAX] = "";
    struct hw_cache_entry *e = NULL;
    uint8_t digest[DIGEST_SIZE];
    int r;

    r = attest_snp_report_read(evidence->data, evidence->size, &report, failure);
    if (r >= 0)
        r = collateral_snp_get(store, &report, &set, err_text);
    if (r == -ENOENT)
        r = missing(failure, r, err_text);
    if (r >= 0) {
        const struct attest_bytes parts[] = { set.files.vcek, set.files.ask, set.files.ark };
        r = digest_parts(parts, ELEMENTSOF(parts), digest);
    }
    e = r >= 0 ? cache_find(cache, digest) : NULL;
    if (r >= 0 && !e) {
        e = cache_slot(cache, digest);
        r = attest_snp_certs_new(&set.files, &e->snp, failure);
    }
    collateral_snp_set_release(&set);
    if (r < 0)
        return r;
    r = attest_snp_verify(evidence->data, evidence->size, e->snp,
                          &(struct attest_snp_options){ .at = at }, &result, failure);
    if (r < 0)
        return r;
    /* SNP has no CRL in the store: the VCEK is per chip and TCB and is not revoked. */
    *ret = (struct hw_verified){ .claims = result.claims, .crls_checked = true };
    return 0;
}

int
hw_verify(struct store *store, struct hw_cache **cache, const struct attest_evidence *evidence,
          int64_t at, struct hw_verified *ret, struct attest_failure *failure)
{
    if (!*cache) {
        *cache = hw_cache_new();
        if (!*cache)
            return -ENOMEM;
    }
    switch (evidence->type) {
    case ATTEST_PLATFORM_SGX_DCAP:
    case ATTEST_PLATFORM_TDX:
        return intel_verify(store, *cache, evidence, at, ret, failure);
    case ATTEST_PLATFORM_SNP:
        return snp_verify(store, *cache, evidence, at, ret, failure);
    default:
        return attest_failure_set(failure, ATTEST_STEP_TYPE, -EPROTONOSUPPORT,
                                  "not hardware evidence");
    }
}

int
hw_policy_judge(const struct hw_verified *v, const struct hw_policy *policy, bool judge_debug,
                struct attest_failure *failure)
{
    struct attest_policy p = policy->policy;

    if (!v->crls_checked && !policy->allow_missing_crls)
        return attest_failure_set(failure, ATTEST_STEP_REVOCATION, -EPERM,
                                  "collateral missing: intel_pck_crl or intel_root_ca_crl (the "
                                  "policy does not allow missing CRLs: allow_missing_crls)");
    if (!judge_debug)
        p.allow_debug = true;
    return attest_policy_check(&v->claims, &p, failure);
}

void
hw_enroll_binding(const char *join_token, const uint8_t *spki, size_t spki_len, uint8_t ret[32])
{
    uint8_t both[2 * SHA256_LEN];

    sha256(join_token, strlen(join_token), both);
    sha256(spki, spki_len, both + SHA256_LEN);
    sha256(both, sizeof(both), ret);
}
