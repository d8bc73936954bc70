/* libattest internals: the layout of Intel DCAP quotes (SGX v3, TDX v4 and v5 with TD 1.0 and
 * TD 1.5 bodies), parsed strictly by their declared lengths. Not installed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <attest/claims.h>

#define INTEL_QUOTE_HEADER_SIZE 48u
#define INTEL_SGX_REPORT_SIZE 384u
#define INTEL_TD10_REPORT_SIZE 584u
#define INTEL_TD15_REPORT_SIZE 648u
#define INTEL_ECDSA_SIGNATURE_SIZE 64u /* r ‖ s, big-endian, P-256 */
#define INTEL_ECDSA_KEY_SIZE 64u       /* x ‖ y, big-endian, P-256 */
#define INTEL_TEE_SGX 0x00000000u
#define INTEL_TEE_TDX 0x00000081u
#define INTEL_ATT_KEY_ECDSA_P256 2u
#define INTEL_CERT_DATA_PCK_CHAIN 5u
#define INTEL_CERT_DATA_QE_REPORT 6u

/* Quote v5 body types. v3 is always SGX and v4 always TD 1.0. */
enum intel_body_type {
    INTEL_BODY_SGX = 1,
    INTEL_BODY_TD10 = 2,
    INTEL_BODY_TD15 = 3,
};

/* An SGX report body (the enclave's, or the quoting enclave's). */
struct intel_sgx_report {
    uint8_t cpusvn[16];
    uint32_t miscselect;
    uint8_t isvextprodid[16];
    uint8_t attributes[16]; /* flags (LE u64, bit 1 DEBUG), then XFRM */
    uint8_t mrenclave[32];
    uint8_t mrsigner[32];
    uint8_t configid[64];
    uint16_t isvprodid;
    uint16_t isvsvn;
    uint16_t configsvn;
    uint8_t isvfamilyid[16];
    uint8_t report_data[64];
};

/* A parsed quote. The const pointers point into the buffer given to intel_quote_parse, which
 * must outlive this. */
struct intel_quote {
    uint16_t version; /* 3, 4 or 5 */
    uint16_t att_key_type;
    uint32_t tee_type; /* INTEL_TEE_SGX or INTEL_TEE_TDX */
    uint16_t qe_svn;
    uint16_t pce_svn;
    uint8_t qe_vendor_id[16];
    uint8_t user_data[20];
    enum intel_body_type body_type;
    struct intel_sgx_report enclave; /* body_type INTEL_BODY_SGX; zero otherwise */
    struct attest_tdx_claims td;     /* body_type INTEL_BODY_TD10 or TD15; zero otherwise */
    uint8_t report_data[64];         /* of the body, whichever it is */
    const uint8_t *signed_region;    /* header + body: what the attestation key signs */
    size_t signed_size;
    const uint8_t *signature;       /* INTEL_ECDSA_SIGNATURE_SIZE bytes */
    const uint8_t *attestation_key; /* INTEL_ECDSA_KEY_SIZE bytes */
    const uint8_t *qe_report_raw;   /* INTEL_SGX_REPORT_SIZE bytes: what the PCK key signs */
    struct intel_sgx_report qe_report;
    const uint8_t *qe_report_signature; /* INTEL_ECDSA_SIGNATURE_SIZE bytes */
    const uint8_t *qe_auth_data;
    size_t qe_auth_size;
    const uint8_t *pck_chain; /* the PEM text of certification data type 5 (leaf, CA, root),
                               * without the NUL terminator(s) Intel's QE appends */
    size_t pck_chain_size;
    uint32_t sig_data_size;  /* the declared signature data length */
    uint16_t cert_data_type; /* of the signature data: 5 (v3) or 6 (v4, v5) */
    size_t trailing_bytes;   /* after the declared signature data */
};

/* Parses size bytes of quote. Every length is checked against the bytes that remain; bytes
 * after the declared signature data are counted in trailing_bytes, not refused. v3 must carry
 * certification data type 5 directly; v4/v5 type 6 (QE report certification data) holding type
 * 5. The signature data and the type 6 content must be filled exactly by what they hold (no
 * slack inside a declared length). Failures (failure set): ATTEST_STEP_VERSION -EPROTONOSUPPORT
 * (quote version, attestation key type, TEE type, body type or QE vendor this parser does not
 * know, or a TEE type that does not fit the version/body), ATTEST_STEP_PARSE -EBADMSG (truncated,
 * larger than ATTEST_INTEL_QUOTE_MAX, a length that overruns or leaves slack, another
 * certification data type); -EINVAL for NULL data or ret. On success failure (when given) is
 * ATTEST_STEP_NONE, "". ret is written only on success. */
int intel_quote_parse(const uint8_t *data, size_t size, struct intel_quote *ret,
                      struct attest_failure *failure);

/* Parses a 384-byte SGX report body. */
void intel_sgx_report_parse(const uint8_t *data, struct intel_sgx_report *ret);
