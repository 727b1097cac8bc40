/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hosts.h — the fleet's libvirt hosts: from hosts.yaml or --connect, their
 * limits (installs and guest memory at once, the pool for the volumes),
 * what libvirt says they have, and which are down.
 */
#pragma once

#include "virt/virt.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

GQuark vmf_fleet_error_quark(void);

typedef struct {
    char *uri;
    char *name;        /* for messages and the status lines: the URI's host */
    char *pool;        /* NULL: the command line's --pool or --remote-dir */
    unsigned installs; /* at once; 0 in the file: from the host's CPUs */
    uint64_t memory;   /* installer domains' memory at once; 0: from the host's */
    unsigned line;     /* hosts.yaml's line, 0 for --connect */
    /* What the run knows of it. */
    VmfVirt *v;
    VmfNodeInfo node;
    bool down;
    char *down_reason;
    unsigned running; /* installs placed there now */
    uint64_t placed_memory;
    unsigned placed; /* installs placed there in the run */
} VmfFleetHost;

/* hosts.yaml: `hosts:` (or the document itself) is a list of URIs or of
 * mappings {uri, installs, memory, pool}. Errors name FILE:LINE:COLUMN. */
GPtrArray *vmf_fleet_hosts_load(const char *path, GError **error);
/* One host per URI of --connect, no limits of their own. */
GPtrArray *vmf_fleet_hosts_from_uris(char **uris);
/* Connects to every host and reads its CPUs and memory; the limits not
 * given come from them. A host that does not answer is marked down. */
void vmf_fleet_hosts_probe(GPtrArray *hosts);
/* Whether an installer domain of `memory` bytes may start on `h` now:
 * under its limits, and that much memory free (asked now). A host whose
 * connection is gone and does not come back is marked down. */
bool vmf_fleet_host_has_room(VmfFleetHost *h, uint64_t memory);
/* Whether it could ever take one (its memory limit). */
bool vmf_fleet_host_fits(const VmfFleetHost *h, uint64_t memory);
void vmf_fleet_host_mark_down(VmfFleetHost *h, const char *why);
/* "installs 1, memory 3.5 GiB" */
char *vmf_fleet_host_limits(const VmfFleetHost *h);
