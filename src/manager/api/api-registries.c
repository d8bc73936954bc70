/* /v1/registry: container registry credentials of the selected account (docs/api.md
 * "Registries"). The password is sealed at rest (AES-256-GCM bound to "registry:<id>") and is
 * never returned, logged nor audited: the object only says has_password. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "bodies.h"
#include "crypto-util.h"
#include "json-member.h"
#include "routes.h"
#include "store-registries.h"

#define REGISTRY_URL_MAX 512
#define REGISTRY_USERNAME_MAX 255
#define REGISTRY_PASSWORD_MAX 4096
#define REGISTRY_PORT_DIGITS_MAX 5
#define REGISTRY_PORT_MAX 65535
#define REGISTRY_AAD_PREFIX "registry:"

#define URL_FORM "must be a registry host[:port][/path] or an https:// URL"

static bool
is_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-';
}

static bool
is_ipv6_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
           c == '.';
}

/* Skips the host ("name", "1.2.3.4" or "[v6]"); NULL when there is none. */
static const char *
skip_host(const char *p)
{
    const char *start = p;

    if (*p == '[') {
        for (p++; is_ipv6_char(*p); p++)
            ;
        return *p == ']' && p > start + 1 ? p + 1 : NULL;
    }
    while (is_host_char(*p))
        p++;
    return p > start ? p : NULL;
}

/* Skips ":port" if there is one; NULL when it is not a port number. */
static const char *
skip_port(const char *p)
{
    long port = 0;
    int digits = 0;

    if (*p != ':')
        return p;
    for (p++; *p >= '0' && *p <= '9' && digits <= REGISTRY_PORT_DIGITS_MAX; p++, digits++)
        port = port * 10 + (*p - '0');
    if (digits == 0 || digits > REGISTRY_PORT_DIGITS_MAX || port < 1 || port > REGISTRY_PORT_MAX)
        return NULL;
    return p;
}

