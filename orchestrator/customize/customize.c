/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "customize.h"

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

#define FIRSTBOOT_DIR "/usr/lib/vmforge/firstboot"
/* Output of a run: kept in the log whole, shown on failure up to this. */
#define SHOWN_OUTPUT 4000

void vmf_customize_result_clear(VmfCustomizeResult *r)
{
    g_free(r->log);
    memset(r, 0, sizeof(*r));
}

typedef struct {
    const VmfRecipe *r;
    VmfGuest *guest;
    guestfs_h *g;
    FILE *log;
    const VmfCustomize *c;
    unsigned firstboot_seq;
    bool firstboot_installed;
    bool quiet;
    GError **error;
} Run;

static void say(Run *run, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void say(Run *run, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autoptr(GDateTime) now = g_date_time_new_now_local();
    g_autofree char *ts = g_date_time_format(now, "%H:%M:%S");
    if (!run->quiet)
        fprintf(stderr, "%s customize: %s\n", ts, msg);
    if (run->log) {
        fprintf(run->log, "%s %s\n", ts, msg);
        fflush(run->log);
    }
}

/* ---- operations ---------------------------------------------------------------------------- */

static int gfail(Run *run, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static int gfail(Run *run, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return vmf_guest_fail(run->guest, run->error, "%s", what);
}

static int set_owner(Run *run, const char *path, const char *owner)
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
    return guestfs_chown(run->g, uid, gid, path) < 0 ? gfail(run, "chown %s %s", owner, path) : 0;
}

static int file_attrs(Run *run, const VmfOp *op)
{
    if (op->mode >= 0 && guestfs_chmod(run->g, op->mode, op->path) < 0)
        return gfail(run, "chmod %o %s", (unsigned)op->mode, op->path);
    return op->owner ? set_owner(run, op->path, op->owner) : 0;
}

static int write_file(Run *run, const char *path, const char *text)
{
    return guestfs_write(run->g, path, text, strlen(text)) < 0 ? gfail(run, "writing %s", path) : 0;
}

static char *template_text(const char *name, GError **error)
{
    g_autofree char *path = g_build_filename(vmf_templates_dir(), "firstboot", name, NULL);
    char *text = NULL;
    return g_file_get_contents(path, &text, NULL, error) ? text : NULL;
}

/* Installs the first-boot runner (once) and adds a script to it. */
static int add_firstboot(Run *run, const char *name, const char *script)
{
    if (!run->firstboot_installed) {
        g_autofree char *runner = template_text("run.sh", run->error);
        g_autofree char *unit = template_text("vmforge-firstboot.service", run->error);
        if (!runner || !unit)
            return -ENOENT;
        if (guestfs_mkdir_p(run->g, FIRSTBOOT_DIR "/scripts") < 0 ||
            write_file(run, FIRSTBOOT_DIR "/run.sh", runner) < 0 ||
            guestfs_chmod(run->g, 0755, FIRSTBOOT_DIR "/run.sh") < 0 ||
            guestfs_mkdir_p(run->g, "/etc/systemd/system/multi-user.target.wants") < 0 ||
            write_file(run, "/etc/systemd/system/vmforge-firstboot.service", unit) < 0 ||
            guestfs_ln_sf(run->g, "/etc/systemd/system/vmforge-firstboot.service",
                          "/etc/systemd/system/multi-user.target.wants/vmforge-firstboot.service") <
                0)
            return run->error && *run->error ? -EIO
                                             : gfail(run, "installing the first-boot service");
        run->firstboot_installed = true;
    }
    /* Numbered so they run in recipe order. */
    g_autofree char *path =
        g_strdup_printf(FIRSTBOOT_DIR "/scripts/%04u-%s", ++run->firstboot_seq, name);
    if (write_file(run, path, script) < 0)
        return -EIO;
    return guestfs_chmod(run->g, 0755, path) < 0 ? gfail(run, "chmod %s", path) : 0;
}

static int run_script(Run *run, const VmfOp *op, const char *script)
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

static int op_hostname(Run *run, const VmfOp *op)
{
    g_autofree char *line = g_strdup_printf("%s\n", op->text);
    if (write_file(run, "/etc/hostname", line) < 0)
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
    return write_file(run, "/etc/hosts", out->str);
}

static int op_timezone(Run *run, const VmfOp *op)
{
    g_autofree char *zone = g_strdup_printf("/usr/share/zoneinfo/%s", op->text);
    if (guestfs_is_file(run->g, zone) <= 0) {
        g_set_error(run->error, vmf_stage_customize_error_quark(), 1,
                    "the guest has no %s (an unknown zone, or no tzdata)", zone);
        return -ENOENT;
    }
    if (guestfs_ln_sf(run->g, zone, "/etc/localtime") < 0)
        return gfail(run, "linking /etc/localtime");
    g_autofree char *line = g_strdup_printf("%s\n", op->text);
    return guestfs_is_file(run->g, "/etc/timezone") > 0 ? write_file(run, "/etc/timezone", line)
                                                        : 0;
}

static int op_user(Run *run, const VmfOp *op)
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
            return gfail(run, "making %s", ssh);
        if (write_file(run, auth, text) < 0)
            return -EIO;
        if (guestfs_chmod(run->g, 0600, auth) < 0 || guestfs_chown(run->g, uid, gid, auth) < 0)
            return gfail(run, "setting the owner and mode of %s", auth);
    }
    return 0;
}

