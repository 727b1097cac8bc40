/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "build.h"

#include "cache.h"
#include "convert.h"
#include "customize/customize.h"
#include "formats/vf.h"
#include "formats/writer.h"
#include "guestfs/guest.h"
#include "import/import.h"
#include "install/install.h"
#include "recipe/customize-ops.h"
#include "recipe/targets.h"
#include "report.h"
#include "util/exit-codes.h"
#include "util/fleet-link.h"
#include "util/signals.h"
#include "util/util.h"
#include "virt/storage.h"
#include "virt/virt.h"
#include "vmforge-config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define CMD "build"

G_DEFINE_QUARK(vmf - build - error - quark, vmf_build_error)

typedef struct {
    const VmfBuildOptions *o;
    VmfProgressMode mode;
    VmfRecipe *recipe;
    VmfTargets *targets;
    char *outdir; /* absolute */
    char *logdir;
    char *workdir; /* OUT/.vmforge-build-XXXXXX while the base disk is made */
    VmfCache *cache;
    char *cache_dir;
    char *key;
    const char *cache_status; /* hit, miss, rebuilt */
    int64_t epoch;            /* SOURCE_DATE_EPOCH */
    VmfReportHost host;       /* where the install ran and what crossed the wire */
    VmfImportSource image;    /* the recipe's base: image, as the key took it */
    GArray *stages;           /* VmfStageTime */
    char *libvirt_version, *qemu_version, *libguestfs_version;
} Build;

static void build_clear(Build *b)
{
    if (b->workdir)
        vmf_remove_workdir(b->workdir);
    g_free(b->workdir);
    vmf_recipe_free(b->recipe);
    vmf_targets_free(b->targets);
    g_free(b->outdir);
    g_free(b->logdir);
    vmf_cache_free(b->cache);
    g_free(b->cache_dir);
    g_free(b->key);
    if (b->stages)
        g_array_unref(b->stages);
    g_free(b->libvirt_version);
    g_free(b->qemu_version);
    g_free(b->libguestfs_version);
    g_free(b->host.uri);
    g_free(b->host.pool);
    g_free(b->host.disk_sha256);
    vmf_import_source_clear(&b->image);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Build, build_clear)

/* A line about the build's course: timestamped when not on a terminal. */
#define say(b, ...) vmf_progress_say((b)->mode, "build", __VA_ARGS__)

static void stage_time(Build *b, const char *name, const char *status, double seconds)
{
    VmfStageTime s = {.name = name, .status = status, .seconds = seconds};
    g_array_append_val(b->stages, s);
}

static int fail_with(const GError *err, int rc)
{
    vmf_error(CMD, "%s", err ? err->message : "failed");
    return rc;
}

/* Run by a fleet (fleet/): a slot of its local pool before local work, and
 * the stage told. Nothing without a fleet. */
static int local_stage(const char *stage)
{
    if (!vmf_fleet_link_local()) {
        if (vmf_interrupted)
            return vmf_signals_exit_code();
        vmf_error(CMD, "the fleet run that started this build is gone; stopping");
        return VMF_EXIT_FAILURE;
    }
    vmf_fleet_link_stage(stage);
    return 0;
}

/* The cache key: SHA-256 over everything that determines the base disk. */
static int compute_key(Build *b, GError **error)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    VmfFingerprint fp = vmf_cache_fingerprint(b->cache, sum);
    vmf_fp_add(&fp, "vmforge-base-disk", "1");
    vmf_fp_add(&fp, "vmforge", VMFORGE_VERSION);
    int rc = vmf_recipe_has_base(b->recipe)
                 ? vmf_import_fingerprint(b->recipe, &fp, &b->image, error)
                 : vmf_install_fingerprint(b->recipe, &fp, error);
    if (rc)
        return rc;
    rc = vmf_customize_fingerprint(b->recipe, &fp, error);
    if (rc)
        return rc;
    b->key = g_strdup(g_checksum_get_string(sum));
    return 0;
}

