#include "api/result_routes.h"

#include <string>
#include <utility>

#include "api/json_views.h"

namespace tendril::api {
namespace {

using nlohmann::json;

Field idInPath() { return uuidInPath("id", "the result's id (its request task's id)"); }

std::vector<OutputField> resultOutput() {
  return {
      {"id", FieldType::kString, "the result's id, the same as its request task's"},
      {"task_id", FieldType::kString, "the request task that made it"},
      {"cluster_id", FieldType::kString, "the cluster that answered"},
      {"dataset_id", FieldType::kString, "the dataset it answered"},
      {"count", FieldType::kInteger, "rows: one per dataset sample, in the dataset's order"},
      {"outputs", FieldType::kArray, "the output ports, [{name, width}], in row order"},
      {"created_at", FieldType::kString, "ISO-8601 UTC"},
  };
}

void addReads(std::vector<Endpoint>& out, service::ResultService& results) {
  Endpoint list = declare("GET", "/api/v1/results", "results.list", "List results", kInProject);
  list.description =
      "The outputs of finished request tasks, oldest first, with the same visibility as tasks. "
      "A page may hold fewer than `limit` items while `next_cursor` is not null.";
  list.input = pagingFields();
  list.output = resultOutput();
  list.paged = true;
  list.handler = [&results](Call& call) -> Result<Reply> {
    return pageReply(results.list(call.principal, pageRequestOf(call.input)), service::resultJson);
  };
  out.push_back(std::move(list));

  Endpoint get =
      declare("GET", "/api/v1/results/{id}", "results.get", "Read a result's summary", kInProject);
  get.input = {idInPath()};
  get.output = resultOutput();
  get.handler = [&results](Call& call) -> Result<Reply> {
    Result<service::ResultSummary> summary = results.get(call.principal, inputText(call, "id"));
    if (!summary.ok()) return summary.status();
    return Reply(service::resultJson(*summary));
  };
  out.push_back(std::move(get));

  Endpoint outputs = declare("GET", "/api/v1/results/{id}/outputs", "results.outputs",
                             "Read a page of a result's output rows", kInProject);
  outputs.input = {
      idInPath(),
      Field::integer("offset")
          .inQuery()
          .range(0, INT64_MAX)
          .defaultsTo(0)
          .describe("the first row"),
      Field::integer("limit").inQuery().range(1, 1000).defaultsTo(100).describe("rows at most"),
  };
  outputs.output = {
      {"items", FieldType::kArray, "[{index, values: [numbers, port after port]}]"},
      {"next_offset", FieldType::kInteger, "the offset of the next page; null on the last", true},
  };
  outputs.handler = [&results](Call& call) -> Result<Reply> {
    Result<service::ResultRows> page = results.outputs(call.principal, inputText(call, "id"),
                                                       call.input.at("offset").get<uint64_t>(),
                                                       call.input.at("limit").get<size_t>());
    if (!page.ok()) return page.status();
    json items = json::array();
    for (size_t i = 0; i < page->rows.size(); ++i) {
      items.push_back(
          {{"index", page->offset + i}, {"values", service::resultValuesJson(page->rows[i])}});
    }
    return Reply(json{{"items", std::move(items)},
                      {"next_offset", page->next_offset ? json(*page->next_offset) : json()}});
  };
  out.push_back(std::move(outputs));
}

void addDownloadAndAccuracy(std::vector<Endpoint>& out, service::ResultService& results) {
  Endpoint download = declare("GET", "/api/v1/results/{id}/download", "results.download",
                              "Download a whole result as CSV or JSON", kInProject);
  download.description =
      "csv (text/csv): a header line of the output port names with index suffixes (out_0, "
      "out_1, ...), then one line per sample. json (application/json): {id, count, outputs: "
      "[{name, width}], items: [[values], ...]}. Values are the shortest decimal text that reads "
      "back as the same 32-bit float.";
  download.input = {idInPath(), Field::string("format")
                                    .inQuery()
                                    .oneOf({"csv", "json"})
                                    .defaultsTo("csv")
                                    .describe("csv or json")};
  download.handler = [&results](Call& call) -> Result<Reply> {
    const std::string id = inputText(call, "id");
    const bool csv = inputText(call, "format") == "csv";
    Result<std::filesystem::path> file = results.exportFile(
        call.principal, id, csv ? service::ResultFormat::kCsv : service::ResultFormat::kJson);
    if (!file.ok()) return file.status();
    return fileReply(*file, csv ? "text/csv" : "application/json",
                     "result-" + id + (csv ? ".csv" : ".json"));
  };
  out.push_back(std::move(download));

  Endpoint accuracy = declare("GET", "/api/v1/results/{id}/accuracy", "results.accuracy",
                              "Score a result against a labelled dataset", kInProject);
  accuracy.description =
      "Against `dataset_id` (default: the dataset the task answered), which must hold as many "
      "samples as the result has rows (400 otherwise). Images: {count, correct, accuracy}, a "
      "sample is correct when the largest output's index is its label. Tables (the expected "
      "values come from the columns the task's mapping names for its outputs): {count, "
      "mean_absolute_error, within_0_1 (the fraction of samples whose every output is within 0.1 "
      "of the expected), accuracy (the largest output at the largest expected value's index when "
      "the outputs are wider than 1, else within_0_1)}.";
  accuracy.input = {idInPath(), Field::string("dataset_id")
                                    .inQuery()
                                    .pattern(kUuidPattern)
                                    .describe("a ready dataset to score against")};
  accuracy.output = {
      {"count", FieldType::kInteger, "samples scored"},
      {"correct", FieldType::kInteger, "images: samples right"},
      {"accuracy", FieldType::kNumber, "0..1"},
      {"mean_absolute_error", FieldType::kNumber, "tables: over every output value"},
      {"within_0_1", FieldType::kNumber, "tables: fraction of samples all within 0.1"},
  };
  accuracy.handler = [&results](Call& call) -> Result<Reply> {
    Result<service::ResultAccuracy> scored =
        results.accuracy(call.principal, inputText(call, "id"),
                         optionalString(call.input, "dataset_id").value_or(""));
    if (!scored.ok()) return scored.status();
    return Reply(service::accuracyJson(*scored));
  };
  out.push_back(std::move(accuracy));

  Endpoint remove = declare("DELETE", "/api/v1/results/{id}", "results.delete",
                            "Delete a result (its task stays)", kInProject);
  remove.input = {idInPath()};
  remove.handler = [&results](Call& call) -> Result<Reply> {
    return emptyReply(results.remove(call.principal, inputText(call, "id")));
  };
  out.push_back(std::move(remove));
}

}  // namespace

void addResultEndpoints(std::vector<Endpoint>& out, service::ResultService& results) {
  addReads(out, results);
  addDownloadAndAccuracy(out, results);
}

}  // namespace tendril::api
