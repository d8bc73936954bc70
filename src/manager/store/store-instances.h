/* App instances (an app's build running on a node), the facts the issuance pipeline reads, the
 * nonces it consumes, and the read side of certificates for the API (api-certificates.c). Rows
 * are written by store-certificates.c (certificates) and here (instances, used nonces).
 *
 * Every function is scoped to one account where the row has one: a row of another account is
 * missing (-ENOENT). Objects returned are in the wire shape of docs/api.md and owned by the
 * caller. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "store-list.h"
#include "store.h"

/* {status, attestation_type, attestation_key (string or null), trust_domain} of a node. */
int store_issuance_node_get(struct store *store, const char *acct_id, const char *node_id,
                            json_t **ret_node);
/* {allow_simulation (bool), certificate_validity, renewal_threshold} of an account. */
int store_issuance_account_get(struct store *store, const char *acct_id, json_t **ret_account);
/* The build of the account with this mrenclave (lower-case hex): {build_id, app_id, status,
 * platform, debug (bool), pending_task_id}; -ENOENT when there is none. */
int store_issuance_build_get(struct store *store, const char *acct_id, const char *mrenclave,
                             json_t **ret_build);

/* Whether a nonce was consumed already: 0 no, -EEXIST yes. */
int store_nonce_check_unused(struct store *store, const char *nonce_id);
/* Consumes a nonce until expires_ms; -EEXIST when it was consumed already (a replay racing
 * this one, on another replica). Expired rows are the jobs process's to delete (jobs.c). */
int store_nonce_consume(struct store *store, const char *nonce_id, int64_t expires_ms);

struct instance_new {
    const char *acct_id;
    const char *app_id;
    const char *build_id;
    const char *node_id;
    const char *certificate_id; /* the certificate it is being issued */
    bool is_debug;
    const char *now; /* RFC 3339 */
    int64_t now_ms;
};

/* Inserts the instance of (app, node, build), or marks the existing one attested again (not
 * stopped, seen now, its new certificate): one statement. *ret_instance_id gets its id. */
int store_instance_upsert(struct store *store, const struct instance_new *instance,
                          char ret_instance_id[37]);

/* The sort keys of the deployment and certificate lists. */
extern const struct list_sort store_instance_sorts[];
extern const struct list_sort store_cert_record_sorts[];

/* GET /v1/builds/deployments/{id}: the instances of a build of the account, with their node and
 * status (RUNNING, or STOPPED once stopped). -ENOENT when the build is not in the account. */
int store_instance_list_by_build(struct store *store, const char *acct_id, const char *build_id,
                                 const struct list_params *p, struct list_page *ret_page);

/* Filters of GET /v1/instances; NULL members do not filter. */
struct instance_filters {
    const char *app_id;
    const char *build_id;
    const char *node_id;
    const char *status; /* RUNNING or STOPPED, as the deployments list computes it */
};

/* GET /v1/instances: one page of the account's instances, their status computed at now_ms. */
int store_instance_list(struct store *store, const char *acct_id, const struct instance_filters *f,
                        int64_t now_ms, const struct list_params *p, struct list_page *ret_page);

/* Certificate filters of GET /v1/certificates; NULL members do not filter. */
struct cert_record_filters {
    const char *app_id;
    const char *node_id;
    const char *status; /* ISSUED, REVOKED, EXPIRED (ISSUED past valid_until) */
    const char *kind;   /* NODE, APP */
};

/* One page of the account's certificates (without the PEM texts); status EXPIRED is computed
 * from valid_until at now_ms. */
int store_cert_record_list(struct store *store, const char *acct_id,
                           const struct cert_record_filters *f, int64_t now_ms,
                           const struct list_params *p, struct list_page *ret_page);
/* One certificate of the account with its csr and certificate PEM. */
int store_cert_record_get(struct store *store, const char *acct_id, const char *certificate_id,
                          int64_t now_ms, json_t **ret_cert);
/* The certificate of the latest attested instance of app_id on node_id. */
int store_cert_record_of_instance(struct store *store, const char *acct_id, const char *app_id,
                                  const char *node_id, int64_t now_ms, json_t **ret_cert);
/* Whether certificate_id is a certificate of node_id (in acct_id): 0 yes, -ENOENT no. */
int store_cert_record_of_node(struct store *store, const char *acct_id, const char *node_id,
                              const char *certificate_id);
