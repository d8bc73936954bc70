/* Tests of the audit log on a real store, SQLite and PostgreSQL: appends, verification, and every kind of
 * tampering docs/audit.md says verification detects. The hash and the checkpoint signature are
 * recomputed here from the documented formats, independently of audit.c. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "audit.h"
#include "crypto-util.h"
#include "store.h"
#include "test-store-util.h"
#include "test.h"

#define CHAIN_A "6f1c2a1e-3b7d-4c55-9a0e-0d5b3a4f2c11"
#define CHAIN_B "0a9d8e7f-6c5b-4a39-8271-605f4e3d2c1b"
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

static struct manager_keys test_keys = { .audit_seed = { 1, 2, 3, 4, 5, 6, 7, 8 } };
static struct manager_keys other_keys = { .audit_seed = { 9, 9, 9 } };

static int
append_one(struct store *store, const char *chain, const char *message)
{
    struct audit_event event = {
        .chain = chain,
        .time = "2026-11-23T16:36:00.123Z",
        .actor_type = "USER",
        .actor_id = "2b1f4c3e-9d8a-4b7c-8e6f-5a4b3c2d1e0f",
        .actor_name = "Ada Lovelace",
        .action_type = "ADMIN",
        .severity = "INFO",
        .message = message,
        .entity_type = "APP",
        .entity_id = "7e6d5c4b-3a29-4817-a6f5-e4d3c2b1a098",
    };

    return audit_append(store, &event);
}

/* Appends n events to chain in one write transaction. */
static void
append_n(struct store *store, const char *chain, int n)
{
    CHECK_EQ_INT(store_begin(store, STORE_TXN_WRITE), 0);
    for (int i = 0; i < n; i++) {
        char message[64];
        snprintf(message, sizeof(message), "%s event %d", chain, i + 1);
        CHECK_EQ_INT(append_one(store, chain, message), 0);
    }
    CHECK_EQ_INT(store_commit(store), 0);
}

static void
exec_sql(struct store *store, const char *sql, const struct store_value *args, size_t n_args)
{
    CHECK_EQ_INT(store_exec(store, sql, args, n_args, NULL), 0);
}

static json_t *
verify_chain(struct store *store, const struct manager_keys *keys, const char *chain)
{
    json_t *report = NULL;

    CHECK_EQ_INT(audit_verify(store, keys, chain, &report), 0);
    CHECK(report);
    return report;
}

static void
check_valid(struct store *store, const char *chain, int64_t events)
{
    json_t *report = verify_chain(store, &test_keys, chain);

    if (!json_is_true(json_object_get(report, "valid")))
        fprintf(stderr, "  unexpected failure: %s\n",
                json_string_value(json_object_get(json_object_get(report, "error"), "reason")));
    CHECK(json_is_true(json_object_get(report, "valid")));
    CHECK(!json_object_get(report, "error"));
    CHECK_EQ_INT(json_integer_value(json_object_get(report, "events_checked")), events);
    CHECK_EQ_INT(json_integer_value(json_object_get(report, "last_seq")), events);
    CHECK(strncmp(json_string_value(json_object_get(report, "audit_public_key")),
                  "-----BEGIN PUBLIC KEY-----", 26) == 0);
    json_decref(report);
}

static void
check_invalid(struct store *store, const struct manager_keys *keys, const char *chain, int64_t seq,
              const char *reason)
{
    json_t *report = verify_chain(store, keys, chain);
    json_t *error = json_object_get(report, "error");

    CHECK(json_is_false(json_object_get(report, "valid")));
    CHECK(json_is_object(error));
    CHECK_EQ_STR(json_string_value(json_object_get(error, "reason")), reason);
    CHECK_EQ_INT(json_integer_value(json_object_get(error, "seq")), seq);
    json_decref(report);
}

