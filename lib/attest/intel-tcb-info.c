/* libattest: Intel's TCB info and QE identity collateral (intel-tcb.h). The signed value is found
 * by the body's fixed framing, without looking inside it, so that the signature is checked over
 * exactly the bytes PCS signed before anything in them is believed; then the value is parsed
 * strictly with jansson. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "attest-util.h"
#include "cleanup.h"
#include "intel-tcb.h"
#include "x509-util.h"

#define SIGNATURE_HEX_SIZE 128u /* raw r ‖ s of P-256 */
#define PATH_SIZE 96u
#define WHAT_SIZE 128u
#define YEAR_MIN 1970
#define YEAR_MAX 9999

DEFINE_TRIVIAL_CLEANUP_FUNC(struct intel_tcb_info, intel_tcb_info_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct intel_qe_identity, intel_qe_identity_free);

/* Which collateral item is being parsed, for the failure's reason. */
struct parse_ctx {
    const char *item; /* "tcb_info", "qe_identity" */
    unsigned version; /* of the TCB info, once known */
    bool tdx;         /* TCB info id "TDX" */
    struct attest_failure *failure;
};

/* The statuses each kind of level may carry, as bit masks of enum attest_tcb_status. */
#define STATUS_BIT(s) (1u << (s))
#define TCB_INFO_STATUSES                                                                          \
    (STATUS_BIT(ATTEST_TCB_UP_TO_DATE) | STATUS_BIT(ATTEST_TCB_SW_HARDENING_NEEDED) |              \
     STATUS_BIT(ATTEST_TCB_CONFIGURATION_NEEDED) |                                                 \
     STATUS_BIT(ATTEST_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED) |                                \
     STATUS_BIT(ATTEST_TCB_OUT_OF_DATE) |                                                          \
     STATUS_BIT(ATTEST_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED) | STATUS_BIT(ATTEST_TCB_REVOKED))
/* EnclaveIdentityV2's parseStringToTcbStatus knows only these five. */
#define QE_STATUSES                                                                                \
    (STATUS_BIT(ATTEST_TCB_UP_TO_DATE) | STATUS_BIT(ATTEST_TCB_CONFIGURATION_NEEDED) |             \
     STATUS_BIT(ATTEST_TCB_OUT_OF_DATE) |                                                          \
     STATUS_BIT(ATTEST_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED) | STATUS_BIT(ATTEST_TCB_REVOKED))

static int refuse(const struct parse_ctx *ctx, const char *path, const char *name,
                  const char *format, ...) __attribute__((format(printf, 4, 5)));

/* -EBADMSG naming the member: "tcb_info: tcbInfo.tcbLevels[2].pcesvn is missing". */
static int
refuse(const struct parse_ctx *ctx, const char *path, const char *name, const char *format, ...)
{
    char what[WHAT_SIZE];
    va_list args;

    va_start(args, format);
    vsnprintf(what, sizeof(what), format, args);
    va_end(args);
    return attest_failure_set(ctx->failure, ATTEST_STEP_COLLATERAL, -EBADMSG, "%s: %s%s%s %s",
                              ctx->item, path, *name ? "." : "", name, what);
}

/* Formats a member path; one that does not fit is cut (it only names things in reasons). */
static void path_format(char out[PATH_SIZE], const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void
path_format(char out[PATH_SIZE], const char *format, ...)
{
    va_list args;

    va_start(args, format);
    vsnprintf(out, PATH_SIZE, format, args);
    va_end(args);
}

/* ---- The body's framing: {"<key>":<value>,"signature":"<hex>"} or the two swapped. ---- */

struct cursor {
    const char *p, *end;
};

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Skips whitespace, then takes literal at the front. */
static bool
take_front(struct cursor *c, const char *literal)
{
    size_t n = strlen(literal);

    while (c->p < c->end && is_space(*c->p))
        c->p++;
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, literal, n) != 0)
        return false;
    c->p += n;
    return true;
}

/* Skips whitespace at the back, then takes literal there. */
static bool
take_back(struct cursor *c, const char *literal)
{
    size_t n = strlen(literal);

    while (c->end > c->p && is_space(c->end[-1]))
        c->end--;
    if ((size_t)(c->end - c->p) < n || memcmp(c->end - n, literal, n) != 0)
        return false;
    c->end -= n;
    return true;
}

