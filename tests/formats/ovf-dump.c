/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ovf-dump PROFILE_DIR PROFILE [SCRATCH_PER_CORE_BYTES VCPUS] — prints the
 * OVF descriptor vmforge builds for a fixed example disk, so tests can check
 * it with independent tools (xmllint and the DMTF schemas).
 * ovf-dump --manifest-line ALGORITHM NAME HEX prints one manifest line;
 * ovf-dump --tar-header NAME SIZE prints the OVA tar header for a member.
 */
#include "ova.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--manifest-line") == 0) {
        g_autofree char *line = vf_ovf_manifest_line(argv[2], argv[3], argv[4]);
        fputs(line, stdout);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "--tar-header") == 0) {
        uint8_t hdr[512];
        g_autoptr(GError) terr = NULL;
        if (vf_ova_tar_header(argv[2], g_ascii_strtoull(argv[3], NULL, 10), 0, hdr, &terr) < 0) {
            fprintf(stderr, "%s\n", terr->message);
            return 1;
        }
        fwrite(hdr, 1, sizeof hdr, stdout);
        return 0;
    }
    if (argc != 3 && argc != 5) {
        fprintf(stderr, "usage: %s PROFILE_DIR PROFILE [SCRATCH_PER_CORE VCPUS]\n", argv[0]);
        return 2;
    }
    g_autoptr(GError) err = NULL;
    g_autoptr(VfOvfProfile) profile = NULL;
    if (vf_ovf_profile_load(argv[1], argv[2], &profile, &err) < 0) {
        fprintf(stderr, "%s\n", err->message);
        return 1;
    }
    /* As the ova writer describes its disk and the scratch disk. */
    VfOvfDisk disks[2] = {
        {.href = "golden-el9-disk1.vmdk",
         .file_size = 1234567168,
         .capacity = 10ull << 30,
         .populated = 2ull << 30,
         .label = "Boot disk"},
        {.label = "Scratch disk, created empty at deploy time"},
    };
    VfOvfParams params = {
        .name = "golden-el9",
        .disks = disks,
        .n_disks = 1,
        .vcpus = 2,
        .memory_mib = 2048,
        .os = "rhel9",
        .product = "Golden EL9",
        .vendor = "vmforge tests",
        .version = "1.0.0",
    };
    if (argc == 5) {
        params.vcpus = (unsigned)strtoul(argv[4], NULL, 10);
        if (vf_ovf_scratch_per_core(g_ascii_strtoull(argv[3], NULL, 10), params.vcpus,
                                    &disks[1].capacity, &err) < 0) {
            fprintf(stderr, "%s\n", err->message);
            return 1;
        }
        params.n_disks = disks[1].capacity ? 2 : 1;
    }
    g_autofree char *xml = NULL;
    size_t len = 0;
    if (vf_ovf_build(profile, &params, &xml, &len, &err) < 0) {
        fprintf(stderr, "%s\n", err->message);
        return 1;
    }
    fwrite(xml, 1, len, stdout);
    return 0;
}
