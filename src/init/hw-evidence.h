/* cloister-init's hardware evidence (SPEC 6.1): which evidence producer this machine has
 * (configfs-tsm for TDX and SEV-SNP, Gramine's /dev/attestation for SGX), and evidence from it
 * as the JSON envelope the node agent takes. A machine with none uses the agent's simulated
 * quote instead. */
#pragma once

#include <stdint.h>

#include <attest/tsm.h>

struct hw_evidence_source {
    struct attest_hw_info info; /* producer ATTEST_HW_NONE: no hardware here */
    const char *tsm_root;       /* NULL: the standard path; CLOISTER_TSM_ROOT for tests */
    const char *gramine_root;   /* NULL: the standard path; CLOISTER_GRAMINE_ROOT for tests */
};

/* Finds the producer. A machine that has one but cannot use it (an unknown configfs-tsm
 * provider, Gramine without DCAP, no permission) is an error, logged: falling back to simulated
 * evidence there would hide the misconfiguration. */
int hw_evidence_detect(struct hw_evidence_source *ret);

/* Whether report_data[32..64] carries the manifest digest on this producer's platform (SPEC
 * 6.2: TDX and SNP, whose measurement does not cover the image). */
bool hw_evidence_binds_manifest(const struct hw_evidence_source *source);

/* Evidence for report_data as {"type": "sgx-dcap"|"tdx"|"snp", "data": "<base64>"} (malloc'd).
 * Logs why it failed. */
int hw_evidence_make(const struct hw_evidence_source *source, const uint8_t report_data[64],
                     char **ret_json);