static int op_selinux(Run *run, const VmfOp *op)
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
        say(run, "  selinux_relabel: the guest has no SELinux enabled; nothing to relabel");
        return 0;
    }
    return guestfs_touch(run->g, "/.autorelabel") < 0 ? gfail(run, "touching /.autorelabel") : 0;
}

static int op_packages(Run *run, const VmfOp *op)
{
    g_autofree char *list = g_strjoinv(" ", op->packages);
    if (!run->c->network) {
        say(run,
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

static int op_delete(Run *run, const VmfOp *op)
{
    if (guestfs_exists(run->g, op->path) <= 0 && guestfs_is_symlink(run->g, op->path) <= 0) {
        say(run, "  delete %s: not there", op->path);
        return 0;
    }
    int r;
    if (op->recursive)
        r = guestfs_rm_rf(run->g, op->path);
    else if (guestfs_is_dir_opts(run->g, op->path, GUESTFS_IS_DIR_OPTS_FOLLOWSYMLINKS, 0, -1) > 0)
        r = guestfs_rmdir(run->g, op->path);
    else
        r = guestfs_rm(run->g, op->path);
    return r < 0 ? gfail(run, "deleting %s (recursive: true removes a folder with its content)",
                         op->path)
                 : 0;
}

static int apply(Run *run, const VmfOp *op)
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
            return gfail(run, "making %s", dir);
        return write_file(run, op->path, op->text) < 0 ? -EIO : file_attrs(run, op);
    }
    case VMF_OP_UPLOAD: {
        g_autofree char *dir = g_path_get_dirname(op->path);
        if (guestfs_mkdir_p(run->g, dir) < 0 || guestfs_upload(run->g, op->src, op->path) < 0)
            return gfail(run, "uploading %s to %s", op->src, op->path);
        return file_attrs(run, op);
    }
    case VMF_OP_MKDIR:
        if (guestfs_mkdir_p(run->g, op->path) < 0)
            return gfail(run, "making %s", op->path);
        return file_attrs(run, op);
    case VMF_OP_CHMOD:
        return guestfs_chmod(run->g, op->mode, op->path) < 0 ? gfail(run, "chmod %s", op->path) : 0;
    case VMF_OP_CHOWN:
        return set_owner(run, op->path, op->owner);
    case VMF_OP_DELETE:
        return op_delete(run, op);
    case VMF_OP_SYMLINK:
        return guestfs_ln_sf(run->g, op->target, op->path) < 0
                   ? gfail(run, "linking %s to %s", op->path, op->target)
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
                   ? gfail(run, "appending to %s", op->path)
                   : 0;
    }
    case VMF_OP_RUN:
        return run_script(run, op, op->text);
    case VMF_OP_FIRSTBOOT:
        return add_firstboot(run, op->name ? op->name : "script", op->text);
    case VMF_OP_SELINUX_RELABEL:
        return op_selinux(run, op);
    case VMF_OP_PACKAGES:
        return op_packages(run, op);
    case VMF_OP_NETWORK:
        return 0; /* applied when the appliance started */
    case VMF_OP_SYSPREP:
        return 0; /* see sysprep() */
    }
    return 0;
}