static void
trim(struct cursor *c)
{
    while (c->p < c->end && is_space(*c->p))
        c->p++;
    while (c->end > c->p && is_space(c->end[-1]))
        c->end--;
}

/* "<128 hex>" at the front of c. */
static bool
take_signature_front(struct cursor *c, uint8_t signature[64])
{
    if (!take_front(c, "\"") || (size_t)(c->end - c->p) < SIGNATURE_HEX_SIZE + 1 ||
        c->p[SIGNATURE_HEX_SIZE] != '"' ||
        !attest_hex_decode(c->p, SIGNATURE_HEX_SIZE, signature, 64))
        return false;
    c->p += SIGNATURE_HEX_SIZE + 1;
    return true;
}

/* "<128 hex>" at the back of c. */
static bool
take_signature_back(struct cursor *c, uint8_t signature[64])
{
    if (!take_back(c, "\"") || (size_t)(c->end - c->p) < SIGNATURE_HEX_SIZE + 1 ||
        c->end[-(ptrdiff_t)SIGNATURE_HEX_SIZE - 1] != '"' ||
        !attest_hex_decode(c->end - SIGNATURE_HEX_SIZE, SIGNATURE_HEX_SIZE, signature, 64))
        return false;
    c->end -= SIGNATURE_HEX_SIZE + 1;
    return true;
}

/* Finds the signed value and the signature. Only the framing is read: the value's bytes are
 * whatever lies between, so that a change inside them can only fail the signature. */
static int
frame_split(const struct parse_ctx *ctx, const char *key, const char *body, size_t size,
            struct cursor *ret_value, uint8_t signature[64])
{
    char quoted[32];
    struct cursor c = { body, body + size };
    bool ok;

    snprintf(quoted, sizeof(quoted), "\"%s\"", key);
    if (!take_front(&c, "{"))
        return refuse(ctx, "body", "", "is not a JSON object");
    if (take_front(&c, quoted))
        ok = take_front(&c, ":") && take_back(&c, "}") && take_signature_back(&c, signature) &&
             take_back(&c, ":") && take_back(&c, "\"signature\"") && take_back(&c, ",");
    else
        ok = take_front(&c, "\"signature\"") && take_front(&c, ":") &&
             take_signature_front(&c, signature) && take_front(&c, ",") && take_front(&c, quoted) &&
             take_front(&c, ":") && take_back(&c, "}");
    trim(&c);
    if (!ok || c.p == c.end)
        return refuse(ctx, "body", "",
                      "is not {\"%s\":{…},\"signature\":\"<128 hex digits>\"} (exactly these "
                      "two members)",
                      key);
    *ret_value = c;
    return 0;
}

/* Bounds the nesting of the value before jansson (which recurses) reads it. Strings are skipped
 * with their escapes; everything else is jansson's to judge. */
static int
nesting_check(const struct parse_ctx *ctx, const char *root, const struct cursor *value)
{
    unsigned depth = 0;
    bool in_string = false;

    for (const char *p = value->p; p < value->end; p++) {
        if (in_string) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                in_string = false;
        } else if (*p == '"') {
            in_string = true;
        } else if (*p == '{' || *p == '[') {
            if (++depth > INTEL_JSON_DEPTH_MAX)
                return refuse(ctx, root, "", "nests deeper than %u", INTEL_JSON_DEPTH_MAX);
        } else if ((*p == '}' || *p == ']') && depth > 0) {
            depth--;
        }
    }
    return 0;
}

/* Frames the body, checks the signature over the value, and parses the value. */
static int
signed_value_load(const struct parse_ctx *ctx, const char *key, const char *body, size_t size,
                  EVP_PKEY *signer, json_t **ret)
{
    struct cursor value = { NULL, NULL };
    uint8_t signature[64];
    json_error_t error;
    json_t *json;
    int r;

    if (!body)
        return -EINVAL;
    if (size > INTEL_COLLATERAL_BODY_MAX)
        return attest_failure_set(ctx->failure, ATTEST_STEP_COLLATERAL, -E2BIG,
                                  "%s: larger than %u bytes", ctx->item, INTEL_COLLATERAL_BODY_MAX);
    r = frame_split(ctx, key, body, size, &value, signature);
    if (r < 0)
        return r;
    if (signer) {
        r = x509_verify_p256_raw(signer, (const uint8_t *)value.p, (size_t)(value.end - value.p),
                                 signature);
        if (r == -ENOMEM)
            return r;
        if (r < 0)
            return attest_failure_set(ctx->failure, ATTEST_STEP_COLLATERAL, -EKEYREJECTED,
                                      "%s signature does not verify", ctx->item);
    }
    r = nesting_check(ctx, key, &value);
    if (r < 0)
        return r;
    json = json_loadb(value.p, (size_t)(value.end - value.p), JSON_REJECT_DUPLICATES, &error);
    if (!json)
        return refuse(ctx, key, "", "is not valid JSON (%s at offset %d)", error.text,
                      error.position);
    if (!json_is_object(json)) {
        json_decref(json);
        return refuse(ctx, key, "", "is not an object");
    }
    *ret = json;
    return 0;
}

