/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "install.h"

#include "util/fingerprint.h"

#include "disk.h"
#include "formats/vf.h"
#include "inject.h"
#include "kickstart.h"
#include "media.h"
#include "recipe/template.h"
#include "util/exit-codes.h"
#include "util/signals.h"
#include "util/util.h"
#include "virt/console.h"
#include "virt/domain-xml.h"
#include "virt/virt.h"

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
/* Initrd files are padded to 4 bytes before the appended archive. */
#define CPIO_ALIGN 4
/* With QEMU user-mode networking the guest reaches the host's loopback here. */
#define USER_NET_HOST "10.0.2.2"

#define FAIL(code, ...)                                                                            \
    do {                                                                                           \
        g_set_error(error, vmf_install_error_quark(), (code), __VA_ARGS__);                        \
        return (code);                                                                             \
    } while (0)

void vmf_install_result_clear(VmfInstallResult *r)
{
    g_free(r->disk);
    g_free(r->console_log);
    g_free(r->failed_disk);
    g_free(r->media);
    memset(r, 0, sizeof(*r));
}

/* ---- the installer family (templates/installers/FAMILY.conf) ---------------- */

typedef struct {
    GKeyFile *kf;
    char *path;
    char *success;
    GRegex *failure, *progress;
} Family;

static void family_clear(Family *f)
{
    if (f->kf)
        g_key_file_unref(f->kf);
    g_free(f->path);
    g_free(f->success);
    if (f->failure)
        g_regex_unref(f->failure);
    if (f->progress)
        g_regex_unref(f->progress);
}

static bool family_load(Family *f, const char *name, const char *success_override, GError **error)
{
    f->path = g_strdup_printf("%s/installers/%s.conf", vmf_templates_dir(), name);
    f->kf = g_key_file_new();
    if (!g_key_file_load_from_file(f->kf, f->path, G_KEY_FILE_NONE, error))
        return false;
    f->success = success_override ? g_strdup(success_override)
                                  : g_key_file_get_string(f->kf, "installer", "success", error);
    if (!f->success)
        return false;
    g_autofree char *fail = g_key_file_get_string(f->kf, "installer", "failure", NULL);
    g_autofree char *prog = g_key_file_get_string(f->kf, "installer", "progress", NULL);
    if (fail && !(f->failure = g_regex_new(fail, G_REGEX_OPTIMIZE, 0, error)))
        return false;
    if (prog && !(f->progress = g_regex_new(prog, G_REGEX_OPTIMIZE, 0, error)))
        return false;
    return true;
}

