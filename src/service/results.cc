#include "service/results.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <ostream>

#include "data/atomic_file.h"
#include "data/dataset_file.h"
#include "service/access.h"
#include "service/datasets.h"
#include "service/tasks.h"

namespace tendril::service {
namespace {

static_assert(std::endian::native == std::endian::little,
              "result files are little-endian; a big-endian build needs byte swapping");

constexpr char kMagic[4] = {'T', 'R', 'E', 'S'};
constexpr uint32_t kVersion = 1;
constexpr size_t kFixedHeaderBytes = 24;  // magic, version, count, port count, output width
constexpr uint32_t kMaxPorts = 4096;
constexpr uint16_t kMaxPortNameBytes = 1024;
constexpr size_t kMaxOutputsPage = 1000;
constexpr std::string_view kPartialSuffix = ".partial";
// Rows scanned at most per result list page (tasks that are not results are skipped).
constexpr size_t kListScanFactor = 20;

template <typename T>
void putLe(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

template <typename T>
T getLe(const uint8_t* data) {
  T value;
  std::memcpy(&value, data, sizeof(T));
  return value;
}

size_t paddedTo8(size_t size) { return (size + 7) / 8 * 8; }

std::string encodeHeader(const ResultHeader& header) {
  std::string out(kMagic, sizeof(kMagic));
  putLe<uint32_t>(out, kVersion);
  putLe<uint64_t>(out, header.count);
  putLe<uint32_t>(out, static_cast<uint32_t>(header.outputs.size()));
  putLe<uint32_t>(out, header.outputWidth());
  for (const ResultPort& port : header.outputs) {
    putLe<uint32_t>(out, port.width);
    putLe<uint16_t>(out, static_cast<uint16_t>(port.name.size()));
    out += port.name;
  }
  out.resize(paddedTo8(out.size()), '\0');
  return out;
}

// The shortest decimal text that reads back as `value` ("0.1", not "0.10000000149011612").
std::string floatText(float value) {
  if (!std::isfinite(value)) return "null";
  char buffer[32];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  (void)error;
  return std::string(buffer, end);
}

// The same value as a double that prints as that short text in nlohmann::json.
double shortDouble(float value) {
  if (!std::isfinite(value)) return 0.0;
  const std::string text = floatText(value);
  double out = 0.0;
  std::from_chars(text.data(), text.data() + text.size(), out);
  return out;
}

Status writeCsv(const ResultFile& file, std::ostream& out) {
  std::string line;
  for (const ResultPort& port : file.header().outputs) {
    for (uint32_t i = 0; i < port.width; ++i) {
      if (!line.empty()) line += ',';
      line += port.name + "_" + std::to_string(i);
    }
  }
  out << line << '\n';
  for (uint64_t row = 0; row < file.count(); ++row) {
    line.clear();
    for (float value : file.row(row)) {
      if (!line.empty()) line += ',';
      line += std::isfinite(value) ? floatText(value) : std::string("nan");
    }
    out << line << '\n';
  }
  return out ? Status::Ok() : Status::Io("the download could not be written");
}

Status writeJson(std::string_view id, const ResultFile& file, std::ostream& out) {
  nlohmann::json ports = nlohmann::json::array();
  for (const ResultPort& port : file.header().outputs) {
    ports.push_back({{"name", port.name}, {"width", port.width}});
  }
  out << "{\"id\":" << nlohmann::json(id).dump() << ",\"count\":" << file.count()
      << ",\"outputs\":" << ports.dump() << ",\"items\":[";
  std::string line;
  for (uint64_t row = 0; row < file.count(); ++row) {
    line = row == 0 ? "[" : ",[";
    bool first = true;
    for (float value : file.row(row)) {
      if (!first) line += ',';
      first = false;
      line += floatText(value);
    }
    line += ']';
    out << line;
  }
  out << "]}\n";
  return out ? Status::Ok() : Status::Io("the download could not be written");
}

size_t argmax(std::span<const float> values) {
  return static_cast<size_t>(std::max_element(values.begin(), values.end()) - values.begin());
}

}  // namespace

// --- Files -----------------------------------------------------------------------------------

std::filesystem::path resultFilePath(const std::filesystem::path& results_dir,
                                     std::string_view id) {
  return results_dir / (std::string(id) + ".tres");
}

namespace {
std::filesystem::path exportPath(const std::filesystem::path& results_dir, std::string_view id,
                                 ResultFormat format) {
  return results_dir / (std::string(id) + (format == ResultFormat::kCsv ? ".csv" : ".json"));
}
}  // namespace

void removeResultFiles(const std::filesystem::path& results_dir, std::string_view id) {
  std::error_code ignored;
  const std::filesystem::path result = resultFilePath(results_dir, id);
  std::filesystem::remove(result, ignored);
  std::filesystem::remove(result.string() + std::string(kPartialSuffix), ignored);
  std::filesystem::remove(exportPath(results_dir, id, ResultFormat::kCsv), ignored);
  std::filesystem::remove(exportPath(results_dir, id, ResultFormat::kJson), ignored);
}

void removePartialResults(const std::filesystem::path& results_dir) {
  std::error_code error;
  std::filesystem::directory_iterator it(results_dir, error);
  if (error) return;
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    // Partial results, and the temporary files of an interrupted atomic write (".name.tmp-…").
    const bool partial = name.size() > kPartialSuffix.size() &&
                         name.compare(name.size() - kPartialSuffix.size(), kPartialSuffix.size(),
                                      kPartialSuffix) == 0;
    if (partial || name.find(".tmp-") != std::string::npos) {
      std::error_code ignored;
      std::filesystem::remove(entry.path(), ignored);
    }
  }
}

uint32_t ResultHeader::outputWidth() const {
  uint32_t width = 0;
  for (const ResultPort& port : outputs) width += port.width;
  return width;
}

Result<ResultFileWriter> ResultFileWriter::create(const std::filesystem::path& final_path,
                                                  ResultHeader header) {
  if (header.outputs.size() > kMaxPorts) return Status::Invalid("too many output ports");
  for (const ResultPort& port : header.outputs) {
    if (port.name.size() > kMaxPortNameBytes) return Status::Invalid("output port name too long");
  }
  std::error_code error;
  std::filesystem::create_directories(final_path.parent_path(), error);
  if (error) return Status::Io("cannot create the results directory: " + error.message());
  ResultFileWriter writer;
  writer.final_path_ = final_path;
  writer.partial_path_ = final_path.string() + std::string(kPartialSuffix);
  writer.header_ = std::move(header);
  writer.file_ = std::fopen(writer.partial_path_.c_str(), "wb");
  if (writer.file_ == nullptr) return Status::Io("cannot create a result file");
  const std::string bytes = encodeHeader(writer.header_);
  if (std::fwrite(bytes.data(), 1, bytes.size(), writer.file_) != bytes.size()) {
    return Status::Io("cannot write a result file");
  }
  return writer;
}

ResultFileWriter::ResultFileWriter(ResultFileWriter&& other) noexcept { *this = std::move(other); }

ResultFileWriter& ResultFileWriter::operator=(ResultFileWriter&& other) noexcept {
  if (this != &other) {
    if (file_ != nullptr) {
      std::fclose(file_);
      std::error_code ignored;
      std::filesystem::remove(partial_path_, ignored);
    }
    final_path_ = std::move(other.final_path_);
    partial_path_ = std::move(other.partial_path_);
    header_ = std::move(other.header_);
    rows_written_ = other.rows_written_;
    file_ = std::exchange(other.file_, nullptr);
  }
  return *this;
}

ResultFileWriter::~ResultFileWriter() {
  if (file_ == nullptr) return;
  std::fclose(file_);
  std::error_code ignored;
  std::filesystem::remove(partial_path_, ignored);
}

Status ResultFileWriter::append(std::span<const float> values) {
  if (file_ == nullptr) return Status::Precondition("the result file is finished");
  const uint32_t width = header_.outputWidth();
  if (width == 0 ? !values.empty() : values.size() % width != 0) {
    return Status::Invalid("result rows: not a multiple of the output width");
  }
  const uint64_t rows = width == 0 ? 0 : values.size() / width;
  if (rows > header_.count - rows_written_) return Status::Invalid("result rows: too many");
  if (std::fwrite(values.data(), sizeof(float), values.size(), file_) != values.size()) {
    return Status::Io("cannot write a result file");
  }
  rows_written_ += rows;
  return Status::Ok();
}

Status ResultFileWriter::finish() {
  if (file_ == nullptr) return Status::Precondition("the result file is finished");
  if (rows_written_ != header_.count) {
    return Status::Precondition("the result has " + std::to_string(rows_written_) + " of " +
                                std::to_string(header_.count) + " rows");
  }
  const bool flushed = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  std::error_code error;
  if (flushed && closed) std::filesystem::rename(partial_path_, final_path_, error);
  if (!flushed || !closed || error) {
    std::filesystem::remove(partial_path_, error);
    return Status::Io("cannot finish a result file");
  }
  // The rename itself survives a power cut once the directory is on disk.
  const int dir = ::open(final_path_.parent_path().c_str(), O_RDONLY | O_DIRECTORY);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return Status::Ok();
}

Result<ResultFile> ResultFile::open(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound("result file not found");
    return Status::Io("cannot open a result file");
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    ::close(fd);
    return Status::Io("cannot read a result file");
  }
  const auto size = static_cast<size_t>(info.st_size);
  if (size < kFixedHeaderBytes) {
    ::close(fd);
    return Status::Corrupt("result file: shorter than its header");
  }
  void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (mapped == MAP_FAILED) return Status::Io("cannot map a result file");
  ResultFile file;
  file.map_ = static_cast<const uint8_t*>(mapped);
  file.map_size_ = size;

