#include "api/router.h"

#include <algorithm>
#include <cassert>
#include <exception>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

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

void Router::add(std::string method, std::string path_template, Handler handler) {
  assert(!path_template.empty() && path_template.front() == '/');
  for ([[maybe_unused]] const Route& route : routes_) {
    assert(!(route.method == method && route.path_template == path_template) &&
           "route registered twice");
  }
  Route route{std::move(method), std::move(path_template), {}, std::move(handler)};
  for (std::string_view segment : splitPath(route.path_template)) {
    route.segments.emplace_back(segment);
  }
  routes_.push_back(std::move(route));
}

bool Router::matches(const Route& route, const std::vector<std::string_view>& segments,
                     std::map<std::string, std::string>* params) {
  if (route.segments.size() != segments.size()) return false;
  std::map<std::string, std::string> bound;
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& pattern = route.segments[i];
    if (isParameter(pattern)) {
      std::string value;
      if (segments[i].empty() || !percentDecode(segments[i], &value)) return false;
      bound[pattern.substr(1, pattern.size() - 2)] = std::move(value);
    } else if (pattern != segments[i]) {
      return false;
    }
  }
  if (params != nullptr) *params = std::move(bound);
  return true;
}

Dispatched Router::dispatch(Request& request) const {
  std::vector<std::string_view> segments = splitPath(request.path);
  std::set<std::string> allowed;
  for (const Route& route : routes_) {
    if (!matches(route, segments, nullptr)) continue;
    if (route.method != request.method) {
      allowed.insert(route.method);
      continue;
    }
    matches(route, segments, &request.path_params);
    Dispatched result{{}, route.path_template};
    // No exception may escape into the I/O thread (hanami-api.md §12 W1): a throwing handler
    // is a bug reported as 500, and the server keeps serving.
    try {
      result.response = route.handler(request);
    } catch (const std::exception& error) {
      std::cerr << "tendril: handler for " << request.method << " " << route.path_template
                << " threw: " << error.what() << "\n";
      result.response = Response::problem(TransportProblem::kInternal, "");
    } catch (...) {
      std::cerr << "tendril: handler for " << request.method << " " << route.path_template
                << " threw a non-standard exception\n";
      result.response = Response::problem(TransportProblem::kInternal, "");
    }
    // A success must say something (hanami-api.md §1.5: 200 with `{}` hid failures).
    if (result.response.status == 200 && result.response.body.empty()) {
      std::cerr << "tendril: handler for " << request.method << " " << route.path_template
                << " returned 200 with an empty body\n";
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
  // The template of any matching route names the resource for metrics.
  for (const Route& route : routes_) {
    if (matches(route, segments, nullptr)) return {std::move(response), route.path_template};
  }
  return {std::move(response), ""};
}

}  // namespace tendril::api
