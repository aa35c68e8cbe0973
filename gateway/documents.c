/* documents: streamed uploads into sealed files; see documents.h. */
#include "gateway/documents.h"

#include "gateway/config.h"
#include "gateway/data_keys.h"
#include "gateway/document_file.h"
#include "gateway/document_pdf.h"
#include "gateway/document_type.h"
#include "gateway/log.h"
#include "gateway/multipart.h"
#include "gateway/store/documents.h"
#include "gateway/thread_name.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DOCUMENTS_FOLDER      "documents"
#define DOCUMENTS_PART_SLACK  (64 * 1024) /* room for parts' headers and boundaries */
#define DOCUMENTS_SWEEP_BATCH 100
#define DOCUMENTS_FIELD_NAME  "file"
#define DOCUMENTS_MIB         (1024.0 * 1024.0)
#define DOCUMENTS_DAY_S       86400L

struct documents {
    char dir[DOCUMENT_PATH_MAX];
    struct data_keys *keys;
    long retention_days;
    long sweep_interval_s;
    /* the janitor: expired uploads and delivered files */
    struct store *store;
    pthread_t janitor;
    bool janitor_running;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopping;
};

struct document_upload {
    struct documents *docs;
    const struct config *cfg;
    struct multipart *mp;
    /* the file being received */
    bool in_file;
    bool skipping; /* a part that is not a file: its data is ignored */
    struct document_writer *writer;
    struct document_type type;
    EVP_MD_CTX *sha;
    struct document_record current;
    /* the files done */
    struct document_record *done;
    size_t done_len;
    /* the first refusal */
    bool refused;
    struct document_refusal why;
    bool recorded;
};

/* Removes the .part files a crash left behind (no upload is in flight before we serve). */
static void remove_stale_parts(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".part") == 0) {
            char path[DOCUMENT_PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (unlink(path) == 0)
                log_msg(LOG_INFO, "document_part_removed",
                        "removed an upload a stop interrupted (%s)", e->d_name);
        }
    }
    closedir(d);
}

struct documents *documents_open(const struct config *cfg, char *err, size_t errlen)
{
    struct documents *docs = calloc(1, sizeof *docs);
    if (!docs) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    documents_folder(cfg->data_dir, docs->dir);
    docs->retention_days = cfg->documents.retention_days;
    docs->sweep_interval_s = cfg->documents.sweep_interval_s;
    pthread_mutex_init(&docs->lock, NULL);
    pthread_cond_init(&docs->cond, NULL);
    if (mkdir(docs->dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot make the documents folder %s: %s", docs->dir,
                 strerror(errno));
        documents_close(docs);
        return NULL;
    }
    remove_stale_parts(docs->dir);
    if (cfg->data_key_file) {
        docs->keys = data_keys_new();
        /* the current key, and the older ones that still open documents sealed under them */
        if (!docs->keys || !config_data_keys_load(cfg, docs->keys, err, errlen)) {
            documents_close(docs);
            return NULL;
        }
    }
    return docs;
}

void documents_close(struct documents *docs)
{
    if (!docs)
        return;
    if (docs->janitor_running) {
        pthread_mutex_lock(&docs->lock);
        docs->stopping = true;
        pthread_cond_signal(&docs->cond);
        pthread_mutex_unlock(&docs->lock);
        pthread_join(docs->janitor, NULL);
    }
    pthread_mutex_destroy(&docs->lock);
    pthread_cond_destroy(&docs->cond);
    data_keys_free(docs->keys);
    free(docs);
}

void documents_folder(const char *data_dir, char *out)
{
    snprintf(out, DOCUMENT_PATH_MAX, "%s/%s", data_dir, DOCUMENTS_FOLDER);
}

const char *documents_dir(const struct documents *docs)
{
    return docs->dir;
}

const struct data_keys *documents_keys(const struct documents *docs)
{
    return docs->keys;
}

long documents_body_limit(const struct config *cfg)
{
    long files = cfg->documents.submission_limit > cfg->documents.file_limit
                     ? cfg->documents.submission_limit
                     : cfg->documents.file_limit;
    return files + DOCUMENTS_PART_SLACK;
}

static void file_remove(const char *dir, const char *id)
{
    char path[DOCUMENT_PATH_MAX];
    document_file_path(dir, id, path);
    if (unlink(path) != 0 && errno != ENOENT)
        log_msg(LOG_WARN, "document_unlink_failed", "cannot delete document %s: %s", id,
                strerror(errno));
}

