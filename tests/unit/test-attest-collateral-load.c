/* Collateral loading (collateral.h): every case folder of ../shared/testvectors loads with the
 * items its case.json lists (same bytes, same SHA-256), the Phala cases' dcap-qvl JSON gives the
 * split files' bytes, Intel's QVL names, AMD KDS names, PEM bundles, sgx_ql_qve_collateral_t
 * and PCCS platform_collaterals.json shapes load, bundles are picked from by key, and malformed,
 * contradictory, unknown and oversized input is refused with the field or file named. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <attest/collateral.h>

#include "attest-util.h"
#include "cleanup.h"
#include "test-files.h"
#include "test.h"

#define FILE_MAX (64u << 10)

/* ---- Helpers ---- */

struct file {
    uint8_t *data; /* NULL when the case has no such file */
    size_t size;
};

static void
file_clear(struct file *f)
{
    free(f->data);
    *f = (struct file){ 0 };
}

static void
path_of(char *path, size_t size, const char *dir, const char *file)
{
    CHECK(snprintf(path, size, "%s/%s/%s", TESTVECTORS_DIR, dir, file) < (int)size);
}

/* A file of a case, or {NULL, 0} when there is none. */
static struct file
vec(const char *dir, const char *name)
{
    char path[512];
    struct file f = { 0 };

    path_of(path, sizeof(path), dir, name);
    if (access(path, F_OK) != 0)
        return f;
    f.data = malloc(FILE_MAX);
    CHECK(f.data);
    f.size = test_read_file(path, f.data, FILE_MAX);
    CHECK(f.size > 0 && f.size < FILE_MAX);
    return f;
}

static bool
same(struct attest_bytes b, const struct file *f)
{
    if (!f->data)
        return b.data == NULL && b.size == 0;
    return b.size == f->size && memcmp(b.data, f->data, f->size) == 0;
}

static bool
empty(struct attest_bytes b)
{
    return b.data == NULL && b.size == 0;
}

/* The DER of the first certificate of a PEM file. */
static struct file
pem_to_der(const struct file *pem)
{
    BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->size);
    X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    unsigned char *der = NULL;
    struct file f = { 0 };
    int n;

    CHECK(cert);
    n = i2d_X509(cert, &der);
    CHECK(n > 0);
    f.data = malloc((size_t)n);
    CHECK(f.data);
    memcpy(f.data, der, (size_t)n);
    f.size = (size_t)n;
    OPENSSL_free(der);
    X509_free(cert);
    BIO_free(bio);
    return f;
}

static char *
hex_of(const struct file *f, bool upper)
{
    char *hex = malloc(2 * f->size + 1);

    CHECK(hex);
    attest_hex_encode(f->data, f->size, hex);
    for (size_t i = 0; upper && hex[i]; i++)
        if (hex[i] >= 'a' && hex[i] <= 'f')
            hex[i] = (char)(hex[i] - 'a' + 'A');
    return hex;
}

/* Percent-encodes every byte that is not unreserved, as PCS does in its headers. */
static char *
percent_of(const struct file *f)
{
    char *out = malloc(3 * f->size + 1), *p = out;

    CHECK(out);
    for (size_t i = 0; i < f->size; i++) {
        unsigned char c = f->data[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            strchr("-_.~", c))
            *p++ = (char)c;
        else
            p += snprintf(p, 4, "%%%02X", c);
    }
    *p = '\0';
    return out;
}

static json_t *
text_of(const struct file *f)
{
    json_t *s = json_stringn((const char *)f->data, f->size);

    CHECK(s);
    return s;
}

static json_t *
case_json(const char *name)
{
    char path[512];
    json_error_t error;
    json_t *root;

    path_of(path, sizeof(path), name, "case.json");
    root = json_load_file(path, 0, &error);
    CHECK(root);
    return root;
}

/* Whether the SHA-256 case.json records for file matches b. */
static bool
sha_matches(json_t *casej, const char *file, struct attest_bytes b)
{
    json_t *v = json_object_get(json_object_get(json_object_get(casej, "files"), file), "sha256");
    uint8_t digest[SHA256_SIZE];
    char hex[2 * SHA256_SIZE + 1];

    CHECK(json_is_string(v));
    CHECK(attest_sha256(b.data, b.size, NULL, 0, digest) == 0);
    attest_hex_encode(digest, sizeof(digest), hex);
    return strcmp(hex, json_string_value(v)) == 0;
}

static void
fmspc_of(json_t *casej, uint8_t fmspc[6])
{
    const char *hex =
        json_string_value(json_object_get(json_object_get(casej, "platform"), "fmspc"));

    CHECK(hex && strlen(hex) == 12);
    for (int i = 0; i < 6; i++) {
        unsigned v;

        CHECK(sscanf(hex + 2 * i, "%2x", &v) == 1);
        fmspc[i] = (uint8_t)v;
    }
}

static struct attest_collateral *
load_ok(const char *path)
{
    struct attest_collateral *c = NULL;
    struct attest_failure failure;
    int r = attest_collateral_load(path, &c, &failure);

    if (r < 0)
        fprintf(stderr, "  %s: %s\n", path, failure.reason);
    CHECK_EQ_INT(r, 0);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_NONE);
    CHECK(c);
    return c;
}

static struct attest_collateral *
load_vec(const char *dir, const char *file)
{
    char path[512];

    path_of(path, sizeof(path), dir, file);
    return load_ok(path);
}

static struct attest_collateral *
json_ok(json_t *doc, size_t flags)
{
    char *text = json_dumps(doc, flags);
    struct attest_collateral *c = NULL;
    struct attest_failure failure;
    int r;

    CHECK(text);
    r = attest_collateral_load_json(text, strlen(text), &c, &failure);
    if (r < 0)
        fprintf(stderr, "  %s\n", failure.reason);
    free(text);
    CHECK_EQ_INT(r, 0);
    return c;
}

/* Loading text fails with error, step "collateral" and a reason containing needle. */
static void
json_refused(const char *text, size_t size, int error, const char *needle)
{
    struct attest_collateral *c = NULL;
    struct attest_failure failure;
    int r = attest_collateral_load_json(text, size, &c, &failure);

    if (r == 0 || !strstr(failure.reason, needle))
        fprintf(stderr, "  r=%d reason \"%s\", expected \"%s\"\n", r, failure.reason, needle);
    CHECK_EQ_INT(r, error);
    CHECK(c == NULL);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_COLLATERAL);
    CHECK(strstr(failure.reason, needle));
}

static void
doc_refused(json_t *doc, int error, const char *needle)
{
    char *text = json_dumps(doc, JSON_COMPACT);

    CHECK(text);
    json_refused(text, strlen(text), error, needle);
    free(text);
}

static void
path_refused(const char *path, int error, const char *needle)
{
    struct attest_collateral *c = NULL;
    struct attest_failure failure;
    int r = attest_collateral_load(path, &c, &failure);

    if (r == 0 || !strstr(failure.reason, needle))
        fprintf(stderr, "  r=%d reason \"%s\", expected \"%s\"\n", r, failure.reason, needle);
    CHECK_EQ_INT(r, error);
    CHECK(c == NULL);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_COLLATERAL);
    CHECK(strstr(failure.reason, needle));
}

