/* store_copy: every table, every value with its type, across pages and backends; refusals and
 * rollback; the table list against the schema; the SQLite file copy. Cases named [postgres]
 * copy between the PostgreSQL server of CLOISTER_TEST_PG_URL and SQLite, both ways. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store-copy.h"
#include "store.h"
#include "test-store-util.h"
#include "test.h"

/* More rows than one page, so keyset pagination crosses page boundaries. */
#define EVENTS_PER_CHAIN 1100
#define CHAINS 3
#define AUTH_FAILURE_GROUPS 1005

static const char *const ts = "2026-01-01T00:00:00.000Z";

static void
exec_ok(struct store *store, const char *sql, const struct store_value *args, size_t n_args)
{
    int r = store_exec(store, sql, args, n_args, NULL);

    if (r < 0)
        fprintf(stderr, "  %s: %s\n", sql, strerror(-r));
    CHECK_EQ_INT(r, 0);
}

/* Rows in every table: NULLs, empty and non-ASCII text, quotes, large integers, repeated rows
 * in auth_failures, and more than a page of events and of auth_failures groups. */
static void
fill(struct store *s)
{
    char id[64], email[64];

    CHECK_EQ_INT(store_begin(s, STORE_TXN_WRITE), 0);
    exec_ok(s, "INSERT INTO settings (name, value) VALUES ('test-store-copy', 'x')", STORE_NO_ARGS);
    exec_ok(s,
            "INSERT INTO users (user_id, user_email, password_hash, first_name, last_name, status,"
            " is_admin, created_at, last_logged_in_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            STORE_ARGS(SV_TEXT("u1"), SV_TEXT("ada@example.com"), SV_TEXT("$argon2id$x"),
                       SV_TEXT("Ada"), SV_TEXT("O'Brien \"quoted\""), SV_TEXT("ACTIVE"), SV_INT(1),
                       SV_TEXT(ts), SV_NULL));
    exec_ok(s,
            "INSERT INTO users (user_id, user_email, password_hash, first_name, last_name, status,"
            " is_admin, created_at, last_logged_in_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            STORE_ARGS(SV_TEXT("u2"), SV_TEXT("zoë@example.com"), SV_TEXT("h"), SV_TEXT("Zoë 日本"),
                       SV_TEXT(""), SV_TEXT("ACTIVE"), SV_INT(0), SV_TEXT(ts), SV_TEXT(ts)));
    exec_ok(s,
            "INSERT INTO sessions (token_hash, user_id, acct_id, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            STORE_ARGS(SV_TEXT("t1"), SV_TEXT("u1"), SV_NULL, SV_TEXT(ts),
                       SV_INT(INT64_C(9000000000000000000))));
    exec_ok(s,
            "INSERT INTO sessions (token_hash, user_id, acct_id, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            STORE_ARGS(SV_TEXT("t2"), SV_TEXT("u2"), SV_TEXT("a1"), SV_TEXT(ts), SV_INT(-1)));
    for (int i = 0; i < AUTH_FAILURE_GROUPS; i++) {
        /* Groups of 1, 2 and 3 equal rows, some straddling a page boundary. */
        snprintf(email, sizeof(email), "user%04d@example.com", i / 7);
        for (int copies = 0; copies <= i % 3; copies++)
            exec_ok(s, "INSERT INTO auth_failures (user_email, failed_at) VALUES (?, ?)",
                    STORE_ARGS(SV_TEXT(email), SV_INT(1700000000 + i % 7)));
    }
    exec_ok(s,
            "INSERT INTO accounts (acct_id, name, description, status, approvals_required,"
            " allow_simulation, certificate_validity, renewal_threshold, node_refresh_interval,"
            " created_at, updated_at) VALUES ('a1', 'acct', '', 'ACTIVE', 2, 0, 31536000, 30,"
            " 60, ?, ?)",
            STORE_ARGS(SV_TEXT(ts), SV_TEXT(ts)));
    exec_ok(s,
            "INSERT INTO memberships (acct_id, user_id, role, created_at) VALUES"
            " ('a1', 'u1', 'MANAGER', ?), ('a1', 'u2', 'READER', ?)",
            STORE_ARGS(SV_TEXT(ts), SV_TEXT(ts)));
    exec_ok(s,
            "INSERT INTO apps (app_id, acct_id, name, input_image_name, output_image_name,"
            " isvprodid, isvsvn, mem_size, threads, allowed_domains, whitelisted_domains,"
            " pending_task_id, labels, advanced_settings, created_at, updated_at) VALUES"
            " ('p1', 'a1', 'app', 'in', 'out', 1, 1, 1073741824, 128, '[\"a.b\"]', '[]', 'k1',"
            " '{}', '{\"certificate\":{}}', ?, ?)",
            STORE_ARGS(SV_TEXT(ts), SV_TEXT(ts)));
    exec_ok(s,
            "INSERT INTO builds (build_id, acct_id, app_id, docker_image_name, docker_version,"
            " docker_image_sha, docker_image_size, platform, mrenclave, mrsigner, isvprodid,"
            " isvsvn, status, status_updated_at, pending_task_id, created_at) VALUES"
            " ('b1', 'a1', 'p1', NULL, NULL, NULL, NULL, 'SGX', 'm', 's', 1, 1, 'PENDING', ?,"
            " NULL, ?)",
            STORE_ARGS(SV_TEXT(ts), SV_TEXT(ts)));
    exec_ok(s,
            "INSERT INTO tasks (task_id, acct_id, task_type, entity_id, status, reason,"
            " created_at, updated_at) VALUES ('k1', 'a1', 'DOMAIN_WHITELIST', 'p1', 'PENDING',"
            " NULL, ?, ?)",
            STORE_ARGS(SV_TEXT(ts), SV_TEXT(ts)));
    exec_ok(s,
            "INSERT INTO task_approvals (task_id, user_id, user_name, status, reason, created_at)"
            " VALUES ('k1', 'u1', 'Ada', 'APPROVED', 'fine by me', ?)",
            STORE_ARGS(SV_TEXT(ts)));
    exec_ok(s,
            "INSERT INTO registries (registry_id, acct_id, url, username, password_sealed,"
            " created_at, updated_at) VALUES ('r1', 'a1', 'reg.example', NULL, NULL, ?, ?),"
            " ('r2', 'a1', 'reg2.example', 'bob', 'sealed:abc', ?, ?)",
            STORE_ARGS(SV_TEXT(ts), SV_TEXT(ts), SV_TEXT(ts), SV_TEXT(ts)));
    for (int c = 0; c < CHAINS; c++) {
        char chain[16];

        if (c == 0)
            snprintf(chain, sizeof(chain), "system");
        else
            snprintf(chain, sizeof(chain), "a%d", c);
        for (int seq = 1; seq <= EVENTS_PER_CHAIN; seq++) {
            snprintf(id, sizeof(id), "e-%d-%d", c, seq);
            exec_ok(s,
                    "INSERT INTO events (chain, seq, event_id, time, actor_type, actor_id,"
                    " action_type, severity, message, prev_hash, hash) VALUES (?, ?, ?, ?,"
                    " 'USER', 'u1', 'ADMIN', 'INFO', ?, 'p', 'h')",
                    STORE_ARGS(SV_TEXT(chain), SV_INT(seq), SV_TEXT(id), SV_TEXT(ts),
                               SV_TEXT(seq % 2 ? "message ✓" : "")));
        }
        exec_ok(s, "INSERT INTO audit_heads (chain, seq, hash) VALUES (?, ?, 'h')",
                STORE_ARGS(SV_TEXT(chain), SV_INT(EVENTS_PER_CHAIN)));
        exec_ok(s,
                "INSERT INTO audit_checkpoints (chain, seq, hash, signature, created_at) VALUES"
                " (?, ?, 'h', 'sig', ?)",
                STORE_ARGS(SV_TEXT(chain), SV_INT(EVENTS_PER_CHAIN), SV_TEXT(ts)));
    }
    CHECK_EQ_INT(store_commit(s), 0);
}

