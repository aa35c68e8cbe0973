/* The email connector: addresses, Message-ID, the RFC 5322 message (headers, encodings, the
 * optional attachment), header injection refused; and the SMTP transport's classification of
 * libcurl results and SMTP reply codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/config.h"
#include "gateway/delivery/connector_email.h"
#include "gateway/delivery/transport_smtp.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY       "6f1c2a3e-0d4b-4c8e-9a51-2b7f3c9d0e11"
#define DATE_2026 1793885400 /* Thu, 05 Nov 2026 13:30:00 UTC */
#define REFERRAL                                                                                   \
    "{\"subject\":\"Referral to Citizens Advice\",\"reference\":\"PR-4K7M-9Q2X\","                 \
    "\"service\":\"partner-referral\",\"partner\":\"Citizens Advice Stockport\","                  \
    "\"consent\":{\"given\":true,\"recorded_at\":\"2026-11-30T10:00:00Z\"},"                       \
    "\"fields\":{\"name\":\"Zo\\u00eb Ng\",\"phone\":\"01614804949\",\"need\":\"debt advice\"}}"

struct fixture {
    struct backend_config be;
    json_t *to;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->to = json_pack("[s,s]", "advice@partner.example", "duty.team@partner.example");
    f->be.name = (char *)"partners";
    f->be.connector = (char *)"email";
    f->be.url = (char *)"smtp://127.0.0.1:2525";
    f->be.mail_from = (char *)"counters@stockport.example";
    f->be.mail_to = f->to;
    f->be.timeout_ms = 5000;
    f->be.connect_timeout_ms = 1000;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    json_decref(f->to);
    free(f);
    return 0;
}

static char *build(const struct backend_config *be, const char *payload, char *err, size_t errlen)
{
    char *msg = NULL;
    size_t len = 0;
    if (!email_message_build(be, payload, KEY, DATE_2026, &msg, &len, err, errlen))
        return NULL;
    assert_int_equal(strlen(msg), len);
    return msg;
}

/* The header block (up to the blank line), malloc'd. */
static char *headers_of(const char *msg)
{
    const char *end = strstr(msg, "\r\n\r\n");
    assert_non_null(end);
    return strndup(msg, (size_t)(end - msg) + 2);
}

