/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * progress.h — progress of long work on stderr: a live line (percentage,
 * throughput, ETA) on a terminal; plain timestamped lines at most every
 * PLAIN_INTERVAL seconds otherwise; nothing when quiet.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct VmfProgress VmfProgress;

typedef enum {
    VMF_PROGRESS_AUTO,
    VMF_PROGRESS_TTY,
    VMF_PROGRESS_PLAIN,
    VMF_PROGRESS_QUIET
} VmfProgressMode;

/* A line about a command's course on stderr, "STAGE: MESSAGE": with the
 * time in front in plain mode, nothing when quiet. */
void vmf_progress_say(VmfProgressMode mode, const char *stage, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
VmfProgress *vmf_progress_new(const char *stage, VmfProgressMode mode);
/* done/total in bytes; `note` is an optional word after the figures. */
void vmf_progress_update(VmfProgress *p, uint64_t done, uint64_t total, const char *note);
/* A stage without byte counts (an installer): `pct` (-1 when unknown) and
 * what it is doing, with the time elapsed. Plain mode prints a line when the
 * text or the percentage changes, at most every PLAIN_INTERVAL for the latter. */
void vmf_progress_status(VmfProgress *p, int pct, const char *what);
/* Ends the live line (success or not). */
void vmf_progress_end(VmfProgress *p, const char *summary);
void vmf_progress_free(VmfProgress *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfProgress, vmf_progress_free)

/* The converter's progress callback (VfProgressFunc) for a VmfProgress bar:
 * the allocated bytes done, or all bytes for a disk without data. Shared by
 * `vmforge convert`, the build's convert stage and backup. */
struct VfProgress;
void vmf_convert_progress(const struct VfProgress *p, void *bar);

/* A byte transfer's progress callback (volume uploads and downloads, HTTP
 * uploads) for a VmfProgress bar: done/total bytes, no note. */
void vmf_transfer_progress(uint64_t done, uint64_t total, void *bar);
