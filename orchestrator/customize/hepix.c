/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "run.h"

#include "util/exit-codes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int customize_hepix_check(CustomizeRun *run)
{
    g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func(g_free);
    char **devices = guestfs_list_devices(run->g);
    if (!devices)
        return customize_fail(run, "listing the disks");
    char *type = devices[0] ? guestfs_part_get_parttype(run->g, devices[0]) : NULL;
    if (!type)
        g_ptr_array_add(found, g_strdup("no partition table (an MBR is required)"));
    else if (strcmp(type, "msdos") != 0)
        g_ptr_array_add(found,
                        g_strdup_printf("a %s partition table (an MBR, msdos, is required)", type));
    free(type);
    for (char **d = devices; *d; d++)
        free(*d);
    free(devices);
    static const struct {
        char **(*list)(guestfs_h *);
        const char *what;
    } lvm[] = {{guestfs_pvs, "LVM physical volume"},
               {guestfs_vgs, "LVM volume group"},
               {guestfs_lvs, "LVM logical volume"}};
    for (size_t i = 0; i < G_N_ELEMENTS(lvm); i++) {
        char **items = lvm[i].list(run->g);
        if (!items)
            return customize_fail(run, "listing %ss", lvm[i].what);
        for (char **it = items; *it; it++) {
            g_ptr_array_add(found, g_strdup_printf("%s %s", lvm[i].what, *it));
            free(*it);
        }
        free(items);
    }
    if (!found->len)
        return 0;
    g_ptr_array_add(found, NULL);
    g_autofree char *list = g_strjoinv("; ", (char **)found->pdata);
    g_set_error(run->error, vmf_stage_customize_error_quark(), VMF_EXIT_VERIFY,
                "the image breaks the HEPiX rules (raw disk, MBR partitions, no LVM): %s", list);
    return -EINVAL;
}
