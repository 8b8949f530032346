// The task endpoints of docs/api.md "Tasks": create (train or request, widths checked before the
// task is queued), list (by cluster and state), get, cancel, delete, and the plain-HTTP
// declaration of the task events WebSocket (api/task_socket.h) so that the policy and the
// OpenAPI document cover it. Handlers only translate between validated input and
// service::TaskService, which holds every rule; the task JSON is service::taskJson().
#pragma once

#include <string_view>
#include <vector>

#include "api/endpoint.h"
#include "service/tasks.h"

namespace tendril::api {

inline constexpr std::string_view kTaskEventsPath = "/api/v1/tasks/{id}/events";

// Appends the endpoints. `tasks` must outlive them.
void addTaskEndpoints(std::vector<Endpoint>& out, service::TaskService& tasks);

// Documents service::taskJson().
std::vector<OutputField> taskOutput();

}  // namespace tendril::api
