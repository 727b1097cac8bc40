/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "doctor.h"

#include "cache.h"
#include "convert.h"
#include "customize/boot-check.h"
#include "formats/vf.h"
#include "guestfs/guest.h"
#include "import/import.h"
#include "recipe/targets.h"
#include "util/exit-codes.h"
#include "util/signals.h"
#include "util/util.h"
#include "virt/jobs.h"
#include "virt/runs.h"
#include "virt/storage.h"
#include "virt/virt.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#define CMD "doctor"
/* How long a test guest gets to print its kernel banner. TCG boots the
 * host's kernel to its banner in seconds; a KVM that hangs never does. */
#define ACCEL_TIMEOUT 90
#define ACCEL_MARKER  "Linux version"

typedef struct {
    unsigned failed, warned;
} Tally;

static void line(Tally *t, const char *status, const char *check, const char *fix, const char *fmt,
                 ...) G_GNUC_PRINTF(5, 6);
static void line(Tally *t, const char *status, const char *check, const char *fix, const char *fmt,
                 ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    printf("  %-5s %-13s %s\n", status, check, msg);
    if (fix)
        printf("  %-5s %-13s fix: %s\n", "", "", fix);
    fflush(stdout);
    if (strcmp(status, "FAIL") == 0)
        t->failed++;
    else if (strcmp(status, "warn") == 0)
        t->warned++;
}

/* The newest kernel in /boot: what the accelerator check boots. */
static char *host_kernel(void)
{
    g_autoptr(GDir) d = g_dir_open("/boot", 0, NULL);
    const char *e;
    char *best = NULL;
    while (d && (e = g_dir_read_name(d))) {
        if (!g_str_has_prefix(e, "vmlinuz-"))
            continue;
        if (!best || strverscmp(e, best) > 0) {
            g_free(best);
            best = g_strdup(e);
        }
    }
    if (!best)
        return NULL;
    char *path = g_build_filename("/boot", best, NULL);
    g_free(best);
    return path;
}

/* Boots the host's kernel with `accel` until its banner appears. */
static bool accel_runs(const VmfDoctorOptions *o, const char *accel, const char *kernel,
                       double *seconds, char **why)
{
    const char *uri = o->uri;
    g_autoptr(GError) err = NULL;
    g_autofree char *log = g_build_filename(g_get_tmp_dir(), "vmforge-doctor-console.log", NULL);
    VmfBootCheck b = {
        .kernel = kernel,
        /* No root file system: the kernel stops at a panic, and waits there
         * (panic=0) to be destroyed. */
        .cmdline = "console=ttyS0 panic=0",
        .name = "doctor",
        .uri = uri,
        .pool = o->pool,
        .remote_dir = o->remote_dir,
        .accel = accel,
        .marker = ACCEL_MARKER,
        .timeout = ACCEL_TIMEOUT,
        .vcpus = 1,
        .memory = 256ull << 20,
        .console_log = log,
        .quiet = true,
        .destroy = true,
    };
    int rc = vmf_boot_check(&b, seconds, &err);
    g_unlink(log);
    if (rc != VMF_EXIT_OK)
        *why = g_strdup(err ? err->message : "failed");
    return rc == VMF_EXIT_OK;
}

static void check_space(Tally *t, const char *what, const char *dir, uint64_t need_min,
                        uint64_t need_max)
{
    struct statvfs vfs;
    g_autofree char *probe = g_strdup(dir);
    /* The folder may not exist yet: look at the nearest one that does. */
    while (!g_file_test(probe, G_FILE_TEST_IS_DIR) && strcmp(probe, "/") != 0) {
        char *up = g_path_get_dirname(probe);
        g_free(probe);
        probe = up;
    }
    if (statvfs(probe, &vfs) < 0) {
        line(t, "FAIL", what, "check the path", "%s: %s", dir, g_strerror(errno));
        return;
    }
    uint64_t free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    g_autofree char *f = vf_format_size(free_bytes);
    g_autofree char *lo = vf_format_size(need_min);
    g_autofree char *hi = vf_format_size(need_max);
    if (free_bytes >= need_max)
        line(t, "ok", what, NULL, "%s: %s free (the recipe needs up to %s)", dir, f, hi);
    else if (free_bytes >= need_min)
        line(t, "warn", what, "free space, or choose another folder (-o, --cache-dir)",
             "%s: %s free; the recipe needs at least %s and up to %s", dir, f, lo, hi);
    else
        line(t, "FAIL", what, "free space, or choose another folder (-o, --cache-dir)",
             "%s: %s free; the recipe needs at least %s", dir, f, lo);
}

