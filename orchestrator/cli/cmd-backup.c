/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd-backup.c — `vmforge backup DOMAIN`: images and an OVA of an existing
 * libvirt domain, running or shut off (see backup.h).
 */
#include "backup/backup.h"
#include "commands.h"
#include "util/exit-codes.h"

#include <stdio.h>
#include <string.h>

#define CMD "backup"

typedef struct {
    VmfCliArgs c;
    char **to;
    char *profile, *scratch_dir, *pool, *remote_dir, *method, *incremental;
    int prune;
    gboolean generalize, no_quiesce, force, json, quiet, no_sync, incremental_only, dry_run;
} Args;

static void args_clear(Args *a)
{
    vmf_cli_args_clear(&a->c);
    g_strfreev(a->to);
    g_free(a->profile);
    g_free(a->scratch_dir);
    g_free(a->pool);
    g_free(a->remote_dir);
    g_free(a->method);
    g_free(a->incremental);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Args, args_clear)

static const VmfCliHelp help = {
    .name = CMD,
    .params = "DOMAIN  |  --prune KEEP DIR...",
    .summary =
        "Back up a libvirt domain, running or shut off, on this host or another, as images\n"
        "and an OVF appliance that describes it (vCPUs, memory, firmware, each disk on its\n"
        "bus, each NIC with its model and MAC).\n\n"
        "A running domain is copied by libvirt's backup API (libvirt >= 7.2 with QEMU's\n"
        "blockdev): a push job writes a point-in-time view of each writable disk into a\n"
        "qcow2 target in a pool on the domain's host while the domain stays on its own\n"
        "disks (quiesced when the QEMU guest agent answers, else crash-consistent); the\n"
        "targets are read here once for every format (downloaded with sparse streams\n"
        "from a remote host) and deleted. Ctrl-C, an error or a lost connection abort the\n"
        "job and remove its targets. Each such backup also makes a checkpoint (a dirty\n"
        "bitmap in each qcow2 disk): --incremental DIR then copies only the clusters\n"
        "changed since the backup in DIR, as a qcow2 whose backing file is DIR's qcow2\n"
        "(a relative name: move the folders together). Every backup is an image that\n"
        "qemu-img and vmforge convert open as the disk at its time. Raw disks have no\n"
        "bitmaps and are copied whole.\n\n"
        "Without the backup API (or with --method snapshot) a disk-only snapshot freezes\n"
        "the disks, they are read, and a block commit with pivot puts the domain back on\n"
        "its own disks (the exact virsh commands are printed if that cannot be done).\n"
        "A shut-off domain's disks (raw, or qcow2 chains) are read where they are (on\n"
        "this host only).",
    .description =
        "Output: DIR/NAME-TARGET.EXT per disk and format (web-vda.qcow2), DIR/NAME.ova,\n"
        "DIR/NAME.xml (the domain's definition), DIR/NAME.report.json (docs/report.md).\n"
        "Nothing appears under a final name unless the whole backup succeeded.\n"
        "NAME.report.json records the backup's checkpoint and, for an incremental one, its\n"
        "parent folder.\n\n"
        "--prune KEEP DIR... keeps the KEEP newest of the backup folders DIR (of one\n"
        "domain) and every folder they build on; the others are removed with their\n"
        "checkpoints on the domain (libvirt merges a deleted checkpoint's bitmap into its\n"
        "parent, so younger backups stay incremental).\n\n"
        "Examples:\n"
        "  vmforge backup web1 --to qcow2,ova -o /srv/backup/web1/2026-12-01\n"
        "  vmforge backup web1 --incremental /srv/backup/web1/2026-12-01 \\\n"
        "      -o /srv/backup/web1/2026-12-02\n"
        "  vmforge backup web1 --connect qemu+ssh://root@kvm7/system --to ova -o out/\n"
        "  vmforge backup --prune 7 /srv/backup/web1/*\n"
        "  vmforge backup web1 --to ova --profile vmware --generalize -o golden/\n\n"
        "Environment:\n"
        "  VMFORGE_ACCEL      default --accel\n"
        "  SOURCE_DATE_EPOCH  timestamp in formats that record one (default "
        "0)\n\n" VMF_EXIT_CODES_HELP,
};

