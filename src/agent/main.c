/* cloister-agent: the node agent. See docs/agent.md. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "event-loop.h"
#include "log.h"

static void
usage(FILE *out)
{
    fputs("Usage: cloister-agent --state-dir DIR [OPTIONS]\n"
          "\n"
          "  --manager URL        the manager, https://HOST[:PORT] (needed the first time;\n"
          "                       later the enrolled one is used unless given)\n"
          "  --join-token TOKEN   join token of the zone (only to enroll, the first time)\n"
          "  --state-dir DIR      keys, node certificate and node id (created 0700)\n"
          "  --listen ADDR:PORT   agent API address (default " AGENT_DEFAULT_LISTEN ")\n"
          "  --unix-socket PATH   also serve the agent API on this Unix socket\n"
          "  --name NAME          node name to enroll with (default: the host name)\n"
          "  --ca-file PEM        trust this certificate/CA for the manager's TLS (kept in\n"
          "                       the state directory at enrollment; default: that copy,\n"
          "                       else the system store)\n"
          "  --pool N             persistent connections to the manager (default 8, max 64)\n"
          "  --debug              log debug messages\n"
          "  --version            print the version\n"
          "  --help               this text\n",
          out);
}

enum {
    OPT_MANAGER = 256,
    OPT_TOKEN,
    OPT_STATE,
    OPT_LISTEN,
    OPT_UNIX,
    OPT_NAME,
    OPT_CA,
    OPT_POOL,
    OPT_DEBUG,
    OPT_VERSION,
    OPT_HELP,
};

static int
parse_args(int argc, char **argv, struct agent_options *o, enum log_level *level)
{
    static const struct option opts[] = {
        { "manager", required_argument, NULL, OPT_MANAGER },
        { "join-token", required_argument, NULL, OPT_TOKEN },
        { "state-dir", required_argument, NULL, OPT_STATE },
        { "listen", required_argument, NULL, OPT_LISTEN },
        { "unix-socket", required_argument, NULL, OPT_UNIX },
        { "name", required_argument, NULL, OPT_NAME },
        { "ca-file", required_argument, NULL, OPT_CA },
        { "pool", required_argument, NULL, OPT_POOL },
        { "debug", no_argument, NULL, OPT_DEBUG },
        { "version", no_argument, NULL, OPT_VERSION },
        { "help", no_argument, NULL, OPT_HELP },
        {},
    };
    int c;

    o->listen = AGENT_DEFAULT_LISTEN;
    o->pool_size = AGENT_DEFAULT_POOL;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
        char *end;
        unsigned long n;

        switch (c) {
        case OPT_MANAGER:
            o->manager_url = optarg;
            break;
        case OPT_TOKEN:
            o->join_token = optarg;
            break;
        case OPT_STATE:
            o->state_dir = optarg;
            break;
        case OPT_LISTEN:
            o->listen = optarg;
            break;
        case OPT_UNIX:
            o->unix_socket = optarg;
            break;
        case OPT_NAME:
            o->name = optarg;
            break;
        case OPT_CA:
            o->ca_file = optarg;
            break;
        case OPT_POOL:
            errno = 0;
            n = strtoul(optarg, &end, 10);
            if (errno || *end || n == 0 || n > UPSTREAM_POOL_MAX) {
                fprintf(stderr, "cloister-agent: --pool: expected 1 to %u\n", UPSTREAM_POOL_MAX);
                return -EINVAL;
            }
            o->pool_size = (unsigned)n;
            break;
        case OPT_DEBUG:
            *level = LOG_LEVEL_DEBUG;
            break;
        case OPT_VERSION:
            printf("cloister-agent %s\n", CLOISTER_VERSION);
            return 1;
        case OPT_HELP:
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return -EINVAL;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cloister-agent: unexpected argument '%s'\n", argv[optind]);
        return -EINVAL;
    }
    if (!o->state_dir) {
        fprintf(stderr, "cloister-agent: --state-dir is required\n");
        return -EINVAL;
    }
    if (o->join_token && (!*o->join_token || strlen(o->join_token) > 512)) {
        fprintf(stderr, "cloister-agent: --join-token: expected 1 to 512 characters\n");
        return -EINVAL;
    }
    if (o->name && (!*o->name || strlen(o->name) >= AGENT_ID_MAX)) {
        fprintf(stderr, "cloister-agent: --name: expected 1 to %u characters\n", AGENT_ID_MAX - 1);
        return -EINVAL;
    }
    if (o->manager_url && strncmp(o->manager_url, "https://", 8) != 0) {
        fprintf(stderr, "cloister-agent: --manager: expected https://HOST[:PORT]\n");
        return -EINVAL;
    }
    return 0;
}

#define SHUTDOWN_GRACE_US 200000

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct agent *a = arg;

    struct timeval grace = { .tv_usec = SHUTDOWN_GRACE_US };

    if (a->stopping)
        return;
    log_info("Received %s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    a->stopping = true;
    /* Apps waiting for the manager get 503 SHUTTING_DOWN now (freeing the clients cancels their
     * requests), and the loop runs a moment longer so that those answers are written. */
    agent_checkin_stop(a);
    if (a->enroll_timer)
        event_del(a->enroll_timer);
    a->up = upstream_free(a->up);
    a->enroll_up = upstream_free(a->enroll_up);
    event_base_loopexit(a->base, &grace);
}

