/* The collateral refresher (docs/configuration.md, [collateral]; docs/hardware-evidence.md,
 * "Collateral in the manager"): with pccs_url and/or kds_url set, the jobs process runs a
 * refresh every refresh_seconds in a child process (cl-collateral), so that no request ever
 * waits for the network. A refresh fetches, for what the store already knows, Intel's TCB
 * infos (per FMSPC), QE identities, PCK CRLs and the root CA CRL from a PCCS-compatible service
 * (PCCS/PCS API v4 paths) and AMD's certificate chains (ASK/ASVK and ARK per product) from a
 * KDS-compatible one. Every fetched item goes through the same checks as an import
 * (collateral.c) and is stored with source "pccs" or "kds" unless the store holds a newer one;
 * what cannot be fetched or checked is logged and left as it was. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "manager.h"

struct collateral_refresher {
    pid_t pid;       /* the running refresh, or 0 */
    int64_t next_ms; /* monotonic time of the next one */
};

/* Called on every tick of the jobs process: reaps a finished refresh and starts one when due. */
void collateral_refresh_tick(struct manager_context *ctx, struct collateral_refresher *refresher);

/* Stops a running refresh (SIGTERM) and waits for it. */
void collateral_refresh_stop(struct collateral_refresher *refresher);

/* One refresh, in the calling process, with its own store connection. 0, or a negative errno
 * when the store cannot be used (fetch and check failures are logged, not returned). */
int collateral_refresh_run(const struct manager_config *config);
