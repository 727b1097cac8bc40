/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ova.h — parameters of the "ova" writer: an OVF appliance in one tar file.
 *
 * Members, in this order: NAME.ovf, NAME.mf, NAME-disk1.vmdk
 * (streamOptimized). The VMDK is written straight into the archive as the
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

typedef struct VfOvaParams {
    const VfOvfProfile *profile;
    /* name, disk_href, disk_file_size, disk_capacity and disk_populated are
     * filled in by the writer; the rest is used as given. */
    VfOvfParams ovf;
    const char *manifest; /* sha1, sha256, sha512; NULL: the profile's */
} VfOvaParams;

/* The 512-byte tar header vmforge writes for a member (exposed for tests). */
int vf_ova_tar_header(const char *name, uint64_t size, int64_t mtime, uint8_t out[512],
                      GError **error);
