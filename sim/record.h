/*
 * What one back-end received: the log of accepted requests that GET /_sim/received
 * shows, the idempotency store (the first answer given to each Idempotency-Key), and
 * the count of every attempt that reached the back-end.
 *
 * Not locked: the caller holds the state lock. Memory is bounded: past
 * RECORD_MAX_ENTRIES entries or RECORD_MAX_BYTES of bodies the oldest entries are
 * forgotten, and with them their idempotency keys.
 */
#ifndef ONESTOP_SIM_RECORD_H
#define ONESTOP_SIM_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#define RECORD_MAX_ENTRIES 100000
#define RECORD_MAX_BYTES   (64u * 1024u * 1024u)

typedef struct sim_record {
    json_t *log;    /* array of entry objects, oldest first */
    json_t *by_key; /* idempotency key -> entry (same object as in log) */
    size_t bytes;   /* body and response bytes held by the log */
    unsigned long long attempts;
} sim_record;

/* One accepted request, as the pipeline hands it over (everything is copied). */
typedef struct record_entry {
    const char *method;
    const char *path;            /* full path including "/<backend>", no query */
    const char *query;           /* decoded query string for reads, or NULL */
    const char *idempotency_key; /* NULL: not an idempotent request (reads) */
    const char *body;
    size_t body_len;
    struct timespec received_at;
    bool signature_ok;
    const char *reference; /* NULL when the request carried none */
    unsigned status;       /* the answer given */
    const char *response;  /* its body, "" when empty */
    const json_t *extra;   /* more members for the entry (the SMTP envelope), or NULL */
    const json_t *headers; /* the request headers (copied into "headers"), or NULL */
} record_entry;

void record_init(sim_record *r);
void record_clear(sim_record *r);
void record_free(sim_record *r);

/* Finds the first answer given to `idempotency_key`. On true, *status and *response
 * (borrowed: copy it before releasing the lock) are set. */
bool record_find(const sim_record *r, const char *idempotency_key, unsigned *status,
                 const char **response);

/* Appends an accepted request; with an idempotency key it also becomes that key's
 * stored answer. False when memory runs out (nothing is recorded then). */
__attribute__((warn_unused_result)) bool record_add(sim_record *r, const record_entry *e);

/* {"backend","attempts","requests":[...]}: new reference. With include_reads false,
 * GET requests are left out of "requests" (they are still counted in attempts). */
json_t *record_describe(const sim_record *r, const char *backend, bool include_reads);

/* Formats a time as ISO 8601 UTC with milliseconds: "2026-11-26T10:00:00.123Z". */
void record_format_time(struct timespec t, char *out, size_t out_len);

#endif
