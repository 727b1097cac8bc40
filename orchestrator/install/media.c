/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "media.h"

#include <archive.h>
#include <archive_entry.h>
#include <osinfo/osinfo.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

G_DEFINE_QUARK(vmf - media - error - quark, vmf_media_error)

/* A .treeinfo is a few hundred bytes. */
#define MAX_TREEINFO (64u << 10)

void vmf_media_free(VmfMedia *m)
{
    if (!m)
        return;
    g_free(m->iso);
    g_free(m->volume_id);
    g_free(m->os);
    g_free(m->distro);
    g_free(m->family);
    g_free(m->kernel);
    g_free(m->initrd);
    g_free(m);
}

static const char *member_name(struct archive_entry *e)
{
    const char *name = archive_entry_pathname(e);
    while (name && (name[0] == '.' && name[1] == '/'))
        name += 2;
    while (name && name[0] == '/')
        name++;
    return name;
}

int vmf_media_extract(const char *iso, const char *member, VmfMediaSizeCb size_cb,
                      VmfMediaSinkCb sink, void *opaque, GError **error)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_iso9660(a);
    int rc = -EIO;
    if (archive_read_open_filename(a, iso, 1 << 16) != ARCHIVE_OK) {
        g_set_error(error, vmf_media_error_quark(), 1, "%s: %s", iso, archive_error_string(a));
        goto out;
    }
    while (member[0] == '/')
        member++;
    struct archive_entry *e;
    int r;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        if (strcmp(member_name(e), member) != 0)
            continue;
        gint64 size = archive_entry_size(e);
        if (size < 0 || (guint64)size > VMF_MEDIA_MAX_BOOT_FILE) {
            g_set_error(error, vmf_media_error_quark(), 1,
                        "%s: %s is %" G_GINT64_FORMAT " bytes; boot files are at most 1 GiB", iso,
                        member, size);
            goto out;
        }
        if (size_cb && (rc = size_cb((guint64)size, opaque)) < 0)
            goto out;
        const void *buf;
        size_t len;
        la_int64_t off;
        while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK)
            if ((rc = sink(buf, len, opaque)) < 0)
                goto out;
        if (r != ARCHIVE_EOF) {
            g_set_error(error, vmf_media_error_quark(), 1, "%s: reading %s: %s", iso, member,
                        archive_error_string(a));
            rc = -EIO;
            goto out;
        }
        rc = 0;
        goto out;
    }
    if (r == ARCHIVE_EOF)
        g_set_error(error, vmf_media_error_quark(), 1, "%s: has no %s", iso, member);
    else
        g_set_error(error, vmf_media_error_quark(), 1, "%s: %s", iso, archive_error_string(a));
    rc = r == ARCHIVE_EOF ? -ENOENT : -EIO;
out:
    archive_read_free(a);
    return rc;
}

static int collect(const void *buf, size_t len, void *opaque)
{
    GByteArray *b = opaque;
    if (b->len + len > MAX_TREEINFO)
        return -EFBIG;
    g_byte_array_append(b, buf, (guint)len);
    return 0;
}

/* Fills `m` from the ISO's .treeinfo (Anaconda media and vmforge's offline
 * installer carry one). */
static bool from_treeinfo(VmfMedia *m, GError **error)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    g_autoptr(GError) err = NULL;
    if (vmf_media_extract(m->iso, ".treeinfo", NULL, collect, b, &err) < 0)
        return false;
    g_autoptr(GKeyFile) kf = g_key_file_new();
    if (!g_key_file_load_from_data(kf, (const char *)b->data, b->len, G_KEY_FILE_NONE, &err)) {
        g_set_error(error, vmf_media_error_quark(), 1, "%s: .treeinfo: %s", m->iso, err->message);
        return false;
    }
    g_autofree char *family = g_key_file_get_string(kf, "general", "family", NULL);
    if (!family)
        family = g_key_file_get_string(kf, "release", "name", NULL);
    m->kernel = g_key_file_get_string(kf, "images-x86_64", "kernel", NULL);
    m->initrd = g_key_file_get_string(kf, "images-x86_64", "initrd", NULL);
    if (!family || !m->kernel || !m->initrd) {
        g_set_error(error, vmf_media_error_quark(), 1,
                    "%s: its .treeinfo names no family or no x86_64 kernel and initrd", m->iso);
        return false;
    }
    g_autofree char *version = g_key_file_get_string(kf, "general", "version", NULL);
    m->os = g_strdup_printf("%s %s", family, version ? version : "");
    g_strstrip(m->os);
    if (g_str_has_prefix(family, "vmforge offline installer")) {
        m->family = g_strdup("offline");
        m->distro = g_strdup("vmforge-offline");
    } else {
        m->family = g_strdup("anaconda");
        m->distro = g_ascii_strdown(family, -1);
    }
    return true;
}

