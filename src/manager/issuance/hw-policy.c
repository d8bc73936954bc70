/* The attestation policy object (hw-policy.h): validation, defaults, merging, resolution. */
#include "hw-policy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "crypto-util.h"

#define ISVSVN_MAX 65535
#define VMPL_MAX 3

/* A hardware TCB status name: SimulatedInsecure is governed by allow_simulation instead. */
static const char *
check_tcb_status(const char *value)
{
    enum attest_tcb_status status;

    if (attest_tcb_status_from_name(value, &status) < 0 || status == ATTEST_TCB_SIMULATED_INSECURE)
        return "unknown TCB status (UpToDate, SWHardeningNeeded, ConfigurationNeeded, "
               "ConfigurationAndSWHardeningNeeded, OutOfDate, OutOfDateConfigurationNeeded, "
               "Revoked)";
    return NULL;
}

/* "INTEL-SA-00615": upper-case letters, digits and '-'. */
static const char *
check_advisory_id(const char *value)
{
    for (const char *p = value; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return "must be an advisory id such as INTEL-SA-00615";
    return NULL;
}

const struct field_spec attestation_policy_fields[] = {
    { .name = "accepted_tcb_statuses",
      .type = FIELD_STRING_ARRAY,
      .min = 1,
      .max = ATTEST_TCB_REVOKED,
      .item_max = 64,
      .check_string = check_tcb_status },
    { .name = "accepted_advisory_ids",
      .type = FIELD_STRING_ARRAY,
      .max = ATTEST_ADVISORIES_MAX,
      .item_max = ATTEST_ADVISORY_ID_SIZE - 1,
      .check_string = check_advisory_id },
    { .name = "allow_debug", .type = FIELD_BOOL },
    { .name = "min_isvsvn", .type = FIELD_INT, .min = 0, .max = ISVSVN_MAX },
    { .name = "allow_missing_crls", .type = FIELD_BOOL },
    { .name = "require_zero_mrservicetd", .type = FIELD_BOOL },
    { .name = "snp_max_vmpl", .type = FIELD_INT, .min = 0, .max = VMPL_MAX },
    { .name = "snp_allow_migration_agent", .type = FIELD_BOOL },
    { .name = "snp_forbid_smt", .type = FIELD_BOOL },
    { .name = NULL },
};

/* The default of one member (SPEC 6.1: UpToDate and SWHardeningNeeded, never debug). */
static json_t *
member_default(const char *name)
{
    if (strcmp(name, "accepted_tcb_statuses") == 0)
        return json_pack("[s, s]", attest_tcb_status_name(ATTEST_TCB_UP_TO_DATE),
                         attest_tcb_status_name(ATTEST_TCB_SW_HARDENING_NEEDED));
    if (strcmp(name, "accepted_advisory_ids") == 0 || strcmp(name, "snp_max_vmpl") == 0)
        return json_null();
    if (strcmp(name, "min_isvsvn") == 0)
        return json_integer(0);
    return json_false();
}

json_t *
hw_policy_defaults(void)
{
    json_t *policy = json_object();

    for (const struct field_spec *s = attestation_policy_fields; policy && s->name; s++)
        if (json_object_set_new(policy, s->name, member_default(s->name)) < 0) {
            json_decref(policy);
            return NULL;
        }
    return policy;
}

int
hw_policy_merge(json_t *base, const json_t *over)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)over, key, value) {
        json_t *copy = json_is_null(value) ? member_default(key) : json_deep_copy(value);
        if (!copy || json_object_set_new(base, key, copy) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int
resolve_statuses(const json_t *list, struct attest_policy *p)
{
    enum attest_tcb_status status;
    const json_t *item;
    size_t i;

    p->accepted_statuses = 0;
    json_array_foreach(list, i, item) {
        if (attest_tcb_status_from_name(json_string_value(item) ?: "", &status) < 0)
            return -EINVAL;
        p->accepted_statuses |= ATTEST_POLICY_STATUS(status);
    }
    return p->accepted_statuses ? 0 : -EINVAL;
}

static int
resolve_advisories(const json_t *list, struct hw_policy *ret)
{
    const json_t *item;
    size_t i;

    if (json_array_size(list) > ATTEST_ADVISORIES_MAX)
        return -EINVAL;
    json_array_foreach(list, i, item) {
        const char *id = json_string_value(item);
        if (!id || strlen(id) >= ATTEST_ADVISORY_ID_SIZE)
            return -EINVAL;
        snprintf(ret->advisory_ids[i], ATTEST_ADVISORY_ID_SIZE, "%s", id);
        ret->advisories[i] = ret->advisory_ids[i];
    }
    ret->advisories[json_array_size(list)] = NULL;
    ret->policy.accepted_advisories = ret->advisories;
    return 0;
}

static int
resolve(const json_t *policy, struct hw_policy *ret)
{
    const json_t *advisories = json_object_get(policy, "accepted_advisory_ids");
    const json_t *vmpl = json_object_get(policy, "snp_max_vmpl");
    struct attest_policy *p = &ret->policy;
    int err;

    err = resolve_statuses(json_object_get(policy, "accepted_tcb_statuses"), p);
    if (err >= 0 && json_is_array(advisories))
        err = resolve_advisories(advisories, ret);
    if (err < 0)
        return err;
    p->allow_debug = json_is_true(json_object_get(policy, "allow_debug"));
    p->min_isvsvn = (int32_t)json_integer_value(json_object_get(policy, "min_isvsvn"));
    p->require_zero_mrservicetd = json_is_true(json_object_get(policy, "require_zero_mrservicetd"));
    p->snp_restrict_vmpl = json_is_integer(vmpl);
    p->snp_max_vmpl = (uint32_t)json_integer_value(vmpl);
    p->snp_allow_migration_agent =
        json_is_true(json_object_get(policy, "snp_allow_migration_agent"));
    p->snp_forbid_smt = json_is_true(json_object_get(policy, "snp_forbid_smt"));
    ret->allow_missing_crls = json_is_true(json_object_get(policy, "allow_missing_crls"));
    return 0;
}

int
hw_policy_resolve(const json_t *account_policy, const json_t *app_policy, struct hw_policy *ret)
{
    json_t *policy = hw_policy_defaults();
    int err = policy ? 0 : -ENOMEM;

    *ret = (struct hw_policy){ 0 };
    if (err >= 0 && json_is_object(account_policy))
        err = hw_policy_merge(policy, account_policy);
    if (err >= 0 && json_is_object(app_policy))
        err = hw_policy_merge(policy, app_policy);
    if (err >= 0)
        err = resolve(policy, ret);
    json_decref(policy);
    return err;
}

/* The claim a build's identity member names, or NULL for a name it does not know. */
static const uint8_t *
identity_claim(const struct attest_claims *c, const char *name, size_t *ret_size)
{
    static const char *const rtmrs[] = { "rtmr0", "rtmr1", "rtmr2", "rtmr3" };

    *ret_size = ATTEST_TDX_MEASUREMENT_SIZE;
    if (c->platform == ATTEST_PLATFORM_TDX) {
        if (strcmp(name, "mrtd") == 0)
            return c->tdx.mrtd;
        if (strcmp(name, "mrconfigid") == 0)
            return c->tdx.mrconfigid;
        for (size_t i = 0; i < ELEMENTSOF(rtmrs); i++)
            if (strcmp(name, rtmrs[i]) == 0)
                return c->tdx.rtmr[i];
    } else if (c->platform == ATTEST_PLATFORM_SNP) {
        if (strcmp(name, "measurement") == 0)
            return c->snp.measurement;
        *ret_size = sizeof(c->snp.host_data);
        if (strcmp(name, "host_data") == 0)
            return c->snp.host_data;
    }
    return NULL;
}

int
hw_build_identity_check(const json_t *build, const struct attest_claims *claims, char *member,
                        size_t member_size)
{
    const char *platform = json_string_value(json_object_get(build, "platform")) ?: "";
    const char *evidence = attest_platform_name(claims->platform);
    const json_t *identity = json_object_get(build, platform);
    const char *key;
    json_t *value;

    if (!evidence || strcmp(platform, evidence) != 0 || !json_is_object(identity))
        return 0;
    json_object_foreach((json_t *)identity, key, value) {
        uint8_t want[ATTEST_TDX_MEASUREMENT_SIZE];
        size_t size;
        const uint8_t *got = identity_claim(claims, key, &size);
        if (!got || hex_decode(json_string_value(value) ?: "", want, size) < 0 ||
            memcmp(want, got, size) != 0) {
            snprintf(member, member_size, "%s.%s", platform, key);
            return -EPERM;
        }
    }
    return 0;
}
