#include "api/http_server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <cctype>
#include <future>
#include <iostream>
#include <optional>
#include <thread>
#include <vector>

#include "api/websocket_session.h"

namespace tendril::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr size_t kFirstReadBytes = 4096;
// After a response that closes the connection, unread request bytes (say, the rest of a refused
// body) are drained for this long, so the client sees the response instead of a reset.
constexpr std::chrono::seconds kLingerTime{2};
constexpr std::chrono::seconds kStopGrace{5};

// A method label from a bounded set, whatever the client sent.
std::string methodLabel(std::string_view method) {
  for (std::string_view known : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    if (method == known) return std::string(known);
  }
  return "OTHER";
}

// The client's address as text; an IPv4 client of a dual-stack listener in dotted form, so that
// one client has one spelling (rate limits key on it).
std::string remoteAddressOf(const tcp::socket& socket) {
  beast::error_code error;
  tcp::endpoint endpoint = socket.remote_endpoint(error);
  if (error) return "";
  asio::ip::address address = endpoint.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).to_string();
  }
  return address.to_string();
}

}  // namespace

class Session;

class HttpServerImpl {
 public:
  HttpServerImpl(Router router, ServerLimits limits, MetricsRegistry* metrics)
      : router_(std::move(router)),
        limits_(limits),
        connections_(metrics == nullptr ? nullptr
                                        : &metrics->gauge("tendril_http_open_connections",
                                                          "HTTP connections currently open, "
                                                          "WebSockets included")),
        web_sockets_{limits_, connections_} {
    if (metrics != nullptr) {
      requests_ = &metrics->counter("tendril_http_requests_total",
                                    "HTTP requests answered, by method, route template and status",
                                    {"method", "route", "status"});
      latency_ = &metrics->histogram("tendril_http_request_duration_seconds",
                                     "Time from a complete request to its response being queued",
                                     {"route"}, defaultLatencyBuckets());
      rejected_ = &metrics->counter("tendril_http_connections_rejected_total",
                                    "Connections refused with 503 at the connection limit", {});
      web_sockets_.open = &metrics->gauge("tendril_websocket_open_connections",
                                          "WebSocket connections past the handshake, still open");
      web_sockets_.messages =
          &metrics->counter("tendril_websocket_messages_total",
                            "WebSocket messages received (in) and sent (out)", {"direction"});
    }
  }

  ~HttpServerImpl() { stop(); }

  Status start(const std::string& host, uint16_t port, size_t threads);
  void stop();
  uint16_t port() const { return port_; }

  void recordRequest(std::string_view method, const std::string& route, unsigned status,
                     Clock::time_point started) {
    if (requests_ == nullptr) return;
    std::string label = route.empty() ? "unmatched" : route;
    requests_->increment({methodLabel(method), label, std::to_string(status)});
    latency_->observe({label}, std::chrono::duration<double>(Clock::now() - started).count());
  }

  const Router& router() const { return router_; }
  const ServerLimits& limits() const { return limits_; }
  bool stopping() const { return stopping_.load(); }
  ConnectionRegistry& connections() { return connections_; }
  WebSocketContext& webSockets() { return web_sockets_; }

 private:
  void accept();
  void onAccept(beast::error_code error, tcp::socket socket);
  void reject(tcp::socket& socket);

  Router router_;
  ServerLimits limits_;
  Counter* requests_ = nullptr;
  Histogram* latency_ = nullptr;
  Counter* rejected_ = nullptr;

  ConnectionRegistry connections_;
  WebSocketContext web_sockets_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;
  uint16_t port_ = 0;

  // Declared after what sessions touch on destruction: the context is destroyed first, and with
  // it any session still held by an abandoned handler.
  asio::io_context io_context_;
  std::optional<tcp::acceptor> acceptor_;
  std::optional<asio::steady_timer> accept_retry_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
};

