/* cloister image: container images on this machine, no manager needed. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "image-location.h"
#include "manifest.h"

#define APP_CONFIG_MAX (1u << 20)
#define PROGRESS_EVERY (64u << 20)

enum {
    OPT_INPUT = 0x100,
    OPT_OUTPUT,
    OPT_APP_CONFIG,
    OPT_SIGNER_KEY,
    OPT_INIT,
    OPT_SRC_CREDS,
    OPT_DEST_CREDS,
    OPT_PLAIN_HTTP,
    OPT_REGISTRY_CA,
    OPT_CHUNK_SIZE,
    OPT_MANIFEST,
};

struct image_opts {
    const char *input, *output, *app_config, *signer_key, *init;
    const char *src_creds, *dest_creds, *registry_ca;
    bool plain_http;
    uint64_t chunk_size;
    bool manifest;
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
    case OPT_SRC_CREDS:
        o->src_creds = arg;
        return 0;
    case OPT_DEST_CREDS:
        o->dest_creds = arg;
        return 0;
    case OPT_PLAIN_HTTP:
        o->plain_http = true;
        return 0;
    case OPT_REGISTRY_CA:
        o->registry_ca = arg;
        return 0;
    case OPT_MANIFEST:
        o->manifest = true;
        return 0;
    case OPT_CHUNK_SIZE:
        return args_size("--chunk-size", arg, &o->chunk_size);
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
    { "src-creds", required_argument, NULL, OPT_SRC_CREDS },
    { "plain-http", no_argument, NULL, OPT_PLAIN_HTTP },
    { "registry-ca", required_argument, NULL, OPT_REGISTRY_CA },
    { "dest-creds", required_argument, NULL, OPT_DEST_CREDS },
    { "chunk-size", required_argument, NULL, OPT_CHUNK_SIZE },
    CLI_OPTION_END,
};

static const struct cli_cmd convert_cmd = {
    .name = "image convert",
    .usage = "Usage: cloister image convert --input IMAGE --output IMAGE --app-config APP.json\n"
             "           [--signer-key PEM] [--init CLOISTER_INIT] [--src-creds USER:PASS]\n"
             "           [--dest-creds USER:PASS] [--plain-http] [--registry-ca PEM]\n"
             "           [--chunk-size SIZE]\n"
             "\n"
             "Convert a container image into a confidential image on this machine (no manager\n"
             "needed): the input's layers plus one with cloister-init and the manifest of the\n"
             "image's files, cloister-init as the entrypoint (docs/convert.md). Prints the\n"
             "measurement to register the build with: mrenclave, mrsigner, manifest_digest,\n"
             "tree_digest, isvprodid, isvsvn and image_digest, one 'name value' line each.\n"
             "\n"
             "An IMAGE is oci:DIR[:TAG] (an OCI layout; input default: its only image, output\n"
             "default: latest), docker://HOST[:PORT]/REPO[:TAG|@DIGEST] (a registry) or\n"
             "docker-archive:FILE[:REPO:TAG] (a `docker save` tarball).\n"
             "\n"
             "Flags:\n"
             "  --input IMAGE           the image to convert (linux/amd64 of an index)\n"
             "  --output IMAGE          where to write (a layout is created if missing)\n"
             "  --app-config FILE       the app's settings, as 'cloister app show --json' prints\n"
             "                          them (isvprodid, isvsvn, mem_size, threads,\n"
             "                          advanced_settings.certificate, ...)\n"
             "  --signer-key PEM        private key that signs the manifest (mrsigner is the\n"
             "                          SHA-256 of its public key); default: unsigned, zeros\n"
             "  --init FILE             the cloister-init to put in the image (env CLOISTER_INIT;\n"
             "                          default: the one installed beside this program)\n"
             "  --src-creds USER:PASS   credentials of the input registry (env\n"
             "                          CLOISTER_SRC_CREDS); default: anonymous\n"
             "  --dest-creds USER:PASS  credentials of the output registry (env\n"
             "                          CLOISTER_DEST_CREDS)\n"
             "  --plain-http            talk HTTP to loopback registries (127.0.0.1, localhost)\n"
             "  --registry-ca PEM       CA certificates to trust for HTTPS registries\n"
             "  --chunk-size SIZE       push blobs larger than SIZE in chunks of SIZE (default\n"
             "                          64M; smaller blobs go in one PUT)\n"
             "\n"
             "Example:\n"
             "  cloister image convert --input oci:./flask:1.0 --output oci:./flask-conf:1.0 \\\n"
             "      --app-config flask-app.json --signer-key signer.pem\n",
    .options = convert_options,
    .required = (const char *const[]){ "input", "output", "app-config", NULL },
};

static int
parse_location(const struct cli_cmd *cmd, const char *flag, const char *text,
               struct image_location *ret)
{
    struct image_error e = {};
    int r = image_location_parse(text, ret, &e);

    if (r == -EINVAL)
        return cli_usage_error(cmd, "%s: %s", flag, e.text);
    return r < 0 ? cli_oom() : 0;
}

/* USER:PASS (from the flag, else the environment) into o's username and password, which point
 * into creds. */