/* ---- Members. ---- */

static const char *
type_text(json_type type)
{
    switch (type) {
    case JSON_OBJECT:
        return "is not an object";
    case JSON_ARRAY:
        return "is not an array";
    case JSON_STRING:
        return "is not a string";
    case JSON_INTEGER:
        return "is not an integer";
    default:
        return "has the wrong type";
    }
}

static int
get_member(const struct parse_ctx *ctx, json_t *object, const char *path, const char *name,
           json_type type, json_t **ret)
{
    json_t *value = json_object_get(object, name);

    if (!value)
        return refuse(ctx, path, name, "is missing");
    if (json_typeof(value) != type)
        return refuse(ctx, path, name, "%s", type_text(type));
    *ret = value;
    return 0;
}

static int
get_uint(const struct parse_ctx *ctx, json_t *object, const char *path, const char *name,
         uint64_t max, uint64_t *ret)
{
    json_t *value = NULL;
    json_int_t n;
    int r = get_member(ctx, object, path, name, JSON_INTEGER, &value);

    if (r < 0)
        return r;
    n = json_integer_value(value);
    if (n < 0 || (uint64_t)n > max)
        return refuse(ctx, path, name, "is not in 0..%llu", (unsigned long long)max);
    *ret = (uint64_t)n;
    return 0;
}

static int
get_string(const struct parse_ctx *ctx, json_t *object, const char *path, const char *name,
           const char **ret)
{
    json_t *value = NULL;
    int r = get_member(ctx, object, path, name, JSON_STRING, &value);

    if (r >= 0)
        *ret = json_string_value(value);
    return r;
}

static int
get_hex(const struct parse_ctx *ctx, json_t *object, const char *path, const char *name,
        uint8_t *out, size_t size)
{
    json_t *value = NULL;
    int r = get_member(ctx, object, path, name, JSON_STRING, &value);

    if (r < 0)
        return r;
    if (!attest_hex_decode(json_string_value(value), json_string_length(value), out, size))
        return refuse(ctx, path, name, "is not %zu hex digits", 2 * size);
    return 0;
}

static int
get_date(const struct parse_ctx *ctx, json_t *object, const char *path, const char *name,
         int64_t *ret)
{
    const char *text = NULL;
    int r = get_string(ctx, object, path, name, &text);

    if (r < 0)
        return r;
    if (intel_time_parse(text, ret) < 0)
        return refuse(ctx, path, name, "is not a date like 2025-07-19T10:01:17Z");
    return 0;
}

/* An array of 1..max elements. */
static int
get_array(const struct parse_ctx *ctx, json_t *object, const char *path, const char *name,
          size_t max, json_t **ret)
{
    int r = get_member(ctx, object, path, name, JSON_ARRAY, ret);

    if (r < 0)
        return r;
    if (json_array_size(*ret) == 0)
        return refuse(ctx, path, name, "is empty");
    if (json_array_size(*ret) > max)
        return refuse(ctx, path, name, "has more than %zu entries", max);
    return 0;
}

/* ---- Levels. ---- */

static int
level_status(const struct parse_ctx *ctx, json_t *level, const char *path, unsigned allowed,
             enum attest_tcb_status *ret)
{
    const char *name = NULL;
    enum attest_tcb_status status;
    int r = get_string(ctx, level, path, "tcbStatus", &name);

    if (r < 0)
        return r;
    if (attest_tcb_status_from_name(name, &status) < 0 || !(allowed & STATUS_BIT(status)))
        return refuse(ctx, path, "tcbStatus", "is not a status allowed here (\"%.40s\")", name);
    *ret = status;
    return 0;
}

/* advisoryIDs is optional, as in Intel QVL. */
static int
level_advisories(const struct parse_ctx *ctx, json_t *level, const char *path,
                 struct intel_tcb_level *ret)
{
    json_t *ids = json_object_get(level, "advisoryIDs"), *id;
    size_t i;

