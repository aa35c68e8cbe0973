/* documents: uploads of scanned documents, streamed from the request body to sealed files.
 *
 * DESIGN: an upload is a multipart/form-data body whose parts named "file" are documents.
 * Each piece of the body goes through the streaming parser (multipart.c) straight into the
 * current file's typing, hashing and sealing (document_type.c, SHA-256, document_file.c):
 * nothing of a file is kept in memory, and plaintext never reaches the disk. The first
 * refusal (a file over the per-file limit, a type that is not PDF/JPEG/PNG/TIFF, a malformed
 * body) is remembered with the file's name; from then on the rest of the body is only read
 * and dropped (HTTP cannot answer in the middle of a body), and every file of the upload is
 * removed. An upload is all or nothing: its records are written in one store write after
 * every file is sealed and fsync'd, and expire unattached after documents.unattached_ttl_s.
 */
#ifndef ONESTOP_DOCUMENTS_H
#define ONESTOP_DOCUMENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct config;
struct store;
struct documents;
struct document_upload;

/* The documents folder (<data_dir>/documents, made if missing) and the data key named by
 * keys.data_key_file. Without a key file uploads are refused (503) and nothing else changes.
 * NULL with a message in err when the folder or the key cannot be used. */
struct documents *documents_open(const struct config *cfg, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Stops the janitor (if started) and frees everything. NULL-safe. */
void documents_close(struct documents *docs);
/* First removes the sealed files no record names (an upload a crash interrupted between its
 * files and its records; call before serving). Then starts the janitor: every
 * documents.sweep_interval_s it deletes uploads that expired
 * unattached (files and records) and the files of delivered documents past
 * documents.retention_days (their records stay). store must outlive docs' janitor: call
 * documents_close before store_close. */
bool documents_janitor_start(struct documents *docs, struct store *store)
    __attribute__((warn_unused_result));
/* <data_dir>/documents into out (DOCUMENT_PATH_MAX bytes): where the sealed files live. */
void documents_folder(const char *data_dir, char *out);
/* The folder the sealed files live in. */
const char *documents_dir(const struct documents *docs);
/* The key ring (data_keys.h), for readers of sealed files. */
const struct data_keys *documents_keys(const struct documents *docs);
/* Bytes an upload's body may hold: one submission's files (documents.submission_limit, or the
 * file limit if larger) plus room for the parts' headers. */
long documents_body_limit(const struct config *cfg);

/* Deletes the files and records of documents whose time to be attached has passed; returns
 * how many went (-1 when the store failed). */
long documents_sweep(struct documents *docs, struct store *store, time_t now);

/* Deletes the files of documents whose transactions were purged (store_purge), in the
 * documents folder under data_dir, and records them deleted (the rows stay as the record of
 * what was received). How many went; -1 when the store failed. Used by purge_run, so it
 * works without the data key (the CLI's `onestop purge`). */
long documents_remove_purged(const char *data_dir, struct store *store, time_t now);

/* An upload in progress for a body of this Content-Type. NULL when out of memory. */
struct document_upload *document_upload_begin(struct documents *docs, const struct config *cfg,
                                              const char *content_type)
    __attribute__((warn_unused_result));
/* The next piece of the body. False once the upload has been refused (the rest of the body
 * is then just dropped by the caller). */
bool document_upload_feed(struct document_upload *up, const char *data, size_t len);

/* A refusal: status (413, 422, 400, 503), code, message and the file's name (or NULL). */
struct document_refusal {
    int status;
    const char *code;
    char message[320];
    char file[256];
};

/* The body has ended: records the documents in the store (staff and counter own them) and
 * gives {"documents":[{id,name,type,bytes,sha256,pages}]} in *out (new reference); or false
 * with the refusal in *why and every file removed. */
bool document_upload_finish(struct document_upload *up, struct store *store, const char *staff,
                            const char *counter, time_t now, json_t **out,
                            struct document_refusal *why) __attribute__((warn_unused_result));
/* Frees the upload; its files are removed unless document_upload_finish recorded them. */
void document_upload_free(struct document_upload *up);

#endif
