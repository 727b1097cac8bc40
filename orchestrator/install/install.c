/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "install.h"

#include "disk.h"
#include "formats/vf.h"
#include "inject.h"
#include "media.h"
#include "plan.h"
#include "util/exit-codes.h"
#include "util/fingerprint.h"
#include "util/signals.h"
#include "util/util.h"
#include "virt/console.h"
#include "virt/virt.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

G_DEFINE_QUARK(vmf - install - error - quark, vmf_install_error)

/* How often the watcher looks at the domain. */
#define POLL_INTERVAL_US (500 * 1000)
/* Initrd files are padded to 4 bytes before the appended archive. */
#define CPIO_ALIGN 4
/* With QEMU user-mode networking the guest reaches the host's loopback here. */
#define USER_NET_HOST "10.0.2.2"

#define FAIL(code, ...)                                                                            \
    do {                                                                                           \
        g_set_error(error, vmf_install_error_quark(), (code), __VA_ARGS__);                        \
        return (code);                                                                             \
    } while (0)

void vmf_install_result_clear(VmfInstallResult *r)
{
    g_free(r->disk);
    g_free(r->console_log);
    g_free(r->failed_disk);
    g_free(r->media);
    memset(r, 0, sizeof(*r));
}

/* ---- helpers ------------------------------------------------------------------ */

static int write_private(const char *path, const char *text, GError **error)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || fchmod(fd, 0600) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        FAIL(VMF_EXIT_OUTPUT, "%s: %s", path, g_strerror(e));
    }
    size_t len = strlen(text);
    ssize_t w = write(fd, text, len);
    int e = errno;
    if (close(fd) < 0 || w != (ssize_t)len)
        FAIL(VMF_EXIT_OUTPUT, "%s: %s", path, g_strerror(w < 0 ? e : ENOSPC));
    return 0;
}

/* One boot file going into a volume: its bytes, then (for the initrd) zero
 * padding to 4 bytes and the kickstart archive. */
