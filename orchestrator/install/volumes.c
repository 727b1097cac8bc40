/* SPDX-License-Identifier: GPL-2.0-or-later */
/* volumes.c — the installer's volumes (job.h). */
#include "job.h"

#include "disk.h"
#include "formats/vf.h"
#include "media.h"
#include "util/exit-codes.h"
#include "util/signals.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Initrd files are padded to 4 bytes before the appended archive. */
#define CPIO_ALIGN 4
/* Room kept free in a host's pool beyond what is uploaded. */
#define POOL_SLACK (16ull << 20)
/* Pieces of a cached ISO volume compared with the local file before use. */
#define MEDIA_SAMPLES     8
#define MEDIA_SAMPLE_SIZE (64u << 10)

/* ---- the pool ------------------------------------------------------------------ */

/* The host's pool has room for what is uploaded (`need`); a warning when it
 * may not hold the disk while the installer writes it. */
static int check_room(Install *in, uint64_t need)
{
    GError **error = in->error;
    uint64_t cap = 0, avail = 0;
    if (vmf_pool_space(in->pool, &cap, &avail, error) < 0)
        return VMF_EXIT_FAILURE;
    g_autofree char *a = vf_format_size(avail);
    g_autofree char *n = vf_format_size(need + POOL_SLACK);
    g_autofree char *d = vf_format_size(in->r->disk_size);
    if (avail < need + POOL_SLACK)
        FAIL(VMF_EXIT_OUTPUT,
             "storage pool %s on %s has %s free; the upload alone needs %s (the disk may "
             "need up to %s more): free space there, or use another pool (--pool, --remote-dir)",
             vmf_pool_name(in->pool), vmf_virt_host(in->v), a, n, d);
    if (avail < need + in->r->disk_size)
        vmf_progress_say(in->o->progress, "install",
                         "warning: storage pool %s on %s has %s free and the disk is %s; the "
                         "install fails if the guest writes more than that",
                         vmf_pool_name(in->pool), vmf_virt_host(in->v), a, d);
    return 0;
}

/* The cached ISO volume's name, vmforge-media-SHA256.iso (in->media_vol),
 * when the ISO is uploaded. */
static int media_volume(Install *in)
{
    const char *iso = in->plan->media ? in->plan->media->iso : NULL;
    if (!iso || in->r->iso_volume)
        return 0;
    g_autofree char *digest =
        in->o->media_digest ? g_strdup(in->o->media_digest) : vmf_file_sha256(iso, in->error);
    if (!digest)
        return VMF_EXIT_INPUT;
    in->media_vol = g_strdup_printf("vmforge-media-%s.iso", digest);
    return 0;
}

int install_open_pool(Install *in)
{
    GError **error = in->error;
    const VmfInstallOptions *o = in->o;
    if (!in->host) {
        vmf_run_add(in->run, VMF_RUN_LOCAL_POOL, NULL, in->poolname);
        in->pool = vmf_pool_local(in->v, in->poolname, in->workdir, error);
        return in->pool ? 0 : VMF_EXIT_FAILURE;
    }
    in->pool = vmf_pool_for_run(in->v, o->pool, o->remote_dir, in->poolname, in->run, error);
    if (!in->pool)
        return VMF_EXIT_INPUT;
    int rc = media_volume(in);
    if (rc)
        return rc;
    uint64_t need = 0, size = 0;
    g_autofree char *there =
        in->media_vol ? vmf_vol_find(in->pool, in->media_vol, &size, NULL) : NULL;
    struct stat sb;
    if (in->media_vol && !there && stat(in->plan->media->iso, &sb) == 0)
        need = (uint64_t)sb.st_size;
    return check_room(in, need);
}

/* ---- boot files and the OEMDRV medium, uploaded from memory ---------------------- */

/* One boot file going into a volume: its bytes, then (for the initrd) zero
 * padding to 4 bytes and the kickstart archive. */
typedef struct {
    Install *in;
    char *vol;
    GBytes *append; /* or NULL */
    uint64_t pad;
    VmfUpload *up;
    GError **error;
} BootFile;

static int boot_file_size(guint64 size, void *opaque)
{
    BootFile *b = opaque;
    uint64_t extra = 0;
    if (b->append) {
        b->pad = (CPIO_ALIGN - size % CPIO_ALIGN) % CPIO_ALIGN;
        extra = b->pad + g_bytes_get_size(b->append);
    }
    b->up = vmf_upload_begin(b->in->pool, b->vol, size + extra, b->error);
    return b->up ? 0 : -EIO;
}

