/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "run.h"

#include "recipe/secrets.h"
#include "util/exit-codes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Output of a run: kept in the log whole, shown on failure up to this. */
#define SHOWN_OUTPUT 4000

static int set_owner(CustomizeRun *run, const char *path, const char *owner)
{
    g_auto(GStrv) ug = g_strsplit(owner, ":", 2);
    int uid = 0, gid = 0, ugid = 0;
    if (vmf_guest_lookup_user(run->guest, ug[0], &uid, &ugid, NULL) < 0) {
        g_set_error(run->error, vmf_stage_customize_error_quark(), 1,
                    "no user %s in the guest's /etc/passwd", ug[0]);
        return -ENOENT;
    }
    gid = ugid;
    if (ug[1] && vmf_guest_lookup_group(run->guest, ug[1], &gid) < 0) {
        g_set_error(run->error, vmf_stage_customize_error_quark(), 1,
                    "no group %s in the guest's /etc/group", ug[1]);
        return -ENOENT;
    }
    return guestfs_chown(run->g, uid, gid, path) < 0
               ? customize_fail(run, "chown %s %s", owner, path)
               : 0;
}

static int file_attrs(CustomizeRun *run, const VmfOp *op)
{
    if (op->mode >= 0 && guestfs_chmod(run->g, op->mode, op->path) < 0)
        return customize_fail(run, "chmod %o %s", (unsigned)op->mode, op->path);
    return op->owner ? set_owner(run, op->path, op->owner) : 0;
}

static int run_script(CustomizeRun *run, const VmfOp *op, const char *script)
{
    g_autofree char *out = NULL;
    int status = 0;
    int rc = vmf_guest_run(run->guest, script, &out, &status, run->error);
    if (rc < 0)
        return rc;
    if (run->log && out[0])
        fprintf(run->log, "%s%s", out, g_str_has_suffix(out, "\n") ? "" : "\n");
    if (status != 0) {
        size_t len = strlen(out);
        g_set_error(run->error, vmf_stage_customize_error_quark(), 1,
                    "exited with status %d; its output%s:\n%s", status,
                    len > SHOWN_OUTPUT ? " (last part; all of it in the log)" : "",
                    len > SHOWN_OUTPUT ? out + len - SHOWN_OUTPUT : out);
        return -EIO;
    }
    (void)op;
    return 0;
}

static int op_hostname(CustomizeRun *run, const VmfOp *op)
{
    g_autofree char *line = g_strdup_printf("%s\n", op->text);
    if (customize_write_file(run, "/etc/hostname", line) < 0)
        return -EIO;
    /* /etc/hosts: the 127.0.1.1 line names the host (Debian's convention). */
    g_autofree char *hosts = NULL;
    if (guestfs_is_file(run->g, "/etc/hosts") > 0) {
        size_t len = 0;
        char *data = guestfs_read_file(run->g, "/etc/hosts", &len);
        hosts = data ? g_strndup(data, len) : NULL;
        free(data);
    }
    g_autoptr(GString) out = g_string_new(NULL);
    bool done = false;
    g_auto(GStrv) lines = g_strsplit(hosts ? hosts : "127.0.0.1\tlocalhost\n", "\n", -1);
    for (char **l = lines; *l; l++) {
        if (!*l[0] && !l[1])
            break;
        if (g_str_has_prefix(*l, "127.0.1.1")) {
            g_string_append_printf(out, "127.0.1.1\t%s\n", op->text);
            done = true;
        } else {
            g_string_append_printf(out, "%s\n", *l);
        }
    }
    if (!done)
        g_string_append_printf(out, "127.0.1.1\t%s\n", op->text);
    return customize_write_file(run, "/etc/hosts", out->str);
}

static int op_timezone(CustomizeRun *run, const VmfOp *op)
{
    g_autofree char *zone = g_strdup_printf("/usr/share/zoneinfo/%s", op->text);
    if (guestfs_is_file(run->g, zone) <= 0) {
        g_set_error(run->error, vmf_stage_customize_error_quark(), 1,
                    "the guest has no %s (an unknown zone, or no tzdata)", zone);
        return -ENOENT;
    }
    if (guestfs_ln_sf(run->g, zone, "/etc/localtime") < 0)
        return customize_fail(run, "linking /etc/localtime");
    g_autofree char *line = g_strdup_printf("%s\n", op->text);
    return guestfs_is_file(run->g, "/etc/timezone") > 0
               ? customize_write_file(run, "/etc/timezone", line)
               : 0;
}

