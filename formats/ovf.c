/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ovf.c — OVF descriptors and hardware profiles. See ovf.h. */
#include "ovf.h"

#include <errno.h>
#include <libxml/tree.h>

#define NS_OVF "http://schemas.dmtf.org/ovf/envelope/1"
#define NS_RASD                                                                                    \
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
#define NS_VSSD         "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
#define NS_VMW          "http://www.vmware.com/schema/ovf"
#define NS_XSI          "http://www.w3.org/2001/XMLSchema-instance"
#define NS_VBOX         "http://www.virtualbox.org/ovf/machine"
#define VMDK_STREAM_URI "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"

/* CIM ResourceType values (CIM_ResourceAllocationSettingData). */
#define RT_PROCESSOR 3
#define RT_MEMORY    4
#define RT_ETHERNET  10
#define RT_DISK      17

static const char *const manifest_algorithms[] = {"sha1", "sha256", "sha512", NULL};

bool vf_ovf_manifest_algorithm_known(const char *a)
{
    return a && g_strv_contains(manifest_algorithms, a);
}

/* ---- profiles ------------------------------------------------------------ */

void vf_ovf_profile_free(VfOvfProfile *p)
{
    if (!p)
        return;
    g_free(p->name);
    g_free(p->description);
    g_free(p->virtual_system_type);
    g_free(p->manifest);
    g_strfreev(p->manifest_allowed);
    g_free(p->vmdk_adapter);
    g_free(p->controller.subtype);
    g_free(p->controller.name);
    if (p->controllers)
        g_ptr_array_unref(p->controllers);
    g_free(p->nic_subtype);
    g_free(p->nic_name);
    if (p->nic_models)
        g_hash_table_unref(p->nic_models);
    if (p->os)
        g_hash_table_unref(p->os);
    g_free(p->vbox_version);
    g_clear_pointer(&p->vbox_os, g_hash_table_unref);
    g_clear_pointer(&p->vbox_controllers, g_hash_table_unref);
    g_clear_pointer(&p->vbox_nics, g_hash_table_unref);
    g_free(p);
}

static void controller_free(gpointer data)
{
    VfOvfController *c = data;
    g_free(c->bus);
    g_free(c->subtype);
    g_free(c->name);
    g_free(c);
}

static char *get_string(GKeyFile *kf, const char *path, const char *group, const char *key,
                        GError **error)
{
    g_autoptr(GError) err = NULL;
    char *v = g_key_file_get_string(kf, group, key, &err);
    if (!v || !*v) {
        g_free(v);
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE, "%s: [%s] needs a value for %s", path, group,
                    key);
        return NULL;
    }
    return g_strstrip(v);
}

/* resource-type, resource-subtype, name and max-devices (default 15) of a
 * controller group. */
static int load_controller(GKeyFile *kf, const char *path, const char *group, VfOvfController *c,
                           GError **error)
{
    g_autoptr(GError) err = NULL;
    int rt = g_key_file_get_integer(kf, group, "resource-type", &err);
    if (err || rt <= 0 || rt > 65535) {
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE,
                    "%s: [%s] resource-type must be a CIM ResourceType number", path, group);
        return -EINVAL;
    }
    c->type = (unsigned)rt;
    c->max_devices = 15;
    if (g_key_file_has_key(kf, group, "max-devices", NULL)) {
        int m = g_key_file_get_integer(kf, group, "max-devices", &err);
        if (err || m < 1 || m > 256) {
            g_set_error(error, VF_ERROR, VF_ERROR_USAGE,
                        "%s: [%s] max-devices must be a number from 1 to 256", path, group);
            return -EINVAL;
        }
        c->max_devices = (unsigned)m;
    }
    if (!(c->subtype = get_string(kf, path, group, "resource-subtype", error)) ||
        !(c->name = get_string(kf, path, group, "name", error)))
        return -EINVAL;
    return 0;
}

const VfOvfController *vf_ovf_profile_controller(const VfOvfProfile *p, const char *bus)
{
    for (guint i = 0; bus && p->controllers && i < p->controllers->len; i++) {
        const VfOvfController *c = g_ptr_array_index(p->controllers, i);
        if (strcmp(c->bus, bus) == 0)
            return c;
    }
    return &p->controller;
}

const char *vf_ovf_profile_nic(const VfOvfProfile *p, const char *model)
{
    const char *v = model && p->nic_models ? g_hash_table_lookup(p->nic_models, model) : NULL;
    return v ? v : p->nic_subtype;
}

/* The profile's file, read (bounded) into a key file. */
static int profile_read(const char *dir, const char *name, const char *path, GKeyFile **out,
                        GError **error)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    g_autoptr(GError) err = NULL;
    if (!g_file_get_contents(path, &text, &len, &err)) {
        g_auto(GStrv) known = vf_ovf_profile_list(dir);
        g_autofree char *list = g_strjoinv(", ", known);
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE, "no hardware profile \"%s\" (%s; known: %s)",
                    name, err->message, *list ? list : "none");
        return -ENOENT;
    }
    if (len > VF_OVF_PROFILE_MAX_BYTES) {
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE, "%s is larger than a profile can be", path);
        return -EFBIG;
    }
    g_autoptr(GKeyFile) kf = g_key_file_new();
    if (!g_key_file_load_from_data(kf, text, len, G_KEY_FILE_NONE, &err)) {
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE, "%s: %s", path, err->message);
        return -EINVAL;
    }
    *out = g_steal_pointer(&kf);
    return 0;
}