/* A scratch directory, emptied and removed by tmpdir_remove. */
static void
tmpdir_new(char dir[64])
{
    snprintf(dir, 64, "/tmp/test-collateral-XXXXXX");
    CHECK(mkdtemp(dir));
}

static void
tmpdir_put(const char *dir, const char *name, const void *data, size_t size)
{
    char path[256];

    CHECK(snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path));
    test_write_file(path, data, size);
}

static void
tmpdir_copy(const char *dir, const char *name, const char *from_case, const char *from_file)
{
    struct file f = vec(from_case, from_file);

    CHECK(f.data);
    tmpdir_put(dir, name, f.data, f.size);
    file_clear(&f);
}

static void
tmpdir_remove(const char *dir)
{
    static const char *const names[] = {
        "tcb_info.json",
        "tcbInfo.json",
        "qeIdentity.json",
        "tcbSignChain.pem",
        "pckSignChain.pem",
        "intermediateCaCrl.der",
        "rootCaCrl.der",
        "trustedRootCaCert.pem",
        "cert_chain.pem",
        "vcek.crt",
        "vlek.der",
        "ark.pem",
        "ask.pem",
        "asvk.pem",
        "tcb_info_issuer_chain.pem",
        "big.json",
        "bundle.pem",
        "qe_identity.json",
        NULL,
    };
    char path[256];

    for (size_t i = 0; names[i]; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    CHECK(rmdir(dir) == 0);
}

/* ---- Every case folder ---- */

static const char *const case_dirs[] = {
    "sgx-v3-phala-p1",       "tdx-v4-phala-p2",
    "tdx-v5-phala-p3",       "tdx-v4-oasis",
    "tdx-v4-oasis-trailing", "tdx-v4-oasis-outofdate",
    "tdx-v4-trustee-debug",  "tdx-v5-automata-a1",
    "snp-milan-gosevguest",  "snp-milan-trustee",
    "snp-vlek-trustee",      "snp-genoa-veraison-tsm",
    "ratls-interop",         "roots",
};

/* Each Intel item is there exactly when case.json lists its file, with its bytes and SHA-256. */
static void
check_intel_item(json_t *casej, const char *dir, const char *file, struct attest_bytes item)
{
    struct file f = vec(dir, file);
    bool listed = json_object_get(json_object_get(casej, "files"), file) != NULL;

    CHECK_EQ_INT(listed, f.data != NULL);
    CHECK(same(item, &f));
    if (listed)
        CHECK(sha_matches(casej, file, item));
    file_clear(&f);
}

static void
check_intel_case(const char *dir, json_t *casej, const struct attest_collateral *c)
{
    const struct attest_intel_collateral_files *intel = attest_collateral_intel(c);
    const char *type = json_string_value(json_object_get(casej, "evidence_type"));
    const char *ca =
        json_string_value(json_object_get(json_object_get(casej, "platform"), "pck_issuer_ca"));
    bool tdx = strncmp(type, "tdx", 3) == 0;
    uint8_t fmspc[6];
    struct attest_intel_collateral_files picked;
    struct attest_collateral_key key = { .tdx = tdx, .fmspc = fmspc };
    enum attest_pck_ca mine =
        strstr(ca, "Processor") ? ATTEST_PCK_CA_PROCESSOR : ATTEST_PCK_CA_PLATFORM;

    CHECK(intel);
    CHECK(attest_collateral_snp(c) == NULL);
    check_intel_item(casej, dir, "tcb_info.json", intel->tcb_info);
    check_intel_item(casej, dir, "tcb_info_issuer_chain.pem", intel->tcb_info_issuer_chain);
    check_intel_item(casej, dir, "qe_identity.json", intel->qe_identity);
    check_intel_item(casej, dir, "qe_identity_issuer_chain.pem", intel->qe_identity_issuer_chain);
    check_intel_item(casej, dir, "pck_crl.der", intel->pck_crl);
    check_intel_item(casej, dir, "pck_crl_issuer_chain.pem", intel->pck_crl_issuer_chain);
    check_intel_item(casej, dir, "root_ca_crl.der", intel->root_ca_crl);
    CHECK(intel->root_key_sha256 == NULL);

    /* Picked by the quote's kind, FMSPC and PCK CA (case.json "platform"): the same items. */
    fmspc_of(casej, fmspc);
    key.pck_ca = mine;
    CHECK_EQ_INT(attest_collateral_intel_select(c, &key, &picked, NULL), 0);
    CHECK(memcmp(&picked, intel, sizeof(picked)) == 0);
    /* The other kind, another FMSPC, the other CA: those items are not there. */
    key.tdx = !tdx;
    CHECK_EQ_INT(attest_collateral_intel_select(c, &key, &picked, NULL), 0);
    CHECK(empty(picked.tcb_info) && empty(picked.qe_identity));
    CHECK(same(picked.root_ca_crl,
               &(struct file){ (uint8_t *)intel->root_ca_crl.data, intel->root_ca_crl.size }));
    key.tdx = tdx;
    fmspc[5] ^= 1;
    CHECK_EQ_INT(attest_collateral_intel_select(c, &key, &picked, NULL), 0);
    CHECK(empty(picked.tcb_info) && !empty(picked.qe_identity));
    fmspc[5] ^= 1;
    key.pck_ca = mine == ATTEST_PCK_CA_PROCESSOR ? ATTEST_PCK_CA_PLATFORM : ATTEST_PCK_CA_PROCESSOR;
    CHECK_EQ_INT(attest_collateral_intel_select(c, &key, &picked, NULL), 0);
    CHECK(empty(picked.pck_crl));
}

static void
check_snp_case(const char *dir, json_t *casej, const struct attest_collateral *c)
{
    const struct attest_snp_cert_files *snp = attest_collateral_snp(c);
    bool vlek = json_object_get(json_object_get(casej, "files"), "vlek.der") != NULL;
    struct file leaf = vec(dir, vlek ? "vlek.der" : "vcek.der");
    struct file ask_pem = vec(dir, vlek ? "asvk.pem" : "ask.pem"), ark_pem = vec(dir, "ark.pem");
    struct file ask = pem_to_der(&ask_pem), ark = pem_to_der(&ark_pem);
    struct attest_failure failure;
    struct attest_intel_collateral_files picked;
    struct attest_collateral_key key = { 0 };

    CHECK(snp);
    CHECK(attest_collateral_intel(c) == NULL);
    CHECK_EQ_INT(attest_collateral_intel_select(c, &key, &picked, &failure), -ENOENT);
    CHECK(same(snp->vcek, &leaf));
    CHECK(sha_matches(casej, vlek ? "vlek.der" : "vcek.der", snp->vcek));
    CHECK(same(snp->ask, &ask));
    CHECK(same(snp->ark, &ark));
    CHECK(snp->ark_key_sha256 == NULL);
    file_clear(&leaf);
    file_clear(&ask_pem);
    file_clear(&ark_pem);
    file_clear(&ask);
    file_clear(&ark);
}

TEST(every_case_folder_loads)
{
    for (size_t i = 0; i < ELEMENTSOF(case_dirs); i++) {
        char path[512];
        struct attest_collateral *c;
        json_t *casej;
        const char *type;

        path_of(path, sizeof(path), case_dirs[i], "");
        c = load_ok(path);
        CHECK_EQ_STR(attest_collateral_shape(c), "directory");
        if (strcmp(case_dirs[i], "roots") == 0 || strcmp(case_dirs[i], "ratls-interop") == 0) {
            /* No collateral in either: nothing is loaded, which is not an error. */
            CHECK(attest_collateral_intel(c) == NULL);
            CHECK(attest_collateral_snp(c) == NULL);
            attest_collateral_free(c);
            continue;
        }
        casej = case_json(case_dirs[i]);
        type = json_string_value(json_object_get(casej, "evidence_type"));
        CHECK(type);
        if (strncmp(type, "snp", 3) == 0)
            check_snp_case(case_dirs[i], casej, c);
        else
            check_intel_case(case_dirs[i], casej, c);
        json_decref(casej);
        attest_collateral_free(c);
    }
}

/* ---- dcap-qvl JSON ---- */

static const char *const phala_cases[] = { "sgx-v3-phala-p1", "tdx-v4-phala-p2",
                                           "tdx-v5-phala-p3" };

static const char *const intel_files[] = {
    "tcb_info.json",    "tcb_info_issuer_chain.pem",
    "qe_identity.json", "qe_identity_issuer_chain.pem",
    "pck_crl.der",      "pck_crl_issuer_chain.pem",
    "root_ca_crl.der",
};

static void
intel_items(const struct attest_intel_collateral_files *f, struct attest_bytes out[7])
{
    out[0] = f->tcb_info;
    out[1] = f->tcb_info_issuer_chain;
    out[2] = f->qe_identity;
    out[3] = f->qe_identity_issuer_chain;
    out[4] = f->pck_crl;
    out[5] = f->pck_crl_issuer_chain;
    out[6] = f->root_ca_crl;
}

/* Every item of f equals the split file of dir (and its case.json SHA-256). */
static void
check_same_as_split(const char *dir, const struct attest_intel_collateral_files *f)
{
    struct attest_bytes items[7];
    json_t *casej = case_json(dir);

    CHECK(f);
    intel_items(f, items);
    for (size_t i = 0; i < ELEMENTSOF(intel_files); i++) {
        struct file split = vec(dir, intel_files[i]);

        CHECK(split.data);
        if (!same(items[i], &split))
            fprintf(stderr, "  %s: %s differs\n", dir, intel_files[i]);
        CHECK(same(items[i], &split));
        CHECK(sha_matches(casej, intel_files[i], items[i]));
        file_clear(&split);
    }
    json_decref(casej);
}

TEST(phala_dcap_qvl_json_gives_the_split_files)
{
    for (size_t i = 0; i < ELEMENTSOF(phala_cases); i++) {
        struct attest_collateral *c = load_vec(phala_cases[i], "collateral_dcap_qvl.json");
        struct file text = vec(phala_cases[i], "collateral_dcap_qvl.json");
        struct attest_failure failure;

        CHECK_EQ_STR(attest_collateral_shape(c), "dcap-qvl");
        check_same_as_split(phala_cases[i], attest_collateral_intel(c));
        CHECK(attest_collateral_snp(c) == NULL);
        attest_collateral_free(c);

        c = NULL;
        CHECK_EQ_INT(attest_collateral_load_json((const char *)text.data, text.size, &c, &failure),
                     0);
        check_same_as_split(phala_cases[i], attest_collateral_intel(c));
        attest_collateral_free(c);
        file_clear(&text);
    }
}

/* Older dcap-qvl (serde's default for Vec<u8>) writes bytes as arrays of integers. */
static json_t *
byte_array(const struct file *f)
{
    json_t *a = json_array();

    CHECK(a);
    for (size_t i = 0; i < f->size; i++)
        CHECK(json_array_append_new(a, json_integer(f->data[i])) == 0);
    return a;
}

TEST(dcap_qvl_byte_arrays)
{
    const char *dir = "sgx-v3-phala-p1";
    struct file text = vec(dir, "collateral_dcap_qvl.json");
    json_t *doc = json_loadb((const char *)text.data, text.size, 0, NULL);
    struct file crl = vec(dir, "pck_crl.der"), root = vec(dir, "root_ca_crl.der"), sig = { 0 };
    struct attest_collateral *c;
    const char *hex;

    CHECK(doc);
    hex = json_string_value(json_object_get(doc, "tcb_info_signature"));
    CHECK(hex && strlen(hex) == 128);
    sig.data = malloc(64);
    sig.size = 64;
    CHECK(sig.data);
    for (int i = 0; i < 64; i++) {
        unsigned v;

        CHECK(sscanf(hex + 2 * i, "%2x", &v) == 1);
        sig.data[i] = (uint8_t)v;
    }
    CHECK(json_object_set_new(doc, "tcb_info_signature", byte_array(&sig)) == 0);
    CHECK(json_object_set_new(doc, "pck_crl", byte_array(&crl)) == 0);
    CHECK(json_object_set_new(doc, "root_ca_crl", byte_array(&root)) == 0);
    c = json_ok(doc, JSON_INDENT(2));
    check_same_as_split(dir, attest_collateral_intel(c));
    attest_collateral_free(c);

    /* A byte out of range is refused by field. */
    CHECK(json_array_set_new(json_object_get(doc, "pck_crl"), 3, json_integer(256)) == 0);
    doc_refused(doc, -EBADMSG, "pck_crl: byte 3 is not an integer 0-255");
    json_decref(doc);
    file_clear(&text);
    file_clear(&crl);
    file_clear(&root);
    file_clear(&sig);
}

/* ---- Malformed JSON ---- */

TEST(malformed_json_is_refused)
{
    struct file text = vec("tdx-v4-phala-p2", "collateral_dcap_qvl.json");

    /* Cut anywhere: never loads, never crashes. */
    for (size_t cut = 0; cut < text.size; cut += 397)
        json_refused((const char *)text.data, cut, -EBADMSG, "JSON");
    json_refused((const char *)text.data, text.size - 1, -EBADMSG, "JSON: line");
    json_refused("[1, 2]", 6, -EBADMSG, "JSON: not an object");
    json_refused("{\"quote\": \"00\"}", 15, -EBADMSG, "JSON: unknown shape");
    json_refused("{\"a\":1,\"a\":2}", 13, -EBADMSG, "JSON: line 1");
    json_refused("", 0, -EBADMSG, "JSON");
    file_clear(&text);
}

/* Replaces one field of the p1 dcap-qvl document and checks the refusal names it. */
static void
field_refused(const char *field, json_t *value, int error, const char *needle)
{
    struct file text = vec("sgx-v3-phala-p1", "collateral_dcap_qvl.json");
    json_t *doc = json_loadb((const char *)text.data, text.size, 0, NULL);

    CHECK(doc);
    CHECK(json_object_set_new(doc, field, value) == 0);
    doc_refused(doc, error, needle);
    json_decref(doc);
    file_clear(&text);
}

static json_t *
flipped_hex(const char *dir, const char *file, size_t at)
{
    struct file f = vec(dir, file);
    char *hex;
    json_t *s;

    f.data[at] ^= 0xff;
    hex = hex_of(&f, false);
    s = json_string(hex);
    free(hex);
    file_clear(&f);
    return s;
}

TEST(bad_fields_are_refused_by_name)
{
    field_refused("tcb_info_signature", json_string("9ad0e9be2e64cac80bd22fb3998g"), -EBADMSG,
                  "tcb_info_signature: not hex");
    field_refused("qe_identity_signature", json_integer(5), -EBADMSG,
                  "qe_identity_signature: not hex or a byte array");
    field_refused("pck_crl", json_string("3082012a3"), -EBADMSG, "pck_crl: neither PEM nor hex");
    field_refused("pck_crl", json_string("zz"), -EBADMSG, "pck_crl: neither PEM nor hex");
    /* Hex of something that is not a CRL: the first byte of the DER flipped. */
    field_refused("root_ca_crl", flipped_hex("sgx-v3-phala-p1", "root_ca_crl.der", 0), -EBADMSG,
                  "root_ca_crl: not a CRL (DER or PEM)");
    field_refused("pck_crl",
                  json_string("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"), -EBADMSG,
                  "pck_crl: not a CRL");
    field_refused("tcb_info", json_string("{\"tcbInfo\":{\"id\":\"SGX\""), -EBADMSG,
                  "tcb_info: not JSON");
    field_refused("tcb_info", json_string("{\"id\":\"SGX\",\"fmspc\":\"00A0671100\"}"), -EBADMSG,
                  "tcb_info: tcbInfo.fmspc is not 12 hex digits");
    field_refused("tcb_info", json_string("{\"id\":\"SEV\",\"fmspc\":\"00A067110000\"}"), -EBADMSG,
                  "tcb_info: tcbInfo.id is not \"SGX\" or \"TDX\"");
    field_refused("tcb_info", json_integer(1), -EBADMSG, "tcb_info: not a string or object");
    field_refused("qe_identity", json_string("{\"id\":\"QVE\"}"), -EBADMSG,
                  "qe_identity: enclaveIdentity.id is not \"QE\" or \"TD_QE\"");
    field_refused("tcb_info_issuer_chain", json_string("not a chain"), -EBADMSG,
                  "tcb_info_issuer_chain: not a PEM certificate chain");
    field_refused("pck_crl_issuer_chain", json_string("-----BEGIN%2"), -EBADMSG,
                  "pck_crl_issuer_chain: bad percent-encoding");
    field_refused("qe_identity_issuer_chain", json_array(), -EBADMSG,
                  "qe_identity_issuer_chain: not a string");
    /* An item over ATTEST_INTEL_COLLATERAL_MAX. */
    {
        size_t n = 2 * (size_t)ATTEST_INTEL_COLLATERAL_MAX + 2;
        char *hex = malloc(n + 1);

        CHECK(hex);
        memset(hex, 'a', n);
        hex[n] = '\0';
        field_refused("pck_crl", json_string(hex), -E2BIG, "pck_crl: more than");
        free(hex);
    }
}

/* ---- Directories with other names ---- */

TEST(qvl_sample_app_names)
{
    const char *from = "sgx-v3-phala-p1";
    char dir[64];
    struct attest_collateral *c;

    tmpdir_new(dir);
    tmpdir_copy(dir, "tcbInfo.json", from, "tcb_info.json");
    tmpdir_copy(dir, "qeIdentity.json", from, "qe_identity.json");
    tmpdir_copy(dir, "tcbSignChain.pem", from, "tcb_info_issuer_chain.pem");
    tmpdir_copy(dir, "pckSignChain.pem", from, "pck_crl_issuer_chain.pem");
    tmpdir_copy(dir, "intermediateCaCrl.der", from, "pck_crl.der");
    tmpdir_copy(dir, "rootCaCrl.der", from, "root_ca_crl.der");
    tmpdir_copy(dir, "trustedRootCaCert.pem", "roots/intel", "Intel_SGX_Root_CA.pem");
    c = load_ok(dir);
    /* tcbSignChain.pem signs both; in p1 both chains are that one file. */
    check_same_as_split(from, attest_collateral_intel(c));
    attest_collateral_free(c);

    /* Two names for one item with different bytes: which one is meant is unknowable. */
    tmpdir_copy(dir, "tcb_info.json", "tdx-v4-phala-p2", "tcb_info.json");
    path_refused(dir, -ENOTUNIQ, "tcbInfo.json: differs from tcb_info.json");
    /* The same bytes under both names are fine. */
    tmpdir_copy(dir, "tcb_info.json", from, "tcb_info.json");
    attest_collateral_free(load_ok(dir));
    tmpdir_remove(dir);
}

TEST(percent_encoded_chain_file)
{
    const char *from = "tdx-v4-phala-p2";
    struct file chain = vec(from, "tcb_info_issuer_chain.pem");
    char *encoded = percent_of(&chain);
    char dir[64];
    struct attest_collateral *c;

    tmpdir_new(dir);
    tmpdir_copy(dir, "tcb_info.json", from, "tcb_info.json");
    tmpdir_put(dir, "tcb_info_issuer_chain.pem", encoded, strlen(encoded));
    c = load_ok(dir);
    CHECK(same(attest_collateral_intel(c)->tcb_info_issuer_chain, &chain));
    attest_collateral_free(c);
    tmpdir_put(dir, "tcb_info_issuer_chain.pem", "-----BEGIN%2", 12);
    path_refused(dir, -EBADMSG, "tcb_info_issuer_chain.pem: bad percent-encoding");
    tmpdir_put(dir, "tcb_info_issuer_chain.pem", "junk", 4);
    path_refused(dir, -EBADMSG, "tcb_info_issuer_chain.pem: not a PEM certificate chain");
    tmpdir_remove(dir);
    free(encoded);
    file_clear(&chain);
}

TEST(empty_directory_and_missing_path)
{
    char dir[64];
    struct attest_collateral *c;

    tmpdir_new(dir);
    c = load_ok(dir);
    CHECK(attest_collateral_intel(c) == NULL);
    CHECK(attest_collateral_snp(c) == NULL);
    attest_collateral_free(c);
    /* A file where a known name is expected must be a regular file. */
    {
        char sub[128];

        snprintf(sub, sizeof(sub), "%s/tcb_info.json", dir);
        CHECK(mkdir(sub, 0700) == 0);
        path_refused(dir, -EBADMSG, "tcb_info.json: not a regular file");
        CHECK(rmdir(sub) == 0);
    }
    tmpdir_remove(dir);
    path_refused("/nonexistent/collateral", -ENOENT, "collateral: no such file or directory");
    CHECK(attest_collateral_free(NULL) == NULL);
    CHECK(attest_collateral_intel(NULL) == NULL);
    CHECK(attest_collateral_snp(NULL) == NULL);
}

TEST(oversized_file_is_refused)
{
    char dir[64], path[128];
    int fd;

    tmpdir_new(dir);
    snprintf(path, sizeof(path), "%s/big.json", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, (off_t)ATTEST_COLLATERAL_DOCUMENT_MAX + 1) == 0);
    close(fd);
    path_refused(path, -E2BIG, "big.json: more than");
    /* And an Intel item file over ATTEST_INTEL_COLLATERAL_MAX. */
    snprintf(path, sizeof(path), "%s/tcb_info.json", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, (off_t)ATTEST_INTEL_COLLATERAL_MAX + 1) == 0);
    close(fd);
    path_refused(dir, -E2BIG, "tcb_info.json: more than");
    tmpdir_remove(dir);
}

