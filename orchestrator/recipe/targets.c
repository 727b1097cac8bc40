/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "targets.h"

#include "formats/ovf.h"
#include "formats/writer.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define fail(file, at, ...) vmf_recipe_error_at(error, (file), (at), __VA_ARGS__)

static void target_free(VmfTarget *t)
{
    if (!t)
        return;
    g_free(t->name);
    g_free(t->platform);
    g_free(t->spec);
    g_free(t->format);
    g_free(t->profile);
    g_free(t->manifest);
    g_free(t->os);
    g_free(t->domain_type);
    g_free(t->disk_bus);
    g_free(t->nic_model);
    g_free(t->image_dir);
    if (t->properties)
        g_hash_table_unref(t->properties);
    vmf_target_publish_free(t->publish);
    g_free(t);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfTarget, target_free)

void vmf_targets_free(VmfTargets *t)
{
    if (!t)
        return;
    if (t->targets)
        g_ptr_array_unref(t->targets);
    g_free(t);
}

static int compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **vmf_platforms_list(const char *templates_dir)
{
    g_autofree char *dir = g_build_filename(templates_dir, "platforms", NULL);
    GPtrArray *names = g_ptr_array_new();
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *e;
    while (d && (e = g_dir_read_name(d)))
        if (g_str_has_suffix(e, ".conf") && e[0] != '.')
            g_ptr_array_add(names, g_strndup(e, strlen(e) - 5));
    g_ptr_array_sort(names, compare_names);
    g_ptr_array_add(names, NULL);
    return (char **)g_ptr_array_free(names, FALSE);
}

static const char *scalar_of(const char *file, const VmfYamlNode *n, const char *what,
                             GError **error)
{
    if (n->kind != VMF_YAML_SCALAR) {
        fail(file, n, "%s must be a single value, found %s", what, vmf_yaml_kind_name(n->kind));
        return NULL;
    }
    if (!n->value[0]) {
        fail(file, n, "%s is empty", what);
        return NULL;
    }
    return n->value;
}

static int parse_bool(const char *v)
{
    static const char *const yes[] = {"true", "yes", "on", NULL};
    static const char *const no[] = {"false", "no", "off", NULL};
    if (g_strv_contains(yes, v))
        return 1;
    if (g_strv_contains(no, v))
        return 0;
    return -1;
}

/* Applies the preset templates/platforms/NAME.conf to t. */
static bool apply_platform(const char *file, const VmfYamlNode *at, const char *tdir, VmfTarget *t,
                           GString *options, GError **error)
{
    g_autofree char *path = g_strdup_printf("%s/platforms/%s.conf", tdir, t->platform);
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) kerr = NULL;
    if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        g_auto(GStrv) names = vmf_platforms_list(tdir);
        const char *hint = vmf_did_you_mean(t->platform, (const char *const *)names);
        g_autofree char *list = g_strjoinv(", ", names);
        if (hint)
            return fail(file, at, "unknown platform \"%s\"; did you mean \"%s\"?", t->platform,
                        hint);
        return fail(file, at, "unknown platform \"%s\" (known: %s)", t->platform, list);
    }
    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &kerr))
        return fail(file, at, "platform %s: %s: %s", t->platform, path, kerr->message);
    g_autofree char *format = g_key_file_get_string(kf, "platform", "format", NULL);
    if (!format)
        return fail(file, at, "platform %s: %s has no format=", t->platform, path);
    t->format = g_steal_pointer(&format);
    g_autofree char *opts = g_key_file_get_string(kf, "platform", "options", NULL);
    if (opts && *opts)
        g_string_append(options, opts);
    t->profile = g_key_file_get_string(kf, "platform", "profile", NULL);
    t->domain_type = g_key_file_get_string(kf, "platform", "domain-type", NULL);
    t->disk_bus = g_key_file_get_string(kf, "platform", "disk-bus", NULL);
    t->nic_model = g_key_file_get_string(kf, "platform", "nic-model", NULL);
    t->image_dir = g_key_file_get_string(kf, "platform", "image-dir", NULL);
    g_autofree char *fw = g_key_file_get_string(kf, "platform", "firmware", NULL);
    t->needs_uefi = fw && strcmp(fw, "uefi") == 0;
    g_auto(GStrv) extras = g_key_file_get_string_list(kf, "platform", "extras", NULL, NULL);
    for (char **e = extras; e && *e; e++) {
        if (strcmp(*e, "libvirt-xml") == 0)
            t->extras |= VMF_EXTRA_LIBVIRT_XML;
        else if (strcmp(*e, "openstack") == 0)
            t->extras |= VMF_EXTRA_OPENSTACK;
        else if (strcmp(*e, "xl-cfg") == 0)
            t->extras |= VMF_EXTRA_XL_CFG;
        else if (**e)
            return fail(file, at,
                        "platform %s: %s: unknown extra \"%s\" (libvirt-xml, "
                        "openstack, xl-cfg)",
                        t->platform, path, *e);
    }
    return true;
}

