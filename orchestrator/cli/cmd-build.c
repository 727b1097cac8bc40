/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd-build.c — `vmforge build RECIPE`: one recipe, one install, every
 * target's image (see build.h for the pipeline).
 */
#include "build/build.h"
#include "commands.h"
#include "util/exit-codes.h"

#include <stdio.h>

#define CMD "build"

int vmf_cmd_build(int argc, char **argv)
{
    g_auto(GStrv) rest = NULL;
    g_auto(GStrv) vars = NULL;
    g_autofree char *outdir = NULL, *only = NULL, *accel = NULL, *uri = NULL, *cache = NULL;
    gboolean keep_failed = FALSE, rebuild = FALSE, json = FALSE, dry_run = FALSE, quiet = FALSE,
             verbose = FALSE, no_sync = FALSE;
    GOptionEntry entries[] = {
        {"output", 'o', 0, G_OPTION_ARG_FILENAME, &outdir,
         "Folder for the targets (one sub-folder each), logs/ and report.json; created when "
         "missing (default: .)",
         "DIR"},
        {"only", 0, 0, G_OPTION_ARG_STRING, &only,
         "Build only these targets (comma-separated names from the recipe's targets:)", "T1,T2"},
        {"var", 0, 0, G_OPTION_ARG_STRING_ARRAY, &vars,
         "Set a recipe variable (repeatable; overrides the recipe's vars:)", "NAME=VALUE"},
        {"accel", 0, 0, G_OPTION_ARG_STRING, &accel,
         "Accelerator for the installer, libguestfs and the boot check: auto (KVM when the host "
         "has it), kvm or tcg (default: $VMFORGE_ACCEL or auto)",
         "auto|kvm|tcg"},
        {"connect", 'c', 0, G_OPTION_ARG_STRING, &uri,
         "libvirt URI (default: $LIBVIRT_DEFAULT_URI, qemu:///system as root)", "URI"},
        {"keep-failed", 0, 0, G_OPTION_ARG_NONE, &keep_failed,
         "Keep the disk of a failed install as DIR/NAME.failed.raw", NULL},
        {"rebuild", 0, 0, G_OPTION_ARG_NONE, &rebuild,
         "Install and customize again even when the base disk is in the cache", NULL},
        {"cache-dir", 0, 0, G_OPTION_ARG_FILENAME, &cache,
         "Base-disk cache (default: $VMFORGE_CACHE_DIR, else ~/.cache/vmforge)", "DIR"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print report.json on standard output", NULL},
        {"dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run,
         "Check the recipe, print the plan (stages, cache, targets and their files); start "
         "nothing",
         NULL},
        {"no-sync", 0, 0, G_OPTION_ARG_NONE, &no_sync,
         "Do not flush images to stable storage before naming them (faster, less safe)", NULL},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Only errors and the final list", NULL},
        {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
         "Also show the installer's serial console live", NULL},
        {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("RECIPE");
    g_option_context_set_summary(
        ctx, "Build every target of a recipe from one install: the raw MBR disk, the OS\n"
             "installer in a libvirt domain with the rendered kickstart, the customize list\n"
             "through libguestfs, the HEPiX checks and the optional boot check make the base\n"
             "disk; one convert pass then writes each target (kvm, openstack, xen, hepix,\n"
             "vmware, virtualbox, hyperv, azure presets, or any format) with its platform\n"
             "files. The base disk is cached under a key of everything that determines it:\n"
             "changing only the targets skips install and customize.");
    g_option_context_set_description(
        ctx, "Output: DIR/TARGET/NAME.EXT (+ NAME.xml, NAME.cfg, NAME.openstack.json),\n"
             "DIR/logs/, DIR/report.json (docs/report.md). The recipe format: docs/recipe.md.\n"
             "Examples:\n"
             "  vmforge build examples/quickstart/recipe.yaml -o out/\n"
             "  vmforge build recipe.yaml -o out/ --only kvm,vmware --var iso=alma.iso\n\n"
             "Environment:\n"
             "  VMFORGE_ACCEL      default --accel\n"
             "  VMFORGE_CACHE_DIR  default --cache-dir\n"
             "  SOURCE_DATE_EPOCH  timestamp in formats that record one (default "
             "0)\n\n" VMF_EXIT_CODES_HELP);
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) err = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        vmf_error(CMD, "%s (see vmforge build --help)", err->message);
        return VMF_EXIT_USAGE;
    }
    if (!rest || !rest[0] || rest[1]) {
        vmf_error(CMD, "give exactly one recipe (usage: vmforge build RECIPE [-o DIR])");
        return VMF_EXIT_USAGE;
    }
    if (quiet && verbose) {
        vmf_error(CMD, "--quiet and --verbose exclude each other");
        return VMF_EXIT_USAGE;
    }
    VmfBuildOptions o = {
        .recipe = rest[0],
        .vars = vars,
        .outdir = outdir,
        .only = only,
        .accel = vmf_cli_accel(CMD, accel),
        .uri = uri,
        .cache_dir = cache,
        .keep_failed = keep_failed,
        .rebuild = rebuild,
        .json = json,
        .dry_run = dry_run,
        .no_sync = no_sync,
        .verbosity = quiet     ? -1
                     : verbose ? 1
                               : 0,
    };
    if (!o.accel)
        return VMF_EXIT_USAGE;
    return vmf_build(&o);
}
