// Results: the outputs of a request task, one row of output values per dataset sample, kept in
// `<data_dir>/results/<task_id>.tres` (format: docs/formats/results.md). The result's id is the
// request task's id; its metadata is that task's row (attrs "result": true while the file
// exists), so a result is visible exactly when its task is.
//
// ResultFileWriter writes the file while the task runs, under a temporary name, and renames it
// into place when every row is written (a crash leaves no half-written result under the real
// name). ResultFile reads a finished file (memory-mapped, validated header and size).
// ResultService answers the API: summaries, paged outputs, CSV/JSON downloads, accuracy against
// a labelled dataset, delete.
//
// Thread safety: a ResultFile's const members may be called concurrently; a ResultFileWriter
// is used by one thread; every ResultService member may be called from any thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "service/principal.h"
#include "store/store.h"

namespace tendril::service {

class DatasetService;

// The files of result `id` under `results_dir` (<data_dir>/results): the result itself, and the
// cached CSV / JSON downloads made from it.
std::filesystem::path resultFilePath(const std::filesystem::path& results_dir, std::string_view id);
// Removes every file of result `id` (result, partial result, downloads); missing ones are fine.
void removeResultFiles(const std::filesystem::path& results_dir, std::string_view id);
// Startup: removes partial results and temporary downloads a crash left behind.
void removePartialResults(const std::filesystem::path& results_dir);

// One output port as recorded in a result file.
struct ResultPort {
  std::string name;
  uint32_t width = 0;
};

// The header of a result file: "TRES" magic, version 1, the output ports, the row count.
struct ResultHeader {
  uint64_t count = 0;  // rows (samples)
  std::vector<ResultPort> outputs;
  uint32_t outputWidth() const;  // sum of the port widths
};

class ResultFileWriter {
 public:
  // Starts `<final_path>.partial` with the header (count rows to come). Io on failure.
  static Result<ResultFileWriter> create(const std::filesystem::path& final_path,
                                         ResultHeader header);
  ResultFileWriter(ResultFileWriter&& other) noexcept;
  ResultFileWriter& operator=(ResultFileWriter&& other) noexcept;
  ~ResultFileWriter();  // an unfinished file is removed

  // Appends rows: values.size() must be a multiple of the output width, and no more than the
  // rows still missing (InvalidArgument otherwise).
  Status append(std::span<const float> values);
  uint64_t rowsWritten() const { return rows_written_; }
  // Flushes, syncs and renames the file into place. FailedPrecondition unless every row was
  // written.
  Status finish();

 private:
  ResultFileWriter() = default;
  std::filesystem::path final_path_;
  std::filesystem::path partial_path_;
  std::FILE* file_ = nullptr;
  ResultHeader header_;
  uint64_t rows_written_ = 0;
};

class ResultFile {
 public:
  // Maps and validates the file (magic, version, header, exact size). NotFound when missing;
  // Corrupt when malformed.
  static Result<ResultFile> open(const std::filesystem::path& file);
  ResultFile(ResultFile&& other) noexcept;
  ResultFile& operator=(ResultFile&& other) noexcept;
  ~ResultFile();

  const ResultHeader& header() const { return header_; }
  uint64_t count() const { return header_.count; }
  uint32_t outputWidth() const { return width_; }
  // Row `index` (< count()): outputWidth() values.
  std::span<const float> row(uint64_t index) const;

 private:
  ResultFile() = default;
  ResultHeader header_;
  uint32_t width_ = 0;
  const uint8_t* map_ = nullptr;
  size_t map_size_ = 0;
  const float* rows_ = nullptr;
};

// Summary of a result, as the API shows it.
struct ResultSummary {
  std::string id;  // = task_id
  std::string task_id;
  std::string cluster_id;
  std::string dataset_id;
  uint64_t count = 0;
  std::vector<ResultPort> outputs;
  store::TimeMs created_ms = 0;
};
nlohmann::json resultJson(const ResultSummary& summary);

// Output values as JSON numbers in their shortest form (0.1, not 0.10000000149011612);
// non-finite values as null.
nlohmann::json resultValuesJson(std::span<const float> values);

struct ResultRows {
  uint64_t offset = 0;
  std::vector<std::vector<float>> rows;  // rows offset, offset + 1, ...
  std::optional<uint64_t> next_offset;   // none on the last page
};

// Accuracy of a result against a labelled dataset. Images: count, correct, accuracy (argmax of
// the outputs equals the label). Tables: count, mean_absolute_error, within_0_1 (fraction of
// values within 0.1 of the expected), accuracy (argmax match when the output is wider than 1,
// else within_0_1).
struct ResultAccuracy {
  bool images = true;
  uint64_t count = 0;
  uint64_t correct = 0;  // images
  double accuracy = 0.0;
  double mean_absolute_error = 0.0;  // tables
  double within_0_1 = 0.0;           // tables
};
nlohmann::json accuracyJson(const ResultAccuracy& accuracy);

enum class ResultFormat { kCsv, kJson };

class ResultService {
 public:
  // `results_dir` is <data_dir>/results.
  ResultService(store::MetadataStore& store, DatasetService& datasets,
                std::filesystem::path results_dir);

  // The file of a result (may not exist).
  std::filesystem::path path(std::string_view id) const;

  // Results visible to the caller (finished request tasks with a result file), oldest first.
  Result<store::Page<ResultSummary>> list(const Principal& caller, const store::PageRequest& page);
  // NotFound when unknown, invisible, or deleted.
  Result<ResultSummary> get(const Principal& caller, std::string_view id);
  // Rows [offset, offset + limit); limit 1..1000 (InvalidArgument otherwise).
  Result<ResultRows> outputs(const Principal& caller, std::string_view id, uint64_t offset,
                             size_t limit);
  // The whole result as CSV (header: port names with index suffixes, e.g. "out_0", then one
  // line per sample) or JSON ({"id", "count", "outputs": [...], "items": [[...], ...]}): a file
  // made on the first request (written atomically) and kept beside the result until the result
  // is deleted; the caller streams it. Values are the shortest decimal text that reads back as
  // the same float.
  Result<std::filesystem::path> exportFile(const Principal& caller, std::string_view id,
                                           ResultFormat format);
  // Accuracy against `dataset_id` (empty: the task's own dataset), which must hold as many
  // samples as the result has rows (InvalidArgument otherwise). Tables use the column mapping
  // and mode the task used.
  Result<ResultAccuracy> accuracy(const Principal& caller, std::string_view id,
                                  std::string_view dataset_id);
  // Deletes the result file (the task stays, with no result). NotFound as get().
  Status remove(const Principal& caller, std::string_view id);

 private:
  Result<store::Resource> resultRow(const Principal& caller, std::string_view id);
  ResultSummary summaryOf(const store::Resource& row) const;

  store::MetadataStore& store_;
  DatasetService& datasets_;
  std::filesystem::path results_dir_;
};

}  // namespace tendril::service