/* Every row of table, ordered by all its columns, as text naming each value's type. */
static char *
dump_table(struct store *store, const char *table)
{
    struct store_rows *rows = NULL;
    char sql[256];
    size_t n_cols, len = 0;
    char *out = NULL;
    FILE *f;
    int r;

    snprintf(sql, sizeof(sql), "SELECT * FROM %s LIMIT 1", table);
    CHECK_EQ_INT(store_query(store, sql, STORE_NO_ARGS, &rows), 0);
    n_cols = rows->ops->rows_count_columns(rows);
    store_rows_free(rows);
    f = open_memstream(&out, &len);
    CHECK(f);
    r = snprintf(sql, sizeof(sql), "SELECT * FROM %s ORDER BY 1", table);
    for (size_t i = 2; i <= n_cols; i++)
        r += snprintf(sql + r, sizeof(sql) - (size_t)r, ", %zu", i);
    CHECK_EQ_INT(store_query(store, sql, STORE_NO_ARGS, &rows), 0);
    while ((r = store_rows_next(rows)) > 0) {
        for (size_t i = 0; i < n_cols; i++) {
            fprintf(f, "%s=", rows->ops->rows_column_name(rows, i));
            switch (rows->ops->rows_type(rows, i)) {
            case STORE_INT:
                fprintf(f, "int:%lld|", (long long)store_rows_int(rows, i));
                break;
            case STORE_TEXT:
                fprintf(f, "text:%s|", store_rows_text(rows, i));
                break;
            case STORE_NULL:
                fprintf(f, "null|");
                break;
            }
        }
        fputc('\n', f);
    }
    store_rows_free(rows);
    fclose(f);
    CHECK_EQ_INT(r, 0);
    return out;
}

