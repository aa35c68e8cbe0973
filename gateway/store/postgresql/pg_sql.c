/* pg_sql: the store's SQL dialect rewritten for PostgreSQL (see pg_sql.h).
 *
 * One pass over the text with a cursor: quoted strings, quoted identifiers and comments are
 * copied as they are; a placeholder becomes the `$N` of the parameter it feeds; a personal
 * data function is parsed into its arguments (split at commas outside brackets and quotes)
 * and replaced. The outermost select list is followed (its commas counted, its FROM found) so
 * that pd_open knows which result column it is and a column given as its context can be
 * fetched as a hidden column before FROM. */
#include "gateway/store/postgresql/pg_sql.h"

#include "gateway/strbuf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PG_SQL_MAX   (1024 * 1024) /* the longest statement the store writes is a few KB */
#define PG_ARGS_MAX  2
#define PG_PARAM_MAX 999 /* the highest ?N accepted (SQLite's default limit) */

struct rewriter {
    const char *p;
    struct pg_sql *out;
    struct strbuf buf;
    struct strbuf hidden; /* ", expr" for each hidden context column */
    int depth;
    int last_src;
    bool select_started, in_select;
    int select_col;
    char *err;
    size_t errlen;
};

static bool fail(struct rewriter *r, const char *msg, const char *what)
{
    snprintf(r->err, r->errlen, "%s%s%s", msg, what ? ": " : "", what ? what : "");
    return false;
}

/* Length of a quoted string, identifier or comment starting at p, 0 when there is none. */
static size_t quoted_len(const char *p)
{
    if (*p == '\'' || *p == '"') {
        const char q = *p;
        const char *e = p + 1;
        for (;;) {
            if (!*e)
                return (size_t)(e - p);
            if (*e == q && e[1] == q)
                e += 2;
            else if (*e == q)
                return (size_t)(e + 1 - p);
            else
                e++;
        }
    }
    if (p[0] == '-' && p[1] == '-') {
        const char *e = strchr(p, '\n');
        return e ? (size_t)(e - p) : strlen(p);
    }
    if (p[0] == '/' && p[1] == '*') {
        const char *e = strstr(p + 2, "*/");
        return e ? (size_t)(e + 2 - p) : strlen(p);
    }
    return 0;
}

/* A placeholder at p: its length into *len and its source number (SQLite's rule: `?` is
 * one more than the highest so far). 0 when p is no placeholder, -1 when out of range. */
static int placeholder(struct rewriter *r, const char *p, size_t *len)
{
    if (*p != '?')
        return 0;
    const char *e = p + 1;
    long n = 0;
    while (isdigit((unsigned char)*e) && n <= PG_PARAM_MAX)
        n = n * 10 + (*e++ - '0');
    *len = (size_t)(e - p);
    if (e == p + 1)
        n = r->last_src + 1;
    if (n < 1 || n > PG_PARAM_MAX)
        return -1;
    if (n > r->last_src)
        r->last_src = (int)n;
    if (n > r->out->nsrc)
        r->out->nsrc = (int)n;
    return (int)n;
}

static bool same_arg(const struct pg_arg *a, const struct pg_arg *b)
{
    if (a->src != b->src || !a->text != !b->text)
        return false;
    return !a->text || strcmp(a->text, b->text) == 0;
}

/* The $N that sends (kind, src, name, context), added when it is new; takes name.text and
 * context.text. */
static int param_index(struct rewriter *r, enum pg_param_kind kind, int src, struct pg_arg name,
                       struct pg_arg context)
{
    struct pg_sql *s = r->out;
    for (int i = 0; i < s->nparams; i++) {
        struct pg_param *q = &s->params[i];
        if (q->kind == kind && q->src == src && same_arg(&q->name, &name) &&
            same_arg(&q->context, &context)) {
            free(name.text);
            free(context.text);
            return i + 1;
        }
    }
    struct pg_param *grown = realloc(s->params, (size_t)(s->nparams + 1) * sizeof *grown);
    if (!grown) {
        free(name.text);
        free(context.text);
        return -1;
    }
    s->params = grown;
    s->params[s->nparams] = (struct pg_param){kind, src, name, context};
    return ++s->nparams;
}

static bool emit_param(struct rewriter *r, int index)
{
    if (index < 0)
        return fail(r, "out of memory", NULL);
    return strbuf_printf(&r->buf, "$%d", index);
}

/* One argument of a personal data function, trimmed, [start, end). */
struct span {
    const char *start, *end;
};

