/*
 * The revenues and benefits document management system (multipart connector).
 *
 *   POST /documents/submissions   multipart/form-data:
 *       part "manifest" (application/json, first): {"reference", ..., "documents":
 *           [{"id","type","sha256","bytes",...}]}
 *       one part "file" per document, in the manifest's order, filename "<id>.<ext>"
 *     -> 201 {"id":"DMS-000001","status":"received","documents":[{"id","sha256","bytes"}]}
 *     -> 422 {"error":"hash_mismatch","message":...} when a file's SHA-256 (recomputed here
 *        over the bytes received) or length is not the manifest's, or a file is missing or
 *        extra: nothing is kept, as a real document system proves what it was given.
 *
 * The X-Onestop-Signature covers the manifest (signed_content), whose hashes cover the
 * files. The received log keeps the manifest and the hashes computed here, not the files.
 * The multipart parser is the gateway's (gateway/multipart.c); the body the parser reads is
 * written by libcurl, so this still checks the gateway's delivery end to end.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "gateway/multipart.h"
#include "sim/backends.h"

#define DOCUMENTS_MAX_SUBMISSIONS 100000
#define DOCUMENTS_ID_LEN          16
#define DOCUMENTS_PATH            "/submissions"
#define DOCUMENTS_MANIFEST_MAX    (256 * 1024)
#define DOCUMENTS_FILES_MAX       64

static json_t *by_reference; /* reference -> {"id","reference","status"} (newest) */
static unsigned next_number = 1;

/* What one parse of a submission found. */
struct received {
    bool in_manifest, in_file;
    char manifest[DOCUMENTS_MANIFEST_MAX + 1];
    size_t manifest_len;
    bool manifest_too_long;
    EVP_MD_CTX *md;
    json_t *files; /* [{"filename","sha256","bytes"}] */
    long long bytes;
};

static bool on_begin(void *ctx, const struct multipart_part *part)
{
    struct received *r = ctx;
    r->in_manifest = strcmp(part->name, "manifest") == 0;
    r->in_file = strcmp(part->name, "file") == 0;
    if (r->in_file) {
        if (json_array_size(r->files) >= DOCUMENTS_FILES_MAX)
            return false;
        json_array_append_new(r->files, json_pack("{s:s}", "filename", part->filename));
        r->bytes = 0;
        EVP_DigestInit_ex(r->md, EVP_sha256(), NULL);
    }
    return true;
}

static bool on_data(void *ctx, const char *data, size_t len)
{
    struct received *r = ctx;
    if (r->in_manifest) {
        if (r->manifest_len + len > DOCUMENTS_MANIFEST_MAX) {
            r->manifest_too_long = true;
            return false;
        }
        memcpy(r->manifest + r->manifest_len, data, len);
        r->manifest_len += len;
        r->manifest[r->manifest_len] = '\0';
    } else if (r->in_file) {
        EVP_DigestUpdate(r->md, data, len);
        r->bytes += (long long)len;
    }
    return true;
}

static bool on_end(void *ctx)
{
    struct received *r = ctx;
    if (r->in_file) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        char hex[2 * EVP_MAX_MD_SIZE + 1];
        EVP_DigestFinal_ex(r->md, md, &n);
        for (unsigned int i = 0; i < n; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        json_t *f = json_array_get(r->files, json_array_size(r->files) - 1);
        json_object_set_new(f, "sha256", json_string(hex));
        json_object_set_new(f, "bytes", json_integer(r->bytes));
    }
    r->in_manifest = r->in_file = false;
    return true;
}

static const struct multipart_callbacks callbacks = {on_begin, on_data, on_end};

/* Parses the body into r; false with the reply set when it is not a submission. */
static bool parse(const sim_request *req, struct received *r, sim_reply *reply)
{
    struct multipart *mp = multipart_new(req->content_type, &callbacks, r);
    if (!mp) {
        sim_reply_error(reply, 415, "not_multipart", "send multipart/form-data");
        return false;
    }
    enum multipart_result res = multipart_feed(mp, req->body, req->body_len);
    if (res == MULTIPART_OK)
        res = multipart_finish(mp);
    char why[200];
    snprintf(why, sizeof why, "malformed multipart body: %s",
             res == MULTIPART_MALFORMED ? multipart_error(mp) : "too many parts or too long");
    multipart_free(mp);
    if (res != MULTIPART_OK) {
        sim_reply_error(reply, 400, "invalid_request", why);
        return false;
    }
    return true;
}

