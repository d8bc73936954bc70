/* cloister attest verify for hardware evidence (attest-hw.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include <attest/collateral.h>
#include <attest/evidence.h>
#include <attest/intel.h>
#include <attest/snp.h>

#include "attest-hw.h"
#include "cleanup.h"
#include "jval.h"
#include "output.h"

/* Evidence files: a quote or report, raw or in JSON (envelope, configfs-tsm report). */
#define HW_EVIDENCE_FILE_MAX (1u << 20)

/* The evidence of one file, whatever its shape. */
struct hw_evidence {
    enum attest_platform type;
    uint8_t *data;
    size_t size;
    uint8_t *auxblob; /* configfs-tsm reports of SNP: the certificate table, or NULL */
    size_t auxblob_size;
};

/* The outcome, printed as text or JSON. */
struct hw_outcome {
    enum attest_platform type;
    bool verified;
    struct attest_failure failure;
    struct attest_claims claims;
    const struct attest_intel_result *intel; /* Intel evidence that got as far as a result */
};

static void
attest_collateral_freep(struct attest_collateral **collateral)
{
    attest_collateral_free(*collateral);
}

static void
hw_evidence_clear(struct hw_evidence *e)
{
    free(e->data);
    free(e->auxblob);
}

static int
read_file(const char *path, uint8_t **ret, size_t *ret_size)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    _cleanup_free_ uint8_t *data = malloc(HW_EVIDENCE_FILE_MAX + 1);
    size_t n;

    if (!data)
        return cli_oom();
    if (!f) {
        cli_error("cannot open %s: %m", path);
        return -errno;
    }
    n = fread(data, 1, HW_EVIDENCE_FILE_MAX + 1, f);
    if (ferror(f)) {
        cli_error("cannot read %s", path);
        return -EIO;
    }
    if (n > HW_EVIDENCE_FILE_MAX) {
        cli_error("%s: larger than %u bytes: not evidence", path, HW_EVIDENCE_FILE_MAX);
        return -EFBIG;
    }
    *ret = TAKE_PTR(data);
    *ret_size = n;
    return 0;
}

/* base64url without padding (configfs-tsm JSON, as Veraison writes it); also accepts
 * standard base64 and padding. */
