/* The tamper-evident audit log: hash chains per account, signed checkpoints, verification.
 * The exact encodings and what verification can and cannot detect: docs/audit.md. */
#include "audit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "cleanup.h"
#include "crypto-util.h"
#include "log.h"

#define AUDIT_HASH_VERSION "cloister-audit-v1"
#define AUDIT_CHECKPOINT_VERSION "cloister-audit-checkpoint-v1"
#define AUDIT_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define AUDIT_MESSAGE_MAX 2048
#define AUDIT_SEED_LEN 32
#define ED25519_PUBLIC_LEN 32
#define ED25519_SIG_LEN 64
#define ED25519_SIG_B64_LEN 86 /* unpadded base64url of 64 bytes */
#define AUDIT_CHAINS_PAGE 100

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX, EVP_MD_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO, BIO_free_all);

/* The hashed fields of one event, in the order of the canonical encoding. */
struct audit_fields {
    const char *chain;
    int64_t seq;
    const char *event_id;
    const char *time;
    const char *actor_type;
    const char *actor_id;
    const char *actor_name;
    const char *action_type;
    const char *severity;
    const char *message;
    const char *entity_type;
    const char *entity_id;
    const char *prev_hash;
};

/* The state of one verification; only the earliest failure (lowest seq) is kept. */
struct verify_state {
    const char *chain;
    EVP_PKEY *public_key;
    int64_t events_checked;
    int64_t checkpoints_checked;
    int64_t last_seq;
    char last_hash[SHA256_HEX_LEN + 1];
    int64_t error_seq;
    const char *error_reason; /* static string; NULL while the chain is valid */
};

static const char *
nonnull(const char *s)
{
    return s ? s : "";
}

/* Feeds one field as a 4-byte big-endian length and its bytes: the length prefix makes the
 * encoding injective, so no two different events encode to the same bytes. */
static int
digest_field(EVP_MD_CTX *md, const char *value)
{
    size_t len = strlen(nonnull(value));
    uint8_t prefix[4];

    if (len > UINT32_MAX)
        return -E2BIG;
    prefix[0] = (uint8_t)(len >> 24);
    prefix[1] = (uint8_t)(len >> 16);
    prefix[2] = (uint8_t)(len >> 8);
    prefix[3] = (uint8_t)len;
    if (EVP_DigestUpdate(md, prefix, sizeof(prefix)) != 1)
        return -EIO;
    if (len > 0 && EVP_DigestUpdate(md, value, len) != 1)
        return -EIO;
    return 0;
}

static int
audit_hash(const struct audit_fields *f, char ret_hash[SHA256_HEX_LEN + 1])
{
    _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t digest[SHA256_LEN];
    unsigned int digest_len = 0;
    char seq[24];
    int r;

    if (!md)
        return -ENOMEM;
    snprintf(seq, sizeof(seq), "%" PRId64, f->seq);
    const char *const fields[] = {
        AUDIT_HASH_VERSION, f->chain,       seq,           f->event_id,    f->time,
        f->actor_type,      f->actor_id,    f->actor_name, f->action_type, f->severity,
        f->message,         f->entity_type, f->entity_id,  f->prev_hash,
    };
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        return -EIO;
    for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
        r = digest_field(md, fields[i]);
        if (r < 0)
            return r;
    }
    if (EVP_DigestFinal_ex(md, digest, &digest_len) != 1 || digest_len != SHA256_LEN)
        return -EIO;
    hex_encode(digest, SHA256_LEN, ret_hash);
    return 0;
}

/* Keys */

static int
audit_private_key(const struct manager_keys *keys, EVP_PKEY **ret_key)
{
    EVP_PKEY *key =
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, keys->audit_seed, AUDIT_SEED_LEN);

    if (!key)
        return -EIO;
    *ret_key = key;
    return 0;
}

/* A key object holding only the public half, so verification uses what an outside verifier
 * has. */
static int
audit_public_key(const struct manager_keys *keys, EVP_PKEY **ret_key)
{
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *private_key = NULL;
    uint8_t raw[ED25519_PUBLIC_LEN];
    size_t len = sizeof(raw);
    EVP_PKEY *key;
    int r;

    r = audit_private_key(keys, &private_key);
    if (r < 0)
        return r;
    if (EVP_PKEY_get_raw_public_key(private_key, raw, &len) != 1 || len != sizeof(raw))
        return -EIO;
    key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, len);
    if (!key)
        return -EIO;
    *ret_key = key;
    return 0;
}

