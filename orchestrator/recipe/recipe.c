/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "recipe.h"

#include "util/exit-codes.h"
#include "util/util.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK(vmf - recipe - error - quark, vmf_recipe_error)

/* Installer timeouts: at most a day; a minute at least for the idle watchdog
 * (a TCG guest can stay silent that long while its kernel unpacks). */
#define MAX_TIMEOUT          (24u * 3600u)
#define DEFAULT_TIMEOUT      (2u * 3600u)
#define DEFAULT_IDLE_TIMEOUT (10u * 60u)

typedef struct {
    const char *file;
    GError **error;
} Ctx;

bool vmf_recipe_error_at(GError **error, const char *file, const VmfYamlNode *at, const char *fmt,
                         ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (at)
        g_set_error(error, vmf_recipe_error_quark(), VMF_RECIPE_ERROR_INVALID, "%s:%u:%u: %s", file,
                    at->line, at->column, msg);
    else
        g_set_error(error, vmf_recipe_error_quark(), VMF_RECIPE_ERROR_INVALID, "%s: %s", file, msg);
    return false;
}

#define fail(c, at, ...) vmf_recipe_error_at((c)->error, (c)->file, (at), __VA_ARGS__)

static unsigned edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return UINT_MAX;
    unsigned row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        unsigned prev = row[0];
        row[0] = (unsigned)i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned cur = row[j];
            unsigned cost = g_ascii_tolower(a[i - 1]) == g_ascii_tolower(b[j - 1]) ? 0 : 1;
            row[j] = MIN(MIN(row[j] + 1, row[j - 1] + 1), prev + cost);
            prev = cur;
        }
    }
    return row[lb];
}

const char *vmf_did_you_mean(const char *word, const char *const *candidates)
{
    const char *best = NULL;
    unsigned best_d = UINT_MAX;
    for (const char *const *c = candidates; *c; c++) {
        unsigned d = edit_distance(word, *c);
        if (d < best_d) {
            best_d = d;
            best = *c;
        }
    }
    /* Close enough: a couple of typos, or a third of the word. */
    size_t len = strlen(word);
    return best && best_d <= MAX(2u, (unsigned)(len / 3)) ? best : NULL;
}

/* ${name}: the recipe's var, else its name or version. */
static const char *var_value(const VmfRecipe *r, const char *name)
{
    const char *value = g_hash_table_lookup(r->vars, name);
    if (!value && strcmp(name, "name") == 0)
        value = r->name;
    if (!value && strcmp(name, "version") == 0)
        value = r->version;
    return value;
}

char *vmf_recipe_expand(const VmfRecipe *r, const VmfYamlNode *at, const char *what,
                        const char *v, GError **error)
{
    g_autoptr(GString) out = g_string_new(NULL);
    for (const char *p = v; *p;) {
        const char *open = strstr(p, "${");
        if (!open) {
            g_string_append(out, p);
            break;
        }
        g_string_append_len(out, p, open - p);
        const char *close = strchr(open, '}');
        if (!close) {
            vmf_recipe_error_at(error, r->path, at, "%s \"%s\": unterminated ${", what, v);
            return NULL;
        }
        g_autofree char *name = g_strndup(open + 2, (gsize)(close - open - 2));
        const char *value = var_value(r, name);
        if (!value) {
            vmf_recipe_error_at(
                error, r->path, at,
                "%s \"%s\": ${%s} is not defined (add it under vars: or pass --var %s=VALUE)",
                what, v, name, name);
            return NULL;
        }
        g_string_append(out, value);
        p = close + 1;
    }
    return g_string_free(g_steal_pointer(&out), FALSE);
}

bool vmf_recipe_check_keys(GError **error, const char *file, const VmfYamlNode *map,
                           const char *where, const char *const *allowed)
{
    if (map->kind != VMF_YAML_MAPPING)
        return vmf_recipe_error_at(error, file, map,
                                   "%s must be a mapping (key: value lines), found %s", where,
                                   vmf_yaml_kind_name(map->kind));
    for (guint i = 0; i < map->keys->len; i++) {
        const VmfYamlNode *k = g_ptr_array_index(map->keys, i);
        if (g_strv_contains(allowed, k->value))
            continue;
        const char *hint = vmf_did_you_mean(k->value, allowed);
        g_autofree char *list = g_strjoinv(", ", (char **)allowed);
        if (hint)
            return vmf_recipe_error_at(error, file, k,
                                       "unknown key \"%s\" in %s; did you mean \"%s\"?", k->value,
                                       where, hint);
        return vmf_recipe_error_at(error, file, k, "unknown key \"%s\" in %s (known: %s)", k->value,
                                   where, list);
    }
    return true;
}

