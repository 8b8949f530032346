// Training samples from a table: how CSV columns feed a cluster's input and output ports.
//
// A cluster takes one flat input vector (all input ports concatenated in port order, each at its
// Port::offset) and one flat expected vector (likewise for the output ports). TableSampler
// produces those vectors from the columns of a Table in one of two modes (spec/engine.md §11):
//
// Sliding window (Hanami H4's CSV semantics): every port reads exactly one column. Let n be the
//   largest width over all ports, inputs and outputs. Sample c (0-based) ends at row e = c + n;
//   a port of width w receives rows [e − w, e) of its column, oldest first. So all ports end on
//   the same row, the window moves one row per sample, and
//       count = rows − n + 1      (rows ≥ n; fewer rows is an error).
//   Hanami computed count = rows − n_in (n_in: the input width) with the same window end: when
//   no output is wider than the inputs that drops the last complete window (the last row is
//   never used), and when an output is n_out ≥ n_in + 2 wide its last windows read
//   n_out − n_in − 1 rows past the end of the column. Tendril uses every complete window and
//   never reads past the end.
//
// Row: one row is one sample. Every port reads a list of columns, as many as its width, value
//   i of the port coming from column i of its list. count = rows.
//
// Which columns a port reads: the mapping's entry for the port's name when there is one, else
// the column with the port's own name (in row mode that default suits only ports of width 1).
//
// Thread safety: a TableSampler is immutable after create(); sample() may run concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "data/csv.h"
#include "engine/cluster.h"

namespace tendril::data {

enum class SampleMode : uint8_t { kSlidingWindow = 0, kRow = 1 };

// Port name → the columns it reads (sliding window: exactly one; row mode: width many).
using ColumnMapping = std::map<std::string, std::vector<std::string>, std::less<>>;

class TableSampler {
 public:
  // Binds the ports to the table's columns. The ports must be laid out as Cluster::inputs() and
  // Cluster::outputs() return them: non-zero widths, each offset the sum of the widths before
  // it. The sampler copies the columns it reads, so `table` need not outlive it. `outputs` may
  // be empty: an inputs-only sampler (for requests on a table without the expected columns),
  // whose outputWidth() is 0.
  // Errors: InvalidArgument for a missing column, a mapping entry naming no port, a column list
  // of the wrong length, a malformed port layout, or (sliding window) a table shorter than the
  // widest port.
  static Result<TableSampler> create(const Table& table, std::span<const engine::Port> inputs,
                                     std::span<const engine::Port> outputs, SampleMode mode,
                                     const ColumnMapping& mapping = {});

  SampleMode mode() const { return mode_; }
  size_t count() const { return count_; }                 // number of samples
  uint32_t inputWidth() const { return input_width_; }    // sum of input port widths
  uint32_t outputWidth() const { return output_width_; }  // sum of output port widths

  // Writes sample `index` (< count()) into `inputs` (inputWidth() values) and `expected`
  // (outputWidth() values). Sizes are preconditions (asserted).
  void sample(size_t index, std::span<float> inputs, std::span<float> expected) const;

 private:
  // Where one port's values come from: for each of its values, a column of `columns_`.
  struct Binding {
    uint32_t offset = 0;
    uint32_t width = 0;
    std::vector<uint32_t> sources;  // sliding window: one entry; row mode: `width` entries
  };

  TableSampler() = default;
  void fill(const std::vector<Binding>& bindings, size_t index, std::span<float> out) const;

  SampleMode mode_ = SampleMode::kSlidingWindow;
  size_t rows_ = 0;
  size_t count_ = 0;
  uint32_t window_ = 0;  // n, the widest port (sliding window)
  uint32_t input_width_ = 0;
  uint32_t output_width_ = 0;
  std::vector<Binding> inputs_;
  std::vector<Binding> outputs_;
  std::vector<std::vector<float>> columns_;  // the columns read, each `rows_` long
};

// The staircase toy of Hanami's CSV test (hanami-core §8.1): one input column "input" and one
// output column "output", built from steps of `rows_per_step` equal rows each.
struct StaircaseStep {
  float input = 0.0f;
  float output = 0.0f;
};

// Builds the table: for every step in order, `rows_per_step` rows of (step.input, step.output).
Table makeStepTable(std::span<const StaircaseStep> steps, uint32_t rows_per_step);

// Training variant, as Hanami's test: 100 rows each of (0→0), (80→1), (30→0.5), (10→0.75),
// (0→0); 500 rows.
Table makeStaircaseTable();

// Test variant: the same four levels and 100 rows per step, in a different order — (0→0),
// (10→0.75), (80→1), (0→0), (30→0.5), (80→1) — so a model must map each input level, not replay
// the training sequence. 600 rows.
Table makeStaircaseTestTable();

}  // namespace tendril::data
