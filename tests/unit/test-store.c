/* The store primitives and helpers, every case on SQLite and on PostgreSQL. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store-settings.h"
#include "store.h"
#include "test-store-util.h"
#include "test.h"

static struct test_store fresh;

static struct store *
open_fresh(void)
{
    test_store_open(&fresh);
    return fresh.store;
}

static void
close_fresh(struct store *store)
{
    CHECK(store == fresh.store);
    test_store_close(&fresh);
}

TEST(migrations_are_versioned_and_idempotent)
{
    struct store *store = open_fresh();
    int64_t version = 0;

    CHECK_EQ_INT(store_schema_version(store, &version), 0);
    CHECK(version >= 1);
    CHECK_EQ_INT(store_migrate(store), 0); /* again: nothing to do */
    CHECK_EQ_INT(store_schema_version(store, &version), 0);
    CHECK(version >= 1);
    close_fresh(store);
}

static int
insert_user(struct store *store, const char *id, const char *email)
{
    return store_exec(store,
                      "INSERT INTO users (user_id, user_email, password_hash, first_name,"
                      " last_name, status, is_admin, created_at) VALUES (?, ?, 'h', 'A', 'B',"
                      " 'ACTIVE', 1, '2026-01-01T00:00:00.000Z')",
                      STORE_ARGS(SV_TEXT(id), SV_TEXT(email)), NULL);
}

TEST(unique_violation_maps_to_eexist)
{
    struct store *store = open_fresh();

    CHECK_EQ_INT(insert_user(store, "u1", "a@example.com"), 0);
    CHECK_EQ_INT(insert_user(store, "u2", "a@example.com"), -EEXIST);
    CHECK_EQ_INT(insert_user(store, "u1", "b@example.com"), -EEXIST);
    close_fresh(store);
}

TEST(rollback_discards_writes)
{
    struct store *store = open_fresh();
    int64_t n = -1;

    CHECK_EQ_INT(store_begin(store, STORE_TXN_WRITE), 0);
    CHECK_EQ_INT(insert_user(store, "u1", "a@example.com"), 0);
    CHECK_EQ_INT(store_rollback(store), 0);
    CHECK_EQ_INT(store_query_int(store, "SELECT COUNT(*) FROM users", STORE_NO_ARGS, &n), 0);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(store_begin(store, STORE_TXN_WRITE), 0);
    CHECK_EQ_INT(insert_user(store, "u1", "a@example.com"), 0);
    CHECK_EQ_INT(store_commit(store), 0);
    CHECK_EQ_INT(store_query_int(store, "SELECT COUNT(*) FROM users", STORE_NO_ARGS, &n), 0);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(store_begin(store, STORE_TXN_READ), 0);
    CHECK_EQ_INT(store_begin(store, STORE_TXN_READ), -EINPROGRESS);
    CHECK_EQ_INT(store_rollback(store), 0);
    close_fresh(store);
}

/* store_checkpoint: outside a transaction only; on SQLite, afterwards every frame of the WAL is
 * in the database file (what PRAGMA wal_checkpoint reports: as many frames checkpointed as the
 * log holds); PostgreSQL has nothing to do. */
TEST(checkpoint_moves_the_log_into_the_database)
{
    struct store *store = open_fresh();
    struct store_rows *rows = NULL;

    CHECK_EQ_INT(insert_user(store, "u1", "a@example.com"), 0);
    CHECK_EQ_INT(store_begin(store, STORE_TXN_READ), 0);
    CHECK_EQ_INT(store_checkpoint(store), -EBUSY);
    CHECK_EQ_INT(store_rollback(store), 0);
    CHECK_EQ_INT(store_checkpoint(store), 0);
    if (strcmp(store->ops->scheme, "sqlite") == 0) {
        CHECK_EQ_INT(store_query_row(store, "PRAGMA wal_checkpoint(PASSIVE)", STORE_NO_ARGS, &rows),
                     0);
        CHECK(store_rows_int(rows, 1) > 0);
        CHECK_EQ_INT(store_rows_int(rows, 2), store_rows_int(rows, 1));
        store_rows_free(rows);
    }
    close_fresh(store);
}

