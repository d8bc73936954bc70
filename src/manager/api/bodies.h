/* The field tables of every JSON request body (see body.h); shared with the fuzz targets. */
#pragma once

#include <stdint.h>

#include <jansson.h>

#include "api.h"
#include "body.h"

/* Limits shared by an app's fields and a stand-alone conversion's. */
#define APP_IMAGE_MAX 512
#define APP_ISV_MAX 65535
#define APP_MEM_MIN (INT64_C(64) << 20)
#define APP_MEM_MAX (INT64_C(1) << 40)
#define APP_THREADS_MAX 4096

/* The field specs an app and a stand-alone conversion share (required in both). */
#define APP_IMAGE_FIELD(field_name)                                                                \
    {                                                                                              \
        .name = (field_name), .type = FIELD_STRING, .required = true, .min = 1,                    \
        .max = APP_IMAGE_MAX, .check_string = check_image_ref                                      \
    }
#define APP_ISV_FIELD(field_name)                                                                  \
    {                                                                                              \
        .name = (field_name), .type = FIELD_INT, .required = true, .min = 0, .max = APP_ISV_MAX    \
    }
#define APP_MEM_SIZE_FIELD                                                                         \
    {                                                                                              \
        .name = "mem_size", .type = FIELD_INT, .required = true, .min = APP_MEM_MIN,               \
        .max = APP_MEM_MAX, .check_int = check_power_of_two                                        \
    }
#define APP_THREADS_FIELD                                                                          \
    {                                                                                              \
        .name = "threads", .type = FIELD_INT, .required = true, .min = 1, .max = APP_THREADS_MAX   \
    }

extern const struct field_spec signup_fields[];        /* POST /v1/users */
extern const struct field_spec account_fields[];       /* POST/PATCH /v1/accounts */
extern const struct field_spec member_invite_fields[]; /* POST /v1/users/invite */
extern const struct field_spec member_update_fields[]; /* PATCH /v1/users/{id} */
extern const struct field_spec app_fields[];           /* POST/PATCH /v1/apps */
extern const struct field_spec registry_fields[];      /* POST/PATCH /v1/registry */
extern const struct field_spec build_fields[];         /* POST /v1/builds */
extern const struct field_spec convert_fields[];       /* POST /v1/builds/convert-app */
extern const struct field_spec tool_convert_fields[];  /* POST /v1/tools/converter/convert-app */
extern const struct field_spec advanced_settings_fields[]; /* an app's advanced_settings */
extern const struct field_spec task_update_fields[];       /* PATCH /v1/tasks/{id} */
extern const struct field_spec node_nonce_fields[];        /* POST /v1/node/nonce */
extern const struct field_spec collateral_files_fields[];  /* POST /v1/collateral {files} */

/* Finishes checked advanced_settings as an app stores them: members set to null dropped, the
 * certificate's key_param checked against its key_type and defaulted. Replies 400 itself. */
int app_settings_finish(struct api_request *r, json_t *settings);
