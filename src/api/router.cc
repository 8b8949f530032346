#include "api/router.h"

#include <algorithm>
#include <cassert>
#include <exception>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "api/websocket.h"

namespace tendril::api {

std::string Request::header(std::string_view lower_case_name) const {
  auto it = headers.find(std::string(lower_case_name));
  return it == headers.end() ? std::string() : it->second;
}

std::string Request::pathParam(std::string_view name) const {
  auto it = path_params.find(std::string(name));
  return it == path_params.end() ? std::string() : it->second;
}

Response Response::json(unsigned status, const nlohmann::json& body) {
  Response response;
  response.status = status;
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

Response Response::text(unsigned status, std::string body, std::string content_type) {
  Response response;
  response.status = status;
  response.content_type = std::move(content_type);
  response.body = std::move(body);
  return response;
}

Response Response::problem(const Status& status, std::string_view instance) {
  ProblemKind kind = problemKindFor(status.code());
  Response response;
  response.status = kind.status;
  response.content_type = std::string(kProblemContentType);
  // Internal details (a bug, a file path) stay in the server log, not in the reply.
  bool server_fault = kind.status >= 500;
  if (server_fault) std::cerr << "tendril: " << status.toString() << "\n";
  response.body = renderProblem(kind, server_fault ? "" : status.message(), instance);
  return response;
}

Response Response::problem(TransportProblem problem, std::string_view detail,
                           std::string_view instance) {
  ProblemKind kind = problemKindFor(problem);
  Response response;
  response.status = kind.status;
  response.content_type = std::string(kProblemContentType);
  response.body = renderProblem(kind, detail, instance);
  return response;
}

std::vector<std::string_view> splitPath(std::string_view path) {
  std::vector<std::string_view> segments;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (true) {
    size_t slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

namespace {
int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool isParameter(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}
}  // namespace

bool percentDecode(std::string_view text, std::string* out) {
  out->clear();
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out->push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return false;
    int high = hexValue(text[i + 1]);
    int low = hexValue(text[i + 2]);
    if (high < 0 || low < 0) return false;
    out->push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return true;
}

namespace {
std::vector<std::string> templateSegments(std::string_view path_template) {
  assert(!path_template.empty() && path_template.front() == '/');
  std::vector<std::string> segments;
  for (std::string_view segment : splitPath(path_template)) segments.emplace_back(segment);
  return segments;
}

// Runs `call`; an exception is logged with `what` and turned into false. No exception may escape
// into the I/O thread (hanami-api.md §12 W1): a throwing handler is a bug reported as 500, and
// the server keeps serving.
template <typename Call>
bool runGuarded(const std::string& what, Call&& call) {
  try {
    call();
    return true;
  } catch (const std::exception& error) {
    std::cerr << "tendril: " << what << " threw: " << error.what() << "\n";
  } catch (...) {
    std::cerr << "tendril: " << what << " threw a non-standard exception\n";
  }
  return false;
}
}  // namespace

void Router::add(std::string method, std::string path_template, Handler handler) {
  for ([[maybe_unused]] const Route& route : routes_) {
    assert(!(route.method == method && route.path_template == path_template) &&
           "route registered twice");
  }
  std::vector<std::string> segments = templateSegments(path_template);
  routes_.push_back(
      {std::move(method), std::move(path_template), std::move(segments), std::move(handler)});
}

void Router::addWebSocket(std::string path_template, WebSocketRoute route) {
  for ([[maybe_unused]] const WebSocketEndpoint& endpoint : web_sockets_) {
    assert(endpoint.path_template != path_template && "WebSocket route registered twice");
  }
  std::vector<std::string> segments = templateSegments(path_template);
  web_sockets_.push_back({std::move(path_template), std::move(segments), std::move(route)});
}

void Router::setFallback(Handler handler) { fallback_ = std::move(handler); }

bool Router::matches(const std::vector<std::string>& pattern,
                     const std::vector<std::string_view>& segments,
                     std::map<std::string, std::string>* params) {
  if (pattern.size() != segments.size()) return false;
  std::map<std::string, std::string> bound;
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& expected = pattern[i];
    if (isParameter(expected)) {
      std::string value;
      if (segments[i].empty() || !percentDecode(segments[i], &value)) return false;
      bound[expected.substr(1, expected.size() - 2)] = std::move(value);
    } else if (expected != segments[i]) {
      return false;
    }
  }
  if (params != nullptr) *params = std::move(bound);
  return true;
}

const Router::WebSocketEndpoint* Router::findWebSocket(
    const std::vector<std::string_view>& segments) const {
  for (const WebSocketEndpoint& endpoint : web_sockets_) {
    if (matches(endpoint.segments, segments, nullptr)) return &endpoint;
  }
  return nullptr;
}

Dispatched Router::dispatch(Request& request) const {
  std::vector<std::string_view> segments = splitPath(request.path);
  std::set<std::string> allowed;
  for (const Route& route : routes_) {
    if (!matches(route.segments, segments, nullptr)) continue;
    if (route.method != request.method) {
      allowed.insert(route.method);
      continue;
    }
    matches(route.segments, segments, &request.path_params);
    Dispatched result{{}, route.path_template};
    std::string what = "handler for " + request.method + " " + route.path_template;
    if (!runGuarded(what, [&] { result.response = route.handler(request); })) {
      result.response = Response::problem(TransportProblem::kInternal, "");
    }
    // A success must say something (hanami-api.md §1.5: 200 with `{}` hid failures).
    if (result.response.status == 200 && result.response.body.empty() &&
        result.response.file.empty()) {
      std::cerr << "tendril: " << what << " returned 200 with an empty body\n";
      result.response = Response::problem(TransportProblem::kInternal, "");
    }
    return result;
  }
  // The template of any matching route names the resource for metrics.
  std::string matched_template;
  for (const Route& route : routes_) {
    if (matches(route.segments, segments, nullptr)) {
      matched_template = route.path_template;
      break;
    }
  }
  if (const WebSocketEndpoint* endpoint = findWebSocket(segments)) {
    if (matched_template.empty()) matched_template = endpoint->path_template;
    if (request.method == "GET") {
      // 426 Upgrade Required would be more precise, but problem.h has no kind for it; 400 with
      // the Upgrade header says the same to a client that reads it.
      Response response = Response::problem(
          TransportProblem::kMalformedRequest,
          "this is a WebSocket endpoint: connect with a WebSocket upgrade request", request.path);
      response.headers.emplace_back("Upgrade", "websocket");
      return {std::move(response), matched_template};
    }
    allowed.insert("GET");
  }
  if (allowed.empty() && fallback_ && request.method == "GET" &&
      !request.path.starts_with("/api/") && request.path != "/api") {
    Dispatched result{{}, "/*"};
    if (!runGuarded("the fallback handler", [&] { result.response = fallback_(request); })) {
      result.response = Response::problem(TransportProblem::kInternal, "");
    }
    return result;
  }
  if (allowed.empty()) {
    return {Response::problem(TransportProblem::kRouteNotFound, "no resource at this path",
                              request.path),
            ""};
  }
  std::string allow;
  for (const std::string& method : allowed) allow += (allow.empty() ? "" : ", ") + method;
  Response response =
      Response::problem(TransportProblem::kMethodNotAllowed,
                        request.method + " is not allowed here; allowed: " + allow, request.path);
  response.headers.emplace_back("Allow", allow);
  return {std::move(response), matched_template};
}

bool Router::acceptWebSocket(Request& request, WebSocketAccept* accept, std::string* route) const {
  std::vector<std::string_view> segments = splitPath(request.path);
  const WebSocketEndpoint* endpoint = findWebSocket(segments);
  if (endpoint == nullptr) return false;
  matches(endpoint->segments, segments, &request.path_params);
  *route = endpoint->path_template;
  *accept = WebSocketAccept{};
  std::string what = "WebSocket accept for " + endpoint->path_template;
  if (!runGuarded(what, [&] { *accept = endpoint->route(request); })) {
    *accept = WebSocketAccept{nullptr, Response::problem(TransportProblem::kInternal, "")};
  }
  // A refusal must refuse: a 2xx without a handler would leave the client waiting for frames.
  if (accept->handler == nullptr && accept->refusal.status < 300) {
    std::cerr << "tendril: " << what << " gave neither a handler nor a refusal (status "
              << accept->refusal.status << ")\n";
    accept->refusal = Response::problem(TransportProblem::kInternal, "");
  }
  return true;
}

}  // namespace tendril::api
