#include "api/openapi.h"

#include <algorithm>
#include <set>
#include <string>
#include <utility>

namespace tendril::api {
namespace {

constexpr std::string_view kProblemSchemaRef = "#/components/schemas/Problem";
constexpr std::string_view kFieldErrorSchemaRef = "#/components/schemas/FieldError";

std::string lowerCase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return text;
}

// JSON Schema's `pattern` finds a match anywhere in the value, while validateInput() matches
// the whole value: a pattern that is not plainly anchored is wrapped so both agree.
std::string anchoredPattern(const std::string& regex) {
  bool anchored = regex.size() >= 2 && regex.front() == '^' && regex.back() == '$' &&
                  regex[regex.size() - 2] != '\\' && regex.find('|') == std::string::npos;
  return anchored ? regex : "^(?:" + regex + ")$";
}

nlohmann::json outputObjectSchema(const std::vector<OutputField>& fields) {
  nlohmann::json properties = nlohmann::json::object();
  nlohmann::json required = nlohmann::json::array();
  for (const OutputField& field : fields) {
    nlohmann::json schema;
    std::string type(fieldTypeName(field.type));
    schema["type"] = field.nullable ? nlohmann::json::array({type, "null"}) : nlohmann::json(type);
    if (!field.description.empty()) schema["description"] = field.description;
    properties[field.name] = std::move(schema);
    required.push_back(field.name);  // nullable fields are present too, as null
  }
  nlohmann::json schema = {{"type", "object"}, {"properties", std::move(properties)}};
  if (!required.empty()) schema["required"] = std::move(required);
  return schema;
}

nlohmann::json successResponse(const Endpoint& endpoint) {
  if (endpoint.success_status == 204) return {{"description", "Done; no content."}};
  nlohmann::json schema = outputObjectSchema(endpoint.output);
  if (endpoint.paged) {
    schema = {
        {"type", "object"},
        {"required", nlohmann::json::array({"items", "next_cursor"})},
        {"properties",
         {{"items", {{"type", "array"}, {"items", std::move(schema)}}},
          {"next_cursor",
           {{"type", nlohmann::json::array({"string", "null"})},
            {"description", "Pass as ?cursor= for the next page; null on the last page."}}}}},
    };
  }
  return {{"description", endpoint.success_status == 201 ? "Created." : "Success."},
          {"content", {{"application/json", {{"schema", std::move(schema)}}}}}};
}

nlohmann::json problemResponse(std::string_view description) {
  return {{"description", description},
          {"content", {{kProblemContentType, {{"schema", {{"$ref", kProblemSchemaRef}}}}}}}};
}

bool takesBody(const Endpoint& endpoint) {
  return endpoint.method == "POST" || endpoint.method == "PUT" || endpoint.method == "PATCH";
}

bool anonymousOnly(const Endpoint& endpoint) {
  return !endpoint.roles.empty() &&
         std::all_of(endpoint.roles.begin(), endpoint.roles.end(), [](service::PolicyRole role) {
           return role == service::PolicyRole::kAnonymous;
         });
}

bool anonymousAllowed(const Endpoint& endpoint) {
  return std::find(endpoint.roles.begin(), endpoint.roles.end(), service::PolicyRole::kAnonymous) !=
         endpoint.roles.end();
}

bool hasSource(const Endpoint& endpoint, FieldSource source) {
  return std::any_of(endpoint.input.begin(), endpoint.input.end(),
                     [source](const Field& field) { return field.source == source; });
}

// The error statuses this endpoint can answer with, each a problem+json body.
nlohmann::json responses(const Endpoint& endpoint) {
  nlohmann::json out = nlohmann::json::object();
  out[std::to_string(endpoint.success_status)] = successResponse(endpoint);
  if (!endpoint.input.empty() || takesBody(endpoint)) {
    out["400"] = problemResponse(
        "Invalid input (`errors` lists each field), or a body that is not a JSON object.");
  }
  if (!anonymousOnly(endpoint)) {
    out["401"] = problemResponse("No credentials, or invalid, expired or revoked ones.");
  }
  out["403"] = problemResponse("The caller's role may not do this.");
  if (hasSource(endpoint, FieldSource::kPath)) {
    out["404"] = problemResponse("Nothing with this id is visible to the caller.");
  }
  if (takesBody(endpoint) || endpoint.method == "DELETE") {
    out["409"] = problemResponse("The current state forbids it (a name taken, a precondition).");
  }
  out["413"] = problemResponse("The request body is too large.");
  if (takesBody(endpoint)) out["415"] = problemResponse("A body not sent as application/json.");
  out["429"] = problemResponse("Too many requests or failed logins, or a quota is reached.");
  out["500"] = problemResponse("A server bug; the details are in the server's log.");
  return out;
}

nlohmann::json parameters(const Endpoint& endpoint) {
  nlohmann::json out = nlohmann::json::array();
  for (const Field& field : endpoint.input) {
    if (field.source == FieldSource::kBody) continue;
    nlohmann::json parameter = {
        {"name", field.name},
        {"in", field.source == FieldSource::kPath ? "path" : "query"},
        {"required", field.source == FieldSource::kPath || field.is_required},
        {"schema", fieldSchema(field)},
    };
    if (!field.description.empty()) parameter["description"] = field.description;
    out.push_back(std::move(parameter));
  }
  return out;
}

nlohmann::json requestBody(const Endpoint& endpoint) {
  nlohmann::json properties = nlohmann::json::object();
  nlohmann::json required = nlohmann::json::array();
  for (const Field& field : endpoint.input) {
    if (field.source != FieldSource::kBody) continue;
    properties[field.name] = fieldSchema(field);
    if (field.is_required) required.push_back(field.name);
  }
  nlohmann::json schema = {
      {"type", "object"},
      {"properties", std::move(properties)},
      {"additionalProperties", false},
  };
  bool any_required = !required.empty();
  if (any_required) schema["required"] = std::move(required);
  return {{"required", any_required},
          {"content", {{"application/json", {{"schema", std::move(schema)}}}}}};
}

nlohmann::json security(const Endpoint& endpoint) {
  if (anonymousOnly(endpoint)) return nlohmann::json::array();
  nlohmann::json out = nlohmann::json::array();
  // An empty requirement makes credentials optional: anonymous callers are let in too.
  if (anonymousAllowed(endpoint)) out.push_back(nlohmann::json::object());
  out.push_back({{"bearerAuth", nlohmann::json::array()}});
  out.push_back({{"apiKey", nlohmann::json::array()}});
  return out;
}

nlohmann::json operation(const Endpoint& endpoint) {
  nlohmann::json roles = nlohmann::json::array();
  for (service::PolicyRole role : endpoint.roles) roles.push_back(service::policyRoleName(role));
  nlohmann::json out = {
      {"operationId", endpoint.operation_id}, {"summary", endpoint.summary},
      {"x-roles", std::move(roles)},          {"security", security(endpoint)},
      {"responses", responses(endpoint)},
  };
  if (!endpoint.tag.empty()) out["tags"] = nlohmann::json::array({endpoint.tag});
  if (!endpoint.description.empty()) out["description"] = endpoint.description;
  nlohmann::json params = parameters(endpoint);
  if (!params.empty()) out["parameters"] = std::move(params);
  if (hasSource(endpoint, FieldSource::kBody)) out["requestBody"] = requestBody(endpoint);
  return out;
}

nlohmann::json components() {
  nlohmann::json problem = {
      {"type", "object"},
      {"description", "An RFC 9457 problem; clients branch on `type`."},
      {"required", nlohmann::json::array({"type", "title", "status"})},
      {"properties",
       {{"type", {{"type", "string"}, {"format", "uri"}}},
        {"title", {{"type", "string"}}},
        {"status", {{"type", "integer"}}},
        {"detail", {{"type", "string"}}},
        {"instance", {{"type", "string"}}},
        {"errors", {{"type", "array"}, {"items", {{"$ref", kFieldErrorSchemaRef}}}}}}},
  };
  nlohmann::json field_error = {
      {"type", "object"},
      {"required", nlohmann::json::array({"field", "message"})},
      {"properties",
       {{"field", {{"type", "string"}, {"description", "Empty for the request as a whole."}}},
        {"message", {{"type", "string"}}}}},
  };
  return {
      {"schemas", {{"Problem", std::move(problem)}, {"FieldError", std::move(field_error)}}},
      {"securitySchemes",
       {{"bearerAuth", {{"type", "http"}, {"scheme", "bearer"}, {"bearerFormat", "JWT"}}},
        {"apiKey", {{"type", "apiKey"}, {"in", "header"}, {"name", "X-API-Key"}}}}},
  };
}

}  // namespace

