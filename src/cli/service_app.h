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

#include "common/status.h"
#include "service/config.h"

namespace tendril::cli {

class ServiceApp {
 public:
  // Everything up to (not including) listening. `out` gets the one-time admin password line.
  static Result<std::unique_ptr<ServiceApp>> create(const service::ServiceConfig& config,
                                                    const service::Environment& env,
                                                    std::ostream& out);
  ~ServiceApp();

  Status start();
  uint16_t port() const;
  // Re-reads the policy file (SIGHUP); the old policy stays on error.
  Status reloadPolicy();
  void stop();

 private:
  struct Parts;
  explicit ServiceApp(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace tendril::cli
