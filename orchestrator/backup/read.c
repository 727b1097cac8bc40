/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "job.h"

#include "customize/customize.h"
#include "formats/qcow2-read.h"
#include "guestfs/guest.h"
#include "util/exit-codes.h"
#include "util/json.h"
#include "util/signals.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

/* Opens what each disk is read from (the frozen chain, or the generalize
 * overlay on it), once, for the OVF plan and the convert. A raw disk is read
 * as raw even if the guest wrote a qcow2 header in it; a qcow2 one (or the
 * generalize overlay) must be qcow2. */
int backup_open_sources(Backup *b, GError **error)
{
    for (guint i = 0; i < b->disks->len; i++) {
        Disk *d = &g_array_index(b->disks, Disk, i);
        bool raw = strcmp(d->format, "raw") == 0 && strcmp(d->read_path, d->path) == 0;
        if (vf_source_open(d->read_path, raw ? VF_SOURCE_ASSUME_RAW : 0, &d->src, error) < 0)
            return -EIO;
        if (!raw && !d->src->qcow2) {
            g_set_error(error, VF_ERROR, VF_ERROR_INPUT,
                        "%s: libvirt says disk %s is qcow2, but it is not a qcow2 image",
                        d->read_path, d->d->target);
            return -EINVAL;
        }
        if (d->src->qcow2) {
            g_autofree char *desc = vf_qcow2_describe(d->src->qcow2);
            d->chain = g_strdup_printf("qcow2: %s", desc);
        } else {
            d->chain = g_strdup_printf("raw: %s", d->read_path);
        }
    }
    return 0;
}

void backup_add_artefact(Backup *b, const char *disk, const char *file, const char *format,
                         const char *spec, uint64_t vsize, uint64_t fsize, const char *sha256)
{
    JsonBuilder *j = b->report_arts;
    json_builder_begin_object(j);
    g_autofree char *path = g_build_filename(b->outdir, file, NULL);
    vmf_json_str(j, "path", path);
    vmf_json_str(j, "disk", disk);
    vmf_json_str(j, "format", format);
    vmf_json_str(j, "spec", spec);
    if (vsize)
        vmf_json_int(j, "virtual_size", vsize);
    vmf_json_int(j, "file_size", fsize);
    vmf_json_str(j, "sha256", sha256);
    json_builder_end_object(j);
}

/* The incremental qcow2 of disk `d` as it came from the host: it holds
 * the clusters changed since its parent, whose qcow2 is its backing file. */
static void add_incremental(Backup *b, Disk *d)
{
    g_autofree char *file = backup_output_name(b, d, &vf_writer_qcow2);
    GStatBuf st;
    uint64_t size = g_stat(d->part, &st) == 0 ? (uint64_t)st.st_size : 0;
    g_autofree char *spec = g_strdup_printf("qcow2:backing=%s", d->backing_name);
    backup_add_artefact(b, d->d->target, file, "qcow2", spec, d->capacity, size, d->part_sha256);
    g_autofree char *ssize = vf_format_size(size);
    say(b, "%s: incremental qcow2 of %s on %s", d->d->target, ssize, d->backing_name);
}

static int convert_disks(Backup *b, VfOvaAppliance *app, int64_t timestamp, GError **error)
{
    for (guint i = 0; i < b->disks->len; i++) {
        Disk *d = &g_array_index(b->disks, Disk, i);
        g_autoptr(GArray) outs = g_array_new(false, true, sizeof(VfOutputSpec));
        g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
        VfOvaDiskRef ref = {.appliance = app, .index = i};
        for (guint s = 0; s < b->outs->len; s++) {
            const Output *out = &g_array_index(b->outs, Output, s);
            if (d->incremental && out->ops == &vf_writer_qcow2)
                continue; /* the job's target is that qcow2 (add_incremental) */
            VfOutputSpec o = {.ops = out->ops, .options = out->options};
            if (out->ops == &vf_writer_ova) {
                o.ops = &vf_writer_ova_disk;
                o.extra = &ref;
            } else {
                g_autofree char *name = backup_output_name(b, d, out->ops);
                o.path = g_build_filename(b->staging, name, NULL);
                g_ptr_array_add(paths, (char *)o.path);
            }
            g_array_append_val(outs, o);
        }
        if (d->incremental)
            add_incremental(b, d);
        if (outs->len == 0)
            continue;
        g_autofree char *size = vf_format_size(d->src->size);
        say(b, "reading %s (%s, %s): %s", d->d->target, d->d->bus ? d->d->bus : "?", size,
            d->chain);
        g_autofree char *label = g_strdup_printf("read %s", d->d->target);
        g_autoptr(VmfProgress) bar = vmf_progress_new(label, b->mode);
        VfConvertOptions copts = {
            .sink_flags = b->o->no_sync ? VF_SINK_NO_SYNC : 0,
            .timestamp = timestamp,
            .cancel = &vmf_interrupted,
            .progress = vmf_convert_progress,
            .progress_data = bar,
        };
        GArray *arts = NULL;
        gint64 t0 = g_get_monotonic_time();
        if (vf_convert(d->src, (VfOutputSpec *)outs->data, outs->len, &copts, &arts, error) < 0) {
            vmf_progress_end(bar, "failed");
            return vmf_convert_exit_code(*error);
        }
        double secs = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
        g_autofree char *summary = g_strdup_printf("%.1f s", secs);
        vmf_progress_end(bar, summary);
        for (guint a = 0; a < arts->len; a++) {
            const VfArtefact *x = &g_array_index(arts, VfArtefact, a);
            if (!x->path)
                continue; /* the OVA's disk: the appliance is reported once */
            g_autofree char *file = g_path_get_basename(x->path);
            backup_add_artefact(b, d->d->target, file, x->format, x->spec, x->virtual_size,
                                x->file_size, x->sha256);
        }
        g_array_unref(arts);
    }
    return VMF_EXIT_OK;
}

