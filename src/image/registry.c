/* Pulling into and pushing from OCI layouts (registry.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest.h"
#include "oci-layout.h"
#include "registry-http.h"

#define MANIFEST_ACCEPT                                                                            \
    OCI_MT_MANIFEST ", " OCI_MT_INDEX ", " DOCKER_MT_MANIFEST ", " DOCKER_MT_LIST
#define CHUNK_DEFAULT (UINT64_C(64) << 20)
#define PUSH_BLOB_ATTEMPTS 3
#define PUSH_RETRY_DELAY_US 200000 /* times the attempt number */

/* References. */

static bool
valid_repo(const char *s)
{
    if (!*s || strlen(s) > 255)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("._-/", *p)))
            return false;
    return s[0] != '/' && s[strlen(s) - 1] != '/' && !strstr(s, "//");
}

/* HOST[:PORT]: a DNS name or IPv4 address, or [IPv6]; no user info, paths or other URL parts. */
static bool
valid_host(const char *s)
{
    const char *port;

    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end == s + 1 ||
            strspn(s + 1, "0123456789abcdefABCDEF:.") != (size_t)(end - s - 1))
            return false;
        port = end + 1;
    } else {
        size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-");
        if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-')
            return false;
        port = s + n;
    }
    if (*port == '\0')
        return true;
    return port[0] == ':' && port[1] && strlen(port + 1) <= 5 &&
           strspn(port + 1, "0123456789") == strlen(port + 1);
}

static bool
valid_tag(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 128 || s[0] == '.' || s[0] == '-')
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-'))
            return false;
    return true;
}

void
registry_ref_release(struct registry_ref *ref)
{
    free(ref->host);
    free(ref->repo);
    free(ref->tag);
    free(ref->digest);
    *ref = (struct registry_ref){ 0 };
}

int
registry_ref_parse(const char *text, struct registry_ref *ret, struct image_error *e)
{
    struct registry_ref ref = { 0 };
    const char *s = text, *slash, *at, *colon;

    if (strncmp(s, "docker://", 9) == 0)
        s += 9;
    slash = strchr(s, '/');
    if (!slash || slash == s)
        return image_errorf(e, -EINVAL,
                            "%s: a registry reference is HOST[:PORT]/REPOSITORY"
                            "[:TAG|@DIGEST]",
                            text);
    at = strchr(slash, '@');
    colon = strrchr(slash, ':');
    if (at && colon > at)
        colon = NULL;
    ref.host = strndup(s, (size_t)(slash - s));
    ref.repo = strndup(slash + 1, (size_t)((at      ? at
                                            : colon ? colon
                                                    : slash + strlen(slash)) -
                                           (slash + 1)));
    if (at)
        ref.digest = strdup(at + 1);
    else
        ref.tag = strdup(colon ? colon + 1 : "latest");
    if (!ref.host || !ref.repo || (!ref.digest && !ref.tag)) {
        registry_ref_release(&ref);
        return -ENOMEM;
    }
    if (!valid_host(ref.host)) {
        registry_ref_release(&ref);
        return image_errorf(e, -EINVAL,
                            "%s: the registry must be HOST[:PORT] (a name, an IPv4 "
                            "address or [IPv6])",
                            text);
    }
    if (!valid_repo(ref.repo) || (ref.tag && !valid_tag(ref.tag)) ||
        (ref.digest && !oci_digest_ok(ref.digest))) {
        registry_ref_release(&ref);
        return image_errorf(e, -EINVAL,
                            "%s: the repository must be lowercase [a-z0-9._-/], the "
                            "tag [A-Za-z0-9_.-] (at most 128), the digest sha256:<64 hex>",
                            text);
    }
    *ret = ref;
    return 0;
}

/* Pulling. */

static int
get_manifest(struct registry_conn *c, const char *reference, char **ret, size_t *ret_size,
             struct oci_descriptor *ret_desc)
{
    _cleanup_free_ char *out = malloc(OCI_JSON_MAX), *path = NULL;
    struct http_exchange x = { .method = "GET",
                               .accept = MANIFEST_ACCEPT,
                               .body_fd = -1,
                               .out_fd = -1,
                               .out_max = OCI_JSON_MAX };
    char digest[OCI_DIGEST_SIZE] = "sha256:";
    uint8_t d[32];
    const char *mt;
    int r;