/* The canonical encoding of docs/audit.md, written out again. */
static void
put_field(char *buf, size_t *len, const char *value)
{
    size_t n = strlen(value);

    buf[(*len)++] = (char)(n >> 24);
    buf[(*len)++] = (char)(n >> 16);
    buf[(*len)++] = (char)(n >> 8);
    buf[(*len)++] = (char)n;
    memcpy(buf + *len, value, n);
    *len += n;
}

static const char *
field(json_t *row, const char *key)
{
    const char *s = json_string_value(json_object_get(row, key));
    return s ? s : "";
}

static void
expected_hash(json_t *row, const char *chain, const char *prev_hash, char out[65])
{
    static const char *const keys[] = { "event_id",    "time",        "actor_type", "actor_id",
                                        "actor_name",  "action_type", "severity",   "message",
                                        "entity_type", "entity_id" };
    char buf[8192], seq[24];
    size_t len = 0;

    snprintf(seq, sizeof(seq), "%" PRId64,
             (int64_t)json_integer_value(json_object_get(row, "seq")));
    put_field(buf, &len, "cloister-audit-v1");
    put_field(buf, &len, chain);
    put_field(buf, &len, seq);
    for (size_t i = 0; i < ELEMENTSOF(keys); i++)
        put_field(buf, &len, field(row, keys[i]));
    put_field(buf, &len, prev_hash);
    sha256_hex(buf, len, out);
}

static json_t *
event_row(struct store *store, const char *chain, int64_t seq)
{
    json_t *row = NULL;

    CHECK_EQ_INT(store_query_json_object(store, "SELECT * FROM events WHERE chain = ? AND seq = ?",
                                         STORE_ARGS(SV_TEXT(chain), SV_INT(seq)), &row),
                 0);
    return row;
}

/* What an attacker with write access to the database (but not the master key) does after an
 * edit: recompute every link and hash, and move the head. */
static void
forge_rehash(struct store *store, const char *chain, int64_t last_seq)
{
    char prev[65] = ZERO_HASH, hash[65];
    const char *p = prev, *h = hash;

    for (int64_t seq = 1; seq <= last_seq; seq++) {
        json_t *row = event_row(store, chain, seq);
        expected_hash(row, chain, prev, hash);
        json_decref(row);
        exec_sql(store, "UPDATE events SET prev_hash = ?, hash = ? WHERE chain = ? AND seq = ?",
                 STORE_ARGS(SV_TEXT(p), SV_TEXT(h), SV_TEXT(chain), SV_INT(seq)));
        memcpy(prev, hash, sizeof(prev));
    }
    exec_sql(store, "UPDATE audit_heads SET seq = ?, hash = ? WHERE chain = ?",
             STORE_ARGS(SV_INT(last_seq), SV_TEXT(p), SV_TEXT(chain)));
}

static void
update_message(struct store *store, const char *chain, int64_t seq, const char *message)
{
    exec_sql(store, "UPDATE events SET message = ? WHERE chain = ? AND seq = ?",
             STORE_ARGS(SV_TEXT(message), SV_TEXT(chain), SV_INT(seq)));
}

TEST(test_append_and_verify)
{
    struct test_store db;
    json_t *row;
    char hash[65];

    test_store_open(&db);
    check_valid(db.store, CHAIN_A, 0);
    append_n(db.store, CHAIN_A, 3);
    append_n(db.store, CHAIN_A, 2);
    check_valid(db.store, CHAIN_A, 5);

    /* The stored hashes follow the documented encoding. */
    row = event_row(db.store, CHAIN_A, 1);
    CHECK_EQ_STR(field(row, "prev_hash"), ZERO_HASH);
    expected_hash(row, CHAIN_A, ZERO_HASH, hash);
    CHECK_EQ_STR(field(row, "hash"), hash);
    CHECK(is_uuid(field(row, "event_id")));
    json_decref(row);
    row = event_row(db.store, CHAIN_A, 2);
    json_t *first = event_row(db.store, CHAIN_A, 1);
    CHECK_EQ_STR(field(row, "prev_hash"), field(first, "hash"));
    expected_hash(row, CHAIN_A, field(first, "hash"), hash);
    CHECK_EQ_STR(field(row, "hash"), hash);
    json_decref(first);
    json_decref(row);
    test_store_close(&db);
}