/* Deletes the files of the documents listed (ids, stolen; listed: how the listing went);
 * with mark_deleted, then records that their files are gone. How many went; -1 when the store
 * failed. */
static long sweep_listed(const char *dir, struct store *store, enum store_result listed,
                         json_t *ids, bool mark_deleted, time_t now)
{
    if (listed != STORE_OK)
        return -1;
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        file_remove(dir, json_string_value(json_object_get(v, "id")));
    }
    long n = (long)json_array_size(ids);
    enum store_result r =
        n && mark_deleted ? store_documents_files_deleted(store, ids, now) : STORE_OK;
    json_decref(ids);
    return r == STORE_OK ? n : -1;
}

long documents_sweep(struct documents *docs, struct store *store, time_t now)
{
    json_t *ids = NULL;
    enum store_result r = store_documents_forget_expired(store, now, DOCUMENTS_SWEEP_BATCH, &ids);
    long n = sweep_listed(docs->dir, store, r, ids, false, now);
    if (n > 0)
        log_msg(LOG_INFO, "documents_expired", "%ld unattached document%s deleted", n,
                n == 1 ? "" : "s");
    return n;
}

long documents_remove_purged(const char *data_dir, struct store *store, time_t now)
{
    char dir[DOCUMENT_PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", data_dir, DOCUMENTS_FOLDER);
    long total = 0, n;
    do {
        json_t *ids = NULL;
        enum store_result r = store_documents_purged(store, DOCUMENTS_SWEEP_BATCH, &ids);
        n = sweep_listed(dir, store, r, ids, true, now);
        total = n < 0 ? -1 : total + n;
    } while (n == DOCUMENTS_SWEEP_BATCH);
    return total;
}

/* The files of delivered documents past their retention go; their records stay. */
static long sweep_delivered(struct documents *docs, struct store *store, time_t now)
{
    json_t *ids = NULL;
    time_t before = now - (time_t)docs->retention_days * DOCUMENTS_DAY_S;
    enum store_result r = store_documents_delivered(store, before, DOCUMENTS_SWEEP_BATCH, &ids);
    long n = sweep_listed(docs->dir, store, r, ids, true, now);
    if (n > 0)
        log_msg(LOG_INFO, "documents_delivered_deleted",
                "%ld delivered document file%s deleted (the records stay)", n, n == 1 ? "" : "s");
    return n;
}

static void *janitor_main(void *arg)
{
    struct documents *docs = arg;
    thread_name_set("doc-janitor");
    pthread_mutex_lock(&docs->lock);
    while (!docs->stopping) {
        pthread_mutex_unlock(&docs->lock);
        time_t now = time(NULL);
        documents_sweep(docs, docs->store, now);
        sweep_delivered(docs, docs->store, now);
        pthread_mutex_lock(&docs->lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += docs->sweep_interval_s;
        while (!docs->stopping &&
               pthread_cond_timedwait(&docs->cond, &docs->lock, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&docs->lock);
    return NULL;
}

/* Removes the sealed files no row names: an upload whose files were renamed to .doc but
 * whose records were never written (a crash between the two). Only before serving: then no
 * upload is between its rename and its write. */
static void remove_orphans(const struct documents *docs, struct store *store)
{
    DIR *d = opendir(docs->dir);
    if (!d)
        return;
    long removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char id[DOCUMENT_ID_LEN + 1];
        size_t len = strlen(e->d_name);
        if (len != DOCUMENT_ID_LEN + strlen(DOCUMENT_FILE_EXT) ||
            strcmp(e->d_name + DOCUMENT_ID_LEN, DOCUMENT_FILE_EXT) != 0)
            continue;
        snprintf(id, sizeof id, "%.*s", DOCUMENT_ID_LEN, e->d_name);
        bool known = true;
        if (!document_id_valid(id) || store_documents_known(store, id, &known) != STORE_OK || known)
            continue;
        char path[DOCUMENT_PATH_MAX];
        document_file_path(docs->dir, id, path);
        if (unlink(path) == 0)
            removed++;
    }
    closedir(d);
    if (removed > 0)
        log_msg(LOG_INFO, "document_orphans_removed",
                "removed %ld sealed file%s that no upload record names (a stop interrupted "
                "the upload)",
                removed, removed == 1 ? "" : "s");
}

bool documents_janitor_start(struct documents *docs, struct store *store)
{
    remove_orphans(docs, store);
    docs->store = store;
    docs->janitor_running = pthread_create(&docs->janitor, NULL, janitor_main, docs) == 0;
    return docs->janitor_running;
}

/* Remembers the first refusal; the upload is then only drained. */
static bool refuse(struct document_upload *up, int status, const char *code, const char *file,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static bool refuse(struct document_upload *up, int status, const char *code, const char *file,
                   const char *fmt, ...)
{
    if (up->refused)
        return false;
    up->refused = true;
    up->why.status = status;
    up->why.code = code;
    snprintf(up->why.file, sizeof up->why.file, "%s", file ? file : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(up->why.message, sizeof up->why.message, fmt, ap);
    va_end(ap);
    return false;
}

static void current_drop(struct document_upload *up)
{
    document_writer_abort(up->writer);
    up->writer = NULL;
    EVP_MD_CTX_free(up->sha);
    up->sha = NULL;
    up->in_file = false;
}

static bool on_part_begin(void *ctx, const struct multipart_part *part)
{
    struct document_upload *up = ctx;
    up->skipping = strcmp(part->name, DOCUMENTS_FIELD_NAME) != 0;
    if (up->skipping)
        return true;
    if (!part->has_filename || !part->filename[0])
        return refuse(up, 400, "missing_file_name", NULL,
                      "Each file part needs a file name (filename=\"...\").");
    if ((long)up->done_len >= up->cfg->documents.files_max)
        return refuse(up, 413, "too_many_files", part->filename,
                      "At most %ld files can be uploaded at once; %s is one too many.",
                      up->cfg->documents.files_max, part->filename);
    memset(&up->current, 0, sizeof up->current);
    snprintf(up->current.name, sizeof up->current.name, "%s", part->filename);
    char err[256];
    if (!document_id_new(up->current.id))
        return refuse(up, 503, "documents_unavailable", NULL, "No random id could be made.");
    up->writer =
        document_writer_open(up->docs->keys, up->docs->dir, up->current.id, err, sizeof err);
    up->sha = EVP_MD_CTX_new();
    if (!up->writer || !up->sha || EVP_DigestInit_ex(up->sha, EVP_sha256(), NULL) != 1) {
        log_msg(LOG_ERROR, "document_write_failed", "%s", err);
        current_drop(up);
        return refuse(up, 503, "documents_unavailable", NULL,
                      "The gateway cannot store documents right now. Nothing was kept; "
                      "please try again in a moment.");
    }
    snprintf(up->current.key_id, sizeof up->current.key_id, "%s",
             document_writer_key_id(up->writer));
    document_type_init(&up->type);
    up->in_file = true;
    return true;
}

static bool on_part_data(void *ctx, const char *data, size_t len)
{
    struct document_upload *up = ctx;
    if (up->skipping)
        return true;
    long limit = up->cfg->documents.file_limit;
    if (up->current.bytes + (long long)len > limit) {
        current_drop(up);
        return refuse(up, 413, "file_too_large", up->current.name,
                      "%s is larger than the %.0f MiB limit for one file. Scan it at a lower "
                      "resolution or split it into parts.",
                      up->current.name, limit / DOCUMENTS_MIB);
    }
    bool was_unknown = up->type.head_len < DOCUMENT_SNIFF_BYTES;
    document_type_feed(&up->type, data, len);
    if (was_unknown && up->type.head_len >= DOCUMENT_SNIFF_BYTES &&
        document_type_kind(&up->type) == DOCUMENT_UNKNOWN) {
        current_drop(up);
        return refuse(up, 422, "unsupported_type", up->current.name,
                      "%s is not a PDF, JPEG, PNG or TIFF file (judged by its content, not its "
                      "name), so it cannot be accepted.",
                      up->current.name);
    }
    up->current.bytes += (long long)len;
    if (EVP_DigestUpdate(up->sha, data, len) != 1 ||
        !document_writer_write(up->writer, data, len)) {
        current_drop(up);
        return refuse(up, 503, "documents_unavailable", NULL,
                      "The gateway could not save the file (disk full?). Nothing was kept.");
    }
    return true;
}

static bool on_part_end(void *ctx)
{
    struct document_upload *up = ctx;
    if (up->skipping)
        return true;
    struct document_record *d = &up->current;
    enum document_kind kind = document_type_kind(&up->type);
    if (kind == DOCUMENT_UNKNOWN) {
        current_drop(up);
        return d->bytes == 0 ? refuse(up, 422, "empty_file", d->name, "%s is empty.", d->name)
                             : refuse(up, 422, "unsupported_type", d->name,
                                      "%s is not a PDF, JPEG, PNG or TIFF file (judged by its "
                                      "content, not its name), so it cannot be accepted.",
                                      d->name);
    }
    d->type = document_kind_name(kind);
    d->pages = document_type_pages(&up->type);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    bool ok = EVP_DigestFinal_ex(up->sha, md, &mdlen) == 1 && mdlen * 2 == DOCUMENT_SHA256_HEX;
    for (unsigned int i = 0; ok && i < mdlen; i++)
        snprintf(d->sha256 + 2 * i, 3, "%02x", md[i]);
    ok = ok && document_writer_commit(up->writer);
    up->writer = NULL;
    if (ok && document_type_pdf_needs_parse(&up->type)) /* object streams: qpdf counts */
        d->pages = document_pdf_pages(up->docs->keys, up->docs->dir, d->id,
                                      (size_t)up->cfg->documents.file_limit);
    current_drop(up);
    struct document_record *grown =
        ok ? realloc(up->done, (up->done_len + 1) * sizeof *up->done) : NULL;
    if (!grown) {
        if (ok)
            file_remove(up->docs->dir, d->id);
        return refuse(up, 503, "documents_unavailable", NULL,
                      "The gateway could not save the file (disk full?). Nothing was kept.");
    }
    up->done = grown;
    up->done[up->done_len++] = *d;
    return true;
}

static const struct multipart_callbacks upload_callbacks = {
    .part_begin = on_part_begin,
    .part_data = on_part_data,
    .part_end = on_part_end,
};

struct document_upload *document_upload_begin(struct documents *docs, const struct config *cfg,
                                              const char *content_type)
{
    struct document_upload *up = calloc(1, sizeof *up);
    if (!up)
        return NULL;
    up->docs = docs;
    up->cfg = cfg;
    if (!docs->keys) {
        refuse(up, 503, "documents_unavailable", NULL,
               "Document uploads are not set up on this gateway (no data key configured).");
        return up;
    }
    up->mp = multipart_new(content_type, &upload_callbacks, up);
    if (!up->mp)
        refuse(up, 400, "not_multipart", NULL,
               "Send the files as multipart/form-data with a boundary, one part named \"file\" "
               "per document.");
    return up;
}

bool document_upload_feed(struct document_upload *up, const char *data, size_t len)
{
    if (up->refused)
        return false;
    if (multipart_feed(up->mp, data, len) == MULTIPART_MALFORMED)
        refuse(up, 400, "malformed_multipart", NULL, "The upload is not well-formed: %s.",
               multipart_error(up->mp));
    return !up->refused;
}

static json_t *record_json(const struct document_record *d)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:s}", "id", d->id, "name", d->name, "type",
                          d->type, "bytes", (json_int_t)d->bytes, "sha256", d->sha256);
    json_object_set_new(o, "pages", d->pages >= 0 ? json_integer(d->pages) : json_null());
    return o;
}

bool document_upload_finish(struct document_upload *up, struct store *store, const char *staff,
                            const char *counter, time_t now, json_t **out,
                            struct document_refusal *why)
{
    if (!up->refused && multipart_finish(up->mp) != MULTIPART_OK)
        refuse(up, 400, "malformed_multipart", NULL, "The upload is not well-formed: %s.",
               multipart_error(up->mp));
    if (!up->refused && up->done_len == 0)
        refuse(up, 422, "no_files", NULL, "Choose at least one file to upload.");
    if (!up->refused) {
        documents_sweep(up->docs, store, now);
        enum store_result r = store_documents_add(store, up->done, up->done_len, staff, counter,
                                                  now, now + up->cfg->documents.unattached_ttl_s);
        if (r != STORE_OK)
            refuse(up, 503, "store_unavailable", NULL,
                   "The gateway cannot save right now (storage unavailable). Nothing was "
                   "recorded; please try again in a moment.");
    }
    if (up->refused) {
        /* all or nothing: the files already sealed go before the refusal is answered */
        current_drop(up);
        for (size_t i = 0; i < up->done_len; i++)
            file_remove(up->docs->dir, up->done[i].id);
        up->done_len = 0;
        *why = up->why;
        return false;
    }
    up->recorded = true;
    json_t *list = json_array();
    for (size_t i = 0; i < up->done_len; i++)
        json_array_append_new(list, record_json(&up->done[i]));
    *out = json_pack("{s:o}", "documents", list);
    return true;
}

void document_upload_free(struct document_upload *up)
{
    if (!up)
        return;
    current_drop(up);
    if (!up->recorded)
        for (size_t i = 0; i < up->done_len; i++)
            file_remove(up->docs->dir, up->done[i].id);
    multipart_free(up->mp);
    free(up->done);
    free(up);
}
