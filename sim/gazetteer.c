/*
 * Gazetteer back-end: addresses by postcode from <data>/gazetteer.json, which holds
 * {"addresses":[{"uprn","line1","street","town","postcode"}, ...]}. Lookups scan the
 * list (it is small); the postcode from the query is normalised first, so "sk13xe"
 * finds "SK1 3XE".
 */
#include "sim/gazetteer.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "sim/backends.h"

#define INWARD_LEN       3
#define MIN_POSTCODE_LEN 5 /* "A9 9AA" without its space */

static json_t *addresses; /* array, owned; read-only after init */

bool gazetteer_normalise_postcode(const char *in, char *out, size_t out_len)
{
    char compact[GAZETTEER_POSTCODE_MAX];
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        if (isspace((unsigned char)*p))
            continue;
        if (n + 1 >= sizeof compact)
            return false;
        compact[n++] = (char)toupper((unsigned char)*p);
    }
    compact[n] = '\0';
    if (n < MIN_POSTCODE_LEN || n + 2 > out_len)
        return false;
    snprintf(out, out_len, "%.*s %s", (int)(n - INWARD_LEN), compact, compact + n - INWARD_LEN);
    return true;
}

bool gazetteer_known_uprn(const char *uprn)
{
    size_t i;
    json_t *a;
    json_array_foreach(addresses, i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "uprn")), uprn) == 0)
            return true;
    }
    return false;
}

static bool gazetteer_init(const sim_options *opts)
{
    char path[4096];
    json_error_t err;
    size_t i;
    json_t *a;

    if (snprintf(path, sizeof path, "%s/%s", opts->data_dir, GAZETTEER_FILE) >= (int)sizeof path) {
        fprintf(stderr, "onestop-sim: --data path is too long\n");
        return false;
    }
    json_t *root = json_load_file(path, 0, &err);
    if (!root) {
        fprintf(stderr, "onestop-sim: %s:%d: %s\n", path, err.line, err.text);
        return false;
    }
    json_t *list = json_object_get(root, "addresses");
    if (!json_is_array(list)) {
        fprintf(stderr, "onestop-sim: %s: \"addresses\" must be an array\n", path);
        json_decref(root);
        return false;
    }
    json_array_foreach(list, i, a)
    {
        if (!json_is_string(json_object_get(a, "uprn")) ||
            !json_is_string(json_object_get(a, "postcode"))) {
            fprintf(stderr, "onestop-sim: %s: address %zu needs string \"uprn\" and \"postcode\"\n",
                    path, i);
            json_decref(root);
            return false;
        }
    }
    addresses = json_incref(list);
    json_decref(root);
    return true;
}

static void gazetteer_destroy(void)
{
    json_decref(addresses);
    addresses = NULL;
}

static void gazetteer_handle(const sim_request *req, sim_reply *reply)
{
    char wanted[GAZETTEER_POSTCODE_MAX + 2];
    char have[GAZETTEER_POSTCODE_MAX + 2];
    size_t i;
    json_t *a;

    if (strcmp(req->subpath, "/addresses") != 0) {
        sim_reply_error(reply, 404, "not_found", NULL);
        return;
    }
    if (strcmp(req->method, "GET") != 0) {
        sim_reply_error(reply, 405, "method_not_allowed", NULL);
        return;
    }
    const char *postcode = req->query(req, "postcode");
    if (!postcode || !*postcode) {
        sim_reply_error(reply, 400, "missing_postcode", "postcode query parameter is required");
        return;
    }
    json_t *found = json_array();
    if (gazetteer_normalise_postcode(postcode, wanted, sizeof wanted)) {
        json_array_foreach(addresses, i, a)
        {
            const char *pc = json_string_value(json_object_get(a, "postcode"));
            if (gazetteer_normalise_postcode(pc, have, sizeof have) && strcmp(have, wanted) == 0)
                json_array_append(found, a);
        }
    }
    if (json_array_size(found) == 0) {
        json_decref(found);
        sim_reply_error(reply, 404, "unknown_postcode", NULL);
        return;
    }
    sim_reply_json(reply, 200, json_pack("{s:o}", "addresses", found));
}

const sim_backend gazetteer_backend = {
    .name = "gazetteer",
    .init = gazetteer_init,
    .handle = gazetteer_handle,
    .reset = NULL,
    .complete = NULL,
    .destroy = gazetteer_destroy,
};
