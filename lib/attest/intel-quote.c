/* libattest: the layout of Intel DCAP quotes (intel-quote.h). Layouts after Intel's "SGX ECDSA
 * Quote Library API" (quote v3, appendix A.4) and "TDX DCAP Quoting Library API" (quote v4 and
 * v5, appendix A.3/A.4); checks after Intel QVL's Quote::parse and Quote::validate.
 *
 * Lengths: each length is checked against what its container has left, so nothing is read out
 * of bounds whatever the input. Intel QVL ignores bytes after the signature data (real quotes
 * carry zero padding there: tdx-v4-phala-p2, tdx-v4-oasis-trailing), and so do we. Inside the
 * signature data QVL is not consistent: it refuses unconsumed bytes inside the type 6 content
 * but not inside the signature data itself. We refuse both: no quoting enclave writes such
 * slack, every real quote we have fills both exactly, and bytes that a declared length covers
 * but no field accounts for are exactly where two parsers of one quote could start to disagree. */
#include <errno.h>
#include <string.h>

#include <attest/intel.h>

#include "attest-util.h"
#include "intel-quote.h"

#define V5_BODY_DESCRIPTOR_SIZE 6u /* u16 body type, u32 body size */
#define QE_AUTH_SIZE_SIZE 2u
#define CERT_DATA_HEADER_SIZE 6u /* u16 type, u32 size */

/* Intel's QE vendor id, 939A7233-F79C-4CA9-940A-0DB3957F0607, as the quote header carries it. */
static const uint8_t intel_qe_vendor_id[16] = {
    0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
};

/* A bounded view of the bytes still to read in one container. */
struct cursor {
    const uint8_t *p;
    size_t left;
};

static const uint8_t *
cursor_take(struct cursor *c, size_t n)
{
    const uint8_t *p = c->p;

    if (n > c->left)
        return NULL;
    c->p += n;
    c->left -= n;
    return p;
}

static bool
cursor_u16(struct cursor *c, uint16_t *ret)
{
    const uint8_t *p = cursor_take(c, 2);

    if (!p)
        return false;
    *ret = le16_read(p);
    return true;
}

static bool
cursor_u32(struct cursor *c, uint32_t *ret)
{
    const uint8_t *p = cursor_take(c, 4);

    if (!p)
        return false;
    *ret = le32_read(p);
    return true;
}

/* Splits the next n bytes off c as their own container. */
static bool
cursor_sub(struct cursor *c, size_t n, struct cursor *ret)
{
    const uint8_t *p = cursor_take(c, n);

    if (!p)
        return false;
    *ret = (struct cursor){ .p = p, .left = n };
    return true;
}

void
intel_sgx_report_parse(const uint8_t *data, struct intel_sgx_report *ret)
{
    memcpy(ret->cpusvn, data + 0, 16);
    ret->miscselect = le32_read(data + 16);
    /* 20..31 reserved */
    memcpy(ret->isvextprodid, data + 32, 16);
    memcpy(ret->attributes, data + 48, 16);
    memcpy(ret->mrenclave, data + 64, 32);
    /* 96..127 reserved */
    memcpy(ret->mrsigner, data + 128, 32);
    /* 160..191 reserved */
    memcpy(ret->configid, data + 192, 64);
    ret->isvprodid = le16_read(data + 256);
    ret->isvsvn = le16_read(data + 258);
    ret->configsvn = le16_read(data + 260);
    /* 262..303 reserved */
    memcpy(ret->isvfamilyid, data + 304, 16);
    memcpy(ret->report_data, data + 320, 64);
}

/* A TD 1.0 body, or the first 584 bytes of a TD 1.5 one; report_data is copied out. */
static void
td_report_parse(const uint8_t *data, bool td15, struct attest_tdx_claims *ret,
                uint8_t report_data[64])
{
    memcpy(ret->tee_tcb_svn, data + 0, 16);
    memcpy(ret->mrseam, data + 16, 48);
    memcpy(ret->mrsignerseam, data + 64, 48);
    ret->seam_attributes = le64_read(data + 112);
    ret->td_attributes = le64_read(data + 120);
    ret->xfam = le64_read(data + 128);
    memcpy(ret->mrtd, data + 136, 48);
    memcpy(ret->mrconfigid, data + 184, 48);
    memcpy(ret->mrowner, data + 232, 48);
    memcpy(ret->mrownerconfig, data + 280, 48);
    for (size_t i = 0; i < 4; i++)
        memcpy(ret->rtmr[i], data + 328 + 48 * i, 48);
    memcpy(report_data, data + 520, 64);
    ret->td15 = td15;
    if (td15) {
        memcpy(ret->tee_tcb_svn2, data + 584, 16);
        memcpy(ret->mrservicetd, data + 600, 48);
    }
}