/* What the options say together. */
static int check_args(const Args *a)
{
    bool none = !a->c.rest || !a->c.rest[0];
    if (a->prune) {
        if (a->prune < 0 || none) {
            vmf_error(CMD, "usage: vmforge backup --prune KEEP DIR... (KEEP at least 1)");
            return VMF_EXIT_USAGE;
        }
        return VMF_EXIT_OK;
    }
    if (a->dry_run) {
        vmf_error(CMD, "--dry-run goes with --prune");
        return VMF_EXIT_USAGE;
    }
    if (a->incremental_only && !a->incremental) {
        vmf_error(CMD, "--incremental-only goes with --incremental DIR");
        return VMF_EXIT_USAGE;
    }
    if (a->method && strcmp(a->method, "auto") && strcmp(a->method, "api") &&
        strcmp(a->method, "snapshot")) {
        vmf_error(CMD, "--method %s: give auto, api or snapshot", a->method);
        return VMF_EXIT_USAGE;
    }
    if (a->pool && a->remote_dir) {
        vmf_error(CMD, "--pool and --remote-dir both say where the targets go: give one");
        return VMF_EXIT_USAGE;
    }
    if (none || a->c.rest[1]) {
        vmf_error(CMD, "give exactly one domain (usage: vmforge backup DOMAIN --to FORMATS "
                       "[-o DIR], or vmforge backup --prune KEEP DIR...)");
        return VMF_EXIT_USAGE;
    }
    return VMF_EXIT_OK;
}

static int parse(Args *a, int *argc, char ***argv)
{
    const GOptionEntry entries[] = {
        {"to", 't', 0, G_OPTION_ARG_STRING_ARRAY, &a->to,
         "Formats, comma-separated: qcow2, vmdk, vdi, vhd, vhdx, raw, raw.gz (one file per disk "
         "each) and ova (one appliance with every disk); each may take :KEY=VALUE options as in "
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
         "Do not ask the QEMU guest agent to freeze the file systems (the backup is then "
         "crash-consistent)",
         NULL},
        {"incremental", 'i', 0, G_OPTION_ARG_FILENAME, &a->incremental,
         "Copy only what changed since the backup in DIR (its checkpoint), as a qcow2 on DIR's "
         "qcow2; when that checkpoint is gone, say so and take a full backup",
         "DIR"},
        {"incremental-only", 0, 0, G_OPTION_ARG_NONE, &a->incremental_only,
         "With --incremental: fail rather than take a full backup", NULL},
        {"method", 0, 0, G_OPTION_ARG_STRING, &a->method,
         "How a running domain is copied: api (libvirt's backup API), snapshot (snapshot, read, "
         "block commit; this host only), auto: api when the host has it (default)",
         "auto|api|snapshot"},
        {"pool", 0, 0, G_OPTION_ARG_STRING, &a->pool,
         "The host's storage pool for the backup job's targets (default for a remote URI: "
         "default)",
         "NAME"},
        {"remote-dir", 0, 0, G_OPTION_ARG_STRING, &a->remote_dir,
         "Instead of --pool: a pool of vmforge's own under this folder of the host, removed "
         "afterwards",
         "DIR"},
        {"scratch-dir", 0, 0, G_OPTION_ARG_FILENAME, &a->scratch_dir,
         "On this host: where the backup job's targets go (default: the output folder), or "
         "with --method snapshot the overlays (default: beside each disk)",
         "DIR"},
        {"overlay-dir", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &a->scratch_dir,
         "Old name of --scratch-dir", "DIR"},
        {"prune", 0, 0, G_OPTION_ARG_INT, &a->prune,
         "Keep the KEEP newest backups of the folders given (and what they build on); remove "
         "the others and their checkpoints",
         "KEEP"},
        {"dry-run", 'n', 0, G_OPTION_ARG_NONE, &a->dry_run,
         "With --prune: say what would be removed, remove nothing", NULL},
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
    return rc ? rc : check_args(a);
}

int vmf_cmd_backup(int argc, char **argv)
{
    g_auto(Args) a = {0};
    int rc = parse(&a, &argc, &argv);
    if (rc)
        return rc;
    if (a.prune) {
        VmfBackupPruneOptions po = {
            .keep = (unsigned)a.prune,
            .dirs = a.c.rest,
            .uri = a.c.uri,
            .dry_run = a.dry_run,
            .progress = a.quiet ? VMF_PROGRESS_QUIET : VMF_PROGRESS_AUTO,
        };
        return vmf_backup_prune(&po);
    }
    VmfBackupOptions o = {
        .domain = a.c.rest[0],
        .uri = a.c.uri,
        .formats = a.to,
        .profile = a.profile,
        .outdir = a.c.outdir,
        .scratch_dir = a.scratch_dir,
        .pool = a.pool,
        .remote_dir = a.remote_dir,
        .method = a.method && strcmp(a.method, "auto") ? a.method : NULL,
        .incremental = a.incremental,
        .incremental_only = a.incremental_only,
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
