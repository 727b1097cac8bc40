/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ova.c — OVF appliances in one tar file, the VMDK streamed in. See ova.h. */
#include "ova.h"
#include "writer.h"

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
                    "%s is not a PEM private key (an encrypted key is not supported): %s",
                    key_path, why);
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

#define TAR_BLOCK 512u
#define TAR_EOF_BLOCKS 2u
/* Longest decimal uint64: the OVF is reserved at its length with numbers
 * this wide, then padded to it. */
#define U64_MAX_DIGITS 20u

typedef struct Ova {
    VfWriter inner; /* the streamOptimized VMDK writer, writing through a view */
    VfDiskInfo inner_disk;
    VfSink *view;
    char *base; /* the appliance's name: the file name without .ova */
    char *ovf_name, *mf_name, *cert_name, *vmdk_name;
    const char *algorithm;
    size_t hex_len;
    uint64_t ovf_offset, ovf_len; /* header offset, reserved data length */
    uint64_t mf_offset, mf_len;
    uint64_t cert_offset, cert_len; /* cert_len 0: not signed */
    uint64_t vmdk_offset;
    uint64_t populated;
    VfOvfParams ovf;
    /* --ovf-dir: the members as files (NULL when not asked for) */
    VfSink *dir_ovf, *dir_mf, *dir_cert, *dir_vmdk;
} Ova;

static int open_dir_sink(const VfOvaParams *p, const char *name, VfSink **out, GError **error)
{
    g_autofree char *path = g_build_filename(p->ovf_dir, name, NULL);
    return vf_sink_open(path, p->sink_flags, out, error);
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
        g_set_error(error, VF_ERROR, VF_ERROR_INTERNAL, "cannot make a tar header for %s: %s",
                    name, archive_error_string(a) ? archive_error_string(a) : "unexpected size");
    archive_entry_free(e);
    archive_write_free(a);
    return r;
}

static uint64_t pad_block(uint64_t n)
{
    return VF_ROUND_UP(n, TAR_BLOCK);
}

