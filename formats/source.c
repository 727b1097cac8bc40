/* SPDX-License-Identifier: GPL-2.0-or-later */
/* source.c — opening, probing and mapping a raw disk. See source.h. */
#include "source.h"

#include "qcow2-read.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <openssl/evp.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROBE_HEAD_SIZE (64u * 1024u)
#define IDENTITY_HEAD   (4u * 1024u * 1024u)
#define IDENTITY_TAIL   (1u * 1024u * 1024u)

bool vf_is_zero(const void *p, size_t n)
{
    static const uint8_t zeros[16];
    if (n <= 16)
        return memcmp(p, zeros, n) == 0;
    uint64_t a, b;
    memcpy(&a, p, sizeof a);
    memcpy(&b, (const uint8_t *)p + 8, sizeof b);
    if (a | b)
        return false;
    return memcmp(p, (const uint8_t *)p + 16, n - 16) == 0;
}

char *vf_format_size(uint64_t bytes)
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024)
        return g_strdup_printf("%" G_GUINT64_FORMAT " bytes", bytes);
    double v = (double)bytes;
    unsigned u = 0;
    while (v >= 1024.0 && u < G_N_ELEMENTS(units) - 1) {
        v /= 1024.0;
        u++;
    }
    return g_strdup_printf("%.1f %s", v, units[u]);
}

const char *vf_probe_format(const uint8_t *head, size_t head_len, const uint8_t *tail,
                            size_t tail_len)
{
#define HAS(off, lit)                                                                              \
    (head_len >= (off) + sizeof(lit) - 1 && memcmp(head + (off), lit, sizeof(lit) - 1) == 0)
    if (HAS(0, "QFI\xfb")) {
        uint32_t version = head_len >= 8 ? vf_get_be32(head + 4) : 0;
        return version >= 2 ? "a qcow2 image" : "a qcow (version 1) image";
    }
    if (HAS(0, "KDMV"))
        return "a VMDK sparse image";
    if (HAS(0, "COWD"))
        return "a VMware ESX COW image";
    if (HAS(0, "# Disk DescriptorFile"))
        return "a VMDK descriptor";
    if (head_len >= 0x44 && vf_get_le32(head + 0x40) == 0xBEDA107Fu)
        return "a VirtualBox VDI image";
    if (HAS(0, "conectix"))
        return "a dynamic VHD image";
    if (HAS(0, "vhdxfile"))
        return "a VHDX image";
    if (HAS(0, "QED\0"))
        return "a QED image";
    if (HAS(0, "\x1f\x8b"))
        return "gzip-compressed data (decompress it first, e.g. with gunzip)";
    if (HAS(0, "\xfd"
               "7zXZ\0"))
        return "xz-compressed data (decompress it first with unxz)";
    if (HAS(0, "\x28\xb5\x2f\xfd"))
        return "zstd-compressed data (decompress it first with unzstd)";
    if (HAS(0, "BZh"))
        return "bzip2-compressed data (decompress it first with bunzip2)";
    if (HAS(257, "ustar"))
        return "a tar archive (an OVA? extract its disk first)";
    if (HAS(0x8001, "CD001"))
        return "an ISO 9660 image (installer media, not a disk)";
    if (tail && tail_len >= 512 && memcmp(tail + tail_len - 512, "conectix", 8) == 0)
        return "a fixed VHD image (it ends with a VHD footer)";
    return NULL;
#undef HAS
}

static int map_extents(VfSource *src, GError **error)
{
    src->extents = g_array_new(false, false, sizeof(VfExtent));
    if (src->is_block_device) {
        VfExtent e = {0, src->size};
        g_array_append_val(src->extents, e);
        src->data_bytes = src->size;
        return 0;
    }
    uint64_t pos = 0;
    while (pos < src->size) {
        off_t data = lseek(src->fd, (off_t)pos, SEEK_DATA);
        if (data < 0) {
            if (errno == ENXIO) /* only a hole from here to the end */
                break;
            if (errno == EINVAL && pos == 0) {
                /* File system without SEEK_DATA: everything is data. */
                VfExtent e = {0, src->size};
                g_array_append_val(src->extents, e);
                src->data_bytes = src->size;
                return 0;
            }
            return vf_set_errno(error, VF_ERROR_INPUT, errno, "mapping %s", src->path);
        }
        off_t hole = lseek(src->fd, data, SEEK_HOLE);
        if (hole < 0)
            return vf_set_errno(error, VF_ERROR_INPUT, errno, "mapping %s", src->path);
        uint64_t end = MIN((uint64_t)hole, src->size);
        if ((uint64_t)data >= end)
            break;
        VfExtent e = {(uint64_t)data, end - (uint64_t)data};
        g_array_append_val(src->extents, e);
        src->data_bytes += e.length;
        pos = end;
    }
    return 0;
}

