/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd-build.c — `vmforge build RECIPE`: one recipe, one install, every
 * target's image (see build.h for the pipeline).
 */
#include "build/build.h"
#include "fleet/fleet.h"
#include "commands.h"
#include "publish/publish.h"
#include "util/exit-codes.h"
#include "util/fleet-link.h"

#include <stdio.h>

#define CMD "build"

typedef struct {
    VmfCliArgs c;
    char *only, *hosts;
    char **connects;
    int jobs;
    gboolean keep_failed, rebuild, json, dry_run, quiet, verbose, no_sync, publish, force_publish;
} Args;

static void args_clear(Args *a)
{
    vmf_cli_args_clear(&a->c);
    g_free(a->only);
    g_free(a->hosts);
    g_strfreev(a->connects);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Args, args_clear)

static const VmfCliHelp help = {
    .name = CMD,
    .params = "RECIPE...",
    .summary = "Build every target of a recipe from one install: the raw MBR disk, the OS\n"
               "installer in a libvirt domain with the rendered kickstart, the customize list\n"
               "through libguestfs, the HEPiX checks and the optional boot check make the base\n"
               "disk; one convert pass then writes each target (kvm, openstack, xen, hepix,\n"
               "vmware, virtualbox, hyperv, azure presets, or any format) with its platform\n"
               "files. The base disk is cached under a key of everything that determines it:\n"
               "changing only the targets skips install and customize.\n\n"
               "Several recipes, --hosts or a repeated --connect make a fleet build: each\n"
               "install goes to a libvirt host with room for it (its installs: and memory:\n"
               "limits, its free memory), the local work (customize, convert, publish) runs\n"
               "at most -j at once, a base disk shared by several recipes is made once, and\n"
               "a build whose host goes down is tried once more on another host.",
    .description =
        "Output: DIR/TARGET/NAME.EXT (+ NAME.xml, NAME.cfg, NAME.openstack.json),\n"
        "DIR/logs/, DIR/report.json (docs/report.md). The recipe format: "
        "docs/recipe.md.\n"
        "Examples:\n"
        "  vmforge build examples/quickstart/recipe.yaml -o out/\n"
        "  vmforge build recipe.yaml -o out/ --only kvm,vmware --var iso=alma.iso\n"
        "  vmforge build recipe.yaml -o out/ --publish   # targets' publish: keys\n"
        "  vmforge build el9.yaml debian12.yaml --hosts hosts.yaml -o out/\n"
        "  vmforge build recipes/*.yaml -c qemu+ssh://root@b1/system \\\n"
        "      -c qemu+ssh://root@b2/system -j 4 -o out/\n"
        "A fleet build writes OUT/NAME/ per recipe (as a single build writes OUT/, its\n"
        "log in OUT/NAME/logs/build.log) and OUT/fleet-report.json. hosts.yaml:\n"
        "  hosts:\n"
        "    - uri: qemu+ssh://root@b1/system\n"
        "      installs: 2        # at once (default: the host's CPUs / 2)\n"
        "      memory: 16G        # installer domains at once (default: its memory - 1G)\n"
        "      pool: images       # the install's pool there (default: --pool)\n"
        "    - qemu+tcp://b2/system\n\n"
        "Environment:\n"
        "  VMFORGE_ACCEL      default --accel\n"
        "  VMFORGE_CACHE_DIR  default --cache-dir\n"
        "  SOURCE_DATE_EPOCH  timestamp in formats that record one (default "
        "0)\n\n" VMF_EXIT_CODES_HELP,
};

