/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qcow2-read.c — qcow2 images and their backing chains as a virtual disk.
 * See qcow2-read.h; the layout is qemu's docs/interop/qcow2.txt. */
#include "qcow2-read.h"

#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define QCOW2_V2_HEADER 72u
#define QCOW2_V3_HEADER 104u
/* The header, its extensions and the backing file name live in the first
 * cluster; this much is read to parse them. */
#define HEADER_READ (1u << VF_QCOW2_MAX_CLUSTER_BITS)

#define L1E_OFFSET_MASK 0x00fffffffffffe00ull
#define L2E_OFFSET_MASK 0x00fffffffffffe00ull
#define L2E_COMPRESSED  (1ull << 62)
#define L2E_ZERO        1ull

#define INCOMPAT_DIRTY       (1ull << 0)
#define INCOMPAT_CORRUPT     (1ull << 1)
#define INCOMPAT_DATA_FILE   (1ull << 2)
#define INCOMPAT_COMPRESSION (1ull << 3)
#define INCOMPAT_EXTL2       (1ull << 4)

#define EXT_END         0x00000000u
#define EXT_BACKING_FMT 0xe2792acau
#define EXT_FEATURES    0x6803f857u
#define EXT_CRYPTO      0x0537be77u
#define EXT_DATA_FILE   0x44415441u
/* A feature name table entry: type, bit number, 46 bytes of name. */
#define FEATURE_ENTRY 48u
#define FEATURE_NAME  46u

/* Extents: past this many, small gaps are folded into the data around them
 * (they read as zeros and the converter skips zero units anyway), so the map
 * of a hostile image that alternates data and zero clusters stays bounded. */
#define MAX_EXTENTS (1u << 20)

typedef enum { CL_UNALLOCATED, CL_ZERO, CL_DATA, CL_COMPRESSED } ClusterKind;

struct VfQcow2 {
    char *path;
    int fd;
    bool own_fd;
    uint64_t file_size;
    VfQcow2Header h;
    uint64_t cluster_size;
    unsigned l2_bits; /* log2 of entries per L2 table */
    uint64_t *l1;     /* host order */
    /* Direct-mapped L2 cache: slot = L1 index % slots. */
    unsigned slots;
    uint64_t *slot_l1;  /* which L1 index a slot holds, UINT64_MAX: none */
    uint64_t **slot_l2; /* big-endian entries as read */
    /* The last compressed cluster inflated. */
    uint64_t z_cluster; /* virtual cluster index, UINT64_MAX: none */
    uint8_t *z_out, *z_in;
    char *feature_names[64];
    /* Backing: a qcow2 image or a raw file (or neither). */
    VfQcow2 *backing;
    int raw_fd;
    char *raw_path;
    uint64_t raw_size;
};

static int fail(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static int fail(GError **error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, VF_ERROR, VF_ERROR_INPUT, msg);
    return -EINVAL;
}

void vf_qcow2_header_clear(VfQcow2Header *h)
{
    g_free(h->backing_file);
    g_free(h->backing_format);
    memset(h, 0, sizeof(*h));
}

/* Reads up to len bytes at offset; what lies past the end of the file reads
 * as zeros (as qemu reads a cluster the file stops inside). */
static int pread_zero(int fd, const char *path, void *buf, size_t len, uint64_t offset,
                      GError **error)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return vf_set_errno(error, VF_ERROR_INPUT, errno,
                                "reading %s at offset %" G_GUINT64_FORMAT, path, offset);
        if (n == 0) {
            memset(p, 0, len);
            return 0;
        }
        p += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

static char *feature_name(char *const *names, unsigned bit)
{
    return names && names[bit] ? g_strdup_printf("bit %u, \"%s\"", bit, names[bit])
                               : g_strdup_printf("bit %u", bit);
}

