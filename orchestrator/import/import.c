/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "import.h"

#include "formats/qcow2-read.h"
#include "formats/source.h"
#include "util/exit-codes.h"
#include "util/signals.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

G_DEFINE_QUARK(vmf - stage - import - error - quark, vmf_stage_import_error)

/* Data is copied in pieces of this size; an all-zero piece stays a hole. */
#define IMPORT_CHUNK (4u << 20)

#define import_error(error, code, ...)                                                             \
    g_set_error((error), vmf_stage_import_error_quark(), (code), __VA_ARGS__)

void vmf_import_source_clear(VmfImportSource *s)
{
    g_strfreev(s->files);
    g_strfreev(s->digests);
    vf_source_free(s->image);
    memset(s, 0, sizeof(*s));
}

void vmf_import_result_clear(VmfImportResult *r)
{
    g_free(r->disk);
    g_free(r->grown_fs);
    memset(r, 0, sizeof(*r));
}

int vmf_import_open(const VmfRecipe *r, VfSource **src, GError **error)
{
    g_autoptr(GError) err = NULL;
    bool raw = r->base_format && !strcmp(r->base_format, "raw");
    if (vf_source_open(r->base_image, raw ? VF_SOURCE_ASSUME_RAW : 0, src, &err) < 0) {
        import_error(error, VMF_EXIT_INPUT, "%s:%u: base image: %s", r->path, r->base_line,
                     err->message);
        return VMF_EXIT_INPUT;
    }
    if (r->base_format && strcmp(r->base_format, (*src)->format) != 0) {
        import_error(error, VMF_EXIT_INPUT,
                     "%s:%u: base image %s is %s, the recipe says format: %s", r->path,
                     r->base_line, r->base_image, (*src)->format, r->base_format);
        return VMF_EXIT_INPUT;
    }
    return 0;
}

/* The files the image is made of, each with its digest. */
static int digest_files(const VmfRecipe *r, const VfSource *img, VmfFingerprint *fp,
                        VmfImportSource *src, GError **error)
{
    if (img->qcow2) {
        src->files = vf_qcow2_files(img->qcow2);
    } else {
        src->files = g_new0(char *, 2);
        src->files[0] = g_strdup(img->path);
    }
    guint n = g_strv_length(src->files);
    src->digests = g_new0(char *, n + 1);
    for (guint i = 0; i < n; i++) {
        src->digests[i] = fp->file_digest(fp->data, src->files[i], error);
        if (!src->digests[i])
            return error && *error ? (*error)->code : VMF_EXIT_INPUT;
    }
    if (r->base_sha256 && strcmp(r->base_sha256, src->digests[0]) != 0) {
        import_error(error, VMF_EXIT_INPUT,
                     "%s:%u: base image %s has SHA-256 %s, the recipe says %s (a different "
                     "image, or a download that went wrong)",
                     r->path, r->base_sha256_line, r->base_image, src->digests[0],
                     r->base_sha256);
        return VMF_EXIT_INPUT;
    }
    return 0;
}

int vmf_import_fingerprint(const VmfRecipe *r, VmfFingerprint *fp, VmfImportSource *src,
                           GError **error)
{
    int rc = vmf_import_open(r, &src->image, error);
    if (rc)
        return rc;
    const VfSource *img = src->image;
    src->disk_size = r->base_size ? r->base_size : img->size;
    if (src->disk_size < img->size) {
        g_autofree char *want = vf_format_size(r->base_size);
        g_autofree char *have = vf_format_size(img->size);
        import_error(error, VMF_EXIT_INPUT,
                     "%s:%u: base size %s is smaller than the image (%s): vmforge grows a disk, "
                     "it never shrinks one",
                     r->path, r->base_size_line, want, have);
        return VMF_EXIT_INPUT;
    }
    rc = digest_files(r, img, fp, src, error);
    if (rc)
        return rc;
    vmf_fp_add(fp, "base-format", img->format);
    for (char **d = src->digests; *d; d++)
        vmf_fp_add(fp, "base-file", *d);
    vmf_fp_add_u64(fp, "base-size", src->disk_size);
    return 0;
}

/* Copies one extent of the image into the raw disk; zero pieces stay holes. */
static int copy_extent(VfSource *img, int fd, const VfExtent *e, uint8_t *buf, uint64_t *done,
                       VmfImportResult *res, VmfProgress *bar, GError **error)
{
    for (uint64_t off = e->offset; off < e->offset + e->length && !vmf_interrupted;) {
        size_t n = (size_t)MIN((uint64_t)IMPORT_CHUNK, e->offset + e->length - off);
        if (vf_source_pread(img, buf, n, off, error) < 0)
            return VMF_EXIT_INPUT;
        if (!vf_is_zero(buf, n)) {
            for (size_t w = 0; w < n;) {
                ssize_t k = pwrite(fd, buf + w, n - w, (off_t)(off + w));
                if (k < 0 && errno == EINTR)
                    continue;
                if (k <= 0) {
                    import_error(error, VMF_EXIT_OUTPUT, "writing %s: %s", res->disk,
                                 g_strerror(k < 0 ? errno : ENOSPC));
                    return VMF_EXIT_OUTPUT;
                }
                w += (size_t)k;
            }
            res->data_bytes += n;
        }
        off += n;
        *done += n;
        vmf_progress_update(bar, *done, img->data_bytes, NULL);
    }
    return 0;
}

/* The image's data (as opened for the key) into a new sparse raw file of
 * the disk's size. */
static int copy_image(const VmfImportSource *src, const VmfImportOptions *o, VmfImportResult *res,
                      GError **error)
{
    VfSource *img = src->image;
    int rc = 0;
    int fd = open(res->disk, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || ftruncate(fd, (off_t)src->disk_size) < 0) {
        import_error(error, VMF_EXIT_OUTPUT, "%s: %s", res->disk, g_strerror(errno));
        if (fd >= 0)
            close(fd);
        return VMF_EXIT_OUTPUT;
    }
    g_autoptr(VmfProgress) bar = vmf_progress_new("import", o->progress);
    g_autofree uint8_t *buf = g_malloc(IMPORT_CHUNK);
    uint64_t done = 0;
    for (guint i = 0; !rc && i < img->extents->len && !vmf_interrupted; i++)
        rc = copy_extent(img, fd, &g_array_index(img->extents, VfExtent, i), buf, &done, res, bar,
                         error);
    if (!rc && !vmf_interrupted && fsync(fd) < 0) {
        import_error(error, VMF_EXIT_OUTPUT, "%s: %s", res->disk, g_strerror(errno));
        rc = VMF_EXIT_OUTPUT;
    }
    close(fd);
    vmf_progress_end(bar, NULL);
    return rc;
}

int vmf_stage_import(const VmfRecipe *r, const VmfImportSource *src, const VmfImportOptions *o,
                     VmfImportResult *res, GError **error)
{
    gint64 t0 = g_get_monotonic_time();
    res->disk = g_strdup_printf("%s/%s.raw", o->workdir, r->name);
    int rc = copy_image(src, o, res, error);
    if (!rc && vmf_interrupted)
        rc = vmf_signals_exit_code();
    if (!rc && src->disk_size > src->image->size) {
        rc = vmf_import_grow(res->disk, o->accel, &res->grown_partition, &res->grown_fs, error);
        if (rc)
            g_prefix_error(error, "%s:%u: growing the disk to base size: ", r->path,
                           r->base_size_line);
    }
    if (!rc && vmf_interrupted)
        rc = vmf_signals_exit_code();
    if (rc)
        g_unlink(res->disk);
    res->seconds = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    return rc;
}
