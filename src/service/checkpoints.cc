#include "service/checkpoints.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>
#include <utility>

#include "data/atomic_file.h"
#include "data/checkpoint_file.h"
#include "engine/checkpoint.h"
#include "service/access.h"
#include "service/audit.h"
#include "service/credentials.h"
#include "service/tasks.h"
#include "service/uploads.h"

namespace tendril::service {
namespace {

constexpr std::string_view kWhat = "checkpoint";
// The one staged file of a checkpoint upload.
constexpr std::string_view kUploadPart = "checkpoint";

nlohmann::json attrsOf(const store::Resource& row) {
  nlohmann::json attrs = nlohmann::json::parse(row.attrs, nullptr, false);
  return attrs.is_object() ? attrs : nlohmann::json::object();
}

// Merges `values` into the row's attrs.
void mergeAttrs(store::Resource& row, const nlohmann::json& values) {
  nlohmann::json attrs = attrsOf(row);
  attrs.update(values);
  // Error texts may quote bytes from a file: never let one make dump() throw.
  row.attrs = attrs.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string attrText(const store::Resource& row, const char* key) {
  nlohmann::json attrs = attrsOf(row);
  auto it = attrs.find(key);
  return it != attrs.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t attrInteger(const store::Resource& row, const char* key, int64_t fallback) {
  nlohmann::json attrs = attrsOf(row);
  auto it = attrs.find(key);
  return it != attrs.end() && it->is_number_integer() ? it->get<int64_t>() : fallback;
}

// `message` with every mention of `file` replaced by a neutral word: file errors name their
// path, and paths under data_dir never reach a client.
std::string withoutPath(std::string message, const std::filesystem::path& file) {
  const std::string path = file.string();
  if (path.empty()) return message;
  for (size_t at = message.find(path); at != std::string::npos; at = message.find(path, at)) {
    message.replace(at, path.size(), "checkpoint file");
  }
  return message;
}

store::ResourceFilter checkpointFilter() {
  store::ResourceFilter filter;
  filter.kind = store::ResourceKind::kCheckpoint;
  return filter;
}

// Every row matching `filter`, across pages.
Result<std::vector<store::Resource>> allMatching(store::MetadataStore& store,
                                                 const store::ResourceFilter& filter) {
  std::vector<store::Resource> rows;
  store::PageRequest page{store::kMaxPageLimit, {}};
  do {
    Result<store::Page<store::Resource>> listed = store.listResources(filter, page);
    if (!listed.ok()) return listed.status();
    for (store::Resource& row : listed->items) rows.push_back(std::move(row));
    page.cursor = std::move(listed->next_cursor);
  } while (!page.cursor.empty());
  return rows;
}

void removeFile(const std::filesystem::path& file) {
  std::error_code ignored;
  std::filesystem::remove(file, ignored);
}

UploadSpec uploadSpecOf(const store::Resource& row) {
  nlohmann::json upload = attrsOf(row).value("upload", nlohmann::json::object());
  UploadSpec spec;
  spec.size = upload.value("size", uint64_t{0});
  spec.sha256 = upload.value("sha256", std::string());
  return spec;
}

}  // namespace

std::string checkpointKindOf(const store::Resource& row) { return attrText(row, "kind"); }

Result<std::vector<store::Resource>> checkpointsOfCluster(store::MetadataStore& store,
                                                          std::string_view cluster_id) {
  store::ResourceFilter filter = checkpointFilter();
  filter.parent_id = std::string(cluster_id);
  return allMatching(store, filter);
}

// --- The shared core ----------------------------------------------------------------------------

// A cluster's state serialised in memory, with the figures the row records.
struct CheckpointSnapshot {
  std::string bytes;
  std::string template_sha256;
  uint64_t samples_trained = 0;
  uint64_t synapses = 0;
  uint64_t changes = 0;  // LiveCluster::changes() when it was taken
};

struct CheckpointService::Core {
  store::MetadataStore& store;
  Clock clock;
  CheckpointOptions options;

  std::filesystem::path fileOf(std::string_view id) const {
    return checkpointFilePath(options.data_dir, id);
  }

  void report(std::string_view message) const {
    if (options.log != nullptr) options.log->recordError("", "checkpoints", message, "");
  }

  // Serialises `live` under its reader lock; Cancelled when the cluster was deleted.
  Result<CheckpointSnapshot> snapshot(LiveCluster& live) const {
    CheckpointSnapshot snap;
    std::ostringstream out;
    {
      auto lock = live.lockReader();
      if (live.closed()) return Status(Code::kCancelled, "the cluster was deleted");
      const engine::Cluster& cluster = live.cluster();
      snap.changes = live.changes();
      TENDRIL_RETURN_IF_ERROR(engine::writeCheckpoint(cluster, out));
      engine::ClusterStats stats = cluster.stats();
      snap.samples_trained = stats.cycles_trained;
      snap.synapses = stats.synapses;
      snap.template_sha256 = templateSha256(cluster.tmpl());
    }
    snap.bytes = std::move(out).str();
    return snap;
  }

  // Writes the snapshot as checkpoint `id`'s file (atomically) and marks its row ready. When the
  // row is gone meanwhile (its cluster was deleted) the file goes too: NotFound.
  Status persist(std::string_view id, const CheckpointSnapshot& snap) const {
    const std::filesystem::path file = fileOf(id);
    std::error_code ignored;
    std::filesystem::create_directories(file.parent_path(), ignored);
    Status written = data::writeFileAtomically(file, [&](std::ostream& out) {
      out.write(snap.bytes.data(), static_cast<std::streamsize>(snap.bytes.size()));
      return out ? Status::Ok() : Status::Io("writing failed");
    });
    if (!written.ok()) return Status(written.code(), withoutPath(written.message(), file));
    Result<store::Resource> row = store.getResource(store::ResourceKind::kCheckpoint, id);
    Status updated = row.status();
    if (row.ok()) {
      row->state = std::string(kCheckpointReady);
      row->bytes = static_cast<int64_t>(snap.bytes.size());
      row->updated_ms = clock();
      mergeAttrs(*row, {{"template_sha256", snap.template_sha256},
                        {"samples_trained", snap.samples_trained},
                        {"synapses", snap.synapses},
                        {"saved_ms", row->updated_ms},
                        {"error", nullptr}});
      updated = store.updateResource(*row);
    }
    if (!updated.ok()) removeFile(file);
    if (updated.code() == Code::kNotFound) return Status::NotFound("checkpoint not found");
    return updated;
  }

  // Marks a checkpoint failed with `error`; a row that is gone is ignored.
  void markFailed(std::string_view id, const std::string& error) const {
    Result<store::Resource> row = store.getResource(store::ResourceKind::kCheckpoint, id);
    if (!row.ok()) return;
    row->state = std::string(kCheckpointFailed);
    row->updated_ms = clock();
    mergeAttrs(*row, {{"error", error}});
    if (Status status = store.updateResource(*row); !status.ok()) {
      report("checkpoint " + std::string(id) + ": could not mark it failed: " + status.toString());
    }
  }

  // Loads a checkpoint file completely; messages without its path.
  Result<std::unique_ptr<engine::Cluster>> load(std::string_view id) const {
    const std::filesystem::path file = fileOf(id);
    Result<std::unique_ptr<engine::Cluster>> loaded =
        data::loadCheckpointFile(file, options.pool, options.limits);
    if (!loaded.ok()) {
      return Status(loaded.status().code(), withoutPath(loaded.status().message(), file));
    }
    return loaded;
  }
};

// --- Jobs ---------------------------------------------------------------------------------------

// What both jobs work with: the shared core and the checkpoint they save or read.
class CheckpointService::Job : public TaskJob {
 public:
  Job(std::shared_ptr<const Core> core, std::string checkpoint_id)
      : core_(std::move(core)), checkpoint_id_(std::move(checkpoint_id)) {}

 protected:
  std::shared_ptr<const Core> core_;
  std::string checkpoint_id_;
};

// A manual save: snapshot under the reader lock, then the file and the row.
class CheckpointService::SaveJob : public Job {
 public:
  using Job::Job;

  Status run(TaskContext& context) override {
    context.progress(0, 2);
    Result<CheckpointSnapshot> snap = core_->snapshot(context.cluster());
    if (!snap.ok()) return fail(snap.status());
    if (context.cancelled()) return fail(Status(Code::kCancelled, "cancelled"));
    context.progress(1, 2);
    TENDRIL_RETURN_IF_ERROR(fail(core_->persist(checkpoint_id_, *snap)));
    context.setAttrs({{"samples_trained", snap->samples_trained}});
    context.progress(2, 2);
    return Status::Ok();
  }

  void abandoned(std::string_view state) override {
    core_->markFailed(checkpoint_id_, state == kTaskInterrupted
                                          ? "interrupted before it ran (the service stopped)"
                                          : "cancelled before it ran");
  }

 private:
  Status fail(Status status) {
    if (!status.ok()) core_->markFailed(checkpoint_id_, status.message());
    return status;
  }
};

// A restore: the file is loaded and validated completely before the writer lock is taken, so
// training on the cluster waits only for the swap.
class CheckpointService::RestoreJob : public Job {
 public:
  using Job::Job;

  Status run(TaskContext& context) override {
    context.progress(0, 2);
    Result<std::unique_ptr<engine::Cluster>> loaded = core_->load(checkpoint_id_);
    if (!loaded.ok()) return loaded.status();
    const std::string loaded_sha = templateSha256((*loaded)->tmpl());
    if (context.cancelled()) return Status(Code::kCancelled, "cancelled");
    context.progress(1, 2);
    LiveCluster& live = context.cluster();
    uint64_t samples = 0;
    {
      auto lock = live.lockWriter();
      if (live.closed()) return Status(Code::kCancelled, "the cluster was deleted");
      if (templateSha256(live.cluster().tmpl()) != loaded_sha) {
        return Status::Precondition("checkpoint template differs");
      }
      samples = (*loaded)->stats().cycles_trained;
      live.replace(std::move(loaded).value());
    }
    context.setAttrs({{"samples_trained", samples}});
    context.progress(2, 2);
    return Status::Ok();
  }
};

// --- Service ------------------------------------------------------------------------------------

CheckpointService::CheckpointService(store::MetadataStore& store, ClusterService& clusters,
                                     TaskService& tasks, UploadStaging& uploads, Clock clock,
                                     CheckpointOptions options)
    : store_(store),
      clusters_(clusters),
      tasks_(tasks),
      uploads_(uploads),
      core_(std::make_shared<Core>(Core{store, std::move(clock), std::move(options)})) {}

CheckpointService::~CheckpointService() { stopAutosave(); }

Result<CheckpointSave> CheckpointService::save(const Principal& caller,
                                               std::string_view cluster_id,
                                               std::string_view name) {
  if (caller.project_id.empty()) return Status::Precondition("select a project first");
  TENDRIL_RETURN_IF_ERROR(requireResourceName(kWhat, name));
  Result<std::shared_ptr<LiveCluster>> live = clusters_.open(caller, cluster_id);
  if (!live.ok()) return live.status();

  store::Resource row;
  row.id = newUuid();
  row.kind = store::ResourceKind::kCheckpoint;
  row.project_id = (*live)->projectId();
  row.owner_id = caller.user_id;
  row.name = std::string(name);
  row.state = std::string(kCheckpointSaving);
  row.parent_id = (*live)->id();
  row.attrs = nlohmann::json{{"kind", kCheckpointManual}, {"error", nullptr}}.dump();
  row.created_ms = row.updated_ms = core_->clock();
  TENDRIL_RETURN_IF_ERROR(nameConflict(store_.insertResource(row), kWhat, name));

  Result<store::Resource> task =
      tasks_.submitJob(caller, std::string(kTaskCheckpoint), *live, row.id,
                       {{"checkpoint_id", row.id}}, std::make_unique<SaveJob>(core_, row.id));
  if (!task.ok()) {
    (void)store_.deleteResource(store::ResourceKind::kCheckpoint, row.id);
    return task.status();
  }
  return CheckpointSave{std::move(row), std::move(task).value()};
}

Result<store::Resource> CheckpointService::restore(const Principal& caller,
                                                   std::string_view cluster_id,
                                                   std::string_view checkpoint_id) {
  Result<std::shared_ptr<LiveCluster>> live = clusters_.open(caller, cluster_id);
  if (!live.ok()) return live.status();
  Result<store::Resource> checkpoint = visibleRow(caller, checkpoint_id);
  if (!checkpoint.ok()) return checkpoint.status();
  if (checkpoint->state != kCheckpointReady) {
    return Status::Precondition("the checkpoint is not ready (state " + checkpoint->state + ")");
  }
  // The cluster's digest from its row: no lock, so a long training cycle never delays this.
  Result<store::Resource> cluster_row = clusters_.get(caller, cluster_id);
  if (!cluster_row.ok()) return cluster_row.status();
  if (attrText(*checkpoint, "template_sha256") != attrText(*cluster_row, "template_sha256")) {
    return Status::Precondition("checkpoint template differs from the cluster's template");
  }
  return tasks_.submitJob(caller, std::string(kTaskRestore), *live, checkpoint->id,
                          {{"checkpoint_id", checkpoint->id}},
                          std::make_unique<RestoreJob>(core_, checkpoint->id));
}

Result<store::Resource> CheckpointService::get(const Principal& caller, std::string_view id) {
  return visibleRow(caller, id);
}

Result<store::Page<store::Resource>> CheckpointService::list(
    const Principal& caller, const std::optional<std::string>& cluster_id,
    const store::PageRequest& page) {
  Access::ListScope scope = Access(caller).listScope();
  if (scope.nothing) return store::Page<store::Resource>{};
  store::ResourceFilter filter = checkpointFilter();
  filter.project_id = scope.project_id;
  filter.owner_id = scope.owner_id;
  filter.parent_id = cluster_id;
  return store_.listResources(filter, page);
}

Result<CheckpointDownload> CheckpointService::download(const Principal& caller,
                                                       std::string_view id) {
  Result<store::Resource> row = visibleRow(caller, id);
  if (!row.ok()) return row.status();
  if (row->state != kCheckpointReady) {
    return Status::Precondition("the checkpoint is not ready (state " + row->state + ")");
  }
  return CheckpointDownload{core_->fileOf(row->id),
                            (row->name.empty() ? row->id : row->name) + ".tckp",
                            static_cast<uint64_t>(row->bytes)};
}

Status CheckpointService::remove(const Principal& caller, std::string_view id) {
  Result<store::Resource> row = visibleRow(caller, id);
  if (!row.ok()) return row.status();
  if (row->state == kCheckpointSaving) {
    return Status::Precondition("the checkpoint is still being saved");
  }
  store::ResourceFilter restores;
  restores.kind = store::ResourceKind::kTask;
  restores.ref_id = row->id;
  restores.states = {std::string(kTaskQueued), std::string(kTaskRunning)};
  Result<int64_t> using_it = store_.countResources(restores);
  if (!using_it.ok()) return using_it.status();
  if (*using_it > 0) return Status::Precondition("a queued or running task uses the checkpoint");

  UploadLock upload = uploads_.lock(row->id);
  TENDRIL_RETURN_IF_ERROR(store_.deleteResource(store::ResourceKind::kCheckpoint, row->id));
  removeFile(core_->fileOf(row->id));
  return uploads_.remove(upload);
}

// --- Uploads ------------------------------------------------------------------------------------

Result<store::Resource> CheckpointService::beginUpload(const Principal& caller,
                                                       std::string_view name, uint64_t size,
                                                       std::string_view sha256) {
  if (caller.project_id.empty()) return Status::Precondition("select a project first");
  TENDRIL_RETURN_IF_ERROR(requireResourceName(kWhat, name));
  UploadSpec spec{size, normalizeSha256(sha256)};
  TENDRIL_RETURN_IF_ERROR(checkUploadSpec(spec, core_->options.max_upload_bytes));

  store::Resource row;
  row.id = newUuid();
  row.kind = store::ResourceKind::kCheckpoint;
  row.project_id = caller.project_id;
  row.owner_id = caller.user_id;
  row.name = std::string(name);
  row.state = std::string(kCheckpointUploading);
  row.attrs = nlohmann::json{{"kind", kCheckpointUpload},
                             {"error", nullptr},
                             {"upload", {{"size", spec.size}, {"sha256", spec.sha256}}}}
                  .dump();
  row.created_ms = row.updated_ms = core_->clock();
  UploadLock upload = uploads_.lock(row.id);
  TENDRIL_RETURN_IF_ERROR(nameConflict(store_.insertResource(row), kWhat, name));
  if (Status created = uploads_.create(upload, kUploadPart); !created.ok()) {
    (void)store_.deleteResource(store::ResourceKind::kCheckpoint, row.id);
    return created;
  }
  return row;
}

Result<CheckpointUploadProgress> CheckpointService::appendUpload(const Principal& caller,
                                                                 std::string_view id,
                                                                 uint64_t offset,
                                                                 std::span<const uint8_t> bytes) {
  Result<store::Resource> row = visibleRow(caller, id);
  if (!row.ok()) return row.status();
  UploadLock upload = uploads_.lock(row->id);
  // Re-read under the upload's lock: a finalize may have completed meanwhile.
  row = store_.getResource(store::ResourceKind::kCheckpoint, row->id);
  if (!row.ok()) return Status::NotFound("checkpoint not found");
  if (row->state != kCheckpointUploading) {
    return Status::Precondition("the checkpoint is not being uploaded (state " + row->state + ")");
  }
  UploadSpec spec = uploadSpecOf(*row);
  Result<uint64_t> received = uploads_.append(upload, kUploadPart, spec, offset, bytes);
  if (!received.ok()) return received.status();
  return CheckpointUploadProgress{spec.size, *received};
}

Result<store::Resource> CheckpointService::finalizeUpload(const Principal& caller,
                                                          std::string_view id) {
  Result<store::Resource> found = visibleRow(caller, id);
  if (!found.ok()) return found.status();
  UploadLock upload = uploads_.lock(found->id);
  Result<store::Resource> current = store_.getResource(store::ResourceKind::kCheckpoint, found->id);
  if (!current.ok()) return Status::NotFound("checkpoint not found");
  store::Resource row = std::move(current).value();
  if (row.state == kCheckpointReady && checkpointKindOf(row) == kCheckpointUpload) return row;
  if (row.state != kCheckpointUploading) {
    return Status::Precondition("the checkpoint is not being uploaded (state " + row.state + ")");
  }
  const UploadSpec spec = uploadSpecOf(row);
  if (Status verified = uploads_.verify(upload, kUploadPart, spec); !verified.ok()) {
    // Incomplete: the upload stays open and can be resumed. A wrong digest is final.
    if (verified.code() == Code::kFailedPrecondition) return verified;
    return failUpload(std::move(row), verified);
  }
  const std::filesystem::path staged = uploads_.partPath(row.id, kUploadPart);
  Result<std::unique_ptr<engine::Cluster>> loaded =
      data::loadCheckpointFile(staged, core_->options.pool, core_->options.limits);
  if (!loaded.ok()) {
    return failUpload(std::move(row),
                      Status::Invalid("not a valid checkpoint: " +
                                      withoutPath(loaded.status().message(), staged)));
  }
  const std::filesystem::path file = core_->fileOf(row.id);
  std::error_code error;
  std::filesystem::create_directories(file.parent_path(), error);
  std::filesystem::rename(staged, file, error);
  if (error) return Status::Io("could not store the checkpoint file: " + error.message());

  engine::ClusterStats stats = (*loaded)->stats();
  row.state = std::string(kCheckpointReady);
  row.bytes = static_cast<int64_t>(spec.size);
  row.updated_ms = core_->clock();
  mergeAttrs(row, {{"template_sha256", templateSha256((*loaded)->tmpl())},
                   {"samples_trained", stats.cycles_trained},
                   {"synapses", stats.synapses},
                   {"saved_ms", row.updated_ms}});
  if (Status updated = store_.updateResource(row); !updated.ok()) {
    removeFile(file);
    return updated;
  }
  (void)uploads_.remove(upload);
  return row;
}

Result<uint64_t> CheckpointService::uploadReceived(const store::Resource& row) const {
  if (row.state != kCheckpointUploading) return uint64_t{0};
  Result<uint64_t> received = uploads_.received(row.id, kUploadPart);
  if (!received.ok() && received.status().code() == Code::kNotFound) return uint64_t{0};
  return received;
}

Result<store::Resource> CheckpointService::failUpload(store::Resource row, const Status& why) {
  row.state = std::string(kCheckpointFailed);
  row.updated_ms = core_->clock();
  mergeAttrs(row, {{"error", why.message()}});
  TENDRIL_RETURN_IF_ERROR(store_.updateResource(row));
  return Status::Invalid(why.message());
}

// --- Autosave -----------------------------------------------------------------------------------

void CheckpointService::startAutosave() {
  std::lock_guard lock(thread_mutex_);
  if (thread_.joinable() || core_->options.autosave_interval.count() <= 0) return;
  stop_requested_ = false;
  thread_ = std::thread([this] { autosaveLoop(); });
}

void CheckpointService::stopAutosave() {
  std::thread stopping;
  {
    std::lock_guard lock(thread_mutex_);
    stop_requested_ = true;
    stopping = std::move(thread_);
  }
  wake_.notify_all();
  if (stopping.joinable()) stopping.join();
}

void CheckpointService::autosaveLoop() {
  std::unique_lock lock(thread_mutex_);
  while (!stop_requested_) {
    if (wake_.wait_for(lock, core_->options.autosave_interval, [this] { return stop_requested_; })) {
      break;
    }
    lock.unlock();
    if (Status status = autosaveChanged(); !status.ok()) {
      core_->report("autosave: " + status.toString());
    }
    lock.lock();
  }
}

Status CheckpointService::autosaveChanged() {
  std::lock_guard lock(autosave_mutex_);
  Status first;
  std::vector<std::shared_ptr<LiveCluster>> live = clusters_.registry().all();
  for (const std::shared_ptr<LiveCluster>& cluster : live) {
    auto saved = saved_changes_.find(cluster->id());
    const uint64_t saved_changes = saved == saved_changes_.end() ? 0 : saved->second;
    if (cluster->closed() || cluster->changes() == saved_changes) continue;
    if (Status status = autosave(cluster); !status.ok() && first.ok()) first = status;
  }
  // Forget clusters that are gone.
  std::erase_if(saved_changes_, [&](const auto& entry) {
    return std::none_of(live.begin(), live.end(),
                        [&](const auto& cluster) { return cluster->id() == entry.first; });
  });
  return first;
}

Status CheckpointService::autosave(const std::shared_ptr<LiveCluster>& live) {
  Result<store::Resource> cluster_row = clusters_.row(live->id());
  if (!cluster_row.ok()) {
    return cluster_row.status().code() == Code::kNotFound ? Status::Ok() : cluster_row.status();
  }
  Result<CheckpointSnapshot> snap = core_->snapshot(*live);
  if (!snap.ok()) return snap.status().code() == Code::kCancelled ? Status::Ok() : snap.status();

  store::Resource row;
  row.id = newUuid();
  row.kind = store::ResourceKind::kCheckpoint;
  row.project_id = cluster_row->project_id;
  row.owner_id = cluster_row->owner_id;
  row.state = std::string(kCheckpointSaving);
  row.parent_id = cluster_row->id;
  row.attrs = nlohmann::json{{"kind", kCheckpointAutosave}, {"error", nullptr}}.dump();
  row.created_ms = row.updated_ms = core_->clock();
  TENDRIL_RETURN_IF_ERROR(store_.insertResource(row));
  if (Status persisted = core_->persist(row.id, *snap); !persisted.ok()) {
    (void)store_.deleteResource(store::ResourceKind::kCheckpoint, row.id);
    if (persisted.code() == Code::kNotFound) return Status::Ok();  // the cluster went meanwhile
    return Status(persisted.code(), "cluster " + live->id() + ": " + persisted.message());
  }
  if (live->closed()) {  // deleted while the file was written: its autosaves go with it
    (void)store_.deleteResource(store::ResourceKind::kCheckpoint, row.id);
    removeFile(core_->fileOf(row.id));
    return Status::Ok();
  }
  // The new file is in place; only now do the older autosaves go.
  Result<std::vector<store::Resource>> older = checkpointsOfCluster(store_, live->id());
  if (!older.ok()) return older.status();
  for (const store::Resource& old : *older) {
    if (old.id == row.id || checkpointKindOf(old) != kCheckpointAutosave) continue;
    TENDRIL_RETURN_IF_ERROR(store_.deleteResource(store::ResourceKind::kCheckpoint, old.id));
    removeFile(core_->fileOf(old.id));
  }
  saved_changes_[live->id()] = snap->changes;
  return Status::Ok();
}

// --- Startup ------------------------------------------------------------------------------------

Status CheckpointService::loadAll() {
  std::lock_guard lock(autosave_mutex_);
  store::ResourceFilter saving = checkpointFilter();
  saving.states = {std::string(kCheckpointSaving)};
  Result<std::vector<store::Resource>> interrupted = allMatching(store_, saving);
  if (!interrupted.ok()) return interrupted.status();
  for (const store::Resource& row : *interrupted) {
    core_->markFailed(row.id, "interrupted by a restart");
  }
  // Temporary files of writes a crash cut short (data/atomic_file.h names them ".<name>.tmp-").
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(
           core_->options.data_dir / "checkpoints", error)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(".") && name.find(".tmp-") != std::string::npos) removeFile(entry.path());
  }

