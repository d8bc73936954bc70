/* The supervisor: forks the workers and the jobs process, restarts any that dies, and on
 * SIGTERM/SIGINT stops them all and exits. */
#pragma once

#include "manager.h"

int supervisor_run(struct manager_context *ctx, int listen_fd);
