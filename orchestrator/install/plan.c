/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "plan.h"

#include "kickstart.h"
#include "util/exit-codes.h"
#include "util/util.h"
#include "virt/domain-xml.h"

#include <string.h>

#define FAIL(code, ...)                                                                            \
    do {                                                                                           \
        g_set_error(error, vmf_install_error_quark(), (code), __VA_ARGS__);                        \
        return (code);                                                                             \
    } while (0)

/* Sets *error to "WHAT: the foreign error's message" (an input error) and
 * frees the foreign error. */
static int fail_input(GError **error, GError *ferr, const char *what)
{
    g_set_error(error, vmf_install_error_quark(), VMF_EXIT_INPUT, "%s%s%s", what ? what : "",
                what ? ": " : "", ferr->message);
    g_error_free(ferr);
    return VMF_EXIT_INPUT;
}

/* ---- the installer family (templates/installers/FAMILY.conf) ---------------- */

static void family_clear(VmfInstallFamily *f)
{
    if (f->kf)
        g_key_file_unref(f->kf);
    g_free(f->path);
    g_free(f->success);
    if (f->failure)
        g_regex_unref(f->failure);
    if (f->progress)
        g_regex_unref(f->progress);
}

static bool family_load(VmfInstallFamily *f, const char *name, const char *success_override,
                        GError **error)
{
    f->path = g_strdup_printf("%s/installers/%s.conf", vmf_templates_dir(), name);
    f->kf = g_key_file_new();
    if (!g_key_file_load_from_file(f->kf, f->path, G_KEY_FILE_NONE, error))
        return false;
    f->success = success_override ? g_strdup(success_override)
                                  : g_key_file_get_string(f->kf, "installer", "success", error);
    if (!f->success)
        return false;
    g_autofree char *fail = g_key_file_get_string(f->kf, "installer", "failure", NULL);
    g_autofree char *prog = g_key_file_get_string(f->kf, "installer", "progress", NULL);
    if (fail && !(f->failure = g_regex_new(fail, G_REGEX_OPTIMIZE, 0, error)))
        return false;
    if (prog && !(f->progress = g_regex_new(prog, G_REGEX_OPTIMIZE, 0, error)))
        return false;
    return true;
}

static GHashTable *family_vars(const VmfInstallFamily *f)
{
    GHashTable *vars = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_auto(GStrv) keys = g_key_file_get_keys(f->kf, "vars", NULL, NULL);
    for (char **k = keys; k && *k; k++)
        g_hash_table_replace(vars, g_strdup(*k), g_key_file_get_string(f->kf, "vars", *k, NULL));
    return vars;
}

/* ---- the plan ------------------------------------------------------------------ */

void vmf_install_plan_clear(VmfInstallPlan *p)
{
    family_clear(&p->family);
    vmf_media_free(p->media);
    g_free(p->template_path);
    vmf_rendered_free(p->ks);
    g_free(p->logdir);
    g_free(p->final_disk);
    g_free(p->failed_disk);
    g_free(p->ks_path);
    g_free(p->console_log);
    g_free(p->anaconda_log);
    g_free(p->xml_path);
}

/* The media (when an ISO is given), the family it or the recipe names, and
 * the kernel and initrd files the recipe gives. */
static int plan_family(const VmfRecipe *r, VmfInstallPlan *p, GError **error)
{
    const char *family = r->family;
    if (r->iso) {
        p->media = vmf_media_identify(r->iso, error);
        if (!p->media)
            return VMF_EXIT_INPUT;
        if (!family)
            family = p->media->family;
    }
    if (!family)
        family = "anaconda";
    p->family_name = family;
    for (unsigned i = 0; i < 2; i++) {
        const char *f = i ? r->initrd : r->kernel;
        if (f && !g_file_test(f, G_FILE_TEST_IS_REGULAR))
            FAIL(VMF_EXIT_INPUT, "%s: installer %s not found (recipe %s)", f,
                 i ? "initrd" : "kernel", r->path);
    }
    GError *ferr = NULL;
    if (!family_load(&p->family, family, r->success, &ferr)) {
        g_autofree char *what = g_strdup_printf("installer family %s", family);
        return fail_input(error, ferr, what);
    }
    return 0;
}

/* The kickstart template (the recipe's, or the family's default for the
 * distro on the media), rendered with the recipe's variables and checked
 * against the HEPiX rules. */
