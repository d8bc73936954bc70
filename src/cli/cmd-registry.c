/* cloister registry: credentials of container registries. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "commands.h"
#include "jval.h"
#include "output.h"
#include "password.h"

#define REGISTRY_PASSWORD_ENV "CLOISTER_REGISTRY_PASSWORD"

enum {
    OPT_URL = 0x100,
    OPT_USERNAME,
    OPT_PASSWORD_STDIN,
    OPT_DESCRIPTION,
};

struct registry_opts {
    const char *url;
    const char *username;
    const char *description;
    bool password_stdin;
    struct list_opts list;
};

static int
registry_on_flag(void *userdata, int opt, const char *arg)
{
    struct registry_opts *o = userdata;
    int r = list_opts_handle(&o->list, opt, arg);

    if (r != 0)
        return r < 0 ? r : 0;
    switch (opt) {
    case OPT_URL:
        o->url = arg;
        break;
    case OPT_USERNAME:
        o->username = arg;
        break;
    case OPT_PASSWORD_STDIN:
        o->password_stdin = true;
        break;
    case OPT_DESCRIPTION:
        o->description = arg;
        break;
    default:
        break;
    }
    return 0;
}

/* The registry password: --password-stdin, else $CLOISTER_REGISTRY_PASSWORD, else none (never
 * a prompt, and never CLOISTER_PASSWORD, the user's own). */
static int
registry_password(const struct registry_opts *o, char **ret)
{
    const char *env = getenv(REGISTRY_PASSWORD_ENV);
    const struct password_source src = { o->password_stdin, REGISTRY_PASSWORD_ENV, NULL, false };

    if (!o->password_stdin && !(env && *env)) {
        *ret = NULL;
        return 0;
    }
    return password_read(&src, ret);
}

static int
registry_body(const struct registry_opts *o, const char *url, const char *password, json_t **ret)
{
    _cleanup_(jval_secret_unrefp) json_t *body = json_object();
    const char *keys[] = { "url", "description", "username", "password" };
    const char *values[] = { url, o->description, o->username, password };
    int r = body ? 0 : -ENOMEM;

    for (size_t i = 0; i < ELEMENTSOF(keys) && r >= 0; i++)
        if (values[i])
            r = jval_set_str(body, keys[i], values[i]);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(body);
    return 0;
}

#define PASSWORD_USAGE                                                                             \
    "  --password-stdin   read the registry password from the first line of stdin (else\n"         \
    "                     from " REGISTRY_PASSWORD_ENV " if set); it is stored encrypted and\n"    \
    "                     never shown\n"

static const struct cli_cmd add_cmd = {
    "registry add",
    "Usage: cloister registry add URL [--username USER] [--password-stdin]\n"
    "                             [--description TEXT]\n"
    "\n"
    "Store the credentials of a container registry, e.g. for the output image\n"
    "(POST /v1/registry; WRITER). URL is host[:port][/path] or https://...\n"
    "\n"
    "Flags:\n"
    "  --username USER\n" PASSWORD_USAGE "  --description TEXT\n"
    "\n"
    "Example:\n"
    "  echo \"$REG_PASSWORD\" | cloister registry add registry.local:5000 --username ci \\\n"
    "      --password-stdin --description 'output images'\n",
};

