/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * recipe-targets.c — `vmforge build --publish`: each target's publish: key
 * (recipe/target-publish.c) turned into a publish of the images the build's
 * report.json lists.
 */
#include "item.h"

#include "recipe/targets.h"
#include "util/exit-codes.h"
#include "util/util.h"

#define CMD "build"

/* The recipe's targets (those `only` selects), or NULL having said why. */
static VmfTargets *load_targets(const char *recipe, char **vars, const char *only, int *rc)
{
    g_autoptr(GError) e = NULL;
    g_autoptr(VmfRecipe) r = vmf_recipe_load(recipe, vars, &e);
    g_autoptr(VmfTargets) t = r ? vmf_targets_parse(r, vmf_templates_dir(), &e) : NULL;
    if (t && !vmf_targets_select(t, only, &e))
        g_clear_pointer(&t, vmf_targets_free);
    if (!t) {
        vmf_error(CMD, "%s", e->message);
        *rc = VMF_EXIT_INPUT;
    }
    return g_steal_pointer(&t);
}

int vmf_publish_build_check(const char *recipe, char **vars, const char *only)
{
    int rc = VMF_EXIT_OK;
    g_autoptr(VmfTargets) t = load_targets(recipe, vars, only, &rc);
    if (!t)
        return rc;
    for (guint i = 0; i < t->targets->len; i++) {
        if (((VmfTarget *)t->targets->pdata[i])->publish)
            return VMF_EXIT_OK;
    }
    vmf_error(CMD, "--publish: no target%s of %s has a publish: key (see docs/recipe.md)",
              only ? " selected" : "", recipe);
    return VMF_EXIT_USAGE;
}

/* One target's publish: as the options of a publish. */
static int publish_target(const VmfTarget *t, const VmfPublishBuild *b)
{
    const VmfTargetPublish *p = t->publish;
    g_autoptr(GPtrArray) to = g_ptr_array_new_with_free_func(g_free);
    if (p->glance)
        g_ptr_array_add(to, g_strconcat("glance:", p->cloud ? p->cloud : "", NULL));
    for (char **l = p->libvirt; l && *l; l++)
        g_ptr_array_add(to, g_strdup(*l));
    g_ptr_array_add(to, NULL);
    char *inputs[] = {(char *)b->report, NULL};
    VmfPublishOptions o = {
        .inputs = inputs,
        .to = (char **)to->pdata,
        .only = t->name,
        .name = p->name,
        .visibility = p->visibility,
        .tags = p->tags,
        .properties = p->properties,
        .force = b->force,
        .progress = b->progress,
    };
    return vmf_publish(&o);
}

int vmf_publish_build(const VmfPublishBuild *b)
{
    int rc = VMF_EXIT_OK;
    g_autoptr(VmfTargets) t = load_targets(b->recipe, b->vars, b->only, &rc);
    for (guint i = 0; t && i < t->targets->len && rc == VMF_EXIT_OK; i++) {
        const VmfTarget *target = t->targets->pdata[i];
        if (target->publish)
            rc = publish_target(target, b);
    }
    return rc;
}
