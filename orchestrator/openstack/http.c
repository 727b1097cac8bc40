/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * http.c — libcurl behind http.h: one easy handle per client (reset between
 * requests), JSON API calls with retries, files streamed from disk.
 */
#include "http.h"

#include "util/digest.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

G_DEFINE_QUARK(vmf - http - error - quark, vmf_http_error)

/* Stalled transfers: less than a byte a second for this long is a failure. */
#define STALL_SECONDS   120L
#define CONNECT_SECONDS 30L
/* An API call that has not finished in this time never will. */
#define CALL_SECONDS 600L
/* What a read callback hands libcurl at most (libcurl's upload buffer). */
#define UPLOAD_BUFFER (2L << 20)
/* How much of a server's error text goes into a message. */
#define MAX_REASON 400

struct VmfHttp {
    CURL *curl;
    char *cacert;
    bool insecure;
};

static void global_init(void)
{
    static gsize done;
    if (g_once_init_enter(&done)) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        g_once_init_leave(&done, 1);
    }
}

VmfHttp *vmf_http_new(const VmfHttpOptions *o)
{
    global_init();
    VmfHttp *h = g_new0(VmfHttp, 1);
    h->curl = curl_easy_init();
    h->cacert = g_strdup(o ? o->cacert : NULL);
    h->insecure = o && o->insecure;
    if (!h->curl)
        g_error("curl_easy_init failed (out of memory)");
    return h;
}

void vmf_http_free(VmfHttp *h)
{
    if (!h)
        return;
    curl_easy_cleanup(h->curl);
    g_free(h->cacert);
    g_free(h);
}

void vmf_http_response_free(VmfHttpResponse *r)
{
    if (!r)
        return;
    g_free(r->body);
    if (r->subject_token)
        explicit_bzero(r->subject_token, strlen(r->subject_token));
    g_free(r->subject_token);
    g_free(r);
}

char *vmf_http_escape(const char *s)
{
    global_init();
    char *e = curl_easy_escape(NULL, s, 0);
    char *out = g_strdup(e);
    curl_free(e);
    return out;
}

typedef struct {
    GString *body;
    char *subject_token;
    bool too_big;
} Received;

static size_t on_body(char *data, size_t size, size_t n, void *opaque)
{
    Received *r = opaque;
    if (r->body->len + size * n > VMF_HTTP_MAX_BODY) {
        r->too_big = true;
        return 0;
    }
    g_string_append_len(r->body, data, (gssize)(size * n));
    return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *opaque)
{
    Received *r = opaque;
    static const char name[] = "x-subject-token:";
    size_t len = size * n;
    if (len > sizeof(name) - 1 && g_ascii_strncasecmp(data, name, sizeof(name) - 1) == 0) {
        g_free(r->subject_token);
        r->subject_token = g_strstrip(g_strndup(data + sizeof(name) - 1, len - sizeof(name) + 1));
    }
    return len;
}

