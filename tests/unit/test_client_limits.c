/* client_limits: who the real client is behind trusted proxies, and the shares and headroom
 * kept on a table of (socketpair) connections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gateway/http/client_limits.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *const proxies[] = {"10.0.0.1", "10.0.0.2", "::1"};

static struct client_limits *limits(long limit, long headroom, long share)
{
    struct client_limits_config cfg = {
        .header_deadline_s = 3600,
        .body_deadline_s = 3600,
        .connection_limit = limit,
        .headroom = headroom,
        .per_client_limit = share,
        .trusted_proxies = proxies,
        .trusted_proxies_len = sizeof proxies / sizeof proxies[0],
    };
    struct client_limits *cl = client_limits_new(&cfg);
    assert_non_null(cl);
    return cl;
}

static void test_real_client_behind_trusted_proxies(void **state)
{
    (void)state;
    struct client_limits *cl = limits(10, 1, 5);
    static const struct {
        const char *socket, *xff, *want;
    } cases[] = {
        {"192.0.2.9", "203.0.113.7", "192.0.2.9"}, /* not a proxy: the header is not believed */
        {"10.0.0.1", NULL, "10.0.0.1"},
        {"10.0.0.1", "203.0.113.7", "203.0.113.7"},
        {"10.0.0.1", "198.51.100.1, 203.0.113.7", "203.0.113.7"}, /* the left one is forgeable */
        {"10.0.0.1", "203.0.113.7, 10.0.0.2", "203.0.113.7"},     /* through two proxies */
        {"10.0.0.1", " 203.0.113.7 ,10.0.0.2 ", "203.0.113.7"},
        {"10.0.0.1", "10.0.0.2", "10.0.0.2"}, /* all trusted: the left-most */
        {"10.0.0.1", "garbage, 203.0.113.7", "203.0.113.7"},
        {"10.0.0.1", "203.0.113.7, garbage", "10.0.0.1"}, /* a bad hop: believe nothing past it */
        {"10.0.0.1", "", "10.0.0.1"},
        {"10.0.0.1", ",,,", "10.0.0.1"},
        {"::1", "2001:db8:0:0::1", "2001:db8::1"},
        {"10.0.0.1", "203.0.113.7:4711", "10.0.0.1"}, /* ports are not addresses */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char client[CLIENT_ADDRESS_MAX];
        client_limits_real_client(cl, cases[i].socket, cases[i].xff, client);
        if (strcmp(client, cases[i].want) != 0)
            fail_msg("case %zu: %s via %s gave %s, want %s", i, cases[i].xff ? cases[i].xff : "-",
                     cases[i].socket, client, cases[i].want);
    }
    char client[CLIENT_ADDRESS_MAX];
    char longest[4096];
    memset(longest, '1', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    client_limits_real_client(cl, "10.0.0.1", longest, client);
    assert_string_equal(client, "10.0.0.1");
    client_limits_free(cl);
}

/* A connected socket pair; fds[0] plays the server's side. */
static void pair(int fds[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
}

/* True when the server's side has been shut down (the peer reads end of stream). */
static bool was_shut(int fds[2])
{
    char c;
    return recv(fds[1], &c, 1, MSG_DONTWAIT) == 0;
}

static void test_shares_and_headroom(void **state)
{
    (void)state;
    enum { N = 8 };
    struct client_limits *cl = limits(N + 2, 2, 3); /* admits 8 */
    int fds[N + 2][2];
    struct client_conn *conns[N + 2];
    /* one address past its share of 3: the fourth is closed at once */
    for (int i = 0; i < 4; i++) {
        pair(fds[i]);
        conns[i] = client_limits_open(cl, fds[i][0], "192.0.2.1");
    }
    assert_false(was_shut(fds[0]) || was_shut(fds[1]) || was_shut(fds[2]));
    assert_true(was_shut(fds[3]));
    client_limits_close(cl, conns[3]);
    close(fds[3][0]);
    close(fds[3][1]);
    /* a proxy's connections are not shared out by socket, but by real client */
    char client[CLIENT_ADDRESS_MAX];
    for (int i = 3; i < 7; i++) {
        pair(fds[i]);
        conns[i] = client_limits_open(cl, fds[i][0], "10.0.0.1");
        assert_false(was_shut(fds[i]));
        bool ok = client_limits_headers_done(cl, conns[i], "203.0.113.7", client);
        assert_string_equal(client, "203.0.113.7");
        assert_true(ok == (i < 6)); /* the fourth of that client is refused */
    }
    assert_true(client_limits_headers_done(cl, conns[6], "203.0.113.8", client));
    /* the table is at 7 of the 8 admitted; the 9th open closes the oldest still in headers
     * (conns[0]), not a request whose headers are in */
    pair(fds[7]);
    conns[7] = client_limits_open(cl, fds[7][0], "192.0.2.2");
    assert_false(was_shut(fds[0]));
    pair(fds[8]);
    conns[8] = client_limits_open(cl, fds[8][0], "192.0.2.3");
    assert_true(was_shut(fds[0]));
    for (int i = 1; i <= 8; i++)
        assert_false(was_shut(fds[i]));
    assert_int_equal(client_limits_open_count(cl), 9);
    assert_int_equal(client_limits_closed_count(cl), 2);
    for (int i = 0; i <= 8; i++) {
        client_limits_close(cl, conns[i]);
        close(fds[i][0]);
        close(fds[i][1]);
    }
    assert_int_equal(client_limits_open_count(cl), 0);
    client_limits_free(cl);
}

static void test_header_deadline_is_kept_whatever_trickles(void **state)
{
    (void)state;
    struct client_limits_config cfg = {.header_deadline_s = 1,
                                       .body_deadline_s = 1,
                                       .connection_limit = 10,
                                       .headroom = 1,
                                       .per_client_limit = 10};
    struct client_limits *cl = client_limits_new(&cfg);
    assert_non_null(cl);
    int slow[2], handled[2];
    pair(slow);
    pair(handled);
    struct client_conn *a = client_limits_open(cl, slow[0], "192.0.2.1");
    struct client_conn *b = client_limits_open(cl, handled[0], "192.0.2.1");
    char client[CLIENT_ADDRESS_MAX];
    assert_true(client_limits_headers_done(cl, b, NULL, client));
    client_limits_body_done(cl, b); /* being handled: no deadline */
    /* wait (bounded) for the sweeper to close the slow one */
    for (int i = 0; i < 300 && !was_shut(slow); i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_true(was_shut(slow));
    assert_false(was_shut(handled));
    client_limits_close(cl, a);
    client_limits_close(cl, b);
    close(slow[0]);
    close(slow[1]);
    close(handled[0]);
    close(handled[1]);
    client_limits_free(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_client_behind_trusted_proxies),
        cmocka_unit_test(test_shares_and_headroom),
        cmocka_unit_test(test_header_deadline_is_kept_whatever_trickles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
