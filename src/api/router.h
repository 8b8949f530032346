// Request routing for the HTTP API: handlers are registered per (method, path template), where
// a template such as `/api/v1/users/{id}` binds path parameters. The router is independent of the
// network library so that it, and every handler, can be tested without sockets.
//
// Promises: an unknown path gives 404 problem+json, a known path with another method 405 with an
// `Allow` header, and a handler that throws or returns 200 with an empty body gives 500
// problem+json. Thread safety: add() during setup only; dispatch() is then safe from any thread.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/problem.h"
#include "common/status.h"

namespace tendril::api {

struct Request {
  std::string method;                          // upper case, as sent: "GET"
  std::string path;                            // the target before '?', not decoded
  std::string query;                           // the target after '?', not decoded, may be empty
  std::map<std::string, std::string> headers;  // names lower-cased
  std::map<std::string, std::string> path_params;  // filled by the router, percent-decoded
  std::string body;

  // Empty when absent.
  std::string header(std::string_view lower_case_name) const;
  std::string pathParam(std::string_view name) const;
};

struct Response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers

  static Response json(unsigned status, const nlohmann::json& body);
  static Response text(unsigned status, std::string body, std::string content_type);
  // A problem+json response for a failed Status (Status::ok() is a caller bug: 500).
  static Response problem(const Status& status, std::string_view instance = {});
  static Response problem(TransportProblem problem, std::string_view detail,
                          std::string_view instance = {});
};

using Handler = std::function<Response(const Request&)>;

// What dispatch() did: the response and the route template that served it ("" when none), so
// metrics can be labelled by template instead of by unbounded raw paths.
struct Dispatched {
  Response response;
  std::string route;
};

class Router {
 public:
  // `path_template` starts with '/'; a segment `{name}` matches any one non-empty segment.
  // Registering the same (method, template) twice is a programming error (asserts).
  void add(std::string method, std::string path_template, Handler handler);

  // Finds the route, binds path parameters into `request.path_params` and runs the handler.
  Dispatched dispatch(Request& request) const;

 private:
  struct Route {
    std::string method;
    std::string path_template;
    std::vector<std::string> segments;
    Handler handler;
  };
  static bool matches(const Route& route, const std::vector<std::string_view>& segments,
                      std::map<std::string, std::string>* params);

  std::vector<Route> routes_;
};

// Splits "/a/b/c" into {"a","b","c"}; "/" gives {""}. Exposed for tests.
std::vector<std::string_view> splitPath(std::string_view path);
// Decodes %XX escapes; returns false on a malformed escape.
bool percentDecode(std::string_view text, std::string* out);

}  // namespace tendril::api
