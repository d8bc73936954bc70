/* State of one cloister invocation and the helpers every verb uses.
 *
 * Conventions of the program: functions return >= 0 or a negative errno; an error is printed on
 * stderr once, where it is detected ("error: ..."), and passed up. -EINVAL means a usage error
 * and nothing else (exit status 2); every other failure exits with status 1. */
#pragma once

#include <getopt.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

#ifndef CLOISTER_VERSION
#define CLOISTER_VERSION "0.0.0-dev"
#endif

#define CLI_DEFAULT_URL "https://127.0.0.1:8443"
#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE 2

struct client;
struct cli_group;
struct jval_field;
struct session;

/* --limit, --offset, --sort and --search of list verbs, as given (validated). */
struct list_opts {
    const char *limit;
    const char *offset;
    const char *sort;
    const char *search;
};

#define LIST_USAGE                                                                                 \
    "  --limit N          return at most N items (1-1000, default 100)\n"                          \
    "  --offset N         skip the first N items\n"                                                \
    "  --sort KEY:DIR     sort order, e.g. created_at:DESC\n"                                      \
    "  --search TEXT      case-insensitive search in names and descriptions\n"

/* The global flags (given before the verb) and what they resolve to. */
struct cli {
    const char *url_flag; /* --url, borrowed from argv, or NULL */
    const char *ca_flag;
    const char *token_flag;
    bool json;             /* --json: print the server's JSON instead of tables */
    bool quiet;            /* -q: print only ids */
    bool verbose;          /* -v: log each request on stderr */
    bool help;             /* --help before the verb */
    bool version;          /* --version */
    struct list_opts list; /* the list flags of a list verb */

    /* Resolved on first use by cli_resolve(); owned. */
    bool session_loaded;
    struct session *session;
    char *url;
    char *ca;
    char *token;
    bool token_from_session; /* token is the cached session's */
    struct client *client;
};

void cli_release(struct cli *cli);

/* A verb of a group, or a group of verbs (run NULL). run() gets argv[0] = the verb's name. */
struct cli_verb {
    const char *name;
    const char *summary;
    int (*run)(struct cli *cli, int argc, char **argv);
    const struct cli_group *group;
};

/* A group of verbs ("app"), run by cli_dispatch(). */
struct cli_group {
    const char *name;
    const struct cli_verb *verbs;
    size_t n_verbs;
};

/* The command line of one verb, checked by cli_parse(). */
struct cli_cmd {
    const char *name;             /* "app create" */
    const char *usage;            /* the --help text */
    const struct option *options; /* the verb's own flags (ending with CLI_OPTION_END), or NULL */
    const char *shortopts;        /* getopt letters of those with one ("o:" for -o FILE) */
    bool list;                    /* also --limit, --offset, --sort and --search, into cli->list */
    int min_args, max_args;       /* positional arguments; max_args < 0: the verb checks them */
    const char *args;             /* what they are, for "missing ARGS" */
    const char *const *required;  /* names of flags that must be given, ending with NULL */
    bool changes;                 /* at least one of the verb's own flags must be given */
};

#define CLI_OPTION_END                                                                             \
    {                                                                                              \
        NULL, 0, NULL, 0                                                                           \
    }

/* Runs the verb named by argv[1] of group, or prints the group's help. */
int cli_dispatch(struct cli *cli, const struct cli_group *group, int argc, char **argv);

/* Parses argv (argv[0] is the verb) for cmd with getopt_long: the verb's own flags go to
 * on_flag(userdata, opt, arg) (NULL when there are none), the list flags to cli->list, and the
 * global flags (--url, --ca, --token, --json, -q, -v) are accepted too, unless the verb has a
 * flag of the same name. Then checks the positional arguments, the required flags and, for
 * cmd->changes, that there is something to change. Returns 0 with the positional arguments
 * (in any order relative to the flags) in *ret_argc and *ret_argv; 1 when it printed the help
 * for --help, which ends the verb (a positive result exits with status 0); a negative errno,
 * printed, on errors: -EINVAL for unknown flags, missing values and arguments. */
int cli_parse(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv,
              int (*on_flag)(void *userdata, int opt, const char *arg), void *userdata,
              int *ret_argc, char ***ret_argv);

/* Parses the global flags before the verb; *ret_first is the index of the verb. Sets
 * cli->help or cli->version for --help and --version. */
int cli_parse_globals(struct cli *cli, int argc, char **argv, int *ret_first);

/* Checks the number of positional arguments; names says what they are ("ID"). */
int cli_expect_args(const struct cli_cmd *cmd, int argc, char **argv, int min, int max,
                    const char *names);

/* "error: ..." on stderr, made printable. */
void cli_error(const char *fmt, ...) _printf_(1, 2);
/* "hint: ..." on stderr. */
void cli_hint(const char *fmt, ...) _printf_(1, 2);
/* A usage error: prints it (and where to find help when cmd is not NULL), returns -EINVAL. */
int cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...) _printf_(2, 3);
/* Prints "error: out of memory" and returns -ENOMEM. */
int cli_oom(void);

/* Exit status for a result: 0, 1, or 2 for -EINVAL. */
int cli_exit_status(int r);

/* The cached session, loaded on first use; NULL when there is none. Borrowed. */
struct session *cli_session(struct cli *cli);

/* Resolves the server URL (--url, $CLOISTER_URL, the session's, the default), the CA file
 * (--ca, $CLOISTER_CA, the session's for the same URL) and the token (--token,
 * $CLOISTER_TOKEN, the session's for the same URL). */
int cli_resolve(struct cli *cli);

/* The client for the resolved server, created on first use. Borrowed. With need_login, fails
 * with a hint to log in when there is no token. */
int cli_client(struct cli *cli, bool need_login, struct client **ret);

/* An authenticated call; flags and *ret_json as for client_call(). */
int cli_call(struct cli *cli, const char *method, const char *path, const json_t *body,
             unsigned flags, json_t **ret_json);

/* An authenticated GET of path with the query parameters (those with a NULL value left out). */
int cli_get(struct cli *cli, const char *path, const struct jval_field *query, json_t **ret_json);

/* An authenticated call to prefix + "/" + escaped id + suffix (suffix may be NULL). */
int cli_call_id(struct cli *cli, const char *method, const char *prefix, const char *id,
                const char *suffix, const json_t *body, unsigned flags, json_t **ret_json);

/* For errors of code building a request body: passes a usage error (-EINVAL, already
 * printed) on and reports anything else as out of memory. */
int cli_build_error(int r);

/* Erases and frees a secret string (a password or token); accepts NULL. */
static inline void
secret_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

static inline void
secret_freep(char **s)
{
    secret_free(*s);
}
