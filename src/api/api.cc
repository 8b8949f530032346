#include "api/api.h"

#include <cctype>
#include <exception>
#include <map>
#include <optional>
#include <sstream>

#include "api/session_cookie.h"
#include "service/credentials.h"

namespace tendril::api {
namespace {

using service::PolicyRole;
using service::Principal;

// Prometheus label for a login's outcome: a bounded set.
std::string_view loginResultLabel(const Status& status) {
  switch (status.code()) {
    case Code::kOk:
      return "ok";
    case Code::kUnauthenticated:
      return "bad_credentials";
    case Code::kResourceExhausted:
      return "throttled";
    default:
      return "error";
  }
}

Response withHeaders(Response response,
                     const std::vector<std::pair<std::string, std::string>>& headers) {
  for (const auto& header : headers) response.headers.push_back(header);
  return response;
}

// Credentials as sent: exactly one scheme. `present` is false when the request carries none.
struct Credentials {
  bool present = false;
  Result<Principal> principal = Status::Unauthenticated("no credentials");
};

Credentials readCredentials(const Request& request, service::AuthService& auth) {
  Credentials credentials;
  std::string authorization = request.header("authorization");
  std::string api_key = request.header("x-api-key");
  if (authorization.empty() && api_key.empty()) {
    // A browser's session cookie (api/session_cookie.h), when it sends no header.
    std::string cookie = cookieValue(request, kAccessCookie);
    if (cookie.empty()) return credentials;
    credentials.present = true;
    credentials.principal = auth.authenticateToken(cookie);
    return credentials;
  }
  credentials.present = true;
  if (!authorization.empty() && !api_key.empty()) {
    credentials.principal =
        Status::Unauthenticated("send either Authorization or X-API-Key, not both");
  } else if (!api_key.empty()) {
    credentials.principal = auth.authenticateApiKey(api_key);
  } else if (authorization.size() > 7 && authorization.compare(0, 7, "Bearer ") == 0) {
    credentials.principal = auth.authenticateToken(authorization.substr(7));
  } else {
    credentials.principal =
        Status::Unauthenticated("the Authorization header must be 'Bearer <access token>'");
  }
  return credentials;
}

// Steps 1 and 2: the caller (anonymous when the credentials were refused) and, when the call
// may not go on, why.
struct Authorization {
  Principal principal;
  Status refusal;
};

Authorization authorize(const Request& request, std::string_view method, std::string_view route,
                        const Pipeline& pipeline, bool upgrade = false) {
  Authorization result;
  std::shared_ptr<const service::Policy> policy = pipeline.policy.current();
  Credentials credentials = readCredentials(request, pipeline.auth);
  // CSRF: a cookie authenticates a state-changing call or an upgrade only from our own pages.
  bool changes = upgrade || (method != "GET" && method != "HEAD");
  if (credentials.present && changes && authenticatesByCookie(request) && !sameOrigin(request)) {
    if (policy->allows(method, route, PolicyRole::kAnonymous)) {
      credentials = Credentials{};  // login, refresh: go on as anonymous
    } else {
      result.refusal = Status::Denied(
          "a request authenticated by the session cookie must carry this server's Origin");
      return result;
    }
  }
  if (credentials.present) {
    if (credentials.principal.ok()) {
      result.principal = std::move(*credentials.principal);
    } else if (!policy->allows(method, route, PolicyRole::kAnonymous)) {
      result.refusal = credentials.principal.status();
      return result;
    }
    // else: a route open to anonymous callers (login, refresh) ignores stale credentials.
  }
  const Principal& principal = result.principal;
  if (!policy->allows(method, route, principal.role)) {
    if (!principal.authenticated()) {
      result.refusal = Status::Unauthenticated(
          "this needs credentials: Authorization: Bearer <token> or X-API-Key");
    } else {
      result.refusal = Status::Denied("the policy does not allow role '" +
                                      std::string(service::policyRoleName(principal.role)) +
                                      "' to " + std::string(method) + " " + std::string(route));
    }
  }
  return result;
}

Response problemFor(const Status& status, const Request& request) {
  Response response = Response::problem(status, request.path);
  if (status.code() == Code::kUnauthenticated) {
    response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"tendril\"");
  }
  return response;
}

// `Content-Disposition: attachment` for `filename`: a quoted ASCII fallback in which anything
// that could end the quoted string, split the header or name another directory ('"', '\\',
// control characters, '/', non-ASCII bytes) is '_', and the exact name percent-encoded in
// `filename*` (RFC 6266, RFC 8187) when they differ.
std::string contentDisposition(std::string_view filename) {
  std::string fallback;
  std::string encoded;
  bool exact = true;
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : filename) {
    auto byte = static_cast<unsigned char>(c);
    bool plain = byte >= 0x20 && byte < 0x7F && c != '"' && c != '\\' && c != '/';
    fallback += plain ? c : '_';
    exact = exact && plain;
    bool attr_char = std::isalnum(byte) != 0 || std::string_view("!#$&+-.^_`|~").find(c) !=
                                                    std::string_view::npos;
    if (attr_char && byte < 0x80) {
      encoded += c;
    } else {
      encoded += '%';
      encoded += kHex[byte >> 4];
      encoded += kHex[byte & 0x0F];
    }
  }
  std::string value = "attachment; filename=\"" + fallback + "\"";
  if (!exact) value += "; filename*=UTF-8''" + encoded;
  return value;
}

