/* SQLite backend of the store: WAL journal (one write per commit, sqlite-wal-batch.c), a busy
 * handler bounded at 5 s, a writer queue in front of IMMEDIATE write transactions (so a writer
 * never has to upgrade a read lock and fail), foreign keys on, statements prepared per call
 * through SQLite's own cache-friendly sqlite3_prepare_v3(SQLITE_PREPARE_PERSISTENT). */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sqlite-wal-batch.h"
#include "store.h"

#define SQLITE_BUSY_TIMEOUT_MS 5000
/* Waits for the write lock start at 50 us and double up to 1 ms: write transactions here last
 * well under a millisecond, and SQLite's own handler sleeps 1, 2, 5, 10 ... ms. */
#define SQLITE_BUSY_FIRST_WAIT_US 50
#define SQLITE_BUSY_MAX_WAIT_US 1000
/* The jobs process checkpoints the WAL into the database several times a second
 * (store_checkpoint), off the path of requests. A connection that commits checkpoints by itself
 * only when the WAL has grown past 8,000 pages (32 MiB) rather than SQLite's 1,000, as a fallback
 * when the jobs process is not keeping up or not running (the store tools): a checkpoint copies
 * each page once however often it was written since, and an issuance writes mostly the same
 * pages as the one before, so longer runs copy fewer pages per commit. */
#define SQLITE_WAL_AUTOCHECKPOINT_PAGES "8000"
#define SQLITE_STMT_CACHE 64

struct sqlite_stmt_cache_entry {
    char *sql; /* owned copy: list queries are built at run time */
    sqlite3_stmt *stmt;
};

struct sqlite_store {
    struct store base;
    sqlite3 *db;
    struct sqlite_stmt_cache_entry cache[SQLITE_STMT_CACHE];
    size_t cache_next;
    long busy_waited_us; /* by sqlite_busy_wait since the current wait began */
    int writers_fd;      /* the writer queue (writer_queue_open), or -1 */
    bool queued;         /* this connection holds the writer queue's lock */
};

struct sqlite_rows {
    struct store_rows base;
    sqlite3_stmt *stmt;
    bool cached;
};

extern const struct store_ops store_sqlite_ops;

static int
errno_from_sqlite(sqlite3 *db, int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            return -EEXIST;
        log_debug("sqlite constraint: %s", sqlite3_errmsg(db));
        return -EINVAL;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        log_debug("sqlite: %s", db ? sqlite3_errmsg(db) : "unavailable");
        return -ENOTCONN;
    default:
        log_debug("sqlite error %d: %s", rc, db ? sqlite3_errmsg(db) : "?");
        return -EINVAL;
    }
}

static int
sqlite_exec_plain(struct sqlite_store *s, const char *sql)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return errno_from_sqlite(s->db, rc);
}

/* The writer queue: processes about to take SQLite's write lock first take an exclusive flock()
 * on "<database>-writers", and drop it when their transaction ends. SQLite itself can only poll
 * for its lock (the busy handler sleeps and tries again), so a writer that waited would sleep
 * past the moment the lock came free, and the cores sat idle while every worker slept. The
 * kernel hands a flock() to the next waiter as soon as it is released. SQLite's lock is still
 * what guarantees one writer at a time; the queue only orders them, so a process that writes
 * without it (store tools) is still safe, and a writer that dies releases it with its fd. A
 * writer holds it no longer than its transaction, whose steps are bounded by their own
 * timeouts. */
