/* POST /v1/node/certificate/issue-batch (issue.h, docs/issuance.md "Batches"): several
 * certificate requests of one node, each run through the same pipeline as
 * POST /v1/node/certificate/issue, in one write transaction.
 *
 * Why: the agent sends the requests that arrive while earlier ones are with the manager as one
 * batch, so one HTTPS exchange, one scope lock and one commit serve them all. Each request still
 * gets its own answer, exactly what the single route would have answered, and its own savepoint:
 * a request whose writes must not stay (a replay that lost the race, answered DENIED) is rolled
 * back alone. Only an error with no answer (the store or the CA process failing) fails the whole
 * batch, which then commits nothing. */
#include "issue.h"
#include "issue-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body.h"

/* A request of the batch as the pipeline sees it: the batch's caller and time, the item's body,
 * a response of its own. Shares the batch's HTTP request and query (never released here). */
static struct api_request
item_request(const struct api_request *batch, json_t *body)
{
    struct api_request item = *batch;

    item.body = body;
    item.prepared = NULL;
    item.status = 0;
    item.response = NULL;
    item.response_text = NULL;
    item.streamed = false;
    return item;
}

static void
item_release(struct api_request *item)
{
    json_decref(item->prepared);
    json_decref(item->response);
    free(item->response_text);
}

/* The answers, one record each, as docs/issuance.md "Batches" has them:
 * "<status> <length>\n<body>\n", body the JSON the single route would have sent. Records, not
 * one JSON document, so that the agent hands each body to its app as it is, without parsing the
 * certificates in it and writing them again. */
struct records {
    char *text;
    size_t len, size;
};

static int
append_record(struct records *out, int status, const json_t *body)
{
    _cleanup_free_ char *json = json_dumps(body, JSON_COMPACT);
    size_t len = json ? strlen(json) : 0;
    char head[32];
    int n;

    if (!json || status < 100 || status > 599)
        return json ? -EINVAL : -ENOMEM;
    n = snprintf(head, sizeof(head), "%d %zu\n", status, len);
    if (out->len + (size_t)n + len + 2 > out->size) {
        size_t size = 2 * (out->len + (size_t)n + len + 2);
        char *text = realloc(out->text, size);
        if (!text)
            return -ENOMEM;
        out->text = text;
        out->size = size;
    }
    memcpy(out->text + out->len, head, (size_t)n);
    memcpy(out->text + out->len + n, json, len);
    out->len += (size_t)n + len;
    out->text[out->len++] = '\n';
    out->text[out->len] = '\0';
    return 0;
}

static int
check_batch(struct api_request *r, json_t **ret_requests)
{
    json_t *requests = json_object_get(r->body, "requests");

    if (!json_is_object(r->body) || json_object_size(r->body) != 1 || !requests)
        return api_bad_field(r, "requests: required, and the body's only member");
    if (!json_is_array(requests) || json_array_size(requests) < 1 ||
        json_array_size(requests) > ISSUE_BATCH_MAX)
        return api_bad_field(r, "requests: must be an array of 1 to %d certificate requests",
                             ISSUE_BATCH_MAX);
    *ret_requests = requests;
    return 0;
}

/* A request of the batch between the two halves of its prepare step. */
struct batch_item {
    struct api_request item;
    struct issue_body body;
    struct issue_prepare_job *job;
    json_t *slot; /* {status, body} when answered already (a body or CSR that does not fit) */
};

static void
batch_items_free(struct batch_item *items, size_t n)
{
    for (size_t i = 0; items && i < n; i++) {
        issue_prepare_job_free(items[i].job);
        item_release(&items[i].item);
        json_decref(items[i].slot);
    }
    free(items);
}

/* The first half of one request's prepare step, in the batch's read transaction: answered (400)
 * into it->slot, or its signing request on its way to the CA process. */
static int
prepare_begin(struct api_request *r, json_t *body, struct issue_cache *cache, struct batch_item *it)
{
    char why[BODY_ERROR_MAX];
    int err;

    it->item = item_request(r, body);
    err = issue_body_parse(body, &it->body, why, sizeof(why));
    if (err == -EINVAL)
        err = api_bad_field(&it->item, "%s", why);
    else if (err >= 0)
        err = issue_prepare_begin(&it->item, &it->body, cache, &it->job);
    if (err == -ECANCELED && it->item.status >= 400) {
        it->slot = json_pack("{s:i, s:O?}", "status", it->item.status, "body", it->item.response);
        return it->slot ? 0 : -ENOMEM;
    }
    return err;
}

