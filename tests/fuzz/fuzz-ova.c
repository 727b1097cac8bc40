/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz harness for `vmforge verify` (formats/ova-verify.c and the stream
 * VMDK walk of formats/vmdk-check.c): manifest and certificate lines, the
 * descriptor's sizes and references, the VMDK header, markers, grain tables,
 * grain directory and footer. Mutating a tar file would mostly break its
 * header checksums and never reach those parsers, so an input is the members
 * themselves: four little-endian u32 lengths (descriptor, manifest,
 * certificate, first disk), then those bytes, then the second disk (the
 * scratch disk's empty VMDK) if any; the harness wraps them in a valid tar
 * and verifies it. Every input must give a verdict (a
 * list of problems, or an error with a message), never a crash, a hang or
 * unbounded memory; every problem line names a member and is bounded.
 *
 * Seeds are real outputs: the "ova" writer's appliances of a small disk
 * (with a scratch disk; one signed with a key made here), taken apart.
 */
#include "engine.h"
#include "fuzz-main.h"
#include "ova.h"

#include <archive.h>
#include <archive_entry.h>
#include <glib/gstdio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/mman.h>
#include <unistd.h>

/* A problem line longer than this quotes too much of its input. */
#define MAX_PROBLEM_LEN 1024u
/* Largest input the mutations make (the seeds are a few hundred KiB). */
#define SEED_MAX_INPUT (512u * 1024u)
/* Mutations per run; FUZZ_ITERATIONS overrides (scripts/test.sh sets fewer
 * for the sanitizer build, where every allocation is traced). */
#define ITERATIONS 20000u
/* The input's lengths: descriptor, manifest, certificate, first disk. */
#define N_LENGTHS 4u
#define PREFIX    (4u * N_LENGTHS)

static void add_member(struct archive *a, const char *name, const uint8_t *data, size_t len)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)len);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    if (archive_write_header(a, e) != ARCHIVE_OK ||
        (len && archive_write_data(a, data, len) != (la_ssize_t)len))
        abort();
    archive_entry_free(e);
}

static uint32_t take_len(const uint8_t *data, size_t size, size_t at, size_t left)
{
    uint32_t v = at + 4 <= size ? vf_get_le32(data + at) : 0;
    return (uint32_t)MIN((size_t)v, left);
}

/* FUZZ_OVA_STATS=1: how often each kind of problem came up (the first
 * words of each line, numbers dropped), to see what the mutations reach. */
static GHashTable *stats;

static void count_problem(const char *s)
{
    g_autoptr(GString) kind = g_string_new(NULL);
    for (const char *c = s; *c && kind->len < 48; c++)
        if (!g_ascii_isdigit(*c))
            g_string_append_c(kind, *c);
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(stats, kind->str));
    g_hash_table_insert(stats, g_strdup(kind->str), GUINT_TO_POINTER(n + 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = MIN(size, PREFIX);
    size_t l[N_LENGTHS];
    for (unsigned i = 0; i < N_LENGTHS; i++) {
        l[i] = take_len(data, size, 4u * i, size - off);
        off += l[i];
    }
    const uint8_t *p = data + MIN(size, PREFIX);
    int fd = memfd_create("fuzz-ova", MFD_CLOEXEC);
    struct archive *a = archive_write_new();
    if (fd < 0 || archive_write_set_format_gnutar(a) != ARCHIVE_OK ||
        archive_write_open_fd(a, fd) != ARCHIVE_OK)
        abort();
    add_member(a, "app.ovf", p, l[0]);
    add_member(a, "app.mf", p + l[0], l[1]);
    if (l[2])
        add_member(a, "app.cert", p + l[0] + l[1], l[2]);
    add_member(a, "app-disk1.vmdk", p + l[0] + l[1] + l[2], l[3]);
    if (size > off)
        add_member(a, "app-disk2.vmdk", data + off, size - off);
    archive_write_free(a);

    g_autofree char *path = g_strdup_printf("/proc/self/fd/%d", fd);
    g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) err = NULL;
    if (vf_ova_verify(path, NULL, problems, &err) < 0 && (!err || !err->message[0]))
        abort();
    for (guint i = 0; i < problems->len; i++) {
        const char *s = problems->pdata[i];
        if (!s[0] || strlen(s) > MAX_PROBLEM_LEN) {
            fprintf(stderr, "bad problem line (%zu bytes): %.200s\n", strlen(s), s);
            abort();
        }
        if (stats)
            count_problem(s);
    }
    close(fd);
    return 0;
}

/* ---- seeds: real appliances ------------------------------------------------ */

/* A key and a self-signed certificate in dir (key.pem, cert.pem). */
static void make_signer_files(const char *dir)
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 86400);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"vmforge fuzz", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    if (!key || X509_sign(x, key, EVP_sha256()) == 0)
        abort();
    g_autofree char *kp = g_build_filename(dir, "key.pem", NULL);
    g_autofree char *cp = g_build_filename(dir, "cert.pem", NULL);
    FILE *f = fopen(kp, "w");
    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    f = fopen(cp, "w");
    PEM_write_X509(f, x);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(key);
}

