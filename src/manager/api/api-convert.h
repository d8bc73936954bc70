/* What the two conversion requests share (api-convert.c, api-tools.c): the auth config field
 * table and the credentials a job is given. */
#pragma once

#include "api.h"
#include "body.h"

extern const struct field_spec auth_config_fields[]; /* {username, password?} */

/* The credentials for image's registry ("HOST/REPO:TAG"), sealed for the job id (aad
 * "conversion:<id>:<which>"): the body's input_auth_config or output_auth_config (which is
 * "input" or "output"), else the account's registry record for the image's host, else none
 * (anonymous). */
int conversion_credentials(struct api_request *r, const char *image, const char *which,
                           const char *id, char **ret_username, char **ret_sealed);