#define check_keys(c, map, where, allowed)                                                         \
    vmf_recipe_check_keys((c)->error, (c)->file, (map), (where), (allowed))

static bool scalar(Ctx *c, const VmfYamlNode *n, const char *what, const char **out)
{
    if (!n)
        return true;
    if (n->kind != VMF_YAML_SCALAR)
        return fail(c, n, "%s must be a single value, found %s", what, vmf_yaml_kind_name(n->kind));
    if (!n->quoted && n->value[0] == '\0')
        return fail(c, n, "%s is empty", what);
    *out = n->value;
    return true;
}

/* The single value under `key` (NULL when absent) and its node, or false
 * after reporting a key that holds something else. */
static bool lookup(Ctx *c, const VmfYamlNode *map, const char *key, const char *what,
                   const VmfYamlNode **node, const char **value)
{
    *node = vmf_yaml_get(map, key);
    *value = NULL;
    return scalar(c, *node, what, value);
}

static bool get_string(Ctx *c, const VmfYamlNode *map, const char *key, const char *what,
                       char **out)
{
    const char *v = NULL;
    if (!scalar(c, vmf_yaml_get(map, key), what, &v))
        return false;
    if (v) {
        g_free(*out);
        *out = g_strdup(v);
    }
    return true;
}

static char *expand_vars(Ctx *c, const VmfRecipe *r, const VmfYamlNode *at, const char *what,
                         const char *v)
{
    return vmf_recipe_expand(r, at, what, v, c->error);
}

static bool get_path(Ctx *c, const VmfRecipe *r, const VmfYamlNode *map, const char *key,
                     const char *what, char **out)
{
    const VmfYamlNode *n;
    const char *v;
    if (!lookup(c, map, key, what, &n, &v))
        return false;
    if (!v)
        return true;
    g_autofree char *x = expand_vars(c, r, n, what, v);
    if (!x)
        return false;
    if (!x[0])
        return fail(c, n, "%s is empty", what);
    *out = g_path_is_absolute(x) ? g_canonicalize_filename(x, NULL)
                                 : g_canonicalize_filename(x, r->dir);
    return true;
}

static bool get_size(Ctx *c, const VmfYamlNode *map, const char *key, const char *what,
                     uint64_t *out)
{
    const VmfYamlNode *n;
    const char *v;
    if (!lookup(c, map, key, what, &n, &v))
        return false;
    if (v && vmf_parse_size(v, out) < 0)
        return fail(c, n, "%s \"%s\" is not a size (a number of bytes, or with K, M, G, T)", what,
                    v);
    return true;
}

static bool get_bool(Ctx *c, const VmfYamlNode *map, const char *key, const char *what, bool *out)
{
    const VmfYamlNode *n;
    const char *v;
    if (!lookup(c, map, key, what, &n, &v))
        return false;
    if (!v)
        return true;
    if (!g_ascii_strcasecmp(v, "true") || !g_ascii_strcasecmp(v, "yes"))
        *out = true;
    else if (!g_ascii_strcasecmp(v, "false") || !g_ascii_strcasecmp(v, "no"))
        *out = false;
    else
        return fail(c, n, "%s must be true or false, not \"%s\"", what, v);
    return true;
}

static bool get_duration(Ctx *c, const VmfYamlNode *map, const char *key, const char *what,
                         unsigned *out)
{
    const VmfYamlNode *n;
    const char *v;
    if (!lookup(c, map, key, what, &n, &v))
        return false;
    if (!v)
        return true;
    int rc = vmf_parse_duration(v, out);
    if (rc < 0 || *out == 0 || *out > MAX_TIMEOUT)
        return fail(c, n, "%s \"%s\" is not a duration between 1s and 24h (e.g. 90s, 15m, 2h)",
                    what, v);
    return true;
}

