/* pg_sql: the store's SQL dialect rewritten for PostgreSQL (no server needed): placeholders
 * numbered as SQLite numbers them, nothing rewritten inside quotes or comments, the personal
 * data functions taken out of the SQL and described as parameters and opened columns, and
 * what the client cannot evaluate refused with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/store/postgresql/pg_sql.h"

#include <string.h>

struct rewrite_case {
    const char *in, *out;
    int nsrc, nparams;
};

static void placeholders_and_quotes(void **state)
{
    (void)state;
    static const struct rewrite_case cases[] = {
        {"SELECT ?, ?", "SELECT $1, $2", 2, 2},
        {"SELECT ?2, ?, ?1", "SELECT $1, $2, $3", 3, 3},
        {"SELECT ?1 + ?1", "SELECT $1 + $1", 1, 1},
        {"SELECT 'a?b', \"c?\" FROM t WHERE x = ?", "SELECT 'a?b', \"c?\" FROM t WHERE x = $1", 1,
         1},
        {"SELECT 'it''s ?' -- why?\n, ? /* ?3 */", "SELECT 'it''s ?' -- why?\n, $1 /* ?3 */", 1, 1},
        {"INSERT INTO t VALUES(?,?) ON CONFLICT DO NOTHING",
         "INSERT INTO t VALUES($1,$2) ON CONFLICT DO NOTHING", 2, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pg_sql s;
        char err[256];
        assert_true(pg_sql_rewrite(cases[i].in, &s, err, sizeof err));
        assert_string_equal(s.text, cases[i].out);
        assert_int_equal(s.nsrc, cases[i].nsrc);
        assert_int_equal(s.nparams, cases[i].nparams);
        for (int p = 0; p < s.nparams; p++)
            assert_int_equal(s.params[p].kind, PG_PARAM_PLAIN);
        pg_sql_free(&s);
    }
}

static void personal_data_functions(void **state)
{
    (void)state;
    struct pg_sql s;
    char err[256];
    assert_true(pg_sql_rewrite("INSERT INTO k(n, v, f) VALUES(?1, pd_blind(?1, ?2), pd_seal(?))",
                               &s, err, sizeof err));
    assert_string_equal(s.text, "INSERT INTO k(n, v, f) VALUES($1, $2, $3)");
    assert_int_equal(s.nsrc, 3);
    assert_int_equal(s.params[1].kind, PG_PARAM_BLIND);
    assert_int_equal(s.params[1].src, 2);
    assert_int_equal(s.params[1].name.src, 1);
    assert_int_equal(s.params[2].kind, PG_PARAM_SEAL);
    assert_int_equal(s.params[2].src, 3);
    pg_sql_free(&s);

    /* store_txn.c's insert: `?` after ?N counts on from the highest, a context by number */
    assert_true(pg_sql_rewrite("INSERT INTO t VALUES(?,?,pd_seal(?, ?1),?)", &s, err, sizeof err));
    assert_string_equal(s.text, "INSERT INTO t VALUES($1,$2,$3,$4)");
    assert_int_equal(s.params[2].kind, PG_PARAM_SEAL);
    assert_int_equal(s.params[2].src, 3);
    assert_int_equal(s.params[2].context.src, 1);
    assert_int_equal(s.params[3].src, 4);
    pg_sql_free(&s);

    /* a value used only sealed is never sent as it was; a literal context is kept */
    assert_true(pg_sql_rewrite("SELECT k FROM t WHERE v IN (pd_blind(?1,?2), pd_blind_old(?1,?2))"
                               " AND s = pd_seal_only(?2, 't.s')",
                               &s, err, sizeof err));
    assert_string_equal(s.text, "SELECT k FROM t WHERE v IN ($1, $2) AND s = $3");
    assert_int_equal(s.params[0].kind, PG_PARAM_BLIND);
    assert_int_equal(s.params[1].kind, PG_PARAM_BLIND_OLD);
    assert_int_equal(s.params[2].kind, PG_PARAM_SEAL_ONLY);
    assert_string_equal(s.params[2].context.text, "t.s");
    pg_sql_free(&s);

    assert_true(pg_sql_rewrite("UPDATE t SET f = pd_seal(?1, 'fields') WHERE id = ?2", &s, err,
                               sizeof err));
    assert_string_equal(s.text, "UPDATE t SET f = $1 WHERE id = $2");
    assert_int_equal(s.params[0].kind, PG_PARAM_SEAL);
    assert_string_equal(s.params[0].context.text, "fields");
    assert_int_equal(s.params[1].kind, PG_PARAM_PLAIN);
    pg_sql_free(&s);

    /* opened columns by position; a column as context is fetched as a hidden column */
    assert_true(pg_sql_rewrite("SELECT t.id, pd_open(t.fields, t.reference), coalesce(a, b),"
                               " pd_open(d.payload) FROM t JOIN d ON d.id = t.id",
                               &s, err, sizeof err));
    assert_string_equal(s.text, "SELECT t.id, (t.fields), coalesce(a, b), (d.payload) , "
                                "t.reference FROM t JOIN d ON d.id = t.id");
    assert_int_equal(s.nopens, 2);
    assert_int_equal(s.opens[0].col, 1);
    assert_int_equal(s.opens[0].context_col, 4);
    assert_int_equal(s.opens[1].col, 3);
    assert_int_equal(s.opens[1].context_col, -1);
    assert_int_equal(s.hidden, 1);
    pg_sql_free(&s);
}

static void refused(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"SELECT id FROM t WHERE pd_open(f) = 'x'", "outermost select list"},
        {"SELECT (SELECT pd_open(f) FROM t)", "outermost select list"},
        {"UPDATE t SET f = pd_seal(f)", "?N or a 'literal'"},
        {"UPDATE t SET f = pd_seal(?, reference)", "?N or a 'literal'"}, /* bind the context */
        {"SELECT pd_blind(name, ?1) FROM t", "?N or a 'literal'"},
        {"UPDATE t SET f = pd_reseal(f)", "only in the SQLite engine"},
        {"SELECT ?1000", "out of range"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pg_sql s;
        char err[256] = "";
        assert_false(pg_sql_rewrite(cases[i][0], &s, err, sizeof err));
        if (!strstr(err, cases[i][1]))
            fail_msg("%s: expected \"%s\" in \"%s\"", cases[i][0], cases[i][1], err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(placeholders_and_quotes),
        cmocka_unit_test(personal_data_functions),
        cmocka_unit_test(refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
