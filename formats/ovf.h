/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ovf.h — OVF 1.x descriptors (DMTF DSP0243, namespace
 * http://schemas.dmtf.org/ovf/envelope/1) built with libxml2, from a
 * hypervisor hardware profile read out of templates/profiles/NAME.conf.
 *
 * The descriptor describes one virtual system with a boot disk (a
 * streamOptimized VMDK file) and, optionally, a scratch disk: a Disk with no
 * fileRef, which the hypervisor creates empty at deploy time (the HEPiX V2
 * image format keeps work space out of the image).
 */
#pragma once

#include "vf.h"

/* A hypervisor hardware profile. */
typedef struct VfOvfProfile {
    char *name;                /* file name without .conf */
    char *description;
    char *virtual_system_type; /* "vmx-14", "virtualbox-2.2", ... */
    char *manifest;            /* default manifest algorithm: sha1, sha256, sha512 */
    char **manifest_allowed;   /* NULL-terminated */
    char *vmdk_adapter;        /* ddb.adapterType of the VMDK */
    unsigned controller_type;  /* CIM ResourceType of the disk controller */
    char *controller_subtype;
    char *controller_name;
    char *nic_subtype;
    char *nic_name;
    GHashTable *os;            /* OS name → "CIMID" or "CIMID;vmwOsType" */
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

/* What goes into one descriptor. Strings are borrowed. */
typedef struct VfOvfParams {
    const char *name;          /* VirtualSystem id and name */
    const char *disk_href;     /* file name of the VMDK inside the OVA */
    uint64_t disk_file_size;   /* exact bytes of that file (File ovf:size) */
    uint64_t disk_capacity;    /* virtual size in bytes (Disk ovf:capacity) */
    uint64_t disk_populated;   /* allocated bytes (Disk ovf:populatedSize) */
    uint64_t scratch_capacity; /* bytes of the scratch disk; 0: none */
    unsigned vcpus;
    uint64_t memory_mib;
    const char *os;            /* key of the profile's [os] group; NULL: "linux" */
    const char *network;       /* network name; NULL: "VM Network" */
    const char *product;       /* ProductSection; all three may be NULL */
    const char *vendor;
    const char *version;
} VfOvfParams;

/* Limits on what a descriptor may ask for (what ESXi 8 supports). */
#define VF_OVF_MAX_VCPUS 768u
#define VF_OVF_MAX_MEMORY_MIB (24ull * 1024 * 1024)

/*
 * Builds the descriptor. On success *xml is a NUL-terminated, g_malloc'd
 * UTF-8 document of *len bytes (the caller frees it with g_free).
 */
int vf_ovf_build(const VfOvfProfile *profile, const VfOvfParams *params, char **xml,
                 size_t *len, GError **error);

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
