/* oauth_token: the RS512 client assertion (checked with the public key alone), expires_in as a
 * number or a string, the token endpoint's errors in words, and the shared cache against a
 * tiny in-process token endpoint: 20 threads at once cause one fetch, a 401'd token is
 * renewed once, a failed fetch is not repeated at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/config.h"
#include "gateway/delivery/oauth_token.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CLIENT_ID       "test-client-id"
#define KID             "test-kid-1"
#define TOKEN_URL       "https://api.example.test/oauth2/token"
#define RSA_BITS        2048
#define THREADS         20
#define REQUEST_MAX     16384
#define SERVER_DELAY_US 200000 /* the endpoint answers slowly, so the threads overlap */

static EVP_PKEY *key;

static int setup(void **state)
{
    (void)state;
    key = EVP_RSA_gen(RSA_BITS);
    return key ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(key);
    oauth_token_cache_free();
    return 0;
}

/* ---- the client assertion ---- */

static unsigned char *b64url_decode(const char *in, size_t len, size_t *out_len)
{
    size_t padded = len + (4 - len % 4) % 4;
    char *b64 = malloc(padded + 1);
    unsigned char *out = malloc(padded + 1);
    assert_non_null(b64);
    assert_non_null(out);
    for (size_t i = 0; i < len; i++) {
        assert_true(in[i] != '+' && in[i] != '/' && in[i] != '='); /* URL-safe, unpadded */
        b64[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
    }
    memset(b64 + len, '=', padded - len);
    b64[padded] = '\0';
    int n = EVP_DecodeBlock(out, (unsigned char *)b64, (int)padded);
    assert_true(n >= 0);
    free(b64);
    *out_len = (size_t)n - (padded - len);
    out[*out_len] = '\0';
    return out;
}

static json_t *part(const char *s, size_t len)
{
    size_t n;
    unsigned char *raw = b64url_decode(s, len, &n);
    json_t *doc = json_loadb((char *)raw, n, 0, NULL);
    free(raw);
    assert_non_null(doc);
    return doc;
}

/* Verifies the JWT's RS512 signature with the public half of key only. */
static bool verify_with_public_key(const char *jwt)
{
    unsigned char *der = NULL;
    int der_len = i2d_PUBKEY(key, &der);
    assert_true(der_len > 0);
    const unsigned char *p = der;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, der_len);
    OPENSSL_free(der);
    assert_non_null(pub);
    const char *last = strrchr(jwt, '.');
    size_t sig_len;
    unsigned char *sig = b64url_decode(last + 1, strlen(last + 1), &sig_len);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok =
        EVP_DigestVerifyInit(md, NULL, EVP_sha512(), NULL, pub) == 1 &&
        EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)jwt, (size_t)(last - jwt)) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pub);
    free(sig);
    return ok;
}