// A handler's success as the response to send.
Response successResponse(unsigned status, Reply& reply) {
  Response response;
  if (status == 204) {
    response = Response::text(204, "", "application/json");
  } else if (!reply.content_type.empty() || !reply.file.empty()) {
    std::string content_type = reply.content_type.empty() ? "application/octet-stream"
                                                          : std::move(reply.content_type);
    response = Response::text(status, reply.file.empty() ? std::move(reply.raw) : std::string(),
                              std::move(content_type));
    response.file = std::move(reply.file);
  } else {
    response = Response::json(status, reply.body);
  }
  if (!reply.filename.empty() && status != 204) {
    response.headers.emplace_back("Content-Disposition", contentDisposition(reply.filename));
  }
  return response;
}

// Which of a caller's calls an Idempotency-Key names: the same key from another caller, another
// project or on another path is another key.
std::string idempotencyScope(const Principal& principal, const Request& request,
                             std::string_view key) {
  std::string who = principal.method == service::AuthMethod::kApiKey
                        ? "key:" + principal.api_key_id
                        : "user:" + principal.user_id;
  return who + "\n" + principal.project_id + "\n" + request.method + "\n" + request.path + "\n" +
         std::string(key);
}

// What "the same request" means for a repeated key: the same query and body, byte for byte.
std::string requestFingerprint(const Request& request) {
  return service::sha256Hex(std::to_string(request.query.size()) + ":" + request.query +
                            request.body);
}

class EndpointRunner {
 public:
  EndpointRunner(const Endpoint& endpoint, const Pipeline& pipeline, Counter& logins,
                 std::shared_ptr<IdempotencyCache> idempotency)
      : endpoint_(endpoint),
        pipeline_(pipeline),
        logins_(logins),
        idempotency_(std::move(idempotency)) {}

  Response operator()(const Request& request) const {
    Authorization authorization = authorize(request, endpoint_.method, endpoint_.path, pipeline_);
    Call call{request, authorization.principal, nlohmann::json::object(), {}, {}, {}};
    // Refused calls are audited too: they are what an audit trail is most often read for.
    if (!authorization.refusal.ok()) return refuse(call, authorization.refusal);

    ValidatedInput validated = validateInput(endpoint_, request);
    if (!validated.ok()) {
      if (endpoint_.isAudited()) {
        audit(call, validated.unsupported_media_type ? Status::Invalid("unsupported media type")
                                                     : Status::Invalid("invalid input"));
      }
      return inputProblem(validated, request.path);
    }
    call.input = std::move(validated.input);

    Idempotent idempotent = beginIdempotent(call);
    if (idempotent.answer) return std::move(*idempotent.answer);
    if (idempotent.ticket == 0) return respond(call);
    Response response;
    try {
      response = respond(call);
    } catch (...) {  // (the router answers 500) the key must not stay "in progress" for ever
      idempotency_->abandon(idempotent.scope, idempotent.ticket);
      throw;
    }
    // Only successes are remembered (a failed call may succeed when retried), and no file: it
    // may be gone by the replay.
    if (response.status < 300 && response.file.empty()) {
      idempotency_->complete(idempotent.scope, idempotent.ticket, response);
    } else {
      idempotency_->abandon(idempotent.scope, idempotent.ticket);
    }
    return response;
  }

