/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ova.c — OVF appliances in one tar file, the VMDK streamed in. See ova.h. */
#include "ova.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

struct VfOvaSigner {
    EVP_PKEY *key;
    X509 *cert;
    char *cert_pem;
};

static char *openssl_error(void)
{
    unsigned long e = ERR_get_error();
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return g_strdup(e ? buf : "unknown error");
}

void vf_ova_signer_free(VfOvaSigner *s)
{
    if (!s)
        return;
    EVP_PKEY_free(s->key);
    X509_free(s->cert);
    g_free(s->cert_pem);
    g_free(s);
}

int vf_ova_signer_load(const char *key_path, const char *cert_path, VfOvaSigner **out,
                       GError **error)
{
    g_autoptr(VfOvaSigner) s = g_new0(VfOvaSigner, 1);
    FILE *f = fopen(key_path, "re");
    if (!f)
        return vf_set_errno(error, VF_ERROR_INPUT, errno, "signing key %s", key_path);
    s->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!s->key) {
        g_autofree char *why = openssl_error();
        g_set_error(error, VF_ERROR, VF_ERROR_INPUT,
                    "%s is not a PEM private key (an encrypted key is not supported): %s", key_path,
                    why);
        return -EINVAL;
    }
    gsize len = 0;
    g_autoptr(GError) err = NULL;
    if (!g_file_get_contents(cert_path, &s->cert_pem, &len, &err)) {
        g_set_error(error, VF_ERROR, VF_ERROR_INPUT, "certificate: %s", err->message);
        return -ENOENT;
    }
    BIO *bio = BIO_new_mem_buf(s->cert_pem, (int)len);
    s->cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!s->cert) {
        g_autofree char *why = openssl_error();
        g_set_error(error, VF_ERROR, VF_ERROR_INPUT, "%s is not a PEM X.509 certificate: %s",
                    cert_path, why);
        return -EINVAL;
    }
    if (X509_check_private_key(s->cert, s->key) != 1) {
        ERR_clear_error();
        g_set_error(error, VF_ERROR, VF_ERROR_INPUT,
                    "the key %s does not belong to the certificate %s", key_path, cert_path);
        return -EINVAL;
    }
    /* Keep only the certificate block, normalised to end with a newline. */
    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, s->cert);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    g_free(s->cert_pem);
    s->cert_pem = g_strndup(data, (gsize)n);
    BIO_free(bio);
    *out = g_steal_pointer(&s);
    return 0;
}

/* Signs data with the manifest's algorithm; returns lowercase hex. */
static int sign_hex(const VfOvaSigner *s, const char *algorithm, const char *data, size_t len,
                    char **hex, GError **error)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t sig_len = 0;
    g_autofree unsigned char *sig = NULL;
    int r = -EIO;
    if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_get_digestbyname(algorithm), NULL, s->key) != 1 ||
        EVP_DigestSignUpdate(ctx, data, len) != 1 || EVP_DigestSignFinal(ctx, NULL, &sig_len) != 1)
        goto out;
    sig = g_malloc(sig_len);
    if (EVP_DigestSignFinal(ctx, sig, &sig_len) != 1)
        goto out;
    *hex = g_malloc(2 * sig_len + 1);
    vf_hex_encode(sig, sig_len, *hex);
    r = 0;
out:
    if (r < 0) {
        g_autofree char *why = openssl_error();
        g_set_error(error, VF_ERROR, VF_ERROR_INTERNAL, "signing the manifest failed: %s", why);
    }
    EVP_MD_CTX_free(ctx);
    return r;
}

#define TAR_BLOCK      512u
#define TAR_EOF_BLOCKS 2u

/*
 * The appliance: the archive's members are NAME.ovf, NAME.mf, NAME.cert
 * (when signing), then each disk's VMDK. The first three are reserved at
 * their final length and written last; each VMDK member is streamed in by a
 * writer (one at a time), which patches its tar header when it ends.
 */