static int boot_file_data(const void *buf, size_t len, void *opaque)
{
    BootFile *b = opaque;
    return vmf_upload_write(b->up, buf, len, b->error);
}

/* Ends the upload (appending the archive) and returns the volume's path. */
static char *boot_file_finish(BootFile *b)
{
    static const char zeros[CPIO_ALIGN] = {0};
    if (b->append && (vmf_upload_write(b->up, zeros, b->pad, b->error) < 0 ||
                      vmf_upload_write(b->up, g_bytes_get_data(b->append, NULL),
                                       g_bytes_get_size(b->append), b->error) < 0)) {
        vmf_upload_abort(b->up);
        return NULL;
    }
    return vmf_upload_finish(b->up, b->error);
}

/* A boot file from this machine (the recipe's kernel: and initrd:) or the
 * ISO, into the volume PREFIX + `name`. */
static int stage_boot_file(Install *in, const char *name, GBytes *append, const char *local,
                           const char *member, char **out)
{
    GError **error = in->error;
    g_autofree char *vol = g_strconcat(in->prefix, name, NULL);
    BootFile b = {.in = in, .vol = vol, .append = append, .error = error};
    if (in->host)
        vmf_run_add(in->run, VMF_RUN_VOLUME, vmf_pool_name(in->pool), vol);
    if (local) {
        g_autoptr(GMappedFile) mf = g_mapped_file_new(local, FALSE, error);
        if (!mf)
            return VMF_EXIT_INPUT;
        size_t len = g_mapped_file_get_length(mf);
        if (len > VMF_MEDIA_MAX_BOOT_FILE)
            FAIL(VMF_EXIT_INPUT, "%s: larger than 1 GiB; not a kernel or initrd", local);
        if (boot_file_size(len, &b) < 0)
            return VMF_EXIT_FAILURE;
        if (boot_file_data(g_mapped_file_get_contents(mf), len, &b) < 0) {
            vmf_upload_abort(b.up);
            return VMF_EXIT_FAILURE;
        }
    } else if (vmf_media_extract(in->plan->media->iso, member, boot_file_size, boot_file_data, &b,
                                 error) < 0) {
        vmf_upload_abort(b.up);
        return b.up ? VMF_EXIT_FAILURE : VMF_EXIT_INPUT;
    }
    *out = boot_file_finish(&b);
    return *out ? 0 : VMF_EXIT_FAILURE;
}

/* The OEMDRV volume: an ISO 9660 image labelled OEMDRV holding ks.cfg. */
static int stage_oemdrv(Install *in)
{
    GError **error = in->error;
    g_autoptr(GBytes) iso = vmf_inject_oemdrv("ks.cfg", in->ks_bytes, error);
    g_autofree char *vol = g_strconcat(in->prefix, "oemdrv.iso", NULL);
    if (in->host)
        vmf_run_add(in->run, VMF_RUN_VOLUME, vmf_pool_name(in->pool), vol);
    VmfUpload *u = NULL;
    if (!iso || !(u = vmf_upload_begin(in->pool, vol, g_bytes_get_size(iso), error)))
        return VMF_EXIT_FAILURE;
    if (vmf_upload_write(u, g_bytes_get_data(iso, NULL), g_bytes_get_size(iso), error) < 0) {
        vmf_upload_abort(u);
        return VMF_EXIT_FAILURE;
    }
    in->oemdrv = vmf_upload_finish(u, error);
    return in->oemdrv ? 0 : VMF_EXIT_FAILURE;
}

/* The kernel, the initrd (with the kickstart appended for initrd injection)
 * and the OEMDRV medium. */
static int stage_boot_files(Install *in)
{
    GError **error = in->error;
    const VmfRecipe *r = in->r;
    const VmfMedia *m = in->plan->media;
    vmf_progress_status(in->prog, -1, "staging the installer's kernel and initrd");
    g_autoptr(GBytes) cpio = NULL;
    if (r->inject == VMF_INJECT_INITRD && !(cpio = vmf_inject_cpio("ks.cfg", in->ks_bytes, error)))
        return VMF_EXIT_FAILURE;
    int rc = stage_boot_file(in, "vmlinuz", NULL, r->kernel, m ? m->kernel : NULL, &in->kernel);
    if (!rc)
        rc = stage_boot_file(in, "initrd.img", cpio, r->initrd, m ? m->initrd : NULL, &in->initrd);
    if (!rc && r->inject == VMF_INJECT_OEMDRV)
        rc = stage_oemdrv(in);
    return rc;
}