typedef struct {
    VmfVirt *v;
    const char *vol;
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
    b->up = vmf_virt_upload_begin(b->v, b->vol, size + extra, b->error);
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

/* A boot file from the host (the recipe's kernel: and initrd:) or the ISO. */
static int stage_boot_file(BootFile *b, const char *host_path, const VmfMedia *m,
                           const char *member, char **out)
{
    GError **error = b->error;
    if (host_path) {
        g_autoptr(GMappedFile) mf = g_mapped_file_new(host_path, FALSE, error);
        if (!mf)
            return VMF_EXIT_INPUT;
        size_t len = g_mapped_file_get_length(mf);
        if (len > VMF_MEDIA_MAX_BOOT_FILE)
            FAIL(VMF_EXIT_INPUT, "%s: larger than 1 GiB; not a kernel or initrd", host_path);
        if (boot_file_size(len, b) < 0)
            return VMF_EXIT_FAILURE;
        if (boot_file_data(g_mapped_file_get_contents(mf), len, b) < 0) {
            vmf_upload_abort(b->up);
            return VMF_EXIT_FAILURE;
        }
    } else if (vmf_media_extract(m->iso, member, boot_file_size, boot_file_data, b, error) < 0) {
        vmf_upload_abort(b->up);
        return b->up ? VMF_EXIT_FAILURE : VMF_EXIT_INPUT;
    }
    *out = boot_file_finish(b);
    return *out ? 0 : VMF_EXIT_FAILURE;
}

/* ---- running the installer ---------------------------------------------------------- */

typedef enum {
    OUT_NONE,
    OUT_POWEROFF,
    OUT_TIMEOUT,
    OUT_IDLE,
    OUT_FAILED_LINE,
    OUT_INTERRUPTED,
    OUT_NO_SPACE,
    OUT_IO_ERROR
} Outcome;

static Outcome watch(virDomainPtr dom, VmfConsole *con, const VmfRecipe *r,
                     const VmfInstallOptions *o, VmfProgress *prog, unsigned *timeout_used)
{
    unsigned timeout = o->timeout ? o->timeout : r->timeout;
    unsigned idle = o->idle_timeout ? o->idle_timeout : r->idle_timeout;
    gint64 start = g_get_monotonic_time();
    gint64 last_io_change = start;
    uint64_t last_io = 0;
    for (;;) {
        if (vmf_interrupted)
            return OUT_INTERRUPTED;
        if (!vmf_virt_domain_running(dom))
            return OUT_POWEROFF;
        int ioerr = vmf_virt_domain_io_error(dom);
        if (ioerr)
            return ioerr == -ENOSPC ? OUT_NO_SPACE : OUT_IO_ERROR;
        gint64 now = g_get_monotonic_time();
        uint64_t io = vmf_virt_domain_io(dom, "vda");
        if (io != last_io) {
            last_io = io;
            last_io_change = now;
        }
        g_auto(VmfConsoleState) st = {0};
        vmf_console_state(con, &st);
        if (st.failure_line)
            return OUT_FAILED_LINE;
        if (now - start > (gint64)timeout * G_USEC_PER_SEC) {
            *timeout_used = timeout;
            return OUT_TIMEOUT;
        }
        if (now - MAX(st.last_output, last_io_change) > (gint64)idle * G_USEC_PER_SEC) {
            *timeout_used = idle;
            return OUT_IDLE;
        }
        if (!o->console)
            vmf_progress_status(prog, st.pct, st.what ? st.what : "booting the installer");
        g_usleep(POLL_INTERVAL_US);
    }
}

/* QEMU under qemu:///system runs as its own user (libvirt-qemu): libvirt
 * hands it the files, but every folder above them must let others through.
 * Returns the first folder of `path` that does not, or NULL. */
static char *untraversable_folder(const char *path)
{
    g_autofree char *dir = g_path_get_dirname(path);
    while (strcmp(dir, "/") != 0 && strcmp(dir, ".") != 0) {
        struct stat st;
        if (stat(dir, &st) == 0 && !(st.st_mode & S_IXOTH))
            return g_steal_pointer(&dir);
        char *up = g_path_get_dirname(dir);
        g_free(dir);
        dir = up;
    }
    return NULL;
}

/* `path` is a file, or a folder when `is_dir`. */
static int check_reachable(const char *uri, const char *what, const char *path, bool is_dir,
                           GError **error)
{
    if (!g_str_has_suffix(uri, "/system"))
        return 0;
    g_autofree char *inside = is_dir ? g_build_filename(path, "x", NULL) : g_strdup(path);
    g_autofree char *dir = untraversable_folder(inside);
    if (dir)
        FAIL(VMF_EXIT_OUTPUT,
             "%s: QEMU (which runs as its own user under %s) cannot reach %s %s through it; "
             "make it traversable (chmod o+x %s) or use another folder",
             dir, uri, what, path, dir);
    return 0;
}

/* ---- the fingerprint of the base disk ------------------------------------------- */

int vmf_install_fingerprint(const VmfRecipe *r, VmfFingerprint *fp, GError **error)
{
    /* The plan a dry run makes, with the root password hashed with the
     * cache's salt: the rendered kickstart is then the same on every run. */
    VmfInstallOptions o = {.outdir = "/", .dry_run = true, .salt = fp->salt};
    g_auto(VmfInstallPlan) plan = {0};
    int rc = vmf_install_plan_make(r, &o, &plan, error);
    if (rc)
        return rc;
    vmf_fp_add_u64(fp, "disk.size", r->disk_size);
    for (unsigned i = 0; i < r->n_partitions; i++) {
        const VmfPartition *p = &r->partitions[i];
        g_autofree char *part =
            g_strdup_printf("%s|%" G_GUINT64_FORMAT "|%x|%d|%s", p->mount ? p->mount : "", p->size,
                            p->type, p->bootable, p->fstype ? p->fstype : "");
        vmf_fp_add(fp, "disk.partition", part);
    }
    const char *files[][2] = {{"media", plan.media ? plan.media->iso : NULL},
                              {"kernel", r->kernel},
                              {"initrd", r->initrd}};
    for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
        if (!files[i][1])
            continue;
        if (vmf_fp_add_file(fp, files[i][0], files[i][1], error) < 0)
            return VMF_EXIT_INPUT;
    }
    g_autofree char *family_text = NULL;
    if (!g_file_get_contents(plan.family.path, &family_text, NULL, NULL))
        family_text = g_strdup(plan.family.path);
    vmf_fp_add(fp, "installer.family", family_text);
    vmf_fp_add(fp, "installer.answer_file", plan.ks->text);
    vmf_fp_add(fp, "installer.inject", vmf_inject_name(r->inject));
    vmf_fp_add(fp, "installer.extra_args", r->extra_args);
    vmf_fp_add(fp, "installer.network", r->network);
    return 0;
}