/* libvirtd answers (over which transport, for a remote host), and offers the
 * accelerator (*domtype; NULL when it cannot run guests). */
static VmfVirt *check_libvirtd(Tally *t, const VmfDoctorOptions *o, const char **domtype)
{
    g_autoptr(GError) err = NULL;
    VmfVirt *v = vmf_virt_open(o->uri, &err);
    if (!v) {
        line(t, "FAIL", "libvirtd",
             o->uri && vmf_virt_uri_is_remote(o->uri)
                 ? "check the host's name, that its libvirtd runs and that this machine may "
                   "connect (ssh keys and agent, TLS certificates, SASL)"
                 : "start it: virtlogd -d && libvirtd -d (scripts/start-libvirtd.sh does both and "
                   "waits), or give --connect URI",
             "%s", err->message);
        return NULL;
    }
    g_autofree char *versions = vmf_virt_versions(v);
    if (vmf_virt_is_remote(v))
        line(t, "ok", "libvirtd", NULL, "%s answers over %s (%s)", vmf_virt_host(v),
             vmf_virt_transport(v), versions);
    else
        line(t, "ok", "libvirtd", NULL, "%s answers (%s)", vmf_virt_uri(v), versions);
    *domtype = vmf_virt_domain_type(v, o->accel, &err);
    if (!*domtype)
        line(t, "FAIL", "accelerator", "use --accel tcg (or VMFORGE_ACCEL=tcg)", "%s",
             err->message);
    return v;
}

/* Whether vmforge backup copies running domains there through libvirt's
 * backup API (incremental), or needs the snapshot path. */
static void check_backup_api(Tally *t, VmfVirt *v)
{
    if (vmf_virt_backup_supported(v, NULL))
        line(t, "ok", "backup API", NULL,
             "%s backs up running domains through libvirt's backup API (incremental with "
             "checkpoints)",
             vmf_virt_host(v));
    else
        line(t, "warn", "backup API",
             "libvirt 7.2 or later with a QEMU that uses blockdev (6.0 or later)",
             "%s has no backup API: vmforge backup uses a snapshot and a block commit there, "
             "on that host only, and no incremental backups",
             vmf_virt_host(v));
}

/* What runs that died left on the host: removed now. */
static void check_leftovers(Tally *t, VmfVirt *v)
{
    g_autoptr(GPtrArray) removed = g_ptr_array_new_with_free_func(g_free);
    if (!vmf_runs_clean(v, removed)) {
        line(t, "ok", "leftovers", NULL, "none from earlier runs on %s", vmf_virt_host(v));
        return;
    }
    g_ptr_array_add(removed, NULL);
    g_autofree char *list = g_strjoinv("; ", (char **)removed->pdata);
    line(t, "ok", "leftovers", NULL, "removed what earlier runs left on %s: %s", vmf_virt_host(v),
         list);
}

/* The pool the volumes go to on the host, and its room for the recipe's
 * uploads (`need`) and disk. */
