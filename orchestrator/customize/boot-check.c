/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "boot-check.h"

#include "util/exit-codes.h"
#include "util/signals.h"
#include "util/util.h"
#include "virt/console.h"
#include "virt/domain-xml.h"
#include "virt/virt.h"

#include <errno.h>
#include <stdarg.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

G_DEFINE_QUARK(vmf - boot - check - error - quark, vmf_boot_check_error)

/* How long a booted guest gets to power off before it is destroyed (its
 * disk is a throw-away overlay either way). */
#define SHUTDOWN_GRACE 60

/* One boot: what it made, removed whatever happens (boot_clear). */
typedef struct {
    const VmfBootCheck *b;
    GError **error;
    VmfVirt *v;
    char *work; /* the pool's folder */
    char *overlay, *kernel;
    virDomainPtr dom;
    virStreamPtr stream;
    VmfConsole *con;
} Boot;

static void boot_clear(Boot *bt)
{
    vmf_console_free(bt->con);
    if (bt->stream)
        virStreamFree(bt->stream);
    if (bt->dom)
        virDomainFree(bt->dom);
    vmf_virt_close(bt->v);
    if (bt->work)
        vmf_remove_workdir(bt->work);
    g_free(bt->work);
    g_free(bt->overlay);
    g_free(bt->kernel);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Boot, boot_clear)

static int boot_connect(Boot *bt, const char **type)
{
    GError *verr = NULL;
    bt->v = vmf_virt_open(bt->b->uri, &verr);
    if (!bt->v) {
        int rc = verr->code == 2 ? VMF_EXIT_USAGE : VMF_EXIT_FAILURE;
        g_propagate_error(bt->error, verr);
        return rc;
    }
    *type = vmf_virt_domain_type(bt->v, bt->b->accel, bt->error);
    return *type ? 0 : VMF_EXIT_USAGE;
}

/* The work folder (beside the disk, or in the temporary folder for a
 * kernel) and the transient pool on it, named after it. */
static int boot_pool(Boot *bt, const char **suffix)
{
    const VmfBootCheck *b = bt->b;
    g_autofree char *dir = b->disk ? g_path_get_dirname(b->disk) : g_strdup(g_get_tmp_dir());
    char *work = g_strdup_printf("%s/.vmforge-boot-%s-XXXXXX", dir, b->name);
    if (!g_mkdtemp_full(work, 0755)) {
        g_free(work);
        g_set_error(bt->error, vmf_boot_check_error_quark(), VMF_EXIT_OUTPUT, "%s: %s", dir,
                    g_strerror(errno));
        return VMF_EXIT_OUTPUT;
    }
    bt->work = work;
    *suffix = strrchr(work, '-') + 1;
    g_autofree char *pool = g_strdup_printf("vmforge-boot-%s-%s", b->name, *suffix);
    return vmf_virt_pool_start(bt->v, pool, work, bt->error) < 0 ? VMF_EXIT_FAILURE : 0;
}

/* What the domain boots: a throw-away qcow2 overlay on the disk; or, to
 * boot a kernel, a copy of it (libvirt relabels what it boots, and the
 * host's own /boot stays untouched) and an empty disk. */
static int boot_volumes(Boot *bt, uint64_t disk_size)
{
    const VmfBootCheck *b = bt->b;
    if (b->disk) {
        bt->overlay =
            vmf_virt_overlay_create(bt->v, "boot-overlay.qcow2", b->disk, disk_size, bt->error);
    } else {
        bt->kernel = g_build_filename(bt->work, "vmlinuz", NULL);
        if (vmf_copy_sparse(b->kernel, bt->kernel, bt->error) < 0)
            return VMF_EXIT_FAILURE;
        bt->overlay = vmf_virt_vol_create(bt->v, "empty.raw", 1 << 20, bt->error);
    }
    return bt->overlay ? 0 : VMF_EXIT_FAILURE;
}

