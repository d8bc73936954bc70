#include "resource.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "strbuf.h"

int
resource_list(struct cli *cli, const struct resource *res, const struct jval_field *query)
{
    const struct list_opts *l = &cli->list;
    const struct jval_field page[] = {
        { "limit", l->limit },
        { "offset", l->offset },
        { "sort_by", l->sort },
        { "all_search", l->search },
        {},
    };
    _cleanup_(strbuf_release) struct strbuf path = STRBUF_INIT;
    _cleanup_json_ json_t *resp = NULL;
    int r;

    if (strbuf_adds(&path, res->path) < 0 || (query && client_path_queries(&path, query) < 0) ||
        client_path_queries(&path, page) < 0)
        return cli_oom();
    r = cli_call(cli, "GET", path.buf, NULL, 0, &resp);
    if (r < 0)
        return r;
    return output_list(cli, resp, res->columns, res->n_columns, res->id_key, res->plural);
}

/* A call to res->path/id whose answer is the object, printed and handed on. */
static int
resource_call_object(struct cli *cli, const char *method, const struct resource *res,
                     const char *id, const json_t *body, json_t **ret_obj)
{
    _cleanup_json_ json_t *obj = NULL;
    int r = cli_call_id(cli, method, res->path, id, NULL, body, 0, &obj);

    if (r >= 0)
        r = output_object(cli, obj, res->id_key);
    if (r < 0)
        return r;
    if (ret_obj)
        *ret_obj = TAKE_PTR(obj);
    return 0;
}

int
resource_show(struct cli *cli, const struct resource *res, const char *id, json_t **ret_obj)
{
    return resource_call_object(cli, "GET", res, id, NULL, ret_obj);
}

int
resource_update(struct cli *cli, const struct resource *res, const char *id, const json_t *body,
                json_t **ret_obj)
{
    return resource_call_object(cli, "PATCH", res, id, body, ret_obj);
}

int
resource_delete(struct cli *cli, const struct resource *res, const char *id)
{
    int r = cli_call_id(cli, "DELETE", res->path, id, NULL, NULL, 0, NULL);

    if (r < 0)
        return r;
    output_message(cli, "Deleted %s %s.", res->noun, id);
    return 0;
}

int
resource_verb_list(struct cli *cli, const struct cli_cmd *cmd, const struct resource *res, int argc,
                   char **argv)
{
    int r = cli_parse(cli, cmd, argc, argv, NULL, NULL, &argc, &argv);

    return r != 0 ? r : resource_list(cli, res, NULL);
}

int
resource_verb_show(struct cli *cli, const struct cli_cmd *cmd, const struct resource *res, int argc,
                   char **argv)
{
    int r = cli_parse(cli, cmd, argc, argv, NULL, NULL, &argc, &argv);

    return r != 0 ? r : resource_show(cli, res, argv[0], NULL);
}

int
resource_verb_delete(struct cli *cli, const struct cli_cmd *cmd, const struct resource *res,
                     int argc, char **argv)
{
    int r = cli_parse(cli, cmd, argc, argv, NULL, NULL, &argc, &argv);

    return r != 0 ? r : resource_delete(cli, res, argv[0]);
}

static int
download_to(struct cli *cli, const char *path, int fd)
{
    struct client *c;
    int r = cli_client(cli, true, &c);

    if (r < 0)
        return r;
    return client_send(c, &(struct client_request){ .method = "GET", .path = path, .sink_fd = fd },
                       NULL);
}

int
resource_download(struct cli *cli, const char *path, const char *file, mode_t mode)
{
    _cleanup_free_ char *tmp = NULL;
    _cleanup_close_ int fd = -1;
    int r;

    if (!file || strcmp(file, "-") == 0) {
        fflush(stdout);
        return download_to(cli, path, STDOUT_FILENO);
    }
    if (asprintf(&tmp, "%s.XXXXXX", file) < 0) {
        tmp = NULL;
        return cli_oom();
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return cli_usage_error(NULL, "-o: cannot create a file next to '%s': %m", file);
    r = fchmod(fd, mode) < 0 ? -errno : 0;
    if (r >= 0)
        r = download_to(cli, path, fd);
    if (r >= 0 && (fsync(fd) < 0 || rename(tmp, file) < 0)) {
        r = -errno;
        cli_error("cannot write %s: %m", file);
    }
    if (r < 0)
        unlink(tmp);
    return r;
}
