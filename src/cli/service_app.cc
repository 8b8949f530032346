#include "cli/service_app.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

#include "api/api.h"
#include "api/api_page.h"
#include "api/endpoints.h"
#include "api/events_socket.h"
#include "api/http_server.h"
#include "api/metrics.h"
#include "api/router.h"
#include "api/system_routes.h"
#include "service/accounts.h"
#include "service/audit.h"
#include "service/auth.h"
#include "service/clock.h"
#include "service/credentials.h"
#include "service/events.h"
#include "service/policy.h"
#include "store/store.h"

namespace tendril::cli {
namespace {

service::AuthSettings authSettings(const service::ServiceConfig& config, std::string key) {
  service::AuthSettings settings;
  settings.token_key = std::move(key);
  settings.issuer = config.token_issuer;
  settings.access_ttl_s = config.access_token_ttl_s;
  settings.refresh_ttl_s = config.refresh_token_ttl_s;
  settings.hash_cost = config.password_hash_cost;
  settings.throttle.max_failures = config.login_max_failures;
  settings.throttle.window = std::chrono::seconds(config.login_window_s);
  settings.throttle.lockout = std::chrono::seconds(config.login_lockout_s);
  return settings;
}

api::ServerLimits serverLimits(const service::ServiceConfig& config) {
  api::ServerLimits limits;
  limits.max_body_bytes = config.max_body_bytes;
  limits.max_header_bytes = config.max_header_bytes;
  limits.read_timeout = std::chrono::seconds(config.read_timeout_s);
  limits.idle_timeout = std::chrono::seconds(config.idle_timeout_s);
  limits.max_connections = config.max_connections;
  limits.ws_max_message_bytes = config.ws_max_message_bytes;
  limits.ws_idle_timeout = std::chrono::seconds(config.ws_idle_timeout_s);
  return limits;
}

// The policy in force at start: the file when configured, else the one the declarations
// describe; checked against the routes either way (api::checkPolicy).
Result<service::Policy> initialPolicy(const service::ServiceConfig& config,
                                      const std::vector<api::Endpoint>& endpoints,
                                      std::vector<std::string>* warnings) {
  Result<service::Policy> policy =
      config.policy_file.empty()
          ? service::Policy::parse(api::defaultPolicyText(endpoints), "built-in policy")
          : service::readPolicyFile(config.policy_file);
  if (!policy.ok()) return policy.status();
  TENDRIL_RETURN_IF_ERROR(api::checkPolicy(*policy, endpoints, warnings));
  return policy;
}

}  // namespace

struct ServiceApp::Parts {
  Status reloadPolicy();

