/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ova-verify.c — checks an OVA in one pass over the archive: member order and
 * names, each size against ovf:size, every manifest digest, the signature
 * and certificate, the descriptor against the DMTF schemas, and the
 * structure of streamOptimized VMDKs. Every problem becomes one line.
 */
#include "ova.h"
#include "vmdk-check.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* Limits on members read whole into memory. */
#define MAX_OVF_BYTES  (16u * 1024u * 1024u)
#define MAX_MF_BYTES   (1024u * 1024u)
#define MAX_CERT_BYTES (1024u * 1024u)
/* A bad manifest line is quoted up to this many bytes. */
#define MAX_QUOTE 120
/* Problems reported for one manifest before "and N more". */
#define MAX_MANIFEST_PROBLEMS 50u
/* Bytes kept from the start of a disk member: the header and the embedded
 * descriptor that follows it. */
#define VMDK_HEAD  4096u
#define NS_OVF     "http://schemas.dmtf.org/ovf/envelope/1"
#define STREAM_URI "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"

static const char *const algs[] = {"sha1", "sha256", "sha512"};
#define N_ALGS 3

typedef struct Member {
    char *name;
    int index; /* position in the archive */
    uint64_t size;
    char *digest[N_ALGS]; /* hex */
    uint8_t head[VMDK_HEAD];
    size_t head_len;
    VfVmdkWalk *walk;         /* disk members: the stream VMDK structure walk */
    GPtrArray *walk_problems; /* what it found, reported if the disk is streamOptimized */
} Member;

typedef struct Verify {
    GPtrArray *problems;
    /* Digests to compute for the members still to come: all three until the
     * manifest has been read, then only the ones it uses. */
    bool want[N_ALGS];
    GPtrArray *members; /* Member* in archive order */
    char *ovf_name;
    GBytes *ovf, *mf, *cert;
    char *mf_name, *cert_name;
    GHashTable *by_name;                  /* member name -> Member */
    GPtrArray *refs;                      /* names the descriptor references */
    int first_disk, mf_index, cert_index; /* archive positions, -1 when absent */
} Verify;

