/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kickstart.h — the answer file: variables for the template, the root
 * password hashed (the plain text never leaves memory), and the HEPiX checks
 * a rendered kickstart must pass before any domain starts.
 */
#pragma once

#include "recipe.h"
#include "template.h"

#include <glib.h>

GQuark vmf_kickstart_error_quark(void);

/* The guest disk as the installer sees it (virtio): vda, partitions vda1... */
#define VMF_GUEST_DISK "vda"

/* Hashes `plain` with yescrypt (SHA-512 crypt where libcrypt lacks it) and a
 * fresh salt, or with `salt` (a crypt setting such as "$y$j9T$...") when not
 * NULL: the build cache hashes secrets that way, so its key depends on them
 * without holding anything cheaper to attack than /etc/shadow. Returns the
 * hash (g_free) or NULL with *error. */
char *vmf_kickstart_hash_password(const char *plain, const char *salt, GError **error);

/* Hashes the password on the first line of the file `path` (at most 1 KiB,
 * not empty); the plain text is wiped. Returns the hash (g_free) or NULL. */
char *vmf_kickstart_hash_password_file(const char *path, const char *salt, GError **error);

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
