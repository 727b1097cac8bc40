/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * domain-xml.h — libvirt domain XML for vmforge's guests (the installer, and
 * boot checks of installed disks), built with libxml2. Pure: no libvirt
 * calls, so golden tests pin it without a hypervisor.
 */
#pragma once

#include <libxml/tree.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *name;
    const char *type; /* libvirt domain type: "kvm" or "qemu" (TCG) */
    unsigned vcpus;
    uint64_t memory;    /* bytes */
    const char *kernel; /* direct kernel boot; NULL boots the disk's own boot loader */
    const char *initrd;
    const char *cmdline;
    const char *disk;        /* the disk, on virtio (vda) */
    const char *disk_format; /* "raw" when NULL; "qcow2" for an overlay */
    const char *cdrom;       /* installer ISO (stage 2) or NULL */
    const char *oemdrv;      /* OEMDRV volume or NULL */
    const char *network;     /* libvirt network name; NULL = QEMU user-mode networking */
    const char *nic_model;   /* "virtio" when NULL */
    const char *log_channel; /* virtio-serial port name (Anaconda's log) or NULL */
    const char *log_path;    /* where that channel is written */
    bool efi;                /* UEFI: OVMF by libvirt's firmware auto-selection, no secure boot */
    const char *nvram;       /* with efi: the domain's NVRAM file (made from OVMF's template) */
} VmfDomainSpec;

/* The domain XML (g_free). The domain is transient and ends on power-off,
 * reboot and crash alike, so "gone" means "the guest stopped". */
char *vmf_domain_xml(const VmfDomainSpec *s);

/* A domain to deploy a built image with: what `vmforge build` writes beside
 * kvm/openstack and xen/hepix images. Persistent (power-off stops it, reboot
 * restarts it), booting the image's own boot loader. */
typedef struct {
    const char *name;
    const char *type; /* "kvm" or "xen" */
    unsigned vcpus;
    uint64_t memory;          /* bytes */
    const char *image;        /* absolute path on the hypervisor host */
    const char *image_format; /* "qcow2" or "raw" */
    const char *disk_bus;     /* "virtio", "xen", ... */
    const char *nic_model;    /* NULL: the hypervisor's default */
    const char *scratch;      /* the scratch disk's path, or NULL for none */
    const char *scratch_format;
    uint64_t scratch_size;       /* bytes, recorded in <metadata> */
    const char *scratch_command; /* how to create it, recorded in <metadata> */
    const char *description;
    bool efi; /* boots with UEFI (<os firmware='efi'>) */
} VmfDeploySpec;

/* The deployable domain's XML (g_free). */
char *vmf_domain_xml_deploy(const VmfDeploySpec *s);

/* A libxml2 document as indented text (g_free); the document stays the
 * caller's. For every XML vmforge hands libvirt. */
char *vmf_xml_doc_text(xmlDocPtr doc);

/* A disk-only external snapshot (vmforge backup): each of `targets` gets
 * the qcow2 overlay at the same index of `overlays`; every name in
 * `excluded` (cdroms, floppies) is left out with snapshot='no'. */
char *vmf_snapshot_xml(const char *name, const char *description, const char *const *targets,
                       const char *const *overlays, const char *const *excluded);

/* One disk of a push backup: its target qcow2 on the host, made beforehand
 * (VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL), and the checkpoint it is
 * incremental from (NULL: full). */
typedef struct {
    const char *target;
    const char *file;
    const char *incremental;
} VmfBackupDiskSpec;
/* <domainbackup mode='push'> for `disks`; `excluded` (NULL-terminated, may
 * be NULL): disks left out. */
char *vmf_backup_xml(const VmfBackupDiskSpec *disks, size_t n, const char *const *excluded);
/* <domaincheckpoint> tracking the disks `bitmaps` (NULL-terminated) with a
 * dirty bitmap each, and not `others`. */
char *vmf_checkpoint_xml(const char *name, const char *description, const char *const *bitmaps,
                         const char *const *others);
/* The string an XPath expression ("string(/pool/target/path)") gives on the
 * document `xml`, or NULL when empty or not XML (g_free). */
char *vmf_xml_string(const char *xml, const char *expr);
