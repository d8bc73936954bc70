/* /v1/apps: applications of the selected account (docs/api.md "Applications").
 *
 * An app asks for a set of domains (domains.h); the ones not yet whitelisted need approval
 * through one DOMAIN_WHITELIST task, which the app's pending_task_id points at. Domains an app
 * stops asking for leave whitelisted_domains at once: removing trust needs no approval. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "bodies.h"
#include "crypto-util.h"
#include "domains.h"
#include "hw-policy.h"
#include "routes.h"
#include "store-apps.h"
#include "tasks.h"

#define APP_LIST_MAX 64
#define APP_LABELS_MAX 64
#define APP_LABEL_VALUE_MAX 255
#define APP_PATH_MAX 4096
#define APP_DOMAIN_MAX 255 /* 253 and a "*." prefix */
#define APP_ENTRYPOINT_MAX 4096
#define APP_ENV_COUNT_MAX 128
#define APP_ENV_MAX 4096

#define RSA_SIZE_DEFAULT 2048
#define EC_CURVE_DEFAULT "P-256"
#define KEY_PARAM_PATH "advanced_settings.certificate.key_param"

/* Domains are accepted in any letter case and stored lower-cased (domains.c). */
static const char *
check_domain(const char *value)
{
    if (!domain_is_dns_name(value))
        return "must be a DNS name (labels of letters, digits and '-', optionally after '*.')";
    return NULL;
}

static const char *
check_rsa_size(int64_t value)
{
    if (value != 2048 && value != 3072 && value != 4096)
        return "must be 2048, 3072 or 4096";
    return NULL;
}

static bool
env_name_char(char c, bool first)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

/* "NAME=value" or "NAME", NAME as a shell variable name. */
static const char *
check_manifest_env(const char *value)
{
    const char *p = value;

    if (!env_name_char(*p, true))
        return "must be NAME=value or NAME (NAME of letters, digits and '_')";
    while (*p && *p != '=')
        if (!env_name_char(*p++, false))
            return "must be NAME=value or NAME (NAME of letters, digits and '_')";
    return check_no_control(value);
}

static const char *const issuer_values[] = { "MANAGER_CA", NULL };
static const char *const key_type_values[] = { "RSA", "EC", NULL };
static const char *const curve_values[] = { "P-256", "P-384", NULL };

static const struct field_spec key_param_fields[] = {
    { .name = "size", .type = FIELD_INT, .min = 2048, .max = 4096, .check_int = check_rsa_size },
    { .name = "curve", .type = FIELD_ENUM, .values = curve_values },
    { .name = NULL },
};

static const struct field_spec certificate_fields[] = {
    { .name = "issuer", .type = FIELD_ENUM, .required = true, .values = issuer_values },
    { .name = "subject", .type = FIELD_STRING, .max = FIELD_NAME_MAX },
    { .name = "alt_names",
      .type = FIELD_STRING_ARRAY,
      .max = APP_LIST_MAX,
      .item_max = APP_DOMAIN_MAX,
      .check_string = check_domain },
    { .name = "key_type", .type = FIELD_ENUM, .required = true, .values = key_type_values },
    { .name = "key_param", .type = FIELD_OBJECT, .fields = key_param_fields },
    { .name = "key_path",
      .type = FIELD_STRING,
      .required = true,
      .min = 1,
      .max = APP_PATH_MAX,
      .check_string = check_abs_path },
    { .name = "cert_path",
      .type = FIELD_STRING,
      .required = true,
      .min = 1,
      .max = APP_PATH_MAX,
      .check_string = check_abs_path },
    { .name = "chain_path",
      .type = FIELD_STRING,
      .min = 1,
      .max = APP_PATH_MAX,
      .check_string = check_abs_path },
    { .name = NULL },
};

static const struct field_spec ca_certificate_fields[] = {
    { .name = "ca_path",
      .type = FIELD_STRING,
      .min = 1,
      .max = APP_PATH_MAX,
      .check_string = check_abs_path },
    { .name = "system", .type = FIELD_BOOL },
    { .name = NULL },
};

