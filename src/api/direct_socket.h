// The direct-IO WebSocket, GET /api/v1/clusters/{id}/direct: request and train frames on one
// cluster, one reply per frame, in order (service/direct.h has the frames and their promises).
//
// Before the handshake, the pipeline's authentication and policy check (authorizeUpgrade) and
// then the tenant check: the cluster is found through the ClusterLookup with the caller's
// Principal, and a cluster the caller may not see is refused 404 with the same problem as an
// unknown id. Frames run on the connection's strand: a request takes microseconds, a train frame
// waits at most for one training cycle of a task on the same cluster. Error frames keep the
// connection open, and so does a deleted cluster: its frames are answered 404 "cluster deleted"
// (the session lets go of the cluster's memory when the connection ends). The server's
// WebSocket limits apply (message size, idle timeout with pings, outgoing queue).
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "api/api.h"
#include "api/endpoint.h"
#include "api/router.h"
#include "common/status.h"
#include "service/direct.h"
#include "service/live_cluster.h"
#include "service/principal.h"

namespace tendril::api {

inline constexpr std::string_view kDirectPath = "/api/v1/clusters/{id}/direct";

// Finds a cluster the caller may see: NotFound when unknown or invisible (ClusterService::open).
using ClusterLookup = std::function<Result<std::shared_ptr<service::LiveCluster>>(
    const service::Principal&, std::string_view)>;

// The plain-HTTP face of the route (a GET answering 400 "connect with an upgrade request"), so
// the policy, the default policy file and the OpenAPI document cover it.
void addDirectEndpoints(std::vector<Endpoint>& out);

// Registers the WebSocket route. `pipeline` must outlive the router; `lookup` and
// `check_synapse_quota` are called on I/O threads (the latter before train frames, see
// service::DirectOptions; null: no quota check).
void addDirectSocket(Router& router, const Pipeline& pipeline, ClusterLookup lookup,
                     service::SynapseQuotaCheck check_synapse_quota = nullptr);

}  // namespace tendril::api
