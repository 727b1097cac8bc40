/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "customize.h"
#include "run.h"

#include "boot-check.h"
#include "guestfs/guest.h"
#include "recipe/customize-ops.h"
#include "recipe/secrets.h"
#include "util/exit-codes.h"
#include "util/fingerprint.h"
#include "util/signals.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

G_DEFINE_QUARK(vmf - stage - customize - error - quark, vmf_stage_customize_error)

/* A VmfVerify on the heap, freed with its fields. */
typedef VmfVerify VmfVerifyAuto;
static void verify_free(VmfVerifyAuto *v)
{
    vmf_verify_clear(v);
    g_free(v);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfVerifyAuto, verify_free)

void vmf_customize_result_clear(VmfCustomizeResult *r)
{
    g_free(r->log);
    memset(r, 0, sizeof(*r));
}

/* ---- the stage ---------------------------------------------------------------------------------
 */

static const char *op_summary(const VmfOp *op, char *buf, size_t len)
{
    const char *what = op->path                             ? op->path
                       : op->name                           ? op->name
                       : op->kind == VMF_OP_RUN && !op->src ? op->text
                       : op->src                            ? op->src
                                                            : op->text;
    g_snprintf(buf, len, "%s", what ? what : "");
    char *nl = strchr(buf, '\n');
    if (nl)
        strcpy(nl, " ...");
    return buf;
}

int vmf_customize_fingerprint(const VmfRecipe *r, VmfFingerprint *fp, GError **error)
{
    g_autoptr(VmfCustomize) c = vmf_customize_parse(r, error);
    if (!c)
        return VMF_EXIT_INPUT;
    for (guint i = 0; i < c->ops->len; i++) {
        const VmfOp *op = g_ptr_array_index(c->ops, i);
        vmf_fp_add(fp, "op", vmf_op_name(op->kind));
        vmf_fp_add(fp, "path", op->path);
        vmf_fp_add(fp, "text", op->text);
        vmf_fp_add(fp, "target", op->target);
        vmf_fp_add(fp, "owner", op->owner);
        vmf_fp_add_u64(fp, "mode", (uint64_t)(int64_t)op->mode);
        vmf_fp_add_u64(fp, "recursive", op->recursive);
        vmf_fp_add(fp, "name", op->name);
        vmf_fp_add(fp, "shell", op->shell);
        if (op->kind == VMF_OP_CLOUD_INIT)
            customize_cloud_init_fingerprint(fp, r, op);
        vmf_fp_add_u64(fp, "sysprep", op->sysprep);
        vmf_fp_add_u64(fp, "flag", op->flag);
        char **lists[] = {op->groups, op->keys, op->packages};
        for (size_t l = 0; l < G_N_ELEMENTS(lists); l++)
            for (char **x = lists[l]; x && *x; x++)
                vmf_fp_add(fp, "item", *x);
        if (!op->src)
            continue;
        if (op->kind == VMF_OP_ROOT_PASSWORD || op->kind == VMF_OP_USER) {
            /* A password enters the key only as a salted yescrypt hash. */
            g_autofree char *hash = vmf_secret_hash_password_file(op->src, fp->salt, error);
            if (!hash)
                return VMF_EXIT_INPUT;
            vmf_fp_add(fp, "password", hash);
        } else {
            if (vmf_fp_add_file(fp, "file", op->src, error) < 0)
                return VMF_EXIT_INPUT;
        }
    }
    if (!c->explicit_sysprep)
        vmf_fp_add_u64(fp, "default-sysprep", VMF_SYSPREP_DEFAULT);
    /* What the first-boot runner installs into the guest. */
    static const char *const templates[] = {"run.sh", "vmforge-firstboot.service"};
    for (size_t i = 0; i < G_N_ELEMENTS(templates); i++) {
        g_autofree char *text = customize_template_text(templates[i], NULL);
        vmf_fp_add(fp, templates[i], text);
    }
    return 0;
}

/* The log (LOGDIR/NAME-customize.log) of the run. */
static int open_log(CustomizeRun *run, const VmfCustomizeOptions *o, VmfCustomizeResult *res)
{
    if (g_mkdir_with_parents(o->logdir, 0755) < 0) {
        g_set_error(run->error, vmf_stage_customize_error_quark(), VMF_EXIT_OUTPUT, "%s: %s",
                    o->logdir, g_strerror(errno));
        return VMF_EXIT_OUTPUT;
    }
    res->log = g_strdup_printf("%s/%s-customize.log", o->logdir, run->r->name);
    run->log = fopen(res->log, "we");
    if (!run->log) {
        g_set_error(run->error, vmf_stage_customize_error_quark(), VMF_EXIT_OUTPUT, "%s: %s",
                    res->log, g_strerror(errno));
        return VMF_EXIT_OUTPUT;
    }
    return 0;
}