static int
public_key_pem(EVP_PKEY *key, char **ret_pem)
{
    _cleanup_(BIO_free_allp) BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;
    char *pem;

    if (!bio)
        return -ENOMEM;
    if (PEM_write_bio_PUBKEY(bio, key) != 1)
        return -EIO;
    len = BIO_get_mem_data(bio, &data);
    if (len <= 0 || !data)
        return -EIO;
    pem = strndup(data, (size_t)len);
    if (!pem)
        return -ENOMEM;
    *ret_pem = pem;
    return 0;
}

int
audit_public_key_pem(const struct manager_keys *keys, char **ret_pem)
{
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
    int r;

    r = audit_public_key(keys, &key);
    if (r < 0)
        return r;
    return public_key_pem(key, ret_pem);
}

/* Checkpoint signatures */

static int
checkpoint_message(const char *chain, int64_t seq, const char *hash, char **ret_message)
{
    char *message = NULL;

    if (asprintf(&message, AUDIT_CHECKPOINT_VERSION "\n%s\n%" PRId64 "\n%s", chain, seq, hash) < 0)
        return -ENOMEM;
    *ret_message = message;
    return 0;
}

static int
checkpoint_sign(const struct manager_keys *keys, const char *chain, int64_t seq, const char *hash,
                char **ret_signature)
{
    _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
    _cleanup_free_ char *message = NULL;
    uint8_t signature[ED25519_SIG_LEN];
    size_t signature_len = sizeof(signature);
    int r;

    if (!md)
        return -ENOMEM;
    r = checkpoint_message(chain, seq, hash, &message);
    if (r < 0)
        return r;
    r = audit_private_key(keys, &key);
    if (r < 0)
        return r;
    /* Ed25519 is a one-shot scheme: no digest, one EVP_DigestSign over the whole message. */
    if (EVP_DigestSignInit(md, NULL, NULL, NULL, key) != 1 ||
        EVP_DigestSign(md, signature, &signature_len, (const uint8_t *)message, strlen(message)) !=
            1 ||
        signature_len != ED25519_SIG_LEN)
        return -EIO;
    return base64url_encode(signature, signature_len, ret_signature);
}