  const uint8_t* data = file.map_;
  if (std::memcmp(data, kMagic, sizeof(kMagic)) != 0) return Status::Corrupt("result file: magic");
  if (getLe<uint32_t>(data + 4) != kVersion) return Status::Corrupt("result file: version");
  file.header_.count = getLe<uint64_t>(data + 8);
  const uint32_t ports = getLe<uint32_t>(data + 16);
  const uint32_t width = getLe<uint32_t>(data + 20);
  if (ports > kMaxPorts) return Status::Corrupt("result file: port count");
  size_t at = kFixedHeaderBytes;
  uint64_t width_sum = 0;
  for (uint32_t p = 0; p < ports; ++p) {
    if (size - at < 6) return Status::Corrupt("result file: ports");
    ResultPort port;
    port.width = getLe<uint32_t>(data + at);
    const uint16_t name_bytes = getLe<uint16_t>(data + at + 4);
    at += 6;
    if (name_bytes > kMaxPortNameBytes || size - at < name_bytes) {
      return Status::Corrupt("result file: port name");
    }
    port.name.assign(reinterpret_cast<const char*>(data + at), name_bytes);
    at += name_bytes;
    width_sum += port.width;
    file.header_.outputs.push_back(std::move(port));
  }
  if (width_sum != width) return Status::Corrupt("result file: output width");
  const size_t rows_at = paddedTo8(at);
  const uint64_t max_rows = width == 0 ? 0 : (std::numeric_limits<uint64_t>::max() / 4) / width;
  if (file.header_.count > max_rows ||
      (width == 0 && file.header_.count != 0 && size != rows_at) || rows_at > size ||
      size - rows_at != file.header_.count * width * sizeof(float)) {
    return Status::Corrupt("result file: size does not match the header");
  }
  file.width_ = width;
  file.rows_ = reinterpret_cast<const float*>(data + rows_at);
  return file;
}