static int
set_creds(const struct cli_cmd *cmd, const char *flag, const char *env, char *creds,
          struct registry_options *o)
{
    char *colon;

    if (!creds)
        return 0;
    colon = strchr(creds, ':');
    if (!colon || colon == creds)
        return cli_usage_error(cmd, "%s (or $%s) must be USER:PASSWORD", flag, env);
    *colon = '\0';
    o->username = creds;
    o->password = colon + 1;
    return 0;
}

static char *
creds_of(const char *flag_value, const char *env)
{
    const char *v = flag_value ? flag_value : getenv(env);

    return v && *v ? strdup(v) : NULL;
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

/* A "name <64 hex digits>" line. */
static void
print_digest(const char *name, const uint8_t digest[32])
{
    char hex[65];

    manifest_hex(digest, 32, hex);
    printf("%s %s\n", name, hex);
}

static void
print_result(const struct convert_result *res)
{
    print_digest("mrenclave", res->mrenclave);
    print_digest("mrsigner", res->mrsigner);
    print_digest("manifest_digest", res->manifest_digest);
    print_digest("tree_digest", res->tree_digest);
    printf("isvprodid %u\nisvsvn %u\nimage_digest %s\n", res->isvprodid, res->isvsvn,
           res->image_digest);
}

/* Work that uses a temporary directory, run in a thread of its own while this one waits for it
 * or for SIGINT, SIGTERM or SIGHUP: then the directory (a pulled image, a converted one) is
 * removed before the program ends, which a signal handler could not do safely. */
struct interruptible {
    int (*run)(void *userdata);
    void *userdata;
    pthread_t waiter;
    int result;
};

static void *
interruptible_thread(void *p)
{
    struct interruptible *job = p;

    job->result = job->run(job->userdata);
    pthread_kill(job->waiter, SIGUSR1);
    return NULL;
}

static int
run_interruptible(int (*run)(void *userdata), void *userdata)
{
    struct interruptible job = { .run = run, .userdata = userdata, .waiter = pthread_self() };
    sigset_t wait_for, old;
    pthread_t thread;
    int sig = 0;

    sigemptyset(&wait_for);
    sigaddset(&wait_for, SIGINT);
    sigaddset(&wait_for, SIGTERM);
    sigaddset(&wait_for, SIGHUP);
    sigaddset(&wait_for, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &wait_for, &old);
    if (pthread_create(&thread, NULL, interruptible_thread, &job) != 0) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return run(userdata);
    }
    while (sigwait(&wait_for, &sig) == 0 && sig != SIGUSR1) {
        image_scratch_remove();
        fprintf(stderr, "error: interrupted (signal %d); temporary files removed\n", sig);
        _exit(128 + sig);
    }
    pthread_join(thread, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return job.result;
}

struct convert_call {
    struct image_location *loc;
    struct registry_options *src, *dest;
    struct convert_options *co;
    struct convert_result *res;
    struct image_error *e;
};

static int
convert_call_run(void *p)
{
    struct convert_call *c = p;

    return image_convert_locations(&c->loc[0], c->src, &c->loc[1], c->dest, c->co, c->res, c->e);
}

struct inspect_call {
    struct image_location *loc;
    struct registry_options *reg;
    struct inspect_result *res;
    struct image_error *e;
};

static int
inspect_call_run(void *p)
{
    struct inspect_call *c = p;

    return image_inspect_location(c->loc, c->reg, c->res, c->e);
}

static void locations_release(struct image_location (*l)[2])
{
    image_location_release(&(*l)[0]);
    image_location_release(&(*l)[1]);
}

static int
image_convert_verb(struct cli *cli, int argc, char **argv)
{
    struct image_opts o = {};
    _cleanup_(locations_release) struct image_location loc[2] = {};
    _cleanup_free_ char *config = NULL, *init = NULL;
    _cleanup_(secret_freep) char *src_creds = NULL, *dest_creds = NULL;
    struct registry_options src = {}, dest = {};
    struct convert_options co = {};
    struct convert_result res;
    struct image_error e = {};
    uint64_t last_progress = 0;
    int r = cli_parse(cli, &convert_cmd, argc, argv, image_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    r = parse_location(&convert_cmd, "--input", o.input, &loc[0]);
    if (r == 0)
        r = parse_location(&convert_cmd, "--output", o.output, &loc[1]);
    src_creds = creds_of(o.src_creds, "CLOISTER_SRC_CREDS");
    dest_creds = creds_of(o.dest_creds, "CLOISTER_DEST_CREDS");
    if (r == 0)
        r = set_creds(&convert_cmd, "--src-creds", "CLOISTER_SRC_CREDS", src_creds, &src);
    if (r == 0)
        r = set_creds(&convert_cmd, "--dest-creds", "CLOISTER_DEST_CREDS", dest_creds, &dest);
    if (r == 0 && loc[1].kind == IMAGE_LOCATION_REGISTRY && loc[1].ref.digest)
        r = cli_usage_error(&convert_cmd, "--output: push to a tag, not a digest");
    if (r == 0)
        r = read_app_config(o.app_config, &config, &co.app_config_size);
    if (r < 0)
        return r;
    init = o.init ? strdup(o.init) : default_init();
    if (!init)
        return cli_oom();
    src.plain_http = dest.plain_http = o.plain_http;
    src.ca_file = dest.ca_file = o.registry_ca;
    dest.chunk_size = o.chunk_size;
    co.app_config = config;
    co.init_path = init;
    co.signer_key = o.signer_key;
    co.progress =
        (struct convert_progress){ on_layer_begin, on_layer_read, on_step, &last_progress };
    r = run_interruptible(convert_call_run,
                          &(struct convert_call){ loc, &src, &dest, &co, &res, &e });
    if (r < 0) {
        cli_error("%s", e.text[0] ? e.text : strerror(-r));
        return r == -EINVAL ? -EIO : r; /* a bad image is not a usage error */
    }
    print_result(&res);
    return 0;
}

static const struct option inspect_options[] = {
    { "src-creds", required_argument, NULL, OPT_SRC_CREDS },
    { "plain-http", no_argument, NULL, OPT_PLAIN_HTTP },
    { "registry-ca", required_argument, NULL, OPT_REGISTRY_CA },
    { "manifest", no_argument, NULL, OPT_MANIFEST },
    CLI_OPTION_END,
};

static const struct cli_cmd inspect_cmd = {
    .name = "image inspect",
    .usage = "Usage: cloister image inspect IMAGE [--manifest] [--src-creds USER:PASS]\n"
             "           [--plain-http] [--registry-ca PEM]\n"
             "\n"
             "Show what a converted image will measure as: reads its /.cloister layer (checking\n"
             "the layer's digest), computes the measurement from the manifest and cloister-init\n"
             "there, checks the manifest's signature and the image's labels. Prints 'name value'\n"
             "lines; fails (exit 1) when the signature or the labels do not match. IMAGE is\n"
             "oci:DIR[:TAG], docker://HOST[:PORT]/REPO[:TAG|@DIGEST] or\n"
             "docker-archive:FILE[:REPO:TAG].\n"
             "\n"
             "Flags:\n"
             "  --manifest              print /.cloister/manifest.json instead\n"
             "  --src-creds USER:PASS   registry credentials (env CLOISTER_SRC_CREDS)\n"
             "  --plain-http            talk HTTP to loopback registries\n"
             "  --registry-ca PEM       CA certificates to trust for HTTPS registries\n"
             "\n"
             "Example:\n"
             "  cloister image inspect oci:./flask-conf:1.0\n",
    .options = inspect_options,
    .min_args = 1,
    .max_args = 1,
    .args = "IMAGE",
};

static const char *const signature_names[] = { "unsigned", "valid", "INVALID" };

static void
print_inspection(const struct inspect_result *res)
{
    const struct manifest *m = res->manifest;

    printf("image_digest %s\n", res->image_digest);
    print_digest("mrenclave", res->mrenclave);
    print_digest("mrsigner", m->signer);
    print_digest("manifest_digest", m->digest);
    print_digest("tree_digest", m->tree_digest);
    print_digest("init_digest", res->init_digest);
    printf("isvprodid %u\nisvsvn %u\n", m->isvprodid, m->isvsvn);
    printf("signature %s\n", signature_names[res->signature]);
    printf("labels %s\n", res->labels_match ? "match" : "DIFFER");
    printf("entries %zu\n", m->n_entries);
    printf("check %s\n", m->check == MANIFEST_CHECK_FULL ? "full" : "sampled");
    printf("domain %s\n", m->certificate.subject ? m->certificate.subject : "");
    printf("user %s\n", m->user ? m->user : "");
}

static int
image_inspect_verb(struct cli *cli, int argc, char **argv)
{
    struct image_opts o = {};
    _cleanup_(image_location_release) struct image_location loc = {};
    _cleanup_(inspect_result_release) struct inspect_result res = {};
    _cleanup_(secret_freep) char *creds = NULL;
    struct registry_options reg = {};
    struct image_error e = {};
    int r = cli_parse(cli, &inspect_cmd, argc, argv, image_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    r = parse_location(&inspect_cmd, "IMAGE", argv[0], &loc);
    creds = creds_of(o.src_creds, "CLOISTER_SRC_CREDS");
    if (r == 0)
        r = set_creds(&inspect_cmd, "--src-creds", "CLOISTER_SRC_CREDS", creds, &reg);
    if (r < 0)
        return r;
    reg.plain_http = o.plain_http;
    reg.ca_file = o.registry_ca;
    r = run_interruptible(inspect_call_run, &(struct inspect_call){ &loc, &reg, &res, &e });
    if (r < 0) {
        cli_error("%s", e.text[0] ? e.text : strerror(-r));
        return r == -EINVAL ? -EIO : r;
    }
    if (o.manifest)
        fwrite(res.manifest_text, 1, res.manifest_size, stdout);
    else
        print_inspection(&res);
    if (res.signature == MANIFEST_BAD_SIGNATURE) {
        cli_error("bad signature: %s", res.signature_problem);
        return -EIO;
    }
    if (!res.labels_match) {
        cli_error("the image's labels dev.cloister.mrenclave/mrsigner are not its measurement");
        return -EIO;
    }
    return 0;
}

static const struct cli_verb image_verbs[] = {
    { "convert", "convert an image into a confidential image (locally)", image_convert_verb },
    { "inspect", "show a converted image's measurement, signature and manifest",
      image_inspect_verb },
};

const struct cli_group cmd_image = { "image", image_verbs, ELEMENTSOF(image_verbs) };
