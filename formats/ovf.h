/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ovf.h — OVF 1.x descriptors (DMTF DSP0243, namespace
 * http://schemas.dmtf.org/ovf/envelope/1) built with libxml2, from a
 * hypervisor hardware profile read out of templates/profiles/NAME.conf.
 *
 * The descriptor describes one virtual system with its disks (each a
 * streamOptimized VMDK file, or a scratch disk: a Disk with no fileRef, which
 * the hypervisor creates empty at deploy time, as the HEPiX V2 image format
 * keeps work space out of the image), its disk controllers, network adapters
 * and firmware. Buses and NIC models of a libvirt domain are mapped onto what
 * the profile's hypervisor has ([controller-BUS] and [nic-models] groups).
 */
#pragma once

#include "vf.h"

/* A disk controller of a profile: [controller] (the default) or
 * [controller-BUS] (ide, sata, scsi...) in the profile file. */
typedef struct VfOvfController {
    char *bus;     /* NULL for the default controller */
    unsigned type; /* CIM ResourceType */
    char *subtype;
    char *name;
    unsigned max_devices; /* disks per controller instance */
} VfOvfController;

/* A hypervisor hardware profile. */
typedef struct VfOvfProfile {
    char *name; /* file name without .conf */
    char *description;
    char *virtual_system_type;  /* "vmx-14", "virtualbox-2.2", ... */
    char *manifest;             /* default manifest algorithm: sha1, sha256, sha512 */
    char **manifest_allowed;    /* NULL-terminated */
    char *vmdk_adapter;         /* ddb.adapterType of the VMDK */
    VfOvfController controller; /* the default disk controller */
    GPtrArray *controllers;     /* of VfOvfController *: the bus-specific ones */
    char *nic_subtype;
    char *nic_name;
    GHashTable *nic_models; /* libvirt NIC model → ResourceSubType */
    GHashTable *os;         /* OS name → "CIMID" or "CIMID;vmwOsType" */
    /* VirtualBox's own machine configuration (<vbox:Machine>), which is
     * where VirtualBox reads the firmware: written for EFI appliances when
     * the profile has a [vbox] group (vbox_version NULL: it has none). */
    char *vbox_version;           /* the settings format, "1.16-linux" */
    GHashTable *vbox_os;          /* OS name → VirtualBox OSType */
    GHashTable *vbox_controllers; /* controller ResourceSubType → "Type;Name" */
    GHashTable *vbox_nics;        /* NIC ResourceSubType → adapter type */
} VfOvfProfile;

/* Upper bound on the size of a profile file: they are a few hundred bytes. */
#define VF_OVF_PROFILE_MAX_BYTES (64u * 1024u)

/*
 * Loads DIR/NAME.conf. Errors name the file and the missing or bad key.
 * Free with vf_ovf_profile_free().
 */
int vf_ovf_profile_load(const char *dir, const char *name, VfOvfProfile **out, GError **error);
void vf_ovf_profile_free(VfOvfProfile *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfOvfProfile, vf_ovf_profile_free)

/* Names of the profiles in dir (sorted; free with g_strfreev). */
char **vf_ovf_profile_list(const char *dir);

/* One disk of a multi-disk descriptor. */
typedef struct VfOvfDisk {
    const char *href;   /* file name in the appliance; NULL: a scratch disk made at deploy time */
    uint64_t file_size; /* exact bytes of that file */
    uint64_t capacity;  /* virtual size in bytes */
    uint64_t populated; /* allocated bytes */
    const char *bus;    /* the source's bus (virtio, scsi, sata, ide...); NULL: the profile's */
    const char *label;  /* shown as the Item's Description (e.g. "vda"); NULL: a default */
} VfOvfDisk;

/* One network adapter. */
typedef struct VfOvfNic {
    const char *model;   /* libvirt model (virtio, e1000...); NULL: the profile's adapter */
    const char *mac;     /* "52:54:00:..."; NULL: the hypervisor picks one */
    const char *network; /* NULL: VfOvfParams.network */
} VfOvfNic;

/* Largest number of disks and NICs one descriptor takes. */
#define VF_OVF_MAX_DISKS 64u
#define VF_OVF_MAX_NICS  32u

/* What goes into one descriptor. Strings are borrowed. */
typedef struct VfOvfParams {
    const char *name;       /* VirtualSystem id and name */
    const VfOvfDisk *disks; /* at least one */
    size_t n_disks;
    unsigned vcpus;
    uint64_t memory_mib;
    const char *os;      /* key of the profile's [os] group; NULL: "linux" */
    const char *network; /* network name; NULL: "VM Network" */
    const char *product; /* ProductSection; all three may be NULL */
    const char *vendor;
    const char *version;
    /* When nics_given, exactly these adapters (possibly none); otherwise
     * one adapter of the profile's kind. */
    const VfOvfNic *nics;
    size_t n_nics;
    bool nics_given;
    /* "bios", "efi" (vmw:Config firmware, and <vbox:Machine> for profiles
     * with [vbox]); NULL: not stated */
    const char *firmware;
} VfOvfParams;

/* The controller a disk on `bus` gets in this profile (the bus's own, or the
 * default); the NIC subtype a libvirt `model` gets. Never NULL. */
const VfOvfController *vf_ovf_profile_controller(const VfOvfProfile *p, const char *bus);
const char *vf_ovf_profile_nic(const VfOvfProfile *p, const char *model);

/* What VirtualBox's settings take (VirtualBox-settings.xsd: TCPUCount,
 * TMemory's RAMSize), checked when <vbox:Machine> is written. */
#define VF_OVF_VBOX_MAX_VCPUS      64u
#define VF_OVF_VBOX_MIN_MEMORY_MIB 4u
#define VF_OVF_VBOX_MAX_MEMORY_MIB 2097152u

/* Limits on what a descriptor may ask for (what ESXi 8 supports). */
#define VF_OVF_MAX_VCPUS      768u
#define VF_OVF_MAX_MEMORY_MIB (24ull * 1024 * 1024)

/*
 * Builds the descriptor. On success *xml is a NUL-terminated, g_malloc'd
 * UTF-8 document of *len bytes (the caller frees it with g_free).
 */
int vf_ovf_build(const VfOvfProfile *profile, const VfOvfParams *params, char **xml, size_t *len,
                 GError **error);

/* The scratch disk size for per-core sizing: per_core × vcpus, in bytes;
 * fails (VF_ERROR_USAGE) on overflow. */
int vf_ovf_scratch_per_core(uint64_t per_core, unsigned vcpus, uint64_t *out, GError **error);

/* True for the manifest algorithms OVF tools use: sha1, sha256, sha512. */
bool vf_ovf_manifest_algorithm_known(const char *algorithm);

/*
 * One manifest line for a file: "SHA256(name)= hex\n" (exactly that form:
 * no space before the parenthesis, the algorithm in capitals). algorithm is
 * "sha1", "sha256" or "sha512". Returns a g_malloc'd string.
 */
char *vf_ovf_manifest_line(const char *algorithm, const char *name, const char *hex_digest);
