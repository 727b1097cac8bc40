/* SPDX-License-Identifier: GPL-2.0-or-later */
/* engine.c — the single-pass converter. See engine.h. */
#include "engine.h"

#include "compress.h"

#include <errno.h>
#include <sys/stat.h>

/* A hole is handed to the writers in spans of at most this much, so progress
 * keeps moving on formats that must hash the zeros (raw, fixed VHD). */
#define MAX_ZERO_SPAN (1024ull * VF_MIB)
/* Batches in flight: enough to keep every worker and writer busy. Each costs
 * about 3 MiB (data and both deflate variants). */
#define WINDOW_MIN 8u
#define WINDOW_MAX 64u
/* Level 5: on /usr data, 1.1 % larger qcow2 clusters than level 6 (what
 * qemu-img -c uses) for 20 % less zlib time; see bench/README.md. */
#define DEFAULT_LEVEL 5
/* How often waiting threads look at the cancel flag. */
#define POLL_USEC (100 * G_TIME_SPAN_MILLISECOND)

typedef enum { SLOT_FREE, SLOT_FILLED, SLOT_DONE } SlotState;

typedef struct Slot {
    uint64_t seq;
    SlotState state;
    unsigned refs;       /* writers that still have to consume it */
    uint64_t data_bytes; /* allocated bytes inside the batch */
    VfBatch batch;
    uint8_t *data; /* VF_BATCH_SIZE */
    uint8_t *d32;  /* VF_BATCH_UNITS * d32_stride */
    uint8_t *d4k;  /* VF_BATCH_UNITS * VF_UNIT_SIZE */
} Slot;

typedef struct Engine {
    VfSource *src;
    const VfConvertOptions *opts;
    unsigned needs;
    int level;
    size_t d32_stride;
    unsigned window;
    Slot *slots;

    GMutex lock;
    GCond cond;
    uint64_t total_seq; /* number of batches, once the reader is done */
    bool stop;
    GError *error;
    unsigned writers_done;
    uint64_t bytes_done, data_done;

    GAsyncQueue *work;
    unsigned n_workers;
    GThread **workers;

    size_t n_writers;
    VfWriter **writers;
    GThread **writer_threads;
    VfDiskInfo *infos;
} Engine;

static Slot sentinel_slot;

void vf_artefact_clear(void *p)
{
    VfArtefact *a = p;
    g_clear_pointer(&a->path, g_free);
    g_clear_pointer(&a->spec, g_free);
}

static bool cancelled(const Engine *e)
{
    return e->opts->cancel && *e->opts->cancel;
}

/* Records the first failure and wakes everyone. Takes ownership of err. */
static void fail_locked(Engine *e, GError *err)
{
    if (!e->error)
        e->error = err;
    else
        g_error_free(err);
    e->stop = true;
    g_cond_broadcast(&e->cond);
}

static void fail(Engine *e, GError *err)
{
    g_mutex_lock(&e->lock);
    fail_locked(e, err);
    g_mutex_unlock(&e->lock);
}

static void cancel_locked(Engine *e)
{
    fail_locked(e, g_error_new(VF_ERROR, VF_ERROR_CANCELLED, "interrupted"));
}

/* ---- workers ------------------------------------------------------------ */

static void process_slot(Engine *e, VfCompressor *c, Slot *s)
{
    VfBatch *b = &s->batch;
    for (unsigned i = 0; i < b->n_units; i++) {
        VfUnit *u = &b->units[i];
        u->zero = vf_is_zero(u->data, VF_UNIT_SIZE);
        if (u->zero)
            continue;
        u->crc32 = vf_crc32(0, u->data, u->len);
        if (e->needs & VF_NEED_ADLER32)
            u->adler32 = vf_adler32(1, u->data, VF_UNIT_SIZE);
        if (e->needs & VF_NEED_DEFLATE32) {
            uint8_t *out = s->d32 + (size_t)i * e->d32_stride;
            u->d32 = out;
            u->d32_len = (uint32_t)vf_deflate32(c, u->data, VF_UNIT_SIZE, out, e->d32_stride);
        }
        if (e->needs & VF_NEED_DEFLATE4K) {
            uint8_t *out = s->d4k + (size_t)i * VF_UNIT_SIZE;
            u->d4k = out;
            /* Anything not smaller than a cluster is stored uncompressed. */
            u->d4k_len = (uint32_t)vf_deflate4k(c, u->data, VF_UNIT_SIZE, out, VF_UNIT_SIZE - 1);
        }
    }
}