/* `options:` of a target: a mapping of the writer's KEY: VALUE options. */
static bool parse_options(const char *file, const VmfYamlNode *n, GString *spec, GError **error)
{
    if (n->kind != VMF_YAML_MAPPING)
        return fail(file, n,
                    "options must be a mapping of the format's options (e.g. type: "
                    "fixed), found %s",
                    vmf_yaml_kind_name(n->kind));
    for (guint i = 0; i < n->keys->len; i++) {
        const VmfYamlNode *k = g_ptr_array_index(n->keys, i);
        const char *v = scalar_of(file, g_ptr_array_index(n->items, i), k->value, error);
        if (!v)
            return false;
        if (strpbrk(v, ",:=") || strpbrk(k->value, ",:="))
            return fail(file, k, "option %s: \"%s\" may not hold ',', ':' or '='", k->value, v);
        g_string_append_printf(spec, "%s%s=%s", spec->len ? ":" : "", k->value, v);
    }
    return true;
}

/* Merges "k=v:k=v" option strings: later keys replace earlier ones. */
static char *merge_options(const char *format, const char *preset, const char *own)
{
    g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GHashTable) vals = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    const char *parts[] = {preset, own};
    for (size_t p = 0; p < G_N_ELEMENTS(parts); p++) {
        g_auto(GStrv) items = g_strsplit(parts[p] ? parts[p] : "", ":", -1);
        for (char **it = items; *it; it++) {
            char *eq = strchr(*it, '=');
            if (!**it)
                continue;
            g_autofree char *k = eq ? g_strndup(*it, (gsize)(eq - *it)) : g_strdup(*it);
            if (!g_hash_table_contains(vals, k))
                g_ptr_array_add(keys, g_strdup(k));
            g_hash_table_replace(vals, g_strdup(k), g_strdup(eq ? eq + 1 : ""));
        }
    }
    GString *s = g_string_new(format);
    for (guint i = 0; i < keys->len; i++)
        g_string_append_printf(s, ":%s=%s", (char *)keys->pdata[i],
                               (char *)g_hash_table_lookup(vals, keys->pdata[i]));
    return g_string_free(s, FALSE);
}

static bool valid_name(const char *n)
{
    if (!*n || strlen(n) > VMF_TARGET_NAME_MAX || n[0] == '.' || n[0] == '-')
        return false;
    for (const char *p = n; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '.')
            return false;
    return strcmp(n, "logs") != 0;
}

/* A format: that is no writer's name: the known ones, or the nearest. */
static bool unknown_format(const char *file, const VmfYamlNode *v, const char *s, GError **error)
{
    const char *names[16] = {0};
    size_t k = 0;
    for (const VfWriterOps *const *w = vf_writers; *w && k < 15; w++)
        names[k++] = (*w)->name;
    const char *hint = vmf_did_you_mean(s, names);
    g_autofree char *list = g_strjoinv(", ", (char **)names);
    if (hint)
        return fail(file, v, "unknown format \"%s\"; did you mean \"%s\"?", s, hint);
    return fail(file, v, "unknown format \"%s\" (known: %s)", s, list);
}

