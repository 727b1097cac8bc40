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