/* manifest= and manifest-allowed= (which holds manifest=). */
static int profile_manifest(GKeyFile *kf, const char *path, VfOvfProfile *p, GError **error)
{
    p->manifest_allowed = g_key_file_get_string_list(kf, "profile", "manifest-allowed", NULL, NULL);
    if (!p->manifest_allowed) {
        p->manifest_allowed = g_new0(char *, 2);
        p->manifest_allowed[0] = g_strdup(p->manifest);
    }
    for (char **a = p->manifest_allowed; *a; a++) {
        g_strstrip(*a);
        if (!vf_ovf_manifest_algorithm_known(*a)) {
            g_set_error(error, VF_ERROR, VF_ERROR_USAGE,
                        "%s: manifest-allowed: \"%s\" is not sha1, sha256 or sha512", path, *a);
            return -EINVAL;
        }
    }
    if (!vf_ovf_manifest_algorithm_known(p->manifest) ||
        !g_strv_contains((const char *const *)p->manifest_allowed, p->manifest)) {
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE,
                    "%s: manifest \"%s\" must be sha1, sha256 or sha512 and in manifest-allowed",
                    path, p->manifest);
        return -EINVAL;
    }
    return 0;
}

/* The [controller-BUS] groups: a controller of its own per disk bus. */
static int profile_controllers(GKeyFile *kf, const char *path, VfOvfProfile *p, GError **error)
{
    p->controllers = g_ptr_array_new_with_free_func(controller_free);
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    for (char **gr = groups; *gr; gr++) {
        if (!g_str_has_prefix(*gr, "controller-"))
            continue;
        VfOvfController *c = g_new0(VfOvfController, 1);
        g_ptr_array_add(p->controllers, c);
        c->bus = g_strdup(*gr + strlen("controller-"));
        if (load_controller(kf, path, *gr, c, error) < 0)
            return -EINVAL;
    }
    return 0;
}

/* A table of the profile, KEY = VALUE, each value checked by `valid`;
 * `what` says what a value must be. */
static GHashTable *profile_table(GKeyFile *kf, const char *path, const char *group,
                                 bool (*valid)(const char *), const char *what, GError **error)
{
    g_autoptr(GHashTable) t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);
    for (char **k = keys; k && *k; k++) {
        g_autofree char *v = g_key_file_get_string(kf, group, *k, NULL);
        g_strstrip(v);
        if (!valid(v)) {
            g_set_error(error, VF_ERROR, VF_ERROR_USAGE, "%s: [%s] %s%s", path, group, *k, what);
            return NULL;
        }
        g_hash_table_insert(t, g_strdup(*k), g_steal_pointer(&v));
    }
    return g_steal_pointer(&t);
}

static bool not_empty(const char *v)
{
    return *v != '\0';
}

static bool cim_os_id(const char *v)
{
    return g_ascii_isdigit(v[0]);
}

/* "Type;Name", both given. */
static bool type_and_name(const char *v)
{
    const char *semi = strchr(v, ';');
    return semi && semi != v && semi[1] && !strchr(semi + 1, ';');
}

/* [vbox], [vbox-os], [vbox-controllers] and [vbox-nics], when the profile
 * has [vbox]; the OS table needs "linux" (the default). */
static int profile_vbox(GKeyFile *kf, const char *path, VfOvfProfile *p, GError **error)
{
    if (!g_key_file_has_group(kf, "vbox"))
        return 0;
    if (!(p->vbox_version = get_string(kf, path, "vbox", "settings-version", error)) ||
        !(p->vbox_os = profile_table(kf, path, "vbox-os", not_empty, " needs an OSType", error)) ||
        !(p->vbox_controllers = profile_table(kf, path, "vbox-controllers", type_and_name,
                                              ": expected Type;Name", error)) ||
        !(p->vbox_nics =
              profile_table(kf, path, "vbox-nics", not_empty, " needs an adapter type", error)))
        return -EINVAL;
    if (!g_hash_table_contains(p->vbox_os, "linux")) {
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE,
                    "%s: [vbox-os] needs a \"linux\" entry (the default)", path);
        return -EINVAL;
    }
    return 0;
}

