#include "store-nodes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "crypto-util.h"
#include "store-certificates.h"

/* Columns named stored_* feed the computed status and are dropped from the wire object. */
#define NODE_COLUMNS                                                                               \
    "SELECT n.node_id, n.acct_id, n.zone_id, n.name, n.description, n.ipaddress, n.host_id,"       \
    " n.attestation_type, n.tcb_status, n.agent_version, n.labels AS labels_json,"                 \
    " n.status AS stored_status, n.last_seen_ms AS stored_last_seen_ms,"                           \
    " z.node_refresh_interval AS stored_refresh, n.last_seen_at AS \"status.last_seen_at\","       \
    " n.cert_serial, n.created_at, n.updated_at"
#define NODE_FROM " FROM nodes n JOIN zones z ON z.zone_id = n.zone_id"

#define NODE_SQL_MAX 2048

int
store_node_insert(struct store *store, const struct node_new *n)
{
    return store_exec(
        store,
        "INSERT INTO nodes (node_id, acct_id, zone_id, name, description, ipaddress, host_id,"
        " attestation_type, attestation_key, tcb_status, agent_version, status, cert_serial,"
        " last_seen_ms, last_seen_at, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        STORE_ARGS(SV_TEXT(n->node_id), SV_TEXT(n->acct_id), SV_TEXT(n->zone_id), SV_TEXT(n->name),
                   SV_TEXT(n->description ? n->description : ""), SV_TEXT(n->ipaddress),
                   SV_TEXT(n->host_id ? n->host_id : ""), SV_TEXT(n->attestation_type),
                   SV_TEXT(n->attestation_key), SV_TEXT(n->tcb_status ? n->tcb_status : ""),
                   SV_TEXT(n->agent_version ? n->agent_version : ""), SV_TEXT(NODE_STATUS_ACTIVE),
                   SV_TEXT(n->cert_serial), SV_INT(n->now_ms), SV_TEXT(n->now), SV_TEXT(n->now),
                   SV_TEXT(n->now)),
        NULL);
}

const char *
node_status_at(const char *stored, int64_t last_seen_ms, int64_t refresh_seconds, int64_t now_ms)
{
    if (strcmp(stored, NODE_STATUS_DEACTIVATED) == 0)
        return NODE_STATUS_DEACTIVATED;
    if (last_seen_ms >= now_ms - NODE_MISSED_CHECKINS * 1000 * refresh_seconds)
        return NODE_STATUS_RUNNING;
    return NODE_STATUS_STOPPED;
}

/* Takes the stored_* members out of object and returns them. */
static int64_t
take_int(json_t *object, const char *key)
{
    int64_t v = json_integer_value(json_object_get(object, key));

    json_object_del(object, key);
    return v;
}

static int
node_row_to_json(struct store_rows *rows, json_t **ret_node)
{
    _cleanup_(json_decrefp) json_t *node = NULL;
    int64_t last_seen, refresh;
    json_t *status;
    const char *state;
    int r;

    r = store_row_to_json(rows, &node);
    if (r < 0)
        return r;
    last_seen = take_int(node, "stored_last_seen_ms");
    refresh = take_int(node, "stored_refresh");
    state = node_status_at(json_string_value(json_object_get(node, "stored_status")) ?: "",
                           last_seen, refresh, time_now_unix_ms());
    json_object_del(node, "stored_status");
    status = json_object_get(node, "status");
    if (!status || json_object_set_new(status, "status", json_string(state)) < 0)
        return -ENOMEM;
    *ret_node = TAKE_PTR(node);
    return 0;
}

int
store_node_get(struct store *store, const char *acct_id, const char *node_id, bool lock,
               json_t **ret_node)
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    char sql[NODE_SQL_MAX];
    int r;

    snprintf(sql, sizeof(sql), NODE_COLUMNS NODE_FROM " WHERE n.node_id = ? AND n.acct_id = ? %s",
             lock && store->ops->for_update ? store->ops->for_update : "");
    r = store_query_row(store, sql, STORE_ARGS(SV_TEXT(node_id), SV_TEXT(acct_id)), &rows);
    if (r < 0)
        return r;
    return node_row_to_json(rows, ret_node);
}

