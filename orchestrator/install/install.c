/* SPDX-License-Identifier: GPL-2.0-or-later */
/* install.c — the install stage (install.h; its parts: job.h). */
#include "job.h"

#include "disk.h"
#include "formats/vf.h"
#include "util/exit-codes.h"
#include "util/fingerprint.h"
#include "util/signals.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

G_DEFINE_QUARK(vmf - install - error - quark, vmf_install_error)

/* How often the watcher looks at the domain. */
#define POLL_INTERVAL_US (500 * 1000)
/* With QEMU user-mode networking the guest reaches the host's loopback here. */
#define USER_NET_HOST "10.0.2.2"
/* How long a lost libvirtd may take to come back: a local daemon is
 * restarted (its QEMU and the guest run on meanwhile); a remote host that
 * does not answer for this long is given up, its leftovers named. */
#define RECONNECT_LOCAL_SECONDS  120
#define RECONNECT_REMOTE_SECONDS 20
/* To clean up after an interruption that took the connection with it. */
#define RECONNECT_CLEANUP_SECONDS 10

void vmf_install_result_clear(VmfInstallResult *r)
{
    g_free(r->disk);
    g_free(r->console_log);
    g_free(r->failed_disk);
    g_free(r->media);
    g_free(r->disk_sha256);
    g_free(r->host);
    g_free(r->pool);
    memset(r, 0, sizeof(*r));
}

bool vmf_install_on_host(const VmfInstallOptions *o)
{
    return vmf_pool_on_host(o->uri, o->pool, o->remote_dir);
}

int vmf_install_check_host(const VmfRecipe *r, const VmfInstallOptions *o, GError **error)
{
    if (!vmf_install_on_host(o))
        return 0;
    if (r->inject == VMF_INJECT_HTTP)
        FAIL(VMF_EXIT_USAGE,
             "%s: inject: http cannot work with the volumes on a libvirt host (%s): the guest "
             "reaches 10.0.2.2, that host's own loopback, not this machine; use inject: initrd "
             "or inject: oemdrv",
             r->path, o->uri ? o->uri : vmf_virt_default_uri());
    if (o->pool && o->remote_dir)
        FAIL(VMF_EXIT_USAGE, "--pool and --remote-dir exclude each other");
    return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

static int write_private(const char *path, const char *text, GError **error)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || fchmod(fd, 0600) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        FAIL(VMF_EXIT_OUTPUT, "%s: %s", path, g_strerror(e));
    }
    size_t len = strlen(text);
    ssize_t w = write(fd, text, len);
    int e = errno;
    if (close(fd) < 0 || w != (ssize_t)len)
        FAIL(VMF_EXIT_OUTPUT, "%s: %s", path, g_strerror(w < 0 ? e : ENOSPC));
    return 0;
}

/* QEMU under qemu:///system runs as its own user (libvirt-qemu): libvirt
 * hands it the files, but every folder above them must let others through.
 * Returns the first folder of `path` that does not, or NULL. */
static char *untraversable_folder(const char *path)
{
    g_autofree char *dir = g_path_get_dirname(path);
    while (strcmp(dir, "/") != 0 && strcmp(dir, ".") != 0) {
        struct stat st;
        if (stat(dir, &st) == 0 && !(st.st_mode & S_IXOTH))
            return g_steal_pointer(&dir);
        char *up = g_path_get_dirname(dir);
        g_free(dir);
        dir = up;
    }
    return NULL;
}

/* `path` is a file, or a folder when `is_dir`. */
static int check_reachable(const char *uri, const char *what, const char *path, bool is_dir,
                           GError **error)
{
    if (!g_str_has_suffix(uri, "/system"))
        return 0;
    g_autofree char *inside = is_dir ? g_build_filename(path, "x", NULL) : g_strdup(path);
    g_autofree char *dir = untraversable_folder(inside);
    if (dir)
        FAIL(VMF_EXIT_OUTPUT,
             "%s: QEMU (which runs as its own user under %s) cannot reach %s %s through it; "
             "make it traversable (chmod o+x %s) or use another folder",
             dir, uri, what, path, dir);
    return 0;
}

