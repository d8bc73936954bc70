#include "store-settings.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

#define MASTER_KEY_ID_QUERY "SELECT value FROM settings WHERE name = 'master_key_id'"

int
store_master_key_id(struct store *store, char *ret_id, size_t size)
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    int r;

    r = store_query_row(store, MASTER_KEY_ID_QUERY, STORE_NO_ARGS, &rows);
    if (r == -ENOENT) {
        snprintf(ret_id, size, "%s", "");
        return 0;
    }
    if (r < 0)
        return r;
    snprintf(ret_id, size, "%s", store_rows_text(rows, 0));
    return 0;
}

static int
check_master_key_locked(struct store *store, const char *key_id)
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    int r;

    r = store_exec(store,
                   "INSERT INTO settings (name, value) VALUES ('master_key_id', ?)"
                   " ON CONFLICT (name) DO NOTHING",
                   STORE_ARGS(SV_TEXT(key_id)), NULL);
    if (r < 0)
        return r;
    r = store_query_row(store, MASTER_KEY_ID_QUERY, STORE_NO_ARGS, &rows);
    if (r < 0)
        return r;
    if (strcmp(store_rows_text(rows, 0), key_id) != 0)
        return log_error_errno(EKEYREJECTED,
                               "This data dir's master.key (id %s) is not the key the store was "
                               "created with (id %s): every replica needs a copy of the same "
                               "master.key",
                               key_id, store_rows_text(rows, 0));
    return 0;
}

int
store_check_master_key(struct store *store, const char *key_id)
{
    int r;

    r = store_begin(store, STORE_TXN_WRITE);
    if (r < 0)
        return r;
    r = check_master_key_locked(store, key_id);
    if (r < 0) {
        store_rollback(store);
        return r;
    }
    return store_commit(store);
}
