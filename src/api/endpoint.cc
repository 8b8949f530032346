#include "api/endpoint.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <set>
#include <shared_mutex>
#include <system_error>

namespace tendril::api {
namespace {

// Unknown keys are named in errors; longer names are cut (a key is client data, not ours).
constexpr size_t kMaxNamedKeyBytes = 64;
// `detail` repeats the errors for humans; the `errors` array stays complete.
constexpr size_t kMaxDetailBytes = 512;

// ---- Text ---------------------------------------------------------------------------------

// The number of code points in `text`, or nullopt when it is not valid UTF-8 (overlong forms,
// surrogates and values above U+10FFFF are invalid, as RFC 3629 says).
std::optional<size_t> utf8CodePoints(std::string_view text) {
  size_t count = 0;
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t extra = 0;
    uint32_t code_point = 0;
    uint32_t smallest = 0;
    if (lead < 0x80) {
      ++i;
      ++count;
      continue;
    } else if ((lead & 0xE0) == 0xC0) {
      extra = 1;
      code_point = lead & 0x1Fu;
      smallest = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      extra = 2;
      code_point = lead & 0x0Fu;
      smallest = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      extra = 3;
      code_point = lead & 0x07u;
      smallest = 0x10000;
    } else {
      return std::nullopt;
    }
    if (text.size() - i <= extra) return std::nullopt;
    for (size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return std::nullopt;
      code_point = (code_point << 6) | (next & 0x3Fu);
    }
    if (code_point < smallest || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return std::nullopt;
    }
    i += extra + 1;
    ++count;
  }
  return count;
}

// `name` cut to kMaxNamedKeyBytes without splitting a UTF-8 sequence.
std::string shortName(std::string_view name) {
  if (name.size() <= kMaxNamedKeyBytes) return std::string(name);
  size_t end = kMaxNamedKeyBytes;
  while (end > 0 && (static_cast<unsigned char>(name[end]) & 0xC0) == 0x80) --end;
  return std::string(name.substr(0, end)) + "...";
}

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
    if (x != y) return false;
  }
  return true;
}

// "application/json", optionally with parameters ("; charset=utf-8"), in any letter case.
bool isJsonContentType(std::string_view content_type) {
  content_type = content_type.substr(0, content_type.find(';'));
  while (!content_type.empty() && (content_type.front() == ' ' || content_type.front() == '\t'))
    content_type.remove_prefix(1);
  while (!content_type.empty() && (content_type.back() == ' ' || content_type.back() == '\t'))
    content_type.remove_suffix(1);
  return equalsIgnoringCase(content_type, "application/json");
}

