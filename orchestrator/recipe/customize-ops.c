/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "customize-ops.h"

#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK(vmf - customize - error - quark, vmf_customize_error)

typedef struct {
    const VmfRecipe *r;
    const char *file;
    GError **error;
} P;

#define FAIL_AT(p, node, ...) vmf_recipe_error_at((p)->error, (p)->file, (node), __VA_ARGS__)

static const struct {
    VmfOpKind kind;
    const char *key;
} op_keys[] = {
    {VMF_OP_HOSTNAME, "hostname"},
    {VMF_OP_TIMEZONE, "timezone"},
    {VMF_OP_ROOT_PASSWORD, "root_password_file"},
    {VMF_OP_USER, "user"},
    {VMF_OP_WRITE, "write"},
    {VMF_OP_UPLOAD, "upload"},
    {VMF_OP_MKDIR, "mkdir"},
    {VMF_OP_CHMOD, "chmod"},
    {VMF_OP_CHOWN, "chown"},
    {VMF_OP_DELETE, "delete"},
    {VMF_OP_SYMLINK, "symlink"},
    {VMF_OP_APPEND_LINE, "append_line"},
    {VMF_OP_RUN, "run"},
    {VMF_OP_FIRSTBOOT, "firstboot"},
    {VMF_OP_SELINUX_RELABEL, "selinux_relabel"},
    {VMF_OP_PACKAGES, "packages"},
    {VMF_OP_NETWORK, "network"},
    {VMF_OP_SYSPREP, "sysprep"},
    {VMF_OP_CLOUD_INIT, "cloud_init"},
};

static const char *const sysprep_names[] = {
    "machine-id",  "ssh-hostkeys", "logfiles",    "bash-history",  "tmp-files",
    "dhcp-leases", "net-rules",    "random-seed", "package-cache", NULL,
};

const char *vmf_sysprep_name(VmfSysprep bit)
{
    for (unsigned i = 0; sysprep_names[i]; i++)
        if (bit == (1u << i))
            return sysprep_names[i];
    return "?";
}

const char *vmf_op_name(VmfOpKind kind)
{
    for (size_t i = 0; i < G_N_ELEMENTS(op_keys); i++)
        if (op_keys[i].kind == kind)
            return op_keys[i].key;
    return "?";
}

static void op_free(VmfOp *op)
{
    g_free(op->path);
    g_free(op->text);
    g_free(op->src);
    g_free(op->target);
    g_free(op->owner);
    g_free(op->name);
    g_strfreev(op->groups);
    g_strfreev(op->keys);
    g_free(op->shell);
    g_strfreev(op->packages);
    g_free(op->meta_data);
    g_free(op->network_config);
    g_free(op);
}

void vmf_customize_free(VmfCustomize *c)
{
    if (!c)
        return;
    g_ptr_array_unref(c->ops);
    g_free(c);
}

/* ---- values ----------------------------------------------------------------------- */

static bool str(P *p, const VmfYamlNode *n, const char *what, char **out)
{
    if (n->kind != VMF_YAML_SCALAR)
        return FAIL_AT(p, n, "%s must be a single value, found %s", what,
                       vmf_yaml_kind_name(n->kind));
    *out = g_strdup(n->value);
    return true;
}

static bool guest_path(P *p, const VmfYamlNode *n, const char *what, char **out)
{
    if (!str(p, n, what, out))
        return false;
    if ((*out)[0] != '/')
        return FAIL_AT(p, n, "%s \"%s\" must be an absolute path in the guest", what, *out);
    if (strstr(*out, "/../") || g_str_has_suffix(*out, "/.."))
        return FAIL_AT(p, n, "%s \"%s\" must not contain ..", what, *out);
    return true;
}

static bool host_file(P *p, const VmfYamlNode *n, const char *what, char **out)
{
    g_autofree char *v = NULL;
    if (!str(p, n, what, &v))
        return false;
    *out = g_canonicalize_filename(v, p->r->dir);
    if (!g_file_test(*out, G_FILE_TEST_IS_REGULAR))
        return FAIL_AT(p, n, "%s %s: no such file", what, *out);
    return true;
}

static bool mode(P *p, const VmfYamlNode *n, int *out)
{
    char *end = NULL;
    if (n->kind != VMF_YAML_SCALAR || !n->value[0])
        return FAIL_AT(p, n, "mode must be octal, such as \"0644\"");
    unsigned long m = strtoul(n->value, &end, 8);
    if (*end || m > 07777)
        return FAIL_AT(p, n, "mode \"%s\" is not an octal mode such as \"0644\" (quote it)",
                       n->value);
    *out = (int)m;
    return true;
}

