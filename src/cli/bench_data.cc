#include "cli/bench_data.h"

#include <algorithm>
#include <cmath>

#include "cli/bench_templates.h"
#include "data/mnist_json.h"
#include "data/table_samples.h"

namespace tendril::cli {
namespace {

class ImageSamples final : public SampleSet {
 public:
  explicit ImageSamples(data::ImageSet images) : images_(std::move(images)) {}
  size_t count() const override { return images_.count; }
  uint32_t inputWidth() const override { return static_cast<uint32_t>(images_.imageSize()); }
  uint32_t outputWidth() const override { return images_.classes; }
  void sample(size_t index, float scale, std::span<float> inputs,
              std::span<float> expected) const override {
    if (!inputs.empty()) {
      std::span<const uint8_t> pixels = images_.image(static_cast<uint32_t>(index));
      for (size_t i = 0; i < pixels.size(); ++i) inputs[i] = static_cast<float>(pixels[i]) * scale;
    }
    if (!expected.empty()) {
      std::fill(expected.begin(), expected.end(), 0.0f);
      expected[images_.labels[index]] = 1.0f;
    }
  }
  bool correct(size_t index, std::span<const float> outputs) const override {
    const auto best = std::max_element(outputs.begin(), outputs.end()) - outputs.begin();
    return static_cast<size_t>(best) == images_.labels[index];
  }

 private:
  data::ImageSet images_;
};

// Sliding windows over a table. The expected values of every sample are cut once up front, so
// correct() needs no scratch buffers and stays safe to call concurrently.
class TableSamples final : public SampleSet {
 public:
  explicit TableSamples(data::TableSampler sampler) : sampler_(std::move(sampler)) {
    const uint32_t width = sampler_.outputWidth();
    expected_.resize(sampler_.count() * width);
    std::vector<float> inputs(sampler_.inputWidth());
    for (size_t i = 0; i < sampler_.count(); ++i) {
      sampler_.sample(i, inputs, std::span<float>(expected_).subspan(i * width, width));
    }
  }
  size_t count() const override { return sampler_.count(); }
  uint32_t inputWidth() const override { return sampler_.inputWidth(); }
  uint32_t outputWidth() const override { return sampler_.outputWidth(); }
  void sample(size_t index, float scale, std::span<float> inputs,
              std::span<float> expected) const override {
    if (!inputs.empty()) {
      std::vector<float> unused(sampler_.outputWidth());
      sampler_.sample(index, inputs, unused);
      for (float& value : inputs) value *= scale;
    }
    if (!expected.empty()) {
      std::span<const float> values = expectedOf(index);
      std::copy(values.begin(), values.end(), expected.begin());
    }
  }
  bool correct(size_t index, std::span<const float> outputs) const override {
    std::span<const float> expected = expectedOf(index);
    for (size_t i = 0; i < expected.size(); ++i) {
      if (!(std::fabs(outputs[i] - expected[i]) <= kRegressionTolerance)) return false;
    }
    return true;
  }
  bool isRegression() const override { return true; }

 private:
  std::span<const float> expectedOf(size_t index) const {
    const uint32_t width = sampler_.outputWidth();
    return std::span<const float>(expected_).subspan(index * width, width);
  }

  data::TableSampler sampler_;
  std::vector<float> expected_;  // count · outputWidth values
};

Result<std::unique_ptr<SampleSet>> tableSamples(const data::Table& table,
                                                const engine::Cluster& cluster) {
  Result<data::TableSampler> sampler = data::TableSampler::create(
      table, cluster.inputs(), cluster.outputs(), data::SampleMode::kSlidingWindow);
  if (!sampler.ok()) return sampler.status();
  return std::unique_ptr<SampleSet>(std::make_unique<TableSamples>(std::move(sampler).value()));
}

Status checkWidths(const char* part, const SampleSet& samples, const engine::Cluster& cluster) {
  if (samples.inputWidth() == cluster.inputWidth() &&
      samples.outputWidth() == cluster.outputWidth()) {
    return Status::Ok();
  }
  return Status::Invalid(
      std::string(part) + " samples have " + std::to_string(samples.inputWidth()) + " inputs and " +
      std::to_string(samples.outputWidth()) + " outputs, the cluster " +
      std::to_string(cluster.inputWidth()) + " and " + std::to_string(cluster.outputWidth()));
}

}  // namespace

std::unique_ptr<SampleSet> imageSamples(data::ImageSet images) {
  return std::make_unique<ImageSamples>(std::move(images));
}

// The default template of a dataset, from templates/NAME.tmpl (embedded at build time).
Result<engine::Template> defaultTemplate(const std::string& name) {
  const std::string_view text = name == "fashion-mnist" ? kFashionMnistTemplate
                                : name == "mnist10k"    ? kMnist10kTemplate
                                                        : kCsvStaircaseTemplate;
  Result<engine::Template> tmpl = engine::parseTemplateText(text);
  if (!tmpl.ok()) {
    return Status(Code::kInternal, "built-in template of " + name + ": " + tmpl.status().message());
  }
  return tmpl;
}

Result<BenchData> loadBenchData(const std::string& name) {
  BenchData bench;
  bench.name = name;
  if (name == "fashion-mnist" || name == "mnist10k" || name == "csv-staircase") {
    Result<engine::Template> tmpl = defaultTemplate(name);
    if (!tmpl.ok()) return tmpl.status();
    bench.default_template = std::move(tmpl).value();
  }
  if (name == "fashion-mnist") {
    const auto dir = data::defaultFashionMnistDir();
    const auto train_paths = data::fashionMnistPaths(dir, true);
    const auto test_paths = data::fashionMnistPaths(dir, false);
    Result<data::ImageSet> train = data::readIdxPair(train_paths.images, train_paths.labels);
    if (!train.ok()) return train.status();
    Result<data::ImageSet> test = data::readIdxPair(test_paths.images, test_paths.labels);
    if (!test.ok()) return test.status();
    bench.train = imageSamples(std::move(train).value());
    bench.test = imageSamples(std::move(test).value());
    return bench;
  }
  if (name == "mnist10k") {
    Result<data::ImageSet> all = data::readMnistPackage(data::defaultMnistPackageDir());
    if (!all.ok()) return all.status();
    Result<data::ImageSplit> split = data::splitShuffled(*all, data::kMnistTrainImages, 0);
    if (!split.ok()) return split.status();
    bench.train = imageSamples(std::move(split->train));
    bench.test = imageSamples(std::move(split->test));
    return bench;
  }
  if (name == "csv-staircase") {
    bench.train_table = data::makeStaircaseTable();
    bench.test_table = data::makeStaircaseTestTable();
    return bench;
  }
  return Status::Invalid("unknown dataset \"" + name +
                         "\" (choose fashion-mnist, mnist10k or csv-staircase)");
}

Status bindSamples(BenchData& data, const engine::Cluster& cluster) {
  if (data.train_table && data.test_table) {
    Result<std::unique_ptr<SampleSet>> train = tableSamples(*data.train_table, cluster);
    if (!train.ok()) return train.status();
    Result<std::unique_ptr<SampleSet>> test = tableSamples(*data.test_table, cluster);
    if (!test.ok()) return test.status();
    data.train = std::move(train).value();
    data.test = std::move(test).value();
  }
  TENDRIL_RETURN_IF_ERROR(checkWidths("training", *data.train, cluster));
  return checkWidths("test", *data.test, cluster);
}

}  // namespace tendril::cli
