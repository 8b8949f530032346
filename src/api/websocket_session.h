// Private to the api module: the connection bookkeeping HttpServer shares with its WebSocket
// sessions, and the WebSocket session itself (the transport behind api/websocket.h).
//
// A connection starts as an HTTP session; an accepted upgrade hands its socket to a WebSocket
// session, which takes over its place in the ConnectionRegistry (so it still counts toward
// max_connections and stop() still reaches it). Thread safety: ConnectionRegistry is safe from
// any thread; startWebSocketSession() is called on the connection's strand.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api/http_server.h"
#include "api/metrics.h"
#include "api/websocket.h"

namespace tendril::api {

// One open client connection, HTTP or WebSocket.
class Connection {
 public:
  virtual ~Connection() = default;
  // Asks the connection to end soon (the server is stopping). Any thread; the connection ends on
  // its own strand and unregisters itself when it is destroyed.
  virtual void shutdown() = 0;
};

// The open connections of one server, for max_connections and for stop().
class ConnectionRegistry {
 public:
  explicit ConnectionRegistry(Gauge* open_connections) : open_connections_(open_connections) {}

  // Tracks a new connection. False once beginStop() has run: the caller must close at once.
  bool add(Connection* connection, std::weak_ptr<Connection> weak);
  // `to` takes over the socket, and the place, of `from` (an upgrade). False once beginStop() has
  // run; `from` is then no longer tracked either, and `to` must close at once.
  bool replace(Connection* from, Connection* to, std::weak_ptr<Connection> weak);
  // Forgets a connection; does nothing when it is not tracked (any more).
  void remove(Connection* connection);
  size_t size() const;
  // Refuses further add()/replace() and returns the connections open now: after this no other
  // connection can appear, so shutting these down reaches them all.
  std::vector<std::shared_ptr<Connection>> beginStop();

 private:
  Gauge* open_connections_;  // null without metrics
  mutable std::mutex mutex_;
  std::map<Connection*, std::weak_ptr<Connection>> connections_;
  bool stopping_ = false;
};

// What WebSocket sessions share with their server; outlives every session.
struct WebSocketContext {
  const ServerLimits& limits;
  ConnectionRegistry& connections;
  Gauge* open = nullptr;        // tendril_websocket_open_connections; null without metrics
  Counter* messages = nullptr;  // tendril_websocket_messages_total{direction="in|out"}
};

// An upgrade the route has accepted.
struct WebSocketUpgrade {
  boost::asio::ip::tcp::socket socket;  // nothing pending on it; its executor is a strand
  boost::beast::http::request<boost::beast::http::string_body> request;
  std::shared_ptr<WebSocketHandler> handler;
  std::string remote_address;
  // Called once with the handshake's HTTP status (101, or Beast's 400/426 for a bad handshake).
  std::function<void(unsigned status)> record_handshake;
};

// Replaces `http_session` in the registry by a WebSocket session that completes the handshake and
// runs `upgrade.handler` (the contract in api/websocket.h). Called on the socket's strand.
void startWebSocketSession(WebSocketContext& context, Connection* http_session,
                           WebSocketUpgrade upgrade);

}  // namespace tendril::api
