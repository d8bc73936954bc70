/* Image indexes, manifests and configs (oci-parse.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "oci-parse.h"

bool
oci_digest_ok(const char *s)
{
    if (!s || strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64)
        return false;
    for (const char *p = s + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

bool
oci_is_index_type(const char *media_type)
{
    return strcmp(media_type, OCI_MT_INDEX) == 0 || strcmp(media_type, DOCKER_MT_LIST) == 0;
}

bool
oci_is_manifest_type(const char *media_type)
{
    return strcmp(media_type, OCI_MT_MANIFEST) == 0 || strcmp(media_type, DOCKER_MT_MANIFEST) == 0;
}

static int
load(const char *text, size_t size, const char *what, json_t **ret, struct image_error *e)
{
    json_error_t err;
    json_t *v;

    if (size > OCI_JSON_MAX)
        return image_errorf(e, -EINVAL, "the %s is larger than %u bytes", what, OCI_JSON_MAX);
    v = json_loadb(text, size, JSON_REJECT_DUPLICATES, &err);
    if (!v)
        return image_errorf(e, -EINVAL, "the %s is not valid JSON: %s (line %d)", what, err.text,
                            err.line);
    if (!json_is_object(v)) {
        json_decref(v);
        return image_errorf(e, -EINVAL, "the %s is not a JSON object", what);
    }
    *ret = v;
    return 0;
}

int
oci_descriptor_parse(const json_t *v, const char *what, struct oci_descriptor *ret,
                     struct image_error *e)
{
    const char *mt = json_string_value(json_object_get(v, "mediaType"));
    const char *digest = json_string_value(json_object_get(v, "digest"));
    const json_t *size = json_object_get(v, "size");

    if (!json_is_object(v))
        return image_errorf(e, -EINVAL, "%s: not an object", what);
    if (!mt || strlen(mt) >= sizeof(ret->media_type))
        return image_errorf(e, -EINVAL, "%s: mediaType missing or too long", what);
    if (!oci_digest_ok(digest))
        return image_errorf(e, -EINVAL, "%s: digest must be sha256: and 64 lowercase hex digits",
                            what);
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return image_errorf(e, -EINVAL, "%s: size must be a non-negative integer", what);
    if (json_object_get(v, "urls"))
        return image_errorf(e, -EINVAL, "%s: foreign layers (urls) are not supported", what);
    snprintf(ret->media_type, sizeof(ret->media_type), "%s", mt);
    snprintf(ret->digest, sizeof(ret->digest), "%s", digest);
    ret->size = (uint64_t)json_integer_value(size);
    return 0;
}

static bool
is_amd64(const json_t *desc)
{
    const json_t *p = json_object_get(desc, "platform");
    const char *os = json_string_value(json_object_get(p, "os"));
    const char *arch = json_string_value(json_object_get(p, "architecture"));

    return os && arch && strcmp(os, "linux") == 0 && strcmp(arch, "amd64") == 0;
}

int
oci_index_pick(const char *text, size_t size, struct oci_descriptor *ret, struct image_error *e)
{
    json_t *index = NULL, *manifests, *d;
    size_t i;
    int r;

    r = load(text, size, "image index", &index, e);
    if (r < 0)
        return r;
    manifests = json_object_get(index, "manifests");
    if (!json_is_array(manifests)) {
        json_decref(index);
        return image_errorf(e, -EINVAL, "the image index has no manifests array");
    }
    r = image_errorf(e, -ENOENT, "the image index has no linux/amd64 image");
    json_array_foreach(manifests, i, d) {
        char what[64];
        if (!is_amd64(d))
            continue;
        snprintf(what, sizeof(what), "image index manifests[%zu]", i);
        if (e)
            e->text[0] = '\0';
        r = oci_descriptor_parse(d, what, ret, e);
        if (r == 0 && !oci_is_manifest_type(ret->media_type))
            r = image_errorf(e, -EINVAL, "%s: mediaType %s is not an image manifest", what,
                             ret->media_type);
        break;
    }
    json_decref(index);
    return r;
}

void
oci_manifest_release(struct oci_manifest *m)
{
    free(m->layers);
    *m = (struct oci_manifest){ 0 };
}

int
oci_manifest_parse(const char *text, size_t size, struct oci_manifest *ret, struct image_error *e)
{
    struct oci_manifest m = { 0 };
    json_t *doc = NULL, *layers, *l;
    const char *mt;
    size_t i;
    int r;

    r = load(text, size, "image manifest", &doc, e);
    if (r < 0)
        return r;
    mt = json_string_value(json_object_get(doc, "mediaType"));
    layers = json_object_get(doc, "layers");
    if (json_integer_value(json_object_get(doc, "schemaVersion")) != 2)
        r = image_errorf(e, -EINVAL, "the image manifest's schemaVersion is not 2");
    else if (mt && !oci_is_manifest_type(mt))
        r = image_errorf(e, -EINVAL, "the image manifest's mediaType %s is not supported", mt);
    else if (!json_is_array(layers) || json_array_size(layers) > OCI_LAYERS_MAX)
        r = image_errorf(e, -EINVAL, "the image manifest's layers must be an array of at most %u",
                         OCI_LAYERS_MAX);
    if (r == 0)
        r = oci_descriptor_parse(json_object_get(doc, "config"), "the image manifest's config",
                                 &m.config, e);
    if (r == 0) {
        m.layers = calloc(json_array_size(layers) + 1, sizeof(*m.layers));
        r = m.layers ? 0 : -ENOMEM;
    }
    json_array_foreach(layers, i, l) {
        char what[64];
        if (r < 0)
            break;
        snprintf(what, sizeof(what), "layers[%zu]", i);
        r = oci_descriptor_parse(l, what, &m.layers[i], e);
        m.n_layers = i + 1;
    }
    json_decref(doc);
    if (r < 0) {
        oci_manifest_release(&m);
        return r;
    }
    *ret = m;
    return 0;
}

void
oci_config_release(struct oci_config *c)
{
    json_decref(c->json);
    free(c->diff_ids);
    *c = (struct oci_config){ 0 };
}

static bool
strings_or_null(const json_t *v)
{
    size_t i;
    const json_t *x;

    if (!v || json_is_null(v))
        return true;
    if (!json_is_array(v))
        return false;
    json_array_foreach(v, i, x)
        if (!json_is_string(x))
            return false;
    return true;
}

static int
check_run_config(const json_t *run, struct image_error *e)
{
    static const char *const lists[] = { "Entrypoint", "Cmd", "Env" };
    static const char *const strings[] = { "WorkingDir", "User" };
    const json_t *labels = json_object_get(run, "Labels");
    const char *k;
    const json_t *v;

    if (run && !json_is_object(run) && !json_is_null(run))
        return image_errorf(e, -EINVAL, "the image config's config is not an object");
    for (size_t i = 0; i < ELEMENTSOF(lists); i++)
        if (!strings_or_null(json_object_get(run, lists[i])))
            return image_errorf(e, -EINVAL, "the image config's %s must be an array of strings",
                                lists[i]);
    for (size_t i = 0; i < ELEMENTSOF(strings); i++) {
        v = json_object_get(run, strings[i]);
        if (v && !json_is_string(v) && !json_is_null(v))
            return image_errorf(e, -EINVAL, "the image config's %s must be a string", strings[i]);
    }
    if (labels && !json_is_object(labels) && !json_is_null(labels))
        return image_errorf(e, -EINVAL, "the image config's Labels must be an object");
    json_object_foreach((json_t *)labels, k, v)
        if (!json_is_string(v))
            return image_errorf(e, -EINVAL, "the image config's label %s is not a string", k);
    return 0;
}

int
oci_config_parse(const char *text, size_t size, size_t n_layers, struct oci_config *ret,
                 struct image_error *e)
{
    struct oci_config c = { 0 };
    const char *os, *arch;
    json_t *ids, *id;
    size_t i;
    int r;

    r = load(text, size, "image config", &c.json, e);
    if (r < 0)
        return r;
    os = json_string_value(json_object_get(c.json, "os"));
    arch = json_string_value(json_object_get(c.json, "architecture"));
    ids = json_object_get(json_object_get(c.json, "rootfs"), "diff_ids");
    if (!os || !arch || strcmp(os, "linux") != 0 || strcmp(arch, "amd64") != 0)
        r = image_errorf(e, -EINVAL, "the image is for %s/%s, not linux/amd64", os ? os : "(no os)",
                         arch ? arch : "(no architecture)");
    else if (!json_is_array(ids) || json_array_size(ids) != n_layers)
        r = image_errorf(e, -EINVAL,
                         "the image config's rootfs.diff_ids must list the %zu "
                         "layers of the manifest",
                         n_layers);
    if (r == 0)
        r = check_run_config(json_object_get(c.json, "config"), e);
    if (r == 0) {
        c.diff_ids = calloc(n_layers + 1, sizeof(*c.diff_ids));
        r = c.diff_ids ? 0 : -ENOMEM;
    }
    json_array_foreach(ids, i, id) {
        if (r < 0)
            break;
        if (!oci_digest_ok(json_string_value(id))) {
            r = image_errorf(e, -EINVAL,
                             "the image config's rootfs.diff_ids[%zu] is not a "
                             "sha256 digest",
                             i);
            break;
        }
        snprintf(c.diff_ids[i], OCI_DIGEST_SIZE, "%s", json_string_value(id));
        c.n_diff_ids = i + 1;
    }
    if (r < 0) {
        oci_config_release(&c);
        return r;
    }
    *ret = c;
    return 0;
}
