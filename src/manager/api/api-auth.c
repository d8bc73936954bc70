/* Users and sessions: sign-up, log-in (HTTP Basic → bearer token), log-out, the caller.
 *
 * Sign-ups and every log-in attempt go to the system audit chain: a log-in has no account. A
 * failed log-in still commits (the handler returns 0 after preparing its 401/429) so that the
 * failure counter and the audit event are kept. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "api.h"
#include "audit.h"
#include "basic-auth.h"
#include "bodies.h"
#include "metrics.h"
#include "crypto-util.h"
#include "password.h"
#include "routes.h"
#include "session-cookie.h"
#include "store-members.h"
#include "store-users.h"

#define TOKEN_BYTES 32
#define LOGIN_WINDOW_SECONDS 300
#define LOGIN_FAILURES_MAX 10
#define LOGIN_FAILED_MESSAGE "invalid e-mail or password"

const struct field_spec signup_fields[] = {
    FIELD_SPEC_USER_EMAIL,
    /* Passwords keep the default check (no control characters): they must be typeable. */
    { .name = "user_password",
      .type = FIELD_STRING,
      .required = true,
      .min = PASSWORD_MIN,
      .max = PASSWORD_MAX },
    { .name = "first_name",
      .type = FIELD_STRING,
      .required = true,
      .min = 1,
      .max = FIELD_NAME_MAX },
    { .name = "last_name",
      .type = FIELD_STRING,
      .required = true,
      .min = 1,
      .max = FIELD_NAME_MAX },
    { .name = NULL },
};

/* Appends a USER_AUTH event to the system chain. user_id is NULL for an unknown e-mail. */
static int
audit_auth(struct api_request *r, const char *user_id, const char *email, const char *severity,
           const char *message)
{
    return audit_append(r->store, &(struct audit_event){
                                      .chain = AUDIT_SYSTEM_CHAIN,
                                      .time = api_now(r),
                                      .actor_type = "USER",
                                      .actor_id = user_id ? user_id : email,
                                      .actor_name = email,
                                      .action_type = "USER_AUTH",
                                      .severity = severity,
                                      .message = message,
                                      .entity_type = "user",
                                      .entity_id = user_id,
                                  });
}

/* ---- sign-up ---- */

static int
signup_insert(struct api_request *r, const char *email, bool first, const char *user_id)
{
    const char *hash = json_string_value(json_object_get(r->prepared, "password_hash"));
    int err;

    err = store_user_insert(
        r->store, &(struct user_record){
                      .user_id = user_id,
                      .user_email = email,
                      .password_hash = hash,
                      .first_name = json_string_value(json_object_get(r->body, "first_name")),
                      .last_name = json_string_value(json_object_get(r->body, "last_name")),
                      .is_admin = first,
                      .created_at = api_now(r),
                  });
    if (err < 0)
        return api_store_error(r, err, "user_email");
    return audit_auth(r, user_id, email, "INFO",
                      first ? "Signed up (system administrator)" : "Signed up");
}

/* The first user (the system administrator) may sign up even when open sign-up is off, or
 * nobody could ever use the manager. */
static int
signup_check_allowed(struct api_request *r, int64_t *ret_users)
{
    int err = store_user_count(r->store, ret_users);

    if (err < 0)
        return err;
    if (!r->ctx->config->allow_signup && *ret_users > 0)
        return api_error(r, 403, "FORBIDDEN", "open sign-up is turned off on this manager");
    return 0;
}

/* Validates the body and hashes the password before the write transaction opens. */
static int
signup_prepare(struct api_request *r)
{
    const struct manager_config *config = r->ctx->config;
    char err_text[BODY_ERROR_MAX];
    _cleanup_free_ char *hash = NULL;
    int64_t users;
    int err;

    err = signup_check_allowed(r, &users);
    if (err < 0)
        return err;
    if (!r->body)
        return api_error(r, 400, "BAD_REQUEST", "body: a JSON object is required");
    if (body_check(r->body, signup_fields, BODY_CREATE, err_text) < 0)
        return api_bad_field(r, "%s", err_text);
    err = password_hash(json_string_value(json_object_get(r->body, "user_password")),
                        config->argon2_memory_kib, config->argon2_iterations, &hash);
    if (err < 0)
        return err;
    r->prepared = json_pack("{s:s}", "password_hash", hash);
    return r->prepared ? 0 : -ENOMEM;
}