 private:
  // What the Idempotency-Key says about a call: answer it without running (`answer`: a replay
  // or a refusal), or run it and report to the memory (`ticket` not 0), or neither (no key).
  struct Idempotent {
    std::optional<Response> answer;
    std::string scope;
    uint64_t ticket = 0;
  };

  Idempotent beginIdempotent(const Call& call) const {
    Idempotent result;
    const Request& request = call.request;
    auto header = request.headers.find("idempotency-key");
    // Creating POSTs only (201 Created, 202 Accepted); elsewhere the header is ignored.
    bool creates = endpoint_.method == "POST" &&
                   (endpoint_.success_status == 201 || endpoint_.success_status == 202);
    if (header == request.headers.end() || !creates || !call.principal.authenticated()) {
      return result;
    }
    const std::string& key = header->second;
    if (!validIdempotencyKey(key)) {
      result.answer = refuse(
          call, Status::Invalid("Idempotency-Key must be 1 to 255 printable ASCII characters"));
      return result;
    }
    std::string scope = idempotencyScope(call.principal, request, key);
    IdempotencyCache::Begin begun = idempotency_->begin(scope, requestFingerprint(request));
    switch (begun.state) {
      case IdempotencyCache::State::kReplay:
        begun.stored.headers.emplace_back("Idempotent-Replayed", "true");
        result.answer = std::move(begun.stored);
        break;
      case IdempotencyCache::State::kInProgress:
        result.answer = refuse(call, Status::Precondition(
                                         "a request with this Idempotency-Key is still being "
                                         "processed; retry when it has finished"));
        break;
      case IdempotencyCache::State::kMismatch:
        result.answer = refuse(call, Status::Precondition(
                                         "this Idempotency-Key was already used for a request "
                                         "with a different body or query; use a new key for a "
                                         "new request"));
        break;
      case IdempotencyCache::State::kStarted:
        result.scope = std::move(scope);
        result.ticket = begun.ticket;
        break;
    }
    return result;
  }

  Response refuse(const Call& call, const Status& refusal) const {
    if (endpoint_.isAudited()) audit(call, refusal);
    return problemFor(refusal, call.request);
  }

  // Steps 4 and 5: the handler and what follows it.
  Response respond(Call& call) const {
    const Request& request = call.request;
    Result<Reply> reply = run(call);
    if (endpoint_.operation_id == "auth.login") {
      logins_.increment({std::string(loginResultLabel(reply.status()))});
    }
    if (endpoint_.isAudited()) audit(call, reply.status());
    if (!reply.ok()) {
      Response response =
          fieldProblem(reply.status(), request.path).value_or(problemFor(reply.status(), request));
      if (response.status >= 500) {
        pipeline_.audit.recordError(call.principal.user_id, "api", reply.status().toString(),
                                    endpoint_.method + " " + request.path);
      }
      return withHeaders(std::move(response), call.response_headers);
    }
    unsigned status = reply->status != 0 ? reply->status : endpoint_.success_status;
    return withHeaders(successResponse(status, *reply), call.response_headers);
  }

  // A handler's InvalidArgument that names one of the declared fields ("cursor: malformed")
  // gets the same `errors` list as a validation failure; anything else: none.
  std::optional<Response> fieldProblem(const Status& status, std::string_view instance) const {
    if (status.code() != Code::kInvalidArgument) return std::nullopt;
    for (const Field& field : endpoint_.input) {
      const std::string prefix = field.name + ": ";
      if (status.message().starts_with(prefix)) {
        return validationProblem({{field.name, status.message().substr(prefix.size())}}, instance);
      }
    }
    return std::nullopt;
  }

  Result<Reply> run(Call& call) const {
    try {
      return endpoint_.handler(call);
    } catch (const std::exception& caught) {
      return Status::Internal(endpoint_.operation_id + " threw: " + caught.what());
    } catch (...) {
      return Status::Internal(endpoint_.operation_id + " threw a non-standard exception");
    }
  }

