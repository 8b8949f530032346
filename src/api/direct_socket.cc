#include "api/direct_socket.h"

#include <string>
#include <utility>

#include "api/problem.h"
#include "api/websocket.h"

namespace tendril::api {
namespace {

service::DirectErrorKind describeError(Code code) {
  const ProblemKind kind = problemKindFor(code);
  return {kind.status, kind.type, kind.title};
}

// One connection: a DirectSession fed by the strand, one reply per frame, in order.
class DirectSocket final : public WebSocketHandler {
 public:
  DirectSocket(std::shared_ptr<service::LiveCluster> cluster, service::SynapseQuotaCheck quota)
      : cluster_(std::move(cluster)), quota_(std::move(quota)) {}

  void onOpen(std::shared_ptr<WebSocketPeer> peer) override {
    peer_ = std::move(peer);
    service::DirectOptions options;
    options.describe_error = describeError;
    options.check_synapse_quota = quota_;
    session_ = std::make_unique<service::DirectSession>(std::move(cluster_), std::move(options));
  }

  void onMessage(std::string_view payload, bool binary) override {
    const service::DirectSession::Reply& reply = session_->handle(payload, binary);
    if (reply.binary) {
      peer_->sendBinary(reply.payload);
    } else {
      peer_->sendText(reply.payload);
    }
    // A deleted cluster leaves the connection open: every later frame gets the same 404 reply.
    // (Closing here would drop the reply just queued: WebSocketPeer::close() discards unsent
    // messages, and exactly one reply per frame is the promise.)
  }

  // Lets go of the cluster at once: a deleted cluster's memory goes with its last holder.
  void onClose() override { session_.reset(); }

 private:
  std::shared_ptr<service::LiveCluster> cluster_;  // until onOpen() hands it to the session
  service::SynapseQuotaCheck quota_;
  std::shared_ptr<WebSocketPeer> peer_;
  std::unique_ptr<service::DirectSession> session_;
};

}  // namespace

void addDirectEndpoints(std::vector<Endpoint>& out) {
  Endpoint direct = declareWebSocket(
      std::string(kDirectPath), "clusters.direct",
      "WebSocket: request and train frames on one cluster", kInProject,
      "Each text frame {\"id\", \"op\": \"request\"|\"train\", \"inputs\", \"expected\"} gets "
      "one JSON reply, each binary frame one binary reply, in order; errors are answered in the "
      "frame's encoding and keep the connection. The cluster must be visible to the caller (404 "
      "otherwise, before the handshake). Frames byte by byte: docs/api.md, Direct IO.");
  direct.input = {uuidInPath("id", "the cluster's id")};
  out.push_back(std::move(direct));
}

void addDirectSocket(Router& router, const Pipeline& pipeline, ClusterLookup lookup,
                     service::SynapseQuotaCheck check_synapse_quota) {
  router.addWebSocket(
      std::string(kDirectPath), [&pipeline, lookup = std::move(lookup),
                                 quota = std::move(check_synapse_quota)](const Request& request) {
        WebSocketAccept accept;
        Authorized authorized = authorizeUpgrade(request, kDirectPath, pipeline);
        if (!authorized.principal) {
          accept.refusal = std::move(authorized.refusal);
          return accept;
        }
        Result<std::shared_ptr<service::LiveCluster>> cluster =
            lookup(*authorized.principal, request.pathParam("id"));
        if (!cluster.ok()) {
          accept.refusal = Response::problem(cluster.status(), request.path);
          return accept;
        }
        if (*cluster == nullptr) {
          accept.refusal =
              Response::problem(Status::Internal("cluster lookup returned nothing"), request.path);
          return accept;
        }
        accept.handler = std::make_shared<DirectSocket>(std::move(*cluster), quota);
        return accept;
      });
}

}  // namespace tendril::api