const struct field_spec advanced_settings_fields[] = {
    { .name = "entrypoint",
      .type = FIELD_STRING_ARRAY,
      .max = APP_LIST_MAX,
      .item_max = APP_ENTRYPOINT_MAX },
    { .name = "certificate", .type = FIELD_OBJECT, .fields = certificate_fields },
    { .name = "ca_certificate", .type = FIELD_OBJECT, .fields = ca_certificate_fields },
    { .name = "encrypted_dirs",
      .type = FIELD_STRING_ARRAY,
      .max = APP_LIST_MAX,
      .item_max = APP_PATH_MAX,
      .check_string = check_abs_path },
    { .name = "rw_dirs",
      .type = FIELD_STRING_ARRAY,
      .max = APP_LIST_MAX,
      .item_max = APP_PATH_MAX,
      .check_string = check_abs_path },
    { .name = "allow_cmdline_args", .type = FIELD_BOOL },
    { .name = "manifest_env",
      .type = FIELD_STRING_ARRAY,
      .max = APP_ENV_COUNT_MAX,
      .item_max = APP_ENV_MAX,
      .check_string = check_manifest_env },
    { .name = NULL },
};

const struct field_spec app_fields[] = {
    { .name = "name", .type = FIELD_STRING, .required = true, .min = 1, .max = FIELD_NAME_MAX },
    { .name = "description", .type = FIELD_STRING, .max = FIELD_DESCRIPTION_MAX },
    APP_IMAGE_FIELD("input_image_name"),
    APP_IMAGE_FIELD("output_image_name"),
    APP_ISV_FIELD("isvprodid"),
    APP_ISV_FIELD("isvsvn"),
    APP_MEM_SIZE_FIELD,
    APP_THREADS_FIELD,
    { .name = "allowed_domains",
      .type = FIELD_STRING_ARRAY,
      .max = APP_LIST_MAX,
      .item_max = APP_DOMAIN_MAX,
      .check_string = check_domain },
    { .name = "labels",
      .type = FIELD_STRING_MAP,
      .max = APP_LABELS_MAX,
      .item_max = APP_LABEL_VALUE_MAX },
    { .name = "advanced_settings", .type = FIELD_OBJECT, .fields = advanced_settings_fields },
    /* The members of the account's attestation policy this app overrides (hw-policy.h). */
    { .name = "attestation_policy", .type = FIELD_OBJECT, .fields = attestation_policy_fields },
    { .name = NULL },
};

/* ---- bodies ---- */

static const struct field_spec *
app_field(const char *name)
{
    for (const struct field_spec *s = app_fields; s->name; s++)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

/* The value an optional field has when it is absent or cleared with null. */
static json_t *
field_default(const struct field_spec *spec)
{
    switch (spec->type) {
    case FIELD_STRING:
        return json_string("");
    case FIELD_STRING_ARRAY:
        return json_array();
    case FIELD_OBJECT:
    case FIELD_STRING_MAP:
        return json_object();
    default:
        return json_null();
    }
}

/* Drops the members set to null (body.h: null clears an optional field) at every depth. */
static void
strip_nulls(json_t *object)
{
    const char *key;
    json_t *value;
    void *tmp;

    json_object_foreach_safe(object, tmp, key, value) {
        if (json_is_null(value))
            json_object_del(object, key);
        else if (json_is_object(value))
            strip_nulls(value);
    }
}

/* Checks what the field table cannot (which key_param goes with which key_type) and fills the
 * key defaults, so the stored certificate always says which key it asks for. */
static int
certificate_finish(struct api_request *r, json_t *certificate)
{
    const char *key_type = json_string_value(json_object_get(certificate, "key_type"));
    bool rsa = key_type && strcmp(key_type, "RSA") == 0;
    json_t *key_param = json_object_get(certificate, "key_param");
    int err = 0;

    if (!key_param) {
        key_param = json_object();
        if (!key_param || json_object_set_new(certificate, "key_param", key_param) < 0)
            return -ENOMEM;
    }
    if (rsa && json_object_get(key_param, "curve"))
        return api_bad_field(r, KEY_PARAM_PATH ": curve applies only to key_type EC");
    if (!rsa && json_object_get(key_param, "size"))
        return api_bad_field(r, KEY_PARAM_PATH ": size applies only to key_type RSA");
    if (rsa && !json_object_get(key_param, "size"))
        err = json_object_set_new(key_param, "size", json_integer(RSA_SIZE_DEFAULT));
    else if (!rsa && !json_object_get(key_param, "curve"))
        err = json_object_set_new(key_param, "curve", json_string(EC_CURVE_DEFAULT));
    return err < 0 ? -ENOMEM : 0;
}

/* Sets the fields of body on app: arrays and objects are replaced whole, null restores an
 * optional field's default and is refused for a required one. */
static int
app_apply(struct api_request *r, json_t *app, const json_t *body)
{
    json_t *settings;
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)body, key, value) {
        const struct field_spec *spec = app_field(key);
        json_t *copy;
        if (!spec)
            return api_bad_field(r, "%s: unknown field", key); /* body_check saw to it */
        if (json_is_null(value) && spec->required)
            return api_bad_field(r, "%s: must not be null", key);
        copy = json_is_null(value) ? field_default(spec) : json_deep_copy(value);
        if (!copy || json_object_set_new(app, key, copy) < 0)
            return -ENOMEM;
    }
    /* A null member overrides nothing: the account's value applies. */
    strip_nulls(json_object_get(app, "attestation_policy"));
    settings = json_object_get(app, "advanced_settings");
    return app_settings_finish(r, settings);
}

