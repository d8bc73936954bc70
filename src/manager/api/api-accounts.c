/* Accounts: create, list, read, change, delete, and select one for the session.
 *
 * These routes name the account in the path rather than using the session's selection, so the
 * router only authenticates (AUTH_USER); membership and role in the path's account are checked
 * here. A non-member sees 404, exactly as for an account that does not exist. */
#include <errno.h>
#include <string.h>

#include "api.h"
#include "api-zones.h"
#include "audit.h"
#include "bodies.h"
#include "crypto-util.h"
#include "hw-policy.h"
#include "routes.h"
#include "store-accounts.h"
#include "store-members.h"
#include "store-users.h"

#define ACCOUNT_DEFAULT_APPROVALS 1
#define ACCOUNT_DEFAULT_CERT_VALIDITY 86400
#define ACCOUNT_DEFAULT_RENEWAL_THRESHOLD 50
#define ACCOUNT_DEFAULT_NODE_REFRESH 30

static const struct field_spec account_settings_fields[] = {
    { .name = "approvals_required", .type = FIELD_INT, .min = 1, .max = 10 },
    { .name = "allow_simulation", .type = FIELD_BOOL },
    { .name = "certificate_validity", .type = FIELD_INT, .min = 300, .max = 31536000 },
    { .name = "renewal_threshold", .type = FIELD_INT, .min = 1, .max = 99 },
    { .name = "node_refresh_interval", .type = FIELD_INT, .min = 5, .max = 3600 },
    { .name = "attestation_policy", .type = FIELD_OBJECT, .fields = attestation_policy_fields },
    { .name = NULL },
};

const struct field_spec account_fields[] = {
    { .name = "name", .type = FIELD_STRING, .required = true, .min = 1, .max = FIELD_NAME_MAX },
    { .name = "description", .type = FIELD_STRING, .max = FIELD_DESCRIPTION_MAX },
    { .name = "settings", .type = FIELD_OBJECT, .fields = account_settings_fields },
    { .name = NULL },
};

/* Overrides the settings given in a (checked) settings object; absent or null ones stay. */
static void
settings_apply(const json_t *settings, struct account_settings *s)
{
    const json_t *v;

    if ((v = json_object_get(settings, "approvals_required")) && json_is_integer(v))
        s->approvals_required = json_integer_value(v);
    if ((v = json_object_get(settings, "allow_simulation")) && json_is_boolean(v))
        s->allow_simulation = json_is_true(v);
    if ((v = json_object_get(settings, "certificate_validity")) && json_is_integer(v))
        s->certificate_validity = json_integer_value(v);
    if ((v = json_object_get(settings, "renewal_threshold")) && json_is_integer(v))
        s->renewal_threshold = json_integer_value(v);
    if ((v = json_object_get(settings, "node_refresh_interval")) && json_is_integer(v))
        s->node_refresh_interval = json_integer_value(v);
}

/* The account's attestation policy, every member (hw-policy.h), as JSON text into *ret: current
 * (NULL: the defaults) with the members settings gives; a null attestation_policy restores the
 * defaults, a null member that member's default. */
static int
policy_apply(const json_t *current, const json_t *settings, char **ret)
{
    _cleanup_(json_decrefp) json_t *policy = hw_policy_defaults();
    const json_t *given = json_object_get(settings, "attestation_policy");
    int err = policy ? 0 : -ENOMEM;

    if (err >= 0 && json_is_object(current) && !json_is_null(given))
        err = hw_policy_merge(policy, current);
    if (err >= 0 && json_is_object(given))
        err = hw_policy_merge(policy, given);
    if (err < 0)
        return err;
    *ret = json_dumps(policy, JSON_COMPACT | JSON_SORT_KEYS);
    return *ret ? 0 : -ENOMEM;
}

/* Records an ADMIN event in a given account's chain (not necessarily the session's). */
static int
audit_account(struct api_request *r, const char *chain, const char *acct_id, const char *message)
{
    return audit_append(r->store, &(struct audit_event){
                                      .chain = chain,
                                      .time = api_now(r),
                                      .actor_type = "USER",
                                      .actor_id = r->user_id,
                                      .actor_name = r->user_email,
                                      .action_type = "ADMIN",
                                      .severity = "INFO",
                                      .message = message,
                                      .entity_type = "account",
                                      .entity_id = acct_id,
                                  });
}

