/* Stand-alone conversions in the store (store-tool-conversions.h). */
#include "store-tool-conversions.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cleanup.h"

int
store_tool_conversion_insert(struct store *store, const struct conversion_new *j)
{
    return store_exec(
        store,
        "INSERT INTO tool_conversions (conversion_id, acct_id, requester_id, requester_email,"
        " requester_name, input_image, output_image, input_username, input_password_sealed,"
        " output_username, output_password_sealed, settings, status, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'CONVERTING', ?, ?)",
        STORE_ARGS(SV_TEXT(j->build_id), SV_TEXT(j->acct_id), SV_TEXT(j->requester_id),
                   SV_TEXT(j->requester_email), SV_TEXT(j->requester_name), SV_TEXT(j->input_image),
                   SV_TEXT(j->output_image), SV_TEXT(j->input_username),
                   SV_TEXT(j->input_password_sealed), SV_TEXT(j->output_username),
                   SV_TEXT(j->output_password_sealed), SV_TEXT(j->settings), SV_TEXT(j->now),
                   SV_TEXT(j->now)),
        NULL);
}

/* The result member: the measurement once it succeeded, with the settings' ISV values. */
static json_t *
result_of(json_t *row)
{
    json_auto_t *settings = NULL;
    const char *text = json_string_value(json_object_get(row, "settings"));

    if (!json_is_string(json_object_get(row, "mrenclave")))
        return json_null();
    settings = text ? json_loads(text, 0, NULL) : NULL;
    return json_pack("{s:O, s:O, s:O, s:O, s:O, s:O}", "mrenclave",
                     json_object_get(row, "mrenclave"), "mrsigner",
                     json_object_get(row, "mrsigner"), "isvprodid",
                     json_object_get(settings, "isvprodid") ?: json_null(), "isvsvn",
                     json_object_get(settings, "isvsvn") ?: json_null(), "docker_image_sha",
                     json_object_get(row, "docker_image_sha"), "docker_image_size",
                     json_object_get(row, "docker_image_size"));
}

int
store_tool_conversion_get(struct store *store, const char *acct_id, const char *id,
                          json_t **ret_conversion)
{
    json_auto_t *row = NULL;
    json_t *out;
    int r;

    r = store_query_json_object(
        store,
        "SELECT conversion_id, status, progress, log, input_image, output_image, mrenclave,"
        " mrsigner, docker_image_sha, docker_image_size, settings, requester_id,"
        " requester_name, created_at, updated_at"
        " FROM tool_conversions WHERE conversion_id = ? AND acct_id = ?",
        STORE_ARGS(SV_TEXT(id), SV_TEXT(acct_id)), &row);
    if (r < 0)
        return r;
    out = json_pack(
        "{s:O, s:O, s:O, s:O, s:O, s:O, s:o, s:{s:O, s:O}, s:O, s:O}", "conversion_id",
        json_object_get(row, "conversion_id"), "status", json_object_get(row, "status"), "progress",
        json_object_get(row, "progress"), "log", json_object_get(row, "log"), "input_image",
        json_object_get(row, "input_image"), "output_image", json_object_get(row, "output_image"),
        "result", result_of(row), "requester_info", "user_id", json_object_get(row, "requester_id"),
        "user_name", json_object_get(row, "requester_name"), "created_at",
        json_object_get(row, "created_at"), "updated_at", json_object_get(row, "updated_at"));
    if (!out)
        return -ENOMEM;
    *ret_conversion = out;
    return 0;
}

int
store_tool_conversion_progress(struct store *store, const char *id, int64_t attempt,
                               int64_t lease_until_ms, int progress, const char *log,
                               const char *now)
{
    return store_exec_one(store,
                          "UPDATE tool_conversions SET lease_until_ms = ?, progress = ?, log = ?,"
                          " updated_at = ? WHERE conversion_id = ? AND attempts = ?"
                          " AND status = 'CONVERTING'",
                          STORE_ARGS(SV_INT(lease_until_ms), SV_INT(progress), SV_TEXT(log),
                                     SV_TEXT(now), SV_TEXT(id), SV_INT(attempt)));
}

/* The credentials are only needed while it runs. */
#define TOOL_END_SET                                                                               \
    " progress = 100, log = ?, updated_at = ?, input_password_sealed = NULL,"                      \
    " output_password_sealed = NULL"

int
store_tool_conversion_succeed(struct store *store, const char *id, const char *mrenclave,
                              const char *mrsigner, const char *image_sha, int64_t image_size,
                              const char *log, const char *now)
{
    return store_exec_one(store,
                          "UPDATE tool_conversions SET status = 'SUCCESS', mrenclave = ?,"
                          " mrsigner = ?, docker_image_sha = ?, docker_image_size = ?," TOOL_END_SET
                          " WHERE conversion_id = ? AND status = 'CONVERTING'",
                          STORE_ARGS(SV_TEXT(mrenclave), SV_TEXT(mrsigner), SV_TEXT(image_sha),
                                     SV_INT(image_size), SV_TEXT(log), SV_TEXT(now), SV_TEXT(id)));
}

int
store_tool_conversion_fail(struct store *store, const char *id, const char *log, const char *now)
{
    return store_exec_one(store,
                          "UPDATE tool_conversions SET status = 'FAILED'," TOOL_END_SET
                          " WHERE conversion_id = ? AND status = 'CONVERTING'",
                          STORE_ARGS(SV_TEXT(log), SV_TEXT(now), SV_TEXT(id)));
}
