/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sink.c — atomic, hashed output files. See sink.h. */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* Appends smaller than this are gathered before the write(2). */
#define SINK_BUFFER_SIZE (256u * 1024u)
/* Read-back chunk for the digest of patched files. */
#define SINK_REHASH_CHUNK (4u * 1024u * 1024u)

static const uint8_t zero_block[64 * 1024];

struct VfSink {
    char *final_path;
    char *dir;
    char *temp_path; /* NULL when the file is unnamed (O_TMPFILE) */
    int fd;
    unsigned flags;
    uint64_t offset;   /* logical append position */
    uint64_t file_pos; /* where the fd's data ends (buffer flushed up to here) */
    uint8_t *buf;
    size_t buf_len;
    bool patched;
    bool prepared;
    bool committed;
    EVP_MD_CTX *md;
    const volatile int *cancel;
    VfSink *parent; /* set for views */
    VfSink *tee;    /* views: a second file receiving the same bytes */
    uint64_t base;  /* parent offset where the view starts */
    char sha256[2 * EVP_MAX_MD_SIZE + 1];
};

void vf_hex_encode(const void *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *b = bytes;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* out: room for 2 * EVP_MAX_MD_SIZE + 1 characters. */
static void digest_hex(EVP_MD_CTX *md, char *out)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(md, d, &len);
    vf_hex_encode(d, len, out);
}

size_t vf_digest_hex_len(const char *algorithm)
{
    const EVP_MD *md = EVP_get_digestbyname(algorithm);
    return md ? 2 * (size_t)EVP_MD_get_size(md) : 0;
}

char *vf_digest_hex(const char *algorithm, const void *data, size_t len)
{
    const EVP_MD *md = EVP_get_digestbyname(algorithm);
    if (!md)
        return NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    char *hex = g_malloc(2 * EVP_MAX_MD_SIZE + 1);
    EVP_DigestInit_ex(ctx, md, NULL);
    EVP_DigestUpdate(ctx, data, len);
    digest_hex(ctx, hex);
    EVP_MD_CTX_free(ctx);
    return hex;
}

G_DEFINE_QUARK(vf - error - quark, vf_error)

int vf_set_errno(GError **error, VfErrorCode code, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, VF_ERROR, code, "%s: %s", msg, g_strerror(errnum));
    return -errnum;
}

static int output_error(VfSink *s, int errnum, const char *what, GError **error)
{
    if (errnum == ENOSPC || errnum == EDQUOT) {
        g_autofree char *written = vf_format_size(s->offset);
        return vf_set_errno(error, VF_ERROR_OUTPUT, errnum,
                            "%s %s (after %s; free some space in %s or choose another "
                            "directory with -o)",
                            what, s->final_path, written, s->dir);
    }
    return vf_set_errno(error, VF_ERROR_OUTPUT, errnum, "%s %s", what, s->final_path);
}

static int open_temp(VfSink *s, GError **error)
{
    /* VMFORGE_NAMED_TEMP=1 takes the fallback path below even where
     * O_TMPFILE works, so the tests exercise what NFS users get. */
    int err = EOPNOTSUPP;
    if (!g_getenv("VMFORGE_NAMED_TEMP")) {
        s->fd = open(s->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
        if (s->fd >= 0)
            return 0;
        err = errno;
    }
    if (err != EOPNOTSUPP && err != EISDIR && err != EINVAL && err != ENOENT)
        return vf_set_errno(error, VF_ERROR_OUTPUT, err, "cannot create a file in %s", s->dir);
    /* No O_TMPFILE here (NFS, old kernels): a hidden name in the same
     * directory, renamed at commit and unlinked on abort. */
    g_autofree char *base = g_path_get_basename(s->final_path);
    s->temp_path = g_strdup_printf("%s/.%s.vmforge-XXXXXX", s->dir, base);
    s->fd = g_mkstemp_full(s->temp_path, O_RDWR | O_CLOEXEC, 0644);
    if (s->fd < 0) {
        err = errno;
        g_clear_pointer(&s->temp_path, g_free);
        return vf_set_errno(error, VF_ERROR_OUTPUT, err, "cannot create a file in %s", s->dir);
    }
    return 0;
}

int vf_sink_open(const char *final_path, unsigned flags, VfSink **out, GError **error)
{
    g_autoptr(VfSink) s = g_new0(VfSink, 1);
    s->fd = -1;
    s->flags = flags;
    s->final_path = g_strdup(final_path);
    s->dir = g_path_get_dirname(final_path);

    struct stat st;
    if (!(flags & VF_SINK_FORCE) && lstat(final_path, &st) == 0) {
        g_set_error(error, VF_ERROR, VF_ERROR_OUTPUT,
                    "%s already exists (use --force to replace it)", final_path);
        return -EEXIST;
    }
    if (stat(s->dir, &st) < 0)
        return vf_set_errno(error, VF_ERROR_OUTPUT, errno, "output directory %s", s->dir);
    if (!S_ISDIR(st.st_mode)) {
        g_set_error(error, VF_ERROR, VF_ERROR_OUTPUT, "output directory %s is not a directory",
                    s->dir);
        return -ENOTDIR;
    }
    int r = open_temp(s, error);
    if (r < 0)
        return r;
    s->buf = g_malloc(SINK_BUFFER_SIZE);
    s->md = EVP_MD_CTX_new();
    if (!s->md || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1) {
        g_set_error(error, VF_ERROR, VF_ERROR_INTERNAL, "cannot initialise SHA-256");
        return -ENOMEM;
    }
    *out = g_steal_pointer(&s);
    return 0;
}

static int write_all(VfSink *s, const void *buf, size_t len, GError **error)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(s->fd, p, len, (off_t)s->file_pos);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return output_error(s, errno, "writing", error);
        }
        if (!s->patched)
            EVP_DigestUpdate(s->md, p, (size_t)n);
        p += n;
        len -= (size_t)n;
        s->file_pos += (uint64_t)n;
    }
    return 0;
}

