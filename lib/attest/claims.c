/* libattest: names of platforms, TCB statuses and steps; claims as JSON. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <attest/attest.h>

#include "attest-util.h"
#include "cleanup.h"

static const char *const platform_names[] = {
    [ATTEST_PLATFORM_SIM] = "sim",
    [ATTEST_PLATFORM_SGX_DCAP] = "sgx-dcap",
    [ATTEST_PLATFORM_TDX] = "tdx",
    [ATTEST_PLATFORM_SNP] = "snp",
};

static const char *const tcb_status_names[] = {
    [ATTEST_TCB_UP_TO_DATE] = "UpToDate",
    [ATTEST_TCB_SW_HARDENING_NEEDED] = "SWHardeningNeeded",
    [ATTEST_TCB_CONFIGURATION_NEEDED] = "ConfigurationNeeded",
    [ATTEST_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED] = "ConfigurationAndSWHardeningNeeded",
    [ATTEST_TCB_OUT_OF_DATE] = "OutOfDate",
    [ATTEST_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED] = "OutOfDateConfigurationNeeded",
    [ATTEST_TCB_REVOKED] = "Revoked",
    [ATTEST_TCB_SIMULATED_INSECURE] = "SimulatedInsecure",
};

static const char *const step_names[] = {
    [ATTEST_STEP_NONE] = "none",
    [ATTEST_STEP_ENVELOPE] = "envelope",
    [ATTEST_STEP_TYPE] = "type",
    [ATTEST_STEP_PARSE] = "parse",
    [ATTEST_STEP_VERSION] = "version",
    [ATTEST_STEP_TRUST] = "trust",
    [ATTEST_STEP_KEY_ID] = "key_id",
    [ATTEST_STEP_SIGNATURE] = "signature",
    [ATTEST_STEP_REPORT_DATA] = "report_data",
    [ATTEST_STEP_POLICY] = "policy",
    [ATTEST_STEP_COLLATERAL] = "collateral",
    [ATTEST_STEP_EXPIRED] = "expired",
    [ATTEST_STEP_CERT_CHAIN] = "cert_chain",
    [ATTEST_STEP_REVOCATION] = "revocation",
    [ATTEST_STEP_QE_REPORT] = "qe_report",
    [ATTEST_STEP_ATTESTATION_KEY] = "attestation_key",
    [ATTEST_STEP_QE_IDENTITY] = "qe_identity",
    [ATTEST_STEP_TCB] = "tcb",
};

const char *
attest_version(void)
{
    return ATTEST_LIBRARY_VERSION;
}

const char *
attest_platform_name(enum attest_platform platform)
{
    if ((unsigned)platform >= ELEMENTSOF(platform_names))
        return NULL;
    return platform_names[platform];
}

int
attest_platform_from_name(const char *name, enum attest_platform *ret_platform)
{
    if (!name)
        return -EINVAL;
    for (size_t i = 0; i < ELEMENTSOF(platform_names); i++)
        if (platform_names[i] && strcmp(platform_names[i], name) == 0) {
            *ret_platform = (enum attest_platform)i;
            return 0;
        }
    return -EPROTONOSUPPORT;
}

bool
attest_platform_binds_manifest(enum attest_platform platform)
{
    return platform == ATTEST_PLATFORM_TDX || platform == ATTEST_PLATFORM_SNP;
}

const char *
attest_tcb_status_name(enum attest_tcb_status status)
{
    if ((unsigned)status >= ELEMENTSOF(tcb_status_names))
        return NULL;
    return tcb_status_names[status];
}

int
attest_tcb_status_from_name(const char *name, enum attest_tcb_status *ret)
{
    if (!name)
        return -EINVAL;
    for (size_t i = 0; i < ELEMENTSOF(tcb_status_names); i++)
        if (tcb_status_names[i] && strcmp(tcb_status_names[i], name) == 0) {
            *ret = (enum attest_tcb_status)i;
            return 0;
        }
    return -EINVAL;
}

int
attest_claims_add_advisory(struct attest_claims *claims, const char *id)
{
    size_t length = id ? strlen(id) : 0;

    if (length == 0)
        return -EINVAL;
    if (length >= ATTEST_ADVISORY_ID_SIZE)
        return -E2BIG;
    for (unsigned i = 0; i < claims->advisory_count; i++)
        if (strcmp(claims->advisory_ids[i], id) == 0)
            return 0;
    if (claims->advisory_count >= ATTEST_ADVISORIES_MAX)
        return -E2BIG;
    memcpy(claims->advisory_ids[claims->advisory_count++], id, length + 1);
    return 0;
}

int
attest_failure_set(struct attest_failure *failure, enum attest_step step, int error,
                   const char *format, ...)
{
    va_list args;

    if (!failure)
        return error;
    failure->step = step;
    va_start(args, format);
    (void)vsnprintf(failure->reason, sizeof(failure->reason), format, args);
    va_end(args);
    return error;
}

const char *
attest_step_name(enum attest_step step)
{
    if ((unsigned)step >= ELEMENTSOF(step_names) || !step_names[step])
        return "unknown";
    return step_names[step];
}

static int
set_hex(json_t *object, const char *key, const uint8_t *data, size_t size)
{
    char hex[2 * ATTEST_REPORT_DATA_SIZE + 1];

    attest_hex_encode(data, size, hex);
    return json_object_set_new(object, key, json_string(hex)) == 0 ? 0 : -ENOMEM;
}

static int
set_u64_hex(json_t *object, const char *key, uint64_t value)
{
    char text[17];

    (void)snprintf(text, sizeof(text), "%016" PRIx64, value);
    return json_object_set_new(object, key, json_string(text)) == 0 ? 0 : -ENOMEM;
}

static int
set_int(json_t *object, const char *key, json_int_t value)
{
    return json_object_set_new(object, key, json_integer(value)) == 0 ? 0 : -ENOMEM;
}

/* sim and sgx-dcap: the SGX report's identity. */
static int
set_enclave(json_t *object, const struct attest_claims *claims)
{
    if (set_hex(object, "mrenclave", claims->mrenclave, sizeof(claims->mrenclave)) < 0 ||
        set_hex(object, "mrsigner", claims->mrsigner, sizeof(claims->mrsigner)) < 0 ||
        set_int(object, "isvprodid", claims->isvprodid) < 0 ||
        set_int(object, "isvsvn", claims->isvsvn) < 0 ||
        set_u64_hex(object, "attributes", claims->attributes) < 0)
        return -ENOMEM;
    return 0;
}

