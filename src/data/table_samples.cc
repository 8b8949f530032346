#include "data/table_samples.h"

#include <algorithm>
#include <cassert>
#include <new>
#include <unordered_map>

namespace tendril::data {
namespace {

std::string portLabel(const engine::Port& port, bool input) {
  return std::string(input ? "input" : "output") + " port '" + port.name + "'";
}

// Checks that ports are laid out back to back from offset 0; returns the total width.
Result<uint32_t> checkLayout(std::span<const engine::Port> ports, bool input) {
  uint64_t total = 0;
  for (const engine::Port& port : ports) {
    if (port.width == 0) return Status::Invalid(portLabel(port, input) + " has width 0");
    if (port.offset != total) {
      return Status::Invalid(portLabel(port, input) + " starts at offset " +
                             std::to_string(port.offset) + ", expected " + std::to_string(total));
    }
    total += port.width;
    if (total > UINT32_MAX) return Status::Invalid("ports are wider than 2^32 values in all");
  }
  return static_cast<uint32_t>(total);
}

bool namesPort(std::string_view name, std::span<const engine::Port> inputs,
               std::span<const engine::Port> outputs) {
  auto same = [&](const engine::Port& port) { return port.name == name; };
  return std::any_of(inputs.begin(), inputs.end(), same) ||
         std::any_of(outputs.begin(), outputs.end(), same);
}

}  // namespace

Result<TableSampler> TableSampler::create(const Table& table, std::span<const engine::Port> inputs,
                                          std::span<const engine::Port> outputs, SampleMode mode,
                                          const ColumnMapping& mapping) {
  if (table.values.size() != table.rows * table.columns.size()) {
    return Status::Invalid("table holds " + std::to_string(table.values.size()) +
                           " values, not rows × columns = " + std::to_string(table.rows) + " × " +
                           std::to_string(table.columns.size()));
  }
  if (table.rows == 0) return Status::Invalid("table has no rows");
  if (inputs.empty()) return Status::Invalid("samples need at least one input port");
  for (const auto& [name, columns] : mapping) {
    if (!namesPort(name, inputs, outputs)) {
      return Status::Invalid("column mapping names '" + name + "', which is no port");
    }
  }
  try {
    TableSampler sampler;
    sampler.mode_ = mode;
    sampler.rows_ = table.rows;
    Result<uint32_t> input_width = checkLayout(inputs, true);
    if (!input_width.ok()) return input_width.status();
    Result<uint32_t> output_width = checkLayout(outputs, false);
    if (!output_width.ok()) return output_width.status();
    sampler.input_width_ = *input_width;
    sampler.output_width_ = *output_width;

    // Each table column read by any port is copied once, column-major, so that a sliding
    // window is one contiguous run of floats.
    std::unordered_map<size_t, uint32_t> copied;
    auto source = [&](size_t table_column) {
      auto [it, inserted] = copied.try_emplace(table_column, 0);
      if (inserted) {
        it->second = static_cast<uint32_t>(sampler.columns_.size());
        std::vector<float>& column = sampler.columns_.emplace_back(table.rows);
        for (size_t row = 0; row < table.rows; ++row) column[row] = table.at(row, table_column);
      }
      return it->second;
    };

    auto bind = [&](std::span<const engine::Port> ports, bool input,
                    std::vector<Binding>& bindings) -> Status {
      for (const engine::Port& port : ports) {
        std::vector<std::string> names;
        if (auto it = mapping.find(port.name); it != mapping.end()) {
          names = it->second;
        } else {
          names.push_back(port.name);
        }
        const size_t needed = mode == SampleMode::kSlidingWindow ? 1 : port.width;
        if (names.size() != needed) {
          std::string why = mode == SampleMode::kSlidingWindow
                                ? " reads one column in sliding-window mode"
                                : " has width " + std::to_string(port.width) +
                                      " and so reads that many columns in row mode";
          return Status::Invalid(portLabel(port, input) + why + ", but " +
                                 std::to_string(names.size()) + " are mapped to it");
        }
        Binding binding;
        binding.offset = port.offset;
        binding.width = port.width;
        for (const std::string& name : names) {
          std::optional<size_t> column = table.columnIndex(name);
          if (!column) {
            return Status::Invalid(portLabel(port, input) + " reads column '" + name +
                                   "', which the table does not have");
          }
          binding.sources.push_back(source(*column));
        }
        sampler.window_ = std::max(sampler.window_, port.width);
        bindings.push_back(std::move(binding));
      }
      return Status::Ok();
    };
    TENDRIL_RETURN_IF_ERROR(bind(inputs, true, sampler.inputs_));
    TENDRIL_RETURN_IF_ERROR(bind(outputs, false, sampler.outputs_));

    if (mode == SampleMode::kSlidingWindow) {
      if (table.rows < sampler.window_) {
        return Status::Invalid("table has " + std::to_string(table.rows) +
                               " rows, fewer than the widest port's window of " +
                               std::to_string(sampler.window_));
      }
      sampler.count_ = table.rows - sampler.window_ + 1;
    } else {
      sampler.count_ = table.rows;
    }
    return sampler;
  } catch (const std::bad_alloc&) {
    return Status::Exhausted("out of memory while binding table columns");
  }
}

void TableSampler::fill(const std::vector<Binding>& bindings, size_t index,
                        std::span<float> out) const {
  for (const Binding& binding : bindings) {
    float* target = out.data() + binding.offset;
    if (mode_ == SampleMode::kSlidingWindow) {
      const size_t end = index + window_;
      const float* column = columns_[binding.sources[0]].data();
      std::copy(column + (end - binding.width), column + end, target);
    } else {
      for (uint32_t i = 0; i < binding.width; ++i) target[i] = columns_[binding.sources[i]][index];
    }
  }
}

void TableSampler::sample(size_t index, std::span<float> inputs, std::span<float> expected) const {
  assert(index < count_);
  assert(inputs.size() == input_width_ && expected.size() == output_width_);
  fill(inputs_, index, inputs);
  fill(outputs_, index, expected);
}

Table makeStepTable(std::span<const StaircaseStep> steps, uint32_t rows_per_step) {
  Table table;
  table.columns = {"input", "output"};
  table.rows = steps.size() * rows_per_step;
  table.values.reserve(table.rows * 2);
  for (const StaircaseStep& step : steps) {
    for (uint32_t i = 0; i < rows_per_step; ++i) {
      table.values.push_back(step.input);
      table.values.push_back(step.output);
    }
  }
  return table;
}

Table makeStaircaseTable() {
  static constexpr StaircaseStep kSteps[] = {
      {0.0f, 0.0f}, {80.0f, 1.0f}, {30.0f, 0.5f}, {10.0f, 0.75f}, {0.0f, 0.0f}};
  return makeStepTable(kSteps, 100);
}

Table makeStaircaseTestTable() {
  static constexpr StaircaseStep kSteps[] = {{0.0f, 0.0f}, {10.0f, 0.75f}, {80.0f, 1.0f},
                                             {0.0f, 0.0f}, {30.0f, 0.5f},  {80.0f, 1.0f}};
  return makeStepTable(kSteps, 100);
}

}  // namespace tendril::data
