// Fuzzes the way from raw bytes to a handler's input: Beast's request parser with the server's
// limits, the request as http_server.cc builds it, the Router, and validateInput() against a
// declaration table that uses every field type, source and rule.
//
// The oracle (abort() on failure, so libFuzzer keeps the input):
// - nothing throws (the router turns a throw into 500, which is therefore a failure too);
// - on a raw_body endpoint the body (bytes and Content-Type) never changes the outcome;
// - input that validateInput() accepts has every required field, only declared fields, each
//   of its declared JSON type and within its length, range, pattern and enumeration;
// - refused input gets a 400 or 415 problem whose body is JSON, and long secret values are
//   never quoted in its messages.
#include <algorithm>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "api/endpoint.h"
#include "api/endpoints.h"
#include "api/openapi.h"
#include "api/router.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tendril::api::Endpoint;
using tendril::api::Field;
using tendril::api::FieldSource;
using tendril::api::FieldType;
using tendril::api::Request;
using tendril::api::Response;
using tendril::api::ValidatedInput;
using tendril::service::PolicyRole;

// The server's defaults (ServerLimits in api/http_server.h).
constexpr uint32_t kHeaderLimit = 16 * 1024;
constexpr uint64_t kBodyLimit = 1024 * 1024;
// Secrets at least this long must never appear in a problem; shorter ones could occur in a
// rule's description by chance (a password "must be " is a substring of most messages).
constexpr size_t kCheckedSecretBytes = 24;

void require(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "request_fuzzer oracle failed: %s\n", what);
  std::abort();
}

Endpoint declare(std::string method, std::string path, std::string id, std::vector<Field> input,
                 bool raw_body = false) {
  Endpoint endpoint;
  endpoint.method = std::move(method);
  endpoint.path = std::move(path);
  endpoint.operation_id = std::move(id);
  endpoint.tag = "fuzz";
  endpoint.summary = "fuzzed";
  endpoint.roles = {PolicyRole::kAdmin};
  endpoint.input = std::move(input);
  endpoint.raw_body = raw_body;
  if (endpoint.method == "POST") endpoint.success_status = 201;
  return endpoint;
}

// Shapes of the shipped declarations (users.create, users.list, projects.members.put) and a
// few more, so that every FieldType and FieldSource and every rule is used.
std::vector<Endpoint> declarations() {
  using tendril::api::kMaxNameLength;
  using tendril::api::kMinNameLength;
  using tendril::api::kNamePattern;
  using tendril::api::kUuidPattern;
  return {
      declare("POST", "/api/v1/users", "users.create",
              {Field::string("name")
                   .required()
                   .length(kMinNameLength, kMaxNameLength)
                   .pattern(kNamePattern),
               Field::string("password").required().length(8, 1024).secret(),
               Field::boolean("is_admin").defaultsTo(false)}),
      declare("GET", "/api/v1/users", "users.list",
              {Field::integer("limit").inQuery().range(1, 1000).defaultsTo(50),
               Field::string("cursor").inQuery().length(0, 200)}),
      declare("PATCH", "/api/v1/users/{id}", "users.update",
              {Field::string("id").inPath().pattern(kUuidPattern),
               Field::string("name").length(kMinNameLength, kMaxNameLength).pattern(kNamePattern),
               Field::string("password").length(8, 1024).secret(), Field::boolean("is_admin")}),
      declare("DELETE", "/api/v1/projects/{id}", "projects.delete",
              {Field::string("id").inPath().pattern(kUuidPattern),
               Field::boolean("cascade").inQuery().defaultsTo(false)}),
      declare("PUT", "/api/v1/projects/{id}/members/{user_id}", "projects.members.put",
              {Field::string("id").inPath().pattern(kUuidPattern),
               Field::string("user_id").inPath().pattern(kUuidPattern),
               Field::string("role").required().oneOf({"member", "project-admin"})}),
      declare("POST", "/api/v1/clusters/{n}/samples", "samples.add",
              {Field::integer("n").inPath().range(1, 1'000'000),
               Field::number("rate").inQuery().range(-1, 1),
               Field::boolean("dry_run").inQuery().defaultsTo(false),
               Field::array("values").required().length(1, 16),
               Field::number("weight").range(-10, 10).defaultsTo(1.5),
               Field::integer("count").range(0, 100).nullable(), Field::object("meta"),
               Field::string("note").pattern("[ -~]*"),
               Field::string("token").length(0, 40).pattern("[A-Za-z0-9]*").secret()}),
      // A dataset-part upload: raw bytes, fields from path and query only.
      declare("PUT", "/api/v1/datasets/{id}/parts/{part}", "datasets.parts.put",
              {Field::string("id").inPath().pattern(kUuidPattern),
               Field::string("part").inPath().oneOf({"images", "labels", "table"}),
               Field::integer("offset").inQuery().range(0, INT64_MAX).defaultsTo(0)},
              /*raw_body=*/true),
  };
}

