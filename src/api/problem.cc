#include "api/problem.h"

#include <nlohmann/json.hpp>

namespace tendril::api {

ProblemKind problemKindFor(Code code) {
  switch (code) {
    case Code::kInvalidArgument:
      return {400, "https://tendril.dev/problems/invalid-argument", "Invalid argument"};
    case Code::kNotFound:
      return {404, "https://tendril.dev/problems/not-found", "Not found"};
    case Code::kAlreadyExists:
      return {409, "https://tendril.dev/problems/already-exists", "Already exists"};
    case Code::kFailedPrecondition:
      return {409, "https://tendril.dev/problems/failed-precondition", "Failed precondition"};
    // 429 rather than 413 or 403: a quota or limit may clear later, and clients already know
    // to back off on 429.
    case Code::kResourceExhausted:
      return {429, "https://tendril.dev/problems/resource-exhausted", "Resource exhausted"};
    // The request was well-formed HTTP and JSON, but the data inside failed validation.
    case Code::kCorrupt:
      return {422, "https://tendril.dev/problems/corrupt-data", "Corrupt data"};
    case Code::kCancelled:
      return {409, "https://tendril.dev/problems/cancelled", "Cancelled"};
    case Code::kUnauthenticated:
      return {401, "https://tendril.dev/problems/unauthenticated", "Unauthenticated"};
    case Code::kPermissionDenied:
      return {403, "https://tendril.dev/problems/permission-denied", "Permission denied"};
    // The operating system refused a server-side file operation: not the caller's fault.
    case Code::kIo:
      return {500, "https://tendril.dev/problems/io-error", "Storage error"};
    case Code::kOk:
    case Code::kInternal:
      break;
  }
  return problemKindFor(TransportProblem::kInternal);
}

ProblemKind problemKindFor(TransportProblem problem) {
  switch (problem) {
    case TransportProblem::kMalformedRequest:
      return {400, "https://tendril.dev/problems/malformed-request", "Malformed request"};
    case TransportProblem::kRouteNotFound:
      return {404, "https://tendril.dev/problems/not-found", "Not found"};
    case TransportProblem::kMethodNotAllowed:
      return {405, "https://tendril.dev/problems/method-not-allowed", "Method not allowed"};
    case TransportProblem::kBodyTooLarge:
      return {413, "https://tendril.dev/problems/body-too-large", "Request body too large"};
    case TransportProblem::kUnsupportedMediaType:
      return {415, "https://tendril.dev/problems/unsupported-media-type", "Unsupported media type"};
    case TransportProblem::kHeadersTooLarge:
      return {431, "https://tendril.dev/problems/headers-too-large",
              "Request header fields too large"};
    case TransportProblem::kServiceUnavailable:
      return {503, "https://tendril.dev/problems/service-unavailable", "Service unavailable"};
    case TransportProblem::kInternal:
      break;
  }
  return {500, "https://tendril.dev/problems/internal", "Internal server error"};
}

std::string renderProblem(const ProblemKind& kind, std::string_view detail,
                          std::string_view instance) {
  return renderProblem(kind, detail, instance, nlohmann::json::object());
}

std::string renderProblem(const ProblemKind& kind, std::string_view detail,
                          std::string_view instance, const nlohmann::json& extensions) {
  nlohmann::json body = {
      {"type", kind.type},
      {"title", kind.title},
      {"status", kind.status},
  };
  if (!detail.empty()) body["detail"] = detail;
  if (!instance.empty()) body["instance"] = instance;
  if (extensions.is_object()) {
    for (const auto& [name, value] : extensions.items()) {
      bool standard = name == "type" || name == "title" || name == "status" || name == "detail" ||
                      name == "instance";
      if (!standard) body[name] = value;
    }
  }
  // Replace rather than throw on invalid UTF-8: details may quote client input.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace tendril::api
