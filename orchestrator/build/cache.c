/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "cache.h"

#include "util/exit-codes.h"
#include "util/signals.h"
#include "util/util.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

G_DEFINE_QUARK(vmf - cache - error - quark, vmf_cache_error)

/* A salt file larger than this is not one of ours. */
#define MAX_SALT 256
/* How often a build waiting for another's lock looks again. */
#define LOCK_POLL_US (200 * 1000)

#define FAIL(code, ...)                                                                            \
    do {                                                                                           \
        g_set_error(error, vmf_cache_error_quark(), (code), __VA_ARGS__);                          \
        return NULL;                                                                               \
    } while (0)

struct VmfCache {
    char *dir;
    char *salt;
};

struct VmfCacheEntry {
    VmfCache *cache;
    char *key;
    char *dir;  /* CACHE/base/KEY */
    char *disk; /* CACHE/base/KEY/disk.raw */
    int lock_fd;
};

char *vmf_cache_default_dir(const char *dir)
{
    if (dir && *dir)
        return g_canonicalize_filename(dir, NULL);
    const char *env = g_getenv("VMFORGE_CACHE_DIR");
    if (env && *env)
        return g_canonicalize_filename(env, NULL);
    return g_build_filename(g_get_user_cache_dir(), "vmforge", NULL);
}

static char *load_or_make_salt(const char *dir, GError **error)
{
    g_autofree char *path = g_build_filename(dir, "salt", NULL);
    g_autofree char *text = NULL;
    gsize len = 0;
    if (g_file_get_contents(path, &text, &len, NULL)) {
        g_strstrip(text);
        if (len < MAX_SALT && text[0] == '$')
            return g_steal_pointer(&text);
        FAIL(VMF_EXIT_INPUT,
             "%s: not a salt this vmforge wrote; remove it (the cache's keys "
             "change, its entries are rebuilt once)",
             path);
    }
    char *fresh = NULL;
    static const char *const prefixes[] = {"$y$", "$6$"};
    for (size_t i = 0; i < G_N_ELEMENTS(prefixes) && !fresh; i++)
        fresh = crypt_gensalt_ra(prefixes[i], 0, NULL, 0);
    if (!fresh)
        FAIL(VMF_EXIT_FAILURE, "libcrypt cannot make a yescrypt or SHA-512 salt");
    g_autofree char *salt = g_strdup(fresh);
    free(fresh);
    g_autofree char *tmp = g_strdup_printf("%s.XXXXXX", path);
    int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0)
        FAIL(VMF_EXIT_OUTPUT, "%s: %s", dir, g_strerror(errno));
    g_autofree char *line = g_strdup_printf("%s\n", salt);
    ssize_t w = write(fd, line, strlen(line));
    int e = w == (ssize_t)strlen(line) ? 0 : (w < 0 ? errno : ENOSPC);
    if (close(fd) < 0 && !e)
        e = errno;
    /* link(), not rename(): a concurrent first build may have won; use its salt. */
    if (!e && link(tmp, path) < 0 && errno != EEXIST)
        e = errno;
    g_unlink(tmp);
    if (e)
        FAIL(VMF_EXIT_OUTPUT, "%s: %s", path, g_strerror(e));
    return load_or_make_salt(dir, error);
}

VmfCache *vmf_cache_open(const char *dir, GError **error)
{
    g_autofree char *base = g_build_filename(dir, "base", NULL);
    g_autofree char *media = g_build_filename(dir, "media", NULL);
    if (g_mkdir_with_parents(base, 0755) < 0 || g_mkdir_with_parents(media, 0755) < 0)
        FAIL(VMF_EXIT_OUTPUT,
             "cache folder %s: %s (set another with --cache-dir or "
             "VMFORGE_CACHE_DIR)",
             dir, g_strerror(errno));
    char *salt = load_or_make_salt(dir, error);
    if (!salt)
        return NULL;
    VmfCache *c = g_new0(VmfCache, 1);
    c->dir = g_strdup(dir);
    c->salt = salt;
    return c;
}