static void problem(Verify *v, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void problem(Verify *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_ptr_array_add(v->problems, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

static void member_free(void *p)
{
    Member *m = p;
    g_free(m->name);
    vf_vmdk_walk_free(m->walk);
    if (m->walk_problems)
        g_ptr_array_unref(m->walk_problems);
    for (int i = 0; i < N_ALGS; i++)
        g_free(m->digest[i]);
    g_free(m);
}

static char *hex_of(EVP_MD_CTX *ctx)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx, d, &n);
    char *h = g_malloc(2 * n + 1);
    vf_hex_encode(d, n, h);
    return h;
}

/* Reads the current member: whole into *whole when asked (bounded), and
 * always through the three digests and the VMDK head/tail capture. */
static int read_member(Verify *v, struct archive *a, Member *m, size_t limit, GBytes **whole,
                       GError **error)
{
    EVP_MD_CTX *ctx[N_ALGS] = {NULL};
    for (int i = 0; i < N_ALGS; i++) {
        if (!v->want[i])
            continue;
        ctx[i] = EVP_MD_CTX_new();
        EVP_DigestInit_ex(ctx[i], EVP_get_digestbyname(algs[i]), NULL);
    }
    GByteArray *buf = whole ? g_byte_array_new() : NULL;
    uint64_t total = 0;
    int r = 0;
    for (;;) {
        const void *blk;
        size_t len;
        la_int64_t off;
        int s = archive_read_data_block(a, &blk, &len, &off);
        if (s == ARCHIVE_EOF)
            break;
        if (s != ARCHIVE_OK) {
            g_set_error(error, VF_ERROR, VF_ERROR_INPUT, "reading member %s: %s", m->name,
                        archive_error_string(a));
            r = -EIO;
            break;
        }
        for (int i = 0; i < N_ALGS; i++)
            if (ctx[i])
                EVP_DigestUpdate(ctx[i], blk, len);
        const uint8_t *p = blk;
        if (m->head_len < VMDK_HEAD) {
            size_t n = MIN(len, VMDK_HEAD - m->head_len);
            memcpy(m->head + m->head_len, p, n);
            m->head_len += n;
        }
        if (m->walk)
            vf_vmdk_walk_feed(m->walk, p, len);
        total += len;
        if (buf) {
            if (total > limit) {
                problem(v, "%s is larger than %zu bytes; not a plausible %s", m->name, limit,
                        strrchr(m->name, '.') ? strrchr(m->name, '.') : "member");
                g_byte_array_free(buf, true);
                buf = NULL;
                whole = NULL;
            } else {
                g_byte_array_append(buf, p, (guint)len);
            }
        }
    }
    if (m->walk)
        vf_vmdk_walk_finish(m->walk);
    for (int i = 0; i < N_ALGS; i++) {
        if (!ctx[i])
            continue;
        m->digest[i] = hex_of(ctx[i]);
        EVP_MD_CTX_free(ctx[i]);
    }
    if (total != m->size)
        problem(v,
                "%s: the tar header says %" G_GUINT64_FORMAT
                " bytes, the archive holds %" G_GUINT64_FORMAT,
                m->name, m->size, total);
    if (buf && whole)
        *whole = g_byte_array_free_to_bytes(buf);
    else if (buf)
        g_byte_array_free(buf, true);
    return r;
}

static xmlXPathObjectPtr xpath(xmlXPathContextPtr ctx, const char *expr)
{
    return xmlXPathEvalExpression((const xmlChar *)expr, ctx);
}

static char *xpath_string(xmlXPathContextPtr ctx, const char *expr)
{
    xmlXPathObjectPtr o = xpath(ctx, expr);
    char *s = NULL;
    if (o && o->nodesetval && o->nodesetval->nodeNr > 0) {
        xmlChar *c = xmlNodeGetContent(o->nodesetval->nodeTab[0]);
        s = g_strdup((const char *)c);
        xmlFree(c);
    }
    xmlXPathFreeObject(o);
    return s;
}

static void schema_error(void *data, const xmlError *e)
{
    Verify *v = data;
    g_autofree char *msg = g_strstrip(g_strdup(e->message ? e->message : "invalid"));
    problem(v, "%s: line %d: %s", v->ovf_name, e->line, msg);
}

static void check_schema(Verify *v, xmlDocPtr doc, const char *schema_dir)
{
    if (!schema_dir)
        return;
    g_autofree char *xsd = g_build_filename(schema_dir, "ovf.xsd", NULL);
    xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(xsd);
    xmlSchemaPtr schema = pc ? xmlSchemaParse(pc) : NULL;
    xmlSchemaFreeParserCtxt(pc);
    if (!schema) {
        problem(v, "cannot load the OVF schema %s to validate %s", xsd, v->ovf_name);
        return;
    }
    xmlSchemaValidCtxtPtr vc = xmlSchemaNewValidCtxt(schema);
    xmlSchemaSetValidStructuredErrors(vc, (xmlStructuredErrorFunc)(void *)schema_error, v);
    xmlSchemaValidateDoc(vc, doc);
    xmlSchemaFreeValidCtxt(vc);
    xmlSchemaFree(schema);
}

/* A disk the descriptor says is a streamOptimized VMDK: what the walk of its
 * structure found, its capacity against the descriptor's, and its embedded
 * descriptor. */
static void check_vmdk(Verify *v, const Member *m, uint64_t capacity)
{
    if (!m->walk)
        return;
    for (guint i = 0; i < m->walk_problems->len; i++)
        g_ptr_array_add(v->problems, g_strdup(m->walk_problems->pdata[i]));
    uint64_t cap = vf_vmdk_walk_capacity(m->walk);
    if (cap && capacity && cap != capacity)
        problem(v,
                "%s: capacity %" G_GUINT64_FORMAT " bytes, the descriptor says %" G_GUINT64_FORMAT,
                m->name, cap, capacity);
    if (!cap)
        return;
    const uint8_t *h = m->head;
    if (m->head_len < 1024 || memcmp(h + 512, "# Disk DescriptorFile", 21) != 0)
        problem(v, "%s: no embedded descriptor at sector 1", m->name);
    else if (!g_strstr_len((const char *)h + 512, (gssize)(m->head_len - 512),
                           "createType=\"streamOptimized\""))
        problem(v, "%s: the embedded descriptor is not createType=\"streamOptimized\"", m->name);
}

/*
 * Parses a line of the form ALG(name)= hex, the form of manifest lines and of
 * the first line of a .cert (a trailing CR is ignored). On success returns
 * the algorithm's index in algs[] and sets the g_malloc'd *name and *hex;
 * returns -1 if the line is not in that form.
 */
static int parse_digest_line(char *line, char **name, char **hex)
{
    size_t n = strlen(line);
    if (n && line[n - 1] == '\r')
        line[n - 1] = '\0';
    static GRegex *re; /* compiled once, kept for the process */
    static gsize once;
    if (g_once_init_enter(&once)) {
        re = g_regex_new("^(SHA1|SHA256|SHA512)\\(([^()/]+)\\)= ([0-9a-f]+)$", G_REGEX_OPTIMIZE, 0,
                         NULL);
        g_once_init_leave(&once, 1);
    }
    g_autoptr(GMatchInfo) mi = NULL;
    if (!g_regex_match(re, line, 0, &mi))
        return -1;
    g_autofree char *alg = g_match_info_fetch(mi, 1);
    g_autofree char *lower = g_ascii_strdown(alg, -1);
    int ai = 0;
    while (strcmp(algs[ai], lower) != 0)
        ai++;
    *name = g_match_info_fetch(mi, 2);
    *hex = g_match_info_fetch(mi, 3);
    return ai;
}

static void check_manifest(Verify *v, GHashTable *by_name, GPtrArray *refs)
{
    g_autofree char *text = g_strndup(g_bytes_get_data(v->mf, NULL), g_bytes_get_size(v->mf));
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    GHashTable *listed = g_hash_table_new(g_str_hash, g_str_equal);
    guint before = v->problems->len;
    for (guint i = 0; lines[i]; i++) {
        if (v->problems->len - before == MAX_MANIFEST_PROBLEMS) {
            problem(v, "%s: more problems follow; the first %u are above", v->mf_name,
                    MAX_MANIFEST_PROBLEMS);
            break;
        }
        char *line = lines[i];
        if (!*line || strcmp(line, "\r") == 0)
            continue;
        g_autofree char *name = NULL, *hex = NULL;
        int ai = parse_digest_line(line, &name, &hex);
        if (ai < 0) {
            problem(v, "%s line %u is not in the form SHA256(name)= hex: \"%.*s%s\"", v->mf_name,
                    i + 1, MAX_QUOTE, line, strlen(line) > MAX_QUOTE ? "..." : "");
            continue;
        }
        g_autofree char *alg = g_ascii_strup(algs[ai], -1);
        Member *m = g_hash_table_lookup(by_name, name);
        if (!m) {
            problem(v, "%s lists %.*s, which is not in the archive", v->mf_name, MAX_QUOTE, name);
            continue;
        }
        g_hash_table_add(listed, m->name);
        if (!m->digest[ai])
            problem(v,
                    "%s: its %s digest was not computed (the manifest came after it and "
                    "named other algorithms)",
                    name, alg);
        else if (strcmp(m->digest[ai], hex) != 0)
            problem(v, "%s: %s digest does not match the manifest (archive %s, manifest %s)", name,
                    alg, m->digest[ai], hex);
    }
    if (v->ovf_name && !g_hash_table_contains(listed, v->ovf_name))
        problem(v, "%s does not list %s", v->mf_name, v->ovf_name);
    for (guint i = 0; i < refs->len; i++)
        if (g_hash_table_lookup(by_name, refs->pdata[i]) &&
            !g_hash_table_contains(listed, refs->pdata[i]))
            problem(v, "%s does not list %s", v->mf_name, (char *)refs->pdata[i]);
    g_hash_table_unref(listed);
}

static void check_cert(Verify *v)
{
    g_autofree char *text = g_strndup(g_bytes_get_data(v->cert, NULL), g_bytes_get_size(v->cert));
    char *nl = strchr(text, '\n');
    g_autofree char *name = NULL, *hex = NULL;
    int ai = -1;
    if (nl) {
        *nl = '\0';
        ai = parse_digest_line(text, &name, &hex);
    }
    if (ai < 0) {
        problem(v, "%s does not start with a line SHA256(%s)= signature", v->cert_name,
                v->mf_name ? v->mf_name : "NAME.mf");
        return;
    }
    if (!v->mf || g_strcmp0(name, v->mf_name) != 0) {
        problem(v, "%s signs %s, not the archive's manifest", v->cert_name, name);
        return;
    }
    BIO *bio = BIO_new_mem_buf(nl + 1, -1);
    X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!cert) {
        ERR_clear_error();
        problem(v, "%s holds no PEM X.509 certificate", v->cert_name);
        return;
    }
    size_t sig_len = strlen(hex) / 2;
    g_autofree unsigned char *sig = g_malloc(sig_len + 1);
    for (size_t i = 0; i < sig_len; i++)
        sig[i] = (unsigned char)(g_ascii_xdigit_value(hex[2 * i]) * 16 +
                                 g_ascii_xdigit_value(hex[2 * i + 1]));
    EVP_PKEY *key = X509_get0_pubkey(cert);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok =
        key && EVP_DigestVerifyInit(ctx, NULL, EVP_get_digestbyname(algs[ai]), NULL, key) == 1 &&
        EVP_DigestVerifyUpdate(ctx, g_bytes_get_data(v->mf, NULL), g_bytes_get_size(v->mf)) == 1 &&
        EVP_DigestVerifyFinal(ctx, sig, sig_len) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    if (!ok)
        problem(v, "%s: the signature of %s does not verify with the certificate's key",
                v->cert_name, v->mf_name);
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
        problem(v, "%s: the certificate has expired", v->cert_name);
    if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
        problem(v, "%s: the certificate is not valid yet", v->cert_name);
    X509_free(cert);
}