/* The options every request has: TLS as configured, timeouts, no signals. */
static struct curl_slist *common_options(VmfHttp *h, const char *method, const char *url,
                                         const char *token, const char *ctype)
{
    CURL *c = h->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_SECONDS);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, STALL_SECONDS);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "vmforge");
    if (h->cacert)
        curl_easy_setopt(c, CURLOPT_CAINFO, h->cacert);
    if (h->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    struct curl_slist *hd = curl_slist_append(NULL, "Accept: application/json");
    if (token) {
        g_autofree char *t = g_strdup_printf("X-Auth-Token: %s", token);
        hd = curl_slist_append(hd, t);
        explicit_bzero(t, strlen(t));
    }
    if (ctype) {
        g_autofree char *t = g_strdup_printf("Content-Type: %s", ctype);
        hd = curl_slist_append(hd, t);
    }
    /* A body's length is known: no "Expect: 100-continue" round trip. */
    hd = curl_slist_append(hd, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    return hd;
}

/* What a server said in an error answer: a JSON message (Keystone's
 * {"error": {"message"}}, Glance's {"message"}), else its text without
 * markup, shortened. */
static char *server_reason(const char *body)
{
    if (!body || !*body)
        return g_strdup("");
    g_autoptr(JsonParser) p = json_parser_new();
    if (json_parser_load_from_data(p, body, -1, NULL) &&
        JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
        JsonObject *o = json_node_get_object(json_parser_get_root(p));
        JsonObject *e = json_object_get_object_member(o, "error");
        const char *m = json_object_get_string_member_with_default(e ? e : o, "message", NULL);
        if (m)
            return g_strndup(m, MAX_REASON);
    }
    GString *s = g_string_new(NULL);
    bool tag = false, space = false;
    for (const char *c = body; *c && s->len < MAX_REASON; c++) {
        if (*c == '<' || *c == '>') {
            tag = *c == '<';
            space = true;
        } else if (!tag && g_ascii_isspace(*c)) {
            space = true;
        } else if (!tag) {
            if (space && s->len)
                g_string_append_c(s, ' ');
            g_string_append_c(s, *c);
            space = false;
        }
    }
    return g_string_free(s, FALSE);
}

static bool transient_curl(CURLcode rc, bool retry)
{
    if (rc == CURLE_COULDNT_CONNECT)
        return true; /* nothing was sent */
    return retry && (rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING ||
                     rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_PARTIAL_FILE);
}

static bool transient_status(long status, bool retry)
{
    if (status == 503)
        return true; /* refused before it was processed */
    return retry && (status == 500 || status == 502 || status == 504);
}

/* One try. Returns the response (any status) or NULL with *rc set. */
static VmfHttpResponse *call_once(VmfHttp *h, const VmfHttpRequest *rq, CURLcode *rc, char *errbuf)
{
    Received r = {.body = g_string_new(NULL)};
    struct curl_slist *hd = common_options(h, rq->method, rq->url, rq->token, rq->ctype);
    CURL *c = h->curl;
    curl_easy_setopt(c, CURLOPT_TIMEOUT, CALL_SECONDS);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    if (strcmp(rq->method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (rq->body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body);
    else if (strcmp(rq->method, "GET") && strcmp(rq->method, "DELETE"))
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    errbuf[0] = 0;
    *rc = curl_easy_perform(c);
    curl_slist_free_all(hd);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL); /* the body may hold a password */
    if (*rc != CURLE_OK || r.too_big) {
        if (r.too_big)
            g_strlcpy(errbuf, "the answer is larger than any API answer", CURL_ERROR_SIZE);
        g_string_free(r.body, TRUE);
        g_free(r.subject_token);
        return NULL;
    }
    VmfHttpResponse *resp = g_new0(VmfHttpResponse, 1);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->body = g_string_free(r.body, FALSE);
    resp->subject_token = r.subject_token;
    return resp;
}

/* Waits `seconds`, or less when cancelled. Returns false when cancelled. */
static bool backoff(unsigned seconds, const volatile int *cancel)
{
    for (unsigned i = 0; i < seconds * 10; i++) {
        if (cancel && *cancel)
            return false;
        g_usleep(100000);
    }
    return !(cancel && *cancel);
}

VmfHttpResponse *vmf_http_call(VmfHttp *h, const VmfHttpRequest *rq, GError **error)
{
    char errbuf[CURL_ERROR_SIZE];
    unsigned wait = 1;
    for (unsigned attempt = 0;; attempt++) {
        CURLcode rc = CURLE_OK;
        g_autoptr(VmfHttpResponse) r = call_once(h, rq, &rc, errbuf);
        bool last = attempt >= VMF_HTTP_RETRIES;
        if (r && r->status < 400)
            return g_steal_pointer(&r);
        bool again = r ? transient_status(r->status, rq->retry) : transient_curl(rc, rq->retry);
        if (!again || last || !backoff(wait, rq->cancel)) {
            if (r) {
                g_autofree char *why = server_reason(r->body);
                g_set_error(error, vmf_http_error_quark(), (int)r->status, "%s %s: HTTP %ld%s%s",
                            rq->method, rq->url, r->status, *why ? ": " : "", why);
            } else {
                g_autofree char *tries =
                    attempt ? g_strdup_printf(" (after %u tries)", attempt + 1) : g_strdup("");
                g_set_error(error, vmf_http_error_quark(),
                            rc == CURLE_COULDNT_CONNECT ? VMF_HTTP_ERROR_CONNECT
                                                        : VMF_HTTP_ERROR_TRANSFER,
                            "%s %s: %s%s", rq->method, rq->url,
                            errbuf[0] ? errbuf : curl_easy_strerror(rc), tries);
            }
            return NULL;
        }
        wait = MIN(wait * 2, VMF_HTTP_MAX_BACKOFF);
    }
}

/* The file being sent: read in order, hashed, reported. */
typedef struct {
    int fd;
    uint64_t size;
    VmfHttpUpload *u;
    VmfDigest *sums[2];
    int read_errno;
} Sending;

static size_t on_read(char *buf, size_t size, size_t n, void *opaque)
{
    Sending *s = opaque;
    if (s->u->cancel && *s->u->cancel)
        return CURL_READFUNC_ABORT;
    ssize_t got;
    do
        got = read(s->fd, buf, size * n);
    while (got < 0 && errno == EINTR);
    if (got < 0) {
        s->read_errno = errno;
        return CURL_READFUNC_ABORT;
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(s->sums); i++) {
        if (s->sums[i])
            vmf_digest_update(s->sums[i], buf, (size_t)got);
    }
    s->u->bytes += (uint64_t)got;
    if (s->u->progress)
        s->u->progress(s->u->bytes, s->size, s->u->data);
    return (size_t)got;
}

/* Also called while libcurl waits for the socket: a cancel stops it there. */
static int on_xfer(void *opaque, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                   curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const Sending *s = opaque;
    return s->u->cancel && *s->u->cancel;
}

static int upload_failed(const char *url, const char *path, Sending *s, CURLcode rc,
                         const char *errbuf, GError **error)
{
    if (s->u->cancel && *s->u->cancel) {
        g_set_error(error, vmf_http_error_quark(), VMF_HTTP_ERROR_CANCELLED,
                    "PUT %s: interrupted after %" G_GUINT64_FORMAT " bytes", url, s->u->bytes);
    } else if (s->read_errno) {
        g_set_error(error, vmf_http_error_quark(), VMF_HTTP_ERROR_TRANSFER, "%s: %s", path,
                    g_strerror(s->read_errno));
    } else {
        g_set_error(error, vmf_http_error_quark(), VMF_HTTP_ERROR_TRANSFER,
                    "PUT %s: %s after %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes", url,
                    errbuf[0] ? errbuf : curl_easy_strerror(rc), s->u->bytes, s->size);
    }
    return -1;
}

static int upload_perform(VmfHttp *h, const char *url, const char *path, Sending *s, GError **error)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    Received r = {.body = g_string_new(NULL)};
    CURL *c = h->curl;
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)s->size);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, s);
    curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, UPLOAD_BUFFER);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xfer);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    if (s->u->max_rate)
        curl_easy_setopt(c, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)s->u->max_rate);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(c);
    g_autoptr(GString) body = r.body;
    g_free(r.subject_token);
    if (rc != CURLE_OK)
        return upload_failed(url, path, s, rc, errbuf, error);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 400) {
        g_autofree char *why = server_reason(body->str);
        g_set_error(error, vmf_http_error_quark(), (int)status, "PUT %s: HTTP %ld%s%s", url, status,
                    *why ? ": " : "", why);
        return -1;
    }
    return 0;
}

