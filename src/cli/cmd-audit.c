/* cloister audit: the hash-chained audit log of the selected account (or the system chain). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "client.h"
#include "commands.h"
#include "jval.h"
#include "output.h"
#include "resource.h"
#include "table.h"

enum {
    OPT_ACTION_TYPE = 0x100,
    OPT_SEVERITY,
    OPT_ACTOR,
    OPT_ENTITY,
    OPT_FROM,
    OPT_TO,
    OPT_SYSTEM,
    OPT_FORMAT,
};

static const char *const action_types[] = { "USER_AUTH",        "ADMIN",           "USER_APPROVAL",
                                            "NODE_ATTESTATION", "NODE_STATUS",     "APP_STATUS",
                                            "CERTIFICATE",      "IMAGE_CONVERSION" };
static const char *const severities[] = { "INFO", "WARNING", "ERROR" };
static const char *const formats[] = { "csv", "json" };

struct audit_opts {
    const char *action_type, *severity, *actor, *entity, *from, *to;
    const char *format;
    const char *output;
    bool system;
};

static int
audit_on_flag(void *userdata, int opt, const char *arg)
{
    struct audit_opts *o = userdata;

    switch (opt) {
    case OPT_ACTION_TYPE:
        return args_choice("--action-type", arg, action_types, ELEMENTSOF(action_types),
                           &o->action_type);
    case OPT_SEVERITY:
        return args_choice("--severity", arg, severities, ELEMENTSOF(severities), &o->severity);
    case OPT_ACTOR:
        o->actor = arg;
        return 0;
    case OPT_ENTITY:
        o->entity = arg;
        return 0;
    case OPT_FROM:
        o->from = arg;
        return 0;
    case OPT_TO:
        o->to = arg;
        return 0;
    case OPT_SYSTEM:
        o->system = true;
        return 0;
    case OPT_FORMAT:
        return args_choice("--format", arg, formats, ELEMENTSOF(formats), &o->format);
    case 'o':
        o->output = arg;
        return 0;
    default:
        return 0;
    }
}

/* The chain asked for: the selected account's (nothing to add), or the system's. */
static const char *
audit_chain(const struct audit_opts *o)
{
    return o->system ? "system" : NULL;
}

static int
format_actor(const json_t *event, struct strbuf *out)
{
    const char *who = jval_str(event, "actor.name") ?: jval_str(event, "actor.id");

    return strbuf_addf(out, "%s%s%s", jval_str(event, "actor.type") ?: "?", who ? " " : "",
                       who ? who : "");
}

static const struct column event_columns[] = {
    { "SEQ", "seq", COLUMN_TEXT, 0, NULL },
    { "TIME", "time", COLUMN_TIME, 0, NULL },
    { "ACTOR", NULL, COLUMN_TEXT, 32, format_actor },
    { "ACTION", "action_type", COLUMN_TEXT, 0, NULL },
    { "SEVERITY", "severity", COLUMN_TEXT, 0, NULL },
    { "MESSAGE", "message", COLUMN_TEXT, 72, NULL },
};

static const struct resource event_resource = {
    "/v1/events", "event_id", "event", "events", event_columns, ELEMENTSOF(event_columns),
};

#define SYSTEM_USAGE                                                                               \
    "  --system           the system chain (sign-ups, log-ins, account deletions; system\n"        \
    "                     administrators only)\n"

static const struct option list_options[] = {
    { "action-type", required_argument, NULL, OPT_ACTION_TYPE },
    { "severity", required_argument, NULL, OPT_SEVERITY },
    { "actor", required_argument, NULL, OPT_ACTOR },
    { "entity", required_argument, NULL, OPT_ENTITY },
    { "from", required_argument, NULL, OPT_FROM },
    { "to", required_argument, NULL, OPT_TO },
    { "system", no_argument, NULL, OPT_SYSTEM },
    CLI_OPTION_END,
};

static const struct cli_cmd list_cmd = {
    .name = "audit list",
    .usage =
        "Usage: cloister audit list [--action-type TYPE] [--severity S] [--actor ID] [--entity "
        "ID]\n"
        "           [--from TIME] [--to TIME] [--system] [--limit N] [--offset N]\n"
        "           [--sort KEY:DIR] [--search TEXT]\n"
        "\n"
        "List audit events of the selected account, newest first (GET /v1/events).\n"
        "\n"
        "Flags:\n"
        "  --action-type T    USER_AUTH, ADMIN, USER_APPROVAL, NODE_ATTESTATION, NODE_STATUS,\n"
        "                     APP_STATUS, CERTIFICATE or IMAGE_CONVERSION\n"
        "  --severity S       INFO, WARNING or ERROR\n"
        "  --actor ID         events of this user, app or node\n"
        "  --entity ID        events about this entity\n"
        "  --from TIME        events at or after TIME (RFC 3339, e.g. 2026-11-23T00:00:00Z)\n"
        "  --to TIME          events before TIME\n" SYSTEM_USAGE LIST_USAGE "\n"
        "Example:\n"
        "  cloister audit list --action-type USER_APPROVAL --limit 20\n",
    .options = list_options,
    .list = true,
};