/* The second half: the certificate signed ahead, then what the transaction goes on with. */
static int
prepare_end(struct batch_item *it)
{
    int err;

    if (it->slot)
        return 0;
    err = issue_prepare_end(it->job);
    if (err < 0)
        return err;
    it->slot = json_pack("{s:O}", "prepared", it->item.prepared);
    return it->slot ? 0 : -ENOMEM;
}

/* Every request's checks in one read transaction (one look at what other processes committed),
 * their signing requests all sent before the first certificate is awaited: the CA process signs
 * while this worker checks the next requests. */
static int
prepare_items(struct api_request *r, json_t *requests, struct batch_item *items)
{
    _cleanup_(issue_cache_clear) struct issue_cache cache = { 0 };
    size_t n = json_array_size(requests);
    int err;

    err = store_begin(r->store, STORE_TXN_READ);
    for (size_t i = 0; err >= 0 && i < n; i++)
        err = prepare_begin(r, json_array_get(requests, i), &cache, &items[i]);
    if (err < 0) {
        store_rollback(r->store);
        return err;
    }
    err = store_commit(r->store);
    for (size_t i = 0; err >= 0 && i < n; i++)
        err = prepare_end(&items[i]);
    return err;
}

int
issue_batch_prepare(struct api_request *r)
{
    struct batch_item *items;
    json_t *requests = NULL;
    size_t n;
    int err;

    err = check_batch(r, &requests);
    if (err < 0)
        return err;
    n = json_array_size(requests);
    items = calloc(n, sizeof(*items));
    r->prepared = json_array();
    if (!items || !r->prepared) {
        free(items);
        return -ENOMEM;
    }
    err = prepare_items(r, requests, items);
    for (size_t i = 0; err >= 0 && i < n; i++)
        err = json_array_append(r->prepared, items[i].slot) < 0 ? -ENOMEM : 0;
    batch_items_free(items, n);
    return err;
}

static int
savepoint(struct api_request *r, const char *sql)
{
    return store_exec(r->store, sql, NULL, 0, NULL);
}

static bool
answered_success(const struct api_request *item)
{
    const char *status = item->status == 200 ? member_text(item->response, "task_status") : NULL;

    return status && strcmp(status, ISSUE_STATUS_SUCCESS) == 0;
}

/* One request in the transaction, under its own savepoint. */
static int
issue_item(struct api_request *r, json_t *body, json_t *slot, struct issue_cache *cache,
           struct records *out)
{
    _cleanup_(item_release) struct api_request item = item_request(r, body);
    int err;

    item.prepared = json_incref(json_object_get(slot, "prepared"));
    err = savepoint(r, "SAVEPOINT issue_item");
    if (err < 0)
        return err;
    err = issue_certificate_cached(&item, cache);
    if (err >= 0)
        err = savepoint(r, "RELEASE SAVEPOINT issue_item");
    else if (savepoint(r, "ROLLBACK TO SAVEPOINT issue_item") < 0 ||
             savepoint(r, "RELEASE SAVEPOINT issue_item") < 0)
        return -EIO;
    else if (err == -ECANCELED && item.status > 0)
        err = 0; /* answered, its writes undone: the replay that lost the race */
    if (err >= 0 && item.status == 0)
        err = -EINVAL; /* the pipeline answers every request it keeps */
    if (!answered_success(&item))
        issue_cache_clear(cache); /* it may have raised a task, changing the build or the app */
    return err < 0 ? err : append_record(out, item.status, item.response);
}

int
issue_batch(struct api_request *r)
{
    _cleanup_(issue_cache_clear) struct issue_cache cache = { 0 };
    json_t *requests = json_object_get(r->body, "requests");
    struct records out = { 0 };
    json_t *slot;
    size_t i;
    int err = 0;

    json_array_foreach(r->prepared, i, slot) {
        if (err < 0)
            break;
        if (json_object_get(slot, "prepared"))
            err = issue_item(r, json_array_get(requests, i), slot, &cache, &out);
        else /* answered by the prepare step */
            err = append_record(&out, (int)json_integer_value(json_object_get(slot, "status")),
                                json_object_get(slot, "body"));
    }
    if (err >= 0 && !out.text)
        err = -EINVAL; /* check_batch lets no empty batch through */
    if (err >= 0)
        err = api_reply_text(r, 200, ISSUE_BATCH_CONTENT_TYPE, out.text);
    free(out.text);
    return err;
}