/* Decodes the unpadded base64url of a 64-byte signature; false on anything else. */
static bool
signature_decode(const char *text, uint8_t out[ED25519_SIG_LEN])
{
    char b64[ED25519_SIG_B64_LEN + 3];
    uint8_t buf[ED25519_SIG_LEN + 3];

    if (strlen(text) != ED25519_SIG_B64_LEN)
        return false;
    for (size_t i = 0; i < ED25519_SIG_B64_LEN; i++) {
        char c = text[i];
        if (c == '+' || c == '/' || c == '=')
            return false;
        b64[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    memcpy(b64 + ED25519_SIG_B64_LEN, "==", 3);
    /* EVP_DecodeBlock rejects characters outside the alphabet and counts the two padding
     * characters as two zero bytes. */
    if (EVP_DecodeBlock(buf, (const uint8_t *)b64, ED25519_SIG_B64_LEN + 2) != ED25519_SIG_LEN + 2)
        return false;
    memcpy(out, buf, ED25519_SIG_LEN);
    return true;
}

static int
checkpoint_signature_valid(EVP_PKEY *public_key, const char *chain, int64_t seq, const char *hash,
                           const char *signature_text, bool *ret_valid)
{
    _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
    _cleanup_free_ char *message = NULL;
    uint8_t signature[ED25519_SIG_LEN];
    int r;

    if (!md)
        return -ENOMEM;
    if (!signature_decode(signature_text, signature)) {
        *ret_valid = false;
        return 0;
    }
    r = checkpoint_message(chain, seq, hash, &message);
    if (r < 0)
        return r;
    if (EVP_DigestVerifyInit(md, NULL, NULL, NULL, public_key) != 1)
        return -EIO;
    *ret_valid = EVP_DigestVerify(md, signature, sizeof(signature), (const uint8_t *)message,
                                  strlen(message)) == 1;
    return 0;
}

/* Appending */

/* Reads the chain head and locks it until the end of the write transaction. */
static int
head_lock(struct store *store, const char *chain, int64_t *ret_seq,
          char ret_hash[SHA256_HEX_LEN + 1])
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    char sql[128];
    int r;

    snprintf(sql, sizeof(sql), "SELECT seq, hash FROM audit_heads WHERE chain = ? %s",
             store->ops->for_update);
    r = store_query_row(store, sql, STORE_ARGS(SV_TEXT(chain)), &rows);
    if (r < 0)
        return r;
    *ret_seq = store_rows_int(rows, 0);
    snprintf(ret_hash, SHA256_HEX_LEN + 1, "%s", store_rows_text(rows, 1));
    return 0;
}

static int
head_lock_or_create(struct store *store, const char *chain, int64_t *ret_seq,
                    char ret_hash[SHA256_HEX_LEN + 1])
{
    int r;

    r = head_lock(store, chain, ret_seq, ret_hash);
    if (r != -ENOENT)
        return r;
    /* The chain's first event. ON CONFLICT DO NOTHING lets two first appends racing on
     * PostgreSQL both go on: the second waits for the first to commit, then locks its row. */
    r = store_exec(store,
                   "INSERT INTO audit_heads (chain, seq, hash) VALUES (?, 0, ?) "
                   "ON CONFLICT (chain) DO NOTHING",
                   STORE_ARGS(SV_TEXT(chain), SV_TEXT(AUDIT_ZERO_HASH)), NULL);
    if (r < 0)
        return r;
    return head_lock(store, chain, ret_seq, ret_hash);
}

static int
event_insert(struct store *store, const struct audit_fields *f, const char *hash)
{
    return store_exec(store,
                      "INSERT INTO events (chain, seq, event_id, time, actor_type, actor_id,"
                      " actor_name, action_type, severity, message, entity_type, entity_id,"
                      " prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      STORE_ARGS(SV_TEXT(f->chain), SV_INT(f->seq), SV_TEXT(f->event_id),
                                 SV_TEXT(f->time), SV_TEXT(f->actor_type), SV_TEXT(f->actor_id),
                                 SV_TEXT(f->actor_name), SV_TEXT(f->action_type),
                                 SV_TEXT(f->severity), SV_TEXT(f->message), SV_TEXT(f->entity_type),
                                 SV_TEXT(f->entity_id), SV_TEXT(f->prev_hash), SV_TEXT(hash)),
                      NULL);
}

static int
head_advance(struct store *store, const char *chain, int64_t seq, const char *hash)
{
    int64_t changes = 0;
    int r;

    r = store_exec(store, "UPDATE audit_heads SET seq = ?, hash = ? WHERE chain = ? AND seq = ?",
                   STORE_ARGS(SV_INT(seq), SV_TEXT(hash), SV_TEXT(chain), SV_INT(seq - 1)),
                   &changes);
    if (r < 0)
        return r;
    /* The head is locked, so it cannot have moved; if it did, retrying is the answer. */
    return changes == 1 ? 0 : -EBUSY;
}

/* The length of s[0..n) without a trailing incomplete UTF-8 sequence. */
static size_t
utf8_complete_length(const char *s, size_t n)
{
    size_t start = n, need;
    unsigned char lead;

    /* Back off over up to 3 continuation bytes to the last character's first byte. */
    while (start > 0 && n - start < 3 && ((unsigned char)s[start - 1] & 0xc0) == 0x80)
        start--;
    if (start == 0)
        return n;
    lead = (unsigned char)s[start - 1];
    if (lead < 0x80)
        return n;
    need = (lead & 0xe0) == 0xc0 ? 2 : (lead & 0xf0) == 0xe0 ? 3 : (lead & 0xf8) == 0xf0 ? 4 : 1;
    return n - (start - 1) < need ? start - 1 : n;
}

/* Cuts a message to AUDIT_MESSAGE_MAX bytes at a UTF-8 character boundary (newly allocated).
 * A message a caller already cut inside a character (snprintf into a fixed buffer) loses the
 * partial character too, so the stored text stays valid UTF-8 and lists as JSON. */
static char *
message_truncate(const char *message)
{
    size_t n = strnlen(message, AUDIT_MESSAGE_MAX);

    return strndup(message, utf8_complete_length(message, n));
}

static bool
audit_event_is_valid(const struct audit_event *event)
{
    return event && event->chain && event->actor_type && event->actor_id && event->action_type &&
           event->severity && event->message;
}