/* ---- AMD ---- */

static struct file
concat(const struct file *a, const struct file *b, const struct file *c)
{
    struct file f = { malloc(a->size + b->size + (c ? c->size : 0)), 0 };

    CHECK(f.data);
    memcpy(f.data, a->data, a->size);
    memcpy(f.data + a->size, b->data, b->size);
    if (c)
        memcpy(f.data + a->size + b->size, c->data, c->size);
    f.size = a->size + b->size + (c ? c->size : 0);
    return f;
}

/* KDS: cert_chain.pem is the ASK (or ASVK) then the ARK; the VCEK comes as DER (vcek.crt). */
static void
check_kds_dir(const char *from, const char *leaf_name, const char *leaf_as, const char *ask_name)
{
    struct file ask_pem = vec(from, ask_name), ark_pem = vec(from, "ark.pem");
    struct file chain = concat(&ask_pem, &ark_pem, NULL), leaf = vec(from, leaf_name);
    struct file ask = pem_to_der(&ask_pem), ark = pem_to_der(&ark_pem);
    const struct attest_snp_cert_files *snp;
    struct attest_collateral *c;
    char dir[64];

    tmpdir_new(dir);
    tmpdir_put(dir, "cert_chain.pem", chain.data, chain.size);
    tmpdir_put(dir, leaf_as, leaf.data, leaf.size);
    c = load_ok(dir);
    snp = attest_collateral_snp(c);
    CHECK(snp);
    CHECK(same(snp->vcek, &leaf) && same(snp->ask, &ask) && same(snp->ark, &ark));
    CHECK(attest_collateral_intel(c) == NULL);
    attest_collateral_free(c);
    /* The ARK again as ark.pem: the same certificate, not a second one. */
    tmpdir_put(dir, "ark.pem", ark_pem.data, ark_pem.size);
    attest_collateral_free(load_ok(dir));
    tmpdir_remove(dir);
    file_clear(&ask_pem);
    file_clear(&ark_pem);
    file_clear(&chain);
    file_clear(&leaf);
    file_clear(&ask);
    file_clear(&ark);
}

