// A synchronous client of the Tendril HTTP API (docs/api.md), for the CLI and for tests.
//
// One Client holds one keep-alive HTTP/1.1 connection (plain http only: put a TLS-terminating
// proxy in front of a remote service and use a tunnel, or run the CLI on the host). Every HTTP
// connect, write and read has a timeout; for a WebSocket the connect and the handshake do (its
// reads wait for the server). Replies other than 2xx become a Status carrying the problem's title
// and detail (the raw problem stays available for --json). An access token that the server refuses
// with 401 is refreshed once with the refresh token, the new pair is handed to `on_refreshed` (the
// CLI saves it), and the request is sent again.
//
// Uploads go in chunks and are resumable: the server is asked where to continue, so a failed
// chunk (or an earlier run that stopped) does not start the file again. Downloads stream to a
// file. Not thread-safe: one Client per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "client/config.h"
#include "common/status.h"

namespace tendril::client {

// host and port of an "http://host[:port]" address (no path, no https).
struct Endpoint {
  std::string host;
  std::string port;
};
Result<Endpoint> parseAddress(std::string_view address);

// A reply as it came: any status, the body as text.
struct Reply {
  unsigned status = 0;
  std::string content_type;
  std::string body;
};

// The Status for an HTTP reply: Ok for 2xx; otherwise the code of the status (409 split by the
// problem type into AlreadyExists and FailedPrecondition) with "title: detail" as the message.
Status statusFromReply(unsigned http_status, std::string_view body);

// Bytes done of total, called after each chunk.
using Progress = std::function<void(uint64_t done, uint64_t total)>;

// How to upload one file in chunks: where the server stands, and where each chunk goes.
struct ResumableUpload {
  std::function<Result<uint64_t>()> received;                // asks for the resume offset
  std::function<std::string(uint64_t offset)> chunk_target;  // PUT target of a chunk
  uint64_t chunk_bytes = 512 * 1024;  // must stay within the server's max_body_bytes
  int attempts = 5;                   // failed chunks tolerated before giving up
};

class WebSocket;

struct ClientOptions {
  std::chrono::seconds timeout{60};  // per connect, write and read
  std::function<void(const Credentials&)> on_refreshed;
  // For a session shared with other processes (the CLI's config file): `lock_session` takes an
  // exclusive lock held until the returned handle is dropped, and `saved_session` reads the pair
  // stored now. A refresh runs under the lock and first adopts a pair that another process saved
  // since this one read it, so a rotated refresh token is never presented twice (the server
  // would take that for a stolen token and end every session of the user).
  std::function<std::shared_ptr<void>()> lock_session;
  std::function<std::optional<Credentials>()> saved_session;
};

class Client {
 public:
  explicit Client(Credentials credentials, ClientOptions options = {});
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  const Credentials& credentials() const { return credentials_; }
  void setCredentials(Credentials credentials) { credentials_ = std::move(credentials); }

  // One request, any status; errors are transport failures only. `body` is sent with
  // `content_type` when not empty.
  Result<Reply> send(std::string_view method, const std::string& target,
                     const std::string& body = "",
                     std::string_view content_type = "application/json");
  // send(), and a non-2xx reply becomes an error (statusFromReply); lastProblem() keeps its body.
  Result<Reply> call(std::string_view method, const std::string& target,
                     const std::string& body = "",
                     std::string_view content_type = "application/json");
  // call() with a JSON body (null: none) and a parsed JSON reply (null for 204).
  Result<nlohmann::json> callJson(std::string_view method, const std::string& target,
                                  const nlohmann::json& body = nullptr);
  // The body of the last non-2xx reply (empty when the last call succeeded).
  const std::string& lastProblem() const { return last_problem_; }

  // GET `target` into `file` (written to "<file>.part", renamed when complete).
  Status download(const std::string& target, const std::filesystem::path& file,
                  const Progress& progress = nullptr);
  // Sends `file` from where the server stands (upload.received()) to its end.
  Status upload(const std::filesystem::path& file, const ResumableUpload& upload,
                const Progress& progress = nullptr);

  // A WebSocket on `target`, authenticated like every request (refreshing once on 401).
  Result<std::unique_ptr<WebSocket>> openWebSocket(const std::string& target);

 private:
  struct Connection;
  using Sink = std::function<Status(std::string_view chunk)>;
  Result<Reply> sendOnce(std::string_view method, const std::string& target,
                         const std::string& body, std::string_view content_type, const Sink& sink);
  Result<Reply> sendRefreshing(std::string_view method, const std::string& target,
                               const std::string& body, std::string_view content_type,
                               const Sink& sink);
  bool canRefresh(const std::string& target) const;
  Status refresh();

  Credentials credentials_;
  ClientOptions options_;
  std::unique_ptr<Connection> connection_;
  std::string last_problem_;
};

// A client WebSocket (text and binary messages), opened by Client::openWebSocket.
class WebSocket {
 public:
  struct Message {
    bool binary = false;
    std::string data;
  };
  virtual ~WebSocket() = default;
  virtual Status sendText(std::string_view text) = 0;
  virtual Status sendBinary(std::string_view bytes) = 0;
  // The next message; nullopt once the server closed the connection (closeCode() says how).
  virtual Result<std::optional<Message>> read() = 0;
  virtual int closeCode() const = 0;
  virtual void close() = 0;

  // Connects to `endpoint` and upgrades `target` with the credentials' header. A refused
  // upgrade is statusFromReply() of the server's reply.
  static Result<std::unique_ptr<WebSocket>> connect(const Endpoint& endpoint,
                                                    const Credentials& credentials,
                                                    const std::string& target,
                                                    std::chrono::seconds timeout);
};

}  // namespace tendril::client