nlohmann::json fieldSchema(const Field& field) {
  nlohmann::json schema = {{"type", fieldTypeName(field.type)}};
  switch (field.type) {
    case FieldType::kString:
      if (field.min_length) schema["minLength"] = *field.min_length;
      if (field.max_length) schema["maxLength"] = *field.max_length;
      if (!field.regex.empty()) schema["pattern"] = anchoredPattern(field.regex);
      if (!field.allowed.empty()) schema["enum"] = field.allowed;
      if (field.is_secret) {
        schema["format"] = "password";
        schema["writeOnly"] = true;
      }
      break;
    case FieldType::kInteger:
    case FieldType::kNumber:
      if (field.min_value) schema["minimum"] = *field.min_value;
      if (field.max_value) schema["maximum"] = *field.max_value;
      break;
    case FieldType::kArray:
      if (field.min_length) schema["minItems"] = *field.min_length;
      if (field.max_length) schema["maxItems"] = *field.max_length;
      break;
    case FieldType::kBoolean:
    case FieldType::kObject:
      break;
  }
  if (!field.default_value.is_null()) schema["default"] = field.default_value;
  if (!field.description.empty()) schema["description"] = field.description;
  return schema;
}

nlohmann::json openApiDocument(const std::vector<Endpoint>& endpoints, std::string_view version) {
  std::set<std::string> tags;
  std::set<std::pair<std::string, std::string>> seen;
  nlohmann::json paths = nlohmann::json::object();  // keys sort, so paths and methods do too
  for (const Endpoint& endpoint : endpoints) {
    if (!seen.emplace(endpoint.path, endpoint.method).second) continue;
    if (!endpoint.tag.empty()) tags.insert(endpoint.tag);
    paths[endpoint.path][lowerCase(endpoint.method)] = operation(endpoint);
  }
  nlohmann::json tag_list = nlohmann::json::array();
  for (const std::string& tag : tags) tag_list.push_back({{"name", tag}});
  return {
      {"openapi", "3.1.0"},
      {"info",
       {{"title", "Tendril API"},
        {"version", version},
        {"description", "Generated from the server's endpoint declarations; see docs/api.md."}}},
      {"servers", nlohmann::json::array({{{"url", "/"}}})},
      {"tags", std::move(tag_list)},
      {"paths", std::move(paths)},
      {"components", components()},
  };
}

}  // namespace tendril::api