    if (!out || asprintf(&path, "/v2/%s/manifests/%s", c->ref->repo, reference) < 0)
        return -ENOMEM;
    x.url = path;
    x.out = out;
    r = registry_call(c, &x);
    if (r < 0)
        return r;
    if (x.status != 200) {
        char what[600];
        snprintf(what, sizeof(what), "the image manifest of %s%s%s", c->ref->repo,
                 oci_digest_ok(reference) ? "@" : ":", reference);
        return registry_answer_error(c, &x, x.status == 404 ? -ENOENT : -EPROTO, what);
    }
    manifest_sha256(out, x.out_size, d);
    manifest_hex(d, 32, digest + 7);
    if ((oci_digest_ok(reference) && strcmp(reference, digest) != 0) ||
        (x.digest_got[0] && strcmp(x.digest_got, digest) != 0))
        return image_errorf(c->e, -EINVAL,
                            "the manifest %s of %s/%s does not match its digest "
                            "(it has %s)",
                            reference, c->ref->host, c->ref->repo, digest);
    mt = x.content_type_got;
    *ret_desc = (struct oci_descriptor){ .size = x.out_size };
    snprintf(ret_desc->media_type, sizeof(ret_desc->media_type), "%.*s", (int)strcspn(mt, ";"), mt);
    snprintf(ret_desc->digest, sizeof(ret_desc->digest), "%s", digest);
    *ret_size = x.out_size;
    *ret = TAKE_PTR(out);
    return 0;
}

/* GETs blob desc into the layout, checking its size and digest on the way. */
static int
pull_blob(struct registry_conn *c, struct oci_layout_out *out, const struct oci_descriptor *desc)
{
    _cleanup_free_ char *tmp = NULL, *path = NULL;
    _cleanup_close_ int fd = -1;
    struct http_exchange x = { .method = "GET", .body_fd = -1 };
    char digest[OCI_DIGEST_SIZE] = "sha256:";
    uint8_t d[32];
    int r;

    if (asprintf(&path, "/v2/%s/blobs/%s", c->ref->repo, desc->digest) < 0)
        return -ENOMEM;
    r = oci_layout_out_temp(out, &fd, &tmp, c->e);
    if (r < 0)
        return r;
    x.url = path;
    x.out_fd = fd;
    x.out_sha = EVP_MD_CTX_new();
    r = x.out_sha ? registry_call(c, &x) : -ENOMEM;
    if (r == 0 && x.status != 200)
        r = registry_answer_error(c, &x, x.status == 404 ? -ENOENT : -EPROTO, desc->digest);
    if (r == 0 && EVP_DigestFinal_ex(x.out_sha, d, NULL) != 1)
        r = -ENOMEM;
    EVP_MD_CTX_free(x.out_sha);
    if (r == 0) {
        manifest_hex(d, 32, digest + 7);
        if (strcmp(digest, desc->digest) != 0 || x.out_written != desc->size)
            r = image_errorf(c->e, -EINVAL,
                             "blob %s from %s does not match its digest (it has "
                             "%s, %llu bytes)",
                             desc->digest, c->ref->host, digest, (unsigned long long)x.out_written);
    }
    if (r < 0) {
        unlink(tmp);
        return r;
    }
    return oci_layout_out_commit_blob(out, fd, tmp, desc->digest, c->e);
}

static int
pull_image(struct registry_conn *c, struct oci_layout_out *out, const char *tag)
{
    _cleanup_free_ char *text = NULL;
    struct oci_descriptor desc;
    struct oci_manifest m = { 0 };
    char digest[OCI_DIGEST_SIZE];
    size_t size = 0;
    int r;

    r = get_manifest(c, c->ref->digest ? c->ref->digest : c->ref->tag, &text, &size, &desc);
    if (r == 0 && oci_is_index_type(desc.media_type)) {
        r = oci_index_pick(text, size, &desc, c->e);
        free(TAKE_PTR(text));
        if (r == 0)
            r = get_manifest(c, desc.digest, &text, &size, &desc);
    }
    if (r == 0 && !oci_is_manifest_type(desc.media_type))
        r = image_errorf(c->e, -EINVAL, "%s/%s is a %s, not an image", c->ref->host, c->ref->repo,
                         desc.media_type[0] ? desc.media_type : "(no type)");
    if (r == 0)
        r = oci_manifest_parse(text, size, &m, c->e);
    if (r == 0)
        r = pull_blob(c, out, &m.config);
    for (size_t i = 0; r == 0 && i < m.n_layers; i++)
        r = pull_blob(c, out, &m.layers[i]);
    if (r == 0)
        r = oci_layout_out_put(out, text, size, digest, c->e);
    if (r == 0)
        r = oci_layout_out_tag(out, tag, &desc, c->e);
    oci_manifest_release(&m);
    return r;
}

