/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * plan.h — the install stage's plan, made before any volume or domain
 * exists: the installer family (templates/installers/FAMILY.conf), the
 * media, the rendered and checked kickstart, the paths of the logs and the
 * disk, and from them the kernel command line and the installer domain's
 * XML. A dry run prints it; the fingerprint of the base disk hashes it.
 */
#pragma once

#include "install.h"
#include "media.h"
#include "recipe/recipe.h"
#include "recipe/template.h"

#include <glib.h>
#include <stdbool.h>

/* How the installer's console is judged: the family's success line, failure
 * and progress patterns. */
typedef struct {
    GKeyFile *kf;
    char *path;
    char *success;
    GRegex *failure, *progress;
} VmfInstallFamily;

typedef struct {
    VmfInstallFamily family;
    const char *family_name;
    VmfMedia *media; /* NULL when kernel/initrd are given without an ISO */
    char *template_path;
    VmfRendered *ks;
    char *logdir, *final_disk, *failed_disk, *ks_path, *console_log, *anaconda_log, *xml_path;
} VmfInstallPlan;

/* Checks everything the install needs and fills `p` (cleared with
 * vmf_install_plan_clear, also on failure). Returns a VMF_EXIT_* status. */
int vmf_install_plan_make(const VmfRecipe *r, const VmfInstallOptions *o, VmfInstallPlan *p,
                          GError **error);
void vmf_install_plan_clear(VmfInstallPlan *p);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VmfInstallPlan, vmf_install_plan_clear)

/* The kernel command line: the family's arguments, its stage2 source on the
 * media, `ks_arg` (where the kickstart is), the recipe's extra_args. g_free. */
char *vmf_install_cmdline(const VmfRecipe *r, const VmfInstallPlan *p, const char *ks_arg);

/* The volumes (or, for a dry run, where they would be) the installer domain
 * boots with; `oemdrv` NULL without that injection. */
typedef struct {
    const char *kernel, *initrd, *disk, *oemdrv;
    const char *cdrom;        /* the installer ISO, or NULL */
    const char *channel_path; /* where Anaconda's log channel is written */
    const char *nvram;        /* UEFI recipes: the domain's NVRAM file */
} VmfInstallVolumes;

/* The installer domain's XML (g_free). */
char *vmf_install_domain_xml(const VmfRecipe *r, const VmfInstallPlan *p, const char *name,
                             const char *type, const VmfInstallVolumes *vols, const char *cmdline);
