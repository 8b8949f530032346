// The datasets `tendril bench` runs on, behind one small interface.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "data/idx.h"
#include "engine/template.h"

namespace tendril::cli {

// A fixed list of samples: raw input values and expected output values.
class SampleSet {
 public:
  virtual ~SampleSet() = default;
  virtual size_t count() const = 0;
  virtual uint32_t inputWidth() const = 0;
  virtual uint32_t outputWidth() const = 0;
  // Writes sample `index` scaled by `scale` into `inputs` and its expected values into
  // `expected` (either may be empty to skip it).
  virtual void sample(size_t index, float scale, std::span<float> inputs,
                      std::span<float> expected) const = 0;
  // Whether outputs[] is right for sample `index`: the arg-max class for images, every value
  // within kRegressionTolerance of its target for tables.
  virtual bool correct(size_t index, std::span<const float> outputs) const = 0;
};

inline constexpr float kRegressionTolerance = 0.1f;

struct BenchData {
  std::string name;
  std::unique_ptr<SampleSet> train;
  std::unique_ptr<SampleSet> test;
  engine::Template default_template;
};

// Loads "fashion-mnist", "mnist10k" or "csv-staircase".
Result<BenchData> loadBenchData(const std::string& name);

// An image set as samples: raw pixels 0..255 in, one-hot label out.
std::unique_ptr<SampleSet> imageSamples(data::ImageSet images);

// The default image template: 784 inputs, 400 hidden neurons, 10 outputs in a row.
engine::Template imageTemplate(uint32_t pixels, uint32_t classes);

}  // namespace tendril::cli
