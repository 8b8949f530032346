// Request routing for the HTTP API: handlers are registered per (method, path template), where
// a template such as `/api/v1/users/{id}` binds path parameters. The router is independent of the
// network library so that it, and every handler, can be tested without sockets.
//
// Promises: an unknown path gives 404 problem+json, a known path with another method 405 with an
// `Allow` header, and a handler that throws or returns 200 with an empty body (and no file) gives
// 500 problem+json. WebSocket routes (api/websocket.h) live in the same table: the server sends
// upgrade requests to acceptWebSocket() and everything else to dispatch(). Thread safety: add()
// and addWebSocket() during setup only; dispatch() and acceptWebSocket() are then safe from any
// thread.
#pragma once

#include <filesystem>
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
  // The client's IP address as text ("127.0.0.1", "::1"; an IPv4 client of a dual-stack listener
  // in dotted form), filled by the server for every request. The TCP peer, not a forwarded-for
  // header: a proxy in front of Tendril appears here as itself.
  std::string remote_address;

  // Empty when absent.
  std::string header(std::string_view lower_case_name) const;
  std::string pathParam(std::string_view name) const;
};

struct Response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  // Non-empty: the body is this file, streamed from disk in bounded chunks with its
  // Content-Length, and `body` is ignored. The server opens it when it writes the response; a
  // file it cannot open then is answered with a 404 (gone) or 500 problem instead.
  std::filesystem::path file;

  static Response json(unsigned status, const nlohmann::json& body);
  static Response text(unsigned status, std::string body, std::string content_type);
  // A problem+json response for a failed Status (Status::ok() is a caller bug: 500).
  static Response problem(const Status& status, std::string_view instance = {});
  static Response problem(TransportProblem problem, std::string_view detail,
                          std::string_view instance = {});
};

using Handler = std::function<Response(const Request&)>;

// The accept step of a WebSocket route; WebSocketAccept and its contract are in api/websocket.h.
struct WebSocketAccept;
using WebSocketRoute = std::function<WebSocketAccept(const Request&)>;

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

  // A WebSocket endpoint at `path_template` (same syntax as add()). A plain HTTP GET route may
  // share the template: upgrade requests go to this route, other requests to the HTTP one.
  // Registering the same template twice is a programming error (asserts).
  void addWebSocket(std::string path_template, WebSocketRoute route);
  // The handler for a GET to a path no route or WebSocket route has, outside `/api/` (the web
  // dashboard's files, api/static_files.h); its responses are labelled "/*" for metrics. Without
  // one, such paths get the usual 404.
  void setFallback(Handler handler);

  // Finds the route, binds path parameters into `request.path_params` and runs the handler.
  // A request to a path served only by a WebSocket route gets 400 problem+json (it is not an
  // upgrade, or the server would have called acceptWebSocket()), other methods there 405.
  Dispatched dispatch(Request& request) const;

  // For an upgrade request. When a WebSocket route matches `request.path`: binds the path
  // parameters, runs the route's accept step into `*accept`, sets `*route` to its template and
  // returns true. An accept step that throws, or refuses with a status below 300, is a bug and
  // becomes a 500 refusal. Returns false when no WebSocket route has this path; the server then
  // dispatches the request as plain HTTP (ignoring the Upgrade header, as RFC 9110 §7.8 allows),
  // which gives the usual 404/405, or the GET route's response when one exists.
  bool acceptWebSocket(Request& request, WebSocketAccept* accept, std::string* route) const;

 private:
  struct Route {
    std::string method;
    std::string path_template;
    std::vector<std::string> segments;
    Handler handler;
  };
  struct WebSocketEndpoint {
    std::string path_template;
    std::vector<std::string> segments;
    WebSocketRoute route;
  };
  static bool matches(const std::vector<std::string>& pattern,
                      const std::vector<std::string_view>& segments,
                      std::map<std::string, std::string>* params);
  const WebSocketEndpoint* findWebSocket(const std::vector<std::string_view>& segments) const;

  std::vector<Route> routes_;
  std::vector<WebSocketEndpoint> web_sockets_;
  Handler fallback_;
};

// Splits "/a/b/c" into {"a","b","c"}; "/" gives {""}. Exposed for tests.
std::vector<std::string_view> splitPath(std::string_view path);
// Decodes %XX escapes; returns false on a malformed escape.
bool percentDecode(std::string_view text, std::string* out);

}  // namespace tendril::api
