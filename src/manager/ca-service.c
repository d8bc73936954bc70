#include "ca-service.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "ca-process.h"
#include "crypto-util.h"
#include "log.h"
#include "store-certificates.h"
#include "store.h"

static int
dup_text(struct store_rows *rows, size_t col, char **ret)
{
    *ret = strdup(store_rows_text(rows, col));
    return *ret ? 0 : -ENOMEM;
}

/* ca_zone_loader: the zone's certificates and sealed keys from the zones table. */
static int
load_zone(void *userdata, const char *zone_id, struct ca_zone_sealed **ret_sealed)
{
    struct store *store = userdata;
    _cleanup_(store_rows_freep) struct store_rows *rows = NULL;
    _cleanup_(ca_zone_sealed_freep) struct ca_zone_sealed *sealed = calloc(1, sizeof(*sealed));
    int r;

    if (!sealed)
        return -ENOMEM;
    r = store_query_row(store,
                        "SELECT root_cert_pem, issuing_cert_pem, root_key_sealed,"
                        " issuing_key_sealed FROM zones WHERE zone_id = ?",
                        STORE_ARGS(SV_TEXT(zone_id)), &rows);
    if (r < 0)
        return r;
    if ((r = dup_text(rows, 0, &sealed->root_cert_pem)) < 0 ||
        (r = dup_text(rows, 1, &sealed->issuing_cert_pem)) < 0 ||
        (r = dup_text(rows, 2, &sealed->root_key_sealed)) < 0 ||
        (r = dup_text(rows, 3, &sealed->issuing_key_sealed)) < 0)
        return r;
    *ret_sealed = TAKE_PTR(sealed);
    return 0;
}

static int
list_revoked(void *userdata, const char *zone_id, int64_t *ret_crl_number, struct ca_revoked **ret,
             size_t *ret_n)
{
    return store_zone_revoked(userdata, zone_id, time_now_unix(), ret_crl_number, ret, ret_n);
}

int
ca_service_run(struct manager_context *ctx, const int *fds, size_t n_fds)
{
    _cleanup_(ca_server_freep) struct ca_server *server = NULL;
    int r;

    prctl(PR_SET_NAME, "cl-ca");
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    r = store_open(ctx->config->store_url, &ctx->store);
    if (r < 0)
        return log_error_errno(r, "The CA process cannot open the store: %m"), EXIT_FAILURE;
    r = ca_server_new(ctx->keys->seal_key, load_zone, ctx->store, &server);
    if (r >= 0) {
        ca_server_set_revoked_lister(server, list_revoked);
        r = ca_server_serve(server, fds, n_fds);
    }
    server = ca_server_free(server);
    store_close(ctx->store);
    ctx->store = NULL;
    if (r < 0)
        return log_error_errno(r, "The CA process failed: %m"), EXIT_FAILURE;
    return EXIT_SUCCESS;
}