struct VfOvaAppliance {
    VfSink *sink;   /* the archive */
    bool owns_sink; /* opened by vf_ova_appliance_open (else the "ova" writer's) */
    const VfOvfProfile *profile;
    const VfOvaSigner *signer;
    const char *algorithm;
    size_t hex_len;
    int64_t timestamp;
    char *base, *ovf_name, *mf_name, *cert_name;
    VfOvfParams ovf; /* ovf.disks points at disks */
    VfOvfDisk *disks;
    size_t n_disks;
    char **member_hex; /* per disk: the VMDK member's digest once written */
    unsigned next;     /* the disk whose member comes next */
    uint64_t ovf_len, mf_len, cert_len;
    uint64_t mf_offset, cert_offset;
    /* The member being written. */
    VfWriter inner; /* the streamOptimized VMDK writer, writing through view */
    VfDiskInfo inner_disk;
    VfSink *view;
    uint64_t header_offset, populated;
    bool in_member;
    /* What finish wrote, for the "ova" writer's --ovf-dir copies. */
    char *ovf_text, *mf_text, *cert_text;
};

static uint64_t pad_block(uint64_t n)
{
    return VF_ROUND_UP(n, TAR_BLOCK);
}

/* One 512-byte tar header (GNU format, libarchive) for a regular file. */
int vf_ova_tar_header(const char *name, uint64_t size, int64_t mtime, uint8_t out[TAR_BLOCK],
                      GError **error)
{
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    static const size_t cap = 16 * TAR_BLOCK;
    g_autofree uint8_t *buf = g_malloc0(cap);
    size_t used = 0;
    int r = -EIO;
    if (archive_write_set_format_gnutar(a) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK ||
        archive_write_open_memory(a, buf, cap, &used) != ARCHIVE_OK)
        goto out;
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)size);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, mtime, 0);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    if (archive_write_header(a, e) != ARCHIVE_OK || used != TAR_BLOCK)
        goto out;
    memcpy(out, buf, TAR_BLOCK);
    r = 0;
out:
    if (r < 0)
        g_set_error(error, VF_ERROR, VF_ERROR_INTERNAL, "cannot make a tar header for %s: %s", name,
                    archive_error_string(a) ? archive_error_string(a) : "unexpected size");
    archive_entry_free(e);
    archive_write_free(a);
    return r;
}

static int put_member(VfOvaAppliance *a, uint64_t offset, const char *name, const void *data,
                      uint64_t len, GError **error)
{
    uint8_t hdr[TAR_BLOCK];
    int r = vf_ova_tar_header(name, len, a->timestamp, hdr, error);
    if (r >= 0)
        r = vf_sink_pwrite(a->sink, offset, hdr, TAR_BLOCK, error);
    if (r >= 0 && data)
        r = vf_sink_pwrite(a->sink, offset + TAR_BLOCK, data, (size_t)len, error);
    return r;
}

static void appliance_clear(VfOvaAppliance *a)
{
    vf_sink_free(a->view);
    a->view = NULL;
    if (a->inner.ops && a->inner.ops->cleanup && a->inner.priv)
        a->inner.ops->cleanup(&a->inner);
    g_clear_pointer(&a->inner.priv, g_free);
    if (a->inner.options)
        g_clear_pointer(&a->inner.options, g_hash_table_unref);
    if (a->owns_sink)
        vf_sink_free(a->sink);
    a->sink = NULL;
    g_free(a->base);
    g_free(a->ovf_name);
    g_free(a->mf_name);
    g_free(a->cert_name);
    for (size_t i = 0; a->disks && i < a->n_disks; i++)
        g_free((char *)a->disks[i].href);
    g_free(a->disks);
    if (a->member_hex)
        for (size_t i = 0; i < a->n_disks; i++)
            g_free(a->member_hex[i]);
    g_free(a->member_hex);
    g_free(a->ovf_text);
    g_free(a->mf_text);
    g_free(a->cert_text);
}

/* Names the members, reserves the descriptor (at its longest: every number
 * as UINT64_MAX), the manifest (exactly) and the signature, in `sink`. */
/* The appliance's disks: each file disk gets its member name and a
 * manifest line (zeros until its digest is known), sizes to be patched. */
