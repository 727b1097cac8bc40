/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "convert.h"

#include "formats/engine.h"
#include "formats/ova.h"
#include "recipe/template.h"
#include "report.h"
#include "util/exit-codes.h"
#include "util/signals.h"
#include "util/util.h"
#include "virt/domain-xml.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/statvfs.h>

G_DEFINE_QUARK(vmf - stage - convert - error - quark, vmf_stage_convert_error)

#define FAIL(code, ...)                                                                            \
    do {                                                                                           \
        g_set_error(error, vmf_stage_convert_error_quark(), (code), __VA_ARGS__);                  \
        return (code);                                                                             \
    } while (0)

/* Room for descriptors, tables and footers beyond the data, per output. */
#define METADATA_SLACK (16ull << 20)

void vmf_build_artefact_clear(void *p)
{
    VmfBuildArtefact *a = p;
    g_free(a->target);
    g_free(a->path);
    g_free(a->format);
    g_free(a->spec);
}

void vmf_convert_result_clear(VmfConvertResult *r)
{
    if (r->artefacts)
        g_array_unref(r->artefacts);
    memset(r, 0, sizeof(*r));
}

static bool compressed(const VmfTarget *t)
{
    return strcmp(t->format, "raw.gz") == 0 || strcmp(t->format, "vmdk") == 0 ||
           strcmp(t->format, "ova") == 0 ||
           (strcmp(t->format, "qcow2") == 0 && !strstr(t->spec, "compress=off"));
}

void vmf_convert_space_needed(const VmfTargets *t, uint64_t data_bytes, uint64_t *at_least,
                              uint64_t *at_most)
{
    *at_least = *at_most = 0;
    for (guint i = 0; i < t->targets->len; i++) {
        const VmfTarget *tg = g_ptr_array_index(t->targets, i);
        *at_most += data_bytes + METADATA_SLACK;
        if (!compressed(tg))
            *at_least += data_bytes;
    }
}

static char *space_text(const char *dir, const VmfTargets *t, uint64_t data_bytes)
{
    struct statvfs vfs;
    uint64_t least, most;
    vmf_convert_space_needed(t, data_bytes, &least, &most);
    g_autofree char *m = vf_format_size(most);
    if (statvfs(dir, &vfs) < 0)
        return g_strdup_printf("the targets need up to %s", m);
    g_autofree char *f = vf_format_size((uint64_t)vfs.f_bavail * vfs.f_frsize);
    return g_strdup_printf("%s has %s free; the targets need up to %s", dir, f, m);
}

/* "libvirt's name" of an image format. */
static const char *libvirt_format(const char *format)
{
    if (strcmp(format, "raw.gz") == 0 || strcmp(format, "raw") == 0)
        return "raw";
    if (strcmp(format, "vhd") == 0)
        return "vpc";
    return format;
}

/* The image's file name once deployed (raw.gz is unpacked to .raw). */
static char *deployed_file(const char *name, const VmfTarget *t)
{
    const char *ext =
        strcmp(t->format, "raw.gz") == 0 ? "raw" : vf_writer_find(t->format)->extension;
    return g_strdup_printf("%s.%s", name, ext);
}

static int add_extra(GArray *arts, const VmfTarget *t, const char *path, const char *format,
                     const char *text, GError **error)
{
    GError *ferr = NULL;
    if (!g_file_set_contents(path, text, -1, &ferr)) {
        g_set_error(error, vmf_stage_convert_error_quark(), VMF_EXIT_OUTPUT, "%s", ferr->message);
        g_error_free(ferr);
        return VMF_EXIT_OUTPUT;
    }
    VmfBuildArtefact a = {
        .target = g_strdup(t->name),
        .path = g_strdup(path),
        .format = g_strdup(format),
        .file_size = strlen(text),
    };
    g_autofree char *d = g_compute_checksum_for_string(G_CHECKSUM_SHA256, text, -1);
    g_strlcpy(a.sha256, d, sizeof(a.sha256));
    g_array_append_val(arts, a);
    return 0;
}

static char *scratch_file(const char *dir, const char *name, const char *ext)
{
    return g_strdup_printf("%s/%s-scratch.%s", dir, name, ext);
}