static gpointer worker_main(gpointer data)
{
    Engine *e = data;
    g_autoptr(VfCompressor) c = vf_compressor_new(e->level);
    for (;;) {
        Slot *s = g_async_queue_pop(e->work);
        if (s == &sentinel_slot)
            break;
        bool skip;
        g_mutex_lock(&e->lock);
        skip = e->stop;
        g_mutex_unlock(&e->lock);
        if (!skip && c)
            process_slot(e, c, s);
        g_mutex_lock(&e->lock);
        if (!c)
            fail_locked(e, g_error_new(VF_ERROR, VF_ERROR_INTERNAL, "out of memory"));
        s->state = SLOT_DONE;
        s->refs = (unsigned)e->n_writers;
        g_cond_broadcast(&e->cond);
        g_mutex_unlock(&e->lock);
    }
    return NULL;
}

/* ---- writers ------------------------------------------------------------ */

typedef struct WriterThread {
    Engine *e;
    VfWriter *w;
} WriterThread;

static gpointer writer_main(gpointer data)
{
    WriterThread *wt = data;
    Engine *e = wt->e;
    VfWriter *w = wt->w;
    bool ok = true;

    for (uint64_t seq = 0;; seq++) {
        Slot *s = &e->slots[seq % e->window];
        g_mutex_lock(&e->lock);
        while (!e->stop && !(s->seq == seq && s->state == SLOT_DONE) && seq < e->total_seq)
            g_cond_wait(&e->cond, &e->lock);
        bool ready = s->seq == seq && s->state == SLOT_DONE;
        if (e->stop || !ready) {
            ok = !e->stop;
            g_mutex_unlock(&e->lock);
            break;
        }
        g_mutex_unlock(&e->lock);

        GError *err = NULL;
        int r = w->ops->write(w, &s->batch, &err);

        g_mutex_lock(&e->lock);
        if (r < 0)
            fail_locked(e, err ? err : g_error_new(VF_ERROR, VF_ERROR_INTERNAL, "write failed"));
        if (--s->refs == 0) {
            s->state = SLOT_FREE;
            e->bytes_done += s->batch.length;
            e->data_done += s->data_bytes;
        }
        g_cond_broadcast(&e->cond);
        g_mutex_unlock(&e->lock);
        if (r < 0) {
            ok = false;
            break;
        }
    }

    if (ok) {
        GError *err = NULL;
        int r = w->ops->finish ? w->ops->finish(w, &err) : 0;
        if (r >= 0 && w->sink)
            r = vf_sink_prepare(w->sink, &err);
        if (r < 0)
            fail(e, err ? err : g_error_new(VF_ERROR, VF_ERROR_INTERNAL, "finish failed"));
    }
    g_mutex_lock(&e->lock);
    e->writers_done++;
    g_cond_broadcast(&e->cond);
    g_mutex_unlock(&e->lock);
    g_free(wt);
    return NULL;
}

/* ---- reader ------------------------------------------------------------- */

static void report(Engine *e, bool finishing)
{
    if (!e->opts->progress)
        return;
    VfProgress p = {0};
    g_mutex_lock(&e->lock);
    p.bytes_done = e->bytes_done;
    p.data_done = e->data_done;
    g_mutex_unlock(&e->lock);
    p.bytes_total = e->src->size;
    p.data_total = e->src->data_bytes;
    p.finishing = finishing;
    e->opts->progress(&p, e->opts->progress_data);
}

/* Waits until slot s is free and claims it for batch seq; false if the
 * conversion is stopping. */