static void check_pool(Tally *t, VmfVirt *v, const VmfDoctorOptions *o, uint64_t need,
                       uint64_t disk)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmfRun) run = vmf_run_begin(v, NULL);
    g_autofree char *name = g_strdup_printf("vmforge-doctor-%s", run ? vmf_run_id(run) : "x");
    g_autoptr(VmfPool) pool = vmf_pool_for_run(v, o->pool, o->remote_dir, name, run, &err);
    if (!pool) {
        line(t, "FAIL", "pool",
             "name an active pool of the host (--pool) or a folder there (--remote-dir)", "%s",
             err->message);
        return;
    }
    uint64_t cap = 0, avail = 0;
    if (vmf_pool_space(pool, &cap, &avail, &err) < 0) {
        line(t, "FAIL", "pool", NULL, "%s", err->message);
        return;
    }
    g_autofree char *a = vf_format_size(avail), *c = vf_format_size(cap);
    g_autofree char *n = vf_format_size(need), *d = vf_format_size(need + disk);
    const char *what = o->remote_dir ? "made and removed under" : "pool";
    const char *where = o->remote_dir ? o->remote_dir : vmf_pool_name(pool);
    if (avail < need)
        line(t, "FAIL", "pool", "free space in the pool, or use another (--pool, --remote-dir)",
             "%s %s on %s: %s free of %s; the uploads need %s", what, where, vmf_virt_host(v), a, c,
             n);
    else if (avail < need + disk)
        line(t, "warn", "pool", "free space in the pool, or use another (--pool, --remote-dir)",
             "%s %s on %s: %s free of %s; the recipe needs up to %s", what, where, vmf_virt_host(v),
             a, c, d);
    else
        line(t, "ok", "pool", NULL, "%s %s on %s: %s free of %s", what, where, vmf_virt_host(v), a,
             c);
    vmf_pool_free(g_steal_pointer(&pool));
    if (run)
        vmf_run_end(run);
}

/* KVM offered but broken: does TCG run guests instead? Returns the
 * accelerator libguestfs should use. */
static const char *kvm_broken(Tally *t, const VmfDoctorOptions *o, const char *kernel,
                              const char *why)
{
    double secs = 0;
    g_autofree char *why2 = NULL;
    bool tcg = accel_runs(o, "tcg", kernel, &secs, &why2);
    line(t, "FAIL", "accelerator",
         tcg ? "use --accel tcg (or VMFORGE_ACCEL=tcg): TCG runs guests here, slower"
             : "check libvirtd's and QEMU's logs (/var/log/libvirt/qemu/)",
         "kvm: a guest did not run (%s); KVM is offered but broken here (it hangs or crashes "
         "guests, as on some nested hosts)%s",
         why, tcg ? "; tcg works" : "; tcg failed too");
    return tcg ? "tcg" : "kvm";
}

/* The accelerator, by booting a guest with it: the host's kernel until its
 * banner. Returns the accelerator libguestfs should use. */
static const char *check_accel(Tally *t, const VmfDoctorOptions *o, const char *domtype)
{
    g_autofree char *kernel = host_kernel();
    const char *kind = strcmp(domtype, "kvm") == 0 ? "kvm" : "tcg";
    double secs = 0;
    g_autofree char *why = NULL;
    if (!kernel) {
        line(t, "warn", "accelerator", "install a kernel (apt-get install linux-image-amd64)",
             "%s: not tried, no kernel in /boot to boot", kind);
        return o->accel;
    }
    if (accel_runs(o, kind, kernel, &secs, &why)) {
        line(t, "ok", "accelerator", NULL, "%s runs guests (a kernel printed \"%s\" after %.1f s)",
             kind, ACCEL_MARKER, secs);
        return kind;
    }
    if (vmf_interrupted)
        return o->accel;
    if (strcmp(kind, "kvm") == 0)
        return kvm_broken(t, o, kernel, why);
    line(t, "FAIL", "accelerator", "check libvirtd's and QEMU's logs (/var/log/libvirt/qemu/)",
         "tcg: %s", why);
    return o->accel;
}

