/* A node's enrolled sim attestation key (nodes.attestation_key: base64 DER SubjectPublicKeyInfo,
 * standard or URL alphabet), as the issuance pipeline checks evidence against it. */
#pragma once

#include <openssl/evp.h>

/* A reference to the key of text (the caller frees it), or NULL when text is NULL or does not
 * decode. Decoded keys are kept per process, by their text: OpenSSL 3.0 sets up its decoder
 * machinery for every key it decodes, which costs more than the signature check it serves. */
EVP_PKEY *attestation_key_get(const char *text);
