/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virt.h — the libvirt adapter: a connection to any libvirt URI, local or
 * remote (qemu+ssh, qemu+tcp, qemu+tls), with keepalive and reconnection;
 * transient domains, their events and serial console. Storage on the host
 * is storage.h's. libvirt's errors are translated here, once, into GErrors
 * that name the object and the host; nothing here prints.
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

/* Connects to `uri` (NULL = the default) with libvirt's own credentials
 * (ssh keys and agent, SASL, TLS certificates), asking for a password only
 * on a terminal, and keepalive (a dead host is noticed within about 30 s). */
VmfVirt *vmf_virt_open(const char *uri, GError **error);
void vmf_virt_close(VmfVirt *v);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfVirt, vmf_virt_close)
virConnectPtr vmf_virt_conn(VmfVirt *v);
const char *vmf_virt_uri(VmfVirt *v);
/* True for a URI with a host or a network transport (qemu+ssh://h/system),
 * false for qemu:///system and qemu+unix:///system. */
bool vmf_virt_uri_is_remote(const char *uri);
bool vmf_virt_is_remote(VmfVirt *v);
/* The host for messages: the URI's host name, or "this host". */
const char *vmf_virt_host(VmfVirt *v);
/* The transport: unix, ssh, tcp, tls, libssh, libssh2, ext. */
const char *vmf_virt_transport(VmfVirt *v);
/* "libvirt 9.0.0, QEMU 7.2.0" */
char *vmf_virt_versions(VmfVirt *v);
/* The libvirt daemon's and the hypervisor's versions ("9.0.0"), g_free. */
void vmf_virt_version_parts(VmfVirt *v, char **libvirt, char **qemu);

/* What a host has: its CPUs and memory (virNodeGetInfo), and the memory
 * free now (virNodeGetFreeMemory), in bytes. */
typedef struct {
    unsigned cpus;
    uint64_t memory, free_memory;
} VmfNodeInfo;
int vmf_virt_node_info(VmfVirt *v, VmfNodeInfo *out, GError **error);

/* The connection still answers. */
bool vmf_virt_alive(VmfVirt *v);
/* The connection answers a call now: after a signal, the ssh process of a
 * qemu+ssh connection may be gone while libvirt has not noticed yet. */
bool vmf_virt_ping(VmfVirt *v);
/* How it was lost (keepalive, closed, I/O error), for messages. */
const char *vmf_virt_lost_reason(VmfVirt *v);
/* Connects again to the same URI, trying for up to `seconds`. Domains,
 * streams and event callbacks of the old connection are gone: look them up
 * again (pools do so by themselves). */
int vmf_virt_reconnect(VmfVirt *v, unsigned seconds, GError **error);
/* Bumped by every reconnect. */
unsigned vmf_virt_generation(VmfVirt *v);

/* Bytes of volume data sent to and received from the host so far. */
void vmf_virt_count(VmfVirt *v, uint64_t sent, uint64_t received);
void vmf_virt_bytes(VmfVirt *v, uint64_t *sent, uint64_t *received);

/* Sets *error to "WHAT: libvirt's last error". */
void vmf_virt_error(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Resolves --accel: "kvm" or "tcg" are checked against the host's domain
 * capabilities, "auto" picks kvm when the host offers it. Returns the libvirt
 * domain type ("kvm" or "qemu") or NULL with *error. */
const char *vmf_virt_domain_type(VmfVirt *v, const char *accel, GError **error);

/* Asks the guest to power off (ACPI) and waits up to `seconds` for it;
 * destroys it after that. Returns true when it powered off by itself. */
bool vmf_virt_domain_shutdown(virDomainPtr dom, unsigned seconds);

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

/* 1 while the domain runs, 0 once it is gone or shut off (or the
 * connection is: tell them apart with vmf_virt_alive). */
int vmf_virt_domain_running(virDomainPtr dom);
/* The domain of this connection with the given UUID (after a reconnect). */
virDomainPtr vmf_virt_domain_lookup(VmfVirt *v, const unsigned char *uuid);
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
