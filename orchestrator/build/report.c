/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "report.h"

#include "vmforge-config.h"

#include <json-glib/json-glib.h>

static void report_versions(JsonBuilder *b, const VmfReport *r)
{
    json_builder_set_member_name(b, "versions");
    json_builder_begin_object(b);
    vmf_json_str(b, "vmforge", VMFORGE_VERSION);
    vmf_json_str(b, "libvirt", r->libvirt_version);
    vmf_json_str(b, "qemu", r->qemu_version);
    vmf_json_str(b, "libguestfs", r->libguestfs_version);
    json_builder_end_object(b);
}

/* The base: image the disk was made from (instead of an install). */
static void report_image(JsonBuilder *b, const VmfReport *r)
{
    const VmfImportSource *s = r->image;
    json_builder_set_member_name(b, "image");
    json_builder_begin_object(b);
    vmf_json_str(b, "path", r->recipe->base_image);
    vmf_json_str(b, "format", s->image->format);
    vmf_json_str(b, "sha256", s->digests[0]);
    vmf_json_int(b, "virtual_size", s->image->size);
    json_builder_set_member_name(b, "backing_files");
    json_builder_begin_array(b);
    for (guint i = 1; s->files[i]; i++) {
        json_builder_begin_object(b);
        vmf_json_str(b, "path", s->files[i]);
        vmf_json_str(b, "sha256", s->digests[i]);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
}

static void report_base_disk(JsonBuilder *b, const VmfReport *r)
{
    json_builder_set_member_name(b, "base_disk");
    json_builder_begin_object(b);
    vmf_json_str(b, "cache_key", r->cache_key);
    vmf_json_str(b, "cache", r->cache_status);
    vmf_json_str(b, "path", r->base_disk);
    vmf_json_int(b, "virtual_size", r->disk_size);
    vmf_json_int(b, "data_bytes", r->data_bytes);
    json_builder_set_member_name(b, "hepix_checked");
    json_builder_add_boolean_value(b, r->hepix);
    vmf_json_str(b, "firmware", vmf_firmware_name(r->recipe->firmware));
    if (r->image)
        report_image(b, r);
    json_builder_end_object(b);
}

/* The libvirt host: its URI, the pool, the volume data sent and received. */
static void report_host(JsonBuilder *b, const VmfReport *r)
{
    if (!r->host)
        return;
    json_builder_set_member_name(b, "host");
    json_builder_begin_object(b);
    vmf_json_str(b, "uri", r->host->uri);
    vmf_json_str(b, "pool", r->host->pool);
    vmf_json_int(b, "bytes_sent", r->host->bytes_sent);
    vmf_json_int(b, "bytes_received", r->host->bytes_received);
    vmf_json_str(b, "installed_sha256", r->host->disk_sha256);
    json_builder_end_object(b);
}

static void report_stages(JsonBuilder *b, const VmfReport *r)
{
    json_builder_set_member_name(b, "stages");
    json_builder_begin_array(b);
    for (guint i = 0; r->stages && i < r->stages->len; i++) {
        const VmfStageTime *s = &g_array_index(r->stages, VmfStageTime, i);
        json_builder_begin_object(b);
        vmf_json_str(b, "name", s->name);
        vmf_json_str(b, "status", s->status);
        vmf_json_ms(b, "milliseconds", s->seconds);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

static void report_artefacts(JsonBuilder *b, const VmfReport *r)
{
    json_builder_set_member_name(b, "artefacts");
    json_builder_begin_array(b);
    for (guint i = 0; r->artefacts && i < r->artefacts->len; i++) {
        const VmfBuildArtefact *a = &g_array_index(r->artefacts, VmfBuildArtefact, i);
        json_builder_begin_object(b);
        vmf_json_str(b, "target", a->target);
        vmf_json_str(b, "path", a->path);
        vmf_json_str(b, "format", a->format);
        if (a->spec) {
            vmf_json_str(b, "spec", a->spec);
            vmf_json_int(b, "virtual_size", a->virtual_size);
        }
        vmf_json_int(b, "file_size", a->file_size);
        vmf_json_str(b, "sha256", a->sha256);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

char *vmf_report_json(const VmfReport *r)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    vmf_json_int(b, "report_format", VMF_REPORT_FORMAT);
    json_builder_set_member_name(b, "recipe");
    json_builder_begin_object(b);
    vmf_json_str(b, "path", r->recipe->path);
    vmf_json_str(b, "name", r->recipe->name);
    vmf_json_str(b, "version", r->recipe->version);
    vmf_json_str(b, "sha256", r->recipe->sha256);
    json_builder_end_object(b);
    report_versions(b, r);
    vmf_json_str(b, "accel", r->accel);
    g_autofree char *started = g_date_time_format_iso8601(r->started);
    vmf_json_str(b, "started", started);
    vmf_json_ms(b, "milliseconds", r->seconds);
    vmf_json_str(b, "output_dir", r->outdir);
    report_host(b, r);
    report_base_disk(b, r);
    report_stages(b, r);
    report_artefacts(b, r);
    json_builder_end_object(b);
    return vmf_json_text(b);
}