static char *libvirt_xml(const VmfConvertStage *s, const VmfTarget *t)
{
    const VmfRecipe *r = s->recipe;
    uint64_t scratch = s->targets->scratch_size;
    bool qcow = strcmp(libvirt_format(t->format), "qcow2") == 0;
    g_autofree char *file = deployed_file(r->name, t);
    g_autofree char *image = g_build_filename(t->image_dir, file, NULL);
    g_autofree char *sc =
        scratch ? scratch_file(t->image_dir, r->name, qcow ? "qcow2" : "raw") : NULL;
    g_autofree char *cmd =
        !scratch ? NULL
        : qcow   ? g_strdup_printf("qemu-img create -f qcow2 %s %" G_GUINT64_FORMAT, sc, scratch)
                 : g_strdup_printf("truncate -s %" G_GUINT64_FORMAT " %s", scratch, sc);
    g_autofree char *desc =
        g_strdup_printf("%s %s, built by vmforge. Copy %s to %s%s%s; then virsh define this file.",
                        r->name, r->version ? r->version : "", file, t->image_dir,
                        scratch ? " and create the scratch disk: " : "", scratch ? cmd : "");
    VmfDeploySpec d = {
        .name = r->name,
        .type = t->domain_type ? t->domain_type : "kvm",
        .vcpus = r->vcpus,
        .memory = r->memory,
        .image = image,
        .image_format = libvirt_format(t->format),
        .disk_bus = t->disk_bus ? t->disk_bus : "virtio",
        .nic_model = r->nic ? r->nic : t->nic_model,
        .scratch = sc,
        .scratch_format = qcow ? "qcow2" : "raw",
        .scratch_size = scratch,
        .scratch_command = cmd,
        .description = desc,
    };
    return vmf_domain_xml_deploy(&d);
}

static char *xl_cfg(const VmfConvertStage *s, const VmfTarget *t, const char *image_file,
                    GError **error)
{
    const VmfRecipe *r = s->recipe;
    uint64_t scratch = s->targets->scratch_size;
    g_autofree char *path = g_build_filename(vmf_templates_dir(), "domains", "xl.cfg", NULL);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, error))
        return NULL;
    g_autofree char *file = deployed_file(r->name, t);
    g_autofree char *image = g_build_filename(t->image_dir, file, NULL);
    g_autofree char *sc = scratch_file(t->image_dir, r->name, "raw");
    const char *fmt = libvirt_format(t->format);
    g_autoptr(GHashTable) vars = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
    g_hash_table_insert(vars, "name", g_strdup(r->name));
    g_hash_table_insert(vars, "version", g_strdup(r->version ? r->version : ""));
    g_hash_table_insert(vars, "image_file", g_strdup(image_file));
    g_hash_table_insert(vars, "image", g_strdup(image));
    g_hash_table_insert(vars, "config_file", g_strdup_printf("%s.cfg", r->name));
    g_hash_table_insert(vars, "vcpus", g_strdup_printf("%u", r->vcpus));
    g_hash_table_insert(vars, "memory_mib", g_strdup_printf("%" G_GUINT64_FORMAT, r->memory >> 20));
    g_autofree char *d1 = g_strdup_printf("'format=%s, vdev=xvda, access=rw, target=%s'",
                                          strcmp(fmt, "vpc") == 0 ? "vhd" : fmt, image);
    g_hash_table_insert(
        vars, "disks",
        scratch ? g_strdup_printf("%s, 'format=raw, vdev=xvdb, access=rw, target=%s'", d1, sc)
                : g_strdup(d1));
    g_hash_table_insert(
        vars, "scratch_comment",
        scratch ? g_strdup_printf("#   truncate -s %" G_GUINT64_FORMAT " %s", scratch, sc)
                : g_strdup("#   (no scratch disk: the recipe has no scratch:)"));
    g_autoptr(VmfRendered) out = vmf_template_render(path, text, vars, NULL, error);
    return out ? g_strdup(out->text) : NULL;
}

