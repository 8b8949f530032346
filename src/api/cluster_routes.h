// The cluster endpoints of docs/api.md ("Clusters"): create from a template, read with live
// stats, list, rename, delete, read the template back, and restore a checkpoint into a cluster.
// Declared once each (method, path, roles of the shipped policy, fields with limits, output);
// the rules live in service::ClusterService and service::CheckpointService.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "api/endpoint.h"
#include "service/checkpoints.h"
#include "service/clusters.h"

namespace tendril::api {

// {"id", "name", "project_id", "owner_id", "created_at", "inputs": [{"name", "width"}], "outputs",
//  "stats": {"bricks", "neurons", "sections", "synapses", "bytes", "synapse_bytes",
//  "samples_trained"}, "last_checkpoint": {"id", "created_at"} | null, "active_task_id" | null}
nlohmann::json clusterJson(const service::ClusterView& cluster);
std::vector<OutputField> clusterOutput();

// Appends the endpoints. The services must outlive them.
void addClusterEndpoints(std::vector<Endpoint>& out, service::ClusterService& clusters,
                         service::CheckpointService& checkpoints);

}  // namespace tendril::api