static const char *extras_text(const VmfTarget *t, const char *name, char *buf, size_t len)
{
    g_autoptr(GString) s = g_string_new(NULL);
    if (t->extras & VMF_EXTRA_LIBVIRT_XML)
        g_string_append_printf(s, ", %s.xml", name);
    if (t->extras & VMF_EXTRA_XL_CFG)
        g_string_append_printf(s, ", %s.cfg", name);
    if (t->extras & VMF_EXTRA_OPENSTACK)
        g_string_append_printf(s, ", %s.openstack.json", name);
    g_strlcpy(buf, s->str, len);
    return buf;
}

/* The base disk's size: the recipe's disk, or its base: image grown. */
static uint64_t disk_size(const Build *b)
{
    return vmf_recipe_has_base(b->recipe) ? b->image.disk_size : b->recipe->disk_size;
}

/* The first stage's name: the install, or the import of the base: image. */
static const char *first_stage(const Build *b)
{
    return vmf_recipe_has_base(b->recipe) ? "import" : "install";
}

static void print_source_plan(const Build *b)
{
    const VmfRecipe *r = b->recipe;
    if (!vmf_recipe_has_base(r)) {
        printf("  install    %s, %u vCPU, %" G_GUINT64_FORMAT " MiB, accel %s\n",
               r->iso ? r->iso : r->kernel, r->vcpus, r->memory >> 20, b->o->accel);
        return;
    }
    g_autofree char *size = vf_format_size(b->image.image->size);
    g_autofree char *grown = vf_format_size(b->image.disk_size);
    printf("  import     %s (%s, %s, SHA-256 %.16s...)\n", r->base_image, b->image.image->format,
           size, b->image.digests[0]);
    if (b->image.disk_size > b->image.image->size)
        printf("             grown to %s: the disk, its last partition and that file system\n",
               grown);
}

/* Where --publish sends each target's image (what the publish: keys say). */
static void print_publish_plan(const Build *b)
{
    for (guint i = 0; i < b->targets->targets->len; i++) {
        const VmfTarget *t = g_ptr_array_index(b->targets->targets, i);
        const VmfTargetPublish *p = t->publish;
        if (!p)
            continue;
        if (p->glance)
            printf("  publish    %-12s glance:%s%s%s (with --publish)\n", t->name,
                   p->cloud ? p->cloud : "", p->name ? " as " : "", p->name ? p->name : "");
        for (char **l = p->libvirt; l && *l; l++)
            printf("  publish    %-12s %s (with --publish)\n", t->name, *l);
    }
}

static int print_plan(Build *b, bool cached)
{
    const VmfRecipe *r = b->recipe;
    g_autoptr(VmfCustomize) c = vmf_customize_parse(r, NULL);
    VmfVerify v = {0};
    bool ok = vmf_verify_parse(r, &v, NULL), boot = ok && v.boot, hepix = !ok || v.hepix;
    vmf_verify_clear(&v);
    bool base = vmf_recipe_has_base(r);
    g_autofree char *disk = vf_format_size(disk_size(b));
    printf("Plan for %s %s (%s)\n", r->name, r->version ? r->version : "", r->path);
    printf("  base disk  %s raw%s, cache key %s\n", disk, base ? "" : " MBR", b->key);
    if (cached && !b->o->rebuild)
        printf("             in the cache: %s and customize are skipped\n", first_stage(b));
    else
        printf("             %s\n",
               cached ? "in the cache, but --rebuild: made again" : "not in the cache: made now");
    print_source_plan(b);
    printf("  customize  %u operation%s%s\n", c ? c->ops->len : 0, c && c->ops->len == 1 ? "" : "s",
           c && c->explicit_sysprep ? "" : ", then the default sysprep");
    printf("  verify     %s%s\n", hepix ? "HEPiX rules" : "HEPiX rules not checked (hepix: false)",
           boot ? ", boot check" : "");
    printf("  convert    one pass, deflate level %d, into %s:\n", b->targets->level, b->outdir);
    for (guint i = 0; i < b->targets->targets->len; i++) {
        const VmfTarget *t = g_ptr_array_index(b->targets->targets, i);
        char buf[256];
        const VfWriterOps *ops = vf_writer_find(t->format);
        printf("    %-12s %-24s %s/%s.%s%s\n", t->name, t->spec, t->name, r->name, ops->extension,
               extras_text(t, r->name, buf, sizeof(buf)));
    }
    if (b->targets->scratch_size) {
        g_autofree char *s = vf_format_size(b->targets->scratch_size);
        g_autofree char *pc = vf_format_size(b->targets->scratch_per_core);
        printf("  scratch    %s%s%s%s, created empty at deploy time; %s\n", s,
               b->targets->scratch_per_core ? " (" : "", b->targets->scratch_per_core ? pc : "",
               b->targets->scratch_per_core ? " per vCPU)" : "",
               b->targets->scratch_at_deploy ? "OVAs define it without a file (as: deploy)"
                                             : "OVAs carry it as an empty VMDK");
    }
    printf("  report     %s/report.json\n", b->outdir);
    print_publish_plan(b);
    return VMF_EXIT_OK;
}