// One connection: reads requests one at a time under the read/idle deadlines, dispatches them
// and writes responses, or hands the socket to a WebSocket session on an accepted upgrade. All of
// its work runs on its own strand.
class Session : public Connection, public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServerImpl& server)
      : remote_address_(remoteAddressOf(socket)), stream_(std::move(socket)), server_(server) {}
  ~Session() override { server_.connections().remove(this); }

  void start() {
    if (!server_.connections().add(this, weak_from_this())) return close();
    asio::dispatch(stream_.get_executor(),
                   [self = shared_from_this()] { self->waitForRequest(/*first=*/true); });
  }

  // Asks the session to end: at once when it is reading, after the response being written.
  void shutdown() override {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      self->stopping_ = true;
      if (!self->writing_) self->stream_.cancel();
    });
  }

 private:
  // Waits for the first byte of the next request: a fresh connection gets the read timeout (a
  // client that connects and says nothing is slow), a kept-alive one the idle timeout.
  void waitForRequest(bool first) {
    if (stopping_ || server_.stopping()) return close();
    if (buffer_.size() > 0) return readRequest();  // a pipelined request is already here
    stream_.expires_after(first ? server_.limits().read_timeout : server_.limits().idle_timeout);
    stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                            [self = shared_from_this()](beast::error_code error, size_t bytes) {
                              if (error) return self->close();
                              self->buffer_.commit(bytes);
                              self->readRequest();
                            });
  }

  // Once a request has started, all of it must arrive within the read timeout: the deadline is
  // set once, so trickling bytes (slowloris) does not extend it.
  void readRequest() {
    parser_.emplace();
    parser_->header_limit(
        static_cast<uint32_t>(std::min<size_t>(server_.limits().max_header_bytes, UINT32_MAX)));
    parser_->body_limit(server_.limits().max_body_bytes);
    parser_->eager(false);  // stop at the end of the header, so readHeader() counts it exactly
    header_bytes_ = 0;
    stream_.expires_after(server_.limits().read_timeout);
    readHeader();
  }

  // Beast applies header_limit to what one parse step sees, and consumes complete header
  // fields as it goes, so many small fields sent in pieces could pass it; the total is counted
  // here instead.
  void readHeader() {
    http::async_read_some(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code error, size_t consumed) {
          self->header_bytes_ += consumed;
          if (!error && self->header_bytes_ > self->server_.limits().max_header_bytes) {
            error = http::error::header_limit;
          }
          if (error || self->parser_->is_done()) return self->onRead(error);
          if (!self->parser_->is_header_done()) return self->readHeader();
          http::async_read(
              self->stream_, self->buffer_, *self->parser_,
              [self](beast::error_code body_error, size_t) { self->onRead(body_error); });
        });
  }

  void onRead(beast::error_code error) {
    Clock::time_point started = Clock::now();
    if (error == http::error::body_limit) {
      return refuse(
          TransportProblem::kBodyTooLarge,
          "the body exceeds " + std::to_string(server_.limits().max_body_bytes) + " bytes");
    }
    if (error == http::error::header_limit) {
      return refuse(TransportProblem::kHeadersTooLarge,
                    "the request line and headers exceed " +
                        std::to_string(server_.limits().max_header_bytes) + " bytes");
    }
    if (error == http::error::end_of_stream || error == http::error::partial_message) {
      return close();  // the client went away
    }
    if (error &&
        error.category() == beast::http::make_error_code(http::error::bad_method).category()) {
      return refuse(TransportProblem::kMalformedRequest, "the request is not valid HTTP/1.1");
    }
    if (error) return close();  // timeout, reset, cancelled by stop()

    http::request<http::string_body>& message = parser_->get();
    Request request;
    request.method = std::string(message.method_string());
    std::string_view target(message.target().data(), message.target().size());
    if (target.empty() || target.front() != '/') {
      return refuse(TransportProblem::kMalformedRequest,
                    "the request target must be an absolute path");
    }
    size_t question = target.find('?');
    request.path = std::string(target.substr(0, question));
    if (question != std::string_view::npos)
      request.query = std::string(target.substr(question + 1));
    for (const auto& field : message) {
      std::string name(field.name_string());
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      std::string& value = request.headers[name];
      value += (value.empty() ? "" : ", ") + std::string(field.value());
    }
    request.body = std::move(message.body());
    request.remote_address = remote_address_;

    if (websocket::is_upgrade(message)) {
      WebSocketAccept accept;
      std::string route;
      if (server_.router().acceptWebSocket(request, &accept, &route)) {
        if (accept.handler != nullptr) return upgrade(std::move(accept.handler), route, started);
        server_.recordRequest(request.method, route, accept.refusal.status, started);
        return write(std::move(accept.refusal), /*keep_alive=*/false);
      }
    }
    Dispatched dispatched = server_.router().dispatch(request);
    server_.recordRequest(request.method, dispatched.route, dispatched.response.status, started);
    write(std::move(dispatched.response), message.keep_alive());
  }

  // The socket, with nothing pending on it, and the request go to a WebSocket session, which
  // takes this session's place in the registry; this session then ends with no work left.
  void upgrade(std::shared_ptr<WebSocketHandler> handler, std::string route,
               Clock::time_point started) {
    HttpServerImpl& server = server_;
    WebSocketUpgrade opening{stream_.release_socket(), parser_->release(), std::move(handler),
                             remote_address_,
                             [&server, route = std::move(route), started](unsigned status) {
                               server.recordRequest("GET", route, status, started);
                             }};
    startWebSocketSession(server_.webSockets(), this, std::move(opening));
  }

  // Answers a request the server refuses before routing, then closes: the rest of the stream
  // cannot be trusted to be in sync.
  void refuse(TransportProblem problem, std::string detail) {
    Response response = Response::problem(problem, detail);
    server_.recordRequest("OTHER", "", response.status, Clock::now());
    write(std::move(response), /*keep_alive=*/false);
  }

  void write(Response response, bool keep_alive) {
    auto message = std::make_shared<http::response<http::string_body>>();
    message->version(11);
    message->result(response.status);
    message->set(http::field::server, "tendril");
    message->set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) message->set(name, value);
    message->body() = std::move(response.body);
    message->keep_alive(keep_alive && !stopping_ && !server_.stopping());
    message->prepare_payload();
    writing_ = true;
    // A client that does not read its response is as slow as one that does not send.
    stream_.expires_after(server_.limits().read_timeout);
    http::async_write(stream_, *message,
                      [self = shared_from_this(), message](beast::error_code error, size_t) {
                        self->writing_ = false;
                        if (error) return self->close();
                        if (!message->keep_alive()) return self->linger();
                        self->waitForRequest(/*first=*/false);
                      });
  }

  void linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (stopping_) return close();
    stream_.expires_after(kLingerTime);
    drain();
  }

  void drain() {
    stream_.async_read_some(asio::buffer(drain_buffer_),
                            [self = shared_from_this()](beast::error_code error, size_t) {
                              if (error) return self->close();
                              self->drain();
                            });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  std::string remote_address_;
  beast::tcp_stream stream_;
  HttpServerImpl& server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  size_t header_bytes_ = 0;  // request line and header fields of the request being read
  std::array<char, 4096> drain_buffer_{};
  bool writing_ = false;
  bool stopping_ = false;
};