int
audit_append(struct store *store, const struct audit_event *event)
{
    _cleanup_free_ char *message = NULL;
    char event_id[37], prev_hash[SHA256_HEX_LEN + 1], hash[SHA256_HEX_LEN + 1], now[32];
    int64_t seq;
    int r;

    if (!audit_event_is_valid(event) || !store->in_txn)
        return -EINVAL;
    message = message_truncate(event->message);
    if (!message)
        return -ENOMEM;
    r = uuid_random(event_id);
    if (r < 0)
        return r;
    if (!event->time)
        time_now_rfc3339(now);
    r = head_lock_or_create(store, event->chain, &seq, prev_hash);
    if (r < 0)
        return r;

    struct audit_fields f = {
        .chain = event->chain,
        .seq = seq + 1,
        .event_id = event_id,
        .time = event->time ? event->time : now,
        .actor_type = event->actor_type,
        .actor_id = event->actor_id,
        .actor_name = nonnull(event->actor_name),
        .action_type = event->action_type,
        .severity = event->severity,
        .message = message,
        .entity_type = nonnull(event->entity_type),
        .entity_id = nonnull(event->entity_id),
        .prev_hash = prev_hash,
    };
    r = audit_hash(&f, hash);
    if (r < 0)
        return r;
    r = event_insert(store, &f, hash);
    if (r < 0)
        return r == -EEXIST ? -EBUSY : r;
    return head_advance(store, event->chain, f.seq, hash);
}

/* Verification */

static void
verify_fail(struct verify_state *v, int64_t seq, const char *reason)
{
    if (v->error_reason && v->error_seq <= seq)
        return;
    v->error_seq = seq;
    v->error_reason = reason;
}

static int
verify_event_row(struct store_rows *rows, void *userdata)
{
    struct verify_state *v = userdata;
    char hash[SHA256_HEX_LEN + 1];
    struct audit_fields f = {
        .chain = v->chain,
        .seq = store_rows_int(rows, 0),
        .event_id = store_rows_text(rows, 1),
        .time = store_rows_text(rows, 2),
        .actor_type = store_rows_text(rows, 3),
        .actor_id = store_rows_text(rows, 4),
        .actor_name = store_rows_text(rows, 5),
        .action_type = store_rows_text(rows, 6),
        .severity = store_rows_text(rows, 7),
        .message = store_rows_text(rows, 8),
        .entity_type = store_rows_text(rows, 9),
        .entity_id = store_rows_text(rows, 10),
        .prev_hash = store_rows_text(rows, 11),
    };
    const char *stored_hash = store_rows_text(rows, 12);
    int64_t expected = v->last_seq + 1;
    int r;

    r = audit_hash(&f, hash);
    if (r < 0)
        return r;
    if (f.seq != expected)
        verify_fail(v, f.seq < expected ? f.seq : expected,
                    "sequence gap: event deleted or reordered");
    else if (strcmp(f.prev_hash, v->last_hash) != 0)
        verify_fail(v, f.seq, "prev_hash mismatch: event deleted, inserted or reordered");
    else if (strcmp(hash, stored_hash) != 0)
        verify_fail(v, f.seq, "hash mismatch: event altered");
    /* Go on from what is stored, so one bad event is reported once, not at every later link. */
    v->last_seq = f.seq;
    snprintf(v->last_hash, sizeof(v->last_hash), "%s", stored_hash);
    v->events_checked++;
    return 0;
}

/* Streams the chain in seq order: memory stays constant whatever the chain's length. */
static int
verify_events(struct store *store, struct verify_state *v)
{
    return store_query_each(store,
                            "SELECT seq, event_id, time, actor_type, actor_id, actor_name,"
                            " action_type, severity, message, entity_type, entity_id, prev_hash,"
                            " hash FROM events WHERE chain = ? ORDER BY seq",
                            STORE_ARGS(SV_TEXT(v->chain)), verify_event_row, v);
}

