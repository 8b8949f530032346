#include "cli/service_app.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

#include "api/api.h"
#include "api/api_page.h"
#include "api/checkpoint_routes.h"
#include "api/cluster_routes.h"
#include "api/dataset_routes.h"
#include "api/direct_socket.h"
#include "api/endpoints.h"
#include "api/events_socket.h"
#include "api/quota_routes.h"
#include "api/result_routes.h"
#include "api/task_routes.h"
#include "api/task_socket.h"
#include "api/upload_socket.h"
#include "api/http_server.h"
#include "api/metrics.h"
#include "api/router.h"
#include "api/static_files.h"
#include "api/template_routes.h"
#include "api/system_routes.h"
#include "service/accounts.h"
#include "service/audit.h"
#include "service/auth.h"
#include "service/checkpoints.h"
#include "service/clusters.h"
#include "service/datasets.h"
#include "service/live_cluster.h"
#include "service/quotas.h"
#include "service/results.h"
#include "service/scheduler.h"
#include "service/tasks.h"
#include "service/uploads.h"
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
  limits.handler_threads = static_cast<size_t>(config.handler_threads);
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
  void addResourceEndpoints(std::vector<api::Endpoint>& out);
  service::ClusterLookup clusterLookup() {
    return [this](const service::Principal& caller, std::string_view id) {
      return clusters->open(caller, id);
    };
  }
  void shutdown();

  service::ServiceConfig config;
  std::unique_ptr<store::MetadataStore> store;
  std::unique_ptr<service::AuthService> auth;
  service::EventHub events;
  std::unique_ptr<service::AuditLog> audit;
  std::unique_ptr<service::AccountService> accounts;
  std::unique_ptr<service::PolicyHolder> policy;

  // The ML resources. Declared in dependency order, so they are destroyed the other way round.
  service::ClusterRegistry registry;
  std::unique_ptr<service::Quotas> quotas;
  std::unique_ptr<service::DatasetService> datasets;
  std::unique_ptr<service::Scheduler> scheduler;
  std::unique_ptr<service::TaskService> tasks;
  std::unique_ptr<service::ResultService> results;
  std::unique_ptr<service::ClusterService> clusters;
  std::unique_ptr<service::UploadStaging> checkpoint_uploads;
  std::unique_ptr<service::CheckpointService> checkpoints;
  bool stopped = false;

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

namespace {

// The clusters, datasets, tasks, results, checkpoints and quotas, over the opened store: then
// interrupted tasks are marked, every cluster is restored from its newest checkpoint, and
// autosave starts.
Status buildResources(ServiceApp::Parts& parts, const service::Clock& clock) {
  const service::ServiceConfig& config = parts.config;
  parts.quotas = std::make_unique<service::Quotas>(
      *parts.store, parts.registry,
      service::QuotaLimits{config.quota_clusters, config.quota_synapse_bytes,
                           config.quota_dataset_bytes, config.quota_concurrent_tasks});
  parts.datasets = std::make_unique<service::DatasetService>(
      *parts.store, *parts.quotas, clock,
      service::DatasetSettings{config.data_dir, static_cast<uint64_t>(config.max_upload_bytes)});
  service::Scheduler::Options scheduler;
  scheduler.threads = static_cast<unsigned>(config.engine_threads);
  scheduler.slice = std::chrono::milliseconds(config.task_slice_ms);
  parts.scheduler = std::make_unique<service::Scheduler>(scheduler);
  service::TaskService::Options task_options;
  task_options.data_dir = config.data_dir;
  task_options.clock = clock;
  parts.tasks = std::make_unique<service::TaskService>(*parts.store, *parts.scheduler,
                                                       *parts.datasets, *parts.quotas,
                                                       parts.events, parts.clusterLookup(),
                                                       task_options);
  parts.results = std::make_unique<service::ResultService>(*parts.store, *parts.datasets,
                                                           config.data_dir / "results");
  service::ClusterOptions cluster_options;
  cluster_options.data_dir = config.data_dir;
  parts.clusters = std::make_unique<service::ClusterService>(
      *parts.store, parts.registry, *parts.quotas, *parts.tasks, clock, cluster_options);
  parts.checkpoint_uploads = std::make_unique<service::UploadStaging>(config.data_dir / "uploads");
  service::CheckpointOptions checkpoint_options;
  checkpoint_options.data_dir = config.data_dir;
  checkpoint_options.autosave_interval = std::chrono::seconds(config.autosave_interval_s);
  checkpoint_options.max_upload_bytes = static_cast<uint64_t>(config.max_upload_bytes);
  checkpoint_options.log = parts.audit.get();
  parts.checkpoints = std::make_unique<service::CheckpointService>(
      *parts.store, *parts.clusters, *parts.tasks, *parts.checkpoint_uploads, clock,
      checkpoint_options);

  parts.accounts->addProjectContent(parts.clusters->projectContent());
  parts.accounts->addProjectContent(parts.datasets->projectContent());
  parts.accounts->addProjectContent(parts.checkpoints->projectContent());

  TENDRIL_RETURN_IF_ERROR(parts.tasks->recoverInterrupted());
  TENDRIL_RETURN_IF_ERROR(parts.datasets->removeOrphanFiles());
  TENDRIL_RETURN_IF_ERROR(parts.checkpoints->loadAll());
  parts.checkpoints->startAutosave();
  return Status::Ok();
}

}  // namespace

