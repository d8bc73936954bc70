#include "store-instances.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "crypto-util.h"
#include "store-certificates.h"
#include "store-nodes.h"

#define CERT_STATUS_EXPIRED "EXPIRED"

int
store_issuance_node_get(struct store *store, const char *acct_id, const char *node_id,
                        json_t **ret_node)
{
    return store_query_json_object(
        store,
        "SELECT n.status, n.attestation_type, n.attestation_key, z.trust_domain"
        " FROM nodes n JOIN zones z ON z.zone_id = n.zone_id"
        " WHERE n.acct_id = ? AND n.node_id = ?",
        STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(node_id)), ret_node);
}

int
store_issuance_account_get(struct store *store, const char *acct_id, json_t **ret_account)
{
    return store_query_json_object(store,
                                   "SELECT allow_simulation AS allow_simulation_bool,"
                                   " certificate_validity, renewal_threshold,"
                                   " attestation_policy AS attestation_policy_json"
                                   " FROM accounts WHERE acct_id = ?",
                                   STORE_ARGS(SV_TEXT(acct_id)), ret_account);
}

int
store_issuance_build_get(struct store *store, const char *acct_id, const char *mrenclave,
                         json_t **ret_build)
{
    return store_query_json_object(store,
                                   "SELECT build_id, app_id, status, platform, mrsigner,"
                                   " debug AS debug_bool, pending_task_id,"
                                   " tdx_identity AS tdx_json, snp_identity AS snp_json"
                                   " FROM builds WHERE acct_id = ? AND mrenclave = ?",
                                   STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(mrenclave)), ret_build);
}

int
store_nonce_check_unused(struct store *store, const char *nonce_id)
{
    int64_t count = 0;
    int r;

    r = store_query_int(store, "SELECT COUNT(*) FROM used_nonces WHERE nonce_id = ?",
                        STORE_ARGS(SV_TEXT(nonce_id)), &count);
    if (r < 0)
        return r;
    return count > 0 ? -EEXIST : 0;
}

int
store_nonce_consume(struct store *store, const char *nonce_id, int64_t expires_ms)
{
    /* Expired rows are deleted by the jobs process (jobs.c, every audit_checkpoint_interval):
     * a nonce past expiry fails its own check, so its row has nothing left to guard, and one
     * range delete there costs less than one here per issuance. */
    return store_exec(store, "INSERT INTO used_nonces (nonce_id, expires_ms) VALUES (?, ?)",
                      STORE_ARGS(SV_TEXT(nonce_id), SV_INT(expires_ms)), NULL);
}

int
store_instance_upsert(struct store *store, const struct instance_new *in, char ret_instance_id[37])
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    char instance_id[37];
    const char *kept;
    int r;

    /* The new id is used only when there is no instance yet. The account check keeps an update
     * within the caller's account (app ids are unique anyway): a mismatch returns no row. */
    r = uuid_random(instance_id);
    if (r >= 0)
        r = store_query_row(
            store,
            "INSERT INTO app_instances (instance_id, acct_id, app_id, build_id, node_id,"
            " certificate_id, is_debug, attested_at, last_seen_ms, status_updated_at, stopped)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)"
            " ON CONFLICT (app_id, node_id, build_id) DO UPDATE SET"
            " certificate_id = excluded.certificate_id, is_debug = excluded.is_debug,"
            " attested_at = excluded.attested_at, last_seen_ms = excluded.last_seen_ms,"
            " status_updated_at = excluded.status_updated_at, stopped = 0"
            " WHERE app_instances.acct_id = excluded.acct_id"
            " RETURNING instance_id",
            STORE_ARGS(SV_TEXT(instance_id), SV_TEXT(in->acct_id), SV_TEXT(in->app_id),
                       SV_TEXT(in->build_id), SV_TEXT(in->node_id), SV_TEXT(in->certificate_id),
                       SV_BOOL(in->is_debug), SV_TEXT(in->now), SV_INT(in->now_ms),
                       SV_TEXT(in->now)),
            &rows);
    if (r == -ENOENT)
        return -EPERM;
    if (r < 0)
        return r;
    kept = store_rows_text(rows, 0);
    if (!kept || strlen(kept) != 36)
        return -EIO;
    memcpy(ret_instance_id, kept, 37);
    return 0;
}

