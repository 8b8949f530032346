#include "service/datasets.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>

#include "data/atomic_file.h"
#include "data/csv.h"
#include "data/idx.h"
#include "service/access.h"
#include "service/credentials.h"

namespace tendril::service {
namespace {

using nlohmann::json;

constexpr std::string_view kFormatIdx = "idx";
constexpr std::string_view kFormatCsv = "csv";
constexpr std::string_view kCompactFileName = "dataset.tds";

// The parts each format has, in the order they are shown.
std::vector<std::string_view> partsOf(std::string_view format) {
  if (format == kFormatIdx) return {"images", "labels"};
  return {"table"};
}

std::string joined(const std::vector<std::string_view>& names) {
  std::string text;
  for (std::string_view name : names) text += (text.empty() ? "" : ", ") + std::string(name);
  return text;
}

Status notFound(std::string_view id) {
  return Status::NotFound("dataset " + std::string(id) + " not found");
}

// Replaces every occurrence of `path` (a staging file) in `message` by the part's name: file
// paths never reach a client.
std::string scrubbed(std::string message, const std::string& path, std::string_view part) {
  for (size_t at = message.find(path); at != std::string::npos; at = message.find(path, at)) {
    message.replace(at, path.size(), part);
    at += part.size();
  }
  return message;
}

json attrsOf(const Dataset& dataset) {
  json parts = json::array();
  for (const DatasetPart& part : dataset.parts) {
    parts.push_back({{"name", part.name}, {"size", part.size}, {"sha256", part.sha256}});
  }
  json attrs = {{"format", dataset.format}, {"parts", std::move(parts)}, {"error", dataset.error}};
  if (dataset.format == kFormatIdx) attrs["classes"] = dataset.classes;
  if (dataset.row.state == kDatasetReady) {
    attrs["count"] = dataset.count;
    attrs["image_rows"] = dataset.image_rows;
    attrs["image_cols"] = dataset.image_cols;
    attrs["columns"] = dataset.columns;
    attrs["checksum"] = dataset.checksum;
  }
  return attrs;
}

// Decodes the attributes written by attrsOf(); `received` is left 0.
Result<Dataset> datasetOf(const store::Resource& row) {
  json attrs = json::parse(row.attrs, nullptr, false);
  if (attrs.is_discarded() || !attrs.is_object()) {
    return Status::Internal("dataset " + row.id + " has malformed attributes");
  }
  try {
    Dataset dataset;
    dataset.row = row;
    dataset.format = attrs.at("format").get<std::string>();
    dataset.kind =
        dataset.format == kFormatIdx ? data::DatasetKind::kImages : data::DatasetKind::kTable;
    dataset.error = attrs.value("error", std::string());
    dataset.classes = attrs.value("classes", uint32_t{0});
    for (const json& part : attrs.at("parts")) {
      dataset.parts.push_back({part.at("name").get<std::string>(), part.at("size").get<uint64_t>(),
                               0, part.at("sha256").get<std::string>()});
    }
    dataset.count = attrs.value("count", uint64_t{0});
    dataset.image_rows = attrs.value("image_rows", uint32_t{0});
    dataset.image_cols = attrs.value("image_cols", uint32_t{0});
    dataset.columns = attrs.value("columns", std::vector<std::string>());
    dataset.checksum = attrs.value("checksum", std::string());
    return dataset;
  } catch (const json::exception& error) {
    return Status::Internal("dataset " + row.id + " has malformed attributes: " + error.what());
  }
}

const DatasetPart* findPart(const Dataset& dataset, std::string_view name) {
  for (const DatasetPart& part : dataset.parts) {
    if (part.name == name) return &part;
  }
  return nullptr;
}

Status unknownPart(const Dataset& dataset, std::string_view name) {
  return Status::Invalid("unknown part '" + std::string(name).substr(0, 64) + "'; a " +
                         dataset.format + " dataset has " + joined(partsOf(dataset.format)));
}

Status requireState(const store::Resource& row, std::string_view state, std::string_view doing) {
  if (row.state == state) return Status::Ok();
  return Status::Precondition("dataset is " + row.state + ", " + std::string(doing));
}

Status checkRequest(const DatasetRequest& request, uint64_t max_upload_bytes) {
  if (!isValidName(request.name)) {
    return Status::Invalid(
        "name must be 3 to 64 characters: a letter, then letters, digits and _ . @ -");
  }
  if (request.format != kFormatIdx && request.format != kFormatCsv) {
    return Status::Invalid("format must be idx or csv");
  }
  const std::vector<std::string_view> expected = partsOf(request.format);
  bool same = request.parts.size() == expected.size();
  for (std::string_view name : expected) {
    same =
        same && std::count_if(request.parts.begin(), request.parts.end(),
                              [&](const PartDeclaration& part) { return part.name == name; }) == 1;
  }
  if (!same) {
    return Status::Invalid("a " + request.format + " dataset has exactly the parts " +
                           joined(expected));
  }
  for (const PartDeclaration& part : request.parts) {
    Status spec = checkUploadSpec(part.spec, max_upload_bytes);
    if (!spec.ok()) return Status(spec.code(), "part " + part.name + ": " + spec.message());
  }
  if (request.format == kFormatCsv) {
    if (request.classes) return Status::Invalid("classes applies to idx datasets only");
    const uint64_t max_csv = data::CsvLimits{}.max_bytes;
    if (request.parts.front().spec.size > max_csv) {
      return Status::Invalid("part table: a CSV file may hold at most " +
                             std::to_string(max_csv) + " bytes");
    }
  }
  if (request.classes && (*request.classes < 2 || *request.classes > data::kMaxDatasetClasses)) {
    return Status::Invalid("classes must be 2.." + std::to_string(data::kMaxDatasetClasses));
  }
  return Status::Ok();
}

// What finalize made of the uploaded parts: the content in memory, about to be written.
struct ParsedContent {
  std::optional<data::ImageSet> images;
  std::optional<data::Table> table;