/* ---- the fingerprint of the base disk ------------------------------------------- */

int vmf_install_fingerprint(const VmfRecipe *r, VmfFingerprint *fp, GError **error)
{
    /* The plan a dry run makes, with the root password hashed with the
     * cache's salt: the rendered kickstart is then the same on every run. */
    VmfInstallOptions o = {.outdir = "/", .dry_run = true, .salt = fp->salt};
    g_auto(VmfInstallPlan) plan = {0};
    int rc = vmf_install_plan_make(r, &o, &plan, error);
    if (rc)
        return rc;
    vmf_fp_add_u64(fp, "disk.size", r->disk_size);
    for (unsigned i = 0; i < r->n_partitions; i++) {
        const VmfPartition *p = &r->partitions[i];
        g_autofree char *part =
            g_strdup_printf("%s|%" G_GUINT64_FORMAT "|%x|%d|%s", p->mount ? p->mount : "", p->size,
                            p->type, p->bootable, p->fstype ? p->fstype : "");
        vmf_fp_add(fp, "disk.partition", part);
    }
    const char *files[][2] = {{"media", plan.media ? plan.media->iso : NULL},
                              {"kernel", r->kernel},
                              {"initrd", r->initrd}};
    for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
        if (!files[i][1])
            continue;
        if (vmf_fp_add_file(fp, files[i][0], files[i][1], error) < 0)
            return VMF_EXIT_INPUT;
    }
    g_autofree char *family_text = NULL;
    if (!g_file_get_contents(plan.family.path, &family_text, NULL, NULL))
        family_text = g_strdup(plan.family.path);
    vmf_fp_add(fp, "installer.family", family_text);
    vmf_fp_add(fp, "installer.answer_file", plan.ks->text);
    vmf_fp_add(fp, "installer.inject", vmf_inject_name(r->inject));
    vmf_fp_add(fp, "installer.extra_args", r->extra_args);
    vmf_fp_add(fp, "installer.network", r->network);
    if (vmf_recipe_efi(r)) /* BIOS recipes keep the keys they had */
        vmf_fp_add(fp, "firmware", vmf_firmware_name(r->firmware));
    return 0;
}

/* ---- the run ------------------------------------------------------------------- */

static void install_clear(Install *in)
{
    g_bytes_unref(in->ks_bytes);
    g_free(in->ks_arg);
    vmf_http_stop(in->http);
    vmf_progress_free(in->prog);
    vmf_console_free(in->con);
    if (in->st)
        virStreamFree(in->st);
    if (in->dom)
        virDomainFree(in->dom);
    vmf_console_state_clear(&in->seen);
    vmf_pool_free(in->pool);
    vmf_run_free(in->run);
    vmf_virt_close(in->v);
    if (in->workdir)
        vmf_remove_workdir(in->workdir);
    g_free(in->workdir);
    g_free(in->poolname);
    g_free(in->domname);
    g_free(in->prefix);
    g_free(in->disk_vol);
    g_free(in->disk);
    g_free(in->kernel);
    g_free(in->initrd);
    g_free(in->oemdrv);
    g_free(in->cdrom);
    g_free(in->media_vol);
    g_free(in->chan_path);
    g_free(in->local_disk);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Install, install_clear)

/* What the guest is told on its kernel command line; for HTTP the port is
 * known once the server runs (install_serve_http). */
static char *ks_argument(const VmfRecipe *r)
{
    switch (r->inject) {
    case VMF_INJECT_INITRD:
        return g_strdup("inst.ks=file:/ks.cfg");
    case VMF_INJECT_OEMDRV:
        return g_strdup("inst.ks=hd:LABEL=OEMDRV:/ks.cfg");
    case VMF_INJECT_HTTP:
        return g_strdup_printf("inst.ks=http://%s:PORT/ks.cfg",
                               r->network ? "NETWORK-HOST" : USER_NET_HOST);
    }
    return NULL;
}

