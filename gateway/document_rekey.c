/* document_rekey: resealing document files under the current key; see document_rekey.h. */
#include "gateway/document_rekey.h"

#include "gateway/data_keys.h"
#include "gateway/document_file.h"
#include "gateway/failpoint.h"
#include "gateway/store_rekey.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REKEY_ERR_MAX 256

enum reseal { RESEALED, ALREADY, GONE, FAILED };

static bool file_missing(const char *dir, const char *id)
{
    char path[DOCUMENT_PATH_MAX];
    document_file_path(dir, id, path);
    return access(path, F_OK) != 0;
}

/* Streams the plaintext of r into w; false when a read or write fails or the tag does not
 * match. */
static bool copy_sealed(struct document_reader *r, struct document_writer *w)
{
    unsigned char *buf = malloc(DOCUMENT_IO_CHUNK);
    ssize_t n = buf ? 1 : -1;
    while (n > 0 && (n = document_reader_read(r, buf, DOCUMENT_IO_CHUNK)) > 0)
        if (!document_writer_write(w, buf, (size_t)n))
            n = -1;
    free(buf);
    return n == 0;
}

static enum reseal reseal_one(const struct data_keys *keys, const char *dir, const char *id,
                              char *err, size_t errlen)
{
    const char *current = data_keys_current(keys);
    char key[DATA_KEY_ID_MAX + 1];
    bool missing = false;
    if (!document_file_key(dir, id, key, &missing)) {
        snprintf(err, errlen, "the file of document %s is not a sealed document", id);
        return missing ? GONE : FAILED;
    }
    if (strcmp(key, current) == 0)
        return ALREADY; /* resealed by a run a crash stopped before it was recorded */
    if (!data_keys_has(keys, key)) {
        snprintf(err, errlen,
                 "document %s is sealed under data key %s, which is not loaded: list its file "
                 "in keys.old_data_key_files",
                 id, key);
        return FAILED;
    }
    struct document_reader *r = document_reader_open(keys, dir, id);
    if (!r) {
        snprintf(err, errlen, "the file of document %s cannot be opened", id);
        return file_missing(dir, id) ? GONE : FAILED;
    }
    struct document_writer *w = document_writer_open_reseal(keys, dir, id, err, errlen);
    if (!w) {
        document_reader_close(r);
        return FAILED;
    }
    bool copied = copy_sealed(r, w);
    document_reader_close(r);
    if (!copied) {
        document_writer_abort(w);
        snprintf(err, errlen,
                 "document %s could not be resealed: its file is damaged or the "
                 "folder cannot be written",
                 id);
        return file_missing(dir, id) ? GONE : FAILED;
    }
    switch (document_writer_replace(w)) {
    case DOCUMENT_REPLACED:
        return RESEALED;
    case DOCUMENT_REPLACE_GONE:
        return GONE;
    case DOCUMENT_REPLACE_FAILED:
        break;
    }
    snprintf(err, errlen, "document %s could not be replaced in the documents folder", id);
    return FAILED;
}

bool document_rekey_all(struct store *store, const struct data_keys *keys, const char *dir,
                        int batch, FILE *progress, struct document_rekey_counts *out)
{
    memset(out, 0, sizeof *out);
    const char *current = data_keys_current(keys);
    if (!current)
        return true;
    if (store_documents_stale_count(store, current, &out->total) != STORE_OK)
        return false;
    char after[DOCUMENT_ID_LEN + 1] = "";
    for (;;) {
        json_t *ids = NULL;
        if (store_documents_stale(store, current, after, batch, &ids) != STORE_OK)
            return false;
        if (json_array_size(ids) == 0) {
            json_decref(ids);
            return true;
        }
        size_t i;
        json_t *v;
        json_array_foreach(ids, i, v)
        {
            const char *id = json_string_value(v);
            snprintf(after, sizeof after, "%s", id);
            char err[REKEY_ERR_MAX];
            enum reseal r =
                document_id_valid(id) ? reseal_one(keys, dir, id, err, sizeof err) : GONE;
            if (r == FAILED) {
                fprintf(progress, "onestop: %s\n", err);
                out->failed++;
                continue;
            }
            if (r == GONE) {
                out->gone++;
                continue;
            }
            failpoint("keys_rotate_document_replaced"); /* the file new, the store not yet */
            enum store_result s = store_documents_rekeyed(store, id, current);
            if (s == STORE_NOT_FOUND) {
                out->gone++; /* deleted meanwhile: the gateway removes its file */
            } else if (s != STORE_OK) {
                json_decref(ids);
                return false;
            } else {
                out->resealed++;
            }
        }
        json_decref(ids);
        fprintf(progress, "documents: %ld of %ld resealed\n", out->resealed, out->total);
        fflush(progress);
    }
}
