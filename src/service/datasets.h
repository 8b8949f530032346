// Datasets: named training and test data of a project, uploaded in parts, validated once, then
// kept in the compact form of data/dataset_file.h for tasks to read.
//
// Life of a dataset (docs/api.md "Datasets"):
//   create   — name, format (idx: parts `images` + `labels`; csv: part `table`), each part's
//              declared size and SHA-256. The declared bytes count against the project's dataset
//              quota from now on. State `uploading`.
//   append   — chunks of a part at explicit offsets (service/uploads.h), over HTTP or WebSocket.
//   finalize — every part complete (else FailedPrecondition, nothing changes: keep uploading),
//              every SHA-256 as declared, the content valid (IDX magic, dimensions, exact sizes,
//              labels < classes, equal counts; CSV shape and cells, naming line and column).
//              Success: the compact file is written atomically, the staging files go, state
//              `ready`, bytes = the compact file's size (checked against the quota first;
//              a refusal changes nothing). Invalid content: state `invalid` with `error`, the
//              staging files go, bytes 0; only delete is left.
//   download — the part as uploaded in substance: IDX uncompressed, CSV re-emitted (%.9g).
//   delete   — FailedPrecondition while a queued or running task refers to the dataset.
//
// Every operation takes the caller first and scopes through service::Access: an invisible
// dataset is NotFound exactly like an unknown id. Creating needs a current project
// (FailedPrecondition "select a project first"). File paths never appear in errors.
//
// On disk: <data_dir>/datasets/<id>/dataset.tds (the compact file), <id>/download/ (cached
// download forms), <data_dir>/uploads/<id>/<part> while uploading.
//
// Thread safety: every member may be called from any thread. Appends, finalize and delete of one
// dataset are serialised (the upload's lock); different datasets proceed in parallel.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "data/dataset_file.h"
#include "service/accounts.h"
#include "service/clock.h"
#include "service/principal.h"
#include "service/quotas.h"
#include "service/uploads.h"
#include "store/store.h"

namespace tendril::service {

// States of a dataset row.
inline constexpr std::string_view kDatasetUploading = "uploading";
inline constexpr std::string_view kDatasetReady = "ready";
inline constexpr std::string_view kDatasetInvalid = "invalid";

// Classes of an IDX dataset unless create() is told otherwise (labels 0..9).
inline constexpr uint32_t kDefaultDatasetClasses = 10;

struct DatasetSettings {
  std::filesystem::path data_dir;
  uint64_t max_upload_bytes = uint64_t{8} << 30;  // largest declared part
};

// One declared part at creation.
struct PartDeclaration {
  std::string name;  // idx: "images", "labels"; csv: "table"
  UploadSpec spec;
};

// A part as a caller sees it.
struct DatasetPart {
  std::string name;
  uint64_t size = 0;
  uint64_t received = 0;  // bytes staged now (= size once ready; 0 once invalid)
  std::string sha256;
};

// A dataset row with its attributes decoded.
struct Dataset {
  store::Resource row;  // id, name, project_id, owner_id, state, bytes, times
  std::string format;   // "idx" or "csv"
  data::DatasetKind kind = data::DatasetKind::kImages;  // idx → images, csv → table
  std::string error;               // why finalize refused the content; empty unless state invalid
  std::vector<DatasetPart> parts;  // in declaration order
  uint32_t classes = 0;            // idx: the label range declared at create
  // Known once ready:
  uint64_t count = 0;  // images: items; table: rows
  uint32_t image_rows = 0;
  uint32_t image_cols = 0;
  std::vector<std::string> columns;  // table
  std::string checksum;              // SHA-256 of the compact file, lower-case hex
};

// What create() needs beyond the caller.
struct DatasetRequest {
  std::string name;    // isValidName()
  std::string format;  // "idx" or "csv"
  std::vector<PartDeclaration> parts;
  std::optional<uint32_t> classes;  // idx only: 2..256 (default kDefaultDatasetClasses)
};

// A ready dataset opened for reading (tasks). The reader is shared between all users of the
// same dataset file and stays valid (mapped) as long as someone holds it, even after a delete.
struct ReadyDataset {
  store::Resource row;
  std::shared_ptr<const data::DatasetReader> reader;
};

// A download: a file to stream and how to present it.
struct DatasetDownload {
  std::filesystem::path file;  // never shown to the client
  std::string content_type;    // "application/octet-stream" or "text/csv"
  std::string filename;        // suggested name, e.g. "fashion-train-images.idx"
};

class DatasetService {
 public:
  // `store` and `quotas` must outlive the service.
  DatasetService(store::MetadataStore& store, Quotas& quotas, Clock clock,
                 DatasetSettings settings);
  DatasetService(const DatasetService&) = delete;
  DatasetService& operator=(const DatasetService&) = delete;

