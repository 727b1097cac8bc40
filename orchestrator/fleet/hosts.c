/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "hosts.h"

#include "formats/vf.h"
#include "recipe/yaml-tree.h"
#include "util/exit-codes.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>

/* A hosts.yaml is a few KiB. */
#define HOSTS_MAX_BYTES (1u << 20)
/* The memory a host keeps for itself when hosts.yaml gives no limit. */
#define HOST_RESERVED_MEMORY (1ull << 30)

G_DEFINE_QUARK(vmf - fleet - error - quark, vmf_fleet_error)

static void host_free(gpointer p)
{
    VmfFleetHost *h = p;
    if (h->v)
        vmf_virt_close(h->v);
    g_free(h->uri);
    g_free(h->name);
    g_free(h->pool);
    g_free(h->down_reason);
    g_free(h);
}

/* The host part of a URI, for messages: "b1" of qemu+ssh://root@b1/system. */
static char *host_name(const char *uri)
{
    g_autoptr(GUri) u = g_uri_parse(uri, G_URI_FLAGS_NONE, NULL);
    const char *h = u ? g_uri_get_host(u) : NULL;
    return g_strdup(h && *h ? h : "this host");
}

static VmfFleetHost *host_new(const char *uri, unsigned line)
{
    VmfFleetHost *h = g_new0(VmfFleetHost, 1);
    h->uri = g_strdup(uri);
    h->name = host_name(uri);
    h->line = line;
    return h;
}

GPtrArray *vmf_fleet_hosts_from_uris(char **uris)
{
    GPtrArray *hosts = g_ptr_array_new_with_free_func(host_free);
    for (char **u = uris; u && *u; u++)
        g_ptr_array_add(hosts, host_new(*u, 0));
    return hosts;
}

#define BAD(node, ...)                                                                             \
    do {                                                                                           \
        g_autofree char *what_ = g_strdup_printf(__VA_ARGS__);                                     \
        g_set_error(error, vmf_fleet_error_quark(), VMF_EXIT_INPUT, "%s:%u:%u: %s", path,          \
                    (node)->line, (node)->column, what_);                                          \
        return false;                                                                              \
    } while (0)

static bool scalar(const VmfYamlNode *n)
{
    return n && n->kind == VMF_YAML_SCALAR && n->value && *n->value;
}

/* One key of a host's mapping into h. */
static bool host_key(VmfFleetHost *h, const char *path, const VmfYamlNode *k, const VmfYamlNode *v,
                     GError **error)
{
    const char *key = k->value;
    if (strcmp(key, "uri") == 0)
        return true; /* read first */
    if (!scalar(v))
        BAD(v, "%s: expected a value, found a %s", key, vmf_yaml_kind_name(v->kind));
    if (strcmp(key, "installs") == 0) {
        char *end = NULL;
        unsigned long n = strtoul(v->value, &end, 10);
        if (!g_ascii_isdigit(v->value[0]) || *end || n < 1 || n > 1024)
            BAD(v, "installs: \"%s\" is not a number of installs from 1 to 1024", v->value);
        h->installs = (unsigned)n;
    } else if (strcmp(key, "memory") == 0) {
        if (vmf_parse_size(v->value, &h->memory) < 0 || h->memory < (64u << 20))
            BAD(v, "memory: \"%s\" is not a size of at least 64M (e.g. 16G)", v->value);
    } else if (strcmp(key, "pool") == 0) {
        h->pool = g_strdup(v->value);
    } else {
        BAD(k, "unknown key \"%s\" (a host has uri, installs, memory, pool)", key);
    }
    return true;
}

static bool host_entry(GPtrArray *hosts, const char *path, const VmfYamlNode *n, GError **error)
{
    if (scalar(n)) {
        g_ptr_array_add(hosts, host_new(n->value, n->line));
        return true;
    }
    if (n->kind != VMF_YAML_MAPPING)
        BAD(n, "a host is a libvirt URI or a mapping with uri:, found a %s",
            vmf_yaml_kind_name(n->kind));
    const VmfYamlNode *uri = vmf_yaml_get(n, "uri");
    if (!scalar(uri))
        BAD(n, "this host has no uri: (e.g. uri: qemu+ssh://root@b1/system)");
    for (guint i = 0; i < hosts->len; i++)
        if (strcmp(((VmfFleetHost *)hosts->pdata[i])->uri, uri->value) == 0)
            BAD(uri, "%s is listed twice (line %u too)", uri->value,
                ((VmfFleetHost *)hosts->pdata[i])->line);
    VmfFleetHost *h = host_new(uri->value, uri->line);
    g_ptr_array_add(hosts, h);
    for (guint i = 0; i < n->keys->len; i++)
        if (!host_key(h, path, n->keys->pdata[i], n->items->pdata[i], error))
            return false;
    return true;
}

