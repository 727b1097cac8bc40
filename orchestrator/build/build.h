/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * build.h — the `vmforge build` pipeline: recipe and targets checked, the
 * base disk taken from the cache or made (disk, install, customize, verify)
 * under the cache entry's lock, then one convert pass writing every target,
 * the platform files, and report.json.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

GQuark vmf_build_error_quark(void);

typedef struct {
    const char *recipe;
    char **vars;            /* --var NAME=VALUE */
    const char *outdir;     /* created when missing */
    const char *only;       /* --only T1,T2 or NULL */
    const char *accel;      /* auto, kvm, tcg */
    const char *uri;        /* libvirt URI or NULL */
    const char *pool;       /* the install's pool on the host (install.h) */
    const char *remote_dir; /* or a pool made for the run under this folder of the host */
    const char *cache_dir;  /* NULL: the default (cache.h) */
    bool keep_failed;
    bool rebuild;
    bool json;    /* print report.json on stdout */
    bool dry_run; /* print the plan, start nothing */
    bool no_sync;
    int verbosity; /* -1 quiet, 0 normal, 1 verbose (the installer's console live) */
} VmfBuildOptions;

/* Runs the build; returns the process exit status (VMF_EXIT_*), having
 * printed what went wrong. */
int vmf_build(const VmfBuildOptions *o);

/* What a fleet (fleet/) must know of a build before it places it: the
 * recipe checked as vmf_build checks it, the base disk's cache key and
 * whether the cache has it, whether it needs an install on a host, and the
 * installer domain's size. */
typedef struct {
    char *name; /* the recipe's name: */
    char *key;
    bool cached;
    bool installs; /* false: base: image (imported here) */
    uint64_t memory;
    unsigned vcpus;
} VmfBuildProbe;
int vmf_build_probe(const VmfBuildOptions *o, VmfBuildProbe *out, GError **error);
void vmf_build_probe_clear(VmfBuildProbe *p);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VmfBuildProbe, vmf_build_probe_clear)
