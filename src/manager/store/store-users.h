/* Users, their log-in sessions and the failed log-in counter (tables users, sessions,
 * auth_failures). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "store.h"

/* The SELECT list of the wire user object for a query joining users as "u". The password hash
 * is never part of it. */
#define STORE_USER_COLUMNS                                                                         \
    "u.user_id, u.user_email, u.first_name, u.last_name, u.status, u.is_admin AS is_admin_bool, "  \
    "u.created_at, u.last_logged_in_at"

#define USER_STATUS_ACTIVE "ACTIVE"

struct user_record {
    const char *user_id;
    const char *user_email; /* lower-case */
    const char *password_hash;
    const char *first_name;
    const char *last_name;
    bool is_admin;
    const char *created_at;
};

int store_user_count(struct store *store, int64_t *ret_count);
/* -EEXIST when the e-mail is taken. */
int store_user_insert(struct store *store, const struct user_record *user);
/* The wire user object; -ENOENT when there is no such user. */
int store_user_get(struct store *store, const char *user_id, json_t **ret_user);
int store_user_get_by_email(struct store *store, const char *user_email, json_t **ret_user);
/* {user_id, user_email, status, password_hash} for a log-in; -ENOENT for an unknown e-mail. */
int store_user_get_credentials(struct store *store, const char *user_email,
                               json_t **ret_credentials);
int store_user_set_logged_in(struct store *store, const char *user_id, const char *now);

/* Failed log-ins of one e-mail since a time (seconds since the epoch), and recording one. */
int store_auth_failure_count(struct store *store, const char *user_email, int64_t since,
                             int64_t *ret_count);
int store_auth_failure_insert(struct store *store, const char *user_email, int64_t now);

/* Sessions are keyed by the SHA-256 (hex) of their bearer token; acct_id may be NULL. */
int store_session_insert(struct store *store, const char *token_hash, const char *user_id,
                         const char *acct_id, const char *created_at, int64_t expires_at);
int store_session_delete(struct store *store, const char *token_hash);
/* Selects an account for the session; -ENOENT when the session is gone. */
int store_session_select_account(struct store *store, const char *token_hash, const char *acct_id);
/* Unselects acct_id in every session (account deleted), or only in user_id's sessions (member
 * removed) when user_id is not NULL. */
int store_session_clear_account(struct store *store, const char *acct_id, const char *user_id);