static bool wait_free(Engine *e, Slot *s, uint64_t seq)
{
    g_mutex_lock(&e->lock);
    while (!e->stop && s->state != SLOT_FREE) {
        if (cancelled(e)) {
            cancel_locked(e);
            break;
        }
        gint64 until = g_get_monotonic_time() + POLL_USEC;
        g_cond_wait_until(&e->cond, &e->lock, until);
    }
    bool ok = !e->stop;
    if (ok)
        s->seq = seq;
    g_mutex_unlock(&e->lock);
    return ok;
}

/*
 * Fills the slot for the batch at pos: reads the parts of
 * [pos, pos + len) covered by extents (starting the search at *ext) and
 * zeroes the rest. Returns the allocated byte count, or -errno.
 */
static int64_t fill_batch(Engine *e, Slot *s, uint64_t pos, uint64_t len, guint *ext,
                          GError **error)
{
    GArray *extents = e->src->extents;
    uint64_t end = pos + len, covered = 0, data_bytes = 0;
    bool whole = false;

    for (guint i = *ext; i < extents->len; i++) {
        const VfExtent *x = &g_array_index(extents, VfExtent, i);
        if (x->offset >= end)
            break;
        uint64_t a = MAX(x->offset, pos), b = MIN(x->offset + x->length, end);
        if (a >= b)
            continue;
        if (a == pos && b == end)
            whole = true;
        if (!whole && covered == 0)
            memset(s->data, 0, VF_BATCH_SIZE);
        int r = vf_source_pread(e->src, s->data + (a - pos), (size_t)(b - a), a, error);
        if (r < 0)
            return r;
        covered++;
        data_bytes += b - a;
    }
    if (covered == 0)
        memset(s->data, 0, VF_BATCH_SIZE);
    else if (len < VF_BATCH_SIZE)
        memset(s->data + len, 0, VF_BATCH_SIZE - len);
    return (int64_t)data_bytes;
}

/* Advances *ext past extents ending at or before pos. */
static void skip_extents(Engine *e, uint64_t pos, guint *ext)
{
    GArray *extents = e->src->extents;
    while (*ext < extents->len) {
        const VfExtent *x = &g_array_index(extents, VfExtent, *ext);
        if (x->offset + x->length > pos)
            break;
        (*ext)++;
    }
}

static void read_loop(Engine *e)
{
    const uint64_t size = e->src->size;
    uint64_t pos = 0, seq = 0;
    guint ext = 0;
    gint64 last_report = 0;

    while (pos < size) {
        skip_extents(e, pos, &ext);
        Slot *s = &e->slots[seq % e->window];
        if (!wait_free(e, s, seq))
            break;

        VfBatch *b = &s->batch;
        memset(b, 0, sizeof *b);
        b->index = pos / VF_BATCH_SIZE;
        b->offset = pos;
        s->data_bytes = 0;

        /* Next data at or after pos. */
        uint64_t next_data = size;
        if (ext < e->src->extents->len)
            next_data = MAX(g_array_index(e->src->extents, VfExtent, ext).offset, pos);
        if (next_data >= pos + VF_BATCH_SIZE || next_data >= size) {
            /* A hole covering whole batches: nothing to read. */
            uint64_t span_end = MIN(next_data / VF_BATCH_SIZE * VF_BATCH_SIZE, size);
            if (next_data >= size)
                span_end = size;
            span_end = MIN(span_end, pos + MAX_ZERO_SPAN);
            b->zero_span = true;
            b->length = span_end - pos;
            g_mutex_lock(&e->lock);
            s->state = SLOT_DONE;
            s->refs = (unsigned)e->n_writers;
            g_cond_broadcast(&e->cond);
            g_mutex_unlock(&e->lock);
        } else {
            b->length = MIN((uint64_t)VF_BATCH_SIZE, size - pos);
            GError *err = NULL;
            int64_t n = fill_batch(e, s, pos, b->length, &ext, &err);
            if (n < 0) {
                fail(e, err);
                break;
            }
            s->data_bytes = (uint64_t)n;
            b->n_units = (unsigned)VF_DIV_ROUND_UP(b->length, VF_UNIT_SIZE);
            for (unsigned i = 0; i < b->n_units; i++) {
                VfUnit *u = &b->units[i];
                u->data = s->data + (size_t)i * VF_UNIT_SIZE;
                uint64_t off = (uint64_t)i * VF_UNIT_SIZE;
                u->len = (uint32_t)MIN((uint64_t)VF_UNIT_SIZE, b->length - off);
            }
            g_mutex_lock(&e->lock);
            s->state = SLOT_FILLED;
            g_mutex_unlock(&e->lock);
            g_async_queue_push(e->work, s);
        }
        pos += b->length;
        seq++;

        gint64 now = g_get_monotonic_time();
        if (now - last_report >= POLL_USEC) {
            last_report = now;
            report(e, false);
        }
    }

    g_mutex_lock(&e->lock);
    e->total_seq = seq;
    g_cond_broadcast(&e->cond);
    g_mutex_unlock(&e->lock);
}

