/* An API worker: one event loop serving HTTPS on the inherited listener until SIGTERM. */
#pragma once

#include "manager.h"

/* Runs the worker in this (forked) process; returns the process exit status. */
int worker_run(struct manager_context *ctx, int listen_fd);