// Whether arrays and objects in `text` nest deeper than `limit`, counting brackets outside
// strings. Checked before parsing so that no later recursive walk (dump, copy, compare) of the
// parsed value can exhaust the stack. For text that is not JSON the answer does not matter:
// the parser stops at the first error, and up to there the scan saw what the parser saw.
bool nestsDeeperThan(std::string_view text, size_t limit) {
  size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

// ---- Patterns -----------------------------------------------------------------------------

// Compiled patterns, keyed by their text: each is compiled once per process, at first use.
// A pattern that does not compile is cached as null (a declaration bug, reported per call).
class PatternCache {
 public:
  std::shared_ptr<const std::regex> get(const std::string& pattern) {
    {
      std::shared_lock lock(mutex_);
      auto it = compiled_.find(pattern);
      if (it != compiled_.end()) return it->second;
    }
    std::shared_ptr<const std::regex> regex;
    try {
      regex = std::make_shared<const std::regex>(pattern, std::regex::ECMAScript);
    } catch (const std::exception&) {
      regex = nullptr;
    }
    std::unique_lock lock(mutex_);
    return compiled_.emplace(pattern, std::move(regex)).first->second;
  }

 private:
  std::shared_mutex mutex_;
  std::map<std::string, std::shared_ptr<const std::regex>, std::less<>> compiled_;
};

PatternCache& patternCache() {
  static PatternCache cache;
  return cache;
}

// ---- Rules --------------------------------------------------------------------------------

std::string describeBounds(std::optional<std::string> low, std::optional<std::string> high,
                           std::string_view unit) {
  std::string suffix = unit.empty() ? "" : " " + std::string(unit);
  if (low && high) return "must be " + *low + " to " + *high + suffix;
  if (low) return "must be at least " + *low + suffix;
  return "must be at most " + *high + suffix;
}

template <typename T>
std::optional<std::string> toText(const std::optional<T>& value) {
  if (!value) return std::nullopt;
  return std::to_string(*value);
}

// Whether `count` is outside the field's length limits.
bool outsideLength(const Field& field, size_t count) {
  return (field.min_length && count < *field.min_length) ||
         (field.max_length && count > *field.max_length);
}

std::string lengthRule(const Field& field, std::string_view unit) {
  return describeBounds(toText(field.min_length), toText(field.max_length), unit);
}

bool outsideRange(const Field& field, double value) {
  return (field.min_value && value < static_cast<double>(*field.min_value)) ||
         (field.max_value && value > static_cast<double>(*field.max_value));
}

bool outsideRange(const Field& field, int64_t value) {
  return (field.min_value && value < *field.min_value) ||
         (field.max_value && value > *field.max_value);
}

std::string rangeRule(const Field& field) {
  return describeBounds(toText(field.min_value), toText(field.max_value), "");
}

using Message = std::optional<std::string>;  // nullopt: the value passed

Message checkString(const Field& field, const std::string& text) {
  std::optional<size_t> code_points = utf8CodePoints(text);
  if (!code_points) return "must be valid UTF-8";
  if (text.find('\0') != std::string::npos) return "must not contain NUL characters";
  if (outsideLength(field, *code_points)) return lengthRule(field, "characters long");
  if (!field.allowed.empty() &&
      std::find(field.allowed.begin(), field.allowed.end(), text) == field.allowed.end()) {
    std::string list;
    for (const std::string& allowed : field.allowed) list += (list.empty() ? "" : ", ") + allowed;
    return "must be one of: " + list;
  }
  if (field.regex.empty()) return std::nullopt;
  if (text.size() > kMaxPatternInputBytes) {
    return "must be at most " + std::to_string(kMaxPatternInputBytes) +
           " bytes long to be checked against its pattern";
  }
  std::shared_ptr<const std::regex> regex = patternCache().get(field.regex);
  if (regex == nullptr) return "cannot be checked: the server declares an invalid pattern";
  try {
    if (std::regex_match(text, *regex)) return std::nullopt;
  } catch (const std::exception&) {
    return "is too complex to check against its pattern";
  }
  return "must match " + field.regex;
}

// Integers come from the JSON parser as signed, unsigned (above INT64_MAX too) or, when they
// do not fit 64 bits or have a fraction or an exponent, as floating point.
Message checkInteger(const Field& field, const nlohmann::json& value, nlohmann::json* converted) {
  int64_t number = 0;
  if (value.is_number_unsigned()) {
    auto unsigned_number = value.get<uint64_t>();
    if (unsigned_number > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return "is outside the 64-bit integer range";
    }
    number = static_cast<int64_t>(unsigned_number);
  } else if (value.is_number_integer()) {
    number = value.get<int64_t>();
  } else if (value.is_number_float()) {
    double real = value.get<double>();
    // The parser turns integer literals beyond int64 into doubles (99999999999999999999 into
    // 1e20). Those at or beyond ±2^63 are called out of range: -2^63 itself fits, but as a
    // double it is what -9223372036854775809 rounds to, and a literal INT64_MIN parses as an
    // integer anyway.
    constexpr double kTwoTo63 = 9223372036854775808.0;
    if (std::isfinite(real) && std::trunc(real) == real) {
      if (real >= kTwoTo63 || real <= -kTwoTo63) return "is outside the 64-bit integer range";
      return "must be an integer written without a decimal point or exponent";
    }
    return "must be an integer";
  } else {
    return "must be an integer";
  }
  if (outsideRange(field, number)) return rangeRule(field);
  *converted = number;
  return std::nullopt;
}

Message checkNumber(const Field& field, const nlohmann::json& value) {
  if (!value.is_number()) return "must be a number";
  bool outside = false;
  if (value.is_number_float()) {
    double number = value.get<double>();
    if (!std::isfinite(number)) return "must be a finite number";
    outside = outsideRange(field, number);
  } else if (value.is_number_unsigned() &&
             value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    outside = field.max_value.has_value();  // above every int64 maximum
  } else {
    outside = outsideRange(field, value.get<int64_t>());
  }
  if (outside) return rangeRule(field);
  return std::nullopt;
}

// Checks `value` against `field` and stores what the handler gets in `converted`.
Message checkValue(const Field& field, const nlohmann::json& value, nlohmann::json* converted) {
  *converted = value;
  switch (field.type) {
    case FieldType::kString:
      if (!value.is_string()) return "must be a string";
      return checkString(field, value.get_ref<const std::string&>());
    case FieldType::kInteger:
      return checkInteger(field, value, converted);
    case FieldType::kNumber:
      return checkNumber(field, value);
    case FieldType::kBoolean:
      if (!value.is_boolean()) return "must be true or false";
      return std::nullopt;
    case FieldType::kObject:
      if (!value.is_object()) return "must be an object";
      return std::nullopt;
    case FieldType::kArray:
      if (!value.is_array()) return "must be an array";
      if (outsideLength(field, value.size())) return lengthRule(field, "items");
      return std::nullopt;
  }
  return "has an undeclared type";
}

// Converts a query or path value (text) to the field's declared type; the caller checks the
// result like a body value. Integers and numbers must be the whole text ("5", "-2", "1.5e3").
Message convertText(const Field& field, const std::string& text, nlohmann::json* value) {
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  switch (field.type) {
    case FieldType::kString:
      *value = text;
      return std::nullopt;
    case FieldType::kInteger: {
      int64_t number = 0;
      auto [stop, error] = std::from_chars(begin, end, number);
      if (error == std::errc::result_out_of_range) return "is outside the 64-bit integer range";
      if (error != std::errc() || stop != end || text.empty()) return "must be an integer";
      *value = number;
      return std::nullopt;
    }
    case FieldType::kNumber: {
      double number = 0;
      auto [stop, error] = std::from_chars(begin, end, number, std::chars_format::general);
      if (error != std::errc() || stop != end || text.empty() || !std::isfinite(number)) {
        return "must be a finite number";
      }
      *value = number;
      return std::nullopt;
    }
    case FieldType::kBoolean:
      if (text != "true" && text != "false") return "must be true or false";
      *value = text == "true";
      return std::nullopt;
    case FieldType::kObject:
    case FieldType::kArray:
      break;
  }
  return "cannot be sent in the path or query (the server declares it as " +
         std::string(fieldTypeName(field.type)) + ")";
}

// ---- Sources ------------------------------------------------------------------------------

bool takesBody(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH";
}

// The body as a JSON object, or nullopt when there is none to check fields against (an error
// has then been recorded, or the media type is unsupported).
std::optional<nlohmann::json> readBody(const Endpoint& endpoint, const Request& request,
                                       ValidatedInput* result) {
  if (!takesBody(endpoint.method)) {
    if (request.body.empty()) return nlohmann::json::object();
    result->errors.push_back({"", "a " + endpoint.method + " request must not have a body"});
    return std::nullopt;
  }
  // Raw bytes are the handler's, whatever their Content-Type; no field comes from them.
  if (endpoint.raw_body) return std::nullopt;
  if (request.body.empty()) return nlohmann::json::object();
  if (!isJsonContentType(request.header("content-type"))) {
    result->unsupported_media_type = true;
    return std::nullopt;
  }
  // JSON text never holds a raw NUL (inside strings it is escaped as \u0000), and nlohmann's
  // lexer takes one for the end of input: `{"a":1}\0junk` would parse as `{"a":1}`.
  if (request.body.find('\0') != std::string::npos) {
    result->errors.push_back({"", "the body is not valid JSON: it contains a NUL byte"});
    return std::nullopt;
  }
  if (nestsDeeperThan(request.body, kMaxBodyDepth)) {
    result->errors.push_back({"", "the body nests arrays and objects deeper than " +
                                      std::to_string(kMaxBodyDepth) + " levels"});
    return std::nullopt;
  }
  // Keys given twice in the top-level object: the parser would keep the last silently, while
  // something in front of the server may have looked at the first.
  std::set<std::string> seen;
  std::set<std::string> repeated;
  auto on_event = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (depth == 1 && event == nlohmann::json::parse_event_t::key && parsed.is_string()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!seen.insert(key).second) repeated.insert(key);
    }
    return true;
  };
  nlohmann::json body = nlohmann::json::parse(request.body, on_event, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    // The parser's own message quotes the input, which may be a password: not repeated here.
    result->errors.push_back({"", "the body is not valid JSON"});
    return std::nullopt;
  }
  if (!body.is_object()) {
    result->errors.push_back({"", "the body must be a JSON object"});
    return std::nullopt;
  }
  for (const std::string& key : repeated) {
    result->errors.push_back({shortName(key), "is given more than once in the body"});
  }
  return body;
}