static int appliance_disks(VfOvaAppliance *a, const VfOvfParams *ovf, const char *zeros,
                           GString *mf, GError **error)
{
    a->n_disks = ovf->n_disks;
    if (a->n_disks == 0 || a->n_disks > VF_OVF_MAX_DISKS) {
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE, "an appliance has from 1 to %u disks",
                    VF_OVF_MAX_DISKS);
        return -EINVAL;
    }
    a->disks = g_new0(VfOvfDisk, a->n_disks);
    a->member_hex = g_new0(char *, a->n_disks);
    unsigned nfile = 0;
    for (size_t i = 0; i < a->n_disks; i++) {
        a->disks[i] = ovf->disks[i];
        a->disks[i].href =
            ovf->disks[i].href ? g_strdup_printf("%s-disk%u.vmdk", a->base, ++nfile) : NULL;
        a->disks[i].file_size = UINT64_MAX;
        a->disks[i].populated = UINT64_MAX;
        if (a->disks[i].href) {
            g_autofree char *line = vf_ovf_manifest_line(a->algorithm, a->disks[i].href, zeros);
            g_string_append(mf, line);
        }
    }
    return 0;
}

static int appliance_init(VfOvaAppliance *a, VfSink *sink, const char *file_name,
                          const VfOvfProfile *profile, const VfOvaSigner *signer,
                          const char *manifest, const VfOvfParams *ovf, int64_t timestamp,
                          GError **error)
{
    if (!profile) {
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE,
                    "an OVA needs a hardware profile (--profile vmware, virtualbox, generic...)");
        return -EINVAL;
    }
    a->sink = sink;
    a->profile = profile;
    a->signer = signer;
    a->timestamp = timestamp;
    a->algorithm = manifest ? manifest : profile->manifest;
    if (!g_strv_contains((const char *const *)profile->manifest_allowed, a->algorithm)) {
        g_autofree char *allowed = g_strjoinv(", ", profile->manifest_allowed);
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE, "profile %s takes manifest %s, not \"%s\"",
                    profile->name, allowed, a->algorithm);
        return -EINVAL;
    }
    a->hex_len = vf_digest_hex_len(a->algorithm);
    a->base = g_str_has_suffix(file_name, ".ova") ? g_strndup(file_name, strlen(file_name) - 4)
                                                  : g_strdup(file_name);
    a->ovf_name = g_strdup_printf("%s.ovf", a->base);
    a->mf_name = g_strdup_printf("%s.mf", a->base);
    a->cert_name = g_strdup_printf("%s.cert", a->base);

    a->ovf = *ovf;
    if (!a->ovf.name)
        a->ovf.name = a->base;
    g_autofree char *zeros = g_strnfill(a->hex_len, '0');
    GString *mf = g_string_new(NULL);
    if (appliance_disks(a, ovf, zeros, mf, error) < 0) {
        g_string_free(mf, true);
        return -EINVAL;
    }
    a->ovf.disks = a->disks;
    a->ovf.n_disks = a->n_disks;
    g_autofree char *text = NULL;
    size_t len = 0;
    int r = vf_ovf_build(profile, &a->ovf, &text, &len, error);
    if (r < 0) {
        g_string_free(mf, true);
        return r;
    }
    a->ovf_len = len;
    g_autofree char *l1 = vf_ovf_manifest_line(a->algorithm, a->ovf_name, zeros);
    a->mf_len = strlen(l1) + mf->len;
    g_string_free(mf, true);
    if (signer) {
        /* "SHA256(NAME.mf)= <signature hex>\n" then the certificate; an
         * RSA signature is exactly the key size, others at most that (the
         * rest is padded with newlines after the PEM block). */
        size_t sig_max = (size_t)EVP_PKEY_get_size(signer->key);
        g_autofree char *sig = g_strnfill(2 * sig_max, '0');
        g_autofree char *line = vf_ovf_manifest_line(a->algorithm, a->mf_name, sig);
        a->cert_len = strlen(line) + strlen(signer->cert_pem);
    }
    vf_sink_will_patch(sink);
    a->mf_offset = TAR_BLOCK + pad_block(a->ovf_len);
    a->cert_offset = a->mf_offset + TAR_BLOCK + pad_block(a->mf_len);
    uint64_t end = a->cert_offset + (a->cert_len ? TAR_BLOCK + pad_block(a->cert_len) : 0);
    return vf_sink_write_zeros(sink, end, error);
}

