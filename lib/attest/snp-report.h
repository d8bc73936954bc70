/* libattest internals: the AMD SEV-SNP attestation report (ATTESTATION_REPORT of the SEV-SNP
 * firmware ABI specification, report versions 2 and 3), its signature, the TCB_VERSION layouts of
 * the product lines, and the loaded certificate set that snp-certs.c makes and snp-verify.c
 * reads. Not installed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include <attest/snp.h>

#define SNP_SIGNED_SIZE 0x2a0u     /* the signature covers bytes 0x000-0x29F */
#define SNP_SIG_COMPONENT_SIZE 72u /* R and S: little-endian, zero above the 48 bytes of P-384 */
#define SNP_CHIP_ID_SIZE 64u
#define SNP_TURIN_HWID_SIZE 8u /* Turin VCEKs name the chip by the first 8 bytes of CHIP_ID */

/* SIGNER_INFO (0x048): bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_ID, bits 4:2 SIGNING_KEY. */
#define SNP_SIGNER_MASK_CHIP_ID (1u << 1)
enum snp_signing_key {
    SNP_SIGNING_KEY_VCEK = 0,
    SNP_SIGNING_KEY_VLEK = 1,
    SNP_SIGNING_KEY_NONE = 7, /* the report is not signed */
};

/* The product lines. Each has its own ARK and its own TCB_VERSION layout. */
enum snp_product {
    SNP_PRODUCT_UNKNOWN = 0,
    SNP_PRODUCT_MILAN,
    SNP_PRODUCT_GENOA, /* also Bergamo and Siena, which use Genoa's keys */
    SNP_PRODUCT_TURIN,
};

/* One report, parsed. claims holds what becomes attest_claims.snp (product and vlek are left for
 * the verifier, which knows the certificate); the rest is what only verification needs. */
struct snp_report {
    struct attest_snp_claims claims;
    uint8_t report_data[ATTEST_REPORT_DATA_SIZE];
    uint32_t signature_algo;
    uint32_t signer_info;
    enum snp_signing_key signing_key;
    uint8_t report_id_ma[32];
    bool has_cpuid; /* version 3: CPUID_FAM_ID, CPUID_MOD_ID, CPUID_STEP */
    uint8_t cpuid_family;
    uint8_t cpuid_model;
    uint8_t cpuid_stepping;
    uint8_t current_build, current_minor, current_major;
    uint8_t committed_build, committed_minor, committed_major;
    const uint8_t *signed_bytes;           /* into the caller's buffer: SNP_SIGNED_SIZE bytes */
    uint8_t sig_r[SNP_SIG_COMPONENT_SIZE]; /* little-endian, as in the report */
    uint8_t sig_s[SNP_SIG_COMPONENT_SIZE];
};

/* Parses a report of exactly ATTEST_SNP_REPORT_SIZE bytes, version 2 or 3, signature algorithm 1
 * (ECDSA P-384 SHA-384). Reserved fields must be zero as go-sev-guest and the ABI's "MBZ" say:
 * 0x04C-0x04F, SIGNER_INFO bits 31:5 and the reserved SIGNING_KEY values 2-6, 0x188 (0x18B from
 * version 3)-0x19F, 0x1EB, 0x1EF, 0x1F8-0x29F and the signature area past R and S. A report
 * with MASK_CHIP_ID set must have a zero CHIP_ID. Failures: ATTEST_STEP_PARSE (-EBADMSG, or
 * -EPROTONOSUPPORT for another signature algorithm), ATTEST_STEP_VERSION (-EPROTONOSUPPORT). */
int snp_report_parse(const uint8_t *data, size_t size, struct snp_report *ret,
                     struct attest_failure *failure);

/* Whether the report's signature verifies with key (ECDSA P-384 over the signed bytes, SHA-384).
 * R or S with a non-zero byte above the 48 of P-384 does not verify. key is only read. 0, or
 * -EBADMSG when it does not verify, -ENOMEM. */
int snp_report_signature_verify(const struct snp_report *report, EVP_PKEY *key);

/* "Milan", "Genoa", "Turin"; NULL for SNP_PRODUCT_UNKNOWN. */
const char *snp_product_name(enum snp_product product);

/* The product of a product name ("Milan", or a VCEK's "Milan-B0": the part before '-'). */
enum snp_product snp_product_from_name(const char *name);

/* The product of a version 3 report's CPUID family and model: family 19h models 00h-0Fh Milan,
 * 10h-1Fh and A0h-AFh Genoa (Genoa, Bergamo, Siena); family 1Ah models 00h-1Fh Turin. */
enum snp_product snp_product_from_cpuid(uint8_t family, uint8_t model);

/* The security patch levels of a TCB_VERSION. Milan and Genoa: byte 0 bootloader, 1 TEE, 2-5
 * reserved (KDS SPLs 4-7), 6 SNP, 7 microcode. Turin: 0 FMC, 1 bootloader, 2 TEE, 3 SNP, 4-6
 * reserved (KDS SPLs 5-7), 7 microcode. */
struct snp_tcb {
    uint8_t fmc; /* Turin only */
    uint8_t bootloader;
    uint8_t tee;
    uint8_t snp;
    uint8_t microcode;
    uint8_t spl[4]; /* the reserved KDS SPLs 4-7 (Turin has no SPL 4: spl[0] is not encoded) */
};

void snp_tcb_decode(enum snp_product product, uint64_t tcb, struct snp_tcb *ret);
uint64_t snp_tcb_encode(enum snp_product product, const struct snp_tcb *tcb);

/* A certificate's validity window, for the verification-time check. */
struct snp_cert_window {
    const char *name; /* "vcek", "vlek", "ask", "asvk", "ark" */
    int64_t not_before;
    int64_t not_after;
};

/* What attest_snp_certs_new leaves for each verification: nothing is parsed per report. */
struct attest_snp_certs {
    EVP_PKEY *key; /* the VCEK's or VLEK's P-384 public key; only read */
    enum snp_product product;
    bool vlek;
    uint64_t tcb; /* the TCB_VERSION the VCEK/VLEK certifies, composed from its SPLs */
    uint8_t hwid[SNP_CHIP_ID_SIZE];     /* VCEK only */
    size_t hwid_size;                   /* 64, 8 on Turin; 0 for a VLEK */
    uint8_t key_id[ATTEST_KEY_ID_SIZE]; /* SHA-256 of the VCEK's/VLEK's SubjectPublicKeyInfo */
    struct snp_cert_window windows[3];  /* leaf, ASK/ASVK, ARK */
};
