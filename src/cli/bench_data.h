// The datasets `tendril bench` runs on, behind one small interface.
//
// Image datasets (fashion-mnist, mnist10k) have their samples as soon as they are loaded. A table
// dataset (csv-staircase) maps its columns onto a cluster's ports, so its samples exist only
// once bindSamples() has seen a cluster: whatever template the bench uses, its port names and
// widths decide the sliding windows.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "data/csv.h"
#include "data/idx.h"
#include "engine/cluster.h"
#include "engine/template.h"

namespace tendril::cli {

// A fixed list of samples: raw input values and expected output values.
// Thread safety: immutable once built; every function may run concurrently.
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
  // Whether outputs are values to approach (tables) rather than class scores (images); the
  // bench then also reports the mean absolute error.
  virtual bool isRegression() const { return false; }
};

inline constexpr float kRegressionTolerance = 0.1f;

struct BenchData {
  std::string name;
  std::unique_ptr<SampleSet> train;  // table datasets: null until bindSamples()
  std::unique_ptr<SampleSet> test;
  engine::Template default_template;
  bool shuffle = false;  // train each epoch in an order shuffled with the cluster's seed
  // Table datasets only: the tables the samples are cut from.
  std::optional<data::Table> train_table;
  std::optional<data::Table> test_table;
};

// Loads "fashion-mnist", "mnist10k" or "csv-staircase".
Result<BenchData> loadBenchData(const std::string& name);

// Fits the samples to `cluster`: binds a table dataset's columns to the cluster's ports (sliding
// window), then checks that the sample widths equal the cluster's. Calling it again for a
// cluster of the same template rebuilds the same samples.
// Errors: InvalidArgument when a port finds no column or the widths differ.
Status bindSamples(BenchData& data, const engine::Cluster& cluster);

// An image set as samples: raw pixels 0..255 in, one-hot label out.
std::unique_ptr<SampleSet> imageSamples(data::ImageSet images);

}  // namespace tendril::cli
