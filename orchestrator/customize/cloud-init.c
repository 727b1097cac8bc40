/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cloud-init.c — the cloud_init: operation. Vendor cloud images wait at boot
 * for a datasource; this either disables cloud-init (the file cloud-init
 * documents for that) or gives the image a NoCloud seed, the files the
 * nocloud datasource reads from /var/lib/cloud/seed/nocloud/, and makes
 * NoCloud the datasource, so nothing waits for a metadata service.
 */
#include "run.h"

#include "recipe/template.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>

#define CLOUD_CFG       "/etc/cloud/cloud.cfg"
#define DISABLED_MARKER "/etc/cloud/cloud-init.disabled"
#define DATASOURCE_CFG  "/etc/cloud/cloud.cfg.d/90-vmforge-nocloud.cfg"

/* templates/cloud-init/NAME rendered with the recipe's name; g_free. */
static char *seed_template(CustomizeRun *run, const char *name)
{
    g_autofree char *path = g_build_filename(vmf_templates_dir(), "cloud-init", name, NULL);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, run->error))
        return NULL;
    g_autoptr(GHashTable) vars = g_hash_table_new(g_str_hash, g_str_equal);
    g_hash_table_insert(vars, "name", run->r->name);
    g_autoptr(VmfRendered) out = vmf_template_render(path, text, vars, NULL, run->error);
    return out ? g_steal_pointer(&out->text) : NULL;
}

/* Writes a seed file readable by root only (user-data may hold secrets). */
static int write_private(CustomizeRun *run, const char *dir, const char *name, const char *text)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    if (customize_write_file(run, path, text) < 0)
        return -EIO;
    return guestfs_chmod(run->g, 0600, path) < 0 ? customize_fail(run, "chmod %s", path) : 0;
}

static int write_seed(CustomizeRun *run, const VmfOp *op)
{
    g_autofree char *meta = op->meta_data ? g_strdup(op->meta_data)
                                          : seed_template(run, "meta-data");
    g_autofree char *cfg = seed_template(run, "90-vmforge-nocloud.cfg");
    if (!meta || !cfg)
        return -ENOENT;
    if (guestfs_mkdir_p(run->g, op->path) < 0 || guestfs_chmod(run->g, 0700, op->path) < 0)
        return customize_fail(run, "making %s", op->path);
    if (write_private(run, op->path, "user-data", op->text ? op->text : "#cloud-config\n") < 0 ||
        write_private(run, op->path, "meta-data", meta) < 0 ||
        (op->network_config &&
         write_private(run, op->path, "network-config", op->network_config) < 0))
        return -EIO;
    if (guestfs_mkdir_p(run->g, "/etc/cloud/cloud.cfg.d") < 0)
        return customize_fail(run, "making /etc/cloud/cloud.cfg.d");
    if (customize_write_file(run, DATASOURCE_CFG, cfg) < 0)
        return -EIO;
    /* A seed means cloud-init is to run: an earlier disable is undone. */
    if (guestfs_rm_f(run->g, DISABLED_MARKER) < 0)
        return customize_fail(run, "removing %s", DISABLED_MARKER);
    customize_say(run, "  NoCloud seed in %s (user-data, meta-data%s), datasource NoCloud",
                  op->path, op->network_config ? ", network-config" : "");
    return 0;
}

void customize_cloud_init_fingerprint(VmfFingerprint *fp, const VmfRecipe *r, const VmfOp *op)
{
    vmf_fp_add(fp, "meta-data", op->meta_data);
    if (!op->meta_data) /* templates/cloud-init/meta-data names the instance after the recipe */
        vmf_fp_add(fp, "meta-data-name", r->name);
    vmf_fp_add(fp, "network-config", op->network_config);
    static const char *const names[] = {"meta-data", "90-vmforge-nocloud.cfg"};
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *path =
            g_build_filename(vmf_templates_dir(), "cloud-init", names[i], NULL);
        g_autofree char *text = NULL;
        g_file_get_contents(path, &text, NULL, NULL);
        vmf_fp_add(fp, names[i], text);
    }
}

int customize_cloud_init(CustomizeRun *run, const VmfOp *op)
{
    if (guestfs_is_file(run->g, CLOUD_CFG) <= 0)
        customize_say(run, "  cloud-init is not installed in this guest (no %s); the files are "
                      "written all the same, for when it is",
                      CLOUD_CFG);
    if (op->flag)
        return write_seed(run, op);
    if (guestfs_mkdir_p(run->g, "/etc/cloud") < 0)
        return customize_fail(run, "making /etc/cloud");
    return customize_write_file(run, DISABLED_MARKER, "");
}