bool isValidUtf8(const std::string& text) {
  // Independent of validateInput's own check: nlohmann's strict serializer refuses invalid
  // UTF-8 (overlong forms and surrogates included).
  try {
    (void)nlohmann::json(text).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

size_t codePoints(const std::string& text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

bool matchesWhole(const std::string& pattern, const std::string& text) {
  static std::map<std::string, std::unique_ptr<std::regex>> compiled;
  auto& regex = compiled[pattern];
  if (!regex) regex = std::make_unique<std::regex>(pattern, std::regex::ECMAScript);
  return std::regex_match(text, *regex);
}

bool withinLength(const Field& field, size_t count) {
  return (!field.min_length || count >= *field.min_length) &&
         (!field.max_length || count <= *field.max_length);
}

bool withinRange(const Field& field, double value) {
  return (!field.min_value || value >= static_cast<double>(*field.min_value)) &&
         (!field.max_value || value <= static_cast<double>(*field.max_value));
}

void checkString(const Field& field, const nlohmann::json& value) {
  require(value.is_string(), "a string field holds a string");
  const auto& text = value.get_ref<const std::string&>();
  require(isValidUtf8(text), "strings are valid UTF-8");
  require(text.find('\0') == std::string::npos, "strings hold no NUL");
  require(withinLength(field, codePoints(text)), "strings are within their length limits");
  if (!field.allowed.empty()) {
    require(std::find(field.allowed.begin(), field.allowed.end(), text) != field.allowed.end(),
            "strings are one of the enumeration");
  }
  if (!field.regex.empty()) require(matchesWhole(field.regex, text), "strings match the pattern");
}

// What validateInput() accepted satisfies the declaration.
void checkAccepted(const Endpoint& endpoint, const nlohmann::json& input) {
  require(input.is_object(), "the input is an object");
  for (const auto& item : input.items()) {
    const std::string& name = item.key();
    bool declared = std::any_of(endpoint.input.begin(), endpoint.input.end(),
                                [&](const Field& field) { return field.name == name; });
    require(declared, "the input holds declared fields only");
  }
  for (const Field& field : endpoint.input) {
    auto it = input.find(field.name);
    if (it == input.end()) {
      require(!field.is_required, "required fields are present");
      require(field.default_value.is_null(), "defaults are applied");
      continue;
    }
    const nlohmann::json& value = *it;
    if (value.is_null()) {
      require(field.is_nullable && field.source == FieldSource::kBody,
              "null only where a body field is declared nullable");
      continue;
    }
    switch (field.type) {
      case FieldType::kString:
        checkString(field, value);
        break;
      case FieldType::kInteger:
        require(value.is_number_integer() && !value.is_number_unsigned(),
                "integers arrive as int64");
        require(withinRange(field, static_cast<double>(value.get<int64_t>())),
                "integers are within range");
        break;
      case FieldType::kNumber:
        require(value.is_number(), "numbers are numbers");
        require(std::isfinite(value.get<double>()), "numbers are finite");
        require(withinRange(field, value.get<double>()), "numbers are within range");
        break;
      case FieldType::kBoolean:
        require(value.is_boolean(), "booleans are booleans");
        break;
      case FieldType::kObject:
        require(value.is_object(), "objects are objects");
        break;
      case FieldType::kArray:
        require(value.is_array(), "arrays are arrays");
        require(withinLength(field, value.size()), "arrays are within their item counts");
        break;
    }
  }
}

// No long secret sent in the body appears in the problem.
void checkSecretsNotQuoted(const Endpoint& endpoint, const Request& request,
                           const Response& problem) {
  nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
  if (!body.is_object()) return;
  for (const Field& field : endpoint.input) {
    if (!field.is_secret) continue;
    auto it = body.find(field.name);
    if (it == body.end() || !it->is_string()) continue;
    const auto& secret = it->get_ref<const std::string&>();
    if (secret.size() < kCheckedSecretBytes) continue;
    // Compare with the JSON-escaped form, as the problem body holds it.
    std::string escaped =
        nlohmann::json(secret).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    escaped = escaped.substr(1, escaped.size() - 2);
    require(problem.body.find(escaped) == std::string::npos, "secrets are never quoted");
  }
}

Response runEndpoint(const Endpoint& endpoint, const Request& request) {
  ValidatedInput validated = validateInput(endpoint, request);
  if (endpoint.raw_body) {
    Request without_body = request;
    without_body.body.clear();
    without_body.headers.erase("content-type");
    ValidatedInput again = validateInput(endpoint, without_body);
    require(again.ok() == validated.ok() && again.input == validated.input &&
                again.errors.size() == validated.errors.size(),
            "a raw body never changes validation");
  }
  if (validated.ok()) {
    checkAccepted(endpoint, validated.input);
    return Response::json(endpoint.success_status, validated.input);
  }
  require(validated.unsupported_media_type || !validated.errors.empty(), "a refusal says why");
  Response problem = tendril::api::inputProblem(validated, request.path);
  require(problem.status == 400 || problem.status == 415, "refused input is 400 or 415");
  require(nlohmann::json::accept(problem.body), "the problem is JSON");
  checkSecretsNotQuoted(endpoint, request, problem);
  return problem;
}

// The shipped declarations (api/endpoints.cc) need their services to exist, though their
// handlers never run here: an in-memory store and cheap password hashing are enough.
struct ShippedServices {
  std::unique_ptr<tendril::store::MetadataStore> store =
      std::move(tendril::store::openSqliteMemoryStore().value());
  tendril::service::Clock clock = [] { return tendril::store::TimeMs{1'790'000'000'000}; };
  tendril::service::AuthService auth{*store, clock, settings()};
  tendril::service::AccountService accounts{*store, clock, tendril::service::HashCost::kTesting};
  tendril::service::AuditLog audit{*store, clock, nullptr};
  tendril::service::PolicyHolder policy{tendril::service::Policy()};
  std::shared_ptr<const nlohmann::json> openapi;
  std::vector<Endpoint> endpoints = tendril::api::declareEndpoints(
      {auth, accounts, audit, policy, [] { return tendril::Status::Ok(); }, {}}, &openapi);

  static tendril::service::AuthSettings settings() {
    require(tendril::service::initCredentials().ok(), "libsodium starts");
    tendril::service::AuthSettings settings;
    settings.token_key = std::string(40, 'k');
    settings.hash_cost = tendril::service::HashCost::kTesting;
    return settings;
  }
};

struct Fixture {
  std::vector<Endpoint> endpoints = declarations();
  tendril::api::Router router;
  // Every input also goes through the shipped route table, validated by the shipped
  // declarations under the same oracle.
  ShippedServices shipped;
  tendril::api::Router shipped_router;

  Fixture() {
    for (const Endpoint& endpoint : endpoints) {
      router.add(endpoint.method, endpoint.path,
                 [&endpoint](const Request& request) { return runEndpoint(endpoint, request); });
    }
    for (const Endpoint& endpoint : shipped.endpoints) {
      shipped_router.add(endpoint.method, endpoint.path, [&endpoint](const Request& request) {
        return runEndpoint(endpoint, request);
      });
    }
    // The document generator runs over the same table once.
    nlohmann::json document = tendril::api::openApiDocument(endpoints, "fuzz");
    size_t operations = 0;
    for (const auto& item : document["paths"].items()) operations += item.value().size();
    require(operations == endpoints.size(), "the OpenAPI document has every operation");
    require(nlohmann::json::accept(document.dump()), "the OpenAPI document is JSON");
    // The table must let good input through, or the oracle on accepted input checks nothing.
    require(selfTest(R"({"name": "ada", "password": "correct horse"})") == 201,
            "a good users.create passes");
    require(selfTest(R"({"name": "1ada", "password": "correct horse"})") == 400,
            "a bad users.create is refused");
    require(selfTest(R"({"name": "ada", "password": "correct horse"})", &shipped_router) == 201,
            "a good users.create passes the shipped declaration");
    require(selfTest(R"({"name": "ada", "password": "short"})", &shipped_router) == 400,
            "the shipped declaration refuses a short password");
  }

  unsigned selfTest(std::string body, tendril::api::Router* through = nullptr) {
    Request request;
    request.method = "POST";
    request.path = "/api/v1/users";
    request.headers["content-type"] = "application/json";
    request.body = std::move(body);
    return (through != nullptr ? *through : router).dispatch(request).response.status;
  }
};

// Builds the Request as the server's onRead() does; false when the server would refuse it.
bool toRequest(http::request<http::string_body>& message, Request* request) {
  request->method = std::string(message.method_string());
  std::string_view target(message.target().data(), message.target().size());
  if (target.empty() || target.front() != '/') return false;
  size_t question = target.find('?');
  request->path = std::string(target.substr(0, question));
  if (question != std::string_view::npos) request->query = std::string(target.substr(question + 1));
  for (const auto& field : message) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string& value = request->headers[name];
    value += (value.empty() ? "" : ", ") + std::string(field.value());
  }
  request->body = std::move(message.body());
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture& fixture = *new Fixture();  // never destroyed: routes outlive every input

  http::request_parser<http::string_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(kBodyLimit);
  parser.eager(true);
  beast::error_code error;
  boost::asio::const_buffer buffer(data, size);
  while (buffer.size() > 0 && !parser.is_done()) {
    size_t used = parser.put(buffer, error);
    if (error == http::error::need_more) break;
    if (error) return 0;
    if (used == 0) break;
    buffer += used;
  }
  if (!parser.is_done()) {
    if (!parser.got_some()) return 0;  // put_eof() requires some input
    error = {};
    parser.put_eof(error);
    if (error || !parser.is_done()) return 0;
  }

  Request request;
  if (!toRequest(parser.get(), &request)) return 0;
  Request copy = request;  // the router binds path parameters into the request it is given
  tendril::api::Dispatched dispatched = fixture.router.dispatch(request);
  require(dispatched.response.status != 500, "no handler throws");
  dispatched = fixture.shipped_router.dispatch(copy);
  require(dispatched.response.status != 500, "no shipped declaration breaks validation");
  return 0;
}