/* What a member is: the descriptor, the manifest or the certificate (read
 * whole, bounded: *whole and *limit), or a disk. */
static void classify(Verify *v, const Member *m, GBytes ***whole, size_t *limit)
{
    int idx = m->index;
    *whole = NULL;
    *limit = 0;
    if (g_str_has_suffix(m->name, ".ovf")) {
        if (idx != 0)
            problem(v, "%s is member %d; the descriptor must come first", m->name, idx + 1);
        if (!v->ovf) {
            *whole = &v->ovf;
            *limit = MAX_OVF_BYTES;
            v->ovf_name = g_strdup(m->name);
        }
    } else if (g_str_has_suffix(m->name, ".mf")) {
        *whole = &v->mf;
        *limit = MAX_MF_BYTES;
        v->mf_name = g_strdup(m->name);
        v->mf_index = idx;
    } else if (g_str_has_suffix(m->name, ".cert")) {
        *whole = &v->cert;
        *limit = MAX_CERT_BYTES;
        v->cert_name = g_strdup(m->name);
        v->cert_index = idx;
    } else if (v->first_disk < 0) {
        v->first_disk = idx;
    }
    if (idx == 0 && !g_str_has_suffix(m->name, ".ovf"))
        problem(v, "the first member is %s, not the .ovf descriptor", m->name);
}