static char *openstack_json(const VmfConvertStage *s, const VmfTarget *t,
                            const VmfBuildArtefact *img)
{
    const VmfRecipe *r = s->recipe;
    g_autofree char *image_name =
        r->version ? g_strdup_printf("%s-%s", r->name, r->version) : g_strdup(r->name);
    g_autofree char *file = g_path_get_basename(img->path);
    const char *disk_format = strcmp(t->format, "vhd") == 0 ? "vhd" : libvirt_format(t->format);
    uint64_t min_disk = (img->virtual_size + (1ull << 30) - 1) >> 30;
    uint64_t min_ram = r->memory >> 20;
    uint64_t ephemeral = (s->targets->scratch_size + (1ull << 30) - 1) >> 30;
    /* Properties: the platform's, then the recipe's (which win). */
    g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GHashTable) props = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    const char *defaults[][2] = {{"hw_disk_bus", t->disk_bus ? t->disk_bus : "virtio"},
                                 {"hw_vif_model", r->nic         ? r->nic
                                                  : t->nic_model ? t->nic_model
                                                                 : "virtio"},
                                 {"hw_firmware_type", "bios"},
                                 {"os_type", "linux"}};
    for (size_t i = 0; i < G_N_ELEMENTS(defaults); i++) {
        g_ptr_array_add(keys, g_strdup(defaults[i][0]));
        g_hash_table_replace(props, g_strdup(defaults[i][0]), g_strdup(defaults[i][1]));
    }
    if (t->properties) {
        g_autoptr(GList) own =
            g_list_sort(g_hash_table_get_keys(t->properties), (GCompareFunc)(void *)strcmp);
        for (GList *l = own; l; l = l->next) {
            if (!g_hash_table_contains(props, l->data))
                g_ptr_array_add(keys, g_strdup(l->data));
            g_hash_table_replace(props, g_strdup(l->data),
                                 g_strdup(g_hash_table_lookup(t->properties, l->data)));
        }
    }
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, image_name);
    json_builder_set_member_name(b, "file");
    json_builder_add_string_value(b, file);
    json_builder_set_member_name(b, "sha256");
    json_builder_add_string_value(b, img->sha256);
    json_builder_set_member_name(b, "disk_format");
    json_builder_add_string_value(b, disk_format);
    json_builder_set_member_name(b, "container_format");
    json_builder_add_string_value(b, "bare");
    json_builder_set_member_name(b, "min_disk");
    json_builder_add_int_value(b, (gint64)min_disk);
    json_builder_set_member_name(b, "min_ram");
    json_builder_add_int_value(b, (gint64)min_ram);
    json_builder_set_member_name(b, "properties");
    json_builder_begin_object(b);
    for (guint i = 0; i < keys->len; i++) {
        json_builder_set_member_name(b, keys->pdata[i]);
        json_builder_add_string_value(b, g_hash_table_lookup(props, keys->pdata[i]));
    }
    json_builder_end_object(b);
    /* The flavor it needs; the scratch disk is the flavor's ephemeral disk. */
    json_builder_set_member_name(b, "flavor");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "vcpus");
    json_builder_add_int_value(b, r->vcpus);
    json_builder_set_member_name(b, "ram");
    json_builder_add_int_value(b, (gint64)min_ram);
    json_builder_set_member_name(b, "disk");
    json_builder_add_int_value(b, (gint64)min_disk);
    json_builder_set_member_name(b, "ephemeral");
    json_builder_add_int_value(b, (gint64)ephemeral);
    json_builder_end_object(b);
    /* The command that uploads it, as an argument vector. */
    json_builder_set_member_name(b, "command");
    json_builder_begin_array(b);
    g_autofree char *md = g_strdup_printf("%" G_GUINT64_FORMAT, min_disk);
    g_autofree char *mr = g_strdup_printf("%" G_GUINT64_FORMAT, min_ram);
    const char *argv[] = {
        "openstack", "image",      "create", "--disk-format", disk_format, "--container-format",
        "bare",      "--min-disk", md,       "--min-ram",     mr};
    for (size_t i = 0; i < G_N_ELEMENTS(argv); i++)
        json_builder_add_string_value(b, argv[i]);
    for (guint i = 0; i < keys->len; i++) {
        g_autofree char *kv = g_strdup_printf("%s=%s", (char *)keys->pdata[i],
                                              (char *)g_hash_table_lookup(props, keys->pdata[i]));
        json_builder_add_string_value(b, "--property");
        json_builder_add_string_value(b, kv);
    }
    json_builder_add_string_value(b, "--file");
    json_builder_add_string_value(b, file);
    json_builder_add_string_value(b, image_name);
    json_builder_end_array(b);
    json_builder_end_object(b);
    return vmf_json_text(b);
}

