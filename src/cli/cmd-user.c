/* cloister user: members of the selected account and their roles. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "jval.h"
#include "output.h"
#include "resource.h"

#define MEMBERS_PAGE "1000" /* the largest page */
#define MEMBERS_PAGE_SIZE 1000u
#define MEMBERS_PAGES_MAX 100u /* members searched for an e-mail: 100000 */

enum {
    OPT_ROLE = 0x100,
};

static const char *const roles[] = { "READER", "WRITER", "MANAGER" };

struct user_opts {
    const char *role;
};

static int
user_on_flag(void *userdata, int opt, const char *arg)
{
    struct user_opts *o = userdata;

    if (opt == OPT_ROLE)
        return args_choice("--role", arg, roles, ELEMENTSOF(roles), &o->role);
    return 0;
}

static int
format_name(const json_t *user, struct strbuf *out)
{
    return strbuf_addf(out, "%s %s", jval_str(user, "first_name") ?: "",
                       jval_str(user, "last_name") ?: "");
}

static const struct column member_columns[] = {
    { "USER_ID", "user_id", COLUMN_TEXT, 0, NULL },
    { "EMAIL", "user_email", COLUMN_TEXT, 0, NULL },
    { "NAME", NULL, COLUMN_TEXT, 32, format_name },
    { "ROLE", "role", COLUMN_TEXT, 0, NULL },
    { "STATUS", "status", COLUMN_TEXT, 0, NULL },
    { "LAST_LOGIN", "last_logged_in_at", COLUMN_TIME, 0, NULL },
};

static const struct resource member_resource = {
    "/v1/users", "user_id", "member", "members", member_columns, ELEMENTSOF(member_columns),
};

static const struct option role_options[] = {
    { "role", required_argument, NULL, OPT_ROLE },
    CLI_OPTION_END,
};

static const struct cli_cmd list_cmd = {
    .name = "user list",
    .usage = "Usage: cloister user list [--role READER|WRITER|MANAGER] [--limit N] [--offset N]\n"
             "                          [--sort KEY:DIR] [--search TEXT]\n"
             "\n"
             "List the members of the selected account (GET /v1/users).\n"
             "\n"
             "Flags:\n"
             "  --role ROLE        only members with this role\n" LIST_USAGE "\n"
             "Example:\n"
             "  cloister user list --role MANAGER\n",
    .options = role_options,
    .list = true,
};

