/* libattest: the AMD SEV-SNP attestation report (see snp-report.h). The offsets below are the
 * ATTESTATION_REPORT table of AMD's SEV-SNP firmware ABI specification and the one place the code
 * knows them. */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "attest-util.h"
#include "cleanup.h"
#include "snp-report.h"
#include "x509-util.h"

#define OFF_VERSION 0x000u
#define OFF_GUEST_SVN 0x004u
#define OFF_POLICY 0x008u
#define OFF_FAMILY_ID 0x010u
#define OFF_IMAGE_ID 0x020u
#define OFF_VMPL 0x030u
#define OFF_SIGNATURE_ALGO 0x034u
#define OFF_CURRENT_TCB 0x038u
#define OFF_PLATFORM_INFO 0x040u
#define OFF_SIGNER_INFO 0x048u
#define OFF_RESERVED0 0x04cu
#define OFF_REPORT_DATA 0x050u
#define OFF_MEASUREMENT 0x090u
#define OFF_HOST_DATA 0x0c0u
#define OFF_ID_KEY_DIGEST 0x0e0u
#define OFF_AUTHOR_KEY_DIGEST 0x110u
#define OFF_REPORT_ID 0x140u
#define OFF_REPORT_ID_MA 0x160u
#define OFF_REPORTED_TCB 0x180u
#define OFF_CPUID_FAM_ID 0x188u /* version 3 */
#define OFF_CPUID_MOD_ID 0x189u
#define OFF_CPUID_STEP 0x18au
#define OFF_RESERVED1_V3 0x18bu
#define OFF_CHIP_ID 0x1a0u
#define OFF_COMMITTED_TCB 0x1e0u
#define OFF_CURRENT_BUILD 0x1e8u /* build, minor, major, reserved */
#define OFF_COMMITTED_BUILD 0x1ecu
#define OFF_LAUNCH_TCB 0x1f0u
#define OFF_RESERVED3 0x1f8u
#define OFF_SIG_R SNP_SIGNED_SIZE
#define OFF_SIG_S (OFF_SIG_R + SNP_SIG_COMPONENT_SIZE)
#define OFF_SIG_RESERVED (OFF_SIG_S + SNP_SIG_COMPONENT_SIZE)

#define SIGNATURE_ALGO_ECDSA_P384_SHA384 1u
#define SIGNER_INFO_RESERVED 0xffffffe0u /* bits 31:5 */
#define P384_SIZE 48u

_Static_assert(OFF_SIG_RESERVED < ATTEST_SNP_REPORT_SIZE, "SNP signature layout");
_Static_assert(OFF_LAUNCH_TCB + 8 == OFF_RESERVED3, "SNP report layout");
_Static_assert(OFF_CHIP_ID + SNP_CHIP_ID_SIZE == OFF_COMMITTED_TCB, "SNP report layout");

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX, EVP_MD_CTX_free)

static bool
all_zero(const uint8_t *p, size_t size)
{
    uint8_t acc = 0;

    for (size_t i = 0; i < size; i++)
        acc |= p[i];
    return acc == 0;
}

/* The ranges the ABI reserves in the versions we read; firmware writes zeros there. */
static int
check_reserved(const uint8_t *data, uint32_t version, struct attest_failure *failure)
{
    static const struct {
        size_t from, to;
    } ranges[] = {
        { OFF_RESERVED0, OFF_REPORT_DATA },
        { OFF_RESERVED1_V3, OFF_CHIP_ID },
        { OFF_CURRENT_BUILD + 3, OFF_COMMITTED_BUILD },
        { OFF_COMMITTED_BUILD + 3, OFF_LAUNCH_TCB },
        { OFF_RESERVED3, SNP_SIGNED_SIZE },
        { OFF_SIG_RESERVED, ATTEST_SNP_REPORT_SIZE },
    };

    /* Version 2 has no CPUID bytes: they are reserved too. */
    if (version < 3 && !all_zero(data + OFF_CPUID_FAM_ID, OFF_RESERVED1_V3 - OFF_CPUID_FAM_ID))
        return attest_failure_set(failure, ATTEST_STEP_PARSE, -EBADMSG,
                                  "SNP report: reserved bytes at 0x%x are not zero",
                                  OFF_CPUID_FAM_ID);
    for (size_t i = 0; i < ELEMENTSOF(ranges); i++)
        if (!all_zero(data + ranges[i].from, ranges[i].to - ranges[i].from))
            return attest_failure_set(failure, ATTEST_STEP_PARSE, -EBADMSG,
                                      "SNP report: reserved bytes at 0x%zx are not zero",
                                      ranges[i].from);
    return 0;
}

