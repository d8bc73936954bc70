/* Enrolled nodes and their check-ins in the store (tables nodes, app_instances; docs/nodes.md).
 *
 * Only ACTIVE or DEACTIVATED is stored. What the API shows (SPEC 3) is computed when a node is
 * read, never by a job that polls every row: DEACTIVATED as stored, else RUNNING when the node
 * checked in within NODE_MISSED_CHECKINS refresh intervals of its zone, else STOPPED. App
 * instances follow the same rule with their own last_seen_ms, and are STOPPED at once when a
 * check-in of their node no longer lists them.
 *
 * Every call that takes an acct_id is scoped to it: another account's node is -ENOENT. Nodes
 * are read in their wire shape {node_id, acct_id, zone_id, name, description, ipaddress,
 * host_id, attestation_type, tcb_status, agent_version, labels{}, status{status,
 * last_seen_at}, cert_serial, created_at, updated_at}. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "store-list.h"
#include "store.h"

#define NODE_STATUS_ACTIVE "ACTIVE"
#define NODE_STATUS_DEACTIVATED "DEACTIVATED"
#define NODE_STATUS_RUNNING "RUNNING"
#define NODE_STATUS_STOPPED "STOPPED"
/* A node (or instance) is RUNNING while it was seen within this many refresh intervals. */
#define NODE_MISSED_CHECKINS 3
/* "seen within NODE_MISSED_CHECKINS refresh intervals" in SQL, in milliseconds, for queries
 * that name the zone z: RUNNING is "last_seen_ms >= now_ms - " SEEN_WINDOW_SQL. */
#define SEEN_WINDOW_SQL "3000 * z.node_refresh_interval"
_Static_assert(NODE_MISSED_CHECKINS == 3, "SEEN_WINDOW_SQL spells NODE_MISSED_CHECKINS out");
#define NODE_INSTANCES_MAX 1000 /* instances listed in one check-in */

/* A new node row; strings are borrowed; NULL where optional. */
struct node_new {
    const char *node_id; /* UUID */
    const char *acct_id;
    const char *zone_id;
    const char *name;
    const char *description;
    const char *ipaddress;
    const char *host_id;
    const char *attestation_type; /* NONE, SIM, SGX_DCAP, TDX or SNP */
    const char *attestation_key;  /* base64 DER SPKI (SIM), or NULL */
    const char *tcb_status;       /* hardware: the enrollment evidence's TCB status; NULL: "" */
    const char *agent_version;
    const char *cert_serial;
    const char *now; /* RFC 3339 */
    int64_t now_ms;
};

int store_node_insert(struct store *store, const struct node_new *node);

/* The wire status of a node from its stored state at now_ms. */
const char *node_status_at(const char *stored, int64_t last_seen_ms, int64_t refresh_seconds,
                           int64_t now_ms);

/* One node in its wire shape, its status computed at the current time; lock also locks the row
 * until commit. */
int store_node_get(struct store *store, const char *acct_id, const char *node_id, bool lock,
                   json_t **ret_node);

/* The sort keys of GET /v1/nodes. */
extern const struct list_sort store_node_sorts[];
/* GET /v1/nodes: a page of the account's nodes, optionally only those of zone_id and those whose
 * wire status is status (RUNNING, STOPPED or DEACTIVATED; NULL: any); all_search looks in name,
 * description, ipaddress and host_id. */
int store_node_list(struct store *store, const char *acct_id, const char *zone_id,
                    const char *status, const struct list_params *p, struct list_page *ret_page);

/* The nodes of every account by wire status at now_ms: one query. */
struct node_counts {
    int64_t running;
    int64_t stopped;
    int64_t deactivated;
};
int store_node_count_by_status(struct store *store, int64_t now_ms, struct node_counts *ret);

/* Rewrites name, description and labels (JSON object text) and updated_at. */
int store_node_update(struct store *store, const char *acct_id, const char *node_id,
                      const char *name, const char *description, const char *labels,
                      const char *now);

/* Marks the node DEACTIVATED: -ENOENT when it is not in the account, -EALREADY when it already
 * is. */
int store_node_deactivate(struct store *store, const char *acct_id, const char *node_id,
                          const char *now);

/* The node's new current certificate serial (after a renewal). */
int store_node_set_cert_serial(struct store *store, const char *acct_id, const char *node_id,
                               const char *serial_hex, const char *now);

/* What a check-in needs to know and answer. */
struct node_checkin {
    int64_t prev_seen_ms; /* last_seen_ms before this check-in */
    int64_t node_refresh_interval;
    int64_t node_renewal_threshold;
};

/* Records a check-in of node_id at now_ms (agent_version NULL: unchanged): one read of the node
 * and its zone, one update of the node. */
int store_node_checkin(struct store *store, const char *node_id, const char *agent_version,
                       int64_t now_ms, const char *now, struct node_checkin *ret);

/* The node's app instances after a check-in that listed instance_ids (n of them, lower-case
 * UUIDs): those listed are seen now (and no longer stopped), the others are stopped. One
 * statement whatever n is. */
int store_node_instances_seen(struct store *store, const char *node_id,
                              const char *const *instance_ids, size_t n, int64_t now_ms,
                              const char *now);

/* The node's app instances {instance_id, app_id, build_id, certificate_id, is_debug,
 * status{status, attested_at, status_updated_at}} (for GET /v1/nodes/{id}). */
int store_node_instances(struct store *store, const char *acct_id, const char *node_id,
                         json_t **ret_array);

/* The node's current certificate (its cert_serial) as {certificate_id, status, serial, subject,
 * certificate, valid_from, valid_until, revoked_at}. */
int store_node_certificate(struct store *store, const char *acct_id, const char *node_id,
                           json_t **ret_certificate);

/* What authenticating a call from node_id with the client certificate serial_hex needs, in one
 * read (api-node-auth.c): row columns acct_id, zone_id, status, name, the zone's issuing CA
 * certificate (PEM; NULL unless with_issuing_ca: a known connection checked it already) and
 * whether serial_hex is a current node certificate of the node (ISSUED, valid at now_ms: 1,
 * else 0). -ENOENT when there is no such node. */
int store_node_auth_get(struct store *store, const char *node_id, const char *serial_hex,
                        int64_t now_ms, bool with_issuing_ca, struct store_rows **ret_rows);
