/* POST /v1/builds/convert-app: a CONVERTING build and its conversion job, which the jobs process
 * runs (conversions.c; docs/convert.md "In the manager"). The request only checks and records:
 * the images, the credentials to reach them (sealed for this job), and the app's settings as
 * they are now, which the manifest will carry. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "api.h"
#include "api-convert.h"
#include "bodies.h"
#include "crypto-util.h"
#include "json-member.h"
#include "routes.h"
#include "signing-keys.h"
#include "store-apps.h"
#include "store-builds.h"
#include "store-conversions.h"
#include "store-registries.h"
#include "store-signing-keys.h"

#define TAG_MAX 128
#define AUTH_FIELD_MAX 1024

static const char *
check_tag(const char *value)
{
    if (*value == '.' || *value == '-')
        return "must not start with '.' or '-'";
    for (const char *p = value; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-'))
            return "must be an image tag: letters, digits, '_', '.' and '-'";
    return NULL;
}

const struct field_spec auth_config_fields[] = {
    { .name = "username",
      .type = FIELD_STRING,
      .required = true,
      .min = 1,
      .max = AUTH_FIELD_MAX,
      .check_string = check_no_control },
    { .name = "password", .type = FIELD_STRING, .max = AUTH_FIELD_MAX },
    { .name = NULL },
};

const struct field_spec convert_fields[] = {
    { .name = "app_id", .type = FIELD_STRING, .required = true, .min = 1, .max = API_ID_MAX },
    { .name = "docker_version",
      .type = FIELD_STRING,
      .required = true,
      .min = 1,
      .max = TAG_MAX,
      .check_string = check_tag },
    { .name = "input_docker_version",
      .type = FIELD_STRING,
      .min = 1,
      .max = TAG_MAX,
      .check_string = check_tag },
    { .name = "output_docker_version",
      .type = FIELD_STRING,
      .min = 1,
      .max = TAG_MAX,
      .check_string = check_tag },
    { .name = "input_auth_config", .type = FIELD_OBJECT, .fields = auth_config_fields },
    { .name = "output_auth_config", .type = FIELD_OBJECT, .fields = auth_config_fields },
    { .name = "debug", .type = FIELD_BOOL },
    { .name = "mem_size",
      .type = FIELD_INT,
      .min = 1 << 20,
      .max = INT64_C(1) << 40,
      .check_int = check_power_of_two },
    { .name = "threads", .type = FIELD_INT, .min = 1, .max = 4096 },
    { .name = NULL },
};

/* "host/repo" of an image name without its tag (a digest is kept: it names one image). */
static void
image_name(const char *name, char *out, size_t size)
{
    const char *slash = strrchr(name, '/'), *colon = strrchr(name, ':');

    if (colon && (!slash || colon > slash) && !strchr(name, '@'))
        snprintf(out, size, "%.*s", (int)(colon - name), name);
    else
        snprintf(out, size, "%s", name);
}

/* The credentials for image's registry, sealed for the job (conversion_insert()). */
static int
conversion_credentials(struct api_request *r, const char *image, const char *which,
                       const char *build_id, char **ret_username, char **ret_sealed)
{
    const json_t *auth =
        json_object_get(r->body, which[0] == 'i' ? "input_auth_config" : "output_auth_config");
    json_auto_t *record = NULL;
    _cleanup_free_ char *password = NULL;
    char host[256], aad[80];
    const char *slash = strchr(image, '/');
    size_t len = 0;
    int err;

    snprintf(aad, sizeof(aad), "conversion:%s:%s", build_id, which);
    *ret_username = *ret_sealed = NULL;
    if (auth) {
        const char *pw = member_text(auth, "password");
        *ret_username = strdup(member_text(auth, "username") ?: "");
        if (!*ret_username)
            return -ENOMEM;
        return pw && *pw ? seal_secret(r->ctx->keys->seal_key, aad, pw, strlen(pw), ret_sealed) : 0;
    }
    snprintf(host, sizeof(host), "%.*s", slash ? (int)(slash - image) : 0, image);
    err = store_registry_credentials(r->store, r->acct_id, host, &record);
    if (err == -ENOENT)
        return 0;
    if (err < 0)
        return err;
    if (member_text(record, "username") &&
        !(*ret_username = strdup(member_text(record, "username"))))
        return -ENOMEM;
    if (!member_text(record, "password_sealed"))
        return 0;
    snprintf(aad, sizeof(aad), "registry:%s", member_text(record, "registry_id"));
    err = open_secret(r->ctx->keys->seal_key, aad, member_text(record, "password_sealed"),
                      &password, &len);
    if (err < 0)
        return err;
    snprintf(aad, sizeof(aad), "conversion:%s:%s", build_id, which);
    err = seal_secret(r->ctx->keys->seal_key, aad, password, len, ret_sealed);
    OPENSSL_cleanse(password, len);
    return err;
}

/* The settings the manifest records: the app's, with the body's mem_size and threads. */
static char *
job_settings(struct api_request *r, const json_t *app)
{
    json_auto_t *s =
        json_pack("{s:O, s:O, s:O, s:O, s:O}", "isvprodid", json_object_get(app, "isvprodid"),
                  "isvsvn", json_object_get(app, "isvsvn"), "mem_size",
                  json_object_get(r->body, "mem_size") ?: json_object_get(app, "mem_size"),
                  "threads", json_object_get(r->body, "threads") ?: json_object_get(app, "threads"),
                  "advanced_settings", json_object_get(app, "advanced_settings"));

    return s ? json_dumps(s, JSON_COMPACT) : NULL;
}

