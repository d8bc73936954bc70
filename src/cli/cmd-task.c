/* cloister task: approval tasks (domains, builds, ...): list, show, approve, deny. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "jval.h"
#include "output.h"
#include "resource.h"

enum {
    OPT_STATUS = 0x100,
    OPT_TYPE,
    OPT_ENTITY,
    OPT_REASON,
};

static const char *const task_statuses[] = { "INPROGRESS", "SUCCESS", "DENIED", "FAILED" };
static const char *const task_types[] = { "DOMAIN_WHITELIST", "BUILD_WHITELIST", "NODE_ATTESTATION",
                                          "CERTIFICATE_ISSUANCE" };

struct task_opts {
    const char *status;
    const char *type;
    const char *entity;
    const char *reason;
};

static int
task_on_flag(void *userdata, int opt, const char *arg)
{
    struct task_opts *o = userdata;

    switch (opt) {
    case OPT_STATUS:
        return args_choice("--status", arg, task_statuses, ELEMENTSOF(task_statuses), &o->status);
    case OPT_TYPE:
        return args_choice("--type", arg, task_types, ELEMENTSOF(task_types), &o->type);
    case OPT_ENTITY:
        o->entity = arg;
        return 0;
    case OPT_REASON:
        o->reason = arg;
        return 0;
    default:
        return 0;
    }
}

static size_t
task_approvals(const json_t *task)
{
    size_t n = 0, i;
    json_t *a;

    json_array_foreach(json_object_get(task, "approvals"), i, a)
        if (strcmp(jval_str(a, "status") ?: "", "APPROVED") == 0)
            n++;
    return n;
}

static int
format_approvals(const json_t *task, struct strbuf *out)
{
    json_t *required = json_object_get(task, "approvals_required");

    return strbuf_addf(out, "%zu/%" JSON_INTEGER_FORMAT, task_approvals(task),
                       json_is_integer(required) ? json_integer_value(required) : 1);
}

/* Appends the strings of array, each after mark, joined by ", ". */
static int
add_list(struct strbuf *sb, const json_t *array, const char *mark)
{
    json_t *e;
    size_t i;

    json_array_foreach(array, i, e) {
        int r;

        if (!json_is_string(e))
            continue;
        r = strbuf_addf(sb, "%s%s%s", sb->len > 0 ? ", " : "", mark, json_string_value(e));
        if (r < 0)
            return r;
    }
    return 0;
}

/* What the task is about beyond its entity: domains added (+) and removed (-), the reason. */
static int
format_details(const json_t *task, struct strbuf *out)
{
    const char *reason = jval_str(task, "status.reason");
    int r = add_list(out, json_object_get(task, "domains_added"), "+");

    if (r >= 0)
        r = add_list(out, json_object_get(task, "domains_removed"), "-");
    if (r >= 0 && reason && *reason)
        r = strbuf_addf(out, "%s%s", out->len > 0 ? "; " : "", reason);
    return r;
}

static const struct column task_columns[] = {
    { "TASK_ID", "task_id", COLUMN_TEXT, 0, NULL },
    { "TYPE", "task_type", COLUMN_TEXT, 0, NULL },
    { "STATUS", "status.status", COLUMN_TEXT, 0, NULL },
    { "ENTITY", "entity_name", COLUMN_TEXT, 24, NULL },
    { "APPROVALS", NULL, COLUMN_TEXT, 0, format_approvals },
    { "REQUESTER", "requester_info.user_name", COLUMN_TEXT, 24, NULL },
    { "DETAILS", NULL, COLUMN_TEXT, 48, format_details },
    { "CREATED", "created_at", COLUMN_TIME, 0, NULL },
};

static const struct resource task_resource = {
    "/v1/tasks", "task_id", "task", "tasks", task_columns, ELEMENTSOF(task_columns),
};

static const struct option list_options[] = {
    { "status", required_argument, NULL, OPT_STATUS },
    { "type", required_argument, NULL, OPT_TYPE },
    { "entity", required_argument, NULL, OPT_ENTITY },
    CLI_OPTION_END,
};

