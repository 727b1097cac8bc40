/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * targets.h — what `vmforge build` makes from the base disk: the recipe's
 * targets: list (each a platform preset from templates/platforms/ and/or a
 * format with its options), the scratch: disk and the convert: settings,
 * checked and typed. Errors name file, line and column. No libvirt here.
 */
#pragma once

#include "recipe.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* One convert pass writes every target; the engine handles this many outputs. */
#define VMF_MAX_TARGETS 32
/* Target names become folder names. */
#define VMF_TARGET_NAME_MAX 64
/* A scratch disk larger than this is a typo (64 TiB). */
#define VMF_MAX_SCRATCH (64ull << 40)

/* Files a target writes beside its image (platform extras). */
typedef enum {
    VMF_EXTRA_LIBVIRT_XML = 1 << 0, /* NAME.xml: a libvirt domain with the scratch disk */
    VMF_EXTRA_OPENSTACK = 1 << 1,   /* NAME.openstack.json: openstack image create metadata */
    VMF_EXTRA_XL_CFG = 1 << 2,      /* NAME.cfg: a Xen xl domain with the scratch disk */
} VmfExtra;

/* publish: where `vmforge build --publish` sends the target's image. */
typedef struct {
    bool glance;            /* glance: given */
    char *cloud;            /* clouds.yaml name; NULL: $OS_CLOUD or the OS_* variables */
    char *name;             /* the image's name (${vars} expanded); NULL: the default */
    char *visibility;       /* private, shared, community, public; NULL: the cloud's */
    char **tags;            /* NULL-terminated, or NULL */
    char **properties;      /* KEY=VALUE, NULL-terminated, or NULL */
    char **libvirt;         /* libvirt:URI/POOL[/NAME] destinations, or NULL */
} VmfTargetPublish;

typedef struct {
    char *name;             /* folder of its artefacts under the output folder */
    unsigned line;          /* where it is in the recipe */
    char *platform;         /* preset name, or NULL */
    char *spec;             /* writer spec: "qcow2:compress=on", "vhd:type=fixed", "ova" */
    char *format;           /* the writer's name */
    char *profile;          /* ova: hardware profile */
    char *manifest;         /* ova: sha1, sha256, sha512; NULL = the profile's */
    char *os;               /* ova: key of the profile's [os] table; NULL = linux */
    unsigned extras;        /* VmfExtra bits */
    char *domain_type;      /* for libvirt-xml: kvm or xen */
    char *disk_bus;         /* virtio, xen, ... */
    char *nic_model;        /* virtio, netfront, ... */
    char *image_dir;        /* where domain definitions expect the image */
    bool needs_uefi;        /* the platform boots only with UEFI (firmware=uefi in its preset) */
    GHashTable *properties; /* openstack: extra image properties (char* -> char*) */
    VmfTargetPublish *publish; /* publish:, or NULL */
} VmfTarget;

/* Parses a target's publish: (recipe/target-publish.c). */
bool vmf_target_publish_parse(const VmfRecipe *r, const VmfYamlNode *n, VmfTarget *t,
                              GError **error);
void vmf_target_publish_free(VmfTargetPublish *p);

typedef struct {
    GPtrArray *targets;        /* of VmfTarget*, in recipe order */
    uint64_t scratch_size;     /* bytes (per_core × vcpus when per-core); 0 = none */
    uint64_t scratch_per_core; /* as written, or 0 */
    bool scratch_at_deploy;    /* as: deploy — OVAs define it without a file */
    int level;                 /* deflate level 1..9 for every target (one compression pass) */
    unsigned jobs;             /* compression threads; 0 = one per CPU */
} VmfTargets;

/* Parses recipe->targets, ->scratch and ->convert; platform presets and OVA
 * profiles are read from templates_dir. Returns NULL with *error. */
VmfTargets *vmf_targets_parse(const VmfRecipe *recipe, const char *templates_dir, GError **error);
void vmf_targets_free(VmfTargets *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfTargets, vmf_targets_free)

/* Keeps only the targets named in `only` (comma-separated), in recipe order.
 * An unknown name is an error with a "did you mean". */
bool vmf_targets_select(VmfTargets *t, const char *only, GError **error);

/* The names of the platform presets (sorted; g_strfreev). */
char **vmf_platforms_list(const char *templates_dir);