/* ---- the disk -------------------------------------------------------------------- */

/* A sparse upload of a local file, its bytes, throughput and ETA shown. */
static char *upload_file(Install *in, const char *vol, const char *path, const char *what)
{
    g_autofree char *label = g_strdup_printf("upload %s", what);
    g_autoptr(VmfProgress) bar = vmf_progress_new(label, in->o->progress);
    VmfTransfer t = {.progress = vmf_transfer_progress, .data = bar, .cancel = &vmf_interrupted};
    char *out = vmf_vol_upload_file(in->pool, vol, path, &t, in->error);
    g_autofree char *sent = vf_format_size(t.bytes);
    g_autofree char *summary = g_strdup_printf("%s sent", sent);
    vmf_progress_end(bar, out ? summary : NULL);
    return out;
}

/* The raw disk with vmforge's MBR: made in place in vmforge's own pool, or
 * made here and uploaded (only its partition table travels). */
static int stage_disk(Install *in)
{
    GError **error = in->error;
    const VmfRecipe *r = in->r;
    vmf_progress_status(in->prog, -1, "creating the disk");
    g_autofree char *seed = g_strdup_printf("%s\n%s", r->name, r->version ? r->version : "");
    if (!in->host) {
        if (!(in->disk = vmf_vol_create(in->pool, in->disk_vol, r->disk_size, error)))
            return VMF_EXIT_FAILURE;
        return vmf_disk_partition(in->disk, r, seed, error) < 0 ? VMF_EXIT_OUTPUT : 0;
    }
    g_autofree char *local = g_build_filename(in->workdir, "disk.raw", NULL);
    int fd = open(local, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || ftruncate(fd, (off_t)r->disk_size) < 0 || close(fd) < 0)
        FAIL(VMF_EXIT_OUTPUT, "%s: %s", local, g_strerror(errno));
    if (vmf_disk_partition(local, r, seed, error) < 0)
        return VMF_EXIT_OUTPUT;
    vmf_run_add(in->run, VMF_RUN_VOLUME, vmf_pool_name(in->pool), in->disk_vol);
    in->disk = upload_file(in, in->disk_vol, local, "disk");
    g_unlink(local);
    return in->disk ? 0 : VMF_EXIT_FAILURE;
}

/* ---- the installer ISO on the host ------------------------------------------------ */

/* A cached ISO volume holds this ISO: same size, same bytes at a few places
 * spread over it (an upload cut short shows). */
