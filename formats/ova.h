/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ova.h — parameters of the "ova" writer: an OVF appliance in one tar file.
 *
 * Members, in this order: NAME.ovf, NAME.mf, NAME.cert (when signing),
 * NAME-disk1.vmdk (streamOptimized). The VMDK is written straight into the archive as the
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
    /* name, disk_href, disk_file_size, disk_capacity and disk_populated are
     * filled in by the writer; the rest is used as given. */
    VfOvfParams ovf;
    const char *manifest; /* sha1, sha256, sha512; NULL: the profile's */
    /* Also write the members as files into this directory; NULL: don't. */
    const char *ovf_dir;
    unsigned sink_flags;  /* VfSinkFlags for those files */
} VfOvaParams;

/* The 512-byte tar header vmforge writes for a member (exposed for tests). */
int vf_ova_tar_header(const char *name, uint64_t size, int64_t mtime, uint8_t out[512],
                      GError **error);

/*
 * Checks the OVA at path in one pass: member order and names, each file's
 * size against ovf:size, every manifest digest and the manifest's form, the
 * signature and certificate when present, the descriptor against the OVF
 * schemas in schema_dir, and the structure of streamOptimized VMDKs. Each
 * problem is appended to problems (g_malloc'd strings). Returns < 0 only
 * when the file cannot be read as an archive at all.
 */
int vf_ova_verify(const char *path, const char *schema_dir, GPtrArray *problems, GError **error);
