/* SPDX-License-Identifier: GPL-2.0-or-later */
/* commands.h — vmforge's subcommands; each returns the process exit status. */
#pragma once

typedef struct VmfCommand {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} VmfCommand;

int vmf_cmd_convert(int argc, char **argv);
int vmf_cmd_verify(int argc, char **argv);
int vmf_cmd_install(int argc, char **argv);
int vmf_cmd_customize(int argc, char **argv);

/* Prints "vmforge CMD: error: MESSAGE" on stderr. */
void vmf_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
