/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * clouds.c — a cloud's settings the way OpenStack's own clients read them:
 * clouds.yaml (and secure.yaml, whose values win) from $OS_CLIENT_CONFIG_FILE
 * ($OS_CLIENT_SECURE_FILE), ./, ~/.config/openstack/, /etc/openstack/; the
 * cloud named, else $OS_CLOUD; without either, the OS_* variables alone.
 */
#include "item.h"

#include "recipe/yaml-tree.h"

#include <string.h>

/* A clouds.yaml is a few KiB. */
#define MAX_CLOUDS_BYTES (1u << 20)

/* The first of the standard places that has `file` (g_free), or NULL. */
static char *find_config(const char *env, const char *file)
{
    const char *given = g_getenv(env);
    if (given && *given) /* a secure.yaml there is optional; a clouds.yaml is not */
        return strcmp(file, "clouds.yaml") == 0 || g_file_test(given, G_FILE_TEST_EXISTS)
                   ? g_strdup(given)
                   : NULL;
    g_autofree char *user = g_build_filename(g_get_user_config_dir(), "openstack", file, NULL);
    g_autofree char *etc = g_build_filename("/etc/openstack", file, NULL);
    const char *places[] = {file, user, etc};
    for (size_t i = 0; i < G_N_ELEMENTS(places); i++) {
        if (g_file_test(places[i], G_FILE_TEST_IS_REGULAR))
            return g_canonicalize_filename(places[i], NULL);
    }
    return NULL;
}

static VmfYamlNode *load_yaml(const char *path, GError **error)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &text, &len, error))
        return NULL;
    if (len > MAX_CLOUDS_BYTES) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: too large for a clouds file",
                    path);
        return NULL;
    }
    GError *e = NULL;
    VmfYamlNode *root = vmf_yaml_parse(text, len, &e);
    explicit_bzero(text, len); /* it may hold passwords */
    if (!root) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s:%s", path, e->message);
        g_error_free(e);
    }
    return root;
}

/* clouds: NAME: in a parsed file, or NULL. */
static VmfYamlNode *cloud_node(const VmfYamlNode *root, const char *name)
{
    VmfYamlNode *clouds =
        root && root->kind == VMF_YAML_MAPPING ? vmf_yaml_get(root, "clouds") : NULL;
    VmfYamlNode *c = clouds && clouds->kind == VMF_YAML_MAPPING ? vmf_yaml_get(clouds, name) : NULL;
    return c && c->kind == VMF_YAML_MAPPING ? c : NULL;
}

static char *cloud_names(const VmfYamlNode *root)
{
    VmfYamlNode *clouds =
        root && root->kind == VMF_YAML_MAPPING ? vmf_yaml_get(root, "clouds") : NULL;
    g_autoptr(GString) s = g_string_new(NULL);
    for (guint i = 0; clouds && clouds->keys && i < clouds->keys->len; i++) {
        VmfYamlNode *k = clouds->keys->pdata[i];
        g_string_append_printf(s, "%s%s", s->len ? ", " : "", k->value);
    }
    return g_string_free(g_steal_pointer(&s), FALSE);
}

/* The auth: and top-level keys vmforge reads, and where they go. */
typedef struct {
    const char *key;
    size_t offset;
    bool auth; /* under auth: */
    const char *env;
} Field;

#define F(k, auth, env)                                                                            \
    {                                                                                              \
#k, G_STRUCT_OFFSET(VmfOsAuth, k), auth, env                                               \
    }
static const Field fields[] = {
    F(auth_url, true, "OS_AUTH_URL"),
    F(username, true, "OS_USERNAME"),
    F(user_id, true, "OS_USER_ID"),
    F(password, true, "OS_PASSWORD"),
    F(user_domain_name, true, "OS_USER_DOMAIN_NAME"),
    F(user_domain_id, true, "OS_USER_DOMAIN_ID"),
    F(project_name, true, "OS_PROJECT_NAME"),
    F(project_id, true, "OS_PROJECT_ID"),
    F(project_domain_name, true, "OS_PROJECT_DOMAIN_NAME"),
    F(project_domain_id, true, "OS_PROJECT_DOMAIN_ID"),
    F(domain_name, true, "OS_DOMAIN_NAME"),
    F(domain_id, true, "OS_DOMAIN_ID"),
    F(application_credential_id, true, "OS_APPLICATION_CREDENTIAL_ID"),
    F(application_credential_name, true, "OS_APPLICATION_CREDENTIAL_NAME"),
    F(application_credential_secret, true, "OS_APPLICATION_CREDENTIAL_SECRET"),
    F(token, true, "OS_TOKEN"),
    F(auth_type, false, "OS_AUTH_TYPE"),
    F(region_name, false, "OS_REGION_NAME"),
    F(interface, false, "OS_INTERFACE"),
    F(cacert, false, "OS_CACERT"),
    F(image_endpoint, false, "OS_IMAGE_ENDPOINT_OVERRIDE"),
};
#undef F

