/* An SQLite VFS that writes each transaction's WAL frames with one system call (see the .c). */
#pragma once

/* The name to pass to sqlite3_open_v2(); registers the VFS on first use (thread-safe). NULL
 * if it could not be registered: open with SQLite's default VFS then. */
const char *sqlite_wal_batch_vfs(void);
