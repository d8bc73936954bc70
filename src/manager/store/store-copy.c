/* Whole-store copies: table by table, keyset-paginated reads from one snapshot, batched
 * INSERTs in one write transaction, counts checked. See store-copy.h. */
#include "store-copy.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define KEY_COLUMNS_MAX 4

struct copy_table_spec {
    const char *name;
    /* Columns of the primary key: the pagination order. */
    const char *key[KEY_COLUMNS_MAX];
    /* The table has no primary key: key lists every column and equal rows may repeat. */
    bool no_primary_key;
};

/* Every table of the schema but schema_migrations (the destination is migrated to the same
 * version instead), parents before children so foreign keys hold at every INSERT. A migration
 * that adds a table adds it here with its primary key. */
static const struct copy_table_spec copy_tables[] = {
    { "settings", { "name" } },
    { "users", { "user_id" } },
    { "accounts", { "acct_id" } },
    { "sessions", { "token_hash" } },
    /* auth_failures has no primary key and may hold equal rows (two failures of one e-mail in
     * the same second). It is paged like the others, by (user_email, failed_at), but as groups
     * of equal rows with their COUNT(*), each group written back that many times: keyset
     * pagination over non-unique keys would skip the duplicates at a page boundary. Adding a
     * synthetic key would need a migration for a table that only ever holds minutes of rate
     * limit state. */
    { "auth_failures", { "user_email", "failed_at" }, true },
    { "memberships", { "acct_id", "user_id" } },
    { "apps", { "app_id" } },
    { "builds", { "build_id" } },
    { "conversion_jobs", { "build_id" } },
    { "tool_conversions", { "conversion_id" } },
    { "tasks", { "task_id" } },
    { "task_approvals", { "task_id", "user_id" } },
    { "registries", { "registry_id" } },
    { "signing_keys", { "acct_id" } },
    { "audit_heads", { "chain" } },
    { "events", { "chain", "seq" } },
    { "audit_checkpoints", { "chain", "seq" } },
    { "zones", { "zone_id" } },
    { "join_tokens", { "token_hash" } },
    { "nodes", { "node_id" } },
    { "certificates", { "certificate_id" } },
    { "app_instances", { "instance_id" } },
    { "used_nonces", { "nonce_id" } },
    { "collateral", { "kind", "item_key" } },
};

_Static_assert(ELEMENTSOF(copy_tables) <= STORE_COPY_TABLES_MAX, "raise STORE_COPY_TABLES_MAX");

size_t
store_copy_n_tables(void)
{
    return ELEMENTSOF(copy_tables);
}

const char *
store_copy_table_name(size_t i)
{
    return i < ELEMENTSOF(copy_tables) ? copy_tables[i].name : NULL;
}

const char *
store_copy_strerror(int r)
{
    switch (r) {
    case -ENOTCONN:
        return "the database is unreachable";
    case -EBUSY:
        return "the database is busy (a lock wait timed out)";
    default:
        return strerror(-r);
    }
}

static int report_error(struct store_copy_report *report, int r, const char *fmt, ...)
    _printf_(3, 4);

/* Writes the operator's message into report->error (the first one wins: later failures are
 * consequences) and returns r. */
static int
report_error(struct store_copy_report *report, int r, const char *fmt, ...)
{
    va_list ap;

    if (!report->error[0]) {
        va_start(ap, fmt);
        vsnprintf(report->error, sizeof(report->error), fmt, ap);
        va_end(ap);
    }
    log_debug("store copy: %s", report->error);
    return r;
}

static size_t
key_count(const struct copy_table_spec *spec)
{
    size_t n = 0;

    while (n < KEY_COLUMNS_MAX && spec->key[n])
        n++;
    return n;
}

/* Builds SQL text in memory; an allocation failure is remembered and reported by sql_finish. */
struct sql_text {
    char *s;
    size_t len;
    FILE *f;
};

static int
sql_start(struct sql_text *t)
{
    *t = (struct sql_text){ 0 };
    t->f = open_memstream(&t->s, &t->len);
    return t->f ? 0 : -ENOMEM;
}

static void sql_add(struct sql_text *t, const char *fmt, ...) _printf_(2, 3);

static void
sql_add(struct sql_text *t, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(t->f, fmt, ap);
    va_end(ap);
}