struct QueryValue {
  std::string text;     // decoded
  size_t count = 0;     // how often the key was given
  bool decoded = true;  // false: a malformed %-escape in the value
};

struct Query {
  bool usable = true;  // false: the query as a whole was refused (an error is recorded)
  std::map<std::string, QueryValue, std::less<>> values;  // by decoded key
  std::vector<std::string> keys;                          // in order of first appearance
};

Query readQuery(std::string_view query, ValidatedInput* result) {
  Query parsed;
  size_t pairs = 0;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    if (++pairs > kMaxQueryParameters) {
      result->errors.push_back(
          {"", "the query has more than " + std::to_string(kMaxQueryParameters) + " parameters"});
      parsed.usable = false;
      return parsed;
    }
    size_t equals = pair.find('=');
    std::string key;
    if (!percentDecode(pair.substr(0, equals), &key)) {
      result->errors.push_back({"", "a query parameter name is not correctly percent-encoded"});
      continue;
    }
    std::string_view raw_value =
        equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1);
    auto [it, inserted] = parsed.values.try_emplace(key);
    if (inserted) parsed.keys.push_back(key);
    QueryValue& value = it->second;
    ++value.count;
    value.decoded = percentDecode(raw_value, &value.text);
  }
  return parsed;
}

// What the caller sent for `field` (a query or path value converted to the declared type), or
// nullopt when nothing was sent. Sets `error` when a value was sent but cannot be read.
std::optional<nlohmann::json> sentValue(const Field& field,
                                        const std::optional<nlohmann::json>& body,
                                        const Query& query, const Request& request,
                                        Message* error) {
  nlohmann::json value;
  switch (field.source) {
    case FieldSource::kBody: {
      if (!body) return std::nullopt;
      auto it = body->find(field.name);
      if (it == body->end()) return std::nullopt;
      return *it;
    }
    case FieldSource::kQuery: {
      auto it = query.values.find(field.name);
      if (it == query.values.end()) return std::nullopt;
      if (it->second.count > 1) {
        *error = "is given more than once in the query";
      } else if (!it->second.decoded) {
        *error = "is not correctly percent-encoded";
      } else {
        *error = convertText(field, it->second.text, &value);
      }
      return value;
    }
    case FieldSource::kPath: {
      auto it = request.path_params.find(field.name);
      if (it == request.path_params.end()) return std::nullopt;
      *error = convertText(field, it->second, &value);
      return value;
    }
  }
  return std::nullopt;
}

