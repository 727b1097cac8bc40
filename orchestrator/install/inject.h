/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * inject.h — getting the answer file to the installer, the three ways
 * Anaconda takes it: appended to the initrd (a gzipped newc cpio holding
 * /ks.cfg), on a small ISO 9660 volume labelled OEMDRV, or over HTTP from a
 * server that serves only that file.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

GQuark vmf_inject_error_quark(void);

/* A gzipped newc cpio archive holding `name` (mode 0600) with `content`, to
 * append to an initrd (the kernel unpacks concatenated archives). */
GBytes *vmf_inject_cpio(const char *name, GBytes *content, GError **error);

/* An ISO 9660 (Rock Ridge) image labelled OEMDRV holding `name` = `content`. */
GBytes *vmf_inject_oemdrv(const char *name, GBytes *content, GError **error);

typedef struct VmfHttp VmfHttp;

/* Serves `content` at /`name` (GET and HEAD; everything else 404/405) on
 * `address` (an IPv4 address) and a free port. Returns NULL with *error. */
VmfHttp *vmf_http_start(const char *address, const char *name, GBytes *content, GError **error);
unsigned vmf_http_port(const VmfHttp *h);
/* How many times the file was served. */
unsigned vmf_http_served(VmfHttp *h);
/* Stops the server and frees it (NULL is fine). */
void vmf_http_stop(VmfHttp *h);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfHttp, vmf_http_stop)