ResultFile::ResultFile(ResultFile&& other) noexcept { *this = std::move(other); }

ResultFile& ResultFile::operator=(ResultFile&& other) noexcept {
  if (this != &other) {
    if (map_ != nullptr) ::munmap(const_cast<uint8_t*>(map_), map_size_);
    header_ = std::move(other.header_);
    width_ = other.width_;
    map_ = std::exchange(other.map_, nullptr);
    map_size_ = std::exchange(other.map_size_, 0);
    rows_ = std::exchange(other.rows_, nullptr);
  }
  return *this;
}

ResultFile::~ResultFile() {
  if (map_ != nullptr) ::munmap(const_cast<uint8_t*>(map_), map_size_);
}

std::span<const float> ResultFile::row(uint64_t index) const {
  assert(index < header_.count);
  return {rows_ + index * width_, width_};
}

// --- JSON ------------------------------------------------------------------------------------

nlohmann::json resultJson(const ResultSummary& summary) {
  nlohmann::json outputs = nlohmann::json::array();
  for (const ResultPort& port : summary.outputs) {
    outputs.push_back({{"name", port.name}, {"width", port.width}});
  }
  return {{"id", summary.id},
          {"task_id", summary.task_id},
          {"cluster_id", summary.cluster_id},
          {"dataset_id", summary.dataset_id},
          {"count", summary.count},
          {"outputs", std::move(outputs)},
          {"created_at", formatIsoTime(summary.created_ms)}};
}

