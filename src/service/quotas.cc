#include "service/quotas.h"

#include <string>
#include <utility>

namespace tendril::service {
namespace {

// The refusal of a check: "quota: clusters (3 of 3 in use)".
Status exceeded(std::string_view what, int64_t used, int64_t adding, int64_t limit) {
  std::string message = "quota: " + std::string(what) + " (" + std::to_string(used) + " of " +
                        std::to_string(limit) + " in use";
  if (adding > 1) message += ", " + std::to_string(adding) + " more requested";
  return Status::Exhausted(message + "); ask an admin to raise the project's quota");
}

Status checkFits(std::string_view what, int64_t used, int64_t adding, int64_t limit) {
  if (adding < 0) return Status::Invalid(std::string(what) + ": a negative amount");
  if (used + adding > limit) return exceeded(what, used, adding, limit);
  return Status::Ok();
}

nlohmann::json toJson(const QuotaLimits& limits) {
  return {{"clusters", limits.clusters},
          {"synapse_bytes", limits.synapse_bytes},
          {"dataset_bytes", limits.dataset_bytes},
          {"concurrent_tasks", limits.concurrent_tasks}};
}

}  // namespace

Quotas::Quotas(store::MetadataStore& store, const ClusterRegistry& registry, QuotaLimits defaults)
    : store_(store), registry_(registry), defaults_(defaults) {}

Result<QuotaLimits> Quotas::limits(std::string_view project_id) {
  Result<store::ProjectQuota> quota = store_.getQuota(project_id);
  if (!quota.ok()) return quota.status();
  QuotaLimits limits = defaults_;
  limits.clusters = quota->clusters.value_or(defaults_.clusters);
  limits.synapse_bytes = quota->synapse_bytes.value_or(defaults_.synapse_bytes);
  limits.dataset_bytes = quota->dataset_bytes.value_or(defaults_.dataset_bytes);
  limits.concurrent_tasks = quota->concurrent_tasks.value_or(defaults_.concurrent_tasks);
  return limits;
}

Result<int64_t> Quotas::countRows(store::ResourceKind kind, std::string_view project_id,
                                  std::vector<std::string> states) {
  store::ResourceFilter filter;
  filter.kind = kind;
  filter.project_id = std::string(project_id);
  filter.states = std::move(states);
  return store_.countResources(filter);
}

Result<QuotaUsage> Quotas::usage(std::string_view project_id) {
  QuotaUsage usage;
  Result<int64_t> clusters = countRows(store::ResourceKind::kCluster, project_id, {});
  if (!clusters.ok()) return clusters.status();
  usage.clusters = *clusters;
  Result<int64_t> tasks =
      countRows(store::ResourceKind::kTask, project_id, {"queued", "running"});
  if (!tasks.ok()) return tasks.status();
  usage.concurrent_tasks = *tasks;
  store::ResourceFilter datasets;
  datasets.kind = store::ResourceKind::kDataset;
  datasets.project_id = std::string(project_id);
  Result<int64_t> bytes = store_.sumResourceBytes(datasets);
  if (!bytes.ok()) return bytes.status();
  usage.dataset_bytes = *bytes;
  usage.synapse_bytes = static_cast<int64_t>(registry_.synapseBytes(project_id));
  return usage;
}

Result<nlohmann::json> Quotas::view(std::string_view project_id) {
  Result<store::ProjectQuota> stored = store_.getQuota(project_id);
  if (!stored.ok()) return stored.status();
  Result<QuotaLimits> current = limits(project_id);
  if (!current.ok()) return current.status();
  Result<QuotaUsage> used = usage(project_id);
  if (!used.ok()) return used.status();
  nlohmann::json defaulted = nlohmann::json::array();
  if (!stored->clusters) defaulted.push_back("clusters");
  if (!stored->synapse_bytes) defaulted.push_back("synapse_bytes");
  if (!stored->dataset_bytes) defaulted.push_back("dataset_bytes");
  if (!stored->concurrent_tasks) defaulted.push_back("concurrent_tasks");
  QuotaLimits usage_as_limits{used->clusters, used->synapse_bytes, used->dataset_bytes,
                              used->concurrent_tasks};
  return nlohmann::json{{"project_id", project_id},
                        {"limits", toJson(*current)},
                        {"usage", toJson(usage_as_limits)},
                        {"defaults", defaulted}};
}

Status Quotas::set(const store::ProjectQuota& quota) {
  for (const auto* limit :
       {&quota.clusters, &quota.synapse_bytes, &quota.dataset_bytes, &quota.concurrent_tasks}) {
    if (limit->has_value() && **limit < 0) return Status::Invalid("a quota limit is negative");
  }
  return store_.setQuota(quota);
}

Status Quotas::checkClusters(std::string_view project_id) {
  Result<QuotaLimits> limit = limits(project_id);
  if (!limit.ok()) return limit.status();
  Result<int64_t> used = countRows(store::ResourceKind::kCluster, project_id, {});
  if (!used.ok()) return used.status();
  return checkFits("clusters", *used, 1, limit->clusters);
}

Status Quotas::checkSynapseBytes(std::string_view project_id) {
  Result<QuotaLimits> limit = limits(project_id);
  if (!limit.ok()) return limit.status();
  const auto used = static_cast<int64_t>(registry_.synapseBytes(project_id));
  if (used >= limit->synapse_bytes) return exceeded("synapse bytes", used, 0, limit->synapse_bytes);
  return Status::Ok();
}

Status Quotas::checkDatasetBytes(std::string_view project_id, int64_t adding) {
  Result<QuotaLimits> limit = limits(project_id);
  if (!limit.ok()) return limit.status();
  store::ResourceFilter datasets;
  datasets.kind = store::ResourceKind::kDataset;
  datasets.project_id = std::string(project_id);
  Result<int64_t> used = store_.sumResourceBytes(datasets);
  if (!used.ok()) return used.status();
  return checkFits("dataset bytes", *used, adding, limit->dataset_bytes);
}

Status Quotas::checkConcurrentTasks(std::string_view project_id) {
  Result<QuotaLimits> limit = limits(project_id);
  if (!limit.ok()) return limit.status();
  Result<int64_t> used =
      countRows(store::ResourceKind::kTask, project_id, {"queued", "running"});
  if (!used.ok()) return used.status();
  return checkFits("concurrent tasks", *used, 1, limit->concurrent_tasks);
}

}  // namespace tendril::service
