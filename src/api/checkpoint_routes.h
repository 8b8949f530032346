// The checkpoint endpoints of docs/api.md ("Checkpoints"): save a cluster (a `checkpoint` task),
// list, read, download, upload in chunks (declare, send bytes at offsets, finalize with full
// validation) and delete. The rules live in service::CheckpointService.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "api/endpoint.h"
#include "service/checkpoints.h"

namespace tendril::api {

// {"id", "name" | null, "cluster_id" | null, "project_id", "owner_id", "kind", "state", "bytes",
//  "template_sha256" | null, "samples_trained", "synapses", "created_at", "error" | null,
//  "upload": {"size", "sha256"} | null}
nlohmann::json checkpointJson(const store::Resource& row);
std::vector<OutputField> checkpointOutput();

// Appends the endpoints. `checkpoints` must outlive them.
void addCheckpointEndpoints(std::vector<Endpoint>& out, service::CheckpointService& checkpoints);

}  // namespace tendril::api
