/* cloister app: applications and their certificate configuration. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "client.h"
#include "commands.h"
#include "jval.h"
#include "output.h"
#include "resource.h"

/* Limits of docs/api.md, checked here so that a bad value is a usage error naming the flag. */
#define APP_DOMAINS_MAX 64u
#define APP_LABELS_MAX 64u
#define APP_ENTRYPOINT_MAX 256u
#define APP_ISV_MAX 65535u
#define APP_THREADS_MAX 4096u
#define APP_MEM_MIN (UINT64_C(64) << 20)
#define APP_MEM_MAX (UINT64_C(1) << 40)
#define APP_BY_NAME_PAGE "1000"

#define DEFAULT_KEY_PATH "/appkey.pem"
#define DEFAULT_CERT_PATH "/appcert.pem"
#define DEFAULT_RSA_SIZE 2048
#define DEFAULT_EC_CURVE "P-256"

enum {
    OPT_NAME = 0x100,
    OPT_DESCRIPTION,
    OPT_INPUT_IMAGE,
    OPT_OUTPUT_IMAGE,
    OPT_ISVPRODID,
    OPT_ISVSVN,
    OPT_MEM_SIZE,
    OPT_THREADS,
    OPT_DOMAIN,
    OPT_KEY_TYPE,
    OPT_KEY_SIZE,
    OPT_CURVE,
    OPT_KEY_PATH,
    OPT_CERT_PATH,
    OPT_CHAIN_PATH,
    OPT_LABEL,
    OPT_ENTRYPOINT,
};

static const char *const key_types[] = { "RSA", "EC" };
static const char *const key_sizes[] = { "2048", "3072", "4096" };
static const char *const curves[] = { "P-256", "P-384" };

/* The flags of create and update; strings are borrowed from argv. */
struct app_opts {
    const char *name, *description, *input_image, *output_image;
    const char *key_type, *curve, *key_path, *cert_path, *chain_path;
    bool has_isvprodid, has_isvsvn, has_mem_size, has_threads, has_key_size;
    uint64_t isvprodid, isvsvn, mem_size, threads, key_size;
    const char *domains[APP_DOMAINS_MAX];
    size_t n_domains;
    const char *labels[APP_LABELS_MAX];
    size_t n_labels;
    const char *entrypoint[APP_ENTRYPOINT_MAX];
    size_t n_entrypoint;
};

static int
app_add(const char **list, size_t *n, size_t max, const char *flag, const char *arg)
{
    if (*n >= max)
        return cli_usage_error(NULL, "%s: at most %zu may be given", flag, max);
    list[(*n)++] = arg;
    return 0;
}

static int
app_parse_mem(const char *arg, uint64_t *ret)
{
    int r = args_size("--mem-size", arg, ret);

    if (r < 0)
        return r;
    if (*ret < APP_MEM_MIN || *ret > APP_MEM_MAX || (*ret & (*ret - 1)) != 0)
        return cli_usage_error(NULL, "--mem-size: must be a power of two from 64M to 1T, got '%s'",
                               arg);
    return 0;
}

static int
app_parse_label(const char *arg)
{
    _cleanup_free_ char *key = NULL;
    const char *value;

    return args_key_value("--label", arg, &key, &value);
}

static int
app_on_number(struct app_opts *o, int opt, const char *arg)
{
    const char *size;
    int r;

    switch (opt) {
    case OPT_ISVPRODID:
        o->has_isvprodid = true;
        return args_uint("--isvprodid", arg, 0, APP_ISV_MAX, &o->isvprodid);
    case OPT_ISVSVN:
        o->has_isvsvn = true;
        return args_uint("--isvsvn", arg, 0, APP_ISV_MAX, &o->isvsvn);
    case OPT_MEM_SIZE:
        o->has_mem_size = true;
        return app_parse_mem(arg, &o->mem_size);
    case OPT_THREADS:
        o->has_threads = true;
        return args_uint("--threads", arg, 1, APP_THREADS_MAX, &o->threads);
    case OPT_KEY_SIZE:
        o->has_key_size = true;
        r = args_choice("--key-size", arg, key_sizes, ELEMENTSOF(key_sizes), &size);
        return r < 0 ? r : args_uint("--key-size", size, 0, UINT16_MAX, &o->key_size);
    default:
        return 0;
    }
}