bool declares(const Endpoint& endpoint, FieldSource source, std::string_view name) {
  return std::any_of(endpoint.input.begin(), endpoint.input.end(), [&](const Field& field) {
    return field.source == source && field.name == name;
  });
}

}  // namespace

std::string_view fieldTypeName(FieldType type) {
  switch (type) {
    case FieldType::kString:
      return "string";
    case FieldType::kInteger:
      return "integer";
    case FieldType::kNumber:
      return "number";
    case FieldType::kBoolean:
      return "boolean";
    case FieldType::kObject:
      return "object";
    case FieldType::kArray:
      return "array";
  }
  return "string";
}

ValidatedInput validateInput(const Endpoint& endpoint, const Request& request) {
  ValidatedInput result;
  std::optional<nlohmann::json> body = readBody(endpoint, request, &result);
  if (result.unsupported_media_type) return result;
  Query query = readQuery(request.query, &result);

  for (const Field& field : endpoint.input) {
    if (field.source == FieldSource::kBody && endpoint.raw_body && takesBody(endpoint.method)) {
      result.errors.push_back(
          {field.name, "cannot be sent: the server declares it in a body that is raw bytes"});
      continue;
    }
    bool source_refused = (field.source == FieldSource::kBody && !body) ||
                          (field.source == FieldSource::kQuery && !query.usable);
    if (source_refused) continue;  // already reported as a whole
    Message error;
    std::optional<nlohmann::json> sent = sentValue(field, body, query, request, &error);
    if (!sent) {
      if (field.is_required) {
        result.errors.push_back({field.name, "is required"});
      } else if (!field.default_value.is_null()) {
        result.input[field.name] = field.default_value;
      }
      continue;
    }
    if (!error && field.is_nullable && sent->is_null()) {
      result.input[field.name] = nullptr;
      continue;
    }
    nlohmann::json converted;
    if (!error) error = checkValue(field, *sent, &converted);
    if (error) {
      result.errors.push_back({field.name, std::move(*error)});
    } else {
      result.input[field.name] = std::move(converted);
    }
  }

  if (query.usable) {
    for (const std::string& key : query.keys) {
      if (!declares(endpoint, FieldSource::kQuery, key)) {
        result.errors.push_back({shortName(key), "is not a known query parameter"});
      }
    }
  }
  if (body) {
    for (const auto& item : body->items()) {
      if (!declares(endpoint, FieldSource::kBody, item.key())) {
        result.errors.push_back({shortName(item.key()), "is not a known field"});
      }
    }
  }
  return result;
}

