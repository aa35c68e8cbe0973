/*
 * NHS back-ends: the API platform's OAuth2 token endpoint and the e-Referral Service's FHIR
 * STU3 reads (docs/backends.md, "nhs-token and nhs-ers"; DOMAIN.md "Back-ends as they really
 * answer").
 *
 *   POST /nhs-token/oauth2/token   form grant_type=client_credentials
 *        &client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
 *        &client_assertion=<JWT RS512>
 *        -> 200 {"access_token","expires_in":"599","token_type":"Bearer","issued_at":"<ms>"}
 *        -> 400/401 {"error","error_description","message_id"} for a bad assertion
 *   GET  /nhs-ers/STU3/ReferralRequest/{ubrn}   Authorization: Bearer <access_token>
 *        -> 200 ReferralRequest | 404 OperationOutcome | 401 OperationOutcome (bad token)
 *
 * The assertion is checked as the platform does: header alg RS512 with a kid, an RS512
 * signature that the public key (--nhs-public-key) verifies, iss = sub = the client id
 * (--nhs-client-id), aud = the token URL it was posted to, exp in the future and at most
 * NHS_JWT_MAX_AHEAD_S ahead, and a jti never seen before. Tokens issued are counted and
 * remembered until they expire or are revoked.
 *
 * Test controls (POST /_sim/nhs, see nhs_control): revoke every token issued (the next FHIR
 * read with one answers 401, as after a revocation), make the token endpoint answer an error
 * (400 MISSING_HEADER, 403 NO_ACCESS, 429 TOO_MANY_REQUESTS), make the FHIR API answer an
 * OperationOutcome error (ers_error: 400 INVALID_HEADER, 403 NO_RELATIONSHIP, 422
 * REQUEST_VALIDATION_ERROR, 429 TOO_MANY_REQUESTS, 503 SERVICE_UNAVAILABLE; the 429 and 503
 * carry Retry-After when ers_retry_after_s is set), shorten the life of the tokens it issues (to
 * see them renewed before they expire). GET /_sim/nhs shows the counters.
 *
 * Both back-ends have own_auth: the pipeline applies faults and records 2xx answers but
 * checks no onestop signature. State lives here under the simulator's state lock.
 */
#include "sim/nhs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "sim/backends.h"
#include "sim/form.h"
#include "sim/registry.h"

#define TOKEN_PATH            "/oauth2/token"
#define REFERRAL_PREFIX       "/STU3/ReferralRequest/"
#define ASSERTION_TYPE        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define NHS_JWT_MAX_AHEAD_S   300
#define TOKEN_LIFETIME_S      599
#define TOKEN_BYTES           24
#define JWT_PART_MAX          8192
#define HOST_MAX              256
#define NHS_NUMBER_SYSTEM     "http://fhir.nhs.net/Id/nhs-number"
#define DEFAULT_CLIENT_ID     "onestop-demo"
#define JTI_MAX               100000 /* jti values remembered; past it the oldest go */
#define MESSAGE_ID_BYTES      8
#define NHS_RETRY_AFTER_MAX_S 86400

static EVP_PKEY *public_key;
static char *client_id;
static json_t *jtis_seen;        /* jti -> exp */
static json_t *tokens;           /* access token -> expiry (unix seconds) */
static unsigned long issued;     /* tokens issued since the last reset */
static unsigned long refused;    /* token requests refused */
static int token_error;          /* 0, or the status the token endpoint answers with */
static int ers_error;            /* 0, or the status the FHIR API answers with */
static unsigned ers_retry_after; /* Retry-After (s) on the FHIR API's 429 and 503; 0: none */

/* The OperationOutcome errors the FHIR API can be told to answer with (ers_error). */
static const struct {
    int status;
    const char *issue; /* issue[0].code */
    const char *code;  /* issue[0].details.coding[0].code */
    const char *text;
} ers_faults[] = {
    {400, "invalid", "INVALID_HEADER", "The X-Correlation-ID header is invalid (simulated)"},
    {403, "forbidden", "NO_RELATIONSHIP",
     "The caller has no legitimate relationship to the referral (simulated)"},
    {422, "business-rule", "REQUEST_VALIDATION_ERROR",
     "The request failed a business rule (simulated)"},
    {429, "throttled", "TOO_MANY_REQUESTS", "Too many requests (simulated)"},
    {503, "transient", "SERVICE_UNAVAILABLE", "The e-Referral Service is unavailable (simulated)"},
};
static unsigned long ers_reads;                /* FHIR reads answered 200 */
static unsigned long ers_refused;              /* FHIR reads refused for their token (401) */
static long token_lifetime = TOKEN_LIFETIME_S; /* expires_in of the tokens issued */