/* The fields every version has, and their bounds. */
static int parse_fixed(const uint8_t *buf, size_t len, const char *name, VfQcow2Header *h,
                       GError **error)
{
    if (len < QCOW2_V2_HEADER || memcmp(buf, "QFI\xfb", 4) != 0)
        return fail(error, "%s is not a qcow2 image (no qcow2 header)", name);
    h->version = vf_get_be32(buf + 4);
    if (h->version != 2 && h->version != 3)
        return fail(error, "%s: qcow2 version %u is not supported (only 2 and 3)", name,
                    h->version);
    h->backing_offset = vf_get_be64(buf + 8);
    h->backing_size = vf_get_be32(buf + 16);
    h->cluster_bits = vf_get_be32(buf + 20);
    h->size = vf_get_be64(buf + 24);
    h->crypt_method = vf_get_be32(buf + 32);
    h->l1_size = vf_get_be32(buf + 36);
    h->l1_offset = vf_get_be64(buf + 40);
    if (h->cluster_bits < VF_QCOW2_MIN_CLUSTER_BITS || h->cluster_bits > VF_QCOW2_MAX_CLUSTER_BITS)
        return fail(error, "%s: cluster_bits %u is out of range (%u to %u)", name, h->cluster_bits,
                    VF_QCOW2_MIN_CLUSTER_BITS, VF_QCOW2_MAX_CLUSTER_BITS);
    if (h->crypt_method != 0)
        return fail(error,
                    "%s is encrypted (%s): vmforge does not read encrypted images; "
                    "decrypt it with qemu-img convert first",
                    name,
                    h->crypt_method == 1   ? "AES"
                    : h->crypt_method == 2 ? "LUKS"
                                           : "unknown method");
    if (h->size == 0 || h->size > VF_MAX_DISK_SIZE)
        return fail(error,
                    "%s: virtual size %" G_GUINT64_FORMAT
                    " is out of range (1 byte to %" G_GUINT64_FORMAT ")",
                    name, h->size, (uint64_t)VF_MAX_DISK_SIZE);
    return 0;
}

/* The L1 table: large enough for the virtual size, bounded, in the file. */
static int check_l1(const VfQcow2Header *h, uint64_t file_size, const char *name, GError **error)
{
    uint64_t cs = 1ull << h->cluster_bits;
    /* One L1 entry covers cs/8 clusters. */
    unsigned l2_bits = h->cluster_bits - 3;
    uint64_t per_l1 = 1ull << (l2_bits + h->cluster_bits);
    uint64_t need = (h->size + per_l1 - 1) / per_l1;
    if ((uint64_t)h->l1_size * 8 > VF_QCOW2_MAX_L1_BYTES)
        return fail(error, "%s: L1 table of %u entries is larger than %u MiB", name, h->l1_size,
                    VF_QCOW2_MAX_L1_BYTES >> 20);
    if (h->l1_size < need)
        return fail(error,
                    "%s: L1 table of %u entries is too small for the virtual size "
                    "(%" G_GUINT64_FORMAT " needed)",
                    name, h->l1_size, need);
    if (h->l1_size && (h->l1_offset % cs || h->l1_offset > file_size ||
                       file_size - h->l1_offset < (uint64_t)h->l1_size * 8))
        return fail(error, "%s: L1 table at offset %" G_GUINT64_FORMAT " is not inside the file",
                    name, h->l1_offset);
    return 0;
}

/* Version 3's fields; *ext_start: where the header extensions begin. */
static int parse_v3(const uint8_t *buf, size_t len, const char *name, VfQcow2Header *h,
                    size_t *ext_start, GError **error)
{
    uint64_t cs = 1ull << h->cluster_bits;
    *ext_start = QCOW2_V2_HEADER;
    if (h->version != 3)
        return 0;
    if (len < QCOW2_V3_HEADER)
        return fail(error, "%s: truncated qcow2 v3 header", name);
    h->incompatible = vf_get_be64(buf + 72);
    h->compatible = vf_get_be64(buf + 80);
    h->autoclear = vf_get_be64(buf + 88);
    h->header_length = vf_get_be32(buf + 100);
    if (h->header_length < QCOW2_V3_HEADER || h->header_length > MIN(len, cs) ||
        h->header_length % 8)
        return fail(error, "%s: header_length %u is invalid", name, h->header_length);
    if (h->header_length > QCOW2_V3_HEADER)
        h->compression_type = buf[104];
    *ext_start = h->header_length;
    return 0;
}

/* One header extension: the backing format, the feature names (for
 * messages); encryption and external data files are refused. */
