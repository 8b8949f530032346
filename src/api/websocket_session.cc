#include "api/websocket_session.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <optional>
#include <exception>
#include <iostream>
#include <string_view>
#include <utility>

namespace tendril::api {

bool ConnectionRegistry::add(Connection* connection, std::weak_ptr<Connection> weak) {
  std::lock_guard lock(mutex_);
  if (stopping_) return false;
  connections_[connection] = std::move(weak);
  if (open_connections_ != nullptr) open_connections_->add(1);
  return true;
}

bool ConnectionRegistry::replace(Connection* from, Connection* to, std::weak_ptr<Connection> weak) {
  std::lock_guard lock(mutex_);
  if (connections_.erase(from) == 0) return false;  // beginStop() came first, or a bug
  if (stopping_) {
    if (open_connections_ != nullptr) open_connections_->add(-1);
    return false;
  }
  connections_[to] = std::move(weak);
  return true;
}

void ConnectionRegistry::remove(Connection* connection) {
  std::lock_guard lock(mutex_);
  if (connections_.erase(connection) > 0 && open_connections_ != nullptr) {
    open_connections_->add(-1);
  }
}

size_t ConnectionRegistry::size() const {
  std::lock_guard lock(mutex_);
  return connections_.size();
}

std::vector<std::shared_ptr<Connection>> ConnectionRegistry::beginStop() {
  std::lock_guard lock(mutex_);
  stopping_ = true;
  std::vector<std::shared_ptr<Connection>> open;
  for (auto& [raw, weak] : connections_) {
    if (auto connection = weak.lock()) open.push_back(std::move(connection));
  }
  return open;
}

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

// stop() waits kStopGrace (5 s) in all; a client that does not answer the 1001 close frame within
// this is dropped, so one deaf client cannot use up the whole grace time.
constexpr std::chrono::seconds kStopCloseGrace{2};

// RFC 6455 §7.4: codes an endpoint may send. Anything else is a handler bug, sent as 1011.
bool sendableCloseCode(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1013) ||
         (code >= 3000 && code <= 4999);
}

// A close reason fits in a control frame (123 bytes), cut at a UTF-8 character boundary.
websocket::close_reason closeReason(uint16_t code, std::string_view reason) {
  constexpr size_t kMaxReason = websocket::reason_string::max_size_n;
  if (reason.size() > kMaxReason) {
    size_t cut = kMaxReason;
    while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
    reason = reason.substr(0, cut);
  }
  websocket::close_reason result(code);
  result.reason.assign(reason.data(), reason.size());
  return result;
}

class WebSocketSession;

// What the handler holds: a weak reference, so a handler that keeps its peer keeps neither the
// session nor its buffers alive.
class Peer final : public WebSocketPeer {
 public:
  Peer(std::weak_ptr<WebSocketSession> session, std::string remote_address)
      : session_(std::move(session)), remote_address_(std::move(remote_address)) {}
  bool sendText(std::string message) override { return send(std::move(message), false); }
  bool sendBinary(std::string message) override { return send(std::move(message), true); }
  void close(uint16_t code, std::string reason) override;
  std::string remoteAddress() const override { return remote_address_; }

 private:
  bool send(std::string message, bool binary);

  std::weak_ptr<WebSocketSession> session_;
  std::string remote_address_;
};

