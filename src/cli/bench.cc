// `tendril bench`: trains a cluster on a dataset, tests it after every epoch and reports speed,
// accuracy and size; `--experiment` runs the comparisons the docs report.
#include "cli/bench.h"

#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/bench_data.h"
#include "cli/commands.h"
#include "data/template_json.h"
#include "engine/cluster.h"
#include "engine/random.h"
#include "engine/thread_pool.h"

namespace tendril::cli {

using Clock = std::chrono::steady_clock;

uint64_t peakRssBytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<uint32_t> shuffledOrder(size_t count, uint64_t seed, int epoch) {
  std::vector<uint32_t> order(count);
  for (size_t i = 0; i < count; ++i) order[i] = static_cast<uint32_t>(i);
  // Fisher-Yates with the cluster's seed: the same seed gives the same order on any machine.
  for (size_t i = count; i > 1; --i) {
    const uint32_t j =
        engine::uniformBelow(engine::hashKeys(seed, {0x5AFF1Eu, static_cast<uint64_t>(epoch), i}),
                             static_cast<uint32_t>(i));
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

Status trainEpoch(engine::Cluster& cluster, const SampleSet& samples, float scale,
                  const std::function<void(size_t)>& after_sample,
                  const std::vector<uint32_t>& order) {
  std::vector<float> inputs(samples.inputWidth());
  std::vector<float> expected(samples.outputWidth());
  for (size_t n = 0; n < samples.count(); ++n) {
    const size_t i = order.empty() ? n : order[n];
    samples.sample(i, scale, inputs, expected);
    TENDRIL_RETURN_IF_ERROR(cluster.train(inputs, expected));
    if (after_sample) after_sample(i);
  }
  return Status::Ok();
}

Result<TestReport> testCluster(const engine::Cluster& cluster, const SampleSet& samples,
                               float scale, engine::ThreadPool& pool) {
  // The test set as the engine takes it (floats, scaled), prepared before the clock starts:
  // the request rate measures the engine answering, not the conversion of the dataset's bytes.
  const size_t in_width = samples.inputWidth();
  const size_t out_width = samples.outputWidth();
  std::vector<float> inputs(samples.count() * in_width);
  std::vector<float> expected(samples.count() * out_width);
  for (size_t i = 0; i < samples.count(); ++i) {
    samples.sample(i, scale, std::span<float>(inputs).subspan(i * in_width, in_width),
                   std::span<float>(expected).subspan(i * out_width, out_width));
  }
  std::vector<float> outputs(samples.count() * out_width);
  // Requests run in parallel across chunks of samples; each chunk is one batched request
  // (Cluster::requestMany), whose answers equal single requests bit for bit.
  constexpr size_t kChunk = 256;
  const size_t chunks = (samples.count() + kChunk - 1) / kChunk;
  std::vector<Status> errors(chunks);
  const auto start = Clock::now();
  pool.parallelFor(chunks, [&](size_t c) {
    const size_t first = c * kChunk;
    const size_t n = std::min(samples.count(), first + kChunk) - first;
    thread_local engine::Workspace workspace;  // reused across chunks and epochs
    errors[c] = cluster.requestMany(
        std::span<const float>(inputs).subspan(first * in_width, n * in_width),
        std::span<float>(outputs).subspan(first * out_width, n * out_width), n, workspace);
  });
  const double seconds = secondsSince(start);
  size_t hits = 0;
  double abs_error = 0.0;
  for (size_t i = 0; i < samples.count(); ++i) {
    const std::span<const float> answer(outputs.data() + i * out_width, out_width);
    if (samples.correct(i, answer)) ++hits;
    for (size_t k = 0; k < out_width; ++k)
      abs_error += std::fabs(answer[k] - expected[i * out_width + k]);
  }
  for (const Status& error : errors) {
    if (!error.ok()) return error;
  }
  TestReport report;
  const double count = static_cast<double>(samples.count());
  report.samples_per_second = count / seconds;
  report.accuracy = static_cast<double>(hits) / count;
  if (samples.isRegression()) {
    report.mean_abs_error = abs_error / (count * static_cast<double>(out_width));
  }
  return report;
}

Result<EpochReport> runEpoch(engine::Cluster& cluster, const BenchData& data, float scale,
                             engine::ThreadPool& pool, int epoch,
                             const std::function<void(size_t)>& after_sample) {
  EpochReport report;
  report.epoch = epoch;
  const auto train_start = Clock::now();
  const std::vector<uint32_t> order =
      data.shuffle ? shuffledOrder(data.train->count(), cluster.tmpl().settings.seed, epoch)
                   : std::vector<uint32_t>{};
  TENDRIL_RETURN_IF_ERROR(trainEpoch(cluster, *data.train, scale, after_sample, order));
  report.train_seconds = secondsSince(train_start);
  report.train_samples_per_second = static_cast<double>(data.train->count()) / report.train_seconds;
  Result<TestReport> test = testCluster(cluster, *data.test, scale, pool);
  if (!test.ok()) return test.status();
  report.test_accuracy = test->accuracy;
  report.request_samples_per_second = test->samples_per_second;
  report.mean_abs_error = test->mean_abs_error;
  const engine::ClusterStats stats = cluster.stats();
  report.synapses = stats.synapses;
  report.sections = stats.sections;
  report.bytes = stats.bytes;
  report.bytes_per_synapse = stats.synapses == 0 ? 0.0
                                                 : static_cast<double>(stats.synapse_bytes) /
                                                       static_cast<double>(stats.synapses);
  report.peak_rss_bytes = peakRssBytes();
  return report;
}

Result<std::vector<EpochReport>> runEpochs(
    engine::Cluster& cluster, const BenchData& data, float scale, engine::ThreadPool& pool,
    int epochs, const std::function<void(const EpochReport&)>& on_epoch) {
  std::vector<EpochReport> reports;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    Result<EpochReport> report = runEpoch(cluster, data, scale, pool, epoch);
    if (!report.ok()) return report.status();
    if (on_epoch) on_epoch(*report);
    reports.push_back(*report);
  }
  return reports;
}

Result<std::unique_ptr<engine::Cluster>> createBenchCluster(const engine::Template& tmpl,
                                                            BenchData& data,
                                                            engine::ThreadPool* pool) {
  Result<std::unique_ptr<engine::Cluster>> cluster = engine::Cluster::create(tmpl, pool);
  if (!cluster.ok()) return cluster.status();
  TENDRIL_RETURN_IF_ERROR(bindSamples(data, **cluster));
  return cluster;
}

void printEpochHeader(bool with_error) {
  std::printf("%5s %9s %11s %9s %12s %10s %9s %10s%s\n", "epoch", "train_s", "train/s", "accuracy",
              "request/s", "synapses", "B/synapse", "peak_MiB", with_error ? "   abs_err" : "");
}

void printEpoch(const EpochReport& r) {
  std::printf("%5d %9.3f %11.0f %8.2f%% %12.0f %10llu %9.2f %10.1f", r.epoch, r.train_seconds,
              r.train_samples_per_second, 100.0 * r.test_accuracy, r.request_samples_per_second,
              static_cast<unsigned long long>(r.synapses), r.bytes_per_synapse,
              static_cast<double>(r.peak_rss_bytes) / (1024.0 * 1024.0));
  if (r.mean_abs_error) std::printf(" %9.4f", *r.mean_abs_error);
  std::printf("\n");
  std::fflush(stdout);
}

nlohmann::json epochJson(const EpochReport& r) {
  nlohmann::json json = {{"epoch", r.epoch},
                         {"train_seconds", r.train_seconds},
                         {"train_samples_per_second", r.train_samples_per_second},
                         {"test_accuracy", r.test_accuracy},
                         {"request_samples_per_second", r.request_samples_per_second},
                         {"synapses", r.synapses},
                         {"sections", r.sections},
                         {"bytes", r.bytes},
                         {"bytes_per_synapse", r.bytes_per_synapse},
                         {"peak_rss_bytes", r.peak_rss_bytes}};
  if (r.mean_abs_error) json["mean_abs_error"] = *r.mean_abs_error;
  return json;
}

nlohmann::json epochsJson(const std::vector<EpochReport>& reports) {
  nlohmann::json epochs = nlohmann::json::array();
  for (const EpochReport& report : reports) epochs.push_back(epochJson(report));
  return epochs;
}

nlohmann::json benchDocument(const BenchOptions& options) {
  return {
      {"dataset", options.dataset},
      {"threads", options.threads},
      {"template", options.template_path.empty() ? std::string("default") : options.template_path},
      {"settings", options.settings}};
}

Status writeJson(const std::string& path, const nlohmann::json& document) {
  std::ofstream out(path, std::ios::trunc);
  out << document.dump(2) << "\n";
  out.close();
  if (!out) return Status::Io("cannot write " + path);
  return Status::Ok();
}

Result<engine::Template> benchTemplate(const BenchOptions& options, const BenchData& data) {
  engine::Template tmpl = data.default_template;
  if (!options.template_path.empty()) {
    std::ifstream in(options.template_path);
    if (!in) return Status::NotFound("cannot read template " + options.template_path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Result<engine::Template> parsed = data::parseTemplateAny(text);
    if (!parsed.ok()) return parsed.status();
    tmpl = std::move(parsed).value();
  }
  for (const auto& [key, value] : options.settings) {
    TENDRIL_RETURN_IF_ERROR(engine::applySetting(tmpl.settings, key, value));
  }
  return tmpl;
}

Status runPlainBench(const BenchOptions& options) {
  Result<BenchData> data = loadBenchData(options.dataset);
  if (data.ok()) data->shuffle = options.shuffle;
  if (!data.ok()) return data.status();
  Result<engine::Template> tmpl = benchTemplate(options, *data);
  if (!tmpl.ok()) return tmpl.status();
  engine::ThreadPool pool(options.threads);
  Result<std::unique_ptr<engine::Cluster>> cluster =
      createBenchCluster(*tmpl, *data, options.threads > 1 ? &pool : nullptr);
  if (!cluster.ok()) return cluster.status();
  std::printf("dataset %s: %zu train / %zu test samples, %u thread(s)\n", options.dataset.c_str(),
              data->train->count(), data->test->count(), options.threads);
  printEpochHeader(data->test->isRegression());
  Result<std::vector<EpochReport>> reports =
      runEpochs(**cluster, *data, 1.0f, pool, options.epochs, printEpoch);
  if (!reports.ok()) return reports.status();
  if (options.json_path.empty()) return Status::Ok();
  nlohmann::json document = benchDocument(options);
  document["epochs"] = epochsJson(*reports);
  return writeJson(options.json_path, document);
}

void addBenchCommand(CLI::App& app) {
  auto options = std::make_shared<BenchOptions>();
  CLI::App* bench = app.add_subcommand(
      "bench", "Train and test a cluster on a dataset, report speed and accuracy");
  bench->add_option("--dataset", options->dataset,
                    "fashion-mnist, mnist10k or csv-staircase (required unless --direct)");
  bench->add_option("--epochs", options->epochs, "Training epochs")->check(CLI::Range(1, 1000));
  bench->add_option("--threads", options->threads, "Threads for training and requests")
      ->check(CLI::Range(1, 256));
  bench->add_option("--template", options->template_path, "Template file (text or JSON)");
  bench->add_flag("--shuffle", options->shuffle,
                  "Train each epoch in an order shuffled with the template's seed (default: file "
                  "order)");
  bench->add_option("--json", options->json_path, "Write the figures as JSON to this file");
  bench->add_option("--set", options->raw_settings, "Override a template setting: KEY=VALUE");
  bench->add_option("--experiment", options->experiment,
                    "scale, outlier, reduction, growth or threads");
  bench->add_option("--csv", options->csv_path, "growth experiment: CSV output file")
      ->capture_default_str();
  auto direct = std::make_shared<DirectBenchOptions>();
  addDirectBenchOptions(*bench, *direct);
  bench->callback([options, direct] {
    if (!direct->enabled && options->dataset.empty()) {
      std::fprintf(stderr, "tendril bench: --dataset is required (or --direct)\n");
      exitCode() = 2;
      return;
    }
    for (const std::string& raw : options->raw_settings) {
      const size_t eq = raw.find('=');
      if (eq == std::string::npos) {
        std::fprintf(stderr, "tendril bench: --set expects KEY=VALUE, got \"%s\"\n", raw.c_str());
        exitCode() = 2;
        return;
      }
      options->settings.emplace_back(raw.substr(0, eq), raw.substr(eq + 1));
    }
    Status status = direct->enabled               ? runDirectBench(*direct, *options)
                    : options->experiment.empty() ? runPlainBench(*options)
                                                  : runExperiment(*options);
    if (!status.ok()) {
      std::fprintf(stderr, "tendril bench: %s\n", status.toString().c_str());
      exitCode() = 1;
    }
  });
}

}  // namespace tendril::cli
