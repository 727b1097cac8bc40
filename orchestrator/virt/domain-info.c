/* SPDX-License-Identifier: GPL-2.0-or-later */
/* domain-info.c — a libvirt domain's hardware from its XML. See domain-info.h. */
#include "domain-info.h"

#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <string.h>

G_DEFINE_QUARK(vmf - domain - info - error - quark, vmf_domain_info_error)

/* Upper bounds on what a domain may list (libvirt's own are lower). */
#define MAX_DEVICES 4096u

static void disk_free(gpointer p)
{
    VmfDomainDisk *d = p;
    g_free(d->type_name);
    g_free(d->target);
    g_free(d->bus);
    g_free(d->driver);
    g_free(d->source);
    g_free(d->pool);
    g_free(d->volume);
    g_free(d->protocol);
    g_free(d);
}

static void nic_free(gpointer p)
{
    VmfDomainNic *n = p;
    g_free(n->type);
    g_free(n->model);
    g_free(n->mac);
    g_free(n->network);
    g_free(n);
}

void vmf_domain_info_free(VmfDomainInfo *d)
{
    if (!d)
        return;
    g_free(d->name);
    g_free(d->uuid);
    g_free(d->hypervisor);
    g_free(d->firmware);
    if (d->disks)
        g_ptr_array_unref(d->disks);
    if (d->skipped)
        g_ptr_array_unref(d->skipped);
    if (d->nics)
        g_ptr_array_unref(d->nics);
    g_free(d);
}

const char *vmf_domain_disk_kind_name(VmfDiskKind k)
{
    static const char *const names[] = {"file", "block", "volume", "network", "other"};
    return k <= VMF_DISK_OTHER ? names[k] : "other";
}

static bool is(xmlNodePtr n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, BAD_CAST name) == 0;
}

static xmlNodePtr first(xmlNodePtr parent, const char *name)
{
    for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
        if (is(c, name))
            return c;
    return NULL;
}

/* An attribute as a g_malloc'd string (NULL when absent or empty). */
static char *prop(xmlNodePtr n, const char *name)
{
    if (!n)
        return NULL;
    xmlChar *v = xmlGetProp(n, BAD_CAST name);
    char *s = v && *v ? g_strdup((const char *)v) : NULL;
    xmlFree(v);
    return s;
}

static char *text(xmlNodePtr n)
{
    if (!n)
        return NULL;
    xmlChar *v = xmlNodeGetContent(n);
    char *s = v ? g_strstrip(g_strdup((const char *)v)) : NULL;
    xmlFree(v);
    return s;
}

/* <memory unit='KiB'>N</memory> in bytes. */
static int parse_memory(xmlNodePtr n, uint64_t *out, GError **error)
{
    g_autofree char *unit = prop(n, "unit");
    g_autofree char *val = text(n);
    static const struct {
        const char *name;
        uint64_t mult;
    } units[] = {
        {"b", 1},           {"bytes", 1},        {"KB", 1000},        {"k", 1024},
        {"KiB", 1024},      {"MB", 1000000},     {"M", 1 << 20},      {"MiB", 1 << 20},
        {"GB", 1000000000}, {"G", 1ull << 30},   {"GiB", 1ull << 30}, {"TB", 1000000000000},
        {"T", 1ull << 40},  {"TiB", 1ull << 40},
    };
    uint64_t mult = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(units); i++)
        if (strcmp(unit ? unit : "KiB", units[i].name) == 0)
            mult = units[i].mult;
    guint64 v = 0;
    if (!mult || !val || !g_ascii_string_to_unsigned(val, 10, 1, G_MAXUINT64 / mult, &v, NULL)) {
        g_set_error(error, vmf_domain_info_error_quark(), EINVAL,
                    "<memory unit='%s'>%s</memory> is not a memory size", unit ? unit : "KiB",
                    val ? val : "");
        return -EINVAL;
    }
    *out = v * mult;
    return 0;
}

static VmfDomainDisk *parse_disk(xmlNodePtr n)
{
    VmfDomainDisk *d = g_new0(VmfDomainDisk, 1);
    d->type_name = prop(n, "type");
    if (!d->type_name)
        d->type_name = g_strdup("file");
    xmlNodePtr src = first(n, "source");
    d->target = prop(first(n, "target"), "dev");
    d->bus = prop(first(n, "target"), "bus");
    d->driver = prop(first(n, "driver"), "type");
    d->readonly = first(n, "readonly") != NULL;
    if (strcmp(d->type_name, "file") == 0) {
        d->kind = VMF_DISK_FILE;
        d->source = prop(src, "file");
    } else if (strcmp(d->type_name, "block") == 0) {
        d->kind = VMF_DISK_BLOCK;
        d->source = prop(src, "dev");
    } else if (strcmp(d->type_name, "volume") == 0) {
        d->kind = VMF_DISK_VOLUME;
        d->pool = prop(src, "pool");
        d->volume = prop(src, "volume");
        if (d->pool && d->volume)
            d->source = g_strdup_printf("%s/%s", d->pool, d->volume);
    } else if (strcmp(d->type_name, "network") == 0) {
        d->kind = VMF_DISK_NETWORK;
        d->protocol = prop(src, "protocol");
        g_autofree char *name = prop(src, "name");
        g_autofree char *host = prop(first(src, "host"), "name");
        d->source = g_strdup_printf("%s://%s/%s", d->protocol ? d->protocol : "?", host ? host : "",
                                    name ? name : "");
    } else {
        d->kind = VMF_DISK_OTHER;
    }
    return d;
}

