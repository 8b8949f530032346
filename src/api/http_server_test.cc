// The server over real loopback sockets, in-process, so the sanitizer build exercises the
// connection code too (tests/serve_smoke.py covers the binary in the optimised build).
#include "api/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

#include "api/system_routes.h"

namespace tendril::api {
namespace {

// A blocking loopback client socket with a receive timeout, closed on destruction.
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }
  void send(const std::string& data) {
    ASSERT_EQ(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(data.size()));
  }
  // What one recv() returns (a small response arrives whole on loopback).
  std::string readSome() {
    char buffer[4096];
    ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
    return got <= 0 ? std::string() : std::string(buffer, static_cast<size_t>(got));
  }
  // Everything until the server closes (or the receive timeout).
  std::string readAll() {
    std::string out;
    char buffer[4096];
    while (true) {
      ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
      if (got <= 0) return out;
      out.append(buffer, static_cast<size_t>(got));
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void startServer(ServerLimits limits = {}, const std::string& host = "127.0.0.1") {
    Router router;
    addSystemRoutes(router, metrics_);
    router.add("GET", "/throw",
               [](const Request&) -> Response { throw std::runtime_error("handler bug"); });
    router.add("POST", "/echo", [](const Request& request) {
      return Response::text(200, request.body, "text/plain");
    });
    router.add("GET", "/whoami", [](const Request& request) {
      return Response::text(200, "[" + request.remote_address + "]", "text/plain");
    });
    server_ = std::make_unique<HttpServer>(std::move(router), limits, &metrics_);
    Status started = server_->start(host, 0, 2);
    if (host == "::" && !started.ok()) GTEST_SKIP() << "no IPv6 here: " << started.toString();
    ASSERT_TRUE(started.ok()) << started.toString();
    ASSERT_NE(server_->port(), 0);
  }
  void TearDown() override {
    if (server_) server_->stop();
  }

  std::string exchange(const std::string& request) {
    Client client(server_->port());
    EXPECT_TRUE(client.connected());
    client.send(request);
    return client.readAll();
  }

  MetricsRegistry metrics_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, ServesHealthAndClosesOnRequest) {
  startServer();
  std::string reply = exchange("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200")) << reply;
  EXPECT_NE(reply.find(R"({"status":"ok"})"), std::string::npos);
}

TEST_F(HttpServerTest, EchoesBodies) {
  startServer();
  std::string reply = exchange(
      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
      "hello");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200")) << reply;
  EXPECT_TRUE(reply.ends_with("hello"));
}

// The API layer keys login rate limits on it, so every HTTP request carries the client address.
TEST_F(HttpServerTest, FillsRemoteAddress) {
  startServer();
  std::string reply = exchange("GET /whoami HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200")) << reply;
  EXPECT_TRUE(reply.ends_with("[127.0.0.1]")) << reply;
}

// An IPv4 client of a dual-stack listener is ::ffff:127.0.0.1 to the socket; one client must have
// one spelling, or a rate limit keyed on it could be sidestepped.
TEST_F(HttpServerTest, RemoteAddressOfIpv4ClientOnDualStackListenerIsDotted) {
  startServer({}, "::");
  if (IsSkipped()) return;
  std::string reply = exchange("GET /whoami HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(reply.ends_with("[127.0.0.1]")) << reply;
}

// Regression for hanami-api.md §12 W1: a throwing handler took the whole process down.
TEST_F(HttpServerTest, ThrowingHandlerGives500AndServerSurvives) {
  startServer();
  std::string reply = exchange("GET /throw HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 500")) << reply;
  EXPECT_NE(reply.find("application/problem+json"), std::string::npos);
  reply = exchange("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200")) << reply;
}

TEST_F(HttpServerTest, RefusesOversizedBodyAndMalformedRequests) {
  ServerLimits limits;
  limits.max_body_bytes = 16;
  startServer(limits);
  std::string reply = exchange("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 17\r\n\r\n" +
                               std::string(17, 'x'));
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 413")) << reply;
  reply = exchange("GET healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 400")) << reply;
  reply = exchange("\x01\x02 garbage\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 400")) << reply;
}

TEST_F(HttpServerTest, ConnectionLimitAnswers503) {
  ServerLimits limits;
  limits.max_connections = 1;
  startServer(limits);
  Client holder(server_->port());
  holder.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");  // keep-alive: stays open
  // The holder's connection is counted once accepted; give the acceptor a moment.
  std::string reply;
  for (int attempt = 0; attempt < 50; ++attempt) {
    reply = exchange("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    if (reply.starts_with("HTTP/1.1 503")) break;
    ::usleep(20000);
  }
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 503")) << reply;
  EXPECT_NE(metrics_.render().find("tendril_http_connections_rejected_total 1"), std::string::npos);
}

// stop() must return promptly with an idle keep-alive client still connected, and close it.
TEST_F(HttpServerTest, StopClosesIdleConnections) {
  startServer();
  Client idle(server_->port());
  idle.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string reply = idle.readSome();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200")) << reply;
  auto started = std::chrono::steady_clock::now();
  server_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
  EXPECT_EQ(idle.readAll(), "");  // end of stream, not the 5 s receive timeout
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
}

}  // namespace
}  // namespace tendril::api