static void waiting(const char *lock)
{
    fprintf(stderr,
            "vmforge build: another build is making this base disk; waiting for it "
            "(%s)\n",
            lock);
}

/* What the base disk was made from, for entry.json. */
typedef struct {
    const char *media;
    double seconds;
} MadeFrom;

static char *entry_info(Build *b, const MadeFrom *from, const VmfCustomizeResult *cr)
{
    g_autoptr(JsonBuilder) j = json_builder_new();
    json_builder_begin_object(j);
    json_builder_set_member_name(j, "recipe");
    json_builder_add_string_value(j, b->recipe->path);
    json_builder_set_member_name(j, "name");
    json_builder_add_string_value(j, b->recipe->name);
    json_builder_set_member_name(j, "vmforge");
    json_builder_add_string_value(j, VMFORGE_VERSION);
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *when = g_date_time_format_iso8601(now);
    json_builder_set_member_name(j, "created");
    json_builder_add_string_value(j, when);
    json_builder_set_member_name(j, "media");
    json_builder_add_string_value(j, from->media);
    json_builder_set_member_name(j, vmf_recipe_has_base(b->recipe) ? "import_seconds"
                                                                   : "install_seconds");
    json_builder_add_double_value(j, from->seconds);
    json_builder_set_member_name(j, "customize_seconds");
    json_builder_add_double_value(j, cr->total_seconds);
    json_builder_set_member_name(j, "boot_check_seconds");
    json_builder_add_double_value(j, cr->boot_seconds);
    json_builder_end_object(j);
    return vmf_json_text(j);
}

/* Warns when the work folder may not hold the disk while it is installed. */
static void check_install_space(Build *b)
{
    struct statvfs vfs;
    if (statvfs(b->outdir, &vfs) < 0)
        return;
    uint64_t free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    uint64_t size = disk_size(b);
    if (free_bytes >= size)
        return;
    g_autofree char *f = vf_format_size(free_bytes);
    g_autofree char *d = vf_format_size(size);
    fprintf(stderr,
            "vmforge build: warning: %s has %s free and the disk is %s; the install fails if "
            "the guest writes more than that\n",
            b->outdir, f, d);
}

/* Where the base disk is made: a work folder under OUT (QEMU reads the
 * disk there with a local URI), or, with a libvirt host, a work folder of
 * the cache entry itself: the installed disk is downloaded straight into
 * the cache and customized there. */
