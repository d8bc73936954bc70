/* The collateral refresher (collateral-fetch.h). */
#include "collateral-fetch.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include <attest/collateral.h>

#include "audit.h"
#include "collateral.h"
#include "crypto-util.h"
#include "log.h"
#include "store-collateral.h"
#include "store.h"

#define FETCH_TIMEOUT_S 30L
#define FETCH_CONNECT_TIMEOUT_S 10L
#define FETCH_HEADER_MAX (64u << 10)
#define URL_MAX 2048
#define PRODUCT_MAX 16
#define PRODUCTS_MAX 8
#define ACTOR_ID "collateral-refresh"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct attest_collateral, attest_collateral_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(CURL, curl_easy_cleanup)

/* ---- HTTP ---- */

/* One GET: the body, the first of header_names found among the headers, the status. */
struct fetched {
    char *body;
    size_t size;
    bool too_big;
    char *header;
    const char *const *header_names;
    long status;
};

static void
fetched_release(struct fetched *f)
{
    free(f->body);
    free(f->header);
    *f = (struct fetched){ 0 };
}

static size_t
on_body(char *data, size_t size, size_t n, void *userdata)
{
    struct fetched *f = userdata;
    size_t len = size * n;
    char *grown;

    if (f->size + len > ATTEST_COLLATERAL_DOCUMENT_MAX) {
        f->too_big = true;
        return 0;
    }
    grown = realloc(f->body, f->size + len + 1);
    if (!grown)
        return 0;
    f->body = grown;
    memcpy(f->body + f->size, data, len);
    f->size += len;
    f->body[f->size] = '\0';
    return len;
}

static size_t
on_header(char *line, size_t size, size_t n, void *userdata)
{
    struct fetched *f = userdata;
    size_t len = size * n;

    for (const char *const *name = f->header_names; name && *name && !f->header; name++) {
        size_t k = strlen(*name), v;

        if (len <= k + 1 || strncasecmp(line, *name, k) != 0 || line[k] != ':')
            continue;
        for (v = k + 1; v < len && (line[v] == ' ' || line[v] == '\t'); v++)
            ;
        while (len > v && isspace((unsigned char)line[len - 1]))
            len--;
        if (len - v <= FETCH_HEADER_MAX)
            f->header = strndup(line + v, len - v);
    }
    return size * n;
}

static int
http_get(CURL *curl, const char *url, const char *const *header_names, struct fetched *ret)
{
    CURLcode c;

    *ret = (struct fetched){ .header_names = header_names };
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, FETCH_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, FETCH_CONNECT_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, ret);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, ret);
    c = curl_easy_perform(curl);
    if (c != CURLE_OK) {
        log_warning("Fetching collateral from %s failed: %s", url,
                    ret->too_big ? "the answer is too large" : curl_easy_strerror(c));
        fetched_release(ret);
        return -EIO;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &ret->status);
    if (ret->status != 200) {
        log_info("Fetching collateral from %s: HTTP %ld; left as it is", url, ret->status);
        fetched_release(ret);
        return -ENOENT;
    }
    if (!ret->body) {
        ret->body = strdup("");
        if (!ret->body)
            return -ENOMEM;
    }
    return 0;
}

/* ---- Checking and storing what was fetched ---- */

struct refresh {
    const struct manager_config *config;
    struct store *store;
    CURL *curl;
};

static int
audit_refresh(struct store *store, const char *url, const struct collateral_batch *batch,
              const char *now)
{
    char summary[1536], message[1800];

    collateral_batch_summary(batch, summary, sizeof(summary));
    snprintf(message, sizeof(message), "Refreshed collateral from %.200s: %s", url, summary);
    return audit_append(store, &(struct audit_event){
                                   .chain = AUDIT_SYSTEM_CHAIN,
                                   .time = now,
                                   .actor_type = "SYSTEM",
                                   .actor_id = ACTOR_ID,
                                   .actor_name = "collateral refresh",
                                   .action_type = "ADMIN",
                                   .severity = "INFO",
                                   .message = message,
                                   .entity_type = "collateral",
                                   .entity_id = NULL,
                               });
}

static bool
any_stored(const struct collateral_batch *batch)
{
    for (size_t i = 0; i < batch->n; i++)
        if (batch->items[i].outcome == COLLATERAL_STORED)
            return true;
    return false;
}