static VmfDomainNic *parse_nic(xmlNodePtr n)
{
    VmfDomainNic *nic = g_new0(VmfDomainNic, 1);
    nic->type = prop(n, "type");
    nic->model = prop(first(n, "model"), "type");
    nic->mac = prop(first(n, "mac"), "address");
    xmlNodePtr src = first(n, "source");
    nic->network = prop(src, "network");
    if (!nic->network)
        nic->network = prop(src, "bridge");
    if (!nic->network)
        nic->network = prop(src, "dev");
    return nic;
}

/* <name>, <uuid>, <vcpu>, <memory> and the firmware: UEFI for
 * <os firmware='efi'> or a pflash loader (older definitions). */
static int parse_head(xmlNodePtr root, VmfDomainInfo *d, GError **error)
{
    d->hypervisor = prop(root, "type");
    d->name = text(first(root, "name"));
    d->uuid = text(first(root, "uuid"));
    if (!d->name || !*d->name) {
        g_set_error(error, vmf_domain_info_error_quark(), EINVAL, "the domain XML has no <name>");
        return -EINVAL;
    }
    g_autofree char *vcpu = text(first(root, "vcpu"));
    guint64 n = 1;
    if (vcpu && !g_ascii_string_to_unsigned(vcpu, 10, 1, 65535, &n, NULL)) {
        g_set_error(error, vmf_domain_info_error_quark(), EINVAL,
                    "<vcpu>%s</vcpu> is not a number of vCPUs", vcpu);
        return -EINVAL;
    }
    d->vcpus = (unsigned)n;
    xmlNodePtr mem = first(root, "memory");
    if (!mem) {
        g_set_error(error, vmf_domain_info_error_quark(), EINVAL, "the domain XML has no <memory>");
        return -EINVAL;
    }
    int rc = parse_memory(mem, &d->memory, error);
    if (rc < 0)
        return rc;
    xmlNodePtr os = first(root, "os");
    g_autofree char *fw = prop(os, "firmware");
    g_autofree char *loader_type = prop(first(os, "loader"), "type");
    d->firmware = g_strdup((fw && strcmp(fw, "efi") == 0) ||
                                   (loader_type && strcmp(loader_type, "pflash") == 0)
                               ? "efi"
                               : "bios");
    return 0;
}

/* A <disk>: a disk, or (a cdrom, a floppy) listed as not backed up. */
static int add_disk(xmlNodePtr c, VmfDomainInfo *d, GError **error)
{
    g_autofree char *device = prop(c, "device");
    VmfDomainDisk *disk = parse_disk(c);
    if (!disk->target) {
        disk_free(disk);
        g_set_error(error, vmf_domain_info_error_quark(), EINVAL,
                    "a <disk> of the domain has no <target dev=...>");
        return -EINVAL;
    }
    if (device && strcmp(device, "disk") != 0) {
        g_ptr_array_add(d->skipped, g_strdup_printf("%s (%s)", disk->target, device));
        disk_free(disk);
    } else {
        g_ptr_array_add(d->disks, disk);
    }
    return 0;
}

/* The disks and NICs of <devices>, at most MAX_DEVICES devices. */
static int parse_devices(xmlNodePtr devices, VmfDomainInfo *d, GError **error)
{
    unsigned count = 0;
    for (xmlNodePtr c = devices ? devices->children : NULL; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (++count > MAX_DEVICES) {
            g_set_error(error, vmf_domain_info_error_quark(), E2BIG,
                        "the domain lists more than %u devices", MAX_DEVICES);
            return -E2BIG;
        }
        if (is(c, "disk") && add_disk(c, d, error) < 0)
            return -EINVAL;
        if (is(c, "interface"))
            g_ptr_array_add(d->nics, parse_nic(c));
    }
    return 0;
}

VmfDomainInfo *vmf_domain_info_parse(const char *xml, size_t len, GError **error)
{
    if (len > INT_MAX) {
        g_set_error(error, vmf_domain_info_error_quark(), EFBIG, "the domain XML is too large");
        return NULL;
    }
    xmlDocPtr doc = xmlReadMemory(xml, (int)len, "domain.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || !is(root, "domain")) {
        g_set_error(error, vmf_domain_info_error_quark(), EINVAL,
                    "not a libvirt domain XML (no <domain> element)");
        xmlFreeDoc(doc);
        return NULL;
    }
    g_autoptr(VmfDomainInfo) d = g_new0(VmfDomainInfo, 1);
    d->disks = g_ptr_array_new_with_free_func(disk_free);
    d->nics = g_ptr_array_new_with_free_func(nic_free);
    d->skipped = g_ptr_array_new_with_free_func(g_free);
    int rc = parse_head(root, d, error);
    if (rc == 0)
        rc = parse_devices(first(root, "devices"), d, error);
    xmlFreeDoc(doc);
    return rc < 0 ? NULL : g_steal_pointer(&d);
}
