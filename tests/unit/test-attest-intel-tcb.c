/* libattest internals: Intel TCB info and QE identity collateral (lib/attest/intel-tcb.h) against
 * the real PCS collateral of ../shared/testvectors/: every file parses with its signature checked
 * by the first certificate of its issuer chain, any change to the signed bytes is refused, bad
 * members are refused by name, and each case's platform (its numbers taken from case.json, not
 * from the quote parser) evaluates to the case's expected status. Synthetic collateral covers
 * what the real files do not (TCB info v2, level order, relaunch, advisory order). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest-util.h"
#include "intel-tcb.h"
#include "test.h"

#ifndef TESTVECTORS_DIR
#error "TESTVECTORS_DIR must name ../shared/testvectors"
#endif

#define FILE_MAX (1u << 20)

static const char *const intel_cases[] = {
    "sgx-v3-phala-p1",       "tdx-v4-phala-p2",        "tdx-v5-phala-p3",      "tdx-v4-oasis",
    "tdx-v4-oasis-trailing", "tdx-v4-oasis-outofdate", "tdx-v4-trustee-debug", "tdx-v5-automata-a1",
};
#define CASE_COUNT (sizeof(intel_cases) / sizeof(intel_cases[0]))

/* ---- Files. ---- */

struct text {
    char *data;
    size_t size;
};

static void
text_release(struct text *t)
{
    free(t->data);
    t->data = NULL;
    t->size = 0;
}

static void
case_path(const char *name, const char *file, char *out, size_t size)
{
    int n = snprintf(out, size, "%s/%s/%s", TESTVECTORS_DIR, name, file);

    CHECK(n > 0 && (size_t)n < size);
}

static struct text
file_read(const char *name, const char *file)
{
    char path[512];
    struct text t = { 0 };
    FILE *f;

    case_path(name, file, path, sizeof(path));
    f = fopen(path, "re");
    CHECK(f);
    t.data = malloc(FILE_MAX + 1);
    CHECK(t.data);
    t.size = fread(t.data, 1, FILE_MAX, f);
    fclose(f);
    CHECK(t.size > 0 && t.size < FILE_MAX);
    t.data[t.size] = '\0';
    return t;
}

static json_t *
case_json(const char *name)
{
    char path[512];
    json_error_t error;
    json_t *json;

    case_path(name, "case.json", path, sizeof(path));
    json = json_load_file(path, 0, &error);
    CHECK(json);
    return json;
}

/* The first certificate of the issuer chain: the TCB Signing key. */
static EVP_PKEY *
signer_key(const char *name, const char *chain_file)
{
    char path[512];
    EVP_PKEY *key;
    X509 *cert;
    FILE *f;

    case_path(name, chain_file, path, sizeof(path));
    f = fopen(path, "re");
    CHECK(f);
    cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    CHECK(cert);
    key = X509_get_pubkey(cert);
    X509_free(cert);
    CHECK(key);
    return key;
}

static void
hex_to(const char *hex, uint8_t *out, size_t size)
{
    CHECK(hex && strlen(hex) == 2 * size);
    for (size_t i = 0; i < size; i++) {
        unsigned byte;

        CHECK(sscanf(hex + 2 * i, "%2x", &byte) == 1);
        out[i] = (uint8_t)byte;
    }
}

static const char *
jstr(json_t *object, const char *path)
{
    json_t *value = json_object_get(object, path);

    CHECK(json_is_string(value));
    return json_string_value(value);
}

static long long
jint(json_t *object, const char *path)
{
    json_t *value = json_object_get(object, path);

    CHECK(json_is_integer(value));
    return json_integer_value(value);
}

/* ---- A case's platform, from its case.json. ---- */

struct intel_case {
    json_t *json;
    int64_t at;
    bool tdx;
    struct pck_extensions pck;
    struct intel_quote quote;
};

static void
case_load(const char *name, struct intel_case *c)
{
    json_t *platform, *identity, *layout, *qe, *components;
    const char *svn2;

    memset(c, 0, sizeof(*c));
    c->json = case_json(name);
    c->at = jint(json_object_get(c->json, "verification_time"), "unix");
    platform = json_object_get(c->json, "platform");
    identity = json_object_get(c->json, "identity");
    layout = json_object_get(c->json, "quote_layout");
    qe = json_object_get(platform, "qe_report");
    CHECK(platform && identity && layout && qe);

    components = json_object_get(platform, "pck_tcb_components");
    CHECK_EQ_INT(json_array_size(components), 16);
    for (size_t i = 0; i < 16; i++)
        c->pck.tcb_components[i] = (uint8_t)json_integer_value(json_array_get(components, i));
    c->pck.pcesvn = (uint16_t)jint(platform, "pck_pcesvn");
    hex_to(jstr(platform, "fmspc"), c->pck.fmspc, 6);
    hex_to(jstr(platform, "pce_id"), c->pck.pce_id, 2);

    c->quote.version = (uint16_t)jint(layout, "version");
    c->quote.body_type = (enum intel_body_type)jint(layout, "body_type");
    c->tdx = strcmp(jstr(layout, "tee_type"), "0x81") == 0;
    c->quote.tee_type = c->tdx ? INTEL_TEE_TDX : INTEL_TEE_SGX;
    if (c->tdx) {
        uint8_t seam[8];

        hex_to(jstr(identity, "tee_tcb_svn"), c->quote.td.tee_tcb_svn, 16);
        hex_to(jstr(identity, "mrsignerseam"), c->quote.td.mrsignerseam, 48);
        hex_to(jstr(identity, "seam_attributes"), seam, 8);
        c->quote.td.seam_attributes = le64_read(seam);
        svn2 = json_string_value(json_object_get(identity, "tee_tcb_svn2"));
        if (svn2) {
            c->quote.td.td15 = true;
            hex_to(svn2, c->quote.td.tee_tcb_svn2, 16);
        }
    }
    hex_to(jstr(qe, "mrsigner"), c->quote.qe_report.mrsigner, 32);
    hex_to(jstr(qe, "attributes"), c->quote.qe_report.attributes, 16);
    c->quote.qe_report.isvprodid = (uint16_t)jint(qe, "isvprodid");
    c->quote.qe_report.isvsvn = (uint16_t)jint(qe, "isvsvn");
    c->quote.qe_report.miscselect = (uint32_t)jint(qe, "miscselect");
}

static void
case_release(struct intel_case *c)
{
    json_decref(c->json);
    c->json = NULL;
}

static struct intel_tcb_info *
tcb_info_load(const char *name, bool check_signature)
{
    struct text body = file_read(name, "tcb_info.json");
    EVP_PKEY *key = check_signature ? signer_key(name, "tcb_info_issuer_chain.pem") : NULL;
    struct intel_tcb_info *info = NULL;
    struct attest_failure failure = { 0 };
    int r = intel_tcb_info_parse(body.data, body.size, key, &info, &failure);

    if (r < 0)
        fprintf(stderr, "  %s: %s\n", name, failure.reason);
    CHECK_EQ_INT(r, 0);
    EVP_PKEY_free(key);
    text_release(&body);
    return info;
}

static struct intel_qe_identity *
qe_identity_load(const char *name, bool check_signature)
{
    struct text body = file_read(name, "qe_identity.json");
    EVP_PKEY *key = check_signature ? signer_key(name, "qe_identity_issuer_chain.pem") : NULL;
    struct intel_qe_identity *identity = NULL;
    struct attest_failure failure = { 0 };
    int r = intel_qe_identity_parse(body.data, body.size, key, &identity, &failure);

    if (r < 0)
        fprintf(stderr, "  %s: %s\n", name, failure.reason);
    CHECK_EQ_INT(r, 0);
    EVP_PKEY_free(key);
    text_release(&body);
    return identity;
}

/* ---- Parsing the real collateral. ---- */

