/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz harness for the output specification parser. Built with libFuzzer
 * (-fsanitize=fuzzer, defining VF_LIBFUZZER) it is a fuzzer; otherwise its
 * main() replays a fixed corpus plus seeded random mutations, so it also
 * runs as a plain test (under the sanitizer tier).
 */
#include "fuzz-main.h"
#include "writer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *spec = g_strndup((const char *)data, size);
    const VfWriterOps *ops = NULL;
    g_autoptr(GHashTable) opts = NULL;
    g_autoptr(GError) err = NULL;
    int r = vf_writer_parse_spec(spec, &ops, &opts, &err);
    /* Either a table with every option present, or an error message. */
    if (r == 0) {
        for (const VfOptionSpec *o = ops->options; o && o->key; o++)
            if (!g_hash_table_contains(opts, o->key))
                abort();
    } else if (!err || !err->message[0]) {
        abort();
    }
    return 0;
}

static const char *const corpus[] = {
    "qcow2", "qcow2:compress=off", "vmdk:adapter=ide:hwversion=14:subformat=monolithicSparse",
    "vhd:type=fixed", "raw.gz", "vmdk:hwversion=-1", "vmdk:hwversion=99999999999999999999",
    ":::", "=", "vhd:type=", "vhd:=x", "\xff\xfe", "vdi:a=b=c", NULL,
};

int main(int argc, char **argv)
{
    return fuzz_main(argc, argv, corpus, 64);
}
