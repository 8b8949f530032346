#include "api/cluster_routes.h"

#include <string>
#include <utility>

#include "api/json_views.h"
#include "data/template_json.h"
#include "service/clock.h"
#include "service/tasks.h"

namespace tendril::api {
namespace {

// Clusters belong to a project: callers acting in one (and admins).

// Bytes of template text a create accepts (engine::TemplateLimits::max_text_bytes checks the
// same bound in bytes; this one is in characters, so that the declaration documents it).
constexpr size_t kMaxTemplateLength = size_t{1} << 20;

Field clusterId() { return uuidInPath("id", "the cluster's id"); }

Field clusterName(std::string what) {
  return Field::string("name")
      .required()
      .length(kMinNameLength, kMaxNameLength)
      .pattern(kNamePattern)
      .describe(std::move(what));
}

nlohmann::json portsJson(const std::vector<engine::Port>& ports) {
  nlohmann::json list = nlohmann::json::array();
  for (const engine::Port& port : ports) {
    list.push_back({{"name", port.name}, {"width", port.width}});
  }
  return list;
}

Result<Reply> clusterReply(const Result<service::ClusterView>& cluster) {
  if (!cluster.ok()) return cluster.status();
  return Reply(clusterJson(*cluster));
}

}  // namespace

nlohmann::json clusterJson(const service::ClusterView& cluster) {
  const engine::ClusterStats& stats = cluster.stats;
  nlohmann::json last = nullptr;
  if (cluster.last_checkpoint) {
    last = {{"id", cluster.last_checkpoint->id},
            {"created_at", service::formatIsoTime(cluster.last_checkpoint->created_ms)}};
  }
  return {{"id", cluster.row.id},
          {"name", cluster.row.name},
          {"project_id", cluster.row.project_id},
          {"owner_id", cluster.row.owner_id.empty() ? nlohmann::json(nullptr)
                                                    : nlohmann::json(cluster.row.owner_id)},
          {"created_at", service::formatIsoTime(cluster.row.created_ms)},
          {"inputs", portsJson(cluster.inputs)},
          {"outputs", portsJson(cluster.outputs)},
          {"stats",
           {{"bricks", stats.bricks},
            {"neurons", stats.neurons},
            {"sections", stats.sections},
            {"synapses", stats.synapses},
            {"bytes", stats.bytes},
            {"synapse_bytes", stats.synapse_bytes},
            {"samples_trained", stats.cycles_trained}}},
          {"last_checkpoint", std::move(last)},
          {"active_task_id", cluster.active_task_id ? nlohmann::json(*cluster.active_task_id)
                                                    : nlohmann::json(nullptr)}};
}

std::vector<OutputField> clusterOutput() {
  return {
      {"id", FieldType::kString, "the cluster's id", false},
      {"name", FieldType::kString, "unique in the project", false},
      {"project_id", FieldType::kString, "the project it belongs to", false},
      {"owner_id", FieldType::kString, "the user who created it; null once deleted", true},
      {"created_at", FieldType::kString, "when it was created (ISO-8601 UTC)", false},
      {"inputs", FieldType::kArray, "input ports in order: {name, width}", false},
      {"outputs", FieldType::kArray, "output ports in order: {name, width}", false},
      {"stats", FieldType::kObject,
       "live size figures: bricks, neurons, sections, synapses, bytes, synapse_bytes, "
       "samples_trained",
       false},
      {"last_checkpoint", FieldType::kObject, "the newest ready checkpoint: {id, created}", true},
      {"active_task_id", FieldType::kString, "the running (else the next queued) task", true}};
}

void addClusterEndpoints(std::vector<Endpoint>& out, service::ClusterService& clusters,
                         service::CheckpointService& checkpoints) {
  Endpoint create =
      declare("POST", "/api/v1/clusters", "clusters.create", "Create a cluster", kInProject);
  create.description =
      "Builds an untrained cluster in the current project from a template in the Hanami text "
      "format or JSON (docs/templates.md). A template that does not parse is refused with 400 "
      "naming the line or JSON path; the project's cluster and synapse-memory quotas with 429.";
  create.input = {clusterName("unique in the project"),
                  Field::string("template")
                      .required()
                      .length(1, kMaxTemplateLength)
                      .describe("template text: Hanami text format or JSON, at most 1 MiB")};
  create.output = clusterOutput();
  create.handler = [&clusters](Call& call) -> Result<Reply> {
    Result<service::ClusterView> cluster =
        clusters.create(call.principal, inputText(call, "name"), inputText(call, "template"));
    if (cluster.ok()) call.audit_target = cluster->row.id;
    return clusterReply(cluster);
  };
  out.push_back(std::move(create));

  Endpoint list = declare("GET", "/api/v1/clusters", "clusters.list", "List clusters", kInProject);
  list.description = "Project-admins see the project's clusters, members their own.";
  list.input = pagingFields();
  list.output = clusterOutput();
  list.paged = true;
  list.handler = [&clusters](Call& call) -> Result<Reply> {
    return pageReply(clusters.list(call.principal, pageRequestOf(call.input)), clusterJson);
  };
  out.push_back(std::move(list));

  Endpoint get =
      declare("GET", "/api/v1/clusters/{id}", "clusters.get", "Read a cluster", kInProject);
  get.input = {clusterId()};
  get.output = clusterOutput();
  get.handler = [&clusters](Call& call) -> Result<Reply> {
    return clusterReply(clusters.view(call.principal, inputText(call, "id")));
  };
  out.push_back(std::move(get));

  Endpoint rename =
      declare("PATCH", "/api/v1/clusters/{id}", "clusters.update", "Rename a cluster", kInProject);
  rename.description = "409 when another cluster of the project has the name.";
  rename.input = {clusterId(), clusterName("the new name, unique in the project")};
  rename.output = clusterOutput();
  rename.handler = [&clusters](Call& call) -> Result<Reply> {
    return clusterReply(
        clusters.rename(call.principal, inputText(call, "id"), inputText(call, "name")));
  };
  out.push_back(std::move(rename));

  Endpoint remove =
      declare("DELETE", "/api/v1/clusters/{id}", "clusters.delete", "Delete a cluster", kInProject);
  remove.description =
      "Cancels the cluster's queued and running tasks first (waiting for a running cycle to "
      "end), then frees it with its autosave checkpoint. Checkpoints saved or uploaded by users "
      "stay; their cluster_id keeps naming the deleted cluster.";
  remove.input = {clusterId()};
  remove.handler = [&clusters](Call& call) -> Result<Reply> {
    TENDRIL_RETURN_IF_ERROR(clusters.remove(call.principal, inputText(call, "id")));
    return Reply();
  };
  out.push_back(std::move(remove));

  Endpoint tmpl = declare("GET", "/api/v1/clusters/{id}/template", "clusters.template",
                          "Read a cluster's template", kInProject);
  tmpl.description =
      "`text` is the template as it was sent; `json` the same template in the JSON encoding "
      "with every setting.";
  tmpl.input = {clusterId()};
  tmpl.output = {
      {"text", FieldType::kString, "the template as sent at create", false},
      {"json", FieldType::kObject, "the template as JSON, every setting included", false}};
  tmpl.handler = [&clusters](Call& call) -> Result<Reply> {
    Result<service::ClusterTemplate> found =
        clusters.templateOf(call.principal, inputText(call, "id"));
    if (!found.ok()) return found.status();
    return Reply({{"text", found->text},
                  {"json", nlohmann::json::parse(data::templateToJson(found->tmpl))}});
  };
  out.push_back(std::move(tmpl));

  Endpoint restore = declare("POST", "/api/v1/clusters/{id}/restore", "clusters.restore",
                             "Restore a checkpoint into a cluster", kInProject);
  restore.description =
      "Queues a task of type `restore` that loads the checkpoint (validating it completely) and "
      "swaps it in between two cycles. 409 at once when the checkpoint was made from another "
      "template, or is not ready.";
  restore.success_status = 202;
  restore.input = {clusterId(), Field::string("checkpoint_id")
                                    .required()
                                    .pattern(kUuidPattern)
                                    .describe("a ready checkpoint of the same template")};
  restore.output = {{"id", FieldType::kString, "the restore task (see Tasks)", false}};
  restore.handler = [&checkpoints](Call& call) -> Result<Reply> {
    Result<store::Resource> task = checkpoints.restore(call.principal, inputText(call, "id"),
                                                       inputText(call, "checkpoint_id"));
    if (!task.ok()) return task.status();
    return Reply(service::taskJson(*task));
  };
  out.push_back(std::move(restore));
}

}  // namespace tendril::api