static char **field_ptr(VmfOsAuth *a, const Field *f)
{
    return G_STRUCT_MEMBER_P(a, f->offset);
}

/* The cloud's values (later calls win: secure.yaml after clouds.yaml). */
static void read_cloud(const VmfYamlNode *c, VmfOsAuth *a)
{
    VmfYamlNode *auth = vmf_yaml_get(c, "auth");
    for (size_t i = 0; i < G_N_ELEMENTS(fields); i++) {
        const VmfYamlNode *from = fields[i].auth ? auth : c;
        VmfYamlNode *v =
            from && from->kind == VMF_YAML_MAPPING ? vmf_yaml_get(from, fields[i].key) : NULL;
        if (!v && strcmp(fields[i].key, "image_endpoint") == 0)
            v = vmf_yaml_get(c, "image_endpoint_override");
        if (v && v->kind == VMF_YAML_SCALAR) {
            char **p = field_ptr(a, &fields[i]);
            g_free(*p);
            *p = g_strdup(v->value);
        }
    }
    VmfYamlNode *verify = vmf_yaml_get(c, "verify");
    if (verify && verify->kind == VMF_YAML_SCALAR)
        a->insecure = g_ascii_strcasecmp(verify->value, "false") == 0 ||
                      g_ascii_strcasecmp(verify->value, "no") == 0;
}

static void read_environment(VmfOsAuth *a)
{
    for (size_t i = 0; i < G_N_ELEMENTS(fields); i++) {
        const char *v = g_getenv(fields[i].env);
        if (v && *v)
            *field_ptr(a, &fields[i]) = g_strdup(v);
    }
    if (!a->project_name && g_getenv("OS_TENANT_NAME"))
        a->project_name = g_strdup(g_getenv("OS_TENANT_NAME"));
    const char *insecure = g_getenv("OS_INSECURE");
    a->insecure =
        insecure && (g_ascii_strcasecmp(insecure, "true") == 0 || strcmp(insecure, "1") == 0);
    if (!a->auth_type && a->token && !a->password && !a->application_credential_secret)
        a->auth_type = g_strdup("token");
}

static int identity_version(const VmfYamlNode *c, const char *cloud, const char *path,
                            GError **error)
{
    VmfYamlNode *v = vmf_yaml_get(c, "identity_api_version");
    if (v && v->kind == VMF_YAML_SCALAR && strcmp(v->value, "3") && strcmp(v->value, "3.0")) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "%s:%u: cloud %s: identity_api_version %s: vmforge speaks Keystone v3 only",
                    path, v->line, cloud, v->value);
        return -1;
    }
    return 0;
}

static int read_named(const char *cloud, VmfOsAuth *a, GError **error)
{
    g_autofree char *path = find_config("OS_CLIENT_CONFIG_FILE", "clouds.yaml");
    if (!path) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                    "cloud %s: no clouds.yaml ($OS_CLIENT_CONFIG_FILE, ./, "
                    "~/.config/openstack/, /etc/openstack/)",
                    cloud);
        return -1;
    }
    if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                    "cloud %s: $OS_CLIENT_CONFIG_FILE names %s, which does not exist", cloud, path);
        return -1;
    }
    g_autoptr(VmfYamlNode) root = load_yaml(path, error);
    if (!root)
        return -1;
    VmfYamlNode *c = cloud_node(root, cloud);
    if (!c) {
        g_autofree char *names = cloud_names(root);
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                    "cloud %s is not in %s (its clouds: %s)", cloud, path, *names ? names : "none");
        return -1;
    }
    if (identity_version(c, cloud, path, error) < 0)
        return -1;
    read_cloud(c, a);
    g_autofree char *secure = find_config("OS_CLIENT_SECURE_FILE", "secure.yaml");
    g_autoptr(VmfYamlNode) sroot = secure ? load_yaml(secure, error) : NULL;
    if (secure && !sroot)
        return -1;
    VmfYamlNode *sc = cloud_node(sroot, cloud);
    if (sc)
        read_cloud(sc, a);
    return 0;
}

int publish_cloud_auth(const char *cloud, VmfOsAuth *a, GError **error)
{
    if (!cloud || !*cloud)
        cloud = g_getenv("OS_CLOUD");
    if (cloud && *cloud) {
        a->cloud = g_strdup(cloud);
        return read_named(cloud, a, error);
    }
    read_environment(a);
    if (!a->auth_url) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "glance: no cloud named (glance:CLOUD, or $OS_CLOUD) and no $OS_AUTH_URL");
        return -1;
    }
    return 0;
}
