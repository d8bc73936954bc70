/* /v1/collateral: hardware verification collateral of the deployment (docs/api.md,
 * "Collateral"; docs/hardware-evidence.md, "Collateral in the manager").
 *
 * Collateral is Intel's and AMD's public data, shared by every account: system administrators
 * import it, every logged-in user reads its status, and users and nodes (mTLS) fetch what a
 * verification needs. An import is one transaction: every item is checked by libattest's
 * verifiers first (collateral.c), and a bad one refuses the whole upload. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <attest/collateral.h>

#include "api.h"
#include "audit.h"
#include "bodies.h"
#include "collateral-facts.h"
#include "collateral.h"
#include "crypto-util.h"
#include "json-member.h"
#include "routes.h"
#include "store-collateral.h"

#define COLLATERAL_FILES_MAX 32
#define COLLATERAL_FILE_NAME_MAX 64
/* Base64 of the largest item a directory holds (ATTEST_INTEL_COLLATERAL_MAX). */
#define COLLATERAL_FILE_B64_MAX ((int64_t)(ATTEST_INTEL_COLLATERAL_MAX / 3 + 1) * 4)
#define FMSPC_HEX 12
#define TCB_HEX 16
#define KEY_ID_HEX 64

DEFINE_TRIVIAL_CLEANUP_FUNC(struct attest_collateral, attest_collateral_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO, BIO_free)

/* A file name of the directory layout (docs/collateral-formats.md): no path, nothing hidden. */
static const char *
check_file_name(const char *name)
{
    if (strlen(name) > COLLATERAL_FILE_NAME_MAX || name[0] == '.')
        return "must be a plain file name";
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return "must be a plain file name (letters, digits, '.', '_', '-')";
    return NULL;
}

const struct field_spec collateral_files_fields[] = {
    { .name = "files",
      .type = FIELD_STRING_MAP,
      .required = true,
      .max = COLLATERAL_FILES_MAX,
      .item_max = COLLATERAL_FILE_B64_MAX },
    { .name = NULL },
};

/* ---- POST /v1/collateral ---- */

static int
write_file_at(int dirfd, const char *name, const uint8_t *data, size_t size)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    size_t done = 0;

    if (fd < 0)
        return -errno;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return -EIO;
        }
        done += (size_t)n;
    }
    return close(fd) < 0 ? -EIO : 0;
}

/* Removes the files named in files (only plain names were written) and the directory. */
static void
remove_upload_dir(const char *path, int dirfd, const json_t *files)
{
    const char *name;
    json_t *value;

    json_object_foreach((json_t *)files, name, value)
        if (!check_file_name(name))
            unlinkat(dirfd, name, 0);
    close(dirfd);
    rmdir(path);
}

/* Writes each file (base64) into a new private directory and loads it as a directory of
 * collateral files, as `cloister attest verify --collateral DIR` would. */
static int
load_files(struct api_request *r, const json_t *files, struct attest_collateral **ret)
{
    const char *tmp = getenv("TMPDIR");
    char path[PATH_MAX];
    struct attest_failure failure = { 0 };
    const char *name;
    json_t *value;
    int dirfd, err = 0;

    snprintf(path, sizeof(path), "%s/cloister-collateral-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(path))
        return -errno;
    dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        err = -errno;
        rmdir(path);
        return err;
    }
    json_object_foreach((json_t *)files, name, value) {
        _cleanup_free_ uint8_t *data = NULL;
        const char *bad = check_file_name(name);
        size_t size = 0;

        if (bad) {
            err = api_bad_field(r, "files.%s: %s", name, bad);
            break;
        }
        err = collateral_b64_decode(json_string_value(value), ATTEST_COLLATERAL_DOCUMENT_MAX, &data,
                                    &size);
        if (err < 0) {
            err = api_bad_field(r, "files.%s: not base64 (RFC 4648, section 4)", name);
            break;
        }
        err = write_file_at(dirfd, name, data, size);
        if (err < 0)
            break;
    }
    if (err >= 0) {
        err = attest_collateral_load(path, ret, &failure);
        if (err < 0 && err != -ENOMEM)
            err = api_bad_field(r, "files: %s", failure.reason);
    }
    remove_upload_dir(path, dirfd, files);
    return err;
}