static int
writer_queue_open(const char *path)
{
    _cleanup_free_ char *queue = NULL;

    if (strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0 || !*path)
        return -1;
    if (asprintf(&queue, "%s-writers", path) < 0)
        return -1;
    return open(queue, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
}

static void
writer_queue_enter(struct sqlite_store *s)
{
    while (s->writers_fd >= 0 && !s->queued) {
        if (flock(s->writers_fd, LOCK_EX) == 0)
            s->queued = true;
        else if (errno != EINTR)
            break; /* without the queue: SQLite's busy handler still waits its turn */
    }
}

static void
writer_queue_leave(struct sqlite_store *s)
{
    if (s->queued)
        (void)flock(s->writers_fd, LOCK_UN);
    s->queued = false;
}

static void
sqlite_close(struct store *store)
{
    struct sqlite_store *s = (struct sqlite_store *)store;

    writer_queue_leave(s);
    if (s->writers_fd >= 0)
        close(s->writers_fd);

    for (size_t i = 0; i < SQLITE_STMT_CACHE; i++) {
        sqlite3_finalize(s->cache[i].stmt);
        free(s->cache[i].sql);
    }
    sqlite3_close_v2(s->db);
    free(s);
}

/* Switching a new database file to WAL needs its write lock. Connections opening the same new
 * file at once (replicas or tests starting together) can each hold a read lock and want that
 * lock: SQLite then answers SQLITE_BUSY at once, without the busy handler, since waiting could
 * deadlock. Retry for as long as the busy timeout would have waited. */
static int
set_journal_mode(struct sqlite_store *s)
{
    const struct timespec pause = { 0, 10 * 1000 * 1000 };
    int r;

    for (int waited_ms = 0;; waited_ms += 10) {
        r = sqlite_exec_plain(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                                 "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY; "
                                 "PRAGMA wal_autocheckpoint=" SQLITE_WAL_AUTOCHECKPOINT_PAGES ";");
        if (r != -EBUSY || waited_ms >= SQLITE_BUSY_TIMEOUT_MS)
            return r;
        nanosleep(&pause, NULL);
    }
}

/* sqlite3_busy_handler callback: 1 to try again, 0 to give up with SQLITE_BUSY. */
static int
sqlite_busy_wait(void *userdata, int attempt)
{
    long *waited_us = userdata;
    long wait_us = SQLITE_BUSY_FIRST_WAIT_US << (attempt < 5 ? attempt : 5);

    if (attempt == 0)
        *waited_us = 0;
    if (wait_us > SQLITE_BUSY_MAX_WAIT_US)
        wait_us = SQLITE_BUSY_MAX_WAIT_US;
    if (*waited_us >= SQLITE_BUSY_TIMEOUT_MS * 1000L)
        return 0;
    nanosleep(&(struct timespec){ 0, wait_us * 1000 }, NULL);
    *waited_us += wait_us;
    return 1;
}

static int
sqlite_open(const char *path, struct store **ret_store)
{
    struct sqlite_store *s = calloc(1, sizeof(*s));
    int rc, r;

    if (!s)
        return -ENOMEM;
    s->base.ops = &store_sqlite_ops;
    s->writers_fd = writer_queue_open(path);
    rc = sqlite3_open_v2(path, &s->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                             SQLITE_OPEN_EXRESCODE,
                         sqlite_wal_batch_vfs());
    if (rc != SQLITE_OK) {
        r = errno_from_sqlite(s->db, rc);
        sqlite_close(&s->base);
        return r < 0 ? r : -ENOTCONN;
    }
    sqlite3_busy_handler(s->db, sqlite_busy_wait, &s->busy_waited_us);
    r = set_journal_mode(s);
    if (r < 0) {
        sqlite_close(&s->base);
        return r;
    }
    *ret_store = &s->base;
    return 0;
}

static int
sqlite_begin(struct store *store, enum store_txn kind)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int r;

    if (kind != STORE_TXN_WRITE)
        return sqlite_exec_plain(s, "BEGIN DEFERRED");
    writer_queue_enter(s);
    r = sqlite_exec_plain(s, "BEGIN IMMEDIATE");
    if (r < 0)
        writer_queue_leave(s);
    return r;
}

static int
sqlite_commit(struct store *store)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int r = sqlite_exec_plain(s, "COMMIT");

    writer_queue_leave(s);
    return r;
}

static int
sqlite_rollback(struct store *store)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int r = sqlite3_get_autocommit(s->db) ? 0 : sqlite_exec_plain(s, "ROLLBACK");

    writer_queue_leave(s);
    return r;
}

static int
bind_args(sqlite3_stmt *stmt, const struct store_value *args, size_t n_args)
{
    if ((int)n_args != sqlite3_bind_parameter_count(stmt))
        return -EINVAL;
    for (size_t i = 0; i < n_args; i++) {
        int col = (int)i + 1, rc;
        switch (args[i].type) {
        case STORE_INT:
            rc = sqlite3_bind_int64(stmt, col, args[i].i);
            break;
        case STORE_TEXT:
            rc = sqlite3_bind_text(stmt, col, args[i].s, -1, SQLITE_STATIC);
            break;
        default:
            rc = sqlite3_bind_null(stmt, col);
            break;
        }
        if (rc != SQLITE_OK)
            return -EINVAL;
    }
    return 0;
}

/* Returns a prepared statement for sql, reusing one from the cache when the same literal was
 * prepared before. *ret_cached tells whether the statement belongs to the cache. */