    if (!ids)
        return 0;
    if (!json_is_array(ids))
        return refuse(ctx, path, "advisoryIDs", "is not an array");
    if (json_array_size(ids) > ATTEST_ADVISORIES_MAX)
        return refuse(ctx, path, "advisoryIDs", "has more than %u entries", ATTEST_ADVISORIES_MAX);
    json_array_foreach(ids, i, id) {
        size_t length = json_string_length(id);

        if (!json_is_string(id) || length == 0 || length >= ATTEST_ADVISORY_ID_SIZE)
            return refuse(ctx, path, "advisoryIDs", "[%zu] is not a string of 1..%u bytes", i,
                          ATTEST_ADVISORY_ID_SIZE - 1);
        memcpy(ret->advisory_ids[i], json_string_value(id), length + 1);
    }
    ret->advisory_count = (unsigned)i;
    return 0;
}

/* tcbDate, tcbStatus, advisoryIDs: what every kind of level has. */
static int
level_common(const struct parse_ctx *ctx, json_t *level, const char *path, unsigned statuses,
             struct intel_tcb_level *ret)
{
    int r = get_date(ctx, level, path, "tcbDate", &ret->tcb_date);

    if (r >= 0)
        r = level_status(ctx, level, path, statuses, &ret->status);
    if (r >= 0)
        r = level_advisories(ctx, level, path, ret);
    return r;
}

/* v3: "sgxtcbcomponents" / "tdxtcbcomponents", 16 objects {svn, category?, type?}. */
static int
components(const struct parse_ctx *ctx, json_t *tcb, const char *path, const char *name,
           uint8_t out[16])
{
    char where[PATH_SIZE];
    json_t *array = NULL, *component;
    size_t i;
    int r = get_member(ctx, tcb, path, name, JSON_ARRAY, &array);

    if (r < 0)
        return r;
    if (json_array_size(array) != 16)
        return refuse(ctx, path, name, "does not have 16 entries");
    json_array_foreach(array, i, component) {
        json_t *category = json_object_get(component, "category");
        json_t *type = json_object_get(component, "type");
        uint64_t svn;

        path_format(where, "%s.%s[%zu]", path, name, i);
        if (!json_is_object(component))
            return refuse(ctx, where, "", "is not an object");
        r = get_uint(ctx, component, where, "svn", UINT8_MAX, &svn);
        if (r < 0)
            return r;
        if ((category && !json_is_string(category)) || (type && !json_is_string(type)))
            return refuse(ctx, where, category && !json_is_string(category) ? "category" : "type",
                          "is not a string");
        out[i] = (uint8_t)svn;
    }
    return 0;
}

/* v2: "sgxtcbcomp01svn" … "sgxtcbcomp16svn". */
static int
components_v2(const struct parse_ctx *ctx, json_t *tcb, const char *path, uint8_t out[16])
{
    char name[24];

    for (unsigned i = 0; i < 16; i++) {
        uint64_t svn;
        int r;

        snprintf(name, sizeof(name), "sgxtcbcomp%02usvn", i + 1);
        r = get_uint(ctx, tcb, path, name, UINT8_MAX, &svn);
        if (r < 0)
            return r;
        out[i] = (uint8_t)svn;
    }
    return 0;
}

/* One of tcbInfo.tcbLevels. */
static int
tcb_info_level(const struct parse_ctx *ctx, json_t *level, const char *path,
               struct intel_tcb_level *ret)
{
    char where[PATH_SIZE];
    json_t *tcb = NULL;
    uint64_t pcesvn;
    int r;

    if (!json_is_object(level))
        return refuse(ctx, path, "", "is not an object");
    r = get_member(ctx, level, path, "tcb", JSON_OBJECT, &tcb);
    if (r < 0)
        return r;
    path_format(where, "%s.tcb", path);
    if (ctx->version >= 3)
        r = components(ctx, tcb, where, "sgxtcbcomponents", ret->sgx_components);
    else
        r = components_v2(ctx, tcb, where, ret->sgx_components);
    if (r >= 0 && ctx->tdx) {
        ret->has_tdx_components = true;
        r = components(ctx, tcb, where, "tdxtcbcomponents", ret->tdx_components);
    }
    if (r >= 0)
        r = get_uint(ctx, tcb, where, "pcesvn", UINT16_MAX, &pcesvn);
    if (r < 0)
        return r;
    ret->pcesvn = (uint16_t)pcesvn;
    return level_common(ctx, level, path, TCB_INFO_STATUSES, ret);
}

