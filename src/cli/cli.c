#include "cli.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <unistd.h>

#include "args.h"
#include "client.h"
#include "config.h"
#include "log.h"
#include "strbuf.h"

void
cli_release(struct cli *cli)
{
    cli->client = client_free(cli->client);
    cli->session = session_free(cli->session);
    free(cli->url);
    free(cli->ca);
    secret_free(cli->token);
    cli->url = cli->ca = cli->token = NULL;
}

/* Prints prefix and the formatted message, made printable, on stderr; errno is preserved. */
static void cli_vprint(const char *prefix, const char *fmt, va_list ap) _printf_(2, 0);

static void
cli_vprint(const char *prefix, const char *fmt, va_list ap)
{
    _cleanup_(strbuf_release) struct strbuf sb = STRBUF_INIT;
    _cleanup_free_ char *text = NULL;
    int saved = errno;

    if (vasprintf(&text, fmt, ap) < 0)
        text = NULL;
    if (!text || strbuf_add_printable(&sb, text) < 0)
        fprintf(stderr, "%s(message lost: out of memory)\n", prefix);
    else
        fprintf(stderr, "%s%s\n", prefix, sb.buf);
    errno = saved;
}

void
cli_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cli_vprint("error: ", fmt, ap);
    va_end(ap);
}

void
cli_hint(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cli_vprint("hint: ", fmt, ap);
    va_end(ap);
}

int
cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cli_vprint("error: ", fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr, "Try 'cloister %s --help'.\n", cmd->name);
    return -EINVAL;
}

int
cli_oom(void)
{
    fputs("error: out of memory\n", stderr);
    return -ENOMEM;
}

int
cli_build_error(int r)
{
    if (r == -EINVAL)
        return r;
    return cli_oom();
}

int
cli_exit_status(int r)
{
    if (r >= 0)
        return 0;
    return r == -EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
}

static void
cli_group_usage(FILE *out, const struct cli_group *group)
{
    fprintf(out, "Usage: cloister [GLOBAL FLAGS] %s VERB [FLAGS] [ARGS]\n\nVerbs:\n", group->name);
    for (size_t i = 0; i < group->n_verbs; i++)
        fprintf(out, "  %-10s %s\n", group->verbs[i].name, group->verbs[i].summary);
    fprintf(out,
            "\nRun 'cloister %s VERB --help' for the flags of a verb, 'cloister --help' for "
            "the global flags.\n",
            group->name);
}

/* Most flags a verb can have, including --help, the list flags and the global flags. */
#define CLI_OPTIONS_MAX 64u

enum {
    OPT_GLOBAL_URL = 0x2000,
    OPT_GLOBAL_CA,
    OPT_GLOBAL_TOKEN,
    OPT_GLOBAL_JSON,
    OPT_GLOBAL_VERSION,
    OPT_LIST_LIMIT,
    OPT_LIST_OFFSET,
    OPT_LIST_SORT,
    OPT_LIST_SEARCH,
};

#define LIST_LIMIT_MAX 1000u