static void test_jwt_header_claims_and_signature(void **state)
{
    (void)state;
    char jti[OAUTH_JTI_SIZE], err[256];
    time_t now = time(NULL);
    char *jwt = oauth_jwt_build(key, KID, CLIENT_ID, TOKEN_URL, now, jti, err, sizeof err);
    assert_non_null(jwt);
    const char *dot1 = strchr(jwt, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    assert_non_null(dot2);
    assert_null(strchr(dot2 + 1, '.'));

    json_t *header = part(jwt, (size_t)(dot1 - jwt));
    assert_string_equal(json_string_value(json_object_get(header, "alg")), "RS512");
    assert_string_equal(json_string_value(json_object_get(header, "typ")), "JWT");
    assert_string_equal(json_string_value(json_object_get(header, "kid")), KID);
    json_decref(header);

    json_t *claims = part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    assert_string_equal(json_string_value(json_object_get(claims, "iss")), CLIENT_ID);
    assert_string_equal(json_string_value(json_object_get(claims, "sub")), CLIENT_ID);
    assert_string_equal(json_string_value(json_object_get(claims, "aud")), TOKEN_URL);
    assert_string_equal(json_string_value(json_object_get(claims, "jti")), jti);
    assert_int_equal(strlen(jti), 36);
    json_int_t exp = json_integer_value(json_object_get(claims, "exp"));
    assert_true(exp > (json_int_t)now);
    assert_true(exp <= (json_int_t)now + 300); /* at most five minutes ahead */
    json_decref(claims);

    assert_true(verify_with_public_key(jwt));
    /* a changed claim no longer verifies */
    char *tampered = strdup(jwt);
    size_t at = (size_t)(dot1 - jwt) + 3;
    tampered[at] = tampered[at] == 'A' ? 'B' : 'A';
    assert_false(verify_with_public_key(tampered));
    free(tampered);
    free(jwt);
}

static void test_jti_is_unique(void **state)
{
    (void)state;
    enum { N = 200 };
    static char seen[N][OAUTH_JTI_SIZE];
    char err[256];
    for (int i = 0; i < N; i++) {
        char *jwt =
            oauth_jwt_build(key, KID, CLIENT_ID, TOKEN_URL, time(NULL), seen[i], err, sizeof err);
        assert_non_null(jwt);
        free(jwt);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(seen[i], seen[j]);
    }
}

static void test_jwt_needs_an_rsa_key(void **state)
{
    (void)state;
    char jti[OAUTH_JTI_SIZE], err[256] = "";
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    assert_non_null(ec);
    assert_null(oauth_jwt_build(ec, KID, CLIENT_ID, TOKEN_URL, time(NULL), jti, err, sizeof err));
    assert_non_null(strstr(err, "RSA"));
    EVP_PKEY_free(ec);
}

/* ---- token answers ---- */

static void test_expires_in_as_number_or_string(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        bool ok;
        long expires_in;
    } cases[] = {
        {"{\"access_token\":\"abc\",\"expires_in\":\"599\",\"token_type\":\"Bearer\","
         "\"issued_at\":\"1764500000000\"}",
         true, 599},
        {"{\"access_token\":\"abc\",\"expires_in\":599,\"token_type\":\"Bearer\"}", true, 599},
        {"{\"access_token\":\"abc\",\"expires_in\":3600}", true, 3600},
        {"{\"access_token\":\"abc\",\"expires_in\":599.0,\"token_type\":\"bearer\"}", true, 599},
        {"{\"access_token\":\"abc\",\"expires_in\":\"59x\"}", false, 0},
        {"{\"access_token\":\"abc\",\"expires_in\":\"\"}", false, 0},
        {"{\"access_token\":\"abc\",\"expires_in\":\"-5\"}", false, 0},
        {"{\"access_token\":\"abc\",\"expires_in\":0}", false, 0},
        {"{\"access_token\":\"abc\"}", false, 0},
        {"{\"access_token\":\"abc\",\"expires_in\":\"599\",\"token_type\":\"mac\"}", false, 0},
        {"{\"expires_in\":\"599\"}", false, 0},
        {"{\"access_token\":\"a b\",\"expires_in\":\"599\"}", false, 0},
        {"[]", false, 0},
        {"not json", false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char token[OAUTH_TOKEN_MAX] = "", err[256] = "";
        long expires_in = 0;
        bool ok = oauth_token_parse(cases[i].body, strlen(cases[i].body), token, &expires_in, err,
                                    sizeof err);
        if (ok != cases[i].ok)
            fail_msg("case %zu (%s): got %d (%s)", i, cases[i].body, ok, err);
        if (ok) {
            assert_string_equal(token, "abc");
            assert_int_equal(expires_in, cases[i].expires_in);
        } else {
            assert_true(err[0] != '\0');
        }
    }
}

static void test_token_endpoint_errors_in_words(void **state)
{
    (void)state;
    char out[512];
    const char *missing = "{\"error\":\"MISSING_HEADER\",\"error_description\":\"apikey missing\","
                          "\"message_id\":\"x\"}";
    oauth_token_describe_error(400, missing, strlen(missing), out, sizeof out);
    assert_non_null(strstr(out, "malformed or incomplete"));
    assert_non_null(strstr(out, "MISSING_HEADER: apikey missing"));
    const char *no_access = "{\"error\":\"NO_ACCESS\",\"error_description\":\"not approved\"}";
    oauth_token_describe_error(403, no_access, strlen(no_access), out, sizeof out);
    assert_non_null(strstr(out, "has no access"));
    assert_non_null(strstr(out, "NO_ACCESS"));
    oauth_token_describe_error(429, "", 0, out, sizeof out);
    assert_non_null(strstr(out, "limiting our requests"));
    assert_non_null(strstr(out, "HTTP 429"));
    oauth_token_describe_error(503, "<html>", 6, out, sizeof out);
    assert_non_null(strstr(out, "unavailable"));
}

/* ---- the cache, against a tiny token endpoint ---- */

struct endpoint {
    int fd;
    int port;
    pthread_t thread;
    atomic_int requests;
    atomic_int status; /* what to answer */
    atomic_bool bad_form;
};

static struct endpoint endpoint;

static void answer(int c, int n)
{
    char body[256], response[512];
    int status = atomic_load(&endpoint.status);
    if (status == 200)
        snprintf(body, sizeof body,
                 "{\"access_token\":\"tok-%d\",\"expires_in\":\"599\",\"token_type\":\"Bearer\","
                 "\"issued_at\":\"1764500000000\"}",
                 n);
    else
        snprintf(body, sizeof body,
                 "{\"error\":\"TOO_MANY_REQUESTS\",\"error_description\":\"slow down\"}");
    int len = snprintf(response, sizeof response,
                       "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                       "Connection: close\r\n\r\n%s",
                       status, strlen(body), body);
    ssize_t w = write(c, response, (size_t)len);
    (void)w;
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(endpoint.fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char req[REQUEST_MAX];
        size_t len = 0;
        ssize_t n;
        while (len < sizeof req - 1 && (n = read(c, req + len, sizeof req - 1 - len)) > 0) {
            len += (size_t)n;
            req[len] = '\0';
            const char *end = strstr(req, "\r\n\r\n");
            const char *cl = strstr(req, "Content-Length: ");
            if (end && cl && len >= (size_t)(end + 4 - req) + strtoul(cl + 16, NULL, 10))
                break;
        }
        const char *body = strstr(req, "\r\n\r\n");
        if (!body || !strstr(req, "POST /oauth2/token ") ||
            strncmp(body + 4,
                    "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3A"
                    "oauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=",
                    126) != 0)
            atomic_store(&endpoint.bad_form, true);
        int count = atomic_fetch_add(&endpoint.requests, 1) + 1;
        usleep(SERVER_DELAY_US);
        answer(c, count);
        close(c);
    }
}

static int start_endpoint(void **state)
{
    (void)state;
    endpoint.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (bind(endpoint.fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(endpoint.fd, 64) != 0)
        return -1;
    getsockname(endpoint.fd, (struct sockaddr *)&a, &alen);
    endpoint.port = ntohs(a.sin_port);
    atomic_store(&endpoint.status, 200);
    return pthread_create(&endpoint.thread, NULL, serve, NULL);
}

static int stop_endpoint(void **state)
{
    (void)state;
    shutdown(endpoint.fd, SHUT_RDWR);
    close(endpoint.fd);
    pthread_join(endpoint.thread, NULL);
    return 0;
}

static char key_path[] = "/tmp/onestop-oauth-test-key-XXXXXX";
static char url[128];
static struct backend_config be;

static void configure(void)
{
    int fd = mkstemp(key_path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_true(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1);
    fclose(f);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/oauth2/token", endpoint.port);
    be = (struct backend_config){.name = "nhs-test",
                                 .auth = "oauth2-jwt",
                                 .token_url = url,
                                 .client_id = CLIENT_ID,
                                 .kid = KID,
                                 .private_key_file = key_path,
                                 .token_timeout_ms = 5000,
                                 .connect_timeout_ms = 1000};
}

static void *get_token(void *arg)
{
    char *out = arg, err[256];
    if (!oauth_token_get(&be, out, err, sizeof err))
        snprintf(out, OAUTH_TOKEN_MAX, "error: %s", err);
    return NULL;
}

static void test_cache_one_fetch_renewal_and_failures(void **state)
{
    (void)state;
    configure();
    static char tokens[THREADS][OAUTH_TOKEN_MAX];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, get_token, tokens[i]), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < THREADS; i++)
        assert_string_equal(tokens[i], "tok-1");
    assert_int_equal(atomic_load(&endpoint.requests), 1);
    assert_false(atomic_load(&endpoint.bad_form));

    /* cached: no fetch */
    char token[OAUTH_TOKEN_MAX], err[256];
    assert_true(oauth_token_get(&be, token, err, sizeof err));
    assert_string_equal(token, "tok-1");
    assert_int_equal(atomic_load(&endpoint.requests), 1);

    /* a 401 with tok-1, seen by two requests: one renewal */
    oauth_token_invalidate(&be, "tok-1");
    assert_true(oauth_token_get(&be, token, err, sizeof err));
    assert_string_equal(token, "tok-2");
    oauth_token_invalidate(&be, "tok-1"); /* stale: the newer token stays */
    assert_true(oauth_token_get(&be, token, err, sizeof err));
    assert_string_equal(token, "tok-2");
    assert_int_equal(atomic_load(&endpoint.requests), 2);

    /* a failed fetch: its error, and no second fetch within the hold */
    atomic_store(&endpoint.status, 429);
    oauth_token_invalidate(&be, "tok-2");
    assert_false(oauth_token_get(&be, token, err, sizeof err));
    assert_non_null(strstr(err, "limiting our requests"));
    assert_int_equal(atomic_load(&endpoint.requests), 3);
    assert_false(oauth_token_get(&be, token, err, sizeof err));
    assert_non_null(strstr(err, "limiting our requests"));
    assert_int_equal(atomic_load(&endpoint.requests), 3);
    unlink(key_path);
}

static void test_missing_settings_are_refused(void **state)
{
    (void)state;
    struct backend_config bare = {.name = "bare", .auth = "oauth2-jwt"};
    char token[OAUTH_TOKEN_MAX], err[256] = "";
    assert_false(oauth_token_get(&bare, token, err, sizeof err));
    assert_non_null(strstr(err, "not configured"));
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_jwt_header_claims_and_signature),
        cmocka_unit_test(test_jti_is_unique),
        cmocka_unit_test(test_jwt_needs_an_rsa_key),
        cmocka_unit_test(test_expires_in_as_number_or_string),
        cmocka_unit_test(test_token_endpoint_errors_in_words),
        cmocka_unit_test(test_missing_settings_are_refused),
    };
    const struct CMUnitTest cache[] = {
        cmocka_unit_test_setup_teardown(test_cache_one_fetch_renewal_and_failures, start_endpoint,
                                        stop_endpoint),
    };
    int failed = cmocka_run_group_tests_name("oauth_token", pure, setup, teardown);
    failed += cmocka_run_group_tests_name("oauth_token_cache", cache, setup, teardown);
    return failed;
}
