/* SPDX-License-Identifier: GPL-2.0-or-later */
/* commands.h — vmforge's subcommands; each returns the process exit status. */
#pragma once

#include "recipe/recipe.h"
#include "util/util.h"

typedef struct VmfCommand {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} VmfCommand;

int vmf_cmd_convert(int argc, char **argv);
int vmf_cmd_verify(int argc, char **argv);
int vmf_cmd_install(int argc, char **argv);
int vmf_cmd_customize(int argc, char **argv);
int vmf_cmd_build(int argc, char **argv);
int vmf_cmd_doctor(int argc, char **argv);
int vmf_cmd_backup(int argc, char **argv);
int vmf_cmd_publish(int argc, char **argv);

/* What --help says of a command. */
typedef struct {
    const char *name;        /* "build" */
    const char *params;      /* after the options: "RECIPE" */
    const char *summary;     /* above the options */
    const char *description; /* below them (examples, environment, exit statuses), or NULL */
} VmfCliHelp;

/* The options most commands have, freed by vmf_cli_args_clear (each
 * command's own Args holds it, with the options that are its alone). */
typedef struct {
    char **rest;      /* the arguments after the options */
    char **vars;      /* --var NAME=VALUE */
    char *outdir;     /* -o, --output */
    char *accel;      /* --accel */
    char *uri;        /* -c, --connect */
    char *cache;      /* --cache-dir */
    char *pool;       /* --pool */
    char *remote_dir; /* --remote-dir */
} VmfCliArgs;

/* --pool and --remote-dir, the storage on a libvirt host (one help text for
 * every command that has them). */
#define VMF_CLI_POOL_OPTIONS(a)                                                                    \
    {"pool",                                                                                       \
     0,                                                                                            \
     0,                                                                                            \
     G_OPTION_ARG_STRING,                                                                          \
     &(a)->pool,                                                                                   \
     "Storage pool of the libvirt host for the volumes (an existing, active pool; default: "       \
     "default, used whenever --connect names a remote host)",                                      \
     "NAME"},                                                                                      \
    {                                                                                              \
        "remote-dir", 0, 0, G_OPTION_ARG_STRING, &(a)->remote_dir,                                 \
            "Instead of --pool: a directory pool made for the run under this folder of the host, " \
            "removed afterwards",                                                                  \
            "DIR"                                                                                  \
    }

void vmf_cli_args_clear(VmfCliArgs *a);

/* Parses a command's options (and `group`'s, which the parse takes; may be
 * NULL) into what `entries` point at; GLib's --help prints the help and
 * exits. Returns VMF_EXIT_OK, or VMF_EXIT_USAGE having printed what is
 * wrong. */
int vmf_cli_parse(const VmfCliHelp *help, const GOptionEntry *entries, GOptionGroup *group,
                  int *argc, char ***argv);

/* --accel: the option's value, else $VMFORGE_ACCEL, else "auto". Prints an
 * error and returns NULL when it is not auto, kvm or tcg. */
const char *vmf_cli_accel(const char *cmd, const char *given);

/* Loads RECIPE with --var overrides; on error prints it and sets *status
 * (usage error for a bad --var, input error otherwise) and returns NULL. */
VmfRecipe *vmf_cli_recipe(const char *cmd, const char *path, char **vars, int *status);