static int package(const VmfConvertStage *s, VmfConvertResult *res, GError **error)
{
    const VmfTargets *tg = s->targets;
    guint n = tg->targets->len;
    for (guint i = 0; i < n; i++) {
        const VmfTarget *t = g_ptr_array_index(tg->targets, i);
        /* A copy: add_extra grows the array the image's entry is in. */
        VmfBuildArtefact img = g_array_index(res->artefacts, VmfBuildArtefact, i);
        g_autofree char *dir = g_path_get_dirname(img.path);
        g_autofree char *image_file = g_path_get_basename(img.path);
        img.path = g_strdup(img.path);
        g_autofree char *img_path = img.path;
        int rc;
        if (t->extras & VMF_EXTRA_LIBVIRT_XML) {
            g_autofree char *xml = libvirt_xml(s, t);
            g_autofree char *path = g_strdup_printf("%s/%s.xml", dir, s->recipe->name);
            if ((rc = add_extra(res->artefacts, t, path, "libvirt-xml", xml, error)))
                return rc;
        }
        if (t->extras & VMF_EXTRA_XL_CFG) {
            g_autofree char *cfg = xl_cfg(s, t, image_file, error);
            if (!cfg)
                return VMF_EXIT_FAILURE;
            g_autofree char *path = g_strdup_printf("%s/%s.cfg", dir, s->recipe->name);
            if ((rc = add_extra(res->artefacts, t, path, "xl-cfg", cfg, error)))
                return rc;
        }
        if (t->extras & VMF_EXTRA_OPENSTACK) {
            g_autofree char *json = openstack_json(s, t, &img);
            g_autofree char *path = g_strdup_printf("%s/%s.openstack.json", dir, s->recipe->name);
            if ((rc = add_extra(res->artefacts, t, path, "openstack-json", json, error)))
                return rc;
        }
    }
    return 0;
}

