/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "storage.h"

#include "domain-xml.h"
#include "runs.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Pieces of an upload from memory: large enough to keep the stream busy. */
#define UPLOAD_CHUNK (1u << 20)
/* Zeros hashed for a hole of a download, per update. */
#define ZERO_CHUNK (1u << 20)
/* The host's pool when none is named. */
#define DEFAULT_POOL "default"
/* How often a transfer reports progress. */
#define PROGRESS_US (200 * 1000)

struct VmfPool {
    VmfVirt *v;
    VmfPoolKind kind;
    char *name;
    char *dir;
    virStoragePoolPtr pool;
    unsigned generation; /* of the connection `pool` belongs to */
};

struct VmfUpload {
    VmfPool *p;
    virStorageVolPtr vol;
    virStreamPtr st;
    char *name;
    uint64_t size, sent;
};

/* The pool on the current connection: looked up again after a reconnect. */
static virStoragePoolPtr pool_ptr(VmfPool *p)
{
    unsigned gen = vmf_virt_generation(p->v);
    if (p->pool && p->generation == gen)
        return p->pool;
    if (p->pool)
        virStoragePoolFree(p->pool);
    p->pool = virStoragePoolLookupByName(vmf_virt_conn(p->v), p->name);
    p->generation = gen;
    return p->pool;
}

static char *pool_target(virStoragePoolPtr pool)
{
    char *xml = virStoragePoolGetXMLDesc(pool, 0);
    if (!xml)
        return NULL;
    char *dir = vmf_xml_string(xml, "string(/pool/target/path)");
    free(xml);
    return dir;
}

static VmfPool *pool_new(VmfVirt *v, VmfPoolKind kind, const char *name, virStoragePoolPtr pool)
{
    VmfPool *p = g_new0(VmfPool, 1);
    p->v = v;
    p->kind = kind;
    p->name = g_strdup(name);
    p->pool = pool;
    p->generation = vmf_virt_generation(v);
    p->dir = pool_target(pool);
    return p;
}

/* <pool type='dir'><name/><target><path/></target></pool> */
static char *dir_pool_xml(const char *name, const char *dir)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr pool = xmlNewNode(NULL, BAD_CAST "pool");
    xmlDocSetRootElement(doc, pool);
    xmlNewProp(pool, BAD_CAST "type", BAD_CAST "dir");
    xmlNewTextChild(pool, NULL, BAD_CAST "name", BAD_CAST name);
    xmlNodePtr target = xmlNewChild(pool, NULL, BAD_CAST "target", NULL);
    xmlNewTextChild(target, NULL, BAD_CAST "path", BAD_CAST dir);
    char *xml = vmf_xml_doc_text(doc);
    xmlFreeDoc(doc);
    return xml;
}

VmfPool *vmf_pool_local(VmfVirt *v, const char *name, const char *dir, GError **error)
{
    g_autofree char *xml = dir_pool_xml(name, dir);
    virStoragePoolPtr pool = virStoragePoolCreateXML(vmf_virt_conn(v), xml, 0);
    if (!pool) {
        vmf_virt_error(error, "cannot create the storage pool %s on %s", name, dir);
        return NULL;
    }
    return pool_new(v, VMF_POOL_LOCAL, name, pool);
}

VmfPool *vmf_pool_host(VmfVirt *v, const char *name, GError **error)
{
    virStoragePoolPtr pool = virStoragePoolLookupByName(vmf_virt_conn(v), name);
    if (!pool) {
        vmf_virt_error(error,
                       "storage pool %s on %s (virsh -c %s pool-list --all lists them; "
                       "--pool names another, --remote-dir DIR makes one for the run)",
                       name, vmf_virt_host(v), vmf_virt_uri(v));
        return NULL;
    }
    if (virStoragePoolIsActive(pool) != 1) {
        g_set_error(error, vmf_virt_error_quark(), 1,
                    "storage pool %s on %s is not active (virsh -c %s pool-start %s)", name,
                    vmf_virt_host(v), vmf_virt_uri(v), name);
        virStoragePoolFree(pool);
        return NULL;
    }
    virStoragePoolRefresh(pool, 0);
    return pool_new(v, VMF_POOL_HOST, name, pool);
}