int vmf_parse_duration(const char *text, unsigned *seconds)
{
    if (!text || !g_ascii_isdigit(text[0]))
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || v > UINT_MAX / 3600)
        return -ERANGE;
    unsigned long mult = 1;
    if (*end == 'm')
        mult = 60;
    else if (*end == 'h')
        mult = 3600;
    else if (*end != 's' && *end != '\0')
        return -EINVAL;
    if (*end && end[1])
        return -EINVAL;
    *seconds = (unsigned)(v * mult);
    return 0;
}

const char *vmf_inject_name(VmfInject inject)
{
    switch (inject) {
    case VMF_INJECT_INITRD:
        return "initrd";
    case VMF_INJECT_OEMDRV:
        return "oemdrv";
    case VMF_INJECT_HTTP:
        return "http";
    }
    return "?";
}

static const char HEPIX_RULE[] =
    "the HEPiX image format asks for raw disks with an MBR (msdos) partition table and no LVM "
    "inside the guest";

static bool parse_partition(Ctx *c, VmfRecipe *r, const VmfYamlNode *n, unsigned idx)
{
    static const char *const keys[] = {"mount", "size", "type", "bootable", "fstype", "lvm", NULL};
    if (!check_keys(c, n, "a disk partition", keys))
        return false;
    VmfPartition *p = &r->partitions[idx];
    p->line = n->line;
    p->type = 0x83;
    if (!get_string(c, n, "mount", "partition mount", &p->mount) ||
        !get_string(c, n, "fstype", "partition fstype", &p->fstype) ||
        !get_bool(c, n, "bootable", "partition bootable", &p->bootable))
        return false;
    bool lvm = false;
    if (!get_bool(c, n, "lvm", "partition lvm", &lvm))
        return false;
    if (lvm)
        return fail(c, vmf_yaml_get(n, "lvm"), "LVM is refused: %s", HEPIX_RULE);
    const VmfYamlNode *size = vmf_yaml_get(n, "size");
    const char *sv = NULL;
    if (!scalar(c, size, "partition size", &sv))
        return false;
    if (sv && strcmp(sv, "rest") != 0) {
        if (vmf_parse_size(sv, &p->size) < 0 || p->size < (1u << 20))
            return fail(c, size, "partition size \"%s\" is not a size of at least 1M (or \"rest\")",
                        sv);
    }
    const VmfYamlNode *type = vmf_yaml_get(n, "type");
    const char *tv = NULL;
    if (!scalar(c, type, "partition type", &tv))
        return false;
    if (p->mount && strcmp(p->mount, "swap") == 0)
        p->type = 0x82;
    if (tv) {
        char *end = NULL;
        if (!strcmp(tv, "linux"))
            p->type = 0x83;
        else if (!strcmp(tv, "swap"))
            p->type = 0x82;
        else if (!strcmp(tv, "efi"))
            p->type = 0xef;
        else if (!strcmp(tv, "fat32"))
            p->type = 0x0c;
        else if (!strcmp(tv, "lvm"))
            p->type = 0x8e;
        else {
            unsigned long code = strtoul(tv, &end, 16);
            if (!g_ascii_isxdigit(tv[0]) || *end || code == 0 || code > 0xff || code == 0x05 ||
                code == 0x0f || code == 0x85)
                return fail(c, type,
                            "partition type \"%s\": expected linux, swap, efi, fat32 or an MBR "
                            "type code such as 83 (not an extended partition)",
                            tv);
            p->type = (unsigned)code;
        }
        if (p->type == 0x8e)
            return fail(c, type, "partition type LVM (8e) is refused: %s", HEPIX_RULE);
        if (p->type == 0xee)
            return fail(c, type, "a GPT protective partition (ee) is refused: %s", HEPIX_RULE);
    }
    if (p->mount && p->mount[0] != '/' && strcmp(p->mount, "swap") != 0)
        return fail(c, vmf_yaml_get(n, "mount"),
                    "partition mount \"%s\" must be an absolute path or \"swap\"", p->mount);
    return true;
}

