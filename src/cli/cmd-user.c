/* cloister user: members of the selected account and their roles. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "args.h"
#include "client.h"
#include "commands.h"
#include "jval.h"
#include "output.h"

#define MEMBERS_PAGE "1000" /* the largest page */
#define MEMBERS_PAGE_SIZE 1000u
#define MEMBERS_PAGES_MAX 100u /* members searched for an e-mail: 100000 */

enum {
    OPT_ROLE = 0x100,
};

static const char *const roles[] = { "READER", "WRITER", "MANAGER" };

struct user_opts {
    const char *role;
    struct list_opts list;
};

static int
user_on_flag(void *userdata, int opt, const char *arg)
{
    struct user_opts *o = userdata;
    int r = list_opts_handle(&o->list, opt, arg);

    if (r != 0)
        return r < 0 ? r : 0;
    if (opt == OPT_ROLE)
        return args_choice("--role", arg, roles, ELEMENTSOF(roles), &o->role);
    return 0;
}

static int
format_name(const json_t *user, char **ret)
{
    char *s;

    if (asprintf(&s, "%s %s", jval_str(user, "first_name") ?: "",
                 jval_str(user, "last_name") ?: "") < 0)
        return -ENOMEM;
    *ret = s;
    return 0;
}

static const struct column member_columns[] = {
    { "USER_ID", "user_id", COLUMN_TEXT, 0, NULL },
    { "EMAIL", "user_email", COLUMN_TEXT, 0, NULL },
    { "NAME", NULL, COLUMN_TEXT, 32, format_name },
    { "ROLE", "role", COLUMN_TEXT, 0, NULL },
    { "STATUS", "status", COLUMN_TEXT, 0, NULL },
    { "LAST_LOGIN", "last_logged_in_at", COLUMN_TIME, 0, NULL },
};

static const struct cli_cmd list_cmd = {
    "user list",
    "Usage: cloister user list [--role READER|WRITER|MANAGER] [--limit N] [--offset N]\n"
    "                          [--sort KEY:DIR] [--search TEXT]\n"
    "\n"
    "List the members of the selected account (GET /v1/users).\n"
    "\n"
    "Flags:\n"
    "  --role ROLE        only members with this role\n" LIST_USAGE "\n"
    "Example:\n"
    "  cloister user list --role MANAGER\n",
};

static const struct option list_options[] = {
    { "role", required_argument, NULL, OPT_ROLE },
    LIST_OPTIONS,
    CLI_OPTION_HELP,
    CLI_OPTION_END,
};

static int
user_list(struct cli *cli, int argc, char **argv)
{
    struct user_opts o = {};
    _cleanup_(strbuf_release) struct strbuf path = STRBUF_INIT;
    _cleanup_json_ json_t *resp = NULL;
    int r = cli_parse_flags(cli, &list_cmd, argc, argv, NULL, list_options, user_on_flag, &o, &argc,
                            &argv);

    if (r != 0)
        return r > 0 ? 0 : r;
    r = cli_expect_args(&list_cmd, argc, argv, 0, 0, NULL);
    if (r < 0)
        return r;
    if (strbuf_adds(&path, "/v1/users") < 0 || client_path_query(&path, "role", o.role) < 0 ||
        list_opts_query(&o.list, &path) < 0)
        return cli_oom();
    r = cli_call(cli, "GET", path.buf, NULL, 0, &resp);
    if (r < 0)
        return r;
    return output_list(cli, resp, member_columns, ELEMENTSOF(member_columns), "user_id", "members");
}

/* Looks for email in one page of members; 1 and *ret_id when found. *ret_count is the number
 * of members on the page. */