int
registry_pull(const struct registry_ref *ref, const struct registry_options *o, const char *dir,
              const char *tag, struct image_error *e)
{
    struct registry_conn c = { 0 };
    struct oci_layout_out out = { 0 };
    _cleanup_free_ char *scope = NULL;
    int r;

    if (asprintf(&scope, "repository:%s:pull", ref->repo) < 0)
        return -ENOMEM;
    r = registry_conn_open(ref, o, scope, &c, e);
    if (r == 0)
        r = oci_layout_out_open(dir, &out, e);
    if (r == 0)
        r = pull_image(&c, &out, tag);
    oci_layout_out_release(&out);
    registry_conn_release(&c);
    return r;
}

/* Pushing. */

static int
blob_exists(struct registry_conn *c, const struct oci_descriptor *desc, bool *ret)
{
    _cleanup_free_ char *path = NULL;
    struct http_exchange x = { .method = "HEAD", .body_fd = -1, .out_fd = -1 };
    int r;

    if (asprintf(&path, "/v2/%s/blobs/%s", c->ref->repo, desc->digest) < 0)
        return -ENOMEM;
    x.url = path;
    r = registry_call(c, &x);
    if (r < 0)
        return r;
    if (x.status != 200 && x.status != 404)
        return registry_answer_error(c, &x, -EPROTO, desc->digest);
    *ret = x.status == 200;
    return 0;
}

/* Starts an upload session, or mounts the blob from o->mount_from (*ret_mounted). */
static int
start_upload(struct registry_conn *c, const struct oci_descriptor *desc, char *location,
             bool *ret_mounted)
{
    _cleanup_free_ char *path = NULL;
    struct http_exchange x = { .method = "POST", .body_fd = -1, .out_fd = -1 };
    int r;

    if (c->o->mount_from && strcmp(c->o->mount_from, c->ref->repo) != 0)
        r = asprintf(&path, "/v2/%s/blobs/uploads/?mount=%s&from=%s", c->ref->repo, desc->digest,
                     c->o->mount_from);
    else
        r = asprintf(&path, "/v2/%s/blobs/uploads/", c->ref->repo);
    if (r < 0)
        return -ENOMEM;
    x.url = path;
    r = registry_call(c, &x);
    if (r < 0)
        return r;
    *ret_mounted = x.status == 201;
    if (x.status != 201 && x.status != 202)
        return registry_answer_error(c, &x, -EPROTO, "starting an upload");
    if (!*ret_mounted && !x.location[0])
        return image_errorf(c->e, -EPROTO, "%s started an upload without a Location", c->ref->host);
    snprintf(location, REGISTRY_URL_MAX, "%s", x.location);
    return 0;
}

static int
send_chunk(struct registry_conn *c, char *location, int fd, uint64_t offset, uint64_t length)
{
    struct http_exchange x = { .method = "PATCH",
                               .url = location,
                               .out_fd = -1,
                               .content_type = "application/octet-stream",
                               .body_fd = fd,
                               .body_offset = offset,
                               .body_length = length };
    char range[64];
    int r;

    snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)offset,
             (unsigned long long)(offset + length - 1));
    x.content_range = range;
    r = registry_call(c, &x);
    if (r < 0)
        return r;
    if (x.status != 202 || !x.location[0])
        return registry_answer_error(c, &x, -EPROTO, "a chunk of an upload");
    snprintf(location, REGISTRY_URL_MAX, "%s", x.location);
    return 0;
}

/* Uploads the blob: chunks above the chunk size, then the closing PUT with the digest (and,
 * for a small blob, the whole body). */