Status HttpServerImpl::start(const std::string& host, uint16_t port, size_t threads) {
  if (started_) return Status::Precondition("the server was already started");
  if (threads == 0) return Status::Invalid("at least one I/O thread is needed");
  beast::error_code error;
  tcp::resolver resolver(io_context_);
  auto endpoints = resolver.resolve(host, std::to_string(port),
                                    tcp::resolver::numeric_service | tcp::resolver::passive, error);
  if (error || endpoints.empty()) {
    return Status::Invalid("cannot resolve listen address '" + host + "': " + error.message());
  }
  tcp::endpoint endpoint = endpoints.begin()->endpoint();
  acceptor_.emplace(asio::make_strand(io_context_));
  std::string where = host + ":" + std::to_string(port);
  acceptor_->open(endpoint.protocol(), error);
  if (!error) acceptor_->set_option(asio::socket_base::reuse_address(true), error);
  if (!error) acceptor_->bind(endpoint, error);
  if (!error) acceptor_->listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    acceptor_.reset();
    return Status::Io("cannot listen on " + where + ": " + error.message());
  }
  port_ = acceptor_->local_endpoint().port();
  accept_retry_.emplace(acceptor_->get_executor());
  started_ = true;
  work_.emplace(io_context_.get_executor());
  accept();
  for (size_t i = 0; i < threads; ++i) {
    threads_.emplace_back([this] {
      // Handlers catch their own exceptions; this is the last line so that a bug in a completion
      // handler costs one connection, not the process.
      while (true) {
        try {
          io_context_.run();
          return;
        } catch (const std::exception& caught) {
          std::cerr << "tendril: I/O thread caught: " << caught.what() << "\n";
        }
      }
    });
  }
  return Status::Ok();
}

