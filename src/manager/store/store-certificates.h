/* Issued certificates (node and app) and their revocation, in the store. Reading and listing them
 * for the API is api-certificates.c's business; this file owns the rows' life: insert, revoke,
 * and the zone's revocation list for the CA process (ca-process.h: ca_revoked_lister).
 *
 * Revoking bumps the zone's crl_number in the same transaction, so every CRL the CA process signs
 * after the commit carries a higher number than any signed before it. */
#pragma once

#include <stdint.h>

#include "ca-crl.h"
#include "store.h"

#define CERT_KIND_NODE "NODE"
#define CERT_KIND_APP "APP"
#define CERT_STATUS_ISSUED "ISSUED"
#define CERT_STATUS_REVOKED "REVOKED"

/* A new certificate row; strings are borrowed; NULL where optional. */
struct certificate_new {
    const char *certificate_id; /* UUID */
    const char *acct_id;
    const char *zone_id;
    const char *kind; /* CERT_KIND_* */
    const char *serial_hex;
    const char *subject;   /* the first DNS name, or the node id */
    const char *dns_names; /* JSON array text, "[]" when none */
    const char *csr_pem;
    const char *cert_pem;
    int64_t not_before; /* seconds since the epoch */
    int64_t not_after;
    const char *app_id;
    const char *build_id;
    const char *node_id;
    const char *instance_id;
    const char *claims; /* JSON object text, "{}" when none */
    const char *now;    /* RFC 3339 */
};

/* -EEXIST when the zone already has this serial (never, with 127 random bits). */
int store_certificate_insert(struct store *store, const struct certificate_new *cert);

/* Revokes certificate_id of acct_id if it is ISSUED. 0 when revoked, -ENOENT when it is not in
 * the account, -EALREADY when it was already revoked. */
int store_certificate_revoke(struct store *store, const char *acct_id, const char *certificate_id,
                             const char *reason, const char *now);

/* Revokes every ISSUED certificate of node_id (its node certificates and those of the apps it
 * ran); *ret_count (optional) gets how many. */
int store_certificates_revoke_node(struct store *store, const char *acct_id, const char *node_id,
                                   const char *reason, const char *now, int64_t *ret_count);

/* The revoked, not yet expired certificates of zone_id and its CRL number (the CA process's
 * ca_revoked_lister). *ret is malloc'd (NULL when *ret_n is 0). */
int store_zone_revoked(struct store *store, const char *zone_id, int64_t now,
                       int64_t *ret_crl_number, struct ca_revoked **ret, size_t *ret_n);
