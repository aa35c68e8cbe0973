/* store_audit: the audit trail's hash chain in the store — its head, and the walk that
 * `onestop audit verify` runs. Appending a row is store_audit_insert (inside a write,
 * store/store_private.h) or store_audit (a write of its own, store.h): both chain it. */
#ifndef ONESTOP_STORE_AUDIT_H
#define ONESTOP_STORE_AUDIT_H

#include "gateway/audit_chain.h"
#include "gateway/store/core.h"

#include <jansson.h>

/* ---- the audit trail ---- */
struct audit_entry {
    const char *actor; /* staff username, "system", or a back-end name */
    const char *counter;
    const char *action;  /* sign_in, sign_in_failed, sign_out, ... */
    const char *subject; /* a reference or username; never personal data of residents */
    const char *detail;
    const char *remote;
};
enum store_result store_audit(struct store *store, const struct audit_entry *entry) STORE_MUSTCHECK;
/* The newest `limit` entries, newest first, optionally only one action. */
enum store_result store_audit_list(struct store *store, const char *action, int limit,
                                   json_t **out) STORE_MUSTCHECK;

/* The chain's head now: the last row's id and hash (id 0 and AUDIT_CHAIN_GENESIS when the
 * trail is empty); head->at and head->mac are left alone. */
enum store_result store_audit_head(struct store *store, struct audit_head *head) STORE_MUSTCHECK;

enum audit_break {
    AUDIT_INTACT = 0,
    AUDIT_EDITED,    /* a row's content no longer matches its hash */
    AUDIT_DELETED,   /* rows are missing between two rows, or after the signed head */
    AUDIT_REORDERED, /* a row stands where another row should */
    AUDIT_UNCHAINED, /* a row without a hash (added outside onestop) */
    AUDIT_REWRITTEN, /* the chain is consistent but differs from the signed head */
    AUDIT_BAD_HEAD,  /* the head's signature does not check out under the key */
};

struct audit_verify_result {
    enum audit_break kind;
    int64_t row;            /* the first row found wrong (0 when intact or a bad head) */
    int64_t rows;           /* rows walked */
    struct audit_head head; /* the chain's head as walked (id, hash) */
    char message[512];      /* for the operator: which row and what is wrong with it */
};

/* Walks the whole chain in id order and stops at the first row that is wrong. With a
 * signed head (and its key), also checks that the head was signed with that key and that the
 * chain still holds that row with that hash. STORE_OK whenever the walk ran (out->kind says
 * what it found); an error only when the database could not be read. */
enum store_result store_audit_verify(struct store *store, const struct audit_head *signed_head,
                                     const unsigned char *key, size_t key_len,
                                     struct audit_verify_result *out) STORE_MUSTCHECK;

/* The same walk on an open connection of its own (a backup being checked, say); with no
 * signed head, the chain alone. */
struct db;
enum store_result store_audit_walk(struct db *db, const struct audit_head *signed_head,
                                   const unsigned char *key, size_t key_len,
                                   struct audit_verify_result *out) STORE_MUSTCHECK;

#endif