const struct list_sort store_node_sorts[] = {
    { "name", "lower(n.name)" },
    { "created_at", "n.created_at" },
    { "last_seen_at", "n.last_seen_ms" },
    { NULL },
};

static const struct list_spec node_list = {
    .select = NODE_COLUMNS,
    .from = NODE_FROM,
    .scope = "n.acct_id = ?",
    .search = (const char *const[]){ "n.name", "n.description", "n.ipaddress", "n.host_id", NULL },
    .sorts = store_node_sorts,
    .tiebreak = "n.node_id",
    .row_to_json = node_row_to_json,
};

int
store_node_list(struct store *store, const char *acct_id, const char *zone_id, const char *status,
                const struct list_params *p, struct list_page *ret_page)
{
    char now_ms[32];
    bool running = status && strcmp(status, NODE_STATUS_RUNNING) == 0;
    bool stopped = status && strcmp(status, NODE_STATUS_STOPPED) == 0;
    bool deactivated = status && strcmp(status, NODE_STATUS_DEACTIVATED) == 0;

    /* The status filter compares with now, bound like every other filter value (as text). */
    snprintf(now_ms, sizeof(now_ms), "%lld", (long long)time_now_unix_ms());
    return store_list(store, &node_list, acct_id,
                      LIST_FILTERS({ "n.zone_id = ?", zone_id },
                                   { "n.status = ?", deactivated ? NODE_STATUS_DEACTIVATED : NULL },
                                   { "n.status = 'ACTIVE' AND n.last_seen_ms >= CAST(? AS BIGINT)"
                                     " - " SEEN_WINDOW_SQL,
                                     running ? now_ms : NULL },
                                   { "n.status = 'ACTIVE' AND n.last_seen_ms < CAST(? AS BIGINT)"
                                     " - " SEEN_WINDOW_SQL,
                                     stopped ? now_ms : NULL }),
                      p, ret_page);
}

int
store_node_count_by_status(struct store *store, int64_t now_ms, struct node_counts *ret)
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    int r;

    /* The SUMs are NULL over no rows. */
    r = store_query_row(store,
                        "SELECT COUNT(*),"
                        " COALESCE(SUM(CASE WHEN n.status = 'DEACTIVATED' THEN 1 ELSE 0 END), 0),"
                        " COALESCE(SUM(CASE WHEN n.status <> 'DEACTIVATED' AND n.last_seen_ms >="
                        " CAST(? AS BIGINT) - " SEEN_WINDOW_SQL " THEN 1 ELSE 0 END), 0)" NODE_FROM,
                        STORE_ARGS(SV_INT(now_ms)), &rows);
    if (r < 0)
        return r;
    *ret = (struct node_counts){
        .deactivated = store_rows_int(rows, 1),
        .running = store_rows_int(rows, 2),
    };
    ret->stopped = store_rows_int(rows, 0) - ret->deactivated - ret->running;
    return 0;
}

int
store_node_update(struct store *store, const char *acct_id, const char *node_id, const char *name,
                  const char *description, const char *labels, const char *now)
{
    return store_exec_one(store,
                          "UPDATE nodes SET name = ?, description = ?, labels = ?, updated_at = ?"
                          " WHERE node_id = ? AND acct_id = ?",
                          STORE_ARGS(SV_TEXT(name), SV_TEXT(description), SV_TEXT(labels),
                                     SV_TEXT(now), SV_TEXT(node_id), SV_TEXT(acct_id)));
}

int
store_node_deactivate(struct store *store, const char *acct_id, const char *node_id,
                      const char *now)
{
    int64_t changes = 0;
    int r;

    r = store_exec(store,
                   "UPDATE nodes SET status = ?, updated_at = ?"
                   " WHERE node_id = ? AND acct_id = ? AND status <> ?",
                   STORE_ARGS(SV_TEXT(NODE_STATUS_DEACTIVATED), SV_TEXT(now), SV_TEXT(node_id),
                              SV_TEXT(acct_id), SV_TEXT(NODE_STATUS_DEACTIVATED)),
                   &changes);
    if (r < 0 || changes == 1)
        return r;
    r = store_query_int(store, "SELECT COUNT(*) FROM nodes WHERE node_id = ? AND acct_id = ?",
                        STORE_ARGS(SV_TEXT(node_id), SV_TEXT(acct_id)), &changes);
    if (r < 0)
        return r;
    return changes == 0 ? -ENOENT : -EALREADY;
}