/* Checks and stores in one transaction, under the lock imports take (the system scope). */
static int
store_loaded(struct refresh *rf, const char *url, const struct attest_collateral *loaded,
             const char *source)
{
    _cleanup_(collateral_batch_release) struct collateral_batch batch = { 0 };
    char err[COLLATERAL_ERROR_MAX] = "", now[32];
    int r;

    time_now_rfc3339(now);
    r = store_begin(rf->store, STORE_TXN_WRITE);
    if (r >= 0)
        r = store_lock_scope(rf->store, AUDIT_SYSTEM_CHAIN);
    if (r >= 0)
        r = collateral_collect(rf->store, loaded, &batch, err);
    if (r >= 0)
        r = collateral_save(rf->store, &batch, source, now);
    if (r >= 0 && any_stored(&batch))
        r = audit_refresh(rf->store, url, &batch, now);
    if (r >= 0)
        r = store_commit(rf->store);
    else
        store_rollback(rf->store);
    if (r == -EBADMSG || r == -ENODATA) {
        log_warning("Collateral from %s not kept: %s", url, err);
        return 0;
    }
    if (r < 0)
        return log_warning_errno(r, "Storing collateral from %s failed: %m", url);
    if (any_stored(&batch)) {
        char summary[1024];

        collateral_batch_summary(&batch, summary, sizeof(summary));
        log_info("Collateral from %s: %s", url, summary);
    }
    return 0;
}

/* A flat (sgx_ql_qve_collateral_t-style) document (taken; NULL when it could not be made),
 * loaded and stored. */
static int
store_document(struct refresh *rf, const char *url, json_t *doc)
{
    _cleanup_(attest_collateral_freep) struct attest_collateral *loaded = NULL;
    _cleanup_free_ char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    struct attest_failure failure = { 0 };
    int r;

    json_decref(doc); /* taken */
    if (!text)
        return -ENOMEM;
    r = attest_collateral_load_json(text, strlen(text), &loaded, &failure);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        log_warning("Collateral from %s not kept: %s", url, failure.reason);
        return 0;
    }
    return store_loaded(rf, url, loaded, "pccs");
}

static json_t *
json_text_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* ---- Intel, from a PCCS-compatible service ---- */

static const char *const tcb_chain_headers[] = { "TCB-Info-Issuer-Chain",
                                                 "SGX-TCB-Info-Issuer-Chain", NULL };
static const char *const qe_chain_headers[] = { "SGX-Enclave-Identity-Issuer-Chain", NULL };
static const char *const crl_chain_headers[] = { "SGX-PCK-CRL-Issuer-Chain", NULL };

