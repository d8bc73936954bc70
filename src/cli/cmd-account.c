/* cloister account: create, list, show, select, update, delete. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "config.h"
#include "jval.h"
#include "output.h"
#include "resource.h"

/* Settings ranges of docs/api.md, checked here so that a bad value is a usage error. */
#define APPROVALS_MIN 1u
#define APPROVALS_MAX 10u
#define CERT_VALIDITY_MIN 300u
#define CERT_VALIDITY_MAX 31536000u
#define RENEWAL_MIN 1u
#define RENEWAL_MAX 99u
#define REFRESH_MIN 5u
#define REFRESH_MAX 3600u

enum {
    OPT_NAME = 0x100,
    OPT_DESCRIPTION,
    OPT_APPROVALS,
    OPT_ALLOW_SIMULATION,
    OPT_CERT_VALIDITY,
    OPT_RENEWAL,
    OPT_REFRESH,
    OPT_YES,
};

struct account_opts {
    const char *name;
    const char *description;
    bool has_approvals, has_simulation, has_validity, has_renewal, has_refresh;
    uint64_t approvals, validity, renewal, refresh;
    bool allow_simulation;
    bool yes;
};

static int
account_on_setting(struct account_opts *o, int opt, const char *arg)
{
    switch (opt) {
    case OPT_APPROVALS:
        o->has_approvals = true;
        return args_uint("--approvals-required", arg, APPROVALS_MIN, APPROVALS_MAX, &o->approvals);
    case OPT_ALLOW_SIMULATION:
        o->has_simulation = true;
        return args_bool("--allow-simulation", arg, &o->allow_simulation);
    case OPT_CERT_VALIDITY:
        o->has_validity = true;
        return args_uint("--certificate-validity", arg, CERT_VALIDITY_MIN, CERT_VALIDITY_MAX,
                         &o->validity);
    case OPT_RENEWAL:
        o->has_renewal = true;
        return args_uint("--renewal-threshold", arg, RENEWAL_MIN, RENEWAL_MAX, &o->renewal);
    case OPT_REFRESH:
        o->has_refresh = true;
        return args_uint("--node-refresh-interval", arg, REFRESH_MIN, REFRESH_MAX, &o->refresh);
    default:
        return 0;
    }
}

static int
account_on_flag(void *userdata, int opt, const char *arg)
{
    struct account_opts *o = userdata;

    switch (opt) {
    case OPT_NAME:
        o->name = arg;
        return 0;
    case OPT_DESCRIPTION:
        o->description = arg;
        return 0;
    case OPT_YES:
        o->yes = true;
        return 0;
    default:
        return account_on_setting(o, opt, arg);
    }
}

static bool
account_has_settings(const struct account_opts *o)
{
    return o->has_approvals || o->has_simulation || o->has_validity || o->has_renewal ||
           o->has_refresh;
}

/* The settings object to send: the known settings of current (if any), then the flags. Sending
 * every setting works whether the server merges or replaces the object. */
static int
account_settings(const struct account_opts *o, const json_t *current, json_t **ret)
{
    const struct jval_number flags[] = {
        { "approvals_required", o->has_approvals, o->approvals },
        { "allow_simulation", o->has_simulation, o->allow_simulation, true },
        { "certificate_validity", o->has_validity, o->validity },
        { "renewal_threshold", o->has_renewal, o->renewal },
        { "node_refresh_interval", o->has_refresh, o->refresh },
        {},
    };
    _cleanup_json_ json_t *s = json_object();
    int r = s ? 0 : -ENOMEM;

    for (const struct jval_number *f = flags; f->key && r >= 0; f++) {
        json_t *v = json_object_get(current, f->key);

        if (json_is_integer(v) || json_is_boolean(v))
            r = json_object_set(s, f->key, v) < 0 ? -ENOMEM : 0;
    }
    if (r >= 0)
        r = jval_set_numbers(s, flags);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(s);
    return 0;
}

