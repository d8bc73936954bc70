/* Fuzz target for the CSR parser (CSRs come from apps through the agent, PEM or DER). Invariant:
 * an accepted CSR yields its public key, RSA or EC; a refused one says why; ca_csr_check (which
 * reads EC P-256/P-384 requests on its own) accepts exactly what ca_csr_parse accepts, with the
 * same key, and gives that key's DER SubjectPublicKeyInfo. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca-issue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ca_error error = { .message = { 0 } };
    struct ca_error error2 = { .message = { 0 } };
    EVP_PKEY *key = NULL, *key2 = NULL;
    uint8_t *spki = NULL;
    size_t spki_len = 0;
    int r = ca_csr_parse(data, size, &error, &key);
    int r2 = ca_csr_check(data, size, &error2, &key2, &spki, &spki_len);

    if (r >= 0 && (!key || (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA &&
                            EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)))
        __builtin_trap();
    if (r < 0 && (key || !error.message[0]))
        __builtin_trap();
    if ((r >= 0) != (r2 >= 0) || (r2 < 0 && (key2 || spki || !error2.message[0])))
        __builtin_trap();
    if (r2 >= 0) {
        unsigned char *der = NULL;
        int n = i2d_PUBKEY(key, &der);

        if (EVP_PKEY_eq(key, key2) != 1 || n <= 0 || (size_t)n != spki_len ||
            memcmp(der, spki, spki_len) != 0)
            __builtin_trap();
        OPENSSL_free(der);
    }
    EVP_PKEY_free(key);
    EVP_PKEY_free(key2);
    OPENSSL_free(spki);
    return 0;
}
