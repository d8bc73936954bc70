/* Versioned schema migrations, portable between SQLite and PostgreSQL: text ids and RFC 3339
 * times (which sort as text), BIGINT counters, INTEGER 0/1 booleans, JSON kept as text.
 * Text columns are written {text}: the backend's byte-wise text type (store_ops.text_type).
 * A migration is never edited once released: add a new one. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store.h"

#define MIGRATION_LOCK_SCOPE "cloister:schema-migrations"

struct migration {
    int64_t version;
    const char *const *statements;
};

static const char *const migration_1[] = {
    "CREATE TABLE users ("
    " user_id {text} PRIMARY KEY,"
    " user_email {text} NOT NULL UNIQUE,"
    " password_hash {text} NOT NULL,"
    " first_name {text} NOT NULL,"
    " last_name {text} NOT NULL,"
    " status {text} NOT NULL,"
    " is_admin INTEGER NOT NULL DEFAULT 0,"
    " created_at {text} NOT NULL,"
    " last_logged_in_at {text})",

    "CREATE TABLE sessions ("
    " token_hash {text} PRIMARY KEY,"
    " user_id {text} NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,"
    " acct_id {text},"
    " created_at {text} NOT NULL,"
    " expires_at BIGINT NOT NULL)",
    "CREATE INDEX sessions_by_expiry ON sessions(expires_at)",
    "CREATE INDEX sessions_by_user ON sessions(user_id)",

    /* Failed log-ins per e-mail, for the rate limit shared by all workers and replicas. */
    "CREATE TABLE auth_failures ("
    " user_email {text} NOT NULL,"
    " failed_at BIGINT NOT NULL)",
    "CREATE INDEX auth_failures_by_email ON auth_failures(user_email, failed_at)",

    "CREATE TABLE accounts ("
    " acct_id {text} PRIMARY KEY,"
    " name {text} NOT NULL,"
    " description {text} NOT NULL DEFAULT '',"
    " status {text} NOT NULL,"
    " approvals_required INTEGER NOT NULL,"
    " allow_simulation INTEGER NOT NULL,"
    " certificate_validity BIGINT NOT NULL,"
    " renewal_threshold INTEGER NOT NULL,"
    " node_refresh_interval INTEGER NOT NULL,"
    " created_at {text} NOT NULL,"
    " updated_at {text} NOT NULL)",

    "CREATE TABLE memberships ("
    " acct_id {text} NOT NULL REFERENCES accounts(acct_id) ON DELETE CASCADE,"
    " user_id {text} NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,"
    " role {text} NOT NULL,"
    " created_at {text} NOT NULL,"
    " PRIMARY KEY (acct_id, user_id))",
    "CREATE INDEX memberships_by_user ON memberships(user_id)",

    "CREATE TABLE apps ("
    " app_id {text} PRIMARY KEY,"
    " acct_id {text} NOT NULL REFERENCES accounts(acct_id) ON DELETE CASCADE,"
    " name {text} NOT NULL,"
    " description {text} NOT NULL DEFAULT '',"
    " input_image_name {text} NOT NULL,"
    " output_image_name {text} NOT NULL,"
    " isvprodid INTEGER NOT NULL,"
    " isvsvn INTEGER NOT NULL,"
    " mem_size BIGINT NOT NULL,"
    " threads INTEGER NOT NULL,"
    " allowed_domains {text} NOT NULL,"
    " whitelisted_domains {text} NOT NULL,"
    " pending_task_id {text},"
    " labels {text} NOT NULL,"
    " advanced_settings {text} NOT NULL,"
    " created_at {text} NOT NULL,"
    " updated_at {text} NOT NULL,"
    " UNIQUE (acct_id, name))",
    "CREATE INDEX apps_by_account ON apps(acct_id, created_at)",

    "CREATE TABLE builds ("
    " build_id {text} PRIMARY KEY,"
    " acct_id {text} NOT NULL REFERENCES accounts(acct_id) ON DELETE CASCADE,"
    " app_id {text} NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,"
    " docker_image_name {text},"
    " docker_version {text},"
    " docker_image_sha {text},"
    " docker_image_size BIGINT,"
    " platform {text} NOT NULL,"
    " mrenclave {text} NOT NULL,"
    " mrsigner {text} NOT NULL,"
    " isvprodid INTEGER NOT NULL,"
    " isvsvn INTEGER NOT NULL,"
    " debug INTEGER NOT NULL DEFAULT 0,"
    " status {text} NOT NULL,"
    " status_updated_at {text} NOT NULL,"
    " progress INTEGER NOT NULL DEFAULT 100,"
    " conversion_log {text} NOT NULL DEFAULT '',"
    " pending_task_id {text},"
    " created_at {text} NOT NULL,"
    " UNIQUE (acct_id, mrenclave))",
    "CREATE INDEX builds_by_account ON builds(acct_id, created_at)",
    "CREATE INDEX builds_by_app ON builds(app_id)",

    "CREATE TABLE tasks ("
    " task_id {text} PRIMARY KEY,"
    " acct_id {text} NOT NULL REFERENCES accounts(acct_id) ON DELETE CASCADE,"
    " task_type {text} NOT NULL,"
    " entity_id {text} NOT NULL,"
    " entity_name {text} NOT NULL DEFAULT '',"
    " requester_id {text},"
    " requester_name {text} NOT NULL DEFAULT '',"
    " status {text} NOT NULL,"
    " reason {text},"
    " domains_added {text} NOT NULL DEFAULT '[]',"
    " domains_removed {text} NOT NULL DEFAULT '[]',"
    " created_at {text} NOT NULL,"
    " updated_at {text} NOT NULL)",
    "CREATE INDEX tasks_by_account ON tasks(acct_id, status, created_at)",
    "CREATE INDEX tasks_by_entity ON tasks(entity_id)",

    /* One vote per user per task, enforced by the key: concurrent votes cannot count twice. */
    "CREATE TABLE task_approvals ("
    " task_id {text} NOT NULL REFERENCES tasks(task_id) ON DELETE CASCADE,"
    " user_id {text} NOT NULL,"
    " user_name {text} NOT NULL,"
    " status {text} NOT NULL,"
    " reason {text},"
    " created_at {text} NOT NULL,"
    " PRIMARY KEY (task_id, user_id))",

    "CREATE TABLE registries ("
    " registry_id {text} PRIMARY KEY,"
    " acct_id {text} NOT NULL REFERENCES accounts(acct_id) ON DELETE CASCADE,"
    " url {text} NOT NULL,"
    " description {text} NOT NULL DEFAULT '',"
    " username {text},"
    " password_sealed {text},"
    " created_at {text} NOT NULL,"
    " updated_at {text} NOT NULL,"
    " UNIQUE (acct_id, url))",

    /* The audit log: one hash chain per account ("system" for sign-ups and log-ins). The head
     * row is what concurrent appenders lock. Chains are not foreign keys: an account's chain is
     * deleted with the account explicitly. */
    "CREATE TABLE audit_heads ("
    " chain {text} PRIMARY KEY,"
    " seq BIGINT NOT NULL,"
    " hash {text} NOT NULL)",
    "CREATE TABLE events ("
    " chain {text} NOT NULL,"
    " seq BIGINT NOT NULL,"
    " event_id {text} NOT NULL UNIQUE,"
    " time {text} NOT NULL,"
    " actor_type {text} NOT NULL,"
    " actor_id {text} NOT NULL,"
    " actor_name {text} NOT NULL DEFAULT '',"
    " action_type {text} NOT NULL,"
    " severity {text} NOT NULL,"
    " message {text} NOT NULL,"
    " entity_type {text} NOT NULL DEFAULT '',"
    " entity_id {text} NOT NULL DEFAULT '',"
    " prev_hash {text} NOT NULL,"
    " hash {text} NOT NULL,"
    " PRIMARY KEY (chain, seq))",
    "CREATE TABLE audit_checkpoints ("
    " chain {text} NOT NULL,"
    " seq BIGINT NOT NULL,"
    " hash {text} NOT NULL,"
    " signature {text} NOT NULL,"
    " created_at {text} NOT NULL,"
    " PRIMARY KEY (chain, seq))",
    NULL,
};

