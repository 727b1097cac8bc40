/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * domain-xml.h — libvirt domain XML for vmforge's guests (the installer, and
 * boot checks of installed disks), built with libxml2. Pure: no libvirt
 * calls, so golden tests pin it without a hypervisor.
 */
#pragma once

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
} VmfDomainSpec;

/* The domain XML (g_free). The domain is transient and ends on power-off,
 * reboot and crash alike, so "gone" means "the guest stopped". */
char *vmf_domain_xml(const VmfDomainSpec *s);