static int make_workdir(Build *b, VmfCacheEntry *entry, bool host)
{
    g_autoptr(GError) err = NULL;
    if (host) {
        b->workdir = vmf_cache_entry_workdir(entry, &err);
        return b->workdir ? 0 : fail_with(err, VMF_EXIT_OUTPUT);
    }
    b->workdir = g_strdup_printf("%s/.vmforge-build-%s-XXXXXX", b->outdir, b->recipe->name);
    if (!g_mkdtemp_full(b->workdir, 0755)) {
        vmf_error(CMD, "%s: %s", b->outdir, g_strerror(errno));
        g_clear_pointer(&b->workdir, g_free);
        return VMF_EXIT_OUTPUT;
    }
    return 0;
}

/* What the report says of the host the install ran on. */
static void record_host(Build *b, const VmfInstallResult *ir)
{
    if (ir->host) {
        g_free(b->host.uri);
        b->host.uri = g_strdup(ir->host);
    }
    b->host.pool = g_strdup(ir->pool);
    b->host.bytes_sent = ir->bytes_sent;
    b->host.bytes_received = ir->bytes_received;
    b->host.disk_sha256 = g_strdup(ir->disk_sha256);
}

/* The install stage in the work folder; *ir its result. */
static int run_install(Build *b, VmfInstallResult *ir)
{
    const VmfBuildOptions *o = b->o;
    g_autoptr(GError) err = NULL;
    vmf_fleet_link_stage("install");
    say(b, "install: %s on a new %s disk (accel %s; console log %s/%s-install-console.log)",
        b->recipe->iso ? b->recipe->iso : b->recipe->kernel, b->recipe->name, o->accel, b->logdir,
        b->recipe->name);
    VmfInstallOptions io = {
        .outdir = b->workdir,
        .uri = o->uri,
        .accel = o->accel,
        .console = o->verbosity > 0,
        .keep_failed = o->keep_failed,
        .progress = b->mode,
        .logdir = b->logdir,
        .keep_dir = b->outdir,
        .pool = o->pool,
        .remote_dir = o->remote_dir,
    };
    /* The cache read the ISO for the key already: its digest names the
     * ISO's volume on a host. */
    g_autofree char *media_digest =
        b->recipe->iso ? vmf_cache_file_digest(b->cache, b->recipe->iso, NULL) : NULL;
    io.media_digest = media_digest;
    int rc = vmf_stage_install(b->recipe, &io, ir, &err);
    record_host(b, ir);
    if (rc != VMF_EXIT_OK) {
        vmf_error(CMD, "install: %s", err ? err->message : "failed");
        if (ir->failed_disk)
            fprintf(stderr, "vmforge build: the failed install's disk was kept: %s\n",
                    ir->failed_disk);
        fprintf(stderr, "vmforge build: logs are in %s\n", b->logdir);
        return rc;
    }
    stage_time(b, "install", "ran", ir->seconds);
    say(b, "install: done in %.0f s (%s)", ir->seconds,
        ir->media ? ir->media : "kernel and initrd");
    return VMF_EXIT_OK;
}

/* The customize stage (and the boot check) on the installed disk. */
static int run_customize(Build *b, const char *disk, VmfCustomizeResult *cr)
{
    const VmfBuildOptions *o = b->o;
    g_autoptr(GError) err = NULL;
    VmfCustomizeOptions co = {
        .disk = disk,
        .logdir = b->logdir,
        .accel = o->accel,
        .boot_check = -1,
        .uri = o->uri,
        .pool = o->pool,
        .remote_dir = o->remote_dir,
        .progress = b->mode,
    };
    int rc = local_stage("customize");
    if (rc)
        return rc;
    say(b, "customize: through libguestfs (log %s/%s-customize.log)", b->logdir, b->recipe->name);
    rc = vmf_stage_customize(b->recipe, &co, cr, &err);
    if (rc != VMF_EXIT_OK) {
        vmf_error(CMD, "customize: %s", err ? err->message : "failed");
        fprintf(stderr, "vmforge build: logs are in %s\n", b->logdir);
        return rc;
    }
    stage_time(b, "customize", "ran", cr->total_seconds - cr->boot_seconds);
    stage_time(b, "verify", cr->boot_seconds > 0 ? "ran" : "skipped", cr->boot_seconds);
    say(b, "customize: %u operation%s in %.0f s%s", cr->operations, cr->operations == 1 ? "" : "s",
        cr->total_seconds, cr->boot_seconds > 0 ? " (boot check passed)" : "");
    return vmf_interrupted ? vmf_signals_exit_code() : VMF_EXIT_OK;
}