/* A small disk: a text run and some pseudo-random bytes. */
static char *make_disk(const char *dir)
{
    char *path = g_build_filename(dir, "disk.raw", NULL);
    GByteArray *b = g_byte_array_new();
    g_byte_array_set_size(b, 3 * VF_MIB);
    memset(b->data, 0, b->len);
    for (guint i = 0; i < 200000; i++)
        b->data[i] = (uint8_t) "vmforge fuzz seed\n"[i % 18];
    GRand *r = g_rand_new_with_seed(7);
    for (guint i = 0; i < 70000; i++)
        b->data[2 * VF_MIB + i] = (uint8_t)g_rand_int(r);
    g_rand_free(r);
    if (!g_file_set_contents(path, (const char *)b->data, b->len, NULL))
        abort();
    g_byte_array_free(b, true);
    return path;
}

/* Writes an OVA of disk into dir/name/app.ova with the "ova" writer (every
 * seed's members are app.ovf, app.mf... as the harness names them). */
static char *make_ova(const char *dir, const char *disk, const char *name, VfOvaParams *p)
{
    g_autofree char *sub = g_build_filename(dir, name, NULL);
    g_autofree char *path = g_build_filename(sub, "app.ova", NULL);
    if (g_mkdir(sub, 0700) < 0)
        abort();
    const VfWriterOps *ops = NULL;
    GHashTable *opts = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(VfSource) src = NULL;
    g_autoptr(GArray) arts = NULL;
    VfConvertOptions o = {.jobs = 1, .sink_flags = VF_SINK_NO_SYNC};
    if (vf_writer_parse_spec("ova", &ops, &opts, &err) < 0 ||
        vf_source_open(disk, 0, &src, &err) < 0)
        goto fail;
    VfOutputSpec out = {ops, opts, path, p};
    if (vf_convert(src, &out, 1, &o, &arts, &err) < 0)
        goto fail;
    g_hash_table_unref(opts);
    return g_steal_pointer(&path);
fail:
    fprintf(stderr, "seed %s: %s\n", name, err ? err->message : "?");
    exit(1);
}

/* The OVA's members in the harness's input layout. */
static GByteArray *seed_of(const char *ova)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, ova, 1 << 16) != ARCHIVE_OK)
        abort();
    GByteArray *part[N_LENGTHS + 1];
    for (unsigned i = 0; i <= N_LENGTHS; i++)
        part[i] = g_byte_array_new();
    struct archive_entry *e;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        const char *n = archive_entry_pathname(e);
        int k = g_str_has_suffix(n, ".ovf")         ? 0
                : g_str_has_suffix(n, ".mf")        ? 1
                : g_str_has_suffix(n, ".cert")      ? 2
                : g_str_has_suffix(n, "disk1.vmdk") ? 3
                : g_str_has_suffix(n, "disk2.vmdk") ? 4
                                                    : -1;
        uint8_t buf[65536];
        la_ssize_t got;
        while ((got = archive_read_data(a, buf, sizeof buf)) > 0)
            if (k >= 0)
                g_byte_array_append(part[k], buf, (guint)got);
    }
    archive_read_free(a);
    GByteArray *s = g_byte_array_new();
    for (unsigned i = 0; i < N_LENGTHS; i++) {
        uint8_t le[4];
        vf_put_le32(le, part[i]->len);
        g_byte_array_append(s, le, 4);
    }
    for (unsigned i = 0; i <= N_LENGTHS; i++) {
        g_byte_array_append(s, part[i]->data, part[i]->len);
        g_byte_array_free(part[i], true);
    }
    return s;
}

/* Real appliances of a small disk: plain, signed, and SHA-1 VirtualBox. */
static GPtrArray *make_seeds(const char *dir)
{
    g_autofree char *disk = make_disk(dir);
    g_autofree char *pdir = g_build_filename(VMF_FUZZ_TEMPLATES, "profiles", NULL);
    g_autoptr(VfOvfProfile) vmware = NULL, vbox = NULL;
    g_autoptr(GError) err = NULL;
    if (vf_ovf_profile_load(pdir, "vmware", &vmware, &err) < 0 ||
        vf_ovf_profile_load(pdir, "virtualbox", &vbox, &err) < 0) {
        fprintf(stderr, "profiles: %s\n", err->message);
        exit(1);
    }
    make_signer_files(dir);
    g_autofree char *kp = g_build_filename(dir, "key.pem", NULL);
    g_autofree char *cp = g_build_filename(dir, "cert.pem", NULL);
    g_autoptr(VfOvaSigner) signer = NULL;
    if (vf_ova_signer_load(kp, cp, &signer, &err) < 0)
        abort();
    VfOvaParams plain = {
        .profile = vmware, .scratch_capacity = VF_GIB, .ovf.vcpus = 2, .ovf.memory_mib = 2048};
    VfOvaParams signed_ = plain;
    signed_.signer = signer;
    VfOvaParams sha1 = {.profile = vbox, .manifest = "sha1", .ovf.vcpus = 1, .ovf.memory_mib = 512};
    GPtrArray *seeds = g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref);
    const char *names[] = {"plain", "signed", "sha1"};
    VfOvaParams *params[] = {&plain, &signed_, &sha1};
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *ova = make_ova(dir, disk, names[i], params[i]);
        g_ptr_array_add(seeds, seed_of(ova));
    }
    return seeds;
}