int vf_ovf_profile_load(const char *dir, const char *name, VfOvfProfile **out, GError **error)
{
    if (!*name || strchr(name, '/') || name[0] == '.') {
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE, "\"%s\" is not a profile name", name);
        return -EINVAL;
    }
    g_autofree char *file = g_strdup_printf("%s.conf", name);
    g_autofree char *path = g_build_filename(dir, file, NULL);
    g_autoptr(GKeyFile) kf = NULL;
    int r = profile_read(dir, name, path, &kf, error);
    if (r < 0)
        return r;
    g_autoptr(VfOvfProfile) p = g_new0(VfOvfProfile, 1);
    p->name = g_strdup(name);
    if (!(p->description = get_string(kf, path, "profile", "description", error)) ||
        !(p->virtual_system_type = get_string(kf, path, "profile", "virtual-system-type", error)) ||
        !(p->manifest = get_string(kf, path, "profile", "manifest", error)) ||
        !(p->vmdk_adapter = get_string(kf, path, "profile", "vmdk-adapter", error)) ||
        load_controller(kf, path, "controller", &p->controller, error) < 0 ||
        !(p->nic_subtype = get_string(kf, path, "nic", "resource-subtype", error)) ||
        !(p->nic_name = get_string(kf, path, "nic", "name", error)) ||
        profile_manifest(kf, path, p, error) < 0 || profile_controllers(kf, path, p, error) < 0)
        return -EINVAL;
    p->nic_models =
        profile_table(kf, path, "nic-models", not_empty, " needs a ResourceSubType", error);
    if (!p->nic_models)
        return -EINVAL;
    p->os = profile_table(kf, path, "os", cim_os_id,
                          ": expected a CIM OS id, optionally ;vmwOsType", error);
    if (!p->os)
        return -EINVAL;
    if (!g_hash_table_contains(p->os, "linux")) {
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE,
                    "%s: [os] needs a \"linux\" entry (the default)", path);
        return -EINVAL;
    }
    if (profile_vbox(kf, path, p, error) < 0)
        return -EINVAL;
    *out = g_steal_pointer(&p);
    return 0;
}

/* g_ptr_array_sort passes pointers to the elements. */
static gint compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **vf_ovf_profile_list(const char *dir)
{
    GPtrArray *names = g_ptr_array_new();
    GDir *d = g_dir_open(dir, 0, NULL);
    if (d) {
        const char *n;
        while ((n = g_dir_read_name(d)))
            if (g_str_has_suffix(n, ".conf") && n[0] != '.')
                g_ptr_array_add(names, g_strndup(n, strlen(n) - 5));
        g_dir_close(d);
    }
    g_ptr_array_sort(names, compare_names);
    g_ptr_array_add(names, NULL);
    return (char **)g_ptr_array_free(names, false);
}

/* ---- descriptor ---------------------------------------------------------- */

/* A disk controller of the appliance: its kind, InstanceID, how many disks
 * it holds, and its rank among the controllers of its kind. */
typedef struct {
    const VfOvfController *kind;
    unsigned instance, used, ordinal;
} Ctl;

typedef struct Builder {
    const VfOvfProfile *p;
    const VfOvfParams *o;
    const char *network; /* the default network's name */
    xmlDocPtr doc;
    xmlNsPtr def;                  /* OVF as the default namespace: elements */
    xmlNsPtr ovf, rasd, vssd, vmw; /* prefixed: attributes and CIM elements */
    xmlNsPtr vbox;                 /* VirtualBox's, when <vbox:Machine> is written */
    GPtrArray *disk_ids;           /* diskId of each disk */
    GPtrArray *vbox_uuids;         /* vbox:uuid of each disk (NULL: none) */
    unsigned instance;             /* the last hardware Item's InstanceID */
    GArray *ctls;                  /* of Ctl: the controllers of the disks */
    unsigned *disk_ctl;            /* per disk: its controller's index in ctls */
    unsigned *disk_addr;           /* per disk: its AddressOnParent */
} Builder;

static const xmlChar *X(const char *s)
{
    return (const xmlChar *)s;
}

static xmlNodePtr child(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *text)
{
    return xmlNewTextChild(parent, ns, X(name), text ? X(text) : NULL);
}

static void attr(xmlNodePtr node, xmlNsPtr ns, const char *name, const char *value)
{
    xmlNewNsProp(node, ns, X(name), X(value));
}

static void attr_u64(xmlNodePtr node, xmlNsPtr ns, const char *name, uint64_t value)
{
    char buf[32];
    g_snprintf(buf, sizeof buf, "%" G_GUINT64_FORMAT, value);
    attr(node, ns, name, buf);
}

static xmlNodePtr section(Builder *b, xmlNodePtr parent, const char *name, const char *info)
{
    xmlNodePtr s = child(parent, b->def, name, NULL);
    child(s, b->def, "Info", info);
    return s;
}

/* A VirtualHardwareSection Item. RASD children must follow the schema's
 * (alphabetical) order; NULL values are left out. */
typedef struct ItemSpec {
    const char *address;
    const char *address_on_parent;
    const char *allocation_units;
    const char *automatic_allocation;
    const char *connection;
    const char *description;
    const char *element_name;
    const char *host_resource;
    const char *instance_id;
    const char *parent;
    const char *resource_subtype;
    const char *resource_type;
    const char *virtual_quantity;
} ItemSpec;

static void item(Builder *b, xmlNodePtr hw, const ItemSpec *s)
{
    xmlNodePtr it = child(hw, b->def, "Item", NULL);
    const struct {
        const char *name, *value;
    } fields[] = {
        {"Address", s->address},
        {"AddressOnParent", s->address_on_parent},
        {"AllocationUnits", s->allocation_units},
        {"AutomaticAllocation", s->automatic_allocation},
        {"Connection", s->connection},
        {"Description", s->description},
        {"ElementName", s->element_name},
        {"HostResource", s->host_resource},
        {"InstanceID", s->instance_id},
        {"Parent", s->parent},
        {"ResourceSubType", s->resource_subtype},
        {"ResourceType", s->resource_type},
        {"VirtualQuantity", s->virtual_quantity},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(fields); i++)
        if (fields[i].value)
            child(it, b->rasd, fields[i].name, fields[i].value);
}

