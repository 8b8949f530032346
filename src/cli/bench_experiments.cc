// `tendril bench --experiment NAME`: the comparisons the docs report. Each experiment trains
// fresh clusters of the bench template (same seed), prints a table and, with --json, writes its
// figures as JSON.
//
//   scale      inputs ×1/255, raw and ×1000: accuracy and synapses should barely move.
//   outlier    --epochs of training, then one sample with every input ×1e6: the accuracy drop.
//   reduction  enable_reduction false vs true: synapses and accuracy per epoch.
//   growth     synapses, sections and bytes every 1000 samples, as CSV (--csv).
//   threads    1 vs N threads (--threads, at least 2): speed, and bit-identical final clusters.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/bench.h"

namespace tendril::cli {
namespace {

// One fresh cluster to train: its template, input scale and threads (1: no pool).
struct Variant {
  std::string label;
  engine::Template tmpl;
  float scale = 1.0f;
  unsigned threads = 1;
  bool every_brick_on_pool = false;  // ignore the engine's small-brick threshold
};

// A trained variant. The pool is declared first so that it outlives the cluster.
struct Run {
  std::unique_ptr<engine::ThreadPool> pool;
  std::unique_ptr<engine::Cluster> cluster;
  std::vector<EpochReport> reports;
};

// What every experiment starts from.
struct Setup {
  const BenchOptions& options;
  BenchData data;
  engine::Template tmpl;

