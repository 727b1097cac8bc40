/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * install.h — the install stage: the raw MBR disk, the rendered
 * kickstart, the installer media and answer-file injection, and the
 * installer domain watched until it powers off. Its product is the base disk.
 */
#pragma once

#include "recipe/recipe.h"
#include "util/fingerprint.h"
#include "util/progress.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

GQuark vmf_install_error_quark(void);

typedef struct {
    const char *outdir; /* where the base disk and logs/ go */
    const char *uri;    /* libvirt URI, NULL = default */
    const char *accel;  /* auto, kvm, tcg */
    bool console;       /* copy the guest's console to stdout live */
    bool keep_failed;   /* keep the disk of a failed install */
    bool force;         /* replace an existing base disk */
    bool dry_run;       /* print the kernel command line and domain XML, start nothing */
    unsigned timeout;   /* overrides the recipe's when non-zero */
    unsigned idle_timeout;
    VmfProgressMode progress;
    const char *logdir;   /* NULL = OUTDIR/logs */
    const char *keep_dir; /* where --keep-failed keeps the disk; NULL = outdir */
    const char *salt;     /* crypt setting for the root password; NULL = a fresh one */
    /* Where the volumes live. A local URI without these: vmforge's own pool
     * on a folder of OUTDIR. A remote URI, or either of these: a pool of
     * the host, through the API only (uploads and downloads). */
    const char *pool;         /* an existing pool of the host; default "default" */
    const char *remote_dir;   /* or a pool made for the run under this folder of the host */
    const char *media_digest; /* the ISO's SHA-256 when known (the cache memoizes it) */
} VmfInstallOptions;

typedef struct {
    char *disk;        /* the base disk (final name) */
    char *console_log; /* the console log */
    char *failed_disk; /* kept with --keep-failed */
    double seconds;    /* wall time of the installer domain */
    char *media;       /* what the ISO was identified as */
    char *host;        /* the libvirt URI it ran on */
    char *pool;        /* the pool its volumes lived in */
    char *disk_sha256; /* the installed disk as downloaded from a host (NULL when local) */
    uint64_t bytes_sent, bytes_received; /* volume data on the wire */
} VmfInstallResult;

void vmf_install_result_clear(VmfInstallResult *r);

/* True when the volumes live in a pool of the host (see VmfInstallOptions). */
bool vmf_install_on_host(const VmfInstallOptions *o);
/* Refuses, before anything starts, what cannot work with the volumes on a
 * host: inject: http (the guest's 10.0.2.2 is that host, not this machine),
 * --pool with --remote-dir. Returns a VMF_EXIT_* status. */
int vmf_install_check_host(const VmfRecipe *recipe, const VmfInstallOptions *opts, GError **error);

/* Feeds everything the installed disk depends on into `fp`:
 * disk spec, media (or kernel and initrd) digests, the installer family, the
 * rendered answer file (root password hashed with the fingerprint's salt) and the
 * injection. Checks the recipe and template as a dry run does. Returns a
 * VMF_EXIT_* status. */
int vmf_install_fingerprint(const VmfRecipe *recipe, VmfFingerprint *fp, GError **error);

/* Runs the stage. Returns a VMF_EXIT_* status; on failure *error says what
 * and where (and the console's tail was printed on stderr). */
int vmf_stage_install(const VmfRecipe *recipe, const VmfInstallOptions *opts,
                      VmfInstallResult *result, GError **error);
