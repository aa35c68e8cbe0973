/*
 * Permit-issuing back-ends (json-rest connector): parking permits, and the leisure system
 * (Leisure Key cards and bowling green permits). Both are the same small store of issued
 * permits, each with its own state and id prefix (PP-, LS-).
 *
 *   POST /parking/permits     any JSON object with a string "reference"
 *                             -> 201 {"id":"PP-000001","status":"issued"}
 *   GET  /parking/permits/ID  -> 200 {"id","reference","status"} | 404
 *   POST /parking/permits/ID/cancel  (a void at the counter)
 *                             -> 200 {"id","status":"cancelled"} | 404
 *   GET  /parking/permits?reference=REF
 *                             -> 200 {"permits":[{"id","reference","status"}...]} (oldest
 *                                first, [] when none): how a sender checks before resending
 *   /leisure/permits...       the same for the leisure back-end
 *
 * Completion (/_sim/complete) marks the permit completed and asks the pipeline to send
 * the signed callback {"reference","status":"completed","backend_reference","note"}.
 * The same reference may arrive again under a new Idempotency-Key (the gateway may
 * resubmit after a void); it gets a new permit and complete then finds the newest.
 */
#include <stdio.h>
#include <string.h>

#include "sim/backends.h"

#define PARKING_MAX_PERMITS 100000
#define PARKING_ID_LEN      16
#define PERMITS_PREFIX      "/permits"
#define CANCEL_SUFFIX       "/cancel"

struct permit_store {
    const char *id_prefix; /* "PP" */
    const char *what;      /* "Permit", for the completion note */
    json_t *by_reference;  /* reference -> permit (newest) */
    json_t *by_id;         /* id -> permit {"id","reference","status"} */
    unsigned next_number;
};

static struct permit_store parking = {.id_prefix = "PP", .what = "Permit", .next_number = 1};
static struct permit_store leisure = {
    .id_prefix = "LS", .what = "Leisure record", .next_number = 1};

static bool store_init(struct permit_store *ps)
{
    ps->by_reference = json_object();
    ps->by_id = json_object();
    ps->next_number = 1;
    return ps->by_reference && ps->by_id;
}

static void store_reset(struct permit_store *ps)
{
    json_object_clear(ps->by_reference);
    json_object_clear(ps->by_id);
    ps->next_number = 1;
}

static void store_destroy(struct permit_store *ps)
{
    json_decref(ps->by_reference);
    json_decref(ps->by_id);
    ps->by_reference = ps->by_id = NULL;
}

static void issue_permit(struct permit_store *ps, const sim_request *req, sim_reply *reply)
{
    json_error_t err;
    char id[PARKING_ID_LEN];
    json_t *body = json_loadb(req->body, req->body_len, 0, &err);

    if (!json_is_object(body)) {
        json_decref(body);
        sim_reply_error(reply, 400, "invalid_request", "body must be a JSON object");
        return;
    }
    const char *reference = json_string_value(json_object_get(body, "reference"));
    if (!reference || !*reference) {
        json_decref(body);
        sim_reply_error(reply, 400, "invalid_request", "reference is required");
        return;
    }
    sim_reply_set_reference(reply, reference);
    if (json_object_size(ps->by_id) >= PARKING_MAX_PERMITS) {
        json_decref(body);
        sim_reply_error(reply, 507, "full", "the simulator holds too many permits; reset it");
        return;
    }
    snprintf(id, sizeof id, "%s-%06u", ps->id_prefix, ps->next_number++);
    json_t *permit =
        json_pack("{s:s,s:s,s:s}", "id", id, "reference", reference, "status", "issued");
    json_object_set(ps->by_id, id, permit);
    json_object_set(ps->by_reference, reference, permit);
    json_decref(permit);
    json_decref(body);
    sim_reply_json(reply, 201, json_pack("{s:s,s:s}", "id", id, "status", "issued"));
}

/* Every permit issued for a reference (duplicates included), oldest first. */
static void find_permits(struct permit_store *ps, const char *reference, sim_reply *reply)
{
    json_t *list = json_array();
    for (unsigned n = 1; n < ps->next_number; n++) {
        char id[PARKING_ID_LEN];
        snprintf(id, sizeof id, "%s-%06u", ps->id_prefix, n);
        json_t *permit = json_object_get(ps->by_id, id);
        const char *r = json_string_value(json_object_get(permit, "reference"));
        if (r && strcmp(r, reference) == 0)
            json_array_append(list, permit);
    }
    sim_reply_json(reply, 200, json_pack("{s:o}", "permits", list));
}

