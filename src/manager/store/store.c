/* Backend dispatch and the helpers every store-*.c file uses on top of the primitives. */
#include "store.h"

#include <errno.h>
#include <string.h>

extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_pg_ops;

static const struct store_ops *const store_backends[] = { &store_sqlite_ops, &store_pg_ops };

static bool
scheme_is(const char *url, const char *colon, const char *scheme)
{
    size_t len = scheme ? strlen(scheme) : 0;

    return scheme && (size_t)(colon - url) == len && strncmp(url, scheme, len) == 0;
}

int
store_open(const char *url, struct store **ret_store)
{
    const char *colon = strchr(url, ':');
    const char *slash = strchr(url, '/');

    /* A bare path is an SQLite file, the default backend. */
    if (!colon || (slash && slash < colon))
        return store_sqlite_ops.open(url, ret_store);

    for (size_t i = 0; i < ELEMENTSOF(store_backends); i++) {
        const struct store_ops *ops = store_backends[i];
        if (scheme_is(url, colon, ops->scheme) || scheme_is(url, colon, ops->scheme_alias))
            return ops->open(colon + 1, ret_store);
    }
    return -EPROTONOSUPPORT;
}

void
store_close(struct store *store)
{
    if (!store)
        return;
    if (store->in_txn)
        store->ops->rollback(store);
    store->ops->close(store);
}

int
store_begin(struct store *store, enum store_txn kind)
{
    int r;

    if (store->in_txn)
        return -EINPROGRESS;
    r = store->ops->begin(store, kind);
    if (r >= 0)
        store->in_txn = true;
    return r;
}

int
store_lock_scope(struct store *store, const char *scope)
{
    if (!store->in_txn)
        return -EINVAL;
    return store->ops->lock_scope ? store->ops->lock_scope(store, scope) : 0;
}

int
store_commit(struct store *store)
{
    int r;

    if (!store->in_txn)
        return -EINVAL;
    r = store->ops->commit(store);
    if (r < 0) {
        store->ops->rollback(store);
    }
    store->in_txn = false;
    return r;
}

int
store_rollback(struct store *store)
{
    if (!store->in_txn)
        return 0;
    store->in_txn = false;
    return store->ops->rollback(store);
}

int
store_exec(struct store *store, const char *sql, const struct store_value *args, size_t n_args,
           int64_t *ret_changes)
{
    return store->ops->exec(store, sql, args, n_args, ret_changes);
}

int
store_query(struct store *store, const char *sql, const struct store_value *args, size_t n_args,
            struct store_rows **ret_rows)
{
    return store->ops->query(store, sql, args, n_args, ret_rows);
}

int
store_rows_next(struct store_rows *rows)
{
    return rows->ops->rows_next(rows);
}

void
store_rows_free(struct store_rows *rows)
{
    if (rows)
        rows->ops->rows_free(rows);
}

int64_t
store_rows_int(struct store_rows *rows, size_t col)
{
    return rows->ops->rows_int(rows, col);
}

const char *
store_rows_text(struct store_rows *rows, size_t col)
{
    const char *text = rows->ops->rows_text(rows, col);

    return text ? text : "";
}

bool
store_rows_is_null(struct store_rows *rows, size_t col)
{
    return rows->ops->rows_type(rows, col) == STORE_NULL;
}

int
store_exec_one(struct store *store, const char *sql, const struct store_value *args, size_t n_args)
{
    int64_t changes = 0;
    int r;

    r = store_exec(store, sql, args, n_args, &changes);
    if (r < 0)
        return r;
    return changes > 0 ? 0 : -ENOENT;
}

int
store_query_row(struct store *store, const char *sql, const struct store_value *args, size_t n_args,
                struct store_rows **ret_rows)
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    int r;

    r = store_query(store, sql, args, n_args, &rows);
    if (r < 0)
        return r;
    r = store_rows_next(rows);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
    *ret_rows = TAKE_PTR(rows);
    return 0;
}

int
store_query_each(struct store *store, const char *sql, const struct store_value *args,
                 size_t n_args, int (*fn)(struct store_rows *rows, void *userdata), void *userdata)
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    int r;

    r = store_query(store, sql, args, n_args, &rows);
    if (r < 0)
        return r;
    while ((r = store_rows_next(rows)) > 0) {
        r = fn(rows, userdata);
        if (r < 0)
            return r;
    }
    return r;
}