/* One level of a QE identity or TDX module identity: {tcb: {isvsvn}, tcbDate, tcbStatus, …}. */
static int
isvsvn_level(const struct parse_ctx *ctx, json_t *level, const char *path, unsigned statuses,
             struct intel_tcb_level *ret)
{
    char where[PATH_SIZE];
    json_t *tcb = NULL;
    uint64_t isvsvn;
    int r;

    if (!json_is_object(level))
        return refuse(ctx, path, "", "is not an object");
    r = get_member(ctx, level, path, "tcb", JSON_OBJECT, &tcb);
    if (r < 0)
        return r;
    path_format(where, "%s.tcb", path);
    r = get_uint(ctx, tcb, where, "isvsvn", UINT16_MAX, &isvsvn);
    if (r < 0)
        return r;
    ret->isvsvn = (uint16_t)isvsvn;
    return level_common(ctx, level, path, statuses, ret);
}

/* Intel QVL's TcbLevel::operator>, highest first: sgx components as a byte string, then pcesvn,
 * then (TDX) the tdx components. */
static int
tcb_level_order(const void *a, const void *b)
{
    const struct intel_tcb_level *x = a, *y = b;
    int c = memcmp(y->sgx_components, x->sgx_components, sizeof(x->sgx_components));

    if (c != 0)
        return c;
    if (x->pcesvn != y->pcesvn)
        return x->pcesvn > y->pcesvn ? -1 : 1;
    if (x->has_tdx_components && y->has_tdx_components)
        return memcmp(y->tdx_components, x->tdx_components, sizeof(x->tdx_components));
    return 0;
}

/* TdxModuleTcbLevel::operator>: isvsvn, highest first. */
static int
isvsvn_order(const void *a, const void *b)
{
    const struct intel_tcb_level *x = a, *y = b;

    return (int)y->isvsvn - (int)x->isvsvn;
}

/* Sorts as Intel QVL's std::set<…, std::greater<>> does; like its emplace, refuses two levels
 * that compare equal. */
static int
levels_sort(const struct parse_ctx *ctx, const char *path, struct intel_tcb_level *levels,
            size_t count, int (*order)(const void *, const void *))
{
    qsort(levels, count, sizeof(*levels), order);
    for (size_t i = 1; i < count; i++)
        if (order(&levels[i - 1], &levels[i]) == 0)
            return refuse(ctx, path, "tcbLevels", "has two equal levels");
    return 0;
}

/* A tcbLevels array into a new array of levels: TCB info levels when isvsvn_statuses is 0, else
 * isvsvn levels (QE identity, TDX module identity) that may carry those statuses. */
static int
levels_parse(const struct parse_ctx *ctx, json_t *object, const char *path,
             unsigned isvsvn_statuses, struct intel_tcb_level **ret, size_t *ret_count)
{
    char where[PATH_SIZE];
    json_t *array = NULL, *level;
    struct intel_tcb_level *levels;
    size_t i;
    int r = get_array(ctx, object, path, "tcbLevels", INTEL_TCB_LEVELS_MAX, &array);

    if (r < 0)
        return r;
    levels = calloc(json_array_size(array), sizeof(*levels));
    if (!levels)
        return -ENOMEM;
    json_array_foreach(array, i, level) {
        path_format(where, "%s.tcbLevels[%zu]", path, i);
        r = isvsvn_statuses ? isvsvn_level(ctx, level, where, isvsvn_statuses, &levels[i])
                            : tcb_info_level(ctx, level, where, &levels[i]);
        if (r < 0) {
            free(levels);
            return r;
        }
    }
    *ret = levels;
    *ret_count = json_array_size(array);
    return 0;
}

/* ---- TCB info. ---- */

struct intel_tcb_info *
intel_tcb_info_free(struct intel_tcb_info *info)
{
    if (!info)
        return NULL;
    for (size_t i = 0; i < info->module_identity_count; i++)
        free(info->module_identities[i].levels);
    free(info->module_identities);
    free(info->levels);
    free(info);
    return NULL;
}

