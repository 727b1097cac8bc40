/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "domain-xml.h"

#include <libxml/parser.h>
#include <libxml/xpath.h>

#include <glib.h>
#include <libxml/tree.h>
#include <string.h>

static xmlNodePtr child(xmlNodePtr parent, const char *name, const char *text)
{
    return xmlNewTextChild(parent, NULL, BAD_CAST name, BAD_CAST text);
}

static void prop(xmlNodePtr n, const char *name, const char *value)
{
    xmlNewProp(n, BAD_CAST name, BAD_CAST value);
}

/* The serial port, as the console (what vmforge reads and virsh console shows). */
static void add_serial_console(xmlNodePtr devices)
{
    xmlNodePtr serial = child(devices, "serial", NULL);
    prop(serial, "type", "pty");
    prop(child(serial, "target", NULL), "port", "0");
    xmlNodePtr console = child(devices, "console", NULL);
    prop(console, "type", "pty");
    xmlNodePtr ct = child(console, "target", NULL);
    prop(ct, "type", "serial");
    prop(ct, "port", "0");
}

char *vmf_xml_doc_text(xmlDocPtr doc)
{
    xmlChar *buf = NULL;
    int len = 0;
    xmlDocDumpFormatMemory(doc, &buf, &len, 1);
    char *out = g_strndup((const char *)buf, (gsize)len);
    xmlFree(buf);
    return out;
}

/* The document as text; frees it. */
static char *doc_text(xmlDocPtr doc)
{
    char *out = vmf_xml_doc_text(doc);
    xmlFreeDoc(doc);
    return out;
}

/* Memory, vCPUs, an x86-64 HVM <os> on `machine` (returned, for its boot
 * children) and the ACPI/APIC features every vmforge domain has. */
static xmlNodePtr add_hvm(xmlNodePtr dom, uint64_t memory, unsigned vcpus, const char *machine)
{
    char num[32];
    g_snprintf(num, sizeof(num), "%" G_GUINT64_FORMAT, memory >> 20);
    prop(child(dom, "memory", num), "unit", "MiB");
    g_snprintf(num, sizeof(num), "%u", vcpus);
    child(dom, "vcpu", num);
    xmlNodePtr os = child(dom, "os", NULL);
    xmlNodePtr type = child(os, "type", "hvm");
    prop(type, "arch", "x86_64");
    prop(type, "machine", machine);
    xmlNodePtr features = child(dom, "features", NULL);
    child(features, "acpi", NULL);
    child(features, "apic", NULL);
    return os;
}

/* UEFI by libvirt's firmware auto-selection (OVMF's descriptors): without
 * secure boot, so machine type pc will do, and with the NVRAM at `nvram`
 * (NULL: libvirt's own place). */
static void add_efi(xmlNodePtr os, const char *nvram)
{
    prop(os, "firmware", "efi");
    xmlNodePtr fw = child(os, "firmware", NULL);
    xmlNodePtr sb = child(fw, "feature", NULL);
    prop(sb, "enabled", "no");
    prop(sb, "name", "secure-boot");
    if (nvram)
        child(os, "nvram", nvram);
}

static void add_disk(xmlNodePtr devices, const char *device, const char *path, const char *dev,
                     const char *bus, const char *format)
{
    xmlNodePtr d = child(devices, "disk", NULL);
    prop(d, "type", "file");
    prop(d, "device", device);
    xmlNodePtr drv = child(d, "driver", NULL);
    prop(drv, "name", "qemu");
    prop(drv, "type", format ? format : "raw");
    if (strcmp(device, "disk") == 0)
        /* Installs write a lot and flush often; the disk is only trusted after
         * the guest powers off and QEMU has exited, which writes it all. */
        prop(drv, "cache", "unsafe");
    prop(child(d, "source", NULL), "file", path);
    xmlNodePtr t = child(d, "target", NULL);
    prop(t, "dev", dev);
    prop(t, "bus", bus);
    if (strcmp(device, "cdrom") == 0)
        child(d, "readonly", NULL);
}

