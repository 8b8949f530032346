// `tendril serve [--listen HOST:PORT] [--threads N]`: runs the HTTP service until SIGINT or
// SIGTERM. For now it serves the system routes only (health, readiness, version, metrics); the
// resource API of spec/service.md §2 is built on the same server.
//
// Prints `listening on http://HOST:PORT` once bound (with the real port when 0 was asked for),
// so scripts and tests can wait for it. Exit status: 0 after a clean stop, 1 when the address
// cannot be bound, 2 on invalid options.
#include <pthread.h>
#include <signal.h>

#include <charconv>
#include <iostream>
#include <string>
#include <thread>

#include "api/http_server.h"
#include "api/metrics.h"
#include "api/router.h"
#include "api/system_routes.h"
#include "cli/commands.h"

namespace tendril::cli {
namespace {

constexpr int kCannotListen = 1;
constexpr int kInvalidOptions = 2;

struct ServeOptions {
  std::string listen = "127.0.0.1:8080";
  size_t threads = 0;  // 0: one per hardware thread, at least two
  int read_timeout_s = 10;
  int idle_timeout_s = 30;
  size_t max_connections = 512;
};

// "HOST:PORT" or "[V6HOST]:PORT".
Status parseListen(const std::string& text, std::string* host, uint16_t* port) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return Status::Invalid("--listen must be HOST:PORT, got '" + text + "'");
  }
  *host = text.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  const char* begin = text.data() + colon + 1;
  const char* end = text.data() + text.size();
  auto [stop, error] = std::from_chars(begin, end, *port);
  if (error != std::errc() || stop != end) {
    return Status::Invalid("--listen port must be 0-65535, got '" + text.substr(colon + 1) + "'");
  }
  return Status::Ok();
}

int runServe(const ServeOptions& options) {
  std::string host;
  uint16_t port = 0;
  if (Status status = parseListen(options.listen, &host, &port); !status.ok()) {
    std::cerr << "tendril serve: " << status.message() << "\n";
    return kInvalidOptions;
  }
  size_t threads = options.threads;
  if (threads == 0) threads = std::max(2u, std::thread::hardware_concurrency());

  // Block the stop signals before any I/O thread exists, so every thread inherits the mask and
  // only sigwait() below ever receives them: no async-signal-safety concerns.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  api::MetricsRegistry metrics;
  api::Router router;
  api::addSystemRoutes(router, metrics);
  api::ServerLimits limits;
  limits.read_timeout = std::chrono::seconds(options.read_timeout_s);
  limits.idle_timeout = std::chrono::seconds(options.idle_timeout_s);
  limits.max_connections = options.max_connections;
  api::HttpServer server(std::move(router), limits, &metrics);
  if (Status status = server.start(host, port, threads); !status.ok()) {
    std::cerr << "tendril serve: " << status.message() << "\n";
    return status.code() == Code::kInvalidArgument ? kInvalidOptions : kCannotListen;
  }
  bool v6 = host.find(':') != std::string::npos;
  std::cout << "listening on http://" << (v6 ? "[" + host + "]" : host) << ":" << server.port()
            << std::endl;

  int received = 0;
  sigwait(&stop_signals, &received);
  std::cerr << "tendril serve: " << (received == SIGINT ? "SIGINT" : "SIGTERM")
            << ", shutting down\n";
  server.stop();
  return 0;
}

}  // namespace

void addServeCommand(CLI::App& app) {
  auto options = std::make_shared<ServeOptions>();
  CLI::App* command = app.add_subcommand(
      "serve",
      "Run the HTTP service (under construction: health, readiness, version and metrics only)");
  command
      ->add_option("--listen", options->listen,
                   "Address to listen on, HOST:PORT (port 0 "
                   "picks a free one)")
      ->capture_default_str();
  command
      ->add_option("--threads", options->threads,
                   "I/O threads (0: one per hardware thread, at least 2)")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  command
      ->add_option("--read-timeout", options->read_timeout_s,
                   "Seconds a client has to send a whole request")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  command
      ->add_option("--idle-timeout", options->idle_timeout_s,
                   "Seconds an idle keep-alive connection stays open")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  command
      ->add_option("--max-connections", options->max_connections,
                   "Open connections beyond which new ones get 503")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  command->callback([options] { exitCode() = runServe(*options); });
}

}  // namespace tendril::cli