/* The test vector of docs/audit.md: verification accepts exactly the documented hash. */
TEST(test_hash_test_vector)
{
    static const char *const vector_id = "0b7e3c1d-2f4a-4e6b-9c8d-7a6b5c4d3e2f";
    static const char *const vector_hash =
        "7f7cb52574460077c6885e7878557878b61df106277a355db45215821c0650de";
    struct audit_event event = {
        .chain = CHAIN_A,
        .time = "2026-11-23T16:36:00.123Z",
        .actor_type = "USER",
        .actor_id = "2b1f4c3e-9d8a-4b7c-8e6f-5a4b3c2d1e0f",
        .actor_name = "ada@example.com",
        .action_type = "ADMIN",
        .severity = "INFO",
        .message = "Created app 'web'",
        .entity_type = "app",
        .entity_id = "7e6d5c4b-3a29-4817-a6f5-e4d3c2b1a098",
    };
    struct test_store db;

    test_store_open(&db);
    CHECK_EQ_INT(store_begin(db.store, STORE_TXN_WRITE), 0);
    CHECK_EQ_INT(audit_append(db.store, &event), 0);
    /* The event id is random: give it the vector's, with the vector's hash. */
    exec_sql(db.store, "UPDATE events SET event_id = ?, hash = ? WHERE chain = ?",
             STORE_ARGS(SV_TEXT(vector_id), SV_TEXT(vector_hash), SV_TEXT(CHAIN_A)));
    exec_sql(db.store, "UPDATE audit_heads SET hash = ? WHERE chain = ?",
             STORE_ARGS(SV_TEXT(vector_hash), SV_TEXT(CHAIN_A)));
    CHECK_EQ_INT(store_commit(db.store), 0);
    check_valid(db.store, CHAIN_A, 1);
    exec_sql(db.store, "UPDATE events SET hash = ? WHERE chain = ?",
             STORE_ARGS(SV_TEXT(ZERO_HASH), SV_TEXT(CHAIN_A)));
    check_invalid(db.store, &test_keys, CHAIN_A, 1, "hash mismatch: event altered");
    test_store_close(&db);
}

TEST(test_append_needs_transaction)
{
    struct test_store db;
    struct audit_event incomplete = { .chain = CHAIN_A, .actor_type = "USER" };

    test_store_open(&db);
    CHECK_EQ_INT(append_one(db.store, CHAIN_A, "outside a transaction"), -EINVAL);
    CHECK_EQ_INT(store_begin(db.store, STORE_TXN_WRITE), 0);
    CHECK_EQ_INT(audit_append(db.store, &incomplete), -EINVAL);
    CHECK_EQ_INT(store_rollback(db.store), 0);
    test_store_close(&db);
}

TEST(test_rollback_leaves_no_event)
{
    struct test_store db;

    test_store_open(&db);
    append_n(db.store, CHAIN_A, 2);
    CHECK_EQ_INT(store_begin(db.store, STORE_TXN_WRITE), 0);
    CHECK_EQ_INT(append_one(db.store, CHAIN_A, "rolled back"), 0);
    CHECK_EQ_INT(store_rollback(db.store), 0);
    check_valid(db.store, CHAIN_A, 2);
    append_n(db.store, CHAIN_A, 1);
    check_valid(db.store, CHAIN_A, 3);
    test_store_close(&db);
}

