/* SPDX-License-Identifier: GPL-2.0-or-later */
/* digest.c — digests by name through OpenSSL's EVP (digest.h). */
#include "digest.h"

#include "exit-codes.h"
#include "signals.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

/* Reads of a file being hashed. */
#define DIGEST_READ (1u << 20)

struct VmfDigest {
    EVP_MD_CTX *ctx;
};

VmfDigest *vmf_digest_new(const char *algo)
{
    const EVP_MD *md = algo ? EVP_get_digestbyname(algo) : NULL;
    if (!md)
        return NULL;
    VmfDigest *d = g_new0(VmfDigest, 1);
    d->ctx = EVP_MD_CTX_new();
    if (!d->ctx || EVP_DigestInit_ex(d->ctx, md, NULL) != 1)
        g_error("EVP_DigestInit_ex(%s) failed", algo);
    return d;
}

void vmf_digest_update(VmfDigest *d, const void *data, size_t len)
{
    EVP_DigestUpdate(d->ctx, data, len);
}

char *vmf_digest_hex(VmfDigest *d)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(d->ctx, md, &n);
    char *hex = g_malloc(2 * n + 1);
    for (unsigned i = 0; i < n; i++)
        g_snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[2 * n] = 0;
    return hex;
}

void vmf_digest_free(VmfDigest *d)
{
    if (!d)
        return;
    EVP_MD_CTX_free(d->ctx);
    g_free(d);
}

char *vmf_file_digest(const char *path, const char *algo, GError **error)
{
    g_autoptr(VmfDigest) d = vmf_digest_new(algo);
    if (!d) {
        g_set_error(error, vmf_util_error_quark(), VMF_EXIT_INPUT, "unknown digest %s", algo);
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        g_set_error(error, vmf_util_error_quark(), VMF_EXIT_INPUT, "%s: %s", path,
                    g_strerror(errno));
        return NULL;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    g_autofree guchar *buf = g_malloc(DIGEST_READ);
    ssize_t n = 0;
    while (!vmf_interrupted && ((n = read(fd, buf, DIGEST_READ)) > 0 || (n < 0 && errno == EINTR)))
        if (n > 0)
            vmf_digest_update(d, buf, (size_t)n);
    int e = vmf_interrupted ? EINTR : n < 0 ? errno : 0;
    close(fd);
    if (e) {
        g_set_error(error, vmf_util_error_quark(),
                    vmf_interrupted ? vmf_signals_exit_code() : VMF_EXIT_INPUT, "%s: %s", path,
                    vmf_interrupted ? "interrupted" : g_strerror(e));
        return NULL;
    }
    return vmf_digest_hex(d);
}
