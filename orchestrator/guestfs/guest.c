/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "guest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK(vmf - guest - error - quark, vmf_guest_error)

/* /etc/passwd, /etc/group and /etc/shadow larger than this are not read. */
#define MAX_DB_FILE (16u << 20)

struct VmfGuest {
    guestfs_h *g;
    char *root;
    char *distro;
    char *pkg;
    char **mountpoints;
    unsigned run_seq;
};

guestfs_h *vmf_guest_handle(VmfGuest *g)
{
    return g->g;
}

const char *vmf_guest_distro(VmfGuest *g)
{
    return g->distro ? g->distro : "unknown";
}

const char *vmf_guest_package_manager(VmfGuest *g)
{
    return g->pkg ? g->pkg : "unknown";
}

char **vmf_guest_mountpoints(VmfGuest *g)
{
    return g->mountpoints;
}

int vmf_guest_fail(VmfGuest *g, GError **error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    const char *e = g && g->g ? guestfs_last_error(g->g) : NULL;
    g_set_error(error, vmf_guest_error_quark(), 1, "%s: %s", what, e ? e : "libguestfs failed");
    return -EIO;
}

static void free_strv(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

void vmf_guest_free(VmfGuest *g)
{
    if (!g)
        return;
    if (g->g)
        guestfs_close(g->g);
    free(g->root);
    free(g->distro);
    free(g->pkg);
    g_strfreev(g->mountpoints);
    g_free(g);
}

VmfGuest *vmf_guest_open(const char *disk, const char *accel, bool network, GError **error)
{
    const char *disks[] = {disk, NULL};
    return vmf_guest_open_drives(disks, "raw", accel, network, error);
}

VmfGuest *vmf_guest_open_drives(const char *const *disks, const char *format, const char *accel,
                                bool network, GError **error)
{
    VmfGuest *g = g_new0(VmfGuest, 1);
    g->g = guestfs_create();
    if (!g->g) {
        g_set_error(error, vmf_guest_error_quark(), 1, "cannot create a libguestfs handle");
        vmf_guest_free(g);
        return NULL;
    }
    /* Errors are returned and reported by vmforge, not printed by libguestfs. */
    guestfs_set_error_handler(g->g, NULL, NULL);
    if (strcmp(accel, "tcg") == 0) {
        char *settings[] = {(char *)"force_tcg", NULL};
        guestfs_set_backend_settings(g->g, settings);
    }
    if (network)
        guestfs_set_network(g->g, 1);
    for (const char *const *d = disks; *d; d++)
        if (guestfs_add_drive_opts(g->g, *d, GUESTFS_ADD_DRIVE_OPTS_FORMAT, format, -1) < 0) {
            vmf_guest_fail(g, error, "%s: cannot add the disk", *d);
            vmf_guest_free(g);
            return NULL;
        }
    if (guestfs_launch(g->g) < 0) {
        vmf_guest_fail(g, error, "%s: cannot start the libguestfs appliance", disks[0]);
        vmf_guest_free(g);
        return NULL;
    }
    return g;
}

static int mp_cmp(const void *a, const void *b)
{
    return (int)strlen(*(char *const *)a) - (int)strlen(*(char *const *)b);
}

int vmf_guest_mount(VmfGuest *g, GError **error)
{
    char **roots = guestfs_inspect_os(g->g);
    if (!roots)
        return vmf_guest_fail(g, error, "inspecting the disk");
    if (!roots[0]) {
        free_strv(roots);
        g_set_error(error, vmf_guest_error_quark(), 1,
                    "no operating system found on the disk (libguestfs inspection)");
        return -ENOENT;
    }
    g->root = strdup(roots[0]);
    free_strv(roots);
    g->distro = guestfs_inspect_get_distro(g->g, g->root);
    g->pkg = guestfs_inspect_get_package_management(g->g, g->root);
    char **mps = guestfs_inspect_get_mountpoints(g->g, g->root);
    if (!mps)
        return vmf_guest_fail(g, error, "listing the guest's file systems");
    /* A hash of mountpoint -> device, as pairs; mount shortest path first. */
    size_t n = 0;
    while (mps[2 * n])
        n++;
    char **paths = g_new0(char *, n + 1);
    for (size_t i = 0; i < n; i++)
        paths[i] = g_strdup(mps[2 * i]);
    qsort(paths, n, sizeof(char *), mp_cmp);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        for (size_t j = 0; j < n; j++)
            if (strcmp(mps[2 * j], paths[i]) == 0) {
                if (guestfs_mount(g->g, mps[2 * j + 1], paths[i]) < 0)
                    rc = vmf_guest_fail(g, error, "mounting %s on %s", mps[2 * j + 1], paths[i]);
                break;
            }
    free_strv(mps);
    g->mountpoints = paths;
    return rc;
}

int vmf_guest_close(VmfGuest *g, GError **error)
{
    int rc = 0;
    if (guestfs_umount_all(g->g) < 0 || guestfs_shutdown(g->g) < 0)
        rc = vmf_guest_fail(g, error, "closing the disk");
    vmf_guest_free(g);
    return rc;
}

int vmf_guest_run(VmfGuest *g, const char *script, char **output, int *status, GError **error)
{
    /* The script goes into a file (no quoting troubles); its status comes
     * back on the last line, so a failing command still gives its output. */
    g_autofree char *path = g_strdup_printf("/tmp/vmforge-run-%u-%d.sh", ++g->run_seq, getpid());
    if (guestfs_write(g->g, path, script, strlen(script)) < 0)
        return vmf_guest_fail(g, error, "copying the script into the guest");
    g_autofree char *cmd =
        g_strdup_printf("sh %s </dev/null 2>&1; echo \"\nvmforge-status=$?\"", path);
    char *out = guestfs_sh(g->g, cmd);
    int saved = out ? 0 : vmf_guest_fail(g, error, "running the script in the guest");
    guestfs_rm_f(g->g, path);
    if (!out)
        return saved;
    char *mark = g_strrstr(out, "\nvmforge-status=");
    *status = mark ? atoi(mark + strlen("\nvmforge-status=")) : -1;
    if (mark) {
        *mark = '\0';
        /* The newline echo added before the status. */
        size_t len = strlen(out);
        if (len && out[len - 1] == '\n')
            out[len - 1] = '\0';
    }
    *output = g_strdup(out);
    free(out);
    return 0;
}

static char *read_db(VmfGuest *g, const char *path)
{
    size_t len = 0;
    if (guestfs_is_file(g->g, path) <= 0)
        return NULL;
    int64_t size = guestfs_filesize(g->g, path);
    if (size < 0 || size > MAX_DB_FILE)
        return NULL;
    char *data = guestfs_read_file(g->g, path, &len);
    if (!data)
        return NULL;
    char *s = g_strndup(data, len);
    free(data);
    return s;
}

/* The fields of the line of `file` whose first field is `name`. */
static char **db_entry(VmfGuest *g, const char *file, const char *name)
{
    g_autofree char *text = read_db(g, file);
    if (!text)
        return NULL;
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        char **f = g_strsplit(*l, ":", -1);
        if (f[0] && strcmp(f[0], name) == 0)
            return f;
        g_strfreev(f);
    }
    return NULL;
}

