/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kickstart.h — the answer file: variables for the template, the root
 * password hashed (the plain text never leaves memory), and the HEPiX checks
 * a rendered kickstart must pass before any domain starts.
 */
#pragma once

#include "recipe/recipe.h"
#include "recipe/secrets.h"
#include "recipe/template.h"

#include <glib.h>

GQuark vmf_kickstart_error_quark(void);

/* The guest disk as the installer sees it (virtio): vda, partitions vda1... */
#define VMF_GUEST_DISK "vda"

/* The variables a template sees: the family's defaults, the recipe's vars
 * and --var, and vmforge's own (partitions, disk, root_device, rootpw_line,
 * name, version). The plain password (var rootpw or installer.rootpw_file) is
 * hashed into rootpw_line (with `salt` when not NULL, see above) and removed.
 * `defaults` may be NULL. Returns a new
 * table or NULL with *error. */
GHashTable *vmf_kickstart_vars(const VmfRecipe *recipe, GHashTable *defaults, const char *salt,
                               GError **error);

/* Names templates may not use, with the reason (for vmf_template_render). */
extern const char *const vmf_kickstart_refused[];

/* Checks the rendered kickstart against the HEPiX rules and the recipe's
 * partitions: no autopart, logvol, volgroup, raid, reqpart, btrfs, zerombr;
 * clearpart only --none; every part on one of vmforge's partitions (with the
 * mount the recipe gave it); a part for /. Errors name the template line. */
bool vmf_kickstart_check(const VmfRendered *ks, const char *template_path, const VmfRecipe *recipe,
                         GError **error);
