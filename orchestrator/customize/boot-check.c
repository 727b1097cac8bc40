/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "boot-check.h"

#include "util/exit-codes.h"
#include "util/signals.h"
#include "util/util.h"
#include "virt/console.h"
#include "virt/domain-xml.h"
#include "virt/virt.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

G_DEFINE_QUARK(vmf - boot - check - error - quark, vmf_boot_check_error)

/* How long a booted guest gets to power off before it is destroyed (its
 * disk is a throw-away overlay either way). */
#define SHUTDOWN_GRACE 60

int vmf_boot_check(const VmfBootCheck *b, double *seconds, GError **error)
{
    struct stat st;
    const char *input = b->disk ? b->disk : b->kernel;
    if (stat(input, &st) < 0) {
        g_set_error(error, vmf_boot_check_error_quark(), VMF_EXIT_INPUT, "%s: %s", input,
                    g_strerror(errno));
        return VMF_EXIT_INPUT;
    }
    GError *verr = NULL;
    g_autoptr(VmfVirt) v = vmf_virt_open(b->uri, &verr);
    if (!v) {
        int rc = verr->code == 2 ? VMF_EXIT_USAGE : VMF_EXIT_FAILURE;
        g_propagate_error(error, verr);
        return rc;
    }
    const char *type = vmf_virt_domain_type(v, b->accel, error);
    if (!type)
        return VMF_EXIT_USAGE;
    g_autofree char *dir = b->disk ? g_path_get_dirname(b->disk) : g_strdup(g_get_tmp_dir());
    g_autofree char *work = g_strdup_printf("%s/.vmforge-boot-%s-XXXXXX", dir, b->name);
    if (!g_mkdtemp_full(work, 0755)) {
        g_set_error(error, vmf_boot_check_error_quark(), VMF_EXIT_OUTPUT, "%s: %s", dir,
                    g_strerror(errno));
        return VMF_EXIT_OUTPUT;
    }
    const char *suffix = strrchr(work, '-') + 1;
    g_autofree char *pool = g_strdup_printf("vmforge-boot-%s-%s", b->name, suffix);
    g_autofree char *domname = g_strdup_printf("vmforge-boot-%s-%s", b->name, suffix);
    g_autofree char *overlay = NULL;
    g_autofree char *kernel = NULL;
    g_autofree char *xml = NULL;
    g_autoptr(virDomain) dom = NULL;
    g_autoptr(virStream) stream = NULL;
    g_autoptr(VmfConsole) con = NULL;
    VmfConsoleMatch match = {.success = b->marker};
    int rc = VMF_EXIT_FAILURE;
    gint64 t0 = g_get_monotonic_time();
    if (vmf_virt_pool_start(v, pool, work, error) < 0)
        goto out;
    if (b->disk) {
        overlay =
            vmf_virt_overlay_create(v, "boot-overlay.qcow2", b->disk, (uint64_t)st.st_size, error);
    } else {
        /* A copy of the kernel: libvirt relabels what it boots, and the
         * host's own /boot stays untouched. */
        kernel = g_build_filename(work, "vmlinuz", NULL);
        if (vmf_copy_sparse(b->kernel, kernel, error) < 0)
            goto out;
        overlay = vmf_virt_vol_create(v, "empty.raw", 1 << 20, error);
    }
    if (!overlay)
        goto out;
    VmfDomainSpec spec = {
        .name = domname,
        .type = type,
        .vcpus = b->vcpus,
        .memory = b->memory,
        .kernel = kernel,
        .cmdline = b->cmdline,
        .disk = overlay,
        .disk_format = b->disk ? "qcow2" : "raw",
    };
    xml = vmf_domain_xml(&spec);
    if (!(dom = vmf_virt_domain_create_paused(v, xml, error)) ||
        !(stream = vmf_virt_console_open(v, dom, error)))
        goto out;
    if (!(con = vmf_console_start(stream, b->console_log, false, &match, error))) {
        rc = VMF_EXIT_OUTPUT;
        goto out;
    }
    if (vmf_virt_domain_resume(dom, error) < 0)
        goto out;
    for (;;) {
        g_auto(VmfConsoleState) s = {0};
        vmf_console_state(con, &s);
        if (s.success) {
            rc = VMF_EXIT_OK;
            break;
        }
        if (vmf_interrupted) {
            rc = vmf_signals_exit_code();
            g_set_error(error, vmf_boot_check_error_quark(), rc,
                        "interrupted during the boot check");
            break;
        }
        if (!vmf_virt_domain_running(dom)) {
            /* What it printed last may still be on its way to the reader. */
            vmf_console_stop(con, 2);
            vmf_console_state_clear(&s);
            vmf_console_state(con, &s);
            if (s.success) {
                rc = VMF_EXIT_OK;
                break;
            }
            rc = VMF_EXIT_GUEST;
            g_set_error(error, vmf_boot_check_error_quark(), rc,
                        "the image stopped before \"%s\" appeared on its console", b->marker);
            break;
        }
        if (g_get_monotonic_time() - t0 > (gint64)b->timeout * G_USEC_PER_SEC) {
            rc = VMF_EXIT_GUEST;
            g_set_error(error, vmf_boot_check_error_quark(), rc,
                        "\"%s\" did not appear on the console within %u s", b->marker, b->timeout);
            break;
        }
        g_usleep(500 * 1000);
    }
    *seconds = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
out:
    if (dom) {
        if (rc == VMF_EXIT_OK && !b->destroy)
            vmf_virt_domain_shutdown(dom, SHUTDOWN_GRACE);
        vmf_virt_domain_destroy(dom);
    }
    if (con) {
        vmf_console_stop(con, 10);
        if (rc != VMF_EXIT_OK && !vmf_interrupted && !b->quiet)
            vmf_console_print_tail(con, "the booted image's");
    }
    vmf_virt_close(g_steal_pointer(&v));
    vmf_remove_workdir(work);
    return rc;
}