/* host[:port][/path] or https://host[:port][/path]; no credentials, spaces or controls. */
static const char *
check_registry_url(const char *value)
{
    const char *p = value;

    if (strncmp(p, "https://", 8) == 0)
        p += 8;
    else if (strstr(p, "://"))
        return URL_FORM;
    p = skip_host(p);
    if (p)
        p = skip_port(p);
    if (!p || (*p && *p != '/'))
        return URL_FORM;
    for (; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return "must not contain spaces or control characters";
    return NULL;
}

const struct field_spec registry_fields[] = {
    { .name = "url",
      .type = FIELD_STRING,
      .required = true,
      .min = 1,
      .max = REGISTRY_URL_MAX,
      .check_string = check_registry_url },
    { .name = "description", .type = FIELD_STRING, .max = FIELD_DESCRIPTION_MAX },
    { .name = "username", .type = FIELD_STRING, .max = REGISTRY_USERNAME_MAX },
    { .name = "password", .type = FIELD_STRING, .max = REGISTRY_PASSWORD_MAX },
    { .name = NULL },
};

/* Seals password for this registry; "" (or none) means no password: *ret_sealed = NULL. */
static int
registry_seal(struct api_request *r, const char *registry_id, const char *password,
              char **ret_sealed)
{
    char aad[sizeof(REGISTRY_AAD_PREFIX) + API_ID_MAX];

    if (!password || !*password) {
        *ret_sealed = NULL;
        return 0;
    }
    snprintf(aad, sizeof(aad), REGISTRY_AAD_PREFIX "%s", registry_id);
    return seal_secret(r->ctx->keys->seal_key, aad, password, strlen(password), ret_sealed);
}

static int
reply_registry(struct api_request *r, int status, const char *registry_id)
{
    json_t *registry = NULL;
    int err;

    /* Re-read, so a write answers exactly what a GET will. */
    err = store_registry_get(r->store, r->acct_id, registry_id, false, &registry);
    return err < 0 ? api_store_error(r, err, "registry") : api_reply(r, status, registry);
}

static int
registries_create(struct api_request *r)
{
    _cleanup_free_ char *sealed = NULL;
    struct registry_values values;
    char registry_id[37];
    int err;

    err = api_check_body(r, registry_fields, BODY_CREATE);
    if (err < 0)
        return err;
    err = uuid_random(registry_id);
    if (err < 0)
        return err;
    err = registry_seal(r, registry_id, member_text(r->body, "password"), &sealed);
    if (err < 0)
        return err;
    values = (struct registry_values){
        .url = member_text(r->body, "url"),
        .description = member_text(r->body, "description"),
        .username = member_text(r->body, "username"),
        .password_sealed = sealed,
    };
    err = store_registry_insert(r->store, r->acct_id, registry_id, &values, api_now(r));
    if (err < 0)
        return api_store_error(r, err, "registry url");
    err = api_audit(r, "ADMIN", "INFO", "registry", registry_id, "Created registry '%s'%s",
                    values.url, sealed ? " with a password" : "");
    if (err < 0)
        return err;
    return reply_registry(r, 201, registry_id);
}

static int
registries_list(struct api_request *r)
{
    struct list_params p;
    struct list_page page;
    int err;

    err = api_list_params(r, store_registry_sorts, "created_at", true, &p);
    if (err >= 0)
        err = store_registry_list(r->store, r->acct_id, &p, &page);
    if (err < 0)
        return err;
    return api_reply_list(r, &p, &page);
}

/* Loads and locks the registry named by the path; ids that are not UUIDs are simply not found. */
static int
registry_load(struct api_request *r, json_t **ret_registry)
{
    int err = api_path_uuid(r, 0, "registry");

    if (err >= 0)
        err = store_registry_get(r->store, r->acct_id, r->params[0], true, ret_registry);
    return api_store_error(r, err, "registry");
}

static int
registries_get(struct api_request *r)
{
    int err = api_path_uuid(r, 0, "registry");

    return err < 0 ? err : reply_registry(r, 200, r->params[0]);
}

/* The value of key after the PATCH: the body's when it names key (null clears it), else the
 * stored one. */
static const char *
patched_text(const json_t *body, const json_t *old, const char *key)
{
    const json_t *value = json_object_get(body, key);

    return value ? json_string_value(value) : member_text(old, key);
}

static int
registry_update_password(struct api_request *r, const json_t *password)
{
    _cleanup_free_ char *sealed = NULL;
    int err;

    /* "" or null removes the password. */
    err = registry_seal(r, r->params[0], json_string_value(password), &sealed);
    if (err < 0)
        return err;
    return store_registry_set_password(r->store, r->acct_id, r->params[0], sealed, api_now(r));
}

static int
registries_update(struct api_request *r)
{
    _cleanup_(json_decrefp) json_t *old = NULL;
    const json_t *password = json_object_get(r->body, "password");
    struct registry_values values;
    char fields[128];
    int err;

    err = api_check_body(r, registry_fields, BODY_UPDATE);
    if (err < 0)
        return err;
    if (json_is_null(json_object_get(r->body, "url")))
        return api_bad_field(r, "url: must not be null");
    err = registry_load(r, &old);
    if (err < 0)
        return err;
    values = (struct registry_values){
        .url = patched_text(r->body, old, "url"),
        .description = patched_text(r->body, old, "description"),
        .username = patched_text(r->body, old, "username"),
    };
    err = store_registry_update(r->store, r->acct_id, r->params[0], &values, api_now(r));
    if (err < 0)
        return api_store_error(r, err, err == -EEXIST ? "registry url" : "registry");
    if (password) {
        err = registry_update_password(r, password);
        if (err < 0)
            return err;
    }
    api_body_fields(r, fields, sizeof(fields));
    err = api_audit(r, "ADMIN", "INFO", "registry", r->params[0], "Updated registry '%s' (%s)",
                    values.url, fields);
    if (err < 0)
        return err;
    return reply_registry(r, 200, r->params[0]);
}

static int
registries_delete(struct api_request *r)
{
    _cleanup_(json_decrefp) json_t *old = NULL;
    int err;

    err = registry_load(r, &old);
    if (err < 0)
        return err;
    err = store_registry_delete(r->store, r->acct_id, r->params[0]);
    if (err < 0)
        return api_store_error(r, err, "registry");
    err = api_audit(r, "ADMIN", "INFO", "registry", r->params[0], "Deleted registry '%s'",
                    member_text(old, "url"));
    if (err < 0)
        return err;
    return api_reply(r, 204, NULL);
}

const struct route api_registries_routes[] = {
    { EVHTTP_REQ_POST, "/v1/registry", AUTH_ACCOUNT, ROLE_WRITER, true, registries_create,
      "registries_create" },
    { EVHTTP_REQ_GET, "/v1/registry", AUTH_ACCOUNT, ROLE_READER, false, registries_list,
      "registries_list" },
    { EVHTTP_REQ_GET, "/v1/registry/{}", AUTH_ACCOUNT, ROLE_READER, false, registries_get,
      "registries_get" },
    { EVHTTP_REQ_PATCH, "/v1/registry/{}", AUTH_ACCOUNT, ROLE_WRITER, true, registries_update,
      "registries_update" },
    { EVHTTP_REQ_DELETE, "/v1/registry/{}", AUTH_ACCOUNT, ROLE_WRITER, true, registries_delete,
      "registries_delete" },
    { .pattern = NULL },
};
