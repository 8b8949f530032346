// Declared endpoints of the service itself: the OpenAPI document, the policy reload, the host's
// figures for monitoring (service/host_stats.h) and the plain-HTTP face of the events WebSocket
// (so the policy and the OpenAPI document cover it).
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "api/endpoint.h"
#include "service/policy.h"

namespace tendril::api {

inline constexpr std::string_view kEventsPath = "/api/v1/events";

// `document` is served by GET /api/v1/openapi.json; the caller fills it once every endpoint is
// declared (the document describes itself too). `reload_policy` re-reads the policy file (with
// the server's checks); `policy` must outlive the routes.
void addSystemEndpoints(std::vector<Endpoint>& out, service::PolicyHolder& policy,
                        std::function<Status()> reload_policy,
                        std::shared_ptr<const nlohmann::json>* document);

}  // namespace tendril::api
