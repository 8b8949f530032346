// WebSocket endpoints of the HTTP server (RFC 6455): the interface a route implements, and the
// peer it talks through. The transport lives in HttpServer; the network library stays out of
// this header, so handlers can be tested with a fake peer.
//
// A route is registered with Router::addWebSocket(path_template, route). For an upgrade request
// the server runs the route's accept step with the parsed Request (path parameters bound,
// remote_address filled), before any handshake: it either refuses with an ordinary HTTP Response,
// written as-is and followed by closing the connection (this is where authentication and policy
// checks answer 401/403 problem+json), or returns a handler, and the server then completes the
// handshake (101) and runs the connection.
//
// What the server promises for each connection (limits from ServerLimits):
// - An incoming message over ws_max_message_bytes closes with 1009, a text message that is not
//   UTF-8 with 1007, a protocol violation (bad framing, a fragmented control frame) with 1002;
//   the handler sees none of them, and only that connection ends.
// - Idle timeout with keep-alive pings (Beast's stream_base::timeout): the server checks every
//   half ws_idle_timeout; when the client has sent nothing since the last check it pings, and when
//   it has not answered by the next check (any frame counts) the socket is dropped without a close
//   frame (the client is not listening). So a quiet client that answers pings stays, and a silent
//   one goes after between half and all of ws_idle_timeout of silence.
// - A consumer too slow for what is sent to it: when unsent bytes would exceed
//   ws_max_queued_bytes, the send fails, the backlog is dropped and the connection closes with
//   1008. Sends are never blocking.
// - A close (by either side, by the limits above, or by HttpServer::stop() with 1001) waits a
//   bounded time for the client's close frame, then drops the socket: ws_handshake_timeout (at
//   most 2 s during stop()), or the idle timer for the closes Beast starts itself.
// - No extensions are negotiated (no permessage-deflate: no compression bombs), no subprotocol.
// - Bytes a client sends after its upgrade request and before the 101 response are discarded
//   (RFC 6455 §4.1 forbids sending frames before the handshake completes).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "api/router.h"

namespace tendril::api {

// The server side of one open WebSocket, handed to the handler in onOpen(). Thread-safe: every
// member may be called from any thread, also after the connection has ended (sends then return
// false, close() does nothing). Holding a peer does not keep the connection open, nor its memory
// alive beyond this small object. The one limit: a peer call must not race with ~HttpServer.
class WebSocketPeer {
 public:
  virtual ~WebSocketPeer() = default;
  // Queues one message; it is written after those queued before it. False when the connection
  // is closed or closing, or when the unsent bytes would exceed ServerLimits::ws_max_queued_bytes
  // (the connection is then closed with 1008 policy violation: its consumer is too slow).
  // `message` of sendText must be UTF-8; clients drop the connection otherwise.
  virtual bool sendText(std::string message) = 0;
  virtual bool sendBinary(std::string message) = 0;
  // Starts the closing handshake with `code` (RFC 6455 §7.4, e.g. 1000 normal, 1008 policy) and
  // `reason` (at most 123 bytes of UTF-8, longer is cut at a character). A code an endpoint may
  // not send (1005, 1006, 1015, below 1000...) is a bug and is sent as 1011. Messages queued
  // before the close are written first (a client that does not read them within
  // ws_handshake_timeout is closed anyway); later sends return false. Only the first close of a
  // connection counts.
  virtual void close(uint16_t code, std::string reason) = 0;
  // The client's IP address as text, as in Request::remote_address.
  virtual std::string remoteAddress() const = 0;
};

// What a route does with one connection. The server calls these on the connection's strand, one
// at a time, never concurrently for one connection (handlers of different connections do run in
// parallel). They run on I/O threads and must be quick: long work goes to a worker, which replies
// through the peer. An exception thrown by a callback closes that connection with 1011 (internal
// error), never the server.
class WebSocketHandler {
 public:
  virtual ~WebSocketHandler() = default;
  // Called once when the handshake has completed, before any onMessage(). Neither onOpen() nor
  // onClose() is called when the handshake fails, so resources belong in onOpen(), not in the
  // accept step.
  virtual void onOpen(std::shared_ptr<WebSocketPeer> peer) = 0;
  // One complete message (fragments are joined). `payload` is valid only during the call.
  // Not called any more once a close has started.
  virtual void onMessage(std::string_view payload, bool binary) = 0;
  // Called exactly once after onOpen(), when the connection has ended for whatever reason; the
  // server drops its reference to the handler afterwards. Exceptions are logged and ignored.
  virtual void onClose() {}
};

// The accept step's answer: a handler to upgrade, or (handler null) the HTTP response refusing
// it, sent as-is with `Connection: close`. A refusal with a status below 300 is a route bug and
// is answered 500 instead.
struct WebSocketAccept {
  std::shared_ptr<WebSocketHandler> handler;
  Response refusal;
};

// WebSocketRoute, the accept step itself, is declared in api/router.h:
//   using WebSocketRoute = std::function<WebSocketAccept(const Request&)>;
// It runs on an I/O thread like an HTTP handler; an exception thrown by it is answered 500.

}  // namespace tendril::api
