/* The manifest from settings and a tree (manifest-build.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "manifest-build.h"

/* What container runtimes mount or create at start: podman also makes /etc/mtab when the image
 * has none and /run/.containerenv (with /run itself when missing). */
static const char *const default_skip[] = {
    "/.cloister",       "/dev",  "/etc/hostname", "/etc/hosts", "/etc/mtab",
    "/etc/resolv.conf", "/proc", "/run",          "/sys",
};

static int
strings_of(const struct jread_value *v, struct manifest_strings *ret)
{
    *ret = (struct manifest_strings){ 0 };
    if (!v)
        return 0;
    if (v->type != JREAD_ARRAY)
        return -EINVAL;
    ret->items = calloc(v->n + 1, sizeof(char *));
    if (!ret->items)
        return -ENOMEM;
    for (size_t i = 0; i < v->n; i++) {
        if (v->items[i]->type != JREAD_STRING)
            return -EINVAL;
        ret->items[ret->n++] = v->items[i]->string;
    }
    return 0;
}

static int
skip_list(const struct jread_value *tree_cfg, struct manifest_strings *ret)
{
    const struct jread_value *skip = jread_get(tree_cfg, "skip");
    int r;

    if (!skip) {
        ret->items = calloc(ELEMENTSOF(default_skip) + 1, sizeof(char *));
        if (!ret->items)
            return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(default_skip); i++)
            ret->items[ret->n++] = default_skip[i];
        return 0;
    }
    r = strings_of(skip, ret);
    if (r < 0)
        return r;
    for (size_t i = 0; i < ret->n; i++)
        if (strcmp(ret->items[i], "/.cloister") == 0)
            return 0;
    return -EINVAL; /* the manifest cannot list itself */
}

void
manifest_filters_release(struct manifest_filters *f)
{
    free(f->skip.items);
    free(f->keep.items);
    free(f->rw.items);
    free(f->enc.items);
    *f = (struct manifest_filters){ 0 };
}

int
manifest_filters_get(const struct jread_value *cfg, struct manifest_filters *ret)
{
    const struct jread_value *adv = jread_get(cfg, "advanced_settings");
    struct manifest_filters f = { 0 };
    int r;

    r = skip_list(jread_get(cfg, "tree"), &f.skip);
    if (r == 0)
        r = strings_of(jread_get(adv ? adv : cfg, "rw_dirs"), &f.rw);
    if (r == 0)
        r = strings_of(jread_get(adv ? adv : cfg, "encrypted_dirs"), &f.enc);
    if (r == 0) {
        f.keep.items = calloc(f.rw.n + f.enc.n + 1, sizeof(char *));
        r = f.keep.items ? 0 : -ENOMEM;
        for (size_t i = 0; r == 0 && i < f.rw.n; i++)
            f.keep.items[f.keep.n++] = f.rw.items[i];
        for (size_t i = 0; r == 0 && i < f.enc.n; i++)
            f.keep.items[f.keep.n++] = f.enc.items[i];
    }
    if (r < 0) {
        manifest_filters_release(&f);
        return r;
    }
    *ret = f;
    return 0;
}

/* Copies member key of from (if present) into the object being written, canonically. */
static int
copy_member(struct jwbuf *b, const struct jread_value *from, const char *key, bool *first)
{
    const struct jread_value *v = jread_get(from, key);

    if (!v)
        return 0;
    jwbuf_key(b, key, *first);
    *first = false;
    return jwbuf_canonical(b, v, NULL);
}

/* The key_param cloister-init uses when there is none (RSA 2048, EC P-256), written out as the
 * manager stores it, so that the same key measures the same whether or not it was spelled out. */
static void
write_default_key_param(struct jwbuf *b, const char *key_type, bool *first)
{
    if (!key_type)
        return;
    jwbuf_key(b, "key_param", *first);
    *first = false;
    jwbuf_puts(b, strcmp(key_type, "RSA") == 0 ? "{\"size\":2048}" : "{\"curve\":\"P-256\"}");
}

/* The "app" section: the app's settings as the manager stores them (top level and
 * advanced_settings), certificate without the issuer. */