int vf_ovf_scratch_per_core(uint64_t per_core, unsigned vcpus, uint64_t *out, GError **error)
{
    if (vcpus == 0 || per_core > UINT64_MAX / vcpus) {
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE,
                    "scratch disk of %" G_GUINT64_FORMAT
                    " bytes per core × %u vCPUs is out of range",
                    per_core, vcpus);
        return -ERANGE;
    }
    *out = per_core * vcpus;
    return 0;
}

static int check_params(const VfOvfProfile *p, const VfOvfParams *o, GError **error)
{
    const char *bad = NULL;
    if (!o->name || !*o->name)
        bad = "a virtual system name is required";
    else if (!o->disks || o->n_disks == 0 || o->n_disks > VF_OVF_MAX_DISKS)
        bad = "an appliance has from 1 to 64 disks";
    else if (o->nics_given && o->n_nics > VF_OVF_MAX_NICS)
        bad = "an appliance has at most 32 network adapters";
    else if (o->firmware && strcmp(o->firmware, "bios") != 0 && strcmp(o->firmware, "efi") != 0)
        bad = "firmware must be bios or efi";
    else if (o->vcpus == 0 || o->vcpus > VF_OVF_MAX_VCPUS)
        bad = "vCPUs must be from 1 to 768";
    else if (o->memory_mib == 0 || o->memory_mib > VF_OVF_MAX_MEMORY_MIB)
        bad = "memory must be from 1 MiB to 24 TiB";
    for (size_t i = 0; !bad && i < o->n_disks; i++)
        if (o->disks[i].capacity == 0)
            bad = "a disk's capacity must not be zero";
        else if (o->disks[i].href && (!*o->disks[i].href || strchr(o->disks[i].href, '/')))
            bad = "a disk file name must be a plain file name";
    if (bad) {
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE, "OVF descriptor: %s", bad);
        return -EINVAL;
    }
    if (o->os && !g_hash_table_contains(p->os, o->os)) {
        GList *keys = g_list_sort(g_hash_table_get_keys(p->os), (GCompareFunc)g_strcmp0);
        GString *known = g_string_new(NULL);
        for (GList *l = keys; l; l = l->next)
            g_string_append_printf(known, "%s%s", known->len ? ", " : "", (char *)l->data);
        g_list_free(keys);
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE,
                    "profile %s has no operating system \"%s\" (known: %s)", p->name, o->os,
                    known->str);
        g_string_free(known, true);
        return -EINVAL;
    }
    return 0;
}

/* The next hardware Item's InstanceID, in `buf`. */
static const char *next_id(Builder *b, char buf[16])
{
    g_snprintf(buf, 16, "%u", ++b->instance);
    return buf;
}

static xmlNodePtr envelope_new(Builder *b)
{
    b->doc = xmlNewDoc(X("1.0"));
    xmlNodePtr env = xmlNewNode(NULL, X("Envelope"));
    xmlDocSetRootElement(b->doc, env);
    b->def = xmlNewNs(env, X(NS_OVF), NULL);
    xmlSetNs(env, b->def);
    b->ovf = xmlNewNs(env, X(NS_OVF), X("ovf"));
    b->rasd = xmlNewNs(env, X(NS_RASD), X("rasd"));
    b->vssd = xmlNewNs(env, X(NS_VSSD), X("vssd"));
    b->vmw = xmlNewNs(env, X(NS_VMW), X("vmw"));
    xmlNewNs(env, X(NS_XSI), X("xsi"));
    return env;
}

/* Whether the descriptor carries <vbox:Machine>: an EFI appliance of a
 * profile with [vbox] (VirtualBox reads the firmware nowhere else). */
static bool vbox_wanted(const Builder *b)
{
    return b->p->vbox_version && b->o->firmware && strcmp(b->o->firmware, "efi") == 0;
}

/* A UUID (version 5 form) from what the descriptor says of the appliance,
 * never random: the same inputs give the same descriptor. `what` and
 * `index` tell the identifiers of one descriptor apart. */
static char *derived_uuid(const Builder *b, const char *what, size_t index)
{
    g_autoptr(GChecksum) ck = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree char *head = g_strdup_printf("%s %zu %s", what, index, b->o->name);
    g_checksum_update(ck, (const guchar *)head, -1);
    for (size_t i = 0; i < b->o->n_disks; i++) {
        const VfOvfDisk *d = &b->o->disks[i];
        g_autofree char *s =
            g_strdup_printf("\n%s %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT,
                            d->href ? d->href : "-", d->file_size, d->capacity, d->populated);
        g_checksum_update(ck, (const guchar *)s, -1);
    }
    uint8_t u[32];
    gsize len = sizeof u;
    g_checksum_get_digest(ck, u, &len);
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x50); /* version 5: name-based (SHA) */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    GString *s = g_string_sized_new(36);
    for (int i = 0; i < 16; i++)
        g_string_append_printf(s, "%s%02x", i == 4 || i == 6 || i == 8 || i == 10 ? "-" : "", u[i]);
    return g_string_free(s, false);
}

/* References: a File per disk that has one. */
static void add_references(Builder *b, xmlNodePtr env)
{
    xmlNodePtr refs = child(env, b->def, "References", NULL);
    unsigned nfile = 0;
    for (size_t i = 0; i < b->o->n_disks; i++) {
        const VfOvfDisk *d = &b->o->disks[i];
        if (!d->href)
            continue;
        g_autofree char *id = g_strdup_printf("file%u", ++nfile);
        xmlNodePtr file = child(refs, b->def, "File", NULL);
        attr(file, b->ovf, "href", d->href);
        attr(file, b->ovf, "id", id);
        attr_u64(file, b->ovf, "size", d->file_size);
    }
}