/* Shuts the appliance down (the disk is complete when that succeeds);
 * returns rc, or VMF_EXIT_FAILURE when closing fails after a success. */
static int close_guest(Run *run, int rc)
{
    if (!run->guest)
        return rc;
    GError *cerr = NULL;
    if (vmf_guest_close(run->guest, rc == VMF_EXIT_OK ? &cerr : NULL) < 0 && rc == VMF_EXIT_OK) {
        g_propagate_error(run->error, cerr);
        rc = VMF_EXIT_FAILURE;
    }
    run->guest = NULL;
    return rc;
}

/* ---- sysprep ------------------------------------------------------------------------------ */

/* Removes what `patterns` match (files, links; folders with `dirs`). */
static int remove_globs(Run *run, const char *const *patterns, bool dirs, unsigned *count)
{
    for (const char *const *p = patterns; *p; p++) {
        char **paths = guestfs_glob_expand(run->g, *p);
        if (!paths)
            return gfail(run, "listing %s", *p);
        for (char **q = paths; *q; q++) {
            int r = dirs ? guestfs_rm_rf(run->g, *q) : guestfs_rm_f(run->g, *q);
            if (r < 0 && guestfs_is_dir(run->g, *q) <= 0) {
                for (char **f = paths; *f; f++)
                    free(*f);
                free(paths);
                return gfail(run, "removing %s", *q);
            }
            (*count)++;
        }
        for (char **f = paths; *f; f++)
            free(*f);
        free(paths);
    }
    return 0;
}

static int truncate_logs(Run *run, unsigned *count)
{
    if (guestfs_is_dir(run->g, "/var/log") <= 0)
        return 0;
    char **files = guestfs_find(run->g, "/var/log");
    if (!files)
        return gfail(run, "listing /var/log");
    int rc = 0;
    for (char **f = files; *f && rc == 0; f++) {
        g_autofree char *path = g_strdup_printf("/var/log/%s", *f);
        if (guestfs_is_file_opts(run->g, path, GUESTFS_IS_FILE_OPTS_FOLLOWSYMLINKS, 0, -1) <= 0)
            continue;
        /* Rotated and journal files go; the others are emptied, keeping their
         * owner and mode for the daemons that write them. */
        bool rotated = g_str_has_suffix(path, ".gz") || g_str_has_suffix(path, ".old") ||
                       g_regex_match_simple("\\.[0-9]+$", path, 0, 0) ||
                       g_str_has_suffix(path, ".journal") || g_str_has_suffix(path, ".journal~");
        rc = rotated ? guestfs_rm(run->g, path) : guestfs_truncate(run->g, path);
        if (rc < 0)
            rc = gfail(run, "clearing %s", path);
        (*count)++;
    }
    for (char **f = files; *f; f++)
        free(*f);
    free(files);
    return rc;
}