static int
check_account_body(struct api_request *r, enum body_mode mode)
{
    char err_text[BODY_ERROR_MAX];

    if (!r->body)
        return api_error(r, 400, "BAD_REQUEST", "body: a JSON object is required");
    if (body_check(r->body, account_fields, mode, err_text) < 0)
        return api_bad_field(r, "%s", err_text);
    /* The table lets null clear optional fields; a name cannot be cleared. */
    if (json_is_null(json_object_get(r->body, "name")))
        return api_bad_field(r, "name: must be a string");
    return 0;
}

/* The body's description: the given text, "" for null, fallback when absent. */
static const char *
body_description(const json_t *body, const char *fallback)
{
    const json_t *v = json_object_get(body, "description");

    if (!v)
        return fallback;
    return json_is_string(v) ? json_string_value(v) : "";
}

/* Loads the path's account as the caller sees it; 404 for a bad id or a non-member. */
static int
load_account(struct api_request *r, json_t **ret_account)
{
    int err = api_path_uuid(r, 0, "account");

    if (err >= 0)
        err = store_account_get(r->store, r->params[0], r->user_id, ret_account);
    return api_store_error(r, err, "account");
}

static int
require_manager(struct api_request *r, const json_t *account)
{
    const char *role = json_string_value(json_object_get(account, "role"));

    if (role_parse(role) < ROLE_MANAGER)
        return api_error(r, 403, "FORBIDDEN", "this needs the MANAGER role in the account");
    return 0;
}

static int
accounts_create(struct api_request *r)
{
    struct account_record a = {
        .settings = {
            .approvals_required = ACCOUNT_DEFAULT_APPROVALS,
            .allow_simulation = r->ctx->config->dev_mode,
            .certificate_validity = ACCOUNT_DEFAULT_CERT_VALIDITY,
            .renewal_threshold = ACCOUNT_DEFAULT_RENEWAL_THRESHOLD,
            .node_refresh_interval = ACCOUNT_DEFAULT_NODE_REFRESH,
        },
        .now = api_now(r),
    };
    _cleanup_free_ char *policy = NULL;
    char acct_id[37];
    json_t *account = NULL;
    int err;

    err = check_account_body(r, BODY_CREATE);
    if (err >= 0)
        err = policy_apply(NULL, json_object_get(r->body, "settings"), &policy);
    if (err < 0)
        return err;
    a.name = json_string_value(json_object_get(r->body, "name"));
    a.description = body_description(r->body, "");
    settings_apply(json_object_get(r->body, "settings"), &a.settings);
    a.settings.attestation_policy = policy;
    err = uuid_random(acct_id);
    if (err < 0)
        return err;
    a.acct_id = acct_id;
    err = store_account_insert(r->store, &a);
    if (err >= 0)
        err = store_member_insert(r->store, acct_id, r->user_id, role_name(ROLE_MANAGER), a.now);
    /* Every account starts with its default zone and that zone's CA (docs/nodes.md). */
    if (err >= 0)
        err = api_zone_create_default(r, acct_id, &a.settings);
    /* The new account's chain starts with its creation. */
    if (err >= 0)
        err = audit_account(r, acct_id, acct_id, "Account created; creator is its MANAGER");
    if (err >= 0)
        err = store_account_get(r->store, acct_id, r->user_id, &account);
    if (err < 0)
        return err;
    return api_reply(r, 201, account);
}

static int
accounts_list(struct api_request *r)
{
    struct list_params p;
    struct list_page page;
    int err;

    err = api_list_params(r, store_account_sorts, "created_at", true, &p);
    if (err >= 0)
        err = store_account_list(r->store, r->user_id, &p, &page);
    if (err < 0)
        return err;
    return api_reply_list(r, &p, &page);
}

static int
accounts_get(struct api_request *r)
{
    json_t *account = NULL;
    int err;

    err = load_account(r, &account);
    if (err < 0)
        return err;
    return api_reply(r, 200, account);
}