static int
account_body(const struct account_opts *o, const char *name, const json_t *current_settings,
             json_t **ret)
{
    const struct jval_field fields[] = { { "name", name }, { "description", o->description }, {} };
    _cleanup_json_ json_t *body = json_object();
    _cleanup_json_ json_t *settings = NULL;
    int r = body ? jval_set_fields(body, fields) : -ENOMEM;

    if (r >= 0 && account_has_settings(o))
        r = account_settings(o, current_settings, &settings);
    if (r >= 0 && settings)
        r = jval_set_new(body, "settings", TAKE_PTR(settings));
    if (r < 0)
        return r;
    *ret = TAKE_PTR(body);
    return 0;
}

static void
account_warn_simulation(const struct cli *cli, const json_t *account)
{
    if (json_is_true(jval_get(account, "settings.allow_simulation")))
        output_message(cli, "note: this account accepts simulated (software) evidence: INSECURE, "
                            "for demos and development only");
}

static int
format_simulation(const json_t *account, struct strbuf *out)
{
    json_t *v = jval_get(account, "settings.allow_simulation");

    return strbuf_adds(out, json_is_true(v) ? "INSECURE" : json_is_false(v) ? "off" : "-");
}

static const struct column account_columns[] = {
    { "ACCT_ID", "acct_id", COLUMN_TEXT, 0, NULL },
    { "NAME", "name", COLUMN_TEXT, 32, NULL },
    { "ROLE", "role", COLUMN_TEXT, 0, NULL },
    { "STATUS", "status", COLUMN_TEXT, 0, NULL },
    { "APPROVALS", "settings.approvals_required", COLUMN_TEXT, 0, NULL },
    { "SIMULATION", NULL, COLUMN_TEXT, 0, format_simulation },
    { "CREATED", "created_at", COLUMN_TIME, 0, NULL },
};

static const struct resource account_resource = {
    "/v1/accounts", "acct_id", "account", "accounts", account_columns, ELEMENTSOF(account_columns),
};

#define SETTINGS_USAGE                                                                             \
    "  --approvals-required N     distinct approvals a task needs (1-10, default 1)\n"             \
    "  --allow-simulation BOOL    accept simulated evidence (INSECURE; default false, true in\n"   \
    "                             dev mode)\n"

static const struct option create_options[] = {
    { "name", required_argument, NULL, OPT_NAME },
    { "description", required_argument, NULL, OPT_DESCRIPTION },
    { "approvals-required", required_argument, NULL, OPT_APPROVALS },
    { "allow-simulation", required_argument, NULL, OPT_ALLOW_SIMULATION },
    CLI_OPTION_END,
};

static const struct cli_cmd create_cmd = {
    .name = "account create",
    .usage = "Usage: cloister account create NAME [--description TEXT] [--approvals-required N]\n"
             "                               [--allow-simulation true|false]\n"
             "\n"
             "Create an account (POST /v1/accounts); you become its MANAGER. Select it "
             "afterwards.\n"
             "\n"
             "Flags:\n"
             "  --name NAME                the name, instead of the NAME argument\n"
             "  --description TEXT\n" SETTINGS_USAGE "\n"
             "Example:\n"
             "  cloister account create demo --description 'Demo tenant' --approvals-required 1\n",
    .options = create_options,
    .max_args = -1, /* NAME, unless --name is given */
};

