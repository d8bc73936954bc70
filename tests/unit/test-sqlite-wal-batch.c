/* The SQLite VFS that writes a transaction's WAL frames at once (src/manager/store/
 * sqlite-wal-batch.c): commits are whole and visible to other connections, big and spilled
 * transactions and rollbacks keep the database intact, a failed write fails the commit, and a
 * commit costs one write system call instead of two per page. */
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sqlite-wal-batch.h"
#include "test.h"

struct db_dir {
    char dir[64];
    char path[96];
};

static void
db_dir_init(struct db_dir *d)
{
    snprintf(d->dir, sizeof(d->dir), "/tmp/test-wal-batch-XXXXXX");
    CHECK(mkdtemp(d->dir));
    snprintf(d->path, sizeof(d->path), "%s/db", d->dir);
}

static void
db_dir_release(struct db_dir *d)
{
    char path[128];

    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s%s", d->path, (const char *[]){ "", "-wal", "-shm" }[i]);
        (void)unlink(path);
    }
    (void)rmdir(d->dir);
}

/* batched: through the batching VFS, else SQLite's default one. */
static sqlite3 *
db_open(const char *path, bool batched)
{
    sqlite3 *db = NULL;
    const char *vfs = batched ? sqlite_wal_batch_vfs() : NULL;

    CHECK(!batched || vfs);
    CHECK_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
                 SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(db,
                              "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                              "PRAGMA wal_autocheckpoint=0",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    return db;
}

static int
exec(sqlite3 *db, const char *sql)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK)
        fprintf(stderr, "  sqlite: %s (%s)\n", sqlite3_errmsg(db), sql);
    return rc;
}

static long long
query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    long long v;

    CHECK_EQ_INT(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_step(stmt), SQLITE_ROW);
    v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return v;
}

static void
check_intact(sqlite3 *db)
{
    sqlite3_stmt *stmt = NULL;

    CHECK_EQ_INT(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_step(stmt), SQLITE_ROW);
    CHECK_EQ_STR((const char *)sqlite3_column_text(stmt, 0), "ok");
    sqlite3_finalize(stmt);
}

/* Write system calls this process made so far (/proc/self/io). */
static long long
write_syscalls(void)
{
    FILE *f = fopen("/proc/self/io", "re");
    char line[128];
    long long n = -1;

    CHECK(f);
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "syscw: %lld", &n) == 1)
            break;
    fclose(f);
    CHECK(n >= 0);
    return n;
}

/* Write system calls of one committed transaction that changes about 20 pages. */
static long long
writes_of_one_commit(bool batched)
{
    struct db_dir d;
    sqlite3 *db;
    long long before, after;

    db_dir_init(&d);
    db = db_open(d.path, batched);
    for (int t = 0; t < 20; t++) {
        char sql[128];

        snprintf(sql, sizeof(sql), "CREATE TABLE t%d(a)", t);
        CHECK_EQ_INT(exec(db, sql), SQLITE_OK);
    }
    CHECK_EQ_INT(exec(db, "BEGIN IMMEDIATE"), SQLITE_OK);
    for (int t = 0; t < 20; t++) {
        char sql[128];

        snprintf(sql, sizeof(sql), "INSERT INTO t%d VALUES (randomblob(100))", t);
        CHECK_EQ_INT(exec(db, sql), SQLITE_OK);
    }
    before = write_syscalls();
    CHECK_EQ_INT(exec(db, "COMMIT"), SQLITE_OK);
    after = write_syscalls();
    sqlite3_close(db);
    db_dir_release(&d);
    return after - before;
}

TEST(test_a_commit_is_one_write)
{
    long long plain = writes_of_one_commit(false);
    long long batched = writes_of_one_commit(true);

    /* SQLite alone writes a header and a page per frame: 2 x (20 tables + schema page). */
    CHECK(plain >= 40);
    CHECK(batched <= 2);
}

