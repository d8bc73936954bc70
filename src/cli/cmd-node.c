/* cloister node: join tokens and the enrolled nodes of the selected account (docs/nodes.md). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "client.h"
#include "commands.h"
#include "jval.h"
#include "output.h"
#include "resource.h"

enum {
    OPT_ZONE = 0x100,
    OPT_TTL,
    OPT_USES,
    OPT_STATUS,
};

#define TOKEN_TTL_MAX (30ULL * 86400)
#define TOKEN_USES_MAX 1000ULL

static const char *const node_statuses[] = { "RUNNING", "STOPPED", "DEACTIVATED" };

struct node_opts {
    const char *zone;
    const char *ttl;
    const char *uses;
    const char *status;
};

static int
node_on_flag(void *userdata, int opt, const char *arg)
{
    struct node_opts *o = userdata;
    uint64_t v;

    switch (opt) {
    case OPT_ZONE:
        o->zone = arg;
        return 0;
    case OPT_TTL:
        o->ttl = arg;
        return args_uint("--ttl", arg, 60, TOKEN_TTL_MAX, &v);
    case OPT_USES:
        o->uses = arg;
        return args_uint("--uses", arg, 1, TOKEN_USES_MAX, &v);
    case OPT_STATUS:
        return args_choice("--status", arg, node_statuses, ELEMENTSOF(node_statuses), &o->status);
    default:
        return 0;
    }
}

static const struct column node_columns[] = {
    { "NODE_ID", "node_id", COLUMN_TEXT, 0, NULL },
    { "NAME", "name", COLUMN_TEXT, 24, NULL },
    { "IPADDRESS", "ipaddress", COLUMN_TEXT, 0, NULL },
    { "STATUS", "status.status", COLUMN_TEXT, 0, NULL },
    { "ATTESTATION", "attestation_type", COLUMN_TEXT, 0, NULL },
    { "AGENT", "agent_version", COLUMN_TEXT, 12, NULL },
    { "LAST_SEEN", "status.last_seen_at", COLUMN_TIME, 0, NULL },
};

static const struct resource node_resource = {
    "/v1/nodes", "node_id", "node", "nodes", node_columns, ELEMENTSOF(node_columns),
};

/* The account's only zone when --zone is not given; with several, the user must choose. */
static int
node_default_zone(struct cli *cli, char **ret_zone_id)
{
    _cleanup_json_ json_t *resp = NULL;
    const json_t *items;
    const char *id;
    int r = cli_get(cli, "/v1/zones", (const struct jval_field[]){ { "limit", "2" }, {} }, &resp);

    if (r < 0)
        return r;
    items = json_object_get(resp, "items");
    if (json_array_size(items) != 1) {
        cli_error("the account has %zu zones: pass --zone ZONE_ID (see 'cloister zone list')",
                  json_array_size(items));
        return -ENOENT;
    }
    id = jval_str(json_array_get(items, 0), "zone_id");
    if (!id)
        return cli_oom();
    *ret_zone_id = strdup(id);
    return *ret_zone_id ? 0 : cli_oom();
}

static const struct option token_options[] = {
    { "zone", required_argument, NULL, OPT_ZONE },
    { "ttl", required_argument, NULL, OPT_TTL },
    { "uses", required_argument, NULL, OPT_USES },
    CLI_OPTION_END,
};

static const struct cli_cmd token_cmd = {
    .name = "node token",
    .usage = "Usage: cloister node token [--zone ZONE_ID] [--ttl SECONDS] [--uses N]\n"
             "\n"
             "Mint a join token for enrolling nodes into a zone (GET /v1/zones/{id}/token;\n"
             "WRITER). Give it to cloister-agent --join-token. Only its hash is stored: it is\n"
             "shown once. With -q only the token is printed.\n"
             "\n"
             "Flags:\n"
             "  --zone ZONE_ID     the zone (default: the account's only zone)\n"
             "  --ttl SECONDS      validity, 60 to 2592000 (30 days; default 600)\n"
             "  --uses N           enrollments it allows, 1 to 1000 (default 1)\n"
             "\n"
             "Example:\n"
             "  cloister -q node token --ttl 3600 --uses 5\n",
    .options = token_options,
};