/* --dry-run: the kernel command line and the domain XML, with the paths
 * the volumes would have. */
static int install_dry_run(const Install *in)
{
    const VmfRecipe *r = in->r;
    const VmfInstallOptions *o = in->o;
    g_autofree char *cmdline = vmf_install_cmdline(r, in->plan, in->ks_arg);
    g_autofree char *pool = g_strdup_printf("%s/.vmforge-%s-POOL", o->outdir, r->name);
    g_autofree char *disk = g_strdup_printf("%s/%s.raw", pool, r->name);
    g_autofree char *kernel = g_strdup_printf("%s/vmlinuz", pool);
    g_autofree char *initrd = g_strdup_printf("%s/initrd.img", pool);
    g_autofree char *oemdrv = g_strdup_printf("%s/oemdrv.iso", pool);
    g_autofree char *name = g_strdup_printf("vmforge-install-%s-ID", r->name);
    g_autofree char *alog = g_strdup_printf("%s/anaconda.log", pool);
    g_autofree char *nvram = vmf_recipe_efi(r) ? g_strdup_printf("%s/VARS.fd", pool) : NULL;
    VmfInstallVolumes vols = {.kernel = kernel,
                              .nvram = nvram,
                              .initrd = initrd,
                              .disk = disk,
                              .oemdrv = r->inject == VMF_INJECT_OEMDRV ? oemdrv : NULL,
                              .cdrom = in->plan->media ? in->plan->media->iso : NULL,
                              .channel_path = alog};
    g_autofree char *xml = vmf_install_domain_xml(
        r, in->plan, name, strcmp(o->accel, "kvm") == 0 ? "kvm" : "qemu", &vols, cmdline);
    printf("# media: %s\n# family: %s\n# kickstart template: %s\n# kernel command line:\n%s\n"
           "# domain XML (accel %s):\n%s",
           in->res->media ? in->res->media : "(kernel and initrd given)", in->plan->family_name,
           in->plan->template_path, cmdline, o->accel, xml);
    return VMF_EXIT_OK;
}

/* The connection, what QEMU on a local host must reach, and what earlier
 * runs against this host left behind. */
static int install_connect(Install *in)
{
    GError **error = in->error;
    GError *verr = NULL;
    in->v = vmf_virt_open(in->o->uri, &verr);
    if (!in->v) {
        int rc = verr->code == 2 ? VMF_EXIT_USAGE : VMF_EXIT_HOST;
        g_propagate_error(error, verr);
        return rc;
    }
    const char *uri = vmf_virt_uri(in->v);
    int rc = 0;
    if (!in->host)
        rc = check_reachable(uri, "the output folder", in->o->outdir, true, error);
    if (!rc && !in->host && in->plan->media)
        rc = check_reachable(uri, "the installer ISO", in->plan->media->iso, false, error);
    if (rc)
        return rc;
    in->domtype = vmf_virt_domain_type(in->v, in->o->accel, error);
    if (!in->domtype)
        return VMF_EXIT_USAGE;
    g_autoptr(GPtrArray) removed = g_ptr_array_new_with_free_func(g_free);
    if (vmf_runs_clean(in->v, removed)) {
        g_ptr_array_add(removed, NULL);
        g_autofree char *list = g_strjoinv("; ", (char **)removed->pdata);
        vmf_progress_say(in->o->progress, "install", "removed what an earlier run left on %s: %s",
                         vmf_virt_host(in->v), list);
    }
    in->run = vmf_run_begin(in->v, error);
    return in->run ? 0 : VMF_EXIT_OUTPUT;
}

/* Serves the kickstart over HTTP, on loopback for user-mode networking
 * (the guest reaches it as USER_NET_HOST) or on the libvirt network's
 * address. */