/* The sandbox referrals (DOMAIN.md): UBRN, NHS number, state, priority, specialty, clinic. */
static const struct referral {
    const char *ubrn;
    const char *nhs_number;
    const char *state;
    const char *priority;
    const char *specialty;
    const char *clinic_type;
} referrals[] = {
    {"000000070000", "9912003888", "NOT_BOOKED", "ROUTINE", "CARDIOLOGY", "ARRHYTHMIA"},
    {"000000070001", "9912003888", "BOOKED", "ROUTINE", "CARDIOLOGY", "ARRHYTHMIA"},
    {"000000070002", "9912003888", "DEFERRED_TO_PROVIDER", "URGENT", "DERMATOLOGY", "SKIN_LESION"},
    {"000000070003", "9434765919", "AWAITING_TRIAGE", "TWO_WEEK_WAIT", "GASTROENTEROLOGY",
     "NOT_OTHERWISE_SPECIFIED"},
};

/* ---- small helpers ---- */

static void random_hex(char *out, size_t bytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[64];
    if (bytes > sizeof raw)
        bytes = sizeof raw;
    if (RAND_bytes(raw, (int)bytes) != 1)
        memset(raw, 0, bytes);
    for (size_t i = 0; i < bytes; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 0xf];
    }
    out[2 * bytes] = '\0';
}

/* The platform's error shape: {"error","error_description","message_id"}. */
static void platform_error(sim_reply *reply, unsigned status, const char *error,
                           const char *description)
{
    char message_id[2 * MESSAGE_ID_BYTES + 1];
    random_hex(message_id, MESSAGE_ID_BYTES);
    sim_reply_json(reply, status,
                   json_pack("{s:s,s:s,s:s}", "error", error, "error_description", description,
                             "message_id", message_id));
}

/* A FHIR STU3 OperationOutcome with one issue. */
static void operation_outcome(sim_reply *reply, unsigned status, const char *fhir_code,
                              const char *ers_code, const char *diagnostics)
{
    sim_reply_json(reply, status,
                   json_pack("{s:s,s:{s:[s]},s:[{s:s,s:s,s:{s:[{s:s,s:s}]},s:s}]}", "resourceType",
                             "OperationOutcome", "meta", "profile",
                             "https://fhir.nhs.uk/STU3/StructureDefinition/eRS-OperationOutcome-1",
                             "issue", "severity", "error", "code", fhir_code, "details", "coding",
                             "system", "https://fhir.nhs.uk/STU3/CodeSystem/eRS-APIErrorCode-1",
                             "code", ers_code, "diagnostics", diagnostics));
}

/* base64url (no padding) to bytes; malloc'd, NUL-terminated, or NULL. */
static unsigned char *base64url_decode(const char *in, size_t len, size_t *out_len)
{
    if (len > JWT_PART_MAX)
        return NULL;
    size_t padded = len + (4 - len % 4) % 4;
    char *b64 = malloc(padded + 1);
    unsigned char *out = malloc(padded / 4 * 3 + 1);
    if (!b64 || !out)
        goto fail;
    for (size_t i = 0; i < len; i++)
        b64[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
    for (size_t i = len; i < padded; i++)
        b64[i] = '=';
    b64[padded] = '\0';
    int n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)padded);
    if (n < 0)
        goto fail;
    n -= (int)(padded - len); /* EVP_DecodeBlock counts the padding as zero bytes */
    if (n < 0)
        goto fail;
    out[n] = '\0';
    *out_len = (size_t)n;
    free(b64);
    return out;
fail:
    free(b64);
    free(out);
    return NULL;
}

