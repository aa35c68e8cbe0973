/* strbuf's JSON writers: strings and integers exactly as jansson's json_dumps writes them, and
 * a string json_string would refuse (not UTF-8) refused too; text_copy writes what
 * snprintf("%s") writes, cut short or not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/strbuf.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_strings_match_jansson(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "",
        "plain",
        "quote \" and back\\slash",
        "a/b?c=d&e",
        "\b\f\n\r\t",
        "\x01\x1f\x7f",
        "caf\xc3\xa9 \xe2\x82\xac",
        "\xf0\x9f\x98\x80 emoji",
        "RP-4K7M-9Q2X",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        struct strbuf b;
        strbuf_init(&b, 4096);
        assert_true(strbuf_json_string(&b, texts[i]));
        json_t *s = json_string(texts[i]);
        char *want = json_dumps(s, JSON_ENCODE_ANY | JSON_COMPACT);
        assert_non_null(want);
        assert_string_equal(b.data, want);
        free(want);
        json_decref(s);
        strbuf_free(&b);
    }
}

static void test_invalid_utf8_is_refused_as_jansson_refuses_it(void **state)
{
    (void)state;
    static const char *const bad[] = {"\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                      "ok \xff"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct strbuf b;
        strbuf_init(&b, 4096);
        assert_false(strbuf_json_string(&b, bad[i]));
        assert_false(strbuf_utf8_valid(bad[i]));
        assert_null(json_string(bad[i]));
        strbuf_free(&b);
    }
    struct strbuf b;
    strbuf_init(&b, 4096);
    assert_false(strbuf_json_string(&b, NULL));
    strbuf_free(&b);
}

static void test_integers_match_jansson(void **state)
{
    (void)state;
    static const long long values[] = {0, 1, -1, 9, 10, 4150, -850, LLONG_MAX, LLONG_MIN};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        struct strbuf b;
        strbuf_init(&b, 64);
        assert_true(strbuf_json_int(&b, values[i]));
        json_t *n = json_integer(values[i]);
        char *want = json_dumps(n, JSON_ENCODE_ANY);
        assert_string_equal(b.data, want);
        free(want);
        json_decref(n);
        strbuf_free(&b);
    }
}

static void test_text_copy_writes_what_snprintf_writes(void **state)
{
    (void)state;
    static const char *const texts[] = {"", "a", "127.0.0.1", "exactly8", "longer than the buffer"};
    for (size_t size = 1; size <= 12; size++) {
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
            char ours[16], theirs[16];
            memset(ours, 'x', sizeof ours);
            memset(theirs, 'x', sizeof theirs);
            text_copy(ours, size, texts[i]);
            snprintf(theirs, size, "%s", texts[i]);
            assert_memory_equal(ours, theirs, sizeof ours);
        }
    }
    char untouched = 'x';
    text_copy(&untouched, 0, "abc");
    assert_int_equal(untouched, 'x');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings_match_jansson),
        cmocka_unit_test(test_invalid_utf8_is_refused_as_jansson_refuses_it),
        cmocka_unit_test(test_integers_match_jansson),
        cmocka_unit_test(test_text_copy_writes_what_snprintf_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
