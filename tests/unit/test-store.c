/* The store primitives and helpers on a real SQLite file. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "store.h"
#include "test.h"

static char db_path[] = "/tmp/cloister-test-store-XXXXXX";

static struct store *
open_fresh(void)
{
    struct store *store = NULL;
    char url[64];
    int fd = mkstemp(db_path);

    CHECK(fd >= 0);
    close(fd);
    snprintf(url, sizeof(url), "sqlite:%s", db_path);
    CHECK_EQ_INT(store_open(url, &store), 0);
    CHECK_EQ_INT(store_migrate(store), 0);
    return store;
}

static void
close_fresh(struct store *store)
{
    char path[80];

    store_close(store);
    unlink(db_path);
    snprintf(path, sizeof(path), "%s-wal", db_path);
    unlink(path);
    snprintf(path, sizeof(path), "%s-shm", db_path);
    unlink(path);
    snprintf(db_path, sizeof(db_path), "/tmp/cloister-test-store-XXXXXX");
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
    CHECK_EQ_INT(store_open("nosuchbackend:x", &(struct store *){ NULL }), -EPROTONOSUPPORT);
    close_fresh(store);
}

TEST_MAIN(TEST_CASE(migrations_are_versioned_and_idempotent),
          TEST_CASE(unique_violation_maps_to_eexist), TEST_CASE(rollback_discards_writes),
          TEST_CASE(rows_become_json_by_column_suffix),
          TEST_CASE(dynamic_sql_is_not_confused_by_the_statement_cache),
          TEST_CASE(wrong_argument_count_is_refused))
