// The backward pass: output deltas, then bricks in reverse processing order. Each section walks
// the synapses the forward pass reached, sums delta x weight for its source neuron and updates
// each weight by its coverage of the forward pass (a synapse that contributed nothing learns
// nothing). Hidden neurons turn the sum of their sections' sums into their own delta.
#include <cmath>

#include "engine/cluster_state.h"
#include "engine/thread_pool.h"

namespace tendril::engine {
namespace {

constexpr float kLog2e = 1.4426950408889634f;  // d/dx log2(1 + x) = log2(e) * 2^-log2(1 + x)

void outputDeltas(ClusterState& state, std::span<const float> expected) {
  const bool cross_entropy = state.tmpl.settings.output_loss == OutputLoss::kCrossEntropy;
  for (const Port& port : state.outputs) {
    const BrickState& brick = state.bricks[port.brick];
    for (uint32_t i = 0; i < port.width; ++i) {
      const uint32_t neuron = brick.first_neuron + i;
      const float y = state.activation[neuron];
      const float t = expected[port.offset + i];
      // A neuron no synapse reached has y == 0 and nothing to update; keep its delta at 0 so
      // the H4 and cross-entropy rules agree on it.
      if (y == 0.0f) {
        state.delta[neuron] = 0.0f;
      } else {
        state.delta[neuron] = cross_entropy ? y - t : (y - t) * y * (1.0f - y);
      }
    }
  }
}

// Walks all sections targeting one block; stores each section's delta sum in `sums`.
void backwardBlock(ClusterState& state, uint32_t block_index, std::vector<float>& sums) {
  BlockState& block = state.blocks[block_index];
  const float rate = static_cast<float>(state.tmpl.settings.learning_rate);
  const bool count_activity = state.tmpl.settings.enable_reduction;
  const float* delta = state.delta.data() + block.first_neuron;
  const float* target_activation = state.activation.data() + block.first_neuron;
  float* weights = block.weights.data();
  uint32_t* meta = block.meta.data();
  sums.assign(block.sections.size(), 0.0f);
  for (size_t index = 0; index < block.sections.size(); ++index) {
    const SectionHeader& section = block.sections[index];
    if (section.source == kFreeSection) continue;
    float p = state.activation[section.source] - section.offset;
    float sum = 0.0f;
    const uint32_t end = section.start + section.count;
    for (uint32_t i = section.start; i < end && p > kPotentialCutoff; ++i) {
      const float border = metaBorder(meta[i]);
      const uint32_t target = metaTarget(meta[i]);
      const float coverage = p >= border ? 1.0f : p / border;
      const float weight = weights[i];
      sum += delta[target] * weight;
      weights[i] = weight - rate * delta[target] * coverage;
      if (count_activity) {
        const uint32_t counter = metaCounter(meta[i]);
        const bool agrees = (target_activation[target] > 0.0f) == (weight > 0.0f);
        if (agrees && counter < kPersistentCounter) meta[i] = withCounter(meta[i], counter + 1);
      }
      p -= border;
    }
    sums[index] = sum;
  }
}

// Hidden neurons of `brick`: delta = (sum of their sections' sums) * d log2(1 + x) if active.
void hiddenDeltas(ClusterState& state, const BrickState& brick) {
  for (uint32_t i = brick.first_neuron; i < brick.first_neuron + brick.neuron_count; ++i) {
    const float a = state.activation[i];
    state.delta[i] = a > 0.0f ? state.delta[i] * kLog2e * std::exp2(-a) : 0.0f;
  }
}

}  // namespace

void backward(ClusterState& state, std::span<const float> expected) {
  outputDeltas(state, expected);
  // Hidden deltas accumulate section sums before they are scaled; start from zero.
  for (uint32_t b : state.order) {
    const BrickState& brick = state.bricks[b];
    if (brick.role == BrickRole::kHidden) {
      std::fill_n(state.delta.begin() + brick.first_neuron, brick.neuron_count, 0.0f);
    }
  }
  std::vector<std::vector<float>>& section_sums = state.section_sums;
  section_sums.resize(state.blocks.size());
  for (auto it = state.order.rbegin(); it != state.order.rend(); ++it) {
    const BrickState& brick = state.bricks[*it];
    // Every section that feeds this brick's neurons has already added its sum: all of them
    // target later bricks, which were processed before.
    if (brick.role == BrickRole::kHidden) hiddenDeltas(state, brick);
    auto run = [&](uint32_t block) { backwardBlock(state, block, section_sums[block]); };
    if (state.pool != nullptr && brick.block_count > 1) {
      state.pool->parallelFor(brick.block_count, [&](size_t k) {
        run(brick.first_block + static_cast<uint32_t>(k));
      });
    } else {
      for (uint32_t k = 0; k < brick.block_count; ++k) run(brick.first_block + k);
    }
    // Hand the sums to the source neurons in a fixed order (block, section): deterministic
    // and race-free, since several blocks may hold sections of one source neuron.
    for (uint32_t k = 0; k < brick.block_count; ++k) {
      const BlockState& block = state.blocks[brick.first_block + k];
      const std::vector<float>& sums = section_sums[brick.first_block + k];
      for (size_t index = 0; index < block.sections.size(); ++index) {
        const uint32_t source = block.sections[index].source;
        if (source == kFreeSection) continue;
        if (state.bricks[state.neuron_brick[source]].role == BrickRole::kHidden) {
          state.delta[source] += sums[index];
        }
      }
    }
  }
}

}  // namespace tendril::engine