static int
account_create(struct cli *cli, int argc, char **argv)
{
    struct account_opts o = {};
    _cleanup_json_ json_t *body = NULL, *account = NULL;
    int r = cli_parse(cli, &create_cmd, argc, argv, account_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    r = cli_expect_args(&create_cmd, argc, argv, o.name ? 0 : 1, o.name ? 0 : 1, "NAME");
    if (r < 0)
        return r;
    r = account_body(&o, o.name ? o.name : argv[0], NULL, &body);
    if (r < 0)
        return cli_build_error(r);
    r = cli_call(cli, "POST", account_resource.path, body, 0, &account);
    if (r < 0)
        return r;
    if (cli->json || cli->quiet)
        return output_object(cli, account, account_resource.id_key);
    output_line("Created account %s (%s); your role: %s.", jval_str(account, "name") ?: "?",
                jval_str(account, "acct_id") ?: "?", jval_str(account, "role") ?: "MANAGER");
    output_line("Select it with: cloister account select %s", jval_str(account, "acct_id") ?: "?");
    account_warn_simulation(cli, account);
    return 0;
}

static const struct cli_cmd list_cmd = {
    .name = "account list",
    .usage = "Usage: cloister account list [--limit N] [--offset N] [--sort KEY:DIR] [--search "
             "TEXT]\n"
             "\n"
             "List your accounts (GET /v1/accounts).\n"
             "\n"
             "Flags:\n" LIST_USAGE "\n"
             "Example:\n"
             "  cloister account list\n",
    .list = true,
};

static int
account_list(struct cli *cli, int argc, char **argv)
{
    return resource_verb_list(cli, &list_cmd, &account_resource, argc, argv);
}

static const struct cli_cmd show_cmd = {
    .name = "account show",
    .usage = "Usage: cloister account show [ACCT_ID]\n"
             "\n"
             "Show an account and its settings (GET /v1/accounts/{id}); without ACCT_ID, the "
             "selected\n"
             "account.\n"
             "\n"
             "Example:\n"
             "  cloister account show\n",
    .max_args = 1,
    .args = "ACCT_ID",
};

/* The account the session has selected, asked of the server (GET /v1/user). */
static int
account_selected(struct cli *cli, char **ret_id)
{
    _cleanup_json_ json_t *user = NULL;
    const char *id;
    int r = cli_call(cli, "GET", "/v1/user", NULL, 0, &user);

    if (r < 0)
        return r;
    id = jval_str(user, "selected_account");
    if (!id)
        return cli_usage_error(&show_cmd, "missing ACCT_ID, and no account is selected");
    *ret_id = strdup(id);
    return *ret_id ? 0 : cli_oom();
}

static int
account_show(struct cli *cli, int argc, char **argv)
{
    _cleanup_free_ char *selected = NULL;
    _cleanup_json_ json_t *account = NULL;
    int r = cli_parse(cli, &show_cmd, argc, argv, NULL, NULL, &argc, &argv);

    if (r != 0)
        return r;
    if (argc == 0)
        r = account_selected(cli, &selected);
    if (r >= 0)
        r = resource_show(cli, &account_resource, argc > 0 ? argv[0] : selected, &account);
    if (r >= 0)
        account_warn_simulation(cli, account);
    return r;
}

/* Records acct_id (or none) as the selected account of the cached session, when the session's
 * token is the one in use. */
static int
account_remember(struct cli *cli, const char *acct_id)
{
    struct session *s = cli_session(cli);

    if (!s || !cli->token_from_session)
        return 0;
    if (session_set(&s->acct_id, acct_id) < 0)
        return cli_oom();
    return session_save(s);
}

static const struct cli_cmd select_cmd = {
    .name = "account select",
    .usage = "Usage: cloister account select ACCT_ID\n"
             "\n"
             "Select the account that account-scoped commands (user, app, build, task, registry, "
             "audit)\n"
             "work in (POST /v1/accounts/select_account/{id}). The choice is kept by the server "
             "for the\n"
             "session and remembered in the session file.\n"
             "\n"
             "Example:\n"
             "  cloister account select 5b0f3f0e-8a43-4a53-9d36-0a1c2b3d4e5f\n",
    .min_args = 1,
    .max_args = 1,
    .args = "ACCT_ID",
};

static int
account_select(struct cli *cli, int argc, char **argv)
{
    _cleanup_json_ json_t *resp = NULL;
    int r = cli_parse(cli, &select_cmd, argc, argv, NULL, NULL, &argc, &argv);

    if (r != 0)
        return r;
    r = cli_call_id(cli, "POST", "/v1/accounts/select_account", argv[0], NULL, NULL, 0, &resp);
    if (r >= 0)
        r = account_remember(cli, jval_str(resp, "acct_id") ?: argv[0]);
    if (r < 0)
        return r;
    if (cli->json || cli->quiet)
        return output_object(cli, resp, account_resource.id_key);
    output_line("Selected account %s (role %s).", jval_str(resp, "acct_id") ?: argv[0],
                jval_str(resp, "role") ?: "?");
    return 0;
}

static const struct option update_options[] = {
    { "name", required_argument, NULL, OPT_NAME },
    { "description", required_argument, NULL, OPT_DESCRIPTION },
    { "approvals-required", required_argument, NULL, OPT_APPROVALS },
    { "allow-simulation", required_argument, NULL, OPT_ALLOW_SIMULATION },
    { "certificate-validity", required_argument, NULL, OPT_CERT_VALIDITY },
    { "renewal-threshold", required_argument, NULL, OPT_RENEWAL },
    { "node-refresh-interval", required_argument, NULL, OPT_REFRESH },
    CLI_OPTION_END,
};

static const struct cli_cmd update_cmd = {
    .name = "account update",
    .usage =
        "Usage: cloister account update ACCT_ID [--name NAME] [--description TEXT]\n"
        "           [--approvals-required N] [--allow-simulation BOOL]\n"
        "           [--certificate-validity SECONDS] [--renewal-threshold PCT]\n"
        "           [--node-refresh-interval SECONDS]\n"
        "\n"
        "Change an account (PATCH /v1/accounts/{id}; MANAGER). Only the given fields change.\n"
        "\n"
        "Flags:\n"
        "  --name NAME\n"
        "  --description TEXT\n" SETTINGS_USAGE
        "  --certificate-validity S   lifetime of issued certificates (300-31536000 s)\n"
        "  --renewal-threshold PCT    renew certificates after PCT % of their life (1-99)\n"
        "  --node-refresh-interval S  how often nodes check in (5-3600 s)\n"
        "\n"
        "Example:\n"
        "  cloister account update 5b0f3f0e-8a43-4a53-9d36-0a1c2b3d4e5f --approvals-required 2\n",
    .options = update_options,
    .min_args = 1,
    .max_args = 1,
    .args = "ACCT_ID",
    .changes = true,
};

static int
account_update(struct cli *cli, int argc, char **argv)
{
    struct account_opts o = {};
    _cleanup_json_ json_t *current = NULL, *body = NULL, *account = NULL;
    int r = cli_parse(cli, &update_cmd, argc, argv, account_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    if (account_has_settings(&o))
        r = cli_call_id(cli, "GET", account_resource.path, argv[0], NULL, NULL, 0, &current);
    if (r < 0)
        return r;
    r = account_body(&o, o.name, json_object_get(current, "settings"), &body);
    if (r < 0)
        return cli_build_error(r);
    r = resource_update(cli, &account_resource, argv[0], body, &account);
    if (r >= 0)
        account_warn_simulation(cli, account);
    return r;
}

static const struct option delete_options[] = {
    { "yes", no_argument, NULL, OPT_YES },
    CLI_OPTION_END,
};

static const struct cli_cmd delete_cmd = {
    .name = "account delete",
    .usage = "Usage: cloister account delete ACCT_ID --yes\n"
             "\n"
             "Delete an account and everything in it: apps, builds, tasks, registries, members "
             "and its\n"
             "audit chain (DELETE /v1/accounts/{id}; MANAGER). --yes confirms.\n"
             "\n"
             "Example:\n"
             "  cloister account delete 5b0f3f0e-8a43-4a53-9d36-0a1c2b3d4e5f --yes\n",
    .options = delete_options,
    .min_args = 1,
    .max_args = 1,
    .args = "ACCT_ID",
};

static int
account_delete(struct cli *cli, int argc, char **argv)
{
    struct account_opts o = {};
    struct session *s;
    int r = cli_parse(cli, &delete_cmd, argc, argv, account_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    if (!o.yes)
        return cli_usage_error(
            &delete_cmd, "refusing to delete account %s and all its data without --yes", argv[0]);
    r = cli_call_id(cli, "DELETE", account_resource.path, argv[0], NULL, NULL, 0, NULL);
    if (r < 0)
        return r;
    s = cli_session(cli);
    if (s && s->acct_id && strcmp(s->acct_id, argv[0]) == 0) {
        r = account_remember(cli, NULL);
        if (r < 0)
            return r;
    }
    output_message(cli, "Deleted account %s.", argv[0]);
    return 0;
}

static const struct cli_verb account_verbs[] = {
    { "create", "create an account (you become its MANAGER)", account_create },
    { "list", "list your accounts", account_list },
    { "show", "show an account (default: the selected one)", account_show },
    { "select", "select the account to work in", account_select },
    { "update", "change an account's name, description or settings", account_update },
    { "delete", "delete an account and all its data", account_delete },
};

const struct cli_group cmd_account = { "account", account_verbs, ELEMENTSOF(account_verbs) };
