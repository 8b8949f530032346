// Checkpoints as tenant resources: saving a cluster's whole state to a file, restoring a
// cluster from one, uploading and downloading them, and keeping every cluster recoverable across
// restarts (autosave + loadAll).
//
// A checkpoint row (store::Resource of kind kCheckpoint): parent_id = the cluster it was saved
// from (empty for uploads; kept as a plain reference after that cluster is deleted), name
// (manual and uploaded checkpoints; autosaves are unnamed), state saving|uploading|ready|failed,
// bytes = the file's size, attrs = {kind: manual|autosave|upload, template_sha256,
// samples_trained, synapses, saved_ms, error, upload: {size, sha256}}. The file is
// `<data_dir>/checkpoints/<id>.tckp` (engine checkpoint format, docs/formats/checkpoint.md).
//
// Promises:
// - Saving serialises the cluster in memory under its READER lock (training waits at most for
//   that copy) and writes the file atomically outside any lock (data/atomic_file.h): a crash
//   leaves the old file or the complete new one, never a torn file under a ready row.
// - A manual save is a task of type `checkpoint` in the cluster's queue; a restore a task of
//   type `restore`. A restore is refused at once (FailedPrecondition "checkpoint template
//   differs") when the checkpoint's template is not the cluster's (templateSha256()), and the
//   job checks the loaded file again (full validation by data::loadCheckpointFile) before it
//   swaps the state in under the writer lock.
// - An upload is accepted only after its SHA-256 matches the declared one and the file loads
//   completely as a checkpoint; otherwise InvalidArgument naming the problem (the row turns
//   failed with that error, and only delete is left).
// - Autosave keeps exactly one `autosave` checkpoint per cluster that changed since its last
//   save, writing the new file before the old one is deleted. loadAll() at start restores every
//   cluster from its newest loadable ready checkpoint with a matching template (else from its
//   template), so a clean shutdown (saveAllNow()) loses nothing a user trained.
// - Visibility goes through service::Access like every resource: an invisible checkpoint or
//   cluster is NotFound ("checkpoint not found" / "cluster not found"). No path under data_dir
//   ever appears in a message.
//
// Errors: InvalidArgument (name, upload declaration or size, corrupt upload), NotFound,
// AlreadyExists (name taken), FailedPrecondition (no project; wrong state; template differs;
// upload incomplete or offset not at `received`), ResourceExhausted (concurrent-task quota).
//
// Thread safety: every member may be called from any thread. The autosave thread runs between
// startAutosave() and stopAutosave() (or destruction).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"
#include "service/accounts.h"
#include "service/clock.h"
#include "service/clusters.h"
#include "service/principal.h"
#include "store/store.h"

namespace tendril::service {

class AuditLog;
class TaskService;
class UploadStaging;

// Checkpoint states and kinds, as stored and sent.
inline constexpr std::string_view kCheckpointSaving = "saving";
inline constexpr std::string_view kCheckpointUploading = "uploading";
inline constexpr std::string_view kCheckpointReady = "ready";
inline constexpr std::string_view kCheckpointFailed = "failed";
inline constexpr std::string_view kCheckpointManual = "manual";
inline constexpr std::string_view kCheckpointAutosave = "autosave";
inline constexpr std::string_view kCheckpointUpload = "upload";
// Task types of the jobs this module submits.
inline constexpr std::string_view kTaskCheckpoint = "checkpoint";
inline constexpr std::string_view kTaskRestore = "restore";

// attrs "kind" of a checkpoint row ("" when unreadable).
std::string checkpointKindOf(const store::Resource& row);
// Every checkpoint row whose parent_id is `cluster_id`, any state, oldest first.
Result<std::vector<store::Resource>> checkpointsOfCluster(store::MetadataStore& store,
                                                          std::string_view cluster_id);

struct CheckpointOptions {
  std::filesystem::path data_dir;
  engine::TemplateLimits limits;       // for loading files
  engine::ThreadPool* pool = nullptr;  // restored clusters train on it
  std::chrono::seconds autosave_interval{300};  // 0: no autosave thread
  uint64_t max_upload_bytes = uint64_t{8} << 30;
  AuditLog* log = nullptr;  // where background failures are reported (may be null)
};

// A save in progress: the checkpoint row (state saving) and the task that writes it.
struct CheckpointSave {
  store::Resource checkpoint;
  store::Resource task;
};

// What a download streams.
struct CheckpointDownload {
  std::filesystem::path file;  // never shown to the client
  std::string filename;        // "<name or id>.tckp"
  uint64_t bytes = 0;
};

// An upload's progress.
struct CheckpointUploadProgress {
  uint64_t size = 0;
  uint64_t received = 0;
};

class CheckpointService {
 public:
  // Everything given must outlive the service. `uploads` stages upload bytes
  // (<data_dir>/uploads/<checkpoint id>/checkpoint).
  CheckpointService(store::MetadataStore& store, ClusterService& clusters, TaskService& tasks,
                    UploadStaging& uploads, Clock clock, CheckpointOptions options);
  ~CheckpointService();  // stopAutosave()
  CheckpointService(const CheckpointService&) = delete;
  CheckpointService& operator=(const CheckpointService&) = delete;

