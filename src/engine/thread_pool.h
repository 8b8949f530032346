// A fixed set of worker threads shared by every cluster of a process.
//
// parallelFor(n, fn) runs fn(i) for i in [0, n) on the workers and the calling thread and
// returns when all are done. Several threads may call parallelFor at the same time (one call
// per cluster cycle, say); their jobs share the workers in arrival order. Results never depend
// on which thread ran which index: callers give each index its own output.
//
// Thread safety: all public functions may be called from any thread. fn must not throw.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tendril::engine {

class ThreadPool {
 public:
  // Starts `threads - 1` workers: the caller of parallelFor is the remaining thread.
  // threads == 0 means std::thread::hardware_concurrency().
  explicit ThreadPool(unsigned threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Total threads that run a job: workers plus the caller.
  unsigned size() const { return static_cast<unsigned>(workers_.size()) + 1; }

  void parallelFor(size_t n, const std::function<void(size_t)>& fn);

 private:
  struct Job;
  void workerLoop();
  static void runIndices(Job& job);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job*> jobs_;
  std::atomic<size_t> queued_{0};
  bool stopping_ = false;
};

}  // namespace tendril::engine
