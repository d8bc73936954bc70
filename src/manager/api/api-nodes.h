/* Node certificates (api-nodes.c), shared by enrollment and the agent's renewal
 * (api-node-agent.c). */
#pragma once

#include "api.h"
#include "ca-issue.h"
#include "store-zones.h"

/* Node certificates are valid 30 days; the agent renews them at node_renewal_threshold percent
 * of that (docs/nodes.md). */
#define NODE_CERT_VALIDITY (30LL * 86400)

/* Checks that the PEM CSR of field (a JSON path, for the 400) parses, is self-signed and holds
 * an EC P-256 or P-384 key: else prepares a 400 naming field and returns -ECANCELED. */
int api_node_check_csr(struct api_request *r, const char *field, const char *csr_pem);

/* Issues a node certificate for csr_pem through the CA process and records it (kind NODE) in
 * the request's transaction; *ret_issued is the caller's and ret_certificate_id (37 bytes) gets
 * its id. A CSR the CA refuses prepares a 400 naming field. */
int api_node_issue(struct api_request *r, const struct zone_info *zone, const char *node_id,
                   const char *field, const char *csr_pem, struct ca_issued **ret_issued,
                   char *ret_certificate_id);
