/* Applications in the store (table apps). Every call is scoped to one account: an app of another
 * account is -ENOENT, like a missing one.
 *
 * Apps travel as JSON objects in their wire shape (docs/api.md): app_id, acct_id, name,
 * description, input_image_name, output_image_name, isvprodid, isvsvn, mem_size, threads,
 * allowed_domains[], whitelisted_domains[], pending_task_id (string or null), labels{},
 * advanced_settings{}, created_at, updated_at. The arrays and objects are kept as compact JSON
 * text with sorted keys. Errors are the store's (store.h): -EEXIST when the name is taken in
 * the account, -ENOENT when the app is missing. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "store-list.h"
#include "store.h"

/* Inserts app (every field above present; acct_id is taken from the argument). */
int store_app_insert(struct store *store, const char *acct_id, const json_t *app);

/* Reads one app; lock also locks its row until commit (read-modify-write in a write
 * transaction). *ret_app is owned by the caller. */
int store_app_get(struct store *store, const char *acct_id, const char *app_id, bool lock,
                  json_t **ret_app);

/* Writes every writable column of app (found by its app_id) and its updated_at. */
int store_app_update(struct store *store, const char *acct_id, const json_t *app);

/* Points the app at its pending domain task (task_id NULL clears it). */
int store_app_set_pending_task(struct store *store, const char *acct_id, const char *app_id,
                               const char *task_id);

/* Ends with FAILED and reason every INPROGRESS task of the app's builds (before the builds go
 * with the app). Returns the number of tasks failed. */
int store_app_fail_build_tasks(struct store *store, const char *acct_id, const char *app_id,
                               const char *reason, const char *now);

/* Deletes the app; its builds go with it (ON DELETE CASCADE). */
int store_app_delete(struct store *store, const char *acct_id, const char *app_id);

/* The sort keys of GET /v1/apps. */
extern const struct list_sort store_app_sorts[];

/* GET /v1/apps: the page p asks for of the account's apps, only those called name unless it is
 * NULL; all_search looks in name and description. */
int store_app_list(struct store *store, const char *acct_id, const char *name,
                   const struct list_params *p, struct list_page *ret_page);