/* The manifest's documents against the files received; NULL when they match, else why. */
static const char *mismatch(const json_t *documents, const json_t *files, char *why, size_t len)
{
    if (!json_is_array(documents) || json_array_size(documents) == 0) {
        snprintf(why, len, "the manifest lists no documents");
        return why;
    }
    if (json_array_size(documents) != json_array_size(files)) {
        snprintf(why, len, "the manifest lists %zu documents but %zu files came",
                 json_array_size(documents), json_array_size(files));
        return why;
    }
    size_t i;
    const json_t *d;
    json_array_foreach(documents, i, d)
    {
        const json_t *f = json_array_get(files, i);
        const char *id = json_string_value(json_object_get(d, "id"));
        const char *want = json_string_value(json_object_get(d, "sha256"));
        const char *got = json_string_value(json_object_get(f, "sha256"));
        const char *filename = json_string_value(json_object_get(f, "filename"));
        if (!id || !want || !got || strncmp(filename ? filename : "", id, strlen(id)) != 0) {
            snprintf(why, len, "file %zu is not the manifest's document %zu", i + 1, i + 1);
            return why;
        }
        if (strcmp(want, got) != 0 || json_integer_value(json_object_get(d, "bytes")) !=
                                          json_integer_value(json_object_get(f, "bytes"))) {
            snprintf(why, len,
                     "document %s: SHA-256 of what arrived is %.16s..., the manifest "
                     "says %.16s...",
                     id, got, want);
            return why;
        }
    }
    return NULL;
}

static void submit(const sim_request *req, sim_reply *reply)
{
    struct received *r = calloc(1, sizeof *r);
    if (!r) {
        sim_reply_error(reply, 500, "out_of_memory", NULL);
        return;
    }
    r->md = EVP_MD_CTX_new();
    r->files = json_array();
    json_t *manifest = NULL;
    if (!r->md || !r->files || !parse(req, r, reply))
        goto out;
    manifest = json_loadb(r->manifest, r->manifest_len, 0, NULL);
    const char *reference = json_string_value(json_object_get(manifest, "reference"));
    if (!json_is_object(manifest) || !reference || !*reference) {
        sim_reply_error(reply, 400, "invalid_request", "the manifest needs a reference");
        goto out;
    }
    sim_reply_set_reference(reply, reference);
    char why[256];
    if (mismatch(json_object_get(manifest, "documents"), r->files, why, sizeof why)) {
        sim_reply_error(reply, 422, "hash_mismatch", why);
        goto out;
    }
    if (json_object_size(by_reference) >= DOCUMENTS_MAX_SUBMISSIONS) {
        sim_reply_error(reply, 507, "full", "the simulator holds too many submissions; reset it");
        goto out;
    }
    char id[DOCUMENTS_ID_LEN];
    snprintf(id, sizeof id, "DMS-%06u", next_number++);
    json_object_set_new(
        by_reference, reference,
        json_pack("{s:s,s:s,s:s}", "id", id, "reference", reference, "status", "received"));
    json_t *kept = json_pack("{s:O,s:O}", "manifest", manifest, "received", r->files);
    reply->record_body = json_dumps(kept, JSON_COMPACT);
    json_decref(kept);
    sim_reply_json(
        reply, 201,
        json_pack("{s:s,s:s,s:O}", "id", id, "status", "received", "documents", r->files));
out:
    json_decref(manifest);
    json_decref(r->files);
    EVP_MD_CTX_free(r->md);
    free(r);
}

/* What the signature covers: the manifest part (its hashes cover the files). */
static bool documents_signed_content(const sim_request *req, char **out, size_t *len)
{
    struct received *r = calloc(1, sizeof *r);
    if (!r)
        return false;
    r->md = EVP_MD_CTX_new();
    r->files = json_array();
    sim_reply ignored = {0};
    bool ok = r->md && r->files && parse(req, r, &ignored) && r->manifest_len > 0;
    free(ignored.body);
    free(ignored.reference);
    if (ok) {
        *out = malloc(r->manifest_len + 1);
        ok = *out != NULL;
        if (ok) {
            memcpy(*out, r->manifest, r->manifest_len + 1);
            *len = r->manifest_len;
        }
    }
    json_decref(r->files);
    EVP_MD_CTX_free(r->md);
    free(r);
    return ok;
}

static bool documents_init(const sim_options *opts)
{
    (void)opts;
    by_reference = json_object();
    next_number = 1;
    return by_reference != NULL;
}

static void documents_handle(const sim_request *req, sim_reply *reply)
{
    if (strcmp(req->subpath, DOCUMENTS_PATH) != 0) {
        sim_reply_error(reply, 404, "not_found", NULL);
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        sim_reply_error(reply, 405, "method_not_allowed", NULL);
        return;
    }
    submit(req, reply);
}

static void documents_reset(void)
{
    json_object_clear(by_reference);
    next_number = 1;
}

static sim_complete_result documents_complete(const char *reference, json_t **out)
{
    json_t *s = json_object_get(by_reference, reference);
    if (!s)
        return SIM_COMPLETE_UNKNOWN;
    const char *id = json_string_value(json_object_get(s, "id"));
    json_object_set_new(s, "status", json_string("completed"));
    *out = json_pack("{s:s,s:s,s:s,s:s}", "reference", reference, "status", "completed",
                     "backend_reference", id, "note", "Evidence filed");
    return SIM_COMPLETE_CALLBACK;
}

static void documents_destroy(void)
{
    json_decref(by_reference);
    by_reference = NULL;
}

const sim_backend documents_backend = {
    .name = "documents",
    .max_body = 64u * 1024u * 1024u,
    .signed_content = documents_signed_content,
    .init = documents_init,
    .handle = documents_handle,
    .reset = documents_reset,
    .complete = documents_complete,
    .destroy = documents_destroy,
};