/* The body is the collateral document itself. The router parsed it; jansson writes objects back
 * in their order, and PCS serves its bodies compact, so a bare PCS body comes back byte for
 * byte (if it did not, its signature check would say so). */
static int
load_document(struct api_request *r, struct attest_collateral **ret)
{
    _cleanup_free_ char *text = json_dumps(r->body, JSON_COMPACT);
    struct attest_failure failure = { 0 };
    int err;

    if (!text)
        return -ENOMEM;
    err = attest_collateral_load_json(text, strlen(text), ret, &failure);
    if (err == -ENOMEM)
        return err;
    if (err < 0)
        return api_bad_field(r, "body: %s", failure.reason);
    return 0;
}

/* No collateral shape has a "files" member: a body with one is a set of files. */
static bool
is_files_body(const json_t *body)
{
    return json_object_get(body, "files") != NULL;
}

static int
audit_import(struct api_request *r, const char *shape, const struct collateral_batch *batch)
{
    char summary[1536], message[1800];

    collateral_batch_summary(batch, summary, sizeof(summary));
    snprintf(message, sizeof(message), "Imported collateral (%s): %s", shape, summary);
    return audit_append(r->store, &(struct audit_event){
                                      .chain = AUDIT_SYSTEM_CHAIN,
                                      .time = r->now,
                                      .actor_type = "USER",
                                      .actor_id = r->user_id,
                                      .actor_name = r->user_email,
                                      .action_type = "ADMIN",
                                      .severity = "INFO",
                                      .message = message,
                                      .entity_type = "collateral",
                                      .entity_id = NULL,
                                  });
}

static int
collateral_import(struct api_request *r)
{
    _cleanup_(attest_collateral_freep) struct attest_collateral *loaded = NULL;
    _cleanup_(collateral_batch_release) struct collateral_batch batch = { 0 };
    char err_text[COLLATERAL_ERROR_MAX];
    bool files = false;
    json_t *items;
    int err;

    if (!r->is_admin)
        return api_error(r, 403, "FORBIDDEN", "importing collateral needs a system administrator");
    if (!r->body)
        return api_error(r, 400, "BAD_REQUEST",
                         "body: a collateral document or {\"files\": "
                         "{name: base64}} is required");
    if (is_files_body(r->body)) {
        files = true;
        err = api_check_body(r, collateral_files_fields, BODY_CREATE);
        if (err >= 0)
            err = load_files(r, json_object_get(r->body, "files"), &loaded);
    } else {
        err = load_document(r, &loaded);
    }
    if (err < 0)
        return err;
    err = collateral_collect(r->store, loaded, &batch, err_text);
    if (err == -EBADMSG || err == -ENODATA)
        return api_bad_field(r, "%s%s", files ? "files: " : "", err_text);
    if (err >= 0)
        err = collateral_save(r->store, &batch, "import", api_now(r));
    if (err >= 0)
        err = audit_import(r, attest_collateral_shape(loaded), &batch);
    if (err < 0)
        return err;
    items = collateral_batch_json(&batch);
    if (!items)
        return -ENOMEM;
    return api_reply(
        r, 200, json_pack("{s:s, s:o}", "shape", attest_collateral_shape(loaded), "items", items));
}

/* ---- GET /v1/collateral/status ---- */

static const char *const kind_values[] = {
    "intel_tcb_info", "intel_qe_identity", "intel_pck_crl", "intel_root_ca_crl", "amd_vcek",
    "amd_vlek",       "amd_ask",           "amd_asvk",      "amd_ark",           NULL,
};
static const char *const source_values[] = { "import", "pccs", "kds", NULL };

