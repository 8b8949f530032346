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
#include <vector>

#include "engine/cluster_state.h"

namespace tendril::engine {

// Indices of the sections of `block` whose first synapse the current activations reach,
// collected without branches (which sources fire is random to the branch predictor). Leaves
// exactly those indices in `active` and returns their number.
inline uint32_t collectReachedSections(const BlockState& block, const float* activation,
                                       std::vector<uint32_t>& active) {
  const SectionHeader* sections = block.sections.data();
  const uint32_t* meta = block.meta.data();
  const uint32_t count = static_cast<uint32_t>(block.sections.size());
  active.resize(count + 1);
  uint32_t reached = 0;
  for (uint32_t k = 0; k < count; ++k) {
    const float reach = activation[sections[k].source] - metaThreshold(meta[sections[k].start]);
    active[reached] = k;
    reached += reach > kPotentialCutoff ? 1u : 0u;
  }
  active.resize(reached);
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
template <typename OnPassed>
inline PassedRun passFullSynapses(const uint32_t* meta, const SectionHeader& section,
                                  float potential, OnPassed&& on_passed) {
  const uint32_t last = section.count - 1u;
  float threshold = metaThreshold(meta[0]);
  uint32_t i = 0;
  for (; i < last; ++i) {
    const float next = metaThreshold(meta[i + 1]);
    if (next > potential) return {i, threshold, next};
    on_passed(i);
    threshold = next;
  }
  if (section.end > potential) return {last, threshold, section.end};
  on_passed(last);
  return {section.count, section.end, section.end};
}

// Coverage of a reached synapse [threshold, next) by `potential`.
inline float coverage(float potential, float threshold, float next) {
  return next <= potential ? 1.0f : (potential - threshold) / (next - threshold);
}

}  // namespace tendril::engine