TEST(every_file_parses_with_its_signature)
{
    for (size_t i = 0; i < CASE_COUNT; i++) {
        struct intel_case c;
        struct intel_tcb_info *info;
        struct intel_qe_identity *identity;

        case_load(intel_cases[i], &c);
        info = tcb_info_load(intel_cases[i], true);
        identity = qe_identity_load(intel_cases[i], true);
        CHECK_EQ_INT(info->tdx, c.tdx);
        CHECK_EQ_INT(info->version, 3);
        CHECK_EQ_INT(info->tcb_type, 0);
        CHECK(memcmp(info->fmspc, c.pck.fmspc, 6) == 0); /* lower-case in the oasis files */
        CHECK(memcmp(info->pce_id, c.pck.pce_id, 2) == 0);
        CHECK_EQ_INT(info->has_tdx_module, c.tdx);
        CHECK(info->level_count >= 2);
        for (size_t l = 1; l < info->level_count; l++)
            CHECK(memcmp(info->levels[l - 1].sgx_components, info->levels[l].sgx_components, 16) >
                      0 ||
                  info->levels[l - 1].pcesvn > info->levels[l].pcesvn);
        CHECK_EQ_INT(identity->td_qe, c.tdx);
        CHECK_EQ_INT(identity->version, 2);
        CHECK(identity->level_count >= 1);
        /* Each case's time lies in both windows: the dates are read right. */
        CHECK(info->issue_date <= c.at && c.at <= info->next_update);
        CHECK(identity->issue_date <= c.at && c.at <= identity->next_update);
        intel_tcb_info_free(info);
        intel_qe_identity_free(identity);
        case_release(&c);
    }
}

TEST(sgx_tcb_info_fields)
{
    struct intel_tcb_info *info = tcb_info_load("sgx-v3-phala-p1", true);
    const struct intel_tcb_level *l1;

    CHECK_EQ_INT(info->issue_date, 1750330571); /* 2025-06-19T10:56:11Z */
    CHECK_EQ_INT(info->next_update, 1752922571);
    CHECK_EQ_INT(info->tcb_evaluation_data_number, 17);
    CHECK_EQ_INT(info->level_count, 11);
    CHECK_EQ_INT(info->module_identity_count, 0);
    l1 = &info->levels[1];
    CHECK_EQ_INT(l1->status, ATTEST_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED);
    CHECK_EQ_INT(l1->tcb_date, 1710288000); /* 2024-03-13 */
    CHECK_EQ_INT(l1->pcesvn, 13);
    CHECK_EQ_INT(l1->sgx_components[4], 255);
    CHECK_EQ_INT(l1->advisory_count, 2);
    CHECK_EQ_STR(l1->advisory_ids[0], "INTEL-SA-00289");
    CHECK_EQ_STR(l1->advisory_ids[1], "INTEL-SA-00615");
    CHECK_EQ_INT(info->levels[10].pcesvn, 5);
    CHECK_EQ_INT(info->levels[10].advisory_count, 20);
    intel_tcb_info_free(info);
}

TEST(tdx_tcb_info_fields)
{
    struct intel_tcb_info *info = tcb_info_load("tdx-v5-phala-p3", true);
    const struct intel_tdx_module_identity *m;

    CHECK(info->tdx);
    CHECK_EQ_INT(info->module_identity_count, 2);
    m = &info->module_identities[1];
    CHECK_EQ_STR(m->id, "TDX_01");
    CHECK_EQ_INT(m->attributes_mask[0], 0xff);
    CHECK_EQ_INT(m->level_count, 3);
    CHECK_EQ_INT(m->levels[0].isvsvn, 6);
    CHECK_EQ_INT(m->levels[1].isvsvn, 4);
    CHECK_EQ_INT(m->levels[1].status, ATTEST_TCB_OUT_OF_DATE);
    CHECK_EQ_STR(m->levels[1].advisory_ids[1], "INTEL-SA-01099");
    CHECK(info->levels[0].has_tdx_components);
    CHECK_EQ_INT(info->levels[0].tdx_components[0], 5);
    CHECK_EQ_INT(info->levels[0].tdx_components[2], 3);
    intel_tcb_info_free(info);
}

TEST(qe_identity_fields)
{
    struct intel_qe_identity *id = qe_identity_load("sgx-v3-phala-p1", true);

    CHECK(!id->td_qe);
    CHECK_EQ_INT(id->miscselect, 0);
    CHECK_EQ_INT(id->miscselect_mask, 0xffffffff);
    CHECK_EQ_INT(id->attributes[0], 0x11);
    CHECK_EQ_INT(id->attributes_mask[0], 0xfb);
    CHECK_EQ_INT(id->attributes_mask[8], 0);
    CHECK_EQ_INT(id->mrsigner[0], 0x8c);
    CHECK_EQ_INT(id->isvprodid, 1);
    CHECK_EQ_INT(id->levels[0].isvsvn, 8);
    CHECK_EQ_INT(id->levels[1].status, ATTEST_TCB_OUT_OF_DATE);
    CHECK_EQ_STR(id->levels[1].advisory_ids[0], "INTEL-SA-00615");
    intel_qe_identity_free(id);
}

/* The signed span as the README defines it, found here independently of the parser. */
static void
signed_span(const struct text *body, const char *key, size_t *ret_from, size_t *ret_to)
{
    char prefix[40];
    const char *end = NULL;

    snprintf(prefix, sizeof(prefix), "{\"%s\":", key);
    CHECK(strncmp(body->data, prefix, strlen(prefix)) == 0);
    for (const char *p = strstr(body->data, ",\"signature\""); p;
         p = strstr(p + 1, ",\"signature\""))
        end = p;
    CHECK(end);
    *ret_from = strlen(prefix);
    *ret_to = (size_t)(end - body->data);
}

static int
parse_kind(bool tcb_info, const struct text *body, EVP_PKEY *key, struct attest_failure *failure)
{
    int r;

    if (tcb_info) {
        struct intel_tcb_info *info = NULL;

        r = intel_tcb_info_parse(body->data, body->size, key, &info, failure);
        intel_tcb_info_free(info);
    } else {
        struct intel_qe_identity *identity = NULL;

        r = intel_qe_identity_parse(body->data, body->size, key, &identity, failure);
        intel_qe_identity_free(identity);
    }
    return r;
}

/* Every byte of the signed value, flipped, is refused by the signature: the span is found
 * without reading inside it. */
static void
flip_every_byte(const char *name, bool tcb_info)
{
    struct text body = file_read(name, tcb_info ? "tcb_info.json" : "qe_identity.json");
    EVP_PKEY *key =
        signer_key(name, tcb_info ? "tcb_info_issuer_chain.pem" : "qe_identity_issuer_chain.pem");
    size_t from, to;

    signed_span(&body, tcb_info ? "tcbInfo" : "enclaveIdentity", &from, &to);
    for (size_t i = from; i < to; i++) {
        struct attest_failure failure = { 0 };

        body.data[i] ^= 0x01;
        CHECK_EQ_INT(parse_kind(tcb_info, &body, key, &failure), -EKEYREJECTED);
        CHECK_EQ_INT(failure.step, ATTEST_STEP_COLLATERAL);
        CHECK(strstr(failure.reason, "signature does not verify"));
        body.data[i] ^= 0x01;
    }
    CHECK_EQ_INT(parse_kind(tcb_info, &body, key, NULL), 0);
    EVP_PKEY_free(key);
    text_release(&body);
}

TEST(flipping_any_signed_byte_is_rejected)
{
    for (size_t i = 0; i < CASE_COUNT; i++) {
        flip_every_byte(intel_cases[i], true);
        flip_every_byte(intel_cases[i], false);
    }
}

TEST(signature_member_checked)
{
    struct text body = file_read("tdx-v4-oasis", "tcb_info.json");
    EVP_PKEY *key = signer_key("tdx-v4-oasis", "tcb_info_issuer_chain.pem");
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    struct attest_failure failure = { 0 };
    char *sig = strstr(body.data, "\"signature\":\"") + strlen("\"signature\":\"");
    char saved = sig[10];

    CHECK(other);
    /* Another hex digit in r or s. */
    sig[10] = sig[10] == '0' ? '1' : '0';
    CHECK_EQ_INT(parse_kind(true, &body, key, &failure), -EKEYREJECTED);
    CHECK_EQ_STR(failure.reason, "tcb_info signature does not verify");
    /* Not hex at all. */
    sig[10] = 'x';
    CHECK_EQ_INT(parse_kind(true, &body, key, &failure), -EBADMSG);
    CHECK(strstr(failure.reason, "body"));
    sig[10] = saved;
    /* The right bytes, another key. */
    CHECK_EQ_INT(parse_kind(true, &body, other, &failure), -EKEYREJECTED);
    CHECK_EQ_INT(parse_kind(true, &body, key, &failure), 0);
    EVP_PKEY_free(other);
    EVP_PKEY_free(key);
    text_release(&body);
}

