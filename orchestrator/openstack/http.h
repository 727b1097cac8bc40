/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * http.h — the HTTP client of the OpenStack adapter (libcurl): JSON API calls
 * retried with backoff when the failure is transient, and a file streamed
 * as a request body, hashed as it is read (never held in memory).
 *
 * Nothing here logs: a request's body (a password) and its X-Auth-Token
 * never reach an error message; errors name the method, the URL (which
 * holds no secret) and what the server said.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* An API answer larger than this is not one (a list of images is KiB). */
#define VMF_HTTP_MAX_BODY (16u << 20)
/* Transient failures (connection refused or reset, 502, 503, 504, 500) of
 * an API call are tried again this many times, after 1, 2, 4, ... seconds
 * (at most VMF_HTTP_MAX_BACKOFF each): about a minute in all, the time a
 * restarted API server takes to answer again. */
#define VMF_HTTP_RETRIES     6
#define VMF_HTTP_MAX_BACKOFF 30

GQuark vmf_http_error_quark(void);
/* Error codes: a status >= 400 is the code itself; these are below 100. */
enum { VMF_HTTP_ERROR_CONNECT = 1, VMF_HTTP_ERROR_TRANSFER, VMF_HTTP_ERROR_CANCELLED };

typedef struct {
    const char *cacert; /* a CA bundle, or NULL for the system's */
    bool insecure;      /* verify: false (TLS not checked) */
} VmfHttpOptions;

typedef struct VmfHttp VmfHttp;
VmfHttp *vmf_http_new(const VmfHttpOptions *o);
void vmf_http_free(VmfHttp *h);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfHttp, vmf_http_free)

typedef struct {
    long status;
    char *body;          /* NUL-terminated; g_free */
    char *subject_token; /* the X-Subject-Token header (Keystone), or NULL */
} VmfHttpResponse;
void vmf_http_response_free(VmfHttpResponse *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfHttpResponse, vmf_http_response_free)

typedef struct {
    const char *method; /* GET, POST, PUT, PATCH, DELETE */
    const char *url;
    const char *token;          /* X-Auth-Token, or NULL */
    const char *ctype;          /* the body's Content-Type, or NULL without a body */
    const char *body;           /* NUL-terminated, or NULL */
    bool retry;                 /* safe to send again after a failure (not a create) */
    const volatile int *cancel; /* non-zero: give up between tries */
} VmfHttpRequest;

/* Sends the request; a status >= 400 is an error whose message names the
 * request and what the server said (its JSON "message", or its text).
 * Returns the response, or NULL with *error (vmf_http_error_quark: the
 * status, or VMF_HTTP_ERROR_*). */
VmfHttpResponse *vmf_http_call(VmfHttp *h, const VmfHttpRequest *rq, GError **error);

/* A file sent as the body of a PUT, read once, hashed as it is sent. */
typedef struct {
    const char *hashes[2]; /* digests to compute ("sha512", "sha256"), NULL: none */
    char *digests[2];      /* hex, g_free; set on success */
    void (*progress)(uint64_t done, uint64_t total, void *data);
    void *data;
    const volatile int *cancel; /* non-zero aborts the transfer */
    uint64_t max_rate;          /* bytes per second, 0: as fast as it goes */
    uint64_t bytes;             /* bytes sent */
} VmfHttpUpload;

/* PUTs the file `path` to `url` as application/octet-stream (its length
 * known: no chunked encoding). Not retried: the caller decides. Returns 0,
 * or -1 with *error (VMF_HTTP_ERROR_CANCELLED when `cancel` stopped it). */
int vmf_http_put_file(VmfHttp *h, const char *url, const char *token, const char *path,
                      VmfHttpUpload *u, GError **error);
void vmf_http_upload_clear(VmfHttpUpload *u);

/* Percent-encodes a query value (g_free). */
char *vmf_http_escape(const char *s);
