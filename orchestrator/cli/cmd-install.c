/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd-install.c — `vmforge install RECIPE`: the raw MBR disk, the installer
 * booted on it in a libvirt domain with the rendered kickstart, watched until
 * it powers off; leaves the installed base disk in the output folder.
 */
#include "commands.h"
#include "install/install.h"
#include "recipe/recipe.h"
#include "util/exit-codes.h"
#include "util/signals.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define CMD "install"

int vmf_cmd_install(int argc, char **argv)
{
    g_auto(GStrv) rest = NULL;
    g_auto(GStrv) vars = NULL;
    g_autofree char *outdir = NULL, *accel = NULL, *uri = NULL, *timeout = NULL, *idle = NULL;
    gboolean console = FALSE, keep_failed = FALSE, force = FALSE, dry_run = FALSE, quiet = FALSE;
    GOptionEntry entries[] = {
        {"output", 'o', 0, G_OPTION_ARG_FILENAME, &outdir,
         "Folder for the base disk (NAME.raw) and logs/ (default: .)", "DIR"},
        {"var", 0, 0, G_OPTION_ARG_STRING_ARRAY, &vars,
         "Set a template variable (repeatable; overrides the recipe's vars:)", "NAME=VALUE"},
        {"accel", 0, 0, G_OPTION_ARG_STRING, &accel,
         "Accelerator: auto (KVM when the host has it), kvm, or tcg (default: $VMFORGE_ACCEL or "
         "auto)",
         "auto|kvm|tcg"},
        {"connect", 'c', 0, G_OPTION_ARG_STRING, &uri,
         "libvirt URI (default: $LIBVIRT_DEFAULT_URI, qemu:///system as root)", "URI"},
        {"console", 0, 0, G_OPTION_ARG_NONE, &console,
         "Show the installer's serial console live instead of a progress line", NULL},
        {"keep-failed", 0, 0, G_OPTION_ARG_NONE, &keep_failed,
         "Keep the disk of a failed install as NAME.failed.raw", NULL},
        {"timeout", 0, 0, G_OPTION_ARG_STRING, &timeout,
         "Overall installer timeout (overrides the recipe's; e.g. 90m)", "DURATION"},
        {"idle-timeout", 0, 0, G_OPTION_ARG_STRING, &idle,
         "Stop when console and disk are silent this long (e.g. 10m)", "DURATION"},
        {"force", 'f', 0, G_OPTION_ARG_NONE, &force, "Replace an existing base disk", NULL},
        {"dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run,
         "Check the recipe and kickstart, print the kernel command line and domain XML; start "
         "nothing",
         NULL},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress output", NULL},
        {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("RECIPE");
    g_option_context_set_summary(
        ctx, "Create the recipe's raw MBR disk, boot its OS installer on it in a transient\n"
             "libvirt domain with the rendered kickstart (injected into the initrd, on an\n"
             "OEMDRV volume, or served over HTTP), watch it, and keep the installed disk\n"
             "(the base disk) once the installer has powered off after a successful install.\n"
             "The recipe format is described in vmforge(1) and docs/recipe.md.");
    g_option_context_set_description(
        ctx, "Logs go to DIR/logs/: NAME-install-console.log, NAME-ks.cfg (mode 0600,\n"
             "the root password only as a hash), NAME-install-domain.xml.\n\n" VMF_EXIT_CODES_HELP);
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) err = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        vmf_error(CMD, "%s (see vmforge install --help)", err->message);
        return VMF_EXIT_USAGE;
    }
    if (!rest || !rest[0] || rest[1]) {
        vmf_error(CMD, "give exactly one recipe (usage: vmforge install RECIPE [-o DIR])");
        return VMF_EXIT_USAGE;
    }
    VmfInstallOptions o = {
        .outdir = outdir ? outdir : ".",
        .uri = uri,
        .accel = vmf_cli_accel(CMD, accel),
        .console = console,
        .keep_failed = keep_failed,
        .force = force,
        .dry_run = dry_run,
        .progress = quiet ? VMF_PROGRESS_QUIET : VMF_PROGRESS_AUTO,
    };
    if (!o.accel)
        return VMF_EXIT_USAGE;
    if ((timeout && (vmf_parse_duration(timeout, &o.timeout) < 0 || !o.timeout)) ||
        (idle && (vmf_parse_duration(idle, &o.idle_timeout) < 0 || !o.idle_timeout))) {
        vmf_error(CMD, "--%s %s: expected a duration such as 90s, 15m or 2h",
                  timeout && !o.timeout ? "timeout" : "idle-timeout",
                  timeout && !o.timeout ? timeout : idle);
        return VMF_EXIT_USAGE;
    }
    if (!g_file_test(o.outdir, G_FILE_TEST_IS_DIR)) {
        vmf_error(CMD, "%s: no such folder (create it first)", o.outdir);
        return VMF_EXIT_OUTPUT;
    }
    g_autofree char *abs_out = g_canonicalize_filename(o.outdir, NULL);
    o.outdir = abs_out;
    int status = VMF_EXIT_OK;
    g_autoptr(VmfRecipe) recipe = vmf_cli_recipe(CMD, rest[0], vars, &status);
    if (!recipe)
        return status;
    vmf_signals_install();
    VmfInstallResult res = {0};
    int rc = vmf_stage_install(recipe, &o, &res, &err);
    if (rc == VMF_EXIT_OK && !dry_run) {
        if (!quiet)
            fprintf(stderr, "install: %s in %.0f s (%s)\n", res.disk, res.seconds,
                    res.media ? res.media : "kernel and initrd");
        printf("%s\n", res.disk);
    } else if (rc != VMF_EXIT_OK) {
        vmf_error(CMD, "%s", err ? err->message : "failed");
        if (res.failed_disk)
            fprintf(stderr, "vmforge install: the failed install's disk was kept: %s\n",
                    res.failed_disk);
    }
    vmf_install_result_clear(&res);
    return rc;
}