static bool parse_disk(Ctx *c, VmfRecipe *r, const VmfYamlNode *disk)
{
    static const char *const keys[] = {"size", "label", "partitions", "lvm", NULL};
    if (!disk)
        return fail(c, NULL, "no disk: section (size and partitions of the disk to install on)");
    if (!check_keys(c, disk, "disk", keys) ||
        !get_size(c, disk, "size", "disk size", &r->disk_size))
        return false;
    if (!vmf_yaml_get(disk, "size"))
        return fail(c, disk, "disk needs a size (e.g. size: 10G)");
    if (r->disk_size < VMF_RECIPE_MIN_DISK || r->disk_size > VMF_RECIPE_MAX_DISK)
        return fail(c, vmf_yaml_get(disk, "size"), "disk size must be between 16M and 64T");
    const char *label = NULL;
    if (!scalar(c, vmf_yaml_get(disk, "label"), "disk label", &label))
        return false;
    if (label && strcmp(label, "msdos") != 0 && strcmp(label, "mbr") != 0 &&
        strcmp(label, "dos") != 0)
        return fail(c, vmf_yaml_get(disk, "label"),
                    "disk label \"%s\" is refused: only msdos (MBR) — %s", label, HEPIX_RULE);
    bool lvm = false;
    if (!get_bool(c, disk, "lvm", "disk lvm", &lvm))
        return false;
    if (lvm)
        return fail(c, vmf_yaml_get(disk, "lvm"), "LVM is refused: %s", HEPIX_RULE);
    const VmfYamlNode *parts = vmf_yaml_get(disk, "partitions");
    if (!parts)
        return fail(c, disk, "disk needs partitions: (at least one, mounted at /)");
    if (parts->kind != VMF_YAML_SEQUENCE || parts->items->len == 0)
        return fail(c, parts, "disk partitions must be a list of partitions");
    if (parts->items->len > VMF_RECIPE_MAX_PARTITIONS)
        return fail(c, g_ptr_array_index(parts->items, VMF_RECIPE_MAX_PARTITIONS),
                    "at most %d partitions: an MBR holds four primary partitions",
                    VMF_RECIPE_MAX_PARTITIONS);
    bool have_root = false;
    uint64_t used = 1u << 20; /* the first MiB: MBR and alignment */
    for (guint i = 0; i < parts->items->len; i++) {
        const VmfYamlNode *pn = g_ptr_array_index(parts->items, i);
        if (!parse_partition(c, r, pn, i))
            return false;
        r->n_partitions = i + 1;
        VmfPartition *p = &r->partitions[i];
        if (p->size == 0 && i + 1 != parts->items->len)
            return fail(c, pn, "only the last partition can take the rest of the disk");
        for (guint j = 0; j < i; j++)
            if (p->mount && r->partitions[j].mount && strcmp(p->mount, "swap") != 0 &&
                strcmp(p->mount, r->partitions[j].mount) == 0)
                return fail(c, pn, "two partitions are mounted at %s", p->mount);
        have_root |= p->mount && strcmp(p->mount, "/") == 0;
        used += (p->size + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
    }
    if (!have_root)
        return fail(c, parts, "no partition is mounted at / (add mount: / to one)");
    if (used + (r->partitions[r->n_partitions - 1].size ? 0 : (1u << 20)) > r->disk_size)
        return fail(c, parts,
                    "the partitions need %" G_GUINT64_FORMAT " MiB, the disk has %" G_GUINT64_FORMAT
                    " MiB",
                    used >> 20, r->disk_size >> 20);
    return true;
}

/* volume: POOL/NAME, an installer ISO already on the libvirt host. */
static bool parse_iso_volume(Ctx *c, VmfRecipe *r, const VmfYamlNode *inst)
{
    if (!get_string(c, inst, "volume", "installer volume", &r->iso_volume))
        return false;
    const char *v = r->iso_volume, *slash = v ? strchr(v, '/') : NULL;
    if (v && (!slash || slash == v || !slash[1] || strchr(slash + 1, '/')))
        return fail(c, vmf_yaml_get(inst, "volume"),
                    "installer volume \"%s\": expected POOL/NAME, a volume of a storage pool of "
                    "the libvirt host",
                    v);
    return true;
}

static bool parse_installer(Ctx *c, VmfRecipe *r, const VmfYamlNode *inst)
{
    static const char *const keys[] = {
        "iso",         "volume",  "kernel",     "initrd",  "family",  "kickstart",    "inject",
        "rootpw_file", "network", "extra_args", "success", "timeout", "idle_timeout", NULL};
    if (!inst)
        return fail(c, NULL, "no installer: section (iso: or kernel: and initrd:)");
    if (!check_keys(c, inst, "installer", keys))
        return false;
    if (!get_path(c, r, inst, "iso", "installer iso", &r->iso) ||
        !get_path(c, r, inst, "kernel", "installer kernel", &r->kernel) ||
        !get_path(c, r, inst, "initrd", "installer initrd", &r->initrd) ||
        !get_path(c, r, inst, "rootpw_file", "installer rootpw_file", &r->rootpw_file) ||
        !get_string(c, inst, "network", "installer network", &r->network) ||
        !get_string(c, inst, "extra_args", "installer extra_args", &r->extra_args) ||
        !get_string(c, inst, "success", "installer success", &r->success) ||
        !get_string(c, inst, "family", "installer family", &r->family) ||
        !get_duration(c, inst, "timeout", "installer timeout", &r->timeout) ||
        !get_duration(c, inst, "idle_timeout", "installer idle_timeout", &r->idle_timeout) ||
        !parse_iso_volume(c, r, inst))
        return false;
    if (!r->iso && !(r->kernel && r->initrd))
        return fail(c, inst, "installer needs iso: (an installer ISO) or both kernel: and initrd:");
    if ((r->kernel != NULL) != (r->initrd != NULL))
        return fail(c, vmf_yaml_get(inst, r->kernel ? "kernel" : "initrd"),
                    "installer kernel: and initrd: go together");
    if (r->family && strcmp(r->family, "anaconda") != 0 && strcmp(r->family, "offline") != 0)
        return fail(c, vmf_yaml_get(inst, "family"),
                    "installer family \"%s\": expected anaconda or offline", r->family);
    if (r->network && strcmp(r->network, "user") == 0)
        g_clear_pointer(&r->network, g_free);
    const char *inj = NULL;
    if (!scalar(c, vmf_yaml_get(inst, "inject"), "installer inject", &inj))
        return false;
    if (!inj || !strcmp(inj, "initrd"))
        r->inject = VMF_INJECT_INITRD;
    else if (!strcmp(inj, "oemdrv"))
        r->inject = VMF_INJECT_OEMDRV;
    else if (!strcmp(inj, "http"))
        r->inject = VMF_INJECT_HTTP;
    else
        return fail(c, vmf_yaml_get(inst, "inject"),
                    "installer inject \"%s\": expected initrd, oemdrv or http", inj);
    /* The kickstart template: a file beside the recipe, or one of vmforge's
     * (templates/kickstart/NAME.ks). */
    const VmfYamlNode *ks = vmf_yaml_get(inst, "kickstart");
    const char *kv = NULL;
    if (!scalar(c, ks, "installer kickstart", &kv))
        return false;
    if (kv) {
        g_autofree char *local = g_canonicalize_filename(kv, r->dir);
        g_autofree char *named = g_strdup_printf("%s/kickstart/%s%s", vmf_templates_dir(), kv,
                                                 g_str_has_suffix(kv, ".ks") ? "" : ".ks");
        if (g_file_test(local, G_FILE_TEST_IS_REGULAR))
            r->kickstart = g_steal_pointer(&local);
        else if (!strchr(kv, '/') && g_file_test(named, G_FILE_TEST_IS_REGULAR))
            r->kickstart = g_steal_pointer(&named);
        else
            return fail(c, ks, "kickstart template \"%s\" not found (neither %s nor vmforge's %s)",
                        kv, local, named);
    }
    return true;
}

/* base: an existing image (raw or qcow2) as the disk, grown to size:. */
static bool parse_base(Ctx *c, VmfRecipe *r, const VmfYamlNode *base)
{
    static const char *const keys[] = {"image", "sha256", "size", "format", NULL};
    if (base->kind != VMF_YAML_MAPPING)
        return fail(c, base, "base must be a mapping (image: PATH, sha256:, size:, format:)");
    if (!check_keys(c, base, "base", keys) ||
        !get_path(c, r, base, "image", "base image", &r->base_image) ||
        !get_string(c, base, "sha256", "base sha256", &r->base_sha256) ||
        !get_size(c, base, "size", "base size", &r->base_size) ||
        !get_string(c, base, "format", "base format", &r->base_format))
        return false;
    if (!r->base_image)
        return fail(c, base, "base needs image: (the path of a raw or qcow2 image)");
    const VmfYamlNode *n = vmf_yaml_get(base, "sha256");
    if (r->base_sha256) {
        r->base_sha256_line = n->line;
        bool hex = strlen(r->base_sha256) == 64;
        for (char *p = r->base_sha256; hex && *p; p++) {
            hex = g_ascii_isxdigit(*p);
            *p = g_ascii_tolower(*p);
        }
        if (!hex)
            return fail(c, n, "base sha256 \"%s\" is not a SHA-256 (64 hexadecimal digits)",
                        r->base_sha256);
    }
    if ((n = vmf_yaml_get(base, "size"))) {
        r->base_size_line = n->line;
        if (r->base_size < VMF_RECIPE_MIN_DISK || r->base_size > VMF_RECIPE_MAX_DISK)
            return fail(c, n, "base size must be between 16M and 64T");
    }
    const char *f = r->base_format;
    if (f && strcmp(f, "raw") != 0 && strcmp(f, "qcow2") != 0)
        return fail(c, vmf_yaml_get(base, "format"),
                    "base format \"%s\": vmforge reads raw and qcow2 images (convert it first: "
                    "qemu-img convert -O qcow2)",
                    f);
    return true;
}

const char *vmf_firmware_name(VmfFirmware f)
{
    return f == VMF_FIRMWARE_UEFI ? "uefi" : f == VMF_FIRMWARE_BOTH ? "both" : "bios";
}

/* The EFI system partition: type efi (0xEF), mounted at /boot/efi, FAT. */
#define ESP_TYPE 0xefu
static bool check_esp(Ctx *c, VmfRecipe *r, const VmfYamlNode *fw)
{
    const VmfPartition *esp = NULL;
    for (unsigned i = 0; i < r->n_partitions; i++) {
        const VmfPartition *p = &r->partitions[i];
        bool at = p->mount && strcmp(p->mount, "/boot/efi") == 0;
        const char *why = !at                   ? NULL
                          : p->type != ESP_TYPE ? "needs type: efi (0xEF, the EFI system partition)"
                          : p->fstype && strcmp(p->fstype, "vfat") != 0 && strcmp(p->fstype, "efi")
                              ? "is FAT: give fstype: vfat"
                              : NULL;
        if (why) {
            g_set_error(c->error, vmf_recipe_error_quark(), VMF_RECIPE_ERROR_INVALID,
                        "%s:%u: the partition mounted at /boot/efi %s", c->file, p->line, why);
            return false;
        }
        if (at)
            esp = p;
    }
    if (r->firmware == VMF_FIRMWARE_BIOS || esp || vmf_recipe_has_base(r))
        return true;
    return fail(c, fw,
                "firmware: %s needs an EFI system partition; add to disk: partitions: "
                "- {mount: /boot/efi, size: 256M, type: efi, fstype: vfat}",
                vmf_firmware_name(r->firmware));
}

/* firmware: bios (default) | uefi | both. */
static bool parse_firmware(Ctx *c, VmfRecipe *r, const VmfYamlNode *fw)
{
    const char *v = NULL;
    if (!scalar(c, fw, "firmware", &v))
        return false;
    VmfFirmware f = VMF_FIRMWARE_BIOS;
    while (v && f <= VMF_FIRMWARE_BOTH && strcmp(v, vmf_firmware_name(f)) != 0)
        f++;
    if (f > VMF_FIRMWARE_BOTH)
        return fail(c, fw,
                    "firmware \"%s\": give bios (the default), uefi, or both (one disk that "
                    "boots either way)",
                    v);
    r->firmware = f;
    return check_esp(c, r, fw);
}

/* Where the disk comes from: base: (an image) or disk: and installer: (an
 * install), never both. */
static bool parse_source(Ctx *c, VmfRecipe *r, const VmfYamlNode *root)
{
    const VmfYamlNode *base = vmf_yaml_get_key(root, "base");
    if (!base)
        return parse_disk(c, r, vmf_yaml_get(root, "disk")) &&
               parse_installer(c, r, vmf_yaml_get(root, "installer"));
    static const char *const install_only[] = {"installer", "disk"};
    for (size_t i = 0; i < G_N_ELEMENTS(install_only); i++) {
        const VmfYamlNode *other = vmf_yaml_get_key(root, install_only[i]);
        if (other)
            return fail(c, other,
                        "%s: (line %u) and base: (line %u) exclude each other: the disk is either "
                        "installed (disk:, installer:) or made from an image (base:, grown with "
                        "base: size:)",
                        install_only[i], other->line, base->line);
    }
    r->base_line = base->line;
    return parse_base(c, r, vmf_yaml_get(root, "base"));
}

static bool parse_hardware(Ctx *c, VmfRecipe *r, const VmfYamlNode *hw)
{
    static const char *const keys[] = {"vcpus", "memory", "nic", NULL};
    r->vcpus = 2;
    r->memory = 2048ull << 20;
    if (!hw)
        return true;
    if (!check_keys(c, hw, "hardware", keys))
        return false;
    const VmfYamlNode *v = vmf_yaml_get(hw, "vcpus");
    const char *vv = NULL;
    if (!scalar(c, v, "hardware vcpus", &vv))
        return false;
    if (vv) {
        char *end = NULL;
        unsigned long n = strtoul(vv, &end, 10);
        if (!g_ascii_isdigit(vv[0]) || *end || n < 1 || n > VMF_RECIPE_MAX_VCPUS)
            return fail(c, v, "hardware vcpus \"%s\" must be a whole number from 1 to %d", vv,
                        VMF_RECIPE_MAX_VCPUS);
        r->vcpus = (unsigned)n;
    }
    if (!get_size(c, hw, "memory", "hardware memory", &r->memory))
        return false;
    if (r->memory < VMF_RECIPE_MIN_MEMORY || r->memory > VMF_RECIPE_MAX_MEMORY)
        return fail(c, vmf_yaml_get(hw, "memory"),
                    "hardware memory must be between 128M and 16T (a plain number is bytes)");
    const char *nic = NULL;
    if (!scalar(c, vmf_yaml_get(hw, "nic"), "hardware nic", &nic))
        return false;
    if (nic && strcmp(nic, "virtio") != 0 && strcmp(nic, "e1000") != 0 &&
        strcmp(nic, "vmxnet3") != 0 && strcmp(nic, "e1000e") != 0)
        return fail(c, vmf_yaml_get(hw, "nic"),
                    "hardware nic \"%s\": expected virtio, e1000, e1000e or vmxnet3", nic);
    r->nic = g_strdup(nic);
    return true;
}

static bool parse_vars(Ctx *c, VmfRecipe *r, const VmfYamlNode *vars, char **overrides)
{
    if (vars) {
        if (vars->kind != VMF_YAML_MAPPING)
            return fail(c, vars, "vars must be a mapping (name: value lines), found %s",
                        vmf_yaml_kind_name(vars->kind));
        for (guint i = 0; i < vars->keys->len; i++) {
            const VmfYamlNode *k = g_ptr_array_index(vars->keys, i);
            const VmfYamlNode *v = g_ptr_array_index(vars->items, i);
            if (v->kind != VMF_YAML_SCALAR)
                return fail(c, v, "var %s must be a single value", k->value);
            g_hash_table_replace(r->vars, g_strdup(k->value), g_strdup(v->value));
        }
    }
    for (char **o = overrides; o && *o; o++) {
        const char *eq = strchr(*o, '=');
        if (!eq || eq == *o) {
            g_set_error(c->error, vmf_recipe_error_quark(), VMF_RECIPE_ERROR_USAGE,
                        "--var \"%s\": expected NAME=VALUE", *o);
            return false;
        }
        g_hash_table_replace(r->vars, g_strndup(*o, (gsize)(eq - *o)), g_strdup(eq + 1));
    }
    return true;
}

VmfRecipe *vmf_recipe_load_data(const char *path, const char *text, size_t len, char **overrides,
                                GError **error)
{
    static const char *const keys[] = {"name",     "version",   "description", "vars",
                                       "disk",     "installer", "base",        "hardware",
                                       "firmware", "customize", "verify",      "scratch",
                                       "targets",  "convert",   NULL};
    g_autoptr(VmfRecipe) r = g_new0(VmfRecipe, 1);
    r->path = g_canonicalize_filename(path, NULL);
    r->sha256 = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)text, len);
    r->dir = g_path_get_dirname(r->path);
    r->vars = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    r->timeout = DEFAULT_TIMEOUT;
    r->idle_timeout = DEFAULT_IDLE_TIMEOUT;
    Ctx c = {.file = path, .error = error};
    GError *yerr = NULL;
    r->root = vmf_yaml_parse(text, len, &yerr);
    if (!r->root) {
        g_set_error(error, vmf_recipe_error_quark(), VMF_RECIPE_ERROR_INVALID, "%s:%s", path,
                    yerr->message);
        g_error_free(yerr);
        return NULL;
    }
    const VmfYamlNode *root = r->root;
    if (!check_keys(&c, root, "the recipe", keys))
        return NULL;
    const char *name = NULL;
    const VmfYamlNode *nn = vmf_yaml_get(root, "name");
    if (!scalar(&c, nn, "name", &name))
        return NULL;
    if (!name)
        return fail(&c, root, "the recipe needs a name (name: my-image)"), NULL;
    for (const char *p = name; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '.')
            return fail(&c, nn,
                        "name \"%s\" may hold only letters, digits, '-', '_' and '.' (it names "
                        "files and domains)",
                        name),
                   NULL;
    if (strlen(name) > 64 || name[0] == '.')
        return fail(&c, nn, "name \"%s\": at most 64 characters, not starting with '.'", name),
               NULL;
    r->name = g_strdup(name);
    if (!get_string(&c, root, "version", "version", &r->version) ||
        !parse_vars(&c, r, vmf_yaml_get(root, "vars"), overrides) || !parse_source(&c, r, root) ||
        !parse_hardware(&c, r, vmf_yaml_get(root, "hardware")) ||
        !parse_firmware(&c, r, vmf_yaml_get(root, "firmware")))
        return NULL;
    r->customize = vmf_yaml_get(root, "customize");
    r->verify = vmf_yaml_get(root, "verify");
    r->scratch = vmf_yaml_get(root, "scratch");
    r->targets = vmf_yaml_get(root, "targets");
    r->convert = vmf_yaml_get(root, "convert");
    return g_steal_pointer(&r);
}