static int
verify_head(struct store *store, struct verify_state *v)
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    int64_t head_seq;
    int r;

    r = store_query_row(store, "SELECT seq, hash FROM audit_heads WHERE chain = ?",
                        STORE_ARGS(SV_TEXT(v->chain)), &rows);
    if (r == -ENOENT) {
        if (v->last_seq > 0)
            verify_fail(v, v->last_seq, "head missing: chain head deleted");
        return 0;
    }
    if (r < 0)
        return r;
    head_seq = store_rows_int(rows, 0);
    if (head_seq > v->last_seq)
        verify_fail(v, v->last_seq + 1, "head mismatch: chain truncated");
    else if (head_seq < v->last_seq)
        verify_fail(v, head_seq + 1, "head mismatch: events beyond the chain head");
    else if (strcmp(store_rows_text(rows, 1), v->last_hash) != 0)
        verify_fail(v, head_seq, "head mismatch: head hash differs from the last event");
    return 0;
}

static int
verify_checkpoint_row(struct store_rows *rows, void *userdata)
{
    struct verify_state *v = userdata;
    int64_t seq = store_rows_int(rows, 0);
    const char *hash = store_rows_text(rows, 1);
    bool valid = false;
    int r;

    r = checkpoint_signature_valid(v->public_key, v->chain, seq, hash, store_rows_text(rows, 2),
                                   &valid);
    if (r < 0)
        return r;
    v->checkpoints_checked++;
    if (!valid)
        verify_fail(v, seq, "checkpoint signature invalid");
    else if (store_rows_is_null(rows, 3))
        verify_fail(v, seq,
                    seq > v->last_seq ? "chain truncated after checkpoint"
                                      : "checkpoint event missing: event deleted");
    else if (strcmp(hash, store_rows_text(rows, 3)) != 0)
        verify_fail(v, seq, "checkpoint hash mismatch: chain rewritten");
    return 0;
}

/* Joins each checkpoint with the event at its seq in one query, after the event scan, so at
 * most one result set is open at a time whatever the backend. */
static int
verify_checkpoints(struct store *store, struct verify_state *v)
{
    return store_query_each(store,
                            "SELECT c.seq, c.hash, c.signature, e.hash FROM audit_checkpoints c"
                            " LEFT JOIN events e ON e.chain = c.chain AND e.seq = c.seq"
                            " WHERE c.chain = ? ORDER BY c.seq",
                            STORE_ARGS(SV_TEXT(v->chain)), verify_checkpoint_row, v);
}

static int
verify_run(struct store *store, struct verify_state *v)
{
    int r;

    r = verify_events(store, v);
    if (r >= 0)
        r = verify_head(store, v);
    if (r >= 0)
        r = verify_checkpoints(store, v);
    return r;
}

/* Runs the checks in the caller's transaction, or in a read transaction of its own, so events,
 * head and checkpoints are read from one snapshot. */
static int
verify_in_snapshot(struct store *store, struct verify_state *v)
{
    bool own_txn = !store->in_txn;
    int r;

    if (own_txn) {
        r = store_begin(store, STORE_TXN_READ);
        if (r < 0)
            return r;
    }
    r = verify_run(store, v);
    if (!own_txn)
        return r;
    if (r < 0) {
        store_rollback(store);
        return r;
    }
    return store_commit(store);
}

static int
verify_report(const struct verify_state *v, const char *public_key_pem, json_t **ret_report)
{
    _cleanup_(json_decrefp) json_t *report = NULL;

    report = json_pack("{s:b, s:I, s:I, s:I, s:s}", "valid", !v->error_reason, "events_checked",
                       (json_int_t)v->events_checked, "checkpoints_checked",
                       (json_int_t)v->checkpoints_checked, "last_seq", (json_int_t)v->last_seq,
                       "audit_public_key", public_key_pem);
    if (!report)
        return -ENOMEM;
    if (v->error_reason &&
        json_object_set_new(report, "error",
                            json_pack("{s:I, s:s}", "seq", (json_int_t)v->error_seq, "reason",
                                      v->error_reason)) < 0)
        return -ENOMEM;
    *ret_report = TAKE_PTR(report);
    return 0;
}

int
audit_verify(struct store *store, const struct manager_keys *keys, const char *chain,
             json_t **ret_report)
{
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *public_key = NULL;
    _cleanup_free_ char *pem = NULL;
    struct verify_state v = { .chain = chain };
    int r;

    r = audit_public_key(keys, &public_key);
    if (r < 0)
        return r;
    r = public_key_pem(public_key, &pem);
    if (r < 0)
        return r;
    v.public_key = public_key;
    memcpy(v.last_hash, AUDIT_ZERO_HASH, sizeof(v.last_hash));
    r = verify_in_snapshot(store, &v);
    if (r < 0)
        return r;
    return verify_report(&v, pem, ret_report);
}

