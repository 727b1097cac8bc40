/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Format probing: every image type we refuse is named; raw disks pass. */
#include "source.h"

static void check(const char *label, const uint8_t *head, size_t len, const char *expect)
{
    const char *got = vf_probe_format(head, len, NULL, 0);
    if (!expect) {
        g_assert_null(got);
        return;
    }
    g_test_message("%s → %s", label, got ? got : "(raw)");
    g_assert_nonnull(got);
    g_assert_nonnull(strstr(got, expect));
}

static void test_magics(void)
{
    g_autofree uint8_t *b = g_malloc0(64 * 1024);
    check("zeros", b, 64 * 1024, NULL);
    memcpy(b, "QFI\xfb\0\0\0\3", 8);
    check("qcow2", b, 64 * 1024, "qcow2");
    memcpy(b, "QFI\xfb\0\0\0\1", 8);
    check("qcow1", b, 64 * 1024, "qcow (version 1)");
    memset(b, 0, 16);
    memcpy(b, "KDMV", 4);
    check("vmdk", b, 64 * 1024, "VMDK sparse");
    memset(b, 0, 16);
    memcpy(b, "# Disk DescriptorFile", 21);
    check("vmdk-desc", b, 64 * 1024, "VMDK descriptor");
    memset(b, 0, 64);
    vf_put_le32(b + 0x40, 0xBEDA107F);
    check("vdi", b, 64 * 1024, "VDI");
    memset(b, 0, 0x48);
    memcpy(b, "conectix", 8);
    check("vhd", b, 64 * 1024, "dynamic VHD");
    memset(b, 0, 8);
    memcpy(b, "vhdxfile", 8);
    check("vhdx", b, 64 * 1024, "VHDX");
    memset(b, 0, 8);
    memcpy(b, "\x1f\x8b\x08", 3);
    check("gzip", b, 64 * 1024, "gzip");
    memset(b, 0, 8);
    memcpy(b + 257, "ustar", 5);
    check("tar", b, 64 * 1024, "tar archive");
    memset(b + 257, 0, 5);
    memcpy(b + 0x8001, "CD001", 5);
    check("iso", b, 64 * 1024, "ISO 9660");
    memset(b + 0x8001, 0, 5);
    /* An MBR boot sector is a raw disk. */
    b[510] = 0x55;
    b[511] = 0xaa;
    check("mbr", b, 64 * 1024, NULL);
}

static void test_fixed_vhd_tail(void)
{
    uint8_t head[512] = {0}, tail[1024] = {0};
    memcpy(tail + 512, "conectix", 8);
    const char *got = vf_probe_format(head, sizeof head, tail, sizeof tail);
    g_assert_nonnull(got);
    g_assert_nonnull(strstr(got, "fixed VHD"));
}

static void test_short_buffers(void)
{
    /* Short files must not be read past their end. */
    const uint8_t one[1] = {0x1f};
    g_assert_null(vf_probe_format(one, 1, NULL, 0));
    g_assert_null(vf_probe_format(one, 0, NULL, 0));
}

static void test_is_zero(void)
{
    g_autofree uint8_t *b = g_malloc0(VF_UNIT_SIZE + 1);
    g_assert_true(vf_is_zero(b, VF_UNIT_SIZE));
    size_t positions[] = {0, 7, 15, 16, 4095, VF_UNIT_SIZE - 1};
    for (size_t i = 0; i < G_N_ELEMENTS(positions); i++) {
        b[positions[i]] = 1;
        g_assert_false(vf_is_zero(b, VF_UNIT_SIZE));
        b[positions[i]] = 0;
    }
    /* Unaligned start. */
    g_assert_true(vf_is_zero(b + 1, VF_UNIT_SIZE));
    g_assert_true(vf_is_zero(b, 3));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/probe/magics", test_magics);
    g_test_add_func("/probe/fixed-vhd-tail", test_fixed_vhd_tail);
    g_test_add_func("/probe/short-buffers", test_short_buffers);
    g_test_add_func("/zero/is-zero", test_is_zero);
    return g_test_run();
}