/* Offset of the first disk member in an input (the lengths, clamped). */
static size_t disk_offset(const uint8_t *d, size_t len)
{
    size_t off = MIN(len, PREFIX);
    for (unsigned k = 0; k < N_LENGTHS - 1; k++)
        off += take_len(d, len, 4u * k, len - off);
    return off;
}

/* The seeds are valid: the harness's own tar of each verifies with no
 * problem at all, so mutations start from appliances vmforge accepts. */
static void check_seeds(GPtrArray *seeds)
{
    for (guint i = 0; i < seeds->len; i++) {
        GByteArray *s = seeds->pdata[i];
        size_t off = disk_offset(s->data, s->len);
        if (off >= s->len || memcmp(s->data + off, "KDMV", 4) != 0) {
            fprintf(stderr, "seed %u: no VMDK after the members\n", i);
            exit(1);
        }
        GHashTable *saved = stats;
        g_autoptr(GHashTable) found = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        stats = found;
        LLVMFuzzerTestOneInput(s->data, s->len);
        stats = saved;
        if (g_hash_table_size(found)) {
            g_autofree gpointer *kinds = g_hash_table_get_keys_as_array(found, NULL);
            fprintf(stderr, "seed %u: vmforge verify finds problems in a real appliance: %s\n", i,
                    (char *)kinds[0]);
            exit(1);
        }
    }
}

/* Where a mutation lands: anywhere, the text members, or the first or last
 * 4 KiB of the disk (header and descriptor; grain directory, footer and
 * end-of-stream marker). */
static size_t pick_offset(GRand *r, size_t disk, size_t len)
{
    size_t at = (size_t)g_rand_int_range(r, 0, (gint32)len);
    switch (g_rand_int_range(r, 0, 4)) {
    case 1:
        return disk ? at % disk : at;
    case 2:
        return MIN(disk + at % 4096, len - 1);
    case 3:
        return len - 1 - at % MIN(len, 4096);
    default:
        return at;
    }
}

/* A mutation of a seed: a few byte changes, sometimes a cut, sometimes a
 * changed member length. */
static size_t mutate(GRand *r, const GByteArray *seed, uint8_t *buf)
{
    size_t len = MIN(seed->len, SEED_MAX_INPUT);
    memcpy(buf, seed->data, len);
    size_t disk = disk_offset(buf, len);
    if (g_rand_int_range(r, 0, 8) == 0)
        len = (size_t)g_rand_int_range(r, 0, (gint32)len + 1);
    unsigned flips = (unsigned)g_rand_int_range(r, 1, 5);
    for (unsigned f = 0; f < flips && len; f++) {
        size_t at = pick_offset(r, MIN(disk, len), len);
        buf[at] = g_rand_int_range(r, 0, 4) ? (uint8_t)g_rand_int(r) : (uint8_t)(buf[at] ^ 1);
    }
    if (len >= PREFIX && g_rand_int_range(r, 0, 16) == 0)
        vf_put_le32(buf + 4 * g_rand_int_range(r, 0, N_LENGTHS), g_rand_int(r) % 4096);
    return len;
}

int main(int argc, char **argv)
{
    /* A GLib critical (a precondition broken inside vmforge) is a finding. */
    g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
    int files = fuzz_run_files(argc, argv);
    if (files < 0)
        return 1;
    if (g_getenv("FUZZ_OVA_STATS"))
        stats = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autofree char *dir = g_dir_make_tmp("fuzz-ova-XXXXXX", NULL);
    GPtrArray *seeds = make_seeds(dir);
    check_seeds(seeds);
    unsigned runs = (unsigned)files + seeds->len;
    GRand *r = g_rand_new_with_seed(20261202);
    uint8_t *buf = g_malloc(SEED_MAX_INPUT);
    const char *env = g_getenv("FUZZ_ITERATIONS");
    unsigned iterations = env ? (unsigned)g_ascii_strtoull(env, NULL, 10) : ITERATIONS;
    for (unsigned it = 0; it < iterations; it++) {
        const GByteArray *s = seeds->pdata[g_rand_int_range(r, 0, (gint32)seeds->len)];
        LLVMFuzzerTestOneInput(buf, mutate(r, s, buf));
        runs++;
    }
    g_free(buf);
    g_rand_free(r);
    if (stats) {
        GHashTableIter hi;
        gpointer k, n;
        g_hash_table_iter_init(&hi, stats);
        while (g_hash_table_iter_next(&hi, &k, &n))
            fprintf(stderr, "%6u  %s\n", GPOINTER_TO_UINT(n), (char *)k);
        g_hash_table_unref(stats);
    }
    g_ptr_array_unref(seeds);
    const char *rm[] = {"rm", "-rf", dir, NULL};
    g_spawn_sync(NULL, (char **)rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
    printf("1..1\nok 1 - %u inputs\n", runs);
    return 0;
}
