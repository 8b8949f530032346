// The subcommands of the `tendril` binary. Each command file adds itself to the CLI11 app and
// returns the process exit code through the callback it installs.
#pragma once

#include <CLI/CLI.hpp>

namespace tendril::cli {

// Every command stores its exit status here; main() returns it.
int& exitCode();

void addCheckTemplateCommand(CLI::App& app);
void addBenchCommand(CLI::App& app);
void addServeCommand(CLI::App& app);

}  // namespace tendril::cli