int
store_node_set_cert_serial(struct store *store, const char *acct_id, const char *node_id,
                           const char *serial_hex, const char *now)
{
    return store_exec_one(
        store, "UPDATE nodes SET cert_serial = ?, updated_at = ? WHERE node_id = ? AND acct_id = ?",
        STORE_ARGS(SV_TEXT(serial_hex), SV_TEXT(now), SV_TEXT(node_id), SV_TEXT(acct_id)));
}

int
store_node_checkin(struct store *store, const char *node_id, const char *agent_version,
                   int64_t now_ms, const char *now, struct node_checkin *ret)
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    struct node_checkin c;
    int r;

    r = store_query_row(store,
                        "SELECT n.last_seen_ms, z.node_refresh_interval, z.node_renewal_threshold"
                        " FROM nodes n JOIN zones z ON z.zone_id = n.zone_id WHERE n.node_id = ?",
                        STORE_ARGS(SV_TEXT(node_id)), &rows);
    if (r < 0)
        return r;
    c = (struct node_checkin){
        .prev_seen_ms = store_rows_int(rows, 0),
        .node_refresh_interval = store_rows_int(rows, 1),
        .node_renewal_threshold = store_rows_int(rows, 2),
    };
    r = store_exec_one(
        store,
        "UPDATE nodes SET last_seen_ms = ?, last_seen_at = ?,"
        " agent_version = COALESCE(?, agent_version) WHERE node_id = ?",
        STORE_ARGS(SV_INT(now_ms), SV_TEXT(now), SV_TEXT(agent_version), SV_TEXT(node_id)));
    if (r < 0)
        return r;
    *ret = c;
    return 0;
}

/* "id,id,...": the listed ids as one bound value. A canonical UUID has no ',' so it occurs in
 * the list exactly when it is one of its items. */
static int
join_ids(const char *const *ids, size_t n, char **ret_list)
{
    char *list = malloc(n * 37 + 1), *p = list;

    if (!list)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!is_uuid(ids[i])) {
            free(list);
            return -EINVAL;
        }
        memcpy(p, ids[i], 36);
        p[36] = ',';
        p += 37;
    }
    *p = '\0';
    *ret_list = list;
    return 0;
}

/* Whether the row's instance is in the list bound for '?': portable SQL (SQLite and PostgreSQL)
 * with a fixed text, so the statement is prepared once however many instances a check-in lists
 * (their ids bound one by one would pass the backends' limit on arguments). The node_id index
 * narrows the rows first. */
#define LISTED "(? LIKE '%' || instance_id || '%')"

int
store_node_instances_seen(struct store *store, const char *node_id, const char *const *instance_ids,
                          size_t n, int64_t now_ms, const char *now)
{
    _cleanup_free_ char *list = NULL;
    int r;

    if (n == 0)
        return store_exec(store,
                          "UPDATE app_instances SET stopped = 1, status_updated_at = ?"
                          " WHERE node_id = ? AND stopped = 0",
                          STORE_ARGS(SV_TEXT(now), SV_TEXT(node_id)), NULL);
    if (n > NODE_INSTANCES_MAX)
        return -E2BIG;
    r = join_ids(instance_ids, n, &list);
    if (r < 0)
        return r;
    /* Every SET expression reads the row as it was before the statement. */
    return store_exec(store,
                      "UPDATE app_instances SET"
                      " status_updated_at = CASE WHEN stopped = (CASE WHEN " LISTED
                      " THEN 0 ELSE 1 END) THEN status_updated_at ELSE ? END,"
                      " last_seen_ms = CASE WHEN " LISTED " THEN ? ELSE last_seen_ms END,"
                      " stopped = CASE WHEN " LISTED " THEN 0 ELSE 1 END"
                      " WHERE node_id = ? AND (stopped = 0 OR " LISTED ")",
                      STORE_ARGS(SV_TEXT(list), SV_TEXT(now), SV_TEXT(list), SV_INT(now_ms),
                                 SV_TEXT(list), SV_TEXT(node_id), SV_TEXT(list)),
                      NULL);
}

