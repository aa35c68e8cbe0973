/* openapi: the API document (docs/openapi.yaml as JSON), embedded at build time by
 * scripts/openapi-json and served at GET /api/v1/openapi.json. */
#ifndef ONESTOP_OPENAPI_H
#define ONESTOP_OPENAPI_H

#include <stddef.h>

extern const unsigned char onestop_openapi_json[];
extern const size_t onestop_openapi_json_len;

#endif