int vmf_stage_convert(const VmfConvertStage *s, VmfConvertResult *res, GError **error)
{
    const VmfRecipe *r = s->recipe;
    const VmfTargets *tg = s->targets;
    guint n = tg->targets->len;
    g_autoptr(GError) err = NULL;
    g_autoptr(VfSource) src = NULL;
    /* The base disk is raw, whatever its guest wrote at sector 0: never
     * probe it (a qcow2 header there must not make vmforge read host files). */
    if (vf_source_open(s->disk, VF_SOURCE_ASSUME_RAW, &src, &err) < 0)
        FAIL(VMF_EXIT_INPUT, "%s", err->message);
    res->disk_size = src->size;
    res->data_bytes = src->data_bytes;
    /* Refuse early what cannot fit even with the compressed targets empty. */
    uint64_t least, most;
    vmf_convert_space_needed(tg, src->data_bytes, &least, &most);
    struct statvfs vfs;
    if (statvfs(s->outdir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < least) {
        g_autofree char *f = vf_format_size((uint64_t)vfs.f_bavail * vfs.f_frsize);
        g_autofree char *l = vf_format_size(least);
        g_autofree char *m = vf_format_size(most);
        FAIL(VMF_EXIT_OUTPUT,
             "%s: not enough free space: %s free, the uncompressed targets alone need %s (all "
             "targets up to %s); free some space or build fewer targets (--only)",
             s->outdir, f, l, m);
    }

    /* One output per target; OVAs get their parameters and profile. */
    g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) tables =
        g_ptr_array_new_with_free_func((GDestroyNotify)g_hash_table_unref);
    g_autoptr(GPtrArray) profiles =
        g_ptr_array_new_with_free_func((GDestroyNotify)vf_ovf_profile_free);
    g_autofree VfOvaParams *ovas = g_new0(VfOvaParams, n);
    g_autofree VfOutputSpec *outs = g_new0(VfOutputSpec, n);
    unsigned sink_flags = VF_SINK_FORCE | (s->no_sync ? VF_SINK_NO_SYNC : 0);
    g_autofree char *pdir = g_build_filename(vmf_templates_dir(), "profiles", NULL);
    for (guint i = 0; i < n; i++) {
        const VmfTarget *t = g_ptr_array_index(tg->targets, i);
        g_autofree char *dir = g_build_filename(s->outdir, t->name, NULL);
        if (g_mkdir_with_parents(dir, 0755) < 0)
            FAIL(VMF_EXIT_OUTPUT, "%s: %s", dir, g_strerror(errno));
        GHashTable *opts = NULL;
        if (vf_writer_parse_spec(t->spec, &outs[i].ops, &opts, &err) < 0)
            FAIL(VMF_EXIT_USAGE, "target %s: %s", t->name, err->message);
        g_ptr_array_add(tables, opts);
        outs[i].options = opts;
        g_autofree char *file = g_strdup_printf("%s.%s", r->name, outs[i].ops->extension);
        char *path = g_build_filename(dir, file, NULL);
        g_ptr_array_add(keep, path);
        outs[i].path = path;
        if (outs[i].ops == &vf_writer_ova) {
            VfOvfProfile *prof = NULL;
            if (vf_ovf_profile_load(pdir, t->profile, &prof, &err) < 0)
                FAIL(VMF_EXIT_INPUT, "target %s: %s", t->name, err->message);
            g_ptr_array_add(profiles, prof);
            VfOvaParams *o = &ovas[i];
            o->profile = prof;
            o->manifest = t->manifest;
            o->sink_flags = sink_flags;
            o->ovf.vcpus = r->vcpus;
            o->ovf.memory_mib = r->memory >> 20;
            o->scratch_capacity = tg->scratch_size;
            o->ovf.os = t->os;
            o->ovf.product = r->name;
            o->ovf.version = r->version;
            outs[i].extra = o;
        }
    }

    g_autoptr(VmfProgress) bar = vmf_progress_new("convert", s->progress);
    VfConvertOptions copts = {
        .jobs = tg->jobs,
        .level = tg->level,
        .sink_flags = sink_flags,
        .timestamp = s->timestamp,
        .cancel = &vmf_interrupted,
        .progress = vmf_convert_progress,
        .progress_data = bar,
    };
    gint64 t0 = g_get_monotonic_time();
    g_autoptr(GArray) arts = NULL;
    int rc = vf_convert(src, outs, n, &copts, &arts, &err);
    res->convert_seconds = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    if (rc < 0) {
        vmf_progress_end(bar, NULL);
        /* Target folders this run made stay only if something was in them. */
        for (guint i = 0; i < n; i++) {
            g_autofree char *dir = g_path_get_dirname(outs[i].path);
            g_rmdir(dir);
        }
        if (g_error_matches(err, VF_ERROR, VF_ERROR_CANCELLED))
            FAIL(vmf_signals_exit_code(), "interrupted; no image of this run was written");
        if (g_error_matches(err, VF_ERROR, VF_ERROR_OUTPUT)) {
            g_autofree char *space = space_text(s->outdir, tg, src->data_bytes);
            FAIL(VMF_EXIT_OUTPUT, "%s (%s); no image of this run was written", err->message, space);
        }
        FAIL(err->domain == VF_ERROR && err->code == VF_ERROR_LIMIT ? VMF_EXIT_LIMIT
                                                                    : VMF_EXIT_FAILURE,
             "%s; no image of this run was written", err->message);
    }
    g_autofree char *summary =
        g_strdup_printf("%u image%s in %.1f s", n, n == 1 ? "" : "s", res->convert_seconds);
    vmf_progress_end(bar, summary);

    res->artefacts = g_array_new(false, true, sizeof(VmfBuildArtefact));
    g_array_set_clear_func(res->artefacts, vmf_build_artefact_clear);
    for (guint i = 0; i < n; i++) {
        const VfArtefact *a = &g_array_index(arts, VfArtefact, i);
        const VmfTarget *t = g_ptr_array_index(tg->targets, i);
        VmfBuildArtefact b = {
            .target = g_strdup(t->name),
            .path = g_strdup(a->path),
            .format = g_strdup(a->format),
            .spec = g_strdup(a->spec),
            .virtual_size = a->virtual_size,
            .file_size = a->file_size,
        };
        memcpy(b.sha256, a->sha256, sizeof(b.sha256));
        g_array_append_val(res->artefacts, b);
    }
    t0 = g_get_monotonic_time();
    rc = package(s, res, error);
    res->package_seconds = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    return rc;
}
