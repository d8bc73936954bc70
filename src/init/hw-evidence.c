/* cloister-init's hardware evidence (hw-evidence.h). */
#include <errno.h>
#include <stdlib.h>

#include "attest-util.h"
#include "cleanup.h"
#include "hw-evidence.h"
#include "json-writer.h"
#include "log.h"

static const char *
platform_wire_name(enum attest_platform platform)
{
    switch (platform) {
    case ATTEST_PLATFORM_SGX_DCAP:
        return "sgx-dcap";
    case ATTEST_PLATFORM_TDX:
        return "tdx";
    case ATTEST_PLATFORM_SNP:
        return "snp";
    default:
        return NULL;
    }
}

int
hw_evidence_detect(struct hw_evidence_source *ret)
{
    struct attest_hw_error error = { "" };
    struct attest_hw_roots roots;
    const char *name;
    int r;

    ret->tsm_root = getenv("CLOISTER_TSM_ROOT");
    ret->gramine_root = getenv("CLOISTER_GRAMINE_ROOT");
    roots = (struct attest_hw_roots){ .tsm = ret->tsm_root, .gramine = ret->gramine_root };
    r = attest_hw_detect(&roots, &ret->info, &error);
    if (r < 0)
        return log_error_errno(r, "This machine has a TEE interface that cannot be used: %s",
                               error.reason[0] ? error.reason : "error");
    name = platform_wire_name(ret->info.platform);
    if (ret->info.producer == ATTEST_HW_NONE || !name)
        log_info("No TEE evidence producer here: the node agent's simulated quote is used");
    else
        log_info("Hardware evidence: %s through %s", name,
                 ret->info.producer == ATTEST_HW_TSM ? "configfs-tsm" : "Gramine /dev/attestation");
    return 0;
}

bool
hw_evidence_binds_manifest(const struct hw_evidence_source *source)
{
    return source->info.platform == ATTEST_PLATFORM_TDX ||
           source->info.platform == ATTEST_PLATFORM_SNP;
}

/* The raw evidence bytes from the producer. */
static int
produce(const struct hw_evidence_source *source, const uint8_t report_data[64], uint8_t **ret,
        size_t *ret_size)
{
    struct attest_hw_roots roots = { .tsm = source->tsm_root, .gramine = source->gramine_root };
    struct attest_hw_error error = { "" };
    int r = attest_hw_evidence(&roots, &source->info, report_data, ret, ret_size, &error);

    if (r < 0)
        return log_error_errno(r, "Cannot get hardware evidence: %s",
                               error.reason[0] ? error.reason : "error");
    return 0;
}

int
hw_evidence_make(const struct hw_evidence_source *source, const uint8_t report_data[64],
                 char **ret_json)
{
    _cleanup_free_ uint8_t *data = NULL;
    _cleanup_free_ char *base64 = NULL;
    _cleanup_(jwbuf_release) struct jwbuf json = { 0 };
    size_t size = 0;
    int r;

    r = produce(source, report_data, &data, &size);
    if (r < 0)
        return r;
    if (attest_base64_encode(data, size, &base64) < 0)
        return log_error_errno(-ENOMEM, "Out of memory");
    jwbuf_puts(&json, "{\"type\":");
    jwbuf_string(&json, platform_wire_name(source->info.platform));
    jwbuf_puts(&json, ",\"data\":");
    jwbuf_string(&json, base64);
    jwbuf_puts(&json, "}");
    if (json.error < 0)
        return log_error_errno(-ENOMEM, "Out of memory");
    *ret_json = TAKE_PTR(json.data);
    return 0;
}
