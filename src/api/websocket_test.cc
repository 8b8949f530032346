// WebSocket routes against a real HttpServer on loopback, driven by Beast's client and, for what a
// client library will not send (bad frames, silence), by raw bytes. Limits are set small so the
// timeouts cost about a second each.
#include "api/websocket.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "api/http_server.h"
#include "api/system_routes.h"

namespace tendril::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A client on its own io_context. Every operation has a time limit, so a server bug fails the
// test instead of hanging it; an operation past its limit closes the socket and reports timeout.
class TestClient {
 public:
  explicit TestClient(uint16_t port) : ws_(io_) {
    beast::error_code error;
    ws_.next_layer().connect({asio::ip::make_address("127.0.0.1"), port}, error);
    EXPECT_FALSE(error) << error.message();
  }

  beast::error_code handshake(const std::string& target) {
    return run([&](auto done) { ws_.async_handshake(response_, "127.0.0.1", target, done); });
  }
  const websocket::response_type& response() const { return response_; }

  beast::error_code write(const std::string& message, bool binary = false) {
    ws_.binary(binary);
    return run([&](auto done) { ws_.async_write(asio::buffer(message), done); });
  }

  struct Message {
    beast::error_code error;
    std::string data;
    bool binary = false;
  };
  Message read(Clock::duration limit = 5s) {
    beast::flat_buffer buffer;
    Message message;
    message.error = run([&](auto done) { ws_.async_read(buffer, done); }, limit);
    message.data = beast::buffers_to_string(buffer.data());
    message.binary = ws_.got_binary();
    return message;
  }
  // Reads until the connection ends; the last message holds the error (closed: see reason()).
  std::vector<Message> readUntilEnd(Clock::duration limit = 5s) {
    std::vector<Message> messages;
    do {
      messages.push_back(read(limit));
    } while (!messages.back().error);
    return messages;
  }
  beast::error_code close() {
    return run([&](auto done) { ws_.async_close(websocket::close_code::normal, done); });
  }
  websocket::close_reason reason() const { return ws_.reason(); }
  std::string reasonText() const {
    return std::string(ws_.reason().reason.data(), ws_.reason().reason.size());
  }

  // Raw bytes, for what Beast's client would never send.
  std::string rawHandshake(const std::string& target, const std::string& version = "13") {
    sendRaw("GET " + target +
            " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: " +
            version + "\r\n\r\n");
    size_t head_size = 0;
    beast::error_code error = run([&](auto done) {
      asio::async_read_until(ws_.next_layer(), asio::dynamic_buffer(raw_), "\r\n\r\n",
                             [&head_size, done](beast::error_code failure, size_t size) {
                               head_size = size;
                               done(failure, size);
                             });
    });
    EXPECT_FALSE(error) << error.message();
    std::string head = raw_.substr(0, head_size);
    raw_.erase(0, head_size);
    return head;
  }
  void sendRaw(const std::string& bytes) {
    beast::error_code error =
        run([&](auto done) { asio::async_write(ws_.next_layer(), asio::buffer(bytes), done); });
    EXPECT_FALSE(error) << error.message();
  }
  // Everything the server sends until it closes; `ended` false when the limit came first.
  std::string readRawUntilEnd(Clock::duration limit, bool* ended) {
    beast::error_code error = run(
        [&](auto done) { asio::async_read(ws_.next_layer(), asio::dynamic_buffer(raw_), done); },
        limit);
    *ended = error == asio::error::eof || error == asio::error::connection_reset;
    return std::exchange(raw_, std::string());
  }

 private:
  template <typename Start>
  beast::error_code run(Start&& start, Clock::duration limit = 5s) {
    std::optional<beast::error_code> result;
    start([&result](beast::error_code error, auto&&...) { result = error; });
    io_.restart();
    io_.run_for(limit);
    if (result) return *result;
    beast::error_code ignored;
    ws_.next_layer().close(ignored);
    io_.restart();
    io_.run();
    return beast::error::timeout;
  }

  asio::io_context io_;
  websocket::stream<tcp::socket> ws_;
  websocket::response_type response_;
  std::string raw_;
};

// One client frame, masked as RFC 6455 §5.3 requires; `first_byte` is FIN, RSV and the opcode.
std::string clientFrame(uint8_t first_byte, const std::string& payload) {
  EXPECT_LT(payload.size(), 126u);
  std::string frame{static_cast<char>(first_byte), static_cast<char>(0x80 | payload.size())};
  const char mask[4] = {0x11, 0x22, 0x33, 0x44};
  frame.append(mask, 4);
  for (size_t i = 0; i < payload.size(); ++i) frame.push_back(payload[i] ^ mask[i % 4]);
  return frame;
}

