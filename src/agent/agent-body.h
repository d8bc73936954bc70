/* Parsing of the agent API's request bodies (docs/agent.md). Pure functions over bytes from the
 * network: no libevent, no state, so the fuzz target (fuzz/fuzz-agent-body.c) and the unit tests
 * call them directly. Every function that refuses input writes a one-line message naming the
 * offending JSON field into err (always NUL-terminated) and returns -EINVAL. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <attest/sim.h>

#define AGENT_BODY_MAX (64u << 10) /* request body limit of the agent API */
#define AGENT_INSTANCE_ID_MAX 36u  /* an instance id is a UUID (heartbeat) */
#define AGENT_TASK_ID_MAX 64u      /* bytes of a task id in /v1/certificate/result/{id} */
#define AGENT_ERROR_MAX 256u       /* size of the err buffers below */

/* POST /v1/sim/quote */
struct agent_quote_request {
    uint8_t report_data[ATTEST_REPORT_DATA_SIZE];
    uint8_t mrenclave[ATTEST_MEASUREMENT_SIZE];
    uint8_t mrsigner[ATTEST_MEASUREMENT_SIZE];
    uint16_t isvprodid;
    uint16_t isvsvn;
    bool debug;
};

/* {report_data: 128 hex digits, mrenclave: 64, mrsigner: 64, isvprodid: 0..65535,
 *  isvsvn: 0..65535, debug?: bool (default false)}; unknown members are refused.
 * -EINVAL (message in err), -ENOMEM. */
int agent_body_parse_quote(const char *text, size_t size, struct agent_quote_request *ret,
                           char err[AGENT_ERROR_MAX]);

/* POST /v1/heartbeat {instance_id}: a UUID (the instance id the manager gave with the
 * certificate). ret_id receives it in lower case, NUL-terminated. */
int agent_body_parse_heartbeat(const char *text, size_t size,
                               char ret_id[AGENT_INSTANCE_ID_MAX + 1], char err[AGENT_ERROR_MAX]);

/* POST /v1/certificate/issue: the agent forwards the body unchanged; it only checks that it is a
 * JSON object with csr (string), evidence (object) and nonce (string) and, if present,
 * manifest_digest (string), so that obvious garbage never reaches the manager. */
int agent_body_check_issue(const char *text, size_t size, char err[AGENT_ERROR_MAX]);

/* One record of the manager's answer to POST /v1/node/certificate/issue-batch (docs/issuance.md
 * "Batches"): "<status> <length>\n<body>\n", status 3 digits (100..599), length decimal without
 * leading zeros, at most what is left of text. Reads the record at text[*at] and moves *at past
 * it: 0 with the status and the body (pointing into text);
 * -ENOENT at the end of text; -EBADMSG when what is there is not a record. */
int agent_answer_record_next(const char *text, size_t size, size_t *at, int *ret_status,
                             const char **ret_body, size_t *ret_len);
/* A task id as it may appear in a path: 1..AGENT_TASK_ID_MAX bytes of [A-Za-z0-9_-]. */
bool agent_task_id_valid(const char *id);

/* Signs req with the sim attestation key (attest_sim_report_sign) and returns the response body
 * {"evidence": {"type": "sim", "data": base64}} (malloc'd). Attributes are INIT | MODE64BIT,
 * plus DEBUG when req->debug. -ENOMEM, or what attest_sim_report_sign returns. */
int agent_quote_make(const struct agent_quote_request *req, EVP_PKEY *sim_key, char **ret_json);