nlohmann::json resultValuesJson(std::span<const float> values) {
  nlohmann::json out = nlohmann::json::array();
  for (float value : values) {
    out.push_back(std::isfinite(value) ? nlohmann::json(shortDouble(value))
                                       : nlohmann::json(nullptr));
  }
  return out;
}

nlohmann::json accuracyJson(const ResultAccuracy& accuracy) {
  if (accuracy.images) {
    return {{"count", accuracy.count},
            {"correct", accuracy.correct},
            {"accuracy", accuracy.accuracy}};
  }
  return {{"count", accuracy.count},
          {"mean_absolute_error", accuracy.mean_absolute_error},
          {"within_0_1", accuracy.within_0_1},
          {"accuracy", accuracy.accuracy}};
}

// --- ResultService ---------------------------------------------------------------------------

ResultService::ResultService(store::MetadataStore& store, DatasetService& datasets,
                             std::filesystem::path results_dir)
    : store_(store), datasets_(datasets), results_dir_(std::move(results_dir)) {}

std::filesystem::path ResultService::path(std::string_view id) const {
  return resultFilePath(results_dir_, id);
}

namespace {
bool isResult(const store::Resource& row) {
  nlohmann::json attrs = nlohmann::json::parse(row.attrs, nullptr, false);
  return row.state == kTaskFinished && attrs.is_object() &&
         attrs.value("type", std::string()) == kTaskRequest && attrs.value("result", false);
}
}  // namespace

Result<store::Resource> ResultService::resultRow(const Principal& caller, std::string_view id) {
  Result<store::Resource> row = store_.getResource(store::ResourceKind::kTask, id);
  if (!row.ok() && row.status().code() != Code::kNotFound) return row.status();
  if (!row.ok() || !Access(caller).canSee(row->project_id, row->owner_id) || !isResult(*row)) {
    return Status::NotFound("result not found");
  }
  return row;
}

ResultSummary ResultService::summaryOf(const store::Resource& row) const {
  nlohmann::json attrs = nlohmann::json::parse(row.attrs, nullptr, false);
  if (!attrs.is_object()) attrs = nlohmann::json::object();
  ResultSummary summary;
  summary.id = row.id;
  summary.task_id = row.id;
  summary.cluster_id = row.parent_id;
  summary.dataset_id = row.ref_id;
  summary.count = attrs.value("samples_total", uint64_t{0});
  for (const engine::Port& port : portsFromJson(attrs.value("outputs", nlohmann::json()))) {
    summary.outputs.push_back({port.name, port.width});
  }
  summary.created_ms = attrs.value("finished_ms", row.updated_ms);
  return summary;
}