static int parse_extension(uint32_t type, const uint8_t *data, uint32_t elen, const char *name,
                           VfQcow2Header *h, char **names, GError **error)
{
    switch (type) {
    case EXT_BACKING_FMT:
        g_free(h->backing_format);
        h->backing_format = g_strndup((const char *)data, MIN(elen, 32u));
        return 0;
    case EXT_FEATURES:
        for (uint32_t i = 0; names && i + FEATURE_ENTRY <= elen; i += FEATURE_ENTRY) {
            if (data[i] != 0 || data[i + 1] >= 64)
                continue; /* only incompatible features are named in messages */
            g_free(names[data[i + 1]]);
            names[data[i + 1]] = g_strndup((const char *)data + i + 2, FEATURE_NAME);
        }
        return 0;
    case EXT_CRYPTO:
        return fail(error,
                    "%s is encrypted (it has a full disk encryption header): vmforge does not "
                    "read encrypted images",
                    name);
    case EXT_DATA_FILE: {
        g_autofree char *df = g_strndup((const char *)data, MIN(elen, 1024u));
        return fail(error,
                    "%s keeps its data in an external data file (%s): not supported; convert it "
                    "with qemu-img first",
                    name, df);
    }
    default:
        return 0; /* unknown extensions are ignorable by definition */
    }
}

/* The header extensions, from `off` up to `end` (the end of the first
 * cluster). */
static int parse_extensions(const uint8_t *buf, size_t off, size_t end, const char *name,
                            VfQcow2Header *h, char **names, GError **error)
{
    while (off + 8 <= end) {
        uint32_t type = vf_get_be32(buf + off), elen = vf_get_be32(buf + off + 4);
        if (type == EXT_END)
            break;
        if (elen > end - off - 8)
            return fail(error,
                        "%s: header extension 0x%08x at offset %zu runs past the first cluster",
                        name, type, off);
        int r = parse_extension(type, buf + off + 8, elen, name, h, names, error);
        if (r < 0)
            return r;
        off += 8 + (((size_t)elen + 7) & ~(size_t)7);
    }
    return 0;
}

/* Incompatible features: the reader must understand each one set. */
static int check_incompatible(const VfQcow2Header *h, char *const *names, const char *name,
                              GError **error)
{
    uint64_t inc = h->incompatible;
    if (inc & INCOMPAT_CORRUPT)
        return fail(error,
                    "%s is marked corrupt (incompatible feature \"corrupt\"); check and repair it "
                    "with qemu-img check -r all first",
                    name);
    if (inc & INCOMPAT_DATA_FILE)
        return fail(error,
                    "%s keeps its data in an external data file (incompatible feature \"external "
                    "data file\"): not supported",
                    name);
    if (inc & INCOMPAT_EXTL2)
        return fail(error,
                    "%s uses extended L2 entries (incompatible feature \"extended L2 entries\", "
                    "subclusters): not supported",
                    name);
    if ((inc & INCOMPAT_COMPRESSION) || h->compression_type != 0)
        return fail(error,
                    "%s uses compression type %s (incompatible feature \"compression type\"): "
                    "only zlib is supported",
                    name, h->compression_type == 1 ? "zstd" : "unknown");
    inc &= ~(INCOMPAT_DIRTY | INCOMPAT_COMPRESSION);
    if (inc) {
        unsigned bit = (unsigned)__builtin_ctzll(inc);
        g_autofree char *what = feature_name(names, bit);
        return fail(error,
                    "%s has an incompatible feature this reader does not know (%s); convert it "
                    "with a newer qemu-img first",
                    name, what);
    }
    return 0;
}

/* The backing file's name: bounded, inside the first cluster, no NUL. */
static int parse_backing(const uint8_t *buf, size_t end, const char *name, VfQcow2Header *h,
                         GError **error)
{
    if (!h->backing_offset)
        return 0;
    if (h->backing_size == 0 || h->backing_size > VF_QCOW2_MAX_BACKING_NAME)
        return fail(error, "%s: backing file name of %u bytes is out of range (1 to %u)", name,
                    h->backing_size, VF_QCOW2_MAX_BACKING_NAME);
    if (h->backing_offset > end || end - h->backing_offset < h->backing_size)
        return fail(error, "%s: the backing file name is not inside the first cluster", name);
    h->backing_file = g_strndup((const char *)buf + h->backing_offset, h->backing_size);
    if (strlen(h->backing_file) != h->backing_size)
        return fail(error, "%s: the backing file name holds a NUL byte", name);
    return 0;
}