/* Loads the enrolled state or, on first start, checks what enrollment needs. */
static int
load_state(struct agent *a, char hostname[AGENT_ID_MAX])
{
    int r = agent_state_load(a->opt.state_dir, &a->state);

    if (r == -ENOENT) {
        if (!a->opt.manager_url || !a->opt.join_token)
            return log_error_errno(-EINVAL,
                                   "Not enrolled yet (no node.json in '%s'): "
                                   "--manager and --join-token are needed the first "
                                   "time",
                                   a->opt.state_dir);
        if (!a->opt.name) {
            if (gethostname(hostname, AGENT_ID_MAX - 1) < 0 || !hostname[0])
                memcpy(hostname, "node", 5);
            hostname[AGENT_ID_MAX - 1] = '\0';
            a->opt.name = hostname;
        }
        snprintf(a->manager_url, sizeof(a->manager_url), "%s", a->opt.manager_url);
        return 0;
    }
    if (r < 0)
        return log_error_errno(r, "Cannot load the agent state from '%s': %m", a->opt.state_dir);
    if (a->opt.join_token)
        log_info("Already enrolled as node %s: --join-token is not used", a->state->node_id);
    snprintf(a->manager_url, sizeof(a->manager_url), "%s",
             a->opt.manager_url ? a->opt.manager_url : a->state->manager_url);
    /* The manager's TLS trust given at enrollment stays in force unless another is given. */
    if (!a->opt.ca_file && agent_state_manager_ca_path(a->opt.state_dir, a->saved_ca_path,
                                                       sizeof(a->saved_ca_path)) == 0)
        a->opt.ca_file = a->saved_ca_path;
    return 0;
}

static void
agent_release(struct agent *a)
{
    agent_checkin_stop(a);
    a->enroll_up = upstream_free(a->enroll_up);
    a->up = upstream_free(a->up);
    agent_issue_stop(a);
    agent_server_stop(a);
    if (a->enroll_timer)
        event_free(a->enroll_timer);
    SSL_CTX_free(a->enroll_ctx);
    SSL_CTX_free(a->node_ctx);
    EVP_PKEY_free(a->renew_key);
    EVP_PKEY_free(a->enroll_node_key);
    EVP_PKEY_free(a->enroll_sim_key);
    free(a->enroll_body);
    free(a->instances);
    agent_state_free(a->state);
    if (a->dns)
        evdns_base_free(a->dns, 0);
    if (a->base)
        event_base_free(a->base);
}

static int
run(struct agent *a)
{
    char hostname[AGENT_ID_MAX] = "";
    struct event *sigterm, *sigint;
    int r;

    r = agent_state_dir_prepare(a->opt.state_dir);
    if (r < 0)
        return log_error_errno(r, "Cannot use state directory '%s': %m", a->opt.state_dir);
    r = load_state(a, hostname);
    if (r < 0)
        return r;
    a->base = event_loop_new();
    if (!a->base)
        return log_error_errno(-ENOMEM, "Cannot create the event loop");
    a->dns = evdns_base_new(a->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (!a->dns)
        a->dns = evdns_base_new(a->base, 0); /* no resolv.conf: numeric addresses still work */
    /* Listen first: a port in use must not cost a single-use join token. */
    r = agent_server_start(a);
    if (r < 0)
        return r;
    r = a->state ? agent_enrolled(a) : agent_enroll_start(a);
    if (r < 0)
        return r;
    sigterm = evsignal_new(a->base, SIGTERM, on_signal, a);
    sigint = evsignal_new(a->base, SIGINT, on_signal, a);
    if (!sigterm || !sigint || evsignal_add(sigterm, NULL) < 0 || evsignal_add(sigint, NULL) < 0)
        return log_error_errno(-ENOMEM, "Cannot install signal handlers");
    event_base_dispatch(a->base);
    event_free(sigterm);
    event_free(sigint);
    return a->exit_code ? -ECANCELED : 0;
}

int
main(int argc, char **argv)
{
    enum log_level level = LOG_LEVEL_INFO;
    struct agent a = { .manager_state = -1 };
    int r;

    r = parse_args(argc, argv, &a.opt, &level);
    if (r != 0)
        return r > 0 ? EXIT_SUCCESS : 2;
    log_setup("cloister-agent", level, false);
    signal(SIGPIPE, SIG_IGN);
    r = run(&a);
    agent_release(&a);
    return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
