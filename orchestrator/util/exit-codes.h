/* SPDX-License-Identifier: GPL-2.0-or-later */
/* exit-codes.h — vmforge's documented exit statuses (README, vmforge(1)). */
#pragma once

#include <glib.h>

enum {
    VMF_EXIT_OK = 0,
    VMF_EXIT_FAILURE = 1, /* anything not listed below */
    VMF_EXIT_USAGE = 2,   /* bad command line: unknown option, format or value */
    VMF_EXIT_INPUT = 3,   /* the input is missing, unreadable, or not what was expected */
    VMF_EXIT_OUTPUT = 4,  /* an output could not be written: no space, exists, permissions */
    VMF_EXIT_LIMIT = 5,   /* the disk is too large for a requested format */
    VMF_EXIT_VERIFY = 6,  /* vmforge verify found problems */
    VMF_EXIT_GUEST = 7,   /* a guest stage failed: the installer failed, timed out, or left no
                             evidence of a finished install */
    VMF_EXIT_HOST = 8,    /* the libvirt host could not be reached, or the connection to it was
                             lost during the install and did not come back */
    /* 128 + signal number when interrupted: 130 for SIGINT, 143 for SIGTERM */
};

#define VMF_EXIT_CODES_HELP                                                                        \
    "Exit status:\n"                                                                               \
    "  0    success\n"                                                                             \
    "  1    failure not covered below\n"                                                           \
    "  2    usage error (unknown option, format or option value)\n"                                \
    "  3    input error (missing, unreadable, or not a raw disk)\n"                                \
    "  4    output error (no space left, file exists, permission denied)\n"                        \
    "  5    the disk is too large for a requested format\n"                                        \
    "  6    problems found: vmforge verify, or an image breaking the HEPiX rules\n"                \
    "  7    a guest stage failed: installer, customize operation, or boot check\n"                 \
    "  8    the libvirt host could not be reached, or was lost during the install\n"               \
    "  130  interrupted by SIGINT (Ctrl-C); 143 by SIGTERM. Nothing is left behind.\n"

/* The exit status for a converter error (VF_ERROR codes: input, output,
 * usage, limit, cancelled → 128 + signal); VMF_EXIT_FAILURE otherwise. */
int vmf_convert_exit_code(const GError *err);