static GHashTable *family_vars(const Family *f)
{
    GHashTable *vars = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_auto(GStrv) keys = g_key_file_get_keys(f->kf, "vars", NULL, NULL);
    for (char **k = keys; k && *k; k++)
        g_hash_table_replace(vars, g_strdup(*k), g_key_file_get_string(f->kf, "vars", *k, NULL));
    return vars;
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

/* One boot file going into a volume: its bytes, then (for the initrd) zero
 * padding to 4 bytes and the kickstart archive. */
typedef struct {
    VmfVirt *v;
    const char *vol;
    GBytes *append; /* or NULL */
    uint64_t pad;
    VmfUpload *up;
    GError **error;
} BootFile;

static int boot_file_size(guint64 size, void *opaque)
{
    BootFile *b = opaque;
    uint64_t extra = 0;
    if (b->append) {
        b->pad = (CPIO_ALIGN - size % CPIO_ALIGN) % CPIO_ALIGN;
        extra = b->pad + g_bytes_get_size(b->append);
    }
    b->up = vmf_virt_upload_begin(b->v, b->vol, size + extra, b->error);
    return b->up ? 0 : -EIO;
}

static int boot_file_data(const void *buf, size_t len, void *opaque)
{
    BootFile *b = opaque;
    return vmf_upload_write(b->up, buf, len, b->error);
}

/* Ends the upload (appending the archive) and returns the volume's path. */
static char *boot_file_finish(BootFile *b)
{
    static const char zeros[CPIO_ALIGN] = {0};
    if (b->append && (vmf_upload_write(b->up, zeros, b->pad, b->error) < 0 ||
                      vmf_upload_write(b->up, g_bytes_get_data(b->append, NULL),
                                       g_bytes_get_size(b->append), b->error) < 0)) {
        vmf_upload_abort(b->up);
        return NULL;
    }
    return vmf_upload_finish(b->up, b->error);
}

/* A boot file from the host (the recipe's kernel: and initrd:) or the ISO. */
static int stage_boot_file(BootFile *b, const char *host_path, const VmfMedia *m,
                           const char *member, char **out)
{
    GError **error = b->error;
    if (host_path) {
        g_autoptr(GMappedFile) mf = g_mapped_file_new(host_path, FALSE, error);
        if (!mf)
            return VMF_EXIT_INPUT;
        size_t len = g_mapped_file_get_length(mf);
        if (len > VMF_MEDIA_MAX_BOOT_FILE)
            FAIL(VMF_EXIT_INPUT, "%s: larger than 1 GiB; not a kernel or initrd", host_path);
        if (boot_file_size(len, b) < 0)
            return VMF_EXIT_FAILURE;
        if (boot_file_data(g_mapped_file_get_contents(mf), len, b) < 0) {
            vmf_upload_abort(b->up);
            return VMF_EXIT_FAILURE;
        }
    } else if (vmf_media_extract(m->iso, member, boot_file_size, boot_file_data, b, error) < 0) {
        vmf_upload_abort(b->up);
        return b->up ? VMF_EXIT_FAILURE : VMF_EXIT_INPUT;
    }
    *out = boot_file_finish(b);
    return *out ? 0 : VMF_EXIT_FAILURE;
}

/* ---- planning: everything checked before any domain or volume exists ------------ */

typedef struct {
    Family family;
    const char *family_name;
    VmfMedia *media; /* NULL when kernel/initrd are given without an ISO */
    char *template_path;
    VmfRendered *ks;
    char *logdir, *final_disk, *failed_disk, *ks_path, *console_log, *anaconda_log, *xml_path;
} Plan;

static void plan_clear(Plan *p);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Plan, plan_clear)

static void plan_clear(Plan *p)
{
    family_clear(&p->family);
    vmf_media_free(p->media);
    g_free(p->template_path);
    vmf_rendered_free(p->ks);
    g_free(p->logdir);
    g_free(p->final_disk);
    g_free(p->failed_disk);
    g_free(p->ks_path);
    g_free(p->console_log);
    g_free(p->anaconda_log);
    g_free(p->xml_path);
}

