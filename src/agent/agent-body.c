#include "agent-body.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "cleanup.h"
#include "crypto-util.h"

static int _printf_(2, 3) fail(char err[AGENT_ERROR_MAX], const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, AGENT_ERROR_MAX, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* The body as a JSON object; duplicate keys are refused so that the agent and the manager cannot
 * read different values out of one body. */
static int
load_object(const char *text, size_t size, json_t **ret, char err[AGENT_ERROR_MAX])
{
    json_error_t jerr;
    json_t *root;

    if (size == 0)
        return fail(err, "body: empty, expected a JSON object");
    if (size > AGENT_BODY_MAX)
        return fail(err, "body: larger than %u bytes", AGENT_BODY_MAX);
    root = json_loadb(text, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fail(err, "body: not valid JSON (%s at position %d)", jerr.text, jerr.position);
    if (!json_is_object(root)) {
        json_decref(root);
        return fail(err, "body: expected a JSON object");
    }
    *ret = root;
    return 0;
}

static int
get_hex(json_t *root, const char *field, uint8_t *out, size_t len, char err[AGENT_ERROR_MAX])
{
    json_t *v = json_object_get(root, field);
    const char *s;

    if (!v)
        return fail(err, "%s: missing (expected %zu hex digits)", field, 2 * len);
    if (!json_is_string(v))
        return fail(err, "%s: expected a string of %zu hex digits", field, 2 * len);
    s = json_string_value(v);
    if (json_string_length(v) != 2 * len || strlen(s) != 2 * len)
        return fail(err, "%s: expected %zu hex digits (%zu bytes), got %zu characters", field,
                    2 * len, len, json_string_length(v));
    if (hex_decode(s, out, len) < 0)
        return fail(err, "%s: not hexadecimal", field);
    return 0;
}

static int
get_u16(json_t *root, const char *field, uint16_t *ret, char err[AGENT_ERROR_MAX])
{
    json_t *v = json_object_get(root, field);
    json_int_t n;

    if (!v)
        return fail(err, "%s: missing (expected an integer 0..65535)", field);
    if (!json_is_integer(v))
        return fail(err, "%s: expected an integer 0..65535", field);
    n = json_integer_value(v);
    if (n < 0 || n > UINT16_MAX)
        return fail(err, "%s: %lld out of range 0..65535", field, (long long)n);
    *ret = (uint16_t)n;
    return 0;
}

int
agent_body_parse_quote(const char *text, size_t size, struct agent_quote_request *ret,
                       char err[AGENT_ERROR_MAX])
{
    static const char *const known[] = { "report_data", "mrenclave", "mrsigner",
                                         "isvprodid",   "isvsvn",    "debug" };
    _cleanup_(json_decrefp) json_t *root = NULL;
    struct agent_quote_request q = { 0 };
    const char *key;
    json_t *v;
    int r;

    err[0] = '\0';
    r = load_object(text, size, &root, err);
    if (r < 0)
        return r;
    json_object_foreach(root, key, v) {
        bool found = false;
        for (size_t i = 0; i < ELEMENTSOF(known) && !found; i++)
            found = strcmp(key, known[i]) == 0;
        if (!found)
            return fail(err, "%.64s: unknown field", key);
    }
    if ((r = get_hex(root, "report_data", q.report_data, sizeof(q.report_data), err)) < 0 ||
        (r = get_hex(root, "mrenclave", q.mrenclave, sizeof(q.mrenclave), err)) < 0 ||
        (r = get_hex(root, "mrsigner", q.mrsigner, sizeof(q.mrsigner), err)) < 0 ||
        (r = get_u16(root, "isvprodid", &q.isvprodid, err)) < 0 ||
        (r = get_u16(root, "isvsvn", &q.isvsvn, err)) < 0)
        return r;
    v = json_object_get(root, "debug");
    if (v && !json_is_boolean(v))
        return fail(err, "debug: expected true or false");
    q.debug = v && json_is_true(v);
    *ret = q;
    return 0;
}

static bool
id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

int
agent_body_parse_heartbeat(const char *text, size_t size, char ret_id[AGENT_INSTANCE_ID_MAX + 1],
                           char err[AGENT_ERROR_MAX])
{
    _cleanup_(json_decrefp) json_t *root = NULL;
    char id[AGENT_INSTANCE_ID_MAX + 1];
    const char *key;
    json_t *v;
    int r;

    err[0] = '\0';
    r = load_object(text, size, &root, err);
    if (r < 0)
        return r;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "instance_id") != 0)
            return fail(err, "%.64s: unknown field", key);
    }
    v = json_object_get(root, "instance_id");
    if (!v)
        return fail(err, "instance_id: missing");
    if (!json_is_string(v))
        return fail(err, "instance_id: expected a UUID string");
    /* The manager names instances by UUID (the instance_id of the issue answer) and refuses a
     * check-in listing anything else: check here, where the app can be told. */
    if (json_string_length(v) != AGENT_INSTANCE_ID_MAX ||
        strlen(json_string_value(v)) != AGENT_INSTANCE_ID_MAX)
        return fail(err, "instance_id: expected a UUID (36 characters)");
    for (size_t i = 0; i < AGENT_INSTANCE_ID_MAX; i++)
        id[i] = (char)tolower((unsigned char)json_string_value(v)[i]);
    id[AGENT_INSTANCE_ID_MAX] = '\0';
    if (!is_uuid(id))
        return fail(err, "instance_id: expected a UUID (8-4-4-4-12 hex digits)");
    memcpy(ret_id, id, sizeof(id));
    return 0;
}