/* DiskSection: disks made at deploy time (href NULL) have no fileRef. */
static void add_disk_section(Builder *b, xmlNodePtr env)
{
    xmlNodePtr disks = section(b, env, "DiskSection", "Virtual disks");
    unsigned nfile = 0, nscratch = 0;
    for (size_t i = 0; i < b->o->n_disks; i++) {
        const VfOvfDisk *d = &b->o->disks[i];
        char *id = d->href ? g_strdup_printf("vmdisk%u", ++nfile)
                           : g_strdup_printf("scratch%u", ++nscratch);
        g_ptr_array_add(b->disk_ids, id);
        xmlNodePtr disk = child(disks, b->def, "Disk", NULL);
        attr_u64(disk, b->ovf, "capacity", d->capacity);
        attr(disk, b->ovf, "capacityAllocationUnits", "byte");
        attr(disk, b->ovf, "diskId", id);
        if (d->href) {
            g_autofree char *ref = g_strdup_printf("file%u", nfile);
            attr(disk, b->ovf, "fileRef", ref);
        }
        attr(disk, b->ovf, "format", VMDK_STREAM_URI);
        if (d->href)
            attr_u64(disk, b->ovf, "populatedSize", d->populated);
        /* VirtualBox finds the disks of <vbox:Machine> by this. */
        char *uuid = b->vbox && d->href ? derived_uuid(b, "vbox-disk", i) : NULL;
        g_ptr_array_add(b->vbox_uuids, uuid);
        if (uuid)
            attr(disk, b->vbox, "uuid", uuid);
    }
}

/* The NICs: the given ones, or one default NIC. */
static const VfOvfNic *nics_of(const VfOvfParams *o, size_t *n)
{
    static const VfOvfNic default_nic = {0};
    *n = o->nics_given ? o->n_nics : 1;
    return o->nics_given ? o->nics : &default_nic;
}

/* NetworkSection: every network an adapter connects to, once. */
static void add_network_section(Builder *b, xmlNodePtr env)
{
    size_t nn;
    const VfOvfNic *nv = nics_of(b->o, &nn);
    xmlNodePtr nets = section(b, env, "NetworkSection", "Logical networks");
    g_autoptr(GPtrArray) net_names = g_ptr_array_new();
    for (size_t i = 0; i < MAX(nn, 1); i++) {
        const char *n = i < nn && nv[i].network ? nv[i].network : b->network;
        if (g_ptr_array_find_with_equal_func(net_names, n, g_str_equal, NULL))
            continue;
        g_ptr_array_add(net_names, (gpointer)n);
        xmlNodePtr net = child(nets, b->def, "Network", NULL);
        attr(net, b->ovf, "name", n);
        child(net, b->def, "Description", "The network the virtual machine attaches to");
    }
}

/* OperatingSystemSection: the profile's CIM id for the OS, and VMware's
 * osType when it has one. */
static void add_os_section(Builder *b, xmlNodePtr vs)
{
    const char *os_key = b->o->os ? b->o->os : "linux";
    g_auto(GStrv) os = g_strsplit(g_hash_table_lookup(b->p->os, os_key), ";", 2);
    xmlNodePtr oss = child(vs, b->def, "OperatingSystemSection", NULL);
    attr(oss, b->ovf, "id", g_strstrip(os[0]));
    if (os[1] && *g_strstrip(os[1]))
        attr(oss, b->vmw, "osType", os[1]);
    child(oss, b->def, "Info", "The guest operating system");
    child(oss, b->def, "Description", os_key);
}

/* The System element, then the CPUs and the memory. */
static void add_system(Builder *b, xmlNodePtr hw)
{
    const VfOvfParams *o = b->o;
    xmlNodePtr sys = child(hw, b->def, "System", NULL);
    child(sys, b->vssd, "ElementName", "Virtual Hardware Family");
    child(sys, b->vssd, "InstanceID", "0");
    child(sys, b->vssd, "VirtualSystemIdentifier", o->name);
    child(sys, b->vssd, "VirtualSystemType", b->p->virtual_system_type);
    char iid[16];
    g_autofree char *cpus = g_strdup_printf("%u", o->vcpus);
    g_autofree char *cpu_name = g_strdup_printf("%u virtual CPU(s)", o->vcpus);
    item(b, hw,
         &(ItemSpec){.allocation_units = "hertz * 10^6",
                     .description = "Number of virtual CPUs",
                     .element_name = cpu_name,
                     .instance_id = next_id(b, iid),
                     .resource_type = G_STRINGIFY(RT_PROCESSOR),
                     .virtual_quantity = cpus});
    g_autofree char *mem = g_strdup_printf("%" G_GUINT64_FORMAT, o->memory_mib);
    g_autofree char *mem_name =
        g_strdup_printf("%" G_GUINT64_FORMAT " MB of memory", o->memory_mib);
    item(b, hw,
         &(ItemSpec){.allocation_units = "byte * 2^20",
                     .description = "Memory size",
                     .element_name = mem_name,
                     .instance_id = next_id(b, iid),
                     .resource_type = G_STRINGIFY(RT_MEMORY),
                     .virtual_quantity = mem});
}

