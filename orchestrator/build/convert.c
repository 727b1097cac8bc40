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
        .efi = vmf_recipe_efi(r),
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

/* What NAME.openstack.json says of an image. */
typedef struct {
    char *image_name, *file;
    const char *disk_format;
    uint64_t min_disk, min_ram, ephemeral; /* GiB, MiB, GiB */
    GPtrArray *keys;                       /* property names, in order */
    GHashTable *props;                     /* name -> value */
} OpenStackImage;

static void openstack_image_clear(OpenStackImage *os)
{
    g_free(os->image_name);
    g_free(os->file);
    g_ptr_array_unref(os->keys);
    g_hash_table_unref(os->props);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(OpenStackImage, openstack_image_clear)

static void openstack_property(OpenStackImage *os, const char *key, const char *value)
{
    if (!g_hash_table_contains(os->props, key))
        g_ptr_array_add(os->keys, g_strdup(key));
    g_hash_table_replace(os->props, g_strdup(key), g_strdup(value));
}

/* Properties: the platform's, then the recipe's (which win). */
static void openstack_properties(OpenStackImage *os, const VmfRecipe *r, const VmfTarget *t)
{
    os->keys = g_ptr_array_new_with_free_func(g_free);
    os->props = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    openstack_property(os, "hw_disk_bus", t->disk_bus ? t->disk_bus : "virtio");
    openstack_property(os, "hw_vif_model",
                       r->nic         ? r->nic
                       : t->nic_model ? t->nic_model
                                      : "virtio");
    /* uefi and both: UEFI, what the image was made for first; Nova needs q35
     * for it. */
    openstack_property(os, "hw_firmware_type", vmf_recipe_efi(r) ? "uefi" : "bios");
    if (vmf_recipe_efi(r))
        openstack_property(os, "hw_machine_type", "q35");
    openstack_property(os, "os_type", "linux");
    openstack_property(os, "architecture", "x86_64"); /* what the installers install */
    if (!t->properties)
        return;
    g_autoptr(GList) own =
        g_list_sort(g_hash_table_get_keys(t->properties), (GCompareFunc)(void *)strcmp);
    for (GList *l = own; l; l = l->next)
        openstack_property(os, l->data, g_hash_table_lookup(t->properties, l->data));
}

/* The flavor it needs; the scratch disk is the flavor's ephemeral disk. */
static void openstack_flavor(JsonBuilder *b, const OpenStackImage *os, unsigned vcpus)
{
    json_builder_set_member_name(b, "flavor");
    json_builder_begin_object(b);
    vmf_json_int(b, "vcpus", vcpus);
    vmf_json_int(b, "ram", os->min_ram);
    vmf_json_int(b, "disk", os->min_disk);
    vmf_json_int(b, "ephemeral", os->ephemeral);
    json_builder_end_object(b);
}

/* The command that uploads it, as an argument vector. */
static void openstack_command(JsonBuilder *b, const OpenStackImage *os)
{
    json_builder_set_member_name(b, "command");
    json_builder_begin_array(b);
    g_autofree char *md = g_strdup_printf("%" G_GUINT64_FORMAT, os->min_disk);
    g_autofree char *mr = g_strdup_printf("%" G_GUINT64_FORMAT, os->min_ram);
    const char *argv[] = {"openstack",
                          "image",
                          "create",
                          "--disk-format",
                          os->disk_format,
                          "--container-format",
                          "bare",
                          "--min-disk",
                          md,
                          "--min-ram",
                          mr};
    for (size_t i = 0; i < G_N_ELEMENTS(argv); i++)
        json_builder_add_string_value(b, argv[i]);
    for (guint i = 0; i < os->keys->len; i++) {
        const char *key = os->keys->pdata[i];
        g_autofree char *kv =
            g_strdup_printf("%s=%s", key, (char *)g_hash_table_lookup(os->props, key));
        json_builder_add_string_value(b, "--property");
        json_builder_add_string_value(b, kv);
    }
    json_builder_add_string_value(b, "--file");
    json_builder_add_string_value(b, os->file);
    json_builder_add_string_value(b, os->image_name);
    json_builder_end_array(b);
}

static char *openstack_json(const VmfConvertStage *s, const VmfTarget *t,
                            const VmfBuildArtefact *img)
{
    const VmfRecipe *r = s->recipe;
    g_auto(OpenStackImage) os = {
        .image_name =
            r->version ? g_strdup_printf("%s-%s", r->name, r->version) : g_strdup(r->name),
        .file = g_path_get_basename(img->path),
        .disk_format = strcmp(t->format, "vhd") == 0 ? "vhd" : libvirt_format(t->format),
        .min_disk = (img->virtual_size + (1ull << 30) - 1) >> 30,
        .min_ram = r->memory >> 20,
        .ephemeral = (s->targets->scratch_size + (1ull << 30) - 1) >> 30,
    };
    openstack_properties(&os, r, t);
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    vmf_json_str(b, "name", os.image_name);
    vmf_json_str(b, "file", os.file);
    vmf_json_str(b, "sha256", img->sha256);
    vmf_json_str(b, "disk_format", os.disk_format);
    vmf_json_str(b, "container_format", "bare");
    vmf_json_int(b, "min_disk", os.min_disk);
    vmf_json_int(b, "min_ram", os.min_ram);
    json_builder_set_member_name(b, "properties");
    json_builder_begin_object(b);
    for (guint i = 0; i < os.keys->len; i++)
        vmf_json_str(b, os.keys->pdata[i], g_hash_table_lookup(os.props, os.keys->pdata[i]));
    json_builder_end_object(b);
    openstack_flavor(b, &os, r->vcpus);
    openstack_command(b, &os);
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

/* The base disk, opened as raw whatever its guest wrote at sector 0 (a
 * qcow2 header there must not make vmforge read host files); refused early
 * when even the uncompressed targets cannot fit. */
static int open_base(const VmfConvertStage *s, VmfConvertResult *res, VfSource **src,
                     GError **error)
{
    g_autoptr(GError) err = NULL;
    if (vf_source_open(s->disk, VF_SOURCE_ASSUME_RAW, src, &err) < 0)
        FAIL(VMF_EXIT_INPUT, "%s", err->message);
    res->disk_size = (*src)->size;
    res->data_bytes = (*src)->data_bytes;
    uint64_t least, most;
    vmf_convert_space_needed(s->targets, (*src)->data_bytes, &least, &most);
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
    return 0;
}

/* One output per target, and what they point at. */
typedef struct {
    guint n;
    VfOutputSpec *outs;
    VfOvaParams *ovas;
    GPtrArray *paths, *tables, *profiles;
} Outputs;

static void outputs_clear(Outputs *o)
{
    g_free(o->outs);
    g_free(o->ovas);
    if (o->paths)
        g_ptr_array_unref(o->paths);
    if (o->tables)
        g_ptr_array_unref(o->tables);
    if (o->profiles)
        g_ptr_array_unref(o->profiles);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Outputs, outputs_clear)

/* An OVA gets its hardware profile and the recipe's hardware. */
static int ova_params(const VmfConvertStage *s, const VmfTarget *t, Outputs *o, guint i,
                      unsigned sink_flags, GError **error)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *pdir = g_build_filename(vmf_templates_dir(), "profiles", NULL);
    VfOvfProfile *prof = NULL;
    if (vf_ovf_profile_load(pdir, t->profile, &prof, &err) < 0)
        FAIL(VMF_EXIT_INPUT, "target %s: %s", t->name, err->message);
    g_ptr_array_add(o->profiles, prof);
    const VmfRecipe *r = s->recipe;
    VfOvaParams *p = &o->ovas[i];
    p->profile = prof;
    p->manifest = t->manifest;
    p->sink_flags = sink_flags;
    p->ovf.vcpus = r->vcpus;
    p->ovf.memory_mib = r->memory >> 20;
    p->scratch_capacity = s->targets->scratch_size;
    p->scratch_at_deploy = s->targets->scratch_at_deploy;
    p->ovf.os = t->os;
    p->ovf.product = r->name;
    p->ovf.version = r->version;
    p->ovf.firmware = vmf_recipe_efi(r) ? "efi" : NULL; /* BIOS: what every importer assumes */
    o->outs[i].extra = p;
    return 0;
}

/* OUTDIR/TARGET/NAME.EXT for each target, its writer and options. */
static int plan_outputs(const VmfConvertStage *s, Outputs *o, unsigned sink_flags, GError **error)
{
    const VmfTargets *tg = s->targets;
    g_autoptr(GError) err = NULL;
    o->n = tg->targets->len;
    o->outs = g_new0(VfOutputSpec, o->n);
    o->ovas = g_new0(VfOvaParams, o->n);
    o->paths = g_ptr_array_new_with_free_func(g_free);
    o->tables = g_ptr_array_new_with_free_func((GDestroyNotify)g_hash_table_unref);
    o->profiles = g_ptr_array_new_with_free_func((GDestroyNotify)vf_ovf_profile_free);
    for (guint i = 0; i < o->n; i++) {
        const VmfTarget *t = g_ptr_array_index(tg->targets, i);
        g_autofree char *dir = g_build_filename(s->outdir, t->name, NULL);
        if (g_mkdir_with_parents(dir, 0755) < 0)
            FAIL(VMF_EXIT_OUTPUT, "%s: %s", dir, g_strerror(errno));
        GHashTable *opts = NULL;
        if (vf_writer_parse_spec(t->spec, &o->outs[i].ops, &opts, &err) < 0)
            FAIL(VMF_EXIT_USAGE, "target %s: %s", t->name, err->message);
        g_ptr_array_add(o->tables, opts);
        o->outs[i].options = opts;
        g_autofree char *file =
            g_strdup_printf("%s.%s", s->recipe->name, o->outs[i].ops->extension);
        char *path = g_build_filename(dir, file, NULL);
        g_ptr_array_add(o->paths, path);
        o->outs[i].path = path;
        int rc = o->outs[i].ops == &vf_writer_ova ? ova_params(s, t, o, i, sink_flags, error) : 0;
        if (rc)
            return rc;
    }
    return 0;
}

/* What a failed convert means; the target folders this run made stay only
 * if something was in them. */
static int convert_failed(const VmfConvertStage *s, const Outputs *o, uint64_t data_bytes,
                          const GError *err, GError **error)
{
    for (guint i = 0; i < o->n; i++) {
        g_autofree char *dir = g_path_get_dirname(o->outs[i].path);
        g_rmdir(dir);
    }
    if (g_error_matches(err, VF_ERROR, VF_ERROR_CANCELLED))
        FAIL(vmf_signals_exit_code(), "interrupted; no image of this run was written");
    if (g_error_matches(err, VF_ERROR, VF_ERROR_OUTPUT)) {
        g_autofree char *space = space_text(s->outdir, s->targets, data_bytes);
        FAIL(VMF_EXIT_OUTPUT, "%s (%s); no image of this run was written", err->message, space);
    }
    FAIL(err->domain == VF_ERROR && err->code == VF_ERROR_LIMIT ? VMF_EXIT_LIMIT : VMF_EXIT_FAILURE,
         "%s; no image of this run was written", err->message);
}

/* The images, in target order, as the build's artefacts. */
static void image_artefacts(const VmfTargets *tg, GArray *arts, VmfConvertResult *res)
{
    res->artefacts = g_array_new(false, true, sizeof(VmfBuildArtefact));
    g_array_set_clear_func(res->artefacts, vmf_build_artefact_clear);
    for (guint i = 0; i < arts->len; i++) {
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
}

int vmf_stage_convert(const VmfConvertStage *s, VmfConvertResult *res, GError **error)
{
    const VmfTargets *tg = s->targets;
    g_autoptr(VfSource) src = NULL;
    g_auto(Outputs) o = {0};
    unsigned sink_flags = VF_SINK_FORCE | (s->no_sync ? VF_SINK_NO_SYNC : 0);
    int rc = open_base(s, res, &src, error);
    if (!rc)
        rc = plan_outputs(s, &o, sink_flags, error);
    if (rc)
        return rc;
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
    g_autoptr(GError) err = NULL;
    rc = vf_convert(src, o.outs, o.n, &copts, &arts, &err);
    res->convert_seconds = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    if (rc < 0) {
        vmf_progress_end(bar, NULL);
        return convert_failed(s, &o, src->data_bytes, err, error);
    }
    g_autofree char *summary =
        g_strdup_printf("%u image%s in %.1f s", o.n, o.n == 1 ? "" : "s", res->convert_seconds);
    vmf_progress_end(bar, summary);
    image_artefacts(tg, arts, res);
    t0 = g_get_monotonic_time();
    rc = package(s, res, error);
    res->package_seconds = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    return rc;
}
