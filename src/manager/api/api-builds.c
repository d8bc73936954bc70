/* /v1/builds: builds measured elsewhere, registered against an app (docs/api.md "Builds").
 * Registering one raises a BUILD_WHITELIST task; the build stays PENDING until the task ends
 * (api-tasks.c turns it WHITELISTED or REJECTED). */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "api.h"
#include "bodies.h"
#include "crypto-util.h"
#include "json-member.h"
#include "routes.h"
#include "store-builds.h"
#include "tasks.h"

#define BUILD_IMAGE_NAME_MAX 512
#define BUILD_VERSION_MAX 128
#define BUILD_SHA_MAX 128
#define BUILD_SVN_MAX 65535

static const char *const platform_values[] = { "sim", "sgx", "tdx", "snp", NULL };
static const char *const build_statuses[] = { BUILD_STATUS_CONVERTING,  BUILD_STATUS_PENDING,
                                              BUILD_STATUS_WHITELISTED, BUILD_STATUS_REJECTED,
                                              BUILD_STATUS_FAILED,      NULL };

/* The image fields: accepted flat in the body, or nested in docker_info as the build object
 * shows them (the Fortanix CCM habit). */
/* clang-format off */
#define DOCKER_INFO_FIELDS \
    { .name = "docker_image_name", .type = FIELD_STRING, .min = 1, \
      .max = BUILD_IMAGE_NAME_MAX, .check_string = check_image_ref }, \
    { .name = "docker_version", .type = FIELD_STRING, .min = 1, \
      .max = BUILD_VERSION_MAX, .check_string = check_no_control }, \
    { .name = "docker_image_sha", .type = FIELD_STRING, .min = 1, \
      .max = BUILD_SHA_MAX, .check_string = check_no_control }, \
    { .name = "docker_image_size", .type = FIELD_INT, .min = 0, .max = INT64_MAX }
/* clang-format on */

static const struct field_spec docker_info_fields[] = {
    DOCKER_INFO_FIELDS,
    { .name = NULL },
};

/* 48-byte (TDX registers, SNP measurement) and 32-byte (SNP host data) values in hex. */
static const char *
check_hex96(const char *value)
{
    if (strlen(value) != 96)
        return "must be 96 hexadecimal digits";
    for (const char *p = value; *p; p++)
        if (!isxdigit((unsigned char)*p))
            return "must be 96 hexadecimal digits";
    return NULL;
}

#define HEX96_FIELD(n)                                                                             \
    {                                                                                              \
        .name = n, .type = FIELD_STRING, .check_string = check_hex96                               \
    }

/* What a TDX or SNP build's evidence must show besides the manifest digest (docs/api.md). */
static const struct field_spec tdx_identity_fields[] = {
    HEX96_FIELD("mrtd"),  HEX96_FIELD("rtmr0"),      HEX96_FIELD("rtmr1"), HEX96_FIELD("rtmr2"),
    HEX96_FIELD("rtmr3"), HEX96_FIELD("mrconfigid"), { .name = NULL },
};
static const struct field_spec snp_identity_fields[] = {
    HEX96_FIELD("measurement"),
    { .name = "host_data", .type = FIELD_STRING, .check_string = check_hex64 },
    { .name = NULL },
};

const struct field_spec build_fields[] = {
    { .name = "app_id", .type = FIELD_STRING, .required = true, .min = 1, .max = API_ID_MAX },
    { .name = "mrenclave",
      .type = FIELD_STRING,
      .required = true,
      .min = 64,
      .max = 64,
      .check_string = check_hex64 },
    { .name = "mrsigner",
      .type = FIELD_STRING,
      .required = true,
      .min = 64,
      .max = 64,
      .check_string = check_hex64 },
    { .name = "isvprodid", .type = FIELD_INT, .min = 0, .max = BUILD_SVN_MAX },
    { .name = "isvsvn", .type = FIELD_INT, .min = 0, .max = BUILD_SVN_MAX },
    { .name = "platform", .type = FIELD_ENUM, .values = platform_values },
    { .name = "debug", .type = FIELD_BOOL },
    { .name = "tdx", .type = FIELD_OBJECT, .fields = tdx_identity_fields },
    { .name = "snp", .type = FIELD_OBJECT, .fields = snp_identity_fields },
    DOCKER_INFO_FIELDS,
    { .name = "docker_info", .type = FIELD_OBJECT, .fields = docker_info_fields },
    { .name = NULL },
};