static bool
strip_suffix(const char *name, const char *suffix, char *out, size_t size)
{
    size_t n = strlen(name), s = strlen(suffix);

    if (n <= s || strcmp(name + n - s, suffix) != 0 || n - s >= size)
        return false;
    memcpy(out, name, n - s);
    out[n - s] = '\0';
    return true;
}

static json_t *
column_to_json(struct store_rows *rows, size_t col, char *key, size_t key_size)
{
    const char *name = rows->ops->rows_column_name(rows, col);
    enum store_type type = rows->ops->rows_type(rows, col);

    if (strip_suffix(name, "_json", key, key_size)) {
        if (type == STORE_NULL)
            return json_null();
        return json_loads(rows->ops->rows_text(rows, col), JSON_DECODE_ANY, NULL);
    }
    if (strip_suffix(name, "_bool", key, key_size))
        return json_boolean(type != STORE_NULL && rows->ops->rows_int(rows, col) != 0);

    snprintf(key, key_size, "%s", name);
    switch (type) {
    case STORE_INT:
        return json_integer(rows->ops->rows_int(rows, col));
    case STORE_TEXT:
        return json_string(rows->ops->rows_text(rows, col));
    case STORE_NULL:
        break;
    }
    return json_null();
}

/* Sets object[key] to value (taken); "group.key" goes into the nested object group. */
static int
object_set_nested(json_t *object, char *key, json_t *value)
{
    char *dot = strchr(key, '.');

    if (dot) {
        json_t *group;

        *dot = '\0';
        group = json_object_get(object, key);
        if (!group) {
            group = json_object();
            if (json_object_set_new(object, key, group) < 0) {
                json_decref(value);
                return -ENOMEM;
            }
        }
        object = group;
        key = dot + 1;
    }
    return json_object_set_new(object, key, value) < 0 ? -ENOMEM : 0;
}

int
store_row_to_json(struct store_rows *rows, json_t **ret_object)
{
    _cleanup_(json_decrefp) json_t *object = json_object();
    size_t n = rows->ops->rows_count_columns(rows);
    int r;

    if (!object)
        return -ENOMEM;
    for (size_t col = 0; col < n; col++) {
        char key[128];
        json_t *value = column_to_json(rows, col, key, sizeof(key));

        if (!value)
            return -EBADMSG;
        r = object_set_nested(object, key, value);
        if (r < 0)
            return r;
    }
    *ret_object = TAKE_PTR(object);
    return 0;
}

struct json_rows {
    json_t *array;
    int (*row_to_json)(struct store_rows *rows, json_t **ret_object);
};

static int
json_rows_append(struct store_rows *rows, void *userdata)
{
    struct json_rows *j = userdata;
    json_t *object;
    int r;

    r = j->row_to_json(rows, &object);
    if (r < 0)
        return r;
    return json_array_append_new(j->array, object) < 0 ? -ENOMEM : 0;
}

int
store_query_json_rows(struct store *store, const char *sql, const struct store_value *args,
                      size_t n_args, int (*row_to_json)(struct store_rows *, json_t **),
                      json_t **ret_array)
{
    _cleanup_(json_decrefp) json_t *array = json_array();
    struct json_rows j = { array, row_to_json ? row_to_json : store_row_to_json };
    int r;

    if (!array)
        return -ENOMEM;
    r = store_query_each(store, sql, args, n_args, json_rows_append, &j);
    if (r < 0)
        return r;
    *ret_array = TAKE_PTR(array);
    return 0;
}

int
store_query_json_array(struct store *store, const char *sql, const struct store_value *args,
                       size_t n_args, json_t **ret_array)
{
    return store_query_json_rows(store, sql, args, n_args, NULL, ret_array);
}

int
store_query_json_object(struct store *store, const char *sql, const struct store_value *args,
                        size_t n_args, json_t **ret_object)
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    int r;

    r = store_query_row(store, sql, args, n_args, &rows);
    if (r < 0)
        return r;
    return store_row_to_json(rows, ret_object);
}

int
store_query_int(struct store *store, const char *sql, const struct store_value *args, size_t n_args,
                int64_t *ret_value)
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    int r;

    r = store_query_row(store, sql, args, n_args, &rows);
    if (r < 0)
        return r;
    *ret_value = store_rows_int(rows, 0);
    return 0;
}

int
store_checkpoint(struct store *store)
{
    if (store->in_txn)
        return -EBUSY;
    return store->ops->checkpoint ? store->ops->checkpoint(store) : 0;
}

int
store_ping(struct store *store)
{
    int64_t one;

    return store_query_int(store, "SELECT 1", STORE_NO_ARGS, &one);
}