TEST(every_truncation_is_refused)
{
    struct text tcb = file_read("sgx-v3-phala-p1", "tcb_info.json");
    struct text qe = file_read("sgx-v3-phala-p1", "qe_identity.json");

    for (size_t n = 0; n < tcb.size; n++) {
        struct text cut = { tcb.data, n };

        CHECK(parse_kind(true, &cut, NULL, NULL) < 0);
    }
    for (size_t n = 0; n < qe.size; n++) {
        struct text cut = { qe.data, n };

        CHECK(parse_kind(false, &cut, NULL, NULL) < 0);
    }
    text_release(&tcb);
    text_release(&qe);
}

/* The dcap-qvl collateral JSON (raw signed text and a separate signature) gives the same bodies,
 * also with the members the other way round and with whitespace around them. */
TEST(dcap_qvl_collateral_and_member_order)
{
    static const char *const phala[] = { "sgx-v3-phala-p1", "tdx-v4-phala-p2", "tdx-v5-phala-p3" };

    for (size_t i = 0; i < 3; i++) {
        json_t *collateral = NULL;
        char path[512];
        EVP_PKEY *key = signer_key(phala[i], "tcb_info_issuer_chain.pem");
        struct text file = file_read(phala[i], "tcb_info.json");
        struct text body;
        char *text = NULL;

        case_path(phala[i], "collateral_dcap_qvl.json", path, sizeof(path));
        collateral = json_load_file(path, 0, NULL);
        CHECK(collateral);
        CHECK(asprintf(&text, "{\"tcbInfo\":%s,\"signature\":\"%s\"}", jstr(collateral, "tcb_info"),
                       jstr(collateral, "tcb_info_signature")) > 0);
        CHECK_EQ_INT(strlen(text), file.size);
        CHECK(memcmp(text, file.data, file.size) == 0);
        free(text);
        CHECK(asprintf(&text, " {\n \"signature\" : \"%s\" ,\r\n\t\"tcbInfo\" :%s\n}\n",
                       jstr(collateral, "tcb_info_signature"), jstr(collateral, "tcb_info")) > 0);
        body = (struct text){ text, strlen(text) };
        CHECK_EQ_INT(parse_kind(true, &body, key, NULL), 0);
        free(text);
        CHECK(asprintf(&text, "{\"enclaveIdentity\":%s,\"signature\":\"%s\"}",
                       jstr(collateral, "qe_identity"),
                       jstr(collateral, "qe_identity_signature")) > 0);
        body = (struct text){ text, strlen(text) };
        EVP_PKEY_free(key);
        key = signer_key(phala[i], "qe_identity_issuer_chain.pem");
        CHECK_EQ_INT(parse_kind(false, &body, key, NULL), 0);
        free(text);
        EVP_PKEY_free(key);
        text_release(&file);
        json_decref(collateral);
    }
}

/* ---- Malformed members, named. ---- */

/* body with the first occurrence of from replaced by to; must occur. */
static struct text
replaced(const struct text *body, const char *from, const char *to)
{
    const char *at = strstr(body->data, from);
    struct text t;
    size_t head;

    CHECK(at);
    head = (size_t)(at - body->data);
    t.size = body->size - strlen(from) + strlen(to);
    t.data = malloc(t.size + 1);
    CHECK(t.data);
    memcpy(t.data, body->data, head);
    memcpy(t.data + head, to, strlen(to));
    memcpy(t.data + head + strlen(to), at + strlen(from), body->size - head - strlen(from));
    t.data[t.size] = '\0';
    return t;
}

struct mutation {
    const char *from, *to;
    const char *reason; /* a part of the expected reason */
};

static void
refused(const char *name, bool tcb_info, const struct mutation *m)
{
    struct text body = file_read(name, tcb_info ? "tcb_info.json" : "qe_identity.json");
    struct text bad = replaced(&body, m->from, m->to);
    struct attest_failure failure = { 0 };
    int r = parse_kind(tcb_info, &bad, NULL, &failure);

    if (r != -EBADMSG || !strstr(failure.reason, m->reason))
        fprintf(stderr, "  %s -> %s: %d \"%s\"\n", m->from, m->to, r, failure.reason);
    CHECK_EQ_INT(r, -EBADMSG);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_COLLATERAL);
    CHECK(strstr(failure.reason, m->reason));
    CHECK(strncmp(failure.reason, tcb_info ? "tcb_info: " : "qe_identity: ", tcb_info ? 10 : 13) ==
          0);
    text_release(&bad);
    text_release(&body);
}

TEST(malformed_tcb_info_members_named)
{
    static const struct mutation sgx[] = {
        { "\"pceId\":\"0000\"", "\"pceIdX\":\"0000\"", "tcbInfo.pceId is missing" },
        { "\"fmspc\":\"00A067110000\"", "\"fmspc\":\"00A0671100\"", "tcbInfo.fmspc is not 12 hex" },
        { "\"fmspc\":\"00A067110000\"", "\"fmspc\":\"00A06711000G\"", "tcbInfo.fmspc" },
        { "\"fmspc\":\"00A067110000\"", "\"fmspc\":6", "tcbInfo.fmspc is not a string" },
        { "\"version\":3", "\"version\":4", "tcbInfo.version is 4" },
        { "\"version\":3", "\"version\":3.0", "tcbInfo.version is not an integer" },
        { "\"id\":\"SGX\"", "\"id\":\"SGY\"", "tcbInfo.id" },
        { "\"tcbType\":0", "\"tcbType\":1", "tcbInfo.tcbType is not 0" },
        { "\"tcbEvaluationDataNumber\":17", "\"tcbEvaluationDataNumber\":-1",
          "tcbInfo.tcbEvaluationDataNumber" },
        { "\"issueDate\":\"2025-06-19T10:56:11Z\"", "\"issueDate\":\"2025-06-31T10:56:11Z\"",
          "tcbInfo.issueDate is not a date" },
        { "\"nextUpdate\":\"2025-07-19T10:56:11Z\"", "\"nextUpdate\":\"2025-07-19 10:56:11\"",
          "tcbInfo.nextUpdate" },
        { "{\"svn\":11}", "{\"svn\":256}",
          "tcbInfo.tcbLevels[0].tcb.sgxtcbcomponents[0].svn is not in 0..255" },
        { "{\"svn\":11},", "", "tcbInfo.tcbLevels[0].tcb.sgxtcbcomponents does not have 16" },
        { "\"pcesvn\":13", "\"pcesvn\":\"13\"", "tcbInfo.tcbLevels[0].tcb.pcesvn is not an int" },
        { "\"tcbStatus\":\"SWHardeningNeeded\"", "\"tcbStatus\":\"TDRelaunchAdvised\"",
          "tcbInfo.tcbLevels[0].tcbStatus is not a status allowed here" },
        { "\"tcbStatus\":\"SWHardeningNeeded\"", "\"tcbStatus\":\"SimulatedInsecure\"",
          "tcbInfo.tcbLevels[0].tcbStatus" },
        { "\"tcbDate\":\"2024-03-13T00:00:00Z\"", "\"tcbDate\":null",
          "tcbInfo.tcbLevels[0].tcbDate is not a string" },
        { "\"advisoryIDs\":[\"INTEL-SA-00615\"]",
          "\"advisoryIDs\":[\"INTEL-SA-00615-AND-MANY-MORE\"]",
          "tcbInfo.tcbLevels[0].advisoryIDs" },
        { "\"advisoryIDs\":[\"INTEL-SA-00615\"]", "\"advisoryIDs\":\"INTEL-SA-00615\"",
          "tcbInfo.tcbLevels[0].advisoryIDs is not an array" },
        { "\"tcbLevels\":[", "\"tcbLevels\":[7,", "tcbInfo.tcbLevels[0] is not an object" },
        { "\"tcbType\":0", "\"tcbType\":0,\"tdxModule\":{}", "tcbInfo.tdxModule is present" },
        { "\"tcbType\":0", "\"tcbType\":0,\"tcbType\":0", "is not valid JSON" },
        { "\"tcbType\":0", "\"tcbType\":0,\"x\":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]",
          "tcbInfo nests deeper than 16" },
        { "{\"tcbInfo\":", "{\"x\":1,\"tcbInfo\":", "body is not" },
        { ",\"signature\"", ",\"x\":1,\"signature\"", "tcbInfo is not valid JSON" },
    };
    static const struct mutation tdx[] = {
        { "\"tdxModule\":", "\"tdxModuleX\":", "tcbInfo.tdxModule is missing" },
        { "\"attributesMask\":\"FFFFFFFFFFFFFFFF\"}", "\"attributesMask\":\"FFFF\"}",
          "tcbInfo.tdxModule.attributesMask is not 16 hex" },
        { "\"id\":\"TDX_03\"", "\"id\":\"TDX_03_IS_TOO_LONG\"",
          "tcbInfo.tdxModuleIdentities[0].id" },
        { "\"tcbLevels\":[{\"tcb\":{\"isvsvn\":2}", "\"tcbLevels\":[{\"tcb\":{\"isvsvn\":-2}",
          "tcbInfo.tdxModuleIdentities[0].tcbLevels[0].tcb.isvsvn" },
        { "{\"tcb\":{\"isvsvn\":2},\"tcbDate\":\"2023-08-09T00:00:00Z\"",
          "{\"tcb\":{\"isvsvn\":4},\"tcbDate\":\"2023-08-09T00:00:00Z\"",
          "tcbInfo.tdxModuleIdentities[1].tcbLevels has two equal levels" },
        { "\"tdxtcbcomponents\":[{\"svn\":5", "\"tdxtcbcomponents\":[{\"svn\":\"5\"",
          "tcbInfo.tcbLevels[0].tcb.tdxtcbcomponents[0].svn is not an integer" },
        { "\"tdxtcbcomponents\":", "\"tdxtcbcomponentsX\":",
          "tcbInfo.tcbLevels[0].tcb.tdxtcbcomponents is missing" },
        { "\"tdxModuleIdentities\":[", "\"tdxModuleIdentities\":[],\"x\":[",
          "tcbInfo.tdxModuleIdentities is empty" },
    };

    for (size_t i = 0; i < sizeof(sgx) / sizeof(sgx[0]); i++)
        refused("sgx-v3-phala-p1", true, &sgx[i]);
    for (size_t i = 0; i < sizeof(tdx) / sizeof(tdx[0]); i++)
        refused("tdx-v4-oasis", true, &tdx[i]);
}