static int
user_list(struct cli *cli, int argc, char **argv)
{
    struct user_opts o = {};
    int r = cli_parse(cli, &list_cmd, argc, argv, user_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    return resource_list(cli, &member_resource,
                         (const struct jval_field[]){ { "role", o.role }, {} });
}

/* Looks for email in one page of members; 1 and *ret_id when found. *ret_count is the number
 * of members on the page. */
static int
user_find_in_page(struct cli *cli, const char *email, size_t offset, char **ret_id,
                  size_t *ret_count)
{
    _cleanup_json_ json_t *resp = NULL;
    const json_t *items;
    const char *id;
    char off[24];
    int r;

    snprintf(off, sizeof(off), "%zu", offset);
    r = cli_get(cli, member_resource.path,
                (const struct jval_field[]){ { "limit", MEMBERS_PAGE }, { "offset", off }, {} },
                &resp);
    if (r < 0)
        return r;
    items = json_object_get(resp, "items");
    *ret_count = json_array_size(items);
    id = jval_str(jval_find(items, "user_email", email, true), "user_id");
    if (!id)
        return 0;
    *ret_id = strdup(id);
    return *ret_id ? 1 : cli_oom();
}

/* A member given by user id, or by e-mail address (looked up among the members, page by page:
 * the list's search need not cover e-mail addresses). */
static int
user_resolve(struct cli *cli, const char *ref, char **ret_id)
{
    size_t count = MEMBERS_PAGE_SIZE;

    if (!strchr(ref, '@')) {
        *ret_id = strdup(ref);
        return *ret_id ? 0 : cli_oom();
    }
    for (size_t page = 0; page < MEMBERS_PAGES_MAX && count == MEMBERS_PAGE_SIZE; page++) {
        int r = user_find_in_page(cli, ref, page * MEMBERS_PAGE_SIZE, ret_id, &count);

        if (r != 0)
            return r < 0 ? r : 0;
    }
    cli_error("no member with e-mail %s in the selected account", ref);
    return -ENOENT;
}

/* The body of invite (with email) and role. */
static int
user_body(const char *email, const char *role, json_t **ret)
{
    _cleanup_json_ json_t *body = json_object();

    if (!body || jval_set_fields(body, (const struct jval_field[]){
                                           { "user_email", email }, { "role", role }, {} }) < 0)
        return cli_oom();
    *ret = TAKE_PTR(body);
    return 0;
}

static const char *const role_required[] = { "role", NULL };

static const struct cli_cmd invite_cmd = {
    .name = "user invite",
    .usage = "Usage: cloister user invite EMAIL --role READER|WRITER|MANAGER\n"
             "\n"
             "Add an existing user to the selected account with a role (POST /v1/users/invite;\n"
             "MANAGER). READER reads everything; WRITER also changes apps, builds and registries "
             "and\n"
             "approves tasks; MANAGER also manages members and the account.\n"
             "\n"
             "Example:\n"
             "  cloister user invite bob@example.com --role WRITER\n",
    .options = role_options,
    .min_args = 1,
    .max_args = 1,
    .args = "EMAIL",
    .required = role_required,
};

static int
user_invite(struct cli *cli, int argc, char **argv)
{
    struct user_opts o = {};
    _cleanup_json_ json_t *body = NULL, *member = NULL;
    int r = cli_parse(cli, &invite_cmd, argc, argv, user_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    r = user_body(argv[0], o.role, &body);
    if (r >= 0)
        r = cli_call(cli, "POST", "/v1/users/invite", body, 0, &member);
    if (r < 0)
        return r;
    if (cli->json || cli->quiet)
        return output_object(cli, member, member_resource.id_key);
    output_line("Added %s to the selected account as %s (user id %s).", argv[0],
                jval_str(member, "role") ?: o.role, jval_str(member, "user_id") ?: "?");
    return 0;
}

static const struct cli_cmd role_cmd = {
    .name = "user role",
    .usage = "Usage: cloister user role USER_ID|EMAIL --role READER|WRITER|MANAGER\n"
             "\n"
             "Change a member's role in the selected account (PATCH /v1/users/{id}; MANAGER). "
             "The\n"
             "change applies at once. The last MANAGER cannot be demoted.\n"
             "\n"
             "Example:\n"
             "  cloister user role bob@example.com --role READER\n",
    .options = role_options,
    .min_args = 1,
    .max_args = 1,
    .args = "USER_ID",
    .required = role_required,
};

static int
user_role(struct cli *cli, int argc, char **argv)
{
    struct user_opts o = {};
    _cleanup_free_ char *id = NULL;
    _cleanup_json_ json_t *body = NULL, *member = NULL;
    int r = cli_parse(cli, &role_cmd, argc, argv, user_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    r = user_resolve(cli, argv[0], &id);
    if (r >= 0)
        r = user_body(NULL, o.role, &body);
    if (r >= 0)
        r = cli_call_id(cli, "PATCH", member_resource.path, id, NULL, body, 0, &member);
    if (r < 0)
        return r;
    if (cli->json || cli->quiet)
        return output_object(cli, member, member_resource.id_key);
    output_line("%s is now %s.", jval_str(member, "user_email") ?: argv[0],
                jval_str(member, "role") ?: o.role);
    return 0;
}

static const struct cli_cmd remove_cmd = {
    .name = "user remove",
    .usage = "Usage: cloister user remove USER_ID|EMAIL\n"
             "\n"
             "Remove a member from the selected account (DELETE /v1/users/{id}/accounts; "
             "MANAGER, or\n"
             "yourself). The last MANAGER cannot be removed.\n"
             "\n"
             "Example:\n"
             "  cloister user remove bob@example.com\n",
    .min_args = 1,
    .max_args = 1,
    .args = "USER_ID",
};

static int
user_remove(struct cli *cli, int argc, char **argv)
{
    _cleanup_free_ char *id = NULL;
    int r = cli_parse(cli, &remove_cmd, argc, argv, NULL, NULL, &argc, &argv);

    if (r != 0)
        return r;
    r = user_resolve(cli, argv[0], &id);
    if (r >= 0)
        r = cli_call_id(cli, "DELETE", member_resource.path, id, "/accounts", NULL, 0, NULL);
    if (r < 0)
        return r;
    output_message(cli, "Removed %s from the selected account.", argv[0]);
    return 0;
}

static const struct cli_verb user_verbs[] = {
    { "list", "list the members of the selected account", user_list },
    { "invite", "add an existing user with a role", user_invite },
    { "role", "change a member's role", user_role },
    { "remove", "remove a member", user_remove },
};

const struct cli_group cmd_user = { "user", user_verbs, ELEMENTSOF(user_verbs) };