/* Splits the arguments of the call whose '(' is at p; *after points past its ')'. */
static int split_args(const char *p, struct span args[PG_ARGS_MAX], const char **after)
{
    int n = 0, depth = 0;
    const char *start = p + 1;
    for (const char *q = p + 1; *q;) {
        size_t ql = quoted_len(q);
        if (ql) {
            q += ql;
            continue;
        }
        if (*q == '(')
            depth++;
        else if ((*q == ')' && depth == 0) || (*q == ',' && depth == 0)) {
            if (n == PG_ARGS_MAX)
                return -1;
            while (isspace((unsigned char)*start))
                start++;
            const char *end = q;
            while (end > start && isspace((unsigned char)end[-1]))
                end--;
            args[n++] = (struct span){start, end};
            start = q + 1;
            if (*q == ')') {
                *after = q + 1;
                return n;
            }
        } else if (*q == ')')
            depth--;
        q++;
    }
    return -1;
}

/* An argument that must be a placeholder or a string literal (a context, a blind name). */
static bool value_arg(struct rewriter *r, struct span a, struct pg_arg *out)
{
    *out = (struct pg_arg){0, NULL};
    size_t len = 0;
    if (*a.start == '?') {
        int n = placeholder(r, a.start, &len);
        if (n <= 0 || a.start + len != a.end)
            return fail(r, "a personal data function takes ?N or a 'literal' here", a.start);
        out->src = n;
        return true;
    }
    if (*a.start == '\'' && a.end - a.start >= 2 && a.end[-1] == '\'' &&
        quoted_len(a.start) == (size_t)(a.end - a.start)) {
        char *t = malloc((size_t)(a.end - a.start));
        if (!t)
            return fail(r, "out of memory", NULL);
        size_t k = 0;
        for (const char *q = a.start + 1; q < a.end - 1; q++) {
            t[k++] = *q;
            if (*q == '\'')
                q++; /* '' is one quote */
        }
        t[k] = '\0';
        out->text = t;
        return true;
    }
    return fail(r, "a personal data function takes ?N or a 'literal' here", a.start);
}

static bool rewrite_seal(struct rewriter *r, struct span *args, int n, enum pg_param_kind kind)
{
    struct pg_arg value, context = {0, NULL};
    if (!value_arg(r, args[0], &value))
        return false;
    if (!value.src) {
        free(value.text);
        return fail(r, "pd_seal seals a bound value (?N)", args[0].start);
    }
    if (n == 2 && !value_arg(r, args[1], &context))
        return false;
    return emit_param(r, param_index(r, kind, value.src, (struct pg_arg){0, NULL}, context));
}

static bool rewrite_blind(struct rewriter *r, struct span *args, int n, enum pg_param_kind kind)
{
    struct pg_arg name, value;
    if (n != 2)
        return fail(r, "pd_blind takes a name and a value", NULL);
    if (!value_arg(r, args[0], &name))
        return false;
    if (!value_arg(r, args[1], &value)) {
        free(name.text);
        return false;
    }
    if (!value.src) {
        free(name.text);
        free(value.text);
        return fail(r, "pd_blind makes the index of a bound value (?N)", args[1].start);
    }
    return emit_param(r, param_index(r, kind, value.src, name, (struct pg_arg){0, NULL}));
}

static bool rewrite_open(struct rewriter *r, struct span *args, int n)
{
    if (!r->in_select || r->depth != 0)
        return fail(r, "pd_open is evaluated by the client: only in the outermost select list",
                    NULL);
    if (memchr(args[0].start, '?', (size_t)(args[0].end - args[0].start)))
        return fail(r, "pd_open opens a column, not a bound value", args[0].start);
    struct pg_open o = {r->select_col, {0, NULL}, -1};
    if (n == 2) {
        if (*args[1].start == '?' || *args[1].start == '\'') {
            if (!value_arg(r, args[1], &o.context))
                return false;
        } else {
            o.context_col = -2 - r->out->hidden; /* its index is known at FROM */
            r->out->hidden++;
            if (!strbuf_append(&r->hidden, ", ", 2) ||
                !strbuf_append(&r->hidden, args[1].start, (size_t)(args[1].end - args[1].start)))
                return fail(r, "out of memory", NULL);
        }
    }
    struct pg_open *grown = realloc(r->out->opens, (size_t)(r->out->nopens + 1) * sizeof *grown);
    if (!grown) {
        free(o.context.text);
        return fail(r, "out of memory", NULL);
    }
    r->out->opens = grown;
    r->out->opens[r->out->nopens++] = o;
    return strbuf_append(&r->buf, "(", 1) &&
           strbuf_append(&r->buf, args[0].start, (size_t)(args[0].end - args[0].start)) &&
           strbuf_append(&r->buf, ")", 1);
}

/* The select list ends: hidden context columns go in before FROM (or the end). */
static bool end_select(struct rewriter *r)
{
    r->in_select = false;
    for (int i = 0; i < r->out->nopens; i++)
        if (r->out->opens[i].context_col <= -2)
            r->out->opens[i].context_col = r->select_col + 1 + (-2 - r->out->opens[i].context_col);
    if (r->hidden.len)
        return strbuf_append(&r->buf, r->hidden.data, r->hidden.len) &&
               strbuf_append(&r->buf, " ", 1);
    return true;
}

