// Client::openWebSocket's socket: Beast's WebSocket stream over TCP, synchronous reads and
// writes after a connect and handshake that are bounded by the client's timeout.

// clang-format off
#include <utility>  // before Asio: boost/asio/awaitable.hpp uses std::exchange without including it
// clang-format on

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "client/client.h"

namespace tendril::client {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

class BeastWebSocket final : public WebSocket {
 public:
  Status open(const Endpoint& endpoint, const Credentials& credentials, const std::string& target,
              std::chrono::seconds timeout) {
    beast::error_code error;
    tcp::resolver resolver(io_);
    auto results = resolver.resolve(endpoint.host, endpoint.port, error);
    if (error) return Status::Io("cannot resolve " + endpoint.host + ": " + error.message());
    // Connect and handshake run asynchronously for at most `timeout` each; afterwards reads wait
    // as long as the server keeps the connection (it pings idle clients, Beast answers).
    bool connected = false;
    asio::async_connect(ws_.next_layer(), results,
                        [&](beast::error_code result, const tcp::endpoint&) {
                          error = result;
                          connected = true;
                        });
    io_.run_for(timeout);
    io_.restart();
    if (!connected) return Status::Io("cannot connect: no answer in time");
    if (error) return Status::Io("cannot connect: " + error.message());
    ws_.next_layer().set_option(tcp::no_delay(true));
    ws_.set_option(websocket::stream_base::decorator([&](websocket::request_type& request) {
      request.set(http::field::user_agent, "tendril-cli/0.1.0");
      if (!credentials.api_key.empty()) {
        request.set("X-API-Key", credentials.api_key);
      } else if (!credentials.access_token.empty()) {
        request.set(http::field::authorization, "Bearer " + credentials.access_token);
      }
    }));
    ws_.read_message_max(64 * 1024 * 1024);
    // The asynchronous handshake, because Boost 1.74's synchronous one drops the response of a
    // refused upgrade, and its problem+json is what the caller needs to see.
    websocket::response_type response;
    bool completed = false;
    ws_.async_handshake(response, endpoint.host + ":" + endpoint.port, target,
                        [&](beast::error_code result) {
                          error = result;
                          completed = true;
                        });
    io_.run_for(timeout);
    io_.restart();
    if (!completed) return Status::Io("WebSocket " + target + ": no handshake reply in time");
    if (error) {
      Status refused = statusFromReply(response.result_int(), response.body());
      if (!refused.ok() && response.result_int() != 101) return refused;
      return Status::Io("WebSocket " + target + ": " + error.message());
    }
    return Status::Ok();
  }

  Status sendText(std::string_view text) override { return write(text, false); }
  Status sendBinary(std::string_view bytes) override { return write(bytes, true); }

  Result<std::optional<Message>> read() override {
    beast::error_code error;
    buffer_.clear();
    ws_.read(buffer_, error);
    if (error == websocket::error::closed) {
      close_code_ = ws_.reason().code;
      return std::optional<Message>();
    }
    if (error) return Status::Io("WebSocket read: " + error.message());
    Message message;
    message.binary = ws_.got_binary();
    message.data = beast::buffers_to_string(buffer_.data());
    return std::optional<Message>(std::move(message));
  }

  int closeCode() const override { return close_code_; }

  void close() override {
    if (!ws_.is_open()) return;
    beast::error_code ignored;
    ws_.close(websocket::close_code::normal, ignored);
  }

  ~BeastWebSocket() override { close(); }

 private:
  Status write(std::string_view data, bool binary) {
    beast::error_code error;
    ws_.binary(binary);
    ws_.write(asio::buffer(data.data(), data.size()), error);
    if (error) return Status::Io("WebSocket write: " + error.message());
    return Status::Ok();
  }

  asio::io_context io_;
  websocket::stream<tcp::socket> ws_{io_};
  beast::flat_buffer buffer_;
  int close_code_ = 0;
};

}  // namespace

Result<std::unique_ptr<WebSocket>> WebSocket::connect(const Endpoint& endpoint,
                                                      const Credentials& credentials,
                                                      const std::string& target,
                                                      std::chrono::seconds timeout) {
  auto socket = std::make_unique<BeastWebSocket>();
  TENDRIL_RETURN_IF_ERROR(socket->open(endpoint, credentials, target, timeout));
  return std::unique_ptr<WebSocket>(std::move(socket));
}

}  // namespace tendril::client
