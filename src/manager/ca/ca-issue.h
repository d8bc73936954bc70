/* Issuing leaf certificates from a loaded zone CA (ca-keys.h), for apps and for nodes.
 *
 * The CSR contributes its public key and nothing else: its self-signature is checked, and its
 * subject and requested extensions are ignored. Names come from the profile, which the caller
 * fills from checked state (whitelisted domains, the app record, the attested claims). The
 * profile is described in docs/ca.md. Thread-compatible: a zone_ca may sign from one thread.
 *
 * Errors (with a sentence in error->message when error is not NULL): -EINVAL (bad profile),
 * -E2BIG (CSR or a list too large), -EBADMSG (CSR does not parse or its signature does not
 * verify), -EOPNOTSUPP (CSR key type or size not accepted), -ERANGE (validity out of bounds or
 * past the issuing CA's own), -ENOMEM, -EIO (OpenSSL failed). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ca-keys.h"
#include "ca-x509.h"

#define CA_CSR_MAX (16u << 10)  /* bytes of a CSR, PEM or DER */
#define CA_DNS_NAMES_MAX 64     /* DNS names in one certificate */
#define CA_TRUST_DOMAIN_MAX 255 /* SPIFFE trust domain */
#define CA_NAME_SEGMENT_MAX 128 /* app name or node id in a SPIFFE path */
#define CA_CLAIM_MAX 256        /* bytes of one string claim */
#define CA_RSA_BITS_MIN 2048
#define CA_RSA_BITS_MAX 8192
#define CA_LEAF_VALIDITY_MIN 60LL
#define CA_LEAF_VALIDITY_MAX (398LL * 86400)
#define CA_ERROR_MAX 160

/* The OID of the attested-claims extension, not critical; its value is a DER OCTET STRING holding
 * compact JSON with sorted keys (docs/ca.md). PLACEHOLDER under the documentation enterprise
 * number of RFC 5612 (32473) until Cloister has its own IANA enterprise number. Not 2.25.<UUID>:
 * its 128-bit arc makes whole certificates unparseable for Go's crypto/x509 and for Python
 * cryptography >= 38 (Debian 12), which cap arcs at 64 bits (RFC 5280 asks only for 2^28). */
#define CA_CLAIMS_OID "1.3.6.1.4.1.32473.1.1"
#define CA_CLAIMS_VERSION 1

enum ca_profile_kind {
    CA_PROFILE_APP,  /* serverAuth + clientAuth, spiffe://<td>/app/<app_name> */
    CA_PROFILE_NODE, /* clientAuth, spiffe://<td>/node/<node_id> */
};

/* Attested claims; NULL strings and negative numbers are left out of the extension. */
struct ca_claims {
    const char *measurement; /* hex */
    const char *signer;      /* hex */
    int64_t isvprodid;       /* 0..65535, or -1 */
    int64_t isvsvn;          /* 0..65535, or -1 */
    const char *platform;    /* sim|sgx|tdx|snp */
    const char *tcb_status;
    const char *node_id;
};

struct ca_profile {
    enum ca_profile_kind kind;
    const char *trust_domain;     /* lower-case letters, digits, '.', '-', '_' */
    const char *app_name;         /* APP: letters, digits, '.', '-', '_' */
    const char *node_id;          /* NODE: letters, digits, '.', '-', '_' */
    const char *const *dns_names; /* host names (domains.h); APP: at least one */
    size_t n_dns_names;
    const struct ca_claims *claims; /* APP: required; NODE: optional */
    int64_t validity_seconds;       /* CA_LEAF_VALIDITY_MIN..CA_LEAF_VALIDITY_MAX */
};

/* An issued certificate; owns its strings. */
struct ca_issued {
    char *cert_pem;
    char *chain_pem; /* issuing then root */
    char serial_hex[CA_SERIAL_HEX_LEN + 1];
    int64_t not_before;
    int64_t not_after;
};

struct ca_error {
    char message[CA_ERROR_MAX];
};

struct ca_issued *ca_issued_free(struct ca_issued *issued);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct ca_issued, ca_issued_free);

/* Parses a PEM or DER CSR, checks its signature and its key (RSA 2048..8192 bits, EC P-256 or
 * P-384); the caller owns *ret_key (the CSR's public key). */
int ca_csr_parse(const void *csr, size_t csr_len, struct ca_error *error, EVP_PKEY **ret_key);

/* The same checks; returns the request itself (its key: X509_REQ_get0_pubkey). */
int ca_csr_parse_req(const void *csr, size_t csr_len, struct ca_error *error, X509_REQ **ret_req);

/* The checks of ca_csr_parse, returning the key and its DER SubjectPublicKeyInfo (the caller
 * frees *ret_spki with OPENSSL_free). An EC P-256 or P-384 request with an uncompressed point is
 * read without decoding its key through OpenSSL's decoders (the key is built from its point). */
int ca_csr_check(const void *csr, size_t csr_len, struct ca_error *error, EVP_PKEY **ret_key,
                 uint8_t **ret_spki, size_t *ret_spki_len);

/* req's SubjectPublicKeyInfo as DER; the caller frees *ret_der with OPENSSL_free. */
int ca_req_spki_der(X509_REQ *req, uint8_t **ret_der, size_t *ret_len);

/* Issues a certificate for the key of csr under profile, signed by ca's issuing key. */
int ca_issue_leaf(const struct zone_ca *ca, const struct ca_profile *profile, const void *csr,
                  size_t csr_len, struct ca_error *error, struct ca_issued **ret_issued);

/* Issues a certificate for spki (DER SubjectPublicKeyInfo), a key the caller took from a CSR it
 * checked with ca_csr_parse_req: the CA process's path for workers (docs/ca.md). EC P-256 and
 * P-384 keys are copied without being decoded; others are decoded and checked as in a CSR. */
int ca_issue_leaf_spki(const struct zone_ca *ca, const struct ca_profile *profile, const void *spki,
                       size_t spki_len, struct ca_error *error, struct ca_issued **ret_issued);