/* ---- the stage ------------------------------------------------------------------ */

/* One run of the installer: what it made, so that whatever happens it is
 * all removed (install_clear) but for the disk it installed. */
typedef struct {
    const VmfRecipe *r;
    const VmfInstallOptions *o;
    const VmfInstallPlan *plan;
    VmfInstallResult *res;
    GError **error;
    GBytes *ks_bytes;
    char *ks_arg; /* where the kernel command line says the kickstart is */
    VmfVirt *v;
    const char *domtype;
    VmfHttp *http;
    char *workdir, *poolname, *domname;
    char *disk, *kernel, *initrd, *oemdrv, *chan_path;
    virDomainPtr dom;
    virStreamPtr st;
    VmfConsole *con;
    VmfConsoleState seen; /* what the console showed, once it stopped */
    VmfProgress *prog;
    Outcome outcome;
    unsigned timeout_used;
} Install;

static void install_clear(Install *in)
{
    g_bytes_unref(in->ks_bytes);
    g_free(in->ks_arg);
    vmf_http_stop(in->http);
    vmf_progress_free(in->prog);
    vmf_console_free(in->con);
    if (in->st)
        virStreamFree(in->st);
    if (in->dom)
        virDomainFree(in->dom);
    vmf_console_state_clear(&in->seen);
    /* The transient pool goes with the connection; then its folder. */
    vmf_virt_close(in->v);
    if (in->workdir)
        vmf_remove_workdir(in->workdir);
    g_free(in->workdir);
    g_free(in->poolname);
    g_free(in->domname);
    g_free(in->disk);
    g_free(in->kernel);
    g_free(in->initrd);
    g_free(in->oemdrv);
    g_free(in->chan_path);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Install, install_clear)

/* What the guest is told on its kernel command line; for HTTP the port is
 * known once the server runs (install_serve_http). */
static char *ks_argument(const VmfRecipe *r)
{
    switch (r->inject) {
    case VMF_INJECT_INITRD:
        return g_strdup("inst.ks=file:/ks.cfg");
    case VMF_INJECT_OEMDRV:
        return g_strdup("inst.ks=hd:LABEL=OEMDRV:/ks.cfg");
    case VMF_INJECT_HTTP:
        return g_strdup_printf("inst.ks=http://%s:PORT/ks.cfg",
                               r->network ? "NETWORK-HOST" : USER_NET_HOST);
    }
    return NULL;
}

/* --dry-run: the kernel command line and the domain XML, with the paths
 * the volumes would have. */