Result<store::Page<ResultSummary>> ResultService::list(const Principal& caller,
                                                      const store::PageRequest& page) {
  store::Page<ResultSummary> out;
  const Access::ListScope scope = Access(caller).listScope();
  if (scope.nothing) return out;
  store::ResourceFilter filter;
  filter.kind = store::ResourceKind::kTask;
  filter.project_id = scope.project_id;
  filter.owner_id = scope.owner_id;
  filter.states = {std::string(kTaskFinished)};
  // Finished tasks that are not results (train, checkpoint...) are skipped. Each store page asks
  // for as many rows as are still missing, so the cursor handed out always sits exactly after
  // the last row looked at; a bounded scan may return a short page with a cursor.
  store::PageRequest request{page.limit, page.cursor};
  size_t scanned = 0;
  const size_t scan_limit = page.limit * kListScanFactor;
  do {
    request.limit = page.limit - out.items.size();
    Result<store::Page<store::Resource>> rows = store_.listResources(filter, request);
    if (!rows.ok()) return rows.status();
    scanned += rows->items.size();
    for (const store::Resource& row : rows->items) {
      if (isResult(row)) out.items.push_back(summaryOf(row));
    }
    request.cursor = rows->next_cursor;
  } while (out.items.size() < page.limit && !request.cursor.empty() && scanned < scan_limit);
  out.next_cursor = request.cursor;
  return out;
}

Result<ResultSummary> ResultService::get(const Principal& caller, std::string_view id) {
  Result<store::Resource> row = resultRow(caller, id);
  if (!row.ok()) return row.status();
  return summaryOf(*row);
}

Result<ResultRows> ResultService::outputs(const Principal& caller, std::string_view id,
                                          uint64_t offset, size_t limit) {
  if (limit < 1 || limit > kMaxOutputsPage) return Status::Invalid("limit: between 1 and 1000");
  Result<store::Resource> row = resultRow(caller, id);
  if (!row.ok()) return row.status();
  Result<ResultFile> file = ResultFile::open(path(id));
  if (!file.ok()) return Status::NotFound("result not found");
  ResultRows page;
  page.offset = offset;
  const uint64_t end = offset >= file->count() ? offset : std::min(file->count(), offset + limit);
  for (uint64_t i = offset; i < end; ++i) {
    std::span<const float> values = file->row(i);
    page.rows.emplace_back(values.begin(), values.end());
  }
  if (end < file->count()) page.next_offset = end;
  return page;
}

Result<std::filesystem::path> ResultService::exportFile(const Principal& caller,
                                                        std::string_view id, ResultFormat format) {
  Result<store::Resource> row = resultRow(caller, id);
  if (!row.ok()) return row.status();
  const std::filesystem::path target = exportPath(results_dir_, id, format);
  std::error_code error;
  if (std::filesystem::exists(target, error)) return target;
  Result<ResultFile> file = ResultFile::open(path(id));
  if (!file.ok()) return Status::NotFound("result not found");
  Status written = data::writeFileAtomically(target, [&](std::ostream& out) {
    return format == ResultFormat::kCsv ? writeCsv(*file, out) : writeJson(id, *file, out);
  });
  if (!written.ok()) return Status::Io("the download could not be prepared");
  return target;
}

