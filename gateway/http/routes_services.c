/* routes_services: the catalogue of counter services, from config. */
#include "gateway/app.h"
#include "gateway/config.h"
#include "gateway/http/routes.h"

#include "services/service.h"

void route_services_list(struct app *app, struct http_request *req)
{
    json_t *list = json_array();
    const struct service_registry *reg = app->cfg->services;
    for (size_t i = 0; reg && i < service_registry_count(reg); i++)
        json_array_append_new(list, service_catalogue_entry(service_registry_at(reg, i)));
    http_reply_json(req, 200, json_pack("{s:o}", "services", list));
}
