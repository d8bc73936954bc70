/* Hardware verification collateral in the store (table collateral; docs/hardware-evidence.md,
 * "Collateral in the manager"). Collateral is Intel's and AMD's public data: it belongs to the
 * deployment, not to an account, so no call here takes an account.
 *
 * A row is one item: its kind (COLLATERAL_KIND_*), its lookup key, its exact bytes (base64 in
 * data_b64), the PEM chain that signs it (Intel items), its dates as Unix seconds, where it came
 * from and when. Rows are read by (kind, key), the primary key. Errors are the store's
 * (store.h); -ENOENT when there is no such row. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "store-list.h"
#include "store.h"

/* What the row of one item holds (the caller's strings; data_b64 and sha256 already encoded). */
struct collateral_row {
    const char *kind;
    const char *key;
    const char *data_b64;
    const char *issuer_chain; /* NULL: none */
    const char *sha256;       /* hex of the bytes */
    int64_t issued;
    int64_t next_update; /* 0: none (certificates) */
    int64_t not_after;
    const char *source; /* "import", "pccs", "kds" */
    const char *imported_at;
};

/* {kind, key, data_b64, issuer_chain, sha256, issued, next_update, not_after, source,
 * imported_at} of the item; lock also locks the row until commit. */
int store_collateral_get(struct store *store, const char *kind, const char *key, bool lock,
                         json_t **ret_row);

/* The same for the first row of kind (by key) whose key starts with prefix ("" for any). */
int store_collateral_first(struct store *store, const char *kind, const char *prefix,
                           json_t **ret_row);

/* Inserts the row, or (replace) overwrites the row of the same kind and key. */
int store_collateral_put(struct store *store, const struct collateral_row *row, bool replace);

/* The keys of every row of kind, in order: a JSON array of strings. */
int store_collateral_keys(struct store *store, const char *kind, json_t **ret_keys);

/* The sort keys of GET /v1/collateral/status. */
extern const struct list_sort store_collateral_sorts[];

/* GET /v1/collateral/status: a page of items {kind, key, issued, next_update, not_after,
 * expired, expiring, source, imported_at, sha256} (times RFC 3339; next_update null for
 * certificates), filtered by kind and source (NULL: any). expiring: not_after within
 * expiring_seconds of now. */
int store_collateral_list(struct store *store, const char *kind, const char *source,
                          const struct list_params *p, struct list_page *ret_page);

/* Seconds before not_after from which an item counts as expiring. */
#define COLLATERAL_EXPIRING_SECONDS (7 * 86400)