static int
user_find_in_page(struct cli *cli, const char *email, size_t offset, char **ret_id,
                  size_t *ret_count)
{
    _cleanup_(strbuf_release) struct strbuf path = STRBUF_INIT;
    _cleanup_json_ json_t *resp = NULL;
    char off[24];
    json_t *item;
    size_t i;
    int r;

    snprintf(off, sizeof(off), "%zu", offset);
    if (strbuf_adds(&path, "/v1/users") < 0 ||
        client_path_query(&path, "limit", MEMBERS_PAGE) < 0 ||
        client_path_query(&path, "offset", off) < 0)
        return cli_oom();
    r = cli_call(cli, "GET", path.buf, NULL, 0, &resp);
    if (r < 0)
        return r;
    *ret_count = json_array_size(json_object_get(resp, "items"));
    json_array_foreach(json_object_get(resp, "items"), i, item) {
        const char *e = jval_str(item, "user_email");
        const char *id = jval_str(item, "user_id");

        if (e && id && strcasecmp(e, email) == 0) {
            *ret_id = strdup(id);
            return *ret_id ? 1 : cli_oom();
        }
    }
    return 0;
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

static const struct cli_cmd invite_cmd = {
    "user invite",
    "Usage: cloister user invite EMAIL --role READER|WRITER|MANAGER\n"
    "\n"
    "Add an existing user to the selected account with a role (POST /v1/users/invite;\n"
    "MANAGER). READER reads everything; WRITER also changes apps, builds and registries and\n"
    "approves tasks; MANAGER also manages members and the account.\n"
    "\n"
    "Example:\n"
    "  cloister user invite bob@example.com --role WRITER\n",
};

static const struct option role_options[] = {
    { "role", required_argument, NULL, OPT_ROLE },
    CLI_OPTION_HELP,
    CLI_OPTION_END,
};

static int
role_body(const char *key, const char *value, const char *role, json_t **ret)
{
    _cleanup_json_ json_t *body = json_object();
    int r = body ? 0 : -ENOMEM;

    if (r >= 0 && key)
        r = jval_set_str(body, key, value);
    if (r >= 0)
        r = jval_set_str(body, "role", role);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(body);
    return 0;
}

static int
user_invite(struct cli *cli, int argc, char **argv)
{
    struct user_opts o = {};
    _cleanup_json_ json_t *body = NULL, *member = NULL;
    int r = cli_parse_flags(cli, &invite_cmd, argc, argv, NULL, role_options, user_on_flag, &o,
                            &argc, &argv);

    if (r != 0)
        return r > 0 ? 0 : r;
    r = cli_expect_args(&invite_cmd, argc, argv, 1, 1, "EMAIL");
    if (r >= 0 && !o.role)
        r = cli_usage_error(&invite_cmd, "missing --role");
    if (r < 0)
        return r;
    if (role_body("user_email", argv[0], o.role, &body) < 0)
        return cli_oom();
    r = cli_call(cli, "POST", "/v1/users/invite", body, 0, &member);
    if (r < 0)
        return r;
    if (cli->json || cli->quiet)
        return output_object(cli, member, "user_id");
    output_line("Added %s to the selected account as %s (user id %s).", argv[0],
                jval_str(member, "role") ?: o.role, jval_str(member, "user_id") ?: "?");
    return 0;
}

static const struct cli_cmd role_cmd = {
    "user role",
    "Usage: cloister user role USER_ID|EMAIL --role READER|WRITER|MANAGER\n"
    "\n"
    "Change a member's role in the selected account (PATCH /v1/users/{id}; MANAGER). The\n"
    "change applies at once. The last MANAGER cannot be demoted.\n"
    "\n"
    "Example:\n"
    "  cloister user role bob@example.com --role READER\n",
};

static int
user_role(struct cli *cli, int argc, char **argv)
{
    struct user_opts o = {};
    _cleanup_free_ char *id = NULL;
    _cleanup_json_ json_t *body = NULL, *member = NULL;
    int r = cli_parse_flags(cli, &role_cmd, argc, argv, NULL, role_options, user_on_flag, &o, &argc,
                            &argv);

    if (r != 0)
        return r > 0 ? 0 : r;
    r = cli_expect_args(&role_cmd, argc, argv, 1, 1, "USER_ID");
    if (r >= 0 && !o.role)
        r = cli_usage_error(&role_cmd, "missing --role");
    if (r >= 0)
        r = user_resolve(cli, argv[0], &id);
    if (r < 0)
        return r;
    if (role_body(NULL, NULL, o.role, &body) < 0)
        return cli_oom();
    r = cli_call_id(cli, "PATCH", "/v1/users", id, NULL, body, 0, &member);
    if (r < 0)
        return r;
    if (cli->json || cli->quiet)
        return output_object(cli, member, "user_id");
    output_line("%s is now %s.", jval_str(member, "user_email") ?: argv[0],
                jval_str(member, "role") ?: o.role);
    return 0;
}

static const struct cli_cmd remove_cmd = {
    "user remove",
    "Usage: cloister user remove USER_ID|EMAIL\n"
    "\n"
    "Remove a member from the selected account (DELETE /v1/users/{id}/accounts; MANAGER, or\n"
    "yourself). The last MANAGER cannot be removed.\n"
    "\n"
    "Example:\n"
    "  cloister user remove bob@example.com\n",
};

static const struct option no_options[] = {
    CLI_OPTION_HELP,
    CLI_OPTION_END,
};

static int
user_remove(struct cli *cli, int argc, char **argv)
{
    struct user_opts o = {};
    _cleanup_free_ char *id = NULL;
    int r = cli_parse_flags(cli, &remove_cmd, argc, argv, NULL, no_options, user_on_flag, &o, &argc,
                            &argv);

    if (r != 0)
        return r > 0 ? 0 : r;
    r = cli_expect_args(&remove_cmd, argc, argv, 1, 1, "USER_ID");
    if (r >= 0)
        r = user_resolve(cli, argv[0], &id);
    if (r >= 0)
        r = cli_call_id(cli, "DELETE", "/v1/users", id, "/accounts", NULL, 0, NULL);
    if (r < 0)
        return r;
    if (!cli->quiet && !cli->json)
        output_line("Removed %s from the selected account.", argv[0]);
    return 0;
}

static const struct cli_verb user_verbs[] = {
    { "list", "list the members of the selected account", user_list },
    { "invite", "add an existing user with a role", user_invite },
    { "role", "change a member's role", user_role },
    { "remove", "remove a member", user_remove },
};

int
cmd_user(struct cli *cli, int argc, char **argv)
{
    return cli_dispatch(cli, "user", user_verbs, ELEMENTSOF(user_verbs), argc, argv);
}