TEST(amd_kds_names)
{
    check_kds_dir("snp-milan-trustee", "vcek.der", "vcek.crt", "ask.pem");
    check_kds_dir("snp-vlek-trustee", "vlek.der", "vlek.der", "asvk.pem");
}

TEST(amd_pem_bundle_and_der_alone)
{
    const char *from = "snp-genoa-veraison-tsm";
    struct file vcek_pem = vec(from, "vcek.pem"), ask_pem = vec(from, "ask.pem");
    struct file ark_pem = vec(from, "ark.pem"), vcek = vec(from, "vcek.der");
    struct file bundle = concat(&ark_pem, &vcek_pem, &ask_pem);
    struct file ask = pem_to_der(&ask_pem), ark = pem_to_der(&ark_pem);
    struct attest_collateral *c = NULL;
    struct attest_failure failure;
    const struct attest_snp_cert_files *snp;

    /* Any order: told apart by subject and issuer. */
    CHECK_EQ_INT(attest_collateral_load_data(bundle.data, bundle.size, "bundle.pem", &c, &failure),
                 0);
    CHECK_EQ_STR(attest_collateral_shape(c), "amd-certificates");
    snp = attest_collateral_snp(c);
    CHECK(snp && same(snp->vcek, &vcek) && same(snp->ask, &ask) && same(snp->ark, &ark));
    attest_collateral_free(c);

    /* The DER VCEK alone: the ASK and ARK are left for the verifier to report missing. */
    c = load_vec(from, "vcek.der");
    snp = attest_collateral_snp(c);
    CHECK(snp && same(snp->vcek, &vcek) && empty(snp->ask) && empty(snp->ark));
    attest_collateral_free(c);

    /* An Intel certificate is not an AMD one. */
    {
        struct file intel = vec("roots/intel", "Intel_SGX_Root_CA.pem");
        struct file mixed = concat(&vcek_pem, &intel, NULL);

        c = NULL;
        CHECK_EQ_INT(
            attest_collateral_load_data(mixed.data, mixed.size, "bundle.pem", &c, &failure),
            -EBADMSG);
        CHECK(strstr(failure.reason,
                     "bundle.pem: not an AMD SEV certificate (CN \"Intel SGX Root CA\")"));
        file_clear(&intel);
        file_clear(&mixed);
    }
    /* Neither JSON nor a certificate. */
    CHECK_EQ_INT(attest_collateral_load_data("\x30\x03\x02\x01", 4, "x.bin", &c, &failure),
                 -EBADMSG);
    CHECK(strstr(failure.reason, "x.bin: not a DER or PEM certificate"));
    /* A DER certificate with a byte after it. */
    {
        struct file longer = concat(&vcek, &(struct file){ (uint8_t *)"\0", 1 }, NULL);

        CHECK_EQ_INT(attest_collateral_load_data(longer.data, longer.size, NULL, &c, &failure),
                     -EBADMSG);
        file_clear(&longer);
    }
    /* A PEM block cut short. */
    CHECK_EQ_INT(
        attest_collateral_load_data(vcek_pem.data, vcek_pem.size - 40, "v.pem", &c, &failure),
        -EBADMSG);
    CHECK(strstr(failure.reason, "v.pem: not a PEM certificate bundle"));
    file_clear(&vcek_pem);
    file_clear(&ask_pem);
    file_clear(&ark_pem);
    file_clear(&vcek);
    file_clear(&bundle);
    file_clear(&ask);
    file_clear(&ark);
}

