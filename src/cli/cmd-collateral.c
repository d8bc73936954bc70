/* cloister collateral: the hardware verification collateral the manager keeps (POST
 * /v1/collateral, GET /v1/collateral/status). Files are loaded here first with libattest
 * (attest_collateral_load), so a malformed one is named before anything is sent. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include <attest/collateral.h>

#include "commands.h"
#include "jval.h"
#include "output.h"
#include "resource.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct attest_collateral, attest_collateral_free)

enum {
    OPT_KIND = 0x100,
    OPT_SOURCE,
};

struct collateral_opts {
    const char *kind;
    const char *source;
};

static int
collateral_on_flag(void *userdata, int opt, const char *arg)
{
    struct collateral_opts *o = userdata;

    if (opt == OPT_KIND)
        o->kind = arg;
    else if (opt == OPT_SOURCE)
        o->source = arg;
    return 0;
}

/* ---- import ---- */

static const struct column import_columns[] = {
    { "KIND", "kind", COLUMN_TEXT, 0, NULL },
    { "KEY", "key", COLUMN_TEXT, 48, NULL },
    { "RESULT", "result", COLUMN_TEXT, 0, NULL },
    { "ISSUED", "issued", COLUMN_TIME, 0, NULL },
    { "NOT_AFTER", "not_after", COLUMN_TIME, 0, NULL },
};

static bool
is_json_shape(const char *shape)
{
    return strcmp(shape, "directory") != 0 && strcmp(shape, "amd-certificates") != 0;
}

static bool
looks_pem(const struct attest_bytes *b)
{
    return b->data && memmem(b->data, b->size, "-----BEGIN", 10) != NULL;
}

/* files[name] = base64 of b, when b is given. */
static int
add_file(json_t *files, const char *name, const struct attest_bytes *b)
{
    _cleanup_free_ char *b64 = NULL;

    if (!b->data || b->size == 0)
        return 0;
    if (b->size > INT_MAX / 2)
        return -E2BIG;
    b64 = malloc((b->size + 2) / 3 * 4 + 1);
    if (!b64)
        return -ENOMEM;
    EVP_EncodeBlock((unsigned char *)b64, b->data, (int)b->size);
    return jval_set_str(files, name, b64);
}

/* {"files": {...}}: what was loaded, under the names of the directory layout. */
static int
files_body(const struct attest_collateral *c, json_t **ret)
{
    const struct attest_intel_collateral_files *intel = attest_collateral_intel(c);
    const struct attest_snp_cert_files *snp = attest_collateral_snp(c);
    _cleanup_json_ json_t *body = json_object(), *files = json_object();
    int r = body && files ? 0 : -ENOMEM;

    if (r >= 0 && intel) {
        r = add_file(files, "tcb_info.json", &intel->tcb_info);
        if (r >= 0)
            r = add_file(files, "tcb_info_issuer_chain.pem", &intel->tcb_info_issuer_chain);
        if (r >= 0)
            r = add_file(files, "qe_identity.json", &intel->qe_identity);
        if (r >= 0)
            r = add_file(files, "qe_identity_issuer_chain.pem", &intel->qe_identity_issuer_chain);
        if (r >= 0)
            r = add_file(files, looks_pem(&intel->pck_crl) ? "pck_crl.pem" : "pck_crl.der",
                         &intel->pck_crl);
        if (r >= 0)
            r = add_file(files, "pck_crl_issuer_chain.pem", &intel->pck_crl_issuer_chain);
        if (r >= 0)
            r = add_file(files,
                         looks_pem(&intel->root_ca_crl) ? "root_ca_crl.pem" : "root_ca_crl.der",
                         &intel->root_ca_crl);
    }
    /* The loader gives AMD certificates as DER; the role is told by their names, not ours. */
    if (r >= 0 && snp) {
        r = add_file(files, "vcek.der", &snp->vcek);
        if (r >= 0)
            r = add_file(files, "ask.der", &snp->ask);
        if (r >= 0)
            r = add_file(files, "ark.der", &snp->ark);
    }
    if (r >= 0 && json_object_size(files) == 0)
        r = -ENODATA;
    if (r >= 0)
        r = json_object_set(body, "files", files) < 0 ? -ENOMEM : 0;
    if (r < 0)
        return r;
    *ret = TAKE_PTR(body);
    return 0;
}

/* The body that carries path's collateral: a JSON document as it is (bundles may hold several
 * platforms), anything else as the files the loader took from it. */
static int
import_body(const char *path, json_t **ret)
{
    _cleanup_(attest_collateral_freep) struct attest_collateral *c = NULL;
    struct attest_failure failure = { 0 };
    json_error_t error;
    int r = attest_collateral_load(path, &c, &failure);

    if (r < 0) {
        cli_error("%s: %s", path, failure.reason);
        return r == -ENOMEM ? cli_oom() : -EBADMSG;
    }
    if (is_json_shape(attest_collateral_shape(c))) {
        *ret = json_load_file(path, JSON_REJECT_DUPLICATES, &error);
        if (!*ret) {
            cli_error("%s: line %d: %s", path, error.line, error.text);
            return -EBADMSG;
        }
        return 0;
    }
    r = files_body(c, ret);
    if (r == -ENODATA)
        cli_error("%s: no collateral found (see 'cloister collateral import --help')", path);
    else if (r < 0)
        return cli_oom();
    return r;
}