static int install_serve_http(Install *in)
{
    GError **error = in->error;
    g_autofree char *addr = NULL;
    if (in->r->network) {
        addr = vmf_virt_network_address(in->v, in->r->network, error);
        if (!addr)
            return VMF_EXIT_INPUT;
    } else {
        addr = g_strdup("127.0.0.1");
    }
    in->http = vmf_http_start(addr, "ks.cfg", in->ks_bytes, error);
    if (!in->http)
        return VMF_EXIT_FAILURE;
    g_free(in->ks_arg);
    in->ks_arg = g_strdup_printf("inst.ks=http://%s:%u/ks.cfg",
                                 in->r->network ? addr : USER_NET_HOST, vmf_http_port(in->http));
    return 0;
}

/* From here on things exist (logs, a server, a work folder, a pool) that
 * are cleaned up whatever happens. The pool, the volumes on a host and the
 * domain are named after the run: unique per build. */
static int install_prepare(Install *in)
{
    GError **error = in->error;
    const VmfInstallPlan *plan = in->plan;
    if (g_mkdir_with_parents(plan->logdir, 0755) < 0)
        FAIL(VMF_EXIT_OUTPUT, "%s: %s", plan->logdir, g_strerror(errno));
    int rc = write_private(plan->ks_path, plan->ks->text, error);
    if (!rc && in->r->inject == VMF_INJECT_HTTP)
        rc = install_serve_http(in);
    if (rc)
        return rc;
    char *workdir = g_strdup_printf("%s/.vmforge-%s-XXXXXX", in->o->outdir, in->r->name);
    if (!g_mkdtemp_full(workdir, 0755)) {
        g_free(workdir);
        FAIL(VMF_EXIT_OUTPUT, "%s: %s", in->o->outdir, g_strerror(errno));
    }
    vmf_run_add(in->run, VMF_RUN_FOLDER, NULL, workdir);
    in->workdir = workdir;
    const char *suffix = in->host ? vmf_run_id(in->run) : strrchr(workdir, '-') + 1;
    in->poolname = g_strdup_printf("vmforge-%s-%s", in->r->name, suffix);
    in->domname = g_strdup_printf("vmforge-install-%s-%s", in->r->name, suffix);
    in->prefix = in->host ? g_strdup_printf("%s-", in->poolname) : g_strdup("");
    in->disk_vol =
        in->host ? g_strdup_printf("%s.raw", in->poolname) : g_strdup_printf("%s.raw", in->r->name);
    in->prog = vmf_progress_new("install", in->o->progress);
    in->res->host = g_strdup(vmf_virt_uri(in->v));
    rc = install_open_pool(in);
    if (!rc)
        in->res->pool = g_strdup(vmf_pool_name(in->pool));
    return rc;
}

/* Where a UEFI installer domain keeps its NVRAM: beside its disk, or a
 * volume of the run on a host. NULL for BIOS recipes. */
static char *install_nvram_path(Install *in)
{
    if (!vmf_recipe_efi(in->r))
        return NULL;
    g_autofree char *vol = g_strconcat(in->prefix, "VARS.fd", NULL);
    return vmf_run_nvram_path(in->run, in->host ? in->pool : NULL, in->workdir, vol);
}

/* Defines the domain paused, subscribes to its events and its console, then
 * lets it run: no console line is missed. */