/* The recipe's operations, in order; counted in res->operations. */
static int apply_list(CustomizeRun *run, VmfCustomizeResult *res)
{
    guint n = run->c->ops->len;
    for (guint i = 0; i < n && !vmf_interrupted; i++) {
        const VmfOp *op = g_ptr_array_index(run->c->ops, i);
        char buf[120];
        customize_say(run, "[%u/%u] %s %s (line %u)", i + 1, n, vmf_op_name(op->kind),
                      op_summary(op, buf, sizeof(buf)), op->line);
        int orc = op->kind == VMF_OP_SYSPREP ? customize_sysprep(run, op->sysprep)
                                             : customize_apply(run, op);
        if (orc < 0) {
            g_prefix_error(run->error, "%s:%u: %s: ", run->r->path, op->line,
                           vmf_op_name(op->kind));
            return VMF_EXIT_GUEST;
        }
        res->operations++;
    }
    return VMF_EXIT_OK;
}

/* Discards free space in every mounted file system, so it reads as zeros
 * (and converts to nothing). A file system that cannot is left as it is. */
static void trim(CustomizeRun *run)
{
    customize_say(run, "trimming free space (fstrim), so it reads as zeros");
    for (char **mp = vmf_guest_mountpoints(run->guest); mp && *mp; mp++)
        if (guestfs_fstrim(run->g, *mp, -1) < 0)
            customize_say(run, "  fstrim %s: %s (left as it is)", *mp, guestfs_last_error(run->g));
}

/* One appliance launch on `work`: the HEPiX rules (an LVM guest is refused
 * before anything else), the operations, the default sysprep unless the
 * list has its own, the HEPiX rules again, fstrim. */
static int customize_guest(CustomizeRun *run, const VmfCustomizeOptions *o, const char *work,
                           VmfCustomizeResult *res, gint64 t0)
{
    GError **error = run->error;
    customize_say(run, "launching the libguestfs appliance");
    run->guest = vmf_guest_open(work, o->accel, run->c->network, error);
    res->launch_seconds = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    if (!run->guest)
        return VMF_EXIT_FAILURE;
    run->g = vmf_guest_handle(run->guest);
    if (!run->hepix)
        customize_say(run, "HEPiX rules: not checked (the recipe's verify: hepix: false)");
    if ((run->hepix && customize_hepix_check(run) < 0) || vmf_guest_mount(run->guest, error) < 0)
        return error && *error && (*error)->code == VMF_EXIT_VERIFY ? VMF_EXIT_VERIFY
                                                                    : VMF_EXIT_FAILURE;
    customize_say(run, "guest: %s (package manager %s)", vmf_guest_distro(run->guest),
                  vmf_guest_package_manager(run->guest));
    int rc = apply_list(run, res);
    if (rc)
        return rc;
    if (!vmf_interrupted && !run->c->explicit_sysprep) {
        customize_say(run, "sysprep (the default set)");
        if (customize_sysprep(run, VMF_SYSPREP_DEFAULT) < 0)
            return VMF_EXIT_GUEST;
    }
    if (!vmf_interrupted && run->hepix && customize_hepix_check(run) < 0)
        return VMF_EXIT_VERIFY;
    if (!vmf_interrupted && !o->no_trim)
        trim(run);
    return VMF_EXIT_OK;
}

/* The boot check, when the options or the recipe's verify: boot ask for
 * it: booted on an overlay of the customized copy, which stays as it is. */