static bool owner(P *p, const VmfYamlNode *n, char **out)
{
    if (!str(p, n, "owner", out))
        return false;
    for (const char *c = *out; *c; c++)
        if (!g_ascii_isalnum(*c) && !strchr("_-.:", *c))
            return FAIL_AT(p, n, "owner \"%s\": expected USER or USER:GROUP", *out);
    return true;
}

static bool str_list(P *p, const VmfYamlNode *n, const char *what, char ***out)
{
    if (n->kind == VMF_YAML_SCALAR) {
        *out = g_new0(char *, 2);
        (*out)[0] = g_strdup(n->value);
        return true;
    }
    if (n->kind != VMF_YAML_SEQUENCE)
        return FAIL_AT(p, n, "%s must be a list", what);
    g_autoptr(GPtrArray) a = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < n->items->len; i++) {
        const VmfYamlNode *it = g_ptr_array_index(n->items, i);
        char *v = NULL;
        if (!str(p, it, what, &v))
            return false;
        g_ptr_array_add(a, v);
    }
    g_ptr_array_add(a, NULL);
    *out = (char **)g_ptr_array_free(g_steal_pointer(&a), FALSE);
    return true;
}

/* A mapping value with `keys` allowed and `required` present. */
static bool fields(P *p, const VmfYamlNode *n, const char *what, const char *const *keys,
                   const char *const *required)
{
    if (!vmf_recipe_check_keys(p->error, p->file, n, what, keys))
        return false;
    for (const char *const *k = required; k && *k; k++)
        if (!vmf_yaml_get(n, *k))
            return FAIL_AT(p, n, "%s needs %s:", what, *k);
    return true;
}

/* Common optional fields of file operations. */
static bool file_attrs(P *p, const VmfYamlNode *n, VmfOp *op)
{
    const VmfYamlNode *m = vmf_yaml_get(n, "mode"), *o = vmf_yaml_get(n, "owner");
    return (!m || mode(p, m, &op->mode)) && (!o || owner(p, o, &op->owner));
}

/* ---- one operation -------------------------------------------------------------------- */

static bool parse_hostname(P *p, VmfOp *op, const VmfYamlNode *v)
{
    if (!str(p, v, "hostname", &op->text))
        return false;
    for (const char *ch = op->text; *ch; ch++)
        if (!g_ascii_isalnum(*ch) && *ch != '-' && *ch != '.')
            return FAIL_AT(p, v, "hostname \"%s\" is not a host name", op->text);
    return op->text[0] ? true : FAIL_AT(p, v, "hostname is empty");
}

static bool parse_timezone(P *p, VmfOp *op, const VmfYamlNode *v)
{
    if (!str(p, v, "timezone", &op->text))
        return false;
    if (!op->text[0] || op->text[0] == '/' || strstr(op->text, ".."))
        return FAIL_AT(p, v, "timezone \"%s\": expected a zone such as Europe/Zurich", op->text);
    return true;
}

/* A user's name, groups, shell and password file. */
static bool user_account(P *p, VmfOp *op, const VmfYamlNode *v)
{
    if (!str(p, vmf_yaml_get(v, "name"), "user name", &op->name))
        return false;
    for (const char *ch = op->name; *ch; ch++)
        if (!g_ascii_isalnum(*ch) && *ch != '_' && *ch != '-')
            return FAIL_AT(p, vmf_yaml_get(v, "name"), "user name \"%s\" is not valid", op->name);
    const VmfYamlNode *n;
    if ((n = vmf_yaml_get(v, "groups")) && !str_list(p, n, "user groups", &op->groups))
        return false;
    for (char **gr = op->groups; gr && *gr; gr++)
        for (const char *ch = *gr; *ch; ch++)
            if (!g_ascii_isalnum(*ch) && !strchr("_-.", *ch))
                return FAIL_AT(p, n, "user group \"%s\" is not a valid group name", *gr);
    if ((n = vmf_yaml_get(v, "shell")) && !guest_path(p, n, "user shell", &op->shell))
        return false;
    return !(n = vmf_yaml_get(v, "password_file")) ||
           host_file(p, n, "user password_file", &op->src);
}

