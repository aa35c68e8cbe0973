/* routes_stock: stock kept at each site (services that declare "stock", such as hearing aid
 * batteries), and its gauge in /metrics.
 *
 *   GET  /api/v1/stock
 *        -> 200 {"site","items":[{"code","name","on_hand","low_at","low"}]}  this counter's site
 *   POST /api/v1/stock/deliveries {"item","quantity","note"}   (supervisor: stock received)
 *        -> 201 {"site","item","on_hand"}; 422 with the field's problem
 *
 * The items are the ones the enabled services declare (one entry per item code); a site that
 * was never stocked has 0 on hand. */
#include "gateway/app.h"
#include "gateway/config.h"
#include "gateway/http/routes.h"
#include "gateway/store/stock.h"
#include "gateway/strbuf.h"

#include "services/service.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* The declared stock item with this code, or NULL. */
static const json_t *stock_item(const struct app *app, const char *code)
{
    const struct service_registry *reg = app->cfg->services;
    for (size_t i = 0; code && reg && i < service_registry_count(reg); i++) {
        const json_t *item = service_stock_item(service_registry_at(reg, i));
        if (item && strcmp(json_string_value(json_object_get(item, "item")), code) == 0)
            return item;
    }
    return NULL;
}

static const char *session_site(struct app *app, struct http_request *req)
{
    const struct staff_session *session = http_session(req);
    const struct counter_config *counter =
        session ? config_counter(app->cfg, session->counter) : NULL;
    return counter ? counter->site : NULL;
}

void route_stock_list(struct app *app, struct http_request *req)
{
    const char *site = session_site(app, req);
    if (!site) {
        http_reply_error(req, 409, "no_site", "This counter belongs to no site in the config.");
        return;
    }
    json_t *items = json_array();
    const struct service_registry *reg = app->cfg->services;
    for (size_t i = 0; reg && i < service_registry_count(reg); i++) {
        const json_t *item = service_stock_item(service_registry_at(reg, i));
        const char *code = json_string_value(json_object_get(item, "item"));
        if (!code || stock_item(app, code) != item)
            continue; /* none, or already listed by an earlier service */
        long on_hand = 0;
        enum store_result r = store_stock_on_hand(app->store, site, code, &on_hand);
        if (r != STORE_OK) {
            json_decref(items);
            http_reply_store_error(req, r);
            return;
        }
        json_int_t low_at = json_integer_value(json_object_get(item, "low_at"));
        json_array_append_new(items, json_pack("{s:s, s:O, s:I, s:I, s:b}", "code", code, "name",
                                               json_object_get(item, "name"), "on_hand",
                                               (json_int_t)on_hand, "low_at", low_at, "low",
                                               on_hand <= low_at));
    }
    http_reply_json(req, 200, json_pack("{s:s, s:o}", "site", site, "items", items));
}

static void field_error(json_t *errors, const char *field, const char *code, const char *message)
{
    json_array_append_new(
        errors, json_pack("{s:s, s:s, s:s}", "field", field, "code", code, "message", message));
}

void route_stock_delivery(struct app *app, struct http_request *req)
{
    json_t *body = http_json_body(req);
    if (!body)
        return;
    const char *site = session_site(app, req);
    if (!site) {
        http_reply_error(req, 409, "no_site", "This counter belongs to no site in the config.");
        return;
    }
    json_t *errors = json_array();
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "item") != 0 && strcmp(key, "quantity") != 0 && strcmp(key, "note") != 0)
            field_error(errors, key, "unknown_field", "This is not part of the request.");
    }
    const char *item = json_string_value(json_object_get(body, "item"));
    if (!stock_item(app, item))
        field_error(errors, "item", item ? "invalid_value" : "required",
                    "Choose one of the items this counter keeps in stock.");
    const json_t *q = json_object_get(body, "quantity");
    json_int_t quantity = json_is_integer(q) ? json_integer_value(q) : 0;
    if (quantity < 1 || quantity > STOCK_DELIVERY_MAX)
        field_error(errors, "quantity", q ? "out_of_range" : "required",
                    "Enter how many packs arrived (a whole number from 1 to 10000).");
    const json_t *note = json_object_get(body, "note");
    if (note && !json_is_null(note) &&
        (!json_is_string(note) || json_string_length(note) > STOCK_NOTE_MAX))
        field_error(errors, "note", "too_long", "The note is text of at most 200 characters.");
    if (json_array_size(errors)) {
        http_reply_invalid(req, errors);
        return;
    }
    json_decref(errors);
    const struct staff_session *session = http_session(req);
    long on_hand = 0;
    enum store_result r =
        store_stock_receive(app->store, site, item, (long)quantity, json_string_value(note),
                            session ? session->staff.username : NULL,
                            session ? session->counter : NULL, time(NULL), &on_hand);
    if (r != STORE_OK) {
        http_reply_store_error(req, r);
        return;
    }
    http_reply_json(
        req, 201,
        json_pack("{s:s, s:s, s:I}", "site", site, "item", item, "on_hand", (json_int_t)on_hand));
}

/* A Prometheus label value: backslash, double quote and newline escaped. */
static void label_value(struct strbuf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            strbuf_printf(out, "\\%c", *s);
        else if (*s == '\n')
            strbuf_printf(out, "\\n");
        else
            strbuf_printf(out, "%c", *s);
    }
}

void stock_metrics(void *ctx, struct strbuf *out)
{
    struct app *app = ctx;
    json_t *rows = NULL;
    if (store_stock_all(app->store, &rows) != STORE_OK)
        return;
    strbuf_printf(out, "# HELP onestop_stock_on_hand Packs on hand per site and item.\n"
                       "# TYPE onestop_stock_on_hand gauge\n");
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        strbuf_printf(out, "onestop_stock_on_hand{site=\"");
        label_value(out, json_string_value(json_object_get(row, "site")));
        strbuf_printf(out, "\",item=\"");
        label_value(out, json_string_value(json_object_get(row, "item")));
        strbuf_printf(out, "\"} %" JSON_INTEGER_FORMAT "\n",
                      json_integer_value(json_object_get(row, "on_hand")));
    }
    strbuf_printf(out, "# HELP onestop_stock_low 1 when a site's item is at or below its low_at "
                       "level.\n"
                       "# TYPE onestop_stock_low gauge\n");
    json_array_foreach(rows, i, row)
    {
        const json_t *item = stock_item(app, json_string_value(json_object_get(row, "item")));
        if (!item)
            continue;
        strbuf_printf(out, "onestop_stock_low{site=\"");
        label_value(out, json_string_value(json_object_get(row, "site")));
        strbuf_printf(out, "\",item=\"");
        label_value(out, json_string_value(json_object_get(row, "item")));
        strbuf_printf(out, "\"} %d\n",
                      json_integer_value(json_object_get(row, "on_hand")) <=
                          json_integer_value(json_object_get(item, "low_at")));
    }
    json_decref(rows);
}