/* ---- deployments ---- */

const struct list_sort store_instance_sorts[] = {
    { "attested_at", "i.attested_at" },
    { NULL },
};

/* The status of an instance as store-nodes.c computes it (store-nodes.h): STOPPED when its node
 * stopped listing it or is deactivated, else RUNNING while seen recently. */
static int
instance_row_to_json(struct store_rows *rows, json_t **ret_instance)
{
    json_t *instance = NULL, *status;
    const char *state;
    int r;

    r = store_row_to_json(rows, &instance);
    if (r < 0)
        return r;
    state = json_integer_value(json_object_get(instance, "stored_stopped"))
                ? NODE_STATUS_STOPPED
                : node_status_at(
                      json_string_value(json_object_get(instance, "stored_node_status")) ?: "",
                      json_integer_value(json_object_get(instance, "stored_last_seen_ms")),
                      json_integer_value(json_object_get(instance, "stored_refresh")),
                      time_now_unix_ms());
    if (strcmp(state, NODE_STATUS_DEACTIVATED) == 0)
        state = NODE_STATUS_STOPPED;
    json_object_del(instance, "stored_stopped");
    json_object_del(instance, "stored_node_status");
    json_object_del(instance, "stored_last_seen_ms");
    json_object_del(instance, "stored_refresh");
    status = json_object_get(instance, "status");
    if (!status || json_object_set_new(status, "status", json_string(state)) < 0) {
        json_decref(instance);
        return -ENOMEM;
    }
    *ret_instance = instance;
    return 0;
}

#define INSTANCE_COLUMNS                                                                           \
    "SELECT i.instance_id, i.app_id, a.name AS app_name, i.build_id, i.node_id,"                   \
    " n.name AS node_name, i.certificate_id, i.is_debug AS is_debug_bool,"                         \
    " i.stopped AS stored_stopped, i.last_seen_ms AS stored_last_seen_ms,"                         \
    " z.node_refresh_interval AS stored_refresh, n.status AS stored_node_status,"                  \
    " i.attested_at AS \"status.attested_at\","                                                    \
    " i.status_updated_at AS \"status.status_updated_at\""
#define INSTANCE_FROM                                                                              \
    " FROM app_instances i JOIN apps a ON a.app_id = i.app_id"                                     \
    " JOIN nodes n ON n.node_id = i.node_id JOIN zones z ON z.zone_id = n.zone_id"

/* RUNNING in SQL, as instance_row_to_json computes it, at the bound now (ms). */
#define INSTANCE_RUNNING_SQL                                                                       \
    "(i.stopped = 0 AND n.status <> 'DEACTIVATED'"                                                 \
    " AND i.last_seen_ms >= CAST(? AS BIGINT) - " SEEN_WINDOW_SQL ")"

static const struct list_spec instance_list = {
    .select = INSTANCE_COLUMNS,
    .from = INSTANCE_FROM,
    .scope = "i.build_id = ?",
    .search = (const char *const[]){ "n.name", NULL },
    .sorts = store_instance_sorts,
    .tiebreak = "i.instance_id",
    .row_to_json = instance_row_to_json,
};

/* The whole account's rows also carry what a list of running apps shows beside each instance
 * (docs/api.md "GET /v1/instances"): its image and measurement, and its certificate's validity. */
#define ACCOUNT_INSTANCE_COLUMNS                                                                   \
    INSTANCE_COLUMNS ", b.docker_image_name AS \"build.docker_image_name\","                       \
                     " b.docker_version AS \"build.docker_version\","                              \
                     " b.mrenclave AS \"build.mrenclave\","                                        \
                     " c.status AS \"certificate.status\","                                        \
                     " c.valid_until AS \"certificate.valid_until\","                              \
                     " c.valid_until_ms AS stored_valid_until_ms"
#define ACCOUNT_INSTANCE_FROM                                                                      \
    INSTANCE_FROM " JOIN builds b ON b.build_id = i.build_id"                                      \
                  " LEFT JOIN certificates c ON c.certificate_id = i.certificate_id"

