/* routes_system: liveness, readiness and metrics for operators; the API document. */
#include "gateway/app.h"
#include "gateway/config.h"
#include "gateway/metrics.h"
#include "gateway/http/openapi.h"
#include "gateway/http/routes.h"
#include "gateway/store.h"

#include <string.h>
#include <time.h>

void route_healthz(struct app *app, struct http_request *req)
{
    http_reply_json(req, 200,
                    json_pack("{s:s, s:s, s:I}", "status", "ok", "version", ONESTOP_VERSION,
                              "uptime_s", (json_int_t)(time(NULL) - app->started_at)));
}

void route_readyz(struct app *app, struct http_request *req)
{
    enum store_result r = store_check_writable(app->store);
    bool ready = r == STORE_OK && app->cfg != NULL;
    json_t *checks = json_pack("{s:s, s:s}", "store", r == STORE_OK ? "writable" : "unavailable",
                               "config", app->cfg ? "loaded" : "missing");
    if (!ready)
        http_set_header(req, "Retry-After", "5");
    http_reply_json(
        req, ready ? 200 : 503,
        json_pack("{s:s, s:o}", "status", ready ? "ready" : "not_ready", "checks", checks));
}

void route_metrics(struct app *app, struct http_request *req)
{
    size_t len = 0;
    char *text = metrics_render(app->metrics, &len);
    if (!text) {
        http_reply_error(req, 500, "internal_error", "Metrics could not be rendered.");
        return;
    }
    http_reply_owned(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

void route_openapi(struct app *app, struct http_request *req)
{
    (void)app;
    http_reply_text(req, 200, "application/json", (const char *)onestop_openapi_json,
                    onestop_openapi_json_len);
}
