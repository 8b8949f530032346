// The assembled service behind `tendril serve`: configuration in, a running HTTP + WebSocket
// server out. It opens the store, loads the token key, bootstraps the first admin, builds the
// services, declares every endpoint, loads the policy and starts the server — in that order, so
// a bad configuration fails before anything listens.
//
// Not thread-safe itself: create, start, reloadPolicy and stop from one thread (serve.cc's
// signal loop); the server it runs is concurrent.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/endpoint.h"
#include "common/status.h"
#include "service/config.h"

namespace tendril::cli {

class ServiceApp {
 public:
  // Everything up to (not including) listening. `out` gets the first-admin lines (the one-time
  // password); policyWarnings() then lists what the policy check found.
  static Result<std::unique_ptr<ServiceApp>> create(const service::ServiceConfig& config,
                                                    const service::Environment& env,
                                                    std::ostream& out);
  ~ServiceApp();

  Status start();
  uint16_t port() const;
  // Re-reads the policy file (SIGHUP; the reload endpoint does the same) and checks it against
  // the routes; the old policy stays on error.
  Status reloadPolicy();
  // Warnings of the last policy check (routes no rule covers).
  const std::vector<std::string>& policyWarnings() const;
  void stop();

  // Every declared endpoint and their OpenAPI document (for tests and tools).
  const std::vector<api::Endpoint>& endpoints() const;
  std::shared_ptr<const nlohmann::json> openapi() const;

  struct Parts;  // the assembled pieces (service_app.cc)

 private:
  explicit ServiceApp(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace tendril::cli