int
app_settings_finish(struct api_request *r, json_t *settings)
{
    json_t *certificate;

    strip_nulls(settings);
    certificate = json_object_get(settings, "certificate");
    return certificate ? certificate_finish(r, certificate) : 0;
}

/* A new app: the optional fields at their defaults, nothing whitelisted nor pending. */
static int
app_new(struct api_request *r, const char *app_id, json_t **ret_app)
{
    json_t *app =
        json_pack("{s:s, s:s, s:s, s:[], s:{}, s:{}, s:{}, s:[], s:n, s:s, s:s}", "app_id", app_id,
                  "acct_id", r->acct_id, "description", "", "allowed_domains", "labels",
                  "advanced_settings", "attestation_policy", "whitelisted_domains",
                  "pending_task_id", "created_at", api_now(r), "updated_at", api_now(r));

    if (!app)
        return -ENOMEM;
    *ret_app = app;
    return 0;
}

/* ---- domains ---- */

/* The domain change a write makes to an app. */
struct domain_change {
    json_t *requested;   /* what the app asks for now */
    json_t *whitelisted; /* what stays whitelisted */
    json_t *added;       /* requested − whitelisted: needs approval */
    json_t *removed;     /* previously whitelisted, no longer requested */
};

static void
domain_change_release(struct domain_change *c)
{
    json_decref(c->requested);
    json_decref(c->whitelisted);
    json_decref(c->added);
    json_decref(c->removed);
}

/* Computes the change from base (the explicitly allowed domains) and the app's settings. */
static int
domain_change_compute(const json_t *base, const json_t *settings, const json_t *whitelisted,
                      struct domain_change *c)
{
    int r;

    r = domains_requested(base, settings, &c->requested);
    if (r < 0)
        return r;
    r = domains_difference(whitelisted, c->requested, &c->removed);
    if (r < 0)
        return r;
    r = domains_difference(whitelisted, c->removed, &c->whitelisted);
    if (r < 0)
        return r;
    return domains_difference(c->requested, c->whitelisted, &c->added);
}

/* Stores the change in app (allowed_domains, whitelisted_domains). */
static int
domain_change_apply(const struct domain_change *c, json_t *app)
{
    if (json_object_set(app, "allowed_domains", c->requested) < 0 ||
        json_object_set(app, "whitelisted_domains", c->whitelisted) < 0)
        return -ENOMEM;
    return 0;
}

/* Raises the DOMAIN_WHITELIST task for c->added and points the app at it. */
static int
domain_task_raise(struct api_request *r, json_t *app, const struct domain_change *c)
{
    const char *app_id = json_string_value(json_object_get(app, "app_id"));
    const char *name = json_string_value(json_object_get(app, "name"));
    char task_id[37];
    int err;

    err = task_create(r, TASK_DOMAIN_WHITELIST, app_id, name, c->added, c->removed, task_id);
    if (err < 0)
        return err;
    if (json_object_set_new(app, "pending_task_id", json_string(task_id)) < 0)
        return -ENOMEM;
    return 0;
}

