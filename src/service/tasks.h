// Tasks: long work on a cluster, run by the Scheduler and recorded as store rows of kind task.
//
// - train: epochs over a dataset (images or a CSV table), one training cycle per sample, each
//   cycle under the cluster's writer lock (never a whole slice, so a direct-IO session on the same
//   cluster interleaves); a seeded permutation of the samples per epoch when `shuffle`.
// - request: the cluster's outputs for every sample of a dataset, in batches under the reader
//   lock, written to a result file (results.h); the result's id is the task's id.
// - checkpoint, restore (and any other type): a TaskJob supplied by another module (submitJob).
//
// A task row: kind task, parent_id = the cluster, ref_id = the dataset (or checkpoint), name
// optional, state queued|running|finished|failed|cancelled|interrupted, attrs = JSON with the
// parameters (type, epochs, shuffle, seed, mode, mapping), the progress (samples_done,
// samples_total, samples_per_second, eta_seconds), error, started_ms, finished_ms and, for
// request tasks, whether a result file exists. Rows are written at every state change and at
// most once per second while running; get() and list() show the live progress in between.
//
// Widths are checked before a task is queued (InvalidArgument naming the port or column), the
// project's concurrent-task quota too (ResourceExhausted). Cancel: a queued task is cancelled at
// once, a running one within one cycle. A cluster found closed (deleted) ends its task (cancelled).
//
// Events: every state change is published on the EventHub (Event type "task", payload the
// taskJson(), project and owner of the row, so EventHub's visibility rule is the tasks' own), and
// watchers of one task (the WS route) get the task JSON on every state change and at most every
// watch_interval (200 ms) while it runs.
//
// Scheduling: every task runs as a job of the Scheduler in its cluster's queue (one at a time per
// cluster, in creation order, in time slices fairly across projects); TaskService::stop() stops
// the Scheduler too.
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "data/table_samples.h"
#include "engine/cluster.h"
#include "service/clock.h"
#include "service/live_cluster.h"
#include "service/principal.h"
#include "service/scheduler.h"
#include "store/store.h"

namespace tendril::data {
class DatasetReader;
}

