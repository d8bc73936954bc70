/* cloister attest verify for hardware evidence (SGX DCAP and TDX quotes, SEV-SNP reports):
 * reads the evidence file and the collateral, verifies offline at a given time, applies the
 * policy given by flags and prints the result. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <attest/policy.h>

#include "cli.h"

struct attest_hw_opts {
    const char *collateral; /* --collateral DIR|FILE; NULL: an SNP tsm report's own auxblob */
    int64_t at;             /* --at UNIX_TIME; 0: now */
    bool allow_missing_crls;
    struct attest_policy policy; /* --allow-debug, --accept-status */
};

/* Verifies the evidence in path and prints the result (a JSON object with --json). Returns 0
 * when it verifies and the policy accepts it, -EBADMSG/-EKEYREJECTED/... otherwise (exit 1),
 * -EINVAL for a usage error. */
int attest_hw_verify(struct cli *cli, const char *path, const struct attest_hw_opts *opts);