static void test_addresses(void **state)
{
    (void)state;
    static const char *good[] = {"a@b.example", "first.last+tag@sub.partner.example",
                                 "x_y-z@localhost"};
    static const char *bad[] = {"",
                                "plain",
                                "@b.example",
                                "a@",
                                "a@@b",
                                "a b@c.example",
                                "<a@b.example>",
                                "\"a\"@b.example",
                                "a@b.example\r\nBcc: c@d.example",
                                "a..b@c.example",
                                ".a@b.example",
                                "a@b_c.example",
                                "Name <a@b.example>"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(email_address_valid(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (email_address_valid(bad[i]))
            fail_msg("accepted %s", bad[i]);
    assert_false(email_address_valid(NULL));
    assert_true(email_header_value_ok("Referral: Zoë"));
    assert_false(email_header_value_ok("a\r\nBcc: x"));
    assert_false(email_header_value_ok("a\nb"));
    assert_false(email_header_value_ok("tab\there"));
}

static void test_message_id(void **state)
{
    (void)state;
    char id[EMAIL_MESSAGE_ID_MAX], again[EMAIL_MESSAGE_ID_MAX];
    assert_true(email_message_id(KEY, "counters@stockport.example", id, sizeof id));
    assert_string_equal(id, "<" KEY "@stockport.example>");
    /* a key with characters a Message-ID cannot hold is hashed, the same way every time */
    assert_true(email_message_id("key with spaces<>@", "a@b.example", id, sizeof id));
    assert_true(email_message_id("key with spaces<>@", "a@b.example", again, sizeof again));
    assert_string_equal(id, again);
    assert_int_equal(strlen(id), strlen("<h.@b.example>") + 32);
    assert_memory_equal(id, "<h.", 3);
    assert_true(email_message_id("other key", "a@b.example", again, sizeof again));
    assert_string_not_equal(id, again);
    assert_false(email_message_id("", "a@b.example", id, sizeof id));
    assert_false(email_message_id(KEY, "no-domain", id, sizeof id));
    assert_false(email_message_id(KEY, "a@b.example", id, 10));
}

static void test_referral_message(void **state)
{
    struct fixture *f = *state;
    char err[256];
    char *msg = build(&f->be, REFERRAL, err, sizeof err);
    assert_non_null(msg);
    char *h = headers_of(msg);
    assert_non_null(strstr(h, "From: counters@stockport.example\r\n"));
    assert_non_null(strstr(h, "To: advice@partner.example,\r\n duty.team@partner.example\r\n"));
    assert_non_null(strstr(h, "Subject: Referral to Citizens Advice\r\n"));
    assert_non_null(strstr(h, "Date: Thu, 05 Nov 2026 13:30:00 +0000\r\n"));
    assert_non_null(strstr(h, "Message-ID: <" KEY "@stockport.example>\r\n"));
    assert_non_null(strstr(h, "X-Onestop-Reference: PR-4K7M-9Q2X\r\n"));
    assert_non_null(strstr(h, "MIME-Version: 1.0\r\n"));
    assert_non_null(strstr(h, "Content-Type: text/plain; charset=UTF-8\r\n"));
    assert_non_null(strstr(h, "Content-Transfer-Encoding: quoted-printable\r\n"));
    const char *body = strstr(msg, "\r\n\r\n") + 4;
    assert_non_null(strstr(body, "Reference: PR-4K7M-9Q2X\r\n"));
    assert_non_null(strstr(body, "For: Citizens Advice Stockport\r\n"));
    assert_non_null(strstr(body, "Consent: given, recorded 2026-11-30T10:00:00Z\r\n"));
    assert_non_null(strstr(body, "name: Zo=C3=AB Ng\r\n")); /* UTF-8, quoted-printable */
    assert_non_null(strstr(body, "need: debt advice\r\n"));
    /* every line ends CRLF and stays within 76 characters; only 7-bit bytes on the wire */
    for (const char *p = msg; *p;) {
        const char *eol = strstr(p, "\r\n");
        assert_non_null(eol);
        assert_true(eol - p <= 78);
        for (const char *c = p; c < eol; c++)
            assert_true((unsigned char)*c < 0x80 && *c != '\r' && *c != '\n');
        p = eol + 2;
    }
    /* a resend is the same message, byte for byte */
    char *again = build(&f->be, REFERRAL, err, sizeof err);
    assert_string_equal(msg, again);
    free(again);
    free(h);
    free(msg);
}

static void test_quoted_printable(void **state)
{
    struct fixture *f = *state;
    char err[256];
    char long_value[200];
    memset(long_value, 'x', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    char payload[1024];
    snprintf(payload, sizeof payload,
             "{\"reference\":\"PR-1\",\"fields\":{\"sum\":\"a=b\",\"trail\":\"end  \","
             "\"dot\":\"\\n.hidden\",\"long\":\"%s\"}}",
             long_value);
    char *msg = build(&f->be, payload, err, sizeof err);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "sum: a=3Db\r\n"));
    assert_non_null(strstr(msg, "trail: end =20\r\n")); /* trailing white space encoded */
    assert_non_null(strstr(msg, "long: xxxx"));
    assert_non_null(strstr(msg, "=\r\n"));           /* a soft line break in the long value */
    assert_non_null(strstr(msg, "\r\n.hidden\r\n")); /* dot-stuffing is libcurl's job */
    free(msg);
}

static void test_defaults_without_the_referral_shape(void **state)
{
    struct fixture *f = *state;
    char err[256];
    /* any service's payload: subject from service and reference, top-level members as fields */
    char *msg = build(&f->be,
                      "{\"reference\":\"RP-ABCD-1234\",\"service\":\"residents-parking-permit\","
                      "\"vrm\":\"AB12CDE\",\"quantity\":1,\"blue_badge\":false,\"extra\":[1,2]}",
                      err, sizeof err);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "Subject: residents-parking-permit: RP-ABCD-1234\r\n"));
    assert_non_null(strstr(msg, "vrm: AB12CDE\r\n"));
    assert_non_null(strstr(msg, "quantity: 1\r\n"));
    assert_non_null(strstr(msg, "blue_badge: no\r\n"));
    assert_non_null(strstr(msg, "extra: [1,2]\r\n"));
    assert_null(strstr(msg, "reference: RP")); /* known members are not repeated as fields */
    free(msg);
}

static void test_encoded_subject(void **state)
{
    struct fixture *f = *state;
    char err[256];
    const char *subject = "Atgyfeirio \xE2\x80\x94 Zo\xC3\xAB ac \xC5\xB5 "
                          "a long subject that needs more than one encoded word to fit";
    char payload[512];
    snprintf(payload, sizeof payload, "{\"reference\":\"PR-2\",\"subject\":\"%s\"}", subject);
    char *msg = build(&f->be, payload, err, sizeof err);
    assert_non_null(msg);
    char *h = headers_of(msg);
    /* decode every encoded-word of the Subject and join them */
    char joined[512] = "";
    const char *p = strstr(h, "Subject:");
    assert_non_null(p);
    int words = 0;
    while ((p = strstr(p, "=?UTF-8?B?")) && p < strstr(h, "Date:")) {
        p += strlen("=?UTF-8?B?");
        const char *end = strstr(p, "?=");
        unsigned char out[256];
        int n = EVP_DecodeBlock(out, (const unsigned char *)p, (int)(end - p));
        assert_true(n >= 0);
        while (n > 0 && end[-1] == '=' && out[n - 1] == '\0')
            n--, end--;
        strncat(joined, (const char *)out, (size_t)n);
        assert_true(strlen(p) > 0);
        p = strstr(p, "?=") + 2;
        words++;
    }
    assert_true(words >= 2);
    assert_string_equal(joined, subject);
    free(h);
    free(msg);
}