TEST(test_message_truncated_at_utf8_boundary)
{
    struct test_store db;
    char message[3000];
    json_t *row;

    test_store_open(&db);
    /* 2047 ASCII bytes, then "é" (2 bytes) across the 2048-byte limit. */
    memset(message, 'a', 2047);
    snprintf(message + 2047, sizeof(message) - 2047, "\xc3\xa9 tail");
    CHECK_EQ_INT(store_begin(db.store, STORE_TXN_WRITE), 0);
    CHECK_EQ_INT(append_one(db.store, CHAIN_A, message), 0);
    memset(message, 'b', sizeof(message) - 1);
    message[sizeof(message) - 1] = '\0';
    CHECK_EQ_INT(append_one(db.store, CHAIN_A, message), 0);
    /* Already cut inside a character by the caller: the partial "€" (3 bytes) goes. */
    CHECK_EQ_INT(append_one(db.store, CHAIN_A, "price: 5\xe2\x82"), 0);
    CHECK_EQ_INT(append_one(db.store, CHAIN_A, "price: 5\xe2\x82\xac"), 0);
    CHECK_EQ_INT(store_commit(db.store), 0);

    row = event_row(db.store, CHAIN_A, 1);
    CHECK_EQ_INT(strlen(field(row, "message")), 2047);
    json_decref(row);
    row = event_row(db.store, CHAIN_A, 2);
    CHECK_EQ_INT(strlen(field(row, "message")), 2048);
    json_decref(row);
    row = event_row(db.store, CHAIN_A, 3);
    CHECK_EQ_STR(field(row, "message"), "price: 5");
    json_decref(row);
    row = event_row(db.store, CHAIN_A, 4);
    CHECK_EQ_STR(field(row, "message"), "price: 5\xe2\x82\xac");
    json_decref(row);
    check_valid(db.store, CHAIN_A, 4);
    test_store_close(&db);
}

TEST(test_altered_message_detected)
{
    struct test_store db;

    test_store_open(&db);
    append_n(db.store, CHAIN_A, 5);
    update_message(db.store, CHAIN_A, 3, "nothing happened here");
    check_invalid(db.store, &test_keys, CHAIN_A, 3, "hash mismatch: event altered");
    test_store_close(&db);
}

TEST(test_deleted_event_detected)
{
    struct test_store db;

    test_store_open(&db);
    append_n(db.store, CHAIN_A, 5);
    exec_sql(db.store, "DELETE FROM events WHERE chain = ? AND seq = 3",
             STORE_ARGS(SV_TEXT(CHAIN_A)));
    check_invalid(db.store, &test_keys, CHAIN_A, 3, "sequence gap: event deleted or reordered");
    test_store_close(&db);
}

TEST(test_swapped_events_detected)
{
    struct test_store db;

    test_store_open(&db);
    append_n(db.store, CHAIN_A, 5);
    exec_sql(db.store, "UPDATE events SET seq = -2 WHERE chain = ? AND seq = 2",
             STORE_ARGS(SV_TEXT(CHAIN_A)));
    exec_sql(db.store, "UPDATE events SET seq = 2 WHERE chain = ? AND seq = 4",
             STORE_ARGS(SV_TEXT(CHAIN_A)));
    exec_sql(db.store, "UPDATE events SET seq = 4 WHERE chain = ? AND seq = -2",
             STORE_ARGS(SV_TEXT(CHAIN_A)));
    check_invalid(db.store, &test_keys, CHAIN_A, 2,
                  "prev_hash mismatch: event deleted, inserted or reordered");
    test_store_close(&db);
}

TEST(test_truncated_tail_detected_by_head)
{
    struct test_store db;

    test_store_open(&db);
    append_n(db.store, CHAIN_A, 5);
    exec_sql(db.store, "DELETE FROM events WHERE chain = ? AND seq >= 4",
             STORE_ARGS(SV_TEXT(CHAIN_A)));
    check_invalid(db.store, &test_keys, CHAIN_A, 4, "head mismatch: chain truncated");
    test_store_close(&db);
}