static int sysprep(Run *run, unsigned ops)
{
    static const char *const history[] = {"/root/.bash_history",  "/root/.zsh_history",
                                          "/root/.history",       "/home/*/.bash_history",
                                          "/home/*/.zsh_history", NULL};
    static const char *const tmp[] = {"/tmp/*", "/var/tmp/*", NULL};
    static const char *const leases[] = {"/var/lib/dhcp/*", "/var/lib/dhclient/*",
                                         "/var/lib/NetworkManager/*.lease",
                                         "/var/lib/systemd/netif/leases/*", NULL};
    static const char *const rules[] = {"/etc/udev/rules.d/70-persistent-net.rules",
                                        "/etc/udev/rules.d/75-persistent-net-generator.rules",
                                        NULL};
    static const char *const seeds[] = {"/var/lib/systemd/random-seed", "/var/lib/random-seed",
                                        "/var/lib/urandom/random-seed", NULL};
    static const char *const caches[] = {"/var/cache/apt/archives/*.deb",
                                         "/var/cache/apt/*.bin",
                                         "/var/lib/apt/lists/*_*",
                                         "/var/cache/dnf/*",
                                         "/var/cache/yum/*",
                                         NULL};
    static const char *const hostkeys[] = {"/etc/ssh/ssh_host_*", NULL};
    for (unsigned bit = 1; bit & VMF_SYSPREP_ALL; bit <<= 1) {
        if (!(ops & bit))
            continue;
        unsigned n = 0;
        int rc = 0;
        switch ((VmfSysprep)bit) {
        case VMF_SYSPREP_MACHINE_ID:
            /* Empty, not removed: systemd then makes a new one at first boot. */
            if (guestfs_is_file(run->g, "/etc/machine-id") > 0) {
                rc = write_file(run, "/etc/machine-id", "");
                n++;
            }
            if (rc == 0 && guestfs_is_file_opts(run->g, "/var/lib/dbus/machine-id",
                                                GUESTFS_IS_FILE_OPTS_FOLLOWSYMLINKS, 0, -1) > 0)
                rc = guestfs_rm(run->g, "/var/lib/dbus/machine-id") < 0
                         ? gfail(run, "removing /var/lib/dbus/machine-id")
                         : 0;
            break;
        case VMF_SYSPREP_SSH_HOSTKEYS: {
            rc = remove_globs(run, hostkeys, false, &n);
            /* Fedora and EL regenerate missing keys (sshd-keygen); Debian and
             * Ubuntu do not, so a first-boot script does. */
            const char *d = vmf_guest_distro(run->guest);
            if (rc == 0 && n && (!strcmp(d, "debian") || !strcmp(d, "ubuntu")))
                rc = add_firstboot(run, "ssh-hostkeys", "ssh-keygen -A\n");
            break;
        }
        case VMF_SYSPREP_LOGFILES:
            rc = truncate_logs(run, &n);
            break;
        case VMF_SYSPREP_HISTORY:
            rc = remove_globs(run, history, false, &n);
            break;
        case VMF_SYSPREP_TMP:
            rc = remove_globs(run, tmp, true, &n);
            break;
        case VMF_SYSPREP_DHCP_LEASES:
            rc = remove_globs(run, leases, false, &n);
            break;
        case VMF_SYSPREP_NET_RULES:
            rc = remove_globs(run, rules, false, &n);
            break;
        case VMF_SYSPREP_RANDOM_SEED:
            rc = remove_globs(run, seeds, false, &n);
            break;
        case VMF_SYSPREP_PACKAGE_CACHE:
            rc = remove_globs(run, caches, true, &n);
            break;
        default:
            break;
        }
        if (rc < 0) {
            g_prefix_error(run->error, "sysprep %s: ", vmf_sysprep_name((VmfSysprep)bit));
            return rc;
        }
        say(run, "  sysprep %s: %u item%s", vmf_sysprep_name((VmfSysprep)bit), n,
            n == 1 ? "" : "s");
    }
    return 0;
}

/* ---- the HEPiX checks -------------------------------------------------------------------------
 */

