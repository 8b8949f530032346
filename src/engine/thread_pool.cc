#include "engine/thread_pool.h"

#include <algorithm>

namespace tendril::engine {

// One parallelFor call. Lives on the caller's stack until every index is done.
struct ThreadPool::Job {
  const std::function<void(size_t)>* fn = nullptr;
  size_t count = 0;
  std::atomic<size_t> next{0};
  std::atomic<int> helpers{0};  // workers inside runIndices for this job
};

ThreadPool::ThreadPool(unsigned threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 1; i < threads; ++i) workers_.emplace_back([this] { workerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::runIndices(Job& job) {
  for (size_t i = job.next.fetch_add(1); i < job.count; i = job.next.fetch_add(1)) (*job.fn)(i);
}

void ThreadPool::parallelFor(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  if (workers_.empty() || n == 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  Job job;
  job.fn = &fn;
  job.count = n;
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(&job);
    queued_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  runIndices(job);
  // All indices are claimed; remove the job so no worker picks it up after it dies.
  {
    std::lock_guard lock(mutex_);
    auto it = std::find(jobs_.begin(), jobs_.end(), &job);
    if (it != jobs_.end()) {
      jobs_.erase(it);
      queued_.fetch_sub(1, std::memory_order_release);
    }
  }
  // No worker can join any more; wait for those still finishing an index. Cycles are short
  // (microseconds), so spinning beats sleeping here.
  while (job.helpers.load(std::memory_order_acquire) > 0) std::this_thread::yield();
}

void ThreadPool::workerLoop() {
  for (;;) {
    Job* job = nullptr;
    {
      // Spin briefly before sleeping: a training cycle issues a job every few microseconds.
      for (int spin = 0; spin < 2000 && queued_.load(std::memory_order_acquire) == 0; ++spin) {
        std::this_thread::yield();
      }
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_ && jobs_.empty()) return;
      job = jobs_.front();
      // Keep the job listed while others may still help; the owner removes it. Rotate so that
      // concurrent jobs from different clusters share the workers.
      jobs_.pop_front();
      jobs_.push_back(job);
      // Register as a helper before leaving the lock so the owner cannot return meanwhile.
      job->helpers.fetch_add(1, std::memory_order_acq_rel);
    }
    runIndices(*job);
    job->helpers.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace tendril::engine
