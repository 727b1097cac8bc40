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

/* What a recipe target's publish: says for Glance (recipe/targets.h keeps
 * its own copy; build passes it here). */
typedef struct {
    const char *cloud;      /* clouds.yaml name; NULL: $OS_CLOUD or OS_* */
    const char *name;       /* image name; NULL: the default */
    const char *visibility; /* private, shared, community, public; NULL: Glance's */
    char **tags;
    GHashTable *properties; /* char* -> char* */
} VmfPublishGlance;

typedef struct {
    char **inputs;       /* report.json files, or image files */
    char **to;           /* destinations: glance:[CLOUD], libvirt:URI/POOL[/NAME] */
    const char *only;    /* targets, comma-separated; NULL: every image */
    const char *name;    /* the image or volume name (one image only) */
    const char *visibility;
    char **tags;
    char **properties;   /* KEY=VALUE */
    uint64_t limit_rate; /* bytes per second, 0: no limit */
    bool force;          /* upload even when the same image is there; replace volumes */
    bool json;           /* print the records as JSON */
    bool dry_run;        /* say what would be sent where */
    VmfProgressMode progress;
} VmfPublishOptions;

/* Runs `vmforge publish`. Returns a VMF_EXIT_* status (128 + signal when
 * interrupted), having printed what went wrong. */
int vmf_publish(const VmfPublishOptions *o);
