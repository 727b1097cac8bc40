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

/* --accel: the option's value, else $VMFORGE_ACCEL, else "auto". Prints an
 * error and returns NULL when it is not auto, kvm or tcg. */
const char *vmf_cli_accel(const char *cmd, const char *given);

/* Loads RECIPE with --var overrides; on error prints it and sets *status
 * (usage error for a bad --var, input error otherwise) and returns NULL. */
VmfRecipe *vmf_cli_recipe(const char *cmd, const char *path, char **vars, int *status);
