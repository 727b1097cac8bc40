/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "boot-check.h"

#include "util/exit-codes.h"
#include "util/signals.h"
#include "util/util.h"
#include "virt/console.h"
#include "virt/domain-xml.h"
#include "virt/runs.h"
#include "virt/storage.h"
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
    bool host;   /* volumes in a pool of the host, uploaded */
    VmfRun *run; /* what the boot makes there, recorded first */
    VmfPool *pool;
    char *name;          /* of the pool, the domain and (on a host) the volumes' prefix */
    char *work;          /* the local pool's folder */
    char *disk, *kernel; /* what boots, on the host */
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
    vmf_pool_free(bt->pool);
    vmf_run_free(bt->run);
    vmf_virt_close(bt->v);
    if (bt->work)
        vmf_remove_workdir(bt->work);
    g_free(bt->name);
    g_free(bt->work);
    g_free(bt->disk);
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
    if (!*type)
        return VMF_EXIT_USAGE;
    vmf_runs_clean(bt->v, NULL);
    bt->run = vmf_run_begin(bt->v, bt->error);
    return bt->run ? 0 : VMF_EXIT_OUTPUT;
}

/* vmforge's own pool on a work folder beside the disk (or in the temporary
 * folder for a kernel), named after it; or the host's pool. */
static int boot_pool(Boot *bt)
{
    const VmfBootCheck *b = bt->b;
    if (bt->host) {
        bt->name = g_strdup_printf("vmforge-boot-%s-%s", b->name, vmf_run_id(bt->run));
        bt->pool = vmf_pool_for_run(bt->v, b->pool, b->remote_dir, bt->name, bt->run, bt->error);
        return bt->pool ? 0 : VMF_EXIT_INPUT;
    }
    g_autofree char *dir = b->disk ? g_path_get_dirname(b->disk) : g_strdup(g_get_tmp_dir());
    char *work = g_strdup_printf("%s/.vmforge-boot-%s-XXXXXX", dir, b->name);
    if (!g_mkdtemp_full(work, 0755)) {
        g_free(work);
        g_set_error(bt->error, vmf_boot_check_error_quark(), VMF_EXIT_OUTPUT, "%s: %s", dir,
                    g_strerror(errno));
        return VMF_EXIT_OUTPUT;
    }
    vmf_run_add(bt->run, VMF_RUN_FOLDER, NULL, work);
    bt->work = work;
    bt->name = g_strdup_printf("vmforge-boot-%s-%s", b->name, strrchr(work, '-') + 1);
    vmf_run_add(bt->run, VMF_RUN_LOCAL_POOL, NULL, bt->name);
    bt->pool = vmf_pool_local(bt->v, bt->name, work, bt->error);
    return bt->pool ? 0 : VMF_EXIT_FAILURE;
}

/* On a host: the local file uploaded (sparsely) into NAME-WHAT. */
static char *boot_upload(Boot *bt, const char *what, const char *path)
{
    g_autofree char *vol = g_strdup_printf("%s-%s", bt->name, what);
    vmf_run_add(bt->run, VMF_RUN_VOLUME, vmf_pool_name(bt->pool), vol);
    VmfTransfer t = {.cancel = &vmf_interrupted};
    return vmf_vol_upload_file(bt->pool, vol, path, &t, bt->error);
}

/* What the domain boots: a throw-away qcow2 overlay on the disk (a copy of
 * it on a host); or, to boot a kernel, a copy of it (libvirt relabels what
 * it boots, and this machine's /boot stays untouched) and an empty disk. */
static int boot_volumes(Boot *bt, uint64_t disk_size)
{
    const VmfBootCheck *b = bt->b;
    if (b->disk && bt->host)
        bt->disk = boot_upload(bt, "disk.raw", b->disk);
    else if (b->disk)
        bt->disk = vmf_vol_overlay(bt->pool, "boot-overlay.qcow2", b->disk, disk_size, bt->error);
    if (b->disk)
        return bt->disk ? 0 : VMF_EXIT_FAILURE;
    if (bt->host) {
        bt->kernel = boot_upload(bt, "vmlinuz", b->kernel);
    } else {
        bt->kernel = g_build_filename(bt->work, "vmlinuz", NULL);
        if (vmf_copy_sparse(b->kernel, bt->kernel, bt->error) < 0)
            g_clear_pointer(&bt->kernel, g_free);
    }
    if (!bt->kernel)
        return VMF_EXIT_FAILURE;
    g_autofree char *empty =
        bt->host ? g_strdup_printf("%s-empty.raw", bt->name) : g_strdup("empty.raw");
    if (bt->host)
        vmf_run_add(bt->run, VMF_RUN_VOLUME, vmf_pool_name(bt->pool), empty);
    bt->disk = vmf_vol_create(bt->pool, empty, 1 << 20, bt->error);
    return bt->disk ? 0 : VMF_EXIT_FAILURE;
}

/* A UEFI boot's NVRAM file, in the boot's own folder (on a host: a volume
 * of the run, removed with it). */
static char *boot_nvram(Boot *bt)
{
    if (!bt->b->efi)
        return NULL;
    g_autofree char *vol = g_strdup_printf("%s-VARS.fd", bt->name);
    return vmf_run_nvram_path(bt->run, bt->host ? bt->pool : NULL, bt->work, vol);
}

/* Defined paused, its console read from the start, then running. */
static int boot_start(Boot *bt, const char *type, const VmfConsoleMatch *match)
{
    const VmfBootCheck *b = bt->b;
    g_autofree char *nvram = boot_nvram(bt);
    VmfDomainSpec spec = {
        .name = bt->name,
        .type = type,
        .vcpus = b->vcpus,
        .memory = b->memory,
        .kernel = bt->kernel,
        .cmdline = b->cmdline,
        .disk = bt->disk,
        .disk_format = b->disk && !bt->host ? "qcow2" : "raw",
        .efi = b->efi,
        .nvram = nvram,
    };
    g_autofree char *xml = vmf_domain_xml(&spec);
    vmf_run_add(bt->run, VMF_RUN_DOMAIN, NULL, bt->name);
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
    /* What it booted on a host goes; the run's record with it. */
    if (bt->host && bt->pool) {
        static const char *const what[] = {"disk.raw", "vmlinuz", "empty.raw", "VARS.fd"};
        vmf_pool_refresh(bt->pool); /* the NVRAM file is libvirt's, not a volume vmforge made */
        for (size_t i = 0; i < G_N_ELEMENTS(what); i++) {
            g_autofree char *vol = g_strdup_printf("%s-%s", bt->name, what[i]);
            vmf_vol_delete(bt->pool, vol);
        }
    }
    vmf_pool_free(g_steal_pointer(&bt->pool));
    if (bt->run && vmf_virt_alive(bt->v))
        vmf_run_end(bt->run);
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
    g_auto(Boot)
        bt = {.b = b, .error = error, .host = vmf_pool_on_host(b->uri, b->pool, b->remote_dir)};
    const char *type = NULL;
    int rc = boot_connect(&bt, &type);
    if (rc)
        return rc;
    VmfConsoleMatch match = {.success = b->marker};
    gint64 t0 = g_get_monotonic_time();
    if (!(rc = boot_pool(&bt)) && !(rc = boot_volumes(&bt, (uint64_t)st.st_size))) {
        if (!(rc = boot_start(&bt, type, &match))) {
            rc = wait_marker(&bt, t0);
            *seconds = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
        }
    }
    boot_end(&bt, rc);
    return rc;
}
