#include "api/task_routes.h"

#include <string>
#include <utility>

#include "api/json_views.h"

namespace tendril::api {
namespace {

using nlohmann::json;

// Bounds of the mapping object (a cluster has at most a few dozen ports; a table at most 65 536
// columns, see data::CsvLimits).
constexpr size_t kMaxMappedPorts = 256;
constexpr size_t kMaxMappedColumns = 65536;
constexpr size_t kMaxColumnNameBytes = 256;

Field idInPath() { return uuidInPath("id", "the task's id"); }

Result<Reply> taskReply(const Result<store::Resource>& row) {
  if (!row.ok()) return row.status();
  return Reply(service::taskJson(*row));
}

// The `mapping` object: port → [column, ...]. Errors start with "mapping: " so that they name
// the field.
Result<data::ColumnMapping> mappingOf(const json& mapping) {
  data::ColumnMapping out;
  if (mapping.size() > kMaxMappedPorts) {
    return Status::Invalid("mapping: at most " + std::to_string(kMaxMappedPorts) + " ports");
  }
  for (const auto& [port, columns] : mapping.items()) {
    const std::string where = "mapping: " + port.substr(0, 64) + ": ";
    if (!columns.is_array() || columns.empty() || columns.size() > kMaxMappedColumns) {
      return Status::Invalid(where + "give a non-empty array of column names");
    }
    std::vector<std::string> names;
    for (const json& column : columns) {
      if (!column.is_string() || column.get_ref<const std::string&>().empty() ||
          column.get_ref<const std::string&>().size() > kMaxColumnNameBytes) {
        return Status::Invalid(where + "column names are non-empty strings of at most 256 bytes");
      }
      names.push_back(column.get<std::string>());
    }
    out.emplace(port, std::move(names));
  }
  return out;
}

void addCreate(std::vector<Endpoint>& out, service::TaskService& tasks) {
  Endpoint create = declare("POST", "/api/v1/tasks", "tasks.create",
                            "Queue a training or request task on a cluster", kInProject);
  create.description =
      "train: `epochs` passes over the dataset, one training cycle per sample (in a seeded "
      "shuffled order unless shuffle is false). request: the cluster's outputs for every sample, "
      "kept as a result (GET /results/{task id}). Images feed their raw pixel values (0..255) "
      "and, for training, a one-hot vector of the label; the cluster's input width must equal "
      "rows x cols and (train) its output width must be at least the dataset's classes. CSV "
      "tables feed the columns `mapping` names for each port (a port without an entry reads the "
      "column of its own name), in `mode` window (a sliding window, one column per port) or row "
      "(one row per sample, one column per value). Every width and column is checked before the "
      "task is queued (400 naming the port or column). 429 when the project's concurrent-task "
      "quota is reached.";
  create.input = {
      Field::string("type").required().oneOf({"train", "request"}),
      Field::string("cluster_id").required().pattern(kUuidPattern).describe("the cluster"),
      Field::string("dataset_id").required().pattern(kUuidPattern).describe("a ready dataset"),
      Field::integer("epochs").range(1, 1000).defaultsTo(1).describe("train: passes"),
      Field::boolean("shuffle").defaultsTo(true).describe("train: a new seeded order per epoch"),
      Field::integer("seed").range(0, INT64_MAX).defaultsTo(0).describe("the shuffle's seed"),
      Field::string("mode")
          .oneOf({"window", "row"})
          .defaultsTo("window")
          .describe("CSV datasets: sliding window or one row per sample"),
      Field::object("mapping").describe("CSV datasets: port name -> [column names]"),
      Field::string("name")
          .length(kMinNameLength, kMaxNameLength)
          .pattern(kNamePattern)
          .describe("optional; unique among the project's tasks"),
  };
  create.output = taskOutput();
  create.handler = [&tasks](Call& call) -> Result<Reply> {
    service::TaskCreate request;
    request.type = inputText(call, "type");
    request.cluster_id = inputText(call, "cluster_id");
    request.dataset_id = inputText(call, "dataset_id");
    request.epochs = call.input.at("epochs").get<int64_t>();
    request.shuffle = call.input.at("shuffle").get<bool>();
    request.seed = call.input.at("seed").get<uint64_t>();
    request.mode = inputText(call, "mode");
    request.name = optionalString(call.input, "name").value_or("");
    if (call.input.contains("mapping")) {
      Result<data::ColumnMapping> mapping = mappingOf(call.input.at("mapping"));
      if (!mapping.ok()) return mapping.status();
      request.mapping = std::move(mapping).value();
    }
    call.audit_target = request.cluster_id;
    Result<store::Resource> row = tasks.create(call.principal, request);
    if (row.ok()) call.audit_target = row->id;
    return taskReply(row);
  };
  out.push_back(std::move(create));
}

void addReads(std::vector<Endpoint>& out, service::TaskService& tasks) {
  Endpoint list = declare("GET", "/api/v1/tasks", "tasks.list", "List tasks", kInProject);
  list.description =
      "Oldest first. Members see their own tasks of the current project, project-admins all of "
      "it, admins every task.";
  list.input = pagingFields();
  list.input.push_back(
      Field::string("cluster_id").inQuery().pattern(kUuidPattern).describe("only this cluster's"));
  list.input.push_back(
      Field::string("state")
          .inQuery()
          .oneOf({"queued", "running", "finished", "failed", "cancelled", "interrupted"})
          .describe("only tasks in this state"));
  list.output = taskOutput();
  list.paged = true;
  list.handler = [&tasks](Call& call) -> Result<Reply> {
    service::TaskListFilter filter{optionalString(call.input, "cluster_id").value_or(""),
                                   optionalString(call.input, "state").value_or("")};
    return pageReply(tasks.list(call.principal, filter, pageRequestOf(call.input)),
                     service::taskJson);
  };
  out.push_back(std::move(list));

  Endpoint get =
      declare("GET", "/api/v1/tasks/{id}", "tasks.get", "Read a task and its progress", kInProject);
  get.input = {idInPath()};
  get.output = taskOutput();
  get.handler = [&tasks](Call& call) -> Result<Reply> {
    return taskReply(tasks.get(call.principal, inputText(call, "id")));
  };
  out.push_back(std::move(get));

  Endpoint events = declareWebSocket(
      std::string(kTaskEventsPath), "tasks.events", "WebSocket: the task's progress as it happens",
      kInProject,
      "Each message is the task (as GET /tasks/{id}): once on connect, on every change (progress "
      "at most every 200 ms) and a final one when it ends; then the server closes with 1000.");
  events.input = {idInPath()};
  out.push_back(std::move(events));
}

void addChanges(std::vector<Endpoint>& out, service::TaskService& tasks) {
  Endpoint cancel =
      declare("POST", "/api/v1/tasks/{id}/cancel", "tasks.cancel", "Cancel a task", kInProject);
  cancel.description =
      "A queued task is cancelled at once; a running one stops at the end of its current cycle "
      "(the reply waits for it, up to two seconds, and then may still say running with "
      "cancel_requested true). A task that has ended is returned unchanged.";
  cancel.success_status = 200;
  cancel.input = {idInPath()};
  cancel.output = taskOutput();
  cancel.handler = [&tasks](Call& call) -> Result<Reply> {
    return taskReply(tasks.cancel(call.principal, inputText(call, "id")));
  };
  out.push_back(std::move(cancel));

  Endpoint remove = declare("DELETE", "/api/v1/tasks/{id}", "tasks.delete",
                            "Delete an ended task and its result", kInProject);
  remove.description = "409 while the task is queued or running (cancel it first).";
  remove.input = {idInPath()};
  remove.handler = [&tasks](Call& call) -> Result<Reply> {
    return emptyReply(tasks.remove(call.principal, inputText(call, "id")));
  };
  out.push_back(std::move(remove));
}

}  // namespace

std::vector<OutputField> taskOutput() {
  return {
      {"id", FieldType::kString, "the task's id (also its result's id)"},
      {"name", FieldType::kString, "optional name", true},
      {"type", FieldType::kString, "train, request, checkpoint or restore"},
      {"state", FieldType::kString,
       "queued, running, finished, failed, cancelled or interrupted (by a stop of the server)"},
      {"project_id", FieldType::kString, "the project of its cluster"},
      {"owner_id", FieldType::kString, "who created it; null once that user is deleted", true},
      {"cluster_id", FieldType::kString, "the cluster it works on", true},
      {"dataset_id", FieldType::kString, "train and request: the dataset", true},
      {"checkpoint_id", FieldType::kString, "checkpoint and restore: the checkpoint", true},
      {"epochs", FieldType::kInteger, "passes over the dataset (request: 1)"},
      {"shuffle", FieldType::kBoolean, "train: a seeded new order per epoch"},
      {"seed", FieldType::kInteger, "the shuffle's seed"},
      {"mode", FieldType::kString, "CSV datasets: window or row", true},
      {"mapping", FieldType::kObject, "port -> [columns], as given", true},
      {"progress", FieldType::kNumber, "0..1"},
      {"samples_done", FieldType::kInteger, "samples trained or answered so far"},
      {"samples_total", FieldType::kInteger, "samples in all (epochs x dataset samples)"},
      {"samples_per_second", FieldType::kNumber, "since the task started"},
      {"eta_seconds", FieldType::kNumber, "estimated time left while running", true},
      {"error", FieldType::kString, "why it failed or was interrupted", true},
      {"cancel_requested", FieldType::kBoolean, "a cancel is on its way (running tasks)"},
      {"created_at", FieldType::kString, "ISO-8601 UTC"},
      {"started_at", FieldType::kString, "ISO-8601 UTC, when it started running", true},
      {"finished_at", FieldType::kString, "ISO-8601 UTC, when it ended", true},
      {"result_id", FieldType::kString, "request tasks: the result, once written", true},
  };
}

void addTaskEndpoints(std::vector<Endpoint>& out, service::TaskService& tasks) {
  addCreate(out, tasks);
  addReads(out, tasks);
  addChanges(out, tasks);
}

}  // namespace tendril::api