  Variant variant(std::string label) const {
    return {std::move(label), tmpl, 1.0f, options.threads};
  }
  bool regression() const { return data.test->isRegression(); }
};

Result<Setup> loadSetup(const BenchOptions& options) {
  Result<BenchData> data = loadBenchData(options.dataset);
  if (data.ok()) data->shuffle = options.shuffle;
  if (!data.ok()) return data.status();
  Result<engine::Template> tmpl = benchTemplate(options, *data);
  if (!tmpl.ok()) return tmpl.status();
  Setup setup{options, std::move(data).value(), std::move(tmpl).value()};
  // Binds table datasets once so that sample counts are known before the first run.
  Result<std::unique_ptr<engine::Cluster>> probe =
      createBenchCluster(setup.tmpl, setup.data, nullptr);
  if (!probe.ok()) return probe.status();
  std::printf("%s experiment on %s: %zu train / %zu test samples, %d epoch(s), %u thread(s)\n",
              options.experiment.c_str(), options.dataset.c_str(), setup.data.train->count(),
              setup.data.test->count(), options.epochs, options.threads);
  return setup;
}

// A fresh, untrained cluster of `variant`.
Result<Run> start(Setup& setup, const Variant& variant) {
  Run run;
  run.pool = std::make_unique<engine::ThreadPool>(variant.threads);
  Result<std::unique_ptr<engine::Cluster>> cluster =
      createBenchCluster(variant.tmpl, setup.data, variant.threads > 1 ? run.pool.get() : nullptr);
  if (!cluster.ok()) return cluster.status();
  run.cluster = std::move(cluster).value();
  if (variant.every_brick_on_pool) run.cluster->setParallelThreshold(0);
  return run;
}

// `variant` trained for `epochs`, with a progress line on stderr after each.
Result<Run> train(Setup& setup, const Variant& variant, int epochs) {
  Result<Run> run = start(setup, variant);
  if (!run.ok()) return run;
  auto progress = [&](const EpochReport& r) {
    std::fprintf(stderr, "  [%s] epoch %d/%d: %.2f%%, %llu synapses\n", variant.label.c_str(),
                 r.epoch, epochs, 100.0 * r.test_accuracy,
                 static_cast<unsigned long long>(r.synapses));
  };
  Result<std::vector<EpochReport>> reports =
      runEpochs(*run->cluster, setup.data, variant.scale, *run->pool, epochs, progress);
  if (!reports.ok()) return reports.status();
  run->reports = std::move(reports).value();
  return run;
}

Result<std::vector<Run>> trainAll(Setup& setup, const std::vector<Variant>& variants) {
  std::vector<Run> runs;
  for (const Variant& variant : variants) {
    Result<Run> run = train(setup, variant, setup.options.epochs);
    if (!run.ok()) return run.status();
    runs.push_back(std::move(run).value());
  }
  return runs;
}

// One column of a comparison table.
struct Column {
  const char* header;
  std::string (*cell)(const EpochReport&);
};

std::string format(const char* spec, double value) {
  char text[64];
  std::snprintf(text, sizeof text, spec, value);
  return text;
}

constexpr Column kAccuracy{
    "accuracy", [](const EpochReport& r) { return format("%.2f%%", 100.0 * r.test_accuracy); }};
constexpr Column kSynapses{"synapses",
                           [](const EpochReport& r) { return std::to_string(r.synapses); }};
constexpr Column kAbsError{
    "abs_err", [](const EpochReport& r) { return format("%.4f", r.mean_abs_error.value_or(0)); }};
constexpr Column kTrainSeconds{
    "train_s", [](const EpochReport& r) { return format("%.3f", r.train_seconds); }};
constexpr Column kRequests{
    "request/s", [](const EpochReport& r) { return format("%.0f", r.request_samples_per_second); }};

std::vector<Column> qualityColumns(const Setup& setup) {
  std::vector<Column> columns = {kAccuracy, kSynapses};
  if (setup.regression()) columns.push_back(kAbsError);
  return columns;
}

// Rows are epochs; each variant gets a group of `columns` under its label.
void printComparison(const std::vector<Variant>& variants, const std::vector<Run>& runs,
                     const std::vector<Column>& columns) {
  constexpr int kWidth = 11;
  const int group = static_cast<int>(columns.size()) * kWidth;
  std::printf("%5s", "");
  for (const Variant& variant : variants) {
    const bool last = &variant == &variants.back();
    std::printf(" | %-*s", last ? 0 : group - 1, variant.label.c_str());
  }
  std::printf("\n%5s", "epoch");
  for (size_t v = 0; v < variants.size(); ++v) {
    std::printf(" |");
    for (const Column& column : columns) std::printf(" %*s", kWidth - 1, column.header);
  }
  std::printf("\n");
  for (size_t e = 0; e < runs.front().reports.size(); ++e) {
    std::printf("%5d", runs.front().reports[e].epoch);
    for (const Run& run : runs) {
      std::printf(" |");
      for (const Column& column : columns) {
        std::printf(" %*s", kWidth - 1, column.cell(run.reports[e]).c_str());
      }
    }
    std::printf("\n");
  }
}

Status finish(const Setup& setup, nlohmann::json figures) {
  if (setup.options.json_path.empty()) return Status::Ok();
  nlohmann::json document = benchDocument(setup.options);
  document["experiment"] = setup.options.experiment;
  document.update(figures);
  return writeJson(setup.options.json_path, document);
}

// Variants differ only in one figure; runs → [{key: value, "epochs": [...]}].
template <typename Value>
nlohmann::json runsJson(const char* key, const std::vector<Value>& values,
                        const std::vector<Run>& runs) {
  nlohmann::json json = nlohmann::json::array();
  for (size_t i = 0; i < runs.size(); ++i) {
    json.push_back({{key, values[i]}, {"epochs", epochsJson(runs[i].reports)}});
  }
  return json;
}

Status scaleExperiment(Setup& setup) {
  const std::vector<float> scales = {1.0f / 255.0f, 1.0f, 1000.0f};
  const char* labels[] = {"inputs x 1/255", "raw inputs", "inputs x 1000"};
  std::vector<Variant> variants;
  for (size_t i = 0; i < scales.size(); ++i) {
    variants.push_back(setup.variant(labels[i]));
    variants.back().scale = scales[i];
  }
  Result<std::vector<Run>> runs = trainAll(setup, variants);
  if (!runs.ok()) return runs.status();
  printComparison(variants, *runs, qualityColumns(setup));
  return finish(setup, {{"runs", runsJson("scale", scales, *runs)}});
}

Status reductionExperiment(Setup& setup) {
  const std::vector<bool> enabled = {false, true};
  std::vector<Variant> variants;
  for (bool enable : enabled) {
    variants.push_back(setup.variant(enable ? "reduction on" : "reduction off"));
    variants.back().tmpl.settings.enable_reduction = enable;
  }
  Result<std::vector<Run>> runs = trainAll(setup, variants);
  if (!runs.ok()) return runs.status();
  printComparison(variants, *runs, qualityColumns(setup));
  return finish(setup, {{"runs", runsJson("enable_reduction", enabled, *runs)}});
}

// 1 thread, N threads as the engine schedules them (small bricks stay on one thread), and N
// threads with every brick on the pool, so the parallel path itself is always compared.
Status threadsExperiment(Setup& setup) {
  const unsigned many = std::max(2u, setup.options.threads);
  const std::vector<std::string> labels = {"1 thread (no pool)", std::to_string(many) + " threads",
                                           std::to_string(many) + " threads, all bricks pooled"};
  std::vector<Variant> variants;
  for (size_t i = 0; i < labels.size(); ++i) {
    variants.push_back(setup.variant(labels[i]));
    variants.back().threads = i == 0 ? 1 : many;
    variants.back().every_brick_on_pool = i == 2;
  }
  Result<std::vector<Run>> runs = trainAll(setup, variants);
  if (!runs.ok()) return runs.status();
  printComparison(variants, *runs, {kTrainSeconds, kRequests, kAccuracy, kSynapses});
  const EpochReport& one = (*runs)[0].reports.back();
  const EpochReport& other = (*runs)[1].reports.back();
  const EpochReport& pooled = (*runs)[2].reports.back();
  const bool identical = (*runs)[0].cluster->sameStateAs(*(*runs)[1].cluster) &&
                         (*runs)[0].cluster->sameStateAs(*(*runs)[2].cluster);
  std::printf(
      "last epoch speed-up with %u threads: training x%.2f (all bricks pooled x%.2f), "
      "requests x%.2f\n",
      many, one.train_seconds / other.train_seconds, one.train_seconds / pooled.train_seconds,
      other.request_samples_per_second / one.request_samples_per_second);
  std::printf("identical: %s\n", identical ? "yes" : "NO");
  TENDRIL_RETURN_IF_ERROR(
      finish(setup, {{"runs", runsJson("threads", labels, *runs)}, {"identical", identical}}));
  if (!identical) {
    return Status(Code::kInternal,
                  "clusters trained with 1 and " + std::to_string(many) + " threads differ");
  }
  return Status::Ok();
}

// Where a cluster stands on the test set.
struct Standing {
  double accuracy = 0;
  uint64_t synapses = 0;
  std::optional<double> mean_abs_error;

