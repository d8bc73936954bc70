/* Accounts and their settings (table accounts). An account is always read through a member:
 * the objects returned carry that member's role. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "store-list.h"
#include "store.h"

#define ACCOUNT_STATUS_ACTIVE "ACTIVE"

struct account_settings {
    int64_t approvals_required; /* 1–10 */
    bool allow_simulation;
    int64_t certificate_validity;   /* seconds */
    int64_t renewal_threshold;      /* percent */
    int64_t node_refresh_interval;  /* seconds */
    const char *attestation_policy; /* JSON text, every member (hw-policy.h); NULL: "{}" */
};

struct account_record {
    const char *acct_id;
    const char *name;
    const char *description; /* "" when none */
    struct account_settings settings;
    const char *now; /* created_at/updated_at */
};

int store_account_insert(struct store *store, const struct account_record *account);
/* Rewrites name, description and settings; -ENOENT when the account is gone. */
int store_account_update(struct store *store, const struct account_record *account);
/* Deletes the account; its members, apps, builds, tasks and registries go with it (ON DELETE
 * CASCADE). Sessions and the audit chain are the caller's to clear. -ENOENT when missing. */
int store_account_delete(struct store *store, const char *acct_id);

/* The wire account object {acct_id, name, description, status, created_at, role, settings{}}
 * as user_id sees it; -ENOENT when the account does not exist or user_id is not a member. */
int store_account_get(struct store *store, const char *acct_id, const char *user_id,
                      json_t **ret_account);
/* The sort keys of GET /v1/accounts. */
extern const struct list_sort store_account_sorts[];
/* GET /v1/accounts: the page p asks for of the accounts user_id is a member of; all_search looks
 * in name and description. */
int store_account_list(struct store *store, const char *user_id, const struct list_params *p,
                       struct list_page *ret_page);

/* Locks the account row until commit, serialising membership changes of one account (the
 * last-MANAGER rule); -ENOENT when the account does not exist. */
int store_account_lock(struct store *store, const char *acct_id);
