/* Image locations and conversions between them (image-location.h). */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "docker-archive.h"
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
    if (strncmp(text, "docker-archive:", 15) == 0) {
        const char *file = text + 15, *sep = strchr(file, ':');
        ret->kind = IMAGE_LOCATION_DOCKER_ARCHIVE;
        if (*file == '\0' || sep == file || (sep && sep[1] == '\0'))
            return image_errorf(e, -EINVAL, "%s: docker-archive:FILE[:REPO:TAG]", text);
        ret->dir = sep ? strndup(file, (size_t)(sep - file)) : strdup(file);
        ret->tag = sep ? strdup(sep + 1) : NULL;
        if (!ret->dir || (sep && !ret->tag)) {
            image_location_release(ret);
            return -ENOMEM;
        }
        return 0;
    }
    if (strncmp(text, "oci:", 4) != 0)
        return image_errorf(e, -EINVAL,
                            "%s: an image is oci:DIR[:TAG], docker://HOST/REPO"
                            "[:TAG] or docker-archive:FILE[:REPO:TAG]",
                            text);
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

void
image_remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A temporary directory for the layouts of a registry conversion, removed with its contents. */
struct scratch {
    char dir[256];
};

/* The scratch directory in use, for image_scratch_remove() (one conversion at a time). */
static char active_scratch[256];

void
image_scratch_remove(void)
{
    if (active_scratch[0])
        nftw(active_scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
scratch_release(struct scratch *s)
{
    if (s->dir[0])
        nftw(s->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    active_scratch[0] = '\0';
}

static int
scratch_make(struct scratch *s, struct image_error *e)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(s->dir, sizeof(s->dir), "%s/cloister-convert-XXXXXX", tmp && *tmp ? tmp : "/var/tmp");
    if (!mkdtemp(s->dir)) {
        int r = -errno;
        s->dir[0] = '\0';
        return image_errorf(e, r, "cannot make a temporary directory in %s: %s",
                            tmp && *tmp ? tmp : "/var/tmp", strerror(-r));
    }
    memcpy(active_scratch, s->dir, sizeof(active_scratch));
    return 0;
}

/* Makes in readable as an OCI layout: pulled or unpacked into the scratch directory. */
static int
input_layout(const struct image_location *in, const struct registry_options *reg,
             const struct scratch *s, const char *name, char **ret_dir, const char **ret_tag,
             struct image_error *e)
{
    if (in->kind == IMAGE_LOCATION_OCI) {
        *ret_dir = strdup(in->dir);
        *ret_tag = in->tag;
        return *ret_dir ? 0 : -ENOMEM;
    }
    if (asprintf(ret_dir, "%s/%s", s->dir, name) < 0) {
        *ret_dir = NULL;
        return -ENOMEM;
    }
    *ret_tag = name;
    if (in->kind == IMAGE_LOCATION_REGISTRY)
        return registry_pull(&in->ref, reg, *ret_dir, name, e);
    return docker_archive_read(in->dir, in->tag, *ret_dir, name, e);
}

static void
step(const struct convert_options *o, const char *what)
{
    if (o->progress.step)
        o->progress.step(o->progress.userdata, what);
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

    if (in->kind != IMAGE_LOCATION_OCI || out->kind != IMAGE_LOCATION_OCI)
        r = scratch_make(&s, e);
    if (r == 0 && in->kind != IMAGE_LOCATION_OCI)
        step(o, in->kind == IMAGE_LOCATION_REGISTRY ? "pulling the input image"
                                                    : "reading the docker archive");
    if (r == 0)
        r = input_layout(in, in_reg, &s, "in", &in_dir, &o->input_tag, e);
    o->input_dir = in_dir;
    if (r == 0 && out->kind != IMAGE_LOCATION_OCI) {
        if (asprintf(&out_dir, "%s/out", s.dir) < 0)
            return -ENOMEM;
        o->output_dir = out_dir;
        o->output_tag = "out";
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
        step(o, "pushing the converted image");
        r = registry_push(out_dir, "out", &out->ref, &push, ret->image_digest, e);
    } else if (r == 0 && out->kind == IMAGE_LOCATION_DOCKER_ARCHIVE) {
        step(o, "writing the docker archive");
        r = docker_archive_write(out_dir, "out", out->dir, out->tag, e);
    }
    return r;
}

int
image_inspect_location(const struct image_location *l, const struct registry_options *reg,
                       struct inspect_result *ret, struct image_error *e)
{
    _cleanup_(scratch_release) struct scratch s = { 0 };
    _cleanup_free_ char *dir = NULL;
    const char *tag = NULL;
    int r = 0;

    if (l->kind != IMAGE_LOCATION_OCI)
        r = scratch_make(&s, e);
    if (r == 0)
        r = input_layout(l, reg, &s, "image", &dir, &tag, e);
    if (r < 0)
        return r;
    return image_inspect(dir, tag, ret, e);
}
