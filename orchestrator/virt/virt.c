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

/* Keepalive: a probe every KEEPALIVE_INTERVAL s, the connection closed
 * after KEEPALIVE_COUNT unanswered ones: a dead host or network is noticed
 * within about half a minute. */
#define KEEPALIVE_INTERVAL 5
#define KEEPALIVE_COUNT    5

struct VmfVirt {
    virConnectPtr conn;
    virConnectPtr console_conn;
    int event_id;        /* lifecycle callback, or -1 */
    gint stop_reason;    /* VmfStopReason, set by the event thread */
    gint closed;         /* virConnectCloseReason + 1 once the connection dropped */
    unsigned generation; /* bumped by each reconnect */
    char *uri;
    char *host;
    bool remote;
    uint64_t sent, received; /* bytes of volume data on the wire */
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

void vmf_virt_error(GError **error, const char *fmt, ...)
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
bool vmf_virt_uri_is_remote(const char *uri)
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

/* The host a URI names ("builder1", "127.0.0.2"), or NULL for this one. */
static char *uri_host(const char *uri)
{
    g_autoptr(GUri) u = g_uri_parse(uri, G_URI_FLAGS_NON_DNS, NULL);
    const char *h = u ? g_uri_get_host(u) : NULL;
    return h && *h ? g_strdup(h) : NULL;
}

/* Credentials are libvirt's own (ssh keys and agent, SASL, TLS
 * certificates); a terminal may be asked for a password or passphrase,
 * anything else is asked for nothing. */
static int no_prompt(virConnectCredentialPtr cred, unsigned int ncred, void *cbdata)
{
    (void)cred;
    (void)ncred;
    (void)cbdata;
    return -1;
}

static virConnectAuthPtr auth_for(bool terminal)
{
    static int credtypes[] = {VIR_CRED_AUTHNAME, VIR_CRED_PASSPHRASE, VIR_CRED_ECHOPROMPT,
                              VIR_CRED_NOECHOPROMPT, VIR_CRED_REALM};
    static virConnectAuth none = {credtypes, G_N_ELEMENTS(credtypes), no_prompt, NULL};
    return terminal ? virConnectAuthPtrDefault : &none;
}

/* An ssh transport without a terminal must not wait for a prompt:
 * libvirt's no_tty=1 runs ssh in batch mode. */
static char *uri_for(const char *uri, bool terminal)
{
    if (terminal || !g_str_has_prefix(uri, "qemu+ssh://") || strstr(uri, "no_tty="))
        return g_strdup(uri);
    return g_strdup_printf("%s%sno_tty=1", uri, strchr(uri, '?') ? "&" : "?");
}

static void closed_cb(virConnectPtr conn, int reason, void *opaque)
{
    (void)conn;
    g_atomic_int_set(&((VmfVirt *)opaque)->closed, reason + 1);
}

/* A connection with keepalive; the main one (`watched`) also with the close
 * callback that tells how it was lost. */
static virConnectPtr connect_to(VmfVirt *v, bool watched, GError **error)
{
    bool terminal = isatty(STDIN_FILENO) && isatty(STDERR_FILENO);
    g_autofree char *uri = uri_for(v->uri, terminal);
    virConnectPtr conn = virConnectOpenAuth(uri, auth_for(terminal), 0);
    if (!conn) {
        if (v->remote)
            vmf_virt_error(error, "cannot connect to libvirt on %s (%s)", v->host, v->uri);
        else
            vmf_virt_error(error,
                           "cannot connect to libvirt at %s (is libvirtd running? vmforge doctor "
                           "checks)",
                           v->uri);
        return NULL;
    }
    virConnectSetKeepAlive(conn, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT);
    if (watched) {
        g_atomic_int_set(&v->closed, 0);
        virConnectRegisterCloseCallback(conn, closed_cb, v, NULL);
    }
    return conn;
}

VmfVirt *vmf_virt_open(const char *uri, GError **error)
{
    static GOnce once = G_ONCE_INIT;
    g_once(&once, event_loop_start, NULL);
    virSetErrorFunc(NULL, quiet_errors);
    if (!uri)
        uri = vmf_virt_default_uri();
    g_autoptr(VmfVirt) v = g_new0(VmfVirt, 1);
    v->event_id = -1;
    v->uri = g_strdup(uri);
    v->remote = vmf_virt_uri_is_remote(uri);
    v->host = uri_host(uri);
    if (!v->host)
        v->host = g_strdup(v->remote ? uri : "this host");
    v->conn = connect_to(v, true, error);
    return v->conn ? g_steal_pointer(&v) : NULL;
}

/* Drops what belongs to the current connection. */
static void disconnect(VmfVirt *v)
{
    if (v->conn && v->event_id >= 0)
        virConnectDomainEventDeregisterAny(v->conn, v->event_id);
    v->event_id = -1;
    if (v->console_conn)
        virConnectClose(v->console_conn);
    v->console_conn = NULL;
    if (v->conn) {
        virConnectUnregisterCloseCallback(v->conn, closed_cb);
        virConnectClose(v->conn);
    }
    v->conn = NULL;
}

void vmf_virt_close(VmfVirt *v)
{
    if (!v)
        return;
    disconnect(v);
    g_free(v->uri);
    g_free(v->host);
    g_free(v);
}

int vmf_virt_node_info(VmfVirt *v, VmfNodeInfo *out, GError **error)
{
    virNodeInfo info;
    if (virNodeGetInfo(v->conn, &info) < 0) {
        vmf_virt_error(error, "libvirt on %s: the host's CPUs and memory", v->host);
        return -EIO;
    }
    unsigned long long free_bytes = virNodeGetFreeMemory(v->conn);
    if (free_bytes == 0) {
        vmf_virt_error(error, "libvirt on %s: the host's free memory", v->host);
        return -EIO;
    }
    out->cpus = info.cpus;
    out->memory = (uint64_t)info.memory << 10; /* KiB */
    out->free_memory = free_bytes;
    return 0;
}

bool vmf_virt_alive(VmfVirt *v)
{
    return v->conn && !g_atomic_int_get(&v->closed) && virConnectIsAlive(v->conn) == 1;
}

bool vmf_virt_ping(VmfVirt *v)
{
    unsigned long version = 0;
    return vmf_virt_alive(v) && virConnectGetLibVersion(v->conn, &version) == 0 &&
           vmf_virt_alive(v);
}

const char *vmf_virt_lost_reason(VmfVirt *v)
{
    switch (g_atomic_int_get(&v->closed) - 1) {
    case VIR_CONNECT_CLOSE_REASON_KEEPALIVE:
        return "no answer to keepalive probes";
    case VIR_CONNECT_CLOSE_REASON_EOF:
        return "the connection was closed";
    case VIR_CONNECT_CLOSE_REASON_ERROR:
        return "an I/O error";
    default:
        return "the connection was lost";
    }
}

int vmf_virt_reconnect(VmfVirt *v, unsigned seconds, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)seconds * G_USEC_PER_SEC;
    g_autofree char *last = NULL;
    disconnect(v);
    do {
        v->conn = connect_to(v, true, NULL);
        if (v->conn) {
            v->generation++;
            return 0;
        }
        g_free(last);
        last = g_strdup(vmf_virt_last_error());
        g_usleep(G_USEC_PER_SEC);
    } while (g_get_monotonic_time() < deadline);
    g_set_error(error, vmf_virt_error_quark(), 1, "could not connect again within %u s (%s)",
                seconds, last ? last : "no answer");
    return -EIO;
}

