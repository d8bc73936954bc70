/* Fuzz target for libattest's Intel DCAP quote parser (lib/attest/intel-quote.c): every input is
 * parsed as a quote. A refused one must name the step its error belongs to; an accepted one must
 * account for every byte (header and body, the signature data length, the signature data, the
 * trailing bytes) with its parts in the layout's order inside it, and parse the same without its
 * trailing bytes. The leaf of an accepted quote's PCK chain goes on to the SGX extension parser. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest-util.h"
#include "intel-quote.h"
#include "pck-extensions.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_refused(int r, const struct attest_failure *failure)
{
    if (failure->reason[0] == '\0')
        __builtin_trap();
    if ((r == -EBADMSG) != (failure->step == ATTEST_STEP_PARSE) ||
        (r == -EPROTONOSUPPORT) != (failure->step == ATTEST_STEP_VERSION) ||
        (r != -EBADMSG && r != -EPROTONOSUPPORT))
        __builtin_trap();
}

static size_t
body_size(enum intel_body_type type)
{
    return type == INTEL_BODY_SGX    ? INTEL_SGX_REPORT_SIZE
           : type == INTEL_BODY_TD10 ? INTEL_TD10_REPORT_SIZE
                                     : INTEL_TD15_REPORT_SIZE;
}

/* The header and body: what the version and body type say they are. */
static void
check_signed_region(const struct intel_quote *q, const uint8_t *data)
{
    size_t descriptor = q->version == 5 ? 6 : 0;

    if (q->version < 3 || q->version > 5 || q->att_key_type != INTEL_ATT_KEY_ECDSA_P256)
        __builtin_trap();
    if ((q->body_type == INTEL_BODY_SGX) != (q->tee_type == INTEL_TEE_SGX) ||
        (q->version == 3 && q->body_type != INTEL_BODY_SGX) ||
        (q->version == 4 && q->body_type != INTEL_BODY_TD10))
        __builtin_trap();
    if (q->signed_region != data ||
        q->signed_size != INTEL_QUOTE_HEADER_SIZE + descriptor + body_size(q->body_type))
        __builtin_trap();
    /* REPORTDATA is the last 64 bytes of an SGX or TD 1.0 body, 128 bytes before a TD 1.5
     * body's end (TEE_TCB_SVN2 and MRSERVICETD follow it). */
    if (memcmp(q->report_data,
               data + q->signed_size - 64 - (q->body_type == INTEL_BODY_TD15 ? 64 : 0), 64) != 0)
        __builtin_trap();
    if (q->td.td15 != (q->body_type == INTEL_BODY_TD15))
        __builtin_trap();
}

/* The signature data: its parts back to back, the PEM text up to NUL padding at its end. */
static void
check_sig_data(const struct intel_quote *q, const uint8_t *data, size_t size)
{
    const uint8_t *end = data + q->signed_size + 4 + q->sig_data_size;
    const uint8_t *qe = q->attestation_key + INTEL_ECDSA_KEY_SIZE + (q->version == 3 ? 0 : 6);
    struct intel_sgx_report again;

    if (q->signed_size + 4 + q->sig_data_size + q->trailing_bytes != size ||
        le32_read(data + q->signed_size) != q->sig_data_size)
        __builtin_trap();
    if (q->signature != data + q->signed_size + 4 ||
        q->attestation_key != q->signature + INTEL_ECDSA_SIGNATURE_SIZE || q->qe_report_raw != qe ||
        q->qe_report_signature != q->qe_report_raw + INTEL_SGX_REPORT_SIZE ||
        q->qe_auth_data != q->qe_report_signature + INTEL_ECDSA_SIGNATURE_SIZE + 2 ||
        q->pck_chain != q->qe_auth_data + q->qe_auth_size + 6)
        __builtin_trap();
    if (q->cert_data_type !=
        (q->version == 3 ? INTEL_CERT_DATA_PCK_CHAIN : INTEL_CERT_DATA_QE_REPORT))
        __builtin_trap();
    if (q->pck_chain_size == 0 || q->pck_chain + q->pck_chain_size > end ||
        q->pck_chain[q->pck_chain_size - 1] == '\0')
        __builtin_trap();
    for (const uint8_t *p = q->pck_chain + q->pck_chain_size; p < end; p++)
        if (*p != '\0')
            __builtin_trap();
    intel_sgx_report_parse(q->qe_report_raw, &again);
    if (memcmp(again.mrenclave, q->qe_report.mrenclave, 32) != 0 ||
        memcmp(again.mrsigner, q->qe_report.mrsigner, 32) != 0 ||
        memcmp(again.report_data, q->qe_report.report_data, 64) != 0 ||
        again.isvsvn != q->qe_report.isvsvn || again.isvprodid != q->qe_report.isvprodid)
        __builtin_trap();
}

/* The same quote without its trailing bytes parses the same. */
static void
check_without_trailing(const struct intel_quote *q, const uint8_t *data, size_t size)
{
    struct intel_quote again;

    if (intel_quote_parse(data, size - q->trailing_bytes, &again, NULL) != 0 ||
        again.trailing_bytes != 0 || again.signed_size != q->signed_size ||
        again.pck_chain != q->pck_chain || again.pck_chain_size != q->pck_chain_size ||
        memcmp(again.report_data, q->report_data, sizeof(q->report_data)) != 0)
        __builtin_trap();
}

static void
check_pck_leaf(const struct intel_quote *q)
{
    struct attest_failure failure;
    struct pck_extensions ext;
    BIO *bio = BIO_new_mem_buf(q->pck_chain, (int)q->pck_chain_size);
    X509 *leaf = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    int r;

    if (leaf) {
        r = pck_extensions_from_cert(leaf, &ext, &failure);
        if ((r == 0) != (failure.step == ATTEST_STEP_NONE) ||
            (r < 0 && failure.step != ATTEST_STEP_CERT_CHAIN))
            __builtin_trap();
        X509_free(leaf);
    }
    BIO_free(bio);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct attest_failure failure = { .step = ATTEST_STEP_NONE };
    struct intel_quote q;
    int r = intel_quote_parse(data, size, &q, &failure);

    if (r < 0) {
        check_refused(r, &failure);
        return 0;
    }
    if (r != 0 || failure.step != ATTEST_STEP_NONE || failure.reason[0] != '\0')
        __builtin_trap();
    check_signed_region(&q, data);
    check_sig_data(&q, data, size);
    check_without_trailing(&q, data, size);
    check_pck_leaf(&q);
    return 0;
}