/* Global flags, accepted before the verb and after it. */
static const struct option cli_global_options[] = {
    { "url", required_argument, NULL, OPT_GLOBAL_URL },
    { "ca", required_argument, NULL, OPT_GLOBAL_CA },
    { "token", required_argument, NULL, OPT_GLOBAL_TOKEN },
    { "json", no_argument, NULL, OPT_GLOBAL_JSON },
    { "quiet", no_argument, NULL, 'q' },
    { "verbose", no_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    CLI_OPTION_END,
};

/* Only before the verb. */
static const struct option cli_top_options[] = {
    { "version", no_argument, NULL, OPT_GLOBAL_VERSION },
    CLI_OPTION_END,
};

/* The flags every list verb takes. */
static const struct option cli_list_options[] = {
    { "limit", required_argument, NULL, OPT_LIST_LIMIT },
    { "offset", required_argument, NULL, OPT_LIST_OFFSET },
    { "sort", required_argument, NULL, OPT_LIST_SORT },
    { "search", required_argument, NULL, OPT_LIST_SEARCH },
    CLI_OPTION_END,
};

/* Index of the option called name in opts (NULL for none), or -1. */
static int
options_find(const struct option *opts, const char *name)
{
    for (int i = 0; opts && opts[i].name; i++)
        if (strcmp(opts[i].name, name) == 0)
            return i;
    return -1;
}

/* Appends to merged (*n entries so far) the entries of opts whose names it lacks: the first
 * list given wins (a verb's own --url over the global one). */
static int
options_append(struct option *merged, size_t *n, const struct option *opts)
{
    for (const struct option *o = opts; o && o->name; o++) {
        merged[*n] = (struct option)CLI_OPTION_END;
        if (options_find(merged, o->name) >= 0)
            continue;
        if (*n + 1 >= CLI_OPTIONS_MAX)
            return -E2BIG;
        merged[(*n)++] = *o;
    }
    merged[*n] = (struct option)CLI_OPTION_END;
    return 0;
}

/* Handles a global flag; 1 when opt was one, 0 when not. */
static int
cli_global_flag(struct cli *cli, int opt, const char *arg)
{
    switch (opt) {
    case OPT_GLOBAL_URL:
        cli->url_flag = arg;
        return 1;
    case OPT_GLOBAL_CA:
        cli->ca_flag = arg;
        return 1;
    case OPT_GLOBAL_TOKEN:
        cli->token_flag = arg;
        return 1;
    case OPT_GLOBAL_JSON:
        cli->json = true;
        return 1;
    case 'q':
        cli->quiet = true;
        return 1;
    case 'v':
        cli->verbose = true;
        return 1;
    default:
        return 0;
    }
}

/* Handles a list flag: 1 when opt was one, 0 when not, -EINVAL for a bad value. */
static int
cli_list_flag(struct list_opts *l, int opt, const char *arg)
{
    uint64_t v;
    int r;

    switch (opt) {
    case OPT_LIST_LIMIT:
        r = args_uint("--limit", arg, 1, LIST_LIMIT_MAX, &v);
        l->limit = arg;
        return r < 0 ? r : 1;
    case OPT_LIST_OFFSET:
        r = args_uint("--offset", arg, 0, INT64_MAX, &v);
        l->offset = arg;
        return r < 0 ? r : 1;
    case OPT_LIST_SORT:
        l->sort = arg;
        return 1;
    case OPT_LIST_SEARCH:
        l->search = arg;
        return 1;
    default:
        return 0;
    }
}

/* The flag a getopt error refers to, for messages. */
static const char *
flag_name(char **argv, char *buf, size_t size)
{
    if (optopt > 0 && optopt < 128 && isalnum(optopt)) {
        snprintf(buf, size, "-%c", optopt);
        return buf;
    }
    snprintf(buf, size, "%s", argv[optind - 1]);
    buf[strcspn(buf, "=")] = '\0';
    return buf;
}

static int
cli_check_globals(const struct cli_cmd *cmd, const struct cli *cli)
{
    if (cli->json && cli->quiet)
        return cli_usage_error(cmd, "--json and --quiet cannot be used together");
    return 0;
}

/* Parses the global flags and extra ones up to the first argument that is not a flag. */
static int
cli_parse_leading(struct cli *cli, int argc, char **argv, const struct option *extra,
                  const char *context, int *ret_first)
{
    struct option opts[CLI_OPTIONS_MAX];
    size_t n = 0;
    char name[64];
    int c;

    if (options_append(opts, &n, cli_global_options) < 0 || options_append(opts, &n, extra) < 0)
        return cli_oom();
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:hqv", opts, NULL)) >= 0) {
        if (c == '?' || c == ':') {
            cli_usage_error(NULL, c == '?' ? "unknown flag '%s'" : "%s needs a value",
                            flag_name(argv, name, sizeof(name)));
            fprintf(stderr, "Try 'cloister %s--help'.\n", context);
            return -EINVAL;
        }
        if (c == 'h')
            cli->help = true;
        else if (c == OPT_GLOBAL_VERSION)
            cli->version = true;
        else
            cli_global_flag(cli, c, optarg);
    }
    *ret_first = optind;
    return cli_check_globals(NULL, cli);
}

int
cli_parse_globals(struct cli *cli, int argc, char **argv, int *ret_first)
{
    return cli_parse_leading(cli, argc, argv, cli_top_options, "", ret_first);
}

int
cli_dispatch(struct cli *cli, const struct cli_group *group, int argc, char **argv)
{
    _cleanup_free_ char *context = NULL;
    const char *name;
    int first = 0, r;

    if (asprintf(&context, "%s ", group->name) < 0) {
        context = NULL;
        return cli_oom();
    }
    /* Global flags may come between the group and the verb: cloister app --json list. */
    r = cli_parse_leading(cli, argc, argv, NULL, context, &first);
    if (r < 0)
        return r;
    if (cli->help || first >= argc) {
        cli_group_usage(cli->help ? stdout : stderr, group);
        return cli->help ? 0 : -EINVAL;
    }
    name = argv[first];
    if (strcmp(name, "help") == 0) {
        cli_group_usage(stdout, group);
        return 0;
    }
    for (size_t i = 0; i < group->n_verbs; i++)
        if (strcmp(group->verbs[i].name, name) == 0)
            return group->verbs[i].run(cli, argc - first, argv + first);
    cli_usage_error(NULL, "unknown verb '%s' for 'cloister %s'", name, group->name);
    fprintf(stderr, "Try 'cloister %s --help'.\n", group->name);
    return -EINVAL;
}

