// Shared pieces of `tendril bench` and its experiments (bench.cc, bench_experiments.cc).
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
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
  std::string csv_path = "growth.csv";
  bool shuffle = false;
  std::vector<std::string> raw_settings;                      // "KEY=VALUE" as given
  std::vector<std::pair<std::string, std::string>> settings;  // parsed from raw_settings
};

// What one pass over the test samples found.
struct TestReport {
  double accuracy = 0;  // 0..1
  double samples_per_second = 0;
  std::optional<double> mean_abs_error;  // regression (table) samples only
};

struct EpochReport {
  int epoch = 0;
  double train_seconds = 0;
  double train_samples_per_second = 0;
  double test_accuracy = 0;  // 0..1
  double request_samples_per_second = 0;
  std::optional<double> mean_abs_error;  // table datasets only
  uint64_t synapses = 0;
  uint64_t sections = 0;
  uint64_t bytes = 0;
  double bytes_per_synapse = 0;
  uint64_t peak_rss_bytes = 0;
};

// Trains one epoch in dataset order with inputs multiplied by `scale`; calls after_sample(i)
// after each sample when set.
// `order` lists sample indices (empty: file order).
Status trainEpoch(engine::Cluster& cluster, const SampleSet& samples, float scale,
                  const std::function<void(size_t)>& after_sample,
                  const std::vector<uint32_t>& order = {});
// Tests every sample, requests parallel across samples on `pool`.
Result<TestReport> testCluster(const engine::Cluster& cluster, const SampleSet& samples,
                               float scale, engine::ThreadPool& pool);
// One epoch of training (after_sample as trainEpoch), then a test: every figure of the report.
Result<EpochReport> runEpoch(engine::Cluster& cluster, const BenchData& data, float scale,
                             engine::ThreadPool& pool, int epoch,
                             const std::function<void(size_t)>& after_sample = nullptr);
// Epochs 1..epochs of runEpoch; calls on_epoch after each when set.
Result<std::vector<EpochReport>> runEpochs(
    engine::Cluster& cluster, const BenchData& data, float scale, engine::ThreadPool& pool,
    int epochs, const std::function<void(const EpochReport&)>& on_epoch = nullptr);
// The bench template: --template or the dataset's default, with --set overrides applied.
Result<engine::Template> benchTemplate(const BenchOptions& options, const BenchData& data);
// A fresh cluster of `tmpl` training on `pool` (null: the calling thread), with `data`'s
// samples bound to its ports (bindSamples). `pool` must outlive the cluster.
Result<std::unique_ptr<engine::Cluster>> createBenchCluster(const engine::Template& tmpl,
                                                            BenchData& data,
                                                            engine::ThreadPool* pool);

uint64_t peakRssBytes();
// The epoch table; the mean-absolute-error column only when `with_error`.
void printEpochHeader(bool with_error = false);
void printEpoch(const EpochReport& report);

nlohmann::json epochJson(const EpochReport& report);
nlohmann::json epochsJson(const std::vector<EpochReport>& reports);
// The fields every bench document starts with: dataset, threads, template, settings.
nlohmann::json benchDocument(const BenchOptions& options);
Status writeJson(const std::string& path, const nlohmann::json& document);

Status runExperiment(const BenchOptions& options);

}  // namespace tendril::cli