void HttpServerImpl::accept() {
  acceptor_->async_accept(
      asio::make_strand(io_context_),
      [this](beast::error_code error, tcp::socket socket) { onAccept(error, std::move(socket)); });
}

void HttpServerImpl::onAccept(beast::error_code error, tcp::socket socket) {
  if (stopping_ || !acceptor_->is_open()) return;
  if (error) {
    // Typically out of file descriptors: back off briefly instead of spinning.
    std::cerr << "tendril: accept failed: " << error.message() << "\n";
    accept_retry_->expires_after(std::chrono::milliseconds(50));
    accept_retry_->async_wait([this](beast::error_code) {
      if (!stopping_) accept();
    });
    return;
  }
  // Only this strand adds connections, so the count cannot grow between check and add.
  if (connections_.size() >= limits_.max_connections) {
    reject(socket);
  } else {
    std::make_shared<Session>(std::move(socket), *this)->start();
  }
  accept();
}

// Over the connection limit: one non-blocking attempt to say 503, then close. Nothing is
// queued for the client, so a flood of connections costs no memory.
void HttpServerImpl::reject(tcp::socket& socket) {
  if (rejected_ != nullptr) rejected_->increment({});
  std::string body = renderProblem(problemKindFor(TransportProblem::kServiceUnavailable),
                                   "too many open connections; retry later");
  std::string reply =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: " + std::string(kProblemContentType) +
      "\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  beast::error_code ignored;
  socket.non_blocking(true, ignored);
  socket.write_some(asio::buffer(reply), ignored);
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

void HttpServerImpl::stop() {
  if (!started_ || stopping_.exchange(true)) return;
  // Close the acceptor on its strand and wait for it: after this no session can be created, so
  // the list below is complete. (A post alone may never run once io_context_ is stopped.)
  std::promise<void> acceptor_closed;
  asio::post(acceptor_->get_executor(), [this, &acceptor_closed] {
    beast::error_code ignored;
    acceptor_->close(ignored);
    accept_retry_->cancel();
    acceptor_closed.set_value();
  });
  acceptor_closed.get_future().wait();
  std::vector<std::shared_ptr<Connection>> open = connections_.beginStop();
  for (auto& connection : open) connection->shutdown();
  open.clear();  // the connections' own handlers now decide when they end
  Clock::time_point deadline = Clock::now() + kStopGrace;
  while (connections_.size() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  work_.reset();
  io_context_.stop();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

HttpServer::HttpServer(Router router, ServerLimits limits, MetricsRegistry* metrics)
    : impl_(std::make_unique<HttpServerImpl>(std::move(router), limits, metrics)) {}

HttpServer::~HttpServer() = default;

Status HttpServer::start(const std::string& host, uint16_t port, size_t threads) {
  return impl_->start(host, port, threads);
}

uint16_t HttpServer::port() const { return impl_->port(); }

void HttpServer::stop() { impl_->stop(); }

}  // namespace tendril::api
