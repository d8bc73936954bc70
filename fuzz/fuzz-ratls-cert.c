/* Fuzz target for libattest's RA-TLS reader (peer certificates are outside input): every input is
 * tried as a DER certificate (evidence extraction, then full verification against the key of the
 * sim test vector, docs/ratls.md) and as the raw value of the evidence extension of a template
 * certificate (the CBOR decoder). Checks that nothing crashes and that what is accepted is
 * exactly what the encoding says. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include <attest/attest.h>
#include <attest/ratls.h>

#include "sim-test-vector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_der(const uint8_t *data, size_t size, EVP_PKEY *node_key)
{
    const unsigned char *p = data;
    X509 *cert = d2i_X509(NULL, &p, (long)size);
    struct attest_trust trust = { .sim_key = node_key };
    struct attest_evidence *evidence = NULL;
    struct attest_claims claims;
    enum attest_step step = ATTEST_STEP_NONE;
    int got;

    if (!cert)
        return;
    got = attest_ratls_get_evidence(cert, &evidence, &step);
    if ((got == 0) != (step == ATTEST_STEP_NONE))
        __builtin_trap();
    if (attest_ratls_verify_cert(cert, &trust, NULL, 0, NULL, NULL, &claims, &step) == 0) {
        /* Only a certificate with evidence verifies, with the claims of that evidence. */
        if (got != 0 || step != ATTEST_STEP_NONE || evidence->type != ATTEST_PLATFORM_SIM ||
            claims.platform != ATTEST_PLATFORM_SIM)
            __builtin_trap();
    }
    attest_evidence_free(evidence);
    X509_free(cert);
}

static void
check_extension_value(const uint8_t *data, size_t size)
{
    X509 *cert = X509_new();
    ASN1_OBJECT *oid = OBJ_txt2obj(ATTEST_RATLS_OID, 1);
    ASN1_OCTET_STRING *value = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    struct attest_evidence *evidence = NULL;
    enum attest_step step = ATTEST_STEP_NONE;
    size_t head;

    if (!cert || !oid || !value || ASN1_OCTET_STRING_set(value, data, (int)size) != 1)
        goto out;
    ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, value);
    if (!ext || X509_add_ext(cert, ext, -1) != 1)
        goto out;
    if (attest_ratls_get_evidence(cert, &evidence, &step) < 0) {
        if (step != ATTEST_STEP_ENVELOPE && step != ATTEST_STEP_TYPE)
            __builtin_trap();
        goto out;
    }
    /* Accepted: the sim tag as a 4-byte argument, then a byte string in its shortest head, then
     * exactly the evidence bytes. */
    if (size < 6 || memcmp(data, "\xda\x43\x4c\x53\x31", 5) != 0)
        __builtin_trap();
    head = data[5] < 0x58 ? 1 : data[5] == 0x58 ? 2 : data[5] == 0x59 ? 3 : 5;
    if (evidence->type != ATTEST_PLATFORM_SIM || evidence->size == 0 ||
        evidence->size != size - 5 - head ||
        memcmp(evidence->data, data + 5 + head, evidence->size) != 0)
        __builtin_trap();
out:
    attest_evidence_free(evidence);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(value);
    ASN1_OBJECT_free(oid);
    X509_free(cert);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const unsigned char *p = sim_vector_spki;
    EVP_PKEY *node_key = d2i_PUBKEY(NULL, &p, sizeof(sim_vector_spki));

    if (!node_key)
        __builtin_trap();
    if (size <= ATTEST_RATLS_EXTENSION_MAX + 1024) {
        check_der(data, size, node_key);
        check_extension_value(data, size);
    }
    EVP_PKEY_free(node_key);
    return 0;
}