static int
app_on_certificate(struct app_opts *o, int opt, const char *arg)
{
    switch (opt) {
    case OPT_DOMAIN:
        return app_add(o->domains, &o->n_domains, APP_DOMAINS_MAX, "--domain", arg);
    case OPT_KEY_TYPE:
        return args_choice("--key-type", arg, key_types, ELEMENTSOF(key_types), &o->key_type);
    case OPT_CURVE:
        return args_choice("--curve", arg, curves, ELEMENTSOF(curves), &o->curve);
    case OPT_KEY_PATH:
        o->key_path = arg;
        return 0;
    case OPT_CERT_PATH:
        o->cert_path = arg;
        return 0;
    case OPT_CHAIN_PATH:
        o->chain_path = arg;
        return 0;
    default:
        return app_on_number(o, opt, arg);
    }
}

static int
app_on_flag(void *userdata, int opt, const char *arg)
{
    struct app_opts *o = userdata;
    int r;

    switch (opt) {
    case OPT_NAME:
        o->name = arg;
        return 0;
    case OPT_DESCRIPTION:
        o->description = arg;
        return 0;
    case OPT_INPUT_IMAGE:
        o->input_image = arg;
        return 0;
    case OPT_OUTPUT_IMAGE:
        o->output_image = arg;
        return 0;
    case OPT_LABEL:
        r = app_parse_label(arg);
        return r < 0 ? r : app_add(o->labels, &o->n_labels, APP_LABELS_MAX, "--label", arg);
    case OPT_ENTRYPOINT:
        return app_add(o->entrypoint, &o->n_entrypoint, APP_ENTRYPOINT_MAX, "--entrypoint", arg);
    default:
        return app_on_certificate(o, opt, arg);
    }
}

static bool
app_has_cert_flags(const struct app_opts *o)
{
    return o->n_domains || o->key_type || o->has_key_size || o->curve || o->key_path ||
           o->cert_path || o->chain_path;
}

static int
app_body_scalars(const struct app_opts *o, json_t *body)
{
    const struct jval_field fields[] = {
        { "name", o->name },
        { "description", o->description },
        { "input_image_name", o->input_image },
        { "output_image_name", o->output_image },
        {},
    };
    const struct jval_number numbers[] = {
        { "isvprodid", o->has_isvprodid, o->isvprodid },
        { "isvsvn", o->has_isvsvn, o->isvsvn },
        { "mem_size", o->has_mem_size, o->mem_size },
        { "threads", o->has_threads, o->threads },
        {},
    };
    int r = jval_set_fields(body, fields);

    return r < 0 ? r : jval_set_numbers(body, numbers);
}

/* The --domain values, lower-cased (DNS names compare without case). */
static int
app_domains(const struct app_opts *o, json_t **ret)
{
    _cleanup_json_ json_t *array = json_array();

    if (!array)
        return -ENOMEM;
    for (size_t i = 0; i < o->n_domains; i++)
        if (json_array_append_new(array, jval_string_lower(o->domains[i])) < 0)
            return -ENOMEM;
    *ret = TAKE_PTR(array);
    return 0;
}

static int
app_labels(const struct app_opts *o, json_t **ret)
{
    _cleanup_json_ json_t *labels = json_object();

    if (!labels)
        return -ENOMEM;
    for (size_t i = 0; i < o->n_labels; i++) {
        _cleanup_free_ char *key = NULL;
        const char *value;
        int r = args_key_value("--label", o->labels[i], &key, &value);

        if (r >= 0)
            r = jval_set_str(labels, key, value);
        if (r < 0)
            return r;
    }
    *ret = TAKE_PTR(labels);
    return 0;
}

