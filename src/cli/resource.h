/* A collection of the REST API as the verbs of its group see it, and the shapes those verbs
 * share: list it with the common flags as a table, show one item as "key: value" lines (or
 * --json, or its id with -q), change one with PATCH, delete one. */
#pragma once

#include <sys/types.h>

#include <jansson.h>

#include "cli.h"
#include "jval.h"
#include "output.h"

struct resource {
    const char *path;             /* "/v1/registry" */
    const char *id_key;           /* "registry_id": what -q prints */
    const char *noun;             /* "registry", for "Deleted registry ID." */
    const char *plural;           /* "registries", for "No registries." */
    const struct column *columns; /* the table of list */
    size_t n_columns;
};

/* GET res->path with query (parameters with a NULL value left out; NULL for none) and the list
 * flags (cli->list), printed by output_list(). */
int resource_list(struct cli *cli, const struct resource *res, const struct jval_field *query);

/* GET res->path/id, printed by output_object(). *ret_obj, unless NULL, is the object (owned). */
int resource_show(struct cli *cli, const struct resource *res, const char *id, json_t **ret_obj);

/* PATCH res->path/id with body; the answer printed and handed on like resource_show()'s. */
int resource_update(struct cli *cli, const struct resource *res, const char *id, const json_t *body,
                    json_t **ret_obj);

/* DELETE res->path/id, then "Deleted <noun> <id>." for people. */
int resource_delete(struct cli *cli, const struct resource *res, const char *id);

/* The verbs that are nothing more than these: "list" without flags of its own, "show ID" and
 * "delete ID", with the command line cmd. */
int resource_verb_list(struct cli *cli, const struct cli_cmd *cmd, const struct resource *res,
                       int argc, char **argv);
int resource_verb_show(struct cli *cli, const struct cli_cmd *cmd, const struct resource *res,
                       int argc, char **argv);
int resource_verb_delete(struct cli *cli, const struct cli_cmd *cmd, const struct resource *res,
                         int argc, char **argv);

/* GET path with its body streamed to file: to stdout when file is NULL or "-", else into a
 * temporary file next to it (mode, e.g. 0600 for private data), fsynced and renamed over file
 * once complete, so a cut download never leaves a short file behind. */
int resource_download(struct cli *cli, const char *path, const char *file, mode_t mode);
