/* Conversion jobs in the store (store-conversions.h). */
#include "store-conversions.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "store-tool-conversions.h"

int
store_conversion_insert(struct store *store, const struct conversion_new *j)
{
    return store_exec(
        store,
        "INSERT INTO conversion_jobs (build_id, acct_id, requester_id, requester_email,"
        " requester_name, input_image, output_image, input_username, input_password_sealed,"
        " output_username, output_password_sealed, settings, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        STORE_ARGS(SV_TEXT(j->build_id), SV_TEXT(j->acct_id), SV_TEXT(j->requester_id),
                   SV_TEXT(j->requester_email), SV_TEXT(j->requester_name), SV_TEXT(j->input_image),
                   SV_TEXT(j->output_image), SV_TEXT(j->input_username),
                   SV_TEXT(j->input_password_sealed), SV_TEXT(j->output_username),
                   SV_TEXT(j->output_password_sealed), SV_TEXT(j->settings), SV_TEXT(j->now)),
        NULL);
}

/* Where jobs wait: the build conversions' table, then the stand-alone conversions' (whose rows
 * stay after the job ends, so only those still CONVERTING are jobs). */
struct job_table {
    const char *table, *id_column, *condition;
};

static const struct job_table job_tables[] = {
    { "conversion_jobs", "build_id", "" },
    { "tool_conversions", "conversion_id", " AND status = 'CONVERTING'" },
};

static int
claim_in_txn(struct store *store, const struct job_table *t, int64_t now_ms, int64_t lease_until_ms,
             json_t **ret_job)
{
    _cleanup_free_ char *sql = NULL, *update = NULL;
    json_t *job = NULL;
    const char *id;
    int r;

    /* SKIP LOCKED: another replica's runner, taking a job at the same moment, takes another. */
    if (asprintf(&sql,
                 "SELECT * FROM %s WHERE lease_until_ms < ?%s"
                 " ORDER BY lease_until_ms, created_at LIMIT 1%s%s",
                 t->table, t->condition, store->ops->for_update,
                 *store->ops->for_update ? " SKIP LOCKED" : "") < 0 ||
        asprintf(&update, "UPDATE %s SET lease_until_ms = ?, attempts = attempts + 1 WHERE %s = ?",
                 t->table, t->id_column) < 0)
        return -ENOMEM;
    r = store_query_json_object(store, sql, STORE_ARGS(SV_INT(now_ms)), &job);
    if (r == -ENOENT) {
        *ret_job = NULL;
        return 0;
    }
    if (r < 0)
        return r;
    id = json_string_value(json_object_get(job, t->id_column));
    r = store_exec_one(store, update, STORE_ARGS(SV_INT(lease_until_ms), SV_TEXT(id)));
    if (r == 0)
        r = json_object_set_new(
            job, "attempts",
            json_integer(json_integer_value(json_object_get(job, "attempts")) + 1));
    if (r < 0) {
        json_decref(job);
        return r;
    }
    *ret_job = job;
    return 0;
}

int
store_conversion_claim(struct store *store, int64_t now_ms, int64_t lease_until_ms,
                       json_t **ret_job)
{
    int r = store_begin(store, STORE_TXN_WRITE);

    if (r < 0)
        return r;
    *ret_job = NULL;
    for (size_t i = 0; r == 0 && !*ret_job && i < ELEMENTSOF(job_tables); i++)
        r = claim_in_txn(store, &job_tables[i], now_ms, lease_until_ms, ret_job);
    if (r == 0)
        r = store_commit(store);
    else
        store_rollback(store);
    if (r < 0 && *ret_job) {
        json_decref(*ret_job);
        *ret_job = NULL;
    }
    return r;
}