TEST(rows_become_json_by_column_suffix)
{
    struct store *store = open_fresh();
    json_t *object = NULL;

    CHECK_EQ_INT(insert_user(store, "u1", "a@example.com"), 0);
    CHECK_EQ_INT(store_query_json_object(store,
                                         "SELECT user_id, is_admin AS is_admin_bool,"
                                         " '[1,2]' AS list_json, last_logged_in_at"
                                         " FROM users WHERE user_id = ?",
                                         STORE_ARGS(SV_TEXT("u1")), &object),
                 0);
    CHECK_EQ_STR(json_string_value(json_object_get(object, "user_id")), "u1");
    CHECK(json_is_true(json_object_get(object, "is_admin")));
    CHECK_EQ_INT(json_array_size(json_object_get(object, "list")), 2);
    CHECK(json_is_null(json_object_get(object, "last_logged_in_at")));
    json_decref(object);
    CHECK_EQ_INT(store_query_json_object(store, "SELECT user_id FROM users WHERE user_id = ?",
                                         STORE_ARGS(SV_TEXT("nobody")), &object),
                 -ENOENT);
    close_fresh(store);
}

TEST(dynamic_sql_is_not_confused_by_the_statement_cache)
{
    struct store *store = open_fresh();
    int64_t n = 0;

    CHECK_EQ_INT(insert_user(store, "u1", "a@example.com"), 0);
    for (int i = 0; i < 200; i++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT COUNT(*) + %d FROM users", i);
        CHECK_EQ_INT(store_query_int(store, sql, STORE_NO_ARGS, &n), 0);
        CHECK_EQ_INT(n, i + 1);
    }
    close_fresh(store);
}

TEST(wrong_argument_count_is_refused)
{
    struct store *store = open_fresh();

    CHECK_EQ_INT(store_exec(store, "DELETE FROM users WHERE user_id = ?", STORE_NO_ARGS, NULL),
                 -EINVAL);
    CHECK_EQ_INT(store_exec(store, "DELETE FROM users WHERE user_id = ? OR user_email = ?",
                            STORE_ARGS(SV_TEXT("u1")), NULL),
                 -EINVAL);
    CHECK_EQ_INT(store_exec(store, "DELETE FROM users WHERE user_id = ?",
                            STORE_ARGS(SV_TEXT("u1"), SV_TEXT("u2")), NULL),
                 -EINVAL);
    CHECK_EQ_INT(store_open("nosuchbackend:x", &(struct store *){ NULL }), -EPROTONOSUPPORT);
    close_fresh(store);
}

static int
insert_named_user(struct store *store, const char *id, const char *first_name)
{
    char email[64];

    snprintf(email, sizeof(email), "%s@example.com", id);
    return store_exec(store,
                      "INSERT INTO users (user_id, user_email, password_hash, first_name,"
                      " last_name, status, created_at) VALUES (?, ?, 'h', ?, 'B', 'ACTIVE',"
                      " '2026-01-01T00:00:00.000Z')",
                      STORE_ARGS(SV_TEXT(id), SV_TEXT(email), SV_TEXT(first_name)), NULL);
}

static int
append_name(struct store_rows *rows, void *userdata)
{
    char *out = userdata;

    size_t len = strlen(out);
    snprintf(out + len, 128 - len, "%s|", store_rows_text(rows, 0));
    return 0;
}

/* Both backends order text by bytes (code points) and fold only ASCII letters, whatever the
 * PostgreSQL database's locale: lists sort and search the same everywhere. */