static int
collateral_status(struct api_request *r)
{
    const char *kind, *source;
    struct list_params p;
    struct list_page page;
    int err;

    err = api_query_enum(r, "kind", kind_values, &kind);
    if (err >= 0)
        err = api_query_enum(r, "source", source_values, &source);
    if (err >= 0)
        err = api_list_params(r, store_collateral_sorts, "kind", false, &p);
    if (err >= 0)
        err = store_collateral_list(r->store, kind, source, &p, &page);
    if (err < 0)
        return err;
    return api_reply_list(r, &p, &page);
}

/* ---- GET /v1/collateral/intel ---- */

static int
missing(struct api_request *r, const char *kind, const char *key)
{
    return api_error(r, 404, "NOT_FOUND", "collateral missing: %s %s", kind, key);
}

/* Which PCK CRL: the one asked for; else the only one stored (NULL: none). */
static int
pick_pck_crl(struct api_request *r, const char **ret_ca)
{
    static const char *const ca_values[] = { "processor", "platform", NULL };
    _cleanup_(json_decrefp) json_t *keys = NULL;
    const char *ca;
    int err = api_query_enum(r, "ca", ca_values, &ca);

    if (err < 0 || ca) {
        *ret_ca = ca;
        return err;
    }
    err = store_collateral_keys(r->store, "intel_pck_crl", &keys);
    if (err < 0)
        return err;
    if (json_array_size(keys) > 1)
        return api_error(r, 400, "BAD_REQUEST",
                         "ca: both PCK CRLs are stored: name the CA that issued the PCK "
                         "certificate (processor or platform)");
    *ret_ca = NULL;
    if (json_array_size(keys) == 1)
        *ret_ca = strcmp(json_string_value(json_array_get(keys, 0)), "processor") == 0 ? "processor"
                                                                                       : "platform";
    return 0;
}

static int
set_text(json_t *out, const char *name, const struct attest_bytes *b)
{
    if (!b->data)
        return 0;
    return json_object_set_new(out, name, json_stringn(b->data, b->size)) < 0 ? -ENOMEM : 0;
}

static int
set_hex(json_t *out, const char *name, const struct attest_bytes *b)
{
    _cleanup_free_ char *hex = NULL;

    if (!b->data)
        return 0;
    hex = malloc(2 * b->size + 1);
    if (!hex)
        return -ENOMEM;
    hex_encode(b->data, b->size, hex);
    return json_object_set_new(out, name, json_string(hex)) < 0 ? -ENOMEM : 0;
}

/* The files as an sgx_ql_qve_collateral_t-style JSON document (snake_case). */
static json_t *
bundle_json(const struct attest_intel_collateral_files *f)
{
    _cleanup_(json_decrefp) json_t *out = json_object();
    int err = out ? 0 : -ENOMEM;

    if (err >= 0)
        err = set_text(out, "tcb_info", &f->tcb_info);
    if (err >= 0)
        err = set_text(out, "tcb_info_issuer_chain", &f->tcb_info_issuer_chain);
    if (err >= 0)
        err = set_text(out, "qe_identity", &f->qe_identity);
    if (err >= 0)
        err = set_text(out, "qe_identity_issuer_chain", &f->qe_identity_issuer_chain);
    if (err >= 0)
        err = set_hex(out, "pck_crl", &f->pck_crl);
    if (err >= 0)
        err = set_text(out, "pck_crl_issuer_chain", &f->pck_crl_issuer_chain);
    if (err >= 0)
        err = set_hex(out, "root_ca_crl", &f->root_ca_crl);
    return err < 0 ? NULL : TAKE_PTR(out);
}

/* The collateral of one platform, as the store's lookup for a quote gives it
 * (collateral_intel_get), as a document attest_collateral_load_json and `cloister attest
 * verify --collateral FILE` read. */
