#include "service/live_cluster.h"

#include <algorithm>
#include <utility>

namespace tendril::service {

LiveCluster::LiveCluster(std::string id, std::string project_id,
                         std::unique_ptr<engine::Cluster> cluster)
    : id_(std::move(id)), project_id_(std::move(project_id)), cluster_(std::move(cluster)) {}

void LiveCluster::replace(std::unique_ptr<engine::Cluster> cluster) {
  cluster_ = std::move(cluster);
  noteChange();
}

engine::ClusterStats LiveCluster::stats() {
  auto lock = lockReader();
  return cluster_->stats();
}

void ClusterRegistry::put(std::shared_ptr<LiveCluster> cluster) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(clusters_.begin(), clusters_.end(),
                         [&](const auto& held) { return held->id() == cluster->id(); });
  if (it != clusters_.end()) {
    *it = std::move(cluster);
  } else {
    clusters_.push_back(std::move(cluster));
  }
}

std::shared_ptr<LiveCluster> ClusterRegistry::find(std::string_view id) const {
  std::lock_guard lock(mutex_);
  for (const auto& cluster : clusters_) {
    if (cluster->id() == id) return cluster;
  }
  return nullptr;
}

std::shared_ptr<LiveCluster> ClusterRegistry::take(std::string_view id) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(clusters_.begin(), clusters_.end(),
                         [&](const auto& held) { return held->id() == id; });
  if (it == clusters_.end()) return nullptr;
  std::shared_ptr<LiveCluster> taken = std::move(*it);
  clusters_.erase(it);
  return taken;
}

std::vector<std::shared_ptr<LiveCluster>> ClusterRegistry::all() const {
  std::lock_guard lock(mutex_);
  return clusters_;
}

uint64_t ClusterRegistry::synapseBytes(std::string_view project_id) const {
  uint64_t total = 0;
  for (const auto& cluster : all()) {
    if (cluster->projectId() == project_id) total += cluster->stats().synapse_bytes;
  }
  return total;
}

}  // namespace tendril::service
