/* Versioned schema migrations, portable between SQLite and PostgreSQL: TEXT ids and RFC 3339
 * times (which sort as text), BIGINT counters, INTEGER 0/1 booleans, JSON kept as TEXT.
 * A migration is never edited once released: add a new one. */
#include <errno.h>

#include "log.h"
#include "store.h"

struct migration {
    int64_t version;
    const char *const *statements;
};

static const char *const migration_1[] = {
    "CREATE TABLE users ("
    " user_id TEXT PRIMARY KEY,"
    " user_email TEXT NOT NULL UNIQUE,"
    " password_hash TEXT NOT NULL,"
    " first_name TEXT NOT NULL,"
    " last_name TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " is_admin INTEGER NOT NULL DEFAULT 0,"
    " created_at TEXT NOT NULL,"
    " last_logged_in_at TEXT)",

    "CREATE TABLE sessions ("
    " token_hash TEXT PRIMARY KEY,"
    " user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,"
    " acct_id TEXT,"
    " created_at TEXT NOT NULL,"
    " expires_at BIGINT NOT NULL)",
    "CREATE INDEX sessions_by_expiry ON sessions(expires_at)",
    "CREATE INDEX sessions_by_user ON sessions(user_id)",

    /* Failed log-ins per e-mail, for the rate limit shared by all workers and replicas. */
    "CREATE TABLE auth_failures ("
    " user_email TEXT NOT NULL,"
    " failed_at BIGINT NOT NULL)",
    "CREATE INDEX auth_failures_by_email ON auth_failures(user_email, failed_at)",

    "CREATE TABLE accounts ("
    " acct_id TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " description TEXT NOT NULL DEFAULT '',"
    " status TEXT NOT NULL,"
    " approvals_required INTEGER NOT NULL,"
    " allow_simulation INTEGER NOT NULL,"
    " certificate_validity BIGINT NOT NULL,"
    " renewal_threshold INTEGER NOT NULL,"
    " node_refresh_interval INTEGER NOT NULL,"
    " created_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL)",

    "CREATE TABLE memberships ("
    " acct_id TEXT NOT NULL REFERENCES accounts(acct_id) ON DELETE CASCADE,"
    " user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,"
    " role TEXT NOT NULL,"
    " created_at TEXT NOT NULL,"
    " PRIMARY KEY (acct_id, user_id))",
    "CREATE INDEX memberships_by_user ON memberships(user_id)",

    "CREATE TABLE apps ("
    " app_id TEXT PRIMARY KEY,"
    " acct_id TEXT NOT NULL REFERENCES accounts(acct_id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " description TEXT NOT NULL DEFAULT '',"
    " input_image_name TEXT NOT NULL,"
    " output_image_name TEXT NOT NULL,"
    " isvprodid INTEGER NOT NULL,"
    " isvsvn INTEGER NOT NULL,"
    " mem_size BIGINT NOT NULL,"
    " threads INTEGER NOT NULL,"
    " allowed_domains TEXT NOT NULL,"
    " whitelisted_domains TEXT NOT NULL,"
    " pending_task_id TEXT,"
    " labels TEXT NOT NULL,"
    " advanced_settings TEXT NOT NULL,"
    " created_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL,"
    " UNIQUE (acct_id, name))",
    "CREATE INDEX apps_by_account ON apps(acct_id, created_at)",

    "CREATE TABLE builds ("
    " build_id TEXT PRIMARY KEY,"
    " acct_id TEXT NOT NULL REFERENCES accounts(acct_id) ON DELETE CASCADE,"
    " app_id TEXT NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,"
    " docker_image_name TEXT,"
    " docker_version TEXT,"
    " docker_image_sha TEXT,"
    " docker_image_size BIGINT,"
    " platform TEXT NOT NULL,"
    " mrenclave TEXT NOT NULL,"
    " mrsigner TEXT NOT NULL,"
    " isvprodid INTEGER NOT NULL,"
    " isvsvn INTEGER NOT NULL,"
    " debug INTEGER NOT NULL DEFAULT 0,"
    " status TEXT NOT NULL,"
    " status_updated_at TEXT NOT NULL,"
    " progress INTEGER NOT NULL DEFAULT 100,"
    " conversion_log TEXT NOT NULL DEFAULT '',"
    " pending_task_id TEXT,"
    " created_at TEXT NOT NULL,"
    " UNIQUE (acct_id, mrenclave))",
    "CREATE INDEX builds_by_account ON builds(acct_id, created_at)",
    "CREATE INDEX builds_by_app ON builds(app_id)",

    "CREATE TABLE tasks ("
    " task_id TEXT PRIMARY KEY,"
    " acct_id TEXT NOT NULL REFERENCES accounts(acct_id) ON DELETE CASCADE,"
    " task_type TEXT NOT NULL,"
    " entity_id TEXT NOT NULL,"
    " entity_name TEXT NOT NULL DEFAULT '',"
    " requester_id TEXT,"
    " requester_name TEXT NOT NULL DEFAULT '',"
    " status TEXT NOT NULL,"
    " reason TEXT,"
    " domains_added TEXT NOT NULL DEFAULT '[]',"
    " domains_removed TEXT NOT NULL DEFAULT '[]',"
    " created_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL)",
    "CREATE INDEX tasks_by_account ON tasks(acct_id, status, created_at)",
    "CREATE INDEX tasks_by_entity ON tasks(entity_id)",

    /* One vote per user per task, enforced by the key: concurrent votes cannot count twice. */
    "CREATE TABLE task_approvals ("
    " task_id TEXT NOT NULL REFERENCES tasks(task_id) ON DELETE CASCADE,"
    " user_id TEXT NOT NULL,"
    " user_name TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " reason TEXT,"
    " created_at TEXT NOT NULL,"
    " PRIMARY KEY (task_id, user_id))",

    "CREATE TABLE registries ("
    " registry_id TEXT PRIMARY KEY,"
    " acct_id TEXT NOT NULL REFERENCES accounts(acct_id) ON DELETE CASCADE,"
    " url TEXT NOT NULL,"
    " description TEXT NOT NULL DEFAULT '',"
    " username TEXT,"
    " password_sealed TEXT,"
    " created_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL,"
    " UNIQUE (acct_id, url))",

    /* The audit log: one hash chain per account ("system" for sign-ups and log-ins). The head
     * row is what concurrent appenders lock. Chains are not foreign keys: an account's chain is
     * deleted with the account explicitly. */
    "CREATE TABLE audit_heads ("
    " chain TEXT PRIMARY KEY,"
    " seq BIGINT NOT NULL,"
    " hash TEXT NOT NULL)",
    "CREATE TABLE events ("
    " chain TEXT NOT NULL,"
    " seq BIGINT NOT NULL,"
    " event_id TEXT NOT NULL UNIQUE,"
    " time TEXT NOT NULL,"
    " actor_type TEXT NOT NULL,"
    " actor_id TEXT NOT NULL,"
    " actor_name TEXT NOT NULL DEFAULT '',"
    " action_type TEXT NOT NULL,"
    " severity TEXT NOT NULL,"
    " message TEXT NOT NULL,"
    " entity_type TEXT NOT NULL DEFAULT '',"
    " entity_id TEXT NOT NULL DEFAULT '',"
    " prev_hash TEXT NOT NULL,"
    " hash TEXT NOT NULL,"
    " PRIMARY KEY (chain, seq))",
    "CREATE TABLE audit_checkpoints ("
    " chain TEXT NOT NULL,"
    " seq BIGINT NOT NULL,"
    " hash TEXT NOT NULL,"
    " signature TEXT NOT NULL,"
    " created_at TEXT NOT NULL,"
    " PRIMARY KEY (chain, seq))",
    NULL,
};

