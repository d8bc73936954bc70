/* The CA process of the manager (SPEC 2.1): the only process that opens zone CA private keys.
 * The supervisor forks it with one end of a SOCK_SEQPACKET socketpair per worker and for the jobs
 * process; it serves ca-process.h requests on them, loading zone keys from the store on first
 * use (so the CA process of any replica can sign for any zone) and listing revocations for CRLs. */
#pragma once

#include <stddef.h>

#include "manager.h"

/* Runs until SIGTERM (or until every peer has closed); returns the process exit status. */
int ca_service_run(struct manager_context *ctx, const int *fds, size_t n_fds);
