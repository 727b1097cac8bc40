/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * publish.h — `vmforge publish` and `vmforge build --publish`: images into
 * OpenStack Glance (verified by the server's own hash, reused when the same
 * image is there already, deleted when anything fails) and into libvirt
 * storage pools on any host (sparse streams). Each publish is recorded in
 * the build's report.json under "published" (docs/report.md).
 */
#pragma once

#include "util/progress.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    char **inputs;    /* report.json files, or image files */
    char **to;        /* destinations: glance:[CLOUD], libvirt:URI/POOL[/NAME] */
    const char *only; /* targets, comma-separated; NULL: every image */
    const char *name; /* the image or volume name (one image only) */
    const char *visibility;
    char **tags;
    char **properties;   /* KEY=VALUE */
    uint64_t limit_rate; /* bytes per second, 0: no limit */
    const char *upload;  /* Glance: "import", "put", or NULL/"auto": import where offered */
    bool force;          /* upload even when the same image is there; replace volumes */
    bool json;           /* print the records as JSON */
    bool dry_run;        /* say what would be sent where */
    VmfProgressMode progress;
} VmfPublishOptions;

/* Runs `vmforge publish`. Returns a VMF_EXIT_* status (128 + signal when
 * interrupted), having printed what went wrong. */
int vmf_publish(const VmfPublishOptions *o);

/* `vmforge build --publish`: what each target's publish: says, for the
 * images of the build's report.json. */
typedef struct {
    const char *recipe; /* the recipe's path */
    char **vars;        /* --var NAME=VALUE */
    const char *only;   /* --only */
    const char *report; /* OUT/report.json */
    bool force;
    VmfProgressMode progress;
} VmfPublishBuild;

/* Before the build: some selected target has publish: (else a usage
 * error, printed). */
int vmf_publish_build_check(const char *recipe, char **vars, const char *only);
/* After it: every selected target's publish:. A VMF_EXIT_* status. */
int vmf_publish_build(const VmfPublishBuild *b);