static int hepix_check(Run *run)
{
    g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func(g_free);
    char **devices = guestfs_list_devices(run->g);
    if (!devices)
        return gfail(run, "listing the disks");
    char *type = devices[0] ? guestfs_part_get_parttype(run->g, devices[0]) : NULL;
    if (!type)
        g_ptr_array_add(found, g_strdup("no partition table (an MBR is required)"));
    else if (strcmp(type, "msdos") != 0)
        g_ptr_array_add(found,
                        g_strdup_printf("a %s partition table (an MBR, msdos, is required)", type));
    free(type);
    for (char **d = devices; *d; d++)
        free(*d);
    free(devices);
    static const struct {
        char **(*list)(guestfs_h *);
        const char *what;
    } lvm[] = {{guestfs_pvs, "LVM physical volume"},
               {guestfs_vgs, "LVM volume group"},
               {guestfs_lvs, "LVM logical volume"}};
    for (size_t i = 0; i < G_N_ELEMENTS(lvm); i++) {
        char **items = lvm[i].list(run->g);
        if (!items)
            return gfail(run, "listing %ss", lvm[i].what);
        for (char **it = items; *it; it++) {
            g_ptr_array_add(found, g_strdup_printf("%s %s", lvm[i].what, *it));
            free(*it);
        }
        free(items);
    }
    if (!found->len)
        return 0;
    g_ptr_array_add(found, NULL);
    g_autofree char *list = g_strjoinv("; ", (char **)found->pdata);
    g_set_error(run->error, vmf_stage_customize_error_quark(), VMF_EXIT_VERIFY,
                "the image breaks the HEPiX rules (raw disk, MBR partitions, no LVM): %s", list);
    return -EINVAL;
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
        g_autofree char *text = template_text(templates[i], NULL);
        vmf_fp_add(fp, templates[i], text);
    }
    return 0;
}

int vmf_stage_customize(const VmfRecipe *r, const VmfCustomizeOptions *o, VmfCustomizeResult *res,
                        GError **error)
{
    g_autoptr(VmfCustomize) c = vmf_customize_parse(r, error);
    if (!c)
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
    if (g_mkdir_with_parents(o->logdir, 0755) < 0) {
        g_set_error(error, vmf_stage_customize_error_quark(), VMF_EXIT_OUTPUT, "%s: %s", o->logdir,
                    g_strerror(errno));
        return VMF_EXIT_OUTPUT;
    }
    res->log = g_strdup_printf("%s/%s-customize.log", o->logdir, r->name);
    Run run = {.r = r, .c = c, .error = error, .quiet = o->progress == VMF_PROGRESS_QUIET};
    run.log = fopen(res->log, "we");
    if (!run.log) {
        g_set_error(error, vmf_stage_customize_error_quark(), VMF_EXIT_OUTPUT, "%s: %s", res->log,
                    g_strerror(errno));
        return VMF_EXIT_OUTPUT;
    }
    int rc = VMF_EXIT_OK;
    say(&run, "copying %s (the original stays as it is until everything succeeded)", o->disk);
    if (vmf_copy_sparse(o->disk, work, error) < 0) {
        fclose(run.log);
        return VMF_EXIT_OUTPUT;
    }
    say(&run, "launching the libguestfs appliance");
    run.guest = vmf_guest_open(work, o->accel, c->network, error);
    res->launch_seconds = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    if (!run.guest) {
        rc = VMF_EXIT_FAILURE;
        goto out;
    }
    run.g = vmf_guest_handle(run.guest);
    /* The HEPiX rules first: an LVM guest is refused before anything else. */
    if (hepix_check(&run) < 0 || vmf_guest_mount(run.guest, error) < 0) {
        rc = error && *error && (*error)->code == VMF_EXIT_VERIFY ? VMF_EXIT_VERIFY
                                                                  : VMF_EXIT_FAILURE;
        goto out;
    }
    say(&run, "guest: %s (package manager %s)", vmf_guest_distro(run.guest),
        vmf_guest_package_manager(run.guest));
    guint n = c->ops->len;
    for (guint i = 0; i < n; i++) {
        const VmfOp *op = g_ptr_array_index(c->ops, i);
        char buf[120];
        if (vmf_interrupted)
            break;
        say(&run, "[%u/%u] %s %s (line %u)", i + 1, n, vmf_op_name(op->kind),
            op_summary(op, buf, sizeof(buf)), op->line);
        int orc = op->kind == VMF_OP_SYSPREP ? sysprep(&run, op->sysprep) : apply(&run, op);
        if (orc < 0) {
            g_prefix_error(error, "%s:%u: %s: ", r->path, op->line, vmf_op_name(op->kind));
            rc = VMF_EXIT_GUEST;
            goto out;
        }
        res->operations++;
    }
    if (!vmf_interrupted && !c->explicit_sysprep) {
        say(&run, "sysprep (the default set)");
        if (sysprep(&run, VMF_SYSPREP_DEFAULT) < 0) {
            rc = VMF_EXIT_GUEST;
            goto out;
        }
    }
    if (!vmf_interrupted && hepix_check(&run) < 0) {
        rc = VMF_EXIT_VERIFY;
        goto out;
    }
    if (!vmf_interrupted && !o->no_trim) {
        say(&run, "trimming free space (fstrim), so it reads as zeros");
        for (char **mp = vmf_guest_mountpoints(run.guest); mp && *mp; mp++)
            if (guestfs_fstrim(run.g, *mp, -1) < 0)
                say(&run, "  fstrim %s: %s (left as it is)", *mp, guestfs_last_error(run.g));
    }
out:
    rc = close_guest(&run, rc);
    g_autoptr(VmfVerifyAuto) verify = g_new0(VmfVerify, 1);
    if (rc == VMF_EXIT_OK && !vmf_interrupted && !vmf_verify_parse(r, verify, error))
        rc = VMF_EXIT_INPUT;
    if (rc == VMF_EXIT_OK && !vmf_interrupted &&
        (o->boot_check > 0 || (o->boot_check < 0 && verify->boot))) {
        /* Booted on an overlay of the customized copy: the image stays as it is. */
        g_autofree char *blog = g_strdup_printf("%s/%s-boot-console.log", o->logdir, r->name);
        say(&run, "boot check: booting the image until \"%s\" appears (console: %s)",
            verify->marker, blog);
        VmfBootCheck b = {
            .disk = work,
            .name = r->name,
            .uri = o->uri,
            .accel = o->accel,
            .marker = verify->marker,
            .timeout = verify->timeout,
            .vcpus = r->vcpus,
            .memory = r->memory,
            .console_log = blog,
            .quiet = run.quiet,
        };
        rc = vmf_boot_check(&b, &res->boot_seconds, error);
        if (rc == VMF_EXIT_OK)
            say(&run, "boot check: \"%s\" after %.0f s; powered off", verify->marker,
                res->boot_seconds);
    }
    if (vmf_interrupted) {
        /* Whatever the interrupted operation reported, the answer is that it
         * was interrupted. */
        g_clear_error(error);
        rc = VMF_EXIT_OK;
    }
    if (rc == VMF_EXIT_OK && vmf_interrupted) {
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
        say(&run, "failed: %s", error && *error ? (*error)->message : "?");
    }
    res->total_seconds = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    fclose(run.log);
    return rc;
}

