/* An SQLite VFS on top of the default one ("unix") that writes a transaction's WAL frames with
 * one system call instead of two per page.
 *
 * Why: SQLite writes each WAL frame as two pwrite()s, its 24-byte header and its page, so an
 * issuance (about 20 pages) costs some 40 system calls, and on virtual machines a system call
 * costs microseconds. Here appends to the WAL are gathered in a buffer and written together.
 *
 * Why it is safe: no other connection reads a frame until the writer publishes it in the
 * wal-index, which it does only after sqlite3WalFrames() returns, and the last write of that
 * call is the page of the commit frame (the frame whose header carries the database size).
 * That write flushes the buffer and reports any error from it, exactly where SQLite would have
 * seen the error of its own pwrite(). Frames of a transaction that spilled before its commit
 * are not published either; this connection reading them back, or any other call on the file,
 * flushes first. When SQLite rewrites frame headers in place (walRewriteChecksums), the
 * commit header goes straight to the file. Durability is unchanged: SQLite syncs the WAL
 * (xSync) when its settings say so, and a sync flushes first. Everything but the WAL file
 * (the database, journals, temporary files) is the default VFS's own file, untouched. */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite-wal-batch.h"

#define WAL_BATCH_VFS_NAME "cloister-wal-batch"
/* Bigger transactions go out in several batches. The default VFS writes less than 128 KiB in
 * one call (os_unix.c masks the length with 0x1ffff), and this also bounds the memory per
 * connection. */
#define WAL_BATCH_MAX (120u << 10)
#define WAL_FRAME_HEADER_SIZE 24

struct wal_file {
    sqlite3_file base;     /* pMethods = &wal_methods */
    sqlite3_file *real;    /* the default VFS's file, stored right after this struct */
    uint8_t *buf;          /* appended bytes not yet written */
    size_t len;            /* bytes in buf */
    size_t size;           /* bytes allocated for buf */
    sqlite3_int64 buf_off; /* file offset of buf[0] */
    bool commit_pending;   /* the last write was a commit frame's header: flush after its page */
};

static sqlite3_vfs *default_vfs;
static sqlite3_vfs wal_batch_vfs;
static const sqlite3_io_methods wal_methods;

static sqlite3_file *
real_of(sqlite3_file *file)
{
    return ((struct wal_file *)file)->real;
}

static int
wal_flush(struct wal_file *w)
{
    int rc;

    w->commit_pending = false;
    if (w->len == 0)
        return SQLITE_OK;
    rc = w->real->pMethods->xWrite(w->real, w->buf, (int)w->len, w->buf_off);
    w->len = 0;
    return rc;
}

/* A frame header names the database size after the commit in bytes 4..7; 0 for other frames. */
static bool
is_commit_header(const void *data, int amount)
{
    const uint8_t *h = data;

    return amount == WAL_FRAME_HEADER_SIZE && (h[4] | h[5] | h[6] | h[7]) != 0;
}

static int
wal_buffer_reserve(struct wal_file *w, size_t need)
{
    size_t size = w->size ? w->size : 16u << 10;
    uint8_t *buf;

    if (need <= w->size)
        return 0;
    while (size < need)
        size *= 2;
    buf = realloc(w->buf, size);
    if (!buf)
        return -ENOMEM;
    w->buf = buf;
    w->size = size;
    return 0;
}