static int
set_td(json_t *object, const struct attest_tdx_claims *td)
{
    static const char *const rtmr_names[] = { "rtmr0", "rtmr1", "rtmr2", "rtmr3" };

    if (set_hex(object, "mrtd", td->mrtd, sizeof(td->mrtd)) < 0 ||
        set_hex(object, "mrconfigid", td->mrconfigid, sizeof(td->mrconfigid)) < 0 ||
        set_hex(object, "mrowner", td->mrowner, sizeof(td->mrowner)) < 0 ||
        set_hex(object, "mrownerconfig", td->mrownerconfig, sizeof(td->mrownerconfig)) < 0 ||
        set_hex(object, "mrseam", td->mrseam, sizeof(td->mrseam)) < 0 ||
        set_hex(object, "mrsignerseam", td->mrsignerseam, sizeof(td->mrsignerseam)) < 0 ||
        set_hex(object, "tee_tcb_svn", td->tee_tcb_svn, sizeof(td->tee_tcb_svn)) < 0 ||
        set_u64_hex(object, "td_attributes", td->td_attributes) < 0 ||
        set_u64_hex(object, "seam_attributes", td->seam_attributes) < 0 ||
        set_u64_hex(object, "xfam", td->xfam) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < ELEMENTSOF(rtmr_names); i++)
        if (set_hex(object, rtmr_names[i], td->rtmr[i], sizeof(td->rtmr[i])) < 0)
            return -ENOMEM;
    if (td->td15 &&
        (set_hex(object, "tee_tcb_svn2", td->tee_tcb_svn2, sizeof(td->tee_tcb_svn2)) < 0 ||
         set_hex(object, "mrservicetd", td->mrservicetd, sizeof(td->mrservicetd)) < 0))
        return -ENOMEM;
    return 0;
}

