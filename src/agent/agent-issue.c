/* Certificate requests to the manager, batched while it is busy (agent-issue.h). */
#include "agent-issue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "cleanup.h"
#include "log.h"

/* One call to the manager and the apps waiting on it, in the order of its requests. */
struct sent_batch {
    struct agent *a;
    unsigned n;
    struct evhttp_request *reqs[AGENT_ISSUE_BATCH_MAX];
};

static void send_waiting(struct agent *a);

static struct agent_issue_waiter *
waiter_at(struct agent_issue_queue *q, unsigned i)
{
    return &q->waiting[(q->head + i) % AGENT_ISSUE_WAITING_MAX];
}

/* After the apps of b are answered: b is done, and what waits may go out. */
static void
batch_done(struct sent_batch *b, int status)
{
    struct agent *a = b->a;

    free(b);
    a->issue.in_flight--;
    if (status == -ECANCELED)
        agent_issue_stop(a); /* the client is being freed: nothing more goes out */
    else
        send_waiting(a);
}

/* The manager's answer to a single request: passed through. */
static void
on_single(int status, const char *reason, const char *body, size_t size, void *userdata)
{
    struct sent_batch *b = userdata;

    agent_reply_forwarded(b->reqs[0], status, reason, body, size);
    batch_done(b, status);
}

/* The manager's answer to a batch: each app gets its own record (agent_answer_record_next),
 * passed on as it is. Anything but 200 with one record per request (an error of the whole batch:
 * 503 while the store is busy, a refused node certificate) is passed through to every app, as it
 * would have been for each alone. */
static void
on_batch(int status, const char *reason, const char *body, size_t size, void *userdata)
{
    struct sent_batch *b = userdata;
    int statuses[AGENT_ISSUE_BATCH_MAX];
    const char *bodies[AGENT_ISSUE_BATCH_MAX];
    size_t lens[AGENT_ISSUE_BATCH_MAX], at = 0;
    unsigned n = 0;

    while (status == 200 && n < b->n &&
           agent_answer_record_next(body, size, &at, &statuses[n], &bodies[n], &lens[n]) == 0)
        n++;
    if (status == 200 && (n < b->n || at != size)) {
        log_warning("The manager's answer to %u certificate requests does not read", b->n);
        for (unsigned i = 0; i < b->n; i++)
            agent_reply_error(b->reqs[i], 502, "BAD_GATEWAY", "the manager's answer does not read");
    } else {
        for (unsigned i = 0; i < b->n; i++) {
            if (status == 200)
                agent_reply_text(b->reqs[i], statuses[i], statuses[i] == 200 ? "OK" : "Manager",
                                 bodies[i], lens[i]);
            else
                agent_reply_forwarded(b->reqs[i], status, reason, body, size);
        }
    }
    batch_done(b, status);
}

/* {"requests":[body,body,...]} from the first n waiting bodies (each a JSON object already). */
static char *
batch_body(struct agent_issue_queue *q, unsigned n, size_t *ret_size)
{
    size_t size = sizeof("{\"requests\":[]}") - 1 + n, at;
    char *text;

    for (unsigned i = 0; i < n; i++)
        size += waiter_at(q, i)->size;
    text = malloc(size + 1);
    if (!text)
        return NULL;
    at = (size_t)stpcpy(text, "{\"requests\":[") - (size_t)text;
    for (unsigned i = 0; i < n; i++) {
        struct agent_issue_waiter *w = waiter_at(q, i);
        if (i > 0)
            text[at++] = ',';
        memcpy(text + at, w->body, w->size);
        at += w->size;
    }
    memcpy(text + at, "]}", 3);
    *ret_size = at + 2;
    return text;
}

/* How many of the waiting requests go in the next call: up to the batch's count and size. */
static unsigned
next_batch_size(struct agent_issue_queue *q)
{
    size_t bytes = 0;
    unsigned n = 0;

    while (n < q->count && n < AGENT_ISSUE_BATCH_MAX) {
        bytes += waiter_at(q, n)->size + 1;
        if (n > 0 && bytes > AGENT_ISSUE_BATCH_BYTES)
            break;
        n++;
    }
    return n;
}

/* Sends the first n waiting requests as one call; they leave the queue either way. */
static void
send_batch(struct agent *a, unsigned n)
{
    struct agent_issue_queue *q = &a->issue;
    struct sent_batch *b = calloc(1, sizeof(*b));
    _cleanup_free_ char *body = NULL;
    size_t size = 0;
    int r = -ENOMEM;

    if (b && n > 1)
        body = batch_body(q, n, &size);
    if (b) {
        b->a = a;
        b->n = n;
        for (unsigned i = 0; i < n; i++)
            b->reqs[i] = waiter_at(q, i)->req;
    }
    if (b && n == 1)
        r = upstream_request(a->up, EVHTTP_REQ_POST, "/v1/node/certificate/issue", NULL,
                             waiter_at(q, 0)->body, waiter_at(q, 0)->size, on_single, b);
    else if (b && body)
        r = upstream_request(a->up, EVHTTP_REQ_POST, "/v1/node/certificate/issue-batch", NULL, body,
                             size, on_batch, b);
    for (unsigned i = 0; i < n; i++) {
        struct agent_issue_waiter *w = waiter_at(q, i);
        if (r < 0)
            agent_reply_error(w->req, 500, "INTERNAL_ERROR", "out of memory");
        free(w->body);
    }
    q->head = (q->head + n) % AGENT_ISSUE_WAITING_MAX;
    q->count -= n;
    if (r < 0)
        free(b);
    else
        q->in_flight++;
}

static void
send_waiting(struct agent *a)
{
    struct agent_issue_queue *q = &a->issue;

    if (!a->up || a->stopping) {
        agent_issue_stop(a);
        return;
    }
    /* With nothing out, at once; beside a batch already out, only a batch worth the call: a
     * request sent alone then would only wait behind it, where later ones could have joined. */
    while (q->count > 0 && q->in_flight < AGENT_ISSUE_IN_FLIGHT &&
           (q->in_flight == 0 || q->count >= AGENT_ISSUE_BATCH_MIN))
        send_batch(a, next_batch_size(q));
}

void
agent_issue_submit(struct agent *a, struct evhttp_request *req, char *body, size_t size)
{
    struct agent_issue_queue *q = &a->issue;

    if (!q->waiting)
        q->waiting = calloc(AGENT_ISSUE_WAITING_MAX, sizeof(*q->waiting));
    if (!q->waiting) {
        free(body);
        agent_reply_error(req, 500, "INTERNAL_ERROR", "out of memory");
        return;
    }
    if (q->count == AGENT_ISSUE_WAITING_MAX) {
        free(body);
        agent_reply_error(req, 503, "BUSY", "too many certificate requests are waiting; retry");
        return;
    }
    *waiter_at(q, q->count++) = (struct agent_issue_waiter){ req, body, size };
    send_waiting(a);
}

void
agent_issue_stop(struct agent *a)
{
    struct agent_issue_queue *q = &a->issue;

    for (unsigned i = 0; q->waiting && i < q->count; i++) {
        struct agent_issue_waiter *w = waiter_at(q, i);
        agent_reply_error(w->req, 503, "SHUTTING_DOWN", "the agent is shutting down");
        free(w->body);
    }
    free(q->waiting);
    *q = (struct agent_issue_queue){ .in_flight = q->in_flight };
}