/* --entrypoint given once as a JSON array ('["python3","app.py"]'), or once per element. */
static int
app_entrypoint(const struct app_opts *o, json_t **ret)
{
    _cleanup_json_ json_t *array = NULL;
    json_t *e;
    size_t i;

    if (o->n_entrypoint == 1 && o->entrypoint[0][0] == '[') {
        array = json_loads(o->entrypoint[0], 0, NULL);
        json_array_foreach(array, i, e)
            if (!json_is_string(e))
                break;
        if (!json_is_array(array) || i < json_array_size(array))
            return cli_usage_error(NULL, "--entrypoint: '%s' is not a JSON array of strings",
                                   o->entrypoint[0]);
        *ret = TAKE_PTR(array);
        return 0;
    }
    array = json_array();
    if (!array)
        return -ENOMEM;
    for (i = 0; i < o->n_entrypoint; i++) {
        int r = jval_append_str(array, o->entrypoint[i]);

        if (r < 0)
            return r;
    }
    *ret = TAKE_PTR(array);
    return 0;
}

/* Sets key_type and key_param: the flags, else what cert has, else RSA 2048 / EC P-256. */
static int
app_cert_key(const struct app_opts *o, json_t *cert)
{
    const char *old_type = jval_str(cert, "key_type");
    const char *type = o->key_type ? o->key_type : old_type ? old_type : "RSA";
    bool rsa = strcmp(type, "RSA") == 0;
    bool keep = old_type && strcmp(old_type, type) == 0 && json_object_get(cert, "key_param");
    json_t *param = NULL;
    int r;

    if (o->has_key_size && !rsa)
        return cli_usage_error(NULL, "--key-size: applies to RSA keys; use --curve for EC keys");
    if (o->curve && rsa)
        return cli_usage_error(NULL, "--curve: applies to EC keys; add --key-type EC");
    r = jval_set_str(cert, "key_type", type);
    if (r < 0)
        return r;
    if (o->has_key_size)
        param = json_pack("{s:I}", "size", (json_int_t)o->key_size);
    else if (o->curve)
        param = json_pack("{s:s}", "curve", o->curve);
    else if (keep)
        return 0;
    else
        param = rsa ? json_pack("{s:i}", "size", DEFAULT_RSA_SIZE)
                    : json_pack("{s:s}", "curve", DEFAULT_EC_CURVE);
    return jval_set_new(cert, "key_param", param);
}

static int
app_cert_path(json_t *cert, const char *key, const char *given, const char *fallback)
{
    if (given)
        return jval_set_str(cert, key, given);
    if (json_is_string(json_object_get(cert, key)) || !fallback)
        return 0;
    return jval_set_str(cert, key, fallback);
}

/* Applies the certificate flags to cert (the app's current configuration, or empty). */
static int
app_cert_apply(const struct app_opts *o, json_t *cert)
{
    _cleanup_json_ json_t *names = NULL;
    int r = jval_set_str(cert, "issuer", "MANAGER_CA");

    if (r >= 0 && o->n_domains > 0)
        r = app_domains(o, &names);
    if (r >= 0 && names)
        r = jval_set_str(cert, "subject", json_string_value(json_array_get(names, 0)));
    if (r >= 0 && names)
        r = jval_set_new(cert, "alt_names", TAKE_PTR(names));
    if (r >= 0)
        r = app_cert_key(o, cert);
    if (r >= 0)
        r = app_cert_path(cert, "key_path", o->key_path, DEFAULT_KEY_PATH);
    if (r >= 0)
        r = app_cert_path(cert, "cert_path", o->cert_path, DEFAULT_CERT_PATH);
    if (r >= 0)
        r = app_cert_path(cert, "chain_path", o->chain_path, NULL);
    return r;
}

/* advanced_settings for the body: a copy of current's (objects are replaced whole by PATCH)
 * with the entrypoint and certificate flags applied. */