/* Starts the next disk's VMDK member for writer `w`: its tar header is
 * reserved and an inner streamOptimized VMDK writer writes through a view
 * of the archive (also into `tee` when given). */
static int member_begin(VfOvaAppliance *a, unsigned index, VfWriter *w, VfSink *tee, GError **error)
{
    while (a->next < a->n_disks && !a->disks[a->next].href)
        a->next++;
    if (a->in_member || index != a->next || index >= a->n_disks) {
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE,
                    "appliance %s: disk %u is not the next to be written", a->base, index + 1);
        return -EINVAL;
    }
    if (a->disks[index].capacity != VF_ROUND_UP(w->disk->size, VF_SECTOR_SIZE)) {
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE,
                    "appliance %s: disk %u has %" G_GUINT64_FORMAT
                    " bytes, not the %" G_GUINT64_FORMAT " its descriptor was planned with",
                    a->base, index + 1, w->disk->size, a->disks[index].capacity);
        return -EINVAL;
    }
    g_autofree char *spec =
        g_strdup_printf("vmdk:subformat=streamOptimized:adapter=%s", a->profile->vmdk_adapter);
    const VfWriterOps *ops = NULL;
    GHashTable *opts = NULL;
    int r = vf_writer_parse_spec(spec, &ops, &opts, error);
    if (r < 0) {
        g_prefix_error(error, "profile %s: ", a->profile->name);
        return r;
    }
    a->header_offset = vf_sink_offset(a->sink);
    r = vf_sink_write_zeros(a->sink, TAR_BLOCK, error);
    if (r < 0) {
        g_hash_table_unref(opts);
        return r;
    }
    a->in_member = true;
    a->populated = 0;
    a->inner = (VfWriter){.ops = ops, .options = opts, .priv = g_malloc0(ops->priv_size)};
    a->inner_disk = *w->disk;
    a->inner_disk.file_name = a->disks[index].href;
    a->inner.disk = &a->inner_disk;
    a->view = vf_sink_new_view(a->sink, a->algorithm);
    if (tee)
        vf_sink_view_tee(a->view, tee);
    a->inner.sink = a->view;
    r = ops->open(&a->inner, error);
    if (r < 0)
        return r;
    w->needs = a->inner.needs;
    w->virtual_size = a->inner.virtual_size;
    return 0;
}

static int member_write(VfOvaAppliance *a, const VfBatch *b, GError **error)
{
    if (!b->zero_span)
        for (unsigned i = 0; i < b->n_units; i++)
            if (!b->units[i].zero)
                a->populated += VF_UNIT_SIZE;
    return a->inner.ops->write(&a->inner, b, error);
}

/* Ends the member: the VMDK's trailer, its padding and its tar header. */
static int member_end(VfOvaAppliance *a, GError **error)
{
    int r = a->inner.ops->finish(&a->inner, error);
    if (r < 0)
        return r;
    char hex[129];
    uint64_t len = 0;
    vf_sink_view_finish(a->view, hex, &len);
    g_clear_pointer(&a->view, vf_sink_free);
    a->inner.sink = NULL;
    VfOvfDisk *d = &a->disks[a->next];
    d->file_size = len;
    d->populated = a->populated;
    a->member_hex[a->next] = g_strdup(hex);
    r = vf_sink_write_zeros(a->sink, pad_block(len) - len, error);
    if (r >= 0)
        r = put_member(a, a->header_offset, d->href, NULL, len, error);
    if (r < 0)
        return r;
    if (a->inner.ops->cleanup)
        a->inner.ops->cleanup(&a->inner);
    g_clear_pointer(&a->inner.priv, g_free);
    g_clear_pointer(&a->inner.options, g_hash_table_unref);
    a->inner.ops = NULL;
    a->in_member = false;
    a->next++;
    return 0;
}

