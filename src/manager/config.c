#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "log.h"

void
config_defaults(struct manager_config *config)
{
    *config = (struct manager_config){
        .listen = "127.0.0.1:8443",
        .token_ttl = 3600,
        .argon2_memory_kib = 19456, /* OWASP's Argon2id baseline: 19 MiB, 2 passes */
        .argon2_iterations = 2,
        .allow_signup = true,
        .max_body_bytes = 1 << 20,
        .request_timeout = 30,
        .audit_checkpoint_interval = 10,
        .conversion_workers = 2,
        .conversion_lease = 60,
        .collateral_refresh = 3600,
    };
    snprintf(config->data_dir, sizeof(config->data_dir), "/var/lib/cloister");
}

static int
parse_bool(const char *value, bool *ret)
{
    if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "1"))
        *ret = true;
    else if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "0"))
        *ret = false;
    else
        return -EINVAL;
    return 0;
}

static int
parse_int(const char *value, long long min, long long max, long long *ret)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(value, &end, 10);
    if (errno || end == value || *end || v < min || v > max)
        return -EINVAL;
    *ret = v;
    return 0;
}

static int
set_string(char *dst, size_t size, const char *value)
{
    if (strlen(value) >= size)
        return -ENAMETOOLONG;
    snprintf(dst, size, "%s", value);
    return 0;
}

/* An http(s) URL without a trailing '/', or "" (none). */
static int
set_service_url(char *dst, size_t size, const char *value)
{
    size_t n = strlen(value);

    if (n > 0 && strncmp(value, "https://", 8) != 0 && strncmp(value, "http://", 7) != 0)
        return -EINVAL;
    for (const char *p = value; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return -EINVAL;
    while (n > 0 && value[n - 1] == '/')
        n--;
    if (n >= size)
        return -ENAMETOOLONG;
    snprintf(dst, size, "%.*s", (int)n, value);
    return 0;
}

#define KEY(s, k) (strcmp(section, s) == 0 && strcmp(name, k) == 0)

static int
set_number(struct manager_config *c, const char *section, const char *name, const char *value)
{
    long long v;

    if (KEY("manager", "workers") && parse_int(value, 0, 256, &v) == 0)
        c->workers = (int)v;
    else if (KEY("auth", "token_ttl") && parse_int(value, 1, 30 * 86400, &v) == 0)
        c->token_ttl = v;
    else if (KEY("auth", "argon2_memory_kib") && parse_int(value, 8, 4 << 20, &v) == 0)
        c->argon2_memory_kib = (uint32_t)v;
    else if (KEY("auth", "argon2_iterations") && parse_int(value, 1, 100, &v) == 0)
        c->argon2_iterations = (uint32_t)v;
    else if (KEY("limits", "max_body_bytes") && parse_int(value, 1024, 64 << 20, &v) == 0)
        c->max_body_bytes = v;
    else if (KEY("limits", "request_timeout") && parse_int(value, 1, 3600, &v) == 0)
        c->request_timeout = (int)v;
    else if (KEY("audit", "checkpoint_interval") && parse_int(value, 1, 86400, &v) == 0)
        c->audit_checkpoint_interval = (int)v;
    else if (KEY("conversion", "workers") && parse_int(value, 1, 64, &v) == 0)
        c->conversion_workers = (int)v;
    else if (KEY("conversion", "lease_seconds") && parse_int(value, 3, 3600, &v) == 0)
        c->conversion_lease = (int)v;
    else if (KEY("collateral", "refresh_seconds") && parse_int(value, 1, 7 * 86400, &v) == 0)
        c->collateral_refresh = (int)v;
    else
        return -EINVAL;
    return 0;
}

static int
set_flag(struct manager_config *c, const char *section, const char *name, const char *value)
{
    if (KEY("manager", "dev_mode"))
        return parse_bool(value, &c->dev_mode);
    if (KEY("manager", "log_json"))
        return parse_bool(value, &c->log_json);
    if (KEY("auth", "allow_signup"))
        return parse_bool(value, &c->allow_signup);
    if (KEY("metrics", "allow_remote"))
        return parse_bool(value, &c->metrics_allow_remote);
    if (KEY("conversion", "plain_http_loopback"))
        return parse_bool(value, &c->conversion_plain_http);
    return set_number(c, section, name, value);
}

static int
set_value(struct manager_config *c, const char *section, const char *name, const char *value)
{
    if (KEY("manager", "data_dir"))
        return set_string(c->data_dir, sizeof(c->data_dir), value);
    if (KEY("manager", "listen"))
        return set_string(c->listen, sizeof(c->listen), value);
    if (KEY("manager", "store"))
        return set_string(c->store_url, sizeof(c->store_url), value);
    if (KEY("tls", "cert"))
        return set_string(c->tls_cert, sizeof(c->tls_cert), value);
    if (KEY("tls", "key"))
        return set_string(c->tls_key, sizeof(c->tls_key), value);
    if (KEY("conversion", "init"))
        return set_string(c->conversion_init, sizeof(c->conversion_init), value);
    if (KEY("console", "directory"))
        return set_string(c->console_dir, sizeof(c->console_dir), value);
    if (KEY("collateral", "pccs_url"))
        return set_service_url(c->collateral_pccs_url, sizeof(c->collateral_pccs_url), value);
    if (KEY("collateral", "kds_url"))
        return set_service_url(c->collateral_kds_url, sizeof(c->collateral_kds_url), value);
    return set_flag(c, section, name, value);
}

struct ini_state {
    struct manager_config *config;
    const char *path;
    int error;
};

static int
on_ini_entry(void *user, const char *section, const char *name, const char *value)
{
    struct ini_state *state = user;

    if (set_value(state->config, section, name, value) < 0) {
        log_error("%s: [%s] %s = '%s': unknown setting or invalid value", state->path, section,
                  name, value);
        state->error = -EINVAL;
        return 0;
    }
    return 1;
}

/* Turns inih's result (0, or the first line with a syntax error) into ours. */
static int
check_parsed(const struct ini_state *state, int line)
{
    const struct manager_config *config = state->config;

    if (state->error < 0)
        return state->error;
    if (line > 0)
        return log_error_errno(EINVAL, "%s:%d: syntax error", state->path, line);
    if (!*config->tls_cert != !*config->tls_key)
        return log_error_errno(EINVAL, "%s: [tls] cert and key must be given together",
                               state->path);
    return 0;
}

int
config_load_file(struct manager_config *config, const char *path)
{
    struct ini_state state = { .config = config, .path = path };
    int line = ini_parse(path, on_ini_entry, &state);

    if (line < 0)
        return log_error_errno(ENOENT, "Cannot read configuration file '%s'", path);
    return check_parsed(&state, line);
}

int
config_load_string(struct manager_config *config, const char *text, const char *name)
{
    struct ini_state state = { .config = config, .path = name };

    return check_parsed(&state, ini_parse_string(text, on_ini_entry, &state));
}

int
config_finish(struct manager_config *config)
{
    if (!*config->store_url &&
        snprintf(config->store_url, sizeof(config->store_url), "sqlite:%s/cloister.db",
                 config->data_dir) >= (int)sizeof(config->store_url))
        return -ENAMETOOLONG;
    return 0;
}
