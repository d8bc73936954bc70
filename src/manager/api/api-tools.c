/* Stand-alone conversions (docs/convert.md "Stand-alone conversions"): POST
 * /v1/tools/converter/convert-app converts an image with the settings in the body, without an
 * app record and without registering a build; GET /v1/tools/converter/conversions/{id} follows
 * it. The request only checks and records; the jobs process's runners convert (conversions.c),
 * signing with the account's key like every conversion in the manager. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api-convert.h"
#include "api.h"
#include "bodies.h"
#include "crypto-util.h"
#include "json-member.h"
#include "routes.h"
#include "signing-keys.h"
#include "store-tool-conversions.h"

const struct field_spec tool_convert_fields[] = {
    APP_IMAGE_FIELD("input_image_name"),
    APP_IMAGE_FIELD("output_image_name"),
    APP_ISV_FIELD("isvprodid"),
    APP_ISV_FIELD("isvsvn"),
    APP_MEM_SIZE_FIELD,
    APP_THREADS_FIELD,
    { .name = "advanced_settings", .type = FIELD_OBJECT, .fields = advanced_settings_fields },
    { .name = "input_auth_config", .type = FIELD_OBJECT, .fields = auth_config_fields },
    { .name = "output_auth_config", .type = FIELD_OBJECT, .fields = auth_config_fields },
    { .name = NULL },
};

/* "HOST/REPO:TAG" (or "@DIGEST"): a name without either gets ":latest", as docker does. */
static void
with_tag(const char *name, char *out, size_t size)
{
    const char *slash = strrchr(name, '/'), *colon = strrchr(name, ':');

    if (strchr(name, '@') || (colon && (!slash || colon > slash)))
        snprintf(out, size, "%s", name);
    else
        snprintf(out, size, "%s:latest", name);
}

/* The settings the manifest records, as an app's (job_settings() in api-convert.c). */
static int
tool_settings(struct api_request *r, char **ret_settings)
{
    json_t *advanced = json_object_get(r->body, "advanced_settings");
    json_auto_t *s = json_pack(
        "{s:O, s:O, s:O, s:O, s:o}", "isvprodid", json_object_get(r->body, "isvprodid"), "isvsvn",
        json_object_get(r->body, "isvsvn"), "mem_size", json_object_get(r->body, "mem_size"),
        "threads", json_object_get(r->body, "threads"), "advanced_settings",
        advanced ? json_deep_copy(advanced) : json_object());
    int err;

    if (!s)
        return -ENOMEM;
    err = app_settings_finish(r, json_object_get(s, "advanced_settings"));
    if (err < 0)
        return err;
    *ret_settings = json_dumps(s, JSON_COMPACT);
    return *ret_settings ? 0 : -ENOMEM;
}

static int
tools_convert(struct api_request *r)
{
    json_auto_t *signing_key = NULL, *conversion = NULL;
    _cleanup_free_ char *settings = NULL;
    char input[APP_IMAGE_MAX + 16], output[APP_IMAGE_MAX + 16], id[37];
    int err;

    err = api_check_body(r, tool_convert_fields, BODY_CREATE);
    if (err < 0)
        return err;
    if (strchr(member_text(r->body, "output_image_name"), '@'))
        return api_bad_field(r, "output_image_name: must name a tag, not a digest (it is pushed)");
    err = tool_settings(r, &settings);
    if (err < 0)
        return err;
    with_tag(member_text(r->body, "input_image_name"), input, sizeof(input));
    with_tag(member_text(r->body, "output_image_name"), output, sizeof(output));
    err = signing_key_ensure(r, &signing_key);
    if (err >= 0)
        err = uuid_random(id);
    if (err >= 0)
        err = conversion_insert(r, store_tool_conversion_insert, id, input, output, settings);
    if (err >= 0)
        err = api_audit(r, "IMAGE_CONVERSION", "INFO", "conversion", id,
                        "Requested the stand-alone conversion of %s to %s", input, output);
    if (err >= 0)
        err = store_tool_conversion_get(r->store, r->acct_id, id, &conversion);
    if (err < 0)
        return err;
    return api_reply(r, 201, json_incref(conversion));
}

static int
tools_conversion_get(struct api_request *r)
{
    json_t *conversion = NULL;
    int err = api_path_uuid(r, 0, "conversion");

    if (err >= 0)
        err = store_tool_conversion_get(r->store, r->acct_id, r->params[0], &conversion);
    if (err == -ENOENT)
        return api_not_found(r, "conversion");
    if (err < 0)
        return err;
    return api_reply(r, 200, conversion);
}

const struct route api_tools_routes[] = {
    { EVHTTP_REQ_POST, "/v1/tools/converter/convert-app", AUTH_ACCOUNT, ROLE_WRITER, true,
      tools_convert, "tools_convert" },
    { EVHTTP_REQ_GET, "/v1/tools/converter/conversions/{}", AUTH_ACCOUNT, ROLE_READER, false,
      tools_conversion_get, "tools_conversion_get" },
    { .pattern = NULL },
};
