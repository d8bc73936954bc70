/* cloister version: the client's version and the server's (GET /v1/sys/version). */
#include <errno.h>
#include <stdio.h>

#include "client.h"
#include "commands.h"
#include "jval.h"
#include "output.h"

static const struct cli_cmd version_cmd = {
    .name = "version",
    .usage = "Usage: cloister version\n"
             "\n"
             "Print the client's version, then the server's: version, API version, platforms, and\n"
             "whether simulated evidence is accepted (GET /v1/sys/version; no login needed).\n"
             "With --json: {\"client\": {\"version\"}, \"server\": <the server's answer>}; with "
             "-q:\n"
             "the client's version only, without asking the server.\n"
             "\n"
             "Example:\n"
             "  cloister --url https://manager:8443 --ca server.crt version\n",
};

static int
version_print_json(const json_t *server)
{
    _cleanup_json_ json_t *all =
        json_pack("{s:{s:s}, s:O}", "client", "version", CLOISTER_VERSION, "server", server);

    if (!all)
        return cli_oom();
    return output_json(all);
}

static void
version_print(const struct cli *cli, const json_t *server)
{
    _cleanup_free_ char *platforms = NULL;

    if (jval_to_text(json_object_get(server, "platforms"), &platforms) < 0)
        platforms = NULL;
    output_line("server:  %s %s (API %s, platforms: %s)", cli->url,
                jval_str(server, "version") ?: "?", jval_str(server, "api_version") ?: "?",
                platforms ? platforms : "?");
    if (json_is_true(json_object_get(server, "insecure_simulation")))
        output_line("note:    the server accepts simulated evidence: INSECURE, for demos and "
                    "development only");
}

int
cmd_version(struct cli *cli, int argc, char **argv)
{
    _cleanup_json_ json_t *server = NULL;
    struct client *c;
    int r = cli_parse(cli, &version_cmd, argc, argv, NULL, NULL, &argc, &argv);

    if (r != 0)
        return r;
    if (cli->quiet) {
        /* -q: the client version alone, without asking the server. */
        puts(CLOISTER_VERSION);
        return 0;
    }
    if (!cli->json) {
        output_line("client:  cloister %s", CLOISTER_VERSION);
        fflush(stdout);
    }
    r = cli_client(cli, false, &c);
    if (r >= 0)
        r = client_call(c, "GET", "/v1/sys/version", NULL, CLIENT_NO_AUTH, &server);
    if (r < 0)
        return r;
    if (!json_is_object(server)) {
        cli_error("unexpected response from %s: not a JSON object", cli->url);
        return -EBADMSG;
    }
    if (cli->json)
        return version_print_json(server);
    version_print(cli, server);
    return 0;
}