int vmf_guest_lookup_user(VmfGuest *g, const char *user, int *uid, int *gid, char **home)
{
    g_auto(GStrv) f = db_entry(g, "/etc/passwd", user);
    if (!f || g_strv_length(f) < 7)
        return -ENOENT;
    *uid = atoi(f[2]);
    *gid = atoi(f[3]);
    if (home)
        *home = g_strdup(f[5]);
    return 0;
}

int vmf_guest_lookup_group(VmfGuest *g, const char *group, int *gid)
{
    g_auto(GStrv) f = db_entry(g, "/etc/group", group);
    if (!f || g_strv_length(f) < 3)
        return -ENOENT;
    *gid = atoi(f[2]);
    return 0;
}

int vmf_guest_set_password_hash(VmfGuest *g, const char *user, const char *hash, GError **error)
{
    g_autofree char *text = read_db(g, "/etc/shadow");
    if (!text) {
        g_set_error(error, vmf_guest_error_quark(), 1, "the guest has no readable /etc/shadow");
        return -ENOENT;
    }
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    bool found = false;
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit(*l, ":", -1);
        if (!f[0] || strcmp(f[0], user) != 0 || g_strv_length(f) < 2)
            continue;
        g_free(f[1]);
        f[1] = g_strdup(hash);
        g_free(*l);
        *l = g_strjoinv(":", f);
        found = true;
    }
    if (!found) {
        g_set_error(error, vmf_guest_error_quark(), 1, "user %s is not in /etc/shadow", user);
        return -ENOENT;
    }
    g_autofree char *out = g_strjoinv("\n", lines);
    /* Written in place: /etc/shadow keeps its owner, mode and SELinux label. */
    if (guestfs_write(g->g, "/etc/shadow", out, strlen(out)) < 0)
        return vmf_guest_fail(g, error, "writing /etc/shadow");
    explicit_bzero(out, strlen(out));
    explicit_bzero(text, strlen(text));
    return 0;
}