/* tdxModule and tdxModuleIdentities[] entries share mrsigner, attributes, attributesMask. */
static int
module_signer(const struct parse_ctx *ctx, json_t *object, const char *path, uint8_t mrsigner[48],
              uint8_t attributes[8], uint8_t mask[8])
{
    int r = get_hex(ctx, object, path, "mrsigner", mrsigner, 48);

    if (r >= 0)
        r = get_hex(ctx, object, path, "attributes", attributes, 8);
    if (r >= 0)
        r = get_hex(ctx, object, path, "attributesMask", mask, 8);
    return r;
}

static int
module_identity(const struct parse_ctx *ctx, json_t *object, const char *path,
                struct intel_tdx_module_identity *ret)
{
    const char *id = NULL;
    int r;

    if (!json_is_object(object))
        return refuse(ctx, path, "", "is not an object");
    r = get_string(ctx, object, path, "id", &id);
    if (r < 0)
        return r;
    if (strlen(id) == 0 || strlen(id) >= sizeof(ret->id))
        return refuse(ctx, path, "id", "is not a string of 1..%zu bytes", sizeof(ret->id) - 1);
    memcpy(ret->id, id, strlen(id) + 1);
    r = module_signer(ctx, object, path, ret->mrsigner, ret->attributes, ret->attributes_mask);
    if (r >= 0)
        r = levels_parse(ctx, object, path, TCB_INFO_STATUSES, &ret->levels, &ret->level_count);
    if (r >= 0)
        r = levels_sort(ctx, path, ret->levels, ret->level_count, isvsvn_order);
    return r;
}

/* tdxModule (required) and tdxModuleIdentities (optional) of a TDX TCB info; neither may be in
 * an SGX one (TcbInfo::parsePartV3). */
static int
tdx_module_parse(const struct parse_ctx *ctx, json_t *root, struct intel_tcb_info *info)
{
    char where[PATH_SIZE];
    json_t *module = json_object_get(root, "tdxModule"), *array = NULL, *entry;
    size_t i;
    int r;

    if (!ctx->tdx) {
        if (module || json_object_get(root, "tdxModuleIdentities"))
            return refuse(ctx, "tcbInfo", module ? "tdxModule" : "tdxModuleIdentities",
                          "is present in an SGX TCB info");
        return 0;
    }
    r = get_member(ctx, root, "tcbInfo", "tdxModule", JSON_OBJECT, &module);
    if (r >= 0)
        r = module_signer(ctx, module, "tcbInfo.tdxModule", info->tdx_module_mrsigner,
                          info->tdx_module_attributes, info->tdx_module_attributes_mask);
    if (r < 0)
        return r;
    info->has_tdx_module = true;
    if (!json_object_get(root, "tdxModuleIdentities"))
        return 0;
    r = get_array(ctx, root, "tcbInfo", "tdxModuleIdentities", INTEL_TDX_MODULE_IDENTITIES_MAX,
                  &array);
    if (r < 0)
        return r;
    info->module_identities = calloc(json_array_size(array), sizeof(*info->module_identities));
    if (!info->module_identities)
        return -ENOMEM;
    json_array_foreach(array, i, entry) {
        path_format(where, "tcbInfo.tdxModuleIdentities[%zu]", i);
        /* Counted first, so that free releases what a failure leaves behind. */
        info->module_identity_count = i + 1;
        r = module_identity(ctx, entry, where, &info->module_identities[i]);
        if (r < 0)
            return r;
    }
    return 0;
}

/* id and version: SGX or TDX v3, or v2 (SGX only, no id). */
static int
tcb_info_kind(struct parse_ctx *ctx, json_t *root, struct intel_tcb_info *info)
{
    const char *id = NULL;
    uint64_t version;
    int r = get_uint(ctx, root, "tcbInfo", "version", UINT32_MAX, &version);

    if (r < 0)
        return r;
    if (version != 2 && version != 3)
        return refuse(ctx, "tcbInfo", "version", "is %llu, not 2 or 3",
                      (unsigned long long)version);
    ctx->version = info->version = (unsigned)version;
    if (version == 2)
        return 0;
    r = get_string(ctx, root, "tcbInfo", "id", &id);
    if (r < 0)
        return r;
    if (strcmp(id, "SGX") != 0 && strcmp(id, "TDX") != 0)
        return refuse(ctx, "tcbInfo", "id", "is not \"SGX\" or \"TDX\"");
    ctx->tdx = info->tdx = strcmp(id, "TDX") == 0;
    return 0;
}