Response validationProblem(const std::vector<FieldError>& errors, std::string_view instance) {
  bool whole_request = false;
  nlohmann::json list = nlohmann::json::array();
  std::string detail;
  size_t left_out = 0;
  for (const FieldError& error : errors) {
    whole_request = whole_request || error.field.empty();
    list.push_back({{"field", error.field}, {"message", error.message}});
    std::string entry = error.field.empty() ? error.message : error.field + ": " + error.message;
    if (detail.size() + entry.size() + 2 > kMaxDetailBytes) {
      ++left_out;
      continue;
    }
    detail += (detail.empty() ? "" : "; ") + entry;
  }
  if (left_out > 0) detail += "; and " + std::to_string(left_out) + " more (see errors)";
  ProblemKind kind = whole_request ? problemKindFor(TransportProblem::kMalformedRequest)
                                   : problemKindFor(Code::kInvalidArgument);
  Response response;
  response.status = kind.status;
  response.content_type = std::string(kProblemContentType);
  response.body = renderProblem(kind, detail, instance, {{"errors", std::move(list)}});
  return response;
}

Response inputProblem(const ValidatedInput& input, std::string_view instance) {
  if (input.unsupported_media_type) {
    return Response::problem(TransportProblem::kUnsupportedMediaType,
                             "send the body as application/json", instance);
  }
  return validationProblem(input.errors, instance);
}

Endpoint declare(std::string method, std::string path, std::string operation_id,
                 std::string summary, std::vector<service::PolicyRole> roles) {
  Endpoint endpoint;
  endpoint.method = std::move(method);
  endpoint.path = std::move(path);
  endpoint.tag = operation_id.substr(0, operation_id.find('.'));
  endpoint.operation_id = std::move(operation_id);
  endpoint.summary = std::move(summary);
  endpoint.roles = std::move(roles);
  if (endpoint.method == "POST") endpoint.success_status = 201;
  if (endpoint.method == "DELETE") endpoint.success_status = 204;
  return endpoint;
}

Endpoint declareWebSocket(std::string path, std::string operation_id, std::string summary,
                          std::vector<service::PolicyRole> roles, std::string_view description) {
  Endpoint endpoint = declare("GET", std::move(path), std::move(operation_id), std::move(summary),
                              std::move(roles));
  endpoint.description =
      "Connect with a WebSocket upgrade. " + std::string(description) + " A plain GET gets 400.";
  endpoint.handler = [](Call&) -> Result<Reply> {
    return Status::Invalid("this endpoint is a WebSocket: connect with an upgrade request");
  };
  return endpoint;
}

Reply fileReply(std::filesystem::path file, std::string content_type, std::string filename) {
  Reply reply;
  reply.file = std::move(file);
  reply.content_type = std::move(content_type);
  reply.filename = std::move(filename);
  return reply;
}

Field uuidInPath(std::string name, std::string what) {
  return Field::string(std::move(name)).inPath().pattern(kUuidPattern).describe(std::move(what));
}

std::string inputText(const Call& call, const char* key) {
  return call.input.at(key).get<std::string>();
}

Result<Reply> emptyReply(const Status& status) {
  if (!status.ok()) return status;
  return Reply();
}

}  // namespace tendril::api
