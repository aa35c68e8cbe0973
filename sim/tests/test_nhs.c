/* Unit tests of sim/nhs.c: the token endpoint's checks of a client assertion (RS512 signature
 * against the public key, alg and kid, iss = sub = client id, aud = the token URL, exp in the
 * future and at most five minutes ahead, a jti used once) and the FHIR reads' token check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "sim/backends.h"

#define CLIENT "sim-test-client"
#define HOST   "sim.test:8090"
#define AUD    "http://" HOST "/nhs-token/oauth2/token"
#define ASSERTION_FORM                                                                             \
    "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-"    \
    "assertion-type%3Ajwt-bearer&client_assertion="
#define RSA_BITS 2048

static EVP_PKEY *key, *other_key;
static char key_path[] = "/tmp/onestop-sim-nhs-test-XXXXXX";
static const char *authorization; /* what the fake request's Authorization header holds */

static const char *fake_header(const sim_request *req, const char *name)
{
    (void)req;
    if (strcasecmp(name, "Host") == 0)
        return HOST;
    if (strcasecmp(name, "Authorization") == 0)
        return authorization;
    return NULL;
}

static int setup(void **state)
{
    (void)state;
    key = EVP_RSA_gen(RSA_BITS);
    other_key = EVP_RSA_gen(RSA_BITS);
    int fd = mkstemp(key_path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!key || !other_key || !f || PEM_write_PUBKEY(f, key) != 1)
        return -1;
    fclose(f);
    sim_options opts = {.nhs_public_key = key_path, .nhs_client_id = CLIENT};
    return nhs_token_backend.init(&opts) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    nhs_token_backend.destroy();
    EVP_PKEY_free(key);
    EVP_PKEY_free(other_key);
    unlink(key_path);
    return 0;
}

static void b64url(const unsigned char *in, size_t len, char *out)
{
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
}

struct claims {
    const char *alg, *kid, *iss, *sub, *aud, *jti;
    long long exp_from_now;
    EVP_PKEY *signer;
};

static struct claims good(const char *jti)
{
    return (struct claims){"RS512", "kid-1", CLIENT, CLIENT, AUD, jti, 240, key};
}

/* The form body posting a JWT made of c (static buffer). */
static const char *form_with(const struct claims *c)
{
    static char form[8192];
    char header[256], payload[1024], h64[512], p64[2048], input[4096], s64[1024];
    unsigned char sig[512];
    size_t sig_len = sizeof sig;
    snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\"%s%s%s}", c->alg,
             c->kid ? ",\"kid\":\"" : "", c->kid ? c->kid : "", c->kid ? "\"" : "");
    snprintf(payload, sizeof payload,
             "{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":\"%s\",\"jti\":\"%s\",\"exp\":%lld}", c->iss,
             c->sub, c->aud, c->jti, (long long)time(NULL) + c->exp_from_now);
    b64url((const unsigned char *)header, strlen(header), h64);
    b64url((const unsigned char *)payload, strlen(payload), p64);
    snprintf(input, sizeof input, "%s.%s", h64, p64);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha512(), NULL, c->signer), 1);
    assert_int_equal(EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)input, strlen(input)),
                     1);
    EVP_MD_CTX_free(md);
    b64url(sig, sig_len, s64);
    snprintf(form, sizeof form, "%s%s.%s", ASSERTION_FORM, input, s64);
    return form;
}

/* Posts form to the token endpoint; returns the reply (caller frees body). */
static sim_reply post_token(const char *form)
{
    sim_request req = {.method = "POST",
                       .subpath = "/oauth2/token",
                       .body = form,
                       .body_len = strlen(form),
                       .content_type = "application/x-www-form-urlencoded",
                       .header = fake_header};
    sim_reply reply = {0};
    nhs_token_backend.handle(&req, &reply);
    return reply;
}

static void expect_refusal(const struct claims *c, unsigned status, const char *words)
{
    sim_reply r = post_token(form_with(c));
    if (r.status != status || !r.body || !strstr(r.body, words))
        fail_msg("expected %u with \"%s\", got %u %s", status, words, r.status,
                 r.body ? r.body : "");
    free(r.body);
}

static void test_a_good_assertion_gets_a_token_like_the_platform(void **state)
{
    (void)state;
    struct claims c = good("jti-good-1");
    sim_reply r = post_token(form_with(&c));
    assert_int_equal(r.status, 200);
    json_t *doc = json_loads(r.body, 0, NULL);
    assert_non_null(json_string_value(json_object_get(doc, "access_token")));
    assert_string_equal(json_string_value(json_object_get(doc, "expires_in")), "599");
    assert_string_equal(json_string_value(json_object_get(doc, "token_type")), "Bearer");
    assert_non_null(json_string_value(json_object_get(doc, "issued_at")));

    /* the token opens the FHIR reads; without it they answer 401 */
    char auth[600];
    snprintf(auth, sizeof auth, "Bearer %s",
             json_string_value(json_object_get(doc, "access_token")));
    sim_request read = {.method = "GET",
                        .subpath = "/STU3/ReferralRequest/000000070000",
                        .body = "",
                        .header = fake_header};
    sim_reply got = {0};
    authorization = auth;
    nhs_ers_backend.handle(&read, &got);
    assert_int_equal(got.status, 200);
    assert_non_null(strstr(got.body, "\"NOT_BOOKED\""));
    assert_non_null(strstr(got.body, "9912003888"));
    free(got.body);
    got = (sim_reply){0};
    read.subpath = "/STU3/ReferralRequest/000000079999";
    nhs_ers_backend.handle(&read, &got);
    assert_int_equal(got.status, 404);
    assert_non_null(strstr(got.body, "REFERRAL_NOT_FOUND"));
    free(got.body);
    got = (sim_reply){0};
    authorization = "Bearer not-a-token";
    nhs_ers_backend.handle(&read, &got);
    assert_int_equal(got.status, 401);
    assert_non_null(strstr(got.body, "OperationOutcome"));
    free(got.body);
    authorization = NULL;
    json_decref(doc);
    free(r.body);
}

static void test_bad_assertions_are_refused(void **state)
{
    (void)state;
    struct claims c = good("jti-reused");
    sim_reply first = post_token(form_with(&c));
    assert_int_equal(first.status, 200);
    free(first.body);
    expect_refusal(&c, 400, "Non-unique jti claim in JWT");

    c = good("jti-2");
    c.exp_from_now = 301;
    expect_refusal(&c, 400, "more than 5 minutes in future");
    c = good("jti-3");
    c.exp_from_now = -1;
    expect_refusal(&c, 400, "JWT has expired");
    c = good("jti-4");
    c.kid = NULL;
    expect_refusal(&c, 400, "Missing 'kid' header in JWT");
    c = good("jti-5");
    c.alg = "HS512";
    expect_refusal(&c, 400, "must be 'RS512'");
    c = good("jti-6");
    c.signer = other_key;
    expect_refusal(&c, 401, "signature verification failed");
    c = good("jti-7");
    c.sub = "someone-else";
    expect_refusal(&c, 401, "iss/sub");
    c = good("jti-8");
    c.iss = c.sub = "someone-else";
    expect_refusal(&c, 401, "iss/sub");
    c = good("jti-9");
    c.aud = "http://elsewhere/token";
    expect_refusal(&c, 401, "aud claim");

    sim_reply r = post_token("grant_type=client_credentials&client_assertion=x.y.z");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "client_assertion_type"));
    free(r.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_good_assertion_gets_a_token_like_the_platform),
        cmocka_unit_test(test_bad_assertions_are_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
