/* The nonce pool (agent-nonces.h): GET /v1/challenge takes from it; a refill of up to
 * AGENT_NONCES_MAX nonces in one POST /v1/node/nonce {"count": N} goes through agent-upstream
 * like every other call to the manager, asynchronously, one at a time. */
#include "agent-nonces.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "agent.h"
#include "crypto-util.h"
#include "cleanup.h"
#include "log.h"

/* base64url (what the manager's nonce.c writes), with padding allowed */
static const char nonce_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=";
/* RFC 3339 date-time */
static const char time_chars[] = "0123456789TZtz:.+-";

int
agent_nonces_take(struct agent_nonces *p, int64_t now_ms, struct agent_nonce *ret)
{
    while (p->count > 0) {
        struct agent_nonce *n = &p->items[p->head];
        bool fresh = now_ms - n->fetched_ms < AGENT_NONCE_MAX_AGE_MS;

        if (fresh)
            *ret = *n;
        memset(n, 0, sizeof(*n));
        p->head = (p->head + 1) % AGENT_NONCES_MAX;
        p->count--;
        if (fresh)
            return 0;
    }
    return -ENOENT;
}

unsigned
agent_nonces_room(const struct agent_nonces *p)
{
    return AGENT_NONCES_MAX - p->count;
}

bool
agent_nonces_want_refill(const struct agent_nonces *p, int64_t now_ms)
{
    return p->count < AGENT_NONCES_LOW && !p->refilling && now_ms >= p->retry_after_ms;
}

/* A JSON string of 1 to max - 1 bytes, all from chars (which also rules out an embedded NUL). */
static bool
text_ok(const json_t *v, const char *chars, size_t max)
{
    const char *s = json_string_value(v);
    size_t len = s ? json_string_length(v) : 0;

    return len > 0 && len < max && strspn(s, chars) == len;
}

static void
push(struct agent_nonces *p, const char *nonce, const char *expires_at, int64_t fetched_ms)
{
    struct agent_nonce *n = &p->items[(p->head + p->count) % AGENT_NONCES_MAX];

    /* Lengths were checked against both buffers (text_ok). */
    snprintf(n->nonce, sizeof(n->nonce), "%s", nonce);
    snprintf(n->expires_at, sizeof(n->expires_at), "%s", expires_at);
    n->fetched_ms = fetched_ms;
    p->count++;
}

int
agent_nonces_add_answer(struct agent_nonces *p, const char *body, size_t size, int64_t fetched_ms)
{
    _cleanup_(json_decrefp) json_t *o = json_loadb(body, size, JSON_REJECT_DUPLICATES, NULL);
    const json_t *expires_at = json_object_get(o, "expires_at");
    const json_t *list = json_object_get(o, "nonces");
    const json_t *item;
    unsigned added = 0;
    size_t i;

    if (!json_is_object(o) || !text_ok(expires_at, time_chars, AGENT_NONCE_TIME_MAX))
        return -EBADMSG;
    if (!list) {
        /* A manager without batches: its one nonce. */
        if (!text_ok(json_object_get(o, "nonce"), nonce_chars, AGENT_NONCE_TEXT_MAX))
            return -EBADMSG;
        if (agent_nonces_room(p) == 0)
            return 0;
        push(p, json_string_value(json_object_get(o, "nonce")), json_string_value(expires_at),
             fetched_ms);
        return 1;
    }
    if (!json_is_array(list) || json_array_size(list) == 0 ||
        json_array_size(list) > AGENT_NONCES_MAX)
        return -EBADMSG;
    /* All or nothing: one bad item and the answer is not trusted at all. ("nonce" repeats the
     * first item and is not added again.) */
    json_array_foreach(list, i, item) {
        if (!text_ok(item, nonce_chars, AGENT_NONCE_TEXT_MAX))
            return -EBADMSG;
    }
    json_array_foreach(list, i, item) {
        if (agent_nonces_room(p) == 0)
            break;
        push(p, json_string_value(item), json_string_value(expires_at), fetched_ms);
        added++;
    }
    return (int)added;
}

size_t
agent_nonce_format(const struct agent_nonce *n, char out[AGENT_CHALLENGE_JSON_MAX])
{
    /* Both strings hold only characters that need no escaping (text_ok). */
    int len = snprintf(out, AGENT_CHALLENGE_JSON_MAX, "{\"nonce\":\"%s\",\"expires_at\":\"%s\"}",
                       n->nonce, n->expires_at);

    return len < 0 ? 0 : (size_t)len;
}

static void
on_refilled(int status, const char *reason, const char *body, size_t size, void *userdata)
{
    struct agent *a = userdata;
    struct agent_nonces *p = &a->nonces;
    int r;

    p->refilling = false;
    if (status == -ECANCELED)
        return;
    if (status == 200) {
        r = agent_nonces_add_answer(p, body, size, p->refill_sent_ms);
        if (r >= 0) {
            log_debug("Nonce pool: %d added, %u held", r, p->count);
            return;
        }
        log_warning("The manager's answer to POST /v1/node/nonce is malformed: not pooled");
    } else if (status > 0) {
        log_warning("The manager refused a nonce pool refill: %d %s", status, reason);
    } else {
        log_debug("Nonce pool refill failed: %s", upstream_strerror(status));
    }
    p->retry_after_ms = time_monotonic_ms() + AGENT_NONCE_RETRY_MS;
}

void
agent_nonces_refill(struct agent *a)
{
    int64_t now = time_monotonic_ms();
    char body[32];
    int r;

    if (!a->up || a->stopping || !agent_nonces_want_refill(&a->nonces, now))
        return;
    snprintf(body, sizeof(body), "{\"count\":%u}", agent_nonces_room(&a->nonces));
    r = upstream_request(a->up, EVHTTP_REQ_POST, "/v1/node/nonce", NULL, body, strlen(body),
                         on_refilled, a);
    if (r < 0) {
        log_warning_errno(r, "Cannot start a nonce pool refill: %m");
        a->nonces.retry_after_ms = now + AGENT_NONCE_RETRY_MS;
        return;
    }
    a->nonces.refilling = true;
    a->nonces.refill_sent_ms = now;
}