static int
instance_row_to_json(struct store_rows *rows, json_t **ret_instance)
{
    _cleanup_(json_decrefp) json_t *instance = NULL;
    int64_t last_seen, refresh, stopped;
    const char *node_state, *state;
    json_t *status;
    int r;

    r = store_row_to_json(rows, &instance);
    if (r < 0)
        return r;
    last_seen = take_int(instance, "stored_last_seen_ms");
    refresh = take_int(instance, "stored_refresh");
    stopped = take_int(instance, "stored_stopped");
    node_state = json_string_value(json_object_get(instance, "stored_node_status")) ?: "";
    state = stopped ? NODE_STATUS_STOPPED
                    : node_status_at(node_state, last_seen, refresh, time_now_unix_ms());
    if (strcmp(state, NODE_STATUS_DEACTIVATED) == 0)
        state = NODE_STATUS_STOPPED;
    json_object_del(instance, "stored_node_status");
    status = json_object_get(instance, "status");
    if (!status || json_object_set_new(status, "status", json_string(state)) < 0)
        return -ENOMEM;
    *ret_instance = TAKE_PTR(instance);
    return 0;
}

int
store_node_instances(struct store *store, const char *acct_id, const char *node_id,
                     json_t **ret_array)
{
    return store_query_json_rows(
        store,
        "SELECT i.instance_id, i.app_id, i.build_id, i.certificate_id, i.is_debug AS is_debug_bool,"
        " i.stopped AS stored_stopped, i.last_seen_ms AS stored_last_seen_ms,"
        " z.node_refresh_interval AS stored_refresh, n.status AS stored_node_status,"
        " i.attested_at AS \"status.attested_at\","
        " i.status_updated_at AS \"status.status_updated_at\""
        " FROM app_instances i JOIN nodes n ON n.node_id = i.node_id"
        " JOIN zones z ON z.zone_id = n.zone_id"
        " WHERE i.node_id = ? AND i.acct_id = ? ORDER BY i.attested_at, i.instance_id",
        STORE_ARGS(SV_TEXT(node_id), SV_TEXT(acct_id)), instance_row_to_json, ret_array);
}

int
store_node_certificate(struct store *store, const char *acct_id, const char *node_id,
                       json_t **ret_certificate)
{
    return store_query_json_object(
        store,
        "SELECT c.certificate_id, c.status, c.serial, c.subject, c.certificate, c.valid_from,"
        " c.valid_until, c.revoked_at FROM nodes n JOIN certificates c ON c.node_id = n.node_id"
        " AND c.zone_id = n.zone_id AND c.serial = n.cert_serial"
        " WHERE n.node_id = ? AND n.acct_id = ? AND c.kind = 'NODE'",
        STORE_ARGS(SV_TEXT(node_id), SV_TEXT(acct_id)), ret_certificate);
}

int
store_node_auth_get(struct store *store, const char *node_id, const char *serial_hex,
                    int64_t now_ms, bool with_issuing_ca, struct store_rows **ret_rows)
{
    return store_query_row(
        store,
        with_issuing_ca
            ? "SELECT n.acct_id, n.zone_id, n.status, n.name, z.issuing_cert_pem, CASE WHEN EXISTS "
              "("
              " SELECT 1 FROM certificates c WHERE c.zone_id = n.zone_id AND c.serial = ? AND"
              " c.kind = ? AND c.node_id = n.node_id AND c.status = ? AND c.valid_until_ms > ?) "
              "THEN 1 ELSE 0 END"
              " FROM nodes n JOIN zones z ON z.zone_id = n.zone_id WHERE n.node_id = ?"
            : "SELECT n.acct_id, n.zone_id, n.status, n.name, NULL, CASE WHEN EXISTS ("
              " SELECT 1 FROM certificates c WHERE c.zone_id = n.zone_id AND c.serial = ? AND"
              " c.kind = ? AND c.node_id = n.node_id AND c.status = ? AND c.valid_until_ms > ?) "
              "THEN 1 ELSE 0 END"
              " FROM nodes n WHERE n.node_id = ?",
        STORE_ARGS(SV_TEXT(serial_hex), SV_TEXT(CERT_KIND_NODE), SV_TEXT(CERT_STATUS_ISSUED),
                   SV_INT(now_ms), SV_TEXT(node_id)),
        ret_rows);
}
