/*
 * The /_sim control endpoints. Each takes the state lock for as long as it reads or
 * changes state; /_sim/complete releases it before calling the gateway back, so a
 * gateway that calls the simulator while handling the callback cannot deadlock.
 */
#include "sim/control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/callback.h"
#include "sim/nhs.h"
#include "sim/notify.h"
#include "sim/registry.h"

static const char *callback_url;

void control_set_callback_url(const char *url)
{
    callback_url = url;
}

const char *control_callback_url(void)
{
    return callback_url;
}

/* Parses the JSON object body and finds its "backend"; on failure replies and returns
 * NULL. *body_out is the caller's to json_decref on success. */
static sim_slot *body_backend(const sim_request *req, sim_reply *reply, json_t **body_out)
{
    json_error_t err;
    json_t *body = json_loadb(req->body, req->body_len, 0, &err);
    if (!json_is_object(body)) {
        json_decref(body);
        sim_reply_error(reply, 400, "invalid_json", "body must be a JSON object");
        return NULL;
    }
    const char *name = json_string_value(json_object_get(body, "backend"));
    sim_slot *slot = name ? registry_find(name, strlen(name)) : NULL;
    if (!slot) {
        json_decref(body);
        sim_reply_error(reply, 404, "unknown_backend", "backend must name a simulated back-end");
        return NULL;
    }
    *body_out = body;
    return slot;
}

static void health(sim_reply *reply)
{
    json_t *names = json_array();
    for (size_t i = 0; i < registry_count(); i++)
        json_array_append_new(names, json_string(registry_at(i)->backend->name));
    sim_reply_json(reply, 200, json_pack("{s:b,s:o}", "ok", 1, "backends", names));
}

static void received(const sim_request *req, sim_reply *reply)
{
    const char *name = req->query(req, "backend");
    const char *reads = req->query(req, "include_reads");
    sim_slot *slot = name ? registry_find(name, strlen(name)) : NULL;
    if (!slot) {
        sim_reply_error(reply, 404, "unknown_backend", "backend must name a simulated back-end");
        return;
    }
    sim_state_lock();
    json_t *out = record_describe(&slot->record, slot->backend->name,
                                  reads && strcmp(reads, "0") != 0 && *reads);
    sim_state_unlock();
    sim_reply_json(reply, 200, out);
}

static void show_faults(sim_reply *reply)
{
    json_t *out = json_object();
    sim_state_lock();
    for (size_t i = 0; i < registry_count(); i++) {
        sim_slot *s = registry_at(i);
        json_object_set_new(out, s->backend->name, faults_describe(&s->faults));
    }
    sim_state_unlock();
    sim_reply_json(reply, 200, out);
}

static void set_faults(const sim_request *req, sim_reply *reply)
{
    json_t *body = NULL;
    const char *error = NULL;
    fault_config cfg;
    sim_slot *slot = body_backend(req, reply, &body);
    if (!slot)
        return;
    if (!faults_parse(body, &cfg, &error)) {
        json_decref(body);
        sim_reply_error(reply, 400, "invalid_fault", error);
        return;
    }
    json_decref(body);
    sim_state_lock();
    slot->faults = cfg;
    sim_state_unlock();
    json_t *out = faults_describe(&cfg);
    json_object_set_new(out, "backend", json_string(slot->backend->name));
    sim_reply_json(reply, 200, out);
}

static void reset(sim_reply *reply)
{
    sim_state_lock();
    registry_reset();
    sim_state_unlock();
    sim_reply_json(reply, 200, json_pack("{s:b}", "reset", 1));
}

static void complete(const sim_request *req, sim_reply *reply)
{
    json_t *body = NULL;
    json_t *out = NULL;
    char error[512];
    char event_id[CALLBACK_EVENT_ID_LEN];
    long status = 0;
    sim_slot *slot = body_backend(req, reply, &body);
    if (!slot)
        return;
    const char *reference = json_string_value(json_object_get(body, "reference"));
    if (!reference || !*reference) {
        json_decref(body);
        sim_reply_error(reply, 400, "invalid_request", "reference is required");
        return;
    }

    sim_state_lock();
    sim_complete_result r = slot->backend->complete ? slot->backend->complete(reference, &out)
                                                    : SIM_COMPLETE_UNSUPPORTED;
    sim_state_unlock();
    json_decref(body);

    switch (r) {
    case SIM_COMPLETE_DONE:
        sim_reply_json(reply, 200, out);
        return;
    case SIM_COMPLETE_UNKNOWN:
        sim_reply_error(reply, 404, "unknown_reference", "no request with that reference");
        return;
    case SIM_COMPLETE_UNSUPPORTED:
        sim_reply_error(reply, 400, "unsupported", "this back-end has nothing to complete");
        return;
    case SIM_COMPLETE_CALLBACK:
        break;
    }
    if (!callback_url) {
        json_decref(out);
        sim_reply_error(reply, 409, "no_callback_url", "start the simulator with --callback-url");
        return;
    }
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    if (!text) {
        sim_reply_error(reply, 500, "out_of_memory", NULL);
        return;
    }
    /* The key is set before serving starts and never changes: safe to read unlocked. */
    bool sent = callback_send(callback_url, slot->backend->name, slot->key, slot->key_len, text,
                              &status, event_id, error, sizeof error);
    free(text);
    if (!sent) {
        sim_reply_error(reply, 502, "callback_failed", error);
        return;
    }
    sim_reply_json(
        reply, 200,
        json_pack("{s:I,s:s}", "gateway_status", (json_int_t)status, "event_id", event_id));
}

void control_handle(const sim_request *req, sim_reply *reply)
{
    bool get = strcmp(req->method, "GET") == 0;
    bool post = strcmp(req->method, "POST") == 0;
    const char *p = req->subpath;

    if (get && strcmp(p, "/health") == 0)
        health(reply);
    else if (get && strcmp(p, "/received") == 0)
        received(req, reply);
    else if (get && strcmp(p, "/faults") == 0)
        show_faults(reply);
    else if (post && strcmp(p, "/faults") == 0)
        set_faults(req, reply);
    else if (post && strcmp(p, "/reset") == 0)
        reset(reply);
    else if (post && strcmp(p, "/complete") == 0)
        complete(req, reply);
    else if ((get || post) && strcmp(p, "/nhs") == 0)
        nhs_control(req, reply);
    else if ((get || post) && strcmp(p, "/notify") == 0)
        notify_control(req, reply);
    else if (post && strcmp(p, "/notify/callback") == 0)
        notify_control_callback(req, reply, callback_url);
    else
        sim_reply_error(reply, 404, "not_found", "unknown control endpoint");
}