VmfPool *vmf_pool_run(VmfVirt *v, const char *name, const char *dir, GError **error)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autofree char *xml = dir_pool_xml(name, path);
    virConnectPtr c = vmf_virt_conn(v);
    virStoragePoolPtr pool = virStoragePoolDefineXML(c, xml, 0);
    if (!pool) {
        vmf_virt_error(error, "cannot define the storage pool %s on %s:%s", name, vmf_virt_host(v),
                       path);
        return NULL;
    }
    if (virStoragePoolBuild(pool, 0) < 0 || virStoragePoolCreate(pool, 0) < 0) {
        vmf_virt_error(error, "cannot make the storage pool %s on %s:%s (does %s exist there?)",
                       name, vmf_virt_host(v), path, dir);
        virStoragePoolDelete(pool, 0);
        virStoragePoolUndefine(pool);
        virStoragePoolFree(pool);
        return NULL;
    }
    return pool_new(v, VMF_POOL_RUN, name, pool);
}

/* A run pool goes with what is left in it: volumes, folder, definition. */
static void run_pool_remove(virStoragePoolPtr pool)
{
    virStorageVolPtr *vols = NULL;
    int n = virStoragePoolListAllVolumes(pool, &vols, 0);
    for (int i = 0; i < n; i++) {
        virStorageVolDelete(vols[i], 0);
        virStorageVolFree(vols[i]);
    }
    free(vols);
    virStoragePoolDestroy(pool);
    virStoragePoolDelete(pool, 0);
    virStoragePoolUndefine(pool);
}

void vmf_pool_free(VmfPool *p)
{
    if (!p)
        return;
    virStoragePoolPtr pool = pool_ptr(p);
    if (pool && p->kind == VMF_POOL_LOCAL)
        virStoragePoolDestroy(pool);
    else if (pool && p->kind == VMF_POOL_RUN)
        run_pool_remove(pool);
    if (p->pool)
        virStoragePoolFree(p->pool);
    g_free(p->name);
    g_free(p->dir);
    g_free(p);
}

bool vmf_pool_on_host(const char *uri, const char *pool, const char *remote_dir)
{
    return pool || remote_dir || vmf_virt_uri_is_remote(uri ? uri : vmf_virt_default_uri());
}

VmfPool *vmf_pool_for_run(VmfVirt *v, const char *pool, const char *remote_dir,
                          const char *run_name, VmfRun *run, GError **error)
{
    if (!remote_dir)
        return vmf_pool_host(v, pool ? pool : DEFAULT_POOL, error);
    vmf_run_add(run, VMF_RUN_POOL, NULL, run_name);
    return vmf_pool_run(v, run_name, remote_dir, error);
}

VmfPoolKind vmf_pool_kind(const VmfPool *p)
{
    return p->kind;
}

const char *vmf_pool_name(const VmfPool *p)
{
    return p->name;
}

const char *vmf_pool_dir(const VmfPool *p)
{
    return p->dir ? p->dir : "";
}

int vmf_pool_space(VmfPool *p, uint64_t *capacity, uint64_t *available, GError **error)
{
    virStoragePoolInfo info;
    virStoragePoolPtr pool = pool_ptr(p);
    if (!pool || virStoragePoolGetInfo(pool, &info) < 0) {
        vmf_virt_error(error, "storage pool %s", p->name);
        return -EIO;
    }
    *capacity = info.capacity;
    *available = info.available;
    return 0;
}

void vmf_pool_refresh(VmfPool *p)
{
    virStoragePoolPtr pool = pool_ptr(p);
    if (pool)
        virStoragePoolRefresh(pool, 0);
}

/* <volume><name/><capacity/><allocation>0</allocation><target><format/>
 * </target>[<backingStore>]</volume> */
