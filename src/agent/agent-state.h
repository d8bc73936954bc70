/* The agent's state directory (docs/agent.md):
 *   sim-key.pem  (0600) the sim attestation key, EC P-256, made on first start
 *   node.pem     (0600) the node's private key, then (once enrolled) its certificate and the
 *                zone chain (issuing, root): one file, so a renewal replaces key and certificate
 *                in one rename
 *   node.json    (0600) node id, zone, refresh settings, the zone root; written last, so its
 *                presence means "enrolled"
 *   manager-ca.pem (0600) a copy of --ca-file from enrollment: what later starts trust for the
 *                manager's TLS when no --ca-file is given
 * Every file is written to a temporary name, fsync'd and renamed into place. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sys/types.h>

#include "cleanup.h"

#define AGENT_ID_MAX 128u /* node, zone, account ids and names from the manager */

struct agent_state {
    char node_id[AGENT_ID_MAX];
    char zone_id[AGENT_ID_MAX];
    char acct_id[AGENT_ID_MAX];
    char trust_domain[256];
    char name[AGENT_ID_MAX];
    char manager_url[512];
    int64_t refresh_interval; /* seconds */
    int renewal_threshold;    /* percent of the node certificate's validity */
    char *ca_pem;             /* zone root, PEM */
    EVP_PKEY *node_key;
    X509 *node_cert;        /* NULL before enrollment */
    STACK_OF(X509) * chain; /* issuing then root; NULL before enrollment */
    EVP_PKEY *sim_key;
};

struct agent_state *agent_state_new(void);
struct agent_state *agent_state_free(struct agent_state *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct agent_state, agent_state_free);

/* Creates dir (0700) if missing. */
int agent_state_dir_prepare(const char *dir);

/* Loads an enrolled state: -ENOENT when node.json does not exist (not enrolled yet), -EBADMSG
 * when a file is damaged or the key does not match the certificate. */
int agent_state_load(const char *dir, struct agent_state **ret);

/* Before enrollment: loads sim-key.pem and node.pem's key if a previous attempt left them, else
 * makes and saves new ones. */
int agent_state_load_or_make_keys(const char *dir, EVP_PKEY **ret_node_key, EVP_PKEY **ret_sim_key);

/* Writes node.pem (key, certificate, chain) atomically. */
int agent_state_save_identity(const char *dir, EVP_PKEY *key, X509 *cert, STACK_OF(X509) * chain);

/* Writes node.json atomically. */
int agent_state_save_meta(const char *dir, const struct agent_state *s);

#define AGENT_MANAGER_CA_FILE "manager-ca.pem"

/* Copies ca_file (the manager's TLS trust, --ca-file) into the state directory. */
int agent_state_save_manager_ca(const char *dir, const char *ca_file);
/* dir/manager-ca.pem into out; -ENOENT if there is none. */
int agent_state_manager_ca_path(const char *dir, char *out, size_t cap);

/* Writes data to dir/name with mode through name.tmp, fsync and rename (and fsyncs dir). */
int agent_file_write_atomic(const char *dir, const char *name, const void *data, size_t size,
                            mode_t mode);

/* Crypto helpers. */
int agent_key_generate(EVP_PKEY **ret);                            /* EC P-256 */
int agent_csr_make(EVP_PKEY *key, const char *cn, char **ret_pem); /* PEM CSR, SHA-256 */
int agent_spki_base64(EVP_PKEY *key, char **ret);                  /* base64 DER SPKI */
/* Parses a PEM certificate and a PEM chain (one or more certificates). */
int agent_cert_parse(const char *pem, X509 **ret);
int agent_chain_parse(const char *pem, STACK_OF(X509) * *ret);
/* Percent (0..100+) of cert's validity elapsed at now. */
int agent_cert_elapsed_percent(X509 *cert, int64_t now);