/* Facts about the deployment every replica checks at start (store-settings.h). */
static const char *const migration_2[] = {
    "CREATE TABLE settings ("
    " name {text} PRIMARY KEY,"
    " value {text} NOT NULL)",
    NULL,
};

/* Zones and their CAs, join tokens, nodes, certificates, app instances and consumed nonces
 * (issue 4; docs/nodes.md). Times compared by the manager are BIGINT milliseconds since the
 * epoch next to their RFC 3339 text, so expiry and "seen recently" are index range scans. */
static const char *const migration_3[] = {
    "CREATE TABLE zones ("
    " zone_id {text} PRIMARY KEY,"
    " acct_id {text} NOT NULL REFERENCES accounts(acct_id) ON DELETE CASCADE,"
    " name {text} NOT NULL,"
    " description {text} NOT NULL DEFAULT '',"
    " trust_domain {text} NOT NULL UNIQUE,"
    " key_type {text} NOT NULL,"
    " root_cert_pem {text} NOT NULL,"
    " issuing_cert_pem {text} NOT NULL,"
    " root_key_sealed {text} NOT NULL,"
    " issuing_key_sealed {text} NOT NULL,"
    " node_refresh_interval INTEGER NOT NULL,"
    " node_renewal_threshold INTEGER NOT NULL,"
    " crl_number BIGINT NOT NULL DEFAULT 0,"
    " created_at {text} NOT NULL,"
    " updated_at {text} NOT NULL,"
    " UNIQUE (acct_id, name))",

    /* Only the SHA-256 of a token is kept. uses_left counts down under the row lock. */
    "CREATE TABLE join_tokens ("
    " token_hash {text} PRIMARY KEY,"
    " zone_id {text} NOT NULL REFERENCES zones(zone_id) ON DELETE CASCADE,"
    " acct_id {text} NOT NULL,"
    " uses_left INTEGER NOT NULL,"
    " uses_total INTEGER NOT NULL,"
    " expires_ms BIGINT NOT NULL,"
    " created_by {text} NOT NULL,"
    " created_at {text} NOT NULL)",
    "CREATE INDEX join_tokens_by_expiry ON join_tokens(expires_ms)",

    "CREATE TABLE nodes ("
    " node_id {text} PRIMARY KEY,"
    " acct_id {text} NOT NULL REFERENCES accounts(acct_id) ON DELETE CASCADE,"
    " zone_id {text} NOT NULL REFERENCES zones(zone_id) ON DELETE CASCADE,"
    " name {text} NOT NULL,"
    " description {text} NOT NULL DEFAULT '',"
    " ipaddress {text} NOT NULL,"
    " host_id {text} NOT NULL DEFAULT '',"
    " attestation_type {text} NOT NULL,"
    " attestation_key {text},"
    " tcb_status {text} NOT NULL DEFAULT '',"
    " agent_version {text} NOT NULL DEFAULT '',"
    " labels {text} NOT NULL DEFAULT '{}',"
    " status {text} NOT NULL,"
    " cert_serial {text} NOT NULL,"
    " last_seen_ms BIGINT NOT NULL,"
    " last_seen_at {text} NOT NULL,"
    " created_at {text} NOT NULL,"
    " updated_at {text} NOT NULL)",
    "CREATE INDEX nodes_by_account ON nodes(acct_id, created_at)",

    "CREATE TABLE certificates ("
    " certificate_id {text} PRIMARY KEY,"
    " acct_id {text} NOT NULL REFERENCES accounts(acct_id) ON DELETE CASCADE,"
    " zone_id {text} NOT NULL,"
    " kind {text} NOT NULL,"
    " status {text} NOT NULL,"
    " serial {text} NOT NULL,"
    " subject {text} NOT NULL,"
    " dns_names {text} NOT NULL DEFAULT '[]',"
    " csr {text} NOT NULL,"
    " certificate {text} NOT NULL,"
    " valid_from {text} NOT NULL,"
    " valid_until {text} NOT NULL,"
    " valid_until_ms BIGINT NOT NULL,"
    " app_id {text},"
    " build_id {text},"
    " node_id {text},"
    " instance_id {text},"
    " claims {text} NOT NULL DEFAULT '{}',"
    " revoked_at {text},"
    " revoked_ms BIGINT,"
    " revocation_reason {text},"
    " created_at {text} NOT NULL,"
    " UNIQUE (zone_id, serial))",
    "CREATE INDEX certificates_by_account ON certificates(acct_id, created_at)",
    "CREATE INDEX certificates_by_node ON certificates(node_id)",
    "CREATE INDEX certificates_by_instance ON certificates(instance_id)",
    "CREATE INDEX certificates_revoked ON certificates(zone_id, revoked_ms)",

    /* One instance per (app, node, build): an app re-attesting on a node renews it. */
    "CREATE TABLE app_instances ("
    " instance_id {text} PRIMARY KEY,"
    " acct_id {text} NOT NULL REFERENCES accounts(acct_id) ON DELETE CASCADE,"
    " app_id {text} NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,"
    " build_id {text} NOT NULL,"
    " node_id {text} NOT NULL REFERENCES nodes(node_id) ON DELETE CASCADE,"
    " certificate_id {text},"
    " is_debug INTEGER NOT NULL DEFAULT 0,"
    " attested_at {text} NOT NULL,"
    " last_seen_ms BIGINT NOT NULL,"
    " status_updated_at {text} NOT NULL,"
    " stopped INTEGER NOT NULL DEFAULT 0,"
    " UNIQUE (app_id, node_id, build_id))",
    "CREATE INDEX app_instances_by_node ON app_instances(node_id)",
    "CREATE INDEX app_instances_by_build ON app_instances(build_id)",

    /* A nonce is consumed by the issuance it served, in the same transaction; the key makes a
     * replay fail even on another replica. Rows go once the nonce has expired anyway. */
    "CREATE TABLE used_nonces ("
    " nonce_id {text} PRIMARY KEY,"
    " expires_ms BIGINT NOT NULL)",
    "CREATE INDEX used_nonces_by_expiry ON used_nonces(expires_ms)",
    NULL,
};

