/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The converter in-process: reproducibility, ordering under any thread count
 * and window, digests that match the bytes on disk, and clean failure
 * (cancellation, existing outputs, output = input) that leaves nothing behind.
 * Reading outputs back with independent tools is tests/formats/roundtrip.py's
 * job.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <unistd.h>

static const char *const all_formats[] = {"qcow2", "vmdk", "vdi", "vhd", "vhdx", "raw", "raw.gz", NULL};

typedef struct Fixture {
    char *dir;
    char *disk;
} Fixture;

/* A 40 MiB + 4321 byte disk: holes, random data, text, zero runs inside
 * data, a partial last unit with data in it. */
static void make_disk(const char *path)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    g_assert_cmpint(fd, >=, 0);
    const uint64_t size = 40 * VF_MIB + 4321;
    g_assert_cmpint(ftruncate(fd, (off_t)size), ==, 0);
    GRand *rand = g_rand_new_with_seed(42);
    g_autofree uint8_t *buf = g_malloc(3 * VF_MIB);
    for (size_t i = 0; i < 3 * VF_MIB; i += 4)
        vf_put_le32(buf + i, g_rand_int(rand));
    memset(buf + VF_MIB, 0, 256 * 1024); /* zero run inside data */
    g_assert_cmpint(pwrite(fd, buf, 3 * VF_MIB, 5 * VF_MIB + 512), ==, 3 * VF_MIB);
    GString *text = g_string_new(NULL);
    while (text->len < 2 * VF_MIB)
        g_string_append_printf(text, "line %zu: the quick brown fox jumps over the lazy dog\n",
                               text->len);
    g_assert_cmpint(pwrite(fd, text->str, text->len, 20 * VF_MIB), ==, (ssize_t)text->len);
    g_assert_cmpint(pwrite(fd, "tail", 4, (off_t)size - 4), ==, 4);
    g_string_free(text, true);
    g_rand_free(rand);
    close(fd);
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
    (void)data;
    g_autoptr(GError) err = NULL;
    f->dir = g_dir_make_tmp("vmforge-test-XXXXXX", &err);
    g_assert_no_error(err);
    f->disk = g_build_filename(f->dir, "disk.raw", NULL);
    make_disk(f->disk);
}

static void remove_tree(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    if (!d)
        return;
    const char *name;
    while ((name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        if (g_file_test(p, G_FILE_TEST_IS_DIR))
            remove_tree(p);
        else
            g_unlink(p);
    }
    g_dir_close(d);
    g_rmdir(dir);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    (void)data;
    remove_tree(f->dir);
    g_free(f->dir);
    g_free(f->disk);
}

/* Names in dir other than the input disk. */
static GPtrArray *list_outputs(const char *dir)
{
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;
    while ((name = g_dir_read_name(d)))
        if (strcmp(name, "disk.raw") != 0)
            g_ptr_array_add(names, g_strdup(name));
    g_dir_close(d);
    return names;
}

typedef struct Run {
    GPtrArray *paths;
    GPtrArray *tables;
    GArray *specs;
} Run;

static void run_init(Run *r, const char *dir, const char *const *formats, const char *prefix)
{
    r->paths = g_ptr_array_new_with_free_func(g_free);
    r->tables = g_ptr_array_new_with_free_func((GDestroyNotify)g_hash_table_unref);
    r->specs = g_array_new(false, true, sizeof(VfOutputSpec));
    for (const char *const *f = formats; *f; f++) {
        const VfWriterOps *ops;
        GHashTable *opts;
        g_assert_cmpint(vf_writer_parse_spec(*f, &ops, &opts, NULL), ==, 0);
        char *path = g_strdup_printf("%s/%s.%s", dir, prefix, ops->extension);
        g_ptr_array_add(r->paths, path);
        g_ptr_array_add(r->tables, opts);
        VfOutputSpec s = {ops, opts, path};
        g_array_append_val(r->specs, s);
    }
}

static void run_clear(Run *r)
{
    g_array_unref(r->specs);
    g_ptr_array_unref(r->tables);
    g_ptr_array_unref(r->paths);
}

static int convert(const char *disk, Run *r, VfConvertOptions *o, GArray **arts, GError **err)
{
    g_autoptr(VfSource) src = NULL;
    int ret = vf_source_open(disk, 0, &src, err);
    if (ret < 0)
        return ret;
    return vf_convert(src, (const VfOutputSpec *)(void *)r->specs->data, r->specs->len, o, arts,
                      err);
}

static char *sha256_file(const char *path)
{
    g_autofree char *contents = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(path, &contents, &len, NULL));
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)contents, len);
}

