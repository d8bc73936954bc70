/* Image locations and conversions between them (image-location.h). */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image-location.h"

int
image_location_parse(const char *text, struct image_location *ret, struct image_error *e)
{
    const char *path, *colon;

    *ret = (struct image_location){ 0 };
    if (strncmp(text, "docker://", 9) == 0) {
        ret->kind = IMAGE_LOCATION_REGISTRY;
        return registry_ref_parse(text, &ret->ref, e);
    }
    if (strncmp(text, "oci:", 4) != 0)
        return image_errorf(e, -EINVAL, "%s: an image is oci:DIR[:TAG] or docker://HOST/REPO"
                            "[:TAG]", text);
    ret->kind = IMAGE_LOCATION_OCI;
    path = text + 4;
    colon = strrchr(path, ':');
    if (colon && strchr(colon, '/'))
        colon = NULL; /* a ':' in the directory's path */
    if (*path == '\0' || colon == path || (colon && colon[1] == '\0'))
        return image_errorf(e, -EINVAL, "%s has an empty directory or tag", text);
    ret->dir = colon ? strndup(path, (size_t)(colon - path)) : strdup(path);
    ret->tag = colon ? strdup(colon + 1) : NULL;
    if (!ret->dir || (colon && !ret->tag)) {
        image_location_release(ret);
        return -ENOMEM;
    }
    return 0;
}

void
image_location_release(struct image_location *l)
{
    free(l->dir);
    free(l->tag);
    registry_ref_release(&l->ref);
    *l = (struct image_location){ 0 };
}

static int
remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

/* A temporary directory for the layouts of a registry conversion, removed with its contents. */
struct scratch {
    char dir[256];
};

static void
scratch_release(struct scratch *s)
{
    if (s->dir[0])
        nftw(s->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int
scratch_make(struct scratch *s, struct image_error *e)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(s->dir, sizeof(s->dir), "%s/cloister-convert-XXXXXX", tmp && *tmp ? tmp : "/var/tmp");
    if (!mkdtemp(s->dir)) {
        int r = -errno;
        s->dir[0] = '\0';
        return image_errorf(e, r, "cannot make a temporary directory: %s", strerror(-r));
    }
    return 0;
}

int
image_convert_locations(const struct image_location *in, const struct registry_options *in_reg,
                        const struct image_location *out, const struct registry_options *out_reg,
                        struct convert_options *o, struct convert_result *ret,
                        struct image_error *e)
{
    _cleanup_(scratch_release) struct scratch s = { 0 };
    _cleanup_free_ char *in_dir = NULL, *out_dir = NULL;
    struct registry_options push = out_reg ? *out_reg : (struct registry_options){ 0 };
    int r = 0;

    if (in->kind == IMAGE_LOCATION_REGISTRY || out->kind == IMAGE_LOCATION_REGISTRY)
        r = scratch_make(&s, e);
    if (r == 0 && in->kind == IMAGE_LOCATION_REGISTRY) {
        if (asprintf(&in_dir, "%s/in", s.dir) < 0)
            return -ENOMEM;
        if (o->progress.step)
            o->progress.step(o->progress.userdata, "pulling the input image");
        r = registry_pull(&in->ref, in_reg, in_dir, "input", e);
        o->input_dir = in_dir;
        o->input_tag = "input";
    } else {
        o->input_dir = in->dir;
        o->input_tag = in->tag;
    }
    if (r == 0 && out->kind == IMAGE_LOCATION_REGISTRY) {
        if (asprintf(&out_dir, "%s/out", s.dir) < 0)
            return -ENOMEM;
        o->output_dir = out_dir;
        o->output_tag = "output";
    } else {
        o->output_dir = out->dir;
        o->output_tag = out->tag;
    }
    if (r == 0)
        r = image_convert(o, ret, e);
    if (r == 0 && out->kind == IMAGE_LOCATION_REGISTRY) {
        /* Layers the input already has in the same registry are mounted, not uploaded. */
        if (in->kind == IMAGE_LOCATION_REGISTRY && strcmp(in->ref.host, out->ref.host) == 0)
            push.mount_from = in->ref.repo;
        if (o->progress.step)
            o->progress.step(o->progress.userdata, "pushing the converted image");
        r = registry_push(out_dir, "output", &out->ref, &push, ret->image_digest, e);
    }
    return r;
}

int
image_inspect_location(const struct image_location *l, const struct registry_options *reg,
                       struct inspect_result *ret, struct image_error *e)
{
    _cleanup_(scratch_release) struct scratch s = { 0 };
    _cleanup_free_ char *dir = NULL;
    int r;

    if (l->kind == IMAGE_LOCATION_OCI)
        return image_inspect(l->dir, l->tag, ret, e);
    r = scratch_make(&s, e);
    if (r < 0)
        return r;
    if (asprintf(&dir, "%s/image", s.dir) < 0)
        return -ENOMEM;
    r = registry_pull(&l->ref, reg, dir, "image", e);
    if (r < 0)
        return r;
    return image_inspect(dir, "image", ret, e);
}