static int
collateral_intel(struct api_request *r)
{
    static const char *const type_values[] = { "sgx", "tdx", NULL };
    _cleanup_(collateral_intel_set_release) struct collateral_intel_set set = { 0 };
    struct attest_intel_quote_needs needs = { 0 };
    const char *fmspc = api_query(r, "fmspc"), *type, *ca = NULL;
    char err_text[COLLATERAL_ERROR_MAX];
    json_t *out;
    int err;

    if (!fmspc || strlen(fmspc) != FMSPC_HEX || hex_decode(fmspc, needs.fmspc, 6) < 0)
        return api_error(r, 400, "BAD_REQUEST", "fmspc: must be 12 hex digits");
    err = api_query_enum(r, "type", type_values, &type);
    if (err >= 0)
        err = pick_pck_crl(r, &ca);
    if (err < 0)
        return err;
    needs.tdx = type && strcmp(type, "tdx") == 0;
    needs.processor_ca = ca && strcmp(ca, "processor") == 0;
    err = collateral_intel_get(r->store, &needs, ca != NULL, &set, err_text);
    if (err == -ENOENT)
        return api_error(r, 404, "NOT_FOUND", "%s", err_text);
    if (err < 0)
        return err;
    out = bundle_json(&set.files);
    return out ? api_reply(r, 200, out) : -ENOMEM;
}

/* ---- GET /v1/collateral/amd ---- */

static int
append_der(BIO *out, const struct attest_bytes *der)
{
    return PEM_write_bio(out, "CERTIFICATE", "", der->data, (long)der->size) > 0 ? 0 : -ENOMEM;
}

/* Appends the stored certificate as PEM. */
static int
append_pem(struct api_request *r, BIO *out, const char *kind, const char *key)
{
    _cleanup_(json_decrefp) json_t *row = NULL;
    _cleanup_free_ uint8_t *der = NULL;
    size_t size;
    int err = store_collateral_get(r->store, kind, key, false, &row);

    if (err == -ENOENT)
        return missing(r, kind, key);
    if (err >= 0)
        err = collateral_row_data(row, &der, &size);
    if (err < 0)
        return err;
    return append_der(out, &(struct attest_bytes){ der, size });
}

static bool
hex_of_size(const char *s, size_t a, size_t b)
{
    size_t n = s ? strlen(s) : 0;

    return s && (n == a || n == b) && is_hex_string(s, n);
}

/* The VCEK, ASK and ARK for a chip and TCB, as the store's lookup for a report gives them
 * (collateral_snp_get). */
static int
append_vcek_chain(struct api_request *r, BIO *out, const char *product, const char *hwid,
                  const char *tcb)
{
    _cleanup_(collateral_snp_set_release) struct collateral_snp_set set = { 0 };
    struct attest_snp_claims claims = { 0 };
    char err_text[COLLATERAL_ERROR_MAX];
    uint8_t tcb_bytes[8];
    int err;

    if (!hex_of_size(hwid, 2 * AMD_HWID_MAX, 16))
        return api_error(r, 400, "BAD_REQUEST", "hwid: must be 128 (or 16, Turin) hex digits");
    if (!hex_of_size(tcb, TCB_HEX, TCB_HEX))
        return api_error(r, 400, "BAD_REQUEST", "reported_tcb: must be 16 hex digits");
    snprintf(claims.product, sizeof(claims.product), "%s", product ? product : "");
    hex_decode(hwid, claims.chip_id, strlen(hwid) / 2);
    hex_decode(tcb, tcb_bytes, sizeof(tcb_bytes));
    for (size_t i = 0; i < sizeof(tcb_bytes); i++)
        claims.reported_tcb |= (uint64_t)tcb_bytes[i] << (8 * i);
    err = collateral_snp_get(r->store, &claims, &set, err_text);
    if (err == -ENOENT)
        return api_error(r, 404, "NOT_FOUND", "%s", err_text);
    if (err >= 0)
        err = append_der(out, &set.files.vcek);
    if (err >= 0)
        err = append_der(out, &set.files.ask);
    if (err >= 0)
        err = append_der(out, &set.files.ark);
    return err;
}

/* The certificates asked for: a VCEK by chip and TCB (product may be NULL: any), a VLEK by key
 * id, or only a chain. */