/* An account-wide row: the certificate EXPIRED once past valid_until (as GET /v1/certificates
 * says), null when the instance has none. */
static int
account_instance_row_to_json(struct store_rows *rows, json_t **ret_instance)
{
    json_t *instance = NULL, *cert;
    int64_t until;
    int r;

    r = instance_row_to_json(rows, &instance);
    if (r < 0)
        return r;
    until = json_integer_value(json_object_get(instance, "stored_valid_until_ms"));
    json_object_del(instance, "stored_valid_until_ms");
    cert = json_object_get(instance, "certificate");
    if (!json_is_string(json_object_get(cert, "status")))
        r = json_object_set_new(instance, "certificate", json_null());
    else if (strcmp(json_string_value(json_object_get(cert, "status")), CERT_STATUS_ISSUED) == 0 &&
             until <= time_now_unix_ms())
        r = json_object_set_new(cert, "status", json_string(CERT_STATUS_EXPIRED));
    if (r < 0) {
        json_decref(instance);
        return -ENOMEM;
    }
    *ret_instance = instance;
    return 0;
}

/* The whole account (the app_instances_by_account index). */
static const struct list_spec account_instance_list = {
    .select = ACCOUNT_INSTANCE_COLUMNS,
    .from = ACCOUNT_INSTANCE_FROM,
    .scope = "i.acct_id = ?",
    .search = (const char *const[]){ "n.name", "a.name", NULL },
    .sorts = store_instance_sorts,
    .tiebreak = "i.instance_id",
    .row_to_json = account_instance_row_to_json,
};

int
store_instance_list_by_build(struct store *store, const char *acct_id, const char *build_id,
                             const struct list_params *p, struct list_page *ret_page)
{
    int64_t count = 0;
    int r;

    r = store_query_int(store, "SELECT COUNT(*) FROM builds WHERE acct_id = ? AND build_id = ?",
                        STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(build_id)), &count);
    if (r < 0)
        return r;
    if (count == 0)
        return -ENOENT;
    return store_list(store, &instance_list, build_id, LIST_NO_FILTERS, p, ret_page);
}

int
store_instance_list(struct store *store, const char *acct_id, const struct instance_filters *f,
                    int64_t now_ms, const struct list_params *p, struct list_page *ret_page)
{
    const char *status_sql = NULL;
    char now_text[24];

    snprintf(now_text, sizeof(now_text), "%lld", (long long)now_ms);
    if (f->status && strcmp(f->status, NODE_STATUS_RUNNING) == 0)
        status_sql = INSTANCE_RUNNING_SQL;
    else if (f->status && strcmp(f->status, NODE_STATUS_STOPPED) == 0)
        status_sql = "NOT " INSTANCE_RUNNING_SQL;
    return store_list(store, &account_instance_list, acct_id,
                      LIST_FILTERS({ "i.app_id = ?", f->app_id }, { "i.build_id = ?", f->build_id },
                                   { "i.node_id = ?", f->node_id },
                                   { status_sql ?: "1 = 1", status_sql ? now_text : NULL }),
                      p, ret_page);
}

/* ---- certificates, read side ---- */

#define CERT_COLUMNS                                                                               \
    "SELECT c.certificate_id, c.zone_id, c.kind, c.status, c.serial, c.subject,"                   \
    " c.dns_names AS dns_names_json, c.valid_from, c.valid_until, c.valid_until_ms, c.app_id,"     \
    " c.build_id, c.node_id, c.instance_id, c.claims AS claims_json, c.revoked_at,"                \
    " c.revocation_reason, c.created_at"
#define CERT_FROM " FROM certificates c"

const struct list_sort store_cert_record_sorts[] = {
    { "created_at", "c.created_at" },
    { "valid_until", "c.valid_until" },
    { NULL },
};

