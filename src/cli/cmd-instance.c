/* cloister instance: the app instances of the selected account (what runs where, attested). */
#include <stdio.h>

#include "args.h"
#include "commands.h"
#include "jval.h"
#include "output.h"
#include "resource.h"

enum {
    OPT_APP = 0x100,
    OPT_BUILD,
    OPT_NODE,
    OPT_STATUS,
};

static const char *const statuses[] = { "RUNNING", "STOPPED" };

struct instance_opts {
    const char *app;
    const char *build;
    const char *node;
    const char *status;
};

static int
instance_on_flag(void *userdata, int opt, const char *arg)
{
    struct instance_opts *o = userdata;

    switch (opt) {
    case OPT_APP:
        o->app = arg;
        return 0;
    case OPT_BUILD:
        o->build = arg;
        return 0;
    case OPT_NODE:
        o->node = arg;
        return 0;
    case OPT_STATUS:
        return args_choice("--status", arg, statuses, ELEMENTSOF(statuses), &o->status);
    default:
        return 0;
    }
}

static const struct column instance_columns[] = {
    { "INSTANCE_ID", "instance_id", COLUMN_SHORT, 0, NULL },
    { "APP", "app_name", COLUMN_TEXT, 24, NULL },
    { "IMAGE", "build.docker_image_name", COLUMN_TEXT, 32, NULL },
    { "NODE", "node_name", COLUMN_TEXT, 24, NULL },
    { "STATUS", "status.status", COLUMN_TEXT, 0, NULL },
    { "ATTESTED", "status.attested_at", COLUMN_TIME, 0, NULL },
    { "CERTIFICATE", "certificate.status", COLUMN_TEXT, 0, NULL },
    { "VALID_UNTIL", "certificate.valid_until", COLUMN_TIME, 0, NULL },
};

static const struct resource instance_resource = {
    "/v1/instances", "instance_id",    "instance",
    "instances",     instance_columns, ELEMENTSOF(instance_columns),
};

static const struct option list_options[] = {
    { "app", required_argument, NULL, OPT_APP },
    { "build", required_argument, NULL, OPT_BUILD },
    { "node", required_argument, NULL, OPT_NODE },
    { "status", required_argument, NULL, OPT_STATUS },
    CLI_OPTION_END,
};

static const struct cli_cmd list_cmd = {
    .name = "instance list",
    .usage =
        "Usage: cloister instance list [--app APP_ID|NAME] [--build BUILD_ID] [--node NODE_ID]\n"
        "                              [--status RUNNING|STOPPED] [--limit N] [--offset N]\n"
        "                              [--sort KEY:DIR] [--search TEXT]\n"
        "\n"
        "List the app instances of the selected account (GET /v1/instances), newest\n"
        "attestation first: the app, its image, its node, whether it runs, its certificate.\n"
        "An instance is STOPPED once its node stops reporting it or is deactivated.\n"
        "\n"
        "Flags:\n"
        "  --app APP_ID|NAME  only the instances of this application\n"
        "  --build BUILD_ID   only those of this build\n"
        "  --node NODE_ID     only those on this node\n"
        "  --status STATUS    RUNNING or STOPPED\n" LIST_USAGE "\n"
        "Example:\n"
        "  cloister instance list --status RUNNING\n",
    .options = list_options,
    .list = true,
};

static int
instance_list(struct cli *cli, int argc, char **argv)
{
    struct instance_opts o = {};
    _cleanup_json_ json_t *app = NULL;
    int r = cli_parse(cli, &list_cmd, argc, argv, instance_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    if (o.app)
        r = app_resolve(cli, o.app, &app);
    if (r < 0)
        return r;
    return resource_list(cli, &instance_resource,
                         (const struct jval_field[]){
                             { "app_id", app ? jval_str(app, "app_id") : NULL },
                             { "build_id", o.build },
                             { "node_id", o.node },
                             { "status", o.status },
                             {},
                         });
}

static const struct cli_verb instance_verbs[] = {
    { "list", "list app instances", instance_list },
};

const struct cli_group cmd_instance = { "instance", instance_verbs, ELEMENTSOF(instance_verbs) };
