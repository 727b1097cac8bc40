/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Output specifications: FORMAT[:KEY=VALUE...], validated with clear errors. */
#include "writer.h"

static void expect_ok(const char *spec, const char *format, const char *key, const char *value)
{
    const VfWriterOps *ops = NULL;
    g_autoptr(GHashTable) opts = NULL;
    g_autoptr(GError) err = NULL;
    g_assert_cmpint(vf_writer_parse_spec(spec, &ops, &opts, &err), ==, 0);
    g_assert_no_error(err);
    g_assert_cmpstr(ops->name, ==, format);
    if (key)
        g_assert_cmpstr(g_hash_table_lookup(opts, key), ==, value);
}

static void expect_error(const char *spec, const char *fragment)
{
    const VfWriterOps *ops = NULL;
    g_autoptr(GHashTable) opts = NULL;
    g_autoptr(GError) err = NULL;
    g_assert_cmpint(vf_writer_parse_spec(spec, &ops, &opts, &err), <, 0);
    g_assert_error(err, VF_ERROR, VF_ERROR_USAGE);
    g_test_message("%s → %s", spec, err->message);
    g_assert_nonnull(strstr(err->message, fragment));
    g_assert_null(opts);
}

static void test_valid(void)
{
    expect_ok("qcow2", "qcow2", "compress", "on");
    expect_ok("qcow2:compress=off", "qcow2", "compress", "off");
    expect_ok("vmdk", "vmdk", "subformat", "streamOptimized");
    expect_ok("vmdk:adapter=ide:hwversion=14", "vmdk", "hwversion", "14");
    expect_ok("vhd:type=fixed", "vhd", "type", "fixed");
    expect_ok("raw.gz", "raw.gz", NULL, NULL);
    expect_ok(" vdi ", "vdi", NULL, NULL);
}

static void test_invalid(void)
{
    expect_error("qcow3", "unknown output format \"qcow3\"");
    expect_error("qcow3", "known: qcow2, vmdk, vdi, vhd, vhdx, raw, raw.gz");
    expect_error("vmdk:adapter=scsi", "\"scsi\" is not one of: lsilogic, buslogic, ide, legacyESX");
    expect_error("vmdk:hwversion=99", "not a whole number from 3 to 21");
    expect_error("vmdk:hwversion=4x", "not a whole number");
    expect_error("vhd:size=1", "vhd has no option \"size\" (its options: type)");
    expect_error("raw:x=1", "its options: none");
    expect_error("vhd:type", "is not KEY=VALUE");
    expect_error("vhd:=fixed", "is not KEY=VALUE");
    expect_error("vhd:type=fixed:type=dynamic", "given twice");
    expect_error("", "unknown output format \"\"");
}

static void test_registry(void)
{
    unsigned n = 0;
    for (const VfWriterOps *const *w = vf_writers; *w; w++, n++) {
        g_assert_nonnull((*w)->open);
        g_assert_nonnull((*w)->write);
        g_assert_nonnull((*w)->summary);
        g_assert_nonnull((*w)->size_rule);
        g_assert_true(vf_writer_find((*w)->name) == *w);
        for (const VfOptionSpec *o = (*w)->options; o && o->key; o++) {
            /* Every default must itself be valid. */
            g_autofree char *spec = g_strdup_printf("%s:%s=%s", (*w)->name, o->key, o->default_value);
            expect_ok(spec, (*w)->name, o->key, o->default_value);
        }
    }
    g_assert_cmpuint(n, ==, 8);
    g_assert_null(vf_writer_find("QCOW2"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/options/valid", test_valid);
    g_test_add_func("/options/invalid", test_invalid);
    g_test_add_func("/options/registry", test_registry);
    return g_test_run();
}
