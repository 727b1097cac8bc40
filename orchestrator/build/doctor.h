/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * doctor.h — `vmforge doctor`: can this host build? One line per check on
 * standard output, each failure with its fix: libvirtd answers (over which
 * transport, for a remote host); what earlier runs left there is removed;
 * the host's pool has room (a remote URI, --pool, --remote-dir); the
 * accelerator really runs a guest there (a KVM that hangs guests, as on
 * some nested hosts, is caught and TCG suggested); libguestfs launches
 * here; the output folder and the cache have room for the recipe.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

typedef struct {
    const char *recipe;     /* NULL: no space checks */
    char **vars;            /* --var NAME=VALUE */
    const char *outdir;     /* NULL: . */
    const char *accel;      /* auto, kvm, tcg */
    const char *uri;        /* libvirt URI or NULL */
    const char *pool;       /* the pool on a libvirt host (default "default") */
    const char *remote_dir; /* or a folder of the host pools are made under */
    const char *cache_dir;  /* NULL: the default (cache.h) */
    bool no_guests;         /* skip the checks that start a guest */
} VmfDoctorOptions;

/* Runs the checks; returns VMF_EXIT_OK when none failed, VMF_EXIT_FAILURE
 * when one did, another status when the recipe cannot be read. */
int vmf_doctor(const VmfDoctorOptions *o);
