/* store_documents: the records of uploaded documents (benefit evidence).
 *
 * A record is written when its sealed file is complete on disk, with the counter and staff
 * member whose session uploaded it and the time it expires if no transaction takes it. The
 * files themselves live in the documents folder (document_file.h); the sweep removes the files
 * of records that expired unattached, with the records.
 */
#ifndef ONESTOP_STORE_DOCUMENTS_H
#define ONESTOP_STORE_DOCUMENTS_H

#include "gateway/store/core.h"

#include <jansson.h>
#include <time.h>

#define DOCUMENT_NAME_MAX   256
#define DOCUMENT_SHA256_HEX 64

struct document_record {
    char id[33];
    char name[DOCUMENT_NAME_MAX]; /* for the upload's reply only: never stored (it may name
                                   * the resident) */
    const char *type;             /* document_kind_name */
    long long bytes;
    char sha256[DOCUMENT_SHA256_HEX + 1];
    long pages; /* -1: the format does not tell */
    char key_id[65];
};

/* Records n uploaded documents in one write, with an audit entry. */
enum store_result store_documents_add(struct store *store, const struct document_record *docs,
                                      size_t n, const char *staff, const char *counter, time_t now,
                                      time_t expires_at) STORE_MUSTCHECK;

/* Deletes the records of documents whose time to be attached has passed (at most limit) and
 * gives their ids ([{"id"}] in *out, new reference): their files are then to be deleted. */
enum store_result store_documents_forget_expired(struct store *store, time_t now, int limit,
                                                 json_t **out) STORE_MUSTCHECK;
/* The ids ([{"id"}] in *out) of documents whose transaction's delivery was confirmed at or
 * before `delivered_before` and whose files are still kept; delete the files, then call
 * store_documents_files_deleted. */
enum store_result store_documents_delivered(struct store *store, time_t delivered_before, int limit,
                                            json_t **out) STORE_MUSTCHECK;
/* The ids ([{"id"}] in *out) of documents of purged transactions (store_purge) whose files
 * are still kept, at most limit; delete the files, then call store_documents_files_deleted. */
enum store_result store_documents_purged(struct store *store, int limit,
                                         json_t **out) STORE_MUSTCHECK;
/* Whether a document with this id has a row (attached, waiting, or its file deleted). */
enum store_result store_documents_known(struct store *store, const char *id,
                                        bool *known) STORE_MUSTCHECK;
/* Records that these documents' files are gone; their rows (type, bytes, sha256) stay. */
enum store_result store_documents_files_deleted(struct store *store, json_t *ids,
                                                time_t now) STORE_MUSTCHECK;

/* Inside a transaction's write: checks that every document of list ([{"id","type"}], as the
 * documents field validated it) was uploaded at this counter, has not expired and is not
 * taken by another transaction, and that their bytes together are at most limit. Each entry
 * gains "sha256", "bytes", "format" (pdf, jpeg, png, tiff) and "pages" (null when unknown).
 * STORE_INVALID with each problem appended to errors as {"field","code","message"} (field is
 * field_path); nothing written. */
enum store_result store_tx_documents_check(struct store_tx *tx, json_t *list, const char *counter,
                                           long long limit, time_t now, const char *field_path,
                                           json_t *errors) STORE_MUSTCHECK;
/* Marks the checked documents as the transaction's (after store_tx_documents_check, in the
 * same write). */
enum store_result store_tx_documents_take(struct store_tx *tx, const json_t *list,
                                          const char *reference) STORE_MUSTCHECK;

#endif