  service::ServiceConfig config;
  std::unique_ptr<store::MetadataStore> store;
  std::unique_ptr<service::AuthService> auth;
  service::EventHub events;
  std::unique_ptr<service::AuditLog> audit;
  std::unique_ptr<service::AccountService> accounts;
  std::unique_ptr<service::PolicyHolder> policy;
  std::vector<api::Endpoint> endpoints;
  std::mutex reload_mutex;            // SIGHUP and the reload endpoint may overlap
  std::vector<std::string> warnings;  // from the last policy check, for the log
  api::MetricsRegistry metrics;
  std::unique_ptr<api::Pipeline> pipeline;
  std::shared_ptr<const nlohmann::json> openapi;
  std::unique_ptr<api::HttpServer> server;
  std::string host;
  uint16_t port = 0;
};

ServiceApp::ServiceApp(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

ServiceApp::~ServiceApp() { stop(); }

Result<std::unique_ptr<ServiceApp>> ServiceApp::create(const service::ServiceConfig& config,
                                                       const service::Environment& env,
                                                       std::ostream& out) {
  if (Status status = config.validate(); !status.ok()) return status;
  Result<service::ListenAddress> listen = service::parseListenAddress(config.listen);
  if (!listen.ok()) return listen.status();
  if (Status status = service::initCredentials(); !status.ok()) return status;

  auto parts = std::make_unique<Parts>();
  parts->config = config;
  parts->host = listen->host;
  parts->port = listen->port;

  std::error_code error;
  std::filesystem::create_directories(config.data_dir, error);
  if (error) {
    return Status::Io("cannot create the data directory " + config.data_dir.string() + ": " +
                      error.message());
  }
  Result<std::string> key = service::loadOrCreateTokenKey(config, env);
  if (!key.ok()) return key.status();
  Result<std::unique_ptr<store::MetadataStore>> store =
      store::openSqliteStore(config.databaseFile());
  if (!store.ok()) return store.status();
  parts->store = std::move(*store);

  service::Clock clock = service::systemClock();
  parts->auth = std::make_unique<service::AuthService>(*parts->store, clock,
                                                       authSettings(config, std::move(*key)));
  parts->audit = std::make_unique<service::AuditLog>(*parts->store, clock, &parts->events);
  parts->accounts =
      std::make_unique<service::AccountService>(*parts->store, clock, config.password_hash_cost);

  Result<service::AuthService::Bootstrap> admin =
      parts->auth->bootstrapAdmin(env(service::kAdminNameEnv), env(service::kAdminPasswordEnv));
  if (!admin.ok()) return admin.status();
  if (admin->created) {
    out << "admin user: " << admin->name << "\n";
    if (!admin->generated_password.empty()) {
      out << "admin password: " << admin->generated_password
          << "\n(generated once: it is not stored in clear and will not be shown again)\n";
    }
    out.flush();
  }

  // The policy holder exists before the endpoints (the reload endpoint needs it) and receives
  // the real policy once every endpoint is declared.
  Result<service::Policy> placeholder = service::Policy::parse("", "none");
  if (!placeholder.ok()) return placeholder.status();
  parts->policy = std::make_unique<service::PolicyHolder>(
      std::move(*placeholder), config.policy_file.empty()
                                   ? std::nullopt
                                   : std::optional<std::filesystem::path>(config.policy_file));
  Parts* raw = parts.get();
  parts->endpoints =
      api::declareEndpoints(api::Services{*parts->auth, *parts->accounts, *parts->audit,
                                          *parts->policy, [raw] { return raw->reloadPolicy(); }},
                            &parts->openapi);
  const std::vector<api::Endpoint>& endpoints = parts->endpoints;
  Result<service::Policy> policy = initialPolicy(config, endpoints, &parts->warnings);
  if (!policy.ok()) return policy.status();
  parts->policy->replace(std::move(*policy));

  parts->pipeline = std::make_unique<api::Pipeline>(
      api::Pipeline{*parts->auth, *parts->policy, *parts->audit, parts->metrics});
  parts->metrics.observedCounter(
      "tendril_store_errors_total",
      "Database operations that failed for reasons other than a constraint (locked, I/O, "
      "corruption)",
      [] { return store::databaseErrorCount(); });
  api::Router router;
  store::MetadataStore* store_ptr = parts->store.get();
  api::addSystemRoutes(router, parts->metrics,
                       [store_ptr]() -> Status { return store_ptr->countAdmins().status(); });
  router.add("GET", "/api/docs", [](const api::Request&) {
    return api::Response::text(200, api::apiPageHtml(), "text/html; charset=utf-8");
  });
  api::installEndpoints(router, endpoints, *parts->pipeline);
  api::addEventsSocket(router, *parts->pipeline, parts->events);
  parts->server =
      std::make_unique<api::HttpServer>(std::move(router), serverLimits(config), &parts->metrics);
  return std::unique_ptr<ServiceApp>(new ServiceApp(std::move(parts)));
}

Status ServiceApp::start() {
  int threads = parts_->config.io_threads;
  if (threads == 0) threads = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  return parts_->server->start(parts_->host, parts_->port, static_cast<size_t>(threads));
}

uint16_t ServiceApp::port() const { return parts_->server->port(); }

Status ServiceApp::reloadPolicy() { return parts_->reloadPolicy(); }

Status ServiceApp::Parts::reloadPolicy() {
  std::lock_guard lock(reload_mutex);
  if (config.policy_file.empty()) {
    return Status::Precondition(
        "the server runs on its built-in policy; set policy_file to "
        "reload one from a file");
  }
  warnings.clear();
  return api::reloadPolicyFile(*policy, config.policy_file, endpoints, &warnings);
}

const std::vector<std::string>& ServiceApp::policyWarnings() const { return parts_->warnings; }

void ServiceApp::stop() {
  if (parts_ && parts_->server) parts_->server->stop();
}

}  // namespace tendril::cli
