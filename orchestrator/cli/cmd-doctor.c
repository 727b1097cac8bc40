/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd-doctor.c — `vmforge doctor [RECIPE]`: can this host build? The checks
 * are build/doctor.h's.
 */
#include "build/doctor.h"
#include "commands.h"
#include "util/exit-codes.h"

#define CMD "doctor"

typedef struct {
    VmfCliArgs c;
    gboolean no_guests;
} Args;

static void args_clear(Args *a)
{
    vmf_cli_args_clear(&a->c);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Args, args_clear)

static const VmfCliHelp help = {
    .name = CMD,
    .params = "[RECIPE]",
    .summary = "Check that this host can build: libvirtd answers; the accelerator really runs\n"
               "a guest (the host's kernel is booted until its banner appears, so a KVM that\n"
               "hangs guests is caught); the libguestfs appliance launches; and, given a\n"
               "RECIPE, the output folder and cache have room for it. One line per check,\n"
               "with a fix for each failure. Exit status 0 when nothing failed, 1 otherwise.",
};

static int parse(Args *a, int *argc, char ***argv)
{
    const GOptionEntry entries[] = {
        {"output", 'o', 0, G_OPTION_ARG_FILENAME, &a->c.outdir,
         "The output folder a build would use, for the space check (default: .)", "DIR"},
        {"var", 0, 0, G_OPTION_ARG_STRING_ARRAY, &a->c.vars, "Set a recipe variable", "NAME=VALUE"},
        {"accel", 0, 0, G_OPTION_ARG_STRING, &a->c.accel,
         "Accelerator to check: auto, kvm or tcg (default: $VMFORGE_ACCEL or auto)",
         "auto|kvm|tcg"},
        {"connect", 'c', 0, G_OPTION_ARG_STRING, &a->c.uri,
         "libvirt URI, local or remote: qemu+ssh://root@HOST/system, qemu+tcp://, qemu+tls:// "
         "(default: $LIBVIRT_DEFAULT_URI, qemu:///system as root)",
         "URI"},
        VMF_CLI_POOL_OPTIONS(&a->c),
        {"cache-dir", 0, 0, G_OPTION_ARG_FILENAME, &a->c.cache,
         "Base-disk cache (default: $VMFORGE_CACHE_DIR, else ~/.cache/vmforge)", "DIR"},
        {"no-guests", 0, 0, G_OPTION_ARG_NONE, &a->no_guests,
         "Skip the checks that start a guest (the accelerator and libguestfs)", NULL},
        {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &a->c.rest, NULL, NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    int rc = vmf_cli_parse(&help, entries, NULL, argc, argv);
    if (rc == VMF_EXIT_OK && a->c.rest && a->c.rest[0] && a->c.rest[1]) {
        vmf_error(CMD, "give at most one recipe");
        rc = VMF_EXIT_USAGE;
    }
    return rc;
}

int vmf_cmd_doctor(int argc, char **argv)
{
    g_auto(Args) a = {0};
    int rc = parse(&a, &argc, &argv);
    if (rc)
        return rc;
    VmfDoctorOptions o = {
        .recipe = a.c.rest ? a.c.rest[0] : NULL,
        .vars = a.c.vars,
        .outdir = a.c.outdir,
        .accel = vmf_cli_accel(CMD, a.c.accel),
        .uri = a.c.uri,
        .pool = a.c.pool,
        .remote_dir = a.c.remote_dir,
        .cache_dir = a.c.cache,
        .no_guests = a.no_guests,
    };
    if (!o.accel)
        return VMF_EXIT_USAGE;
    return vmf_doctor(&o);
}
