/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd-convert.c — `vmforge convert DISK --to FORMATS`: one read of a raw disk,
 * every requested format written in parallel, atomically, with digests.
 */
#include "commands.h"
#include "formats/engine.h"
#include "formats/ova.h"
#include "formats/qcow2-read.h"
#include "util/exit-codes.h"
#include "util/json.h"
#include "util/progress.h"
#include "util/signals.h"
#include "util/util.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>

#define CMD         "convert"
#define MAX_JOBS    256
#define MAX_OUTPUTS 32

typedef struct ConvertArgs {
    char *to;
    char *output_dir;
    char *name;
    int jobs;
    int level;
    gboolean json;
    gboolean force;
    gboolean quiet;
    gboolean no_sync;
    gboolean assume_raw;
    gboolean list_formats;
    char **rest;
    /* OVA */
    char *profile;
    char *scratch;
    char *scratch_per_core;
    gboolean scratch_at_deploy;
    int vcpus;
    char *memory;
    char *os;
    char *manifest;
    char *product;
    char *vendor;
    char *product_version;
    char *sign;
    char *cert;
    char *ovf_dir;
    char *system_type;
    char *firmware;
} ConvertArgs;

static void args_clear(ConvertArgs *a)
{
    g_free(a->to);
    g_free(a->output_dir);
    g_free(a->name);
    g_strfreev(a->rest);
    g_free(a->profile);
    g_free(a->scratch);
    g_free(a->scratch_per_core);
    g_free(a->memory);
    g_free(a->os);
    g_free(a->manifest);
    g_free(a->product);
    g_free(a->vendor);
    g_free(a->product_version);
    g_free(a->sign);
    g_free(a->cert);
    g_free(a->ovf_dir);
    g_free(a->system_type);
    g_free(a->firmware);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ConvertArgs, args_clear)

static void list_formats(void)
{
    printf("Output formats (--to FORMAT[:KEY=VALUE...], comma-separated):\n\n");
    for (const VfWriterOps *const *w = vf_writers; *w; w++) {
        const VfWriterOps *o = *w;
        printf("  %-8s %s\n", o->name, o->summary);
        printf("  %-8s file: NAME.%s; virtual size: %s\n", "", o->extension, o->size_rule);
        for (const VfOptionSpec *opt = o->options; opt && opt->key; opt++) {
            g_autofree char *values = NULL;
            if (opt->choices)
                values = g_strjoinv("|", (char **)opt->choices);
            else
                values =
                    g_strdup_printf("%" G_GINT64_FORMAT "..%" G_GINT64_FORMAT, opt->min, opt->max);
            printf("  %-8s   %s=%s (default %s)\n  %-8s     %s\n", "", opt->key, values,
                   opt->default_value, "", opt->help);
        }
        printf("\n");
    }
}

/* "disk.raw" → "disk"; keeps names without a known disk suffix whole. */
static char *default_name(const char *path)
{
    g_autofree char *base = g_path_get_basename(path);
    static const char *const suffixes[] = {".raw", ".img", ".bin", ".dd", ".qcow2", NULL};
    for (const char *const *s = suffixes; *s; s++)
        if (g_str_has_suffix(base, *s) && strlen(base) > strlen(*s))
            return g_strndup(base, strlen(base) - strlen(*s));
    return g_steal_pointer(&base);
}

static void print_json(const VfSource *src, GArray *artefacts, double seconds)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "input");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "path");
    json_builder_add_string_value(b, src->path);
    json_builder_set_member_name(b, "size");
    json_builder_add_int_value(b, (gint64)src->size);
    json_builder_set_member_name(b, "data_bytes");
    json_builder_add_int_value(b, (gint64)src->data_bytes);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "seconds");
    json_builder_add_double_value(b, seconds);
    json_builder_set_member_name(b, "artefacts");
    json_builder_begin_array(b);
    for (guint i = 0; i < artefacts->len; i++) {
        const VfArtefact *a = &g_array_index(artefacts, VfArtefact, i);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "path");
        json_builder_add_string_value(b, a->path);
        json_builder_set_member_name(b, "format");
        json_builder_add_string_value(b, a->format);
        json_builder_set_member_name(b, "spec");
        json_builder_add_string_value(b, a->spec);
        json_builder_set_member_name(b, "virtual_size");
        json_builder_add_int_value(b, (gint64)a->virtual_size);
        json_builder_set_member_name(b, "file_size");
        json_builder_add_int_value(b, (gint64)a->file_size);
        json_builder_set_member_name(b, "sha256");
        json_builder_add_string_value(b, a->sha256);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    g_autofree char *text = vmf_json_text(b);
    fputs(text, stdout);
}