static int
set_snp(json_t *object, const struct attest_snp_claims *snp)
{
    if (set_int(object, "version", snp->version) < 0 ||
        set_int(object, "guest_svn", snp->guest_svn) < 0 ||
        set_u64_hex(object, "policy", snp->policy) < 0 || set_int(object, "vmpl", snp->vmpl) < 0 ||
        set_hex(object, "measurement", snp->measurement, sizeof(snp->measurement)) < 0 ||
        set_hex(object, "host_data", snp->host_data, sizeof(snp->host_data)) < 0 ||
        set_hex(object, "family_id", snp->family_id, sizeof(snp->family_id)) < 0 ||
        set_hex(object, "image_id", snp->image_id, sizeof(snp->image_id)) < 0 ||
        set_hex(object, "id_key_digest", snp->id_key_digest, sizeof(snp->id_key_digest)) < 0 ||
        set_hex(object, "author_key_digest", snp->author_key_digest,
                sizeof(snp->author_key_digest)) < 0 ||
        set_hex(object, "report_id", snp->report_id, sizeof(snp->report_id)) < 0 ||
        set_u64_hex(object, "current_tcb", snp->current_tcb) < 0 ||
        set_u64_hex(object, "reported_tcb", snp->reported_tcb) < 0 ||
        set_u64_hex(object, "committed_tcb", snp->committed_tcb) < 0 ||
        set_u64_hex(object, "launch_tcb", snp->launch_tcb) < 0 ||
        set_u64_hex(object, "platform_info", snp->platform_info) < 0 ||
        set_hex(object, "chip_id", snp->chip_id, sizeof(snp->chip_id)) < 0 ||
        json_object_set_new(object, "product", json_string(snp->product)) < 0 ||
        json_object_set_new(object, "vlek", json_boolean(snp->vlek)) < 0)
        return -ENOMEM;
    return 0;
}

static int
set_advisories(json_t *object, const struct attest_claims *claims)
{
    json_t *array = json_array();

    if (!array || json_object_set_new(object, "advisory_ids", array) < 0)
        return -ENOMEM;
    for (unsigned i = 0; i < claims->advisory_count && i < ATTEST_ADVISORIES_MAX; i++)
        if (json_array_append_new(array, json_string(claims->advisory_ids[i])) < 0)
            return -ENOMEM;
    return 0;
}

static int
set_platform_fields(json_t *object, const struct attest_claims *claims)
{
    switch (claims->platform) {
    case ATTEST_PLATFORM_TDX:
        return set_td(object, &claims->tdx);
    case ATTEST_PLATFORM_SNP:
        return set_snp(object, &claims->snp);
    case ATTEST_PLATFORM_SIM:
        if (set_hex(object, "key_id", claims->key_id, sizeof(claims->key_id)) < 0)
            return -ENOMEM;
        return set_enclave(object, claims);
    default:
        return set_enclave(object, claims);
    }
}

int
attest_claims_to_json(const struct attest_claims *claims, json_t **ret)
{
    _cleanup_(json_decrefp) json_t *object = NULL;
    const char *platform, *tcb;

    if (!claims || !ret)
        return -EINVAL;
    platform = attest_platform_name(claims->platform);
    tcb = attest_tcb_status_name(claims->tcb_status);
    if (!platform || !tcb)
        return -EINVAL;
    object = json_object();
    if (!object)
        return -ENOMEM;
    if (json_object_set_new(object, "platform", json_string(platform)) < 0 ||
        json_object_set_new(object, "tcb_status", json_string(tcb)) < 0 ||
        json_object_set_new(object, "insecure",
                            json_boolean(claims->tcb_status == ATTEST_TCB_SIMULATED_INSECURE)) <
            0 ||
        json_object_set_new(object, "debug", json_boolean(claims->debug)) < 0 ||
        set_hex(object, "report_data", claims->report_data, sizeof(claims->report_data)) < 0 ||
        set_platform_fields(object, claims) < 0 ||
        (claims->platform != ATTEST_PLATFORM_SIM && set_advisories(object, claims) < 0))
        return -ENOMEM;
    *ret = TAKE_PTR(object);
    return 0;
}
