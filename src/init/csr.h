/* The application's key and certificate request (cloister-init): the key per the manifest's
 * certificate config (RSA 2048..4096, EC P-256/P-384) and a CSR with CN = subject and SAN DNS =
 * subject + alt_names, signed SHA-256. */
#pragma once

#include <openssl/evp.h>

#include "manifest.h"

int csr_key_generate(const struct manifest_certificate *config, EVP_PKEY **ret_key);
/* The CSR as PEM (malloc'd, NUL-terminated). */
int csr_make_pem(EVP_PKEY *key, const struct manifest_certificate *config, char **ret_pem);
/* The key as unencrypted PKCS#8 PEM (malloc'd; the caller cleanses and frees it). */
int csr_key_pem(EVP_PKEY *key, char **ret_pem, size_t *ret_size);

/* report_data per include/attest/binding.h (SPEC 6.2), for a platform whose measurement covers
 * the manifest (sim): SHA-256(nonce || SHA-256(DER SPKI of key)) then 32 zero bytes. The same
 * computation as attest_report_data_compute(), reimplemented because libattest's shared build
 * brings jansson, which has no static library; tests/unit/test-init-attest.c checks both agree. */
int csr_report_data(const uint8_t *nonce, size_t nonce_size, EVP_PKEY *key, uint8_t ret[64]);