static const struct option add_options[] = {
    { "username", required_argument, NULL, OPT_USERNAME },
    { "password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN },
    { "description", required_argument, NULL, OPT_DESCRIPTION },
    CLI_OPTION_HELP,
    CLI_OPTION_END,
};

static int
registry_add(struct cli *cli, int argc, char **argv)
{
    struct registry_opts o = {};
    _cleanup_(secret_freep) char *password = NULL;
    _cleanup_(jval_secret_unrefp) json_t *body = NULL;
    _cleanup_json_ json_t *registry = NULL;
    int r = cli_parse_flags(cli, &add_cmd, argc, argv, NULL, add_options, registry_on_flag, &o,
                            &argc, &argv);

    if (r != 0)
        return r > 0 ? 0 : r;
    r = cli_expect_args(&add_cmd, argc, argv, 1, 1, "URL");
    if (r >= 0)
        r = registry_password(&o, &password);
    if (r < 0)
        return r;
    if (registry_body(&o, argv[0], password, &body) < 0)
        return cli_oom();
    r = cli_call(cli, "POST", "/v1/registry", body, 0, &registry);
    if (r < 0)
        return r;
    if (cli->json || cli->quiet)
        return output_object(cli, registry, "registry_id");
    output_line("Added registry %s (%s)%s.", jval_str(registry, "url") ?: argv[0],
                jval_str(registry, "registry_id") ?: "?",
                json_is_true(json_object_get(registry, "has_password")) ? " with a password" : "");
    return 0;
}

static int
format_has_password(const json_t *registry, char **ret)
{
    char *s = strdup(json_is_true(json_object_get(registry, "has_password")) ? "yes" : "no");

    if (!s)
        return -ENOMEM;
    *ret = s;
    return 0;
}

static const struct column registry_columns[] = {
    { "REGISTRY_ID", "registry_id", COLUMN_TEXT, 0, NULL },
    { "URL", "url", COLUMN_TEXT, 48, NULL },
    { "USERNAME", "username", COLUMN_TEXT, 24, NULL },
    { "PASSWORD", NULL, COLUMN_TEXT, 0, format_has_password },
    { "DESCRIPTION", "description", COLUMN_TEXT, 40, NULL },
    { "CREATED", "created_at", COLUMN_TIME, 0, NULL },
};

static const struct cli_cmd list_cmd = {
    "registry list",
    "Usage: cloister registry list [--limit N] [--offset N] [--sort KEY:DIR] [--search TEXT]\n"
    "\n"
    "List the registries of the selected account (GET /v1/registry). Sort keys: url,\n"
    "created_at.\n"
    "\n"
    "Flags:\n" LIST_USAGE "\n"
    "Example:\n"
    "  cloister registry list\n",
};

static const struct option list_options[] = {
    LIST_OPTIONS,
    CLI_OPTION_HELP,
    CLI_OPTION_END,
};

static int
registry_list(struct cli *cli, int argc, char **argv)
{
    struct registry_opts o = {};
    _cleanup_(strbuf_release) struct strbuf path = STRBUF_INIT;
    _cleanup_json_ json_t *resp = NULL;
    int r = cli_parse_flags(cli, &list_cmd, argc, argv, NULL, list_options, registry_on_flag, &o,
                            &argc, &argv);

    if (r != 0)
        return r > 0 ? 0 : r;
    r = cli_expect_args(&list_cmd, argc, argv, 0, 0, NULL);
    if (r < 0)
        return r;
    if (strbuf_adds(&path, "/v1/registry") < 0 || list_opts_query(&o.list, &path) < 0)
        return cli_oom();
    r = cli_call(cli, "GET", path.buf, NULL, 0, &resp);
    if (r < 0)
        return r;
    return output_list(cli, resp, registry_columns, ELEMENTSOF(registry_columns), "registry_id",
                       "registries");
}

static const struct cli_cmd show_cmd = {
    "registry show",
    "Usage: cloister registry show REGISTRY_ID\n"
    "\n"
    "Show a registry (GET /v1/registry/{id}); the password is never returned.\n"
    "\n"
    "Example:\n"
    "  cloister registry show 3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f\n",
};

static const struct option no_options[] = {
    CLI_OPTION_HELP,
    CLI_OPTION_END,
};

static int
registry_show(struct cli *cli, int argc, char **argv)
{
    struct registry_opts o = {};
    _cleanup_json_ json_t *registry = NULL;
    int r = cli_parse_flags(cli, &show_cmd, argc, argv, NULL, no_options, registry_on_flag, &o,
                            &argc, &argv);

    if (r != 0)
        return r > 0 ? 0 : r;
    r = cli_expect_args(&show_cmd, argc, argv, 1, 1, "REGISTRY_ID");
    if (r >= 0)
        r = cli_call_id(cli, "GET", "/v1/registry", argv[0], NULL, NULL, 0, &registry);
    if (r < 0)
        return r;
    return output_object(cli, registry, "registry_id");
}

static const struct cli_cmd update_cmd = {
    "registry update",
    "Usage: cloister registry update REGISTRY_ID [--url URL] [--username USER]\n"
    "                                [--password-stdin] [--description TEXT]\n"
    "\n"
    "Change a registry (PATCH /v1/registry/{id}; WRITER). Only the given fields change.\n"
    "\n"
    "Flags:\n"
    "  --url URL\n"
    "  --username USER\n" PASSWORD_USAGE "  --description TEXT\n"
    "\n"
    "Example:\n"
    "  cloister registry update 3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f --description 'CI pushes'\n",
};

static const struct option update_options[] = {
    { "url", required_argument, NULL, OPT_URL },
    { "username", required_argument, NULL, OPT_USERNAME },
    { "password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN },
    { "description", required_argument, NULL, OPT_DESCRIPTION },
    CLI_OPTION_HELP,
    CLI_OPTION_END,
};

static int
registry_update(struct cli *cli, int argc, char **argv)
{
    struct registry_opts o = {};
    _cleanup_(secret_freep) char *password = NULL;
    _cleanup_(jval_secret_unrefp) json_t *body = NULL;
    _cleanup_json_ json_t *registry = NULL;
    int r = cli_parse_flags(cli, &update_cmd, argc, argv, NULL, update_options, registry_on_flag,
                            &o, &argc, &argv);

    if (r != 0)
        return r > 0 ? 0 : r;
    r = cli_expect_args(&update_cmd, argc, argv, 1, 1, "REGISTRY_ID");
    if (r >= 0 && !o.url && !o.username && !o.description && !o.password_stdin)
        r = cli_usage_error(&update_cmd, "nothing to change: give at least one flag");
    if (r >= 0 && o.password_stdin)
        r = registry_password(&o, &password);
    if (r < 0)
        return r;
    if (registry_body(&o, o.url, password, &body) < 0)
        return cli_oom();
    r = cli_call_id(cli, "PATCH", "/v1/registry", argv[0], NULL, body, 0, &registry);
    if (r < 0)
        return r;
    return output_object(cli, registry, "registry_id");
}

static const struct cli_cmd delete_cmd = {
    "registry delete",
    "Usage: cloister registry delete REGISTRY_ID\n"
    "\n"
    "Delete a registry and its stored password (DELETE /v1/registry/{id}; WRITER).\n"
    "\n"
    "Example:\n"
    "  cloister registry delete 3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f\n",
};

static int
registry_delete(struct cli *cli, int argc, char **argv)
{
    struct registry_opts o = {};
    int r = cli_parse_flags(cli, &delete_cmd, argc, argv, NULL, no_options, registry_on_flag, &o,
                            &argc, &argv);

    if (r != 0)
        return r > 0 ? 0 : r;
    r = cli_expect_args(&delete_cmd, argc, argv, 1, 1, "REGISTRY_ID");
    if (r >= 0)
        r = cli_call_id(cli, "DELETE", "/v1/registry", argv[0], NULL, NULL, 0, NULL);
    if (r < 0)
        return r;
    if (!cli->quiet && !cli->json)
        output_line("Deleted registry %s.", argv[0]);
    return 0;
}

static const struct cli_verb registry_verbs[] = {
    { "add", "store a registry's credentials", registry_add },
    { "list", "list registries", registry_list },
    { "show", "show a registry", registry_show },
    { "update", "change a registry", registry_update },
    { "delete", "delete a registry", registry_delete },
};

int
cmd_registry(struct cli *cli, int argc, char **argv)
{
    return cli_dispatch(cli, "registry", registry_verbs, ELEMENTSOF(registry_verbs), argc, argv);
}
