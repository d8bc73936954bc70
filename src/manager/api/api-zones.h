/* Zones (api-zones.c): what other resources need besides the routes. */
#pragma once

#include "api.h"
#include "store-accounts.h"

/* Creates the default zone of a new account acct_id inside the request's transaction: its CA
 * keys are made by the CA process (r->ctx->ca_fd) and stored sealed. The zone takes the
 * account's node refresh interval and renewal threshold. */
int api_zone_create_default(struct api_request *r, const char *acct_id,
                            const struct account_settings *settings);