/* Fewer index pages written per issued certificate (bench/issue): nothing looks certificates up
 * by instance, and the CRL only lists revoked ones, so only those need to be in that index. */
static const char *const migration_4[] = {
    "DROP INDEX certificates_by_instance",
    "DROP INDEX certificates_revoked",
    "CREATE INDEX certificates_revoked ON certificates(zone_id, revoked_ms)"
    " WHERE revoked_ms IS NOT NULL",
    NULL,
};

/* Image conversions waiting or running (docs/convert.md, "In the manager"). A row lives from
 * POST /v1/builds/convert-app until its build is PENDING or FAILED; a runner holds it by its
 * lease, and a lease that runs out (the runner died) lets another runner take the job over. */
static const char *const migration_5[] = {
    "CREATE TABLE conversion_jobs ("
    " build_id {text} PRIMARY KEY REFERENCES builds(build_id) ON DELETE CASCADE,"
    " acct_id {text} NOT NULL REFERENCES accounts(acct_id) ON DELETE CASCADE,"
    " requester_id {text} NOT NULL,"
    " requester_email {text} NOT NULL,"
    " requester_name {text} NOT NULL,"
    " input_image {text} NOT NULL,"
    " output_image {text} NOT NULL,"
    " input_username {text},"
    " input_password_sealed {text},"
    " output_username {text},"
    " output_password_sealed {text},"
    " settings {text} NOT NULL,"
    " lease_until_ms BIGINT NOT NULL DEFAULT 0,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " created_at {text} NOT NULL)",
    "CREATE INDEX conversion_jobs_ready ON conversion_jobs(lease_until_ms, created_at)",
    NULL,
};