/* ---- handlers ---- */

static int
reply_app(struct api_request *r, int status, const char *app_id)
{
    json_t *app = NULL;
    int err;

    /* Re-read, so a write answers exactly what a GET will. */
    err = store_app_get(r->store, r->acct_id, app_id, false, &app);
    return err < 0 ? api_store_error(r, err, "app") : api_reply(r, status, app);
}

static int
apps_create(struct api_request *r)
{
    _cleanup_(json_decrefp) json_t *app = NULL;
    _cleanup_(domain_change_release) struct domain_change change = { 0 };
    char app_id[37];
    int err;

    err = api_check_body(r, app_fields, BODY_CREATE);
    if (err < 0)
        return err;
    err = uuid_random(app_id);
    if (err < 0)
        return err;
    err = app_new(r, app_id, &app);
    if (err < 0)
        return err;
    err = app_apply(r, app, r->body);
    if (err < 0)
        return err;
    err = domain_change_compute(json_object_get(app, "allowed_domains"),
                                json_object_get(app, "advanced_settings"), NULL, &change);
    if (err >= 0)
        err = domain_change_apply(&change, app);
    if (err < 0)
        return err;

    err = store_app_insert(r->store, r->acct_id, app);
    if (err < 0)
        return api_store_error(r, err, "app name");
    err = api_audit(r, "ADMIN", "INFO", "app", app_id, "Created app '%s'",
                    json_string_value(json_object_get(app, "name")));
    if (err < 0)
        return err;
    if (json_array_size(change.added) > 0) {
        err = domain_task_raise(r, app, &change);
        if (err >= 0)
            err = store_app_set_pending_task(
                r->store, r->acct_id, app_id,
                json_string_value(json_object_get(app, "pending_task_id")));
        if (err < 0)
            return err;
    }
    return reply_app(r, 201, app_id);
}

static int
apps_list(struct api_request *r)
{
    struct list_params p;
    struct list_page page;
    int err;

    err = api_list_params(r, store_app_sorts, "created_at", true, &p);
    if (err >= 0)
        err = store_app_list(r->store, r->acct_id, api_query(r, "name"), &p, &page);
    if (err < 0)
        return err;
    return api_reply_list(r, &p, &page);
}

/* Loads and locks the app named by the path; ids that are not UUIDs are simply not found. */
static int
app_load(struct api_request *r, json_t **ret_app)
{
    int err = api_path_uuid(r, 0, "app");

    if (err >= 0)
        err = store_app_get(r->store, r->acct_id, r->params[0], true, ret_app);
    return api_store_error(r, err, "app");
}

static int
apps_get(struct api_request *r)
{
    int err = api_path_uuid(r, 0, "app");

    return err < 0 ? err : reply_app(r, 200, r->params[0]);
}

/* The domains the stored app allows explicitly: what it asks for less what its certificate
 * asks for (allowed_domains holds their union). A PATCH that leaves allowed_domains alone
 * keeps these, whatever it does to the certificate. */
static int
explicit_domains(const json_t *old, json_t **ret_domains)
{
    json_t *of_settings = NULL;
    int err;

    err = domains_of_settings(json_object_get(old, "advanced_settings"), &of_settings);
    if (err < 0)
        return err;
    err = domains_difference(json_object_get(old, "allowed_domains"), of_settings, ret_domains);
    json_decref(of_settings);
    return err;
}

/* True when a PATCH names the domains again (allowed_domains or advanced_settings) while some
 * are unapproved and no task asks for them (the last one was denied or failed): asking again
 * raises a new task. Other edits of such an app leave the denial standing. */
static bool
domain_request_repeated(struct api_request *r, const json_t *old, const struct domain_change *c)
{
    if (json_array_size(c->added) == 0 || json_is_string(json_object_get(old, "pending_task_id")))
        return false;
    return json_object_get(r->body, "allowed_domains") ||
           json_object_get(r->body, "advanced_settings");
}

