// What the CLI client shows and returns: the exit code of every outcome (one mapping, listed in
// docs/cli.md), the table printer all commands share, and the progress bar of uploads and tasks.
//
// Human output goes to stdout as aligned tables; --json output is the server's JSON as received.
// Messages and progress go to stderr, so stdout stays parseable. ANSI codes only on a terminal.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"

namespace tendril::cli {

// The documented exit codes (docs/cli.md).
enum ExitCode : int {
  kExitOk = 0,
  kExitTaskNotFinished = 1,  // `task watch`/`--wait`: the task ended failed, cancelled, interrupted
  kExitUsage = 2,
  kExitUnauthenticated = 3,
  kExitPermissionDenied = 4,
  kExitNotFound = 5,
  kExitConflict = 6,
  kExitExhausted = 7,
  kExitInvalid = 8,
  kExitServer = 9,
};

// The exit code for a failed (or ok) Status.
int exitCodeFor(const Status& status);

// A column of a table: its header and where its value sits in each item (a JSON pointer such as
// "/stats/synapses").
struct Column {
  std::string header;
  std::string pointer;
};

// One cell's text: strings as they are, null as "-", numbers and booleans as JSON writes them,
// arrays of port objects as "name:width", anything else as compact JSON.
std::string cellText(const nlohmann::json& value);

// Prints `items` as a table: a header line, then one line per item, columns as wide as their
// widest cell (the last one unpadded). `styled` bolds the header (a terminal only).
void printTable(std::ostream& out, const nlohmann::json& items, const std::vector<Column>& columns,
                bool styled);

// Prints one object as "field  value" lines, the given fields in order (all when empty).
void printFields(std::ostream& out, const nlohmann::json& object,
                 const std::vector<Column>& fields);

// A progress display (on stderr in the commands): a redrawn bar on a terminal, else a plain line
// each time another 10 % is done.
class ProgressBar {
 public:
  ProgressBar(std::string label, bool terminal, std::ostream& out);
  // `done` of `total` units (total 0: unknown); `detail` follows the figures.
  void update(uint64_t done, uint64_t total, const std::string& detail = "");
  void finish(const std::string& detail = "");

 private:
  std::string label_;
  bool terminal_;
  std::ostream& out_;
  int last_step_ = -1;
  bool drawn_ = false;
};

// "12.3 MiB"
std::string humanBytes(uint64_t bytes);

}  // namespace tendril::cli
