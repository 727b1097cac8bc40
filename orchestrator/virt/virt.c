/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "virt.h"

#include "domain-xml.h"

#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <string.h>
#include <unistd.h>

G_DEFINE_QUARK(vmf - virt - error - quark, vmf_virt_error)

/* Pieces of an upload: large enough to keep the stream busy. */
#define UPLOAD_CHUNK (1u << 20)

struct VmfVirt {
    virConnectPtr conn;
    virConnectPtr console_conn;
    int event_id;     /* lifecycle callback, or -1 */
    gint stop_reason; /* VmfStopReason, set by the event thread */
    char *uri;
    virStoragePoolPtr pool;
};

struct VmfUpload {
    VmfVirt *v;
    virStorageVolPtr vol;
    virStreamPtr st;
    char *name;
    uint64_t size, sent;
};

static void quiet_errors(void *opaque, virErrorPtr err)
{
    /* libvirt prints every error on stderr by default; vmforge reports them
     * itself, once, with what it was doing. */
    (void)opaque;
    (void)err;
}

const char *vmf_virt_last_error(void)
{
    const char *m = virGetLastErrorMessage();
    return m && *m ? m : "unknown libvirt error";
}

static void set_virt_error(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void set_virt_error(GError **error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, vmf_virt_error_quark(), 1, "%s: %s", what, vmf_virt_last_error());
}

const char *vmf_virt_default_uri(void)
{
    const char *env = g_getenv("LIBVIRT_DEFAULT_URI");
    if (env && *env)
        return env;
    return geteuid() == 0 ? "qemu:///system" : "qemu:///session";
}

/* qemu:///system, qemu+unix:///system: local. A host part or a network
 * transport: remote. */
static bool uri_is_remote(const char *uri)
{
    const char *sep = strstr(uri, "://");
    if (!sep)
        return false;
    g_autofree char *scheme = g_strndup(uri, (gsize)(sep - uri));
    const char *plus = strchr(scheme, '+');
    if (plus && strcmp(plus, "+unix") != 0)
        return true;
    const char *host = sep + 3;
    return host[0] != '/' && host[0] != '\0';
}

/* libvirt's default event loop, run by a thread of its own for the life of
 * the process: it delivers domain lifecycle events (how a guest stopped). */
static gpointer event_thread(gpointer opaque)
{
    (void)opaque;
    for (;;)
        if (virEventRunDefaultImpl() < 0)
            g_usleep(100 * 1000);
    return NULL;
}

static gpointer event_loop_start(gpointer opaque)
{
    (void)opaque;
    if (virEventRegisterDefaultImpl() < 0)
        return GINT_TO_POINTER(-1);
    g_thread_unref(g_thread_new("libvirt-events", event_thread, NULL));
    return GINT_TO_POINTER(0);
}

VmfVirt *vmf_virt_open(const char *uri, GError **error)
{
    static GOnce once = G_ONCE_INIT;
    g_once(&once, event_loop_start, NULL);
    if (!uri)
        uri = vmf_virt_default_uri();
    if (uri_is_remote(uri)) {
        g_set_error(error, vmf_virt_error_quark(), 2,
                    "%s: remote libvirt hosts are not supported yet (vmforge writes the disk and "
                    "media as local files); run vmforge on that host, or use a local URI such as "
                    "qemu:///system",
                    uri);
        return NULL;
    }
    virSetErrorFunc(NULL, quiet_errors);
    virConnectPtr conn = virConnectOpen(uri);
    if (!conn) {
        set_virt_error(error,
                       "cannot connect to libvirt at %s (is libvirtd running? vmforge doctor "
                       "checks)",
                       uri);
        return NULL;
    }
    VmfVirt *v = g_new0(VmfVirt, 1);
    v->conn = conn;
    v->event_id = -1;
    v->uri = g_strdup(uri);
    return v;
}