namespace tendril::service {

class DatasetService;
class EventHub;
class Quotas;

// Finds a live cluster by id with the caller's access (NotFound when unknown or invisible).
// The service wires ClusterService::open into it, so tasks do not depend on clusters.
using ClusterLookup =
    std::function<Result<std::shared_ptr<LiveCluster>>(const Principal&, std::string_view)>;

// Task states and types, as stored and sent.
inline constexpr std::string_view kTaskQueued = "queued";
inline constexpr std::string_view kTaskRunning = "running";
inline constexpr std::string_view kTaskFinished = "finished";
inline constexpr std::string_view kTaskFailed = "failed";
inline constexpr std::string_view kTaskCancelled = "cancelled";
inline constexpr std::string_view kTaskInterrupted = "interrupted";
inline constexpr std::string_view kTaskTrain = "train";
inline constexpr std::string_view kTaskRequest = "request";

// Whether a task in `state` is still queued or running.
bool taskActive(std::string_view state);

// What a job sees while it runs.
class TaskContext {
 public:
  virtual ~TaskContext() = default;
  virtual const std::string& taskId() const = 0;
  // The cluster the task was submitted for (the job takes its locks itself).
  virtual LiveCluster& cluster() = 0;
  // True once the task was cancelled, the service is stopping, or the cluster was closed: the
  // job should return (any Status; the task's final state follows from why it stopped).
  virtual bool cancelled() const = 0;
  // True when the service is stopping (the task will be marked interrupted).
  virtual bool stopping() const = 0;
  // Reports progress: `done` units of `total`.
  virtual void progress(uint64_t done, uint64_t total) = 0;
  // Merges `values` into the task's attrs (e.g. what the job produced); written with the next
  // row update.
  virtual void setAttrs(const nlohmann::json& values) = 0;
};

// Work of a task type other than train/request (checkpoint save, restore), supplied by other
// modules.
class TaskJob {
 public:
  virtual ~TaskJob() = default;
  // Runs the whole job on a scheduler thread; takes the cluster's locks itself; checks
  // context.cancelled() between units; reports context.progress(done, total). Error → task
  // failed with its message (unless the task was cancelled or the service stops: then
  // cancelled or interrupted).
  virtual Status run(TaskContext& context) = 0;
  // Called instead of run() when the task ends without running: `state` is "cancelled" (cancel
  // while queued, or the cluster was deleted) or "interrupted" (service stop). Default: nothing.
  virtual void abandoned(std::string_view state) { (void)state; }
};

// POST /tasks input.
struct TaskCreate {
  std::string type;  // "train" or "request"
  std::string cluster_id;
  std::string dataset_id;
  int64_t epochs = 1;  // train: 1..1000; request: ignored (1)
  bool shuffle = true;
  uint64_t seed = 0;
  std::string mode = "window";  // CSV datasets: "window" or "row"
  data::ColumnMapping mapping;  // port → columns (CSV datasets only)
  std::string name;             // optional
};

// GET /tasks conditions; empty members are no condition.
struct TaskListFilter {
  std::string cluster_id;
  std::string state;
};

// The task object of the API (see docs/api.md) from a row.
nlohmann::json taskJson(const store::Resource& row);

// --- Samples of a dataset as a cluster takes them (shared with results.h) --------------------
//
// Images: the inputs are the raw pixel values as floats (0..255, no scaling, as `tendril bench`
// feeds them), the expected values a one-hot vector of the label over the cluster's output width.
// Tables: data::TableSampler over the columns the ports read (mapping, or the port's own name).

// Ports as task attrs record them, [{"name", "width"}], and back (offsets recomputed).
nlohmann::json portsJson(std::span<const engine::Port> ports);
std::vector<engine::Port> portsFromJson(const nlohmann::json& ports);

// "window" → kSlidingWindow, "row" → kRow; InvalidArgument otherwise.
Result<data::SampleMode> parseSampleMode(std::string_view mode);

// Binds a table dataset's columns to the ports. `outputs` may be empty (inputs only). Errors as
// data::TableSampler::create (InvalidArgument naming the port or column).
Result<data::TableSampler> bindTable(const data::DatasetReader& reader,
                                     std::span<const engine::Port> inputs,
                                     std::span<const engine::Port> outputs, data::SampleMode mode,
                                     const data::ColumnMapping& mapping);

class TaskService {
 public:
  struct Options {
    std::filesystem::path data_dir;  // result files go to <data_dir>/results/
    Clock clock;                     // null: the system clock
    std::chrono::milliseconds persist_interval{1000};  // row updates while running
    std::chrono::milliseconds watch_interval{200};     // watcher updates while running
    size_t request_batch = 64;                         // samples per requestMany call
  };

  TaskService(store::MetadataStore& store, Scheduler& scheduler, DatasetService& datasets,
              Quotas& quotas, EventHub& events, ClusterLookup clusters, Options options);
  ~TaskService();  // stop()
  TaskService(const TaskService&) = delete;
  TaskService& operator=(const TaskService&) = delete;

  // Creates and queues a train or request task, owned by the caller, in the cluster's project
  // (the reply row is usually still queued). Errors: FailedPrecondition without a current
  // project (admins excepted), for a dataset not ready, or after stop(); NotFound for an
  // invisible cluster or dataset; InvalidArgument for bad parameters, widths that do not fit, or
  // a dataset of another project than the cluster; ResourceExhausted for the concurrent-task
  // quota (and, for train, the synapse quota).
  Result<store::Resource> create(const Principal& caller, const TaskCreate& request);