static int op_user(CustomizeRun *run, const VmfOp *op)
{
    int uid, gid;
    g_autofree char *home = NULL;
    if (vmf_guest_lookup_user(run->guest, op->name, &uid, &gid, NULL) < 0) {
        g_autoptr(GString) cmd = g_string_new("useradd -m");
        /* useradd refuses to make a user group that exists already (Debian
         * has "operator", "backup", "list"...): that group becomes the
         * user's primary group, as useradd itself suggests. */
        int existing_gid;
        if (vmf_guest_lookup_group(run->guest, op->name, &existing_gid) == 0)
            g_string_append_printf(cmd, " -g '%s'", op->name);
        if (op->shell)
            g_string_append_printf(cmd, " -s '%s'", op->shell);
        if (op->groups && op->groups[0]) {
            g_autofree char *csv = g_strjoinv(",", op->groups);
            g_string_append_printf(cmd, " -G '%s'", csv);
        }
        g_string_append_printf(cmd, " '%s'", op->name);
        if (run_script(run, op, cmd->str) < 0)
            return -EIO;
    } else if (op->groups && op->groups[0]) {
        g_autofree char *csv = g_strjoinv(",", op->groups);
        g_autofree char *cmd = g_strdup_printf("usermod -a -G '%s' '%s'", csv, op->name);
        if (run_script(run, op, cmd) < 0)
            return -EIO;
    }
    if (vmf_guest_lookup_user(run->guest, op->name, &uid, &gid, &home) < 0) {
        g_set_error(run->error, vmf_stage_customize_error_quark(), 1,
                    "user %s is not in /etc/passwd after useradd", op->name);
        return -ENOENT;
    }
    if (op->src) {
        g_autofree char *hash = vmf_secret_hash_password_file(op->src, NULL, run->error);
        if (!hash || vmf_guest_set_password_hash(run->guest, op->name, hash, run->error) < 0)
            return -EIO;
    }
    if (op->keys && op->keys[0]) {
        g_autofree char *ssh = g_strdup_printf("%s/.ssh", home);
        g_autofree char *auth = g_strdup_printf("%s/authorized_keys", ssh);
        g_autofree char *joined = g_strjoinv("\n", op->keys);
        g_autofree char *text = g_strdup_printf("%s\n", joined);
        if (guestfs_mkdir_p(run->g, ssh) < 0 || guestfs_chmod(run->g, 0700, ssh) < 0 ||
            guestfs_chown(run->g, uid, gid, ssh) < 0)
            return customize_fail(run, "making %s", ssh);
        if (customize_write_file(run, auth, text) < 0)
            return -EIO;
        if (guestfs_chmod(run->g, 0600, auth) < 0 || guestfs_chown(run->g, uid, gid, auth) < 0)
            return customize_fail(run, "setting the owner and mode of %s", auth);
    }
    return 0;
}

static int op_selinux(CustomizeRun *run, const VmfOp *op)
{
    if (!op->flag)
        return 0;
    size_t len = 0;
    char *cfg = guestfs_is_file(run->g, "/etc/selinux/config") > 0
                    ? guestfs_read_file(run->g, "/etc/selinux/config", &len)
                    : NULL;
    g_autofree char *text = cfg ? g_strndup(cfg, len) : NULL;
    free(cfg);
    if (!text || strstr(text, "\nSELINUX=disabled") || g_str_has_prefix(text, "SELINUX=disabled")) {
        customize_say(run,
                      "  selinux_relabel: the guest has no SELinux enabled; nothing to relabel");
        return 0;
    }
    return guestfs_touch(run->g, "/.autorelabel") < 0
               ? customize_fail(run, "touching /.autorelabel")
               : 0;
}

static int op_packages(CustomizeRun *run, const VmfOp *op)
{
    g_autofree char *list = g_strjoinv(" ", op->packages);
    if (!run->c->network) {
        customize_say(
            run,
            "  packages %s: skipped: the appliance has no network (add \"- network: true\" "
            "to customize: on a host whose guests may reach a package mirror)",
            list);
        return 0;
    }
    const char *pm = vmf_guest_package_manager(run->guest);
    g_autofree char *cmd = NULL;
    if (!strcmp(pm, "apt"))
        cmd = g_strdup_printf("export DEBIAN_FRONTEND=noninteractive; apt-get update && apt-get "
                              "install -y --no-install-recommends %s",
                              list);
    else if (!strcmp(pm, "dnf") || !strcmp(pm, "yum"))
        cmd = g_strdup_printf("%s install -y %s", pm, list);
    else if (!strcmp(pm, "zypper"))
        cmd = g_strdup_printf("zypper -n install %s", list);
    else {
        g_set_error(run->error, vmf_stage_customize_error_quark(), 1,
                    "the guest's package manager (%s) is not one vmforge drives", pm);
        return -ENOTSUP;
    }
    return run_script(run, op, cmd);
}