/* The public keys in the files of ssh_key_files (blank and # lines left out). */
static bool key_files(P *p, const VmfYamlNode *n, GPtrArray *keylines)
{
    g_auto(GStrv) files = NULL;
    if (!str_list(p, n, "user ssh_key_files", &files))
        return false;
    for (char **f = files; *f; f++) {
        g_autofree char *path = g_canonicalize_filename(*f, p->r->dir);
        g_autofree char *text = NULL;
        if (!g_file_get_contents(path, &text, NULL, NULL))
            return FAIL_AT(p, n, "ssh key file %s cannot be read", path);
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
        for (char **l = lines; *l; l++)
            if (g_strstrip(*l)[0] && (*l)[0] != '#')
                g_ptr_array_add(keylines, g_strdup(*l));
    }
    return true;
}

/* ssh_keys and the keys of ssh_key_files, each checked to be a public key. */
static bool user_keys(P *p, VmfOp *op, const VmfYamlNode *v)
{
    g_autoptr(GPtrArray) keylines = g_ptr_array_new_with_free_func(g_free);
    const VmfYamlNode *n;
    if ((n = vmf_yaml_get(v, "ssh_keys"))) {
        g_auto(GStrv) inline_keys = NULL;
        if (!str_list(p, n, "user ssh_keys", &inline_keys))
            return false;
        for (char **k = inline_keys; *k; k++)
            g_ptr_array_add(keylines, g_strdup(g_strstrip(*k)));
    }
    if ((n = vmf_yaml_get(v, "ssh_key_files")) && !key_files(p, n, keylines))
        return false;
    for (guint i = 0; i < keylines->len; i++) {
        const char *k = keylines->pdata[i];
        if (!g_str_has_prefix(k, "ssh-") && !g_str_has_prefix(k, "ecdsa-") &&
            !g_str_has_prefix(k, "sk-"))
            return FAIL_AT(p, v, "user %s: \"%.20s...\" is not an SSH public key", op->name, k);
    }
    g_ptr_array_add(keylines, NULL);
    op->keys = (char **)g_ptr_array_free(g_steal_pointer(&keylines), FALSE);
    return true;
}

static bool parse_user(P *p, VmfOp *op, const VmfYamlNode *v)
{
    static const char *const keys[] = {"name",  "groups",        "ssh_keys", "ssh_key_files",
                                       "shell", "password_file", NULL};
    static const char *const req[] = {"name", NULL};
    return fields(p, v, "user", keys, req) && user_account(p, op, v) && user_keys(p, op, v);
}

static bool parse_write(P *p, VmfOp *op, const VmfYamlNode *v)
{
    static const char *const keys[] = {"path", "content", "mode", "owner", NULL};
    static const char *const req[] = {"path", "content", NULL};
    if (!fields(p, v, "write", keys, req) ||
        !guest_path(p, vmf_yaml_get(v, "path"), "write path", &op->path) ||
        !str(p, vmf_yaml_get(v, "content"), "write content", &op->text) || !file_attrs(p, v, op))
        return false;
    if (strlen(op->text) > VMF_CUSTOMIZE_MAX_INLINE)
        return FAIL_AT(p, v, "write content is larger than 1 MiB: use upload:");
    return true;
}

static bool parse_upload(P *p, VmfOp *op, const VmfYamlNode *v)
{
    static const char *const keys[] = {"src", "path", "mode", "owner", NULL};
    static const char *const req[] = {"src", "path", NULL};
    return fields(p, v, "upload", keys, req) &&
           host_file(p, vmf_yaml_get(v, "src"), "upload src", &op->src) &&
           guest_path(p, vmf_yaml_get(v, "path"), "upload path", &op->path) && file_attrs(p, v, op);
}

static bool parse_mkdir(P *p, VmfOp *op, const VmfYamlNode *v)
{
    static const char *const keys[] = {"path", "mode", "owner", NULL};
    static const char *const req[] = {"path", NULL};
    if (v->kind != VMF_YAML_MAPPING)
        return guest_path(p, v, "mkdir", &op->path);
    return fields(p, v, "mkdir", keys, req) &&
           guest_path(p, vmf_yaml_get(v, "path"), "mkdir path", &op->path) && file_attrs(p, v, op);
}

static bool parse_chmod(P *p, VmfOp *op, const VmfYamlNode *v)
{
    static const char *const keys[] = {"path", "mode", NULL};
    return fields(p, v, "chmod", keys, keys) &&
           guest_path(p, vmf_yaml_get(v, "path"), "chmod path", &op->path) &&
           mode(p, vmf_yaml_get(v, "mode"), &op->mode);
}