/* Each account's image signing key (docs/convert.md, "Signing in the manager"): made with its
 * first conversion, sealed under the master key like the CA keys. */
static const char *const migration_6[] = {
    "CREATE TABLE signing_keys ("
    " acct_id {text} PRIMARY KEY REFERENCES accounts(acct_id) ON DELETE CASCADE,"
    " signer {text} NOT NULL,"
    " public_key_pem {text} NOT NULL,"
    " key_sealed {text} NOT NULL,"
    " created_at {text} NOT NULL)",
    NULL,
};

/* Stand-alone conversions (POST /v1/tools/converter/convert-app): the job and its result in one
 * row, kept after it ends. The job columns are conversion_jobs' (the same runners take both). */
static const char *const migration_7[] = {
    "CREATE TABLE tool_conversions ("
    " conversion_id {text} PRIMARY KEY,"
    " acct_id {text} NOT NULL REFERENCES accounts(acct_id) ON DELETE CASCADE,"
    " requester_id {text} NOT NULL,"
    " requester_email {text} NOT NULL,"
    " requester_name {text} NOT NULL,"
    " input_image {text} NOT NULL,"
    " output_image {text} NOT NULL,"
    " input_username {text},"
    " input_password_sealed {text},"
    " output_username {text},"
    " output_password_sealed {text},"
    " settings {text} NOT NULL,"
    " lease_until_ms BIGINT NOT NULL DEFAULT 0,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " status {text} NOT NULL,"
    " progress INTEGER NOT NULL DEFAULT 0,"
    " log {text} NOT NULL DEFAULT '',"
    " mrenclave {text},"
    " mrsigner {text},"
    " docker_image_sha {text},"
    " docker_image_size BIGINT,"
    " created_at {text} NOT NULL,"
    " updated_at {text} NOT NULL)",
    "CREATE INDEX tool_conversions_ready ON tool_conversions(lease_until_ms, created_at)"
    " WHERE status = 'CONVERTING'",
    "CREATE INDEX tool_conversions_by_account ON tool_conversions(acct_id, created_at)",
    NULL,
};