/* The install stage's disk (*disk), what it installed (*media) and how long
 * it took. */
static int make_installed(Build *b, char **disk, char **media, double *seconds)
{
    VmfInstallResult ir = {0};
    int rc = run_install(b, &ir);
    if (!rc) {
        *disk = g_strdup(ir.disk);
        *media = g_strdup(ir.media ? ir.media : "kernel and initrd");
        *seconds = ir.seconds;
    }
    vmf_install_result_clear(&ir);
    return rc;
}

/* The image's files are still those the key was made from (the digests are
 * memoized by inode and mtime: an unchanged file is not read again). */
static int check_image_unchanged(Build *b, GError **error)
{
    for (guint i = 0; b->image.files[i]; i++) {
        g_autofree char *now = vmf_cache_file_digest(b->cache, b->image.files[i], error);
        if (!now)
            return VMF_EXIT_INPUT;
        if (strcmp(now, b->image.digests[i]) != 0) {
            g_set_error(error, vmf_build_error_quark(), VMF_EXIT_INPUT,
                        "%s changed while it was read (SHA-256 %.16s... then %.16s...); nothing "
                        "was kept: run the build again",
                        b->image.files[i], b->image.digests[i], now);
            return VMF_EXIT_INPUT;
        }
    }
    return 0;
}

/* The import stage's disk: the recipe's base: image, grown to its size. */
static int make_imported(Build *b, char **disk, char **media, double *seconds)
{
    const VmfRecipe *r = b->recipe;
    g_autoptr(GError) err = NULL;
    int rc = local_stage("import");
    if (rc)
        return rc;
    g_autofree char *grown = vf_format_size(b->image.disk_size);
    say(b, "import: %s (%s) into a raw disk%s%s", r->base_image, b->image.image->format,
        b->image.disk_size > b->image.image->size ? " grown to " : "",
        b->image.disk_size > b->image.image->size ? grown : "");
    VmfImportOptions io = {.workdir = b->workdir, .accel = b->o->accel, .progress = b->mode};
    g_auto(VmfImportResult) res = {0};
    rc = vmf_stage_import(r, &b->image, &io, &res, &err);
    if (!rc && (rc = check_image_unchanged(b, &err)))
        g_unlink(res.disk);
    if (rc)
        return err ? fail_with(err, rc) : rc;
    g_autofree char *data = vf_format_size(res.data_bytes);
    if (res.grown_partition)
        say(b,
            "import: done in %.0f s (%s of data; partition %u and its %s grown to the end of "
            "the disk)",
            res.seconds, data, res.grown_partition, res.grown_fs);
    else
        say(b, "import: done in %.0f s (%s of data)", res.seconds, data);
    stage_time(b, "import", "ran", res.seconds);
    *disk = g_steal_pointer(&res.disk);
    *media = g_strdup_printf("%s (%s, SHA-256 %s)", r->base_image, b->image.image->format,
                             b->image.digests[0]);
    *seconds = res.seconds;
    return 0;
}

/* Makes the base disk into the locked cache entry: disk, install,
 * customize (with the recipe's verify), in a work folder (make_workdir). */
