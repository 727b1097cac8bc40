/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * customize-ops.h — the recipe's customize: list, checked and typed (no
 * libguestfs here): each item one operation with its recipe line, so a
 * failure can name it. docs/recipe.md describes every operation.
 */
#pragma once

#include "recipe.h"

#include <glib.h>
#include <stdbool.h>

GQuark vmf_customize_error_quark(void);

/* A customize list longer than this is a mistake; a file written inline
 * larger than this belongs in upload:. */
#define VMF_CUSTOMIZE_MAX_OPS    1000
#define VMF_CUSTOMIZE_MAX_INLINE (1u << 20)

typedef enum {
    VMF_OP_HOSTNAME,
    VMF_OP_TIMEZONE,
    VMF_OP_ROOT_PASSWORD,
    VMF_OP_USER,
    VMF_OP_WRITE,
    VMF_OP_UPLOAD,
    VMF_OP_MKDIR,
    VMF_OP_CHMOD,
    VMF_OP_CHOWN,
    VMF_OP_DELETE,
    VMF_OP_SYMLINK,
    VMF_OP_APPEND_LINE,
    VMF_OP_RUN,
    VMF_OP_FIRSTBOOT,
    VMF_OP_SELINUX_RELABEL,
    VMF_OP_PACKAGES,
    VMF_OP_NETWORK,
    VMF_OP_SYSPREP,
    VMF_OP_CLOUD_INIT,
} VmfOpKind;

/* Sysprep operations (bits). */
typedef enum {
    VMF_SYSPREP_MACHINE_ID = 1 << 0,
    VMF_SYSPREP_SSH_HOSTKEYS = 1 << 1,
    VMF_SYSPREP_LOGFILES = 1 << 2,
    VMF_SYSPREP_HISTORY = 1 << 3,
    VMF_SYSPREP_TMP = 1 << 4,
    VMF_SYSPREP_DHCP_LEASES = 1 << 5,
    VMF_SYSPREP_NET_RULES = 1 << 6,
    VMF_SYSPREP_RANDOM_SEED = 1 << 7,
    VMF_SYSPREP_PACKAGE_CACHE = 1 << 8,
    VMF_SYSPREP_ALL = (1 << 9) - 1,
} VmfSysprep;

typedef struct {
    VmfOpKind kind;
    unsigned line;
    char *path;     /* guest path (write, upload, mkdir, chmod, chown, delete, append-line) */
    char *text;     /* hostname, timezone, content, line, command, script text */
    char *src;      /* host file (upload, run/firstboot script:, password files) */
    char *target;   /* symlink target */
    char *owner;    /* "user[:group]" for chown / write / upload / mkdir */
    int mode;       /* -1 = unset */
    bool recursive; /* delete */
    char *name;     /* user name, firstboot name */
    char **groups;  /* user */
    char **keys;    /* user's SSH public keys (lines) */
    char *shell;    /* user */
    char **packages;
    unsigned sysprep; /* VmfSysprep bits */
    bool flag;        /* network: true/false; selinux_relabel; cloud_init: true = a seed */
    /* cloud_init: the NoCloud seed's meta-data and network-config (user-data
     * is in `text`); NULL: vmforge's meta-data, no network-config */
    char *meta_data, *network_config;
} VmfOp;

typedef struct {
    GPtrArray *ops;        /* of VmfOp* in recipe order */
    bool network;          /* the appliance gets a network (a network: true item) */
    bool explicit_sysprep; /* the list has a sysprep: item; else the default set runs last */
} VmfCustomize;

/* The sysprep operations' names, in order, and the default set. */
const char *vmf_sysprep_name(VmfSysprep bit);
#define VMF_SYSPREP_DEFAULT VMF_SYSPREP_ALL

/* Parses recipe->customize. A recipe without one gives an empty list. */
VmfCustomize *vmf_customize_parse(const VmfRecipe *recipe, GError **error);
void vmf_customize_free(VmfCustomize *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfCustomize, vmf_customize_free)

const char *vmf_op_name(VmfOpKind kind);

/* The recipe's verify: section (boot: true, marker: "login:", timeout: 10m,
 * hepix: false for an image that may break the HEPiX rules). */
typedef struct {
    bool boot;        /* boot the customized image until `marker` appears */
    char *marker;     /* default "login:" */
    unsigned timeout; /* seconds, default 600 */
    bool hepix;       /* check the HEPiX rules (MBR, no LVM); default true */
} VmfVerify;

bool vmf_verify_parse(const VmfRecipe *recipe, VmfVerify *out, GError **error);
void vmf_verify_clear(VmfVerify *v);
