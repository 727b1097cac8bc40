/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "doctor.h"

#include "cache.h"
#include "convert.h"
#include "customize/boot-check.h"
#include "formats/vf.h"
#include "guestfs/guest.h"
#include "recipe/targets.h"
#include "util/exit-codes.h"
#include "util/signals.h"
#include "util/util.h"
#include "virt/virt.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
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
static bool accel_runs(const char *uri, const char *accel, const char *kernel, double *seconds,
                       char **why)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *log = g_build_filename(g_get_tmp_dir(), "vmforge-doctor-console.log", NULL);
    VmfBootCheck b = {
        .kernel = kernel,
        /* No root file system: the kernel stops at a panic, and waits there
         * (panic=0) to be destroyed. */
        .cmdline = "console=ttyS0 panic=0",
        .name = "doctor",
        .uri = uri,
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

/* libvirtd answers, and offers the accelerator; the domain type (NULL
 * when it cannot run guests). */
static const char *check_libvirtd(Tally *t, const VmfDoctorOptions *o)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmfVirt) v = vmf_virt_open(o->uri, &err);
    if (!v) {
        line(t, "FAIL", "libvirtd",
             "start it: virtlogd -d && libvirtd -d (scripts/start-libvirtd.sh does both and "
             "waits), or give --connect URI",
             "%s", err->message);
        return NULL;
    }
    g_autofree char *versions = vmf_virt_versions(v);
    line(t, "ok", "libvirtd", NULL, "%s answers (%s)", vmf_virt_uri(v), versions);
    const char *domtype = vmf_virt_domain_type(v, o->accel, &err);
    if (!domtype)
        line(t, "FAIL", "accelerator", "use --accel tcg (or VMFORGE_ACCEL=tcg)", "%s",
             err->message);
    return domtype;
}

/* KVM offered but broken: does TCG run guests instead? Returns the
 * accelerator libguestfs should use. */
static const char *kvm_broken(Tally *t, const VmfDoctorOptions *o, const char *kernel,
                              const char *why)
{
    double secs = 0;
    g_autofree char *why2 = NULL;
    bool tcg = accel_runs(o->uri, "tcg", kernel, &secs, &why2);
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
    if (accel_runs(o->uri, kind, kernel, &secs, &why)) {
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

/* Space for the recipe, and its media. The install writes at most the
 * whole disk; customize works on a copy; every target is at most the
 * disk's data. */
static int check_recipe(Tally *t, const VmfDoctorOptions *o)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmfRecipe) r = vmf_recipe_load(o->recipe, o->vars, &err);
    if (!r) {
        vmf_error(CMD, "%s", err->message);
        return vmf_recipe_exit_code(err);
    }
    g_autoptr(VmfTargets) tg = vmf_targets_parse(r, vmf_templates_dir(), &err);
    if (!tg) {
        vmf_error(CMD, "%s", err->message);
        return VMF_EXIT_INPUT;
    }
    g_autofree char *out = g_canonicalize_filename(o->outdir ? o->outdir : ".", NULL);
    g_autofree char *cdir = vmf_cache_default_dir(o->cache_dir);
    uint64_t least = 0, most = 0;
    vmf_convert_space_needed(tg, r->disk_size, &least, &most);
    check_space(t, "output space", out, r->disk_size, 2 * r->disk_size + most);
    check_space(t, "cache space", cdir, r->disk_size, r->disk_size);
    if (r->iso && !g_file_test(r->iso, G_FILE_TEST_IS_REGULAR))
        line(t, "FAIL", "media", "fix installer iso: in the recipe, or pass --var", "%s: not found",
             r->iso);
    else if (r->iso)
        line(t, "ok", "media", NULL, "%s", r->iso);
    return VMF_EXIT_OK;
}

int vmf_doctor(const VmfDoctorOptions *o)
{
    vmf_signals_install();
    Tally t = {0};
    printf("vmforge doctor: accelerator %s, libvirt %s\n", o->accel,
           o->uri ? o->uri : vmf_virt_default_uri());
    const char *domtype = check_libvirtd(&t, o);
    const char *guest_accel = o->accel;
    if (o->no_guests)
        line(&t, "skip", "accelerator", NULL, "not tried (--no-guests)");
    else if (domtype)
        guest_accel = check_accel(&t, o, domtype);
    if (vmf_interrupted)
        return vmf_signals_exit_code();
    if (o->no_guests)
        line(&t, "skip", "libguestfs", NULL, "not tried (--no-guests)");
    else
        check_guestfs(&t, guest_accel);
    int rc = o->recipe ? check_recipe(&t, o) : VMF_EXIT_OK;
    if (rc)
        return rc;
    if (t.failed)
        printf("%u check%s failed.\n", t.failed, t.failed == 1 ? "" : "s");
    else
        printf("Ready to build%s.\n", t.warned ? " (see the warnings)" : "");
    return t.failed ? VMF_EXIT_FAILURE : VMF_EXIT_OK;
}