static void test_digests_and_sizes(Fixture *f, gconstpointer data)
{
    (void)data;
    Run r;
    run_init(&r, f->dir, all_formats, "a");
    VfConvertOptions o = {.jobs = 2, .sink_flags = VF_SINK_NO_SYNC};
    g_autoptr(GArray) arts = NULL;
    g_autoptr(GError) err = NULL;
    g_assert_cmpint(convert(f->disk, &r, &o, &arts, &err), ==, 0);
    g_assert_no_error(err);
    g_assert_cmpuint(arts->len, ==, r.specs->len);
    for (guint i = 0; i < arts->len; i++) {
        VfArtefact *a = &g_array_index(arts, VfArtefact, i);
        g_autofree char *sum = sha256_file(a->path);
        g_test_message("%s %s", a->format, a->sha256);
        g_assert_cmpstr(sum, ==, a->sha256);
        GStatBuf st;
        g_assert_cmpint(g_stat(a->path, &st), ==, 0);
        g_assert_cmpuint((uint64_t)st.st_size, ==, a->file_size);
        g_assert_cmpuint(a->virtual_size, >=, 40 * VF_MIB + 4321);
        g_assert_cmpuint(a->virtual_size, <=, 41 * VF_MIB);
    }
    run_clear(&r);
}

/* Same input, different thread counts and windows: identical bytes. */
static void test_reproducible(Fixture *f, gconstpointer data)
{
    (void)data;
    struct {
        unsigned jobs, window;
    } variants[] = {{1, 8}, {3, 64}, {2, 9}};
    g_autoptr(GPtrArray) first = g_ptr_array_new_with_free_func(g_free);
    for (unsigned v = 0; v < G_N_ELEMENTS(variants); v++) {
        /* Same file names (the VMDK descriptor records its own), separate
         * directories. */
        g_autofree char *sub = g_strdup_printf("%s/v%u", f->dir, v);
        g_assert_cmpint(g_mkdir(sub, 0755), ==, 0);
        Run r;
        run_init(&r, sub, all_formats, "same");
        VfConvertOptions o = {.jobs = variants[v].jobs,
                              .window = variants[v].window,
                              .sink_flags = VF_SINK_NO_SYNC};
        g_autoptr(GArray) arts = NULL;
        g_assert_cmpint(convert(f->disk, &r, &o, &arts, NULL), ==, 0);
        for (guint i = 0; i < arts->len; i++) {
            VfArtefact *a = &g_array_index(arts, VfArtefact, i);
            if (v == 0)
                g_ptr_array_add(first, g_strdup(a->sha256));
            else
                g_assert_cmpstr(a->sha256, ==, first->pdata[i]);
        }
        run_clear(&r);
    }
}

static void cancel_on_progress(const VfProgress *p, void *data)
{
    (void)p;
    *(volatile int *)data = 2; /* as if SIGINT arrived */
}

static void test_cancel_leaves_nothing(Fixture *f, gconstpointer data)
{
    (void)data;
    Run r;
    run_init(&r, f->dir, all_formats, "c");
    volatile int flag = 0;
    VfConvertOptions o = {.jobs = 1, .window = 8, .sink_flags = VF_SINK_NO_SYNC,
                          .cancel = &flag, .progress = cancel_on_progress,
                          .progress_data = (void *)&flag};
    g_autoptr(GArray) arts = NULL;
    g_autoptr(GError) err = NULL;
    g_assert_cmpint(convert(f->disk, &r, &o, &arts, &err), <, 0);
    g_assert_error(err, VF_ERROR, VF_ERROR_CANCELLED);
    g_assert_null(arts);
    g_autoptr(GPtrArray) left = list_outputs(f->dir);
    g_assert_cmpuint(left->len, ==, 0);
    run_clear(&r);
}