/* Header parsing, with the feature names it found (for messages). */
static int parse_header(const uint8_t *buf, size_t len, uint64_t file_size, const char *name,
                        VfQcow2Header *h, char **names, GError **error)
{
    memset(h, 0, sizeof(*h));
    size_t ext_start = 0;
    int r = parse_fixed(buf, len, name, h, error);
    if (r >= 0)
        r = check_l1(h, file_size, name, error);
    if (r >= 0)
        r = parse_v3(buf, len, name, h, &ext_start, error);
    if (r < 0)
        return r;
    size_t end = (size_t)MIN((uint64_t)len, 1ull << h->cluster_bits);
    r = parse_extensions(buf, ext_start, end, name, h, names, error);
    if (r >= 0)
        r = check_incompatible(h, names, name, error);
    if (r >= 0)
        r = parse_backing(buf, end, name, h, error);
    return r;
}

int vf_qcow2_parse_header(const uint8_t *buf, size_t len, uint64_t file_size, const char *name,
                          VfQcow2Header *h, GError **error)
{
    char *names[64] = {0};
    int r = parse_header(buf, len, file_size, name, h, names, error);
    for (unsigned i = 0; i < 64; i++)
        g_free(names[i]);
    if (r < 0)
        vf_qcow2_header_clear(h);
    return r;
}

void vf_qcow2_free(VfQcow2 *q)
{
    if (!q)
        return;
    if (q->own_fd && q->fd >= 0)
        close(q->fd);
    if (q->raw_fd >= 0)
        close(q->raw_fd);
    vf_qcow2_free(q->backing);
    for (unsigned i = 0; i < q->slots; i++)
        g_free(q->slot_l2[i]);
    for (unsigned i = 0; i < 64; i++)
        g_free(q->feature_names[i]);
    g_free(q->slot_l1);
    g_free(q->slot_l2);
    g_free(q->l1);
    g_free(q->z_in);
    g_free(q->z_out);
    g_free(q->raw_path);
    g_free(q->path);
    vf_qcow2_header_clear(&q->h);
    g_free(q);
}

static bool network_name(const char *b)
{
    static const char *const prefixes[] = {
        "json:", "nbd:",   "nbd+", "rbd:",  "iscsi:", "gluster", "sheepdog:", "ssh:",
        "http:", "https:", "ftp:", "ftps:", "vxhs:",  "nfs:",    NULL};
    for (const char *const *p = prefixes; *p; p++)
        if (g_str_has_prefix(b, *p))
            return true;
    return strstr(b, "://") != NULL;
}

static int open_chain(int fd, bool own_fd, const char *path, unsigned depth, VfQcow2 **out,
                      GError **error);

static int open_backing(VfQcow2 *q, unsigned depth, GError **error)
{
    const char *b = q->h.backing_file;
    if (network_name(b))
        return fail(error,
                    "%s: its backing file %s is on network storage: vmforge reads local "
                    "files only",
                    q->path, b);
    g_autofree char *dir = g_path_get_dirname(q->path);
    g_autofree char *path = g_path_is_absolute(b) ? g_strdup(b) : g_build_filename(dir, b, NULL);
    const char *fmt = q->h.backing_format;
    if (fmt && strcmp(fmt, "qcow2") != 0 && strcmp(fmt, "raw") != 0)
        return fail(error,
                    "%s: its backing file %s is %s: only qcow2 and raw backing files are "
                    "read",
                    q->path, path, fmt);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vf_set_errno(error, VF_ERROR_INPUT, errno, "%s: its backing file %s", q->path, path);
    struct stat st;
    if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
        close(fd);
        return fail(error, "%s: its backing file %s is not a regular file or block device", q->path,
                    path);
    }
    uint8_t magic[4] = {0};
    if (pread(fd, magic, 4, 0) < 0)
        memset(magic, 0, 4);
    bool is_qcow2 = fmt ? strcmp(fmt, "qcow2") == 0 : memcmp(magic, "QFI\xfb", 4) == 0;
    if (is_qcow2)
        return open_chain(fd, true, path, depth + 1, &q->backing, error);
    q->raw_fd = fd;
    q->raw_path = g_steal_pointer(&path);
    if (S_ISBLK(st.st_mode)) {
        uint64_t bytes = 0;
        if (ioctl(fd, BLKGETSIZE64, &bytes) < 0)
            return vf_set_errno(error, VF_ERROR_INPUT, errno, "sizing %s", q->raw_path);
        q->raw_size = bytes;
    } else {
        q->raw_size = (uint64_t)st.st_size;
    }
    return 0;
}

