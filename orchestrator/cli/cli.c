/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli.c — what every command's option handling shares (commands.h). */
#include "commands.h"

#include "util/exit-codes.h"

#include <string.h>

void vmf_cli_args_clear(VmfCliArgs *a)
{
    g_strfreev(a->rest);
    g_strfreev(a->vars);
    g_free(a->outdir);
    g_free(a->accel);
    g_free(a->uri);
    g_free(a->cache);
    g_free(a->pool);
    g_free(a->remote_dir);
}

int vmf_cli_parse(const VmfCliHelp *help, const GOptionEntry *entries, GOptionGroup *group,
                  int *argc, char ***argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new(help->params);
    g_option_context_set_summary(ctx, help->summary);
    if (help->description)
        g_option_context_set_description(ctx, help->description);
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (group)
        g_option_context_add_group(ctx, group);
    g_autoptr(GError) err = NULL;
    if (!g_option_context_parse(ctx, argc, argv, &err)) {
        vmf_error(help->name, "%s (see vmforge %s --help)", err->message, help->name);
        return VMF_EXIT_USAGE;
    }
    return VMF_EXIT_OK;
}

const char *vmf_cli_accel(const char *cmd, const char *given)
{
    const char *a = given ? given : g_getenv("VMFORGE_ACCEL");
    if (!a || !*a)
        a = "auto";
    if (strcmp(a, "auto") && strcmp(a, "kvm") && strcmp(a, "tcg")) {
        vmf_error(cmd, "--accel %s: expected auto, kvm or tcg", a);
        return NULL;
    }
    return a;
}

VmfRecipe *vmf_cli_recipe(const char *cmd, const char *path, char **vars, int *status)
{
    g_autoptr(GError) err = NULL;
    VmfRecipe *r = vmf_recipe_load(path, vars, &err);
    if (!r) {
        vmf_error(cmd, "%s", err->message);
        *status = vmf_recipe_exit_code(err);
    }
    return r;
}
