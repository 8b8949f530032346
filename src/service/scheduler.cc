#include "service/scheduler.h"

#include <algorithm>

namespace tendril::service {

Scheduler::Scheduler(Options options) : options_(options) {
  if (options_.slice.count() <= 0) options_.slice = std::chrono::milliseconds(1);
  const unsigned threads =
      options_.threads != 0 ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
  workers_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) workers_.emplace_back([this] { workerLoop(); });
}

Scheduler::~Scheduler() { stop(); }

Scheduler::JobId Scheduler::submit(std::string project_id, std::string cluster_id,
                                   std::shared_ptr<ScheduledWork> work) {
  std::unique_lock lock(mutex_);
  if (stopping_.load(std::memory_order_acquire)) {
    lock.unlock();
    work->abandoned(AbandonReason::kStopped);
    return 0;
  }
  auto job = std::make_shared<Job>();
  job->id = next_id_++;
  job->project_id = std::move(project_id);
  job->cluster_id = cluster_id;
  job->work = std::move(work);

  auto [it, created] = clusters_.try_emplace(cluster_id);
  ClusterQueue& queue = it->second;
  if (created) queue.cluster_id = cluster_id;
  const bool was_idle = queue.jobs.empty();
  queue.jobs.push_back(job);
  if (was_idle) {
    // The cluster enters its project's rotation (and the project the global one) at the end.
    auto project = std::find_if(projects_.begin(), projects_.end(), [&](const auto& entry) {
      return entry.project_id == job->project_id;
    });
    if (project == projects_.end()) {
      projects_.push_back(ProjectRotation{job->project_id, {}, 0});
      project = std::prev(projects_.end());
    }
    project->clusters.push_back(cluster_id);
    work_ready_.notify_one();
  }
  return job->id;
}

Scheduler::ClusterQueue* Scheduler::pickLocked() {
  for (auto project = projects_.begin(); project != projects_.end(); ++project) {
    for (auto name = project->clusters.begin(); name != project->clusters.end(); ++name) {
      auto queue = clusters_.find(*name);
      if (queue == clusters_.end() || queue->second.running || queue->second.jobs.empty()) {
        continue;
      }
      // Its turn is taken: the cluster goes to the end of its project's rotation, the project
      // to the end of the global one.
      project->clusters.splice(project->clusters.end(), project->clusters, name);
      projects_.splice(projects_.end(), projects_, project);
      return &queue->second;
    }
  }
  return nullptr;
}

void Scheduler::dropClusterIfEmptyLocked(const std::string& project_id,
                                         const std::string& cluster_id) {
  auto queue = clusters_.find(cluster_id);
  if (queue == clusters_.end() || !queue->second.jobs.empty() || queue->second.running) return;
  clusters_.erase(queue);
  auto project = std::find_if(projects_.begin(), projects_.end(),
                              [&](const auto& entry) { return entry.project_id == project_id; });
  if (project == projects_.end()) return;
  project->clusters.remove(cluster_id);
  if (project->clusters.empty()) projects_.erase(project);
}

void Scheduler::workerLoop() {
  std::unique_lock lock(mutex_);
  while (!stopping_.load(std::memory_order_acquire)) {
    ClusterQueue* queue = pickLocked();
    if (queue == nullptr) {
      work_ready_.wait(lock);
      continue;
    }
    std::shared_ptr<Job> job = queue->jobs.front();
    queue->running = true;
    ++slices_granted_[job->project_id];
    lock.unlock();

    SliceOutcome outcome = SliceOutcome::kDone;
    try {
      const SliceControl control(job->cancelled, stopping_,
                                 std::chrono::steady_clock::now() + options_.slice);
      outcome = job->work->runSlice(control);
    } catch (...) {
      // A work that throws is a bug; it must not take the worker down with it.
      outcome = SliceOutcome::kDone;
    }

    lock.lock();
    // The queue stays in the map while it is running (nothing erases a running queue).
    queue->running = false;
    std::optional<AbandonReason> abandon;
    if (outcome == SliceOutcome::kMore) {
      // A job that ignored its cancel or the stop leaves anyway.
      if (job->cancelled.load(std::memory_order_acquire)) {
        abandon = AbandonReason::kCancelled;
      } else if (stopping_.load(std::memory_order_acquire)) {
        abandon = AbandonReason::kStopped;
      }
    }
    if (outcome == SliceOutcome::kDone || abandon) {
      queue->jobs.pop_front();
      dropClusterIfEmptyLocked(job->project_id, job->cluster_id);
    }
    slice_ended_.notify_all();
    if (outcome == SliceOutcome::kMore && !abandon) work_ready_.notify_one();
    if (abandon) {
      lock.unlock();
      job->work->abandoned(*abandon);
      lock.lock();
    }
  }
}