int vf_source_pread(VfSource *src, void *buf, size_t len, uint64_t offset, GError **error)
{
    if (src->qcow2)
        return vf_qcow2_pread(src->qcow2, buf, len, offset, error);
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread(src->fd, p, len, (off_t)offset);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return vf_set_errno(error, VF_ERROR_INPUT, errno,
                                "reading %s at offset %" G_GUINT64_FORMAT, src->path, offset);
        }
        if (n == 0) {
            g_set_error(error, VF_ERROR, VF_ERROR_INPUT,
                        "%s became shorter while being read (at offset %" G_GUINT64_FORMAT
                        "); is something writing to it?",
                        src->path, offset);
            return -EIO;
        }
        p += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

/* Opens `path` and sizes it: a regular file or a block device, not empty,
 * within VF_MAX_DISK_SIZE. */
static int open_sized(VfSource *src, const char *path, GError **error)
{
    src->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (src->fd < 0) {
        int err = errno;
        if (err == ENOENT)
            g_set_error(error, VF_ERROR, VF_ERROR_INPUT, "%s does not exist", path);
        else if (err == EACCES || err == EPERM)
            g_set_error(error, VF_ERROR, VF_ERROR_INPUT,
                        "%s cannot be read: %s (check its permissions)", path, g_strerror(err));
        else
            g_set_error(error, VF_ERROR, VF_ERROR_INPUT, "cannot open %s: %s", path,
                        g_strerror(err));
        return -err;
    }
    struct stat st;
    if (fstat(src->fd, &st) < 0)
        return vf_set_errno(error, VF_ERROR_INPUT, errno, "cannot stat %s", path);
    if (S_ISDIR(st.st_mode)) {
        g_set_error(error, VF_ERROR, VF_ERROR_INPUT, "%s is a directory, not a disk image", path);
        return -EISDIR;
    }
    if (S_ISBLK(st.st_mode)) {
        uint64_t bytes = 0;
        if (ioctl(src->fd, BLKGETSIZE64, &bytes) < 0)
            return vf_set_errno(error, VF_ERROR_INPUT, errno, "cannot size block device %s", path);
        src->size = bytes;
        src->is_block_device = true;
    } else if (S_ISREG(st.st_mode)) {
        src->size = (uint64_t)st.st_size;
    } else {
        g_set_error(error, VF_ERROR, VF_ERROR_INPUT,
                    "%s is not a regular file or block device (a pipe or socket cannot be "
                    "converted: the converter needs to seek)",
                    path);
        return -EINVAL;
    }
    if (src->size == 0) {
        g_set_error(error, VF_ERROR, VF_ERROR_INPUT, "%s is empty (0 bytes): nothing to convert",
                    path);
        return -EINVAL;
    }
    if (src->size > VF_MAX_DISK_SIZE) {
        g_autofree char *max = vf_format_size(VF_MAX_DISK_SIZE);
        g_set_error(error, VF_ERROR, VF_ERROR_LIMIT, "%s is larger than the %s vmforge supports",
                    path, max);
        return -EFBIG;
    }
    return 0;
}