int
store_conversion_progress(struct store *store, const char *build_id, int64_t attempt,
                          int64_t lease_until_ms, int progress, const char *log, const char *now)
{
    int r = store_begin(store, STORE_TXN_WRITE);

    if (r < 0)
        return r;
    r = store_exec_one(store,
                       "UPDATE conversion_jobs SET lease_until_ms = ?"
                       " WHERE build_id = ? AND attempts = ?",
                       STORE_ARGS(SV_INT(lease_until_ms), SV_TEXT(build_id), SV_INT(attempt)));
    if (r == 0)
        r = store_exec(store,
                       "UPDATE builds SET progress = ?, conversion_log = ?, status_updated_at = ?"
                       " WHERE build_id = ?",
                       STORE_ARGS(SV_INT(progress), SV_TEXT(log), SV_TEXT(now), SV_TEXT(build_id)),
                       NULL);
    if (r == 0)
        return store_commit(store);
    store_rollback(store);
    return r;
}

static int
hold_in(struct store *store, const struct job_table *t, const char *id, int64_t attempt)
{
    _cleanup_free_ char *sql = NULL;
    int64_t attempts = 0;
    int r;

    if (asprintf(&sql, "SELECT attempts FROM %s WHERE %s = ?%s%s", t->table, t->id_column,
                 t->condition, store->ops->for_update) < 0)
        return -ENOMEM;
    r = store_query_int(store, sql, STORE_ARGS(SV_TEXT(id)), &attempts);
    if (r < 0)
        return r;
    return attempts == attempt ? 0 : -ESTALE;
}

int
store_conversion_hold(struct store *store, const char *build_id, int64_t attempt)
{
    return hold_in(store, &job_tables[0], build_id, attempt);
}

int
store_tool_conversion_hold(struct store *store, const char *id, int64_t attempt)
{
    return hold_in(store, &job_tables[1], id, attempt);
}

int
store_conversion_succeed(struct store *store, const char *build_id, const char *mrenclave,
                         const char *mrsigner, int64_t isvprodid, int64_t isvsvn,
                         const char *image_sha, int64_t image_size, const char *log,
                         const char *now)
{
    int64_t taken = 0;
    int r;

    /* Checked first (the caller holds the account's lock): on PostgreSQL a failed UPDATE would
     * abort the transaction that must still record the failure. */
    r = store_query_int(store,
                        "SELECT COUNT(*) FROM builds WHERE mrenclave = ? AND build_id <> ?"
                        " AND acct_id = (SELECT acct_id FROM builds WHERE build_id = ?)",
                        STORE_ARGS(SV_TEXT(mrenclave), SV_TEXT(build_id), SV_TEXT(build_id)),
                        &taken);
    if (r < 0)
        return r;
    if (taken > 0)
        return -EEXIST;
    return store_exec_one(
        store,
        "UPDATE builds SET mrenclave = ?, mrsigner = ?, isvprodid = ?, isvsvn = ?,"
        " docker_image_sha = ?, docker_image_size = ?, status = 'PENDING', status_updated_at = ?,"
        " progress = 100, conversion_log = ? WHERE build_id = ? AND status = 'CONVERTING'",
        STORE_ARGS(SV_TEXT(mrenclave), SV_TEXT(mrsigner), SV_INT(isvprodid), SV_INT(isvsvn),
                   SV_TEXT(image_sha), SV_INT(image_size), SV_TEXT(now), SV_TEXT(log),
                   SV_TEXT(build_id)));
}

int
store_conversion_fail(struct store *store, const char *build_id, const char *log, const char *now)
{
    return store_exec_one(store,
                          "UPDATE builds SET status = 'FAILED', status_updated_at = ?,"
                          " conversion_log = ? WHERE build_id = ? AND status = 'CONVERTING'",
                          STORE_ARGS(SV_TEXT(now), SV_TEXT(log), SV_TEXT(build_id)));
}

int
store_conversion_delete(struct store *store, const char *build_id)
{
    return store_exec(store, "DELETE FROM conversion_jobs WHERE build_id = ?",
                      STORE_ARGS(SV_TEXT(build_id)), NULL);
}