int
agent_body_check_issue(const char *text, size_t size, char err[AGENT_ERROR_MAX])
{
    _cleanup_(json_decrefp) json_t *root = NULL;
    json_t *v;
    int r;

    err[0] = '\0';
    r = load_object(text, size, &root, err);
    if (r < 0)
        return r;
    v = json_object_get(root, "csr");
    if (!json_is_string(v))
        return fail(err, "csr: %s", v ? "expected a PEM string" : "missing");
    v = json_object_get(root, "evidence");
    if (!json_is_object(v))
        return fail(err, "evidence: %s", v ? "expected an object {type, data}" : "missing");
    v = json_object_get(root, "nonce");
    if (!json_is_string(v))
        return fail(err, "nonce: %s", v ? "expected a string" : "missing");
    v = json_object_get(root, "manifest_digest");
    if (v && !json_is_string(v))
        return fail(err, "manifest_digest: expected a hex string");
    return 0;
}

bool
agent_task_id_valid(const char *id)
{
    size_t len = strnlen(id, AGENT_TASK_ID_MAX + 1);

    if (len == 0 || len > AGENT_TASK_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!id_char(id[i]))
            return false;
    return true;
}

int
agent_quote_make(const struct agent_quote_request *req, EVP_PKEY *sim_key, char **ret_json)
{
    struct attest_sim_report report = {
        .version = ATTEST_SIM_VERSION,
        .flags = 0,
        .isvprodid = req->isvprodid,
        .isvsvn = req->isvsvn,
        .attributes = ATTEST_SIM_ATTR_INIT | ATTEST_SIM_ATTR_MODE64BIT |
                      (req->debug ? ATTEST_SIM_ATTR_DEBUG : 0),
    };
    _cleanup_free_ uint8_t *data = NULL;
    _cleanup_free_ char *b64 = NULL;
    _cleanup_(json_decrefp) json_t *body = NULL;
    size_t size = 0;
    char *text;
    int r;

    memcpy(report.mrenclave, req->mrenclave, sizeof(report.mrenclave));
    memcpy(report.mrsigner, req->mrsigner, sizeof(report.mrsigner));
    memcpy(report.report_data, req->report_data, sizeof(report.report_data));
    r = attest_sim_report_sign(&report, sim_key, &data, &size);
    if (r < 0)
        return r;
    /* Standard base64 with padding, as the evidence envelope requires (docs/sim-evidence.md). */
    b64 = malloc(4 * ((size + 2) / 3) + 1);
    if (!b64)
        return -ENOMEM;
    EVP_EncodeBlock((unsigned char *)b64, data, (int)size);
    body = json_pack("{s:{s:s,s:s}}", "evidence", "type", "sim", "data", b64);
    if (!body)
        return -ENOMEM;
    text = json_dumps(body, JSON_COMPACT);
    if (!text)
        return -ENOMEM;
    *ret_json = text;
    return 0;
}

int
agent_answer_record_next(const char *text, size_t size, size_t *at, int *ret_status,
                         const char **ret_body, size_t *ret_len)
{
    size_t i = *at, len = 0;
    int status = 0;

    if (i >= size)
        return -ENOENT;
    for (int d = 0; d < 3; d++, i++) {
        if (i >= size || text[i] < '0' || text[i] > '9')
            return -EBADMSG;
        status = status * 10 + (text[i] - '0');
    }
    if (status < 100 || status > 599 || i >= size || text[i++] != ' ')
        return -EBADMSG;
    if (i >= size || text[i] < '0' || text[i] > '9' ||
        (text[i] == '0' && i + 1 < size && text[i + 1] != '\n'))
        return -EBADMSG;
    for (; i < size && text[i] >= '0' && text[i] <= '9'; i++) {
        if (len > (size - i) / 10)
            return -EBADMSG; /* longer than what is left: no overflow either */
        len = len * 10 + (size_t)(text[i] - '0');
    }
    if (i >= size || text[i++] != '\n' || len > size - i || size - i - len < 1 ||
        text[i + len] != '\n')
        return -EBADMSG;
    *ret_status = status;
    *ret_body = text + i;
    *ret_len = len;
    *at = i + len + 1;
    return 0;
}