char *vmf_guest_library_version(void)
{
    guestfs_h *g = guestfs_create_flags(GUESTFS_CREATE_NO_ENVIRONMENT);
    if (!g)
        return g_strdup("unknown");
    struct guestfs_version *v = guestfs_version(g);
    char *text =
        v ? g_strdup_printf("%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT "%s",
                            v->major, v->minor, v->release, v->extra)
          : g_strdup("unknown");
    if (v)
        guestfs_free_version(v);
    guestfs_close(g);
    return text;
}

int vmf_guest_probe(const char *accel, GError **error)
{
    g_autoptr(VmfGuest) g = g_new0(VmfGuest, 1);
    g->g = guestfs_create();
    if (!g->g) {
        g_set_error(error, vmf_guest_error_quark(), 1, "cannot create a libguestfs handle");
        return -ENOMEM;
    }
    guestfs_set_error_handler(g->g, NULL, NULL);
    if (strcmp(accel, "tcg") == 0) {
        char *settings[] = {(char *)"force_tcg", NULL};
        guestfs_set_backend_settings(g->g, settings);
    }
    if (guestfs_add_drive_scratch(g->g, 16 << 20, -1) < 0 || guestfs_launch(g->g) < 0)
        return vmf_guest_fail(g, error, "the libguestfs appliance did not start");
    if (guestfs_shutdown(g->g) < 0)
        return vmf_guest_fail(g, error, "the libguestfs appliance did not shut down");
    return 0;
}

int vmf_guest_overlay_create(const char *path, const char *backing, const char *backing_format,
                             GError **error)
{
    return vmf_guest_qcow2_create(path, -1, backing, backing_format, error);
}

int vmf_guest_qcow2_create(const char *path, int64_t size, const char *backing,
                           const char *backing_format, GError **error)
{
    guestfs_h *g = guestfs_create();
    if (!g) {
        g_set_error(error, vmf_guest_error_quark(), 1, "cannot create a libguestfs handle");
        return -ENOMEM;
    }
    guestfs_set_error_handler(g, NULL, NULL);
    int r = backing ? guestfs_disk_create(g, path, "qcow2", size, GUESTFS_DISK_CREATE_BACKINGFILE,
                                          backing, GUESTFS_DISK_CREATE_BACKINGFORMAT,
                                          backing_format, -1)
                    : guestfs_disk_create(g, path, "qcow2", size, -1);
    if (r < 0)
        g_set_error(error, vmf_guest_error_quark(), 1, "%s: cannot create a qcow2 image%s%s: %s",
                    path, backing ? " backed by " : "", backing ? backing : "",
                    guestfs_last_error(g));
    guestfs_close(g);
    return r < 0 ? -EIO : 0;
}