TEST(test_forged_rehash_detected_by_checkpoint)
{
    struct test_store db;

    test_store_open(&db);
    append_n(db.store, CHAIN_A, 4);
    CHECK_EQ_INT(audit_checkpoint(db.store, &test_keys, CHAIN_A), 1);
    append_n(db.store, CHAIN_A, 2);

    /* Without a checkpoint over it, a consistent rewrite is undetectable (docs/audit.md): the
     * rewrite of events 5-6 alone passes. */
    update_message(db.store, CHAIN_A, 5, "rewritten after the checkpoint");
    forge_rehash(db.store, CHAIN_A, 6);
    check_valid(db.store, CHAIN_A, 6);

    /* A rewrite reaching back before the checkpoint is caught by it. */
    update_message(db.store, CHAIN_A, 2, "rewritten before the checkpoint");
    forge_rehash(db.store, CHAIN_A, 6);
    check_invalid(db.store, &test_keys, CHAIN_A, 4, "checkpoint hash mismatch: chain rewritten");
    test_store_close(&db);
}

TEST(test_truncation_after_checkpoint_detected)
{
    struct test_store db;
    json_t *row;

    test_store_open(&db);
    append_n(db.store, CHAIN_A, 5);
    CHECK_EQ_INT(audit_checkpoint(db.store, &test_keys, CHAIN_A), 1);
    /* Cut the tail and move the head back so that the head check passes. */
    exec_sql(db.store, "DELETE FROM events WHERE chain = ? AND seq >= 4",
             STORE_ARGS(SV_TEXT(CHAIN_A)));
    row = event_row(db.store, CHAIN_A, 3);
    const char *hash = field(row, "hash");
    exec_sql(db.store, "UPDATE audit_heads SET seq = 3, hash = ? WHERE chain = ?",
             STORE_ARGS(SV_TEXT(hash), SV_TEXT(CHAIN_A)));
    json_decref(row);
    check_invalid(db.store, &test_keys, CHAIN_A, 5, "chain truncated after checkpoint");
    test_store_close(&db);
}

TEST(test_checkpoint_of_another_key_detected)
{
    struct test_store db;

    test_store_open(&db);
    append_n(db.store, CHAIN_A, 3);
    CHECK_EQ_INT(audit_checkpoint(db.store, &other_keys, CHAIN_A), 1);
    check_invalid(db.store, &test_keys, CHAIN_A, 3, "checkpoint signature invalid");
    test_store_close(&db);
}

TEST(test_forged_checkpoint_signature_detected)
{
    struct test_store db;

    test_store_open(&db);
    append_n(db.store, CHAIN_A, 3);
    CHECK_EQ_INT(audit_checkpoint(db.store, &test_keys, CHAIN_A), 1);
    check_valid(db.store, CHAIN_A, 3);
    exec_sql(db.store, "UPDATE audit_checkpoints SET signature = 'AAAA' WHERE chain = ?",
             STORE_ARGS(SV_TEXT(CHAIN_A)));
    check_invalid(db.store, &test_keys, CHAIN_A, 3, "checkpoint signature invalid");
    test_store_close(&db);
}