static int
app_advanced(const struct app_opts *o, const json_t *current, json_t **ret)
{
    _cleanup_json_ json_t *adv = json_is_object(current) ? json_deep_copy(current) : json_object();
    _cleanup_json_ json_t *entrypoint = NULL;
    json_t *cert;
    int r = adv ? 0 : -ENOMEM;

    if (r >= 0)
        jval_strip_nulls(adv);
    if (r >= 0 && o->n_entrypoint > 0)
        r = app_entrypoint(o, &entrypoint);
    if (r >= 0 && entrypoint)
        r = jval_set_new(adv, "entrypoint", TAKE_PTR(entrypoint));
    if (r >= 0 && app_has_cert_flags(o) && !json_is_object(json_object_get(adv, "certificate")))
        r = jval_set_new(adv, "certificate", json_object());
    cert = json_object_get(adv, "certificate");
    if (r >= 0 && app_has_cert_flags(o))
        r = app_cert_apply(o, cert);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(adv);
    return 0;
}

/* The create (current NULL) or PATCH body of the given flags. */
static int
app_body(const struct app_opts *o, const json_t *current, json_t **ret)
{
    _cleanup_json_ json_t *body = json_object();
    _cleanup_json_ json_t *domains = NULL, *labels = NULL, *adv = NULL;
    int r = body ? app_body_scalars(o, body) : -ENOMEM;

    if (r >= 0 && o->n_domains > 0)
        r = app_domains(o, &domains);
    if (r >= 0 && domains)
        r = jval_set_new(body, "allowed_domains", TAKE_PTR(domains));
    if (r >= 0 && o->n_labels > 0)
        r = app_labels(o, &labels);
    if (r >= 0 && labels)
        r = jval_set_new(body, "labels", TAKE_PTR(labels));
    if (r >= 0 && (o->n_entrypoint > 0 || app_has_cert_flags(o)))
        r = app_advanced(o, json_object_get(current, "advanced_settings"), &adv);
    if (r >= 0 && adv)
        r = jval_set_new(body, "advanced_settings", TAKE_PTR(adv));
    if (r < 0)
        return r;
    *ret = TAKE_PTR(body);
    return 0;
}

static bool
string_in(const json_t *array, const char *s)
{
    json_t *e;
    size_t i;

    json_array_foreach(array, i, e)
        if (json_is_string(e) && strcmp(json_string_value(e), s) == 0)
            return true;
    return false;
}

/* Appends the app's domains, joined by ", ": only those that wait for approval, or all of
 * them with those marked " (pending)". */
static int
app_add_domains(struct strbuf *sb, const json_t *app, bool only_pending)
{
    const json_t *whitelisted = json_object_get(app, "whitelisted_domains");
    json_t *e;
    size_t i;

    json_array_foreach(json_object_get(app, "allowed_domains"), i, e) {
        const char *domain = json_string_value(e);
        bool pending = domain && !string_in(whitelisted, domain);
        int r;

        if (!domain || (only_pending && !pending))
            continue;
        r = strbuf_addf(sb, "%s%s%s", sb->len > 0 ? ", " : "", domain,
                        pending && !only_pending ? " (pending)" : "");
        if (r < 0)
            return r;
    }
    return 0;
}

static int
app_print_pending(const json_t *app)
{
    _cleanup_(strbuf_release) struct strbuf pending = STRBUF_INIT;
    const char *task = jval_str(app, "pending_task_id");

    if (app_add_domains(&pending, app, true) < 0)
        return cli_oom();
    if (pending.len > 0)
        output_line("Domains awaiting approval: %s%s%s%s", pending.buf, task ? " (task " : "",
                    task ? task : "", task ? ")" : "");
    if (task)
        output_line("Approve with: cloister task approve %s", task);
    return 0;
}

static int
format_domains(const json_t *app, struct strbuf *out)
{
    return app_add_domains(out, app, false);
}

static const struct column app_columns[] = {
    { "APP_ID", "app_id", COLUMN_TEXT, 0, NULL },
    { "NAME", "name", COLUMN_TEXT, 32, NULL },
    { "ISVPRODID", "isvprodid", COLUMN_TEXT, 0, NULL },
    { "ISVSVN", "isvsvn", COLUMN_TEXT, 0, NULL },
    { "MEM", "mem_size", COLUMN_SIZE, 0, NULL },
    { "THREADS", "threads", COLUMN_TEXT, 0, NULL },
    { "DOMAINS", NULL, COLUMN_TEXT, 48, format_domains },
    { "CREATED", "created_at", COLUMN_TIME, 0, NULL },
};

