#include "api/http_server.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <iostream>
#include <mutex>
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
// File-backed responses are read and sent in pieces of this size: a download of any size costs
// one such buffer.
constexpr size_t kFileChunkBytes = 64 * 1024;

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

// A response body read from an open file piece by piece (Beast's Body concept, serializing
// side only). Content-Length is the size the file had when it was opened; a file that shrinks
// while it is sent fails the write, which ends the connection (the client sees a short body).
struct FileChunksBody {
  struct value_type {
    beast::file file;
    uint64_t size = 0;
  };

  static uint64_t size(const value_type& body) { return body.size; }

  class writer {
   public:
    using const_buffers_type = asio::const_buffer;

    template <bool is_request, class Fields>
    writer(const http::header<is_request, Fields>&, value_type& body) : body_(body) {}

    void init(beast::error_code& error) { error = {}; }

    boost::optional<std::pair<const_buffers_type, bool>> get(beast::error_code& error) {
      error = {};
      if (sent_ >= body_.size) return boost::none;
      size_t wanted = static_cast<size_t>(std::min<uint64_t>(chunk_.size(), body_.size - sent_));
      size_t got = body_.file.read(chunk_.data(), wanted, error);
      if (error) return boost::none;
      if (got == 0) {
        error = boost::system::errc::make_error_code(boost::system::errc::io_error);
        return boost::none;
      }
      sent_ += got;
      return std::make_pair(asio::const_buffer(chunk_.data(), got), sent_ < body_.size);
    }

   private:
    value_type& body_;
    uint64_t sent_ = 0;
    std::vector<char> chunk_ = std::vector<char>(kFileChunkBytes);
  };
};

// Opens `path` for a FileChunksBody. NotFound when it is gone (deleted between the handler and
// now), Internal for anything else unreadable; the path goes to the server log, never the reply.
Result<FileChunksBody::value_type> openResponseFile(const std::filesystem::path& path) {
  FileChunksBody::value_type body;
  beast::error_code error;
  body.file.open(path.c_str(), beast::file_mode::scan, error);
  if (error == boost::system::errc::no_such_file_or_directory) {
    return Status::NotFound("the file is no longer available");
  }
  struct stat info {};
  if (!error && (::fstat(body.file.native_handle(), &info) != 0 || !S_ISREG(info.st_mode))) {
    error = boost::system::errc::make_error_code(boost::system::errc::not_supported);
  }
  if (!error) body.size = body.file.size(error);
  if (error) return Status::Internal("cannot send " + path.string() + ": " + error.message());
  return body;
}

// The handler threads: they run route handlers and WebSocket accept steps, which may block
// (Argon2id, SQLite, disk), so that the I/O threads only move bytes. A connection queues at most
// one job at a time (its next request is read only after the response), so the queue holds at
// most max_connections jobs.
class HandlerPool {
 public:
  HandlerPool(Gauge* queued, Gauge* busy) : queued_(queued), busy_(busy) {}
  ~HandlerPool() { stop(); }
  HandlerPool(const HandlerPool&) = delete;
  HandlerPool& operator=(const HandlerPool&) = delete;

  void start(size_t threads) {
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
  }

  // False once stop() has begun: the job is not run (and is destroyed here).
  bool submit(std::function<void()> job) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return false;
      jobs_.push_back(std::move(job));
    }
    if (queued_ != nullptr) queued_->add(1);
    ready_.notify_one();
    return true;
  }

  // Lets the jobs running now finish (a handler is never interrupted), drops the queued ones and
  // joins the threads. Idempotent.
  void stop() {
    std::deque<std::function<void()>> dropped;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      dropped.swap(jobs_);
    }
    if (queued_ != nullptr) queued_->add(-static_cast<int64_t>(dropped.size()));
    ready_.notify_all();
    for (std::thread& thread : threads_) thread.join();
    threads_.clear();
    // Destroyed outside the lock: a job may hold the last reference to a session.
    dropped.clear();
  }

 private:
  void work() {
    while (true) {
      std::function<void()> job;
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stopping
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      if (queued_ != nullptr) queued_->add(-1);
      if (busy_ != nullptr) busy_->add(1);
      // Jobs catch their handlers' exceptions; this is the last line, as on the I/O threads.
      try {
        job();
      } catch (const std::exception& caught) {
        std::cerr << "tendril: handler thread caught: " << caught.what() << "\n";
      } catch (...) {
        std::cerr << "tendril: handler thread caught a non-standard exception\n";
      }
      job = nullptr;  // release what the job holds before counting it done
      if (busy_ != nullptr) busy_->add(-1);
    }
  }

  Gauge* queued_;
  Gauge* busy_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