static int open_chain(int fd, bool own_fd, const char *path, unsigned depth, VfQcow2 **out,
                      GError **error)
{
    g_autoptr(VfQcow2) q = g_new0(VfQcow2, 1);
    q->fd = fd;
    q->own_fd = own_fd;
    q->raw_fd = -1;
    q->z_cluster = UINT64_MAX;
    q->path = g_strdup(path);
    if (depth >= VF_QCOW2_MAX_CHAIN)
        return fail(error, "%s: the backing chain is deeper than %u images (a loop?)", path,
                    VF_QCOW2_MAX_CHAIN);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return vf_set_errno(error, VF_ERROR_INPUT, errno, "%s", path);
    q->file_size = (uint64_t)st.st_size;
    if (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &q->file_size) < 0)
        return vf_set_errno(error, VF_ERROR_INPUT, errno, "sizing %s", path);
    size_t len = (size_t)MIN(q->file_size, (uint64_t)HEADER_READ);
    g_autofree uint8_t *buf = g_malloc(MAX(len, (size_t)1));
    int r = pread_zero(fd, path, buf, len, 0, error);
    if (r < 0)
        return r;
    r = parse_header(buf, len, q->file_size, path, &q->h, q->feature_names, error);
    if (r < 0)
        return r;
    q->cluster_size = 1ull << q->h.cluster_bits;
    q->l2_bits = q->h.cluster_bits - 3;
    q->l1 = g_new0(uint64_t, MAX(q->h.l1_size, 1u));
    if (q->h.l1_size) {
        r = pread_zero(fd, path, q->l1, (size_t)q->h.l1_size * 8, q->h.l1_offset, error);
        if (r < 0)
            return r;
        for (uint32_t i = 0; i < q->h.l1_size; i++)
            q->l1[i] = GUINT64_FROM_BE(q->l1[i]);
    }
    q->slots = (unsigned)MAX(1ull, MIN(256ull, VF_QCOW2_L2_CACHE_BYTES / q->cluster_size));
    q->slot_l1 = g_new(uint64_t, q->slots);
    q->slot_l2 = g_new0(uint64_t *, q->slots);
    for (unsigned i = 0; i < q->slots; i++)
        q->slot_l1[i] = UINT64_MAX;
    if (q->h.backing_file && (r = open_backing(q, depth, error)) < 0)
        return r;
    *out = g_steal_pointer(&q);
    return 0;
}

int vf_qcow2_open_fd(int fd, const char *path, VfQcow2 **out, GError **error)
{
    return open_chain(fd, false, path, 0, out, error);
}

int vf_qcow2_open(const char *path, VfQcow2 **out, GError **error)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vf_set_errno(error, VF_ERROR_INPUT, errno, "%s", path);
    return open_chain(fd, true, path, 0, out, error);
}

uint64_t vf_qcow2_size(const VfQcow2 *q)
{
    return q->h.size;
}

char *vf_qcow2_describe(const VfQcow2 *q)
{
    GString *s = g_string_new(NULL);
    for (const VfQcow2 *i = q; i; i = i->backing) {
        g_string_append_printf(s, "%s%s (qcow2 v%u)", s->len ? " -> " : "", i->path, i->h.version);
        if (i->raw_path)
            g_string_append_printf(s, " -> %s (raw)", i->raw_path);
    }
    return g_string_free(s, FALSE);
}

char **vf_qcow2_files(const VfQcow2 *q)
{
    GPtrArray *a = g_ptr_array_new();
    for (const VfQcow2 *i = q; i; i = i->backing) {
        g_ptr_array_add(a, g_strdup(i->path));
        if (i->raw_path)
            g_ptr_array_add(a, g_strdup(i->raw_path));
    }
    g_ptr_array_add(a, NULL);
    return (char **)g_ptr_array_free(a, FALSE);
}

/* The L2 entry of virtual cluster vc (0: unallocated). */
static int l2_entry(VfQcow2 *q, uint64_t vc, uint64_t *entry, GError **error)
{
    uint64_t l1i = vc >> q->l2_bits;
    *entry = 0;
    if (l1i >= q->h.l1_size)
        return 0;
    uint64_t l2off = q->l1[l1i] & L1E_OFFSET_MASK;
    if (!l2off)
        return 0;
    unsigned slot = (unsigned)(l1i % q->slots);
    if (q->slot_l1[slot] != l1i) {
        if (l2off % q->cluster_size || l2off >= q->file_size)
            return fail(error,
                        "%s: L2 table at offset %" G_GUINT64_FORMAT " is not inside the "
                        "file (image damaged)",
                        q->path, l2off);
        if (!q->slot_l2[slot])
            q->slot_l2[slot] = g_malloc(q->cluster_size);
        q->slot_l1[slot] = UINT64_MAX;
        int r = pread_zero(q->fd, q->path, q->slot_l2[slot], q->cluster_size, l2off, error);
        if (r < 0)
            return r;
        q->slot_l1[slot] = l1i;
    }
    *entry = GUINT64_FROM_BE(q->slot_l2[slot][vc & ((1ull << q->l2_bits) - 1)]);
    return 0;
}

