// The `tendril` binary: the service, the CLI client and the local tools in one executable.
#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"Tendril: grow neural networks on raw data"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tendril 0.1.0");
  tendril::cli::addCheckTemplateCommand(app);
  tendril::cli::addBenchCommand(app);
  tendril::cli::addServeCommand(app);
  tendril::cli::addAccountCommands(app);
  tendril::cli::addMlCommands(app);
  tendril::cli::addDirectCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // CLI11 prints the message; scripts get one exit status for every usage error (2), and 0
    // for --help and --version.
    return app.exit(error) == 0 ? 0 : 2;
  }
  return tendril::cli::exitCode();
}