  void print(const char* name) const {
    std::printf("%-8s %9.2f%% %10llu", name, 100.0 * accuracy,
                static_cast<unsigned long long>(synapses));
    if (mean_abs_error) std::printf(" %10.4f", *mean_abs_error);
    std::printf("\n");
  }
  nlohmann::json json() const {
    nlohmann::json json = {{"test_accuracy", accuracy}, {"synapses", synapses}};
    if (mean_abs_error) json["mean_abs_error"] = *mean_abs_error;
    return json;
  }
};

Status outlierExperiment(Setup& setup) {
  constexpr float kOutlierScale = 1e6f;
  Result<Run> run = train(setup, setup.variant("trained"), setup.options.epochs);
  if (!run.ok()) return run.status();
  const EpochReport& last = run->reports.back();
  const Standing before{last.test_accuracy, last.synapses, last.mean_abs_error};
  // The outlier: the first training sample with a non-zero input (all zeros would stay zeros),
  // with its true expected values and every input ×1e6.
  const SampleSet& samples = *setup.data.train;
  std::vector<float> inputs(samples.inputWidth());
  std::vector<float> expected(samples.outputWidth());
  size_t index = 0;
  for (; index < samples.count(); ++index) {
    samples.sample(index, kOutlierScale, inputs, expected);
    if (std::any_of(inputs.begin(), inputs.end(), [](float v) { return v != 0.0f; })) break;
  }
  if (index == samples.count()) return Status::Invalid("every training sample is all zeros");
  TENDRIL_RETURN_IF_ERROR(run->cluster->train(inputs, expected));
  Result<TestReport> test = testCluster(*run->cluster, *setup.data.test, 1.0f, *run->pool);
  if (!test.ok()) return test.status();
  const Standing after{test->accuracy, run->cluster->stats().synapses, test->mean_abs_error};
  const double drop = before.accuracy - after.accuracy;

  std::printf("after %d epoch(s), one training step on sample %zu with every input x%g:\n",
              setup.options.epochs, index, static_cast<double>(kOutlierScale));
  std::printf("%-8s %10s %10s%s\n", "", "accuracy", "synapses",
              setup.regression() ? "    abs_err" : "");
  before.print("before");
  after.print("after");
  std::printf("accuracy drop: %.2f points, synapses added: %lld\n", 100.0 * drop,
              static_cast<long long>(after.synapses) - static_cast<long long>(before.synapses));
  return finish(setup, {{"outlier_scale", kOutlierScale},
                        {"outlier_sample", index},
                        {"before", before.json()},
                        {"after", after.json()},
                        {"accuracy_drop", drop},
                        {"epochs", epochsJson(run->reports)}});
}

// Size figures after `samples` training samples.
nlohmann::json growthPoint(uint64_t samples, const engine::ClusterStats& stats) {
  return {{"samples", samples},
          {"synapses", stats.synapses},
          {"sections", stats.sections},
          {"bytes", stats.bytes}};
}

Status growthExperiment(Setup& setup) {
  constexpr uint64_t kEvery = 1000;
  const std::string& csv_path = setup.options.csv_path;
  std::ofstream csv(csv_path, std::ios::trunc);
  if (!csv) return Status::Io("cannot write " + csv_path);
  csv << "samples,synapses,sections,bytes\n";

  Result<Run> started = start(setup, setup.variant("growth"));
  if (!started.ok()) return started.status();
  Run& run = *started;

  nlohmann::json points = nlohmann::json::array();
  uint64_t seen = 0;
  auto record = [&] {
    const engine::ClusterStats stats = run.cluster->stats();
    csv << seen << ',' << stats.synapses << ',' << stats.sections << ',' << stats.bytes << '\n';
    points.push_back(growthPoint(seen, stats));
  };
  record();
  std::printf("%5s %10s %10s %10s %12s %16s %9s\n", "epoch", "samples", "synapses", "sections",
              "bytes", "new syn/1000", "accuracy");
  uint64_t synapses_before = 0;
  for (int epoch = 1; epoch <= setup.options.epochs; ++epoch) {
    Result<EpochReport> report =
        runEpoch(*run.cluster, setup.data, 1.0f, *run.pool, epoch, [&](size_t) {
          if (++seen % kEvery == 0) record();
        });
    if (!report.ok()) return report.status();
    const double per_thousand =
        (static_cast<double>(report->synapses) - static_cast<double>(synapses_before)) * 1000.0 /
        static_cast<double>(setup.data.train->count());
    std::printf("%5d %10llu %10llu %10llu %12llu %16.1f %8.2f%%\n", epoch,
                static_cast<unsigned long long>(seen),
                static_cast<unsigned long long>(report->synapses),
                static_cast<unsigned long long>(report->sections),
                static_cast<unsigned long long>(report->bytes), per_thousand,
                100.0 * report->test_accuracy);
    synapses_before = report->synapses;
    run.reports.push_back(*report);
  }
  if (seen % kEvery != 0) record();  // the final size, whatever the sample count
  csv.close();
  if (!csv) return Status::Io("cannot write " + csv_path);
  std::printf("wrote %zu points (sample 0, every %llu samples and the end) to %s\n", points.size(),
              static_cast<unsigned long long>(kEvery), csv_path.c_str());
  return finish(setup, {{"csv", csv_path},
                        {"every_samples", kEvery},
                        {"points", points},
                        {"epochs", epochsJson(run.reports)}});
}

struct Experiment {
  const char* name;
  Status (*run)(Setup&);
};

constexpr Experiment kExperiments[] = {{"scale", scaleExperiment},
                                       {"outlier", outlierExperiment},
                                       {"reduction", reductionExperiment},
                                       {"growth", growthExperiment},
                                       {"threads", threadsExperiment}};

}  // namespace

Status runExperiment(const BenchOptions& options) {
  for (const Experiment& experiment : kExperiments) {
    if (options.experiment != experiment.name) continue;
    Result<Setup> setup = loadSetup(options);
    if (!setup.ok()) return setup.status();
    return experiment.run(*setup);
  }
  return Status::Invalid("unknown experiment \"" + options.experiment +
                         "\" (choose scale, outlier, reduction, growth or threads)");
}

}  // namespace tendril::cli
