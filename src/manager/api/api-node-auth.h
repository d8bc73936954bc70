/* Authentication of AUTH_NODE routes (the agent's /v1/node/... calls) by the TLS client
 * certificate: see api-node-auth.c. */
#pragma once

#include "api.h"

/* Checks the connection's client certificate and the node's state, and fills r->node_id,
 * r->node_name, r->zone_id and r->acct_id. Prepares 401 UN_AUTHORIZED (no, unknown, forged,
 * expired, revoked or superseded certificate) or 403 NODE_NOT_ENROLLED (deactivated node) and
 * returns -ECANCELED; other negative errnos are store failures. Runs before the request's
 * transaction opens (autocommit reads), like the bearer-token check. */
int api_node_authenticate(struct api_request *r);
