// Shared pieces of `tendril bench` and its experiments (bench.cc, bench_experiments.cc).
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "cli/bench_data.h"
#include "common/status.h"
#include "engine/cluster.h"
#include "engine/thread_pool.h"

namespace tendril::cli {

struct BenchOptions {
  std::string dataset;
  int epochs = 1;
  unsigned threads = 1;
  std::string template_path;
  std::string json_path;
  std::string experiment;
  std::string csv_path;
  std::vector<std::string> raw_settings;                    // "KEY=VALUE" as given
  std::vector<std::pair<std::string, std::string>> settings;  // parsed from raw_settings
};

struct EpochReport {
  int epoch = 0;
  double train_seconds = 0;
  double train_samples_per_second = 0;
  double test_accuracy = 0;  // 0..1
  double request_samples_per_second = 0;
  uint64_t synapses = 0;
  uint64_t sections = 0;
  uint64_t bytes = 0;
  double bytes_per_synapse = 0;
  uint64_t peak_rss_bytes = 0;
};

// Trains one epoch in dataset order with inputs multiplied by `scale`; calls after_sample(i)
// after each sample when set.
Status trainEpoch(engine::Cluster& cluster, const SampleSet& samples, float scale,
                  const std::function<void(size_t)>& after_sample);
// Fraction of samples answered right, requests parallel across samples on `pool`.
Result<double> testAccuracy(const engine::Cluster& cluster, const SampleSet& samples, float scale,
                            engine::ThreadPool& pool);
// One epoch of training, then a test: every figure of the report.
Result<EpochReport> runEpoch(engine::Cluster& cluster, const BenchData& data, float scale,
                             engine::ThreadPool& pool, int epoch);
// The bench template: --template or the dataset's default, with --set overrides applied.
Result<engine::Template> benchTemplate(const BenchOptions& options, const BenchData& data);
void printEpochHeader();
void printEpoch(const EpochReport& report);

Status runExperiment(const BenchOptions& options);

}  // namespace tendril::cli