void ServiceApp::Parts::addResourceEndpoints(std::vector<api::Endpoint>& out) {
  api::addClusterEndpoints(out, *clusters, *checkpoints);
  api::addTemplateEndpoints(out);
  api::addDatasetEndpoints(out, *datasets);
  api::addTaskEndpoints(out, *tasks);
  api::addResultEndpoints(out, *results);
  api::addCheckpointEndpoints(out, *checkpoints);
  api::addQuotaEndpoints(out, *quotas, *accounts);
  api::addDirectEndpoints(out);
}

// Stops the work in a safe order: no new requests, then the tasks stop at their next cycle
// (marked interrupted), then every changed cluster is saved.
void ServiceApp::Parts::shutdown() {
  if (stopped) return;
  stopped = true;
  if (server) server->stop();
  if (checkpoints) checkpoints->stopAutosave();
  if (tasks) tasks->stop();
  if (scheduler) scheduler->stop();
  if (checkpoints) {
    Status saved = checkpoints->saveAllNow();
    if (!saved.ok()) std::cerr << "autosave on shutdown failed: " << saved.toString() << "\n";
  }
}

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

  if (Status status = buildResources(*parts, clock); !status.ok()) return status;

  // The policy holder exists before the endpoints (the reload endpoint needs it) and receives
  // the real policy once every endpoint is declared.
  Result<service::Policy> placeholder = service::Policy::parse("", "none");
  if (!placeholder.ok()) return placeholder.status();
  parts->policy = std::make_unique<service::PolicyHolder>(
      std::move(*placeholder), config.policy_file.empty()
                                   ? std::nullopt
                                   : std::optional<std::filesystem::path>(config.policy_file));
  Parts* raw = parts.get();
  parts->endpoints = api::declareEndpoints(
      api::Services{*parts->auth, *parts->accounts, *parts->audit, *parts->policy,
                    [raw] { return raw->reloadPolicy(); },
                    [raw](std::vector<api::Endpoint>& more) { raw->addResourceEndpoints(more); }},
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
  // The web dashboard at / (every GET outside /api that no route has).
  router.setFallback([dir = config.dashboard_dir](const api::Request& request) {
    return api::serveStaticFile(dir, request);
  });
  api::addEventsSocket(router, *parts->pipeline, parts->events);
  api::addUploadSocket(router, *parts->pipeline, *parts->datasets);
  api::addTaskSocket(router, *parts->pipeline, *parts->tasks);
  service::Quotas* quotas = parts->quotas.get();
  api::addDirectSocket(router, *parts->pipeline, parts->clusterLookup(),
                       [quotas](std::string_view project_id) {
                         return quotas->checkSynapseBytes(project_id);
                       });
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

const std::vector<api::Endpoint>& ServiceApp::endpoints() const { return parts_->endpoints; }

std::shared_ptr<const nlohmann::json> ServiceApp::openapi() const { return parts_->openapi; }

void ServiceApp::stop() {
  if (parts_) parts_->shutdown();
}

}  // namespace tendril::cli
