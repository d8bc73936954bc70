/* libattest: what a verified piece of evidence says (claims), and how verification failures are
 * named (steps).
 *
 * Error convention of the whole library: functions return 0 (or a non-negative count) on success
 * and a negative errno on failure. Verification functions also take an optional
 * `enum attest_step *failed_step`: on failure it receives the step that failed, on success
 * ATTEST_STEP_NONE. Out-parameters named ret_* are written only on success. No function keeps
 * global or static mutable state; distinct objects may be used from distinct threads at once,
 * and EVP_PKEY arguments are only read. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATTEST_EXPORT __attribute__((visibility("default")))

#define ATTEST_MEASUREMENT_SIZE 32u
#define ATTEST_REPORT_DATA_SIZE 64u
#define ATTEST_KEY_ID_SIZE 32u

/* Evidence types (SPEC 6.1). Only ATTEST_PLATFORM_SIM is verified by this version; the others are
 * recognised in envelopes so that a verifier can refuse them by name (ATTEST_STEP_TYPE). */
enum attest_platform {
    ATTEST_PLATFORM_SIM = 1,      /* "sim": software-simulated, INSECURE */
    ATTEST_PLATFORM_SGX_DCAP = 2, /* "sgx-dcap" */
    ATTEST_PLATFORM_TDX = 3,      /* "tdx" */
    ATTEST_PLATFORM_SNP = 4,      /* "snp" */
};

/* The platform's wire name ("sim", "sgx-dcap", "tdx", "snp"), or NULL for an unknown value. */
ATTEST_EXPORT const char *attest_platform_name(enum attest_platform platform);

/* Parses a wire name; -EPROTONOSUPPORT for an unknown one. */
ATTEST_EXPORT int attest_platform_from_name(const char *name, enum attest_platform *ret_platform);

/* Whether report_data[32..64] carries the manifest digest on this platform (SPEC 6.2): true where
 * the platform measurement does not cover the manifest (tdx, snp), false where it does (sim,
 * sgx-dcap: the second half is zero). */
ATTEST_EXPORT bool attest_platform_binds_manifest(enum attest_platform platform);

/* TCB status. The first seven are the hardware statuses of SPEC 6.1. Simulated evidence always
 * yields ATTEST_TCB_SIMULATED_INSECURE ("SimulatedInsecure"): there is no TCB behind it, and a
 * policy that accepts it must say so explicitly (allow_simulation). */
enum attest_tcb_status {
    ATTEST_TCB_UP_TO_DATE = 1,
    ATTEST_TCB_SW_HARDENING_NEEDED,
    ATTEST_TCB_CONFIGURATION_NEEDED,
    ATTEST_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED,
    ATTEST_TCB_OUT_OF_DATE,
    ATTEST_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED,
    ATTEST_TCB_REVOKED,
    ATTEST_TCB_SIMULATED_INSECURE,
};

/* "UpToDate", ..., "SimulatedInsecure"; NULL for an unknown value. */
ATTEST_EXPORT const char *attest_tcb_status_name(enum attest_tcb_status status);

/* The verification steps, in the order they run. */
enum attest_step {
    ATTEST_STEP_NONE = 0,    /* "none": nothing failed */
    ATTEST_STEP_ENVELOPE,    /* "envelope": the JSON {type, data} is malformed or too large */
    ATTEST_STEP_TYPE,        /* "type": unknown evidence type, or one this version cannot verify */
    ATTEST_STEP_PARSE,       /* "parse": magic, size, reserved fields, trailing bytes */
    ATTEST_STEP_VERSION,     /* "version": an evidence format version this library does not know */
    ATTEST_STEP_TRUST,       /* "trust": no usable trust anchor given (e.g. node key not P-256) */
    ATTEST_STEP_KEY_ID,      /* "key_id": evidence names another attestation key */
    ATTEST_STEP_SIGNATURE,   /* "signature": the signature does not verify */
    ATTEST_STEP_REPORT_DATA, /* "report_data": not bound to this nonce, CSR key and manifest */
    ATTEST_STEP_POLICY,      /* "policy": the caller's claims check refused (e.g. measurement) */
};

/* The step's name as above ("none", "envelope", ...); "unknown" for an unknown value. */
ATTEST_EXPORT const char *attest_step_name(enum attest_step step);

/* The claims of verified evidence (SPEC 6.1). Plain data: copy freely, nothing to release. */
struct attest_claims {
    enum attest_platform platform;
    enum attest_tcb_status tcb_status;
    uint8_t mrenclave[ATTEST_MEASUREMENT_SIZE];
    uint8_t mrsigner[ATTEST_MEASUREMENT_SIZE];
    uint16_t isvprodid;
    uint16_t isvsvn;
    uint64_t attributes; /* raw attribute flags; see ATTEST_SIM_ATTR_* */
    bool debug;          /* the DEBUG attribute is set: the enclave's memory is not protected */
    uint8_t report_data[ATTEST_REPORT_DATA_SIZE];
    uint8_t key_id[ATTEST_KEY_ID_SIZE]; /* sim: SHA-256 of the attestation key's DER SPKI */
};

/* The claims as a new JSON object: {platform, tcb_status, insecure, mrenclave, mrsigner,
 * isvprodid, isvsvn, attributes, debug, report_data, key_id}, byte fields in lowercase hex,
 * attributes as a 16-digit hex string. The caller owns *ret (json_decref). -ENOMEM, -EINVAL. */
ATTEST_EXPORT int attest_claims_to_json(const struct attest_claims *claims, json_t **ret);

#ifdef __cplusplus
}
#endif