static int ova_open(VfWriter *w, GError **error)
{
    Ova *o = w->priv;
    const VfOvaParams *p = w->extra;
    if (!p || !p->profile) {
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE,
                    "an OVA needs a hardware profile (--profile vmware, virtualbox, generic...)");
        return -EINVAL;
    }
    o->algorithm = p->manifest ? p->manifest : p->profile->manifest;
    if (!g_strv_contains((const char *const *)p->profile->manifest_allowed, o->algorithm)) {
        g_autofree char *allowed = g_strjoinv(", ", p->profile->manifest_allowed);
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE,
                    "profile %s takes manifest %s, not \"%s\"", p->profile->name, allowed,
                    o->algorithm);
        return -EINVAL;
    }
    o->hex_len = vf_digest_hex_len(o->algorithm);

    const char *file = w->disk->file_name;
    o->base = g_str_has_suffix(file, ".ova") ? g_strndup(file, strlen(file) - 4) : g_strdup(file);
    o->ovf_name = g_strdup_printf("%s.ovf", o->base);
    o->mf_name = g_strdup_printf("%s.mf", o->base);
    o->cert_name = g_strdup_printf("%s.cert", o->base);
    o->vmdk_name = g_strdup_printf("%s-disk1.vmdk", o->base);

    /* The embedded VMDK: streamOptimized, the profile's adapter. */
    g_autofree char *spec = g_strdup_printf("vmdk:subformat=streamOptimized:adapter=%s",
                                            p->profile->vmdk_adapter);
    const VfWriterOps *vmdk_ops = NULL;
    GHashTable *vmdk_opts = NULL;
    int r = vf_writer_parse_spec(spec, &vmdk_ops, &vmdk_opts, error);
    if (r < 0) {
        g_prefix_error(error, "profile %s: ", p->profile->name);
        return r;
    }
    o->inner.ops = vmdk_ops;
    o->inner.options = vmdk_opts;
    o->inner.priv = g_malloc0(vmdk_ops->priv_size);
    o->inner_disk = *w->disk;
    o->inner_disk.file_name = o->vmdk_name;
    o->inner.disk = &o->inner_disk;

    /* Reserve the descriptor at its longest and the manifest exactly. */
    o->ovf = p->ovf;
    o->ovf.name = o->base;
    o->ovf.disk_href = o->vmdk_name;
    o->ovf.disk_capacity = VF_ROUND_UP(w->disk->size, VF_SECTOR_SIZE);
    o->ovf.disk_file_size = UINT64_MAX;
    o->ovf.disk_populated = UINT64_MAX;
    g_autofree char *ovf = NULL;
    size_t ovf_len = 0;
    r = vf_ovf_build(p->profile, &o->ovf, &ovf, &ovf_len, error);
    if (r < 0)
        return r;
    o->ovf_len = ovf_len;
    g_autofree char *hex = g_strnfill(o->hex_len, '0');
    g_autofree char *l1 = vf_ovf_manifest_line(o->algorithm, o->ovf_name, hex);
    g_autofree char *l2 = vf_ovf_manifest_line(o->algorithm, o->vmdk_name, hex);
    o->mf_len = strlen(l1) + strlen(l2);

    if (p->signer) {
        /* "SHA256(NAME.mf)= <signature hex>\n" then the certificate; an
         * RSA signature is exactly the key size, others at most that (the
         * rest is padded with newlines after the PEM block). */
        size_t sig_max = (size_t)EVP_PKEY_get_size(p->signer->key);
        g_autofree char *sig = g_strnfill(2 * sig_max, '0');
        g_autofree char *line = vf_ovf_manifest_line(o->algorithm, o->mf_name, sig);
        o->cert_len = strlen(line) + strlen(p->signer->cert_pem);
    }

    vf_sink_will_patch(w->sink);
    o->ovf_offset = 0;
    o->mf_offset = TAR_BLOCK + pad_block(o->ovf_len);
    o->cert_offset = o->mf_offset + TAR_BLOCK + pad_block(o->mf_len);
    o->vmdk_offset = o->cert_offset + (o->cert_len ? TAR_BLOCK + pad_block(o->cert_len) : 0);
    r = vf_sink_write_zeros(w->sink, o->vmdk_offset + TAR_BLOCK, error);
    if (r < 0)
        return r;

    o->view = vf_sink_new_view(w->sink, o->algorithm);
    o->inner.sink = o->view;
    if (p->ovf_dir) {
        /* Made now so that an existing file stops the run before any work. */
        if ((r = open_dir_sink(p, o->ovf_name, &o->dir_ovf, error)) < 0 ||
            (r = open_dir_sink(p, o->mf_name, &o->dir_mf, error)) < 0 ||
            (p->signer && (r = open_dir_sink(p, o->cert_name, &o->dir_cert, error)) < 0) ||
            (r = open_dir_sink(p, o->vmdk_name, &o->dir_vmdk, error)) < 0)
            return r;
        vf_sink_view_tee(o->view, o->dir_vmdk);
    }
    r = vmdk_ops->open(&o->inner, error);
    if (r < 0)
        return r;
    w->needs = o->inner.needs;
    w->virtual_size = o->inner.virtual_size;
    return 0;
}

static int ova_write(VfWriter *w, const VfBatch *b, GError **error)
{
    Ova *o = w->priv;
    if (!b->zero_span)
        for (unsigned i = 0; i < b->n_units; i++)
            if (!b->units[i].zero)
                o->populated += VF_UNIT_SIZE;
    return o->inner.ops->write(&o->inner, b, error);
}

