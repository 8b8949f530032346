#include "api/upload_socket.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

#include "api/dataset_routes.h"
#include "api/problem.h"
#include "api/websocket.h"

namespace tendril::api {
namespace {

using nlohmann::json;

class UploadSocket final : public WebSocketHandler {
 public:
  UploadSocket(service::DatasetService& datasets, service::Principal principal, std::string id,
               std::string instance)
      : datasets_(datasets),
        principal_(std::move(principal)),
        id_(std::move(id)),
        instance_(std::move(instance)) {}

  void onOpen(std::shared_ptr<WebSocketPeer> peer) override { peer_ = std::move(peer); }

  void onMessage(std::string_view payload, bool binary) override {
    if (binary) {
      append(payload);
    } else {
      select(payload);
    }
  }

 private:
  // {"part": name, "offset": N}: the next binary frame goes to `part` at N.
  void select(std::string_view payload) {
    selected_.reset();
    json message = json::parse(payload, nullptr, /*allow_exceptions=*/false);
    if (!message.is_object() || message.size() != 2 || !message.contains("part") ||
        !message["part"].is_string() || !message.contains("offset") ||
        !message["offset"].is_number_unsigned()) {
      refuse(Status::Invalid(
                 "send {\"part\": name, \"offset\": non-negative integer} to select a part"),
             {});
      return;
    }
    const std::string part = message["part"].get<std::string>();
    const uint64_t offset = message["offset"].get<uint64_t>();
    Result<service::DatasetPart> status = datasets_.partStatus(principal_, id_, part);
    if (!status.ok()) {
      refuse(status.status(), part);
      return;
    }
    if (status->received != offset) {
      refuse(Status::Precondition("offset " + std::to_string(offset) + " does not match the " +
                                  std::to_string(status->received) +
                                  " bytes received; resume at offset " +
                                  std::to_string(status->received)),
             part);
      return;
    }
    selected_ = Selection{part, offset};
    peer_->sendText(datasetPartJson(*status, false).dump());
  }

  void append(std::string_view payload) {
    if (!selected_) {
      refuse(Status::Precondition(
                 "select a part first: send {\"part\": name, \"offset\": received} as text"),
             {});
      return;
    }
    Result<service::DatasetPart> appended =
        datasets_.appendPart(principal_, id_, selected_->part, selected_->offset,
                             {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()});
    if (!appended.ok()) {
      std::string part = std::move(selected_->part);
      selected_.reset();
      refuse(appended.status(), part);
      return;
    }
    selected_->offset = appended->received;
    peer_->sendText(datasetPartJson(*appended, false).dump());
  }

  // One error frame; `part` is empty when the refusal concerns no part.
  void refuse(const Status& status, const std::string& part) {
    json problem = appendProblem(datasets_, principal_, id_, part, status, instance_);
    peer_->sendText(json{{"error", std::move(problem)}}.dump());
  }

  struct Selection {
    std::string part;
    uint64_t offset = 0;
  };

  service::DatasetService& datasets_;
  const service::Principal principal_;
  const std::string id_;
  const std::string instance_;
  std::shared_ptr<WebSocketPeer> peer_;
  std::optional<Selection> selected_;
};

}  // namespace

void addUploadSocket(Router& router, const Pipeline& pipeline, service::DatasetService& datasets) {
  router.addWebSocket(
      std::string(kDatasetUploadPath), [&pipeline, &datasets](const Request& request) {
        WebSocketAccept accept;
        Authorized authorized = authorizeUpgrade(request, kDatasetUploadPath, pipeline);
        if (!authorized.principal) {
          accept.refusal = std::move(authorized.refusal);
          return accept;
        }
        // The tenant check before the handshake: invisible looks exactly like unknown.
        const std::string id = request.pathParam("id");
        Result<service::Dataset> dataset = datasets.get(*authorized.principal, id);
        if (!dataset.ok()) {
          accept.refusal = Response::problem(dataset.status(), request.path);
          return accept;
        }
        accept.handler = std::make_shared<UploadSocket>(datasets, std::move(*authorized.principal),
                                                        id, request.path);
        return accept;
      });
}

}  // namespace tendril::api
