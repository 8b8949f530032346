#include "cli/bench.h"
namespace tendril::cli {
Status runExperiment(const BenchOptions& options) {
  return Status::Invalid("unknown experiment " + options.experiment);
}
}  // namespace tendril::cli