/* Ends the text; *ret_sql is owned by the caller. */
static int
sql_finish(struct sql_text *t, char **ret_sql)
{
    bool failed = ferror(t->f) != 0;

    if (fclose(t->f) != 0 || failed) {
        free(t->s);
        return -ENOMEM;
    }
    *ret_sql = t->s;
    return 0;
}

/* "k1, k2" */
static void
sql_add_key_list(struct sql_text *t, const struct copy_table_spec *spec)
{
    for (size_t i = 0; i < key_count(spec); i++)
        sql_add(t, "%s%s", i ? ", " : "", spec->key[i]);
}

/* One page of the source after the key values in after (NULL: the first page). Tables without
 * a primary key come as groups of equal rows, the group size in the last column. */
static int
page_sql(const struct copy_table_spec *spec, bool first, char **ret_sql)
{
    struct sql_text t;
    int r;

    r = sql_start(&t);
    if (r < 0)
        return r;
    sql_add(&t, "SELECT ");
    if (spec->no_primary_key) {
        sql_add_key_list(&t, spec);
        sql_add(&t, ", COUNT(*) AS copy_count");
    } else {
        sql_add(&t, "*");
    }
    sql_add(&t, " FROM %s", spec->name);
    if (!first) {
        sql_add(&t, " WHERE (");
        sql_add_key_list(&t, spec);
        sql_add(&t, ") > (");
        for (size_t i = 0; i < key_count(spec); i++)
            sql_add(&t, "%s?", i ? ", " : "");
        sql_add(&t, ")");
    }
    if (spec->no_primary_key) {
        sql_add(&t, " GROUP BY ");
        sql_add_key_list(&t, spec);
    }
    sql_add(&t, " ORDER BY ");
    sql_add_key_list(&t, spec);
    sql_add(&t, " LIMIT %d", STORE_COPY_PAGE_ROWS);
    return sql_finish(&t, ret_sql);
}

/* The rows of one table waiting to be inserted, with copies of their text (a source row's text
 * is valid only until the next row). */
struct copy_batch {
    const struct copy_table_spec *spec;
    size_t n_cols;
    char *columns[STORE_COPY_ARGS_MAX]; /* names, from the source's rows */
    size_t key_col[KEY_COLUMNS_MAX];    /* where each key column is in a row */
    size_t max_rows;                    /* rows per INSERT: as many as fit STORE_COPY_ARGS_MAX */
    size_t n_rows;
    struct store_value values[STORE_COPY_ARGS_MAX];
    char *owned[STORE_COPY_ARGS_MAX];
    /* The key of the last row inserted: where the next page starts. */
    bool have_last;
    struct store_value last[KEY_COLUMNS_MAX];
    char *last_owned[KEY_COLUMNS_MAX];
    /* The key the current page's query is bound to: apart from last, which changes while the
     * page is read, and an SQLite statement reads its bound text as it steps. */
    struct store_value after[KEY_COLUMNS_MAX];
    char *after_owned[KEY_COLUMNS_MAX];
    int64_t inserted;
};

static void
batch_clear_rows(struct copy_batch *b)
{
    for (size_t i = 0; i < b->n_rows * b->n_cols; i++)
        free(TAKE_PTR(b->owned[i]));
    b->n_rows = 0;
}

static void
batch_free(struct copy_batch *b)
{
    if (!b)
        return;
    batch_clear_rows(b);
    for (size_t i = 0; i < b->n_cols; i++)
        free(b->columns[i]);
    for (size_t i = 0; i < KEY_COLUMNS_MAX; i++) {
        free(b->last_owned[i]);
        free(b->after_owned[i]);
    }
    free(b);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct copy_batch, batch_free);

