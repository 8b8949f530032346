// Endpoint declarations: every API operation is declared once — method, path, the roles the
// shipped policy grants, its input fields (where they come from, type, limits, pattern, required,
// default) and its output fields — and that one declaration drives request validation
// (validateInput), the policy check (the pipeline in api/api.h), the default policy file and the
// OpenAPI 3.1 document (api/openapi.h). Handlers therefore receive input that is already typed
// and bounded, and never parse a body themselves.
//
// Thread safety: declarations are built at startup and read-only afterwards.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/router.h"
#include "common/status.h"
#include "service/policy.h"
#include "service/principal.h"

namespace tendril::api {

enum class FieldType { kString, kInteger, kNumber, kBoolean, kObject, kArray };
enum class FieldSource { kPath, kQuery, kBody };

std::string_view fieldTypeName(FieldType type);  // the JSON Schema spelling: "string", ...

// Patterns shared by many fields (ECMAScript syntax, matched against the whole value).
inline constexpr std::string_view kUuidPattern =
    "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
// User, project and API-key names: a letter, then letters, digits and `_ . @ -`.
inline constexpr std::string_view kNamePattern = "^[A-Za-z][A-Za-z0-9_.@-]*$";
inline constexpr size_t kMinNameLength = 3;
inline constexpr size_t kMaxNameLength = 64;

// One input field. Built fluently:
//   Field::string("name").required().length(3, 64).pattern(kNamePattern).describe("...")
struct Field {
  std::string name;
  FieldSource source = FieldSource::kBody;
  FieldType type = FieldType::kString;
  bool is_required = false;
  nlohmann::json default_value;                  // null: no default
  std::optional<int64_t> min_value, max_value;   // integers and numbers (inclusive)
  std::optional<size_t> min_length, max_length;  // strings (Unicode code points), arrays (items)
  std::string regex;                             // strings only; must match the whole value
  std::vector<std::string> allowed;              // strings only: an enumeration
  std::string description;
  bool is_secret = false;  // never echoed in errors, logs or the audit trail (passwords, tokens)
  // Body fields only: JSON null is accepted as a value of its own ("clear this setting") and
  // handed to the handler as null; the type's rules apply to every other value.
  bool is_nullable = false;

  static Field string(std::string name) { return make(std::move(name), FieldType::kString); }
  static Field integer(std::string name) { return make(std::move(name), FieldType::kInteger); }
  static Field number(std::string name) { return make(std::move(name), FieldType::kNumber); }
  static Field boolean(std::string name) { return make(std::move(name), FieldType::kBoolean); }
  static Field object(std::string name) { return make(std::move(name), FieldType::kObject); }
  static Field array(std::string name) { return make(std::move(name), FieldType::kArray); }

  // A path parameter: always required, a string unless typed otherwise.
  Field inPath() && {
    source = FieldSource::kPath;
    is_required = true;
    return std::move(*this);
  }
  Field inQuery() && {
    source = FieldSource::kQuery;
    return std::move(*this);
  }
  Field required() && {
    is_required = true;
    return std::move(*this);
  }
  Field defaultsTo(nlohmann::json value) && {
    default_value = std::move(value);
    return std::move(*this);
  }
  Field range(int64_t min, int64_t max) && {
    min_value = min;
    max_value = max;
    return std::move(*this);
  }
  Field length(size_t min, size_t max) && {
    min_length = min;
    max_length = max;
    return std::move(*this);
  }
  Field pattern(std::string_view ecmascript) && {
    regex = std::string(ecmascript);
    return std::move(*this);
  }
  Field oneOf(std::vector<std::string> values) && {
    allowed = std::move(values);
    return std::move(*this);
  }
  Field describe(std::string text) && {
    description = std::move(text);
    return std::move(*this);
  }
  Field secret() && {
    is_secret = true;
    return std::move(*this);
  }
  Field nullable() && {
    is_nullable = true;
    return std::move(*this);
  }