/* platform: (a preset) and format: (which overrides the preset's). */
static bool target_format(const char *file, const VmfYamlNode *n, const char *tdir, VmfTarget *t,
                          GString *preset_opts, GError **error)
{
    const VmfYamlNode *v;
    const char *s;
    if ((v = vmf_yaml_get(n, "platform"))) {
        if (!(s = scalar_of(file, v, "platform", error)))
            return false;
        t->platform = g_strdup(s);
        if (!apply_platform(file, v, tdir, t, preset_opts, error))
            return false;
    }
    if ((v = vmf_yaml_get(n, "format"))) {
        if (!(s = scalar_of(file, v, "format", error)))
            return false;
        if (!vf_writer_find(s))
            return unknown_format(file, v, s, error);
        if (t->format && strcmp(t->format, s) != 0) {
            /* Another format than the preset's: the preset's options and
             * extras were for its own format. */
            g_string_truncate(preset_opts, 0);
            t->extras &= ~(unsigned)VMF_EXTRA_OPENSTACK;
        }
        g_free(t->format);
        t->format = g_strdup(s);
    }
    if (!t->format)
        return fail(file, n,
                    "target needs a platform: (e.g. kvm, vmware) or a format: (qcow2, raw, "
                    "raw.gz, vmdk, vdi, vhd, vhdx, ova)");
    return true;
}

/* name:, else the platform's or the format's name. */
static bool target_name(const char *file, const VmfYamlNode *n, VmfTarget *t, GError **error)
{
    const VmfYamlNode *v = vmf_yaml_get(n, "name");
    if (!v) {
        t->name = g_strdup(t->platform ? t->platform : t->format);
        return true;
    }
    const char *s = scalar_of(file, v, "name", error);
    if (!s)
        return false;
    if (!valid_name(s))
        return fail(file, v,
                    "target name \"%s\": letters, digits, '-', '_' and '.' (it names a folder), "
                    "at most %d, not \"logs\"",
                    s, VMF_TARGET_NAME_MAX);
    t->name = g_strdup(s);
    return true;
}

/* compress: true or false, for qcow2 (the others have no choice). */
static bool target_compress(const char *file, const VmfYamlNode *v, const VmfTarget *t,
                            GString *own_opts, GError **error)
{
    const char *s = scalar_of(file, v, "compress", error);
    if (!s)
        return false;
    int b = parse_bool(s);
    if (b < 0)
        return fail(file, v, "compress: expected true or false, found \"%s\"", s);
    if (strcmp(t->format, "qcow2") != 0)
        return fail(file, v,
                    "compress: only qcow2 has a choice (%s is %s); set the level for every "
                    "target under convert: level:",
                    t->format,
                    strcmp(t->format, "raw.gz") == 0 || strcmp(t->format, "ova") == 0 ||
                            strcmp(t->format, "vmdk") == 0
                        ? "always compressed"
                        : "never compressed");
    g_string_append_printf(own_opts, "%scompress=%s", own_opts->len ? ":" : "", b ? "on" : "off");
    return true;
}

/* The writer spec: the format, the preset's options, then the target's
 * own; checked by the writer itself. */
static bool target_spec(const char *file, const VmfYamlNode *n, VmfTarget *t,
                        const GString *preset_opts, GError **error)
{
    g_autoptr(GString) own_opts = g_string_new(NULL);
    const VmfYamlNode *v;
    if ((v = vmf_yaml_get(n, "options")) && !parse_options(file, v, own_opts, error))
        return false;
    if ((v = vmf_yaml_get(n, "compress")) && !target_compress(file, v, t, own_opts, error))
        return false;
    t->spec = merge_options(t->format, preset_opts->str, own_opts->str);
    const VfWriterOps *ops = NULL;
    GHashTable *opts = NULL;
    g_autoptr(GError) werr = NULL;
    if (vf_writer_parse_spec(t->spec, &ops, &opts, &werr) < 0)
        return fail(file, vmf_yaml_get(n, "options") ? vmf_yaml_get(n, "options") : n,
                    "target %s: %s", t->name, werr->message);
    g_hash_table_unref(opts);
    return true;
}

/* os: a name in the profile's [os] table. */
static bool ova_os(const char *file, const VmfYamlNode *v, const VfOvfProfile *prof, VmfTarget *t,
                   GError **error)
{
    const char *s = scalar_of(file, v, "os", error);
    if (!s)
        return false;
    if (!g_hash_table_contains(prof->os, s)) {
        g_autofree const char **names =
            (const char **)g_hash_table_get_keys_as_array(prof->os, NULL);
        const char *hint = vmf_did_you_mean(s, names);
        return fail(file, v, "os \"%s\" is not in profile %s's [os] table%s%s%s", s, t->profile,
                    hint ? "; did you mean \"" : "", hint ? hint : "", hint ? "\"?" : "");
    }
    t->os = g_strdup(s);
    return true;
}

