/* Copying a whole store into another: what backup, restore and migrate-store are built on.
 *
 * store_copy() reads every table of the source inside one read transaction (one consistent
 * snapshot, so a running deployment can be copied) and writes the destination inside one write
 * transaction (all or nothing), table by table in foreign-key order, page by page by primary
 * key so memory stays bounded whatever the size of the tables. Each table's rows read, rows
 * inserted and the destination's COUNT(*) must agree, else nothing is committed.
 *
 * The tables copied are one list in store-copy.c: a migration that adds a table adds it there
 * (tests/unit/test-store-copy.c fails until it does). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Rows read from the source per query (keyset pagination). */
#define STORE_COPY_PAGE_ROWS 1000
/* Arguments bound to one INSERT, which writes as many rows as fit: the most a statement of
 * every backend takes. A table may have this many columns. */
#define STORE_COPY_ARGS_MAX STORE_ARGS_MAX
#define STORE_COPY_TABLES_MAX 32

struct store_copy_table {
    const char *name; /* static */
    int64_t rows;
};

/* What a copy or count did. Filled as the work goes; on failure, error holds a message for the
 * operator naming the table and the reason (the functions themselves log nothing above
 * debug). */
struct store_copy_report {
    int64_t schema_version;
    size_t n_tables;
    struct store_copy_table tables[STORE_COPY_TABLES_MAX];
    char error[512];
};

/* strerror() in the store's terms: -ENOTCONN "the database is unreachable", -EBUSY "the database
 * is busy", otherwise strerror(-r). */
const char *store_copy_strerror(int r);

/* The tables copied, in foreign-key order (parents first). */
size_t store_copy_n_tables(void);
const char *store_copy_table_name(size_t i);

/* Copies every table of from into to. Both must be at the same schema version (-EPROTO
 * otherwise) and to must hold no row in any table (-ENOTEMPTY, naming the first non-empty
 * table). A count that does not match is -EIO. Neither store may be inside a transaction.
 * On failure nothing is written to to. */
int store_copy(struct store *from, struct store *to, struct store_copy_report *report);

/* Counts the rows of every table and reads the schema version, in one read transaction. */
int store_copy_count(struct store *store, struct store_copy_report *report);

/* Copies the SQLite database file from_path into to_path (an empty or missing file) with
 * SQLite's online backup API. The source is read inside one read transaction, so the copy is
 * one consistent snapshot while other processes keep writing (the store runs in WAL mode, where
 * a reader never blocks a writer). from_path must exist; it is never created or written.
 * Errors: -ENOENT from_path does not exist, -ENOTCONN it cannot be read as a database, -EBUSY
 * locked past the busy timeout; report->error says which. */
int store_copy_sqlite_file(const char *from_path, const char *to_path,
                           struct store_copy_report *report);
