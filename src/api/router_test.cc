#include "api/router.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "api/metrics.h"
#include "api/system_routes.h"
#include "api/websocket.h"

namespace tendril::api {
namespace {

Request makeRequest(std::string method, std::string path) {
  Request request;
  request.method = std::move(method);
  request.path = std::move(path);
  return request;
}

Response echoId(const Request& request) {
  return Response::json(200, {{"id", request.pathParam("id")}});
}

std::string header(const Response& response, std::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "";
}

TEST(RouterTest, MatchesExactPaths) {
  Router router;
  router.add("GET", "/healthz", [](const Request&) { return Response::json(200, {{"a", 1}}); });
  Request request = makeRequest("GET", "/healthz");
  Dispatched result = router.dispatch(request);
  EXPECT_EQ(result.response.status, 200u);
  EXPECT_EQ(result.route, "/healthz");
  EXPECT_EQ(nlohmann::json::parse(result.response.body)["a"], 1);
}

TEST(RouterTest, BindsAndDecodesPathParameters) {
  Router router;
  router.add("GET", "/api/v1/users/{id}", echoId);
  Request request = makeRequest("GET", "/api/v1/users/ab%20c");
  Dispatched result = router.dispatch(request);
  ASSERT_EQ(result.response.status, 200u);
  EXPECT_EQ(result.route, "/api/v1/users/{id}");
  EXPECT_EQ(nlohmann::json::parse(result.response.body)["id"], "ab c");
}

TEST(RouterTest, UnknownPathIs404Problem) {
  Router router;
  router.add("GET", "/api/v1/users/{id}", echoId);
  for (std::string path :
       {"/nope", "/api/v1/users", "/api/v1/users/", "/api/v1/users/1/x", "/api/v1/users/%zz"}) {
    Request request = makeRequest("GET", path);
    Dispatched result = router.dispatch(request);
    EXPECT_EQ(result.response.status, 404u) << path;
    EXPECT_EQ(result.response.content_type, kProblemContentType);
    EXPECT_EQ(result.route, "");
    EXPECT_EQ(nlohmann::json::parse(result.response.body)["instance"], path);
  }
}

TEST(RouterTest, KnownPathWithOtherMethodIs405WithAllow) {
  Router router;
  router.add("GET", "/api/v1/users/{id}", echoId);
  router.add("DELETE", "/api/v1/users/{id}", echoId);
  Request request = makeRequest("PUT", "/api/v1/users/7");
  Dispatched result = router.dispatch(request);
  EXPECT_EQ(result.response.status, 405u);
  EXPECT_EQ(result.response.content_type, kProblemContentType);
  EXPECT_EQ(header(result.response, "Allow"), "DELETE, GET");
  EXPECT_EQ(nlohmann::json::parse(result.response.body)["type"],
            "https://tendril.dev/problems/method-not-allowed");
}

TEST(RouterTest, LiteralAndParameterRoutesCoexist) {
  Router router;
  router.add("GET", "/api/v1/users/me", [](const Request&) {
    return Response::json(200, {{"id", "me-literal"}});
  });
  router.add("GET", "/api/v1/users/{id}", echoId);
  Request me = makeRequest("GET", "/api/v1/users/me");
  EXPECT_EQ(nlohmann::json::parse(router.dispatch(me).response.body)["id"], "me-literal");
  Request other = makeRequest("GET", "/api/v1/users/42");
  EXPECT_EQ(nlohmann::json::parse(router.dispatch(other).response.body)["id"], "42");
}

// Regression for hanami-api.md §12 W1: an exception in a handler killed the process.
TEST(RouterTest, ThrowingHandlerIs500ProblemNotACrash) {
  Router router;
  router.add("POST", "/boom", [](const Request&) -> Response { throw std::out_of_range("stoi"); });
  router.add("POST", "/boom-int", [](const Request&) -> Response { throw 7; });
  for (std::string path : {"/boom", "/boom-int"}) {
    Request request = makeRequest("POST", path);
    Dispatched result = router.dispatch(request);
    EXPECT_EQ(result.response.status, 500u);
    EXPECT_EQ(result.response.content_type, kProblemContentType);
    EXPECT_FALSE(result.response.body.empty());
  }
}

// Regression for hanami-api.md §1.5: a handler failure surfaced as 200 with an empty body.
TEST(RouterTest, EmptySuccessBecomes500) {
  Router router;
  router.add("GET", "/empty", [](const Request&) { return Response{}; });
  Request request = makeRequest("GET", "/empty");
  EXPECT_EQ(router.dispatch(request).response.status, 500u);
}

class SilentHandler : public WebSocketHandler {
 public:
  void onOpen(std::shared_ptr<WebSocketPeer>) override {}
  void onMessage(std::string_view, bool) override {}
};

// The accept step sees the bound path parameters; paths without a WebSocket route are left to
// dispatch().
TEST(RouterTest, WebSocketRoutesBindParametersAndAccept) {
  Router router;
  std::string seen_room;
  router.addWebSocket("/ws/rooms/{room}", [&seen_room](const Request& request) {
    seen_room = request.pathParam("room");
    return WebSocketAccept{std::make_shared<SilentHandler>(), {}};
  });
  Request request = makeRequest("GET", "/ws/rooms/a%2Fb");
  WebSocketAccept accept;
  std::string route;
  ASSERT_TRUE(router.acceptWebSocket(request, &accept, &route));
  EXPECT_NE(accept.handler, nullptr);
  EXPECT_EQ(route, "/ws/rooms/{room}");
  EXPECT_EQ(seen_room, "a/b");
  EXPECT_EQ(request.pathParam("room"), "a/b");
  for (std::string path : {"/ws/rooms", "/ws/rooms/", "/ws/rooms/x/y", "/healthz"}) {
    Request other = makeRequest("GET", path);
    EXPECT_FALSE(router.acceptWebSocket(other, &accept, &route)) << path;
  }
}

// A throwing accept step, or one that neither accepts nor refuses, is a bug: 500, no upgrade.
TEST(RouterTest, BrokenWebSocketAcceptIs500Refusal) {
  Router router;
  router.addWebSocket("/ws/throws", [](const Request&) -> WebSocketAccept { throw 3; });
  router.addWebSocket("/ws/empty", [](const Request&) { return WebSocketAccept{}; });
  router.addWebSocket("/ws/refuses", [](const Request&) {
    return WebSocketAccept{nullptr, Response::problem(Status::Invalid("no"))};
  });
  for (std::string path : {"/ws/throws", "/ws/empty", "/ws/refuses"}) {
    Request request = makeRequest("GET", path);
    WebSocketAccept accept;
    std::string route;
    ASSERT_TRUE(router.acceptWebSocket(request, &accept, &route)) << path;
    EXPECT_EQ(accept.handler, nullptr) << path;
    EXPECT_EQ(accept.refusal.status, path == "/ws/refuses" ? 400u : 500u) << path;
    EXPECT_EQ(accept.refusal.content_type, kProblemContentType) << path;
  }
}

// Plain requests to a WebSocket path: a GET route there wins, a GET without one gets 400 (it
// should have been an upgrade), other methods 405 with GET allowed.
TEST(RouterTest, PlainRequestsToWebSocketPaths) {
  Router router;
  router.addWebSocket("/ws/only", [](const Request&) { return WebSocketAccept{}; });
  router.addWebSocket("/ws/both", [](const Request&) { return WebSocketAccept{}; });
  router.add("GET", "/ws/both", [](const Request&) { return Response::json(200, {{"a", 1}}); });
  Request get_both = makeRequest("GET", "/ws/both");
  EXPECT_EQ(router.dispatch(get_both).response.status, 200u);
  Request get_only = makeRequest("GET", "/ws/only");
  Dispatched plain = router.dispatch(get_only);
  EXPECT_EQ(plain.response.status, 400u);
  EXPECT_EQ(plain.route, "/ws/only");
  EXPECT_EQ(header(plain.response, "Upgrade"), "websocket");
  Request post_only = makeRequest("POST", "/ws/only");
  Dispatched post = router.dispatch(post_only);
  EXPECT_EQ(post.response.status, 405u);
  EXPECT_EQ(header(post.response, "Allow"), "GET");
  EXPECT_EQ(post.route, "/ws/only");
}

TEST(RouterTest, StatusProblemsCarryTheMessageOnlyForClientErrors) {
  Response client = Response::problem(Status::Invalid("limit must be positive"));
  EXPECT_EQ(client.status, 400u);
  EXPECT_EQ(nlohmann::json::parse(client.body)["detail"], "limit must be positive");
  Response server = Response::problem(Status::Io("cannot open /secret/path"));
  EXPECT_EQ(server.status, 500u);
  EXPECT_FALSE(nlohmann::json::parse(server.body).contains("detail"));
}

TEST(RouterTest, PercentDecodeRejectsMalformedEscapes) {
  std::string out;
  EXPECT_TRUE(percentDecode("a%2Fb", &out));
  EXPECT_EQ(out, "a/b");
  EXPECT_FALSE(percentDecode("a%2", &out));
  EXPECT_FALSE(percentDecode("%", &out));
  EXPECT_FALSE(percentDecode("%g0", &out));
}

TEST(SystemRoutesTest, AnswerHealthVersionReadinessAndMetrics) {
  MetricsRegistry metrics;
  metrics.counter("tendril_test_total", "a test counter", {"kind"}).increment({"a\"b"}, 3);
  bool ready = false;
  Router router;
  addSystemRoutes(router, metrics, [&ready] {
    return ready ? Status::Ok() : Status::Precondition("store not open");
  });
  Request health = makeRequest("GET", "/healthz");
  EXPECT_EQ(router.dispatch(health).response.body, R"({"status":"ok"})");
  Request version = makeRequest("GET", "/api/v1/version");
  nlohmann::json body = nlohmann::json::parse(router.dispatch(version).response.body);
  EXPECT_EQ(body["name"], "tendril");
  EXPECT_EQ(body["version"], TENDRIL_VERSION);
  Request readiness = makeRequest("GET", "/readyz");
  EXPECT_EQ(router.dispatch(readiness).response.status, 503u);
  ready = true;
  EXPECT_EQ(router.dispatch(readiness).response.status, 200u);
  Request scrape = makeRequest("GET", "/metrics");
  Response rendered = router.dispatch(scrape).response;
  EXPECT_EQ(rendered.content_type, "text/plain; version=0.0.4");
  EXPECT_NE(rendered.body.find("# TYPE tendril_test_total counter"), std::string::npos);
  EXPECT_NE(rendered.body.find(R"(tendril_test_total{kind="a\"b"} 3)"), std::string::npos);
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  MetricsRegistry metrics;
  Histogram& latency = metrics.histogram("t_seconds", "latency", {"route"}, {0.1, 1});
  latency.observe({"/x"}, 0.05);
  latency.observe({"/x"}, 0.5);
  latency.observe({"/x"}, 5);
  std::string text = metrics.render();
  EXPECT_NE(text.find(R"(t_seconds_bucket{route="/x",le="0.1"} 1)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(t_seconds_bucket{route="/x",le="1"} 2)"), std::string::npos);
  EXPECT_NE(text.find(R"(t_seconds_bucket{route="/x",le="+Inf"} 3)"), std::string::npos);
  EXPECT_NE(text.find(R"(t_seconds_count{route="/x"} 3)"), std::string::npos);
}

}  // namespace
}  // namespace tendril::api

namespace tendril::api {
namespace {

// A file-backed success has no body of its own; it must not be mistaken for an empty reply.
TEST(RouterTest, FileResponseWithEmptyBodyIsNotAnEmptySuccess) {
  Router router;
  router.add("GET", "/file", [](const Request&) {
    Response response = Response::text(200, "", "application/octet-stream");
    response.file = "/data/somewhere";
    return response;
  });
  router.add("GET", "/empty", [](const Request&) { return Response::text(200, "", "text/plain"); });
  Request file = makeRequest("GET", "/file");
  Dispatched served = router.dispatch(file);
  EXPECT_EQ(served.response.status, 200u);
  EXPECT_EQ(served.response.file, std::filesystem::path("/data/somewhere"));
  Request empty = makeRequest("GET", "/empty");
  EXPECT_EQ(router.dispatch(empty).response.status, 500u);
}

}  // namespace
}  // namespace tendril::api