 private:
  static Field make(std::string name, FieldType type) {
    Field field;
    field.name = std::move(name);
    field.type = type;
    return field;
  }
};

// One field of a response object (documentation: the OpenAPI schema).
struct OutputField {
  std::string name;
  FieldType type = FieldType::kString;
  std::string description;
  bool nullable = false;  // may be JSON null (e.g. an expiry that is not set)
};

// What a handler gets: the caller and the validated input.
struct Call {
  const Request& request;
  const service::Principal& principal;
  // Every declared field that was sent or has a default, converted to its declared type
  // (query and path values included: "?limit=5" arrives as the integer 5). Optional fields
  // without a default and not sent are absent.
  nlohmann::json input;
  // The handler names what it acted on (an id) for the audit log; empty: the path's `id`.
  std::string audit_target;
  // The user the audit entry is about when the caller is anonymous (login: the user who logged
  // in); empty: the caller.
  std::string audit_user_id;
  // Extra response headers, sent with success and error replies alike (e.g. Retry-After).
  std::vector<std::pair<std::string, std::string>> response_headers;
};

// A handler's success: the body (ignored for 204) and, when not 0, a status other than the
// endpoint's success_status.
//
// A non-JSON reply sets `content_type` (e.g. "application/octet-stream", "text/csv") and then
// carries its bytes either in `raw` or, for large content, in `file`: a file on disk that the
// server streams in bounded chunks (never loaded whole into memory) with its Content-Length; a
// `file` without a content_type is sent as application/octet-stream. A file that is gone by the
// time the server opens it gives a 404 problem (unreadable, or not a regular file: 500).
// `filename` (optional) adds `Content-Disposition: attachment; filename="..."` (quoted and
// escaped by the pipeline; non-ASCII bytes are replaced by '_' there and sent exactly in
// `filename*`). `body` is ignored when `content_type` or `file` is set. The file's path never
// appears in a reply or error message.
//
// The API streams a file straight from its path, so a handler must not hand out a file that
// can still be written (a staging file being appended to): publish by rename, or accept that a
// client may get a body that changed while it was sent.
struct Reply {
  nlohmann::json body;
  unsigned status = 0;
  std::string content_type;    // non-empty: a non-JSON reply of `raw` or `file`
  std::string raw;             // the bytes, when `file` is empty
  std::filesystem::path file;  // non-empty: stream this file instead of `raw`
  std::string filename;        // non-empty: Content-Disposition: attachment
  Reply() = default;
  Reply(nlohmann::json json_body) : body(std::move(json_body)) {}  // NOLINT: implicit by design
};

using EndpointHandler = std::function<Result<Reply>(Call& call)>;

struct Endpoint {
  std::string method;        // "GET", "POST", "PUT", "PATCH", "DELETE"
  std::string path;          // a router template: "/api/v1/users/{id}"
  std::string operation_id;  // unique, dotted: "users.create"; also the audit action
  std::string tag;           // OpenAPI group: "users"
  std::string summary;       // one line for the OpenAPI document and the API page
  std::string description;   // longer notes (who may call it, what it refuses); may be empty
  // The roles the shipped default policy grants. The policy in force may differ (it is a file).
  std::vector<service::PolicyRole> roles;
  std::vector<Field> input;
  std::vector<OutputField> output;
  // The output is a page: {"items": [objects with `output` fields], "next_cursor": string}.
  bool paged = false;
  // The request body is raw bytes (any Content-Type; clients should send
  // application/octet-stream), bounded by the server's max_body_bytes and handed to the handler
  // untouched as `call.request.body`. Input fields then come from the path and query only (a
  // kBody field on such an endpoint is a declaration bug and is reported as an error).
  bool raw_body = false;
  unsigned success_status = 200;  // 201 for creates, 204 for deletes without a body
  // Audited calls write one audit entry each (who, operation_id, target, result). Defaults to
  // every method but GET and HEAD; login and refresh are audited too (by their handlers'
  // declarations), reads are not.
  std::optional<bool> audited;
  EndpointHandler handler;