/* The integer member key of object, or fallback when it is absent. */
static int64_t
member_int(const json_t *object, const char *key, int64_t fallback)
{
    const json_t *value = json_object_get(object, key);

    return json_is_integer(value) ? json_integer_value(value) : fallback;
}

static void
copy_lower(const char *hex, char out[SHA256_HEX_LEN + 1])
{
    size_t i;

    for (i = 0; i < SHA256_HEX_LEN && hex[i]; i++)
        out[i] = (char)tolower((unsigned char)hex[i]);
    out[i] = '\0';
}

/* The app the body names, which must be in the selected account: like any entity of another
 * account, one that is not there is NOT_FOUND (the message names the field). */
static int
build_app_load(struct api_request *r, json_t **ret_app)
{
    const char *app_id = member_text(r->body, "app_id");
    int err = -ENOENT;

    if (is_uuid(app_id))
        err = store_build_app_get(r->store, r->acct_id, app_id, ret_app);
    if (err == -ENOENT)
        return api_error(r, 404, "NOT_FOUND", "app_id: no such app in this account");
    return err;
}

/* The tdx or snp object of the body as JSON text into *ret (NULL when absent, null or empty),
 * lower-cased; refused for a build of another platform. */
static int
identity_from_body(struct api_request *r, const char *name, const char *platform, char **ret)
{
    const json_t *given = json_object_get(r->body, name);
    _cleanup_(json_decrefp) json_t *copy = NULL;
    const char *key;
    json_t *value;

    *ret = NULL;
    if (!json_is_object(given) || json_object_size(given) == 0)
        return 0;
    if (strcmp(platform, name) != 0)
        return api_bad_field(r, "%s: only for a build of platform %s", name, name);
    copy = json_object();
    if (!copy)
        return -ENOMEM;
    json_object_foreach((json_t *)given, key, value) {
        char hex[97];
        if (!json_is_string(value))
            continue; /* null: not given */
        snprintf(hex, sizeof(hex), "%s", json_string_value(value));
        for (char *p = hex; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        if (json_object_set_new(copy, key, json_string(hex)) < 0)
            return -ENOMEM;
    }
    if (json_object_size(copy) == 0)
        return 0;
    *ret = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
    return *ret ? 0 : -ENOMEM;
}

/* Fills the new row from the checked body, defaulting from the app. */
static int
build_from_body(struct api_request *r, const json_t *app, struct build_new *b)
{
    int64_t app_prodid = member_int(app, "isvprodid", 0);
    const json_t *debug = json_object_get(r->body, "debug");
    const json_t *docker = json_object_get(r->body, "docker_info");

    if (!json_is_object(docker))
        docker = r->body;
    else if (json_object_get(r->body, "docker_image_name") ||
             json_object_get(r->body, "docker_version") ||
             json_object_get(r->body, "docker_image_sha") ||
             json_object_get(r->body, "docker_image_size"))
        return api_bad_field(r, "docker_info: give the image either in docker_info or as the "
                                "flat docker_* fields, not both");
    *b = (struct build_new){
        .acct_id = r->acct_id,
        .app_id = member_text(r->body, "app_id"),
        .docker_image_name = member_text(docker, "docker_image_name"),
        .docker_version = member_text(docker, "docker_version"),
        .docker_image_sha = member_text(docker, "docker_image_sha"),
        .docker_image_size = member_int(docker, "docker_image_size", -1),
        .platform = member_text(r->body, "platform") ?: "sim",
        .isvprodid = member_int(r->body, "isvprodid", app_prodid),
        .isvsvn = member_int(r->body, "isvsvn", member_int(app, "isvsvn", 0)),
        .debug = json_is_true(debug),
        .status = BUILD_STATUS_PENDING,
        .now = api_now(r),
    };
    if (b->isvprodid != app_prodid)
        return api_bad_field(r, "isvprodid: must equal the app's isvprodid (%lld)",
                             (long long)app_prodid);
    return 0;
}

/* Inserts the build, raises its BUILD_WHITELIST task and links the two. */
static int
build_register(struct api_request *r, struct build_new *b, const char *app_name,
               char ret_build_id[37])
{
    char build_id[37], task_id[37];
    int err;

    err = uuid_random(build_id);
    if (err < 0)
        return err;
    b->build_id = build_id;
    err = store_build_insert(r->store, b);
    if (err == -EEXIST)
        return api_error(r, 409, "UNIQUE_VIOLATION",
                         "mrenclave: measurement already registered in this account");
    if (err >= 0)
        err = task_create(r, TASK_BUILD_WHITELIST, build_id, app_name, NULL, NULL, task_id);
    if (err >= 0)
        err = store_build_set_pending_task(r->store, r->acct_id, build_id, task_id);
    if (err >= 0)
        err =
            api_audit(r, "ADMIN", "INFO", "build", build_id, "Registered build %s (%s) of app '%s'",
                      b->mrenclave, b->platform, app_name);
    b->build_id = NULL;
    if (err < 0)
        return err;
    memcpy(ret_build_id, build_id, sizeof(build_id));
    return 0;
}

static int
reply_build(struct api_request *r, int status, const char *build_id)
{
    json_t *build = NULL;
    int err;

    err = store_build_get(r->store, r->acct_id, build_id, &build);
    return err < 0 ? api_store_error(r, err, "build") : api_reply(r, status, build);
}

static int
builds_create(struct api_request *r)
{
    json_auto_t *app = NULL;
    char mrenclave[SHA256_HEX_LEN + 1], mrsigner[SHA256_HEX_LEN + 1], build_id[37];
    _cleanup_free_ char *tdx = NULL, *snp = NULL;
    struct build_new b;
    int err;

    err = api_check_body(r, build_fields, BODY_CREATE);
    if (err >= 0)
        err = build_app_load(r, &app);
    if (err >= 0)
        err = build_from_body(r, app, &b);
    if (err >= 0)
        err = identity_from_body(r, "tdx", b.platform, &tdx);
    if (err >= 0)
        err = identity_from_body(r, "snp", b.platform, &snp);
    if (err < 0)
        return err;
    b.tdx_identity = tdx;
    b.snp_identity = snp;
    copy_lower(member_text(r->body, "mrenclave"), mrenclave);
    copy_lower(member_text(r->body, "mrsigner"), mrsigner);
    b.mrenclave = mrenclave;
    b.mrsigner = mrsigner;
    err = build_register(r, &b, member_text(app, "name"), build_id);
    if (err < 0)
        return err;
    return reply_build(r, 201, build_id);
}

static int
builds_get(struct api_request *r)
{
    int err = api_path_uuid(r, 0, "build");

    return err < 0 ? err : reply_build(r, 200, r->params[0]);
}

static int
builds_delete(struct api_request *r)
{
    const char *build_id = r->params[0];
    int err;

    err = api_path_uuid(r, 0, "build");
    if (err >= 0)
        err = api_store_error(r, store_build_delete(r->store, r->acct_id, build_id), "build");
    if (err >= 0)
        err = task_fail_pending(r, build_id, "build deleted");
    if (err >= 0)
        err = api_audit(r, "ADMIN", "INFO", "build", build_id, "Deleted build %s", build_id);
    if (err < 0)
        return err;
    return api_reply(r, 204, NULL);
}

static int
builds_list(struct api_request *r)
{
    const char *status;
    struct list_params p;
    struct list_page page;
    int err;

    err = api_list_params(r, store_build_sorts, "created_at", true, &p);
    if (err >= 0)
        err = api_query_enum(r, "status", build_statuses, &status);
    if (err >= 0)
        err = store_build_list(r->store, r->acct_id, api_query(r, "app_id"), status, &p, &page);
    if (err < 0)
        return err;
    return api_reply_list(r, &p, &page);
}

const struct route api_builds_routes[] = {
    { EVHTTP_REQ_POST, "/v1/builds", AUTH_ACCOUNT, ROLE_WRITER, true, builds_create,
      "builds_create" },
    { EVHTTP_REQ_GET, "/v1/builds", AUTH_ACCOUNT, ROLE_READER, false, builds_list, "builds_list" },
    { EVHTTP_REQ_GET, "/v1/builds/{}", AUTH_ACCOUNT, ROLE_READER, false, builds_get, "builds_get" },
    { EVHTTP_REQ_DELETE, "/v1/builds/{}", AUTH_ACCOUNT, ROLE_WRITER, true, builds_delete,
      "builds_delete" },
    { .pattern = NULL },
};
