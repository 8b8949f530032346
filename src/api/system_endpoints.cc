#include "api/system_endpoints.h"

namespace tendril::api {
namespace {

using service::PolicyRole;

}  // namespace

void addSystemEndpoints(std::vector<Endpoint>& out, service::PolicyHolder& policy,
                        std::function<Status()> reload_policy,
                        std::shared_ptr<const nlohmann::json>* document) {
  Endpoint openapi;
  openapi.method = "GET";
  openapi.path = "/api/v1/openapi.json";
  openapi.operation_id = "system.openapi";
  openapi.tag = "system";
  openapi.summary = "This API as an OpenAPI 3.1 document";
  openapi.roles = {PolicyRole::kAnonymous, PolicyRole::kUser, PolicyRole::kMember,
                   PolicyRole::kProjectAdmin, PolicyRole::kAdmin};
  openapi.output = {{"openapi", FieldType::kString, "3.1.0"},
                    {"info", FieldType::kObject, "title and version"},
                    {"paths", FieldType::kObject, "every route"}};
  // The document is built after every endpoint is declared; the handler reads it then.
  openapi.handler = [document](Call&) -> Result<Reply> {
    if (*document == nullptr) return Status::Internal("the OpenAPI document was not built");
    return Reply(**document);
  };
  out.push_back(std::move(openapi));

  Endpoint reload;
  reload.method = "POST";
  reload.path = "/api/v1/system/policy/reload";
  reload.operation_id = "system.policy.reload";
  reload.tag = "system";
  reload.summary = "Re-read the policy file";
  reload.description =
      "On a parse error, or rules naming routes this server does not have, the policy in force "
      "stays and the reply says why. Fails with 409 when the server runs on its built-in policy "
      "(no policy_file).";
  reload.roles = {PolicyRole::kAdmin};
  reload.output = {{"rules", FieldType::kInteger, "rules in force now"}};
  reload.handler = [&policy, reload_policy = std::move(reload_policy)](Call&) -> Result<Reply> {
    if (Status status = reload_policy(); !status.ok()) return status;
    return Reply(nlohmann::json{{"rules", policy.current()->ruleCount()}});
  };
  out.push_back(std::move(reload));

  Endpoint events;
  events.method = "GET";
  events.path = std::string(kEventsPath);
  events.operation_id = "events.stream";
  events.tag = "events";
  events.summary = "WebSocket: live events the caller may see (audit entries)";
  events.description =
      "Connect with a WebSocket upgrade. Each event is one text frame {\"type\", \"entry\"}; "
      "send {\"type\": \"ping\"} for a pong. A plain GET gets 400.";
  events.roles = {PolicyRole::kUser, PolicyRole::kMember, PolicyRole::kProjectAdmin,
                  PolicyRole::kAdmin};
  events.handler = [](Call&) -> Result<Reply> {
    return Status::Invalid("this endpoint is a WebSocket: connect with an upgrade request");
  };
  out.push_back(std::move(events));
}

}  // namespace tendril::api