/* Decodes unpadded base64url (test helper, independent of audit.c). */
static size_t
b64url_decode(const char *text, uint8_t *out, size_t out_size)
{
    char b64[256];
    size_t len = strlen(text), padded = (len + 3) / 4 * 4;
    uint8_t buf[256];
    int n;

    CHECK(padded < sizeof(b64));
    for (size_t i = 0; i < padded; i++) {
        char c = i < len ? text[i] : '=';
        b64[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    b64[padded] = '\0';
    n = EVP_DecodeBlock(buf, (const uint8_t *)b64, (int)padded);
    CHECK(n >= 0 && (size_t)n - (padded - len) <= out_size);
    memcpy(out, buf, (size_t)n - (padded - len));
    return (size_t)n - (padded - len);
}

TEST(test_checkpoint_signature_checks_with_public_key)
{
    struct test_store db;
    char *pem = NULL, message[256];
    json_t *checkpoint = NULL;
    uint8_t signature[128];
    size_t signature_len;

    test_store_open(&db);
    append_n(db.store, CHAIN_A, 2);
    CHECK_EQ_INT(audit_checkpoint(db.store, &test_keys, CHAIN_A), 1);
    CHECK_EQ_INT(audit_checkpoint(db.store, &test_keys, CHAIN_A), 0); /* head did not move */
    CHECK_EQ_INT(store_query_json_object(db.store,
                                         "SELECT seq, hash, signature FROM audit_checkpoints"
                                         " WHERE chain = ?",
                                         STORE_ARGS(SV_TEXT(CHAIN_A)), &checkpoint),
                 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(checkpoint, "seq")), 2);
    snprintf(message, sizeof(message), "cloister-audit-checkpoint-v1\n%s\n2\n%s", CHAIN_A,
             field(checkpoint, "hash"));
    signature_len = b64url_decode(field(checkpoint, "signature"), signature, sizeof(signature));
    CHECK_EQ_INT(signature_len, 64);

    CHECK_EQ_INT(audit_public_key_pem(&test_keys, &pem), 0);
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    CHECK(key && md);
    CHECK(EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) == 1);
    CHECK(EVP_DigestVerify(md, signature, signature_len, (const uint8_t *)message,
                           strlen(message)) == 1);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    BIO_free(bio);
    free(pem);
    json_decref(checkpoint);

    append_n(db.store, CHAIN_A, 1);
    CHECK_EQ_INT(audit_checkpoint(db.store, &test_keys, CHAIN_A), 1);
    json_t *report = verify_chain(db.store, &test_keys, CHAIN_A);
    CHECK_EQ_INT(json_integer_value(json_object_get(report, "checkpoints_checked")), 2);
    CHECK(json_is_true(json_object_get(report, "valid")));
    json_decref(report);
    test_store_close(&db);
}

TEST(test_two_chains_do_not_interfere)
{
    struct test_store db;
    int64_t count = -1;

    test_store_open(&db);
    CHECK_EQ_INT(store_begin(db.store, STORE_TXN_WRITE), 0);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(append_one(db.store, CHAIN_A, "a"), 0);
        CHECK_EQ_INT(append_one(db.store, CHAIN_B, "b"), 0);
        CHECK_EQ_INT(append_one(db.store, AUDIT_SYSTEM_CHAIN, "system"), 0);
    }
    CHECK_EQ_INT(store_commit(db.store), 0);
    append_n(db.store, CHAIN_B, 3);
    check_valid(db.store, CHAIN_A, 4);
    check_valid(db.store, CHAIN_B, 7);
    check_valid(db.store, AUDIT_SYSTEM_CHAIN, 4);

    CHECK_EQ_INT(audit_checkpoint_all(db.store, &test_keys), 3);
    CHECK_EQ_INT(audit_checkpoint_all(db.store, &test_keys), 0);
    append_n(db.store, CHAIN_A, 1);
    CHECK_EQ_INT(audit_checkpoint_all(db.store, &test_keys), 1);

    /* Tampering with one chain leaves the others valid. */
    update_message(db.store, CHAIN_B, 2, "edited");
    check_invalid(db.store, &test_keys, CHAIN_B, 2, "hash mismatch: event altered");
    check_valid(db.store, CHAIN_A, 5);

    CHECK_EQ_INT(store_begin(db.store, STORE_TXN_WRITE), 0);
    CHECK_EQ_INT(audit_delete_chain(db.store, CHAIN_B), 0);
    CHECK_EQ_INT(store_commit(db.store), 0);
    CHECK_EQ_INT(store_query_int(db.store,
                                 "SELECT (SELECT COUNT(*) FROM events WHERE chain = ?) +"
                                 " (SELECT COUNT(*) FROM audit_checkpoints WHERE chain = ?) +"
                                 " (SELECT COUNT(*) FROM audit_heads WHERE chain = ?)",
                                 STORE_ARGS(SV_TEXT(CHAIN_B), SV_TEXT(CHAIN_B), SV_TEXT(CHAIN_B)),
                                 &count),
                 0);
    CHECK_EQ_INT(count, 0);
    check_valid(db.store, CHAIN_B, 0);
    check_valid(db.store, CHAIN_A, 5);
    check_valid(db.store, AUDIT_SYSTEM_CHAIN, 4);
    test_store_close(&db);
}