TEST(amd_roles_are_checked)
{
    char dir[64];
    struct attest_collateral *c;
    struct file asvk_pem = vec("snp-vlek-trustee", "asvk.pem");
    struct file asvk = pem_to_der(&asvk_pem);

    tmpdir_new(dir);
    /* ark.pem holding the ASK. */
    tmpdir_copy(dir, "ark.pem", "snp-milan-trustee", "ask.pem");
    path_refused(dir, -EBADMSG, "ark.pem: holds an ASK/ASVK (CN \"SEV-Milan\"), not an ARK");
    tmpdir_copy(dir, "ark.pem", "snp-milan-trustee", "ark.pem");
    /* Both intermediates and no leaf to choose between them. */
    tmpdir_copy(dir, "ask.pem", "snp-milan-trustee", "ask.pem");
    tmpdir_copy(dir, "asvk.pem", "snp-vlek-trustee", "asvk.pem");
    path_refused(dir, -ENOTUNIQ, "2 different certificates could be an ASK/ASVK");
    /* With the VLEK, its issuer (the ASVK) is picked. */
    tmpdir_copy(dir, "vlek.der", "snp-vlek-trustee", "vlek.der");
    c = load_ok(dir);
    CHECK(same(attest_collateral_snp(c)->ask, &asvk));
    attest_collateral_free(c);
    /* Two different leaves. */
    tmpdir_copy(dir, "vcek.crt", "snp-milan-trustee", "vcek.der");
    path_refused(dir, -ENOTUNIQ, "2 different certificates could be a VCEK/VLEK");
    tmpdir_remove(dir);
    file_clear(&asvk_pem);
    file_clear(&asvk);
}

/* ---- sgx_ql_qve_collateral_t-style and bare PCS bodies ---- */

