/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * main.c — the vmforge command line: dispatches to subcommands.
 */
#include "commands.h"
#include "util/exit-codes.h"
#include "vmforge-config.h"

#include <glib.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const VmfCommand commands[] = {
    {"build",
     "build every target of a recipe from one install: install, customize, convert, package",
     vmf_cmd_build},
    {"convert", "convert a raw disk to qcow2, VMDK, VDI, VHD and raw.gz in one pass",
     vmf_cmd_convert},
    {"install",
     "boot an OS installer on a new raw MBR disk with a kickstart; keep the installed disk",
     vmf_cmd_install},
    {"customize",
     "apply a recipe's customize: list to an installed disk (libguestfs), then sysprep",
     vmf_cmd_customize},
    {"backup", "images and an OVA of a libvirt domain, running (snapshot, commit) or shut off",
     vmf_cmd_backup},
    {"publish", "send built images into OpenStack Glance and libvirt storage pools, verified",
     vmf_cmd_publish},
    {"doctor", "check that this host can build: libvirtd, the accelerator, libguestfs, space",
     vmf_cmd_doctor},
    {"verify", "check an OVA: order, sizes, manifest, signature, schema, VMDK structure",
     vmf_cmd_verify},
    {NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: vmforge [--version] [--help] COMMAND [ARGS...]\n\n"
                 "Build virtual machine images for every hypervisor from one raw disk.\n\n"
                 "Commands:\n");
    for (const VmfCommand *c = commands; c->name; c++)
        fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fprintf(out, "  %-10s %s\n", "help", "show help for a command (vmforge help COMMAND)");
    fprintf(out, "\nRun 'vmforge COMMAND --help' for a command's options; see vmforge(1).\n\n%s",
            VMF_EXIT_CODES_HELP);
}

int main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    if (argc < 2) {
        usage(stderr);
        return VMF_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        printf("vmforge %s\n", VMFORGE_VERSION);
        return VMF_EXIT_OK;
    }
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        usage(stdout);
        return VMF_EXIT_OK;
    }
    if (strcmp(name, "help") == 0) {
        if (argc < 3) {
            usage(stdout);
            return VMF_EXIT_OK;
        }
        for (const VmfCommand *c = commands; c->name; c++)
            if (strcmp(c->name, argv[2]) == 0) {
                char *args[] = {argv[2], (char *)"--help", NULL};
                return c->run(2, args);
            }
        fprintf(stderr, "vmforge: unknown command \"%s\"\n", argv[2]);
        return VMF_EXIT_USAGE;
    }
    for (const VmfCommand *c = commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "vmforge: unknown command \"%s\"\n\n", name);
    usage(stderr);
    return VMF_EXIT_USAGE;
}