TEST(malformed_qe_identity_members_named)
{
    static const struct mutation qe[] = {
        { "\"id\":\"QE\"", "\"id\":\"QVE\"", "enclaveIdentity.id is not" },
        { "\"version\":2", "\"version\":1", "enclaveIdentity.version is 1" },
        { "\"mrsigner\":\"8C4F", "\"mrsigner\":\"", "enclaveIdentity.mrsigner is not 64 hex" },
        { "\"miscselect\":\"00000000\"", "\"miscselect\":\"000000\"",
          "enclaveIdentity.miscselect is not 8 hex" },
        { "\"attributesMask\":\"FBFFFFFFFFFFFFFF0000000000000000\"",
          "\"attributesMask\":\"FBFFFFFFFFFFFFFF\"", "enclaveIdentity.attributesMask" },
        { "\"isvprodid\":1", "\"isvprodid\":65536", "enclaveIdentity.isvprodid is not in" },
        { "\"isvsvn\":8", "\"isvsvn\":true", "enclaveIdentity.tcbLevels[0].tcb.isvsvn" },
        { "\"tcbStatus\":\"UpToDate\"", "\"tcbStatus\":\"SWHardeningNeeded\"",
          "enclaveIdentity.tcbLevels[0].tcbStatus" },
        { "\"tcbLevels\":[", "\"tcbLevels\":[],\"x\":[", "enclaveIdentity.tcbLevels is empty" },
        { "{\"enclaveIdentity\":", "{\"tcbInfo\":", "body is not {\"enclaveIdentity\"" },
    };

    for (size_t i = 0; i < sizeof(qe) / sizeof(qe[0]); i++)
        refused("sgx-v3-phala-p1", false, &qe[i]);
}

TEST(too_large_is_refused)
{
    struct attest_failure failure = { 0 };
    struct intel_tcb_info *info = NULL;
    char *big = calloc(1, INTEL_COLLATERAL_BODY_MAX + 1);

    CHECK(big);
    CHECK_EQ_INT(intel_tcb_info_parse(big, INTEL_COLLATERAL_BODY_MAX + 1, NULL, &info, &failure),
                 -E2BIG);
    CHECK(!info);
    free(big);
}

/* ---- Evaluating the real cases. ---- */

struct expectation {
    const char *name;
    int match;                         /* intel_tcb_match's result */
    enum attest_tcb_status platform;   /* when it matched */
    enum attest_tcb_status tdx_module; /* 0: module version 0, or SGX */
    enum attest_tcb_status qe;
    enum attest_tcb_status combined;
    unsigned module_isvsvn; /* the matched module level's */
};

static const struct expectation expectations[] = {
    { "sgx-v3-phala-p1", 0, ATTEST_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED, 0,
      ATTEST_TCB_UP_TO_DATE, ATTEST_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED, 0 },
    { "tdx-v4-phala-p2", 0, ATTEST_TCB_UP_TO_DATE, ATTEST_TCB_UP_TO_DATE, ATTEST_TCB_UP_TO_DATE,
      ATTEST_TCB_UP_TO_DATE, 4 },
    { "tdx-v5-phala-p3", -EPERM, 0, 0, ATTEST_TCB_UP_TO_DATE, 0, 0 },
    { "tdx-v4-oasis", 0, ATTEST_TCB_UP_TO_DATE, ATTEST_TCB_UP_TO_DATE, ATTEST_TCB_UP_TO_DATE,
      ATTEST_TCB_UP_TO_DATE, 4 },
    { "tdx-v4-oasis-trailing", 0, ATTEST_TCB_UP_TO_DATE, ATTEST_TCB_UP_TO_DATE,
      ATTEST_TCB_UP_TO_DATE, ATTEST_TCB_UP_TO_DATE, 4 },
    { "tdx-v4-oasis-outofdate", -EPERM, 0, 0, ATTEST_TCB_UP_TO_DATE, 0, 0 },
    { "tdx-v4-trustee-debug", 0, ATTEST_TCB_UP_TO_DATE, 0, ATTEST_TCB_UP_TO_DATE,
      ATTEST_TCB_UP_TO_DATE, 0 },
    { "tdx-v5-automata-a1", 0, ATTEST_TCB_UP_TO_DATE, ATTEST_TCB_UP_TO_DATE, ATTEST_TCB_UP_TO_DATE,
      ATTEST_TCB_UP_TO_DATE, 4 },
};

/* The case's own expected block, where it says: result / tcb_status_if_debug_allowed,
 * advisory_ids, qe_identity_status. */
static void
check_against_case(const struct intel_case *c, const struct attest_claims *claims,
                   enum attest_tcb_status combined, enum attest_tcb_status qe, bool supported)
{
    json_t *expected = json_object_get(c->json, "expected");
    json_t *ids = json_object_get(expected, "advisory_ids");
    const char *result = json_string_value(json_object_get(expected, "result"));
    const char *if_debug =
        json_string_value(json_object_get(expected, "tcb_status_if_debug_allowed"));
    const char *qe_status = json_string_value(json_object_get(expected, "qe_identity_status"));

    CHECK(result);
    if (!supported)
        CHECK(strstr(result, "TCB_NOT_SUPPORTED"));
    else if (if_debug)
        CHECK(strncmp(if_debug, attest_tcb_status_name(combined),
                      strlen(attest_tcb_status_name(combined))) == 0);
    else
        CHECK_EQ_STR(result, attest_tcb_status_name(combined));
    if (qe_status)
        CHECK_EQ_STR(qe_status, attest_tcb_status_name(qe));
    if (supported && ids) {
        CHECK_EQ_INT(claims->advisory_count, json_array_size(ids));
        for (size_t i = 0; i < json_array_size(ids); i++)
            CHECK_EQ_STR(claims->advisory_ids[i], json_string_value(json_array_get(ids, i)));
    }
}

