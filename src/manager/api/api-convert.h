/* What the two conversion requests share (api-convert.c, api-tools.c): the auth config field
 * table and how a job is recorded with its credentials. */
#pragma once

#include "api.h"
#include "body.h"
#include "store-conversions.h"

extern const struct field_spec auth_config_fields[]; /* {username, password?} */

typedef int (*conversion_insert_fn)(struct store *store, const struct conversion_new *job);

/* Records a conversion job with id (a build's, or a stand-alone conversion's) through insert:
 * input and output are "HOST/REPO:TAG"; each gets the credentials for its registry, sealed for
 * this job (aad "conversion:<id>:input|output"): the body's input_auth_config or
 * output_auth_config, else the account's registry record for the image's host, else none
 * (anonymous). */
int conversion_insert(struct api_request *r, conversion_insert_fn insert, const char *id,
                      const char *input, const char *output, const char *settings);
