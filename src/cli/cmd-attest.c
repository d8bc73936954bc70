/* cloister attest: local evidence tools (libattest), no server involved. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/pem.h>

#include <attest/evidence.h>

#include "commands.h"
#include "jval.h"
#include "output.h"

/* Evidence files are small (ATTEST_EVIDENCE_JSON_MAX); read one byte more to tell "too big". */
#define EVIDENCE_FILE_MAX (ATTEST_EVIDENCE_JSON_MAX + 1)

enum { OPT_KEY = 0x100 };

struct attest_opts {
    const char *key;
};

static const struct option verify_options[] = {
    { "key", required_argument, NULL, OPT_KEY },
    CLI_OPTION_END,
};

static const char *const verify_required[] = { "key", NULL };

static const struct cli_cmd verify_cmd = {
    .name = "attest verify",
    .usage =
        "Usage: cloister attest verify FILE --key NODE_KEY.pem\n"
        "\n"
        "Verify an evidence envelope ({\"type\", \"data\"} JSON, as apps send it to the agent)\n"
        "offline and print its claims. \"sim\" evidence is checked against the node's\n"
        "attestation public key (PEM); it proves nothing about hardware and is shown as\n"
        "INSECURE. On failure, prints the step that failed and exits with status 1.\n"
        "\n"
        "Flags:\n"
        "  --key FILE         the node attestation public key (PEM)\n"
        "\n"
        "Example:\n"
        "  cloister attest verify evidence.json --key node-attestation.pem\n",
    .options = verify_options,
    .min_args = 1,
    .max_args = 1,
    .args = "FILE",
    .required = verify_required,
};

static int
attest_on_flag(void *userdata, int opt, const char *arg)
{
    struct attest_opts *o = userdata;

    if (opt == OPT_KEY)
        o->key = arg;
    return 0;
}

/* Reads the whole file (at most EVIDENCE_FILE_MAX bytes) into buf. */
static int
read_small_file(const char *path, char *buf, size_t size, size_t *ret_len)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    size_t n;

    if (!f) {
        cli_error("cannot open %s: %m", path);
        return -errno;
    }
    n = fread(buf, 1, size, f);
    if (ferror(f)) {
        cli_error("cannot read %s", path);
        return -EIO;
    }
    *ret_len = n;
    return 0;
}

static int
load_public_key(const char *path, EVP_PKEY **ret_key)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");

    if (!f) {
        cli_error("--key: cannot open %s: %m", path);
        return -errno;
    }
    *ret_key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    if (!*ret_key) {
        cli_error("--key: %s is not a PEM public key", path);
        return -EBADMSG;
    }
    return 0;
}

static void
print_claims(const json_t *claims)
{
    const char *key;
    json_t *value;

    if (json_is_true(json_object_get(claims, "insecure")))
        output_line("INSECURE: simulated evidence; it proves nothing about hardware");
    json_object_foreach((json_t *)claims, key, value) {
        _cleanup_free_ char *text = json_dumps(value, JSON_ENCODE_ANY);
        output_line("%-12s %s", key, json_is_string(value) ? json_string_value(value) : text);
    }
}

static int
verify_file(const char *path, EVP_PKEY *key, json_t **ret_claims)
{
    static char buf[EVIDENCE_FILE_MAX];
    struct attest_evidence *evidence = NULL;
    struct attest_trust trust = { .sim_key = key };
    struct attest_claims claims;
    enum attest_step step = ATTEST_STEP_NONE;
    size_t len = 0;
    int r;

    r = read_small_file(path, buf, sizeof(buf), &len);
    if (r < 0)
        return r;
    r = attest_evidence_parse(buf, len, &evidence, &step);
    if (r >= 0)
        r = attest_evidence_verify(evidence, &trust, &claims, &step);
    attest_evidence_free(evidence);
    if (r < 0) {
        cli_error("%s: verification failed at step '%s': %s", path, attest_step_name(step),
                  strerror(-r));
        return r == -EINVAL ? -EBADMSG : r; /* a bad file is not a usage error */
    }
    r = attest_claims_to_json(&claims, ret_claims);
    return r < 0 ? cli_oom() : 0;
}

static int
attest_verify(struct cli *cli, int argc, char **argv)
{
    struct attest_opts o = {};
    _cleanup_json_ json_t *claims = NULL;
    EVP_PKEY *key = NULL;
    int r = cli_parse(cli, &verify_cmd, argc, argv, attest_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    r = load_public_key(o.key, &key);
    if (r >= 0)
        r = verify_file(argv[0], key, &claims);
    EVP_PKEY_free(key);
    if (r < 0)
        return r;
    if (cli->json)
        return output_json(claims);
    if (!cli->quiet)
        print_claims(claims);
    return 0;
}

static const struct cli_verb attest_verbs[] = {
    { "verify", "verify an evidence file offline and print its claims", attest_verify },
};

const struct cli_group cmd_attest = { "attest", attest_verbs, ELEMENTSOF(attest_verbs) };