static json_t *
qve_doc(const char *dir, bool camel)
{
    struct file tcb = vec(dir, "tcb_info.json"), qe = vec(dir, "qe_identity.json");
    struct file tcb_chain = vec(dir, "tcb_info_issuer_chain.pem");
    struct file qe_chain = vec(dir, "qe_identity_issuer_chain.pem");
    struct file crl = vec(dir, "pck_crl.der"), crl_chain = vec(dir, "pck_crl_issuer_chain.pem");
    struct file root = vec(dir, "root_ca_crl.der");
    char *crl_hex = hex_of(&crl, true), *root_hex = hex_of(&root, false);
    char *crl_chain_pct = percent_of(&crl_chain);
    json_t *doc = json_object();

    CHECK(doc);
    CHECK(json_object_set_new(doc, camel ? "majorVersion" : "major_version", json_integer(3)) == 0);
    CHECK(json_object_set_new(doc, camel ? "pckCrlIssuerChain" : "pck_crl_issuer_chain",
                              json_string(crl_chain_pct)) == 0);
    CHECK(json_object_set_new(doc, camel ? "rootCaCrl" : "root_ca_crl", json_string(root_hex)) ==
          0);
    CHECK(json_object_set_new(doc, camel ? "pckCrl" : "pck_crl", json_string(crl_hex)) == 0);
    CHECK(json_object_set_new(doc, camel ? "qeIdentityIssuerChain" : "qe_identity_issuer_chain",
                              text_of(&qe_chain)) == 0);
    CHECK(json_object_set_new(doc, camel ? "qeIdentity" : "qe_identity", text_of(&qe)) == 0);
    if (camel) {
        /* Intel's Rust tools: one TCB info per platform. */
        json_t *p = json_object();

        CHECK(p);
        CHECK(json_object_set_new(p, "fmspc", json_string("00A067110000")) == 0);
        CHECK(json_object_set_new(p, "tcbInfoIssuerChain", text_of(&tcb_chain)) == 0);
        CHECK(json_object_set_new(p, "tcbInfo", text_of(&tcb)) == 0);
        CHECK(json_object_set_new(doc, "platforms", json_pack("[o]", p)) == 0);
    } else {
        CHECK(json_object_set_new(doc, "tcb_info_issuer_chain", text_of(&tcb_chain)) == 0);
        CHECK(json_object_set_new(doc, "tcb_info", text_of(&tcb)) == 0);
    }
    free(crl_hex);
    free(root_hex);
    free(crl_chain_pct);
    file_clear(&tcb);
    file_clear(&qe);
    file_clear(&tcb_chain);
    file_clear(&qe_chain);
    file_clear(&crl);
    file_clear(&crl_chain);
    file_clear(&root);
    return doc;
}

TEST(qve_collateral_shapes)
{
    for (int camel = 0; camel < 2; camel++) {
        json_t *doc = qve_doc("sgx-v3-phala-p1", camel);
        struct attest_collateral *c = json_ok(doc, JSON_INDENT(4));

        CHECK_EQ_STR(attest_collateral_shape(c), "qve-collateral");
        check_same_as_split("sgx-v3-phala-p1", attest_collateral_intel(c));
        attest_collateral_free(c);
        if (camel) {
            /* A platform's TCB info must be the one for its FMSPC. */
            json_t *p = json_array_get(json_object_get(doc, "platforms"), 0);

            CHECK(json_object_set_new(p, "fmspc", json_string("00A067110001")) == 0);
            doc_refused(doc, -EBADMSG, "tcbInfo: tcbInfo.fmspc differs from the FMSPC");
            CHECK(json_object_set_new(p, "fmspc", json_string("00A0671100")) == 0);
            doc_refused(doc, -EBADMSG, "platforms: entry 0: fmspc is not 12 hex digits");
        }
        json_decref(doc);
    }
    /* PEM CRLs are kept as PEM. */
    {
        json_t *doc = qve_doc("sgx-v3-phala-p1", false);
        struct file root = vec("sgx-v3-phala-p1", "root_ca_crl.der");
        const unsigned char *p = root.data;
        X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)root.size);
        BIO *bio = BIO_new(BIO_s_mem());
        char *pem;
        long n;
        struct attest_collateral *c;

        CHECK(crl && bio && PEM_write_bio_X509_CRL(bio, crl) == 1);
        n = BIO_get_mem_data(bio, &pem);
        CHECK(n > 0);
        CHECK(json_object_set_new(doc, "root_ca_crl", json_stringn(pem, (size_t)n)) == 0);
        c = json_ok(doc, 0);
        CHECK(attest_collateral_intel(c)->root_ca_crl.size == (size_t)n);
        CHECK(memcmp(attest_collateral_intel(c)->root_ca_crl.data, pem, (size_t)n) == 0);
        attest_collateral_free(c);
        X509_CRL_free(crl);
        BIO_free(bio);
        json_decref(doc);
        file_clear(&root);
    }
}

/* A TCB info and a QE identity of different kinds do not describe one platform. */
TEST(mismatched_kinds_are_refused)
{
    char dir[64];

    tmpdir_new(dir);
    tmpdir_copy(dir, "tcb_info.json", "sgx-v3-phala-p1", "tcb_info.json");
    tmpdir_copy(dir, "qe_identity.json", "tdx-v4-phala-p2", "qe_identity.json");
    path_refused(dir, -EBADMSG, "qe_identity: the TD_QE identity does not go with an SGX TCB info");
    tmpdir_copy(dir, "tcb_info.json", "tdx-v4-phala-p2", "tcb_info.json");
    attest_collateral_free(load_ok(dir));
    tmpdir_remove(dir);
    {
        json_t *doc = qve_doc("sgx-v3-phala-p1", false);
        struct file qe = vec("tdx-v4-phala-p2", "qe_identity.json");

        CHECK(json_object_set_new(doc, "qe_identity", text_of(&qe)) == 0);
        doc_refused(doc, -EBADMSG, "qe_identity: the TD_QE identity does not go with an SGX");
        json_decref(doc);
        file_clear(&qe);
    }
}

TEST(bare_pcs_bodies)
{
    const char *dir = "tdx-v4-oasis";
    struct file tcb = vec(dir, "tcb_info.json"), qe = vec(dir, "qe_identity.json");
    struct attest_collateral *c = load_vec(dir, "tcb_info.json");
    const struct attest_intel_collateral_files *f = attest_collateral_intel(c);

    CHECK_EQ_STR(attest_collateral_shape(c), "pcs-tcb-info");
    CHECK(f && same(f->tcb_info, &tcb) && empty(f->qe_identity) && empty(f->pck_crl));
    attest_collateral_free(c);
    c = load_vec(dir, "qe_identity.json");
    f = attest_collateral_intel(c);
    CHECK_EQ_STR(attest_collateral_shape(c), "pcs-qe-identity");
    CHECK(f && same(f->qe_identity, &qe) && empty(f->tcb_info));
    attest_collateral_free(c);
    file_clear(&tcb);
    file_clear(&qe);
}

/* ---- PCCS platform_collaterals.json ---- */

static json_t *
parsed(const char *dir, const char *file)
{
    struct file f = vec(dir, file);
    json_t *v = json_loadb((const char *)f.data, f.size, 0, NULL);

    CHECK(v);
    file_clear(&f);
    return v;
}

