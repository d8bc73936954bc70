/* Container registry credentials in the store (table registries). Every call is scoped to one
 * account: a registry of another account is -ENOENT, like a missing one.
 *
 * Registries are read in their wire shape (docs/api.md): {registry_id, url, description,
 * username (string or null), has_password, created_at, updated_at}. The password is only ever
 * written, already sealed by the caller (seal_secret() with aad "registry:<registry_id>"); it is
 * never read back through these calls. Errors are the store's (store.h): -EEXIST when the url
 * is taken in the account, -ENOENT when the registry is missing. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "store-list.h"
#include "store.h"

struct registry_values {
    const char *url;
    const char *description;     /* "" when none */
    const char *username;        /* NULL when none */
    const char *password_sealed; /* NULL when none */
};

/* Inserts a registry; created_at and updated_at are now. */
int store_registry_insert(struct store *store, const char *acct_id, const char *registry_id,
                          const struct registry_values *values, const char *now);

/* Reads one registry; lock also locks its row until commit. *ret_registry is the caller's. */
int store_registry_get(struct store *store, const char *acct_id, const char *registry_id, bool lock,
                       json_t **ret_registry);

/* Writes url, description and username (password_sealed is ignored) and updated_at. */
int store_registry_update(struct store *store, const char *acct_id, const char *registry_id,
                          const struct registry_values *values, const char *now);

/* Replaces the sealed password (NULL removes it). */
int store_registry_set_password(struct store *store, const char *acct_id, const char *registry_id,
                                const char *password_sealed, const char *now);

int store_registry_delete(struct store *store, const char *acct_id, const char *registry_id);

/* The sort keys of GET /v1/registry. */
extern const struct list_sort store_registry_sorts[];

/* GET /v1/registry: the page p asks for of the account's registries; all_search looks in url and
 * description. */
int store_registry_list(struct store *store, const char *acct_id, const struct list_params *p,
                        struct list_page *ret_page);

/* For image conversions (the only reader of a sealed password): {registry_id, username,
 * password_sealed} of the account's registry whose url is host (as "host", "https://host", with
 * or without a trailing "/"); -ENOENT when there is none. */
int store_registry_credentials(struct store *store, const char *acct_id, const char *host,
                               json_t **ret_credentials);
