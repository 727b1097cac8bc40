/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fleet.h — `vmforge build` of many recipes over several libvirt hosts: each
 * recipe is one `vmforge build` process (its outputs in OUT/NAME/, its log in
 * OUT/NAME/logs/build.log); the fleet places each install on a host with
 * room for it, runs the local work (customize, convert, publish) in a
 * bounded pool, builds a base disk shared by several recipes once, retries a
 * build whose host went down once on another host, and writes
 * OUT/fleet-report.json.
 */
#pragma once

#include "build/build.h"

#include <glib.h>
#include <stdbool.h>

typedef struct {
    char **recipes;
    const char *hosts_file; /* --hosts, or: */
    char **uris;            /* --connect, repeated */
    unsigned jobs;          /* -j: local work at once; 0: the CPU count */
    /* What every build gets: recipe and uri unused, outdir the fleet's. */
    VmfBuildOptions build;
    bool publish, force_publish;
} VmfFleetOptions;

/* Returns the exit status: 0 when every build succeeded, else the first
 * failed build's (or 128 + signal when interrupted). */
int vmf_fleet(const VmfFleetOptions *o);
