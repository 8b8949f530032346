#include "api/task_socket.h"

#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "api/problem.h"
#include "api/task_routes.h"
#include "api/websocket.h"

namespace tendril::api {
namespace {

using nlohmann::json;

// The close once the task has ended (1000: normal closure).
constexpr uint16_t kCloseNormal = 1000;

std::string errorFrame(const Status& status, std::string_view instance) {
  return json{{"error", json::parse(Response::problem(status, instance).body)}}.dump();
}

class TaskEventsSocket final : public WebSocketHandler {
 public:
  TaskEventsSocket(service::TaskService& tasks, service::Principal principal, std::string id,
                   std::string instance)
      : tasks_(tasks),
        principal_(std::move(principal)),
        id_(std::move(id)),
        instance_(std::move(instance)) {}

  void onOpen(std::shared_ptr<WebSocketPeer> peer) override {
    peer_ = peer;
    // Deliveries run on task threads; the peer is thread-safe and outlives the connection.
    Result<uint64_t> watch =
        tasks_.watch(principal_, id_, [peer](const json& task, bool final) {
          peer->sendText(task.dump());
          if (final) peer->close(kCloseNormal, "the task has ended");
        });
    if (!watch.ok()) {
      // Deleted between the accept step and now.
      peer->sendText(errorFrame(watch.status(), instance_));
      peer->close(kCloseNormal, "no such task");
      return;
    }
    watch_ = *watch;
  }

  void onMessage(std::string_view, bool) override {
    peer_->sendText(errorFrame(
        Status::Invalid("this socket only sends the task's progress; send nothing"), instance_));
  }

  void onClose() override {
    if (watch_ != 0) tasks_.unwatch(watch_);
    watch_ = 0;
  }

 private:
  service::TaskService& tasks_;
  const service::Principal principal_;
  const std::string id_;
  const std::string instance_;
  std::shared_ptr<WebSocketPeer> peer_;
  uint64_t watch_ = 0;
};

}  // namespace

void addTaskSocket(Router& router, const Pipeline& pipeline, service::TaskService& tasks) {
  router.addWebSocket(std::string(kTaskEventsPath), [&pipeline, &tasks](const Request& request) {
    WebSocketAccept accept;
    Authorized authorized = authorizeUpgrade(request, kTaskEventsPath, pipeline);
    if (!authorized.principal) {
      accept.refusal = std::move(authorized.refusal);
      return accept;
    }
    // The tenant check before the handshake: invisible looks exactly like unknown.
    const std::string id = request.pathParam("id");
    Result<store::Resource> task = tasks.get(*authorized.principal, id);
    if (!task.ok()) {
      accept.refusal = Response::problem(task.status(), request.path);
      return accept;
    }
    accept.handler = std::make_shared<TaskEventsSocket>(tasks, std::move(*authorized.principal),
                                                        id, request.path);
    return accept;
  });
}

}  // namespace tendril::api
