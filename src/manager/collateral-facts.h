/* What the manager reads from collateral items to file and show them: validity dates, the CA
 * that issued a CRL, and the product, chip and TCB an AMD certificate is for. These are facts
 * for indexing and status pages only: whether an item is trusted is decided by libattest's
 * verifiers (collateral.c builds them for every item before it is stored). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AMD_PRODUCT_MAX 16
#define AMD_HWID_MAX 64

/* Standard base64 (RFC 4648 section 4) of data, NUL-terminated, newly allocated. */
int collateral_b64_encode(const void *data, size_t size, char **ret_text);
/* Decodes standard base64 (padding optional, no line breaks) of at most max bytes; -EINVAL on
 * anything else, -E2BIG when longer. *ret_data has a NUL after its *ret_size bytes. */
int collateral_b64_decode(const char *text, size_t max, uint8_t **ret_data, size_t *ret_size);

/* The earliest notAfter of the certificates of a PEM chain (Unix seconds). -EBADMSG when it
 * holds no certificate. */
int collateral_chain_not_after(const char *pem, size_t size, int64_t *ret_not_after);

enum crl_issuer {
    CRL_ISSUER_OTHER = 0,
    CRL_ISSUER_PROCESSOR, /* Intel SGX PCK Processor CA */
    CRL_ISSUER_PLATFORM,  /* Intel SGX PCK Platform CA */
    CRL_ISSUER_ROOT,      /* Intel SGX Root CA */
};

struct crl_facts {
    enum crl_issuer issuer;
    int64_t this_update, next_update; /* Unix seconds */
};

/* Reads a CRL, DER or PEM. -EBADMSG when it is not one or has no nextUpdate. */
int collateral_crl_facts(const void *data, size_t size, struct crl_facts *ret);

enum amd_cert_role {
    AMD_CERT_VCEK = 1,
    AMD_CERT_VLEK,
    AMD_CERT_ASK,
    AMD_CERT_ASVK,
    AMD_CERT_ARK,
};

struct amd_cert_facts {
    enum amd_cert_role role;
    char product[AMD_PRODUCT_MAX]; /* "Milan", "Genoa", "Turin" (from the CA names) */
    uint8_t hwid[AMD_HWID_MAX];    /* VCEK: 64 bytes, 8 on Turin */
    size_t hwid_size;
    uint64_t tcb;                  /* VCEK/VLEK: the TCB_VERSION its SPLs name */
    uint8_t key_id[32];            /* SHA-256 of the SubjectPublicKeyInfo */
    int64_t not_before, not_after; /* Unix seconds */
};

/* Reads an AMD SEV certificate (DER): its role by the names AMD gives (ARK-<product>,
 * SEV-<product>, SEV-VLEK-<product>, SEV-VCEK, SEV-VLEK issued by one of those), and for
 * VCEKs and VLEKs the hwID and TCB extensions (AMD's VCEK/KDS specification). -EBADMSG for
 * anything else. */
int collateral_amd_facts(const void *der, size_t size, struct amd_cert_facts *ret);

/* The key of an AMD item in the store: "<product>" for ARK, ASK and ASVK;
 * "<product>/<hwid hex>/<tcb hex>" for a VCEK, the TCB as the report's REPORTED_TCB holds it
 * (its 8 bytes in order, 16 hex digits); "<product>/<key_id hex>" for a VLEK. */
void collateral_amd_key(const struct amd_cert_facts *facts, char *out, size_t size);

/* The store's kind of an AMD certificate: "amd_vcek", "amd_vlek", "amd_ask", "amd_asvk",
 * "amd_ark". */
const char *collateral_amd_kind(enum amd_cert_role role);

/* The TCB_VERSION named by SPLs in product's layout (SEV-SNP ABI: Milan and Genoa bl, tee, 4
 * reserved, snp, ucode; Turin fmc, bl, tee, snp, 3 reserved, ucode), as the report's
 * REPORTED_TCB reads it (little-endian). */
uint64_t collateral_amd_tcb(const char *product, uint8_t fmc, uint8_t bl, uint8_t tee, uint8_t snp,
                            uint8_t ucode);
