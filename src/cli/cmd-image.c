/* cloister image: container images on this machine, no manager needed. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "convert.h"
#include "manifest.h"

#define APP_CONFIG_MAX (1u << 20)
#define PROGRESS_EVERY (64u << 20)

enum {
    OPT_INPUT = 0x100,
    OPT_OUTPUT,
    OPT_APP_CONFIG,
    OPT_SIGNER_KEY,
    OPT_INIT,
};

struct image_opts {
    const char *input, *output, *app_config, *signer_key, *init;
};

static int
image_on_flag(void *userdata, int opt, const char *arg)
{
    struct image_opts *o = userdata;

    switch (opt) {
    case OPT_INPUT:
        o->input = arg;
        return 0;
    case OPT_OUTPUT:
        o->output = arg;
        return 0;
    case OPT_APP_CONFIG:
        o->app_config = arg;
        return 0;
    case OPT_SIGNER_KEY:
        o->signer_key = arg;
        return 0;
    case OPT_INIT:
        o->init = arg;
        return 0;
    default:
        return 0;
    }
}

static const struct option convert_options[] = {
    { "input", required_argument, NULL, OPT_INPUT },
    { "output", required_argument, NULL, OPT_OUTPUT },
    { "app-config", required_argument, NULL, OPT_APP_CONFIG },
    { "signer-key", required_argument, NULL, OPT_SIGNER_KEY },
    { "init", required_argument, NULL, OPT_INIT },
    CLI_OPTION_END,
};

static const struct cli_cmd convert_cmd = {
    .name = "image convert",
    .usage = "Usage: cloister image convert --input oci:DIR[:TAG] --output oci:DIR[:TAG]\n"
             "           --app-config APP.json [--signer-key PEM] [--init CLOISTER_INIT]\n"
             "\n"
             "Convert a container image into a confidential image on this machine (no manager\n"
             "needed): the input's layers plus one with cloister-init and the manifest of the\n"
             "image's files, cloister-init as the entrypoint (docs/convert.md). Prints the\n"
             "measurement to register the build with: mrenclave, mrsigner, manifest_digest,\n"
             "tree_digest, isvprodid, isvsvn and image_digest, one 'name value' line each.\n"
             "\n"
             "Flags:\n"
             "  --input oci:DIR[:TAG]   an OCI layout and tag (default: its only image)\n"
             "  --output oci:DIR[:TAG]  where to write (created if missing; TAG default latest)\n"
             "  --app-config FILE       the app's settings, as 'cloister app show --json' prints\n"
             "                          them (isvprodid, isvsvn, mem_size, threads,\n"
             "                          advanced_settings.certificate, ...)\n"
             "  --signer-key PEM        private key that signs the manifest (mrsigner is the\n"
             "                          SHA-256 of its public key); default: unsigned, zeros\n"
             "  --init FILE             the cloister-init to put in the image (env CLOISTER_INIT;\n"
             "                          default: the one installed beside this program)\n"
             "\n"
             "Example:\n"
             "  cloister image convert --input oci:./flask:1.0 --output oci:./flask-conf:1.0 \\\n"
             "      --app-config flask-app.json --signer-key signer.pem\n",
    .options = convert_options,
    .required = (const char *const[]){ "input", "output", "app-config", NULL },
};

/* "oci:DIR[:TAG]" into dir and tag (NULL when absent); both malloc'd. */
static int
parse_ref(const char *flag, const char *ref, char **ret_dir, char **ret_tag)
{
    const char *path, *colon;

    if (strncmp(ref, "oci:", 4) != 0)
        return cli_usage_error(&convert_cmd,
                               "%s: only oci:DIR[:TAG] is supported by this version (registry "
                               "references and docker-archive: come with the next one)",
                               flag);
    path = ref + 4;
    colon = strrchr(path, ':');
    if (colon && strchr(colon, '/'))
        colon = NULL;
    if (colon == path || *path == '\0' || (colon && colon[1] == '\0'))
        return cli_usage_error(&convert_cmd, "%s: %s has an empty directory or tag", flag, ref);
    *ret_dir = colon ? strndup(path, (size_t)(colon - path)) : strdup(path);
    *ret_tag = colon ? strdup(colon + 1) : NULL;
    if (!*ret_dir || (colon && !*ret_tag))
        return cli_oom();
    return 0;
}