static int install_dry_run(const Install *in)
{
    const VmfRecipe *r = in->r;
    const VmfInstallOptions *o = in->o;
    g_autofree char *cmdline = vmf_install_cmdline(r, in->plan, in->ks_arg);
    g_autofree char *pool = g_strdup_printf("%s/.vmforge-%s-POOL", o->outdir, r->name);
    g_autofree char *disk = g_strdup_printf("%s/%s.raw", pool, r->name);
    g_autofree char *kernel = g_strdup_printf("%s/vmlinuz", pool);
    g_autofree char *initrd = g_strdup_printf("%s/initrd.img", pool);
    g_autofree char *oemdrv = g_strdup_printf("%s/oemdrv.iso", pool);
    g_autofree char *name = g_strdup_printf("vmforge-install-%s-ID", r->name);
    g_autofree char *alog = g_strdup_printf("%s/anaconda.log", pool);
    VmfInstallVolumes vols = {.kernel = kernel,
                              .initrd = initrd,
                              .disk = disk,
                              .oemdrv = r->inject == VMF_INJECT_OEMDRV ? oemdrv : NULL,
                              .channel_path = alog};
    g_autofree char *xml = vmf_install_domain_xml(
        r, in->plan, name, strcmp(o->accel, "kvm") == 0 ? "kvm" : "qemu", &vols, cmdline);
    printf("# media: %s\n# family: %s\n# kickstart template: %s\n# kernel command line:\n%s\n"
           "# domain XML (accel %s):\n%s",
           in->res->media ? in->res->media : "(kernel and initrd given)", in->plan->family_name,
           in->plan->template_path, cmdline, o->accel, xml);
    return VMF_EXIT_OK;
}

/* The connection, and what QEMU on that host must reach. */
static int install_connect(Install *in)
{
    GError **error = in->error;
    GError *verr = NULL;
    in->v = vmf_virt_open(in->o->uri, &verr);
    if (!in->v) {
        int rc = verr->code == 2 ? VMF_EXIT_USAGE : VMF_EXIT_FAILURE;
        g_propagate_error(error, verr);
        return rc;
    }
    const char *uri = vmf_virt_uri(in->v);
    int rc = check_reachable(uri, "the output folder", in->o->outdir, true, error);
    if (!rc && in->plan->media)
        rc = check_reachable(uri, "the installer ISO", in->plan->media->iso, false, error);
    if (rc)
        return rc;
    in->domtype = vmf_virt_domain_type(in->v, in->o->accel, error);
    return in->domtype ? 0 : VMF_EXIT_USAGE;
}

/* Serves the kickstart over HTTP, on loopback for user-mode networking
 * (the guest reaches it as USER_NET_HOST) or on the libvirt network's
 * address. */
static int install_serve_http(Install *in)
{
    GError **error = in->error;
    g_autofree char *addr = NULL;
    if (in->r->network) {
        addr = vmf_virt_network_address(in->v, in->r->network, error);
        if (!addr)
            return VMF_EXIT_INPUT;
    } else {
        addr = g_strdup("127.0.0.1");
    }
    in->http = vmf_http_start(addr, "ks.cfg", in->ks_bytes, error);
    if (!in->http)
        return VMF_EXIT_FAILURE;
    g_free(in->ks_arg);
    in->ks_arg = g_strdup_printf("inst.ks=http://%s:%u/ks.cfg",
                                 in->r->network ? addr : USER_NET_HOST, vmf_http_port(in->http));
    return 0;
}

/* From here on things exist (logs, a server, a work folder) that are
 * cleaned up whatever happens. The pool and the domain are named after the
 * work folder: unique per build. */
static int install_prepare(Install *in)
{
    GError **error = in->error;
    const VmfInstallPlan *plan = in->plan;
    if (g_mkdir_with_parents(plan->logdir, 0755) < 0)
        FAIL(VMF_EXIT_OUTPUT, "%s: %s", plan->logdir, g_strerror(errno));
    int rc = write_private(plan->ks_path, plan->ks->text, error);
    if (!rc && in->r->inject == VMF_INJECT_HTTP)
        rc = install_serve_http(in);
    if (rc)
        return rc;
    char *workdir = g_strdup_printf("%s/.vmforge-%s-XXXXXX", in->o->outdir, in->r->name);
    if (!g_mkdtemp_full(workdir, 0755)) {
        g_free(workdir);
        FAIL(VMF_EXIT_OUTPUT, "%s: %s", in->o->outdir, g_strerror(errno));
    }
    in->workdir = workdir;
    const char *suffix = strrchr(workdir, '-') + 1;
    in->poolname = g_strdup_printf("vmforge-%s-%s", in->r->name, suffix);
    in->domname = g_strdup_printf("vmforge-install-%s-%s", in->r->name, suffix);
    in->prog = vmf_progress_new("install", in->o->progress);
    return 0;
}

