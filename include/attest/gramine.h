/* libattest: SGX DCAP quotes from inside a Gramine enclave, through Gramine's /dev/attestation
 * pseudo-files (attestation_type, user_report_data, quote).
 *
 * Gramine's pseudo-files are shared by the whole enclave and not synchronised: two threads that
 * ask for quotes at once can get each other's report data. attest_gramine_quote checks the
 * quote's report data and retries, but callers should still serialise their calls.
 *
 * Errors and struct attest_hw_error as in tsm.h; attest_hw_detect (tsm.h) tells whether this
 * producer is there. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <attest/claims.h>
#include <attest/evidence.h>
#include <attest/tsm.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATTEST_GRAMINE_ROOT "/dev/attestation"
#define ATTEST_GRAMINE_QUOTE_MAX (64u << 10) /* bytes of a quote (Gramine's own limit is 8 KiB) */
#define ATTEST_GRAMINE_ATTEMPTS 4u           /* quotes read before -EBUSY */

/* Whether Gramine at root (NULL: ATTEST_GRAMINE_ROOT) can make DCAP quotes: 0 when its
 * attestation_type is "dcap" (Gramine writes it without a newline; one is tolerated).
 * -ENOENT: root does not exist (not inside Gramine), or has no attestation_type (Gramine
 * without SGX, e.g. gramine-direct); -EPROTONOSUPPORT: "none" (the manifest sets
 * sgx.remote_attestation = "none") or "epid" (not supported: set it to "dcap") or anything
 * else; -EIO, -EACCES as the read fails. */
ATTEST_EXPORT int attest_gramine_check(const char *root, struct attest_hw_error *error);

/* An SGX DCAP quote whose report data is the 64 bytes given: *ret_quote (malloc'd, the caller
 * frees it) holds *ret_size bytes, the quote as Gramine returns it; it is evidence of type
 * ATTEST_PLATFORM_SGX_DCAP (attest_evidence_new). Bytes rather than an envelope, so that static
 * programs without jansson (cloister-init) can use this file alone.
 *
 * Steps: attest_gramine_check; write the 64 bytes to user_report_data (Gramine takes them when
 * the file is closed); read quote; check that the quote is an SGX quote (v3, v4 with TEE type
 * SGX, or v5 with an SGX body) whose report data is ours. Another report data means another
 * thread of the enclave wrote user_report_data in between: the steps are repeated, at most
 * ATTEST_GRAMINE_ATTEMPTS times in all, then -EBUSY.
 *
 * Errors: -EINVAL (NULL report_data or ret); those of attest_gramine_check; -EACCES (Gramine
 * could not get a quote: AESM service or DCAP quote provider library missing or failing, the
 * error Gramine gives); -EFBIG (quote larger than ATTEST_GRAMINE_QUOTE_MAX); -EBADMSG (empty,
 * or not an SGX quote); -EBUSY; -ENOMEM. */
ATTEST_EXPORT int attest_gramine_quote(const char *root,
                                       const uint8_t report_data[ATTEST_REPORT_DATA_SIZE],
                                       uint8_t **ret_quote, size_t *ret_size,
                                       struct attest_hw_error *error);

#ifdef __cplusplus
}
#endif
