/* The file tree under a root directory, as manifest entries (docs/manifest.md, "tree"): scanning
 * a root to make them (cloister-manifest) and checking a root against a manifest (cloister-init).
 * Everything is opened relative to the root's descriptor without following symlinks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json-writer.h"
#include "manifest.h"

/* Directories nested deeper than this are refused by a scan (and so by the converter). */
#define TREE_DEPTH_MAX 256

struct tree_scan {
    struct manifest_entry *entries; /* sorted by path; paths owned (char *) */
    size_t n;
};

/* What to leave out: skip (whole subtrees), keep_top (directories recorded but not descended:
 * rw_dirs and encrypted_dirs). hash_percent: 100 hashes every file; less hashes each file with
 * that probability (the sampled check); 0 hashes nothing. -ENOTSUP (with *ret_path set to a
 * malloc'd copy) for a file that is not a regular file, directory or symlink; -E2BIG beyond
 * MANIFEST_ENTRIES_MAX; IO errors. */
int tree_scan(int root_fd, const struct manifest_strings *skip, const struct manifest_strings *keep,
              unsigned hash_percent, struct tree_scan *ret, char **ret_path);
void tree_scan_release(struct tree_scan *scan);

/* Appends the scan as the manifest's "entries" array (one entry a line) to b and computes the
 * tree digest over its canonical encoding. */
int tree_scan_to_json(const struct tree_scan *scan, struct jwbuf *b, uint8_t ret_digest[32]);

enum tree_problem {
    TREE_OK,
    TREE_MISSING,
    TREE_EXTRA,
    TREE_CHANGED,
};

/* Checks the tree under root_fd against m (its check mode decides what is hashed). Ignores, as
 * docs/manifest.md says, the certificate files and directories on their way that the manifest
 * does not list. Returns 0 and TREE_OK, or 0 with the first problem in path order (*ret_problem,
 * *ret_path malloc'd, *ret_what a static description of the difference); negative errno when the
 * scan itself fails. */
int tree_verify(int root_fd, const struct manifest *m, enum tree_problem *ret_problem,
                char **ret_path, const char **ret_what);
