/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "runs.h"

#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* A record larger than this is not one of ours. */
#define MAX_RECORD (64u << 10)

struct VmfRun {
    char *id;
    char *path;
    int fd;
    GPtrArray *lines; /* "KIND\tPOOL\tNAME" */
};

static const char *const kind_names[] = {"domain", "volume", "pool", "local-pool", "folder"};

/* STATE/runs/HOST-KEY: one folder per libvirt URI. */
static char *host_dir(VmfVirt *v)
{
    g_autofree char *state = vmf_state_dir();
    g_autofree char *key = g_compute_checksum_for_string(G_CHECKSUM_SHA256, vmf_virt_uri(v), -1);
    key[16] = '\0';
    return g_build_filename(state, "runs", key, NULL);
}

static char *random_id(void)
{
    return g_strdup_printf("%08x", g_random_int());
}

VmfRun *vmf_run_begin(VmfVirt *v, GError **error)
{
    g_autofree char *dir = host_dir(v);
    if (g_mkdir_with_parents(dir, 0700) < 0) {
        g_set_error(error, vmf_virt_error_quark(), 1, "%s: %s", dir, g_strerror(errno));
        return NULL;
    }
    VmfRun *r = g_new0(VmfRun, 1);
    r->lines = g_ptr_array_new_with_free_func(g_free);
    for (int tries = 0; tries < 16; tries++) {
        g_free(r->id);
        g_free(r->path);
        r->id = random_id();
        r->path = g_build_filename(dir, r->id, NULL);
        r->fd = open(r->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (r->fd >= 0 || errno != EEXIST)
            break;
    }
    if (r->fd < 0 || flock(r->fd, LOCK_EX | LOCK_NB) < 0) {
        g_set_error(error, vmf_virt_error_quark(), 1, "%s: %s", r->path, g_strerror(errno));
        vmf_run_free(r);
        return NULL;
    }
    g_autofree char *head = g_strdup_printf("uri\t%s\n", vmf_virt_uri(v));
    if (write(r->fd, head, strlen(head)) < 0) {
        /* A record that cannot be written only costs the cleaning of leftovers. */
    }
    return r;
}

const char *vmf_run_id(const VmfRun *r)
{
    return r->id;
}

void vmf_run_add(VmfRun *r, VmfRunKind kind, const char *pool, const char *name)
{
    g_autofree char *line =
        g_strdup_printf("%s\t%s\t%s\n", kind_names[kind], pool ? pool : "-", name);
    g_ptr_array_add(r->lines, g_strdup(line));
    if (write(r->fd, line, strlen(line)) < 0 || fdatasync(r->fd) < 0) {
        /* As above: best effort. */
    }
}

void vmf_run_keep(VmfRun *r, const char *pool, const char *name)
{
    for (guint i = 0; i < r->lines->len; i++) {
        g_auto(GStrv) f = g_strsplit(r->lines->pdata[i], "\t", 3);
        g_strchomp(f[2]);
        if (strcmp(f[1], pool ? pool : "-") == 0 && strcmp(f[2], name) == 0)
            g_ptr_array_remove_index(r->lines, i--);
    }
    g_autofree char *line = g_strdup_printf("keep\t%s\t%s\n", pool ? pool : "-", name);
    if (write(r->fd, line, strlen(line)) < 0 || fdatasync(r->fd) < 0) {
        /* As for vmf_run_add. */
    }
}

char *vmf_run_describe(const VmfRun *r)
{
    g_autoptr(GString) s = g_string_new(NULL);
    for (guint i = 0; i < r->lines->len; i++) {
        g_auto(GStrv) f = g_strsplit(r->lines->pdata[i], "\t", 3);
        g_strchomp(f[2]);
        if (strcmp(f[0], "folder") == 0)
            continue; /* on this machine: the run removes it itself */
        g_string_append_printf(s, "%s%s %s", s->len ? "; " : "", f[0], f[2]);
        if (strcmp(f[1], "-") != 0)
            g_string_append_printf(s, " (pool %s)", f[1]);
    }
    return g_string_free(g_steal_pointer(&s), FALSE);
}

void vmf_run_end(VmfRun *r)
{
    if (r->path)
        g_unlink(r->path);
    g_clear_pointer(&r->path, g_free);
}

void vmf_run_free(VmfRun *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    g_free(r->id);
    g_free(r->path);
    g_ptr_array_unref(r->lines);
    g_free(r);
}

/* ---- cleaning what dead runs left ------------------------------------------------ */

static bool remove_domain(virConnectPtr c, const char *name)
{
    virDomainPtr d = virDomainLookupByName(c, name);
    if (!d)
        return false;
    if (virDomainIsActive(d) == 1)
        virDomainDestroy(d);
    if (virDomainIsPersistent(d) == 1)
        virDomainUndefine(d);
    virDomainFree(d);
    return true;
}

static bool remove_volume(virConnectPtr c, const char *pool, const char *name)
{
    virStoragePoolPtr p = virStoragePoolLookupByName(c, pool);
    if (p)
        virStoragePoolRefresh(p, 0);
    virStorageVolPtr vol = p ? virStorageVolLookupByName(p, name) : NULL;
    bool gone = vol && virStorageVolDelete(vol, 0) == 0;
    if (vol)
        virStorageVolFree(vol);
    if (p)
        virStoragePoolFree(p);
    return gone;
}

static bool remove_pool(virConnectPtr c, const char *name, bool defined)
{
    virStoragePoolPtr p = virStoragePoolLookupByName(c, name);
    if (!p)
        return false;
    virStorageVolPtr *vols = NULL;
    int n = defined ? virStoragePoolListAllVolumes(p, &vols, 0) : 0;
    for (int i = 0; i < n; i++) {
        virStorageVolDelete(vols[i], 0);
        virStorageVolFree(vols[i]);
    }
    free(vols);
    if (virStoragePoolIsActive(p) == 1)
        virStoragePoolDestroy(p);
    if (defined) {
        virStoragePoolDelete(p, 0);
        virStoragePoolUndefine(p);
    }
    virStoragePoolFree(p);
    return true;
}

/* Removes one recorded object; true when it was still there. */
static bool remove_object(VmfVirt *v, const char *kind, const char *pool, const char *name)
{
    virConnectPtr c = vmf_virt_conn(v);
    if (strcmp(kind, "domain") == 0)
        return remove_domain(c, name);
    if (strcmp(kind, "volume") == 0)
        return remove_volume(c, pool, name);
    if (strcmp(kind, "pool") == 0 || strcmp(kind, "local-pool") == 0)
        return remove_pool(c, name, strcmp(kind, "pool") == 0);
    if (strcmp(kind, "folder") == 0 && g_file_test(name, G_FILE_TEST_IS_DIR)) {
        vmf_remove_workdir(name);
        return true;
    }
    return false;
}

/* The objects of a record, removed in reverse order of making (a domain
 * before the volumes it used, volumes before their pool). */
static unsigned clean_record(VmfVirt *v, const char *text, GPtrArray *removed)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    g_autoptr(GHashTable) kept = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    unsigned n = 0, count = g_strv_length(lines);
    for (unsigned i = count; i-- > 1;) {
        g_auto(GStrv) f = g_strsplit(lines[i], "\t", 3);
        if (g_strv_length(f) != 3)
            continue;
        g_autofree char *key = g_strdup_printf("%s\t%s", f[1], f[2]);
        if (strcmp(f[0], "keep") == 0) {
            g_hash_table_add(kept, g_steal_pointer(&key));
            continue;
        }
        if (g_hash_table_contains(kept, key) || !remove_object(v, f[0], f[1], f[2]))
            continue;
        n++;
        if (removed)
            g_ptr_array_add(removed, strcmp(f[1], "-")
                                         ? g_strdup_printf("%s %s (pool %s)", f[0], f[2], f[1])
                                         : g_strdup_printf("%s %s", f[0], f[2]));
    }
    return n;
}

unsigned vmf_runs_clean(VmfVirt *v, GPtrArray *removed)
{
    g_autofree char *dir = host_dir(v);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *e;
    unsigned n = 0;
    while (d && (e = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, e, NULL);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        /* Held: its run is alive. */
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            close(fd);
            continue;
        }
        g_autofree char *text = NULL;
        gsize len = 0;
        if (g_file_get_contents(path, &text, &len, NULL) && len <= MAX_RECORD)
            n += clean_record(v, text, removed);
        g_unlink(path);
        close(fd);
    }
    return n;
}

char *vmf_run_nvram_path(VmfRun *r, const VmfPool *pool, const char *dir, const char *vol)
{
    if (!pool)
        return g_build_filename(dir, "VARS.fd", NULL);
    vmf_run_add(r, VMF_RUN_VOLUME, vmf_pool_name(pool), vol);
    return g_build_filename(vmf_pool_dir(pool), vol, NULL);
}
