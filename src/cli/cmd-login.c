/* signup, login, logout, whoami: users and sessions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client.h"
#include "commands.h"
#include "config.h"
#include "jval.h"
#include "output.h"
#include "password.h"

enum {
    OPT_EMAIL = 0x100,
    OPT_FIRST_NAME,
    OPT_LAST_NAME,
    OPT_PASSWORD_STDIN,
};

struct login_opts {
    const char *email;
    const char *first_name;
    const char *last_name;
    bool password_stdin;
};

static int
login_on_flag(void *userdata, int opt, const char *arg)
{
    struct login_opts *o = userdata;

    switch (opt) {
    case OPT_EMAIL:
        o->email = arg;
        break;
    case OPT_FIRST_NAME:
        o->first_name = arg;
        break;
    case OPT_LAST_NAME:
        o->last_name = arg;
        break;
    case OPT_PASSWORD_STDIN:
        o->password_stdin = true;
        break;
    default:
        break;
    }
    return 0;
}

#define PASSWORD_ENV "CLOISTER_PASSWORD"

/* The user's password: --password-stdin, else $CLOISTER_PASSWORD, else a prompt (twice with
 * confirm). */
static int
login_password(const struct login_opts *o, bool confirm, char **ret)
{
    const struct password_source src = { .from_stdin = o->password_stdin,
                                         .env_name = PASSWORD_ENV,
                                         .prompt = "Password: ",
                                         .confirm = confirm };

    return password_read(&src, ret);
}

#define PASSWORD_SOURCES_USAGE                                                                     \
    "  --password-stdin    read the password from the first line of stdin\n"                       \
    "\n"                                                                                           \
    "Without --password-stdin the password is taken from " PASSWORD_ENV ", else asked for on\n"    \
    "the terminal (not echoed).\n"