struct job_images {
    char input[800], output[800], output_name[640];
    const char *output_tag;
};

static void
job_images(struct api_request *r, const json_t *app, struct job_images *im)
{
    const char *version = member_text(r->body, "docker_version");
    const char *in_version = member_text(r->body, "input_docker_version") ?: version;
    char name[640];

    image_name(member_text(app, "input_image_name") ?: "", name, sizeof(name));
    if (strchr(name, '@') && !json_object_get(r->body, "input_docker_version"))
        snprintf(im->input, sizeof(im->input), "%s", name);
    else
        snprintf(im->input, sizeof(im->input), "%.640s:%.128s", name, in_version);
    image_name(member_text(app, "output_image_name") ?: "", im->output_name,
               sizeof(im->output_name));
    im->output_tag = member_text(r->body, "output_docker_version") ?: version;
    snprintf(im->output, sizeof(im->output), "%.640s:%.128s", im->output_name, im->output_tag);
}

int
conversion_insert(struct api_request *r, conversion_insert_fn insert, const char *id,
                  const char *input, const char *output, const char *settings)
{
    _cleanup_free_ char *in_user = NULL, *in_sealed = NULL, *out_user = NULL, *out_sealed = NULL;
    int err;

    err = conversion_credentials(r, input, "input", id, &in_user, &in_sealed);
    if (err >= 0)
        err = conversion_credentials(r, output, "output", id, &out_user, &out_sealed);
    if (err < 0)
        return err;
    return insert(r->store, &(struct conversion_new){
                                .build_id = id,
                                .acct_id = r->acct_id,
                                .requester_id = r->user_id,
                                .requester_email = r->user_email,
                                .requester_name = r->user_name,
                                .input_image = input,
                                .output_image = output,
                                .input_username = in_user,
                                .input_password_sealed = in_sealed,
                                .output_username = out_user,
                                .output_password_sealed = out_sealed,
                                .settings = settings,
                                .now = api_now(r),
                            });
}

static int
insert_job(struct api_request *r, const json_t *app, const char *build_id,
           const struct job_images *im)
{
    _cleanup_free_ char *settings = job_settings(r, app);

    if (!settings)
        return -ENOMEM;
    return conversion_insert(r, store_conversion_insert, build_id, im->input, im->output, settings);
}

static int
builds_convert(struct api_request *r)
{
    json_auto_t *app = NULL, *build = NULL, *signing_key = NULL;
    struct job_images im;
    char build_id[37];
    const char *app_id;
    int err;

    err = api_check_body(r, convert_fields, BODY_CREATE);
    if (err < 0)
        return err;
    app_id = member_text(r->body, "app_id");
    err = is_uuid(app_id) ? store_app_get(r->store, r->acct_id, app_id, false, &app) : -ENOENT;
    if (err == -ENOENT)
        return api_error(r, 404, "NOT_FOUND", "app_id: no such app in this account");
    if (err < 0)
        return err;
    job_images(r, app, &im);
    err = signing_key_ensure(r, &signing_key);
    if (err >= 0)
        err = uuid_random(build_id);
    if (err >= 0)
        err = store_build_insert(
            r->store, &(struct build_new){
                          .build_id = build_id,
                          .acct_id = r->acct_id,
                          .app_id = app_id,
                          .docker_image_name = im.output_name,
                          .docker_version = im.output_tag,
                          .docker_image_size = -1,
                          .platform = "sim",
                          .mrenclave = build_id,
                          .mrsigner = build_id,
                          .isvprodid = json_integer_value(json_object_get(app, "isvprodid")),
                          .isvsvn = json_integer_value(json_object_get(app, "isvsvn")),
                          .debug = json_is_true(json_object_get(r->body, "debug")),
                          .status = BUILD_STATUS_CONVERTING,
                          .now = api_now(r),
                      });
    if (err >= 0)
        err = store_exec(r->store, "UPDATE builds SET progress = 0 WHERE build_id = ?",
                         STORE_ARGS(SV_TEXT(build_id)), NULL);
    if (err >= 0)
        err = insert_job(r, app, build_id, &im);
    if (err >= 0)
        err = api_audit(r, "IMAGE_CONVERSION", "INFO", "build", build_id,
                        "Requested the conversion of %s to %s for app '%s'", im.input, im.output,
                        member_text(app, "name"));
    if (err >= 0)
        err = store_build_get(r->store, r->acct_id, build_id, &build);
    if (err < 0)
        return err;
    return api_reply(r, 201, json_incref(build));
}

/* GET /v1/signing-key: the signer the account's conversions sign with. */
static int
signing_key_get(struct api_request *r)
{
    json_t *key = NULL;
    int err;

    err = store_signing_key_get(r->store, r->acct_id, false, &key);
    if (err == -ENOENT)
        return api_error(r, 404, "NOT_FOUND",
                         "the account has no signing key yet: its first conversion makes it");
    if (err < 0)
        return err;
    return api_reply(r, 200, key);
}

const struct route api_convert_routes[] = {
    { EVHTTP_REQ_POST, "/v1/builds/convert-app", AUTH_ACCOUNT, ROLE_WRITER, true, builds_convert,
      "builds_convert" },
    { EVHTTP_REQ_GET, "/v1/signing-key", AUTH_ACCOUNT, ROLE_READER, false, signing_key_get,
      "signing_key_get" },
    { .pattern = NULL },
};