  // --- API operations ---------------------------------------------------------------------

  // Creates a checkpoint row (saving) of a visible cluster and queues the `checkpoint` task.
  Result<CheckpointSave> save(const Principal& caller, std::string_view cluster_id,
                              std::string_view name);
  // Queues a `restore` task that loads `checkpoint_id` into the cluster; returns the task row.
  Result<store::Resource> restore(const Principal& caller, std::string_view cluster_id,
                                  std::string_view checkpoint_id);
  Result<store::Resource> get(const Principal& caller, std::string_view id);
  // The caller's visible checkpoints, oldest first; `cluster_id` set: those saved from it.
  Result<store::Page<store::Resource>> list(const Principal& caller,
                                            const std::optional<std::string>& cluster_id,
                                            const store::PageRequest& page);
  // FailedPrecondition unless ready.
  Result<CheckpointDownload> download(const Principal& caller, std::string_view id);
  // Deletes the row and its file. FailedPrecondition while it is being saved or a queued or
  // running restore task reads it.
  Status remove(const Principal& caller, std::string_view id);

  // Uploads: begin (row state uploading, kind upload, no cluster), append chunks at offsets,
  // finalize (sha256 + full validation → ready with template_sha256 etc.).
  Result<store::Resource> beginUpload(const Principal& caller, std::string_view name,
                                      uint64_t size, std::string_view sha256);
  Result<CheckpointUploadProgress> appendUpload(const Principal& caller, std::string_view id,
                                                uint64_t offset, std::span<const uint8_t> bytes);
  Result<store::Resource> finalizeUpload(const Principal& caller, std::string_view id);
  // Bytes of an uploading checkpoint received so far (0 for any other state). For a row the
  // caller was already allowed to see.
  Result<uint64_t> uploadReceived(const store::Resource& row) const;

  // --- Autosave and recovery ---------------------------------------------------------------

  // Starts the autosave thread (no-op when the interval is 0 or it runs already).
  void startAutosave();
  // Stops it and waits for a round in progress. Idempotent.
  void stopAutosave();
  // One autosave round now: every live cluster whose change counter moved since its last save
  // gets a new autosave checkpoint. Returns the first error (the others are still tried).
  Status autosaveChanged();
  // For shutdown: the same, after the tasks have stopped.
  Status saveAllNow() { return autosaveChanged(); }

  // Startup: checkpoints left `saving` turn failed ("interrupted by a restart"), then every
  // cluster row gets its live cluster (see the header comment). Clusters that can be neither
  // restored nor built stay unloaded (ClusterService::open says so); that is logged, not an
  // error. Errors only for store failures.
  Status loadAll();

  // Project content: "checkpoint(s)"; with cascade their files go (rows go with the project).
  ProjectContent projectContent();

 private:
  // What the jobs and the autosave thread share; jobs hold it by shared_ptr, so a job that ends
  // after this service is gone still finds it (the store must outlive both).
  struct Core;
  class Job;
  class SaveJob;
  class RestoreJob;

  Result<store::Resource> visibleRow(const Principal& caller, std::string_view id);
  Status autosave(const std::shared_ptr<LiveCluster>& live);
  // Ready checkpoints of `cluster_row` with its template, newest saved first.
  Result<std::vector<store::Resource>> restoreCandidates(const store::Resource& cluster_row);
  void loadCluster(const store::Resource& cluster_row);
  Result<store::Resource> failUpload(store::Resource row, const Status& why);
  void autosaveLoop();

  store::MetadataStore& store_;
  ClusterService& clusters_;
  TaskService& tasks_;
  UploadStaging& uploads_;
  std::shared_ptr<Core> core_;

  std::mutex autosave_mutex_;  // one autosave round at a time; guards saved_changes_
  std::map<std::string, uint64_t, std::less<>> saved_changes_;  // cluster id → changes() saved

  std::mutex thread_mutex_;
  std::condition_variable wake_;
  bool stop_requested_ = false;
  std::thread thread_;
};

}  // namespace tendril::service
