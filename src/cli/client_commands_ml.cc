// Client subcommands for the ML resources: cluster, dataset (resumable uploads with progress),
// task (train, request, watch over the task's events WebSocket), result and checkpoint
// (docs/cli.md).
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "cli/client_context.h"
#include "cli/commands.h"
#include "service/uploads.h"

namespace tendril::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::vector<Column> kClusterColumns = {{"ID", "/id"},
                                             {"NAME", "/name"},
                                             {"INPUTS", "/inputs"},
                                             {"OUTPUTS", "/outputs"},
                                             {"SYNAPSES", "/stats/synapses"},
                                             {"TRAINED", "/stats/samples_trained"},
                                             {"TASK", "/active_task_id"}};
const std::vector<Column> kClusterFields = {{"id", "/id"},
                                            {"name", "/name"},
                                            {"project_id", "/project_id"},
                                            {"inputs", "/inputs"},
                                            {"outputs", "/outputs"},
                                            {"neurons", "/stats/neurons"},
                                            {"synapses", "/stats/synapses"},
                                            {"bytes", "/stats/bytes"},
                                            {"samples_trained", "/stats/samples_trained"},
                                            {"last_checkpoint", "/last_checkpoint/id"},
                                            {"active_task_id", "/active_task_id"},
                                            {"created_at", "/created_at"}};
const std::vector<Column> kDatasetColumns = {
    {"ID", "/id"},       {"NAME", "/name"}, {"FORMAT", "/format"}, {"STATE", "/state"},
    {"ITEMS", "/items"}, {"ROWS", "/rows"}, {"BYTES", "/bytes"}};
const std::vector<Column> kTaskColumns = {{"ID", "/id"},
                                          {"TYPE", "/type"},
                                          {"STATE", "/state"},
                                          {"PROGRESS", "/progress"},
                                          {"CLUSTER", "/cluster_id"},
                                          {"DATASET", "/dataset_id"},
                                          {"CREATED", "/created_at"}};
const std::vector<Column> kTaskFields = {{"id", "/id"},
                                         {"type", "/type"},
                                         {"state", "/state"},
                                         {"cluster_id", "/cluster_id"},
                                         {"dataset_id", "/dataset_id"},
                                         {"progress", "/progress"},
                                         {"samples_done", "/samples_done"},
                                         {"samples_total", "/samples_total"},
                                         {"error", "/error"},
                                         {"result_id", "/result_id"},
                                         {"created_at", "/created_at"},
                                         {"finished_at", "/finished_at"}};
const std::vector<Column> kResultColumns = {{"ID", "/id"},
                                            {"CLUSTER", "/cluster_id"},
                                            {"DATASET", "/dataset_id"},
                                            {"COUNT", "/count"},
                                            {"CREATED", "/created_at"}};
const std::vector<Column> kCheckpointColumns = {{"ID", "/id"},
                                                {"NAME", "/name"},
                                                {"KIND", "/kind"},
                                                {"STATE", "/state"},
                                                {"BYTES", "/bytes"},
                                                {"TRAINED", "/samples_trained"},
                                                {"CLUSTER", "/cluster_id"},
                                                {"CREATED", "/created_at"}};

bool stderrIsTerminal() { return ::isatty(STDERR_FILENO) == 1; }

std::string taskDetail(const json& task) {
  std::ostringstream text;
  text << task.value("state", "?") << " " << cellText(task.value("samples_done", json())) << "/"
       << cellText(task.value("samples_total", json()));
  if (task.value("samples_per_second", json()).is_number()) {
    text << ", " << static_cast<long long>(task["samples_per_second"].get<double>()) << "/s";
  }
  if (task.value("eta_seconds", json()).is_number()) {
    text << ", eta " << static_cast<long long>(task["eta_seconds"].get<double>()) << " s";
  }
  return text.str();
}

bool ended(const std::string& state) {
  return state == "finished" || state == "failed" || state == "cancelled" || state == "interrupted";
}