/* The row with status EXPIRED for an ISSUED certificate past its validity. */
static int
cert_row_at(struct store_rows *rows, int64_t now_ms, json_t **ret_cert)
{
    json_t *cert = NULL;
    json_t *until;
    int r;

    r = store_row_to_json(rows, &cert);
    if (r < 0)
        return r;
    until = json_object_get(cert, "valid_until_ms");
    if (strcmp(json_string_value(json_object_get(cert, "status")) ?: "", CERT_STATUS_ISSUED) == 0 &&
        json_integer_value(until) <= now_ms &&
        json_object_set_new(cert, "status", json_string(CERT_STATUS_EXPIRED)) < 0) {
        json_decref(cert);
        return -ENOMEM;
    }
    json_object_del(cert, "valid_until_ms");
    *ret_cert = cert;
    return 0;
}

static int
cert_row_now(struct store_rows *rows, json_t **ret_cert)
{
    return cert_row_at(rows, time_now_unix_ms(), ret_cert);
}

static const struct list_spec cert_list = {
    .select = CERT_COLUMNS,
    .from = CERT_FROM,
    .scope = "c.acct_id = ?",
    .search = (const char *const[]){ "c.subject", "c.serial", "c.dns_names", NULL },
    .sorts = store_cert_record_sorts,
    .tiebreak = "c.certificate_id",
    .row_to_json = cert_row_now,
};

int
store_cert_record_list(struct store *store, const char *acct_id,
                       const struct cert_record_filters *f, int64_t now_ms,
                       const struct list_params *p, struct list_page *ret_page)
{
    const char *status_sql = "c.status = ?", *status_value = f->status;
    char now_text[24];

    snprintf(now_text, sizeof(now_text), "%lld", (long long)now_ms);
    if (f->status && strcmp(f->status, CERT_STATUS_EXPIRED) == 0) {
        status_sql = "c.status = 'ISSUED' AND c.valid_until_ms <= CAST(? AS BIGINT)";
        status_value = now_text;
    } else if (f->status && strcmp(f->status, CERT_STATUS_ISSUED) == 0) {
        status_sql = "c.status = 'ISSUED' AND c.valid_until_ms > CAST(? AS BIGINT)";
        status_value = now_text;
    }
    return store_list(store, &cert_list, acct_id,
                      LIST_FILTERS({ "c.app_id = ?", f->app_id }, { "c.node_id = ?", f->node_id },
                                   { status_sql, status_value }, { "c.kind = ?", f->kind }),
                      p, ret_page);
}

static int
cert_query_one(struct store *store, const char *where, const struct store_value *args,
               size_t n_args, int64_t now_ms, json_t **ret_cert)
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    char sql[1024];
    int r;

    snprintf(sql, sizeof(sql), "%s, c.csr, c.certificate%s%s", CERT_COLUMNS, CERT_FROM, where);
    r = store_query_row(store, sql, args, n_args, &rows);
    if (r < 0)
        return r;
    return cert_row_at(rows, now_ms, ret_cert);
}

int
store_cert_record_get(struct store *store, const char *acct_id, const char *certificate_id,
                      int64_t now_ms, json_t **ret_cert)
{
    return cert_query_one(store, " WHERE c.acct_id = ? AND c.certificate_id = ?",
                          STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(certificate_id)), now_ms, ret_cert);
}

int
store_cert_record_of_instance(struct store *store, const char *acct_id, const char *app_id,
                              const char *node_id, int64_t now_ms, json_t **ret_cert)
{
    return cert_query_one(store,
                          " JOIN app_instances i ON i.certificate_id = c.certificate_id"
                          " WHERE i.acct_id = ? AND i.app_id = ? AND i.node_id = ?"
                          " ORDER BY i.attested_at DESC, i.instance_id LIMIT 1",
                          STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(app_id), SV_TEXT(node_id)), now_ms,
                          ret_cert);
}

int
store_cert_record_of_node(struct store *store, const char *acct_id, const char *node_id,
                          const char *certificate_id)
{
    int64_t count = 0;
    int r;

    r = store_query_int(store,
                        "SELECT COUNT(*) FROM certificates"
                        " WHERE acct_id = ? AND node_id = ? AND certificate_id = ?",
                        STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(node_id), SV_TEXT(certificate_id)),
                        &count);
    if (r < 0)
        return r;
    return count > 0 ? 0 : -ENOENT;
}