TEST(test_public_key_is_stable)
{
    char *a = NULL, *b = NULL, *c = NULL;

    CHECK_EQ_INT(audit_public_key_pem(&test_keys, &a), 0);
    CHECK_EQ_INT(audit_public_key_pem(&test_keys, &b), 0);
    CHECK_EQ_INT(audit_public_key_pem(&other_keys, &c), 0);
    CHECK_EQ_STR(a, b);
    CHECK(strcmp(a, c) != 0);
    free(a);
    free(b);
    free(c);
}

/* Appenders in several processes (workers, replicas), with no lock but the chain head's: one
 * unbroken chain holds every event, each once. Returns the child's exit status. */
static int
child_appends(const char *url, int n)
{
    struct store *store = NULL;
    int r = store_open(url, &store);

    for (int i = 0; r >= 0 && i < n; i++) {
        r = store_begin(store, STORE_TXN_WRITE);
        if (r >= 0)
            r = append_one(store, CHAIN_A, "concurrent");
        r = r >= 0 ? store_commit(store) : (store_rollback(store), r);
        if (r == -EBUSY) /* SQLite's busy timeout under this load: the client retries */
            r = 0, i--;
    }
    store_close(store);
    return r < 0 ? 1 : 0;
}

TEST(test_concurrent_appenders_keep_one_chain)
{
    enum { PROCS = 4, EACH = 25 };
    struct test_store db;
    pid_t pids[PROCS];

    test_store_open(&db);
    /* An SQLite file must not be open in the process that forks the children using it. */
    store_close(db.store);
    for (int i = 0; i < PROCS; i++) {
        pids[i] = fork();
        CHECK(pids[i] >= 0);
        if (pids[i] == 0)
            _exit(child_appends(db.url, EACH));
    }
    for (int i = 0; i < PROCS; i++) {
        int status = -1;
        CHECK_EQ_INT(waitpid(pids[i], &status, 0), pids[i]);
        CHECK(WIFEXITED(status));
        CHECK_EQ_INT(WEXITSTATUS(status), 0);
    }
    db.store = test_store_connect(&db);
    check_valid(db.store, CHAIN_A, PROCS * EACH);
    test_store_close(&db);
}

TEST_MAIN(TEST_CASE_ON_BACKENDS(test_append_and_verify),
          TEST_CASE_ON_BACKENDS(test_hash_test_vector),
          TEST_CASE_ON_BACKENDS(test_append_needs_transaction),
          TEST_CASE_ON_BACKENDS(test_rollback_leaves_no_event),
          TEST_CASE_ON_BACKENDS(test_message_truncated_at_utf8_boundary),
          TEST_CASE_ON_BACKENDS(test_altered_message_detected),
          TEST_CASE_ON_BACKENDS(test_deleted_event_detected),
          TEST_CASE_ON_BACKENDS(test_swapped_events_detected),
          TEST_CASE_ON_BACKENDS(test_truncated_tail_detected_by_head),
          TEST_CASE_ON_BACKENDS(test_forged_rehash_detected_by_checkpoint),
          TEST_CASE_ON_BACKENDS(test_truncation_after_checkpoint_detected),
          TEST_CASE_ON_BACKENDS(test_checkpoint_of_another_key_detected),
          TEST_CASE_ON_BACKENDS(test_forged_checkpoint_signature_detected),
          TEST_CASE_ON_BACKENDS(test_checkpoint_signature_checks_with_public_key),
          TEST_CASE_ON_BACKENDS(test_two_chains_do_not_interfere),
          TEST_CASE_ON_BACKENDS(test_public_key_is_stable),
          TEST_CASE_ON_BACKENDS(test_concurrent_appenders_keep_one_chain))
