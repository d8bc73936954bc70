/* The cloister manifest, /.cloister/manifest.json format version 1 (docs/manifest.md): parsing
 * with every field checked, the canonical encoding and the measurement.
 *
 *   manifest digest = SHA-256(canonical encoding of the manifest without its "signer" member)
 *   measurement     = SHA-256(that canonical encoding || SHA-256 of the cloister-init binary)
 *   signer          = the manifest's "signer" (hex of SHA-256 of the signing public key) */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json-reader.h"

#define MANIFEST_PATH "/.cloister/manifest.json"
#define MANIFEST_SIZE_MAX (256u << 20)
#define MANIFEST_ENTRIES_MAX (4u << 20)
#define MANIFEST_PATH_MAX 4095u
#define MANIFEST_LIST_MAX 256u
#define MANIFEST_STRING_MAX 4096u
#define MANIFEST_DIGEST_SIZE 32u

enum manifest_entry_type {
    MANIFEST_ENTRY_FILE,
    MANIFEST_ENTRY_DIR,
    MANIFEST_ENTRY_SYMLINK,
};

enum manifest_check {
    MANIFEST_CHECK_FULL,
    MANIFEST_CHECK_SAMPLED,
};

enum manifest_key_type {
    MANIFEST_KEY_RSA,
    MANIFEST_KEY_EC,
};

struct manifest_entry {
    const char *path; /* absolute, normalised; borrowed from the tree or owned by a scan */
    enum manifest_entry_type type;
    uint32_t mode; /* permission bits with setuid/setgid/sticky (st_mode & 07777) */
    uint32_t uid;
    uint32_t gid;
    uint64_t size;      /* files: content size; symlinks: target length; dirs: 0 */
    bool has_sha256;    /* files and symlinks */
    uint8_t sha256[32]; /* of the content, or of the link target's bytes */
};

/* A list of strings borrowed from the parsed tree. */
struct manifest_strings {
    const char **items;
    size_t n;
};

struct manifest_certificate {
    const char *subject; /* the primary DNS name (CSR CN and first SAN) */
    struct manifest_strings alt_names;
    enum manifest_key_type key_type;
    unsigned rsa_bits; /* RSA: 2048..4096 */
    const char *curve; /* EC: "P-256" or "P-384" */
    const char *key_path;
    const char *cert_path;
    const char *chain_path; /* may be NULL */
};

struct manifest {
    struct jread_value *root; /* owned; everything borrowed points into it */
    uint8_t tree_digest[MANIFEST_DIGEST_SIZE];
    enum manifest_check check;
    unsigned sample_percent; /* sampled: 1..100 */
    struct manifest_strings skip;
    struct manifest_entry *entries; /* owned array, sorted strictly by path */
    size_t n_entries;

    struct manifest_strings entrypoint, cmd, env;
    const char *workdir; /* may be NULL: "/" */
    const char *user;    /* may be NULL: root */

    uint64_t mem_size;
    unsigned threads, isvprodid, isvsvn;
    struct manifest_certificate certificate;
    struct manifest_strings encrypted_dirs, rw_dirs, manifest_env;
    bool allow_cmdline_args;
    uint8_t signer[MANIFEST_DIGEST_SIZE];

    uint8_t digest[MANIFEST_DIGEST_SIZE]; /* see above */
};

/* Parses and checks a manifest (size bytes of JSON). On -EBADMSG, *ret_error (if not NULL) is set
 * to a static message naming the field or the offset's problem. -ENOMEM. */
int manifest_parse(const char *text, size_t size, struct manifest **ret_manifest,
                   const char **ret_error);
struct manifest *manifest_free(struct manifest *m);

/* The canonical encoding of the manifest without "signer" (malloc'd, *ret_size bytes). */
int manifest_canonical(const struct manifest *m, char **ret_text, size_t *ret_size);

/* The measurement for an init binary digest (see above). */
int manifest_measurement(const struct manifest *m, const uint8_t init_digest[32],
                         uint8_t ret_measurement[32]);

/* SHA-256 of the canonical encoding of an "entries" array value: the tree digest. */
int manifest_tree_digest(const struct jread_value *entries, uint8_t ret_digest[32]);

/* Whether path is absolute and normalised: starts with "/", is not "/", has no empty, "." or ".."
 * component and no trailing "/", at most MANIFEST_PATH_MAX bytes. */
bool manifest_path_ok(const char *path);

/* SHA-256 helpers for init (libcrypto). */
int manifest_sha256(const void *data, size_t size, uint8_t ret_digest[32]);
int manifest_sha256_file(int fd, uint8_t ret_digest[32], uint64_t *ret_size);
void manifest_hex(const uint8_t *data, size_t size, char *out);
int manifest_unhex(const char *hex, uint8_t *out, size_t size);