// One upgraded connection. The read loop, the write queue's writer, the close and every handler
// callback run on the socket's strand; enqueue() and requestClose() come from any thread and
// share only the members under mutex_.
class WebSocketSession final : public Connection,
                               public std::enable_shared_from_this<WebSocketSession> {
 public:
  WebSocketSession(WebSocketContext& context, WebSocketUpgrade upgrade)
      : context_(context),
        strand_(upgrade.socket.get_executor()),
        ws_(std::move(upgrade.socket)),
        request_(std::move(upgrade.request)),
        handler_(std::move(upgrade.handler)),
        remote_address_(std::move(upgrade.remote_address)),
        record_handshake_(std::move(upgrade.record_handshake)),
        close_guard_(strand_) {}
  ~WebSocketSession() override { context_.connections.remove(this); }

  void start(Connection* http_session) {
    if (!context_.connections.replace(http_session, this, weak_from_this())) {
      return finish();  // the server is stopping
    }
    const ServerLimits& limits = context_.limits;
    // Beast's own timer replaces the TCP stream's: handshake (and closing) timeout, and an idle
    // timeout that pings at half time, so a quiet client that answers pings stays.
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout timeout;
    timeout.handshake_timeout = limits.ws_handshake_timeout;
    timeout.idle_timeout = limits.ws_idle_timeout;
    timeout.keep_alive_pings = true;
    ws_.set_option(timeout);
    ws_.read_message_max(limits.ws_max_message_bytes);
    // The decorator sees every handshake response, the refusals Beast writes itself included.
    ws_.set_option(websocket::stream_base::decorator(
        [status = &handshake_status_](websocket::response_type& response) {
          response.set(http::field::server, "tendril");
          *status = response.result_int();
        }));
    ws_.async_accept(request_, [self = shared_from_this()](beast::error_code error) {
      self->onHandshake(error);
    });
  }

  // Connection: the server is stopping.
  void shutdown() override {
    refuseSends();
    asio::post(strand_, [self = shared_from_this()] {
      self->startClose(websocket::close_code::going_away, "server shutting down",
                       std::min<std::chrono::steady_clock::duration>(
                           self->context_.limits.ws_handshake_timeout, kStopCloseGrace));
    });
  }

  // From the peer, any thread.
  bool enqueue(std::string message, bool binary) {
    bool overflow = false;
    bool schedule = false;
    {
      std::lock_guard lock(mutex_);
      if (!accepting_sends_) return false;
      if (queued_bytes_ + message.size() > context_.limits.ws_max_queued_bytes) {
        accepting_sends_ = false;
        outbox_.clear();
        overflow = true;
      } else {
        queued_bytes_ += message.size();
        outbox_.push_back({std::move(message), binary});
        schedule = !write_scheduled_;
        write_scheduled_ = true;
      }
    }
    if (overflow) {
      asio::post(strand_, [self = shared_from_this()] {
        self->startClose(websocket::close_code::policy_error, "consumer too slow",
                         self->context_.limits.ws_handshake_timeout);
      });
      return false;
    }
    if (schedule) asio::post(strand_, [self = shared_from_this()] { self->writeNext(); });
    return true;
  }

  // A handler's close: the messages it queued before are written first (a final progress
  // message must arrive before the close frame), then the close starts. A client that does not
  // read them within ws_handshake_timeout is closed anyway.
  void requestClose(uint16_t code, std::string reason) {
    {
      std::lock_guard lock(mutex_);
      accepting_sends_ = false;  // nothing new; what is queued stays
    }
    if (!sendableCloseCode(code)) {
      std::cerr << "tendril: WebSocket handler closed with invalid code " << code << "\n";
      code = websocket::close_code::internal_error;
    }
    asio::post(strand_, [self = shared_from_this(), code, reason = std::move(reason)] {
      const auto grace = self->context_.limits.ws_handshake_timeout;
      bool writing = false;
      {
        std::lock_guard lock(self->mutex_);
        writing = self->write_scheduled_;
        if (writing) self->close_after_writes_ = PendingClose{code, reason};
      }
      if (!writing) return self->startClose(code, reason, grace);
      self->close_guard_.expires_after(grace);
      self->close_guard_.async_wait([self, code, reason, grace](beast::error_code error) {
        if (!error) self->startClose(code, reason, grace);
      });
    });
  }

 private:
  struct Outgoing {
    std::string data;
    bool binary;
  };
  struct PendingClose {
    uint16_t code;
    std::string reason;
  };

  void onHandshake(beast::error_code error) {
    // What was answered: 101, or Beast's 400/426 for a malformed handshake (the error then).
    if (record_handshake_) record_handshake_(handshake_status_ != 0 ? handshake_status_ : 400u);
    if (error || close_started_) return finish();
    opened_ = true;
    if (context_.open != nullptr) context_.open->add(1);
    {
      std::lock_guard lock(mutex_);
      accepting_sends_ = true;
    }
    auto peer = std::make_shared<Peer>(weak_from_this(), remote_address_);
    callHandler("onOpen", [&] { handler_->onOpen(std::move(peer)); });
    readNext();
  }

  void readNext() {
    ws_.async_read(read_buffer_, [self = shared_from_this()](beast::error_code error, size_t) {
      self->onRead(error);
    });
  }

  void onRead(beast::error_code error) {
    // Closed by either side, timed out, or refused by Beast (too big 1009, bad UTF-8 1007,
    // protocol error 1002: Beast has sent that close frame itself).
    if (error) return finish();
    if (context_.messages != nullptr) context_.messages->increment({"in"});
    if (!close_started_) {
      std::string_view payload(static_cast<const char*>(read_buffer_.data().data()),
                               read_buffer_.size());
      bool binary = ws_.got_binary();
      callHandler("onMessage", [&] { handler_->onMessage(payload, binary); });
    }
    read_buffer_.consume(read_buffer_.size());
    readNext();
  }

  // One async_write at a time; the message stays counted in queued_bytes_ until written.
  void writeNext() {
    std::optional<PendingClose> drained;
    {
      std::lock_guard lock(mutex_);
      if (outbox_.empty() || close_started_ || finished_) {
        write_scheduled_ = false;
        if (!close_started_ && !finished_) drained = std::exchange(close_after_writes_, {});
      }
      if (!write_scheduled_) {
        if (!drained) return;
      } else {
        in_flight_ = std::move(outbox_.front());
        outbox_.pop_front();
      }
    }
    if (drained) {
      return startClose(drained->code, drained->reason, context_.limits.ws_handshake_timeout);
    }
    ws_.binary(in_flight_.binary);
    ws_.async_write(
        asio::buffer(in_flight_.data),
        [self = shared_from_this()](beast::error_code error, size_t) { self->onWritten(error); });
  }

  void onWritten(beast::error_code error) {
    {
      std::lock_guard lock(mutex_);
      queued_bytes_ -= in_flight_.data.size();
    }
    in_flight_.data.clear();
    if (!error && context_.messages != nullptr) context_.messages->increment({"out"});
    writeNext();  // after an error the read side ends the session; writeNext() then stops
  }

  void refuseSends() {
    std::lock_guard lock(mutex_);
    accepting_sends_ = false;
    outbox_.clear();
  }

  // Sends the close frame (unless Beast is already closing) and drops the socket if the client
  // has not completed the close within `grace`: a client that does not read never will.
  void startClose(uint16_t code, std::string_view reason,
                  std::chrono::steady_clock::duration grace) {
    if (close_started_ || finished_) return;
    refuseSends();
    close_started_ = true;
    if (!opened_) {
      // Still in the handshake: nothing to say, the handshake fails.
      beast::get_lowest_layer(ws_).close();
      return;
    }
    close_guard_.expires_after(grace);
    close_guard_.async_wait([self = shared_from_this()](beast::error_code error) {
      if (!error) beast::get_lowest_layer(self->ws_).close();
    });
    if (!ws_.is_open()) return;  // Beast's read side is closing already; it may close once only
    ws_.async_close(closeReason(code, reason), [self = shared_from_this()](beast::error_code) {});
  }

  // The end, once: the read loop stopped, so the connection is over whatever the reason.
  void finish() {
    if (finished_) return;
    finished_ = true;
    refuseSends();
    close_guard_.cancel();
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws_).close();
    if (opened_) {
      if (context_.open != nullptr) context_.open->add(-1);
      callHandler("onClose", [&] { handler_->onClose(); });
    }
    handler_.reset();  // a handler holding its peer must not form a cycle with the session
  }

  // An exception from a callback costs this connection (1011), never the I/O thread.
  template <typename Call>
  void callHandler(const char* what, Call&& call) {
    try {
      call();
      return;
    } catch (const std::exception& caught) {
      std::cerr << "tendril: WebSocket handler " << what << " threw: " << caught.what() << "\n";
    } catch (...) {
      std::cerr << "tendril: WebSocket handler " << what << " threw a non-standard exception\n";
    }
    startClose(websocket::close_code::internal_error, "internal error",
               context_.limits.ws_handshake_timeout);
  }

  WebSocketContext& context_;
  beast::tcp_stream::executor_type strand_;
  websocket::stream<beast::tcp_stream> ws_;
  http::request<http::string_body> request_;  // the upgrade, read until the handshake completes
  std::shared_ptr<WebSocketHandler> handler_;
  std::string remote_address_;
  std::function<void(unsigned)> record_handshake_;
  asio::steady_timer close_guard_;

  // Strand only.
  unsigned handshake_status_ = 0;
  beast::flat_buffer read_buffer_;
  Outgoing in_flight_;
  bool opened_ = false;
  bool close_started_ = false;
  bool finished_ = false;

  // Shared with peers on other threads.
  std::mutex mutex_;
  std::deque<Outgoing> outbox_;
  size_t queued_bytes_ = 0;  // outbox_ and in_flight_
  bool accepting_sends_ = false;
  bool write_scheduled_ = false;
  std::optional<PendingClose> close_after_writes_;  // a handler's close waiting for the outbox
};

bool Peer::send(std::string message, bool binary) {
  std::shared_ptr<WebSocketSession> session = session_.lock();
  return session != nullptr && session->enqueue(std::move(message), binary);
}

void Peer::close(uint16_t code, std::string reason) {
  if (std::shared_ptr<WebSocketSession> session = session_.lock()) {
    session->requestClose(code, std::move(reason));
  }
}

}  // namespace

void startWebSocketSession(WebSocketContext& context, Connection* http_session,
                           WebSocketUpgrade upgrade) {
  std::make_shared<WebSocketSession>(context, std::move(upgrade))->start(http_session);
}

}  // namespace tendril::api