static char *vol_xml(const char *name, uint64_t capacity, const char *backing)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr vol = xmlNewNode(NULL, BAD_CAST "volume");
    xmlDocSetRootElement(doc, vol);
    xmlNewTextChild(vol, NULL, BAD_CAST "name", BAD_CAST name);
    char num[32];
    g_snprintf(num, sizeof(num), "%" G_GUINT64_FORMAT, capacity);
    xmlNodePtr cap = xmlNewTextChild(vol, NULL, BAD_CAST "capacity", BAD_CAST num);
    xmlNewProp(cap, BAD_CAST "unit", BAD_CAST "bytes");
    xmlNodePtr alloc = xmlNewTextChild(vol, NULL, BAD_CAST "allocation", BAD_CAST "0");
    xmlNewProp(alloc, BAD_CAST "unit", BAD_CAST "bytes");
    xmlNodePtr target = xmlNewChild(vol, NULL, BAD_CAST "target", NULL);
    xmlNodePtr fmt = xmlNewChild(target, NULL, BAD_CAST "format", NULL);
    xmlNewProp(fmt, BAD_CAST "type", BAD_CAST(backing ? "qcow2" : "raw"));
    if (backing) {
        xmlNodePtr bs = xmlNewChild(vol, NULL, BAD_CAST "backingStore", NULL);
        xmlNewTextChild(bs, NULL, BAD_CAST "path", BAD_CAST backing);
        xmlNodePtr bf = xmlNewChild(bs, NULL, BAD_CAST "format", NULL);
        xmlNewProp(bf, BAD_CAST "type", BAD_CAST "raw");
    }
    char *xml = vmf_xml_doc_text(doc);
    xmlFreeDoc(doc);
    return xml;
}

static virStorageVolPtr vol_new(VmfPool *p, const char *name, uint64_t capacity,
                                const char *backing, GError **error)
{
    g_autofree char *xml = vol_xml(name, capacity, backing);
    virStoragePoolPtr pool = pool_ptr(p);
    virStorageVolPtr vol = pool ? virStorageVolCreateXML(pool, xml, 0) : NULL;
    if (!vol)
        vmf_virt_error(error, "cannot create volume %s in pool %s on %s", name, p->name,
                       vmf_virt_host(p->v));
    return vol;
}

static char *vol_path(virStorageVolPtr vol, const char *name, GError **error)
{
    char *path = virStorageVolGetPath(vol);
    if (!path) {
        vmf_virt_error(error, "volume %s has no path", name);
        return NULL;
    }
    char *out = g_strdup(path);
    free(path);
    return out;
}

char *vmf_vol_create(VmfPool *p, const char *name, uint64_t capacity, GError **error)
{
    g_autoptr(virStorageVol) vol = vol_new(p, name, capacity, NULL, error);
    return vol ? vol_path(vol, name, error) : NULL;
}

char *vmf_vol_overlay(VmfPool *p, const char *name, const char *backing, uint64_t capacity,
                      GError **error)
{
    g_autoptr(virStorageVol) vol = vol_new(p, name, capacity, backing, error);
    return vol ? vol_path(vol, name, error) : NULL;
}

static virStorageVolPtr vol_lookup(VmfPool *p, const char *name)
{
    virStoragePoolPtr pool = pool_ptr(p);
    virStorageVolPtr vol = pool ? virStorageVolLookupByName(pool, name) : NULL;
    if (!vol && pool) {
        /* A file QEMU or an earlier run left may not be listed yet. */
        virStoragePoolRefresh(pool, 0);
        vol = virStorageVolLookupByName(pool, name);
    }
    return vol;
}

char *vmf_vol_find(VmfPool *p, const char *name, uint64_t *capacity, GError **error)
{
    g_autoptr(virStorageVol) vol = vol_lookup(p, name);
    if (!vol)
        return NULL;
    virStorageVolInfo info;
    if (capacity)
        *capacity = virStorageVolGetInfo(vol, &info) == 0 ? info.capacity : 0;
    return vol_path(vol, name, error);
}

bool vmf_vol_delete(VmfPool *p, const char *name)
{
    g_autoptr(virStorageVol) vol = vol_lookup(p, name);
    return vol && virStorageVolDelete(vol, 0) == 0;
}

/* ---- uploads from memory ---------------------------------------------------------- */

VmfUpload *vmf_upload_begin(VmfPool *p, const char *name, uint64_t size, GError **error)
{
    VmfUpload *u = g_new0(VmfUpload, 1);
    u->p = p;
    u->name = g_strdup(name);
    u->size = size;
    u->vol = vol_new(p, name, size ? size : 1, NULL, error);
    if (!u->vol)
        goto fail;
    u->st = virStreamNew(vmf_virt_conn(p->v), 0);
    if (!u->st || virStorageVolUpload(u->vol, u->st, 0, size, 0) < 0) {
        vmf_virt_error(error, "cannot upload to volume %s", name);
        goto fail;
    }
    return u;
fail:
    vmf_upload_abort(u);
    return NULL;
}