static bool hosts_list(GPtrArray *hosts, const char *path, const VmfYamlNode *root, GError **error)
{
    const VmfYamlNode *list = root;
    if (root->kind == VMF_YAML_MAPPING) {
        list = vmf_yaml_get(root, "hosts");
        for (guint i = 0; i < root->keys->len; i++) {
            const VmfYamlNode *k = root->keys->pdata[i];
            if (strcmp(k->value, "hosts") != 0)
                BAD(k, "unknown key \"%s\" (hosts.yaml has hosts:, a list of libvirt hosts)",
                    k->value);
        }
        if (!list)
            BAD(root, "no hosts: list");
    }
    if (list->kind != VMF_YAML_SEQUENCE)
        BAD(list, "hosts: expected a list of libvirt URIs or hosts, found a %s",
            vmf_yaml_kind_name(list->kind));
    if (list->items->len == 0)
        BAD(list, "hosts: the list is empty");
    for (guint i = 0; i < list->items->len; i++)
        if (!host_entry(hosts, path, list->items->pdata[i], error))
            return false;
    return true;
}

GPtrArray *vmf_fleet_hosts_load(const char *path, GError **error)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    GError *e = NULL;
    if (!g_file_get_contents(path, &text, &len, &e)) {
        g_set_error(error, vmf_fleet_error_quark(), VMF_EXIT_INPUT, "--hosts %s", e->message);
        g_error_free(e);
        return NULL;
    }
    if (len > HOSTS_MAX_BYTES) {
        g_set_error(error, vmf_fleet_error_quark(), VMF_EXIT_INPUT,
                    "%s: %zu bytes: too large for a list of hosts", path, (size_t)len);
        return NULL;
    }
    g_autoptr(VmfYamlNode) root = vmf_yaml_parse(text, len, &e);
    if (!root) {
        g_set_error(error, vmf_fleet_error_quark(), VMF_EXIT_INPUT, "%s:%s", path, e->message);
        g_error_free(e);
        return NULL;
    }
    g_autoptr(GPtrArray) hosts = g_ptr_array_new_with_free_func(host_free);
    if (!hosts_list(hosts, path, root, error))
        return NULL;
    return g_steal_pointer(&hosts);
}

void vmf_fleet_host_mark_down(VmfFleetHost *h, const char *why)
{
    if (h->down)
        return;
    h->down = true;
    h->down_reason = g_strdup(why);
}

void vmf_fleet_hosts_probe(GPtrArray *hosts)
{
    for (guint i = 0; i < hosts->len; i++) {
        VmfFleetHost *h = hosts->pdata[i];
        g_autoptr(GError) err = NULL;
        h->v = vmf_virt_open(h->uri, &err);
        if (!h->v || vmf_virt_node_info(h->v, &h->node, &err) < 0) {
            vmf_fleet_host_mark_down(h, err->message);
            continue;
        }
        if (!h->installs)
            h->installs = MAX(1u, h->node.cpus / 2);
        if (!h->memory)
            h->memory = h->node.memory > 2 * HOST_RESERVED_MEMORY
                            ? h->node.memory - HOST_RESERVED_MEMORY
                            : h->node.memory / 2;
    }
}

bool vmf_fleet_host_fits(const VmfFleetHost *h, uint64_t memory)
{
    return !h->down && memory <= h->memory;
}

bool vmf_fleet_host_has_room(VmfFleetHost *h, uint64_t memory)
{
    if (h->down || h->running >= h->installs || h->placed_memory + memory > h->memory)
        return false;
    g_autoptr(GError) err = NULL;
    VmfNodeInfo now;
    if (vmf_virt_node_info(h->v, &now, &err) < 0 &&
        (vmf_virt_reconnect(h->v, 5, NULL) < 0 || vmf_virt_node_info(h->v, &now, &err) < 0)) {
        vmf_fleet_host_mark_down(h, err ? err->message : "the connection was lost");
        return false;
    }
    h->node.free_memory = now.free_memory;
    return now.free_memory >= memory;
}

char *vmf_fleet_host_limits(const VmfFleetHost *h)
{
    g_autofree char *mem = vf_format_size(h->memory);
    return g_strdup_printf("installs %u, memory %s%s%s", h->installs, mem, h->pool ? ", pool " : "",
                           h->pool ? h->pool : "");
}
