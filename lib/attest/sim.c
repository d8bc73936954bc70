/* libattest: the "sim" evidence format, version 1. The layout is documented byte by byte in
 * docs/sim-evidence.md; the offsets below are the single place the code knows it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include <attest/attest.h>

#include "attest-util.h"
#include "cleanup.h"

#define OFF_MAGIC 0u
#define OFF_RESERVED0 5u
#define OFF_VERSION 6u
#define OFF_FLAGS 8u
#define OFF_RESERVED1 12u
#define OFF_MRENCLAVE 16u
#define OFF_MRSIGNER 48u
#define OFF_ISVPRODID 80u
#define OFF_ISVSVN 82u
#define OFF_RESERVED2 84u
#define OFF_ATTRIBUTES 88u
#define OFF_REPORT_DATA 96u
#define OFF_KEY_ID 160u
#define OFF_SIG_SIZE ATTEST_SIM_BODY_SIZE
#define OFF_SIG (ATTEST_SIM_BODY_SIZE + 2u)
#define MAGIC_SIZE 5u

_Static_assert(OFF_KEY_ID + ATTEST_KEY_ID_SIZE == ATTEST_SIM_BODY_SIZE, "sim body layout");
_Static_assert(OFF_REPORT_DATA + ATTEST_REPORT_DATA_SIZE == OFF_KEY_ID, "sim body layout");

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX, EVP_MD_CTX_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free)

int
attest_key_id(EVP_PKEY *key, uint8_t ret_key_id[ATTEST_KEY_ID_SIZE])
{
    return attest_spki_sha256(key, ret_key_id);
}

static void
sim_body_write(const struct attest_sim_report *report, const uint8_t key_id[ATTEST_KEY_ID_SIZE],
               uint8_t body[ATTEST_SIM_BODY_SIZE])
{
    memset(body, 0, ATTEST_SIM_BODY_SIZE);
    memcpy(body + OFF_MAGIC, ATTEST_SIM_MAGIC, MAGIC_SIZE);
    le16_write(body + OFF_VERSION, report->version);
    le32_write(body + OFF_FLAGS, report->flags);
    memcpy(body + OFF_MRENCLAVE, report->mrenclave, ATTEST_MEASUREMENT_SIZE);
    memcpy(body + OFF_MRSIGNER, report->mrsigner, ATTEST_MEASUREMENT_SIZE);
    le16_write(body + OFF_ISVPRODID, report->isvprodid);
    le16_write(body + OFF_ISVSVN, report->isvsvn);
    le64_write(body + OFF_ATTRIBUTES, report->attributes);
    memcpy(body + OFF_REPORT_DATA, report->report_data, ATTEST_REPORT_DATA_SIZE);
    memcpy(body + OFF_KEY_ID, key_id, ATTEST_KEY_ID_SIZE);
}

int
attest_sim_report_sign(const struct attest_sim_report *report, EVP_PKEY *key, uint8_t **ret_data,
                       size_t *ret_size)
{
    _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = NULL;
    _cleanup_free_ uint8_t *data = NULL;
    uint8_t key_id[ATTEST_KEY_ID_SIZE];
    size_t sig_size = ATTEST_SIM_SIG_MAX;
    int r;

    if (!report || !ret_data || !ret_size || report->version != ATTEST_SIM_VERSION ||
        report->flags != 0 || !attest_key_is_p256(key))
        return -EINVAL;
    r = attest_key_id(key, key_id);
    if (r < 0)
        return r;
    data = malloc(ATTEST_SIM_SIZE_MAX);
    ctx = EVP_MD_CTX_new();
    if (!data || !ctx)
        return -ENOMEM;
    sim_body_write(report, key_id, data);
    ERR_set_mark();
    if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(ctx, data + OFF_SIG, &sig_size, data, ATTEST_SIM_BODY_SIZE) != 1) {
        ERR_pop_to_mark();
        return -EIO;
    }
    ERR_pop_to_mark();
    if (sig_size < ATTEST_SIM_SIG_MIN || sig_size > ATTEST_SIM_SIG_MAX)
        return -EIO;
    le16_write(data + OFF_SIG_SIZE, (uint16_t)sig_size);
    *ret_size = OFF_SIG + sig_size;
    *ret_data = TAKE_PTR(data);
    return 0;
}

static bool
all_zero(const uint8_t *p, size_t size)
{
    uint8_t acc = 0;

    for (size_t i = 0; i < size; i++)
        acc |= p[i];
    return acc == 0;
}

int
attest_sim_report_parse(const uint8_t *data, size_t size, struct attest_sim_report *ret_report,
                        enum attest_step *failed_step)
{
    struct attest_sim_report report = { 0 };
    size_t sig_size;

    attest_fail(failed_step, ATTEST_STEP_PARSE);
    if (!data || !ret_report)
        return -EINVAL;
    /* Magic and version first: the rest of the layout depends on the version. */
    if (size < OFF_FLAGS || memcmp(data + OFF_MAGIC, ATTEST_SIM_MAGIC, MAGIC_SIZE) != 0 ||
        data[OFF_RESERVED0] != 0)
        return -EBADMSG;
    report.version = le16_read(data + OFF_VERSION);
    if (report.version != ATTEST_SIM_VERSION) {
        attest_fail(failed_step, ATTEST_STEP_VERSION);
        return -EPROTONOSUPPORT;
    }
    if (size < OFF_SIG)
        return -EBADMSG;
    report.flags = le32_read(data + OFF_FLAGS);
    if (report.flags != 0 || !all_zero(data + OFF_RESERVED1, 4) ||
        !all_zero(data + OFF_RESERVED2, 4))
        return -EBADMSG;
    sig_size = le16_read(data + OFF_SIG_SIZE);
    if (sig_size < ATTEST_SIM_SIG_MIN || sig_size > ATTEST_SIM_SIG_MAX ||
        size != OFF_SIG + sig_size)
        return -EBADMSG;
    memcpy(report.mrenclave, data + OFF_MRENCLAVE, ATTEST_MEASUREMENT_SIZE);
    memcpy(report.mrsigner, data + OFF_MRSIGNER, ATTEST_MEASUREMENT_SIZE);
    report.isvprodid = le16_read(data + OFF_ISVPRODID);
    report.isvsvn = le16_read(data + OFF_ISVSVN);
    report.attributes = le64_read(data + OFF_ATTRIBUTES);
    memcpy(report.report_data, data + OFF_REPORT_DATA, ATTEST_REPORT_DATA_SIZE);
    memcpy(report.key_id, data + OFF_KEY_ID, ATTEST_KEY_ID_SIZE);
    *ret_report = report;
    attest_fail(failed_step, ATTEST_STEP_NONE);
    return 0;
}

