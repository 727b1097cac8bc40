/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * media.h — installer media: which OS an ISO holds (libosinfo, or the ISO's
 * .treeinfo when libosinfo does not know it), where its kernel and initrd
 * are, and reading them out of the ISO with libarchive (no mounting).
 */
#pragma once

#include <glib.h>

GQuark vmf_media_error_quark(void);

/* Kernels and initrds are tens of MiB; EL9's initrd is about 100 MiB. */
#define VMF_MEDIA_MAX_BOOT_FILE (1ull << 30)

typedef struct {
    char *iso;       /* absolute path */
    char *volume_id; /* ISO 9660 volume label, for inst.stage2=hd:LABEL= */
    char *os;        /* libosinfo short id (almalinux9, fedora37...) or the treeinfo's name */
    char *distro;    /* libosinfo distro (fedora, rhel, almalinux, rocky...) or "vmforge-offline" */
    char *family;    /* "anaconda" or "offline" */
    char *kernel;    /* member paths inside the ISO */
    char *initrd;
} VmfMedia;

/* Identifies `iso`. Returns NULL with *error naming the ISO and what is
 * missing. Free with vmf_media_free. */
VmfMedia *vmf_media_identify(const char *iso, GError **error);
void vmf_media_free(VmfMedia *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfMedia, vmf_media_free)

/* Calls `sink` with the bytes of `member` of `iso`, in pieces, after
 * `size_cb` told it the member's size (both may fail by returning < 0,
 * which stops and returns that value). Returns 0 or < 0 with *error. */
typedef int (*VmfMediaSizeCb)(guint64 size, void *opaque);
typedef int (*VmfMediaSinkCb)(const void *buf, size_t len, void *opaque);
int vmf_media_extract(const char *iso, const char *member, VmfMediaSizeCb size_cb,
                      VmfMediaSinkCb sink, void *opaque, GError **error);
