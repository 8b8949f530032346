// The browsable API page served at GET /api/docs: one self-contained HTML document (inline CSS
// and JavaScript, nothing loaded from elsewhere) that fetches /api/v1/openapi.json and shows
// every operation grouped by tag — method, path, summary, roles, parameters and body fields
// with their types and limits, responses — with a small "try it" form per operation.
//
// Promises: the page inserts data from the document and from replies only as text (never as
// markup), and keeps a typed-in token in a script variable only (never in storage or cookies).
// Thread safety: apiPageHtml() returns a constant and may be called from any thread.
#pragma once

#include <string>
#include <string_view>

namespace tendril::api {

// The page, served as text/html; charset=utf-8.
std::string apiPageHtml();

// The URL path the page fetches the OpenAPI document from.
inline constexpr std::string_view kOpenApiPath = "/api/v1/openapi.json";

}  // namespace tendril::api