static bool parse_chown(P *p, VmfOp *op, const VmfYamlNode *v)
{
    static const char *const keys[] = {"path", "owner", NULL};
    return fields(p, v, "chown", keys, keys) &&
           guest_path(p, vmf_yaml_get(v, "path"), "chown path", &op->path) &&
           owner(p, vmf_yaml_get(v, "owner"), &op->owner);
}

static bool parse_delete(P *p, VmfOp *op, const VmfYamlNode *v)
{
    static const char *const keys[] = {"path", "recursive", NULL};
    static const char *const req[] = {"path", NULL};
    if (v->kind != VMF_YAML_MAPPING)
        return guest_path(p, v, "delete", &op->path);
    if (!fields(p, v, "delete", keys, req) ||
        !guest_path(p, vmf_yaml_get(v, "path"), "delete path", &op->path))
        return false;
    const VmfYamlNode *rn = vmf_yaml_get(v, "recursive");
    op->recursive = rn && rn->kind == VMF_YAML_SCALAR && !strcmp(rn->value, "true");
    return true;
}

static bool parse_symlink(P *p, VmfOp *op, const VmfYamlNode *v)
{
    static const char *const keys[] = {"target", "link", NULL};
    return fields(p, v, "symlink", keys, keys) &&
           str(p, vmf_yaml_get(v, "target"), "symlink target", &op->target) &&
           guest_path(p, vmf_yaml_get(v, "link"), "symlink link", &op->path);
}

static bool parse_append_line(P *p, VmfOp *op, const VmfYamlNode *v)
{
    static const char *const keys[] = {"path", "line", NULL};
    if (!fields(p, v, "append_line", keys, keys) ||
        !guest_path(p, vmf_yaml_get(v, "path"), "append_line path", &op->path) ||
        !str(p, vmf_yaml_get(v, "line"), "append_line line", &op->text))
        return false;
    return strchr(op->text, '\n') ? FAIL_AT(p, v, "append_line line must be one line") : true;
}

/* run: and firstboot: a command line, or {script: FILE, name: NAME}. */
static bool parse_script(P *p, VmfOp *op, const VmfYamlNode *v)
{
    static const char *const keys[] = {"script", "name", NULL};
    static const char *const req[] = {"script", NULL};
    const char *what = vmf_op_name(op->kind);
    if (v->kind != VMF_YAML_MAPPING)
        return str(p, v, what, &op->text);
    if (!fields(p, v, what, keys, req) ||
        !host_file(p, vmf_yaml_get(v, "script"), "script", &op->src))
        return false;
    const VmfYamlNode *nn = vmf_yaml_get(v, "name");
    if (nn && !str(p, nn, "name", &op->name))
        return false;
    g_autofree char *text = NULL;
    gsize len = 0;
    if (!g_file_get_contents(op->src, &text, &len, NULL) || len > VMF_CUSTOMIZE_MAX_INLINE)
        return FAIL_AT(p, v, "script %s cannot be read or is larger than 1 MiB", op->src);
    op->text = g_steal_pointer(&text);
    return true;
}

/* selinux_relabel: and network: true or false. */
static bool parse_flag(P *p, VmfCustomize *c, VmfOp *op, const VmfYamlNode *v)
{
    if (v->kind != VMF_YAML_SCALAR || (strcmp(v->value, "true") && strcmp(v->value, "false")))
        return FAIL_AT(p, v, "%s must be true or false", vmf_op_name(op->kind));
    op->flag = strcmp(v->value, "true") == 0;
    if (op->kind == VMF_OP_NETWORK)
        c->network = op->flag;
    return true;
}

/* sysprep: default, none, or a list of operation names. */
static bool parse_sysprep(P *p, VmfCustomize *c, VmfOp *op, const VmfYamlNode *v)
{
    c->explicit_sysprep = true;
    if (v->kind == VMF_YAML_SCALAR && !strcmp(v->value, "default")) {
        op->sysprep = VMF_SYSPREP_DEFAULT;
        return true;
    }
    if (v->kind == VMF_YAML_SCALAR && !strcmp(v->value, "none"))
        return true;
    g_auto(GStrv) names = NULL;
    if (!str_list(p, v, "sysprep", &names))
        return false;
    for (char **nm = names; *nm; nm++) {
        unsigned i = 0;
        while (sysprep_names[i] && strcmp(sysprep_names[i], *nm))
            i++;
        if (!sysprep_names[i]) {
            const char *hint = vmf_did_you_mean(*nm, sysprep_names);
            g_autofree char *all = g_strjoinv(", ", (char **)sysprep_names);
            return hint ? FAIL_AT(p, v, "sysprep \"%s\": did you mean \"%s\"?", *nm, hint)
                        : FAIL_AT(p, v, "sysprep \"%s\": expected default, none, or some of %s",
                                  *nm, all);
        }
        op->sysprep |= 1u << i;
    }
    return true;
}

