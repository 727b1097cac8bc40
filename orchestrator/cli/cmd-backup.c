/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd-backup.c — `vmforge backup DOMAIN`: images and an OVA of an existing
 * libvirt domain, running or shut off (see backup.h).
 */
#include "backup/backup.h"
#include "commands.h"
#include "util/exit-codes.h"

#include <stdio.h>

#define CMD "backup"

typedef struct {
    VmfCliArgs c;
    char **to;
    char *profile, *overlay_dir;
    gboolean generalize, no_quiesce, force, json, quiet, no_sync;
} Args;

static void args_clear(Args *a)
{
    vmf_cli_args_clear(&a->c);
    g_strfreev(a->to);
    g_free(a->profile);
    g_free(a->overlay_dir);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Args, args_clear)

static const VmfCliHelp help = {
    .name = CMD,
    .params = "DOMAIN",
    .summary = "Back up a libvirt domain, running or shut off, as images and an OVF appliance\n"
               "that describes it (vCPUs, memory, firmware, each disk on its bus, each NIC with\n"
               "its model and MAC). A shut-off domain's disks (raw, or qcow2 chains) are read\n"
               "where they are. A running domain keeps running: a disk-only external snapshot\n"
               "(quiesced when the QEMU guest agent answers, else crash-consistent) freezes its\n"
               "disks, they are read once for every format, then the writes made meanwhile are\n"
               "committed back (block commit with pivot) and the overlays removed. If that\n"
               "cannot be done, the exact virsh commands that do it are printed.",
    .description =
        "Output: DIR/NAME-TARGET.EXT per disk and format (web-vda.qcow2), DIR/NAME.ova,\n"
        "DIR/NAME.xml (the domain's definition), DIR/NAME.report.json (docs/report.md).\n"
        "Nothing appears under a final name unless the whole backup succeeded.\n"
        "Examples:\n"
        "  vmforge backup web1 --to ova,qcow2 -o /srv/backup/web1\n"
        "  vmforge backup web1 --to ova --profile vmware --generalize -o golden/\n\n"
        "Environment:\n"
        "  VMFORGE_ACCEL      default --accel\n"
        "  SOURCE_DATE_EPOCH  timestamp in formats that record one (default "
        "0)\n\n" VMF_EXIT_CODES_HELP,
};

static int parse(Args *a, int *argc, char ***argv)
{
    const GOptionEntry entries[] = {
        {"to", 't', 0, G_OPTION_ARG_STRING_ARRAY, &a->to,
         "Formats, comma-separated: qcow2, vmdk, vdi, vhd, raw, raw.gz (one file per disk each) "
         "and ova (one appliance with every disk); each may take :KEY=VALUE options as in "
         "vmforge convert (default: qcow2)",
         "F1,F2"},
        {"profile", 'p', 0, G_OPTION_ARG_STRING, &a->profile,
         "Hardware profile of the OVA: generic, vmware, virtualbox (default: generic)", "NAME"},
        {"output", 'o', 0, G_OPTION_ARG_FILENAME, &a->c.outdir,
         "Folder for the images, NAME.xml and NAME.report.json; created when missing "
         "(default: .)",
         "DIR"},
        {"connect", 'c', 0, G_OPTION_ARG_STRING, &a->c.uri,
         "libvirt URI (default: $LIBVIRT_DEFAULT_URI, qemu:///system as root)", "URI"},
        {"generalize", 0, 0, G_OPTION_ARG_NONE, &a->generalize,
         "Run the default sysprep set (machine-id, SSH host keys, logs, history, tmp, DHCP "
         "leases, net rules, random seed, package cache) on the backup's copy; the domain's "
         "own disks are only read",
         NULL},
        {"accel", 0, 0, G_OPTION_ARG_STRING, &a->c.accel,
         "Accelerator of the libguestfs appliance for --generalize: auto, kvm or tcg (default: "
         "$VMFORGE_ACCEL or auto)",
         "auto|kvm|tcg"},
        {"no-quiesce", 0, 0, G_OPTION_ARG_NONE, &a->no_quiesce,
         "Do not ask the QEMU guest agent to freeze the file systems (the snapshot is then "
         "crash-consistent)",
         NULL},
        {"overlay-dir", 0, 0, G_OPTION_ARG_FILENAME, &a->overlay_dir,
         "Where a running domain's snapshot overlays go while it is backed up (default: beside "
         "each disk; the output folder for block devices)",
         "DIR"},
        {"force", 'f', 0, G_OPTION_ARG_NONE, &a->force, "Replace output files that exist", NULL},
        {"json", 0, 0, G_OPTION_ARG_NONE, &a->json, "Print NAME.report.json on standard output",
         NULL},
        {"no-sync", 0, 0, G_OPTION_ARG_NONE, &a->no_sync,
         "Do not flush images to stable storage before naming them (faster, less safe)", NULL},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &a->quiet, "Only errors and the final list", NULL},
        {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &a->c.rest, NULL, NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    int rc = vmf_cli_parse(&help, entries, NULL, argc, argv);
    if (rc == VMF_EXIT_OK && (!a->c.rest || !a->c.rest[0] || a->c.rest[1])) {
        vmf_error(CMD, "give exactly one domain (usage: vmforge backup DOMAIN --to FORMATS "
                       "[-o DIR])");
        rc = VMF_EXIT_USAGE;
    }
    return rc;
}

int vmf_cmd_backup(int argc, char **argv)
{
    g_auto(Args) a = {0};
    int rc = parse(&a, &argc, &argv);
    if (rc)
        return rc;
    VmfBackupOptions o = {
        .domain = a.c.rest[0],
        .uri = a.c.uri,
        .formats = a.to,
        .profile = a.profile,
        .outdir = a.c.outdir,
        .overlay_dir = a.overlay_dir,
        .accel = vmf_cli_accel(CMD, a.c.accel),
        .generalize = a.generalize,
        .no_quiesce = a.no_quiesce,
        .force = a.force,
        .no_sync = a.no_sync,
        .json = a.json,
        .progress = a.quiet ? VMF_PROGRESS_QUIET : VMF_PROGRESS_AUTO,
    };
    if (!o.accel)
        return VMF_EXIT_USAGE;
    return vmf_backup(&o);
}