/* From the manifest on, compute only the digests it uses. */
static void want_manifest_algorithms(Verify *v)
{
    const char *text = g_bytes_get_data(v->mf, NULL);
    gsize n = g_bytes_get_size(v->mf);
    for (int i = 0; i < N_ALGS; i++) {
        g_autofree char *tag = g_ascii_strup(algs[i], -1);
        g_autofree char *needle = g_strconcat(tag, "(", NULL);
        v->want[i] = n && g_strstr_len(text, (gssize)n, needle) != NULL;
    }
}

/* The archive entry `e`: a plain file with a flat, unique name, read once. */
static int read_one(Verify *v, struct archive *a, struct archive_entry *e, GError **error)
{
    Member *m = g_new0(Member, 1);
    m->name = g_strdup(archive_entry_pathname(e));
    m->size = (uint64_t)archive_entry_size(e);
    m->index = (int)v->members->len;
    g_ptr_array_add(v->members, m);
    if (archive_entry_filetype(e) != AE_IFREG)
        problem(v, "member %s is not a regular file (an OVA holds only files)", m->name);
    if (strchr(m->name, '/'))
        problem(v, "member %s has a directory in its name", m->name);
    if (g_hash_table_contains(v->by_name, m->name))
        problem(v, "member %s appears twice", m->name);
    g_hash_table_insert(v->by_name, m->name, m);
    GBytes **whole;
    size_t limit;
    classify(v, m, &whole, &limit);
    if (!whole) {
        m->walk_problems = g_ptr_array_new_with_free_func(g_free);
        m->walk = vf_vmdk_walk_new(m->name, m->walk_problems);
    }
    int r = read_member(v, a, m, limit, whole, error);
    if (r >= 0 && whole == &v->mf && v->mf)
        want_manifest_algorithms(v);
    return r;
}

