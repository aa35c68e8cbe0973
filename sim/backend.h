/*
 * The interface every simulated back-end implements.
 *
 * A back-end is one file (parking.c, gazetteer.c, bulky.c, ...) that exports one
 * `const sim_backend` describing itself. The request pipeline (sim/pipeline.c) owns
 * everything the back-ends have in common: fault injection, signature checking,
 * idempotency de-duplication and the received log. A back-end only sees requests
 * that passed all of that, and only answers them.
 *
 * Locking: `handle`, `reset` and `complete` are called with the simulator's state
 * lock held (sim_state_lock), so a back-end keeps its state in file-static variables
 * and needs no lock of its own. They must not block (no network, no sleeping).
 * `init` and `destroy` run single-threaded, before serving starts and after it ends.
 */
#ifndef ONESTOP_SIM_BACKEND_H
#define ONESTOP_SIM_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Command-line settings a back-end may need at start-up. */
typedef struct sim_options {
    const char *data_dir;              /* folder holding gazetteer.json and other data files */
    const char *open311_api_key;       /* NULL when --open311-api-key was not given */
    const char *nhs_public_key;        /* PEM file checking client assertions; NULL: none given */
    const char *nhs_client_id;         /* the iss/sub the NHS token endpoint expects */
    const char *notify_api_key;        /* Notify API key file checking JWTs; NULL: none */
    const char *notify_callback_token; /* bearer token file for Notify's callbacks; NULL */
    const char *notify_auto_callback;  /* a status every accepted send reports; NULL: none */
} sim_options;

typedef struct sim_request sim_request;
struct fault_config;

/* Looks up a decoded query-string argument; NULL when absent. */
typedef const char *(*sim_query_fn)(const sim_request *req, const char *name);

struct sim_request {
    const char *method;  /* "GET", "POST", ... */
    const char *subpath; /* path after "/<backend>", e.g. "/permits"; "" when none */
    const char *body;    /* the raw body, NUL-terminated after body_len bytes */
    size_t body_len;
    const char *content_type;    /* NULL when absent */
    const char *idempotency_key; /* NULL when absent */
    sim_query_fn query;
    sim_query_fn header; /* a request header by name (case-insensitive); NULL when absent */
    void *transport;     /* for `query` and `header` only */
    const struct fault_config *faults; /* the back-end's fault settings (sim/faults.h) */
};

/* What a back-end answers. The pipeline frees body and reference. */
typedef struct sim_reply {
    unsigned status;
    char *body;             /* malloc'd; NULL means empty */
    char *reference;        /* malloc'd transaction reference the request carried, or NULL */
    unsigned retry_after_s; /* 0: no Retry-After header */
    bool drop;              /* close the connection without answering (faults late, drop) */
    char *record_body;      /* malloc'd: kept in the received log instead of the raw body */
} sim_reply;

typedef enum sim_complete_result {
    SIM_COMPLETE_DONE,       /* *out is the JSON reply to the test (200) */
    SIM_COMPLETE_CALLBACK,   /* *out is the callback body to sign and POST to the gateway */
    SIM_COMPLETE_UNKNOWN,    /* no request with that reference (404) */
    SIM_COMPLETE_UNSUPPORTED /* this back-end has nothing to complete (400) */
} sim_complete_result;

typedef struct sim_backend {
    const char *name; /* first path segment and the name used by /_sim/... */
    /* True for back-ends that check their own credentials (the NHS token endpoint and FHIR
     * API): the pipeline then checks no X-Onestop-Signature and wants no Idempotency-Key. */
    bool own_auth;
    /* Largest body it takes; 0: SERVER_MAX_BODY. */
    size_t max_body;
    /* What X-Onestop-Signature covers when it is not the whole body (a multipart body's
     * manifest part): a malloc'd copy in *out; false when the body has none (401). May be
     * NULL. Called without the lock. */
    bool (*signed_content)(const sim_request *req, char **out, size_t *len);
    /* Loads data; false (after printing why to stderr) stops start-up. May be NULL. */
    bool (*init)(const sim_options *opts);
    /* Answers one accepted request; must set reply->status. Lock held. */
    void (*handle)(const sim_request *req, sim_reply *reply);
    /* Forgets every request and restarts numbering. Lock held. May be NULL. */
    void (*reset)(void);
    /* Marks the request carrying `reference` done; on DONE and CALLBACK sets *out (new
     * reference, caller frees). Lock held. May be NULL (= UNSUPPORTED). */
    sim_complete_result (*complete)(const char *reference, json_t **out);
    /* Frees what init loaded. May be NULL. */
    void (*destroy)(void);
} sim_backend;

/* Helpers for back-ends. */

/* Sets the reply to `status` with the compact JSON of `body` (reference stolen). */
void sim_reply_json(sim_reply *reply, unsigned status, json_t *body);

/* Sets the reply to `status` with {"error":code} (and "message" when not NULL). */
void sim_reply_error(sim_reply *reply, unsigned status, const char *code, const char *message);

/* Sets reply->reference to a copy of `reference` (NULL allowed). */
void sim_reply_set_reference(sim_reply *reply, const char *reference);

#endif
