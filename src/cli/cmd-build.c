/* cloister build: builds (measured images) of applications. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "jval.h"
#include "output.h"
#include "resource.h"

#define MEASUREMENT_HEX_DIGITS 64u
#define BUILD_ISVSVN_MAX 65535u
#define BUILD_IMAGE_SIZE_MAX (UINT64_C(1) << 50)

enum {
    OPT_APP = 0x100,
    OPT_MRENCLAVE,
    OPT_MRSIGNER,
    OPT_ISVSVN,
    OPT_PLATFORM,
    OPT_DEBUG,
    OPT_IMAGE,
    OPT_VERSION,
    OPT_IMAGE_SHA,
    OPT_IMAGE_SIZE,
    OPT_STATUS,
};

static const char *const platforms[] = { "sim", "sgx", "tdx", "snp" };
static const char *const statuses[] = { "CONVERTING", "PENDING", "WHITELISTED", "REJECTED",
                                        "FAILED" };

struct build_opts {
    const char *app;
    const char *mrenclave, *mrsigner;
    const char *platform;
    const char *image, *version, *image_sha;
    const char *status;
    bool has_isvsvn, has_image_size, debug;
    uint64_t isvsvn, image_size;
};

static int
build_on_flag(void *userdata, int opt, const char *arg)
{
    struct build_opts *o = userdata;

    switch (opt) {
    case OPT_APP:
        o->app = arg;
        return 0;
    case OPT_MRENCLAVE:
        o->mrenclave = arg;
        return args_hex("--mrenclave", arg, MEASUREMENT_HEX_DIGITS);
    case OPT_MRSIGNER:
        o->mrsigner = arg;
        return args_hex("--mrsigner", arg, MEASUREMENT_HEX_DIGITS);
    case OPT_ISVSVN:
        o->has_isvsvn = true;
        return args_uint("--isvsvn", arg, 0, BUILD_ISVSVN_MAX, &o->isvsvn);
    case OPT_PLATFORM:
        return args_choice("--platform", arg, platforms, ELEMENTSOF(platforms), &o->platform);
    case OPT_DEBUG:
        o->debug = true;
        return 0;
    case OPT_IMAGE:
        o->image = arg;
        return 0;
    case OPT_VERSION:
        o->version = arg;
        return 0;
    case OPT_IMAGE_SHA:
        o->image_sha = arg;
        return 0;
    case OPT_IMAGE_SIZE:
        o->has_image_size = true;
        return args_size("--image-size", arg, &o->image_size);
    case OPT_STATUS:
        return args_choice("--status", arg, statuses, ELEMENTSOF(statuses), &o->status);
    default:
        return 0;
    }
}

static int
build_body(const struct build_opts *o, const char *app_id, json_t **ret)
{
    const struct jval_field fields[] = {
        { "platform", o->platform },
        { "docker_image_name", o->image },
        { "docker_version", o->version },
        { "docker_image_sha", o->image_sha },
        {},
    };
    const struct jval_number numbers[] = {
        { "isvsvn", o->has_isvsvn, o->isvsvn },
        { "docker_image_size", o->has_image_size, o->image_size },
        { "debug", o->debug, true, true },
        {},
    };
    _cleanup_json_ json_t *body = json_object();
    int r = body ? jval_set_str(body, "app_id", app_id) : -ENOMEM;

    /* Measurements are sent in lower case, as the server stores them. */
    if (r >= 0)
        r = jval_set_new(body, "mrenclave", jval_string_lower(o->mrenclave));
    if (r >= 0)
        r = jval_set_new(body, "mrsigner", jval_string_lower(o->mrsigner));
    if (r >= 0)
        r = jval_set_fields(body, fields);
    if (r >= 0)
        r = jval_set_numbers(body, numbers);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(body);
    return 0;
}

static const struct column build_columns[] = {
    { "BUILD_ID", "build_id", COLUMN_TEXT, 0, NULL },
    { "APP", "app_name", COLUMN_TEXT, 24, NULL },
    { "PLATFORM", "platform", COLUMN_TEXT, 0, NULL },
    { "STATUS", "status.status", COLUMN_TEXT, 0, NULL },
    { "MRENCLAVE", "enclave_info.mrenclave", COLUMN_SHORT, 0, NULL },
    { "ISVSVN", "enclave_info.isvsvn", COLUMN_TEXT, 0, NULL },
    { "DEBUG", "enclave_info.debug", COLUMN_TEXT, 0, NULL },
    { "VERSION", "docker_info.docker_version", COLUMN_TEXT, 20, NULL },
    { "CREATED", "created_at", COLUMN_TIME, 0, NULL },
};

static const struct resource build_resource = {
    "/v1/builds", "build_id", "build", "builds", build_columns, ELEMENTSOF(build_columns),
};

static const struct option register_options[] = {
    { "app", required_argument, NULL, OPT_APP },
    { "mrenclave", required_argument, NULL, OPT_MRENCLAVE },
    { "mrsigner", required_argument, NULL, OPT_MRSIGNER },
    { "isvsvn", required_argument, NULL, OPT_ISVSVN },
    { "platform", required_argument, NULL, OPT_PLATFORM },
    { "debug", no_argument, NULL, OPT_DEBUG },
    { "image", required_argument, NULL, OPT_IMAGE },
    { "version", required_argument, NULL, OPT_VERSION },
    { "image-sha", required_argument, NULL, OPT_IMAGE_SHA },
    { "image-size", required_argument, NULL, OPT_IMAGE_SIZE },
    CLI_OPTION_END,
};

