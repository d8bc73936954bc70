/* cloister zone: the selected account's zones, their CA chain and CRL (docs/nodes.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "commands.h"
#include "jval.h"
#include "output.h"
#include "resource.h"

enum {
    OPT_DER = 0x100,
};

struct zone_opts {
    const char *output;
    bool der;
};

static int
zone_on_flag(void *userdata, int opt, const char *arg)
{
    struct zone_opts *o = userdata;

    switch (opt) {
    case 'o':
        o->output = arg;
        return 0;
    case OPT_DER:
        o->der = true;
        return 0;
    default:
        return 0;
    }
}

static const struct column zone_columns[] = {
    { "ZONE_ID", "zone_id", COLUMN_TEXT, 0, NULL },
    { "NAME", "name", COLUMN_TEXT, 32, NULL },
    { "KEY", "key_type", COLUMN_TEXT, 0, NULL },
    { "TRUST_DOMAIN", "trust_domain", COLUMN_TEXT, 0, NULL },
    { "REFRESH_S", "node_refresh_interval", COLUMN_TEXT, 0, NULL },
    { "CREATED", "created_at", COLUMN_TIME, 0, NULL },
};

static const struct resource zone_resource = {
    "/v1/zones", "zone_id", "zone", "zones", zone_columns, ELEMENTSOF(zone_columns),
};

static const struct cli_cmd list_cmd = {
    .name = "zone list",
    .usage = "Usage: cloister zone list [--limit N] [--offset N] [--sort KEY:DIR] [--search TEXT]\n"
             "\n"
             "List the zones of the selected account (GET /v1/zones). Every account has a zone\n"
             "named 'default', made with the account; nodes enroll into a zone.\n"
             "\n"
             "Flags:\n" LIST_USAGE "\n"
             "Example:\n"
             "  cloister zone list\n",
    .list = true,
};

static int
zone_list(struct cli *cli, int argc, char **argv)
{
    return resource_verb_list(cli, &list_cmd, &zone_resource, argc, argv);
}

static const struct cli_cmd show_cmd = {
    .name = "zone show",
    .usage = "Usage: cloister zone show ZONE_ID\n"
             "\n"
             "Show a zone: its trust domain, key type, node settings and root certificate\n"
             "(GET /v1/zones/{id}).\n"
             "\n"
             "Example:\n"
             "  cloister zone show 9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d\n",
    .min_args = 1,
    .max_args = 1,
    .args = "ZONE_ID",
};

static int
zone_show(struct cli *cli, int argc, char **argv)
{
    return resource_verb_show(cli, &show_cmd, &zone_resource, argc, argv);
}

static int
zone_path(const char *id, const char *suffix, const char *query_key, const char *query_value,
          struct strbuf *path)
{
    if (strbuf_adds(path, zone_resource.path) < 0 || client_path_id(path, id) < 0 ||
        strbuf_adds(path, suffix) < 0 || client_path_query(path, query_key, query_value) < 0)
        return cli_oom();
    return 0;
}

static const struct option ca_options[] = {
    { "output", required_argument, NULL, 'o' },
    CLI_OPTION_END,
};

static const struct cli_cmd ca_cmd = {
    .name = "zone ca",
    .usage = "Usage: cloister zone ca ZONE_ID [-o FILE]\n"
             "\n"
             "Write the zone's CA chain, PEM, issuing CA then root (GET /v1/zones/{id}/ca): the\n"
             "certificates that node and app certificates of the zone verify against.\n"
             "\n"
             "Flags:\n"
             "  -o, --output FILE  write to FILE instead of stdout\n"
             "\n"
             "Example:\n"
             "  cloister zone ca 9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d -o zone-chain.pem\n",
    .options = ca_options,
    .shortopts = "o:",
    .min_args = 1,
    .max_args = 1,
    .args = "ZONE_ID",
};

static int
zone_ca(struct cli *cli, int argc, char **argv)
{
    _cleanup_(strbuf_release) struct strbuf path = STRBUF_INIT;
    struct zone_opts o = {};
    int r = cli_parse(cli, &ca_cmd, argc, argv, zone_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    r = zone_path(argv[0], "/ca", NULL, NULL, &path);
    return r < 0 ? r : resource_download(cli, path.buf, o.output, 0644) /* public */;
}

static const struct option crl_options[] = {
    { "output", required_argument, NULL, 'o' },
    { "der", no_argument, NULL, OPT_DER },
    CLI_OPTION_END,
};

static const struct cli_cmd crl_cmd = {
    .name = "zone crl",
    .usage =
        "Usage: cloister zone crl ZONE_ID [--der] [-o FILE]\n"
        "\n"
        "Write the zone's current certificate revocation list (GET /v1/zones/{id}/crl),\n"
        "signed just now by the zone's issuing CA. PEM unless --der is given.\n"
        "\n"
        "Flags:\n"
        "  --der              DER instead of PEM\n"
        "  -o, --output FILE  write to FILE instead of stdout\n"
        "\n"
        "Example:\n"
        "  cloister zone crl 9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d | openssl crl -noout -text\n",
    .options = crl_options,
    .shortopts = "o:",
    .min_args = 1,
    .max_args = 1,
    .args = "ZONE_ID",
};

static int
zone_crl(struct cli *cli, int argc, char **argv)
{
    _cleanup_(strbuf_release) struct strbuf path = STRBUF_INIT;
    struct zone_opts o = {};
    int r = cli_parse(cli, &crl_cmd, argc, argv, zone_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    r = zone_path(argv[0], "/crl", "format", o.der ? "der" : "pem", &path);
    return r < 0 ? r : resource_download(cli, path.buf, o.output, 0644) /* public */;
}

static const struct cli_verb zone_verbs[] = {
    { "list", "list the account's zones", zone_list },
    { "show", "show a zone", zone_show },
    { "ca", "write a zone's CA chain (PEM)", zone_ca },
    { "crl", "write a zone's revocation list", zone_crl },
};

const struct cli_group cmd_zone = { "zone", zone_verbs, ELEMENTSOF(zone_verbs) };
