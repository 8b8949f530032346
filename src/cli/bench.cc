#include "cli/commands.h"
namespace tendril::cli {
void addBenchCommand(CLI::App& app) { (void)app; }  // placeholder: being written
}  // namespace tendril::cli