/* Every member, in one pass. */
static int read_archive(Verify *v, const char *path, GError **error)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    int r = 0;
    if (archive_read_open_filename(a, path, 1 << 20) != ARCHIVE_OK) {
        g_set_error(error, VF_ERROR, VF_ERROR_INPUT, "%s: %s", path, archive_error_string(a));
        archive_read_free(a);
        return -EINVAL;
    }
    struct archive_entry *e;
    int s;
    while (r >= 0 && (s = archive_read_next_header(a, &e)) == ARCHIVE_OK)
        r = read_one(v, a, e, error);
    if (r >= 0 && s != ARCHIVE_EOF)
        problem(v, "the archive is damaged: %s", archive_error_string(a));
    archive_read_free(a);
    return r;
}

/* .mf and .cert: right after the .ovf, or after every other file. */
static void check_order(Verify *v)
{
    int last = (int)v->members->len - 1;
    if (v->mf_index >= 0 && v->first_disk >= 0 && v->mf_index > v->first_disk &&
        v->mf_index != last - (v->cert_index > v->mf_index ? 1 : 0))
        problem(v, "%s must follow the .ovf or come last", v->mf_name);
    if (v->cert_index >= 0 && v->mf_index >= 0 && v->cert_index != v->mf_index + 1)
        problem(v, "%s must follow %s", v->cert_name, v->mf_name);
}

/* A referenced member: in References order, of its ovf:size, and a
 * streamOptimized VMDK when its disk says so. */
static void check_referenced(Verify *v, xmlXPathContextPtr xc, Member *m, const char *id,
                             const char *size, int *expected_next)
{
    int idx = m->index;
    if (*expected_next >= 0 && idx != *expected_next)
        problem(v, "%s is member %d; References order puts it at %d", m->name, idx + 1,
                *expected_next + 1);
    *expected_next = idx + 1;
    while (*expected_next == v->mf_index || *expected_next == v->cert_index)
        (*expected_next)++;
    if (!size)
        problem(v, "%s: File %s has no ovf:size", v->ovf_name, m->name);
    else if (g_ascii_strtoull(size, NULL, 10) != m->size)
        problem(v, "%s: ovf:size of %s is %s, the file is %" G_GUINT64_FORMAT " bytes", v->ovf_name,
                m->name, size, m->size);
    g_autofree char *fmt_expr = g_strdup_printf(
        "/ovf:Envelope/ovf:DiskSection/ovf:Disk[@ovf:fileRef='%s']/@ovf:format", id ? id : "");
    g_autofree char *cap_expr = g_strdup_printf(
        "/ovf:Envelope/ovf:DiskSection/ovf:Disk[@ovf:fileRef='%s']/@ovf:capacity", id ? id : "");
    g_autofree char *fmt = xpath_string(xc, fmt_expr);
    g_autofree char *cap = xpath_string(xc, cap_expr);
    if (fmt && strcmp(fmt, STREAM_URI) == 0)
        check_vmdk(v, m, cap ? g_ascii_strtoull(cap, NULL, 10) : 0);
}

