/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guest.h — the libguestfs adapter: one appliance launched for a disk, the
 * guest's file systems mounted by inspection, and libguestfs's errors
 * translated here, once, into GErrors. Nothing here prints.
 */
#pragma once

#include <glib.h>
#include <guestfs.h>
#include <stdbool.h>
#include <stdint.h>

GQuark vmf_guest_error_quark(void);

typedef struct VmfGuest VmfGuest;

/* Launches the appliance on `disk` (raw). `accel` "tcg" forces TCG, "kvm"
 * and "auto" leave the choice to libguestfs. `network` gives the appliance
 * QEMU user-mode networking. */
VmfGuest *vmf_guest_open(const char *disk, const char *accel, bool network, GError **error);
/* The same with several disks of one guest, all in `format` ("raw", "qcow2"). */
VmfGuest *vmf_guest_open_drives(const char *const *disks, const char *format, const char *accel,
                                bool network, GError **error);
/* Creates a qcow2 overlay at `path` whose backing file is `backing` (in
 * `backing_format`), without launching an appliance. */
int vmf_guest_overlay_create(const char *path, const char *backing, const char *backing_format,
                             GError **error);
/* Creates a qcow2 image of `size` bytes at `path` (-1: the backing file's
 * size), backed by `backing` (NULL: none; a relative name is resolved from
 * `path`'s folder, where it must exist), without launching an appliance. */
int vmf_guest_qcow2_create(const char *path, int64_t size, const char *backing,
                           const char *backing_format, GError **error);
/* Inspects the disk and mounts the guest's file systems (read-write). */
int vmf_guest_mount(VmfGuest *g, GError **error);
/* Unmounts, flushes and shuts the appliance down; the disk is complete when
 * this returns 0. Frees `g` either way. */
int vmf_guest_close(VmfGuest *g, GError **error);
void vmf_guest_free(VmfGuest *g);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfGuest, vmf_guest_free)

guestfs_h *vmf_guest_handle(VmfGuest *g);

/* Launches an appliance on a scratch disk and shuts it down: can this host
 * run libguestfs with `accel`? */
int vmf_guest_probe(const char *accel, GError **error);

/* libguestfs's version ("1.48.6"), without launching anything; g_free. */
char *vmf_guest_library_version(void);
/* Inspection results ("debian", "fedora", "rhel"...; "apt", "dnf"...). */
const char *vmf_guest_distro(VmfGuest *g);
const char *vmf_guest_package_manager(VmfGuest *g);
/* Mount points, longest last ("/", "/boot"...). */
char **vmf_guest_mountpoints(VmfGuest *g);

/* Sets *error to "WHAT: <libguestfs's last error>". Returns -EIO. */
int vmf_guest_fail(VmfGuest *g, GError **error, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* Runs `script` with /bin/sh in the guest; *output gets its stdout and
 * stderr together, *status its exit status. Returns 0, or -EIO when it could
 * not be run at all. */
int vmf_guest_run(VmfGuest *g, const char *script, char **output, int *status, GError **error);

/* uid and gid of USER (and of GROUP) from the guest's /etc/passwd and
 * /etc/group; home directory too. Returns 0 or -ENOENT. */
int vmf_guest_lookup_user(VmfGuest *g, const char *user, int *uid, int *gid, char **home);
int vmf_guest_lookup_group(VmfGuest *g, const char *group, int *gid);
/* Replaces USER's password field in /etc/shadow with `hash`. */
int vmf_guest_set_password_hash(VmfGuest *g, const char *user, const char *hash, GError **error);
