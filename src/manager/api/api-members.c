/* Members and roles of the selected account (/v1/users...).
 *
 * Roles are given as {"role": R} or, as in the Fortanix API, {"roles": [R]}: exactly one of the
 * two. An account always keeps at least one MANAGER: changes that would leave none are refused
 * with INVALID_STATE, and they are serialised per account by locking the account row. */
#include <errno.h>
#include <string.h>

#include "api.h"
#include "bodies.h"
#include "crypto-util.h"
#include "routes.h"
#include "store-accounts.h"
#include "store-members.h"
#include "store-users.h"

static const char *const role_values[] = { "READER", "WRITER", "MANAGER", NULL };

/* Kept free of the router's role_parse() so the fuzz targets can use the tables alone. */
static const char *
check_role_name(const char *value)
{
    for (const char *const *v = role_values; *v; v++)
        if (strcmp(*v, value) == 0)
            return NULL;
    return "must be one of READER, WRITER, MANAGER";
}

/* The one role of a body: {"role": R} or {"roles": [R]} (see member_body_role()). */
#define ROLE_FIELDS                                                                                \
    { .name = "role", .type = FIELD_ENUM, .values = role_values },                                 \
    {                                                                                              \
        .name = "roles", .type = FIELD_STRING_ARRAY, .min = 1, .max = 1, .item_max = 16,           \
        .check_string = check_role_name                                                            \
    }

const struct field_spec member_invite_fields[] = {
    FIELD_SPEC_USER_EMAIL,
    ROLE_FIELDS,
    { .name = NULL },
};

const struct field_spec member_update_fields[] = {
    ROLE_FIELDS,
    { .name = NULL },
};

/* Checks the body against specs and extracts its one role. Both tables are checked in
 * BODY_CREATE mode (their fields are all optional there) so that a body without a role is
 * answered "role: is required" rather than a generic "nothing to change". */
static int
member_body_role(struct api_request *r, const struct field_spec *specs, enum role *ret_role)
{
    char err_text[BODY_ERROR_MAX];
    const json_t *role, *roles;
    enum role parsed;

    if (!r->body)
        return api_error(r, 400, "BAD_REQUEST", "body: a JSON object is required");
    if (body_check(r->body, specs, BODY_CREATE, err_text) < 0)
        return api_bad_field(r, "%s", err_text);
    role = json_object_get(r->body, "role");
    roles = json_object_get(r->body, "roles");
    if (json_is_null(role))
        role = NULL;
    if (json_is_null(roles))
        roles = NULL;
    if (role && roles)
        return api_bad_field(r, "roles: give either role or roles, not both");
    if (!role && !roles)
        return api_bad_field(r, "role: is required");
    parsed = role_parse(json_string_value(role ? role : json_array_get(roles, 0)));
    if (parsed == ROLE_NONE)
        return api_bad_field(r, "role: must be one of READER, WRITER, MANAGER");
    *ret_role = parsed;
    return 0;
}

/* Refuses to take the MANAGER role from the account's last MANAGER. Call with the account
 * locked. */
static int
keep_a_manager(struct api_request *r, const char *old_role, enum role new_role, const char *what)
{
    int64_t managers;
    int err;

    if (role_parse(old_role) != ROLE_MANAGER || new_role == ROLE_MANAGER)
        return 0;
    err = store_member_count_role(r->store, r->acct_id, role_name(ROLE_MANAGER), &managers);
    if (err < 0)
        return err;
    if (managers <= 1)
        return api_error(r, 409, "INVALID_STATE",
                         "cannot %s the last MANAGER of the account (make another member a "
                         "MANAGER first)",
                         what);
    return 0;
}

/* Locks the account and reads the path user's current role; 404 unless a member. */
static int
load_member_role(struct api_request *r, char role[MEMBER_ROLE_MAX])
{
    int err = api_path_uuid(r, 0, "user");

    if (err >= 0)
        err = store_account_lock(r->store, r->acct_id);
    if (err >= 0)
        err = api_store_error(r, store_member_get_role(r->store, r->acct_id, r->params[0], role),
                              "user");
    return err;
}