/* Checkpoints */

static int
checkpoint_locked(struct store *store, const struct manager_keys *keys, const char *chain)
{
    _cleanup_free_ char *signature = NULL;
    char head_hash[SHA256_HEX_LEN + 1], now[32];
    const char *hash = head_hash, *created_at = now; /* SV_TEXT() takes pointers, not arrays */
    int64_t head_seq, last = 0;
    int r;

    r = head_lock(store, chain, &head_seq, head_hash);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    r = store_query_int(store,
                        "SELECT COALESCE(MAX(seq), 0) FROM audit_checkpoints WHERE chain = ?",
                        STORE_ARGS(SV_TEXT(chain)), &last);
    if (r < 0)
        return r;
    if (head_seq <= last)
        return 0;
    r = checkpoint_sign(keys, chain, head_seq, head_hash, &signature);
    if (r < 0)
        return r;
    time_now_rfc3339(now);
    r = store_exec(store,
                   "INSERT INTO audit_checkpoints (chain, seq, hash, signature, created_at)"
                   " VALUES (?, ?, ?, ?, ?)",
                   STORE_ARGS(SV_TEXT(chain), SV_INT(head_seq), SV_TEXT(hash), SV_TEXT(signature),
                              SV_TEXT(created_at)),
                   NULL);
    if (r < 0)
        return r;
    return 1;
}

int
audit_checkpoint(struct store *store, const struct manager_keys *keys, const char *chain)
{
    int r, created;

    r = store_begin(store, STORE_TXN_WRITE);
    if (r < 0)
        return r;
    created = checkpoint_locked(store, keys, chain);
    if (created < 0) {
        store_rollback(store);
        /* Another jobs process signed the same head first: nothing is left to do. */
        return created == -EEXIST ? 0 : created;
    }
    r = store_commit(store);
    return r < 0 ? r : created;
}

static int
chains_page(struct store *store, const char *after, json_t **ret_page)
{
    return store_query_json_array(
        store, "SELECT chain FROM audit_heads WHERE chain > ? ORDER BY chain LIMIT ?",
        STORE_ARGS(SV_TEXT(after), SV_INT(AUDIT_CHAINS_PAGE)), ret_page);
}

static int
checkpoint_page(struct store *store, const struct manager_keys *keys, json_t *page)
{
    size_t i;
    json_t *item;
    int created = 0;

    json_array_foreach(page, i, item) {
        const char *chain = json_string_value(json_object_get(item, "chain"));
        int r;

        if (!chain)
            continue;
        r = audit_checkpoint(store, keys, chain);
        if (r < 0)
            log_warning_errno(r, "Failed to checkpoint audit chain '%s', going on: %m", chain);
        else
            created += r;
    }
    return created;
}

int
audit_checkpoint_all(struct store *store, const struct manager_keys *keys)
{
    _cleanup_free_ char *after = strdup("");
    int created = 0;

    if (!after)
        return -ENOMEM;
    if (store->in_txn)
        return -EINPROGRESS;
    /* Pages keep a bounded list in memory and no result set open across the transactions
     * audit_checkpoint() opens. */
    for (;;) {
        _cleanup_(json_decrefp) json_t *page = NULL;
        size_t n;
        int r;

        r = chains_page(store, after, &page);
        if (r < 0)
            return r;
        n = json_array_size(page);
        if (n == 0)
            break;
        created += checkpoint_page(store, keys, page);
        free(after);
        after = strdup(
            nonnull(json_string_value(json_object_get(json_array_get(page, n - 1), "chain"))));
        if (!after)
            return -ENOMEM;
        if (n < AUDIT_CHAINS_PAGE)
            break;
    }
    return created;
}

int
audit_delete_chain(struct store *store, const char *chain)
{
    int r;

    r = store_exec(store, "DELETE FROM events WHERE chain = ?", STORE_ARGS(SV_TEXT(chain)), NULL);
    if (r < 0)
        return r;
    r = store_exec(store, "DELETE FROM audit_checkpoints WHERE chain = ?",
                   STORE_ARGS(SV_TEXT(chain)), NULL);
    if (r < 0)
        return r;
    return store_exec(store, "DELETE FROM audit_heads WHERE chain = ?", STORE_ARGS(SV_TEXT(chain)),
                      NULL);
}