static void test_header_injection_is_refused(void **state)
{
    struct fixture *f = *state;
    char err[256];
    static const char *refused[] = {
        "{\"reference\":\"PR-1\",\"subject\":\"Hi\\r\\nBcc: victim@example.org\"}",
        "{\"reference\":\"PR-1\",\"subject\":\"Hi\\nBcc: victim@example.org\"}",
        "{\"reference\":\"PR-1\",\"subject\":\"Hi\\rBcc: victim@example.org\"}",
        "{\"reference\":\"PR-1\",\"subject\":\"Hi\\u0000Bcc: victim@example.org\"}",
        "{\"reference\":\"PR-1\\r\\nBcc: victim@example.org\"}",
        "{\"reference\":\"PR 1\"}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        err[0] = '\0';
        char *msg = build(&f->be, refused[i], err, sizeof err);
        if (msg)
            fail_msg("built a message from %s", refused[i]);
        assert_true(err[0] != '\0');
    }
    /* in the body a line break is text: encoded, never a header */
    char *msg = build(&f->be,
                      "{\"reference\":\"PR-1\",\"fields\":{\"note\":\"a\\r\\nBcc: "
                      "victim@example.org\\r\\n\\r\\nfake\"}}",
                      err, sizeof err);
    assert_non_null(msg);
    char *h = headers_of(msg);
    assert_null(strstr(h, "Bcc"));
    assert_non_null(strstr(msg, "note: a=0D\r\nBcc: victim@example.org=0D\r\n=0D\r\nfake"));
    free(h);
    free(msg);
}

static void test_refusals(void **state)
{
    struct fixture *f = *state;
    char err[256];
    assert_null(build(&f->be, "[1]", err, sizeof err));
    assert_null(build(&f->be, "{oops", err, sizeof err));
    assert_null(build(&f->be, NULL, err, sizeof err));
    assert_null(build(&f->be, "{\"service\":\"x\"}", err, sizeof err));
    assert_non_null(strstr(err, "reference"));
    assert_null(build(&f->be, "{\"reference\":\"PR-1\",\"consent\":false}", err, sizeof err));
    assert_non_null(strstr(err, "consent"));
    assert_null(
        build(&f->be, "{\"reference\":\"PR-1\",\"consent\":{\"given\":false}}", err, sizeof err));
    assert_null(build(&f->be, "{\"reference\":\"PR-1\",\"fields\":[1]}", err, sizeof err));
    assert_null(build(&f->be, "{\"reference\":\"PR-1\",\"subject\":7}", err, sizeof err));
    char payload[600];
    char subject[EMAIL_SUBJECT_MAX + 2];
    memset(subject, 's', sizeof subject - 1);
    subject[sizeof subject - 1] = '\0';
    snprintf(payload, sizeof payload, "{\"reference\":\"PR-1\",\"subject\":\"%s\"}", subject);
    assert_null(build(&f->be, payload, err, sizeof err));
    struct backend_config no_rcpt = f->be;
    no_rcpt.mail_to = NULL;
    assert_null(build(&no_rcpt, "{\"reference\":\"PR-1\"}", err, sizeof err));
}

static void test_json_attachment(void **state)
{
    struct fixture *f = *state;
    char err[256];
    const char *payload = "{\"reference\":\"PR-9\",\"attach_json\":true,\"fields\":{\"a\":\"b\"}}";
    char *msg = build(&f->be, payload, err, sizeof err);
    assert_non_null(msg);
    char *h = headers_of(msg);
    const char *b = strstr(h, "Content-Type: multipart/mixed; boundary=\"");
    assert_non_null(b);
    b += strlen("Content-Type: multipart/mixed; boundary=\"");
    char boundary[80];
    snprintf(boundary, sizeof boundary, "%.*s", (int)(strchr(b, '"') - b), b);
    assert_memory_equal(boundary, "=_", 2);
    char delimiter[100], close[100];
    snprintf(delimiter, sizeof delimiter, "\r\n--%s\r\n", boundary);
    snprintf(close, sizeof close, "--%s--\r\n", boundary);
    const char *first = strstr(msg, delimiter);
    assert_non_null(first);
    const char *second = strstr(first + 1, delimiter);
    assert_non_null(second);
    assert_non_null(strstr(second, "Content-Type: application/json; charset=UTF-8; "
                                   "name=\"PR-9.json\""));
    assert_non_null(strstr(second, "Content-Transfer-Encoding: base64\r\n"));
    const char *data = strstr(second, "\r\n\r\n") + 4;
    const char *end = strstr(data, "\r\n--");
    char joined[512];
    size_t jn = 0;
    for (const char *c = data; c < end; c++) {
        assert_true(*c != '\r' || (c[1] == '\n' && c - data >= 76)); /* 76-character lines */
        if (*c != '\r' && *c != '\n')
            joined[jn++] = *c;
    }
    unsigned char decoded[512];
    int n = EVP_DecodeBlock(decoded, (const unsigned char *)joined, (int)jn);
    assert_true(n >= (int)strlen(payload));
    assert_memory_equal(decoded, payload, strlen(payload));
    assert_non_null(strstr(msg, close));
    free(h);
    free(msg);
}