TEST(text_orders_bytewise_and_folds_ascii_only)
{
    static const char *const names[] = { "b", "B", "a", "\xc3\x89", "\xc3\xa9", "Z" };
    struct store *store = open_fresh();
    char order[128] = "";
    int64_t n = -1;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char id[8];
        snprintf(id, sizeof(id), "u%zu", i);
        CHECK_EQ_INT(insert_named_user(store, id, names[i]), 0);
    }
    CHECK_EQ_INT(store_query_each(store, "SELECT first_name FROM users ORDER BY first_name",
                                  STORE_NO_ARGS, append_name, order),
                 0);
    CHECK_EQ_STR(order, "B|Z|a|b|\xc3\x89|\xc3\xa9|");
    order[0] = '\0';
    CHECK_EQ_INT(store_query_each(store,
                                  "SELECT first_name FROM users ORDER BY lower(first_name),"
                                  " first_name",
                                  STORE_NO_ARGS, append_name, order),
                 0);
    CHECK_EQ_STR(order, "a|B|b|Z|\xc3\x89|\xc3\xa9|");
    CHECK_EQ_INT(store_query_int(store, "SELECT COUNT(*) FROM users WHERE lower(first_name) = ?",
                                 STORE_ARGS(SV_TEXT("\xc3\xa9")), &n),
                 0);
    CHECK_EQ_INT(n, 1);
    close_fresh(store);
}

TEST(integers_and_nulls_keep_their_types)
{
    struct store *store = open_fresh();
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;

    CHECK_EQ_INT(
        store_exec(store,
                   "INSERT INTO accounts (acct_id, name, status, approvals_required,"
                   " allow_simulation, certificate_validity, renewal_threshold,"
                   " node_refresh_interval, created_at, updated_at)"
                   " VALUES (?, 'n', 'ACTIVE', ?, ?, ?, 1, 1, 't', 't')",
                   STORE_ARGS(SV_TEXT("a1"), SV_INT(2), SV_BOOL(true), SV_INT(INT64_C(1) << 40)),
                   NULL),
        0);
    CHECK_EQ_INT(store_query_row(store,
                                 "SELECT approvals_required, certificate_validity, description,"
                                 " NULL AS absent, allow_simulation = 1 AS yes FROM accounts",
                                 STORE_NO_ARGS, &rows),
                 0);
    CHECK_EQ_INT(store_rows_int(rows, 0), 2);
    CHECK_EQ_INT(store_rows_int(rows, 1), INT64_C(1) << 40);
    CHECK_EQ_STR(store_rows_text(rows, 2), "");
    CHECK(!store_rows_is_null(rows, 2));
    CHECK(store_rows_is_null(rows, 3));
    CHECK_EQ_INT(store_rows_int(rows, 4), 1);
    store_rows_free(TAKE_PTR(rows)); /* before its store closes */
    close_fresh(store);
}

/* PostgreSQL only: SQLite excludes a second writer by the write transaction itself, and an SQLite
 * connection must not be opened in a child forked from a process that has the file open.
 *
 * A child process (another worker or replica) takes the scope lock the parent holds: it waits for
 * the parent's commit and then sees the parent's row. Exit status 0 when it did. (No CHECK here:
 * a failed check would longjmp into the child's copy of the test runner.) */
static int
child_locks_and_counts(const struct test_store *t, const char *scope, int64_t expected)
{
    struct store *store = NULL;
    int64_t n = -1;

    if (store_open(t->url, &store) < 0 || store_begin(store, STORE_TXN_WRITE) < 0 ||
        store_lock_scope(store, scope) < 0 ||
        store_query_int(store, "SELECT COUNT(*) FROM users", STORE_NO_ARGS, &n) < 0)
        return 2;
    store_commit(store);
    store_close(store);
    return n == expected ? 0 : 1;
}

