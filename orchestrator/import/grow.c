/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * grow.c — the disk grown (by the import stage, which made the raw file
 * larger) shows its new size to the guest: the last partition of the MBR
 * reaches the end of the disk and its file system fills it. One libguestfs
 * appliance; ext2/3/4 are checked (e2fsck -f) and resized offline, xfs
 * grows while mounted, as it must.
 */
#include "import.h"

#include "guestfs/guest.h"
#include "util/exit-codes.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    VmfGuest *guest;
    guestfs_h *g;
    char *dev; /* the disk, "/dev/sda" */
    GError **error;
} Grow;

static int refuse(Grow *gr, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static int refuse(Grow *gr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(gr->error, vmf_stage_import_error_quark(), VMF_EXIT_INPUT, "%s", msg);
    return VMF_EXIT_INPUT;
}

static int failed(Grow *gr, const char *what)
{
    vmf_guest_fail(gr->guest, gr->error, "%s", what);
    return VMF_EXIT_FAILURE;
}

/* The partition that ends last on an MBR disk: must be a primary one. */
static int last_partition(Grow *gr, int *num)
{
    g_autofree char *type = guestfs_part_get_parttype(gr->g, gr->dev);
    if (!type)
        return refuse(gr, "the image has no partition table (an MBR is needed to grow it)");
    if (strcmp(type, "msdos") != 0)
        return refuse(gr, "the image has a %s partition table; vmforge grows MBR (msdos) disks "
                          "only",
                      type);
    struct guestfs_partition_list *parts = guestfs_part_list(gr->g, gr->dev);
    if (!parts)
        return failed(gr, "listing the partitions");
    uint64_t end = 0;
    *num = 0;
    for (uint32_t i = 0; i < parts->len; i++)
        if (parts->val[i].part_end >= end) {
            end = parts->val[i].part_end;
            *num = parts->val[i].part_num;
        }
    guestfs_free_partition_list(parts);
    if (*num == 0)
        return refuse(gr, "the image's MBR holds no partition");
    if (*num > 4)
        return refuse(gr, "the last partition (%d) is a logical partition of an extended one; "
                          "vmforge grows only a primary partition",
                      *num);
    return 0;
}

/* The file system on `part` grown to fill it. */
static int grow_fs(Grow *gr, const char *part, char **fs)
{
    *fs = guestfs_vfs_type(gr->g, part);
    if (!*fs)
        return failed(gr, "reading the file system type");
    if (!strcmp(*fs, "ext2") || !strcmp(*fs, "ext3") || !strcmp(*fs, "ext4")) {
        if (guestfs_e2fsck(gr->g, part, GUESTFS_E2FSCK_CORRECT, 1, -1) < 0 || guestfs_resize2fs(gr->g, part) < 0)
            return failed(gr, "resize2fs");
        return 0;
    }
    if (!strcmp(*fs, "xfs")) {
        const char *const xfs[] = {"xfs", NULL};
        if (guestfs_feature_available(gr->g, (char *const *)xfs) <= 0)
            return refuse(gr, "the last partition (%s) holds xfs, and this libguestfs appliance "
                              "cannot grow xfs (install it: on Debian, apt-get install "
                              "libguestfs-xfs)",
                          part);
        if (guestfs_mount(gr->g, part, "/") < 0 || guestfs_xfs_growfs(gr->g, "/", -1) < 0 ||
            guestfs_umount(gr->g, "/") < 0)
            return failed(gr, "xfs_growfs");
        return 0;
    }
    return refuse(gr, "the last partition (%s) holds %s; vmforge grows ext2, ext3, ext4 and xfs",
                  part, (*fs)[0] ? *fs : "no file system");
}

static int grow_guest(Grow *gr, unsigned *partition, char **fs)
{
    char **devices = guestfs_list_devices(gr->g);
    if (!devices || !devices[0])
        return failed(gr, "listing the disks");
    gr->dev = g_strdup(devices[0]);
    for (char **d = devices; *d; d++)
        free(*d);
    free(devices);
    int num = 0, rc = last_partition(gr, &num);
    if (rc)
        return rc;
    int64_t sectors = guestfs_blockdev_getsz(gr->g, gr->dev);
    if (sectors < 0 || guestfs_part_resize(gr->g, gr->dev, num, sectors - 1) < 0)
        return failed(gr, "moving the end of the last partition");
    g_autofree char *part = g_strdup_printf("%s%d", gr->dev, num);
    char *type = NULL;
    rc = grow_fs(gr, part, &type);
    *fs = type ? g_strdup(type) : NULL;
    free(type);
    *partition = (unsigned)num;
    return rc;
}

int vmf_import_grow(const char *disk, const char *accel, unsigned *partition, char **fs,
                    GError **error)
{
    Grow gr = {.error = error};
    gr.guest = vmf_guest_open(disk, accel, false, error);
    if (!gr.guest)
        return VMF_EXIT_FAILURE;
    gr.g = vmf_guest_handle(gr.guest);
    int rc = grow_guest(&gr, partition, fs);
    g_free(gr.dev);
    if (rc) {
        vmf_guest_free(gr.guest);
        return rc;
    }
    return vmf_guest_close(gr.guest, error) < 0 ? VMF_EXIT_FAILURE : 0;
}