static ClusterKind classify(const VfQcow2 *q, uint64_t entry)
{
    if (entry & L2E_COMPRESSED)
        return CL_COMPRESSED;
    if (q->h.version >= 3 && (entry & L2E_ZERO))
        return CL_ZERO;
    return (entry & L2E_OFFSET_MASK) ? CL_DATA : CL_UNALLOCATED;
}

/* ---- the map ------------------------------------------------------------------------------ */

static void add_extent(GArray *ext, uint64_t a, uint64_t b)
{
    if (a >= b)
        return;
    if (ext->len) {
        VfExtent *last = &g_array_index(ext, VfExtent, ext->len - 1);
        if (a <= last->offset + last->length || ext->len >= MAX_EXTENTS) {
            last->length = MAX(last->offset + last->length, b) - last->offset;
            return;
        }
    }
    VfExtent e = {a, b - a};
    g_array_append_val(ext, e);
}

static int raw_map(int fd, const char *path, uint64_t a, uint64_t b, GArray *ext, GError **error)
{
    uint64_t pos = a;
    while (pos < b) {
        off_t data = lseek(fd, (off_t)pos, SEEK_DATA);
        if (data < 0) {
            if (errno == ENXIO)
                return 0;
            if (errno == EINVAL) { /* no SEEK_DATA (or a block device): all data */
                add_extent(ext, pos, b);
                return 0;
            }
            return vf_set_errno(error, VF_ERROR_INPUT, errno, "mapping %s", path);
        }
        if ((uint64_t)data >= b)
            return 0;
        off_t hole = lseek(fd, data, SEEK_HOLE);
        if (hole < 0)
            return vf_set_errno(error, VF_ERROR_INPUT, errno, "mapping %s", path);
        uint64_t e = MIN((uint64_t)hole, b);
        add_extent(ext, (uint64_t)data, e);
        pos = e;
    }
    return 0;
}

static int map_range(VfQcow2 *q, uint64_t a, uint64_t b, GArray *ext, GError **error);

static int backing_map(VfQcow2 *q, uint64_t a, uint64_t b, GArray *ext, GError **error)
{
    if (q->backing)
        return map_range(q->backing, a, MIN(b, q->backing->h.size), ext, error);
    if (q->raw_fd >= 0)
        return raw_map(q->raw_fd, q->raw_path, a, MIN(b, q->raw_size), ext, error);
    return 0;
}

static int map_range(VfQcow2 *q, uint64_t a, uint64_t b, GArray *ext, GError **error)
{
    const unsigned cb = q->h.cluster_bits;
    uint64_t pos = a;
    uint64_t unalloc = UINT64_MAX; /* start of a run of unallocated clusters */
    while (pos < b) {
        uint64_t vc = pos >> cb;
        uint64_t l1i = vc >> q->l2_bits;
        uint64_t span = MIN(b, (l1i + 1) << (q->l2_bits + cb));
        if (l1i >= q->h.l1_size || !(q->l1[l1i] & L1E_OFFSET_MASK)) {
            if (unalloc == UINT64_MAX)
                unalloc = pos;
            pos = span;
            continue;
        }
        for (; pos < span; vc++) {
            uint64_t cend = MIN(span, (vc + 1) << cb);
            uint64_t entry;
            int r = l2_entry(q, vc, &entry, error);
            if (r < 0)
                return r;
            ClusterKind k = classify(q, entry);
            if (k == CL_UNALLOCATED) {
                if (unalloc == UINT64_MAX)
                    unalloc = pos;
            } else {
                if (unalloc != UINT64_MAX) {
                    if ((r = backing_map(q, unalloc, pos, ext, error)) < 0)
                        return r;
                    unalloc = UINT64_MAX;
                }
                if (k != CL_ZERO)
                    add_extent(ext, pos, cend);
            }
            pos = cend;
        }
    }
    if (unalloc != UINT64_MAX)
        return backing_map(q, unalloc, b, ext, error);
    return 0;
}