static json_t *decode_json_part(const char *in, size_t len)
{
    size_t n = 0;
    unsigned char *raw = base64url_decode(in, len, &n);
    json_t *doc = raw ? json_loadb((const char *)raw, n, 0, NULL) : NULL;
    free(raw);
    return doc;
}

static bool verify_rs512(const char *signed_part, size_t signed_len, const char *sig64,
                         size_t sig64_len)
{
    size_t sig_len = 0;
    unsigned char *sig = base64url_decode(sig64, sig64_len, &sig_len);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok =
        sig && md && EVP_DigestVerifyInit(md, NULL, EVP_sha512(), NULL, public_key) == 1 &&
        EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)signed_part, signed_len) == 1;
    EVP_MD_CTX_free(md);
    free(sig);
    return ok;
}

static void forget_expired(time_t now)
{
    const char *key;
    json_t *value;
    void *tmp;
    json_object_foreach_safe(tokens, tmp, key, value)
    {
        if (json_integer_value(value) < (json_int_t)now)
            json_object_del(tokens, key);
    }
    if (json_object_size(jtis_seen) > JTI_MAX)
        json_object_foreach_safe(jtis_seen, tmp, key, value)
        {
            if (json_integer_value(value) < (json_int_t)now)
                json_object_del(jtis_seen, key);
        }
}

/* ---- the token endpoint ---- */

