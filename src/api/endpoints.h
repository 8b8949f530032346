// Every endpoint of the API, declared in one list: what installEndpoints() serves, what the
// OpenAPI document describes and what the default policy (config/policy.conf) grants.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "api/endpoint.h"
#include "service/accounts.h"
#include "service/audit.h"
#include "service/auth.h"
#include "service/policy.h"

namespace tendril::api {

// The services the handlers call; all must outlive the endpoints.
struct Services {
  service::AuthService& auth;
  service::AccountService& accounts;
  service::AuditLog& audit;
  service::PolicyHolder& policy;
  // Re-reads the policy file with the server's checks (reloadPolicyFile in api.h).
  std::function<Status()> reload_policy;
  // Adds the endpoints of modules this library does not link (clusters, datasets, tasks...);
  // may be empty. Called before the OpenAPI document is built, so it describes them too.
  std::function<void(std::vector<Endpoint>&)> more_endpoints;
};

// All endpoints, and `*openapi` filled with their OpenAPI document (GET /api/v1/openapi.json
// serves it).
std::vector<Endpoint> declareEndpoints(const Services& services,
                                       std::shared_ptr<const nlohmann::json>* openapi);

}  // namespace tendril::api