static int
auth_signup(struct api_request *r)
{
    char email[FIELD_EMAIL_MAX + 1], user_id[37];
    json_t *user = NULL;
    int64_t users;
    int err;

    /* Counted again inside the write transaction: exactly one first user, even with
     * concurrent sign-ups. */
    err = signup_check_allowed(r, &users);
    if (err < 0)
        return err;
    email_normalize(json_string_value(json_object_get(r->body, "user_email")), email);
    err = uuid_random(user_id);
    if (err < 0)
        return err;
    err = signup_insert(r, email, users == 0, user_id);
    if (err < 0)
        return err;
    err = store_user_get(r->store, user_id, &user);
    if (err < 0)
        return err;
    return api_reply(r, 201, user);
}

/* ---- log-in ---- */

static void
count_auth_attempt(struct api_request *r, bool succeeded)
{
    if (r->ctx->metrics)
        atomic_fetch_add(&r->ctx->metrics->auth_attempts[succeeded ? 1 : 0], 1);
}

/* Prepares a 401 that commits (the failure row and its audit event are kept). */
static int
login_failed(struct api_request *r, const char *user_id, const char *email, const char *why)
{
    char message[128];
    int err;

    err = store_auth_failure_insert(r->store, email, time_now_unix());
    if (err < 0)
        return err;
    snprintf(message, sizeof(message), "Log-in failed: %s", why);
    err = audit_auth(r, user_id, email, "WARNING", message);
    if (err < 0)
        return err;
    /* The same answer whether or not the user exists. */
    api_error(r, 401, "UN_AUTHORIZED", LOGIN_FAILED_MESSAGE);
    count_auth_attempt(r, false);
    return 0;
}

/* Frees a NUL-terminated secret after erasing it (STYLE.md idiom 7). */
static void
secret_freep(char **secret)
{
    if (*secret) {
        OPENSSL_cleanse(*secret, strlen(*secret));
        free(*secret);
    }
}

static int
login_succeeded(struct api_request *r, const char *user_id, const char *email)
{
    int64_t ttl = r->ctx->config->token_ttl;
    uint8_t raw[TOKEN_BYTES];
    _cleanup_(secret_freep) char *token = NULL;
    char token_hash[SHA256_HEX_LEN + 1];
    json_t *answer;
    int err;

    err = crypto_random(raw, sizeof(raw));
    if (err >= 0)
        err = base64url_encode(raw, sizeof(raw), &token);
    OPENSSL_cleanse(raw, sizeof(raw));
    if (err < 0)
        return err;
    sha256_hex(token, strlen(token), token_hash);
    /* A new session has no account selected: the client selects one explicitly, so what a
     * call may do never depends on how many accounts the user happens to have. */
    err = store_session_insert(r->store, token_hash, user_id, NULL, api_now(r),
                               time_now_unix() + ttl);
    if (err >= 0)
        err = store_user_set_logged_in(r->store, user_id, api_now(r));
    if (err >= 0)
        err = audit_auth(r, user_id, email, "INFO", "Logged in");
    if (err < 0)
        return err;
    answer = json_pack("{s:s, s:s, s:I, s:{s:s, s:s, s:n, s:n}}", "access_token", token,
                       "token_type", "Bearer", "expires_in", (json_int_t)ttl, "session_info",
                       "user_id", user_id, "user_email", email, "acct_id", "role");
    if (!answer)
        return -ENOMEM;
    /* The console's session: the token only in an HttpOnly cookie, never to script. */
    if (session_cookie_requested(r->http)) {
        session_cookie_set(r->http, token, ttl);
        json_object_del(answer, "access_token");
        json_object_set_new(answer, "token_type", json_string("Cookie"));
    }
    count_auth_attempt(r, true);
    return api_reply(r, 200, answer);
}

/* Checks the password of a known or unknown e-mail in the same time; records the outcome. */
static int
login_verify(struct api_request *r, const char *email, const char *password)
{
    const struct manager_config *config = r->ctx->config;
    _cleanup_(json_decrefp) json_t *cred = NULL;
    const char *user_id, *status, *outcome = "ok";
    int err;

    err = store_user_get_credentials(r->store, email, &cred);
    if (err == -ENOENT) {
        password_verify_dummy(password, config->argon2_memory_kib, config->argon2_iterations);
        r->prepared = json_pack("{s:s, s:s}", "outcome", "unknown user", "email", email);
        return r->prepared ? 0 : -ENOMEM;
    }
    if (err < 0)
        return err;
    user_id = json_string_value(json_object_get(cred, "user_id"));
    status = json_string_value(json_object_get(cred, "status"));
    if (!password_verify(json_string_value(json_object_get(cred, "password_hash")), password))
        outcome = "wrong password";
    else if (!status || strcmp(status, USER_STATUS_ACTIVE) != 0)
        outcome = "user not active";
    r->prepared =
        json_pack("{s:s, s:s, s:s}", "outcome", outcome, "email", email, "user_id", user_id);
    return r->prepared ? 0 : -ENOMEM;
}

