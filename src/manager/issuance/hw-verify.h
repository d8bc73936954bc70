/* Hardware evidence (sgx-dcap, tdx, snp) verified in the manager: the collateral from the store
 * (collateral.h; never the network), parsed once per process and kept in a small cache keyed
 * by the SHA-256 of the stored bytes, then the evidence checked at a given time and judged by
 * the attestation policy (hw-policy.h). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <attest/attest.h>

#include "hw-policy.h"
#include "store.h"

#define HW_CACHE_ENTRIES 16

/* One process's parsed collateral (struct manager_context.hw_cache). */
struct hw_cache;

struct hw_cache *hw_cache_new(void);
struct hw_cache *hw_cache_free(struct hw_cache *cache);
/* Entries held, for tests. */
unsigned hw_cache_size(const struct hw_cache *cache);

/* What verification found beside the claims. */
struct hw_verified {
    struct attest_claims claims;
    bool crls_checked; /* false: the collateral had no CRLs (allow_missing_crls decides) */
};

/* Verifies evidence (type sgx-dcap, tdx or snp) at `at` (unix seconds) with the collateral the
 * store holds; *cache (created when NULL) keeps the parsed collateral. On failure returns a
 * negative errno with failure naming the step and reason ("collateral missing: intel_tcb_info
 * tdx/00806f050000" at step "collateral"); -ENOMEM and store errors without. */
int hw_verify(struct store *store, struct hw_cache **cache, const struct attest_evidence *evidence,
              int64_t at, struct hw_verified *ret, struct attest_failure *failure);

/* report_data[0..32] of a node's enrollment evidence (docs/nodes.md): SHA-256(SHA-256(join
 * token) ‖ SHA-256(DER SubjectPublicKeyInfo of the CSR key)). */
void hw_enroll_binding(const char *join_token, const uint8_t *spki, size_t spki_len,
                       uint8_t ret[32]);

/* The policy's judgement of verified hardware evidence: missing CRLs, then attest_policy_check.
 * 0, or -EPERM with failure at step "policy" or "revocation". Debug is judged here only when
 * judge_debug (the issuance decision judges it with the build). */
int hw_policy_judge(const struct hw_verified *v, const struct hw_policy *policy, bool judge_debug,
                    struct attest_failure *failure);
