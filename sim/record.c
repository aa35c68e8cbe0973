/*
 * The received log and idempotency store of one back-end.
 *
 * Entries are jansson objects; the log array and the by_key map share them, so a
 * replayed request finds its first answer in O(1) and evicting the oldest entry
 * (json_array_remove at 0) also drops its key. Bodies are kept as JSON strings when
 * they are valid UTF-8 and as "body_base64" otherwise (multipart uploads). Each entry
 * carries its own size under a private member that record_describe leaves out.
 */
#include "sim/record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define ENTRY_BYTES_MEMBER "_bytes"

void record_init(sim_record *r)
{
    r->log = json_array();
    r->by_key = json_object();
    r->bytes = 0;
    r->attempts = 0;
}

void record_clear(sim_record *r)
{
    json_array_clear(r->log);
    json_object_clear(r->by_key);
    r->bytes = 0;
    r->attempts = 0;
}

void record_free(sim_record *r)
{
    json_decref(r->log);
    json_decref(r->by_key);
    r->log = NULL;
    r->by_key = NULL;
}

bool record_find(const sim_record *r, const char *idempotency_key, unsigned *status,
                 const char **response)
{
    json_t *e = json_object_get(r->by_key, idempotency_key);
    if (!e)
        return false;
    *status = (unsigned)json_integer_value(json_object_get(e, "status"));
    *response = json_string_value(json_object_get(e, "response"));
    if (!*response)
        *response = "";
    return true;
}

void record_format_time(struct timespec t, char *out, size_t out_len)
{
    struct tm tm;
    time_t secs = t.tv_sec;
    gmtime_r(&secs, &tm);
    snprintf(out, out_len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, t.tv_nsec / 1000000L);
}

/* Sets "body" (or "body_base64" for bytes that are not UTF-8) on an entry. */
static bool set_body(json_t *entry, const char *body, size_t len)
{
    json_t *s = json_stringn(body ? body : "", body ? len : 0);
    if (s)
        return json_object_set_new(entry, "body", s) == 0;
    size_t b64_len = 4 * ((len + 2) / 3) + 1;
    unsigned char *b64 = malloc(b64_len);
    if (!b64)
        return false;
    EVP_EncodeBlock(b64, (const unsigned char *)body, (int)len);
    bool ok = json_object_set_new(entry, "body", json_null()) == 0 &&
              json_object_set_new(entry, "body_base64", json_string((const char *)b64)) == 0;
    free(b64);
    return ok;
}

static json_t *optional_string(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* Removes the oldest entry (and its idempotency key). */
static void evict_oldest(sim_record *r)
{
    json_t *oldest = json_array_get(r->log, 0);
    if (!oldest)
        return;
    const char *key = json_string_value(json_object_get(oldest, "idempotency_key"));
    if (key && json_object_get(r->by_key, key) == oldest)
        json_object_del(r->by_key, key);
    size_t bytes = (size_t)json_integer_value(json_object_get(oldest, ENTRY_BYTES_MEMBER));
    r->bytes = bytes > r->bytes ? 0 : r->bytes - bytes;
    json_array_remove(r->log, 0);
}

bool record_add(sim_record *r, const record_entry *e)
{
    char when[40];
    const char *response = e->response ? e->response : "";
    size_t bytes = e->body_len + strlen(response);
    json_t *entry = json_object();

    if (!entry)
        goto fail;
    record_format_time(e->received_at, when, sizeof when);
    if (json_object_set_new(entry, "method", json_string(e->method)) != 0 ||
        json_object_set_new(entry, "path", json_string(e->path)) != 0 ||
        json_object_set_new(entry, "idempotency_key", optional_string(e->idempotency_key)) != 0 ||
        !set_body(entry, e->body, e->body_len) ||
        json_object_set_new(entry, "received_at", json_string(when)) != 0 ||
        json_object_set_new(entry, "signature_ok", json_boolean(e->signature_ok)) != 0 ||
        json_object_set_new(entry, "reference", optional_string(e->reference)) != 0 ||
        json_object_set_new(entry, "status", json_integer(e->status)) != 0 ||
        json_object_set_new(entry, "response", json_string(response)) != 0 ||
        json_object_set_new(entry, ENTRY_BYTES_MEMBER, json_integer((json_int_t)bytes)) != 0)
        goto fail;
    if (e->extra && json_object_update_missing(entry, (json_t *)e->extra) != 0)
        goto fail;
    if (e->headers && json_object_set_new(entry, "headers", json_deep_copy(e->headers)) != 0)
        goto fail;
    if (e->query) {
        json_t *q = json_string(e->query); /* NULL when not UTF-8: then left out */
        if (q && json_object_set_new(entry, "query", q) != 0)
            goto fail;
    }

    while (json_array_size(r->log) > 0 &&
           (json_array_size(r->log) >= RECORD_MAX_ENTRIES || r->bytes + bytes > RECORD_MAX_BYTES))
        evict_oldest(r);
    if (json_array_append(r->log, entry) != 0)
        goto fail;
    if (e->idempotency_key && json_object_set(r->by_key, e->idempotency_key, entry) != 0) {
        json_array_remove(r->log, json_array_size(r->log) - 1);
        goto fail;
    }
    r->bytes += bytes;
    json_decref(entry);
    return true;
fail:
    json_decref(entry);
    return false;
}

json_t *record_describe(const sim_record *r, const char *backend, bool include_reads)
{
    json_t *out = json_object();
    json_t *list = json_array();
    size_t i;
    json_t *e;

    json_array_foreach(r->log, i, e)
    {
        if (!include_reads && strcmp(json_string_value(json_object_get(e, "method")), "GET") == 0)
            continue;
        json_t *copy = json_copy(e);
        json_object_del(copy, ENTRY_BYTES_MEMBER);
        json_array_append_new(list, copy);
    }
    json_object_set_new(out, "backend", json_string(backend));
    json_object_set_new(out, "attempts", json_integer((json_int_t)r->attempts));
    json_object_set_new(out, "requests", list);
    return out;
}
