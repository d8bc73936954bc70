/* PostgreSQL backend of the store (libpq), for several manager replicas on one database.
 *
 * - One connection per process, opened lazily and re-opened after the server went away (at most
 *   one attempt a second, so an outage costs requests a fast -ENOTCONN, not a connect timeout).
 * - Statements with arguments are prepared once per connection and cached by their text; the
 *   '?' placeholders of the portable SQL become $1, $2, ... Arguments are sent as text with
 *   their types left to the server to infer from the statement, as SQLite's affinity would.
 * - Write transactions are READ COMMITTED; what must not race takes a scope lock (a transaction
 *   advisory lock) first, so every later statement sees the scope's earlier commits. Read
 *   transactions are REPEATABLE READ: one snapshot for the counts and the page of a list and
 *   for an audit verification. */
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "store.h"

#define PG_STMT_CACHE 128
#define PG_RECONNECT_INTERVAL_SEC 1
#define PG_CONNECT_TIMEOUT_SEC "3"

/* Type OIDs of pg_type.h that read as integers. */
#define PG_OID_BOOL 16
#define PG_OID_INT8 20
#define PG_OID_INT2 21
#define PG_OID_INT4 23
#define PG_OID_NUMERIC 1700

/* Each session: UTF-8 text, UTC, a lock wait as long as SQLite's busy timeout, and no
 * transaction left open by a stuck client holding locks for long. */
#define PG_SESSION_SETUP                                                                           \
    "SET client_encoding = 'UTF8'; SET TimeZone = 'UTC'; SET lock_timeout = '5s';"                 \
    " SET idle_in_transaction_session_timeout = '60s'"

struct pg_stmt {
    char *sql; /* the statement as the caller wrote it (the cache key) */
    char name[24];
    uint64_t last_used;
};

struct pg_store {
    struct store base;
    PGconn *conn;
    char *url;
    time_t last_connect;
    struct pg_stmt cache[PG_STMT_CACHE];
    uint64_t clock;
    uint64_t next_name;
};

struct pg_rows {
    struct store_rows base;
    PGresult *res;
    int n_rows;
    int row; /* -1 before the first rows_next() */
};

extern const struct store_ops store_pg_ops;

/* Maps a failed result (or none) to the store's errors (store.h). */
static int
errno_from_pg(struct pg_store *s, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK)
        return -ENOTCONN;
    if (!state) {
        log_debug("postgresql: %s", PQerrorMessage(s->conn));
        return -ENOTCONN;
    }
    if (strcmp(state, "23505") == 0)
        return -EEXIST;
    /* Serialisation failure, deadlock, lock timeout, too many connections. */
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0 ||
        strncmp(state, "53", 2) == 0)
        return -EBUSY;
    /* Connection exceptions, the server shutting down or restarting. */
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
        return -ENOTCONN;
    log_debug("postgresql error %s: %s", state, PQresultErrorMessage(res));
    return -EINVAL;
}

/* Server notices ("relation already exists, skipping") go to the debug log, not stderr. */
static void
notice_to_log(void *arg, const char *message)
{
    log_debug("postgresql: %s", message);
}

static void
cache_clear(struct pg_store *s)
{
    for (size_t i = 0; i < PG_STMT_CACHE; i++) {
        free(s->cache[i].sql);
        s->cache[i] = (struct pg_stmt){ .sql = NULL };
    }
}

static void
disconnect(struct pg_store *s)
{
    cache_clear(s);
    PQfinish(s->conn);
    s->conn = NULL;
}

static int
exec_plain(struct pg_store *s, const char *sql)
{
    PGresult *res = PQexec(s->conn, sql);
    ExecStatusType status = PQresultStatus(res);
    int r = 0;

    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        r = errno_from_pg(s, res);
    PQclear(res);
    return r;
}