  void audit(const Call& call, const Status& result) const {
    std::string target = call.audit_target;
    if (target.empty()) target = call.request.pathParam("id");
    Principal who = call.principal;
    if (!call.audit_user_id.empty()) who.user_id = call.audit_user_id;
    pipeline_.audit.record(who, endpoint_.operation_id, target,
                           result.ok() ? "ok" : codeName(result.code()));
  }

  const Endpoint& endpoint_;
  const Pipeline& pipeline_;
  Counter& logins_;
  std::shared_ptr<IdempotencyCache> idempotency_;
};

}  // namespace

std::string defaultPolicyText(const std::vector<Endpoint>& endpoints) {
  std::ostringstream text;
  text << "# Tendril's default policy: which roles may call each route (docs/policy.md).\n"
          "# Generated from the endpoint declarations; anything not listed is denied.\n";
  // Group by path so the file reads route by route, methods in declaration order.
  std::map<std::string, std::vector<const Endpoint*>> by_path;
  for (const Endpoint& endpoint : endpoints) by_path[endpoint.path].push_back(&endpoint);
  for (const auto& [path, group] : by_path) {
    for (const Endpoint* endpoint : group) {
      text << endpoint->method << " " << path << " ";
      if (endpoint->roles.empty()) text << "none";
      for (size_t i = 0; i < endpoint->roles.size(); ++i) {
        text << (i ? ", " : "") << service::policyRoleName(endpoint->roles[i]);
      }
      text << "\n";
    }
  }
  return text.str();
}

std::vector<std::pair<std::string, std::string>> declaredRoutes(
    const std::vector<Endpoint>& endpoints) {
  std::vector<std::pair<std::string, std::string>> routes;
  for (const Endpoint& endpoint : endpoints) routes.emplace_back(endpoint.method, endpoint.path);
  return routes;
}

Status checkPolicy(const service::Policy& policy, const std::vector<Endpoint>& endpoints,
                   std::vector<std::string>* warnings) {
  auto routes = declaredRoutes(endpoints);
  std::vector<std::string> unknown = policy.unknownRules(routes);
  if (!unknown.empty()) {
    std::string list;
    for (const std::string& rule : unknown) list += "\n  " + rule;
    return Status::Invalid("the policy names routes this server does not have:" + list);
  }
  for (const std::string& route : policy.uncovered(routes)) {
    warnings->push_back("no policy rule for " + route + "; it is denied to everyone");
  }
  return Status::Ok();
}

Status reloadPolicyFile(service::PolicyHolder& holder, const std::filesystem::path& file,
                        const std::vector<Endpoint>& endpoints,
                        std::vector<std::string>* warnings) {
  Result<service::Policy> policy = service::readPolicyFile(file);
  if (!policy.ok()) return policy.status();
  TENDRIL_RETURN_IF_ERROR(checkPolicy(*policy, endpoints, warnings));
  holder.replace(std::move(*policy));
  return Status::Ok();
}

void installEndpoints(Router& router, const std::vector<Endpoint>& endpoints,
                      const Pipeline& pipeline, std::shared_ptr<IdempotencyCache> idempotency) {
  Counter& logins = pipeline.metrics.counter(
      "tendril_logins_total", "Login attempts by result (ok, bad_credentials, throttled, error)",
      {"result"});
  if (idempotency == nullptr) {
    idempotency = std::make_shared<IdempotencyCache>(IdempotencyLimits{}, service::systemClock());
  }
  // Each runner keeps its own copy of the declaration, so callers need not keep theirs.
  for (const Endpoint& endpoint : endpoints) {
    auto owned = std::make_shared<const Endpoint>(endpoint);
    router.add(endpoint.method, endpoint.path,
               [owned, runner = EndpointRunner(*owned, pipeline, logins, idempotency)](
                   const Request& request) { return runner(request); });
  }
}

Authorized authorizeUpgrade(const Request& request, std::string_view route,
                            const Pipeline& pipeline) {
  Authorized authorized;
  Authorization authorization = authorize(request, "GET", route, pipeline, /*upgrade=*/true);
  if (!authorization.refusal.ok()) {
    authorized.refusal = problemFor(authorization.refusal, request);
    return authorized;
  }
  authorized.principal = std::make_unique<Principal>(std::move(authorization.principal));
  return authorized;
}

}  // namespace tendril::api