static void print_table(const VfSource *src, GArray *artefacts, double seconds)
{
    g_autofree char *data = vf_format_size(src->data_bytes);
    g_autofree char *rate =
        vf_format_size(seconds > 0 ? (uint64_t)((double)src->data_bytes / seconds) : 0);
    printf("Converted %s (%s of data) into %u file%s in %.1f s (%s/s):\n", src->path, data,
           artefacts->len, artefacts->len == 1 ? "" : "s", seconds, rate);
    for (guint i = 0; i < artefacts->len; i++) {
        const VfArtefact *a = &g_array_index(artefacts, VfArtefact, i);
        g_autofree char *size = vf_format_size(a->file_size);
        printf("  %-8s %10s  sha256:%s  %s\n", a->format, size, a->sha256, a->path);
    }
}

static int size_option(const char *option, const char *text, uint64_t *out)
{
    int r = vmf_parse_size(text, out);
    if (r < 0 || *out == 0) {
        vmf_error(CMD, "%s \"%s\": give a size such as 20G, 512M or a number of bytes", option,
                  text);
        return VMF_EXIT_USAGE;
    }
    return VMF_EXIT_OK;
}

/* The signer (--sign, --cert) and the hardware profile (--profile,
 * --system-type) of the OVA. */
static int ova_profile(const ConvertArgs *a, VfOvfProfile **profile, VfOvaSigner **signer,
                       VfOvaParams *ova)
{
    g_autoptr(GError) err = NULL;
    if (!a->sign != !a->cert) {
        vmf_error(CMD, "--sign and --cert go together");
        return VMF_EXIT_USAGE;
    }
    if (a->sign) {
        if (vf_ova_signer_load(a->sign, a->cert, signer, &err) < 0) {
            vmf_error(CMD, "%s", err->message);
            return VMF_EXIT_INPUT;
        }
        ova->signer = *signer;
    }
    const char *name = a->profile ? a->profile : "vmware";
    g_autofree char *dir = g_build_filename(vmf_templates_dir(), "profiles", NULL);
    if (vf_ovf_profile_load(dir, name, profile, &err) < 0) {
        vmf_error(CMD, "--profile: %s", err->message);
        return VMF_EXIT_USAGE;
    }
    if (a->system_type) {
        if (!*a->system_type || strpbrk(a->system_type, "<>&\"\n\t")) {
            vmf_error(CMD, "--system-type \"%s\": give a type such as vmx-19", a->system_type);
            return VMF_EXIT_USAGE;
        }
        g_free((*profile)->virtual_system_type);
        (*profile)->virtual_system_type = g_strdup(a->system_type);
    }
    ova->profile = *profile;
    if (a->os && !g_hash_table_contains((*profile)->os, a->os)) {
        vmf_error(CMD, "--os \"%s\" is not in profile %s's [os] table", a->os, name);
        return VMF_EXIT_USAGE;
    }
    return VMF_EXIT_OK;
}

/* --vcpus, --memory and the scratch disk (--scratch or --scratch-per-core). */
static int ova_hardware(const ConvertArgs *a, VfOvaParams *ova)
{
    g_autoptr(GError) err = NULL;
    if (a->vcpus < 0 || (unsigned)a->vcpus > VF_OVF_MAX_VCPUS) {
        vmf_error(CMD, "--vcpus %d: give 1 to %u", a->vcpus, VF_OVF_MAX_VCPUS);
        return VMF_EXIT_USAGE;
    }
    ova->ovf.vcpus = a->vcpus > 0 ? (unsigned)a->vcpus : 2;
    uint64_t memory = 2ull << 30;
    if (a->memory && size_option("--memory", a->memory, &memory) != VMF_EXIT_OK)
        return VMF_EXIT_USAGE;
    if (memory % VF_MIB) {
        vmf_error(CMD, "--memory %s: give a whole number of MiB", a->memory);
        return VMF_EXIT_USAGE;
    }
    ova->ovf.memory_mib = memory / VF_MIB;
    if (a->scratch && a->scratch_per_core) {
        vmf_error(CMD, "give either --scratch or --scratch-per-core, not both");
        return VMF_EXIT_USAGE;
    }
    if (a->scratch && size_option("--scratch", a->scratch, &ova->scratch_capacity))
        return VMF_EXIT_USAGE;
    if (a->scratch_per_core) {
        uint64_t per_core = 0;
        if (size_option("--scratch-per-core", a->scratch_per_core, &per_core))
            return VMF_EXIT_USAGE;
        if (vf_ovf_scratch_per_core(per_core, ova->ovf.vcpus, &ova->scratch_capacity, &err) < 0) {
            vmf_error(CMD, "%s", err->message);
            return VMF_EXIT_USAGE;
        }
    }
    if (ova->scratch_capacity % VF_SECTOR_SIZE) {
        vmf_error(CMD, "the scratch disk size must be a multiple of 512 bytes");
        return VMF_EXIT_USAGE;
    }
    if (a->scratch_at_deploy && !ova->scratch_capacity) {
        vmf_error(CMD, "--scratch-at-deploy needs --scratch or --scratch-per-core");
        return VMF_EXIT_USAGE;
    }
    ova->scratch_at_deploy = a->scratch_at_deploy;
    return VMF_EXIT_OK;
}