static void
check_same_tables(struct store *a, struct store *b)
{
    for (size_t i = 0; i < store_copy_n_tables(); i++) {
        char *da = dump_table(a, store_copy_table_name(i));
        char *db = dump_table(b, store_copy_table_name(i));
        bool same = strcmp(da, db) == 0;

        if (!same)
            fprintf(stderr, "  table %s differs\n", store_copy_table_name(i));
        free(da);
        free(db);
        CHECK(same);
    }
}

static int64_t
count(struct store *store, const char *table)
{
    char sql[128];
    int64_t n = -1;

    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", table);
    CHECK_EQ_INT(store_query_int(store, sql, STORE_NO_ARGS, &n), 0);
    return n;
}

static int64_t
report_rows(const struct store_copy_report *report, const char *table)
{
    for (size_t i = 0; i < report->n_tables; i++)
        if (strcmp(report->tables[i].name, table) == 0)
            return report->tables[i].rows;
    return -1;
}

/* A store on the given backend (test_store_open makes one on the case's backend). */
static void
open_on(struct test_store *t, const char *backend)
{
    const char *saved = test_backend;

    test_backend = backend;
    test_store_open(t);
    test_backend = saved;
}

static void
copy_and_compare(const char *from_backend, const char *to_backend)
{
    struct test_store from = { 0 }, to = { 0 };
    struct store_copy_report report;
    int r;

    open_on(&from, from_backend);
    open_on(&to, to_backend);
    fill(from.store);
    r = store_copy(from.store, to.store, &report);
    if (r < 0)
        fprintf(stderr, "  %s\n", report.error);
    CHECK_EQ_INT(r, 0);
    CHECK_EQ_INT(report.schema_version, store_schema_latest());
    CHECK_EQ_INT(report.n_tables, store_copy_n_tables());
    CHECK_EQ_INT(report_rows(&report, "events"), CHAINS * EVENTS_PER_CHAIN);
    CHECK_EQ_INT(report_rows(&report, "auth_failures"), count(from.store, "auth_failures"));
    CHECK_EQ_INT(count(to.store, "auth_failures"), AUTH_FAILURE_GROUPS * 2);
    for (size_t i = 0; i < store_copy_n_tables(); i++)
        CHECK_EQ_INT(report_rows(&report, store_copy_table_name(i)),
                     count(to.store, store_copy_table_name(i)));
    check_same_tables(from.store, to.store);
    test_store_close(&from);
    test_store_close(&to);
}

/* The case's backend to SQLite and back. */
TEST(copy_keeps_every_row_and_value)
{
    copy_and_compare(test_backend, "sqlite");
    copy_and_compare("sqlite", test_backend);
}

