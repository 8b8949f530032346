// Routes every Tendril server answers whatever else it serves: liveness (/healthz), readiness
// (/readyz), the version (/api/v1/version) and Prometheus metrics (/metrics). They need no
// authentication and touch no tenant data.
#pragma once

#include <functional>

#include "api/metrics.h"
#include "api/router.h"
#include "common/status.h"

namespace tendril::api {

inline constexpr std::string_view kServiceName = "tendril";
inline constexpr std::string_view kServiceVersion = TENDRIL_VERSION;

// Says whether the service can take traffic (store open, recovery done); an error makes
// /readyz answer 503 so a load balancer sends requests elsewhere. Called on an I/O thread for
// each probe, so it must be cheap.
using ReadinessProbe = std::function<Status()>;

// `metrics` must outlive the router; a null `ready` means always ready.
void addSystemRoutes(Router& router, const MetricsRegistry& metrics, ReadinessProbe ready = {});

}  // namespace tendril::api