/* Applies a PATCH's domain change: a new request supersedes the pending task. */
static int
app_update_domains(struct api_request *r, const json_t *old, json_t *app)
{
    _cleanup_(domain_change_release) struct domain_change c = { 0 };
    _cleanup_(json_decrefp) json_t *base = NULL;
    const char *app_id = json_string_value(json_object_get(app, "app_id"));
    int err;

    if (json_object_get(r->body, "allowed_domains"))
        base = json_incref(json_object_get(app, "allowed_domains"));
    else if ((err = explicit_domains(old, &base)) < 0)
        return err;
    err = domain_change_compute(base, json_object_get(app, "advanced_settings"),
                                json_object_get(old, "whitelisted_domains"), &c);
    if (err >= 0)
        err = domain_change_apply(&c, app);
    if (err < 0)
        return err;
    if (domains_equal(c.requested, json_object_get(old, "allowed_domains")) &&
        !domain_request_repeated(r, old, &c))
        return 0; /* no domain change: a pending task stays */

    /* Whatever the task still pending asked for is no longer the question. */
    err = task_fail_pending(r, app_id, "superseded");
    if (err < 0)
        return err;
    if (json_array_size(c.added) > 0)
        return domain_task_raise(r, app, &c);
    /* Only removals: they took effect above and need no approval. */
    return json_object_set_new(app, "pending_task_id", json_null()) < 0 ? -ENOMEM : 0;
}

static int
apps_update(struct api_request *r)
{
    _cleanup_(json_decrefp) json_t *old = NULL;
    _cleanup_(json_decrefp) json_t *app = NULL;
    char fields[256];
    int err;

    err = api_check_body(r, app_fields, BODY_UPDATE);
    if (err < 0)
        return err;
    err = app_load(r, &old);
    if (err < 0)
        return err;
    app = json_deep_copy(old);
    if (!app)
        return -ENOMEM;
    err = app_apply(r, app, r->body);
    if (err < 0)
        return err;
    err = app_update_domains(r, old, app);
    if (err < 0)
        return err;
    if (json_object_set_new(app, "updated_at", json_string(api_now(r))) < 0)
        return -ENOMEM;

    err = store_app_update(r->store, r->acct_id, app);
    if (err < 0)
        return api_store_error(r, err, err == -EEXIST ? "app name" : "app");
    api_body_fields(r, fields, sizeof(fields));
    err = api_audit(r, "ADMIN", "INFO", "app", r->params[0], "Updated app '%s' (%s)",
                    json_string_value(json_object_get(app, "name")), fields);
    if (err < 0)
        return err;
    return reply_app(r, 200, r->params[0]);
}

static int
apps_delete(struct api_request *r)
{
    _cleanup_(json_decrefp) json_t *app = NULL;
    int err, failed;

    err = app_load(r, &app);
    if (err < 0)
        return err;
    err = task_fail_pending(r, r->params[0], "app deleted");
    if (err < 0)
        return err;
    /* The builds go with the app (ON DELETE CASCADE); their open tasks must not stay open. */
    failed =
        store_app_fail_build_tasks(r->store, r->acct_id, r->params[0], "app deleted", api_now(r));
    if (failed < 0)
        return failed;
    err = store_app_delete(r->store, r->acct_id, r->params[0]);
    if (err < 0)
        return api_store_error(r, err, "app");
    err =
        api_audit(r, "ADMIN", "INFO", "app", r->params[0],
                  "Deleted app '%s' with its builds (%d build task%s failed)",
                  json_string_value(json_object_get(app, "name")), failed, failed == 1 ? "" : "s");
    if (err < 0)
        return err;
    return api_reply(r, 204, NULL);
}

const struct route api_apps_routes[] = {
    { EVHTTP_REQ_POST, "/v1/apps", AUTH_ACCOUNT, ROLE_WRITER, true, apps_create, "apps_create" },
    { EVHTTP_REQ_GET, "/v1/apps", AUTH_ACCOUNT, ROLE_READER, false, apps_list, "apps_list" },
    { EVHTTP_REQ_GET, "/v1/apps/{}", AUTH_ACCOUNT, ROLE_READER, false, apps_get, "apps_get" },
    { EVHTTP_REQ_PATCH, "/v1/apps/{}", AUTH_ACCOUNT, ROLE_WRITER, true, apps_update,
      "apps_update" },
    { EVHTTP_REQ_DELETE, "/v1/apps/{}", AUTH_ACCOUNT, ROLE_WRITER, true, apps_delete,
      "apps_delete" },
    { .pattern = NULL },
};
