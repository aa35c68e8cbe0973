/* Reply helpers for back-ends (declared in sim/backend.h). */
#include "sim/backend.h"

#include <stdlib.h>
#include <string.h>

void sim_reply_json(sim_reply *reply, unsigned status, json_t *body)
{
    free(reply->body);
    reply->status = status;
    reply->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
}

void sim_reply_error(sim_reply *reply, unsigned status, const char *code, const char *message)
{
    json_t *o = json_pack("{s:s}", "error", code);
    if (o && message)
        json_object_set_new(o, "message", json_string(message));
    sim_reply_json(reply, status, o);
}

void sim_reply_set_reference(sim_reply *reply, const char *reference)
{
    free(reply->reference);
    reply->reference = reference ? strdup(reference) : NULL;
}
