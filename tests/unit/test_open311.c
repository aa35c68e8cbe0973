/* Open311 answers as real servers send them, look-ups before a resend, and what the forwarder
 * records for each (connector_open311.c, connector_json_rest.c, resend_lookup.c). Table-driven:
 * one row per shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/config.h"
#include "gateway/delivery/backend_request.h"
#include "gateway/delivery/connector.h"
#include "gateway/delivery/resend_lookup.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#define NOW_MS 1800000000000LL

static struct backend_config backend(const char *connector)
{
    struct backend_config be = {0};
    be.name = (char *)"b";
    be.connector = (char *)connector;
    be.poll_interval_s = 60;
    be.token_poll_interval_s = 2;
    be.token_poll_tries = 5;
    be.lookup_before_resend = true;
    return be;
}

static struct backend_response response(int status, const char *body)
{
    struct backend_response r = {.http_status = status, .body = body, .len = strlen(body)};
    return r;
}

/* Every 2xx answer shape: the id we keep, or the token we exchange, or neither (blackbox). */
static void test_open311_accepted_shapes(void **state)
{
    (void)state;
    struct {
        const char *body;
        const char *id;
        const char *token;
    } cases[] = {
        {"[{\"service_request_id\":\"BW-000042\",\"service_notice\":\"Booked\"}]", "BW-000042", ""},
        {"{\"service_request_id\":\"BW-7\"}", "BW-7", ""},              /* bare object */
        {"[{\"service_request_id\":293944}]", "293944", ""},            /* number */
        {"{\"service_request_id\":17,\"account_id\":\"a\"}", "17", ""}, /* object, number */
        {"{\"service_requests\":[{\"service_request_id\":\"X-1\"}]}", "X-1", ""}, /* wrapped */
        {"[{\"token\":\"12345\"}]", "", "12345"},                                 /* token */
        {"{\"token\":\"abc-def\",\"service_notice\":\"queued\"}", "", "abc-def"},
        {"[{\"token\":987}]", "", "987"},
        {"[{\"service_notice\":\"Thank you\"}]", "", ""}, /* blackbox */
        {"[]", "", ""},
        {"", "", ""},
        {"<html>ok</html>", "", ""},
        {"[{\"service_request_id\":\"\",\"token\":\"t1\"}]", "", "t1"}, /* empty id: none */
        {"[{\"service_request_id\":null}]", "", ""},
        {"[{\"service_request_id\":1.5}]", "", ""}, /* not a whole number: not an id */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char id[128] = "junk", token[128] = "junk";
        size_t len = strlen(cases[i].body);
        connector_open311.parse_accepted(cases[i].body, len, id, sizeof id);
        connector_open311.parse_token(cases[i].body, len, token, sizeof token);
        printf("# case %zu: %s\n", i, cases[i].body);
        assert_string_equal(id, cases[i].id);
        assert_string_equal(token, cases[i].token);
    }
    /* an id longer than we keep is treated as absent, never cut */
    char small[8];
    const char *long_id = "[{\"service_request_id\":\"0123456789\"}]";
    connector_open311.parse_accepted(long_id, strlen(long_id), small, sizeof small);
    assert_string_equal(small, "");
}

