#include "api/endpoints.h"

#include "api/account_routes.h"
#include "api/auth_routes.h"
#include "api/log_routes.h"
#include "api/openapi.h"
#include "api/system_endpoints.h"
#include "api/system_routes.h"

namespace tendril::api {
namespace {

// The routes outside the endpoint pipeline (probes, metrics, the API page): not declared as
// Endpoints because they answer without credentials or policy and not always in JSON, but
// described in the document like every other route.
void describePlainRoutes(nlohmann::json& document) {
  auto plain = [&document](const std::string& path, const std::string& summary,
                           const std::string& content_type, const std::string& description) {
    document["paths"][path]["get"] = {
        {"operationId", "system." + path.substr(path.rfind('/') + 1)},
        {"summary", summary},
        {"tags", {"system"}},
        {"security", nlohmann::json::array()},
        {"x-roles", {"anonymous"}},
        {"description", description + " Outside the policy: needs no credentials."},
        {"responses",
         {{"200",
           {{"description", summary}, {"content", {{content_type, nlohmann::json::object()}}}}}}}};
  };
  plain("/healthz", "Liveness: 200 while the process answers", "application/json",
        "Body {\"status\": \"ok\"}.");
  plain("/readyz", "Readiness: 200 when the store is open, 503 otherwise", "application/json",
        "Body {\"status\": \"ready\"}, or a 503 problem.");
  plain("/api/v1/version", "The server's name and version", "application/json",
        "Body {\"name\": \"tendril\", \"version\": \"...\"}.");
  plain("/metrics", "Prometheus metrics", "text/plain",
        "Text exposition format 0.0.4: requests, latency, connections, logins, store errors.");
  plain("/api/docs", "This API as a browsable page", "text/html",
        "A self-contained page rendering /api/v1/openapi.json.");
}

}  // namespace

std::vector<Endpoint> declareEndpoints(const Services& services,
                                       std::shared_ptr<const nlohmann::json>* openapi) {
  std::vector<Endpoint> endpoints;
  addAuthEndpoints(endpoints, services.auth, services.accounts);
  addAccountEndpoints(endpoints, services.accounts);
  addLogEndpoints(endpoints, services.audit);
  if (services.more_endpoints) services.more_endpoints(endpoints);
  addSystemEndpoints(endpoints, services.policy, services.reload_policy, openapi);
  nlohmann::json document = openApiDocument(endpoints, kServiceVersion);
  describePlainRoutes(document);
  *openapi = std::make_shared<const nlohmann::json>(std::move(document));
  return endpoints;
}

}  // namespace tendril::api