static int make_base(Build *b, VmfCacheEntry *entry)
{
    const VmfBuildOptions *o = b->o;
    g_autoptr(GError) err = NULL;
    bool host = vmf_pool_on_host(o->uri, o->pool, o->remote_dir);
    if (!host)
        check_install_space(b);
    int rc = make_workdir(b, entry, host);
    if (rc)
        return rc;
    g_autofree char *disk = NULL, *media = NULL;
    MadeFrom from = {0};
    rc = vmf_recipe_has_base(b->recipe) ? make_imported(b, &disk, &media, &from.seconds)
                                        : make_installed(b, &disk, &media, &from.seconds);
    from.media = media;
    VmfCustomizeResult cr = {0};
    if (!rc)
        rc = run_customize(b, disk, &cr);
    if (!rc) {
        g_autofree char *info = entry_info(b, &from, &cr);
        if (vmf_cache_entry_commit(entry, disk, info, &err) < 0)
            rc = fail_with(err, VMF_EXIT_OUTPUT);
    }
    vmf_customize_result_clear(&cr);
    if (!rc)
        say(b, "base disk: kept in the cache as %s", vmf_cache_entry_disk(entry));
    return rc;
}

static void print_summary(const Build *b, GArray *arts, double seconds)
{
    if (b->o->json)
        return;
    printf("Built %s in %.0f s; %u file%s in %s:\n", b->recipe->name, seconds, arts->len,
           arts->len == 1 ? "" : "s", b->outdir);
    for (guint i = 0; i < arts->len; i++) {
        const VmfBuildArtefact *a = &g_array_index(arts, VmfBuildArtefact, i);
        g_autofree char *size = vf_format_size(a->file_size);
        const char *rel =
            g_str_has_prefix(a->path, b->outdir) ? a->path + strlen(b->outdir) + 1 : a->path;
        printf("  %-12s %-15s %10s  %s\n", a->target, a->format, size, rel);
    }
    printf("Report: %s/report.json\n", b->outdir);
}

static void collect_versions(Build *b)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmfVirt) v = vmf_virt_open(b->o->uri, &err);
    if (v)
        vmf_virt_version_parts(v, &b->libvirt_version, &b->qemu_version);
    b->libguestfs_version = vmf_guest_library_version();
}

/* The recipe, its targets, customize list and verify section, and
 * SOURCE_DATE_EPOCH: all checked now, not after a half-hour install. */
static int build_check(Build *b, GError **error)
{
    const VmfBuildOptions *o = b->o;
    b->recipe = vmf_recipe_load(o->recipe, o->vars, error);
    if (!b->recipe)
        return vmf_recipe_exit_code(*error);
    b->targets = vmf_targets_parse(b->recipe, vmf_templates_dir(), error);
    if (!b->targets)
        return VMF_EXIT_INPUT;
    if (!vmf_targets_select(b->targets, o->only, error))
        return VMF_EXIT_USAGE;
    g_autoptr(VmfCustomize) c = vmf_customize_parse(b->recipe, error);
    VmfVerify v = {0};
    bool ok = c && vmf_verify_parse(b->recipe, &v, error);
    vmf_verify_clear(&v);
    if (!ok)
        return VMF_EXIT_INPUT;
    VmfInstallOptions where = {.uri = o->uri, .pool = o->pool, .remote_dir = o->remote_dir};
    int rc = vmf_recipe_has_base(b->recipe) ? 0 : vmf_install_check_host(b->recipe, &where, error);
    if (rc)
        return rc;
    if (vmf_source_date_epoch(&b->epoch) < 0) {
        g_set_error(error, vmf_build_error_quark(), VMF_EXIT_USAGE,
                    "SOURCE_DATE_EPOCH=\"%s\" is not a number of seconds since 1970",
                    g_getenv("SOURCE_DATE_EPOCH"));
        return VMF_EXIT_USAGE;
    }
    return 0;
}

/* The output and log folders' names, the cache and the base disk's key. */
static int build_open_cache(Build *b, GError **error)
{
    b->outdir = g_canonicalize_filename(b->o->outdir ? b->o->outdir : ".", NULL);
    b->logdir = g_build_filename(b->outdir, "logs", NULL);
    b->cache_dir = vmf_cache_default_dir(b->o->cache_dir);
    vmf_signals_install();
    b->cache = vmf_cache_open(b->cache_dir, error);
    if (!b->cache)
        return (*error)->code;
    return compute_key(b, error);
}

