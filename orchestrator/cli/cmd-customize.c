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

typedef struct {
    VmfCliArgs c;
    char *disk, *logdir;
    gboolean no_trim, quiet, boot, no_boot;
} Args;

static void args_clear(Args *a)
{
    vmf_cli_args_clear(&a->c);
    g_free(a->disk);
    g_free(a->logdir);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Args, args_clear)

static const VmfCliHelp help = {
    .name = CMD,
    .params = "RECIPE",
    .summary = "Apply the recipe's customize: list to an installed disk, offline, through\n"
               "libguestfs (one appliance launch): hostname, timezone, passwords, users and\n"
               "SSH keys, files, commands, first-boot scripts, SELinux relabel, packages;\n"
               "then sysprep (the default set unless the list has a sysprep: item), the\n"
               "HEPiX checks (MBR, no LVM) and fstrim. Operations are described in\n"
               "docs/recipe.md.",
    .description = VMF_EXIT_CODES_HELP,
};

static int parse(Args *a, int *argc, char ***argv)
{
    const GOptionEntry entries[] = {
        {"disk", 'd', 0, G_OPTION_ARG_FILENAME, &a->disk,
         "The installed raw disk to customize (replaced when all succeeded)", "DISK"},
        {"var", 0, 0, G_OPTION_ARG_STRING_ARRAY, &a->c.vars,
         "Set a recipe variable (for ${var} in paths)", "NAME=VALUE"},
        {"accel", 0, 0, G_OPTION_ARG_STRING, &a->c.accel,
         "Accelerator for the libguestfs appliance: auto, kvm or tcg (default: $VMFORGE_ACCEL or "
         "auto)",
         "auto|kvm|tcg"},
        {"logs", 0, 0, G_OPTION_ARG_FILENAME, &a->logdir,
         "Folder for NAME-customize.log (default: logs/ beside the disk)", "DIR"},
        {"no-trim", 0, 0, G_OPTION_ARG_NONE, &a->no_trim, "Do not fstrim free space at the end",
         NULL},
        {"boot-check", 0, 0, G_OPTION_ARG_NONE, &a->boot,
         "Boot the result (on a throw-away overlay) until the recipe's verify marker (default "
         "\"login:\") appears; the default when the recipe has verify: boot: true",
         NULL},
        {"no-boot-check", 0, 0, G_OPTION_ARG_NONE, &a->no_boot, "Skip the boot check", NULL},
        {"connect", 'c', 0, G_OPTION_ARG_STRING, &a->c.uri,
         "libvirt URI for the boot check, local or remote (default: $LIBVIRT_DEFAULT_URI, "
         "qemu:///system as root); a remote host boots a copy of the disk uploaded to its pool",
         "URI"},
        VMF_CLI_POOL_OPTIONS(&a->c),
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &a->quiet, "No progress output", NULL},
        {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &a->c.rest, NULL, NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    int rc = vmf_cli_parse(&help, entries, NULL, argc, argv);
    if (rc == VMF_EXIT_OK && (!a->c.rest || !a->c.rest[0] || a->c.rest[1] || !a->disk)) {
        vmf_error(CMD, "usage: vmforge customize RECIPE --disk DISK");
        rc = VMF_EXIT_USAGE;
    }
    return rc;
}

static void print_result(const Args *a, int rc, const VmfCustomizeResult *res, const GError *err)
{
    if (rc != VMF_EXIT_OK) {
        vmf_error(CMD, "%s", err ? err->message : "failed");
        if (res->log)
            fprintf(stderr, "vmforge customize: log: %s\n", res->log);
        return;
    }
    if (a->quiet)
        return;
    fprintf(stderr,
            "customize: %s: %u operations in %.1f s (appliance launched in %.1f s); log %s\n",
            a->disk, res->operations, res->total_seconds, res->launch_seconds, res->log);
    if (res->boot_seconds > 0)
        fprintf(stderr, "customize: boot check passed in %.0f s\n", res->boot_seconds);
}

int vmf_cmd_customize(int argc, char **argv)
{
    g_auto(Args) a = {0};
    int rc = parse(&a, &argc, &argv);
    if (rc)
        return rc;
    const char *accel = vmf_cli_accel(CMD, a.c.accel);
    if (!accel)
        return VMF_EXIT_USAGE;
    g_autoptr(VmfRecipe) recipe = vmf_cli_recipe(CMD, a.c.rest[0], a.c.vars, &rc);
    if (!recipe)
        return rc;
    g_autofree char *diskdir = g_path_get_dirname(a.disk);
    g_autofree char *deflogs = g_build_filename(diskdir, "logs", NULL);
    VmfCustomizeOptions o = {
        .disk = a.disk,
        .logdir = a.logdir ? a.logdir : deflogs,
        .accel = accel,
        .no_trim = a.no_trim,
        .boot_check = a.boot      ? 1
                      : a.no_boot ? 0
                                  : -1,
        .uri = a.c.uri,
        .pool = a.c.pool,
        .remote_dir = a.c.remote_dir,
        .progress = a.quiet ? VMF_PROGRESS_QUIET : VMF_PROGRESS_AUTO,
    };
    vmf_signals_install();
    g_autoptr(GError) err = NULL;
    VmfCustomizeResult res = {0};
    rc = vmf_stage_customize(recipe, &o, &res, &err);
    print_result(&a, rc, &res, err);
    vmf_customize_result_clear(&res);
    return rc;
}