Scheduler::CancelOutcome Scheduler::cancel(JobId id) {
  std::unique_lock lock(mutex_);
  for (auto& [name, queue] : clusters_) {
    auto it = std::find_if(queue.jobs.begin(), queue.jobs.end(),
                           [id](const auto& job) { return job->id == id; });
    if (it == queue.jobs.end()) continue;
    std::shared_ptr<Job> job = *it;
    job->cancelled.store(true, std::memory_order_release);
    if (queue.running && it == queue.jobs.begin()) return CancelOutcome::kSignalled;
    queue.jobs.erase(it);
    dropClusterIfEmptyLocked(job->project_id, job->cluster_id);
    lock.unlock();
    job->work->abandoned(AbandonReason::kCancelled);
    return CancelOutcome::kAbandoned;
  }
  return CancelOutcome::kUnknown;
}

void Scheduler::cancelCluster(std::string_view cluster_id) {
  std::vector<std::shared_ptr<Job>> waiting;
  {
    std::lock_guard lock(mutex_);
    auto queue = clusters_.find(cluster_id);
    if (queue != clusters_.end()) {
      auto& jobs = queue->second.jobs;
      for (auto it = jobs.begin(); it != jobs.end();) {
        (*it)->cancelled.store(true, std::memory_order_release);
        if (queue->second.running && it == jobs.begin()) {
          ++it;
        } else {
          waiting.push_back(*it);
          it = jobs.erase(it);
        }
      }
      if (!waiting.empty()) {
        const std::string project_id = waiting.front()->project_id;
        dropClusterIfEmptyLocked(project_id, std::string(cluster_id));
      }
    }
  }
  for (const auto& job : waiting) job->work->abandoned(AbandonReason::kCancelled);
  waitCluster(cluster_id);
}

void Scheduler::waitCluster(std::string_view cluster_id) {
  std::unique_lock lock(mutex_);
  slice_ended_.wait(lock, [&] {
    auto queue = clusters_.find(cluster_id);
    return queue == clusters_.end() || !queue->second.running;
  });
}

void Scheduler::stop() {
  std::vector<std::shared_ptr<Job>> waiting;
  {
    std::lock_guard lock(mutex_);
    stopping_.store(true, std::memory_order_release);
    for (auto& [name, queue] : clusters_) {
      auto& jobs = queue.jobs;
      const size_t keep = queue.running ? 1 : 0;  // the running job leaves through its worker
      while (jobs.size() > keep) {
        waiting.push_back(jobs.back());
        jobs.pop_back();
      }
    }
    // Queues left empty go; running ones go when their worker finishes.
    for (auto it = clusters_.begin(); it != clusters_.end();) {
      if (it->second.jobs.empty()) {
        it = clusters_.erase(it);
      } else {
        ++it;
      }
    }
    work_ready_.notify_all();
  }
  // Abandon in submission order per cluster (they were collected from the back).
  std::reverse(waiting.begin(), waiting.end());
  for (const auto& job : waiting) job->work->abandoned(AbandonReason::kStopped);

  std::lock_guard join_lock(join_mutex_);
  for (std::thread& worker : workers_) {
    if (worker.joinable() && worker.get_id() != std::this_thread::get_id()) worker.join();
  }
}

uint64_t Scheduler::slicesGranted(std::string_view project_id) const {
  std::lock_guard lock(mutex_);
  auto it = slices_granted_.find(project_id);
  return it == slices_granted_.end() ? 0 : it->second;
}

size_t Scheduler::pendingJobs() const {
  std::lock_guard lock(mutex_);
  size_t count = 0;
  for (const auto& [name, queue] : clusters_) count += queue.jobs.size();
  return count;
}

}  // namespace tendril::service
