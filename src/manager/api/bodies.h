/* The field tables of every JSON request body (see body.h); shared with the fuzz targets. */
#pragma once

#include "body.h"

extern const struct field_spec signup_fields[];        /* POST /v1/users */
extern const struct field_spec account_fields[];       /* POST/PATCH /v1/accounts */
extern const struct field_spec member_invite_fields[]; /* POST /v1/users/invite */
extern const struct field_spec member_update_fields[]; /* PATCH /v1/users/{id} */
extern const struct field_spec app_fields[];           /* POST/PATCH /v1/apps */
extern const struct field_spec registry_fields[];      /* POST/PATCH /v1/registry */
extern const struct field_spec build_fields[];         /* POST /v1/builds */
extern const struct field_spec convert_fields[];       /* POST /v1/builds/convert-app */
extern const struct field_spec task_update_fields[];   /* PATCH /v1/tasks/{id} */
extern const struct field_spec node_nonce_fields[];    /* POST /v1/node/nonce */
