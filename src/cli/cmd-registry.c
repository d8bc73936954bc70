/* cloister registry: credentials of container registries. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "jval.h"
#include "output.h"
#include "password.h"
#include "resource.h"

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
};

static int
registry_on_flag(void *userdata, int opt, const char *arg)
{
    struct registry_opts *o = userdata;

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

static int
format_has_password(const json_t *registry, struct strbuf *out)
{
    return strbuf_adds(out, json_is_true(json_object_get(registry, "has_password")) ? "yes" : "no");
}

static const struct column registry_columns[] = {
    { "REGISTRY_ID", "registry_id", COLUMN_TEXT, 0, NULL },
    { "URL", "url", COLUMN_TEXT, 48, NULL },
    { "USERNAME", "username", COLUMN_TEXT, 24, NULL },
    { "PASSWORD", NULL, COLUMN_TEXT, 0, format_has_password },
    { "DESCRIPTION", "description", COLUMN_TEXT, 40, NULL },
    { "CREATED", "created_at", COLUMN_TIME, 0, NULL },
};

static const struct resource registry_resource = {
    "/v1/registry", "registry_id",    "registry",
    "registries",   registry_columns, ELEMENTSOF(registry_columns),
};

/* The body of add and update: the given fields, and the password from --password-stdin, else
 * (with env) from $CLOISTER_REGISTRY_PASSWORD, else none (never a prompt, and never
 * CLOISTER_PASSWORD, the user's own). */
static int
registry_body(const struct registry_opts *o, const char *url, bool env, json_t **ret)
{
    const struct password_source src = { .from_stdin = o->password_stdin,
                                         .env_name = env ? REGISTRY_PASSWORD_ENV : NULL,
                                         .optional = true };
    const struct jval_field fields[] = {
        { "url", url },
        { "description", o->description },
        { "username", o->username },
        {},
    };
    _cleanup_(secret_freep) char *password = NULL;
    _cleanup_(jval_secret_unrefp) json_t *body = NULL;
    int r = password_read(&src, &password);

    if (r < 0)
        return r;
    body = json_object();
    r = body ? jval_set_fields(body, fields) : -ENOMEM;
    if (r >= 0 && password)
        r = jval_set_str(body, "password", password);
    if (r < 0)
        return cli_oom();
    *ret = TAKE_PTR(body);
    return 0;
}

#define PASSWORD_USAGE                                                                             \
    "  --password-stdin   read the registry password from the first line of stdin (else\n"         \
    "                     from " REGISTRY_PASSWORD_ENV " if set); it is stored encrypted and\n"    \
    "                     never shown\n"

static const struct option add_options[] = {
    { "username", required_argument, NULL, OPT_USERNAME },
    { "password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN },
    { "description", required_argument, NULL, OPT_DESCRIPTION },
    CLI_OPTION_END,
};

static const struct cli_cmd add_cmd = {
    .name = "registry add",
    .usage =
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
    .options = add_options,
    .min_args = 1,
    .max_args = 1,
    .args = "URL",
};

static int
registry_add(struct cli *cli, int argc, char **argv)
{
    struct registry_opts o = {};
    _cleanup_(jval_secret_unrefp) json_t *body = NULL;
    _cleanup_json_ json_t *registry = NULL;
    int r = cli_parse(cli, &add_cmd, argc, argv, registry_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    r = registry_body(&o, argv[0], true, &body);
    if (r >= 0)
        r = cli_call(cli, "POST", registry_resource.path, body, 0, &registry);
    if (r < 0)
        return r;
    if (cli->json || cli->quiet)
        return output_object(cli, registry, registry_resource.id_key);
    output_line("Added registry %s (%s)%s.", jval_str(registry, "url") ?: argv[0],
                jval_str(registry, "registry_id") ?: "?",
                json_is_true(json_object_get(registry, "has_password")) ? " with a password" : "");
    return 0;
}

static const struct cli_cmd list_cmd = {
    .name = "registry list",
    .usage = "Usage: cloister registry list [--limit N] [--offset N] [--sort KEY:DIR] [--search "
             "TEXT]\n"
             "\n"
             "List the registries of the selected account (GET /v1/registry). Sort keys: url,\n"
             "created_at.\n"
             "\n"
             "Flags:\n" LIST_USAGE "\n"
             "Example:\n"
             "  cloister registry list\n",
    .list = true,
};

static int
registry_list(struct cli *cli, int argc, char **argv)
{
    return resource_verb_list(cli, &list_cmd, &registry_resource, argc, argv);
}

static const struct cli_cmd show_cmd = {
    .name = "registry show",
    .usage = "Usage: cloister registry show REGISTRY_ID\n"
             "\n"
             "Show a registry (GET /v1/registry/{id}); the password is never returned.\n"
             "\n"
             "Example:\n"
             "  cloister registry show 3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f\n",
    .min_args = 1,
    .max_args = 1,
    .args = "REGISTRY_ID",
};

static int
registry_show(struct cli *cli, int argc, char **argv)
{
    return resource_verb_show(cli, &show_cmd, &registry_resource, argc, argv);
}

static const struct option update_options[] = {
    { "url", required_argument, NULL, OPT_URL },
    { "username", required_argument, NULL, OPT_USERNAME },
    { "password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN },
    { "description", required_argument, NULL, OPT_DESCRIPTION },
    CLI_OPTION_END,
};

static const struct cli_cmd update_cmd = {
    .name = "registry update",
    .usage = "Usage: cloister registry update REGISTRY_ID [--url URL] [--username USER]\n"
             "                                [--password-stdin] [--description TEXT]\n"
             "\n"
             "Change a registry (PATCH /v1/registry/{id}; WRITER). Only the given fields change.\n"
             "\n"
             "Flags:\n"
             "  --url URL\n"
             "  --username USER\n" PASSWORD_USAGE "  --description TEXT\n"
             "\n"
             "Example:\n"
             "  cloister registry update 3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f --description 'CI "
             "pushes'\n",
    .options = update_options,
    .min_args = 1,
    .max_args = 1,
    .args = "REGISTRY_ID",
    .changes = true,
};

static int
registry_update(struct cli *cli, int argc, char **argv)
{
    struct registry_opts o = {};
    _cleanup_(jval_secret_unrefp) json_t *body = NULL;
    int r = cli_parse(cli, &update_cmd, argc, argv, registry_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    r = registry_body(&o, o.url, false, &body);
    if (r < 0)
        return r;
    return resource_update(cli, &registry_resource, argv[0], body, NULL);
}

static const struct cli_cmd delete_cmd = {
    .name = "registry delete",
    .usage = "Usage: cloister registry delete REGISTRY_ID\n"
             "\n"
             "Delete a registry and its stored password (DELETE /v1/registry/{id}; WRITER).\n"
             "\n"
             "Example:\n"
             "  cloister registry delete 3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f\n",
    .min_args = 1,
    .max_args = 1,
    .args = "REGISTRY_ID",
};

static int
registry_delete(struct cli *cli, int argc, char **argv)
{
    return resource_verb_delete(cli, &delete_cmd, &registry_resource, argc, argv);
}

static const struct cli_verb registry_verbs[] = {
    { "add", "store a registry's credentials", registry_add },
    { "list", "list registries", registry_list },
    { "show", "show a registry", registry_show },
    { "update", "change a registry", registry_update },
    { "delete", "delete a registry", registry_delete },
};

const struct cli_group cmd_registry = { "registry", registry_verbs, ELEMENTSOF(registry_verbs) };
