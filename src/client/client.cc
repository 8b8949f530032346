#include "client/client.h"

// clang-format off
#include <utility>  // before Asio: boost/asio/awaitable.hpp uses std::exchange without including it
// clang-format on

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fstream>
#include <limits>
#include <vector>

namespace tendril::client {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kUserAgent = "tendril-cli/0.1.0";
constexpr std::string_view kProblemBase = "https://tendril.dev/problems/";

Code codeForHttpStatus(unsigned status, std::string_view type) {
  switch (status) {
    case 400:
    case 405:
    case 413:
    case 415:
    case 431:
      return Code::kInvalidArgument;
    case 401:
      return Code::kUnauthenticated;
    case 403:
      return Code::kPermissionDenied;
    case 404:
      return Code::kNotFound;
    case 409:
      return type == "already-exists" ? Code::kAlreadyExists : Code::kFailedPrecondition;
    case 429:
      return Code::kResourceExhausted;
    default:
      return status >= 400 && status < 500 ? Code::kInvalidArgument : Code::kInternal;
  }
}

}  // namespace

Result<Endpoint> parseAddress(std::string_view address) {
  std::string_view rest = address;
  if (rest.starts_with("https://")) {
    return Status::Invalid(
        "https is not supported by the CLI (use http:// on a trusted "
        "network, or a tunnel): " +
        std::string(address));
  }
  if (rest.starts_with("http://")) rest.remove_prefix(7);
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.empty() || rest.find('/') != std::string_view::npos) {
    return Status::Invalid("address must look like http://host:port, got '" + std::string(address) +
                           "'");
  }
  Endpoint endpoint;
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && rest.find(']') == std::string_view::npos) {
    endpoint.host = std::string(rest.substr(0, colon));
    endpoint.port = std::string(rest.substr(colon + 1));
  } else {
    endpoint.host = std::string(rest);
    endpoint.port = "80";
  }
  if (endpoint.host.empty() || endpoint.port.empty() ||
      endpoint.port.find_first_not_of("0123456789") != std::string::npos) {
    return Status::Invalid("address must look like http://host:port, got '" + std::string(address) +
                           "'");
  }
  return endpoint;
}

Status statusFromReply(unsigned http_status, std::string_view body) {
  if (http_status >= 200 && http_status < 300) return Status::Ok();
  nlohmann::json problem = nlohmann::json::parse(body, nullptr, false);
  std::string type, title, detail;
  if (problem.is_object()) {
    type = problem.value("type", "");
    title = problem.value("title", "");
    detail = problem.value("detail", "");
  }
  if (type.starts_with(kProblemBase)) type.erase(0, kProblemBase.size());
  std::string message = title.empty() ? "HTTP " + std::to_string(http_status) : title;
  if (!detail.empty()) message += ": " + detail;
  return {codeForHttpStatus(http_status, type), message};
}

// --- the connection ---------------------------------------------------------------------------

struct Client::Connection {
  asio::io_context io;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  Endpoint endpoint;
  std::string address;  // the address `endpoint` was parsed from
  int requests = 0;     // sent on the current connection

  void drop() {
    if (stream) {
      beast::error_code ignored;
      stream->socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
      stream.reset();
    }
    buffer.clear();
    requests = 0;
  }

  Status open(const std::string& wanted, std::chrono::seconds timeout) {
    if (stream && address == wanted) return Status::Ok();
    drop();
    Result<Endpoint> parsed = parseAddress(wanted);
    if (!parsed.ok()) return parsed.status();
    endpoint = *parsed;
    address = wanted;
    beast::error_code error;
    asio::ip::tcp::resolver resolver(io);
    auto results = resolver.resolve(endpoint.host, endpoint.port, error);
    if (error) return Status::Io("cannot resolve " + endpoint.host + ": " + error.message());
    stream.emplace(io);
    stream->expires_after(timeout);
    stream->connect(results, error);
    if (error) {
      stream.reset();
      return Status::Io("cannot connect to " + wanted + ": " + error.message());
    }
    return Status::Ok();
  }
};

Client::Client(Credentials credentials, ClientOptions options)
    : credentials_(std::move(credentials)),
      options_(std::move(options)),
      connection_(std::make_unique<Connection>()) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