static void
evaluate(const struct expectation *e)
{
    struct intel_case c;
    struct intel_tcb_info *info;
    struct intel_qe_identity *identity;
    struct intel_tcb_match match = { 0 };
    struct attest_claims claims = { 0 };
    struct attest_failure failure = { 0 };
    enum attest_tcb_status qe = 0, combined;
    int r;

    case_load(e->name, &c);
    info = tcb_info_load(e->name, true);
    identity = qe_identity_load(e->name, true);
    r = intel_tcb_match(info, &c.pck, &c.quote, &match, &claims, &failure);
    if (r != e->match)
        fprintf(stderr, "  %s: %d \"%s\"\n", e->name, r, failure.reason);
    CHECK_EQ_INT(r, e->match);
    CHECK_EQ_INT(intel_qe_identity_check(identity, &c.quote.qe_report, &qe, &claims, NULL), 0);
    CHECK_EQ_INT(qe, e->qe);
    if (r < 0) {
        CHECK_EQ_INT(failure.step, ATTEST_STEP_TCB);
        CHECK(strstr(failure.reason, "TCB level not supported"));
        check_against_case(&c, &claims, 0, qe, false);
    } else {
        CHECK_EQ_INT(match.platform_status, e->platform);
        CHECK_EQ_INT(match.tdx_module_status, e->tdx_module);
        CHECK(match.platform_level >= info->levels &&
              match.platform_level < info->levels + info->level_count);
        CHECK_EQ_INT(match.tcb_date, match.platform_level->tcb_date);
        CHECK_EQ_INT(match.module_level != NULL, e->tdx_module != 0);
        if (match.module_level)
            CHECK_EQ_INT(match.module_level->isvsvn, e->module_isvsvn);
        CHECK(!match.td_relaunch_advised);
        CHECK_EQ_INT(intel_tcb_match_module_advisories(&match, &claims, NULL), 0);
        combined = intel_tcb_converge(match.platform_status, qe, match.tdx_module_status);
        CHECK_EQ_INT(combined, e->combined);
        check_against_case(&c, &claims, combined, qe, true);
    }
    intel_tcb_info_free(info);
    intel_qe_identity_free(identity);
    case_release(&c);
}

TEST(every_case_evaluates_as_expected)
{
    CHECK_EQ_INT(sizeof(expectations) / sizeof(expectations[0]), CASE_COUNT);
    for (size_t i = 0; i < CASE_COUNT; i++)
        evaluate(&expectations[i]);
}

/* sgx-v3-phala-p1 exactly: the second level, its two advisories, nothing from the QE. */
TEST(sgx_case_advisories)
{
    struct intel_case c;
    struct intel_tcb_info *info = tcb_info_load("sgx-v3-phala-p1", true);
    struct intel_tcb_match match = { 0 };
    struct attest_claims claims = { 0 };

    case_load("sgx-v3-phala-p1", &c);
    CHECK_EQ_INT(intel_tcb_match(info, &c.pck, &c.quote, &match, &claims, NULL), 0);
    CHECK(match.platform_level == &info->levels[1]);
    CHECK_EQ_INT(match.tcb_date, 1710288000);
    CHECK_EQ_INT(claims.advisory_count, 2);
    CHECK_EQ_STR(claims.advisory_ids[0], "INTEL-SA-00289");
    CHECK_EQ_STR(claims.advisory_ids[1], "INTEL-SA-00615");
    /* One PCESVN lower: none of the PCESVN 13 levels, nor the [5,5,…,4] ones (component 7 is
     * 0): [5,5,2,2,255,1,0,…]/11, OutOfDateConfigurationNeeded, seven advisories. */
    c.pck.pcesvn = 12;
    memset(&claims, 0, sizeof(claims));
    CHECK_EQ_INT(intel_tcb_match(info, &c.pck, &c.quote, &match, &claims, NULL), 0);
    CHECK(match.platform_level == &info->levels[8]);
    CHECK_EQ_INT(match.platform_status, ATTEST_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED);
    CHECK_EQ_INT(claims.advisory_count, 7);
    CHECK_EQ_STR(claims.advisory_ids[0], "INTEL-SA-00289");
    CHECK_EQ_STR(claims.advisory_ids[6], "INTEL-SA-00615");
    /* Component 2 below every level. */
    c.pck.tcb_components[2] = 1;
    CHECK_EQ_INT(intel_tcb_match(info, &c.pck, &c.quote, &match, &claims, NULL), -EPERM);
    intel_tcb_info_free(info);
    case_release(&c);
}

TEST(wrong_platform_is_refused)
{
    struct intel_case sgx, tdx;
    struct intel_tcb_info *info = tcb_info_load("sgx-v3-phala-p1", false);
    struct intel_tcb_match match;
    struct attest_failure failure = { 0 };

    case_load("sgx-v3-phala-p1", &sgx);
    case_load("tdx-v4-oasis", &tdx);
    sgx.pck.fmspc[5] ^= 1;
    CHECK_EQ_INT(intel_tcb_match(info, &sgx.pck, &sgx.quote, &match, NULL, &failure), -EPERM);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_TCB);
    CHECK_EQ_STR(failure.reason,
                 "tcb_info is for FMSPC 00a067110000, the PCK certificate's is 00a067110001");
    sgx.pck.fmspc[5] ^= 1;
    sgx.pck.pce_id[1] = 1;
    CHECK_EQ_INT(intel_tcb_match(info, &sgx.pck, &sgx.quote, &match, NULL, &failure), -EPERM);
    CHECK(strstr(failure.reason, "PCE ID"));
    memcpy(tdx.pck.fmspc, info->fmspc, 6);
    CHECK_EQ_INT(intel_tcb_match(info, &tdx.pck, &tdx.quote, &match, NULL, &failure), -EPERM);
    CHECK_EQ_STR(failure.reason, "tcb_info is for SGX, the quote is TDX");
    intel_tcb_info_free(info);
    case_release(&sgx);
    case_release(&tdx);
}

/* The TDX module allow-list: MRSIGNERSEAM and SEAMATTRIBUTES must be what tdxModule (module
 * version 0) or the TDX_%02X identity names (oasis asserts a policy with MRSIGNERSEAM 01 00 …
 * must reject this quote). */
TEST(tdx_module_allow_list)
{
    struct intel_case c, v0;
    struct intel_tcb_info *info = tcb_info_load("tdx-v4-oasis", true);
    struct intel_tcb_info *info0 = tcb_info_load("tdx-v4-trustee-debug", true);
    struct intel_tcb_match match;
    struct attest_failure failure = { 0 };

    case_load("tdx-v4-oasis", &c);
    case_load("tdx-v4-trustee-debug", &v0);
    CHECK_EQ_INT(intel_tcb_match(info, &c.pck, &c.quote, &match, NULL, NULL), 0);
    /* An allow-list (the TDX_01 identity) that excludes the quote's MRSIGNERSEAM. */
    info->module_identities[1].mrsigner[0] = 0x01;
    CHECK_EQ_INT(intel_tcb_match(info, &c.pck, &c.quote, &match, NULL, &failure), -EPERM);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_TCB);
    CHECK(strstr(failure.reason, "TDX module mismatch: MRSIGNERSEAM"));
    info->module_identities[1].mrsigner[0] = 0;
    /* tdxModule is not the allow-list for module version 1, TDX_01 is. */
    info->tdx_module_mrsigner[0] = 0x01;
    CHECK_EQ_INT(intel_tcb_match(info, &c.pck, &c.quote, &match, NULL, NULL), 0);
    /* The quote's MRSIGNERSEAM changed instead. */
    c.quote.td.mrsignerseam[47] = 0x01;
    CHECK_EQ_INT(intel_tcb_match(info, &c.pck, &c.quote, &match, NULL, &failure), -EPERM);
    c.quote.td.mrsignerseam[47] = 0;
    /* SEAMATTRIBUTES must be zero (Intel QVL) and what the identity says under its mask. */
    c.quote.td.seam_attributes = 1ull << 63;
    CHECK_EQ_INT(intel_tcb_match(info, &c.pck, &c.quote, &match, NULL, &failure), -EPERM);
    CHECK(strstr(failure.reason, "SEAMATTRIBUTES"));
    /* Even where the mask would let it pass: Intel QVL wants them zero. */
    memset(info->module_identities[1].attributes_mask, 0, 8);
    CHECK_EQ_INT(intel_tcb_match(info, &c.pck, &c.quote, &match, NULL, &failure), -EPERM);
    c.quote.td.seam_attributes = 0;
    CHECK_EQ_INT(intel_tcb_match(info, &c.pck, &c.quote, &match, NULL, NULL), 0);
    /* And what they are under the mask must be the identity's attributes. */
    memset(info->module_identities[1].attributes_mask, 0xff, 8);
    info->module_identities[1].attributes[0] = 0x01;
    CHECK_EQ_INT(intel_tcb_match(info, &c.pck, &c.quote, &match, NULL, &failure), -EPERM);
    info->module_identities[1].attributes[0] = 0;
    /* Module version 2 has no identity. */
    c.quote.td.tee_tcb_svn[1] = 2;
    CHECK_EQ_INT(intel_tcb_match(info, &c.pck, &c.quote, &match, NULL, &failure), -EPERM);
    CHECK(strstr(failure.reason, "no tdxModuleIdentities entry"));
    /* Version 3 has TDX_03 (one level, isvsvn 2). */
    c.quote.td.tee_tcb_svn[1] = 3;
    c.quote.td.tee_tcb_svn[0] = 2;
    CHECK_EQ_INT(intel_tcb_match(info, &c.pck, &c.quote, &match, NULL, NULL), 0);
    CHECK_EQ_INT(match.tdx_module_status, ATTEST_TCB_UP_TO_DATE);
    c.quote.td.tee_tcb_svn[0] = 1;
    CHECK_EQ_INT(intel_tcb_match(info, &c.pck, &c.quote, &match, NULL, &failure), -EPERM);
    CHECK(strstr(failure.reason, "TCB level not supported: TDX module TDX_03 ISVSVN 1"));
    /* Module version 1, ISVSVN 3: TDX_01's level 2, OutOfDate, and so the whole. */
    c.quote.td.tee_tcb_svn[1] = 1;
    c.quote.td.tee_tcb_svn[0] = 3;
    CHECK_EQ_INT(intel_tcb_match(info, &c.pck, &c.quote, &match, NULL, NULL), 0);
    CHECK_EQ_INT(match.tdx_module_status, ATTEST_TCB_OUT_OF_DATE);
    CHECK_EQ_INT(match.platform_status, ATTEST_TCB_UP_TO_DATE);
    CHECK_EQ_INT(
        intel_tcb_converge(match.platform_status, ATTEST_TCB_UP_TO_DATE, match.tdx_module_status),
        ATTEST_TCB_OUT_OF_DATE);
    /* Module version 0: tdxModule is the allow-list. */
    CHECK_EQ_INT(intel_tcb_match(info0, &v0.pck, &v0.quote, &match, NULL, NULL), 0);
    CHECK_EQ_INT(match.tdx_module_status, 0);
    info0->tdx_module_mrsigner[0] = 0x01;
    CHECK_EQ_INT(intel_tcb_match(info0, &v0.pck, &v0.quote, &match, NULL, &failure), -EPERM);
    CHECK(strstr(failure.reason, "MRSIGNERSEAM"));
    intel_tcb_info_free(info);
    intel_tcb_info_free(info0);
    case_release(&c);
    case_release(&v0);
}

