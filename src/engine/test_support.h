// Helpers shared by the engine's tests: small templates, generated data, hand-made sections.
#pragma once

#include <algorithm>
#include <memory>
#include <vector>

#include "engine/cluster.h"
#include "engine/cluster_state.h"
#include "engine/random.h"
#include "engine/template.h"

namespace tendril::engine::testing {

// Input brick `in` wide at 1,1,1, a hidden brick at 2,1,1, an output brick at 3,1,1.
inline Template lineTemplate(uint32_t in, uint32_t hidden, uint32_t out) {
  Template tmpl;
  tmpl.bricks.push_back({{1, 1, 1}, BrickRole::kInput, "in", in, 0});
  tmpl.bricks.push_back({{2, 1, 1}, BrickRole::kHidden, "", hidden, 0});
  tmpl.bricks.push_back({{3, 1, 1}, BrickRole::kOutput, "out", out, 0});
  return tmpl;
}

inline std::unique_ptr<Cluster> makeCluster(const Template& tmpl, ThreadPool* pool = nullptr) {
  Result<std::unique_ptr<Cluster>> cluster = Cluster::create(tmpl, pool);
  return cluster.ok() ? std::move(cluster).value() : nullptr;
}

// Appends a section with the given synapses to `block`; returns its header index.
struct SynapseSpec {
  float border;
  float weight;
  uint32_t target;
  uint32_t counter = kNewSynapseCounter;
};
inline uint32_t addSection(ClusterState& state, uint32_t block_index, uint32_t source, float offset,
                           const std::vector<SynapseSpec>& synapses) {
  BlockState& block = state.blocks[block_index];
  // Keep the block's sections sorted by source, as the engine does.
  const auto position = std::upper_bound(block.source.begin(), block.source.end(), source);
  const auto index = static_cast<uint32_t>(position - block.source.begin());
  const uint32_t start = block.sectionStart(index);
  float threshold = offset;
  std::vector<float> weights;
  std::vector<uint32_t> meta;
  for (const SynapseSpec& s : synapses) {
    weights.push_back(s.weight);
    meta.push_back(makeMeta(threshold, s.counter, s.target));
    threshold += s.border;
  }
  block.source.insert(position, source);
  block.end.insert(block.end.begin() + index, threshold);
  block.count.insert(block.count.begin() + index, static_cast<uint8_t>(synapses.size()));
  block.successor.insert(block.successor.begin() + index, 0);
  block.weights.insert(block.weights.begin() + start, weights.begin(), weights.end());
  block.meta.insert(block.meta.begin() + start, meta.begin(), meta.end());
  ++state.section_count[source];
  return index;
}

// The widths (borders) of section k's synapses, recovered from their thresholds.
inline std::vector<float> sectionBorders(const BlockState& block, uint32_t k) {
  const uint32_t start = block.sectionStart(k);
  std::vector<float> borders;
  for (uint32_t i = 0; i < block.count[k]; ++i) {
    const float next =
        i + 1 < block.count[k] ? metaThreshold(block.meta[start + i + 1]) : block.end[k];
    borders.push_back(next - metaThreshold(block.meta[start + i]));
  }
  return borders;
}

// Where section k starts conducting (the H4 "offset").
inline float sectionOffset(const BlockState& block, uint32_t k) {
  return metaThreshold(block.meta[block.sectionStart(k)]);
}

// A generated classification task: `classes` classes over `width` raw inputs in 0..range.
// Class k lights up its own band of inputs strongly and the rest weakly, with seeded noise.
struct Sample {
  std::vector<float> inputs;
  std::vector<float> expected;
  uint32_t label = 0;
};
inline std::vector<Sample> bandTask(uint32_t count, uint32_t width, uint32_t classes, float range,
                                    uint64_t seed) {
  std::vector<Sample> samples(count);
  for (uint32_t i = 0; i < count; ++i) {
    Sample& s = samples[i];
    s.label = uniformBelow(hashKeys(seed, {i, 0}), classes);
    s.inputs.resize(width);
    s.expected.assign(classes, 0.0f);
    s.expected[s.label] = 1.0f;
    const uint32_t band = width / classes;
    for (uint32_t j = 0; j < width; ++j) {
      const float noise = unitFloat(hashKeys(seed, {i, j + 1}));
      const bool lit = j / band == s.label;
      s.inputs[j] = range * (lit ? 0.6f + 0.4f * noise : 0.25f * noise);
    }
  }
  return samples;
}

inline uint32_t argmax(const std::vector<float>& values) {
  uint32_t best = 0;
  for (uint32_t i = 1; i < values.size(); ++i) {
    if (values[i] > values[best]) best = i;
  }
  return best;
}

}  // namespace tendril::engine::testing