/* profile:, manifest: and os:, which only OVAs have; an OVA's profile is
 * loaded to check them. */
static bool target_ova(const char *file, const VmfYamlNode *n, const char *tdir, VmfTarget *t,
                       GError **error)
{
    static const char *const ova_keys[] = {"profile", "manifest", "os", NULL};
    bool ova = strcmp(t->format, "ova") == 0;
    const VmfYamlNode *v;
    const char *s;
    for (const char *const *k = ova_keys; *k; k++)
        if (vmf_yaml_get(n, *k) && !ova)
            return fail(file, vmf_yaml_get_key(n, *k),
                        "%s: only OVA targets have one (this one is %s)", *k, t->format);
    if ((v = vmf_yaml_get(n, "profile"))) {
        if (!(s = scalar_of(file, v, "profile", error)))
            return false;
        g_free(t->profile);
        t->profile = g_strdup(s);
    }
    if (!ova)
        return true;
    t->extras = 0; /* an OVA carries its own descriptor */
    if (!t->profile)
        t->profile = g_strdup("generic");
    g_autofree char *pdir = g_build_filename(tdir, "profiles", NULL);
    g_autoptr(VfOvfProfile) prof = NULL;
    g_autoptr(GError) perr = NULL;
    if (vf_ovf_profile_load(pdir, t->profile, &prof, &perr) < 0)
        return fail(file, vmf_yaml_get(n, "profile") ? vmf_yaml_get(n, "profile") : n, "%s",
                    perr->message);
    if ((v = vmf_yaml_get(n, "manifest"))) {
        if (!(s = scalar_of(file, v, "manifest", error)))
            return false;
        if (!vf_ovf_manifest_algorithm_known(s))
            return fail(file, v, "manifest \"%s\": give sha1, sha256 or sha512", s);
        t->manifest = g_strdup(s);
    }
    return !(v = vmf_yaml_get(n, "os")) || ova_os(file, v, prof, t, error);
}

/* image_dir: where the domain definitions say the image is. */
static bool target_image_dir(const char *file, const VmfYamlNode *v, VmfTarget *t, GError **error)
{
    const char *s = scalar_of(file, v, "image_dir", error);
    if (!s)
        return false;
    if (!(t->extras & (VMF_EXTRA_LIBVIRT_XML | VMF_EXTRA_XL_CFG)))
        return fail(file, v,
                    "image_dir: only targets with a domain definition (kvm, openstack, xen, "
                    "hepix) have one");
    if (!g_path_is_absolute(s))
        return fail(file, v, "image_dir \"%s\": give an absolute path on the hypervisor host", s);
    g_free(t->image_dir);
    t->image_dir = g_strdup(s);
    return true;
}

/* properties: OpenStack image properties. */
static bool target_properties(const char *file, const VmfYamlNode *v, VmfTarget *t, GError **error)
{
    if (!(t->extras & VMF_EXTRA_OPENSTACK))
        return fail(file, v,
                    "properties: only OpenStack targets (platform kvm or openstack) have image "
                    "properties");
    if (v->kind != VMF_YAML_MAPPING)
        return fail(file, v, "properties must be a mapping (hw_vif_model: e1000), found %s",
                    vmf_yaml_kind_name(v->kind));
    t->properties = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    for (guint i = 0; i < v->keys->len; i++) {
        const VmfYamlNode *k = g_ptr_array_index(v->keys, i);
        const char *s = scalar_of(file, g_ptr_array_index(v->items, i), k->value, error);
        if (!s)
            return false;
        g_hash_table_replace(t->properties, g_strdup(k->value), g_strdup(s));
    }
    return true;
}