static int build_dry_run(Build *b)
{
    g_autofree char *disk = g_strdup_printf("%s/base/%s/disk.raw", b->cache_dir, b->key);
    g_autofree char *info = g_strdup_printf("%s/base/%s/entry.json", b->cache_dir, b->key);
    return print_plan(b, g_file_test(disk, G_FILE_TEST_EXISTS) &&
                             g_file_test(info, G_FILE_TEST_EXISTS));
}

static void cache_hit(Build *b, VmfCacheEntry *entry)
{
    g_autoptr(JsonNode) info = vmf_cache_entry_info(entry);
    JsonObject *obj = info && JSON_NODE_HOLDS_OBJECT(info) ? json_node_get_object(info) : NULL;
    const char *created =
        obj ? json_object_get_string_member_with_default(obj, "created", "?") : "?";
    say(b, "%s, customize: skipped; the base disk is in the cache (made %s)", first_stage(b),
        created);
    stage_time(b, first_stage(b), "cached", 0);
    stage_time(b, "customize", "cached", 0);
    stage_time(b, "verify", "cached", 0);
}

/* The base disk: from the cache, or made under the entry's lock. Other
 * builds may use the entry once this returns; the convert reads it through
 * an open descriptor, which a later --rebuild's rename does not disturb.
 * *base: the entry's disk (g_free). */
static int base_disk(Build *b, char **base, GError **error)
{
    g_autoptr(VmfCacheEntry) entry = vmf_cache_lock(b->cache, b->key, waiting, error);
    if (!entry)
        return (*error)->code;
    b->cache_status = "hit";
    if (vmf_cache_entry_valid(entry) && !b->o->rebuild) {
        cache_hit(b, entry);
    } else {
        b->cache_status = vmf_cache_entry_valid(entry) ? "rebuilt" : "miss";
        int rc = make_base(b, entry);
        if (rc != VMF_EXIT_OK)
            return rc;
    }
    *base = g_strdup(vmf_cache_entry_disk(entry));
    return 0;
}

static bool hepix_checked(const VmfRecipe *r)
{
    VmfVerify v = {0};
    bool checked = !vmf_verify_parse(r, &v, NULL) || v.hepix;
    vmf_verify_clear(&v);
    return checked;
}

/* Writes report.json (and prints it with --json). */
static int write_report(Build *b, const char *base, const VmfConvertResult *res, GDateTime *started,
                        double seconds, GError **error)
{
    VmfReport rep = {
        .recipe = b->recipe,
        .accel = b->o->accel,
        .libvirt_version = b->libvirt_version,
        .qemu_version = b->qemu_version,
        .libguestfs_version = b->libguestfs_version,
        .cache_key = b->key,
        .cache_status = b->cache_status,
        .host = &b->host,
        .base_disk = base,
        .image = vmf_recipe_has_base(b->recipe) ? &b->image : NULL,
        .hepix = hepix_checked(b->recipe),
        .outdir = b->outdir,
        .disk_size = res->disk_size,
        .data_bytes = res->data_bytes,
        .stages = b->stages,
        .artefacts = res->artefacts,
        .started = started,
        .seconds = seconds,
    };
    g_autofree char *json = vmf_report_json(&rep);
    g_autofree char *report = g_build_filename(b->outdir, "report.json", NULL);
    if (!g_file_set_contents(report, json, -1, error))
        return VMF_EXIT_OUTPUT;
    if (b->o->json)
        fputs(json, stdout);
    return 0;
}