void vmf_virt_close(VmfVirt *v)
{
    if (!v)
        return;
    if (v->event_id >= 0)
        virConnectDomainEventDeregisterAny(v->conn, v->event_id);
    if (v->pool) {
        /* A transient pool disappears when destroyed; its folder and the
         * volumes left in it are the caller's to remove. */
        virStoragePoolDestroy(v->pool);
        virStoragePoolFree(v->pool);
    }
    if (v->console_conn)
        virConnectClose(v->console_conn);
    if (v->conn)
        virConnectClose(v->conn);
    g_free(v->uri);
    g_free(v);
}

virConnectPtr vmf_virt_conn(VmfVirt *v)
{
    return v->conn;
}

const char *vmf_virt_uri(VmfVirt *v)
{
    return v->uri;
}

static char *version_text(unsigned long v)
{
    return g_strdup_printf("%lu.%lu.%lu", v / 1000000, v / 1000 % 1000, v % 1000);
}

char *vmf_virt_versions(VmfVirt *v)
{
    unsigned long lib = 0, hv = 0;
    virConnectGetLibVersion(v->conn, &lib);
    virConnectGetVersion(v->conn, &hv);
    g_autofree char *l = version_text(lib);
    g_autofree char *h = version_text(hv);
    return g_strdup_printf("libvirt %s, QEMU %s", l, h);
}

void vmf_virt_version_parts(VmfVirt *v, char **libvirt, char **qemu)
{
    unsigned long lib = 0, hv = 0;
    virConnectGetLibVersion(v->conn, &lib);
    virConnectGetVersion(v->conn, &hv);
    *libvirt = version_text(lib);
    *qemu = version_text(hv);
}

const char *vmf_virt_domain_type(VmfVirt *v, const char *accel, GError **error)
{
    if (strcmp(accel, "tcg") == 0 || strcmp(accel, "qemu") == 0)
        return "qemu";
    char *caps = virConnectGetDomainCapabilities(v->conn, NULL, "x86_64", NULL, "kvm", 0);
    bool kvm = caps != NULL;
    free(caps);
    if (strcmp(accel, "kvm") == 0) {
        if (!kvm) {
            set_virt_error(error, "--accel kvm: this host cannot run KVM guests (use --accel tcg)");
            return NULL;
        }
        return "kvm";
    }
    if (strcmp(accel, "auto") == 0)
        return kvm ? "kvm" : "qemu";
    g_set_error(error, vmf_virt_error_quark(), 2, "--accel %s: expected auto, kvm or tcg", accel);
    return NULL;
}

int vmf_virt_pool_start(VmfVirt *v, const char *name, const char *dir, GError **error)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr pool = xmlNewNode(NULL, BAD_CAST "pool");
    xmlDocSetRootElement(doc, pool);
    xmlNewProp(pool, BAD_CAST "type", BAD_CAST "dir");
    xmlNewTextChild(pool, NULL, BAD_CAST "name", BAD_CAST name);
    xmlNodePtr target = xmlNewChild(pool, NULL, BAD_CAST "target", NULL);
    xmlNewTextChild(target, NULL, BAD_CAST "path", BAD_CAST dir);
    g_autofree char *xml = vmf_xml_doc_text(doc);
    xmlFreeDoc(doc);
    v->pool = virStoragePoolCreateXML(v->conn, xml, 0);
    if (!v->pool) {
        set_virt_error(error, "cannot create the storage pool %s on %s", name, dir);
        return -EIO;
    }
    return 0;
}

static virStorageVolPtr vol_new_full(VmfVirt *v, const char *name, uint64_t capacity,
                                     const char *backing, GError **error);

static virStorageVolPtr vol_new(VmfVirt *v, const char *name, uint64_t capacity, GError **error)
{
    return vol_new_full(v, name, capacity, NULL, error);
}

char *vmf_virt_overlay_create(VmfVirt *v, const char *name, const char *backing, uint64_t capacity,
                              GError **error)
{
    g_autoptr(virStorageVol) vol = vol_new_full(v, name, capacity, backing, error);
    if (!vol)
        return NULL;
    char *path = virStorageVolGetPath(vol);
    char *out = g_strdup(path);
    free(path);
    return out;
}