static int plan_kickstart(const VmfRecipe *r, const VmfInstallOptions *o, VmfInstallPlan *p,
                          GError **error)
{
    if (r->kickstart) {
        p->template_path = g_strdup(r->kickstart);
    } else {
        const char *distro = p->media ? p->media->distro : "default";
        g_autofree char *name = g_key_file_get_string(p->family.kf, "templates", distro, NULL);
        if (!name)
            name = g_key_file_get_string(p->family.kf, "templates", "default", NULL);
        if (!name)
            FAIL(VMF_EXIT_INPUT,
                 "%s: no default kickstart; set installer kickstart:", p->family.path);
        p->template_path = g_strdup_printf("%s/kickstart/%s", vmf_templates_dir(), name);
    }
    GError *ferr = NULL;
    g_autofree char *text = NULL;
    if (!g_file_get_contents(p->template_path, &text, NULL, &ferr))
        return fail_input(error, ferr, "kickstart template");
    g_autoptr(GHashTable) defaults = family_vars(&p->family);
    g_autoptr(GHashTable) vars = vmf_kickstart_vars(r, defaults, o->salt, &ferr);
    if (!vars)
        return fail_input(error, ferr, NULL);
    p->ks = vmf_template_render(p->template_path, text, vars, vmf_kickstart_refused, &ferr);
    if (!p->ks || !vmf_kickstart_check(p->ks, p->template_path, r, &ferr))
        return fail_input(error, ferr, NULL);
    return 0;
}

static int plan_paths(const VmfRecipe *r, const VmfInstallOptions *o, VmfInstallPlan *p,
                      GError **error)
{
    p->logdir = o->logdir ? g_strdup(o->logdir) : g_build_filename(o->outdir, "logs", NULL);
    p->final_disk = g_strdup_printf("%s/%s.raw", o->outdir, r->name);
    p->failed_disk =
        g_strdup_printf("%s/%s.failed.raw", o->keep_dir ? o->keep_dir : o->outdir, r->name);
    p->ks_path = g_strdup_printf("%s/%s-ks.cfg", p->logdir, r->name);
    p->console_log = g_strdup_printf("%s/%s-install-console.log", p->logdir, r->name);
    p->anaconda_log = g_strdup_printf("%s/%s-install-anaconda.log", p->logdir, r->name);
    p->xml_path = g_strdup_printf("%s/%s-install-domain.xml", p->logdir, r->name);
    if (!o->dry_run && !o->force && g_file_test(p->final_disk, G_FILE_TEST_EXISTS))
        FAIL(VMF_EXIT_OUTPUT, "%s exists (use --force to replace it)", p->final_disk);
    return 0;
}

int vmf_install_plan_make(const VmfRecipe *r, const VmfInstallOptions *o, VmfInstallPlan *p,
                          GError **error)
{
    if (vmf_recipe_has_base(r))
        FAIL(VMF_EXIT_INPUT,
             "%s:%u: this recipe starts from an image (base:): there is nothing to install; "
             "vmforge build makes its base disk from the image",
             r->path, r->base_line);
    int rc = plan_family(r, p, error);
    if (!rc)
        rc = plan_kickstart(r, o, p, error);
    if (!rc)
        rc = plan_paths(r, o, p, error);
    return rc;
}

char *vmf_install_cmdline(const VmfRecipe *r, const VmfInstallPlan *p, const char *ks_arg)
{
    g_autofree char *args = g_key_file_get_string(p->family.kf, "installer", "kernel_args", NULL);
    g_autofree char *stage2 = g_key_file_get_string(p->family.kf, "installer", "stage2", NULL);
    GString *cl = g_string_new(args ? args : "");
    if (stage2 && p->media && p->media->volume_id) {
        g_auto(GStrv) parts = g_strsplit(stage2, "@VOLID@", -1);
        g_autofree char *s2 = g_strjoinv(p->media->volume_id, parts);
        g_string_append_printf(cl, " %s", s2);
    }
    g_string_append_printf(cl, " %s", ks_arg);
    if (r->extra_args)
        g_string_append_printf(cl, " %s", r->extra_args);
    return g_string_free(cl, FALSE);
}

char *vmf_install_domain_xml(const VmfRecipe *r, const VmfInstallPlan *p, const char *name,
                             const char *type, const VmfInstallVolumes *vols, const char *cmdline)
{
    g_autofree char *chan = g_key_file_get_string(p->family.kf, "installer", "log_channel", NULL);
    VmfDomainSpec spec = {
        .name = name,
        .type = type,
        .vcpus = r->vcpus,
        .memory = r->memory,
        .kernel = vols->kernel,
        .initrd = vols->initrd,
        .cmdline = cmdline,
        .disk = vols->disk,
        .cdrom = vols->cdrom,
        .oemdrv = vols->oemdrv,
        .network = r->network,
        .nic_model = r->nic,
        .log_channel = chan,
        .log_path = vols->channel_path,
        .efi = vmf_recipe_efi(r),
        .nvram = vols->nvram,
    };
    return vmf_domain_xml(&spec);
}