/* POST /permits/ID/cancel (a void at the counter): the permit becomes "cancelled". */
static void cancel_permit(struct permit_store *ps, const char *rest, sim_reply *reply)
{
    char id[PARKING_ID_LEN];
    const char *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : 0;
    if (!slash || strcmp(slash, CANCEL_SUFFIX) != 0 || n == 0 || n >= sizeof id) {
        sim_reply_error(reply, 404, "not_found", NULL);
        return;
    }
    memcpy(id, rest, n);
    id[n] = '\0';
    json_t *permit = json_object_get(ps->by_id, id);
    if (!permit) {
        sim_reply_error(reply, 404, "unknown_permit", NULL);
        return;
    }
    sim_reply_set_reference(reply, json_string_value(json_object_get(permit, "reference")));
    json_object_set_new(permit, "status", json_string("cancelled"));
    sim_reply_json(reply, 200, json_pack("{s:s,s:s}", "id", id, "status", "cancelled"));
}

static void store_handle(struct permit_store *ps, const sim_request *req, sim_reply *reply)
{
    const size_t prefix_len = strlen(PERMITS_PREFIX);

    if (strcmp(req->subpath, PERMITS_PREFIX) == 0) {
        const char *reference = req->query(req, "reference");
        if (strcmp(req->method, "GET") == 0 && reference && *reference) {
            find_permits(ps, reference, reply);
            return;
        }
        if (strcmp(req->method, "POST") != 0) {
            sim_reply_error(reply, 405, "method_not_allowed", NULL);
            return;
        }
        issue_permit(ps, req, reply);
        return;
    }
    if (strncmp(req->subpath, PERMITS_PREFIX "/", prefix_len + 1) == 0 &&
        strcmp(req->method, "POST") == 0) {
        cancel_permit(ps, req->subpath + prefix_len + 1, reply);
        return;
    }
    if (strncmp(req->subpath, PERMITS_PREFIX "/", prefix_len + 1) == 0 &&
        strcmp(req->method, "GET") == 0) {
        json_t *permit = json_object_get(ps->by_id, req->subpath + prefix_len + 1);
        if (!permit) {
            sim_reply_error(reply, 404, "unknown_permit", NULL);
            return;
        }
        sim_reply_json(reply, 200, json_incref(permit));
        return;
    }
    sim_reply_error(reply, 404, "not_found", NULL);
}

static sim_complete_result store_complete(struct permit_store *ps, const char *reference,
                                          json_t **out)
{
    json_t *permit = json_object_get(ps->by_reference, reference);
    if (!permit)
        return SIM_COMPLETE_UNKNOWN;
    const char *id = json_string_value(json_object_get(permit, "id"));
    char note[64];
    snprintf(note, sizeof note, "%s %s issued", ps->what, id);
    json_object_set_new(permit, "status", json_string("completed"));
    *out = json_pack("{s:s,s:s,s:s,s:s}", "reference", reference, "status", "completed",
                     "backend_reference", id, "note", note);
    return SIM_COMPLETE_CALLBACK;
}

/* The table's entries: one set of wrappers per store (the table's hooks take no context). */
#define PERMIT_BACKEND(NAME, STORE)                                                                \
    static bool NAME##_init(const sim_options *opts)                                               \
    {                                                                                              \
        (void)opts;                                                                                \
        return store_init(&STORE);                                                                 \
    }                                                                                              \
    static void NAME##_handle(const sim_request *req, sim_reply *reply)                            \
    {                                                                                              \
        store_handle(&STORE, req, reply);                                                          \
    }                                                                                              \
    static void NAME##_reset(void)                                                                 \
    {                                                                                              \
        store_reset(&STORE);                                                                       \
    }                                                                                              \
    static sim_complete_result NAME##_complete(const char *reference, json_t **out)                \
    {                                                                                              \
        return store_complete(&STORE, reference, out);                                             \
    }                                                                                              \
    static void NAME##_destroy(void)                                                               \
    {                                                                                              \
        store_destroy(&STORE);                                                                     \
    }                                                                                              \
    const sim_backend NAME##_backend = {                                                           \
        .name = #NAME,                                                                             \
        .init = NAME##_init,                                                                       \
        .handle = NAME##_handle,                                                                   \
        .reset = NAME##_reset,                                                                     \
        .complete = NAME##_complete,                                                               \
        .destroy = NAME##_destroy,                                                                 \
    }

PERMIT_BACKEND(parking, parking);
PERMIT_BACKEND(leisure, leisure);
