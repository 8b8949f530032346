// The events WebSocket (GET /api/v1/events): after the pipeline's authentication and policy
// check, the connection receives every event its caller may see (service::EventHub decides, via
// service::Access), one JSON text frame each: {"type": "audit", "entry": {...}}. Client frames:
// {"type": "ping"} is answered {"type": "pong"}; anything else gets an error frame
// {"type": "error", "detail": "..."} and the connection stays open.
#pragma once

#include "api/api.h"
#include "api/router.h"
#include "service/events.h"

namespace tendril::api {

// `pipeline` and `hub` must outlive the router.
void addEventsSocket(Router& router, const Pipeline& pipeline, service::EventHub& hub);

}  // namespace tendril::api