int vmf_upload_write(VmfUpload *u, const void *buf, size_t len, GError **error)
{
    const char *p = buf;
    if (u->sent + len > u->size) {
        g_set_error(error, vmf_virt_error_quark(), 1, "volume %s: more data than announced",
                    u->name);
        return -EFBIG;
    }
    while (len) {
        size_t n = MIN(len, (size_t)UPLOAD_CHUNK);
        int r = virStreamSend(u->st, p, n);
        if (r < 0) {
            vmf_virt_error(error, "uploading to volume %s", u->name);
            return -EIO;
        }
        p += r;
        len -= (size_t)r;
        u->sent += (uint64_t)r;
        vmf_virt_count(u->p->v, (uint64_t)r, 0);
    }
    return 0;
}

char *vmf_upload_finish(VmfUpload *u, GError **error)
{
    char *out = NULL;
    if (u->sent != u->size)
        g_set_error(error, vmf_virt_error_quark(), 1,
                    "volume %s: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes uploaded",
                    u->name, u->sent, u->size);
    else if (virStreamFinish(u->st) < 0)
        vmf_virt_error(error, "finishing the upload to volume %s", u->name);
    else
        out = vol_path(u->vol, u->name, error);
    if (!out) {
        vmf_upload_abort(u);
        return NULL;
    }
    virStreamFree(u->st);
    virStorageVolFree(u->vol);
    g_free(u->name);
    g_free(u);
    return out;
}

void vmf_upload_abort(VmfUpload *u)
{
    if (!u)
        return;
    if (u->st) {
        virStreamAbort(u->st);
        virStreamFree(u->st);
    }
    if (u->vol) {
        virStorageVolDelete(u->vol, 0);
        virStorageVolFree(u->vol);
    }
    g_free(u->name);
    g_free(u);
}

/* ---- sparse transfers of local files ---------------------------------------------- */

/* A download's digest, taken by a thread of its own while the data keeps
 * arriving: the zeros of a disk's holes (most of it) cost as much to hash
 * as data, and the network need not wait for them. */
typedef struct {
    EVP_MD_CTX *md;
    GAsyncQueue *q; /* of Piece*; hashing outpaces the network, so it stays short */
    GThread *thread;
    gint abandoned; /* the download failed: what is queued is dropped */
} Hasher;

typedef struct {
    GBytes *data;   /* or NULL: */
    uint64_t zeros; /* that many zero bytes */
    bool end;
} Piece;

/* One transfer in progress: the local file, where it is, what was moved. */
typedef struct {
    int fd;
    uint64_t size, pos;
    VmfTransfer *t;
    VmfVirt *v;
    bool upload;
    Hasher *hash; /* downloads: the digest of what arrives */
    gint64 last;
} Xfer;

static gpointer hasher_main(gpointer opaque)
{
    Hasher *h = opaque;
    static const uint8_t zeros[ZERO_CHUNK];
    for (;;) {
        Piece *p = g_async_queue_pop(h->q);
        bool end = p->end, skip = g_atomic_int_get(&h->abandoned);
        if (p->data && !skip)
            EVP_DigestUpdate(h->md, g_bytes_get_data(p->data, NULL), g_bytes_get_size(p->data));
        for (uint64_t left = skip ? 0 : p->zeros; left > 0; left -= MIN(left, (uint64_t)ZERO_CHUNK))
            EVP_DigestUpdate(h->md, zeros, (size_t)MIN(left, (uint64_t)ZERO_CHUNK));
        if (p->data)
            g_bytes_unref(p->data);
        g_free(p);
        if (end)
            return NULL;
    }
}

static void hasher_push(Hasher *h, const void *data, size_t len, uint64_t zeros, bool end)
{
    Piece *p = g_new0(Piece, 1);
    p->data = data ? g_bytes_new(data, len) : NULL;
    p->zeros = zeros;
    p->end = end;
    g_async_queue_push(h->q, p);
}

static void hasher_start(Hasher *h)
{
    h->md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(h->md, EVP_sha256(), NULL);
    h->q = g_async_queue_new();
    h->thread = g_thread_new("vmf-digest", hasher_main, h);
}

/* Ends the digest (the thread drains the queue first); `hex` gets it when
 * not NULL. */