void vmf_cache_free(VmfCache *c)
{
    if (!c)
        return;
    g_free(c->dir);
    g_free(c->salt);
    g_free(c);
}

char *vmf_cache_file_digest(VmfCache *c, const char *path, GError **error)
{
    struct stat st;
    if (stat(path, &st) < 0)
        FAIL(VMF_EXIT_INPUT, "%s: %s", path, g_strerror(errno));
    g_autofree char *id_text = g_strdup_printf(
        "%s\n%ju\n%ju\n%jd\n%jd.%09ld", path, (uintmax_t)st.st_dev, (uintmax_t)st.st_ino,
        (intmax_t)st.st_size, (intmax_t)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
    g_autofree char *id = g_compute_checksum_for_string(G_CHECKSUM_SHA256, id_text, -1);
    g_autofree char *memo = g_build_filename(c->dir, "media", id, NULL);
    g_autofree char *known = NULL;
    if (g_file_get_contents(memo, &known, NULL, NULL)) {
        g_strstrip(known);
        if (strlen(known) == 64)
            return g_steal_pointer(&known);
    }
    char *digest = vmf_file_sha256(path, error);
    if (digest) {
        g_autofree char *line = g_strdup_printf("%s\n", digest);
        /* Only a memo: failing to keep it costs a re-read next time. */
        (void)g_file_set_contents(memo, line, -1, NULL);
    }
    return digest;
}

static char *fingerprint_digest(void *cache, const char *path, GError **error)
{
    return vmf_cache_file_digest(cache, path, error);
}

VmfFingerprint vmf_cache_fingerprint(VmfCache *c, GChecksum *sum)
{
    return (VmfFingerprint){
        .sum = sum, .salt = c->salt, .file_digest = fingerprint_digest, .data = c};
}

/* What builds of `key` that died left beside its entry (KEY.work-*,
 * KEY.new-*): removed once the entry's lock is held. */
static void remove_leftovers(VmfCache *c, const char *key)
{
    g_autofree char *base = g_build_filename(c->dir, "base", NULL);
    g_autoptr(GDir) d = g_dir_open(base, 0, NULL);
    g_autofree char *work = g_strdup_printf("%s.work-", key);
    g_autofree char *fresh = g_strdup_printf("%s.new-", key);
    const char *n;
    while (d && (n = g_dir_read_name(d))) {
        if (!g_str_has_prefix(n, work) && !g_str_has_prefix(n, fresh))
            continue;
        g_autofree char *path = g_build_filename(base, n, NULL);
        vmf_remove_tree(path);
    }
}

VmfCacheEntry *vmf_cache_lock(VmfCache *c, const char *key, void (*waiting)(const char *lock),
                              GError **error)
{
    g_autofree char *lock = g_strdup_printf("%s/base/%s.lock", c->dir, key);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        FAIL(VMF_EXIT_OUTPUT, "%s: %s", lock, g_strerror(errno));
    bool told = false;
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK) {
            int e = errno;
            close(fd);
            FAIL(VMF_EXIT_FAILURE, "%s: %s", lock, g_strerror(e));
        }
        if (!told && waiting)
            waiting(lock);
        told = true;
        if (vmf_interrupted) {
            close(fd);
            FAIL(vmf_signals_exit_code(), "interrupted while waiting for %s", lock);
        }
        g_usleep(LOCK_POLL_US);
    }
    remove_leftovers(c, key);
    VmfCacheEntry *e = g_new0(VmfCacheEntry, 1);
    e->cache = c;
    e->key = g_strdup(key);
    e->dir = g_strdup_printf("%s/base/%s", c->dir, key);
    e->disk = g_build_filename(e->dir, "disk.raw", NULL);
    e->lock_fd = fd;
    return e;
}

void vmf_cache_entry_free(VmfCacheEntry *e)
{
    if (!e)
        return;
    if (e->lock_fd >= 0)
        close(e->lock_fd); /* releases the flock */
    g_free(e->key);
    g_free(e->dir);
    g_free(e->disk);
    g_free(e);
}

const char *vmf_cache_entry_key(const VmfCacheEntry *e)
{
    return e->key;
}

