/* What every part of cloister-manager shares: its configuration and the per-process context. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "crypto-util.h"

#define MANAGER_PATH_MAX 4096
#define NONCE_KEY_LEN 32

struct manager_config {
    char data_dir[MANAGER_PATH_MAX];
    char listen[256]; /* host:port */
    char store_url[MANAGER_PATH_MAX];
    int workers;   /* 0: one per core */
    bool dev_mode; /* new accounts allow simulated evidence */
    bool log_json;
    char tls_cert[MANAGER_PATH_MAX]; /* "" → generated self-signed in data_dir/tls */
    char tls_key[MANAGER_PATH_MAX];
    int64_t token_ttl; /* seconds */
    uint32_t argon2_memory_kib;
    uint32_t argon2_iterations;
    bool allow_signup;
    int64_t max_body_bytes;
    int request_timeout;                    /* seconds */
    bool metrics_allow_remote;              /* /metrics, /healthz, /readyz beyond loopback */
    int audit_checkpoint_interval;          /* seconds between signed checkpoints */
    int conversion_workers;                 /* image conversions run at once by one jobs process */
    int conversion_lease;                   /* seconds a runner holds its job without renewing */
    char conversion_init[MANAGER_PATH_MAX]; /* cloister-init put in images; "" → beside us */
    bool conversion_plain_http;             /* registries on loopback hosts spoken to over HTTP */
    /* [collateral]: where the jobs process refreshes collateral from ("" → no fetching). */
    char collateral_pccs_url[1024]; /* a PCCS-compatible service: base of /sgx/certification/v4 */
    char console_dir
        [1024]; /* "" (default): the embedded console; else serve web/console from here */
    char collateral_kds_url[1024]; /* an AMD KDS-compatible service: base of /vcek/v1 */
    int collateral_refresh;        /* seconds between refreshes */
};

/* Keys derived from the master key: the same on every worker and replica. */
struct manager_keys {
    uint8_t seal_key[SEAL_KEY_LEN];   /* AES-256-GCM for secrets at rest */
    uint8_t audit_seed[32];           /* Ed25519 seed of the audit checkpoint key */
    uint8_t nonce_key[NONCE_KEY_LEN]; /* HMAC key of attestation nonces (nonce.h) */
    char key_id[33];                  /* public: tells master keys apart (store-settings.h) */
};

struct hw_cache;
struct metrics;
struct store;

struct manager_context {
    const struct manager_config *config;
    const struct manager_keys *keys;
    struct store *store;
    struct metrics *metrics;
    int ca_fd; /* this process's SOCK_SEQPACKET to the CA process (ca-process.h), or -1 */
    struct hw_cache *hw_cache; /* this process's parsed collateral (hw-verify.h), made on use */
};