static int install_start_domain(Install *in, const VmfConsoleMatch *match)
{
    GError **error = in->error;
    g_autofree char *cmdline = vmf_install_cmdline(in->r, in->plan, in->ks_arg);
    in->chan_path = in->host
                        ? g_strdup_printf("%s/%sanaconda.log", vmf_pool_dir(in->pool), in->prefix)
                        : g_build_filename(in->workdir, "anaconda.log", NULL);
    if (in->host) {
        /* QEMU makes that file in the pool's folder: a volume to remove. */
        g_autofree char *chan_vol = g_strconcat(in->prefix, "anaconda.log", NULL);
        vmf_run_add(in->run, VMF_RUN_VOLUME, vmf_pool_name(in->pool), chan_vol);
    }
    g_autofree char *nvram = install_nvram_path(in);
    VmfInstallVolumes vols = {.kernel = in->kernel,
                              .nvram = nvram,
                              .initrd = in->initrd,
                              .disk = in->disk,
                              .oemdrv = in->oemdrv,
                              .cdrom = in->cdrom,
                              .channel_path = in->chan_path};
    g_autofree char *xml =
        vmf_install_domain_xml(in->r, in->plan, in->domname, in->domtype, &vols, cmdline);
    g_file_set_contents(in->plan->xml_path, xml, -1, NULL);
    if (vmf_interrupted)
        return 0;
    vmf_progress_status(in->prog, -1, "starting the installer domain");
    vmf_run_add(in->run, VMF_RUN_DOMAIN, NULL, in->domname);
    if (!(in->dom = vmf_virt_domain_create_paused(in->v, xml, error)) ||
        virDomainGetUUID(in->dom, in->uuid) < 0 ||
        vmf_virt_watch_domain(in->v, in->dom, error) < 0 ||
        !(in->st = vmf_virt_console_open(in->v, in->dom, error)))
        return VMF_EXIT_FAILURE;
    in->con = vmf_console_start(in->st, in->plan->console_log, in->o->console, match, error);
    if (!in->con)
        return VMF_EXIT_OUTPUT;
    return vmf_virt_domain_resume(in->dom, error) < 0 ? VMF_EXIT_FAILURE : 0;
}

/* Watches the domain until it stops, a limit is reached, the console shows
 * a failure or the connection is lost (OUT_LOST). */
static Outcome watch(Install *in, gint64 start)
{
    const VmfInstallOptions *o = in->o;
    unsigned timeout = o->timeout ? o->timeout : in->r->timeout;
    unsigned idle = o->idle_timeout ? o->idle_timeout : in->r->idle_timeout;
    gint64 last_io_change = g_get_monotonic_time();
    uint64_t last_io = 0;
    for (;; g_usleep(POLL_INTERVAL_US)) {
        if (vmf_interrupted)
            return OUT_INTERRUPTED;
        if (!vmf_virt_domain_running(in->dom))
            return vmf_virt_alive(in->v) ? OUT_POWEROFF : OUT_LOST;
        int ioerr = vmf_virt_domain_io_error(in->dom);
        if (ioerr)
            return ioerr == -ENOSPC ? OUT_NO_SPACE : OUT_IO_ERROR;
        gint64 now = g_get_monotonic_time();
        uint64_t io = vmf_virt_domain_io(in->dom, "vda");
        if (io != last_io) {
            last_io = io;
            last_io_change = now;
        }
        g_auto(VmfConsoleState) st = {0};
        vmf_console_state(in->con, &st);
        if (st.failure_line)
            return OUT_FAILED_LINE;
        if (now - start > (gint64)timeout * G_USEC_PER_SEC) {
            in->timeout_used = timeout;
            return OUT_TIMEOUT;
        }
        if (now - MAX(st.last_output, last_io_change) > (gint64)idle * G_USEC_PER_SEC) {
            in->timeout_used = idle;
            return OUT_IDLE;
        }
        if (!o->console)
            vmf_progress_status(in->prog, st.pct, st.what ? st.what : "booting the installer");
    }
}

/* The connection dropped while the guest ran: connect again, find the
 * domain by its UUID, follow its events and console again. Returns 0 when
 * watching can go on. */
static int reattach(Install *in)
{
    unsigned wait = vmf_virt_is_remote(in->v) ? RECONNECT_REMOTE_SECONDS : RECONNECT_LOCAL_SECONDS;
    vmf_progress_say(in->o->progress, "install",
                     "lost the connection to libvirt on %s (%s); reconnecting (for up to %u s)",
                     vmf_virt_host(in->v), vmf_virt_lost_reason(in->v), wait);
    if (vmf_virt_reconnect(in->v, wait, in->error) < 0)
        return -EIO;
    virDomainPtr dom = vmf_virt_domain_lookup(in->v, in->uuid);
    if (!dom) {
        g_set_error(in->error, vmf_install_error_quark(), VMF_EXIT_GUEST,
                    "the installer domain %s is gone after libvirt on %s came back", in->domname,
                    vmf_virt_host(in->v));
        return -ENOENT;
    }
    virDomainFree(in->dom);
    in->dom = dom;
    virStreamPtr st = NULL;
    if (vmf_virt_watch_domain(in->v, dom, in->error) < 0 ||
        !(st = vmf_virt_console_open(in->v, dom, in->error)))
        return -EIO;
    vmf_console_reattach(in->con, st);
    if (in->st)
        virStreamFree(in->st);
    in->st = st;
    vmf_progress_say(in->o->progress, "install", "reconnected to libvirt on %s; watching %s again",
                     vmf_virt_host(in->v), in->domname);
    return 0;
}

