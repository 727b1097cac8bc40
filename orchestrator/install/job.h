/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * job.h — one run of the installer (inside install/): what it made, so that
 * whatever happens it is all removed but for the disk it installed.
 *
 *   install.c  the stage: connect, prepare, start and watch the domain
 *              (through a lost connection), tear down, judge, finish
 *   volumes.c  the installer's volumes: in vmforge's own pool on a local
 *              folder (a local URI), or in a pool of the libvirt host,
 *              uploaded and downloaded with sparse streams
 *   plan.c     what is checked and rendered before anything exists
 */
#pragma once

#include "inject.h"
#include "install.h"
#include "plan.h"
#include "util/progress.h"
#include "virt/console.h"
#include "virt/runs.h"
#include "virt/storage.h"
#include "virt/virt.h"

#include <stdbool.h>

typedef enum {
    OUT_NONE,
    OUT_POWEROFF,
    OUT_TIMEOUT,
    OUT_IDLE,
    OUT_FAILED_LINE,
    OUT_INTERRUPTED,
    OUT_NO_SPACE,
    OUT_IO_ERROR,
    OUT_LOST, /* the connection to libvirt, and it did not come back */
} Outcome;

typedef struct {
    const VmfRecipe *r;
    const VmfInstallOptions *o;
    const VmfInstallPlan *plan;
    VmfInstallResult *res;
    GError **error;
    GBytes *ks_bytes;
    char *ks_arg; /* where the kernel command line says the kickstart is */
    VmfVirt *v;
    const char *domtype;
    bool host;   /* volumes in a pool of the host, through the API only */
    VmfRun *run; /* what this run makes on the host, recorded first */
    VmfPool *pool;
    char *prefix; /* of the volumes' names: "" in vmforge's own pool */
    VmfHttp *http;
    char *workdir, *poolname, *domname;
    char *disk_vol;                        /* the disk's volume */
    char *disk, *kernel, *initrd, *oemdrv; /* their paths on the host */
    char *cdrom;                           /* the installer ISO as QEMU sees it */
    char *media_vol;                       /* the ISO's cached volume on the host */
    char *chan_path;                       /* Anaconda's log channel, on the host */
    char *local_disk;                      /* the installed disk on this machine */
    unsigned char uuid[VIR_UUID_BUFLEN];   /* of the domain, to find it again */
    virDomainPtr dom;
    virStreamPtr st;
    VmfConsole *con;
    VmfConsoleState seen; /* what the console showed, once it stopped */
    VmfProgress *prog;
    Outcome outcome;
    unsigned timeout_used;
} Install;

#define FAIL(code, ...)                                                                            \
    do {                                                                                           \
        g_set_error(error, vmf_install_error_quark(), (code), __VA_ARGS__);                        \
        return (code);                                                                             \
    } while (0)

/* volumes.c */
/* The pool: vmforge's own on the work folder, or the host's (--pool, or one
 * made under --remote-dir), checked for room. */
int install_open_pool(Install *in);
/* The partitioned disk, the kernel and initrd (with the kickstart for
 * initrd injection), the OEMDRV medium, the installer ISO. */
int install_stage_volumes(Install *in);
/* The installed (or failed) disk as the local file `dest`: renamed from
 * vmforge's own pool, or downloaded sparsely from the host's. */
int install_fetch_disk(Install *in, const char *dest, bool failed);
/* Anaconda's log channel into the logs, when the installer wrote one. */
void install_fetch_channel(Install *in);
/* Removes the run's volumes from the host's pool (not the cached ISO);
 * true when nothing it made is left there. */
bool install_remove_volumes(Install *in);