static int parse(Args *a, int *argc, char ***argv)
{
    const GOptionEntry entries[] = {
        {"output", 'o', 0, G_OPTION_ARG_FILENAME, &a->c.outdir,
         "Folder for the targets (one sub-folder each), logs/ and report.json; created when "
         "missing (default: .)",
         "DIR"},
        {"only", 0, 0, G_OPTION_ARG_STRING, &a->only,
         "Build only these targets (comma-separated names from the recipe's targets:)", "T1,T2"},
        {"var", 0, 0, G_OPTION_ARG_STRING_ARRAY, &a->c.vars,
         "Set a recipe variable (repeatable; overrides the recipe's vars:)", "NAME=VALUE"},
        {"accel", 0, 0, G_OPTION_ARG_STRING, &a->c.accel,
         "Accelerator for the installer, libguestfs and the boot check: auto (KVM when the host "
         "has it), kvm or tcg (default: $VMFORGE_ACCEL or auto)",
         "auto|kvm|tcg"},
        {"connect", 'c', 0, G_OPTION_ARG_STRING_ARRAY, &a->connects,
         "libvirt URI, local or remote: qemu+ssh://root@HOST/system, qemu+tcp://, qemu+tls:// "
         "(default: $LIBVIRT_DEFAULT_URI, qemu:///system as root); repeated: the hosts of a "
         "fleet build",
         "URI"},
        {"hosts", 0, 0, G_OPTION_ARG_FILENAME, &a->hosts,
         "A fleet build over the libvirt hosts of FILE (their URIs and limits; see below)", "FILE"},
        {"jobs", 'j', 0, G_OPTION_ARG_INT, &a->jobs,
         "Fleet build: local work (customize, convert, publish) of at most N builds at once "
         "(default: the number of CPUs)",
         "N"},
        VMF_CLI_POOL_OPTIONS(&a->c),
        {"keep-failed", 0, 0, G_OPTION_ARG_NONE, &a->keep_failed,
         "Keep the disk of a failed install as DIR/NAME.failed.raw", NULL},
        {"rebuild", 0, 0, G_OPTION_ARG_NONE, &a->rebuild,
         "Install and customize again even when the base disk is in the cache", NULL},
        {"cache-dir", 0, 0, G_OPTION_ARG_FILENAME, &a->c.cache,
         "Base-disk cache (default: $VMFORGE_CACHE_DIR, else ~/.cache/vmforge)", "DIR"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &a->json, "Print report.json on standard output", NULL},
        {"publish", 0, 0, G_OPTION_ARG_NONE, &a->publish,
         "Then publish each target whose publish: key says where (Glance, libvirt pools), as "
         "vmforge publish does; recorded in report.json",
         NULL},
        {"force-publish", 0, 0, G_OPTION_ARG_NONE, &a->force_publish,
         "With --publish: send images even when Glance has them already; replace volumes", NULL},
        {"dry-run", 'n', 0, G_OPTION_ARG_NONE, &a->dry_run,
         "Check the recipe, print the plan (stages, cache, targets and their files); start "
         "nothing",
         NULL},
        {"no-sync", 0, 0, G_OPTION_ARG_NONE, &a->no_sync,
         "Do not flush images to stable storage before naming them (faster, less safe)", NULL},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &a->quiet, "Only errors and the final list", NULL},
        {"verbose", 'v', 0, G_OPTION_ARG_NONE, &a->verbose,
         "Also show the installer's serial console live", NULL},
        {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &a->c.rest, NULL, NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    int rc = vmf_cli_parse(&help, entries, NULL, argc, argv);
    if (rc)
        return rc;
    if (!a->c.rest || !a->c.rest[0]) {
        vmf_error(CMD, "give a recipe, or several (usage: vmforge build RECIPE... [-o DIR])");
        return VMF_EXIT_USAGE;
    }
    if (a->hosts && a->connects) {
        vmf_error(CMD, "--hosts and --connect exclude each other (hosts.yaml lists the URIs)");
        return VMF_EXIT_USAGE;
    }
    if (a->jobs < 0 || a->jobs > 1024) {
        vmf_error(CMD, "--jobs %d: expected a number of builds from 1 to 1024", a->jobs);
        return VMF_EXIT_USAGE;
    }
    a->c.uri = a->connects ? g_strdup(a->connects[0]) : NULL;
    if (a->force_publish && !a->publish) {
        vmf_error(CMD, "--force-publish goes with --publish");
        return VMF_EXIT_USAGE;
    }
    if (a->quiet && a->verbose) {
        vmf_error(CMD, "--quiet and --verbose exclude each other");
        return VMF_EXIT_USAGE;
    }
    return VMF_EXIT_OK;
}

static int build_fleet(Args *a, const VmfBuildOptions *o)
{
    VmfFleetOptions fo = {
        .recipes = a->c.rest,
        .hosts_file = a->hosts,
        .uris = a->connects,
        .jobs = (unsigned)a->jobs,
        .build = *o,
        .publish = a->publish,
        .force_publish = a->force_publish,
    };
    return vmf_fleet(&fo);
}

/* After the build: each target's publish: (--publish). */
static int publish_built(Args *a, const VmfBuildOptions *o)
{
    g_autofree char *outdir = g_canonicalize_filename(a->c.outdir ? a->c.outdir : ".", NULL);
    g_autofree char *report = g_build_filename(outdir, "report.json", NULL);
    VmfPublishBuild pb = {
        .recipe = o->recipe,
        .vars = o->vars,
        .only = o->only,
        .report = report,
        .force = a->force_publish,
        .progress = a->quiet ? VMF_PROGRESS_QUIET : VMF_PROGRESS_AUTO,
    };
    vmf_fleet_link_stage("publish");
    return vmf_publish_build(&pb);
}

int vmf_cmd_build(int argc, char **argv)
{
    g_auto(Args) a = {0};
    int rc = parse(&a, &argc, &argv);
    if (rc)
        return rc;
    VmfBuildOptions o = {
        .recipe = a.c.rest[0],
        .vars = a.c.vars,
        .outdir = a.c.outdir,
        .only = a.only,
        .accel = vmf_cli_accel(CMD, a.c.accel),
        .uri = a.c.uri,
        .pool = a.c.pool,
        .remote_dir = a.c.remote_dir,
        .cache_dir = a.c.cache,
        .keep_failed = a.keep_failed,
        .rebuild = a.rebuild,
        .json = a.json,
        .dry_run = a.dry_run,
        .no_sync = a.no_sync,
        .verbosity = a.quiet     ? -1
                     : a.verbose ? 1
                                 : 0,
    };
    if (!o.accel)
        return VMF_EXIT_USAGE;
    bool fleet = a.c.rest[1] || a.hosts || (a.connects && a.connects[1]);
    for (char **r = a.c.rest; a.publish && !a.dry_run && *r; r++)
        if ((rc = vmf_publish_build_check(*r, o.vars, o.only)))
            return rc;
    if (fleet)
        return build_fleet(&a, &o);
    rc = vmf_build(&o);
    if (rc || !a.publish || a.dry_run)
        return rc;
    return publish_built(&a, &o);
}