/* Runs getopt_long over argv; given[i] tells whether cmd->options[i] was given. */
static int
cli_parse_flags(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv,
                int (*on_flag)(void *userdata, int opt, const char *arg), void *userdata,
                bool *given, int *ret_argc, char ***ret_argv)
{
    struct option opts[CLI_OPTIONS_MAX];
    size_t n = 0;
    char optstring[64], name[64];
    int c;

    if (options_append(opts, &n, cmd->options) < 0 ||
        options_append(opts, &n, cmd->list ? cli_list_options : NULL) < 0 ||
        options_append(opts, &n, cli_global_options) < 0)
        return cli_oom();
    snprintf(optstring, sizeof(optstring), ":hqv%s", cmd->shortopts ? cmd->shortopts : "");
    optind = 0; /* glibc: start over, including the argument permutation state */
    opterr = 0;
    while ((c = getopt_long(argc, argv, optstring, opts, NULL)) >= 0) {
        int r;

        if (c == 'h') {
            fputs(cmd->usage, stdout);
            return 1;
        }
        if (c == ':')
            return cli_usage_error(cmd, "%s needs a value", flag_name(argv, name, sizeof(name)));
        if (c == '?')
            return cli_usage_error(cmd, "unknown flag '%s'", flag_name(argv, name, sizeof(name)));
        if (cli_global_flag(cli, c, optarg))
            continue;
        r = cli_list_flag(&cli->list, c, optarg);
        if (r != 0) {
            if (r < 0)
                return r;
            continue;
        }
        for (size_t i = 0; cmd->options && cmd->options[i].name; i++)
            if (cmd->options[i].val == c)
                given[i] = true;
        r = on_flag(userdata, c, optarg);
        if (r < 0)
            return r;
    }
    *ret_argc = argc - optind;
    *ret_argv = argv + optind;
    return cli_check_globals(cmd, cli);
}

/* The required flags were given and, for cmd->changes, at least one of the verb's own. */
static int
cli_check_given(const struct cli_cmd *cmd, const bool *given)
{
    for (const char *const *req = cmd->required; req && *req; req++) {
        int i = options_find(cmd->options, *req);

        if (i < 0 || !given[i])
            return cli_usage_error(cmd, "missing --%s", *req);
    }
    if (!cmd->changes)
        return 0;
    for (size_t i = 0; cmd->options && cmd->options[i].name; i++)
        if (given[i])
            return 0;
    return cli_usage_error(cmd, "nothing to change: give at least one flag");
}

int
cli_parse(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv,
          int (*on_flag)(void *userdata, int opt, const char *arg), void *userdata, int *ret_argc,
          char ***ret_argv)
{
    bool given[CLI_OPTIONS_MAX] = {};
    int r = cli_parse_flags(cli, cmd, argc, argv, on_flag, userdata, given, &argc, &argv);

    if (r != 0)
        return r;
    if (cmd->max_args >= 0)
        r = cli_expect_args(cmd, argc, argv, cmd->min_args, cmd->max_args, cmd->args);
    if (r >= 0)
        r = cli_check_given(cmd, given);
    if (r < 0)
        return r;
    *ret_argc = argc;
    *ret_argv = argv;
    return 0;
}

int
cli_expect_args(const struct cli_cmd *cmd, int argc, char **argv, int min, int max,
                const char *names)
{
    if (argc < min)
        return cli_usage_error(cmd, "missing %s", names);
    if (argc > max)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[max]);
    return 0;
}

struct session *
cli_session(struct cli *cli)
{
    if (!cli->session_loaded) {
        cli->session_loaded = true;
        /* A missing or unreadable session is the same as none; session_load() said why. */
        if (session_load(&cli->session) < 0)
            cli->session = NULL;
    }
    return cli->session;
}

static const char *
env_value(const char *name)
{
    const char *v = getenv(name);

    return v && *v ? v : NULL;
}

/* Picks the first non-NULL value of n candidates; *ret_source names where it came from. */
static const char *
pick(const char *const *values, const char *const *sources, size_t n, const char **ret_source)
{
    for (size_t i = 0; i < n; i++)
        if (values[i]) {
            *ret_source = sources[i];
            return values[i];
        }
    return NULL;
}

static int
cli_check_url(const char *url, const char *source)
{
    CURLU *u = curl_url();
    char *scheme = NULL;
    CURLUcode rc;
    bool ok;

    if (!u)
        return cli_oom();
    rc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (rc == CURLUE_OK)
        rc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    ok = rc == CURLUE_OK && (strcasecmp(scheme, "https") == 0 || strcasecmp(scheme, "http") == 0);
    curl_free(scheme);
    curl_url_cleanup(u);
    if (rc == CURLUE_OUT_OF_MEMORY)
        return cli_oom();
    if (!ok)
        return cli_usage_error(NULL, "%s: '%s' is not an https:// or http:// URL", source, url);
    return 0;
}

