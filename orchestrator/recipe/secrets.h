/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * secrets.h — the passwords a recipe names (installer.rootpw_file, a
 * customize operation's password_file): read from their file, bounded, and
 * hashed at once; the plain text is wiped and never leaves memory. Used by
 * the answer file (install) and by customize.
 */
#pragma once

#include <glib.h>

GQuark vmf_secret_error_quark(void);

/* A password longer than this is a mistake (a whole file pasted). */
#define VMF_SECRET_MAX_PASSWORD 1024

/* Hashes `plain` with yescrypt (SHA-512 crypt where libcrypt lacks it) and a
 * fresh salt, or with `salt` (a crypt setting such as "$y$j9T$...") when not
 * NULL: the build cache hashes secrets that way, so its key depends on them
 * without holding anything cheaper to attack than /etc/shadow. Returns the
 * hash (g_free) or NULL with *error. */
char *vmf_secret_hash_password(const char *plain, const char *salt, GError **error);

/* The password on the first line of the file `path` (at most 1 KiB, not
 * empty), without its newline: g_free after explicit_bzero, or NULL with
 * *error naming the file. */
char *vmf_secret_read_password_file(const char *path, GError **error);

/* Hashes the password on the first line of the file `path` (at most 1 KiB,
 * not empty); the plain text is wiped. Returns the hash (g_free) or NULL. */
char *vmf_secret_hash_password_file(const char *path, const char *salt, GError **error);