static int
node_token(struct cli *cli, int argc, char **argv)
{
    _cleanup_(strbuf_release) struct strbuf path = STRBUF_INIT;
    _cleanup_free_ char *zone_id = NULL;
    _cleanup_json_ json_t *resp = NULL;
    struct node_opts o = {};
    int r = cli_parse(cli, &token_cmd, argc, argv, node_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    if (!o.zone) {
        r = node_default_zone(cli, &zone_id);
        if (r < 0)
            return r;
    }
    if (strbuf_adds(&path, "/v1/zones") < 0 || client_path_id(&path, o.zone ?: zone_id) < 0 ||
        strbuf_adds(&path, "/token") < 0 ||
        client_path_queries(
            &path, (const struct jval_field[]){ { "ttl", o.ttl }, { "uses", o.uses }, {} }) < 0)
        return cli_oom();
    r = cli_call(cli, "GET", path.buf, NULL, 0, &resp);
    if (r < 0)
        return r;
    return output_object(cli, resp, "token");
}

static const struct option list_options[] = {
    { "zone", required_argument, NULL, OPT_ZONE },
    { "status", required_argument, NULL, OPT_STATUS },
    CLI_OPTION_END,
};

static const struct cli_cmd list_cmd = {
    .name = "node list",
    .usage = "Usage: cloister node list [--zone ZONE_ID] [--status STATUS] [--limit N]\n"
             "                          [--offset N] [--sort KEY:DIR] [--search TEXT]\n"
             "\n"
             "List the enrolled nodes of the selected account (GET /v1/nodes), newest first.\n"
             "A node is RUNNING while it checks in, STOPPED after three missed check-ins.\n"
             "\n"
             "Flags:\n"
             "  --zone ZONE_ID     only the nodes of this zone\n"
             "  --status STATUS    RUNNING, STOPPED or DEACTIVATED\n" LIST_USAGE "\n"
             "Example:\n"
             "  cloister node list --status STOPPED\n",
    .options = list_options,
    .list = true,
};

static int
node_list(struct cli *cli, int argc, char **argv)
{
    struct node_opts o = {};
    int r = cli_parse(cli, &list_cmd, argc, argv, node_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    return resource_list(cli, &node_resource,
                         (const struct jval_field[]){
                             { "zone_id", o.zone },
                             { "status", o.status },
                             {},
                         });
}

static const struct cli_cmd show_cmd = {
    .name = "node show",
    .usage = "Usage: cloister node show NODE_ID\n"
             "\n"
             "Show a node with its certificate and app instances (GET /v1/nodes/{id}).\n"
             "\n"
             "Example:\n"
             "  cloister node show 9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d\n",
    .min_args = 1,
    .max_args = 1,
    .args = "NODE_ID",
};

static int
node_show(struct cli *cli, int argc, char **argv)
{
    return resource_verb_show(cli, &show_cmd, &node_resource, argc, argv);
}

static const struct cli_cmd deactivate_cmd = {
    .name = "node deactivate",
    .usage =
        "Usage: cloister node deactivate NODE_ID\n"
        "\n"
        "Deactivate a node for good (POST /v1/nodes/{id}/deactivate; WRITER): its certificate\n"
        "and the certificates of the apps it ran are revoked, the zone's CRL lists them, and\n"
        "the manager refuses the node's further calls.\n"
        "\n"
        "Example:\n"
        "  cloister node deactivate 9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d\n",
    .min_args = 1,
    .max_args = 1,
    .args = "NODE_ID",
};

static int
node_deactivate(struct cli *cli, int argc, char **argv)
{
    _cleanup_json_ json_t *node = NULL;
    int r = cli_parse(cli, &deactivate_cmd, argc, argv, NULL, NULL, &argc, &argv);

    if (r != 0)
        return r;
    r = cli_call_id(cli, "POST", node_resource.path, argv[0], "/deactivate", NULL, 0, &node);
    if (r < 0)
        return r;
    if (cli->json || cli->quiet)
        return output_object(cli, node, node_resource.id_key);
    output_line("Deactivated node %s (%s); its certificates are revoked.", argv[0],
                jval_str(node, "name") ?: "?");
    return 0;
}

static const struct cli_verb node_verbs[] = {
    { "token", "mint a join token for enrolling nodes", node_token },
    { "list", "list enrolled nodes", node_list },
    { "show", "show a node", node_show },
    { "deactivate", "deactivate a node and revoke its certificates", node_deactivate },
};

const struct cli_group cmd_node = { "node", node_verbs, ELEMENTSOF(node_verbs) };