// Follows a task to its end: its events WebSocket (polling GET once a second when the socket
// fails), a progress bar on stderr, then the final task shown like `task get`. A task that ends
// other than finished is an error (exit code 1). `show_final` false: the caller shows something
// else.
Status watchTask(ClientSession& session, const std::string& task_id, bool show_final = true) {
  ProgressBar bar("task " + task_id.substr(0, 8), stderrIsTerminal(), std::cerr);
  std::string last;
  auto show = [&](const std::string& text) {
    json task = json::parse(text, nullptr, false);
    if (!task.is_object() || !task.contains("state")) return false;
    last = text;
    uint64_t done = task.value("samples_done", uint64_t{0});
    uint64_t total = task.value("samples_total", uint64_t{0});
    bar.update(done, total, taskDetail(task));
    return ended(task.value("state", ""));
  };
  const std::string path = "/api/v1/tasks/" + percentEncode(task_id);
  bool done = false;
  Result<std::unique_ptr<client::WebSocket>> socket =
      session.client().openWebSocket(path + "/events");
  if (!socket.ok() && socket.status().code() != Code::kIo) return socket.status();
  if (socket.ok()) {
    for (;;) {
      Result<std::optional<client::WebSocket::Message>> message = (*socket)->read();
      if (!message.ok() || !message->has_value()) break;
      if (show((*message)->data)) done = true;
    }
  }
  while (!done) {  // the socket failed or closed early: poll
    Result<client::Reply> reply = session.client().call("GET", path);
    if (!reply.ok()) return reply.status();
    done = show(reply->body);
    if (!done) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  json task = json::parse(last);
  bar.finish(taskDetail(task));
  if (show_final) {
    client::Reply final_reply;
    final_reply.status = 200;
    final_reply.body = last;
    TENDRIL_RETURN_IF_ERROR(session.showObject(final_reply, kTaskFields));
  }
  if (task.value("state", "") != "finished") {
    return {Code::kCancelled,
            "task " + task_id + " ended " + task.value("state", "") +
                (task.value("error", json()).is_string() ? ": " + task["error"].get<std::string>()
                                                         : std::string())};
  }
  return Status::Ok();
}

// --- cluster ------------------------------------------------------------------------------

Status restoreCluster(ClientSession& s, const std::string& cluster, const std::string& checkpoint,
                      bool wait) {
  Result<client::Reply> reply =
      s.client().call("POST", "/api/v1/clusters/" + percentEncode(cluster) + "/restore",
                      json{{"checkpoint_id", checkpoint}}.dump());
  if (!reply.ok()) return reply.status();
  if (!wait) return s.showObject(*reply);
  return watchTask(s, json::parse(reply->body).value("id", ""));
}

struct RestoreOptions {
  std::string cluster, checkpoint;
  bool wait = false;
};

void addRestore(CLI::App& group, const std::string& description) {
  auto options = std::make_shared<RestoreOptions>();
  CLI::App* restore = addClientCommand(group, "restore", description, [options](auto& s) {
    return restoreCluster(s, options->cluster, options->checkpoint, options->wait);
  });
  addIdOption(restore, "cluster", options->cluster, "/api/v1/clusters", "cluster id")->required();
  addIdOption(restore, "checkpoint", options->checkpoint, "/api/v1/checkpoints", "checkpoint id")
      ->required();
  restore->add_flag("--wait", options->wait, "follow the restore task to its end");
}

void addCluster(CLI::App& app) {
  CLI::App* group = addCommandGroup(app, "cluster", "clusters: networks grown from templates");
  struct Options {
    std::string name, template_file, id;
  };
  auto options = std::make_shared<Options>();
  CLI::App* create = addClientCommand(
      *group, "create", "create a cluster from a template file", [options](ClientSession& s) {
        Result<std::string> text = readTextFile(options->template_file);
        if (!text.ok()) return text.status();
        return s.callAndShow("POST", "/api/v1/clusters",
                             {{"name", options->name}, {"template", *text}}, kClusterFields);
      });
  create->add_option("name", options->name, "cluster name")->required();
  create
      ->add_option("-t,--template", options->template_file,
                   "template file (Hanami text or JSON, docs/templates.md)")
      ->required();
  addListGetDelete(*group, {"cluster", "/api/v1/clusters", kClusterColumns, kClusterFields, {}});

  auto shown = std::make_shared<std::string>();
  CLI::App* template_command =
      addClientCommand(*group, "template", "print the cluster's template", [shown](auto& s) {
        Result<client::Reply> reply =
            s.client().call("GET", "/api/v1/clusters/" + percentEncode(*shown) + "/template");
        if (!reply.ok()) return reply.status();
        if (s.json) return s.showObject(*reply);
        std::cout << json::parse(reply->body).value("text", "");
        return Status::Ok();
      });
  addIdOption(template_command, "id", *shown, "/api/v1/clusters", "cluster id")->required();

  auto renamed = std::make_shared<Options>();
  CLI::App* rename = addClientCommand(*group, "rename", "rename a cluster", [renamed](auto& s) {
    return s.callAndShow("PATCH", "/api/v1/clusters/" + percentEncode(renamed->id),
                         {{"name", renamed->name}}, kClusterFields);
  });
  addIdOption(rename, "id", renamed->id, "/api/v1/clusters", "cluster id")->required();
  rename->add_option("name", renamed->name, "new name")->required();
  addRestore(*group, "restore a checkpoint into the cluster (a restore task)");
}

// --- dataset ------------------------------------------------------------------------------

struct UploadOptions {
  std::string name, images, labels, table, resume;
  int classes = 0;
  uint64_t chunk_bytes = 512 * 1024;
};

// Sends one file to `chunk_path` (?offset=N appended) from where `state_path` says, with a
// progress bar labelled `label`.
Status sendFile(ClientSession& s, const std::string& label, const fs::path& file,
                const std::string& state_path, const std::string& received_pointer,
                const std::string& chunk_path, uint64_t chunk_bytes) {
  client::ResumableUpload upload;
  upload.chunk_bytes = chunk_bytes;
  upload.received = [&]() -> Result<uint64_t> {
    Result<nlohmann::json> state = s.client().callJson("GET", state_path);
    if (!state.ok()) return state.status();
    json::json_pointer pointer(received_pointer);
    if (!state->contains(pointer)) return uint64_t{0};
    return state->at(pointer).get<uint64_t>();
  };
  upload.chunk_target = [&](uint64_t offset) {
    return chunk_path + "?offset=" + std::to_string(offset);
  };
  ProgressBar bar(label, stderrIsTerminal(), std::cerr);
  uint64_t size = 0;
  TENDRIL_RETURN_IF_ERROR(s.client().upload(file, upload, [&](uint64_t done, uint64_t total) {
    size = total;
    bar.update(done, total, humanBytes(done) + " of " + humanBytes(total));
  }));
  bar.finish(humanBytes(size) + " sent");
  return Status::Ok();
}

Result<json> describeFile(const fs::path& file) {
  std::error_code error;
  uint64_t size = fs::file_size(file, error);
  if (error) return Status::Invalid("cannot read " + file.string() + ": " + error.message());
  Result<std::string> digest = service::sha256OfFile(file);
  if (!digest.ok()) return Status::Invalid("cannot read " + file.string());
  return json{{"size", size}, {"sha256", *digest}};
}

Status uploadDataset(ClientSession& s, const UploadOptions& options) {
  std::vector<std::pair<std::string, std::string>> parts;  // part name, file
  if (!options.table.empty()) parts.emplace_back("table", options.table);
  if (!options.images.empty()) parts.emplace_back("images", options.images);
  if (!options.labels.empty()) parts.emplace_back("labels", options.labels);
  const bool csv = !options.table.empty();
  if (csv ? parts.size() != 1 : parts.size() != 2) {
    return Status::Invalid("give --images and --labels (IDX), or --table (CSV)");
  }
  std::string id = options.resume;
  if (id.empty()) {
    json body = {
        {"name", options.name}, {"format", csv ? "csv" : "idx"}, {"parts", json::object()}};
    for (const auto& [part, file] : parts) {
      Result<json> described = describeFile(file);
      if (!described.ok()) return described.status();
      body["parts"][part] = *described;
    }
    if (options.classes > 0) body["classes"] = options.classes;
    Result<json> created = s.client().callJson("POST", "/api/v1/datasets", body);
    if (!created.ok()) return created.status();
    id = created->value("id", "");
    if (!s.json && !s.quiet) std::cerr << "dataset " << id << " created\n";
  }
  const std::string path = "/api/v1/datasets/" + percentEncode(id);
  for (const auto& [part, file] : parts) {
    Status sent = sendFile(s, part, file, path + "/parts/" + part, "/received",
                           path + "/parts/" + part, options.chunk_bytes);
    if (!sent.ok()) {
      std::cerr << "tendril: resume with: tendril dataset upload --resume " << id << " ...\n";
      return sent;
    }
  }
  return s.callAndShow("POST", path + "/finalize", nullptr,
                       {{"id", "/id"},
                        {"name", "/name"},
                        {"state", "/state"},
                        {"items", "/items"},
                        {"rows", "/rows"},
                        {"bytes", "/bytes"}});
}

void addDataset(CLI::App& app) {
  CLI::App* group = addCommandGroup(app, "dataset", "datasets: IDX image pairs and CSV tables");
  auto options = std::make_shared<UploadOptions>();
  CLI::App* upload =
      addClientCommand(*group, "upload", "declare, upload (resumable) and finalize a dataset",
                       [options](auto& s) { return uploadDataset(s, *options); });
  upload->add_option("name", options->name, "dataset name");
  upload->add_option("--images", options->images, "IDX images file (plain or gzip)");
  upload->add_option("--labels", options->labels, "IDX labels file (plain or gzip)");
  upload->add_option("--table", options->table, "CSV file");
  upload->add_option("--classes", options->classes, "IDX: number of classes (default 10)");
  upload
      ->add_option("--chunk-size", options->chunk_bytes,
                   "bytes per request (at most the server's max_body_bytes)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 30));
  upload->add_option("--resume", options->resume,
                     "continue the upload of this dataset id (same files) instead of creating one");
  addListGetDelete(*group, {"dataset", "/api/v1/datasets", kDatasetColumns, {}, {}});

  addDownload(*group, "dataset part", "/api/v1/datasets/", "part", {"images", "labels", "table"});
}

// --- task ---------------------------------------------------------------------------------

struct TaskOptions {
  std::string type, cluster, dataset, name, mode;
  int epochs = 0;
  long long seed = -1;
  bool no_shuffle = false, wait = false;
  std::vector<std::string> mapping;  // port=col,col
};

Status submitTask(ClientSession& s, const TaskOptions& options) {
  json body = {
      {"type", options.type}, {"cluster_id", options.cluster}, {"dataset_id", options.dataset}};
  if (!options.name.empty()) body["name"] = options.name;
  if (!options.mode.empty()) body["mode"] = options.mode;
  if (options.epochs > 0) body["epochs"] = options.epochs;
  if (options.seed >= 0) body["seed"] = options.seed;
  if (options.no_shuffle) body["shuffle"] = false;
  if (!options.mapping.empty()) {
    body["mapping"] = json::object();
    for (const std::string& entry : options.mapping) {
      size_t equals = entry.find('=');
      if (equals == std::string::npos) return Status::Invalid("--map wants PORT=COLUMN[,COLUMN]");
      json columns = json::array();
      std::stringstream list(entry.substr(equals + 1));
      for (std::string column; std::getline(list, column, ',');) columns.push_back(column);
      body["mapping"][entry.substr(0, equals)] = columns;
    }
  }
  Result<client::Reply> reply = s.client().call("POST", "/api/v1/tasks", body.dump());
  if (!reply.ok()) return reply.status();
  if (!options.wait) return s.showObject(*reply, kTaskFields);
  return watchTask(s, json::parse(reply->body).value("id", ""));
}

void addSubmit(CLI::App& group, const std::string& type, const std::string& description) {
  auto options = std::make_shared<TaskOptions>();
  options->type = type;
  CLI::App* submit = addClientCommand(group, type, description,
                                      [options](auto& s) { return submitTask(s, *options); });
  addIdOption(submit, "cluster", options->cluster, "/api/v1/clusters", "cluster id")->required();
  addIdOption(submit, "dataset", options->dataset, "/api/v1/datasets", "dataset id")->required();
  submit->add_option("--name", options->name, "task name");
  submit->add_option("--mode", options->mode, "CSV: window (default) or row");
  submit->add_option("--map", options->mapping, "CSV: PORT=COLUMN[,COLUMN...] (repeatable)");
  submit->add_option("--seed", options->seed, "shuffle seed (default 0)");
  submit->add_flag("--wait,--watch", options->wait, "follow the task with a progress bar");
  if (type == "train") {
    submit->add_option("--epochs", options->epochs, "passes over the dataset (default 1)");
    submit->add_flag("--no-shuffle", options->no_shuffle, "keep the dataset's order");
  }
}

void addTask(CLI::App& app) {
  CLI::App* group = addCommandGroup(app, "task", "training and request tasks");
  addSubmit(*group, "train", "train a cluster on a dataset");
  addSubmit(*group, "request", "run a dataset through a cluster into a result");
  addListGetDelete(*group, {"task",
                            "/api/v1/tasks",
                            kTaskColumns,
                            kTaskFields,
                            {{"cluster", "cluster_id"}, {"state", "state"}}});
  auto cancelled = std::make_shared<std::string>();
  addClientCommand(*group, "cancel", "cancel a queued or running task",
                   [cancelled](auto& s) {
                     return s.callAndShow("POST",
                                          "/api/v1/tasks/" + percentEncode(*cancelled) + "/cancel",
                                          nullptr, kTaskFields);
                   })
      ->add_option("id", *cancelled, "task id")
      ->required();
  auto watched = std::make_shared<std::string>();
  addClientCommand(*group, "watch", "follow a task to its end (exit 1 unless it finished)",
                   [watched](auto& s) { return watchTask(s, *watched); })
      ->add_option("id", *watched, "task id")
      ->required();
}

// --- result -------------------------------------------------------------------------------

void addResult(CLI::App& app) {
  CLI::App* group = addCommandGroup(app, "result", "results of request tasks");
  addListGetDelete(*group, {"result", "/api/v1/results", kResultColumns, {}, {}});

  struct Options {
    std::string id, dataset, offset, limit;
  };
  auto accuracy = std::make_shared<Options>();
  CLI::App* score =
      addClientCommand(*group, "accuracy", "score a result against a dataset", [accuracy](auto& s) {
        return s.callAndShow(
            "GET", withQuery("/api/v1/results/" + percentEncode(accuracy->id) + "/accuracy",
                             {{"dataset_id", accuracy->dataset}}));
      });
  score->add_option("id", accuracy->id, "result id")->required();
  score->add_option("--dataset", accuracy->dataset, "dataset id (default: the task's own)");

  auto outputs = std::make_shared<Options>();
  CLI::App* rows = addClientCommand(*group, "outputs", "a page of output rows", [outputs](auto& s) {
    Result<client::Reply> reply = s.client().call(
        "GET", withQuery("/api/v1/results/" + percentEncode(outputs->id) + "/outputs",
                         {{"offset", outputs->offset}, {"limit", outputs->limit}}));
    if (!reply.ok()) return reply.status();
    return s.showList(*reply, {{"INDEX", "/index"}, {"VALUES", "/values"}});
  });
  rows->add_option("id", outputs->id, "result id")->required();
  rows->add_option("--offset", outputs->offset, "first row");
  rows->add_option("--limit", outputs->limit, "rows (1-1000)");

  addDownload(*group, "result's outputs", "/api/v1/results/", "format", {"csv", "json"});
}

// --- checkpoint ---------------------------------------------------------------------------

void addCheckpoint(CLI::App& app) {
  CLI::App* group = addCommandGroup(app, "checkpoint", "saved cluster states");
  struct Options {
    std::string cluster, name, file, id, resume;
    bool wait = false;
  };
  auto save = std::make_shared<Options>();
  CLI::App* save_command = addClientCommand(
      *group, "save", "save a cluster (a checkpoint task)", [save](ClientSession& s) {
        Result<json> created = s.client().callJson(
            "POST", "/api/v1/checkpoints", {{"cluster_id", save->cluster}, {"name", save->name}});
        if (!created.ok()) return created.status();
        const std::string id = (*created)["checkpoint"].value("id", "");
        if (save->wait) {
          TENDRIL_RETURN_IF_ERROR(watchTask(s, (*created)["task"].value("id", ""), false));
        }
        return s.callAndShow("GET", "/api/v1/checkpoints/" + percentEncode(id));
      });
  addIdOption(save_command, "cluster", save->cluster, "/api/v1/clusters", "cluster id")->required();
  save_command->add_option("-n,--name", save->name, "checkpoint name")->required();
  save_command->add_flag("--wait", save->wait, "wait until the checkpoint is ready");
  addRestore(*group, "restore a checkpoint into a cluster (a restore task)");
  addListGetDelete(
      *group,
      {"checkpoint", "/api/v1/checkpoints", kCheckpointColumns, {}, {{"cluster", "cluster_id"}}});

  addDownload(*group, "checkpoint", "/api/v1/checkpoints/");

  auto upload = std::make_shared<Options>();
  CLI::App* put_file = addClientCommand(
      *group, "upload", "upload a checkpoint file (resumable)", [upload](ClientSession& s) {
        std::string id = upload->resume;
        if (id.empty()) {
          Result<json> described = describeFile(upload->file);
          if (!described.ok()) return described.status();
          (*described)["name"] = upload->name;
          Result<json> created =
              s.client().callJson("POST", "/api/v1/checkpoints/uploads", *described);
          if (!created.ok()) return created.status();
          id = created->value("id", "");
        }
        const std::string path = "/api/v1/checkpoints/" + percentEncode(id);
        Status sent = sendFile(s, "checkpoint", upload->file, path, "/upload/received",
                               path + "/data", 512 * 1024);
        if (!sent.ok()) {
          std::cerr << "tendril: resume with: tendril checkpoint upload --resume " << id
                    << " ...\n";
          return sent;
        }
        return s.callAndShow("POST", path + "/finalize");
      });
  put_file->add_option("file", upload->file, "checkpoint file (.tckp)")->required();
  put_file->add_option("-n,--name", upload->name, "checkpoint name");
  put_file->add_option("--resume", upload->resume, "continue the upload of this checkpoint id");
}

}  // namespace

void addMlCommands(CLI::App& app) {
  addCluster(app);
  addDataset(app);
  addTask(app);
  addResult(app);
  addCheckpoint(app);
}

}  // namespace tendril::cli
