/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz harness for the input format probe (see fuzz-spec.c). */
#include "fuzz-main.h"
#include "source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t tail = size >= 512 ? 512 : 0;
    const char *what = vf_probe_format(data, size, tail ? data + size - tail : NULL, tail);
    if (what && !what[0])
        abort();
    return 0;
}

static const char *const corpus[] = {
    "QFI\xfb", "KDMV", "conectix", "\x1f\x8b", "# Disk DescriptorFile", "vhdxfile", "QED", "", NULL,
};

int main(int argc, char **argv)
{
    return fuzz_main(argc, argv, corpus, 70000);
}
