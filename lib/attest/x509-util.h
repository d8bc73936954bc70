/* libattest internals: X.509 helpers for hardware collateral: PEM chains, validity windows as
 * unix seconds, chains checked link by link to a root pinned by key, CRLs. Not installed.
 *
 * We check chains ourselves rather than with an X509_STORE because the trust decision is "ends
 * in this key" (not a name), and time is the caller's verification time, checked per use. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include <attest/claims.h>

#define X509_CHAIN_MAX 4u

struct x509_chain {
    size_t count;
    X509 *certs[X509_CHAIN_MAX]; /* leaf first, root last */
};

/* Reads the PEM certificates of size bytes (trailing NULs and text between blocks are fine).
 * -EBADMSG: none, or one that does not parse; -E2BIG: more than X509_CHAIN_MAX. */
int x509_chain_read_pem(const void *pem, size_t size, struct x509_chain *ret);
void x509_chain_clear(struct x509_chain *chain);

/* Reads one certificate, DER or PEM. -EBADMSG. */
int x509_read_any(const void *data, size_t size, X509 **ret);

/* Reads one CRL, DER or PEM. -EBADMSG. */
int x509_crl_read_any(const void *data, size_t size, X509_CRL **ret);

#define X509_CN_SIZE 128u

/* The name's single commonName as a C string (out: X509_CN_SIZE bytes). -EBADMSG when there is
 * none, more than one, or one that is too long or holds a NUL. */
int x509_name_cn(const X509_NAME *name, char out[X509_CN_SIZE]);

/* SHA-256 of the certificate's DER SubjectPublicKeyInfo. -EBADMSG. */
int x509_spki_sha256(X509 *cert, uint8_t ret[32]);

/* Checks that every certificate is signed by the next one's key with the issuer's subject as its
 * issuer name, and that the last is self-signed with the key whose SPKI SHA-256 is pin.
 * ATTEST_STEP_CERT_CHAIN with the item and the link named otherwise. */
int x509_chain_check(const struct x509_chain *chain, const uint8_t pin[32], const char *item,
                     struct attest_failure *failure);

/* The validity window of a certificate, or a CRL's thisUpdate/nextUpdate, in unix seconds. */
int x509_validity(X509 *cert, int64_t *ret_not_before, int64_t *ret_not_after);
int x509_crl_validity(X509_CRL *crl, int64_t *ret_this_update, int64_t *ret_next_update);

/* ATTEST_STEP_EXPIRED naming item when at is outside [from, until]. */
int x509_window_check(int64_t from, int64_t until, int64_t at, const char *item,
                      struct attest_failure *failure);

/* Whether cert's serial is listed in crl (the caller has matched issuer names). */
bool x509_crl_lists(X509_CRL *crl, X509 *cert);

/* The largest DER ECDSA-Sig-Value for components of up to 48 bytes (P-384). */
#define X509_ECDSA_DER_MAX (2 + 2 * (2 + 1 + 48))

/* The DER ECDSA-Sig-Value SEQUENCE { r INTEGER, s INTEGER } of big-endian r and s of size bytes
 * each (1..48) into out; its length, or 0 when r or s is zero (never a valid signature). We
 * encode it ourselves: vendors send raw r ‖ s, and OpenSSL's ECDSA_SIG is a low-level API. */
size_t x509_ecdsa_der(const uint8_t *r, const uint8_t *s, size_t size,
                      uint8_t out[X509_ECDSA_DER_MAX]);

/* ECDSA P-256 SHA-256 verify of a raw r ‖ s signature (64 bytes) by key. 0, or -EKEYREJECTED. */
int x509_verify_p256_raw(EVP_PKEY *key, const uint8_t *message, size_t size,
                         const uint8_t signature[64]);

/* An EC P-256 public key from a raw x ‖ y (64 bytes). -EBADMSG when not on the curve. */
int x509_p256_key_from_raw(const uint8_t xy[64], EVP_PKEY **ret);
