#include "test-store-util.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto-util.h"
#include "test.h"

static const char *
pg_base_url(void)
{
    const char *base = getenv("CLOISTER_TEST_PG_URL");

    if (!base || !*base) {
        fprintf(stderr, "  CLOISTER_TEST_PG_URL is not set: PostgreSQL cases need a server "
                        "(scripts/run-tests starts one)\n");
        CHECK(base && *base);
    }
    return base;
}

void
test_pg_admin(const char *sql)
{
    char url[512];
    PGconn *conn;
    PGresult *res;

    snprintf(url, sizeof(url), "%s/postgres", pg_base_url());
    conn = PQconnectdb(url);
    if (PQstatus(conn) != CONNECTION_OK)
        fprintf(stderr, "  %s", PQerrorMessage(conn));
    CHECK(PQstatus(conn) == CONNECTION_OK);
    res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fprintf(stderr, "  %s: %s", sql, PQerrorMessage(conn));
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    PQfinish(conn);
    CHECK(ok);
}

static void
create_database(struct test_store *t)
{
    char sql[160];
    uint8_t random[8];

    CHECK_EQ_INT(crypto_random(random, sizeof(random)), 0);
    snprintf(t->name, sizeof(t->name), "unit_");
    hex_encode(random, sizeof(random), t->name + strlen(t->name));
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8'", t->name);
    test_pg_admin(sql);
    snprintf(t->url, sizeof(t->url), "%s/%s", pg_base_url(), t->name);
}

static void
create_file(struct test_store *t)
{
    int fd;

    snprintf(t->name, sizeof(t->name), "/tmp/cloister-test-store-XXXXXX");
    fd = mkostemp(t->name, O_CLOEXEC);
    CHECK(fd >= 0);
    close(fd);
    snprintf(t->url, sizeof(t->url), "sqlite:%s", t->name);
}

void
test_store_create(struct test_store *t)
{
    CHECK(test_backend);
    if (strcmp(test_backend, "postgres") == 0)
        create_database(t);
    else
        create_file(t);
}

void
test_store_open(struct test_store *t)
{
    test_store_create(t);
    t->store = test_store_connect(t);
}

struct store *
test_store_connect(const struct test_store *t)
{
    struct store *store = NULL;

    CHECK_EQ_INT(store_open(t->url, &store), 0);
    CHECK_EQ_INT(store_migrate(store), 0);
    return store;
}

void
test_store_close(struct test_store *t)
{
    char sql[160], path[96];

    store_close(t->store);
    t->store = NULL;
    if (strncmp(t->url, "sqlite:", 7) != 0) {
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", t->name);
        test_pg_admin(sql);
        return;
    }
    unlink(t->name);
    snprintf(path, sizeof(path), "%s-wal", t->name);
    unlink(path);
    snprintf(path, sizeof(path), "%s-shm", t->name);
    unlink(path);
}