int
attest_sim_verify(const uint8_t *data, size_t size, EVP_PKEY *node_key,
                  struct attest_claims *ret_claims, enum attest_step *failed_step)
{
    _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = NULL;
    struct attest_sim_report report;
    struct attest_claims claims = { 0 };
    uint8_t key_id[ATTEST_KEY_ID_SIZE];
    int r, ok;

    if (!ret_claims) {
        attest_fail(failed_step, ATTEST_STEP_PARSE);
        return -EINVAL;
    }
    r = attest_sim_report_parse(data, size, &report, failed_step);
    if (r < 0)
        return r;

    attest_fail(failed_step, ATTEST_STEP_TRUST);
    if (!attest_key_is_p256(node_key))
        return -EINVAL;
    r = attest_key_id(node_key, key_id);
    if (r < 0)
        return r;

    attest_fail(failed_step, ATTEST_STEP_KEY_ID);
    if (CRYPTO_memcmp(key_id, report.key_id, ATTEST_KEY_ID_SIZE) != 0)
        return -EKEYREJECTED;

    attest_fail(failed_step, ATTEST_STEP_SIGNATURE);
    ctx = EVP_MD_CTX_new();
    if (!ctx)
        return -ENOMEM;
    ERR_set_mark();
    ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, node_key) == 1 &&
         EVP_DigestVerify(ctx, data + OFF_SIG, size - OFF_SIG, data, ATTEST_SIM_BODY_SIZE) == 1;
    ERR_pop_to_mark();
    if (!ok)
        return -EBADMSG;

    claims.platform = ATTEST_PLATFORM_SIM;
    claims.tcb_status = ATTEST_TCB_SIMULATED_INSECURE;
    memcpy(claims.mrenclave, report.mrenclave, ATTEST_MEASUREMENT_SIZE);
    memcpy(claims.mrsigner, report.mrsigner, ATTEST_MEASUREMENT_SIZE);
    claims.isvprodid = report.isvprodid;
    claims.isvsvn = report.isvsvn;
    claims.attributes = report.attributes;
    claims.debug = (report.attributes & ATTEST_SIM_ATTR_DEBUG) != 0;
    memcpy(claims.report_data, report.report_data, ATTEST_REPORT_DATA_SIZE);
    memcpy(claims.key_id, report.key_id, ATTEST_KEY_ID_SIZE);
    *ret_claims = claims;
    attest_fail(failed_step, ATTEST_STEP_NONE);
    return 0;
}

int
attest_sim_verify_spki(const uint8_t *data, size_t size, const uint8_t *node_spki,
                       size_t node_spki_size, struct attest_claims *ret_claims,
                       enum attest_step *failed_step)
{
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
    const unsigned char *p = node_spki;

    if (node_spki && node_spki_size > 0 && node_spki_size <= 4096) {
        ERR_set_mark();
        key = d2i_PUBKEY(NULL, &p, (long)node_spki_size);
        ERR_pop_to_mark();
        if (key && p != node_spki + node_spki_size)
            EVP_PKEY_free(TAKE_PTR(key));
    }
    if (!key) {
        /* Still report a malformed report as such, before the trust anchor. */
        struct attest_sim_report report;
        int r = attest_sim_report_parse(data, size, &report, failed_step);

        if (r < 0)
            return r;
        attest_fail(failed_step, ATTEST_STEP_TRUST);
        return -EINVAL;
    }
    return attest_sim_verify(data, size, key, ret_claims, failed_step);
}
