/* The store: durable state of the manager behind one interface.
 *
 * A backend (SQLite, PostgreSQL) implements the primitives of struct store_ops: transactions,
 * parameterised statements, row access and scope locks. Everything above it (the per-resource
 * files store-*.c) is written once, in portable SQL with '?' placeholders, so both backends run
 * the same queries with the same semantics (docs/store.md).
 *
 * Errors: -EEXIST a unique constraint was violated, -EBUSY the database stayed locked past the
 * busy timeout, -ENOTCONN the database is unreachable (callers answer 503), -EINVAL bad SQL or
 * arguments (a bug), -ENOMEM. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cleanup.h"

enum store_type { STORE_NULL, STORE_INT, STORE_TEXT };

struct store_value {
    enum store_type type;
    int64_t i;
    const char *s; /* borrowed; NULL means SQL NULL */
};

#define SV_NULL ((struct store_value){ .type = STORE_NULL })
#define SV_INT(v) ((struct store_value){ .type = STORE_INT, .i = (int64_t)(v) })
static inline struct store_value
store_value_text(const char *s)
{
    return (struct store_value){ .type = s ? STORE_TEXT : STORE_NULL, .s = s };
}
#define SV_TEXT(v) store_value_text(v)
#define SV_BOOL(v) SV_INT((v) ? 1 : 0)

/* STORE_ARGS(SV_TEXT(a), SV_INT(b)) expands to "array, count" for the calls below. */
#define STORE_ARGS(...)                                                                            \
    (const struct store_value[]){ __VA_ARGS__ },                                                   \
        (sizeof((const struct store_value[]){ __VA_ARGS__ }) / sizeof(struct store_value))
#define STORE_NO_ARGS NULL, 0

/* The most arguments one statement may bind, on every backend. */
#define STORE_ARGS_MAX 512

enum store_txn { STORE_TXN_READ, STORE_TXN_WRITE };

struct store;
struct store_rows;

struct store_ops {
    const char *scheme;       /* "sqlite", "postgres" */
    const char *scheme_alias; /* another URL scheme naming the backend, or NULL */
    int (*open)(const char *location, struct store **ret_store);
    void (*close)(struct store *store);
    int (*begin)(struct store *store, enum store_txn kind);
    int (*commit)(struct store *store);
    int (*rollback)(struct store *store);
    /* Runs a statement; *ret_changes (may be NULL) gets the number of rows changed. */
    int (*exec)(struct store *store, const char *sql, const struct store_value *args, size_t n_args,
                int64_t *ret_changes);
    /* Starts a query; rows are read with rows_next() until it returns 0. */
    int (*query)(struct store *store, const char *sql, const struct store_value *args,
                 size_t n_args, struct store_rows **ret_rows);
    int (*rows_next)(struct store_rows *rows); /* 1 a row, 0 the end, < 0 error */
    size_t (*rows_count_columns)(struct store_rows *rows);
    const char *(*rows_column_name)(struct store_rows *rows, size_t col);
    enum store_type (*rows_type)(struct store_rows *rows, size_t col);
    int64_t (*rows_int)(struct store_rows *rows, size_t col);
    const char *(*rows_text)(struct store_rows *rows, size_t col); /* valid until next row */
    void (*rows_free)(struct store_rows *rows);
    /* Serialises the write transactions of one scope (an account) until commit or rollback;
     * NULL where a write transaction already excludes every other writer (SQLite). */
    int (*lock_scope)(struct store *store, const char *scope);
    /* Moves what the write-ahead log holds into the database, outside any transaction; NULL
     * where the server does that by itself (PostgreSQL). */
    int (*checkpoint)(struct store *store);
    /* SQL fragment that locks selected rows until commit ("" where the write transaction
     * already serialises writers, as in SQLite). */
    const char *for_update;
    /* The column type migrations write as {text}: text compared byte by byte, so ordering and
     * case folding are the same on every backend whatever the database's locale. */
    const char *text_type;
};

/* Every backend's store and rows structures start with these headers. */
struct store {
    const struct store_ops *ops;
    bool in_txn;
};

struct store_rows {
    const struct store_ops *ops;
};

