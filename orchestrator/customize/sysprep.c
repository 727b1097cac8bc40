/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "run.h"

#include "util/exit-codes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Removes what `patterns` match (files, links; folders with `dirs`). */
static int remove_globs(CustomizeRun *run, const char *const *patterns, bool dirs, unsigned *count)
{
    for (const char *const *p = patterns; *p; p++) {
        char **paths = guestfs_glob_expand(run->g, *p);
        if (!paths)
            return customize_fail(run, "listing %s", *p);
        for (char **q = paths; *q; q++) {
            int r = dirs ? guestfs_rm_rf(run->g, *q) : guestfs_rm_f(run->g, *q);
            if (r < 0 && guestfs_is_dir(run->g, *q) <= 0) {
                for (char **f = paths; *f; f++)
                    free(*f);
                free(paths);
                return customize_fail(run, "removing %s", *q);
            }
            (*count)++;
        }
        for (char **f = paths; *f; f++)
            free(*f);
        free(paths);
    }
    return 0;
}

static int truncate_logs(CustomizeRun *run, unsigned *count)
{
    if (guestfs_is_dir(run->g, "/var/log") <= 0)
        return 0;
    char **files = guestfs_find(run->g, "/var/log");
    if (!files)
        return customize_fail(run, "listing /var/log");
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
            rc = customize_fail(run, "clearing %s", path);
        (*count)++;
    }
    for (char **f = files; *f; f++)
        free(*f);
    free(files);
    return rc;
}

static const char *const history[] = {"/root/.bash_history",  "/root/.zsh_history",
                                      "/root/.history",       "/home/*/.bash_history",
                                      "/home/*/.zsh_history", NULL};
static const char *const tmp[] = {"/tmp/*", "/var/tmp/*", NULL};
static const char *const leases[] = {"/var/lib/dhcp/*", "/var/lib/dhclient/*",
                                     "/var/lib/NetworkManager/*.lease",
                                     "/var/lib/systemd/netif/leases/*", NULL};
static const char *const rules[] = {"/etc/udev/rules.d/70-persistent-net.rules",
                                    "/etc/udev/rules.d/75-persistent-net-generator.rules", NULL};
static const char *const seeds[] = {"/var/lib/systemd/random-seed", "/var/lib/random-seed",
                                    "/var/lib/urandom/random-seed", NULL};
static const char *const caches[] = {"/var/cache/apt/archives/*.deb",
                                     "/var/cache/apt/*.bin",
                                     "/var/lib/apt/lists/*_*",
                                     "/var/cache/dnf/*",
                                     "/var/cache/yum/*",
                                     NULL};
static const char *const hostkeys[] = {"/etc/ssh/ssh_host_*", NULL};

/* The operations that remove what their patterns match (with folders when
 * `dirs`). */
static const struct {
    VmfSysprep op;
    bool dirs;
    const char *const *patterns;
} removals[] = {
    {VMF_SYSPREP_HISTORY, false, history},    {VMF_SYSPREP_TMP, true, tmp},
    {VMF_SYSPREP_DHCP_LEASES, false, leases}, {VMF_SYSPREP_NET_RULES, false, rules},
    {VMF_SYSPREP_RANDOM_SEED, false, seeds},  {VMF_SYSPREP_PACKAGE_CACHE, true, caches},
};

/* Empty, not removed: systemd then makes a new one at first boot. */
static int machine_id(CustomizeRun *run, unsigned *n)
{
    int rc = 0;
    if (guestfs_is_file(run->g, "/etc/machine-id") > 0) {
        rc = customize_write_file(run, "/etc/machine-id", "");
        (*n)++;
    }
    if (rc == 0 && guestfs_is_file_opts(run->g, "/var/lib/dbus/machine-id",
                                        GUESTFS_IS_FILE_OPTS_FOLLOWSYMLINKS, 0, -1) > 0)
        rc = guestfs_rm(run->g, "/var/lib/dbus/machine-id") < 0
                 ? customize_fail(run, "removing /var/lib/dbus/machine-id")
                 : 0;
    return rc;
}

/* Fedora and EL regenerate missing keys (sshd-keygen); Debian and Ubuntu do
 * not, so a first-boot script does. */
static int ssh_hostkeys(CustomizeRun *run, unsigned *n)
{
    int rc = remove_globs(run, hostkeys, false, n);
    const char *d = vmf_guest_distro(run->guest);
    if (rc == 0 && *n && (!strcmp(d, "debian") || !strcmp(d, "ubuntu")))
        rc = customize_add_firstboot(run, "ssh-hostkeys", "ssh-keygen -A\n");
    return rc;
}

static int sysprep_one(CustomizeRun *run, VmfSysprep op, unsigned *n)
{
    switch (op) {
    case VMF_SYSPREP_MACHINE_ID:
        return machine_id(run, n);
    case VMF_SYSPREP_SSH_HOSTKEYS:
        return ssh_hostkeys(run, n);
    case VMF_SYSPREP_LOGFILES:
        return truncate_logs(run, n);
    default:
        for (size_t i = 0; i < G_N_ELEMENTS(removals); i++)
            if (removals[i].op == op)
                return remove_globs(run, removals[i].patterns, removals[i].dirs, n);
        return 0;
    }
}

int customize_sysprep(CustomizeRun *run, unsigned ops)
{
    for (unsigned bit = 1; bit & VMF_SYSPREP_ALL; bit <<= 1) {
        if (!(ops & bit))
            continue;
        unsigned n = 0;
        int rc = sysprep_one(run, (VmfSysprep)bit, &n);
        if (rc < 0) {
            g_prefix_error(run->error, "sysprep %s: ", vmf_sysprep_name((VmfSysprep)bit));
            return rc;
        }
        customize_say(run, "  sysprep %s: %u item%s", vmf_sysprep_name((VmfSysprep)bit), n,
                      n == 1 ? "" : "s");
    }
    return 0;
}

int vmf_generalize(const char *const *disks, const char *accel, const char *log_path, bool quiet,
                   GError **error)
{
    CustomizeRun run = {.error = error, .quiet = quiet};
    run.log = fopen(log_path, "we");
    if (!run.log) {
        g_set_error(error, vmf_stage_customize_error_quark(), VMF_EXIT_OUTPUT, "%s: %s", log_path,
                    g_strerror(errno));
        return VMF_EXIT_OUTPUT;
    }
    customize_say(&run, "generalize: launching the libguestfs appliance on the backup's overlays");
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
    customize_say(&run, "guest: %s; sysprep (the default set)", vmf_guest_distro(run.guest));
    if (customize_sysprep(&run, VMF_SYSPREP_DEFAULT) < 0)
        rc = VMF_EXIT_GUEST;
out:
    rc = customize_close_guest(&run, rc);
    if (rc != VMF_EXIT_OK)
        customize_say(&run, "failed: %s", error && *error ? (*error)->message : "?");
    fclose(run.log);
    return rc;
}