unsigned vmf_virt_generation(VmfVirt *v)
{
    return v->generation;
}

bool vmf_virt_is_remote(VmfVirt *v)
{
    return v->remote;
}

const char *vmf_virt_host(VmfVirt *v)
{
    return v->host;
}

const char *vmf_virt_transport(VmfVirt *v)
{
    static const char *const known[] = {"ssh", "tcp", "tls", "unix", "libssh", "libssh2", "ext"};
    const char *sep = strstr(v->uri, "://");
    const char *plus = sep ? memchr(v->uri, '+', (size_t)(sep - v->uri)) : NULL;
    for (size_t i = 0; plus && i < G_N_ELEMENTS(known); i++)
        if ((size_t)(sep - plus - 1) == strlen(known[i]) &&
            !strncmp(plus + 1, known[i], strlen(known[i])))
            return known[i];
    return plus ? "other" : v->remote ? "tls" : "unix";
}

void vmf_virt_count(VmfVirt *v, uint64_t sent, uint64_t received)
{
    v->sent += sent;
    v->received += received;
}

void vmf_virt_bytes(VmfVirt *v, uint64_t *sent, uint64_t *received)
{
    *sent = v->sent;
    *received = v->received;
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
            vmf_virt_error(error, "--accel kvm: this host cannot run KVM guests (use --accel tcg)");
            return NULL;
        }
        return "kvm";
    }
    if (strcmp(accel, "auto") == 0)
        return kvm ? "kvm" : "qemu";
    g_set_error(error, vmf_virt_error_quark(), 2, "--accel %s: expected auto, kvm or tcg", accel);
    return NULL;
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

virDomainPtr vmf_virt_domain_create_paused(VmfVirt *v, const char *xml, GError **error)
{
    virDomainPtr dom = virDomainCreateXML(v->conn, xml, VIR_DOMAIN_START_PAUSED);
    if (!dom)
        vmf_virt_error(error, "cannot start the domain");
    return dom;
}

int vmf_virt_domain_resume(virDomainPtr dom, GError **error)
{
    if (virDomainResume(dom) < 0) {
        vmf_virt_error(error, "cannot resume domain %s", virDomainGetName(dom));
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
        vmf_virt_error(error, "domain %s", virDomainGetName(dom));
        return NULL;
    }
    if (!v->console_conn && !(v->console_conn = connect_to(v, false, error)))
        return NULL;
    g_autoptr(virDomain) d = virDomainLookupByUUID(v->console_conn, uuid);
    virStreamPtr st = d ? virStreamNew(v->console_conn, 0) : NULL;
    if (!st || virDomainOpenConsole(d, NULL, st, VIR_DOMAIN_CONSOLE_FORCE) < 0) {
        vmf_virt_error(error, "cannot open the serial console of domain %s", virDomainGetName(dom));
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
        vmf_virt_error(error, "cannot watch domain %s", virDomainGetName(dom));
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

virDomainPtr vmf_virt_domain_lookup(VmfVirt *v, const unsigned char *uuid)
{
    return v->conn ? virDomainLookupByUUID(v->conn, uuid) : NULL;
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
        vmf_virt_error(error, "libvirt network %s", name);
        return NULL;
    }
    char *xml = virNetworkGetXMLDesc(net, 0);
    virNetworkFree(net);
    if (!xml) {
        vmf_virt_error(error, "libvirt network %s", name);
        return NULL;
    }
    char *addr =
        vmf_xml_string(xml, "string(/network/ip[not(@family) or @family='ipv4']/@address)");
    free(xml);
    if (!addr)
        g_set_error(error, vmf_virt_error_quark(), 1,
                    "libvirt network %s has no IPv4 address on the host to serve the answer file "
                    "from (use inject: initrd or oemdrv)",
                    name);
    return addr;
}