/* Streams disk `index` as an empty streamOptimized VMDK (no grains, a few
 * KiB): the scratch disk with a fileRef, which importers that refuse a Disk
 * without one (virt-v2v) take. Its identifiers derive from its capacity. */
static int member_empty(VfOvaAppliance *a, unsigned index, const VfDiskInfo *like, VfSink *tee,
                        GError **error)
{
    VfDiskInfo info = *like;
    info.size = a->disks[index].capacity;
    uint8_t seed[24] = "vmforge empty disk";
    vf_put_be64(seed + 16, info.size);
    gsize len = sizeof info.identity;
    g_autoptr(GChecksum) ck = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(ck, seed, sizeof seed);
    g_checksum_get_digest(ck, info.identity, &len);
    VfWriter w = {.disk = &info};
    int r = member_begin(a, index, &w, tee, error);
    if (r < 0) {
        g_prefix_error(error, "scratch disk as an empty VMDK (larger ones can be defined for the "
                              "hypervisor to create at deploy time): ");
        return r;
    }
    VfBatch span = {.length = info.size, .zero_span = true};
    r = member_write(a, &span, error);
    return r < 0 ? r : member_end(a, error);
}

/* Every member is in: the end-of-archive blocks, then the descriptor (with
 * the real numbers, padded to its reserved length), the manifest and the
 * signature, each under its tar header. */
static int appliance_finish(VfOvaAppliance *a, GError **error)
{
    while (a->next < a->n_disks && !a->disks[a->next].href)
        a->next++;
    if (a->in_member || a->next < a->n_disks) {
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE, "appliance %s: disk %u was not written",
                    a->base, a->next + 1);
        return -EINVAL;
    }
    int r = vf_sink_write_zeros(a->sink, TAR_EOF_BLOCKS * TAR_BLOCK, error);
    if (r < 0)
        return r;
    g_autofree char *ovf = NULL;
    size_t ovf_len = 0;
    r = vf_ovf_build(a->profile, &a->ovf, &ovf, &ovf_len, error);
    if (r < 0)
        return r;
    g_return_val_if_fail(ovf_len <= a->ovf_len, -EINVAL);
    a->ovf_text = g_malloc(a->ovf_len);
    memcpy(a->ovf_text, ovf, ovf_len);
    memset(a->ovf_text + ovf_len, ' ', a->ovf_len - ovf_len);
    if (a->ovf_len > ovf_len)
        a->ovf_text[a->ovf_len - 1] = '\n';

    g_autofree char *ovf_hex = vf_digest_hex(a->algorithm, a->ovf_text, a->ovf_len);
    GString *mf = g_string_new(NULL);
    g_autofree char *l1 = vf_ovf_manifest_line(a->algorithm, a->ovf_name, ovf_hex);
    g_string_append(mf, l1);
    for (size_t i = 0; i < a->n_disks; i++)
        if (a->disks[i].href) {
            g_autofree char *line =
                vf_ovf_manifest_line(a->algorithm, a->disks[i].href, a->member_hex[i]);
            g_string_append(mf, line);
        }
    a->mf_text = g_string_free(mf, false);
    g_return_val_if_fail(strlen(a->mf_text) == a->mf_len, -EINVAL);

    if (a->cert_len) {
        g_autofree char *sig = NULL;
        r = sign_hex(a->signer, a->algorithm, a->mf_text, a->mf_len, &sig, error);
        if (r < 0)
            return r;
        g_autofree char *line = vf_ovf_manifest_line(a->algorithm, a->mf_name, sig);
        size_t used = strlen(line) + strlen(a->signer->cert_pem);
        g_return_val_if_fail(used <= a->cert_len, -EINVAL);
        a->cert_text = g_malloc(a->cert_len);
        memcpy(a->cert_text, line, strlen(line));
        memcpy(a->cert_text + strlen(line), a->signer->cert_pem, strlen(a->signer->cert_pem));
        memset(a->cert_text + used, '\n', a->cert_len - used);
        r = put_member(a, a->cert_offset, a->cert_name, a->cert_text, a->cert_len, error);
    }
    if (r >= 0)
        r = put_member(a, 0, a->ovf_name, a->ovf_text, a->ovf_len, error);
    if (r >= 0)
        r = put_member(a, a->mf_offset, a->mf_name, a->mf_text, a->mf_len, error);
    return r;
}

