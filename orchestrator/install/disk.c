/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "disk.h"

#include <blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <libfdisk.h>
#include <string.h>
#include <unistd.h>

G_DEFINE_QUARK(vmf - disk - error - quark, vmf_disk_error)

#define SECTOR        512u
#define ALIGN_SECTORS 2048u /* 1 MiB */

static int disk_fail(GError **error, int rc, const char *path, const char *what)
{
    g_set_error(error, vmf_disk_error_quark(), 1, "%s: %s: %s", path, what, g_strerror(-rc));
    return rc;
}

int vmf_disk_partition(const char *path, const VmfRecipe *recipe, const char *seed, GError **error)
{
    struct fdisk_context *cxt = fdisk_new_context();
    if (!cxt)
        return disk_fail(error, -ENOMEM, path, "libfdisk");
    int rc = fdisk_assign_device(cxt, path, 0);
    if (rc < 0) {
        fdisk_unref_context(cxt);
        return disk_fail(error, rc, path, "cannot open for partitioning");
    }
    struct fdisk_label *lb = NULL;
    /* 1 MiB alignment whatever the file's reported geometry. */
    if ((rc = fdisk_create_disklabel(cxt, "dos")) < 0 ||
        (rc = fdisk_save_user_grain(cxt, 1u << 20)) < 0 || (rc = fdisk_reset_alignment(cxt)) < 0)
        goto fail;
    lb = fdisk_get_label(cxt, "dos");
    /* A disk identifier derived from the recipe: same recipe, same table. */
    guint32 id = (guint32)g_str_hash(seed) | 1u;
    char idtext[16];
    g_snprintf(idtext, sizeof(idtext), "0x%08x", id);
    if ((rc = fdisk_set_disklabel_id_from_string(cxt, idtext)) < 0)
        goto fail;

    uint64_t total = recipe->disk_size / SECTOR;
    uint64_t start = ALIGN_SECTORS;
    for (unsigned i = 0; i < recipe->n_partitions; i++) {
        const VmfPartition *p = &recipe->partitions[i];
        uint64_t size = p->size
                            ? (p->size + (1u << 20) - 1) / SECTOR / ALIGN_SECTORS * ALIGN_SECTORS
                            : total - start;
        if (start + size > total) {
            g_set_error(error, vmf_disk_error_quark(), 1,
                        "%s: partition %u (recipe line %u) does not fit on the %" G_GUINT64_FORMAT
                        " MiB disk",
                        path, i + 1, p->line, recipe->disk_size >> 20);
            fdisk_unref_context(cxt);
            return -ENOSPC;
        }
        struct fdisk_partition *pa = fdisk_new_partition();
        struct fdisk_parttype *type = fdisk_label_get_parttype_from_code(lb, p->type);
        struct fdisk_parttype *own = NULL;
        if (!type)
            type = own = fdisk_new_unknown_parttype(p->type, NULL);
        fdisk_partition_set_partno(pa, i);
        fdisk_partition_set_start(pa, start);
        fdisk_partition_set_size(pa, size);
        fdisk_partition_set_type(pa, type);
        size_t partno = 0;
        rc = fdisk_add_partition(cxt, pa, &partno);
        fdisk_unref_partition(pa);
        if (own)
            fdisk_unref_parttype(own);
        if (rc < 0)
            goto fail;
        if (p->bootable && (rc = fdisk_toggle_partition_flag(cxt, partno, DOS_FLAG_ACTIVE)) < 0)
            goto fail;
        start += size;
    }
    if ((rc = fdisk_write_disklabel(cxt)) < 0)
        goto fail;
    rc = fdisk_deassign_device(cxt, 0);
    fdisk_unref_context(cxt);
    return rc < 0 ? disk_fail(error, rc, path, "writing the partition table") : 0;
fail:
    fdisk_unref_context(cxt);
    return disk_fail(error, rc, path, "writing the MBR partition table");
}

int vmf_disk_partition_extent(const char *path, unsigned n, uint64_t *offset, uint64_t *length,
                              GError **error)
{
    struct fdisk_context *cxt = fdisk_new_context();
    if (!cxt)
        return disk_fail(error, -ENOMEM, path, "libfdisk");
    int rc = fdisk_assign_device(cxt, path, 1);
    if (rc < 0) {
        fdisk_unref_context(cxt);
        return disk_fail(error, rc, path, "cannot read");
    }
    struct fdisk_partition *pa = NULL;
    rc = fdisk_get_partition(cxt, n - 1, &pa);
    if (rc == 0 && fdisk_partition_has_start(pa) && fdisk_partition_has_size(pa)) {
        *offset = fdisk_partition_get_start(pa) * SECTOR;
        *length = fdisk_partition_get_size(pa) * SECTOR;
    } else if (rc == 0) {
        rc = -ENOENT;
    }
    fdisk_unref_partition(pa);
    fdisk_unref_context(cxt);
    if (rc < 0)
        g_set_error(error, vmf_disk_error_quark(), 1, "%s: no partition %u", path, n);
    return rc;
}

char *vmf_disk_probe_fs(const char *path, unsigned n)
{
    uint64_t off = 0, len = 0;
    if (vmf_disk_partition_extent(path, n, &off, &len, NULL) < 0)
        return NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *type = NULL;
    blkid_probe pr = blkid_new_probe();
    if (pr && blkid_probe_set_device(pr, fd, (blkid_loff_t)off, (blkid_loff_t)len) == 0) {
        blkid_probe_enable_superblocks(pr, 1);
        blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
        const char *t = NULL;
        if (blkid_do_safeprobe(pr) == 0 && blkid_probe_lookup_value(pr, "TYPE", &t, NULL) == 0)
            type = g_strdup(t);
    }
    if (pr)
        blkid_free_probe(pr);
    close(fd);
    return type;
}