static int plan_make(const VmfRecipe *r, const VmfInstallOptions *o, Plan *p, GError **error)
{
    const char *family = r->family;
    if (r->iso) {
        p->media = vmf_media_identify(r->iso, error);
        if (!p->media)
            return VMF_EXIT_INPUT;
        if (!family)
            family = p->media->family;
    }
    if (!family)
        family = "anaconda";
    p->family_name = family;
    for (unsigned i = 0; i < 2; i++) {
        const char *f = i ? r->initrd : r->kernel;
        if (f && !g_file_test(f, G_FILE_TEST_IS_REGULAR))
            FAIL(VMF_EXIT_INPUT, "%s: installer %s not found (recipe %s)", f,
                 i ? "initrd" : "kernel", r->path);
    }
    GError *ferr = NULL;
    if (!family_load(&p->family, family, r->success, &ferr)) {
        g_set_error(error, vmf_install_error_quark(), VMF_EXIT_INPUT, "installer family %s: %s",
                    family, ferr->message);
        g_error_free(ferr);
        return VMF_EXIT_INPUT;
    }
    /* The kickstart template: the recipe's, or the family's default for the
     * distro on the media. */
    if (r->kickstart) {
        p->template_path = g_strdup(r->kickstart);
    } else {
        const char *distro = p->media ? p->media->distro : "default";
        g_autofree char *name = g_key_file_get_string(p->family.kf, "templates", distro, NULL);
        if (!name)
            name = g_key_file_get_string(p->family.kf, "templates", "default", NULL);
        if (!name)
            FAIL(VMF_EXIT_INPUT,
                 "%s: no default kickstart; set installer kickstart:", p->family.path);
        p->template_path = g_strdup_printf("%s/kickstart/%s", vmf_templates_dir(), name);
    }
    g_autofree char *text = NULL;
    if (!g_file_get_contents(p->template_path, &text, NULL, &ferr)) {
        g_set_error(error, vmf_install_error_quark(), VMF_EXIT_INPUT, "kickstart template: %s",
                    ferr->message);
        g_error_free(ferr);
        return VMF_EXIT_INPUT;
    }
    g_autoptr(GHashTable) defaults = family_vars(&p->family);
    g_autoptr(GHashTable) vars = vmf_kickstart_vars(r, defaults, o->salt, &ferr);
    if (!vars) {
        g_set_error(error, vmf_install_error_quark(), VMF_EXIT_INPUT, "%s", ferr->message);
        g_error_free(ferr);
        return VMF_EXIT_INPUT;
    }
    p->ks = vmf_template_render(p->template_path, text, vars, vmf_kickstart_refused, &ferr);
    if (!p->ks || !vmf_kickstart_check(p->ks, p->template_path, r, &ferr)) {
        g_set_error(error, vmf_install_error_quark(), VMF_EXIT_INPUT, "%s", ferr->message);
        g_error_free(ferr);
        return VMF_EXIT_INPUT;
    }
    p->logdir = o->logdir ? g_strdup(o->logdir) : g_build_filename(o->outdir, "logs", NULL);
    p->final_disk = g_strdup_printf("%s/%s.raw", o->outdir, r->name);
    p->failed_disk =
        g_strdup_printf("%s/%s.failed.raw", o->keep_dir ? o->keep_dir : o->outdir, r->name);
    p->ks_path = g_strdup_printf("%s/%s-ks.cfg", p->logdir, r->name);
    p->console_log = g_strdup_printf("%s/%s-install-console.log", p->logdir, r->name);
    p->anaconda_log = g_strdup_printf("%s/%s-install-anaconda.log", p->logdir, r->name);
    p->xml_path = g_strdup_printf("%s/%s-install-domain.xml", p->logdir, r->name);
    if (!o->dry_run && !o->force && g_file_test(p->final_disk, G_FILE_TEST_EXISTS))
        FAIL(VMF_EXIT_OUTPUT, "%s exists (use --force to replace it)", p->final_disk);
    return 0;
}

static char *kernel_cmdline(const VmfRecipe *r, const Plan *p, const char *ks_arg)
{
    g_autofree char *args = g_key_file_get_string(p->family.kf, "installer", "kernel_args", NULL);
    g_autofree char *stage2 = g_key_file_get_string(p->family.kf, "installer", "stage2", NULL);
    GString *cl = g_string_new(args ? args : "");
    if (stage2 && p->media && p->media->volume_id) {
        g_auto(GStrv) parts = g_strsplit(stage2, "@VOLID@", -1);
        g_autofree char *s2 = g_strjoinv(p->media->volume_id, parts);
        g_string_append_printf(cl, " %s", s2);
    }
    g_string_append_printf(cl, " %s", ks_arg);
    if (r->extra_args)
        g_string_append_printf(cl, " %s", r->extra_args);
    return g_string_free(cl, FALSE);
}

/* The installer domain's XML. The paths are the volumes' (for a dry run,
 * where they would be). */
static char *installer_xml(const VmfRecipe *r, const Plan *p, const char *name, const char *type,
                           const char *kernel, const char *initrd, const char *disk,
                           const char *oemdrv, const char *channel_path, const char *cmdline)
{
    g_autofree char *chan = g_key_file_get_string(p->family.kf, "installer", "log_channel", NULL);
    VmfDomainSpec spec = {
        .name = name,
        .type = type,
        .vcpus = r->vcpus,
        .memory = r->memory,
        .kernel = kernel,
        .initrd = initrd,
        .cmdline = cmdline,
        .disk = disk,
        .cdrom = p->media ? p->media->iso : NULL,
        .oemdrv = oemdrv,
        .network = r->network,
        .nic_model = r->nic,
        .log_channel = chan,
        .log_path = channel_path,
    };
    return vmf_domain_xml(&spec);
}

/* ---- running the installer ---------------------------------------------------------- */

typedef enum {
    OUT_NONE,
    OUT_POWEROFF,
    OUT_TIMEOUT,
    OUT_IDLE,
    OUT_FAILED_LINE,
    OUT_INTERRUPTED,
    OUT_NO_SPACE,
    OUT_IO_ERROR
} Outcome;

