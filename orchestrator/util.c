/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "util.h"

#include "vmforge-config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

int vmf_parse_size(const char *text, uint64_t *out)
{
    if (!text || !g_ascii_isdigit(text[0]))
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno)
        return -ERANGE;
    unsigned shift = 0;
    switch (g_ascii_toupper(*end)) {
    case '\0':
        break;
    case 'K':
        shift = 10;
        break;
    case 'M':
        shift = 20;
        break;
    case 'G':
        shift = 30;
        break;
    case 'T':
        shift = 40;
        break;
    default:
        return -EINVAL;
    }
    if (*end) {
        end++;
        if (strcmp(end, "") != 0 && g_ascii_strcasecmp(end, "iB") != 0 &&
            g_ascii_strcasecmp(end, "B") != 0)
            return -EINVAL;
    }
    if (shift && v > (UINT64_MAX >> shift))
        return -ERANGE;
    *out = (uint64_t)v << shift;
    return 0;
}

const char *vmf_templates_dir(void)
{
    const char *env = g_getenv("VMFORGE_TEMPLATES");
    if (env && *env)
        return env;
    if (g_file_test(VMFORGE_TEMPLATES_INSTALLED, G_FILE_TEST_IS_DIR))
        return VMFORGE_TEMPLATES_INSTALLED;
    return VMFORGE_TEMPLATES_SOURCE;
}

void vmf_remove_workdir(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_unlink(path);
    }
    g_rmdir(dir);
}
