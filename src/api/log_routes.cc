#include "api/log_routes.h"

#include <optional>
#include <string>
#include <utility>

#include "api/json_views.h"
#include "service/clock.h"

namespace tendril::api {
namespace {

using service::PolicyRole;

// The shape service::parseIsoTime() reads, so validation names a malformed `from` or `to` in
// its `errors` list and the OpenAPI document shows the format; impossible dates that fit the
// shape (2026-02-30) are refused by the handler's parse.
constexpr std::string_view kIsoTimePattern =
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,3})?(Z|\\+00:00)$";

// Filters shared by both logs: who, and a time window [from, to).
std::vector<Field> commonFilterFields() {
  return {Field::string("user_id").inQuery().pattern(kUuidPattern).describe("only this user's"),
          Field::string("from")
              .inQuery()
              .length(1, 64)
              .pattern(kIsoTimePattern)
              .describe("only entries at or after this ISO-8601 UTC time"),
          Field::string("to")
              .inQuery()
              .length(1, 64)
              .pattern(kIsoTimePattern)
              .describe("only entries before this ISO-8601 UTC time")};
}

// Reads `key` as an ISO-8601 time when present; InvalidArgument naming the field otherwise.
Status readTime(const Call& call, const char* key, std::optional<store::TimeMs>* out) {
  std::optional<std::string> text = optionalString(call.input, key);
  if (!text) return Status::Ok();
  Result<store::TimeMs> time = service::parseIsoTime(*text);
  if (!time.ok()) return Status::Invalid(std::string(key) + ": " + time.status().message());
  *out = *time;
  return Status::Ok();
}

// The fields of commonFilterFields() into any filter that has them.
template <typename Filter>
Status readCommonFilter(const Call& call, Filter* filter) {
  filter->user_id = optionalString(call.input, "user_id");
  TENDRIL_RETURN_IF_ERROR(readTime(call, "from", &filter->from_ms));
  return readTime(call, "to", &filter->to_ms);
}

Endpoint declareLog(std::string path, std::string operation_id, std::string summary,
                    std::vector<PolicyRole> roles, std::vector<Field> filters,
                    std::vector<OutputField> output) {
  Endpoint endpoint = declare("GET", std::move(path), std::move(operation_id), std::move(summary),
                              std::move(roles));
  endpoint.tag = "logs";
  endpoint.input = commonFilterFields();
  endpoint.input.insert(endpoint.input.end(), filters.begin(), filters.end());
  for (Field& field : pagingFields()) endpoint.input.push_back(std::move(field));
  endpoint.output = std::move(output);
  endpoint.paged = true;
  return endpoint;
}

}  // namespace

void addLogEndpoints(std::vector<Endpoint>& out, service::AuditLog& audit) {
  Endpoint audit_list = declareLog(
      "/api/v1/audit", "audit.list", "Read the audit log, newest first",
      {PolicyRole::kUser, PolicyRole::kMember, PolicyRole::kProjectAdmin, PolicyRole::kAdmin},
      {Field::string("action").inQuery().length(1, 128).describe("only this operation id"),
       Field::string("result").inQuery().length(1, 64).describe("only this result, e.g. ok")},
      auditEntryOutput());
  audit_list.description =
      "Admins read every entry; anyone else only their own (asking for another user_id: 403).";
  audit_list.handler = [&audit](Call& call) -> Result<Reply> {
    store::AuditFilter filter;
    TENDRIL_RETURN_IF_ERROR(readCommonFilter(call, &filter));
    filter.action = optionalString(call.input, "action");
    filter.result = optionalString(call.input, "result");
    return pageReply(audit.list(call.principal, std::move(filter), pageRequestOf(call.input)),
                     service::auditEntryJson);
  };
  out.push_back(std::move(audit_list));

  Endpoint error_list = declareLog(
      "/api/v1/errors", "errors.list", "Read the error log, newest first", {PolicyRole::kAdmin},
      {Field::string("component").inQuery().length(1, 64).describe("only this component")},
      errorEntryOutput());
  error_list.description = "Admins only. Server-side failures with their context.";
  error_list.handler = [&audit](Call& call) -> Result<Reply> {
    store::ErrorFilter filter;
    TENDRIL_RETURN_IF_ERROR(readCommonFilter(call, &filter));
    filter.component = optionalString(call.input, "component");
    return pageReply(audit.listErrors(call.principal, filter, pageRequestOf(call.input)),
                     errorEntryJson);
  };
  out.push_back(std::move(error_list));
}

}  // namespace tendril::api
