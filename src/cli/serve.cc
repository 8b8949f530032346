// `tendril serve [--config FILE] [--listen HOST:PORT] [--data-dir DIR] [--set KEY=VALUE]...`:
// runs the service until SIGINT or SIGTERM; SIGHUP re-reads the policy file.
//
// Settings come from, in rising precedence: the built-in defaults, the config file (--config or
// TENDRIL_CONFIG), TENDRIL_<KEY> environment variables, and the command line. docs/operations.md
// lists them all; `--print-config` prints the effective configuration and exits.
//
// Prints `listening on http://HOST:PORT` once bound (with the real port when 0 was asked for),
// so scripts and tests can wait for it. Exit status: 0 after a clean stop, 1 when the service
// cannot start (address in use, unreadable data directory, bad policy file), 2 on invalid
// options or settings.
#include <pthread.h>
#include <signal.h>

#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/service_app.h"
#include "service/clock.h"
#include "service/config.h"

namespace tendril::cli {
namespace {

constexpr int kCannotStart = 1;
constexpr int kInvalidOptions = 2;

struct ServeOptions {
  std::string config_file;
  std::string listen;
  std::string data_dir;
  std::vector<std::string> settings;  // KEY=VALUE
  bool print_config = false;
};

Result<service::ServiceConfig> effectiveConfig(const ServeOptions& options,
                                               const service::Environment& env) {
  std::optional<std::filesystem::path> file;
  if (!options.config_file.empty()) {
    file = options.config_file;
  } else if (std::optional<std::string> from_env = env(service::kConfigFileEnv)) {
    file = *from_env;
  }
  Result<service::ServiceConfig> config = service::loadConfig(file, env);
  if (!config.ok()) return config.status();
  for (const std::string& setting : options.settings) {
    size_t equals = setting.find('=');
    if (equals == std::string::npos) {
      return Status::Invalid("--set takes KEY=VALUE, got '" + setting + "'");
    }
    TENDRIL_RETURN_IF_ERROR(
        service::applySetting(*config, setting.substr(0, equals), setting.substr(equals + 1)));
  }
  if (!options.listen.empty()) {
    TENDRIL_RETURN_IF_ERROR(service::applySetting(*config, "listen", options.listen));
  }
  if (!options.data_dir.empty()) {
    TENDRIL_RETURN_IF_ERROR(service::applySetting(*config, "data_dir", options.data_dir));
  }
  TENDRIL_RETURN_IF_ERROR(config->validate());
  return config;
}

// Log lines on stderr: "<ISO time> <level> <message>", below `threshold` dropped.
class Log {
 public:
  explicit Log(service::LogLevel threshold) : threshold_(threshold) {}
  void operator()(service::LogLevel level, const std::string& message) const {
    if (level < threshold_) return;
    std::cerr << service::formatIsoTime(service::systemClock()()) << " "
              << service::logLevelName(level) << " " << message << std::endl;
  }

 private:
  service::LogLevel threshold_;
};

int runServe(const ServeOptions& options) {
  service::Environment env = service::processEnvironment();
  Result<service::ServiceConfig> config = effectiveConfig(options, env);
  if (!config.ok()) {
    std::cerr << "tendril serve: " << config.status().message() << "\n";  // before any log
    return kInvalidOptions;
  }
  if (options.print_config) {
    std::cout << service::renderConfig(*config);
    return 0;
  }
  Log log(config->log_level);
  using service::LogLevel;
  for (const std::string& warning : service::configWarnings(*config)) {
    log(LogLevel::kWarn, warning);
  }
  log(LogLevel::kInfo,
      "starting: data in " + config->data_dir.string() + ", database " +
          config->databaseFile().string() + ", policy " +
          (config->policy_file.empty() ? std::string("built in") : config->policy_file.string()));

  // Block the signals before any thread exists, so every thread inherits the mask and only
  // sigwait() below receives them: no async-signal-safety concerns.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Result<std::unique_ptr<ServiceApp>> app = ServiceApp::create(*config, env, std::cout);
  if (!app.ok()) {
    log(LogLevel::kError, "cannot start: " + app.status().message());
    return app.status().code() == Code::kInvalidArgument ? kInvalidOptions : kCannotStart;
  }
  for (const std::string& warning : (*app)->policyWarnings()) log(LogLevel::kWarn, warning);
  if (Status status = (*app)->start(); !status.ok()) {
    log(LogLevel::kError, "cannot start: " + status.message());
    return status.code() == Code::kInvalidArgument ? kInvalidOptions : kCannotStart;
  }
  Result<service::ListenAddress> listen = service::parseListenAddress(config->listen);
  std::string host = listen.ok() ? listen->host : "127.0.0.1";
  bool v6 = host.find(':') != std::string::npos;
  std::cout << "listening on http://" << (v6 ? "[" + host + "]" : host) << ":" << (*app)->port()
            << std::endl;

  while (true) {
    int received = 0;
    sigwait(&signals, &received);
    if (received == SIGHUP) {
      Status status = (*app)->reloadPolicy();
      if (status.ok()) {
        log(LogLevel::kInfo, "SIGHUP: policy reloaded");
        for (const std::string& warning : (*app)->policyWarnings()) log(LogLevel::kWarn, warning);
      } else {
        log(LogLevel::kError,
            "SIGHUP: policy not reloaded, the old one stays: " + status.message());
      }
      continue;
    }
    log(LogLevel::kInfo,
        std::string(received == SIGINT ? "SIGINT" : "SIGTERM") + ": shutting down");
    break;
  }
  (*app)->stop();
  log(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace

void addServeCommand(CLI::App& app) {
  auto options = std::make_shared<ServeOptions>();
  CLI::App* command = app.add_subcommand(
      "serve", "Run the Tendril service (HTTP and WebSocket API); see docs/operations.md");
  command->add_option("--config", options->config_file,
                      "Config file (key = value lines; default: $TENDRIL_CONFIG, else none)");
  command->add_option("--listen", options->listen,
                      "Address to listen on, HOST:PORT (port 0 picks a free one)");
  command->add_option("--data-dir", options->data_dir,
                      "Directory for the database, the token key and data");
  command->add_option("--set", options->settings,
                      "Any setting as KEY=VALUE (repeatable; overrides file and environment)");
  command->add_flag("--print-config", options->print_config,
                    "Print the effective configuration and exit");
  command->callback([options] { exitCode() = runServe(*options); });
}

}  // namespace tendril::cli
