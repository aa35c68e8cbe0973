/* pg_sql: the store's SQL dialect (db.h) rewritten for PostgreSQL, once per statement.
 *
 * Placeholders `?` (numbered in order, as SQLite numbers them) and `?N` become `$N`, outside
 * quoted strings, quoted identifiers and comments. The personal data functions are taken out
 * of the SQL, so keys never reach the server, and described instead:
 *   pd_seal(?N [, ?M | 'ctx'])      becomes a parameter holding ?N's value sealed;
 *   pd_seal_only(?N [, ctx])        the same, but NULL when there is no data key;
 *   pd_blind(?K | 'name', ?V)       becomes a parameter holding the blind index of ?V;
 *   pd_blind_old(?K | 'name', ?V)   the same under the index key being replaced (or NULL);
 *   pd_open(expr [, col | ?M | 'ctx'])  becomes expr, and that result column is opened when
 *                                   it is read (only in the outermost select list). A column
 *                                   as context is fetched as a hidden trailing column.
 * The parameters sent ($1..$nparams) are derived from the bound ("source") values; a source
 * value used only inside pd_seal or pd_blind is never sent as it was. */
#ifndef ONESTOP_STORE_PG_SQL_H
#define ONESTOP_STORE_PG_SQL_H

#include <stdbool.h>
#include <stddef.h>

enum pg_param_kind {
    PG_PARAM_PLAIN,     /* the source value as bound */
    PG_PARAM_SEAL,      /* the source value sealed (field_seal) */
    PG_PARAM_BLIND,     /* the blind index of the source value under a limit key's name */
    PG_PARAM_SEAL_ONLY, /* sealed, or NULL when there is no data key (pd_seal_only) */
    PG_PARAM_BLIND_OLD, /* the blind index under the index key being replaced, or NULL */
};

/* A function argument given as a source parameter (src > 0) or a literal (src 0, text set;
 * both unset: absent). */
struct pg_arg {
    int src;
    char *text;
};

struct pg_param {
    enum pg_param_kind kind;
    int src;               /* the source parameter (1-based) */
    struct pg_arg name;    /* PG_PARAM_BLIND: the limit key's name */
    struct pg_arg context; /* PG_PARAM_SEAL*: the value's context (GCM associated data) */
};

struct pg_open {
    int col;               /* the result column to open (0-based) */
    struct pg_arg context; /* additional data given as a parameter or a literal */
    int context_col;       /* or: the hidden result column holding it; -1 when none */
};

struct pg_sql {
    char *text;              /* the SQL sent to the server ($1..$nparams) */
    int nsrc;                /* source parameters the caller binds (?1..?nsrc) */
    struct pg_param *params; /* what to send as $1..$nparams */
    int nparams;
    struct pg_open *opens;
    int nopens;
    int hidden; /* hidden trailing result columns (pd_open contexts) */
};

/* Rewrites sql into *out (free with pg_sql_free). false with a message in err when the SQL
 * uses the personal data functions in a way the client cannot evaluate. */
bool pg_sql_rewrite(const char *sql, struct pg_sql *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void pg_sql_free(struct pg_sql *s);

#endif