static int
refresh_tcb_info(struct refresh *rf, const char *key)
{
    char url[URL_MAX], fmspc[16];
    struct fetched f;
    bool tdx = strncmp(key, "tdx/", 4) == 0;
    int r;

    snprintf(fmspc, sizeof(fmspc), "%s", key + 4);
    for (char *p = fmspc; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    snprintf(url, sizeof(url), "%s/%s/certification/v4/tcb?fmspc=%s",
             rf->config->collateral_pccs_url, tdx ? "tdx" : "sgx", fmspc);
    r = http_get(rf->curl, url, tcb_chain_headers, &f);
    if (r < 0)
        return r == -ENOMEM ? r : 0;
    r = store_document(rf, url,
                       json_pack("{s:s, s:o}", "tcb_info", f.body, "tcb_info_issuer_chain",
                                 json_text_or_null(f.header)));
    fetched_release(&f);
    return r;
}

static int
refresh_qe_identity(struct refresh *rf, bool tdx)
{
    char url[URL_MAX];
    struct fetched f;
    int r;

    snprintf(url, sizeof(url), "%s/%s/certification/v4/qe/identity",
             rf->config->collateral_pccs_url, tdx ? "tdx" : "sgx");
    r = http_get(rf->curl, url, qe_chain_headers, &f);
    if (r < 0)
        return r == -ENOMEM ? r : 0;
    r = store_document(rf, url,
                       json_pack("{s:s, s:o}", "qe_identity", f.body, "qe_identity_issuer_chain",
                                 json_text_or_null(f.header)));
    fetched_release(&f);
    return r;
}

/* A CRL as the flat document takes it: PEM as it is, else hex of the DER. PCCS has answered
 * with hex text in API versions before 4. */
static char *
crl_text(const struct fetched *f)
{
    char *hex;

    if ((f->body && memmem(f->body, f->size, "-----BEGIN", 10)) ||
        (f->size > 0 && is_hex_string(f->body, f->size)))
        return strndup(f->body, f->size);
    hex = malloc(2 * f->size + 1);
    if (hex)
        hex_encode((const uint8_t *)f->body, f->size, hex);
    return hex;
}

/* The root CA CRL, fetched once per refresh, as crl_text() makes it (NULL when there is none). */
static int
fetch_root_crl(struct refresh *rf, char **ret_text)
{
    char url[URL_MAX];
    struct fetched f;
    int r;

    *ret_text = NULL;
    snprintf(url, sizeof(url), "%s/sgx/certification/v4/rootcacrl",
             rf->config->collateral_pccs_url);
    r = http_get(rf->curl, url, NULL, &f);
    if (r < 0)
        return r == -ENOMEM ? r : 0;
    *ret_text = crl_text(&f);
    fetched_release(&f);
    return *ret_text ? 0 : -ENOMEM;
}

static int
refresh_pck_crl(struct refresh *rf, const char *ca, const char *root)
{
    _cleanup_free_ char *hex = NULL;
    char url[URL_MAX];
    struct fetched f;
    int r;

    snprintf(url, sizeof(url), "%s/sgx/certification/v4/pckcrl?ca=%s&encoding=der",
             rf->config->collateral_pccs_url, ca);
    r = http_get(rf->curl, url, crl_chain_headers, &f);
    if (r < 0)
        return r == -ENOMEM ? r : 0;
    hex = crl_text(&f);
    r = hex ? store_document(rf, url,
                             json_pack("{s:s, s:o, s:o}", "pck_crl", hex, "pck_crl_issuer_chain",
                                       json_text_or_null(f.header), "root_ca_crl",
                                       json_text_or_null(root)))
            : -ENOMEM;
    fetched_release(&f);
    return r;
}

static int
stored_keys(struct store *store, const char *kind, json_t **ret_keys)
{
    int r = store_begin(store, STORE_TXN_READ);

    if (r >= 0)
        r = store_collateral_keys(store, kind, ret_keys);
    if (r >= 0)
        r = store_commit(store);
    else
        store_rollback(store);
    return r;
}

static bool
has_key_prefix(const json_t *keys, const char *prefix)
{
    json_t *key;
    size_t i;

    json_array_foreach(keys, i, key)
        if (strncmp(json_string_value(key), prefix, strlen(prefix)) == 0)
            return true;
    return false;
}

static int
refresh_intel(struct refresh *rf)
{
    _cleanup_(json_decrefp) json_t *tcb = NULL, *qe = NULL, *crls = NULL;
    _cleanup_free_ char *root = NULL;
    json_t *key;
    size_t i;
    int r;

    r = stored_keys(rf->store, "intel_tcb_info", &tcb);
    if (r >= 0)
        r = stored_keys(rf->store, "intel_qe_identity", &qe);
    if (r >= 0)
        r = stored_keys(rf->store, "intel_pck_crl", &crls);
    if (r < 0)
        return r;
    if (json_array_size(tcb) == 0 && json_array_size(qe) == 0)
        return 0; /* nothing known yet: no FMSPC to ask for */
    json_array_foreach(tcb, i, key) {
        r = refresh_tcb_info(rf, json_string_value(key));
        if (r < 0)
            return r;
    }
    r = refresh_qe_identity(rf, false);
    if (r >= 0 && (has_key_prefix(tcb, "tdx/") || has_key_prefix(qe, "td_qe")))
        r = refresh_qe_identity(rf, true);
    if (r >= 0)
        r = fetch_root_crl(rf, &root);
    /* Both CAs' CRLs: a platform of either kind may come next. */
    if (r >= 0)
        r = refresh_pck_crl(rf, "processor", root);
    if (r >= 0)
        r = refresh_pck_crl(rf, "platform", root);
    return r;
}

/* ---- AMD, from a KDS-compatible service ---- */

struct products {
    char name[PRODUCTS_MAX][PRODUCT_MAX];
    bool vlek[PRODUCTS_MAX];
    size_t n;
};

static void
products_add(struct products *p, const char *key, bool vlek)
{
    size_t len = strcspn(key, "/");

    if (len == 0 || len >= PRODUCT_MAX)
        return;
    for (size_t i = 0; i < p->n; i++)
        if (strlen(p->name[i]) == len && strncmp(p->name[i], key, len) == 0) {
            p->vlek[i] = p->vlek[i] || vlek;
            return;
        }
    if (p->n == PRODUCTS_MAX)
        return;
    snprintf(p->name[p->n], PRODUCT_MAX, "%.*s", (int)len, key);
    p->vlek[p->n++] = vlek;
}

static int
known_products(struct store *store, struct products *ret)
{
    static const char *const kinds[] = { "amd_ark", "amd_ask", "amd_vcek", "amd_asvk", "amd_vlek" };

    *ret = (struct products){ .n = 0 };
    for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
        _cleanup_(json_decrefp) json_t *keys = NULL;
        json_t *key;
        size_t i;
        int r = stored_keys(store, kinds[k], &keys);

        if (r < 0)
            return r;
        json_array_foreach(keys, i, key)
            products_add(ret, json_string_value(key), k >= 3);
    }
    return 0;
}