static const struct option signup_options[] = {
    { "email", required_argument, NULL, OPT_EMAIL },
    { "first-name", required_argument, NULL, OPT_FIRST_NAME },
    { "last-name", required_argument, NULL, OPT_LAST_NAME },
    { "password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN },
    CLI_OPTION_END,
};

static const struct cli_cmd signup_cmd = {
    .name = "signup",
    .usage = "Usage: cloister signup --email EMAIL --first-name NAME --last-name NAME "
             "[--password-stdin]\n"
             "\n"
             "Create a user (POST /v1/users). The first user to sign up becomes a system "
             "administrator.\n"
             "Passwords are 8 to 1024 bytes.\n"
             "\n"
             "Flags:\n"
             "  --email EMAIL       e-mail address, the login name\n"
             "  --first-name NAME\n"
             "  --last-name NAME\n" PASSWORD_SOURCES_USAGE "\n"
             "Example:\n"
             "  cloister signup --email alice@example.com --first-name Alice --last-name Liddell\n",
    .options = signup_options,
    .required = (const char *const[]){ "email", "first-name", "last-name", NULL },
};

static int
signup_body(const struct login_opts *o, const char *password, json_t **ret)
{
    const struct jval_field fields[] = {
        { "user_email", o->email },
        { "user_password", password },
        { "first_name", o->first_name },
        { "last_name", o->last_name },
        {},
    };
    _cleanup_(jval_secret_unrefp) json_t *body = json_object();
    int r = body ? jval_set_fields(body, fields) : -ENOMEM;

    if (r < 0)
        return r;
    *ret = TAKE_PTR(body);
    return 0;
}

int
cmd_signup(struct cli *cli, int argc, char **argv)
{
    struct login_opts o = {};
    _cleanup_(secret_freep) char *password = NULL;
    _cleanup_(jval_secret_unrefp) json_t *body = NULL;
    _cleanup_json_ json_t *user = NULL;
    struct client *c;
    int r = cli_parse(cli, &signup_cmd, argc, argv, login_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    r = cli_client(cli, false, &c);
    if (r >= 0)
        r = login_password(&o, true, &password);
    if (r < 0)
        return r;
    r = signup_body(&o, password, &body);
    if (r < 0)
        return cli_oom();
    r = client_call(c, "POST", "/v1/users", body, CLIENT_NO_AUTH, &user);
    if (r < 0)
        return r;
    if (cli->json || cli->quiet)
        return output_object(cli, user, "user_id");
    output_line("Signed up %s (user id %s)%s.", jval_str(user, "user_email") ?: o.email,
                jval_str(user, "user_id") ?: "?",
                json_is_true(json_object_get(user, "is_admin")) ? ", a system administrator" : "");
    output_line("Log in with: cloister login --email %s", o.email);
    return 0;
}

static const struct option login_options[] = {
    { "email", required_argument, NULL, OPT_EMAIL },
    { "password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN },
    CLI_OPTION_END,
};

static const struct cli_cmd login_cmd = {
    .name = "login",
    .usage =
        "Usage: cloister login --email EMAIL [--password-stdin]\n"
        "\n"
        "Log in (POST /v1/sys/auth with HTTP Basic) and cache the session in\n"
        "$XDG_CONFIG_HOME/cloister/session.json (default ~/.config/cloister/session.json, mode "
        "0600)\n"
        "with the server URL, the token, the e-mail and the --ca file. Later commands use it when\n"
        "they talk to the same URL. The account selected before is selected again.\n"
        "\n"
        "Flags:\n"
        "  --email EMAIL\n" PASSWORD_SOURCES_USAGE "\n"
        "Example:\n"
        "  cloister --url https://manager:8443 --ca server.crt login --email alice@example.com\n",
    .options = login_options,
    .required = (const char *const[]){ "email", NULL },
};

/* Selects the account the previous session of the same user on the same server had selected.
 * Returns it (borrowed from old) or NULL. */
static const char *
login_reselect(struct cli *cli, struct client *c, const char *email, const char *token)
{
    _cleanup_(strbuf_release) struct strbuf path = STRBUF_INIT;
    const struct session *old = cli_session(cli);

    if (!old || !old->acct_id || !old->email || !old->url || strcasecmp(old->email, email) != 0 ||
        strcmp(old->url, cli->url) != 0)
        return NULL;
    if (client_set_token(c, token) < 0 || strbuf_adds(&path, "/v1/accounts/select_account") < 0 ||
        client_path_id(&path, old->acct_id) < 0)
        return NULL;
    if (client_call(c, "POST", path.buf, NULL, CLIENT_QUIET_HTTP, NULL) < 0) {
        cli_hint("the account selected before (%s) could not be selected again", old->acct_id);
        return NULL;
    }
    return old->acct_id;
}

static int
login_save(struct cli *cli, struct client *c, const char *email, const json_t *resp,
           const char **ret_selected)
{
    _cleanup_(session_freep) struct session *s = session_new();
    _cleanup_free_ char *ca = cli->ca ? realpath(cli->ca, NULL) : NULL;
    const char *token = jval_str(resp, "access_token");
    const char *acct = jval_str(resp, "session_info.acct_id");
    const char *reselected = acct ? NULL : login_reselect(cli, c, email, token);
    int r = s ? 0 : -ENOMEM;

    if (r >= 0)
        r = session_set(&s->url, cli->url);
    if (r >= 0)
        r = session_set(&s->token, token);
    if (r >= 0)
        r = session_set(&s->email, email);
    if (r >= 0)
        r = session_set(&s->ca, ca ? ca : cli->ca);
    if (r >= 0)
        r = session_set(&s->acct_id, acct ? acct : reselected);
    if (r < 0)
        return cli_oom();
    *ret_selected = reselected;
    return session_save(s);
}

/* POST /v1/sys/auth with HTTP Basic; *ret_resp holds the new access token. */
static int
login_authenticate(struct client *c, const char *url, const struct login_opts *o, json_t **ret_resp)
{
    _cleanup_(secret_freep) char *password = NULL;
    _cleanup_(jval_secret_unrefp) json_t *resp = NULL;
    struct client_request req = { .method = "POST",
                                  .path = "/v1/sys/auth",
                                  .flags = CLIENT_NO_AUTH,
                                  .basic_user = o->email,
                                  .sink_fd = -1 };
    int r = login_password(o, false, &password);

    if (r < 0)
        return r;
    req.basic_password = password;
    r = client_send(c, &req, &resp);
    if (r < 0)
        return r;
    if (!jval_str(resp, "access_token")) {
        cli_error("unexpected response from %s: no access_token", url);
        return -EBADMSG;
    }
    *ret_resp = TAKE_PTR(resp);
    return 0;
}

int
cmd_login(struct cli *cli, int argc, char **argv)
{
    struct login_opts o = {};
    _cleanup_(jval_secret_unrefp) json_t *resp = NULL;
    const char *selected = NULL;
    struct client *c;
    int r = cli_parse(cli, &login_cmd, argc, argv, login_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    r = cli_client(cli, false, &c);
    if (r >= 0)
        r = login_authenticate(c, cli->url, &o, &resp);
    if (r >= 0)
        r = login_save(cli, c, o.email, resp, &selected);
    if (r < 0)
        return r;
    if (cli->json || cli->quiet)
        return output_object(cli, resp, "session_info.user_id");
    output_line("Logged in to %s as %s; the session lasts %" JSON_INTEGER_FORMAT " s.", cli->url,
                o.email, json_integer_value(json_object_get(resp, "expires_in")));
    if (selected)
        output_line("Selected account %s again.", selected);
    return 0;
}

static const struct cli_cmd logout_cmd = {
    .name = "logout",
    .usage = "Usage: cloister logout\n"
             "\n"
             "End the session on the server (POST /v1/sys/logout) and remove the cached session.\n"
             "\n"
             "Example:\n"
             "  cloister logout\n",
};

int
cmd_logout(struct cli *cli, int argc, char **argv)
{
    struct client *c;
    int r = cli_parse(cli, &logout_cmd, argc, argv, NULL, NULL, &argc, &argv);

    if (r != 0)
        return r;
    r = cli_client(cli, false, &c);
    if (r < 0)
        return r;
    if (!cli->token) {
        if (!cli->quiet)
            output_line("Not logged in to %s.", cli->url);
        return 0;
    }
    /* An expired session has ended already; forgetting the token is all that is left. */
    r = client_call(c, "POST", "/v1/sys/logout", NULL, CLIENT_QUIET_UNAUTHORIZED, NULL);
    if (r < 0 && r != -EACCES)
        return r;
    if (cli->token_from_session) {
        r = session_remove();
        if (r < 0)
            return r;
    }
    output_message(cli, "Logged out of %s.", cli->url);
    return 0;
}

static const struct cli_cmd whoami_cmd = {
    .name = "whoami",
    .usage = "Usage: cloister whoami\n"
             "\n"
             "Show the logged-in user, their accounts and roles, and the selected account\n"
             "(GET /v1/user).\n"
             "\n"
             "Example:\n"
             "  cloister whoami\n",
};

static const struct column whoami_columns[] = {
    { "ACCT_ID", "acct_id", COLUMN_TEXT, 0, NULL },
    { "NAME", "name", COLUMN_TEXT, 40, NULL },
    { "ROLE", "role", COLUMN_TEXT, 0, NULL },
};

static int
whoami_print(const struct cli *cli, const json_t *user)
{
    const char *selected = jval_str(user, "selected_account");
    const json_t *accounts = json_object_get(user, "accounts");

    output_line("User:      %s (%s %s)", jval_str(user, "user_email") ?: "?",
                jval_str(user, "first_name") ?: "", jval_str(user, "last_name") ?: "");
    output_line("User ID:   %s", jval_str(user, "user_id") ?: "?");
    output_line("Admin:     %s", json_is_true(json_object_get(user, "is_admin")) ? "yes" : "no");
    output_line("Server:    %s", cli->url);
    output_line("Selected:  %s", selected ? selected : "none (cloister account select ACCT_ID)");
    putchar('\n');
    if (json_array_size(accounts) == 0) {
        output_line("No accounts (create one: cloister account create NAME).");
        return 0;
    }
    return output_items(accounts, whoami_columns, ELEMENTSOF(whoami_columns)) < 0 ? cli_oom() : 0;
}

int
cmd_whoami(struct cli *cli, int argc, char **argv)
{
    _cleanup_json_ json_t *user = NULL;
    int r = cli_parse(cli, &whoami_cmd, argc, argv, NULL, NULL, &argc, &argv);

    if (r != 0)
        return r;
    r = cli_call(cli, "GET", "/v1/user", NULL, 0, &user);
    if (r < 0)
        return r;
    if (cli->json || cli->quiet)
        return output_object(cli, user, "user_id");
    return whoami_print(cli, user);
}
