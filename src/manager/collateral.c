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
#define UPLOAD_TCB_MAX (2 * ATTEST_COLLATERAL_TCB_INFOS_MAX) /* SGX and TDX per FMSPC */
#define UPLOAD_QE_MAX 2                                      /* QE and TD_QE */
#define UPLOAD_CRL_MAX 2                                     /* Processor and Platform CA */
#define STORED_MAX 32 /* distinct stored items read to check an upload with */
#define ITEM_DATA_MAX                                                                              \
    (ATTEST_INTEL_COLLATERAL_MAX > ATTEST_SNP_CERT_MAX ? ATTEST_INTEL_COLLATERAL_MAX               \
                                                       : ATTEST_SNP_CERT_MAX)

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

/* A stored item read to check the upload with (or the answer that there is none). */
struct stored {
    char kind[COLLATERAL_KIND_MAX];
    char key[COLLATERAL_KEY_MAX];
    bool prefix, found;
    struct attest_bytes data, chain; /* owned */
};

/* One collection: the upload's Intel items (pointing into the loaded collateral), the stored
 * items read to check them with, and the batch being filled. */
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
    struct stored stored[STORED_MAX];
    size_t n_stored;
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
    /* The verifier's reason names the item that failed, which may be another than the one
     * being checked (a QE identity checked together with a TCB info). */
    return fail(k, "%s (step %s, checking the upload's %s)", f->reason, attest_step_name(f->step),
                what);
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

int
collateral_row_data(const json_t *row, uint8_t **ret_data, size_t *ret_size)
{
    const char *b64 = member_text(row, "data_b64");

    if (!b64)
        return -EINVAL;
    return collateral_b64_decode(b64, ITEM_DATA_MAX, ret_data, ret_size);
}

static struct stored *
stored_find(struct collect *k, const char *kind, const char *key, bool prefix)
{
    for (size_t i = 0; i < k->n_stored; i++)
        if (strcmp(k->stored[i].kind, kind) == 0 && strcmp(k->stored[i].key, key) == 0 &&
            k->stored[i].prefix == prefix)
            return &k->stored[i];
    return NULL;
}

/* Reads the row into a new entry of the cache (found false when there is none). */
static int
stored_read(struct collect *k, const char *kind, const char *key, bool prefix, struct stored **ret)
{
    _cleanup_(json_decrefp) json_t *row = NULL;
    struct stored *s;
    const char *chain;
    uint8_t *data;
    size_t size;
    int r;

    if (k->n_stored == STORED_MAX)
        return -ENOBUFS; /* more distinct lookups than collateral has kinds and keys */
    s = &k->stored[k->n_stored];
    *s = (struct stored){ .prefix = prefix };
    snprintf(s->kind, sizeof(s->kind), "%s", kind);
    snprintf(s->key, sizeof(s->key), "%s", key);
    r = prefix ? store_collateral_first(k->store, kind, key, &row)
               : store_collateral_get(k->store, kind, key, false, &row);
    if (r < 0 && r != -ENOENT)
        return r;
    if (r >= 0) {
        r = collateral_row_data(row, &data, &size);
        if (r < 0)
            return r;
        s->data = (struct attest_bytes){ data, size };
        chain = member_text(row, "issuer_chain");
        s->chain.data = chain ? strdup(chain) : NULL;
        if (chain && !s->chain.data) {
            free(data);
            return -ENOMEM;
        }
        s->chain.size = chain ? strlen(chain) : 0;
        s->found = true;
    }
    k->n_stored++;
    *ret = s;
    return 0;
}

static void
stored_release(struct collect *k)
{
    for (size_t i = 0; i < k->n_stored; i++) {
        free((void *)k->stored[i].data.data);
        free((void *)k->stored[i].chain.data);
    }
    k->n_stored = 0;
}

/* The stored item of kind and key (the first whose key starts with key, with prefix), its bytes
 * and its chain kept until the collection ends, each read once however many items of the upload
 * need it; -ENOENT when there is none. */
static int
stored_item(struct collect *k, const char *kind, const char *key, bool prefix,
            struct attest_bytes *ret_data, struct attest_bytes *ret_chain)
{
    struct stored *s = stored_find(k, kind, key, prefix);
    int r = s ? 0 : stored_read(k, kind, key, prefix, &s);