static const struct resource app_resource = {
    "/v1/apps", "app_id", "app", "apps", app_columns, ELEMENTSOF(app_columns),
};

#define APP_FIELDS_USAGE                                                                           \
    "  --name NAME              unique in the account\n"                                           \
    "  --description TEXT\n"                                                                       \
    "  --input-image REF        image to convert, e.g. registry.local/flask:latest\n"              \
    "  --output-image REF       where the converted image goes\n"                                  \
    "  --isvprodid N            product id (0-65535)\n"                                            \
    "  --isvsvn N               security version (0-65535)\n"                                      \
    "  --mem-size SIZE          enclave memory, a power of two: bytes or 512M, 1G, ... (64M-1T)\n" \
    "  --threads N              enclave threads (1-4096)\n"                                        \
    "  --label KEY=VALUE        a label (repeatable; replaces all labels)\n"                       \
    "  --entrypoint ARG         an element of the entrypoint (repeatable), or once as a JSON\n"    \
    "                           array: --entrypoint '[\"python3\",\"app.py\"]'\n"                  \
    "\n"                                                                                           \
    "Certificate (any of these adds advanced_settings.certificate, issued by the manager's CA):\n" \
    "  --domain NAME            a DNS name of the app (repeatable): allowed_domains, and the\n"    \
    "                           certificate's subject (the first) and alt_names. New domains\n"    \
    "                           raise a DOMAIN_WHITELIST task.\n"                                  \
    "  --key-type RSA|EC        default RSA\n"                                                     \
    "  --key-size 2048|3072|4096  RSA key size (default 2048)\n"                                   \
    "  --curve P-256|P-384      EC curve (default P-256)\n"                                        \
    "  --key-path PATH          where the app finds its key (default " DEFAULT_KEY_PATH ")\n"      \
    "  --cert-path PATH         where the app finds its certificate (default " DEFAULT_CERT_PATH   \
    ")\n"                                                                                          \
    "  --chain-path PATH        where the app finds the CA chain (optional)\n"

static const struct option app_options[] = {
    { "name", required_argument, NULL, OPT_NAME },
    { "description", required_argument, NULL, OPT_DESCRIPTION },
    { "input-image", required_argument, NULL, OPT_INPUT_IMAGE },
    { "output-image", required_argument, NULL, OPT_OUTPUT_IMAGE },
    { "isvprodid", required_argument, NULL, OPT_ISVPRODID },
    { "isvsvn", required_argument, NULL, OPT_ISVSVN },
    { "mem-size", required_argument, NULL, OPT_MEM_SIZE },
    { "threads", required_argument, NULL, OPT_THREADS },
    { "domain", required_argument, NULL, OPT_DOMAIN },
    { "key-type", required_argument, NULL, OPT_KEY_TYPE },
    { "key-size", required_argument, NULL, OPT_KEY_SIZE },
    { "curve", required_argument, NULL, OPT_CURVE },
    { "key-path", required_argument, NULL, OPT_KEY_PATH },
    { "cert-path", required_argument, NULL, OPT_CERT_PATH },
    { "chain-path", required_argument, NULL, OPT_CHAIN_PATH },
    { "label", required_argument, NULL, OPT_LABEL },
    { "entrypoint", required_argument, NULL, OPT_ENTRYPOINT },
    CLI_OPTION_END,
};