static int
connect_now(struct pg_store *s)
{
    /* Defaults first: the URL's own settings (expanded from dbname) override them. */
    const char *const keys[] = { "connect_timeout", "application_name", "dbname", NULL };
    const char *const values[] = { PG_CONNECT_TIMEOUT_SEC, "cloister-manager", s->url, NULL };
    const char *encoding;
    int r;

    disconnect(s);
    s->last_connect = time(NULL);
    s->conn = PQconnectdbParams(keys, values, 1);
    if (!s->conn)
        return -ENOMEM;
    if (PQstatus(s->conn) != CONNECTION_OK) {
        log_warning("Cannot connect to PostgreSQL: %s", PQerrorMessage(s->conn));
        disconnect(s);
        return -ENOTCONN;
    }
    PQsetNoticeProcessor(s->conn, notice_to_log, NULL);
    encoding = PQparameterStatus(s->conn, "server_encoding");
    if (!encoding || strcmp(encoding, "UTF8") != 0) {
        log_error("The PostgreSQL database has encoding %s; Cloister needs UTF8 (CREATE DATABASE "
                  "... TEMPLATE template0 ENCODING 'UTF8')",
                  encoding ? encoding : "(unknown)");
        disconnect(s);
        return -EPROTO;
    }
    r = exec_plain(s, PG_SESSION_SETUP);
    if (r < 0)
        disconnect(s);
    return r;
}

/* A usable connection, re-opened if the server went away (never inside a transaction: the
 * server already rolled that one back). */
static int
ensure_connected(struct pg_store *s)
{
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
        return 0;
    if (s->base.in_txn)
        return -ENOTCONN;
    if (s->conn == NULL && time(NULL) - s->last_connect < PG_RECONNECT_INTERVAL_SEC)
        return -ENOTCONN;
    return connect_now(s);
}

static void
pg_close(struct store *store)
{
    struct pg_store *s = (struct pg_store *)store;

    disconnect(s);
    free(s->url);
    free(s);
}

/* location is what follows "postgres:" in the store URL; libpq gets the whole URL back. An
 * unreachable server is not an error here: the first statement reports it, and later ones
 * reconnect, so a worker started during an outage serves 503s until the database is back. */
static int
pg_open(const char *location, struct store **ret_store)
{
    struct pg_store *s = calloc(1, sizeof(*s));
    int r;

    if (!s)
        return -ENOMEM;
    s->base.ops = &store_pg_ops;
    if (asprintf(&s->url, "postgresql:%s", location) < 0) {
        free(s);
        return -ENOMEM;
    }
    r = connect_now(s);
    if (r < 0 && r != -ENOTCONN) {
        pg_close(&s->base);
        return r;
    }
    *ret_store = &s->base;
    return 0;
}

static int
pg_begin(struct store *store, enum store_txn kind)
{
    struct pg_store *s = (struct pg_store *)store;
    const char *sql = kind == STORE_TXN_WRITE ? "BEGIN ISOLATION LEVEL READ COMMITTED"
                                              : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
    int r;

    r = ensure_connected(s);
    if (r < 0)
        return r;
    r = exec_plain(s, sql);
    /* The server restarted since the last request: a fresh connection serves this one. */
    if (r == -ENOTCONN && connect_now(s) == 0)
        r = exec_plain(s, sql);
    return r;
}

static int
pg_commit(struct store *store)
{
    struct pg_store *s = (struct pg_store *)store;
    PGresult *res;
    int r = 0;

    if (!s->conn)
        return -ENOTCONN;
    res = PQexec(s->conn, "COMMIT");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        r = errno_from_pg(s, res);
    else if (strcmp(PQcmdStatus(res), "ROLLBACK") == 0) {
        /* A statement failed and its error was not returned: the server rolled back. */
        log_error("PostgreSQL rolled back a transaction whose statement failed earlier");
        r = -EINVAL;
    }
    PQclear(res);
    return r;
}

static int
pg_rollback(struct store *store)
{
    struct pg_store *s = (struct pg_store *)store;

    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK)
        return 0; /* the server ends a transaction whose connection is gone */
    return exec_plain(s, "ROLLBACK");
}

/* Rewrites the '?' placeholders outside quotes as $1, $2, ...; -EINVAL when their number is not
 * n_args. */
static int
number_placeholders(const char *sql, size_t n_args, char **ret_sql)
{
    size_t len = strlen(sql), n = 0;
    bool too_many = false;
    /* "?" becomes at most "$512" (STORE_ARGS_MAX): 5 bytes for 1 is room enough. */
    char *out = malloc(len * 5 + 1), *o = out, quote = 0;

    if (!out)
        return -ENOMEM;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '?') {
            if (n == n_args) {
                too_many = true; /* refused below, before writing past the room */
                break;
            }
            o += snprintf(o, 8, "$%zu", ++n);
            continue;
        }
        *o++ = *p;
    }
    *o = '\0';
    if (too_many || n != n_args) {
        free(out);
        return -EINVAL;
    }
    *ret_sql = out;
    return 0;
}