Result<ResultAccuracy> ResultService::accuracy(const Principal& caller, std::string_view id,
                                               std::string_view dataset_id) {
  Result<store::Resource> row = resultRow(caller, id);
  if (!row.ok()) return row.status();
  Result<ResultFile> file = ResultFile::open(path(id));
  if (!file.ok()) return Status::NotFound("result not found");
  Result<ReadyDataset> dataset =
      datasets_.open(caller, dataset_id.empty() ? std::string_view(row->ref_id) : dataset_id);
  if (!dataset.ok()) return dataset.status();
  const data::DatasetReader& reader = *dataset->reader;
  const uint32_t width = file->outputWidth();
  if (width == 0 || file->count() == 0) return Status::Invalid("the result has no output values");
  ResultAccuracy accuracy;
  accuracy.count = file->count();

  if (reader.kind() == data::DatasetKind::kImages) {
    // One sample per image. (Tables are compared below, sample by sample through the task's
    // own sampler: a sliding window gives fewer samples than the table has rows.)
    if (reader.count() != file->count()) {
      return Status::Invalid("dataset_id: the dataset has " + std::to_string(reader.count()) +
                             " samples, the result " + std::to_string(file->count()));
    }
    for (uint64_t i = 0; i < file->count(); ++i) {
      if (argmax(file->row(i)) == reader.label(i)) ++accuracy.correct;
    }
    accuracy.accuracy = accuracy.count == 0 ? 0.0
                                            : static_cast<double>(accuracy.correct) /
                                                  static_cast<double>(accuracy.count);
    return accuracy;
  }

  // Tables: the expected values come from the columns the task's mapping names for its outputs.
  nlohmann::json attrs = nlohmann::json::parse(row->attrs, nullptr, false);
  if (!attrs.is_object()) attrs = nlohmann::json::object();
  const std::vector<engine::Port> inputs =
      portsFromJson(attrs.value("inputs", nlohmann::json::array()));
  const std::vector<engine::Port> outputs =
      portsFromJson(attrs.value("outputs", nlohmann::json::array()));
  data::ColumnMapping mapping;
  const nlohmann::json mapped = attrs.value("mapping", nlohmann::json::object());
  for (const auto& [port, columns] : mapped.items()) {
    if (columns.is_array()) mapping[port] = columns.get<std::vector<std::string>>();
  }
  Result<data::SampleMode> mode = parseSampleMode(attrs.value("mode", std::string("window")));
  if (!mode.ok()) return mode.status();
  Result<data::TableSampler> sampler = bindTable(reader, inputs, outputs, *mode, mapping);
  if (!sampler.ok()) {
    return Status::Invalid("dataset_id: no expected values for the outputs: " +
                           sampler.status().message());
  }
  if (sampler->count() != file->count() || sampler->outputWidth() != width) {
    return Status::Invalid("dataset_id: the dataset gives " + std::to_string(sampler->count()) +
                           " samples, the result has " + std::to_string(file->count()));
  }
  std::vector<float> in(sampler->inputWidth());
  std::vector<float> expected(width);
  double absolute_error = 0.0;
  uint64_t within = 0;
  uint64_t argmax_hits = 0;
  for (uint64_t i = 0; i < file->count(); ++i) {
    sampler->sample(static_cast<size_t>(i), in, expected);
    std::span<const float> got = file->row(i);
    bool all_within = true;
    for (uint32_t k = 0; k < width; ++k) {
      const double error = std::fabs(static_cast<double>(got[k]) - expected[k]);
      absolute_error += error;
      if (!(error <= 0.1)) all_within = false;
    }
    if (all_within) ++within;
    if (argmax(got) == argmax(expected)) ++argmax_hits;
  }
  const auto count = static_cast<double>(file->count());
  accuracy.images = false;
  accuracy.mean_absolute_error = absolute_error / (count * width);
  accuracy.within_0_1 = static_cast<double>(within) / count;
  accuracy.accuracy = width > 1 ? static_cast<double>(argmax_hits) / count : accuracy.within_0_1;
  accuracy.correct = width > 1 ? argmax_hits : within;
  return accuracy;
}

Status ResultService::remove(const Principal& caller, std::string_view id) {
  Result<store::Resource> row = resultRow(caller, id);
  if (!row.ok()) return row.status();
  nlohmann::json attrs = nlohmann::json::parse(row->attrs, nullptr, false);
  if (!attrs.is_object()) attrs = nlohmann::json::object();
  attrs["result"] = false;
  store::Resource updated = std::move(row).value();
  updated.attrs = attrs.dump();
  TENDRIL_RETURN_IF_ERROR(store_.updateResource(updated));
  removeResultFiles(results_dir_, id);
  return Status::Ok();
}

}  // namespace tendril::service
