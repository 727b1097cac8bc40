/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd-verify.c — `vmforge verify APPLIANCE.ova...`: one line per problem,
 * a summary line per good appliance, non-zero exit on any problem.
 */
#include "commands.h"
#include "formats/ova.h"
#include "util/exit-codes.h"
#include "util/util.h"

#include <stdio.h>

#define CMD "verify"

int vmf_cmd_verify(int argc, char **argv)
{
    g_auto(GStrv) files = NULL;
    gboolean quiet = FALSE;
    GOptionEntry entries[] = {
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Print only problems", NULL},
        {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &files, NULL, "OVA..."},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("OVA...");
    g_option_context_set_summary(
        ctx, "Check OVF appliances: member order and names, each file's size against\n"
             "ovf:size, every manifest digest (and the manifest's exact form), the\n"
             "signature and certificate when present, the descriptor against the DMTF\n"
             "OVF 1.x schemas, and the structure of streamOptimized VMDKs.\n"
             "Prints one line per problem.");
    g_option_context_set_description(ctx, VMF_EXIT_CODES_HELP);
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) err = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        vmf_error(CMD, "%s (see vmforge verify --help)", err->message);
        return VMF_EXIT_USAGE;
    }
    if (!files || !files[0]) {
        vmf_error(CMD, "no appliance given (usage: vmforge verify NAME.ova...)");
        return VMF_EXIT_USAGE;
    }
    g_autofree char *schemas = g_build_filename(vmf_templates_dir(), "schemas", NULL);
    int status = VMF_EXIT_OK;
    for (char **f = files; *f; f++) {
        g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
        g_clear_error(&err);
        if (!g_file_test(*f, G_FILE_TEST_IS_REGULAR)) {
            vmf_error(CMD, "%s is not a file", *f);
            status = VMF_EXIT_INPUT;
            continue;
        }
        if (vf_ova_verify(*f, schemas, problems, &err) < 0) {
            vmf_error(CMD, "%s", err->message);
            status = VMF_EXIT_INPUT;
            continue;
        }
        for (guint i = 0; i < problems->len; i++)
            printf("%s: %s\n", *f, (char *)problems->pdata[i]);
        if (problems->len) {
            if (status == VMF_EXIT_OK)
                status = VMF_EXIT_VERIFY;
        } else if (!quiet) {
            printf("%s: OK\n", *f);
        }
    }
    return status;
}
