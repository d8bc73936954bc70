#include "store-apps.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

/* The wire shape comes from the column names: "_json" columns hold JSON text (store.h). */
#define APP_COLUMNS                                                                                \
    "SELECT app_id, acct_id, name, description, input_image_name, output_image_name,"              \
    " isvprodid, isvsvn, mem_size, threads, allowed_domains AS allowed_domains_json,"              \
    " whitelisted_domains AS whitelisted_domains_json, pending_task_id, labels AS labels_json,"    \
    " advanced_settings AS advanced_settings_json,"                                                \
    " attestation_policy AS attestation_policy_json, created_at, updated_at"

#define APP_SQL_MAX 2048
#define DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)

/* The values of a statement writing an app: the writable columns, then the row's key, in the
 * order the INSERT and UPDATE statements below name them. */
enum {
    COL_NAME,
    COL_DESCRIPTION,
    COL_INPUT_IMAGE,
    COL_OUTPUT_IMAGE,
    COL_ISVPRODID,
    COL_ISVSVN,
    COL_MEM_SIZE,
    COL_THREADS,
    COL_ALLOWED,
    COL_WHITELISTED,
    COL_PENDING_TASK,
    COL_LABELS,
    COL_ADVANCED,
    COL_POLICY,
    COL_UPDATED_AT,
    COL_APP_ID,
    COL_ACCT_ID,
    N_VALUES,
};

/* The JSON columns of one app serialised for a statement. */
struct app_texts {
    char *allowed, *whitelisted, *labels, *advanced, *policy;
};

static void
app_texts_release(struct app_texts *t)
{
    free(t->allowed);
    free(t->whitelisted);
    free(t->labels);
    free(t->advanced);
    free(t->policy);
}

static const char *
field_text(const json_t *app, const char *key)
{
    return json_string_value(json_object_get(app, key));
}

static int64_t
field_int(const json_t *app, const char *key)
{
    return json_integer_value(json_object_get(app, key));
}

/* Fills values[N_VALUES]; the texts it points at live in t. */
static int
app_values(const char *acct_id, const json_t *app, struct app_texts *t,
           struct store_value values[N_VALUES])
{
    t->allowed = json_dumps(json_object_get(app, "allowed_domains"), DUMP_FLAGS);
    t->whitelisted = json_dumps(json_object_get(app, "whitelisted_domains"), DUMP_FLAGS);
    t->labels = json_dumps(json_object_get(app, "labels"), DUMP_FLAGS);
    t->advanced = json_dumps(json_object_get(app, "advanced_settings"), DUMP_FLAGS);
    t->policy = json_dumps(json_object_get(app, "attestation_policy"), DUMP_FLAGS);
    if (!t->allowed || !t->whitelisted || !t->labels || !t->advanced || !t->policy)
        return -EINVAL; /* a field missing (a bug of the caller) or out of memory */

    values[COL_NAME] = SV_TEXT(field_text(app, "name"));
    values[COL_DESCRIPTION] = SV_TEXT(field_text(app, "description"));
    values[COL_INPUT_IMAGE] = SV_TEXT(field_text(app, "input_image_name"));
    values[COL_OUTPUT_IMAGE] = SV_TEXT(field_text(app, "output_image_name"));
    values[COL_ISVPRODID] = SV_INT(field_int(app, "isvprodid"));
    values[COL_ISVSVN] = SV_INT(field_int(app, "isvsvn"));
    values[COL_MEM_SIZE] = SV_INT(field_int(app, "mem_size"));
    values[COL_THREADS] = SV_INT(field_int(app, "threads"));
    values[COL_ALLOWED] = SV_TEXT(t->allowed);
    values[COL_WHITELISTED] = SV_TEXT(t->whitelisted);
    values[COL_PENDING_TASK] = SV_TEXT(field_text(app, "pending_task_id"));
    values[COL_LABELS] = SV_TEXT(t->labels);
    values[COL_ADVANCED] = SV_TEXT(t->advanced);
    values[COL_POLICY] = SV_TEXT(t->policy);
    values[COL_UPDATED_AT] = SV_TEXT(field_text(app, "updated_at"));
    values[COL_APP_ID] = SV_TEXT(field_text(app, "app_id"));
    values[COL_ACCT_ID] = SV_TEXT(acct_id);
    return 0;
}