Result<Reply> Client::sendOnce(std::string_view method, const std::string& target,
                               const std::string& body, std::string_view content_type,
                               const Sink& sink) {
  if (credentials_.address.empty()) {
    return Status::Unauthenticated(
        "no service address: run `tendril login` or set "
        "TENDRIL_ADDRESS");
  }
  http::verb verb = http::string_to_verb(beast::string_view(method.data(), method.size()));
  if (verb == http::verb::unknown) return Status::Invalid("unknown method " + std::string(method));
  Connection& connection = *connection_;

  // A kept-alive connection the server closed meanwhile fails before any reply byte: that
  // request is sent once more on a fresh connection.
  for (int attempt = 0;; ++attempt) {
    TENDRIL_RETURN_IF_ERROR(connection.open(credentials_.address, options_.timeout));
    const bool reused = connection.requests > 0;
    ++connection.requests;
    http::request<http::string_body> request(verb, target, 11);
    request.set(http::field::host, connection.endpoint.host + ":" + connection.endpoint.port);
    request.set(http::field::user_agent, beast::string_view(kUserAgent.data(), kUserAgent.size()));
    request.set(http::field::accept, "application/json, application/problem+json, */*");
    if (!credentials_.api_key.empty()) {
      request.set("X-API-Key", credentials_.api_key);
    } else if (!credentials_.access_token.empty()) {
      request.set(http::field::authorization, "Bearer " + credentials_.access_token);
    }
    if (!body.empty() || verb == http::verb::post || verb == http::verb::put ||
        verb == http::verb::patch) {
      request.set(http::field::content_type,
                  beast::string_view(content_type.data(), content_type.size()));
      request.body() = body;
    }
    request.keep_alive(true);
    request.prepare_payload();

    beast::error_code error;
    connection.stream->expires_after(options_.timeout);
    http::write(*connection.stream, request, error);
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    if (!error) {
      connection.stream->expires_after(options_.timeout);
      http::read_header(*connection.stream, connection.buffer, parser, error);
    }
    if (error) {
      connection.drop();
      if (reused && attempt == 0) continue;
      return Status::Io(std::string(method) + " " + target + ": " + error.message());
    }

    Reply reply;
    reply.status = parser.get().result_int();
    reply.content_type = std::string(parser.get()[http::field::content_type]);
    const bool success = reply.status >= 200 && reply.status < 300;
    std::vector<char> chunk(64 * 1024);
    while (!parser.is_done()) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      connection.stream->expires_after(options_.timeout);
      http::read(*connection.stream, connection.buffer, parser, error);
      if (error == http::error::need_buffer) error = {};
      if (error) {
        connection.drop();
        return Status::Io(std::string(method) + " " + target + ": " + error.message());
      }
      std::string_view piece(chunk.data(), chunk.size() - parser.get().body().size);
      if (success && sink) {
        Status written = sink(piece);
        if (!written.ok()) {
          connection.drop();  // the rest of the body is not read
          return written;
        }
      } else {
        reply.body.append(piece);
      }
    }
    if (!parser.get().keep_alive()) connection.drop();
    return reply;
  }
}

bool Client::canRefresh(const std::string& target) const {
  return credentials_.api_key.empty() && !credentials_.refresh_token.empty() &&
         !target.starts_with("/api/v1/auth/refresh") && !target.starts_with("/api/v1/auth/login");
}

Status Client::refresh() {
  const std::shared_ptr<void> lock = options_.lock_session ? options_.lock_session() : nullptr;
  if (options_.saved_session) {
    std::optional<Credentials> saved = options_.saved_session();
    if (saved && !saved->access_token.empty() && !saved->refresh_token.empty() &&
        saved->refresh_token != credentials_.refresh_token) {
      credentials_.access_token = saved->access_token;  // another process refreshed it first
      credentials_.refresh_token = saved->refresh_token;
      return Status::Ok();
    }
  }
  nlohmann::json body = {{"refresh_token", credentials_.refresh_token}};
  Result<Reply> reply =
      sendOnce("POST", "/api/v1/auth/refresh", body.dump(), "application/json", nullptr);
  if (!reply.ok()) return reply.status();
  TENDRIL_RETURN_IF_ERROR(statusFromReply(reply->status, reply->body));
  nlohmann::json session = nlohmann::json::parse(reply->body, nullptr, false);
  if (!session.is_object() || !session.contains("access_token")) {
    return Status::Internal("the refresh reply holds no access token");
  }
  credentials_.access_token = session.value("access_token", "");
  credentials_.refresh_token = session.value("refresh_token", "");
  if (options_.on_refreshed) options_.on_refreshed(credentials_);
  return Status::Ok();
}

Result<Reply> Client::sendRefreshing(std::string_view method, const std::string& target,
                                     const std::string& body, std::string_view content_type,
                                     const Sink& sink) {
  Result<Reply> reply = sendOnce(method, target, body, content_type, sink);
  if (reply.ok() && reply->status == 401 && canRefresh(target) && refresh().ok()) {
    reply = sendOnce(method, target, body, content_type, sink);
  }
  return reply;
}

