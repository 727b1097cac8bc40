/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virt.h — the libvirt adapter: a connection, a directory storage pool the
 * build owns (its disk and injected media are volumes of it, so the same code
 * can later serve remote hosts through volume upload), transient domains and
 * their serial console. libvirt's errors are translated here, once, into
 * GErrors that name the object; nothing here prints.
 */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <stdint.h>

GQuark vmf_virt_error_quark(void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(virConnect, virConnectClose)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virDomain, virDomainFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virStream, virStreamFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virStoragePool, virStoragePoolFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virStorageVol, virStorageVolFree)

typedef struct VmfVirt VmfVirt;

/* The URI used when none is given: $LIBVIRT_DEFAULT_URI, else qemu:///system
 * for root and qemu:///session for others. */
const char *vmf_virt_default_uri(void);

/* Connects to `uri` (NULL = the default). Remote URIs (a host, or an ssh/tcp/
 * tls transport) are refused for now: the disk and media are local files. */
VmfVirt *vmf_virt_open(const char *uri, GError **error);
void vmf_virt_close(VmfVirt *v);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfVirt, vmf_virt_close)
virConnectPtr vmf_virt_conn(VmfVirt *v);
const char *vmf_virt_uri(VmfVirt *v);
/* "libvirt 9.0.0, QEMU 7.2.0" */
char *vmf_virt_versions(VmfVirt *v);
/* The libvirt daemon's and the hypervisor's versions ("9.0.0"), g_free. */
void vmf_virt_version_parts(VmfVirt *v, char **libvirt, char **qemu);

/* Resolves --accel: "kvm" or "tcg" are checked against the host's domain
 * capabilities, "auto" picks kvm when the host offers it. Returns the libvirt
 * domain type ("kvm" or "qemu") or NULL with *error. */
const char *vmf_virt_domain_type(VmfVirt *v, const char *accel, GError **error);

/* Creates a transient directory pool `name` on `dir` (an existing, empty
 * folder) owned by this connection's build; vmf_virt_close destroys it. */
int vmf_virt_pool_start(VmfVirt *v, const char *name, const char *dir, GError **error);
/* Creates a raw volume of `capacity` bytes (sparse) in the pool and returns
 * its path (g_free). */
char *vmf_virt_vol_create(VmfVirt *v, const char *name, uint64_t capacity, GError **error);

/* Creates a qcow2 volume whose backing file is the raw disk `backing`, so a
 * guest can run on it and leave `backing` as it was. Returns its path. */
char *vmf_virt_overlay_create(VmfVirt *v, const char *name, const char *backing, uint64_t capacity,
                              GError **error);
/* Asks the guest to power off (ACPI) and waits up to `seconds` for it;
 * destroys it after that. Returns true when it powered off by itself. */
bool vmf_virt_domain_shutdown(virDomainPtr dom, unsigned seconds);

/* Uploads into a new volume of exactly `size` bytes: begin, write pieces,
 * finish (returns the volume's path) or abort. */
typedef struct VmfUpload VmfUpload;
VmfUpload *vmf_virt_upload_begin(VmfVirt *v, const char *name, uint64_t size, GError **error);
int vmf_upload_write(VmfUpload *u, const void *buf, size_t len, GError **error);
char *vmf_upload_finish(VmfUpload *u, GError **error);
void vmf_upload_abort(VmfUpload *u);

/* Starts a transient domain from `xml`, paused, so its console can be opened
 * before the guest prints anything. */
virDomainPtr vmf_virt_domain_create_paused(VmfVirt *v, const char *xml, GError **error);
int vmf_virt_domain_resume(virDomainPtr dom, GError **error);
/* Opens the domain's serial console as a blocking stream. */
virStreamPtr vmf_virt_console_open(VmfVirt *v, virDomainPtr dom, GError **error);
typedef enum {
    VMF_STOP_NONE,      /* no stop seen */
    VMF_STOP_POWEROFF,  /* the guest powered off (ACPI/shutdown) */
    VMF_STOP_DESTROYED, /* virDomainDestroy, by vmforge or anyone */
    VMF_STOP_CRASHED,
    VMF_STOP_FAILED,
    VMF_STOP_OTHER,
} VmfStopReason;

/* Follows `dom`'s lifecycle events (one domain per connection at a time), so
 * a guest that powered off can be told from one destroyed by someone else. */
int vmf_virt_watch_domain(VmfVirt *v, virDomainPtr dom, GError **error);
VmfStopReason vmf_virt_stop_reason(VmfVirt *v);
const char *vmf_stop_reason_text(VmfStopReason r);

/* 1 while the domain runs, 0 once it is gone or shut off. */
int vmf_virt_domain_running(virDomainPtr dom);
/* Bytes read + written by the domain's disk `dev` so far (0 when unknown). */
uint64_t vmf_virt_domain_io(virDomainPtr dom, const char *dev);
/* 0, or the guest is paused on a disk write error (QEMU stops a guest on
 * ENOSPC): -ENOSPC when libvirt says the disk ran out of space, else -EIO. */
int vmf_virt_domain_io_error(virDomainPtr dom);
/* Destroys the domain if it still runs (a transient domain then vanishes). */
void vmf_virt_domain_destroy(virDomainPtr dom);

/* The host address of libvirt network `name` (its first IPv4 <ip>), for
 * serving files to guests on it. */
char *vmf_virt_network_address(VmfVirt *v, const char *name, GError **error);

/* The message of libvirt's last error on this thread. */
const char *vmf_virt_last_error(void);
