/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fleet-link.h — a build run by `vmforge build` over a fleet of hosts
 * (fleet/) tells the fleet what it is doing, and asks it for a slot of the
 * local pool before its local work (customize, convert, publish). The fleet
 * passes a socket as $VMFORGE_FLEET_FD; without it every call does nothing.
 *
 * The lines sent, one per event:
 *   stage NAME       a stage began (install, import, customize, convert, publish)
 *   pct N            the running stage's percentage
 *   local            wants a local slot; the fleet answers "go"
 * The fleet's answer to "local" is the line "go".
 */
#pragma once

#include <stdbool.h>

/* Whether this process runs as a build of a fleet. */
bool vmf_fleet_link_active(void);
/* Sends "stage NAME". */
void vmf_fleet_link_stage(const char *stage);
/* Sends "pct N" when N changed since the last one. */
void vmf_fleet_link_pct(int pct);
/* Waits for a slot of the fleet's local pool (once: later calls return at
 * once). Returns false when the fleet is gone (the build should stop). */
bool vmf_fleet_link_local(void);