static int
write_app(struct jwbuf *b, const struct jread_value *cfg)
{
    static const char *const cert_keys[] = { "alt_names", "cert_path", "chain_path", "key_param",
                                             "key_path",  "key_type",  "subject" };
    static const char *const adv_keys[] = { "allow_cmdline_args", "encrypted_dirs", "manifest_env",
                                            "rw_dirs" };
    static const char *const top_keys[] = { "isvprodid", "isvsvn", "mem_size", "threads" };
    const struct jread_value *adv = jread_get(cfg, "advanced_settings");
    const struct jread_value *cert = jread_get(adv, "certificate");
    bool first = true, cfirst = true;
    int r = 0;

    if (!cert)
        cert = jread_get(cfg, "certificate");
    jwbuf_puts(b, "{");
    for (size_t i = 0; r == 0 && i < ELEMENTSOF(adv_keys); i++)
        r = copy_member(b, adv ? adv : cfg, adv_keys[i], &first);
    if (r < 0)
        return r;
    jwbuf_key(b, "certificate", first);
    first = false;
    jwbuf_puts(b, "{");
    for (size_t i = 0; r == 0 && i < ELEMENTSOF(cert_keys); i++)
        if (strcmp(cert_keys[i], "key_param") == 0 && cert && !jread_get(cert, "key_param"))
            write_default_key_param(b, jread_get_string(cert, "key_type"), &cfirst);
        else
            r = copy_member(b, cert, cert_keys[i], &cfirst);
    jwbuf_puts(b, "}");
    for (size_t i = 0; r == 0 && i < ELEMENTSOF(top_keys); i++)
        r = copy_member(b, cfg, top_keys[i], &first);
    jwbuf_puts(b, "}");
    return r < 0 ? r : b->error;
}

static int
write_tree(struct jwbuf *b, const struct jread_value *tree_cfg, const struct manifest_strings *skip,
           const struct tree_scan *scan)
{
    const struct jread_value *check = jread_get(tree_cfg, "check");
    _cleanup_(jwbuf_release) struct jwbuf entries = { 0 };
    uint8_t digest[32];
    char hex[65];
    int r;

    r = tree_scan_to_json(scan, &entries, digest);
    if (r < 0)
        return r;
    manifest_hex(digest, 32, hex);
    jwbuf_printf(b, "{\"digest\": \"%s\", \"check\": ", hex);
    if (check)
        r = jwbuf_canonical(b, check, NULL);
    else
        jwbuf_puts(b, "\"full\"");
    if (r == 0 && jread_get(tree_cfg, "sample_percent")) {
        jwbuf_puts(b, ", \"sample_percent\": ");
        r = jwbuf_canonical(b, jread_get(tree_cfg, "sample_percent"), NULL);
    }
    jwbuf_puts(b, ", \"skip\": [");
    for (size_t i = 0; i < skip->n; i++) {
        jwbuf_puts(b, i ? ", " : "");
        jwbuf_string(b, skip->items[i]);
    }
    jwbuf_puts(b, "],\n\"entries\": ");
    jwbuf_append(b, entries.data, entries.size);
    jwbuf_puts(b, "}");
    return r < 0 ? r : b->error;
}

int
manifest_build(const struct jread_value *cfg, const struct manifest_filters *filters,
               const struct tree_scan *scan, const uint8_t signer[32], struct jwbuf *out)
{
    const struct jread_value *image = jread_get(cfg, "image");
    char hex[65];
    int r;

    if (!image)
        return -EINVAL;
    jwbuf_puts(out, "{\n\"version\": 1,\n\"tree\": ");
    r = write_tree(out, jread_get(cfg, "tree"), &filters->skip, scan);
    jwbuf_puts(out, ",\n\"image\": ");
    if (r == 0)
        r = jwbuf_canonical(out, image, NULL);
    jwbuf_puts(out, ",\n\"app\": ");
    if (r == 0)
        r = write_app(out, cfg);
    manifest_hex(signer, 32, hex);
    jwbuf_printf(out, ",\n\"signer\": \"%s\"\n}\n", hex);
    if (r == 0)
        r = out->error;
    return r < 0 ? (r == -ENOMEM ? r : -EINVAL) : 0;
}