static int
prepare(struct sqlite_store *s, const char *sql, sqlite3_stmt **ret_stmt, bool *ret_cached)
{
    struct sqlite_stmt_cache_entry *slot;
    sqlite3_stmt *stmt;
    int rc;

    for (size_t i = 0; i < SQLITE_STMT_CACHE; i++) {
        if (s->cache[i].stmt && !sqlite3_stmt_busy(s->cache[i].stmt) &&
            strcmp(s->cache[i].sql, sql) == 0) {
            *ret_stmt = s->cache[i].stmt;
            *ret_cached = true;
            return 0;
        }
    }
    rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
    if (rc != SQLITE_OK) {
        log_debug("sqlite prepare failed: %s: %s", sqlite3_errmsg(s->db), sql);
        return errno_from_sqlite(s->db, rc);
    }
    slot = &s->cache[s->cache_next];
    char *copy = (slot->stmt && sqlite3_stmt_busy(slot->stmt)) ? NULL : strdup(sql);
    if (!copy) {
        *ret_stmt = stmt;
        *ret_cached = false;
        return 0;
    }
    sqlite3_finalize(slot->stmt);
    free(slot->sql);
    slot->sql = copy;
    slot->stmt = stmt;
    s->cache_next = (s->cache_next + 1) % SQLITE_STMT_CACHE;
    *ret_stmt = stmt;
    *ret_cached = true;
    return 0;
}

static void
release(sqlite3_stmt *stmt, bool cached)
{
    if (cached) {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
    } else {
        sqlite3_finalize(stmt);
    }
}

static int
sqlite_exec(struct store *store, const char *sql, const struct store_value *args, size_t n_args,
            int64_t *ret_changes)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    sqlite3_stmt *stmt;
    bool cached;
    int r, rc;

    r = prepare(s, sql, &stmt, &cached);
    if (r < 0)
        return r;
    r = bind_args(stmt, args, n_args);
    if (r >= 0) {
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
            ;
        r = rc == SQLITE_DONE ? 0 : errno_from_sqlite(s->db, sqlite3_extended_errcode(s->db));
    }
    if (r >= 0 && ret_changes)
        *ret_changes = sqlite3_changes64(s->db);
    release(stmt, cached);
    return r;
}

static int
sqlite_query(struct store *store, const char *sql, const struct store_value *args, size_t n_args,
             struct store_rows **ret_rows)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    struct sqlite_rows *rows;
    sqlite3_stmt *stmt;
    bool cached;
    int r;

    r = prepare(s, sql, &stmt, &cached);
    if (r < 0)
        return r;
    r = bind_args(stmt, args, n_args);
    if (r < 0) {
        release(stmt, cached);
        return r;
    }
    rows = calloc(1, sizeof(*rows));
    if (!rows) {
        release(stmt, cached);
        return -ENOMEM;
    }
    rows->base.ops = &store_sqlite_ops;
    rows->stmt = stmt;
    rows->cached = cached;
    *ret_rows = &rows->base;
    return 0;
}

static int
sqlite_rows_next(struct store_rows *base)
{
    struct sqlite_rows *rows = (struct sqlite_rows *)base;
    int rc = sqlite3_step(rows->stmt);

    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return errno_from_sqlite(sqlite3_db_handle(rows->stmt),
                             sqlite3_extended_errcode(sqlite3_db_handle(rows->stmt)));
}

static size_t
sqlite_rows_count_columns(struct store_rows *base)
{
    return (size_t)sqlite3_column_count(((struct sqlite_rows *)base)->stmt);
}

static const char *
sqlite_rows_column_name(struct store_rows *base, size_t col)
{
    return sqlite3_column_name(((struct sqlite_rows *)base)->stmt, (int)col);
}

static enum store_type
sqlite_rows_type(struct store_rows *base, size_t col)
{
    switch (sqlite3_column_type(((struct sqlite_rows *)base)->stmt, (int)col)) {
    case SQLITE_INTEGER:
        return STORE_INT;
    case SQLITE_NULL:
        return STORE_NULL;
    default:
        return STORE_TEXT;
    }
}

static int64_t
sqlite_rows_int(struct store_rows *base, size_t col)
{
    return sqlite3_column_int64(((struct sqlite_rows *)base)->stmt, (int)col);
}

static const char *
sqlite_rows_text(struct store_rows *base, size_t col)
{
    return (const char *)sqlite3_column_text(((struct sqlite_rows *)base)->stmt, (int)col);
}

static void
sqlite_rows_free(struct store_rows *base)
{
    struct sqlite_rows *rows = (struct sqlite_rows *)base;

    release(rows->stmt, rows->cached);
    free(rows);
}

/* A checkpoint that waits for nobody: what readers still use stays in the WAL for the next. */
static int
sqlite_checkpoint(struct store *store)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);

    return errno_from_sqlite(s->db, rc);
}

const struct store_ops store_sqlite_ops = {
    .scheme = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .exec = sqlite_exec,
    .query = sqlite_query,
    .rows_next = sqlite_rows_next,
    .rows_count_columns = sqlite_rows_count_columns,
    .rows_column_name = sqlite_rows_column_name,
    .rows_type = sqlite_rows_type,
    .rows_int = sqlite_rows_int,
    .rows_text = sqlite_rows_text,
    .rows_free = sqlite_rows_free,
    .lock_scope = NULL,
    .checkpoint = sqlite_checkpoint,
    .for_update = "",
    .text_type = "TEXT",
};
