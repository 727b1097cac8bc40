/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * doctor.h — `vmforge doctor`: can this host build? One line per check on
 * standard output, each failure with its fix: libvirtd answers; the
 * accelerator really runs a guest (a KVM that hangs guests, as on some
 * nested hosts, is caught and TCG suggested); libguestfs launches; the
 * output folder and the cache have room for the recipe.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

typedef struct {
    const char *recipe;    /* NULL: no space checks */
    char **vars;           /* --var NAME=VALUE */
    const char *outdir;    /* NULL: . */
    const char *accel;     /* auto, kvm, tcg */
    const char *uri;       /* libvirt URI or NULL */
    const char *cache_dir; /* NULL: the default (cache.h) */
    bool no_guests;        /* skip the checks that start a guest */
} VmfDoctorOptions;

/* Runs the checks; returns VMF_EXIT_OK when none failed, VMF_EXIT_FAILURE
 * when one did, another status when the recipe cannot be read. */
int vmf_doctor(const VmfDoctorOptions *o);
