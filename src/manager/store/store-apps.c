#include "store-apps.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

/* The wire shape comes from the column names: "_json" columns hold JSON text (store.h). */
#define APP_SELECT                                                                                 \
    "SELECT app_id, acct_id, name, description, input_image_name, output_image_name,"              \
    " isvprodid, isvsvn, mem_size, threads, allowed_domains AS allowed_domains_json,"              \
    " whitelisted_domains AS whitelisted_domains_json, pending_task_id, labels AS labels_json,"    \
    " advanced_settings AS advanced_settings_json, created_at, updated_at FROM apps"

#define APP_SQL_MAX 2048
#define DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)

/* The writable columns, in the order of APP_WRITABLE_COLUMNS. */
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
    COL_UPDATED_AT,
    N_WRITABLE,
};

/* The JSON columns of one app serialised for a statement. */
struct app_texts {
    char *allowed, *whitelisted, *labels, *advanced;
};

static void
app_texts_release(struct app_texts *t)
{
    free(t->allowed);
    free(t->whitelisted);
    free(t->labels);
    free(t->advanced);
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

/* Fills values[N_WRITABLE]; the texts it points at live in t. */
static int
app_values(const json_t *app, struct app_texts *t, struct store_value values[N_WRITABLE])
{
    t->allowed = json_dumps(json_object_get(app, "allowed_domains"), DUMP_FLAGS);
    t->whitelisted = json_dumps(json_object_get(app, "whitelisted_domains"), DUMP_FLAGS);
    t->labels = json_dumps(json_object_get(app, "labels"), DUMP_FLAGS);
    t->advanced = json_dumps(json_object_get(app, "advanced_settings"), DUMP_FLAGS);
    if (!t->allowed || !t->whitelisted || !t->labels || !t->advanced)
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
    values[COL_UPDATED_AT] = SV_TEXT(field_text(app, "updated_at"));
    return 0;
}

int
store_app_insert(struct store *store, const char *acct_id, const json_t *app)
{
    _cleanup_(app_texts_release) struct app_texts t = { 0 };
    struct store_value values[N_WRITABLE + 3];
    int r;

    r = app_values(app, &t, values);
    if (r < 0)
        return r;
    values[N_WRITABLE] = SV_TEXT(field_text(app, "app_id"));
    values[N_WRITABLE + 1] = SV_TEXT(acct_id);
    values[N_WRITABLE + 2] = SV_TEXT(field_text(app, "created_at"));
    return store_exec(store,
                      "INSERT INTO apps (name, description, input_image_name, output_image_name,"
                      " isvprodid, isvsvn, mem_size, threads, allowed_domains,"
                      " whitelisted_domains, pending_task_id, labels, advanced_settings,"
                      " updated_at, app_id, acct_id, created_at)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      values, ELEMENTSOF(values), NULL);
}

int
store_app_get(struct store *store, const char *acct_id, const char *app_id, bool lock,
              json_t **ret_app)
{
    char sql[APP_SQL_MAX];

    snprintf(sql, sizeof(sql), "%s WHERE app_id = ? AND acct_id = ? %s", APP_SELECT,
             lock && store->ops->for_update ? store->ops->for_update : "");
    return store_query_json_object(store, sql, STORE_ARGS(SV_TEXT(app_id), SV_TEXT(acct_id)),
                                   ret_app);
}

int
store_app_update(struct store *store, const char *acct_id, const json_t *app)
{
    _cleanup_(app_texts_release) struct app_texts t = { 0 };
    struct store_value values[N_WRITABLE + 2];
    int64_t changes = 0;
    int r;

    r = app_values(app, &t, values);
    if (r < 0)
        return r;
    values[N_WRITABLE] = SV_TEXT(field_text(app, "app_id"));
    values[N_WRITABLE + 1] = SV_TEXT(acct_id);
    r = store_exec(store,
                   "UPDATE apps SET name = ?, description = ?, input_image_name = ?,"
                   " output_image_name = ?, isvprodid = ?, isvsvn = ?, mem_size = ?, threads = ?,"
                   " allowed_domains = ?, whitelisted_domains = ?, pending_task_id = ?,"
                   " labels = ?, advanced_settings = ?, updated_at = ?"
                   " WHERE app_id = ? AND acct_id = ?",
                   values, ELEMENTSOF(values), &changes);
    if (r < 0)
        return r;
    return changes > 0 ? 0 : -ENOENT;
}

int
store_app_set_pending_task(struct store *store, const char *acct_id, const char *app_id,
                           const char *task_id)
{
    int64_t changes = 0;
    int r;

    r = store_exec(store, "UPDATE apps SET pending_task_id = ? WHERE app_id = ? AND acct_id = ?",
                   STORE_ARGS(SV_TEXT(task_id), SV_TEXT(app_id), SV_TEXT(acct_id)), &changes);
    if (r < 0)
        return r;
    return changes > 0 ? 0 : -ENOENT;
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
    int64_t changes = 0;
    int r;

    r = store_exec(store, "DELETE FROM apps WHERE app_id = ? AND acct_id = ?",
                   STORE_ARGS(SV_TEXT(app_id), SV_TEXT(acct_id)), &changes);
    if (r < 0)
        return r;
    return changes > 0 ? 0 : -ENOENT;
}

/* '%' + lower-cased text with LIKE's own characters escaped + '%', for "LIKE ? ESCAPE '\'".
 * lower() in SQL folds ASCII only on SQLite, so only ASCII is folded here too. */
static char *
like_pattern(const char *text)
{
    size_t len = strlen(text);
    char *pattern = malloc(2 * len + 3), *p = pattern;

    if (!pattern)
        return NULL;
    *p++ = '%';
    for (const char *s = text; *s; s++) {
        if (*s == '%' || *s == '_' || *s == '\\')
            *p++ = '\\';
        *p++ = (*s >= 'A' && *s <= 'Z') ? (char)(*s - 'A' + 'a') : *s;
    }
    *p++ = '%';
    *p = '\0';
    return pattern;
}

static const char *
sort_column(const char *key)
{
    static const char *const columns[] = { "name", "created_at", "updated_at" };

    /* The ORDER BY column comes from this fixed list, never from the request. */
    for (size_t i = 0; key && i < ELEMENTSOF(columns); i++)
        if (strcmp(key, columns[i]) == 0)
            return columns[i];
    return NULL;
}

/* The WHERE clause of a list query and its arguments, built from fixed fragments. */
struct app_filter {
    char where[256];
    struct store_value args[4];
    size_t n;
    char *pattern;
};

static void
app_filter_release(struct app_filter *f)
{
    free(f->pattern);
}

static int
app_filter_build(struct app_filter *f, const char *acct_id, const struct app_list_query *q)
{
    snprintf(f->where, sizeof(f->where), " WHERE acct_id = ?");
    f->args[f->n++] = SV_TEXT(acct_id);
    if (q->name) {
        strncat(f->where, " AND name = ?", sizeof(f->where) - strlen(f->where) - 1);
        f->args[f->n++] = SV_TEXT(q->name);
    }
    if (q->search) {
        f->pattern = like_pattern(q->search);
        if (!f->pattern)
            return -ENOMEM;
        strncat(f->where,
                " AND (lower(name) LIKE ? ESCAPE '\\' OR lower(description) LIKE ? ESCAPE '\\')",
                sizeof(f->where) - strlen(f->where) - 1);
        f->args[f->n++] = SV_TEXT(f->pattern);
        f->args[f->n++] = SV_TEXT(f->pattern);
    }
    return 0;
}

int
store_app_list(struct store *store, const char *acct_id, const struct app_list_query *q,
               json_t **ret_items, int64_t *ret_total, int64_t *ret_filtered)
{
    _cleanup_(app_filter_release) struct app_filter f = { 0 };
    const char *column = sort_column(q->sort_key);
    struct store_value args[ELEMENTSOF(f.args) + 2];
    char sql[APP_SQL_MAX];
    int64_t total, filtered;
    json_t *items;
    int r;

    if (!column)
        return -EINVAL;
    r = app_filter_build(&f, acct_id, q);
    if (r < 0)
        return r;
    r = store_query_int(store, "SELECT COUNT(*) FROM apps WHERE acct_id = ?",
                        STORE_ARGS(SV_TEXT(acct_id)), &total);
    if (r < 0)
        return r;
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM apps%s", f.where);
    r = store_query_int(store, sql, f.args, f.n, &filtered);
    if (r < 0)
        return r;

    memcpy(args, f.args, f.n * sizeof(*args));
    args[f.n] = SV_INT(q->limit);
    args[f.n + 1] = SV_INT(q->offset);
    snprintf(sql, sizeof(sql), "%s%s ORDER BY %s %s, app_id LIMIT ? OFFSET ?", APP_SELECT, f.where,
             column, q->sort_desc ? "DESC" : "ASC");
    r = store_query_json_array(store, sql, args, f.n + 2, &items);
    if (r < 0)
        return r;
    *ret_items = items;
    *ret_total = total;
    *ret_filtered = filtered;
    return 0;
}