/* Each disk goes to its bus's controller kind, a new instance of it when
 * the last one is full: b->disk_ctl[i] is its controller's index in
 * b->ctls, b->disk_addr[i] its AddressOnParent. */
static void place_disks(Builder *b)
{
    GArray *ctls = b->ctls;
    for (size_t i = 0; i < b->o->n_disks; i++) {
        const VfOvfController *kind = vf_ovf_profile_controller(b->p, b->o->disks[i].bus);
        Ctl *c = NULL;
        unsigned ordinal = 0;
        for (guint j = 0; j < ctls->len; j++) {
            Ctl *x = &g_array_index(ctls, Ctl, j);
            /* The default controller and a bus's own may be the same kind
             * (vmware: virtio disks and scsi disks both on LSI Logic). */
            if (x->kind->type != kind->type || strcmp(x->kind->subtype, kind->subtype) != 0)
                continue;
            ordinal++;
            if (x->used < kind->max_devices)
                c = x;
        }
        if (!c) {
            g_array_append_val(ctls, ((Ctl){.kind = kind, .ordinal = ordinal}));
            c = &g_array_index(ctls, Ctl, ctls->len - 1);
        }
        b->disk_addr[i] = c->used++;
        b->disk_ctl[i] = (unsigned)(c - &g_array_index(ctls, Ctl, 0));
    }
}

static void add_controllers(Builder *b, xmlNodePtr hw)
{
    for (guint j = 0; j < b->ctls->len; j++) {
        Ctl *c = &g_array_index(b->ctls, Ctl, j);
        g_autofree char *type = g_strdup_printf("%u", c->kind->type);
        /* "SCSI Controller 0" → "SCSI Controller 1" for a second instance. */
        const char *kn = c->kind->name;
        size_t klen = strlen(kn);
        g_autofree char *name = !c->ordinal ? g_strdup(kn)
                                : g_ascii_isdigit(kn[klen - 1])
                                    ? g_strdup_printf("%.*s%u", (int)klen - 1, kn,
                                                      (unsigned)(kn[klen - 1] - '0') + c->ordinal)
                                    : g_strdup_printf("%s %u", kn, c->ordinal + 1);
        char iid[16];
        c->instance = b->instance + 1;
        item(b, hw,
             &(ItemSpec){.description = "Disk controller",
                         .element_name = name,
                         .instance_id = next_id(b, iid),
                         .resource_subtype = c->kind->subtype,
                         .resource_type = type});
    }
}

/* The controllers, then each disk on its own. */
static void add_disks(Builder *b, xmlNodePtr hw)
{
    add_controllers(b, hw);
    for (size_t i = 0; i < b->o->n_disks; i++) {
        const VfOvfDisk *d = &b->o->disks[i];
        char iid[16];
        g_autofree char *addr = g_strdup_printf("%u", b->disk_addr[i]);
        g_autofree char *parent =
            g_strdup_printf("%u", g_array_index(b->ctls, Ctl, b->disk_ctl[i]).instance);
        g_autofree char *ename = g_strdup_printf("Hard disk %zu", i + 1);
        g_autofree char *host = g_strdup_printf("ovf:/disk/%s", (char *)b->disk_ids->pdata[i]);
        item(b, hw,
             &(ItemSpec){.address_on_parent = addr,
                         .description = d->label ? d->label : "Disk",
                         .element_name = ename,
                         .host_resource = host,
                         .instance_id = next_id(b, iid),
                         .parent = parent,
                         .resource_type = G_STRINGIFY(RT_DISK)});
    }
}

static void add_nics(Builder *b, xmlNodePtr hw)
{
    size_t nn;
    const VfOvfNic *nv = nics_of(b->o, &nn);
    for (size_t i = 0; i < nn; i++) {
        char iid[16];
        g_autofree char *ename =
            i == 0 ? g_strdup(b->p->nic_name) : g_strdup_printf("Network adapter %zu", i + 1);
        item(b, hw,
             &(ItemSpec){.address = nv[i].mac,
                         .automatic_allocation = "true",
                         .connection = nv[i].network ? nv[i].network : b->network,
                         .description = "Network adapter",
                         .element_name = ename,
                         .instance_id = next_id(b, iid),
                         .resource_subtype = vf_ovf_profile_nic(b->p, nv[i].model),
                         .resource_type = G_STRINGIFY(RT_ETHERNET)});
    }
}

/* VirtualHardwareSection: system, CPUs, memory, controllers, disks, NICs,
 * and the firmware the way VMware (and virt-v2v) read it. */
static void add_hardware(Builder *b, xmlNodePtr vs)
{
    xmlNodePtr hw = section(b, vs, "VirtualHardwareSection", "Virtual hardware requirements");
    add_system(b, hw);
    add_disks(b, hw);
    add_nics(b, hw);
    if (b->o->firmware) {
        xmlNodePtr cfg = child(hw, b->vmw, "Config", NULL);
        attr(cfg, b->ovf, "required", "false");
        attr(cfg, b->vmw, "key", "firmware");
        attr(cfg, b->vmw, "value", b->o->firmware);
    }
}

