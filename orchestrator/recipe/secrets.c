/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "secrets.h"

#include <crypt.h>
#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK(vmf - secret - error - quark, vmf_secret_error)

char *vmf_secret_hash_password(const char *plain, const char *salt, GError **error)
{
    if (strlen(plain) > VMF_SECRET_MAX_PASSWORD) {
        g_set_error(error, vmf_secret_error_quark(), 1, "the root password is longer than %d",
                    VMF_SECRET_MAX_PASSWORD);
        return NULL;
    }
    static const char *const prefixes[] = {"$y$", "$6$"};
    for (size_t i = 0; i < G_N_ELEMENTS(prefixes); i++) {
        char *fresh = salt ? NULL : crypt_gensalt_ra(prefixes[i], 0, NULL, 0);
        if (!salt && !fresh)
            continue;
        struct crypt_data *data = g_new0(struct crypt_data, 1);
        const char *h = crypt_r(plain, salt ? salt : fresh, data);
        char *out = h && h[0] != '*' ? g_strdup(h) : NULL;
        explicit_bzero(data, sizeof(*data));
        g_free(data);
        free(fresh);
        if (salt && !out)
            break;
        if (out)
            return out;
    }
    g_set_error(error, vmf_secret_error_quark(), 1,
                "libcrypt could hash the root password with neither yescrypt nor SHA-512");
    return NULL;
}

char *vmf_secret_read_password_file(const char *path, GError **error)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &text, &len, error))
        return NULL;
    if (len > VMF_SECRET_MAX_PASSWORD + 2) {
        explicit_bzero(text, len);
        g_set_error(error, vmf_secret_error_quark(), 1,
                    "%s: longer than %d bytes; expected one line holding the password", path,
                    VMF_SECRET_MAX_PASSWORD);
        return NULL;
    }
    /* The first line, without its newline. */
    char *nl = strpbrk(text, "\r\n");
    if (nl)
        *nl = '\0';
    if (!text[0]) {
        g_set_error(error, vmf_secret_error_quark(), 1, "%s: the password is empty", path);
        return NULL;
    }
    char *pw = g_strdup(text);
    explicit_bzero(text, len);
    return pw;
}

char *vmf_secret_hash_password_file(const char *path, const char *salt, GError **error)
{
    g_autofree char *plain = vmf_secret_read_password_file(path, error);
    if (!plain)
        return NULL;
    char *hash = vmf_secret_hash_password(plain, salt, error);
    explicit_bzero(plain, strlen(plain));
    return hash;
}
