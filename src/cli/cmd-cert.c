/* cloister cert: the certificates the manager issued (node and app): list, show, revoke. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "jval.h"
#include "output.h"
#include "resource.h"

enum {
    OPT_APP = 0x100,
    OPT_NODE,
    OPT_STATUS,
    OPT_KIND,
    OPT_REASON,
};

static const char *const statuses[] = { "ISSUED", "REVOKED", "EXPIRED" };
static const char *const kinds[] = { "NODE", "APP" };

struct cert_opts {
    const char *app;
    const char *node;
    const char *status;
    const char *kind;
    const char *reason;
};

static int
cert_on_flag(void *userdata, int opt, const char *arg)
{
    struct cert_opts *o = userdata;

    switch (opt) {
    case OPT_APP:
        o->app = arg;
        return 0;
    case OPT_NODE:
        o->node = arg;
        return 0;
    case OPT_STATUS:
        return args_choice("--status", arg, statuses, ELEMENTSOF(statuses), &o->status);
    case OPT_KIND:
        return args_choice("--kind", arg, kinds, ELEMENTSOF(kinds), &o->kind);
    case OPT_REASON:
        o->reason = arg;
        return 0;
    default:
        return 0;
    }
}

static const struct column cert_columns[] = {
    { "CERTIFICATE_ID", "certificate_id", COLUMN_TEXT, 0, NULL },
    { "KIND", "kind", COLUMN_TEXT, 0, NULL },
    { "STATUS", "status", COLUMN_TEXT, 0, NULL },
    { "SUBJECT", "subject", COLUMN_TEXT, 32, NULL },
    { "NODE", "node_id", COLUMN_SHORT, 0, NULL },
    { "SERIAL", "serial", COLUMN_SHORT, 0, NULL },
    { "VALID_UNTIL", "valid_until", COLUMN_TIME, 0, NULL },
};

static const struct resource cert_resource = {
    "/v1/certificates", "certificate_id", "certificate",
    "certificates",     cert_columns,     ELEMENTSOF(cert_columns),
};

static const struct option list_options[] = {
    { "app", required_argument, NULL, OPT_APP },
    { "node", required_argument, NULL, OPT_NODE },
    { "status", required_argument, NULL, OPT_STATUS },
    { "kind", required_argument, NULL, OPT_KIND },
    CLI_OPTION_END,
};

static const struct cli_cmd list_cmd = {
    .name = "cert list",
    .usage = "Usage: cloister cert list [--app APP_ID|NAME] [--node NODE_ID] [--status STATUS]\n"
             "                          [--kind NODE|APP] [--limit N] [--offset N]\n"
             "                          [--sort KEY:DIR] [--search TEXT]\n"
             "\n"
             "List the certificates of the selected account (GET /v1/certificates).\n"
             "\n"
             "Flags:\n"
             "  --app APP_ID|NAME  only the certificates of this application\n"
             "  --node NODE_ID     only those of this node (its own and its apps')\n"
             "  --status STATUS    ISSUED, REVOKED or EXPIRED\n"
             "  --kind KIND        NODE or APP\n" LIST_USAGE "\n"
             "Example:\n"
             "  cloister cert list --app flask-app --status ISSUED\n",
    .options = list_options,
    .list = true,
};

static int
cert_list(struct cli *cli, int argc, char **argv)
{
    struct cert_opts o = {};
    _cleanup_json_ json_t *app = NULL;
    int r = cli_parse(cli, &list_cmd, argc, argv, cert_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    if (o.app)
        r = app_resolve(cli, o.app, &app);
    if (r < 0)
        return r;
    return resource_list(cli, &cert_resource,
                         (const struct jval_field[]){
                             { "app_id", app ? jval_str(app, "app_id") : NULL },
                             { "node_id", o.node },
                             { "status", o.status },
                             { "kind", o.kind },
                             {},
                         });
}

static const struct cli_cmd show_cmd = {
    .name = "cert show",
    .usage = "Usage: cloister cert show CERTIFICATE_ID\n"
             "\n"
             "Show a certificate: status, names, validity, the attested claims it was issued on,\n"
             "its PEM (GET /v1/certificates/{id}).\n"
             "\n"
             "Example:\n"
             "  cloister cert show 3f2e1d0c-9b8a-4796-8584-736251403f2e\n",
    .min_args = 1,
    .max_args = 1,
    .args = "CERTIFICATE_ID",
};

static int
cert_show(struct cli *cli, int argc, char **argv)
{
    return resource_verb_show(cli, &show_cmd, &cert_resource, argc, argv);
}

static const struct option revoke_options[] = {
    { "reason", required_argument, NULL, OPT_REASON },
    CLI_OPTION_END,
};

static const struct cli_cmd revoke_cmd = {
    .name = "cert revoke",
    .usage = "Usage: cloister cert revoke CERTIFICATE_ID [--reason TEXT]\n"
             "\n"
             "Revoke a certificate (POST /v1/certificates/{id}/revoke; WRITER). The zone's next "
             "CRL\n"
             "(GET /v1/zones/{id}/crl) lists it.\n"
             "\n"
             "Example:\n"
             "  cloister cert revoke 3f2e1d0c-9b8a-4796-8584-736251403f2e --reason 'key leaked'\n",
    .options = revoke_options,
    .min_args = 1,
    .max_args = 1,
    .args = "CERTIFICATE_ID",
};

static int
cert_revoke(struct cli *cli, int argc, char **argv)
{
    struct cert_opts o = {};
    _cleanup_json_ json_t *body = NULL, *cert = NULL;
    int r = cli_parse(cli, &revoke_cmd, argc, argv, cert_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    body = json_object();
    if (!body ||
        jval_set_fields(body, (const struct jval_field[]){ { "reason", o.reason }, {} }) < 0)
        return cli_oom();
    r = cli_call_id(cli, "POST", cert_resource.path, argv[0], "/revoke", body, 0, &cert);
    if (r < 0)
        return r;
    if (cli->json || cli->quiet)
        return output_object(cli, cert, cert_resource.id_key);
    output_line("Revoked certificate %s (%s %s, serial %s).", argv[0],
                jval_str(cert, "kind") ?: "?", jval_str(cert, "subject") ?: "?",
                jval_str(cert, "serial") ?: "?");
    return 0;
}

static const struct cli_verb cert_verbs[] = {
    { "list", "list certificates", cert_list },
    { "show", "show a certificate", cert_show },
    { "revoke", "revoke a certificate", cert_revoke },
};

const struct cli_group cmd_cert = { "cert", cert_verbs, ELEMENTSOF(cert_verbs) };