static bool media_matches(Install *in, const char *vol, uint64_t vol_size)
{
    const char *iso = in->plan->media->iso;
    struct stat sb;
    if (stat(iso, &sb) < 0 || (uint64_t)sb.st_size != vol_size || vol_size < MEDIA_SAMPLE_SIZE)
        return false;
    int fd = open(iso, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    g_autofree uint8_t *mine = g_malloc(MEDIA_SAMPLE_SIZE), *theirs = g_malloc(MEDIA_SAMPLE_SIZE);
    bool same = true;
    for (unsigned i = 0; i < MEDIA_SAMPLES && same; i++) {
        uint64_t off = (vol_size - MEDIA_SAMPLE_SIZE) / (MEDIA_SAMPLES - 1) * i;
        same = pread(fd, mine, MEDIA_SAMPLE_SIZE, (off_t)off) == MEDIA_SAMPLE_SIZE &&
               vmf_vol_read(in->pool, vol, off, theirs, MEDIA_SAMPLE_SIZE, NULL) == 0 &&
               memcmp(mine, theirs, MEDIA_SAMPLE_SIZE) == 0;
    }
    close(fd);
    return same;
}

/* The recipe's `installer: volume: POOL/NAME`, already on the host. */
static int stage_named_media(Install *in)
{
    GError **error = in->error;
    const char *spec = in->r->iso_volume, *slash = strchr(spec, '/');
    g_autofree char *pool_name = g_strndup(spec, (gsize)(slash - spec));
    g_autoptr(VmfPool) pool = vmf_pool_host(in->v, pool_name, error);
    if (!pool)
        return VMF_EXIT_INPUT;
    in->cdrom = vmf_vol_find(pool, slash + 1, NULL, error);
    if (!in->cdrom && !(error && *error))
        FAIL(VMF_EXIT_INPUT, "installer volume %s: no volume %s in pool %s on %s", spec, slash + 1,
             pool_name, vmf_virt_host(in->v));
    return in->cdrom ? 0 : VMF_EXIT_INPUT;
}

/* The installer ISO where QEMU reads it: the local file (vmforge's own
 * pool), the recipe's volume, or vmforge-media-SHA256.iso in the host's
 * pool, uploaded once and checked before it is used again. */
static int stage_media(Install *in)
{
    if (in->r->iso_volume)
        return stage_named_media(in);
    if (!in->plan->media)
        return 0;
    if (!in->host) {
        in->cdrom = g_strdup(in->plan->media->iso);
        return 0;
    }
    const char *vol = in->media_vol;
    uint64_t size = 0;
    in->cdrom = vmf_vol_find(in->pool, vol, &size, NULL);
    if (in->cdrom && media_matches(in, vol, size)) {
        vmf_progress_say(in->o->progress, "install", "installer media: %s, already on %s", vol,
                         vmf_virt_host(in->v));
        return 0;
    }
    if (in->cdrom)
        vmf_vol_delete(in->pool, vol);
    g_clear_pointer(&in->cdrom, g_free);
    /* Recorded while it uploads (a cut upload is removed as a leftover),
     * kept once complete: the next run reuses it. */
    vmf_run_add(in->run, VMF_RUN_VOLUME, vmf_pool_name(in->pool), vol);
    in->cdrom = upload_file(in, vol, in->plan->media->iso, "installer media");
    if (in->cdrom)
        vmf_run_keep(in->run, vmf_pool_name(in->pool), vol);
    return in->cdrom ? 0 : (vmf_interrupted ? vmf_signals_exit_code() : VMF_EXIT_FAILURE);
}

int install_stage_volumes(Install *in)
{
    int rc = stage_disk(in);
    if (!rc)
        rc = stage_boot_files(in);
    if (!rc)
        rc = stage_media(in);
    return rc;
}

/* ---- what comes back -------------------------------------------------------------- */

int install_fetch_disk(Install *in, const char *dest, bool failed)
{
    GError **error = in->error;
    if (!in->host) {
        if (g_rename(in->disk, dest) < 0)
            FAIL(VMF_EXIT_OUTPUT, "%s: %s", dest, g_strerror(errno));
        return 0;
    }
    g_autoptr(VmfProgress) bar =
        vmf_progress_new(failed ? "download failed disk" : "download disk", in->o->progress);
    VmfTransfer t = {.progress = vmf_transfer_progress, .data = bar, .cancel = &vmf_interrupted};
    int r = vmf_vol_download_file(in->pool, in->disk_vol, dest, &t, error);
    g_autofree char *got = vf_format_size(t.bytes);
    g_autofree char *summary = g_strdup_printf("%s received", got);
    vmf_progress_end(bar, r == 0 ? summary : NULL);
    if (r < 0)
        return vmf_interrupted ? vmf_signals_exit_code() : VMF_EXIT_FAILURE;
    if (!failed)
        in->res->disk_sha256 = g_strdup(t.sha256);
    return 0;
}

void install_fetch_channel(Install *in)
{
    const char *dest = in->plan->anaconda_log;
    if (!in->host) {
        struct stat sb;
        if (in->chan_path && stat(in->chan_path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0)
            g_rename(in->chan_path, dest);
        return;
    }
    /* QEMU wrote it into the pool's folder: a volume once the pool is
     * rescanned. */
    g_autofree char *vol = g_strconcat(in->prefix, "anaconda.log", NULL);
    vmf_pool_refresh(in->pool);
    uint64_t size = 0;
    g_autofree char *path = vmf_vol_find(in->pool, vol, &size, NULL);
    if (!path)
        return;
    VmfTransfer t = {0};
    g_unlink(dest);
    if (size == 0 || vmf_vol_download_file(in->pool, vol, dest, &t, NULL) < 0)
        g_unlink(dest);
    vmf_vol_delete(in->pool, vol);
}

bool install_remove_volumes(Install *in)
{
    if (!in->host || !in->pool)
        return true;
    static const char *const names[] = {"vmlinuz", "initrd.img", "oemdrv.iso", "anaconda.log",
                                        "VARS.fd"};
    bool left = false;
    vmf_pool_refresh(in->pool); /* the NVRAM file is libvirt's, not a volume vmforge made */
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *vol = g_strconcat(in->prefix, names[i], NULL);
        g_autofree char *path = vmf_vol_find(in->pool, vol, NULL, NULL);
        left |= path && !vmf_vol_delete(in->pool, vol);
    }
    g_autofree char *disk = vmf_vol_find(in->pool, in->disk_vol, NULL, NULL);
    left |= disk && !vmf_vol_delete(in->pool, in->disk_vol);
    return !left && vmf_virt_alive(in->v);
}