/* Hardware verification collateral (docs/hardware-evidence.md, "Collateral in the manager"):
 * Intel's and AMD's public data, shared by every account and replica. One row per item, looked up
 * by its kind and key; the bytes are kept exactly (base64), with the chain that signs them. */
static const char *const migration_8[] = {
    "CREATE TABLE collateral ("
    " kind {text} NOT NULL,"
    " item_key {text} NOT NULL,"
    " data_b64 {text} NOT NULL,"
    " issuer_chain {text},"
    " sha256 {text} NOT NULL,"
    " issued BIGINT NOT NULL,"
    " next_update BIGINT,"
    " not_after BIGINT NOT NULL,"
    " source {text} NOT NULL,"
    " imported_at {text} NOT NULL,"
    " PRIMARY KEY (kind, item_key))",
    NULL,
};

/* The attestation policy (src/manager/issuance/hw-policy.h) of an account, every member
 * present (accounts that exist get the defaults of this release), and the members an app
 * overrides; the TDX and SNP identity a build is allow-listed by. */
static const char *const migration_9[] = {
    "ALTER TABLE accounts ADD COLUMN attestation_policy {text} NOT NULL DEFAULT '{}'",
    "UPDATE accounts SET attestation_policy = '{\"accepted_advisory_ids\":null,"
    "\"accepted_tcb_statuses\":[\"UpToDate\",\"SWHardeningNeeded\"],"
    "\"allow_debug\":false,\"allow_missing_crls\":false,\"min_isvsvn\":0,"
    "\"require_zero_mrservicetd\":false,\"snp_allow_migration_agent\":false,"
    "\"snp_forbid_smt\":false,\"snp_max_vmpl\":null}'",
    "ALTER TABLE apps ADD COLUMN attestation_policy {text} NOT NULL DEFAULT '{}'",
    /* What a TDX or SNP build's evidence must also show (JSON, NULL for none). */
    "ALTER TABLE builds ADD COLUMN tdx_identity {text}",
    "ALTER TABLE builds ADD COLUMN snp_identity {text}",
    NULL,
};

