/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * recipe.h — a vmforge recipe (YAML, docs/recipe.md) checked and typed.
 * Every error names the recipe file, line and column and what was expected;
 * unknown keys are errors with a "did you mean". Paths are made absolute
 * relative to the recipe's folder. Sections of later stages (customize,
 * verify, scratch, targets, convert) are kept as YAML nodes for those
 * stages.
 */
#pragma once

#include "yaml-tree.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

GQuark vmf_recipe_error_quark(void);

/* Codes of vmf_recipe_error_quark(). */
enum {
    VMF_RECIPE_ERROR_INVALID = 1, /* the recipe (or a file it names) is wrong */
    VMF_RECIPE_ERROR_USAGE = 2,   /* a --var or --only is wrong: a usage error */
    VMF_RECIPE_ERROR_READ = 3,    /* the recipe file cannot be read */
};

/* MBR holds four primary partitions; vmforge makes no extended ones. */
#define VMF_RECIPE_MAX_PARTITIONS 4
/* Disks from 16 MiB (room for alignment and one file system) to 64 TiB. */
#define VMF_RECIPE_MIN_DISK (16ull << 20)
#define VMF_RECIPE_MAX_DISK (64ull << 40)
/* Guest hardware bounds: what libvirt/QEMU accept for an installer domain. */
#define VMF_RECIPE_MAX_VCPUS  288
#define VMF_RECIPE_MIN_MEMORY (128ull << 20)
#define VMF_RECIPE_MAX_MEMORY (16ull << 40)

typedef enum { VMF_INJECT_INITRD, VMF_INJECT_OEMDRV, VMF_INJECT_HTTP } VmfInject;

/* What the image boots with: BIOS (MBR boot code), UEFI (an EFI system
 * partition), or both on one disk. */
typedef enum { VMF_FIRMWARE_BIOS, VMF_FIRMWARE_UEFI, VMF_FIRMWARE_BOTH } VmfFirmware;

typedef struct {
    char *mount;   /* "/", "/boot", "swap", or NULL (unformatted) */
    uint64_t size; /* bytes; 0 = the rest of the disk */
    unsigned type; /* MBR type code, e.g. 0x83 */
    bool bootable;
    char *fstype;  /* ext4, xfs, swap ...; NULL = the installer's default */
    unsigned line; /* where it is in the recipe */
} VmfPartition;

typedef struct {
    char *path;   /* the recipe file, absolute */
    char *sha256; /* of the bytes read (hex) */
    char *dir;    /* its folder */
    char *name;
    char *version;
    GHashTable *vars; /* char* -> char*: vars: merged with --var */
    /* disk */
    uint64_t disk_size;
    VmfPartition partitions[VMF_RECIPE_MAX_PARTITIONS];
    unsigned n_partitions;
    /* base: an existing image instead of disk: and installer: */
    char *base_image;    /* absolute path, or NULL: the disk is installed */
    char *base_sha256;   /* its expected SHA-256 (lowercase hex), or NULL */
    char *base_format;   /* "raw" or "qcow2" as the recipe says, or NULL: probed */
    uint64_t base_size;  /* grow the disk to this many bytes; 0: the image's size */
    unsigned base_line;  /* where base: is; base_sha256_line: its sha256: */
    unsigned base_sha256_line, base_size_line;
    /* installer */
    char *iso;        /* absolute path, or NULL */
    char *iso_volume; /* installer volume: POOL/NAME on the libvirt host, or NULL */
    char *kernel;     /* absolute paths when given directly */
    char *initrd;
    char *family;    /* "anaconda", "offline", or NULL = from the media */
    char *kickstart; /* template path (absolute), or NULL = the family's default */
    VmfInject inject;
    char *rootpw_file;     /* absolute, or NULL */
    char *network;         /* NULL = QEMU user-mode networking; else a libvirt network */
    char *extra_args;      /* appended to the kernel command line */
    char *success;         /* overrides the family's success line, or NULL */
    unsigned timeout;      /* seconds, whole install */
    unsigned idle_timeout; /* seconds without console output or disk I/O */
    /* hardware */
    unsigned vcpus;
    uint64_t memory;
    char *nic; /* NIC model (virtio, e1000, e1000e, vmxnet3), or NULL: the platform's */
    VmfFirmware firmware;
    /* later stages' sections, borrowed from `root` */
    VmfYamlNode *customize, *verify, *scratch, *targets, *convert;
    VmfYamlNode *root;
} VmfRecipe;

/* Loads and checks RECIPE. `overrides` are --var KEY=VALUE strings (may be
 * NULL). Returns NULL with *error "FILE:LINE:COL: message". Free with
 * vmf_recipe_free. */
VmfRecipe *vmf_recipe_load(const char *path, char **overrides, GError **error);
VmfRecipe *vmf_recipe_load_data(const char *path, const char *text, size_t len, char **overrides,
                                GError **error);
void vmf_recipe_free(VmfRecipe *r);
/* True when the recipe starts from an image (base:) rather than an install. */
static inline bool vmf_recipe_has_base(const VmfRecipe *r)
{
    return r->base_image != NULL;
}
/* The exit status for a load error: VMF_EXIT_USAGE for a bad --var,
 * VMF_EXIT_INPUT otherwise. */
int vmf_recipe_exit_code(const GError *err);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfRecipe, vmf_recipe_free)

/* `v` with each ${NAME} replaced by the recipe's var NAME (vars: and --var),
 * else its name or version; NULL with *error naming the file, the line and
 * `what` when one is not defined. g_free. */
char *vmf_recipe_expand(const VmfRecipe *r, const VmfYamlNode *at, const char *what,
                        const char *v, GError **error);

const char *vmf_inject_name(VmfInject inject);
/* "bios", "uefi" or "both". */
const char *vmf_firmware_name(VmfFirmware f);
/* True when the image boots under UEFI (uefi or both): its domains start
 * OVMF (<os firmware='efi'>). */
static inline bool vmf_recipe_efi(const VmfRecipe *r)
{
    return r->firmware != VMF_FIRMWARE_BIOS;
}
/* Sets *error to "FILE:LINE:COL: message" (the node's position; "FILE:
 * message" without one). Returns false, for `return vmf_recipe_error_at(...)`. */
bool vmf_recipe_error_at(GError **error, const char *file, const VmfYamlNode *at, const char *fmt,
                         ...) G_GNUC_PRINTF(4, 5);
/* Checks that `map` is a mapping whose keys are all in `allowed` (NULL-
 * terminated); an unknown key is an error with a "did you mean". */
bool vmf_recipe_check_keys(GError **error, const char *file, const VmfYamlNode *map,
                           const char *where, const char *const *allowed);
/* Parses "90", "90s", "15m", "2h" into seconds; -EINVAL/-ERANGE. */
int vmf_parse_duration(const char *text, unsigned *seconds);
/* The closest of `candidates` (NULL-terminated) to `word`, or NULL when none
 * is close enough to suggest. */
const char *vmf_did_you_mean(const char *word, const char *const *candidates);
