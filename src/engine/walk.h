// The section walk shared by requests, the training forward pass and the backward pass.
//
// A section's synapse i conducts over [threshold_i, threshold_i+1) (the last one up to the
// section's end). For a source potential P, synapse i is reached when P - threshold_i is above
// the cut-off, and its coverage is 1 when its range ends at or below P, otherwise
// (P - threshold_i) / width_i. Every synapse is wider than the cut-off, so a fully passed
// synapse is always reached, and a walk is: a run of fully passed synapses (weight x 1, no
// division), then at most one partly covered synapse.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <vector>

#include "engine/cluster_state.h"
#include "engine/thread_pool.h"

namespace tendril::engine {

// Collects the sections of `block` whose first synapse the activations reach, with their first
// synapse, without branches (which sources fire is random to the branch predictor). Leaves
// exactly those sections in `index`/`start` and returns their number. The vectors only ever
// grow, so steady-state calls neither allocate nor clear memory.
inline uint32_t collectReachedSections(const BlockState& block, const float* activation,
                                       std::vector<uint32_t>& index_buffer,
                                       std::vector<uint32_t>& start_buffer) {
  const uint32_t sections = block.sectionCount();
  if (index_buffer.size() < sections + 1) {
    index_buffer.resize(sections + 1);
    start_buffer.resize(sections + 1);
  }
  uint32_t* index = index_buffer.data();
  uint32_t* start = start_buffer.data();
  const uint32_t* source = block.source.data();
  const uint8_t* count = block.count.data();
  const uint32_t* meta = block.meta.data();
  uint32_t reached = 0;
  uint32_t first = 0;
  for (uint32_t k = 0; k < sections; ++k) {
    const float reach = activation[source[k]] - metaThreshold(meta[first]);
    index[reached] = k;
    start[reached] = first;
    reached += reach > kPotentialCutoff ? 1u : 0u;
    first += count[k];
  }
  return reached;
}

// Where a walk ends: `passed` synapses are fully covered; synapse `passed` (if < count) starts
// at `threshold` and ends at `next`.
struct PassedRun {
  uint32_t passed;
  float threshold;
  float next;
};

// Calls on_passed(i) for every fully passed synapse in order and says where the walk ends.
// `meta` points at the section's first synapse.
template <typename OnPassed>
inline PassedRun passFullSynapses(const uint32_t* meta, uint32_t count, float end, float potential,
                                  OnPassed&& on_passed) {
  const uint32_t last = count - 1u;
  float threshold = metaThreshold(meta[0]);
  uint32_t i = 0;
  for (; i < last; ++i) {
    const float next = metaThreshold(meta[i + 1]);
    if (next > potential) return {i, threshold, next};
    on_passed(i);
    threshold = next;
  }
  if (end > potential) return {last, threshold, end};
  on_passed(last);
  return {count, end, end};
}

// Runs fn(block index) for every block of `brick`, spread over the pool when one is attached
// and the brick holds at least state.parallel_min_synapses synapses. Each block's work must touch
// only that block's neurons and sections.
template <typename Fn>
void forEachBlock(const ClusterState& state, const BrickState& brick, Fn&& fn) {
  uint64_t synapses = 0;
  for (uint32_t k = 0; k < brick.block_count; ++k) {
    synapses += state.blocks[brick.first_block + k].synapseCount();
  }
  if (state.pool == nullptr || brick.block_count < 2 || synapses < state.parallel_min_synapses) {
    for (uint32_t k = 0; k < brick.block_count; ++k) fn(brick.first_block + k);
    return;
  }
  state.pool->parallelFor(brick.block_count,
                          [&](size_t k) { fn(brick.first_block + static_cast<uint32_t>(k)); });
}

// Coverage of a reached synapse [threshold, next) by `potential`.
inline float coverage(float potential, float threshold, float next) {
  return next <= potential ? 1.0f : (potential - threshold) / (next - threshold);
}

// log2(1 + c) for c >= 0, exactly 0 for c == 0: the hidden activation. Written without
// branches or library calls so the neuron update vectorises: 1 + c = 2^e * m with m in
// [sqrt(1/2), sqrt(2)), and log2(m) = (2 / ln 2) * atanh(t), t = (m - 1) / (m + 1), |t| < 0.172,
// from its series to t^9 (truncation error below 1e-8, far under float rounding).
inline float log2OnePlus(float c) {
  const uint32_t bits = std::bit_cast<uint32_t>(1.0f + c);
  float exponent = static_cast<float>(static_cast<int32_t>(bits >> 23) - 127);
  float m = std::bit_cast<float>((bits & 0x007FFFFFu) | 0x3F800000u);
  const bool high = m > 1.41421356f;
  m = high ? m * 0.5f : m;
  exponent += high ? 1.0f : 0.0f;
  const float t = (m - 1.0f) / (m + 1.0f);
  const float t2 = t * t;
  const float series =
      1.0f + t2 * (1.0f / 3.0f + t2 * (1.0f / 5.0f + t2 * (1.0f / 7.0f + t2 * (1.0f / 9.0f))));
  return exponent + 2.8853900817779268f * t * series;
}

}  // namespace tendril::engine