/* Learns the columns from the first row the source returned. */
static int
batch_set_columns(struct copy_batch *b, struct store_rows *rows, struct store_copy_report *report)
{
    const struct copy_table_spec *spec = b->spec;
    size_t n = rows->ops->rows_count_columns(rows);

    if (spec->no_primary_key)
        n--; /* the group size */
    if (n == 0 || n > STORE_COPY_ARGS_MAX)
        return report_error(report, -E2BIG, "table %s: %zu columns (at most %d are copied)",
                            spec->name, n, STORE_COPY_ARGS_MAX);
    for (size_t i = 0; i < n; i++) {
        b->columns[i] = strdup(rows->ops->rows_column_name(rows, i));
        if (!b->columns[i])
            return -ENOMEM;
        b->n_cols = i + 1;
    }
    b->max_rows = STORE_COPY_ARGS_MAX / n;
    for (size_t k = 0; k < key_count(spec); k++) {
        size_t i = 0;

        while (i < n && strcmp(b->columns[i], spec->key[k]) != 0)
            i++;
        if (i == n)
            return report_error(report, -EINVAL, "table %s has no column %s (its key)", spec->name,
                                spec->key[k]);
        b->key_col[k] = i;
    }
    return 0;
}

static int
copy_value(struct store_rows *rows, size_t col, struct store_value *ret_value, char **ret_owned)
{
    switch (rows->ops->rows_type(rows, col)) {
    case STORE_INT:
        *ret_value = SV_INT(rows->ops->rows_int(rows, col));
        return 0;
    case STORE_TEXT: {
        const char *text = rows->ops->rows_text(rows, col);
        char *copy = strdup(text ? text : "");

        if (!copy)
            return -ENOMEM;
        *ret_owned = copy;
        *ret_value = SV_TEXT(copy);
        return 0;
    }
    case STORE_NULL:
        break;
    }
    *ret_value = SV_NULL;
    return 0;
}

