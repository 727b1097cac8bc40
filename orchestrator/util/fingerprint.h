/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fingerprint.h — key material for a cache: unambiguous "label=LEN:value"
 * records fed into a SHA-256, files by the digest of their content, secrets
 * only as hashes with the cache's own salt.
 *
 * The stages say what their product depends on (install, customize); the
 * cache that keys on it (build/cache.h) supplies the salt and a memoized
 * file digest, so the stages need not know the cache.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

typedef struct VmfFingerprint {
    GChecksum *sum;   /* the SHA-256 the records go into */
    const char *salt; /* crypt setting secrets are hashed with */
    /* The SHA-256 (hex) of a file's content: g_free, or NULL with *error
     * (code VMF_EXIT_*). */
    char *(*file_digest)(void *data, const char *path, GError **error);
    void *data;
} VmfFingerprint;

/* Adds the record "label=LEN:value" (LEN 0 for NULL). */
void vmf_fp_add(VmfFingerprint *fp, const char *label, const char *value);
void vmf_fp_add_u64(VmfFingerprint *fp, const char *label, uint64_t value);
/* Adds the digest of the file at `path` under `label`. Returns 0, or -1 with
 * *error. */
int vmf_fp_add_file(VmfFingerprint *fp, const char *label, const char *path, GError **error);