static struct pg_stmt *
cache_find(struct pg_store *s, const char *sql)
{
    for (size_t i = 0; i < PG_STMT_CACHE; i++)
        if (s->cache[i].sql && strcmp(s->cache[i].sql, sql) == 0)
            return &s->cache[i];
    return NULL;
}

static struct pg_stmt *
cache_victim(struct pg_store *s)
{
    struct pg_stmt *victim = &s->cache[0];

    for (size_t i = 0; i < PG_STMT_CACHE; i++) {
        if (!s->cache[i].sql)
            return &s->cache[i];
        if (s->cache[i].last_used < victim->last_used)
            victim = &s->cache[i];
    }
    return victim;
}

/* The prepared statement for sql, prepared now if this connection has not seen it. */
static int
prepare(struct pg_store *s, const char *sql, size_t n_args, struct pg_stmt **ret_stmt)
{
    _cleanup_free_ char *numbered = NULL;
    struct pg_stmt *stmt = cache_find(s, sql);
    char name[sizeof(stmt->name)], *key;
    PGresult *res;
    int r;

    if (stmt) {
        stmt->last_used = ++s->clock;
        *ret_stmt = stmt;
        return 0;
    }
    r = number_placeholders(sql, n_args, &numbered);
    if (r < 0) {
        log_debug("Placeholders do not match %zu arguments: %s", n_args, sql);
        return r;
    }
    key = strdup(sql);
    if (!key)
        return -ENOMEM;
    snprintf(name, sizeof(name), "s%llu", (unsigned long long)++s->next_name);
    res = PQprepare(s->conn, name, numbered, 0, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        r = errno_from_pg(s, res);
        log_debug("Prepare failed: %s", sql);
        PQclear(res);
        free(key);
        return r;
    }
    PQclear(res);
    stmt = cache_victim(s);
    if (stmt->sql) {
        /* Statements are not transactional: deallocating one is safe at any point. */
        char deallocate[sizeof(stmt->name) + 16];
        snprintf(deallocate, sizeof(deallocate), "DEALLOCATE %s", stmt->name);
        PQclear(PQexec(s->conn, deallocate));
        free(stmt->sql);
    }
    *stmt = (struct pg_stmt){ .sql = key, .last_used = ++s->clock };
    memcpy(stmt->name, name, sizeof(name));
    *ret_stmt = stmt;
    return 0;
}

/* Runs sql with args; *ret_res gets a successful result (PGRES_COMMAND_OK or _TUPLES_OK). */
static int
run(struct pg_store *s, const char *sql, const struct store_value *args, size_t n_args,
    PGresult **ret_res)
{
    const char *values[STORE_ARGS_MAX];
    char numbers[STORE_ARGS_MAX][24];
    struct pg_stmt *stmt = NULL;
    ExecStatusType status;
    PGresult *res;
    int r;

    if (n_args > STORE_ARGS_MAX)
        return -E2BIG;
    r = ensure_connected(s);
    if (r < 0)
        return r;
    if (n_args == 0) {
        res = PQexec(s->conn, sql);
    } else {
        r = prepare(s, sql, n_args, &stmt);
        if (r < 0)
            return r;
        for (size_t i = 0; i < n_args; i++) {
            values[i] = args[i].type == STORE_TEXT ? args[i].s : NULL;
            if (args[i].type == STORE_INT) {
                snprintf(numbers[i], sizeof(numbers[i]), "%lld", (long long)args[i].i);
                values[i] = numbers[i];
            }
        }
        res = PQexecPrepared(s->conn, stmt->name, (int)n_args, values, NULL, NULL, 0);
    }
    status = PQresultStatus(res);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        r = errno_from_pg(s, res);
        PQclear(res);
        return r;
    }
    *ret_res = res;
    return 0;
}

static int
pg_exec(struct store *store, const char *sql, const struct store_value *args, size_t n_args,
        int64_t *ret_changes)
{
    PGresult *res;
    int r;

    r = run((struct pg_store *)store, sql, args, n_args, &res);
    if (r < 0)
        return r;
    if (ret_changes)
        *ret_changes = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return 0;
}