  uint64_t compactBytes() const {
    return images ? data::compactImageBytes(images->count, images->rows, images->cols)
                  : data::compactTableBytes(table->columns, table->rows);
  }
  Status write(std::ostream& out) const {
    return images ? data::writeImageDataset(out, *images) : data::writeTableDataset(out, *table);
  }
};

// Whether a parse failure is the upload's fault (the dataset becomes invalid) rather than the
// server's (an I/O error: the dataset stays uploading and finalize may be retried).
bool isContentError(const Status& status) {
  return status.code() == Code::kCorrupt || status.code() == Code::kInvalidArgument ||
         status.code() == Code::kResourceExhausted;
}

}  // namespace

DatasetService::DatasetService(store::MetadataStore& store, Quotas& quotas, Clock clock,
                               DatasetSettings settings)
    : store_(store),
      quotas_(quotas),
      clock_(std::move(clock)),
      settings_(std::move(settings)),
      staging_(settings_.data_dir / "uploads") {}

std::filesystem::path DatasetService::datasetDir(std::string_view id) const {
  return settings_.data_dir / "datasets" / std::string(id);
}

std::filesystem::path DatasetService::compactFile(std::string_view id) const {
  return datasetDir(id) / std::string(kCompactFileName);
}

Result<store::Resource> DatasetService::visibleRow(const Principal& caller, std::string_view id) {
  Result<store::Resource> row = store_.getResource(store::ResourceKind::kDataset, id);
  if (!row.ok()) return row.status().code() == Code::kNotFound ? notFound(id) : row.status();
  if (!Access(caller).canSee(row->project_id, row->owner_id)) return notFound(id);
  return row;
}

Result<Dataset> DatasetService::visibleDataset(const Principal& caller, std::string_view id) {
  Result<store::Resource> row = visibleRow(caller, id);
  if (!row.ok()) return row.status();
  return decode(*row);
}

Result<Dataset> DatasetService::decode(const store::Resource& row) const {
  Result<Dataset> dataset = datasetOf(row);
  if (!dataset.ok()) return dataset;
  for (DatasetPart& part : dataset->parts) {
    if (row.state == kDatasetReady) {
      part.received = part.size;
    } else if (row.state == kDatasetUploading) {
      Result<uint64_t> received = staging_.received(row.id, part.name);
      part.received = received.ok() ? *received : 0;
    }
  }
  return dataset;
}

Result<Dataset> DatasetService::create(const Principal& caller, const DatasetRequest& request) {
  TENDRIL_RETURN_IF_ERROR(Access(caller).requireSignedIn());
  if (caller.project_id.empty()) return Status::Precondition("select a project first");
  TENDRIL_RETURN_IF_ERROR(checkRequest(request, settings_.max_upload_bytes));

  Dataset dataset;
  dataset.format = request.format;
  dataset.kind =
      request.format == kFormatIdx ? data::DatasetKind::kImages : data::DatasetKind::kTable;
  if (request.format == kFormatIdx)
    dataset.classes = request.classes.value_or(kDefaultDatasetClasses);
  int64_t declared = 0;
  for (std::string_view name : partsOf(request.format)) {  // the canonical order
    auto part = std::find_if(request.parts.begin(), request.parts.end(),
                             [&](const PartDeclaration& p) { return p.name == name; });
    dataset.parts.push_back({part->name, part->spec.size, 0, normalizeSha256(part->spec.sha256)});
    declared += static_cast<int64_t>(part->spec.size);
  }
  store::Resource& row = dataset.row;
  row.id = newUuid();
  row.kind = store::ResourceKind::kDataset;
  row.project_id = caller.project_id;
  row.owner_id = caller.user_id;
  row.name = request.name;
  row.state = std::string(kDatasetUploading);
  row.bytes = declared;  // the staged parts count against the quota while they are uploaded
  row.attrs = attrsOf(dataset).dump();
  row.created_ms = row.updated_ms = clock_();

  UploadLock upload = staging_.lock(row.id);
  for (const DatasetPart& part : dataset.parts) {
    Status created = staging_.create(upload, part.name);
    if (!created.ok()) {
      (void)staging_.remove(upload);
      return created;
    }
  }
  Status inserted = store_.transaction([&](store::MetadataStore& store) -> Status {
    TENDRIL_RETURN_IF_ERROR(quotas_.checkDatasetBytes(row.project_id, declared));
    return store.insertResource(row);
  });
  if (!inserted.ok()) {
    (void)staging_.remove(upload);
    if (inserted.code() == Code::kAlreadyExists) {
      return Status(Code::kAlreadyExists, "a dataset named " + row.name + " already exists");
    }
    return inserted;
  }
  return decode(row);
}

Result<DatasetPart> DatasetService::appendPart(const Principal& caller, std::string_view id,
                                               std::string_view part, uint64_t offset,
                                               std::span<const uint8_t> bytes) {
  Result<store::Resource> row = visibleRow(caller, id);
  if (!row.ok()) return row.status();
  UploadLock upload = staging_.lock(row->id);
  row = store_.getResource(store::ResourceKind::kDataset, id);  // as it is now, under the lock
  if (!row.ok()) return row.status().code() == Code::kNotFound ? notFound(id) : row.status();
  Result<Dataset> dataset = datasetOf(*row);
  if (!dataset.ok()) return dataset.status();
  const DatasetPart* declared = findPart(*dataset, part);
  if (declared == nullptr) return unknownPart(*dataset, part);
  TENDRIL_RETURN_IF_ERROR(requireState(*row, kDatasetUploading, "no more data is accepted"));
  Result<uint64_t> received =
      staging_.append(upload, part, {declared->size, declared->sha256}, offset, bytes);
  if (!received.ok()) return received.status();
  DatasetPart result = *declared;
  result.received = *received;
  return result;
}

Result<DatasetPart> DatasetService::partStatus(const Principal& caller, std::string_view id,
                                               std::string_view part) {
  Result<Dataset> dataset = visibleDataset(caller, id);
  if (!dataset.ok()) return dataset.status();
  const DatasetPart* found = findPart(*dataset, part);
  if (found == nullptr) return unknownPart(*dataset, part);
  return *found;
}

Result<Dataset> DatasetService::finalize(const Principal& caller, std::string_view id) {
  Result<store::Resource> row = visibleRow(caller, id);
  if (!row.ok()) return row.status();
  UploadLock upload = staging_.lock(row->id);
  row = store_.getResource(store::ResourceKind::kDataset, id);
  if (!row.ok()) return row.status().code() == Code::kNotFound ? notFound(id) : row.status();
  if (row->state == kDatasetReady) return decode(*row);  // finalize is idempotent
  if (row->state == kDatasetInvalid) {
    Result<Dataset> dataset = datasetOf(*row);
    return Status::Precondition("dataset is invalid (" +
                                (dataset.ok() ? dataset->error : std::string("unknown")) +
                                "); delete it and upload again");
  }
  return finalizeLocked(upload, std::move(row).value());
}

Result<Dataset> DatasetService::finalizeLocked(const UploadLock& upload, store::Resource row) {
  Result<Dataset> decoded = datasetOf(row);
  if (!decoded.ok()) return decoded.status();
  Dataset& dataset = *decoded;

  // Missing bytes are no verdict on the content: the client may still send them.
  for (const DatasetPart& part : dataset.parts) {
    Result<uint64_t> received = staging_.received(row.id, part.name);
    if (!received.ok()) return received.status();
    if (*received != part.size) {
      return Status::Precondition("part " + part.name +
                                  " is incomplete: " + std::to_string(*received) + " of " +
                                  std::to_string(part.size) + " bytes received");
    }
  }
  for (const DatasetPart& part : dataset.parts) {
    Status verified = staging_.verify(upload, part.name, {part.size, part.sha256});
    if (!verified.ok()) {
      if (verified.code() != Code::kInvalidArgument) return verified;
      TENDRIL_RETURN_IF_ERROR(markInvalid(upload, row, verified.message()));
      return verified;
    }
  }

  ParsedContent content;
  Status parsed;
  if (dataset.format == kFormatIdx) {
    data::IdxLimits limits;
    limits.max_label = static_cast<uint8_t>(dataset.classes - 1);
    const std::filesystem::path images = staging_.partPath(row.id, "images");
    const std::filesystem::path labels = staging_.partPath(row.id, "labels");
    Result<data::ImageSet> set = data::readIdxPair(images, labels, limits);
    if (set.ok()) {
      content.images = std::move(set).value();
    } else {
      parsed = Status(set.status().code(),
                      scrubbed(scrubbed(set.status().message(), images.string(), "images"),
                               labels.string(), "labels"));
    }
  } else {
    const std::filesystem::path table = staging_.partPath(row.id, "table");
    Result<data::Table> read = data::readCsvFile(table);
    if (read.ok()) {
      content.table = std::move(read).value();
    } else {
      parsed =
          Status(read.status().code(), scrubbed(read.status().message(), table.string(), "table"));
    }
  }
  if (!parsed.ok()) {
    if (!isContentError(parsed)) return parsed;
    TENDRIL_RETURN_IF_ERROR(markInvalid(upload, row, parsed.message()));
    return Status::Invalid(parsed.message());
  }

  // The compact form may be larger than what was uploaded (gzip): check before writing.
  const int64_t growth = static_cast<int64_t>(content.compactBytes()) - row.bytes;
  if (growth > 0) TENDRIL_RETURN_IF_ERROR(quotas_.checkDatasetBytes(row.project_id, growth));

  std::error_code error;
  std::filesystem::create_directories(datasetDir(row.id), error);
  if (error) return Status::Io("cannot create the dataset directory: " + error.message());
  const std::filesystem::path file = compactFile(row.id);
  Status written = data::writeFileAtomically(
      file, [&](std::ostream& out) -> Status { return content.write(out); });
  if (!written.ok()) {
    std::filesystem::remove_all(datasetDir(row.id), error);
    return Status(written.code(), scrubbed(written.message(), file.string(), "dataset file"));
  }
  content = {};  // the decoded data is on disk now; free it before reading it back

  Result<data::DatasetReader> reader = data::DatasetReader::open(file);
  Result<std::string> checksum = sha256OfFile(file);
  Status updated =
      !reader.ok()
          ? Status::Internal("the written dataset does not read back: " + reader.status().message())
      : !checksum.ok() ? checksum.status()
                       : Status::Ok();
  if (updated.ok()) {
    dataset.count = reader->count();
    if (reader->kind() == data::DatasetKind::kImages) {
      dataset.image_rows = reader->imageRows();
      dataset.image_cols = reader->imageCols();
    } else {
      dataset.columns = reader->columns();
    }
    dataset.checksum = *checksum;
    row.state = std::string(kDatasetReady);
    row.bytes = static_cast<int64_t>(reader->fileBytes());
    dataset.row = row;
    row.attrs = attrsOf(dataset).dump();
    row.updated_ms = clock_();
    updated = store_.transaction([&](store::MetadataStore& store) -> Status {
      // Again under the store's lock, so two finalizes of one project cannot both pass.
      if (growth > 0) TENDRIL_RETURN_IF_ERROR(quotas_.checkDatasetBytes(row.project_id, growth));
      return store.updateResource(row);
    });
  }
  if (!updated.ok()) {
    std::filesystem::remove_all(datasetDir(row.id), error);
    return updated;
  }
  (void)staging_.remove(upload);  // a leftover is cleaned up by removeOrphanFiles()
  return decode(row);
}

Status DatasetService::markInvalid(const UploadLock& upload, store::Resource row,
                                   const std::string& error) {
  Result<Dataset> dataset = datasetOf(row);
  if (!dataset.ok()) return dataset.status();
  dataset->error = error;
  row.state = std::string(kDatasetInvalid);
  row.bytes = 0;  // nothing is kept
  dataset->row = row;
  row.attrs = attrsOf(*dataset).dump();
  row.updated_ms = clock_();
  TENDRIL_RETURN_IF_ERROR(store_.updateResource(row));
  return removeFiles(upload);
}

Status DatasetService::removeFiles(const UploadLock& upload) {
  Status staged = staging_.remove(upload);
  std::error_code error;
  std::filesystem::remove_all(datasetDir(upload.uploadId()), error);
  {
    std::lock_guard guard(readers_mutex_);
    readers_.erase(upload.uploadId());
  }
  if (error) return Status::Io("cannot remove the dataset's files: " + error.message());
  return staged;
}

Result<Dataset> DatasetService::get(const Principal& caller, std::string_view id) {
  return visibleDataset(caller, id);
}

Result<store::Page<Dataset>> DatasetService::list(const Principal& caller,
                                                  const store::PageRequest& page) {
  Access::ListScope scope = Access(caller).listScope();
  store::Page<Dataset> result;
  if (scope.nothing) return result;
  store::ResourceFilter filter;
  filter.kind = store::ResourceKind::kDataset;
  filter.project_id = scope.project_id;
  filter.owner_id = scope.owner_id;
  Result<store::Page<store::Resource>> rows = store_.listResources(filter, page);
  if (!rows.ok()) return rows.status();
  for (const store::Resource& row : rows->items) {
    Result<Dataset> dataset = decode(row);
    if (!dataset.ok()) return dataset.status();
    result.items.push_back(std::move(dataset).value());
  }
  result.next_cursor = rows->next_cursor;
  return result;
}

Result<DatasetDownload> DatasetService::download(const Principal& caller, std::string_view id,
                                                 std::string_view part) {
  Result<Dataset> dataset = visibleDataset(caller, id);
  if (!dataset.ok()) return dataset.status();
  if (findPart(*dataset, part) == nullptr) return unknownPart(*dataset, part);
  const store::Resource& row = dataset->row;
  TENDRIL_RETURN_IF_ERROR(requireState(row, kDatasetReady, "not ready"));

  const bool csv = dataset->format == kFormatCsv;
  DatasetDownload download;
  download.content_type = csv ? "text/csv" : "application/octet-stream";
  download.filename = csv ? row.name + ".csv" : row.name + "-" + std::string(part) + ".idx";
  download.file = datasetDir(row.id) / "download" / (std::string(part) + (csv ? ".csv" : ".idx"));

  UploadLock upload = staging_.lock(row.id);  // one writer of the cached file
  std::error_code error;
  if (std::filesystem::is_regular_file(download.file, error)) return download;
  Result<ReadyDataset> ready = open(caller, id);
  if (!ready.ok()) return ready.status();
  std::filesystem::create_directories(download.file.parent_path(), error);
  if (error) return Status::Io("cannot create the download directory: " + error.message());
  const data::DatasetReader& reader = *ready->reader;
  Status written = data::writeFileAtomically(download.file, [&](std::ostream& out) -> Status {
    if (csv) return data::exportCsv(reader, out);
    return part == "images" ? data::exportIdxImages(reader, out)
                            : data::exportIdxLabels(reader, out);
  });
  if (!written.ok()) {
    return Status(written.code(), scrubbed(written.message(), download.file.string(), "download"));
  }
  return download;
}

Status DatasetService::remove(const Principal& caller, std::string_view id) {
  Result<store::Resource> row = visibleRow(caller, id);
  if (!row.ok()) return row.status();
  UploadLock upload = staging_.lock(row->id);
  Status deleted = store_.transaction([&](store::MetadataStore& store) -> Status {
    store::ResourceFilter tasks;
    tasks.kind = store::ResourceKind::kTask;
    tasks.ref_id = row->id;
    tasks.states = {"queued", "running"};
    Result<int64_t> busy = store.countResources(tasks);
    if (!busy.ok()) return busy.status();
    if (*busy > 0) {
      return Status::Precondition("dataset is used by " + std::to_string(*busy) +
                                  " queued or running task(s); cancel them first");
    }
    return store.deleteResource(store::ResourceKind::kDataset, row->id);
  });
  if (deleted.code() == Code::kNotFound) return notFound(id);
  TENDRIL_RETURN_IF_ERROR(deleted);
  return removeFiles(upload);
}

Result<ReadyDataset> DatasetService::open(const Principal& caller, std::string_view id) {
  Result<store::Resource> row = visibleRow(caller, id);
  if (!row.ok()) return row.status();
  if (row->state != kDatasetReady) return Status::Precondition("dataset is not ready");
  std::lock_guard guard(readers_mutex_);
  auto cached = readers_.find(row->id);
  if (cached != readers_.end()) {
    if (auto reader = cached->second.lock()) return ReadyDataset{std::move(row).value(), reader};
  }
  Result<data::DatasetReader> opened = data::DatasetReader::open(compactFile(row->id));
  if (!opened.ok()) {
    return Status(
        opened.status().code() == Code::kNotFound ? Code::kCorrupt : opened.status().code(),
        "dataset " + row->id + ": " + opened.status().message());
  }
  auto reader = std::make_shared<const data::DatasetReader>(std::move(opened).value());
  std::erase_if(readers_, [](const auto& entry) { return entry.second.expired(); });
  readers_[row->id] = reader;
  return ReadyDataset{std::move(row).value(), std::move(reader)};
}

ProjectContent DatasetService::projectContent() {
  ProjectContent content;
  content.noun = "datasets";
  content.count = [this](std::string_view project_id) -> Result<int64_t> {
    store::ResourceFilter filter;
    filter.kind = store::ResourceKind::kDataset;
    filter.project_id = std::string(project_id);
    return store_.countResources(filter);
  };
  // Runs inside the store transaction that deletes the project, so it must not wait for an
  // upload lock (a finalize holding one may be waiting for the store): the files go unlocked,
  // and anything a concurrent finalize writes afterwards is an orphan removeOrphanFiles() finds.
  content.remove = [this](std::string_view project_id) -> Status {
    store::ResourceFilter filter;
    filter.kind = store::ResourceKind::kDataset;
    filter.project_id = std::string(project_id);
    std::vector<std::string> ids;
    store::PageRequest page{store::kMaxPageLimit, {}};
    do {
      Result<store::Page<store::Resource>> rows = store_.listResources(filter, page);
      if (!rows.ok()) return rows.status();
      for (const store::Resource& row : rows->items) ids.push_back(row.id);
      page.cursor = rows->next_cursor;
    } while (!page.cursor.empty());
    for (const std::string& id : ids) {
      TENDRIL_RETURN_IF_ERROR(store_.deleteResource(store::ResourceKind::kDataset, id));
    }
    std::error_code error;
    for (const std::string& id : ids) {
      std::filesystem::remove_all(datasetDir(id), error);
      std::filesystem::remove_all(settings_.data_dir / "uploads" / id, error);
    }
    return Status::Ok();
  };
  return content;
}

Status DatasetService::removeOrphanFiles() {
  std::error_code error;
  const std::filesystem::path datasets = settings_.data_dir / "datasets";
  std::vector<std::filesystem::path> dataset_dirs;
  if (std::filesystem::exists(datasets, error)) {
    for (std::filesystem::directory_iterator it(datasets, error), end; !error && it != end;
         it.increment(error)) {
      dataset_dirs.push_back(it->path());
    }
    if (error) return Status::Io("cannot list the datasets directory: " + error.message());
  }
  for (const std::filesystem::path& dir : dataset_dirs) {
    Result<store::Resource> row =
        store_.getResource(store::ResourceKind::kDataset, dir.filename().string());
    if (!row.ok() && row.status().code() != Code::kNotFound) return row.status();
    if (row.ok() && row->state == kDatasetReady) continue;
    std::filesystem::remove_all(dir, error);
    if (error) return Status::Io("cannot remove an orphaned dataset: " + error.message());
  }
  Result<std::vector<std::string>> staged = staging_.uploadIds();
  if (!staged.ok()) return staged.status();
  for (const std::string& id : *staged) {
    Result<store::Resource> row = store_.getResource(store::ResourceKind::kDataset, id);
    if (row.ok() && row->state == kDatasetUploading) continue;
    if (!row.ok() && row.status().code() != Code::kNotFound) return row.status();
    if (!row.ok()) {  // not a dataset: maybe a checkpoint upload
      Result<store::Resource> checkpoint = store_.getResource(store::ResourceKind::kCheckpoint, id);
      if (checkpoint.ok() || checkpoint.status().code() != Code::kNotFound) continue;
    }
    UploadLock upload = staging_.lock(id);
    TENDRIL_RETURN_IF_ERROR(staging_.remove(upload));
  }
  return Status::Ok();
}

}  // namespace tendril::service