static json_t *
pct_string(const char *dir, const char *file)
{
    struct file f = vec(dir, file);
    char *pct = percent_of(&f);
    json_t *s = json_string(pct);

    free(pct);
    file_clear(&f);
    return s;
}

static json_t *
hex_string(const char *dir, const char *file)
{
    struct file f = vec(dir, file);
    char *hex = hex_of(&f, false);
    json_t *s = json_string(hex);

    free(hex);
    file_clear(&f);
    return s;
}

/* As PccsAdminTool writes it: TCB infos parsed, identities as text, CRLs as hex, chains as
 * PCS's percent-encoded headers. p1 is SGX (Processor CA), p2 and p3 TDX (Platform CA). */
static json_t *
pccs_doc(void)
{
    json_t *tcbinfos =
        json_pack("[{s:s, s:o}, {s:s, s:o}, {s:s, s:o}]", "fmspc", "00a067110000", "sgx_tcbinfo",
                  parsed("sgx-v3-phala-p1", "tcb_info.json"), "fmspc", "B0C06F000000",
                  "tdx_tcbinfo", parsed("tdx-v4-phala-p2", "tcb_info.json"), "fmspc",
                  "90C06F000000", "tdx_tcbinfo", parsed("tdx-v5-phala-p3", "tcb_info.json"));
    json_t *certificates = json_pack(
        "{s:{s:o, s:o}, s:o, s:o}", "SGX-PCK-Certificate-Issuer-Chain", "PROCESSOR",
        pct_string("sgx-v3-phala-p1", "pck_crl_issuer_chain.pem"), "PLATFORM",
        pct_string("tdx-v4-phala-p2", "pck_crl_issuer_chain.pem"), "TCB-Info-Issuer-Chain",
        pct_string("sgx-v3-phala-p1", "tcb_info_issuer_chain.pem"),
        "SGX-Enclave-Identity-Issuer-Chain",
        pct_string("sgx-v3-phala-p1", "qe_identity_issuer_chain.pem"));
    struct file qe = vec("sgx-v3-phala-p1", "qe_identity.json");
    struct file tdqe = vec("tdx-v4-phala-p2", "qe_identity.json");
    json_t *doc = json_pack(
        "{s:[], s:{s:i, s:[], s:o, s:{s:o, s:o}, s:o, s:o, s:s, s:o, s:s, s:o}}", "platforms",
        "collaterals", "version", 4, "pck_certs", "tcbinfos", tcbinfos, "pckcacrl", "processorCrl",
        hex_string("sgx-v3-phala-p1", "pck_crl.der"), "platformCrl",
        hex_string("tdx-v4-phala-p2", "pck_crl.der"), "qeidentity", text_of(&qe), "tdqeidentity",
        text_of(&tdqe), "qveidentity", "", "certificates", certificates, "rootcacrl_cdp",
        "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der", "rootcacrl",
        hex_string("sgx-v3-phala-p1", "root_ca_crl.der"));

    CHECK(doc);
    file_clear(&qe);
    file_clear(&tdqe);
    return doc;
}

static void
check_pick(const struct attest_collateral *c, const char *dir, bool tdx, const char *fmspc_hex,
           enum attest_pck_ca ca)
{
    uint8_t fmspc[6];
    struct attest_collateral_key key = { .tdx = tdx, .fmspc = fmspc, .pck_ca = ca };
    struct attest_intel_collateral_files f;
    struct attest_failure failure;
    struct file tcb = vec(dir, "tcb_info.json"), chain = vec(dir, "tcb_info_issuer_chain.pem");
    struct file qe = vec(tdx ? "tdx-v4-phala-p2" : "sgx-v3-phala-p1", "qe_identity.json");
    struct file crl =
        vec(ca == ATTEST_PCK_CA_PROCESSOR ? "sgx-v3-phala-p1" : "tdx-v4-phala-p2", "pck_crl.der");
    struct file crl_chain =
        vec(ca == ATTEST_PCK_CA_PROCESSOR ? "sgx-v3-phala-p1" : "tdx-v4-phala-p2",
            "pck_crl_issuer_chain.pem");
    struct file root = vec("sgx-v3-phala-p1", "root_ca_crl.der");

    for (int i = 0; i < 6; i++) {
        unsigned v;

        CHECK(sscanf(fmspc_hex + 2 * i, "%2x", &v) == 1);
        fmspc[i] = (uint8_t)v;
    }
    CHECK_EQ_INT(attest_collateral_intel_select(c, &key, &f, &failure), 0);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_NONE);
    /* The TCB info was parsed and written back compact: PCS's exact bytes again. */
    CHECK(same(f.tcb_info, &tcb));
    CHECK(same(f.tcb_info_issuer_chain, &chain));
    CHECK(same(f.qe_identity, &qe));
    CHECK(same(f.pck_crl, &crl) && same(f.pck_crl_issuer_chain, &crl_chain));
    CHECK(same(f.root_ca_crl, &root));
    file_clear(&tcb);
    file_clear(&chain);
    file_clear(&qe);
    file_clear(&crl);
    file_clear(&crl_chain);
    file_clear(&root);
}

/* The bundle's TCB infos are listed with their kinds and FMSPCs, each once. */
static void
check_tcb_info_keys(const struct attest_collateral *c)
{
    static const char *const expected[] = { "sgx/00a067110000", "tdx/b0c06f000000",
                                            "tdx/90c06f000000" };
    bool seen[ELEMENTSOF(expected)] = { false };
    size_t n = attest_collateral_tcb_info_count(c);
    uint8_t fmspc[6];
    bool tdx;

    CHECK(n >= ELEMENTSOF(expected));
    for (size_t i = 0; i < n; i++) {
        char key[32], hex[13];

        CHECK_EQ_INT(attest_collateral_tcb_info_key(c, i, &tdx, fmspc), 0);
        for (size_t j = 0; j < 6; j++)
            (void)snprintf(hex + 2 * j, 3, "%02x", fmspc[j]);
        (void)snprintf(key, sizeof(key), "%s/%s", tdx ? "tdx" : "sgx", hex);
        for (size_t j = 0; j < ELEMENTSOF(expected); j++)
            if (strcmp(key, expected[j]) == 0) {
                CHECK(!seen[j]);
                seen[j] = true;
            }
    }
    for (size_t j = 0; j < ELEMENTSOF(expected); j++)
        CHECK(seen[j]);
    CHECK_EQ_INT(attest_collateral_tcb_info_key(c, n, &tdx, fmspc), -ENOENT);
}