/* Checks the assertion; on a problem replies and returns false. */
static bool check_assertion(const sim_request *req, const char *jwt, sim_reply *reply)
{
    bool ok = false;
    json_t *header = NULL, *claims = NULL;
    const char *dot1 = strchr(jwt, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    char aud[HOST_MAX + sizeof "http://" + sizeof "/nhs-token" TOKEN_PATH];
    time_t now = time(NULL);
    if (!dot1 || !dot2 || strchr(dot2 + 1, '.')) {
        platform_error(reply, 400, "invalid_request", "Malformed JWT in client_assertion");
        goto out;
    }
    header = decode_json_part(jwt, (size_t)(dot1 - jwt));
    claims = decode_json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (!json_is_object(header) || !json_is_object(claims)) {
        platform_error(reply, 400, "invalid_request", "Malformed JWT in client_assertion");
        goto out;
    }
    const char *alg = json_string_value(json_object_get(header, "alg"));
    const char *kid = json_string_value(json_object_get(header, "kid"));
    if (!alg || strcmp(alg, "RS512") != 0) {
        platform_error(reply, 400, "invalid_request",
                       "Invalid 'alg' header in JWT - must be 'RS512'");
        goto out;
    }
    if (!kid || !*kid) {
        platform_error(reply, 400, "invalid_request", "Missing 'kid' header in JWT");
        goto out;
    }
    if (!verify_rs512(jwt, (size_t)(dot2 - jwt), dot2 + 1, strlen(dot2 + 1))) {
        platform_error(reply, 401, "public_key error",
                       "JWT signature verification failed against the registered public key");
        goto out;
    }
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    if (!iss || !sub || strcmp(iss, sub) != 0 || strcmp(iss, client_id) != 0) {
        platform_error(reply, 401, "invalid_request",
                       "Invalid iss/sub claims in JWT: both must be the client id");
        goto out;
    }
    const char *host = req->header ? req->header(req, "Host") : NULL;
    snprintf(aud, sizeof aud, "http://%.*s/nhs-token" TOKEN_PATH, HOST_MAX, host ? host : "");
    const char *their_aud = json_string_value(json_object_get(claims, "aud"));
    if (!their_aud || strcmp(their_aud, aud) != 0) {
        platform_error(reply, 401, "invalid_request", "Missing or non-matching aud claim in JWT");
        goto out;
    }
    const json_t *exp = json_object_get(claims, "exp");
    if (!json_is_integer(exp)) {
        platform_error(reply, 400, "invalid_request", "Missing exp claim in JWT");
        goto out;
    }
    json_int_t e = json_integer_value(exp);
    if (e <= (json_int_t)now) {
        platform_error(reply, 400, "invalid_request", "Invalid exp claim in JWT - JWT has expired");
        goto out;
    }
    if (e > (json_int_t)now + NHS_JWT_MAX_AHEAD_S) {
        platform_error(reply, 400, "invalid_request",
                       "Invalid exp claim in JWT - more than 5 minutes in future");
        goto out;
    }
    const char *jti = json_string_value(json_object_get(claims, "jti"));
    if (!jti || !*jti) {
        platform_error(reply, 400, "invalid_request", "Missing jti claim in JWT");
        goto out;
    }
    if (json_object_get(jtis_seen, jti)) {
        platform_error(reply, 400, "invalid_request", "Non-unique jti claim in JWT");
        goto out;
    }
    json_object_set_new(jtis_seen, jti, json_integer(e));
    ok = true;
out:
    json_decref(header);
    json_decref(claims);
    return ok;
}

static void token_request(const sim_request *req, sim_reply *reply)
{
    json_t *form = NULL;
    const char *form_error = NULL;
    if (!public_key) {
        platform_error(reply, 503, "server_error",
                       "the simulator was started without --nhs-public-key");
        goto out;
    }
    switch (token_error) {
    case 400:
        platform_error(reply, 400, "MISSING_HEADER", "A required header is missing (simulated)");
        goto out;
    case 403:
        platform_error(reply, 403, "NO_ACCESS",
                       "The application has no access to this API (simulated)");
        goto out;
    case 429:
        platform_error(reply, 429, "TOO_MANY_REQUESTS",
                       "You have exceeded your application's rate limit (simulated)");
        goto out;
    default:
        break;
    }
    if (!form_parse(req->body, req->body_len, &form, &form_error)) {
        platform_error(reply, 400, "invalid_request", form_error);
        goto out;
    }
    const char *grant = json_string_value(json_object_get(form, "grant_type"));
    const char *type = json_string_value(json_object_get(form, "client_assertion_type"));
    const char *jwt = json_string_value(json_object_get(form, "client_assertion"));
    if (!grant || strcmp(grant, "client_credentials") != 0) {
        platform_error(reply, 400, "unsupported_grant_type",
                       "grant_type is missing or not client_credentials");
        goto out;
    }
    if (!type || strcmp(type, ASSERTION_TYPE) != 0) {
        platform_error(reply, 400, "invalid_request",
                       "Missing or invalid client_assertion_type - must be '" ASSERTION_TYPE "'");
        goto out;
    }
    if (!jwt || !*jwt) {
        platform_error(reply, 400, "invalid_request", "Missing client_assertion");
        goto out;
    }
    if (!check_assertion(req, jwt, reply))
        goto out;

    char token[2 * TOKEN_BYTES + 1];
    char issued_at[32], expires_in[24];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    forget_expired(now.tv_sec);
    random_hex(token, TOKEN_BYTES);
    json_object_set_new(tokens, token, json_integer((json_int_t)now.tv_sec + token_lifetime));
    snprintf(issued_at, sizeof issued_at, "%lld",
             (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
    snprintf(expires_in, sizeof expires_in, "%ld", token_lifetime);
    issued++;
    sim_reply_json(reply, 200,
                   json_pack("{s:s,s:s,s:s,s:s}", "access_token", token, "expires_in", expires_in,
                             "token_type", "Bearer", "issued_at", issued_at));
out:
    if (reply->status < 200 || reply->status >= 300)
        refused++;
    json_decref(form);
}

static void token_handle(const sim_request *req, sim_reply *reply)
{
    if (strcmp(req->subpath, TOKEN_PATH) != 0) {
        sim_reply_error(reply, 404, "not_found", NULL);
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        sim_reply_error(reply, 405, "method_not_allowed", NULL);
        return;
    }
    token_request(req, reply);
}

/* ---- the FHIR API ---- */

static json_t *referral_resource(const struct referral *r)
{
    return json_pack(
        "{s:s,s:s,s:{s:s,s:[s]},s:[{s:s,s:s,s:[{s:s,s:{s:[{s:s,s:s}]}},{s:s,s:{s:[{s:s,s:s}]}}]},"
        "{s:s,s:s,s:s,s:s,s:[]}],"
        "s:[{s:s,s:[{s:s,s:{s:s,s:s}}]},{s:s,s:{s:[{s:s,s:s}]}}],"
        "s:s,s:s,s:{s:{s:s,s:s}},s:s}",
        "resourceType", "ReferralRequest", "id", r->ubrn, "meta", "versionId", "5", "profile",
        "https://fhir.nhs.uk/STU3/StructureDefinition/eRS-ReferralRequest-1", "contained",
        "resourceType", "Parameters", "id", "searchCriteria", "parameter", "name", "specialty",
        "valueCodeableConcept", "coding", "system",
        "https://fhir.nhs.uk/STU3/CodeSystem/SPECIALTY-1", "code", r->specialty, "name",
        "clinicType", "valueCodeableConcept", "coding", "system",
        "https://fhir.nhs.uk/STU3/CodeSystem/CLINIC-TYPE-1", "code", r->clinic_type, "resourceType",
        "List", "id", "shortlist", "status", "current", "mode", "snapshot", "entry", "extension",
        "url", "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-eRS-ReferralState-1",
        "extension", "url", "state", "valueCoding", "system",
        "https://fhir.nhs.uk/STU3/CodeSystem/eRS-ReferralState-1", "code", r->state, "url",
        "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-eRS-ReferralPriority-1",
        "valueCodeableConcept", "coding", "system",
        "https://fhir.nhs.uk/STU3/CodeSystem/eRS-Priority-1", "code", r->priority, "status",
        "active", "intent", "plan", "subject", "identifier", "system", NHS_NUMBER_SYSTEM, "value",
        r->nhs_number, "authoredOn", "2026-11-20T09:00:00Z");
}

/* True when the request carries a live access token; otherwise replies 401. */
static bool check_bearer(const sim_request *req, sim_reply *reply)
{
    const char *auth = req->header ? req->header(req, "Authorization") : NULL;
    const char *token = auth && strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7 : NULL;
    json_t *expiry = token ? json_object_get(tokens, token) : NULL;
    if (!expiry || json_integer_value(expiry) < (json_int_t)time(NULL)) {
        operation_outcome(reply, 401, "forbidden", "ACCESS_DENIED",
                          "Invalid or expired access token");
        ers_refused++;
        return false;
    }
    return true;
}

static void ers_handle(const sim_request *req, sim_reply *reply)
{
    const size_t prefix = strlen(REFERRAL_PREFIX);
    if (strcmp(req->method, "GET") != 0) {
        sim_reply_error(reply, 405, "method_not_allowed", NULL);
        return;
    }
    if (!check_bearer(req, reply))
        return;
    for (size_t i = 0; ers_error && i < sizeof ers_faults / sizeof ers_faults[0]; i++)
        if (ers_faults[i].status == ers_error) {
            operation_outcome(reply, ers_error, ers_faults[i].issue, ers_faults[i].code,
                              ers_faults[i].text);
            if (ers_error == 429 || ers_error == 503)
                reply->retry_after_s = ers_retry_after;
            return;
        }
    if (strncmp(req->subpath, REFERRAL_PREFIX, prefix) != 0) {
        operation_outcome(reply, 404, "not-found", "NOT_FOUND", "Unknown resource");
        return;
    }
    const char *ubrn = req->subpath + prefix;
    for (size_t i = 0; i < sizeof referrals / sizeof referrals[0]; i++)
        if (strcmp(referrals[i].ubrn, ubrn) == 0) {
            ers_reads++;
            sim_reply_json(reply, 200, referral_resource(&referrals[i]));
            return;
        }
    operation_outcome(reply, 404, "not-found", "REFERRAL_NOT_FOUND",
                      "Referral not found for the given UBRN");
}

/* ---- life cycle and test controls ---- */

static bool nhs_init(const sim_options *opts)
{
    jtis_seen = json_object();
    tokens = json_object();
    client_id = strdup(opts->nhs_client_id ? opts->nhs_client_id : DEFAULT_CLIENT_ID);
    if (!jtis_seen || !tokens || !client_id)
        return false;
    if (opts->nhs_public_key) {
        FILE *f = fopen(opts->nhs_public_key, "r");
        public_key = f ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
        if (f)
            fclose(f);
        if (!public_key || EVP_PKEY_get_base_id(public_key) != EVP_PKEY_RSA) {
            fprintf(stderr, "onestop-sim: --nhs-public-key %s is not a PEM RSA public key\n",
                    opts->nhs_public_key);
            return false;
        }
    }
    return true;
}

static void nhs_reset(void)
{
    json_object_clear(jtis_seen);
    json_object_clear(tokens);
    issued = refused = ers_reads = ers_refused = 0;
    token_error = ers_error = 0;
    ers_retry_after = 0;
    token_lifetime = TOKEN_LIFETIME_S;
}

static void nhs_destroy(void)
{
    json_decref(jtis_seen);
    json_decref(tokens);
    jtis_seen = tokens = NULL;
    EVP_PKEY_free(public_key);
    public_key = NULL;
    free(client_id);
    client_id = NULL;
}

static json_t *describe(void)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:i,s:i,s:I,s:I}", "tokens_issued", (json_int_t)issued,
                     "tokens_refused", (json_int_t)refused, "tokens_live",
                     (json_int_t)json_object_size(tokens), "referral_reads", (json_int_t)ers_reads,
                     "referral_reads_refused", (json_int_t)ers_refused, "token_error", token_error,
                     "ers_error", ers_error, "token_lifetime_s", (json_int_t)token_lifetime,
                     "ers_retry_after_s", (json_int_t)ers_retry_after);
}

