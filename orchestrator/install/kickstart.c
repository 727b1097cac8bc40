/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "kickstart.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

G_DEFINE_QUARK(vmf - kickstart - error - quark, vmf_kickstart_error)

const char *const vmf_kickstart_refused[] = {
    "rootpw=it would write the plain password; use {{ rootpw_line }} (vmforge hashes it)",
    NULL,
};

/* Where the boot loader goes (--location): mbr for bios and both, partition
 * (nothing in the MBR) for uefi. */
static const char *bootloader_location(const VmfRecipe *r)
{
    return r->firmware == VMF_FIRMWARE_UEFI ? "partition" : "mbr";
}

/* What the templates say about the boot loader. bootloader_location: mbr
 * (bios, both) or partition (uefi: nothing in the MBR; Anaconda puts its
 * boot loader on the ESP under UEFI whatever --location says, the offline
 * installer too). Anaconda installs one boot loader, so for both the EL
 * templates add GRUB for BIOS in %post (bios_loader_packages,
 * bios_loader_post); empty otherwise. */
static void boot_vars(const VmfRecipe *r, GHashTable *vars)
{
    bool both = r->firmware == VMF_FIRMWARE_BOTH;
    g_hash_table_replace(vars, g_strdup("firmware"), g_strdup(vmf_firmware_name(r->firmware)));
    g_hash_table_replace(vars, g_strdup("bootloader_location"), g_strdup(bootloader_location(r)));
    g_hash_table_replace(vars, g_strdup("bios_loader_packages"), g_strdup(both ? "grub2-pc" : ""));
    g_hash_table_replace(
        vars, g_strdup("bios_loader_post"),
        g_strdup(both ? "%post --erroronfail\n"
                        "# firmware: both: GRUB for BIOS in the MBR, beside the EFI boot loader\n"
                        "grub2-install --target=i386-pc /dev/" VMF_GUEST_DISK "\n"
                        "grub2-mkconfig -o /boot/grub2/grub.cfg\n"
                        "%end"
                      : ""));
}

GHashTable *vmf_kickstart_vars(const VmfRecipe *recipe, GHashTable *defaults, const char *salt,
                               GError **error)
{
    g_autoptr(GHashTable) vars = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    GHashTableIter it;
    gpointer k, v;
    if (defaults) {
        g_hash_table_iter_init(&it, defaults);
        while (g_hash_table_iter_next(&it, &k, &v))
            g_hash_table_replace(vars, g_strdup(k), g_strdup(v));
    }
    g_hash_table_replace(vars, g_strdup("hostname"), g_strdup(recipe->name));
    boot_vars(recipe, vars);
    g_hash_table_iter_init(&it, recipe->vars);
    while (g_hash_table_iter_next(&it, &k, &v))
        g_hash_table_replace(vars, g_strdup(k), g_strdup(v));

    /* The root password: hashed here, the plain text wiped and dropped. */
    g_autofree char *plain = NULL;
    char *pv = g_hash_table_lookup(vars, "rootpw");
    if (recipe->rootpw_file) {
        plain = vmf_secret_read_password_file(recipe->rootpw_file, error);
        if (!plain)
            return NULL;
    } else if (pv) {
        plain = g_strdup(pv);
    }
    if (pv)
        explicit_bzero(pv, strlen(pv));
    g_hash_table_remove(vars, "rootpw");
    if (plain) {
        g_autofree char *hash = vmf_secret_hash_password(plain, salt, error);
        explicit_bzero(plain, strlen(plain));
        if (!hash)
            return NULL;
        g_hash_table_replace(vars, g_strdup("rootpw_line"),
                             g_strdup_printf("rootpw --iscrypted %s", hash));
    } else {
        g_hash_table_replace(vars, g_strdup("rootpw_line"), g_strdup("rootpw --lock"));
    }

    g_autoptr(GString) parts = g_string_new(NULL);
    const char *root_dev = NULL;
    static char devs[VMF_RECIPE_MAX_PARTITIONS][8] = {"vda1", "vda2", "vda3", "vda4"};
    for (unsigned i = 0; i < recipe->n_partitions; i++) {
        const VmfPartition *p = &recipe->partitions[i];
        if (!p->mount)
            continue;
        if (parts->len)
            g_string_append_c(parts, '\n');
        g_string_append_printf(parts, "part %s --onpart=%s", p->mount, devs[i]);
        if (strcmp(p->mount, "/boot/efi") == 0)
            g_string_append(parts, " --fstype=efi"); /* Anaconda's name for the ESP's FAT */
        else if (strcmp(p->mount, "swap") != 0)
            g_string_append_printf(parts, " --fstype=%s", p->fstype ? p->fstype : "ext4");
        if (strcmp(p->mount, "/") == 0)
            root_dev = devs[i];
    }
    g_hash_table_replace(vars, g_strdup("partitions"),
                         g_string_free(g_steal_pointer(&parts), FALSE));
    g_hash_table_replace(vars, g_strdup("disk"), g_strdup(VMF_GUEST_DISK));
    g_hash_table_replace(vars, g_strdup("root_device"), g_strdup(root_dev ? root_dev : ""));
    g_hash_table_replace(vars, g_strdup("name"), g_strdup(recipe->name));
    g_hash_table_replace(vars, g_strdup("version"),
                         g_strdup(recipe->version ? recipe->version : ""));
    return g_steal_pointer(&vars);
}

