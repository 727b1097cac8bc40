/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "util.h"
#include "digest.h"

#include "exit-codes.h"
#include "signals.h"
#include "vmforge-config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vmf_parse_size(const char *text, uint64_t *out)
{
    if (!text || !g_ascii_isdigit(text[0]))
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno)
        return -ERANGE;
    unsigned shift = 0;
    switch (g_ascii_toupper(*end)) {
    case '\0':
        break;
    case 'K':
        shift = 10;
        break;
    case 'M':
        shift = 20;
        break;
    case 'G':
        shift = 30;
        break;
    case 'T':
        shift = 40;
        break;
    default:
        return -EINVAL;
    }
    if (*end) {
        end++;
        if (strcmp(end, "") != 0 && g_ascii_strcasecmp(end, "iB") != 0 &&
            g_ascii_strcasecmp(end, "B") != 0)
            return -EINVAL;
    }
    if (shift && v > (UINT64_MAX >> shift))
        return -ERANGE;
    *out = (uint64_t)v << shift;
    return 0;
}

const char *vmf_templates_dir(void)
{
    const char *env = g_getenv("VMFORGE_TEMPLATES");
    if (env && *env)
        return env;
    if (g_file_test(VMFORGE_TEMPLATES_INSTALLED, G_FILE_TEST_IS_DIR))
        return VMFORGE_TEMPLATES_INSTALLED;
    return VMFORGE_TEMPLATES_SOURCE;
}

void vmf_remove_workdir(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_unlink(path);
    }
    g_rmdir(dir);
}

void vmf_remove_tree(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            vmf_remove_tree(path);
        else
            g_unlink(path);
    }
    g_rmdir(dir);
}

int vmf_copy_sparse(const char *from, const char *to, GError **error)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        int e = errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "%s: %s", from, g_strerror(e));
        return -e;
    }
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        int e = errno;
        close(in);
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "%s: %s", to, g_strerror(e));
        return -e;
    }
    struct stat st;
    int rc = fstat(in, &st) < 0 || ftruncate(out, st.st_size) < 0 ? -errno : 0;
    off_t pos = 0;
    while (rc == 0 && pos < st.st_size) {
        off_t data = lseek(in, pos, SEEK_DATA);
        if (data < 0)
            break; /* no more data */
        off_t hole = lseek(in, data, SEEK_HOLE);
        off_t o = data;
        while (rc == 0 && o < hole) {
            ssize_t n = copy_file_range(in, &o, out, &(off_t){o}, (size_t)(hole - o), 0);
            if (n <= 0)
                rc = n < 0 ? -errno : -EIO;
        }
        pos = hole;
    }
    if (rc == 0 && fdatasync(out) < 0)
        rc = -errno;
    close(in);
    if (close(out) < 0 && rc == 0)
        rc = -errno;
    if (rc < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-rc), "copying %s to %s: %s", from,
                    to, g_strerror(-rc));
        g_unlink(to);
    }
    return rc;
}

int vmf_source_date_epoch(int64_t *out)
{
    const char *sde = g_getenv("SOURCE_DATE_EPOCH");
    *out = 0;
    if (!sde || !*sde)
        return 0;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(sde, &end, 10);
    if (errno || *end || v < 0)
        return -EINVAL;
    *out = v;
    return 0;
}

void vmf_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "vmforge %s: error: %s\n", cmd, msg);
}

G_DEFINE_QUARK(vmf - util - error - quark, vmf_util_error)

#define FAIL(code, ...)                                                                            \
    do {                                                                                           \
        g_set_error(error, vmf_util_error_quark(), (code), __VA_ARGS__);                           \
        return NULL;                                                                               \
    } while (0)

char *vmf_file_sha256(const char *path, GError **error)
{
    return vmf_file_digest(path, "sha256", error);
}

char *vmf_state_dir(void)
{
    const char *env = g_getenv("VMFORGE_STATE_DIR");
    if (env && *env)
        return g_canonicalize_filename(env, NULL);
    const char *xdg = g_getenv("XDG_STATE_HOME");
    if (xdg && g_path_is_absolute(xdg))
        return g_build_filename(xdg, "vmforge", NULL);
    return g_build_filename(g_get_home_dir(), ".local", "state", "vmforge", NULL);
}

char *vmf_relative_path(const char *from, const char *to)
{
    g_auto(GStrv) f = g_strsplit(from, "/", -1);
    g_auto(GStrv) t = g_strsplit(to, "/", -1);
    guint i = 0;
    while (f[i] && t[i] && strcmp(f[i], t[i]) == 0)
        i++;
    GString *s = g_string_new(NULL);
    for (guint j = i; f[j]; j++)
        if (*f[j])
            g_string_append(s, "../");
    for (guint j = i; t[j]; j++)
        if (*t[j])
            g_string_append_printf(s, "%s/", t[j]);
    if (s->len)
        g_string_truncate(s, s->len - 1);
    else
        g_string_assign(s, ".");
    return g_string_free(s, FALSE);
}
