/* Collateral items checked by libattest's verifiers and written to the store (collateral.h). */
#include "collateral.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <attest/intel.h>
#include <attest/snp.h>

#include "cleanup.h"
#include "collateral-facts.h"
#include "crypto-util.h"
#include "json-member.h"
#include "store-collateral.h"

#define FMSPC_SIZE 6
#define FMSPCS_MAX ATTEST_COLLATERAL_TCB_INFOS_MAX
#define UPLOAD_TCB_MAX (2 * ATTEST_COLLATERAL_TCB_INFOS_MAX) /* SGX and TDX per FMSPC */
#define UPLOAD_QE_MAX 2                                      /* QE and TD_QE */
#define UPLOAD_CRL_MAX 2                                     /* Processor and Platform CA */
#define OWNED_MAX 16   /* stored items read to check an upload with */
#define JSON_DEPTH_MAX 16
#define ITEM_DATA_MAX (ATTEST_INTEL_COLLATERAL_MAX > ATTEST_SNP_CERT_MAX \
                           ? ATTEST_INTEL_COLLATERAL_MAX : ATTEST_SNP_CERT_MAX)

DEFINE_TRIVIAL_CLEANUP_FUNC(struct attest_intel_collateral, attest_intel_collateral_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct attest_snp_certs, attest_snp_certs_free)

/* A TCB info or QE identity of the upload, and the chain that came with it (may be empty). */
struct piece {
    struct attest_bytes body, chain;
    bool tdx; /* a TDX TCB info / the TD_QE identity */
};

struct crl_piece {
    struct attest_bytes crl, chain;
};

/* One collection: the upload's Intel items (pointing into the loaded collateral), stored items
 * read to check them with (owned here), and the batch being filled. */
struct collect {
    struct store *store;
    const struct attest_collateral *c;
    struct collateral_batch *batch;
    char *err;
    struct piece *tcb;
    size_t n_tcb;
    struct piece qe[UPLOAD_QE_MAX];
    size_t n_qe;
    struct crl_piece pck[UPLOAD_CRL_MAX];
    size_t n_pck;
    struct attest_bytes root;
    void *owned[OWNED_MAX];
    size_t n_owned;
};

static int fail(struct collect *k, const char *fmt, ...) _printf_(2, 3);

/* The upload is refused: err says why. */
static int
fail(struct collect *k, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(k->err, COLLATERAL_ERROR_MAX, fmt, ap);
    va_end(ap);
    return -EBADMSG;
}

static int
fail_verify(struct collect *k, const char *what, const struct attest_failure *f)
{
    return fail(k, "%s: verification failed at step %s: %s", what, attest_step_name(f->step),
                f->reason);
}

static bool
bytes_set(const struct attest_bytes *b)
{
    return b->data && b->size > 0;
}

static bool
bytes_equal(const struct attest_bytes *a, const struct attest_bytes *b)
{
    return a->size == b->size && (a->size == 0 || memcmp(a->data, b->data, a->size) == 0);
}

/* ---- Stored items, to check the upload with ---- */

static int
own(struct collect *k, void *p)
{
    if (k->n_owned == OWNED_MAX) {
        free(p);
        return -ENOBUFS;
    }
    k->owned[k->n_owned++] = p;
    return 0;
}

int
collateral_row_data(const json_t *row, uint8_t **ret_data, size_t *ret_size)
{
    const char *b64 = member_text(row, "data_b64");

    if (!b64)
        return -EINVAL;
    return collateral_b64_decode(b64, ITEM_DATA_MAX, ret_data, ret_size);
}

/* The stored item of kind and key (the first whose key starts with key, with prefix), its bytes
 * and its chain kept until the collection ends; -ENOENT when there is none. */
static int
stored_item(struct collect *k, const char *kind, const char *key, bool prefix,
            struct attest_bytes *ret_data, struct attest_bytes *ret_chain)
{
    _cleanup_(json_decrefp) json_t *row = NULL;
    const char *chain;
    uint8_t *data = NULL;
    size_t size = 0;
    char *chain_copy = NULL;
    int r;

    r = prefix ? store_collateral_first(k->store, kind, key, &row)
               : store_collateral_get(k->store, kind, key, false, &row);
    if (r < 0)
        return r;
    r = collateral_row_data(row, &data, &size);
    if (r >= 0)
        r = own(k, data);
    if (r < 0)
        return r;
    chain = member_text(row, "issuer_chain");
    if (chain) {
        chain_copy = strdup(chain);
        r = chain_copy ? own(k, chain_copy) : -ENOMEM;
        if (r < 0)
            return r;
    }
    *ret_data = (struct attest_bytes){ data, size };
    if (ret_chain)
        *ret_chain = (struct attest_bytes){ chain_copy, chain_copy ? strlen(chain_copy) : 0 };
    return 0;
}