/* Fills the OVA parameters from the options; returns an exit status. */
static int build_ova_params(const ConvertArgs *a, VfOvfProfile **profile, VfOvaSigner **signer,
                            VfOvaParams *ova)
{
    int rc = ova_profile(a, profile, signer, ova);
    if (rc)
        return rc;
    if (a->ovf_dir && !g_file_test(a->ovf_dir, G_FILE_TEST_IS_DIR)) {
        vmf_error(CMD, "--ovf-dir %s is not a directory", a->ovf_dir);
        return VMF_EXIT_OUTPUT;
    }
    ova->ovf_dir = a->ovf_dir;
    ova->sink_flags = (a->force ? VF_SINK_FORCE : 0) | (a->no_sync ? VF_SINK_NO_SYNC : 0);
    ova->manifest = a->manifest;
    if (a->manifest && !vf_ovf_manifest_algorithm_known(a->manifest)) {
        vmf_error(CMD, "--manifest \"%s\": give sha1, sha256 or sha512", a->manifest);
        return VMF_EXIT_USAGE;
    }
    if ((rc = ova_hardware(a, ova)))
        return rc;
    if (a->firmware && strcmp(a->firmware, "bios") != 0 && strcmp(a->firmware, "efi") != 0) {
        vmf_error(CMD, "--firmware \"%s\": give bios or efi", a->firmware);
        return VMF_EXIT_USAGE;
    }
    ova->ovf.firmware = a->firmware;
    ova->ovf.os = a->os;
    ova->ovf.product = a->product;
    ova->ovf.vendor = a->vendor;
    ova->ovf.version = a->product_version;
    return VMF_EXIT_OK;
}

static const VmfCliHelp help = {
    .name = CMD,
    .params = "DISK",
    .summary = "Read the raw disk DISK once and write every requested format in parallel.\n"
               "Each output is written under a temporary name and appears only when complete;\n"
               "the size and SHA-256 of each are printed at the end.",
    .description =
        "Examples:\n"
        "  vmforge convert disk.raw --to qcow2,vmdk,vdi,vhd,raw.gz -o out/\n"
        "  vmforge convert disk.raw --to vhd:type=fixed,vmdk:adapter=ide --name web\n\n"
        "Environment:\n"
        "  SOURCE_DATE_EPOCH  timestamp recorded in formats that have one (default 0), so\n"
        "                     the same disk always gives byte-identical "
        "files\n\n" VMF_EXIT_CODES_HELP,
};