static int
truncated(struct attest_failure *failure, const char *what)
{
    return attest_failure_set(failure, ATTEST_STEP_PARSE, -EBADMSG,
                              "quote malformed: %s truncated or overruns its container", what);
}

static int
unsupported(struct attest_failure *failure, const char *what, unsigned long value)
{
    return attest_failure_set(failure, ATTEST_STEP_VERSION, -EPROTONOSUPPORT,
                              "quote %s 0x%lx not supported", what, value);
}

static int
header_parse(struct cursor *c, struct intel_quote *q, struct attest_failure *failure)
{
    const uint8_t *h = cursor_take(c, INTEL_QUOTE_HEADER_SIZE);

    if (!h)
        return truncated(failure, "header");
    q->version = le16_read(h + 0);
    q->att_key_type = le16_read(h + 2);
    q->tee_type = le32_read(h + 4);
    q->qe_svn = le16_read(h + 8);
    q->pce_svn = le16_read(h + 10);
    memcpy(q->qe_vendor_id, h + 12, 16);
    memcpy(q->user_data, h + 28, 20);
    if (q->version < 3 || q->version > 5)
        return unsupported(failure, "version", q->version);
    if (q->att_key_type != INTEL_ATT_KEY_ECDSA_P256)
        return unsupported(failure, "attestation key type", q->att_key_type);
    if (q->tee_type != INTEL_TEE_SGX && q->tee_type != INTEL_TEE_TDX)
        return unsupported(failure, "TEE type", q->tee_type);
    /* v3 is SGX only; v4 SGX quotes are not produced by any quoting enclave we verify. */
    if ((q->version == 3 && q->tee_type != INTEL_TEE_SGX) ||
        (q->version == 4 && q->tee_type != INTEL_TEE_TDX))
        return unsupported(failure, "TEE type for its version", q->tee_type);
    /* The QE identity and PCK chain rules are Intel's: another vendor's QE is not verifiable. */
    if (memcmp(q->qe_vendor_id, intel_qe_vendor_id, sizeof(intel_qe_vendor_id)) != 0)
        return attest_failure_set(failure, ATTEST_STEP_VERSION, -EPROTONOSUPPORT,
                                  "quote QE vendor id is not Intel's");
    return 0;
}

static size_t
body_size_of(enum intel_body_type type)
{
    switch (type) {
    case INTEL_BODY_SGX:
        return INTEL_SGX_REPORT_SIZE;
    case INTEL_BODY_TD10:
        return INTEL_TD10_REPORT_SIZE;
    case INTEL_BODY_TD15:
        return INTEL_TD15_REPORT_SIZE;
    }
    return 0;
}

/* v3 and v4 imply their body; v5 names it in a descriptor whose size must be the type's. */
static int
body_type_parse(struct cursor *c, struct intel_quote *q, struct attest_failure *failure)
{
    uint16_t type;
    uint32_t size;

    if (q->version == 3) {
        q->body_type = INTEL_BODY_SGX;
        return 0;
    }
    if (q->version == 4) {
        q->body_type = INTEL_BODY_TD10;
        return 0;
    }
    if (!cursor_u16(c, &type) || !cursor_u32(c, &size))
        return truncated(failure, "body descriptor");
    if (type < INTEL_BODY_SGX || type > INTEL_BODY_TD15)
        return unsupported(failure, "body type", type);
    q->body_type = (enum intel_body_type)type;
    if ((q->body_type == INTEL_BODY_SGX) != (q->tee_type == INTEL_TEE_SGX))
        return unsupported(failure, "TEE type for its body type", q->tee_type);
    if (size != body_size_of(q->body_type))
        return attest_failure_set(failure, ATTEST_STEP_PARSE, -EBADMSG,
                                  "quote malformed: body size %u for body type %u", size, type);
    return 0;
}

static int
body_parse(struct cursor *c, struct intel_quote *q, struct attest_failure *failure)
{
    const uint8_t *body;
    int r;

    r = body_type_parse(c, q, failure);
    if (r < 0)
        return r;
    body = cursor_take(c, body_size_of(q->body_type));
    if (!body)
        return truncated(failure, "report body");
    if (q->body_type == INTEL_BODY_SGX) {
        intel_sgx_report_parse(body, &q->enclave);
        memcpy(q->report_data, q->enclave.report_data, sizeof(q->report_data));
    } else {
        td_report_parse(body, q->body_type == INTEL_BODY_TD15, &q->td, q->report_data);
    }
    return 0;
}

/* Certification data {u16 type, u32 size, size bytes}: the type must be want; its content is
 * returned as a container of its own. */
static int
cert_data_parse(struct cursor *c, uint16_t want, const char *what, struct cursor *ret,
                struct attest_failure *failure)
{
    uint16_t type;
    uint32_t size;