static int boot_check(CustomizeRun *run, const VmfCustomizeOptions *o, const char *work,
                      VmfCustomizeResult *res)
{
    const VmfRecipe *r = run->r;
    g_autoptr(VmfVerifyAuto) verify = g_new0(VmfVerify, 1);
    if (!vmf_verify_parse(r, verify, run->error))
        return VMF_EXIT_INPUT;
    if (!(o->boot_check > 0 || (o->boot_check < 0 && verify->boot)))
        return VMF_EXIT_OK;
    g_autofree char *blog = g_strdup_printf("%s/%s-boot-console.log", o->logdir, r->name);
    customize_say(run, "boot check: booting the image until \"%s\" appears (console: %s)",
                  verify->marker, blog);
    VmfBootCheck b = {
        .disk = work,
        .efi = vmf_recipe_efi(r),
        .name = r->name,
        .uri = o->uri,
        .pool = o->pool,
        .remote_dir = o->remote_dir,
        .accel = o->accel,
        .marker = verify->marker,
        .timeout = verify->timeout,
        .vcpus = r->vcpus,
        .memory = r->memory,
        .console_log = blog,
        .quiet = run->quiet,
    };
    int rc = vmf_boot_check(&b, &res->boot_seconds, run->error);
    if (rc == VMF_EXIT_OK)
        customize_say(run, "boot check%s: \"%s\" after %.0f s; powered off", b.efi ? " (UEFI)" : "",
                      verify->marker, res->boot_seconds);
    if (rc == VMF_EXIT_OK && r->firmware == VMF_FIRMWARE_BOTH) {
        /* One disk for both: it must also boot with BIOS. */
        double seconds = 0;
        g_autofree char *bios_log =
            g_strdup_printf("%s/%s-boot-console-bios.log", o->logdir, r->name);
        b.efi = false;
        b.console_log = bios_log;
        rc = vmf_boot_check(&b, &seconds, run->error);
        if (rc == VMF_EXIT_OK)
            customize_say(run, "boot check (BIOS): \"%s\" after %.0f s; powered off",
                          verify->marker, seconds);
    }
    return rc;
}

/* The customized copy replaces the disk, or is removed. Whatever an
 * interrupted operation reported, the answer is that it was interrupted. */
static int customize_finish(CustomizeRun *run, int rc, const VmfCustomizeOptions *o,
                            const char *work)
{
    GError **error = run->error;
    if (vmf_interrupted) {
        g_clear_error(error);
        g_set_error(error, vmf_stage_customize_error_quark(), vmf_signals_exit_code(),
                    "interrupted; %s is unchanged", o->disk);
        rc = vmf_signals_exit_code();
    }
    if (rc == VMF_EXIT_OK && g_rename(work, o->disk) < 0) {
        g_set_error(error, vmf_stage_customize_error_quark(), VMF_EXIT_OUTPUT, "%s: %s", o->disk,
                    g_strerror(errno));
        rc = VMF_EXIT_OUTPUT;
    }
    if (rc != VMF_EXIT_OK) {
        g_unlink(work);
        customize_say(run, "failed: %s", error && *error ? (*error)->message : "?");
    }
    return rc;
}

int vmf_stage_customize(const VmfRecipe *r, const VmfCustomizeOptions *o, VmfCustomizeResult *res,
                        GError **error)
{
    g_autoptr(VmfCustomize) c = vmf_customize_parse(r, error);
    g_autoptr(VmfVerifyAuto) verify = g_new0(VmfVerify, 1);
    if (!c || !vmf_verify_parse(r, verify, error))
        return VMF_EXIT_INPUT;
    if (!g_file_test(o->disk, G_FILE_TEST_IS_REGULAR)) {
        g_set_error(error, vmf_stage_customize_error_quark(), VMF_EXIT_INPUT, "%s: no such disk",
                    o->disk);
        return VMF_EXIT_INPUT;
    }
    gint64 t0 = g_get_monotonic_time();
    g_autofree char *dir = g_path_get_dirname(o->disk);
    g_autofree char *base = g_path_get_basename(o->disk);
    g_autofree char *work = g_strdup_printf("%s/.%s.customize-%d", dir, base, getpid());
    CustomizeRun run = {.r = r,
                        .c = c,
                        .error = error,
                        .quiet = o->progress == VMF_PROGRESS_QUIET,
                        .hepix = verify->hepix};
    int rc = open_log(&run, o, res);
    if (rc)
        return rc;
    customize_say(&run, "copying %s (the original stays as it is until everything succeeded)",
                  o->disk);
    if (vmf_copy_sparse(o->disk, work, error) < 0) {
        fclose(run.log);
        return VMF_EXIT_OUTPUT;
    }
    rc = customize_close_guest(&run, customize_guest(&run, o, work, res, t0));
    if (rc == VMF_EXIT_OK && !vmf_interrupted)
        rc = boot_check(&run, o, work, res);
    rc = customize_finish(&run, rc, o, work);
    res->total_seconds = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    fclose(run.log);
    return rc;
}
