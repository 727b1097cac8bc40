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