  // InvalidArgument for a bad name, format, set of parts, size or digest (ResourceExhausted for
  // a part over max_upload_bytes, or the quota); AlreadyExists for a taken name.
  Result<Dataset> create(const Principal& caller, const DatasetRequest& request);

  // Appends a chunk to a part of an uploading dataset (uploads.h rules) and returns the part.
  // FailedPrecondition when the dataset is not uploading or `offset` ≠ received (then
  // partStatus() tells where to resume); InvalidArgument for an unknown part name or a chunk
  // past the declared size.
  Result<DatasetPart> appendPart(const Principal& caller, std::string_view id,
                                 std::string_view part, uint64_t offset,
                                 std::span<const uint8_t> bytes);
  // The part's declaration and how much has arrived. InvalidArgument for an unknown part name.
  Result<DatasetPart> partStatus(const Principal& caller, std::string_view id,
                                 std::string_view part);

  // See the file comment. Finalizing a ready dataset returns it unchanged; an invalid one is
  // FailedPrecondition.
  Result<Dataset> finalize(const Principal& caller, std::string_view id);

  Result<Dataset> get(const Principal& caller, std::string_view id);
  // The datasets the caller may see, oldest first.
  Result<store::Page<Dataset>> list(const Principal& caller, const store::PageRequest& page);

  // The file for `part` (idx: "images" or "labels"; csv: "table"), made from the compact file
  // on the first request and cached. FailedPrecondition unless ready; InvalidArgument for a part
  // the format does not have.
  Result<DatasetDownload> download(const Principal& caller, std::string_view id,
                                   std::string_view part);

  // Deletes the row and every file. FailedPrecondition while a task row refers to it (ref_id)
  // in state queued or running.
  Status remove(const Principal& caller, std::string_view id);

  // For tasks: a ready dataset's reader. NotFound when unknown or invisible; FailedPrecondition
  // "dataset is not ready" otherwise; Corrupt when its file fails validation.
  Result<ReadyDataset> open(const Principal& caller, std::string_view id);

  // The "datasets" content of a project for AccountService::addProjectContent(): counts the
  // project's datasets; with cascade, deletes their rows and files.
  ProjectContent projectContent();

  // Startup cleanup: removes dataset directories and staging directories that belong to no
  // dataset or checkpoint row (left by a crash between a row's delete and its files' removal).
  Status removeOrphanFiles();

 private:
  // The row of a dataset the caller may see; NotFound (like an unknown id) otherwise.
  Result<store::Resource> visibleRow(const Principal& caller, std::string_view id);
  // The same, decoded, with every part's `received`.
  Result<Dataset> visibleDataset(const Principal& caller, std::string_view id);
  Result<Dataset> decode(const store::Resource& row) const;
  Result<Dataset> finalizeLocked(const UploadLock& upload, store::Resource row);
  Status markInvalid(const UploadLock& upload, store::Resource row, const std::string& error);
  Status removeFiles(const UploadLock& upload);
  std::filesystem::path datasetDir(std::string_view id) const;
  std::filesystem::path compactFile(std::string_view id) const;

  store::MetadataStore& store_;
  Quotas& quotas_;
  Clock clock_;
  DatasetSettings settings_;
  UploadStaging staging_;
  // Readers handed out by open(), shared while anyone holds them.
  std::mutex readers_mutex_;
  std::map<std::string, std::weak_ptr<const data::DatasetReader>, std::less<>> readers_;
};

}  // namespace tendril::service