    if (r < 0)
        return r;
    if (!s->found)
        return -ENOENT;
    *ret_data = s->data;
    if (ret_chain)
        *ret_chain = s->chain;
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

    if (bytes_set(chain) && collateral_chain_not_after(chain->data, chain->size, &chain_end) >= 0 &&
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

/* The items a quote of this kind and FMSPC (NULL: none, for a kind without TCB info) would use,
 * for either PCK CA. -ENODATA when the collateral has no Intel item at all. */
static int
select_into(struct collect *k, bool tdx, const uint8_t *fmspc)
{
    static const enum attest_pck_ca cas[] = { ATTEST_PCK_CA_PROCESSOR, ATTEST_PCK_CA_PLATFORM };

    for (size_t i = 0; i < ELEMENTSOF(cas); i++) {
        struct attest_collateral_key key = { .tdx = tdx, .fmspc = fmspc, .pck_ca = cas[i] };
        struct attest_intel_collateral_files files;
        struct attest_failure failure = { 0 };
        int r = attest_collateral_intel_select(k->c, &key, &files, &failure);

        if (r == -ENOENT)
            return -ENODATA; /* no Intel item at all */
        if (r < 0)
            return fail(k, "%s", failure.reason);
        r = add_files(k, &files, tdx);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Each TCB info of the upload with its QE identity and CRLs (a PCCS bundle holds many), then,
 * for a kind (SGX, TDX) that has no TCB info, what the upload holds of it. */
static int
gather_intel(struct collect *k)
{
    size_t n = attest_collateral_tcb_info_count(k->c);
    bool kinds[2] = { false, false };
    int r;

    for (size_t i = 0; i < n; i++) {
        uint8_t fmspc[FMSPC_SIZE];
        bool tdx;

        if (attest_collateral_tcb_info_key(k->c, i, &tdx, fmspc) < 0)
            return fail(k, "tcb_info: a TCB info without a readable id and fmspc");
        r = select_into(k, tdx, fmspc);
        if (r < 0)
            return r == -ENODATA ? 0 : r;
        kinds[tdx] = true;
    }
    for (int tdx = 0; tdx <= 1; tdx++) {
        if (kinds[tdx])
            continue;
        r = select_into(k, tdx, NULL);
        if (r < 0)
            return r == -ENODATA ? 0 : r;
    }
    return 0;
}

/* ---- Checking Intel items with attest_intel_collateral_new ---- */

/* The TCB Signing chain for an item that came without one: another item's of the upload, else
 * a stored item's. Left empty when there is none: the verifier then names it missing. */
static int
tcb_signing_chain(struct collect *k, const struct attest_bytes *own_chain, struct attest_bytes *ret)
{
    struct attest_bytes data = { 0 };
    int r;

    *ret = *own_chain;
    for (size_t i = 0; i < k->n_tcb && !bytes_set(ret); i++)
        *ret = k->tcb[i].chain;
    for (size_t i = 0; i < k->n_qe && !bytes_set(ret); i++)
        *ret = k->qe[i].chain;
    if (bytes_set(ret))
        return 0;
    r = stored_item_opt(k, "intel_tcb_info", "", true, &data, ret);
    if (r >= 0 && !bytes_set(ret))
        r = stored_item_opt(k, "intel_qe_identity", "", true, &data, ret);
    return r;
}

/* A QE identity to check a TCB info with (or the reverse): of the same kind from the upload,
 * else any from the upload, else the store's of that kind, else any stored. */
static int
companion(struct collect *k, bool want_tcb, bool tdx, struct attest_bytes *ret_body,
          struct attest_bytes *ret_chain)
{
    const struct piece *list = want_tcb ? k->tcb : k->qe;
    size_t n = want_tcb ? k->n_tcb : k->n_qe;
    const char *kind = want_tcb ? "intel_tcb_info" : "intel_qe_identity";
    const char *key = want_tcb ? (tdx ? "tdx/" : "sgx/") : (tdx ? "td_qe" : "qe");
    int r;

    *ret_body = *ret_chain = (struct attest_bytes){ 0 };
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++)
            if (pass == 1 || list[i].tdx == tdx) {
                *ret_body = list[i].body;
                *ret_chain = list[i].chain;
                return 0;
            }
    r = stored_item_opt(k, kind, key, want_tcb, ret_body, ret_chain);
    if (r >= 0 && !bytes_set(ret_body))
        r = stored_item_opt(k, kind, "", true, ret_body, ret_chain);
    return r;
}

/* Builds the verifier's collateral from files: every signature and chain in it checked. */
static int
intel_check(struct collect *k, const char *what, const struct attest_intel_collateral_files *files,
            struct attest_intel_collateral_info *ret_info)
{
    _cleanup_(attest_intel_collateral_freep) struct attest_intel_collateral *checked = NULL;
    struct attest_failure failure = { 0 };
    int r = attest_intel_collateral_new(files, &checked, &failure);

    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return fail_verify(k, what, &failure);
    attest_intel_collateral_get_info(checked, ret_info);
    return 0;
}

static int
check_tcb_info(struct collect *k, const struct piece *p)
{
    struct attest_intel_collateral_files files = { .tcb_info = p->body };
    struct attest_intel_collateral_info info;
    const char *what = p->tdx ? "tcb_info (TDX)" : "tcb_info (SGX)";
    char key[COLLATERAL_KEY_MAX], fmspc[2 * FMSPC_SIZE + 1];
    int r;

    r = tcb_signing_chain(k, &p->chain, &files.tcb_info_issuer_chain);
    if (r >= 0)
        r = companion(k, false, p->tdx, &files.qe_identity, &files.qe_identity_issuer_chain);
    if (r >= 0 && !bytes_set(&files.qe_identity_issuer_chain))
        files.qe_identity_issuer_chain = files.tcb_info_issuer_chain;
    if (r >= 0)
        r = intel_check(k, what, &files, &info);
    if (r < 0)
        return r;
    hex_encode(info.fmspc, FMSPC_SIZE, fmspc);
    snprintf(key, sizeof(key), "%s/%s", info.tdx ? "tdx" : "sgx", fmspc);
    return item_add(k, "intel_tcb_info", key, &p->body, &files.tcb_info_issuer_chain,
                    info.tcb_info_issued, info.tcb_info_next_update, info.tcb_info_next_update);
}

static int
check_qe_identity(struct collect *k, const struct piece *p)
{
    struct attest_intel_collateral_files files = { .qe_identity = p->body };
    struct attest_intel_collateral_info info;
    const char *what = p->tdx ? "qe_identity (TD_QE)" : "qe_identity (QE)";
    int r;

    r = tcb_signing_chain(k, &p->chain, &files.qe_identity_issuer_chain);
    if (r >= 0)
        r = companion(k, true, p->tdx, &files.tcb_info, &files.tcb_info_issuer_chain);
    if (r >= 0 && !bytes_set(&files.tcb_info_issuer_chain))
        files.tcb_info_issuer_chain = files.qe_identity_issuer_chain;
    if (r >= 0)
        r = intel_check(k, what, &files, &info);
    if (r < 0)
        return r;
    return item_add(k, "intel_qe_identity", p->tdx ? "td_qe" : "qe", &p->body,
                    &files.qe_identity_issuer_chain, info.qe_identity_issued,
                    info.qe_identity_next_update, info.qe_identity_next_update);
}

/* A TCB info and QE identity for checking CRLs, which the verifier only takes with them. */
static int
crl_carriers(struct collect *k, struct attest_intel_collateral_files *files)
{
    int r = companion(k, true, false, &files->tcb_info, &files->tcb_info_issuer_chain);

    if (r >= 0)
        r = companion(k, false, false, &files->qe_identity, &files->qe_identity_issuer_chain);
    if (r >= 0 && !bytes_set(&files->qe_identity_issuer_chain))
        files->qe_identity_issuer_chain = files->tcb_info_issuer_chain;
    if (r >= 0 && !bytes_set(&files->tcb_info_issuer_chain))
        files->tcb_info_issuer_chain = files->qe_identity_issuer_chain;
    return r;
}

static const char *
pck_ca_key(enum crl_issuer issuer)
{
    return issuer == CRL_ISSUER_PROCESSOR ? "processor" : "platform";
}

static int
check_pck_crl(struct collect *k, const struct crl_piece *p)
{
    struct attest_intel_collateral_files files = { .pck_crl = p->crl,
                                                   .pck_crl_issuer_chain = p->chain,
                                                   .root_ca_crl = k->root };
    struct attest_intel_collateral_info info;
    struct attest_bytes ignored;
    struct crl_facts facts;
    int r;

    if (collateral_crl_facts(p->crl.data, p->crl.size, &facts) < 0)
        return fail(k, "pck_crl: not a CRL with thisUpdate and nextUpdate");
    if (facts.issuer != CRL_ISSUER_PROCESSOR && facts.issuer != CRL_ISSUER_PLATFORM)
        return fail(k, "pck_crl: issued by neither the Intel SGX PCK Processor CA nor the "
                       "Platform CA");
    r = crl_carriers(k, &files);
    if (r >= 0 && !bytes_set(&files.pck_crl_issuer_chain))
        r = stored_item_opt(k, "intel_pck_crl", pck_ca_key(facts.issuer), false, &ignored,
                            &files.pck_crl_issuer_chain);
    if (r >= 0 && !bytes_set(&files.root_ca_crl))
        r = stored_item_opt(k, "intel_root_ca_crl", "root", false, &files.root_ca_crl, NULL);
    if (r >= 0)
        r = intel_check(k, "pck_crl", &files, &info);
    if (r < 0)
        return r;
    return item_add(k, "intel_pck_crl", pck_ca_key(facts.issuer), &p->crl,
                    &files.pck_crl_issuer_chain, facts.this_update, facts.next_update,
                    facts.next_update);
}

static int
check_root_crl(struct collect *k)
{
    struct attest_intel_collateral_files files = { .root_ca_crl = k->root };
    struct attest_intel_collateral_info info;
    struct crl_facts facts;
    int r;

    if (collateral_crl_facts(k->root.data, k->root.size, &facts) < 0)
        return fail(k, "root_ca_crl: not a CRL with thisUpdate and nextUpdate");
    if (facts.issuer != CRL_ISSUER_ROOT)
        return fail(k, "root_ca_crl: not issued by the Intel SGX Root CA");
    r = crl_carriers(k, &files);
    if (r >= 0 && k->n_pck > 0) {
        files.pck_crl = k->pck[0].crl;
        files.pck_crl_issuer_chain = k->pck[0].chain;
    }
    if (r >= 0 && !bytes_set(&files.pck_crl))
        r = stored_item_opt(k, "intel_pck_crl", "processor", false, &files.pck_crl,
                            &files.pck_crl_issuer_chain);
    if (r >= 0 && !bytes_set(&files.pck_crl))
        r = stored_item_opt(k, "intel_pck_crl", "platform", false, &files.pck_crl,
                            &files.pck_crl_issuer_chain);
    if (r >= 0)
        r = intel_check(k, "root_ca_crl", &files, &info);
    if (r < 0)
        return r;
    return item_add(k, "intel_root_ca_crl", "root", &k->root, &(struct attest_bytes){ 0 },
                    facts.this_update, facts.next_update, facts.next_update);
}

static int
check_intel(struct collect *k)
{
    int r = 0;

    for (size_t i = 0; i < k->n_tcb && r >= 0; i++)
        r = check_tcb_info(k, &k->tcb[i]);
    for (size_t i = 0; i < k->n_qe && r >= 0; i++)
        r = check_qe_identity(k, &k->qe[i]);
    for (size_t i = 0; i < k->n_pck && r >= 0; i++)
        r = check_pck_crl(k, &k->pck[i]);
    if (r >= 0 && bytes_set(&k->root))
        r = check_root_crl(k);
    return r;
}

/* ---- AMD certificates, checked with attest_snp_certs_new ---- */

struct amd_cert {
    struct attest_bytes der;
    struct amd_cert_facts facts;
    bool uploaded;
};

static const char *const amd_names[] = { "vcek", "ask", "ark" };

static int
amd_read(struct collect *k, const struct attest_bytes *der, size_t slot, struct amd_cert *ret)
{
    static const enum amd_cert_role expected[][2] = {
        { AMD_CERT_VCEK, AMD_CERT_VLEK },
        { AMD_CERT_ASK, AMD_CERT_ASVK },
        { AMD_CERT_ARK, AMD_CERT_ARK },
    };

    if (!bytes_set(der))
        return 0;
    if (collateral_amd_facts(der->data, der->size, &ret->facts) < 0 ||
        (ret->facts.role != expected[slot][0] && ret->facts.role != expected[slot][1]))
        return fail(k, "%s: not an AMD SEV %s certificate with its extensions", amd_names[slot],
                    slot == 0   ? "VCEK or VLEK"
                    : slot == 1 ? "ASK or ASVK"
                                : "ARK");
    ret->der = *der;
    ret->uploaded = true;
    return 0;
}

/* The stored certificate of kind for product (key: the product, or the first key starting
 * with "<product>/" for a leaf), to check the upload's with. */
static int
amd_complete(struct collect *k, const char *kind, const char *product, bool leaf,
             struct amd_cert *ret)
{
    char key[COLLATERAL_KEY_MAX];
    int r;

    if (bytes_set(&ret->der))
        return 0;
    snprintf(key, sizeof(key), leaf ? "%s/" : "%s", product);
    r = stored_item_opt(k, kind, key, leaf, &ret->der, NULL);
    if (r >= 0 && bytes_set(&ret->der) &&
        collateral_amd_facts(ret->der.data, ret->der.size, &ret->facts) < 0)
        r = -EINVAL; /* the store held what was checked before it was stored */
    return r;
}

static int
amd_store_items(struct collect *k, const struct amd_cert certs[3])
{
    for (size_t i = 0; i < 3; i++) {
        const struct amd_cert *c = &certs[i];
        char key[COLLATERAL_KEY_MAX];
        int r;

        if (!c->uploaded)
            continue;
        collateral_amd_key(&c->facts, key, sizeof(key));
        r = item_add(k, collateral_amd_kind(c->facts.role), key, &c->der,
                     &(struct attest_bytes){ 0 }, c->facts.not_before, 0, c->facts.not_after);
        if (r < 0)
            return r;
    }
    return 0;
}

static int
check_amd(struct collect *k)
{
    _cleanup_(attest_snp_certs_freep) struct attest_snp_certs *checked = NULL;
    const struct attest_snp_cert_files *snp = attest_collateral_snp(k->c);
    struct amd_cert certs[3] = { 0 };
    struct attest_failure failure = { 0 };
    const char *product = NULL;
    bool vlek;
    int r = 0;

    if (!snp)
        return 0;
    r = amd_read(k, &snp->vcek, 0, &certs[0]);
    if (r >= 0)
        r = amd_read(k, &snp->ask, 1, &certs[1]);
    if (r >= 0)
        r = amd_read(k, &snp->ark, 2, &certs[2]);
    for (size_t i = 0; i < 3 && r >= 0; i++) {
        if (!certs[i].uploaded)
            continue;
        if (product && strcmp(product, certs[i].facts.product) != 0)
            return fail(k, "amd: certificates of two products (%s, %s)", product,
                        certs[i].facts.product);
        product = certs[i].facts.product;
    }
    if (r < 0)
        return r;
    vlek = certs[0].uploaded ? certs[0].facts.role == AMD_CERT_VLEK
                             : certs[1].uploaded && certs[1].facts.role == AMD_CERT_ASVK;
    r = amd_complete(k, vlek ? "amd_vlek" : "amd_vcek", product, true, &certs[0]);
    if (r >= 0)
        r = amd_complete(k, vlek ? "amd_asvk" : "amd_ask", product, false, &certs[1]);
    if (r >= 0)
        r = amd_complete(k, "amd_ark", product, false, &certs[2]);
    if (r < 0)
        return r;
    r = attest_snp_certs_new(&(struct attest_snp_cert_files){ .vcek = certs[0].der,
                                                              .ask = certs[1].der,
                                                              .ark = certs[2].der },
                             &checked, &failure);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        char what[64];

        snprintf(what, sizeof(what), "amd certificates (%s)", product);
        return fail_verify(k, what, &failure);
    }
    return amd_store_items(k, certs);
}

int
collateral_collect(struct store *store, const struct attest_collateral *collateral,
                   struct collateral_batch *ret, char err[COLLATERAL_ERROR_MAX])
{
    struct collateral_batch batch = { 0 };
    struct collect k = { .store = store, .c = collateral, .batch = &batch, .err = err };
    int r;

    err[0] = '\0';
    k.tcb = calloc(UPLOAD_TCB_MAX, sizeof(*k.tcb));
    r = k.tcb ? gather_intel(&k) : -ENOMEM;
    if (r >= 0)
        r = check_intel(&k);
    if (r >= 0)
        r = check_amd(&k);
    if (r >= 0 && batch.n == 0) {
        snprintf(err, COLLATERAL_ERROR_MAX, "no collateral item found");
        r = -ENODATA;
    }
    stored_release(&k);
    free(k.tcb);
    if (r < 0) {
        collateral_batch_release(&batch);
        return r;
    }
    *ret = batch;
    return 0;
}

/* ---- Writing ---- */

static int
save_item(struct store *store, struct collateral_item *item, const char *source, const char *now)
{
    _cleanup_(json_decrefp) json_t *old = NULL;
    _cleanup_free_ char *b64 = NULL;
    char sha[SHA256_HEX_LEN + 1];
    int r;

    sha256_hex(item->data, item->size, sha);
    r = store_collateral_get(store, item->kind, item->key, true, &old);
    if (r < 0 && r != -ENOENT)
        return r;
    if (old && strcmp(member_text(old, "sha256") ?: "", sha) == 0) {
        item->outcome = COLLATERAL_UNCHANGED;
        return 0;
    }
    if (old && json_integer_value(json_object_get(old, "issued")) > item->issued) {
        item->outcome = COLLATERAL_KEPT_NEWER;
        return 0;
    }
    r = collateral_b64_encode(item->data, item->size, &b64);
    if (r < 0)
        return r;
    item->outcome = COLLATERAL_STORED;
    return store_collateral_put(store,
                                &(struct collateral_row){
                                    .kind = item->kind,
                                    .key = item->key,
                                    .data_b64 = b64,
                                    .issuer_chain = item->issuer_chain,
                                    .sha256 = sha,
                                    .issued = item->issued,
                                    .next_update = item->next_update,
                                    .not_after = item->not_after,
                                    .source = source,
                                    .imported_at = now,
                                },
                                old != NULL);
}

int
collateral_save(struct store *store, struct collateral_batch *batch, const char *source,
                const char *now)
{
    for (size_t i = 0; i < batch->n; i++) {
        int r = save_item(store, &batch->items[i], source, now);

        if (r < 0)
            return r;
    }
    return 0;
}

static const char *const outcome_names[] = { "stored", "unchanged", "kept_newer" };

static json_t *
time_or_null(int64_t t)
{
    char text[32];

    if (t == 0)
        return json_null();
    time_format_rfc3339(t * 1000, text);
    return json_string(text);
}

json_t *
collateral_batch_json(const struct collateral_batch *batch)
{
    _cleanup_(json_decrefp) json_t *items = json_array();

    if (!items)
        return NULL;
    for (size_t i = 0; i < batch->n; i++) {
        const struct collateral_item *it = &batch->items[i];
        json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:s}", "kind", it->kind, "key", it->key,
                              "issued", time_or_null(it->issued), "next_update",
                              time_or_null(it->next_update), "not_after",
                              time_or_null(it->not_after), "result", outcome_names[it->outcome]);

        if (!o || json_array_append_new(items, o) < 0)
            return NULL;
    }
    return TAKE_PTR(items);
}

void
collateral_batch_summary(const struct collateral_batch *batch, char *out, size_t size)
{
    size_t counts[3] = { 0 }, len;
    int n;

    for (size_t i = 0; i < batch->n; i++)
        counts[batch->items[i].outcome]++;
    n = snprintf(out, size, "%zu stored, %zu unchanged, %zu kept (newer in the store):",
                 counts[COLLATERAL_STORED], counts[COLLATERAL_UNCHANGED],
                 counts[COLLATERAL_KEPT_NEWER]);
    len = n < 0 ? 0 : (size_t)n;
    for (size_t i = 0; i < batch->n && len < size; i++) {
        n = snprintf(out + len, size - len, "%s %s %s", i ? "," : "", batch->items[i].kind,
                     batch->items[i].key);
        len += n < 0 ? 0 : (size_t)n;
    }
}
