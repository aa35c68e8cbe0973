/* store_crypt: what the store offers about its sealed personal data (store_crypt.c): key
 * rotation and the count of values under each key. The store's options carry the keys
 * (store_options.crypt); sealing and opening happen inside the store's own SQL. */
#ifndef ONESTOP_STORE_CRYPT_H
#define ONESTOP_STORE_CRYPT_H

#include "gateway/store.h"

#include <jansson.h>

/* Reseals every stored personal value not sealed under key `current` (the store's current
 * data key) with its context (field_crypt.h; v1 values included) in writes of at most batch
 * rows each, so sales go on between them; *moved counts the
 * values resealed. A value under a key that is not loaded fails the write (logged with the
 * table, never the value): STORE_UNAVAILABLE. */
enum store_result store_keys_rotate(struct store *store, const char *current, long batch,
                                    long *moved) STORE_MUSTCHECK;
/* {"<table>.<column>": {"<key id>" | "plain": count}, "txn_keys.value": {"blind" | "plain":
 * count}, "documents": {"<key id>": count}} into *out (json_decref). Documents count the
 * kept (not yet deleted) files, resealed by document_rekey.h. */
enum store_result store_keys_status(struct store *store, json_t **out) STORE_MUSTCHECK;

/* Checkpoints the WAL into the database file and truncates it to nothing, so the page images
 * it kept (values since purged or sealed) are gone. STORE_UNAVAILABLE when readers kept it
 * from finishing (logged; the next automatic checkpoint reuses the file). */
enum store_result store_wal_truncate(struct store *store) STORE_MUSTCHECK;

#endif