static int
parse_signer_info(struct snp_report *report, struct attest_failure *failure)
{
    uint32_t key = (report->signer_info >> 2) & 7;

    if (report->signer_info & SIGNER_INFO_RESERVED)
        return attest_failure_set(failure, ATTEST_STEP_PARSE, -EBADMSG,
                                  "SNP report: reserved SIGNER_INFO bits set (0x%08x)",
                                  report->signer_info);
    if (key != SNP_SIGNING_KEY_VCEK && key != SNP_SIGNING_KEY_VLEK && key != SNP_SIGNING_KEY_NONE)
        return attest_failure_set(failure, ATTEST_STEP_PARSE, -EBADMSG,
                                  "SNP report: reserved SIGNING_KEY value %u", key);
    report->signing_key = (enum snp_signing_key)key;
    /* A masked CHIP_ID is reported as zeros; anything else would be a CHIP_ID after all. */
    if ((report->signer_info & SNP_SIGNER_MASK_CHIP_ID) &&
        !all_zero(report->claims.chip_id, SNP_CHIP_ID_SIZE))
        return attest_failure_set(failure, ATTEST_STEP_PARSE, -EBADMSG,
                                  "SNP report: MASK_CHIP_ID set but CHIP_ID is not zero");
    return 0;
}

static void
read_fields(const uint8_t *data, struct snp_report *report)
{
    struct attest_snp_claims *c = &report->claims;

    c->version = le32_read(data + OFF_VERSION);
    c->guest_svn = le32_read(data + OFF_GUEST_SVN);
    c->policy = le64_read(data + OFF_POLICY);
    memcpy(c->family_id, data + OFF_FAMILY_ID, sizeof(c->family_id));
    memcpy(c->image_id, data + OFF_IMAGE_ID, sizeof(c->image_id));
    c->vmpl = le32_read(data + OFF_VMPL);
    report->signature_algo = le32_read(data + OFF_SIGNATURE_ALGO);
    c->current_tcb = le64_read(data + OFF_CURRENT_TCB);
    c->platform_info = le64_read(data + OFF_PLATFORM_INFO);
    report->signer_info = le32_read(data + OFF_SIGNER_INFO);
    memcpy(report->report_data, data + OFF_REPORT_DATA, ATTEST_REPORT_DATA_SIZE);
    memcpy(c->measurement, data + OFF_MEASUREMENT, sizeof(c->measurement));
    memcpy(c->host_data, data + OFF_HOST_DATA, sizeof(c->host_data));
    memcpy(c->id_key_digest, data + OFF_ID_KEY_DIGEST, sizeof(c->id_key_digest));
    memcpy(c->author_key_digest, data + OFF_AUTHOR_KEY_DIGEST, sizeof(c->author_key_digest));
    memcpy(c->report_id, data + OFF_REPORT_ID, sizeof(c->report_id));
    memcpy(report->report_id_ma, data + OFF_REPORT_ID_MA, sizeof(report->report_id_ma));
    c->reported_tcb = le64_read(data + OFF_REPORTED_TCB);
    if (c->version >= 3) {
        report->has_cpuid = true;
        report->cpuid_family = data[OFF_CPUID_FAM_ID];
        report->cpuid_model = data[OFF_CPUID_MOD_ID];
        report->cpuid_stepping = data[OFF_CPUID_STEP];
    }
    memcpy(c->chip_id, data + OFF_CHIP_ID, SNP_CHIP_ID_SIZE);
    c->committed_tcb = le64_read(data + OFF_COMMITTED_TCB);
    report->current_build = data[OFF_CURRENT_BUILD];
    report->current_minor = data[OFF_CURRENT_BUILD + 1];
    report->current_major = data[OFF_CURRENT_BUILD + 2];
    report->committed_build = data[OFF_COMMITTED_BUILD];
    report->committed_minor = data[OFF_COMMITTED_BUILD + 1];
    report->committed_major = data[OFF_COMMITTED_BUILD + 2];
    c->launch_tcb = le64_read(data + OFF_LAUNCH_TCB);
    report->signed_bytes = data;
    memcpy(report->sig_r, data + OFF_SIG_R, SNP_SIG_COMPONENT_SIZE);
    memcpy(report->sig_s, data + OFF_SIG_S, SNP_SIG_COMPONENT_SIZE);
}

int
snp_report_parse(const uint8_t *data, size_t size, struct snp_report *ret,
                 struct attest_failure *failure)
{
    struct snp_report report = { 0 };
    uint32_t version;
    int r;

    if (!data || !ret)
        return attest_failure_set(failure, ATTEST_STEP_PARSE, -EINVAL, "SNP report: missing");
    if (size != ATTEST_SNP_REPORT_SIZE)
        return attest_failure_set(failure, ATTEST_STEP_PARSE, -EBADMSG,
                                  "SNP report: %zu bytes, expected %u", size,
                                  ATTEST_SNP_REPORT_SIZE);
    version = le32_read(data + OFF_VERSION);
    if (version != 2 && version != 3)
        return attest_failure_set(failure, ATTEST_STEP_VERSION, -EPROTONOSUPPORT,
                                  "SNP report: version %u not supported (2 or 3)", version);
    read_fields(data, &report);
    if (report.signature_algo != SIGNATURE_ALGO_ECDSA_P384_SHA384)
        return attest_failure_set(failure, ATTEST_STEP_PARSE, -EPROTONOSUPPORT,
                                  "SNP report: signature algorithm %u not supported",
                                  report.signature_algo);
    r = check_reserved(data, version, failure);
    if (r < 0)
        return r;
    r = parse_signer_info(&report, failure);
    if (r < 0)
        return r;
    *ret = report;
    return 0;
}