TEST(pccs_bundle_is_picked_from_by_key)
{
    json_t *doc = pccs_doc();
    struct attest_collateral *c = json_ok(doc, JSON_INDENT(1)); /* Python's json.dump spacing */
    struct attest_collateral_key key = { .tdx = true };
    struct attest_intel_collateral_files f;
    struct attest_failure failure;
    uint8_t unknown[6] = { 1, 2, 3, 4, 5, 6 };

    CHECK_EQ_STR(attest_collateral_shape(c), "pccs-platform-collaterals");
    CHECK(attest_collateral_intel(c) == NULL); /* several of everything */
    check_pick(c, "sgx-v3-phala-p1", false, "00A067110000", ATTEST_PCK_CA_PROCESSOR);
    check_pick(c, "tdx-v4-phala-p2", true, "B0C06F000000", ATTEST_PCK_CA_PLATFORM);
    check_pick(c, "tdx-v5-phala-p3", true, "90C06F000000", ATTEST_PCK_CA_PLATFORM);

    /* Two TDX TCB infos and no FMSPC: ambiguous. */
    key.pck_ca = ATTEST_PCK_CA_PLATFORM;
    CHECK_EQ_INT(attest_collateral_intel_select(c, &key, &f, &failure), -ENOTUNIQ);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_COLLATERAL);
    CHECK(strstr(failure.reason, "tcb_info: several TCB infos match"));
    /* Both CRLs and no CA: ambiguous. */
    key.fmspc = unknown;
    key.pck_ca = ATTEST_PCK_CA_ANY;
    CHECK_EQ_INT(attest_collateral_intel_select(c, &key, &f, &failure), -ENOTUNIQ);
    CHECK(strstr(failure.reason, "pck_crl: both PCK CAs' CRLs match"));
    /* An FMSPC the bundle lacks: no TCB info, the rest is there. */
    key.pck_ca = ATTEST_PCK_CA_PLATFORM;
    CHECK_EQ_INT(attest_collateral_intel_select(c, &key, &f, &failure), 0);
    CHECK(empty(f.tcb_info) && !empty(f.qe_identity) && !empty(f.pck_crl));
    CHECK_EQ_INT(attest_collateral_intel_select(c, NULL, &f, &failure), -EINVAL);
    check_tcb_info_keys(c);
    attest_collateral_free(c);
    json_decref(doc);
}

/* Every real TCB info survives PCCS's parse-and-dump: the compact text is PCS's body again. */
TEST(pccs_round_trips_every_tcb_info)
{
    for (size_t i = 0; i < ELEMENTSOF(case_dirs); i++) {
        json_t *casej, *info, *doc;
        const char *type;
        struct file tcb;
        struct attest_collateral *c;
        const struct attest_intel_collateral_files *f;

        if (strncmp(case_dirs[i], "sgx", 3) != 0 && strncmp(case_dirs[i], "tdx", 3) != 0)
            continue;
        casej = case_json(case_dirs[i]);
        type = json_string_value(json_object_get(casej, "evidence_type"));
        info = parsed(case_dirs[i], "tcb_info.json");
        doc = json_pack(
            "{s:{s:[{s:s, s:o}]}}", "collaterals", "tcbinfos", "fmspc",
            json_string_value(json_object_get(json_object_get(casej, "platform"), "fmspc")),
            strncmp(type, "tdx", 3) == 0 ? "tdx_tcbinfo" : "sgx_tcbinfo", info);
        CHECK(doc);
        c = json_ok(doc, JSON_INDENT(2));
        f = attest_collateral_intel(c);
        tcb = vec(case_dirs[i], "tcb_info.json");
        /* Two go-tdx-guest files end in a newline, which is not part of PCS's body. */
        while (tcb.size > 0 && tcb.data[tcb.size - 1] == '\n')
            tcb.size--;
        CHECK(f);
        if (!same(f->tcb_info, &tcb))
            fprintf(stderr, "  %s: tcb_info differs after the round trip\n", case_dirs[i]);
        CHECK(same(f->tcb_info, &tcb));
        file_clear(&tcb);
        attest_collateral_free(c);
        json_decref(doc);
        json_decref(casej);
    }
}

TEST(pccs_contradictions_are_refused)
{
    json_t *doc = pccs_doc(), *coll = json_object_get(doc, "collaterals");
    json_t *first = json_array_get(json_object_get(coll, "tcbinfos"), 0);

    /* Filed under another FMSPC. */
    CHECK(json_object_set_new(first, "fmspc", json_string("00A067110001")) == 0);
    doc_refused(doc, -EBADMSG, "sgx_tcbinfo: tcbInfo.fmspc differs from the FMSPC");
    CHECK(json_object_set_new(first, "fmspc", json_string("00A06711")) == 0);
    doc_refused(doc, -EBADMSG, "tcbinfos: entry 0 has no 12-digit fmspc");
    CHECK(json_object_set_new(first, "fmspc", json_string("00A067110000")) == 0);
    /* An SGX slot holding a TDX TCB info. */
    CHECK(json_object_set_new(first, "sgx_tcbinfo", parsed("tdx-v4-phala-p2", "tcb_info.json")) ==
          0);
    CHECK(json_object_set_new(first, "fmspc", json_string("B0C06F000000")) == 0);
    doc_refused(doc, -EBADMSG, "sgx_tcbinfo: tcbInfo.id is TDX");
    CHECK(json_object_set_new(first, "sgx_tcbinfo", parsed("sgx-v3-phala-p1", "tcb_info.json")) ==
          0);
    CHECK(json_object_set_new(first, "fmspc", json_string("00A067110000")) == 0);
    /* A TCB info object without its signature. */
    CHECK(json_object_del(json_object_get(first, "sgx_tcbinfo"), "signature") == 0);
    doc_refused(doc, -EBADMSG, "sgx_tcbinfo: no tcbInfo object and signature string");
    CHECK(json_object_set_new(first, "sgx_tcbinfo", parsed("sgx-v3-phala-p1", "tcb_info.json")) ==
          0);
    /* The processor CRL slot holding the Platform CA's CRL. */
    CHECK(json_object_set_new(json_object_get(coll, "pckcacrl"), "processorCrl",
                              hex_string("tdx-v4-phala-p2", "pck_crl.der")) == 0);
    doc_refused(doc, -EBADMSG, "processorCrl: issued by the other PCK CA");
    CHECK(json_object_set_new(json_object_get(coll, "pckcacrl"), "processorCrl",
                              hex_string("sgx-v3-phala-p1", "pck_crl.der")) == 0);
    /* The TD QE identity filed as the QE's. */
    CHECK(json_object_set(coll, "qeidentity", json_object_get(coll, "tdqeidentity")) == 0);
    doc_refused(doc, -EBADMSG, "qeidentity: enclaveIdentity.id is TD_QE");
    json_decref(doc);
    json_refused("{\"collaterals\": []}", 19, -EBADMSG, "collaterals: not an object");
}

TEST_MAIN(TEST_CASE(every_case_folder_loads), TEST_CASE(phala_dcap_qvl_json_gives_the_split_files),
          TEST_CASE(dcap_qvl_byte_arrays), TEST_CASE(malformed_json_is_refused),
          TEST_CASE(bad_fields_are_refused_by_name), TEST_CASE(qvl_sample_app_names),
          TEST_CASE(mismatched_kinds_are_refused), TEST_CASE(percent_encoded_chain_file),
          TEST_CASE(empty_directory_and_missing_path), TEST_CASE(oversized_file_is_refused),
          TEST_CASE(amd_kds_names), TEST_CASE(amd_pem_bundle_and_der_alone),
          TEST_CASE(amd_roles_are_checked), TEST_CASE(qve_collateral_shapes),
          TEST_CASE(bare_pcs_bodies), TEST_CASE(pccs_bundle_is_picked_from_by_key),
          TEST_CASE(pccs_round_trips_every_tcb_info), TEST_CASE(pccs_contradictions_are_refused))
