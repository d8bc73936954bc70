/* Each api-*.c file exports the routes of its resource, ending with { .pattern = NULL }; the
 * router (router.c) serves the union. The route table is where each endpoint's authentication,
 * minimum role and write/read nature are declared, in one visible place per resource. */
#pragma once

#include "api.h"

extern const struct route api_sys_routes[];        /* api-sys.c: version, health, metrics */
extern const struct route api_auth_routes[];       /* api-auth.c: sign-up, log-in/out, /v1/user */
extern const struct route api_accounts_routes[];   /* api-accounts.c */
extern const struct route api_members_routes[];    /* api-members.c: /v1/users... */
extern const struct route api_apps_routes[];       /* api-apps.c */
extern const struct route api_registries_routes[]; /* api-registries.c */
extern const struct route api_builds_routes[];     /* api-builds.c */
extern const struct route api_convert_routes[];    /* api-convert.c */
extern const struct route api_tools_routes[];      /* api-tools.c: stand-alone conversions */
extern const struct route api_tasks_routes[];      /* api-tasks.c */
extern const struct route api_events_routes[];     /* api-events.c */
extern const struct route api_zones_routes[];      /* api-zones.c: zones, CA, CRL, join tokens */
extern const struct route api_nodes_routes[];      /* api-nodes.c: enrollment, /v1/nodes */
extern const struct route api_node_agent_routes[]; /* api-node-agent.c: /v1/node/status... */
extern const struct route api_collateral_routes[]; /* api-collateral.c: /v1/collateral... */

/* The issuance pipeline's node routes and the certificates API (docs/issuance.md). */
extern const struct route api_issue_routes[];        /* api-issue.c: /v1/node/certificate/... */
extern const struct route api_certificates_routes[]; /* api-certificates.c */
