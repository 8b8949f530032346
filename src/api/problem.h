// Errors as HTTP: the one place where a tendril::Code, or a transport failure the server detects
// itself (no route, wrong method, oversized body or header, malformed request, overload), becomes
// an HTTP status and an RFC 9457 `application/problem+json` body with a stable `type` URI.
//
// Clients branch on `type` (never on `title` or `detail`), so the URIs below are a public contract:
// add new ones, never rename one.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tendril::api {

inline constexpr std::string_view kProblemContentType = "application/problem+json";

// What a client learns about one kind of error.
struct ProblemKind {
  unsigned status;         // HTTP status code
  std::string_view type;   // stable URI, e.g. https://tendril.dev/problems/not-found
  std::string_view title;  // short, human, the same for every occurrence of the kind
};

// The problem kind for a failed Status code. kOk is not an error: it maps to `internal`, because
// rendering a problem for a success is a bug in the caller.
ProblemKind problemKindFor(Code code);

// Problems the HTTP layer raises itself, before any handler runs.
enum class TransportProblem {
  kMalformedRequest,      // 400: unparsable request line, header or target
  kRouteNotFound,         // 404: no route has this path
  kMethodNotAllowed,      // 405: the path exists, the method does not
  kBodyTooLarge,          // 413: body over ServerLimits::max_body_bytes
  kUnsupportedMediaType,  // 415: a body that is not declared as JSON
  kHeadersTooLarge,       // 431: request line + headers over ServerLimits::max_header_bytes
  kServiceUnavailable,    // 503: connection limit reached or not ready
  kInternal,              // 500: a handler threw or broke its contract
};
ProblemKind problemKindFor(TransportProblem problem);

// Renders {type,title,status,detail,instance}; `detail` and `instance` are omitted when empty.
std::string renderProblem(const ProblemKind& kind, std::string_view detail,
                          std::string_view instance = {});
// The same with extension members (RFC 9457 §3.2), e.g. {"errors": [...]}, merged into the top
// level. `extensions` must be an object (anything else is ignored); its members named like a
// standard member (type, title, status, detail, instance) are dropped, never override them.
std::string renderProblem(const ProblemKind& kind, std::string_view detail,
                          std::string_view instance, const nlohmann::json& extensions);

}  // namespace tendril::api