static int
read_app_config(const char *path, char **ret, size_t *ret_size)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    _cleanup_free_ char *buf = malloc(APP_CONFIG_MAX + 1);
    size_t n;

    if (!f) {
        cli_error("--app-config: cannot open %s: %s", path, strerror(errno));
        return -errno;
    }
    if (!buf)
        return cli_oom();
    n = fread(buf, 1, APP_CONFIG_MAX + 1, f);
    if (ferror(f) || n > APP_CONFIG_MAX) {
        cli_error("--app-config: cannot read %s: %s", path,
                  n > APP_CONFIG_MAX ? "larger than 1 MiB" : strerror(errno));
        return -EIO;
    }
    *ret = TAKE_PTR(buf);
    *ret_size = n;
    return 0;
}

/* $CLOISTER_INIT, else cloister-init beside this program (installed) or in the build tree. */
static char *
default_init(void)
{
    const char *env = getenv("CLOISTER_INIT");
    char self[PATH_MAX], *p = NULL;
    ssize_t n;

    if (env && *env)
        return strdup(env);
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return NULL;
    self[n] = '\0';
    *strrchr(self, '/') = '\0';
    if (asprintf(&p, "%s/cloister-init", self) < 0)
        return NULL;
    if (access(p, R_OK) == 0)
        return p;
    free(p);
    return asprintf(&p, "%s/../init/cloister-init", self) < 0 ? NULL : p;
}

static void
on_layer_begin(void *userdata, size_t index, size_t count, const char *digest, uint64_t size)
{
    uint64_t *last = userdata;

    *last = 0;
    fprintf(stderr, "Layer %zu/%zu %.19s (%.1f MiB)\n", index + 1, count, digest,
            (double)size / (1 << 20));
}

static void
on_layer_read(void *userdata, uint64_t done, uint64_t size)
{
    uint64_t *last = userdata;

    if (done - *last < PROGRESS_EVERY || done >= size)
        return;
    *last = done;
    fprintf(stderr, "  %.0f of %.0f MiB (%.0f%%)\n", (double)done / (1 << 20),
            (double)size / (1 << 20), 100.0 * (double)done / (double)size);
}

static void
on_step(void *userdata, const char *what)
{
    (void)userdata;
    fprintf(stderr, "%c%s\n", what[0] - 'a' + 'A', what + 1);
}

static void
print_result(const struct convert_result *res)
{
    char hex[65];

    manifest_hex(res->mrenclave, 32, hex);
    printf("mrenclave %s\n", hex);
    manifest_hex(res->mrsigner, 32, hex);
    printf("mrsigner %s\n", hex);
    manifest_hex(res->manifest_digest, 32, hex);
    printf("manifest_digest %s\n", hex);
    manifest_hex(res->tree_digest, 32, hex);
    printf("tree_digest %s\n", hex);
    printf("isvprodid %u\nisvsvn %u\nimage_digest %s\n", res->isvprodid, res->isvsvn,
           res->image_digest);
}

static int
image_convert_verb(struct cli *cli, int argc, char **argv)
{
    struct image_opts o = {};
    _cleanup_free_ char *in_dir = NULL, *in_tag = NULL, *out_dir = NULL, *out_tag = NULL;
    _cleanup_free_ char *config = NULL, *init = NULL;
    struct convert_options co = {};
    struct convert_result res;
    struct image_error e = {};
    uint64_t last_progress = 0;
    int r = cli_parse(cli, &convert_cmd, argc, argv, image_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    r = parse_ref("--input", o.input, &in_dir, &in_tag);
    if (r == 0)
        r = parse_ref("--output", o.output, &out_dir, &out_tag);
    if (r == 0)
        r = read_app_config(o.app_config, &config, &co.app_config_size);
    if (r < 0)
        return r;
    init = o.init ? strdup(o.init) : default_init();
    if (!init)
        return cli_oom();
    co.input_dir = in_dir;
    co.input_tag = in_tag;
    co.output_dir = out_dir;
    co.output_tag = out_tag;
    co.app_config = config;
    co.init_path = init;
    co.signer_key = o.signer_key;
    co.progress = (struct convert_progress){ on_layer_begin, on_layer_read, on_step,
                                             &last_progress };
    r = image_convert(&co, &res, &e);
    if (r < 0) {
        cli_error("%s", e.text[0] ? e.text : strerror(-r));
        return r == -EINVAL ? -EIO : r; /* a bad image is not a usage error */
    }
    print_result(&res);
    return 0;
}

static const struct cli_verb image_verbs[] = {
    { "convert", "convert an image into a confidential image (locally)", image_convert_verb },
};

const struct cli_group cmd_image = { "image", image_verbs, ELEMENTSOF(image_verbs) };
