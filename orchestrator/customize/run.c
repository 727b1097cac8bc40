/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "run.h"

#include "util/exit-codes.h"
#include "util/util.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

void customize_say(CustomizeRun *run, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autoptr(GDateTime) now = g_date_time_new_now_local();
    g_autofree char *ts = g_date_time_format(now, "%H:%M:%S");
    if (!run->quiet)
        fprintf(stderr, "%s customize: %s\n", ts, msg);
    if (run->log) {
        fprintf(run->log, "%s %s\n", ts, msg);
        fflush(run->log);
    }
}

int customize_fail(CustomizeRun *run, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return vmf_guest_fail(run->guest, run->error, "%s", what);
}

int customize_write_file(CustomizeRun *run, const char *path, const char *text)
{
    return guestfs_write(run->g, path, text, strlen(text)) < 0
               ? customize_fail(run, "writing %s", path)
               : 0;
}

char *customize_template_text(const char *name, GError **error)
{
    g_autofree char *path = g_build_filename(vmf_templates_dir(), "firstboot", name, NULL);
    char *text = NULL;
    return g_file_get_contents(path, &text, NULL, error) ? text : NULL;
}

int customize_add_firstboot(CustomizeRun *run, const char *name, const char *script)
{
    if (!run->firstboot_installed) {
        g_autofree char *runner = customize_template_text("run.sh", run->error);
        g_autofree char *unit = customize_template_text("vmforge-firstboot.service", run->error);
        if (!runner || !unit)
            return -ENOENT;
        if (guestfs_mkdir_p(run->g, FIRSTBOOT_DIR "/scripts") < 0 ||
            customize_write_file(run, FIRSTBOOT_DIR "/run.sh", runner) < 0 ||
            guestfs_chmod(run->g, 0755, FIRSTBOOT_DIR "/run.sh") < 0 ||
            guestfs_mkdir_p(run->g, "/etc/systemd/system/multi-user.target.wants") < 0 ||
            customize_write_file(run, "/etc/systemd/system/vmforge-firstboot.service", unit) < 0 ||
            guestfs_ln_sf(run->g, "/etc/systemd/system/vmforge-firstboot.service",
                          "/etc/systemd/system/multi-user.target.wants/vmforge-firstboot.service") <
                0)
            return run->error && *run->error
                       ? -EIO
                       : customize_fail(run, "installing the first-boot service");
        run->firstboot_installed = true;
    }
    /* Numbered so they run in recipe order. */
    g_autofree char *path =
        g_strdup_printf(FIRSTBOOT_DIR "/scripts/%04u-%s", ++run->firstboot_seq, name);
    if (customize_write_file(run, path, script) < 0)
        return -EIO;
    return guestfs_chmod(run->g, 0755, path) < 0 ? customize_fail(run, "chmod %s", path) : 0;
}

int customize_close_guest(CustomizeRun *run, int rc)
{
    if (!run->guest)
        return rc;
    GError *cerr = NULL;
    if (vmf_guest_close(run->guest, rc == VMF_EXIT_OK ? &cerr : NULL) < 0 && rc == VMF_EXIT_OK) {
        g_propagate_error(run->error, cerr);
        rc = VMF_EXIT_FAILURE;
    }
    run->guest = NULL;
    return rc;
}