/* Every File of References is a member (checked as above). */
static void check_references(Verify *v, xmlDocPtr doc)
{
    xmlXPathContextPtr xc = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(xc, (const xmlChar *)"ovf", (const xmlChar *)NS_OVF);
    xmlXPathObjectPtr files = xpath(xc, "/ovf:Envelope/ovf:References/ovf:File");
    int expected_next = v->first_disk;
    for (int i = 0; files && files->nodesetval && i < files->nodesetval->nodeNr; i++) {
        xmlNodePtr f = files->nodesetval->nodeTab[i];
        xmlChar *href = xmlGetNsProp(f, (const xmlChar *)"href", (const xmlChar *)NS_OVF);
        xmlChar *id = xmlGetNsProp(f, (const xmlChar *)"id", (const xmlChar *)NS_OVF);
        xmlChar *size = xmlGetNsProp(f, (const xmlChar *)"size", (const xmlChar *)NS_OVF);
        const char *name = (const char *)href;
        Member *m = name ? g_hash_table_lookup(v->by_name, name) : NULL;
        if (!m) {
            problem(v, "%s references %s, which is not in the archive", v->ovf_name,
                    name ? name : "(no href)");
        } else {
            g_ptr_array_add(v->refs, g_strdup(name));
            check_referenced(v, xc, m, (const char *)id, (const char *)size, &expected_next);
        }
        xmlFree(href);
        xmlFree(id);
        xmlFree(size);
    }
    xmlXPathFreeObject(files);
    xmlXPathFreeContext(xc);
}

/* Every member but the descriptor, manifest and certificate is referenced. */
static void check_unreferenced(Verify *v)
{
    for (guint k = 0; k < v->members->len; k++) {
        Member *m = v->members->pdata[k];
        if (g_str_has_suffix(m->name, ".ovf") || g_str_has_suffix(m->name, ".mf") ||
            g_str_has_suffix(m->name, ".cert"))
            continue;
        if (!g_ptr_array_find_with_equal_func(v->refs, m->name, g_str_equal, NULL))
            problem(v, "member %s is not referenced by %s", m->name, v->ovf_name);
    }
}

/* The descriptor: well-formed, valid, its references and the manifest and
 * signature that cover it. */
static void check_descriptor(Verify *v, const char *schema_dir)
{
    check_order(v);
    xmlDocPtr doc =
        xmlReadMemory(g_bytes_get_data(v->ovf, NULL), (int)g_bytes_get_size(v->ovf), v->ovf_name,
                      NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        problem(v, "%s is not well-formed XML", v->ovf_name);
        return;
    }
    check_schema(v, doc, schema_dir);
    check_references(v, doc);
    xmlFreeDoc(doc);
    check_unreferenced(v);
    if (v->mf)
        check_manifest(v, v->by_name, v->refs);
    if (v->cert)
        check_cert(v);
}

static void verify_clear(Verify *v)
{
    g_ptr_array_unref(v->members);
    g_hash_table_unref(v->by_name);
    g_ptr_array_unref(v->refs);
    if (v->ovf)
        g_bytes_unref(v->ovf);
    if (v->mf)
        g_bytes_unref(v->mf);
    if (v->cert)
        g_bytes_unref(v->cert);
    g_free(v->ovf_name);
    g_free(v->mf_name);
    g_free(v->cert_name);
}

int vf_ova_verify(const char *path, const char *schema_dir, GPtrArray *problems, GError **error)
{
    Verify v = {
        .problems = problems,
        .want = {true, true, true},
        .members = g_ptr_array_new_with_free_func(member_free),
        .by_name = g_hash_table_new(g_str_hash, g_str_equal),
        .refs = g_ptr_array_new_with_free_func(g_free),
        .first_disk = -1,
        .mf_index = -1,
        .cert_index = -1,
    };
    int r = read_archive(&v, path, error);
    if (r >= 0 && v.members->len == 0)
        problem(&v, "the archive is empty");
    else if (r >= 0 && !v.ovf)
        problem(&v, "no .ovf descriptor in the archive");
    else if (r >= 0)
        check_descriptor(&v, schema_dir);
    verify_clear(&v);
    return r;
}