bool vmf_virt_domain_shutdown(virDomainPtr dom, unsigned seconds)
{
    if (!vmf_virt_domain_running(dom))
        return true;
    virDomainShutdown(dom);
    for (unsigned i = 0; i < seconds * 2; i++) {
        if (!vmf_virt_domain_running(dom))
            return true;
        g_usleep(500 * 1000);
    }
    virDomainDestroy(dom);
    return false;
}

static virStorageVolPtr vol_new_full(VmfVirt *v, const char *name, uint64_t capacity,
                                     const char *backing, GError **error)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr vol = xmlNewNode(NULL, BAD_CAST "volume");
    xmlDocSetRootElement(doc, vol);
    xmlNewTextChild(vol, NULL, BAD_CAST "name", BAD_CAST name);
    char num[32];
    g_snprintf(num, sizeof(num), "%" G_GUINT64_FORMAT, capacity);
    xmlNodePtr cap = xmlNewTextChild(vol, NULL, BAD_CAST "capacity", BAD_CAST num);
    xmlNewProp(cap, BAD_CAST "unit", BAD_CAST "bytes");
    xmlNodePtr alloc = xmlNewTextChild(vol, NULL, BAD_CAST "allocation", BAD_CAST "0");
    xmlNewProp(alloc, BAD_CAST "unit", BAD_CAST "bytes");
    xmlNodePtr target = xmlNewChild(vol, NULL, BAD_CAST "target", NULL);
    xmlNodePtr fmt = xmlNewChild(target, NULL, BAD_CAST "format", NULL);
    xmlNewProp(fmt, BAD_CAST "type", BAD_CAST(backing ? "qcow2" : "raw"));
    if (backing) {
        xmlNodePtr bs = xmlNewChild(vol, NULL, BAD_CAST "backingStore", NULL);
        xmlNewTextChild(bs, NULL, BAD_CAST "path", BAD_CAST backing);
        xmlNodePtr bf = xmlNewChild(bs, NULL, BAD_CAST "format", NULL);
        xmlNewProp(bf, BAD_CAST "type", BAD_CAST "raw");
    }
    g_autofree char *xml = vmf_xml_doc_text(doc);
    xmlFreeDoc(doc);
    virStorageVolPtr p = virStorageVolCreateXML(v->pool, xml, 0);
    if (!p)
        set_virt_error(error, "cannot create volume %s", name);
    return p;
}

char *vmf_virt_vol_create(VmfVirt *v, const char *name, uint64_t capacity, GError **error)
{
    g_autoptr(virStorageVol) vol = vol_new(v, name, capacity, error);
    if (!vol)
        return NULL;
    char *path = virStorageVolGetPath(vol);
    if (!path)
        set_virt_error(error, "volume %s has no path", name);
    char *out = g_strdup(path);
    free(path);
    return out;
}

VmfUpload *vmf_virt_upload_begin(VmfVirt *v, const char *name, uint64_t size, GError **error)
{
    VmfUpload *u = g_new0(VmfUpload, 1);
    u->v = v;
    u->name = g_strdup(name);
    u->size = size;
    u->vol = vol_new(v, name, size ? size : 1, error);
    if (!u->vol)
        goto fail;
    u->st = virStreamNew(v->conn, 0);
    if (!u->st || virStorageVolUpload(u->vol, u->st, 0, size, 0) < 0) {
        set_virt_error(error, "cannot upload to volume %s", name);
        goto fail;
    }
    return u;
fail:
    vmf_upload_abort(u);
    return NULL;
}

int vmf_upload_write(VmfUpload *u, const void *buf, size_t len, GError **error)
{
    const char *p = buf;
    if (u->sent + len > u->size) {
        g_set_error(error, vmf_virt_error_quark(), 1, "volume %s: more data than announced",
                    u->name);
        return -EFBIG;
    }
    while (len) {
        size_t n = MIN(len, (size_t)UPLOAD_CHUNK);
        int r = virStreamSend(u->st, p, n);
        if (r < 0) {
            set_virt_error(error, "uploading to volume %s", u->name);
            return -EIO;
        }
        p += r;
        len -= (size_t)r;
        u->sent += (uint64_t)r;
    }
    return 0;
}