static const struct cli_cmd import_cmd = {
    .name = "collateral import",
    .usage =
        "Usage: cloister collateral import PATH...\n"
        "\n"
        "Import hardware verification collateral into the manager (POST /v1/collateral; system\n"
        "administrators only). Every item is checked by the manager with libattest's verifiers\n"
        "(signatures and chains to Intel's and AMD's pinned roots) before it is stored; a bad\n"
        "item refuses its whole PATH. Collateral that has expired is stored and shown as such.\n"
        "\n"
        "PATH is a directory laid out like a case of the test vectors (tcb_info.json,\n"
        "qe_identity.json, their issuer chains, pck_crl.der, pck_crl_issuer_chain.pem,\n"
        "root_ca_crl.der; AMD: vcek.der or vlek.der, ask.pem or asvk.pem, ark.pem, or KDS's\n"
        "cert_chain.pem), Intel's QVL sample layout, or one file: a dcap-qvl or QVE\n"
        "collateral JSON, PCCS's platform_collaterals.json, a PCS TCB info or QE identity\n"
        "body, or AMD certificates (PEM bundle or DER). Each PATH is one transaction.\n"
        "\n"
        "Example:\n"
        "  cloister collateral import ./sgx-case ./collateral_dcap_qvl.json ./cert_chain.pem\n",
    .min_args = 1,
    .max_args = -1,
    .args = "PATH",
};

static int
import_one(struct cli *cli, const char *path)
{
    _cleanup_json_ json_t *body = NULL, *resp = NULL;
    json_t *items;
    int r = import_body(path, &body);

    if (r < 0)
        return r;
    r = cli_call(cli, "POST", "/v1/collateral", body, 0, &resp);
    if (r < 0)
        return r;
    if (cli->json)
        return output_json(resp);
    items = json_object_get(resp, "items");
    if (cli->quiet) {
        json_t *item;
        size_t i;

        json_array_foreach(items, i, item)
            output_line("%s %s", jval_str(item, "kind") ?: "?", jval_str(item, "key") ?: "?");
        return 0;
    }
    output_line("%s (%s):", path, jval_str(resp, "shape") ?: "?");
    return output_items(items, import_columns, ELEMENTSOF(import_columns));
}

static int
collateral_import(struct cli *cli, int argc, char **argv)
{
    int r = cli_parse(cli, &import_cmd, argc, argv, NULL, NULL, &argc, &argv);

    if (r != 0)
        return r;
    if (argc < 1)
        return cli_usage_error(&import_cmd, "missing PATH");
    for (int i = 0; i < argc; i++) {
        r = import_one(cli, argv[i]);
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- status ---- */

static int
format_state(const json_t *item, struct strbuf *out)
{
    if (json_is_true(json_object_get(item, "expired")))
        return strbuf_adds(out, "EXPIRED");
    if (json_is_true(json_object_get(item, "expiring")))
        return strbuf_adds(out, "EXPIRING");
    return strbuf_adds(out, "valid");
}

static const struct column status_columns[] = {
    { "KIND", "kind", COLUMN_TEXT, 0, NULL },
    { "KEY", "key", COLUMN_TEXT, 40, NULL },
    { "ISSUED", "issued", COLUMN_TIME, 0, NULL },
    { "NEXT_UPDATE", "next_update", COLUMN_TIME, 0, NULL },
    { "NOT_AFTER", "not_after", COLUMN_TIME, 0, NULL },
    { "STATE", NULL, COLUMN_TEXT, 0, format_state },
    { "SOURCE", "source", COLUMN_TEXT, 0, NULL },
};

static const struct resource status_resource = {
    "/v1/collateral/status", "key",          "collateral item",
    "collateral items",      status_columns, ELEMENTSOF(status_columns),
};

static const struct option status_options[] = {
    { "kind", required_argument, NULL, OPT_KIND },
    { "source", required_argument, NULL, OPT_SOURCE },
    CLI_OPTION_END,
};

static const struct cli_cmd status_cmd = {
    .name = "collateral status",
    .usage = "Usage: cloister collateral status [--kind KIND] [--source SOURCE] [--limit N]\n"
             "                                  [--offset N] [--sort KEY:DIR] [--search TEXT]\n"
             "\n"
             "List the collateral the manager holds (GET /v1/collateral/status; any logged-in\n"
             "user): each item's kind and key, when it was issued, its next update, the end of\n"
             "its validity and whether it has expired or expires within 7 days, and where it\n"
             "came from. Sort keys: kind, key, not_after, imported_at.\n"
             "\n"
             "Flags:\n"
             "  --kind KIND        intel_tcb_info, intel_qe_identity, intel_pck_crl,\n"
             "                     intel_root_ca_crl, amd_vcek, amd_vlek, amd_ask, amd_asvk or\n"
             "                     amd_ark\n"
             "  --source SOURCE    import, pccs or kds\n" LIST_USAGE "\n"
             "Example:\n"
             "  cloister collateral status --kind intel_tcb_info\n",
    .options = status_options,
    .list = true,
};

static int
collateral_status(struct cli *cli, int argc, char **argv)
{
    struct collateral_opts o = {};
    int r = cli_parse(cli, &status_cmd, argc, argv, collateral_on_flag, &o, &argc, &argv);

    if (r != 0)
        return r;
    return resource_list(cli, &status_resource,
                         (const struct jval_field[]){
                             { "kind", o.kind },
                             { "source", o.source },
                             {},
                         });
}

static const struct cli_verb collateral_verbs[] = {
    { "import", "import collateral files or documents (system administrators)", collateral_import },
    { "status", "list the collateral the manager holds", collateral_status },
};

const struct cli_group cmd_collateral = { "collateral", collateral_verbs,
                                          ELEMENTSOF(collateral_verbs) };