/* Distros whose installer is Anaconda (libosinfo's distro names). */
static const char *const anaconda_distros[] = {
    "fedora",          "rhel",   "centos",    "centos-stream", "almalinux",    "rocky", "ol",
    "scientificlinux", "circle", "eurolinux", "navylinux",     "miraclelinux", NULL,
};

VmfMedia *vmf_media_identify(const char *iso, GError **error)
{
    g_autoptr(VmfMedia) m = g_new0(VmfMedia, 1);
    m->iso = g_canonicalize_filename(iso, NULL);
    if (!g_file_test(m->iso, G_FILE_TEST_IS_REGULAR)) {
        g_set_error(error, vmf_media_error_quark(), 1, "%s: no such installer ISO", m->iso);
        return NULL;
    }
    g_autoptr(GError) err = NULL;
    g_autoptr(OsinfoMedia) media = osinfo_media_create_from_location(m->iso, NULL, &err);
    if (!media) {
        g_set_error(error, vmf_media_error_quark(), 1, "%s: not an ISO 9660 image (%s)", m->iso,
                    err ? err->message : "libosinfo could not read it");
        return NULL;
    }
    m->volume_id = g_strdup(osinfo_media_get_volume_id(media));
    g_autoptr(OsinfoLoader) loader = osinfo_loader_new();
    osinfo_loader_process_default_path(loader, NULL);
    OsinfoDb *db = osinfo_loader_get_db(loader);
    if (osinfo_db_identify_media(db, media)) {
        OsinfoOs *os = osinfo_media_get_os(media);
        const char *distro = os ? osinfo_os_get_distro(os) : NULL;
        m->os = g_strdup(os ? osinfo_product_get_short_id(OSINFO_PRODUCT(os)) : "unknown");
        m->distro = g_strdup(distro ? distro : "unknown");
        if (osinfo_media_get_kernel_path(media))
            m->kernel = g_strdup(osinfo_media_get_kernel_path(media));
        if (osinfo_media_get_initrd_path(media))
            m->initrd = g_strdup(osinfo_media_get_initrd_path(media));
        if (g_strv_contains(anaconda_distros, m->distro))
            m->family = g_strdup("anaconda");
        /* The database's paths are a guess for some releases: the ISO's own
         * .treeinfo, when it has one, wins. */
        g_autoptr(VmfMedia) t = g_new0(VmfMedia, 1);
        t->iso = g_strdup(m->iso);
        if (from_treeinfo(t, NULL)) {
            g_free(m->kernel);
            g_free(m->initrd);
            m->kernel = g_steal_pointer(&t->kernel);
            m->initrd = g_steal_pointer(&t->initrd);
        }
        if (!m->family) {
            g_set_error(error, vmf_media_error_quark(), 1,
                        "%s: %s (%s) is not installed with Anaconda; vmforge install supports "
                        "Anaconda media (Fedora, RHEL, AlmaLinux, Rocky, CentOS Stream) and its "
                        "offline installer",
                        m->iso, m->os, m->distro);
            return NULL;
        }
        if (!m->kernel || !m->initrd) {
            g_set_error(error, vmf_media_error_quark(), 1,
                        "%s: libosinfo knows %s but not where its kernel and initrd are; give "
                        "installer kernel: and initrd:",
                        m->iso, m->os);
            return NULL;
        }
        return g_steal_pointer(&m);
    }
    if (from_treeinfo(m, error))
        return g_steal_pointer(&m);
    if (error && !*error)
        g_set_error(error, vmf_media_error_quark(), 1,
                    "%s (volume \"%s\"): libosinfo does not know this ISO and it has no "
                    ".treeinfo; give installer kernel: and initrd: and family:",
                    m->iso, m->volume_id ? m->volume_id : "");
    return NULL;
}