static GOptionGroup *ova_group(ConvertArgs *a)
{
    const GOptionEntry entries[] = {
        {"profile", 'p', 0, G_OPTION_ARG_STRING, &a->profile,
         "Hardware profile of the OVA: vmware (default), virtualbox, generic, or any "
         "templates/profiles/NAME.conf",
         "NAME"},
        {"scratch", 0, 0, G_OPTION_ARG_STRING, &a->scratch,
         "Add a scratch disk of SIZE (e.g. 20G): an empty VMDK member (a few KiB)",
         "SIZE"},
        {"scratch-per-core", 0, 0, G_OPTION_ARG_STRING, &a->scratch_per_core,
         "Add a scratch disk of SIZE per vCPU (the HEPiX V2 rule)", "SIZE"},
        {"scratch-at-deploy", 0, 0, G_OPTION_ARG_NONE, &a->scratch_at_deploy,
         "Define the scratch disk without a file, for the hypervisor to create at deploy time "
         "(OVF's own form; virt-v2v refuses it)",
         NULL},
        {"vcpus", 0, 0, G_OPTION_ARG_INT, &a->vcpus, "Virtual CPUs (default 2)", "N"},
        {"memory", 0, 0, G_OPTION_ARG_STRING, &a->memory, "Memory (default 2G)", "SIZE"},
        {"os", 0, 0, G_OPTION_ARG_STRING, &a->os,
         "Guest OS, a key of the profile's [os] table (default linux)", "NAME"},
        {"manifest", 0, 0, G_OPTION_ARG_STRING, &a->manifest,
         "Manifest digest: sha1, sha256 or sha512 (default: the profile's)", "ALGORITHM"},
        {"product", 0, 0, G_OPTION_ARG_STRING, &a->product, "ProductSection product name", "TEXT"},
        {"vendor", 0, 0, G_OPTION_ARG_STRING, &a->vendor, "ProductSection vendor", "TEXT"},
        {"product-version", 0, 0, G_OPTION_ARG_STRING, &a->product_version,
         "ProductSection version", "TEXT"},
        {"sign", 0, 0, G_OPTION_ARG_FILENAME, &a->sign,
         "Sign the manifest with this PEM private key (adds NAME.cert; needs --cert)", "KEY"},
        {"cert", 0, 0, G_OPTION_ARG_FILENAME, &a->cert,
         "The PEM X.509 certificate of the --sign key, embedded in NAME.cert", "CERT"},
        {"ovf-dir", 0, 0, G_OPTION_ARG_FILENAME, &a->ovf_dir,
         "Also write the appliance unpacked into DIR (NAME.ovf, NAME.mf, the disk)", "DIR"},
        {"system-type", 0, 0, G_OPTION_ARG_STRING, &a->system_type,
         "VirtualSystemType instead of the profile's (e.g. vmx-19, or \"vmx-14 vmx-19\")", "TYPE"},
        {"firmware", 0, 0, G_OPTION_ARG_STRING, &a->firmware,
         "The firmware the guest boots with: bios or efi (VMware's firmware setting; for "
         "VirtualBox, its own machine configuration). Default: not stated (BIOS)",
         "FIRMWARE"},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    GOptionGroup *group = g_option_group_new(
        "ova", "OVA options (with --to ova):", "Show the OVA options", NULL, NULL);
    g_option_group_add_entries(group, entries);
    return group;
}

static int parse(ConvertArgs *a, int *argc, char ***argv)
{
    const GOptionEntry entries[] = {
        {"to", 't', 0, G_OPTION_ARG_STRING, &a->to,
         "Formats to write, comma-separated: qcow2, vmdk, vdi, vhd, vhdx, raw, raw.gz; each may "
         "take "
         "options as FORMAT:KEY=VALUE (see --list-formats)",
         "FORMATS"},
        {"output-dir", 'o', 0, G_OPTION_ARG_FILENAME, &a->output_dir,
         "Directory for the outputs (default: the current directory)", "DIR"},
        {"name", 'n', 0, G_OPTION_ARG_STRING, &a->name,
         "Base name of the outputs (default: DISK's name without .raw/.img)", "NAME"},
        {"jobs", 'j', 0, G_OPTION_ARG_INT, &a->jobs, "Compression threads (default: one per CPU)",
         "N"},
        {"level", 'l', 0, G_OPTION_ARG_INT, &a->level,
         "Deflate level, 1 (fastest) to 9 (smallest); default 5", "N"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &a->json, "Print the result as JSON on standard output",
         NULL},
        {"force", 'f', 0, G_OPTION_ARG_NONE, &a->force, "Replace outputs that already exist", NULL},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &a->quiet, "Do not show progress", NULL},
        {"no-sync", 0, 0, G_OPTION_ARG_NONE, &a->no_sync,
         "Do not flush outputs to stable storage before naming them (faster, less safe)", NULL},
        {"assume-raw", 0, 0, G_OPTION_ARG_NONE, &a->assume_raw,
         "Read DISK as a raw disk even if it looks like qcow2 or another image format (use it "
         "for raw disks of guests you do not trust: a qcow2 header a guest wrote must not make "
         "vmforge follow a backing file on this host)",
         NULL},
        {"list-formats", 0, 0, G_OPTION_ARG_NONE, &a->list_formats,
         "List the output formats, their options and size rules", NULL},
        {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &a->rest, NULL, "DISK"},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    return vmf_cli_parse(&help, entries, ova_group(a), argc, argv);
}

/* One disk, the formats, threads, level and SOURCE_DATE_EPOCH. */
static int check_args(const ConvertArgs *a, int64_t *epoch)
{
    guint n_rest = a->rest ? g_strv_length(a->rest) : 0;
    if (n_rest != 1) {
        vmf_error(CMD, n_rest == 0 ? "no input disk given (usage: vmforge convert DISK --to "
                                     "FORMATS)"
                                   : "only one input disk can be converted at a time");
        return VMF_EXIT_USAGE;
    }
    if (!a->to || !*a->to) {
        vmf_error(CMD, "no output format given: use --to, e.g. --to qcow2,vmdk "
                       "(vmforge convert --list-formats shows them all)");
        return VMF_EXIT_USAGE;
    }
    if (a->jobs < 0 || a->jobs > MAX_JOBS) {
        vmf_error(CMD, "--jobs %d: give 1 to %d (or leave it out for one per CPU)", a->jobs,
                  MAX_JOBS);
        return VMF_EXIT_USAGE;
    }
    if (a->level < 1 || a->level > 9) {
        vmf_error(CMD, "--level %d: give 1 (fastest) to 9 (smallest)", a->level);
        return VMF_EXIT_USAGE;
    }
    if (vmf_source_date_epoch(epoch) < 0) {
        vmf_error(CMD, "SOURCE_DATE_EPOCH=\"%s\" is not a number of seconds since 1970",
                  g_getenv("SOURCE_DATE_EPOCH"));
        return VMF_EXIT_USAGE;
    }
    return VMF_EXIT_OK;
}

/* The outputs of --to, and what they point at. */
typedef struct {
    GArray *outputs;  /* of VfOutputSpec */
    GPtrArray *paths; /* DIR/NAME.EXT */
    GPtrArray *opt_tables;
    bool want_ova;
    VfOvaParams ova; /* the ova outputs point at it */
    VfOvfProfile *profile;
    VfOvaSigner *signer;
} Outputs;

static void outputs_clear(Outputs *o)
{
    if (o->outputs)
        g_array_unref(o->outputs);
    if (o->paths)
        g_ptr_array_unref(o->paths);
    if (o->opt_tables)
        g_ptr_array_unref(o->opt_tables);
    vf_ovf_profile_free(o->profile);
    vf_ova_signer_free(o->signer);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Outputs, outputs_clear)

/* One --to spec into DIR/NAME.EXT; two outputs may not share a file. */
static int add_output(Outputs *o, const char *spec, const char *dir, const char *name)
{
    g_autoptr(GError) err = NULL;
    if (o->outputs->len == MAX_OUTPUTS) {
        vmf_error(CMD, "at most %d outputs per run", MAX_OUTPUTS);
        return VMF_EXIT_USAGE;
    }
    const VfWriterOps *ops = NULL;
    GHashTable *opts = NULL;
    if (vf_writer_parse_spec(spec, &ops, &opts, &err) < 0) {
        vmf_error(CMD, "--to: %s", err->message);
        return VMF_EXIT_USAGE;
    }
    g_ptr_array_add(o->opt_tables, opts);
    g_autofree char *file = g_strdup_printf("%s.%s", name, ops->extension);
    char *path = g_build_filename(dir, file, NULL);
    for (guint j = 0; j < o->paths->len; j++)
        if (strcmp(o->paths->pdata[j], path) == 0) {
            vmf_error(CMD,
                      "--to: two outputs would both be written to %s; convert them in separate "
                      "runs with different --name",
                      path);
            g_free(path);
            return VMF_EXIT_USAGE;
        }
    g_ptr_array_add(o->paths, path);
    o->want_ova |= ops == &vf_writer_ova;
    VfOutputSpec out = {
        .ops = ops, .options = opts, .path = path, .extra = ops == &vf_writer_ova ? &o->ova : NULL};
    g_array_append_val(o->outputs, out);
    return VMF_EXIT_OK;
}

/* Every output of --to, then the OVA's parameters (or a refusal of the OVA
 * options without an OVA). */
static int plan_outputs(const ConvertArgs *a, const char *name, Outputs *o)
{
    const char *dir = a->output_dir ? a->output_dir : ".";
    o->outputs = g_array_new(false, true, sizeof(VfOutputSpec));
    o->paths = g_ptr_array_new_with_free_func(g_free);
    o->opt_tables = g_ptr_array_new_with_free_func((GDestroyNotify)g_hash_table_unref);
    g_auto(GStrv) specs = g_strsplit(a->to, ",", -1);
    for (guint i = 0; specs[i]; i++) {
        g_strstrip(specs[i]);
        int rc = *specs[i] ? add_output(o, specs[i], dir, name) : VMF_EXIT_OK;
        if (rc)
            return rc;
    }
    if (o->outputs->len == 0) {
        vmf_error(CMD, "--to \"%s\" names no format", a->to);
        return VMF_EXIT_USAGE;
    }
    if (o->want_ova)
        return build_ova_params(a, &o->profile, &o->signer, &o->ova);
    if (a->profile || a->scratch || a->scratch_per_core || a->manifest || a->sign || a->cert ||
        a->ovf_dir || a->system_type || a->firmware) {
        vmf_error(CMD, "--profile, --scratch, --scratch-per-core, --manifest, --sign, --cert, "
                       "--ovf-dir, --system-type and --firmware go with --to ova");
        return VMF_EXIT_USAGE;
    }
    return VMF_EXIT_OK;
}

/* The disk, read once into every output; the result as a table or JSON. */
static int run(const ConvertArgs *a, VfSource *src, const Outputs *o, int64_t epoch)
{
    g_autoptr(GError) err = NULL;
    vmf_signals_install();
    g_autoptr(VmfProgress) bar =
        vmf_progress_new("convert", a->quiet ? VMF_PROGRESS_QUIET : VMF_PROGRESS_AUTO);
    VfConvertOptions copts = {
        .jobs = (unsigned)a->jobs,
        .level = a->level,
        .sink_flags = (a->force ? VF_SINK_FORCE : 0) | (a->no_sync ? VF_SINK_NO_SYNC : 0),
        .timestamp = epoch,
        .cancel = &vmf_interrupted,
        .progress = vmf_convert_progress,
        .progress_data = bar,
    };
    gint64 t0 = g_get_monotonic_time();
    g_autoptr(GArray) artefacts = NULL;
    int r = vf_convert(src, (const VfOutputSpec *)(void *)o->outputs->data, o->outputs->len, &copts,
                       &artefacts, &err);
    double seconds = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    if (r < 0) {
        vmf_progress_end(bar, NULL);
        if (g_error_matches(err, VF_ERROR, VF_ERROR_CANCELLED)) {
            fprintf(stderr, "vmforge convert: interrupted; no output was written\n");
            return vmf_signals_exit_code();
        }
        vmf_error(CMD, "%s; no output was written", err->message);
        return vmf_convert_exit_code(err);
    }
    g_autofree char *summary = g_strdup_printf("done in %.1f s", seconds);
    vmf_progress_end(bar, a->quiet ? NULL : summary);
    if (a->json)
        print_json(src, artefacts, seconds);
    else
        print_table(src, artefacts, seconds);
    return VMF_EXIT_OK;
}

int vmf_cmd_convert(int argc, char **argv)
{
    g_auto(ConvertArgs) a = {.jobs = 0, .level = 5};
    int64_t epoch = 0;
    int rc = parse(&a, &argc, &argv);
    if (rc || a.list_formats) {
        if (!rc)
            list_formats();
        return rc;
    }
    if ((rc = check_args(&a, &epoch)))
        return rc;
    const char *disk = a.rest[0];
    g_autofree char *name = a.name ? g_strdup(a.name) : default_name(disk);
    if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        vmf_error(CMD, "--name \"%s\": give a file name without a directory", name);
        return VMF_EXIT_USAGE;
    }
    g_auto(Outputs) o = {0};
    if ((rc = plan_outputs(&a, name, &o)))
        return rc;
    g_autoptr(GError) err = NULL;
    g_autoptr(VfSource) src = NULL;
    if (vf_source_open(disk, a.assume_raw ? VF_SOURCE_ASSUME_RAW : 0, &src, &err) < 0) {
        vmf_error(CMD, "%s", err->message);
        return vmf_convert_exit_code(err);
    }
    if (src->qcow2 && !a.quiet) {
        g_autofree char *chain = vf_qcow2_describe(src->qcow2);
        fprintf(stderr,
                "convert: reading the qcow2 chain %s (--assume-raw reads the file as a raw disk "
                "instead)\n",
                chain);
    }
    return run(&a, src, &o, epoch);
}