/* Waits for every writer thread to finish, still honouring cancel. */
static void wait_writers(Engine *e)
{
    for (;;) {
        g_mutex_lock(&e->lock);
        if (e->writers_done == e->n_writers) {
            g_mutex_unlock(&e->lock);
            break;
        }
        if (!e->stop && cancelled(e))
            cancel_locked(e);
        gint64 until = g_get_monotonic_time() + POLL_USEC;
        g_cond_wait_until(&e->cond, &e->lock, until);
        bool all_consumed = e->bytes_done == e->src->size;
        g_mutex_unlock(&e->lock);
        report(e, all_consumed);
    }
}

/* ---- setup and teardown ------------------------------------------------- */

static int check_not_input(VfSource *src, const char *path, GError **error)
{
    struct stat in, out;
    if (fstat(src->fd, &in) == 0 && stat(path, &out) == 0 && in.st_dev == out.st_dev &&
        in.st_ino == out.st_ino) {
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE,
                    "output %s is the input disk itself; choose another name or directory", path);
        return -EINVAL;
    }
    return 0;
}

static char *spec_string(const VfOutputSpec *o)
{
    GString *s = g_string_new(o->ops->name);
    for (const VfOptionSpec *opt = o->ops->options; opt && opt->key; opt++) {
        const char *v = o->options ? g_hash_table_lookup(o->options, opt->key) : NULL;
        if (v && strcmp(v, opt->default_value) != 0)
            g_string_append_printf(s, ":%s=%s", opt->key, v);
    }
    return g_string_free(s, false);
}

static void writer_free(VfWriter *w)
{
    if (!w)
        return;
    if (w->ops->cleanup && w->priv)
        w->ops->cleanup(w);
    g_free(w->priv);
    vf_sink_free(w->sink);
    if (w->options)
        g_hash_table_unref(w->options);
    if (w->fingerprint)
        g_checksum_free(w->fingerprint);
    g_free(w);
}

static void engine_free_slots(Engine *e)
{
    if (!e->slots)
        return;
    for (unsigned i = 0; i < e->window; i++) {
        g_free(e->slots[i].data);
        g_free(e->slots[i].d32);
        g_free(e->slots[i].d4k);
    }
    g_clear_pointer(&e->slots, g_free);
}

static int check_distinct(const VfOutputSpec *outputs, size_t n_outputs, GError **error)
{
    for (size_t i = 0; i < n_outputs; i++)
        for (size_t j = 0; j < i; j++)
            if (outputs[i].path && outputs[j].path &&
                strcmp(outputs[i].path, outputs[j].path) == 0) {
                g_set_error(error, VF_ERROR, VF_ERROR_USAGE,
                            "two outputs would both be written to %s", outputs[i].path);
                return -EINVAL;
            }
    return 0;
}

/* Output i's writer: its sink (unless it has no file of its own), its
 * options, what it is told of the disk, then its open(). */
