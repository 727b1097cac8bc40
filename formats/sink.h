/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sink.h — an output file that appears atomically and is hashed as it is
 * written.
 *
 * The file is created unnamed (O_TMPFILE) in the destination directory and
 * linked under its final name only by vf_sink_commit(); where the filesystem
 * has no O_TMPFILE, a hidden temporary name is used and renamed instead. A
 * sink freed without commit leaves nothing behind.
 *
 * Appends are hashed (SHA-256) as they are written. Formats whose header
 * points at tables that depend on the data (qcow2, VDI, dynamic VHD,
 * monolithicSparse VMDK) patch earlier bytes with vf_sink_pwrite(); for those
 * the digest is computed at vf_sink_prepare() by reading the file back once,
 * while it is still in the page cache.
 */
#pragma once

#include "vf.h"

typedef struct VfSink VfSink;

typedef enum {
    VF_SINK_FORCE = 1u << 0,   /* replace an existing file at the final path */
    VF_SINK_NO_SYNC = 1u << 1, /* skip fdatasync before linking */
} VfSinkFlags;

/* Creates the (unnamed) temporary file in the directory of final_path.
 * Fails with VF_ERROR_OUTPUT if final_path exists and VF_SINK_FORCE is not
 * set. *out is freed with vf_sink_free(). */
int vf_sink_open(const char *final_path, unsigned flags, VfSink **out, GError **error);

/* Appends len bytes (buffered). */
int vf_sink_write(VfSink *s, const void *buf, size_t len, GError **error);
/* Appends len zero bytes, as a hole where the file system allows. */
int vf_sink_write_zeros(VfSink *s, uint64_t len, GError **error);
/* Pads with zeros up to the next multiple of align. */
int vf_sink_align(VfSink *s, uint64_t align, GError **error);
/* Overwrites already-written bytes at offset; switches the digest to a
 * read-back at prepare time. */
int vf_sink_pwrite(VfSink *s, uint64_t offset, const void *buf, size_t len, GError **error);
/* Declares up front that the file will be patched (avoids hashing twice). */
void vf_sink_will_patch(VfSink *s);

/* A flag polled while reading the file back for its digest: non-zero stops
 * vf_sink_prepare() with VF_ERROR_CANCELLED. May be NULL. */
void vf_sink_set_cancel(VfSink *s, const volatile int *cancel);

/*
 * A view of a sink for one member of an archive: appends go to the parent
 * (at its current end), offsets count from where the view began, and the
 * view has its own digest (algorithm "sha1", "sha256" or "sha512") of
 * exactly the bytes written through it. Views
 * cannot patch (vf_sink_pwrite fails), are never prepared or committed, and
 * must be freed before their parent. vf_sink_view_finish() returns the
 * member's digest and length.
 */
VfSink *vf_sink_new_view(VfSink *parent, const char *algorithm);
/* Also appends everything written through the view to tee (borrowed). */
void vf_sink_view_tee(VfSink *view, VfSink *tee);
/* hex: at least 129 bytes (SHA-512). */
void vf_sink_view_finish(VfSink *view, char *hex, uint64_t *length);

/* Current append offset (the file's logical size so far). */
uint64_t vf_sink_offset(const VfSink *s);

/* Flushes, sets the final length, makes the data durable (unless NO_SYNC)
 * and finalizes the SHA-256. */
int vf_sink_prepare(VfSink *s, GError **error);
/* Links the prepared file under its final name (atomically). */
int vf_sink_commit(VfSink *s, GError **error);
/* Closes the sink; a sink not committed is discarded with its data. */
void vf_sink_free(VfSink *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfSink, vf_sink_free)

const char *vf_sink_path(const VfSink *s);
/* Valid after prepare: lowercase hex SHA-256 and byte size of the file. */
const char *vf_sink_sha256(const VfSink *s);
uint64_t vf_sink_size(const VfSink *s);
