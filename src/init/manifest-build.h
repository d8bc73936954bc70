/* Writing a manifest (docs/manifest.md) from an app's settings and a file tree: what
 * cloister-manifest does for an unpacked root and the converter (src/image) for an image's
 * layers, so that both make the same manifest for the same tree.
 *
 * The settings are a JSON object: the app as the manager returns it (isvprodid, isvsvn,
 * mem_size, threads, advanced_settings.{certificate, rw_dirs, encrypted_dirs,
 * allow_cmdline_args, manifest_env}), "image" {entrypoint, cmd, env, workdir, user}, and
 * optionally "tree" {check, sample_percent, skip}. */
#pragma once

#include "json-reader.h"
#include "json-writer.h"
#include "tree.h"

/* What the tree leaves out, from the settings: skip (tree.skip, default the runtime's mounts
 * and /.cloister) and keep (rw_dirs and encrypted_dirs: recorded, contents not). The strings
 * are borrowed from cfg; release with manifest_filters_release(). */
struct manifest_filters {
    struct manifest_strings skip, keep, rw, enc;
};

/* -EINVAL when tree.skip lacks /.cloister or a list is not an array of strings. */
int manifest_filters_get(const struct jread_value *cfg, struct manifest_filters *ret);
void manifest_filters_release(struct manifest_filters *f);

/* Appends the manifest to out. -EINVAL when cfg has no "image" or holds values that cannot be
 * copied; the caller checks the result with manifest_parse(). */
int manifest_build(const struct jread_value *cfg, const struct manifest_filters *filters,
                   const struct tree_scan *scan, const uint8_t signer[32], struct jwbuf *out);
