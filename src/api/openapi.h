// The OpenAPI 3.1 description of the Tendril API, generated from the endpoint declarations
// (api/endpoint.h) that also validate every request, so the document cannot drift from what
// the server accepts. Served at GET /api/v1/openapi.json and read by the browsable API page.
//
// Promises: the same declarations always give the same document; every `$ref` in it resolves
// inside it; each endpoint appears once, under its path and lower-case method, with its
// operation_id. Schemas use JSON Schema 2020-12 keywords and carry every declared limit.
// Pure function of its arguments: safe from any thread, never throws on valid declarations.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "api/endpoint.h"

namespace tendril::api {

// The document for `endpoints` (any order; paths are sorted in the output), reporting `version`
// as info.version. A second endpoint with the same method and path as an earlier one is left
// out (the router refuses such a pair anyway).
nlohmann::json openApiDocument(const std::vector<Endpoint>& endpoints, std::string_view version);

// The JSON Schema of one input field: type, limits, pattern (anchored, since validation
// matches the whole value), enumeration, default and description.
nlohmann::json fieldSchema(const Field& field);

}  // namespace tendril::api
