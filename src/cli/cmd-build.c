/* cloister build: builds (measured images) of applications. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    OPT_TAG,
    OPT_INPUT_TAG,
    OPT_OUTPUT_TAG,
    OPT_INPUT_CREDS,
    OPT_OUTPUT_CREDS,
    OPT_NO_WAIT,
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
    const char *tag, *input_tag, *output_tag, *input_creds, *output_creds;
    bool no_wait;
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
    case OPT_TAG:
        o->tag = arg;
        return 0;
    case OPT_INPUT_TAG:
        o->input_tag = arg;
        return 0;
    case OPT_OUTPUT_TAG:
        o->output_tag = arg;
        return 0;
    case OPT_INPUT_CREDS:
        o->input_creds = arg;
        return 0;
    case OPT_OUTPUT_CREDS:
        o->output_creds = arg;
        return 0;
    case OPT_NO_WAIT:
        o->no_wait = true;
        return 0;
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

static const struct option convert_options[] = {
    { "app", required_argument, NULL, OPT_APP },
    { "tag", required_argument, NULL, OPT_TAG },
    { "input-tag", required_argument, NULL, OPT_INPUT_TAG },
    { "output-tag", required_argument, NULL, OPT_OUTPUT_TAG },
    { "input-creds", required_argument, NULL, OPT_INPUT_CREDS },
    { "output-creds", required_argument, NULL, OPT_OUTPUT_CREDS },
    { "debug", no_argument, NULL, OPT_DEBUG },
    { "no-wait", no_argument, NULL, OPT_NO_WAIT },
    CLI_OPTION_END,
};

static const struct cli_cmd convert_cmd = {
    .name = "build convert",
    .usage = "Usage: cloister build convert --app APP_ID|NAME --tag TAG [--input-tag TAG]\n"
             "           [--output-tag TAG] [--input-creds USER:PASS] [--output-creds USER:PASS]\n"
             "           [--debug] [--no-wait]\n"
             "\n"
             "Convert the app's input image in the manager (POST /v1/builds/convert-app; WRITER):\n"
             "the manager pulls input_image_name:TAG, converts it, pushes output_image_name:TAG\n"
             "and registers the build, PENDING with a BUILD_WHITELIST task. Shows the progress\n"
             "until the build is PENDING (exit 0) or FAILED (exit 1, with the reason).\n"
             "Registry credentials default to the account's registry for each image's host.\n"
             "\n"
             "Flags:\n"
             "  --app APP_ID|NAME       the application\n"
             "  --tag TAG               the image tag (docker_version)\n"
             "  --input-tag TAG         the input's tag, if not TAG\n"
             "  --output-tag TAG        the output's tag, if not TAG\n"
             "  --input-creds USER:PASS credentials for the input registry\n"
             "  --output-creds USER:PASS credentials for the output registry\n"
             "  --debug                 a debug build\n"
             "  --no-wait               print the CONVERTING build and return\n"
             "\n"
             "Example:\n"
             "  cloister build convert --app flask-app --tag 1.0\n",
    .options = convert_options,
    .required = (const char *const[]){ "app", "tag", NULL },
};

/* {"username", "password"} from USER:PASS. */
static int
auth_config(const char *flag, const char *creds, json_t *body, const char *key)
{
    const char *colon = creds ? strchr(creds, ':') : NULL;
    _cleanup_free_ char *user = NULL;

    if (!creds)
        return 0;
    if (!colon || colon == creds)
        return cli_usage_error(&convert_cmd, "%s must be USER:PASSWORD", flag);
    user = strndup(creds, (size_t)(colon - creds));
    if (!user)
        return -ENOMEM;
    return jval_set_new(body, key,
                        json_pack("{s:s, s:s}", "username", user, "password", colon + 1));
}

static int
convert_body(const struct build_opts *o, const char *app_id, json_t **ret)
{
    const struct jval_field fields[] = {
        { "docker_version", o->tag },
        { "input_docker_version", o->input_tag },
        { "output_docker_version", o->output_tag },
        {},
    };
    _cleanup_json_ json_t *body = json_object();
    int r = body ? jval_set_str(body, "app_id", app_id) : -ENOMEM;

    if (r >= 0)
        r = jval_set_fields(body, fields);
    if (r >= 0 && o->debug)
        r = jval_set_bool(body, "debug", true);
    if (r >= 0)
        r = auth_config("--input-creds", o->input_creds, body, "input_auth_config");
    if (r >= 0)
        r = auth_config("--output-creds", o->output_creds, body, "output_auth_config");
    if (r < 0)
        return r;
    *ret = TAKE_PTR(body);
    return 0;
}