static int
audit_list(struct cli *cli, int argc, char **argv)
{
    struct audit_opts o = {};
    int r = cli_parse(cli, &list_cmd, argc, argv, audit_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    return resource_list(cli, &event_resource,
                         (const struct jval_field[]){
                             { "chain", audit_chain(&o) },
                             { "action_type", o.action_type },
                             { "severity", o.severity },
                             { "actor_id", o.actor },
                             { "entity_id", o.entity },
                             { "from", o.from },
                             { "to", o.to },
                             {},
                         });
}
static const struct option verify_options[] = {
    { "system", no_argument, NULL, OPT_SYSTEM },
    CLI_OPTION_END,
};

static const struct cli_cmd verify_cmd = {
    .name = "audit verify",
    .usage = "Usage: cloister audit verify [--system]\n"
             "\n"
             "Check the audit chain on the server: every hash link and every signed checkpoint\n"
             "(GET /v1/events/verify). Exit status 1 when the chain is not valid.\n"
             "\n"
             "Flags:\n" SYSTEM_USAGE "\n"
             "Example:\n"
             "  cloister audit verify\n",
    .options = verify_options,
};

static void
audit_print_verify(const json_t *resp, bool valid)
{
    json_int_t events = json_integer_value(json_object_get(resp, "events_checked"));
    json_int_t checkpoints = json_integer_value(json_object_get(resp, "checkpoints_checked"));

    if (valid)
        output_line("Audit chain valid: %" JSON_INTEGER_FORMAT " event%s and %" JSON_INTEGER_FORMAT
                    " checkpoint%s checked, last seq %" JSON_INTEGER_FORMAT ".",
                    events, events == 1 ? "" : "s", checkpoints, checkpoints == 1 ? "" : "s",
                    json_integer_value(json_object_get(resp, "last_seq")));
    else
        output_line("Audit chain NOT valid at seq %" JSON_INTEGER_FORMAT ": %s "
                    "(%" JSON_INTEGER_FORMAT " events checked).",
                    json_integer_value(jval_get(resp, "error.seq")),
                    jval_str(resp, "error.reason") ?: "no reason given", events);
    if (jval_str(resp, "audit_public_key")) {
        output_line("Audit public key:");
        if (table_print_lines(stdout, jval_str(resp, "audit_public_key"), 2) < 0)
            cli_oom();
    }
}

static int
audit_verify(struct cli *cli, int argc, char **argv)
{
    struct audit_opts o = {};
    _cleanup_json_ json_t *resp = NULL;
    const json_t *valid;
    int r = cli_parse(cli, &verify_cmd, argc, argv, audit_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    r = cli_get(cli, "/v1/events/verify",
                (const struct jval_field[]){ { "chain", audit_chain(&o) }, {} }, &resp);
    if (r < 0)
        return r;
    valid = json_object_get(resp, "valid");
    if (!json_is_boolean(valid)) {
        cli_error("unexpected response from %s: no 'valid' field", cli->url);
        return -EBADMSG;
    }
    if (cli->json)
        r = output_json(resp);
    else if (!cli->quiet)
        audit_print_verify(resp, json_is_true(valid));
    if (r < 0)
        return r;
    /* Not valid is a failure of the command: exit status 1. */
    return json_is_true(valid) ? 0 : -EBADMSG;
}

static const struct option export_options[] = {
    { "format", required_argument, NULL, OPT_FORMAT },
    { "output", required_argument, NULL, 'o' },
    { "system", no_argument, NULL, OPT_SYSTEM },
    CLI_OPTION_END,
};

static const struct cli_cmd export_cmd = {
    .name = "audit export",
    .usage = "Usage: cloister audit export [--format csv|json] [-o FILE] [--system]\n"
             "\n"
             "Write the whole audit chain, in order, to stdout or FILE\n"
             "(GET /v1/events/export?format=...). FILE is written to a temporary file first and\n"
             "renamed into place when complete (mode 0600).\n"
             "\n"
             "Flags:\n"
             "  --format F         csv or json (default json)\n"
             "  -o, --output FILE  write to FILE instead of stdout\n" SYSTEM_USAGE "\n"
             "Example:\n"
             "  cloister audit export --format csv -o audit.csv\n",
    .options = export_options,
    .shortopts = "o:",
};

static int
audit_export(struct cli *cli, int argc, char **argv)
{
    struct audit_opts o = {};
    _cleanup_(strbuf_release) struct strbuf path = STRBUF_INIT;
    int r = cli_parse(cli, &export_cmd, argc, argv, audit_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    if (strbuf_adds(&path, "/v1/events/export") < 0 ||
        client_path_queries(&path, (const struct jval_field[]){
                                       { "chain", audit_chain(&o) },
                                       { "format", o.format ? o.format : "json" },
                                       {},
                                   }) < 0)
        return cli_oom();
    /* The audit log is the account's private record: the file is made readable by its owner
     * only (as mkostemp made it before). */
    return resource_download(cli, path.buf, o.output, 0600);
}

static const struct cli_verb audit_verbs[] = {
    { "list", "list audit events", audit_list },
    { "verify", "check the hash chain and its signed checkpoints", audit_verify },
    { "export", "write the whole chain as CSV or JSON", audit_export },
};

const struct cli_group cmd_audit = { "audit", audit_verbs, ELEMENTSOF(audit_verbs) };