Result<Reply> Client::send(std::string_view method, const std::string& target,
                           const std::string& body, std::string_view content_type) {
  return sendRefreshing(method, target, body, content_type, nullptr);
}

Result<Reply> Client::call(std::string_view method, const std::string& target,
                           const std::string& body, std::string_view content_type) {
  last_problem_.clear();
  Result<Reply> reply = send(method, target, body, content_type);
  if (!reply.ok()) return reply;
  Status status = statusFromReply(reply->status, reply->body);
  if (!status.ok()) {
    last_problem_ = reply->body;
    return status;
  }
  return reply;
}

Result<nlohmann::json> Client::callJson(std::string_view method, const std::string& target,
                                        const nlohmann::json& body) {
  Result<Reply> reply = call(method, target, body.is_null() ? std::string() : body.dump());
  if (!reply.ok()) return reply.status();
  if (reply->body.empty()) return nlohmann::json();
  nlohmann::json parsed = nlohmann::json::parse(reply->body, nullptr, false);
  if (parsed.is_discarded()) return Status::Internal(target + ": the reply is not JSON");
  return parsed;
}

Status Client::download(const std::string& target, const fs::path& file, const Progress& progress) {
  last_problem_.clear();
  fs::path partial = file;
  partial += ".part";
  std::ofstream out;
  uint64_t done = 0;
  Sink sink = [&](std::string_view piece) {
    if (!out.is_open()) {
      out.open(partial, std::ios::binary | std::ios::trunc);
      if (!out) return Status::Io("cannot write " + partial.string());
    }
    out.write(piece.data(), static_cast<std::streamsize>(piece.size()));
    if (!out) return Status::Io("cannot write " + partial.string());
    done += piece.size();
    if (progress) progress(done, 0);
    return Status::Ok();
  };
  Result<Reply> reply = sendRefreshing("GET", target, "", "", sink);
  if (!reply.ok()) return reply.status();
  Status status = statusFromReply(reply->status, reply->body);
  if (!status.ok()) {
    last_problem_ = reply->body;
    return status;
  }
  if (!out.is_open()) out.open(partial, std::ios::binary | std::ios::trunc);  // an empty file
  out.close();
  if (!out) return Status::Io("cannot write " + partial.string());
  std::error_code error;
  fs::rename(partial, file, error);
  if (error) return Status::Io("cannot rename to " + file.string() + ": " + error.message());
  return Status::Ok();
}

Status Client::upload(const fs::path& file, const ResumableUpload& upload,
                      const Progress& progress) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Status::Invalid("cannot read " + file.string());
  std::error_code error;
  const uint64_t size = fs::file_size(file, error);
  if (error) return Status::Invalid("cannot read " + file.string() + ": " + error.message());
  Result<uint64_t> offset = upload.received();
  if (!offset.ok()) return offset.status();
  int failures = 0;
  std::string chunk;
  if (progress) progress(*offset, size);
  while (*offset < size) {
    chunk.resize(static_cast<size_t>(std::min<uint64_t>(upload.chunk_bytes, size - *offset)));
    in.seekg(static_cast<std::streamoff>(*offset));
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    if (!in) return Status::Io("cannot read " + file.string());
    Result<Reply> sent =
        call("PUT", upload.chunk_target(*offset), chunk, "application/octet-stream");
    const bool retryable = !sent.ok() && (sent.status().code() == Code::kIo ||
                                          sent.status().code() == Code::kFailedPrecondition);
    if (!sent.ok() && (!retryable || ++failures > upload.attempts)) return sent.status();
    if (sent.ok()) {
      nlohmann::json state = nlohmann::json::parse(sent->body, nullptr, false);
      if (!state.is_object() || !state.contains("received")) {
        return Status::Internal("the chunk reply names no received count");
      }
      offset = state["received"].get<uint64_t>();
    } else {
      offset = upload.received();  // where the server stands after the failure
      if (!offset.ok()) return offset.status();
    }
    if (progress) progress(*offset, size);
  }
  return Status::Ok();
}

Result<std::unique_ptr<WebSocket>> Client::openWebSocket(const std::string& target) {
  Result<Endpoint> endpoint = parseAddress(credentials_.address);
  if (!endpoint.ok()) return endpoint.status();
  Result<std::unique_ptr<WebSocket>> socket =
      WebSocket::connect(*endpoint, credentials_, target, options_.timeout);
  if (!socket.ok() && socket.status().code() == Code::kUnauthenticated && canRefresh(target) &&
      refresh().ok()) {
    socket = WebSocket::connect(*endpoint, credentials_, target, options_.timeout);
  }
  return socket;
}

}  // namespace tendril::client