static const struct migration migrations[] = {
    { 1, migration_1 },
};

int
store_schema_version(struct store *store, int64_t *ret_version)
{
    int64_t version = 0;
    int r;

    r = store_query_int(store, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                        STORE_NO_ARGS, &version);
    if (r < 0)
        return r;
    *ret_version = version;
    return 0;
}

static int
apply_migration(struct store *store, const struct migration *m)
{
    int r;

    int64_t current;

    r = store_begin(store, STORE_TXN_WRITE);
    if (r < 0)
        return r;
    /* Another process may have applied it since we looked: check again under the write lock. */
    r = store_schema_version(store, &current);
    if (r < 0 || current >= m->version) {
        store_rollback(store);
        return r < 0 ? r : 0;
    }
    for (const char *const *sql = m->statements; *sql; sql++) {
        r = store_exec(store, *sql, STORE_NO_ARGS, NULL);
        if (r < 0) {
            store_rollback(store);
            return log_error_errno(r, "Migration %lld failed at: %.60s…", (long long)m->version,
                                   *sql);
        }
    }
    r = store_exec(store, "INSERT INTO schema_migrations (version) VALUES (?)",
                   STORE_ARGS(SV_INT(m->version)), NULL);
    if (r < 0) {
        store_rollback(store);
        return r;
    }
    return store_commit(store);
}

int
store_migrate(struct store *store)
{
    int64_t current;
    int r;

    r = store_exec(store,
                   "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)",
                   STORE_NO_ARGS, NULL);
    if (r < 0)
        return r;
    r = store_schema_version(store, &current);
    if (r < 0)
        return r;
    for (size_t i = 0; i < ELEMENTSOF(migrations); i++) {
        if (migrations[i].version <= current)
            continue;
        r = apply_migration(store, &migrations[i]);
        if (r < 0)
            return r;
        log_info("Applied schema migration %lld", (long long)migrations[i].version);
    }
    return 0;
}