char *vmf_upload_finish(VmfUpload *u, GError **error)
{
    char *out = NULL;
    if (u->sent != u->size)
        g_set_error(error, vmf_virt_error_quark(), 1,
                    "volume %s: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes uploaded",
                    u->name, u->sent, u->size);
    else if (virStreamFinish(u->st) < 0)
        set_virt_error(error, "finishing the upload to volume %s", u->name);
    else {
        char *path = virStorageVolGetPath(u->vol);
        out = g_strdup(path);
        free(path);
        virStreamFree(u->st);
        u->st = NULL;
    }
    if (!out) {
        vmf_upload_abort(u);
        return NULL;
    }
    virStorageVolFree(u->vol);
    g_free(u->name);
    g_free(u);
    return out;
}

void vmf_upload_abort(VmfUpload *u)
{
    if (!u)
        return;
    if (u->st) {
        virStreamAbort(u->st);
        virStreamFree(u->st);
    }
    if (u->vol) {
        virStorageVolDelete(u->vol, 0);
        virStorageVolFree(u->vol);
    }
    g_free(u->name);
    g_free(u);
}

virDomainPtr vmf_virt_domain_create_paused(VmfVirt *v, const char *xml, GError **error)
{
    virDomainPtr dom = virDomainCreateXML(v->conn, xml, VIR_DOMAIN_START_PAUSED);
    if (!dom)
        set_virt_error(error, "cannot start the domain");
    return dom;
}

int vmf_virt_domain_resume(virDomainPtr dom, GError **error)
{
    if (virDomainResume(dom) < 0) {
        set_virt_error(error, "cannot resume domain %s", virDomainGetName(dom));
        return -EIO;
    }
    return 0;
}

virStreamPtr vmf_virt_console_open(VmfVirt *v, virDomainPtr dom, GError **error)
{
    /* The console gets a connection of its own: a thread blocked reading a
     * stream owns its connection's I/O, and calls from other threads on the
     * same connection (block statistics, destroy) would wait behind it. */
    unsigned char uuid[VIR_UUID_BUFLEN];
    if (virDomainGetUUID(dom, uuid) < 0) {
        set_virt_error(error, "domain %s", virDomainGetName(dom));
        return NULL;
    }
    if (!v->console_conn && !(v->console_conn = virConnectOpen(v->uri))) {
        set_virt_error(error, "cannot open a second libvirt connection for the console");
        return NULL;
    }
    g_autoptr(virDomain) d = virDomainLookupByUUID(v->console_conn, uuid);
    virStreamPtr st = d ? virStreamNew(v->console_conn, 0) : NULL;
    if (!st || virDomainOpenConsole(d, NULL, st, VIR_DOMAIN_CONSOLE_FORCE) < 0) {
        set_virt_error(error, "cannot open the serial console of domain %s", virDomainGetName(dom));
        if (st)
            virStreamFree(st);
        return NULL;
    }
    return st;
}

static int lifecycle_cb(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    (void)conn;
    (void)dom;
    VmfVirt *v = opaque;
    if (event == VIR_DOMAIN_EVENT_STOPPED) {
        VmfStopReason r = VMF_STOP_OTHER;
        if (detail == VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN)
            r = VMF_STOP_POWEROFF;
        else if (detail == VIR_DOMAIN_EVENT_STOPPED_DESTROYED)
            r = VMF_STOP_DESTROYED;
        else if (detail == VIR_DOMAIN_EVENT_STOPPED_CRASHED)
            r = VMF_STOP_CRASHED;
        else if (detail == VIR_DOMAIN_EVENT_STOPPED_FAILED)
            r = VMF_STOP_FAILED;
        g_atomic_int_set(&v->stop_reason, r);
    } else if (event == VIR_DOMAIN_EVENT_CRASHED) {
        g_atomic_int_set(&v->stop_reason, VMF_STOP_CRASHED);
    }
    return 0;
}