char *vmf_domain_xml(const VmfDomainSpec *s)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr dom = xmlNewNode(NULL, BAD_CAST "domain");
    xmlDocSetRootElement(doc, dom);
    prop(dom, "type", s->type);
    child(dom, "name", s->name);
    xmlNodePtr os = add_hvm(dom, s->memory, s->vcpus, "pc");
    if (s->efi)
        add_efi(os, s->nvram);
    if (s->kernel) {
        child(os, "kernel", s->kernel);
        if (s->initrd)
            child(os, "initrd", s->initrd);
        child(os, "cmdline", s->cmdline);
    } else {
        prop(child(os, "boot", NULL), "dev", "hd");
    }
    /* KVM: the host's CPU. TCG: everything QEMU emulates, which includes the
     * x86-64-v2 features EL9 kernels require (qemu64 lacks them). */
    prop(child(dom, "cpu", NULL), "mode",
         strcmp(s->type, "kvm") == 0 ? "host-passthrough" : "maximum");
    prop(child(dom, "clock", NULL), "offset", "utc");
    child(dom, "on_poweroff", "destroy");
    child(dom, "on_reboot", "destroy");
    child(dom, "on_crash", "destroy");

    xmlNodePtr devices = child(dom, "devices", NULL);
    add_disk(devices, "disk", s->disk, "vda", "virtio", s->disk_format);
    /* Under OVMF the PIIX IDE CD-ROMs never show up in the guest (TCG, QEMU
     * 7.2): UEFI domains get theirs on virtio-scsi, which installers'
     * kernels (Anaconda's, the offline one) drive as they drive virtio. */
    const char *cd_bus = s->efi ? "scsi" : "ide";
    if (s->efi && (s->cdrom || s->oemdrv)) {
        xmlNodePtr scsi = child(devices, "controller", NULL);
        prop(scsi, "type", "scsi");
        prop(scsi, "model", "virtio-scsi");
    }
    if (s->cdrom)
        add_disk(devices, "cdrom", s->cdrom, s->efi ? "sdc" : "hdc", cd_bus, NULL);
    if (s->oemdrv)
        add_disk(devices, "cdrom", s->oemdrv, s->efi ? "sdd" : "hdd", cd_bus, NULL);
    xmlNodePtr nic = child(devices, "interface", NULL);
    if (s->network) {
        prop(nic, "type", "network");
        prop(child(nic, "source", NULL), "network", s->network);
    } else {
        prop(nic, "type", "user");
    }
    prop(child(nic, "model", NULL), "type", s->nic_model ? s->nic_model : "virtio");
    add_serial_console(devices);
    if (s->log_channel) {
        xmlNodePtr ch = child(devices, "channel", NULL);
        prop(ch, "type", "file");
        prop(child(ch, "source", NULL), "path", s->log_path);
        xmlNodePtr t = child(ch, "target", NULL);
        prop(t, "type", "virtio");
        prop(t, "name", s->log_channel);
    }
    xmlNodePtr rng = child(devices, "rng", NULL);
    prop(rng, "model", "virtio");
    prop(child(rng, "backend", "/dev/urandom"), "model", "random");
    prop(child(devices, "memballoon", NULL), "model", "none");

    return doc_text(doc);
}

/* The namespace of vmforge's <metadata> element in deployable domains. */
#define VMF_XMLNS "https://github.com/vmforge/vmforge/xmlns/deploy/1"

static void deploy_disk(xmlNodePtr devices, const char *path, const char *format, const char *dev,
                        const char *bus, const char *serial)
{
    xmlNodePtr d = child(devices, "disk", NULL);
    prop(d, "type", "file");
    prop(d, "device", "disk");
    xmlNodePtr drv = child(d, "driver", NULL);
    prop(drv, "name", "qemu");
    prop(drv, "type", format);
    prop(child(d, "source", NULL), "file", path);
    xmlNodePtr t = child(d, "target", NULL);
    prop(t, "dev", dev);
    prop(t, "bus", bus);
    if (serial)
        child(d, "serial", serial);
}

