#include "api/events_socket.h"

#include <nlohmann/json.hpp>

#include "api/system_endpoints.h"
#include "api/websocket.h"

namespace tendril::api {
namespace {

std::string errorFrame(std::string_view detail) {
  return nlohmann::json{{"type", "error"}, {"detail", detail}}.dump();
}

class EventsSocket final : public WebSocketHandler {
 public:
  EventsSocket(service::EventHub& hub, service::Principal principal)
      : hub_(hub), principal_(std::move(principal)) {}

  void onOpen(std::shared_ptr<WebSocketPeer> peer) override {
    peer_ = peer;
    // The payload is already JSON text; wrapping it needs no re-parse.
    subscription_ = hub_.subscribe(principal_, [peer](const service::Event& event) {
      peer->sendText("{\"type\":" + nlohmann::json(event.type).dump() +
                     ",\"entry\":" + event.payload_json + "}");
    });
  }

  void onMessage(std::string_view payload, bool binary) override {
    if (binary) {
      peer_->sendText(errorFrame("binary frames are not understood here"));
      return;
    }
    nlohmann::json message = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
    if (!message.is_object() || !message.contains("type") || !message["type"].is_string()) {
      peer_->sendText(errorFrame("send a JSON object with a string \"type\""));
      return;
    }
    if (message["type"] == "ping") {
      peer_->sendText(R"({"type":"pong"})");
      return;
    }
    peer_->sendText(errorFrame("unknown message type; the only one is \"ping\""));
  }

  void onClose() override {
    if (subscription_ != 0) hub_.unsubscribe(subscription_);
    subscription_ = 0;
  }

 private:
  service::EventHub& hub_;
  const service::Principal principal_;
  std::shared_ptr<WebSocketPeer> peer_;
  uint64_t subscription_ = 0;
};

}  // namespace

void addEventsSocket(Router& router, const Pipeline& pipeline, service::EventHub& hub) {
  router.addWebSocket(std::string(kEventsPath), [&pipeline, &hub](const Request& request) {
    WebSocketAccept accept;
    Authorized authorized = authorizeUpgrade(request, kEventsPath, pipeline);
    if (!authorized.principal) {
      accept.refusal = std::move(authorized.refusal);
      return accept;
    }
    accept.handler = std::make_shared<EventsSocket>(hub, std::move(*authorized.principal));
    return accept;
  });
}

}  // namespace tendril::api