  // Queues a job of another type (checkpoint, restore) on `cluster` (a row of the cluster's
  // project, owned by the caller; the caller's access to the cluster is the caller's check).
  // `attrs` are merged into the row's attrs; `ref_id` is stored as ref_id (e.g. the checkpoint).
  // The quota of concurrent tasks applies.
  Result<store::Resource> submitJob(const Principal& caller, std::string type,
                                    std::shared_ptr<LiveCluster> cluster, std::string ref_id,
                                    nlohmann::json attrs, std::unique_ptr<TaskJob> job);

  // The task with its live progress. NotFound when unknown or invisible.
  Result<store::Resource> get(const Principal& caller, std::string_view id);
  // The caller's visible tasks, oldest first, with live progress.
  Result<store::Page<store::Resource>> list(const Principal& caller, const TaskListFilter& filter,
                                            const store::PageRequest& page);
  // Queued → cancelled at once; running → cancelled within one cycle (the reply may still say
  // running with cancel_requested); an ended task is returned unchanged.
  Result<store::Resource> cancel(const Principal& caller, std::string_view id);
  // Deletes an ended task and its result file. FailedPrecondition while queued or running.
  Status remove(const Principal& caller, std::string_view id);

  // Calls `deliver` with the task JSON now, then on every change (at most every watch_interval
  // while running); the last call has `final` true (the task ended) and then no more come.
  // Returns a watch id for unwatch() (0 when the task had already ended: `deliver` was called
  // once with final true). NotFound when unknown or invisible. `deliver` runs on task threads
  // and must be quick (queue a frame).
  using TaskWatcher = std::function<void(const nlohmann::json& task, bool final)>;
  Result<uint64_t> watch(const Principal& caller, std::string_view id, TaskWatcher deliver);
  void unwatch(uint64_t watch_id);

  // Cancels the queued and running tasks of a cluster and returns when none of them runs.
  void cancelClusterTasks(std::string_view cluster_id);
  // At start: rows left queued or running by a previous process → interrupted.
  Status recoverInterrupted();
  // Shutdown: queued and running tasks stop (running ones at their next cycle) → interrupted.
  // Idempotent; create()/submitJob() fail with FailedPrecondition afterwards.
  void stop();

  // The result file of a request task.
  std::filesystem::path resultPath(std::string_view task_id) const;

 private:
  class Run;
  class TrainOrRequest;
  class JobWork;
  friend class Run;

  struct Watch {
    std::string task_id;
    std::shared_ptr<TaskWatcher> deliver;
    std::mutex mutex;   // held while delivering: unwatch() waits for a delivery in progress
    bool done = false;  // under mutex: the final call was made, or unwatched
  };

  Result<store::Resource> queue(store::Resource row, std::shared_ptr<LiveCluster> cluster,
                                std::shared_ptr<Run> run);
  Result<store::Resource> visibleRow(const Principal& caller, std::string_view id);
  store::Resource withLiveProgress(store::Resource row) const;
  store::TimeMs now() const;
  // Row updates, events and watcher calls of the runs.
  void persist(const store::Resource& row);
  void notify(const store::Resource& row, bool state_change, bool final);
  void publish(const store::Resource& row);
  static void deliver(const std::vector<std::shared_ptr<Watch>>& watchers,
                      const nlohmann::json& task, bool final);
  // A run ended with `row`: it leaves runs_, its watchers get the final call.
  void retire(const store::Resource& row);

  store::MetadataStore& store_;
  Scheduler& scheduler_;
  DatasetService& datasets_;
  Quotas& quotas_;
  EventHub& events_;
  ClusterLookup clusters_;
  Options options_;

  std::mutex create_mutex_;  // quota check + insert + submit of one task at a time
  std::atomic<bool> stopped_{false};
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Run>, std::less<>> runs_;  // queued or running
  std::map<uint64_t, std::shared_ptr<Watch>> watches_;
  uint64_t next_watch_ = 1;
};

}  // namespace tendril::service
