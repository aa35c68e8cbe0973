/*
 * Parking permits back-end (json-rest connector).
 *
 *   POST /parking/permits     any JSON object with a string "reference"
 *                             -> 201 {"id":"PP-000001","status":"issued"}
 *   GET  /parking/permits/ID  -> 200 {"id","reference","status"} | 404
 *   GET  /parking/permits?reference=REF
 *                             -> 200 {"permits":[{"id","reference","status"}...]} (oldest
 *                                first, [] when none): how a sender checks before resending
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

static json_t *by_reference; /* reference -> permit (newest) */
static json_t *by_id;        /* id -> permit {"id","reference","status"} */
static unsigned next_number = 1;

static bool parking_init(const sim_options *opts)
{
    by_reference = json_object();
    by_id = json_object();
    next_number = 1;
    return by_reference && by_id;
}

static void parking_reset(void)
{
    json_object_clear(by_reference);
    json_object_clear(by_id);
    next_number = 1;
}

static void parking_destroy(void)
{
    json_decref(by_reference);
    json_decref(by_id);
    by_reference = by_id = NULL;
}

static void issue_permit(const sim_request *req, sim_reply *reply)
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
    if (json_object_size(by_id) >= PARKING_MAX_PERMITS) {
        json_decref(body);
        sim_reply_error(reply, 507, "full", "the simulator holds too many permits; reset it");
        return;
    }
    snprintf(id, sizeof id, "PP-%06u", next_number++);
    json_t *permit =
        json_pack("{s:s,s:s,s:s}", "id", id, "reference", reference, "status", "issued");
    json_object_set(by_id, id, permit);
    json_object_set(by_reference, reference, permit);
    json_decref(permit);
    json_decref(body);
    sim_reply_json(reply, 201, json_pack("{s:s,s:s}", "id", id, "status", "issued"));
}

/* Every permit issued for a reference (duplicates included), oldest first. */
static void find_permits(const char *reference, sim_reply *reply)
{
    json_t *list = json_array();
    for (unsigned n = 1; n < next_number; n++) {
        char id[PARKING_ID_LEN];
        snprintf(id, sizeof id, "PP-%06u", n);
        json_t *permit = json_object_get(by_id, id);
        const char *r = json_string_value(json_object_get(permit, "reference"));
        if (r && strcmp(r, reference) == 0)
            json_array_append(list, permit);
    }
    sim_reply_json(reply, 200, json_pack("{s:o}", "permits", list));
}

static void parking_handle(const sim_request *req, sim_reply *reply)
{
    const size_t prefix_len = strlen(PERMITS_PREFIX);

    if (strcmp(req->subpath, PERMITS_PREFIX) == 0) {
        const char *reference = req->query(req, "reference");
        if (strcmp(req->method, "GET") == 0 && reference && *reference) {
            find_permits(reference, reply);
            return;
        }
        if (strcmp(req->method, "POST") != 0) {
            sim_reply_error(reply, 405, "method_not_allowed", NULL);
            return;
        }
        issue_permit(req, reply);
        return;
    }
    if (strncmp(req->subpath, PERMITS_PREFIX "/", prefix_len + 1) == 0 &&
        strcmp(req->method, "GET") == 0) {
        json_t *permit = json_object_get(by_id, req->subpath + prefix_len + 1);
        if (!permit) {
            sim_reply_error(reply, 404, "unknown_permit", NULL);
            return;
        }
        sim_reply_json(reply, 200, json_incref(permit));
        return;
    }
    sim_reply_error(reply, 404, "not_found", NULL);
}

static sim_complete_result parking_complete(const char *reference, json_t **out)
{
    json_t *permit = json_object_get(by_reference, reference);
    if (!permit)
        return SIM_COMPLETE_UNKNOWN;
    const char *id = json_string_value(json_object_get(permit, "id"));
    char note[64];
    snprintf(note, sizeof note, "Permit %s issued and posted", id);
    json_object_set_new(permit, "status", json_string("completed"));
    *out = json_pack("{s:s,s:s,s:s,s:s}", "reference", reference, "status", "completed",
                     "backend_reference", id, "note", note);
    return SIM_COMPLETE_CALLBACK;
}

const sim_backend parking_backend = {
    .name = "parking",
    .init = parking_init,
    .handle = parking_handle,
    .reset = parking_reset,
    .complete = parking_complete,
    .destroy = parking_destroy,
};