static void add_product(Builder *b, xmlNodePtr vs)
{
    const VfOvfParams *o = b->o;
    if (!o->product && !o->vendor && !o->version)
        return;
    xmlNodePtr ps = section(b, vs, "ProductSection", "Information about the appliance");
    if (o->product)
        child(ps, b->def, "Product", o->product);
    if (o->vendor)
        child(ps, b->def, "Vendor", o->vendor);
    if (o->version) {
        child(ps, b->def, "Version", o->version);
        child(ps, b->def, "FullVersion", o->version);
    }
}

/* ---- VirtualBox's machine configuration --------------------------------- */

/* Every controller and NIC the appliance has must have a VirtualBox name
 * in the profile, and VirtualBox must take its CPUs and memory. */
static int check_vbox(const Builder *b, GError **error)
{
    if (b->o->vcpus > VF_OVF_VBOX_MAX_VCPUS || b->o->memory_mib < VF_OVF_VBOX_MIN_MEMORY_MIB ||
        b->o->memory_mib > VF_OVF_VBOX_MAX_MEMORY_MIB) {
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE,
                    "profile %s: VirtualBox's machine configuration takes 1 to %u vCPUs and "
                    "%u MiB to %u MiB of memory (%u vCPUs, %" G_GUINT64_FORMAT " MiB asked)",
                    b->p->name, VF_OVF_VBOX_MAX_VCPUS, VF_OVF_VBOX_MIN_MEMORY_MIB,
                    VF_OVF_VBOX_MAX_MEMORY_MIB, b->o->vcpus, b->o->memory_mib);
        return -EINVAL;
    }
    const char *missing = NULL, *group = NULL;
    for (guint j = 0; !missing && j < b->ctls->len; j++) {
        const char *st = g_array_index(b->ctls, Ctl, j).kind->subtype;
        if (!g_hash_table_contains(b->p->vbox_controllers, st))
            missing = st, group = "vbox-controllers";
    }
    size_t nn;
    const VfOvfNic *nv = nics_of(b->o, &nn);
    for (size_t i = 0; !missing && i < nn; i++) {
        const char *st = vf_ovf_profile_nic(b->p, nv[i].model);
        if (!g_hash_table_contains(b->p->vbox_nics, st))
            missing = st, group = "vbox-nics";
    }
    if (!missing)
        return 0;
    g_set_error(error, VF_ERROR, VF_ERROR_USAGE, "profile %s: [%s] has no entry for %s", b->p->name,
                group, missing);
    return -EINVAL;
}

/* <Hardware>: CPUs, memory, EFI, boot from the hard disk, the adapters
 * (on NAT; VirtualBox asks where to attach them on import). */
static void add_vbox_hardware(Builder *b, xmlNodePtr m)
{
    xmlNodePtr hw = child(m, b->def, "Hardware", NULL);
    char num[32];
    g_snprintf(num, sizeof num, "%u", b->o->vcpus);
    attr(child(hw, b->def, "CPU", NULL), NULL, "count", num);
    attr_u64(child(hw, b->def, "Memory", NULL), NULL, "RAMSize", b->o->memory_mib);
    attr(child(hw, b->def, "Firmware", NULL), NULL, "type", "EFI");
    xmlNodePtr order = child(child(hw, b->def, "Boot", NULL), b->def, "Order", NULL);
    attr(order, NULL, "position", "1");
    attr(order, NULL, "device", "HardDisk");
    xmlNodePtr net = child(hw, b->def, "Network", NULL);
    size_t nn;
    const VfOvfNic *nv = nics_of(b->o, &nn);
    for (size_t i = 0; i < nn; i++) {
        xmlNodePtr a = child(net, b->def, "Adapter", NULL);
        g_snprintf(num, sizeof num, "%zu", i);
        attr(a, NULL, "slot", num);
        attr(a, NULL, "enabled", "true");
        attr(a, NULL, "type",
             g_hash_table_lookup(b->p->vbox_nics, vf_ovf_profile_nic(b->p, nv[i].model)));
        if (nv[i].mac) {
            g_autofree char *mac = g_ascii_strup(nv[i].mac, -1);
            char *w = mac;
            for (const char *r = mac; *r; r++)
                if (*r != ':')
                    *w++ = *r;
            *w = '\0';
            attr(a, NULL, "MACAddress", mac);
        }
        child(a, b->def, "NAT", NULL);
    }
}

/* One <AttachedDevice> for disk i: its port and device as VirtualBox counts
 * them (IDE: two channels of master and slave), its image by vbox:uuid. */
static void add_vbox_attachment(Builder *b, xmlNodePtr sc, bool ide, size_t i)
{
    xmlNodePtr ad = child(sc, b->def, "AttachedDevice", NULL);
    char num[16];
    attr(ad, NULL, "type", "HardDisk");
    g_snprintf(num, sizeof num, "%u", ide ? b->disk_addr[i] / 2 : b->disk_addr[i]);
    attr(ad, NULL, "port", num);
    g_snprintf(num, sizeof num, "%u", ide ? b->disk_addr[i] % 2 : 0);
    attr(ad, NULL, "device", num);
    g_autofree char *braced = g_strdup_printf("{%s}", (char *)b->vbox_uuids->pdata[i]);
    attr(child(ad, b->def, "Image", NULL), NULL, "uuid", braced);
}

/* <StorageControllers>: each controller of the appliance with the disks
 * that have a file (a disk made at deploy time has no image to attach). */
