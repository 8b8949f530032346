// The server over real loopback sockets, in-process, so the sanitizer build exercises the
// connection code too (tests/serve_smoke.py covers the binary in the optimised build).
#include "api/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

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
  // One response: the header, then exactly Content-Length body bytes ("" on a timeout).
  std::string readResponse() {
    std::string out;
    char buffer[65536];
    size_t header_end = std::string::npos;
    size_t wanted = 0;
    while (header_end == std::string::npos || out.size() < wanted) {
      ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
      if (got <= 0) return "";
      out.append(buffer, static_cast<size_t>(got));
      if (header_end == std::string::npos && (header_end = out.find("\r\n\r\n")) != out.npos) {
        size_t length = out.find("Content-Length: ");
        wanted = header_end + 4 +
                 (length < header_end ? std::stoull(out.substr(length + 16)) : size_t{0});
      }
    }
    return out;
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
  void startServer(ServerLimits limits = {}, const std::string& host = "127.0.0.1",
                   size_t io_threads = 2) {
    Router router;
    // Blocks its handler thread until the test releases it.
    router.add("GET", "/slow", [this](const Request&) {
      slow_started_.set_value();
      release_slow_.wait();
      return Response::text(200, "slow done", "text/plain");
    });
    router.add("GET", "/sleep", [this](const Request&) {
      sleep_started_.set_value();
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      sleep_finished_ = true;
      return Response::text(200, "slept", "text/plain");
    });
    router.add("GET", "/file", [this](const Request&) {
      Response response = Response::text(200, "", "application/octet-stream");
      response.file = file_;
      response.headers.emplace_back("Content-Disposition", "attachment; filename=\"f.bin\"");
      return response;
    });
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
    Status started = server_->start(host, 0, io_threads);
    if (host == "::" && !started.ok()) GTEST_SKIP() << "no IPv6 here: " << started.toString();
    ASSERT_TRUE(started.ok()) << started.toString();
    ASSERT_NE(server_->port(), 0);
  }
  void TearDown() override {
    releaseSlow();  // stop() waits for handlers, so a failed test must not leave one blocked
    if (server_) server_->stop();
    if (!directory_.empty()) std::filesystem::remove_all(directory_);
  }

  void releaseSlow() {
    if (!released_.exchange(true)) release_.set_value();
  }

  // A file of `bytes` random bytes in a fresh directory; /file serves it.
  std::string makeFile(size_t bytes) {
    directory_ = std::filesystem::temp_directory_path() /
                 ("tendril-http-test-" + std::to_string(::getpid()) + "-" +
                  std::to_string(std::random_device{}()));
    std::filesystem::create_directories(directory_);
    file_ = directory_ / "download.bin";
    std::string content(bytes, '\0');
    std::mt19937 random(42);
    for (char& c : content) c = static_cast<char>(random());
    std::ofstream(file_, std::ios::binary).write(content.data(),
                                                 static_cast<std::streamsize>(content.size()));
    return content;
  }

  std::string gauge(const std::string& name) {
    std::string text = metrics_.render();
    size_t at = text.find("\n" + name + " ");
    if (at == std::string::npos) return "<missing>";
    size_t start = at + name.size() + 2;
    return text.substr(start, text.find('\n', start) - start);
  }

  std::string exchange(const std::string& request) {
    Client client(server_->port());
    EXPECT_TRUE(client.connected());
    client.send(request);
    return client.readAll();
  }

  MetricsRegistry metrics_;
  std::unique_ptr<HttpServer> server_;
  std::promise<void> slow_started_, sleep_started_, release_;
  std::shared_future<void> release_slow_ = release_.get_future().share();
  std::atomic<bool> released_{false};
  std::atomic<bool> sleep_finished_{false};
  std::filesystem::path directory_, file_;
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

// Handlers run on the handler pool: with a single I/O thread, a handler that blocks must not keep
// another connection's request from being answered.
TEST_F(HttpServerTest, ASlowHandlerDoesNotHoldUpOtherConnections) {
  ServerLimits limits;
  limits.handler_threads = 3;
  startServer(limits, "127.0.0.1", /*io_threads=*/1);
  EXPECT_EQ(gauge("tendril_handler_threads"), "3");
  Client slow(server_->port());
  slow.send("GET /slow HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  ASSERT_EQ(slow_started_.get_future().wait_for(std::chrono::seconds(5)),
            std::future_status::ready);
  EXPECT_EQ(gauge("tendril_handler_threads_busy"), "1");
  auto asked = std::chrono::steady_clock::now();
  std::string reply = exchange("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200")) << reply;
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::seconds(2));
  releaseSlow();
  reply = slow.readAll();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200")) << reply;
  EXPECT_TRUE(reply.ends_with("slow done")) << reply;
  EXPECT_EQ(gauge("tendril_handler_queue_depth"), "0");
}