int backup_generalize(Backup *b, GError **error)
{
    g_autoptr(GPtrArray) overlays = g_ptr_array_new();
    for (guint i = 0; i < b->disks->len; i++) {
        Disk *d = &g_array_index(b->disks, Disk, i);
        g_autofree char *name = g_strdup_printf(".generalize-%s.qcow2", d->d->target);
        g_autofree char *path = g_build_filename(b->staging, name, NULL);
        bool own = strcmp(d->read_path, d->path) == 0; /* else the job's target */
        if (vmf_guest_overlay_create(path, d->read_path, own ? d->format : "qcow2", error) < 0)
            return VMF_EXIT_OUTPUT;
        g_free(d->read_path);
        d->read_path = g_steal_pointer(&path);
        g_ptr_array_add(overlays, d->read_path);
    }
    g_ptr_array_add(overlays, NULL);
    g_autofree char *logname = g_strdup_printf("%s-generalize.log", b->name);
    g_autofree char *log = g_build_filename(b->staging, logname, NULL);
    say(b, "generalizing the backup's copy (sysprep on overlays; %s's own disks are only read)",
        b->name);
    return vmf_generalize((const char *const *)overlays->pdata, b->o->accel, log,
                          b->mode == VMF_PROGRESS_QUIET, error);
}

/* The OVF's disks (each on its bus's controller in the profile) and NICs,
 * shown as they are mapped. */
static VfOvfDisk *ovf_hardware(Backup *b, const VfOvfProfile *profile)
{
    VfOvfDisk *odisks = g_new0(VfOvfDisk, b->disks->len);
    for (guint i = 0; i < b->disks->len; i++) {
        Disk *d = &g_array_index(b->disks, Disk, i);
        odisks[i] = (VfOvfDisk){.href = "disk",
                                .capacity = VF_ROUND_UP(d->src->size, VF_SECTOR_SIZE),
                                .bus = d->d->bus,
                                .label = d->d->target};
        const VfOvfController *c = vf_ovf_profile_controller(profile, d->d->bus);
        say(b, "OVF: disk %s (%s) on %s (%s)", d->d->target, d->d->bus ? d->d->bus : "?", c->name,
            c->subtype);
    }
    b->ovf_nics = g_new0(VfOvfNic, b->info->nics->len + 1);
    for (guint i = 0; i < b->info->nics->len; i++) {
        const VmfDomainNic *n = g_ptr_array_index(b->info->nics, i);
        b->ovf_nics[i] = (VfOvfNic){.model = n->model, .mac = n->mac, .network = n->network};
        say(b, "OVF: NIC %s (%s) → %s", n->mac ? n->mac : "?", n->model ? n->model : "?",
            vf_ovf_profile_nic(profile, n->model));
    }
    return odisks;
}

/* NAME.ova in the staging folder, its descriptor made from the domain. */
static int open_appliance(Backup *b, const VfOvfProfile *profile, int64_t timestamp,
                          VfOvaAppliance **app, GError **error)
{
    g_autofree VfOvfDisk *odisks = ovf_hardware(b, profile);
    g_autofree char *file = backup_output_name(b, NULL, &vf_writer_ova);
    g_autofree char *path = g_build_filename(b->staging, file, NULL);
    VfOvaApplianceParams ap = {
        .profile = profile,
        .ovf = {.vcpus = b->info->vcpus,
                .memory_mib = MAX(b->info->memory >> 20, 1),
                .disks = odisks,
                .n_disks = b->disks->len,
                .nics = b->ovf_nics,
                .n_nics = b->info->nics->len,
                .nics_given = true,
                .firmware = b->info->firmware,
                .product = b->name},
        .timestamp = timestamp,
        .sink_flags = b->o->no_sync ? VF_SINK_NO_SYNC : 0,
        .cancel = &vmf_interrupted,
    };
    return vf_ova_appliance_open(path, &ap, app, error) < 0 ? VMF_EXIT_OUTPUT : VMF_EXIT_OK;
}

int backup_read_disks(Backup *b, const VfOvfProfile *profile, int64_t timestamp, GError **error)
{
    g_autoptr(VfOvaAppliance) app = NULL;
    if (b->want_ova && !vmf_interrupted) {
        int rc = open_appliance(b, profile, timestamp, &app, error);
        if (rc)
            return rc;
    }
    b->report_arts = json_builder_new();
    json_builder_begin_array(b->report_arts);
    int rc = vmf_interrupted ? vmf_signals_exit_code() : convert_disks(b, app, timestamp, error);
    if (rc != VMF_EXIT_OK || !app)
        return rc;
    if (vf_ova_appliance_commit(app, error) < 0)
        return VMF_EXIT_OUTPUT;
    g_autofree char *file = backup_output_name(b, NULL, &vf_writer_ova);
    backup_add_artefact(b, NULL, file, "ova", b->o->profile ? b->o->profile : "generic", 0,
                        vf_ova_appliance_size(app), vf_ova_appliance_sha256(app));
    return VMF_EXIT_OK;
}