static VmfTarget *parse_target(const VmfRecipe *r, const char *tdir, const VmfYamlNode *n,
                               GError **error)
{
    static const char *const keys[] = {"name",       "platform",  "format",   "options",
                                       "compress",   "profile",   "manifest", "os",
                                       "properties", "image_dir", "publish",  NULL};
    const char *file = r->path;
    if (n->kind == VMF_YAML_SCALAR) {
        fail(file, n,
             "a target is a mapping (- name: kvm\\n  platform: kvm), not \"%s\"; write "
             "- platform: %s",
             n->value, n->value);
        return NULL;
    }
    if (!vmf_recipe_check_keys(error, file, n, "a target", keys))
        return NULL;
    g_autoptr(VmfTarget) t = g_new0(VmfTarget, 1);
    t->line = n->line;
    g_autoptr(GString) preset_opts = g_string_new(NULL);
    const VmfYamlNode *v;
    if (!target_format(file, n, tdir, t, preset_opts, error) || !target_name(file, n, t, error) ||
        !target_spec(file, n, t, preset_opts, error) || !target_ova(file, n, tdir, t, error))
        return NULL;
    if ((v = vmf_yaml_get(n, "image_dir")) && !target_image_dir(file, v, t, error))
        return NULL;
    if ((v = vmf_yaml_get(n, "properties")) && !target_properties(file, v, t, error))
        return NULL;
    if ((v = vmf_yaml_get(n, "publish")) && !vmf_target_publish_parse(r, v, t, error))
        return NULL;
    if (t->needs_uefi && !vmf_recipe_efi(r))
        return fail(file, vmf_yaml_get(n, "platform"),
                    "platform %s boots with UEFI only; give the recipe firmware: uefi (or both) "
                    "and an EFI system partition",
                    t->platform),
               NULL;
    return g_steal_pointer(&t);
}

/* scratch: as: file (an empty VMDK in OVAs, the default) | deploy. */
static bool parse_scratch_as(const VmfRecipe *r, VmfTargets *t, const VmfYamlNode *as,
                             GError **error)
{
    if (!as)
        return true;
    const char *s = scalar_of(r->path, as, "scratch as", error);
    if (!s)
        return false;
    if (strcmp(s, "file") != 0 && strcmp(s, "deploy") != 0)
        return fail(r->path, as,
                    "scratch as: \"%s\" is not file (an empty disk file in OVAs, the default) or "
                    "deploy (defined only, created by the hypervisor at deploy time)",
                    s);
    t->scratch_at_deploy = strcmp(s, "deploy") == 0;
    return true;
}

static bool parse_scratch(const VmfRecipe *r, VmfTargets *t, GError **error)
{
    static const char *const keys[] = {"size", "per_core", "as", NULL};
    const VmfYamlNode *n = r->scratch;
    if (!n)
        return true;
    if (!vmf_recipe_check_keys(error, r->path, n, "scratch", keys) ||
        !parse_scratch_as(r, t, vmf_yaml_get(n, "as"), error))
        return false;
    const VmfYamlNode *size = vmf_yaml_get(n, "size"), *pc = vmf_yaml_get(n, "per_core");
    if (size && pc)
        return fail(r->path, pc, "scratch: give size or per_core, not both");
    const VmfYamlNode *v = size ? size : pc;
    if (!v)
        return fail(r->path, n, "scratch: give size: (e.g. 20G) or per_core: (e.g. 10G per vCPU)");
    const char *s = scalar_of(r->path, v, size ? "scratch size" : "scratch per_core", error);
    if (!s)
        return false;
    uint64_t bytes = 0;
    if (vmf_parse_size(s, &bytes) < 0 || bytes == 0)
        return fail(r->path, v, "scratch %s \"%s\" is not a size (e.g. 20G)",
                    size ? "size" : "per_core", s);
    if (bytes % 512)
        return fail(r->path, v, "scratch %s \"%s\": give a multiple of 512 bytes",
                    size ? "size" : "per_core", s);
    uint64_t total = bytes;
    if (pc && g_uint64_checked_mul(&total, bytes, r->vcpus) == FALSE)
        total = UINT64_MAX;
    if (total > VMF_MAX_SCRATCH)
        return fail(r->path, v, "scratch: %s is more than 64 TiB%s", s,
                    pc ? " once multiplied by the vCPUs" : "");
    t->scratch_size = total;
    t->scratch_per_core = pc ? bytes : 0;
    return true;
}

static bool parse_convert(const VmfRecipe *r, VmfTargets *t, GError **error)
{
    static const char *const keys[] = {"level", "jobs", NULL};
    const VmfYamlNode *n = r->convert;
    t->level = 5;
    if (!n)
        return true;
    if (!vmf_recipe_check_keys(error, r->path, n, "convert", keys))
        return false;
    const VmfYamlNode *v;
    const char *s;
    char *end = NULL;
    if ((v = vmf_yaml_get(n, "level"))) {
        if (!(s = scalar_of(r->path, v, "level", error)))
            return false;
        long l = strtol(s, &end, 10);
        if (*end || l < 1 || l > 9)
            return fail(r->path, v, "convert level \"%s\": give 1 (fastest) to 9 (smallest)", s);
        t->level = (int)l;
    }
    if ((v = vmf_yaml_get(n, "jobs"))) {
        if (!(s = scalar_of(r->path, v, "jobs", error)))
            return false;
        long j = strtol(s, &end, 10);
        if (*end || j < 0 || j > 256)
            return fail(r->path, v, "convert jobs \"%s\": give 1 to 256 (0: one per CPU)", s);
        t->jobs = (unsigned)j;
    }
    return true;
}