  Result<std::vector<store::Resource>> clusters = clusters_.allRows();
  if (!clusters.ok()) return clusters.status();
  for (const store::Resource& row : *clusters) loadCluster(row);
  return Status::Ok();
}

void CheckpointService::loadCluster(const store::Resource& cluster_row) {
  if (clusters_.registry().find(cluster_row.id) != nullptr) return;
  Result<std::vector<store::Resource>> candidates = restoreCandidates(cluster_row);
  if (!candidates.ok()) {
    core_->report("cluster " + cluster_row.id + ": " + candidates.status().toString());
    return;
  }
  for (const store::Resource& checkpoint : *candidates) {
    Result<std::unique_ptr<engine::Cluster>> loaded = core_->load(checkpoint.id);
    if (loaded.ok()) {
      clusters_.putLive(cluster_row, std::move(loaded).value());
      saved_changes_[cluster_row.id] = 0;
      return;
    }
    core_->report("cluster " + cluster_row.id + ": checkpoint " + checkpoint.id +
                  " skipped: " + loaded.status().toString());
    // A file that is gone or damaged will never load: say so on the checkpoint itself.
    const Code code = loaded.status().code();
    if (code == Code::kCorrupt || code == Code::kNotFound) {
      core_->markFailed(checkpoint.id, "could not be loaded: " + loaded.status().message());
    }
  }
  Result<std::unique_ptr<engine::Cluster>> fresh = clusters_.buildFresh(cluster_row);
  if (!fresh.ok()) {
    core_->report("cluster " + cluster_row.id +
                  ": could not be rebuilt from its template: " + fresh.status().toString());
    return;
  }
  clusters_.putLive(cluster_row, std::move(fresh).value());
  saved_changes_[cluster_row.id] = 0;
}

Result<std::vector<store::Resource>> CheckpointService::restoreCandidates(
    const store::Resource& cluster_row) {
  Result<ClusterTemplate> tmpl = clusters_.templateOfRow(cluster_row);
  if (!tmpl.ok()) return tmpl.status();
  const std::string sha = templateSha256(tmpl->tmpl);
  Result<std::vector<store::Resource>> all = checkpointsOfCluster(store_, cluster_row.id);
  if (!all.ok()) return all.status();
  std::vector<store::Resource> candidates;
  for (store::Resource& row : *all) {
    if (row.state == kCheckpointReady && attrText(row, "template_sha256") == sha) {
      candidates.push_back(std::move(row));
    }
  }
  std::stable_sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
    return attrInteger(a, "saved_ms", a.created_ms) > attrInteger(b, "saved_ms", b.created_ms);
  });
  return candidates;
}