/* Opens "sqlite:PATH" (or a bare path) with the matching backend; applies no migrations. */
int store_open(const char *url, struct store **ret_store);
void store_close(struct store *store);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct store, store_close);

/* Write transactions run with the isolation the backend gives writers (SQLite: one writer at a
 * time; PostgreSQL: READ COMMITTED), so a check-then-write that must not race takes the scope
 * lock first; read transactions see one consistent snapshot. */
int store_begin(struct store *store, enum store_txn kind);
/* Inside a write transaction: waits until no other transaction holds scope, then holds it until
 * this one ends. Every statement after it sees what the scope's earlier writers committed. */
int store_lock_scope(struct store *store, const char *scope);
int store_commit(struct store *store);
/* The backend's checkpoint (store_ops.checkpoint), if it has one; 0 otherwise. The jobs process
 * calls it a few times a second so that request handlers do not. */
int store_checkpoint(struct store *store);
int store_rollback(struct store *store);

int store_exec(struct store *store, const char *sql, const struct store_value *args, size_t n_args,
               int64_t *ret_changes);
int store_query(struct store *store, const char *sql, const struct store_value *args, size_t n_args,
                struct store_rows **ret_rows);
int store_rows_next(struct store_rows *rows);
void store_rows_free(struct store_rows *rows);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct store_rows, store_rows_free);
int64_t store_rows_int(struct store_rows *rows, size_t col);
/* Never NULL: SQL NULL reads as "" (store_rows_is_null() tells the two apart). */
const char *store_rows_text(struct store_rows *rows, size_t col);
bool store_rows_is_null(struct store_rows *rows, size_t col);

/* Runs a statement that must change a row: -ENOENT when it changed none. */
int store_exec_one(struct store *store, const char *sql, const struct store_value *args,
                   size_t n_args);
/* Runs a query and steps onto its first row: -ENOENT if there is none. */
int store_query_row(struct store *store, const char *sql, const struct store_value *args,
                    size_t n_args, struct store_rows **ret_rows);
/* Runs a query and calls fn on each row in order; stops at, and returns, fn's first error. */
int store_query_each(struct store *store, const char *sql, const struct store_value *args,
                     size_t n_args, int (*fn)(struct store_rows *rows, void *userdata),
                     void *userdata);

/* Converts the current row into a JSON object keyed by column name. Column name suffixes pick
 * the JSON type: "_json" holds JSON text (key without the suffix), "_bool" an integer 0/1 (key
 * without the suffix); other columns map INTEGER → integer, TEXT → string, NULL → null. A column
 * named "group.key" (quoted in the SQL) becomes member key of the nested object group, so the
 * nested wire shape of an object is visible in its SELECT list. */
int store_row_to_json(struct store_rows *rows, json_t **ret_object);

/* Runs a query and returns its rows as a JSON array of objects made by row_to_json
 * (store_row_to_json when NULL). */
int store_query_json_rows(struct store *store, const char *sql, const struct store_value *args,
                          size_t n_args, int (*row_to_json)(struct store_rows *, json_t **),
                          json_t **ret_array);
/* store_query_json_rows() with store_row_to_json. */
int store_query_json_array(struct store *store, const char *sql, const struct store_value *args,
                           size_t n_args, json_t **ret_array);
/* Runs a query expected to give at most one row: -ENOENT if none. */
int store_query_json_object(struct store *store, const char *sql, const struct store_value *args,
                            size_t n_args, json_t **ret_object);
/* Runs "SELECT COUNT(*) ..." or any query whose first column of the first row is an integer. */
int store_query_int(struct store *store, const char *sql, const struct store_value *args,
                    size_t n_args, int64_t *ret_value);
/* SELECT 1: fails when the database is unreachable. */
int store_ping(struct store *store);

/* Applies every migration newer than the database's schema version, in one transaction under a
 * lock (several replicas may start at once); -EPROTO when the store is newer than this binary. */
int store_migrate(struct store *store);
/* The schema version this binary migrates to. */
int64_t store_schema_latest(void);
int store_schema_version(struct store *store, int64_t *ret_version);