static int
wal_write(sqlite3_file *file, const void *data, int amount, sqlite3_int64 offset)
{
    struct wal_file *w = (struct wal_file *)file;
    bool commit = is_commit_header(data, amount);
    bool completes_commit = w->commit_pending && !commit;
    int rc;

    if (w->len > 0 &&
        (offset != w->buf_off + (sqlite3_int64)w->len || w->len + (size_t)amount > WAL_BATCH_MAX)) {
        rc = wal_flush(w);
        if (rc != SQLITE_OK)
            return rc;
    }
    /* A commit header with nothing before it in the buffer is a rewrite in place, or the
     * first frame of a one-page commit: write it now, so its error is reported here. */
    if ((commit && w->len == 0) || (size_t)amount > WAL_BATCH_MAX ||
        wal_buffer_reserve(w, w->len + (size_t)amount) < 0) {
        rc = wal_flush(w);
        if (rc == SQLITE_OK)
            rc = w->real->pMethods->xWrite(w->real, data, amount, offset);
        w->commit_pending = commit;
        return rc;
    }
    if (w->len == 0)
        w->buf_off = offset;
    memcpy(w->buf + w->len, data, (size_t)amount);
    w->len += (size_t)amount;
    w->commit_pending = commit;
    return completes_commit ? wal_flush(w) : SQLITE_OK;
}

static int
wal_close(sqlite3_file *file)
{
    struct wal_file *w = (struct wal_file *)file;
    int flushed = wal_flush(w);
    int closed = w->real->pMethods->xClose(w->real);

    free(w->buf);
    w->buf = NULL;
    w->size = 0;
    return flushed != SQLITE_OK ? flushed : closed;
}

/* Every other call first writes what is buffered, then is the default VFS's own. */
static int
wal_read(sqlite3_file *file, void *data, int amount, sqlite3_int64 offset)
{
    int rc = wal_flush((struct wal_file *)file);

    return rc != SQLITE_OK ? rc
                           : real_of(file)->pMethods->xRead(real_of(file), data, amount, offset);
}

static int
wal_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    int rc = wal_flush((struct wal_file *)file);

    return rc != SQLITE_OK ? rc : real_of(file)->pMethods->xTruncate(real_of(file), size);
}

static int
wal_sync(sqlite3_file *file, int flags)
{
    int rc = wal_flush((struct wal_file *)file);

    return rc != SQLITE_OK ? rc : real_of(file)->pMethods->xSync(real_of(file), flags);
}

static int
wal_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    int rc = wal_flush((struct wal_file *)file);

    return rc != SQLITE_OK ? rc : real_of(file)->pMethods->xFileSize(real_of(file), size);
}

static int
wal_lock(sqlite3_file *file, int lock)
{
    int rc = wal_flush((struct wal_file *)file);

    return rc != SQLITE_OK ? rc : real_of(file)->pMethods->xLock(real_of(file), lock);
}

static int
wal_unlock(sqlite3_file *file, int lock)
{
    int rc = wal_flush((struct wal_file *)file);

    return rc != SQLITE_OK ? rc : real_of(file)->pMethods->xUnlock(real_of(file), lock);
}

static int
wal_check_reserved_lock(sqlite3_file *file, int *out)
{
    int rc = wal_flush((struct wal_file *)file);

    return rc != SQLITE_OK ? rc : real_of(file)->pMethods->xCheckReservedLock(real_of(file), out);
}

static int
wal_file_control(sqlite3_file *file, int op, void *arg)
{
    int rc = wal_flush((struct wal_file *)file);

    return rc != SQLITE_OK ? rc : real_of(file)->pMethods->xFileControl(real_of(file), op, arg);
}

static int
wal_sector_size(sqlite3_file *file)
{
    return real_of(file)->pMethods->xSectorSize(real_of(file));
}

static int
wal_device_characteristics(sqlite3_file *file)
{
    return real_of(file)->pMethods->xDeviceCharacteristics(real_of(file));
}

/* The WAL file is never memory-mapped nor used for shared memory (that is the database's);
 * these only keep the table complete at version 1. */
static const sqlite3_io_methods wal_methods = {
    .iVersion = 1,
    .xClose = wal_close,
    .xRead = wal_read,
    .xWrite = wal_write,
    .xTruncate = wal_truncate,
    .xSync = wal_sync,
    .xFileSize = wal_file_size,
    .xLock = wal_lock,
    .xUnlock = wal_unlock,
    .xCheckReservedLock = wal_check_reserved_lock,
    .xFileControl = wal_file_control,
    .xSectorSize = wal_sector_size,
    .xDeviceCharacteristics = wal_device_characteristics,
};