/* One part of a NoCloud seed: KEY: inline text, or KEY_file: a host file
 * (read now, at most 1 MiB). *out stays NULL when neither is given. */
static bool seed_part(P *p, const VmfYamlNode *v, const char *key, char **out)
{
    g_autofree char *file_key = g_strdup_printf("%s_file", key);
    const VmfYamlNode *inl = vmf_yaml_get(v, key), *file = vmf_yaml_get(v, file_key);
    if (inl && file)
        return FAIL_AT(p, file, "cloud_init: give %s or %s, not both", key, file_key);
    if (inl && !str(p, inl, key, out))
        return false;
    g_autofree char *path = NULL;
    if (file && !host_file(p, file, file_key, &path))
        return false;
    gsize len = 0;
    if (path && (!g_file_get_contents(path, out, &len, NULL) || len > VMF_CUSTOMIZE_MAX_INLINE))
        return FAIL_AT(p, file, "%s %s cannot be read or is larger than 1 MiB", file_key, path);
    if (*out && strlen(*out) > VMF_CUSTOMIZE_MAX_INLINE)
        return FAIL_AT(p, inl, "cloud_init %s is larger than 1 MiB: use %s:", key, file_key);
    return true;
}

/* cloud_init: disable, or a NoCloud seed {user_data[_file], meta_data[_file],
 * network_config[_file]}. */
static bool parse_cloud_init(P *p, VmfOp *op, const VmfYamlNode *v)
{
    static const char *const keys[] = {"user_data",      "user_data_file",      "meta_data",
                                       "meta_data_file", "network_config",      "network_config_file",
                                       NULL};
    if (v->kind == VMF_YAML_SCALAR) {
        if (strcmp(v->value, "disable") != 0)
            return FAIL_AT(p, v,
                           "cloud_init \"%s\": expected disable, or a NoCloud seed (user_data:, "
                           "meta_data:, network_config:)",
                           v->value);
        op->path = g_strdup("/etc/cloud/cloud-init.disabled");
        return true;
    }
    op->flag = true;
    op->path = g_strdup("/var/lib/cloud/seed/nocloud");
    return fields(p, v, "cloud_init", keys, NULL) && seed_part(p, v, "user_data", &op->text) &&
           seed_part(p, v, "meta_data", &op->meta_data) &&
           seed_part(p, v, "network_config", &op->network_config);
}

static bool parse_op(P *p, VmfCustomize *c, VmfOp *op, const VmfYamlNode *v)
{
    switch (op->kind) {
    case VMF_OP_HOSTNAME:
        return parse_hostname(p, op, v);
    case VMF_OP_TIMEZONE:
        return parse_timezone(p, op, v);
    case VMF_OP_ROOT_PASSWORD:
        return host_file(p, v, "root_password_file", &op->src);
    case VMF_OP_USER:
        return parse_user(p, op, v);
    case VMF_OP_WRITE:
        return parse_write(p, op, v);
    case VMF_OP_UPLOAD:
        return parse_upload(p, op, v);
    case VMF_OP_MKDIR:
        return parse_mkdir(p, op, v);
    case VMF_OP_CHMOD:
        return parse_chmod(p, op, v);
    case VMF_OP_CHOWN:
        return parse_chown(p, op, v);
    case VMF_OP_DELETE:
        return parse_delete(p, op, v);
    case VMF_OP_SYMLINK:
        return parse_symlink(p, op, v);
    case VMF_OP_APPEND_LINE:
        return parse_append_line(p, op, v);
    case VMF_OP_RUN:
    case VMF_OP_FIRSTBOOT:
        return parse_script(p, op, v);
    case VMF_OP_SELINUX_RELABEL:
    case VMF_OP_NETWORK:
        return parse_flag(p, c, op, v);
    case VMF_OP_PACKAGES:
        return str_list(p, v, "packages", &op->packages);
    case VMF_OP_SYSPREP:
        return parse_sysprep(p, c, op, v);
    case VMF_OP_CLOUD_INIT:
        return parse_cloud_init(p, op, v);
    }
    return false;
}