/* Stages the volumes, runs the installer domain and watches it to its end
 * (in->outcome), through lost connections. Returns a VMF_EXIT_* status for
 * what failed around it. */
static int install_run(Install *in)
{
    const VmfInstallFamily *f = &in->plan->family;
    VmfConsoleMatch match = {.success = f->success, .failure = f->failure, .progress = f->progress};
    int rc = install_stage_volumes(in);
    if (!rc)
        rc = install_start_domain(in, &match);
    if (rc || vmf_interrupted)
        return rc;
    gint64 t0 = g_get_monotonic_time();
    while ((in->outcome = watch(in, t0)) == OUT_LOST && reattach(in) == 0)
        continue;
    in->res->seconds = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    return 0;
}

/* The connection is needed to clean up, and it went with what stopped the
 * run: a Ctrl-C on a terminal reaches the ssh process of a qemu+ssh
 * connection too. Connect again (briefly) and find the domain again. */
static void reconnect_to_clean(Install *in)
{
    if (!in->v || in->outcome == OUT_LOST || vmf_virt_ping(in->v))
        return;
    if (vmf_virt_reconnect(in->v, RECONNECT_CLEANUP_SECONDS, NULL) < 0)
        return;
    if (in->dom) {
        virDomainFree(in->dom);
        in->dom = vmf_virt_domain_lookup(in->v, in->uuid);
    }
}

/* Whatever happened, no domain is left behind and the console, the server
 * and Anaconda's log channel are done with. */
static void install_teardown(Install *in)
{
    reconnect_to_clean(in);
    if (in->dom && vmf_virt_alive(in->v))
        vmf_virt_domain_destroy(in->dom);
    /* The console stream ends with the domain (its pty closes); give it
     * time to deliver the last lines. */
    if (in->con) {
        vmf_console_stop(in->con, vmf_virt_alive(in->v) ? 10 : 0);
        vmf_console_state(in->con, &in->seen);
    }
    vmf_http_stop(g_steal_pointer(&in->http));
    if (in->workdir && (!in->host || vmf_virt_alive(in->v)))
        install_fetch_channel(in);
}

/* The connection is gone and did not come back: what may remain where. */
static int lost_error(Install *in)
{
    g_autofree char *left = vmf_run_describe(in->run);
    g_autofree char *why = *in->error ? g_strdup((*in->error)->message) : g_strdup("");
    g_clear_error(in->error);
    g_set_error(in->error, vmf_install_error_quark(), VMF_EXIT_HOST,
                "lost the connection to libvirt on %s during the install (%s), and %s. What "
                "may remain there: %s. The next vmforge run against %s, or vmforge doctor "
                "--connect %s, removes it",
                vmf_virt_host(in->v), vmf_virt_lost_reason(in->v), why, left, vmf_virt_host(in->v),
                vmf_virt_uri(in->v));
    return VMF_EXIT_HOST;
}

/* The installer stopped writing on an I/O error: the folder the user chose
 * (its file system is what is full), what is free there and what the disk
 * may need. */