/* With TEE_TCB_SVN[1] > 0 bytes 0–1 go through the module identity; with 0 all 16 bytes are
 * compared with tdxtcbcomponents. */
TEST(tdx_components_compared_from_byte_2)
{
    struct intel_case c;
    struct intel_tcb_info *info = tcb_info_load("tdx-v4-phala-p2", true);
    struct intel_tcb_match match;

    case_load("tdx-v4-phala-p2", &c);
    /* tdxtcbcomponents [5,0,2,…]: byte 0 (6 here) would reach 5 anyway; set it below. */
    c.quote.td.tee_tcb_svn[0] = 4;
    CHECK_EQ_INT(intel_tcb_match(info, &c.pck, &c.quote, &match, NULL, NULL), 0);
    CHECK_EQ_INT(match.platform_status, ATTEST_TCB_UP_TO_DATE);
    /* Byte 2 below every level's. */
    c.quote.td.tee_tcb_svn[2] = 1;
    CHECK_EQ_INT(intel_tcb_match(info, &c.pck, &c.quote, &match, NULL, NULL), -EPERM);
    case_release(&c);
    intel_tcb_info_free(info);
}

TEST(qe_identity_check_fields)
{
    struct intel_case c;
    struct intel_qe_identity *id = qe_identity_load("sgx-v3-phala-p1", true);
    struct intel_sgx_report report;
    struct attest_claims claims = { 0 };
    struct attest_failure failure = { 0 };
    enum attest_tcb_status status = 0;

    case_load("sgx-v3-phala-p1", &c);
    report = c.quote.qe_report;
    CHECK_EQ_INT(intel_qe_identity_check(id, &report, &status, &claims, &failure), 0);
    CHECK_EQ_INT(status, ATTEST_TCB_UP_TO_DATE);
    CHECK_EQ_INT(claims.advisory_count, 0);
    report.miscselect = 1;
    CHECK_EQ_INT(intel_qe_identity_check(id, &report, &status, NULL, &failure), -EPERM);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_QE_IDENTITY);
    CHECK_EQ_STR(failure.reason, "the QE report does not match qe_identity: miscselect");
    report = c.quote.qe_report;
    report.attributes[0] |= 0x02; /* DEBUG, under the mask */
    CHECK_EQ_INT(intel_qe_identity_check(id, &report, &status, NULL, &failure), -EPERM);
    CHECK(strstr(failure.reason, "attributes"));
    report.attributes[0] &= (uint8_t)~0x02;
    report.attributes[0] |= 0x04; /* outside the mask FB */
    report.attributes[9] = 0xff;  /* XFRM, outside the mask */
    CHECK_EQ_INT(intel_qe_identity_check(id, &report, &status, NULL, NULL), 0);
    report = c.quote.qe_report;
    report.mrsigner[31] ^= 1;
    CHECK_EQ_INT(intel_qe_identity_check(id, &report, &status, NULL, &failure), -EPERM);
    CHECK(strstr(failure.reason, "mrsigner"));
    report = c.quote.qe_report;
    report.isvprodid = 2;
    CHECK_EQ_INT(intel_qe_identity_check(id, &report, &status, NULL, &failure), -EPERM);
    CHECK(strstr(failure.reason, "isvprodid"));
    /* ISVSVN 5: the third level, OutOfDate with its advisories. */
    report = c.quote.qe_report;
    report.isvsvn = 5;
    CHECK_EQ_INT(intel_qe_identity_check(id, &report, &status, &claims, NULL), 0);
    CHECK_EQ_INT(status, ATTEST_TCB_OUT_OF_DATE);
    CHECK_EQ_INT(claims.advisory_count, id->levels[2].advisory_count);
    CHECK_EQ_STR(claims.advisory_ids[0], "INTEL-SA-00477");
    /* Below every level: Intel QVL's STATUS_TCB_NOT_SUPPORTED. */
    report.isvsvn = 0;
    CHECK_EQ_INT(intel_qe_identity_check(id, &report, &status, NULL, &failure), -EPERM);
    CHECK_EQ_INT(failure.step, ATTEST_STEP_TCB);
    CHECK(strstr(failure.reason, "TCB level not supported"));
    intel_qe_identity_free(id);
    case_release(&c);
}

/* ---- Convergence. ---- */

TEST(convergence_table)
{
    enum {
        U = ATTEST_TCB_UP_TO_DATE,
        SW = ATTEST_TCB_SW_HARDENING_NEEDED,
        CN = ATTEST_TCB_CONFIGURATION_NEEDED,
        CSW = ATTEST_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED,
        O = ATTEST_TCB_OUT_OF_DATE,
        OCN = ATTEST_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED,
        R = ATTEST_TCB_REVOKED,
    };
    static const struct {
        int platform, qe, module, expected;
    } table[] = {
        /* QE UpToDate, no module: the platform's. */
        { U, U, 0, U },
        { SW, U, 0, SW },
        { CN, U, 0, CN },
        { CSW, U, 0, CSW },
        { O, U, 0, O },
        { OCN, U, 0, OCN },
        { R, U, 0, R },
        /* No QE identity at all. */
        { CSW, 0, 0, CSW },
        /* QE OutOfDate. */
        { U, O, 0, O },
        { SW, O, 0, O },
        { CN, O, 0, OCN },
        { CSW, O, 0, OCN },
        { O, O, 0, O },
        { OCN, O, 0, OCN },
        { R, O, 0, R },
        /* Any other QE status but UpToDate and Revoked counts as OutOfDate. */
        { U, CN, 0, O },
        { CN, OCN, 0, OCN },
        /* QE Revoked. */
        { U, R, 0, R },
        { CSW, R, 0, R },
        /* Module OutOfDate. */
        { U, U, O, O },
        { SW, U, O, O },
        { CN, U, O, OCN },
        { CSW, U, O, OCN },
        { OCN, U, O, OCN },
        /* Module UpToDate changes nothing; Revoked revokes. */
        { SW, U, U, SW },
        { U, U, R, R },
        { CN, O, R, R },
        /* Module and QE both OutOfDate. */
        { CN, O, O, OCN },
        { U, O, O, O },
    };

    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        enum attest_tcb_status got =
            intel_tcb_converge(table[i].platform, table[i].qe, table[i].module);

        if ((int)got != table[i].expected)
            fprintf(stderr, "  row %zu\n", i);
        CHECK_EQ_INT(got, table[i].expected);
    }
}