static int
members_list(struct api_request *r)
{
    const char *role;
    struct list_params p;
    struct list_page page;
    int err;

    err = api_list_params(r, store_member_sorts, "created_at", true, &p);
    if (err >= 0)
        err = api_query_enum(r, "role", role_values, &role);
    if (err >= 0)
        err = store_member_list(r->store, r->acct_id, role, &p, &page);
    if (err < 0)
        return err;
    return api_reply_list(r, &p, &page);
}

static int
members_invite(struct api_request *r)
{
    _cleanup_(json_decrefp) json_t *user = NULL;
    const char *email_given, *user_id;
    char email[FIELD_EMAIL_MAX + 1];
    json_t *member = NULL;
    enum role role;
    int err;

    err = member_body_role(r, member_invite_fields, &role);
    if (err < 0)
        return err;
    email_given = json_string_value(json_object_get(r->body, "user_email"));
    email_normalize(email_given, email);
    err = store_user_get_by_email(r->store, email, &user);
    if (err == -ENOENT)
        return api_error(r, 404, "NOT_FOUND", "user_email: no user has signed up with %s", email);
    if (err < 0)
        return err;
    user_id = json_string_value(json_object_get(user, "user_id"));
    err = store_member_insert(r->store, r->acct_id, user_id, role_name(role), api_now(r));
    if (err == -EEXIST)
        return api_error(r, 409, "UNIQUE_VIOLATION",
                         "user_email: %s is already a member of this account", email);
    if (err >= 0)
        err = api_audit(r, "ADMIN", "INFO", "user", user_id, "Added %s to the account as %s", email,
                        role_name(role));
    if (err >= 0)
        err = store_member_get(r->store, r->acct_id, user_id, &member);
    if (err < 0)
        return err;
    return api_reply(r, 201, member);
}

static int
members_update(struct api_request *r)
{
    char old_role[MEMBER_ROLE_MAX];
    json_t *member = NULL;
    enum role role;
    int err;

    err = load_member_role(r, old_role);
    if (err >= 0)
        err = member_body_role(r, member_update_fields, &role);
    if (err >= 0)
        err = keep_a_manager(r, old_role, role, "demote");
    if (err >= 0)
        err = store_member_update_role(r->store, r->acct_id, r->params[0], role_name(role));
    if (err >= 0)
        err = api_audit(r, "ADMIN", "INFO", "user", r->params[0],
                        "Changed a member's role from "
                        "%s to %s",
                        old_role, role_name(role));
    if (err >= 0)
        err = store_member_get(r->store, r->acct_id, r->params[0], &member);
    if (err < 0)
        return err;
    return api_reply(r, 200, member);
}

static int
members_remove(struct api_request *r)
{
    bool self = strcmp(r->params[0], r->user_id) == 0;
    char old_role[MEMBER_ROLE_MAX];
    int err;

    /* READER is the route's minimum so that anyone can leave; removing others needs MANAGER. */
    if (!self && r->role < ROLE_MANAGER)
        return api_error(r, 403, "FORBIDDEN",
                         "this needs the MANAGER role in the account (or remove yourself)");
    err = load_member_role(r, old_role);
    if (err >= 0)
        err = keep_a_manager(r, old_role, ROLE_NONE, "remove");
    if (err >= 0)
        err = store_member_delete(r->store, r->acct_id, r->params[0]);
    /* Sessions of the removed user no longer have this account selected. */
    if (err >= 0)
        err = store_session_clear_account(r->store, r->acct_id, r->params[0]);
    if (err >= 0)
        err = api_audit(r, "ADMIN", "INFO", "user", r->params[0],
                        self ? "Left the account (was %s)" : "Removed a member (was %s)", old_role);
    if (err < 0)
        return err;
    return api_reply(r, 204, NULL);
}

const struct route api_members_routes[] = {
    { EVHTTP_REQ_GET, "/v1/users", AUTH_ACCOUNT, ROLE_READER, false, members_list, "members_list" },
    { EVHTTP_REQ_POST, "/v1/users/invite", AUTH_ACCOUNT, ROLE_MANAGER, true, members_invite,
      "members_invite" },
    { EVHTTP_REQ_PATCH, "/v1/users/{}", AUTH_ACCOUNT, ROLE_MANAGER, true, members_update,
      "members_update" },
    { EVHTTP_REQ_DELETE, "/v1/users/{}/accounts", AUTH_ACCOUNT, ROLE_READER, true, members_remove,
      "members_remove" },
    { .pattern = NULL },
};