static const struct cli_cmd register_cmd = {
    .name = "build register",
    .usage = "Usage: cloister build register --app APP_ID|NAME --mrenclave HEX --mrsigner HEX\n"
             "           [--isvsvn N] [--platform sim|sgx|tdx|snp] [--debug] [--image NAME]\n"
             "           [--version TAG] [--image-sha SHA] [--image-size SIZE]\n"
             "\n"
             "Register a build measured elsewhere (POST /v1/builds; WRITER). It starts PENDING "
             "and\n"
             "raises a BUILD_WHITELIST task; once approved it is WHITELISTED.\n"
             "\n"
             "Flags:\n"
             "  --app APP_ID|NAME   the application\n"
             "  --mrenclave HEX     the measurement (64 hex digits)\n"
             "  --mrsigner HEX      the signer (64 hex digits)\n"
             "  --isvsvn N          security version (default: the app's)\n"
             "  --platform P        sim, sgx, tdx or snp\n"
             "  --debug             the enclave is a debug build\n"
             "  --image NAME        docker_image_name of the converted image\n"
             "  --version TAG       docker_version (the image tag)\n"
             "  --image-sha SHA     docker_image_sha (the image digest)\n"
             "  --image-size SIZE   docker_image_size in bytes (or 12M, ...)\n"
             "\n"
             "Example:\n"
             "  cloister build register --app flask-app --platform sim \\\n"
             "      --mrenclave $(echo -n flask-v1 | sha256sum | cut -c1-64) \\\n"
             "      --mrsigner $(echo -n demo-signer | sha256sum | cut -c1-64) \\\n"
             "      --image registry.local/flask-conf --version latest\n",
    .options = register_options,
    .required = (const char *const[]){ "app", "mrenclave", "mrsigner", NULL },
};

static int
build_print_registered(const json_t *build)
{
    const char *task = jval_str(build, "pending_task_id");

    output_line("Registered build %s of app %s: %s.", jval_str(build, "build_id") ?: "?",
                jval_str(build, "app_name") ?: jval_str(build, "app_id") ?: "?",
                jval_str(build, "status.status") ?: "?");
    if (task)
        output_line("Approval task: %s (approve with: cloister task approve %s)", task, task);
    return 0;
}

static int
build_register(struct cli *cli, int argc, char **argv)
{
    struct build_opts o = {};
    _cleanup_json_ json_t *app = NULL, *body = NULL, *build = NULL;
    int r = cli_parse(cli, &register_cmd, argc, argv, build_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    r = app_resolve(cli, o.app, &app);
    if (r < 0)
        return r;
    r = build_body(&o, jval_str(app, "app_id") ?: o.app, &body);
    if (r < 0)
        return cli_build_error(r);
    r = cli_call(cli, "POST", build_resource.path, body, 0, &build);
    if (r < 0)
        return r;
    if (cli->json || cli->quiet)
        return output_object(cli, build, build_resource.id_key);
    return build_print_registered(build);
}

static const struct option list_options[] = {
    { "app", required_argument, NULL, OPT_APP },
    { "status", required_argument, NULL, OPT_STATUS },
    CLI_OPTION_END,
};

static const struct cli_cmd list_cmd = {
    .name = "build list",
    .usage =
        "Usage: cloister build list [--app APP_ID|NAME] [--status STATUS] [--limit N] [--offset "
        "N]\n"
        "                           [--sort KEY:DIR] [--search TEXT]\n"
        "\n"
        "List the builds of the selected account (GET /v1/builds).\n"
        "\n"
        "Flags:\n"
        "  --app APP_ID|NAME  only the builds of this application\n"
        "  --status STATUS    CONVERTING, PENDING, WHITELISTED, REJECTED or FAILED\n" LIST_USAGE
        "\n"
        "Example:\n"
        "  cloister build list --app flask-app --status WHITELISTED\n",
    .options = list_options,
    .list = true,
};

static int
build_list(struct cli *cli, int argc, char **argv)
{
    struct build_opts o = {};
    _cleanup_json_ json_t *app = NULL;
    int r = cli_parse(cli, &list_cmd, argc, argv, build_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    if (o.app)
        r = app_resolve(cli, o.app, &app);
    if (r < 0)
        return r;
    return resource_list(cli, &build_resource,
                         (const struct jval_field[]){
                             { "app_id", app ? jval_str(app, "app_id") : NULL },
                             { "status", o.status },
                             {},
                         });
}

static const struct cli_cmd show_cmd = {
    .name = "build show",
    .usage = "Usage: cloister build show BUILD_ID\n"
             "\n"
             "Show a build: measurement, status, pending task, image (GET /v1/builds/{id}).\n"
             "\n"
             "Example:\n"
             "  cloister build show 0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6\n",
    .min_args = 1,
    .max_args = 1,
    .args = "BUILD_ID",
};

static int
build_show(struct cli *cli, int argc, char **argv)
{
    return resource_verb_show(cli, &show_cmd, &build_resource, argc, argv);
}

static const struct cli_cmd delete_cmd = {
    .name = "build delete",
    .usage = "Usage: cloister build delete BUILD_ID\n"
             "\n"
             "Delete a build; its pending task fails (DELETE /v1/builds/{id}; WRITER).\n"
             "\n"
             "Example:\n"
             "  cloister build delete 0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6\n",
    .min_args = 1,
    .max_args = 1,
    .args = "BUILD_ID",
};

static int
build_delete(struct cli *cli, int argc, char **argv)
{
    return resource_verb_delete(cli, &delete_cmd, &build_resource, argc, argv);
}

static const struct cli_verb build_verbs[] = {
    { "register", "register a build measured elsewhere", build_register },
    { "list", "list builds", build_list },
    { "show", "show a build", build_show },
    { "delete", "delete a build", build_delete },
};

const struct cli_group cmd_build = { "build", build_verbs, ELEMENTSOF(build_verbs) };