static const struct cli_cmd create_cmd = {
    .name = "app create",
    .usage =
        "Usage: cloister app create --name NAME --input-image REF --output-image REF\n"
        "           --isvprodid N --isvsvn N --mem-size SIZE --threads N [--description TEXT]\n"
        "           [--domain NAME]... [--key-type RSA|EC] [--key-size N] [--curve C]\n"
        "           [--key-path PATH] [--cert-path PATH] [--chain-path PATH]\n"
        "           [--label KEY=VALUE]... [--entrypoint ARG]...\n"
        "\n"
        "Add an application to the selected account (POST /v1/apps; WRITER).\n"
        "\n"
        "Flags:\n" APP_FIELDS_USAGE "\n"
        "Example:\n"
        "  cloister app create --name flask-app --input-image registry.local/flask:latest \\\n"
        "      --output-image registry.local/flask-conf:latest --isvprodid 1 --isvsvn 1 \\\n"
        "      --mem-size 1G --threads 128 --domain myapp.domain.dom --key-type RSA \\\n"
        "      --key-size 2048 --key-path /appkey.pem --cert-path /appcert.pem\n",
    .options = app_options,
    .required = (const char *const[]){ "name", "input-image", "output-image", "isvprodid", "isvsvn",
                                       "mem-size", "threads", NULL },
};

