/* The jobs process: periodic work that no request should wait for. */
#pragma once

#include "manager.h"

int jobs_run(struct manager_context *ctx);
