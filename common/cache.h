/*
 * The per-user cache directory shared by every part that keeps files across
 * runs: task modules shipped to a node (<cache>/modules/<sha256>.so) and,
 * later, the SSH launcher's bundles (<cache>/bundles/...).
 *
 *   FP_CACHE_DIR if set (and not empty), else $XDG_CACHE_HOME/fastpool, else
 *   $HOME/.cache/fastpool.
 *
 * Directories made here are private to the user (0700): what lands in them
 * is code a node will run.
 */
#ifndef FP_COMMON_CACHE_H
#define FP_COMMON_CACHE_H

#include <stddef.h>

#include "fastpool/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The cache directory, and below it `sub` if not NULL/"" (joined with '/'),
 * into out[0..cap).  Nothing is created.  FP_ERR_NOT_FOUND when none of
 * FP_CACHE_DIR, XDG_CACHE_HOME, HOME is set (a relative XDG_CACHE_HOME is
 * ignored, as the XDG spec says); FP_ERR_OVERFLOW when the path does not
 * fit (out untouched in both cases). */
fp_status_t fp__cache_dir(const char *sub, char *out, size_t cap);

/* mkdir -p `path` with mode 0700 for the directories it creates.  An
 * existing directory is fine (its mode is left alone).  FP_ERR_SYSTEM with
 * errno set when a component cannot be made or is not a directory. */
fp_status_t fp__cache_mkdirs(const char *path);

#ifdef __cplusplus
}
#endif

#endif
