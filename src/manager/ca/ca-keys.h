/* A zone's certificate authority: a self-signed root and an issuing CA signed by it.
 *
 * ca_zone_create() makes both keys and certificates and hands back what the store keeps: the two
 * certificates in PEM (public) and the two private keys as PKCS#8 DER sealed with seal_secret()
 * under the master seal key, with the associated data "<zone_id>:root" and "<zone_id>:issuing"
 * so a sealed key cannot be moved to another zone or role. ca_zone_load() opens the issuing key
 * for signing (ca-issue.h); only the CA process should call it (SPEC 2.1). docs/ca.md describes
 * the profile. Private key bytes are cleansed before their memory is released.
 *
 * Errors: -EINVAL (bad zone id or name), -ENOMEM, -EIO (OpenSSL failed), -EBADMSG (a sealed key
 * does not open under this key and zone, a certificate does not parse, or the pieces do not fit
 * together). */
#pragma once

#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca-x509.h"
#include "cleanup.h"
#include "crypto-util.h"

/* Zone ids become part of the sealing aad: letters, digits, '-' and '_' only. */
#define CA_ZONE_ID_MAX 64
/* Bytes of the zone name kept in the CAs' common names (64 characters at most, RFC 5280); a
 * longer name is cut at a UTF-8 character boundary. */
#define CA_ZONE_NAME_MAX 38
#define CA_ROOT_VALIDITY_SECONDS (3653LL * 86400)    /* 10 years */
#define CA_ISSUING_VALIDITY_SECONDS (1827LL * 86400) /* 5 years */
#define CA_BACKDATE_SECONDS 60                       /* notBefore = now - this: clock skew */

enum ca_key_type {
    CA_KEY_P384 = 0, /* the default */
    CA_KEY_P256,
};

enum ca_key_role {
    CA_KEY_ROOT,
    CA_KEY_ISSUING,
};

/* What the store keeps for a zone CA. Every string is newly allocated and owned by the struct. */
struct ca_zone_sealed {
    char *root_cert_pem;
    char *issuing_cert_pem;
    char *root_key_sealed;    /* seal_secret(PKCS#8 DER), aad "<zone_id>:root" */
    char *issuing_key_sealed; /* seal_secret(PKCS#8 DER), aad "<zone_id>:issuing" */
};

struct ca_zone_sealed *ca_zone_sealed_free(struct ca_zone_sealed *sealed);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct ca_zone_sealed, ca_zone_sealed_free);

/* A loaded zone CA, ready to sign. Owns everything it points to. What every leaf needs from the
 * issuing CA is worked out once, here, rather than per certificate. */
struct zone_ca {
    char zone_id[CA_ZONE_ID_MAX + 1];
    X509 *root;
    X509 *issuing;
    EVP_PKEY *issuing_key;          /* private */
    char *chain_pem;                /* issuing then root certificate, PEM */
    const EVP_MD *digest;           /* what issuing_key signs with (ca_x509_digest_for) */
    int64_t issuing_not_after;      /* the issuing certificate's notAfter, seconds since 1970 */
    struct ca_leaf_exts *leaf_exts; /* extension values of leaves (ca-x509.h) */
};

struct zone_ca *ca_zone_free(struct zone_ca *ca);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct zone_ca, ca_zone_free);

bool ca_zone_id_is_valid(const char *zone_id);

/* Creates a zone CA for zone_id named zone_name (UTF-8) with keys of the given type; the caller
 * owns *ret_sealed. */
int ca_zone_create(const uint8_t seal_key[SEAL_KEY_LEN], const char *zone_id, const char *zone_name,
                   enum ca_key_type type, struct ca_zone_sealed **ret_sealed);

/* Opens one sealed CA key of zone_id; the caller owns *ret_key. */
int ca_key_open(const uint8_t seal_key[SEAL_KEY_LEN], const char *zone_id, enum ca_key_role role,
                const char *sealed, EVP_PKEY **ret_key);

/* Loads a zone CA for signing: parses both certificates, opens the issuing key and checks that
 * the root is self-signed, the issuing certificate is signed by the root and the key is the
 * issuing certificate's. The root key stays sealed. The caller owns *ret_ca. */
int ca_zone_load(const uint8_t seal_key[SEAL_KEY_LEN], const char *zone_id,
                 const char *root_cert_pem, const char *issuing_cert_pem,
                 const char *issuing_key_sealed, struct zone_ca **ret_ca);
