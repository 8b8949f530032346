#include "api/quota_routes.h"

#include <optional>
#include <string>
#include <utility>

namespace tendril::api {
namespace {

// The four limits, in the order of the reply.
constexpr const char* kLimits[] = {"clusters", "synapse_bytes", "dataset_bytes",
                                   "concurrent_tasks"};

Field projectId() { return uuidInPath("id", "the project's id"); }

std::vector<OutputField> quotaOutput() {
  return {{"project_id", FieldType::kString, "the project", false},
          {"limits", FieldType::kObject,
           "clusters, synapse_bytes, dataset_bytes, concurrent_tasks: the limits in force", false},
          {"usage", FieldType::kObject, "the same four: what the project uses now", false},
          {"defaults", FieldType::kArray, "the names of the limits that are the defaults", false}};
}

// Applies `key` of the input to `limit`: absent leaves it, null resets it to the default.
void applyLimit(const nlohmann::json& input, const char* key, std::optional<int64_t>& limit) {
  if (!input.contains(key)) return;
  if (input.at(key).is_null()) {
    limit.reset();
  } else {
    limit = input.at(key).get<int64_t>();
  }
}

Result<Reply> quotaReply(service::Quotas& quotas, std::string_view project_id) {
  Result<nlohmann::json> view = quotas.view(project_id);
  if (!view.ok()) return view.status();
  return Reply(std::move(view).value());
}

}  // namespace

void addQuotaEndpoints(std::vector<Endpoint>& out, service::Quotas& quotas,
                       service::AccountService& accounts) {
  Endpoint get = declare("GET", "/api/v1/projects/{id}/quota", "projects.quota",
                         "Read a project's quota and usage", kSignedIn);
  get.description = "Admins, and members of the project (404 for anyone else).";
  get.input = {projectId()};
  get.output = quotaOutput();
  get.handler = [&quotas, &accounts](Call& call) -> Result<Reply> {
    const std::string id = call.input.at("id").get<std::string>();
    TENDRIL_RETURN_IF_ERROR(accounts.getProject(call.principal, id).status());
    return quotaReply(quotas, id);
  };
  out.push_back(std::move(get));

  Endpoint set = declare("PUT", "/api/v1/projects/{id}/quota", "projects.quota_set",
                         "Set a project's quota", kAdminOnly);
  set.description =
      "Changes the limits sent: a number sets the limit, null puts it back to the configured "
      "default; limits not sent stay as they are.";
  set.input = {projectId()};
  for (const char* limit : kLimits) {
    set.input.push_back(Field::integer(limit)
                            .range(0, INT64_MAX)
                            .nullable()
                            .describe(std::string("the ") + limit +
                                      " limit; null: the default; not sent: unchanged"));
  }
  set.output = quotaOutput();
  set.handler = [&quotas, &accounts](Call& call) -> Result<Reply> {
    const std::string id = call.input.at("id").get<std::string>();
    TENDRIL_RETURN_IF_ERROR(accounts.getProject(call.principal, id).status());
    Result<store::ProjectQuota> quota = quotas.stored(id);
    if (!quota.ok()) return quota.status();
    applyLimit(call.input, "clusters", quota->clusters);
    applyLimit(call.input, "synapse_bytes", quota->synapse_bytes);
    applyLimit(call.input, "dataset_bytes", quota->dataset_bytes);
    applyLimit(call.input, "concurrent_tasks", quota->concurrent_tasks);
    TENDRIL_RETURN_IF_ERROR(quotas.set(*quota));
    return quotaReply(quotas, id);
  };
  out.push_back(std::move(set));
}

}  // namespace tendril::api
