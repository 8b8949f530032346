// Clusters held in memory by the service: each engine::Cluster with the locks that make "one
// writer per cluster" hold across tasks, direct-IO sessions, checkpoints and deletion.
//
// - Training cycles, restores and anything else that changes the cluster take the writer lock
//   (exclusive), one cycle at a time, so a task and a direct session on the same cluster
//   interleave cycle by cycle and a cancel or delete never waits longer than one cycle.
// - Requests and checkpoint writes only read: they take the reader lock (shared).
// - Deleting a cluster closes it (closed() turns true under the writer lock) and drops it from
//   the registry; the memory goes when the last holder of the shared_ptr lets go, so it is never
//   freed under a running cycle. Work that finds a cluster closed stops.
//
// Thread safety: every member of LiveCluster and ClusterRegistry may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/cluster.h"

namespace tendril::service {

class LiveCluster {
 public:
  LiveCluster(std::string id, std::string project_id, std::unique_ptr<engine::Cluster> cluster);

  const std::string& id() const { return id_; }
  const std::string& projectId() const { return project_id_; }

  // Exclusive access: train, restore (replace), close.
  std::unique_lock<std::shared_mutex> lockWriter() { return std::unique_lock(mutex_); }
  // Shared access: request, stats, checkpoint writes.
  std::shared_lock<std::shared_mutex> lockReader() { return std::shared_lock(mutex_); }

  // The cluster; the caller holds one of the locks above. Never null.
  engine::Cluster& cluster() { return *cluster_; }
  const engine::Cluster& cluster() const { return *cluster_; }

  // Swaps in a restored cluster; the caller holds the writer lock. Counts as a change.
  void replace(std::unique_ptr<engine::Cluster> cluster);

  // Bumped by every change (each training cycle, each replace); autosave compares it with the
  // value it last saved. Callers that train call noteChange() after each cycle.
  uint64_t changes() const { return changes_.load(std::memory_order_acquire); }
  void noteChange() { changes_.fetch_add(1, std::memory_order_acq_rel); }

  // The cluster's size figures, read under the reader lock.
  engine::ClusterStats stats();

  // Marks the cluster deleted; the caller holds the writer lock. Irreversible.
  void close() { closed_.store(true, std::memory_order_release); }
  bool closed() const { return closed_.load(std::memory_order_acquire); }

 private:
  const std::string id_;
  const std::string project_id_;
  std::shared_mutex mutex_;
  std::unique_ptr<engine::Cluster> cluster_;
  std::atomic<uint64_t> changes_{0};
  std::atomic<bool> closed_{false};
};

class ClusterRegistry {
 public:
  // Adds (or replaces) the cluster under its id.
  void put(std::shared_ptr<LiveCluster> cluster);
  // Null when no cluster has this id.
  std::shared_ptr<LiveCluster> find(std::string_view id) const;
  // Removes and returns it (null when absent).
  std::shared_ptr<LiveCluster> take(std::string_view id);
  // Every cluster, in no particular order (a snapshot).
  std::vector<std::shared_ptr<LiveCluster>> all() const;
  // The synapse bytes of every live cluster of `project_id` (quota usage).
  uint64_t synapseBytes(std::string_view project_id) const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<LiveCluster>> clusters_;
};

}  // namespace tendril::service