  bool isAudited() const { return audited.value_or(method != "GET" && method != "HEAD"); }
};

// The part every declaration starts with: the tag is the operation id up to its first dot
// ("users.create" -> "users"); POST answers 201 and DELETE 204 unless changed afterwards.
Endpoint declare(std::string method, std::string path, std::string operation_id,
                 std::string summary, std::vector<service::PolicyRole> roles);

// Role sets of the shipped default policy, shared by the route declarations: only admins; anyone
// logged in (a project or not); a project's members, its admins and the admins; a project's
// admins and the admins.
inline const std::vector<service::PolicyRole> kAdminOnly = {service::PolicyRole::kAdmin};
inline const std::vector<service::PolicyRole> kSignedIn = {
    service::PolicyRole::kUser, service::PolicyRole::kMember, service::PolicyRole::kProjectAdmin,
    service::PolicyRole::kAdmin};
inline const std::vector<service::PolicyRole> kInProject = {
    service::PolicyRole::kMember, service::PolicyRole::kProjectAdmin, service::PolicyRole::kAdmin};
inline const std::vector<service::PolicyRole> kManagers = {service::PolicyRole::kProjectAdmin,
                                                           service::PolicyRole::kAdmin};

// A path field `name` holding a UUID, described as `what` ("the cluster's id").
Field uuidInPath(std::string name, std::string what);

// A validated call's string input `key` (one the declaration requires or defaults).
std::string inputText(const Call& call, const char* key);

// The reply of a call that answers without a body (a delete): its error, or the success status.
Result<Reply> emptyReply(const Status& status);

// A WebSocket route: GET `path`, served by a socket handler on upgrade. Its description gets the
// shared sentence on connecting; a plain (non-upgrade) GET is answered 400.
Endpoint declareWebSocket(std::string path, std::string operation_id, std::string summary,
                          std::vector<service::PolicyRole> roles, std::string_view description);

// A file streamed as the reply (a download): its content type and attachment name.
Reply fileReply(std::filesystem::path file, std::string content_type, std::string filename);

// One problem with one field, reported all together in the 400 problem's `errors` array.
struct FieldError {
  std::string field;    // the field name ("" for the body as a whole)
  std::string message;  // human, never quoting a secret field's value
};

struct ValidatedInput {
  nlohmann::json input = nlohmann::json::object();
  std::vector<FieldError> errors;  // empty: valid
  // A non-empty body sent without a JSON content type: the request is refused with 415 as a
  // whole (inputProblem()), not field by field, and `errors` stays empty.
  bool unsupported_media_type = false;
  bool ok() const { return errors.empty() && !unsupported_media_type; }
};

// Bounds validateInput() enforces whatever the declaration says.
inline constexpr size_t kMaxBodyDepth = 64;         // nesting of JSON arrays and objects
inline constexpr size_t kMaxQueryParameters = 256;  // key=value pairs in one query string
// Longer strings are not matched against a pattern (std::regex recurses once per character):
// a patterned field without a smaller max_length refuses them.
inline constexpr size_t kMaxPatternInputBytes = 4096;

// Validates `request` (path params already bound by the router, query string, JSON body)
// against `endpoint`'s input declaration. Never throws, whatever the bytes. Rules:
// - the body of POST/PUT/PATCH must be empty (taken as {}) or a JSON object, with a JSON
//   content type when not empty; GET/DELETE bodies must be empty;
// - except on a raw_body endpoint: its POST/PUT/PATCH body is not looked at at all (any size up
//   to the server's limit, any Content-Type, empty too) and fields come from path and query
//   only; a field it declares in the body is reported as an error (a declaration bug);
// - JSON null is a wrong type, except for a body field declared nullable(), where it passes
//   as null;
// - unknown body or query keys, missing required fields, wrong types, integers outside
//   int64 or the declared range, non-integral numbers for integer fields, strings outside the
//   length limits, not matching the pattern or the enumeration, invalid UTF-8 or NUL characters
//   are each reported as a FieldError;
// - query and path values are percent-decoded and converted to the declared type ("true"/
//   "false" for booleans); a key repeated in the query is an error.
//
// Details a client may rely on: '+' in a query is a literal plus (not a space; send %20); a
// pair without '=' is the key with an empty value; empty pairs ("a=1&&b=2") are skipped. A
// body nested deeper than kMaxBodyDepth, a query with more than kMaxQueryParameters pairs and
// a key given twice in the body are refused. Messages describe the rule that failed and never
// quote the value sent (so no secret can leak through them); unknown keys are named, cut to 64
// bytes. Errors come in a fixed order: the request as a whole (field ""), then the declared
// fields in declaration order, then unknown query keys, then unknown body keys. A non-empty
// body without a JSON Content-Type sets only `unsupported_media_type`.
ValidatedInput validateInput(const Endpoint& endpoint, const Request& request);

// The reply to refused input: 415 unsupported-media-type when `unsupported_media_type` is set,
// else validationProblem(input.errors, instance). `input` must not be ok().
Response inputProblem(const ValidatedInput& input, std::string_view instance);

// A 400 problem listing `errors` in its `errors` member ([{"field", "message"}], in order) and
// in `detail` ("field: message; field2: message2", cut short when long). Its type is
// invalid-argument, or malformed-request when an error concerns the request as a whole (field
// "": not JSON, not an object, nested too deep), as docs/api.md promises.
Response validationProblem(const std::vector<FieldError>& errors, std::string_view instance);

}  // namespace tendril::api