static void hasher_finish(Hasher *h, char hex[65])
{
    if (!hex)
        g_atomic_int_set(&h->abandoned, 1);
    hasher_push(h, NULL, 0, 0, true);
    g_thread_join(h->thread);
    g_async_queue_unref(h->q);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(h->md, d, &n);
    EVP_MD_CTX_free(h->md);
    for (unsigned i = 0; hex && i < n && i < 32; i++)
        g_snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static void xfer_progress(Xfer *x, bool force)
{
    gint64 now = g_get_monotonic_time();
    if (!x->t->progress || (!force && now - x->last < PROGRESS_US))
        return;
    x->last = now;
    x->t->progress(x->pos, x->size, x->t->data);
}

static bool xfer_cancelled(const Xfer *x)
{
    return x->t->cancel && *x->t->cancel;
}

/* Upload: the next `nbytes` of data from the file. */
static int src_data(virStreamPtr st, char *data, size_t nbytes, void *opaque)
{
    (void)st;
    Xfer *x = opaque;
    if (xfer_cancelled(x)) {
        errno = EINTR;
        return -1;
    }
    ssize_t n;
    do
        n = read(x->fd, data, nbytes);
    while (n < 0 && errno == EINTR && !xfer_cancelled(x));
    if (n > 0) {
        x->pos += (uint64_t)n;
        x->t->bytes += (uint64_t)n;
        vmf_virt_count(x->v, (uint64_t)n, 0);
        xfer_progress(x, false);
    }
    return (int)n;
}

/* Upload: is the file's position in data or in a hole, and for how long
 * (SEEK_DATA/SEEK_HOLE); at the end, a hole of 0. */
static int src_hole(virStreamPtr st, int *in_data, long long *length, void *opaque)
{
    (void)st;
    Xfer *x = opaque;
    off_t cur = (off_t)x->pos;
    off_t data = lseek(x->fd, cur, SEEK_DATA);
    if (data < 0 && errno != ENXIO)
        return -1;
    if (data < 0 || data > cur) {
        *in_data = 0;
        *length = (long long)((data < 0 ? (off_t)x->size : data) - cur);
    } else {
        off_t hole = lseek(x->fd, cur, SEEK_HOLE);
        if (hole < 0)
            return -1;
        *in_data = 1;
        *length = (long long)(hole - cur);
    }
    return lseek(x->fd, cur, SEEK_SET) < 0 ? -1 : 0;
}

/* Upload: past a hole the stream has sent as such. */
static int src_skip(virStreamPtr st, long long length, void *opaque)
{
    (void)st;
    Xfer *x = opaque;
    if (lseek(x->fd, (off_t)length, SEEK_CUR) < 0)
        return -1;
    x->pos += (uint64_t)length;
    xfer_progress(x, false);
    return 0;
}

char *vmf_vol_upload_file(VmfPool *p, const char *name, const char *path, VmfTransfer *t,
                          GError **error)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0) {
        g_set_error(error, vmf_virt_error_quark(), 1, "%s: %s", path, g_strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    Xfer x = {.fd = fd, .size = (uint64_t)sb.st_size, .t = t, .v = p->v, .upload = true};
    g_autoptr(virStorageVol) vol = vol_new(p, name, x.size ? x.size : 1, NULL, error);
    g_autoptr(virStream) st = vol ? virStreamNew(vmf_virt_conn(p->v), 0) : NULL;
    char *out = NULL;
    if (vol &&
        (!st || virStorageVolUpload(vol, st, 0, 0, VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM) < 0 ||
         virStreamSparseSendAll(st, src_data, src_hole, src_skip, &x) < 0 ||
         virStreamFinish(st) < 0))
        vmf_virt_error(error, "uploading %s to volume %s on %s%s", path, name, vmf_virt_host(p->v),
                       xfer_cancelled(&x) ? " (interrupted)" : "");
    else if (vol)
        out = vol_path(vol, name, error);
    close(fd);
    xfer_progress(&x, true);
    if (!out && vol)
        virStorageVolDelete(vol, 0);
    return out;
}

/* Download: data as it arrives, written and hashed. */
static int sink_data(virStreamPtr st, const char *data, size_t nbytes, void *opaque)
{
    (void)st;
    Xfer *x = opaque;
    if (xfer_cancelled(x)) {
        errno = EINTR;
        return -1;
    }
    size_t done = 0;
    while (done < nbytes) {
        ssize_t n = write(x->fd, data + done, nbytes - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        done += (size_t)n;
    }
    hasher_push(x->hash, data, nbytes, 0, false);
    x->pos += nbytes;
    x->t->bytes += nbytes;
    vmf_virt_count(x->v, 0, nbytes);
    xfer_progress(x, false);
    return (int)nbytes;
}

/* Download: a hole stays a hole (the file grows past it); its zeros go into
 * the digest. */
static int sink_hole(virStreamPtr st, long long length, void *opaque)
{
    (void)st;
    Xfer *x = opaque;
    if (xfer_cancelled(x)) {
        errno = EINTR;
        return -1;
    }
    off_t end = lseek(x->fd, (off_t)length, SEEK_CUR);
    if (end < 0 || ftruncate(x->fd, end) < 0)
        return -1;
    hasher_push(x->hash, NULL, 0, (uint64_t)length, false);
    x->pos += (uint64_t)length;
    xfer_progress(x, false);
    return 0;
}

static int download_fail(Xfer *x, const char *path, GError **error, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
static int download_fail(Xfer *x, const char *path, GError **error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    vmf_virt_error(error, "%s%s", what, xfer_cancelled(x) ? " (interrupted)" : "");
    if (x->fd >= 0)
        close(x->fd);
    g_unlink(path);
    return -EIO;
}

int vmf_vol_download_file(VmfPool *p, const char *name, const char *path, VmfTransfer *t,
                          GError **error)
{
    g_autoptr(virStorageVol) vol = vol_lookup(p, name);
    virStorageVolInfo info;
    /* The file's own size (a qcow2's is not its capacity), refreshed: QEMU
     * may have written it since the pool last looked. */
    if (vol)
        virStoragePoolRefresh(pool_ptr(p), 0);
    if (!vol || virStorageVolGetInfoFlags(vol, &info, VIR_STORAGE_VOL_GET_PHYSICAL) < 0) {
        vmf_virt_error(error, "volume %s in pool %s on %s", name, p->name, vmf_virt_host(p->v));
        return -ENOENT;
    }
    Xfer x = {.size = info.allocation, .t = t, .v = p->v};
    x.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (x.fd < 0) {
        g_set_error(error, vmf_virt_error_quark(), 1, "%s: %s", path, g_strerror(errno));
        return -errno;
    }
    Hasher hash = {0};
    hasher_start(&hash);
    x.hash = &hash;
    g_autoptr(virStream) st = virStreamNew(vmf_virt_conn(p->v), 0);
    if (!st || virStorageVolDownload(vol, st, 0, 0, VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM) < 0 ||
        virStreamSparseRecvAll(st, sink_data, sink_hole, &x) < 0 || virStreamFinish(st) < 0) {
        hasher_finish(&hash, NULL);
        return download_fail(&x, path, error, "downloading volume %s from %s into %s", name,
                             vmf_virt_host(p->v), path);
    }
    hasher_finish(&hash, t->sha256);
    if (x.pos != x.size || fsync(x.fd) < 0 || close(x.fd) < 0) {
        int e = errno;
        x.fd = -1;
        g_unlink(path);
        g_set_error(error, vmf_virt_error_quark(), 1,
                    "%s: %s (%" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes)", path,
                    x.pos != x.size ? "the download ended early" : g_strerror(e), x.pos, x.size);
        return -EIO;
    }
    xfer_progress(&x, true);
    return 0;
}

/* Download of a range into memory. */
static int mem_sink(virStreamPtr st, const char *data, size_t nbytes, void *opaque)
{
    (void)st;
    GByteArray *b = opaque;
    g_byte_array_append(b, (const guint8 *)data, (guint)nbytes);
    return (int)nbytes;
}

int vmf_vol_read(VmfPool *p, const char *name, uint64_t offset, void *buf, size_t len,
                 GError **error)
{
    g_autoptr(virStorageVol) vol = vol_lookup(p, name);
    g_autoptr(GByteArray) b = g_byte_array_new();
    g_autoptr(virStream) st = vol ? virStreamNew(vmf_virt_conn(p->v), 0) : NULL;
    if (!st || virStorageVolDownload(vol, st, offset, len, 0) < 0 ||
        virStreamRecvAll(st, mem_sink, b) < 0 || virStreamFinish(st) < 0) {
        vmf_virt_error(error, "reading volume %s on %s", name, vmf_virt_host(p->v));
        return -EIO;
    }
    if (b->len != len) {
        g_set_error(error, vmf_virt_error_quark(), 1, "volume %s: short read", name);
        return -EIO;
    }
    vmf_virt_count(p->v, 0, len);
    memcpy(buf, b->data, len);
    return 0;
}