int vmf_http_put_file(VmfHttp *h, const char *url, const char *token, const char *path,
                      VmfHttpUpload *u, GError **error)
{
    Sending s = {.fd = open(path, O_RDONLY | O_CLOEXEC), .u = u};
    struct stat st;
    if (s.fd < 0 || fstat(s.fd, &st) < 0) {
        int e = errno;
        if (s.fd >= 0)
            close(s.fd);
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "%s: %s", path, g_strerror(e));
        return -1;
    }
    posix_fadvise(s.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    s.size = (uint64_t)st.st_size;
    u->bytes = 0;
    for (unsigned i = 0; i < G_N_ELEMENTS(s.sums); i++)
        s.sums[i] = u->hashes[i] ? vmf_digest_new(u->hashes[i]) : NULL;
    struct curl_slist *hd = common_options(h, "PUT", url, token, "application/octet-stream");
    int rc = upload_perform(h, url, path, &s, error);
    curl_slist_free_all(hd);
    close(s.fd);
    for (unsigned i = 0; i < G_N_ELEMENTS(s.sums); i++) {
        if (rc == 0 && s.sums[i])
            u->digests[i] = vmf_digest_hex(s.sums[i]);
        vmf_digest_free(s.sums[i]);
    }
    return rc;
}

void vmf_http_upload_clear(VmfHttpUpload *u)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(u->digests); i++)
        g_clear_pointer(&u->digests[i], g_free);
}
