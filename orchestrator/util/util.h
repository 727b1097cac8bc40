/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util.h — small helpers of the command line. */
#pragma once

#include <glib.h>
#include <stdint.h>

/* Parses a size: a whole number of bytes, or with a binary suffix K, M, G
 * or T (KiB, MiB, ... and KB, MB, ... mean the same), e.g. "20G", "512M".
 * Fractions are refused. Returns 0, or -EINVAL/-ERANGE. */
int vmf_parse_size(const char *text, uint64_t *out);

/* The templates directory: $VMFORGE_TEMPLATES, the installed one, or the
 * source tree's (for runs from a build directory). */
const char *vmf_templates_dir(void);

/* Removes the files in `dir` (not sub-folders), then `dir`: a build's work
 * folder. */
void vmf_remove_workdir(const char *dir);
/* The relative name of `to` seen from the folder `from` (both absolute and
 * canonical): "../2026-12-01/web-vda.qcow2". g_free. */
char *vmf_relative_path(const char *from, const char *to);
/* Removes `dir` and everything below it (symbolic links are removed, not
 * followed). */
void vmf_remove_tree(const char *dir);

/* Copies `from` to the new file `to` (which must not exist), keeping holes
 * (SEEK_DATA/SEEK_HOLE + copy_file_range), and syncs it. On failure `to` is
 * removed and *error (G_FILE_ERROR) names the file at fault. */
int vmf_copy_sparse(const char *from, const char *to, GError **error);

/* $SOURCE_DATE_EPOCH as seconds (0 when unset or empty), for the formats
 * that record a time. Returns -EINVAL when it is not a whole, non-negative
 * number of seconds. */
int vmf_source_date_epoch(int64_t *out);

/* Prints "vmforge CMD: error: MESSAGE" on stderr: the one way a command, or
 * a pipeline on its behalf, reports what went wrong. */
void vmf_error(const char *cmd, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

GQuark vmf_util_error_quark(void);

/* The SHA-256 (hex, g_free) of a file's content; NULL with *error (code
 * VMF_EXIT_INPUT, or 128 + signal when interrupted). */
char *vmf_file_sha256(const char *path, GError **error);

/* Where vmforge keeps what it must remember between runs (the records of
 * what runs made on libvirt hosts): $VMFORGE_STATE_DIR, else
 * $XDG_STATE_HOME/vmforge, else ~/.local/state/vmforge. g_free. */
char *vmf_state_dir(void);