static int
tcb_info_fields(struct parse_ctx *ctx, json_t *root, struct intel_tcb_info *info)
{
    uint64_t tcb_type, number;
    int r = tcb_info_kind(ctx, root, info);

    if (r >= 0)
        r = get_date(ctx, root, "tcbInfo", "issueDate", &info->issue_date);
    if (r >= 0)
        r = get_date(ctx, root, "tcbInfo", "nextUpdate", &info->next_update);
    if (r >= 0)
        r = get_hex(ctx, root, "tcbInfo", "fmspc", info->fmspc, sizeof(info->fmspc));
    if (r >= 0)
        r = get_hex(ctx, root, "tcbInfo", "pceId", info->pce_id, sizeof(info->pce_id));
    if (r >= 0)
        r = get_uint(ctx, root, "tcbInfo", "tcbType", UINT32_MAX, &tcb_type);
    if (r >= 0 && tcb_type != 0)
        r = refuse(ctx, "tcbInfo", "tcbType", "is not 0 (the only type Intel QVL supports)");
    if (r >= 0)
        r = get_uint(ctx, root, "tcbInfo", "tcbEvaluationDataNumber", UINT32_MAX, &number);
    if (r < 0)
        return r;
    info->tcb_evaluation_data_number = (unsigned)number;
    r = tdx_module_parse(ctx, root, info);
    if (r >= 0)
        r = levels_parse(ctx, root, "tcbInfo", 0, &info->levels, &info->level_count);
    if (r >= 0)
        r = levels_sort(ctx, "tcbInfo", info->levels, info->level_count, tcb_level_order);
    return r;
}

int
intel_tcb_info_parse(const char *body, size_t size, EVP_PKEY *signer, struct intel_tcb_info **ret,
                     struct attest_failure *failure)
{
    struct parse_ctx ctx = { .item = "tcb_info", .failure = failure };
    _cleanup_(json_decrefp) json_t *root = NULL;
    _cleanup_(intel_tcb_info_freep) struct intel_tcb_info *info = NULL;
    int r;

    if (!ret)
        return -EINVAL;
    r = signed_value_load(&ctx, "tcbInfo", body, size, signer, &root);
    if (r < 0)
        return r;
    info = calloc(1, sizeof(*info));
    if (!info)
        return -ENOMEM;
    r = tcb_info_fields(&ctx, root, info);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(info);
    return 0;
}

/* ---- QE identity. ---- */

struct intel_qe_identity *
intel_qe_identity_free(struct intel_qe_identity *identity)
{
    if (!identity)
        return NULL;
    free(identity->levels);
    free(identity);
    return NULL;
}

static int
qe_identity_kind(const struct parse_ctx *ctx, json_t *root, struct intel_qe_identity *identity)
{
    const char *id = NULL;
    uint64_t version;
    int r = get_uint(ctx, root, "enclaveIdentity", "version", UINT32_MAX, &version);

    if (r < 0)
        return r;
    if (version != 2)
        return refuse(ctx, "enclaveIdentity", "version", "is %llu, not 2",
                      (unsigned long long)version);
    identity->version = 2;
    r = get_string(ctx, root, "enclaveIdentity", "id", &id);
    if (r < 0)
        return r;
    if (strcmp(id, "QE") != 0 && strcmp(id, "TD_QE") != 0)
        return refuse(ctx, "enclaveIdentity", "id", "is not \"QE\" or \"TD_QE\"");
    identity->td_qe = strcmp(id, "TD_QE") == 0;
    return 0;
}

/* miscselect and its mask are the report's little-endian bytes in hex (Intel QVL's
 * EnclaveReportVerifier::vectorToUint32 swaps them so). */
static int
get_le32_hex(const struct parse_ctx *ctx, json_t *root, const char *name, uint32_t *ret)
{
    uint8_t bytes[4];
    int r = get_hex(ctx, root, "enclaveIdentity", name, bytes, sizeof(bytes));

    if (r >= 0)
        *ret = le32_read(bytes);
    return r;
}

