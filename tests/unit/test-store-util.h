/* A fresh, migrated store for a test case on the case's backend (test_backend): a temporary
 * SQLite file, or a new database on the PostgreSQL server named by CLOISTER_TEST_PG_URL
 * (scripts/run-tests starts one). Without that variable a PostgreSQL case fails, saying so. */
#pragma once

#include "store.h"

struct test_store {
    char url[512];
    char name[64]; /* SQLite: the file; PostgreSQL: the database */
    struct store *store;
};

/* Creates the empty database (no schema) without opening it. */
void test_store_create(struct test_store *t);
/* Creates the empty database and opens it, migrated. */
void test_store_open(struct test_store *t);
/* Another connection to the same database (as another worker or replica has), migrated. */
struct store *test_store_connect(const struct test_store *t);
/* Closes it and deletes the database. */
void test_store_close(struct test_store *t);
/* Runs sql (no arguments) on the PostgreSQL server's maintenance database, outside any store:
 * for tests that act as an operator (terminate connections). */
void test_pg_admin(const char *sql);