int vf_qcow2_map(VfQcow2 *q, GArray *extents, GError **error)
{
    return map_range(q, 0, q->h.size, extents, error);
}

/* ---- reading ------------------------------------------------------------------------------ */

static int inflate_cluster(VfQcow2 *q, uint64_t vc, uint64_t entry, GError **error)
{
    if (q->z_cluster == vc)
        return 0;
    const unsigned cb = q->h.cluster_bits;
    const unsigned shift = 62 - (cb - 8);
    uint64_t coff = entry & ((1ull << shift) - 1);
    uint64_t sectors = ((entry >> shift) & ((1ull << (cb - 8)) - 1)) + 1;
    uint64_t csize = sectors * 512 - (coff & 511);
    if (coff >= q->file_size)
        return fail(error,
                    "%s: compressed cluster at offset %" G_GUINT64_FORMAT " is not inside "
                    "the file (image damaged)",
                    q->path, coff);
    csize = MIN(csize, q->file_size - coff);
    if (!q->z_out) {
        q->z_out = g_malloc(q->cluster_size);
        q->z_in = g_malloc(2 * q->cluster_size + 512);
    }
    q->z_cluster = UINT64_MAX;
    int r = pread_zero(q->fd, q->path, q->z_in, (size_t)csize, coff, error);
    if (r < 0)
        return r;
    z_stream z = {0};
    if (inflateInit2(&z, -15) != Z_OK)
        return fail(error, "zlib cannot start inflating");
    z.next_in = q->z_in;
    z.avail_in = (uInt)csize;
    z.next_out = q->z_out;
    z.avail_out = (uInt)q->cluster_size;
    int zr = inflate(&z, Z_FINISH);
    bool ok = (zr == Z_STREAM_END || zr == Z_BUF_ERROR) && z.avail_out == 0;
    inflateEnd(&z);
    if (!ok)
        return fail(error,
                    "%s: compressed cluster at offset %" G_GUINT64_FORMAT " does not "
                    "inflate to a whole cluster (image damaged)",
                    q->path, coff);
    q->z_cluster = vc;
    return 0;
}

static int read_backing(VfQcow2 *q, uint8_t *buf, size_t len, uint64_t off, GError **error)
{
    uint64_t have = q->backing ? q->backing->h.size : q->raw_fd >= 0 ? q->raw_size : 0;
    size_t in = off >= have ? 0 : (size_t)MIN((uint64_t)len, have - off);
    if (in) {
        int r = q->backing ? vf_qcow2_pread(q->backing, buf, in, off, error)
                           : pread_zero(q->raw_fd, q->raw_path, buf, in, off, error);
        if (r < 0)
            return r;
    }
    memset(buf + in, 0, len - in);
    return 0;
}

int vf_qcow2_pread(VfQcow2 *q, void *out, size_t len, uint64_t offset, GError **error)
{
    uint8_t *buf = out;
    const uint64_t cs = q->cluster_size;
    while (len > 0) {
        if (offset >= q->h.size) {
            memset(buf, 0, len);
            return 0;
        }
        uint64_t vc = offset >> q->h.cluster_bits;
        uint64_t in_cl = offset & (cs - 1);
        size_t n = (size_t)MIN((uint64_t)len, MIN(cs - in_cl, q->h.size - offset));
        uint64_t entry;
        int r = l2_entry(q, vc, &entry, error);
        if (r < 0)
            return r;
        switch (classify(q, entry)) {
        case CL_ZERO:
            memset(buf, 0, n);
            break;
        case CL_DATA: {
            uint64_t host = entry & L2E_OFFSET_MASK;
            if (host % cs)
                return fail(error,
                            "%s: data cluster at offset %" G_GUINT64_FORMAT " is not "
                            "aligned (image damaged)",
                            q->path, host);
            r = pread_zero(q->fd, q->path, buf, n, host + in_cl, error);
            break;
        }
        case CL_COMPRESSED:
            r = inflate_cluster(q, vc, entry, error);
            if (r == 0)
                memcpy(buf, q->z_out + in_cl, n);
            break;
        case CL_UNALLOCATED:
            r = read_backing(q, buf, n, offset, error);
            break;
        }
        if (r < 0)
            return r;
        buf += n;
        len -= n;
        offset += n;
    }
    return 0;
}