static int
base64url_decode(const char *text, uint8_t **ret, size_t *ret_size)
{
    size_t length = strlen(text), padded = (length + 3) / 4 * 4;
    _cleanup_free_ char *std = malloc(padded + 1);
    _cleanup_free_ uint8_t *out = malloc(padded / 4 * 3 + 1);
    int n;

    if (!std || !out)
        return -ENOMEM;
    for (size_t i = 0; i < padded; i++) {
        char c = i < length ? text[i] : '=';
        std[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    std[padded] = '\0';
    n = EVP_DecodeBlock(out, (const unsigned char *)std, (int)padded);
    if (n < 0)
        return -EBADMSG;
    /* EVP_DecodeBlock counts padding bytes as zero output bytes; drop them. */
    for (size_t i = padded; i > 0 && std[i - 1] == '='; i--)
        n--;
    *ret = TAKE_PTR(out);
    *ret_size = (size_t)n;
    return 0;
}

/* {"provider": "sev_guest\n" | "tdx_guest\n", "outblob": …, "auxblob": …} */
static int
read_tsm_json(const char *path, json_t *root, struct hw_evidence *ret)
{
    const char *provider = json_string_value(json_object_get(root, "provider"));
    const char *outblob = json_string_value(json_object_get(root, "outblob"));
    const char *auxblob = json_string_value(json_object_get(root, "auxblob"));

    if (!provider || !outblob) {
        cli_error("%s: a configfs-tsm report needs string members provider and outblob", path);
        return -EBADMSG;
    }
    if (strncmp(provider, "sev_guest", 9) == 0)
        ret->type = ATTEST_PLATFORM_SNP;
    else if (strncmp(provider, "tdx_guest", 9) == 0)
        ret->type = ATTEST_PLATFORM_TDX;
    else {
        cli_error("%s: provider: unknown configfs-tsm provider", path);
        return -EBADMSG;
    }
    if (base64url_decode(outblob, &ret->data, &ret->size) < 0 ||
        (auxblob && base64url_decode(auxblob, &ret->auxblob, &ret->auxblob_size) < 0)) {
        cli_error("%s: outblob/auxblob: not base64url", path);
        return -EBADMSG;
    }
    return 0;
}

static int
read_json_evidence(const char *path, const uint8_t *text, size_t size, struct hw_evidence *ret)
{
    _cleanup_json_ json_t *root = json_loadb((const char *)text, size, 0, NULL);
    struct attest_evidence *evidence = NULL;
    enum attest_step step;

    if (!json_is_object(root)) {
        cli_error("%s: not a JSON object", path);
        return -EBADMSG;
    }
    if (json_object_get(root, "outblob"))
        return read_tsm_json(path, root, ret);
    if (attest_evidence_from_json(root, &evidence, &step) < 0) {
        cli_error("%s: not an evidence envelope {\"type\", \"data\"} (step '%s')", path,
                  attest_step_name(step));
        return -EBADMSG;
    }
    ret->type = evidence->type;
    ret->data = TAKE_PTR(evidence->data);
    ret->size = evidence->size;
    attest_evidence_free(evidence);
    return 0;
}

/* Raw bytes: an Intel quote starts with version 3, 4 or 5 then attestation key type 2; an SNP
 * report is exactly 1184 bytes starting with version 2 or 3 (a 32-bit field, so its bytes 2–3
 * are zero where a quote has its key type). */
static int
classify_raw(const char *path, const uint8_t *data, size_t size, enum attest_platform *ret)
{
    if (size >= 8 && data[0] >= 3 && data[0] <= 5 && data[1] == 0 && data[2] == 2 && data[3] == 0) {
        *ret = data[4] == 0x81 ? ATTEST_PLATFORM_TDX : ATTEST_PLATFORM_SGX_DCAP;
        return 0;
    }
    if (size == ATTEST_SNP_REPORT_SIZE && (data[0] == 2 || data[0] == 3) && data[1] == 0 &&
        data[2] == 0 && data[3] == 0) {
        *ret = ATTEST_PLATFORM_SNP;
        return 0;
    }
    cli_error("%s: neither an Intel DCAP quote, an SEV-SNP report, nor JSON evidence", path);
    return -EBADMSG;
}

static int
read_evidence(const char *path, struct hw_evidence *ret)
{
    _cleanup_free_ uint8_t *data = NULL;
    size_t size = 0;
    int r = read_file(path, &data, &size);

    if (r < 0)
        return r;
    if (size > 0 && data[0] == '{')
        return read_json_evidence(path, data, size, ret);
    r = classify_raw(path, data, size, &ret->type);
    if (r < 0)
        return r;
    ret->data = TAKE_PTR(data);
    ret->size = size;
    return 0;
}

static int
load_collateral(const char *path, struct attest_collateral **ret, struct hw_outcome *out)
{
    int r = attest_collateral_load(path, ret, &out->failure);

    if (r < 0)
        cli_error("--collateral: %s: %s", path, out->failure.reason);
    return r;
}

/* The Intel items the quote needs: a folder or document may hold several candidates (a PCCS
 * bundle with many FMSPCs, SGX and TDX TCB infos, both PCK CRLs). */
static int
select_intel(const struct attest_collateral *loaded, const struct hw_evidence *e,
             struct attest_intel_collateral_files *ret, struct hw_outcome *out)
{
    struct attest_intel_quote_needs needs;
    int r = attest_intel_quote_needs(e->data, e->size, &needs, &out->failure);

    if (r < 0)
        return r;
    return attest_collateral_intel_select(
        loaded,
        &(struct attest_collateral_key){
            .tdx = needs.tdx,
            .fmspc = needs.fmspc,
            .pck_ca = needs.processor_ca ? ATTEST_PCK_CA_PROCESSOR : ATTEST_PCK_CA_PLATFORM,
        },
        ret, &out->failure);
}

static int
verify_intel(const struct hw_evidence *e, const struct attest_hw_opts *opts,
             struct attest_intel_result *result, struct hw_outcome *out)
{
    _cleanup_(attest_collateral_freep) struct attest_collateral *loaded = NULL;
    struct attest_intel_collateral *collateral = NULL;
    struct attest_intel_options options = { .at = opts->at,
                                            .crls_missing_ok = opts->allow_missing_crls };
    struct attest_intel_collateral_files files;
    int r;

    if (!opts->collateral) {
        cli_error("--collateral is required for Intel quotes");
        return -EINVAL;
    }
    r = load_collateral(opts->collateral, &loaded, out);
    if (r >= 0)
        r = select_intel(loaded, e, &files, out);
    if (r >= 0)
        r = attest_intel_collateral_new(&files, &collateral, &out->failure);
    if (r >= 0)
        r = attest_intel_verify(e->data, e->size, collateral, &options, result, &out->failure);
    attest_intel_collateral_free(collateral);
    if (r >= 0) {
        out->claims = result->claims;
        out->intel = result;
    }
    return r;
}

static int
snp_files(const struct hw_evidence *e, const struct attest_hw_opts *opts,
          struct attest_collateral **loaded, struct attest_snp_cert_files *ret,
          struct hw_outcome *out)
{
    const struct attest_snp_cert_files *files;
    int r;

    if (!opts->collateral) {
        if (!e->auxblob) {
            cli_error("--collateral is required: the report carries no certificates");
            return -EINVAL;
        }
        return attest_snp_cert_table_parse(e->auxblob, e->auxblob_size, ret, &out->failure);
    }
    r = load_collateral(opts->collateral, loaded, out);
    if (r < 0)
        return r;
    files = attest_collateral_snp(*loaded);
    if (!files)
        return attest_failure_set(&out->failure, ATTEST_STEP_COLLATERAL, -ENOENT,
                                  "collateral missing: no AMD certificates in %s",
                                  opts->collateral);
    *ret = *files;
    return 0;
}

static int
verify_snp(const struct hw_evidence *e, const struct attest_hw_opts *opts, struct hw_outcome *out)
{
    _cleanup_(attest_collateral_freep) struct attest_collateral *loaded = NULL;
    struct attest_snp_cert_files files = { 0 };
    struct attest_snp_certs *certs = NULL;
    struct attest_snp_options options = { .at = opts->at };
    struct attest_snp_result result;
    int r;

    r = snp_files(e, opts, &loaded, &files, out);
    if (r >= 0)
        r = attest_snp_certs_new(&files, &certs, &out->failure);
    if (r >= 0)
        r = attest_snp_verify(e->data, e->size, certs, &options, &result, &out->failure);
    attest_snp_certs_free(certs);
    if (r >= 0)
        out->claims = result.claims;
    return r;
}

static json_t *
status_or_null(enum attest_tcb_status status)
{
    const char *name = attest_tcb_status_name(status);

    return name ? json_string(name) : json_null();
}

static int
outcome_json(const struct hw_outcome *out, json_t **ret)
{
    _cleanup_json_ json_t *o = json_object(), *claims = NULL;
    const struct attest_intel_result *intel = out->intel;

    if (!o || json_object_set_new(o, "verified", json_boolean(out->verified)) < 0 ||
        json_object_set_new(o, "platform", json_string(attest_platform_name(out->type))) < 0 ||
        json_object_set_new(o, "failed_step", json_string(attest_step_name(out->failure.step))) <
            0 ||
        json_object_set_new(o, "reason", json_string(out->failure.reason)) < 0)
        return -ENOMEM;
    if (out->claims.platform) {
        if (attest_claims_to_json(&out->claims, &claims) < 0 ||
            json_object_set(o, "tcb_status", json_object_get(claims, "tcb_status")) < 0 ||
            json_object_set(o, "advisory_ids", json_object_get(claims, "advisory_ids")) < 0 ||
            json_object_set(o, "claims", claims) < 0)
            return -ENOMEM;
    }
    if (intel &&
        (json_object_set_new(o, "qe_status", status_or_null(intel->qe_status)) < 0 ||
         json_object_set_new(o, "platform_status", status_or_null(intel->platform_status)) < 0 ||
         json_object_set_new(o, "tdx_module_status", status_or_null(intel->tdx_module_status)) <
             0 ||
         json_object_set_new(o, "crls_checked", json_boolean(intel->crls_checked)) < 0 ||
         json_object_set_new(o, "trailing_bytes", json_integer((json_int_t)intel->trailing_bytes)) <
             0 ||
         json_object_set_new(o, "quote_version", json_integer(intel->version)) < 0 ||
         json_object_set_new(o, "valid_until", json_integer(intel->valid_until)) < 0))
        return -ENOMEM;
    *ret = TAKE_PTR(o);
    return 0;
}

static void
print_outcome(const json_t *o)
{
    json_t *claims = json_object_get(o, "claims"), *value;
    const char *key;

    json_object_foreach((json_t *)o, key, value) {
        _cleanup_free_ char *text = NULL;

        if (value == claims || strcmp(key, "reason") == 0 || strcmp(key, "failed_step") == 0)
            continue;
        text = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
        output_line("%-18s %s", key, json_is_string(value) ? json_string_value(value) : text);
    }
    json_object_foreach(claims, key, value) {
        _cleanup_free_ char *text = NULL;

        if (strcmp(key, "tcb_status") == 0 || strcmp(key, "advisory_ids") == 0 ||
            strcmp(key, "platform") == 0)
            continue;
        text = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
        output_line("%-18s %s", key, json_is_string(value) ? json_string_value(value) : text);
    }
}

static int
run_verification(const struct hw_evidence *e, const struct attest_hw_opts *opts,
                 struct attest_intel_result *intel, struct hw_outcome *out)
{
    int r;

    out->type = e->type;
    if (e->type == ATTEST_PLATFORM_SNP)
        r = verify_snp(e, opts, out);
    else if (e->type == ATTEST_PLATFORM_SGX_DCAP || e->type == ATTEST_PLATFORM_TDX)
        r = verify_intel(e, opts, intel, out);
    else {
        cli_error("\"%s\" evidence is verified with --key, not --collateral",
                  attest_platform_name(e->type));
        return -EINVAL;
    }
    if (r >= 0)
        r = attest_policy_check(&out->claims, &opts->policy, &out->failure);
    out->verified = r >= 0;
    return r;
}

int
attest_hw_verify(struct cli *cli, const char *path, const struct attest_hw_opts *opts)
{
    struct hw_evidence evidence = { 0 };
    struct attest_intel_result intel;
    struct hw_outcome out = { 0 };
    _cleanup_json_ json_t *o = NULL;
    int r = read_evidence(path, &evidence);

    if (r >= 0)
        r = run_verification(&evidence, opts, &intel, &out);
    hw_evidence_clear(&evidence);
    if (r == -EINVAL || (r < 0 && out.type == 0))
        return r;
    if (outcome_json(&out, &o) < 0)
        return cli_oom();
    if (cli->json)
        output_json(o);
    else if (!cli->quiet)
        print_outcome(o);
    if (r < 0) {
        cli_error("%s: verification failed at step '%s': %s", path,
                  attest_step_name(out.failure.step), out.failure.reason);
        return r == -EINVAL ? -EBADMSG : r;
    }
    return 0;
}