size_t handlerThreadCount(size_t configured) {
  if (configured > 0) return configured;
  return std::max<size_t>(4, 2 * static_cast<size_t>(std::thread::hardware_concurrency()));
}

Gauge* optionalGauge(MetricsRegistry* metrics, std::string name, std::string help) {
  return metrics == nullptr ? nullptr : &metrics->gauge(std::move(name), std::move(help));
}

}  // namespace

class Session;

class HttpServerImpl {
 public:
  HttpServerImpl(Router router, ServerLimits limits, MetricsRegistry* metrics)
      : router_(std::move(router)),
        limits_(limits),
        connections_(optionalGauge(metrics, "tendril_http_open_connections",
                                   "HTTP connections currently open, WebSockets included")),
        web_sockets_{limits_, connections_},
        handler_threads_(optionalGauge(metrics, "tendril_handler_threads",
                                       "Threads that run request handlers")),
        handlers_(optionalGauge(metrics, "tendril_handler_queue_depth",
                                "Parsed requests waiting for a handler thread"),
                  optionalGauge(metrics, "tendril_handler_threads_busy",
                                "Handler threads running a request handler now")) {
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
  HandlerPool& handlers() { return handlers_; }

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
  Gauge* handler_threads_;
  // stop() joins it before the I/O threads; a job it drops may release a session, so it is
  // declared before io_context_ (and destroyed after it).
  HandlerPool handlers_;
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

// One connection: reads requests one at a time under the read/idle deadlines, hands each to the
// handler pool (route handler or WebSocket accept step) and writes the response, or hands the
// socket to a WebSocket session on an accepted upgrade. All of its socket work runs on its own
// strand; while a request is with the pool, nothing of the session but `strand_` and `server_` is
// touched off the strand, and the socket has no operation pending.
class Session : public Connection, public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServerImpl& server)
      : remote_address_(remoteAddressOf(socket)),
        strand_(socket.get_executor()),
        stream_(std::move(socket)),
        server_(server) {}
  ~Session() override { server_.connections().remove(this); }

  void start() {
    if (!server_.connections().add(this, weak_from_this())) return close();
    asio::dispatch(stream_.get_executor(),
                   [self = shared_from_this()] { self->waitForRequest(/*first=*/true); });
  }

  // Asks the session to end: at once when it is reading, after the response being prepared or
  // written.
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

