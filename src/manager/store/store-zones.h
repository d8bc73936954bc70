/* Zones and their join tokens in the store (tables zones, join_tokens; docs/nodes.md).
 *
 * A zone belongs to one account; every call that takes an acct_id is scoped to it, so a zone of
 * another account is -ENOENT, like a missing one. Zones are read in their wire shape
 * {zone_id, acct_id, name, description, trust_domain, key_type, certificate (root PEM),
 *  node_refresh_interval, node_renewal_threshold, created_at, updated_at}; the sealed CA keys
 * never leave the table through these calls (the CA process reads them itself).
 *
 * Join tokens are kept as the SHA-256 (hex) of the token only. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "ca-keys.h"
#include "store-list.h"
#include "store.h"

#define ZONE_DEFAULT_NAME "default"
#define ZONE_TRUST_DOMAIN_SUFFIX ".cloister.local"

/* A new zone row; strings are borrowed. */
struct zone_new {
    const char *zone_id; /* UUID */
    const char *acct_id;
    const char *name;
    const char *trust_domain;
    const char *key_type; /* "P-256" or "P-384" */
    const struct ca_zone_sealed *sealed;
    int64_t node_refresh_interval;  /* seconds */
    int64_t node_renewal_threshold; /* percent */
    const char *now;                /* RFC 3339 */
};

/* -EEXIST when the account already has a zone of that name (or the trust domain is taken). */
int store_zone_insert(struct store *store, const struct zone_new *zone);

/* One zone in its wire shape; *ret_zone is the caller's. */
int store_zone_get(struct store *store, const char *acct_id, const char *zone_id,
                   json_t **ret_zone);

/* What the node calls need of a zone. Strings are owned (zone_info_release frees them). */
struct zone_info {
    char zone_id[37];
    char acct_id[37];
    char *trust_domain;
    char *root_cert_pem;
    char *issuing_cert_pem;
    int64_t node_refresh_interval;
    int64_t node_renewal_threshold;
};

void zone_info_release(struct zone_info *info);
/* Reads zone_id of acct_id into *ret (released by the caller on success only). */
int store_zone_info(struct store *store, const char *acct_id, const char *zone_id,
                    struct zone_info *ret);

/* The sort keys of GET /v1/zones. */
extern const struct list_sort store_zone_sorts[];
/* GET /v1/zones: a page of the account's zones; all_search looks in name and description. */
int store_zone_list(struct store *store, const char *acct_id, const struct list_params *p,
                    struct list_page *ret_page);

/* A new join token row; strings are borrowed. */
struct join_token_new {
    const char *token_hash; /* SHA-256 hex of the token */
    const char *zone_id;
    const char *acct_id;
    int64_t uses;
    int64_t expires_ms;
    const char *created_by; /* user id */
    const char *now;
};

int store_join_token_insert(struct store *store, const struct join_token_new *token);

/* The zone a consumed token admits into. */
struct join_token_use {
    char zone_id[37];
    char acct_id[37];
    int64_t uses_total;
};

/* Takes one use of the token whose hash is token_hash, if it has one left and has not expired
 * at now_ms: one conditional UPDATE, so concurrent consumers on any replica never take more
 * uses than there are. 0 with *ret filled; -ENOENT unknown token, -ETIME expired, -EUSERS no
 * use left (then *ret still names the zone and uses_total, for the message). */
int store_join_token_consume(struct store *store, const char *token_hash, int64_t now_ms,
                             struct join_token_use *ret);
