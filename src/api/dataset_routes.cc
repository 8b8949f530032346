#include "api/dataset_routes.h"

#include <optional>
#include <string>
#include <utility>

#include "api/json_views.h"
#include "api/problem.h"
#include "service/clock.h"
#include "service/uploads.h"

namespace tendril::api {
namespace {

using nlohmann::json;

const std::vector<std::string> kPartNames = {"images", "labels", "table"};

Field idInPath() { return uuidInPath("id", "the dataset's id"); }

Field partInPath() {
  return Field::string("part")
      .inPath()
      .oneOf(kPartNames)
      .describe("idx: images or labels; csv: table");
}

json nullable(bool known, json value) { return known ? std::move(value) : json(nullptr); }

Result<Reply> datasetReply(const Result<service::Dataset>& dataset) {
  if (!dataset.ok()) return dataset.status();
  return Reply(datasetJson(*dataset));
}

// The `parts` object of a create call: {"images": {"size": N, "sha256": "..."}, ...}. Errors
// start with "parts: " so that the pipeline reports them against the field.
Result<std::vector<service::PartDeclaration>> partsOf(const json& parts) {
  std::vector<service::PartDeclaration> declared;
  for (const auto& [name, spec] : parts.items()) {
    const std::string where = "parts: " + name.substr(0, 64) + ": ";
    if (!spec.is_object() || !spec.contains("size") || !spec.contains("sha256") ||
        spec.size() != 2) {
      return Status::Invalid(where + "give exactly {\"size\": bytes, \"sha256\": hex digest}");
    }
    const json& size = spec.at("size");
    if (!size.is_number_unsigned() && !(size.is_number_integer() && size.get<int64_t>() >= 0)) {
      return Status::Invalid(where + "size must be a non-negative integer");
    }
    if (!spec.at("sha256").is_string()) return Status::Invalid(where + "sha256 must be a string");
    declared.push_back({name, {size.get<uint64_t>(), spec.at("sha256").get<std::string>()}});
  }
  return declared;
}

void addCreate(std::vector<Endpoint>& out, service::DatasetService& datasets) {
  Endpoint create = declare("POST", "/api/v1/datasets", "datasets.create",
                            "Declare a dataset and its parts; then upload them", kInProject);
  create.description =
      "The dataset belongs to the caller's current project (409 without one). idx datasets have "
      "the parts images and labels (IDX files, plain or gzip), csv datasets the part table. Each "
      "part declares its exact size (at most max_upload_bytes) and SHA-256; the declared bytes "
      "count against the project's dataset quota (429) from now on. Upload the parts with PUT "
      "/datasets/{id}/parts/{part} or the upload WebSocket, then finalize.";
  create.input = {
      Field::string("name")
          .required()
          .length(kMinNameLength, kMaxNameLength)
          .pattern(kNamePattern)
          .describe("unique among the project's datasets"),
      Field::string("format").required().oneOf({"idx", "csv"}),
      Field::object("parts").required().describe(
          "part name -> {\"size\": bytes, \"sha256\": 64 hex digits}"),
      Field::integer("classes")
          .range(2, data::kMaxDatasetClasses)
          .describe("idx only: labels must be below this (default 10)"),
  };
  create.output = datasetOutput();
  create.handler = [&datasets](Call& call) -> Result<Reply> {
    call.audit_target = inputText(call, "name");
    Result<std::vector<service::PartDeclaration>> parts = partsOf(call.input.at("parts"));
    if (!parts.ok()) return parts.status();
    service::DatasetRequest request{inputText(call, "name"), inputText(call, "format"),
                                    std::move(*parts), std::nullopt};
    if (call.input.contains("classes")) request.classes = call.input.at("classes").get<uint32_t>();
    Result<service::Dataset> dataset = datasets.create(call.principal, request);
    if (dataset.ok()) call.audit_target = dataset->row.id;
    return datasetReply(dataset);
  };
  out.push_back(std::move(create));
}

void addPartEndpoints(std::vector<Endpoint>& out, service::DatasetService& datasets) {
  Endpoint put = declare("PUT", "/api/v1/datasets/{id}/parts/{part}", "datasets.parts.put",
                         "Upload the next chunk of a part", kInProject);
  put.description =
      "The body (application/octet-stream, at most max_body_bytes) is appended at `offset`, which "
      "must equal the bytes received so far: otherwise 409 with `received` in the problem, the "
      "offset to resume at. A chunk ending past the declared size is 400 (also with "
      "`received`). Each chunk is on disk "
      "before the reply, so `received` survives a restart of the server.";
  put.raw_body = true;
  // One audit entry per chunk would bury the log (a 1 GiB part is a thousand of them); create,
  // finalize and delete are audited.
  put.audited = false;
  put.input = {idInPath(), partInPath(),
               Field::integer("offset")
                   .inQuery()
                   .required()
                   .range(0, INT64_MAX)
                   .describe("where the chunk starts: the part's `received`")};
  put.output = {{"part", FieldType::kString, "the part's name"},
                {"size", FieldType::kInteger, "declared bytes"},
                {"received", FieldType::kInteger, "bytes received so far"}};
  put.handler = [&datasets](Call& call) -> Result<Reply> {
    const std::string id = inputText(call, "id");
    const std::string part = inputText(call, "part");
    const std::string& body = call.request.body;
    Result<service::DatasetPart> appended =
        datasets.appendPart(call.principal, id, part, call.input.at("offset").get<uint64_t>(),
                            {reinterpret_cast<const uint8_t*>(body.data()), body.size()});
    if (appended.ok()) return Reply(datasetPartJson(*appended, false));
    const Code code = appended.status().code();
    if (code != Code::kFailedPrecondition && code != Code::kInvalidArgument) {
      return appended.status();
    }
    // The problem carries `received`, the offset to resume at.
    Reply refusal;
    refusal.status = problemKindFor(code).status;
    refusal.content_type = std::string(kProblemContentType);
    refusal.raw =
        appendProblem(datasets, call.principal, id, part, appended.status(), call.request.path)
            .dump();
    return refusal;
  };
  out.push_back(std::move(put));

  Endpoint get = declare("GET", "/api/v1/datasets/{id}/parts/{part}", "datasets.parts.get",
                         "Read a part's upload progress (the resume point)", kInProject);
  get.input = {idInPath(), partInPath()};
  get.output = {{"part", FieldType::kString, "the part's name"},
                {"size", FieldType::kInteger, "declared bytes"},
                {"received", FieldType::kInteger, "bytes received so far: the next offset"},
                {"sha256", FieldType::kString, "the declared SHA-256"}};
  get.handler = [&datasets](Call& call) -> Result<Reply> {
    Result<service::DatasetPart> part =
        datasets.partStatus(call.principal, inputText(call, "id"), inputText(call, "part"));
    if (!part.ok()) return part.status();
    return Reply(datasetPartJson(*part, true));
  };
  out.push_back(std::move(get));
}

void addLifecycle(std::vector<Endpoint>& out, service::DatasetService& datasets) {
  Endpoint finalize = declare("POST", "/api/v1/datasets/{id}/finalize", "datasets.finalize",
                              "Validate the uploaded parts and make the dataset ready", kInProject);
  finalize.description =
      "409 while a part is incomplete (nothing changes; upload the rest and call again). Content "
      "that fails validation (SHA-256 mismatch, IDX magic or sizes, labels out of range, image "
      "and label counts that differ, a CSV cell that is not a number, naming its line and "
      "column) is 400, and the dataset becomes `invalid` with that `error`: only delete is left. "
      "429 when the stored form would exceed the dataset quota (nothing changes). Finalizing a "
      "ready dataset returns it unchanged.";
  finalize.success_status = 200;
  finalize.input = {idInPath()};
  finalize.output = datasetOutput();
  finalize.handler = [&datasets](Call& call) -> Result<Reply> {
    return datasetReply(datasets.finalize(call.principal, inputText(call, "id")));
  };
  out.push_back(std::move(finalize));

  Endpoint list = declare("GET", "/api/v1/datasets", "datasets.list", "List datasets", kInProject);
  list.description =
      "Members see their own datasets of the current project, project-admins all of it, admins "
      "every dataset.";
  list.input = pagingFields();
  list.output = datasetOutput();
  list.paged = true;
  list.handler = [&datasets](Call& call) -> Result<Reply> {
    return pageReply(datasets.list(call.principal, pageRequestOf(call.input)), datasetJson);
  };
  out.push_back(std::move(list));

  Endpoint get =
      declare("GET", "/api/v1/datasets/{id}", "datasets.get", "Read a dataset", kInProject);
  get.input = {idInPath()};
  get.output = datasetOutput();
  get.handler = [&datasets](Call& call) -> Result<Reply> {
    return datasetReply(datasets.get(call.principal, inputText(call, "id")));
  };
  out.push_back(std::move(get));

  Endpoint download = declare("GET", "/api/v1/datasets/{id}/download", "datasets.download",
                              "Download a part of a ready dataset", kInProject);
  download.description =
      "idx: images or labels as uncompressed IDX (application/octet-stream); csv: table as CSV "
      "text whose values read back as the same 32-bit floats. `part` may be left out for csv.";
  download.input = {idInPath(), Field::string("part")
                                    .inQuery()
                                    .oneOf(kPartNames)
                                    .describe("images, labels (idx) or table (csv)")};
  download.handler = [&datasets](Call& call) -> Result<Reply> {
    const std::string id = inputText(call, "id");
    std::optional<std::string> part = optionalString(call.input, "part");
    if (!part) {
      Result<service::Dataset> dataset = datasets.get(call.principal, id);
      if (!dataset.ok()) return dataset.status();
      if (dataset->format != "csv") {
        return Status::Invalid("part: required for idx datasets (images or labels)");
      }
      part = "table";
    }
    Result<service::DatasetDownload> file = datasets.download(call.principal, id, *part);
    if (!file.ok()) return file.status();
    return fileReply(file->file, file->content_type, file->filename);
  };
  out.push_back(std::move(download));

  Endpoint remove = declare("DELETE", "/api/v1/datasets/{id}", "datasets.delete",
                            "Delete a dataset and its files", kInProject);
  remove.description = "409 while a queued or running task uses the dataset.";
  remove.input = {idInPath()};
  remove.handler = [&datasets](Call& call) -> Result<Reply> {
    return emptyReply(datasets.remove(call.principal, inputText(call, "id")));
  };
  out.push_back(std::move(remove));

  Endpoint upload = declareWebSocket(
      std::string(kDatasetUploadPath), "datasets.upload",
      "WebSocket: upload parts as binary frames", kInProject,
      "Text {\"part\", \"offset\"} selects a part at its `received`; each binary frame is "
      "appended there; every frame gets one reply {\"part\", \"size\", \"received\"} or "
      "{\"error\": problem}.");
  upload.input = {idInPath()};
  out.push_back(std::move(upload));
}

}  // namespace

json datasetPartJson(const service::DatasetPart& part, bool with_digest) {
  json out = {{"part", part.name}, {"size", part.size}, {"received", part.received}};
  if (with_digest) out["sha256"] = part.sha256;
  return out;
}

json datasetJson(const service::Dataset& dataset) {
  const store::Resource& row = dataset.row;
  const bool ready = row.state == service::kDatasetReady;
  const bool images = dataset.kind == data::DatasetKind::kImages;
  json parts = json::object();
  for (const service::DatasetPart& part : dataset.parts) {
    parts[part.name] = {{"size", part.size}, {"received", part.received}, {"sha256", part.sha256}};
  }
  return {
      {"id", row.id},
      {"name", row.name},
      {"project_id", row.project_id},
      {"owner_id", nullable(!row.owner_id.empty(), row.owner_id)},
      {"created_at", service::formatIsoTime(row.created_ms)},
      {"updated_at", service::formatIsoTime(row.updated_ms)},
      {"format", dataset.format},
      {"state", row.state},
      {"error", nullable(!dataset.error.empty(), dataset.error)},
      {"parts", std::move(parts)},
      {"bytes", row.bytes},
      {"kind", data::datasetKindName(dataset.kind)},
      {"items", nullable(ready && images, dataset.count)},
      {"rows", nullable(ready && !images, dataset.count)},
      {"image",
       nullable(ready && images, {{"rows", dataset.image_rows}, {"cols", dataset.image_cols}})},
      {"classes", nullable(images, dataset.classes)},
      {"columns", nullable(ready && !images, dataset.columns)},
      {"checksum", nullable(ready, dataset.checksum)},
  };
}

std::vector<OutputField> datasetOutput() {
  return {
      {"id", FieldType::kString, "the dataset's id"},
      {"name", FieldType::kString, "unique among the project's datasets"},
      {"project_id", FieldType::kString, "the project it belongs to"},
      {"owner_id", FieldType::kString, "who created it; null once that user is deleted", true},
      {"created_at", FieldType::kString, "ISO-8601 UTC"},
      {"updated", FieldType::kString, "ISO-8601 UTC, the last change of state"},
      {"format", FieldType::kString, "idx or csv"},
      {"state", FieldType::kString, "uploading, ready or invalid"},
      {"error", FieldType::kString, "why finalize refused the content (state invalid)", true},
      {"parts", FieldType::kObject, "part name -> {size, received, sha256}"},
      {"bytes", FieldType::kInteger,
       "bytes counted against the quota: declared while uploading, the stored form once ready"},
      {"kind", FieldType::kString, "images (idx) or table (csv)"},
      {"items", FieldType::kInteger, "images: how many (once ready)", true},
      {"rows", FieldType::kInteger, "table: how many rows (once ready)", true},
      {"image", FieldType::kObject, "images: {rows, cols} of every image (once ready)", true},
      {"classes", FieldType::kInteger, "images: labels are below this", true},
      {"columns", FieldType::kArray, "table: the column names (once ready)", true},
      {"checksum", FieldType::kString, "SHA-256 of the stored compact form (once ready)", true},
  };
}

json appendProblem(service::DatasetService& datasets, const service::Principal& caller,
                   std::string_view id, std::string_view part, const Status& refusal,
                   std::string_view instance) {
  ProblemKind kind = problemKindFor(refusal.code());
  json extensions = json::object();
  if (refusal.code() == Code::kFailedPrecondition || refusal.code() == Code::kInvalidArgument) {
    Result<service::DatasetPart> status = datasets.partStatus(caller, id, part);
    if (status.ok()) extensions["received"] = status->received;
  }
  // Server faults keep their details in the log, as Response::problem() does.
  const std::string detail = kind.status >= 500 ? std::string() : refusal.message();
  return json::parse(renderProblem(kind, detail, instance, extensions));
}

void addDatasetEndpoints(std::vector<Endpoint>& out, service::DatasetService& datasets) {
  addCreate(out, datasets);
  addPartEndpoints(out, datasets);
  addLifecycle(out, datasets);
}

}  // namespace tendril::api