static int
qe_identity_fields(const struct parse_ctx *ctx, json_t *root, struct intel_qe_identity *identity)
{
    const char *path = "enclaveIdentity";
    uint64_t number, isvprodid;
    int r = qe_identity_kind(ctx, root, identity);

    if (r >= 0)
        r = get_date(ctx, root, path, "issueDate", &identity->issue_date);
    if (r >= 0)
        r = get_date(ctx, root, path, "nextUpdate", &identity->next_update);
    if (r >= 0)
        r = get_uint(ctx, root, path, "tcbEvaluationDataNumber", UINT32_MAX, &number);
    if (r >= 0)
        r = get_le32_hex(ctx, root, "miscselect", &identity->miscselect);
    if (r >= 0)
        r = get_le32_hex(ctx, root, "miscselectMask", &identity->miscselect_mask);
    if (r >= 0)
        r = get_hex(ctx, root, path, "attributes", identity->attributes, 16);
    if (r >= 0)
        r = get_hex(ctx, root, path, "attributesMask", identity->attributes_mask, 16);
    if (r >= 0)
        r = get_hex(ctx, root, path, "mrsigner", identity->mrsigner, 32);
    if (r >= 0)
        r = get_uint(ctx, root, path, "isvprodid", UINT16_MAX, &isvprodid);
    if (r < 0)
        return r;
    identity->tcb_evaluation_data_number = (unsigned)number;
    identity->isvprodid = (uint16_t)isvprodid;
    return levels_parse(ctx, root, path, QE_STATUSES, &identity->levels, &identity->level_count);
}

int
intel_qe_identity_parse(const char *body, size_t size, EVP_PKEY *signer,
                        struct intel_qe_identity **ret, struct attest_failure *failure)
{
    struct parse_ctx ctx = { .item = "qe_identity", .failure = failure };
    _cleanup_(json_decrefp) json_t *root = NULL;
    _cleanup_(intel_qe_identity_freep) struct intel_qe_identity *identity = NULL;
    int r;

    if (!ret)
        return -EINVAL;
    r = signed_value_load(&ctx, "enclaveIdentity", body, size, signer, &root);
    if (r < 0)
        return r;
    identity = calloc(1, sizeof(*identity));
    if (!identity)
        return -ENOMEM;
    r = qe_identity_fields(&ctx, root, identity);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(identity);
    return 0;
}

/* ---- Dates. ---- */

/* Reads exactly n digits. */
static bool
digits(const char **p, unsigned n, int *ret)
{
    int value = 0;

    for (unsigned i = 0; i < n; i++) {
        char c = (*p)[i];

        if (c < '0' || c > '9')
            return false;
        value = value * 10 + (c - '0');
    }
    *p += n;
    *ret = value;
    return true;
}

static bool
expect(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

/* Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static unsigned
days_in_month(int year, int month)
{
    static const unsigned days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    return days[month - 1] + (month == 2 && leap);
}

/* "Z", or "+hh:mm" / "-hh:mm", to seconds east of UTC; the end of text must follow. */
static bool
zone_offset(const char *p, int64_t *ret)
{
    int hours, minutes, sign;

    if (p[0] == 'Z' && p[1] == '\0') {
        *ret = 0;
        return true;
    }
    if (*p != '+' && *p != '-')
        return false;
    sign = *p++ == '-' ? -1 : 1;
    if (!digits(&p, 2, &hours) || !expect(&p, ':') || !digits(&p, 2, &minutes) || *p != '\0' ||
        hours > 23 || minutes > 59)
        return false;
    *ret = sign * (int64_t)(hours * 3600 + minutes * 60);
    return true;
}

int
intel_time_parse(const char *text, int64_t *ret)
{
    const char *p = text;
    int year, month, day, hour, minute, second;
    int64_t offset;

    if (!text || !ret)
        return -EINVAL;
    if (!digits(&p, 4, &year) || !expect(&p, '-') || !digits(&p, 2, &month) || !expect(&p, '-') ||
        !digits(&p, 2, &day) || !expect(&p, 'T') || !digits(&p, 2, &hour) || !expect(&p, ':') ||
        !digits(&p, 2, &minute) || !expect(&p, ':') || !digits(&p, 2, &second))
        return -EINVAL;
    /* Fractional seconds are dropped: every date Intel signs is whole seconds. */
    if (*p == '.') {
        const char *start = ++p;

        while (*p >= '0' && *p <= '9')
            p++;
        if (p == start || p - start > 9)
            return -EINVAL;
    }
    if (!zone_offset(p, &offset) || year < YEAR_MIN || year > YEAR_MAX || month < 1 || month > 12 ||
        day < 1 || (unsigned)day > days_in_month(year, month) || hour > 23 || minute > 59 ||
        second > 59)
        return -EINVAL;
    *ret = days_from_civil(year, (unsigned)month, (unsigned)day) * 86400 + hour * 3600 +
           minute * 60 + second - offset;
    return 0;
}