// --- Project content ----------------------------------------------------------------------------

ProjectContent CheckpointService::projectContent() {
  ProjectContent content;
  content.noun = "checkpoint(s)";
  content.count = [this](std::string_view project_id) {
    store::ResourceFilter filter = checkpointFilter();
    filter.project_id = std::string(project_id);
    return store_.countResources(filter);
  };
  // The rows go with the project (the store's cascade); the files and staged uploads go here.
  content.remove = [this](std::string_view project_id) -> Status {
    store::ResourceFilter filter = checkpointFilter();
    filter.project_id = std::string(project_id);
    Result<std::vector<store::Resource>> rows = allMatching(store_, filter);
    if (!rows.ok()) return rows.status();
    for (const store::Resource& row : *rows) {
      TENDRIL_RETURN_IF_ERROR(store_.deleteResource(store::ResourceKind::kCheckpoint, row.id));
      removeFile(core_->fileOf(row.id));
      UploadLock upload = uploads_.lock(row.id);
      (void)uploads_.remove(upload);
    }
    return Status::Ok();
  };
  return content;
}

Result<store::Resource> CheckpointService::visibleRow(const Principal& caller,
                                                      std::string_view id) {
  Result<store::Resource> found = store_.getResource(store::ResourceKind::kCheckpoint, id);
  if (!found.ok()) {
    if (found.status().code() == Code::kNotFound) return Status::NotFound("checkpoint not found");
    return found.status();
  }
  TENDRIL_RETURN_IF_ERROR(Access(caller).requireVisible(found->project_id, found->owner_id, kWhat));
  return found;
}

}  // namespace tendril::service