TEST(test_commits_are_visible_to_another_connection)
{
    struct db_dir d;
    sqlite3 *writer, *reader;

    db_dir_init(&d);
    writer = db_open(d.path, true);
    reader = db_open(d.path, false);
    CHECK_EQ_INT(exec(writer, "CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)"), SQLITE_OK);
    for (int i = 1; i <= 50; i++) {
        char sql[128];

        snprintf(sql, sizeof(sql), "INSERT INTO t(v) VALUES (randomblob(%d))", 100 * i);
        CHECK_EQ_INT(exec(writer, sql), SQLITE_OK);
        CHECK_EQ_INT(query_int(reader, "SELECT count(*) FROM t"), i);
    }
    CHECK_EQ_INT(query_int(reader, "SELECT sum(length(v)) FROM t"), 100 * 50 * 51 / 2);
    CHECK_EQ_INT(exec(writer, "PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_OK);
    check_intact(reader);
    sqlite3_close(writer);
    sqlite3_close(reader);
    db_dir_release(&d);
}

/* More than one batch (the default VFS writes < 128 KiB per call), and a transaction that
 * spills pages before its commit and then changes them again (SQLite rewrites those frames in
 * place and their checksums after the commit frame). */
TEST(test_big_and_spilled_transactions)
{
    struct db_dir d;
    sqlite3 *writer, *reader;

    db_dir_init(&d);
    writer = db_open(d.path, true);
    reader = db_open(d.path, false);
    CHECK_EQ_INT(exec(writer, "PRAGMA cache_size=10; CREATE TABLE t(k INTEGER PRIMARY KEY, v)"),
                 SQLITE_OK);
    CHECK_EQ_INT(exec(writer, "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                              "FROM n WHERE i < 2000) INSERT INTO t SELECT i, randomblob(1000) "
                              "FROM n; UPDATE t SET v = zeroblob(900) WHERE k % 3 = 0; COMMIT"),
                 SQLITE_OK);
    CHECK_EQ_INT(query_int(reader, "SELECT count(*) FROM t"), 2000);
    CHECK_EQ_INT(query_int(reader, "SELECT count(*) FROM t WHERE v = zeroblob(900)"), 666);
    check_intact(reader);

    /* A spilled transaction rolled back leaves nothing behind. */
    CHECK_EQ_INT(exec(writer, "BEGIN; UPDATE t SET v = randomblob(1200); DELETE FROM t WHERE "
                              "k > 1000"),
                 SQLITE_OK);
    CHECK_EQ_INT(exec(writer, "ROLLBACK"), SQLITE_OK);
    CHECK_EQ_INT(exec(writer, "INSERT INTO t VALUES (5000, 'after')"), SQLITE_OK);
    CHECK_EQ_INT(query_int(reader, "SELECT count(*) FROM t"), 2001);
    CHECK_EQ_INT(query_int(reader, "SELECT count(*) FROM t WHERE v = zeroblob(900)"), 666);
    check_intact(reader);
    sqlite3_close(writer);
    sqlite3_close(reader);
    db_dir_release(&d);
}

/* A child whose files may not grow past the WAL's current size: its commit must fail, and what
 * was committed before stays whole. */
TEST(test_a_failed_write_fails_the_commit)
{
    struct db_dir d;
    sqlite3 *db;
    pid_t pid;
    int status;

    db_dir_init(&d);
    db = db_open(d.path, true);
    CHECK_EQ_INT(exec(db, "CREATE TABLE t(v); INSERT INTO t VALUES (randomblob(3000))"), SQLITE_OK);
    sqlite3_close(db);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct rlimit limit = { 64 << 10, 64 << 10 };
        sqlite3 *child = db_open(d.path, true);
        int rc;

        signal(SIGXFSZ, SIG_IGN);
        rc = exec(child, "BEGIN; CREATE TABLE big(v); INSERT INTO big VALUES (randomblob(1000))");
        (void)setrlimit(RLIMIT_FSIZE, &limit);
        if (rc == SQLITE_OK)
            rc = exec(child, "INSERT INTO big VALUES (randomblob(200000))");
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(child, "COMMIT", NULL, NULL, NULL);
        _exit((rc & 0xff) == SQLITE_FULL || (rc & 0xff) == SQLITE_IOERR ? 0 : 1);
    }
    CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ_INT(WEXITSTATUS(status), 0);
    db = db_open(d.path, false);
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM t"), 1);
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'big'"), 0);
    check_intact(db);
    sqlite3_close(db);
    db_dir_release(&d);
}

TEST_MAIN(TEST_CASE(test_a_commit_is_one_write),
          TEST_CASE(test_commits_are_visible_to_another_connection),
          TEST_CASE(test_big_and_spilled_transactions),
          TEST_CASE(test_a_failed_write_fails_the_commit))