static int
pg_query(struct store *store, const char *sql, const struct store_value *args, size_t n_args,
         struct store_rows **ret_rows)
{
    struct pg_store *s = (struct pg_store *)store;
    bool had_connection = s->conn != NULL;
    struct pg_rows *rows;
    PGresult *res;
    int r;

    r = run(s, sql, args, n_args, &res);
    /* A query outside a transaction (the session lookup, /readyz) that finds the connection dead
     * since the server restarted: it changed nothing, so it runs again on a new connection. (Not
     * when there was no connection: ensure_connected() paces those attempts.) */
    if (r == -ENOTCONN && had_connection && !store->in_txn && connect_now(s) == 0)
        r = run(s, sql, args, n_args, &res);
    if (r < 0)
        return r;
    rows = calloc(1, sizeof(*rows));
    if (!rows) {
        PQclear(res);
        return -ENOMEM;
    }
    rows->base.ops = &store_pg_ops;
    rows->res = res;
    rows->n_rows = PQntuples(res);
    rows->row = -1;
    *ret_rows = &rows->base;
    return 0;
}

static int
pg_lock_scope(struct store *store, const char *scope)
{
    PGresult *res;
    int r;

    /* A 64-bit hash of the name: a collision only makes two scopes wait for each other. */
    r = run((struct pg_store *)store, "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))",
            STORE_ARGS(SV_TEXT(scope)), &res);
    if (r >= 0)
        PQclear(res);
    return r;
}

static int
pg_rows_next(struct store_rows *base)
{
    struct pg_rows *rows = (struct pg_rows *)base;

    if (rows->row + 1 >= rows->n_rows)
        return 0;
    rows->row++;
    return 1;
}

static size_t
pg_rows_count_columns(struct store_rows *base)
{
    return (size_t)PQnfields(((struct pg_rows *)base)->res);
}

static const char *
pg_rows_column_name(struct store_rows *base, size_t col)
{
    return PQfname(((struct pg_rows *)base)->res, (int)col);
}

static enum store_type
pg_rows_type(struct store_rows *base, size_t col)
{
    struct pg_rows *rows = (struct pg_rows *)base;

    if (rows->row < 0 || PQgetisnull(rows->res, rows->row, (int)col))
        return STORE_NULL;
    switch (PQftype(rows->res, (int)col)) {
    case PG_OID_BOOL:
    case PG_OID_INT2:
    case PG_OID_INT4:
    case PG_OID_INT8:
    case PG_OID_NUMERIC:
        return STORE_INT;
    default:
        return STORE_TEXT;
    }
}

static int64_t
pg_rows_int(struct store_rows *base, size_t col)
{
    struct pg_rows *rows = (struct pg_rows *)base;
    const char *text;

    if (rows->row < 0)
        return 0;
    text = PQgetvalue(rows->res, rows->row, (int)col);
    if (PQftype(rows->res, (int)col) == PG_OID_BOOL)
        return text[0] == 't';
    return strtoll(text, NULL, 10);
}

static const char *
pg_rows_text(struct store_rows *base, size_t col)
{
    struct pg_rows *rows = (struct pg_rows *)base;

    if (rows->row < 0 || PQgetisnull(rows->res, rows->row, (int)col))
        return NULL;
    return PQgetvalue(rows->res, rows->row, (int)col);
}

static void
pg_rows_free(struct store_rows *base)
{
    struct pg_rows *rows = (struct pg_rows *)base;

    PQclear(rows->res);
    free(rows);
}

const struct store_ops store_pg_ops = {
    .scheme = "postgres",
    .scheme_alias = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .exec = pg_exec,
    .query = pg_query,
    .rows_next = pg_rows_next,
    .rows_count_columns = pg_rows_count_columns,
    .rows_column_name = pg_rows_column_name,
    .rows_type = pg_rows_type,
    .rows_int = pg_rows_int,
    .rows_text = pg_rows_text,
    .rows_free = pg_rows_free,
    .lock_scope = pg_lock_scope,
    .for_update = " FOR UPDATE",
    .text_type = "TEXT COLLATE \"C\"",
};
