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

/* Evidence types (SPEC 6.1). sim is verified by evidence.h / sim.h; sgx-dcap and tdx by intel.h,
 * snp by snp.h (they need collateral, so attest_evidence_verify refuses them by name). */
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
    /* Hardware evidence (intel.h, snp.h) adds these; they run between "version" and "policy". */
    ATTEST_STEP_COLLATERAL,      /* "collateral": missing, malformed, for another platform, or its
                                  * signature does not verify (the reason says which item) */
    ATTEST_STEP_EXPIRED,         /* "expired": collateral, a CRL or a certificate is outside its
                                  * validity window at the verification time */
    ATTEST_STEP_CERT_CHAIN,      /* "cert_chain": the PCK/VCEK/VLEK chain does not lead to the
                                  * pinned root key */
    ATTEST_STEP_REVOCATION,      /* "revocation": a certificate of the chain is revoked, or a CRL
                                  * is missing where the caller requires CRLs */
    ATTEST_STEP_QE_REPORT,       /* "qe_report": the QE report's signature by the PCK key fails */
    ATTEST_STEP_ATTESTATION_KEY, /* "attestation_key": the attestation key is not the one the QE
                                  * report binds (SHA-256(key ‖ QE auth data)) */
    ATTEST_STEP_QE_IDENTITY,     /* "qe_identity": the QE report does not match the QE identity */
    ATTEST_STEP_TCB,             /* "tcb": no TCB level matches (TCB level not supported), the TCB
                                  * info is for another FMSPC/PCE ID, or the TCB is revoked */
};

/* The step's name as above ("none", "envelope", ...); "unknown" for an unknown value. */
ATTEST_EXPORT const char *attest_step_name(enum attest_step step);

#define ATTEST_TDX_MEASUREMENT_SIZE 48u
#define ATTEST_SNP_MEASUREMENT_SIZE 48u
#define ATTEST_ADVISORIES_MAX 48u   /* advisory ids one result can carry */
#define ATTEST_ADVISORY_ID_SIZE 24u /* bytes of one id with its NUL ("INTEL-SA-00615") */
#define ATTEST_FAILURE_REASON_SIZE 256u

/* Why verification failed: the step and a sentence naming the item and the reason, e.g. step
 * "collateral", reason "collateral missing: tcb_info". Verifiers of hardware evidence fill it
 * when given one (it may be NULL); on success step is ATTEST_STEP_NONE and reason is "". */
struct attest_failure {
    enum attest_step step;
    char reason[ATTEST_FAILURE_REASON_SIZE];
};

/* TDX claims (platform tdx): the TD report body, TD 1.0 or 1.5. */
struct attest_tdx_claims {
    uint8_t tee_tcb_svn[16];
    uint8_t mrseam[ATTEST_TDX_MEASUREMENT_SIZE];
    uint8_t mrsignerseam[ATTEST_TDX_MEASUREMENT_SIZE];
    uint64_t seam_attributes;
    uint64_t td_attributes; /* bit 0: DEBUG */
    uint64_t xfam;
    uint8_t mrtd[ATTEST_TDX_MEASUREMENT_SIZE];
    uint8_t mrconfigid[ATTEST_TDX_MEASUREMENT_SIZE];
    uint8_t mrowner[ATTEST_TDX_MEASUREMENT_SIZE];
    uint8_t mrownerconfig[ATTEST_TDX_MEASUREMENT_SIZE];
    uint8_t rtmr[4][ATTEST_TDX_MEASUREMENT_SIZE];
    bool td15; /* a TD 1.5 body: the two members below are set */
    uint8_t tee_tcb_svn2[16];
    uint8_t mrservicetd[ATTEST_TDX_MEASUREMENT_SIZE];
};

/* SEV-SNP claims (platform snp): the attestation report's fields. */
struct attest_snp_claims {
    uint32_t version; /* report format version: 2 or 3 */
    uint32_t guest_svn;
    uint64_t policy; /* bit 16 SMT, 18 MIGRATE_MA, 19 DEBUG */
    uint8_t family_id[16];
    uint8_t image_id[16];
    uint32_t vmpl;
    uint8_t measurement[ATTEST_SNP_MEASUREMENT_SIZE];
    uint8_t host_data[32];
    uint8_t id_key_digest[48];
    uint8_t author_key_digest[48];
    uint8_t report_id[32];
    uint64_t current_tcb;
    uint64_t reported_tcb; /* what the VCEK/VLEK certifies */
    uint64_t committed_tcb;
    uint64_t launch_tcb;
    uint64_t platform_info;
    uint8_t chip_id[64];
    char product[8]; /* "Milan", "Genoa", "Turin" */
    bool vlek;       /* signed by a VLEK (else a VCEK) */
};

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
    /* Hardware evidence: the advisory ids of the matched TCB levels (Intel), in order, unique. */
    unsigned advisory_count;
    char advisory_ids[ATTEST_ADVISORIES_MAX][ATTEST_ADVISORY_ID_SIZE];
    struct attest_tdx_claims tdx; /* platform tdx only; zero otherwise */
    struct attest_snp_claims snp; /* platform snp only; zero otherwise */
};

/* Appends an advisory id unless present. -E2BIG when ATTEST_ADVISORIES_MAX are held or the id
 * does not fit ATTEST_ADVISORY_ID_SIZE, -EINVAL for an empty id. */
ATTEST_EXPORT int attest_claims_add_advisory(struct attest_claims *claims, const char *id);

/* Parses a TCB status name ("UpToDate", ...); -EINVAL for an unknown one. */
ATTEST_EXPORT int attest_tcb_status_from_name(const char *name, enum attest_tcb_status *ret);

/* Sets failure (when not NULL) to step and the printf-style reason; returns error. */
ATTEST_EXPORT int attest_failure_set(struct attest_failure *failure, enum attest_step step,
                                     int error, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

/* The claims as a new JSON object: {platform, tcb_status, insecure, debug, report_data} and per
 * platform: sim {key_id, mrenclave, mrsigner, isvprodid, isvsvn, attributes}; sgx-dcap the same
 * without key_id, plus advisory_ids; tdx {mrtd, mrconfigid, mrowner, mrownerconfig, mrseam,
 * mrsignerseam, tee_tcb_svn, td_attributes, seam_attributes, xfam, rtmr0..3, and for TD 1.5
 * tee_tcb_svn2, mrservicetd, advisory_ids}; snp {version, guest_svn, policy, vmpl, measurement,
 * host_data, family_id, image_id, id_key_digest, author_key_digest, report_id, current_tcb,
 * reported_tcb, committed_tcb, launch_tcb, platform_info, chip_id, product, vlek,
 * advisory_ids}. Byte fields in lowercase hex; 64-bit flag words and TCBs as 16-digit hex
 * strings. The caller owns *ret (json_decref). -ENOMEM, -EINVAL. */
ATTEST_EXPORT int attest_claims_to_json(const struct attest_claims *claims, json_t **ret);

#ifdef __cplusplus
}
#endif
