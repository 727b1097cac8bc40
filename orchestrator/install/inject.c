/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "inject.h"

#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

G_DEFINE_QUARK(vmf - inject - error - quark, vmf_inject_error)

static la_ssize_t write_cb(struct archive *a, void *opaque, const void *buf, size_t len)
{
    (void)a;
    g_byte_array_append(opaque, buf, (guint)len);
    return (la_ssize_t)len;
}

/* Timestamps of injected files: SOURCE_DATE_EPOCH when set, so the same
 * inputs give the same bytes. */
static time_t build_time(void)
{
    const char *sde = g_getenv("SOURCE_DATE_EPOCH");
    return sde && g_ascii_isdigit(sde[0]) ? (time_t)g_ascii_strtoull(sde, NULL, 10) : time(NULL);
}

static GBytes *archive_one(int format, bool gzip, const char *volume_id, const char *name,
                           GBytes *content, GError **error)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    bool ok = archive_write_set_format(a, format) == ARCHIVE_OK &&
              (!gzip || archive_write_add_filter_gzip(a) == ARCHIVE_OK) &&
              (!volume_id || archive_write_set_format_option(a, "iso9660", "volume-id",
                                                             volume_id) == ARCHIVE_OK) &&
              archive_write_set_bytes_per_block(a, gzip ? 0 : 2048) == ARCHIVE_OK &&
              archive_write_open2(a, out, NULL, write_cb, NULL, NULL) == ARCHIVE_OK;
    if (ok) {
        gsize len = 0;
        const void *data = g_bytes_get_data(content, &len);
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0600);
        archive_entry_set_size(e, (la_int64_t)len);
        archive_entry_set_mtime(e, build_time(), 0);
        ok = archive_write_header(a, e) == ARCHIVE_OK &&
             archive_write_data(a, data, len) == (la_ssize_t)len &&
             archive_write_close(a) == ARCHIVE_OK;
    }
    if (!ok)
        g_set_error(error, vmf_inject_error_quark(), 1, "making the %s: %s",
                    volume_id ? "OEMDRV volume" : "initrd archive", archive_error_string(a));
    archive_entry_free(e);
    archive_write_free(a);
    return ok ? g_byte_array_free_to_bytes(g_steal_pointer(&out)) : NULL;
}

GBytes *vmf_inject_cpio(const char *name, GBytes *content, GError **error)
{
    return archive_one(ARCHIVE_FORMAT_CPIO_SVR4_NOCRC, true, NULL, name, content, error);
}

GBytes *vmf_inject_oemdrv(const char *name, GBytes *content, GError **error)
{
    return archive_one(ARCHIVE_FORMAT_ISO9660, false, "OEMDRV", name, content, error);
}

struct VmfHttp {
    struct MHD_Daemon *daemon;
    char *path; /* "/ks.cfg" */
    GBytes *content;
    unsigned port;
    gint served;
};

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_len, void **state)
{
    (void)version;
    (void)upload;
    (void)upload_len;
    (void)state;
    VmfHttp *h = cls;
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    bool head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    unsigned status;
    struct MHD_Response *resp;
    if (!get && !head) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else if (strcmp(url, h->path) != 0) {
        status = MHD_HTTP_NOT_FOUND;
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else {
        gsize len = 0;
        const void *data = g_bytes_get_data(h->content, &len);
        status = MHD_HTTP_OK;
        resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
        if (get)
            g_atomic_int_inc(&h->served);
    }
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

VmfHttp *vmf_http_start(const char *address, const char *name, GBytes *content, GError **error)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    if (inet_pton(AF_INET, address, &sin.sin_addr) != 1) {
        g_set_error(error, vmf_inject_error_quark(), 1, "%s: not an IPv4 address to serve on",
                    address);
        return NULL;
    }
    VmfHttp *h = g_new0(VmfHttp, 1);
    h->path = g_strconcat("/", name, NULL);
    h->content = g_bytes_ref(content);
    h->daemon =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, answer,
                         h, MHD_OPTION_SOCK_ADDR, &sin, MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (!h->daemon) {
        g_set_error(error, vmf_inject_error_quark(), 1,
                    "cannot serve the answer file on %s (libmicrohttpd could not bind it)",
                    address);
        vmf_http_stop(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : 0;
    if (!h->port) {
        g_set_error(error, vmf_inject_error_quark(), 1, "cannot tell which port %s was bound to",
                    address);
        vmf_http_stop(h);
        return NULL;
    }
    return h;
}

unsigned vmf_http_port(const VmfHttp *h)
{
    return h->port;
}

unsigned vmf_http_served(VmfHttp *h)
{
    return (unsigned)g_atomic_int_get(&h->served);
}

void vmf_http_stop(VmfHttp *h)
{
    if (!h)
        return;
    if (h->daemon)
        MHD_stop_daemon(h->daemon);
    g_free(h->path);
    g_bytes_unref(h->content);
    g_free(h);
}