/* Defined paused, its console read from the start, then running. */
static int boot_start(Boot *bt, const char *type, const char *suffix, const VmfConsoleMatch *match)
{
    const VmfBootCheck *b = bt->b;
    g_autofree char *domname = g_strdup_printf("vmforge-boot-%s-%s", b->name, suffix);
    VmfDomainSpec spec = {
        .name = domname,
        .type = type,
        .vcpus = b->vcpus,
        .memory = b->memory,
        .kernel = bt->kernel,
        .cmdline = b->cmdline,
        .disk = bt->overlay,
        .disk_format = b->disk ? "qcow2" : "raw",
    };
    g_autofree char *xml = vmf_domain_xml(&spec);
    if (!(bt->dom = vmf_virt_domain_create_paused(bt->v, xml, bt->error)) ||
        !(bt->stream = vmf_virt_console_open(bt->v, bt->dom, bt->error)))
        return VMF_EXIT_FAILURE;
    bt->con = vmf_console_start(bt->stream, b->console_log, false, match, bt->error);
    if (!bt->con)
        return VMF_EXIT_OUTPUT;
    return vmf_virt_domain_resume(bt->dom, bt->error) < 0 ? VMF_EXIT_FAILURE : 0;
}

static int boot_fail(Boot *bt, int rc, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static int boot_fail(Boot *bt, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(bt->error, vmf_boot_check_error_quark(), rc, msg);
    return rc;
}

/* Until the marker appears on the console (VMF_EXIT_OK), the guest stops,
 * the time is up or a signal arrives. */
static int wait_marker(Boot *bt, gint64 t0)
{
    const VmfBootCheck *b = bt->b;
    for (;; g_usleep(500 * 1000)) {
        g_auto(VmfConsoleState) s = {0};
        vmf_console_state(bt->con, &s);
        if (s.success)
            return VMF_EXIT_OK;
        if (vmf_interrupted)
            return boot_fail(bt, vmf_signals_exit_code(), "interrupted during the boot check");
        if (!vmf_virt_domain_running(bt->dom)) {
            /* What it printed last may still be on its way to the reader. */
            vmf_console_stop(bt->con, 2);
            vmf_console_state_clear(&s);
            vmf_console_state(bt->con, &s);
            if (s.success)
                return VMF_EXIT_OK;
            return boot_fail(bt, VMF_EXIT_GUEST,
                             "the image stopped before \"%s\" appeared on its console", b->marker);
        }
        if (g_get_monotonic_time() - t0 > (gint64)b->timeout * G_USEC_PER_SEC)
            return boot_fail(bt, VMF_EXIT_GUEST, "\"%s\" did not appear on the console within %u s",
                             b->marker, b->timeout);
    }
}

/* Powered off after a success (destroyed when it does not, or otherwise);
 * the console's tail shown after a failure. */
static void boot_end(Boot *bt, int rc)
{
    if (bt->dom) {
        if (rc == VMF_EXIT_OK && !bt->b->destroy)
            vmf_virt_domain_shutdown(bt->dom, SHUTDOWN_GRACE);
        vmf_virt_domain_destroy(bt->dom);
    }
    if (bt->con) {
        vmf_console_stop(bt->con, 10);
        if (rc != VMF_EXIT_OK && !vmf_interrupted && !bt->b->quiet)
            vmf_console_print_tail(bt->con, "the booted image's");
    }
}

int vmf_boot_check(const VmfBootCheck *b, double *seconds, GError **error)
{
    struct stat st;
    const char *input = b->disk ? b->disk : b->kernel;
    if (stat(input, &st) < 0) {
        g_set_error(error, vmf_boot_check_error_quark(), VMF_EXIT_INPUT, "%s: %s", input,
                    g_strerror(errno));
        return VMF_EXIT_INPUT;
    }
    g_auto(Boot) bt = {.b = b, .error = error};
    const char *type = NULL, *suffix = NULL;
    int rc = boot_connect(&bt, &type);
    if (rc)
        return rc;
    VmfConsoleMatch match = {.success = b->marker};
    gint64 t0 = g_get_monotonic_time();
    if (!(rc = boot_pool(&bt, &suffix)) && !(rc = boot_volumes(&bt, (uint64_t)st.st_size))) {
        if (!(rc = boot_start(&bt, type, suffix, &match))) {
            rc = wait_marker(&bt, t0);
            *seconds = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
        }
    }
    boot_end(&bt, rc);
    return rc;
}