TEST_F(HttpServerTest, StopWaitsForAHandlerInFlightAndSendsItsResponse) {
  startServer();
  Client client(server_->port());
  client.send("GET /sleep HTTP/1.1\r\nHost: t\r\n\r\n");  // keep-alive asked for
  ASSERT_EQ(sleep_started_.get_future().wait_for(std::chrono::seconds(5)),
            std::future_status::ready);
  server_->stop();
  EXPECT_TRUE(sleep_finished_);
  std::string reply = client.readAll();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200")) << reply;
  EXPECT_NE(reply.find("Connection: close"), std::string::npos) << reply;
  EXPECT_TRUE(reply.ends_with("slept")) << reply;
}

TEST_F(HttpServerTest, StreamsAFileWithItsLengthAndKeepsTheConnection) {
  std::string content = makeFile(5 * 1024 * 1024 + 123);
  startServer();
  Client client(server_->port());
  client.send("GET /file HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string reply = client.readResponse();
  ASSERT_TRUE(reply.starts_with("HTTP/1.1 200")) << reply.substr(0, 300);
  size_t header_end = reply.find("\r\n\r\n");
  std::string head = reply.substr(0, header_end);
  EXPECT_NE(head.find("Content-Length: " + std::to_string(content.size())), std::string::npos)
      << head;
  EXPECT_NE(head.find("Content-Type: application/octet-stream"), std::string::npos) << head;
  EXPECT_NE(head.find("Content-Disposition: attachment; filename=\"f.bin\""), std::string::npos);
  EXPECT_TRUE(reply.compare(header_end + 4, std::string::npos, content) == 0)
      << "the body differs from the file";
  // The connection is still usable afterwards.
  client.send("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  reply = client.readAll();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200")) << reply;
}

TEST_F(HttpServerTest, AnEmptyFileIsAnEmptyBody) {
  makeFile(0);
  startServer();
  std::string reply = exchange("GET /file HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200")) << reply;
  EXPECT_NE(reply.find("Content-Length: 0\r\n"), std::string::npos) << reply;
  EXPECT_TRUE(reply.ends_with("\r\n\r\n")) << reply;
}

// The handler named a file that is gone (deleted meanwhile) or is not a file: a problem, not a
// crash, and the path on disk is not in it.
TEST_F(HttpServerTest, AVanishedFileIsA404ProblemWithoutThePath) {
  makeFile(10);
  std::filesystem::remove(file_);
  startServer();
  std::string reply = exchange("GET /file HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 404")) << reply;
  EXPECT_NE(reply.find("application/problem+json"), std::string::npos) << reply;
  EXPECT_EQ(reply.find("download.bin"), std::string::npos) << reply;
  EXPECT_EQ(reply.find("Content-Disposition"), std::string::npos) << reply;
  file_ = directory_;  // a directory opens, but is no file to send
  reply = exchange("GET /file HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 500")) << reply;
  EXPECT_EQ(reply.find("tendril-http-test"), std::string::npos) << reply;
}

}  // namespace
}  // namespace tendril::api