/* cert_chain: the ASK (or ASVK) then the ARK, PEM; checked with a stored VCEK (or VLEK). */
static int
refresh_cert_chain(struct refresh *rf, const char *product, bool vlek)
{
    _cleanup_(attest_collateral_freep) struct attest_collateral *loaded = NULL;
    struct attest_failure failure = { 0 };
    char url[URL_MAX];
    struct fetched f;
    int r;

    snprintf(url, sizeof(url), "%s/%s/v1/%s/cert_chain", rf->config->collateral_kds_url,
             vlek ? "vlek" : "vcek", product);
    r = http_get(rf->curl, url, NULL, &f);
    if (r < 0)
        return r == -ENOMEM ? r : 0;
    r = attest_collateral_load_data(f.body, f.size, "cert_chain.pem", &loaded, &failure);
    fetched_release(&f);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        log_warning("Collateral from %s not kept: %s", url, failure.reason);
        return 0;
    }
    return store_loaded(rf, url, loaded, "kds");
}

static int
refresh_amd(struct refresh *rf)
{
    struct products products;
    int r = known_products(rf->store, &products);

    for (size_t i = 0; i < products.n && r >= 0; i++) {
        r = refresh_cert_chain(rf, products.name[i], false);
        if (r >= 0 && products.vlek[i])
            r = refresh_cert_chain(rf, products.name[i], true);
    }
    return r;
}

int
collateral_refresh_run(const struct manager_config *config)
{
    _cleanup_(store_closep) struct store *store = NULL;
    _cleanup_(curl_easy_cleanupp) CURL *curl = NULL;
    struct refresh rf = { .config = config };
    int r;

    r = store_open(config->store_url, &store);
    if (r < 0)
        return log_warning_errno(r, "Collateral refresh cannot open the store: %m");
    curl = curl_easy_init();
    if (!curl)
        return -ENOMEM;
    rf.store = store;
    rf.curl = curl;
    r = 0;
    if (*config->collateral_pccs_url)
        r = refresh_intel(&rf);
    if (r >= 0 && *config->collateral_kds_url)
        r = refresh_amd(&rf);
    if (r < 0)
        log_warning_errno(r, "Collateral refresh stopped: %m");
    return r;
}

/* ---- In the jobs process ---- */

static void
start_refresh(struct manager_context *ctx, struct collateral_refresher *refresher)
{
    pid_t pid = fork();

    if (pid < 0) {
        log_warning_errno(-errno, "Cannot start a collateral refresh: %m");
        return;
    }
    if (pid == 0) {
        sigset_t none;

        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        prctl(PR_SET_NAME, "cl-collateral");
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            _exit(EXIT_FAILURE);
        _exit(collateral_refresh_run(ctx->config) < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
    }
    refresher->pid = pid;
}

void
collateral_refresh_tick(struct manager_context *ctx, struct collateral_refresher *refresher)
{
    const struct manager_config *config = ctx->config;
    int64_t now = time_monotonic_ms();
    int status;

    if (!*config->collateral_pccs_url && !*config->collateral_kds_url)
        return;
    if (refresher->pid > 0) {
        if (waitpid(refresher->pid, &status, WNOHANG) != refresher->pid)
            return;
        if (WIFSIGNALED(status))
            log_warning("A collateral refresh died of signal %d", WTERMSIG(status));
        refresher->pid = 0;
    }
    if (now < refresher->next_ms)
        return;
    refresher->next_ms = now + (int64_t)config->collateral_refresh * 1000;
    start_refresh(ctx, refresher);
}

void
collateral_refresh_stop(struct collateral_refresher *refresher)
{
    if (refresher->pid <= 0)
        return;
    kill(refresher->pid, SIGTERM);
    waitpid(refresher->pid, NULL, 0);
    refresher->pid = 0;
}