static void test_existing_output(Fixture *f, gconstpointer data)
{
    (void)data;
    Run r;
    const char *const formats[] = {"qcow2", "vdi", NULL};
    run_init(&r, f->dir, formats, "e");
    g_assert_true(g_file_set_contents(r.paths->pdata[1], "keep me", -1, NULL));
    VfConvertOptions o = {.sink_flags = VF_SINK_NO_SYNC};
    g_autoptr(GArray) arts = NULL;
    g_autoptr(GError) err = NULL;
    g_assert_cmpint(convert(f->disk, &r, &o, &arts, &err), ==, -EEXIST);
    g_assert_error(err, VF_ERROR, VF_ERROR_OUTPUT);
    g_assert_nonnull(strstr(err->message, "already exists (use --force"));
    g_autofree char *kept = NULL;
    g_assert_true(g_file_get_contents(r.paths->pdata[1], &kept, NULL, NULL));
    g_assert_cmpstr(kept, ==, "keep me");
    g_assert_false(g_file_test(r.paths->pdata[0], G_FILE_TEST_EXISTS));

    /* --force replaces it. */
    g_clear_error(&err);
    o.sink_flags |= VF_SINK_FORCE;
    g_assert_cmpint(convert(f->disk, &r, &o, &arts, &err), ==, 0);
    g_assert_no_error(err);
    g_autofree char *sum = sha256_file(r.paths->pdata[1]);
    g_assert_cmpstr(sum, ==, g_array_index(arts, VfArtefact, 1).sha256);
    run_clear(&r);
}

static void test_output_is_input(Fixture *f, gconstpointer data)
{
    (void)data;
    Run r;
    const char *const formats[] = {"raw", NULL};
    run_init(&r, f->dir, formats, "disk");
    VfConvertOptions o = {.sink_flags = VF_SINK_FORCE | VF_SINK_NO_SYNC};
    g_autoptr(GArray) arts = NULL;
    g_autoptr(GError) err = NULL;
    g_assert_cmpint(convert(f->disk, &r, &o, &arts, &err), <, 0);
    g_assert_error(err, VF_ERROR, VF_ERROR_USAGE);
    g_assert_nonnull(strstr(err->message, "is the input disk itself"));
    run_clear(&r);
}

static void test_all_zero_disk(Fixture *f, gconstpointer data)
{
    (void)data;
    g_autofree char *disk = g_build_filename(f->dir, "zero.img", NULL);
    int fd = open(disk, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    g_assert_cmpint(ftruncate(fd, 64 * VF_MIB), ==, 0);
    close(fd);
    Run r;
    run_init(&r, f->dir, all_formats, "z");
    VfConvertOptions o = {.sink_flags = VF_SINK_NO_SYNC};
    g_autoptr(GArray) arts = NULL;
    g_assert_cmpint(convert(disk, &r, &o, &arts, NULL), ==, 0);
    for (guint i = 0; i < arts->len; i++) {
        VfArtefact *a = &g_array_index(arts, VfArtefact, i);
        g_assert_cmpuint(a->virtual_size, ==, 64 * VF_MIB);
        /* Nothing allocated: every sparse format stays small. VHDX's
         * header section, log, metadata and BAT are 1 MiB regions each,
         * and no payload block follows them. */
        if (strcmp(a->format, "vhdx") == 0)
            g_assert_cmpuint(a->file_size, ==, 4 * VF_MIB);
        else if (strcmp(a->format, "raw") != 0)
            g_assert_cmpuint(a->file_size, <, 2 * VF_MIB);
    }
    run_clear(&r);
    g_unlink(disk);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD("/convert/digests-and-sizes", test_digests_and_sizes);
    ADD("/convert/reproducible", test_reproducible);
    ADD("/convert/cancel-leaves-nothing", test_cancel_leaves_nothing);
    ADD("/convert/existing-output", test_existing_output);
    ADD("/convert/output-is-input", test_output_is_input);
    ADD("/convert/all-zero-disk", test_all_zero_disk);
    return g_test_run();
}
