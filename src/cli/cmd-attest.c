/* cloister attest: local evidence tools (libattest), no server involved. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/pem.h>

#include <attest/evidence.h>

#include "args.h"
#include "attest-hw.h"
#include "commands.h"
#include "jval.h"
#include "output.h"

/* Evidence files are small (ATTEST_EVIDENCE_JSON_MAX); read one byte more to tell "too big". */
#define EVIDENCE_FILE_MAX (ATTEST_EVIDENCE_JSON_MAX + 1)

enum {
    OPT_KEY = 0x100,
    OPT_COLLATERAL,
    OPT_AT,
    OPT_ALLOW_DEBUG,
    OPT_ALLOW_MISSING_CRLS,
    OPT_ACCEPT_STATUS,
};

struct attest_opts {
    const char *key;
    struct attest_hw_opts hw;
    bool hw_flags; /* a flag of hardware verification was given */
};

static const struct option verify_options[] = {
    { "key", required_argument, NULL, OPT_KEY },
    { "collateral", required_argument, NULL, OPT_COLLATERAL },
    { "at", required_argument, NULL, OPT_AT },
    { "allow-debug", no_argument, NULL, OPT_ALLOW_DEBUG },
    { "allow-missing-crls", no_argument, NULL, OPT_ALLOW_MISSING_CRLS },
    { "accept-status", required_argument, NULL, OPT_ACCEPT_STATUS },
    CLI_OPTION_END,
};

static const struct cli_cmd verify_cmd = {
    .name = "attest verify",
    .usage =
        "Usage: cloister attest verify FILE --key NODE_KEY.pem\n"
        "       cloister attest verify FILE --collateral DIR|FILE [--at UNIX_TIME] [FLAGS]\n"
        "\n"
        "Verify evidence offline and print its claims. On failure, print the step that\n"
        "failed and why, and exit with status 1.\n"
        "\n"
        "With --key: FILE is an evidence envelope ({\"type\": \"sim\", \"data\"}) checked\n"
        "against the node's attestation public key (PEM). Simulated evidence proves nothing\n"
        "about hardware and is shown as INSECURE.\n"
        "\n"
        "Otherwise FILE is hardware evidence: a raw Intel SGX (v3) or TDX (v4, v5) DCAP quote,\n"
        "a raw SEV-SNP report, an envelope of type sgx-dcap/tdx/snp, or a configfs-tsm report\n"
        "as JSON {provider, outblob, auxblob}. It is verified against the collateral: a\n"
        "folder (Intel: tcb_info.json, qe_identity.json, issuer chains, CRLs; AMD: VCEK or\n"
        "VLEK, ASK or ASVK, ARK) or one JSON/PEM file; see docs/collateral-formats.md. The\n"
        "Intel SGX Root CA and AMD's ARKs are pinned by key. The TCB status and advisories\n"
        "are printed; by default every status verifies except Revoked.\n"
        "\n"
        "Flags:\n"
        "  --key FILE            the node attestation public key (PEM), for sim evidence\n"
        "  --collateral PATH     collateral folder or file (optional for a configfs-tsm SNP\n"
        "                        report that carries its certificates)\n"
        "  --at UNIX_TIME        verify at this time instead of now\n"
        "  --accept-status LIST  comma-separated TCB statuses to accept (e.g.\n"
        "                        UpToDate,SWHardeningNeeded)\n"
        "  --allow-debug         accept debug enclaves, TDs and guests\n"
        "  --allow-missing-crls  verify without CRLs (reported as crls_checked false)\n"
        "\n"
        "Examples:\n"
        "  cloister attest verify evidence.json --key node-attestation.pem\n"
        "  cloister attest verify quote.bin --collateral collateral/ --at 1752919277 --json\n",
    .options = verify_options,
    .min_args = 1,
    .max_args = 1,
    .args = "FILE",
};

/* --accept-status UpToDate,SWHardeningNeeded */
static int
parse_statuses(const char *arg, uint32_t *ret)
{
    _cleanup_free_ char *copy = strdup(arg);
    char *save = NULL;
    uint32_t set = 0;

    if (!copy)
        return cli_oom();
    for (char *name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        enum attest_tcb_status status;

        if (attest_tcb_status_from_name(name, &status) < 0 ||
            status == ATTEST_TCB_SIMULATED_INSECURE)
            return cli_usage_error(NULL, "--accept-status: unknown TCB status '%s'", name);
        set |= ATTEST_POLICY_STATUS(status);
    }
    if (!set)
        return cli_usage_error(NULL, "--accept-status: no status given");
    *ret = set;
    return 0;
}

static int
attest_on_flag(void *userdata, int opt, const char *arg)
{
    struct attest_opts *o = userdata;
    uint64_t at;
    int r = 0;

    o->hw_flags |= opt != OPT_KEY;
    switch (opt) {
    case OPT_KEY:
        o->key = arg;
        break;
    case OPT_COLLATERAL:
        o->hw.collateral = arg;
        break;
    case OPT_AT:
        r = args_uint("--at", arg, 1, INT64_MAX, &at);
        o->hw.at = (int64_t)at;
        break;
    case OPT_ALLOW_DEBUG:
        o->hw.policy.allow_debug = true;
        break;
    case OPT_ALLOW_MISSING_CRLS:
        o->hw.allow_missing_crls = true;
        break;
    case OPT_ACCEPT_STATUS:
        r = parse_statuses(arg, &o->hw.policy.accepted_statuses);
        break;
    }
    return r;
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

/* Every status but Revoked (which fails verification anyway): a stand-alone tool reports the
 * status; --accept-status narrows it. */
#define ATTEST_CLI_DEFAULT_STATUSES                                                                \
    (ATTEST_POLICY_STATUS(ATTEST_TCB_UP_TO_DATE) |                                                 \
     ATTEST_POLICY_STATUS(ATTEST_TCB_SW_HARDENING_NEEDED) |                                        \
     ATTEST_POLICY_STATUS(ATTEST_TCB_CONFIGURATION_NEEDED) |                                       \
     ATTEST_POLICY_STATUS(ATTEST_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED) |                      \
     ATTEST_POLICY_STATUS(ATTEST_TCB_OUT_OF_DATE) |                                                \
     ATTEST_POLICY_STATUS(ATTEST_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED))

static int
attest_verify(struct cli *cli, int argc, char **argv)
{
    struct attest_opts o = { .hw.policy.accepted_statuses = ATTEST_CLI_DEFAULT_STATUSES };
    _cleanup_json_ json_t *claims = NULL;
    EVP_PKEY *key = NULL;
    int r = cli_parse(cli, &verify_cmd, argc, argv, attest_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    if (!o.key)
        return attest_hw_verify(cli, argv[0], &o.hw);
    if (o.hw_flags)
        return cli_usage_error(NULL, "--key (sim evidence) cannot be combined with the flags "
                                     "of hardware evidence");
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