/* The OEMDRV volume: an ISO 9660 image labelled OEMDRV holding ks.cfg. */
static int stage_oemdrv(Install *in)
{
    GError **error = in->error;
    g_autoptr(GBytes) iso = vmf_inject_oemdrv("ks.cfg", in->ks_bytes, error);
    VmfUpload *u = NULL;
    if (!iso || !(u = vmf_virt_upload_begin(in->v, "oemdrv.iso", g_bytes_get_size(iso), error)))
        return VMF_EXIT_FAILURE;
    if (vmf_upload_write(u, g_bytes_get_data(iso, NULL), g_bytes_get_size(iso), error) < 0) {
        vmf_upload_abort(u);
        return VMF_EXIT_FAILURE;
    }
    in->oemdrv = vmf_upload_finish(u, error);
    return in->oemdrv ? 0 : VMF_EXIT_FAILURE;
}

/* The pool and its volumes: the partitioned disk, the kernel and the initrd
 * (with the kickstart appended for initrd injection), the OEMDRV medium. */
static int install_stage_volumes(Install *in)
{
    GError **error = in->error;
    const VmfRecipe *r = in->r;
    const VmfMedia *m = in->plan->media;
    if (vmf_virt_pool_start(in->v, in->poolname, in->workdir, error) < 0)
        return VMF_EXIT_FAILURE;
    vmf_progress_status(in->prog, -1, "creating the disk");
    g_autofree char *volname = g_strdup_printf("%s.raw", r->name);
    if (!(in->disk = vmf_virt_vol_create(in->v, volname, r->disk_size, error)))
        return VMF_EXIT_FAILURE;
    g_autofree char *seed = g_strdup_printf("%s\n%s", r->name, r->version ? r->version : "");
    if (vmf_disk_partition(in->disk, r, seed, error) < 0)
        return VMF_EXIT_OUTPUT;
    vmf_progress_status(in->prog, -1, "staging the installer's kernel and initrd");
    g_autoptr(GBytes) cpio = NULL;
    if (r->inject == VMF_INJECT_INITRD && !(cpio = vmf_inject_cpio("ks.cfg", in->ks_bytes, error)))
        return VMF_EXIT_FAILURE;
    BootFile bk = {.v = in->v, .vol = "vmlinuz", .error = error};
    BootFile bi = {.v = in->v, .vol = "initrd.img", .append = cpio, .error = error};
    int rc = stage_boot_file(&bk, r->kernel, m, m ? m->kernel : NULL, &in->kernel);
    if (!rc)
        rc = stage_boot_file(&bi, r->initrd, m, m ? m->initrd : NULL, &in->initrd);
    if (!rc && r->inject == VMF_INJECT_OEMDRV)
        rc = stage_oemdrv(in);
    return rc;
}

/* Defines the domain paused, subscribes to its events and its console, then
 * lets it run: no console line is missed. */
static int install_start_domain(Install *in, const VmfConsoleMatch *match)
{
    GError **error = in->error;
    g_autofree char *cmdline = vmf_install_cmdline(in->r, in->plan, in->ks_arg);
    in->chan_path = g_build_filename(in->workdir, "anaconda.log", NULL);
    VmfInstallVolumes vols = {.kernel = in->kernel,
                              .initrd = in->initrd,
                              .disk = in->disk,
                              .oemdrv = in->oemdrv,
                              .channel_path = in->chan_path};
    g_autofree char *xml =
        vmf_install_domain_xml(in->r, in->plan, in->domname, in->domtype, &vols, cmdline);
    g_file_set_contents(in->plan->xml_path, xml, -1, NULL);
    if (vmf_interrupted)
        return 0;
    vmf_progress_status(in->prog, -1, "starting the installer domain");
    if (!(in->dom = vmf_virt_domain_create_paused(in->v, xml, error)) ||
        vmf_virt_watch_domain(in->v, in->dom, error) < 0 ||
        !(in->st = vmf_virt_console_open(in->v, in->dom, error)))
        return VMF_EXIT_FAILURE;
    in->con = vmf_console_start(in->st, in->plan->console_log, in->o->console, match, error);
    if (!in->con)
        return VMF_EXIT_OUTPUT;
    return vmf_virt_domain_resume(in->dom, error) < 0 ? VMF_EXIT_FAILURE : 0;
}