static int
upload(struct registry_conn *c, const char *dir, const struct oci_descriptor *desc, char *location)
{
    uint64_t chunk = c->o->chunk_size ? c->o->chunk_size : CHUNK_DEFAULT, sent = 0;
    _cleanup_close_ int fd = -1;
    char url[REGISTRY_URL_MAX + 100];
    struct http_exchange x = {
        .method = "PUT", .out_fd = -1, .body_fd = -1, .content_type = "application/octet-stream"
    };
    struct stat st;
    int r;

    r = oci_layout_blob_open(dir, desc->digest, &fd, c->e);
    if (r < 0)
        return r;
    if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != desc->size)
        return image_errorf(c->e, -EINVAL, "blob %s of %s is not %llu bytes", desc->digest, dir,
                            (unsigned long long)desc->size);
    if (desc->size > chunk)
        for (; r == 0 && sent < desc->size; sent += chunk)
            r = send_chunk(c, location, fd, sent,
                           desc->size - sent < chunk ? desc->size - sent : chunk);
    if (r < 0)
        return r;
    snprintf(url, sizeof(url), "%s%cdigest=%s", location, strchr(location, '?') ? '&' : '?',
             desc->digest);
    x.url = url;
    if (sent == 0) {
        x.body_fd = fd;
        x.body_length = desc->size;
    }
    r = registry_call(c, &x);
    if (r < 0)
        return r;
    if (x.status != 201)
        return registry_answer_error(c, &x, -EPROTO, desc->digest);
    return 0;
}

static int
push_blob_once(struct registry_conn *c, const char *dir, const struct oci_descriptor *desc)
{
    char location[REGISTRY_URL_MAX];
    bool exists = false, mounted = false;
    int r;

    r = blob_exists(c, desc, &exists);
    if (r < 0 || exists)
        return r;
    r = start_upload(c, desc, location, &mounted);
    if (r < 0 || mounted)
        return r;
    return upload(c, dir, desc, location);
}

/* A blob pushed again after a 5xx answer: docker-registry's filesystem driver answers 500 to
 * one of two uploads of the same blob that end at the same moment (two conversions pushing the
 * same layer), and then has the blob from the other one. Other errors are final. */
static int
push_blob(struct registry_conn *c, const char *dir, const struct oci_descriptor *desc)
{
    for (int attempt = 1;; attempt++) {
        int r;

        c->server_error = 0;
        r = push_blob_once(c, dir, desc);
        if (r >= 0 || !c->server_error || attempt == PUSH_BLOB_ATTEMPTS)
            return r;
        if (c->e)
            c->e->text[0] = '\0';
        usleep(PUSH_RETRY_DELAY_US * (useconds_t)attempt);
    }
}

static int
put_manifest(struct registry_conn *c, const struct oci_image *img, char *ret_digest)
{
    _cleanup_free_ char *path = NULL;
    struct http_exchange x = { .method = "PUT",
                               .out_fd = -1,
                               .body_fd = -1,
                               .content_type = img->manifest_desc.media_type,
                               .body = img->manifest_text,
                               .body_size = img->manifest_size };
    int r;

    if (asprintf(&path, "/v2/%s/manifests/%s", c->ref->repo, c->ref->tag) < 0)
        return -ENOMEM;
    x.url = path;
    r = registry_call(c, &x);
    if (r < 0)
        return r;
    if (x.status != 201)
        return registry_answer_error(c, &x, -EPROTO, "pushing the image manifest");
    if (x.digest_got[0] && strcmp(x.digest_got, img->manifest_desc.digest) != 0)
        return image_errorf(c->e, -EPROTO, "%s stored the manifest as %s, not %s", c->ref->host,
                            x.digest_got, img->manifest_desc.digest);
    snprintf(ret_digest, OCI_DIGEST_SIZE, "%s", img->manifest_desc.digest);
    return 0;
}

int
registry_push(const char *dir, const char *tag, const struct registry_ref *ref,
              const struct registry_options *o, char *ret_digest, struct image_error *e)
{
    struct registry_conn c = { 0 };
    struct oci_image img = { 0 };
    _cleanup_free_ char *scope = NULL;
    int r;

    if (!ref->tag)
        return image_errorf(e, -EINVAL, "push to a tag, not a digest");
    if (o->mount_from)
        r = asprintf(&scope, "repository:%s:pull,push repository:%s:pull", ref->repo,
                     o->mount_from);
    else
        r = asprintf(&scope, "repository:%s:pull,push", ref->repo);
    if (r < 0)
        return -ENOMEM;
    r = oci_layout_read(dir, tag, &img, e);
    if (r == 0)
        r = registry_conn_open(ref, o, scope, &c, e);
    if (r == 0)
        r = push_blob(&c, dir, &img.manifest.config);
    for (size_t i = 0; r == 0 && i < img.manifest.n_layers; i++)
        r = push_blob(&c, dir, &img.manifest.layers[i]);
    if (r == 0)
        r = put_manifest(&c, &img, ret_digest);
    registry_conn_release(&c);
    oci_image_release(&img);
    return r;
}
