/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd-customize.c — `vmforge customize RECIPE --disk DISK`: the recipe's
 * customize: list applied to an installed disk through libguestfs, then
 * sysprep, the HEPiX checks and fstrim. The disk is replaced only when all
 * of it succeeded.
 */
#include "commands.h"
#include "customize/customize.h"
#include "recipe/recipe.h"
#include "util/exit-codes.h"
#include "util/signals.h"

#include <stdio.h>
#include <string.h>

#define CMD "customize"

int vmf_cmd_customize(int argc, char **argv)
{
    g_auto(GStrv) rest = NULL;
    g_auto(GStrv) vars = NULL;
    g_autofree char *disk = NULL, *accel = NULL, *logdir = NULL;
    gboolean no_trim = FALSE, quiet = FALSE, boot = FALSE, no_boot = FALSE;
    g_autofree char *uri = NULL;
    GOptionEntry entries[] = {
        {"disk", 'd', 0, G_OPTION_ARG_FILENAME, &disk,
         "The installed raw disk to customize (replaced when all succeeded)", "DISK"},
        {"var", 0, 0, G_OPTION_ARG_STRING_ARRAY, &vars,
         "Set a recipe variable (for ${var} in paths)", "NAME=VALUE"},
        {"accel", 0, 0, G_OPTION_ARG_STRING, &accel,
         "Accelerator for the libguestfs appliance: auto, kvm or tcg (default: $VMFORGE_ACCEL or "
         "auto)",
         "auto|kvm|tcg"},
        {"logs", 0, 0, G_OPTION_ARG_FILENAME, &logdir,
         "Folder for NAME-customize.log (default: logs/ beside the disk)", "DIR"},
        {"no-trim", 0, 0, G_OPTION_ARG_NONE, &no_trim, "Do not fstrim free space at the end", NULL},
        {"boot-check", 0, 0, G_OPTION_ARG_NONE, &boot,
         "Boot the result (on a throw-away overlay) until the recipe's verify marker (default "
         "\"login:\") appears; the default when the recipe has verify: boot: true",
         NULL},
        {"no-boot-check", 0, 0, G_OPTION_ARG_NONE, &no_boot, "Skip the boot check", NULL},
        {"connect", 'c', 0, G_OPTION_ARG_STRING, &uri,
         "libvirt URI for the boot check (default: $LIBVIRT_DEFAULT_URI, qemu:///system as root)",
         "URI"},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress output", NULL},
        {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("RECIPE");
    g_option_context_set_summary(
        ctx, "Apply the recipe's customize: list to an installed disk, offline, through\n"
             "libguestfs (one appliance launch): hostname, timezone, passwords, users and\n"
             "SSH keys, files, commands, first-boot scripts, SELinux relabel, packages;\n"
             "then sysprep (the default set unless the list has a sysprep: item), the\n"
             "HEPiX checks (MBR, no LVM) and fstrim. Operations are described in\n"
             "docs/recipe.md.");
    g_option_context_set_description(ctx, VMF_EXIT_CODES_HELP);
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) err = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        vmf_error(CMD, "%s (see vmforge customize --help)", err->message);
        return VMF_EXIT_USAGE;
    }
    if (!rest || !rest[0] || rest[1] || !disk) {
        vmf_error(CMD, "usage: vmforge customize RECIPE --disk DISK");
        return VMF_EXIT_USAGE;
    }
    const char *a = vmf_cli_accel(CMD, accel);
    if (!a)
        return VMF_EXIT_USAGE;
    int status = VMF_EXIT_OK;
    g_autoptr(VmfRecipe) recipe = vmf_cli_recipe(CMD, rest[0], vars, &status);
    if (!recipe)
        return status;
    g_autofree char *diskdir = g_path_get_dirname(disk);
    g_autofree char *deflogs = g_build_filename(diskdir, "logs", NULL);
    VmfCustomizeOptions o = {
        .disk = disk,
        .logdir = logdir ? logdir : deflogs,
        .accel = a,
        .no_trim = no_trim,
        .boot_check = boot      ? 1
                      : no_boot ? 0
                                : -1,
        .uri = uri,
        .progress = quiet ? VMF_PROGRESS_QUIET : VMF_PROGRESS_AUTO,
    };
    vmf_signals_install();
    VmfCustomizeResult res = {0};
    int rc = vmf_stage_customize(recipe, &o, &res, &err);
    if (rc == VMF_EXIT_OK) {
        if (!quiet)
            fprintf(
                stderr,
                "customize: %s: %u operations in %.1f s (appliance launched in %.1f s); log %s\n",
                disk, res.operations, res.total_seconds, res.launch_seconds, res.log);
        if (!quiet && res.boot_seconds > 0)
            fprintf(stderr, "customize: boot check passed in %.0f s\n", res.boot_seconds);
    } else {
        vmf_error(CMD, "%s", err ? err->message : "failed");
        if (res.log)
            fprintf(stderr, "vmforge customize: log: %s\n", res.log);
    }
    vmf_customize_result_clear(&res);
    return rc;
}
