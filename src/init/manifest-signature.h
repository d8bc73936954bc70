/* Signed manifests (docs/manifest.md "Signature"). A signed image carries, beside
 * /.cloister/manifest.json, the signing public key (signer.pem) and a detached signature over
 * the manifest's canonical encoding without "signer" (manifest.sig, DER). The manifest's
 * "signer" is SHA-256 of that key's DER SubjectPublicKeyInfo: all zeros means unsigned.
 * cloister-init, the converter and `cloister image inspect` all check with this code. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "manifest.h"

#define MANIFEST_SIGNATURE_PATH "/.cloister/manifest.sig"
#define MANIFEST_SIGNER_PEM_PATH "/.cloister/signer.pem"
#define MANIFEST_SIGNATURE_MAX 2048u   /* an RSA-16384 or ECDSA P-521 signature fits */
#define MANIFEST_SIGNER_PEM_MAX 16384u /* a PEM public key */

enum manifest_signature_state {
    MANIFEST_UNSIGNED, /* signer all zeros, neither file */
    MANIFEST_SIGNED,   /* signer.pem hashes to signer and manifest.sig verifies with it */
    MANIFEST_BAD_SIGNATURE,
};

/* The signer of key: SHA-256 of its DER SubjectPublicKeyInfo. */
int manifest_key_signer(EVP_PKEY *key, uint8_t ret_signer[32]);

/* signer.pem's content: key's public half as PEM SubjectPublicKeyInfo, malloc'd. */
int manifest_key_pem(EVP_PKEY *key, char **ret_pem);

/* A detached signature over manifest_canonical(m) with the key's own scheme: Ed25519 (pure,
 * deterministic), or ECDSA or RSA PKCS#1 v1.5 over SHA-256. *ret_signature is OPENSSL_malloc'd. */
int manifest_sign(const struct manifest *m, EVP_PKEY *key, unsigned char **ret_signature,
                  size_t *ret_size);

/* Checks m's signer against the files (NULL when absent). A non-zero signer needs both files,
 * a signer.pem that hashes to it and a signature that verifies; a zero signer needs neither.
 * *ret_problem (static text) says what failed. */
enum manifest_signature_state manifest_signature_check(const struct manifest *m,
                                                       const char *signer_pem, size_t pem_size,
                                                       const void *signature, size_t sig_size,
                                                       const char **ret_problem);
