/* The verbs of cloister, one file per group (cmd-<group>.c), registered in main.c's table.
 * Each gets argv[0] = its own name and returns 0 or a negative errno (see cli.h). */
#pragma once

#include <jansson.h>

#include "cli.h"

int cmd_signup(struct cli *cli, int argc, char **argv);
int cmd_login(struct cli *cli, int argc, char **argv);
int cmd_logout(struct cli *cli, int argc, char **argv);
int cmd_whoami(struct cli *cli, int argc, char **argv);
int cmd_account(struct cli *cli, int argc, char **argv);
int cmd_user(struct cli *cli, int argc, char **argv);
int cmd_app(struct cli *cli, int argc, char **argv);
int cmd_build(struct cli *cli, int argc, char **argv);
int cmd_task(struct cli *cli, int argc, char **argv);
int cmd_registry(struct cli *cli, int argc, char **argv);
int cmd_audit(struct cli *cli, int argc, char **argv);
int cmd_version(struct cli *cli, int argc, char **argv);

/* Finds an app of the selected account by id, or by exact name (GET /v1/apps?name=). *ret_app
 * is the app object (owned). -ENOENT, reported, when there is none. */
int app_resolve(struct cli *cli, const char *ref, json_t **ret_app);