static void add_vbox_storage(Builder *b, xmlNodePtr m)
{
    xmlNodePtr scs = child(m, b->def, "StorageControllers", NULL);
    for (guint j = 0; j < b->ctls->len; j++) {
        const Ctl *c = &g_array_index(b->ctls, Ctl, j);
        g_auto(GStrv) tn =
            g_strsplit(g_hash_table_lookup(b->p->vbox_controllers, c->kind->subtype), ";", 2);
        bool ide = strcmp(tn[0], "PIIX4") == 0 || strcmp(tn[0], "PIIX3") == 0;
        g_autofree char *name =
            c->ordinal ? g_strdup_printf("%s %u", tn[1], c->ordinal + 1) : g_strdup(tn[1]);
        xmlNodePtr sc = child(scs, b->def, "StorageController", NULL);
        attr(sc, NULL, "name", name);
        attr(sc, NULL, "type", tn[0]);
        char num[16];
        g_snprintf(num, sizeof num, "%u", ide ? 2 : MAX(c->used, 1));
        attr(sc, NULL, "PortCount", num);
        attr(sc, NULL, "useHostIOCache", ide ? "true" : "false");
        attr(sc, NULL, "Bootable", "true");
        for (size_t i = 0; i < b->o->n_disks; i++)
            if (b->disk_ctl[i] == j && b->vbox_uuids->pdata[i])
                add_vbox_attachment(b, sc, ide, i);
    }
}

/* <vbox:Machine>, VirtualBox's settings format, which VirtualBox imports
 * instead of the OVF hardware when it is there (its ovfreader.cpp): the
 * first child an ovf:Info as in VirtualBox's own exports (VMware wants
 * one), the others unprefixed as VirtualBox writes them. */
static void add_vbox_machine(Builder *b, xmlNodePtr vs)
{
    xmlNodePtr m = child(vs, b->vbox, "Machine", NULL);
    attr(m, b->ovf, "required", "false");
    attr(m, NULL, "version", b->p->vbox_version);
    g_autofree char *uuid = derived_uuid(b, "vbox-machine", 0);
    g_autofree char *braced = g_strdup_printf("{%s}", uuid);
    attr(m, NULL, "uuid", braced);
    attr(m, NULL, "name", b->o->name);
    const char *os =
        b->o->os && g_hash_table_contains(b->p->vbox_os, b->o->os) ? b->o->os : "linux";
    attr(m, NULL, "OSType", g_hash_table_lookup(b->p->vbox_os, os));
    child(m, b->ovf, "Info", "Complete VirtualBox machine configuration in VirtualBox format");
    add_vbox_hardware(b, m);
    add_vbox_storage(b, m);
}

/* VirtualSystem, its sections in the order VMware writes them. */
static void add_virtual_system(Builder *b, xmlNodePtr env)
{
    xmlNodePtr vs = child(env, b->def, "VirtualSystem", NULL);
    attr(vs, b->ovf, "id", b->o->name);
    child(vs, b->def, "Info", "A virtual machine");
    child(vs, b->def, "Name", b->o->name);
    add_os_section(b, vs);
    add_hardware(b, vs);
    add_product(b, vs);
    if (b->vbox)
        add_vbox_machine(b, vs);
}

int vf_ovf_build(const VfOvfProfile *p, const VfOvfParams *o, char **xml, size_t *len,
                 GError **error)
{
    int r = check_params(p, o, error);
    if (r < 0)
        return r;
    Builder b = {.p = p, .o = o, .network = o->network ? o->network : "VM Network"};
    g_autoptr(GPtrArray) disk_ids = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) vbox_uuids = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GArray) ctls = g_array_new(false, true, sizeof(Ctl));
    g_autofree unsigned *disk_ctl = g_new0(unsigned, o->n_disks);
    g_autofree unsigned *disk_addr = g_new0(unsigned, o->n_disks);
    b.disk_ids = disk_ids;
    b.vbox_uuids = vbox_uuids;
    b.ctls = ctls;
    b.disk_ctl = disk_ctl;
    b.disk_addr = disk_addr;
    place_disks(&b);
    if (vbox_wanted(&b) && (r = check_vbox(&b, error)) < 0)
        return r;
    xmlNodePtr env = envelope_new(&b);
    if (vbox_wanted(&b))
        b.vbox = xmlNewNs(env, X(NS_VBOX), X("vbox"));
    add_references(&b, env);
    add_disk_section(&b, env);
    add_network_section(&b, env);
    add_virtual_system(&b, env);
    xmlChar *out = NULL;
    int out_len = 0;
    xmlDocDumpFormatMemoryEnc(b.doc, &out, &out_len, "UTF-8", 1);
    xmlFreeDoc(b.doc);
    if (!out) {
        g_set_error(error, VF_ERROR, VF_ERROR_INTERNAL, "cannot serialise the OVF descriptor");
        return -ENOMEM;
    }
    *xml = g_strndup((const char *)out, (gsize)out_len);
    *len = (size_t)out_len;
    xmlFree(out);
    return 0;
}

char *vf_ovf_manifest_line(const char *algorithm, const char *name, const char *hex_digest)
{
    g_autofree char *upper = g_ascii_strup(algorithm, -1);
    return g_strdup_printf("%s(%s)= %s\n", upper, name, hex_digest);
}