    if (!cursor_u16(c, &type) || !cursor_u32(c, &size) || !cursor_sub(c, size, ret))
        return truncated(failure, what);
    if (type != want)
        return attest_failure_set(failure, ATTEST_STEP_PARSE, -EBADMSG,
                                  "quote malformed: %s has certification data type %u, not %u",
                                  what, type, want);
    return 0;
}

static int
exactly_filled(const struct cursor *c, const char *what, struct attest_failure *failure)
{
    if (c->left != 0)
        return attest_failure_set(failure, ATTEST_STEP_PARSE, -EBADMSG,
                                  "quote malformed: %zu bytes of %s not accounted for", c->left,
                                  what);
    return 0;
}

/* QE report, its signature, the QE authentication data and the PCK chain (type 5): the whole of
 * the v3 signature data after the attestation key, and the whole of the v4/v5 type 6 content. */
static int
qe_part_parse(struct cursor *c, struct intel_quote *q, const char *what,
              struct attest_failure *failure)
{
    struct cursor chain;
    uint16_t auth_size;
    int r;

    q->qe_report_raw = cursor_take(c, INTEL_SGX_REPORT_SIZE);
    q->qe_report_signature = cursor_take(c, INTEL_ECDSA_SIGNATURE_SIZE);
    if (!q->qe_report_raw || !q->qe_report_signature)
        return truncated(failure, "QE report");
    intel_sgx_report_parse(q->qe_report_raw, &q->qe_report);
    if (!cursor_u16(c, &auth_size))
        return truncated(failure, "QE authentication data");
    q->qe_auth_data = cursor_take(c, auth_size);
    if (!q->qe_auth_data)
        return truncated(failure, "QE authentication data");
    q->qe_auth_size = auth_size;
    r = cert_data_parse(c, INTEL_CERT_DATA_PCK_CHAIN, "PCK certification data", &chain, failure);
    if (r < 0)
        return r;
    /* The QE writes the PEM text NUL-terminated; the terminator is not part of the text. */
    while (chain.left > 0 && chain.p[chain.left - 1] == '\0')
        chain.left--;
    if (chain.left == 0)
        return attest_failure_set(failure, ATTEST_STEP_PARSE, -EBADMSG,
                                  "quote malformed: empty PCK certification data");
    q->pck_chain = chain.p;
    q->pck_chain_size = chain.left;
    return exactly_filled(c, what, failure);
}

static int
sig_data_parse(struct cursor *sig, struct intel_quote *q, struct attest_failure *failure)
{
    struct cursor qe;
    int r;

    q->signature = cursor_take(sig, INTEL_ECDSA_SIGNATURE_SIZE);
    q->attestation_key = cursor_take(sig, INTEL_ECDSA_KEY_SIZE);
    if (!q->signature || !q->attestation_key)
        return truncated(failure, "signature and attestation key");
    if (q->version == 3) {
        q->cert_data_type = INTEL_CERT_DATA_PCK_CHAIN;
        return qe_part_parse(sig, q, "signature data", failure);
    }
    q->cert_data_type = INTEL_CERT_DATA_QE_REPORT;
    r = cert_data_parse(sig, INTEL_CERT_DATA_QE_REPORT, "QE report certification data", &qe,
                        failure);
    if (r < 0)
        return r;
    r = exactly_filled(sig, "signature data", failure);
    if (r < 0)
        return r;
    return qe_part_parse(&qe, q, "QE report certification data", failure);
}

int
intel_quote_parse(const uint8_t *data, size_t size, struct intel_quote *ret,
                  struct attest_failure *failure)
{
    struct intel_quote q = { 0 };
    struct cursor c = { .p = data, .left = size }, sig;
    int r;

    if (!data || !ret)
        return attest_failure_set(failure, ATTEST_STEP_PARSE, -EINVAL, "no quote");
    if (size > ATTEST_INTEL_QUOTE_MAX)
        return attest_failure_set(failure, ATTEST_STEP_PARSE, -EBADMSG,
                                  "quote malformed: %zu bytes, more than %u", size,
                                  ATTEST_INTEL_QUOTE_MAX);
    r = header_parse(&c, &q, failure);
    if (r < 0)
        return r;
    r = body_parse(&c, &q, failure);
    if (r < 0)
        return r;
    q.signed_region = data;
    q.signed_size = size - c.left;
    if (!cursor_u32(&c, &q.sig_data_size) || !cursor_sub(&c, q.sig_data_size, &sig))
        return truncated(failure, "signature data");
    r = sig_data_parse(&sig, &q, failure);
    if (r < 0)
        return r;
    q.trailing_bytes = c.left;
    *ret = q;
    return attest_failure_set(failure, ATTEST_STEP_NONE, 0, "%s", "");
}