static void check_guestfs(Tally *t, const char *accel)
{
    g_autoptr(GError) err = NULL;
    gint64 t0 = g_get_monotonic_time();
    g_autofree char *ver = vmf_guest_library_version();
    if (vmf_guest_probe(accel, &err) == 0)
        line(t, "ok", "libguestfs", NULL, "the appliance launched in %.1f s (libguestfs %s%s)",
             (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC, ver,
             strcmp(accel, "tcg") == 0 ? ", force_tcg" : "");
    else
        line(t, "FAIL", "libguestfs",
             "run libguestfs-test-tool for details; it needs supermin and a kernel in /boot "
             "(apt-get install libguestfs-tools linux-image-amd64)",
             "%s", err->message);
}

/* The recipe and its targets. */
static int load_recipe(const VmfDoctorOptions *o, VmfRecipe **r, VmfTargets **tg)
{
    g_autoptr(GError) err = NULL;
    *r = vmf_recipe_load(o->recipe, o->vars, &err);
    if (!*r) {
        vmf_error(CMD, "%s", err->message);
        return vmf_recipe_exit_code(err);
    }
    *tg = vmf_targets_parse(*r, vmf_templates_dir(), &err);
    if (!*tg) {
        vmf_error(CMD, "%s", err->message);
        return VMF_EXIT_INPUT;
    }
    return VMF_EXIT_OK;
}

/* A base: image: there, in a format vmforge reads; *size the disk's. */
static void check_image(Tally *t, const VmfRecipe *r, uint64_t *size)
{
    g_autoptr(VfSource) src = NULL;
    g_autoptr(GError) err = NULL;
    if (vmf_import_open(r, &src, &err)) {
        line(t, "FAIL", "base image", "fix base: image: in the recipe", "%s", err->message);
        return;
    }
    *size = MAX(src->size, r->base_size);
    g_autofree char *s = vf_format_size(src->size);
    line(t, "ok", "base image", NULL, "%s (%s, %s)", r->base_image, src->format, s);
}

/* Space here for the recipe, and its media. The install writes at most the
 * whole disk; customize works on a copy; every target is at most the disk's
 * data. */
static void check_recipe(Tally *t, const VmfDoctorOptions *o, const VmfRecipe *r,
                         const VmfTargets *tg)
{
    g_autofree char *out = g_canonicalize_filename(o->outdir ? o->outdir : ".", NULL);
    g_autofree char *cdir = vmf_cache_default_dir(o->cache_dir);
    uint64_t least = 0, most = 0, disk = r->disk_size;
    if (vmf_recipe_has_base(r))
        check_image(t, r, &disk);
    vmf_convert_space_needed(tg, disk, &least, &most);
    check_space(t, "output space", out, disk, 2 * disk + most);
    check_space(t, "cache space", cdir, disk, disk);
    if (r->iso && !g_file_test(r->iso, G_FILE_TEST_IS_REGULAR))
        line(t, "FAIL", "media", "fix installer iso: in the recipe, or pass --var", "%s: not found",
             r->iso);
    else if (r->iso)
        line(t, "ok", "media", NULL, "%s", r->iso);
}

/* What the host must hold for the recipe: its ISO, then its disk. */
static uint64_t upload_size(const VmfRecipe *r)
{
    struct stat st;
    return r && r->iso && !r->iso_volume && stat(r->iso, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* The accelerator (by booting a guest with it) and libguestfs. */
static void check_guests(Tally *t, const VmfDoctorOptions *o, const char *domtype)
{
    const char *guest_accel = o->accel;
    if (o->no_guests)
        line(t, "skip", "accelerator", NULL, "not tried (--no-guests)");
    else if (domtype)
        guest_accel = check_accel(t, o, domtype);
    if (vmf_interrupted)
        return;
    if (o->no_guests)
        line(t, "skip", "libguestfs", NULL, "not tried (--no-guests)");
    else
        check_guestfs(t, guest_accel);
}

int vmf_doctor(const VmfDoctorOptions *o)
{
    vmf_signals_install();
    Tally t = {0};
    g_autoptr(VmfRecipe) r = NULL;
    g_autoptr(VmfTargets) tg = NULL;
    int rc = o->recipe ? load_recipe(o, &r, &tg) : VMF_EXIT_OK;
    if (rc)
        return rc;
    printf("vmforge doctor: accelerator %s, libvirt %s\n", o->accel,
           o->uri ? o->uri : vmf_virt_default_uri());
    const char *domtype = NULL;
    g_autoptr(VmfVirt) v = check_libvirtd(&t, o, &domtype);
    if (v)
        check_leftovers(&t, v);
    if (v)
        check_backup_api(&t, v);
    if (v && vmf_pool_on_host(o->uri, o->pool, o->remote_dir))
        check_pool(&t, v, o, upload_size(r), r ? r->disk_size : 0);
    g_clear_pointer(&v, vmf_virt_close);
    check_guests(&t, o, domtype);
    if (vmf_interrupted)
        return vmf_signals_exit_code();
    if (r)
        check_recipe(&t, o, r, tg);
    if (t.failed)
        printf("%u check%s failed.\n", t.failed, t.failed == 1 ? "" : "s");
    else
        printf("Ready to build%s.\n", t.warned ? " (see the warnings)" : "");
    return t.failed ? VMF_EXIT_FAILURE : VMF_EXIT_OK;
}
