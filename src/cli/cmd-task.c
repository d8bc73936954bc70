/* cloister task: approval tasks (domains, builds, ...): list, show, approve, deny. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "client.h"
#include "commands.h"
#include "jval.h"
#include "output.h"

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
    struct list_opts list;
};

static int
task_on_flag(void *userdata, int opt, const char *arg)
{
    struct task_opts *o = userdata;
    int r = list_opts_handle(&o->list, opt, arg);

    if (r != 0)
        return r < 0 ? r : 0;
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
format_approvals(const json_t *task, char **ret)
{
    json_t *required = json_object_get(task, "approvals_required");
    char *s;

    if (asprintf(&s, "%zu/%" JSON_INTEGER_FORMAT, task_approvals(task),
                 json_is_integer(required) ? json_integer_value(required) : 1) < 0)
        return -ENOMEM;
    *ret = s;
    return 0;
}

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
format_details(const json_t *task, char **ret)
{
    _cleanup_(strbuf_release) struct strbuf sb = STRBUF_INIT;
    const char *reason = jval_str(task, "status.reason");
    char *s;
    int r = add_list(&sb, json_object_get(task, "domains_added"), "+");

    if (r >= 0)
        r = add_list(&sb, json_object_get(task, "domains_removed"), "-");
    if (r >= 0 && reason && *reason)
        r = strbuf_addf(&sb, "%s%s", sb.len > 0 ? "; " : "", reason);
    if (r < 0)
        return r;
    s = strbuf_detach(&sb);
    if (!s)
        return -ENOMEM;
    *ret = s;
    return 0;
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

static const struct cli_cmd list_cmd = {
    "task list",
    "Usage: cloister task list [--status STATUS] [--type TYPE] [--entity ID] [--limit N]\n"
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
};

static const struct option list_options[] = {
    { "status", required_argument, NULL, OPT_STATUS },
    { "type", required_argument, NULL, OPT_TYPE },
    { "entity", required_argument, NULL, OPT_ENTITY },
    LIST_OPTIONS,
    CLI_OPTION_HELP,
    CLI_OPTION_END,
};

static int
task_list(struct cli *cli, int argc, char **argv)
{
    struct task_opts o = {};
    _cleanup_(strbuf_release) struct strbuf path = STRBUF_INIT;
    _cleanup_json_ json_t *resp = NULL;
    int r = cli_parse_flags(cli, &list_cmd, argc, argv, NULL, list_options, task_on_flag, &o, &argc,
                            &argv);

    if (r != 0)
        return r > 0 ? 0 : r;
    r = cli_expect_args(&list_cmd, argc, argv, 0, 0, NULL);
    if (r < 0)
        return r;
    if (strbuf_adds(&path, "/v1/tasks") < 0 || client_path_query(&path, "status", o.status) < 0 ||
        client_path_query(&path, "task_type", o.type) < 0 ||
        client_path_query(&path, "entity_id", o.entity) < 0 || list_opts_query(&o.list, &path) < 0)
        return cli_oom();
    r = cli_call(cli, "GET", path.buf, NULL, 0, &resp);
    if (r < 0)
        return r;
    return output_list(cli, resp, task_columns, ELEMENTSOF(task_columns), "task_id", "tasks");
}

static const struct cli_cmd show_cmd = {
    "task show",
    "Usage: cloister task show TASK_ID\n"
    "\n"
    "Show a task with its votes (GET /v1/tasks/{id}).\n"
    "\n"
    "Example:\n"
    "  cloister task show 9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d\n",
};

static const struct option no_options[] = {
    CLI_OPTION_HELP,
    CLI_OPTION_END,
};

static int
task_show(struct cli *cli, int argc, char **argv)
{
    struct task_opts o = {};
    _cleanup_json_ json_t *task = NULL;
    int r = cli_parse_flags(cli, &show_cmd, argc, argv, NULL, no_options, task_on_flag, &o, &argc,
                            &argv);

    if (r != 0)
        return r > 0 ? 0 : r;
    r = cli_expect_args(&show_cmd, argc, argv, 1, 1, "TASK_ID");
    if (r >= 0)
        r = cli_call_id(cli, "GET", "/v1/tasks", argv[0], NULL, NULL, 0, &task);
    if (r < 0)
        return r;
    return output_object(cli, task, "task_id");
}

static const struct option vote_options[] = {
    { "reason", required_argument, NULL, OPT_REASON },
    CLI_OPTION_HELP,
    CLI_OPTION_END,
};

/* PATCH /v1/tasks/{id} {status: vote, reason?}. */
static int
task_vote(struct cli *cli, const struct cli_cmd *cmd, const char *vote, int argc, char **argv)
{
    struct task_opts o = {};
    _cleanup_json_ json_t *body = NULL, *task = NULL;
    int r =
        cli_parse_flags(cli, cmd, argc, argv, NULL, vote_options, task_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r > 0 ? 0 : r;
    r = cli_expect_args(cmd, argc, argv, 1, 1, "TASK_ID");
    if (r < 0)
        return r;
    body = json_object();
    r = body ? jval_set_str(body, "status", vote) : -ENOMEM;
    if (r >= 0 && o.reason)
        r = jval_set_str(body, "reason", o.reason);
    if (r < 0)
        return cli_oom();
    r = cli_call_id(cli, "PATCH", "/v1/tasks", argv[0], NULL, body, 0, &task);
    if (r < 0)
        return r;
    if (cli->json || cli->quiet)
        return output_object(cli, task, "task_id");
    output_line("%s task %s (%s %s): now %s, %zu of %" JSON_INTEGER_FORMAT " approvals.",
                strcmp(vote, "APPROVED") == 0 ? "Approved" : "Denied", argv[0],
                jval_str(task, "task_type") ?: "?", jval_str(task, "entity_name") ?: "?",
                jval_str(task, "status.status") ?: "?", task_approvals(task),
                json_integer_value(json_object_get(task, "approvals_required")));
    return 0;
}

static const struct cli_cmd approve_cmd = {
    "task approve",
    "Usage: cloister task approve TASK_ID [--reason TEXT]\n"
    "\n"
    "Approve a task (PATCH /v1/tasks/{id}; WRITER). It succeeds when the account's\n"
    "approvals_required distinct users have approved: a build becomes WHITELISTED, an app's\n"
    "new domains join its whitelisted_domains.\n"
    "\n"
    "Example:\n"
    "  cloister task approve 9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d --reason 'reviewed'\n",
};

static int
task_approve(struct cli *cli, int argc, char **argv)
{
    return task_vote(cli, &approve_cmd, "APPROVED", argc, argv);
}

static const struct cli_cmd deny_cmd = {
    "task deny",
    "Usage: cloister task deny TASK_ID [--reason TEXT]\n"
    "\n"
    "Deny a task (PATCH /v1/tasks/{id}; WRITER). One denial is final: a build becomes\n"
    "REJECTED, domains stay unapproved.\n"
    "\n"
    "Example:\n"
    "  cloister task deny 9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d --reason 'unknown image'\n",
};

static int
task_deny(struct cli *cli, int argc, char **argv)
{
    return task_vote(cli, &deny_cmd, "DENIED", argc, argv);
}

static const struct cli_verb task_verbs[] = {
    { "list", "list approval tasks", task_list },
    { "show", "show a task and its votes", task_show },
    { "approve", "approve a task", task_approve },
    { "deny", "deny a task", task_deny },
};

int
cmd_task(struct cli *cli, int argc, char **argv)
{
    return cli_dispatch(cli, "task", task_verbs, ELEMENTSOF(task_verbs), argc, argv);
}