TEST(scope_lock_makes_later_writers_see_earlier_commits)
{
    struct store *store = open_fresh();
    int status = -1;
    pid_t pid;

    CHECK_EQ_INT(store_begin(store, STORE_TXN_WRITE), 0);
    CHECK_EQ_INT(store_lock_scope(store, "acct-1"), 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(child_locks_and_counts(&fresh, "acct-1", 1));
    usleep(300 * 1000); /* the child is now waiting for the lock */
    CHECK_EQ_INT(insert_user(store, "u1", "a@example.com"), 0);
    CHECK_EQ_INT(store_commit(store), 0);
    CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ_INT(WEXITSTATUS(status), 0);
    close_fresh(store);
}

/* PostgreSQL scopes are independent: a writer of another account does not wait. */
TEST(other_scopes_do_not_wait)
{
    struct store *store = open_fresh();
    int status = -1;
    pid_t pid;

    CHECK_EQ_INT(store_begin(store, STORE_TXN_WRITE), 0);
    CHECK_EQ_INT(store_lock_scope(store, "acct-1"), 0);
    CHECK_EQ_INT(insert_user(store, "u1", "a@example.com"), 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(child_locks_and_counts(&fresh, "acct-2", 0));
    CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
    CHECK_EQ_INT(store_commit(store), 0);
    CHECK(WIFEXITED(status));
    CHECK_EQ_INT(WEXITSTATUS(status), 0);
    close_fresh(store);
}

/* Replicas starting at the same moment: every one migrates successfully, each migration once. */
TEST(concurrent_migrations_apply_once)
{
    enum { N = 4 };
    struct test_store t = { .store = NULL };
    pid_t pids[N];
    int64_t n = -1;

    test_store_create(&t);
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        CHECK(pids[i] >= 0);
        if (pids[i] == 0) {
            struct store *store = NULL;
            int r = store_open(t.url, &store);
            if (r >= 0)
                r = store_migrate(store);
            if (r < 0)
                fprintf(stderr, "  migrating child failed: %s\n", strerror(-r));
            store_close(store);
            _exit(r < 0 ? 1 : 0);
        }
    }
    for (int i = 0; i < N; i++) {
        int status = -1;
        CHECK_EQ_INT(waitpid(pids[i], &status, 0), pids[i]);
        CHECK(WIFEXITED(status));
        CHECK_EQ_INT(WEXITSTATUS(status), 0);
    }
    t.store = test_store_connect(&t);
    CHECK_EQ_INT(
        store_query_int(t.store, "SELECT COUNT(*) FROM schema_migrations", STORE_NO_ARGS, &n), 0);
    CHECK_EQ_INT(n, store_schema_latest());
    test_store_close(&t);
}

static void
terminate_connection(struct store *store)
{
    char sql[96];
    int64_t pid = 0;

    CHECK_EQ_INT(store_query_int(store, "SELECT pg_backend_pid()", STORE_NO_ARGS, &pid), 0);
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%lld)", (long long)pid);
    test_pg_admin(sql);
}

/* The server drops the connection (a restart, an operator): the statement that finds out fails
 * with -ENOTCONN, nothing of its transaction stays, and the next transaction reconnects. */
TEST(dropped_connection_fails_cleanly_then_reconnects)
{
    struct store *store = open_fresh();
    int64_t n = -1;

    CHECK_EQ_INT(store_begin(store, STORE_TXN_WRITE), 0);
    CHECK_EQ_INT(insert_user(store, "u1", "a@example.com"), 0);
    terminate_connection(store);
    CHECK_EQ_INT(insert_user(store, "u2", "b@example.com"), -ENOTCONN);
    CHECK_EQ_INT(store_commit(store), -ENOTCONN);
    CHECK_EQ_INT(store_begin(store, STORE_TXN_READ), 0);
    CHECK_EQ_INT(store_query_int(store, "SELECT COUNT(*) FROM users", STORE_NO_ARGS, &n), 0);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(store_commit(store), 0);
    terminate_connection(store);
    CHECK_EQ_INT(store_begin(store, STORE_TXN_WRITE), 0); /* reconnects on the way */
    CHECK_EQ_INT(insert_user(store, "u1", "a@example.com"), 0);
    CHECK_EQ_INT(store_commit(store), 0);
    /* A query outside a transaction (the session lookup) reconnects and runs again. */
    terminate_connection(store);
    CHECK_EQ_INT(store_query_int(store, "SELECT COUNT(*) FROM users", STORE_NO_ARGS, &n), 0);
    CHECK_EQ_INT(n, 1);
    close_fresh(store);
}