int vmf_generalize(const char *const *disks, const char *accel, const char *log_path, bool quiet,
                   GError **error)
{
    Run run = {.error = error, .quiet = quiet};
    run.log = fopen(log_path, "we");
    if (!run.log) {
        g_set_error(error, vmf_stage_customize_error_quark(), VMF_EXIT_OUTPUT, "%s: %s", log_path,
                    g_strerror(errno));
        return VMF_EXIT_OUTPUT;
    }
    say(&run, "generalize: launching the libguestfs appliance on the backup's overlays");
    int rc = VMF_EXIT_OK;
    run.guest = vmf_guest_open_drives(disks, "qcow2", accel, false, error);
    if (!run.guest) {
        rc = VMF_EXIT_FAILURE;
        goto out;
    }
    run.g = vmf_guest_handle(run.guest);
    if (vmf_guest_mount(run.guest, error) < 0) {
        rc = VMF_EXIT_FAILURE;
        goto out;
    }
    say(&run, "guest: %s; sysprep (the default set)", vmf_guest_distro(run.guest));
    if (sysprep(&run, VMF_SYSPREP_DEFAULT) < 0)
        rc = VMF_EXIT_GUEST;
out:
    rc = close_guest(&run, rc);
    if (rc != VMF_EXIT_OK)
        say(&run, "failed: %s", error && *error ? (*error)->message : "?");
    fclose(run.log);
    return rc;
}
