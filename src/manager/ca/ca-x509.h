/* OpenSSL X.509 helpers shared by the zone CA's files (ca-keys.c, ca-issue.c): cleanup functions
 * for the OpenSSL types they use, PEM output, serials, validity and extensions. Internal to ca/.
 * Errors: -ENOMEM, -EIO (OpenSSL failed), -EINVAL (bad argument). */
#pragma once

#include <stdint.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cleanup.h"

/* 128-bit serials (16 bytes) as lower-case hex. */
#define CA_SERIAL_LEN 16
#define CA_SERIAL_HEX_LEN (2 * CA_SERIAL_LEN)

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509, X509_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_REQ, X509_REQ_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_NAME, X509_NAME_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO, BIO_free_all);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_OBJECT, ASN1_OBJECT_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_OCTET_STRING, ASN1_OCTET_STRING_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_BIT_STRING, ASN1_BIT_STRING_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_ALGOR, X509_ALGOR_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_EXTENSION, X509_EXTENSION_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_NAMES, GENERAL_NAMES_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_NAME, GENERAL_NAME_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(PKCS8_PRIV_KEY_INFO, PKCS8_PRIV_KEY_INFO_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM, BN_free);

/* The PEM text of cert, newly allocated and NUL-terminated: the bytes PEM_write_bio_X509 writes,
 * from a single DER encoding of cert. */
int ca_x509_to_pem(X509 *cert, char **ret_pem);

/* Parses exactly one PEM certificate from text. -EBADMSG when it is not one. */
int ca_x509_from_pem(const char *pem, X509 **ret_cert);

/* The digest a CA key signs with: SHA-384 for EC P-384, SHA-256 otherwise. */
const EVP_MD *ca_x509_digest_for(EVP_PKEY *signer);

/* Sets a random positive serial of exactly 128 bits (high bit set, 127 random bits) and returns
 * it in hex (optional ret_hex, size CA_SERIAL_HEX_LEN + 1). */
int ca_x509_set_random_serial(X509 *cert, char *ret_hex);

/* notBefore = not_before, notAfter = not_after (seconds since the epoch). */
int ca_x509_set_validity(X509 *cert, int64_t not_before, int64_t not_after);

/* The values of the extensions every leaf an issuing CA signs carries, made once per loaded zone
 * (ca_zone_load) so that issuing a leaf neither parses configuration strings nor decodes the
 * issuing certificate's key id again. Read-only once made: leaves encode them (i2d). */
struct ca_leaf_exts {
    BASIC_CONSTRAINTS *basic_constraints; /* CA:FALSE */
    ASN1_BIT_STRING *key_usage_ec;        /* digitalSignature */
    ASN1_BIT_STRING *key_usage_rsa;       /* digitalSignature, keyEncipherment */
    EXTENDED_KEY_USAGE *eku_app;          /* serverAuth, clientAuth */
    EXTENDED_KEY_USAGE *eku_node;         /* clientAuth */
    AUTHORITY_KEYID *authority_key_id;    /* keyid: the issuing certificate's subject key id */
    ASN1_OBJECT *claims_oid;              /* CA_CLAIMS_OID (ca-issue.h) */
    EVP_MD *sha1;                         /* subject key ids (RFC 5280 4.2.1.2, method 1) */
};

struct ca_leaf_exts *ca_leaf_exts_free(struct ca_leaf_exts *exts);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct ca_leaf_exts, ca_leaf_exts_free);

/* The leaf extension values for leaves issuer signs, with claims_oid (dotted text) as the claims
 * extension's OID. The authority key id is issuer's subject key id, or the SHA-1 of its key when
 * it has none: what OpenSSL's "keyid:always" makes. */
int ca_leaf_exts_new(X509 *issuer, const char *claims_oid, struct ca_leaf_exts **ret_exts);

/* Adds the subject key identifier of cert's public key (SHA-1 of the key's BIT STRING, as
 * OpenSSL's "hash" makes it), not critical. */
int ca_x509_add_subject_key_id(X509 *cert, const struct ca_leaf_exts *exts);

/* Adds an extension written in OpenSSL's configuration syntax (constant values only: never put
 * outside data into value). issuer may equal cert for a self-signed certificate. */
int ca_x509_add_ext(X509 *cert, X509 *issuer, int nid, const char *value);

/* The notAfter of cert in seconds since the epoch. */
int ca_x509_not_after(const X509 *cert, int64_t *ret_unix);