/* GET /v1/instances pages an account's instances by attested_at. */
static const char *const migration_10[] = {
    "CREATE INDEX app_instances_by_account ON app_instances(acct_id, attested_at)",
    NULL,
};

static const struct migration migrations[] = {
    { 1, migration_1 }, { 2, migration_2 },   { 3, migration_3 }, { 4, migration_4 },
    { 5, migration_5 }, { 6, migration_6 },   { 7, migration_7 }, { 8, migration_8 },
    { 9, migration_9 }, { 10, migration_10 },
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

/* The statement with every {text} replaced by the backend's text type. */
static char *
expand_statement(const char *sql, const char *text_type)
{
    static const char token[] = "{text}";
    size_t n = 0, type_len = strlen(text_type);
    char *out, *o;

    for (const char *p = strstr(sql, token); p; p = strstr(p + 1, token))
        n++;
    out = malloc(strlen(sql) + n * type_len + 1);
    if (!out)
        return NULL;
    o = out;
    for (const char *p = sql;;) {
        const char *hit = strstr(p, token);
        size_t len = hit ? (size_t)(hit - p) : strlen(p);

        memcpy(o, p, len);
        o += len;
        if (!hit)
            break;
        memcpy(o, text_type, type_len);
        o += type_len;
        p = hit + sizeof(token) - 1;
    }
    *o = '\0';
    return out;
}

static int
apply_statements(struct store *store, const struct migration *m)
{
    int r;

    for (const char *const *sql = m->statements; *sql; sql++) {
        _cleanup_free_ char *expanded = expand_statement(*sql, store->ops->text_type);
        if (!expanded)
            return -ENOMEM;
        r = store_exec(store, expanded, STORE_NO_ARGS, NULL);
        if (r < 0)
            return log_error_errno(r, "Migration %lld failed at: %.60s…", (long long)m->version,
                                   *sql);
    }
    return store_exec(store, "INSERT INTO schema_migrations (version) VALUES (?)",
                      STORE_ARGS(SV_INT(m->version)), NULL);
}

/* Applies what is missing in one transaction under the migration lock: replicas starting at
 * the same moment wait for the first, then find nothing left to do. */
static int
migrate_locked(struct store *store)
{
    int64_t current;
    int r;

    r = store_lock_scope(store, MIGRATION_LOCK_SCOPE);
    if (r < 0)
        return r;
    r = store_exec(store,
                   "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)",
                   STORE_NO_ARGS, NULL);
    if (r < 0)
        return r;
    r = store_schema_version(store, &current);
    if (r < 0)
        return r;
    if (current > migrations[ELEMENTSOF(migrations) - 1].version)
        return log_error_errno(EPROTO,
                               "The store's schema version %lld is newer than this binary's "
                               "(%lld): upgrade cloister-manager",
                               (long long)current,
                               (long long)migrations[ELEMENTSOF(migrations) - 1].version);
    for (size_t i = 0; i < ELEMENTSOF(migrations); i++) {
        if (migrations[i].version <= current)
            continue;
        r = apply_statements(store, &migrations[i]);
        if (r < 0)
            return r;
        log_info("Applied schema migration %lld", (long long)migrations[i].version);
    }
    return 0;
}

int
store_migrate(struct store *store)
{
    int r;

    r = store_begin(store, STORE_TXN_WRITE);
    if (r < 0)
        return r;
    r = migrate_locked(store);
    if (r < 0) {
        store_rollback(store);
        return r;
    }
    return store_commit(store);
}

int64_t
store_schema_latest(void)
{
    return migrations[ELEMENTSOF(migrations) - 1].version;
}