static int flush(VfSink *s, GError **error)
{
    if (s->buf_len == 0)
        return 0;
    int r = write_all(s, s->buf, s->buf_len, error);
    s->buf_len = 0;
    return r;
}

int vf_sink_write(VfSink *s, const void *buf, size_t len, GError **error)
{
    if (s->parent) {
        EVP_DigestUpdate(s->md, buf, len);
        if (s->tee) {
            int r = vf_sink_write(s->tee, buf, len, error);
            if (r < 0)
                return r;
        }
        return vf_sink_write(s->parent, buf, len, error);
    }
    if (s->buf_len + len > SINK_BUFFER_SIZE) {
        int r = flush(s, error);
        if (r < 0)
            return r;
    }
    s->offset += len;
    if (len >= SINK_BUFFER_SIZE)
        return write_all(s, buf, len, error);
    memcpy(s->buf + s->buf_len, buf, len);
    s->buf_len += len;
    return 0;
}

int vf_sink_write_zeros(VfSink *s, uint64_t len, GError **error)
{
    if (len == 0)
        return 0;
    if (s->parent) {
        for (uint64_t left = len; left > 0;) {
            size_t n = left < sizeof zero_block ? (size_t)left : sizeof zero_block;
            EVP_DigestUpdate(s->md, zero_block, n);
            left -= n;
        }
        if (s->tee) {
            int r = vf_sink_write_zeros(s->tee, len, error);
            if (r < 0)
                return r;
        }
        return vf_sink_write_zeros(s->parent, len, error);
    }
    /* Short runs go through the buffer; long ones become a hole. */
    if (len <= 4096) {
        return vf_sink_write(s, zero_block, (size_t)len, error);
    }
    int r = flush(s, error);
    if (r < 0)
        return r;
    if (!s->patched) {
        /* The digest covers the zeros the hole stands for. */
        for (uint64_t left = len; left > 0;) {
            size_t n = left < sizeof zero_block ? (size_t)left : sizeof zero_block;
            EVP_DigestUpdate(s->md, zero_block, n);
            left -= n;
        }
    }
    s->offset += len;
    s->file_pos += len;
    return 0;
}

int vf_sink_align(VfSink *s, uint64_t align, GError **error)
{
    uint64_t off = vf_sink_offset(s);
    uint64_t pad = VF_ROUND_UP(off, align) - off;
    return vf_sink_write_zeros(s, pad, error);
}

void vf_sink_set_cancel(VfSink *s, const volatile int *cancel)
{
    s->cancel = cancel;
}

void vf_sink_will_patch(VfSink *s)
{
    s->patched = true;
}

int vf_sink_pwrite(VfSink *s, uint64_t offset, const void *buf, size_t len, GError **error)
{
    if (s->parent) {
        g_set_error(error, VF_ERROR, VF_ERROR_INTERNAL,
                    "a format that patches its header cannot be streamed into an archive");
        return -ENOTSUP;
    }
    g_return_val_if_fail(offset + len <= s->offset, -EINVAL);
    s->patched = true;
    int r = flush(s, error);
    if (r < 0)
        return r;
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(s->fd, p, len, (off_t)offset);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return output_error(s, errno, "writing", error);
        }
        p += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

uint64_t vf_sink_offset(const VfSink *s)
{
    return s->parent ? vf_sink_offset(s->parent) - s->base : s->offset;
}

VfSink *vf_sink_new_view(VfSink *parent, const char *algorithm)
{
    const EVP_MD *alg = EVP_get_digestbyname(algorithm);
    VfSink *v = g_new0(VfSink, 1);
    v->fd = -1;
    v->parent = parent;
    v->base = vf_sink_offset(parent);
    v->final_path = g_strdup(parent->final_path);
    v->dir = g_strdup(parent->dir);
    v->md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(v->md, alg ? alg : EVP_sha256(), NULL);
    return v;
}

void vf_sink_view_tee(VfSink *view, VfSink *tee)
{
    view->tee = tee;
}