/* ---- the "ova" writer: one disk (and an optional scratch disk) ---------- */

typedef struct Ova {
    VfOvaAppliance app;
    /* --ovf-dir: the members as files (NULL when not asked for) */
    VfSink *dir_ovf, *dir_mf, *dir_cert, *dir_vmdk, *dir_scratch;
} Ova;

static int open_dir_sink(const VfOvaParams *p, const char *name, VfSink **out, GError **error)
{
    g_autofree char *path = g_build_filename(p->ovf_dir, name, NULL);
    return vf_sink_open(path, p->sink_flags, out, error);
}

static int ova_open(VfWriter *w, GError **error)
{
    Ova *o = w->priv;
    static const VfOvaParams none;
    const VfOvaParams *p = w->extra ? w->extra : &none; /* appliance_init wants a profile */
    bool scratch_file = !p->scratch_at_deploy;
    VfOvfDisk disks[2] = {
        {.href = "", .capacity = VF_ROUND_UP(w->disk->size, VF_SECTOR_SIZE), .label = "Boot disk"},
        {.href = scratch_file ? "" : NULL,
         .capacity = p->scratch_capacity,
         .label = scratch_file ? "Scratch disk (empty)"
                               : "Scratch disk, created empty at deploy time"},
    };
    VfOvfParams ovf = p->ovf;
    ovf.name = NULL;
    ovf.disks = disks;
    ovf.n_disks = p->scratch_capacity ? 2 : 1;
    int r = appliance_init(&o->app, w->sink, w->disk->file_name, p->profile, p->signer, p->manifest,
                           &ovf, w->disk->timestamp, error);
    if (r < 0)
        return r;
    if (p->ovf_dir) {
        /* Made now so that an existing file stops the run before any work. */
        VfOvaAppliance *a = &o->app;
        if ((r = open_dir_sink(p, a->ovf_name, &o->dir_ovf, error)) < 0 ||
            (r = open_dir_sink(p, a->mf_name, &o->dir_mf, error)) < 0 ||
            (p->signer && (r = open_dir_sink(p, a->cert_name, &o->dir_cert, error)) < 0) ||
            (r = open_dir_sink(p, a->disks[0].href, &o->dir_vmdk, error)) < 0 ||
            (a->n_disks > 1 && a->disks[1].href &&
             (r = open_dir_sink(p, a->disks[1].href, &o->dir_scratch, error)) < 0))
            return r;
    }
    return member_begin(&o->app, 0, w, o->dir_vmdk, error);
}

static int ova_write(VfWriter *w, const VfBatch *b, GError **error)
{
    Ova *o = w->priv;
    return member_write(&o->app, b, error);
}

static int ova_finish(VfWriter *w, GError **error)
{
    Ova *o = w->priv;
    VfOvaAppliance *a = &o->app;
    int r = member_end(a, error);
    if (r >= 0 && a->n_disks > 1 && a->disks[1].href)
        r = member_empty(a, 1, w->disk, o->dir_scratch, error);
    if (r >= 0)
        r = appliance_finish(a, error);
    if (r < 0)
        return r;
    if (o->dir_cert && ((r = vf_sink_write(o->dir_cert, a->cert_text, a->cert_len, error)) < 0 ||
                        (r = vf_sink_prepare(o->dir_cert, error)) < 0))
        return r;
    if (o->dir_ovf && ((r = vf_sink_write(o->dir_ovf, a->ovf_text, a->ovf_len, error)) < 0 ||
                       (r = vf_sink_prepare(o->dir_ovf, error)) < 0 ||
                       (r = vf_sink_write(o->dir_mf, a->mf_text, a->mf_len, error)) < 0 ||
                       (r = vf_sink_prepare(o->dir_mf, error)) < 0 ||
                       (r = vf_sink_prepare(o->dir_vmdk, error)) < 0 ||
                       (o->dir_scratch && (r = vf_sink_prepare(o->dir_scratch, error)) < 0)))
        return r;
    return 0;
}