static int
app_create(struct cli *cli, int argc, char **argv)
{
    struct app_opts o = {};
    _cleanup_json_ json_t *body = NULL, *app = NULL;
    int r = cli_parse(cli, &create_cmd, argc, argv, app_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    r = app_body(&o, NULL, &body);
    if (r < 0)
        return cli_build_error(r);
    r = cli_call(cli, "POST", app_resource.path, body, 0, &app);
    if (r < 0)
        return r;
    if (cli->json || cli->quiet)
        return output_object(cli, app, app_resource.id_key);
    output_line("Created app %s (%s).", jval_str(app, "name") ?: o.name,
                jval_str(app, "app_id") ?: "?");
    return app_print_pending(app);
}

static int
app_find_by_name(struct cli *cli, const char *name, json_t **ret_app)
{
    _cleanup_json_ json_t *resp = NULL;
    json_t *app;
    int r = cli_get(
        cli, app_resource.path,
        (const struct jval_field[]){ { "name", name }, { "limit", APP_BY_NAME_PAGE }, {} }, &resp);

    if (r < 0)
        return r;
    /* The filter may match more loosely than the name; only an exact match counts. */
    app = jval_find(json_object_get(resp, "items"), "name", name, false);
    if (!app) {
        cli_error("no app with the id or name '%s' in the selected account", name);
        return -ENOENT;
    }
    *ret_app = json_incref(app);
    return 0;
}

int
app_resolve(struct cli *cli, const char *ref, json_t **ret_app)
{
    _cleanup_json_ json_t *app = NULL;
    int r;

    if (args_is_uuid(ref)) {
        r = cli_call_id(cli, "GET", app_resource.path, ref, NULL, NULL, CLIENT_QUIET_NOT_FOUND,
                        &app);
        if (r >= 0 && json_is_object(app)) {
            *ret_app = TAKE_PTR(app);
            return 0;
        }
        if (r >= 0) {
            cli_error("unexpected response from %s: no app object", cli->url);
            return -EBADMSG;
        }
        if (r != -ENOENT)
            return r;
    }
    return app_find_by_name(cli, ref, ret_app);
}

static const struct option list_options[] = {
    { "name", required_argument, NULL, OPT_NAME },
    CLI_OPTION_END,
};

static const struct cli_cmd list_cmd = {
    .name = "app list",
    .usage = "Usage: cloister app list [--name NAME] [--limit N] [--offset N] [--sort KEY:DIR]\n"
             "                         [--search TEXT]\n"
             "\n"
             "List the applications of the selected account (GET /v1/apps). Domains not yet "
             "approved\n"
             "are marked (pending). Sort keys: name, created_at, updated_at.\n"
             "\n"
             "Flags:\n"
             "  --name NAME        only the app with this name\n" LIST_USAGE "\n"
             "Example:\n"
             "  cloister app list --sort name:ASC\n",
    .options = list_options,
    .list = true,
};

static int
app_list(struct cli *cli, int argc, char **argv)
{
    struct app_opts o = {};
    int r = cli_parse(cli, &list_cmd, argc, argv, app_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    return resource_list(cli, &app_resource, (const struct jval_field[]){ { "name", o.name }, {} });
}

static const struct cli_cmd show_cmd = {
    .name = "app show",
    .usage = "Usage: cloister app show APP_ID|NAME\n"
             "\n"
             "Show an application (GET /v1/apps/{id}, or GET /v1/apps?name=NAME).\n"
             "\n"
             "Example:\n"
             "  cloister app show flask-app\n",
    .min_args = 1,
    .max_args = 1,
    .args = "APP_ID or NAME",
};

static int
app_show(struct cli *cli, int argc, char **argv)
{
    _cleanup_json_ json_t *app = NULL;
    int r = cli_parse(cli, &show_cmd, argc, argv, NULL, NULL, &argc, &argv);

    if (r != 0)
        return r;
    r = app_resolve(cli, argv[0], &app);
    if (r >= 0)
        r = output_object(cli, app, app_resource.id_key);
    if (r >= 0 && !cli->json && !cli->quiet)
        r = app_print_pending(app);
    return r;
}

static const struct cli_cmd update_cmd = {
    .name = "app update",
    .usage =
        "Usage: cloister app update APP_ID|NAME [FLAGS]\n"
        "\n"
        "Change an application (PATCH /v1/apps/{id}; WRITER). Only the given fields are sent;\n"
        "certificate and entrypoint flags are applied to the app's current advanced_settings,\n"
        "which is sent whole. --domain replaces the list of domains; removed domains lose their\n"
        "approval at once, new ones raise a DOMAIN_WHITELIST task.\n"
        "\n"
        "Flags:\n" APP_FIELDS_USAGE "\n"
        "Example:\n"
        "  cloister app update flask-app --threads 64 --domain myapp.domain.dom \\\n"
        "      --domain api.domain.dom\n",
    .options = app_options,
    .min_args = 1,
    .max_args = 1,
    .args = "APP_ID or NAME",
    .changes = true,
};

static int
app_update(struct cli *cli, int argc, char **argv)
{
    struct app_opts o = {};
    _cleanup_json_ json_t *current = NULL, *body = NULL, *app = NULL;
    int r = cli_parse(cli, &update_cmd, argc, argv, app_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    r = app_resolve(cli, argv[0], &current);
    if (r < 0)
        return r;
    r = app_body(&o, current, &body);
    if (r < 0)
        return cli_build_error(r);
    r = resource_update(cli, &app_resource, jval_str(current, "app_id") ?: argv[0], body, &app);
    if (r >= 0 && !cli->json && !cli->quiet)
        r = app_print_pending(app);
    return r;
}

static const struct cli_cmd delete_cmd = {
    .name = "app delete",
    .usage = "Usage: cloister app delete APP_ID|NAME\n"
             "\n"
             "Delete an application and its builds; their pending tasks fail (DELETE "
             "/v1/apps/{id};\n"
             "WRITER).\n"
             "\n"
             "Example:\n"
             "  cloister app delete flask-app\n",
    .min_args = 1,
    .max_args = 1,
    .args = "APP_ID or NAME",
};

static int
app_delete(struct cli *cli, int argc, char **argv)
{
    _cleanup_json_ json_t *app = NULL;
    const char *id;
    int r = cli_parse(cli, &delete_cmd, argc, argv, NULL, NULL, &argc, &argv);

    if (r != 0)
        return r;
    r = app_resolve(cli, argv[0], &app);
    if (r < 0)
        return r;
    id = jval_str(app, "app_id") ?: argv[0];
    r = cli_call_id(cli, "DELETE", app_resource.path, id, NULL, NULL, 0, NULL);
    if (r < 0)
        return r;
    output_message(cli, "Deleted app %s (%s).", jval_str(app, "name") ?: argv[0], id);
    return 0;
}

static const struct cli_verb app_verbs[] = {
    { "create", "add an application", app_create },
    { "list", "list applications", app_list },
    { "show", "show an application", app_show },
    { "update", "change an application", app_update },
    { "delete", "delete an application and its builds", app_delete },
};

const struct cli_group cmd_app = { "app", app_verbs, ELEMENTSOF(app_verbs) };
