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

int vmf_cmd_backup(int argc, char **argv)
{
    g_auto(GStrv) rest = NULL;
    g_auto(GStrv) to = NULL;
    g_autofree char *outdir = NULL, *profile = NULL, *accel = NULL, *uri = NULL,
                    *overlay_dir = NULL;
    gboolean generalize = FALSE, no_quiesce = FALSE, force = FALSE, json = FALSE, quiet = FALSE,
             no_sync = FALSE;
    GOptionEntry entries[] = {
        {"to", 't', 0, G_OPTION_ARG_STRING_ARRAY, &to,
         "Formats, comma-separated: qcow2, vmdk, vdi, vhd, raw, raw.gz (one file per disk each) "
         "and ova (one appliance with every disk); each may take :KEY=VALUE options as in "
         "vmforge convert (default: qcow2)",
         "F1,F2"},
        {"profile", 'p', 0, G_OPTION_ARG_STRING, &profile,
         "Hardware profile of the OVA: generic, vmware, virtualbox (default: generic)", "NAME"},
        {"output", 'o', 0, G_OPTION_ARG_FILENAME, &outdir,
         "Folder for the images, NAME.xml and NAME.report.json; created when missing "
         "(default: .)",
         "DIR"},
        {"connect", 'c', 0, G_OPTION_ARG_STRING, &uri,
         "libvirt URI (default: $LIBVIRT_DEFAULT_URI, qemu:///system as root)", "URI"},
        {"generalize", 0, 0, G_OPTION_ARG_NONE, &generalize,
         "Run the default sysprep set (machine-id, SSH host keys, logs, history, tmp, DHCP "
         "leases, net rules, random seed, package cache) on the backup's copy; the domain's "
         "own disks are only read",
         NULL},
        {"accel", 0, 0, G_OPTION_ARG_STRING, &accel,
         "Accelerator of the libguestfs appliance for --generalize: auto, kvm or tcg (default: "
         "$VMFORGE_ACCEL or auto)",
         "auto|kvm|tcg"},
        {"no-quiesce", 0, 0, G_OPTION_ARG_NONE, &no_quiesce,
         "Do not ask the QEMU guest agent to freeze the file systems (the snapshot is then "
         "crash-consistent)",
         NULL},
        {"overlay-dir", 0, 0, G_OPTION_ARG_FILENAME, &overlay_dir,
         "Where a running domain's snapshot overlays go while it is backed up (default: beside "
         "each disk; the output folder for block devices)",
         "DIR"},
        {"force", 'f', 0, G_OPTION_ARG_NONE, &force, "Replace output files that exist", NULL},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print NAME.report.json on standard output", NULL},
        {"no-sync", 0, 0, G_OPTION_ARG_NONE, &no_sync,
         "Do not flush images to stable storage before naming them (faster, less safe)", NULL},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Only errors and the final list", NULL},
        {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &rest, NULL, NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("DOMAIN");
    g_option_context_set_summary(
        ctx, "Back up a libvirt domain, running or shut off, as images and an OVF appliance\n"
             "that describes it (vCPUs, memory, firmware, each disk on its bus, each NIC with\n"
             "its model and MAC). A shut-off domain's disks (raw, or qcow2 chains) are read\n"
             "where they are. A running domain keeps running: a disk-only external snapshot\n"
             "(quiesced when the QEMU guest agent answers, else crash-consistent) freezes its\n"
             "disks, they are read once for every format, then the writes made meanwhile are\n"
             "committed back (block commit with pivot) and the overlays removed. If that\n"
             "cannot be done, the exact virsh commands that do it are printed.");
    g_option_context_set_description(
        ctx, "Output: DIR/NAME-TARGET.EXT per disk and format (web-vda.qcow2), DIR/NAME.ova,\n"
             "DIR/NAME.xml (the domain's definition), DIR/NAME.report.json (docs/report.md).\n"
             "Nothing appears under a final name unless the whole backup succeeded.\n"
             "Examples:\n"
             "  vmforge backup web1 --to ova,qcow2 -o /srv/backup/web1\n"
             "  vmforge backup web1 --to ova --profile vmware --generalize -o golden/\n\n"
             "Environment:\n"
             "  VMFORGE_ACCEL      default --accel\n"
             "  SOURCE_DATE_EPOCH  timestamp in formats that record one (default "
             "0)\n\n" VMF_EXIT_CODES_HELP);
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) err = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        vmf_error(CMD, "%s (see vmforge backup --help)", err->message);
        return VMF_EXIT_USAGE;
    }
    if (!rest || !rest[0] || rest[1]) {
        vmf_error(CMD, "give exactly one domain (usage: vmforge backup DOMAIN --to FORMATS "
                       "[-o DIR])");
        return VMF_EXIT_USAGE;
    }
    VmfBackupOptions o = {
        .domain = rest[0],
        .uri = uri,
        .formats = to,
        .profile = profile,
        .outdir = outdir,
        .overlay_dir = overlay_dir,
        .accel = vmf_cli_accel(CMD, accel),
        .generalize = generalize,
        .no_quiesce = no_quiesce,
        .force = force,
        .no_sync = no_sync,
        .json = json,
        .progress = quiet ? VMF_PROGRESS_QUIET : VMF_PROGRESS_AUTO,
    };
    if (!o.accel)
        return VMF_EXIT_USAGE;
    return vmf_backup(&o);
}