static int ova_commit(VfWriter *w, GError **error)
{
    Ova *o = w->priv;
    VfSink *files[] = {o->dir_ovf, o->dir_mf, o->dir_cert, o->dir_vmdk, o->dir_scratch};
    for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
        if (!files[i])
            continue;
        int r = vf_sink_commit(files[i], error);
        if (r < 0) {
            for (size_t j = 0; j < i; j++)
                if (files[j])
                    (void)unlink(vf_sink_path(files[j]));
            return r;
        }
    }
    return 0;
}

static void ova_cleanup(VfWriter *w)
{
    Ova *o = w->priv;
    vf_sink_free(o->dir_ovf);
    vf_sink_free(o->dir_mf);
    vf_sink_free(o->dir_cert);
    /* The view tees into dir_vmdk or dir_scratch: free the view first. */
    appliance_clear(&o->app);
    vf_sink_free(o->dir_vmdk);
    vf_sink_free(o->dir_scratch);
}

const VfWriterOps vf_writer_ova = {
    .name = "ova",
    .extension = "ova",
    .summary = "OVF appliance (.ovf, .mf, streamOptimized VMDK in one tar); needs --profile",
    .size_rule = "as the VMDK: source size rounded up to 512 bytes",
    .priv_size = sizeof(Ova),
    .open = ova_open,
    .write = ova_write,
    .finish = ova_finish,
    .commit = ova_commit,
    .cleanup = ova_cleanup,
};

/* ---- multi-disk appliances ------------------------------------------------ */

int vf_ova_appliance_open(const char *path, const VfOvaApplianceParams *p, VfOvaAppliance **out,
                          GError **error)
{
    g_autoptr(VfOvaAppliance) a = g_new0(VfOvaAppliance, 1);
    VfSink *sink = NULL;
    int r = vf_sink_open(path, p->sink_flags, &sink, error);
    if (r < 0)
        return r;
    a->sink = sink;
    a->owns_sink = true;
    vf_sink_set_cancel(sink, p->cancel);
    const char *slash = strrchr(path, '/');
    r = appliance_init(a, sink, slash ? slash + 1 : path, p->profile, p->signer, p->manifest,
                       &p->ovf, p->timestamp, error);
    if (r < 0)
        return r;
    *out = g_steal_pointer(&a);
    return 0;
}

int vf_ova_appliance_commit(VfOvaAppliance *a, GError **error)
{
    int r = appliance_finish(a, error);
    if (r >= 0)
        r = vf_sink_prepare(a->sink, error);
    if (r >= 0)
        r = vf_sink_commit(a->sink, error);
    return r;
}

const char *vf_ova_appliance_sha256(const VfOvaAppliance *a)
{
    return vf_sink_sha256(a->sink);
}

uint64_t vf_ova_appliance_size(const VfOvaAppliance *a)
{
    return vf_sink_size(a->sink);
}

void vf_ova_appliance_free(VfOvaAppliance *a)
{
    if (!a)
        return;
    appliance_clear(a);
    g_free(a);
}

static int disk_open(VfWriter *w, GError **error)
{
    const VfOvaDiskRef *ref = w->extra;
    if (!ref || !ref->appliance) {
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE, "an appliance disk needs its appliance");
        return -EINVAL;
    }
    return member_begin(ref->appliance, ref->index, w, NULL, error);
}

static int disk_write(VfWriter *w, const VfBatch *b, GError **error)
{
    const VfOvaDiskRef *ref = w->extra;
    return member_write(ref->appliance, b, error);
}

static int disk_finish(VfWriter *w, GError **error)
{
    const VfOvaDiskRef *ref = w->extra;
    return member_end(ref->appliance, error);
}

const VfWriterOps vf_writer_ova_disk = {
    .name = "ova-disk",
    .extension = "vmdk",
    .summary = "one disk of a multi-disk OVA (vf_ova_appliance_open)",
    .size_rule = "as the VMDK: source size rounded up to 512 bytes",
    .no_file = true,
    .open = disk_open,
    .write = disk_write,
    .finish = disk_finish,
};