// The opcodes of the (unmasked) server frames in `bytes`, and the code of the first close frame.
struct ServerFrames {
  std::vector<int> opcodes;
  int close_code = -1;
};
ServerFrames parseServerFrames(const std::string& bytes) {
  ServerFrames frames;
  size_t at = 0;
  while (at + 2 <= bytes.size()) {
    int opcode = static_cast<unsigned char>(bytes[at]) & 0x0F;
    size_t length = static_cast<unsigned char>(bytes[at + 1]) & 0x7F;
    size_t header = 2;
    if (length >= 126) {
      size_t extra = length == 126 ? 2 : 8;
      if (at + 2 + extra > bytes.size()) break;
      length = 0;
      for (size_t i = 0; i < extra; ++i) {
        length = length * 256 + static_cast<unsigned char>(bytes[at + 2 + i]);
      }
      header += extra;
    }
    if (at + header + length > bytes.size()) break;
    frames.opcodes.push_back(opcode);
    if (opcode == 8 && frames.close_code < 0 && length >= 2) {
      frames.close_code = static_cast<unsigned char>(bytes[at + header]) * 256 +
                          static_cast<unsigned char>(bytes[at + header + 1]);
    }
    at += header + length;
  }
  return frames;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// What the handlers saw, shared with the test thread.
struct Probe {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::shared_ptr<WebSocketPeer>> peers;
  int closes = 0;

  std::shared_ptr<WebSocketPeer> waitForPeer(size_t index) {
    std::unique_lock lock(mutex);
    changed.wait_for(lock, 5s, [&] { return peers.size() > index; });
    return peers.size() > index ? peers[index] : nullptr;
  }
  int waitForCloses(int expected) {
    std::unique_lock lock(mutex);
    changed.wait_for(lock, 5s, [&] { return closes >= expected; });
    return closes;
  }
};

std::string repeat(const std::string& text, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += text;
  return out;
}

// Echoes every message; "throw" throws, "close" closes with 4000 "bye" (and then again, which must
// change nothing). When `greeting` is set,
// onOpen sends greeting|remoteAddress() ("throw" throws instead).
class TestHandler : public WebSocketHandler {
 public:
  TestHandler(Probe& probe, std::string greeting) : probe_(probe), greeting_(std::move(greeting)) {}

  void onOpen(std::shared_ptr<WebSocketPeer> peer) override {
    if (greeting_ == "throw") throw std::runtime_error("onOpen bug");
    peer_ = peer;
    if (!greeting_.empty()) peer->sendText(greeting_ + "|" + peer->remoteAddress());
    std::lock_guard lock(probe_.mutex);
    probe_.peers.push_back(std::move(peer));
    probe_.changed.notify_all();
  }
  void onMessage(std::string_view payload, bool binary) override {
    if (payload == "throw") throw std::runtime_error("onMessage bug");
    if (payload == "close") {
      peer_->close(4000, "bye");
      return peer_->close(1000, "again");
    }
    if (payload == "close-long") return peer_->close(4001, repeat("\xc3\xa9", 100));  // 200 bytes
    if (payload == "close-reserved") return peer_->close(1005, "no status is not sendable");
    std::string copy(payload);
    binary ? peer_->sendBinary(std::move(copy)) : peer_->sendText(std::move(copy));
  }
  void onClose() override {
    std::lock_guard lock(probe_.mutex);
    ++probe_.closes;
    probe_.changed.notify_all();
  }

 private:
  Probe& probe_;
  std::string greeting_;
  std::shared_ptr<WebSocketPeer> peer_;
};

class WebSocketTest : public ::testing::Test {
 protected:
  void startServer(ServerLimits limits = {}) {
    Router router;
    addSystemRoutes(router, metrics_);
    auto accept = [this](std::string greeting) {
      return WebSocketAccept{std::make_shared<TestHandler>(probe_, std::move(greeting)), {}};
    };
    router.addWebSocket("/ws/echo", [accept](const Request&) { return accept(""); });
    router.addWebSocket("/ws/rooms/{room}", [accept](const Request& request) {
      return accept(request.pathParam("room") + "|" + request.remote_address);
    });
    router.addWebSocket("/ws/throw-open", [accept](const Request&) { return accept("throw"); });
    router.addWebSocket("/ws/refuse", [](const Request&) {
      WebSocketAccept refused;
      refused.refusal =
          Response::text(401, R"({"title":"Unauthenticated"})", std::string(kProblemContentType));
      refused.refusal.headers.emplace_back("WWW-Authenticate", "Bearer");
      return refused;
    });
    router.addWebSocket("/ws/throw-accept",
                        [](const Request&) -> WebSocketAccept { throw std::logic_error("bug"); });
    server_ = std::make_unique<HttpServer>(std::move(router), limits, &metrics_);
    ASSERT_TRUE(server_->start("127.0.0.1", 0, 2).ok());
  }
  void TearDown() override {
    if (server_) server_->stop();
  }

  // A plain HTTP request on a fresh connection; the whole reply.
  std::string httpGet(const std::string& target) {
    TestClient client(server_->port());
    client.sendRaw("GET " + target + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    bool ended = false;
    return client.readRawUntilEnd(5s, &ended);
  }

  void expectEcho(TestClient& client, const std::string& message, bool binary = false) {
    ASSERT_FALSE(client.write(message, binary));
    TestClient::Message reply = client.read();
    ASSERT_FALSE(reply.error) << reply.error.message();
    EXPECT_EQ(reply.data, message);
    EXPECT_EQ(reply.binary, binary);
  }

  // The next thing the client reads is the server's close frame with `code`.
  void expectClosedWith(TestClient& client, uint16_t code) {
    TestClient::Message end = client.read();
    EXPECT_EQ(end.error, websocket::error::closed) << end.error.message();
    EXPECT_EQ(client.reason().code, code);
  }

  MetricsRegistry metrics_;
  Probe probe_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(WebSocketTest, EchoesTextAndBinary) {
  startServer();
  TestClient client(server_->port());
  ASSERT_FALSE(client.handshake("/ws/echo"));
  EXPECT_EQ(client.response().result_int(), 101u);
  expectEcho(client, "hello, world");
  expectEcho(client, std::string("\x00\x01\xff binary", 10), /*binary=*/true);
  expectEcho(client, std::string(100 * 1000, 'z'));  // many frames each way
  EXPECT_FALSE(client.close());
  EXPECT_EQ(probe_.waitForCloses(1), 1);
}

TEST_F(WebSocketTest, PathParametersAndRemoteAddressReachTheHandler) {
  startServer();
  TestClient client(server_->port());
  ASSERT_FALSE(client.handshake("/ws/rooms/blue%20sky"));
  TestClient::Message greeting = client.read();
  ASSERT_FALSE(greeting.error);
  // The room from the path, the address in the accept step's Request, and the peer's.
  EXPECT_EQ(greeting.data, "blue sky|127.0.0.1|127.0.0.1");
}

// The accept step refuses before the handshake: the client gets that HTTP response as-is.
TEST_F(WebSocketTest, RefusalIsAnHttpResponseAndNoUpgrade) {
  startServer();
  TestClient client(server_->port());
  EXPECT_EQ(client.handshake("/ws/refuse"), websocket::error::upgrade_declined);
  EXPECT_EQ(client.response().result_int(), 401u);
  EXPECT_EQ(client.response()[beast::http::field::content_type].to_string(), kProblemContentType);
  EXPECT_EQ(client.response()[beast::http::field::www_authenticate].to_string(), "Bearer");
  EXPECT_EQ(client.response().body(), R"({"title":"Unauthenticated"})");
  EXPECT_FALSE(client.response().keep_alive());

  TestClient broken(server_->port());
  EXPECT_EQ(broken.handshake("/ws/throw-accept"), websocket::error::upgrade_declined);
  EXPECT_EQ(broken.response().result_int(), 500u);
  EXPECT_EQ(probe_.peers.size(), 0u);
  std::string metrics = metrics_.render();
  EXPECT_TRUE(contains(
      metrics, R"(tendril_http_requests_total{method="GET",route="/ws/refuse",status="401"} 1)"))
      << metrics;
}

// Upgrade requests without a WebSocket route are plain HTTP; plain GETs to one get 400.
TEST_F(WebSocketTest, OnlyUpgradesReachWebSocketRoutes) {
  startServer();
  TestClient healthz(server_->port());
  EXPECT_EQ(healthz.handshake("/healthz"), websocket::error::upgrade_declined);
  EXPECT_EQ(healthz.response().result_int(), 200u);
  TestClient nowhere(server_->port());
  EXPECT_EQ(nowhere.handshake("/ws/nothing-here"), websocket::error::upgrade_declined);
  EXPECT_EQ(nowhere.response().result_int(), 404u);
  std::string plain = httpGet("/ws/echo");
  EXPECT_TRUE(plain.starts_with("HTTP/1.1 400")) << plain;
  EXPECT_TRUE(contains(plain, "WebSocket endpoint"));
  // A handshake Beast itself rejects (an unsupported version) gets 426 and no handler.
  TestClient old(server_->port());
  std::string head = old.rawHandshake("/ws/echo", "8");
  EXPECT_TRUE(head.starts_with("HTTP/1.1 426")) << head;
  EXPECT_EQ(probe_.peers.size(), 0u);
}

// Each hostile connection is closed with the right code, and only it: a well-behaved connection
// beside them carries on, and so does plain HTTP.
TEST_F(WebSocketTest, HostileMessagesCloseOnlyTheirConnection) {
  ServerLimits limits;
  limits.ws_max_message_bytes = 1000;
  startServer(limits);
  TestClient good(server_->port());
  ASSERT_FALSE(good.handshake("/ws/echo"));

  TestClient big(server_->port());
  ASSERT_FALSE(big.handshake("/ws/echo"));
  expectEcho(big, std::string(1000, 'a'));  // at the limit is fine
  ASSERT_FALSE(big.write(std::string(1001, 'a')));
  expectClosedWith(big, websocket::close_code::too_big);

  std::string fragments = clientFrame(0x01, std::string(100, 'f'));  // text, not final
  for (int i = 0; i < 10; ++i) fragments += clientFrame(0x00, std::string(100, 'f'));
  struct Case {
    const char* what;
    std::string bytes;
    int close_code;
  };
  std::vector<Case> cases = {
      {"invalid UTF-8 in a text frame", clientFrame(0x81, "ok \xff\xfe"), 1007},
      {"unmasked client frame", std::string("\x81\x02hi", 4), 1002},
      {"fragmented control frame", clientFrame(0x09, "ping"), 1002},
      {"continuation without a start", clientFrame(0x80, "tail"), 1002},
      {"reserved opcode", clientFrame(0x83, "?"), 1002},
      {"fragments adding up past the limit", fragments, 1009},
  };
  for (const Case& hostile : cases) {
    TestClient attacker(server_->port());
    EXPECT_TRUE(attacker.rawHandshake("/ws/echo").starts_with("HTTP/1.1 101")) << hostile.what;
    attacker.sendRaw(hostile.bytes);
    bool ended = false;
    std::string reply = attacker.readRawUntilEnd(5s, &ended);
    EXPECT_TRUE(ended) << hostile.what;
    EXPECT_EQ(parseServerFrames(reply).close_code, hostile.close_code) << hostile.what;
  }
  expectEcho(good, "still fine");
  EXPECT_TRUE(httpGet("/healthz").starts_with("HTTP/1.1 200"));
  int hostile_connections = static_cast<int>(cases.size()) + 1;
  EXPECT_EQ(probe_.waitForCloses(hostile_connections), hostile_connections);
}

// A client that sends nothing is dropped after ws_idle_timeout; one that answers the server's
// pings (Beast's client does while reading) stays, and the server can push to it from any thread.
TEST_F(WebSocketTest, IdleTimeoutDropsSilentClientsButNotOnesAnsweringPings) {
  ServerLimits limits;
  limits.ws_idle_timeout = 1s;
  startServer(limits);
  TestClient live(server_->port());
  ASSERT_FALSE(live.handshake("/ws/echo"));
  Clock::time_point opened = Clock::now();
  std::shared_ptr<WebSocketPeer> live_peer = probe_.waitForPeer(0);
  ASSERT_NE(live_peer, nullptr);
  TestClient::Message pushed;
  std::thread reader([&] { pushed = live.read(6s); });

  TestClient silent(server_->port());
  ASSERT_TRUE(silent.rawHandshake("/ws/echo").starts_with("HTTP/1.1 101"));
  Clock::time_point started = Clock::now();
  bool ended = false;
  std::string bytes = silent.readRawUntilEnd(5s, &ended);
  Clock::duration silent_for = Clock::now() - started;
  EXPECT_TRUE(ended);
  EXPECT_GE(silent_for, 900ms);
  EXPECT_LT(silent_for, 3s);
  std::vector<int> opcodes = parseServerFrames(bytes).opcodes;
  EXPECT_NE(std::find(opcodes.begin(), opcodes.end(), 9), opcodes.end()) << "no ping was sent";

  std::this_thread::sleep_until(opened + 2200ms);  // twice the idle timeout
  EXPECT_TRUE(live_peer->sendText("still here"));
  reader.join();
  EXPECT_FALSE(pushed.error) << pushed.error.message();
  EXPECT_EQ(pushed.data, "still here");
}

TEST_F(WebSocketTest, PushesFromAnotherThreadArriveInOrder) {
  startServer();
  TestClient client(server_->port());
  ASSERT_FALSE(client.handshake("/ws/echo"));
  std::shared_ptr<WebSocketPeer> peer = probe_.waitForPeer(0);
  ASSERT_NE(peer, nullptr);
  std::thread pusher([peer] {
    for (int i = 0; i < 200; ++i) EXPECT_TRUE(peer->sendText("push " + std::to_string(i)));
  });
  for (int i = 0; i < 200; ++i) {
    TestClient::Message message = client.read();
    ASSERT_FALSE(message.error);
    ASSERT_EQ(message.data, "push " + std::to_string(i));
  }
  pusher.join();
}

// However a connection ends, onClose runs exactly once, and the peer goes quiet afterwards.
TEST_F(WebSocketTest, OnCloseRunsExactlyOnce) {
  startServer();
  {
    TestClient polite(server_->port());  // closes properly
    ASSERT_FALSE(polite.handshake("/ws/echo"));
    EXPECT_FALSE(polite.close());
  }
  {
    TestClient closed(server_->port());  // the handler closes, twice, while the client closes
    ASSERT_FALSE(closed.handshake("/ws/echo"));
    ASSERT_FALSE(closed.write("close"));
    ASSERT_FALSE(closed.write("close"));
    expectClosedWith(closed, 4000);
    EXPECT_EQ(closed.reasonText(), "bye");
  }
  {
    TestClient abrupt(server_->port());  // just drops the socket
    ASSERT_FALSE(abrupt.handshake("/ws/echo"));
  }
  EXPECT_EQ(probe_.waitForCloses(3), 3);
  std::this_thread::sleep_for(100ms);  // a second onClose would come now
  std::lock_guard lock(probe_.mutex);
  EXPECT_EQ(probe_.closes, 3);
  ASSERT_EQ(probe_.peers.size(), 3u);
  for (const auto& peer : probe_.peers) {
    EXPECT_FALSE(peer->sendText("too late"));
    peer->close(1000, "");  // a no-op, not a crash
  }
}

// A close frame carries at most 123 bytes of UTF-8 reason, and only some codes may be sent.
TEST_F(WebSocketTest, CloseReasonsAreCutAndReservedCodesReplaced) {
  startServer();
  TestClient long_reason(server_->port());
  ASSERT_FALSE(long_reason.handshake("/ws/echo"));
  ASSERT_FALSE(long_reason.write("close-long"));
  expectClosedWith(long_reason, 4001);  // the client checks the reason is valid UTF-8
  EXPECT_EQ(long_reason.reasonText(), repeat("\xc3\xa9", 61));
  TestClient reserved(server_->port());
  ASSERT_FALSE(reserved.handshake("/ws/echo"));
  ASSERT_FALSE(reserved.write("close-reserved"));
  expectClosedWith(reserved, websocket::close_code::internal_error);
}

TEST_F(WebSocketTest, ThrowingHandlerCloses1011AndServerKeepsServing) {
  startServer();
  TestClient client(server_->port());
  ASSERT_FALSE(client.handshake("/ws/echo"));
  ASSERT_FALSE(client.write("throw"));
  expectClosedWith(client, websocket::close_code::internal_error);

  TestClient on_open(server_->port());
  ASSERT_FALSE(on_open.handshake("/ws/throw-open"));
  expectClosedWith(on_open, websocket::close_code::internal_error);

  TestClient next(server_->port());
  ASSERT_FALSE(next.handshake("/ws/echo"));
  expectEcho(next, "after the bug");
  EXPECT_TRUE(httpGet("/healthz").starts_with("HTTP/1.1 200"));
}

// A consumer that stops reading: sends fail once the backlog passes ws_max_queued_bytes, and the
// connection closes with 1008 after what was already being written.
TEST_F(WebSocketTest, SlowReaderIsClosedAtTheQueueLimit) {
  ServerLimits limits;
  limits.ws_max_queued_bytes = 256 * 1024;
  startServer(limits);
  TestClient slow(server_->port());
  ASSERT_FALSE(slow.handshake("/ws/echo"));
  std::shared_ptr<WebSocketPeer> peer = probe_.waitForPeer(0);
  ASSERT_NE(peer, nullptr);
  // Paced, so the writer keeps up as long as the socket takes data: what fills the queue is the
  // client not reading (once the kernel buffers are full), not a burst.
  std::string chunk(64 * 1024, 'x');
  int accepted = 0;
  while (accepted < 4000 && peer->sendText(chunk)) {  // 4000 would be 256 MB
    ++accepted;
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_LT(accepted, 4000);
  EXPECT_FALSE(peer->sendText("x"));  // closed now

  std::vector<TestClient::Message> messages = slow.readUntilEnd();
  EXPECT_LE(messages.size(), static_cast<size_t>(accepted) + 1);
  EXPECT_EQ(messages.back().error, websocket::error::closed) << messages.back().error.message();
  EXPECT_EQ(slow.reason().code, websocket::close_code::policy_error);
  EXPECT_EQ(probe_.waitForCloses(1), 1);
}

TEST_F(WebSocketTest, StopClosesOpenWebSocketsQuickly) {
  ServerLimits limits;
  limits.ws_handshake_timeout = 1s;  // also bounds the wait for a deaf client's close frame
  startServer(limits);
  TestClient polite(server_->port());
  ASSERT_FALSE(polite.handshake("/ws/echo"));
  TestClient deaf(server_->port());
  ASSERT_TRUE(deaf.rawHandshake("/ws/echo").starts_with("HTTP/1.1 101"));
  ASSERT_NE(probe_.waitForPeer(1), nullptr);
  TestClient::Message polite_end;
  std::thread reader([&] { polite_end = polite.read(); });

  Clock::time_point started = Clock::now();
  server_->stop();
  EXPECT_LT(Clock::now() - started, 3s);
  reader.join();
  EXPECT_EQ(polite_end.error, websocket::error::closed);
  EXPECT_EQ(polite.reason().code, websocket::close_code::going_away);
  bool ended = false;
  EXPECT_EQ(parseServerFrames(deaf.readRawUntilEnd(1s, &ended)).close_code, 1001);
  EXPECT_TRUE(ended);
  std::lock_guard lock(probe_.mutex);
  EXPECT_EQ(probe_.closes, 2);
}

TEST_F(WebSocketTest, UpgradesAreMeteredAndCountTowardTheConnectionLimit) {
  ServerLimits limits;
  limits.max_connections = 1;
  startServer(limits);
  {
    TestClient client(server_->port());
    ASSERT_FALSE(client.handshake("/ws/echo"));
    expectEcho(client, "one");
    expectEcho(client, "two");
    EXPECT_TRUE(httpGet("/healthz").starts_with("HTTP/1.1 503"));
    std::string metrics = metrics_.render();
    EXPECT_TRUE(contains(
        metrics, R"(tendril_http_requests_total{method="GET",route="/ws/echo",status="101"} 1)"))
        << metrics;
    EXPECT_TRUE(contains(metrics, R"(tendril_websocket_messages_total{direction="in"} 2)"));
    // A sent message counts once its write completes, which may be just after the client has it.
    for (int attempt = 0; attempt < 100; ++attempt) {
      if (contains(metrics, R"(tendril_websocket_messages_total{direction="out"} 2)")) break;
      std::this_thread::sleep_for(10ms);
      metrics = metrics_.render();
    }
    EXPECT_TRUE(contains(metrics, R"(tendril_websocket_messages_total{direction="out"} 2)"));
    EXPECT_TRUE(contains(metrics, "tendril_websocket_open_connections 1"));
    EXPECT_TRUE(contains(metrics, "tendril_http_open_connections 1"));
    EXPECT_FALSE(client.close());
  }
  ASSERT_EQ(probe_.waitForCloses(1), 1);
  std::string reply;
  for (int attempt = 0; attempt < 50 && !reply.starts_with("HTTP/1.1 200"); ++attempt) {
    std::this_thread::sleep_for(20ms);  // the session ends just after onClose
    reply = httpGet("/healthz");
  }
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200")) << reply;
  EXPECT_TRUE(contains(metrics_.render(), "tendril_websocket_open_connections 0"));
}

}  // namespace
}  // namespace tendril::api