/* Stages the volumes, runs the installer domain and watches it to its end
 * (in->outcome). Returns a VMF_EXIT_* status for what failed around it. */
static int install_run(Install *in)
{
    const VmfInstallFamily *f = &in->plan->family;
    VmfConsoleMatch match = {.success = f->success, .failure = f->failure, .progress = f->progress};
    int rc = install_stage_volumes(in);
    if (!rc)
        rc = install_start_domain(in, &match);
    if (rc || vmf_interrupted)
        return rc;
    gint64 t0 = g_get_monotonic_time();
    in->outcome = watch(in->dom, in->con, in->r, in->o, in->prog, &in->timeout_used);
    in->res->seconds = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    return 0;
}

/* Whatever happened, no domain is left behind and the console, the server
 * and Anaconda's log channel are done with. */
static void install_teardown(Install *in)
{
    if (in->dom)
        vmf_virt_domain_destroy(in->dom);
    /* The console stream ends with the domain (its pty closes); give it
     * time to deliver the last lines. */
    if (in->con) {
        vmf_console_stop(in->con, 10);
        vmf_console_state(in->con, &in->seen);
    }
    vmf_http_stop(g_steal_pointer(&in->http));
    if (in->workdir) {
        g_autofree char *chan_file = g_build_filename(in->workdir, "anaconda.log", NULL);
        struct stat sb;
        if (stat(chan_file, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0)
            g_rename(chan_file, in->plan->anaconda_log);
    }
}

/* The installer stopped writing on an I/O error: the folder the user chose
 * (its file system is what is full), what is free there and what the disk
 * may need. */
static int no_space_error(const Install *in)
{
    struct statvfs vfs;
    const VmfInstallOptions *o = in->o;
    g_autofree char *dir = g_strdup(o->keep_dir ? o->keep_dir : o->outdir);
    g_autofree char *need = vf_format_size(in->r->disk_size);
    g_autofree char *have = statvfs(dir, &vfs) == 0
                                ? vf_format_size((uint64_t)vfs.f_bavail * vfs.f_frsize)
                                : g_strdup("?");
    g_set_error(in->error, vmf_install_error_quark(), VMF_EXIT_OUTPUT,
                "%s: %s while the installer wrote the disk (%s free; the disk may need up to %s "
                "there); the domain was destroyed",
                dir, in->outcome == OUT_NO_SPACE ? "no space left" : "a write error", have, need);
    return VMF_EXIT_OUTPUT;
}

/* Why a domain that did not power off failed: sets *error; returns the
 * status (VMF_EXIT_GUEST, or VMF_EXIT_OUTPUT for a full disk). */
static int outcome_error(const Install *in)
{
    GError **error = in->error;
    switch (in->outcome) {
    case OUT_TIMEOUT:
        FAIL(VMF_EXIT_GUEST,
             "the install did not finish within %u s (installer timeout); the domain was destroyed",
             in->timeout_used);
    case OUT_IDLE:
        FAIL(VMF_EXIT_GUEST,
             "no console output and no disk I/O for %u s (installer idle_timeout); the domain was "
             "destroyed",
             in->timeout_used);
    case OUT_FAILED_LINE:
        FAIL(VMF_EXIT_GUEST, "the installer failed: %s", in->seen.failure_line);
    case OUT_NO_SPACE:
    case OUT_IO_ERROR:
        return no_space_error(in);
    default:
        return VMF_EXIT_GUEST;
    }
}

/* A power-off is a finished install when the guest itself powered off,
 * the console showed the family's success line and the root partition
 * holds a file system. */
static bool poweroff_installed(const Install *in)
{
    GError **error = in->error;
    /* The stop event can trail the domain's disappearance a little. */
    for (int i = 0; i < 50 && vmf_virt_stop_reason(in->v) == VMF_STOP_NONE; i++)
        g_usleep(100 * 1000);
    VmfStopReason stopped = vmf_virt_stop_reason(in->v);
    if (stopped != VMF_STOP_POWEROFF) {
        g_set_error(error, vmf_install_error_quark(), VMF_EXIT_GUEST,
                    "the installer domain stopped but did not power off: %s",
                    vmf_stop_reason_text(stopped));
        return false;
    }
    g_autofree char *fs = NULL;
    for (unsigned i = 0; i < in->r->n_partitions; i++)
        if (in->r->partitions[i].mount && strcmp(in->r->partitions[i].mount, "/") == 0)
            fs = vmf_disk_probe_fs(in->disk, i + 1);
    if (!in->seen.success)
        g_set_error(error, vmf_install_error_quark(), VMF_EXIT_GUEST,
                    "the installer powered off without its success line (\"%s\")",
                    in->plan->family.success);
    else if (!fs)
        g_set_error(error, vmf_install_error_quark(), VMF_EXIT_GUEST,
                    "the installer reported success but the root partition holds no file system");
    return in->seen.success && fs;
}

/* The installed disk under its final name, or (--keep-failed) the failed
 * one under its own. Returns the stage's status. */
static int install_finish(Install *in, int rc, bool ok)
{
    const VmfInstallPlan *plan = in->plan;
    if (vmf_interrupted && !ok) {
        g_clear_error(in->error);
        g_set_error(in->error, vmf_install_error_quark(), vmf_signals_exit_code(),
                    "interrupted; the installer domain was destroyed and nothing was kept");
        rc = vmf_signals_exit_code();
    } else if (!ok && rc == 0) {
        rc = VMF_EXIT_GUEST;
    }
    vmf_progress_end(in->prog, ok ? "installed" : NULL);
    if (!ok && in->con && !vmf_interrupted && !in->o->console)
        vmf_console_print_tail(in->con, "the installer's");
    else if (!ok && in->con && !vmf_interrupted)
        fprintf(stderr, "--- whole console log: %s\n", plan->console_log);
    in->res->console_log = g_strdup(plan->console_log);
    if (ok && g_rename(in->disk, plan->final_disk) < 0) {
        g_set_error(in->error, vmf_install_error_quark(), VMF_EXIT_OUTPUT, "%s: %s",
                    plan->final_disk, g_strerror(errno));
        return VMF_EXIT_OUTPUT;
    } else if (ok) {
        chmod(plan->final_disk, 0644);
        in->res->disk = g_strdup(plan->final_disk);
    } else if (in->disk && in->o->keep_failed && !vmf_interrupted &&
               g_rename(in->disk, plan->failed_disk) == 0) {
        in->res->failed_disk = g_strdup(plan->failed_disk);
    }
    return ok && rc == 0 ? VMF_EXIT_OK : rc;
}

int vmf_stage_install(const VmfRecipe *r, const VmfInstallOptions *o, VmfInstallResult *res,
                      GError **error)
{
    g_auto(VmfInstallPlan) plan = {0};
    int rc = vmf_install_plan_make(r, o, &plan, error);
    if (rc)
        return rc;
    if (plan.media)
        res->media = g_strdup_printf("%s (%s installer)", plan.media->os, plan.family_name);
    g_auto(Install) in = {.r = r, .o = o, .plan = &plan, .res = res, .error = error};
    in.ks_bytes = g_bytes_new(plan.ks->text, strlen(plan.ks->text));
    in.ks_arg = ks_argument(r);
    if (o->dry_run)
        return install_dry_run(&in);
    if ((rc = install_connect(&in)) || (rc = install_prepare(&in)))
        return rc;
    rc = install_run(&in);
    install_teardown(&in);
    bool ok = false;
    if (rc == 0 && in.outcome == OUT_POWEROFF)
        ok = poweroff_installed(&in);
    else if (rc == 0 && in.outcome != OUT_NONE)
        rc = outcome_error(&in);
    return install_finish(&in, rc, ok);
}
