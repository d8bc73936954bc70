/* cloister-manager: the control plane. See docs/architecture.md. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "config.h"
#include "datadir.h"
#include "listener.h"
#include "log.h"
#include "manager.h"
#include "metrics.h"
#include "ops.h"
#include "store-settings.h"
#include "store.h"
#include "supervisor.h"

static void
usage(FILE *out)
{
    fputs("Usage: cloister-manager [OPTIONS]\n"
          "       cloister-manager COMMAND [OPTIONS]   (COMMAND --help for its options)\n"
          "\n"
          "  --config FILE     INI configuration file (see docs/configuration.md)\n"
          "  --data-dir DIR    data directory (master key, TLS identity, SQLite database)\n"
          "  --listen ADDR     address to serve HTTPS on, host:port (default 127.0.0.1:8443)\n"
          "  --store URL       store, sqlite:PATH (default sqlite:DATA_DIR/cloister.db)\n"
          "  --workers N       API worker processes (default: one per core)\n"
          "  --version         print the version\n"
          "  --help            this text\n"
          "\n"
          "Commands (see docs/operations.md):\n",
          out);
    ops_usage_summary(out);
}

struct flags {
    const char *config_file, *data_dir, *listen, *store, *workers;
};

static int
parse_flags(int argc, char **argv, struct flags *f)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },  { "data-dir", required_argument, NULL, 'd' },
        { "listen", required_argument, NULL, 'l' },  { "store", required_argument, NULL, 's' },
        { "workers", required_argument, NULL, 'w' }, { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },          { NULL, 0, NULL, 0 },
    };
    int opt;

    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            f->config_file = optarg;
            break;
        case 'd':
            f->data_dir = optarg;
            break;
        case 'l':
            f->listen = optarg;
            break;
        case 's':
            f->store = optarg;
            break;
        case 'w':
            f->workers = optarg;
            break;
        case 'V':
            puts("cloister-manager " CLOISTER_VERSION);
            exit(EXIT_SUCCESS);
        case 'h':
            usage(stdout);
            exit(EXIT_SUCCESS);
        default:
            usage(stderr);
            return -EINVAL;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cloister-manager: unexpected argument '%s'\n", argv[optind]);
        return -EINVAL;
    }
    return 0;
}

static int
apply_flags(struct manager_config *c, const struct flags *f)
{
    char *end;

    if (f->data_dir)
        snprintf(c->data_dir, sizeof(c->data_dir), "%s", f->data_dir);
    if (f->listen)
        snprintf(c->listen, sizeof(c->listen), "%s", f->listen);
    if (f->store)
        snprintf(c->store_url, sizeof(c->store_url), "%s", f->store);
    if (f->workers) {
        long n = strtol(f->workers, &end, 10);
        if (*end || n < 0 || n > 256)
            return log_error_errno(EINVAL, "--workers: must be a number from 0 to 256");
        c->workers = (int)n;
    }
    return config_finish(c);
}

/* Applies migrations once, in the supervisor, before any worker opens the store. */
static int
prepare_store(const struct manager_config *config, const struct manager_keys *keys)
{
    _cleanup_(store_closep) struct store *store = NULL;
    int r;

    r = store_open(config->store_url, &store);
    if (r < 0)
        return log_error_errno(r, "Cannot open store '%s': %m", config->store_url);
    r = store_migrate(store);
    if (r < 0)
        return log_error_errno(r, "Cannot migrate store '%s': %m", config->store_url);
    return store_check_master_key(store, keys->key_id);
}

int
main(int argc, char **argv)
{
    static struct manager_config config;
    static struct manager_keys keys;
    struct manager_context ctx = { .config = &config, .keys = &keys, .ca_fd = -1 };
    struct flags flags = { 0 };
    int listen_fd, r, status;

    log_setup("cloister-manager", LOG_LEVEL_INFO, false);
    /* A subcommand (backup, restore, ...) comes first and runs instead of the server. */
    if (argc > 1 && ops_is_command(argv[1]))
        return ops_main(argc - 1, argv + 1);
    config_defaults(&config);
    if (parse_flags(argc, argv, &flags) < 0)
        return 2;
    if (flags.config_file && config_load_file(&config, flags.config_file) < 0)
        return EXIT_FAILURE;
    if (apply_flags(&config, &flags) < 0)
        return 2;
    log_setup("cloister-manager", LOG_LEVEL_INFO, config.log_json);
    umask(0077);
    if (datadir_prepare(&config) < 0 || datadir_load_keys(&config, &keys) < 0 ||
        prepare_store(&config, &keys) < 0)
        return EXIT_FAILURE;
    r = listener_open(config.listen, &listen_fd);
    if (r < 0)
        return EXIT_FAILURE;
    ctx.metrics = metrics_map();
    if (!ctx.metrics)
        return log_error_errno(ENOMEM, "Cannot map the metrics area"), EXIT_FAILURE;
    status = supervisor_run(&ctx, listen_fd);
    close(listen_fd);
    metrics_unmap(ctx.metrics);
    OPENSSL_cleanse(&keys, sizeof(keys));
    return status;
}