/* stored_item() where "none" is an answer: *ret_data stays empty. */
static int
stored_item_opt(struct collect *k, const char *kind, const char *key, bool prefix,
                struct attest_bytes *ret_data, struct attest_bytes *ret_chain)
{
    int r = stored_item(k, kind, key, prefix, ret_data, ret_chain);

    return r == -ENOENT ? 0 : r;
}

/* ---- The batch ---- */

void
collateral_batch_release(struct collateral_batch *batch)
{
    for (size_t i = 0; i < batch->n; i++) {
        free(batch->items[i].data);
        free(batch->items[i].issuer_chain);
    }
    free(batch->items);
    *batch = (struct collateral_batch){ 0 };
}

/* The end of validity of an item: its next update or its own end, and its chain's. */
static int64_t
item_not_after(int64_t not_after, const struct attest_bytes *chain)
{
    int64_t chain_end;

    if (bytes_set(chain) &&
        collateral_chain_not_after(chain->data, chain->size, &chain_end) >= 0 &&
        chain_end < not_after)
        return chain_end;
    return not_after;
}

static struct collateral_item *
batch_find(struct collateral_batch *b, const char *kind, const char *key)
{
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->items[i].kind, kind) == 0 && strcmp(b->items[i].key, key) == 0)
            return &b->items[i];
    return NULL;
}

/* Adds a checked item (copies of data and chain). The same item twice is kept once; two
 * different items under one key refuse the upload. */
static int
item_add(struct collect *k, const char *kind, const char *key, const struct attest_bytes *data,
         const struct attest_bytes *chain, int64_t issued, int64_t next_update, int64_t not_after)
{
    struct collateral_batch *b = k->batch;
    struct collateral_item *found = batch_find(b, kind, key), item = { 0 };

    if (found && bytes_equal(&(struct attest_bytes){ found->data, found->size }, data))
        return 0;
    if (found)
        return fail(k, "%s %s: two different items in one upload", kind, key);
    if (b->n == COLLATERAL_ITEMS_MAX)
        return fail(k, "more than %u items in one upload", COLLATERAL_ITEMS_MAX);
    if (!b->items) {
        b->items = calloc(COLLATERAL_ITEMS_MAX, sizeof(*b->items));
        if (!b->items)
            return -ENOMEM;
    }
    snprintf(item.kind, sizeof(item.kind), "%s", kind);
    snprintf(item.key, sizeof(item.key), "%s", key);
    item.data = malloc(data->size + 1);
    item.issuer_chain = bytes_set(chain) ? strndup(chain->data, chain->size) : NULL;
    if (!item.data || (bytes_set(chain) && !item.issuer_chain)) {
        free(item.data);
        free(item.issuer_chain);
        return -ENOMEM;
    }
    memcpy(item.data, data->data, data->size);
    item.data[data->size] = '\0';
    item.size = data->size;
    item.issued = issued;
    item.next_update = next_update;
    item.not_after = item_not_after(not_after, chain);
    b->items[b->n++] = item;
    return 0;
}

/* ---- Gathering the upload's Intel items ---- */

static int
add_piece(struct collect *k, bool tcb, const struct attest_bytes *body,
          const struct attest_bytes *chain, bool tdx)
{
    struct piece *list = tcb ? k->tcb : k->qe;
    size_t *n = tcb ? &k->n_tcb : &k->n_qe, max = tcb ? UPLOAD_TCB_MAX : UPLOAD_QE_MAX;

    if (!bytes_set(body))
        return 0; /* a chain alone: used only when an item comes without its own */
    for (size_t i = 0; i < *n; i++)
        if (bytes_equal(&list[i].body, body))
            return 0;
    if (*n == max)
        return fail(k, "%s: more than %zu in one upload", tcb ? "tcb_info" : "qe_identity", max);
    list[(*n)++] = (struct piece){ *body, *chain, tdx };
    return 0;
}

static int
add_crl(struct collect *k, const struct attest_bytes *crl, const struct attest_bytes *chain)
{
    if (!bytes_set(crl))
        return 0;
    for (size_t i = 0; i < k->n_pck; i++)
        if (bytes_equal(&k->pck[i].crl, crl))
            return 0;
    if (k->n_pck == UPLOAD_CRL_MAX)
        return fail(k, "pck_crl: more than %u in one upload", UPLOAD_CRL_MAX);
    k->pck[k->n_pck++] = (struct crl_piece){ *crl, *chain };
    return 0;
}