static int
accounts_update(struct api_request *r)
{
    _cleanup_(json_decrefp) json_t *current = NULL;
    struct account_record a = { .acct_id = r->params[0], .now = api_now(r) };
    _cleanup_free_ char *policy = NULL;
    const json_t *name;
    json_t *account = NULL;
    int err;

    /* The account's own scope (after the system scope the router took): its writers see
     * this change whole, and this one sees theirs. */
    err = store_lock_scope(r->store, r->params[0]);
    if (err >= 0)
        err = load_account(r, &current);
    if (err >= 0)
        err = require_manager(r, current);
    if (err >= 0)
        err = check_account_body(r, BODY_UPDATE);
    if (err >= 0)
        err = policy_apply(
            json_object_get(json_object_get(current, "settings"), "attestation_policy"),
            json_object_get(r->body, "settings"), &policy);
    if (err < 0)
        return err;
    name = json_object_get(r->body, "name");
    a.name = name ? json_string_value(name) : json_string_value(json_object_get(current, "name"));
    a.description =
        body_description(r->body, json_string_value(json_object_get(current, "description")));
    settings_apply(json_object_get(current, "settings"), &a.settings);
    settings_apply(json_object_get(r->body, "settings"), &a.settings);
    a.settings.attestation_policy = policy;
    err = store_account_update(r->store, &a);
    if (err >= 0)
        err = audit_account(r, a.acct_id, a.acct_id, "Account settings changed");
    if (err >= 0)
        err = store_account_get(r->store, a.acct_id, r->user_id, &account);
    if (err < 0)
        return err;
    return api_reply(r, 200, account);
}

static int
accounts_delete(struct api_request *r)
{
    _cleanup_(json_decrefp) json_t *current = NULL;
    const char *acct_id = r->params[0];
    char message[FIELD_NAME_MAX + 64];
    int err;

    /* The account's own scope (after the system scope the router took): its writers see
     * this change whole, and this one sees theirs. */
    err = store_lock_scope(r->store, r->params[0]);
    if (err >= 0)
        err = load_account(r, &current);
    if (err >= 0)
        err = require_manager(r, current);
    if (err < 0)
        return err;
    snprintf(message, sizeof(message), "Account '%s' deleted",
             json_string_value(json_object_get(current, "name")));
    /* Members, apps, builds, tasks and registries go by ON DELETE CASCADE; the audit chain and
     * the sessions' selection are not foreign keys and are cleared here. */
    err = store_account_delete(r->store, acct_id);
    if (err >= 0)
        err = store_session_clear_account(r->store, acct_id, NULL);
    if (err >= 0)
        err = audit_delete_chain(r->store, acct_id);
    if (err >= 0)
        err = audit_account(r, AUDIT_SYSTEM_CHAIN, acct_id, message);
    if (err < 0)
        return err;
    return api_reply(r, 204, NULL);
}

static int
accounts_select(struct api_request *r)
{
    char role[MEMBER_ROLE_MAX];
    json_t *answer;
    int err;

    err = api_path_uuid(r, 0, "account");
    if (err >= 0)
        err = api_store_error(r, store_member_get_role(r->store, r->params[0], r->user_id, role),
                              "account");
    if (err >= 0)
        err = store_session_select_account(r->store, r->token_hash, r->params[0]);
    if (err < 0)
        return err;
    answer = json_pack("{s:s, s:s}", "acct_id", r->params[0], "role", role);
    if (!answer)
        return -ENOMEM;
    return api_reply(r, 200, answer);
}

const struct route api_accounts_routes[] = {
    { EVHTTP_REQ_POST, "/v1/accounts", AUTH_USER, ROLE_NONE, true, accounts_create,
      "accounts_create" },
    { EVHTTP_REQ_GET, "/v1/accounts", AUTH_USER, ROLE_NONE, false, accounts_list, "accounts_list" },
    { EVHTTP_REQ_GET, "/v1/accounts/{}", AUTH_USER, ROLE_NONE, false, accounts_get,
      "accounts_get" },
    { EVHTTP_REQ_PATCH, "/v1/accounts/{}", AUTH_USER, ROLE_NONE, true, accounts_update,
      "accounts_update" },
    { EVHTTP_REQ_DELETE, "/v1/accounts/{}", AUTH_USER, ROLE_NONE, true, accounts_delete,
      "accounts_delete" },
    { EVHTTP_REQ_POST, "/v1/accounts/select_account/{}", AUTH_USER, ROLE_NONE, true,
      accounts_select, "accounts_select" },
    { .pattern = NULL },
};
