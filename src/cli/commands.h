// The subcommands of the `tendril` binary. Each command file adds itself to the CLI11 app and
// returns the process exit code through the callback it installs.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "common/status.h"

namespace tendril::cli {

// Every command stores its exit status here; main() returns it.
int& exitCode();

void addCheckTemplateCommand(CLI::App& app);
void addBenchCommand(CLI::App& app);
void addServeCommand(CLI::App& app);

// The client of the service (docs/cli.md): login, logout, whoami, user, project, apikey, quota,
// audit, version (client_commands_account.cc); cluster, dataset, task, result, checkpoint
// (client_commands_ml.cc); direct (client_commands_direct.cc).
void addAccountCommands(CLI::App& app);
void addMlCommands(CLI::App& app);
void addDirectCommand(CLI::App& app);

// `tendril bench --direct` (bench_direct.cc): its options on the bench command, and the run, which
// also reads the bench's --template and --json from `options`.
struct BenchOptions;
struct DirectBenchOptions {
  bool enabled = false;
  int frames = 2000;
  std::string encoding = "both";
};
void addDirectBenchOptions(CLI::App& bench, DirectBenchOptions& options);
Status runDirectBench(const DirectBenchOptions& direct, const BenchOptions& options);

}  // namespace tendril::cli