/* R and S are little-endian in 72-byte fields; P-384 uses the low 48 bytes, the rest must be
 * zero. As DER (x509_ecdsa_der), or 0 when out of range. */
static size_t
der_signature(const struct snp_report *report, uint8_t out[X509_ECDSA_DER_MAX])
{
    uint8_t r[P384_SIZE], s[P384_SIZE];

    if (!all_zero(report->sig_r + P384_SIZE, SNP_SIG_COMPONENT_SIZE - P384_SIZE) ||
        !all_zero(report->sig_s + P384_SIZE, SNP_SIG_COMPONENT_SIZE - P384_SIZE))
        return 0;
    for (size_t i = 0; i < P384_SIZE; i++) {
        r[i] = report->sig_r[P384_SIZE - 1 - i];
        s[i] = report->sig_s[P384_SIZE - 1 - i];
    }
    return x509_ecdsa_der(r, s, P384_SIZE, out);
}

int
snp_report_signature_verify(const struct snp_report *report, EVP_PKEY *key)
{
    _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = NULL;
    uint8_t der[X509_ECDSA_DER_MAX];
    size_t der_size;
    int ok;

    if (!report || !report->signed_bytes || !key)
        return -EINVAL;
    der_size = der_signature(report, der);
    if (der_size == 0)
        return -EBADMSG;
    ctx = EVP_MD_CTX_new();
    if (!ctx)
        return -ENOMEM;
    ERR_set_mark();
    ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha384(), NULL, key) == 1 &&
         EVP_DigestVerify(ctx, der, der_size, report->signed_bytes, SNP_SIGNED_SIZE) == 1;
    ERR_pop_to_mark();
    return ok ? 0 : -EBADMSG;
}

const char *
snp_product_name(enum snp_product product)
{
    switch (product) {
    case SNP_PRODUCT_MILAN:
        return "Milan";
    case SNP_PRODUCT_GENOA:
        return "Genoa";
    case SNP_PRODUCT_TURIN:
        return "Turin";
    default:
        return NULL;
    }
}

enum snp_product
snp_product_from_name(const char *name)
{
    static const enum snp_product products[] = { SNP_PRODUCT_MILAN, SNP_PRODUCT_GENOA,
                                                 SNP_PRODUCT_TURIN };
    size_t n;

    if (!name)
        return SNP_PRODUCT_UNKNOWN;
    n = strcspn(name, "-");
    for (size_t i = 0; i < ELEMENTSOF(products); i++) {
        const char *known = snp_product_name(products[i]);

        if (strlen(known) == n && memcmp(known, name, n) == 0)
            return products[i];
    }
    return SNP_PRODUCT_UNKNOWN;
}

enum snp_product
snp_product_from_cpuid(uint8_t family, uint8_t model)
{
    if (family == 0x19 && model <= 0x0f)
        return SNP_PRODUCT_MILAN;
    if (family == 0x19 && ((model >= 0x10 && model <= 0x1f) || (model >= 0xa0 && model <= 0xaf)))
        return SNP_PRODUCT_GENOA;
    if (family == 0x1a && model <= 0x1f)
        return SNP_PRODUCT_TURIN;
    return SNP_PRODUCT_UNKNOWN;
}

void
snp_tcb_decode(enum snp_product product, uint64_t tcb, struct snp_tcb *ret)
{
    uint8_t b[8];

    le64_write(b, tcb);
    memset(ret, 0, sizeof(*ret));
    ret->microcode = b[7];
    if (product == SNP_PRODUCT_TURIN) {
        ret->fmc = b[0];
        ret->bootloader = b[1];
        ret->tee = b[2];
        ret->snp = b[3];
        memcpy(ret->spl + 1, b + 4, 3);
        return;
    }
    ret->bootloader = b[0];
    ret->tee = b[1];
    memcpy(ret->spl, b + 2, 4);
    ret->snp = b[6];
}

uint64_t
snp_tcb_encode(enum snp_product product, const struct snp_tcb *tcb)
{
    uint8_t b[8] = { 0 };

    b[7] = tcb->microcode;
    if (product == SNP_PRODUCT_TURIN) {
        b[0] = tcb->fmc;
        b[1] = tcb->bootloader;
        b[2] = tcb->tee;
        b[3] = tcb->snp;
        memcpy(b + 4, tcb->spl + 1, 3);
    } else {
        b[0] = tcb->bootloader;
        b[1] = tcb->tee;
        memcpy(b + 2, tcb->spl, 4);
        b[6] = tcb->snp;
    }
    return le64_read(b);
}