static int no_space_error(const Install *in)
{
    struct statvfs vfs;
    const VmfInstallOptions *o = in->o;
    uint64_t cap = 0, avail = 0;
    /* The folder the user chose, or the host's pool: what is full. */
    g_autofree char *dir = in->host ? g_strdup_printf("storage pool %s on %s",
                                                      vmf_pool_name(in->pool), vmf_virt_host(in->v))
                                    : g_strdup(o->keep_dir ? o->keep_dir : o->outdir);
    g_autofree char *need = vf_format_size(in->r->disk_size);
    g_autofree char *have =
        in->host ? (vmf_pool_space(in->pool, &cap, &avail, NULL) == 0 ? vf_format_size(avail)
                                                                      : g_strdup("?"))
        : statvfs(dir, &vfs) == 0 ? vf_format_size((uint64_t)vfs.f_bavail * vfs.f_frsize)
                                  : g_strdup("?");
    g_set_error(in->error, vmf_install_error_quark(), VMF_EXIT_OUTPUT,
                "%s: %s while the installer wrote the disk (%s free; the disk may need up to %s "
                "there); the domain was destroyed",
                dir, in->outcome == OUT_NO_SPACE ? "no space left" : "a write error", have, need);
    return VMF_EXIT_OUTPUT;
}

/* Why a domain that did not power off failed: sets *error; returns the
 * status (VMF_EXIT_GUEST, or VMF_EXIT_OUTPUT for a full disk). */
static int outcome_error(const Install *in)
{
    GError **error = in->error;
    switch (in->outcome) {
    case OUT_TIMEOUT:
        FAIL(VMF_EXIT_GUEST,
             "the install did not finish within %u s (installer timeout); the domain was destroyed",
             in->timeout_used);
    case OUT_IDLE:
        FAIL(VMF_EXIT_GUEST,
             "no console output and no disk I/O for %u s (installer idle_timeout); the domain was "
             "destroyed",
             in->timeout_used);
    case OUT_FAILED_LINE:
        FAIL(VMF_EXIT_GUEST, "the installer failed: %s", in->seen.failure_line);
    case OUT_NO_SPACE:
    case OUT_IO_ERROR:
        return no_space_error(in);
    default:
        return VMF_EXIT_GUEST;
    }
}

/* A power-off is a finished install when the guest itself powered off and
 * the console showed the family's success line; the root partition must
 * then hold a file system (judged on the disk as it came back). */
static bool poweroff_clean(const Install *in)
{
    GError **error = in->error;
    /* The stop event can trail the domain's disappearance a little. */
    for (int i = 0; i < 50 && vmf_virt_stop_reason(in->v) == VMF_STOP_NONE; i++)
        g_usleep(100 * 1000);
    VmfStopReason stopped = vmf_virt_stop_reason(in->v);
    if (stopped != VMF_STOP_POWEROFF) {
        g_set_error(error, vmf_install_error_quark(), VMF_EXIT_GUEST,
                    "the installer domain stopped but did not power off: %s",
                    vmf_stop_reason_text(stopped));
        return false;
    }
    if (!in->seen.success)
        g_set_error(error, vmf_install_error_quark(), VMF_EXIT_GUEST,
                    "the installer powered off without its success line (\"%s\")",
                    in->plan->family.success);
    return in->seen.success;
}

/* The installed disk on this machine (in->local_disk), with a file system
 * on its root partition. */
static int installed_disk(Install *in)
{
    GError **error = in->error;
    in->local_disk = g_build_filename(in->workdir, "installed.raw", NULL);
    int rc = install_fetch_disk(in, in->local_disk, false);
    if (rc) {
        g_clear_pointer(&in->local_disk, g_free);
        return rc;
    }
    g_autofree char *fs = NULL;
    for (unsigned i = 0; i < in->r->n_partitions; i++)
        if (in->r->partitions[i].mount && strcmp(in->r->partitions[i].mount, "/") == 0)
            fs = vmf_disk_probe_fs(in->local_disk, i + 1);
    if (!fs)
        FAIL(VMF_EXIT_GUEST,
             "the installer reported success but the root partition holds no file system");
    return 0;
}

/* Removes what the run made on the host; ends its record when all is gone. */
static void install_clean_host(Install *in)
{
    bool clean = install_remove_volumes(in) && vmf_virt_alive(in->v);
    vmf_pool_free(g_steal_pointer(&in->pool));
    if (clean)
        vmf_run_end(in->run);
}

