/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * domain-info.h — what `vmforge backup` needs from a libvirt domain's XML:
 * vCPUs, memory, firmware, each disk (source, driver type, bus) and each
 * network adapter (model, MAC, network). Parsed with libxml2; no libvirt
 * here, so it is tested and fuzzed without a hypervisor.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    VMF_DISK_FILE,
    VMF_DISK_BLOCK,
    VMF_DISK_VOLUME,  /* a storage pool volume: pool and volume are set */
    VMF_DISK_NETWORK, /* rbd, iscsi, nbd, gluster, http...: protocol and source set */
    VMF_DISK_OTHER,   /* nvme, vhostuser, ...: type_name says which */
} VmfDiskKind;

typedef struct {
    VmfDiskKind kind;
    char *type_name; /* the <disk type=...> as written */
    char *target;    /* "vda" */
    char *bus;       /* "virtio", "scsi", "sata", "ide"...; NULL when not stated */
    char *driver;    /* <driver type=...>: "raw", "qcow2"...; NULL when not stated */
    char *source;    /* file or device path; for network disks "PROTOCOL://HOST/NAME" */
    char *pool, *volume;
    char *protocol;
    bool readonly;
} VmfDomainDisk;

typedef struct {
    char *type;  /* network, bridge, user, direct... */
    char *model; /* virtio, e1000...; NULL when not stated */
    char *mac;
    char *network; /* the network or bridge name; NULL for user-mode */
} VmfDomainNic;

typedef struct {
    char *name, *uuid;
    char *hypervisor; /* <domain type=...> */
    unsigned vcpus;
    uint64_t memory;    /* bytes */
    char *firmware;     /* "bios" or "efi" */
    GPtrArray *disks;   /* of VmfDomainDisk *: device='disk' only */
    GPtrArray *skipped; /* of char *: other block devices ("hdc (cdrom)") */
    GPtrArray *nics;    /* of VmfDomainNic * */
} VmfDomainInfo;

GQuark vmf_domain_info_error_quark(void);

/* Parses a domain's XML. Errors say what is missing or malformed. */
VmfDomainInfo *vmf_domain_info_parse(const char *xml, size_t len, GError **error);
void vmf_domain_info_free(VmfDomainInfo *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfDomainInfo, vmf_domain_info_free)

/* "file", "block", "volume", "network", "other". */
const char *vmf_domain_disk_kind_name(VmfDiskKind k);