static int ova_finish(VfWriter *w, GError **error)
{
    Ova *o = w->priv;
    const VfOvaParams *p = w->extra;
    int r = o->inner.ops->finish(&o->inner, error);
    if (r < 0)
        return r;
    char vmdk_hex[129];
    uint64_t vmdk_len = 0;
    vf_sink_view_finish(o->view, vmdk_hex, &vmdk_len);
    g_clear_pointer(&o->view, vf_sink_free);
    o->inner.sink = NULL;

    /* End of the VMDK member, end of archive. */
    r = vf_sink_write_zeros(w->sink, pad_block(vmdk_len) - vmdk_len, error);
    if (r >= 0)
        r = vf_sink_write_zeros(w->sink, TAR_EOF_BLOCKS * TAR_BLOCK, error);
    if (r < 0)
        return r;

    /* The descriptor with the real numbers, padded to its reserved length. */
    o->ovf.disk_file_size = vmdk_len;
    o->ovf.disk_populated = o->populated;
    g_autofree char *ovf = NULL;
    size_t ovf_len = 0;
    r = vf_ovf_build(p->profile, &o->ovf, &ovf, &ovf_len, error);
    if (r < 0)
        return r;
    g_return_val_if_fail(ovf_len <= o->ovf_len, -EINVAL);
    g_autofree char *padded = g_malloc(o->ovf_len);
    memcpy(padded, ovf, ovf_len);
    memset(padded + ovf_len, ' ', o->ovf_len - ovf_len);
    if (o->ovf_len > ovf_len)
        padded[o->ovf_len - 1] = '\n';

    g_autofree char *ovf_hex = vf_digest_hex(o->algorithm, padded, o->ovf_len);
    g_autofree char *l1 = vf_ovf_manifest_line(o->algorithm, o->ovf_name, ovf_hex);
    g_autofree char *l2 = vf_ovf_manifest_line(o->algorithm, o->vmdk_name, vmdk_hex);
    g_autofree char *mf = g_strconcat(l1, l2, NULL);
    g_return_val_if_fail(strlen(mf) == o->mf_len, -EINVAL);

    uint8_t hdr[TAR_BLOCK];
    const int64_t mtime = w->disk->timestamp;
    if (o->cert_len) {
        g_autofree char *sig = NULL;
        r = sign_hex(p->signer, o->algorithm, mf, o->mf_len, &sig, error);
        if (r < 0)
            return r;
        g_autofree char *line = vf_ovf_manifest_line(o->algorithm, o->mf_name, sig);
        g_autofree char *cert = g_malloc(o->cert_len);
        size_t used = strlen(line) + strlen(p->signer->cert_pem);
        g_return_val_if_fail(used <= o->cert_len, -EINVAL);
        memcpy(cert, line, strlen(line));
        memcpy(cert + strlen(line), p->signer->cert_pem, strlen(p->signer->cert_pem));
        memset(cert + used, '\n', o->cert_len - used);
        if ((r = vf_ova_tar_header(o->cert_name, o->cert_len, mtime, hdr, error)) < 0 ||
            (r = vf_sink_pwrite(w->sink, o->cert_offset, hdr, TAR_BLOCK, error)) < 0 ||
            (r = vf_sink_pwrite(w->sink, o->cert_offset + TAR_BLOCK, cert, o->cert_len, error)) < 0)
            return r;
        if (o->dir_cert && ((r = vf_sink_write(o->dir_cert, cert, o->cert_len, error)) < 0 ||
                            (r = vf_sink_prepare(o->dir_cert, error)) < 0))
            return r;
    }
    if (o->dir_ovf && ((r = vf_sink_write(o->dir_ovf, padded, o->ovf_len, error)) < 0 ||
                       (r = vf_sink_prepare(o->dir_ovf, error)) < 0 ||
                       (r = vf_sink_write(o->dir_mf, mf, o->mf_len, error)) < 0 ||
                       (r = vf_sink_prepare(o->dir_mf, error)) < 0 ||
                       (r = vf_sink_prepare(o->dir_vmdk, error)) < 0))
        return r;
    if ((r = vf_ova_tar_header(o->ovf_name, o->ovf_len, mtime, hdr, error)) < 0 ||
        (r = vf_sink_pwrite(w->sink, o->ovf_offset, hdr, TAR_BLOCK, error)) < 0 ||
        (r = vf_sink_pwrite(w->sink, o->ovf_offset + TAR_BLOCK, padded, o->ovf_len, error)) < 0 ||
        (r = vf_ova_tar_header(o->mf_name, o->mf_len, mtime, hdr, error)) < 0 ||
        (r = vf_sink_pwrite(w->sink, o->mf_offset, hdr, TAR_BLOCK, error)) < 0 ||
        (r = vf_sink_pwrite(w->sink, o->mf_offset + TAR_BLOCK, mf, o->mf_len, error)) < 0 ||
        (r = vf_ova_tar_header(o->vmdk_name, vmdk_len, mtime, hdr, error)) < 0 ||
        (r = vf_sink_pwrite(w->sink, o->vmdk_offset, hdr, TAR_BLOCK, error)) < 0)
        return r;
    return 0;
}

static int ova_commit(VfWriter *w, GError **error)
{
    Ova *o = w->priv;
    VfSink *files[] = {o->dir_ovf, o->dir_mf, o->dir_cert, o->dir_vmdk};
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
    /* The view writes into dir_vmdk: free the view first. */
    vf_sink_free(o->view);
    o->view = NULL;
    vf_sink_free(o->dir_vmdk);
    if (o->inner.ops && o->inner.ops->cleanup && o->inner.priv)
        o->inner.ops->cleanup(&o->inner);
    g_free(o->inner.priv);
    if (o->inner.options)
        g_hash_table_unref(o->inner.options);
    g_free(o->base);
    g_free(o->ovf_name);
    g_free(o->mf_name);
    g_free(o->cert_name);
    g_free(o->vmdk_name);
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