/* Appends the source's current row (its first n_cols columns). */
static int
batch_add_row(struct copy_batch *b, struct store_rows *rows)
{
    size_t base = b->n_rows * b->n_cols;
    int r;

    b->n_rows++;
    for (size_t i = 0; i < b->n_cols; i++) {
        r = copy_value(rows, i, &b->values[base + i], &b->owned[base + i]);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Appends a copy of the batch's last row (a repeated row of a table without a key). */
static int
batch_repeat_last(struct copy_batch *b)
{
    size_t from = (b->n_rows - 1) * b->n_cols, to = b->n_rows * b->n_cols;

    b->n_rows++;
    for (size_t i = 0; i < b->n_cols; i++) {
        b->values[to + i] = b->values[from + i];
        if (b->values[from + i].type == STORE_TEXT) {
            b->owned[to + i] = strdup(b->values[from + i].s);
            if (!b->owned[to + i])
                return -ENOMEM;
            b->values[to + i].s = b->owned[to + i];
        }
    }
    return 0;
}

static int
batch_remember_last_key(struct copy_batch *b)
{
    size_t base = (b->n_rows - 1) * b->n_cols;

    for (size_t k = 0; k < key_count(b->spec); k++) {
        struct store_value v = b->values[base + b->key_col[k]];

        free(TAKE_PTR(b->last_owned[k]));
        if (v.type == STORE_TEXT) {
            b->last_owned[k] = strdup(v.s);
            if (!b->last_owned[k])
                return -ENOMEM;
            v.s = b->last_owned[k];
        }
        b->last[k] = v;
    }
    b->have_last = true;
    return 0;
}

static int
insert_sql(const struct copy_batch *b, char **ret_sql)
{
    struct sql_text t;
    int r;

    r = sql_start(&t);
    if (r < 0)
        return r;
    sql_add(&t, "INSERT INTO %s (", b->spec->name);
    for (size_t i = 0; i < b->n_cols; i++)
        sql_add(&t, "%s%s", i ? ", " : "", b->columns[i]);
    sql_add(&t, ") VALUES ");
    for (size_t row = 0; row < b->n_rows; row++) {
        sql_add(&t, "%s(", row ? ", " : "");
        for (size_t i = 0; i < b->n_cols; i++)
            sql_add(&t, "%s?", i ? ", " : "");
        sql_add(&t, ")");
    }
    return sql_finish(&t, ret_sql);
}

static int
batch_flush(struct copy_batch *b, struct store *to, struct store_copy_report *report)
{
    _cleanup_free_ char *sql = NULL;
    int64_t changes = 0;
    int r;

    if (b->n_rows == 0)
        return 0;
    r = insert_sql(b, &sql);
    if (r < 0)
        return r;
    r = store_exec(to, sql, b->values, b->n_rows * b->n_cols, &changes);
    if (r < 0)
        return report_error(report, r, "writing table %s to the destination: %s", b->spec->name,
                            store_copy_strerror(r));
    if (changes != (int64_t)b->n_rows)
        return report_error(report, -EIO, "table %s: inserted %lld of %zu rows", b->spec->name,
                            (long long)changes, b->n_rows);
    b->inserted += changes;
    r = batch_remember_last_key(b);
    if (r < 0)
        return r;
    batch_clear_rows(b);
    return 0;
}

static int
batch_take_row(struct copy_batch *b, struct store *to, struct store_rows *rows,
               struct store_copy_report *report, int64_t *rows_read)
{
    int64_t copies = 1;
    int r;

    if (b->spec->no_primary_key) {
        copies = rows->ops->rows_int(rows, b->n_cols);
        if (copies < 1)
            return report_error(report, -EIO, "table %s: a group of %lld rows", b->spec->name,
                                (long long)copies);
    }
    for (int64_t c = 0; c < copies; c++) {
        if (b->n_rows == b->max_rows) {
            r = batch_flush(b, to, report);
            if (r < 0)
                return r;
        }
        r = c == 0 || b->n_rows == 0 ? batch_add_row(b, rows) : batch_repeat_last(b);
        if (r < 0)
            return r;
        (*rows_read)++;
    }
    return 0;
}

/* Copies one page; *ret_rows gets the number of source rows (groups) the page returned. */
static int
copy_page(const struct copy_table_spec *spec, struct copy_batch *b, struct store *from,
          struct store *to, struct store_copy_report *report, int64_t *rows_read, size_t *ret_rows)
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    _cleanup_free_ char *sql = NULL;
    size_t n = 0;
    int r;

    r = page_sql(spec, !b->have_last, &sql);
    if (r < 0)
        return r;
    for (size_t k = 0; k < KEY_COLUMNS_MAX; k++) {
        free(b->after_owned[k]);
        b->after_owned[k] = TAKE_PTR(b->last_owned[k]);
        b->after[k] = b->last[k];
    }
    r = store_query(from, sql, b->have_last ? b->after : NULL, b->have_last ? key_count(spec) : 0,
                    &rows);
    if (r < 0)
        return report_error(report, r, "reading table %s from the source: %s", spec->name,
                            store_copy_strerror(r));
    while ((r = store_rows_next(rows)) > 0) {
        if (b->n_cols == 0) {
            r = batch_set_columns(b, rows, report);
            if (r < 0)
                return r;
        }
        r = batch_take_row(b, to, rows, report, rows_read);
        if (r < 0)
            return r;
        n++;
    }
    if (r < 0)
        return report_error(report, r, "reading table %s from the source: %s", spec->name,
                            store_copy_strerror(r));
    /* The next page starts after this page's last row: flush so it is the remembered key. */
    r = batch_flush(b, to, report);
    if (r < 0)
        return r;
    *ret_rows = n;
    return 0;
}

static int
count_rows(struct store *store, const char *table, int64_t *ret_count)
{
    char sql[128];

    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", table);
    return store_query_int(store, sql, STORE_NO_ARGS, ret_count);
}

static int
copy_table(const struct copy_table_spec *spec, struct store *from, struct store *to,
           struct store_copy_report *report)
{
    _cleanup_(batch_freep) struct copy_batch *b = calloc(1, sizeof(*b));
    int64_t rows_read = 0, source_count, dest_count;
    size_t page_rows;
    int r;

    if (!b)
        return -ENOMEM;
    b->spec = spec;
    do {
        r = copy_page(spec, b, from, to, report, &rows_read, &page_rows);
        if (r < 0)
            return r;
    } while (page_rows == STORE_COPY_PAGE_ROWS);

    r = count_rows(from, spec->name, &source_count);
    if (r < 0)
        return report_error(report, r, "counting table %s in the source: %s", spec->name,
                            store_copy_strerror(r));
    r = count_rows(to, spec->name, &dest_count);
    if (r < 0)
        return report_error(report, r, "counting table %s in the destination: %s", spec->name,
                            store_copy_strerror(r));
    if (rows_read != source_count || b->inserted != rows_read || dest_count != rows_read)
        return report_error(report, -EIO,
                            "table %s: the source has %lld rows, %lld were read, %lld inserted, "
                            "the destination has %lld",
                            spec->name, (long long)source_count, (long long)rows_read,
                            (long long)b->inserted, (long long)dest_count);
    report->tables[report->n_tables++] = (struct store_copy_table){ spec->name, rows_read };
    return 0;
}

/* The first table of to that holds a row, or NULL. */
static int
first_non_empty_table(struct store *to, const char **ret_table)
{
    for (size_t i = 0; i < ELEMENTSOF(copy_tables); i++) {
        _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
        char sql[128];
        int r;

        snprintf(sql, sizeof(sql), "SELECT 1 FROM %s LIMIT 1", copy_tables[i].name);
        r = store_query_row(to, sql, STORE_NO_ARGS, &rows);
        if (r == -ENOENT)
            continue;
        if (r < 0)
            return r;
        *ret_table = copy_tables[i].name;
        return 0;
    }
    *ret_table = NULL;
    return 0;
}

static int
check_versions(struct store *from, struct store *to, struct store_copy_report *report)
{
    int64_t from_version, to_version;
    int r;

    r = store_schema_version(from, &from_version);
    if (r < 0)
        return report_error(report, r, "reading the source's schema version: %s",
                            store_copy_strerror(r));
    r = store_schema_version(to, &to_version);
    if (r < 0)
        return report_error(report, r, "reading the destination's schema version: %s",
                            store_copy_strerror(r));
    if (from_version != to_version)
        return report_error(report, -EPROTO,
                            "the source is at schema version %lld and the destination at %lld: "
                            "both must be the same",
                            (long long)from_version, (long long)to_version);
    report->schema_version = from_version;
    return 0;
}

static int
copy_all(struct store *from, struct store *to, struct store_copy_report *report)
{
    const char *non_empty;
    int r;

    r = check_versions(from, to, report);
    if (r < 0)
        return r;
    r = first_non_empty_table(to, &non_empty);
    if (r < 0)
        return report_error(report, r, "reading the destination: %s", store_copy_strerror(r));
    if (non_empty)
        return report_error(report, -ENOTEMPTY, "the destination is not empty (table %s has rows)",
                            non_empty);
    for (size_t i = 0; i < ELEMENTSOF(copy_tables); i++) {
        r = copy_table(&copy_tables[i], from, to, report);
        if (r < 0)
            return r;
    }
    return 0;
}

int
store_copy(struct store *from, struct store *to, struct store_copy_report *report)
{
    int r;

    *report = (struct store_copy_report){ 0 };
    r = store_begin(from, STORE_TXN_READ);
    if (r < 0)
        return report_error(report, r, "starting a read transaction on the source: %s",
                            store_copy_strerror(r));
    r = store_begin(to, STORE_TXN_WRITE);
    if (r < 0) {
        store_rollback(from);
        return report_error(report, r, "starting a write transaction on the destination: %s",
                            store_copy_strerror(r));
    }
    r = copy_all(from, to, report);
    if (r < 0) {
        store_rollback(to);
        store_rollback(from);
        report->n_tables = 0;
        return r;
    }
    r = store_commit(to);
    store_rollback(from); /* a read transaction: nothing to commit */
    if (r < 0) {
        report->n_tables = 0;
        return report_error(report, r, "committing the destination: %s", store_copy_strerror(r));
    }
    return 0;
}

static int
count_all(struct store *store, struct store_copy_report *report)
{
    int r;

    r = store_schema_version(store, &report->schema_version);
    if (r < 0)
        return report_error(report, r, "reading the schema version: %s", store_copy_strerror(r));
    for (size_t i = 0; i < ELEMENTSOF(copy_tables); i++) {
        int64_t n;

        r = count_rows(store, copy_tables[i].name, &n);
        if (r < 0)
            return report_error(report, r, "counting table %s: %s", copy_tables[i].name,
                                store_copy_strerror(r));
        report->tables[report->n_tables++] = (struct store_copy_table){ copy_tables[i].name, n };
    }
    return 0;
}

int
store_copy_count(struct store *store, struct store_copy_report *report)
{
    int r;

    *report = (struct store_copy_report){ 0 };
    r = store_begin(store, STORE_TXN_READ);
    if (r < 0)
        return report_error(report, r, "starting a read transaction: %s", store_copy_strerror(r));
    r = count_all(store, report);
    store_rollback(store);
    if (r < 0)
        report->n_tables = 0;
    return r;
}

/* SQLite's result codes as negative errno, for the file copy below (the store's own SQLite
 * backend translates the rest). */
static int
errno_from_sqlite_file(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
        return 0;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_READONLY:
        return -EROFS;
    default:
        return -ENOTCONN;
    }
}

