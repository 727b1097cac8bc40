/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * disk.h — the install disk's MBR partition table, written with libfdisk:
 * partitions 1 MiB aligned, types and bootable flag from the recipe.
 */
#pragma once

#include "recipe/recipe.h"

#include <glib.h>
#include <stdint.h>

GQuark vmf_disk_error_quark(void);

/* Writes an MBR with the recipe's partitions onto `path` (an existing file of
 * the recipe's disk size). The disk identifier is derived from `seed` so the
 * same recipe gives the same table. Returns 0 or -errno with *error. */
int vmf_disk_partition(const char *path, const VmfRecipe *recipe, const char *seed, GError **error);

/* Byte offset and length of partition `n` (1-based) of the MBR on `path`. */
int vmf_disk_partition_extent(const char *path, unsigned n, uint64_t *offset, uint64_t *length,
                              GError **error);

/* The file-system type (ext4, xfs, swap ...) libblkid finds in partition `n`
 * of `path`, or NULL when there is none. */
char *vmf_disk_probe_fs(const char *path, unsigned n);