/* Splits a kickstart command line into words ("..." kept together). */
static char **split_words(const char *line)
{
    g_autoptr(GPtrArray) words = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GString) w = g_string_new(NULL);
    bool quoted = false, have = false;
    for (const char *p = line; *p; p++) {
        if (*p == '"') {
            quoted = !quoted;
            have = true;
        } else if (!quoted && (*p == ' ' || *p == '\t')) {
            if (have)
                g_ptr_array_add(words, g_strdup(w->str));
            g_string_truncate(w, 0);
            have = false;
        } else {
            g_string_append_c(w, *p);
            have = true;
        }
    }
    if (have)
        g_ptr_array_add(words, g_strdup(w->str));
    g_ptr_array_add(words, NULL);
    return (char **)g_ptr_array_free(g_steal_pointer(&words), FALSE);
}

/* The value of --NAME=V or --NAME V in words[1..], or NULL. */
static const char *option(char **words, const char *name)
{
    size_t n = strlen(name);
    for (char **w = words + 1; *w; w++) {
        if (strncmp(*w, "--", 2) != 0 || strncmp(*w + 2, name, n) != 0)
            continue;
        if ((*w)[2 + n] == '=')
            return *w + 3 + n;
        if ((*w)[2 + n] == '\0' && w[1])
            return w[1];
    }
    return NULL;
}

static bool flag(char **words, const char *name)
{
    for (char **w = words + 1; *w; w++)
        if (strncmp(*w, "--", 2) == 0 && strcmp(*w + 2, name) == 0)
            return true;
    return false;
}

/* A bootloader line whose --location does not fit the recipe's firmware:
 * mbr for bios and both, partition (nothing in the MBR) for uefi, or none. */
static char *bootloader_problem(char **w, const VmfRecipe *r)
{
    const char *loc = option(w, "location");
    const char *want = bootloader_location(r);
    if (!loc || strcmp(loc, want) == 0 || strcmp(loc, "none") == 0)
        return NULL;
    return g_strdup_printf(
        "'bootloader --location=%s': firmware: %s boots from %s; use "
        "--location={{ bootloader_location }} (%s here)",
        loc, vmf_firmware_name(r->firmware),
        r->firmware == VMF_FIRMWARE_UEFI ? "its EFI system partition" : "its MBR", want);
}

static const char HEPIX[] = "HEPiX: vmforge made the disk's MBR partitions; install onto them "
                            "with part MOUNT --onpart=vdaN, no LVM";

