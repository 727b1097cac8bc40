/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ova.h — parameters of the "ova" writer: an OVF appliance in one tar file.
 *
 * Members, in this order: NAME.ovf, NAME.mf, NAME.cert (when signing),
 * NAME-disk1.vmdk (streamOptimized), NAME-disk2.vmdk (the scratch disk, an
 * empty streamOptimized VMDK, unless it is made at deploy time). The VMDK is written straight into the archive as the
 * converter produces it and hashed on the way, for the manifest; nothing is
 * copied or read twice. The .ovf and .mf, which need the VMDK's size and
 * digest, are reserved at their final length and written last: the .mf's
 * length is known in advance, and the .ovf is padded with trailing white
 * space to the length it has with the largest possible numbers.
 *
 * Tar metadata is deterministic: mtime SOURCE_DATE_EPOCH (or 0), owner 0,
 * mode 0644; members of 8 GiB and more get GNU base-256 sizes, which GNU tar
 * and Python's tarfile read.
 */
#pragma once

#include "ovf.h"
#include "writer.h"

/* A private key and its X.509 certificate, to sign the manifest. */
typedef struct VfOvaSigner VfOvaSigner;

/* Loads PEM files; fails if the key does not belong to the certificate.
 * Errors name the file. Free with vf_ova_signer_free(). */
int vf_ova_signer_load(const char *key_path, const char *cert_path, VfOvaSigner **out,
                       GError **error);
void vf_ova_signer_free(VfOvaSigner *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfOvaSigner, vf_ova_signer_free)

typedef struct VfOvaParams {
    const VfOvfProfile *profile;
    const VfOvaSigner *signer; /* NULL: no .cert member */
    /* name and disks are filled in by the writer (the disk it converts, and
     * the scratch disk); the rest is used as given. */
    VfOvfParams ovf;
    uint64_t scratch_capacity; /* bytes of the scratch disk; 0: none */
    /* false: the scratch disk is an empty streamOptimized VMDK member with a
     * fileRef (every importer takes it, virt-v2v included); true: a Disk
     * without fileRef that the hypervisor creates at deploy time (OVF's own
     * form, which virt-v2v refuses). */
    bool scratch_at_deploy;
    const char *manifest;      /* sha1, sha256, sha512; NULL: the profile's */
    /* Also write the members as files into this directory; NULL: don't. */
    const char *ovf_dir;
    unsigned sink_flags; /* VfSinkFlags for those files */
} VfOvaParams;

/*
 * A multi-disk appliance (vmforge backup): one OVA whose disks come from
 * separate conversions. Open it with every disk's capacity and bus (ovf.disks;
 * a disk with href NULL is a scratch disk made at deploy time, any other href
 * is replaced by NAME-diskN.vmdk). Then, for each data disk in order, one
 * vf_convert with an output {.ops = &vf_writer_ova_disk, .extra =
 * &(VfOvaDiskRef){appliance, index}} streams that disk's VMDK into the
 * archive. vf_ova_appliance_commit writes the descriptor, manifest and
 * signature and links the file. Freed uncommitted, it leaves nothing.
 */
typedef struct VfOvaAppliance VfOvaAppliance;
typedef struct VfOvaApplianceParams {
    const VfOvfProfile *profile;
    const VfOvaSigner *signer; /* NULL: no .cert member */
    const char *manifest;      /* NULL: the profile's */
    VfOvfParams ovf;           /* name NULL: the file name without .ova */
    int64_t timestamp;         /* tar mtimes */
    unsigned sink_flags;
    const volatile int *cancel;
} VfOvaApplianceParams;

int vf_ova_appliance_open(const char *path, const VfOvaApplianceParams *p, VfOvaAppliance **out,
                          GError **error);
int vf_ova_appliance_commit(VfOvaAppliance *a, GError **error);
/* After commit: the archive's SHA-256 (hex) and size. */
const char *vf_ova_appliance_sha256(const VfOvaAppliance *a);
uint64_t vf_ova_appliance_size(const VfOvaAppliance *a);
void vf_ova_appliance_free(VfOvaAppliance *a);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfOvaAppliance, vf_ova_appliance_free)

typedef struct VfOvaDiskRef {
    VfOvaAppliance *appliance;
    unsigned index; /* in VfOvaApplianceParams.ovf.disks */
} VfOvaDiskRef;
/* Not in vf_writers: it writes into the appliance, not a file of its own. */
extern const VfWriterOps vf_writer_ova_disk;

/* The 512-byte tar header vmforge writes for a member (exposed for tests). */
int vf_ova_tar_header(const char *name, uint64_t size, int64_t mtime, uint8_t out[512],
                      GError **error);

/*
 * Checks the OVA at path in one pass: member order and names, each file's
 * size against ovf:size, every manifest digest and the manifest's form, the
 * signature and certificate when present, the descriptor against the OVF
 * schema schema_dir/ovf.xsd (templates/schemas: DMTF's OVF 1.x with
 * VirtualBox's vbox:Machine; NULL: not against a schema), and the structure
 * of streamOptimized VMDKs as they stream past (vmdk-check.h). Each
 * problem is appended to problems (g_malloc'd strings). Returns < 0 only
 * when the file cannot be read as an archive at all.
 */
int vf_ova_verify(const char *path, const char *schema_dir, GPtrArray *problems, GError **error);
