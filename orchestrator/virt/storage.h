/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * storage.h — storage on the libvirt host, through the API only: the pool a
 * run's volumes live in, volumes, and their contents moved both ways with
 * libvirt's sparse streams (a 4 GiB disk holding only an MBR sends
 * kilobytes; holes come back as holes).
 *
 * Three kinds of pool:
 *   local     a transient directory pool on a folder vmforge made on this
 *             machine (a local URI: QEMU reads the same files);
 *   host      an existing, active pool of the host (--pool NAME), shared
 *             with others: vmforge only adds and removes its own volumes;
 *   run       a directory pool vmforge defines for one run under a folder
 *             of the host (--remote-dir DIR), removed with it.
 *
 * Every call looks the pool up again after the connection was re-made
 * (vmf_virt_reconnect), so a pool outlives a libvirtd restart.
 */
#pragma once

#include "virt.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct VmfPool VmfPool;

typedef enum { VMF_POOL_LOCAL, VMF_POOL_HOST, VMF_POOL_RUN } VmfPoolKind;

/* A transient directory pool `name` on the local folder `dir` (which exists
 * and is empty). */
VmfPool *vmf_pool_local(VmfVirt *v, const char *name, const char *dir, GError **error);
/* The host's pool `name`: it must exist and be active (the error says how
 * to start it). */
VmfPool *vmf_pool_host(VmfVirt *v, const char *name, GError **error);
/* A directory pool `name` on the host's folder DIR/NAME, made (mkdir) for
 * this run; vmf_pool_free removes the pool and its folder. */
VmfPool *vmf_pool_run(VmfVirt *v, const char *name, const char *dir, GError **error);
/* Destroys a local pool (its folder is the caller's to remove), removes a
 * run pool with its folder and whatever volumes are left in it, leaves a
 * host pool as it is. */
void vmf_pool_free(VmfPool *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfPool, vmf_pool_free)

/* True when a run's volumes go to a pool of the host (through the API
 * only): a remote URI, or a pool or remote folder given. */
bool vmf_pool_on_host(const char *uri, const char *pool, const char *remote_dir);
/* The host's pool for a run: a pool vmforge makes under `remote_dir`
 * (named `run_name`, recorded in `run` first), else the existing pool
 * `pool` ("default" when NULL). */
struct VmfRun;
VmfPool *vmf_pool_for_run(VmfVirt *v, const char *pool, const char *remote_dir,
                          const char *run_name, struct VmfRun *run, GError **error);

VmfPoolKind vmf_pool_kind(const VmfPool *p);
const char *vmf_pool_name(const VmfPool *p);
/* The pool's folder on the host (its <target><path>). */
const char *vmf_pool_dir(const VmfPool *p);
/* Capacity and space available, in bytes. */
int vmf_pool_space(VmfPool *p, uint64_t *capacity, uint64_t *available, GError **error);
/* Rescans the pool's folder (files QEMU created appear as volumes). */
void vmf_pool_refresh(VmfPool *p);

/* Creates a raw volume of `capacity` bytes (sparse); returns its path on
 * the host (g_free). */
char *vmf_vol_create(VmfPool *p, const char *name, uint64_t capacity, GError **error);
/* Creates a qcow2 volume backed by the raw file `backing` (a path on the
 * host); returns its path. */
char *vmf_vol_overlay(VmfPool *p, const char *name, const char *backing, uint64_t capacity,
                      GError **error);
/* The volume's path on the host (g_free), and its capacity; NULL without
 * an error when there is no such volume. */
char *vmf_vol_find(VmfPool *p, const char *name, uint64_t *capacity, GError **error);
/* Deletes the volume; true when it existed and is gone. */
bool vmf_vol_delete(VmfPool *p, const char *name);

/* A volume filled from memory, in order (kernel, initrd, OEMDRV image). */
typedef struct VmfUpload VmfUpload;
VmfUpload *vmf_upload_begin(VmfPool *p, const char *name, uint64_t size, GError **error);
int vmf_upload_write(VmfUpload *u, const void *buf, size_t len, GError **error);
/* Ends the upload; returns the volume's path on the host (g_free), or NULL
 * with *error (the volume is deleted then). */
char *vmf_upload_finish(VmfUpload *u, GError **error);
/* Deletes the partial volume. */
void vmf_upload_abort(VmfUpload *u);

/* A transfer between a local file and a volume. */
typedef struct {
    /* Called as data moves: bytes of the file covered so far (holes
     * included) and its size. May be NULL. */
    void (*progress)(uint64_t done, uint64_t total, void *data);
    void *data;
    const volatile int *cancel; /* non-zero stops the transfer */
    uint64_t bytes;             /* data bytes on the wire (holes not counted) */
    char sha256[65];            /* downloads: the received file's SHA-256 */
} VmfTransfer;

/* Creates the volume `name` of the local file's size and uploads the file
 * into it with a sparse stream (only its data is sent). Returns the volume's
 * path on the host, or NULL with *error (the volume is deleted then). */
char *vmf_vol_upload_file(VmfPool *p, const char *name, const char *path, VmfTransfer *t,
                          GError **error);
/* Downloads the volume into the new local file `path` (which must not
 * exist) with a sparse stream: holes stay holes; t->sha256 gets the file's
 * digest, taken as it arrives. On failure `path` is removed. */
int vmf_vol_download_file(VmfPool *p, const char *name, const char *path, VmfTransfer *t,
                          GError **error);
/* Reads `len` bytes of the volume at `offset` (a small check of what a
 * volume holds). */
int vmf_vol_read(VmfPool *p, const char *name, uint64_t offset, void *buf, size_t len,
                 GError **error);