/* The installed disk under its final name, or (--keep-failed) the failed
 * one under its own. Returns the stage's status. */
static int install_finish(Install *in, int rc, bool ok)
{
    const VmfInstallPlan *plan = in->plan;
    if (vmf_interrupted && !ok) {
        g_clear_error(in->error);
        g_set_error(in->error, vmf_install_error_quark(), vmf_signals_exit_code(),
                    "interrupted; the installer domain was destroyed and nothing was kept");
        rc = vmf_signals_exit_code();
    } else if (!ok && rc == 0) {
        rc = VMF_EXIT_GUEST;
    }
    vmf_progress_end(in->prog, ok ? "installed" : NULL);
    if (!ok && in->con && !vmf_interrupted && !in->o->console)
        vmf_console_print_tail(in->con, "the installer's");
    else if (!ok && in->con && !vmf_interrupted)
        fprintf(stderr, "--- whole console log: %s\n", plan->console_log);
    in->res->console_log = g_strdup(plan->console_log);
    if (ok && g_rename(in->local_disk, plan->final_disk) < 0) {
        g_set_error(in->error, vmf_install_error_quark(), VMF_EXIT_OUTPUT, "%s: %s",
                    plan->final_disk, g_strerror(errno));
        rc = VMF_EXIT_OUTPUT;
        ok = false;
    } else if (ok) {
        chmod(plan->final_disk, 0644);
        in->res->disk = g_strdup(plan->final_disk);
    } else if (in->disk && in->o->keep_failed && !vmf_interrupted &&
               (!in->host || vmf_virt_alive(in->v)) &&
               install_fetch_disk(in, plan->failed_disk, true) == 0) {
        in->res->failed_disk = g_strdup(plan->failed_disk);
    }
    return ok && rc == 0 ? VMF_EXIT_OK : rc;
}

/* After the domain stopped: was it a finished install, and the disk back. */
static bool install_judge(Install *in, int *rc)
{
    if (*rc)
        return false;
    if (in->outcome == OUT_LOST) {
        *rc = lost_error(in);
        return false;
    }
    if (in->outcome != OUT_POWEROFF) {
        if (in->outcome != OUT_NONE)
            *rc = outcome_error(in);
        return false;
    }
    if (!poweroff_clean(in))
        return false;
    *rc = installed_disk(in);
    return *rc == 0;
}

int vmf_stage_install(const VmfRecipe *r, const VmfInstallOptions *o, VmfInstallResult *res,
                      GError **error)
{
    g_auto(VmfInstallPlan) plan = {0};
    int rc = vmf_install_check_host(r, o, error);
    if (!rc)
        rc = vmf_install_plan_make(r, o, &plan, error);
    if (rc)
        return rc;
    if (plan.media)
        res->media = g_strdup_printf("%s (%s installer)", plan.media->os, plan.family_name);
    g_auto(Install) in = {
        .r = r, .o = o, .plan = &plan, .res = res, .error = error, .host = vmf_install_on_host(o)};
    in.ks_bytes = g_bytes_new(plan.ks->text, strlen(plan.ks->text));
    in.ks_arg = ks_argument(r);
    if (o->dry_run)
        return install_dry_run(&in);
    if ((rc = install_connect(&in)) || (rc = install_prepare(&in))) {
        reconnect_to_clean(&in);
        if (in.run && vmf_virt_alive(in.v))
            install_clean_host(&in);
        return rc;
    }
    rc = install_run(&in);
    install_teardown(&in);
    bool ok = install_judge(&in, &rc);
    rc = install_finish(&in, rc, ok);
    install_clean_host(&in);
    /* Whatever failed, it failed because the host went away. */
    if (rc && rc != VMF_EXIT_USAGE && !vmf_interrupted && in.host && in.v && !vmf_virt_alive(in.v))
        rc = VMF_EXIT_HOST;
    vmf_virt_bytes(in.v, &res->bytes_sent, &res->bytes_received);
    return rc;
}
