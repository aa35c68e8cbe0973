/* audit_chain: the hash chain of the audit trail and its signed head, as pure functions (no
 * SQL, no I/O) so that the writer, `onestop audit verify` and the unit tests share one
 * definition of "the canonical content of a row".
 *
 * A row's hash is SHA-256 over a canonical encoding of its content and the previous row's
 * hash (the first row follows AUDIT_CHAIN_GENESIS). The head (the last row's id and hash) is
 * signed with HMAC-SHA256 under a key the database does not hold and written to the log, so a
 * chain rewritten from scratch no longer matches a head logged before the rewrite. */
#ifndef ONESTOP_AUDIT_CHAIN_H
#define ONESTOP_AUDIT_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Lower-case hex SHA-256 / HMAC-SHA256, with its terminating NUL. */
#define AUDIT_HASH_HEX_SIZE 65
/* The "previous hash" of the first row of a chain. */
#define AUDIT_CHAIN_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"
/* Longest head line audit_head_format writes (with its NUL). */
#define AUDIT_HEAD_LINE_MAX 256

/* The content of one audit row that the hash covers (every column but the hashes). NULL
 * text columns are encoded apart from empty ones. */
struct audit_row {
    int64_t id;
    int64_t at;
    const char *actor, *counter, *action, *subject, *detail, *remote;
};

/* hash = SHA-256("onestop-audit-v1", prev, id, at, actor, counter, action, subject, detail,
 * remote), each part length-prefixed so no two different rows encode alike. prev is the
 * previous row's hash (hex, AUDIT_CHAIN_GENESIS for the first). False only when OpenSSL
 * fails. */
bool audit_chain_hash(const char *prev, const struct audit_row *row, char out[AUDIT_HASH_HEX_SIZE])
    __attribute__((warn_unused_result));

/* A signed head: the chain's last row when it was signed. */
struct audit_head {
    int64_t id;
    char hash[AUDIT_HASH_HEX_SIZE];
    int64_t at; /* unix seconds when it was signed */
    char mac[AUDIT_HASH_HEX_SIZE];
};

/* Fills head->mac: HMAC-SHA256 under key over the head's id, hash and time. */
bool audit_head_sign(struct audit_head *head, const unsigned char *key, size_t key_len)
    __attribute__((warn_unused_result));
/* True when head->mac is the HMAC of its id, hash and time under key (constant time). */
bool audit_head_check(const struct audit_head *head, const unsigned char *key, size_t key_len)
    __attribute__((warn_unused_result));
/* Writes "audit_head id=N hash=H at=T mac=M" into out (AUDIT_HEAD_LINE_MAX). */
void audit_head_format(const struct audit_head *head, char *out, size_t len);
/* Reads a head from text holding "audit_head id=N hash=H at=T mac=M" anywhere (a log line,
 * JSON or not); the last such head in the text wins. False when there is none. */
bool audit_head_parse(const char *text, struct audit_head *out) __attribute__((warn_unused_result));

#endif
