#include "cli/bench_data.h"

#include <algorithm>

#include "data/mnist_json.h"

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

}  // namespace

std::unique_ptr<SampleSet> imageSamples(data::ImageSet images) {
  return std::make_unique<ImageSamples>(std::move(images));
}

engine::Template imageTemplate(uint32_t pixels, uint32_t classes) {
  engine::Template tmpl;
  tmpl.bricks.push_back({{1, 1, 1}, engine::BrickRole::kInput, "pixels", pixels, 0});
  tmpl.bricks.push_back({{2, 1, 1}, engine::BrickRole::kHidden, "", 400, 0});
  tmpl.bricks.push_back({{3, 1, 1}, engine::BrickRole::kOutput, "classes", classes, 0});
  return tmpl;
}

Result<BenchData> loadBenchData(const std::string& name) {
  BenchData bench;
  bench.name = name;
  if (name == "fashion-mnist") {
    const auto dir = data::defaultFashionMnistDir();
    const auto train_paths = data::fashionMnistPaths(dir, true);
    const auto test_paths = data::fashionMnistPaths(dir, false);
    Result<data::ImageSet> train = data::readIdxPair(train_paths.images, train_paths.labels);
    if (!train.ok()) return train.status();
    Result<data::ImageSet> test = data::readIdxPair(test_paths.images, test_paths.labels);
    if (!test.ok()) return test.status();
    bench.default_template =
        imageTemplate(static_cast<uint32_t>(train->imageSize()), train->classes);
    bench.train = imageSamples(std::move(train).value());
    bench.test = imageSamples(std::move(test).value());
    return bench;
  }
  if (name == "mnist10k") {
    Result<data::ImageSet> all = data::readMnistPackage(data::defaultMnistPackageDir());
    if (!all.ok()) return all.status();
    Result<data::ImageSplit> split = data::splitShuffled(*all, data::kMnistTrainImages, 0);
    if (!split.ok()) return split.status();
    bench.default_template =
        imageTemplate(static_cast<uint32_t>(all->imageSize()), all->classes);
    bench.train = imageSamples(std::move(split->train));
    bench.test = imageSamples(std::move(split->test));
    return bench;
  }
  return Status::Invalid("unknown dataset \"" + name +
                         "\" (choose fashion-mnist, mnist10k or csv-staircase)");
}

}  // namespace tendril::cli