char *vmf_domain_xml_deploy(const VmfDeploySpec *s)
{
    bool xen = strcmp(s->type, "xen") == 0;
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr dom = xmlNewNode(NULL, BAD_CAST "domain");
    xmlDocSetRootElement(doc, dom);
    prop(dom, "type", s->type);
    child(dom, "name", s->name);
    if (s->description)
        child(dom, "description", s->description);
    if (s->scratch) {
        xmlNodePtr md = child(dom, "metadata", NULL);
        xmlNodePtr sc = xmlNewChild(md, NULL, BAD_CAST "scratch", NULL);
        xmlSetNs(sc, xmlNewNs(sc, BAD_CAST VMF_XMLNS, BAD_CAST "vmforge"));
        char num[32];
        g_snprintf(num, sizeof(num), "%" G_GUINT64_FORMAT, s->scratch_size);
        prop(sc, "path", s->scratch);
        prop(sc, "bytes", num);
        if (s->scratch_command)
            prop(sc, "create", s->scratch_command);
    }
    xmlNodePtr os = add_hvm(dom, s->memory, s->vcpus, xen ? "xenfv" : "pc");
    if (s->efi)
        prop(os, "firmware", "efi");
    prop(child(os, "boot", NULL), "dev", "hd");
    if (!xen)
        prop(child(dom, "cpu", NULL), "mode", "host-model");
    prop(child(dom, "clock", NULL), "offset", "utc");
    child(dom, "on_poweroff", "destroy");
    child(dom, "on_reboot", "restart");
    child(dom, "on_crash", "restart");
    xmlNodePtr devices = child(dom, "devices", NULL);
    const char *prefix = strcmp(s->disk_bus, "xen") == 0      ? "xvd"
                         : strcmp(s->disk_bus, "virtio") == 0 ? "vd"
                         : strcmp(s->disk_bus, "ide") == 0    ? "hd"
                                                              : "sd";
    g_autofree char *d1 = g_strdup_printf("%sa", prefix);
    g_autofree char *d2 = g_strdup_printf("%sb", prefix);
    deploy_disk(devices, s->image, s->image_format, d1, s->disk_bus, NULL);
    if (s->scratch)
        deploy_disk(devices, s->scratch, s->scratch_format, d2, s->disk_bus, "scratch");
    xmlNodePtr nic = child(devices, "interface", NULL);
    if (xen) {
        prop(nic, "type", "bridge");
        prop(child(nic, "source", NULL), "bridge", "xenbr0");
    } else {
        prop(nic, "type", "network");
        prop(child(nic, "source", NULL), "network", "default");
    }
    if (s->nic_model)
        prop(child(nic, "model", NULL), "type", s->nic_model);
    add_serial_console(devices);
    xmlNodePtr gfx = child(devices, "graphics", NULL);
    prop(gfx, "type", "vnc");
    prop(gfx, "autoport", "yes");
    prop(gfx, "listen", "127.0.0.1");

    return doc_text(doc);
}

/* <disk name='NAME' ATTR='VALUE'/> in `list` for each of `names`
 * (NULL-terminated; NULL: none). */
static void named_disks(xmlNodePtr list, const char *const *names, const char *attr,
                        const char *value)
{
    for (size_t i = 0; names && names[i]; i++) {
        xmlNodePtr d = child(list, "disk", NULL);
        prop(d, "name", names[i]);
        prop(d, attr, value);
    }
}

char *vmf_snapshot_xml(const char *name, const char *description, const char *const *targets,
                       const char *const *overlays, const char *const *excluded)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr snap = xmlNewNode(NULL, BAD_CAST "domainsnapshot");
    xmlDocSetRootElement(doc, snap);
    child(snap, "name", name);
    child(snap, "description", description);
    xmlNodePtr disks = child(snap, "disks", NULL);
    for (size_t i = 0; targets[i]; i++) {
        xmlNodePtr d = child(disks, "disk", NULL);
        prop(d, "name", targets[i]);
        prop(d, "snapshot", "external");
        xmlNodePtr drv = child(d, "driver", NULL);
        prop(drv, "type", "qcow2");
        xmlNodePtr src = child(d, "source", NULL);
        prop(src, "file", overlays[i]);
    }
    named_disks(disks, excluded, "snapshot", "no");
    return doc_text(doc);
}

char *vmf_xml_string(const char *xml, const char *expr)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "libvirt.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return NULL;
    char *out = NULL;
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST expr, ctx);
    if (r && r->stringval && r->stringval[0])
        out = g_strdup((const char *)r->stringval);
    xmlXPathFreeObject(r);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    return out;
}

char *vmf_backup_xml(const VmfBackupDiskSpec *disks, size_t n, const char *const *excluded)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr root = xmlNewNode(NULL, BAD_CAST "domainbackup");
    xmlDocSetRootElement(doc, root);
    prop(root, "mode", "push");
    xmlNodePtr list = child(root, "disks", NULL);
    for (size_t i = 0; i < n; i++) {
        xmlNodePtr d = child(list, "disk", NULL);
        prop(d, "name", disks[i].target);
        prop(d, "backup", "yes");
        prop(d, "type", "file");
        prop(d, "backupmode", disks[i].incremental ? "incremental" : "full");
        if (disks[i].incremental)
            prop(d, "incremental", disks[i].incremental);
        prop(child(d, "target", NULL), "file", disks[i].file);
        prop(child(d, "driver", NULL), "type", "qcow2");
    }
    named_disks(list, excluded, "backup", "no");
    return doc_text(doc);
}

char *vmf_checkpoint_xml(const char *name, const char *description, const char *const *bitmaps,
                         const char *const *others)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr root = xmlNewNode(NULL, BAD_CAST "domaincheckpoint");
    xmlDocSetRootElement(doc, root);
    child(root, "name", name);
    child(root, "description", description);
    xmlNodePtr list = child(root, "disks", NULL);
    named_disks(list, bitmaps, "checkpoint", "bitmap");
    named_disks(list, others, "checkpoint", "no");
    return doc_text(doc);
}
