/* json_text: json_text_compact gives json_dumps(v, JSON_COMPACT)'s bytes for every kind of
 * value: nested objects in insertion order, arrays, escapes (quotes, backslashes, control
 * characters, non-ASCII, a slash), integers at both ends of their range, booleans and null;
 * and hands what it does not write itself (reals, a string holding a NUL, deep nesting) to
 * json_dumps, whose text it then is. Scalars and NULL give NULL, as json_dumps does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/json_text.h"

#include <stdlib.h>
#include <string.h>

/* json_text_compact(v) is json_dumps(v, JSON_COMPACT), byte for byte; consumes v. */
static void assert_same_text(json_t *v)
{
    assert_non_null(v);
    char *ours = json_text_compact(v);
    char *theirs = json_dumps(v, JSON_COMPACT);
    assert_non_null(ours);
    assert_non_null(theirs);
    assert_string_equal(ours, theirs);
    free(ours);
    free(theirs);
    json_decref(v);
}

static void test_values_as_jansson_writes_them(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "{}",
        "[]",
        "{\"b\":1,\"a\":2,\"c\":{\"z\":[1,2,{\"y\":null}],\"x\":true,\"w\":false}}",
        "[\"a\\\"b\\\\c\\/d\",\"\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\",\"caf\\u00e9 \\u2028 "
        "\\ud83d\\ude00\"]",
        "{\"uprn\":\"100011429101\",\"permit_type\":\"visitor\",\"start_date\":\"2026-12-01\"}",
        "[9223372036854775807,-9223372036854775808,0,-1,42]",
        "[[],{},[[]],{\"\":\"\"}]",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        assert_same_text(json_loads(texts[i], 0, NULL));
    /* built, not parsed: insertion order after a key is replaced and another removed */
    json_t *o = json_object();
    json_object_set_new(o, "one", json_integer(1));
    json_object_set_new(o, "two", json_integer(2));
    json_object_set_new(o, "three", json_string("3"));
    json_object_set_new(o, "one", json_string("again"));
    json_object_del(o, "two");
    json_object_set_new(o, "two", json_array());
    assert_same_text(o);
}

static void test_what_it_leaves_to_jansson(void **state)
{
    (void)state;
    assert_same_text(json_loads("{\"fee\":1.5,\"n\":[0.1,1e300,-0.0]}", 0, NULL));
    assert_same_text(json_pack("[s#]", "a\0b", (size_t)3));
    json_t *deep = json_array(), *inner = deep;
    for (int i = 0; i < JSON_TEXT_DEPTH_MAX + 5; i++) {
        json_t *next = json_array();
        json_array_append_new(inner, next);
        inner = next;
    }
    assert_same_text(deep);
}

static void test_scalars_and_null_give_null(void **state)
{
    (void)state;
    assert_null(json_text_compact(NULL));
    json_t *s = json_string("x");
    assert_null(json_text_compact(s));
    assert_null(json_dumps(s, JSON_COMPACT));
    json_decref(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_as_jansson_writes_them),
        cmocka_unit_test(test_what_it_leaves_to_jansson),
        cmocka_unit_test(test_scalars_and_null_give_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