void nhs_control(const sim_request *req, sim_reply *reply)
{
    if (strcmp(req->method, "GET") == 0) {
        sim_state_lock();
        json_t *out = describe();
        sim_state_unlock();
        sim_reply_json(reply, 200, out);
        return;
    }
    json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        sim_reply_error(reply, 400, "invalid_json", "body must be a JSON object");
        return;
    }
    const json_t *terr = json_object_get(body, "token_error");
    const json_t *eerr = json_object_get(body, "ers_error");
    const json_t *life = json_object_get(body, "token_lifetime_s");
    const json_t *after = json_object_get(body, "ers_retry_after_s");
    if (after && (!json_is_integer(after) || json_integer_value(after) < 0 ||
                  json_integer_value(after) > NHS_RETRY_AFTER_MAX_S)) {
        json_decref(body);
        sim_reply_error(reply, 400, "invalid_request", "ers_retry_after_s is 0 to 86400");
        return;
    }
    if (life && (!json_is_integer(life) || json_integer_value(life) < 1 ||
                 json_integer_value(life) > TOKEN_LIFETIME_S)) {
        json_decref(body);
        sim_reply_error(reply, 400, "invalid_request", "token_lifetime_s is 1 to 599");
        return;
    }
    if ((terr && !json_is_integer(terr)) || (eerr && !json_is_integer(eerr))) {
        json_decref(body);
        sim_reply_error(reply, 400, "invalid_request", "token_error and ers_error are numbers");
        return;
    }
    if (terr && json_integer_value(terr) != 0 && json_integer_value(terr) != 400 &&
        json_integer_value(terr) != 403 && json_integer_value(terr) != 429) {
        json_decref(body);
        sim_reply_error(reply, 400, "invalid_request", "token_error is 0, 400, 403 or 429");
        return;
    }
    bool known = !eerr || json_integer_value(eerr) == 0;
    for (size_t i = 0; !known && i < sizeof ers_faults / sizeof ers_faults[0]; i++)
        known = ers_faults[i].status == json_integer_value(eerr);
    if (!known) {
        json_decref(body);
        sim_reply_error(reply, 400, "invalid_request", "ers_error is 0, 400, 403, 422, 429 or 503");
        return;
    }
    sim_state_lock();
    if (json_is_true(json_object_get(body, "revoke_tokens")))
        json_object_clear(tokens);
    if (terr)
        token_error = (int)json_integer_value(terr);
    if (eerr)
        ers_error = (int)json_integer_value(eerr);
    if (life)
        token_lifetime = (long)json_integer_value(life);
    if (after)
        ers_retry_after = (unsigned)json_integer_value(after);
    json_t *out = describe();
    sim_state_unlock();
    json_decref(body);
    sim_reply_json(reply, 200, out);
}

const sim_backend nhs_token_backend = {
    .name = "nhs-token",
    .own_auth = true,
    .init = nhs_init,
    .handle = token_handle,
    .reset = nhs_reset,
    .destroy = nhs_destroy,
};

const sim_backend nhs_ers_backend = {
    .name = "nhs-ers",
    .own_auth = true,
    .handle = ers_handle,
};