static int open_writer(Engine *e, size_t i, const VfOutputSpec *o, const uint8_t identity[32],
                       GError **error)
{
    const VfConvertOptions *opts = e->opts;
    int r = o->ops->no_file ? 0 : check_not_input(e->src, o->path, error);
    if (r < 0)
        return r;
    VfWriter *w = g_new0(VfWriter, 1);
    e->writers[i] = w;
    w->ops = o->ops;
    w->options = o->options ? g_hash_table_ref(o->options) : NULL;
    w->priv = o->ops->priv_size ? g_malloc0(o->ops->priv_size) : NULL;
    w->extra = o->extra;
    VfDiskInfo *info = &e->infos[i];
    info->size = e->src->size;
    memcpy(info->identity, identity, 32);
    info->timestamp = opts->timestamp;
    info->level = e->level;
    info->file_name = !o->path                ? o->ops->name
                      : strrchr(o->path, '/') ? strrchr(o->path, '/') + 1
                                              : o->path;
    w->disk = info;
    if (!o->ops->no_file) {
        r = vf_sink_open(o->path, opts->sink_flags, &w->sink, error);
        if (r < 0)
            return r;
        vf_sink_set_cancel(w->sink, opts->cancel);
    }
    r = o->ops->open(w, error);
    if (r < 0)
        return r;
    e->needs |= w->needs;
    return 0;
}

/* Opens every writer before reading anything: option, size and "already
 * exists" errors come out at once. */
static int open_writers(Engine *e, const VfOutputSpec *outputs, size_t n_outputs, GError **error)
{
    uint8_t identity[32];
    int r = vf_source_identity(e->src, identity, error);
    if (r < 0)
        return r;
    e->n_writers = n_outputs;
    e->writers = g_new0(VfWriter *, n_outputs);
    e->infos = g_new0(VfDiskInfo, n_outputs);
    for (size_t i = 0; i < n_outputs && r >= 0; i++)
        r = open_writer(e, i, &outputs[i], identity, error);
    return r;
}

/* The window of slots, with room for the deflate variants the writers need. */
static int alloc_slots(Engine *e, size_t n_outputs, GError **error)
{
    g_autoptr(VfCompressor) probe = vf_compressor_new(e->level);
    if (!probe) {
        g_set_error(error, VF_ERROR, VF_ERROR_INTERNAL, "cannot set up deflate level %d", e->level);
        return -ENOMEM;
    }
    e->d32_stride = VF_ROUND_UP(vf_deflate32_bound(probe, VF_UNIT_SIZE), 64);
    e->window = e->opts->window
                    ? e->opts->window
                    : CLAMP(4 * e->n_workers + 2 * (unsigned)n_outputs, WINDOW_MIN, WINDOW_MAX);
    e->slots = g_new0(Slot, e->window);
    for (unsigned i = 0; i < e->window; i++) {
        Slot *s = &e->slots[i];
        s->seq = G_MAXUINT64;
        s->state = SLOT_FREE;
        s->data = g_malloc(VF_BATCH_SIZE);
        if (e->needs & VF_NEED_DEFLATE32)
            s->d32 = g_malloc((size_t)VF_BATCH_UNITS * e->d32_stride);
        if (e->needs & VF_NEED_DEFLATE4K)
            s->d4k = g_malloc((size_t)VF_BATCH_UNITS * VF_UNIT_SIZE);
    }
    return 0;
}

/* The compress workers and one thread per writer, the read loop on this
 * thread, until every writer is done; the first error, or a cancel, is the
 * run's. */
static int run_threads(Engine *e, GError **error)
{
    e->work = g_async_queue_new();
    e->workers = g_new0(GThread *, e->n_workers);
    for (unsigned i = 0; i < e->n_workers; i++)
        e->workers[i] = g_thread_new("vf-compress", worker_main, e);
    e->writer_threads = g_new0(GThread *, e->n_writers);
    for (size_t i = 0; i < e->n_writers; i++) {
        WriterThread *wt = g_new0(WriterThread, 1);
        wt->e = e;
        wt->w = e->writers[i];
        e->writer_threads[i] = g_thread_new("vf-writer", writer_main, wt);
    }
    read_loop(e);
    wait_writers(e);
    for (unsigned i = 0; i < e->n_workers; i++)
        g_async_queue_push(e->work, &sentinel_slot);
    for (unsigned i = 0; i < e->n_workers; i++)
        g_thread_join(e->workers[i]);
    for (size_t i = 0; i < e->n_writers; i++)
        g_thread_join(e->writer_threads[i]);
    if (!e->error && cancelled(e))
        e->error = g_error_new(VF_ERROR, VF_ERROR_CANCELLED, "interrupted");
    if (e->error) {
        g_propagate_error(error, g_steal_pointer(&e->error));
        return -ECANCELED;
    }
    return 0;
}