/* Runs before the write transaction: the rate limit, the credentials and Argon2id, so
 * log-ins never hold the store's write lock while hashing. A burst racing the limit can get a
 * few attempts past it; the window still bounds them. */
static int
login_prepare(struct api_request *r)
{
    _cleanup_(basic_credentials_release) struct basic_credentials c = { 0 };
    char email[FIELD_EMAIL_MAX + 1];
    int64_t failures;
    int err;

    err = basic_auth_parse(
        evhttp_find_header(evhttp_request_get_input_headers(r->http), "Authorization"), &c);
    if (err == -ENOMEM)
        return err;
    /* The e-mail goes into JSON (the audit event): it must be UTF-8, as every stored one is. */
    if (err < 0 || strlen(c.email) > FIELD_EMAIL_MAX)
        return api_error(r, 401, "UN_AUTHORIZED",
                         "log in with HTTP Basic authentication (e-mail and password)");
    email_normalize(c.email, email);
    err = store_auth_failure_count(r->store, email, time_now_unix() - LOGIN_WINDOW_SECONDS,
                                   &failures);
    if (err < 0)
        return err;
    if (failures >= LOGIN_FAILURES_MAX) {
        /* Locked for the window: the password is not even looked at. */
        r->prepared = json_pack("{s:s, s:s}", "outcome", "locked", "email", email);
        return r->prepared ? 0 : -ENOMEM;
    }
    return login_verify(r, email, c.password);
}

/* Records the outcome login_prepare found, in the write transaction. */
static int
auth_login(struct api_request *r)
{
    const char *outcome = json_string_value(json_object_get(r->prepared, "outcome"));
    const char *email = json_string_value(json_object_get(r->prepared, "email"));
    const char *user_id = json_string_value(json_object_get(r->prepared, "user_id"));
    int err;

    if (strcmp(outcome, "locked") == 0) {
        err = audit_auth(r, NULL, email, "WARNING", "Log-in refused: too many failed attempts");
        if (err < 0)
            return err;
        api_error(r, 429, "QUOTA_EXCEEDED",
                  "too many failed log-ins for this e-mail; try again in a few minutes");
        return 0;
    }
    if (strcmp(outcome, "ok") != 0)
        return login_failed(r, user_id, email, outcome);
    return login_succeeded(r, user_id, email);
}

/* ---- session and caller ---- */

static int
auth_logout(struct api_request *r)
{
    int err;

    err = store_session_delete(r->store, r->token_hash);
    if (err < 0)
        return err;
    session_cookie_clear(r->http);
    err = audit_auth(r, r->user_id, r->user_email, "INFO", "Logged out");
    if (err < 0)
        return err;
    return api_reply(r, 204, NULL);
}

static int
auth_current_user(struct api_request *r)
{
    _cleanup_(json_decrefp) json_t *user = NULL;
    json_t *accounts = NULL;
    int err;

    err = store_user_get(r->store, r->user_id, &user);
    if (err < 0)
        return err;
    err = store_member_list_accounts(r->store, r->user_id, &accounts);
    if (err < 0)
        return err;
    if (json_object_set_new(user, "accounts", accounts) < 0 ||
        json_object_set_new(user, "selected_account",
                            *r->acct_id ? json_string(r->acct_id) : json_null()) < 0)
        return -ENOMEM;
    return api_reply(r, 200, TAKE_PTR(user));
}

const struct route api_auth_routes[] = {
    { EVHTTP_REQ_POST, "/v1/users", AUTH_NONE, ROLE_NONE, true, auth_signup, "users_signup",
      signup_prepare },
    { EVHTTP_REQ_POST, "/v1/sys/auth", AUTH_NONE, ROLE_NONE, true, auth_login, "sys_auth",
      login_prepare },
    { EVHTTP_REQ_POST, "/v1/sys/logout", AUTH_USER, ROLE_NONE, true, auth_logout, "sys_logout" },
    { EVHTTP_REQ_GET, "/v1/user", AUTH_USER, ROLE_NONE, false, auth_current_user, "user_get" },
    { .pattern = NULL },
};