/* What the forwarder records for a 2xx (resend_note_attempt): id, token or blackbox. */
static void test_delivered_answers_are_recorded(void **state)
{
    (void)state;
    struct backend_config be = backend("open311");
    struct {
        int status;
        const char *body;
        const char *reference;
        const char *token;
        bool no_polling;
        int64_t next;
    } cases[] = {
        {201, "[{\"service_request_id\":\"BW-1\"}]", "BW-1", "", false, NOW_MS + 60000},
        {200, "{\"service_request_id\":42}", "42", "", false, NOW_MS + 60000},
        {202, "[{\"token\":\"T-1\"}]", "", "T-1", false, NOW_MS + 2000},
        {200, "[{\"service_notice\":\"thanks\"}]", "", "", true, NOW_MS + 60000},
        {204, "", "", "", true, NOW_MS + 60000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct backend_response resp = response(cases[i].status, cases[i].body);
        struct delivery_outcome o = {
            .kind = OUTCOME_DELIVERED, .now_ms = NOW_MS, .next_attempt_at_ms = NOW_MS + 60000};
        connector_open311.parse_accepted(resp.body, resp.len, o.backend_reference,
                                         sizeof o.backend_reference);
        resend_note_attempt(&be, &connector_open311, false, CURLE_OK, &resp, &o);
        assert_string_equal(o.backend_reference, cases[i].reference);
        assert_string_equal(o.backend_token, cases[i].token);
        assert_int_equal(o.no_polling, cases[i].no_polling);
        assert_int_equal(o.next_attempt_at_ms, cases[i].next);
        assert_int_equal(o.supervisor_note[0] != '\0', cases[i].no_polling);
        assert_int_equal(o.outcome_unknown, false);
    }
}

/* Open311 errors: the code a number or a string, the description kept for supervisors. */
static void test_open311_errors(void **state)
{
    (void)state;
    struct {
        int status;
        const char *body;
        const char *want;
    } cases[] = {
        {400, "[{\"code\":400,\"description\":\"slot is full\"}]", "HTTP 400: slot is full"},
        {400, "[{\"code\":\"400\",\"description\":\"slot is full\"}]",
         "HTTP 400: slot is full (code 400)"},
        {400, "[{\"code\":\"invalid_slot\",\"description\":\"slot is full\"}]",
         "HTTP 400: slot is full (code invalid_slot)"},
        {403, "[{\"code\":403,\"description\":\"invalid api_key\"}]", "HTTP 403: invalid api_key"},
        {422, "[{\"code\":1003,\"description\":\"bad address\"}]",
         "HTTP 422: bad address (code 1003)"},
        {400, "{\"code\":\"x\",\"description\":\"bare object\"}", "HTTP 400: bare object"},
        {400, "[{\"code\":\"no_description\"}]", "HTTP 400"},
        {404, "[]", "HTTP 404"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[512];
        connector_describe_error(cases[i].status, cases[i].body, strlen(cases[i].body), out,
                                 sizeof out);
        assert_string_equal(out, cases[i].want);
    }
}

static void test_token_exchange_requests(void **state)
{
    (void)state;
    struct backend_config be = backend("open311");
    struct connector_request req;
    char err[200];
    assert_true(connector_open311.build_token_poll(&be, "T 1/2", &req, err, sizeof err));
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.path, "/tokens/T%201%2F2.json");
    assert_false(connector_open311.build_token_poll(&be, "", &req, err, sizeof err));
    assert_null(connector_json_rest.build_token_poll);
}

/* Each token exchange: the id arrives, another try later, or the tries run out. */
static void test_token_exchange_answers(void **state)
{
    (void)state;
    struct backend_config be = backend("open311");
    struct {
        int status;
        const char *body;
        int polls_before;
        const char *reference;
        int64_t next;
        bool note;
        bool answered;
    } cases[] = {
        {200, "[{\"token\":\"T\",\"service_request_id\":\"BW-9\"}]", 0, "BW-9", NOW_MS + 60000,
         false, true},
        {200, "[{\"token\":\"T\",\"service_request_id\":9}]", 3, "9", NOW_MS + 60000, false, true},
        {200, "[{\"token\":\"T\"}]", 0, "", NOW_MS + 2000, false, true},
        {404, "[{\"code\":404,\"description\":\"unknown token\"}]", 1, "", NOW_MS + 2000, false,
         true},
        {503, "", 2, "", NOW_MS + 2000, false, false},
        {0, "", 3, "", NOW_MS + 2000, false, false},
        {200, "[{\"token\":\"T\"}]", 4, "", 0, true, true}, /* the fifth try: give up */
        {500, "", 4, "", 0, true, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct delivery d = {.token_polls = cases[i].polls_before};
        snprintf(d.backend_token, sizeof d.backend_token, "T");
        struct backend_response resp = response(cases[i].status, cases[i].body);
        struct delivery_outcome o = {0};
        assert_int_equal(resend_token_read(&be, &connector_open311, &d, &resp, NOW_MS, &o),
                         cases[i].answered);
        assert_int_equal(o.kind, OUTCOME_POLLED);
        assert_int_equal(o.step, DELIVERY_STEP_TOKEN);
        assert_string_equal(o.backend_reference, cases[i].reference);
        assert_int_equal(o.next_attempt_at_ms, cases[i].next);
        assert_int_equal(o.supervisor_note[0] != '\0', cases[i].note);
        if (cases[i].note)
            assert_non_null(strstr(o.supervisor_note, "not sent again"));
    }
}

/* Which failed attempts leave the outcome unknown. */
static void test_unknown_outcomes(void **state)
{
    (void)state;
    struct {
        CURLcode code;
        int status;
        bool unknown;
    } cases[] = {
        {CURLE_OPERATION_TIMEDOUT, 0, true},
        {CURLE_RECV_ERROR, 0, true},
        {CURLE_GOT_NOTHING, 0, true},
        {CURLE_PARTIAL_FILE, 0, true},
        {CURLE_SEND_ERROR, 0, true},
        {CURLE_COULDNT_CONNECT, 0, false},
        {CURLE_COULDNT_RESOLVE_HOST, 0, false},
        {CURLE_SSL_CONNECT_ERROR, 0, false},
        {CURLE_OK, 500, true},
        {CURLE_OK, 502, true},
        {CURLE_OK, 504, true},
        {CURLE_OK, 503, false},
        {CURLE_OK, 501, false},
        {CURLE_OK, 429, false},
        {CURLE_OK, 401, false},
        {CURLE_OK, 408, false},
        {CURLE_OK, 0, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(resend_outcome_unknown(cases[i].code, cases[i].status), cases[i].unknown);

    /* the forwarder's note on a failed attempt; a look-up that got no answer stays unknown */
    struct backend_config be = backend("json-rest");
    struct backend_response resp = response(503, "");
    struct delivery_outcome o = {.kind = OUTCOME_RETRY};
    snprintf(o.error, sizeof o.error, "HTTP 503");
    resend_note_attempt(&be, &connector_json_rest, false, CURLE_OK, &resp, &o);
    assert_false(o.outcome_unknown);
    assert_string_equal(o.error, "HTTP 503");
    resend_note_attempt(&be, &connector_json_rest, true, CURLE_OK, &resp, &o);
    assert_true(o.outcome_unknown);
    assert_string_equal(o.error, "look-up before resend: HTTP 503");
    struct delivery_outcome t = {.kind = OUTCOME_FAILED};
    resp = response(0, "");
    resend_note_attempt(&be, &connector_json_rest, false, CURLE_OPERATION_TIMEDOUT, &resp, &t);
    assert_true(t.outcome_unknown);
}

static void test_lookup_first_only_when_configured_and_unknown(void **state)
{
    (void)state;
    struct backend_config be = backend("json-rest");
    struct delivery d = {.outcome_unknown = true};
    assert_true(resend_lookup_first(&be, &connector_json_rest, &d));
    assert_true(resend_lookup_first(&be, &connector_open311, &d));
    d.outcome_unknown = false;
    assert_false(resend_lookup_first(&be, &connector_json_rest, &d));
    d.outcome_unknown = true;
    be.lookup_before_resend = false;
    assert_false(resend_lookup_first(&be, &connector_json_rest, &d));
}

static void test_lookup_requests(void **state)
{
    (void)state;
    struct {
        const struct connector *c;
        const char *path;
        const char *query;
        const char *want;
    } cases[] = {
        {&connector_json_rest, NULL, NULL, "/permits?reference=RP-AB%2012"},
        {&connector_open311, NULL, NULL, "/requests.json?attribute%5Breference%5D=RP-AB%2012"},
        {&connector_open311, "/search.json", "q=ref:{reference}&service_code=bulky-collection",
         "/search.json?q=ref%3ARP-AB%2012&service_code=bulky-collection"},
        {&connector_json_rest, "/v2/permits", "council_job={reference}&x={reference}",
         "/v2/permits?council_job=RP-AB%2012&x=RP-AB%2012"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct backend_config be = backend("x");
        be.lookup_path = (char *)cases[i].path;
        be.lookup_query = (char *)cases[i].query;
        struct connector_request req;
        char err[200];
        assert_true(cases[i].c->build_lookup(&be, "RP-AB 12", &req, err, sizeof err));
        assert_string_equal(req.method, "GET");
        assert_string_equal(req.path, cases[i].want);
        assert_null(req.body);
        assert_false(cases[i].c->build_lookup(&be, "", &req, err, sizeof err));
    }
    /* a reference that does not fit the path is refused, not cut */
    struct backend_config be = backend("x");
    char huge[400];
    memset(huge, 'A', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    struct connector_request req;
    char err[200];
    assert_false(connector_json_rest.build_lookup(&be, huge, &req, err, sizeof err));
}

/* Look-up answers: found (with the back-end's reference), not found, or not understood. */
static void test_lookup_answers(void **state)
{
    (void)state;
    struct {
        const struct connector *c;
        const char *body;
        bool understood;
        bool found;
        const char *reference;
    } cases[] = {
        {&connector_json_rest, "{\"permits\":[{\"id\":\"PP-1\",\"reference\":\"R1\"}]}", true, true,
         "PP-1"},
        {&connector_json_rest, "{\"permits\":[]}", true, false, ""},
        {&connector_json_rest, "[{\"id\":7,\"reference\":\"R1\"}]", true, true, "7"},
        {&connector_json_rest, "{\"permits\":[{\"id\":\"PP-2\",\"reference\":\"R2\"}]}", true,
         false, ""},
        {&connector_json_rest, "{\"id\":\"PP-3\",\"reference\":\"R1\"}", true, true, "PP-3"},
        {&connector_json_rest, "{\"status\":\"nothing here\"}", false, false, ""},
        {&connector_json_rest, "not json", false, false, ""},
        {&connector_open311, "[{\"service_request_id\":\"BW-4\",\"status\":\"open\"}]", true, true,
         "BW-4"},
        {&connector_open311, "[]", true, false, ""},
        {&connector_open311, "[{\"service_request_id\":5},{\"service_request_id\":6}]", true, false,
         ""}, /* two requests, neither says whose: not ours to claim */
        {&connector_open311,
         "[{\"service_request_id\":5,\"attribute\":{\"reference\":\"R9\"}},"
         "{\"service_request_id\":6,\"attributes\":{\"reference\":\"R1\"}}]",
         true, true, "6"},
        {&connector_open311, "{\"service_requests\":[{\"service_request_id\":\"W-1\"}]}", true,
         true, "W-1"},
        {&connector_open311, "[{\"reference\":\"R1\"}]", true, true, ""}, /* found, no id */
        {&connector_open311, "<html/>", false, false, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool found = true;
        char ref[128] = "junk";
        printf("# case %zu: %s\n", i, cases[i].body);
        assert_int_equal(cases[i].c->parse_lookup(cases[i].body, strlen(cases[i].body), "R1",
                                                  &found, ref, sizeof ref),
                         cases[i].understood);
        if (!cases[i].understood)
            continue;
        assert_int_equal(found, cases[i].found);
        assert_string_equal(ref, cases[i].reference);
    }
}

/* What a look-up's answer becomes: delivered, sent again, or a failed attempt. */
static void test_lookup_outcomes(void **state)
{
    (void)state;
    struct backend_config be = backend("json-rest");
    struct delivery d = {.outcome_unknown = true};
    snprintf(d.reference, sizeof d.reference, "R1");
    struct {
        int status;
        const char *body;
        enum resend_lookup_answer want;
    } cases[] = {
        {200, "{\"permits\":[{\"id\":\"PP-1\",\"reference\":\"R1\"}]}", RESEND_FOUND},
        {200, "{\"permits\":[]}", RESEND_NOT_FOUND},
        {404, "{\"error\":\"not_found\"}", RESEND_NO_ANSWER}, /* never resend on a 404 */
        {500, "", RESEND_NO_ANSWER},
        {0, "", RESEND_NO_ANSWER},
        {200, "garbage", RESEND_NO_ANSWER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct backend_response resp = response(cases[i].status, cases[i].body);
        struct delivery_outcome o = {0};
        assert_int_equal(resend_lookup_read(&be, &connector_json_rest, &d, &resp, NOW_MS, &o),
                         cases[i].want);
        if (cases[i].want == RESEND_FOUND) {
            assert_int_equal(o.kind, OUTCOME_DELIVERED);
            assert_int_equal(o.step, DELIVERY_STEP_ATTEMPT);
            assert_string_equal(o.backend_reference, "PP-1");
            assert_non_null(strstr(o.supervisor_note, "not sent again"));
        } else if (cases[i].want == RESEND_NOT_FOUND) {
            assert_int_equal(o.step, DELIVERY_STEP_NOT_FOUND);
            assert_non_null(strstr(o.supervisor_note, "sent again"));
        }
    }
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open311_accepted_shapes),
        cmocka_unit_test(test_delivered_answers_are_recorded),
        cmocka_unit_test(test_open311_errors),
        cmocka_unit_test(test_token_exchange_requests),
        cmocka_unit_test(test_token_exchange_answers),
        cmocka_unit_test(test_unknown_outcomes),
        cmocka_unit_test(test_lookup_first_only_when_configured_and_unknown),
        cmocka_unit_test(test_lookup_requests),
        cmocka_unit_test(test_lookup_answers),
        cmocka_unit_test(test_lookup_outcomes),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
