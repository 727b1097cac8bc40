/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cache.h — the base-disk cache of `vmforge build`.
 *
 * An entry is the installed and customized disk, kept under a key: the
 * SHA-256 of everything that determines it (vmforge's version, disk spec,
 * installer media digest, the rendered answer file, the customize list and
 * the content of every file it uploads). Layout:
 *
 *   CACHE/salt                 crypt setting for hashing secrets into keys (0600)
 *   CACHE/media/ID             memoized SHA-256 of large inputs, by inode and mtime
 *   CACHE/base/KEY.lock        flock()ed while one build creates or checks KEY
 *   CACHE/base/KEY/disk.raw    the base disk (sparse)
 *   CACHE/base/KEY/entry.json  what it was built from, when, how long it took
 *
 * An entry appears by renaming a complete folder into place, so an
 * interrupted build never leaves one half-made (the cache is never poisoned).
 * Secrets (root and user passwords) enter the key only as yescrypt hashes with
 * the cache's own salt.
 */
#pragma once

#include "util/fingerprint.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

GQuark vmf_cache_error_quark(void);

typedef struct VmfCache VmfCache;

/* The cache folder: `dir`, else $VMFORGE_CACHE_DIR, else
 * $XDG_CACHE_HOME/vmforge (~/.cache/vmforge). g_free. */
char *vmf_cache_default_dir(const char *dir);

/* Opens (creating) the cache at dir. NULL with *error (code: VMF_EXIT_*). */
VmfCache *vmf_cache_open(const char *dir, GError **error);
void vmf_cache_free(VmfCache *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfCache, vmf_cache_free)

/* SHA-256 (hex) of a file's content, memoized by device, inode, size and
 * mtime, so a multi-GiB ISO is read once. g_free; NULL with *error. */
char *vmf_cache_file_digest(VmfCache *c, const char *path, GError **error);

/* Key material for `sum` (util/fingerprint.h) with this cache's salt and
 * memoized file digests; valid while `c` is. */
VmfFingerprint vmf_cache_fingerprint(VmfCache *c, GChecksum *sum);

typedef struct VmfCacheEntry VmfCacheEntry;

/* Locks the entry for `key` (waiting for another build holding it; `waiting`
 * is called once when it has to). Returns NULL with *error, or when
 * interrupted while waiting (code 128 + signal). */
VmfCacheEntry *vmf_cache_lock(VmfCache *c, const char *key, void (*waiting)(const char *lock),
                              GError **error);
/* Unlocks. */
void vmf_cache_entry_free(VmfCacheEntry *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfCacheEntry, vmf_cache_entry_free)

const char *vmf_cache_entry_key(const VmfCacheEntry *e);
/* The entry's disk path (exists or not). */
const char *vmf_cache_entry_disk(const VmfCacheEntry *e);
/* True when the entry is complete (disk and entry.json). */
bool vmf_cache_entry_valid(const VmfCacheEntry *e);
/* Its entry.json, parsed (NULL when missing or unreadable); json_node_unref. */
struct _JsonNode *vmf_cache_entry_info(const VmfCacheEntry *e);

/* A new work folder inside the cache, beside the entry (KEY.work-XXXXXX):
 * what is made there moves into the entry by a rename. Left-over ones of
 * builds that died go when the entry is locked next. g_free; NULL with
 * *error. */
char *vmf_cache_entry_workdir(VmfCacheEntry *e, GError **error);

/* Makes `disk` (moved: renamed, or copied sparsely across file systems) and
 * `info_json` the entry, replacing an existing one. */
int vmf_cache_entry_commit(VmfCacheEntry *e, const char *disk, const char *info_json,
                           GError **error);