static int
append_certificates(struct api_request *r, BIO *out, const char *product)
{
    static const char *const chain_values[] = { "vcek", "vlek", NULL };
    const char *hwid = api_query(r, "hwid"), *tcb = api_query(r, "reported_tcb");
    const char *vlek = api_query(r, "vlek"), *chain;
    char key[COLLATERAL_KEY_MAX];
    int err = api_query_enum(r, "chain", chain_values, &chain);

    if (err < 0)
        return err;
    if (vlek && (hwid || tcb))
        return api_error(r, 400, "BAD_REQUEST", "vlek: not together with hwid or reported_tcb");
    if (hwid || tcb)
        return append_vcek_chain(r, out, product, hwid, tcb);
    if (!product)
        return api_error(r, 400, "BAD_REQUEST", "product: required without hwid");
    if (vlek) {
        if (!hex_of_size(vlek, KEY_ID_HEX, KEY_ID_HEX))
            return api_error(r, 400, "BAD_REQUEST", "vlek: must be 64 hex digits");
        snprintf(key, sizeof(key), "%s/%s", product, vlek);
        for (char *p = key; *p; p++)
            if (*p >= 'A' && *p <= 'F')
                *p = (char)(*p - 'A' + 'a');
        err = append_pem(r, out, "amd_vlek", key);
    }
    if (err >= 0)
        err = append_pem(r, out,
                         vlek || (chain && strcmp(chain, "vlek") == 0) ? "amd_asvk" : "amd_ask",
                         product);
    if (err >= 0)
        err = append_pem(r, out, "amd_ark", product);
    return err;
}

/* The certificates of one product as a PEM bundle, leaf first, as AMD's KDS serves them and
 * attest_collateral_load_data reads them. */
static int
collateral_amd(struct api_request *r)
{
    static const char *const product_values[] = { "Milan", "Genoa", "Turin", NULL };
    _cleanup_(BIO_freep) BIO *out = BIO_new(BIO_s_mem());
    const char *product;
    char *pem;
    int err;

    if (!out)
        return -ENOMEM;
    err = api_query_enum(r, "product", product_values, &product);
    /* A version 2 report does not say its product: its chip's VCEK does. */
    if (err >= 0 && !product && !api_query(r, "hwid"))
        return api_error(r, 400, "BAD_REQUEST",
                         "product: required (Milan, Genoa or Turin) unless hwid is given");
    if (err >= 0)
        err = append_certificates(r, out, product);
    if (err < 0)
        return err;
    if (BIO_write(out, "", 1) != 1) /* the text's NUL */
        return -ENOMEM;
    if (BIO_get_mem_data(out, &pem) <= 0)
        return -ENOMEM;
    return api_reply_text(r, 200, "application/x-pem-file", pem);
}

const struct route api_collateral_routes[] = {
    { EVHTTP_REQ_POST, "/v1/collateral", AUTH_USER, ROLE_NONE, true, collateral_import,
      "collateral_import" },
    { EVHTTP_REQ_GET, "/v1/collateral/status", AUTH_USER, ROLE_NONE, false, collateral_status,
      "collateral_status" },
    { EVHTTP_REQ_GET, "/v1/collateral/intel", AUTH_USER, ROLE_NONE, false, collateral_intel,
      "collateral_intel" },
    { EVHTTP_REQ_GET, "/v1/collateral/amd", AUTH_USER, ROLE_NONE, false, collateral_amd,
      "collateral_amd" },
    /* The same for nodes (mTLS), e.g. an agent fetching what its apps' evidence needs. */
    { EVHTTP_REQ_GET, "/v1/node/collateral/intel", AUTH_NODE, ROLE_NONE, false, collateral_intel,
      "node_collateral_intel" },
    { EVHTTP_REQ_GET, "/v1/node/collateral/amd", AUTH_NODE, ROLE_NONE, false, collateral_amd,
      "node_collateral_amd" },
    { .pattern = NULL },
};
