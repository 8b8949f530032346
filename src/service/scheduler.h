// The scheduler: a fixed set of worker threads that run the service's long work (training,
// requests over a dataset, checkpoint save and restore) in time slices, fairly across projects.
//
// Promises:
// - One writer per cluster: each cluster has a FIFO queue of jobs and at most one job of a
//   cluster runs at any time; the next job of a cluster starts only when the one before it has
//   finished (or was cancelled).
// - Fairness: a worker picks the next cluster to run round-robin over the projects that have
//   runnable work, then round-robin over that project's runnable clusters. A job runs one slice
//   (about `slice` long: the job checks SliceControl::sliceOver() between cycles) and then goes
//   back to the end of the rotation, so a project with ten busy clusters gets no more turns
//   than a project with one.
// - Cancel: a job that waits (queued, or between two slices) is taken out at once and its
//   abandoned() is called; a job inside a slice sees SliceControl::cancelled() at its next check
//   (its work checks once per cycle) and finishes its slice.
// - stop(): waiting jobs are abandoned (reason kStopped); slices in progress see
//   SliceControl::stopping() and end; workers are joined. No job starts after stop().
//
// Thread safety: every member may be called from any thread, except that stop(), waitCluster()
// and cancelCluster() must not be called from inside a job's runSlice() (they would wait for
// themselves). runSlice() and abandoned() run outside the scheduler's lock, so they may call
// submit() and cancel().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace tendril::service {

// What a running slice may ask of the scheduler.
class SliceControl {
 public:
  SliceControl(const std::atomic<bool>& cancelled, const std::atomic<bool>& stopping,
               std::chrono::steady_clock::time_point slice_end)
      : cancelled_(cancelled), stopping_(stopping), slice_end_(slice_end) {}

  // The job was cancelled (Scheduler::cancel / cancelCluster): end the work for good.
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }
  // The scheduler is stopping: end the work for good (the service marks it interrupted).
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  // The slice's time is up: return SliceOutcome::kMore at the next convenient point.
  bool sliceOver() const { return std::chrono::steady_clock::now() >= slice_end_; }

 private:
  const std::atomic<bool>& cancelled_;
  const std::atomic<bool>& stopping_;
  std::chrono::steady_clock::time_point slice_end_;
};

enum class SliceOutcome {
  kMore,  // the job has more to do: queue it again (at the end of the rotation)
  kDone,  // the job is over (finished, failed, cancelled or interrupted — its own business)
};

enum class AbandonReason { kCancelled, kStopped };

// A job: work that runs in slices on a scheduler thread.
class ScheduledWork {
 public:
  virtual ~ScheduledWork() = default;
  // Runs one slice: works until done or control.sliceOver(), checking control.cancelled() and
  // control.stopping() between cycles. Must not throw.
  virtual SliceOutcome runSlice(const SliceControl& control) = 0;
  // Called once, instead of any further runSlice(), when the job leaves the scheduler while
  // waiting (cancelled while queued or between slices, or the scheduler stopped). Called on the
  // thread that cancelled or stopped, outside the scheduler's lock. Must not throw.
  virtual void abandoned(AbandonReason reason) = 0;
};

class Scheduler {
 public:
  using JobId = uint64_t;

  struct Options {
    unsigned threads = 0;                   // 0: one per hardware thread
    std::chrono::milliseconds slice{50};    // how long a job runs before yielding its worker
  };

  explicit Scheduler(Options options);
  ~Scheduler();  // stop()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues `work` at the end of `cluster_id`'s queue; returns its id (never 0). After stop()
  // the work is abandoned at once (kStopped) and 0 is returned.
  JobId submit(std::string project_id, std::string cluster_id,
               std::shared_ptr<ScheduledWork> work);

  // What cancel() found.
  enum class CancelOutcome {
    kUnknown,    // no such job (finished, abandoned or never submitted)
    kAbandoned,  // it was waiting: removed, and abandoned(kCancelled) has been called
    kSignalled,  // it is inside a slice: it sees cancelled() at its next check
  };
  CancelOutcome cancel(JobId id);

  // Cancels every job of the cluster (as cancel()) and returns once none of them runs.
  void cancelCluster(std::string_view cluster_id);
  // Returns once no job of the cluster is inside a slice.
  void waitCluster(std::string_view cluster_id);

  // Ends all work (see the header comment) and joins the workers. Idempotent.
  void stop();
  bool stopped() const { return stopping_.load(std::memory_order_acquire); }

  unsigned threads() const { return static_cast<unsigned>(workers_.size()); }
  std::chrono::milliseconds slice() const { return options_.slice; }

  // Slices granted so far to the jobs of a project (for tests and metrics).
  uint64_t slicesGranted(std::string_view project_id) const;
  // Jobs queued or running.
  size_t pendingJobs() const;

 private:
  struct Job {
    JobId id = 0;
    std::string project_id;
    std::string cluster_id;
    std::shared_ptr<ScheduledWork> work;
    std::atomic<bool> cancelled{false};
  };
  struct ClusterQueue {
    std::string cluster_id;
    std::deque<std::shared_ptr<Job>> jobs;  // front: the job that runs next (or now)
    bool running = false;                   // the front job is inside a slice
  };
  struct ProjectRotation {
    std::string project_id;
    std::list<std::string> clusters;  // clusters with queued jobs, in turn order
    uint64_t slices = 0;
  };

  void workerLoop();
  // Under mutex_: the next cluster to run, moved to the end of its rotations; null when none.
  ClusterQueue* pickLocked();
  void dropClusterIfEmptyLocked(const std::string& project_id, const std::string& cluster_id);

  Options options_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::condition_variable work_ready_;   // a cluster became runnable, or stopping
  std::condition_variable slice_ended_;  // a slice ended (waitCluster, cancelCluster, stop)
  JobId next_id_ = 1;
  std::map<std::string, ClusterQueue, std::less<>> clusters_;
  std::list<ProjectRotation> projects_;  // projects with queued jobs, in turn order
  std::map<std::string, uint64_t, std::less<>> slices_granted_;
  std::mutex join_mutex_;  // stop() from two threads: one joins, the other waits
  std::vector<std::thread> workers_;
};

}  // namespace tendril::service
