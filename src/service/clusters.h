// Clusters as tenant resources: one row (store::Resource of kind kCluster) per cluster, with the
// template it was created from, and the live engine::Cluster in the ClusterRegistry
// (live_cluster.h). This module is the only one that creates, renames or deletes clusters;
// tasks, direct IO and checkpoints reach a live cluster through open().
//
// Promises:
// - Every call takes the caller first and scopes through service::Access: an unknown id and a
//   cluster the caller may not see give the same NotFound ("cluster not found").
// - A create is checked completely (name, template, project selected, quotas) before anything
//   changes; a refused create leaves no row and no live cluster.
// - The template text is kept verbatim in the row (attrs "template"), together with the
//   SHA-256 of its canonical form (templateSha256()), which checkpoints compare against.
// - remove() first cancels the cluster's queued and running tasks (TaskService::
//   cancelClusterTasks returns once none runs), then closes the live cluster under its writer
//   lock, drops it from the registry, deletes its row and its autosave checkpoints (rows and
//   files). Manual and uploaded checkpoints stay: they are the user's, keep cluster_id as a
//   plain reference to the deleted cluster, and can be restored into any cluster with the same
//   template.
// - Paths under data_dir never appear in a message.
//
// Errors: InvalidArgument (name outside kNamePattern, template that does not parse — the
// message names the line or JSON path — or is larger than the limit); NotFound; AlreadyExists
// (a name taken by another cluster of the project); FailedPrecondition ("select a project
// first"; a cluster whose live state could not be loaded); ResourceExhausted (quotas); store
// errors pass through.
//
// Thread safety: every method may be called from any thread once the service is built.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/cluster.h"
#include "engine/template.h"
#include "service/accounts.h"
#include "service/clock.h"
#include "service/live_cluster.h"
#include "service/principal.h"
#include "store/store.h"

namespace tendril::engine {
class ThreadPool;
}

namespace tendril::service {

class Quotas;
class TaskService;

// Where the files of clusters and checkpoints lie, and how big a template may be.
struct ClusterOptions {
  std::filesystem::path data_dir;
  engine::TemplateLimits limits;      // max_text_bytes bounds the template text (1 MiB)
  engine::ThreadPool* pool = nullptr; // the engine pool every live cluster trains on; may be null
};

// `<data_dir>/checkpoints/<checkpoint_id>.tckp`: the one place that spells the layout.
std::filesystem::path checkpointFilePath(const std::filesystem::path& data_dir,
                                         std::string_view checkpoint_id);

// Lower-case hex SHA-256 of data::templateToJson(tmpl): equal for the same template whatever
// encoding (text or JSON, spacing, comments, source lines) it was written in.
std::string templateSha256(const engine::Template& tmpl);

// Names of clusters and checkpoints (shared by both services): InvalidArgument unless `name` is
// valid (isValidName), naming the rule for `noun`s ("cluster", "checkpoint").
Status requireResourceName(std::string_view noun, std::string_view name);
// `status` from inserting or renaming a named row of `noun`: an AlreadyExists (ids are fresh
// UUIDs, so it is always the name) becomes "a <noun> named '<name>' already exists in this
// project"; anything else passes unchanged.
Status nameConflict(const Status& status, std::string_view noun, std::string_view name);

// The newest ready checkpoint of a cluster, as the cluster reply shows it.
struct CheckpointRef {
  std::string id;
  store::TimeMs created_ms = 0;
};

// A cluster as the API shows it: its row plus what only the live cluster knows.
struct ClusterView {
  store::Resource row;
  bool loaded = false;  // false when the live cluster is missing (could not be rebuilt at start)
  std::vector<engine::Port> inputs;
  std::vector<engine::Port> outputs;
  engine::ClusterStats stats;  // samples_trained = stats.cycles_trained
  std::optional<CheckpointRef> last_checkpoint;
  std::optional<std::string> active_task_id;  // the running task, else the oldest queued one
};

// The template a cluster was created from: the text as sent, and the parsed template.
struct ClusterTemplate {
  std::string text;
  engine::Template tmpl;
};

class ClusterService {
 public:
  // Everything given must outlive the service. `tasks` is used by remove() only.
  ClusterService(store::MetadataStore& store, ClusterRegistry& registry, Quotas& quotas,
                 TaskService& tasks, Clock clock, ClusterOptions options);
  ClusterService(const ClusterService&) = delete;
  ClusterService& operator=(const ClusterService&) = delete;

  // Creates a cluster in the caller's current project from Hanami text or JSON template text.
  Result<ClusterView> create(const Principal& caller, std::string_view name,
                             std::string_view template_text);
  // The row alone (NotFound when invisible or unknown).
  Result<store::Resource> get(const Principal& caller, std::string_view id);
  // The row with live stats, last checkpoint and active task.
  Result<ClusterView> view(const Principal& caller, std::string_view id);
  // The caller's visible clusters, oldest first (Access::listScope()).
  Result<store::Page<ClusterView>> list(const Principal& caller, const store::PageRequest& page);
  Result<ClusterView> rename(const Principal& caller, std::string_view id, std::string_view name);
  // Deletes the cluster (see the header comment for the order of things).
  Status remove(const Principal& caller, std::string_view id);
  Result<ClusterTemplate> templateOf(const Principal& caller, std::string_view id);

  // The live cluster for tasks, direct IO and checkpoints. NotFound when invisible or unknown;
  // FailedPrecondition when it could not be loaded.
  Result<std::shared_ptr<LiveCluster>> open(const Principal& caller, std::string_view id);

  // --- For the checkpoint module and startup (no caller: the service itself acts) ----------

  // The row, unscoped. NotFound.
  Result<store::Resource> row(std::string_view id);
  // The parsed template of a row (its attrs "template").
  Result<ClusterTemplate> templateOfRow(const store::Resource& row) const;
  // A fresh (untrained) engine cluster built from the row's template.
  Result<std::unique_ptr<engine::Cluster>> buildFresh(const store::Resource& row) const;
  // Makes `cluster` the live cluster of `row` (startup recovery).
  void putLive(const store::Resource& row, std::unique_ptr<engine::Cluster> cluster);
  // Every cluster row of every project (startup recovery), oldest first.
  Result<std::vector<store::Resource>> allRows();

  // Project content: "clusters" count; with cascade every cluster of the project is removed as
  // remove() does (tasks cancelled, live clusters closed, autosave files deleted).
  ProjectContent projectContent();

  const ClusterOptions& options() const { return options_; }
  ClusterRegistry& registry() { return registry_; }

 private:
  Result<store::Resource> visibleRow(const Principal& caller, std::string_view id);
  Result<ClusterView> describe(store::Resource row);
  // Everything remove() does once the row is known; store calls go through `store`.
  Status destroy(store::MetadataStore& store, const store::Resource& row);
  Result<std::optional<CheckpointRef>> lastCheckpoint(std::string_view cluster_id);
  Result<std::optional<std::string>> activeTask(std::string_view cluster_id);

  store::MetadataStore& store_;
  ClusterRegistry& registry_;
  Quotas& quotas_;
  TaskService& tasks_;
  Clock clock_;
  ClusterOptions options_;
};

}  // namespace tendril::service
