/* libattest: the evidence envelope {"type", "data"} and verification by type. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <attest/attest.h>
#include <attest/tsm.h>

#include "attest-util.h"
#include "cleanup.h"

struct attest_evidence *
attest_evidence_free(struct attest_evidence *evidence)
{
    if (evidence) {
        free(evidence->data);
        free(evidence);
    }
    return NULL;
}

static int
evidence_new_owned(enum attest_platform type, uint8_t *data, size_t size,
                   struct attest_evidence **ret)
{
    struct attest_evidence *evidence = calloc(1, sizeof(*evidence));

    if (!evidence)
        return -ENOMEM;
    evidence->type = type;
    evidence->data = data;
    evidence->size = size;
    *ret = evidence;
    return 0;
}

int
attest_evidence_new(enum attest_platform type, const uint8_t *data, size_t size,
                    struct attest_evidence **ret)
{
    _cleanup_free_ uint8_t *copy = NULL;
    int r;

    if (!attest_platform_name(type) || !data || size == 0 || size > ATTEST_EVIDENCE_DATA_MAX ||
        !ret)
        return -EINVAL;
    copy = malloc(size);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, data, size);
    r = evidence_new_owned(type, copy, size, ret);
    if (r < 0)
        return r;
    TAKE_PTR(copy);
    return 0;
}

int
attest_tsm_report_to_evidence(const struct attest_tsm_report *report, struct attest_evidence **ret)
{
    if (!report || !ret)
        return -EINVAL;
    return attest_evidence_new(report->platform, report->outblob, report->outblob_size, ret);
}

int
attest_evidence_from_json(const json_t *object, struct attest_evidence **ret,
                          enum attest_step *failed_step)
{
    _cleanup_free_ uint8_t *data = NULL;
    enum attest_platform type;
    const json_t *jtype, *jdata;
    const char *key;
    json_t *value;
    size_t size = 0;
    int r;

    attest_fail(failed_step, ATTEST_STEP_ENVELOPE);
    if (!json_is_object(object) || !ret)
        return -EINVAL;
    /* Exactly {type, data}: a member this version does not know is refused, not ignored. */
    json_object_foreach((json_t *)object, key, value)
        if (strcmp(key, "type") != 0 && strcmp(key, "data") != 0)
            return -EINVAL;
    jtype = json_object_get(object, "type");
    jdata = json_object_get(object, "data");
    if (!json_is_string(jtype) || !json_is_string(jdata))
        return -EINVAL;
    /* The type first, so that an unknown type is named as such whatever the data. */
    if (json_string_length(jtype) > ATTEST_EVIDENCE_TYPE_MAX ||
        strlen(json_string_value(jtype)) != json_string_length(jtype) ||
        attest_platform_from_name(json_string_value(jtype), &type) < 0) {
        attest_fail(failed_step, ATTEST_STEP_TYPE);
        return -EPROTONOSUPPORT;
    }
    if (json_string_length(jdata) > (ATTEST_EVIDENCE_DATA_MAX + 2) / 3 * 4)
        return -E2BIG;
    r = attest_base64_decode(json_string_value(jdata), json_string_length(jdata),
                             ATTEST_EVIDENCE_DATA_MAX, &data, &size);
    if (r < 0)
        return r;
    if (size == 0)
        return -EINVAL;
    r = evidence_new_owned(type, data, size, ret);
    if (r < 0)
        return r;
    TAKE_PTR(data);
    attest_fail(failed_step, ATTEST_STEP_NONE);
    return 0;
}

int
attest_evidence_parse(const char *text, size_t size, struct attest_evidence **ret,
                      enum attest_step *failed_step)
{
    _cleanup_(json_decrefp) json_t *object = NULL;

    attest_fail(failed_step, ATTEST_STEP_ENVELOPE);
    if (!text || !ret)
        return -EINVAL;
    if (size > ATTEST_EVIDENCE_JSON_MAX)
        return -E2BIG;
    object = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);
    if (!object)
        return -EINVAL;
    return attest_evidence_from_json(object, ret, failed_step);
}

int
attest_evidence_to_json(const struct attest_evidence *evidence, json_t **ret)
{
    _cleanup_(json_decrefp) json_t *object = NULL;
    _cleanup_free_ char *text = NULL;
    const char *type;
    int r;

    if (!evidence || !ret || !evidence->data || evidence->size == 0 ||
        evidence->size > ATTEST_EVIDENCE_DATA_MAX)
        return -EINVAL;
    type = attest_platform_name(evidence->type);
    if (!type)
        return -EINVAL;
    r = attest_base64_encode(evidence->data, evidence->size, &text);
    if (r < 0)
        return r;
    object = json_object();
    if (!object || json_object_set_new(object, "type", json_string(type)) < 0 ||
        json_object_set_new(object, "data", json_string(text)) < 0)
        return -ENOMEM;
    *ret = TAKE_PTR(object);
    return 0;
}

int
attest_evidence_format(const struct attest_evidence *evidence, char **ret_text)
{
    _cleanup_(json_decrefp) json_t *object = NULL;
    char *text;
    int r;

    if (!ret_text)
        return -EINVAL;
    r = attest_evidence_to_json(evidence, &object);
    if (r < 0)
        return r;
    text = json_dumps(object, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        return -ENOMEM;
    *ret_text = text;
    return 0;
}

int
attest_evidence_verify(const struct attest_evidence *evidence, const struct attest_trust *trust,
                       struct attest_claims *ret_claims, enum attest_step *failed_step)
{
    attest_fail(failed_step, ATTEST_STEP_TYPE);
    if (!evidence || !trust || !ret_claims)
        return -EINVAL;
    switch (evidence->type) {
    case ATTEST_PLATFORM_SIM:
        return attest_sim_verify(evidence->data, evidence->size, trust->sim_key, ret_claims,
                                 failed_step);
    case ATTEST_PLATFORM_SGX_DCAP:
    case ATTEST_PLATFORM_TDX:
    case ATTEST_PLATFORM_SNP:
        return -EOPNOTSUPP;
    }
    return -EINVAL;
}