VmfRecipe *vmf_recipe_load(const char *path, char **overrides, GError **error)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    GError *ferr = NULL;
    if (!g_file_get_contents(path, &text, &len, &ferr)) {
        g_set_error(error, vmf_recipe_error_quark(), VMF_RECIPE_ERROR_READ, "%s", ferr->message);
        g_error_free(ferr);
        return NULL;
    }
    return vmf_recipe_load_data(path, text, len, overrides, error);
}

int vmf_recipe_exit_code(const GError *err)
{
    return err->domain == vmf_recipe_error_quark() && err->code == VMF_RECIPE_ERROR_USAGE
               ? VMF_EXIT_USAGE
               : VMF_EXIT_INPUT;
}

void vmf_recipe_free(VmfRecipe *r)
{
    if (!r)
        return;
    for (unsigned i = 0; i < VMF_RECIPE_MAX_PARTITIONS; i++) {
        g_free(r->partitions[i].mount);
        g_free(r->partitions[i].fstype);
    }
    g_free(r->path);
    g_free(r->sha256);
    g_free(r->dir);
    g_free(r->name);
    g_free(r->version);
    if (r->vars)
        g_hash_table_unref(r->vars);
    g_free(r->base_image);
    g_free(r->base_sha256);
    g_free(r->base_format);
    g_free(r->iso);
    g_free(r->iso_volume);
    g_free(r->kernel);
    g_free(r->initrd);
    g_free(r->family);
    g_free(r->kickstart);
    g_free(r->rootpw_file);
    g_free(r->network);
    g_free(r->extra_args);
    g_free(r->success);
    g_free(r->nic);
    vmf_yaml_free(r->root);
    g_free(r);
}