/* ---- Synthetic collateral: what the real files do not show. ---- */

static void append(char **out, size_t *left, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void
append(char **out, size_t *left, const char *format, ...)
{
    va_list args;
    int n;

    va_start(args, format);
    n = vsnprintf(*out, *left, format, args);
    va_end(args);
    CHECK(n >= 0 && (size_t)n < *left);
    *out += n;
    *left -= (size_t)n;
}

static void
components_json(char **out, size_t *left, const char *name, unsigned a, unsigned b, unsigned c)
{
    append(out, left, "\"%s\":[{\"svn\":%u},{\"svn\":%u},{\"svn\":%u}", name, a, b, c);
    for (int i = 3; i < 16; i++)
        append(out, left, ",{\"svn\":0}");
    append(out, left, "]");
}

/* A TDX TCB info: module TDX_01 (isvsvn 4 UpToDate, 2 OutOfDate + "INTEL-SA-0MOD"), and two
 * levels sharing SGX components 1… and PCESVN 1: TDX [5,0,3] UpToDate and [2,0,2] OutOfDate
 * (+ "INTEL-SA-0TDX"). Written lowest level first: the parser orders them. */
static char *
synthetic_tdx(void)
{
    size_t left = 4096;
    char *text = malloc(left), *p = text;
    const char *zeros48 = "000000000000000000000000000000000000000000000000"
                          "000000000000000000000000000000000000000000000000";

    CHECK(text);
    append(&p, &left,
           "{\"tcbInfo\":{\"id\":\"TDX\",\"version\":3,\"issueDate\":\"2025-01-01T00:00:00Z\","
           "\"nextUpdate\":\"2025-02-01T00:00:00.123+01:00\",\"fmspc\":\"aabbccddeeff\","
           "\"pceId\":\"0000\",\"tcbType\":0,\"tcbEvaluationDataNumber\":1,"
           "\"tdxModule\":{\"mrsigner\":\"%s\",\"attributes\":\"0000000000000000\","
           "\"attributesMask\":\"FFFFFFFFFFFFFFFF\"},\"tdxModuleIdentities\":[{\"id\":\"tdx_01\","
           "\"mrsigner\":\"%s\",\"attributes\":\"0000000000000000\",\"attributesMask\":"
           "\"FFFFFFFFFFFFFFFF\",\"tcbLevels\":[{\"tcb\":{\"isvsvn\":2},\"tcbDate\":"
           "\"2024-01-01T00:00:00Z\",\"tcbStatus\":\"OutOfDate\",\"advisoryIDs\":"
           "[\"INTEL-SA-0MOD\"]},{\"tcb\":{\"isvsvn\":4},\"tcbDate\":\"2024-06-01T00:00:00Z\","
           "\"tcbStatus\":\"UpToDate\"}]}],\"tcbLevels\":[",
           zeros48, zeros48);
    append(&p, &left, "{\"tcb\":{");
    components_json(&p, &left, "sgxtcbcomponents", 1, 1, 1);
    append(&p, &left, ",\"pcesvn\":1,");
    components_json(&p, &left, "tdxtcbcomponents", 2, 0, 2);
    append(&p, &left,
           "},\"tcbDate\":\"2024-01-01T00:00:00Z\",\"tcbStatus\":\"OutOfDate\","
           "\"advisoryIDs\":[\"INTEL-SA-0TDX\"]},{\"tcb\":{");
    components_json(&p, &left, "sgxtcbcomponents", 1, 1, 1);
    append(&p, &left, ",\"pcesvn\":1,");
    components_json(&p, &left, "tdxtcbcomponents", 5, 0, 3);
    append(&p, &left,
           "},\"tcbDate\":\"2024-06-01T00:00:00Z\",\"tcbStatus\":\"UpToDate\"}]},"
           "\"signature\":\"");
    for (int i = 0; i < 128; i++)
        append(&p, &left, "0");
    append(&p, &left, "\"}");
    return text;
}

static struct intel_tcb_info *
parse_text(const char *text)
{
    struct intel_tcb_info *info = NULL;
    struct attest_failure failure = { 0 };
    int r = intel_tcb_info_parse(text, strlen(text), NULL, &info, &failure);

    if (r < 0)
        fprintf(stderr, "  %s\n", failure.reason);
    CHECK_EQ_INT(r, 0);
    return info;
}

static void
synthetic_platform(struct pck_extensions *pck, struct intel_quote *quote)
{
    static const uint8_t fmspc[6] = { 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };

    memset(pck, 0, sizeof(*pck));
    memset(quote, 0, sizeof(*quote));
    memset(pck->tcb_components, 1, 3);
    pck->pcesvn = 1;
    memcpy(pck->fmspc, fmspc, sizeof(fmspc));
    quote->version = 5;
    quote->tee_type = INTEL_TEE_TDX;
    quote->body_type = INTEL_BODY_TD15;
    quote->td.td15 = true;
}

/* Intel QVL's order, relaunch check and advisory order, on synthetic TDX collateral. */
TEST(synthetic_tdx_relaunch_and_advisory_order)
{
    char *text = synthetic_tdx();
    struct intel_tcb_info *info = parse_text(text);
    struct pck_extensions pck;
    struct intel_quote quote;
    struct intel_tcb_match match;
    struct attest_claims claims = { 0 };
    struct attest_failure failure = { 0 };
    struct intel_tcb_level qe_level = { .status = ATTEST_TCB_OUT_OF_DATE, .advisory_count = 2 };
    struct intel_qe_identity qe = { .levels = &qe_level, .level_count = 1 };
    enum attest_tcb_status qe_status;
    static const uint8_t svn[3] = { 2, 1, 2 };

    CHECK_EQ_INT(info->next_update, 1738364400); /* 2025-02-01T00:00:00+01:00 */
    /* Sorted highest first. */
    CHECK_EQ_INT(info->levels[0].status, ATTEST_TCB_UP_TO_DATE);
    CHECK_EQ_INT(info->module_identities[0].levels[0].isvsvn, 4);
    synthetic_platform(&pck, &quote);
    memcpy(quote.td.tee_tcb_svn, svn, sizeof(svn));
    /* TEE_TCB_SVN2 = what a relaunch would get: module ISVSVN 5, TDX component 3. */
    quote.td.tee_tcb_svn2[0] = 5;
    quote.td.tee_tcb_svn2[1] = 1;
    quote.td.tee_tcb_svn2[2] = 3;
    CHECK_EQ_INT(intel_tcb_match(info, &pck, &quote, &match, &claims, NULL), 0);
    CHECK_EQ_INT(match.platform_status, ATTEST_TCB_OUT_OF_DATE);
    CHECK_EQ_INT(match.tdx_module_status, ATTEST_TCB_OUT_OF_DATE);
    CHECK(match.td_relaunch_advised);
    CHECK(!match.td_relaunch_configuration_needed);
    /* Advisories: the TCB level's, the QE level's, the module level's, each once. */
    snprintf(qe_level.advisory_ids[0], ATTEST_ADVISORY_ID_SIZE, "INTEL-SA-0QE");
    snprintf(qe_level.advisory_ids[1], ATTEST_ADVISORY_ID_SIZE, "INTEL-SA-0TDX");
    CHECK_EQ_INT(intel_qe_identity_check(&qe, &quote.qe_report, &qe_status, &claims, NULL), 0);
    CHECK_EQ_INT(intel_tcb_match_module_advisories(&match, &claims, NULL), 0);
    CHECK_EQ_INT(claims.advisory_count, 3);
    CHECK_EQ_STR(claims.advisory_ids[0], "INTEL-SA-0TDX");
    CHECK_EQ_STR(claims.advisory_ids[1], "INTEL-SA-0QE");
    CHECK_EQ_STR(claims.advisory_ids[2], "INTEL-SA-0MOD");
    /* A relaunch would not reach the latest module level. */
    quote.td.tee_tcb_svn2[0] = 3;
    CHECK_EQ_INT(intel_tcb_match(info, &pck, &quote, &match, NULL, NULL), 0);
    CHECK(!match.td_relaunch_advised);
    /* TEE_TCB_SVN2 names a module version with no identity: Intel fails the TD. */
    quote.td.tee_tcb_svn2[1] = 2;
    CHECK_EQ_INT(intel_tcb_match(info, &pck, &quote, &match, NULL, &failure), -EPERM);
    CHECK(strstr(failure.reason, "TEE_TCB_SVN2"));
    /* Module version 0 in TEE_TCB_SVN2: TDX components 0 and 2 against the latest level. */
    quote.td.tee_tcb_svn2[0] = 5;
    quote.td.tee_tcb_svn2[1] = 0;
    CHECK_EQ_INT(intel_tcb_match(info, &pck, &quote, &match, NULL, NULL), 0);
    CHECK(match.td_relaunch_advised);
    /* Not for TD 1.0 bodies. */
    quote.td.td15 = false;
    quote.body_type = INTEL_BODY_TD10;
    CHECK_EQ_INT(intel_tcb_match(info, &pck, &quote, &match, NULL, NULL), 0);
    CHECK(!match.td_relaunch_advised);
    /* Up to date: the first level, no relaunch. */
    quote.td.tee_tcb_svn[0] = 4;
    quote.td.tee_tcb_svn[2] = 3;
    CHECK_EQ_INT(intel_tcb_match(info, &pck, &quote, &match, NULL, NULL), 0);
    CHECK(match.platform_level == &info->levels[0]);
    CHECK_EQ_INT(match.tdx_module_status, ATTEST_TCB_UP_TO_DATE);
    intel_tcb_info_free(info);
    free(text);
}

/* TCB info v2 (SGX, sgxtcbcompNNsvn), levels given lowest first, and duplicate levels. */
TEST(synthetic_sgx_v2_order_and_duplicates)
{
    size_t left = 4096;
    char *text = malloc(left), *p = text;
    char *level_low = NULL, *level_high = NULL;
    struct intel_tcb_info *info;
    struct pck_extensions pck;
    struct intel_quote quote;
    struct intel_tcb_match match;
    struct attest_failure failure = { 0 };

    CHECK(text);
    for (int which = 0; which < 2; which++) {
        char **out = which ? &level_high : &level_low;
        size_t n = 1024;
        char *q;

        *out = q = malloc(n);
        CHECK(q);
        append(&q, &n, "{\"tcb\":{");
        for (int i = 1; i <= 16; i++)
            append(&q, &n, "\"sgxtcbcomp%02dsvn\":%d,", i, which + 1);
        append(&q, &n, "\"pcesvn\":7},\"tcbDate\":\"2024-01-01T00:00:00Z\",\"tcbStatus\":\"%s\"}",
               which ? "UpToDate" : "OutOfDate");
    }
    append(&p, &left,
           "{\"tcbInfo\":{\"version\":2,\"issueDate\":\"2025-01-01T00:00:00Z\",\"nextUpdate\":"
           "\"2025-02-01T00:00:00Z\",\"fmspc\":\"AABBCCDDEEFF\",\"pceId\":\"0000\",\"tcbType\":0,"
           "\"tcbEvaluationDataNumber\":1,\"tcbLevels\":[%s,%s]},\"signature\":\"%0128d\"}",
           level_low, level_high, 0);
    info = parse_text(text);
    CHECK(!info->tdx);
    CHECK_EQ_INT(info->version, 2);
    synthetic_platform(&pck, &quote);
    quote.version = 3;
    quote.tee_type = INTEL_TEE_SGX;
    quote.body_type = INTEL_BODY_SGX;
    memset(pck.tcb_components, 2, 16);
    pck.pcesvn = 7;
    /* Intel QVL sorts: the higher level matches first, though written second. */
    CHECK_EQ_INT(intel_tcb_match(info, &pck, &quote, &match, NULL, NULL), 0);
    CHECK_EQ_INT(match.platform_status, ATTEST_TCB_UP_TO_DATE);
    pck.tcb_components[15] = 1;
    CHECK_EQ_INT(intel_tcb_match(info, &pck, &quote, &match, NULL, NULL), 0);
    CHECK_EQ_INT(match.platform_status, ATTEST_TCB_OUT_OF_DATE);
    intel_tcb_info_free(info);
    /* The same level twice. */
    p = text;
    left = 4096;
    append(&p, &left,
           "{\"tcbInfo\":{\"version\":2,\"issueDate\":\"2025-01-01T00:00:00Z\",\"nextUpdate\":"
           "\"2025-02-01T00:00:00Z\",\"fmspc\":\"AABBCCDDEEFF\",\"pceId\":\"0000\",\"tcbType\":0,"
           "\"tcbEvaluationDataNumber\":1,\"tcbLevels\":[%s,%s]},\"signature\":\"%0128d\"}",
           level_low, level_low, 0);
    info = NULL;
    CHECK_EQ_INT(intel_tcb_info_parse(text, strlen(text), NULL, &info, &failure), -EBADMSG);
    CHECK_EQ_STR(failure.reason, "tcb_info: tcbInfo.tcbLevels has two equal levels");
    free(level_low);
    free(level_high);
    free(text);
}

TEST(time_parse)
{
    static const struct {
        const char *text;
        int64_t unix_time;
    } good[] = {
        { "1970-01-01T00:00:00Z", 0 },
        { "2025-07-19T10:01:17Z", 1752919277 },
        { "2025-07-19T10:01:17.999Z", 1752919277 },
        { "2025-07-19T10:01:17+00:00", 1752919277 },
        { "2025-07-19T12:01:17+02:00", 1752919277 },
        { "2025-07-19T04:31:17-05:30", 1752919277 },
        { "2000-02-29T23:59:59Z", 951868799 },
        { "2024-03-13T00:00:00Z", 1710288000 },
    };
    static const char *const bad[] = {
        "",
        "2025-07-19",
        "2025-07-19T10:01:17",
        "2025-07-19T10:01:17z",
        "2025-07-19 10:01:17Z",
        "2025-07-19T10:01:17Z ",
        "2025-7-19T10:01:17Z",
        "2025-13-19T10:01:17Z",
        "2025-02-29T10:01:17Z",
        "1900-02-29T00:00:00Z",
        "2025-07-19T24:00:00Z",
        "2025-07-19T10:60:00Z",
        "2025-07-19T10:01:60Z",
        "2025-07-19T10:01:17.Z",
        "2025-07-19T10:01:17+0000",
        "2025-07-19T10:01:17+24:00",
        "1969-12-31T23:59:59Z",
        "+025-07-19T10:01:17Z",
    };
    int64_t t = 0;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        CHECK_EQ_INT(intel_time_parse(good[i].text, &t), 0);
        CHECK_EQ_INT(t, good[i].unix_time);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = 42;
        if (intel_time_parse(bad[i], &t) != -EINVAL)
            fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
        CHECK_EQ_INT(intel_time_parse(bad[i], &t), -EINVAL);
        CHECK_EQ_INT(t, 42);
    }
}

TEST_MAIN(TEST_CASE(every_file_parses_with_its_signature), TEST_CASE(sgx_tcb_info_fields),
          TEST_CASE(tdx_tcb_info_fields), TEST_CASE(qe_identity_fields),
          TEST_CASE(flipping_any_signed_byte_is_rejected), TEST_CASE(signature_member_checked),
          TEST_CASE(every_truncation_is_refused), TEST_CASE(dcap_qvl_collateral_and_member_order),
          TEST_CASE(malformed_tcb_info_members_named),
          TEST_CASE(malformed_qe_identity_members_named), TEST_CASE(too_large_is_refused),
          TEST_CASE(every_case_evaluates_as_expected), TEST_CASE(sgx_case_advisories),
          TEST_CASE(wrong_platform_is_refused), TEST_CASE(tdx_module_allow_list),
          TEST_CASE(tdx_components_compared_from_byte_2), TEST_CASE(qe_identity_check_fields),
          TEST_CASE(convergence_table), TEST_CASE(synthetic_tdx_relaunch_and_advisory_order),
          TEST_CASE(synthetic_sgx_v2_order_and_duplicates), TEST_CASE(time_parse))