/* What the file's first and last bytes say it is (NULL: nothing known). */
static int probe(VfSource *src, const char **what, GError **error)
{
    size_t head_len = (size_t)MIN((uint64_t)PROBE_HEAD_SIZE, src->size);
    g_autofree uint8_t *head = g_malloc(head_len);
    int r = vf_source_pread(src, head, head_len, 0, error);
    if (r < 0)
        return r;
    uint8_t tail[512];
    size_t tail_len = 0;
    if (src->size >= 1024) {
        r = vf_source_pread(src, tail, sizeof tail, src->size - sizeof tail, error);
        if (r < 0)
            return r;
        tail_len = sizeof tail;
    }
    *what = vf_probe_format(head, head_len, tail_len ? tail : NULL, tail_len);
    return 0;
}

/* qcow2: the virtual disk, through the image's tables and chain. */
static int open_qcow2(VfSource *src, const char *path, GError **error)
{
    int r = vf_qcow2_open_fd(src->fd, path, &src->qcow2, error);
    if (r < 0)
        return r;
    src->format = "qcow2";
    src->size = vf_qcow2_size(src->qcow2);
    src->is_block_device = false;
    src->extents = g_array_new(false, false, sizeof(VfExtent));
    r = vf_qcow2_map(src->qcow2, src->extents, error);
    if (r < 0)
        return r;
    for (guint i = 0; i < src->extents->len; i++)
        src->data_bytes += g_array_index(src->extents, VfExtent, i).length;
    return 0;
}

int vf_source_open(const char *path, unsigned flags, VfSource **out, GError **error)
{
    g_autoptr(VfSource) src = g_new0(VfSource, 1);
    src->fd = -1;
    src->path = g_strdup(path);
    int r = open_sized(src, path, error);
    if (r < 0)
        return r;
    const char *what = NULL;
    if (!(flags & VF_SOURCE_ASSUME_RAW) && (r = probe(src, &what, error)) < 0)
        return r;
    if (what && g_str_has_prefix(what, "a qcow2 image")) {
        r = open_qcow2(src, path, error);
        if (r < 0)
            return r;
        *out = g_steal_pointer(&src);
        return 0;
    }
    if (what) {
        g_set_error(error, VF_ERROR, VF_ERROR_INPUT,
                    "%s is not a raw disk image: it looks like %s. vmforge reads raw disks and "
                    "qcow2 images (convert it with qemu-img first; if these bytes really are "
                    "the disk, read them as raw: --assume-raw, or format: raw in a recipe)",
                    path, what);
        return -EINVAL;
    }
    src->format = "raw";
    r = map_extents(src, error);
    if (r < 0)
        return r;
    (void)posix_fadvise(src->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    *out = g_steal_pointer(&src);
    return 0;
}

int vf_source_identity(VfSource *src, uint8_t out[32], GError **error)
{
    g_autoptr(GChecksum) ck = g_checksum_new(G_CHECKSUM_SHA256);
    uint64_t be = GUINT64_TO_BE(src->size);
    g_checksum_update(ck, (const guchar *)&be, sizeof be);
    for (guint i = 0; i < src->extents->len; i++) {
        const VfExtent *e = &g_array_index(src->extents, VfExtent, i);
        uint64_t v[2] = {GUINT64_TO_BE(e->offset), GUINT64_TO_BE(e->length)};
        g_checksum_update(ck, (const guchar *)v, sizeof v);
    }
    size_t head = (size_t)MIN((uint64_t)IDENTITY_HEAD, src->size);
    g_autofree uint8_t *buf = g_malloc(MAX(head, IDENTITY_TAIL));
    int r = vf_source_pread(src, buf, head, 0, error);
    if (r < 0)
        return r;
    g_checksum_update(ck, buf, head);
    if (src->size > IDENTITY_HEAD) {
        size_t tail = (size_t)MIN((uint64_t)IDENTITY_TAIL, src->size - IDENTITY_HEAD);
        r = vf_source_pread(src, buf, tail, src->size - tail, error);
        if (r < 0)
            return r;
        g_checksum_update(ck, buf, tail);
    }
    gsize len = 32;
    g_checksum_get_digest(ck, out, &len);
    return 0;
}

void vf_source_free(VfSource *src)
{
    if (!src)
        return;
    vf_qcow2_free(src->qcow2);
    if (src->fd >= 0)
        close(src->fd);
    if (src->extents)
        g_array_unref(src->extents);
    g_free(src->path);
    g_free(src);
}