/* True when a and b are the same URL but for trailing slashes. */
static bool
url_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    while (la > 0 && a[la - 1] == '/')
        la--;
    while (lb > 0 && b[lb - 1] == '/')
        lb--;
    return la == lb && strncmp(a, b, la) == 0;
}

static int
cli_resolve_url(struct cli *cli, const struct session *s)
{
    const char *values[] = { cli->url_flag, env_value("CLOISTER_URL"), s ? s->url : NULL,
                             CLI_DEFAULT_URL };
    const char *sources[] = { "--url", "CLOISTER_URL", "the session file", "default URL" };
    const char *source = "";
    const char *url = pick(values, sources, ELEMENTSOF(values), &source);
    size_t len = strlen(url);
    int r = cli_check_url(url, source);

    if (r < 0)
        return r;
    while (len > 0 && url[len - 1] == '/')
        len--;
    cli->url = strndup(url, len);
    return cli->url ? 0 : cli_oom();
}

static int
cli_resolve_ca(struct cli *cli, const struct session *s, bool same)
{
    const char *values[] = { cli->ca_flag, env_value("CLOISTER_CA"), same ? s->ca : NULL };
    const char *sources[] = { "--ca", "CLOISTER_CA", "the session file's ca" };
    const char *source = NULL;
    const char *ca = pick(values, sources, ELEMENTSOF(values), &source);

    if (!ca)
        return 0;
    if (access(ca, R_OK) < 0)
        return cli_usage_error(NULL, "%s: cannot read '%s': %m", source, ca);
    cli->ca = strdup(ca);
    return cli->ca ? 0 : cli_oom();
}

static int
cli_resolve_token(struct cli *cli, const struct session *s, bool same)
{
    const char *token = cli->token_flag ? cli->token_flag : env_value("CLOISTER_TOKEN");

    /* The cached token is only ever sent to the server it came from. */
    if (!token && same && s->token) {
        token = s->token;
        cli->token_from_session = true;
    }
    if (!token)
        return 0;
    cli->token = strdup(token);
    return cli->token ? 0 : cli_oom();
}

int
cli_resolve(struct cli *cli)
{
    const struct session *s;
    bool same;
    int r;

    if (cli->url)
        return 0;
    s = cli_session(cli);
    r = cli_resolve_url(cli, s);
    if (r < 0)
        return r;
    same = s && s->url && url_equal(s->url, cli->url);
    r = cli_resolve_ca(cli, s, same);
    if (r >= 0)
        r = cli_resolve_token(cli, s, same);
    if (r < 0) {
        free(cli->url);
        cli->url = NULL;
    }
    return r;
}

int
cli_client(struct cli *cli, bool need_login, struct client **ret)
{
    int r = cli_resolve(cli);

    if (r < 0)
        return r;
    if (need_login && !cli->token) {
        cli_error("not logged in to %s", cli->url);
        cli_hint("run 'cloister login --email EMAIL', or pass --token / set CLOISTER_TOKEN");
        return -EACCES;
    }
    if (!cli->client) {
        /* Set here: -v may follow the verb, and only requests log. */
        log_setup("cloister", cli->verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING, false);
        r = client_new(cli->url, cli->ca, cli->token, &cli->client);
        if (r < 0)
            return cli_oom();
    }
    *ret = cli->client;
    return 0;
}

int
cli_call(struct cli *cli, const char *method, const char *path, const json_t *body, unsigned flags,
         json_t **ret_json)
{
    struct client *c;
    int r = cli_client(cli, true, &c);

    if (r < 0)
        return r;
    return client_call(c, method, path, body, flags, ret_json);
}

int
cli_get(struct cli *cli, const char *path, const struct jval_field *query, json_t **ret_json)
{
    _cleanup_(strbuf_release) struct strbuf full = STRBUF_INIT;

    if (strbuf_adds(&full, path) < 0 || client_path_queries(&full, query) < 0)
        return cli_oom();
    return cli_call(cli, "GET", full.buf, NULL, 0, ret_json);
}

int
cli_call_id(struct cli *cli, const char *method, const char *prefix, const char *id,
            const char *suffix, const json_t *body, unsigned flags, json_t **ret_json)
{
    _cleanup_(strbuf_release) struct strbuf path = STRBUF_INIT;
    int r = strbuf_adds(&path, prefix);

    if (r >= 0)
        r = client_path_id(&path, id);
    if (r >= 0 && suffix)
        r = strbuf_adds(&path, suffix);
    if (r < 0)
        return cli_oom();
    return cli_call(cli, method, path.buf, body, flags, ret_json);
}