void vf_sink_view_finish(VfSink *v, char *hex, uint64_t *length)
{
    digest_hex(v->md, hex);
    *length = vf_sink_offset(v);
}

static int rehash(VfSink *s, GError **error)
{
    if (EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1) {
        g_set_error(error, VF_ERROR, VF_ERROR_INTERNAL, "cannot initialise SHA-256");
        return -ENOMEM;
    }
    g_autofree uint8_t *chunk = g_malloc(SINK_REHASH_CHUNK);
    (void)posix_fadvise(s->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    for (uint64_t pos = 0; pos < s->offset;) {
        if (s->cancel && *s->cancel) {
            g_set_error(error, VF_ERROR, VF_ERROR_CANCELLED, "interrupted");
            return -ECANCELED;
        }
        size_t want = MIN((uint64_t)SINK_REHASH_CHUNK, s->offset - pos);
        ssize_t n = pread(s->fd, chunk, want, (off_t)pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return output_error(s, errno, "reading back", error);
        if (n == 0) {
            g_set_error(error, VF_ERROR, VF_ERROR_OUTPUT, "%s was truncated while being written",
                        s->final_path);
            return -EIO;
        }
        EVP_DigestUpdate(s->md, chunk, (size_t)n);
        pos += (uint64_t)n;
    }
    return 0;
}

int vf_sink_prepare(VfSink *s, GError **error)
{
    int r = flush(s, error);
    if (r < 0)
        return r;
    /* A trailing hole needs the length set explicitly. */
    if (ftruncate(s->fd, (off_t)s->offset) < 0)
        return output_error(s, errno, "setting the size of", error);
    if (!(s->flags & VF_SINK_NO_SYNC) && fdatasync(s->fd) < 0)
        return output_error(s, errno, "flushing", error);
    if (s->patched) {
        r = rehash(s, error);
        if (r < 0)
            return r;
    }
    digest_hex(s->md, s->sha256);
    s->prepared = true;
    return 0;
}

static int link_unnamed(VfSink *s, const char *path)
{
    g_autofree char *proc = g_strdup_printf("/proc/self/fd/%d", s->fd);
    if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
        return 0;
    int err = errno;
    if (err != ENOENT)
        return -err;
    /* /proc not mounted: AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH. */
    if (linkat(s->fd, "", AT_FDCWD, path, AT_EMPTY_PATH) == 0)
        return 0;
    return -errno;
}

int vf_sink_commit(VfSink *s, GError **error)
{
    g_return_val_if_fail(s->prepared, -EINVAL);
    int r;
    if (!s->temp_path) {
        if (!(s->flags & VF_SINK_FORCE)) {
            r = link_unnamed(s, s->final_path);
        } else {
            /* Link under a hidden name, then rename over the old file so it
             * is replaced in one step. */
            g_autofree char *base = g_path_get_basename(s->final_path);
            g_autofree char *tmp =
                g_strdup_printf("%s/.%s.vmforge-%d", s->dir, base, (int)getpid());
            (void)unlink(tmp);
            r = link_unnamed(s, tmp);
            if (r == 0 && rename(tmp, s->final_path) < 0) {
                r = -errno;
                (void)unlink(tmp);
            }
        }
    } else {
        unsigned rflags = (s->flags & VF_SINK_FORCE) ? 0 : RENAME_NOREPLACE;
        r = renameat2(AT_FDCWD, s->temp_path, AT_FDCWD, s->final_path, rflags) == 0 ? 0 : -errno;
        if (r == -EINVAL && rflags) {
            /* File system without RENAME_NOREPLACE: link() refuses to
             * replace, which is what we want. */
            r = link(s->temp_path, s->final_path) == 0 ? 0 : -errno;
            if (r == 0)
                (void)unlink(s->temp_path);
        }
        if (r == 0)
            g_clear_pointer(&s->temp_path, g_free);
    }
    if (r < 0) {
        if (r == -EEXIST) {
            g_set_error(error, VF_ERROR, VF_ERROR_OUTPUT,
                        "%s appeared while converting; not replaced (use --force)", s->final_path);
            return r;
        }
        return vf_set_errno(error, VF_ERROR_OUTPUT, -r, "cannot create %s", s->final_path);
    }
    s->committed = true;
    if (!(s->flags & VF_SINK_NO_SYNC)) {
        int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    }
    return 0;
}

void vf_sink_free(VfSink *s)
{
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    if (!s->committed && s->temp_path)
        (void)unlink(s->temp_path);
    if (s->md)
        EVP_MD_CTX_free(s->md);
    g_free(s->buf);
    g_free(s->temp_path);
    g_free(s->final_path);
    g_free(s->dir);
    g_free(s);
}

const char *vf_sink_path(const VfSink *s)
{
    return s->final_path;
}

const char *vf_sink_sha256(const VfSink *s)
{
    return s->sha256;
}

uint64_t vf_sink_size(const VfSink *s)
{
    return s->offset;
}
