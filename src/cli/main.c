/* cloister: command-line client of the Cloister manager. Global flags, then a verb from the
 * table below; each verb group lives in its own cmd-<group>.c. */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "jval.h"

static const struct cli_verb cli_verbs[] = {
    { "signup", "create a user on the manager", cmd_signup },
    { "login", "log in and cache the session token", cmd_login },
    { "logout", "end the session and forget the token", cmd_logout },
    { "whoami", "show the logged-in user and their accounts", cmd_whoami },
    { "account", "create, list, select, change and delete accounts", NULL, &cmd_account },
    { "user", "members of the selected account and their roles", NULL, &cmd_user },
    { "app", "applications", NULL, &cmd_app },
    { "build", "builds (measured images) of applications", NULL, &cmd_build },
    { "image", "container images: convert, inspect", NULL, &cmd_image },
    { "task", "approval tasks: list, approve, deny", NULL, &cmd_task },
    { "registry", "container registry credentials", NULL, &cmd_registry },
    { "audit", "the audit log: list, verify, export", NULL, &cmd_audit },
    { "attest", "evidence tools: verify an evidence file offline", NULL, &cmd_attest },
    { "cert", "certificates issued to nodes and apps: list, show, revoke", NULL, &cmd_cert },
    { "instance", "app instances: where each app runs, and its certificate", NULL, &cmd_instance },
    { "zone", "zones: list, show, CA chain, CRL", NULL, &cmd_zone },
    { "node", "nodes: join tokens, list, show, deactivate", NULL, &cmd_node },
    { "collateral", "hardware verification collateral: import, status", NULL, &cmd_collateral },
    { "version", "client and server versions", cmd_version },
};

static void
cli_usage(FILE *out)
{
    fputs("Usage: cloister [GLOBAL FLAGS] VERB [FLAGS] [ARGS]\n"
          "\n"
          "Command-line client of the Cloister confidential-computing manager.\n"
          "\n"
          "Global flags (before or after the verb):\n"
          "  --url URL      manager URL (env CLOISTER_URL; else the cached session's;\n"
          "                 else " CLI_DEFAULT_URL ")\n"
          "  --ca FILE      PEM certificate or CA to trust for the server (env CLOISTER_CA;\n"
          "                 else the one given at login; else the system store)\n"
          "  --token TOKEN  bearer token (env CLOISTER_TOKEN; else the cached session's)\n"
          "  --json         print the server's JSON responses instead of tables\n"
          "  -q, --quiet    print only ids (of what was created, shown or listed)\n"
          "  -v, --verbose  log each request on stderr\n"
          "  --version      print the client version (before the verb)\n"
          "  -h, --help     show this help; after a verb, the verb's help\n"
          "\n"
          "Verbs:\n",
          out);
    for (size_t i = 0; i < ELEMENTSOF(cli_verbs); i++)
        fprintf(out, "  %-10s %s\n", cli_verbs[i].name, cli_verbs[i].summary);
    fputs("\n"
          "Run 'cloister VERB --help' for the flags of a verb.\n"
          "Exit status: 0 on success, 1 on errors, 2 on usage errors.\n",
          out);
}

/* Every argument becomes JSON text or a URL; reject what cannot (jansson needs UTF-8). */
static int
cli_check_utf8(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!jval_utf8_valid(argv[i]))
            return cli_usage_error(NULL, "argument %d is not valid UTF-8", i);
    return 0;
}

static int
cli_run_verb(struct cli *cli, int argc, char **argv)
{
    const char *name = argv[0];

    if (strcmp(name, "help") == 0) {
        cli_usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < ELEMENTSOF(cli_verbs); i++) {
        const struct cli_verb *v = &cli_verbs[i];

        if (strcmp(v->name, name) == 0)
            return v->group ? cli_dispatch(cli, v->group, argc, argv) : v->run(cli, argc, argv);
    }
    cli_usage_error(NULL, "unknown verb '%s'", name);
    fputs("Try 'cloister --help'.\n", stderr);
    return -EINVAL;
}

static int
cli_main(int argc, char **argv)
{
    _cleanup_(cli_release) struct cli cli = {};
    int first = 0;
    int r = cli_check_utf8(argc, argv);

    if (r >= 0)
        r = cli_parse_globals(&cli, argc, argv, &first);
    if (r < 0)
        return r;
    if (cli.help) {
        cli_usage(stdout);
        return 0;
    }
    if (cli.version) {
        puts("cloister " CLOISTER_VERSION);
        return 0;
    }
    if (first >= argc) {
        cli_usage(stderr);
        return -EINVAL;
    }
    return cli_run_verb(&cli, argc - first, argv + first);
}

int
main(int argc, char **argv)
{
    int r;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("error: cannot initialise libcurl\n", stderr);
        return CLI_EXIT_FAILURE;
    }
    r = cli_main(argc, argv);
    curl_global_cleanup();
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "error: cannot write the output: %s\n", strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    return cli_exit_status(r);
}