static Outcome watch(virDomainPtr dom, VmfConsole *con, const VmfRecipe *r,
                     const VmfInstallOptions *o, VmfProgress *prog, unsigned *timeout_used)
{
    unsigned timeout = o->timeout ? o->timeout : r->timeout;
    unsigned idle = o->idle_timeout ? o->idle_timeout : r->idle_timeout;
    gint64 start = g_get_monotonic_time();
    gint64 last_io_change = start;
    uint64_t last_io = 0;
    for (;;) {
        if (vmf_interrupted)
            return OUT_INTERRUPTED;
        if (!vmf_virt_domain_running(dom))
            return OUT_POWEROFF;
        int ioerr = vmf_virt_domain_io_error(dom);
        if (ioerr)
            return ioerr == -ENOSPC ? OUT_NO_SPACE : OUT_IO_ERROR;
        gint64 now = g_get_monotonic_time();
        uint64_t io = vmf_virt_domain_io(dom, "vda");
        if (io != last_io) {
            last_io = io;
            last_io_change = now;
        }
        g_auto(VmfConsoleState) st = {0};
        vmf_console_state(con, &st);
        if (st.failure_line)
            return OUT_FAILED_LINE;
        if (now - start > (gint64)timeout * G_USEC_PER_SEC) {
            *timeout_used = timeout;
            return OUT_TIMEOUT;
        }
        if (now - MAX(st.last_output, last_io_change) > (gint64)idle * G_USEC_PER_SEC) {
            *timeout_used = idle;
            return OUT_IDLE;
        }
        if (!o->console)
            vmf_progress_status(prog, st.pct, st.what ? st.what : "booting the installer");
        g_usleep(POLL_INTERVAL_US);
    }
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

int vmf_install_fingerprint(const VmfRecipe *r, VmfFingerprint *fp, GError **error)
{
    /* The plan a dry run makes, with the root password hashed with the
     * cache's salt: the rendered kickstart is then the same on every run. */
    VmfInstallOptions o = {.outdir = "/", .dry_run = true, .salt = fp->salt};
    g_auto(Plan) plan = {0};
    int rc = plan_make(r, &o, &plan, error);
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
    return 0;
}

int vmf_stage_install(const VmfRecipe *r, const VmfInstallOptions *o, VmfInstallResult *res,
                      GError **error)
{
    g_auto(Plan) plan = {0};
    int rc = plan_make(r, o, &plan, error);
    if (rc)
        return rc;
    if (plan.media)
        res->media = g_strdup_printf("%s (%s installer)", plan.media->os, plan.family_name);

    /* Injection: what the guest is told on its kernel command line. */
    g_autoptr(GBytes) ks_bytes = g_bytes_new(plan.ks->text, strlen(plan.ks->text));
    g_autofree char *ks_arg = NULL;
    g_autoptr(VmfHttp) http = NULL;
    g_autofree char *http_addr = NULL;
    switch (r->inject) {
    case VMF_INJECT_INITRD:
        ks_arg = g_strdup("inst.ks=file:/ks.cfg");
        break;
    case VMF_INJECT_OEMDRV:
        ks_arg = g_strdup("inst.ks=hd:LABEL=OEMDRV:/ks.cfg");
        break;
    case VMF_INJECT_HTTP:
        ks_arg = g_strdup_printf("inst.ks=http://%s:PORT/ks.cfg",
                                 r->network ? "NETWORK-HOST" : USER_NET_HOST);
        break;
    }
    g_autofree char *domname = NULL;
    g_autofree char *workdir = NULL;

    if (o->dry_run) {
        g_autofree char *cmdline = kernel_cmdline(r, &plan, ks_arg);
        g_autofree char *pool = g_strdup_printf("%s/.vmforge-%s-POOL", o->outdir, r->name);
        g_autofree char *disk = g_strdup_printf("%s/%s.raw", pool, r->name);
        g_autofree char *kernel = g_strdup_printf("%s/vmlinuz", pool);
        g_autofree char *initrd = g_strdup_printf("%s/initrd.img", pool);
        g_autofree char *oemdrv = g_strdup_printf("%s/oemdrv.iso", pool);
        g_autofree char *name = g_strdup_printf("vmforge-install-%s-ID", r->name);
        g_autofree char *alog = g_strdup_printf("%s/anaconda.log", pool);
        g_autofree char *xml = installer_xml(
            r, &plan, name, strcmp(o->accel, "kvm") == 0 ? "kvm" : "qemu", kernel, initrd, disk,
            r->inject == VMF_INJECT_OEMDRV ? oemdrv : NULL, alog, cmdline);
        printf("# media: %s\n# family: %s\n# kickstart template: %s\n# kernel command line:\n%s\n"
               "# domain XML (accel %s):\n%s",
               res->media ? res->media : "(kernel and initrd given)", plan.family_name,
               plan.template_path, cmdline, o->accel, xml);
        return VMF_EXIT_OK;
    }

    GError *verr = NULL;
    g_autoptr(VmfVirt) v = vmf_virt_open(o->uri, &verr);
    if (!v) {
        rc = verr->code == 2 ? VMF_EXIT_USAGE : VMF_EXIT_FAILURE;
        g_propagate_error(error, verr);
        return rc;
    }
    if ((rc = check_reachable(vmf_virt_uri(v), "the output folder", o->outdir, true, error)) ||
        (plan.media && (rc = check_reachable(vmf_virt_uri(v), "the installer ISO", plan.media->iso,
                                             false, error))))
        return rc;
    const char *domtype = vmf_virt_domain_type(v, o->accel, error);
    if (!domtype)
        return VMF_EXIT_USAGE;
    /* Everything checked: from here on things exist (logs, a server, a pool,
     * a domain) that are cleaned up whatever happens. */
    if (g_mkdir_with_parents(plan.logdir, 0755) < 0)
        FAIL(VMF_EXIT_OUTPUT, "%s: %s", plan.logdir, g_strerror(errno));
    if ((rc = write_private(plan.ks_path, plan.ks->text, error)))
        return rc;
    if (r->inject == VMF_INJECT_HTTP) {
        if (r->network) {
            http_addr = vmf_virt_network_address(v, r->network, error);
            if (!http_addr)
                return VMF_EXIT_INPUT;
        } else {
            http_addr = g_strdup("127.0.0.1");
        }
        http = vmf_http_start(http_addr, "ks.cfg", ks_bytes, error);
        if (!http)
            return VMF_EXIT_FAILURE;
        g_free(ks_arg);
        ks_arg = g_strdup_printf("inst.ks=http://%s:%u/ks.cfg",
                                 r->network ? http_addr : USER_NET_HOST, vmf_http_port(http));
    }

    workdir = g_strdup_printf("%s/.vmforge-%s-XXXXXX", o->outdir, r->name);
    if (!g_mkdtemp_full(workdir, 0755))
        FAIL(VMF_EXIT_OUTPUT, "%s: %s", o->outdir, g_strerror(errno));
    /* The pool, the domain: named after the folder, unique per build. */
    const char *suffix = strrchr(workdir, '-') + 1;
    g_autofree char *poolname = g_strdup_printf("vmforge-%s-%s", r->name, suffix);
    domname = g_strdup_printf("vmforge-install-%s-%s", r->name, suffix);
    g_autofree char *disk = NULL, *kernel = NULL, *initrd = NULL, *oemdrv = NULL;
    g_autofree char *volname = NULL, *seed = NULL, *cmdline = NULL;
    g_autofree char *chan_path = NULL, *xml = NULL;
    g_autoptr(GBytes) cpio = NULL;
    g_autoptr(virDomain) dom = NULL;
    g_autoptr(virStream) st = NULL;
    g_autoptr(VmfConsole) con = NULL;
    g_auto(VmfConsoleState) seen = {0};
    VmfConsoleMatch match = {.success = plan.family.success,
                             .failure = plan.family.failure,
                             .progress = plan.family.progress};
    g_autoptr(VmfProgress) prog = vmf_progress_new("install", o->progress);
    Outcome outcome = OUT_NONE;
    unsigned timeout_used = 0;
    bool ok = false;
    gint64 t0 = 0;

    if (vmf_virt_pool_start(v, poolname, workdir, error) < 0) {
        rc = VMF_EXIT_FAILURE;
        goto out;
    }
    vmf_progress_status(prog, -1, "creating the disk");
    volname = g_strdup_printf("%s.raw", r->name);
    if (!(disk = vmf_virt_vol_create(v, volname, r->disk_size, error))) {
        rc = VMF_EXIT_FAILURE;
        goto out;
    }
    seed = g_strdup_printf("%s\n%s", r->name, r->version ? r->version : "");
    if (vmf_disk_partition(disk, r, seed, error) < 0) {
        rc = VMF_EXIT_OUTPUT;
        goto out;
    }
    vmf_progress_status(prog, -1, "staging the installer's kernel and initrd");
    if (r->inject == VMF_INJECT_INITRD && !(cpio = vmf_inject_cpio("ks.cfg", ks_bytes, error))) {
        rc = VMF_EXIT_FAILURE;
        goto out;
    }
    BootFile bk = {.v = v, .vol = "vmlinuz", .error = error};
    BootFile bi = {.v = v, .vol = "initrd.img", .append = cpio, .error = error};
    if ((rc = stage_boot_file(&bk, r->kernel, plan.media, plan.media ? plan.media->kernel : NULL,
                              &kernel)) ||
        (rc = stage_boot_file(&bi, r->initrd, plan.media, plan.media ? plan.media->initrd : NULL,
                              &initrd)))
        goto out;
    if (r->inject == VMF_INJECT_OEMDRV) {
        g_autoptr(GBytes) iso = vmf_inject_oemdrv("ks.cfg", ks_bytes, error);
        VmfUpload *u = NULL;
        rc = VMF_EXIT_FAILURE;
        if (!iso || !(u = vmf_virt_upload_begin(v, "oemdrv.iso", g_bytes_get_size(iso), error)))
            goto out;
        if (vmf_upload_write(u, g_bytes_get_data(iso, NULL), g_bytes_get_size(iso), error) < 0) {
            vmf_upload_abort(u);
            goto out;
        }
        if (!(oemdrv = vmf_upload_finish(u, error)))
            goto out;
        rc = 0;
    }

    cmdline = kernel_cmdline(r, &plan, ks_arg);
    chan_path = g_build_filename(workdir, "anaconda.log", NULL);
    xml =
        installer_xml(r, &plan, domname, domtype, kernel, initrd, disk, oemdrv, chan_path, cmdline);
    g_file_set_contents(plan.xml_path, xml, -1, NULL);
    if (vmf_interrupted)
        goto out;
    vmf_progress_status(prog, -1, "starting the installer domain");
    if (!(dom = vmf_virt_domain_create_paused(v, xml, error))) {
        rc = VMF_EXIT_FAILURE;
        goto out;
    }
    if (vmf_virt_watch_domain(v, dom, error) < 0) {
        rc = VMF_EXIT_FAILURE;
        goto out;
    }
    if (!(st = vmf_virt_console_open(v, dom, error))) {
        rc = VMF_EXIT_FAILURE;
        goto out;
    }
    if (!(con = vmf_console_start(st, plan.console_log, o->console, &match, error))) {
        rc = VMF_EXIT_OUTPUT;
        goto out;
    }
    if (vmf_virt_domain_resume(dom, error) < 0) {
        rc = VMF_EXIT_FAILURE;
        goto out;
    }
    t0 = g_get_monotonic_time();
    outcome = watch(dom, con, r, o, prog, &timeout_used);
    res->seconds = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;

out:
    /* Whatever happened, no domain is left behind. */
    if (dom)
        vmf_virt_domain_destroy(dom);
    /* The console stream ends with the domain (its pty closes); give it
     * time to deliver the last lines. */
    if (con) {
        vmf_console_stop(con, 10);
        vmf_console_state(con, &seen);
    }
    vmf_http_stop(g_steal_pointer(&http));
    /* Anaconda's log channel, when the installer wrote one. */
    if (workdir) {
        g_autofree char *chan_file = g_build_filename(workdir, "anaconda.log", NULL);
        if (g_file_test(chan_file, G_FILE_TEST_IS_REGULAR)) {
            struct stat sb;
            if (stat(chan_file, &sb) == 0 && sb.st_size > 0)
                g_rename(chan_file, plan.anaconda_log);
        }
    }

    if (rc == 0 && outcome == OUT_POWEROFF) {
        /* The stop event can trail the domain's disappearance a little. */
        for (int i = 0; i < 50 && vmf_virt_stop_reason(v) == VMF_STOP_NONE; i++)
            g_usleep(100 * 1000);
    }
    VmfStopReason stopped = v ? vmf_virt_stop_reason(v) : VMF_STOP_NONE;
    if (rc == 0 && outcome == OUT_POWEROFF && stopped != VMF_STOP_POWEROFF) {
        g_set_error(error, vmf_install_error_quark(), VMF_EXIT_GUEST,
                    "the installer domain stopped but did not power off: %s",
                    vmf_stop_reason_text(stopped));
    } else if (rc == 0 && outcome == OUT_POWEROFF) {
        g_autofree char *fs = NULL;
        for (unsigned i = 0; i < r->n_partitions; i++)
            if (r->partitions[i].mount && strcmp(r->partitions[i].mount, "/") == 0)
                fs = vmf_disk_probe_fs(disk, i + 1);
        if (!seen.success) {
            g_set_error(error, vmf_install_error_quark(), VMF_EXIT_GUEST,
                        "the installer powered off without its success line (\"%s\")",
                        plan.family.success);
        } else if (!fs) {
            g_set_error(error, vmf_install_error_quark(), VMF_EXIT_GUEST,
                        "the installer reported success but the root partition holds no file "
                        "system");
        } else {
            ok = true;
        }
    } else if (rc == 0) {
        switch (outcome) {
        case OUT_TIMEOUT:
            g_set_error(error, vmf_install_error_quark(), VMF_EXIT_GUEST,
                        "the install did not finish within %u s (installer timeout); the domain "
                        "was destroyed",
                        timeout_used);
            break;
        case OUT_IDLE:
            g_set_error(error, vmf_install_error_quark(), VMF_EXIT_GUEST,
                        "no console output and no disk I/O for %u s (installer idle_timeout); the "
                        "domain was destroyed",
                        timeout_used);
            break;
        case OUT_FAILED_LINE:
            g_set_error(error, vmf_install_error_quark(), VMF_EXIT_GUEST,
                        "the installer failed: %s", seen.failure_line);
            break;
        case OUT_NO_SPACE:
        case OUT_IO_ERROR: {
            struct statvfs vfs;
            /* The folder the user chose (its file system is what is full). */
            g_autofree char *dir = g_strdup(o->keep_dir ? o->keep_dir : o->outdir);
            g_autofree char *need = vf_format_size(r->disk_size);
            g_autofree char *have = statvfs(dir, &vfs) == 0
                                        ? vf_format_size((uint64_t)vfs.f_bavail * vfs.f_frsize)
                                        : g_strdup("?");
            g_set_error(error, vmf_install_error_quark(), VMF_EXIT_OUTPUT,
                        "%s: %s while the installer wrote the disk (%s free; the disk may need "
                        "up to %s there); the domain was destroyed",
                        dir, outcome == OUT_NO_SPACE ? "no space left" : "a write error", have,
                        need);
            rc = VMF_EXIT_OUTPUT;
            break;
        }
        default:
            break;
        }
    }
    if (vmf_interrupted && !ok) {
        g_clear_error(error);
        g_set_error(error, vmf_install_error_quark(), vmf_signals_exit_code(),
                    "interrupted; the installer domain was destroyed and nothing was kept");
        rc = vmf_signals_exit_code();
    } else if (!ok && rc == 0) {
        rc = VMF_EXIT_GUEST;
    }
    vmf_progress_end(prog, ok ? "installed" : NULL);
    if (!ok && con && !vmf_interrupted && !o->console)
        vmf_console_print_tail(con, "the installer's");
    else if (!ok && con && !vmf_interrupted)
        fprintf(stderr, "--- whole console log: %s\n", plan.console_log);
    if (ok) {
        if (g_rename(disk, plan.final_disk) < 0) {
            g_set_error(error, vmf_install_error_quark(), VMF_EXIT_OUTPUT, "%s: %s",
                        plan.final_disk, g_strerror(errno));
            rc = VMF_EXIT_OUTPUT;
        } else {
            chmod(plan.final_disk, 0644);
            res->disk = g_strdup(plan.final_disk);
        }
    } else if (disk && o->keep_failed && !vmf_interrupted) {
        if (g_rename(disk, plan.failed_disk) == 0)
            res->failed_disk = g_strdup(plan.failed_disk);
    }
    res->console_log = g_strdup(plan.console_log);
    vmf_virt_close(g_steal_pointer(&v));
    if (workdir)
        vmf_remove_workdir(workdir);
    return ok && rc == 0 ? VMF_EXIT_OK : rc;
}
