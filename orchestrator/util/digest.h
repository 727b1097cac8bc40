/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * digest.h — message digests by name ("sha256", "sha512", "md5", ...)
 * through OpenSSL's EVP (its assembly, SHA-NI where the CPU has it): what
 * a publish computes as it sends, and a file's digest in the algorithm a
 * server names.
 */
#pragma once

#include <glib.h>
#include <stddef.h>

typedef struct VmfDigest VmfDigest;

/* A digest of the algorithm `algo` (OpenSSL's name), or NULL when OpenSSL
 * does not know it. */
VmfDigest *vmf_digest_new(const char *algo);
void vmf_digest_update(VmfDigest *d, const void *data, size_t len);
/* The digest in lower-case hex (g_free); the object can take no more. */
char *vmf_digest_hex(VmfDigest *d);
void vmf_digest_free(VmfDigest *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfDigest, vmf_digest_free)

/* The digest of a file's content (hex, g_free); NULL with *error (code
 * VMF_EXIT_INPUT, or 128 + signal when interrupted). */
char *vmf_file_digest(const char *path, const char *algo, GError **error);
