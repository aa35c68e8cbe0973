/* store_rekey: what key rotation asks of the store beside the sealed columns (store_crypt.h):
 * the documents whose files are sealed under an older data key, and recording each one's new
 * key once its file is resealed (document_rekey.c drives it); and the blind indexes of the
 * limit keys recomputed under a new index key (`onestop keys rotate-index`). */
#ifndef ONESTOP_STORE_REKEY_H
#define ONESTOP_STORE_REKEY_H

#include "gateway/store.h"

#include <jansson.h>

/* How many documents with a kept file are recorded under a key other than `current`. */
enum store_result store_documents_stale_count(struct store *store, const char *current,
                                              long *n) STORE_MUSTCHECK;
/* Up to limit ids ([text] in *out, new reference), in id order after `after` ("" for the
 * first page), of documents with a kept file recorded under a key other than `current`. */
enum store_result store_documents_stale(struct store *store, const char *current, const char *after,
                                        int limit, json_t **out) STORE_MUSTCHECK;
/* Records that document id's file is now sealed under key_id. STORE_NOT_FOUND when its file
 * was deleted meanwhile (nothing written). */
enum store_result store_documents_rekeyed(struct store *store, const char *id,
                                          const char *key_id) STORE_MUSTCHECK;

/* Recomputes the blind index (txn_keys.value) of every limit key whose value is kept sealed
 * (txn_keys.sealed) under the current index key, in writes of at most batch rows, so sales
 * go on between them; look-ups match the old index key's values meanwhile (pd_blind_old).
 * progress(done, total, ctx) after each write. *unsealed counts the keys written before
 * their value was kept (they cannot be recomputed: they stay under the old key until they
 * expire). STORE_UNAVAILABLE when a write fails (a value that does not open: logged). */
enum store_result store_index_rotate(struct store *store, long batch,
                                     void (*progress)(long done, long total, void *ctx), void *ctx,
                                     long *done, long *unsealed) STORE_MUSTCHECK;

#endif
