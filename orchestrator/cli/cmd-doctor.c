/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd-doctor.c — `vmforge doctor [RECIPE]`: can this host build? One line per
 * check, each failure with its fix: libvirtd answers; the accelerator really
 * runs a guest (a KVM that hangs guests, as on some nested hosts, is caught
 * and TCG suggested); libguestfs launches; the output folder and the cache
 * have room for the recipe.
 */
#include "build/cache.h"
#include "build/convert.h"
#include "commands.h"
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

int vmf_cmd_doctor(int argc, char **argv)
{
    g_auto(GStrv) rest = NULL;
    g_auto(GStrv) vars = NULL;
    g_autofree char *outdir = NULL, *accel = NULL, *uri = NULL, *cache = NULL;
    gboolean no_guests = FALSE;
    GOptionEntry entries[] = {
        {"output", 'o', 0, G_OPTION_ARG_FILENAME, &outdir,
         "The output folder a build would use, for the space check (default: .)", "DIR"},
        {"var", 0, 0, G_OPTION_ARG_STRING_ARRAY, &vars, "Set a recipe variable", "NAME=VALUE"},
        {"accel", 0, 0, G_OPTION_ARG_STRING, &accel,
         "Accelerator to check: auto, kvm or tcg (default: $VMFORGE_ACCEL or auto)",
         "auto|kvm|tcg"},
        {"connect", 'c', 0, G_OPTION_ARG_STRING, &uri,
         "libvirt URI (default: $LIBVIRT_DEFAULT_URI, qemu:///system as root)", "URI"},
        {"cache-dir", 0, 0, G_OPTION_ARG_FILENAME, &cache,
         "Base-disk cache (default: $VMFORGE_CACHE_DIR, else ~/.cache/vmforge)", "DIR"},
        {"no-guests", 0, 0, G_OPTION_ARG_NONE, &no_guests,
         "Skip the checks that start a guest (the accelerator and libguestfs)", NULL},
        {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("[RECIPE]");
    g_option_context_set_summary(
        ctx, "Check that this host can build: libvirtd answers; the accelerator really runs\n"
             "a guest (the host's kernel is booted until its banner appears, so a KVM that\n"
             "hangs guests is caught); the libguestfs appliance launches; and, given a\n"
             "RECIPE, the output folder and cache have room for it. One line per check,\n"
             "with a fix for each failure. Exit status 0 when nothing failed, 1 otherwise.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) err = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        vmf_error(CMD, "%s (see vmforge doctor --help)", err->message);
        return VMF_EXIT_USAGE;
    }
    if (rest && rest[0] && rest[1]) {
        vmf_error(CMD, "give at most one recipe");
        return VMF_EXIT_USAGE;
    }
    const char *acc = vmf_cli_accel(CMD, accel);
    if (!acc)
        return VMF_EXIT_USAGE;
    vmf_signals_install();
    Tally t = {0};
    printf("vmforge doctor: accelerator %s, libvirt %s\n", acc, uri ? uri : vmf_virt_default_uri());

    /* libvirtd */
    g_autoptr(VmfVirt) v = vmf_virt_open(uri, &err);
    const char *domtype = NULL;
    if (!v) {
        line(&t, "FAIL", "libvirtd",
             "start it: virtlogd -d && libvirtd -d (scripts/start-libvirtd.sh does both and "
             "waits), or give --connect URI",
             "%s", err->message);
        g_clear_error(&err);
    } else {
        g_autofree char *versions = vmf_virt_versions(v);
        line(&t, "ok", "libvirtd", NULL, "%s answers (%s)", vmf_virt_uri(v), versions);
        domtype = vmf_virt_domain_type(v, acc, &err);
        if (!domtype) {
            line(&t, "FAIL", "accelerator", "use --accel tcg (or VMFORGE_ACCEL=tcg)", "%s",
                 err->message);
            g_clear_error(&err);
        }
    }
    g_clear_pointer(&v, vmf_virt_close);

    /* The accelerator, by booting a guest with it. */
    const char *guest_accel = acc;
    if (domtype && !no_guests) {
        g_autofree char *kernel = host_kernel();
        const char *kind = strcmp(domtype, "kvm") == 0 ? "kvm" : "tcg";
        double secs = 0;
        g_autofree char *why = NULL;
        if (!kernel) {
            line(&t, "warn", "accelerator", "install a kernel (apt-get install linux-image-amd64)",
                 "%s: not tried, no kernel in /boot to boot", kind);
        } else if (accel_runs(uri, kind, kernel, &secs, &why)) {
            line(&t, "ok", "accelerator", NULL,
                 "%s runs guests (a kernel printed \"%s\" after "
                 "%.1f s)",
                 kind, ACCEL_MARKER, secs);
            guest_accel = kind;
        } else if (vmf_interrupted) {
            return vmf_signals_exit_code();
        } else if (strcmp(kind, "kvm") == 0) {
            g_autofree char *why2 = NULL;
            bool tcg = accel_runs(uri, "tcg", kernel, &secs, &why2);
            line(&t, "FAIL", "accelerator",
                 tcg ? "use --accel tcg (or VMFORGE_ACCEL=tcg): TCG runs guests here, slower"
                     : "check libvirtd's and QEMU's logs (/var/log/libvirt/qemu/)",
                 "kvm: a guest did not run (%s); KVM is offered but broken here (it hangs or "
                 "crashes guests, as on some nested hosts)%s",
                 why, tcg ? "; tcg works" : "; tcg failed too");
            guest_accel = tcg ? "tcg" : kind;
        } else {
            line(&t, "FAIL", "accelerator",
                 "check libvirtd's and QEMU's logs (/var/log/libvirt/qemu/)", "tcg: %s", why);
        }
    } else if (no_guests) {
        line(&t, "skip", "accelerator", NULL, "not tried (--no-guests)");
    }

    /* libguestfs */
    if (!no_guests && !vmf_interrupted) {
        gint64 t0 = g_get_monotonic_time();
        g_autofree char *ver = vmf_guest_library_version();
        if (vmf_guest_probe(guest_accel, &err) == 0)
            line(&t, "ok", "libguestfs", NULL, "the appliance launched in %.1f s (libguestfs %s%s)",
                 (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC, ver,
                 strcmp(guest_accel, "tcg") == 0 ? ", force_tcg" : "");
        else
            line(&t, "FAIL", "libguestfs",
                 "run libguestfs-test-tool for details; it needs supermin and a kernel in /boot "
                 "(apt-get install libguestfs-tools linux-image-amd64)",
                 "%s", err->message);
        g_clear_error(&err);
    } else if (no_guests) {
        line(&t, "skip", "libguestfs", NULL, "not tried (--no-guests)");
    }

    /* Space for the recipe. */
    if (rest && rest[0]) {
        int status = 0;
        g_autoptr(VmfRecipe) r = vmf_cli_recipe(CMD, rest[0], vars, &status);
        if (!r)
            return status;
        g_autoptr(VmfTargets) tg = vmf_targets_parse(r, vmf_templates_dir(), &err);
        if (!tg) {
            vmf_error(CMD, "%s", err->message);
            return VMF_EXIT_INPUT;
        }
        g_autofree char *out = g_canonicalize_filename(outdir ? outdir : ".", NULL);
        g_autofree char *cdir = vmf_cache_default_dir(cache);
        /* The install writes at most the whole disk; customize works on a
         * copy; every target is at most the disk's data. */
        uint64_t least = 0, most = 0;
        vmf_convert_space_needed(tg, r->disk_size, &least, &most);
        check_space(&t, "output space", out, r->disk_size, 2 * r->disk_size + most);
        check_space(&t, "cache space", cdir, r->disk_size, r->disk_size);
        if (r->iso && !g_file_test(r->iso, G_FILE_TEST_IS_REGULAR))
            line(&t, "FAIL", "media", "fix installer iso: in the recipe, or pass --var",
                 "%s: not found", r->iso);
        else if (r->iso)
            line(&t, "ok", "media", NULL, "%s", r->iso);
    }
    if (t.failed)
        printf("%u check%s failed.\n", t.failed, t.failed == 1 ? "" : "s");
    else
        printf("Ready to build%s.\n", t.warned ? " (see the warnings)" : "");
    return t.failed ? VMF_EXIT_FAILURE : VMF_EXIT_OK;
}
