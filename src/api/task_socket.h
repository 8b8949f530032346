// The task events WebSocket (GET /api/v1/tasks/{id}/events): the task's JSON (as GET
// /tasks/{id}) once on connect, again on every change — each state change, and progress at most
// every 200 ms while it runs — and a final one when it ends, after which the server closes with
// 1000. Connecting to a task that has already ended gives that one final message and the close.
//
// Before the handshake: authentication and the policy (as every route), then the tenant check:
// a task the caller may not see (or that does not exist) is refused with the same 404
// problem+json as GET /tasks/{id}. The socket only sends: a client message is answered with an
// error frame {"error": problem} and otherwise ignored.
#pragma once

#include "api/api.h"
#include "api/router.h"
#include "service/tasks.h"

namespace tendril::api {

// `pipeline` and `tasks` must outlive the router.
void addTaskSocket(Router& router, const Pipeline& pipeline, service::TaskService& tasks);

}  // namespace tendril::api