bool vmf_kickstart_check(const VmfRendered *ks, const char *template_path, const VmfRecipe *recipe,
                         GError **error)
{
    g_auto(GStrv) lines = g_strsplit(ks->text, "\n", -1);
    bool in_section = false, have_root = false;
    for (guint i = 0; lines[i]; i++) {
        unsigned tline = i < ks->lines->len ? g_array_index(ks->lines, unsigned, i) : 0;
        g_autofree char *line = g_strstrip(g_strdup(lines[i]));
        if (in_section) {
            if (g_str_has_prefix(line, "%end"))
                in_section = false;
            continue;
        }
        if (!line[0] || line[0] == '#')
            continue;
        if (line[0] == '%') {
            in_section =
                !g_str_has_prefix(line, "%include") && !g_str_has_prefix(line, "%ksappend");
            continue;
        }
        g_auto(GStrv) w = split_words(line);
        const char *cmd = w[0];
#define BAD(...)                                                                                   \
    do {                                                                                           \
        g_autofree char *why_ = g_strdup_printf(__VA_ARGS__);                                      \
        g_set_error(error, vmf_kickstart_error_quark(), 1, "%s:%u: %s (rendered line %u: %s)",     \
                    template_path, tline, why_, i + 1, line);                                      \
        return false;                                                                              \
    } while (0)
        if (!strcmp(cmd, "autopart") || !strcmp(cmd, "logvol") || !strcmp(cmd, "volgroup") ||
            !strcmp(cmd, "raid") || !strcmp(cmd, "reqpart") || !strcmp(cmd, "btrfs"))
            BAD("'%s' is refused: %s", cmd, HEPIX);
        if (!strcmp(cmd, "zerombr"))
            BAD("'zerombr' would erase vmforge's partition table: %s", HEPIX);
        if (!strcmp(cmd, "clearpart") && !flag(w, "none"))
            BAD("'clearpart' must be 'clearpart --none' (anything else removes vmforge's "
                "partitions): %s",
                HEPIX);
        if (!strcmp(cmd, "part") || !strcmp(cmd, "partition")) {
            const char *mnt = w[1] ? w[1] : "";
            if (g_str_has_prefix(mnt, "pv."))
                BAD("an LVM physical volume is refused: %s", HEPIX);
            const char *dev = option(w, "onpart");
            if (!dev)
                dev = option(w, "usepart");
            if (!dev)
                BAD("'part %s' without --onpart would create a partition: %s", mnt, HEPIX);
            if (g_str_has_prefix(dev, "/dev/"))
                dev += 5;
            const VmfPartition *p = NULL;
            unsigned n = 0;
            if (g_str_has_prefix(dev, VMF_GUEST_DISK) &&
                sscanf(dev + strlen(VMF_GUEST_DISK), "%u", &n) == 1 && n >= 1 &&
                n <= recipe->n_partitions)
                p = &recipe->partitions[n - 1];
            if (!p)
                BAD("'part %s --onpart=%s': the disk vmforge made has partitions %s1 to %s%u only",
                    mnt, dev, VMF_GUEST_DISK, VMF_GUEST_DISK, recipe->n_partitions);
            if (p->mount && strcmp(p->mount, mnt) != 0)
                BAD("'part %s --onpart=%s': the recipe (line %u) mounts %s at %s", mnt, dev,
                    p->line, dev, p->mount);
            have_root |= strcmp(mnt, "/") == 0;
        }
        g_autofree char *bl = !strcmp(cmd, "bootloader") ? bootloader_problem(w, recipe) : NULL;
        if (bl)
            BAD("%s", bl);
#undef BAD
    }
    if (!have_root) {
        g_set_error(error, vmf_kickstart_error_quark(), 1,
                    "%s: no 'part / --onpart=...' line: the kickstart must install onto the "
                    "partitions vmforge made ({{ partitions }} writes them)",
                    template_path);
        return false;
    }
    return true;
}