int
store_app_insert(struct store *store, const char *acct_id, const json_t *app)
{
    _cleanup_(app_texts_release) struct app_texts t = { 0 };
    struct store_value values[N_VALUES + 1];
    int r;

    r = app_values(acct_id, app, &t, values);
    if (r < 0)
        return r;
    values[N_VALUES] = SV_TEXT(field_text(app, "created_at"));
    return store_exec(store,
                      "INSERT INTO apps (name, description, input_image_name, output_image_name,"
                      " isvprodid, isvsvn, mem_size, threads, allowed_domains,"
                      " whitelisted_domains, pending_task_id, labels, advanced_settings,"
                      " attestation_policy, updated_at, app_id, acct_id, created_at)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      values, ELEMENTSOF(values), NULL);
}

int
store_app_get(struct store *store, const char *acct_id, const char *app_id, bool lock,
              json_t **ret_app)
{
    char sql[APP_SQL_MAX];

    snprintf(sql, sizeof(sql), APP_COLUMNS " FROM apps WHERE app_id = ? AND acct_id = ? %s",
             lock && store->ops->for_update ? store->ops->for_update : "");
    return store_query_json_object(store, sql, STORE_ARGS(SV_TEXT(app_id), SV_TEXT(acct_id)),
                                   ret_app);
}

int
store_app_update(struct store *store, const char *acct_id, const json_t *app)
{
    _cleanup_(app_texts_release) struct app_texts t = { 0 };
    struct store_value values[N_VALUES];
    int r;

    r = app_values(acct_id, app, &t, values);
    if (r < 0)
        return r;
    return store_exec_one(store,
                          "UPDATE apps SET name = ?, description = ?, input_image_name = ?,"
                          " output_image_name = ?, isvprodid = ?, isvsvn = ?, mem_size = ?,"
                          " threads = ?, allowed_domains = ?, whitelisted_domains = ?,"
                          " pending_task_id = ?, labels = ?, advanced_settings = ?,"
                          " attestation_policy = ?, updated_at = ?"
                          " WHERE app_id = ? AND acct_id = ?",
                          values, ELEMENTSOF(values));
}

int
store_app_set_pending_task(struct store *store, const char *acct_id, const char *app_id,
                           const char *task_id)
{
    return store_exec_one(store,
                          "UPDATE apps SET pending_task_id = ? WHERE app_id = ? AND acct_id = ?",
                          STORE_ARGS(SV_TEXT(task_id), SV_TEXT(app_id), SV_TEXT(acct_id)));
}

int
store_app_fail_build_tasks(struct store *store, const char *acct_id, const char *app_id,
                           const char *reason, const char *now)
{
    int64_t changes = 0;
    int r;

    r = store_exec(store,
                   "UPDATE tasks SET status = 'FAILED', reason = ?, updated_at = ?"
                   " WHERE acct_id = ? AND status = 'INPROGRESS' AND entity_id IN"
                   " (SELECT build_id FROM builds WHERE app_id = ? AND acct_id = ?)",
                   STORE_ARGS(SV_TEXT(reason), SV_TEXT(now), SV_TEXT(acct_id), SV_TEXT(app_id),
                              SV_TEXT(acct_id)),
                   &changes);
    if (r < 0)
        return r;
    return (int)(changes > INT32_MAX ? INT32_MAX : changes);
}

int
store_app_delete(struct store *store, const char *acct_id, const char *app_id)
{
    return store_exec_one(store, "DELETE FROM apps WHERE app_id = ? AND acct_id = ?",
                          STORE_ARGS(SV_TEXT(app_id), SV_TEXT(acct_id)));
}

const struct list_sort store_app_sorts[] = {
    { "name", "name" },
    { "created_at", "created_at" },
    { "updated_at", "updated_at" },
    { NULL },
};

static const struct list_spec app_list = {
    .select = APP_COLUMNS,
    .from = " FROM apps",
    .scope = "acct_id = ?",
    .search = (const char *const[]){ "name", "description", NULL },
    .sorts = store_app_sorts,
    .tiebreak = "app_id",
};

int
store_app_list(struct store *store, const char *acct_id, const char *name,
               const struct list_params *p, struct list_page *ret_page)
{
    return store_list(store, &app_list, acct_id, LIST_FILTERS({ "name = ?", name }), p, ret_page);
}
