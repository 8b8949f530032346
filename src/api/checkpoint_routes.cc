#include "api/checkpoint_routes.h"

#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "api/json_views.h"
#include "service/clock.h"
#include "service/tasks.h"

namespace tendril::api {
namespace {

Field checkpointId() { return uuidInPath("id", "the checkpoint's id"); }

Field checkpointName() {
  return Field::string("name")
      .required()
      .length(kMinNameLength, kMaxNameLength)
      .pattern(kNamePattern)
      .describe("unique among the project's checkpoints");
}

nlohmann::json textOrNull(const std::string& value) {
  return value.empty() ? nlohmann::json(nullptr) : nlohmann::json(value);
}

// The checkpoint, with how much of an upload in progress has arrived.
Result<Reply> checkpointReply(service::CheckpointService& checkpoints,
                              const Result<store::Resource>& row) {
  if (!row.ok()) return row.status();
  nlohmann::json body = checkpointJson(*row);
  if (body["upload"].is_object()) {
    Result<uint64_t> received = checkpoints.uploadReceived(*row);
    if (!received.ok()) return received.status();
    body["upload"]["received"] = *received;
  }
  return Reply(std::move(body));
}

}  // namespace

nlohmann::json checkpointJson(const store::Resource& row) {
  nlohmann::json attrs = nlohmann::json::parse(row.attrs, nullptr, false);
  if (!attrs.is_object()) attrs = nlohmann::json::object();
  nlohmann::json upload = nullptr;
  if (row.state == service::kCheckpointUploading && attrs.contains("upload")) {
    upload = {{"size", attrs["upload"].value("size", uint64_t{0})},
              {"sha256", attrs["upload"].value("sha256", std::string())}};
  }
  nlohmann::json error = attrs.value("error", nlohmann::json(nullptr));
  return {{"id", row.id},
          {"name", textOrNull(row.name)},
          {"cluster_id", textOrNull(row.parent_id)},
          {"project_id", row.project_id},
          {"owner_id", textOrNull(row.owner_id)},
          {"kind", attrs.value("kind", std::string())},
          {"state", row.state},
          {"bytes", row.bytes},
          {"template_sha256", textOrNull(attrs.value("template_sha256", std::string()))},
          {"samples_trained", attrs.value("samples_trained", uint64_t{0})},
          {"synapses", attrs.value("synapses", uint64_t{0})},
          {"created_at", service::formatIsoTime(row.created_ms)},
          {"error", error.is_string() ? error : nlohmann::json(nullptr)},
          {"upload", std::move(upload)}};
}

std::vector<OutputField> checkpointOutput() {
  return {{"id", FieldType::kString, "the checkpoint's id", false},
          {"name", FieldType::kString, "its name; null for autosaves", true},
          {"cluster_id", FieldType::kString,
           "the cluster it was saved from (kept after that cluster is deleted); null for uploads",
           true},
          {"project_id", FieldType::kString, "the project it belongs to", false},
          {"owner_id", FieldType::kString, "who made it; null once that user is deleted", true},
          {"kind", FieldType::kString, "manual, autosave or upload", false},
          {"state", FieldType::kString, "saving, uploading, ready or failed", false},
          {"bytes", FieldType::kInteger, "size of the checkpoint file (0 until ready)", false},
          {"template_sha256", FieldType::kString,
           "SHA-256 of the cluster template in canonical JSON; restore needs it equal", true},
          {"samples_trained", FieldType::kInteger, "samples the saved cluster had trained", false},
          {"synapses", FieldType::kInteger, "synapses of the saved cluster", false},
          {"created_at", FieldType::kString, "when it was created (ISO-8601 UTC)", false},
          {"error", FieldType::kString, "why it failed", true},
          {"upload", FieldType::kObject,
           "while uploading: {size, sha256, received} (resume sending at `received`)", true}};
}

void addCheckpointEndpoints(std::vector<Endpoint>& out, service::CheckpointService& checkpoints) {
  Endpoint save = declare("POST", "/api/v1/checkpoints", "checkpoints.create",
                          "Save a cluster as a checkpoint", kInProject);
  save.description =
      "Queues a task of type `checkpoint` in the cluster's queue and answers at once with the "
      "checkpoint (state `saving`) and the task; the checkpoint turns `ready` or `failed`.";
  save.success_status = 202;
  save.input = {
      Field::string("cluster_id").required().pattern(kUuidPattern).describe("the cluster to save"),
      checkpointName()};
  save.output = {{"checkpoint", FieldType::kObject, "the checkpoint (state saving)", false},
                 {"task", FieldType::kObject, "the task that writes it", false}};
  save.handler = [&checkpoints](Call& call) -> Result<Reply> {
    Result<service::CheckpointSave> saved =
        checkpoints.save(call.principal, inputText(call, "cluster_id"), inputText(call, "name"));
    if (!saved.ok()) return saved.status();
    call.audit_target = saved->checkpoint.id;
    return Reply({{"checkpoint", checkpointJson(saved->checkpoint)},
                  {"task", service::taskJson(saved->task)}});
  };
  out.push_back(std::move(save));

  Endpoint list =
      declare("GET", "/api/v1/checkpoints", "checkpoints.list", "List checkpoints", kInProject);
  list.description = "Project-admins see the project's checkpoints, members their own.";
  list.input = pagingFields();
  list.input.push_back(Field::string("cluster_id")
                           .inQuery()
                           .pattern(kUuidPattern)
                           .describe("only those saved from this cluster"));
  list.output = checkpointOutput();
  list.paged = true;
  list.handler = [&checkpoints](Call& call) -> Result<Reply> {
    return pageReply(checkpoints.list(call.principal, optionalString(call.input, "cluster_id"),
                                      pageRequestOf(call.input)),
                     checkpointJson);
  };
  out.push_back(std::move(list));

  Endpoint get = declare("GET", "/api/v1/checkpoints/{id}", "checkpoints.get", "Read a checkpoint",
                         kInProject);
  get.input = {checkpointId()};
  get.output = checkpointOutput();
  get.handler = [&checkpoints](Call& call) -> Result<Reply> {
    return checkpointReply(checkpoints, checkpoints.get(call.principal, inputText(call, "id")));
  };
  out.push_back(std::move(get));

  Endpoint download = declare("GET", "/api/v1/checkpoints/{id}/download", "checkpoints.download",
                              "Download a checkpoint file", kInProject);
  download.description =
      "The checkpoint file (docs/formats/checkpoint.md) as application/octet-stream; 409 "
      "unless ready.";
  download.input = {checkpointId()};
  download.handler = [&checkpoints](Call& call) -> Result<Reply> {
    Result<service::CheckpointDownload> file =
        checkpoints.download(call.principal, inputText(call, "id"));
    if (!file.ok()) return file.status();
    return fileReply(file->file, "application/octet-stream", file->filename);
  };
  out.push_back(std::move(download));

  Endpoint upload = declare("POST", "/api/v1/checkpoints/uploads", "checkpoints.upload",
                            "Begin a checkpoint upload", kInProject);
  upload.description =
      "Declares the file's exact size and SHA-256; then send the bytes with PUT "
      "/checkpoints/{id}/data and finalize. The size is bounded by max_upload_bytes (400 above).";
  upload.input = {checkpointName(),
                  Field::integer("size")
                      .required()
                      .range(1, INT64_MAX)
                      .describe("exact size of the file in bytes"),
                  Field::string("sha256")
                      .required()
                      .pattern("^[0-9a-fA-F]{64}$")
                      .describe("SHA-256 of the whole file, hex")};
  upload.output = checkpointOutput();
  upload.handler = [&checkpoints](Call& call) -> Result<Reply> {
    Result<store::Resource> row =
        checkpoints.beginUpload(call.principal, inputText(call, "name"),
                                call.input.at("size").get<uint64_t>(), inputText(call, "sha256"));
    if (row.ok()) call.audit_target = row->id;
    return checkpointReply(checkpoints, row);
  };
  out.push_back(std::move(upload));

  Endpoint data = declare("PUT", "/api/v1/checkpoints/{id}/data", "checkpoints.data",
                          "Send bytes of a checkpoint upload", kInProject);
  data.description =
      "The raw body (application/octet-stream) is appended at `offset`, which must equal the "
      "bytes received so far (409 naming that count otherwise); bytes past the declared size "
      "are refused (400).";
  data.raw_body = true;
  data.input = {checkpointId(), Field::integer("offset")
                                    .inQuery()
                                    .required()
                                    .range(0, INT64_MAX)
                                    .describe("where the body's bytes go in the file")};
  data.output = {{"size", FieldType::kInteger, "the declared size", false},
                 {"received", FieldType::kInteger, "bytes received so far", false}};
  data.handler = [&checkpoints](Call& call) -> Result<Reply> {
    const std::string& body = call.request.body;
    Result<service::CheckpointUploadProgress> progress = checkpoints.appendUpload(
        call.principal, inputText(call, "id"), call.input.at("offset").get<uint64_t>(),
        std::span(reinterpret_cast<const uint8_t*>(body.data()), body.size()));
    if (!progress.ok()) return progress.status();
    return Reply({{"size", progress->size}, {"received", progress->received}});
  };
  out.push_back(std::move(data));

  Endpoint finalize = declare("POST", "/api/v1/checkpoints/{id}/finalize", "checkpoints.finalize",
                              "Finish a checkpoint upload", kInProject);
  finalize.description =
      "Checks the SHA-256 and loads the file completely as a checkpoint. 409 while bytes are "
      "missing (the upload stays open); 400 naming the problem for a wrong digest or a file "
      "that is not a valid checkpoint (the checkpoint turns failed; only delete is left).";
  finalize.success_status = 200;
  finalize.input = {checkpointId()};
  finalize.output = checkpointOutput();
  finalize.handler = [&checkpoints](Call& call) -> Result<Reply> {
    return checkpointReply(checkpoints,
                           checkpoints.finalizeUpload(call.principal, inputText(call, "id")));
  };
  out.push_back(std::move(finalize));

  Endpoint remove = declare("DELETE", "/api/v1/checkpoints/{id}", "checkpoints.delete",
                            "Delete a checkpoint", kInProject);
  remove.description = "409 while it is being saved or a queued or running restore reads it.";
  remove.input = {checkpointId()};
  remove.handler = [&checkpoints](Call& call) -> Result<Reply> {
    TENDRIL_RETURN_IF_ERROR(checkpoints.remove(call.principal, inputText(call, "id")));
    return Reply();
  };
  out.push_back(std::move(remove));
}

}  // namespace tendril::api