static int
vfs_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags, int *out_flags)
{
    struct wal_file *w = (struct wal_file *)file;
    int rc;

    (void)vfs;
    if (!(flags & SQLITE_OPEN_WAL))
        return default_vfs->xOpen(default_vfs, name, file, flags, out_flags);
    memset(w, 0, sizeof(*w));
    w->real = (sqlite3_file *)(w + 1);
    rc = default_vfs->xOpen(default_vfs, name, w->real, flags, out_flags);
    if (w->real->pMethods)
        w->base.pMethods = &wal_methods; /* SQLite closes a file whose pMethods is set */
    return rc;
}

/* The rest of the VFS is the default one's. */
static int
vfs_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    return default_vfs->xDelete(default_vfs, name, sync_dir);
}

static int
vfs_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return default_vfs->xAccess(default_vfs, name, flags, out);
}

static int
vfs_full_pathname(sqlite3_vfs *vfs, const char *name, int size, char *out)
{
    (void)vfs;
    return default_vfs->xFullPathname(default_vfs, name, size, out);
}

static int
vfs_randomness(sqlite3_vfs *vfs, int size, char *out)
{
    (void)vfs;
    return default_vfs->xRandomness(default_vfs, size, out);
}

static int
vfs_sleep(sqlite3_vfs *vfs, int microseconds)
{
    (void)vfs;
    return default_vfs->xSleep(default_vfs, microseconds);
}

static int
vfs_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return default_vfs->xCurrentTime(default_vfs, out);
}

static int
vfs_get_last_error(sqlite3_vfs *vfs, int size, char *out)
{
    (void)vfs;
    return default_vfs->xGetLastError(default_vfs, size, out);
}

static void *
vfs_dl_open(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return default_vfs->xDlOpen(default_vfs, name);
}

static void
vfs_dl_error(sqlite3_vfs *vfs, int size, char *out)
{
    (void)vfs;
    default_vfs->xDlError(default_vfs, size, out);
}

static void (*vfs_dl_sym(sqlite3_vfs *vfs, void *handle, const char *symbol))(void)
{
    (void)vfs;
    return default_vfs->xDlSym(default_vfs, handle, symbol);
}

static void
vfs_dl_close(sqlite3_vfs *vfs, void *handle)
{
    (void)vfs;
    default_vfs->xDlClose(default_vfs, handle);
}

static int
vfs_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return default_vfs->xCurrentTimeInt64(default_vfs, out);
}

static bool vfs_registered;

static void
vfs_register(void)
{
    default_vfs = sqlite3_vfs_find(NULL);
    if (!default_vfs || default_vfs->iVersion < 2 || !default_vfs->xCurrentTimeInt64)
        return;
    wal_batch_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct wal_file) + default_vfs->szOsFile,
        .mxPathname = default_vfs->mxPathname,
        .zName = WAL_BATCH_VFS_NAME,
        .xOpen = vfs_open,
        .xDelete = vfs_delete,
        .xAccess = vfs_access,
        .xFullPathname = vfs_full_pathname,
        .xDlOpen = vfs_dl_open,
        .xDlError = vfs_dl_error,
        .xDlSym = vfs_dl_sym,
        .xDlClose = vfs_dl_close,
        .xRandomness = vfs_randomness,
        .xSleep = vfs_sleep,
        .xCurrentTime = vfs_current_time,
        .xGetLastError = vfs_get_last_error,
        .xCurrentTimeInt64 = vfs_current_time_int64,
    };
    vfs_registered = sqlite3_vfs_register(&wal_batch_vfs, 0) == SQLITE_OK;
}

const char *
sqlite_wal_batch_vfs(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, vfs_register);
    return vfs_registered ? WAL_BATCH_VFS_NAME : NULL;
}
