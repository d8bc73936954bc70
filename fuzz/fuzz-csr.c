/* Fuzz target for the CSR parser (CSRs come from apps through the agent, PEM or DER). Invariant:
 * an accepted CSR yields its public key, RSA or EC; a refused one says why. */
#include <stdint.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "ca-issue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ca_error error = { .message = { 0 } };
    EVP_PKEY *key = NULL;
    int r = ca_csr_parse(data, size, &error, &key);

    if (r >= 0 && (!key || (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA &&
                            EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)))
        __builtin_trap();
    if (r < 0 && (key || !error.message[0]))
        __builtin_trap();
    EVP_PKEY_free(key);
    return 0;
}
