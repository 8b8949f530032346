// The HTTP/1.1 server under the Tendril API: asynchronous (Boost.Beast on Asio) with a fixed
// number of I/O threads, so a slow or hostile client costs a socket and a timer, never a thread
// (hanami-api.md §12 W2: four idle connections stalled Hanami's synchronous workers).
//
// Every request is bounded by ServerLimits; requests the server refuses itself get problem+json
// (400 malformed, 413 body, 431 headers, 503 connection limit), routed requests go to the Router.
//
// Threads: the I/O threads only read, parse and write. A parsed request goes to a pool of
// handler threads (ServerLimits::handler_threads), where the Router runs its handler, or the
// WebSocket route's accept step, so a handler may block on the store, a password hash or the
// disk without stalling other connections; the response is then written on the connection's
// strand. Each connection has at most one request with the pool at a time (HTTP/1.1 answers in
// order), so the pool's queue never holds more than max_connections requests. Work longer than
// a request (training, saving) still belongs to the service's scheduler, not to a handler.
// WebSocket callbacks (onOpen, onMessage, onClose) run on the connection's strand on an I/O
// thread, as api/websocket.h says, and must stay quick.
//
// A Response with `file` set is streamed from disk in 64 KiB pieces with its Content-Length (the
// file's size when opened); the client must accept some of it within every read_timeout. A file
// that cannot be opened any more is answered 404 (gone) or 500 problem+json instead.
//
// WebSocket upgrades (GET with `Connection: upgrade`, `Upgrade: websocket`) to a path with a
// WebSocket route run that route's accept step, then the handshake and the connection as
// api/websocket.h describes; an upgrade connection stays one of max_connections while open.
// Upgrade requests to a path without a WebSocket route are served as plain HTTP (Router).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "api/metrics.h"
#include "api/router.h"
#include "common/status.h"

namespace tendril::api {

class HttpServerImpl;  // Beast and Asio stay out of this header

struct ServerLimits {
  size_t max_body_bytes = 1024 * 1024;
  size_t max_header_bytes = 16 * 1024;  // request line and header fields together
  // The whole request (headers and body) must arrive within this time once it has started.
  std::chrono::seconds read_timeout{10};
  // A keep-alive connection with no new request for this long is closed.
  std::chrono::seconds idle_timeout{30};
  // Connections beyond this are answered 503 and closed at once. Open WebSockets count.
  size_t max_connections = 512;

  // WebSocket connections (api/websocket.h).
  // An incoming message (all its fragments together) larger than this closes with 1009.
  size_t ws_max_message_bytes = 1 << 20;
  // A client that sends no frame for this long is dropped (after between half and all of it). The
  // server pings at half time, so a quiet client that answers pings stays connected.
  std::chrono::seconds ws_idle_timeout{60};
  // Unsent outgoing bytes per connection; a send that would exceed it closes with 1008.
  size_t ws_max_queued_bytes = 8 << 20;
  // The opening handshake, and a closing one, must complete within this time.
  std::chrono::seconds ws_handshake_timeout{10};

  // Threads that run route handlers and WebSocket accept steps (see above); 0 picks
  // max(4, 2 x hardware threads).
  size_t handler_threads = 0;
};

class HttpServer {
 public:
  // `metrics` may be null; when given it must outlive the server, and the server registers its
  // request, latency and connection metrics in it (WebSocket upgrades as requests with status
  // 101), tendril_websocket_open_connections and tendril_websocket_messages_total, and the
  // handler pool's gauges tendril_handler_threads, tendril_handler_threads_busy and
  // tendril_handler_queue_depth (parsed requests waiting for a handler thread).
  HttpServer(Router router, ServerLimits limits, MetricsRegistry* metrics);
  ~HttpServer();  // stops if still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (port 0 picks a free one) and starts `threads` I/O threads and the handler
  // threads. Fails with kIo when the address cannot be bound, kInvalidArgument when it cannot be
  // parsed.
  Status start(const std::string& host, uint16_t port, size_t threads);

  // The bound port; valid after a successful start().
  uint16_t port() const;

  // Graceful shutdown: stops accepting, closes idle connections, sends open WebSockets a close
  // frame (1001 going away), lets requests being handled, responses being written and closing
  // handshakes finish (up to a few seconds in all), then waits for every handler still running
  // (however long it takes: a handler is never interrupted, so that nothing it uses is freed
  // under it), drops requests still queued, and joins the handler and I/O threads. Idempotent.
  void stop();

 private:
  std::unique_ptr<HttpServerImpl> impl_;
};

}  // namespace tendril::api
