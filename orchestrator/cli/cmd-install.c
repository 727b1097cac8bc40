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

typedef struct {
    VmfCliArgs c;
    char *timeout, *idle;
    gboolean console, keep_failed, force, dry_run, quiet;
} Args;

static void args_clear(Args *a)
{
    vmf_cli_args_clear(&a->c);
    g_free(a->timeout);
    g_free(a->idle);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Args, args_clear)

static const VmfCliHelp help = {
    .name = CMD,
    .params = "RECIPE",
    .summary = "Create the recipe's raw MBR disk, boot its OS installer on it in a transient\n"
               "libvirt domain with the rendered kickstart (injected into the initrd, on an\n"
               "OEMDRV volume, or served over HTTP), watch it, and keep the installed disk\n"
               "(the base disk) once the installer has powered off after a successful install.\n"
               "The recipe format is described in vmforge(1) and docs/recipe.md.",
    .description =
        "Logs go to DIR/logs/: NAME-install-console.log, NAME-ks.cfg (mode 0600,\n"
        "the root password only as a hash), NAME-install-domain.xml.\n\n" VMF_EXIT_CODES_HELP,
};

static int parse(Args *a, int *argc, char ***argv)
{
    const GOptionEntry entries[] = {
        {"output", 'o', 0, G_OPTION_ARG_FILENAME, &a->c.outdir,
         "Folder for the base disk (NAME.raw) and logs/ (default: .)", "DIR"},
        {"var", 0, 0, G_OPTION_ARG_STRING_ARRAY, &a->c.vars,
         "Set a template variable (repeatable; overrides the recipe's vars:)", "NAME=VALUE"},
        {"accel", 0, 0, G_OPTION_ARG_STRING, &a->c.accel,
         "Accelerator: auto (KVM when the host has it), kvm, or tcg (default: $VMFORGE_ACCEL or "
         "auto)",
         "auto|kvm|tcg"},
        {"connect", 'c', 0, G_OPTION_ARG_STRING, &a->c.uri,
         "libvirt URI, local or remote: qemu+ssh://root@HOST/system, qemu+tcp://, qemu+tls:// "
         "(default: $LIBVIRT_DEFAULT_URI, qemu:///system as root)",
         "URI"},
        VMF_CLI_POOL_OPTIONS(&a->c),
        {"console", 0, 0, G_OPTION_ARG_NONE, &a->console,
         "Show the installer's serial console live instead of a progress line", NULL},
        {"keep-failed", 0, 0, G_OPTION_ARG_NONE, &a->keep_failed,
         "Keep the disk of a failed install as NAME.failed.raw", NULL},
        {"timeout", 0, 0, G_OPTION_ARG_STRING, &a->timeout,
         "Overall installer timeout (overrides the recipe's; e.g. 90m)", "DURATION"},
        {"idle-timeout", 0, 0, G_OPTION_ARG_STRING, &a->idle,
         "Stop when console and disk are silent this long (e.g. 10m)", "DURATION"},
        {"force", 'f', 0, G_OPTION_ARG_NONE, &a->force, "Replace an existing base disk", NULL},
        {"dry-run", 'n', 0, G_OPTION_ARG_NONE, &a->dry_run,
         "Check the recipe and kickstart, print the kernel command line and domain XML; start "
         "nothing",
         NULL},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &a->quiet, "No progress output", NULL},
        {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &a->c.rest, NULL, NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    int rc = vmf_cli_parse(&help, entries, NULL, argc, argv);
    if (rc == VMF_EXIT_OK && (!a->c.rest || !a->c.rest[0] || a->c.rest[1])) {
        vmf_error(CMD, "give exactly one recipe (usage: vmforge install RECIPE [-o DIR])");
        rc = VMF_EXIT_USAGE;
    }
    return rc;
}

/* The stage's options from the command line's; *abs_out holds the output
 * folder's absolute name. */
static int options(const Args *a, VmfInstallOptions *o, char **abs_out)
{
    *o = (VmfInstallOptions){
        .outdir = a->c.outdir ? a->c.outdir : ".",
        .uri = a->c.uri,
        .pool = a->c.pool,
        .remote_dir = a->c.remote_dir,
        .accel = vmf_cli_accel(CMD, a->c.accel),
        .console = a->console,
        .keep_failed = a->keep_failed,
        .force = a->force,
        .dry_run = a->dry_run,
        .progress = a->quiet ? VMF_PROGRESS_QUIET : VMF_PROGRESS_AUTO,
    };
    if (!o->accel)
        return VMF_EXIT_USAGE;
    if ((a->timeout && (vmf_parse_duration(a->timeout, &o->timeout) < 0 || !o->timeout)) ||
        (a->idle && (vmf_parse_duration(a->idle, &o->idle_timeout) < 0 || !o->idle_timeout))) {
        bool bad_timeout = a->timeout && !o->timeout;
        vmf_error(CMD, "--%s %s: expected a duration such as 90s, 15m or 2h",
                  bad_timeout ? "timeout" : "idle-timeout", bad_timeout ? a->timeout : a->idle);
        return VMF_EXIT_USAGE;
    }
    if (!g_file_test(o->outdir, G_FILE_TEST_IS_DIR)) {
        vmf_error(CMD, "%s: no such folder (create it first)", o->outdir);
        return VMF_EXIT_OUTPUT;
    }
    *abs_out = g_canonicalize_filename(o->outdir, NULL);
    o->outdir = *abs_out;
    return VMF_EXIT_OK;
}

int vmf_cmd_install(int argc, char **argv)
{
    g_auto(Args) a = {0};
    VmfInstallOptions o;
    g_autofree char *abs_out = NULL;
    int rc = parse(&a, &argc, &argv);
    if (!rc)
        rc = options(&a, &o, &abs_out);
    if (rc)
        return rc;
    g_autoptr(VmfRecipe) recipe = vmf_cli_recipe(CMD, a.c.rest[0], a.c.vars, &rc);
    if (!recipe)
        return rc;
    vmf_signals_install();
    g_autoptr(GError) err = NULL;
    VmfInstallResult res = {0};
    rc = vmf_stage_install(recipe, &o, &res, &err);
    if (rc == VMF_EXIT_OK && !a.dry_run) {
        if (!a.quiet)
            fprintf(stderr, "install: %s in %.0f s (%s)\n", res.disk, res.seconds,
                    res.media ? res.media : "kernel and initrd");
        if (!a.quiet && res.disk_sha256)
            fprintf(stderr, "install: downloaded from %s, SHA-256 %s\n", res.host,
                    res.disk_sha256);
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