/* One convert pass into every target, then the report and the summary. */
static int convert(Build *b, const char *base, GDateTime *started, gint64 t0, GError **error)
{
    int rc = local_stage("convert");
    if (rc)
        return rc;
    say(b, "convert: %s into %u target%s in one pass", base, b->targets->targets->len,
        b->targets->targets->len == 1 ? "" : "s");
    VmfConvertStage cs = {
        .recipe = b->recipe,
        .targets = b->targets,
        .disk = base,
        .outdir = b->outdir,
        .progress = b->mode,
        .no_sync = b->o->no_sync,
        .timestamp = b->epoch,
    };
    g_auto(VmfConvertResult) res = {0};
    rc = vmf_stage_convert(&cs, &res, error);
    if (rc != VMF_EXIT_OK)
        return rc;
    stage_time(b, "convert", "ran", res.convert_seconds);
    stage_time(b, "package", "ran", res.package_seconds);
    collect_versions(b);
    double seconds = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    rc = write_report(b, base, &res, started, seconds, error);
    if (rc == 0)
        print_summary(b, res.artefacts, seconds);
    return rc;
}

int vmf_build(const VmfBuildOptions *o)
{
    g_auto(Build) b = {.o = o};
    g_autoptr(GError) err = NULL;
    gint64 t0 = g_get_monotonic_time();
    vmf_fleet_link_active(); /* its socket kept from the processes started below */
    g_autoptr(GDateTime) started = g_date_time_new_now_utc();
    b.mode = o->verbosity < 0 ? VMF_PROGRESS_QUIET : VMF_PROGRESS_AUTO;
    if (b.mode == VMF_PROGRESS_AUTO)
        b.mode = isatty(STDERR_FILENO) ? VMF_PROGRESS_TTY : VMF_PROGRESS_PLAIN;
    b.stages = g_array_new(false, true, sizeof(VmfStageTime));
    b.host.uri = g_strdup(o->uri ? o->uri : vmf_virt_default_uri());
    int rc = build_check(&b, &err);
    if (!rc)
        rc = build_open_cache(&b, &err);
    if (rc)
        return fail_with(err, rc);
    if (o->dry_run)
        return build_dry_run(&b);
    if (g_mkdir_with_parents(b.outdir, 0755) < 0) {
        vmf_error(CMD, "%s: %s", b.outdir, g_strerror(errno));
        return VMF_EXIT_OUTPUT;
    }
    say(&b, "%s %s: %u target%s, base disk key %.16s (cache %s)", b.recipe->name,
        b.recipe->version ? b.recipe->version : "", b.targets->targets->len,
        b.targets->targets->len == 1 ? "" : "s", b.key, b.cache_dir);
    g_autofree char *base = NULL;
    rc = base_disk(&b, &base, &err);
    if (rc)
        return err ? fail_with(err, rc) : rc;
    if (vmf_interrupted)
        return vmf_signals_exit_code();
    rc = convert(&b, base, started, t0, &err);
    return rc && err ? fail_with(err, rc) : rc;
}

int vmf_build_probe(const VmfBuildOptions *o, VmfBuildProbe *out, GError **error)
{
    g_auto(Build) b = {.o = o, .mode = VMF_PROGRESS_QUIET};
    b.stages = g_array_new(false, true, sizeof(VmfStageTime));
    int rc = build_check(&b, error);
    if (!rc)
        rc = build_open_cache(&b, error);
    if (rc)
        return rc;
    g_autofree char *disk = g_strdup_printf("%s/base/%s/disk.raw", b.cache_dir, b.key);
    g_autofree char *info = g_strdup_printf("%s/base/%s/entry.json", b.cache_dir, b.key);
    out->name = g_strdup(b.recipe->name);
    out->key = g_strdup(b.key);
    out->cached = g_file_test(disk, G_FILE_TEST_EXISTS) && g_file_test(info, G_FILE_TEST_EXISTS);
    out->installs = !vmf_recipe_has_base(b.recipe);
    out->memory = b.recipe->memory;
    out->vcpus = b.recipe->vcpus;
    return 0;
}

void vmf_build_probe_clear(VmfBuildProbe *p)
{
    g_free(p->name);
    g_free(p->key);
}