static int op_delete(CustomizeRun *run, const VmfOp *op)
{
    if (guestfs_exists(run->g, op->path) <= 0 && guestfs_is_symlink(run->g, op->path) <= 0) {
        customize_say(run, "  delete %s: not there", op->path);
        return 0;
    }
    int r;
    if (op->recursive)
        r = guestfs_rm_rf(run->g, op->path);
    else if (guestfs_is_dir_opts(run->g, op->path, GUESTFS_IS_DIR_OPTS_FOLLOWSYMLINKS, 0, -1) > 0)
        r = guestfs_rmdir(run->g, op->path);
    else
        r = guestfs_rm(run->g, op->path);
    return r < 0 ? customize_fail(run,
                                  "deleting %s (recursive: true removes a folder with its content)",
                                  op->path)
                 : 0;
}

int customize_apply(CustomizeRun *run, const VmfOp *op)
{
    switch (op->kind) {
    case VMF_OP_HOSTNAME:
        return op_hostname(run, op);
    case VMF_OP_TIMEZONE:
        return op_timezone(run, op);
    case VMF_OP_ROOT_PASSWORD: {
        g_autofree char *hash = vmf_secret_hash_password_file(op->src, NULL, run->error);
        return hash ? vmf_guest_set_password_hash(run->guest, "root", hash, run->error) : -EIO;
    }
    case VMF_OP_USER:
        return op_user(run, op);
    case VMF_OP_WRITE: {
        g_autofree char *dir = g_path_get_dirname(op->path);
        if (guestfs_mkdir_p(run->g, dir) < 0)
            return customize_fail(run, "making %s", dir);
        return customize_write_file(run, op->path, op->text) < 0 ? -EIO : file_attrs(run, op);
    }
    case VMF_OP_UPLOAD: {
        g_autofree char *dir = g_path_get_dirname(op->path);
        if (guestfs_mkdir_p(run->g, dir) < 0 || guestfs_upload(run->g, op->src, op->path) < 0)
            return customize_fail(run, "uploading %s to %s", op->src, op->path);
        return file_attrs(run, op);
    }
    case VMF_OP_MKDIR:
        if (guestfs_mkdir_p(run->g, op->path) < 0)
            return customize_fail(run, "making %s", op->path);
        return file_attrs(run, op);
    case VMF_OP_CHMOD:
        return guestfs_chmod(run->g, op->mode, op->path) < 0
                   ? customize_fail(run, "chmod %s", op->path)
                   : 0;
    case VMF_OP_CHOWN:
        return set_owner(run, op->path, op->owner);
    case VMF_OP_DELETE:
        return op_delete(run, op);
    case VMF_OP_SYMLINK:
        return guestfs_ln_sf(run->g, op->target, op->path) < 0
                   ? customize_fail(run, "linking %s to %s", op->path, op->target)
                   : 0;
    case VMF_OP_APPEND_LINE: {
        g_autofree char *text = g_strdup_printf("%s\n", op->text);
        /* A file that does not end with a newline gets one first. */
        if (guestfs_is_file(run->g, op->path) > 0 && guestfs_filesize(run->g, op->path) > 0) {
            size_t len = 0;
            char *last =
                guestfs_pread(run->g, op->path, 1, guestfs_filesize(run->g, op->path) - 1, &len);
            if (last && len == 1 && last[0] != '\n') {
                g_free(text);
                text = g_strdup_printf("\n%s\n", op->text);
            }
            free(last);
        }
        return guestfs_write_append(run->g, op->path, text, strlen(text)) < 0
                   ? customize_fail(run, "appending to %s", op->path)
                   : 0;
    }
    case VMF_OP_RUN:
        return run_script(run, op, op->text);
    case VMF_OP_FIRSTBOOT:
        return customize_add_firstboot(run, op->name ? op->name : "script", op->text);
    case VMF_OP_SELINUX_RELABEL:
        return op_selinux(run, op);
    case VMF_OP_PACKAGES:
        return op_packages(run, op);
    case VMF_OP_NETWORK:
        return 0; /* applied when the appliance started */
    case VMF_OP_CLOUD_INIT:
        return customize_cloud_init(run, op);
    case VMF_OP_SYSPREP:
        return 0; /* see customize_sysprep() */
    }
    return 0;
}
