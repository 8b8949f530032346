// Per-project quotas (spec/service.md §4): how many clusters a project may hold, how many
// synapse bytes its clusters may grow to, how many dataset bytes it may store and how many tasks
// it may have queued or running at once. An admin sets a project's limits; a limit not set
// falls back to the configured default.
//
// The check functions compare the project's current usage with its limit and refuse with
// ResourceExhausted ("quota: clusters (3 of 3 in use)") before anything changes; callers that
// must not race a concurrent create run check and insert inside one store transaction.
// Synapse bytes are the live clusters' current figures (ClusterRegistry); everything else comes
// from the store.
//
// Thread safety: all members may be called from any thread.
#pragma once

#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "service/live_cluster.h"
#include "store/store.h"

namespace tendril::service {

struct QuotaLimits {
  int64_t clusters = 64;
  int64_t synapse_bytes = int64_t{8} << 30;
  int64_t dataset_bytes = int64_t{16} << 30;
  int64_t concurrent_tasks = 8;
};

struct QuotaUsage {
  int64_t clusters = 0;
  int64_t synapse_bytes = 0;
  int64_t dataset_bytes = 0;
  int64_t concurrent_tasks = 0;
};

class Quotas {
 public:
  // `store` and `registry` must outlive the object; `defaults` apply to every limit not set.
  Quotas(store::MetadataStore& store, const ClusterRegistry& registry, QuotaLimits defaults);

  Result<QuotaLimits> limits(std::string_view project_id);
  Result<QuotaUsage> usage(std::string_view project_id);
  // {"limits": {...}, "usage": {...}, "defaults": [names of limits that are the default]}.
  Result<nlohmann::json> view(std::string_view project_id);
  // The limits set for the project (unset: the default applies).
  Result<store::ProjectQuota> stored(std::string_view project_id) {
    return store_.getQuota(project_id);
  }
  // Replaces the project's limits (unset: the default). InvalidArgument for a negative limit;
  // FailedPrecondition for an unknown project.
  Status set(const store::ProjectQuota& quota);

  // One more cluster.
  Status checkClusters(std::string_view project_id);
  // The clusters' synapse bytes are below the limit (training may go on growing).
  Status checkSynapseBytes(std::string_view project_id);
  // `adding` more dataset bytes fit.
  Status checkDatasetBytes(std::string_view project_id, int64_t adding);
  // One more queued or running task.
  Status checkConcurrentTasks(std::string_view project_id);

  const QuotaLimits& defaults() const { return defaults_; }

 private:
  Result<int64_t> countRows(store::ResourceKind kind, std::string_view project_id,
                            std::vector<std::string> states);

  store::MetadataStore& store_;
  const ClusterRegistry& registry_;
  const QuotaLimits defaults_;
};

}  // namespace tendril::service