VmfTargets *vmf_targets_parse(const VmfRecipe *r, const char *tdir, GError **error)
{
    g_autoptr(VmfTargets) t = g_new0(VmfTargets, 1);
    t->targets = g_ptr_array_new_with_free_func((GDestroyNotify)target_free);
    if (!parse_scratch(r, t, error) || !parse_convert(r, t, error))
        return NULL;
    const VmfYamlNode *n = r->targets;
    if (!n) {
        g_auto(GStrv) names = vmf_platforms_list(tdir);
        g_autofree char *list = g_strjoinv(", ", names);
        fail(r->path, r->root,
             "the recipe has no targets: list; add one, e.g. targets: [{platform: kvm}] "
             "(platforms: %s)",
             list);
        return NULL;
    }
    if (n->kind != VMF_YAML_SEQUENCE) {
        fail(r->path, n, "targets must be a list (- platform: kvm), found %s",
             vmf_yaml_kind_name(n->kind));
        return NULL;
    }
    if (n->items->len == 0) {
        fail(r->path, n, "targets is empty; name at least one (- platform: kvm)");
        return NULL;
    }
    if (n->items->len > VMF_MAX_TARGETS) {
        fail(r->path, n, "at most %d targets per recipe (one convert pass writes them all)",
             VMF_MAX_TARGETS);
        return NULL;
    }
    for (guint i = 0; i < n->items->len; i++) {
        const VmfYamlNode *item = g_ptr_array_index(n->items, i);
        VmfTarget *tg = parse_target(r, tdir, item, error);
        if (!tg)
            return NULL;
        for (guint j = 0; j < t->targets->len; j++) {
            const VmfTarget *o = g_ptr_array_index(t->targets, j);
            if (strcmp(o->name, tg->name) == 0) {
                fail(r->path, item,
                     "two targets are named \"%s\" (the other is on line %u); give this one "
                     "name:",
                     tg->name, o->line);
                target_free(tg);
                return NULL;
            }
        }
        g_ptr_array_add(t->targets, tg);
    }
    return g_steal_pointer(&t);
}

bool vmf_targets_select(VmfTargets *t, const char *only, GError **error)
{
    if (!only)
        return true;
    g_auto(GStrv) want = g_strsplit(only, ",", -1);
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    for (guint i = 0; i < t->targets->len; i++)
        g_ptr_array_add(names, ((VmfTarget *)t->targets->pdata[i])->name);
    g_ptr_array_add(names, NULL);
    guint n_want = 0;
    for (char **w = want; *w; w++) {
        g_strstrip(*w);
        if (!**w)
            continue;
        n_want++;
        if (!g_strv_contains((const char *const *)names->pdata, *w)) {
            const char *hint = vmf_did_you_mean(*w, (const char *const *)names->pdata);
            g_autofree char *list = g_strjoinv(", ", (char **)names->pdata);
            if (hint)
                g_set_error(error, vmf_recipe_error_quark(), VMF_RECIPE_ERROR_USAGE,
                            "--only: no target \"%s\"; did you mean \"%s\"?", *w, hint);
            else
                g_set_error(error, vmf_recipe_error_quark(), VMF_RECIPE_ERROR_USAGE,
                            "--only: no target \"%s\" (the recipe has: %s)", *w, list);
            return false;
        }
    }
    if (!n_want) {
        g_set_error(error, vmf_recipe_error_quark(), VMF_RECIPE_ERROR_USAGE,
                    "--only \"%s\" names no target", only);
        return false;
    }
    for (guint i = t->targets->len; i-- > 0;) {
        const VmfTarget *tg = g_ptr_array_index(t->targets, i);
        if (!g_strv_contains((const char *const *)want, tg->name))
            g_ptr_array_remove_index(t->targets, i);
    }
    return true;
}