static const struct cli_cmd list_cmd = {
    .name = "task list",
    .usage = "Usage: cloister task list [--status STATUS] [--type TYPE] [--entity ID] [--limit N]\n"
             "                          [--offset N] [--sort KEY:DIR] [--search TEXT]\n"
             "\n"
             "List the approval tasks of the selected account (GET /v1/tasks), newest first.\n"
             "DETAILS shows domains added (+) and removed (-) and the reason a task ended.\n"
             "\n"
             "Flags:\n"
             "  --status STATUS    INPROGRESS, SUCCESS, DENIED or FAILED\n"
             "  --type TYPE        DOMAIN_WHITELIST, BUILD_WHITELIST, NODE_ATTESTATION or\n"
             "                     CERTIFICATE_ISSUANCE\n"
             "  --entity ID        only tasks about this app, build or node\n" LIST_USAGE "\n"
             "Example:\n"
             "  cloister task list --status INPROGRESS\n",
    .options = list_options,
    .list = true,
};

static int
task_list(struct cli *cli, int argc, char **argv)
{
    struct task_opts o = {};
    int r = cli_parse(cli, &list_cmd, argc, argv, task_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    return resource_list(cli, &task_resource,
                         (const struct jval_field[]){
                             { "status", o.status },
                             { "task_type", o.type },
                             { "entity_id", o.entity },
                             {},
                         });
}

static const struct cli_cmd show_cmd = {
    .name = "task show",
    .usage = "Usage: cloister task show TASK_ID\n"
             "\n"
             "Show a task with its votes (GET /v1/tasks/{id}).\n"
             "\n"
             "Example:\n"
             "  cloister task show 9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d\n",
    .min_args = 1,
    .max_args = 1,
    .args = "TASK_ID",
};

static int
task_show(struct cli *cli, int argc, char **argv)
{
    return resource_verb_show(cli, &show_cmd, &task_resource, argc, argv);
}

static const struct option vote_options[] = {
    { "reason", required_argument, NULL, OPT_REASON },
    CLI_OPTION_END,
};

static const struct cli_cmd approve_cmd = {
    .name = "task approve",
    .usage = "Usage: cloister task approve TASK_ID [--reason TEXT]\n"
             "\n"
             "Approve a task (PATCH /v1/tasks/{id}; WRITER). It succeeds when the account's\n"
             "approvals_required distinct users have approved: a build becomes WHITELISTED, an "
             "app's\n"
             "new domains join its whitelisted_domains.\n"
             "\n"
             "Example:\n"
             "  cloister task approve 9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d --reason 'reviewed'\n",
    .options = vote_options,
    .min_args = 1,
    .max_args = 1,
    .args = "TASK_ID",
};

static const struct cli_cmd deny_cmd = {
    .name = "task deny",
    .usage = "Usage: cloister task deny TASK_ID [--reason TEXT]\n"
             "\n"
             "Deny a task (PATCH /v1/tasks/{id}; WRITER). One denial is final: a build becomes\n"
             "REJECTED, domains stay unapproved.\n"
             "\n"
             "Example:\n"
             "  cloister task deny 9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d --reason 'unknown image'\n",
    .options = vote_options,
    .min_args = 1,
    .max_args = 1,
    .args = "TASK_ID",
};

/* approve and deny: PATCH /v1/tasks/{id} {status: APPROVED or DENIED, reason?}. */
static int
task_vote(struct cli *cli, int argc, char **argv)
{
    bool approve = strcmp(argv[0], "approve") == 0;
    const char *vote = approve ? "APPROVED" : "DENIED";
    struct task_opts o = {};
    _cleanup_json_ json_t *body = NULL, *task = NULL;
    int r = cli_parse(cli, approve ? &approve_cmd : &deny_cmd, argc, argv, task_on_flag, &o, &argc,
                      &argv);

    if (r != 0)
        return r;
    body = json_object();
    if (!body || jval_set_fields(body, (const struct jval_field[]){
                                           { "status", vote }, { "reason", o.reason }, {} }) < 0)
        return cli_oom();
    r = cli_call_id(cli, "PATCH", task_resource.path, argv[0], NULL, body, 0, &task);
    if (r < 0)
        return r;
    if (cli->json || cli->quiet)
        return output_object(cli, task, task_resource.id_key);
    output_line("%s task %s (%s %s): now %s, %zu of %" JSON_INTEGER_FORMAT " approvals.",
                approve ? "Approved" : "Denied", argv[0], jval_str(task, "task_type") ?: "?",
                jval_str(task, "entity_name") ?: "?", jval_str(task, "status.status") ?: "?",
                task_approvals(task),
                json_integer_value(json_object_get(task, "approvals_required")));
    return 0;
}

static const struct cli_verb task_verbs[] = {
    { "list", "list approval tasks", task_list },
    { "show", "show a task and its votes", task_show },
    { "approve", "approve a task", task_vote },
    { "deny", "deny a task", task_vote },
};

const struct cli_group cmd_task = { "task", task_verbs, ELEMENTSOF(task_verbs) };