static int
add_files(struct collect *k, const struct attest_intel_collateral_files *f, bool tdx)
{
    int r = add_piece(k, true, &f->tcb_info, &f->tcb_info_issuer_chain, tdx);

    if (r >= 0)
        r = add_piece(k, false, &f->qe_identity, &f->qe_identity_issuer_chain, tdx);
    if (r >= 0)
        r = add_crl(k, &f->pck_crl, &f->pck_crl_issuer_chain);
    if (r >= 0 && bytes_set(&f->root_ca_crl))
        k->root = f->root_ca_crl;
    return r;
}

/* The items a quote of this kind and FMSPC (NULL: the only one) would use, for either PCK CA.
 * *ret_ambiguous (may be NULL) is set, and nothing added, when several TCB infos match. */
static int
select_into(struct collect *k, bool tdx, const uint8_t *fmspc, bool *ret_ambiguous)
{
    static const enum attest_pck_ca cas[] = { ATTEST_PCK_CA_PROCESSOR, ATTEST_PCK_CA_PLATFORM };

    for (size_t i = 0; i < ELEMENTSOF(cas); i++) {
        struct attest_collateral_key key = { .tdx = tdx, .fmspc = fmspc, .pck_ca = cas[i] };
        struct attest_intel_collateral_files files;
        struct attest_failure failure = { 0 };
        int r = attest_collateral_intel_select(k->c, &key, &files, &failure);

        if (r == -ENOENT)
            return -ENODATA; /* no Intel item at all */
        if (r == -ENOTUNIQ && ret_ambiguous && strncmp(failure.reason, "tcb_info", 8) == 0) {
            *ret_ambiguous = true;
            return 0;
        }
        if (r < 0)
            return fail(k, "%s", failure.reason);
        r = add_files(k, &files, tdx);
        if (r < 0)
            return r;
    }
    return 0;
}

static int
hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool
fmspc_parse(const char *hex, uint8_t out[FMSPC_SIZE])
{
    if (strlen(hex) != 2 * FMSPC_SIZE)
        return false;
    for (size_t i = 0; i < FMSPC_SIZE; i++) {
        int hi = hex_nibble(hex[2 * i]), lo = hex_nibble(hex[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

struct fmspc_list {
    uint8_t fmspc[FMSPCS_MAX][FMSPC_SIZE];
    size_t n;
};

/* Every "fmspc" member of a bundle (PCCS's tcbinfos[], Intel's platforms[]), to pick the TCB
 * infos of a document that holds several one by one. */
static void
walk_fmspcs(const json_t *v, unsigned depth, struct fmspc_list *list)
{
    const char *name;
    json_t *member;
    size_t i;

    if (depth > JSON_DEPTH_MAX)
        return;
    if (json_is_array(v)) {
        json_array_foreach (v, i, member)
            walk_fmspcs(member, depth + 1, list);
        return;
    }
    json_object_foreach ((json_t *)v, name, member) {
        uint8_t fmspc[FMSPC_SIZE];
        bool seen = false;

        if (strcmp(name, "fmspc") != 0 || !json_is_string(member)) {
            walk_fmspcs(member, depth + 1, list);
            continue;
        }
        if (!fmspc_parse(json_string_value(member), fmspc))
            continue;
        for (size_t j = 0; j < list->n && !seen; j++)
            seen = memcmp(list->fmspc[j], fmspc, FMSPC_SIZE) == 0;
        if (!seen && list->n < FMSPCS_MAX)
            memcpy(list->fmspc[list->n++], fmspc, FMSPC_SIZE);
    }
}

static int
gather_intel(struct collect *k, const json_t *doc)
{
    _cleanup_free_ struct fmspc_list *fmspcs = NULL;

    for (int tdx = 0; tdx <= 1; tdx++) {
        bool ambiguous = false;
        int r = select_into(k, tdx, NULL, &ambiguous);

        if (r == -ENODATA)
            return 0;
        if (r < 0)
            return r;
        if (!ambiguous)
            continue;
        if (!fmspcs) {
            fmspcs = calloc(1, sizeof(*fmspcs));
            if (!fmspcs)
                return -ENOMEM;
            if (doc)
                walk_fmspcs(doc, 0, fmspcs);
        }
        if (fmspcs->n == 0)
            return fail(k, "tcb_info: several TCB infos and no fmspc member to tell them apart");
        for (size_t i = 0; i < fmspcs->n; i++) {
            r = select_into(k, tdx, fmspcs->fmspc[i], NULL);
            if (r < 0)
                return r;
        }
    }
    return 0;
}
