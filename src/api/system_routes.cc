#include "api/system_routes.h"

#include <nlohmann/json.hpp>

namespace tendril::api {

void addSystemRoutes(Router& router, const MetricsRegistry& metrics, ReadinessProbe ready) {
  // Liveness only says the process answers; it must not depend on anything that can be slow.
  router.add("GET", "/healthz", [](const Request&) {
    return Response::json(200, {{"status", "ok"}});
  });
  router.add("GET", "/readyz", [ready = std::move(ready)](const Request& request) {
    if (ready) {
      Status status = ready();
      if (!status.ok()) {
        return Response::problem(TransportProblem::kServiceUnavailable, status.message(),
                                 request.path);
      }
    }
    return Response::json(200, {{"status", "ready"}});
  });
  router.add("GET", "/api/v1/version", [](const Request&) {
    return Response::json(200, {{"name", kServiceName}, {"version", kServiceVersion}});
  });
  router.add("GET", "/metrics", [&metrics](const Request&) {
    return Response::text(200, metrics.render(), std::string(kMetricsContentType));
  });
}

}  // namespace tendril::api