    bool submitted = server_.handlers().submit(
        [self = shared_from_this(), request = std::move(request),
         is_upgrade = websocket::is_upgrade(message), keep_alive = message.keep_alive(),
         started]() mutable { self->handle(std::move(request), is_upgrade, keep_alive, started); });
    if (!submitted) close();  // the server is stopping
  }

  // What a handler thread prepared for the strand: a response to write (its file opened), or an
  // accepted upgrade.
  struct Outcome {
    Response response;
    std::optional<FileChunksBody::value_type> file;  // set when response.file was
    bool keep_alive = false;
    std::shared_ptr<WebSocketHandler> upgrade;  // non-null: upgrade instead of responding
    std::string route;
  };

  // On a handler thread: runs the route (or the WebSocket accept step), which may block, opens a
  // response file, and posts the outcome back to the strand.
  void handle(Request request, bool is_upgrade, bool keep_alive, Clock::time_point started) {
    auto outcome = std::make_shared<Outcome>();
    outcome->keep_alive = keep_alive;
    bool answered = false;
    if (is_upgrade) {
      WebSocketAccept accept;
      answered = server_.router().acceptWebSocket(request, &accept, &outcome->route);
      if (answered && accept.handler != nullptr) {
        outcome->upgrade = std::move(accept.handler);
      } else if (answered) {
        outcome->response = std::move(accept.refusal);
        outcome->keep_alive = false;
      }
    }
    if (!answered) {
      Dispatched dispatched = server_.router().dispatch(request);
      outcome->response = std::move(dispatched.response);
      outcome->route = std::move(dispatched.route);
    }
    if (outcome->upgrade == nullptr && !outcome->response.file.empty()) {
      Result<FileChunksBody::value_type> file = openResponseFile(outcome->response.file);
      if (file.ok()) {
        outcome->file = std::move(*file);
      } else {
        outcome->response = Response::problem(file.status(), request.path);
      }
    }
    if (outcome->upgrade == nullptr) {
      server_.recordRequest(request.method, outcome->route, outcome->response.status, started);
    }
    asio::post(strand_, [self = shared_from_this(), outcome, started] {
      if (outcome->upgrade != nullptr) {
        return self->upgrade(std::move(outcome->upgrade), std::move(outcome->route), started);
      }
      if (outcome->file) {
        return self->writeFile(std::move(outcome->response), std::move(*outcome->file),
                               outcome->keep_alive);
      }
      self->write(std::move(outcome->response), outcome->keep_alive);
    });
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

  template <class Body>
  std::shared_ptr<http::response<Body>> makeMessage(const Response& response, bool keep_alive,
                                                    typename Body::value_type body) {
    auto message = std::make_shared<http::response<Body>>();
    message->version(11);
    message->result(response.status);
    message->set(http::field::server, "tendril");
    message->set(http::field::content_type, response.content_type);
    // Set-Cookie may repeat (one per cookie); every other extra header replaces a default.
    for (const auto& [name, value] : response.headers) {
      if (beast::iequals(name, "Set-Cookie")) {
        message->insert(name, value);
      } else {
        message->set(name, value);
      }
    }
    message->body() = std::move(body);
    message->keep_alive(keep_alive && !stopping_ && !server_.stopping());
    message->prepare_payload();
    return message;
  }

  void write(Response response, bool keep_alive) {
    std::string body = std::move(response.body);
    auto message = makeMessage<http::string_body>(response, keep_alive, std::move(body));
    writing_ = true;
    // A client that does not read its response is as slow as one that does not send.
    stream_.expires_after(server_.limits().read_timeout);
    http::async_write(stream_, *message,
                      [self = shared_from_this(), message](beast::error_code error, size_t) {
                        self->written(error, message->keep_alive());
                      });
  }

  // A file of any size: the client must take some of it within each read timeout (a whole
  // download may take longer than one).
  void writeFile(Response response, FileChunksBody::value_type file, bool keep_alive) {
    auto message = makeMessage<FileChunksBody>(response, keep_alive, std::move(file));
    auto serializer = std::make_shared<http::response_serializer<FileChunksBody>>(*message);
    writing_ = true;
    writeFilePiece(std::move(message), std::move(serializer));
  }

  void writeFilePiece(std::shared_ptr<http::response<FileChunksBody>> message,
                      std::shared_ptr<http::response_serializer<FileChunksBody>> serializer) {
    stream_.expires_after(server_.limits().read_timeout);
    http::response_serializer<FileChunksBody>& next = *serializer;
    http::async_write_some(
        stream_, next,
        [self = shared_from_this(), message = std::move(message),
         serializer = std::move(serializer)](beast::error_code error, size_t) mutable {
          if (error || serializer->is_done()) return self->written(error, message->keep_alive());
          self->writeFilePiece(std::move(message), std::move(serializer));
        });
  }

  void written(beast::error_code error, bool keep_alive) {
    writing_ = false;
    if (error) return close();
    if (!keep_alive) return linger();
    waitForRequest(/*first=*/false);
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
  tcp::socket::executor_type strand_;  // the socket's; copied so handler threads need not ask
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
  size_t handler_threads = handlerThreadCount(limits_.handler_threads);
  handlers_.start(handler_threads);
  if (handler_threads_ != nullptr) handler_threads_->add(static_cast<int64_t>(handler_threads));
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
  // Handlers still running are waited for (whatever the grace time: they cannot be interrupted,
  // and they use what the server's owner frees after stop()); queued requests are dropped. The
  // I/O threads still run meanwhile, so a handler finishing now may still get its response out.
  handlers_.stop();
  if (handler_threads_ != nullptr) handler_threads_->add(-handler_threads_->value());
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