TEST(copy_of_an_empty_store)
{
    struct test_store from = { 0 }, to = { 0 };
    struct store_copy_report report;

    test_store_open(&from);
    open_on(&to, "sqlite");
    CHECK_EQ_INT(store_copy(from.store, to.store, &report), 0);
    CHECK_EQ_INT(report.n_tables, store_copy_n_tables());
    for (size_t i = 0; i < report.n_tables; i++)
        CHECK_EQ_INT(report.tables[i].rows, 0);
    test_store_close(&from);
    test_store_close(&to);
}

TEST(copy_refuses_a_non_empty_destination)
{
    struct test_store from = { 0 }, to = { 0 };
    struct store_copy_report report;

    open_on(&from, "sqlite");
    test_store_open(&to);
    fill(from.store);
    exec_ok(to.store, "INSERT INTO audit_heads (chain, seq, hash) VALUES ('x', 1, 'h')",
            STORE_NO_ARGS);
    CHECK_EQ_INT(store_copy(from.store, to.store, &report), -ENOTEMPTY);
    CHECK(strstr(report.error, "audit_heads"));
    CHECK_EQ_INT(report.n_tables, 0);
    CHECK_EQ_INT(count(to.store, "users"), 0);
    CHECK_EQ_INT(count(to.store, "audit_heads"), 1);
    /* Neither store is left inside a transaction. */
    CHECK_EQ_INT(store_begin(from.store, STORE_TXN_WRITE), 0);
    CHECK_EQ_INT(store_rollback(from.store), 0);
    CHECK_EQ_INT(store_begin(to.store, STORE_TXN_WRITE), 0);
    CHECK_EQ_INT(store_rollback(to.store), 0);
    test_store_close(&from);
    test_store_close(&to);
}

TEST(copy_refuses_other_schema_versions)
{
    struct test_store from = { 0 }, to = { 0 };
    struct store_copy_report report;

    test_store_open(&from);
    open_on(&to, "sqlite");
    exec_ok(from.store, "INSERT INTO schema_migrations (version) VALUES (9999)", STORE_NO_ARGS);
    CHECK_EQ_INT(store_copy(from.store, to.store, &report), -EPROTO);
    CHECK(strstr(report.error, "9999"));
    CHECK(strstr(report.error, "schema version"));
    test_store_close(&from);
    test_store_close(&to);
}

/* A destination that drops a row silently (an SQLite trigger) fails the count check, and one
 * that fails an INSERT half-way leaves nothing behind. */
TEST(copy_checks_counts_and_rolls_back)
{
    struct test_store from = { 0 }, to = { 0 };
    struct store_copy_report report;

    test_store_open(&from);
    open_on(&to, "sqlite");
    fill(from.store);

    exec_ok(to.store,
            "CREATE TRIGGER drop_one BEFORE INSERT ON events WHEN NEW.seq = 1050"
            " BEGIN SELECT RAISE(IGNORE); END",
            STORE_NO_ARGS);
    CHECK_EQ_INT(store_copy(from.store, to.store, &report), -EIO);
    CHECK(strstr(report.error, "events"));
    for (size_t i = 0; i < store_copy_n_tables(); i++)
        CHECK_EQ_INT(count(to.store, store_copy_table_name(i)), 0);

    exec_ok(to.store, "DROP TRIGGER drop_one", STORE_NO_ARGS);
    exec_ok(to.store,
            "CREATE TRIGGER fail_one BEFORE INSERT ON audit_checkpoints"
            " BEGIN SELECT RAISE(ABORT, 'refused'); END",
            STORE_NO_ARGS);
    CHECK(store_copy(from.store, to.store, &report) < 0);
    CHECK(strstr(report.error, "audit_checkpoints"));
    for (size_t i = 0; i < store_copy_n_tables(); i++)
        CHECK_EQ_INT(count(to.store, store_copy_table_name(i)), 0);

    /* With the trigger gone the same destination takes the copy. */
    exec_ok(to.store, "DROP TRIGGER fail_one", STORE_NO_ARGS);
    CHECK_EQ_INT(store_copy(from.store, to.store, &report), 0);
    check_same_tables(from.store, to.store);
    test_store_close(&from);
    test_store_close(&to);
}

