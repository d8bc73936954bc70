#include "store-certificates.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto-util.h"

int
store_certificate_insert(struct store *store, const struct certificate_new *c)
{
    char valid_from[32], valid_until[32];

    time_format_rfc3339(c->not_before * 1000, valid_from);
    time_format_rfc3339(c->not_after * 1000, valid_until);
    return store_exec(
        store,
        "INSERT INTO certificates (certificate_id, acct_id, zone_id, kind, status, serial, subject,"
        " dns_names, csr, certificate, valid_from, valid_until, valid_until_ms, app_id, build_id,"
        " node_id, instance_id, claims, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        STORE_ARGS(SV_TEXT(c->certificate_id), SV_TEXT(c->acct_id), SV_TEXT(c->zone_id),
                   SV_TEXT(c->kind), SV_TEXT(CERT_STATUS_ISSUED), SV_TEXT(c->serial_hex),
                   SV_TEXT(c->subject), SV_TEXT(c->dns_names ? c->dns_names : "[]"),
                   SV_TEXT(c->csr_pem), SV_TEXT(c->cert_pem), SV_TEXT(valid_from),
                   SV_TEXT(valid_until), SV_INT(c->not_after * 1000), SV_TEXT(c->app_id),
                   SV_TEXT(c->build_id), SV_TEXT(c->node_id), SV_TEXT(c->instance_id),
                   SV_TEXT(c->claims ? c->claims : "{}"), SV_TEXT(c->now)),
        NULL);
}

/* A revocation changes the zone's CRL: its number goes up in the same transaction. */
static int
bump_crl_numbers(struct store *store, const char *acct_id, const char *where_sql, const char *key)
{
    char sql[512];

    snprintf(sql, sizeof(sql),
             "UPDATE zones SET crl_number = crl_number + 1 WHERE acct_id = ? AND zone_id IN"
             " (SELECT zone_id FROM certificates WHERE acct_id = ? AND %s)",
             where_sql);
    return store_exec(store, sql, STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(acct_id), SV_TEXT(key)),
                      NULL);
}

int
store_certificate_revoke(struct store *store, const char *acct_id, const char *certificate_id,
                         const char *reason, const char *now)
{
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    int64_t now_ms = 0;
    int r;

    r = time_parse_rfc3339(now, &now_ms);
    if (r < 0)
        return r;
    r = store_query_row(store,
                        "SELECT status FROM certificates WHERE acct_id = ? AND certificate_id = ?",
                        STORE_ARGS(SV_TEXT(acct_id), SV_TEXT(certificate_id)), &rows);
    if (r < 0)
        return r;
    if (strcmp(store_rows_text(rows, 0), CERT_STATUS_ISSUED) != 0)
        return -EALREADY;
    r = store_exec_one(store,
                       "UPDATE certificates SET status = ?, revoked_at = ?, revoked_ms = ?,"
                       " revocation_reason = ? WHERE acct_id = ? AND certificate_id = ?",
                       STORE_ARGS(SV_TEXT(CERT_STATUS_REVOKED), SV_TEXT(now), SV_INT(now_ms),
                                  SV_TEXT(reason), SV_TEXT(acct_id), SV_TEXT(certificate_id)));
    if (r < 0)
        return r;
    return bump_crl_numbers(store, acct_id, "certificate_id = ?", certificate_id);
}

int
store_certificates_revoke_node(struct store *store, const char *acct_id, const char *node_id,
                               const char *reason, const char *now, int64_t *ret_count)
{
    int64_t now_ms = 0, changes = 0;
    int r;

    r = time_parse_rfc3339(now, &now_ms);
    if (r < 0)
        return r;
    r = store_exec(store,
                   "UPDATE certificates SET status = ?, revoked_at = ?, revoked_ms = ?,"
                   " revocation_reason = ? WHERE acct_id = ? AND node_id = ? AND status = ?",
                   STORE_ARGS(SV_TEXT(CERT_STATUS_REVOKED), SV_TEXT(now), SV_INT(now_ms),
                              SV_TEXT(reason), SV_TEXT(acct_id), SV_TEXT(node_id),
                              SV_TEXT(CERT_STATUS_ISSUED)),
                   &changes);
    if (r >= 0 && changes > 0)
        r = bump_crl_numbers(store, acct_id, "node_id = ?", node_id);
    if (r >= 0 && ret_count)
        *ret_count = changes;
    return r;
}

struct revoked_list {
    struct ca_revoked *items;
    size_t n;
    size_t cap;
};

static int
collect_revoked(struct store_rows *rows, void *userdata)
{
    struct revoked_list *list = userdata;
    const char *serial = store_rows_text(rows, 0);

    if (list->n == CA_CRL_ENTRIES_MAX)
        return -E2BIG;
    if (strlen(serial) > CA_SERIAL_HEX_LEN)
        return -EBADMSG;
    if (list->n == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 64;
        struct ca_revoked *items = reallocarray(list->items, cap, sizeof(*items));

        if (!items)
            return -ENOMEM;
        list->items = items;
        list->cap = cap;
    }
    snprintf(list->items[list->n].serial_hex, sizeof(list->items[list->n].serial_hex), "%s",
             serial);
    list->items[list->n].revoked_at = store_rows_int(rows, 1) / 1000;
    list->n++;
    return 0;
}

int
store_zone_revoked(struct store *store, const char *zone_id, int64_t now, int64_t *ret_crl_number,
                   struct ca_revoked **ret, size_t *ret_n)
{
    struct revoked_list list = { 0 };
    int64_t number = 0;
    int r;

    r = store_query_int(store, "SELECT crl_number FROM zones WHERE zone_id = ?",
                        STORE_ARGS(SV_TEXT(zone_id)), &number);
    if (r < 0)
        return r;
    /* Expired certificates leave the list (RFC 5280 3.3): relying parties reject them anyway.
     * The index certificates_revoked serves the range. */
    r = store_query_each(store,
                         "SELECT serial, revoked_ms FROM certificates WHERE zone_id = ?"
                         " AND revoked_ms IS NOT NULL AND valid_until_ms > ? ORDER BY serial",
                         STORE_ARGS(SV_TEXT(zone_id), SV_INT(now * 1000)), collect_revoked, &list);
    if (r < 0) {
        free(list.items);
        return r;
    }
    *ret_crl_number = number;
    *ret = list.items;
    *ret_n = list.n;
    return 0;
}