/* Everything is written, durable and hashed: now, and only now, give the
 * outputs their names. If one cannot be linked, unlink the ones that were,
 * so a failed run leaves nothing behind. */
static int commit_outputs(Engine *e, const VfOutputSpec *outputs, GError **error)
{
    bool force = e->opts->sink_flags & VF_SINK_FORCE;
    for (size_t i = 0; i < e->n_writers; i++) {
        VfWriter *w = e->writers[i];
        if (!w->sink)
            continue;
        int r = vf_sink_commit(w->sink, error);
        if (r >= 0 && w->ops->commit) {
            r = w->ops->commit(w, error);
            if (r < 0 && !force)
                (void)unlink(outputs[i].path);
        }
        if (r < 0) {
            for (size_t j = 0; j < i && !force; j++)
                if (e->writers[j]->sink)
                    (void)unlink(outputs[j].path);
            return r;
        }
    }
    return 0;
}

static GArray *artefacts_of(const Engine *e, const VfOutputSpec *outputs)
{
    GArray *arr = g_array_sized_new(false, true, sizeof(VfArtefact), (guint)e->n_writers);
    g_array_set_clear_func(arr, vf_artefact_clear);
    for (size_t i = 0; i < e->n_writers; i++) {
        VfWriter *w = e->writers[i];
        VfArtefact a = {0};
        a.path = g_strdup(outputs[i].path);
        a.format = w->ops->name;
        a.spec = spec_string(&outputs[i]);
        a.virtual_size = w->virtual_size;
        if (w->sink) {
            a.file_size = vf_sink_size(w->sink);
            memcpy(a.sha256, vf_sink_sha256(w->sink), sizeof a.sha256);
        }
        g_array_append_val(arr, a);
    }
    return arr;
}

static void engine_clear(Engine *e)
{
    g_free(e->workers);
    g_free(e->writer_threads);
    if (e->work)
        g_async_queue_unref(e->work);
    for (size_t i = 0; e->writers && i < e->n_writers; i++)
        writer_free(e->writers[i]);
    g_free(e->writers);
    g_free(e->infos);
    engine_free_slots(e);
    if (e->error)
        g_error_free(e->error);
    g_mutex_clear(&e->lock);
    g_cond_clear(&e->cond);
}

int vf_convert(VfSource *src, const VfOutputSpec *outputs, size_t n_outputs,
               const VfConvertOptions *opts, GArray **artefacts, GError **error)
{
    g_return_val_if_fail(n_outputs > 0, -EINVAL);
    Engine e = {0};
    e.src = src;
    e.opts = opts;
    e.level = opts->level > 0 ? opts->level : DEFAULT_LEVEL;
    e.n_workers = opts->jobs > 0 ? opts->jobs : (unsigned)g_get_num_processors();
    e.total_seq = G_MAXUINT64;
    g_mutex_init(&e.lock);
    g_cond_init(&e.cond);
    int r = check_distinct(outputs, n_outputs, error);
    if (r >= 0)
        r = open_writers(&e, outputs, n_outputs, error);
    if (r >= 0)
        r = alloc_slots(&e, n_outputs, error);
    if (r >= 0)
        r = run_threads(&e, error);
    if (r >= 0)
        r = commit_outputs(&e, outputs, error);
    if (r >= 0) {
        *artefacts = artefacts_of(&e, outputs);
        r = 0;
    }
    engine_clear(&e);
    return r;
}
