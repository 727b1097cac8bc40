/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Plain-test driver for the fuzz harnesses: runs the corpus, files given on
 * the command line, and seeded random mutations of the corpus (deterministic,
 * so a failure reproduces). Under libFuzzer this file is not used.
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ITERATIONS 20000

/* Runs each file named on the command line (reproducers); returns how
 * many, or -1 when one cannot be read. */
static inline int fuzz_run_files(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        g_autofree char *data = NULL;
        gsize len = 0;
        if (!g_file_get_contents(argv[i], &data, &len, NULL)) {
            fprintf(stderr, "cannot read %s\n", argv[i]);
            return -1;
        }
        LLVMFuzzerTestOneInput((const uint8_t *)data, len);
    }
    return argc - 1;
}

static inline int fuzz_main(int argc, char **argv, const char *const *corpus, size_t max_len)
{
    int files = fuzz_run_files(argc, argv);
    if (files < 0)
        return 1;
    unsigned runs = (unsigned)files;
    GRand *rand = g_rand_new_with_seed(20261121);
    uint8_t *buf = g_malloc0(max_len);
    size_t n_corpus = 0;
    while (corpus[n_corpus])
        n_corpus++;
    for (size_t i = 0; i < n_corpus; i++) {
        LLVMFuzzerTestOneInput((const uint8_t *)corpus[i], strlen(corpus[i]));
        runs++;
    }
    for (unsigned it = 0; it < FUZZ_ITERATIONS; it++) {
        const char *seed = corpus[g_rand_int_range(rand, 0, (gint32)n_corpus)];
        size_t len = (size_t)g_rand_int_range(rand, 0, (gint32)MIN(max_len, 600));
        if (g_rand_boolean(rand) && max_len > 600)
            len = (size_t)g_rand_int_range(rand, 0, (gint32)max_len);
        memset(buf, 0, max_len);
        memcpy(buf, seed, MIN(strlen(seed), len));
        unsigned flips = (unsigned)g_rand_int_range(rand, 0, 8);
        for (unsigned f = 0; f < flips && len; f++)
            buf[g_rand_int_range(rand, 0, (gint32)len)] = (uint8_t)g_rand_int(rand);
        LLVMFuzzerTestOneInput(buf, len);
        runs++;
    }
    g_free(buf);
    g_rand_free(rand);
    printf("1..1\nok 1 - %u inputs\n", runs);
    return 0;
}