/* A migration that adds a table must add it to store-copy.c's list too. */
TEST(table_list_covers_the_schema)
{
    struct test_store t = { 0 };
    struct store_rows *rows = NULL;
    size_t n = 0;
    int r;

    test_store_open(&t);
    CHECK_EQ_INT(store_query(t.store,
                             strcmp(test_backend, "postgres") == 0
                                 ? "SELECT table_name FROM information_schema.tables WHERE"
                                   " table_schema = current_schema() AND table_type = 'BASE TABLE'"
                                 : "SELECT name FROM sqlite_master WHERE type = 'table' AND"
                                   " name NOT LIKE 'sqlite_%'",
                             STORE_NO_ARGS, &rows),
                 0);
    while ((r = store_rows_next(rows)) > 0) {
        const char *name = store_rows_text(rows, 0);
        bool listed = false;

        if (strcmp(name, "schema_migrations") == 0)
            continue;
        for (size_t i = 0; i < store_copy_n_tables(); i++)
            listed = listed || strcmp(store_copy_table_name(i), name) == 0;
        if (!listed)
            fprintf(stderr, "  table %s is not in store-copy.c's list\n", name);
        CHECK(listed);
        n++;
    }
    store_rows_free(rows);
    CHECK_EQ_INT(r, 0);
    CHECK_EQ_INT(n, store_copy_n_tables());
    test_store_close(&t);
}

static void
temp_path(char *path, size_t size)
{
    int fd;

    snprintf(path, size, "/tmp/cloister-test-copy-XXXXXX");
    fd = mkostemp(path, O_CLOEXEC);
    CHECK(fd >= 0);
    close(fd);
}

static void
remove_sqlite(const char *path)
{
    char p[96];

    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-journal", path);
    unlink(p);
}

TEST(sqlite_file_copy_is_a_complete_store)
{
    struct test_store from = { 0 };
    struct store_copy_report report;
    struct store *copy = NULL;
    struct store_rows *rows = NULL;
    char path[64], url[80], wal[80];
    struct stat st;

    open_on(&from, "sqlite");
    fill(from.store);
    temp_path(path, sizeof(path));
    /* The source stays open with its WAL, as under a running manager. */
    CHECK_EQ_INT(store_copy_sqlite_file(from.name, path, &report), 0);
    snprintf(wal, sizeof(wal), "%s-wal", path);
    CHECK(stat(wal, &st) < 0);
    snprintf(url, sizeof(url), "sqlite:%s", path);
    CHECK_EQ_INT(store_open(url, &copy), 0);
    check_same_tables(from.store, copy);
    CHECK_EQ_INT(store_query_row(copy, "PRAGMA integrity_check", STORE_NO_ARGS, &rows), 0);
    CHECK_EQ_STR(store_rows_text(rows, 0), "ok");
    store_rows_free(rows);
    store_close(copy);
    remove_sqlite(path);
    test_store_close(&from);
}

TEST(sqlite_file_copy_errors)
{
    struct store_copy_report report;
    char path[64], junk[64];
    int fd;

    temp_path(path, sizeof(path));
    CHECK_EQ_INT(store_copy_sqlite_file("/nonexistent/cloister.db", path, &report), -ENOENT);
    CHECK(strstr(report.error, "/nonexistent/cloister.db"));

    temp_path(junk, sizeof(junk));
    fd = open(junk, O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK_EQ_INT(write(fd, "this is not a database, just some text.....................", 60), 60);
    close(fd);
    CHECK(store_copy_sqlite_file(junk, path, &report) < 0);
    CHECK(strstr(report.error, junk));
    CHECK(strstr(report.error, "not a database"));
    remove_sqlite(junk);
    remove_sqlite(path);
}

TEST_MAIN(TEST_CASE_ON_BACKENDS(copy_keeps_every_row_and_value),
          TEST_CASE_ON_BACKENDS(copy_of_an_empty_store),
          TEST_CASE_ON_BACKENDS(copy_refuses_a_non_empty_destination),
          TEST_CASE_ON_BACKENDS(copy_refuses_other_schema_versions),
          TEST_CASE_ON_BACKENDS(copy_checks_counts_and_rolls_back),
          TEST_CASE_ON_BACKENDS(table_list_covers_the_schema),
          TEST_CASE(sqlite_file_copy_is_a_complete_store), TEST_CASE(sqlite_file_copy_errors))