/* The progress while the manager converts: a bar on a terminal, else each new log line. */
static void
show_progress(const json_t *build, size_t *shown)
{
    const char *log = jval_str(build, "conversion.log") ?: "";
    json_int_t pct =
        json_integer_value(json_object_get(json_object_get(build, "conversion"), "progress"));
    size_t len = strlen(log);

    if (isatty(STDERR_FILENO)) {
        const char *last = len ? log + len - 1 : log;
        int bar = (int)(pct * 30 / 100);
        while (last > log && last[-1] != '\n')
            last--;
        if (len > 0 && last == log + len - 1)
            last = "";
        fprintf(stderr, "\r[%.*s%*s] %3d%% %-50.50s", bar, "##############################",
                30 - bar, "", (int)pct, last);
        fflush(stderr);
    } else if (len > *shown) {
        fputs(log + *shown, stderr);
        *shown = len;
    }
}

static int
wait_converted(struct cli *cli, const char *build_id, json_t **ret_build)
{
    const struct timespec pause = { 0, 500 * 1000 * 1000 };
    size_t shown = 0;

    for (;;) {
        _cleanup_json_ json_t *build = NULL;
        const char *status;
        int r = cli_call_id(cli, "GET", build_resource.path, build_id, NULL, NULL, 0, &build);

        if (r < 0)
            return r;
        show_progress(build, &shown);
        status = jval_str(build, "status.status") ?: "";
        if (strcmp(status, "CONVERTING") != 0) {
            if (isatty(STDERR_FILENO))
                fputc('\n', stderr);
            *ret_build = TAKE_PTR(build);
            return 0;
        }
        nanosleep(&pause, NULL);
    }
}

static int
build_convert(struct cli *cli, int argc, char **argv)
{
    struct build_opts o = {};
    _cleanup_json_ json_t *app = NULL, *body = NULL, *build = NULL, *done = NULL;
    const char *log;
    int r = cli_parse(cli, &convert_cmd, argc, argv, build_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    r = app_resolve(cli, o.app, &app);
    if (r >= 0)
        r = convert_body(&o, jval_str(app, "app_id") ?: o.app, &body);
    if (r < 0)
        return cli_build_error(r);
    r = cli_call(cli, "POST", "/v1/builds/convert-app", body, 0, &build);
    if (r < 0)
        return r;
    if (o.no_wait)
        return output_object(cli, build, build_resource.id_key);
    r = wait_converted(cli, jval_str(build, "build_id") ?: "", &done);
    if (r < 0)
        return r;
    if (strcmp(jval_str(done, "status.status") ?: "", "FAILED") == 0) {
        log = jval_str(done, "conversion.log") ?: "";
        log = strstr(log, "error: ") ? strstr(log, "error: ") + 7 : log;
        cli_error("the conversion failed: %.*s", (int)strcspn(log, "\n"), log);
        return -EIO;
    }
    if (cli->json || cli->quiet)
        return output_object(cli, done, build_resource.id_key);
    output_line("Converted: build %s, mrenclave %s, mrsigner %s.", jval_str(done, "build_id"),
                jval_str(done, "enclave_info.mrenclave") ?: "?",
                jval_str(done, "enclave_info.mrsigner") ?: "?");
    return build_print_registered(done);
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

static const struct cli_cmd signer_cmd = {
    .name = "build signer",
    .usage = "Usage: cloister build signer\n"
             "\n"
             "Show the account's image signing key, which signs every conversion in the manager:\n"
             "its signer (the mrsigner of those builds) and public key (GET /v1/signing-key).\n"
             "The account's first conversion makes it.\n"
             "\n"
             "Example:\n"
             "  cloister build signer\n",
    .min_args = 0,
    .max_args = 0,
};

static int
build_signer(struct cli *cli, int argc, char **argv)
{
    _cleanup_json_ json_t *key = NULL;
    int r = cli_parse(cli, &signer_cmd, argc, argv, NULL, NULL, &argc, &argv);

    if (r != 0)
        return r;
    r = cli_call(cli, "GET", "/v1/signing-key", NULL, 0, &key);
    if (r < 0)
        return r;
    return output_object(cli, key, "signer");
}

static const struct cli_verb build_verbs[] = {
    { "register", "register a build measured elsewhere", build_register },
    { "convert", "convert the app's image in the manager and register the build", build_convert },
    { "list", "list builds", build_list },
    { "show", "show a build", build_show },
    { "delete", "delete a build", build_delete },
    { "signer", "show the account's image signing key", build_signer },
};

const struct cli_group cmd_build = { "build", build_verbs, ELEMENTSOF(build_verbs) };