static void
sqlite3_closep(sqlite3 **db)
{
    sqlite3_close_v2(*db);
}

#define SQLITE_FILE_BUSY_TIMEOUT_MS 5000
/* Pages copied per backup step: the destination is written in steps of 4 MiB or so. */
#define SQLITE_FILE_STEP_PAGES 1024

static int
open_sqlite_file(const char *path, int flags, sqlite3 **ret_db, struct store_copy_report *report)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, NULL);

    if (rc != SQLITE_OK) {
        int r = report_error(report, errno_from_sqlite_file(rc), "cannot open '%s': %s", path,
                             db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close_v2(db);
        return r;
    }
    sqlite3_busy_timeout(db, SQLITE_FILE_BUSY_TIMEOUT_MS);
    *ret_db = db;
    return 0;
}

static int
backup_pages(sqlite3 *src, sqlite3 *dst, const char *from_path, const char *to_path,
             struct store_copy_report *report)
{
    sqlite3_backup *backup = sqlite3_backup_init(dst, "main", src, "main");
    int rc, finish;

    if (!backup)
        return report_error(report, errno_from_sqlite_file(sqlite3_extended_errcode(dst)),
                            "cannot start the backup into '%s': %s", to_path, sqlite3_errmsg(dst));
    do {
        rc = sqlite3_backup_step(backup, SQLITE_FILE_STEP_PAGES);
        /* The source is held by our own read transaction, so only the destination can be
         * busy, and nobody else knows it yet; wait a little and go on. */
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
            sqlite3_sleep(10);
    } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    finish = sqlite3_backup_finish(backup);
    if (rc != SQLITE_DONE)
        return report_error(report, errno_from_sqlite_file(rc), "copying '%s' into '%s': %s",
                            from_path, to_path, sqlite3_errstr(rc));
    if (finish != SQLITE_OK)
        return report_error(report, errno_from_sqlite_file(finish), "copying into '%s': %s",
                            to_path, sqlite3_errmsg(dst));
    return 0;
}