VmfCustomize *vmf_customize_parse(const VmfRecipe *recipe, GError **error)
{
    g_autoptr(VmfCustomize) c = g_new0(VmfCustomize, 1);
    c->ops = g_ptr_array_new_with_free_func((GDestroyNotify)op_free);
    P p = {.r = recipe, .file = recipe->path, .error = error};
    const VmfYamlNode *list = recipe->customize;
    if (!list)
        return g_steal_pointer(&c);
    if (list->kind != VMF_YAML_SEQUENCE) {
        FAIL_AT(&p, list, "customize must be a list of operations (- hostname: ..., - run: ...)");
        return NULL;
    }
    if (list->items->len > VMF_CUSTOMIZE_MAX_OPS) {
        FAIL_AT(&p, list, "customize has more than %d operations", VMF_CUSTOMIZE_MAX_OPS);
        return NULL;
    }
    const char *names[G_N_ELEMENTS(op_keys) + 1];
    for (size_t i = 0; i < G_N_ELEMENTS(op_keys); i++)
        names[i] = op_keys[i].key;
    names[G_N_ELEMENTS(op_keys)] = NULL;
    for (guint i = 0; i < list->items->len; i++) {
        const VmfYamlNode *item = g_ptr_array_index(list->items, i);
        if (item->kind != VMF_YAML_MAPPING || item->keys->len != 1) {
            FAIL_AT(&p, item, "each customize item is one operation, such as \"- hostname: web1\"");
            return NULL;
        }
        if (!vmf_recipe_check_keys(error, recipe->path, item, "a customize operation", names))
            return NULL;
        const VmfYamlNode *key = g_ptr_array_index(item->keys, 0);
        VmfOp *op = g_new0(VmfOp, 1);
        op->mode = -1;
        op->line = key->line;
        for (size_t k = 0; k < G_N_ELEMENTS(op_keys); k++)
            if (!strcmp(op_keys[k].key, key->value))
                op->kind = op_keys[k].kind;
        g_ptr_array_add(c->ops, op);
        if (!parse_op(&p, c, op, g_ptr_array_index(item->items, 0)))
            return NULL;
    }
    return g_steal_pointer(&c);
}

void vmf_verify_clear(VmfVerify *v)
{
    g_free(v->marker);
    memset(v, 0, sizeof(*v));
}

/* verify KEY: true or false, when present. */
static bool verify_flag(P *p, const VmfYamlNode *v, const char *key, bool *out)
{
    const VmfYamlNode *n = vmf_yaml_get(v, key);
    if (!n)
        return true;
    if (n->kind != VMF_YAML_SCALAR || (strcmp(n->value, "true") && strcmp(n->value, "false")))
        return FAIL_AT(p, n, "verify %s must be true or false", key);
    *out = strcmp(n->value, "true") == 0;
    return true;
}

bool vmf_verify_parse(const VmfRecipe *recipe, VmfVerify *out, GError **error)
{
    static const char *const keys[] = {"boot", "marker", "timeout", "hepix", NULL};
    P p = {.r = recipe, .file = recipe->path, .error = error};
    out->marker = g_strdup("login:");
    out->timeout = 600;
    out->hepix = true;
    const VmfYamlNode *v = recipe->verify;
    if (!v)
        return true;
    if (!vmf_recipe_check_keys(error, recipe->path, v, "verify", keys))
        return false;
    const VmfYamlNode *n;
    if (!verify_flag(&p, v, "boot", &out->boot) || !verify_flag(&p, v, "hepix", &out->hepix))
        return false;
    if ((n = vmf_yaml_get(v, "marker"))) {
        g_free(out->marker);
        out->marker = NULL;
        if (!str(&p, n, "verify marker", &out->marker))
            return false;
        if (!out->marker[0])
            return FAIL_AT(&p, n, "verify marker is empty");
    }
    if ((n = vmf_yaml_get(v, "timeout")) &&
        (n->kind != VMF_YAML_SCALAR || vmf_parse_duration(n->value, &out->timeout) < 0 ||
         !out->timeout || out->timeout > 24 * 3600))
        return FAIL_AT(&p, n, "verify timeout: expected a duration such as 10m");
    return true;
}