static bool word_is(const char *p, size_t len, const char *word)
{
    return len == strlen(word) && strncasecmp(p, word, len) == 0;
}

/* A word at r->p (an identifier or keyword): copied, or a personal data function rewritten. */
static bool rewrite_word(struct rewriter *r)
{
    const char *p = r->p;
    size_t len = 0;
    while (isalnum((unsigned char)p[len]) || p[len] == '_' || p[len] == '.')
        len++;
    const char *q = p + len;
    while (isspace((unsigned char)*q))
        q++;
    static const struct {
        const char *name;
        enum pg_param_kind kind; /* PG_PARAM_PLAIN: pd_open */
    } functions[] = {
        {"pd_seal", PG_PARAM_SEAL},   {"pd_seal_only", PG_PARAM_SEAL_ONLY},
        {"pd_blind", PG_PARAM_BLIND}, {"pd_blind_old", PG_PARAM_BLIND_OLD},
        {"pd_open", PG_PARAM_PLAIN},
    };
    for (size_t f = 0; f < sizeof functions / sizeof functions[0] && *q == '('; f++) {
        if (!word_is(p, len, functions[f].name))
            continue;
        struct span args[PG_ARGS_MAX];
        const char *after = NULL;
        int n = split_args(q, args, &after);
        if (n < 1 || args[0].start == args[0].end)
            return fail(r, "a personal data function takes one or two arguments", p);
        r->p = after;
        switch (functions[f].kind) {
        case PG_PARAM_SEAL:
        case PG_PARAM_SEAL_ONLY:
            return rewrite_seal(r, args, n, functions[f].kind);
        case PG_PARAM_BLIND:
        case PG_PARAM_BLIND_OLD:
            return rewrite_blind(r, args, n, functions[f].kind);
        case PG_PARAM_PLAIN:
            return rewrite_open(r, args, n);
        }
    }
    if (word_is(p, len, "pd_reseal") || word_is(p, len, "pd_key"))
        return fail(r, "pd_reseal and pd_key run only in the SQLite engine", NULL);
    if (r->depth == 0 && !r->select_started && word_is(p, len, "select")) {
        r->select_started = r->in_select = true;
        r->select_col = 0;
    } else if (r->depth == 0 && r->in_select && word_is(p, len, "from")) {
        if (!end_select(r))
            return fail(r, "out of memory", NULL);
    }
    r->p += len;
    return strbuf_append(&r->buf, p, len);
}

static bool rewrite(struct rewriter *r)
{
    while (*r->p) {
        const char *p = r->p;
        size_t len = quoted_len(p);
        if (len) {
            r->p += len;
            if (!strbuf_append(&r->buf, p, len))
                return fail(r, "statement too long", NULL);
            continue;
        }
        if (*p == '?') {
            int n = placeholder(r, p, &len);
            if (n < 0)
                return fail(r, "a placeholder is out of range", p);
            r->p += len;
            if (!emit_param(r, param_index(r, PG_PARAM_PLAIN, n, (struct pg_arg){0, NULL},
                                           (struct pg_arg){0, NULL})))
                return false;
            continue;
        }
        if (isalpha((unsigned char)*p) || *p == '_') {
            if (!rewrite_word(r))
                return false;
            continue;
        }
        if (*p == '(')
            r->depth++;
        else if (*p == ')')
            r->depth--;
        else if (*p == ',' && r->depth == 0 && r->in_select)
            r->select_col++;
        else if (*p == ';' && r->depth == 0 && r->in_select && !end_select(r))
            return fail(r, "out of memory", NULL);
        r->p++;
        if (!strbuf_append(&r->buf, p, 1))
            return fail(r, "statement too long", NULL);
    }
    if (r->in_select && !end_select(r))
        return fail(r, "out of memory", NULL);
    return true;
}

bool pg_sql_rewrite(const char *sql, struct pg_sql *out, char *err, size_t errlen)
{
    *out = (struct pg_sql){0};
    struct rewriter r = {.p = sql, .out = out, .err = err, .errlen = errlen};
    strbuf_init(&r.buf, PG_SQL_MAX);
    strbuf_init(&r.hidden, PG_SQL_MAX);
    bool ok = rewrite(&r);
    if (ok && r.buf.overflow)
        ok = fail(&r, "statement too long", NULL);
    if (ok && !r.buf.data && !strbuf_append(&r.buf, "", 0))
        ok = fail(&r, "out of memory", NULL);
    if (ok)
        out->text = strbuf_take(&r.buf, NULL);
    strbuf_free(&r.buf);
    strbuf_free(&r.hidden);
    if (!ok)
        pg_sql_free(out);
    return ok;
}

void pg_sql_free(struct pg_sql *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->nparams; i++) {
        free(s->params[i].name.text);
        free(s->params[i].context.text);
    }
    for (int i = 0; i < s->nopens; i++)
        free(s->opens[i].context.text);
    free(s->params);
    free(s->opens);
    free(s->text);
    *s = (struct pg_sql){0};
}