static void test_classify(void **state)
{
    (void)state;
    static const struct {
        CURLcode code;
        long reply;
        enum smtp_verdict want;
    } cases[] = {
        {CURLE_OK, 250, SMTP_DELIVERED},
        {CURLE_SEND_ERROR, 451, SMTP_TRANSIENT},         /* RCPT or MAIL 4xx */
        {CURLE_WEIRD_SERVER_REPLY, 452, SMTP_TRANSIENT}, /* end of DATA 4xx */
        {CURLE_RECV_ERROR, 421, SMTP_TRANSIENT},         /* closing down */
        {CURLE_SEND_ERROR, 550, SMTP_PERMANENT},         /* no such mailbox */
        {CURLE_WEIRD_SERVER_REPLY, 554, SMTP_PERMANENT}, /* content refused */
        {CURLE_SEND_ERROR, 553, SMTP_PERMANENT},         /* sender refused */
        {CURLE_LOGIN_DENIED, 535, SMTP_TRANSIENT},       /* our password: fix it once */
        {CURLE_USE_SSL_FAILED, 0, SMTP_TRANSIENT},       /* no STARTTLS offered */
        {CURLE_OPERATION_TIMEDOUT, 0, SMTP_TRANSIENT},
        {CURLE_OPERATION_TIMEDOUT, 250, SMTP_TRANSIENT},
        {CURLE_COULDNT_CONNECT, 0, SMTP_TRANSIENT},
        {CURLE_GOT_NOTHING, 0, SMTP_TRANSIENT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (smtp_classify(cases[i].code, cases[i].reply) != cases[i].want)
            fail_msg("case %zu: curl %d reply %ld", i, (int)cases[i].code, cases[i].reply);
}

static void test_queue_id(void **state)
{
    (void)state;
    char id[SMTP_QUEUE_ID_MAX];
    smtp_queue_id("250 2.0.0 Ok: queued as 4F7XKq2mZ9z1", id, sizeof id);
    assert_string_equal(id, "4F7XKq2mZ9z1");
    smtp_queue_id("250 2.0.0 OK queued as MAIL-000001", id, sizeof id);
    assert_string_equal(id, "MAIL-000001");
    smtp_queue_id("250 OK id=1r2s3t-000abc-XY", id, sizeof id);
    assert_string_equal(id, "");
    smtp_queue_id("451 4.3.0 queued as nothing", id, sizeof id);
    assert_string_equal(id, "");
    smtp_queue_id(NULL, id, sizeof id);
    assert_string_equal(id, "");
    char small[4];
    smtp_queue_id("250 queued as ABCDEFG", small, sizeof small);
    assert_string_equal(small, "ABC");
}

static void test_transport_choice_and_request(void **state)
{
    struct fixture *f = *state;
    assert_true(transport_smtp_wanted(&f->be));
    struct backend_config other = f->be;
    other.url = (char *)"smtps://mail.partner.example";
    assert_true(transport_smtp_wanted(&other));
    other.url = (char *)"https://api.partner.example";
    assert_false(transport_smtp_wanted(&other));
    assert_false(transport_smtp_wanted(NULL));

    char err[256];
    char *message = strdup("Subject: x\r\n\r\nbody\r\n");
    struct smtp_request *req = smtp_request_new(&f->be, message, strlen(message), err, sizeof err);
    assert_non_null(req);
    assert_non_null(smtp_request_easy(req));
    smtp_request_free(req);
    smtp_request_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_message_id),
        cmocka_unit_test_setup_teardown(test_referral_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quoted_printable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults_without_the_referral_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encoded_subject, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_injection_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_attachment, setup, teardown),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_queue_id),
        cmocka_unit_test_setup_teardown(test_transport_choice_and_request, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
