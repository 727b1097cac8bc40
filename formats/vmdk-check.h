/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmdk-check.h — checks the structure of a streamOptimized VMDK while it
 * streams past (as `vmforge verify` reads an OVA member), in bounded memory.
 *
 * The walk follows the VMDK 5.0 stream layout: the sparse header, the
 * overhead (embedded descriptor), then grains (LBA, size, deflate data,
 * padded to a sector) and markers; after each run of grains a grain-table
 * marker and its table; at the end the grain-directory marker and the
 * directory, the footer marker and the footer (a copy of the header with
 * the real directory offset), and the end-of-stream marker. It checks each
 * grain's LBA and size, that every table entry points at a grain of its own
 * table's range seen since the previous table, that the directory points at
 * those tables, the footer against the header, and that nothing follows the
 * end-of-stream marker. Each problem becomes one line in `problems`, prefixed
 * with the member's name.
 */
#pragma once

#include "vf.h"

/* Largest capacity a stream VMDK may declare (2 TiB, the sparse extent's
 * limit; also what bounds the grain directory to 256 KiB). */
#define VF_VMDK_MAX_CAPACITY_SECTORS (4ull * 1024 * 1024 * 1024)
/* Grain size bounds, in sectors (a power of two; VMware writes 128). */
#define VF_VMDK_MIN_GRAIN_SECTORS 8u
#define VF_VMDK_MAX_GRAIN_SECTORS 2048u
/* Entries per grain table: the stream format fixes 512. */
#define VF_VMDK_GTES 512u
/* The header and embedded descriptor before the first grain: at most 1 MiB. */
#define VF_VMDK_MAX_OVERHEAD_SECTORS 2048u
/* A compressed grain may exceed the grain by deflate's worst-case overhead. */
#define VF_VMDK_GRAIN_SLACK 1024u
/* Problems reported per member before the walk gives up. */
#define VF_VMDK_MAX_PROBLEMS 8u

typedef struct VfVmdkWalk VfVmdkWalk;

/* A walk of the member `name` (borrowed), appending to `problems`
 * (g_malloc'd strings). Free with vf_vmdk_walk_free(). */
VfVmdkWalk *vf_vmdk_walk_new(const char *name, GPtrArray *problems);
/* The member's next len bytes. */
void vf_vmdk_walk_feed(VfVmdkWalk *w, const uint8_t *data, size_t len);
/* The member has ended: reports a missing end and the footer's disagreements.
 * Returns the number of problems this walk reported. */
unsigned vf_vmdk_walk_finish(VfVmdkWalk *w);
/* The capacity the header declares, in bytes (0 before the header). */
uint64_t vf_vmdk_walk_capacity(const VfVmdkWalk *w);
void vf_vmdk_walk_free(VfVmdkWalk *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfVmdkWalk, vf_vmdk_walk_free)
