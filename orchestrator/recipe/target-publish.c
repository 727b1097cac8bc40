/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * target-publish.c — a target's publish: key, where `vmforge build
 * --publish` sends its image:
 *
 *   publish:
 *     glance: {cloud: mycloud, name: "golden-${version}", visibility: private,
 *              tags: [golden], properties: {os_distro: debian}}
 *     libvirt: qemu+ssh://root@kvm3/system/images      # or a list
 *
 * `glance: mycloud` alone names the cloud.
 */
#include "targets.h"

#include <string.h>

#define fail(at, ...) vmf_recipe_error_at(error, r->path, (at), __VA_ARGS__)

void vmf_target_publish_free(VmfTargetPublish *p)
{
    if (!p)
        return;
    g_free(p->cloud);
    g_free(p->name);
    g_free(p->visibility);
    g_strfreev(p->tags);
    g_strfreev(p->properties);
    g_strfreev(p->libvirt);
    g_free(p);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfTargetPublish, vmf_target_publish_free)

static bool one_value(const VmfRecipe *r, const VmfYamlNode *n, const char *what, char **out,
                      GError **error)
{
    if (n->kind != VMF_YAML_SCALAR || !n->value[0])
        return fail(n, "%s must be a single, non-empty value", what);
    g_free(*out);
    *out = g_strdup(n->value);
    return true;
}

/* A value or a list of values. */
static bool values(const VmfRecipe *r, const VmfYamlNode *n, const char *what, char ***out,
                   GError **error)
{
    g_autoptr(GPtrArray) a = g_ptr_array_new_with_free_func(g_free);
    if (n->kind == VMF_YAML_MAPPING)
        return fail(n, "%s must be a value or a list of values", what);
    for (guint i = 0; n->kind == VMF_YAML_SEQUENCE && i < n->items->len; i++) {
        const VmfYamlNode *v = n->items->pdata[i];
        if (v->kind != VMF_YAML_SCALAR || !v->value[0])
            return fail(v, "each of %s must be a single, non-empty value", what);
        g_ptr_array_add(a, g_strdup(v->value));
    }
    if (n->kind == VMF_YAML_SCALAR)
        g_ptr_array_add(a, g_strdup(n->value));
    g_ptr_array_add(a, NULL);
    *out = (char **)g_ptr_array_free(g_steal_pointer(&a), FALSE);
    return true;
}

static bool glance_properties(const VmfRecipe *r, const VmfYamlNode *n, VmfTargetPublish *p,
                              GError **error)
{
    if (n->kind != VMF_YAML_MAPPING)
        return fail(n, "publish: glance: properties must be a mapping (os_distro: debian)");
    g_autoptr(GPtrArray) a = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < n->keys->len; i++) {
        const VmfYamlNode *k = n->keys->pdata[i], *v = n->items->pdata[i];
        if (v->kind != VMF_YAML_SCALAR)
            return fail(v, "publish: glance: property %s must be a single value", k->value);
        g_ptr_array_add(a, g_strdup_printf("%s=%s", k->value, v->value));
    }
    g_ptr_array_add(a, NULL);
    p->properties = (char **)g_ptr_array_free(g_steal_pointer(&a), FALSE);
    return true;
}

static bool glance_name(const VmfRecipe *r, const VmfYamlNode *n, VmfTargetPublish *p,
                        GError **error)
{
    g_autofree char *raw = NULL;
    if (!one_value(r, n, "publish: glance: name", &raw, error))
        return false;
    p->name = vmf_recipe_expand(r, n, "publish: glance: name", raw, error);
    return p->name != NULL;
}

static bool glance_visibility(const VmfRecipe *r, const VmfYamlNode *n, VmfTargetPublish *p,
                              GError **error)
{
    static const char *const ok[] = {"private", "shared", "community", "public", NULL};
    if (!one_value(r, n, "publish: glance: visibility", &p->visibility, error))
        return false;
    if (!g_strv_contains(ok, p->visibility))
        return fail(n, "publish: glance: visibility %s: give private, shared, community or public",
                    p->visibility);
    return true;
}

static bool parse_glance(const VmfRecipe *r, const VmfYamlNode *n, VmfTargetPublish *p,
                         GError **error)
{
    static const char *const keys[] = {"cloud", "name", "visibility", "tags", "properties", NULL};
    p->glance = true;
    if (n->kind == VMF_YAML_SCALAR)
        return one_value(r, n, "publish: glance", &p->cloud, error);
    if (n->kind != VMF_YAML_MAPPING)
        return fail(n, "publish: glance must be a cloud's name or a mapping (cloud:, name:, "
                       "visibility:, tags:, properties:)");
    if (!vmf_recipe_check_keys(error, r->path, n, "publish: glance", keys))
        return false;
    const VmfYamlNode *v;
    if ((v = vmf_yaml_get(n, "cloud")) &&
        !one_value(r, v, "publish: glance: cloud", &p->cloud, error))
        return false;
    if ((v = vmf_yaml_get(n, "name")) && !glance_name(r, v, p, error))
        return false;
    if ((v = vmf_yaml_get(n, "visibility")) && !glance_visibility(r, v, p, error))
        return false;
    if ((v = vmf_yaml_get(n, "tags")) && !values(r, v, "publish: glance: tags", &p->tags, error))
        return false;
    return !(v = vmf_yaml_get(n, "properties")) || glance_properties(r, v, p, error);
}

static bool parse_libvirt(const VmfRecipe *r, const VmfYamlNode *n, const VmfTarget *t,
                          VmfTargetPublish *p, GError **error)
{
    g_auto(GStrv) given = NULL;
    if (!values(r, n, "publish: libvirt", &given, error))
        return false;
    if (strcmp(t->format, "ova") == 0 || strcmp(t->format, "raw.gz") == 0)
        return fail(n, "publish: libvirt: a storage pool holds disks; target %s makes %s", t->name,
                    t->format);
    g_autoptr(GPtrArray) a = g_ptr_array_new_with_free_func(g_free);
    for (char **g = given; *g; g++) {
        if (!strstr(*g, "://"))
            return fail(n,
                        "publish: libvirt: %s: give URI/POOL[/NAME], e.g. "
                        "qemu+ssh://root@kvm3/system/images",
                        *g);
        g_ptr_array_add(a, g_str_has_prefix(*g, "libvirt:") ? g_strdup(*g)
                                                            : g_strconcat("libvirt:", *g, NULL));
    }
    g_ptr_array_add(a, NULL);
    p->libvirt = (char **)g_ptr_array_free(g_steal_pointer(&a), FALSE);
    return true;
}

bool vmf_target_publish_parse(const VmfRecipe *r, const VmfYamlNode *n, VmfTarget *t,
                              GError **error)
{
    static const char *const keys[] = {"glance", "libvirt", NULL};
    if (n->kind != VMF_YAML_MAPPING)
        return fail(n, "publish must be a mapping (glance:, libvirt:)");
    if (!vmf_recipe_check_keys(error, r->path, n, "publish", keys))
        return false;
    g_autoptr(VmfTargetPublish) p = g_new0(VmfTargetPublish, 1);
    const VmfYamlNode *v;
    if ((v = vmf_yaml_get(n, "glance")) && !parse_glance(r, v, p, error))
        return false;
    if (p->glance && strcmp(t->format, "raw.gz") == 0)
        return fail(v, "publish: glance: Glance has no format for gzip-compressed raw (target %s)",
                    t->name);
    if ((v = vmf_yaml_get(n, "libvirt")) && !parse_libvirt(r, v, t, p, error))
        return false;
    t->publish = g_steal_pointer(&p);
    return true;
}