int
store_copy_sqlite_file(const char *from_path, const char *to_path, struct store_copy_report *report)
{
    _cleanup_(sqlite3_closep) sqlite3 *src = NULL;
    _cleanup_(sqlite3_closep) sqlite3 *dst = NULL;
    int rc, r;

    *report = (struct store_copy_report){ 0 };
    if (access(from_path, F_OK) < 0)
        return report_error(report, -errno, "cannot open '%s': %s", from_path, strerror(errno));
    /* Read-write without create: reading a WAL database may need to set up its shared-memory
     * index, and a hot journal left by a crash must be rolled back before the file is read. */
    r = open_sqlite_file(from_path, SQLITE_OPEN_READWRITE, &src, report);
    if (r < 0)
        return r;
    /* One read transaction across every backup step: each step sees the same snapshot, so the
     * backup never restarts because another process wrote between two steps, and in WAL mode
     * the writers go on meanwhile. */
    rc = sqlite3_exec(src, "BEGIN; SELECT COUNT(*) FROM sqlite_master;", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return report_error(report, rc == SQLITE_NOTADB ? -EBADMSG : errno_from_sqlite_file(rc),
                            "cannot read '%s' as an SQLite database: %s", from_path,
                            sqlite3_errmsg(src));
    r = open_sqlite_file(to_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &dst, report);
    if (r < 0)
        return r;
    r = backup_pages(src, dst, from_path, to_path, report);
    sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
    if (r < 0)
        return r;
    /* The copy carries the source's WAL mode; a backup file is one self-contained file. */
    rc = sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return report_error(report, errno_from_sqlite_file(rc), "finishing '%s': %s", to_path,
                            sqlite3_errmsg(dst));
    return 0;
}