TEST(unreachable_server_fails_fast_with_enotconn)
{
    struct store *store = NULL;

    /* Port 1 on loopback refuses at once: opening succeeds (workers start during an outage),
     * every statement reports the outage. */
    CHECK_EQ_INT(store_open("postgres://postgres@127.0.0.1:1/none", &store), 0);
    CHECK_EQ_INT(store_ping(store), -ENOTCONN);
    CHECK_EQ_INT(store_begin(store, STORE_TXN_WRITE), -ENOTCONN);
    CHECK_EQ_INT(store_migrate(store), -ENOTCONN);
    store_close(store);
}

/* A statement's failure aborts a PostgreSQL transaction: committing it anyway is an error, never
 * a silent partial commit. (Handlers return on the first error, as they must on both.) */
TEST(commit_after_failed_statement_is_refused)
{
    struct store *store = open_fresh();
    int64_t n = -1;

    CHECK_EQ_INT(store_begin(store, STORE_TXN_WRITE), 0);
    CHECK_EQ_INT(insert_user(store, "u1", "a@example.com"), 0);
    CHECK_EQ_INT(insert_user(store, "u1", "b@example.com"), -EEXIST);
    CHECK(store_commit(store) < 0);
    CHECK_EQ_INT(store_query_int(store, "SELECT COUNT(*) FROM users", STORE_NO_ARGS, &n), 0);
    CHECK_EQ_INT(n, 0);
    close_fresh(store);
}

/* Replicas must share one master key: the first start records its id, a different one is
 * refused, the same one accepted again. */
TEST(master_key_id_is_recorded_then_enforced)
{
    struct store *store = open_fresh();

    CHECK_EQ_INT(store_check_master_key(store, "0123456789abcdef0123456789abcdef"), 0);
    CHECK_EQ_INT(store_check_master_key(store, "0123456789abcdef0123456789abcdef"), 0);
    CHECK_EQ_INT(store_check_master_key(store, "ffffffffffffffffffffffffffffffff"), -EKEYREJECTED);
    CHECK_EQ_INT(store_check_master_key(store, "0123456789abcdef0123456789abcdef"), 0);
    close_fresh(store);
}

#define POSTGRES_ONLY(fn)                                                                          \
    {                                                                                              \
#fn "[postgres]", fn, "postgres"                                                           \
    }

TEST_MAIN(TEST_CASE_ON_BACKENDS(migrations_are_versioned_and_idempotent),
          TEST_CASE_ON_BACKENDS(unique_violation_maps_to_eexist),
          TEST_CASE_ON_BACKENDS(rollback_discards_writes),
          TEST_CASE_ON_BACKENDS(checkpoint_moves_the_log_into_the_database),
          TEST_CASE_ON_BACKENDS(rows_become_json_by_column_suffix),
          TEST_CASE_ON_BACKENDS(dynamic_sql_is_not_confused_by_the_statement_cache),
          TEST_CASE_ON_BACKENDS(wrong_argument_count_is_refused),
          TEST_CASE_ON_BACKENDS(text_orders_bytewise_and_folds_ascii_only),
          TEST_CASE_ON_BACKENDS(integers_and_nulls_keep_their_types),
          POSTGRES_ONLY(scope_lock_makes_later_writers_see_earlier_commits),
          TEST_CASE_ON_BACKENDS(concurrent_migrations_apply_once),
          TEST_CASE_ON_BACKENDS(master_key_id_is_recorded_then_enforced),
          POSTGRES_ONLY(other_scopes_do_not_wait),
          POSTGRES_ONLY(dropped_connection_fails_cleanly_then_reconnects),
          POSTGRES_ONLY(unreachable_server_fails_fast_with_enotconn),
          POSTGRES_ONLY(commit_after_failed_statement_is_refused))