int vmf_virt_watch_domain(VmfVirt *v, virDomainPtr dom, GError **error)
{
    g_atomic_int_set(&v->stop_reason, VMF_STOP_NONE);
    v->event_id =
        virConnectDomainEventRegisterAny(v->conn, dom, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                         VIR_DOMAIN_EVENT_CALLBACK(lifecycle_cb), v, NULL);
    if (v->event_id < 0) {
        set_virt_error(error, "cannot watch domain %s", virDomainGetName(dom));
        return -EIO;
    }
    return 0;
}

VmfStopReason vmf_virt_stop_reason(VmfVirt *v)
{
    return (VmfStopReason)g_atomic_int_get(&v->stop_reason);
}

const char *vmf_stop_reason_text(VmfStopReason r)
{
    switch (r) {
    case VMF_STOP_NONE:
        return "still running, or stopped without telling libvirt how";
    case VMF_STOP_POWEROFF:
        return "the guest powered off";
    case VMF_STOP_DESTROYED:
        return "the domain was destroyed (not by the guest)";
    case VMF_STOP_CRASHED:
        return "the guest crashed";
    case VMF_STOP_FAILED:
        return "QEMU failed";
    case VMF_STOP_OTHER:
        break;
    }
    return "the domain stopped (not by a guest power-off)";
}

int vmf_virt_domain_running(virDomainPtr dom)
{
    int state = 0, reason = 0;
    if (virDomainGetState(dom, &state, &reason, 0) < 0)
        return 0; /* a transient domain that powered off no longer exists */
    return state != VIR_DOMAIN_SHUTOFF && state != VIR_DOMAIN_CRASHED;
}

int vmf_virt_domain_io_error(virDomainPtr dom)
{
    int state = 0, reason = 0;
    if (virDomainGetState(dom, &state, &reason, 0) < 0 || state != VIR_DOMAIN_PAUSED ||
        reason != VIR_DOMAIN_PAUSED_IOERROR)
        return 0;
    virDomainDiskError errs[8];
    int n = virDomainGetDiskErrors(dom, errs, G_N_ELEMENTS(errs), 0);
    int what = -EIO;
    for (int i = 0; i < n; i++) {
        if (errs[i].error == VIR_DOMAIN_DISK_ERROR_NO_SPACE)
            what = -ENOSPC;
        free(errs[i].disk);
    }
    return what;
}

uint64_t vmf_virt_domain_io(virDomainPtr dom, const char *dev)
{
    virDomainBlockStatsStruct st;
    if (virDomainBlockStats(dom, dev, &st, sizeof(st)) < 0)
        return 0;
    return (uint64_t)MAX(st.rd_bytes, 0) + (uint64_t)MAX(st.wr_bytes, 0);
}

void vmf_virt_domain_destroy(virDomainPtr dom)
{
    if (dom && vmf_virt_domain_running(dom))
        virDomainDestroy(dom);
}

char *vmf_virt_network_address(VmfVirt *v, const char *name, GError **error)
{
    virNetworkPtr net = virNetworkLookupByName(v->conn, name);
    if (!net) {
        set_virt_error(error, "libvirt network %s", name);
        return NULL;
    }
    char *xml = virNetworkGetXMLDesc(net, 0);
    virNetworkFree(net);
    if (!xml) {
        set_virt_error(error, "libvirt network %s", name);
        return NULL;
    }
    char *addr = NULL;
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "network.xml", NULL, XML_PARSE_NONET);
    free(xml);
    if (doc) {
        xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
        xmlXPathObjectPtr r = xmlXPathEvalExpression(
            BAD_CAST "string(/network/ip[not(@family) or @family='ipv4']/@address)", ctx);
        if (r && r->stringval && r->stringval[0])
            addr = g_strdup((const char *)r->stringval);
        xmlXPathFreeObject(r);
        xmlXPathFreeContext(ctx);
        xmlFreeDoc(doc);
    }
    if (!addr)
        g_set_error(error, vmf_virt_error_quark(), 1,
                    "libvirt network %s has no IPv4 address on the host to serve the answer file "
                    "from (use inject: initrd or oemdrv)",
                    name);
    return addr;
}
