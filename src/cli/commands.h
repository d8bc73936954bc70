/* The verbs of cloister, one file per group (cmd-<group>.c), registered in main.c's table.
 * Each gets argv[0] = its own name and returns >= 0 or a negative errno (see cli.h). */
#pragma once

#include <jansson.h>

#include "cli.h"

int cmd_signup(struct cli *cli, int argc, char **argv);
int cmd_login(struct cli *cli, int argc, char **argv);
int cmd_logout(struct cli *cli, int argc, char **argv);
int cmd_whoami(struct cli *cli, int argc, char **argv);
int cmd_version(struct cli *cli, int argc, char **argv);

extern const struct cli_group cmd_account;
extern const struct cli_group cmd_user;
extern const struct cli_group cmd_app;
extern const struct cli_group cmd_build;
extern const struct cli_group cmd_image;
extern const struct cli_group cmd_task;
extern const struct cli_group cmd_registry;
extern const struct cli_group cmd_audit;
extern const struct cli_group cmd_attest;
extern const struct cli_group cmd_cert;
extern const struct cli_group cmd_instance;
extern const struct cli_group cmd_zone;
extern const struct cli_group cmd_node;
extern const struct cli_group cmd_collateral;

/* Finds an app of the selected account by id, or by exact name (GET /v1/apps?name=). *ret_app
 * is the app object (owned). -ENOENT, reported, when there is none. */
int app_resolve(struct cli *cli, const char *ref, json_t **ret_app);