const char *vmf_cache_entry_disk(const VmfCacheEntry *e)
{
    return e->disk;
}

bool vmf_cache_entry_valid(const VmfCacheEntry *e)
{
    g_autofree char *info = g_build_filename(e->dir, "entry.json", NULL);
    return g_file_test(e->disk, G_FILE_TEST_IS_REGULAR) &&
           g_file_test(info, G_FILE_TEST_IS_REGULAR);
}

JsonNode *vmf_cache_entry_info(const VmfCacheEntry *e)
{
    g_autofree char *info = g_build_filename(e->dir, "entry.json", NULL);
    g_autoptr(JsonParser) p = json_parser_new();
    if (!json_parser_load_from_file(p, info, NULL))
        return NULL;
    JsonNode *root = json_parser_get_root(p);
    return root ? json_node_copy(root) : NULL;
}

char *vmf_cache_entry_workdir(VmfCacheEntry *e, GError **error)
{
    char *dir = g_strdup_printf("%s.work-XXXXXX", e->dir);
    if (!g_mkdtemp_full(dir, 0755)) {
        g_set_error(error, vmf_cache_error_quark(), VMF_EXIT_OUTPUT, "%s: %s", dir,
                    g_strerror(errno));
        g_free(dir);
        return NULL;
    }
    return dir;
}

int vmf_cache_entry_commit(VmfCacheEntry *e, const char *disk, const char *info_json,
                           GError **error)
{
    g_autofree char *tmp = g_strdup_printf("%s.new-XXXXXX", e->dir);
    if (!g_mkdtemp_full(tmp, 0755)) {
        g_set_error(error, vmf_cache_error_quark(), VMF_EXIT_OUTPUT, "%s: %s", tmp,
                    g_strerror(errno));
        return -errno;
    }
    g_autofree char *tdisk = g_build_filename(tmp, "disk.raw", NULL);
    g_autofree char *tinfo = g_build_filename(tmp, "entry.json", NULL);
    int rc = 0;
    if (g_rename(disk, tdisk) < 0) {
        if (errno != EXDEV) {
            rc = -errno;
            g_set_error(error, vmf_cache_error_quark(), VMF_EXIT_OUTPUT, "moving %s to %s: %s",
                        disk, tdisk, g_strerror(errno));
        } else {
            GError *cerr = NULL;
            rc = vmf_copy_sparse(disk, tdisk, &cerr);
            if (rc < 0) {
                g_set_error(error, vmf_cache_error_quark(), VMF_EXIT_OUTPUT, "%s", cerr->message);
                g_error_free(cerr);
            } else {
                g_unlink(disk);
            }
        }
    }
    GError *ferr = NULL;
    if (rc == 0 && !g_file_set_contents(tinfo, info_json, -1, &ferr)) {
        rc = -EIO;
        g_set_error(error, vmf_cache_error_quark(), VMF_EXIT_OUTPUT, "%s", ferr->message);
        g_error_free(ferr);
    }
    /* An older entry under the same key (--rebuild) moves aside first: a
     * folder cannot be renamed over a non-empty one. */
    g_autofree char *old = NULL;
    if (rc == 0 && g_file_test(e->dir, G_FILE_TEST_IS_DIR)) {
        old = g_strdup_printf("%s.old-XXXXXX", e->dir);
        if (!g_mkdtemp_full(old, 0755) || g_rmdir(old) < 0 || g_rename(e->dir, old) < 0) {
            rc = -errno;
            g_set_error(error, vmf_cache_error_quark(), VMF_EXIT_OUTPUT, "%s: %s", e->dir,
                        g_strerror(errno));
            g_clear_pointer(&old, g_free);
        }
    }
    if (rc == 0 && g_rename(tmp, e->dir) < 0) {
        rc = -errno;
        g_set_error(error, vmf_cache_error_quark(), VMF_EXIT_OUTPUT, "%s: %s", e->dir,
                    g_strerror(errno));
    }
    if (rc < 0)
        vmf_remove_workdir(tmp);
    if (old)
        vmf_remove_workdir(old);
    return rc;
}
